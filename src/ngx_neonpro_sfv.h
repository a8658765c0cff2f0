
/*
 * Validation of structured-field dictionaries (RFC 8941), the syntax of
 * Permissions-Policy.
 */


#ifndef _NGX_NEONPRO_SFV_H_INCLUDED_
#define _NGX_NEONPRO_SFV_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


ssize_t ngx_neonpro_sfv_check_dictionary(const unsigned char *p, size_t len);


#endif /* _NGX_NEONPRO_SFV_H_INCLUDED_ */

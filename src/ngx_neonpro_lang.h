
/*
 * Accept-Language negotiation between the two languages of client messages.
 */


#ifndef _NGX_NEONPRO_LANG_H_INCLUDED_
#define _NGX_NEONPRO_LANG_H_INCLUDED_


#include <stddef.h>


/* values match ngx_neonpro_lang_e */
#define NGX_NEONPRO_LANG_PICK_PT_BR  0
#define NGX_NEONPRO_LANG_PICK_EN     1


int ngx_neonpro_lang_pick(const unsigned char *p, size_t len);


#endif /* _NGX_NEONPRO_LANG_H_INCLUDED_ */

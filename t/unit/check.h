
/*
 * The check macro of the unit tests: each test program counts its passed
 * and failed checks and ends with the line "N passed, N failed".
 */


#ifndef _NGX_NEONPRO_CHECK_H_INCLUDED_
#define _NGX_NEONPRO_CHECK_H_INCLUDED_


#include <stdio.h>


static int  passed;
static int  failed;


#define CHECK(cond, name)                                                     \
    do {                                                                      \
        if (cond) {                                                           \
            passed++;                                                         \
        } else {                                                              \
            failed++;                                                         \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, name);             \
        }                                                                     \
    } while (0)


#endif /* _NGX_NEONPRO_CHECK_H_INCLUDED_ */

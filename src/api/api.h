/* What the public calls share with the interposers (src/interpose/). */
#ifndef PK_API_API_H
#define PK_API_API_H

#include <stddef.h>

/*
 * pk_mprotect; strict 0 gives mprotect(2)'s leniency (NULL address,
 * unknown prot bits passed on to the kernel) and only mprotect(2)'s
 * errors, for the interposed call.
 */
int pk__mprotect(void *addr, size_t len, int prot, int key, int strict);

#endif

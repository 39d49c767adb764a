/* UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing
 * past U+10FFFF. */
#ifndef TG_UTIL_UTF8_H
#define TG_UTIL_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid sequence at s[0..n), n > 0; 0 when the
 * bytes there are not one. */
size_t tg_utf8_seq_len(const unsigned char *s, size_t n);

#endif

/* Hex digits, for the parsers that decode escapes (JSON \u, TOML \u and \U,
 * percent-encoded paths), and for naming binary keys in text. */
#ifndef TG_UTIL_HEX_H
#define TG_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for a hex digit of either case, else -1. */
static inline int tg_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* b[0..n) as 2n lowercase hex digits and a NUL, into out. */
static inline void tg_hex_encode(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

#endif

/* Hex digits, for the parsers that decode escapes (JSON \u, TOML \u and \U,
 * percent-encoded paths). */
#ifndef TG_UTIL_HEX_H
#define TG_UTIL_HEX_H

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

#endif

/* Growable byte buffer (see buf.h). */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/alloc.h"

void tg_buf_reserve(struct tg_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = tg_xrealloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0'; /* a fresh buffer reads as "" */
}

void tg_buf_append(struct tg_buf *b, const void *p, size_t n)
{
    tg_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tg_buf_puts(struct tg_buf *b, const char *s)
{
    tg_buf_append(b, s, strlen(s));
}

void tg_buf_putc(struct tg_buf *b, char c)
{
    tg_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

size_t tg_u64_decimal(uint64_t v, char *out)
{
    /* Written in place from its last digit, two digits a division: a
     * span's nanosecond timestamps have 19. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    static const uint64_t pow10[20] = {1u,
                                       10u,
                                       100u,
                                       1000u,
                                       10000u,
                                       100000u,
                                       1000000u,
                                       10000000u,
                                       100000000u,
                                       1000000000u,
                                       10000000000u,
                                       100000000000u,
                                       1000000000000u,
                                       10000000000000u,
                                       100000000000000u,
                                       1000000000000000u,
                                       10000000000000000u,
                                       100000000000000000u,
                                       1000000000000000000u,
                                       10000000000000000000u};
    /* Digits from the bit length: log10(2) ~ 1233 / 4096, then one compare. */
    unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
    size_t len = v ? t + 1 - (v < pow10[t]) : 1;
    char *p = out + len;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = pairs[pair + 1];
        *--p = pairs[pair];
    }
    if (v >= 10) {
        *--p = pairs[v * 2 + 1];
        *--p = pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    return len;
}

void tg_buf_put_u64(struct tg_buf *b, uint64_t v)
{
    char d[20];
    tg_buf_append(b, d, tg_u64_decimal(v, d));
}

void tg_buf_vprintf(struct tg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    tg_buf_reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        tg_buf_reserve(b, (size_t)n);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
    b->data[b->len] = '\0';
}

void tg_buf_printf(struct tg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void tg_buf_json_escape(struct tg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    tg_buf_reserve(b, n + 2);
    size_t plain = 0; /* start of the run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (i > plain)
            tg_buf_append(b, s + plain, i - plain);
        plain = i + 1;
        switch (c) {
        case '"': tg_buf_append(b, "\\\"", 2); break;
        case '\\': tg_buf_append(b, "\\\\", 2); break;
        case '\n': tg_buf_append(b, "\\n", 2); break;
        case '\r': tg_buf_append(b, "\\r", 2); break;
        case '\t': tg_buf_append(b, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            tg_buf_append(b, esc, 6);
        }
        }
    }
    if (n > plain)
        tg_buf_append(b, s + plain, n - plain);
}

void tg_buf_consume(struct tg_buf *b, size_t n)
{
    if (n >= b->len) {
        tg_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void tg_buf_reset(struct tg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void tg_buf_free(struct tg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *tg_buf_steal(struct tg_buf *b, size_t *len)
{
    if (!b->data) {
        tg_buf_reserve(b, 0);
        b->data[0] = '\0';
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void tg_buf_utc_now(struct tg_buf *b)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    tg_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

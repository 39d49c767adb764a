/* Growable byte buffer. The one representation of "bytes we are assembling":
 * request bodies, response heads, JSON output. Always NUL-terminated past len
 * so text can be handed to C string functions. */
#ifndef TG_CORE_BUF_H
#define TG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct tg_buf {
    char *data;
    size_t len;
    size_t cap;
};

#define TG_BUF_INIT {NULL, 0, 0}

void tg_buf_reserve(struct tg_buf *b, size_t extra);
void tg_buf_append(struct tg_buf *b, const void *p, size_t n);
void tg_buf_puts(struct tg_buf *b, const char *s);
void tg_buf_putc(struct tg_buf *b, char c);
/* v in decimal into out (at least 20 bytes; no NUL); returns its length.
 * For paths where a printf per number shows. */
size_t tg_u64_decimal(uint64_t v, char *out);
void tg_buf_put_u64(struct tg_buf *b, uint64_t v);
void tg_buf_printf(struct tg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tg_buf_vprintf(struct tg_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends s as the inside of a JSON string (quotes not included). */
void tg_buf_json_escape(struct tg_buf *b, const char *s, size_t n);
/* Appends the wall clock now as RFC 3339 UTC with milliseconds
 * ("2026-12-06T04:56:55.123Z"): the logs' timestamps. */
void tg_buf_utc_now(struct tg_buf *b);
/* Removes the first n bytes. */
void tg_buf_consume(struct tg_buf *b, size_t n);
void tg_buf_reset(struct tg_buf *b); /* len = 0, keeps memory */
void tg_buf_free(struct tg_buf *b);
/* Hands the storage to the caller (NUL-terminated, never NULL); b is left empty. */
char *tg_buf_steal(struct tg_buf *b, size_t *len);

#endif

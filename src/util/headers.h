/* Reading raw HTTP header blocks ("Name: value\r\n" lines) and the
 * Retry-After family of headers. Pure: the wall clock comes in as a value. */
#ifndef TG_UTIL_HEADERS_H
#define TG_UTIL_HEADERS_H

#include <stddef.h>
#include <stdint.h>

/* The trimmed value of header `name` (case-insensitive), or NULL. */
const char *tg_headers_find(const char *block, size_t block_len, const char *name, size_t *len);

/* Milliseconds to wait, from a Retry-After value: delta-seconds (possibly
 * fractional) or an HTTP-date relative to now_unix_ms. -1 when unparseable.
 * A date in the past gives 0. */
int64_t tg_retry_after_ms(const char *value, size_t len, int64_t now_unix_ms);

/* The wait a response asks for: retry-after-ms, else Retry-After, else the
 * latest anthropic-ratelimit-*-reset of a limit with nothing remaining;
 * -1 if none. */
int64_t tg_headers_retry_after(const char *block, size_t block_len, int64_t now_unix_ms);

#endif

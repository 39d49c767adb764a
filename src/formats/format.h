/* What every translator of src/formats/ shares: the result of translating
 * one stream event, and the small readers and writers each file would
 * otherwise repeat. Each format pair and direction is one file of pure
 * functions (cJSON or bytes in, bytes out; no loop, no curl); a caller owns
 * every buffer and stream state they write into. */
#ifndef TG_FORMATS_FORMAT_H
#define TG_FORMATS_FORMAT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "util/json.h"

/* What one stream event in gave. */
enum tg_fmt_result {
    TG_FMT_CONTINUE = 0, /* zero or more events appended */
    TG_FMT_DONE,         /* the stream ended well: its last events appended */
    TG_FMT_ERROR,        /* an in-band error: see the function for what it gives */
    TG_FMT_BAD,          /* data that is not the JSON its event needs */
};

/* Token counts are clamped to this, so that casting a hostile double to an
 * integer is always defined. */
#define TG_FMT_COUNT_MAX 1e15

static inline const cJSON *tg_fmt_get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/* v when it is an array, so that a wrong type iterates as an empty one. */
static inline const cJSON *tg_fmt_array(const cJSON *v)
{
    return cJSON_IsArray(v) ? v : NULL;
}

static inline bool tg_fmt_str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static inline bool tg_fmt_is_type(const cJSON *obj, const char *type)
{
    return tg_fmt_str_eq(tg_json_get_str(obj, "type"), type);
}

static inline int64_t tg_fmt_count(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return 0;
    if (v->valuedouble > TG_FMT_COUNT_MAX)
        return (int64_t)TG_FMT_COUNT_MAX;
    return (int64_t)v->valuedouble;
}

/* Copies s into dst[cap], cutting only at a UTF-8 character boundary so that
 * a truncated id or model still prints as valid JSON text. */
static inline void tg_fmt_copy_trunc(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The short reason a request cannot be translated ("n>1", "role tool2"). */
static inline void tg_fmt_set_why(char *why, size_t why_len, const char *what, const char *arg)
{
    if (!why || why_len == 0)
        return;
    if (arg)
        snprintf(why, why_len, "%s %s", what, arg);
    else
        snprintf(why, why_len, "%s", what);
}

/* The error type Anthropic documents for an HTTP status it answers with;
 * api_error for the others. */
static inline const char *tg_fmt_anthropic_error_type(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return "api_error";
    }
}

/* s as a JSON string, or null. */
static inline void tg_fmt_put_str(struct tg_buf *b, const char *s)
{
    if (s)
        tg_buf_json_str(b, s, strlen(s));
    else
        tg_buf_puts(b, "null");
}

#endif

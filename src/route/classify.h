/* Classes of upstream outcomes (SPEC section 4): each attempt's result is
 * exactly one class, and the class decides what happens next. Pure. */
#ifndef TG_ROUTE_CLASSIFY_H
#define TG_ROUTE_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tg_class {
    TG_CLASS_OK = 0,
    TG_CLASS_TRANSPORT,        /* refused, reset, DNS, broken answer */
    TG_CLASS_TIMEOUT,          /* no complete answer in attempt_ms / first_byte_ms */
    TG_CLASS_RATE_LIMITED,     /* 429 rate or token limit */
    TG_CLASS_QUOTA,            /* 429 quota or billing: never clears by waiting */
    TG_CLASS_AUTH,             /* 401, 403 */
    TG_CLASS_SERVER,           /* 500, 502, 503, 504, 529 */
    TG_CLASS_CONTEXT_OVERFLOW, /* request too long for the model */
    TG_CLASS_CONTENT_POLICY,   /* refused on content policy */
    TG_CLASS_CLIENT_ERROR,     /* other 4xx: the client's fault */
    TG_CLASS_INVALID,          /* 200 that fails validation */
    TG_CLASS_CANCELLED,        /* a hedge that lost, or the client left */
    TG_CLASS__COUNT
};

const char *tg_class_name(enum tg_class c);
/* Classes that count as breaker failures (slow ok is judged separately). */
bool tg_class_is_failure(enum tg_class c);

enum tg_provider_dialect { TG_DIALECT_OPENAI = 0, TG_DIALECT_ANTHROPIC };

/* Classifies a complete HTTP answer by status, error body and headers. */
enum tg_class tg_classify_http(int status, const char *body, size_t body_len,
                               enum tg_provider_dialect dialect);

#endif

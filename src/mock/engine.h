/* The mock provider's engine (SPEC section 7): given a request, decides what
 * to answer and when, as a struct tg_mock_plan. One engine serves two ways:
 * `tailgate mock` plays plans over HTTP (mock/server.c), and providers of kind
 * "mock" play them inside the gateway's loop (upstream/mock_attempt.c); the
 * timing of both is mock/play.c.
 *
 * The engine is pure apart from its seeded random source: no clock, no I/O.
 * Faults come from the script (POST /_mock/script), one step per request in
 * arrival order, then from error_rate. */
#ifndef TG_MOCK_ENGINE_H
#define TG_MOCK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mock/options.h"
#include "util/rand.h"

enum tg_mock_api {
    TG_MOCK_API_CHAT = 0,    /* POST /v1/chat/completions */
    TG_MOCK_API_COMPLETIONS, /* POST /v1/completions */
    TG_MOCK_API_EMBEDDINGS,  /* POST /v1/embeddings */
    TG_MOCK_API_MESSAGES,    /* POST /v1/messages (Anthropic) */
    TG_MOCK_API_RESPONSES,   /* POST /v1/responses (OpenAI's Responses API) */
    TG_MOCK_API__COUNT
};

/* One scripted step. Unset numbers are -1, unset strings NULL. */
struct tg_mock_step {
    int64_t status;
    char *retry_after; /* Retry-After value as sent: "2" or an HTTP date */
    int64_t retry_after_ms;
    char *error_code;
    char *error_type;
    char *error_message;
    int64_t delay_ms;
    char *content; /* replaces the generated text; "" makes an empty answer */
    char *finish_reason;
    bool hang;
    int64_t hang_after_chunks; /* streams: hang once this many content chunks went out */
    int64_t reset_after_bytes;
    int64_t stream_error_after_chunks;
    int64_t output_tokens;
    char *body;    /* raw response body, sent as is (e.g. broken JSON) */
    char *headers; /* extra "Name: value\r\n" lines */
    int64_t repeat;
};

/* A piece of a streamed answer: body bytes up to `end`, due at `at_ms`
 * after the request arrived. */
struct tg_mock_piece {
    size_t end;
    double at_ms;
};

struct tg_mock_plan {
    int status;
    struct tg_buf headers; /* "Name: value\r\n" lines, Content-Type included */
    struct tg_buf body;
    bool stream;
    double delay_ms; /* not streamed: when the whole answer goes */
    struct tg_mock_piece *pieces;
    size_t n_pieces;
    bool hang;              /* not streamed: never answer; streamed: stop after hang_after */
    size_t hang_after;      /* pieces sent before a streamed hang */
    int64_t reset_after_bytes; /* -1: none; else reset after this many body bytes */
    bool scripted;          /* a script step shaped this answer */
};

#define TG_MOCK_RECENT 32
#define TG_MOCK_MAX_STATUSES 32

struct tg_mock_recent {
    char *method;
    char *path;
    char *query;        /* after '?', "" when none */
    char *headers_json; /* {"name": "value", ...} */
    char *body;         /* truncated to 64 KiB */
};

struct tg_mock_stats {
    uint64_t requests; /* API requests received */
    uint64_t inflight;
    uint64_t completed;
    uint64_t cancelled; /* the client went away before the answer ended */
    uint64_t resets;    /* answers cut by reset_after_bytes */
    uint64_t connections_total; /* HTTP server only: accepted connections */
    uint64_t connections_open;
    uint64_t by_api[TG_MOCK_API__COUNT];
    struct {
        int status;
        uint64_t count;
    } by_status[TG_MOCK_MAX_STATUSES];
    size_t n_statuses;
};

struct tg_mock {
    struct tg_mock_options opts;
    struct tg_rand rand;
    struct tg_mock_step *script; /* queue: [script_head, script_len) */
    size_t script_head, script_len;
    struct tg_mock_stats stats;
    struct tg_mock_recent recent[TG_MOCK_RECENT];
    size_t recent_next;
    uint64_t id_counter;
};

void tg_mock_init(struct tg_mock *m, const struct tg_mock_options *opts);
void tg_mock_free(struct tg_mock *m);
/* POST /_mock/reset: script and stats cleared, random source re-seeded. */
void tg_mock_reset(struct tg_mock *m);

/* POST /_mock/script: replaces the script with the steps of a JSON array.
 * Returns the number of steps, or -1 with a message for a bad script (the
 * old script is then kept). */
int tg_mock_script_set(struct tg_mock *m, const char *json, size_t len, char *err, size_t errlen);
size_t tg_mock_script_remaining(const struct tg_mock *m);

/* Decides the answer to one request (counted in stats). */
void tg_mock_plan(struct tg_mock *m, enum tg_mock_api api, const char *body, size_t len,
                  struct tg_mock_plan *out);
void tg_mock_plan_free(struct tg_mock_plan *p);

/* Remembers a request for GET /_mock/stats ("recent"): its target is kept
 * as "path" and, after a '?', "query". */
void tg_mock_remember(struct tg_mock *m, const char *method, const char *target,
                      const char *headers_json, const char *body, size_t body_len);
void tg_mock_stats_json(const struct tg_mock *m, struct tg_buf *out);
void tg_mock_count_status(struct tg_mock *m, int status);

/* The path of an API, and the API of a path (-1 when none). */
const char *tg_mock_api_path(enum tg_mock_api api);
int tg_mock_api_of_path(const char *path, size_t len);

#endif

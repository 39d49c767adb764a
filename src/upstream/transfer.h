/* One upstream HTTP exchange at the transport level: a libcurl easy handle on
 * a provider's pool, or a mock plan played in-process for providers of kind
 * "mock". Both report the same events: the response head, body bytes as they
 * arrive (with backpressure), and the end. The request layer (req/attempt.c)
 * never needs to know which one it drives. */
#ifndef TG_UPSTREAM_TRANSFER_H
#define TG_UPSTREAM_TRANSFER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"
#include "mock/play.h"
#include "upstream/pool.h"

enum tg_transfer_kind { TG_TRANSFER_CURL = 0, TG_TRANSFER_MOCK };

enum tg_transfer_state {
    TG_TRANSFER_IDLE = 0,
    TG_TRANSFER_RUNNING,
    TG_TRANSFER_DONE,      /* on_done delivered */
    TG_TRANSFER_CANCELLED, /* the owner cancelled; no more events */
};

enum tg_transfer_end {
    TG_TRANSFER_COMPLETE = 0, /* the whole answer arrived, whatever its status */
    TG_TRANSFER_TRANSPORT,    /* refused, reset, DNS, TLS, broken or cut answer */
    TG_TRANSFER_TIMEOUT,      /* connect timeout */
    TG_TRANSFER_TOO_LARGE,    /* over max_response_bytes */
    TG_TRANSFER_ABORTED,      /* the owner's on_data said stop */
};

/* What on_data did with the bytes. */
enum tg_data_verdict {
    TG_DATA_TAKEN = 0, /* consumed */
    TG_DATA_PAUSE,     /* NOT consumed: pause, and deliver them again on resume */
    TG_DATA_ABORT,     /* end the transfer (TG_TRANSFER_ABORTED) */
};

struct tg_transfer;

struct tg_transfer_events {
    void (*on_head)(struct tg_transfer *t);
    enum tg_data_verdict (*on_data)(struct tg_transfer *t, const char *p, size_t n);
    /* Never inside tg_transfer_start, nor inside a curl callback. */
    void (*on_done)(struct tg_transfer *t);
};

struct tg_transfer_spec {
    const char *url;            /* curl */
    CURLU *parsed_url;          /* curl, url parsed when not NULL; borrowed like headers */
    const struct curl_slist *headers; /* curl; borrowed: must outlive the transfer */
    const char *body; /* borrowed: must outlive the transfer */
    size_t body_len;
    int mock_api; /* enum tg_mock_api (mock) */
    uint64_t connect_timeout_ms;
    uint64_t total_timeout_ms; /* curl: the whole exchange (0: none; attempts keep their own timers) */
    size_t max_response_bytes;
    /* curl: the upload buffer, when a body is large (0: libcurl's 64 KiB).
     * Setting it frees the handle's buffer: only for handles of one use. */
    long upload_buffer_bytes;
};

struct tg_transfer {
    const struct tg_transfer_events *ev;
    enum tg_transfer_kind kind;
    enum tg_transfer_state state;
    enum tg_transfer_end end;
    int status;                /* 0 until the head */
    struct tg_buf headers;     /* response header lines, "Name: value\r\n" */
    size_t bytes;              /* body bytes taken */
    size_t max_bytes;
    char error[CURL_ERROR_SIZE];
    bool head_done;
    bool paused;
    struct tg_loop *loop;
    struct tg_deferred deferred_done; /* mock: ends reported on a later pass */
    union {
        struct {
            struct tg_pool *pool;
            struct tg_pool_transfer pt;
        } curl;
        struct {
            struct tg_mock_play play;
            struct tg_buf held; /* bytes refused with TG_DATA_PAUSE, for resume */
        } mock;
    } u;
};

int tg_transfer_start_curl(struct tg_transfer *t, struct tg_loop *loop, struct tg_pool *pool,
                           const struct tg_transfer_spec *spec,
                           const struct tg_transfer_events *ev);
int tg_transfer_start_mock(struct tg_transfer *t, struct tg_loop *loop, struct tg_mock *mock,
                           const struct tg_transfer_spec *spec,
                           const struct tg_transfer_events *ev);
/* Stops it; the upstream sees the connection closed. No events follow. */
void tg_transfer_cancel(struct tg_transfer *t);
/* Resumes after on_data returned TG_DATA_PAUSE (bytes may arrive inside). */
void tg_transfer_resume(struct tg_transfer *t);
/* Frees what the transfer holds; it must be done or cancelled. */
void tg_transfer_cleanup(struct tg_transfer *t);

/* A response header's value (case-insensitive name), trimmed; NULL if absent. */
const char *tg_transfer_header(const struct tg_transfer *t, const char *name, size_t *len);

#endif

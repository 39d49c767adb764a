/* Inbound HTTP/1.1: what a handler sees of a request, and how it answers.
 *
 * A connection (server/conn.c) parses one request at a time with llhttp in
 * strict mode, enforces the [server] limits, and hands each complete request
 * to its handler as a struct tg_http_exchange. The handler answers through
 * tg_http_respond (whole body) or tg_http_stream_* (chunked), possibly long
 * after on_request returned. Pipelined requests wait, unparsed, until the
 * answer before them is queued, so answers go out in order.
 *
 * Lifetime: an exchange is valid from on_request until the handler finishes
 * it (respond, stream_end, reset) or until on_abort returns (the client went
 * away: the handler must drop every pointer to it). */
#ifndef TG_SERVER_HTTP_H
#define TG_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tg_http_exchange;

struct tg_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct tg_http_request {
    int method;              /* llhttp_method_t */
    const char *method_name; /* "GET", "POST", ... */
    const char *url;         /* as sent, NUL-terminated */
    size_t url_len;
    size_t path_len; /* url up to '?' */
    struct tg_http_header *headers;
    size_t n_headers;
    const char *body; /* NUL-terminated (not counted in body_len) */
    size_t body_len;
    int http_minor;        /* 1.0 or 1.1 */
    uint64_t received_ms;  /* last byte */
    uint64_t received_ns;  /* last byte, monotonic high resolution */
};

struct tg_http_handler {
    void (*on_request)(struct tg_http_exchange *x, void *ctx);
    /* The client closed or reset before the answer was finished. */
    void (*on_abort)(struct tg_http_exchange *x, void *ctx);
    /* A congested exchange's backlog fell below the low watermark. */
    void (*on_writable)(struct tg_http_exchange *x, void *ctx);
    /* The connection refuses the request itself (malformed, over a limit,
     * timed out; SPEC section 3) and closes after the answer. The request
     * view holds what was read: headers only when the head was complete,
     * method_name and url NULL before. The handler answers with
     * tg_http_respond_error (adding its headers); NULL, or no answer: the
     * plain error. */
    void (*on_refused)(struct tg_http_exchange *x, void *ctx, int status, const char *code,
                       const char *message);
};

/* Limits of SPEC [server], copied into each server so a reload can change them. */
struct tg_http_limits {
    uint64_t max_connections;
    uint64_t max_header_bytes; /* request line + headers + the blank line */
    uint64_t max_headers;
    uint64_t max_body_bytes;
    uint64_t read_timeout_ms; /* whole request, from its first byte */
    uint64_t idle_timeout_ms; /* keep-alive wait for the next request */
};

const struct tg_http_request *tg_http_request(const struct tg_http_exchange *x);
/* The client's address as "IP:PORT" (for logs), written into out. */
const char *tg_http_peer(const struct tg_http_exchange *x, char *out, size_t out_len);
void tg_http_set_user(struct tg_http_exchange *x, void *user);
void *tg_http_user(const struct tg_http_exchange *x);

/* Whether the request's path (the URL before any '?') is exactly `path`. */
bool tg_http_path_is(const struct tg_http_request *req, const char *path);

/* Case-insensitive lookup; NULL when absent. */
const struct tg_http_header *tg_http_header_find(const struct tg_http_request *req,
                                                 const char *name);

/* Answers with a whole body. `headers` is preformatted "Name: value\r\n"
 * lines (may be NULL); the connection adds Date, Content-Length, Connection. */
void tg_http_respond(struct tg_http_exchange *x, int status, const char *headers,
                     size_t headers_len, const char *body, size_t body_len);
/* Streams: chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0. */
void tg_http_stream_begin(struct tg_http_exchange *x, int status, const char *headers,
                          size_t headers_len);
void tg_http_stream_write(struct tg_http_exchange *x, const char *data, size_t len);
void tg_http_stream_end(struct tg_http_exchange *x);
/* Drops the connection with a TCP reset, mid-answer or before it. */
void tg_http_reset(struct tg_http_exchange *x);
/* Sends the first `len` bytes of what the answer would have been, then
 * resets: the mock provider's reset_after_bytes. */
void tg_http_send_raw_then_reset(struct tg_http_exchange *x, const char *data, size_t len);

/* True above the high watermark; on_writable follows below the low one. */
bool tg_http_congested(const struct tg_http_exchange *x);

/* The SPEC section 3 error shape with no attempts:
 * {"error":{"message":M,"type":T,"code":C,"attempts":[]}} */
void tg_http_respond_error(struct tg_http_exchange *x, int status, const char *code,
                           const char *message, const char *extra_headers);

const char *tg_http_reason(int status);

#endif

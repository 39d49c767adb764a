/* One inbound HTTP/1.1 connection: reading and parsing requests with llhttp
 * (strict mode), enforcing the [server] limits, handing each request to the
 * handler, writing its answer, keep-alive, pipelining, and closing.
 *
 * States (only conn_set_state writes c->state):
 *   HEAD      waiting for, or reading, a request line and headers
 *   BODY      reading a request body
 *   HANDLING  the handler owns the answer; input is buffered, not parsed
 *   LINGER    the last answer is queued; write side shut, input discarded
 *   CLOSED    uv_close called; freed in its callback
 *
 * One request is parsed at a time: llhttp is paused at the end of the headers
 * (to check limits before any body is read) and at the end of the message (to
 * dispatch). Bytes after that stay unparsed in c->in until the answer is
 * queued, so pipelined answers go out in order and nothing after a bad
 * request is ever parsed.
 *
 * llhttp 8.1.0 has no size limits and still accepts bare CR line endings,
 * obs-fold in trailers and empty header names; those checks are ours
 * (head_scan, on_header_*), and so are those of the version, Host and
 * Transfer-Encoding (conn_headers_done). It also refuses trailing OWS and
 * most chunk extensions, which RFC 9112 allows: an input filter in front of
 * it drops those ("what llhttp 8.1.0 refuses that RFC 9112 allows"). */
#include "server/conn.h"

#include <assert.h>
#include <ctype.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "server/tls.h"

#define HIGH_WATERMARK (64 * 1024) /* backlog above which an exchange is congested */
#define LOW_WATERMARK (16 * 1024)
#define PIPELINE_CAP (64 * 1024) /* unparsed input held while handling; then stop reading */
#define LINGER_MS 2000           /* after the last answer, how long to drain the client */
#define CONN_SEND_MAX_PIECES 4   /* status line, headers, body, trailer: tg_http_respond */
#define CORK_MAX_BYTES (16 * 1024) /* a stream's pass held back at most this much */

enum conn_state { CONN_HEAD = 0, CONN_BODY, CONN_HANDLING, CONN_LINGER, CONN_CLOSED };

enum exchange_state {
    X_NONE = 0,  /* no request dispatched */
    X_PENDING,   /* dispatched, nothing written */
    X_STREAMING, /* head written, chunks follow */
};

enum pause_reason { PAUSE_NONE = 0, PAUSE_HEADERS, PAUSE_CHUNK, PAUSE_TRAILERS, PAUSE_MESSAGE };

/* What the input filter (see "what llhttp 8.1.0 refuses") does with the
 * bytes it is at. */
enum filter_mode {
    FILTER_REQUEST_LINE = 0, /* passed as is, up to its LF */
    FILTER_FIELDS,           /* header or trailer lines: trailing OWS dropped */
    FILTER_BODY,             /* passed as is */
    FILTER_CHUNK_SIZE,       /* hex digits passed; ';' or BWS starts extensions */
    FILTER_CHUNK_EXT,        /* checked here, dropped, up to the CR */
};

/* Where a chunk extension's grammar is (RFC 9112 section 7.1.1):
 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
enum ext_state {
    EXT_BWS_SEMI = 0, /* before ';' */
    EXT_BWS_NAME,     /* after ';' */
    EXT_NAME,
    EXT_AFTER_NAME,   /* BWS after a name */
    EXT_BWS_VALUE,    /* after '=' */
    EXT_TOKEN,
    EXT_QUOTED,
    EXT_QUOTED_ESC,
};

#define MAX_CHUNK_EXT_BYTES 4096 /* per chunk-size line */

struct tg_http_exchange {
    enum exchange_state state;
    void *user;
    bool chunked; /* streaming with chunked framing (else close-delimited) */
};

struct header_span {
    size_t name_off, name_len, value_off, value_len;
};

/* A stream's bytes of one loop pass, sent in one write at its end: the
 * head, the chunks relayed in that pass, and the terminator when the stream
 * ends in it. A stream that arrives whole costs one write, not four; one that
 * trickles costs one per pass, as before. Made for a stream, freed with it. */
struct stream_cork {
    struct tg_conn *c;
    struct tg_buf out;
    struct tg_deferred flush;
};

struct tg_conn {
    struct tg_list link;
    struct tg_http_server *server;
    uv_tcp_t tcp;
    llhttp_t parser;
    enum conn_state state;
    struct tg_timer timer;      /* read, idle or linger timeout, by state */
    struct tg_deferred resume;  /* parse buffered pipelined input */
    struct tg_deferred tls_flushed; /* TLS records queued: shut the write side */
    struct tg_deferred closer;  /* a write failed: close on the next pass */
    struct tg_tls_conn *tls;    /* NULL for plain HTTP */
    struct tg_buf in;           /* received, not yet parsed */
    bool io_failed;             /* (the flags sit together: 10,000 idle connections) */
    bool reading;
    bool shutdown_sent;

    /* The request being read. */
    bool req_begun;         /* a byte of it has arrived */
    bool in_trailers;       /* past the last chunk: the trailer section */
    bool close_after;       /* framing the connection cannot trust after this request */
    size_t head_bytes;      /* of the head, then of the trailer section */
    bool head_cr_pending;   /* the last head byte seen was CR */
    bool head_line_start;   /* the last head byte seen was LF */
    bool head_bad_cr;
    bool head_obs_fold;
    enum { HDR_NONE = 0, HDR_NAME, HDR_VALUE } hdr_phase;
    enum pause_reason pause;
    enum filter_mode filter;
    struct tg_buf ows;      /* whitespace held until the next byte shows it is trailing */
    enum ext_state ext;
    bool ext_named;         /* a chunk extension name was seen on this line */
    size_t ext_bytes;
    int fail_status;        /* set by a callback returning HPE_USER */
    const char *fail_code;
    const char *fail_message;
    struct tg_buf head;     /* method, url, names and values, NUL-separated */
    size_t url_off, url_len;
    struct header_span *spans;
    size_t n_spans, cap_spans;
    struct tg_buf body;
    struct tg_http_header *headers;
    struct tg_http_request req;
    uint64_t served;        /* answers finished on this connection */

    struct tg_http_exchange x;
    struct stream_cork *cork; /* while streaming */
    bool keep_alive;        /* decided at dispatch; cleared by drain */
    bool congested;
};

static void conn_set_state(struct tg_conn *c, enum conn_state to);
static void conn_finish_exchange(struct tg_conn *c);
static void conn_fail_request(struct tg_conn *c, int status, const char *code, const char *msg);
static void conn_close_now(struct tg_conn *c, bool reset);
static void conn_send(struct tg_conn *c, uv_buf_t *bufs, unsigned n);
static void conn_on_plaintext(struct tg_conn *c, const char *data, size_t len);
static void conn_start_reading(struct tg_conn *c);
static void conn_io_error(struct tg_conn *c);
static void cork_free(struct tg_conn *c);

static struct tg_conn *conn_of(struct tg_http_exchange *x)
{
    return tg_container_of(x, struct tg_conn, x);
}

struct tg_conn *tg_conn_from_link(struct tg_list *link)
{
    return tg_container_of(link, struct tg_conn, link);
}

/* ---- the request being read ------------------------------------------- */

static void request_reset(struct tg_conn *c)
{
    tg_buf_free(&c->head);
    tg_buf_free(&c->body);
    free(c->spans);
    free(c->headers);
    c->spans = NULL;
    c->headers = NULL;
    c->n_spans = c->cap_spans = 0;
    c->url_off = c->url_len = 0;
    c->req_begun = false;
    c->in_trailers = false;
    c->close_after = false;
    c->head_bytes = 0;
    c->head_cr_pending = false;
    c->head_line_start = false;
    c->head_bad_cr = false;
    c->head_obs_fold = false;
    c->hdr_phase = HDR_NONE;
    c->pause = PAUSE_NONE;
    c->filter = FILTER_REQUEST_LINE;
    tg_buf_free(&c->ows);
    c->fail_status = 0;
    memset(&c->req, 0, sizeof(c->req));
}

static struct tg_conn *conn_of_parser(llhttp_t *p)
{
    return tg_container_of(p, struct tg_conn, parser);
}

static int user_fail(struct tg_conn *c, int status, const char *code, const char *msg)
{
    c->fail_status = status;
    c->fail_code = code;
    c->fail_message = msg;
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
    struct tg_conn *c = conn_of_parser(p);
    if (!c->req_begun) {
        c->req_begun = true;
        tg_timer_start(c->server->loop, &c->timer, c->server->limits.read_timeout_ms);
    }
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct tg_conn *c = conn_of_parser(p);
    if (c->url_len == 0)
        c->url_off = c->head.len;
    tg_buf_append(&c->head, at, len);
    c->url_len += len;
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    tg_buf_putc(&conn_of_parser(p)->head, '\0');
    return 0;
}

static void new_header_span(struct tg_conn *c)
{
    if (c->n_spans == c->cap_spans) {
        c->cap_spans = c->cap_spans ? c->cap_spans * 2 : 16;
        c->spans = tg_xrealloc(c->spans, c->cap_spans * sizeof(*c->spans));
    }
    c->spans[c->n_spans++] = (struct header_span){c->head.len, 0, 0, 0};
}

/* Trailers of a chunked body come through the header callbacks after the
 * head is done; they are not kept (nothing reads them), and must not be: the
 * request's header pointers into c->head are already handed out. */
static bool in_trailers(const struct tg_conn *c)
{
    return c->in_trailers;
}

/* llhttp may split a name or a value over several calls (across reads); the
 * _complete callbacks delimit them. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct tg_conn *c = conn_of_parser(p);
    if (in_trailers(c))
        return 0;
    if (c->hdr_phase != HDR_NAME) {
        new_header_span(c);
        c->hdr_phase = HDR_NAME;
    }
    tg_buf_append(&c->head, at, len);
    c->spans[c->n_spans - 1].name_len += len;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct tg_conn *c = conn_of_parser(p);
    if (in_trailers(c))
        return 0;
    if (c->hdr_phase != HDR_NAME || c->spans[c->n_spans - 1].name_len == 0)
        return user_fail(c, 400, "bad_http", "empty header name");
    if (c->n_spans > c->server->limits.max_headers)
        return user_fail(c, 431, "headers_too_large", "more request headers than max_headers");
    tg_buf_putc(&c->head, '\0');
    c->spans[c->n_spans - 1].value_off = c->head.len;
    c->hdr_phase = HDR_VALUE;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct tg_conn *c = conn_of_parser(p);
    if (in_trailers(c))
        return 0;
    if (c->hdr_phase != HDR_VALUE) /* ": v" with no name: llhttp 8.1 lets it through */
        return user_fail(c, 400, "bad_http", "empty header name");
    tg_buf_append(&c->head, at, len);
    c->spans[c->n_spans - 1].value_len += len;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct tg_conn *c = conn_of_parser(p);
    if (in_trailers(c))
        return 0;
    if (c->hdr_phase != HDR_VALUE)
        return user_fail(c, 400, "bad_http", "empty header name");
    tg_buf_putc(&c->head, '\0');
    c->hdr_phase = HDR_NONE;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    conn_of_parser(p)->pause = PAUSE_HEADERS;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct tg_conn *c = conn_of_parser(p);
    if (c->body.len + len > c->server->limits.max_body_bytes)
        return user_fail(c, 413, "body_too_large", "request body is larger than max_body_bytes");
    tg_buf_append(&c->body, at, len);
    return 0;
}

/* The last chunk: pause so that the trailer section is scanned like the
 * head (llhttp 8.1.0 accepts obs-fold and bare CRs there too). */
static int on_chunk_header(llhttp_t *p)
{
    if (p->content_length != 0)
        return 0;
    struct tg_conn *c = conn_of_parser(p);
    c->in_trailers = true;
    c->pause = PAUSE_TRAILERS;
    return HPE_PAUSED;
}

/* A chunk's data and CRLF are done: a chunk-size line follows. */
static int on_chunk_complete(llhttp_t *p)
{
    struct tg_conn *c = conn_of_parser(p);
    if (c->in_trailers)
        return 0; /* the last chunk's: after its trailers */
    c->pause = PAUSE_CHUNK;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    conn_of_parser(p)->pause = PAUSE_MESSAGE;
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

/* Counts head bytes and finds what llhttp 8.1.0 lets through: bare CRs (a
 * CR not followed by LF) and obs-fold (a header line continued on a line
 * that starts with a space or tab, RFC 9112 section 5.2). */
static void head_scan(struct tg_conn *c, const char *p, size_t n)
{
    c->head_bytes += n;
    for (size_t i = 0; i < n; i++) {
        if (c->head_cr_pending && p[i] != '\n')
            c->head_bad_cr = true;
        if (c->head_line_start && (p[i] == ' ' || p[i] == '\t'))
            c->head_obs_fold = true;
        c->head_cr_pending = p[i] == '\r';
        c->head_line_start = p[i] == '\n';
    }
}

/* The head (or trailer) problems llhttp does not report; NULL when none. */
static const char *head_problem(const struct tg_conn *c)
{
    if (c->head_bad_cr)
        return c->in_trailers ? "bare CR in trailers" : "bare CR in request head";
    if (c->head_obs_fold)
        return c->in_trailers ? "obsolete line folding in trailers"
                              : "obsolete line folding in request head";
    return NULL;
}

bool tg_http_path_is(const struct tg_http_request *req, const char *path)
{
    return strlen(path) == req->path_len && memcmp(req->url, path, req->path_len) == 0;
}

const struct tg_http_header *tg_http_header_find(const struct tg_http_request *req,
                                                 const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct tg_http_header *h = &req->headers[i];
        if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0)
            return h;
    }
    return NULL;
}

/* The head limits llhttp does not apply; fails the request when one is
 * broken. */
static bool conn_head_ok(struct tg_conn *c)
{
    const char *problem = head_problem(c);
    if (problem) {
        conn_fail_request(c, 400, "bad_http", problem);
        return false;
    }
    if (c->head_bytes > c->server->limits.max_header_bytes) {
        conn_fail_request(c, 431, "headers_too_large",
                          c->in_trailers ? "trailers are larger than max_header_bytes"
                                         : "request line and headers are larger than max_header_bytes");
        return false;
    }
    return true;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* A uri-host [ ":" port ] of RFC 3986, as Host carries it (RFC 9112
 * section 3.2): reg-name or IPv4 (unreserved, pct-encoded, sub-delims) or an
 * IP-literal in brackets. Empty is allowed (a target without authority). */
static bool host_valid(const char *v, size_t n)
{
    static const char reg[] = "-._~%!$&'()*+,;=";
    size_t i = 0;
    if (n > 0 && v[0] == '[') {
        for (i = 1; i < n && v[i] != ']'; i++)
            if (!isalnum((unsigned char)v[i]) && v[i] != ':' && !strchr(reg, v[i]))
                return false;
        if (i == n)
            return false;
        i++;
    } else {
        for (; i < n && v[i] != ':'; i++)
            if (!isalnum((unsigned char)v[i]) && !strchr(reg, v[i]))
                return false;
    }
    if (i == n)
        return true;
    if (v[i++] != ':')
        return false;
    for (; i < n; i++)
        if (!isdigit((unsigned char)v[i]))
            return false;
    return true;
}

/* RFC 9112 section 3.2: one valid Host; HTTP/1.0 clients may leave it out. */
static const char *host_problem(const struct tg_http_request *r)
{
    const struct tg_http_header *host = NULL;
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct tg_http_header *h = &r->headers[i];
        if (h->name_len != 4 || strncasecmp(h->name, "host", 4) != 0)
            continue;
        if (host)
            return "more than one Host";
        host = h;
    }
    if (!host)
        return r->http_minor >= 1 ? "Host is missing" : NULL;
    return host_valid(host->value, host->value_len) ? NULL : "invalid Host";
}

/* Transfer-Encoding (RFC 9112 section 6.1): only "chunked", once, is served;
 * any other coding is 501, as nginx answers. Sets *status. llhttp 8.1.0
 * frames "gzip, chunked" (or two lines, identity then chunked) as plain
 * chunked and takes an empty value as no Transfer-Encoding at all. */
static const char *transfer_encoding_problem(const struct tg_http_request *r, int *status)
{
    int chunked = 0;
    *status = 400;
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct tg_http_header *h = &r->headers[i];
        if (h->name_len != 17 || strncasecmp(h->name, "transfer-encoding", 17) != 0)
            continue;
        const char *v = h->value, *end = h->value + h->value_len;
        bool any = false;
        while (v < end) {
            const char *comma = memchr(v, ',', (size_t)(end - v));
            const char *e = comma ? comma : end;
            const char *a = v;
            while (a < e && is_ows(*a))
                a++;
            const char *b = e;
            while (b > a && is_ows(b[-1]))
                b--;
            if (b > a) { /* empty list elements are allowed (RFC 9110 section 5.6.1) */
                any = true;
                if ((size_t)(b - a) != 7 || strncasecmp(a, "chunked", 7) != 0) {
                    *status = 501;
                    return "only the chunked transfer coding is supported";
                }
                chunked++;
            }
            v = comma ? comma + 1 : end;
        }
        if (!any)
            return "empty Transfer-Encoding";
    }
    return chunked > 1 ? "chunked applied more than once" : NULL;
}

/* Headers complete: build the request view and apply the limits that can
 * be judged before the body. Returns false when the connection was failed. */
static bool conn_headers_done(struct tg_conn *c)
{
    const struct tg_http_limits *lim = &c->server->limits;
    if (!conn_head_ok(c))
        return false;
    struct tg_http_request *r = &c->req;
    r->method = c->parser.method;
    r->method_name = llhttp_method_name((llhttp_method_t)c->parser.method);
    r->http_minor = c->parser.http_minor;
    r->url = c->head.data + c->url_off;
    r->url_len = c->url_len;
    const char *q = memchr(r->url, '?', r->url_len);
    r->path_len = q ? (size_t)(q - r->url) : r->url_len;
    c->headers = tg_xcalloc(c->n_spans ? c->n_spans : 1, sizeof(*c->headers));
    for (size_t i = 0; i < c->n_spans; i++) {
        c->headers[i] = (struct tg_http_header){c->head.data + c->spans[i].name_off,
                                                c->spans[i].name_len,
                                                c->head.data + c->spans[i].value_off,
                                                c->spans[i].value_len};
    }
    r->headers = c->headers;
    r->n_headers = c->n_spans;

    /* Only HTTP/1.0 and 1.1 (llhttp takes "GET /" with no version as 0.9). */
    if (c->parser.http_major != 1 || c->parser.http_minor > 1) {
        conn_fail_request(c, 505, "http_version_not_supported",
                          "only HTTP/1.0 and HTTP/1.1 are served");
        return false;
    }
    const char *problem = host_problem(r);
    if (problem) {
        conn_fail_request(c, 400, "bad_http", problem);
        return false;
    }
    int status;
    problem = transfer_encoding_problem(r, &status);
    if (problem) {
        conn_fail_request(c, status, status == 501 ? "not_implemented" : "bad_http", problem);
        return false;
    }
    /* RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has
     * faulty framing: answer it, then close. */
    if (r->http_minor == 0 && tg_http_header_find(r, "transfer-encoding"))
        c->close_after = true;

    if ((c->parser.flags & F_CONTENT_LENGTH) && c->parser.content_length > lim->max_body_bytes) {
        conn_fail_request(c, 413, "body_too_large", "request body is larger than max_body_bytes");
        return false;
    }
    const struct tg_http_header *expect = tg_http_header_find(r, "expect");
    if (expect) {
        if (expect->value_len == 12 && strncasecmp(expect->value, "100-continue", 12) == 0) {
            if (r->http_minor >= 1) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
                conn_send(c, &b, 1);
            }
        } else {
            conn_fail_request(c, 417, "bad_http", "unsupported Expect header");
            return false;
        }
    }
    return true;
}

static void conn_dispatch(struct tg_conn *c)
{
    struct tg_http_request *r = &c->req;
    tg_buf_reserve(&c->body, 0); /* body.data is never NULL for the handler */
    r->body = c->body.data;
    r->body_len = c->body.len;
    r->received_ms = tg_now(c->server->loop);
    r->received_ns = uv_hrtime();
    c->keep_alive = llhttp_should_keep_alive(&c->parser) && !c->server->draining &&
                    c->parser.upgrade == 0 && !c->close_after;
    c->x = (struct tg_http_exchange){X_PENDING, NULL, false};
    conn_set_state(c, CONN_HANDLING);
    c->server->handler->on_request(&c->x, c->server->ctx);
}

static const char *bad_http_message(llhttp_errno_t e, const llhttp_t *p)
{
    switch (e) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        if (p->reason && strstr(p->reason, "Duplicate"))
            return "more than one Content-Length";
        return "both Content-Length and Transfer-Encoding";
    case HPE_INVALID_CHUNK_SIZE:
        return "invalid chunk size";
    case HPE_INVALID_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_INVALID_TRANSFER_ENCODING:
        return "invalid Transfer-Encoding";
    case HPE_LF_EXPECTED:
    case HPE_CR_EXPECTED:
        return "malformed line ending";
    default:
        return p->reason ? p->reason : "malformed HTTP request";
    }
}

/* ---- what llhttp 8.1.0 refuses that RFC 9112 allows ------------------------
 *
 * llhttp 8.1.0 refuses trailing whitespace after the values that frame a
 * message ("Content-Length: 5<TAB>", "Transfer-Encoding: chunked<TAB>") and
 * most chunk extensions (";a=b;c=d", BWS around ';' and '='). A recipient
 * drops both anyway (RFC 9110 section 5.5: OWS is not part of a field
 * value; RFC 9112 section 7.1.1: unknown chunk extensions are ignored), so
 * they are dropped here before llhttp sees the bytes: whitespace in a header
 * or trailer line is held until the next byte shows whether it trails the
 * line, and a chunk-size line's extensions are checked against their
 * grammar here and not passed on. Everything else goes to llhttp as sent. */

static bool is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_qdtext(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* One byte of chunk extensions; false when it breaks the grammar. */
static bool ext_step(struct tg_conn *c, unsigned char ch)
{
    bool ws = ch == ' ' || ch == '\t';
    switch (c->ext) {
    case EXT_BWS_SEMI:
        if (ch == ';')
            c->ext = EXT_BWS_NAME;
        return ws || ch == ';';
    case EXT_BWS_NAME:
        if (is_tchar(ch)) {
            c->ext = EXT_NAME;
            c->ext_named = true;
        }
        return ws || is_tchar(ch);
    case EXT_NAME:
        if (is_tchar(ch))
            return true;
        /* fall through */
    case EXT_AFTER_NAME:
        c->ext = ws ? EXT_AFTER_NAME : ch == ';' ? EXT_BWS_NAME : EXT_BWS_VALUE;
        return ws || ch == ';' || ch == '=';
    case EXT_BWS_VALUE:
        if (ch == '"' || is_tchar(ch))
            c->ext = ch == '"' ? EXT_QUOTED : EXT_TOKEN;
        return ws || ch == '"' || is_tchar(ch);
    case EXT_TOKEN:
        if (is_tchar(ch))
            return true;
        c->ext = ch == ';' ? EXT_BWS_NAME : EXT_BWS_SEMI;
        return ws || ch == ';';
    case EXT_QUOTED:
        if (ch == '"' || ch == '\\')
            c->ext = ch == '"' ? EXT_BWS_SEMI : EXT_QUOTED_ESC;
        return is_qdtext(ch);
    case EXT_QUOTED_ESC:
        c->ext = EXT_QUOTED;
        return is_qdtext(ch);
    }
    return false;
}

/* Whether a CR may end the extensions here. */
static bool ext_complete(const struct tg_conn *c)
{
    switch (c->ext) {
    case EXT_NAME:
    case EXT_AFTER_NAME:
    case EXT_TOKEN:
        return true;
    case EXT_BWS_SEMI:
        return c->ext_named;
    default:
        return false;
    }
}

enum filter_result { FILTER_TAKEN, FILTER_PASS, FILTER_FAILED };

static llhttp_errno_t conn_feed_held(struct tg_conn *c);
static bool conn_feed_failed(struct tg_conn *c, llhttp_errno_t e);

/* Decides the byte the input is at: taken by the filter (held or
 * dropped), or to be passed to llhttp (after the held whitespace, which is
 * passed first or dropped). */
static enum filter_result filter_byte(struct tg_conn *c, unsigned char ch)
{
    bool ws = ch == ' ' || ch == '\t';
    switch (c->filter) {
    case FILTER_REQUEST_LINE:
        if (ch == '\n' && c->url_len > 0) /* not an empty line before the request */
            c->filter = FILTER_FIELDS;
        return FILTER_PASS;
    case FILTER_FIELDS:
        if (ws) {
            tg_buf_putc(&c->ows, (char)ch);
            return FILTER_TAKEN;
        }
        if (c->ows.len > 0) {
            if (ch == '\r') {
                tg_buf_reset(&c->ows); /* trailing: not part of the value */
                return FILTER_PASS;
            }
            if (conn_feed_failed(c, conn_feed_held(c)))
                return FILTER_FAILED;
        }
        return FILTER_PASS;
    case FILTER_BODY:
        return FILTER_PASS;
    case FILTER_CHUNK_SIZE:
        if (ch == '\r')
            c->filter = FILTER_BODY;
        if (ch != ';' && !ws)
            return FILTER_PASS;
        /* This byte starts the extensions. */
        c->filter = FILTER_CHUNK_EXT;
        c->ext = EXT_BWS_SEMI;
        c->ext_named = false;
        c->ext_bytes = 0;
        /* fall through */
    case FILTER_CHUNK_EXT:
        if (ch == '\r') {
            if (!ext_complete(c)) {
                conn_fail_request(c, 400, "bad_http", "invalid chunk extension");
                return FILTER_FAILED;
            }
            c->filter = FILTER_BODY;
            return FILTER_PASS;
        }
        if (++c->ext_bytes > MAX_CHUNK_EXT_BYTES) {
            conn_fail_request(c, 400, "bad_http", "chunk extensions are too long");
            return FILTER_FAILED;
        }
        if (!ext_step(c, ch)) {
            conn_fail_request(c, 400, "bad_http", "invalid chunk extension");
            return FILTER_FAILED;
        }
        return FILTER_TAKEN;
    }
    return FILTER_PASS;
}

/* How many bytes from p (whose first byte the filter passed) go to llhttp
 * in one piece: up to the next byte the filter must look at. */
static size_t filter_span(const struct tg_conn *c, const char *p, size_t n)
{
    const char *stops;
    switch (c->filter) {
    case FILTER_REQUEST_LINE: stops = "\n"; break;
    case FILTER_FIELDS: stops = " \t"; break;
    case FILTER_CHUNK_SIZE: stops = "; \t\r"; break;
    case FILTER_CHUNK_EXT: return n > 0 ? 1 : 0;
    default: return n;
    }
    size_t i = 1;
    while (i < n && !strchr(stops, p[i]))
        i++;
    return n > 0 ? i : 0;
}

/* Passes the held whitespace: it was inside a value, not after it. */
static llhttp_errno_t conn_feed_held(struct tg_conn *c)
{
    llhttp_errno_t e = llhttp_execute(&c->parser, c->ows.data, c->ows.len);
    tg_buf_reset(&c->ows);
    return e;
}

/* Fails the request when llhttp (or one of our callbacks) refused. */
static bool conn_feed_failed(struct tg_conn *c, llhttp_errno_t e)
{
    if (c->fail_status) {
        /* One of our callbacks refused (llhttp reports those from the
         * _complete callbacks under its own codes). */
        conn_fail_request(c, c->fail_status, c->fail_code, c->fail_message);
        return true;
    }
    if (e != HPE_OK) {
        conn_fail_request(c, 400, "bad_http", bad_http_message(e, &c->parser));
        return true;
    }
    return false;
}

/* Feeds bytes to llhttp until they run out, a request is dispatched, or the
 * connection fails. Returns how many bytes were consumed. */
static size_t conn_parse(struct tg_conn *c, const char *data, size_t len)
{
    size_t off = 0;
    /* After the headers pause, one more execute (even of zero bytes) lets a
     * body-less message complete. */
    bool resumed = false;
    while ((off < len || resumed) && (c->state == CONN_HEAD || c->state == CONN_BODY)) {
        resumed = false;
        const char *p = data + off;
        size_t n = len - off;
        bool scan = c->state == CONN_HEAD || c->in_trailers;
        if (n > 0) {
            enum filter_result fr = filter_byte(c, (unsigned char)p[0]);
            if (fr == FILTER_FAILED)
                return off;
            if (fr == FILTER_TAKEN) {
                off++;
                if (scan) {
                    head_scan(c, p, 1);
                    if (!conn_head_ok(c)) /* held whitespace counts too */
                        return off;
                }
                continue;
            }
            n = filter_span(c, p, n);
        }
        llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
        size_t used = n;
        if (e != HPE_OK) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            used = pos && pos >= p && pos <= p + n ? (size_t)(pos - p) : n;
        }
        if (scan)
            head_scan(c, p, used);
        off += used;

        if (e == HPE_PAUSED && c->pause == PAUSE_HEADERS) {
            c->pause = PAUSE_NONE;
            llhttp_resume(&c->parser);
            if (!conn_headers_done(c))
                return off;
            conn_set_state(c, CONN_BODY);
            c->filter = (c->parser.flags & F_CHUNKED) ? FILTER_CHUNK_SIZE : FILTER_BODY;
            resumed = true;
            continue;
        }
        if (e == HPE_PAUSED && c->pause == PAUSE_CHUNK) {
            c->pause = PAUSE_NONE;
            llhttp_resume(&c->parser);
            c->filter = FILTER_CHUNK_SIZE;
            continue;
        }
        if (e == HPE_PAUSED && c->pause == PAUSE_TRAILERS) {
            /* The trailer section starts at a line start, and has its own
             * max_header_bytes. */
            c->pause = PAUSE_NONE;
            llhttp_resume(&c->parser);
            c->head_bytes = 0;
            c->head_cr_pending = false;
            c->head_line_start = true;
            c->filter = FILTER_FIELDS;
            continue;
        }
        if (e == HPE_PAUSED && c->pause == PAUSE_MESSAGE) {
            c->pause = PAUSE_NONE;
            llhttp_resume(&c->parser);
            if (c->in_trailers && !conn_head_ok(c))
                return off;
            conn_dispatch(c);
            return off;
        }
        if (e == HPE_PAUSED_UPGRADE) {
            /* Upgrades are not supported: answer the request as plain
             * HTTP, then close (what follows is not HTTP). */
            llhttp_resume_after_upgrade(&c->parser);
            conn_dispatch(c);
            return len;
        }
        if (conn_feed_failed(c, e))
            return off;
        /* All consumed, request incomplete. */
        if (scan && !conn_head_ok(c))
            return off;
    }
    return off;
}

/* Parses what c->in holds, when the connection can take a request. */
static void conn_parse_buffered(struct tg_conn *c)
{
    if (c->state != CONN_HEAD || c->in.len == 0 || c->congested)
        return;
    size_t used = conn_parse(c, c->in.data, c->in.len);
    if (c->state == CONN_CLOSED)
        return;
    tg_buf_consume(&c->in, used);
    if (c->state == CONN_HEAD && c->in.len > 0)
        tg_defer(c->server->loop, &c->resume); /* answered at once: next request */
    if (c->state != CONN_LINGER && !c->reading && c->in.len < PIPELINE_CAP)
        conn_start_reading(c);
}

static void on_resume(struct tg_deferred *d)
{
    struct tg_conn *c = tg_container_of(d, struct tg_conn, resume);
    conn_parse_buffered(c);
}

/* ---- states and timers --------------------------------------------------- */

static void conn_set_state(struct tg_conn *c, enum conn_state to)
{
    struct tg_loop *loop = c->server->loop;
    c->state = to;
    switch (to) {
    case CONN_HEAD:
        /* A new request's first byte re-arms the timer as a read timeout. */
        tg_timer_start(loop, &c->timer, c->server->limits.idle_timeout_ms);
        break;
    case CONN_BODY:
        break; /* the read timeout armed at the request's first byte runs on */
    case CONN_HANDLING:
        tg_timer_stop(loop, &c->timer);
        break;
    case CONN_LINGER:
        tg_timer_start(loop, &c->timer, LINGER_MS);
        break;
    case CONN_CLOSED:
        tg_timer_stop(loop, &c->timer);
        tg_defer_cancel(&c->resume);
        tg_defer_cancel(&c->closer);
        tg_defer_cancel(&c->tls_flushed);
        cork_free(c);
        break;
    }
}

static void on_conn_timer(struct tg_timer *t)
{
    struct tg_conn *c = tg_container_of(t, struct tg_conn, timer);
    switch (c->state) {
    case CONN_HEAD:
    case CONN_BODY:
        if (c->req_begun || c->served == 0)
            conn_fail_request(c, 408, "request_timeout",
                              "request not received within read_timeout_ms");
        else
            conn_close_now(c, false); /* keep-alive idle */
        break;
    case CONN_LINGER:
        conn_close_now(c, false);
        break;
    default:
        break;
    }
}

/* ---- writing ------------------------------------------------------------- */

struct write_req {
    uv_write_t req;
    size_t len;
    char data[];
};

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = tg_container_of(req, struct write_req, req);
    struct tg_conn *c = req->data;
    free(w);
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0) {
        conn_close_now(c, false);
        return;
    }
    size_t backlog = c->tcp.write_queue_size;
    if (c->congested && backlog < LOW_WATERMARK) {
        c->congested = false;
        if (c->x.state != X_NONE && c->server->handler->on_writable)
            c->server->handler->on_writable(&c->x, c->server->ctx);
        else if (c->state == CONN_HEAD)
            tg_defer(c->server->loop, &c->resume);
    }
}

/* A write failed inside a handler's call: close on the next loop pass, so
 * that the handler is never called back (on_abort) from its own call. */
static void conn_io_error(struct tg_conn *c)
{
    if (c->io_failed)
        return;
    c->io_failed = true;
    tg_defer(c->server->loop, &c->closer);
}

static void on_closer(struct tg_deferred *d)
{
    conn_close_now(tg_container_of(d, struct tg_conn, closer), false);
}

/* Writes bytes to the socket (already encrypted when TLS): at once when the
 * socket takes them, else queued. */
static void conn_send_raw(struct tg_conn *c, uv_buf_t *bufs, unsigned n)
{
    if (c->state == CONN_CLOSED || c->shutdown_sent || c->io_failed)
        return;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (total == 0)
        return;
    size_t skip = 0;
    if (c->tcp.write_queue_size == 0) {
        int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (r >= 0 && (size_t)r == total)
            return;
        if (r < 0 && r != UV_EAGAIN) {
            conn_io_error(c);
            return;
        }
        skip = r > 0 ? (size_t)r : 0;
    }
    struct write_req *w = tg_xmalloc(sizeof(*w) + total - skip);
    w->len = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t blen = bufs[i].len;
        if (skip >= blen) {
            skip -= blen;
            continue;
        }
        memcpy(w->data + w->len, bufs[i].base + skip, blen - skip);
        w->len += blen - skip;
        skip = 0;
    }
    w->req.data = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        conn_io_error(c);
        return;
    }
    if (c->tcp.write_queue_size > HIGH_WATERMARK)
        c->congested = true;
}

/* Writes framed plaintext: through TLS when the connection has it. */
static void conn_send(struct tg_conn *c, uv_buf_t *bufs, unsigned n)
{
    if (!c->tls) {
        conn_send_raw(c, bufs, n);
        return;
    }
    if (c->state == CONN_CLOSED || c->shutdown_sent || c->io_failed)
        return;
    const char *pieces[CONN_SEND_MAX_PIECES];
    size_t lens[CONN_SEND_MAX_PIECES];
    assert(n <= CONN_SEND_MAX_PIECES);
    for (unsigned i = 0; i < n; i++) {
        pieces[i] = bufs[i].base;
        lens[i] = bufs[i].len;
    }
    tg_tls_conn_write(c->tls, pieces, lens, n);
}

static void tls_send_raw(void *conn, const char *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    conn_send_raw(conn, &b, 1);
}

static void tls_plaintext(void *conn, const char *p, size_t n)
{
    conn_on_plaintext(conn, p, n);
}

/* The remote address as text ("127.0.0.1:51234"), for logs. */
static const char *conn_peer(const struct tg_conn *c, char *out, size_t out_len)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(out, out_len, "%s:%d", ip, port);
    return out;
}

const char *tg_http_peer(const struct tg_http_exchange *x, char *out, size_t out_len)
{
    return conn_peer(tg_container_of(x, struct tg_conn, x), out, out_len);
}

static void tls_failed(void *conn, const char *why)
{
    struct tg_conn *c = conn;
    char peer[INET6_ADDRSTRLEN + 8];
    tg_log_debug("tls_failed", "peer=%s reason=%s", conn_peer(c, peer, sizeof(peer)), why);
    conn_io_error(c); /* only this connection, on the next pass */
}

static const struct tg_tls_io tls_io = {tls_send_raw, tls_plaintext, tls_failed};

static void on_shutdown(uv_shutdown_t *req, int status)
{
    free(req);
}

/* The last answer is queued: shut the write side once it is flushed, then
 * drain input briefly so the client reads the answer rather than a reset. */
static void conn_shut_write(struct tg_conn *c)
{
    uv_shutdown_t *req = tg_xmalloc(sizeof(*req));
    if (c->io_failed || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        conn_io_error(c);
        return;
    }
    c->shutdown_sent = true;
}

static void on_tls_flushed(struct tg_deferred *d)
{
    struct tg_conn *c = tg_container_of(d, struct tg_conn, tls_flushed);
    if (c->state == CONN_LINGER && !c->shutdown_sent)
        conn_shut_write(c);
}

static void conn_linger(struct tg_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    conn_set_state(c, CONN_LINGER);
    if (c->tls) {
        /* The answer may still be plaintext inside the TLS layer (an answer
         * made while it decrypts is encrypted when that call returns): shut
         * the socket on the next pass, after its records are queued. */
        tg_tls_conn_close_notify(c->tls);
        tg_defer(c->server->loop, &c->tls_flushed);
    } else {
        conn_shut_write(c);
    }
    tg_buf_free(&c->in);
    if (c->state == CONN_LINGER && !c->reading)
        conn_start_reading(c);
}

/* ---- answers --------------------------------------------------------------- */

const char *tg_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Site Overloaded";
    default: return "Unknown";
    }
}

/* "Date: ..." for the current second, formatted once per second. */
static const char *date_header(void)
{
    static char buf[48];
    static time_t cached = 0;
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cached = now;
    }
    return buf;
}

/* Formats the status line and the headers the connection owns. */
static size_t format_head(struct tg_conn *c, char *out, size_t cap, int status,
                          const char *framing)
{
    const char *conn_hdr = "";
    if (!c->keep_alive)
        conn_hdr = "Connection: close\r\n";
    else if (c->req.http_minor == 0)
        conn_hdr = "Connection: keep-alive\r\n";
    int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n%s%s%s", status, tg_http_reason(status),
                     date_header(), framing, conn_hdr);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void tg_http_respond(struct tg_http_exchange *x, int status, const char *headers,
                     size_t headers_len, const char *body, size_t body_len)
{
    struct tg_conn *c = conn_of(x);
    if (x->state != X_PENDING)
        return;
    char head[256], framing[64];
    snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", body_len);
    size_t head_len = format_head(c, head, sizeof(head), status, framing);
    bool is_head_method = c->req.method == HTTP_HEAD;
    uv_buf_t bufs[4] = {
        uv_buf_init(head, (unsigned)head_len),
        uv_buf_init((char *)(headers ? headers : ""), (unsigned)(headers ? headers_len : 0)),
        uv_buf_init((char *)"\r\n", 2),
        uv_buf_init((char *)body, is_head_method ? 0 : (unsigned)body_len),
    };
    conn_send(c, bufs, 4);
    conn_finish_exchange(c);
}

/* ---- the stream cork ---- */

static void cork_flush(struct tg_conn *c)
{
    struct stream_cork *k = c->cork;
    if (!k)
        return;
    tg_defer_cancel(&k->flush);
    if (k->out.len == 0)
        return;
    uv_buf_t b = uv_buf_init(k->out.data, (unsigned)k->out.len);
    conn_send(c, &b, 1);
    tg_buf_reset(&k->out);
}

static void on_cork_flush(struct tg_deferred *d)
{
    cork_flush(tg_container_of(d, struct stream_cork, flush)->c);
}

static void cork_add(struct tg_conn *c, const uv_buf_t *bufs, unsigned n)
{
    if (!c->cork) {
        c->cork = tg_xcalloc(1, sizeof(*c->cork));
        c->cork->c = c;
        tg_deferred_init(&c->cork->flush, on_cork_flush);
    }
    struct stream_cork *k = c->cork;
    for (unsigned i = 0; i < n; i++)
        tg_buf_append(&k->out, bufs[i].base, bufs[i].len);
    if (k->out.len >= CORK_MAX_BYTES)
        cork_flush(c);
    else
        tg_defer(c->server->loop, &k->flush);
}

static void cork_free(struct tg_conn *c)
{
    if (!c->cork)
        return;
    tg_defer_cancel(&c->cork->flush);
    tg_buf_free(&c->cork->out);
    free(c->cork);
    c->cork = NULL;
}

void tg_http_stream_begin(struct tg_http_exchange *x, int status, const char *headers,
                          size_t headers_len)
{
    struct tg_conn *c = conn_of(x);
    if (x->state != X_PENDING)
        return;
    x->chunked = c->req.http_minor >= 1;
    if (!x->chunked)
        c->keep_alive = false; /* HTTP/1.0: the close ends the body */
    char head[256];
    size_t head_len = format_head(c, head, sizeof(head), status,
                                  x->chunked ? "Transfer-Encoding: chunked\r\n" : "");
    uv_buf_t bufs[3] = {
        uv_buf_init(head, (unsigned)head_len),
        uv_buf_init((char *)(headers ? headers : ""), (unsigned)(headers ? headers_len : 0)),
        uv_buf_init((char *)"\r\n", 2),
    };
    x->state = X_STREAMING;
    cork_add(c, bufs, 3);
}

void tg_http_stream_write(struct tg_http_exchange *x, const char *data, size_t len)
{
    struct tg_conn *c = conn_of(x);
    if (x->state != X_STREAMING || len == 0)
        return;
    if (!x->chunked) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        cork_add(c, &b, 1);
        return;
    }
    char size_line[24];
    int n = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
    uv_buf_t bufs[3] = {
        uv_buf_init(size_line, (unsigned)n),
        uv_buf_init((char *)data, (unsigned)len),
        uv_buf_init((char *)"\r\n", 2),
    };
    cork_add(c, bufs, 3);
}

void tg_http_stream_end(struct tg_http_exchange *x)
{
    struct tg_conn *c = conn_of(x);
    if (x->state != X_STREAMING)
        return;
    if (x->chunked) {
        uv_buf_t b = uv_buf_init((char *)"0\r\n\r\n", 5);
        cork_add(c, &b, 1);
    }
    cork_flush(c);
    cork_free(c);
    conn_finish_exchange(c);
}

void tg_http_reset(struct tg_http_exchange *x)
{
    struct tg_conn *c = conn_of(x);
    if (x->state == X_NONE)
        return;
    x->state = X_NONE; /* finished by the handler: no on_abort */
    cork_flush(c); /* what the stream wrote goes out before the reset */
    conn_close_now(c, true);
}

void tg_http_send_raw_then_reset(struct tg_http_exchange *x, const char *data, size_t len)
{
    struct tg_conn *c = conn_of(x);
    if (x->state == X_NONE)
        return;
    cork_flush(c); /* a stream's bytes so far go first */
    if (len > 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        conn_send(c, &b, 1);
    }
    x->state = X_NONE;
    /* A reset discards unsent data: close gracefully when bytes are queued so
     * the peer sees exactly `len` bytes, then an abrupt end. */
    conn_close_now(c, c->tcp.write_queue_size == 0);
}

bool tg_http_congested(const struct tg_http_exchange *x)
{
    const struct tg_conn *c = tg_container_of(x, struct tg_conn, x);
    return c->congested;
}

const struct tg_http_request *tg_http_request(const struct tg_http_exchange *x)
{
    return &tg_container_of(x, struct tg_conn, x)->req;
}

void tg_http_set_user(struct tg_http_exchange *x, void *user)
{
    x->user = user;
}

void *tg_http_user(const struct tg_http_exchange *x)
{
    return x->user;
}

void tg_http_respond_error(struct tg_http_exchange *x, int status, const char *code,
                           const char *message, const char *extra_headers)
{
    struct tg_buf body = TG_BUF_INIT, headers = TG_BUF_INIT;
    tg_buf_puts(&body, "{\"error\":{\"message\":\"");
    tg_buf_json_escape(&body, message, strlen(message));
    tg_buf_printf(&body, "\",\"type\":\"%s\",\"code\":\"%s\",\"attempts\":[]}}",
                  status >= 500 ? "server_error" : "invalid_request_error", code);
    tg_buf_puts(&headers, "Content-Type: application/json\r\n");
    if (extra_headers)
        tg_buf_puts(&headers, extra_headers);
    tg_http_respond(x, status, headers.data, headers.len, body.data, body.len);
    tg_buf_free(&body);
    tg_buf_free(&headers);
}

/* After an answer is queued: next request, or close. */
static void conn_finish_exchange(struct tg_conn *c)
{
    c->x = (struct tg_http_exchange){X_NONE, NULL, false};
    c->served++;
    request_reset(c);
    if (c->state == CONN_CLOSED)
        return;
    if (!c->keep_alive || c->server->draining) {
        conn_linger(c);
        return;
    }
    conn_set_state(c, CONN_HEAD);
    if (c->in.len > 0)
        tg_defer(c->server->loop, &c->resume);
}

/* An error of the connection's own before any dispatch: log it for the
 * operator, answer (through the handler's on_refused when it has one) and
 * close. */
static void conn_fail_request(struct tg_conn *c, int status, const char *code, const char *msg)
{
    if (c->state == CONN_CLOSED || c->state == CONN_LINGER)
        return;
    char peer[INET6_ADDRSTRLEN + 8];
    tg_log_info("http_refused", "peer=%s status=%d code=%s reason=%s",
                conn_peer(c, peer, sizeof(peer)), status, code, msg);
    c->req.http_minor = c->parser.http_major == 1 ? c->parser.http_minor : 1;
    c->req.received_ns = uv_hrtime();
    c->keep_alive = false;
    c->x = (struct tg_http_exchange){X_PENDING, NULL, false};
    conn_set_state(c, CONN_HANDLING);
    const struct tg_http_handler *h = c->server->handler;
    if (h->on_refused)
        h->on_refused(&c->x, c->server->ctx, status, code, msg);
    if (c->x.state == X_PENDING)
        tg_http_respond_error(&c->x, status, code, msg, NULL);
}

/* ---- reading -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tg_conn *c = h->data;
    buf->base = c->server->read_buf;
    buf->len = sizeof(c->server->read_buf);
}

static void conn_on_eof(struct tg_conn *c)
{
    conn_close_now(c, false);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tg_conn *c = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        conn_on_eof(c);
        return;
    }
    if (c->tls)
        tg_tls_conn_feed(c->tls, buf->base, (size_t)nread);
    else
        conn_on_plaintext(c, buf->base, (size_t)nread);
}

/* Input from the client. */
/* Keeps input that cannot be parsed yet; past PIPELINE_CAP the connection
 * stops reading until it is parsed. */
static void conn_hold(struct tg_conn *c, const char *data, size_t len)
{
    tg_buf_append(&c->in, data, len);
    if (c->in.len >= PIPELINE_CAP && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void conn_on_plaintext(struct tg_conn *c, const char *data, size_t len)
{
    switch (c->state) {
    case CONN_LINGER:
    case CONN_CLOSED:
        return;
    case CONN_HANDLING:
        conn_hold(c, data, len);
        return;
    case CONN_HEAD:
    case CONN_BODY:
        break;
    }
    if (c->in.len > 0 || c->congested) {
        tg_buf_append(&c->in, data, len);
        conn_parse_buffered(c);
        return;
    }
    size_t used = conn_parse(c, data, len);
    if (c->state == CONN_CLOSED || c->state == CONN_LINGER || used == len)
        return;
    if (c->state == CONN_HEAD)
        tg_defer(c->server->loop, &c->resume); /* answered at once: next request */
    conn_hold(c, data + used, len - used);
}

static void conn_start_reading(struct tg_conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_close(uv_handle_t *h)
{
    struct tg_conn *c = h->data;
    struct tg_http_server *s = c->server;
    tg_list_remove(&c->link);
    s->n_conns--;
    request_reset(c);
    tg_buf_free(&c->in);
    tg_tls_conn_free(c->tls);
    free(c);
    if (s->draining && s->n_conns == 0 && s->on_empty)
        s->on_empty(s);
}

static void conn_close_now(struct tg_conn *c, bool reset)
{
    if (c->state == CONN_CLOSED)
        return;
    bool aborted = c->x.state != X_NONE;
    c->x.state = X_NONE;
    conn_set_state(c, CONN_CLOSED);
    if (aborted && c->server->handler->on_abort)
        c->server->handler->on_abort(&c->x, c->server->ctx);
    if (reset && uv_tcp_close_reset(&c->tcp, on_close) == 0)
        return;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void tg_conn_close(struct tg_conn *c)
{
    conn_close_now(c, false);
}

void tg_conn_drain(struct tg_conn *c)
{
    if (c->state == CONN_HEAD && !c->req_begun && c->in.len == 0)
        conn_close_now(c, false);
    /* Otherwise the answer in progress ends with Connection: close. */
    c->keep_alive = false;
}

void tg_conn_accept(struct tg_http_server *s)
{
    struct tg_conn *c = tg_xcalloc(1, sizeof(*c));
    c->server = s;
    if (uv_tcp_init(s->loop->uv, &c->tcp) < 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    tg_list_push_back(&s->conns, &c->link);
    s->n_conns++;
    if (uv_accept((uv_stream_t *)&s->tcp, (uv_stream_t *)&c->tcp) < 0) {
        c->state = CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    if (s->n_conns > s->limits.max_connections || s->draining) {
        /* SPEC: over max_connections, accepted and closed at once. */
        c->state = CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    s->accepted_total++;
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    tg_timer_init(&c->timer, on_conn_timer);
    tg_deferred_init(&c->resume, on_resume);
    tg_deferred_init(&c->tls_flushed, on_tls_flushed);
    tg_deferred_init(&c->closer, on_closer);
    if (s->tls)
        c->tls = tg_tls_conn_new(s->tls, &tls_io, c);
    /* A fresh connection must send its first request within read_timeout_ms. */
    c->state = CONN_HEAD;
    tg_timer_start(s->loop, &c->timer, s->limits.read_timeout_ms);
    conn_start_reading(c);
}

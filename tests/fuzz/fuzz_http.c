/* The inbound HTTP path (server/conn.c: llhttp in strict mode, the [server]
 * limits, keep-alive, pipelining) fed raw bytes over a real loopback
 * connection, behind a handler that does what the gateway's door does
 * (gateway/handler.c: endpoint, JSON body, tg_client_body_problem) and then
 * answers whole or streamed. conn.c needs no change: the harness is its
 * client on the same loop, writes the input, half-closes, and reads until
 * the server closes. Every answer must start with a status line. */
#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "core/log.h"
#include "core/loop.h"
#include "fuzz.h"
#include "gateway/handler.h"
#include "server/server.h"
#include "util/json.h"

static void on_request(struct tg_http_exchange *x, void *ctx)
{
    (void)ctx;
    const struct tg_http_request *req = tg_http_request(x);
    FUZZ_CHECK(req->body[req->body_len] == '\0', "body not NUL-terminated");
    FUZZ_CHECK(req->path_len <= req->url_len, "path %zu > url %zu", req->path_len, req->url_len);
    for (size_t i = 0; i < req->n_headers; i++)
        FUZZ_CHECK(tg_http_header_find(req, req->headers[i].name) != NULL, "header lookup");
    if (tg_http_path_is(req, "/v1/models")) {
        tg_http_respond(x, 200, NULL, 0, "{}", 2);
        return;
    }
    int api = tg_client_api(req);
    if (api < 0) {
        tg_http_respond_error(x, 404, "not_found", "no endpoint", NULL);
        return;
    }
    struct tg_json_check_opts rules = {TG_JSON_NO_DUP_KEYS | TG_JSON_NO_ODD_ESCAPES, NULL, NULL};
    struct tg_jv root = tg_jv_root(req->body, req->body_len);
    const char *problem = tg_json_check(req->body, req->body_len, &rules, NULL)
                              ? tg_client_body_problem((enum tg_api)api, root)
                              : "not JSON";
    if (problem) {
        tg_http_respond_error(x, 400, "invalid_request", problem, NULL);
        return;
    }
    bool stream = tg_jv_is(tg_jv_get(root, "stream"), TG_JV_TRUE);
    static const char h[] = "Content-Type: application/json\r\n";
    if (!stream) {
        tg_http_respond(x, 200, h, sizeof(h) - 1, req->body, req->body_len);
        return;
    }
    tg_http_stream_begin(x, 200, h, sizeof(h) - 1);
    tg_http_stream_write(x, req->body, req->body_len / 2);
    tg_http_stream_write(x, req->body + req->body_len / 2, req->body_len - req->body_len / 2);
    tg_http_stream_end(x);
}

static void on_abort(struct tg_http_exchange *x, void *ctx)
{
    (void)x;
    (void)ctx;
}

static void on_writable(struct tg_http_exchange *x, void *ctx)
{
    (void)x;
    (void)ctx;
}

/* What the gateway's door does with a refusal: look at what was read (the
 * view must be consistent however early the refusal came), then answer. */
static void on_refused(struct tg_http_exchange *x, void *ctx, int status, const char *code,
                       const char *message)
{
    (void)ctx;
    const struct tg_http_request *req = tg_http_request(x);
    FUZZ_CHECK(status >= 400 && status < 600, "refused with status %d", status);
    FUZZ_CHECK((req->method_name == NULL) == (req->url == NULL), "half a request line");
    for (size_t i = 0; i < req->n_headers; i++)
        FUZZ_CHECK(tg_http_header_find(req, req->headers[i].name) != NULL, "header lookup");
    tg_http_respond_error(x, status, code, message, "x-should-retry: false\r\n");
}

static const struct tg_http_handler handler = {.on_request = on_request,
                                               .on_abort = on_abort,
                                               .on_writable = on_writable,
                                               .on_refused = on_refused};

static struct {
    uv_loop_t uv;
    struct tg_loop loop;
    struct tg_http_server srv;
    int port;
} g;

static void setup(void)
{
    if (g.port)
        return;
    tg_log_set_level(TG_LOG_ERROR); /* refusals are logged: not per input */
    FUZZ_CHECK(uv_loop_init(&g.uv) == 0, "uv loop");
    tg_loop_init(&g.loop, &g.uv, 1);
    /* Small limits, so that inputs of a few KiB reach every one of them. */
    struct tg_http_limits limits = {.max_connections = 8,
                                    .max_header_bytes = 2048,
                                    .max_headers = 16,
                                    .max_body_bytes = 2048,
                                    .read_timeout_ms = 10000,
                                    .idle_timeout_ms = 10000};
    char err[256];
    FUZZ_CHECK(tg_http_server_listen(&g.srv, &g.loop, "127.0.0.1:0", false, &limits, &handler,
                                     NULL, err, sizeof(err)) == 0,
               "%s", err);
    g.port = tg_http_server_port(&g.srv);
}

struct client {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_shutdown_t shutdown;
    uv_buf_t out;
    char head[9]; /* the first bytes of the answer */
    size_t head_len;
    bool closed;
    char read_buf[16384];
};

static void on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    c->closed = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct client *c = h->data;
    *buf = uv_buf_init(c->read_buf, sizeof(c->read_buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    for (ssize_t i = 0; i < n && c->head_len < sizeof(c->head); i++)
        c->head[c->head_len++] = buf->base[i];
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

static void on_written(uv_write_t *req, int status)
{
    struct client *c = req->data;
    if (status == 0)
        uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    FUZZ_CHECK(status == 0, "connect: %s", uv_strerror(status));
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->write.data = c;
    if (c->out.len)
        uv_write(&c->write, (uv_stream_t *)&c->tcp, &c->out, 1, on_written);
    else
        uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    struct client *c = calloc(1, sizeof(*c));
    char *copy = malloc(size ? size : 1); /* exact: a read past the input shows */
    memcpy(copy, data, size);
    c->out = uv_buf_init(copy, (unsigned)size);
    uv_tcp_init(&g.uv, &c->tcp);
    c->tcp.data = c;
    c->connect.data = c;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", g.port, &addr);
    FUZZ_CHECK(uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&addr, on_connect) == 0,
               "connect");
    /* Until the client has seen the server close, and the server has
     * freed the connection. */
    while (!c->closed || g.srv.n_conns > 0)
        uv_run(&g.uv, UV_RUN_ONCE);
    if (c->head_len > 0)
        FUZZ_CHECK(c->head_len == sizeof(c->head) && memcmp(c->head, "HTTP/1.1 ", 9) == 0,
                   "an answer without a status line: %.*s", (int)c->head_len, c->head);
    free(copy);
    free(c);
    return 0;
}

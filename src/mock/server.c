/* `tailgate mock`: the mock provider as an HTTP server (SPEC section 7).
 *
 * Serves the five APIs through the shared engine and player (chat,
 * completions and embeddings also at Azure OpenAI's deployment paths), plus
 * the test endpoints: POST /_mock/script, GET /_mock/stats, POST /_mock/reset. Runs
 * its own loop until SIGTERM or SIGINT. */
#include "mock/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "mock/play.h"
#include "server/server.h"
#include "server/tls.h"
#include "util/json.h"

struct mock_server {
    struct tg_loop loop;
    struct tg_http_server http;
    struct tg_mock mock;
    uv_signal_t sigterm, sigint;
    bool stopping;
};

/* One API request being answered. */
struct mock_exchange {
    struct tg_http_exchange *x;
    struct tg_mock_play play;
    int status;
    size_t body_len; /* not streamed: the announced length */
    bool stream;
    bool azure; /* asked at an Azure OpenAI path */
    struct tg_buf headers;
    struct tg_buf body;
};

static void exchange_free(struct mock_exchange *me)
{
    tg_buf_free(&me->headers);
    tg_buf_free(&me->body);
    free(me);
}

static void sink_head(void *ctx, int status, const char *headers, size_t headers_len, bool stream,
                      size_t body_len)
{
    struct mock_exchange *me = ctx;
    me->status = status;
    me->stream = stream;
    me->body_len = body_len;
    if (stream) {
        tg_http_stream_begin(me->x, status, headers, headers_len);
        if (me->azure && status == 200) {
            /* Azure opens every stream with its prompt's filter verdicts:
             * a chunk without choices, before any content. */
            static const char ev[] =
                "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
                "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{"
                "\"hate\":{\"filtered\":false,\"severity\":\"safe\"},\"self_harm\":{\"filtered\":"
                "false,\"severity\":\"safe\"},\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},"
                "\"violence\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n";
            tg_http_stream_write(me->x, ev, sizeof(ev) - 1);
        }
    } else {
        tg_buf_append(&me->headers, headers, headers_len); /* sent with the whole body */
    }
}

static void sink_data(void *ctx, const char *p, size_t n)
{
    struct mock_exchange *me = ctx;
    if (!me->stream) {
        tg_buf_append(&me->body, p, n);
        return;
    }
    tg_http_stream_write(me->x, p, n);
    if (tg_http_congested(me->x))
        tg_mock_play_pause(&me->play);
}

static void sink_end(void *ctx)
{
    struct mock_exchange *me = ctx;
    if (me->stream)
        tg_http_stream_end(me->x);
    else
        tg_http_respond(me->x, me->status, me->headers.data, me->headers.len, me->body.data,
                        me->body.len);
    exchange_free(me);
}

static void sink_reset(void *ctx)
{
    struct mock_exchange *me = ctx;
    if (me->stream || me->status == 0) {
        tg_http_send_raw_then_reset(me->x, NULL, 0);
    } else {
        /* The head promised the whole length; only part of the body follows. */
        struct tg_buf raw = TG_BUF_INIT;
        tg_buf_printf(&raw, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", me->status,
                      tg_http_reason(me->status), me->body_len);
        tg_buf_append(&raw, me->headers.data, me->headers.len);
        tg_buf_puts(&raw, "\r\n");
        tg_buf_append(&raw, me->body.data, me->body.len);
        tg_http_send_raw_then_reset(me->x, raw.data, raw.len);
        tg_buf_free(&raw);
    }
    exchange_free(me);
}

static const struct tg_mock_sink http_sink = {sink_head, sink_data, sink_end, sink_reset};

static void respond_json(struct tg_http_exchange *x, int status, const struct tg_buf *body)
{
    static const char h[] = "Content-Type: application/json\r\n";
    tg_http_respond(x, status, h, sizeof(h) - 1, body->data, body->len);
}

static void headers_json(const struct tg_http_request *req, struct tg_buf *out)
{
    tg_buf_putc(out, '{');
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct tg_http_header *h = &req->headers[i];
        if (i)
            tg_buf_putc(out, ',');
        tg_buf_json_str(out, h->name, h->name_len);
        tg_buf_putc(out, ':');
        tg_buf_json_str(out, h->value, h->value_len);
    }
    tg_buf_putc(out, '}');
}

/* Azure OpenAI's paths: /openai/deployments/NAME/ then chat/completions,
 * completions or embeddings, served as the OpenAI APIs they are. */
static int azure_api_of_path(const char *path, size_t len)
{
    static const char prefix[] = "/openai/deployments/";
    size_t n = sizeof(prefix) - 1;
    if (len <= n || memcmp(path, prefix, n) != 0)
        return -1;
    const char *name = path + n;
    const char *slash = memchr(name, '/', len - n);
    if (!slash || slash == name)
        return -1;
    /* the rest, "/chat/completions", is the OpenAI path without "/v1" */
    size_t rest = len - (size_t)(slash - path);
    for (int api = TG_MOCK_API_CHAT; api <= TG_MOCK_API_EMBEDDINGS; api++) {
        const char *oa = tg_mock_api_path((enum tg_mock_api)api) + 3;
        if (strlen(oa) == rest && memcmp(oa, slash, rest) == 0)
            return api;
    }
    return -1;
}

/* Whether the query string has a non-empty api-version. */
static bool has_api_version(const char *query)
{
    for (const char *q = query; q && *q; q = strchr(q, '&'), q = q ? q + 1 : NULL)
        if (strncmp(q, "api-version=", 12) == 0 && q[12] && q[12] != '&')
            return true;
    return false;
}

static void on_request(struct tg_http_exchange *x, void *ctx)
{
    struct mock_server *srv = ctx;
    const struct tg_http_request *req = tg_http_request(x);
    bool post = strcmp(req->method_name, "POST") == 0;
    bool get = strcmp(req->method_name, "GET") == 0;
    struct tg_buf out = TG_BUF_INIT;
    const char *query = req->path_len < req->url_len ? req->url + req->path_len + 1 : "";

    int api = tg_mock_api_of_path(req->url, req->path_len);
    bool azure = false;
    if (api < 0 && (api = azure_api_of_path(req->url, req->path_len)) >= 0 &&
        !(azure = has_api_version(query))) {
        /* What Azure answers a request without its api-version. */
        tg_buf_puts(&out, "{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}");
        respond_json(x, 404, &out);
        tg_buf_free(&out);
        return;
    }
    if (api >= 0) {
        if (!post) {
            tg_http_respond_error(x, 405, "method_not_allowed", "use POST", "Allow: POST\r\n");
            return;
        }
        struct tg_buf hj = TG_BUF_INIT;
        headers_json(req, &hj);
        tg_mock_remember(&srv->mock, req->method_name, req->url, hj.data, req->body, req->body_len);
        tg_buf_free(&hj);
        struct mock_exchange *me = tg_xcalloc(1, sizeof(*me));
        me->x = x;
        me->azure = azure;
        tg_http_set_user(x, me);
        tg_mock_play_start(&me->play, &srv->loop, &srv->mock, (enum tg_mock_api)api, req->body,
                           req->body_len, &http_sink, me);
        return;
    }
    if (tg_http_path_is(req, "/_mock/script") && post) {
        char err[256];
        int n = tg_mock_script_set(&srv->mock, req->body, req->body_len, err, sizeof(err));
        if (n < 0) {
            tg_http_respond_error(x, 400, "invalid_script", err, NULL);
            return;
        }
        tg_buf_printf(&out, "{\"steps\":%d}", n);
        respond_json(x, 200, &out);
    } else if (tg_http_path_is(req, "/_mock/stats") && get) {
        srv->mock.stats.connections_total = srv->http.accepted_total;
        srv->mock.stats.connections_open = srv->http.n_conns;
        tg_mock_stats_json(&srv->mock, &out);
        respond_json(x, 200, &out);
    } else if (tg_http_path_is(req, "/_mock/reset") && post) {
        tg_mock_reset(&srv->mock);
        tg_buf_puts(&out, "{\"ok\":true}");
        respond_json(x, 200, &out);
    } else if (tg_http_path_is(req, "/healthz") && get) {
        static const char h[] = "Content-Type: text/plain\r\n";
        tg_http_respond(x, 200, h, sizeof(h) - 1, "ok\n", 3);
    } else if (tg_http_path_is(req, "/v1/models") && get) {
        tg_buf_puts(&out, "{\"object\":\"list\",\"data\":[{\"id\":\"mock\",\"object\":\"model\","
                          "\"created\":0,\"owned_by\":\"tailgate-mock\"}]}");
        respond_json(x, 200, &out);
    } else if (tg_http_path_is(req, "/_mock/script") || tg_http_path_is(req, "/_mock/stats") ||
               tg_http_path_is(req, "/_mock/reset") || tg_http_path_is(req, "/healthz") ||
               tg_http_path_is(req, "/v1/models")) {
        tg_http_respond_error(x, 405, "method_not_allowed", "method not allowed here", NULL);
    } else {
        tg_http_respond_error(x, 404, "not_found", "no such endpoint on the mock provider", NULL);
    }
    tg_buf_free(&out);
}

static void on_abort(struct tg_http_exchange *x, void *ctx)
{
    struct mock_exchange *me = tg_http_user(x);
    if (!me)
        return;
    tg_mock_play_cancel(&me->play);
    exchange_free(me);
}

static void on_writable(struct tg_http_exchange *x, void *ctx)
{
    struct mock_exchange *me = tg_http_user(x);
    if (me)
        tg_mock_play_resume(&me->play);
}

static const struct tg_http_handler mock_handler = {
    .on_request = on_request, .on_abort = on_abort, .on_writable = on_writable};

static void stop(struct mock_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    tg_log_info("mock_stop", "connections=%zu", srv->http.n_conns);
    tg_http_server_close(&srv->http);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    tg_loop_close(&srv->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    stop(h->data);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: tailgate mock [--listen HOST:PORT] [options]\n\n"
                 "  --listen HOST:PORT   where to listen (default 127.0.0.1:9000)\n");
    for (int i = 0; i < tg_mock_option_count; i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s N", tg_mock_option_descs[i].name);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  %-20s %s\n", flag, tg_mock_option_descs[i].help);
    }
    fprintf(out, "  --tls-cert FILE      serve HTTPS with this PEM certificate (chain) ...\n"
                 "  --tls-key FILE       ... and this PEM key\n"
                 "  --log-level LEVEL    debug, info, warn or error (default info)\n\n"
                 "Endpoints: POST /v1/chat/completions /v1/completions /v1/embeddings "
                 "/v1/responses /v1/messages;\n"
                 "Azure OpenAI's paths POST /openai/deployments/NAME/chat/completions "
                 "(/completions, /embeddings)\n"
                 "?api-version=V, answered as the OpenAI APIs (any NAME; streams open with "
                 "Azure's\nprompt_filter_results chunk; without api-version: 404 as Azure);\n"
                 "POST /_mock/script (JSON array of steps), GET /_mock/stats, POST "
                 "/_mock/reset.\n");
}

int tg_mock_main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:9000";
    const char *tls_cert = NULL, *tls_key = NULL;
    struct tg_mock_options opts;
    tg_mock_options_default(&opts);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "tailgate mock: unexpected argument \"%s\"\n", arg);
            usage(stderr);
            return 2;
        }
        char name[64];
        const char *value = strchr(arg, '=');
        if (value) {
            snprintf(name, sizeof(name), "%.*s", (int)(value - arg - 2), arg + 2);
            value++;
        } else {
            snprintf(name, sizeof(name), "%s", arg + 2);
            if (i + 1 >= argc) {
                fprintf(stderr, "tailgate mock: --%s needs a value\n", name);
                return 2;
            }
            value = argv[++i];
        }
        if (strcmp(name, "listen") == 0) {
            listen = value;
            continue;
        }
        if (strcmp(name, "tls-cert") == 0) {
            tls_cert = value;
            continue;
        }
        if (strcmp(name, "tls-key") == 0) {
            tls_key = value;
            continue;
        }
        if (strcmp(name, "log-level") == 0) {
            enum tg_log_level level;
            if (tg_log_parse_level(value, &level) < 0) {
                fprintf(stderr, "tailgate mock: unknown log level \"%s\"\n", value);
                return 2;
            }
            tg_log_set_level(level);
            continue;
        }
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end) {
            fprintf(stderr, "tailgate mock: --%s wants a number, not \"%s\"\n", name, value);
            return 2;
        }
        int rc = tg_mock_option_set(&opts, name, v);
        if (rc == -1) {
            fprintf(stderr, "tailgate mock: unknown option --%s\n", name);
            usage(stderr);
            return 2;
        }
        if (rc == -2) {
            const struct tg_mock_option_desc *d = tg_mock_option_find(name);
            fprintf(stderr, "tailgate mock: --%s must be between %g and %g%s\n", name, d->min,
                    d->max, d->kind == TG_MOCK_OPT_DOUBLE ? "" : " and whole");
            return 2;
        }
    }

    if (!tls_cert != !tls_key) {
        fprintf(stderr, "tailgate mock: --tls-cert and --tls-key go together\n");
        return 2;
    }
    char err[256];
    struct tg_tls_ctx *tls = NULL;
    if (tls_cert && !(tls = tg_tls_ctx_new(tls_cert, tls_key, err, sizeof(err)))) {
        fprintf(stderr, "tailgate mock: %s\n", err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct mock_server *srv = tg_xcalloc(1, sizeof(*srv));
    uv_loop_t *uv = uv_default_loop();
    tg_loop_init(&srv->loop, uv, opts.seed);
    tg_mock_init(&srv->mock, &opts);
    struct tg_http_limits limits = {
        .max_connections = 100000,
        .max_header_bytes = 65536,
        .max_headers = 200,
        .max_body_bytes = 64 * 1024 * 1024,
        .read_timeout_ms = 60000,
        .idle_timeout_ms = 300000,
    };
    int rc = tg_http_server_listen(&srv->http, &srv->loop, listen, false, &limits, &mock_handler,
                                   srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "tailgate mock: %s\n", err);
        tg_loop_close(&srv->loop);
        uv_run(uv, UV_RUN_DEFAULT);
        tg_mock_free(&srv->mock);
        free(srv);
        uv_loop_close(uv);
        tg_tls_ctx_free(tls);
        return 1;
    }
    tg_http_server_set_tls(&srv->http, tls);
    uv_signal_init(uv, &srv->sigterm);
    uv_signal_init(uv, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    tg_log_info("mock_listen", "addr=%s port=%d tls=%s latency_ms=%g latency_p99_ms=%g "
                               "tokens_per_s=%g output_tokens=%lld error_rate=%g seed=%llu",
                listen, tg_http_server_port(&srv->http), tls ? "on" : "off", opts.latency_ms,
                opts.latency_p99_ms,
                opts.tokens_per_s, (long long)opts.output_tokens, opts.error_rate,
                (unsigned long long)opts.seed);
    uv_run(uv, UV_RUN_DEFAULT);
    tg_mock_free(&srv->mock);
    free(srv);
    uv_loop_close(uv);
    tg_tls_ctx_free(tls);
    return 0;
}

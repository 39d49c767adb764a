/* The client API of SPEC section 3 at its door: which endpoint, whether the
 * body is a request we can route, and which route its model names. What
 * passes is handed to the request machine (req/req.c). */
#include "gateway/handler.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "formats/convert.h"
#include "gateway/auth.h"
#include "req/req.h"
#include "util/hex.h"
#include "util/json.h"

/* The request id (SPEC section 3), decided once at the door for every
 * answer the listener makes: the client's x-request-id when it is sane
 * (1 to 64 visible ASCII characters), else a new one. */
static void door_id(struct tg_gateway *gw, const struct tg_http_request *req,
                    char out[TG_REQ_ID_CAP])
{
    const struct tg_http_header *h = req->headers ? tg_http_header_find(req, "x-request-id") : NULL;
    bool sane = h && h->value_len > 0 && h->value_len <= 64;
    for (size_t i = 0; sane && i < h->value_len; i++)
        sane = h->value[i] > ' ' && h->value[i] < 0x7f;
    if (sane)
        snprintf(out, TG_REQ_ID_CAP, "%.*s", (int)h->value_len, h->value);
    else
        snprintf(out, TG_REQ_ID_CAP, "%s-%llu", gw->id_prefix,
                 (unsigned long long)++gw->request_seq);
}

/* The access log line (SPEC section 6) and the key's count of an answer
 * made before routing; `key` is NULL before (or without) authentication. */
static void door_log(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                     const struct tg_key_cfg *key, int status)
{
    if (key) {
        char code[8];
        snprintf(code, sizeof(code), "%d", status);
        const char *l[] = {key->name, code};
        tg_metric_add(gw->fam.key_requests, l, 1);
    }
    tg_trace_door(gw, x, id, key, status);
    if (!gw->alog)
        return;
    const struct tg_http_request *req = tg_http_request(x);
    char client[64];
    struct tg_access_entry e = {
        .request_id = id,
        .method = req->method_name,
        .path = req->url,
        .path_len = req->path_len,
        .client = tg_http_peer(x, client, sizeof(client)),
        .key = key ? key->name : NULL,
        .status = status,
        .ms = req->received_ns ? (double)(uv_hrtime() - req->received_ns) / 1e6 : 0,
        .term = status < 400 ? "answered" : "refused",
    };
    tg_access_log_entry(gw->alog, &e);
}

/* An error made at the door. Only a timeout can go better on a retry;
 * everything else here is the request's own fault (SPEC section 3). */
static void door_error(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                       const struct tg_key_cfg *key, int status, const char *code,
                       const char *message, const char *extra)
{
    /* In the shape of the endpoint asked for: Anthropic's on /v1/messages. */
    const struct tg_http_request *req = tg_http_request(x);
    int api = req->url ? tg_client_api(req) : -1;
    struct tg_buf h = TG_BUF_INIT;
    tg_buf_printf(&h, "x-request-id: %s\r\n", id);
    const char *also = api < 0 ? NULL : tg_api_id_header((enum tg_api)api);
    if (also)
        tg_buf_printf(&h, "%s: %s\r\n", also, id);
    if (status != 408)
        tg_buf_puts(&h, "x-should-retry: false\r\n");
    if (extra)
        tg_buf_puts(&h, extra);
    struct tg_buf body = TG_BUF_INIT;
    tg_convert_gateway_error(api < 0 ? TG_API_CHAT : (enum tg_api)api, status, code, message, "[]",
                             &body);
    tg_buf_puts(&h, "Content-Type: application/json\r\n");
    door_log(gw, x, id, key, status); /* the answer ends the request view */
    tg_http_respond(x, status, h.data, h.len, body.data, body.len);
    tg_buf_free(&body);
    tg_buf_free(&h);
}

static void door_json(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                      const struct tg_key_cfg *key, const struct tg_buf *body)
{
    struct tg_buf h = TG_BUF_INIT;
    tg_buf_printf(&h, "Content-Type: application/json\r\nx-request-id: %s\r\n", id);
    door_log(gw, x, id, key, 200);
    tg_http_respond(x, 200, h.data, h.len, body->data, body->len);
    tg_buf_free(&h);
}

/* The OpenAI model object of a route. */
static void model_object(struct tg_buf *b, const struct tg_route_cfg *route)
{
    tg_buf_puts(b, "{\"id\":");
    tg_buf_json_str(b, route->model, strlen(route->model));
    tg_buf_puts(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"tailgate\"}");
}

/* A route the request may call: every route without keys, else those its
 * key's globs allow. */
static bool may_call(const struct tg_key_cfg *key, const struct tg_route_cfg *route)
{
    return !key || tg_key_allows(key, route->model);
}

static void list_models(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                        const struct tg_key_cfg *key)
{
    const struct tg_config *cfg = gw->rt->cfg;
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        if (!may_call(key, &cfg->routes[i]))
            continue;
        if (!first)
            tg_buf_putc(&b, ',');
        first = false;
        model_object(&b, &cfg->routes[i]);
    }
    tg_buf_puts(&b, "]}");
    door_json(gw, x, id, key, &b);
    tg_buf_free(&b);
}

/* Percent-decodes a path segment; false when an escape is malformed. */
static bool percent_decode(const char *s, size_t n, struct tg_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            tg_buf_putc(out, s[i]);
            continue;
        }
        int hi = i + 2 < n ? tg_hex_value(s[i + 1]) : -1, lo = hi >= 0 ? tg_hex_value(s[i + 2]) : -1;
        if (lo < 0)
            return false;
        tg_buf_putc(out, (char)(hi * 16 + lo));
        i += 2;
    }
    return true;
}

/* GET /v1/models/{id}: ids may hold '/' ("openai/gpt-4o"), sent as is or
 * percent-encoded. */
static void get_model(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                      const struct tg_key_cfg *key, const char *model, size_t model_len)
{
    struct tg_buf name = TG_BUF_INIT;
    const struct tg_route_cfg *route = NULL;
    if (percent_decode(model, model_len, &name))
        route = tg_config_route(gw->rt->cfg, name.data ? name.data : "", name.len);
    if (route && !may_call(key, route))
        route = NULL; /* not in this key's list, so not served to it */
    if (route) {
        struct tg_buf b = TG_BUF_INIT;
        model_object(&b, route);
        door_json(gw, x, id, key, &b);
        tg_buf_free(&b);
    } else {
        struct tg_buf msg = TG_BUF_INIT;
        tg_buf_printf(&msg, "the model \"%.200s\" is not served here (see GET /v1/models)",
                      name.data ? name.data : "");
        door_error(gw, x, id, key, 404, "model_not_found", msg.data, NULL);
        tg_buf_free(&msg);
    }
    tg_buf_free(&name);
}

int tg_client_api(const struct tg_http_request *req)
{
    for (int i = 0; i < TG_API__COUNT; i++)
        if (tg_http_path_is(req, tg_api_path((enum tg_api)i)))
            return i;
    return -1;
}

static bool string_or_array(struct tg_jv v)
{
    return tg_jv_is(v, TG_JV_STRING) || tg_jv_is(v, TG_JV_ARRAY);
}

const char *tg_client_body_problem(enum tg_api api, struct tg_jv root)
{
    if (!tg_jv_is(root, TG_JV_OBJECT))
        return "the request body must be a JSON object";
    static const char *const keys[] = {"model", "prompt", "messages", "input", "stream"};
    struct tg_jv m[5];
    tg_jv_pick(root, keys, 5, m);
    struct tg_jv model = m[0];
    if (tg_jv_is(model, TG_JV_NONE))
        return "\"model\" is missing";
    if (!tg_jv_str_nonempty(model))
        return "\"model\" must be a non-empty string";
    struct tg_jv v;
    switch (api) {
    case TG_API_COMPLETIONS:
        v = m[1];
        if (tg_jv_is(v, TG_JV_NONE))
            return "\"prompt\" is missing";
        if (!string_or_array(v))
            return "\"prompt\" must be a string or an array";
        break;
    case TG_API_CHAT:
    case TG_API_MESSAGES:
        v = m[2];
        if (tg_jv_is(v, TG_JV_NONE))
            return "\"messages\" is missing";
        if (!tg_jv_is(v, TG_JV_ARRAY))
            return "\"messages\" must be an array";
        break;
    case TG_API_EMBEDDINGS:
    case TG_API_RESPONSES:
        v = m[3];
        if (tg_jv_is(v, TG_JV_NONE))
            return "\"input\" is missing";
        if (!string_or_array(v))
            return "\"input\" must be a string or an array";
        break;
    case TG_API__COUNT:
        break;
    }
    v = m[4];
    if (!tg_jv_is(v, TG_JV_NONE) && !tg_jv_is(v, TG_JV_TRUE) && !tg_jv_is(v, TG_JV_FALSE))
        return "\"stream\" must be true or false";
    return NULL;
}

static void on_request(struct tg_http_exchange *x, void *ctx)
{
    struct tg_gateway *gw = ctx;
    const struct tg_http_request *req = tg_http_request(x);
    char id[TG_REQ_ID_CAP];
    door_id(gw, req, id);
    /* SPEC section 8: with keys configured, nothing is answered without one. */
    const struct tg_key_cfg *key = NULL;
    if (gw->rt->cfg->n_keys > 0 && !(key = tg_auth_key(gw->rt->cfg, req))) {
        door_error(gw, x, id, NULL, 401, "invalid_api_key",
                   "a valid API key is required: send it as \"Authorization: Bearer KEY\" or "
                   "\"x-api-key: KEY\"",
                   NULL);
        return;
    }
    bool get = strcmp(req->method_name, "GET") == 0;
    static const char models[] = "/v1/models";
    size_t models_len = sizeof(models) - 1;
    if (req->path_len >= models_len && memcmp(req->url, models, models_len) == 0 &&
        (req->path_len == models_len ||
         (req->url[models_len] == '/' && req->path_len > models_len + 1))) {
        if (!get)
            door_error(gw, x, id, key, 405, "method_not_allowed", "use GET for /v1/models",
                       "Allow: GET\r\n");
        else if (req->path_len == models_len)
            list_models(gw, x, id, key);
        else
            get_model(gw, x, id, key, req->url + models_len + 1, req->path_len - models_len - 1);
        return;
    }
    int api = tg_client_api(req);
    if (api < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no endpoint %.*s", (int)(req->path_len > 100 ? 100 : req->path_len),
                 req->url);
        door_error(gw, x, id, key, 404, "not_found", msg, NULL);
        return;
    }
    if (strcmp(req->method_name, "POST") != 0) {
        door_error(gw, x, id, key, 405, "method_not_allowed", "use POST for this endpoint",
                   "Allow: POST\r\n");
        return;
    }
    /* The client rules (util/json.h): what the gateway routes on is what the
     * provider reads. The body is read through views from here on. */
    struct tg_json_error jerr;
    struct tg_json_check_opts rules = {TG_JSON_NO_DUP_KEYS | TG_JSON_NO_ODD_ESCAPES, NULL, NULL};
    if (!tg_json_check(req->body, req->body_len, &rules, &jerr)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "the request body is not valid JSON (RFC 8259): %s at byte %zu",
                 jerr.what, jerr.offset);
        door_error(gw, x, id, key, 400, "invalid_request", msg, NULL);
        return;
    }
    struct tg_jv root = tg_jv_root(req->body, req->body_len);
    const char *problem = tg_client_body_problem((enum tg_api)api, root);
    if (problem) {
        door_error(gw, x, id, key, 400, "invalid_request", problem, NULL);
        return;
    }
    /* The model as it reads: its bytes when it has no escape, else unescaped. */
    struct tg_jv mv = tg_jv_get(root, "model");
    struct tg_buf unescaped = TG_BUF_INIT;
    const char *model;
    size_t model_len;
    if (!tg_jv_str_raw(mv, &model, &model_len)) {
        tg_jv_str_append(mv, &unescaped);
        model = unescaped.data;
        model_len = unescaped.len;
    }
    const struct tg_route_cfg *route = tg_config_route(gw->rt->cfg, model, model_len);
    if (!route || !may_call(key, route)) {
        struct tg_buf msg = TG_BUF_INIT;
        int shown = model_len > 200 ? 200 : (int)model_len;
        if (!route)
            tg_buf_printf(&msg, "the model \"%.*s\" is not served here (see GET /v1/models)",
                          shown, model);
        else
            tg_buf_printf(&msg, "the key \"%s\" may not call the model \"%.*s\"", key->name,
                          shown, model);
        door_error(gw, x, id, key, route ? 403 : 404,
                   route ? "model_not_allowed" : "model_not_found", msg.data, NULL);
        tg_buf_free(&msg);
    } else {
        tg_req_start(gw, x, (enum tg_api)api, route, key, id);
    }
    tg_buf_free(&unescaped);
}

/* The connection refused the request itself (malformed, over a limit). */
static void on_refused(struct tg_http_exchange *x, void *ctx, int status, const char *code,
                       const char *message)
{
    struct tg_gateway *gw = ctx;
    char id[TG_REQ_ID_CAP];
    door_id(gw, tg_http_request(x), id);
    door_error(gw, x, id, NULL, status, code, message, NULL);
}

static void on_abort(struct tg_http_exchange *x, void *ctx)
{
    struct tg_req *r = tg_http_user(x);
    if (r)
        tg_req_client_gone(r);
}

static void on_writable(struct tg_http_exchange *x, void *ctx)
{
    struct tg_req *r = tg_http_user(x);
    if (r)
        tg_req_client_writable(r);
}

const struct tg_http_handler tg_client_handler = {
    .on_request = on_request,
    .on_abort = on_abort,
    .on_writable = on_writable,
    .on_refused = on_refused,
};

/* The client API of SPEC section 3 at its door: which endpoint, whether the
 * body is a request we can route, and which route its model names. What
 * passes is handed to the request machine (req/req.c). */
#include "gateway/handler.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "req/req.h"
#include "util/json.h"

static void list_models(struct tg_gateway *gw, struct tg_http_exchange *x)
{
    const struct tg_config *cfg = gw->rt->cfg;
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < cfg->n_routes; i++) {
        tg_buf_printf(&b, "%s{\"id\":", i ? "," : "");
        tg_buf_json_str(&b, cfg->routes[i].model, strlen(cfg->routes[i].model));
        tg_buf_puts(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"tailgate\"}");
    }
    tg_buf_puts(&b, "]}");
    static const char h[] = "Content-Type: application/json\r\n";
    tg_http_respond(x, 200, h, sizeof(h) - 1, b.data, b.len);
    tg_buf_free(&b);
}

const char *tg_client_body_problem(enum tg_api api, const cJSON *json)
{
    if (!cJSON_IsObject(json))
        return "the request body must be a JSON object";
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
    if (!model)
        return "\"model\" is missing";
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0')
        return "\"model\" must be a non-empty string";
    const cJSON *v;
    switch (api) {
    case TG_API_CHAT:
        v = cJSON_GetObjectItemCaseSensitive(json, "messages");
        if (!v)
            return "\"messages\" is missing";
        if (!cJSON_IsArray(v))
            return "\"messages\" must be an array";
        break;
    case TG_API_COMPLETIONS:
        v = cJSON_GetObjectItemCaseSensitive(json, "prompt");
        if (!v)
            return "\"prompt\" is missing";
        if (!cJSON_IsString(v) && !cJSON_IsArray(v))
            return "\"prompt\" must be a string or an array";
        break;
    case TG_API_EMBEDDINGS:
        v = cJSON_GetObjectItemCaseSensitive(json, "input");
        if (!v)
            return "\"input\" is missing";
        if (!cJSON_IsString(v) && !cJSON_IsArray(v))
            return "\"input\" must be a string or an array";
        break;
    default:
        break;
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "stream");
    if (v && !cJSON_IsBool(v))
        return "\"stream\" must be true or false";
    return NULL;
}

static void on_request(struct tg_http_exchange *x, void *ctx)
{
    struct tg_gateway *gw = ctx;
    const struct tg_http_request *req = tg_http_request(x);
    bool post = strcmp(req->method_name, "POST") == 0;
    if (tg_http_path_is(req, "/v1/models")) {
        if (strcmp(req->method_name, "GET") == 0)
            list_models(gw, x);
        else
            tg_http_respond_error(x, 405, "method_not_allowed", "use GET for /v1/models",
                                  "Allow: GET\r\n");
        return;
    }
    int api = -1;
    for (int i = 0; i < TG_API__COUNT; i++)
        if (tg_http_path_is(req, tg_api_path((enum tg_api)i)))
            api = i;
    if (api < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no endpoint %.*s", (int)(req->path_len > 100 ? 100 : req->path_len),
                 req->url);
        tg_http_respond_error(x, 404, "not_found", msg, NULL);
        return;
    }
    if (!post) {
        tg_http_respond_error(x, 405, "method_not_allowed", "use POST for this endpoint",
                              "Allow: POST\r\n");
        return;
    }
    cJSON *json = tg_json_parse(req->body, req->body_len);
    if (!json) {
        tg_http_respond_error(x, 400, "invalid_request", "the request body is not valid JSON",
                              NULL);
        return;
    }
    const char *problem = tg_client_body_problem((enum tg_api)api, json);
    if (problem) {
        cJSON_Delete(json);
        tg_http_respond_error(x, 400, "invalid_request", problem, NULL);
        return;
    }
    const char *model = tg_json_get_str(json, "model");
    const struct tg_route_cfg *route = tg_config_route(gw->rt->cfg, model, strlen(model));
    if (!route) {
        struct tg_buf msg = TG_BUF_INIT;
        tg_buf_printf(&msg, "the model \"%.200s\" is not served here (see GET /v1/models)", model);
        cJSON_Delete(json);
        tg_http_respond_error(x, 404, "model_not_found", msg.data, NULL);
        tg_buf_free(&msg);
        return;
    }
    tg_req_start(gw, x, (enum tg_api)api, route, json);
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

const struct tg_http_handler tg_client_handler = {on_request, on_abort, on_writable};

/* Upstream requests by provider kind (see provider.h). */
#include "upstream/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mock/engine.h"
#include "upstream/anthropic.h"
#include "util/json.h"

static const char *const api_paths[TG_API__COUNT] = {"/v1/chat/completions", "/v1/completions",
                                                     "/v1/embeddings"};

const char *tg_api_path(enum tg_api api)
{
    return (unsigned)api < TG_API__COUNT ? api_paths[api] : "?";
}

/* The request body with its "model" value replaced, the rest byte for byte. */
static void body_with_model(const char *body, size_t len, const char *model, struct tg_buf *out)
{
    size_t start, end;
    tg_buf_reserve(out, len + strlen(model) + 16);
    if (tg_json_find_member(body, len, "model", &start, &end)) {
        tg_buf_append(out, body, start);
        tg_buf_json_str(out, model, strlen(model));
        tg_buf_append(out, body + end, len - end);
        return;
    }
    tg_buf_append(out, body, len); /* the handler made sure "model" is there */
}

static void add_header(struct tg_upstream_req *r, const char *name, const char *value)
{
    r->headers = tg_xrealloc(r->headers, (r->n_headers + 1) * sizeof(char *));
    struct tg_buf h = TG_BUF_INIT;
    tg_buf_printf(&h, "%s: %s", name, value);
    r->headers[r->n_headers++] = tg_buf_steal(&h, NULL);
}

int tg_provider_build(const struct tg_deployment_cfg *dep, enum tg_api api, const char *body,
                      size_t body_len, const cJSON *json, bool stream,
                      struct tg_upstream_req *out, char *why, size_t why_len)
{
    const struct tg_provider_cfg *p = dep->provider;
    memset(out, 0, sizeof(*out));
    switch (p->kind) {
    case TG_PROVIDER_MOCK:
        out->mock_api = api == TG_API_CHAT          ? TG_MOCK_API_CHAT
                        : api == TG_API_COMPLETIONS ? TG_MOCK_API_COMPLETIONS
                                                    : TG_MOCK_API_EMBEDDINGS;
        body_with_model(body, body_len, dep->model, &out->body);
        return 0;
    case TG_PROVIDER_OPENAI: {
        struct tg_buf url = TG_BUF_INIT;
        tg_buf_printf(&url, "%s%s", p->base_url, api_paths[api] + 3); /* past "/v1" */
        out->url = tg_buf_steal(&url, NULL);
        add_header(out, "Content-Type", "application/json");
        if (stream)
            add_header(out, "Accept", "text/event-stream");
        if (p->api_key) {
            struct tg_buf v = TG_BUF_INIT;
            tg_buf_printf(&v, "Bearer %s", p->api_key);
            add_header(out, "Authorization", v.data);
            tg_buf_free(&v);
        }
        for (size_t i = 0; i < p->n_headers; i++)
            add_header(out, p->headers[i].name, p->headers[i].value);
        body_with_model(body, body_len, dep->model, &out->body);
        return 0;
    }
    case TG_PROVIDER_ANTHROPIC: {
        if (api != TG_API_CHAT) {
            snprintf(why, why_len, "api"); /* the Messages API has no completions/embeddings */
            return -1;
        }
        if (tg_anthropic_request(json, dep->model, p->default_max_tokens, &out->body, why,
                                 why_len) < 0)
            return -1;
        struct tg_buf url = TG_BUF_INIT;
        tg_buf_printf(&url, "%s/messages", p->base_url);
        out->url = tg_buf_steal(&url, NULL);
        add_header(out, "Content-Type", "application/json");
        if (stream)
            add_header(out, "Accept", "text/event-stream");
        if (p->api_key)
            add_header(out, "x-api-key", p->api_key);
        add_header(out, "anthropic-version", p->anthropic_version);
        for (size_t i = 0; i < p->n_headers; i++)
            add_header(out, p->headers[i].name, p->headers[i].value);
        return 0;
    }
    default:
        snprintf(why, why_len, "provider kind %s", tg_provider_kind_name(p->kind));
        return -1;
    }
}

void tg_upstream_req_free(struct tg_upstream_req *r)
{
    free(r->url);
    for (size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    free(r->headers);
    tg_buf_free(&r->body);
    memset(r, 0, sizeof(*r));
}

/* Upstream requests by provider kind (see provider.h). */
#include "upstream/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mock/engine.h"
#include "formats/chat_from_messages.h"
#include "formats/chat_from_responses.h"
#include "formats/messages_from_chat.h"
#include "util/json.h"

/* The request body with its "model" value replaced, the rest byte for byte. */
static void body_with_model(const struct tg_json_doc *request, const char *model,
                            struct tg_buf *out)
{
    const char *body = request->text;
    size_t len = request->len;
    tg_buf_reserve(out, len + strlen(model) + 16);
    struct tg_jv old = tg_jv_get(tg_json_doc_root(request), "model");
    if (old.type != TG_JV_NONE) {
        size_t start = (size_t)(old.p - body), end = start + old.len;
        tg_buf_append(out, body, start);
        tg_buf_json_str(out, model, strlen(model));
        tg_buf_append(out, body + end, len - end);
        return;
    }
    tg_buf_append(out, body, len); /* the handler made sure "model" is there */
}

/* SPEC section 3: usage is counted for every stream. A chat stream that did
 * not ask for it asks upstream: include_usage is set in its stream_options
 * (kept as they are otherwise), or a stream_options member is added. False
 * when the client asked already, or the body cannot be edited safely. */
static bool ask_for_usage(struct tg_buf *body, struct tg_json_doc *request)
{
    const cJSON *so = NULL;
    if (tg_jv_get(tg_json_doc_root(request), "stream_options").type != TG_JV_NONE) {
        so = cJSON_GetObjectItemCaseSensitive(tg_json_doc_tree(request), "stream_options");
        if (!so)
            return false; /* out of memory: asked for nothing */
    }
    if (so && !cJSON_IsObject(so) && !cJSON_IsNull(so))
        return false; /* the provider will say what it thinks of it */
    if (tg_json_get_bool(so, "include_usage", false))
        return false;
    struct tg_buf out = TG_BUF_INIT;
    size_t start, end;
    if (so && tg_json_find_member(body->data, body->len, "stream_options", &start, &end)) {
        cJSON *copy = cJSON_IsObject(so) ? cJSON_Duplicate(so, true) : cJSON_CreateObject();
        if (!copy)
            return false;
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "include_usage");
        cJSON_AddBoolToObject(copy, "include_usage", true);
        tg_buf_append(&out, body->data, start);
        tg_buf_json_item(&out, copy);
        tg_buf_append(&out, body->data + end, body->len - end);
        cJSON_Delete(copy);
    } else {
        const char *open = memchr(body->data, '{', body->len);
        if (!open)
            return false;
        size_t at = (size_t)(open - body->data) + 1;
        size_t next = at + strspn(body->data + at, " \t\r\n");
        bool empty = next < body->len && body->data[next] == '}';
        tg_buf_append(&out, body->data, at);
        tg_buf_puts(&out, empty ? "\"stream_options\":{\"include_usage\":true}"
                                : "\"stream_options\":{\"include_usage\":true},");
        tg_buf_append(&out, body->data + at, body->len - at);
    }
    tg_buf_free(body);
    *body = out;
    return true;
}

/* Azure refuses stream_options (400, "Unrecognized request argument") before
 * api-version 2024-09-01-preview, so older versions are not asked for a
 * stream's usage: the answer would be an error. Versions are dates, which
 * compare as strings; one that is not a date is taken as newer. */
static bool azure_takes_stream_options(const char *version)
{
    bool date = strlen(version) >= 10 && strspn(version, "0123456789-") >= 10;
    return !date || strncmp(version, "2024-09-01", 10) >= 0;
}

/* The body without its stream_options member (our own translation's JSON). */
static void drop_stream_options(struct tg_buf *body)
{
    cJSON *root = cJSON_ParseWithLength(body->data, body->len);
    if (!root || !cJSON_HasObjectItem(root, "stream_options")) {
        cJSON_Delete(root);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(root, "stream_options");
    tg_buf_reset(body);
    tg_buf_json_item(body, root);
    cJSON_Delete(root);
}

/* Appends "Name: value" (line is scratch space, reused across headers). */
static void add_header(struct tg_provider_plan *plan, struct tg_buf *line, const char *name,
                       const char *prefix, const char *value)
{
    tg_buf_reset(line);
    tg_buf_printf(line, "%s: %s%s", name, prefix, value);
    plan->headers = curl_slist_append(plan->headers, line->data);
}

enum tg_api tg_provider_wire(const struct tg_provider_cfg *p, enum tg_api client)
{
    switch (client) {
    case TG_API_COMPLETIONS:
    case TG_API_EMBEDDINGS:
        /* Passed through only: the Messages API has neither. */
        return p->kind == TG_PROVIDER_ANTHROPIC ? TG_API__COUNT : client;
    case TG_API_RESPONSES:
        if (p->kind == TG_PROVIDER_OPENAI && p->responses)
            return TG_API_RESPONSES;
        break;
    case TG_API_CHAT:
    case TG_API_MESSAGES:
    case TG_API__COUNT:
        break;
    }
    return p->kind == TG_PROVIDER_ANTHROPIC ? TG_API_MESSAGES : TG_API_CHAT;
}

/* A Responses request for an anthropic deployment: through the hub, chat. */
static int messages_from_responses(const cJSON *json, const struct tg_deployment_cfg *dep,
                                   struct tg_buf *out, char *why, size_t why_len)
{
    struct tg_buf chat = TG_BUF_INIT;
    int rc = tg_fmt_chat_from_responses_request(json, NULL, &chat, why, why_len);
    cJSON *hub = rc == 0 ? cJSON_ParseWithLength(chat.data, chat.len) : NULL;
    if (rc == 0 && !hub) {
        snprintf(why, why_len, "translation");
        rc = -1;
    }
    if (rc == 0)
        rc = tg_fmt_messages_from_chat_request(hub, dep->model, dep->provider->default_max_tokens,
                                               out, why, why_len);
    cJSON_Delete(hub);
    tg_buf_free(&chat);
    return rc;
}

/* The body in the wire's format: the client's bytes with "model" replaced
 * when the provider speaks the client's format, else translated. */
static int build_body(const struct tg_deployment_cfg *dep, enum tg_api client, enum tg_api wire,
                      struct tg_json_doc *request, struct tg_upstream_req *out, char *why,
                      size_t why_len)
{
    if (client == wire) {
        body_with_model(request, dep->model, &out->body);
        return 0;
    }
    const cJSON *json = tg_json_doc_tree(request);
    if (!json) {
        snprintf(why, why_len, "translation"); /* out of memory */
        return -1;
    }
    switch (wire) {
    case TG_API_MESSAGES:
        if (client == TG_API_RESPONSES)
            return messages_from_responses(json, dep, &out->body, why, why_len);
        return tg_fmt_messages_from_chat_request(json, dep->model,
                                                 dep->provider->default_max_tokens, &out->body,
                                                 why, why_len);
    case TG_API_CHAT:
        if (client == TG_API_MESSAGES)
            return tg_fmt_chat_from_messages_request(json, dep->model, &out->body, why, why_len);
        return tg_fmt_chat_from_responses_request(json, dep->model, &out->body, why, why_len);
    default:
        snprintf(why, why_len, "api");
        return -1;
    }
}

static const int mock_apis[TG_API__COUNT] = {
    [TG_API_CHAT] = TG_MOCK_API_CHAT,
    [TG_API_COMPLETIONS] = TG_MOCK_API_COMPLETIONS,
    [TG_API_EMBEDDINGS] = TG_MOCK_API_EMBEDDINGS,
    [TG_API_MESSAGES] = TG_MOCK_API_MESSAGES,
    [TG_API_RESPONSES] = TG_MOCK_API_RESPONSES,
};

int tg_provider_build(const struct tg_deployment_cfg *dep, enum tg_api api,
                      struct tg_json_doc *request, bool stream, struct tg_upstream_req *out,
                      char *why, size_t why_len)
{
    const struct tg_provider_cfg *p = dep->provider;
    memset(out, 0, sizeof(*out));
    enum tg_api wire = tg_provider_wire(p, api);
    if (wire == TG_API__COUNT) {
        snprintf(why, why_len, "api"); /* the Messages API has no completions/embeddings */
        return -1;
    }
    out->wire = wire;
    if (build_body(dep, api, wire, request, out, why, why_len) < 0)
        return -1;
    /* A chat client's chat stream is asked for its usage here; translated
     * requests ask for it themselves. */
    bool usage = api == TG_API_CHAT && stream;
    if (p->kind == TG_PROVIDER_MOCK)
        out->mock_api = mock_apis[wire];
    if (p->kind == TG_PROVIDER_AZURE && !azure_takes_stream_options(p->api_version)) {
        usage = false;
        if (api != TG_API_CHAT && stream)
            drop_stream_options(&out->body); /* a translator asked for usage */
    }
    if (usage)
        out->usage_added = ask_for_usage(&out->body, request);
    return 0;
}

void tg_provider_plan_build(const struct tg_provider_cfg *p, enum tg_api wire, bool stream,
                            struct tg_provider_plan *out)
{
    struct tg_buf url = TG_BUF_INIT, line = TG_BUF_INIT;
    memset(out, 0, sizeof(*out));
    tg_buf_printf(&url, "%s%s", p->base_url, tg_api_path(wire) + 3); /* past "/v1" */
    out->headers = curl_slist_append(out->headers, "Content-Type: application/json");
    if (stream)
        out->headers = curl_slist_append(out->headers, "Accept: text/event-stream");
    switch (p->kind) {
    case TG_PROVIDER_AZURE:
        /* Azure speaks OpenAI's bodies at the deployment's URL; the version
         * is a query parameter and the key goes in its own header. */
        tg_buf_printf(&url, "?api-version=%s", p->api_version);
        if (p->api_key)
            add_header(out, &line, "api-key", "", p->api_key);
        break;
    case TG_PROVIDER_ANTHROPIC:
        if (p->api_key)
            add_header(out, &line, "x-api-key", "", p->api_key);
        add_header(out, &line, "anthropic-version", "", p->anthropic_version);
        break;
    default:
        if (p->api_key)
            add_header(out, &line, "Authorization", "Bearer ", p->api_key);
        break;
    }
    for (size_t i = 0; i < p->n_headers; i++)
        add_header(out, &line, p->headers[i].name, "", p->headers[i].value);
    /* No 100-continue round trip. */
    out->headers = curl_slist_append(out->headers, "Expect:");
    tg_buf_free(&line);
    out->url = tg_buf_steal(&url, NULL);
    out->parsed_url = curl_url();
    if (out->parsed_url && curl_url_set(out->parsed_url, CURLUPART_URL, out->url, 0) != CURLUE_OK) {
        curl_url_cleanup(out->parsed_url);
        out->parsed_url = NULL;
    }
}

void tg_provider_plan_free(struct tg_provider_plan *plan)
{
    free(plan->url);
    curl_url_cleanup(plan->parsed_url);
    curl_slist_free_all(plan->headers);
    memset(plan, 0, sizeof(*plan));
}

static void own_line(struct tg_buf *text, size_t *starts, size_t *n, const char *name,
                     const char *value)
{
    if (!value)
        return;
    if (*n > 0)
        tg_buf_putc(text, '\0');
    starts[(*n)++] = text->len;
    tg_buf_puts(text, name);
    tg_buf_puts(text, ": ");
    tg_buf_puts(text, value);
}

const struct curl_slist *tg_upstream_req_headers(struct tg_upstream_req *r,
                                                 const struct tg_provider_plan *plan,
                                                 const struct tg_upstream_own_headers *own)
{
    /* Every line in one buffer, linked once it stops growing. */
    size_t starts[4], n = 0;
    tg_buf_reset(&r->own_text);
    own_line(&r->own_text, starts, &n, "x-request-id", own->request_id);
    if (own->passed_name)
        own_line(&r->own_text, starts, &n, own->passed_name, own->passed_value);
    own_line(&r->own_text, starts, &n, "traceparent", own->traceparent);
    own_line(&r->own_text, starts, &n, "tracestate", own->tracestate);
    if (n == 0)
        return plan->headers;
    for (size_t i = 0; i < n; i++)
        r->own[i] = (struct curl_slist){r->own_text.data + starts[i],
                                        i + 1 < n ? &r->own[i + 1] : plan->headers};
    return &r->own[0];
}

void tg_upstream_req_free(struct tg_upstream_req *r)
{
    tg_buf_free(&r->body);
    tg_buf_free(&r->own_text);
    memset(r, 0, sizeof(*r));
}

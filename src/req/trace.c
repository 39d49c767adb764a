/* What a request's spans say (SPEC section 9): a server span per request and
 * a client span per upstream attempt, in OpenTelemetry's HTTP and GenAI
 * conventions plus tailgate's own (tailgate.*): the deployment, outcome,
 * retry number, hedge, tokens and cost of each attempt. The tracer
 * (telemetry/tracer.h) queues and exports them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "gateway/handler.h"
#include "req/internal.h"
#include "telemetry/tracer.h"

/* The client's context (W3C Trace Context): one valid traceparent (two are
 * none: a new trace), and beside it the tracestate of every tracestate
 * line, combined as HTTP combines a list. */
static bool client_context(const struct tg_http_request *hr, struct tg_trace_ctx *ctx,
                           char **tracestate)
{
    const struct tg_http_header *parent = NULL;
    struct tg_buf state = TG_BUF_INIT;
    size_t n_parents = 0;
    for (size_t i = 0; hr->headers && i < hr->n_headers; i++) {
        const struct tg_http_header *h = &hr->headers[i];
        if (h->name_len == 11 && strncasecmp(h->name, "traceparent", 11) == 0) {
            parent = h;
            n_parents++;
        } else if (h->name_len == 10 && strncasecmp(h->name, "tracestate", 10) == 0) {
            if (state.len)
                tg_buf_putc(&state, ',');
            tg_buf_append(&state, h->value, h->value_len);
        }
    }
    bool ok = n_parents == 1 && tg_traceparent_parse(parent->value, parent->value_len, ctx);
    char clean[TG_TRACESTATE_MAX + 1];
    size_t n = ok && state.len ? tg_tracestate_clean(state.data, state.len, clean) : 0;
    if (n)
        *tracestate = tg_xmemdup0(clean, n);
    tg_buf_free(&state);
    return ok;
}

void tg_trace_request_begin(struct tg_req *r, const struct tg_http_request *hr)
{
    struct tg_req_trace *t = &r->trace;
    struct tg_trace_ctx client;
    bool continued = client_context(hr, &client, &t->tracestate);
    if (r->gw->tracer) {
        t->mode = TG_TRACE_OWN;
        t->has_parent = continued;
        if (continued)
            memcpy(t->parent_id, client.span_id, 8);
        tg_tracer_begin(r->gw->tracer, continued ? &client : NULL, &t->ctx);
    } else if (continued) {
        t->mode = TG_TRACE_PASS;
        t->ctx = client;
    }
}

void tg_trace_attempt_begin(struct tg_attempt *a, char traceparent[TG_TRACEPARENT_LEN + 1],
                            const char **traceparent_out, const char **tracestate_out)
{
    const struct tg_req_trace *t = &a->req->trace;
    *traceparent_out = *tracestate_out = NULL;
    struct tg_trace_ctx up;
    switch (t->mode) {
    case TG_TRACE_NONE:
        return;
    case TG_TRACE_PASS:
        up = t->ctx;
        break;
    case TG_TRACE_OWN:
        tg_tracer_span_id(a->req->gw->tracer, a->span_id);
        up = t->ctx;
        memcpy(up.span_id, a->span_id, 8);
        break;
    }
    tg_traceparent_format(&up, traceparent);
    *traceparent_out = traceparent;
    *tracestate_out = t->tracestate;
}

static bool recorded(const struct tg_req *r)
{
    return r->trace.mode == TG_TRACE_OWN && (r->trace.ctx.flags & TG_TRACE_SAMPLED);
}

/* GenAI's operation names for the API a provider is called in. */
static const char *operation(enum tg_api wire)
{
    switch (wire) {
    case TG_API_COMPLETIONS: return "text_completion";
    case TG_API_EMBEDDINGS: return "embeddings";
    default: return "chat";
    }
}

static const char *provider_name(enum tg_provider_kind kind)
{
    return kind == TG_PROVIDER_AZURE ? "azure.ai.openai" : tg_provider_kind_name(kind);
}

static void usage_attrs(struct tg_span_writer *w, int64_t input, int64_t output)
{
    if (input > 0)
        tg_otlp_attr_int(w, "gen_ai.usage.input_tokens", input);
    if (output > 0)
        tg_otlp_attr_int(w, "gen_ai.usage.output_tokens", output);
}

/* "A B" into out (a span's name), cut to fit. */
static size_t join_name(char *out, size_t cap, const char *a, const char *b)
{
    size_t a_len = strlen(a), b_len = strlen(b);
    if (a_len > cap - 1)
        a_len = cap - 1;
    memcpy(out, a, a_len);
    if (!b[0] || a_len + 1 >= cap)
        return a_len;
    out[a_len] = ' ';
    if (b_len > cap - a_len - 1)
        b_len = cap - a_len - 1;
    memcpy(out + a_len + 1, b, b_len);
    return a_len + 1 + b_len;
}

/* A span of a trace, with the client's tracestate when it sent one. */
static struct tg_span_head span_head(struct tg_tracer *tracer, const uint8_t *trace_id,
                                     const uint8_t *span_id, const uint8_t *parent_id,
                                     const char *tracestate, enum tg_span_kind kind,
                                     const char *name, size_t name_len, uint64_t start_ns,
                                     uint64_t end_ns)
{
    return (struct tg_span_head){
        .trace_id = trace_id,
        .span_id = span_id,
        .parent_id = parent_id,
        .trace_state = tracestate,
        .trace_state_len = tracestate ? strlen(tracestate) : 0,
        .name = name,
        .name_len = name_len,
        .kind = kind,
        .start_unix_ns = tg_tracer_unix_ns(tracer, start_ns),
        .end_unix_ns = tg_tracer_unix_ns(tracer, end_ns),
    };
}

#define DEPLOYMENT_ATTRS 5

/* What every attempt span of a deployment in a wire API says first,
 * written once per runtime. */
static const struct tg_buf *deployment_attrs(const struct tg_attempt *a, const char *op)
{
    const struct tg_deployment_cfg *d = a->dcfg;
    struct tg_buf *b = &a->req->rt->span_attrs[d->index * TG_API__COUNT + a->up.wire];
    if (b->len)
        return b;
    struct tg_span_writer w = {b, 0};
    tg_otlp_attr_cstr(&w, "gen_ai.operation.name", op);
    tg_otlp_attr_cstr(&w, "gen_ai.provider.name", provider_name(d->provider->kind));
    tg_otlp_attr_cstr(&w, "gen_ai.request.model", d->model);
    tg_otlp_attr_cstr(&w, "tailgate.deployment", d->name);
    tg_otlp_attr_cstr(&w, "tailgate.provider", d->provider->name);
    return b;
}

void tg_trace_attempt_end(const struct tg_attempt *a, const char *why)
{
    const struct tg_req *r = a->req;
    if (!recorded(r))
        return;
    struct tg_tracer *tracer = r->gw->tracer;
    const char *op = operation(a->up.wire);
    char name[160];
    size_t name_len = join_name(name, sizeof(name), op, a->dcfg->model);
    struct tg_span_head h =
        span_head(tracer, r->trace.ctx.trace_id, a->span_id, r->trace.ctx.span_id,
                  r->trace.tracestate, TG_SPAN_CLIENT, name, name_len, a->start_ns, a->end_ns);
    struct tg_span_writer w;
    if (!tg_tracer_span_begin(tracer, &w, &h))
        return;
    bool failed = a->cls != TG_CLASS_OK && a->cls != TG_CLASS_CANCELLED;
    tg_otlp_attrs_raw(&w, deployment_attrs(a, op), DEPLOYMENT_ATTRS);
    tg_otlp_attr_cstr(&w, "tailgate.outcome", tg_class_name(a->cls));
    if (a->xfer.status > 0)
        tg_otlp_attr_int(&w, "http.response.status_code", a->xfer.status);
    tg_otlp_attr_int(&w, "tailgate.retry", a->try_no - 1);
    tg_otlp_attr_bool(&w, "tailgate.hedge", a->hedge);
    usage_attrs(&w, a->usage.input_tokens, a->usage.output_tokens);
    if (a->cost_usd > 0)
        tg_otlp_attr_decimal(&w, "tailgate.cost_usd", a->cost_usd);
    if (a->first_content_ns)
        tg_otlp_attr_decimal(&w, "tailgate.time_to_first_token_ms",
                            (double)(a->first_content_ns - a->start_ns) / 1e6);
    if (failed)
        tg_otlp_attr_cstr(&w, "error.type", tg_class_name(a->cls));
    tg_tracer_span_end(tracer, &w, failed ? TG_SPAN_ERROR : TG_SPAN_UNSET, why);
}

#define ENDPOINT_ATTRS 3

/* What every request span of an endpoint says first (its method is POST:
 * the door answers the others), written once per runtime. */
static const struct tg_buf *endpoint_attrs(const struct tg_req *r)
{
    struct tg_buf *b = &r->rt->span_attrs[r->rt->cfg->n_deployments * TG_API__COUNT + r->api];
    if (b->len)
        return b;
    struct tg_span_writer w = {b, 0};
    tg_otlp_attr_cstr(&w, "http.request.method", "POST");
    tg_otlp_attr_cstr(&w, "http.route", tg_api_path(r->api));
    tg_otlp_attr_cstr(&w, "url.path", tg_api_path(r->api));
    return b;
}

void tg_trace_request_end(const struct tg_req *r)
{
    if (!recorded(r))
        return;
    struct tg_tracer *tracer = r->gw->tracer;
    char name[64];
    size_t name_len = join_name(name, sizeof(name), r->method, tg_api_path(r->api));
    struct tg_span_head h = span_head(tracer, r->trace.ctx.trace_id, r->trace.ctx.span_id,
                                      r->trace.has_parent ? r->trace.parent_id : NULL,
                                      r->trace.tracestate, TG_SPAN_SERVER, name, name_len,
                                      r->start_ns, uv_hrtime());
    struct tg_span_writer w;
    if (!tg_tracer_span_begin(tracer, &w, &h))
        return;
    if (strcmp(r->path, tg_api_path(r->api)) == 0) {
        tg_otlp_attrs_raw(&w, endpoint_attrs(r), ENDPOINT_ATTRS);
    } else {
        tg_otlp_attr_cstr(&w, "http.request.method", r->method);
        tg_otlp_attr_cstr(&w, "http.route", tg_api_path(r->api));
        tg_otlp_attr_cstr(&w, "url.path", r->path);
    }
    tg_otlp_attr_int(&w, "http.response.status_code", r->status);
    if (r->client[0])
        tg_otlp_attr_cstr(&w, "client.address", r->client);
    tg_otlp_attr_cstr(&w, "tailgate.request_id", r->id);
    tg_otlp_attr_cstr(&w, "gen_ai.request.model", r->first_route->model);
    tg_otlp_attr_cstr(&w, "tailgate.route",
                      r->served_route ? r->served_route : r->first_route->model);
    if (r->served_by)
        tg_otlp_attr_cstr(&w, "tailgate.deployment", r->served_by);
    if (r->key)
        tg_otlp_attr_cstr(&w, "tailgate.key", r->key->name);
    tg_otlp_attr_cstr(&w, "tailgate.outcome", tg_req_term_name(r->term));
    tg_otlp_attr_int(&w, "tailgate.attempts", r->n_started);
    tg_otlp_attr_bool(&w, "tailgate.stream", r->stream);
    if (r->cache_result)
        tg_otlp_attr_cstr(&w, "tailgate.cache", r->cache_result);
    if (r->degraded)
        tg_otlp_attr_bool(&w, "tailgate.degraded", true);
    if (r->background)
        tg_otlp_attr_bool(&w, "tailgate.background", true);
    usage_attrs(&w, r->input_tokens, r->output_tokens);
    if (r->cost_known)
        tg_otlp_attr_decimal(&w, "tailgate.cost_usd", r->cost_usd);
    bool failed = r->status >= 500 || r->term == TG_TERM_STREAM_BROKE;
    if (failed)
        tg_otlp_attr_cstr(&w, "error.type", r->status >= 500 ? tg_req_term_name(r->term)
                                                             : "stream_broken");
    tg_tracer_span_end(tracer, &w, failed ? TG_SPAN_ERROR : TG_SPAN_UNSET, NULL);
}

/* An answer made at the door, before a request exists (gateway/handler.c). */
void tg_trace_door(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                   const struct tg_key_cfg *key, int status)
{
    if (!gw->tracer)
        return;
    const struct tg_http_request *hr = tg_http_request(x);
    struct tg_trace_ctx client, ctx;
    char *tracestate = NULL;
    bool continued = client_context(hr, &client, &tracestate);
    tg_tracer_begin(gw->tracer, continued ? &client : NULL, &ctx);
    if (!(ctx.flags & TG_TRACE_SAMPLED)) {
        free(tracestate);
        return;
    }
    /* Named by the endpoint when it is one, else by the method alone
     * (OpenTelemetry's HTTP convention: no unbounded span names); a request
     * refused before its method was read is "HTTP", its method "_OTHER". */
    const char *method = hr->method_name ? hr->method_name : "HTTP";
    int api = hr->url ? tg_client_api(hr) : -1;
    const char *route = api >= 0 ? tg_api_path((enum tg_api)api) : NULL;
    if (!route && hr->url && hr->path_len >= 10 && memcmp(hr->url, "/v1/models", 10) == 0)
        route = hr->path_len == 10 ? "/v1/models" : "/v1/models/{model}";
    char name[64];
    size_t name_len = join_name(name, sizeof(name), method, route ? route : "");
    uint64_t now = uv_hrtime();
    struct tg_span_head h =
        span_head(gw->tracer, ctx.trace_id, ctx.span_id, continued ? client.span_id : NULL,
                  tracestate, TG_SPAN_SERVER, name, name_len,
                  hr->received_ns ? hr->received_ns : now, now);
    struct tg_span_writer w;
    if (tg_tracer_span_begin(gw->tracer, &w, &h)) {
        tg_otlp_attr_cstr(&w, "http.request.method", hr->method_name ? method : "_OTHER");
        if (route)
            tg_otlp_attr_cstr(&w, "http.route", route);
        if (hr->url)
            tg_otlp_attr_str(&w, "url.path", hr->url, hr->path_len);
        tg_otlp_attr_int(&w, "http.response.status_code", status);
        tg_otlp_attr_cstr(&w, "tailgate.request_id", id);
        if (key)
            tg_otlp_attr_cstr(&w, "tailgate.key", key->name);
        tg_otlp_attr_cstr(&w, "tailgate.outcome", status < 400 ? "answered" : "refused");
        if (status >= 500) {
            char code[12];
            snprintf(code, sizeof(code), "%d", status);
            tg_otlp_attr_cstr(&w, "error.type", code);
        }
        tg_tracer_span_end(gw->tracer, &w, status >= 500 ? TG_SPAN_ERROR : TG_SPAN_UNSET, NULL);
    }
    free(tracestate);
}

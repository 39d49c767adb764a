/* What a request sends back that tailgate writes itself: the response
 * headers of SPEC section 3, errors with their attempts list, the degraded
 * answer, the error event that ends a broken stream, and the access log line
 * of SPEC section 6. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "req/internal.h"
#include "util/json.h"

void tg_answer_attempts_json(const struct tg_req *r, struct tg_buf *b)
{
    tg_buf_putc(b, '[');
    bool first = true;
    for (size_t i = 0; i < r->n_log; i++) {
        const struct tg_attempt_log *l = &r->log[i];
        if (l->skipped)
            continue;
        tg_buf_printf(b, "%s{\"deployment\":", first ? "" : ",");
        first = false;
        tg_buf_json_str(b, l->deployment, strlen(l->deployment));
        tg_buf_printf(b, ",\"outcome\":\"%s\",\"status\":%d,\"ms\":%llu,\"hedge\":%s}",
                      l->done ? tg_class_name(l->cls) : "pending", l->status,
                      (unsigned long long)l->ms, l->hedge ? "true" : "false");
    }
    tg_buf_putc(b, ']');
}

static void header(struct tg_buf *h, const char *name, const char *value)
{
    tg_buf_puts(h, name);
    tg_buf_puts(h, value);
    tg_buf_puts(h, "\r\n");
}

static void header_int(struct tg_buf *h, const char *name, long long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", v);
    header(h, name, num);
}

/* OpenAI's reset durations: "250ms", "12s", "1m0s". */
static void header_duration(struct tg_buf *h, const char *name, uint64_t ms)
{
    char v[32];
    uint64_t s = (ms + 999) / 1000;
    if (ms < 1000)
        snprintf(v, sizeof(v), "%llums", (unsigned long long)ms);
    else if (s < 60)
        snprintf(v, sizeof(v), "%llus", (unsigned long long)s);
    else
        snprintf(v, sizeof(v), "%llum%llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    header(h, name, v);
}

static void limit_headers(struct tg_buf *h, const struct tg_limit_state *st, const char *what)
{
    char name[48];
    snprintf(name, sizeof(name), "x-ratelimit-limit-%s: ", what);
    header_int(h, name, (long long)st->limit);
    snprintf(name, sizeof(name), "x-ratelimit-remaining-%s: ", what);
    header_int(h, name, (long long)st->remaining);
    snprintf(name, sizeof(name), "x-ratelimit-reset-%s: ", what);
    header_duration(h, name, st->reset_ms);
}

void tg_answer_limit_headers(const struct tg_req *r, struct tg_buf *h)
{
    const struct tg_req_admission *ad = &r->adm;
    if (!ad->done)
        return;
    if (ad->rpm >= 0)
        limit_headers(h, &ad->result.state[ad->rpm], "requests");
    if (ad->tpm >= 0)
        limit_headers(h, &ad->result.state[ad->tpm], "tokens");
}

void tg_answer_own_headers(const struct tg_req *r, struct tg_buf *h)
{
    header(h, "x-request-id: ", r->id);
    const char *also = tg_api_id_header(r->api);
    if (also)
        tg_buf_printf(h, "%s: %s\r\n", also, r->id);
    tg_answer_limit_headers(r, h);
    if (r->joined == TG_JOINED_IDEMPOTENT)
        tg_buf_puts(h, "x-tailgate-idempotent-replay: 1\r\n");
    else if (r->joined == TG_JOINED_COALESCED)
        tg_buf_puts(h, "x-tailgate-cache: coalesced\r\n");
}

/* On every answer: plain appends, not printf (this runs once per request). */
void tg_answer_headers(struct tg_req *r, struct tg_buf *h, const char *content_type)
{
    const char *route = r->served_route ? r->served_route : r->route->model;
    tg_buf_reserve(h, 256);
    if (!r->tape) /* straight to its client: its own lines go here too (out.c) */
        tg_answer_own_headers(r, h);
    header(h, "Content-Type: ", content_type);
    header(h, "x-tailgate-route: ", route);
    if (r->served_by)
        header(h, "x-tailgate-deployment: ", r->served_by);
    header_int(h, "x-tailgate-attempts: ", r->n_started);
    header_int(h, "x-tailgate-fallback: ", r->route_no);
    if (r->hedge_won)
        tg_buf_puts(h, "x-tailgate-hedge: won\r\n");
    if (r->cache_result)
        header(h, "x-tailgate-cache: ", r->cache_result);
    if (r->degraded)
        tg_buf_puts(h, "x-tailgate-degraded: 1\r\n");
    if (r->dlq.saved)
        tg_buf_puts(h, "x-tailgate-dlq: 1\r\n");
    if (r->truncated)
        tg_buf_puts(h, "x-tailgate-truncated: 1\r\n");
    if (r->sent_invalid)
        header(h, "x-tailgate-validation: ", tg_invalid_name(r->sent_invalid));
    if (r->cost_known && !r->stream) {
        /* A stream's headers leave before its usage: its cost is in the
         * access log and the spend metric only. */
        char num[32];
        snprintf(num, sizeof(num), "%.9f", r->cost_usd);
        header(h, "x-tailgate-cost-usd: ", num);
    }
    if (r->debug) {
        /* A stream's headers go at its commit point: its winner is still going. */
        tg_buf_puts(h, "x-tailgate-trace: ");
        for (size_t i = 0; i < r->n_log; i++) {
            const struct tg_attempt_log *l = &r->log[i];
            if (l->skipped)
                tg_buf_printf(h, "%s%s:ineligible(%s):0", i ? "," : "", l->deployment, l->note);
            else
                tg_buf_printf(h, "%s%s:%s:%llu", i ? "," : "", l->deployment,
                              l->done ? tg_class_name(l->cls) : "streaming",
                              (unsigned long long)l->ms);
        }
        tg_buf_puts(h, "\r\n");
    }
}

void tg_answer_whole(struct tg_req *r, int status, bool stream, const char *body, size_t len)
{
    if (!tg_out_pending(r))
        return;
    struct tg_buf h = TG_BUF_INIT;
    tg_answer_headers(r, &h, stream ? "text/event-stream" : "application/json");
    if (stream) {
        tg_out_stream_begin(r, status, &h);
        tg_out_stream_write(r, body, len);
        tg_out_stream_end(r);
    } else {
        tg_out_respond(r, status, &h, body, len);
    }
    tg_buf_free(&h);
}

/* The SPEC's error shape in the client's format, with the attempts made. */
static void error_answer(struct tg_req *r, int status, const char *code, const char *message)
{
    struct tg_buf body = TG_BUF_INIT, attempts = TG_BUF_INIT;
    tg_answer_attempts_json(r, &attempts);
    tg_convert_gateway_error(r->api, status, code, message, attempts.data, &body);
    if (tg_out_pending(r)) {
        struct tg_buf h = TG_BUF_INIT;
        tg_answer_headers(r, &h, "application/json");
        if (r->retry_never)
            tg_buf_puts(&h, "x-should-retry: false\r\n");
        if (r->retry_after_s > 0)
            header_int(&h, "Retry-After: ", (long long)r->retry_after_s);
        tg_out_respond(r, status, &h, body.data, body.len);
        tg_buf_free(&h);
    }
    tg_buf_free(&attempts);
    tg_buf_free(&body);
}

void tg_answer_error(struct tg_req *r, int status, const char *code, const char *message)
{
    r->status = status;
    if (tg_out_pending(r))
        error_answer(r, status, code, message);
}

void tg_answer_degraded(struct tg_req *r)
{
    const struct tg_degraded_cfg *d = &r->rt->cfg->degraded;
    r->degraded = true;
    r->status = (int)d->status;
    tg_metric_add(r->gw->fam.degraded, NULL, 1);
    if (!tg_out_pending(r))
        return;
    if (d->status != 200) {
        error_answer(r, (int)d->status, "degraded", d->message);
        return;
    }
    /* 200: an assistant message, made as chat and put in the client's format. */
    const char *model = r->route->model;
    long long created = (long long)time(NULL);
    struct tg_buf chat = TG_BUF_INIT, body = TG_BUF_INIT;
    struct tg_convert conv;
    tg_convert_init(&conv, r->api, TG_API_CHAT, &r->doc, false, created);
    if (r->stream) {
        /* The events one by one, as a provider would send them. */
        for (int i = 0; i < 3; i++) {
            tg_buf_reset(&chat);
            tg_buf_puts(&chat, "data: ");
            if (i < 2) {
                tg_buf_printf(&chat, "{\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                                     "\"created\":%lld,\"model\":",
                              r->id, created);
                tg_buf_json_str(&chat, model, strlen(model));
            }
            if (i == 0) {
                tg_buf_puts(&chat, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                                   "\"assistant\",\"content\":");
                tg_buf_json_str(&chat, d->message, strlen(d->message));
                tg_buf_puts(&chat, "},\"finish_reason\":null}]}");
            } else if (i == 1) {
                tg_buf_puts(&chat, ",\"choices\":[{\"index\":0,\"delta\":{},"
                                   "\"finish_reason\":\"stop\"}]}");
            } else {
                tg_buf_puts(&chat, "[DONE]");
            }
            size_t data_len = chat.len - 6; /* after "data: " */
            tg_buf_puts(&chat, "\n\n");
            tg_convert_event(&conv, "", chat.data + 6, data_len, chat.data, chat.len, false,
                             &body);
        }
    } else {
        tg_buf_printf(&chat, "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,"
                             "\"model\":",
                      r->id, created);
        tg_buf_json_str(&chat, model, strlen(model));
        tg_buf_puts(&chat, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                           "\"content\":");
        tg_buf_json_str(&chat, d->message, strlen(d->message));
        tg_buf_puts(&chat, "},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":0,"
                           "\"completion_tokens\":0,\"total_tokens\":0}}");
        tg_convert_answer(&conv, chat.data, chat.len, &body);
    }
    tg_convert_free(&conv);
    tg_answer_whole(r, 200, r->stream, body.data, body.len);
    tg_buf_free(&chat);
    tg_buf_free(&body);
}

void tg_answer_stream_error(struct tg_req *r, const char *error_json)
{
    if (!tg_out_pending(r))
        return;
    struct tg_buf b = TG_BUF_INIT;
    tg_convert_fail(&r->winner->conv, error_json, &b);
    tg_out_stream_write(r, b.data, b.len);
    tg_out_stream_end(r);
    tg_buf_free(&b);
    tg_log_warn("stream_broken", "request_id=%s deployment=%s", r->id,
                r->served_by ? r->served_by : "-");
}

const char *tg_req_term_name(enum tg_req_term t)
{
    static const char *const names[] = {"none",   "answered",    "passed_through",
                                        "degraded", "failed",    "deadline",
                                        "client_gone", "stream_broken", "rate_limited",
                                        "budget_exceeded"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

void tg_answer_access_log(struct tg_req *r)
{
    if (!r->gw->alog)
        return;
    struct tg_buf attempts = TG_BUF_INIT;
    tg_answer_attempts_json(r, &attempts);
    struct tg_access_entry e = {
        .request_id = r->id,
        .method = r->method,
        .path = r->path,
        .path_len = strlen(r->path),
        .client = r->client,
        .key = r->key ? r->key->name : NULL,
        .route = r->served_route ? r->served_route : r->first_route->model,
        .status = r->status,
        .ms = (double)(uv_hrtime() - r->start_ns) / 1e6,
        .deployment = r->served_by,
        .attempts_json = attempts.data,
        .cache = r->cache_result,
        .degraded = r->degraded,
        .input_tokens = (long long)r->input_tokens,
        .output_tokens = (long long)r->output_tokens,
        .cost_known = r->cost_known,
        .cost_usd = r->cost_usd,
        .stream = r->stream,
        .fallback = r->route_no,
        .term = tg_req_term_name(r->term),
        .truncated = r->truncated,
        .validation = r->sent_invalid ? tg_invalid_name(r->sent_invalid) : NULL,
    };
    tg_access_log_entry(r->gw->alog, &e);
    tg_buf_free(&attempts);
}

/* One upstream attempt of a request: builds what to send for its deployment,
 * drives the transfer, reads the answer (a whole body, or a stream parsed
 * event by event up to and past its commit point), classifies the outcome
 * and books it (metrics, breaker, latency histogram, budget). The request
 * machine (req.c) decides what comes next.
 *
 * Callbacks from the transfer can run inside curl callbacks, where no
 * transfer may be added or removed: on_data therefore only parses, relays
 * and records; everything that starts or ends attempts happens in on_done,
 * timers, or req_step, which run outside them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "req/internal.h"
#include "route/context.h"
#include "util/headers.h"
#include "util/json.h"

#define MAX_EVENT_BYTES (1024 * 1024)
#define SLOW_FLOOR_US 100000.0 /* no answer under 100 ms is a "slow success" */
/* A stream kept for the cache: chat answers are far smaller, and a stream's
 * memory must stay bounded whatever the upstream sends. */
#define MAX_TRANSCRIPT_BYTES (256 * 1024)
#define OUT_FLUSH_BYTES (16 * 1024) /* relayed bytes held for one loop pass at most */
#define OUT_KEEP_BYTES 4096         /* a stream keeps a relay buffer this big between reads */

static const struct tg_transfer_events transfer_events;

static struct tg_attempt *of_transfer(struct tg_transfer *t)
{
    return tg_container_of(t, struct tg_attempt, xfer);
}

static int64_t unix_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- reading an answer ---- */

static void on_head(struct tg_transfer *t)
{
    struct tg_attempt *a = of_transfer(t);
    if (a->req->stream && t->status == 200) {
        a->sse = true;
        tg_sse_init(&a->parser, MAX_EVENT_BYTES);
        return;
    }
    /* A whole body of announced length lands in one allocation, not a
     * series of reallocs (the announcement is trusted only up to the cap). */
    size_t len;
    const char *cl = tg_transfer_header(t, "content-length", &len);
    size_t want = 0;
    for (size_t i = 0; cl && i < len && cl[i] >= '0' && cl[i] <= '9' && want <= t->max_bytes; i++)
        want = want * 10 + (size_t)(cl[i] - '0');
    if (want > 0)
        tg_buf_reserve(&a->body, want < t->max_bytes ? want : t->max_bytes);
}

static void set_finish(struct tg_attempt *a, const char *finish)
{
    if (finish[0])
        snprintf(a->finish_reason, sizeof(a->finish_reason), "%s", finish);
}

void tg_attempt_send_out(struct tg_attempt *a)
{
    tg_defer_cancel(&a->out_flush);
    if (a->out.len == 0)
        return;
    tg_out_stream_write(a->req, a->out.data, a->out.len);
    if (a->out.cap > OUT_KEEP_BYTES)
        tg_buf_free(&a->out); /* a long read: do not keep its size per stream */
    else
        tg_buf_reset(&a->out);
}

static void on_out_flush(struct tg_deferred *d)
{
    tg_attempt_send_out(tg_container_of(d, struct tg_attempt, out_flush));
}

/* Queues committed bytes for the client and sends them on the next loop pass:
 * libcurl hands over a chunked answer one HTTP chunk per callback, so the
 * twenty events of one socket read would otherwise cost twenty writes. Past
 * OUT_FLUSH_BYTES they go at once, so the connection's write queue (which
 * backpressure watches) sees them before curl reads more. */
static void relay(struct tg_attempt *a, const char *p, size_t n)
{
    struct tg_req *r = a->req;
    if (tg_out_pending(r) && n > 0) {
        tg_buf_append(&a->out, p, n);
        if (a->out.len >= OUT_FLUSH_BYTES)
            tg_attempt_send_out(a);
        else
            tg_defer(&r->gw->loop, &a->out_flush);
    }
    if (a->keep_transcript) {
        if (a->transcript.len + n > MAX_TRANSCRIPT_BYTES) {
            a->keep_transcript = false; /* too big to keep: just not cached */
            tg_buf_free(&a->transcript);
        } else {
            tg_buf_append(&a->transcript, p, n);
        }
    }
}

/* Before the commit point, the first content may still turn out to be a
 * refusal: hold it while it could (it is a prefix of a phrase). Returns
 * 1 commit, 0 hold, -1 refusal. */
static int judge_opening(struct tg_attempt *a, const struct tg_event_facts *f)
{
    const struct tg_validate_cfg *vc = &a->req->policy->validate;
    if (!a->req->validate || !vc->refusal)
        return 1;
    if (f->refusal)
        return -1; /* the provider's own refusal */
    if (!tg_jv_is(f->text, TG_JV_STRING))
        return 1; /* a tool call, or thinking: no phrase to look for */
    tg_jv_str_append(f->text, &a->opening);
    int m = tg_refusal_match(&vc->refusal_phrases, a->opening.data, a->opening.len);
    return m == 1 ? -1 : m == 0 ? 1 : 0;
}

/* Bytes for the client: relayed once committed, held before. */
static void emit(struct tg_attempt *a, const char *p, size_t n)
{
    if (a->committed)
        relay(a, p, n);
    else
        tg_buf_append(&a->held, p, n);
}

/* One event of a 200 stream: read in the wire's format (content, the commit
 * point, usage, finish, errors), then passed on in the client's. Returns
 * false to stop reading (a failure). */
static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct tg_attempt *a = ctx;
    if (!ev->has_data) {
        /* Comments: kept in a pass-through; a translated stream has its own rhythm. */
        if (tg_convert_passes(&a->conv))
            emit(a, ev->raw, ev->raw_len);
        return true;
    }
    struct tg_event_facts f;
    char *error_json = NULL;
    enum tg_fmt_result rr =
        tg_read_event(a->up.wire, ev->event, ev->data, ev->data_len, &f, &error_json);
    if (rr == TG_FMT_ERROR || rr == TG_FMT_BAD) {
        a->stream_error = true; /* an error event, or a broken chunk: nothing after it counts */
        a->stream_error_json = error_json;
        return false;
    }
    tg_read_usage(f.usage, &a->usage);
    set_finish(a, f.finish);
    int verdict = f.content && !a->committed ? judge_opening(a, &f) : 1;
    if (verdict < 0) {
        a->invalid = TG_INVALID_REFUSAL; /* found before a byte reached the client */
        return false;
    }
    if (rr == TG_FMT_DONE)
        a->saw_done = true;
    if (f.content) {
        a->saw_content = true;
        if (!a->first_content_ns) {
            a->first_content_ns = uv_hrtime();
            /* From the first content on, silence is what ends a stream. */
            tg_timer_start(&a->req->gw->loop, &a->timer,
                           (uint64_t)a->req->policy->timeouts.stream_idle_ms);
        }
    }
    tg_buf_reset(&a->xlate);
    if (tg_convert_event(&a->conv, ev->event, ev->data, ev->data_len, ev->raw, ev->raw_len,
                         f.usage_only, &a->xlate) == TG_FMT_BAD) {
        a->stream_error = true;
        return false;
    }
    emit(a, a->xlate.data, a->xlate.len);
    if (f.content && verdict == 1 && !a->committed)
        tg_req_attempt_commit(a);
    return true;
}

static enum tg_data_verdict on_data(struct tg_transfer *t, const char *p, size_t n)
{
    struct tg_attempt *a = of_transfer(t);
    if (a->state != TG_ATTEMPT_RUNNING)
        return TG_DATA_ABORT;
    a->last_byte_ms = tg_now(&a->req->gw->loop);
    if (!a->sse) {
        tg_buf_append(&a->body, p, n);
        return TG_DATA_TAKEN;
    }
    /* Past the commit point a slow client pauses the upstream (backpressure)
     * instead of making us buffer. */
    if (a->committed && tg_req_client_congested(a->req))
        return TG_DATA_PAUSE;
    size_t used = tg_sse_feed(&a->parser, p, n, on_event, a);
    if (used != n || a->stream_error || a->invalid)
        return TG_DATA_ABORT; /* an error event, a refusal, a broken or oversized chunk */
    return TG_DATA_TAKEN;
}

/* ---- the outcome ---- */

/* Makes the body the client's: an answer or an error in its format. */
static int body_for_client(struct tg_attempt *a, bool answer)
{
    if (tg_convert_passes(&a->conv))
        return 0;
    struct tg_buf out = TG_BUF_INIT;
    int rc = 0;
    if (answer)
        rc = tg_convert_answer(&a->conv, a->body.data, a->body.len, &out);
    else
        tg_convert_error(&a->conv, a->body.data, a->body.len, a->xfer.status, &out);
    tg_buf_free(&a->body);
    a->body = out;
    return rc;
}

/* A whole answer (not streamed, or an error to a stream request): its
 * class from its status and body, read in the wire's format, validated,
 * then put in the client's. */
static enum tg_class classify_whole(struct tg_attempt *a)
{
    enum tg_provider_dialect dialect =
        a->up.wire == TG_API_MESSAGES ? TG_DIALECT_ANTHROPIC : TG_DIALECT_OPENAI;
    enum tg_class c = tg_classify_http(a->xfer.status, a->body.data, a->body.len, dialect);
    if (c != TG_CLASS_OK) {
        body_for_client(a, false);
        return c;
    }
    /* A 2xx body must be the JSON answer it claims to be. */
    struct tg_answer_facts f;
    int rc = tg_read_answer(a->up.wire, a->body.data, a->body.len, &f);
    if (f.usage.set)
        a->usage = f.usage;
    set_finish(a, f.finish);
    struct tg_verdict v = {TG_VALID, false, false};
    if (rc == 0 && !f.error && a->req->validate)
        tg_validate_answer(&a->req->policy->validate, &a->req->expect, &f, &v);
    tg_answer_facts_free(&f);
    if (rc < 0)
        return TG_CLASS_TRANSPORT;
    if (f.error)
        return TG_CLASS_SERVER;
    a->truncated = v.truncated;
    a->invalid = v.invalid;
    if (v.content_filter)
        return TG_CLASS_CONTENT_POLICY;
    if (body_for_client(a, true) < 0)
        return TG_CLASS_TRANSPORT; /* nothing the client's format can carry */
    return v.invalid ? TG_CLASS_INVALID : TG_CLASS_OK;
}

static enum tg_class classify_answer(struct tg_attempt *a)
{
    const struct tg_transfer *t = &a->xfer;
    if (a->timed_out)
        return TG_CLASS_TIMEOUT;
    switch (t->end) {
    case TG_TRANSFER_TIMEOUT:
        return TG_CLASS_TIMEOUT;
    case TG_TRANSFER_TRANSPORT:
    case TG_TRANSFER_TOO_LARGE:
        return TG_CLASS_TRANSPORT;
    case TG_TRANSFER_ABORTED:
        if (a->invalid)
            return TG_CLASS_INVALID;
        return a->stream_error_json ? TG_CLASS_SERVER : TG_CLASS_TRANSPORT;
    case TG_TRANSFER_COMPLETE:
        break;
    }
    if (t->status != 200 || !a->sse)
        return classify_whole(a);
    /* A 200 stream that ended. */
    if (a->invalid)
        return TG_CLASS_INVALID;
    if (a->stream_error)
        return a->stream_error_json ? TG_CLASS_SERVER : TG_CLASS_TRANSPORT;
    if (tg_sse_pending(&a->parser))
        return TG_CLASS_TRANSPORT; /* cut mid-event */
    if (!a->saw_done && !(a->finish_reason[0] && tg_read_finish_ends(a->up.wire)))
        return TG_CLASS_TRANSPORT; /* ended without its end */
    bool length = strcmp(a->finish_reason, "length") == 0;
    if (a->req->validate && !a->committed) {
        /* Everything is still held: it can be judged whole. */
        const struct tg_validate_cfg *vc = &a->req->policy->validate;
        if (strcmp(a->finish_reason, "content_filter") == 0)
            return TG_CLASS_CONTENT_POLICY;
        if (vc->empty && !a->saw_content) {
            a->invalid = TG_INVALID_EMPTY;
            return TG_CLASS_INVALID;
        }
        if (vc->refusal && a->opening.len &&
            tg_refusal_match(&vc->refusal_phrases, a->opening.data, a->opening.len) == 1) {
            a->invalid = TG_INVALID_REFUSAL;
            return TG_CLASS_INVALID;
        }
        if (length && vc->truncation == TG_TRUNCATION_FAIL) {
            a->invalid = TG_INVALID_TRUNCATED;
            return TG_CLASS_INVALID;
        }
    }
    a->truncated = length && a->req->validate &&
                   a->req->policy->validate.truncation != TG_TRUNCATION_OFF;
    if (!a->saw_done) {
        /* Ended by its finish_reason alone: the client still gets its
         * format's terminator. */
        tg_buf_reset(&a->xlate);
        tg_convert_end(&a->conv, &a->xlate);
        emit(a, a->xlate.data, a->xlate.len);
    }
    return TG_CLASS_OK;
}

/* A slow success: latency_factor x the p50 of its own kind, never below
 * SLOW_FLOOR_US (against a p50 of a fraction of a millisecond, ordinary
 * queueing is "4x slower"). Full answers and streams' first content are
 * judged apart: a stream's whole length says how much it said, not how
 * healthy the deployment is. For the same reason a full answer that reports
 * its output tokens must also be slow per token: a long answer at the usual
 * speed is long, not slow. The caller never lets slowness alone open the
 * breaker of the last deployment that can serve the request (a slow answer
 * beats a 503; health-weighted routing still moves traffic off it), and
 * treats invalid answers the same way (route/breaker.h). */
static bool is_slow(struct tg_attempt *a, bool stream, uint64_t measured_us, uint64_t now)
{
    double factor = a->req->rt->cfg->breaker.latency_factor;
    const struct tg_dep_quantiles *q =
        tg_dep_quantiles(a->dep, stream ? TG_DEP_TTFB : TG_DEP_LATENCY, now);
    if (q->p50_us <= 0 || q->weight < 10)
        return false; /* too few recent answers to judge by */
    double slow_us = factor * q->p50_us;
    if (slow_us < SLOW_FLOOR_US)
        slow_us = SLOW_FLOOR_US;
    if ((double)measured_us <= slow_us)
        return false;
    if (stream || a->usage.output_tokens <= 0)
        return true;
    const struct tg_dep_quantiles *pt = tg_dep_quantiles(a->dep, TG_DEP_PER_TOKEN, now);
    if (pt->p50_us <= 0 || pt->weight < 10)
        return true;
    return (double)measured_us / (double)a->usage.output_tokens > factor * pt->p50_us;
}

/* Books a finished or cancelled attempt: metrics, breaker, latency. */
struct tg_prices tg_deployment_prices(const struct tg_deployment_cfg *d)
{
    return (struct tg_prices){d->input_usd_per_mtok, d->cached_input_usd_per_mtok,
                              d->output_usd_per_mtok};
}

const char *tg_ineligible_name(enum tg_ineligible why)
{
    static const char *const names[TG_INELIGIBLE__COUNT] = {"eligible", "cost_ceiling",
                                                            "context"};
    return (unsigned)why < TG_INELIGIBLE__COUNT ? names[why] : "?";
}

enum tg_ineligible tg_attempt_eligibility(const struct tg_req *r,
                                          const struct tg_deployment_cfg *d)
{
    if (r->cost_ceiling > 0) {
        struct tg_prices p = tg_deployment_prices(d);
        if (tg_cost_worst_usd(&p, r->body_len, r->max_out_tokens) > r->cost_ceiling)
            return TG_INELIGIBLE_COST;
    }
    if (!tg_context_fits(d->context_tokens, &r->rt->deps[d->index]->context, r->context_need))
        return TG_INELIGIBLE_CONTEXT;
    return TG_ELIGIBLE;
}

/* A context-length error teaches the deployment that a request of this
 * estimate does not fit (route/context.h bounds what one error can teach). */
static void learn_context(struct tg_attempt *a)
{
    cJSON *doc = tg_json_parse_provider(a->body.data, a->body.len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const char *msg = cJSON_IsString(err) ? err->valuestring : tg_json_get_str(err, "message");
    int64_t stated = tg_context_stated_limit(msg);
    cJSON_Delete(doc);
    struct tg_context_learned *l = &a->dep->context;
    if (tg_context_learn(l, a->dcfg->context_tokens, a->req->context_need, stated))
        tg_log_info("context_learned",
                    "deployment=%s request_id=%s estimate=%lld stated=%lld learned=%lld",
                    a->dcfg->name, a->req->id, (long long)a->req->context_need,
                    (long long)stated, (long long)l->tokens);
}

/* Every attempt that reported usage is paid for, whatever its outcome (an
 * invalid answer retried elsewhere, a hedge that lost after answering). */
static void book_cost(struct tg_attempt *a)
{
    struct tg_prices p = tg_deployment_prices(a->dcfg);
    if (!tg_prices_set(&p) || (a->usage.input_tokens <= 0 && a->usage.output_tokens <= 0))
        return;
    struct tg_usage u = {a->usage.input_tokens, a->usage.cached_tokens, a->usage.output_tokens};
    a->cost_usd = tg_cost_usd(&p, &u);
    a->req->cost_usd += a->cost_usd;
    a->req->cost_known = true;
    const char *l[] = {a->dcfg->name};
    tg_metric_add(a->req->gw->fam.spend, l, a->cost_usd);
}

static void describe_failure(const struct tg_attempt *a, char *out, size_t n);

/* The one place an attempt's outcome is recorded: metrics, cost, latency,
 * health, the breaker, the failure's log line and the attempt's span. */
static void book(struct tg_attempt *a)
{
    struct tg_req *r = a->req;
    struct tg_gateway *gw = r->gw;
    const struct tg_config *cfg = r->rt->cfg;
    uint64_t now = tg_now(&gw->loop);
    double secs = (double)(a->end_ns - a->start_ns) / 1e9;
    const char *dname = a->dcfg->name;
    const char *labels[] = {dname, tg_class_name(a->cls)};
    tg_metric_add(gw->fam.upstream_attempts, labels, 1);
    a->dep->inflight--;
    book_cost(a);
    char why[320] = "";
    if (a->cls != TG_CLASS_OK && a->cls != TG_CLASS_CANCELLED && a->cls != TG_CLASS_CLIENT_ERROR &&
        a->cls != TG_CLASS_CONTEXT_OVERFLOW && a->cls != TG_CLASS_CONTENT_POLICY) {
        describe_failure(a, why, sizeof(why));
        tg_log_info("attempt_failed",
                    "request_id=%s deployment=%s outcome=%s status=%d committed=%d error=%s",
                    r->id, dname, tg_class_name(a->cls), a->xfer.status, a->committed, why);
    }
    tg_trace_attempt_end(a, why);
    if (a->cls == TG_CLASS_CANCELLED) {
        tg_breaker_release_probe(&a->dep->breaker, a->probe);
        return;
    }
    if (a->cls == TG_CLASS_CONTEXT_OVERFLOW)
        learn_context(a);
    tg_metric_observe(gw->fam.upstream_duration, labels, secs);
    uint64_t us = (a->end_ns - a->start_ns) / 1000;
    bool failure = tg_class_is_failure(a->cls);
    /* Slow and invalid answers are answers: they never open the breaker of
     * the last deployment that can serve the request (one beats a 503). */
    bool answered = a->cls == TG_CLASS_INVALID;
    if (a->cls == TG_CLASS_OK) {
        bool stream = a->first_content_ns != 0;
        uint64_t measured_us = stream ? (a->first_content_ns - a->start_ns) / 1000 : us;
        if (cfg->breaker.latency_factor > 0 && is_slow(a, stream, measured_us, now))
            failure = answered = true;
        tg_hist_record(stream ? &a->dep->ttfb : &a->dep->latency, now, measured_us);
        if (stream) {
            const char *dl[] = {dname};
            tg_metric_observe(gw->fam.ttft, dl, (double)measured_us / 1e6);
        }
        if (!stream && a->usage.output_tokens > 0)
            tg_hist_record(&a->dep->per_token, now, us / (uint64_t)a->usage.output_tokens);
        tg_health_latency(&a->dep->health, now, stream, (double)measured_us);
        const char *in[] = {dname, "input"}, *out[] = {dname, "output"};
        if (a->usage.input_tokens > 0)
            tg_metric_add(gw->fam.tokens, in, (double)a->usage.input_tokens);
        if (a->usage.output_tokens > 0)
            tg_metric_add(gw->fam.tokens, out, (double)a->usage.output_tokens);
    }
    if (a->cls != TG_CLASS_CLIENT_ERROR && a->cls != TG_CLASS_CONTEXT_OVERFLOW &&
        a->cls != TG_CLASS_CONTENT_POLICY)
        tg_health_record(&a->dep->health, now, failure);
    uint64_t opens_before = a->dep->breaker.opens_total;
    enum tg_breaker_state state_before = a->dep->breaker.state;
    if (a->cls == TG_CLASS_QUOTA || a->cls == TG_CLASS_AUTH)
        tg_breaker_force_open(&a->dep->breaker, &cfg->breaker, now);
    else if (a->cls == TG_CLASS_CLIENT_ERROR || a->cls == TG_CLASS_CONTEXT_OVERFLOW ||
             a->cls == TG_CLASS_CONTENT_POLICY)
        tg_breaker_release_probe(&a->dep->breaker, a->probe); /* says nothing of health */
    else
        tg_breaker_record(&a->dep->breaker, &cfg->breaker, now,
                          a->cls == TG_CLASS_INVALID ? TG_BREAKER_SUSPECT
                          : failure                  ? TG_BREAKER_FAILURE
                                                     : TG_BREAKER_SUCCESS,
                          !answered || tg_req_has_alternative(r, a->dep), r->serial, a->probe);
    if (a->dep->breaker.opens_total != opens_before) {
        const char *l[] = {dname};
        tg_metric_add(gw->fam.breaker_opens, l, 1);
        tg_log_warn("breaker_open", "deployment=%s cooldown_ms=%llu reason=%s", dname,
                    (unsigned long long)(a->dep->breaker.open_until_ms - now),
                    a->cls == TG_CLASS_OK ? "slow_ok" : tg_class_name(a->cls));
    } else if (state_before != TG_BREAKER_CLOSED && a->dep->breaker.state == TG_BREAKER_CLOSED) {
        tg_log_info("breaker_closed", "deployment=%s request_id=%s probe_outcome=%s", dname,
                    r->id, tg_class_name(a->cls));
    }
}

/* "code: message" of an OpenAI-shaped error ({"error": {...}} or the bare
 * object), or "" when the JSON says neither. */
static void error_summary(const char *json, size_t len, char *out, size_t n)
{
    out[0] = '\0';
    cJSON *doc = json ? tg_json_parse_provider(json, len) : NULL;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (!cJSON_IsObject(err))
        err = doc;
    const char *code = tg_json_get_str(err, "code");
    if (!code)
        code = tg_json_get_str(err, "type");
    const char *msg = tg_json_get_str(err, "message");
    if (code || msg)
        snprintf(out, n, "%s%s%.160s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
    cJSON_Delete(doc);
}

/* What went wrong with a failed attempt, in words for its log line. */
static void describe_failure(const struct tg_attempt *a, char *out, size_t n)
{
    const struct tg_timeouts_cfg *to = &a->req->policy->timeouts;
    const struct tg_transfer *t = &a->xfer;
    char detail[200];
    if (a->idle_timed_out) {
        snprintf(out, n, "stream idle: no byte from the upstream for %lld ms (stream_idle_ms)",
                 (long long)to->stream_idle_ms);
    } else if (a->timed_out) {
        snprintf(out, n, "%s after %llu ms",
                 a->req->stream ? "no content (first_byte_ms)" : "no complete answer (attempt_ms)",
                 (unsigned long long)((a->end_ns - a->start_ns) / 1000000));
    } else if (a->cls == TG_CLASS_INVALID) {
        snprintf(out, n, "answer failed validation: %s", tg_invalid_name(a->invalid));
    } else if (a->stream_error) {
        error_summary(a->stream_error_json, a->stream_error_json ? strlen(a->stream_error_json) : 0,
                      detail, sizeof(detail));
        snprintf(out, n, "%s%s", a->stream_error_json ? "upstream error event in the stream: "
                                                       : "upstream sent a broken stream event",
                 detail);
    } else if (t->end == TG_TRANSFER_COMPLETE && !a->sse) {
        error_summary(a->body.data, a->body.len, detail, sizeof(detail));
        if (t->status == 200 && !detail[0])
            snprintf(out, n, "HTTP 200 whose body is not the answer it claims to be");
        else
            snprintf(out, n, "HTTP %d%s%s", t->status, detail[0] ? " " : "", detail);
    } else if (t->end == TG_TRANSFER_COMPLETE) {
        snprintf(out, n, "the upstream ended the stream %s",
                 tg_sse_pending(&a->parser) ? "in the middle of an event"
                                            : "without [DONE] or a finish_reason");
    } else if (t->end == TG_TRANSFER_TOO_LARGE) {
        snprintf(out, n, "answer larger than max_response_bytes");
    } else if (t->end == TG_TRANSFER_ABORTED) {
        snprintf(out, n, "the gateway stopped reading: a stream event it cannot parse or "
                         "over %d bytes", MAX_EVENT_BYTES);
    } else if (a->sse) {
        snprintf(out, n, "the upstream cut the stream: %s", t->error[0] ? t->error : "reset");
    } else {
        snprintf(out, n, "%s", t->error[0] ? t->error : "transport failure");
    }
}

static void finish(struct tg_attempt *a)
{
    if (a->state != TG_ATTEMPT_RUNNING)
        return;
    a->state = TG_ATTEMPT_FINISHED;
    a->end_ns = uv_hrtime();
    tg_timer_stop(&a->req->gw->loop, &a->timer);
    a->cls = classify_answer(a);
    if (a->cls == TG_CLASS_RATE_LIMITED) /* the only outcome that waits for it */
        a->retry_after_ms =
            tg_headers_retry_after(a->xfer.headers.data, a->xfer.headers.len, unix_ms());
    book(a);
    tg_req_log_attempt(a->req, a);
    tg_list_remove(&a->link);
    tg_list_push_back(&a->req->finished, &a->link);
    tg_req_attempt_finished(a);
}

static void on_done(struct tg_transfer *t)
{
    finish(of_transfer(t));
}

static void on_timeout(struct tg_timer *timer)
{
    struct tg_attempt *a = tg_container_of(timer, struct tg_attempt, timer);
    if (a->state != TG_ATTEMPT_RUNNING)
        return;
    if (a->xfer.state == TG_TRANSFER_DONE) { /* the start failed: report it now */
        finish(a);
        return;
    }
    if (a->sse && a->first_content_ns) {
        /* stream_idle_ms since the last byte; a client that cannot keep up
         * (the transfer paused for it) is not upstream silence. */
        uint64_t now = tg_now(&a->req->gw->loop);
        uint64_t idle = (uint64_t)a->req->policy->timeouts.stream_idle_ms;
        if (a->xfer.paused || now < a->last_byte_ms + idle) {
            tg_timer_start_at(&a->req->gw->loop, &a->timer,
                              (a->xfer.paused ? now : a->last_byte_ms) + idle);
            return;
        }
        a->idle_timed_out = true;
    }
    a->timed_out = true;
    tg_transfer_cancel(&a->xfer);
    finish(a);
}

static const struct tg_transfer_events transfer_events = {on_head, on_data, on_done};

/* A start that failed reports on a later pass (never inside the call). */
static void start_failed(struct tg_attempt *a, const char *why)
{
    a->xfer.end = TG_TRANSFER_TRANSPORT;
    snprintf(a->xfer.error, sizeof(a->xfer.error), "%s", why);
    a->xfer.state = TG_TRANSFER_DONE;
    tg_timer_start(&a->req->gw->loop, &a->timer, 0);
}

struct tg_attempt *tg_attempt_start(struct tg_req *r, size_t slot, int try_no, bool hedge,
                                    uint32_t probe, uint64_t timeout_ms, char *why,
                                    size_t why_len)
{
    const struct tg_deployment_cfg *d = r->route->deployments[slot];
    enum tg_ineligible no = tg_attempt_eligibility(r, d);
    if (no != TG_ELIGIBLE) {
        snprintf(why, why_len, "%s", tg_ineligible_name(no));
        tg_log_debug("deployment_ineligible", "request_id=%s deployment=%s reason=%s", r->id,
                     d->name, why);
        return NULL;
    }
    struct tg_attempt *a = tg_xcalloc(1, sizeof(*a));
    tg_deferred_init(&a->out_flush, on_out_flush);
    if (tg_provider_build(d, r->api, &r->doc, r->stream, &a->up, why, why_len) < 0) {
        tg_log_debug("deployment_ineligible", "request_id=%s deployment=%s reason=%s", r->id,
                     d->name, why);
        tg_upstream_req_free(&a->up);
        free(a);
        return NULL;
    }
    struct tg_provider_rt *prt = &r->rt->providers[d->provider->index];
    const struct tg_provider_plan *plan = &prt->plans[a->up.wire][r->stream];
    a->req = r;
    char traceparent[TG_TRACEPARENT_LEN + 1];
    struct tg_upstream_own_headers own = {.request_id = r->id};
    tg_trace_attempt_begin(a, traceparent, &own.traceparent, &own.tracestate);
    const struct curl_slist *headers = NULL;
    if (!prt->mock) {
        if (r->passed_header && a->up.wire == r->api) {
            own.passed_name = tg_api_passed_header(r->api);
            own.passed_value = r->passed_header;
        }
        headers = tg_upstream_req_headers(&a->up, plan, &own);
    }
    a->dcfg = d;
    a->dep = r->rt->deps[d->index];
    a->slot = slot;
    a->try_no = try_no;
    a->hedge = hedge;
    a->probe = probe;
    a->retry_after_ms = -1;
    tg_convert_init(&a->conv, r->api, a->up.wire, &r->doc, a->up.usage_added, (int64_t)time(NULL));
    a->state = TG_ATTEMPT_RUNNING;
    a->keep_transcript = r->stream && !r->cache_bypass && r->policy->cache.mode != TG_CACHE_OFF;
    a->start_ms = tg_now(&r->gw->loop);
    a->start_ns = uv_hrtime();
    tg_timer_init(&a->timer, on_timeout);
    tg_list_push_back(&r->attempts, &a->link);
    a->dep->inflight++;
    if (try_no == 1 && !hedge) {
        tg_budget_first(&a->dep->budget, a->start_ms);
        tg_budget_first(&a->dep->hedge_ratio, a->start_ms);
    }
    r->n_started++;

    struct tg_transfer_spec spec = {
        .url = plan->url,
        .parsed_url = plan->parsed_url,
        .headers = headers,
        .body = a->up.body.data,
        .body_len = a->up.body.len,
        .mock_api = a->up.mock_api,
        .connect_timeout_ms = (uint64_t)r->policy->timeouts.connect_ms,
        .max_response_bytes = (size_t)r->rt->cfg->server.max_response_bytes,
    };
    tg_timer_start(&r->gw->loop, &a->timer, timeout_ms);
    int rc;
    if (prt->mock)
        rc = tg_transfer_start_mock(&a->xfer, &r->gw->loop, prt->mock, &spec, &transfer_events);
    else
        rc = tg_transfer_start_curl(&a->xfer, &r->gw->loop, prt->pool, &spec, &transfer_events);
    if (rc < 0)
        start_failed(a, a->xfer.error[0] ? a->xfer.error : "cannot start the transfer");
    return a;
}

void tg_attempt_cancel(struct tg_attempt *a)
{
    if (a->state != TG_ATTEMPT_RUNNING)
        return;
    a->state = TG_ATTEMPT_CANCELLED;
    a->cls = TG_CLASS_CANCELLED;
    a->end_ns = uv_hrtime();
    tg_timer_stop(&a->req->gw->loop, &a->timer);
    tg_transfer_cancel(&a->xfer);
    book(a);
    tg_req_log_attempt(a->req, a);
    tg_req_bury(a->req, a);
}

void tg_attempt_resume(struct tg_attempt *a)
{
    if (a->state != TG_ATTEMPT_RUNNING)
        return;
    /* Silence is counted from here: while paused for the client, upstream
     * could not send, so the byte before the pause says nothing of it. */
    if (a->xfer.paused)
        a->last_byte_ms = tg_now(&a->req->gw->loop);
    tg_transfer_resume(&a->xfer);
}

void tg_attempt_flush_held(struct tg_attempt *a)
{
    relay(a, a->held.data, a->held.len);
    tg_buf_free(&a->held);
    tg_attempt_send_out(a); /* the first bytes go at once */
}

void tg_attempt_free(struct tg_attempt *a)
{
    tg_timer_stop(&a->req->gw->loop, &a->timer);
    tg_transfer_cleanup(&a->xfer);
    tg_upstream_req_free(&a->up);
    tg_buf_free(&a->body);
    tg_buf_free(&a->held);
    tg_defer_cancel(&a->out_flush);
    tg_buf_free(&a->out);
    tg_buf_free(&a->transcript);
    tg_buf_free(&a->opening);
    tg_buf_free(&a->xlate);
    tg_convert_free(&a->conv);
    if (a->sse)
        tg_sse_free(&a->parser);
    cJSON_free(a->stream_error_json);
    free(a);
}

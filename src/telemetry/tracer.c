/* Spans queued and exported over OTLP/HTTP JSON (see tracer.h).
 *
 *   IDLE     --a batch is full, or its oldest span waited flush_ms,
 *              or closing with spans waiting--> SENDING
 *   SENDING  --taken (2xx), or failed for good (spans dropped)--> IDLE
 *            --failed, may pass, retries left--> BACKOFF
 *   BACKOFF  --wait over--> SENDING (the same body)
 *
 * One uv timer (not the gateway's wheel: the last export outlives the
 * wheel at shutdown) wakes the machine for all three.
 *
 * Closing gives every export left CLOSE_TIMEOUT_MS in all, from the close:
 * an export in flight is cut at that deadline whatever timeout_ms it was
 * sent with (a hung collector must not hold the exit for minutes), and
 * what still waits then is dropped.
 *
 * A 200 may still refuse some spans (OTLP's partial success): those are
 * dropped and counted, never sent again. */
#include "telemetry/tracer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "upstream/pool.h"
#include "upstream/transfer.h"
#include "util/headers.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/rand.h"

#define MAX_RETRIES 2
#define FIRST_RETRY_MS 1000
#define MAX_RETRY_AFTER_MS 30000 /* a collector's Retry-After, honoured up to this */
#define CLOSE_TIMEOUT_MS 2000
#define UPLOAD_BUFFER_BYTES (1024 * 1024)
#define MAX_ANSWER_BYTES (64 * 1024) /* a collector's answer, read for its partial success */

enum export_state { EXPORT_IDLE = 0, EXPORT_SENDING, EXPORT_BACKOFF };

struct tg_tracer {
    struct tg_loop *loop;
    struct tg_pool *pool;
    char *url;
    struct curl_slist *headers;
    double ratio;
    size_t queue_spans, batch_spans;
    uint64_t flush_ms, timeout_ms;
    char *service_name;
    char instance_id[37]; /* a UUID: service.instance.id */
    struct tg_rand rand;
    int64_t unix_minus_hr; /* Unix ns minus uv_hrtime ns, refreshed at each export */
    /* The next export's body: spans written straight into its envelope. */
    struct tg_buf pending;
    size_t n_pending;
    uint64_t pending_since_ms;
    /* The export in flight (or waiting to be sent again). */
    enum export_state state;
    struct tg_buf sending;
    size_t n_sending;
    int retries;
    struct tg_transfer xfer;
    bool xfer_used;    /* xfer holds a transfer to clean up */
    bool start_failed; /* SENDING, but the transfer never started */
    uv_timer_t timer;
    bool closing;
    uint64_t close_deadline_ms; /* closing: every export ends by then */
    bool failing;   /* the last export failed: logged once until one succeeds */
    bool rejecting; /* the collector refused some spans: logged once until it takes all */
    struct tg_buf answer; /* the collector's answer to the export in flight */
    struct tg_tracer_stats stats;
};

static void wake(struct tg_tracer *t);
static void on_timer(uv_timer_t *h);

static uint64_t hr_to_unix_offset(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - uv_hrtime();
}

uint64_t tg_tracer_unix_ns(const struct tg_tracer *t, uint64_t hrtime_ns)
{
    return hrtime_ns + (uint64_t)t->unix_minus_hr;
}

/* ---- ids and sampling ---- */

static void random_bytes(struct tg_tracer *t, uint8_t *out, size_t n)
{
    /* Never all zero (an invalid id): drawn again when its first and last
     * bytes both are, which covers it. */
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t v = tg_rand_u64(&t->rand);
            memcpy(out + i, &v, n - i < 8 ? n - i : 8);
        }
    } while (out[0] == 0 && out[n - 1] == 0);
}

void tg_tracer_span_id(struct tg_tracer *t, uint8_t out[8])
{
    random_bytes(t, out, 8);
}

void tg_tracer_begin(struct tg_tracer *t, const struct tg_trace_ctx *parent,
                     struct tg_trace_ctx *out)
{
    if (parent) {
        memcpy(out->trace_id, parent->trace_id, 16);
        out->flags = parent->flags & TG_TRACE_SAMPLED;
    } else {
        random_bytes(t, out->trace_id, 16);
        out->flags = tg_trace_ratio_sampled(out->trace_id, t->ratio) ? TG_TRACE_SAMPLED : 0;
    }
    random_bytes(t, out->span_id, 8);
}

/* ---- the queue ---- */

bool tg_tracer_span_begin(struct tg_tracer *t, struct tg_span_writer *w,
                          const struct tg_span_head *h)
{
    if (t->n_pending >= t->queue_spans) {
        t->stats.dropped_queue++;
        return false;
    }
    if (t->n_pending == 0) {
        tg_buf_reset(&t->pending);
        tg_otlp_open(&t->pending, t->service_name, t->instance_id);
        t->pending_since_ms = tg_now(t->loop);
    } else {
        tg_buf_putc(&t->pending, ',');
    }
    tg_otlp_span_open(w, &t->pending, h);
    return true;
}

void tg_tracer_span_end(struct tg_tracer *t, struct tg_span_writer *w,
                        enum tg_span_status status, const char *message)
{
    tg_otlp_span_close(w, status, message);
    /* The first span of a batch sets its flush time; a full one goes on
     * the next loop pass, never inside the request that filled it. */
    if (++t->n_pending == 1 || t->n_pending == t->batch_spans)
        wake(t);
}

/* ---- exports ---- */

static const struct tg_transfer_events export_events;

/* Closing: ms left before the close deadline. */
static uint64_t close_left_ms(const struct tg_tracer *t)
{
    uint64_t now = tg_now(t->loop);
    return now < t->close_deadline_ms ? t->close_deadline_ms - now : 0;
}

static void send_export(struct tg_tracer *t)
{
    t->state = EXPORT_SENDING;
    uint64_t timeout = t->timeout_ms, left = t->closing ? close_left_ms(t) : UINT64_MAX;
    if (timeout > left)
        timeout = left ? left : 1; /* curl's 0 is no timeout at all */
    struct tg_transfer_spec spec = {
        .url = t->url,
        .headers = t->headers,
        .body = t->sending.data,
        .body_len = t->sending.len,
        .connect_timeout_ms = timeout,
        .total_timeout_ms = timeout,
        .max_response_bytes = MAX_ANSWER_BYTES,
        /* A batch is a megabyte or more: in 64 KiB pieces it takes a loop
         * pass each, and a loop busy with requests makes that slow enough
         * for the queue to fill behind it. */
        .upload_buffer_bytes = UPLOAD_BUFFER_BYTES,
    };
    if (t->xfer_used)
        tg_transfer_cleanup(&t->xfer);
    t->xfer_used = true;
    tg_buf_reset(&t->answer);
    t->start_failed = tg_transfer_start_curl(&t->xfer, t->loop, t->pool, &spec,
                                             &export_events) < 0;
    if (t->start_failed) {
        /* Reported like any failed export, from the timer (not inside this call). */
        t->xfer.state = TG_TRANSFER_DONE;
        t->xfer.end = TG_TRANSFER_TRANSPORT;
        uv_timer_start(&t->timer, on_timer, 0, 0);
    }
}

/* The waiting spans become the export in flight. */
static void export_pending(struct tg_tracer *t)
{
    tg_otlp_close(&t->pending);
    struct tg_buf swap = t->sending;
    t->sending = t->pending;
    t->pending = swap;
    tg_buf_reset(&t->pending);
    t->n_sending = t->n_pending;
    t->n_pending = 0;
    t->retries = 0;
    t->unix_minus_hr = (int64_t)hr_to_unix_offset();
    send_export(t);
}

static bool may_pass(const struct tg_transfer *x)
{
    if (x->end != TG_TRANSFER_COMPLETE)
        return true; /* refused, reset, timed out: the collector may be back soon */
    return x->status == 429 || x->status == 502 || x->status == 503 || x->status == 504;
}

/* The spans a 2xx answer refused (ExportTraceServiceResponse's
 * partialSuccess.rejectedSpans, an int64: a string or a number in JSON),
 * at most the n sent; its errorMessage into why. */
static size_t rejected_spans(const struct tg_buf *answer, size_t n, char *why, size_t why_len)
{
    cJSON *root = answer->len ? tg_json_parse_provider(answer->data, answer->len) : NULL;
    const cJSON *partial = cJSON_GetObjectItemCaseSensitive(root, "partialSuccess");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(partial, "rejectedSpans");
    double v = cJSON_IsNumber(count) ? count->valuedouble
               : cJSON_IsString(count) ? strtod(count->valuestring, NULL)
                                       : 0;
    const char *message = tg_json_get_str(partial, "errorMessage");
    snprintf(why, why_len, "%s", message ? message : "");
    cJSON_Delete(root);
    return v > 0 ? (v < (double)n ? (size_t)v : n) : 0;
}

/* 1 s, then 2 s; or what a throttling collector's Retry-After asks. */
static uint64_t retry_wait_ms(const struct tg_tracer *t)
{
    const struct tg_transfer *x = &t->xfer;
    int64_t asked = x->end == TG_TRANSFER_COMPLETE && x->headers.len
                        ? tg_headers_retry_after(x->headers.data, x->headers.len,
                                                 (int64_t)tg_wall_ms())
                        : -1;
    if (asked >= 0)
        return asked < MAX_RETRY_AFTER_MS ? (uint64_t)asked : MAX_RETRY_AFTER_MS;
    return (uint64_t)FIRST_RETRY_MS << t->retries;
}

static void export_done(struct tg_tracer *t)
{
    const struct tg_transfer *x = &t->xfer;
    bool ok = x->end == TG_TRANSFER_COMPLETE && x->status >= 200 && x->status < 300;
    if (ok) {
        char message[256];
        size_t rejected = rejected_spans(&t->answer, t->n_sending, message, sizeof(message));
        if (rejected && !t->rejecting)
            tg_log_warn("trace_spans_rejected", "url=%s spans=%zu rejected=%zu error=%s", t->url,
                        t->n_sending, rejected, message[0] ? message : "(none given)");
        t->rejecting = rejected > 0;
        t->stats.dropped_export += rejected;
        t->n_sending -= rejected;
        t->stats.exported += t->n_sending;
        if (t->failing)
            tg_log_info("trace_export_ok", "url=%s message=%s", t->url,
                        "the collector takes spans again");
        t->failing = false;
    } else {
        t->stats.export_failures++;
        char why[CURL_ERROR_SIZE + 32];
        if (x->end == TG_TRANSFER_COMPLETE)
            snprintf(why, sizeof(why), "HTTP %d", x->status);
        else
            snprintf(why, sizeof(why), "%s", x->error[0] ? x->error : "no answer");
        bool retry = !t->closing && t->retries < MAX_RETRIES && may_pass(x);
        if (!t->failing)
            tg_log_warn("trace_export_failed", "url=%s error=%s spans=%zu action=%s", t->url,
                        why, t->n_sending, retry ? "retry" : "drop");
        t->failing = true;
        if (retry) {
            t->state = EXPORT_BACKOFF;
            uv_timer_start(&t->timer, on_timer, retry_wait_ms(t), 0);
            t->retries++;
            return;
        }
        t->stats.dropped_export += t->n_sending;
    }
    t->n_sending = 0;
    tg_buf_reset(&t->sending);
    t->state = EXPORT_IDLE;
    wake(t);
}

static void on_export_head(struct tg_transfer *x)
{
    (void)x;
}

static enum tg_data_verdict on_export_data(struct tg_transfer *x, const char *p, size_t n)
{
    struct tg_tracer *t = tg_container_of(x, struct tg_tracer, xfer);
    tg_buf_append(&t->answer, p, n); /* at most MAX_ANSWER_BYTES: the transfer's cap */
    return TG_DATA_TAKEN;
}

static void on_export_done(struct tg_transfer *x)
{
    struct tg_tracer *t = tg_container_of(x, struct tg_tracer, xfer);
    export_done(t);
}

static const struct tg_transfer_events export_events = {on_export_head, on_export_data,
                                                        on_export_done};

/* ---- the timer ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct tg_tracer *t = h->data;
    tg_buf_free(&t->pending);
    tg_buf_free(&t->sending);
    tg_buf_free(&t->answer);
    curl_slist_free_all(t->headers);
    free(t->url);
    free(t->service_name);
    free(t);
}

static void finish_close(struct tg_tracer *t)
{
    if (t->xfer_used)
        tg_transfer_cleanup(&t->xfer);
    t->xfer_used = false;
    tg_pool_unref(t->pool); /* closes once its last transfer is gone */
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *h)
{
    struct tg_tracer *t = h->data;
    switch (t->state) {
    case EXPORT_SENDING:
        if (!t->start_failed) {
            /* Closing, and the export in flight outlived the deadline. */
            tg_transfer_cancel(&t->xfer);
            t->xfer.end = TG_TRANSFER_TIMEOUT;
            snprintf(t->xfer.error, sizeof(t->xfer.error),
                     "no answer within %d ms of the exit", CLOSE_TIMEOUT_MS);
        }
        export_done(t);
        return;
    case EXPORT_BACKOFF:
        send_export(t);
        return;
    case EXPORT_IDLE:
        break;
    }
    if (t->closing && close_left_ms(t) == 0) {
        t->stats.dropped_export += t->n_pending; /* no time left to send them */
        t->n_pending = 0;
    }
    if (t->n_pending == 0) {
        if (t->closing)
            finish_close(t);
        return;
    }
    uint64_t due = t->pending_since_ms + t->flush_ms;
    if (t->closing || t->n_pending >= t->batch_spans || tg_now(t->loop) >= due) {
        export_pending(t);
        return;
    }
    uv_timer_start(&t->timer, on_timer, due - tg_now(t->loop), 0);
}

/* Runs the machine on the next loop pass. */
static void wake(struct tg_tracer *t)
{
    if (t->state == EXPORT_IDLE)
        uv_timer_start(&t->timer, on_timer, 0, 0);
}

/* ---- life ---- */

static void make_instance_id(struct tg_tracer *t)
{
    uint8_t u[16];
    for (size_t i = 0; i < 16; i += 8) {
        uint64_t v = tg_rand_u64(&t->rand);
        memcpy(u + i, &v, 8);
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    tg_hex_encode(u, 16, hex);
    snprintf(t->instance_id, sizeof(t->instance_id), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
             hex + 12, hex + 16, hex + 20);
}

struct tg_tracer *tg_tracer_new(struct tg_loop *loop, const struct tg_telemetry_cfg *cfg,
                                char *err, size_t errlen)
{
    struct tg_provider_cfg collector = {
        .name = "telemetry",
        .base_url = cfg->traces_url,
        .max_connections = 1, /* one export in flight */
        .ca_file = "",
    };
    struct tg_pool *pool = tg_pool_new(loop, &collector, err, errlen);
    if (!pool)
        return NULL;
    struct tg_tracer *t = tg_xcalloc(1, sizeof(*t));
    t->loop = loop;
    t->pool = pool;
    t->url = tg_xstrdup(cfg->traces_url);
    t->ratio = cfg->sample_ratio;
    t->queue_spans = (size_t)cfg->queue_spans;
    t->batch_spans = (size_t)cfg->batch_spans;
    t->flush_ms = (uint64_t)cfg->flush_ms;
    t->timeout_ms = (uint64_t)cfg->timeout_ms;
    t->service_name = tg_xstrdup(cfg->service_name);
    /* Trace ids must not repeat across a fleet started at once. */
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = tg_rand_u64(&loop->rand) ^ uv_hrtime();
    tg_rand_seed(&t->rand, seed);
    make_instance_id(t);
    t->unix_minus_hr = (int64_t)hr_to_unix_offset();
    t->headers = curl_slist_append(NULL, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");
    struct tg_buf line = TG_BUF_INIT;
    for (size_t i = 0; i < cfg->n_headers; i++) {
        tg_buf_reset(&line);
        tg_buf_printf(&line, "%s: %s", cfg->headers[i].name, cfg->headers[i].value);
        t->headers = curl_slist_append(t->headers, line.data);
    }
    tg_buf_free(&line);
    uv_timer_init(loop->uv, &t->timer);
    t->timer.data = t;
    return t;
}

void tg_tracer_close(struct tg_tracer *t)
{
    if (!t || t->closing)
        return;
    t->closing = true;
    t->close_deadline_ms = tg_now(t->loop) + CLOSE_TIMEOUT_MS;
    switch (t->state) {
    case EXPORT_SENDING:
        /* Its end wakes the machine, or the deadline cuts it. */
        if (!t->start_failed)
            uv_timer_start(&t->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
        return;
    case EXPORT_BACKOFF:
        uv_timer_stop(&t->timer);
        send_export(t); /* once more, now */
        return;
    case EXPORT_IDLE:
        uv_timer_start(&t->timer, on_timer, 0, 0);
        return;
    }
}

void tg_tracer_stats(const struct tg_tracer *t, struct tg_tracer_stats *out)
{
    *out = t->stats;
    out->queued = t->n_pending + t->n_sending;
    out->queued_bytes = t->pending.cap + t->sending.cap;
}

/* The gateway's tracer ([telemetry] of SPEC section 9): trace and span ids,
 * the sampling decision, and spans queued and exported in batches over
 * OTLP/HTTP JSON through libcurl on the gateway's loop.
 *
 * Never in the request's way: a span is written into the next export's body
 * in one pass, an export starts on a later loop pass, and at most
 * queue_spans spans wait (plus the one export in flight): more are dropped
 * and counted, never blocked on or held without bound. A failed export is
 * sent again twice (1 s, then 2 s later, or when the collector's
 * Retry-After says, up to 30 s) when the failure may pass (no answer, 429,
 * 502, 503, 504), else its spans are dropped and counted. */
#ifndef TG_TELEMETRY_TRACER_H
#define TG_TELEMETRY_TRACER_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/loop.h"
#include "telemetry/otlp.h"
#include "util/traceparent.h"

struct tg_tracer;

struct tg_tracer_stats {
    uint64_t exported;          /* spans the collector took */
    uint64_t dropped_queue;     /* spans dropped: queue_spans were waiting */
    uint64_t dropped_export;    /* spans dropped: their export failed for good */
    uint64_t export_failures;   /* export requests that failed (retries included) */
    uint64_t queued;            /* spans waiting now, the export in flight included */
    uint64_t queued_bytes;      /* memory their bodies hold (the queue's bound in bytes) */
};

/* NULL with a message when the collector's URL cannot be used. */
struct tg_tracer *tg_tracer_new(struct tg_loop *loop, const struct tg_telemetry_cfg *cfg,
                                char *err, size_t errlen);
/* Exports what waits, all within 2 s (an export unanswered by then is cut,
 * and what still waits dropped), then frees itself; the loop runs until it
 * is gone. */
void tg_tracer_close(struct tg_tracer *t);

/* A request's own context: the parent's trace continued (its sampled flag
 * kept), or a new trace sampled by sample_ratio; a new span id either way. */
void tg_tracer_begin(struct tg_tracer *t, const struct tg_trace_ctx *parent,
                     struct tg_trace_ctx *out);
void tg_tracer_span_id(struct tg_tracer *t, uint8_t out[8]);
/* uv_hrtime() nanoseconds as Unix time nanoseconds. */
uint64_t tg_tracer_unix_ns(const struct tg_tracer *t, uint64_t hrtime_ns);

/* Starts writing a span into the queue: false (and counted as dropped) when
 * the queue is full. Then attributes through w, then tg_tracer_span_end. */
bool tg_tracer_span_begin(struct tg_tracer *t, struct tg_span_writer *w,
                          const struct tg_span_head *h);
void tg_tracer_span_end(struct tg_tracer *t, struct tg_span_writer *w,
                        enum tg_span_status status, const char *message);

void tg_tracer_stats(const struct tg_tracer *t, struct tg_tracer_stats *out);

#endif

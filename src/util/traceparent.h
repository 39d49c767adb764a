/* W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent
 * header a client sends and the gateway sends upstream, and the sampling
 * decision for a trace. Pure: no clock, no randomness of its own. */
#ifndef TG_UTIL_TRACEPARENT_H
#define TG_UTIL_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define TG_TRACE_SAMPLED 0x01
/* tracestate is passed on only up to this size: the spec asks every
 * vendor to pass at least 512 characters, and a longer one may be cut. */
#define TG_TRACESTATE_MAX 512

struct tg_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* parsed: the caller's span; made: this span's */
    uint8_t flags;      /* TG_TRACE_SAMPLED */
};

/* A traceparent value as a receiver reads it: version 00 exactly as
 * specified, a later version by its first 55 characters (more may follow a
 * '-'), version ff never; lowercase hex, trace and span ids not all zero.
 * False when the value must be ignored (a new trace starts). */
bool tg_traceparent_parse(const char *s, size_t n, struct tg_trace_ctx *out);
/* The version 00 value of c, NUL-terminated. */
void tg_traceparent_format(const struct tg_trace_ctx *c, char out[TG_TRACEPARENT_LEN + 1]);
/* The tracestate to pass on, from a client's tracestate header lines
 * joined by ',' (s, n), as W3C Trace Context section 3.3 reads a list: OWS
 * and empty members dropped, the members written to out as "key=value"
 * joined by ',' (NUL-terminated), cut to TG_TRACESTATE_MAX bytes by
 * removing the members over 128 bytes, then members from the end. Its
 * length, or 0 when nothing is passed on: no member, or a list that must
 * be discarded whole (a malformed key or value, a key twice, more than 32
 * members). */
size_t tg_tracestate_clean(const char *s, size_t n, char out[TG_TRACESTATE_MAX + 1]);

/* The sampling decision of a trace starting here (no parent): a trace id
 * whose last 7 bytes, read as a number, fall below ratio * 2^56 is sampled,
 * so every holder of the trace id decides alike (OpenTelemetry's
 * TraceIdRatioBased). ratio 1 samples every trace, 0 none. */
bool tg_trace_ratio_sampled(const uint8_t trace_id[16], double ratio);

#endif

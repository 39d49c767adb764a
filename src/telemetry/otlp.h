/* Spans in OTLP/HTTP's JSON encoding (opentelemetry-proto, the
 * ExportTraceServiceRequest message as protobuf's JSON mapping with OTLP's
 * exceptions: trace and span ids in hex, enums as integers, 64-bit integers
 * as decimal strings). Spans are written straight into the body of the next
 * export, so a span costs one pass of appends and no tree. Pure. */
#ifndef TG_TELEMETRY_OTLP_H
#define TG_TELEMETRY_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

enum tg_span_kind { TG_SPAN_SERVER = 2, TG_SPAN_CLIENT = 3 };
enum tg_span_status { TG_SPAN_UNSET = 0, TG_SPAN_OK = 1, TG_SPAN_ERROR = 2 };

/* Attribute strings longer than this are cut (at a UTF-8 boundary):
 * what a span holds stays bounded whatever a client or provider sent. */
#define TG_OTLP_VALUE_MAX 256

struct tg_span_head {
    const uint8_t *trace_id;  /* 16 bytes */
    const uint8_t *span_id;   /* 8 bytes */
    const uint8_t *parent_id; /* 8 bytes, or NULL: a root span */
    const char *trace_state;  /* or NULL; written whole (its reader bounds it) */
    size_t trace_state_len;
    const char *name;
    size_t name_len;
    enum tg_span_kind kind;
    uint64_t start_unix_ns, end_unix_ns;
};

/* One span being written: open, attributes, close. */
struct tg_span_writer {
    struct tg_buf *b;
    size_t n_attrs;
};

/* The body's opening, up to the first span: the resource (service.name,
 * service.version, service.instance.id) and the instrumentation scope. */
void tg_otlp_open(struct tg_buf *b, const char *service_name, const char *instance_id);
/* Its end, after the last span. */
void tg_otlp_close(struct tg_buf *b);

/* Starts a span (the caller puts the ',' between spans). */
void tg_otlp_span_open(struct tg_span_writer *w, struct tg_buf *b, const struct tg_span_head *h);
/* Attributes. Keys are the caller's literals, written as they are (nothing
 * to escape); the wrappers below give their length at compile time. */
void tg_otlp_attr_strk(struct tg_span_writer *w, const char *key, size_t key_len, const char *s,
                       size_t n);
void tg_otlp_attr_intk(struct tg_span_writer *w, const char *key, size_t key_len, int64_t v);
void tg_otlp_attr_doublek(struct tg_span_writer *w, const char *key, size_t key_len, double v);
void tg_otlp_attr_decimalk(struct tg_span_writer *w, const char *key, size_t key_len, double v);
void tg_otlp_attr_boolk(struct tg_span_writer *w, const char *key, size_t key_len, bool v);
/* Attributes written before (a writer's buffer of n of them, no leading
 * comma), copied in whole: what every span of a kind repeats. */
void tg_otlp_attrs_raw(struct tg_span_writer *w, const struct tg_buf *attrs, size_t n);
/* Ends it with its status (message: NULL or "" for none). */
void tg_otlp_span_close(struct tg_span_writer *w, enum tg_span_status status,
                        const char *message);

static inline void tg_otlp_attr_str(struct tg_span_writer *w, const char *key, const char *s,
                                    size_t n)
{
    tg_otlp_attr_strk(w, key, strlen(key), s, n);
}
static inline void tg_otlp_attr_cstr(struct tg_span_writer *w, const char *key, const char *s)
{
    tg_otlp_attr_strk(w, key, strlen(key), s, strlen(s));
}
static inline void tg_otlp_attr_int(struct tg_span_writer *w, const char *key, int64_t v)
{
    tg_otlp_attr_intk(w, key, strlen(key), v);
}
/* v exactly (it reads back as the same double); NaN and infinities as 0
 * (JSON has neither). */
static inline void tg_otlp_attr_double(struct tg_span_writer *w, const char *key, double v)
{
    tg_otlp_attr_doublek(w, key, strlen(key), v);
}
/* v rounded to 9 decimals, without printf (USD to the nano-dollar, as spend
 * is counted; milliseconds): a finite |v| below 1e9, else as the above. */
static inline void tg_otlp_attr_decimal(struct tg_span_writer *w, const char *key, double v)
{
    tg_otlp_attr_decimalk(w, key, strlen(key), v);
}
static inline void tg_otlp_attr_bool(struct tg_span_writer *w, const char *key, bool v)
{
    tg_otlp_attr_boolk(w, key, strlen(key), v);
}

#endif

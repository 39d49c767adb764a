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
void tg_otlp_attr_str(struct tg_span_writer *w, const char *key, const char *s, size_t n);
void tg_otlp_attr_cstr(struct tg_span_writer *w, const char *key, const char *s);
void tg_otlp_attr_int(struct tg_span_writer *w, const char *key, int64_t v);
void tg_otlp_attr_double(struct tg_span_writer *w, const char *key, double v);
void tg_otlp_attr_bool(struct tg_span_writer *w, const char *key, bool v);
/* Ends it with its status (message: NULL or "" for none). */
void tg_otlp_span_close(struct tg_span_writer *w, enum tg_span_status status,
                        const char *message);

#endif

/* OTLP/HTTP JSON spans (see otlp.h). */
#include "telemetry/otlp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/hex.h"
#include "util/utf8.h"

/* s as a JSON string of valid UTF-8 (a collector refuses the whole batch
 * otherwise): each invalid byte becomes U+FFFD, and the text is cut after
 * max bytes at a character boundary. */
static void put_text_max(struct tg_buf *b, const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n > max) {
        n = max;
        for (int back = 0; back < 3 && n > 0 && (u[n] & 0xc0) == 0x80; back++)
            n--; /* not inside a character */
    }
    tg_buf_putc(b, '"');
    size_t i = 0, run = 0; /* run: start of valid bytes not yet written */
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = tg_utf8_seq_len(u + i, n - i);
        if (len > 0) {
            i += len;
            continue;
        }
        tg_buf_json_escape(b, s + run, i - run);
        tg_buf_puts(b, "\\ufffd");
        run = ++i;
    }
    tg_buf_json_escape(b, s + run, n - run);
    tg_buf_putc(b, '"');
}

static void put_text(struct tg_buf *b, const char *s, size_t n)
{
    put_text_max(b, s, n, TG_OTLP_VALUE_MAX);
}

static void put_id(struct tg_buf *b, const char *key, const uint8_t *id, size_t n)
{
    char hex[33];
    tg_hex_encode(id, n, hex);
    tg_buf_puts(b, key);
    tg_buf_putc(b, '"');
    tg_buf_append(b, hex, 2 * n);
    tg_buf_putc(b, '"');
}

static void put_u64_string(struct tg_buf *b, uint64_t v)
{
    tg_buf_putc(b, '"');
    tg_buf_put_u64(b, v);
    tg_buf_putc(b, '"');
}

static void put_attr_str(struct tg_buf *b, bool comma, const char *key, const char *s, size_t n)
{
    if (comma)
        tg_buf_putc(b, ',');
    tg_buf_puts(b, "{\"key\":\"");
    tg_buf_puts(b, key); /* our own names: nothing to escape */
    tg_buf_puts(b, "\",\"value\":{\"stringValue\":");
    put_text(b, s, n);
    tg_buf_puts(b, "}}");
}

void tg_otlp_open(struct tg_buf *b, const char *service_name, const char *instance_id)
{
    tg_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    put_attr_str(b, false, "service.name", service_name, strlen(service_name));
    put_attr_str(b, true, "service.version", TG_VERSION, strlen(TG_VERSION));
    put_attr_str(b, true, "service.instance.id", instance_id, strlen(instance_id));
    tg_buf_puts(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"tailgate\",\"version\":\"" TG_VERSION
                   "\"},\"spans\":[");
}

void tg_otlp_close(struct tg_buf *b)
{
    tg_buf_puts(b, "]}]}]}");
}

void tg_otlp_span_open(struct tg_span_writer *w, struct tg_buf *b, const struct tg_span_head *h)
{
    w->b = b;
    w->n_attrs = 0;
    put_id(b, "{\"traceId\":", h->trace_id, 16);
    put_id(b, ",\"spanId\":", h->span_id, 8);
    if (h->parent_id)
        put_id(b, ",\"parentSpanId\":", h->parent_id, 8);
    if (h->trace_state && h->trace_state_len) {
        tg_buf_puts(b, ",\"traceState\":");
        /* Whole: a list cut inside a member is no tracestate at all. */
        put_text_max(b, h->trace_state, h->trace_state_len, h->trace_state_len);
    }
    tg_buf_puts(b, ",\"name\":");
    put_text(b, h->name, h->name_len);
    tg_buf_puts(b, h->kind == TG_SPAN_SERVER ? ",\"kind\":2" : ",\"kind\":3");
    tg_buf_puts(b, ",\"startTimeUnixNano\":");
    put_u64_string(b, h->start_unix_ns);
    tg_buf_puts(b, ",\"endTimeUnixNano\":");
    put_u64_string(b, h->end_unix_ns < h->start_unix_ns ? h->start_unix_ns : h->end_unix_ns);
    tg_buf_puts(b, ",\"attributes\":[");
}

static void attr_head(struct tg_span_writer *w, const char *key, const char *type)
{
    struct tg_buf *b = w->b;
    if (w->n_attrs++)
        tg_buf_putc(b, ',');
    tg_buf_puts(b, "{\"key\":\"");
    tg_buf_puts(b, key);
    tg_buf_puts(b, "\",\"value\":{\"");
    tg_buf_puts(b, type);
    tg_buf_puts(b, "\":");
}

void tg_otlp_attr_str(struct tg_span_writer *w, const char *key, const char *s, size_t n)
{
    put_attr_str(w->b, w->n_attrs++ > 0, key, s, n);
}

void tg_otlp_attr_cstr(struct tg_span_writer *w, const char *key, const char *s)
{
    tg_otlp_attr_str(w, key, s, strlen(s));
}

void tg_otlp_attr_int(struct tg_span_writer *w, const char *key, int64_t v)
{
    attr_head(w, key, "intValue");
    tg_buf_putc(w->b, '"');
    if (v < 0) {
        tg_buf_putc(w->b, '-');
        tg_buf_put_u64(w->b, (uint64_t)0 - (uint64_t)v);
    } else {
        tg_buf_put_u64(w->b, (uint64_t)v);
    }
    tg_buf_puts(w->b, "\"}}");
}

void tg_otlp_attr_double(struct tg_span_writer *w, const char *key, double v)
{
    if (!isfinite(v))
        v = 0; /* JSON has no NaN or infinity */
    attr_head(w, key, "doubleValue");
    char num[32];
    int n = snprintf(num, sizeof(num), "%.17g", v);
    tg_buf_append(w->b, num, (size_t)n);
    tg_buf_puts(w->b, "}}");
}

void tg_otlp_attr_bool(struct tg_span_writer *w, const char *key, bool v)
{
    attr_head(w, key, "boolValue");
    tg_buf_puts(w->b, v ? "true}}" : "false}}");
}

void tg_otlp_span_close(struct tg_span_writer *w, enum tg_span_status status, const char *message)
{
    struct tg_buf *b = w->b;
    tg_buf_puts(b, "]");
    if (status != TG_SPAN_UNSET) {
        tg_buf_puts(b, status == TG_SPAN_OK ? ",\"status\":{\"code\":1" : ",\"status\":{\"code\":2");
        if (message && message[0]) {
            tg_buf_puts(b, ",\"message\":");
            put_text(b, message, strlen(message));
        }
        tg_buf_putc(b, '}');
    }
    tg_buf_putc(b, '}');
}

/* OTLP/HTTP JSON spans (see otlp.h).
 *
 * Written for the request path: each piece reserves room for its worst case
 * once, then writes straight into the buffer (literals as fixed-size
 * copies, numbers and hex without printf), and text that needs no escape
 * goes in one copy. */
#include "telemetry/otlp.h"

#include <math.h>
#include <stdio.h>

#include "util/hex.h"
#include "util/utf8.h"

/* Room for one attribute beyond its key and value. */
#define ATTR_FRAME 48
#define NUM_MAX 32 /* a number's text, at most */

/* Appends into room already reserved. The pieces are short (keys, names,
 * ids): fixed-size moves that overlap at the end cost less than a memcpy
 * call, and read nothing outside s[0..n). */
static inline void put(struct tg_buf *b, const char *s, size_t n)
{
    char *d = b->data + b->len;
    if (n > 64) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            memcpy(d + i, s + i, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    b->len += n;
}
#define PUT_LIT(b, lit) put(b, lit, sizeof(lit) - 1)

static inline void end(struct tg_buf *b)
{
    b->data[b->len] = '\0'; /* tg_buf's promise */
}

/* The bytes of s[0..n) to write: at most TG_OTLP_VALUE_MAX, never ending
 * inside a UTF-8 character. */
static size_t cut(const char *s, size_t n)
{
    if (n <= TG_OTLP_VALUE_MAX)
        return n;
    n = TG_OTLP_VALUE_MAX;
    for (int back = 0; back < 3 && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; back++)
        n--;
    return n;
}

/* Bytes that go into a JSON string as they are: printable ASCII but '"'
 * and '\\'. */
static const bool plain[256] = {
    [' '] = 1, ['!'] = 1, ['#' ... '['] = 1, [']' ... '~'] = 1,
};

/* s as a JSON string of valid UTF-8 (a collector refuses the whole batch
 * otherwise): each invalid byte becomes U+FFFD. Room: 6 bytes a byte + 2. */
static void put_text(struct tg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    b->data[b->len++] = '"';
    size_t i = 0, run = 0; /* run: start of bytes not yet written */
    while (i < n) {
        unsigned char c = u[i];
        if (plain[c]) {
            i++;
            continue;
        }
        size_t len = c >= 0x80 ? tg_utf8_seq_len(u + i, n - i) : 0;
        if (len > 0) {
            i += len;
            continue;
        }
        put(b, s + run, i - run);
        switch (c) {
        case '"': PUT_LIT(b, "\\\""); break;
        case '\\': PUT_LIT(b, "\\\\"); break;
        case '\n': PUT_LIT(b, "\\n"); break;
        case '\r': PUT_LIT(b, "\\r"); break;
        case '\t': PUT_LIT(b, "\\t"); break;
        default:
            if (c >= 0x80) {
                PUT_LIT(b, "\\ufffd");
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(b, esc, 6);
            }
        }
        run = ++i;
    }
    put(b, s + run, n - run);
    b->data[b->len++] = '"';
}

static void put_hex_id(struct tg_buf *b, const uint8_t *id, size_t n)
{
    b->data[b->len++] = '"';
    tg_hex_encode(id, n, b->data + b->len); /* its NUL is overwritten next */
    b->len += 2 * n;
    b->data[b->len++] = '"';
}

static void put_u64(struct tg_buf *b, uint64_t v)
{
    b->len += tg_u64_decimal(v, b->data + b->len);
}

static void put_double(struct tg_buf *b, double v)
{
    b->len += (size_t)snprintf(b->data + b->len, NUM_MAX, "%.17g", isfinite(v) ? v : 0);
}

/* A finite |v| < 1e9 as fixed point with up to 9 decimals; else exactly. */
static void put_decimal(struct tg_buf *b, double v)
{
    double mag = fabs(v);
    if (!(mag < 1e9)) {
        put_double(b, v);
        return;
    }
    uint64_t nano = (uint64_t)llround(mag * 1e9);
    if (v < 0 && nano)
        b->data[b->len++] = '-';
    put_u64(b, nano / 1000000000u);
    uint64_t frac = nano % 1000000000u;
    if (!frac)
        return;
    char digits[9];
    for (int i = 8; i >= 0; i--, frac /= 10)
        digits[i] = (char)('0' + frac % 10);
    size_t len = 9;
    while (digits[len - 1] == '0')
        len--;
    b->data[b->len++] = '.';
    put(b, digits, len);
}

static void attr_key(struct tg_span_writer *w, const char *key, size_t key_len, size_t value_room)
{
    struct tg_buf *b = w->b;
    tg_buf_reserve(b, key_len + value_room + ATTR_FRAME);
    if (w->n_attrs++)
        b->data[b->len++] = ',';
    PUT_LIT(b, "{\"key\":\"");
    put(b, key, key_len);
}

void tg_otlp_open(struct tg_buf *b, const char *service_name, const char *instance_id)
{
    tg_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    struct tg_span_writer w = {b, 0};
    tg_otlp_attr_cstr(&w, "service.name", service_name);
    tg_otlp_attr_cstr(&w, "service.version", TG_VERSION);
    tg_otlp_attr_cstr(&w, "service.instance.id", instance_id);
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
    size_t name_len = cut(h->name, h->name_len);
    /* traceState whole: a list cut inside a member is no tracestate at all
     * (its reader bounds it). */
    size_t state_len = h->trace_state ? h->trace_state_len : 0;
    tg_buf_reserve(b, 256 + 6 * (name_len + state_len));
    PUT_LIT(b, "{\"traceId\":");
    put_hex_id(b, h->trace_id, 16);
    PUT_LIT(b, ",\"spanId\":");
    put_hex_id(b, h->span_id, 8);
    if (h->parent_id) {
        PUT_LIT(b, ",\"parentSpanId\":");
        put_hex_id(b, h->parent_id, 8);
    }
    if (state_len) {
        PUT_LIT(b, ",\"traceState\":");
        put_text(b, h->trace_state, state_len);
    }
    PUT_LIT(b, ",\"name\":");
    put_text(b, h->name, name_len);
    if (h->kind == TG_SPAN_SERVER)
        PUT_LIT(b, ",\"kind\":2,\"startTimeUnixNano\":\"");
    else
        PUT_LIT(b, ",\"kind\":3,\"startTimeUnixNano\":\"");
    put_u64(b, h->start_unix_ns);
    PUT_LIT(b, "\",\"endTimeUnixNano\":\"");
    put_u64(b, h->end_unix_ns < h->start_unix_ns ? h->start_unix_ns : h->end_unix_ns);
    PUT_LIT(b, "\",\"attributes\":[");
    end(b);
}

void tg_otlp_attr_strk(struct tg_span_writer *w, const char *key, size_t key_len, const char *s,
                       size_t n)
{
    struct tg_buf *b = w->b;
    n = cut(s, n);
    attr_key(w, key, key_len, 6 * n);
    PUT_LIT(b, "\",\"value\":{\"stringValue\":");
    put_text(b, s, n);
    PUT_LIT(b, "}}");
    end(b);
}

void tg_otlp_attr_intk(struct tg_span_writer *w, const char *key, size_t key_len, int64_t v)
{
    struct tg_buf *b = w->b;
    attr_key(w, key, key_len, NUM_MAX);
    PUT_LIT(b, "\",\"value\":{\"intValue\":\"");
    if (v < 0)
        b->data[b->len++] = '-';
    put_u64(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    PUT_LIT(b, "\"}}");
    end(b);
}

void tg_otlp_attrs_raw(struct tg_span_writer *w, const struct tg_buf *attrs, size_t n)
{
    struct tg_buf *b = w->b;
    tg_buf_reserve(b, attrs->len + 1);
    if (w->n_attrs)
        b->data[b->len++] = ',';
    put(b, attrs->data, attrs->len);
    end(b);
    w->n_attrs += n;
}

static void double_attr(struct tg_span_writer *w, const char *key, size_t key_len, double v,
                        bool decimal)
{
    struct tg_buf *b = w->b;
    attr_key(w, key, key_len, NUM_MAX);
    PUT_LIT(b, "\",\"value\":{\"doubleValue\":");
    if (decimal)
        put_decimal(b, v);
    else
        put_double(b, v);
    PUT_LIT(b, "}}");
    end(b);
}

void tg_otlp_attr_doublek(struct tg_span_writer *w, const char *key, size_t key_len, double v)
{
    double_attr(w, key, key_len, v, false);
}

void tg_otlp_attr_decimalk(struct tg_span_writer *w, const char *key, size_t key_len, double v)
{
    double_attr(w, key, key_len, v, true);
}

void tg_otlp_attr_boolk(struct tg_span_writer *w, const char *key, size_t key_len, bool v)
{
    struct tg_buf *b = w->b;
    attr_key(w, key, key_len, NUM_MAX);
    if (v)
        PUT_LIT(b, "\",\"value\":{\"boolValue\":true}}");
    else
        PUT_LIT(b, "\",\"value\":{\"boolValue\":false}}");
    end(b);
}

void tg_otlp_span_close(struct tg_span_writer *w, enum tg_span_status status, const char *message)
{
    struct tg_buf *b = w->b;
    size_t msg_len = message ? cut(message, strlen(message)) : 0;
    tg_buf_reserve(b, 64 + 6 * msg_len);
    b->data[b->len++] = ']';
    if (status != TG_SPAN_UNSET) {
        if (status == TG_SPAN_OK)
            PUT_LIT(b, ",\"status\":{\"code\":1");
        else
            PUT_LIT(b, ",\"status\":{\"code\":2");
        if (msg_len) {
            PUT_LIT(b, ",\"message\":");
            put_text(b, message, msg_len);
        }
        b->data[b->len++] = '}';
    }
    b->data[b->len++] = '}';
    end(b);
}

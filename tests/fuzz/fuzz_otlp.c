/* OTLP/HTTP JSON bodies (telemetry/otlp.c) carrying any bytes a client or a
 * provider could put in a span: a model name, a URL path, a tracestate, an
 * error message. Byte 0 picks the span's shape (kind, parent, status),
 * bytes 1-6 are the lengths (16 bits, little-endian) of the first three of
 * four strings the rest is cut into: the span name, a string attribute's
 * value, the tracestate, and the status message (the rest, up to its first
 * NUL, as a C string); the service name and instance id are the first two
 * up to a NUL; the last 8 bytes are also an int64 and a double attribute.
 * Two spans are written. The body must pass the strict checker (no duplicate key; no odd
 * escape unless the input has a NUL, the only byte written as \u0000),
 * parse with cJSON into the export's shape, and each string must read back
 * as the input when that was valid UTF-8 of at most TG_OTLP_VALUE_MAX bytes,
 * or as valid UTF-8 of at most 3 bytes per input byte kept otherwise. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "fuzz.h"
#include "telemetry/otlp.h"
#include "util/json.h"
#include "util/utf8.h"

struct piece {
    char *p; /* exact-size heap copy, so a read past n shows under ASan */
    size_t n;
};

static struct piece copy_piece(const uint8_t *data, size_t n)
{
    struct piece s = {malloc(n ? n : 1), n};
    FUZZ_CHECK(s.p != NULL, "out of memory");
    if (n)
        memcpy(s.p, data, n);
    return s;
}

/* s[0..n) up to its first NUL, NUL-terminated. */
static char *c_string(const struct piece *s)
{
    const char *nul = memchr(s->p, '\0', s->n);
    size_t n = nul ? (size_t)(nul - s->p) : s->n;
    char *c = malloc(n + 1);
    FUZZ_CHECK(c != NULL, "out of memory");
    memcpy(c, s->p, n);
    c[n] = '\0';
    return c;
}

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = tg_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* What a collector reads for s[0..n) (got): valid UTF-8; the input itself
 * when it was valid UTF-8 without NUL within the limit (max); a prefix of it
 * cut at most 3 bytes before the limit when it was valid and longer. */
static void check_text_max(const char *what, const cJSON *got, const char *s, size_t n,
                           size_t max)
{
    FUZZ_CHECK(cJSON_IsString(got), "%s is not a string", what);
    const char *g = got->valuestring;
    size_t len = strlen(g);
    FUZZ_CHECK(valid_utf8(g, len), "%s is not valid UTF-8", what);
    size_t kept = n < max ? n : max;
    FUZZ_CHECK(len <= 3 * kept, "%s: %zu bytes from %zu", what, len, n);
    if (memchr(s, '\0', n) || !valid_utf8(s, n))
        return;
    if (n <= max) {
        FUZZ_CHECK(len == n && memcmp(g, s, n) == 0, "%s changed", what);
    } else {
        FUZZ_CHECK(len <= max && len + 3 >= max && memcmp(g, s, len) == 0,
                   "%s cut to %zu bytes", what, len);
    }
}

static void check_text(const char *what, const cJSON *got, const char *s, size_t n)
{
    check_text_max(what, got, s, n, TG_OTLP_VALUE_MAX);
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    FUZZ_CHECK(m != NULL, "no member %s", key);
    return m;
}

static const uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                     0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t span_a[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t span_b[8] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 7)
        return 0;
    uint8_t shape = data[0];
    const uint8_t *rest = data + 7;
    size_t n = size - 7, at = 0;
    struct piece s[4];
    for (int i = 0; i < 4; i++) {
        size_t len = i < 3 ? (size_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8) : n - at;
        if (len > n - at)
            len = n - at;
        s[i] = copy_piece(rest + at, len);
        at += len;
    }
    int64_t iv = 0;
    double dv = 0;
    if (n >= 8) {
        memcpy(&iv, rest + n - 8, 8);
        memcpy(&dv, rest + n - 8, 8);
    }
    char *service = c_string(&s[0]), *instance = c_string(&s[1]), *message = c_string(&s[3]);
    enum tg_span_status status = (enum tg_span_status)(shape % 3);
    bool has_nul = memchr(rest, '\0', n) != NULL;

    struct tg_buf b = TG_BUF_INIT;
    tg_otlp_open(&b, service, instance);
    for (int k = 0; k < 2; k++) {
        if (k)
            tg_buf_putc(&b, ',');
        struct tg_span_head h = {
            .trace_id = trace_id,
            .span_id = k ? span_b : span_a,
            .parent_id = (shape & 4) || k ? span_a : NULL,
            .trace_state = s[2].p,
            .trace_state_len = s[2].n,
            .name = s[0].p,
            .name_len = s[0].n,
            .kind = shape & 8 ? TG_SPAN_SERVER : TG_SPAN_CLIENT,
            .start_unix_ns = (uint64_t)iv,
            .end_unix_ns = shape & 16 ? (uint64_t)iv - 1 : (uint64_t)iv + 1,
        };
        struct tg_span_writer w;
        tg_otlp_span_open(&w, &b, &h);
        tg_otlp_attr_str(&w, "v", s[1].p, s[1].n);
        tg_otlp_attr_int(&w, "i", iv);
        tg_otlp_attr_double(&w, "d", dv);
        tg_otlp_attr_bool(&w, "b", shape & 32);
        tg_otlp_attr_cstr(&w, "m", message);
        tg_otlp_span_close(&w, status, message);
    }
    tg_otlp_close(&b);

    struct tg_json_check_opts opts = {.flags = TG_JSON_NO_DUP_KEYS |
                                               (has_nul ? 0 : TG_JSON_NO_ODD_ESCAPES)};
    struct tg_json_error err = {0, NULL};
    FUZZ_CHECK(tg_json_check(b.data, b.len, &opts, &err), "body refused at %zu: %s", err.offset,
               err.what);
    for (size_t i = 0; i < b.len; i++)
        FUZZ_CHECK((unsigned char)b.data[i] >= 0x20, "raw control byte at %zu", i);
    cJSON *root = tg_json_parse_provider(b.data, b.len);
    FUZZ_CHECK(root != NULL, "cJSON refused the body");

    const cJSON *rs = cJSON_GetArrayItem(member(root, "resourceSpans"), 0);
    const cJSON *ra = member(member(rs, "resource"), "attributes");
    check_text("service.name", member(member(cJSON_GetArrayItem(ra, 0), "value"), "stringValue"),
               service, strlen(service));
    check_text("service.instance.id",
               member(member(cJSON_GetArrayItem(ra, 2), "value"), "stringValue"), instance,
               strlen(instance));
    const cJSON *spans = member(cJSON_GetArrayItem(member(rs, "scopeSpans"), 0), "spans");
    FUZZ_CHECK(cJSON_GetArraySize(spans) == 2, "%d spans", cJSON_GetArraySize(spans));
    for (const cJSON *sp = spans->child; sp; sp = sp->next) {
        check_text("name", member(sp, "name"), s[0].p, s[0].n);
        if (s[2].n)
            /* Whole: its reader (tg_tracestate_clean) bounds it. */
            check_text_max("traceState", member(sp, "traceState"), s[2].p, s[2].n, s[2].n);
        else
            FUZZ_CHECK(!cJSON_GetObjectItemCaseSensitive(sp, "traceState"), "empty traceState");
        const cJSON *attrs = member(sp, "attributes");
        FUZZ_CHECK(cJSON_GetArraySize(attrs) == 5, "%d attributes", cJSON_GetArraySize(attrs));
        check_text("v", member(member(cJSON_GetArrayItem(attrs, 0), "value"), "stringValue"),
                   s[1].p, s[1].n);
        const cJSON *i = member(member(cJSON_GetArrayItem(attrs, 1), "value"), "intValue");
        char want[24];
        snprintf(want, sizeof(want), "%lld", (long long)iv);
        FUZZ_CHECK(cJSON_IsString(i) && strcmp(i->valuestring, want) == 0, "intValue of %s", want);
        const cJSON *d = member(member(cJSON_GetArrayItem(attrs, 2), "value"), "doubleValue");
        FUZZ_CHECK(cJSON_IsNumber(d), "doubleValue not a number");
        if (isfinite(dv)) /* %.17g reads back exactly */
            FUZZ_CHECK(d->valuedouble == dv, "double %.17g read as %.17g", dv, d->valuedouble);
        else
            FUZZ_CHECK(d->valuedouble == 0, "NaN or infinity read as %.17g", d->valuedouble);
        const cJSON *start = member(sp, "startTimeUnixNano"), *end = member(sp, "endTimeUnixNano");
        FUZZ_CHECK(cJSON_IsString(start) && cJSON_IsString(end), "times not strings");
        unsigned long long st = strtoull(start->valuestring, NULL, 10),
                           en = strtoull(end->valuestring, NULL, 10);
        FUZZ_CHECK(st == (uint64_t)iv && en >= st, "times %llu..%llu", st, en);
        const cJSON *st_obj = cJSON_GetObjectItemCaseSensitive(sp, "status");
        FUZZ_CHECK((st_obj != NULL) == (status != TG_SPAN_UNSET), "status member");
        if (st_obj && message[0])
            check_text("status.message", member(st_obj, "message"), message, strlen(message));
    }
    cJSON_Delete(root);
    tg_buf_free(&b);
    free(service);
    free(instance);
    free(message);
    for (int i = 0; i < 4; i++)
        free(s[i].p);
    return 0;
}

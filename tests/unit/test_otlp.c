/* Unit tests of telemetry/otlp.c: the body of an OTLP/HTTP JSON export
 * (ExportTraceServiceRequest) as a collector reads it. A body of three
 * spans is checked member by member (names, order, types: ids in lowercase
 * hex, enums as integers, 64-bit integers as decimal strings), then strings
 * a client or provider could send (invalid UTF-8, control characters, NUL,
 * values past TG_OTLP_VALUE_MAX) are written into every string a span
 * carries; each body must pass the strict RFC 8259 checker and hold valid
 * UTF-8 a collector accepts. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "fakes.h"
#include "telemetry/otlp.h"
#include "util/json.h"
#include "util/utf8.h"

#define FFFD "\xef\xbf\xbd"

static const uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                     0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t server_id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t client_id[8] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
#define TRACE_HEX "4bf92f3577b34da6a3ce929d0e0e4736"
#define SERVER_HEX "00f067aa0ba902b7"
#define CLIENT_HEX "fedcba9876543210"

/* ---- helpers ------------------------------------------------------------- */

/* The body passes the strict checker with no duplicate key; with no odd
 * escape either when no input had a NUL (the only byte written as \u0000). */
static void assert_strict(const struct tg_buf *b, bool nul_inside)
{
    struct tg_json_check_opts opts = {.flags = TG_JSON_NO_DUP_KEYS |
                                               (nul_inside ? 0 : TG_JSON_NO_ODD_ESCAPES)};
    struct tg_json_error err = {0, NULL};
    if (!tg_json_check(b->data, b->len, &opts, &err))
        fail_msg("body refused at byte %zu (%s): %.*s", err.offset, err.what,
                 (int)(b->len - err.offset < 80 ? b->len - err.offset : 80), b->data + err.offset);
    for (size_t i = 0; i < b->len; i++)
        if ((unsigned char)b->data[i] < 0x20)
            fail_msg("raw control byte 0x%02x at %zu", (unsigned char)b->data[i], i);
}

static cJSON *parse_body(const struct tg_buf *b, bool nul_inside)
{
    assert_strict(b, nul_inside);
    cJSON *root = tg_json_parse_provider(b->data, b->len);
    if (!root)
        fail_msg("cJSON could not read the body: %s", b->data);
    return root;
}

/* The object's member names, in order, joined by ','. */
static void assert_members(const cJSON *obj, const char *want)
{
    assert_true(cJSON_IsObject(obj));
    char got[512] = "";
    size_t n = 0;
    for (const cJSON *m = obj->child; m; m = m->next)
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", n ? "," : "", m->string);
    if (strcmp(got, want) != 0)
        fail_msg("members \"%s\", expected \"%s\"", got, want);
}

static const cJSON *at(const cJSON *root, const char *path)
{
    const cJSON *n = tg_test_at(root, path);
    if (!n)
        fail_msg("no %s", path);
    return n;
}

static const char *str_at(const cJSON *root, const char *path)
{
    const cJSON *n = at(root, path);
    if (!cJSON_IsString(n))
        fail_msg("%s is not a string", path);
    return n->valuestring;
}

/* Attribute i of the list at path: its key, and its value as an object of
 * exactly one member named type. */
static const cJSON *attr(const cJSON *root, const char *path, int i, const char *key,
                         const char *type)
{
    const cJSON *a = cJSON_GetArrayItem(at(root, path), i);
    if (!a)
        fail_msg("%s has no attribute %d", path, i);
    assert_members(a, "key,value");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(a, "key");
    assert_true(cJSON_IsString(k));
    if (strcmp(k->valuestring, key) != 0)
        fail_msg("%s.%d is \"%s\", expected \"%s\"", path, i, k->valuestring, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "value");
    assert_members(v, type);
    return v->child;
}

static bool lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static uint64_t decimal(const char *s)
{
    assert_true(s[0] >= '1' && s[0] <= '9');
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        assert_true(*p >= '0' && *p <= '9');
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

static struct tg_span_head head(const char *name, enum tg_span_kind kind, const uint8_t *span,
                                const uint8_t *parent, uint64_t start, uint64_t end)
{
    return (struct tg_span_head){.trace_id = trace_id,
                                 .span_id = span,
                                 .parent_id = parent,
                                 .name = name,
                                 .name_len = strlen(name),
                                 .kind = kind,
                                 .start_unix_ns = start,
                                 .end_unix_ns = end};
}

/* One body with one client span whose string attribute "v", span name,
 * traceState and status message are all s[0..n). */
static void hostile_body(struct tg_buf *b, const char *s, size_t n)
{
    tg_otlp_open(b, "tailgate", "i-1");
    struct tg_span_head h = head("x", TG_SPAN_CLIENT, client_id, server_id, 1, 2);
    h.name = s;
    h.name_len = n;
    h.trace_state = s;
    h.trace_state_len = n;
    struct tg_span_writer w;
    tg_otlp_span_open(&w, b, &h);
    tg_otlp_attr_str(&w, "v", s, n);
    tg_otlp_attr_int(&w, "n", 1);
    char *msg = malloc(n + 1);
    assert_non_null(msg);
    memcpy(msg, s, n);
    msg[n] = '\0';
    tg_otlp_span_close(&w, TG_SPAN_ERROR, msg);
    free(msg);
    tg_otlp_close(b);
}

/* What the collector reads back as attribute "v" of s[0..n), malloc'd;
 * also checks the span name and traceState read the same. */
static char *written(const char *s, size_t n)
{
    struct tg_buf b = TG_BUF_INIT;
    char *copy = malloc(n ? n : 1); /* exact size: ASan sees a read past n */
    assert_non_null(copy);
    memcpy(copy, s, n);
    hostile_body(&b, copy, n);
    free(copy);
    cJSON *root = parse_body(&b, memchr(s, '\0', n) != NULL);
    const char *spans = "resourceSpans.0.scopeSpans.0.spans.0";
    char path[128];
    snprintf(path, sizeof(path), "%s.attributes", spans);
    const cJSON *v = attr(root, path, 0, "v", "stringValue");
    char *out = strdup(v->valuestring);
    assert_non_null(out);
    snprintf(path, sizeof(path), "%s.name", spans);
    assert_string_equal(str_at(root, path), out);
    snprintf(path, sizeof(path), "%s.traceState", spans);
    /* An empty one is left out; a longer one is written whole (its reader,
     * tg_tracestate_clean, bounds it; fuzz_otlp checks it). */
    if (n > 0 && n <= TG_OTLP_VALUE_MAX)
        assert_string_equal(str_at(root, path), out);
    cJSON_Delete(root);
    tg_buf_free(&b);
    return out;
}

static void expect_written(const char *s, size_t n, const char *want)
{
    char *got = written(s, n);
    if (strcmp(got, want) != 0)
        fail_msg("\"%s\" written as \"%s\", expected \"%s\"", s, got, want);
    free(got);
}

#define EXPECT(lit, want) expect_written(lit, sizeof(lit) - 1, want)

/* ---- the body's shape ---------------------------------------------------- */

static void test_body_shape(void **state)
{
    (void)state;
    struct tg_buf b = TG_BUF_INIT;
    tg_otlp_open(&b, "gateway-eu", "host-7/1234");

    /* A server span, root of its trace here, with the client's tracestate
     * and an attribute of every type. */
    struct tg_span_head h = head("POST /v1/chat/completions", TG_SPAN_SERVER, server_id, NULL,
                                 UINT64_C(1764990000123456789), UINT64_C(1764990000128456789));
    h.trace_state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    h.trace_state_len = strlen(h.trace_state);
    struct tg_span_writer w;
    tg_otlp_span_open(&w, &b, &h);
    tg_otlp_attr_cstr(&w, "http.request.method", "POST");
    tg_otlp_attr_str(&w, "url.path", "/v1/chat/completions?x", 20);
    tg_otlp_attr_int(&w, "http.response.status_code", 200);
    tg_otlp_attr_int(&w, "neg", -42);
    tg_otlp_attr_int(&w, "zero", 0);
    tg_otlp_attr_int(&w, "min", INT64_MIN);
    tg_otlp_attr_int(&w, "max", INT64_MAX);
    tg_otlp_attr_double(&w, "cost", 0.125);
    tg_otlp_attr_double(&w, "small", 1e-300);
    tg_otlp_attr_double(&w, "tenth", 0.1);
    tg_otlp_attr_double(&w, "nan", NAN);
    tg_otlp_attr_double(&w, "inf", INFINITY);
    tg_otlp_attr_double(&w, "-inf", -INFINITY);
    tg_otlp_attr_bool(&w, "yes", true);
    tg_otlp_attr_bool(&w, "no", false);
    tg_otlp_span_close(&w, TG_SPAN_UNSET, "ignored without a status");

    /* A client span, child of it, that ended "before" it started (a clock
     * step): the end is written as the start. */
    tg_buf_putc(&b, ',');
    h = head("chat gpt-4o", TG_SPAN_CLIENT, client_id, server_id, UINT64_C(1764990000125000000),
             UINT64_C(1764990000124000000));
    tg_otlp_span_open(&w, &b, &h);
    tg_otlp_attr_cstr(&w, "tailgate.outcome", "timeout");
    tg_otlp_span_close(&w, TG_SPAN_ERROR, "upstream timed out");

    /* A span with no attribute, status OK and no message. */
    tg_buf_putc(&b, ',');
    h = head("s", TG_SPAN_CLIENT, client_id, server_id, 1, 1);
    tg_otlp_span_open(&w, &b, &h);
    tg_otlp_span_close(&w, TG_SPAN_OK, "");
    tg_otlp_close(&b);

    cJSON *root = parse_body(&b, false);
    assert_members(root, "resourceSpans");
    assert_int_equal(cJSON_GetArraySize(at(root, "resourceSpans")), 1);
    assert_members(at(root, "resourceSpans.0"), "resource,scopeSpans");
    assert_members(at(root, "resourceSpans.0.resource"), "attributes");
    const char *ra = "resourceSpans.0.resource.attributes";
    assert_int_equal(cJSON_GetArraySize(at(root, ra)), 3);
    assert_string_equal(attr(root, ra, 0, "service.name", "stringValue")->valuestring,
                        "gateway-eu");
    assert_string_equal(attr(root, ra, 1, "service.version", "stringValue")->valuestring,
                        TG_VERSION);
    assert_string_equal(attr(root, ra, 2, "service.instance.id", "stringValue")->valuestring,
                        "host-7/1234");

    assert_int_equal(cJSON_GetArraySize(at(root, "resourceSpans.0.scopeSpans")), 1);
    assert_members(at(root, "resourceSpans.0.scopeSpans.0"), "scope,spans");
    assert_members(at(root, "resourceSpans.0.scopeSpans.0.scope"), "name,version");
    assert_string_equal(str_at(root, "resourceSpans.0.scopeSpans.0.scope.name"), "tailgate");
    assert_string_equal(str_at(root, "resourceSpans.0.scopeSpans.0.scope.version"), TG_VERSION);
    const cJSON *spans = at(root, "resourceSpans.0.scopeSpans.0.spans");
    assert_int_equal(cJSON_GetArraySize(spans), 3);

    /* the server span */
    const cJSON *s = cJSON_GetArrayItem(spans, 0);
    assert_members(s, "traceId,spanId,traceState,name,kind,startTimeUnixNano,endTimeUnixNano,"
                      "attributes");
    assert_true(lower_hex(str_at(s, "traceId"), 32));
    assert_string_equal(str_at(s, "traceId"), TRACE_HEX);
    assert_true(lower_hex(str_at(s, "spanId"), 16));
    assert_string_equal(str_at(s, "spanId"), SERVER_HEX);
    assert_string_equal(str_at(s, "traceState"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_string_equal(str_at(s, "name"), "POST /v1/chat/completions");
    assert_true(cJSON_IsNumber(at(s, "kind")));
    assert_int_equal(at(s, "kind")->valueint, 2);
    assert_string_equal(str_at(s, "startTimeUnixNano"), "1764990000123456789");
    assert_string_equal(str_at(s, "endTimeUnixNano"), "1764990000128456789");
    assert_int_equal(cJSON_GetArraySize(at(s, "attributes")), 15);
    assert_string_equal(attr(s, "attributes", 0, "http.request.method", "stringValue")->valuestring,
                        "POST");
    assert_string_equal(attr(s, "attributes", 1, "url.path", "stringValue")->valuestring,
                        "/v1/chat/completions");
    static const struct {
        const char *key, *value;
    } ints[] = {{"http.response.status_code", "200"},
                {"neg", "-42"},
                {"zero", "0"},
                {"min", "-9223372036854775808"},
                {"max", "9223372036854775807"}};
    for (int i = 0; i < 5; i++) {
        const cJSON *v = attr(s, "attributes", 2 + i, ints[i].key, "intValue");
        assert_true(cJSON_IsString(v)); /* int64 in protobuf's JSON mapping */
        assert_string_equal(v->valuestring, ints[i].value);
    }
    static const struct {
        const char *key;
        double value;
    } dbls[] = {{"cost", 0.125}, {"small", 1e-300}, {"tenth", 0.1},
                {"nan", 0},      {"inf", 0},        {"-inf", 0}};
    for (int i = 0; i < 6; i++) {
        const cJSON *v = attr(s, "attributes", 7 + i, dbls[i].key, "doubleValue");
        assert_true(cJSON_IsNumber(v));
        if (v->valuedouble != dbls[i].value) /* %.17g round-trips exactly */
            fail_msg("%s is %.17g", dbls[i].key, v->valuedouble);
    }
    assert_true(cJSON_IsTrue(attr(s, "attributes", 13, "yes", "boolValue")));
    assert_true(cJSON_IsFalse(attr(s, "attributes", 14, "no", "boolValue")));

    /* the client span: a parent, no traceState, status ERROR with a message */
    s = cJSON_GetArrayItem(spans, 1);
    assert_members(s, "traceId,spanId,parentSpanId,name,kind,startTimeUnixNano,"
                      "endTimeUnixNano,attributes,status");
    assert_string_equal(str_at(s, "traceId"), TRACE_HEX);
    assert_string_equal(str_at(s, "spanId"), CLIENT_HEX);
    assert_string_equal(str_at(s, "parentSpanId"), SERVER_HEX);
    assert_int_equal(at(s, "kind")->valueint, 3);
    uint64_t start = decimal(str_at(s, "startTimeUnixNano"));
    uint64_t end = decimal(str_at(s, "endTimeUnixNano"));
    assert_true(start == UINT64_C(1764990000125000000));
    assert_true(end == start); /* never before the start */
    assert_members(at(s, "status"), "code,message");
    assert_true(cJSON_IsNumber(at(s, "status.code")));
    assert_int_equal(at(s, "status.code")->valueint, 2);
    assert_string_equal(str_at(s, "status.message"), "upstream timed out");

    /* status OK without a message; no attributes is an empty list */
    s = cJSON_GetArrayItem(spans, 2);
    assert_members(s, "traceId,spanId,parentSpanId,name,kind,startTimeUnixNano,"
                      "endTimeUnixNano,attributes,status");
    assert_int_equal(cJSON_GetArraySize(at(s, "attributes")), 0);
    assert_true(cJSON_IsArray(at(s, "attributes")));
    assert_members(at(s, "status"), "code");
    assert_int_equal(at(s, "status.code")->valueint, 1);
    assert_string_equal(str_at(s, "startTimeUnixNano"), "1");

    cJSON_Delete(root);
    tg_buf_free(&b);
}

/* A body without a span is still the message's shape (an empty export). */
static void test_empty_body(void **state)
{
    (void)state;
    struct tg_buf b = TG_BUF_INIT;
    tg_otlp_open(&b, "tailgate", "");
    tg_otlp_close(&b);
    cJSON *root = parse_body(&b, false);
    assert_int_equal(cJSON_GetArraySize(at(root, "resourceSpans.0.scopeSpans.0.spans")), 0);
    assert_string_equal(
        attr(root, "resourceSpans.0.resource.attributes", 2, "service.instance.id", "stringValue")
            ->valuestring,
        "");
    cJSON_Delete(root);
    tg_buf_free(&b);
}

/* The resource's strings come from the config and the host: escaped too. */
static void test_hostile_resource(void **state)
{
    (void)state;
    struct tg_buf b = TG_BUF_INIT;
    tg_otlp_open(&b, "quote\" back\\slash \xff", "tab\there\x01");
    tg_otlp_close(&b);
    cJSON *root = parse_body(&b, false);
    const char *ra = "resourceSpans.0.resource.attributes";
    assert_string_equal(attr(root, ra, 0, "service.name", "stringValue")->valuestring,
                        "quote\" back\\slash " FFFD);
    assert_string_equal(attr(root, ra, 2, "service.instance.id", "stringValue")->valuestring,
                        "tab\there\x01");
    cJSON_Delete(root);
    tg_buf_free(&b);
}

/* ---- hostile strings ----------------------------------------------------- */

/* Each byte that does not begin a valid sequence becomes U+FFFD; valid
 * characters around them are kept. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    EXPECT("plain", "plain");
    EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
    EXPECT("a\xff"
           "b",
           "a" FFFD "b");
    EXPECT("\xc0\x80", FFFD FFFD);                   /* overlong NUL */
    EXPECT("\xe0\x9f\xbf", FFFD FFFD FFFD);          /* overlong U+07FF */
    EXPECT("\xed\xa0\x80", FFFD FFFD FFFD);          /* a surrogate */
    EXPECT("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
    EXPECT("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD);
    EXPECT("\x80\xbf", FFFD FFFD);      /* continuations alone */
    EXPECT("x\xe2\x82", "x" FFFD FFFD); /* truncated at the end */
    EXPECT("\xf0\x9f\x98"
           "x",
           FFFD FFFD FFFD "x");
    EXPECT("\xc3\xa9\xc3", "\xc3\xa9" FFFD);
    EXPECT(FFFD, FFFD); /* U+FFFD itself is kept */
}

/* Control characters are escaped (\n \r \t, the rest \u00XX), quotes and
 * backslashes too; the reader gets the bytes back. NUL is written as
 * \u0000, which cJSON ends a string at. */
static void test_control_characters(void **state)
{
    (void)state;
    EXPECT("a\"b\\c/d", "a\"b\\c/d");
    EXPECT("line\r\nnext\ttab", "line\r\nnext\ttab");
    EXPECT("\x01\x02\x1b[31m\x1f\x7f", "\x01\x02\x1b[31m\x1f\x7f");
    EXPECT("ab\0cd", "ab");

    struct tg_buf b = TG_BUF_INIT;
    hostile_body(&b, "\x01\n\"\\\0x", 6);
    assert_non_null(strstr(b.data, "\"\\u0001\\n\\\"\\\\\\u0000x\""));
    assert_strict(&b, true);
    tg_buf_free(&b);
}

/* Values longer than TG_OTLP_VALUE_MAX bytes are cut there, or up to three
 * bytes before it so as not to split a character. */
static void test_cut(void **state)
{
    (void)state;
    assert_int_equal(TG_OTLP_VALUE_MAX, 256);
    char s[TG_OTLP_VALUE_MAX + 64];
    char *got;

    memset(s, 'a', sizeof(s));
    got = written(s, sizeof(s));
    assert_int_equal(strlen(got), TG_OTLP_VALUE_MAX);
    free(got);
    got = written(s, TG_OTLP_VALUE_MAX);
    assert_int_equal(strlen(got), TG_OTLP_VALUE_MAX);
    free(got);

    /* A character of each length placed at every offset around the cut: the
     * text kept is the longest whole-character prefix of at most 256 bytes. */
    static const char *const chars[] = {"b", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < 4; c++) {
        size_t len = strlen(chars[c]);
        for (size_t at = TG_OTLP_VALUE_MAX - 5; at <= TG_OTLP_VALUE_MAX; at++) {
            memset(s, 'a', sizeof(s));
            memcpy(s + at, chars[c], len);
            bool splits = at < TG_OTLP_VALUE_MAX && at + len > TG_OTLP_VALUE_MAX;
            size_t want = splits ? at : TG_OTLP_VALUE_MAX;
            got = written(s, at + len + 10);
            if (strlen(got) != want || memcmp(got, s, want) != 0)
                fail_msg("char %zu at %zu: kept %zu bytes, expected %zu", c, at, strlen(got), want);
            free(got);
        }
    }

    /* Invalid bytes at the cut: each kept one is U+FFFD, none past 256. */
    memset(s, 0x80, sizeof(s));
    got = written(s, sizeof(s));
    size_t n_fffd = strlen(got) / 3;
    assert_int_equal(strlen(got), 3 * n_fffd);
    assert_true(n_fffd >= TG_OTLP_VALUE_MAX - 3 && n_fffd <= TG_OTLP_VALUE_MAX);
    free(got);
    memset(s, 'a', sizeof(s));
    s[TG_OTLP_VALUE_MAX - 1] = '\xff';
    got = written(s, sizeof(s));
    assert_int_equal(strlen(got), TG_OTLP_VALUE_MAX - 1 + 3);
    assert_memory_equal(got + TG_OTLP_VALUE_MAX - 1, FFFD, 3);
    free(got);

    /* Escapes do not count: 256 quotes are kept whole, written as \". */
    memset(s, '"', sizeof(s));
    got = written(s, sizeof(s));
    assert_int_equal(strlen(got), TG_OTLP_VALUE_MAX);
    free(got);
}

/* Whatever the bytes, every string written is valid UTF-8 of at most
 * TG_OTLP_VALUE_MAX input bytes, and the body is strict JSON. */
static void test_random_bytes(void **state)
{
    (void)state;
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    char s[400];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(x % sizeof(s));
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* mostly high bytes, where UTF-8 goes wrong */
            s[i] = (char)((x & 3) == 0 ? (x >> 8) & 0x7f : 0x80 | ((x >> 8) & 0x7f));
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char *got = written(s, n);
        size_t len = strlen(got);
        for (size_t i = 0; i < len;) {
            size_t k = tg_utf8_seq_len((const unsigned char *)got + i, len - i);
            if (k == 0)
                fail_msg("invalid UTF-8 written at byte %zu", i);
            i += k;
        }
        free(got);
    }
}

/* tg_otlp_attr_decimal: money and milliseconds as fixed point with at most 9
 * decimals and no printf; exact doubles through tg_otlp_attr_double. */
static void test_decimal(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } rows[] = {
        {0, "0"},
        {4e-05, "0.00004"},
        {3.9999999999999996e-05, "0.00004"}, /* a cost as tokens times prices gives it */
        {1.5, "1.5"},
        {-0.25, "-0.25"},
        {0.0000000004, "0"},
        {0.0000000005, "0.000000001"},
        {-0.0000000004, "0"},
        {0.9999999999, "1"},
        {123456.000000001, "123456.000000001"},
        {999999999.5, "999999999.5"},
        {1e9, "1000000000"},
        {NAN, "0"},
        {INFINITY, "0"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_buf b = TG_BUF_INIT;
        struct tg_span_writer w;
        struct tg_span_head h = head("d", TG_SPAN_CLIENT, client_id, NULL, 1, 2);
        tg_otlp_span_open(&w, &b, &h);
        tg_otlp_attr_decimal(&w, "k", rows[i].v);
        tg_otlp_span_close(&w, TG_SPAN_UNSET, NULL);
        char want[96];
        snprintf(want, sizeof(want), "\"attributes\":[{\"key\":\"k\",\"value\":{\"doubleValue\":%s}}]",
                 rows[i].want);
        if (!strstr(b.data, want))
            fail_msg("%.17g written as %s", rows[i].v, b.data);
        tg_buf_free(&b);
    }
}

/* Pre-rendered attributes copied in whole, before and after others. */
static void test_attrs_raw(void **state)
{
    (void)state;
    struct tg_buf pre = TG_BUF_INIT;
    struct tg_span_writer pw = {&pre, 0};
    tg_otlp_attr_cstr(&pw, "a", "1");
    tg_otlp_attr_int(&pw, "b", 2);
    struct tg_buf b = TG_BUF_INIT;
    struct tg_span_writer w;
    struct tg_span_head h = head("d", TG_SPAN_CLIENT, client_id, NULL, 1, 2);
    tg_otlp_span_open(&w, &b, &h);
    tg_otlp_attrs_raw(&w, &pre, pw.n_attrs);
    tg_otlp_attr_bool(&w, "c", true);
    tg_otlp_attrs_raw(&w, &pre, pw.n_attrs);
    assert_int_equal(w.n_attrs, 5);
    tg_otlp_span_close(&w, TG_SPAN_UNSET, NULL);
    const char *want = "\"attributes\":[{\"key\":\"a\",\"value\":{\"stringValue\":\"1\"}},"
                       "{\"key\":\"b\",\"value\":{\"intValue\":\"2\"}},"
                       "{\"key\":\"c\",\"value\":{\"boolValue\":true}},"
                       "{\"key\":\"a\",\"value\":{\"stringValue\":\"1\"}},"
                       "{\"key\":\"b\",\"value\":{\"intValue\":\"2\"}}]}";
    if (!strstr(b.data, want))
        fail_msg("written as %s", b.data);
    tg_buf_free(&b);
    tg_buf_free(&pre);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_shape),         cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_hostile_resource),   cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_control_characters), cmocka_unit_test(test_cut),
        cmocka_unit_test(test_random_bytes),       cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_attrs_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

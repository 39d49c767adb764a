/* Unit tests of the JSON helpers (util/json.c) and of header reading with
 * Retry-After (util/headers.c): strict parsing, member spans found by the
 * scanner, header lookup, and the wait a 429 asks for. Inputs are copied to
 * exact-size blocks without a NUL, so reads past the length are caught. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "util/headers.h"
#include "util/json.h"

static char *exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

/* ---- tg_json_parse_client, _provider, _generated ---- */

static bool parses(const char *text, size_t len)
{
    char *p = exact(text, len);
    cJSON *j = tg_json_parse_client(p, len, NULL);
    free(p);
    cJSON_Delete(j);
    return j != NULL;
}

static void test_parse_strict(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
    } rows[] = {
        {"{}", true},
        {"  {\"a\": [1, 2.5, -3e2, true, false, null, \"s\"]}  \r\n\t", true},
        {"[]", true},
        {"\"just a string\"", true},
        {"42", true},
        {"null", true},
        {"{} x", false}, /* trailing garbage */
        {"{}{}", false}, /* two values */
        {"1 2", false},
        {"[1]]", false},
        {"\"a\"b", false},
        {"{}\n,", false},
        {"{\"a\":1}//", false},
        {"", false},
        {"   ", false},
        {"{", false},
        {"{\"a\":}", false},
        {"{\"a\":1,}", false},
        {"[1,]", false},
        {"{'a':1}", false},
        {"nul", false},
        {"\"unterminated", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (parses(rows[i].text, strlen(rows[i].text)) != rows[i].ok)
            fail_msg("row %zu: \"%s\" %s", i, rows[i].text, rows[i].ok ? "rejected" : "accepted");
    /* A NUL after the value is not whitespace. */
    assert_false(parses("{}\0", 3));
    assert_false(parses("{}\0{}", 5));
    /* Only len bytes are read: the value ends where len says. */
    assert_true(parses("{\"a\":1} garbage", 7));
    assert_false(parses("{\"a\":1} garbage", 6));
    /* Deep nesting is refused, not a crash. */
    enum { DEEP = 100000 };
    char *deep = malloc(2 * DEEP);
    memset(deep, '[', DEEP);
    memset(deep + DEEP, ']', DEEP);
    assert_false(parses(deep, 2 * DEEP));
    free(deep);
}

/* Whose text it is decides the rules: a client's body refuses duplicate
 * keys and odd escapes, a provider's envelope only duplicates, a model's
 * JSON neither; the grammar is the same strict one for all three. */
enum source { CLIENT, PROVIDER, GENERATED };

static cJSON *parse_as(enum source src, const char *text, size_t len)
{
    char *p = exact(text, len);
    cJSON *j = src == CLIENT     ? tg_json_parse_client(p, len, NULL)
               : src == PROVIDER ? tg_json_parse_provider(p, len)
                                 : tg_json_parse_generated(p, len);
    /* The text is read, never mended in place: relayed bytes stay as sent. */
    assert_memory_equal(p, text, len);
    free(p);
    return j;
}

static void test_parse_per_source(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool client, provider, generated;
    } rows[] = {
        {"{\"content\":\"A\\u0000B\"}", false, true, true},
        {"{\"content\":\"\\ud800\"}", false, true, true},
        {"{\"content\":\"\\uDC00 first\"}", false, true, true},
        {"{\"content\":\"\\ud800\\u0041\"}", false, true, true},
        {"{\"a\":1,\"a\":2}", false, false, true},
        {"{\"a\":1,\"\\u0061\":2}", false, false, true},
        {"{\"x\":[{\"a\":1,\"a\":2}]}", false, false, true},
        /* As cJSON reads keys: both are U+FFFD, both are "a". */
        {"{\"\\ud800\":1,\"\\udbff\":2}", false, false, true},
        {"{\"a\\u0000b\":1,\"a\\u0000c\":2}", false, false, true},
        {"{\"a\":1,\"b\":2}", true, true, true},
        /* The grammar is strict for everyone. */
        {"{\"a\":01}", false, false, false},
        {"{\"a\":\"x\ty\"}", false, false, false},
        {"{\"a\":1,}", false, false, false},
        {"[\"\xed\xa0\x80\"]", false, false, false}, /* a surrogate in UTF-8 stays refused */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const bool want[3] = {rows[i].client, rows[i].provider, rows[i].generated};
        for (int src = CLIENT; src <= GENERATED; src++) {
            cJSON *j = parse_as((enum source)src, rows[i].text, strlen(rows[i].text));
            if ((j != NULL) != want[src])
                fail_msg("row %zu (%s) as %s: %s", i, rows[i].text,
                         src == CLIENT     ? "client"
                         : src == PROVIDER ? "provider"
                                           : "generated",
                         j ? "accepted" : "refused");
            cJSON_Delete(j);
        }
    }

    /* What the tree holds: a string ends at \u0000 (cJSON's C strings)... */
    const char *nul = "{\"content\":\"A\\u0000B\",\"n\":1}";
    cJSON *j = parse_as(PROVIDER, nul, strlen(nul));
    assert_string_equal(tg_json_get_str(j, "content"), "A");
    cJSON_Delete(j);
    /* ...a lone surrogate is U+FFFD, pairs are untouched... */
    const char *lone = "{\"c\":\"x\\udc00y\\ud800\\ud800\\udc00z\\ud83d\"}";
    j = parse_as(PROVIDER, lone, strlen(lone));
    assert_string_equal(tg_json_get_str(j, "c"),
                        "x\xef\xbf\xbdy\xef\xbf\xbd\xf0\x90\x80\x80z\xef\xbf\xbd");
    cJSON_Delete(j);
    j = parse_as(GENERATED, lone, strlen(lone));
    assert_non_null(j);
    cJSON_Delete(j);
    /* ...and of a key a model named twice, lookups find the first. */
    const char *dup = "{\"a\":1,\"a\":2}";
    j = parse_as(GENERATED, dup, strlen(dup));
    double v = 0;
    assert_true(tg_json_get_num(j, "a", &v));
    assert_true(v == 1);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);

    /* A client is told why. */
    struct tg_json_error err = {0, NULL};
    assert_null(tg_json_parse_client("[\"\\u0000\"]", 10, &err));
    assert_non_null(strstr(err.what, "\\u0000"));
    assert_int_equal(err.offset, 2);
}

/* Lone surrogate escapes become \uFFFD in place; nothing else moves. */
static void test_mend_surrogates(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t n;
    } rows[] = {
        {"[\"\\ud800\"]", "[\"\\uFFFD\"]", 1},
        {"[\"\\uDFFF\\ud800\\udc00\\\\ud800\"]", "[\"\\uFFFD\\ud800\\udc00\\\\ud800\"]", 1},
        {"{\"\\udbff\":\"\\ud800\\ud800\\udc00\"}", "{\"\\uFFFD\":\"\\uFFFD\\ud800\\udc00\"}", 2},
        {"[\"ud800\",\"\\\"\\ud800\"]", "[\"ud800\",\"\\\"\\uFFFD\"]", 1},
        {"{\"a\":\"\\u0000\"}", "{\"a\":\"\\u0000\"}", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t len = strlen(rows[i].in);
        assert_true(tg_json_check(rows[i].in, len, NULL, NULL));
        char *p = exact(rows[i].in, len);
        assert_int_equal(tg_json_mend_surrogates(p, len), rows[i].n);
        assert_int_equal(strlen(rows[i].out), len);
        assert_memory_equal(p, rows[i].out, len);
        free(p);
    }
}

static void test_getters(void **state)
{
    (void)state;
    const char *text = "{\"s\":\"str\",\"n\":2.5,\"t\":true,\"f\":false,\"z\":null,\"o\":{}}";
    cJSON *j = tg_json_parse_client(text, strlen(text), NULL);
    assert_non_null(j);
    assert_string_equal(tg_json_get_str(j, "s"), "str");
    assert_null(tg_json_get_str(j, "n"));
    assert_null(tg_json_get_str(j, "missing"));
    assert_null(tg_json_get_str(j, "S")); /* case-sensitive */
    double d = 0;
    assert_true(tg_json_get_num(j, "n", &d));
    assert_true(d == 2.5);
    assert_false(tg_json_get_num(j, "s", &d));
    assert_false(tg_json_get_num(j, "z", &d));
    assert_true(tg_json_get_bool(j, "t", false));
    assert_false(tg_json_get_bool(j, "f", true));
    assert_true(tg_json_get_bool(j, "z", true));
    assert_false(tg_json_get_bool(j, "s", false));
    assert_true(tg_json_get_bool(j, "missing", true));
    assert_null(tg_json_get_str(NULL, "s"));
    cJSON_Delete(j);
}

/* ---- tg_json_find_member ---- */

/* The span of `key`'s value as a string, or NULL when not found. */
static char *span(const char *text, size_t len, const char *key)
{
    char *p = exact(text, len);
    size_t start = 99999, end = 99999;
    bool found = tg_json_find_member(p, len, key, &start, &end);
    free(p);
    if (!found)
        return NULL;
    assert_true(start <= end && end <= len);
    char *out = malloc(end - start + 1);
    memcpy(out, text + start, end - start);
    out[end - start] = '\0';
    return out;
}

static void test_find_member(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *key;
        const char *value; /* NULL: not found */
    } rows[] = {
        {"{\"model\":\"gpt-4o\",\"x\":1}", "model", "\"gpt-4o\""},
        {"{\"x\":1,\"model\":\"gpt-4o\"}", "model", "\"gpt-4o\""},
        {" { \"model\" : 12.5e3 , \"y\" : true } ", "model", "12.5e3"},
        {"{\"model\":null}", "model", "null"},
        {"{\"model\":true}", "model", "true"},
        {"{\"model\":-1}", "model", "-1"},
        {"{\"model\":{\"a\":[1,{\"b\":2}]}}", "model", "{\"a\":[1,{\"b\":2}]}"},
        {"{\"model\":[]}", "model", "[]"},
        {"{\"model\":{}}", "model", "{}"},
        {"{\"model\":\"\"}", "model", "\"\""},
        /* Only the top level: a nested key of the same name is not it. */
        {"{\"a\":{\"model\":\"inner\"},\"model\":\"outer\"}", "model", "\"outer\""},
        {"{\"a\":{\"model\":\"inner\"}}", "model", NULL},
        {"{\"a\":[{\"model\":1}],\"b\":2}", "model", NULL},
        /* The key's name inside a string value is not a key. */
        {"{\"a\":\"\\\"model\\\":\\\"fake\\\"\",\"model\":\"real\"}", "model", "\"real\""},
        {"{\"a\":\"model\"}", "model", NULL},
        /* Strings with escaped quotes, backslashes, braces and brackets. */
        {"{\"s\":\"a\\\"}{[\",\"model\":  [1, {\"b\":\"}\"}] , \"z\":null}", "model",
         "[1, {\"b\":\"}\"}]"},
        {"{\"s\":\"x\\\\\",\"model\":2}", "model", "2"},
        {"{\"model\":\"say \\\"hi\\\" {ok}\"}", "model", "\"say \\\"hi\\\" {ok}\""},
        {"{\"model\":\"\\u00e9\\n\"}", "model", "\"\\u00e9\\n\""},
        {"{\"model\":\"caf\xc3\xa9\"}", "model", "\"caf\xc3\xa9\""},
        /* Duplicate keys: not a client body, so no member. */
        {"{\"model\":\"a\",\"model\":\"b\"}", "model", NULL},
        {"{\"model\":\"a\",\"x\":{\"model\":\"c\"},\"model\":[3]}", "model", NULL},
        {"{\"model\":\"a\",\"mo\\u0064el\":\"b\"}", "model", NULL},
        /* A duplicate inside another object is refused too. */
        {"{\"x\":{\"a\":1,\"a\":2},\"model\":1}", "model", NULL},
        /* Keys are compared unescaped, as cJSON reads them. */
        {"{\"mo\\u0064el\":1}", "model", "1"},
        {"{\"\\u006d\\u006f\\u0064\\u0065\\u006c\":\"m\"}", "model", "\"m\""},
        /* Only SP, HT, LF and CR are whitespace, as in tg_json_check. */
        {"{\"x\":1,\v\"model\":2}", "model", NULL},
        {"{\"x\":1,\f\"model\":2}", "model", NULL},
        {"{\"model\":01}", "model", NULL},
        {"{\"model\":1.}", "model", NULL},
        {"{\"model\":\"a\tb\"}", "model", NULL},
        {"{\"models\":1}", "model", NULL},
        {"{\"mode\":1}", "model", NULL},
        {"{\"Model\":1}", "model", NULL},
        /* Not objects. */
        {"[{\"model\":1}]", "model", NULL},
        {"\"model\"", "model", NULL},
        {"null", "model", NULL},
        {"", "model", NULL},
        {"{}", "model", NULL},
        {"   ", "model", NULL},
        /* Broken objects. */
        {"{\"model\":\"a\"", "model", NULL},
        {"{\"model\":", "model", NULL},
        {"{\"model\"", "model", NULL},
        {"{\"model\":\"a\",", "model", NULL},
        {"{\"model\":\"a\" \"x\":1}", "model", NULL},
        {"{model:1}", "model", NULL},
        {"{\"model\":\"unterminated}", "model", NULL},
        {"{\"model\":[1,2}", "model", NULL},
        {"{\"model\":\"a\\", "model", NULL},
        {"{\"x\":{\"a\" 1},\"model\":1}", "model", NULL},
        {"{\"x\":{1:2},\"model\":1}", "model", NULL},
        {"{\"x\":[1 2],\"model\":1}", "model", NULL},
        {"{\"x\":[1,", "model", NULL},
        {"{\"x\":{\"a\"", "model", NULL},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = span(rows[i].text, strlen(rows[i].text), rows[i].key);
        bool ok = (got == NULL && rows[i].value == NULL) ||
                  (got && rows[i].value && strcmp(got, rows[i].value) == 0);
        if (!ok) {
            print_error("row %zu: %s in %s: got %s, expected %s\n", i, rows[i].key, rows[i].text,
                        got ? got : "(not found)", rows[i].value ? rows[i].value : "(not found)");
            bad++;
        }
        free(got);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);

    /* Deep nesting in another member: refused, not a crash. */
    enum { DEEP = 5000 };
    size_t len = 2 * DEEP + 32;
    char *deep = malloc(len + 1);
    int n = snprintf(deep, len, "{\"model\":1,\"x\":");
    memset(deep + n, '[', DEEP);
    memset(deep + n + DEEP, ']', DEEP);
    deep[n + 2 * DEEP] = '}';
    char *got = span(deep, (size_t)n + 2 * DEEP + 1, "model");
    assert_null(got);
    free(deep);
}

/* A member without a value is not an object: no span of zero bytes. */
static void test_find_member_empty_value(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "{\"model\": }",
        "{\"model\":,\"x\":1}",
        "{\"x\":1,\"model\":}",
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = span(rows[i], strlen(rows[i]), "model");
        if (got) {
            print_error("%s: found a value \"%s\" for model\n", rows[i], got);
            bad++;
        }
        free(got);
    }
    assert_int_equal(bad, 0);
}

/* Strings and items written as JSON read back as what was written. */
/* ---- duplicate keys among many ---- */

/* {"<prefix><i>":0,...} with n keys of the same length; when dup_at is not
 * negative, the last key repeats key dup_at. */
static char *many_keys(size_t n, const char *prefix, long dup_at, size_t *len, size_t *dup_off)
{
    size_t plen = strlen(prefix), cap = 16 + (n + 1) * (plen + 16);
    char *p = malloc(cap);
    assert_non_null(p);
    size_t o = 0;
    p[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        size_t k = dup_at >= 0 && i == n - 1 ? (size_t)dup_at : i;
        if (i == n - 1)
            *dup_off = o + (i ? 1 : 0);
        o += (size_t)snprintf(p + o, cap - o, "%s\"%s%07zu\":0", i ? "," : "", prefix, k);
    }
    p[o++] = '}';
    *len = o;
    return p;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 200k keys in one object: found distinct, or the one duplicate found where
 * it is, in O(n log n) (the time is printed; the bound is what a 4 MiB body
 * costs on the event loop). */
static void test_many_keys(void **state)
{
    (void)state;
    static const char *prefixes[] = {"k", "a-prefix-every-key-shares-to-make-sorting-work-"};
    struct tg_json_check_opts o = {TG_JSON_NO_DUP_KEYS, NULL, NULL};
    for (size_t i = 0; i < 2; i++) {
        size_t len, dup_off;
        char *p = many_keys(200000, prefixes[i], -1, &len, &dup_off);
        double t0 = seconds();
        assert_true(tg_json_check(p, len, &o, NULL));
        double t1 = seconds();
        free(p);
        p = many_keys(200000, prefixes[i], 123456, &len, &dup_off);
        struct tg_json_error err = {0, NULL};
        double t2 = seconds();
        assert_false(tg_json_check(p, len, &o, &err));
        double t3 = seconds();
        assert_non_null(strstr(err.what, "duplicate key"));
        assert_int_equal(err.offset, dup_off);
        free(p);
        print_message("200000 keys, prefix \"%s\": %.3f s distinct, %.3f s with a duplicate\n",
                      prefixes[i], t1 - t0, t3 - t2);
    }
}

static void test_buf_json(void **state)
{
    (void)state;
    /* No NUL: \u0000 is refused in a client body (json_scan.h says why). */
    static const char raw[] = "quote \" backslash \\ nl \n cr \r tab \t bell \a del \x7f end";
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_json_str(&b, raw, sizeof(raw) - 1);
    assert_int_equal(b.data[0], '"');
    for (size_t i = 1; i + 1 < b.len; i++)
        assert_true((unsigned char)b.data[i] >= 0x20); /* every control character escaped */
    cJSON *j = tg_json_parse_client(b.data, b.len, NULL);
    assert_non_null(j);
    assert_true(cJSON_IsString(j));
    assert_string_equal(j->valuestring, raw);
    cJSON_Delete(j);

    tg_buf_reset(&b);
    const char *text = "{\"a\":[1,\"x\",{\"b\":null}],\"c\":true}";
    j = tg_json_parse_client(text, strlen(text), NULL);
    assert_non_null(j);
    tg_buf_json_item(&b, j);
    assert_string_equal(b.data, text);
    cJSON_Delete(j);
    tg_buf_free(&b);
}

/* ---- headers ---- */

static char *header(const char *block, const char *name)
{
    size_t blen = strlen(block), len = 12345;
    char *p = exact(block, blen);
    const char *v = tg_headers_find(p, blen, name, &len);
    char *out = NULL;
    if (v) {
        assert_true(v >= p && v + len <= p + blen);
        out = malloc(len + 1);
        memcpy(out, v, len);
        out[len] = '\0';
    }
    free(p);
    return out;
}

static void test_headers_find(void **state)
{
    (void)state;
    const char *block = "HTTP/1.1 429 Too Many Requests\r\n"
                        "Content-Type: application/json\r\n"
                        "Retry-After:  20 \r\n"
                        "retry-after-ms: 1500\r\n"
                        "X-Empty:\r\n"
                        "X-Tabs:\t a b \t\r\n"
                        "X-Dup: first\r\n"
                        "X-Dup: second\r\n"
                        "X-Note: retry-after: 5\r\n"
                        "\r\n";
    static const struct {
        const char *name;
        const char *value; /* NULL: absent */
    } rows[] = {
        {"retry-after", "20"},
        {"RETRY-AFTER", "20"},
        {"Retry-After-Ms", "1500"},
        {"content-type", "application/json"},
        {"x-empty", ""},
        {"x-tabs", "a b"},
        {"x-dup", "first"},
        {"x-note", "retry-after: 5"},
        {"missing", NULL},
        {"retry", NULL}, /* a prefix of a name */
        {"retry-after-m", NULL},
        {"etry-after", NULL}, /* a suffix */
        {"HTTP/1.1 429 Too Many Requests\r\nContent-Type", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = header(block, rows[i].name);
        if (!((got == NULL && rows[i].value == NULL) ||
              (got && rows[i].value && strcmp(got, rows[i].value) == 0)))
            fail_msg("row %zu: %s: got \"%s\", expected \"%s\"", i, rows[i].name,
                     got ? got : "(absent)", rows[i].value ? rows[i].value : "(absent)");
        free(got);
    }
    /* LF-only lines, and a last line without an end. */
    char *got = header("A: 1\nB: 2\nC: 3", "c");
    assert_string_equal(got, "3");
    free(got);
    got = header("A: 1\nB: 2\n", "b");
    assert_string_equal(got, "2");
    free(got);
    got = header("", "a");
    assert_null(got);
}

/* ---- Retry-After ---- */

#define NOW_MS INT64_C(1700000000000) /* Tue, 14 Nov 2023 22:13:20 GMT */

static int64_t retry_after(const char *value)
{
    size_t len = strlen(value);
    char *p = exact(value, len);
    int64_t ms = tg_retry_after_ms(p, len, NOW_MS);
    free(p);
    return ms;
}

static void test_retry_after_values(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int64_t ms;
    } rows[] = {
        {"20", 20000},
        {"0", 0},
        {"1", 1000},
        {"120", 120000},
        {"1.5", 1500},
        {"0.25", 250},
        {".5", -1}, /* delay-seconds is 1*DIGIT (RFC 9110); a fraction is tolerated, not this */
        {"0.0004", 0},
        {"1000000000", INT64_C(1000000000000)},
        /* HTTP-date (IMF-fixdate), relative to NOW_MS. */
        {"Tue, 14 Nov 2023 22:13:50 GMT", 30000},
        {"Tue, 14 Nov 2023 22:13:21 GMT", 1000},
        {"Wed, 15 Nov 2023 22:13:20 GMT", 86400000},
        {"Tue, 14 Nov 2023 22:13:20 GMT", 0}, /* now */
        {"Tue, 14 Nov 2023 22:13:19 GMT", 0}, /* the past */
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0},
        /* Garbage. */
        {"", -1},
        {"abc", -1},
        {"-1", -1},
        {"-0.5", -1},
        {"20s", -1},
        {"20 30", -1},
        {"1.5.2", -1},
        {"1000000001", -1}, /* over 31 years: not a real wait */
        {"Tue, 14 Nov 2023 22:13:50", -1},
        {"Tue, 14 Nov 2023 22:13:50 GMT and more", -1},
        {"Tue, 14 Foo 2023 22:13:50 GMT", -1},
        {"14 Nov 2023", -1},
        {"nan", -1},
        {"inf", -1},
        {"0123456789012345678901234567890123456789012345678901234567890123456789", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t ms = retry_after(rows[i].value);
        if (ms != rows[i].ms)
            fail_msg("row %zu: \"%s\" -> %lld, expected %lld", i, rows[i].value, (long long)ms,
                     (long long)rows[i].ms);
    }
}

/* Retry-After is delta-seconds (digits; fractions are tolerated) or an
 * HTTP-date: C number syntax beyond that (hex, exponents) is garbage. */
static void test_retry_after_not_c_numbers(void **state)
{
    (void)state;
    static const char *const rows[] = {"0x10", "1e3", "1E2", "0x1p4", "5e-1"};
    int bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t ms = retry_after(rows[i]);
        if (ms != -1) {
            print_error("\"%s\" -> %lld ms, expected -1\n", rows[i], (long long)ms);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* The wait a response asks for: retry-after-ms first, else Retry-After. */
static void test_headers_retry_after(void **state)
{
    (void)state;
    static const struct {
        const char *block;
        int64_t ms;
    } rows[] = {
        {"HTTP/1.1 429 x\r\nretry-after-ms: 1500\r\nretry-after: 2\r\n\r\n", 1500},
        {"HTTP/1.1 429 x\r\nRetry-After: 2\r\nRetry-After-Ms: 1500\r\n\r\n", 1500},
        {"HTTP/1.1 429 x\r\nretry-after: 2\r\n\r\n", 2000},
        {"HTTP/1.1 429 x\r\nretry-after-ms: 250.6\r\n\r\n", 251},
        {"HTTP/1.1 429 x\r\nretry-after-ms: 0\r\nretry-after: 9\r\n\r\n", 0},
        {"HTTP/1.1 429 x\r\nretry-after-ms: soon\r\nretry-after: 3\r\n\r\n", 3000},
        {"HTTP/1.1 429 x\r\nretry-after-ms: -5\r\nretry-after: 3\r\n\r\n", 3000},
        {"HTTP/1.1 429 x\r\nretry-after-ms:\r\nretry-after: 4\r\n\r\n", 4000},
        {"HTTP/1.1 429 x\r\nretry-after: Tue, 14 Nov 2023 22:13:25 GMT\r\n\r\n", 5000},
        {"HTTP/1.1 429 x\r\nretry-after-ms: soon\r\n\r\n", -1},
        {"HTTP/1.1 429 x\r\nretry-after: later\r\n\r\n", -1},
        {"HTTP/1.1 429 x\r\ncontent-type: application/json\r\n\r\n", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t len = strlen(rows[i].block);
        char *p = exact(rows[i].block, len);
        int64_t ms = tg_headers_retry_after(p, len, NOW_MS);
        free(p);
        if (ms != rows[i].ms)
            fail_msg("row %zu: %lld, expected %lld", i, (long long)ms, (long long)rows[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_strict),
        cmocka_unit_test(test_parse_per_source),
        cmocka_unit_test(test_mend_surrogates),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_find_member),
        cmocka_unit_test(test_find_member_empty_value),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_buf_json),
        cmocka_unit_test(test_headers_find),
        cmocka_unit_test(test_retry_after_values),
        cmocka_unit_test(test_retry_after_not_c_numbers),
        cmocka_unit_test(test_headers_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

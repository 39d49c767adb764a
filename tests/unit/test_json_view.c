/* Unit tests of the JSON views (util/json_view.c), held to cJSON's reading
 * of the same text by the differential walk of tests/fuzz/json_view_walk.h:
 * every document of the JSON corpus (tests/data/json) that passes the
 * validator (y_ all, the accepted i_, and n_dup_, which a model may write),
 * and a table of hand-written cases (escaped, duplicate and cut keys,
 * \u0000, lone and paired surrogates, numbers at and past double's range,
 * deep nesting, whitespace everywhere). Also: absent values, wrong types and
 * empty containers, by name. Every text is read from an exact-size block,
 * so a read past its end is caught. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/json_view_walk.h"
#include "fakes.h"
#include "util/json_scan.h"
#include "util/json_view.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char dir[1024];

/* A corpus file in a block of its exact size. */
static char *read_file(const char *name, size_t *len)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return tg_test_read_exact(path, len);
}

/* Any rules: the view reads whatever the validator lets through. */
static bool checked(const char *p, size_t len)
{
    return tg_json_check(p, len, NULL, NULL);
}

/* The walk over text[0..len), copied to an exact-size block; prints and
 * counts a disagreement. */
static int walk(const char *name, const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    memcpy(p, text, len);
    struct jv_walk w;
    bool ok = jv_walk_doc(&w, p, len);
    if (!ok)
        print_error("%s: %s\n", name, w.why);
    free(p);
    return ok ? 0 : 1;
}

static void test_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    assert_non_null(d);
    int bad = 0, walked[3] = {0, 0, 0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t nl = strlen(name);
        if (nl < 7 || strcmp(name + nl - 5, ".json") != 0 || name[1] != '_')
            continue;
        size_t len;
        char *p = read_file(name, &len);
        if (checked(p, len)) {
            bad += walk(name, p, len);
            walked[name[0] == 'y' ? 0 : name[0] == 'i' ? 1 : 2]++;
        } else if (name[0] == 'y') {
            print_error("%s: refused by the validator\n", name);
            bad++;
        }
        free(p);
    }
    closedir(d);
    print_message("walked: %d y_, %d i_, %d n_ (duplicate keys)\n", walked[0], walked[1],
                  walked[2]);
    assert_true(walked[0] > 0 && walked[1] > 0 && walked[2] > 0);
    assert_int_equal(bad, 0);
}

/* Hand-written documents, each walked whole. */
static void test_cases(void **state)
{
    (void)state;
    static const char *const cases[] = {
        /* escaped and duplicate keys: the first, as cJSON reads keys */
        "{\"\\u0061\":1,\"b\":2}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"\\u0061\":2,\"a\":3}",
        "{\"\\u0061\\u0062\":[1],\"ab\":{}}",
        "{\"\\/\":1,\"/\":2}",
        "{\"a\":{\"a\":{\"a\":1},\"a\":2},\"a\":3}",
        /* \u0000: strings and keys end there */
        "[\"x\\u0000y\"]",
        "\"\\u0000\"",
        "\"\\u0000tail\"",
        "{\"a\\u0000b\":1,\"a\":2}",
        "{\"\\u0000\":1,\"\":2}",
        "{\"model\\u0000x\":\"a\",\"model\":\"b\"}",
        /* surrogates: paired, lone (U+FFFD), in keys */
        "[\"\\ud83d\\ude00\",\"\\uD83D\\uDE00\",\"a\\uDBFF\\uDFFFb\"]",
        "[\"\\ud800\"]",
        "[\"\\udc00\"]",
        "[\"\\ud800\\ud800\"]",
        "[\"\\ud800x\"]",
        "[\"\\ud800\\u0041\"]",
        "[\"\\udc00\\ud800\"]",
        "[\"\\ud800\\ud800\\udc00\"]",
        "{\"\\ud800\":1,\"\\udfff\":2}",
        "{\"\\ud800\":1,\"\xef\xbf\xbd\":2}",
        /* escapes next to quotes, and brackets inside strings */
        "[\"a\\\"b\",\"\\\\\",\"\\\\\\\"\",\"\\\\\\\\\",\"\\/\\b\\f\\n\\r\\t\"]",
        "{\"[{\\\"\":\"]}\\\\\",\"}\":\"{\",\"]\":[\"[\"]}",
        "[\"\\\"\",\"\\\\\\\\\\\"\"]",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"\\u00e9\\u20ac\",\"\xef\xbf\xbe\"]",
        /* numbers */
        "[-0,0,-0.0,0.0,-0e0,0E-0]",
        "[1e400,-1e400,1E400,1e-400,-1e-400]",
        "[1E-2,1e+2,1.5e+3,2E+0,-12.5E-1]",
        "[123456789012345678901234567890,-9007199254740993,9007199254740993]",
        "[0.1,0.30000000000000004,2.2250738585072014e-308,4.9e-324,1.7976931348623157e308]",
        "-1",
        "0",
        "1.5",
        "123456789012345678901234567890123456789012345678901234567890123",
        /* scalars and empties */
        "true",
        "false",
        "null",
        "\"\"",
        "\"s\"",
        "[]",
        "{}",
        "[[]]",
        "[{}]",
        "{\"a\":{},\"b\":[],\"c\":\"\"}",
        "[[],{},[[]],{\"\":{}}]",
        "[true,false,null,\"\",0]",
        /* whitespace everywhere */
        " \t\r\n{ \"a\" \t:\n [ 1 , 2 ,\r\n{ } , [ ] ] , \"b\" : \"c\" ,\"d\":true\t}\n\t ",
        "  [  ]  ",
        "\n{\n}\n",
        "[ \"a\" , [ \"b\" , { \"c\" : [ null , false ] } ] ]",
        " 1 ",
        "\t\"x\"\r\n",
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(cases); i++) {
        size_t len = strlen(cases[i]);
        char name[32];
        snprintf(name, sizeof(name), "case %zu", i);
        if (!checked(cases[i], len)) {
            print_error("%s is not JSON: %s\n", name, cases[i]);
            bad++;
            continue;
        }
        bad += walk(name, cases[i], len);
    }
    /* The validator's deepest nesting, arrays and objects, with members
     * beside each level. */
    struct tg_buf b = TG_BUF_INIT;
    for (int i = 0; i < TG_JSON_MAX_DEPTH - 1; i++)
        tg_buf_puts(&b, i % 2 ? "[1," : "{\"k\":0,\"a\":");
    tg_buf_puts(&b, "[]");
    for (int i = TG_JSON_MAX_DEPTH - 2; i >= 0; i--)
        tg_buf_puts(&b, i % 2 ? ",\"]\"]" : ",\"}\":{}}");
    assert_true(checked(b.data, b.len));
    bad += walk("deep mixed", b.data, b.len);
    tg_buf_free(&b);
    char deep[2 * TG_JSON_MAX_DEPTH];
    memset(deep, '[', TG_JSON_MAX_DEPTH);
    memset(deep + TG_JSON_MAX_DEPTH, ']', TG_JSON_MAX_DEPTH);
    assert_true(checked(deep, sizeof(deep)));
    bad += walk("deep arrays", deep, sizeof(deep));
    /* Long arrays and objects: lookups past the sampled indices. */
    b = (struct tg_buf)TG_BUF_INIT;
    tg_buf_putc(&b, '{');
    for (int i = 0; i < 300; i++)
        tg_buf_printf(&b, "%s\"k%d\":[%d,\"%d\"]", i ? "," : "", i % 250, i, i);
    tg_buf_putc(&b, '}');
    assert_true(checked(b.data, b.len));
    bad += walk("long object", b.data, b.len);
    tg_buf_free(&b);
    b = (struct tg_buf)TG_BUF_INIT;
    tg_buf_putc(&b, '[');
    for (int i = 0; i < 200; i++)
        tg_buf_printf(&b, "%s%s", i ? "," : "", i % 3 ? "{\"a\":[1]}" : "\"]\"");
    tg_buf_putc(&b, ']');
    assert_true(checked(b.data, b.len));
    bad += walk("long array", b.data, b.len);
    tg_buf_free(&b);
    assert_int_equal(bad, 0);
}

static struct tg_jv root_of(const char *text)
{
    assert_true(checked(text, strlen(text)));
    return tg_jv_root(text, strlen(text));
}

/* What absent values and wrong types read as, by name. */
static void test_absent_and_wrong_types(void **state)
{
    (void)state;
    struct tg_jv none = TG_JV_ABSENT;
    char buf[8] = "zzz";
    double d = 7;
    struct tg_buf b = TG_BUF_INIT;
    struct tg_jv_iter it;
    struct tg_jv key, val;

    /* absent: nothing in it, nothing it reads as */
    assert_int_equal(tg_jv_get(none, "a").type, TG_JV_NONE);
    assert_int_equal(tg_jv_at(none, 0).type, TG_JV_NONE);
    assert_false(tg_jv_is_empty(none));
    assert_false(tg_jv_str_eq(none, ""));
    assert_false(tg_jv_str_nonempty(none));
    assert_int_equal(tg_jv_str_copy(none, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    tg_jv_str_append(none, &b);
    assert_int_equal(b.len, 0);
    assert_false(tg_jv_num(none, &d));
    assert_true(d == 7);
    tg_jv_iter_init(&it, none);
    assert_false(tg_jv_next(&it, &key, &val));

    /* members and elements that are not there */
    struct tg_jv obj = root_of("{\"ab\":1,\"c\":[]}");
    assert_int_equal(tg_jv_get(obj, "a").type, TG_JV_NONE);
    assert_int_equal(tg_jv_get(obj, "abc").type, TG_JV_NONE);
    assert_int_equal(tg_jv_get(obj, "").type, TG_JV_NONE);
    assert_int_equal(tg_jv_get(obj, "ab").type, TG_JV_NUMBER);
    assert_int_equal(tg_jv_at(tg_jv_get(obj, "c"), 0).type, TG_JV_NONE);
    struct tg_jv arr = root_of("[10,\"x\",{\"k\":null}]");
    assert_int_equal(tg_jv_at(arr, 3).type, TG_JV_NONE);
    assert_int_equal(tg_jv_at(arr, SIZE_MAX).type, TG_JV_NONE);
    assert_int_equal(tg_jv_get(tg_jv_at(arr, 2), "k").type, TG_JV_NULL);
    assert_int_equal(tg_jv_get(tg_jv_at(arr, 2), "missing").type, TG_JV_NONE);

    /* wrong types: get on an array, at on an object, either on a scalar */
    assert_int_equal(tg_jv_get(arr, "0").type, TG_JV_NONE);
    assert_int_equal(tg_jv_get(arr, "x").type, TG_JV_NONE);
    assert_int_equal(tg_jv_at(obj, 0).type, TG_JV_NONE);
    assert_int_equal(tg_jv_at(tg_jv_at(arr, 1), 0).type, TG_JV_NONE);
    assert_int_equal(tg_jv_get(tg_jv_at(arr, 0), "").type, TG_JV_NONE);
    assert_false(tg_jv_num(tg_jv_at(arr, 1), &d));
    assert_false(tg_jv_str_eq(tg_jv_at(arr, 0), "10"));
    assert_int_equal(tg_jv_str_copy(tg_jv_at(arr, 0), buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    tg_jv_iter_init(&it, tg_jv_at(arr, 1));
    assert_false(tg_jv_next(&it, &key, &val));

    /* empty containers, and what is not one */
    static const char *const empty[] = {"[]", "{}", " [ \n ] ", "{\t}"};
    for (size_t i = 0; i < N_OF(empty); i++) {
        struct tg_jv v = root_of(empty[i]);
        assert_true(tg_jv_is_empty(v));
        tg_jv_iter_init(&it, v);
        assert_false(tg_jv_next(&it, &key, &val));
        assert_int_equal(tg_jv_at(v, 0).type, TG_JV_NONE);
        assert_int_equal(tg_jv_get(v, "").type, TG_JV_NONE);
    }
    static const char *const full[] = {"[0]", "{\"\":0}", "[[]]", "0", "\"\"", "null"};
    for (size_t i = 0; i < N_OF(full); i++)
        assert_false(tg_jv_is_empty(root_of(full[i])));

    /* strings as cJSON reads them */
    struct tg_jv s = root_of("\"\\u0000x\"");
    assert_false(tg_jv_str_nonempty(s));
    assert_true(tg_jv_str_eq(s, ""));
    assert_true(tg_jv_str_eq(root_of("\"\\ud800\""), "\xef\xbf\xbd"));
    assert_true(tg_jv_str_eq(root_of("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80"));
    assert_int_equal(tg_jv_str_copy(root_of("\"abc\""), buf, 1), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tg_jv_str_copy(root_of("\"abcdefghij\""), buf, sizeof(buf)), 7);
    assert_string_equal(buf, "abcdefg");
    assert_int_equal(tg_jv_get(root_of("{\"a\\u0000b\":1,\"a\":2}"), "a").p[0], '1');
    assert_int_equal(tg_jv_get(root_of("{\"\\u0061\":1,\"a\":2}"), "a").p[0], '1');

    /* numbers past double's range, and the sign of zero */
    assert_true(tg_jv_num(root_of("1e400"), &d) && isinf(d) && d > 0);
    assert_true(tg_jv_num(root_of("-1e400"), &d) && isinf(d) && d < 0);
    assert_true(tg_jv_num(root_of("-0"), &d) && d == 0 && signbit(d));
    assert_true(tg_jv_num(root_of("1E-2"), &d) && d == 0.01);
    tg_buf_free(&b);
}

int main(void)
{
    const char *src = getenv("TG_SRC");
    snprintf(dir, sizeof(dir), "%s/tests/data/json", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_absent_and_wrong_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

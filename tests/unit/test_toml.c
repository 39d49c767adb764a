/* Unit tests of the TOML parser for what the toml-test data does not cover:
 * positions of keys and values, error positions and messages, lookups,
 * embedded NULs, unterminated input buffers, nesting limits, and robustness
 * against truncated and corrupted input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/toml.h"

/* Copies text into a heap block of exactly len bytes, with no terminating
 * NUL, so AddressSanitizer catches any read past the end. */
static char *exact_copy(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

static struct tg_toml_doc *parse_ok(const char *text)
{
    struct tg_toml_error err;
    size_t len = strlen(text);
    char *buf = exact_copy(text, len);
    struct tg_toml_doc *doc = tg_toml_parse(buf, len, &err);
    free(buf);
    if (!doc)
        fail_msg("unexpected parse error at %d:%d: %s", err.pos.line, err.pos.col, err.message);
    return doc;
}

static void parse_err(const char *text, struct tg_toml_error *err)
{
    size_t len = strlen(text);
    char *buf = exact_copy(text, len);
    struct tg_toml_doc *doc = tg_toml_parse(buf, len, err);
    free(buf);
    if (doc) {
        tg_toml_free(doc);
        fail_msg("parse of an invalid document succeeded");
    }
    assert_true(err->pos.line >= 1);
    assert_true(err->pos.col >= 1);
    assert_true(err->message[0] != '\0');
}

static const struct tg_toml_kv *get(const struct tg_toml_table *t, const char *key)
{
    const struct tg_toml_kv *kv = tg_toml_get(t, key);
    if (!kv)
        fail_msg("key \"%s\" not found", key);
    return kv;
}

static void assert_pos(struct tg_toml_pos pos, int line, int col)
{
    if (pos.line != line || pos.col != col)
        fail_msg("position %d:%d, expected %d:%d", pos.line, pos.col, line, col);
}

/* ------------------------------------------------------------------------ */

static void test_positions(void **state)
{
    (void)state;
    const char *text = "# leading comment\n"                         /* 1 */
                       "title = \"gateway\"\n"                       /* 2 */
                       "[server]\n"                                  /* 3 */
                       "  port = 8080\n"                             /* 4 */
                       "[[route]]\n"                                 /* 5 */
                       "name = \"a\"\n"                              /* 6 */
                       "[[route]]\n"                                 /* 7 */
                       "  name = \"b\"\n"                            /* 8 */
                       "  limits = { rps = 10, burst.max = 20 }\n"   /* 9 */
                       "  text = \"\"\"\n"                           /* 10 */
                       "line one\n"                                  /* 11 */
                       "line two\"\"\"\n"                            /* 12 */
                       "  after = 'x'\n"                             /* 13 */
                       "[a.b.c]\n"                                   /* 14 */
                       "d.e = [ 1,\n"                                /* 15 */
                       "  { f = 2 } ]\n";                            /* 16 */
    struct tg_toml_doc *doc = parse_ok(text);
    const struct tg_toml_table *root = tg_toml_root(doc);

    const struct tg_toml_kv *title = get(root, "title");
    assert_pos(title->key_pos, 2, 1);
    assert_pos(title->value.pos, 2, 9);

    const struct tg_toml_kv *server = get(root, "server");
    assert_int_equal(server->value.type, TG_TOML_TABLE);
    assert_pos(server->key_pos, 3, 2);
    assert_pos(server->value.pos, 3, 1);
    const struct tg_toml_kv *port = get(server->value.u.tab, "port");
    assert_pos(port->key_pos, 4, 3);
    assert_pos(port->value.pos, 4, 10);
    assert_int_equal(port->value.u.i, 8080);

    const struct tg_toml_kv *route = get(root, "route");
    assert_int_equal(route->value.type, TG_TOML_ARRAY);
    assert_int_equal(route->value.u.arr->len, 2);
    assert_pos(route->key_pos, 5, 3);
    assert_pos(route->value.pos, 5, 1);
    const struct tg_toml_value *r0 = &route->value.u.arr->items[0];
    const struct tg_toml_value *r1 = &route->value.u.arr->items[1];
    assert_pos(r0->pos, 5, 1);
    assert_pos(r1->pos, 7, 1);
    assert_pos(get(r0->u.tab, "name")->key_pos, 6, 1);
    const struct tg_toml_kv *name = get(r1->u.tab, "name");
    assert_pos(name->key_pos, 8, 3);
    assert_pos(name->value.pos, 8, 10);

    const struct tg_toml_kv *limits = get(r1->u.tab, "limits");
    assert_pos(limits->key_pos, 9, 3);
    assert_pos(limits->value.pos, 9, 12);
    const struct tg_toml_kv *rps = get(limits->value.u.tab, "rps");
    assert_pos(rps->key_pos, 9, 14);
    assert_pos(rps->value.pos, 9, 20);
    /* burst is made implicitly by the dotted key: it sits where `burst` is. */
    const struct tg_toml_kv *burst = get(limits->value.u.tab, "burst");
    assert_pos(burst->key_pos, 9, 24);
    assert_pos(burst->value.pos, 9, 24);
    const struct tg_toml_kv *max = get(burst->value.u.tab, "max");
    assert_pos(max->key_pos, 9, 30);
    assert_pos(max->value.pos, 9, 36);

    const struct tg_toml_kv *text_kv = get(r1->u.tab, "text");
    assert_pos(text_kv->value.pos, 10, 10);
    assert_string_equal(text_kv->value.u.str.ptr, "line one\nline two");
    const struct tg_toml_kv *after = get(r1->u.tab, "after");
    assert_pos(after->key_pos, 13, 3);
    assert_pos(after->value.pos, 13, 11);

    /* [a.b.c]: a and b are implicit and sit at their keys in the header. */
    const struct tg_toml_kv *a = get(root, "a");
    assert_pos(a->key_pos, 14, 2);
    assert_pos(a->value.pos, 14, 2);
    const struct tg_toml_kv *b = get(a->value.u.tab, "b");
    assert_pos(b->value.pos, 14, 4);
    const struct tg_toml_kv *c = get(b->value.u.tab, "c");
    assert_pos(c->key_pos, 14, 6);
    assert_pos(c->value.pos, 14, 1);
    const struct tg_toml_kv *d = get(c->value.u.tab, "d");
    assert_pos(d->value.pos, 15, 1);
    const struct tg_toml_kv *e = get(d->value.u.tab, "e");
    assert_pos(e->key_pos, 15, 3);
    assert_pos(e->value.pos, 15, 7);
    assert_int_equal(e->value.u.arr->len, 2);
    assert_pos(e->value.u.arr->items[0].pos, 15, 9);
    assert_pos(e->value.u.arr->items[1].pos, 16, 3);
    const struct tg_toml_kv *f = get(e->value.u.arr->items[1].u.tab, "f");
    assert_pos(f->key_pos, 16, 5);
    assert_pos(f->value.pos, 16, 9);
    tg_toml_free(doc);
}

/* A table first made implicitly and later given its own header is reported
 * where the header is. */
static void test_position_of_later_defined_table(void **state)
{
    (void)state;
    struct tg_toml_doc *doc = parse_ok("[x.y]\nk = 1\n\n  [ x ]\nz = 2\n");
    const struct tg_toml_kv *x = get(tg_toml_root(doc), "x");
    assert_pos(x->value.pos, 4, 3);
    assert_pos(x->key_pos, 4, 5);
    tg_toml_free(doc);
}

static void test_crlf_positions(void **state)
{
    (void)state;
    struct tg_toml_doc *doc = parse_ok("a = 1\r\n\r\n  b = \"\"\"x\r\ny\"\"\"\r\nc = 3\r\n");
    const struct tg_toml_table *root = tg_toml_root(doc);
    assert_pos(get(root, "b")->key_pos, 3, 3);
    assert_string_equal(get(root, "b")->value.u.str.ptr, "x\ny");
    assert_pos(get(root, "c")->key_pos, 5, 1);
    tg_toml_free(doc);
}

/* ------------------------------------------------------------------------ */

static void test_error_duplicate_key(void **state)
{
    (void)state;
    struct tg_toml_error err;
    parse_err("host = \"x\"\nport = 1\n  port = 2\n", &err);
    assert_pos(err.pos, 3, 3);
    assert_string_equal(err.message, "duplicate key \"port\"");
}

static void test_error_bad_escape(void **state)
{
    (void)state;
    struct tg_toml_error err;
    parse_err("ok = 1\ns = \"ab\\qc\"\n", &err);
    assert_pos(err.pos, 2, 8);
    assert_string_equal(err.message, "invalid escape '\\q' in string");
}

static void test_error_unterminated_string(void **state)
{
    (void)state;
    struct tg_toml_error err;
    /* Found at the end of the line the string was supposed to close on. */
    parse_err("s = \"abc\nx = 1\n", &err);
    assert_pos(err.pos, 1, 9);
    assert_non_null(strstr(err.message, "unterminated string"));

    parse_err("s = 'abc", &err);
    assert_pos(err.pos, 1, 9);
    assert_string_equal(err.message, "unterminated string");

    parse_err("s = \"\"\"abc\n\ndef\n", &err);
    assert_pos(err.pos, 4, 1);
    assert_string_equal(err.message, "unterminated multi-line string (opened on line 1)");
}

static void test_error_table_redefined(void **state)
{
    (void)state;
    struct tg_toml_error err;
    parse_err("[a]\nx = 1\n[b]\n[ a ]\n", &err);
    assert_pos(err.pos, 4, 3);
    assert_string_equal(err.message, "table \"a\" is already defined");

    parse_err("[t]\nu.v = 1\n[t.u]\n", &err);
    assert_pos(err.pos, 3, 4);
    assert_string_equal(err.message, "table \"u\" is already defined by dotted keys");

    parse_err("a = {b = 1}\n[a]\n", &err);
    assert_pos(err.pos, 2, 2);
    assert_string_equal(err.message, "table \"a\" is already defined as an inline table");
}

static void test_error_other_messages(void **state)
{
    (void)state;
    struct tg_toml_error err;
    parse_err("name \"x\"\n", &err);
    assert_pos(err.pos, 1, 6);
    assert_non_null(strstr(err.message, "expected '=' after key \"name\""));

    parse_err("n = 9223372036854775808\n", &err);
    assert_pos(err.pos, 1, 5);
    assert_string_equal(err.message, "integer overflows 64 bits");

    parse_err("n = 0x8000000000000000\n", &err);
    assert_string_equal(err.message, "integer overflows 64 bits");

    parse_err("d = 2023-02-29\n", &err);
    assert_pos(err.pos, 1, 13);

    parse_err("a = 1\nb = \"x\xff\"\n", &err);
    assert_pos(err.pos, 2, 7);
    assert_non_null(strstr(err.message, "UTF-8"));

    parse_err("a = 1\rb = 2\n", &err);
    assert_pos(err.pos, 1, 6);

    parse_err("a = 1\na.b = 2\n", &err);
    assert_pos(err.pos, 2, 1);
    assert_string_equal(err.message, "key \"a\" is already defined as an integer");
}

static void test_integer_limits(void **state)
{
    (void)state;
    struct tg_toml_doc *doc = parse_ok("max = 9_223_372_036_854_775_807\n"
                                       "min = -9223372036854775808\n"
                                       "hex = 0x7FFF_FFFF_FFFF_FFFF\n"
                                       "bin = 0b1010\n"
                                       "oct = 0o755\n");
    const struct tg_toml_table *root = tg_toml_root(doc);
    assert_true(get(root, "max")->value.u.i == INT64_MAX);
    assert_true(get(root, "min")->value.u.i == INT64_MIN);
    assert_true(get(root, "hex")->value.u.i == INT64_MAX);
    assert_int_equal(get(root, "bin")->value.u.i, 10);
    assert_int_equal(get(root, "oct")->value.u.i, 0755);
    tg_toml_free(doc);
}

/* ------------------------------------------------------------------------ */

static void test_get(void **state)
{
    (void)state;
    struct tg_toml_doc *doc = parse_ok("alpha = 1\nbeta = 'two'\n\"with space\" = true\n");
    const struct tg_toml_table *root = tg_toml_root(doc);
    assert_int_equal(root->len, 3);
    assert_int_equal(get(root, "alpha")->value.u.i, 1);
    assert_string_equal(get(root, "beta")->value.u.str.ptr, "two");
    assert_true(get(root, "with space")->value.u.b);
    assert_null(tg_toml_get(root, "gamma"));
    assert_null(tg_toml_get(root, "alph"));
    assert_null(tg_toml_get(root, "alphaa"));
    assert_null(tg_toml_get(NULL, "alpha"));
    /* Document order is kept. */
    assert_string_equal(root->items[0].key, "alpha");
    assert_string_equal(root->items[2].key, "with space");
    tg_toml_free(doc);

    assert_null(tg_toml_root(NULL));
    tg_toml_free(NULL);
}

/* Wide tables are indexed while parsing; duplicates must still be caught. */
static void test_wide_table(void **state)
{
    (void)state;
    const size_t n = 2000;
    char *text = malloc(n * 24 + 64);
    assert_non_null(text);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "key%zu = %zu\n", i, i);
    struct tg_toml_doc *doc = parse_ok(text);
    const struct tg_toml_table *root = tg_toml_root(doc);
    assert_int_equal(root->len, n);
    assert_int_equal(get(root, "key1234")->value.u.i, 1234);
    assert_pos(get(root, "key1999")->key_pos, 2000, 1);
    tg_toml_free(doc);

    struct tg_toml_error err;
    sprintf(text + len, "key17 = 0\n");
    parse_err(text, &err);
    assert_pos(err.pos, (int)n + 1, 1);
    assert_string_equal(err.message, "duplicate key \"key17\"");

    sprintf(text + len, "[key3]\n");
    parse_err(text, &err);
    assert_string_equal(err.message, "key \"key3\" is already defined as an integer");
    free(text);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    struct tg_toml_doc *doc = parse_ok("s = \"a\\u0000b\"\n"
                                       "m = \"\"\"\\U00000000\"\"\"\n"
                                       "\"k\\u0000\" = 1\n");
    const struct tg_toml_table *root = tg_toml_root(doc);
    const struct tg_toml_kv *s = get(root, "s");
    assert_int_equal(s->value.u.str.len, 3);
    assert_memory_equal(s->value.u.str.ptr, "a\0b", 4);
    const struct tg_toml_kv *m = get(root, "m");
    assert_int_equal(m->value.u.str.len, 1);
    assert_int_equal(m->value.u.str.ptr[0], 0);
    const struct tg_toml_kv *k = &root->items[2];
    assert_int_equal(k->key_len, 2);
    assert_memory_equal(k->key, "k\0", 3);
    /* A C-string lookup cannot name a key with a NUL in it. */
    assert_null(tg_toml_get(root, "k"));
    tg_toml_free(doc);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(tg_toml_type_name(TG_TOML_STRING), "string");
    assert_string_equal(tg_toml_type_name(TG_TOML_INTEGER), "integer");
    assert_string_equal(tg_toml_type_name(TG_TOML_FLOAT), "float");
    assert_string_equal(tg_toml_type_name(TG_TOML_BOOL), "bool");
    assert_string_equal(tg_toml_type_name(TG_TOML_DATETIME), "datetime");
    assert_string_equal(tg_toml_type_name(TG_TOML_DATETIME_LOCAL), "datetime-local");
    assert_string_equal(tg_toml_type_name(TG_TOML_DATE_LOCAL), "date-local");
    assert_string_equal(tg_toml_type_name(TG_TOML_TIME_LOCAL), "time-local");
    assert_string_equal(tg_toml_type_name(TG_TOML_ARRAY), "array");
    assert_string_equal(tg_toml_type_name(TG_TOML_TABLE), "table");

    struct tg_toml_doc *doc = parse_ok("a = 1979-05-27T07:32:00Z\n"
                                       "b = 1979-05-27 07:32:00.5\n"
                                       "c = 1979-05-27\n"
                                       "d = 07:32:00\n");
    const struct tg_toml_table *root = tg_toml_root(doc);
    assert_int_equal(get(root, "a")->value.type, TG_TOML_DATETIME);
    assert_int_equal(get(root, "b")->value.type, TG_TOML_DATETIME_LOCAL);
    assert_int_equal(get(root, "c")->value.type, TG_TOML_DATE_LOCAL);
    assert_int_equal(get(root, "d")->value.type, TG_TOML_TIME_LOCAL);
    /* Dates and times keep their text. */
    assert_string_equal(get(root, "b")->value.u.str.ptr, "1979-05-27 07:32:00.5");
    assert_int_equal(get(root, "b")->value.u.str.len, 21);
    tg_toml_free(doc);
}

/* ------------------------------------------------------------------------ */

static void test_not_nul_terminated(void **state)
{
    (void)state;
    struct tg_toml_error err;
    /* Only the first len bytes count, whatever follows them. */
    const char *text = "a = 12345";
    struct tg_toml_doc *doc = tg_toml_parse(text, 6, &err);
    assert_non_null(doc);
    assert_int_equal(get(tg_toml_root(doc), "a")->value.u.i, 12);
    tg_toml_free(doc);

    /* Each value form ending exactly at the end of the buffer. */
    static const char *const ends[] = {
        "a = true", "a = 1.5e3", "a = -inf", "a = \"s\"", "a = 's'", "a = \"\"\"s\"\"\"",
        "a = '''s'''", "a = [1, 2]", "a = {b = 1}", "a = 1979-05-27", "a = 07:32:00.25",
        "a = 1979-05-27T07:32:00+01:00", "[t]", "[[t]]", "a = 1 # comment",
    };
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        size_t len = strlen(ends[i]);
        char *buf = exact_copy(ends[i], len);
        doc = tg_toml_parse(buf, len, &err);
        if (!doc)
            fail_msg("\"%s\": %d:%d: %s", ends[i], err.pos.line, err.pos.col, err.message);
        tg_toml_free(doc);
        free(buf);
    }

    /* An empty input is an empty document, even with no buffer at all. */
    doc = tg_toml_parse(NULL, 0, &err);
    assert_non_null(doc);
    assert_int_equal(tg_toml_root(doc)->len, 0);
    tg_toml_free(doc);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    struct tg_toml_error err;
    struct tg_toml_doc *doc;

    /* 128 levels of arrays are fine, 129 are not. */
    char *open = repeat("a = ", "[", 128, "");
    char *text = repeat(open, "]", 128, "\n");
    doc = tg_toml_parse(text, strlen(text), &err);
    assert_non_null(doc);
    tg_toml_free(doc);
    free(open);
    free(text);

    open = repeat("a = ", "[", 129, "");
    text = repeat(open, "]", 129, "\n");
    assert_null(tg_toml_parse(text, strlen(text), &err));
    assert_non_null(strstr(err.message, "nesting too deep"));
    free(open);
    free(text);

    /* Far too deep, unterminated, and with inline tables or dotted keys. */
    static const char *const units[] = {"[", "{a=", "[{b=[", "x."};
    static const char *const heads[] = {"a = ", "a = ", "a = ", ""};
    for (size_t i = 0; i < 4; i++) {
        text = repeat(heads[i], units[i], 100000, i == 3 ? "y = 1\n" : "");
        assert_null(tg_toml_parse(text, strlen(text), &err));
        assert_non_null(strstr(err.message, "nesting too deep"));
        free(text);
    }
    text = repeat("[", "t.", 1000, "u]\n");
    assert_null(tg_toml_parse(text, strlen(text), &err));
    assert_non_null(strstr(err.message, "nesting too deep"));
    free(text);
}

/* ------------------------------------------------------------------------ */

static const char fuzz_doc[] =
    "# sample gateway config\n"
    "title = \"tail\\tgate \\u00e9\\U0001F600\"\n"
    "literal = 'C:\\path'\n"
    "ml = \"\"\"\n  one \\\n  two \"\" \"\"\"\n"
    "mll = '''\nraw ''\n'''\n"
    "ints = [ 1, -2, +3, 0x1F, 0o7, 0b1, 1_000 ]\n"
    "floats = [ 1.5, -0.0, 6e-3, 1E+2, inf, -nan, 3.141_5 ]\n"
    "dates = [ 1979-05-27T07:32:00Z, 1979-05-27 07:32:00.999-07:00,\n"
    "          1979-05-27T00:32:00, 1979-05-27, 00:32:00.5, ]\n"
    "\"quoted key\".'lit'.bare = true\n"
    "inline = { a = 1, b.c = [ { d = 'e' } ], \"f\" = {} }\n"
    "[server]\r\n"
    "listen = \"0.0.0.0:8080\"  # trailing comment\n"
    "[server.tls]\n"
    "enabled = false\n"
    "[[upstream]]\n"
    "name = \"a\"\n"
    "weights = [\n  1, # one\n  2,\n]\n"
    "[[upstream]]\n"
    "name = \"b\"\n"
    "[upstream.health]\n"
    "path = \"/healthz\"\n"
    "[[upstream.route]]\n"
    "match = { prefix = \"/v1\", methods = [\"GET\", \"POST\"] }\n";

static void parse_and_free(const char *buf, size_t len)
{
    struct tg_toml_error err;
    memset(&err, 0xAB, sizeof(err));
    struct tg_toml_doc *doc = tg_toml_parse(buf, len, &err);
    if (doc) {
        assert_non_null(tg_toml_root(doc));
        tg_toml_free(doc);
        return;
    }
    assert_true(err.pos.line >= 1);
    assert_true(err.pos.col >= 1);
    assert_true(err.message[0] != '\0');
    assert_non_null(memchr(err.message, '\0', sizeof(err.message)));
}

static void test_fuzz_prefixes_and_mutations(void **state)
{
    (void)state;
    const size_t len = sizeof(fuzz_doc) - 1;

    struct tg_toml_error err;
    struct tg_toml_doc *doc = tg_toml_parse(fuzz_doc, len, &err);
    if (!doc)
        fail_msg("sample document: %d:%d: %s", err.pos.line, err.pos.col, err.message);
    tg_toml_free(doc);

    /* Every prefix, each in a block of exactly its size. */
    for (size_t n = 0; n <= len; n++) {
        char *buf = exact_copy(fuzz_doc, n);
        parse_and_free(buf, n);
        free(buf);
    }

    /* Every byte replaced by every other byte value. */
    char *buf = exact_copy(fuzz_doc, len);
    for (size_t i = 0; i < len; i++) {
        for (int b = 0; b < 256; b++) {
            if ((unsigned char)fuzz_doc[i] == b)
                continue;
            buf[i] = (char)b;
            parse_and_free(buf, len);
        }
        buf[i] = fuzz_doc[i];
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_position_of_later_defined_table),
        cmocka_unit_test(test_crlf_positions),
        cmocka_unit_test(test_error_duplicate_key),
        cmocka_unit_test(test_error_bad_escape),
        cmocka_unit_test(test_error_unterminated_string),
        cmocka_unit_test(test_error_table_redefined),
        cmocka_unit_test(test_error_other_messages),
        cmocka_unit_test(test_integer_limits),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_wide_table),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_fuzz_prefixes_and_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

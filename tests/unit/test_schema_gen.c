/* Unit tests of the mock's JSON generator (mock/schema_gen.c): a table of
 * schemas, one row per schema feature, each generated with many seeds; every
 * text must parse and validate against its schema (a small validator of the
 * same subset lives here, independent of the generator). Then: same seed,
 * same text; recursion ends; json_object's size follows the token count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "mock/schema_gen.h"
#include "util/rand.h"

/* ---- a validator for the subset the generator claims ---------------------- */

static const cJSON *resolve(const cJSON *root, const char *ref)
{
    if (strcmp(ref, "#") == 0)
        return root;
    const char *prefixes[] = {"#/$defs/", "#/definitions/"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(ref, prefixes[i], n) == 0)
            return cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(root, i ? "definitions" : "$defs"), ref + n);
    }
    fail_msg("test schema uses an unexpected $ref %s", ref);
    return NULL;
}

static bool valid(const cJSON *root, const cJSON *s, const cJSON *v, char *why);

static bool type_ok(const char *t, const cJSON *v)
{
    if (strcmp(t, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(t, "null") == 0)
        return cJSON_IsNull(v);
    if (strcmp(t, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(t, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(t, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (strcmp(t, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(t, "object") == 0)
        return cJSON_IsObject(v);
    return false;
}

#define FAIL(...)                                                                          \
    do {                                                                                   \
        snprintf(why, 256, __VA_ARGS__);                                                   \
        return false;                                                                      \
    } while (0)

static bool num(const cJSON *s, const char *k, double *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, k);
    if (!cJSON_IsNumber(x))
        return false;
    *out = x->valuedouble;
    return true;
}

static bool valid(const cJSON *root, const cJSON *s, const cJSON *v, char *why)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (cJSON_IsString(ref))
        return valid(root, resolve(root, ref->valuestring), v, why);
    const cJSON *x;
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "const")) && !cJSON_Compare(x, v, true))
        FAIL("not the const");
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        const cJSON *e;
        bool in = false;
        cJSON_ArrayForEach(e, x) in = in || cJSON_Compare(e, v, true);
        if (!in)
            FAIL("not in the enum");
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) ||
        (x = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        const cJSON *b;
        int ok = 0;
        char sub[256];
        cJSON_ArrayForEach(b, x) ok += valid(root, b, v, sub);
        if (ok == 0 || (strcmp(x->string, "oneOf") == 0 && ok != 1))
            FAIL("%d branches of %s fit", ok, x->string);
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "allOf"))) {
        const cJSON *b;
        cJSON_ArrayForEach(b, x)
        {
            if (!valid(root, b, v, why))
                return false;
        }
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(type) && !type_ok(type->valuestring, v))
        FAIL("not a %s", type->valuestring);
    if (cJSON_IsArray(type)) {
        bool ok = false;
        cJSON_ArrayForEach(x, type) ok = ok || type_ok(x->valuestring, v);
        if (!ok)
            FAIL("none of the listed types");
    }
    double a;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (num(s, "minimum", &a) && d < a)
            FAIL("%g below minimum %g", d, a);
        if (num(s, "maximum", &a) && d > a)
            FAIL("%g above maximum %g", d, a);
        if (num(s, "exclusiveMinimum", &a) && d <= a)
            FAIL("%g not above %g", d, a);
        if (num(s, "exclusiveMaximum", &a) && d >= a)
            FAIL("%g not below %g", d, a);
        if (num(s, "multipleOf", &a) && fabs(d / a - round(d / a)) > 1e-9)
            FAIL("%g not a multiple of %g", d, a);
    }
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (num(s, "minLength", &a) && (double)n < a)
            FAIL("string shorter than %g", a);
        if (num(s, "maxLength", &a) && (double)n > a)
            FAIL("string longer than %g", a);
        if (cJSON_GetObjectItemCaseSensitive(s, "pattern"))
            FAIL("a string for a pattern: %s", v->valuestring); /* no regex here */
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "format"));
        const char *t = v->valuestring;
        if (f && strcmp(f, "date-time") == 0 && (n != 20 || t[10] != 'T' || t[19] != 'Z'))
            FAIL("not a date-time: %s", t);
        if (f && strcmp(f, "date") == 0 && (n != 10 || t[4] != '-' || t[7] != '-'))
            FAIL("not a date: %s", t);
        if (f && strcmp(f, "email") == 0 && !strchr(t, '@'))
            FAIL("not an email: %s", t);
        if (f && strcmp(f, "uuid") == 0 && (n != 36 || t[8] != '-' || t[14] != '4'))
            FAIL("not a uuid: %s", t);
        if (f && strcmp(f, "uri") == 0 && strncmp(t, "https://", 8) != 0)
            FAIL("not a uri: %s", t);
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if (num(s, "minItems", &a) && n < a)
            FAIL("%d items, fewer than %g", n, a);
        if (num(s, "maxItems", &a) && n > a)
            FAIL("%d items, more than %g", n, a);
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        int i = 0;
        cJSON_ArrayForEach(x, v)
        {
            const cJSON *is = cJSON_GetArrayItem(prefix, i);
            if (!is)
                is = items;
            if (is && !valid(root, is, x, why))
                return false;
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "uniqueItems")))
                for (const cJSON *y = v->child; y != x; y = y->next)
                    if (cJSON_Compare(x, y, true))
                        FAIL("item %d repeats", i);
            i++;
        }
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *extra = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(s, "required"))
        {
            if (!cJSON_GetObjectItemCaseSensitive(v, x->valuestring))
                FAIL("required key %s missing", x->valuestring);
        }
        int n = 0;
        cJSON_ArrayForEach(x, v)
        {
            n++;
            const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, x->string);
            if (!ps && cJSON_IsFalse(extra))
                FAIL("key %s not allowed", x->string);
            const cJSON *use = ps ? ps : (cJSON_IsObject(extra) ? extra : NULL);
            if (use && !valid(root, use, x, why))
                return false;
        }
        if (num(s, "minProperties", &a) && n < a)
            FAIL("%d members, fewer than %g", n, a);
    }
    return true;
}

/* ---- the table ------------------------------------------------------------- */

struct row {
    const char *what;
    const char *schema;
};

#define Q(...) #__VA_ARGS__

static const struct row rows[] = {
    {"string", Q({"type": "string"})},
    {"integer", Q({"type": "integer"})},
    {"number", Q({"type": "number"})},
    {"boolean", Q({"type": "boolean"})},
    {"null", Q({"type": "null"})},
    {"type list", Q({"type": ["string", "integer", "null"]})},
    {"enum of strings", Q({"type": "string", "enum": ["red", "green", "blue"]})},
    {"enum of mixed values", Q({"enum": [1, "two", null, {"three": 3}]})},
    {"const", Q({"const": {"fixed": [1, 2]}})},
    {"integer bounds", Q({"type": "integer", "minimum": 5, "maximum": 7})},
    {"integer exclusive bounds", Q({"type": "integer", "exclusiveMinimum": 5,
                                    "exclusiveMaximum": 7})},
    {"integer only a maximum", Q({"type": "integer", "maximum": -1000})},
    {"integer multipleOf", Q({"type": "integer", "minimum": 1, "maximum": 100,
                              "multipleOf": 7})},
    {"number exclusive range", Q({"type": "number", "exclusiveMinimum": 0,
                                  "exclusiveMaximum": 0.01})},
    {"number multipleOf", Q({"type": "number", "minimum": 0, "maximum": 1,
                             "multipleOf": 0.25})},
    {"string lengths", Q({"type": "string", "minLength": 30, "maxLength": 32})},
    {"string maxLength", Q({"type": "string", "maxLength": 3})},
    {"formats", Q({"type": "object", "properties": {
        "a": {"type": "string", "format": "date-time"},
        "b": {"type": "string", "format": "date"},
        "c": {"type": "string", "format": "email"},
        "d": {"type": "string", "format": "uuid"},
        "e": {"type": "string", "format": "uri"}},
        "required": ["a", "b", "c", "d", "e"], "additionalProperties": false})},
    {"array of items", Q({"type": "array", "items": {"type": "integer"}})},
    {"array bounds", Q({"type": "array", "items": {"type": "string"}, "minItems": 4,
                        "maxItems": 5})},
    {"array maxItems 0", Q({"type": "array", "items": {"type": "string"}, "maxItems": 0})},
    {"unique items", Q({"type": "array", "items": {"enum": ["a", "b", "c"]},
                        "minItems": 3, "uniqueItems": true})},
    {"prefixItems", Q({"type": "array", "prefixItems": [{"type": "string"},
                       {"type": "integer"}], "minItems": 2, "maxItems": 2})},
    {"object, strict", Q({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["name", "age", "tags"], "additionalProperties": false})},
    {"object, a required key without a property", Q({"type": "object",
        "required": ["id"], "additionalProperties": {"type": "integer"}})},
    {"map", Q({"type": "object", "additionalProperties": {"type": "boolean"}})},
    {"minProperties", Q({"type": "object", "minProperties": 3})},
    {"nested objects", Q({"type": "object", "properties": {
        "a": {"type": "object", "properties": {
            "b": {"type": "object", "properties": {
                "c": {"type": "array", "items": {"type": "object", "properties": {
                    "d": {"type": "number", "minimum": 1, "maximum": 2}},
                    "required": ["d"], "additionalProperties": false}}},
                "required": ["c"], "additionalProperties": false}},
            "required": ["b"], "additionalProperties": false}},
        "required": ["a"], "additionalProperties": false})},
    {"anyOf", Q({"anyOf": [{"type": "string", "maxLength": 0}, {"type": "integer"}]})},
    {"oneOf", Q({"oneOf": [{"type": "boolean"}, {"type": "null"}]})},
    {"allOf", Q({"allOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]})},
    {"$defs and $ref", Q({"$defs": {"step": {"type": "object", "properties": {
        "explanation": {"type": "string"}, "output": {"type": "string"}},
        "required": ["explanation", "output"], "additionalProperties": false}},
        "type": "object", "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
            "final_answer": {"type": "string"}},
        "required": ["steps", "final_answer"], "additionalProperties": false})},
    {"definitions (draft 7)", Q({"definitions": {"color": {"enum": ["r", "g"]}},
        "type": "array", "items": {"$ref": "#/definitions/color"}, "minItems": 1})},
    {"recursion through #", Q({"type": "object", "properties": {
        "name": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["name", "children"], "additionalProperties": false})},
    {"recursion through a nullable $ref", Q({"$defs": {"node": {"type": "object",
        "properties": {"value": {"type": "integer"},
                       "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
        "required": ["value", "next"], "additionalProperties": false}},
        "$ref": "#/$defs/node"})},
    {"a union avoids the branch with a pattern (pydantic Decimal)",
     Q({"anyOf": [{"type": "number"}, {"type": "string", "pattern": "^\\d+$"}]})},
    {"empty schema", Q({})},
    {"keywords imply the type", Q({"properties": {"x": {"minimum": 3, "maximum": 4}},
        "required": ["x"]})},
    {"an OpenAI SDK parse() schema (pydantic, strict)", Q({
        "$defs": {"Item": {"properties": {"name": {"title": "Name", "type": "string"},
                  "price": {"title": "Price", "type": "number"},
                  "kind": {"enum": ["food", "tool"], "title": "Kind", "type": "string"}},
                  "required": ["name", "price", "kind"], "title": "Item", "type": "object",
                  "additionalProperties": false}},
        "properties": {"items": {"items": {"$ref": "#/$defs/Item"}, "title": "Items",
                                 "type": "array"},
                       "note": {"anyOf": [{"type": "string"}, {"type": "null"}],
                                "title": "Note"}},
        "required": ["items", "note"], "title": "Order", "type": "object",
        "additionalProperties": false})},
};

static const char *row_schema(const char *what)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (strcmp(rows[i].what, what) == 0)
            return rows[i].schema;
    fail_msg("no row %s", what);
    return NULL;
}

static cJSON *schema_of(const struct row *r)
{
    cJSON *s = cJSON_Parse(r->schema);
    if (!s)
        fail_msg("row %s: the test's schema does not parse", r->what);
    return s;
}

static void test_every_row_fits(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cJSON *s = schema_of(&rows[i]);
        for (uint64_t seed = 1; seed <= 64; seed++) {
            struct tg_rand rand;
            tg_rand_seed(&rand, seed);
            struct tg_buf out = TG_BUF_INIT;
            tg_mock_schema_gen(s, &rand, &out);
            cJSON *v = cJSON_ParseWithLength(out.data, out.len);
            if (!v)
                fail_msg("row %s, seed %llu: not JSON: %s", rows[i].what,
                         (unsigned long long)seed, out.data);
            char why[256] = "";
            if (!valid(s, s, v, why))
                fail_msg("row %s, seed %llu: %s does not fit: %s", rows[i].what,
                         (unsigned long long)seed, out.data, why);
            cJSON_Delete(v);
            tg_buf_free(&out);
        }
        cJSON_Delete(s);
    }
}

static char *gen_text(const char *schema, uint64_t seed)
{
    cJSON *s = cJSON_Parse(schema);
    struct tg_rand rand;
    tg_rand_seed(&rand, seed);
    struct tg_buf out = TG_BUF_INIT;
    tg_mock_schema_gen(s, &rand, &out);
    cJSON_Delete(s);
    return tg_buf_steal(&out, NULL);
}

/* The rows that choose among values do choose: across seeds more than one
 * enum value, both branches of a union, both booleans. */
static void test_choices_vary(void **state)
{
    (void)state;
    static const char *const schemas[] = {
        Q({"enum": ["red", "green", "blue"]}),
        Q({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        Q({"type": "boolean"}),
        Q({"type": "integer"}),
    };
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        char *first = gen_text(schemas[i], 1);
        bool differs = false;
        for (uint64_t seed = 2; seed <= 40 && !differs; seed++) {
            char *t = gen_text(schemas[i], seed);
            differs = strcmp(t, first) != 0;
            free(t);
        }
        if (!differs)
            fail_msg("%s gives %s for every seed", schemas[i], first);
        free(first);
    }
}

static void test_same_seed_same_text(void **state)
{
    (void)state;
    const char *s = rows[sizeof(rows) / sizeof(rows[0]) - 1].schema;
    char *a = gen_text(s, 7), *b = gen_text(s, 7);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

/* A schema that nests without end (every level requires the next, with no
 * null way out) still gives a bounded text, and one that can end does end
 * soon. */
static void test_recursion_is_bounded(void **state)
{
    (void)state;
    char *t = gen_text(Q({"type": "object", "properties": {"next": {"$ref": "#"}},
                          "required": ["next"]}), 3);
    cJSON *v = cJSON_Parse(t);
    assert_non_null(v);
    assert_true(strlen(t) < 1000);
    cJSON_Delete(v);
    free(t);
    t = gen_text(Q({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                    "$ref": "#/$defs/a"}), 3);
    v = cJSON_Parse(t);
    assert_non_null(v);
    cJSON_Delete(v);
    free(t);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        t = gen_text(row_schema("recursion through #"), seed);
        assert_true(strlen(t) < 20000);
        free(t);
    }
}

/* A schema demanding a huge document (a billion elements) gets a bounded
 * one that still parses. */
static void test_size_is_bounded(void **state)
{
    (void)state;
    char *t = gen_text(Q({"type": "array", "minItems": 1000, "items": {"type": "array",
                          "minItems": 1000, "items": {"type": "array", "minItems": 1000,
                          "items": {"type": "string", "minLength": 100}}}}), 1);
    size_t n = strlen(t);
    assert_true(n < ((size_t)8 << 20));
    cJSON *v = cJSON_Parse(t);
    assert_non_null(v);
    cJSON_Delete(v);
    free(t);
}

/* response_format json_object: an object that parses, about six tokens a
 * member, unique keys. */
static void test_json_object_size(void **state)
{
    (void)state;
    static const int64_t tokens[] = {0, 16, 100, 1000};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        struct tg_rand rand;
        tg_rand_seed(&rand, 5);
        struct tg_buf out = TG_BUF_INIT;
        tg_mock_json_object_gen(&rand, tokens[i], &out);
        cJSON *v = cJSON_ParseWithLength(out.data, out.len);
        if (!cJSON_IsObject(v))
            fail_msg("%lld tokens: not an object: %s", (long long)tokens[i], out.data);
        int n = cJSON_GetArraySize(v);
        int want = tokens[i] / 6 > 1 ? (int)(tokens[i] / 6) : 1;
        assert_int_equal(n, want);
        for (const cJSON *a = v->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    fail_msg("key %s twice in %s", a->string, out.data);
        /* Roughly the size asked for: 4 characters a token, within 2x. */
        if (tokens[i] >= 100)
            assert_true(out.len > (size_t)tokens[i] * 2 && out.len < (size_t)tokens[i] * 8);
        cJSON_Delete(v);
        tg_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_fits),
        cmocka_unit_test(test_choices_vary),
        cmocka_unit_test(test_same_seed_same_text),
        cmocka_unit_test(test_recursion_is_bounded),
        cmocka_unit_test(test_size_is_bounded),
        cmocka_unit_test(test_json_object_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

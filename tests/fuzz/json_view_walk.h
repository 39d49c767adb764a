/* The differential walk of util/json_view.h against cJSON, shared by
 * tests/unit/test_json_view.c (corpora and hand-written cases) and
 * tests/fuzz/fuzz_json_view.c (any text that passes tg_json_check): the
 * view of a checked text and cJSON's tree of it (tg_json_parse_generated,
 * which reads lone surrogates as U+FFFD) must agree value by value: types,
 * members and elements in order, keys and strings byte for byte (copied,
 * cut, appended, compared), numbers (NaN and inf aware, the sign of zero
 * included), lookups by key and index, absent ones too, and emptiness.
 * Every view must lie inside its container and have its type's shape, and
 * only whitespace may surround the root. The first disagreement is kept,
 * with its path. */
#ifndef TG_TESTS_JSON_VIEW_WALK_H
#define TG_TESTS_JSON_VIEW_WALK_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "util/json.h"
#include "util/json_view.h"

struct jv_walk {
    char path[256]; /* where the walk is: $, $.key, $[3] ... (cut when long) */
    size_t path_len;
    bool bad;
    char why[768]; /* the first disagreement, with its path */
};

static inline void jv_walk_fail(struct jv_walk *w, const char *fmt, ...)
{
    if (w->bad)
        return;
    w->bad = true;
    int n = snprintf(w->why, sizeof(w->why), "at %s: ", w->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why + n, sizeof(w->why) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Appends a step to the path; returns the length to restore. */
static inline size_t jv_walk_push(struct jv_walk *w, const char *fmt, ...)
{
    size_t saved = w->path_len;
    if (w->path_len + 1 < sizeof(w->path)) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(w->path + w->path_len, sizeof(w->path) - w->path_len, fmt, ap);
        va_end(ap);
        w->path_len += n > 0 ? (size_t)n : 0;
        if (w->path_len >= sizeof(w->path))
            w->path_len = sizeof(w->path) - 1;
    }
    return saved;
}

static inline void jv_walk_pop(struct jv_walk *w, size_t saved)
{
    w->path_len = saved;
    w->path[saved] = '\0';
}

static inline enum tg_jv_type jv_walk_type_of(const cJSON *c)
{
    switch (c->type & 0xff) {
    case cJSON_False: return TG_JV_FALSE;
    case cJSON_True: return TG_JV_TRUE;
    case cJSON_NULL: return TG_JV_NULL;
    case cJSON_Number: return TG_JV_NUMBER;
    case cJSON_String: return TG_JV_STRING;
    case cJSON_Array: return TG_JV_ARRAY;
    case cJSON_Object: return TG_JV_OBJECT;
    default: return TG_JV_NONE;
    }
}

static inline bool jv_walk_same(struct tg_jv a, struct tg_jv b)
{
    return a.type == b.type && a.p == b.p && a.len == b.len;
}

/* A view lies in [lo, hi) and has its type's shape. */
static inline void jv_walk_shape(struct jv_walk *w, struct tg_jv v, const char *lo, const char *hi)
{
    if (!v.p || v.p < lo || v.len == 0 || v.len > (size_t)(hi - v.p)) {
        jv_walk_fail(w, "a view of type %d outside its container", (int)v.type);
        return;
    }
    const char *p = v.p, *last = v.p + v.len - 1;
    bool ok = true;
    switch (v.type) {
    case TG_JV_STRING: ok = v.len >= 2 && *p == '"' && *last == '"'; break;
    case TG_JV_ARRAY: ok = v.len >= 2 && *p == '[' && *last == ']'; break;
    case TG_JV_OBJECT: ok = v.len >= 2 && *p == '{' && *last == '}'; break;
    case TG_JV_TRUE: ok = v.len == 4 && memcmp(p, "true", 4) == 0; break;
    case TG_JV_FALSE: ok = v.len == 5 && memcmp(p, "false", 5) == 0; break;
    case TG_JV_NULL: ok = v.len == 4 && memcmp(p, "null", 4) == 0; break;
    case TG_JV_NUMBER:
        ok = *p == '-' || (*p >= '0' && *p <= '9');
        for (size_t i = 0; ok && i < v.len; i++)
            ok = (p[i] >= '0' && p[i] <= '9') || (p[i] && strchr("+-.eE", p[i]));
        ok = ok && *last >= '0' && *last <= '9';
        break;
    case TG_JV_NONE: ok = false; break;
    }
    if (!ok)
        jv_walk_fail(w, "a view of type %d is \"%.*s\"", (int)v.type, (int)(v.len > 80 ? 80 : v.len),
                     v.p);
}

/* What a string view reads as, held to s (cJSON's C string). */
static inline void jv_walk_string(struct jv_walk *w, struct tg_jv v, const char *s)
{
    size_t want = strlen(s);
    char *buf = malloc(v.len + 1); /* what a string reads as is never longer than its token */
    size_t n = tg_jv_str_copy(v, buf, v.len + 1);
    if (n != want || memcmp(buf, s, want) != 0 || buf[n] != '\0')
        jv_walk_fail(w, "str_copy reads \"%.*s\" (%zu bytes), cJSON \"%s\" (%zu)", (int)n, buf, n,
                     s, want);
    if (want > 0) {
        size_t cap = want / 2 + 1; /* cut: the first cap - 1 bytes */
        n = tg_jv_str_copy(v, buf, cap);
        if (n != cap - 1 || memcmp(buf, s, n) != 0 || buf[n] != '\0')
            jv_walk_fail(w, "str_copy cut to %zu reads %zu bytes", cap, n);
    }
    if (tg_jv_str_copy(v, buf, 0) != 0)
        jv_walk_fail(w, "str_copy into nothing wrote something");
    free(buf);

    struct tg_buf b = TG_BUF_INIT;
    tg_buf_putc(&b, '<'); /* appended, not written over */
    tg_jv_str_append(v, &b);
    if (b.len != want + 1 || memcmp(b.data + 1, s, want) != 0)
        jv_walk_fail(w, "str_append reads \"%.*s\", cJSON \"%s\"", (int)(b.len - 1), b.data + 1,
                     s);
    tg_buf_free(&b);

    if (!tg_jv_str_eq(v, s))
        jv_walk_fail(w, "str_eq(\"%s\") is false", s);
    if (tg_jv_str_nonempty(v) != (want > 0))
        jv_walk_fail(w, "str_nonempty is %d for \"%s\"", tg_jv_str_nonempty(v), s);
    char *other = malloc(want + 2);
    memcpy(other, s, want);
    memcpy(other + want, "x", 2);
    if (tg_jv_str_eq(v, other))
        jv_walk_fail(w, "str_eq(\"%s\") is true for \"%s\"", other, s);
    if (want > 0) {
        other[want - 1] = '\0';
        if (tg_jv_str_eq(v, other))
            jv_walk_fail(w, "str_eq(\"%s\") is true for \"%s\"", other, s);
    }
    free(other);
}

/* What a view that is not a string reads as: nothing. */
static inline void jv_walk_not_string(struct jv_walk *w, struct tg_jv v)
{
    char buf[4] = "zzz";
    struct tg_buf b = TG_BUF_INIT;
    tg_jv_str_append(v, &b);
    if (tg_jv_str_copy(v, buf, sizeof(buf)) != 0 || buf[0] != '\0' || b.len != 0 ||
        tg_jv_str_eq(v, "") || tg_jv_str_nonempty(v))
        jv_walk_fail(w, "a value of type %d reads as a string", (int)v.type);
    tg_buf_free(&b);
}

/* member k (from 0) of an object or element k of an array, by iteration */
static inline struct tg_jv jv_walk_nth(struct tg_jv v, size_t k)
{
    struct tg_jv_iter it;
    struct tg_jv val;
    tg_jv_iter_init(&it, v);
    for (size_t i = 0; tg_jv_next(&it, NULL, &val); i++)
        if (i == k)
            return val;
    return TG_JV_ABSENT;
}

/* tg_jv_get(v, name) finds what cJSON finds by that name (or nothing). */
static inline void jv_walk_lookup(struct jv_walk *w, struct tg_jv v, const cJSON *c,
                                  const char *name)
{
    const cJSON *found = cJSON_GetObjectItemCaseSensitive(c, name);
    struct tg_jv got = tg_jv_get(v, name);
    if (!found) {
        if (got.type != TG_JV_NONE)
            jv_walk_fail(w, "get(\"%s\") found a value cJSON does not", name);
        return;
    }
    size_t k = 0;
    for (const cJSON *e = c->child; e && e != found; e = e->next)
        k++;
    if (!jv_walk_same(got, jv_walk_nth(v, k)))
        jv_walk_fail(w, "get(\"%s\") is not member %zu, which cJSON finds", name, k);
}

/* tg_jv_pick finds, in one walk, what tg_jv_get finds key by key: the
 * name asked, with a name that is absent and one of cJSON's around it. */
static inline void jv_walk_pick(struct jv_walk *w, struct tg_jv v, const cJSON *c,
                                const char *name)
{
    const char *keys[3] = {"\001absent", name, c && c->child && c->child->string
                                                     ? c->child->string : "\001other"};
    struct tg_jv got[3];
    tg_jv_pick(v, keys, 3, got);
    for (size_t i = 0; i < 3; i++)
        if (!jv_walk_same(got[i], tg_jv_get(v, keys[i])))
            jv_walk_fail(w, "pick(\"%s\") is not get(\"%s\")", keys[i], keys[i]);
}

/* A few indices of an array: every one would be quadratic. */
static inline bool jv_walk_sampled(size_t i)
{
    return i < 16 || i % 61 == 0;
}

static inline void jv_walk_value(struct jv_walk *w, struct tg_jv v, const cJSON *c);

static inline void jv_walk_array(struct jv_walk *w, struct tg_jv v, const cJSON *c)
{
    struct tg_jv_iter it;
    struct tg_jv key, val, last = TG_JV_ABSENT;
    const cJSON *child = c->child;
    size_t i = 0;
    tg_jv_iter_init(&it, v);
    while (!w->bad && tg_jv_next(&it, &key, &val)) {
        size_t saved = jv_walk_push(w, "[%zu]", i);
        if (!child)
            jv_walk_fail(w, "an element cJSON does not have");
        else if (key.type != TG_JV_NONE)
            jv_walk_fail(w, "an element with a key");
        jv_walk_shape(w, val, v.p + 1, v.p + v.len - 1);
        if (!w->bad && jv_walk_sampled(i) && !jv_walk_same(tg_jv_at(v, i), val))
            jv_walk_fail(w, "at(%zu) is not the element iterated", i);
        if (!w->bad && cJSON_GetArrayItem(c, (int)i) != child)
            jv_walk_fail(w, "cJSON_GetArrayItem(%zu) is not cJSON's element %zu", i, i);
        if (!w->bad)
            jv_walk_value(w, val, child);
        jv_walk_pop(w, saved);
        last = val;
        child = child ? child->next : NULL;
        i++;
    }
    if (w->bad)
        return;
    if (child)
        jv_walk_fail(w, "%zu elements, cJSON has more", i);
    if (i > 0 && !jv_walk_same(tg_jv_at(v, i - 1), last))
        jv_walk_fail(w, "at(%zu) is not the last element", i - 1);
    if (tg_jv_at(v, i).type != TG_JV_NONE || tg_jv_at(v, SIZE_MAX).type != TG_JV_NONE)
        jv_walk_fail(w, "an index past the end is not absent");
    if (tg_jv_get(v, "").type != TG_JV_NONE || tg_jv_get(v, "0").type != TG_JV_NONE)
        jv_walk_fail(w, "get on an array is not absent");
}

static inline void jv_walk_object(struct jv_walk *w, struct tg_jv v, const cJSON *c)
{
    struct tg_jv_iter it;
    struct tg_jv key, val;
    const cJSON *child = c->child;
    size_t i = 0;
    tg_jv_iter_init(&it, v);
    while (!w->bad && tg_jv_next(&it, &key, &val)) {
        if (!child || !child->string) {
            jv_walk_fail(w, "a member cJSON does not have");
            break;
        }
        size_t saved = jv_walk_push(w, ".%.40s", child->string);
        if (key.type != TG_JV_STRING)
            jv_walk_fail(w, "a member whose key is of type %d", (int)key.type);
        jv_walk_shape(w, key, v.p + 1, v.p + v.len - 1);
        jv_walk_shape(w, val, key.p + key.len, v.p + v.len - 1);
        if (!w->bad) {
            size_t k = jv_walk_push(w, "(key)");
            jv_walk_string(w, key, child->string);
            jv_walk_pop(w, k);
        }
        if (!w->bad)
            jv_walk_lookup(w, v, c, child->string);
        if (!w->bad && i < 8)
            jv_walk_pick(w, v, c, child->string);
        if (!w->bad && i < 8) {
            /* names near this one: absent or found as cJSON finds them */
            size_t n = strlen(child->string);
            char *probe = malloc(n + 2);
            memcpy(probe, child->string, n);
            memcpy(probe + n, "x", 2);
            jv_walk_lookup(w, v, c, probe);
            if (n > 0) {
                probe[n - 1] = '\0';
                jv_walk_lookup(w, v, c, probe);
            }
            free(probe);
        }
        if (!w->bad)
            jv_walk_value(w, val, child);
        jv_walk_pop(w, saved);
        child = child->next;
        i++;
    }
    if (w->bad)
        return;
    if (child)
        jv_walk_fail(w, "%zu members, cJSON has more", i);
    jv_walk_lookup(w, v, c, "");
    jv_walk_lookup(w, v, c, "\xef\xbf\xbd"); /* what a lone surrogate reads as */
    if (tg_jv_at(v, 0).type != TG_JV_NONE)
        jv_walk_fail(w, "at on an object is not absent");
}

static inline void jv_walk_value(struct jv_walk *w, struct tg_jv v, const cJSON *c)
{
    enum tg_jv_type want = jv_walk_type_of(c);
    if (v.type != want) {
        jv_walk_fail(w, "type %d, cJSON's %d", (int)v.type, (int)want);
        return;
    }
    if (tg_jv_is_empty(v) != ((want == TG_JV_ARRAY || want == TG_JV_OBJECT) && !c->child))
        jv_walk_fail(w, "is_empty is %d", tg_jv_is_empty(v));
    double d;
    bool num = tg_jv_num(v, &d);
    if (num != (want == TG_JV_NUMBER)) {
        jv_walk_fail(w, "num is %d for type %d", num, (int)want);
    } else if (num) {
        double e = c->valuedouble;
        if (!((isnan(d) && isnan(e)) || (d == e && signbit(d) == signbit(e))))
            jv_walk_fail(w, "num %.17g, cJSON %.17g (\"%.*s\")", d, e, (int)v.len, v.p);
    }
    if (want == TG_JV_STRING)
        jv_walk_string(w, v, c->valuestring);
    else
        jv_walk_not_string(w, v);
    if (want == TG_JV_ARRAY) {
        jv_walk_array(w, v, c);
    } else if (want == TG_JV_OBJECT) {
        jv_walk_object(w, v, c);
    } else {
        struct tg_jv_iter it;
        struct tg_jv val;
        tg_jv_iter_init(&it, v);
        if (tg_jv_next(&it, NULL, &val) || tg_jv_get(v, "").type != TG_JV_NONE ||
            tg_jv_at(v, 0).type != TG_JV_NONE)
            jv_walk_fail(w, "a scalar has members or elements");
    }
}

static inline bool jv_walk_ws(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    return true;
}

/* Walks text[0..len), which must have passed tg_json_check (any flags).
 * True when the view and cJSON agree; else false with w->why. */
static inline bool jv_walk_doc(struct jv_walk *w, const char *text, size_t len)
{
    memset(w, 0, sizeof(*w));
    w->path[0] = '$';
    w->path_len = 1;
    cJSON *root = tg_json_parse_generated(text, len);
    if (!root) {
        jv_walk_fail(w, "cJSON refuses a checked text");
        return false;
    }
    struct tg_jv v = tg_jv_root(text, len);
    jv_walk_shape(w, v, text, text + len);
    if (!w->bad && (!jv_walk_ws(text, v.p) || !jv_walk_ws(v.p + v.len, text + len)))
        jv_walk_fail(w, "the root view leaves more than whitespace around it");
    if (!w->bad)
        jv_walk_value(w, v, root);
    cJSON_Delete(root);
    return !w->bad;
}

#endif

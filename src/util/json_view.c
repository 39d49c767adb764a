/* Views of checked JSON text (see json_view.h). Every step is a skip over
 * bytes the checker already proved well formed: to the end of a string, a
 * number, a word, or the bracket that closes a container. */
#include "util/json_view.h"

#include <stdlib.h>
#include <string.h>

#include "util/json_scan.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The bytes a skip stops at: 1 inside strings (quote, backslash), 2 in
 * containers (a quote, and brackets). Everything else is passed over in a
 * tight loop: most strings of an answer or a request are short, where
 * memchr's call costs more than the scan. */
static const unsigned char stops[256] = {
    ['"'] = 3, ['\\'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 2, [']'] = 2,
};

/* Past the string token that opens at p (its quote). */
static const char *skip_string(const char *p, const char *end)
{
    p++;
    for (;;) {
        while (p < end && !(stops[(unsigned char)*p] & 1))
            p++;
        if (p >= end)
            return end;
        if (*p == '"')
            return p + 1;
        p += 2; /* checked text: an escape is whole */
    }
}

/* Past the container that opens at p, strings inside skipped whole. */
static const char *skip_container(const char *p, const char *end)
{
    size_t depth = 0;
    for (;;) {
        while (p < end && !(stops[(unsigned char)*p] & 2))
            p++;
        if (p >= end)
            return end;
        switch (*p) {
        case '"': p = skip_string(p, end); continue;
        case '{':
        case '[': depth++; break;
        default: /* } ] */
            if (--depth == 0)
                return p + 1;
            break;
        }
        p++;
    }
}

/* A value's type by its first byte (checked text). */
static enum tg_jv_type type_at(char b)
{
    switch (b) {
    case '"': return TG_JV_STRING;
    case '{': return TG_JV_OBJECT;
    case '[': return TG_JV_ARRAY;
    case 't': return TG_JV_TRUE;
    case 'f': return TG_JV_FALSE;
    case 'n': return TG_JV_NULL;
    default: return b == '-' || (b >= '0' && b <= '9') ? TG_JV_NUMBER : TG_JV_NONE;
    }
}

/* The value that starts at p (no space before it). */
static struct tg_jv value_at(const char *p, const char *end)
{
    if (p >= end)
        return TG_JV_ABSENT;
    struct tg_jv v = {p, 0, type_at(*p)};
    const char *q = p;
    switch (v.type) {
    case TG_JV_STRING: q = skip_string(p, end); break;
    case TG_JV_OBJECT:
    case TG_JV_ARRAY: q = skip_container(p, end); break;
    case TG_JV_TRUE:
    case TG_JV_NULL: q = p + 4; break;
    case TG_JV_FALSE: q = p + 5; break;
    case TG_JV_NUMBER:
        while (q < end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' ||
                           *q == 'e' || *q == 'E'))
            q++;
        break;
    case TG_JV_NONE: break;
    }
    if (q > end || q == p)
        return TG_JV_ABSENT;
    v.len = (size_t)(q - p);
    return v;
}

struct tg_jv tg_jv_span(const char *p, size_t len)
{
    if (len == 0 || type_at(*p) == TG_JV_NONE)
        return TG_JV_ABSENT;
    return (struct tg_jv){p, len, type_at(*p)};
}

struct tg_jv tg_jv_root(const char *text, size_t len)
{
    /* Checked text is one value between spaces: its extent needs no walk. */
    const char *end = text + len;
    const char *p = skip_ws(text, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    if (p == end || type_at(*p) == TG_JV_NONE)
        return TG_JV_ABSENT;
    return (struct tg_jv){p, (size_t)(end - p), type_at(*p)};
}

void tg_jv_iter_init(struct tg_jv_iter *it, struct tg_jv container)
{
    it->object = container.type == TG_JV_OBJECT;
    if (container.type != TG_JV_OBJECT && container.type != TG_JV_ARRAY) {
        it->p = it->end = NULL;
        return;
    }
    it->p = container.p + 1;
    it->end = container.p + container.len - 1; /* at the closing bracket */
}

bool tg_jv_next(struct tg_jv_iter *it, struct tg_jv *key, struct tg_jv *value)
{
    const char *p = skip_ws(it->p, it->end);
    if (p < it->end && *p == ',')
        p = skip_ws(p + 1, it->end);
    if (p >= it->end)
        return false;
    struct tg_jv k = TG_JV_ABSENT;
    if (it->object) {
        k = value_at(p, it->end);
        if (k.type != TG_JV_STRING)
            return false;
        p = skip_ws(p + k.len, it->end);
        if (p >= it->end || *p != ':')
            return false;
        p = skip_ws(p + 1, it->end);
    }
    struct tg_jv v = value_at(p, it->end);
    if (v.type == TG_JV_NONE)
        return false;
    it->p = p + v.len;
    if (key)
        *key = k;
    *value = v;
    return true;
}

void tg_jv_pick(struct tg_jv v, const char *const *keys, size_t n, struct tg_jv *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = TG_JV_ABSENT;
    if (v.type != TG_JV_OBJECT)
        return;
    struct tg_jv_iter it;
    struct tg_jv k, val;
    size_t found = 0;
    tg_jv_iter_init(&it, v);
    while (found < n && tg_jv_next(&it, &k, &val)) {
        for (size_t i = 0; i < n; i++) {
            if (out[i].type == TG_JV_NONE && tg_jv_str_eq(k, keys[i])) {
                out[i] = val; /* a key asked twice gets it twice */
                found++;
            }
        }
    }
}

struct tg_jv tg_jv_get(struct tg_jv v, const char *key)
{
    struct tg_jv found;
    tg_jv_pick(v, &key, 1, &found);
    return found;
}

struct tg_jv tg_jv_at(struct tg_jv v, size_t index)
{
    if (v.type != TG_JV_ARRAY)
        return TG_JV_ABSENT;
    struct tg_jv_iter it;
    struct tg_jv val;
    tg_jv_iter_init(&it, v);
    for (size_t i = 0; tg_jv_next(&it, NULL, &val); i++)
        if (i == index)
            return val;
    return TG_JV_ABSENT;
}

bool tg_jv_is_empty(struct tg_jv v)
{
    struct tg_jv_iter it;
    struct tg_jv val;
    tg_jv_iter_init(&it, v);
    return (v.type == TG_JV_ARRAY || v.type == TG_JV_OBJECT) && !tg_jv_next(&it, NULL, &val);
}

static bool has_escape(struct tg_jv v)
{
    return memchr(v.p + 1, '\\', v.len - 2) != NULL;
}

bool tg_jv_str_eq(struct tg_jv v, const char *s)
{
    if (v.type != TG_JV_STRING)
        return false;
    /* Most keys a pick compares differ at their first byte, which an escape
     * alone can change. */
    if (s[0] != '\0' && v.p[1] != s[0] && v.p[1] != '\\')
        return false;
    size_t n = strlen(s), raw = v.len - 2;
    /* Unescaping only shortens: equal raw bytes decide unless s itself
     * holds a backslash, and raw bytes shorter than s never read as it. */
    if (raw == n && memcmp(v.p + 1, s, n) == 0)
        return memchr(s, '\\', n) == NULL;
    if (raw <= n || !has_escape(v))
        return false;
    struct tg_json_unesc u;
    tg_json_unesc_init(&u, v.p, 0, v.len);
    for (size_t i = 0; i < n; i++)
        if (tg_json_unesc_next(&u) != (unsigned char)s[i])
            return false;
    return tg_json_unesc_next(&u) < 0;
}

bool tg_jv_str_raw(struct tg_jv v, const char **p, size_t *n)
{
    if (v.type != TG_JV_STRING || has_escape(v))
        return false;
    *p = v.p + 1;
    *n = v.len - 2;
    return true;
}

bool tg_jv_str_nonempty(struct tg_jv v)
{
    if (v.type != TG_JV_STRING)
        return false;
    struct tg_json_unesc u;
    tg_json_unesc_init(&u, v.p, 0, v.len);
    return tg_json_unesc_next(&u) >= 0;
}

void tg_jv_str_append(struct tg_jv v, struct tg_buf *out)
{
    if (v.type != TG_JV_STRING)
        return;
    if (!has_escape(v)) {
        tg_buf_append(out, v.p + 1, v.len - 2);
        return;
    }
    tg_buf_reserve(out, v.len);
    struct tg_json_unesc u;
    tg_json_unesc_init(&u, v.p, 0, v.len);
    for (int b; (b = tg_json_unesc_next(&u)) >= 0;)
        tg_buf_putc(out, (char)b);
}

size_t tg_jv_str_copy(struct tg_jv v, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    if (v.type == TG_JV_STRING) {
        struct tg_json_unesc u;
        tg_json_unesc_init(&u, v.p, 0, v.len);
        for (int b; n + 1 < cap && (b = tg_json_unesc_next(&u)) >= 0;)
            out[n++] = (char)b;
    }
    out[n] = '\0';
    return n;
}

bool tg_jv_num(struct tg_jv v, double *out)
{
    char num[TG_JSON_MAX_NUMBER_LEN + 1];
    if (v.type != TG_JV_NUMBER || v.len > TG_JSON_MAX_NUMBER_LEN)
        return false;
    memcpy(num, v.p, v.len);
    num[v.len] = '\0';
    *out = strtod(num, NULL);
    return true;
}

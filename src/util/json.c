/* JSON helpers (see json.h). */
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *tg_json_parse(const char *p, size_t len)
{
    if (len == 0)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
    if (!root)
        return NULL;
    for (const char *q = end; q && q < p + len; q++) {
        if (!is_ws(*q)) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

const char *tg_json_get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool tg_json_get_num(const cJSON *obj, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

bool tg_json_get_bool(const cJSON *obj, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsTrue(v))
        return true;
    if (cJSON_IsFalse(v))
        return false;
    return dflt;
}

/* ---- a minimal scanner: skips values without building them ---- */

struct scan {
    const char *p, *end;
    int depth;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static bool skip_string(struct scan *s)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    s->p++;
    while (s->p < s->end) {
        char c = *s->p++;
        if (c == '"')
            return true;
        if (c == '\\') {
            if (s->p >= s->end)
                return false;
            s->p++;
        }
    }
    return false;
}

static bool skip_value(struct scan *s);

static bool skip_container(struct scan *s, char close)
{
    if (++s->depth > 512)
        return false;
    s->p++; /* the opening bracket */
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    for (;;) {
        skip_ws(s);
        if (close == '}') {
            if (!skip_string(s))
                return false;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            s->p++;
            skip_ws(s);
        }
        if (!skip_value(s))
            return false;
        skip_ws(s);
        if (s->p >= s->end)
            return false;
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p == close) {
            s->p++;
            s->depth--;
            return true;
        }
        return false;
    }
}

static bool skip_value(struct scan *s)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '"':
        return skip_string(s);
    case '{':
        return skip_container(s, '}');
    case '[':
        return skip_container(s, ']');
    default: {
        /* number, true, false, null: up to the next delimiter (not empty) */
        const char *start = s->p;
        while (s->p < s->end && !is_ws(*s->p) && *s->p != ',' && *s->p != '}' && *s->p != ']')
            s->p++;
        return s->p > start;
    }
    }
}

bool tg_json_find_member(const char *p, size_t len, const char *key, size_t *start, size_t *end)
{
    struct scan s = {p, p + len, 0};
    size_t klen = strlen(key);
    bool found = false;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return false;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}')
        return false;
    for (;;) {
        skip_ws(&s);
        const char *kstart = s.p;
        if (!skip_string(&s))
            return false;
        /* Compares the raw key text: keys with escapes never match a plain key. */
        bool match = (size_t)(s.p - kstart) == klen + 2 && memcmp(kstart + 1, key, klen) == 0;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return false;
        s.p++;
        skip_ws(&s);
        const char *vstart = s.p;
        if (!skip_value(&s))
            return false;
        if (match && !found) { /* the first occurrence, as cJSON reads it */
            *start = (size_t)(vstart - p);
            *end = (size_t)(s.p - p);
            found = true;
        }
        skip_ws(&s);
        if (s.p >= s.end)
            return false;
        if (*s.p == ',') {
            s.p++;
            continue;
        }
        return *s.p == '}' && found;
    }
}

void tg_buf_json_str(struct tg_buf *b, const char *s, size_t n)
{
    tg_buf_putc(b, '"');
    tg_buf_json_escape(b, s, n);
    tg_buf_putc(b, '"');
}

void tg_buf_json_item(struct tg_buf *b, const cJSON *item)
{
    char *text = cJSON_PrintUnformatted(item);
    if (text) {
        tg_buf_puts(b, text);
        cJSON_free(text);
    } else {
        tg_buf_puts(b, "null");
    }
}

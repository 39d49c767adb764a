/* Made-up JSON that fits a JSON Schema, and free-form JSON objects (see
 * schema_gen.h). Written straight into the output buffer; the only tree
 * built is the small merge of an allOf. */
#include "mock/schema_gen.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/json.h"

static const char *const words[64] = {
    "the",     "model",    "answers", "quickly", "with",   "a",       "clear",   "and",
    "useful",  "reply",    "about",   "your",    "request", "in",     "plain",   "words",
    "this",    "gateway",  "keeps",   "calls",   "alive",   "when",   "providers", "fail",
    "retries", "hedges",   "and",     "fallbacks", "help", "every",   "request", "arrive",
    "latency", "matters",  "so",      "tail",    "requests", "are",   "cut",     "short",
    "tokens",  "stream",   "one",     "by",      "one",     "until",  "done",    "here",
    "is",      "more",     "text",    "to",      "read",    "from",   "the",     "mock",
    "provider", "which",   "never",   "spends",  "money",   "or",     "time",    "today",
};

const char *tg_mock_word(struct tg_rand *rand)
{
    return words[tg_rand_below(rand, 64)];
}

/* Past LEAN_DEPTH only what the schema demands is made; past MAX_DEPTH (a
 * schema that demands infinite nesting) the value is null. */
enum { LEAN_DEPTH = 6, MAX_DEPTH = 32, MAX_ITEMS = 1000, DEFAULT_SPAN = 100 };
/* A schema can demand more than any answer should hold (minItems nested in
 * minItems): past this many bytes no further elements or members are added,
 * even below minItems / minProperties. */
#define MAX_TEXT ((size_t)4 << 20)

struct gen {
    const cJSON *root; /* for $ref */
    struct tg_rand *rand;
    struct tg_buf *out;
    size_t limit; /* out->len past which containers stop growing */
};

static void gen_value(struct gen *g, const cJSON *s, int depth);

static const cJSON *get(const cJSON *s, const char *key)
{
    return cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, key) : NULL;
}

/* A JSON pointer fragment ("#", "#/$defs/a~1b") within the root document. */
static const cJSON *resolve_ref(const cJSON *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL; /* another document: out of reach */
    const cJSON *node = root;
    const char *p = ref + 1;
    while (*p == '/' && node) {
        char key[256];
        size_t n = 0;
        for (p++; *p && *p != '/'; p++) {
            char c = *p;
            if (c == '~' && (p[1] == '0' || p[1] == '1'))
                c = *++p == '0' ? '~' : '/';
            if (n + 1 >= sizeof(key))
                return NULL;
            key[n++] = c;
        }
        key[n] = '\0';
        if (cJSON_IsArray(node)) {
            char *end;
            long i = strtol(key, &end, 10);
            node = *end || i < 0 ? NULL : cJSON_GetArrayItem(node, (int)i);
        } else {
            node = get(node, key);
        }
    }
    return *p ? NULL : node;
}

/* Follows $ref hops; each counts as a level, so a loop of references ends. */
static const cJSON *deref(const struct gen *g, const cJSON *s, int *depth)
{
    const char *ref;
    while ((ref = tg_json_get_str(s, "$ref")) != NULL && *depth <= MAX_DEPTH) {
        s = resolve_ref(g->root, ref);
        (*depth)++;
    }
    return s;
}

static bool str_in(const cJSON *arr, const char *s)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0)
            return true;
    }
    return false;
}

/* ---- scalars ---- */

/* Bounds of a number schema: inclusive (minimum) or exclusive
 * (exclusiveMinimum as a number, or as draft 4's boolean beside minimum). */
struct bounds {
    double lo, hi;
    bool has_lo, has_hi, lo_ex, hi_ex;
};

static struct bounds bounds_of(const cJSON *s)
{
    struct bounds b = {0, 0, false, false, false, false};
    double v;
    if (tg_json_get_num(s, "minimum", &v))
        b.lo = v, b.has_lo = true, b.lo_ex = tg_json_get_bool(s, "exclusiveMinimum", false);
    if (tg_json_get_num(s, "exclusiveMinimum", &v) && (!b.has_lo || v >= b.lo))
        b.lo = v, b.has_lo = true, b.lo_ex = true;
    if (tg_json_get_num(s, "maximum", &v))
        b.hi = v, b.has_hi = true, b.hi_ex = tg_json_get_bool(s, "exclusiveMaximum", false);
    if (tg_json_get_num(s, "exclusiveMaximum", &v) && (!b.has_hi || v <= b.hi))
        b.hi = v, b.has_hi = true, b.hi_ex = true;
    /* Keep integers exact and the span finite. */
    if (b.has_lo)
        b.lo = fmax(b.lo, -1e15);
    if (b.has_hi)
        b.hi = fmin(b.hi, 1e15);
    if (!b.has_lo)
        b.lo = b.has_hi ? b.hi - DEFAULT_SPAN : 0;
    if (!b.has_hi)
        b.hi = b.lo + DEFAULT_SPAN;
    return b;
}

static void gen_integer(struct gen *g, const cJSON *s)
{
    struct bounds b = bounds_of(s);
    double lo = ceil(b.lo), hi = floor(b.hi);
    if (b.lo_ex && lo == b.lo)
        lo += 1;
    if (b.hi_ex && hi == b.hi)
        hi -= 1;
    double m = 0;
    if (tg_json_get_num(s, "multipleOf", &m) && m > 0 && m == floor(m)) {
        double k_lo = ceil(lo / m), k_hi = floor(hi / m);
        if (k_lo <= k_hi) {
            double k = k_lo + (double)tg_rand_below(g->rand, (uint64_t)(k_hi - k_lo) + 1);
            tg_buf_printf(g->out, "%lld", (long long)(k * m));
            return;
        }
    }
    long long v = (long long)lo;
    if (lo < hi)
        v += (long long)tg_rand_below(g->rand, (uint64_t)(hi - lo) + 1);
    tg_buf_printf(g->out, "%lld", v);
}

static void gen_number(struct gen *g, const cJSON *s)
{
    struct bounds b = bounds_of(s);
    double m = 0;
    if (tg_json_get_num(s, "multipleOf", &m) && m > 0) {
        double k_lo = ceil(b.lo / m), k_hi = floor(b.hi / m);
        if (b.lo_ex && k_lo * m == b.lo)
            k_lo += 1;
        if (b.hi_ex && k_hi * m == b.hi)
            k_hi -= 1;
        if (k_lo <= k_hi) {
            double k = k_lo + floor(tg_rand_unit(g->rand) * (k_hi - k_lo + 1));
            tg_buf_printf(g->out, "%.15g", fmin(k, k_hi) * m);
            return;
        }
    }
    /* Two decimals, as a model writes numbers; the midpoint when rounding
     * lands on an excluded bound. */
    double v = round((b.lo + tg_rand_unit(g->rand) * (b.hi - b.lo)) * 100) / 100;
    if (v < b.lo || v > b.hi || (b.lo_ex && v == b.lo) || (b.hi_ex && v == b.hi))
        v = b.lo + (b.hi - b.lo) / 2;
    tg_buf_printf(g->out, "%.15g", v);
}

static void hex(struct tg_buf *b, struct tg_rand *rand, int n)
{
    for (int i = 0; i < n; i++)
        tg_buf_putc(b, "0123456789abcdef"[tg_rand_below(rand, 16)]);
}

/* The string's characters (unquoted) for a format; false for none known. */
static bool gen_format(struct gen *g, const char *format, struct tg_buf *t)
{
    struct tg_rand *r = g->rand;
    unsigned day = 1 + (unsigned)tg_rand_below(r, 28), mon = 1 + (unsigned)tg_rand_below(r, 12);
    unsigned hh = (unsigned)tg_rand_below(r, 24), mm = (unsigned)tg_rand_below(r, 60);
    if (strcmp(format, "date-time") == 0)
        tg_buf_printf(t, "2025-%02u-%02uT%02u:%02u:00Z", mon, day, hh, mm);
    else if (strcmp(format, "date") == 0)
        tg_buf_printf(t, "2025-%02u-%02u", mon, day);
    else if (strcmp(format, "time") == 0)
        tg_buf_printf(t, "%02u:%02u:00Z", hh, mm);
    else if (strcmp(format, "duration") == 0)
        tg_buf_printf(t, "PT%uM", mm + 1);
    else if (strcmp(format, "email") == 0 || strcmp(format, "idn-email") == 0)
        tg_buf_printf(t, "%s@example.com", tg_mock_word(r));
    else if (strcmp(format, "hostname") == 0 || strcmp(format, "idn-hostname") == 0)
        tg_buf_printf(t, "%s.example.com", tg_mock_word(r));
    else if (strncmp(format, "uri", 3) == 0 || strncmp(format, "iri", 3) == 0 ||
             strcmp(format, "url") == 0)
        tg_buf_printf(t, "https://example.com/%s", tg_mock_word(r));
    else if (strcmp(format, "ipv4") == 0)
        tg_buf_printf(t, "10.%u.%u.%u", hh, mm, day);
    else if (strcmp(format, "ipv6") == 0)
        tg_buf_printf(t, "fd00::%x:%x", hh, mm);
    else if (strcmp(format, "uuid") == 0) {
        hex(t, r, 8);
        tg_buf_puts(t, "-");
        hex(t, r, 4);
        tg_buf_puts(t, "-4");
        hex(t, r, 3);
        tg_buf_puts(t, "-a");
        hex(t, r, 3);
        tg_buf_puts(t, "-");
        hex(t, r, 12);
    } else
        return false;
    return true;
}

static void gen_string(struct gen *g, const cJSON *s, int depth)
{
    struct tg_buf t = TG_BUF_INIT;
    const char *format = tg_json_get_str(s, "format");
    if (!format || !gen_format(g, format, &t)) {
        int n = depth >= LEAN_DEPTH ? 1 : 1 + (int)tg_rand_below(g->rand, 4);
        for (int i = 0; i < n; i++) {
            if (i)
                tg_buf_putc(&t, ' ');
            tg_buf_puts(&t, tg_mock_word(g->rand));
        }
    }
    double min_len = 0, max_len = -1;
    tg_json_get_num(s, "minLength", &min_len);
    tg_json_get_num(s, "maxLength", &max_len);
    if (min_len > 100000)
        min_len = 100000;
    while ((double)t.len < min_len)
        tg_buf_putc(&t, 'x');
    size_t len = t.len; /* ASCII only: bytes are characters */
    if (max_len >= 0 && (double)len > max_len)
        len = (size_t)max_len;
    tg_buf_json_str(g->out, t.data ? t.data : "", len);
    tg_buf_free(&t);
}

/* ---- containers ---- */

static void member_key(struct gen *g, bool *first, const char *key)
{
    if (!*first)
        tg_buf_putc(g->out, ',');
    *first = false;
    tg_buf_json_str(g->out, key, strlen(key));
    tg_buf_putc(g->out, ':');
}

/* Every declared property (a strict schema requires them all), only the
 * required ones when deep; required names without a property get the
 * additionalProperties schema; minProperties is met with extra members
 * unless additionalProperties is false. */
static void gen_object(struct gen *g, const cJSON *s, int depth)
{
    bool lean = depth >= LEAN_DEPTH;
    const cJSON *props = get(s, "properties");
    const cJSON *req = get(s, "required");
    const cJSON *extra = get(s, "additionalProperties");
    const cJSON *extra_schema = cJSON_IsObject(extra) ? extra : NULL;
    int count = 0;
    bool first = true;
    tg_buf_putc(g->out, '{');
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        if (lean && !str_in(req, p->string))
            continue;
        member_key(g, &first, p->string);
        gen_value(g, p, depth + 1);
        count++;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, req)
    {
        if (!cJSON_IsString(r) || get(props, r->valuestring))
            continue;
        bool seen = false;
        for (const cJSON *q = req->child; q != r && !seen; q = q->next)
            seen = cJSON_IsString(q) && strcmp(q->valuestring, r->valuestring) == 0;
        if (seen)
            continue;
        member_key(g, &first, r->valuestring);
        gen_value(g, extra_schema, depth + 1);
        count++;
    }
    double min_props = 0;
    tg_json_get_num(s, "minProperties", &min_props);
    if (!props && extra_schema && !lean && min_props < 1)
        min_props = 1; /* a map: show an entry */
    for (int i = 0; count < min_props && count < MAX_ITEMS && !cJSON_IsFalse(extra) &&
                    g->out->len < g->limit;
         i++) {
        char key[48];
        snprintf(key, sizeof(key), "%s_%d", tg_mock_word(g->rand), i);
        if (get(props, key))
            continue;
        member_key(g, &first, key);
        gen_value(g, extra_schema, depth + 1);
        count++;
    }
    tg_buf_putc(g->out, '}');
}

/* Cuts b back to len bytes (a discarded draw), keeping the NUL after it. */
static void truncate_to(struct tg_buf *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

/* minItems..maxItems elements (1 to 3 when unbounded, minItems when deep);
 * prefixItems (or draft 4's items array) for the first ones; uniqueItems
 * by drawing again, then stopping early once minItems is met. */
static void gen_array(struct gen *g, const cJSON *s, int depth)
{
    double min_items = 0, max_items = -1;
    tg_json_get_num(s, "minItems", &min_items);
    tg_json_get_num(s, "maxItems", &max_items);
    size_t lo = min_items > 0 ? (size_t)fmin(min_items, MAX_ITEMS) : 0;
    size_t hi = max_items >= 0 ? (size_t)fmin(max_items, MAX_ITEMS) : lo + 3;
    if (hi < lo)
        hi = lo;
    size_t n = lo;
    if (depth < LEAN_DEPTH) {
        size_t from = lo > 0 ? lo : (hi > 0 ? 1 : 0), to = hi < from + 2 ? hi : from + 2;
        n = from + (size_t)tg_rand_below(g->rand, to - from + 1);
    }
    const cJSON *items = get(s, "items");
    const cJSON *prefix = get(s, "prefixItems");
    const cJSON *rest = items;
    if (cJSON_IsArray(items)) {
        prefix = items;
        rest = get(s, "additionalItems");
    }
    bool unique = tg_json_get_bool(s, "uniqueItems", false);
    /* With uniqueItems: where each element's text lies, to compare draws. */
    size_t *spans = unique ? tg_xmalloc(2 * (n + 1) * sizeof(size_t)) : NULL;
    size_t made = 0;
    tg_buf_putc(g->out, '[');
    for (size_t i = 0; i < n && g->out->len < g->limit; i++) {
        const cJSON *is = cJSON_GetArrayItem(prefix, (int)i);
        if (!is)
            is = cJSON_IsObject(rest) ? rest : NULL;
        size_t mark = g->out->len;
        bool placed = false;
        for (int attempt = 0; attempt < (unique ? 32 : 1) && !placed; attempt++) {
            truncate_to(g->out, mark);
            if (made)
                tg_buf_putc(g->out, ',');
            size_t start = g->out->len;
            gen_value(g, is, depth + 1);
            size_t len = g->out->len - start;
            placed = true;
            for (size_t k = 0; unique && k < made && placed; k++)
                placed = !(spans[2 * k + 1] == len &&
                           memcmp(g->out->data + spans[2 * k], g->out->data + start, len) == 0);
            if (unique) {
                spans[2 * made] = start;
                spans[2 * made + 1] = len;
            }
        }
        if (!placed && made >= lo) {
            truncate_to(g->out, mark);
            break;
        }
        /* Unplaced below minItems: the repeat stays rather than too few. */
        made++;
    }
    free(spans);
    tg_buf_putc(g->out, ']');
}

/* An allOf: the members of every part (and of the schema around it) in one
 * object schema; a non-object allOf gives the value of its first part. */
static void gen_all_of(struct gen *g, const cJSON *s, const cJSON *all, int depth)
{
    cJSON *merged = cJSON_CreateObject();
    cJSON *props = cJSON_AddObjectToObject(merged, "properties");
    cJSON *req = cJSON_AddArrayToObject(merged, "required");
    bool objects = cJSON_GetObjectItemCaseSensitive(s, "properties") != NULL;
    const cJSON *first_part = NULL;
    for (int k = -1; k < cJSON_GetArraySize(all); k++) {
        int d = depth;
        const cJSON *part = k < 0 ? s : deref(g, cJSON_GetArrayItem(all, k), &d);
        if (!cJSON_IsObject(part))
            continue;
        if (k >= 0 && !first_part)
            first_part = part;
        const char *type = tg_json_get_str(part, "type");
        objects = objects || get(part, "properties") || (type && strcmp(type, "object") == 0);
        const cJSON *p;
        cJSON_ArrayForEach(p, get(part, "properties"))
        {
            if (!cJSON_GetObjectItemCaseSensitive(props, p->string))
                cJSON_AddItemReferenceToObject(props, p->string, (cJSON *)p);
        }
        cJSON_ArrayForEach(p, get(part, "required"))
        {
            if (cJSON_IsString(p) && !str_in(req, p->valuestring))
                cJSON_AddItemToArray(req, cJSON_CreateString(p->valuestring));
        }
    }
    if (objects)
        gen_object(g, merged, depth);
    else
        gen_value(g, first_part, depth + 1);
    cJSON_Delete(merged);
}

/* A union's branch: at random among those without a `pattern` (which the
 * generator cannot honour: pydantic's Decimal is number or patterned
 * string), or when deep the one that ends soonest (null, then anything that
 * is not a reference). */
static const cJSON *pick_branch(struct gen *g, const cJSON *u, int depth)
{
    if (depth >= LEAN_DEPTH) {
        const cJSON *b, *plain = NULL;
        cJSON_ArrayForEach(b, u)
        {
            const char *type = tg_json_get_str(b, "type");
            if (type && strcmp(type, "null") == 0)
                return b;
            if (!plain && !get(b, "$ref"))
                plain = b;
        }
        if (plain)
            return plain;
    }
    const cJSON *b;
    uint64_t n = 0;
    cJSON_ArrayForEach(b, u) n += !get(b, "pattern");
    if (n == 0)
        return cJSON_GetArrayItem(u, (int)tg_rand_below(g->rand, (uint64_t)cJSON_GetArraySize(u)));
    uint64_t k = tg_rand_below(g->rand, n);
    cJSON_ArrayForEach(b, u)
    {
        if (!get(b, "pattern") && k-- == 0)
            return b;
    }
    return NULL; /* not reached */
}

enum kind { K_STRING, K_NULL, K_BOOLEAN, K_INTEGER, K_NUMBER, K_ARRAY, K_OBJECT };

static const struct {
    const char *name;
    enum kind kind;
} kinds[] = {{"string", K_STRING},   {"null", K_NULL},   {"boolean", K_BOOLEAN},
             {"integer", K_INTEGER}, {"number", K_NUMBER}, {"array", K_ARRAY},
             {"object", K_OBJECT}};

static bool kind_of(const cJSON *t, enum kind *k)
{
    for (size_t i = 0; cJSON_IsString(t) && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, t->valuestring) == 0) {
            *k = kinds[i].kind;
            return true;
        }
    }
    return false;
}

/* The declared type (one of a list: null when deep, else at random), or
 * the one the schema's keywords imply. */
static enum kind pick_kind(struct gen *g, const cJSON *s, int depth)
{
    const cJSON *type = get(s, "type");
    enum kind k;
    if (cJSON_IsArray(type) && cJSON_GetArraySize(type) > 0) {
        if (depth >= LEAN_DEPTH && str_in(type, "null"))
            return K_NULL;
        int n = cJSON_GetArraySize(type);
        if (kind_of(cJSON_GetArrayItem(type, (int)tg_rand_below(g->rand, (uint64_t)n)), &k))
            return k;
    } else if (kind_of(type, &k)) {
        return k;
    }
    if (get(s, "properties") || get(s, "required") || get(s, "additionalProperties"))
        return K_OBJECT;
    if (get(s, "items") || get(s, "prefixItems"))
        return K_ARRAY;
    if (get(s, "minimum") || get(s, "maximum") || get(s, "exclusiveMinimum") ||
        get(s, "exclusiveMaximum") || get(s, "multipleOf"))
        return K_NUMBER;
    return K_STRING;
}

static void gen_value(struct gen *g, const cJSON *s, int depth)
{
    s = deref(g, s, &depth);
    if (depth > MAX_DEPTH || cJSON_IsFalse(s)) {
        tg_buf_puts(g->out, "null");
        return;
    }
    if (!cJSON_IsObject(s)) { /* no schema, true, or a broken reference */
        gen_string(g, NULL, depth);
        return;
    }
    const cJSON *c = get(s, "const");
    if (c) {
        tg_buf_json_item(g->out, c);
        return;
    }
    const cJSON *e = get(s, "enum");
    if (cJSON_IsArray(e) && cJSON_GetArraySize(e) > 0) {
        int n = cJSON_GetArraySize(e);
        tg_buf_json_item(g->out, cJSON_GetArrayItem(e, (int)tg_rand_below(g->rand, (uint64_t)n)));
        return;
    }
    const cJSON *u = get(s, "anyOf");
    if (!cJSON_IsArray(u) || cJSON_GetArraySize(u) == 0)
        u = get(s, "oneOf");
    if (cJSON_IsArray(u) && cJSON_GetArraySize(u) > 0) {
        gen_value(g, pick_branch(g, u, depth), depth);
        return;
    }
    const cJSON *all = get(s, "allOf");
    if (cJSON_IsArray(all) && cJSON_GetArraySize(all) > 0) {
        gen_all_of(g, s, all, depth);
        return;
    }
    switch (pick_kind(g, s, depth)) {
    case K_NULL:
        tg_buf_puts(g->out, "null");
        break;
    case K_BOOLEAN:
        tg_buf_puts(g->out, tg_rand_below(g->rand, 2) ? "true" : "false");
        break;
    case K_INTEGER:
        gen_integer(g, s);
        break;
    case K_NUMBER:
        gen_number(g, s);
        break;
    case K_ARRAY:
        gen_array(g, s, depth);
        break;
    case K_OBJECT:
        gen_object(g, s, depth);
        break;
    case K_STRING:
    default:
        gen_string(g, s, depth);
        break;
    }
}

void tg_mock_schema_gen(const cJSON *schema, struct tg_rand *rand, struct tg_buf *out)
{
    struct gen g = {schema, rand, out, out->len + MAX_TEXT};
    gen_value(&g, schema, 0);
}

/* ---- free-form objects ---- */

/* About six tokens a member: key, punctuation and a short value. */
void tg_mock_json_object_gen(struct tg_rand *rand, int64_t tokens, struct tg_buf *out)
{
    int64_t n = tokens / 6;
    n = n < 1 ? 1 : n > 100000 ? 100000 : n;
    const char *used[64];
    size_t n_used = 0;
    tg_buf_putc(out, '{');
    for (int64_t i = 0; i < n; i++) {
        const char *w = tg_mock_word(rand);
        bool dup = n_used == 64;
        for (size_t k = 0; k < n_used && !dup; k++)
            dup = strcmp(used[k], w) == 0;
        if (!dup)
            used[n_used++] = w;
        if (dup)
            tg_buf_printf(out, "%s\"%s_%lld\":", i ? "," : "", w, (long long)i);
        else
            tg_buf_printf(out, "%s\"%s\":", i ? "," : "", w);
        switch (tg_rand_below(rand, 5)) {
        case 0:
            tg_buf_printf(out, "%llu", (unsigned long long)tg_rand_below(rand, 1000));
            break;
        case 1:
            tg_buf_puts(out, tg_rand_below(rand, 2) ? "true" : "false");
            break;
        case 2: {
            uint64_t k = 1 + tg_rand_below(rand, 3);
            tg_buf_putc(out, '[');
            for (uint64_t j = 0; j < k; j++)
                tg_buf_printf(out, "%s\"%s\"", j ? "," : "", tg_mock_word(rand));
            tg_buf_putc(out, ']');
            break;
        }
        default: {
            uint64_t k = 1 + tg_rand_below(rand, 4);
            tg_buf_putc(out, '"');
            for (uint64_t j = 0; j < k; j++)
                tg_buf_printf(out, "%s%s", j ? " " : "", tg_mock_word(rand));
            tg_buf_putc(out, '"');
            break;
        }
        }
    }
    tg_buf_putc(out, '}');
}

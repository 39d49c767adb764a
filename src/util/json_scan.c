/* The strict JSON validator and the member scanner (see json_scan.h).
 *
 * One loop over the bytes with an explicit stack of open containers, so deep
 * nesting costs no C stack. Duplicate keys are found with a hash table of
 * the keys of the objects still open: entries are indexes into a stack of
 * keys that shrinks when an object closes; stale table entries are skipped
 * (their index is past the top, or the key there belongs to another object)
 * and dropped when the table is rebuilt. */
#include "util/json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/hex.h"

enum { KEYS_INLINE = 64, SLOTS_INLINE = 128 };

/* 16 bytes a key: a body of short keys costs about 3 times its size here. */
struct key {
    uint32_t start, end; /* the key token, quotes included */
    uint32_t hash;       /* of the unescaped bytes */
    uint32_t obj;        /* serial of the object it belongs to */
};

struct checker {
    const unsigned char *text, *q, *end;
    unsigned flags;
    struct tg_json_error err;
    int depth;
    unsigned char kind[TG_JSON_MAX_DEPTH]; /* '{' or '[' per open container */
    /* Duplicate keys (TG_JSON_NO_DUP_KEYS only). */
    uint32_t obj_of[TG_JSON_MAX_DEPTH];  /* serial of each open object */
    size_t keys_base[TG_JSON_MAX_DEPTH]; /* its first key in keys[] */
    uint32_t next_obj;
    struct key *keys;
    size_t nkeys, keys_cap;
    uint32_t *slots; /* key index + 1; 0 = empty */
    size_t slots_cap, slots_used;
    struct key keys_inline[KEYS_INLINE];
    uint32_t slots_inline[SLOTS_INLINE];
};

static bool fail(struct checker *c, const unsigned char *at, const char *what)
{
    c->err.offset = (size_t)(at - c->text);
    c->err.what = what;
    return false;
}

static bool is_ws(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static void skip_ws(struct checker *c)
{
    const unsigned char *q = c->q;
    while (q < c->end && is_ws(*q))
        q++;
    c->q = q;
}

/* A refusal at the cursor: control bytes and the end get their own words,
 * since "expected a value" would hide what was actually there. */
static bool unexpected(struct checker *c, const char *what)
{
    if (c->q >= c->end)
        return fail(c, c->q, "unexpected end of the text");
    if (*c->q < 0x20 || *c->q == 0x7f)
        return fail(c, c->q,
                    "a control byte between tokens (only space, tab, CR and LF are whitespace)");
    if (*c->q >= 0x80)
        return fail(c, c->q, "a non-ASCII byte outside a string");
    return fail(c, c->q, what);
}

/* Four hex digits at p (p + 4 <= end checked by the caller), or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = tg_hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* One multi-byte UTF-8 sequence at c->q (RFC 3629 table). */
static bool utf8_seq(struct checker *c)
{
    const unsigned char *s = c->q;
    unsigned char b = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else if (b == 0xc0 || b == 0xc1) {
        return fail(c, s, "overlong UTF-8 in a string");
    } else if (b >= 0xf5) {
        return fail(c, s, "UTF-8 above U+10FFFF in a string");
    } else {
        return fail(c, s, "invalid UTF-8 in a string (a continuation byte without a lead)");
    }
    if ((size_t)(c->end - s) < n)
        return fail(c, s, "truncated UTF-8 in a string");
    if (s[1] < lo || s[1] > hi) {
        if (s[1] >= 0x80 && s[1] <= 0xbf) {
            if (b == 0xed)
                return fail(c, s, "a surrogate encoded in UTF-8 in a string");
            if (b == 0xf4)
                return fail(c, s, "UTF-8 above U+10FFFF in a string");
            return fail(c, s, "overlong UTF-8 in a string");
        }
        return fail(c, s, "truncated UTF-8 in a string");
    }
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return fail(c, s, "truncated UTF-8 in a string");
    c->q = s + n;
    return true;
}

static bool string_escape(struct checker *c)
{
    const unsigned char *s = c->q; /* the backslash */
    if (c->end - s < 2)
        return fail(c, s, "unterminated string");
    switch (s[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': c->q = s + 2; return true;
    case 'u': break;
    default:
        return fail(
            c, s, "an escape JSON does not have (only \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
    }
    long u = c->end - s >= 6 ? hex4(s + 2) : -1;
    if (u < 0)
        return fail(c, s, "\\u without four hex digits");
    if (u == 0)
        return fail(c, s, "\\u0000 (NUL) in a string is not accepted");
    if (u >= 0xdc00 && u <= 0xdfff)
        return fail(c, s, "a lone low surrogate escape (\\uDC00-\\uDFFF without a high one)");
    if (u >= 0xd800 && u <= 0xdbff) {
        long lo = c->end - s >= 12 && s[6] == '\\' && s[7] == 'u' ? hex4(s + 8) : -1;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail(c, s, "a lone high surrogate escape (\\uD800-\\uDBFF without a low one)");
        c->q = s + 12;
        return true;
    }
    c->q = s + 6;
    return true;
}

/* A string at c->q (its opening quote); leaves c->q after the closing one. */
static bool string(struct checker *c)
{
    const unsigned char *start = c->q++;
    for (;;) {
        /* The plain ASCII run, in a local: *q may alias c->q as far as the
         * compiler knows, which would reload it at every byte. */
        const unsigned char *q = c->q, *end = c->end;
        while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        c->q = q;
        if (c->q >= c->end)
            return fail(c, start, "unterminated string");
        unsigned char b = *c->q;
        if (b == '"') {
            c->q++;
            return true;
        }
        if (b == '\\') {
            if (!string_escape(c))
                return false;
        } else if (b < 0x20) {
            return fail(c, c->q, "a raw control byte in a string (it must be escaped)");
        } else if (!utf8_seq(c)) {
            return false;
        }
    }
}

static bool is_digit(const struct checker *c)
{
    return c->q < c->end && *c->q >= '0' && *c->q <= '9';
}

static bool number(struct checker *c)
{
    const unsigned char *start = c->q;
    if (*c->q == '-')
        c->q++;
    if (!is_digit(c))
        return fail(c, c->q, "a '-' without digits after it");
    if (*c->q == '0') {
        c->q++;
        if (is_digit(c))
            return fail(c, start, "a leading zero in a number");
    } else {
        while (is_digit(c))
            c->q++;
    }
    if (c->q < c->end && *c->q == '.') {
        c->q++;
        if (!is_digit(c))
            return fail(c, c->q, "a '.' without digits after it in a number");
        while (is_digit(c))
            c->q++;
    }
    if (c->q < c->end && (*c->q == 'e' || *c->q == 'E')) {
        c->q++;
        if (c->q < c->end && (*c->q == '+' || *c->q == '-'))
            c->q++;
        if (!is_digit(c))
            return fail(c, c->q, "an exponent without digits in a number");
        while (is_digit(c))
            c->q++;
    }
    if (c->q - start > TG_JSON_MAX_NUMBER_LEN)
        return fail(c, start, "a number longer than 63 characters");
    return true;
}

static const char unknown_word[] = "an unknown word (the only ones are true, false and null)";

static bool literal(struct checker *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->q) < n || memcmp(c->q, word, n) != 0)
        return fail(c, c->q, unknown_word);
    c->q += n;
    return true;
}

/* ---- unescaped key bytes ---- */

/* Walks the bytes a validated string token stands for. */
struct unesc {
    const unsigned char *p, *end; /* inside the quotes */
    unsigned char buf[4];
    int n, i;
};

static void unesc_init(struct unesc *u, const char *text, size_t tok_start, size_t tok_end)
{
    u->p = (const unsigned char *)text + tok_start + 1;
    u->end = (const unsigned char *)text + tok_end - 1;
    u->n = u->i = 0;
}

static int unesc_next(struct unesc *u)
{
    if (u->i < u->n)
        return u->buf[u->i++];
    if (u->p >= u->end)
        return -1;
    if (*u->p != '\\')
        return *u->p++;
    unsigned char e = u->p[1];
    u->p += 2;
    switch (e) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': break;
    default: return e; /* " \ / */
    }
    unsigned long cp = (unsigned long)hex4(u->p);
    u->p += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) { /* validated: a low half follows */
        cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned long)hex4(u->p + 2) - 0xdc00);
        u->p += 6;
    }
    u->i = 1; /* buf[0] is returned now */
    if (cp < 0x80) {
        u->n = 0;
        return (int)cp;
    }
    if (cp < 0x800) {
        u->buf[0] = (unsigned char)(0xc0 | (cp >> 6));
        u->buf[1] = (unsigned char)(0x80 | (cp & 0x3f));
        u->n = 2;
    } else if (cp < 0x10000) {
        u->buf[0] = (unsigned char)(0xe0 | (cp >> 12));
        u->buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u->buf[2] = (unsigned char)(0x80 | (cp & 0x3f));
        u->n = 3;
    } else {
        u->buf[0] = (unsigned char)(0xf0 | (cp >> 18));
        u->buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u->buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u->buf[3] = (unsigned char)(0x80 | (cp & 0x3f));
        u->n = 4;
    }
    return u->buf[0];
}

static bool keys_equal(const char *text, const struct key *a, const struct key *b)
{
    struct unesc ua, ub;
    unesc_init(&ua, text, a->start, a->end);
    unesc_init(&ub, text, b->start, b->end);
    for (;;) {
        int x = unesc_next(&ua), y = unesc_next(&ub);
        if (x != y)
            return false;
        if (x < 0)
            return true;
    }
}

bool tg_json_member_key_is(const char *text, const struct tg_json_member *m, const char *key,
                           size_t klen)
{
    struct unesc u;
    unesc_init(&u, text, m->key_start, m->key_end);
    for (size_t i = 0; i < klen; i++)
        if (unesc_next(&u) != (unsigned char)key[i])
            return false;
    return unesc_next(&u) < 0;
}

/* ---- duplicate keys ---- */

static uint32_t key_hash(const char *text, size_t start, size_t end)
{
    struct unesc u;
    unesc_init(&u, text, start, end);
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (int b; (b = unesc_next(&u)) >= 0;)
        h = (h ^ (uint64_t)b) * 0x100000001b3u;
    return (uint32_t)(h ^ (h >> 32));
}

static void slot_put(uint32_t *slots, size_t cap, uint32_t hash, uint32_t v)
{
    size_t i = (size_t)hash & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = v;
}

/* Drops stale entries, growing the table when the live keys need it. */
static void slots_rebuild(struct checker *c)
{
    size_t cap = SLOTS_INLINE;
    while (cap < 2 * (c->nkeys + 1))
        cap *= 2;
    if (cap != c->slots_cap) {
        if (c->slots != c->slots_inline)
            free(c->slots);
        c->slots = cap == SLOTS_INLINE ? c->slots_inline : tg_xmalloc(cap * sizeof(*c->slots));
        c->slots_cap = cap;
    }
    memset(c->slots, 0, cap * sizeof(*c->slots));
    for (size_t i = 0; i < c->nkeys; i++)
        slot_put(c->slots, cap, c->keys[i].hash, (uint32_t)i + 1);
    c->slots_used = c->nkeys;
}

/* Records the key token [start, end) of the innermost object; false if the
 * object already has it. */
static bool key_add(struct checker *c, size_t start, size_t end)
{
    const char *text = (const char *)c->text;
    struct key k = {(uint32_t)start, (uint32_t)end, key_hash(text, start, end),
                    c->obj_of[c->depth - 1]};
    size_t base = c->keys_base[c->depth - 1];
    for (size_t i = (size_t)k.hash & (c->slots_cap - 1); c->slots[i];
         i = (i + 1) & (c->slots_cap - 1)) {
        size_t j = c->slots[i] - 1;
        if (j >= base && j < c->nkeys && c->keys[j].obj == k.obj && c->keys[j].hash == k.hash &&
            keys_equal(text, &c->keys[j], &k))
            return fail(c, c->text + start, "a duplicate key in an object");
    }
    if (c->nkeys == c->keys_cap) {
        size_t cap = c->keys_cap * 2;
        if (c->keys == c->keys_inline) {
            c->keys = tg_xmalloc(cap * sizeof(*c->keys));
            memcpy(c->keys, c->keys_inline, sizeof(c->keys_inline));
        } else {
            c->keys = tg_xrealloc(c->keys, cap * sizeof(*c->keys));
        }
        c->keys_cap = cap;
    }
    c->keys[c->nkeys++] = k;
    if (4 * (c->slots_used + 1) > 3 * c->slots_cap) {
        slots_rebuild(c); /* puts every live key, the new one included */
    } else {
        slot_put(c->slots, c->slots_cap, k.hash, (uint32_t)c->nkeys);
        c->slots_used++;
    }
    return true;
}

/* ---- the document ---- */

static bool push(struct checker *c, unsigned char kind)
{
    if (c->depth == TG_JSON_MAX_DEPTH)
        return fail(c, c->q, "nesting deeper than 256 arrays and objects");
    c->kind[c->depth] = kind;
    if (kind == '{' && (c->flags & TG_JSON_NO_DUP_KEYS)) {
        c->obj_of[c->depth] = c->next_obj++;
        c->keys_base[c->depth] = c->nkeys;
    }
    c->depth++;
    c->q++;
    return true;
}

static void pop(struct checker *c)
{
    c->depth--;
    if (c->kind[c->depth] == '{' && (c->flags & TG_JSON_NO_DUP_KEYS))
        c->nkeys = c->keys_base[c->depth];
    c->q++;
}

static bool document(struct checker *c, const struct tg_json_check_opts *o)
{
    struct tg_json_member m = {0};
    const char *text = (const char *)c->text;
    skip_ws(c);
    if (c->q >= c->end)
        return fail(c, c->q, c->q == c->text ? "an empty text" : "only whitespace, no value");
    if (c->end - c->q >= 3 && memcmp(c->q, "\xef\xbb\xbf", 3) == 0)
        return fail(c, c->q, "a byte order mark (JSON text has none)");
value:
    if (c->q >= c->end)
        return unexpected(c, "");
    switch (*c->q) {
    case '{':
        if (!push(c, '{'))
            return false;
        skip_ws(c);
        if (c->q < c->end && *c->q == '}') {
            pop(c);
            goto after_value;
        }
        goto member;
    case '[':
        if (!push(c, '['))
            return false;
        skip_ws(c);
        if (c->q < c->end && *c->q == ']') {
            pop(c);
            goto after_value;
        }
        goto value;
    case '"':
        if (!string(c))
            return false;
        goto after_value;
    case 't':
        if (!literal(c, "true", 4))
            return false;
        goto after_value;
    case 'f':
        if (!literal(c, "false", 5))
            return false;
        goto after_value;
    case 'n':
        if (!literal(c, "null", 4))
            return false;
        goto after_value;
    default:
        if (*c->q == '-' || (*c->q >= '0' && *c->q <= '9')) {
            if (!number(c))
                return false;
            goto after_value;
        }
        if ((*c->q | 0x20) >= 'a' && (*c->q | 0x20) <= 'z')
            return fail(c, c->q, unknown_word); /* NaN, Infinity, True, undefined... */
        return unexpected(c,
                          "expected a value (object, array, string, number, true, false or null)");
    }
member:
    if (c->q >= c->end || *c->q != '"')
        return unexpected(c, "expected a member name (a string in double quotes)");
    {
        size_t key_start = (size_t)(c->q - c->text);
        if (!string(c))
            return false;
        size_t key_end = (size_t)(c->q - c->text);
        if ((c->flags & TG_JSON_NO_DUP_KEYS) && !key_add(c, key_start, key_end))
            return false;
        skip_ws(c);
        if (c->q >= c->end || *c->q != ':')
            return unexpected(c, "expected ':' after a member name");
        c->q++;
        skip_ws(c);
        if (c->depth == 1) { /* a top-level member: m is reported once its value ends */
            m.key_start = key_start;
            m.key_end = key_end;
            m.value_start = (size_t)(c->q - c->text);
        }
    }
    goto value;
after_value:
    if (c->depth == 0) {
        skip_ws(c);
        if (c->q < c->end)
            return unexpected(c, "text after the value (a JSON text is one value)");
        return true;
    }
    if (c->depth == 1 && c->kind[0] == '{' && o && o->on_member) {
        m.value_end = (size_t)(c->q - c->text);
        o->on_member(o->ctx, text, &m);
    }
    skip_ws(c);
    if (c->q < c->end && *c->q == ',') {
        c->q++;
        skip_ws(c);
        if (c->kind[c->depth - 1] == '{')
            goto member;
        goto value;
    }
    if (c->q < c->end && *c->q == (c->kind[c->depth - 1] == '{' ? '}' : ']')) {
        pop(c);
        goto after_value;
    }
    if (c->q >= c->end)
        return fail(c, c->q,
                    c->kind[c->depth - 1] == '{'
                        ? "unexpected end of the text (an object is not closed)"
                        : "unexpected end of the text (an array is not closed)");
    return unexpected(c, c->kind[c->depth - 1] == '{' ? "expected ',' or '}' after a member"
                                                      : "expected ',' or ']' after an element");
}

bool tg_json_check(const char *p, size_t len, const struct tg_json_check_opts *opts,
                   struct tg_json_error *err)
{
    struct checker mem;
    struct checker *c = &mem;
    c->text = (const unsigned char *)(p ? p : "");
    c->q = c->text;
    c->end = c->text + (p ? len : 0);
    c->flags = opts ? opts->flags : 0;
    c->err.offset = 0;
    c->err.what = NULL;
    c->depth = 0;
    c->next_obj = 0;
    c->keys = c->keys_inline;
    c->nkeys = 0;
    c->keys_cap = KEYS_INLINE;
    c->slots = c->slots_inline;
    c->slots_cap = SLOTS_INLINE;
    c->slots_used = 0;
    if (c->flags & TG_JSON_NO_DUP_KEYS)
        memset(c->slots_inline, 0, sizeof(c->slots_inline));
    /* Key offsets are 32-bit; no body or answer comes near 4 GiB. */
    bool ok = len <= UINT32_MAX ? document(c, opts) : fail(c, c->text, "a text over 4 GiB");
    if (c->keys != c->keys_inline)
        free(c->keys);
    if (c->slots != c->slots_inline)
        free(c->slots);
    if (!ok && err)
        *err = c->err;
    return ok;
}

/* ---- the member scanner ---- */

struct find {
    const char *key;
    size_t klen;
    bool found;
    size_t start, end;
};

static void on_find_member(void *ctx, const char *text, const struct tg_json_member *m)
{
    struct find *f = ctx;
    if (!f->found && tg_json_member_key_is(text, m, f->key, f->klen)) {
        f->found = true;
        f->start = m->value_start;
        f->end = m->value_end;
    }
}

bool tg_json_find_member(const char *p, size_t len, const char *key, size_t *start, size_t *end)
{
    struct find f = {key, strlen(key), false, 0, 0};
    struct tg_json_check_opts o = {TG_JSON_NO_DUP_KEYS, on_find_member, &f};
    if (!tg_json_check(p, len, &o, NULL) || !f.found)
        return false;
    *start = f.start;
    *end = f.end;
    return true;
}

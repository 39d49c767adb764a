/* The strict JSON validator and the member scanner (see json_scan.h).
 *
 * One loop over the bytes with an explicit stack of open containers, so deep
 * nesting costs no C stack. Duplicate keys are looked for when an object
 * closes (see "duplicate keys" below). */
#include "util/json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/hex.h"
#include "util/utf8.h"

enum { KEYS_INLINE = 64, NAMES_INLINE = 256 };

/* 16 bytes a key: a body of short keys ("a":0, 6 bytes) costs about 3 times
 * its size here, and only while their object is open. */
struct key {
    uint32_t off, len; /* the bytes cJSON reads for it, in text or names */
    uint32_t tok;      /* where its token starts, for the error */
    bool unescaped;    /* off is in names, not in text */
};

struct checker {
    const unsigned char *text, *q, *end;
    unsigned flags;
    struct tg_json_error err;
    int depth;
    unsigned char kind[TG_JSON_MAX_DEPTH]; /* '{' or '[' per open container */
    bool escaped;                          /* the last string had a backslash */
    /* Duplicate keys (TG_JSON_NO_DUP_KEYS only): the keys of the open
     * objects, and the unescaped bytes of those that had escapes. */
    size_t keys_base[TG_JSON_MAX_DEPTH];  /* each open object's first key */
    size_t names_base[TG_JSON_MAX_DEPTH]; /* and its first byte in names */
    struct key *keys;
    size_t nkeys, keys_cap;
    unsigned char *names;
    size_t nnames, names_cap;
    struct key keys_inline[KEYS_INLINE];
    unsigned char names_inline[NAMES_INLINE];
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

/* Why s[0..n) does not start with a valid UTF-8 sequence (RFC 3629). */
static const char *utf8_problem(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b == 0xc0 || b == 0xc1)
        return "overlong UTF-8 in a string";
    if (b >= 0xf5)
        return "UTF-8 above U+10FFFF in a string";
    if (b < 0xc2)
        return "invalid UTF-8 in a string (a continuation byte without a lead)";
    /* A lead byte: the sequence stops short, or its second byte is a
     * continuation out of the lead's range. */
    size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    if (n >= need && s[1] >= 0x80 && s[1] <= 0xbf &&
        (b == 0xe0 || b == 0xed || b == 0xf0 || b == 0xf4)) {
        bool in_range = b == 0xe0 ? s[1] >= 0xa0 : b == 0xed ? s[1] <= 0x9f
                        : b == 0xf0                          ? s[1] >= 0x90
                                                             : s[1] <= 0x8f;
        if (!in_range)
            return b == 0xed   ? "a surrogate encoded in UTF-8 in a string"
                   : b == 0xf4 ? "UTF-8 above U+10FFFF in a string"
                               : "overlong UTF-8 in a string";
    }
    return "truncated UTF-8 in a string";
}

/* One multi-byte UTF-8 sequence at c->q. */
static bool utf8_seq(struct checker *c)
{
    size_t n = (size_t)(c->end - c->q);
    size_t len = tg_utf8_seq_len(c->q, n);
    if (len > 0) {
        c->q += len;
        return true;
    }
    return fail(c, c->q, utf8_problem(c->q, n));
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
    bool odd_refused = c->flags & TG_JSON_NO_ODD_ESCAPES;
    if (u == 0 && odd_refused)
        return fail(c, s, "\\u0000 (NUL) in a string is not accepted");
    if (u >= 0xdc00 && u <= 0xdfff && odd_refused)
        return fail(c, s, "a lone low surrogate escape (\\uDC00-\\uDFFF without a high one)");
    if (u >= 0xd800 && u <= 0xdbff) {
        long lo = c->end - s >= 12 && s[6] == '\\' && s[7] == 'u' ? hex4(s + 8) : -1;
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            c->q = s + 12;
            return true;
        }
        if (odd_refused)
            return fail(c, s, "a lone high surrogate escape (\\uD800-\\uDBFF without a low one)");
    }
    c->q = s + 6;
    return true;
}

/* A string at c->q (its opening quote); leaves c->q after the closing one. */
static bool string(struct checker *c)
{
    const unsigned char *start = c->q++;
    c->escaped = false;
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
            c->escaped = true;
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

/* ---- unescaped string bytes ---- */

void tg_json_unesc_init(struct tg_json_unesc *u, const char *text, size_t tok_start,
                        size_t tok_end)
{
    u->p = (const unsigned char *)text + tok_start + 1;
    u->end = (const unsigned char *)text + tok_end - 1;
    u->n = u->i = 0;
}

int tg_json_unesc_next(struct tg_json_unesc *u)
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
    if (cp == 0) { /* cJSON's string ends there */
        u->p = u->end;
        return -1;
    }
    long lo =
        cp >= 0xd800 && cp <= 0xdbff && u->end - u->p >= 6 && u->p[0] == '\\' && u->p[1] == 'u'
            ? hex4(u->p + 2)
            : -1;
    if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
        u->p += 6;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd; /* a lone surrogate, as tg_json_mend_surrogates makes it */
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

bool tg_json_member_key_is(const char *text, const struct tg_json_member *m, const char *key,
                           size_t klen)
{
    struct tg_json_unesc u;
    tg_json_unesc_init(&u, text, m->key_start, m->key_end);
    for (size_t i = 0; i < klen; i++)
        if (tg_json_unesc_next(&u) != (unsigned char)key[i])
            return false;
    return tg_json_unesc_next(&u) < 0;
}

/* ---- duplicate keys ---- */

/* The keys of every open object sit on one stack; when an object closes its
 * keys are checked against each other and popped. A key is compared as the
 * bytes cJSON reads for it: escaped keys are unescaped once into `names`
 * (also a stack), so every comparison is a memcmp. Sorting (merge sort:
 * O(n log n) whatever the keys) replaces the unseeded hash table whose
 * collisions a client could precompute. */
static const unsigned char *key_bytes(const struct checker *c, const struct key *k)
{
    return (k->unescaped ? c->names : c->text) + k->off;
}

/* By bytes, then by position: equal keys end up adjacent, in document order. */
static int key_cmp(const struct checker *c, const struct key *a, const struct key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(key_bytes(c, a), key_bytes(c, b), n);
    if (r)
        return r;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->tok < b->tok ? -1 : a->tok > b->tok;
}

static bool key_same(const struct checker *c, const struct key *a, const struct key *b)
{
    return a->len == b->len && memcmp(key_bytes(c, a), key_bytes(c, b), a->len) == 0;
}

/* Bottom-up merge sort of k[0..n) through tmp[0..n): O(n log n) whatever
 * the keys, and each pass reads memory in order. */
static void keys_sort(const struct checker *c, struct key *k, struct key *tmp, size_t n)
{
    struct key *from = k, *to = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                to[o++] = key_cmp(c, &from[b], &from[a]) < 0 ? from[b++] : from[a++];
            while (a < mid)
                to[o++] = from[a++];
            while (b < hi)
                to[o++] = from[b++];
        }
        struct key *t = from;
        from = to;
        to = t;
    }
    if (from != k)
        memcpy(k, from, n * sizeof(*k));
}

/* The token of the first key (in document order) that repeats an earlier
 * one of k[0..n), or -1. Reorders k. */
static long first_duplicate(const struct checker *c, struct key *k, size_t n)
{
    long first = -1;
    if (n <= 8) { /* a handful: compared directly, as most objects are */
        for (size_t i = 1; i < n && first < 0; i++)
            for (size_t j = 0; j < i; j++)
                if (key_same(c, &k[i], &k[j])) {
                    first = k[i].tok;
                    break;
                }
        return first;
    }
    struct key tmp_inline[KEYS_INLINE];
    struct key *tmp = n <= KEYS_INLINE ? tmp_inline : tg_xmalloc(n * sizeof(*tmp));
    keys_sort(c, k, tmp, n);
    if (tmp != tmp_inline)
        free(tmp);
    for (size_t i = 1; i < n; i++)
        if (key_same(c, &k[i - 1], &k[i]) && (first < 0 || k[i].tok < (uint32_t)first))
            first = k[i].tok;
    return first;
}

static void *grow(void *p, void *inline_p, size_t *cap, size_t used, size_t need, size_t size)
{
    size_t n = *cap;
    while (n < need)
        n *= 2;
    if (p == inline_p) {
        p = tg_xmalloc(n * size);
        memcpy(p, inline_p, used * size);
    } else {
        p = tg_xrealloc(p, n * size);
    }
    *cap = n;
    return p;
}

/* Records the key token [start, end) of the innermost object. */
static void key_add(struct checker *c, size_t start, size_t end, bool escaped)
{
    struct key k = {(uint32_t)start + 1, (uint32_t)(end - start - 2), (uint32_t)start, false};
    if (escaped) {
        /* Unescaped is never longer than the token. */
        if (c->nnames + (end - start) > c->names_cap)
            c->names = grow(c->names, c->names_inline, &c->names_cap, c->nnames,
                            c->nnames + (end - start), 1);
        struct tg_json_unesc u;
        tg_json_unesc_init(&u, (const char *)c->text, start, end);
        size_t n = 0;
        for (int b; (b = tg_json_unesc_next(&u)) >= 0;)
            c->names[c->nnames + n++] = (unsigned char)b;
        k.off = (uint32_t)c->nnames;
        k.len = (uint32_t)n;
        k.unescaped = true;
        c->nnames += n;
    }
    if (c->nkeys == c->keys_cap)
        c->keys =
            grow(c->keys, c->keys_inline, &c->keys_cap, c->nkeys, c->nkeys + 1, sizeof(*c->keys));
    c->keys[c->nkeys++] = k;
}

/* The innermost object closes: false if it named a member twice. */
static bool keys_close(struct checker *c)
{
    size_t base = c->keys_base[c->depth];
    long dup = first_duplicate(c, c->keys + base, c->nkeys - base);
    if (dup >= 0)
        return fail(c, c->text + dup, "a duplicate key in an object");
    c->nkeys = base;
    c->nnames = c->names_base[c->depth];
    return true;
}

/* ---- the document ---- */

static bool push(struct checker *c, unsigned char kind)
{
    if (c->depth == TG_JSON_MAX_DEPTH)
        return fail(c, c->q, "nesting deeper than 256 arrays and objects");
    c->kind[c->depth] = kind;
    if (kind == '{' && (c->flags & TG_JSON_NO_DUP_KEYS)) {
        c->keys_base[c->depth] = c->nkeys;
        c->names_base[c->depth] = c->nnames;
    }
    c->depth++;
    c->q++;
    return true;
}

static bool pop(struct checker *c)
{
    c->depth--;
    if (c->kind[c->depth] == '{' && (c->flags & TG_JSON_NO_DUP_KEYS) && !keys_close(c))
        return false;
    c->q++;
    return true;
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
            if (!pop(c))
                return false;
            goto after_value;
        }
        goto member;
    case '[':
        if (!push(c, '['))
            return false;
        skip_ws(c);
        if (c->q < c->end && *c->q == ']') {
            if (!pop(c))
                return false;
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
        if (c->flags & TG_JSON_NO_DUP_KEYS)
            key_add(c, key_start, key_end, c->escaped);
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
        if (!pop(c))
            return false;
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
    c->escaped = false;
    c->keys = c->keys_inline;
    c->nkeys = 0;
    c->keys_cap = KEYS_INLINE;
    c->names = c->names_inline;
    c->nnames = 0;
    c->names_cap = NAMES_INLINE;
    /* Key offsets are 32-bit; no body or answer comes near 4 GiB. */
    bool ok = len <= UINT32_MAX ? document(c, opts) : fail(c, c->text, "a text over 4 GiB");
    if (c->keys != c->keys_inline)
        free(c->keys);
    if (c->names != c->names_inline)
        free(c->names);
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
    struct tg_json_check_opts o = {TG_JSON_NO_DUP_KEYS | TG_JSON_NO_ODD_ESCAPES, on_find_member,
                                   &f};
    if (!tg_json_check(p, len, &o, NULL) || !f.found)
        return false;
    *start = f.start;
    *end = f.end;
    return true;
}

/* ---- lone surrogates, for cJSON ---- */

size_t tg_json_mend_surrogates(char *p, size_t len)
{
    unsigned char *s = (unsigned char *)p, *end = s + len;
    size_t mended = 0;
    bool in_string = false;
    while (s < end) {
        if (*s == '"') {
            in_string = !in_string;
            s++;
        } else if (!in_string || *s != '\\') {
            s++;
        } else if (s[1] != 'u') {
            s += 2; /* validated: the escape is complete */
        } else {
            long u = hex4(s + 2);
            long lo = u >= 0xd800 && u <= 0xdbff && end - s >= 12 && s[6] == '\\' && s[7] == 'u'
                          ? hex4(s + 8)
                          : -1;
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                s += 12;
                continue;
            }
            if (u >= 0xd800 && u <= 0xdfff) {
                memcpy(s + 2, "FFFD", 4);
                mended++;
            }
            s += 6;
        }
    }
    return mended;
}

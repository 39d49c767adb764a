/* TOML 1.0.0 parser. This file owns everything between the raw bytes of a
 * config file and the immutable tree declared in toml.h: UTF-8 and control
 * character checks, the tokenizer, decoding of every value form, the rules
 * against redefining keys and tables, line:column positions, and the arena
 * that holds every node of a document.
 *
 * The parser is a single recursive-descent pass over the input with no
 * separate token stream. Errors stop the pass at the first problem; since all
 * nodes live in the arena, bailing out is a matter of freeing it. */
#include "util/toml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "util/hex.h"
#include "util/utf8.h"

/* Arrays and inline tables recurse in the parser, and consumers walk the tree
 * recursively too, so the depth of the tree is bounded for both. */
#define MAX_DEPTH 128

#define CHUNK_SIZE 16384

/* ------------------------------------------------------------------------ */
/* Arena                                                                     */
/* ------------------------------------------------------------------------ */

struct chunk {
    struct chunk *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

struct tg_toml_doc {
    struct chunk *chunks;
    struct tg_toml_table *root;
};

/* Returns zeroed memory aligned for any object; lives until tg_toml_free. */
static void *arena_alloc(struct tg_toml_doc *d, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX / 2)
        abort();
    n = (n + align - 1) & ~(align - 1);
    struct chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        /* Big requests get a chunk of their own, linked behind the current
         * one, so the space left in the current chunk is not wasted. */
        size_t cap = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
        struct chunk *nc = tg_xmalloc(sizeof(*nc) + cap);
        nc->cap = cap;
        nc->used = 0;
        if (c && cap == n) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            d->chunks = nc;
        }
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strdup(struct tg_toml_doc *d, const char *s, size_t len)
{
    char *p = arena_alloc(d, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ------------------------------------------------------------------------ */
/* Tree nodes                                                                */
/* ------------------------------------------------------------------------ */

/* How a table came to exist decides what may later add to it. */
enum tkind {
    TK_ROOT,
    TK_IMPLICIT, /* made by a header path [a.b] for `a`; one later [a] may define it */
    TK_HEADER,   /* defined by [a] */
    TK_AOT_ELEM, /* an element of [[a]] */
    TK_DOTTED,   /* made by a dotted key a.b = 1; only more dotted keys may extend it */
    TK_INLINE,   /* { ... }: closed once written */
};

/* The public struct comes first so a tg_toml_table pointer converts back. */
struct tnode {
    struct tg_toml_table pub;
    size_t cap;
    enum tkind kind;
    int depth;
    /* Hash index of items (slot = item number + 1, 0 = empty), built once a
     * table is wide enough that linear duplicate checks would go quadratic. */
    size_t *index;
    size_t index_cap; /* a power of two, at least twice len */
};

struct anode {
    struct tg_toml_array pub;
    size_t cap;
    bool aot; /* made by [[...]]; a literal [ ... ] array is closed */
    int depth;
};

static struct tnode *tnode_of(const struct tg_toml_value *v)
{
    return (struct tnode *)v->u.tab;
}

static struct anode *anode_of(const struct tg_toml_value *v)
{
    return (struct anode *)v->u.arr;
}

/* ------------------------------------------------------------------------ */
/* Parser state, positions and errors                                        */
/* ------------------------------------------------------------------------ */

struct key {
    const char *s; /* in the arena, NUL-terminated */
    size_t len;
    size_t off; /* where the key starts in the input */
    struct tg_toml_pos pos;
};

struct parser {
    const char *s; /* input, after any byte-order mark */
    size_t n;
    size_t i; /* cursor */
    struct tg_toml_doc *doc;
    struct tg_toml_error *err;
    bool failed;

    /* Positions are computed from offsets by counting newlines from the last
     * answer. Every position stored in the tree is taken when its token is
     * first seen, so requests come in increasing order and the counting is
     * linear overall; only an error may step back and rescan once. */
    size_t pc_off;
    size_t pc_line_start;
    int pc_line;

    /* Scratch space for decoding strings and numbers before they are copied
     * into the arena at their final size. */
    struct tg_buf buf; /* the string or key being decoded */
};

static struct tg_toml_pos pos_at(struct parser *p, size_t off)
{
    if (off > p->n)
        off = p->n;
    if (off < p->pc_off) {
        p->pc_off = 0;
        p->pc_line_start = 0;
        p->pc_line = 1;
    }
    for (size_t j = p->pc_off; j < off; j++) {
        if (p->s[j] == '\n') {
            if (p->pc_line < INT_MAX)
                p->pc_line++;
            p->pc_line_start = j + 1;
        }
    }
    p->pc_off = off;
    size_t col = off - p->pc_line_start + 1;
    struct tg_toml_pos pos = {p->pc_line, col > INT_MAX ? INT_MAX : (int)col};
    return pos;
}

__attribute__((format(printf, 3, 0))) static bool vfail(struct parser *p,
                                                         struct tg_toml_pos pos,
                                                         const char *fmt, va_list ap)
{
    /* Only the first problem is reported: later ones are usually echoes. */
    if (p->failed)
        return false;
    p->failed = true;
    p->err->pos = pos;
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    return false;
}

/* Reports a problem found at input offset `off`; always returns false. */
__attribute__((format(printf, 3, 4))) static bool fail(struct parser *p, size_t off,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(p, pos_at(p, off), fmt, ap);
    va_end(ap);
    return false;
}

/* The same for a position worked out earlier. */
__attribute__((format(printf, 3, 4))) static bool fail_pos(struct parser *p,
                                                            struct tg_toml_pos pos,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(p, pos, fmt, ap);
    va_end(ap);
    return false;
}

/* Names one input byte for a message; c < 0 is the end of the input. */
static const char *chdesc(char *out, size_t cap, int c)
{
    if (c < 0)
        snprintf(out, cap, "end of input");
    else if (c == '\n' || c == '\r')
        snprintf(out, cap, "end of line");
    else if (c == '\'')
        snprintf(out, cap, "\"'\"");
    else if (c > 0x20 && c < 0x7f)
        snprintf(out, cap, "'%c'", c);
    else if (c == ' ')
        snprintf(out, cap, "space");
    else if (c == '\t')
        snprintf(out, cap, "tab");
    else
        snprintf(out, cap, "byte 0x%02X", (unsigned)c);
    return out;
}

/* Quotes a key for a message, escaping what would garble a terminal and
 * shortening long keys so the message still fits. */
static const char *keydesc(char *out, size_t cap, const char *k, size_t len)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t j = 0; j < len; j++) {
        unsigned char c = (unsigned char)k[j];
        if (o + 8 >= cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
        } else {
            if (c == '"' || c == '\\')
                out[o++] = '\\';
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

#define KEYDESC(buf, k) keydesc((buf), sizeof(buf), (k)->s, (k)->len)
#define CHDESC(buf, c) chdesc((buf), sizeof(buf), (c))

static int peek(const struct parser *p, size_t k)
{
    size_t j = p->i + k;
    return j < p->n ? (unsigned char)p->s[j] : -1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' ||
           c == '_';
}

static bool is_control(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

/* ------------------------------------------------------------------------ */
/* Tables and arrays                                                         */
/* ------------------------------------------------------------------------ */

#define INDEX_MIN_LEN 16

static size_t key_hash(const char *k, size_t len)
{
    /* FNV-1a: keys come from config files, not from an adversary. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t j = 0; j < len; j++) {
        h ^= (unsigned char)k[j];
        h *= 0x100000001b3ULL;
    }
    return (size_t)(h ^ (h >> 32));
}

static void index_insert(struct tnode *t, size_t item)
{
    const struct tg_toml_kv *kv = &t->pub.items[item];
    size_t mask = t->index_cap - 1;
    size_t slot = key_hash(kv->key, kv->key_len) & mask;
    while (t->index[slot])
        slot = (slot + 1) & mask;
    t->index[slot] = item + 1;
}

static void index_rebuild(struct parser *p, struct tnode *t)
{
    size_t cap = 64;
    while (cap < t->pub.len * 4)
        cap *= 2;
    t->index = arena_alloc(p->doc, cap * sizeof(*t->index));
    t->index_cap = cap;
    for (size_t j = 0; j < t->pub.len; j++)
        index_insert(t, j);
}

static struct tg_toml_kv *table_find(struct tnode *t, const char *k, size_t len)
{
    if (t->index) {
        size_t mask = t->index_cap - 1;
        for (size_t slot = key_hash(k, len) & mask; t->index[slot]; slot = (slot + 1) & mask) {
            struct tg_toml_kv *kv = &t->pub.items[t->index[slot] - 1];
            if (kv->key_len == len && memcmp(kv->key, k, len) == 0)
                return kv;
        }
        return NULL;
    }
    for (size_t j = 0; j < t->pub.len; j++) {
        struct tg_toml_kv *kv = &t->pub.items[j];
        if (kv->key_len == len && memcmp(kv->key, k, len) == 0)
            return kv;
    }
    return NULL;
}

/* The returned pointer is valid until the next insertion into t. */
static struct tg_toml_kv *table_add(struct parser *p, struct tnode *t, const struct key *k,
                                    const struct tg_toml_value *v)
{
    if (t->pub.len == t->cap) {
        /* The arena cannot grow in place; doubling bounds the waste. */
        size_t cap = t->cap ? t->cap * 2 : 4;
        struct tg_toml_kv *items = arena_alloc(p->doc, cap * sizeof(*items));
        if (t->pub.len)
            memcpy(items, t->pub.items, t->pub.len * sizeof(*items));
        t->pub.items = items;
        t->cap = cap;
    }
    struct tg_toml_kv *kv = &t->pub.items[t->pub.len++];
    kv->key = k->s;
    kv->key_len = k->len;
    kv->key_pos = k->pos;
    kv->value = *v;
    if (t->index && t->pub.len * 2 <= t->index_cap)
        index_insert(t, t->pub.len - 1);
    else if (t->pub.len >= INDEX_MIN_LEN)
        index_rebuild(p, t);
    return kv;
}

static struct tg_toml_value *array_push(struct parser *p, struct anode *a)
{
    if (a->pub.len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        struct tg_toml_value *items = arena_alloc(p->doc, cap * sizeof(*items));
        if (a->pub.len)
            memcpy(items, a->pub.items, a->pub.len * sizeof(*items));
        a->pub.items = items;
        a->cap = cap;
    }
    return &a->pub.items[a->pub.len++];
}

/* "an integer", "a string": for messages about what a key already holds. */
static const char *a_type(enum tg_toml_type type)
{
    static const char *const names[TG_TOML__COUNT] = {
        [TG_TOML_STRING] = "a string",
        [TG_TOML_INTEGER] = "an integer",
        [TG_TOML_FLOAT] = "a float",
        [TG_TOML_BOOL] = "a bool",
        [TG_TOML_DATETIME] = "an offset date-time",
        [TG_TOML_DATETIME_LOCAL] = "a local date-time",
        [TG_TOML_DATE_LOCAL] = "a local date",
        [TG_TOML_TIME_LOCAL] = "a local time",
        [TG_TOML_ARRAY] = "an array",
        [TG_TOML_TABLE] = "a table",
    };
    return (unsigned)type < TG_TOML__COUNT ? names[type] : "a value";
}

static bool check_depth(struct parser *p, int depth, struct tg_toml_pos pos)
{
    if (depth > MAX_DEPTH)
        return fail_pos(p, pos, "nesting too deep (more than %d levels)", MAX_DEPTH);
    return true;
}

/* Makes a table value; NULL when it would be nested too deep. */
static struct tnode *new_table(struct parser *p, enum tkind kind, int depth,
                               struct tg_toml_pos pos, struct tg_toml_value *v)
{
    if (!check_depth(p, depth, pos))
        return NULL;
    struct tnode *t = arena_alloc(p->doc, sizeof(*t));
    t->kind = kind;
    t->depth = depth;
    memset(v, 0, sizeof(*v));
    v->type = TG_TOML_TABLE;
    v->pos = pos;
    v->u.tab = &t->pub;
    return t;
}

static struct anode *new_array(struct parser *p, bool aot, int depth, struct tg_toml_pos pos,
                               struct tg_toml_value *v)
{
    if (!check_depth(p, depth, pos))
        return NULL;
    struct anode *a = arena_alloc(p->doc, sizeof(*a));
    a->aot = aot;
    a->depth = depth;
    memset(v, 0, sizeof(*v));
    v->type = TG_TOML_ARRAY;
    v->pos = pos;
    v->u.arr = &a->pub;
    return a;
}

/* ------------------------------------------------------------------------ */
/* Whitespace, comments, newlines                                            */
/* ------------------------------------------------------------------------ */

static void skip_ws(struct parser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t'))
        p->i++;
}

/* At '#': consumes the comment up to, not including, the line end. */
static bool skip_comment(struct parser *p)
{
    p->i++;
    while (p->i < p->n) {
        int c = (unsigned char)p->s[p->i];
        if (c == '\n')
            break;
        if (c == '\r') {
            if (peek(p, 1) == '\n')
                break;
            return fail(p, p->i, "carriage return not followed by a newline in comment");
        }
        if (is_control(c)) {
            char cb[24];
            return fail(p, p->i, "control character %s not allowed in comment",
                        CHDESC(cb, c));
        }
        p->i++;
    }
    return true;
}

/* Consumes one LF or CRLF if present. */
static bool eat_newline(struct parser *p)
{
    if (peek(p, 0) == '\n') {
        p->i++;
        return true;
    }
    if (peek(p, 0) == '\r' && peek(p, 1) == '\n') {
        p->i += 2;
        return true;
    }
    return false;
}

/* Inside arrays: whitespace, comments and newlines in any mix. */
static bool skip_ws_comments_newlines(struct parser *p)
{
    for (;;) {
        skip_ws(p);
        if (peek(p, 0) == '#') {
            if (!skip_comment(p))
                return false;
        } else if (!eat_newline(p)) {
            return true;
        }
    }
}

/* After an expression: optional comment, then a newline or the end. */
static bool end_of_line(struct parser *p, const char *after)
{
    skip_ws(p);
    if (peek(p, 0) == '#' && !skip_comment(p))
        return false;
    if (p->i >= p->n || eat_newline(p))
        return true;
    char cb[24];
    int c = peek(p, 0);
    if (c == '\r')
        return fail(p, p->i, "carriage return not followed by a newline");
    return fail(p, p->i, "unexpected %s after %s; expected a newline", CHDESC(cb, c), after);
}

/* ------------------------------------------------------------------------ */
/* Strings                                                                   */
/* ------------------------------------------------------------------------ */

static void put_utf8(struct parser *p, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tg_buf_append(&p->buf, u, n);
}

/* At a backslash inside a basic string: decodes one escape into the buffer. */
static bool parse_escape(struct parser *p)
{
    size_t at = p->i;
    int e = peek(p, 1);
    char cb[24];
    /* Pairs of escape letter and the byte it stands for. */
    static const char simple[] = "b\bt\tn\nf\fr\r\"\"\\\\";
    for (size_t k = 0; e > 0 && k < sizeof(simple) - 1; k += 2) {
        if (simple[k] == e) {
            tg_buf_putc(&p->buf, simple[k + 1]);
            p->i += 2;
            return true;
        }
    }
    switch (e) {
    case 'u':
    case 'U': {
        int digits = e == 'u' ? 4 : 8;
        unsigned long cp = 0;
        for (int k = 0; k < digits; k++) {
            int h = tg_hex_value(peek(p, 2 + (size_t)k));
            if (h < 0)
                return fail(p, at, "\\%c escape needs exactly %d hex digits", e, digits);
            cp = cp * 16 + (unsigned long)h;
        }
        /* Surrogates and values past U+10FFFF are not characters. */
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail(p, at, "escape \\%c%0*lX is not a Unicode scalar value", e, digits,
                        cp);
        put_utf8(p, cp);
        p->i += 2 + (size_t)digits;
        return true;
    }
    default:
        if (e < 0)
            return fail(p, at, "unterminated string");
        if (e > 0x20 && e < 0x7f)
            return fail(p, at, "invalid escape '\\%c' in string", e);
        return fail(p, at, "invalid escape: backslash followed by %s", CHDESC(cb, e));
    }
}

/* In a multi-line basic string at a backslash: if only whitespace follows
 * it on its line, skips that and all whitespace and newlines after it. */
static bool line_ending_backslash(struct parser *p, bool *consumed)
{
    size_t j = p->i + 1;
    while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t'))
        j++;
    *consumed = false;
    if (j >= p->n || !(p->s[j] == '\n' || (p->s[j] == '\r' && j + 1 < p->n &&
                                              p->s[j + 1] == '\n')))
        return true;
    p->i = j;
    for (;;) {
        int c = peek(p, 0);
        if (c == ' ' || c == '\t' || c == '\n') {
            p->i++;
        } else if (c == '\r') {
            if (peek(p, 1) != '\n')
                return fail(p, p->i, "carriage return not followed by a newline in string");
            p->i += 2;
        } else {
            break;
        }
    }
    *consumed = true;
    return true;
}

/* At the opening quote(s) of any of the four string forms: decodes the
 * string into the scratch buffer. `key` only changes the messages. */
static bool parse_string(struct parser *p, bool key)
{
    const char q = p->s[p->i];
    const bool literal = q == '\'';
    const bool ml = peek(p, 1) == q && peek(p, 2) == q;
    const size_t open = p->i;
    char cb[24];

    tg_buf_reset(&p->buf);
    tg_buf_reserve(&p->buf, 0); /* data is a string even when empty */
    if (ml) {
        if (key)
            return fail(p, open, "a multi-line string cannot be a key");
        p->i += 3;
        /* A newline right after the opening delimiter is not content. */
        eat_newline(p);
    } else {
        p->i++;
    }
    for (;;) {
        int c = peek(p, 0);
        if (c < 0) {
            if (ml)
                return fail(p, p->i, "unterminated multi-line string (opened on line %d)",
                            pos_at(p, open).line);
            return fail(p, p->i, "unterminated string");
        }
        if (c == q) {
            if (!ml) {
                p->i++;
                return true;
            }
            size_t run = 0;
            while (peek(p, run) == q)
                run++;
            if (run < 3) {
                tg_buf_append(&p->buf, p->s + p->i, run);
                p->i += run;
                continue;
            }
            /* Up to two quotes may sit right before the closing three. */
            if (run > 5)
                return fail(p, p->i + 5, "too many quotes at the end of a multi-line string");
            tg_buf_append(&p->buf, p->s + p->i, run - 3);
            p->i += run;
            return true;
        }
        if (c == '\\' && !literal) {
            if (ml) {
                bool consumed;
                if (!line_ending_backslash(p, &consumed))
                    return false;
                if (consumed)
                    continue;
            }
            if (!parse_escape(p))
                return false;
            continue;
        }
        if (c == '\n' || c == '\r') {
            bool crlf = c == '\r' && peek(p, 1) == '\n';
            if (c == '\r' && !crlf)
                return fail(p, p->i, "carriage return not followed by a newline in string");
            if (!ml)
                return fail(p, p->i, "unterminated string (strings in %s cannot span lines)",
                            literal ? "'...'" : "\"...\"");
            /* CRLF is stored as LF so content does not depend on the editor. */
            tg_buf_putc(&p->buf, '\n');
            p->i += crlf ? 2 : 1;
            continue;
        }
        if (is_control(c)) {
            if (literal)
                return fail(p, p->i, "control character %s not allowed in literal string",
                            CHDESC(cb, c));
            return fail(p, p->i, "control character %s must be escaped in string",
                        CHDESC(cb, c));
        }
        /* A run of ordinary bytes is copied at once. */
        size_t j = p->i + 1;
        while (j < p->n) {
            int d = (unsigned char)p->s[j];
            if (d == q || d == '\\' || d == '\n' || d == '\r' || is_control(d))
                break;
            j++;
        }
        tg_buf_append(&p->buf, p->s + p->i, j - p->i);
        p->i = j;
    }
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */
/* ------------------------------------------------------------------------ */

static bool parse_simple_key(struct parser *p, struct key *k)
{
    int c = peek(p, 0);
    k->off = p->i;
    k->pos = pos_at(p, p->i);
    if (is_bare(c)) {
        size_t j = p->i;
        while (j < p->n && is_bare((unsigned char)p->s[j]))
            j++;
        k->len = j - p->i;
        k->s = arena_strdup(p->doc, p->s + p->i, k->len);
        p->i = j;
        return true;
    }
    if (c == '"' || c == '\'') {
        if (!parse_string(p, true))
            return false;
        k->len = p->buf.len;
        k->s = arena_strdup(p->doc, p->buf.data, p->buf.len);
        return true;
    }
    char cb[24];
    return fail(p, p->i, "expected a key, found %s", CHDESC(cb, c));
}

/* A new, empty table of `kind` under key k of t. */
static struct tnode *add_table(struct parser *p, struct tnode *t, const struct key *k,
                               enum tkind kind)
{
    struct tg_toml_value v;
    struct tnode *nt = new_table(p, kind, t->depth + 1, k->pos, &v);
    if (nt)
        table_add(p, t, k, &v);
    return nt;
}

/* The intermediate part `a` of a dotted key `a.b = v` inside table t. */
static struct tnode *descend_dotted(struct parser *p, struct tnode *t, const struct key *k)
{
    char kb[80];
    struct tg_toml_kv *kv = table_find(t, k->s, k->len);
    if (!kv)
        return add_table(p, t, k, TK_DOTTED);
    if (kv->value.type == TG_TOML_TABLE) {
        struct tnode *nt = tnode_of(&kv->value);
        if (nt->kind == TK_DOTTED)
            return nt;
        if (nt->kind == TK_INLINE)
            fail(p, k->off, "inline table %s cannot be extended", KEYDESC(kb, k));
        else
            fail(p, k->off, "table %s was created by a [header]; dotted keys cannot extend it",
                 KEYDESC(kb, k));
        return NULL;
    }
    if (kv->value.type == TG_TOML_ARRAY)
        fail(p, k->off, "key %s is an array; dotted keys cannot extend it", KEYDESC(kb, k));
    else
        fail(p, k->off, "key %s is already defined as %s", KEYDESC(kb, k),
             a_type(kv->value.type));
    return NULL;
}

/* An intermediate part `a` of a header [a.b] or [[a.b]] inside table t. */
static struct tnode *descend_header(struct parser *p, struct tnode *t, const struct key *k)
{
    char kb[80];
    struct tg_toml_kv *kv = table_find(t, k->s, k->len);
    if (!kv)
        return add_table(p, t, k, TK_IMPLICIT);
    if (kv->value.type == TG_TOML_TABLE) {
        struct tnode *nt = tnode_of(&kv->value);
        if (nt->kind != TK_INLINE)
            return nt;
        fail(p, k->off, "inline table %s cannot be extended", KEYDESC(kb, k));
        return NULL;
    }
    if (kv->value.type == TG_TOML_ARRAY) {
        struct anode *a = anode_of(&kv->value);
        /* [a.b] after [[a]] belongs to the latest element of a. */
        if (a->aot && a->pub.len > 0)
            return tnode_of(&a->pub.items[a->pub.len - 1]);
        fail(p, k->off, "key %s is an array; a [header] cannot extend it", KEYDESC(kb, k));
        return NULL;
    }
    fail(p, k->off, "key %s is already defined as %s", KEYDESC(kb, k),
         a_type(kv->value.type));
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Numbers, booleans, dates                                                  */
/* ------------------------------------------------------------------------ */

static int digit_value(int c, int radix)
{
    int d = tg_hex_value(c);
    return d >= 0 && d < radix ? d : -1;
}

/* Scans digits of `radix` with single underscores between digits, from
 * t[*k]. Returns the number of digits, or -1 after a misplaced underscore. */
static int scan_digits(const char *t, size_t len, size_t *k, int radix)
{
    int count = 0;
    size_t j = *k;
    while (j < len) {
        int c = (unsigned char)t[j];
        if (c == '_') {
            if (count == 0 || j + 1 >= len || digit_value((unsigned char)t[j + 1], radix) < 0)
                return -1;
        } else if (digit_value(c, radix) >= 0) {
            count++;
        } else {
            break;
        }
        j++;
    }
    *k = j;
    return count;
}

static bool parse_number(struct parser *p, struct tg_toml_value *v)
{
    const size_t start = p->i;
    size_t j = p->i;
    while (j < p->n) {
        int c = (unsigned char)p->s[j];
        if (!(is_bare(c) || c == '+' || c == '.'))
            break;
        j++;
    }
    const char *t = p->s + start;
    const size_t len = j - start;
    p->i = j;

    if (len == 4 && memcmp(t, "true", 4) == 0) {
        v->type = TG_TOML_BOOL;
        v->u.b = true;
        return true;
    }
    if (len == 5 && memcmp(t, "false", 5) == 0) {
        v->type = TG_TOML_BOOL;
        v->u.b = false;
        return true;
    }

    size_t k = 0;
    bool neg = false;
    if (len > 0 && (t[0] == '+' || t[0] == '-')) {
        neg = t[0] == '-';
        k = 1;
    }
    if (len - k == 3 && (memcmp(t + k, "inf", 3) == 0 || memcmp(t + k, "nan", 3) == 0)) {
        v->type = TG_TOML_FLOAT;
        v->u.f = t[k] == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
        return true;
    }
    if (len - k == 0 || !is_digit((unsigned char)t[k])) {
        char kb[80];
        return fail(p, start, "invalid value %s", keydesc(kb, sizeof(kb), t, len));
    }

    int radix = 10;
    if (len - k >= 2 && t[k] == '0' && (t[k + 1] == 'x' || t[k + 1] == 'o' || t[k + 1] == 'b')) {
        radix = t[k + 1] == 'x' ? 16 : t[k + 1] == 'o' ? 8 : 2;
        if (k)
            return fail(p, start, "%s integers cannot have a sign",
                        radix == 16 ? "hexadecimal" : radix == 8 ? "octal" : "binary");
        k += 2;
    }

    const size_t int_start = k;
    int nd = scan_digits(t, len, &k, radix);
    if (nd < 0)
        return fail(p, start, "an underscore in a number must sit between two digits");
    if (nd == 0)
        return fail(p, start, "number has no digits");
    bool is_float = false;
    if (radix == 10) {
        if (t[int_start] == '0' && k - int_start > 1)
            return fail(p, start, "leading zeros are not allowed in a number");
        if (k < len && t[k] == '.') {
            k++;
            nd = scan_digits(t, len, &k, 10);
            if (nd < 0)
                return fail(p, start, "an underscore in a number must sit between two digits");
            if (nd == 0)
                return fail(p, start, "a decimal point must be followed by digits");
            is_float = true;
        }
        if (k < len && (t[k] == 'e' || t[k] == 'E')) {
            k++;
            if (k < len && (t[k] == '+' || t[k] == '-'))
                k++;
            nd = scan_digits(t, len, &k, 10);
            if (nd < 0)
                return fail(p, start, "an underscore in a number must sit between two digits");
            if (nd == 0)
                return fail(p, start, "an exponent must have digits");
            is_float = true;
        }
    }
    if (k != len) {
        char kb[80];
        return fail(p, start, "invalid number %s", keydesc(kb, sizeof(kb), t, len));
    }

    if (is_float) {
        /* strtod does the correctly rounded conversion; underscores go first.
         * The gateway never calls setlocale, so the decimal point is '.'. */
        tg_buf_reset(&p->buf);
        for (size_t m = 0; m < len; m++)
            if (t[m] != '_')
                tg_buf_putc(&p->buf, t[m]);
        errno = 0;
        double d = strtod(p->buf.data, NULL);
        if (errno == ERANGE && isinf(d))
            return fail(p, start, "float is out of range");
        v->type = TG_TOML_FLOAT;
        v->u.f = d;
        return true;
    }

    /* Accumulate the magnitude; a negative number may reach 2^63. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t acc = 0;
    for (size_t m = int_start; m < len; m++) {
        if (t[m] == '_')
            continue;
        uint64_t d = (uint64_t)digit_value((unsigned char)t[m], radix);
        if (acc > (limit - d) / (uint64_t)radix)
            return fail(p, start, "integer overflows 64 bits");
        acc = acc * (uint64_t)radix + d;
    }
    v->type = TG_TOML_INTEGER;
    if (neg)
        v->u.i = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    else
        v->u.i = (int64_t)acc;
    return true;
}

/* Reads exactly two digits at the cursor. */
static bool two_digits(struct parser *p, int *out)
{
    int a = peek(p, 0), b = peek(p, 1);
    if (!is_digit(a) || !is_digit(b))
        return false;
    *out = (a - '0') * 10 + (b - '0');
    p->i += 2;
    return true;
}

static bool expect_char(struct parser *p, char c)
{
    if (peek(p, 0) != c)
        return false;
    p->i++;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool parse_time(struct parser *p, size_t start)
{
    int h, m, s;
    size_t at = p->i;
    if (!two_digits(p, &h) || !expect_char(p, ':') || !two_digits(p, &m) ||
        !expect_char(p, ':') || !two_digits(p, &s))
        return fail(p, start, "malformed time: expected HH:MM:SS");
    if (h > 23)
        return fail(p, at, "hour %02d is out of range", h);
    if (m > 59)
        return fail(p, at + 3, "minute %02d is out of range", m);
    /* 60 is a leap second. */
    if (s > 60)
        return fail(p, at + 6, "second %02d is out of range", s);
    if (peek(p, 0) == '.') {
        p->i++;
        if (!is_digit(peek(p, 0)))
            return fail(p, p->i, "fractional seconds need digits after '.'");
        while (is_digit(peek(p, 0)))
            p->i++;
    }
    return true;
}

/* At a value starting NNNN- or NN: (dates and times). */
static bool parse_datetime(struct parser *p, struct tg_toml_value *v)
{
    const size_t start = p->i;
    bool has_date = false, has_time = false, has_offset = false;

    if (peek(p, 2) != ':') {
        int y1, y2, mo, d;
        if (!two_digits(p, &y1) || !two_digits(p, &y2) || !expect_char(p, '-') ||
            !two_digits(p, &mo) || !expect_char(p, '-') || !two_digits(p, &d))
            return fail(p, start, "malformed date: expected YYYY-MM-DD");
        int y = y1 * 100 + y2;
        static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (mo < 1 || mo > 12)
            return fail(p, start + 5, "month %02d is out of range", mo);
        int maxd = mdays[mo - 1] + (mo == 2 && is_leap(y));
        if (d < 1 || d > maxd)
            return fail(p, start + 8, "day %02d is out of range for %04d-%02d", d, y, mo);
        has_date = true;
        int c = peek(p, 0);
        if (c == 'T' || c == 't') {
            p->i++;
            has_time = true;
        } else if (c == ' ' && is_digit(peek(p, 1)) && is_digit(peek(p, 2)) &&
                   peek(p, 3) == ':') {
            p->i++;
            has_time = true;
        }
    } else {
        has_time = true;
    }

    if (has_time) {
        if (!parse_time(p, start))
            return false;
        if (has_date) {
            int c = peek(p, 0);
            if (c == 'Z' || c == 'z') {
                p->i++;
                has_offset = true;
            } else if (c == '+' || c == '-') {
                size_t at = p->i;
                int oh, om;
                p->i++;
                if (!two_digits(p, &oh) || !expect_char(p, ':') || !two_digits(p, &om))
                    return fail(p, at, "malformed time offset: expected +HH:MM or -HH:MM");
                if (oh > 23 || om > 59)
                    return fail(p, at, "time offset is out of range");
                has_offset = true;
            }
        }
    }

    int c = peek(p, 0);
    if (is_bare(c) || c == '.' || c == ':' || c == '+') {
        char cb[24];
        return fail(p, p->i, "unexpected %s in date/time", CHDESC(cb, c));
    }
    if (has_date && has_time)
        v->type = has_offset ? TG_TOML_DATETIME : TG_TOML_DATETIME_LOCAL;
    else
        v->type = has_date ? TG_TOML_DATE_LOCAL : TG_TOML_TIME_LOCAL;
    v->u.str.len = p->i - start;
    v->u.str.ptr = arena_strdup(p->doc, p->s + start, v->u.str.len);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Values, arrays, inline tables                                             */
/* ------------------------------------------------------------------------ */

static bool parse_value(struct parser *p, struct tg_toml_value *v, int depth);
static bool parse_keyval(struct parser *p, struct tnode *t);

static bool parse_array(struct parser *p, struct tg_toml_value *v, int depth)
{
    struct anode *a = new_array(p, false, depth, pos_at(p, p->i), v);
    if (!a)
        return false;
    p->i++;
    char cb[24];
    for (;;) {
        if (!skip_ws_comments_newlines(p))
            return false;
        if (peek(p, 0) == ']')
            break;
        struct tg_toml_value item;
        if (!parse_value(p, &item, depth + 1))
            return false;
        *array_push(p, a) = item;
        if (!skip_ws_comments_newlines(p))
            return false;
        int c = peek(p, 0);
        if (c == ',') {
            p->i++;
            continue;
        }
        if (c == ']')
            break;
        if (c < 0)
            return fail(p, p->i, "unterminated array (opened at line %d, column %d)",
                        v->pos.line, v->pos.col);
        return fail(p, p->i, "expected ',' or ']' in array, found %s", CHDESC(cb, c));
    }
    p->i++;
    return true;
}

static bool parse_inline_table(struct parser *p, struct tg_toml_value *v, int depth)
{
    struct tnode *t = new_table(p, TK_INLINE, depth, pos_at(p, p->i), v);
    if (!t)
        return false;
    p->i++;
    skip_ws(p);
    if (peek(p, 0) == '}') {
        p->i++;
        return true;
    }
    char cb[24];
    for (;;) {
        skip_ws(p);
        if (!parse_keyval(p, t))
            return false;
        skip_ws(p);
        int c = peek(p, 0);
        if (c == ',') {
            p->i++;
            skip_ws(p);
            if (peek(p, 0) == '}')
                return fail(p, p->i, "trailing comma not allowed in inline table");
            continue;
        }
        if (c == '}') {
            p->i++;
            return true;
        }
        if (c == '\n' || c == '\r')
            return fail(p, p->i, "newline not allowed in inline table");
        if (c < 0)
            return fail(p, p->i, "unterminated inline table");
        return fail(p, p->i, "expected ',' or '}' in inline table, found %s", CHDESC(cb, c));
    }
}

static bool parse_value(struct parser *p, struct tg_toml_value *v, int depth)
{
    int c = peek(p, 0);
    memset(v, 0, sizeof(*v));
    v->pos = pos_at(p, p->i);
    if (c == '"' || c == '\'') {
        if (!parse_string(p, false))
            return false;
        v->type = TG_TOML_STRING;
        v->u.str.len = p->buf.len;
        v->u.str.ptr = arena_strdup(p->doc, p->buf.data, p->buf.len);
        return true;
    }
    if (c == '[')
        return parse_array(p, v, depth);
    if (c == '{')
        return parse_inline_table(p, v, depth);
    if (is_digit(c)) {
        bool date = is_digit(peek(p, 1)) && is_digit(peek(p, 2)) && is_digit(peek(p, 3)) &&
                    peek(p, 4) == '-';
        bool time = is_digit(peek(p, 1)) && peek(p, 2) == ':';
        if (date || time)
            return parse_datetime(p, v);
    }
    if (is_bare(c) || c == '+' || c == '.')
        return parse_number(p, v);
    char cb[24];
    return fail(p, p->i, "expected a value, found %s", CHDESC(cb, c));
}

/* key = value, into table t (the current section or an inline table). */
static bool parse_keyval(struct parser *p, struct tnode *t)
{
    struct key k;
    char kb[80], cb[24];
    for (;;) {
        if (!parse_simple_key(p, &k))
            return false;
        skip_ws(p);
        if (peek(p, 0) != '.')
            break;
        p->i++;
        skip_ws(p);
        t = descend_dotted(p, t, &k);
        if (!t)
            return false;
    }
    if (peek(p, 0) != '=') {
        int c = peek(p, 0);
        if (c < 0 || c == '\n' || c == '\r')
            return fail(p, p->i, "expected '=' after key %s", KEYDESC(kb, &k));
        return fail(p, p->i, "expected '=' after key %s, found %s", KEYDESC(kb, &k),
                    CHDESC(cb, c));
    }
    p->i++;
    skip_ws(p);
    if (table_find(t, k.s, k.len))
        return fail(p, k.off, "duplicate key %s", KEYDESC(kb, &k));
    /* Parsing the value only ever creates new nodes, so t stays as it is
     * and the duplicate check above still holds afterwards. */
    struct tg_toml_value v;
    if (!parse_value(p, &v, t->depth + 1))
        return false;
    table_add(p, t, &k, &v);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Headers and the document                                                  */
/* ------------------------------------------------------------------------ */

/* At '[': parses [a.b] or [[a.b]] and returns the table that follows it. */
static struct tnode *parse_header(struct parser *p, struct tnode *root)
{
    const struct tg_toml_pos open = pos_at(p, p->i);
    const bool aot = peek(p, 1) == '[';
    char kb[80], cb[24];
    struct key k;
    struct tnode *t = root;

    p->i += aot ? 2 : 1;
    skip_ws(p);
    for (;;) {
        if (!parse_simple_key(p, &k))
            return NULL;
        skip_ws(p);
        if (peek(p, 0) != '.')
            break;
        p->i++;
        skip_ws(p);
        t = descend_header(p, t, &k);
        if (!t)
            return NULL;
    }
    if (peek(p, 0) != ']' || (aot && peek(p, 1) != ']')) {
        int c = peek(p, 0) == ']' ? peek(p, 1) : peek(p, 0);
        size_t at = peek(p, 0) == ']' ? p->i + 1 : p->i;
        fail(p, at, "expected '%s' to close the header, found %s", aot ? "]]" : "]",
             CHDESC(cb, c));
        return NULL;
    }
    p->i += aot ? 2 : 1;

    struct tg_toml_kv *kv = table_find(t, k.s, k.len);
    if (!aot) {
        if (!kv) {
            struct tg_toml_value v;
            struct tnode *nt = new_table(p, TK_HEADER, t->depth + 1, open, &v);
            if (!nt)
                return NULL;
            table_add(p, t, &k, &v);
            return nt;
        }
        if (kv->value.type == TG_TOML_TABLE) {
            struct tnode *nt = tnode_of(&kv->value);
            if (nt->kind == TK_IMPLICIT) {
                /* Its definition is here now, so that is where it is reported. */
                nt->kind = TK_HEADER;
                kv->value.pos = open;
                kv->key_pos = k.pos;
                return nt;
            }
            if (nt->kind == TK_DOTTED)
                fail(p, k.off, "table %s is already defined by dotted keys", KEYDESC(kb, &k));
            else if (nt->kind == TK_INLINE)
                fail(p, k.off, "table %s is already defined as an inline table",
                     KEYDESC(kb, &k));
            else
                fail(p, k.off, "table %s is already defined", KEYDESC(kb, &k));
            return NULL;
        }
        if (kv->value.type == TG_TOML_ARRAY && anode_of(&kv->value)->aot)
            fail(p, k.off, "%s is an array of tables; a [table] header cannot redefine it",
                 KEYDESC(kb, &k));
        else
            fail(p, k.off, "key %s is already defined as %s", KEYDESC(kb, &k),
                 a_type(kv->value.type));
        return NULL;
    }

    struct anode *a;
    if (!kv) {
        struct tg_toml_value v;
        a = new_array(p, true, t->depth + 1, open, &v);
        if (!a)
            return NULL;
        table_add(p, t, &k, &v);
    } else if (kv->value.type == TG_TOML_ARRAY && anode_of(&kv->value)->aot) {
        a = anode_of(&kv->value);
    } else {
        if (kv->value.type == TG_TOML_ARRAY)
            fail(p, k.off, "cannot append to static array %s with [[...]]", KEYDESC(kb, &k));
        else if (kv->value.type == TG_TOML_TABLE)
            fail(p, k.off, "%s is already defined as a table, not an array of tables",
                 KEYDESC(kb, &k));
        else
            fail(p, k.off, "key %s is already defined as %s", KEYDESC(kb, &k),
                 a_type(kv->value.type));
        return NULL;
    }
    struct tg_toml_value ev;
    struct tnode *elem = new_table(p, TK_AOT_ELEM, a->depth + 1, open, &ev);
    if (!elem)
        return NULL;
    *array_push(p, a) = ev;
    return elem;
}

static bool parse_document(struct parser *p, struct tnode *root)
{
    struct tnode *cur = root;
    for (;;) {
        skip_ws(p);
        int c = peek(p, 0);
        if (c < 0)
            return true;
        if (c == '#') {
            if (!skip_comment(p) || !end_of_line(p, "comment"))
                return false;
        } else if (c == '\n' || c == '\r') {
            if (!end_of_line(p, "whitespace"))
                return false;
        } else if (c == '[') {
            cur = parse_header(p, root);
            if (!cur || !end_of_line(p, "table header"))
                return false;
        } else {
            if (!parse_keyval(p, cur) || !end_of_line(p, "value"))
                return false;
        }
    }
}

/* Returns the offset of the first byte that is not part of valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0, len;
    while (i < n && (len = tg_utf8_seq_len(s + i, n - i)) > 0)
        i += len;
    return i;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

void tg_toml_free(struct tg_toml_doc *doc)
{
    if (!doc)
        return;
    struct chunk *c = doc->chunks;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

struct tg_toml_doc *tg_toml_parse(const char *text, size_t len, struct tg_toml_error *err)
{
    struct tg_toml_error scratch_err;
    if (!err)
        err = &scratch_err;
    memset(err, 0, sizeof(*err));
    if (!text)
        len = 0;

    struct tg_toml_doc *doc = tg_xmalloc(sizeof(*doc));
    doc->chunks = NULL;
    doc->root = NULL;

    struct parser p;
    memset(&p, 0, sizeof(p));
    p.s = text ? text : "";
    p.n = len;
    p.doc = doc;
    p.err = err;
    p.pc_line = 1;

    /* A UTF-8 byte-order mark is allowed at the very start and ignored. */
    if (p.n >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) {
        p.s += 3;
        p.n -= 3;
    }

    size_t bad = utf8_invalid_at((const unsigned char *)p.s, p.n);
    if (bad < p.n) {
        fail(&p, bad, "invalid UTF-8 (byte 0x%02X)", (unsigned char)p.s[bad]);
    } else {
        struct tg_toml_value rv;
        struct tnode *root = new_table(&p, TK_ROOT, 0, pos_at(&p, 0), &rv);
        if (root && parse_document(&p, root))
            doc->root = &root->pub;
    }
    tg_buf_free(&p.buf);
    if (p.failed || !doc->root) {
        tg_toml_free(doc);
        return NULL;
    }
    return doc;
}

const struct tg_toml_table *tg_toml_root(const struct tg_toml_doc *doc)
{
    return doc ? doc->root : NULL;
}

const struct tg_toml_kv *tg_toml_get(const struct tg_toml_table *t, const char *key)
{
    if (!t || !key)
        return NULL;
    size_t len = strlen(key);
    for (size_t j = 0; j < t->len; j++) {
        const struct tg_toml_kv *kv = &t->items[j];
        if (kv->key_len == len && memcmp(kv->key, key, len) == 0)
            return kv;
    }
    return NULL;
}

const char *tg_toml_type_name(enum tg_toml_type type)
{
    static const char *const names[TG_TOML__COUNT] = {
        [TG_TOML_STRING] = "string",
        [TG_TOML_INTEGER] = "integer",
        [TG_TOML_FLOAT] = "float",
        [TG_TOML_BOOL] = "bool",
        [TG_TOML_DATETIME] = "datetime",
        [TG_TOML_DATETIME_LOCAL] = "datetime-local",
        [TG_TOML_DATE_LOCAL] = "date-local",
        [TG_TOML_TIME_LOCAL] = "time-local",
        [TG_TOML_ARRAY] = "array",
        [TG_TOML_TABLE] = "table",
    };
    if ((unsigned)type >= TG_TOML__COUNT)
        return "unknown";
    return names[type];
}

/* W3C traceparent (see traceparent.h). */
#include "util/traceparent.h"

#include <string.h>

#include "util/hex.h"

/* n bytes of lowercase hex into out; false on any other character. */
static bool lower_hex(const char *s, size_t n_bytes, uint8_t *out)
{
    for (size_t i = 0; i < n_bytes; i++) {
        char hi = s[2 * i], lo = s[2 * i + 1];
        if ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F'))
            return false; /* the spec's HEXDIGLC: uppercase is invalid */
        int h = tg_hex_value(hi), l = tg_hex_value(lo);
        if (h < 0 || l < 0)
            return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

bool tg_traceparent_parse(const char *s, size_t n, struct tg_trace_ctx *out)
{
    uint8_t version;
    if (n < TG_TRACEPARENT_LEN || !lower_hex(s, 1, &version) || version == 0xff)
        return false;
    /* Version 00 is exactly 55 characters; a later one may carry more
     * fields after a '-', read by a receiver of 00 as if absent. */
    if (version == 0 ? n != TG_TRACEPARENT_LEN : n > TG_TRACEPARENT_LEN && s[55] != '-')
        return false;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    struct tg_trace_ctx c;
    if (!lower_hex(s + 3, 16, c.trace_id) || !lower_hex(s + 36, 8, c.span_id) ||
        !lower_hex(s + 53, 1, &c.flags))
        return false;
    if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
        return false;
    *out = c;
    return true;
}

void tg_traceparent_format(const struct tg_trace_ctx *c, char out[TG_TRACEPARENT_LEN + 1])
{
    out[0] = out[1] = '0';
    out[2] = '-';
    tg_hex_encode(c->trace_id, 16, out + 3);
    out[35] = '-';
    tg_hex_encode(c->span_id, 8, out + 36);
    out[52] = '-';
    uint8_t flags = c->flags & TG_TRACE_SAMPLED; /* version 00 knows no other flag */
    tg_hex_encode(&flags, 1, out + 53);
}

/* ---- tracestate (section 3.3.1: list members, keys and values) ---- */

#define MAX_MEMBERS 32
#define LONG_MEMBER 128 /* members longer than this are the first cut */

static bool lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool key_char(char c)
{
    return lcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

/* A simple key (lcalpha, then up to 255 key characters), or a tenant
 * (lcalpha or digit, then up to 240) "@" a system (lcalpha, then up to 13). */
static bool key_ok(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    if (at) {
        size_t tenant = (size_t)(at - k), system = n - tenant - 1;
        if (tenant < 1 || tenant > 241 || system < 1 || system > 14 || !lcalpha(at[1]) ||
            !(lcalpha(k[0]) || (k[0] >= '0' && k[0] <= '9')))
            return false;
    } else if (n < 1 || n > 256 || !lcalpha(k[0])) {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (k + i != at && !key_char(k[i]))
            return false; /* a second '@' too */
    return true;
}

/* 1 to 256 printable characters but ',' and '=', not ending in a space. */
static bool value_ok(const char *v, size_t n)
{
    if (n < 1 || n > 256 || v[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
            return false;
    return true;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

struct member {
    const char *p;
    size_t len, key_len;
    bool kept;
};

size_t tg_tracestate_clean(const char *s, size_t n, char out[TG_TRACESTATE_MAX + 1])
{
    struct member m[MAX_MEMBERS];
    size_t n_members = 0;
    out[0] = '\0'; /* what a discarded list leaves */
    size_t room = 0; /* the kept members' bytes, each with its ',' */
    for (size_t i = 0; i <= n;) {
        const char *comma = memchr(s + i, ',', n - i);
        size_t end = comma ? (size_t)(comma - s) : n, a = i, b = end;
        i = end + 1;
        while (a < b && ows(s[a]))
            a++;
        while (b > a && ows(s[b - 1]))
            b--;
        if (a == b)
            continue; /* empty members are allowed, and dropped */
        const char *eq = memchr(s + a, '=', b - a);
        if (!eq || n_members == MAX_MEMBERS)
            return 0;
        size_t key_len = (size_t)(eq - (s + a));
        if (!key_ok(s + a, key_len) || !value_ok(eq + 1, b - a - key_len - 1))
            return 0;
        for (size_t k = 0; k < n_members; k++)
            if (m[k].key_len == key_len && memcmp(m[k].p, s + a, key_len) == 0)
                return 0;
        m[n_members++] = (struct member){s + a, b - a, key_len, true};
        room += b - a + 1;
    }
    /* Over the limit: long members go first, then members from the end. */
    for (size_t k = n_members; k-- > 0 && room > TG_TRACESTATE_MAX + 1;)
        if (m[k].len > LONG_MEMBER) {
            m[k].kept = false;
            room -= m[k].len + 1;
        }
    for (size_t k = n_members; k-- > 0 && room > TG_TRACESTATE_MAX + 1;)
        if (m[k].kept) {
            m[k].kept = false;
            room -= m[k].len + 1;
        }
    size_t len = 0;
    for (size_t k = 0; k < n_members; k++) {
        if (!m[k].kept)
            continue;
        if (len)
            out[len++] = ',';
        memcpy(out + len, m[k].p, m[k].len);
        len += m[k].len;
    }
    out[len] = '\0';
    return len;
}

bool tg_trace_ratio_sampled(const uint8_t trace_id[16], double ratio)
{
    if (ratio >= 1)
        return true;
    if (!(ratio > 0))
        return false;
    uint64_t r = 0;
    for (int i = 9; i < 16; i++)
        r = r << 8 | trace_id[i];
    /* Compared as integers: r as a double rounds to 53 bits, and a trace id
     * just under the bound would count as on it. The bound (ratio * 2^56,
     * exact as a double) rounded up: r < bound exactly when r < ratio * 2^56. */
    double exact = ratio * 72057594037927936.0; /* 2^56 */
    uint64_t bound = (uint64_t)exact;
    if ((double)bound < exact)
        bound++;
    return r < bound;
}

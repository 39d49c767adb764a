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

bool tg_tracestate_ok(const char *s, size_t n)
{
    if (n == 0 || n > TG_TRACESTATE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] < 0x20 && s[i] != '\t') || s[i] > 0x7e)
            return false; /* HTAB is the list's whitespace (OWS), as SP is */
    return true;
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
    /* Compared as integers: r has up to 56 bits, a double holds 53, so
     * (double)r could round up onto the threshold. ratio * 2^56 is exact;
     * r is below it exactly when r is below its ceiling. */
    double x = ratio * 0x1p56;
    uint64_t first_unsampled = (uint64_t)x;
    if ((double)first_unsampled < x)
        first_unsampled++;
    return r < first_unsampled;
}

/* W3C trace context readers (util/traceparent.c) on any bytes a client
 * could send as traceparent and tracestate. A traceparent that parses is
 * formatted as the gateway sends it upstream: 55 characters that parse again
 * to the same ids and the sampled bit, and exactly the input when that was
 * version 00 with flags 00 or 01. The whole input is also a tracestate
 * (what is passed on is clean, bounded, and its own cleaning), and its
 * first 16 bytes a trace id whose sampling decision, at a ratio read from
 * the input, must be the exact comparison of its last 56 bits. */
#include <float.h>
#include <string.h>

#include "fuzz.h"
#include "util/traceparent.h"

static bool is_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static void check_traceparent(const uint8_t *data, size_t size)
{
    struct tg_trace_ctx c;
    if (!tg_traceparent_parse((const char *)data, size, &c))
        return;
    FUZZ_CHECK(size >= TG_TRACEPARENT_LEN, "accepted %zu bytes", size);
    FUZZ_CHECK(!(data[0] == 'f' && data[1] == 'f'), "accepted version ff");
    FUZZ_CHECK(size == TG_TRACEPARENT_LEN || data[TG_TRACEPARENT_LEN] == '-',
               "accepted a longer value without '-' after 55");
    FUZZ_CHECK(!is_zero(c.trace_id, 16) && !is_zero(c.span_id, 8), "accepted a zero id");

    char out[TG_TRACEPARENT_LEN + 1];
    tg_traceparent_format(&c, out);
    FUZZ_CHECK(strlen(out) == TG_TRACEPARENT_LEN, "formatted %zu characters", strlen(out));
    /* The ids' text (with its separators) is the input's: lowercase hex
     * was required, so formatting gives the same characters back. */
    FUZZ_CHECK(memcmp(out + 2, data + 2, 51) == 0, "ids changed: %s", out);
    struct tg_trace_ctx back;
    FUZZ_CHECK(tg_traceparent_parse(out, TG_TRACEPARENT_LEN, &back), "own value refused: %s", out);
    FUZZ_CHECK(memcmp(back.trace_id, c.trace_id, 16) == 0 &&
                   memcmp(back.span_id, c.span_id, 8) == 0,
               "ids lost in a round trip");
    FUZZ_CHECK(back.flags == (c.flags & TG_TRACE_SAMPLED), "flags %02x sent as %02x", c.flags,
               back.flags);
    if (size == TG_TRACEPARENT_LEN && data[0] == '0' && data[1] == '0' && c.flags <= 1)
        FUZZ_CHECK(memcmp(out, data, TG_TRACEPARENT_LEN) == 0, "not sent as received: %s", out);
}

/* The whole input as a client's tracestate: what is passed on is at most
 * TG_TRACESTATE_MAX printable bytes, NUL-terminated, and passes cleaning
 * unchanged (a clean list is its own cleaning). */
static void check_tracestate(const uint8_t *data, size_t size)
{
    char out[TG_TRACESTATE_MAX + 1], again[TG_TRACESTATE_MAX + 1];
    size_t n = tg_tracestate_clean((const char *)data, size, out);
    FUZZ_CHECK(n <= TG_TRACESTATE_MAX && out[n] == '\0' && strlen(out) == n,
               "cleaned list of %zu bytes", n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(out[i] >= 0x20 && out[i] <= 0x7e, "byte 0x%02x passed on",
                   (unsigned char)out[i]);
    if (n) {
        size_t m = tg_tracestate_clean(out, n, again);
        FUZZ_CHECK(m == n && memcmp(again, out, n) == 0, "cleaning a clean list changed it");
    }
}

static void check_sampling(const uint8_t *data, size_t size)
{
    if (size < 24)
        return;
    uint64_t bits;
    memcpy(&bits, data + 16, 8);
    double ratio = (double)(bits >> 11) * 0x1p-53; /* [0, 1) */
    if (data[0] & 1)
        ratio = (double)(bits & 0xffff) / 65536.0;
    uint64_t r = 0;
    for (int i = 9; i < 16; i++)
        r = r << 8 | data[i];
    bool sampled = tg_trace_ratio_sampled(data, ratio);
#if LDBL_MANT_DIG >= 64
    /* long double holds 56 bits exactly: an independent exact comparison */
    bool want = (long double)r < (long double)ratio * 0x1p56L;
    FUZZ_CHECK(sampled == want, "tail %llu at ratio %.17g: %d", (unsigned long long)r, ratio,
               sampled);
#endif
    /* Who samples at a ratio samples at every higher one. */
    if (sampled)
        FUZZ_CHECK(tg_trace_ratio_sampled(data, ratio + (1 - ratio) / 2), "not monotonic");
    FUZZ_CHECK(tg_trace_ratio_sampled(data, 1.0), "ratio 1 refused a trace");
    FUZZ_CHECK(!tg_trace_ratio_sampled(data, 0.0), "ratio 0 sampled a trace");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_traceparent(data, size);
    check_tracestate(data, size);
    check_sampling(data, size);
    return 0;
}

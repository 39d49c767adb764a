/* Unit tests of util/traceparent.c against W3C Trace Context
 * (https://www.w3.org/TR/trace-context/ section 3.2, and the cases of its
 * test suite, w3c/trace-context test/test.py): what a receiver accepts,
 * what it must ignore, what the gateway sends upstream, which tracestate it
 * passes on, and the sampling decision of a trace starting here. Every value
 * is parsed from a heap block of exactly its length, so a read past the end
 * shows under ASan. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rand.h"
#include "util/traceparent.h"

/* The W3C specification's example. */
#define EXAMPLE "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define SUITE_TRACE "12345678901234567890123456789012"
#define SUITE_SPAN "1234567890123456"

static const uint8_t example_trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
                                          0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
static const uint8_t example_span[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};

static bool parse_n(const char *s, size_t n, struct tg_trace_ctx *out)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    bool ok = tg_traceparent_parse(copy, n, out);
    free(copy);
    return ok;
}

static bool parse(const char *s, struct tg_trace_ctx *out)
{
    return parse_n(s, strlen(s), out);
}

static bool accepted(const char *s)
{
    struct tg_trace_ctx c;
    return parse(s, &c);
}

/* ---- tg_traceparent_parse ------------------------------------------------ */

static void test_parse_valid(void **state)
{
    (void)state;
    struct tg_trace_ctx c;
    memset(&c, 0xaa, sizeof(c));
    assert_true(parse(EXAMPLE, &c));
    assert_memory_equal(c.trace_id, example_trace, 16);
    assert_memory_equal(c.span_id, example_span, 8);
    assert_int_equal(c.flags, 0x01);

    /* Not sampled; flags this version does not know are kept as sent. */
    assert_true(parse("00-" SUITE_TRACE "-" SUITE_SPAN "-00", &c));
    assert_int_equal(c.flags, 0x00);
    assert_true(parse("00-" SUITE_TRACE "-" SUITE_SPAN "-ff", &c));
    assert_int_equal(c.flags, 0xff);
    assert_true(parse("00-" SUITE_TRACE "-" SUITE_SPAN "-08", &c));
    assert_int_equal(c.flags, 0x08);
    assert_int_equal(c.trace_id[0], 0x12);
    assert_int_equal(c.trace_id[15], 0x12);
    assert_int_equal(c.span_id[7], 0x56);

    /* Ids with a single non-zero bit, at either end, are valid. */
    assert_true(accepted("00-00000000000000000000000000000001-8000000000000000-01"));
    assert_true(accepted("00-80000000000000000000000000000000-0000000000000001-01"));
}

/* A refused value leaves *out as it was. */
static void test_parse_refused_keeps_out(void **state)
{
    (void)state;
    struct tg_trace_ctx c, before;
    memset(&c, 0x5a, sizeof(c));
    before = c;
    assert_false(parse("00-00000000000000000000000000000000-" SUITE_SPAN "-01", &c));
    assert_memory_equal(&c, &before, sizeof(c));
    assert_false(parse("00-" SUITE_TRACE "-" SUITE_SPAN "-0g", &c));
    assert_memory_equal(&c, &before, sizeof(c));
}

/* The suite's invalid values, each of which restarts the trace. */
static void test_parse_w3c_refused(void **state)
{
    (void)state;
    static const char *const refused[] = {
        /* version 00 with trailing characters */
        "00-" SUITE_TRACE "-" SUITE_SPAN "-01.",
        "00-" SUITE_TRACE "-" SUITE_SPAN "-01-what-the-future-will-be-like",
        /* version ff */
        "ff-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "ff-" SUITE_TRACE "-" SUITE_SPAN "-01-what-the-future-will-be-like",
        /* version: illegal characters, too long, too short */
        ".0-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "0.-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "000-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "0000-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "0-" SUITE_TRACE "-" SUITE_SPAN "-01",
        /* trace id: all zero, illegal characters, too long, too short */
        "00-00000000000000000000000000000000-" SUITE_SPAN "-01",
        "00-.2345678901234567890123456789012-" SUITE_SPAN "-01",
        "00-1234567890123456789012345678901.-" SUITE_SPAN "-01",
        "00-123456789012345678901234567890123-" SUITE_SPAN "-01",
        "00-1234567890123456789012345678901-" SUITE_SPAN "-01",
        /* parent id: all zero, illegal characters, too long, too short */
        "00-" SUITE_TRACE "-0000000000000000-01",
        "00-" SUITE_TRACE "-.234567890123456-01",
        "00-" SUITE_TRACE "-123456789012345.-01",
        "00-" SUITE_TRACE "-12345678901234567-01",
        "00-" SUITE_TRACE "-123456789012345-01",
        /* flags: illegal characters, too long, too short */
        "00-" SUITE_TRACE "-" SUITE_SPAN "-.0",
        "00-" SUITE_TRACE "-" SUITE_SPAN "-0.",
        "00-" SUITE_TRACE "-" SUITE_SPAN "-001",
        "00-" SUITE_TRACE "-" SUITE_SPAN "-1",
        /* a future version whose 55 characters are followed by anything but '-' */
        "cc-" SUITE_TRACE "-" SUITE_SPAN "-01.what-the-future-will-be-like",
        "cc-" SUITE_TRACE "-" SUITE_SPAN "-010",
        /* a future version is still read with version 00's rules */
        "cc-00000000000000000000000000000000-" SUITE_SPAN "-01",
        "cc-" SUITE_TRACE "-0000000000000000-01",
        "cc-" SUITE_TRACE "-" SUITE_SPAN "-0G",
        /* uppercase hex (HEXDIGLC), in each field */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319C-b7ad6b7169203331-01",
        "00-" SUITE_TRACE "-" SUITE_SPAN "-0A",
        "0A-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "CC-" SUITE_TRACE "-" SUITE_SPAN "-01",
        /* wrong separators */
        "00_" SUITE_TRACE "-" SUITE_SPAN "-01",
        "00-" SUITE_TRACE "_" SUITE_SPAN "-01",
        "00-" SUITE_TRACE "-" SUITE_SPAN "_01",
        "00 " SUITE_TRACE " " SUITE_SPAN " 01",
        /* surrounding whitespace: the HTTP reader drops OWS, the parser does not */
        " 00-" SUITE_TRACE "-" SUITE_SPAN "-01",
        "00-" SUITE_TRACE "-" SUITE_SPAN "-01 ",
        "",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (accepted(refused[i]))
            fail_msg("accepted \"%s\"", refused[i]);
}

/* Version cc (a future one): its first 55 characters are read as version
 * 00's, and more may follow after a '-'. */
static void test_parse_future_version(void **state)
{
    (void)state;
    struct tg_trace_ctx c;
    assert_true(parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c));
    assert_memory_equal(c.trace_id, example_trace, 16);
    assert_memory_equal(c.span_id, example_span, 8);
    assert_int_equal(c.flags, 0x01);

    memset(&c, 0, sizeof(c));
    assert_true(parse("cc-" SUITE_TRACE "-" SUITE_SPAN "-01-what-the-future-will-be-like", &c));
    assert_int_equal(c.trace_id[0], 0x12);
    assert_int_equal(c.span_id[0], 0x12);
    assert_int_equal(c.flags, 0x01);
    assert_true(accepted("cc-" SUITE_TRACE "-" SUITE_SPAN "-00-"));
    assert_true(accepted("01-" SUITE_TRACE "-" SUITE_SPAN "-02"));
    assert_true(accepted("fe-" SUITE_TRACE "-" SUITE_SPAN "-01-x"));
}

/* Every single-byte change of a valid value: accepted exactly when the byte
 * is lowercase hex where hex belongs or '-' where a separator does (no one
 * change of the example can make an id zero or the version ff). */
static void test_parse_every_substitution(void **state)
{
    (void)state;
    char s[TG_TRACEPARENT_LEN + 1];
    for (size_t pos = 0; pos < TG_TRACEPARENT_LEN; pos++) {
        bool sep = pos == 2 || pos == 35 || pos == 52;
        for (int b = 0; b < 256; b++) {
            memcpy(s, EXAMPLE, sizeof(s));
            s[pos] = (char)b;
            bool lower_hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f');
            bool want = sep ? b == '-' : lower_hex;
            struct tg_trace_ctx c;
            if (parse_n(s, TG_TRACEPARENT_LEN, &c) != want)
                fail_msg("byte 0x%02x at %zu: %s", (unsigned)b, pos, want ? "refused" : "accepted");
        }
    }
}

/* Every length but 55 refuses version 00; a future version needs 55. */
static void test_parse_lengths(void **state)
{
    (void)state;
    char long_v00[128], long_vcc[128];
    memcpy(long_v00, EXAMPLE, TG_TRACEPARENT_LEN);
    memset(long_v00 + TG_TRACEPARENT_LEN, '-', sizeof(long_v00) - TG_TRACEPARENT_LEN);
    memcpy(long_vcc, long_v00, sizeof(long_vcc));
    long_vcc[0] = long_vcc[1] = 'c';
    struct tg_trace_ctx c;
    for (size_t n = 0; n < sizeof(long_v00); n++) {
        assert_true(parse_n(long_v00, n, &c) == (n == TG_TRACEPARENT_LEN));
        assert_true(parse_n(long_vcc, n, &c) == (n >= TG_TRACEPARENT_LEN));
    }
}

/* ---- tg_traceparent_format ----------------------------------------------- */

static void test_format(void **state)
{
    (void)state;
    struct tg_trace_ctx c;
    memcpy(c.trace_id, example_trace, 16);
    memcpy(c.span_id, example_span, 8);
    char out[TG_TRACEPARENT_LEN + 1];
    memset(out, 'x', sizeof(out));
    c.flags = TG_TRACE_SAMPLED;
    tg_traceparent_format(&c, out);
    assert_string_equal(out, EXAMPLE);

    /* Only the sampled bit: version 00 defines no other flag to send. */
    c.flags = 0xff;
    tg_traceparent_format(&c, out);
    assert_string_equal(out, EXAMPLE);
    c.flags = 0xfe;
    tg_traceparent_format(&c, out);
    assert_string_equal(out, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    c.flags = 0;
    tg_traceparent_format(&c, out);
    assert_int_equal(strlen(out), TG_TRACEPARENT_LEN);
    assert_string_equal(out + 52, "-00");
}

/* format then parse gives the same ids and the sampled bit, for random
 * contexts; what a client sent in version 00 with flags 00 or 01 is sent
 * on unchanged, and a future version or unknown flags become version 00's. */
static void test_format_round_trip(void **state)
{
    (void)state;
    struct tg_rand rng;
    tg_rand_seed(&rng, 16);
    for (int i = 0; i < 2000; i++) {
        struct tg_trace_ctx c, back;
        for (int k = 0; k < 16; k += 8) {
            uint64_t v = tg_rand_u64(&rng);
            memcpy(c.trace_id + k, &v, 8);
        }
        uint64_t v = tg_rand_u64(&rng) | 1; /* never all zero */
        memcpy(c.span_id, &v, 8);
        c.flags = (uint8_t)tg_rand_below(&rng, 256);
        char out[TG_TRACEPARENT_LEN + 1];
        tg_traceparent_format(&c, out);
        assert_int_equal(strlen(out), TG_TRACEPARENT_LEN);
        assert_true(parse(out, &back));
        assert_memory_equal(back.trace_id, c.trace_id, 16);
        assert_memory_equal(back.span_id, c.span_id, 8);
        assert_int_equal(back.flags, c.flags & TG_TRACE_SAMPLED);
    }

    static const char *const same[] = {EXAMPLE, "00-" SUITE_TRACE "-" SUITE_SPAN "-00",
                                       "00-" SUITE_TRACE "-" SUITE_SPAN "-01"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        struct tg_trace_ctx c;
        char out[TG_TRACEPARENT_LEN + 1];
        assert_true(parse(same[i], &c));
        tg_traceparent_format(&c, out);
        assert_string_equal(out, same[i]);
    }
    struct tg_trace_ctx c;
    char out[TG_TRACEPARENT_LEN + 1];
    assert_true(parse("cc-" SUITE_TRACE "-" SUITE_SPAN "-03-more", &c));
    tg_traceparent_format(&c, out);
    assert_string_equal(out, "00-" SUITE_TRACE "-" SUITE_SPAN "-01");
}

/* ---- tg_trace_ratio_sampled ---------------------------------------------- */

/* A trace id whose last 7 bytes are r (big-endian), the rest `fill`. */
static void trace_with_tail(uint8_t id[16], uint64_t r, uint8_t fill)
{
    memset(id, fill, 16);
    for (int i = 15; i >= 9; i--, r >>= 8)
        id[i] = (uint8_t)r;
}

static void test_ratio_bounds(void **state)
{
    (void)state;
    const uint64_t two55 = UINT64_C(1) << 55, two56 = UINT64_C(1) << 56;
    uint8_t id[16];
    static const uint8_t fills[] = {0x00, 0xff, 0x5a};
    for (size_t f = 0; f < sizeof(fills); f++) {
        /* ratio 1: every trace, the highest tail too; 0: none, the lowest too */
        trace_with_tail(id, two56 - 1, fills[f]);
        assert_true(tg_trace_ratio_sampled(id, 1.0));
        assert_false(tg_trace_ratio_sampled(id, 0.0));
        trace_with_tail(id, 0, fills[f]);
        assert_true(tg_trace_ratio_sampled(id, 1.0));
        assert_false(tg_trace_ratio_sampled(id, 0.0));
        assert_false(tg_trace_ratio_sampled(id, -1.0));

        /* 0.5: from 2^55 on a tail is not sampled; the first 9 bytes play
         * no part. */
        trace_with_tail(id, two55, fills[f]);
        assert_false(tg_trace_ratio_sampled(id, 0.5));
        trace_with_tail(id, two55 + 1, fills[f]);
        assert_false(tg_trace_ratio_sampled(id, 0.5));
        trace_with_tail(id, 0, fills[f]);
        assert_true(tg_trace_ratio_sampled(id, 0.5));
        trace_with_tail(id, two56 - 1, fills[f]);
        assert_false(tg_trace_ratio_sampled(id, 0.5));

        /* 0.25 at 2^54, and the smallest ratio that samples anything. */
        trace_with_tail(id, two55 >> 1, fills[f]);
        assert_false(tg_trace_ratio_sampled(id, 0.25));
        trace_with_tail(id, 0, fills[f]);
        assert_true(tg_trace_ratio_sampled(id, 1.0 / (double)two56));
        trace_with_tail(id, 1, fills[f]);
        assert_false(tg_trace_ratio_sampled(id, 1.0 / (double)two56));
    }
}

/* The comparison is exact at the threshold: the tail one below ratio * 2^56
 * is sampled, however many bits it has (a tail of 55 bits, rounded to a
 * double, became the threshold itself and was not). */
static void test_ratio_exact_at_threshold(void **state)
{
    (void)state;
    static const struct {
        double ratio;
        uint64_t first_unsampled; /* ceil(ratio * 2^56) */
    } rows[] = {
        {0.5, UINT64_C(1) << 55},          {0.25, UINT64_C(1) << 54},
        {0.75, UINT64_C(3) << 54},         {1 - 0x1p-53, (UINT64_C(1) << 56) - 8},
        {0.1, UINT64_C(7205759403792794)}, /* the double 0.1 times 2^56 is an integer */
        {0.01, UINT64_C(720575940379280)}, /* 720575940379279.375 */
    };
    uint8_t id[16];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t t = rows[i].first_unsampled;
        for (uint64_t below = 1; below <= 3; below++) {
            trace_with_tail(id, t - below, 0xff);
            if (!tg_trace_ratio_sampled(id, rows[i].ratio))
                fail_msg("ratio %.17g: tail %llu not sampled", rows[i].ratio,
                         (unsigned long long)(t - below));
        }
        for (uint64_t above = 0; above <= 2; above++) {
            trace_with_tail(id, t + above, 0x00);
            if (tg_trace_ratio_sampled(id, rows[i].ratio))
                fail_msg("ratio %.17g: tail %llu sampled", rows[i].ratio,
                         (unsigned long long)(t + above));
        }
    }
}

/* Over random trace ids: the sampled share is the ratio (within 4 standard
 * deviations of a binomial draw), and a trace sampled at one ratio is
 * sampled at every higher one, so services with different ratios agree. */
static void test_ratio_share(void **state)
{
    (void)state;
    struct tg_rand rng;
    tg_rand_seed(&rng, 20251206);
    enum { N = 20000 };
    static const double ratios[] = {0.01, 0.1, 0.25, 0.5, 0.9};
    int sampled[5] = {0};
    for (int i = 0; i < N; i++) {
        uint8_t id[16];
        uint64_t a = tg_rand_u64(&rng), b = tg_rand_u64(&rng);
        memcpy(id, &a, 8);
        memcpy(id + 8, &b, 8);
        bool before = false;
        for (size_t k = 0; k < 5; k++) {
            bool s = tg_trace_ratio_sampled(id, ratios[k]);
            if (before && !s)
                fail_msg("sampled at %g but not at %g", ratios[k - 1], ratios[k]);
            before = s;
            sampled[k] += s;
        }
    }
    for (size_t k = 0; k < 5; k++) {
        double p = ratios[k], sd = sqrt(p * (1 - p) / N);
        double share = (double)sampled[k] / N;
        if (share < p - 4 * sd || share > p + 4 * sd)
            fail_msg("ratio %g sampled %.4f of %d traces", p, share, N);
    }
    /* 0.25 within 1.25 points: about 4 standard deviations */
    double q = (double)sampled[2] / N;
    assert_true(q > 0.2375 && q < 0.2625);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_refused_keeps_out),
        cmocka_unit_test(test_parse_w3c_refused),
        cmocka_unit_test(test_parse_future_version),
        cmocka_unit_test(test_parse_every_substitution),
        cmocka_unit_test(test_parse_lengths),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_ratio_bounds),
        cmocka_unit_test(test_ratio_exact_at_threshold),
        cmocka_unit_test(test_ratio_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

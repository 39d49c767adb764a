/* Unit tests of retry backoff (route/backoff.c, SPEC section 4): the cap
 * min(backoff_max_ms, backoff_base_ms * 2^(n-1)), and the three jitters.
 * Full and equal jitter are checked for uniformity with a chi-square and a
 * Kolmogorov-Smirnov test over 10,000 draws from fixed seeds, so the verdict
 * is deterministic. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "route/backoff.h"

enum { DRAWS = 10000, BINS = 20 };
/* Chi-square with 19 degrees of freedom: P(X > 43.82) = 0.001. */
#define CHI2_19_999 43.82
/* Kolmogorov-Smirnov, alpha = 0.001: D > 1.949 / sqrt(n). */
#define KS_999 1.949

static struct tg_retry_cfg cfg_of(int64_t base, int64_t max, enum tg_jitter jitter)
{
    struct tg_retry_cfg c;
    memset(&c, 0, sizeof(c));
    c.max_attempts = 3;
    c.backoff_base_ms = base;
    c.backoff_max_ms = max;
    c.jitter = jitter;
    c.respect_retry_after = true;
    c.max_retry_after_ms = 10000;
    c.budget_ratio = 0.2;
    c.budget_min_per_s = 3;
    return c;
}

/* Rows: (base, max, retry n, cap). */
static void test_cap(void **state)
{
    (void)state;
    static const struct {
        int64_t base, max;
        int retry;
        uint64_t cap;
    } rows[] = {
        {250, 8000, 1, 250},
        {250, 8000, 2, 500},
        {250, 8000, 3, 1000},
        {250, 8000, 4, 2000},
        {250, 8000, 5, 4000},
        {250, 8000, 6, 8000},
        {250, 8000, 7, 8000},
        {250, 8000, 100, 8000},
        {250, 8000, 1000000, 8000},
        {300, 1000, 1, 300},
        {300, 1000, 2, 600},
        {300, 1000, 3, 1000}, /* 1200 clamped */
        {300, 1000, 4, 1000},
        {1000, 500, 1, 500},
        {1000, 500, 5, 500}, /* base > max */
        {0, 8000, 1, 0},
        {0, 8000, 30, 0},
        {1, 1, 1, 1},
        {1, 1, 50, 1},
        {7, 100, 4, 56},
        {7, 100, 5, 100},
        /* Large values: doubling never overflows. */
        {1, INT64_MAX, 63, UINT64_C(1) << 62},
        {1, INT64_MAX, 64, (uint64_t)INT64_MAX},
        {1, INT64_MAX, 200, (uint64_t)INT64_MAX},
        {INT64_MAX / 2, INT64_MAX, 3, (uint64_t)INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_retry_cfg c = cfg_of(rows[i].base, rows[i].max, TG_JITTER_NONE);
        uint64_t cap = tg_backoff_cap_ms(&c, rows[i].retry);
        if (cap != rows[i].cap)
            fail_msg("row %zu: base %lld max %lld retry %d: cap %llu, expected %llu", i,
                     (long long)rows[i].base, (long long)rows[i].max, rows[i].retry,
                     (unsigned long long)cap, (unsigned long long)rows[i].cap);
    }
}

/* "none" waits exactly the cap, and draws nothing. */
static void test_none_is_cap(void **state)
{
    (void)state;
    struct tg_retry_cfg c = cfg_of(250, 8000, TG_JITTER_NONE);
    struct tg_rand r, untouched;
    tg_rand_seed(&r, 5);
    untouched = r;
    for (int n = 1; n <= 10; n++)
        assert_int_equal(tg_backoff_ms(&c, n, &r), tg_backoff_cap_ms(&c, n));
    assert_memory_equal(&r, &untouched, sizeof(r));
}

static double chi_square(const uint64_t *draws, size_t n, uint64_t lo, uint64_t hi)
{
    /* Bins of equal numbers of integer values: span = hi - lo + 1 values,
     * chosen divisible by BINS by the callers. */
    uint64_t span = hi - lo + 1;
    double counts[BINS] = {0};
    for (size_t i = 0; i < n; i++)
        counts[(draws[i] - lo) * BINS / span]++;
    double expected = (double)n / BINS, chi2 = 0;
    for (int b = 0; b < BINS; b++)
        chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
    return chi2;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Kolmogorov-Smirnov distance to the discrete uniform law on [lo, hi]. */
static double ks_distance(uint64_t *draws, size_t n, uint64_t lo, uint64_t hi)
{
    qsort(draws, n, sizeof(draws[0]), cmp_u64);
    double span = (double)(hi - lo + 1), d = 0;
    for (size_t i = 0; i < n; i++) {
        /* The law's CDF just below and at draws[i]. */
        double f_below = (double)(draws[i] - lo) / span;
        double f_at = (double)(draws[i] - lo + 1) / span;
        double e_before = (double)i / (double)n, e_after = (double)(i + 1) / (double)n;
        /* The empirical CDF jumps at each draw; the law's at each integer. */
        if (i + 1 == n || draws[i + 1] != draws[i]) {
            d = fmax(d, fabs(e_after - f_at));
        }
        if (i == 0 || draws[i - 1] != draws[i])
            d = fmax(d, fabs(e_before - f_below));
    }
    return d;
}

static uint64_t g_draws[DRAWS];

/* Full jitter: every draw in [0, cap], uniform over it. Caps chosen so that
 * cap + 1 values split evenly into 20 bins. */
static void test_full_jitter_uniform(void **state)
{
    (void)state;
    static const struct {
        int64_t base, max;
        int retry;
    } rows[] = {
        {250, 8000, 1},    /* cap 250: 251 values, chi-square bins are uneven: KS only */
        {4999, 100000, 1}, /* cap 4999 */
        {1250, 100000, 4}, /* cap 10000 - uneven bins: KS only */
        {10000, 19999, 2}, /* cap 19999 (clamped) */
    };
    static const uint64_t seeds[] = {1, 2, 3, 0xdeadbeef, 20240601};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_retry_cfg c = cfg_of(rows[i].base, rows[i].max, TG_JITTER_FULL);
        uint64_t cap = tg_backoff_cap_ms(&c, rows[i].retry);
        for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
            struct tg_rand r;
            tg_rand_seed(&r, seeds[s]);
            uint64_t lo = UINT64_MAX, hi = 0;
            for (int k = 0; k < DRAWS; k++) {
                g_draws[k] = tg_backoff_ms(&c, rows[i].retry, &r);
                assert_true(g_draws[k] <= cap);
                lo = g_draws[k] < lo ? g_draws[k] : lo;
                hi = g_draws[k] > hi ? g_draws[k] : hi;
            }
            /* Both ends of the range are reachable in practice. */
            assert_true(lo <= cap / 100);
            assert_true(hi >= cap - cap / 100);
            if ((cap + 1) % BINS == 0) {
                double chi2 = chi_square(g_draws, DRAWS, 0, cap);
                if (chi2 >= CHI2_19_999)
                    fail_msg("cap %llu seed %llu: chi-square %.2f >= %.2f", (unsigned long long)cap,
                             (unsigned long long)seeds[s], chi2, CHI2_19_999);
            }
            double d = ks_distance(g_draws, DRAWS, 0, cap);
            if (d >= KS_999 / sqrt(DRAWS))
                fail_msg("cap %llu seed %llu: KS distance %.4f >= %.4f", (unsigned long long)cap,
                         (unsigned long long)seeds[s], d, KS_999 / sqrt(DRAWS));
        }
    }
}

/* The chi-square test itself rejects what it should: a law that never draws
 * the top 5% of the range, and one skewed towards the top (every tenth
 * draw the larger of two). Guards against a test that always passes. */
static void test_uniformity_tests_have_power(void **state)
{
    (void)state;
    struct tg_rand r;
    tg_rand_seed(&r, 9);
    const uint64_t cap = 19999;
    for (int k = 0; k < DRAWS; k++)
        g_draws[k] = tg_rand_below(&r, cap + 1 - 1000); /* misses [19000, 19999] */
    assert_true(chi_square(g_draws, DRAWS, 0, cap) > CHI2_19_999);
    assert_true(ks_distance(g_draws, DRAWS, 0, cap) > KS_999 / sqrt(DRAWS));
    for (int k = 0; k < DRAWS; k++) { /* slightly skewed: the max of a draw and 10% more */
        uint64_t x = tg_rand_below(&r, cap + 1), y = tg_rand_below(&r, cap + 1);
        g_draws[k] = k % 10 ? x : (x > y ? x : y);
    }
    assert_true(chi_square(g_draws, DRAWS, 0, cap) > CHI2_19_999);
    assert_true(ks_distance(g_draws, DRAWS, 0, cap) > KS_999 / sqrt(DRAWS));
}

/* Full jitter at small caps: every value of [0, cap] comes up, nothing else. */
static void test_full_jitter_small_caps(void **state)
{
    (void)state;
    struct tg_rand r;
    tg_rand_seed(&r, 77);
    for (int64_t cap = 0; cap <= 16; cap++) {
        struct tg_retry_cfg c = cfg_of(cap, 1000, TG_JITTER_FULL);
        int seen[17] = {0};
        for (int k = 0; k < 2000; k++) {
            uint64_t v = tg_backoff_ms(&c, 1, &r);
            assert_true(v <= (uint64_t)cap);
            seen[v]++;
        }
        for (int64_t v = 0; v <= cap; v++)
            assert_true(seen[v] > 0);
    }
}

/* Equal jitter: in [cap/2, cap], uniform over it, both ends reachable. */
static void test_equal_jitter(void **state)
{
    (void)state;
    static const struct {
        int64_t base, max;
        int retry;
    } rows[] = {
        {250, 8000, 1}, {250, 8000, 3}, {250, 8000, 9},     {5, 100, 1},
        {1, 100, 1},    {0, 100, 1},    {39998, 100000, 1}, /* cap 39998: [19999, 39998] is 20000
                                                               values: chi-square */
    };
    struct tg_rand r;
    tg_rand_seed(&r, 31337);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_retry_cfg c = cfg_of(rows[i].base, rows[i].max, TG_JITTER_EQUAL);
        uint64_t cap = tg_backoff_cap_ms(&c, rows[i].retry);
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int k = 0; k < DRAWS; k++) {
            uint64_t v = tg_backoff_ms(&c, rows[i].retry, &r);
            if (v < cap / 2 || v > cap)
                fail_msg("row %zu: %llu outside [%llu, %llu]", i, (unsigned long long)v,
                         (unsigned long long)(cap / 2), (unsigned long long)cap);
            g_draws[k] = v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        assert_true(lo <= cap / 2 + cap / 200);
        assert_true(hi >= cap - cap / 200);
        if (cap < 1000) {
            assert_int_equal(lo, cap / 2);
            assert_int_equal(hi, cap);
        }
        if ((cap - cap / 2 + 1) % BINS == 0) {
            double chi2 = chi_square(g_draws, DRAWS, cap / 2, cap);
            assert_true(chi2 < CHI2_19_999);
        }
        if (cap > 0)
            assert_true(ks_distance(g_draws, DRAWS, cap / 2, cap) < KS_999 / sqrt(DRAWS));
    }
}

/* The same seed gives the same waits; another seed other waits. */
static void test_deterministic_by_seed(void **state)
{
    (void)state;
    struct tg_retry_cfg full = cfg_of(250, 8000, TG_JITTER_FULL);
    struct tg_retry_cfg equal = cfg_of(250, 8000, TG_JITTER_EQUAL);
    uint64_t a[64], b[64], c[64];
    struct tg_rand r1, r2, r3;
    tg_rand_seed(&r1, 123);
    tg_rand_seed(&r2, 123);
    tg_rand_seed(&r3, 124);
    for (int k = 0; k < 64; k++) {
        int n = 1 + k % 8;
        const struct tg_retry_cfg *cf = k % 3 ? &full : &equal;
        a[k] = tg_backoff_ms(cf, n, &r1);
        b[k] = tg_backoff_ms(cf, n, &r2);
        c[k] = tg_backoff_ms(cf, n, &r3);
    }
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_none_is_cap),
        cmocka_unit_test(test_full_jitter_uniform),
        cmocka_unit_test(test_uniformity_tests_have_power),
        cmocka_unit_test(test_full_jitter_small_caps),
        cmocka_unit_test(test_equal_jitter),
        cmocka_unit_test(test_deterministic_by_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

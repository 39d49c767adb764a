/* Unit tests of the decaying latency histogram (util/hist.c) on a fake clock:
 * bucket precision, quantiles of known samples against exact quantiles,
 * memory, decay of old samples, and renormalisation over hours of fake time. */
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
#include <stdlib.h>
#include <string.h>

#include "util/hist.h"
#include "util/rand.h"

#define TAU 30000.0
/* Doubles rounding in the bucket midpoint computation. */
#define REL_TOL (TG_HIST_REL_ERROR * (1 + 1e-9))

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool within(double est, double exact)
{
    if (exact == 0)
        return est == 0;
    return fabs(est - exact) <= REL_TOL * exact;
}

/* The same bucket or a neighbouring one: two estimates of one quantile from
 * weights that differ by float rounding, or by a negligible old remainder. */
static bool about(double a, double b)
{
    return fabs(a - b) <= 2 * REL_TOL * b;
}

/* Records samples (all at the same time, so every weight is 1) and checks
 * each quantile against the exact one.
 *
 * The exact q-quantile is the sample of rank r = ceil(q * n) (1-based) of
 * the sorted samples: the smallest value with at least a fraction q of the
 * samples at or below it. The histogram returns the midpoint of the first
 * bucket whose cumulative weight reaches q * total, which is the bucket of
 * that sample, so the answer is within TG_HIST_REL_ERROR of it.
 *
 * Plus one rank at rank boundaries: when q * n is a whole number, the
 * quantile lies on the boundary between the samples of rank q*n and q*n+1
 * (both are valid quantiles: lower and upper). q * total is computed in
 * floating point (0.9 * 100000 = 90000.00000000001), so the histogram may
 * pick either side; with a gap in the data (bimodal) the two sides are in
 * different buckets. So an answer within the bound of the sample of rank
 * r - 1 or r + 1 is accepted too. */
static void check_quantiles(uint64_t *samples, size_t n, const char *what)
{
    struct tg_hist *h = malloc(sizeof(*h));
    assert_non_null(h);
    tg_hist_init(h, 1000, TAU);
    for (size_t i = 0; i < n; i++)
        tg_hist_record(h, 1000, samples[i]);
    assert_int_equal(h->samples, n);
    assert_true(fabs(tg_hist_weight(h, 1000) - (double)n) < 1e-6 * (double)n);
    qsort(samples, n, sizeof(samples[0]), cmp_u64);
    static const double qs[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        double q = qs[k];
        size_t r = (size_t)ceil(q * (double)n);
        if (r < 1)
            r = 1;
        if (r > n)
            r = n;
        double est = tg_hist_quantile(h, q);
        double exact = (double)samples[r - 1];
        bool ok = within(est, exact);
        bool boundary = fabs(q * (double)n - round(q * (double)n)) < 1e-6;
        if (!ok && boundary) {
            ok = (r >= 2 && within(est, (double)samples[r - 2])) ||
                 (r < n && within(est, (double)samples[r]));
        }
        if (!ok)
            fail_msg("%s: q=%.3f: histogram says %.1f us, exact %.0f us (rank %zu of %zu), "
                     "error %.4f > %.4f",
                     what, q, est, exact, r, n, fabs(est - exact) / exact, TG_HIST_REL_ERROR);
    }
    free(h);
}

static uint64_t g_samples[1000000];

static void test_quantiles_uniform(void **state)
{
    (void)state;
    struct tg_rand r;
    tg_rand_seed(&r, 1);
    size_t n = 200000;
    for (size_t i = 0; i < n; i++)
        g_samples[i] = 1000 + tg_rand_below(&r, 2000000);
    check_quantiles(g_samples, n, "uniform [1 ms, 2 s]");
    /* Small values are exact: bucket midpoints are the values themselves. */
    for (size_t i = 0; i < n; i++)
        g_samples[i] = tg_rand_below(&r, 32);
    check_quantiles(g_samples, n, "uniform [0, 31] us");
}

static void test_quantiles_log_uniform(void **state)
{
    (void)state;
    struct tg_rand r;
    tg_rand_seed(&r, 2);
    size_t n = 200000;
    for (size_t i = 0; i < n; i++)
        g_samples[i] = (uint64_t)exp(log(10.0) + tg_rand_unit(&r) * (log(1e9) - log(10.0)));
    check_quantiles(g_samples, n, "log-uniform [10 us, 1000 s]");
}

static void test_quantiles_constant(void **state)
{
    (void)state;
    static const uint64_t values[] = {1, 31, 32, 33, 63, 64, 65, 12345, 999999, 1u << 30};
    for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
        for (size_t i = 0; i < 5000; i++)
            g_samples[i] = values[v];
        check_quantiles(g_samples, 5000, "constant");
    }
    /* One sample: every quantile is it. */
    g_samples[0] = 4242;
    check_quantiles(g_samples, 1, "single sample");
}

static void test_quantiles_bimodal(void **state)
{
    (void)state;
    struct tg_rand r;
    tg_rand_seed(&r, 3);
    /* 90% near 20 ms, 10% near 2 s: p90 sits exactly on the gap. */
    size_t n = 100000;
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 9)
            g_samples[i] = 2000000 + tg_rand_below(&r, 200000);
        else
            g_samples[i] = 20000 + tg_rand_below(&r, 2000);
    }
    check_quantiles(g_samples, n, "bimodal 20 ms / 2 s");
    /* 1% slow: p99 on the gap, p99.9 in the slow mode. */
    for (size_t i = 0; i < n; i++)
        g_samples[i] = i % 100 == 0 ? 5000000 : 800;
    check_quantiles(g_samples, n, "bimodal 800 us / 5 s");
}

static void test_quantiles_one_to_a_million(void **state)
{
    (void)state;
    size_t n = 1000000;
    for (size_t i = 0; i < n; i++)
        g_samples[i] = n - i; /* recorded in descending order, for a change */
    check_quantiles(g_samples, n, "1..10^6 us");
}

static void test_empty(void **state)
{
    (void)state;
    struct tg_hist h;
    tg_hist_init(&h, 0, TAU);
    assert_true(tg_hist_quantile(&h, 0.5) == 0);
    assert_true(tg_hist_quantile(&h, 0.99) == 0);
    assert_true(tg_hist_weight(&h, 0) == 0);
    assert_true(tg_hist_weight(&h, 1000000) == 0);
    assert_int_equal(h.samples, 0);
    /* tau <= 0 falls back to the default 30 s. */
    tg_hist_init(&h, 0, 0);
    assert_true(h.tau_ms > 0);
}

/* Every value's bucket midpoint is within TG_HIST_REL_ERROR of it, buckets
 * grow with values, and values past the top land in the top bucket. */
static void test_bucket_precision(void **state)
{
    (void)state;
    int prev = -1;
    for (uint64_t v = 0; v < (1u << 21); v++) {
        int b = tg_hist_bucket(v);
        assert_true(b >= prev && b < TG_HIST_BUCKETS);
        prev = b;
        double mid = tg_hist_bucket_mid(b);
        if (v < TG_HIST_SUB)
            assert_true(mid == (double)v);
        else if (!within(mid, (double)v))
            fail_msg("value %llu: bucket %d midpoint %.2f", (unsigned long long)v, b, mid);
    }
    for (int e = 21; e <= TG_HIST_MAX_EXP; e++) {
        for (uint64_t v = (UINT64_C(1) << e) - 3; v < (UINT64_C(1) << e) + 3; v++)
            assert_true(within(tg_hist_bucket_mid(tg_hist_bucket(v)), (double)v));
    }
    uint64_t top = (UINT64_C(1) << (TG_HIST_MAX_EXP + 1)) - 1;
    assert_int_equal(tg_hist_bucket(top), TG_HIST_BUCKETS - 1);
    assert_true(within(tg_hist_bucket_mid(TG_HIST_BUCKETS - 1), (double)top));
    assert_int_equal(tg_hist_bucket(top + 1), TG_HIST_BUCKETS - 1);
    assert_int_equal(tg_hist_bucket(UINT64_MAX), TG_HIST_BUCKETS - 1);
}

/* A few KiB per histogram: one per deployment, twice (answer, first chunk). */
static void test_memory(void **state)
{
    (void)state;
    assert_true(sizeof(struct tg_hist) <= 4096);
    assert_true(sizeof(struct tg_hist) >= TG_HIST_BUCKETS * sizeof(float));
}

/* Samples recorded 5 minutes before a new batch no longer move p50 and p99:
 * the answer is that of the new batch alone (to a bucket). After 5 minutes
 * (10 tau) an old sample weighs e^-10 = 4.5e-5 of a new one, so even an old
 * batch 50 times larger than the new one is 0.2% of the weight. */
static void test_decay_old_batch(void **state)
{
    (void)state;
    struct tg_hist h, fresh;
    static const struct {
        uint64_t old_us;
        size_t old_n;
        uint64_t new_us;
        size_t new_n;
    } rows[] = {
        {100000, 10000, 1000, 1000}, /* slow then fast */
        {1000, 10000, 100000, 1000}, /* fast then slow */
        {5000000, 100000, 2000, 2000},
        {300, 100000, 40000, 2000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        tg_hist_init(&h, 0, TAU);
        tg_hist_init(&fresh, 300000, TAU);
        for (size_t k = 0; k < rows[i].old_n; k++)
            tg_hist_record(&h, k % 1000, rows[i].old_us); /* over the first second */
        for (size_t k = 0; k < rows[i].new_n; k++) {
            uint64_t v = rows[i].new_us + k % 50;
            tg_hist_record(&h, 300000 + k, v);
            tg_hist_record(&fresh, 300000 + k, v);
        }
        uint64_t now = 300000 + rows[i].new_n;
        static const double qs[] = {0.5, 0.9, 0.99};
        for (size_t q = 0; q < 3; q++) {
            double a = tg_hist_quantile(&h, qs[q]), b = tg_hist_quantile(&fresh, qs[q]);
            if (!about(a, b))
                fail_msg("row %zu: q=%.2f is %.1f with 5-minute-old samples, %.1f without", i,
                         qs[q], a, b);
        }
        /* What is left of the old batch is a fraction of one sample. */
        double w = tg_hist_weight(&h, now) - tg_hist_weight(&fresh, now);
        assert_true(w >= 0 && w < 0.001 * (double)rows[i].old_n);
    }

    /* One minute is not enough to forget 10x as many samples (13% weight):
     * documents that the decay is gradual. */
    tg_hist_init(&h, 0, TAU);
    for (int k = 0; k < 10000; k++)
        tg_hist_record(&h, 0, 100000);
    for (int k = 0; k < 1000; k++)
        tg_hist_record(&h, 60000, 1000);
    assert_true(within(tg_hist_quantile(&h, 0.5), 100000));
}

/* The weight of a sample is 1 when recorded and e^(-age / tau) later. */
static void test_weight_decays(void **state)
{
    (void)state;
    struct tg_hist h;
    tg_hist_init(&h, 5000, TAU);
    tg_hist_record(&h, 5000, 100);
    static const struct {
        uint64_t now;
        double weight;
    } rows[] = {
        {5000, 1.0},
        {4000, 1.0}, /* before the landmark: as at the landmark */
        {5000 + 30000, 0.36787944117144233},
        {5000 + 20794, 0.5}, /* tau ln 2 */
        {5000 + 60000, 0.1353352832366127},
        {5000 + 300000, 4.5399929762484854e-05},
        {5000 + 3600000, 0.0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double w = tg_hist_weight(&h, rows[i].now);
        if (fabs(w - rows[i].weight) > 1e-4 * (rows[i].weight > 0 ? rows[i].weight : 1e-30) &&
            fabs(w - rows[i].weight) > 1e-12)
            fail_msg("row %zu: weight %.12g at %llu, expected %.12g", i, w,
                     (unsigned long long)rows[i].now, rows[i].weight);
    }
    /* Weights add: 10 samples now and one a minute later. */
    tg_hist_init(&h, 0, TAU);
    for (int k = 0; k < 10; k++)
        tg_hist_record(&h, 0, 100);
    tg_hist_record(&h, 60000, 100);
    assert_true(fabs(tg_hist_weight(&h, 60000) - (10 * exp(-2.0) + 1)) < 1e-6);
    /* A sample recorded with a time before the landmark counts as of the
     * landmark. */
    tg_hist_record(&h, 0, 100);
    assert_true(fabs(tg_hist_weight(&h, 60000) - (11 * exp(-2.0) + 1)) < 1e-6);
    assert_int_equal(h.samples, 12);
    tg_hist_init(&h, 5000, TAU);
    tg_hist_record(&h, 4000, 100);
    assert_true(fabs(tg_hist_weight(&h, 5000) - 1.0) < 1e-12);
}

/* Hours of fake time: the weights are renormalised on the way (well before
 * floats overflow) and the quantiles stay those of the recent samples. */
static void test_long_run_renormalises(void **state)
{
    (void)state;
    struct tg_hist h;
    struct tg_rand r;
    tg_rand_seed(&r, 4);
    tg_hist_init(&h, 0, TAU);
    const uint64_t hour = 3600000;
    uint64_t now = 0;
    /* 4 hours of 10-20 ms, one sample every 100 ms. */
    for (; now < 4 * hour; now += 100)
        tg_hist_record(&h, now, 10000 + tg_rand_below(&r, 10000));
    assert_true(h.landmark_ms > 0); /* renormalised at least once */
    assert_true(isfinite(h.total));
    for (int i = 0; i < TG_HIST_BUCKETS; i++)
        assert_true(isfinite(h.counts[i]));
    double p50 = tg_hist_quantile(&h, 0.5);
    assert_true(p50 > 14000 * (1 - REL_TOL) && p50 < 16000 * (1 + REL_TOL));
    /* In steady state the weight is sum e^(-k 100/tau) = 1 / (1 - e^(-1/300)). */
    double steady = 1.0 / (1.0 - exp(-100.0 / TAU));
    assert_true(fabs(tg_hist_weight(&h, now - 100) - steady) < 0.01 * steady);

    /* Then 1 hour of exactly 1.5 s: the old samples are gone from every quantile. */
    for (uint64_t end = now + hour; now < end; now += 100)
        tg_hist_record(&h, now, 1500000);
    static const double qs[] = {0.001, 0.01, 0.5, 0.99};
    for (size_t q = 0; q < 4; q++)
        assert_true(within(tg_hist_quantile(&h, qs[q]), 1500000));
    assert_true(fabs(tg_hist_weight(&h, now - 100) - steady) < 0.01 * steady);

    /* 10 quiet hours, then one sample: it is all there is. */
    now += 10 * hour;
    assert_true(tg_hist_weight(&h, now) < 1e-30);
    tg_hist_record(&h, now, 777);
    assert_true(within(tg_hist_quantile(&h, 0.5), 777));
    assert_true(within(tg_hist_quantile(&h, 0.999), 777));
    assert_true(fabs(tg_hist_weight(&h, now) - 1.0) < 1e-9);
    assert_int_equal(h.samples, 5 * hour / 100 + 1);
}

/* Exactness survives renormalisation: a histogram fed over 3 hours gives
 * the same quantiles as one fed only the last 10 minutes (older samples
 * weigh under e^-20). */
static void test_renormalised_matches_fresh(void **state)
{
    (void)state;
    struct tg_hist *h = malloc(sizeof(*h)), *fresh = malloc(sizeof(*fresh));
    struct tg_rand r;
    tg_rand_seed(&r, 5);
    tg_hist_init(h, 0, TAU);
    const uint64_t end = 3 * 3600000, recent = end - 600000;
    tg_hist_init(fresh, recent, TAU);
    for (uint64_t now = 0; now < end; now += 50) {
        uint64_t v = now < recent ? 1000000 + tg_rand_below(&r, 1000)
                                  : (uint64_t)exp(log(100.0) + tg_rand_unit(&r) * log(1e4));
        tg_hist_record(h, now, v);
        if (now >= recent)
            tg_hist_record(fresh, now, v);
    }
    static const double qs[] = {0.1, 0.5, 0.9, 0.99};
    for (size_t q = 0; q < 4; q++) {
        double a = tg_hist_quantile(h, qs[q]), b = tg_hist_quantile(fresh, qs[q]);
        if (!about(a, b))
            fail_msg("q=%.2f: %.1f after 3 hours, %.1f from the last 10 minutes", qs[q], a, b);
    }
    free(h);
    free(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles_uniform),
        cmocka_unit_test(test_quantiles_log_uniform),
        cmocka_unit_test(test_quantiles_constant),
        cmocka_unit_test(test_quantiles_bimodal),
        cmocka_unit_test(test_quantiles_one_to_a_million),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bucket_precision),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_decay_old_batch),
        cmocka_unit_test(test_weight_decays),
        cmocka_unit_test(test_long_run_renormalises),
        cmocka_unit_test(test_renormalised_matches_fresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of route/cost.c: a request's cost from usage and prices
 * (cached prompt tokens priced apart), the worst case that decides a cost
 * ceiling's ineligibility, and which ceiling is in force (SPEC section 8). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>

#include "route/cost.h"

static void assert_usd(double got, double want, const char *what)
{
    if (fabs(got - want) > 1e-12) {
        fprintf(stderr, "%s: got %.12f, want %.12f\n", what, got, want);
        fail();
    }
}

static void test_cost_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        struct tg_prices p;
        struct tg_usage u;
        double usd;
    } cases[] = {
        {"no prices", {0, 0, 0}, {1000, 0, 1000}, 0},
        {"input only", {2.5, 0, 10}, {1000000, 0, 0}, 2.5},
        {"output only", {2.5, 0, 10}, {0, 0, 1000000}, 10},
        {"a small answer", {2.5, 1.25, 10}, {12, 0, 16}, 12 * 2.5e-6 + 16 * 10e-6},
        {"cached part at the cached price", {2.5, 1.25, 10}, {1000, 600, 100},
         400 * 2.5e-6 + 600 * 1.25e-6 + 100 * 10e-6},
        {"all of the prompt cached", {3, 0.3, 15}, {2048, 2048, 0}, 2048 * 0.3e-6},
        {"cached but no cached price: free", {3, 0, 15}, {100, 40, 0}, 60 * 3e-6},
        {"cached above the prompt is clamped", {3, 0.3, 15}, {100, 500, 0}, 100 * 0.3e-6},
        {"negative counts are zero", {3, 0.3, 15}, {-5, -1, -7}, 0},
        {"a million of each", {1, 0.5, 4}, {2000000, 1000000, 1000000}, 1 + 0.5 + 4},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_usd(tg_cost_usd(&cases[i].p, &cases[i].u), cases[i].usd, cases[i].what);
}

static void test_prices_set(void **state)
{
    (void)state;
    struct tg_prices none = {0, 0, 0}, in = {1, 0, 0}, cached = {0, 1, 0}, out = {0, 0, 1};
    assert_false(tg_prices_set(&none));
    assert_true(tg_prices_set(&in));
    assert_true(tg_prices_set(&cached));
    assert_true(tg_prices_set(&out));
}

static void test_worst_case_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        struct tg_prices p;
        size_t prompt_bytes;
        int64_t max_out;
        double usd;
    } cases[] = {
        /* The same prompt estimate as tpm: bytes / 4, rounded down. */
        {"bytes / 4 at input", {4, 1, 0}, 4003, 0, 1000 * 4e-6},
        {"max_tokens at output", {0, 0, 20}, 0, 500, 500 * 20e-6},
        {"1024 default, as the caller passes it", {2.5, 1.25, 10}, 400, 1024,
         100 * 2.5e-6 + 1024 * 10e-6},
        {"never counts the cached price", {10, 0.01, 0}, 40, 0, 10 * 10e-6},
        {"free deployment", {0, 0, 0}, 1 << 20, 100000, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_usd(tg_cost_worst_usd(&cases[i].p, cases[i].prompt_bytes, cases[i].max_out),
                   cases[i].usd, cases[i].what);
}

static void test_ceiling_lowest_wins(void **state)
{
    (void)state;
    static const struct {
        double gateway, key, request, want;
    } cases[] = {
        {0, 0, 0, 0},          {1, 0, 0, 1},          {0, 0.5, 0, 0.5},
        {0, 0, 0.25, 0.25},    {1, 0.5, 0.75, 0.5},   {0.1, 0.5, 0.75, 0.1},
        {1, 0.5, 0.01, 0.01},  {0, 2, 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_usd(tg_cost_ceiling(cases[i].gateway, cases[i].key, cases[i].request),
                   cases[i].want, "ceiling");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_table),
        cmocka_unit_test(test_prices_set),
        cmocka_unit_test(test_worst_case_table),
        cmocka_unit_test(test_ceiling_lowest_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

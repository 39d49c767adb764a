/* Unit tests of route/context.c: whether a deployment's context window,
 * configured or learned, holds a request's estimate, what one
 * context-length error teaches (and what it must not), and the windows
 * providers' error messages state (SPEC section 4). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>

#include "route/context.h"

static void test_fits_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int64_t configured, learned, need;
        bool fits;
    } cases[] = {
        {"nothing known: everything goes", 0, 0, 10000000, true},
        {"configured: exactly the window fits", 8192, 0, 8192, true},
        {"configured: one over does not", 8192, 0, 8193, false},
        {"learned: below it fits", 0, 5000, 4999, true},
        {"learned: that estimate failed, so it does not fit", 0, 5000, 5000, false},
        {"learned: above it does not", 0, 5000, 9000, false},
        {"both: configured is the upper bound", 8192, 100000, 9000, false},
        {"both: a lower learned limit still counts", 8192, 6000, 7000, false},
        {"both: under both fits", 8192, 6000, 5999, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_context_learned l = {cases[i].learned};
        if (tg_context_fits(cases[i].configured, &l, cases[i].need) != cases[i].fits) {
            fprintf(stderr, "%s\n", cases[i].what);
            fail();
        }
    }
}

static void test_learns_smallest_failing_estimate(void **state)
{
    (void)state;
    struct tg_context_learned l = {0};
    assert_true(tg_context_learn(&l, 0, 40000, 0));
    assert_int_equal(l.tokens, 40000);
    assert_false(tg_context_fits(0, &l, 40000)); /* the same request again is skipped */
    assert_false(tg_context_fits(0, &l, 50000));
    assert_true(tg_context_fits(0, &l, 39999)); /* smaller ones still go */
    assert_true(tg_context_learn(&l, 0, 30000, 0));
    assert_int_equal(l.tokens, 30000);
    assert_false(tg_context_learn(&l, 0, 35000, 0)); /* a larger failure teaches nothing new */
    assert_int_equal(l.tokens, 30000);
}

static void test_small_estimates_teach_nothing(void **state)
{
    (void)state;
    /* An image by URL or CJK text: a few hundred estimated tokens that
     * overflowed. The estimate was wrong, not the window. */
    struct tg_context_learned l = {0};
    assert_false(tg_context_learn(&l, 0, 300, 0));
    assert_false(tg_context_learn(&l, 0, TG_CONTEXT_LEARN_FLOOR - 1, 0));
    assert_int_equal(l.tokens, 0);
    assert_true(tg_context_fits(0, &l, 1000));
    assert_true(tg_context_learn(&l, 0, TG_CONTEXT_LEARN_FLOOR, 0));
    assert_int_equal(l.tokens, TG_CONTEXT_LEARN_FLOOR);
}

static void test_configured_window_bounds_learning(void **state)
{
    (void)state;
    /* The operator said 128000: an overflow at 20000 estimated tokens is an
     * undercount, not a window six times smaller. */
    struct tg_context_learned l = {0};
    assert_false(tg_context_learn(&l, 128000, 20000, 0));
    assert_false(tg_context_learn(&l, 128000, 63999, 0));
    assert_int_equal(l.tokens, 0);
    assert_true(tg_context_learn(&l, 128000, 64000, 0));
    assert_int_equal(l.tokens, 64000);
}

static void test_stated_window_is_learned(void **state)
{
    (void)state;
    /* The provider said its window: learned as it is, whatever the
     * estimate (one that undercounts does not shrink it). */
    struct tg_context_learned l = {0};
    assert_true(tg_context_learn(&l, 0, 300, 8192));
    assert_int_equal(l.tokens, 8192);
    assert_true(tg_context_fits(0, &l, 8191));
    assert_false(tg_context_fits(0, &l, 8192));
    assert_true(tg_context_learn(&l, 0, 9000, 4096));
    assert_int_equal(l.tokens, 4096);
    assert_false(tg_context_learn(&l, 0, 5000, 0)); /* above what is known */
    assert_int_equal(l.tokens, 4096);
}

static void test_stated_limit_parsing(void **state)
{
    (void)state;
    static const struct {
        const char *message;
        int64_t tokens;
    } cases[] = {
        {"This model's maximum context length is 128000 tokens. However, your messages resulted "
         "in 131072 tokens. Please reduce the length of the messages.",
         128000},
        {"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
         "(1000 in the messages, 4000 in the completion).",
         4096},
        {"prompt is too long: 210000 tokens > 200000 maximum", 200000},
        {"input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease "
         "input length or `max_tokens` and try again",
         200000},
        {"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
         1048576},
        {"Please reduce the length of the messages.", 0},
        {"prompt is too long", 0},
        {"maximum context length is many tokens", 0},
        {"maximum context length is 99999999999999999999 tokens", 0},
        {"", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = tg_context_stated_limit(cases[i].message);
        if (got != cases[i].tokens) {
            fprintf(stderr, "%s: got %lld\n", cases[i].message ? cases[i].message : "(null)",
                    (long long)got);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_table),
        cmocka_unit_test(test_learns_smallest_failing_estimate),
        cmocka_unit_test(test_small_estimates_teach_nothing),
        cmocka_unit_test(test_configured_window_bounds_learning),
        cmocka_unit_test(test_stated_window_is_learned),
        cmocka_unit_test(test_stated_limit_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the retry budget (route/budget.c, SPEC [retry] budget_ratio and
 * budget_min_per_s) on a fake clock. Tables of rows: (now, operation, count,
 * expected result). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "route/budget.h"

enum op {
    FIRST,    /* n first attempts */
    SPEND_OK, /* n spends, each granted */
    SPEND_NO, /* n spends, each refused */
    CAN,      /* can_spend says yes (and spends nothing) */
    CANNOT,   /* can_spend says no */
};

struct row {
    uint64_t now;
    enum op op;
    int n;
};

static void run_rows(struct tg_budget *b, double ratio, double min_per_s, const struct row *rows,
                     size_t n_rows)
{
    for (size_t i = 0; i < n_rows; i++) {
        const struct row *r = &rows[i];
        int n = r->n ? r->n : 1;
        for (int k = 0; k < n; k++) {
            bool got;
            switch (r->op) {
            case FIRST: tg_budget_first(b, r->now); break;
            case SPEND_OK:
            case SPEND_NO:
                got = tg_budget_spend(b, r->now, ratio, min_per_s);
                if (got != (r->op == SPEND_OK))
                    fail_msg("row %zu (now=%llu): spend #%d of %d was %s", i,
                             (unsigned long long)r->now, k + 1, n, got ? "granted" : "refused");
                break;
            case CAN:
            case CANNOT:
                got = tg_budget_can_spend(b, r->now, ratio, min_per_s);
                if (got != (r->op == CAN))
                    fail_msg("row %zu (now=%llu): can_spend said %s", i, (unsigned long long)r->now,
                             got ? "yes" : "no");
                break;
            }
        }
    }
}

/* Retries up to budget_ratio of the first attempts in the window, no floor. */
static void test_ratio(void **state)
{
    (void)state;
    struct tg_budget b;
    tg_budget_init(&b, 0);
    static const struct row rows[] = {
        {0, CANNOT, 0},                       /* no first attempts, no floor: empty */
        {0, SPEND_NO, 3},    {100, FIRST, 4}, /* 4 x 0.2 = 0.8: not yet one retry */
        {100, CANNOT, 0},    {100, SPEND_NO, 0},  {200, FIRST, 1},  /* 5 x 0.2 = 1 */
        {200, CAN, 3},                                              /* asking does not spend */
        {300, SPEND_OK, 1},  {300, SPEND_NO, 1},  {400, FIRST, 45}, /* 50 x 0.2 = 10, one spent */
        {1500, SPEND_OK, 9}, {1500, CANNOT, 0},   {2500, SPEND_NO, 2},
        {2600, FIRST, 5}, /* 55 x 0.2 = 11 */
        {2600, SPEND_OK, 1}, {2600, SPEND_NO, 1},
    };
    run_rows(&b, 0.2, 0, rows, sizeof(rows) / sizeof(rows[0]));
}

/* Different ratios: floor(ratio * firsts) retries. Rows: (ratio, firsts). */
static void test_ratio_values(void **state)
{
    (void)state;
    static const struct {
        double ratio;
        int firsts;
        int allowed;
    } rows[] = {
        {0.2, 100, 20}, {0.1, 100, 10}, {0.5, 7, 3},  {1.0, 12, 12}, {0.0, 1000, 0},
        {0.25, 4, 1},   {0.2, 1, 0},    {0.3, 10, 3}, {0.1, 30, 3},  {0.7, 10, 7},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_budget b;
        tg_budget_init(&b, 5000);
        for (int k = 0; k < rows[i].firsts; k++)
            tg_budget_first(&b, 5000);
        int granted = 0;
        while (granted <= rows[i].allowed && tg_budget_spend(&b, 5001, rows[i].ratio, 0))
            granted++;
        if (granted != rows[i].allowed)
            fail_msg("ratio %.2f, %d firsts: %d retries granted, expected %d", rows[i].ratio,
                     rows[i].firsts, granted, rows[i].allowed);
    }
}

/* The window slides: first attempts, and the retries they paid for, stop
 * counting 10 s later. The window is kept in one-second slots, so an event
 * is forgotten between 9 and 10 s after it happened: it still counts 9 s
 * later and no longer counts 10 s later. */
static void test_window_slides(void **state)
{
    (void)state;
    struct tg_budget b;
    tg_budget_init(&b, 0);
    static const struct row rows[] = {
        {500, FIRST, 50}, /* second 0: 10 retries' worth */
        {9500, CAN, 0},   /* 9 s later: still counts */
        {9999, CAN, 0},
        {10000, CANNOT, 0}, /* second 10: forgotten */
        {10000, FIRST, 50},
        {15000, SPEND_OK, 10},
        {15000, SPEND_NO, 1},
        {19999, SPEND_NO, 1}, /* 50 firsts, 10 retries */
        {22000, FIRST, 10},   /* the 50 are gone, the 10 retries are not: 10 > 2 */
        {22000, SPEND_NO, 1},
        {24999, SPEND_NO, 1},
        {25000, SPEND_OK, 2}, /* the retries of 15000 forgotten: 10 firsts, 2 retries */
        {25000, SPEND_NO, 1},
        {100000, CANNOT, 0}, /* a long quiet spell: slots of old seconds are not reused */
        {100000, FIRST, 5},
        {100000, SPEND_OK, 1},
        {100000, SPEND_NO, 1},
    };
    run_rows(&b, 0.2, 0, rows, sizeof(rows) / sizeof(rows[0]));
}

/* The floor: budget_min_per_s retries per second are always allowed, with no
 * first attempts at all; it refills over time and does not pile up past one
 * second's worth. */
static void test_floor_refills(void **state)
{
    (void)state;
    struct tg_budget b;
    tg_budget_init(&b, 0);
    static const struct row rows[] = {
        {10000, SPEND_OK, 3}, /* full after a quiet while: 3 */
        {10000, SPEND_NO, 1}, {10000, CANNOT, 0},
        {10332, SPEND_NO, 1},                       /* 0.996 of a token */
        {10334, SPEND_OK, 1},                       /* 1/3 s: one token */
        {10334, SPEND_NO, 1}, {11334, SPEND_OK, 3}, /* a second later: 3 */
        {11334, SPEND_NO, 1}, {20000, CAN, 0},
        {20000, SPEND_OK, 3},                       /* 8.7 s later: still only 3 */
        {20000, SPEND_NO, 1}, {20500, SPEND_OK, 1}, /* 1.5 tokens */
        {20600, SPEND_NO, 1},                       /* 0.8 */
        {20667, SPEND_OK, 1},                       /* 1.001 */
    };
    run_rows(&b, 0.2, 3, rows, sizeof(rows) / sizeof(rows[0]));
}

/* "... but this many per second per deployment are always allowed" (SPEC):
 * also in the first second of a deployment's life (startup, reload), when a
 * first attempt fails at once. */
static void test_floor_from_start(void **state)
{
    (void)state;
    struct tg_budget b;
    tg_budget_init(&b, 1000);
    static const struct row rows[] = {
        {1000, FIRST, 1},
        {1001, CAN, 0},
        {1001, SPEND_OK, 3},
        {1001, SPEND_NO, 1},
    };
    run_rows(&b, 0.2, 3, rows, sizeof(rows) / sizeof(rows[0]));
}

/* Ratio and floor add up: the ratio's share first, then the floor. */
static void test_ratio_plus_floor(void **state)
{
    (void)state;
    struct tg_budget b;
    tg_budget_init(&b, 0);
    static const struct row rows[] = {
        {5000, FIRST, 20},                        /* 4 from the ratio */
        {5000, SPEND_OK, 7},                      /* + 3 from the floor */
        {5000, SPEND_NO, 1}, {5500, SPEND_OK, 1}, /* the floor refilled 1.5 */
        {5500, SPEND_NO, 1}, {6000, FIRST, 10},   /* 30 firsts: 6 from the ratio, 4 spent */
        {6000, SPEND_OK, 4},                      /* 2 + the floor's 2 (0.5 left + 1.5 refilled) */
        {6000, SPEND_NO, 1},
    };
    run_rows(&b, 0.2, 3, rows, sizeof(rows) / sizeof(rows[0]));
}

/* A floor below one per second is a valid config (budget_min_per_s is a
 * float in [0, 1e6]): 0.5 per second is one retry every two seconds. */
static void test_fractional_floor(void **state)
{
    (void)state;
    struct tg_budget b;
    tg_budget_init(&b, 0);
    static const struct row rows[] = {
        {2000, SPEND_OK, 1},  {2000, SPEND_NO, 1},  {3999, SPEND_NO, 1},
        {4000, SPEND_OK, 1},  {60000, SPEND_OK, 1}, /* a long quiet spell: one, not 28 */
        {60000, SPEND_NO, 1},
    };
    run_rows(&b, 0.2, 0.5, rows, sizeof(rows) / sizeof(rows[0]));
    /* One per second, for comparison. */
    tg_budget_init(&b, 0);
    static const struct row rows2[] = {
        {2000, SPEND_OK, 1},
        {2000, SPEND_NO, 1},
        {2999, SPEND_NO, 1},
        {3000, SPEND_OK, 1},
    };
    run_rows(&b, 0.2, 1, rows2, sizeof(rows2) / sizeof(rows2[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio),
        cmocka_unit_test(test_ratio_values),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_floor_refills),
        cmocka_unit_test(test_floor_from_start),
        cmocka_unit_test(test_ratio_plus_floor),
        cmocka_unit_test(test_fractional_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

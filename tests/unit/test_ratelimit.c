/* Unit tests of the sliding one-minute windows and admission
 * (route/ratelimit.c) and of the local limit store (limits/local.c), on a
 * fake clock: the edges of SPEC section 8's rpm/tpm. */
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

#include "limits/store.h"
#include "route/ratelimit.h"

#define T0 1000000000ull /* an arbitrary clock start, ms, on a whole second */

static bool admit1(struct tg_counter *w, uint64_t now, int64_t limit, int64_t cost,
                   uint64_t *retry, struct tg_limit_state *st)
{
    struct tg_limit_check c = {w, limit, cost};
    return tg_limits_admit(&c, 1, now, retry, st);
}

static void test_exactly_at_the_limit(void **state)
{
    (void)state;
    struct tg_counter w = {.period = TG_PERIOD_MINUTE};
    struct tg_limit_state st;
    uint64_t retry;
    for (int i = 0; i < 3; i++) {
        assert_true(admit1(&w, T0 + 100 * (uint64_t)i, 3, 1, &retry, &st));
        assert_int_equal(st.remaining, 2 - i);
        assert_int_equal(retry, 0);
    }
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 300), 3);
    /* the 4th: refused, nothing charged, and told to come back when the
     * second of the first three leaves the window (T0 + 60 s) */
    assert_false(admit1(&w, T0 + 500, 3, 1, &retry, &st));
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 500), 3);
    assert_int_equal(retry, 60000 - 500);
    assert_int_equal(st.remaining, 0);
    assert_int_equal(st.reset_ms, 60000 - 500);
}

static void test_window_slides(void **state)
{
    (void)state;
    struct tg_counter w = {.period = TG_PERIOD_MINUTE};
    uint64_t retry;
    assert_true(admit1(&w, T0, 2, 1, &retry, NULL));          /* second 0 */
    assert_true(admit1(&w, T0 + 30500, 2, 1, &retry, NULL));  /* second 30 */
    assert_false(admit1(&w, T0 + 59999, 2, 1, &retry, NULL)); /* both still count */
    assert_int_equal(retry, 1);
    /* second 0 left at T0 + 60 s: one slot free, and only one */
    assert_true(admit1(&w, T0 + 60000, 2, 1, &retry, NULL));
    assert_false(admit1(&w, T0 + 60001, 2, 1, &retry, NULL));
    assert_int_equal(retry, 90000 - 60001); /* second 30 leaves at 90 s */
    /* a minute of silence empties it; buckets are reused, not summed twice */
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 200000), 0);
    assert_true(admit1(&w, T0 + 200000, 2, 2, &retry, NULL));
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 200000), 2);
}

static void test_retry_after_counts_what_must_expire(void **state)
{
    (void)state;
    struct tg_counter w = {.period = TG_PERIOD_MINUTE};
    uint64_t retry;
    tg_window_add(&w.u.minute, T0, T0, 400);
    tg_window_add(&w.u.minute, T0 + 10000, T0 + 10000, 400);
    tg_window_add(&w.u.minute, T0 + 20000, T0 + 20000, 100);
    /* 900 of 1000 used: 500 more fit once second 0 goes (exactly at the
     * limit), 600 more need second 10 gone too */
    assert_false(admit1(&w, T0 + 30000, 1000, 500, &retry, NULL));
    assert_int_equal(retry, 60000 - 30000);
    assert_false(admit1(&w, T0 + 30000, 1000, 600, &retry, NULL));
    assert_int_equal(retry, 70000 - 30000);
    /* 100 fit now */
    assert_true(admit1(&w, T0 + 30000, 1000, 100, &retry, NULL));
    /* a request larger than the whole limit fits once the window is empty */
    assert_false(admit1(&w, T0 + 30000, 1000, 5000, &retry, NULL));
    assert_int_equal(retry, 90000 - 30000); /* when second 30 leaves */
    assert_false(admit1(&w, T0 + 89999, 1000, 5000, &retry, NULL));
    assert_true(admit1(&w, T0 + 90000, 1000, 5000, &retry, NULL));
}

static void test_settlement_returns_and_adds(void **state)
{
    (void)state;
    struct tg_counter w = {.period = TG_PERIOD_MINUTE};
    uint64_t retry;
    assert_true(admit1(&w, T0 + 500, 1000, 800, &retry, NULL));
    assert_false(admit1(&w, T0 + 600, 1000, 300, &retry, NULL));
    /* the first used 100 of its 800: 700 come back to its own second */
    tg_window_add(&w.u.minute, T0 + 500, T0 + 2000, -700);
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 2000), 100);
    assert_true(admit1(&w, T0 + 2000, 1000, 300, &retry, NULL));
    /* and they leave with that second, not later */
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 60000), 300);
    /* a return whose second has left the window is dropped... */
    tg_window_add(&w.u.minute, T0 + 500, T0 + 61000, -50);
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 61000), 300);
    /* ...but more usage than estimated is still counted, now */
    tg_window_add(&w.u.minute, T0 + 500, T0 + 61000, 50);
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 61000), 350);
    assert_int_equal(tg_window_used(&w.u.minute, T0 + 121000), 0);
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    struct tg_counter rpm = {.period = TG_PERIOD_MINUTE}, tpm = {.period = TG_PERIOD_MINUTE};
    struct tg_limit_check c[2] = {{&rpm, 10, 1}, {&tpm, 100, 80}};
    struct tg_limit_state st[2];
    uint64_t retry;
    assert_true(tg_limits_admit(c, 2, T0, &retry, st));
    assert_int_equal(st[0].remaining, 9);
    assert_int_equal(st[1].remaining, 20);
    /* tpm refuses: rpm is not charged either */
    assert_false(tg_limits_admit(c, 2, T0 + 1000, &retry, st));
    assert_int_equal(tg_window_used(&rpm.u.minute, T0 + 1000), 1);
    assert_int_equal(retry, 59000);
}

static void test_estimate(void **state)
{
    (void)state;
    assert_int_equal(tg_limits_estimate_tokens(400, 16, 1024), 116);
    assert_int_equal(tg_limits_estimate_tokens(403, -1, 1024), 1124);
    assert_int_equal(tg_limits_estimate_tokens(0, 0, 1024), 0);
}

/* ---- clock hours ------------------------------------------------------ */

#define HOUR 3600000ull
/* 2026-12-06T07:00:00Z, on a whole UTC hour */
#define H0 (1796540400ull * 1000)

static void test_hour_window_counts_the_clock_hour(void **state)
{
    (void)state;
    struct tg_counter c = {.period = TG_PERIOD_HOUR};
    struct tg_limit_state st;
    uint64_t retry;
    struct tg_limit_check chk = {&c, 100, 60};
    assert_true(tg_limits_admit(&chk, 1, H0 + 10, &retry, &st));
    assert_int_equal(st.remaining, 40);
    assert_int_equal(st.reset_ms, HOUR - 10); /* to the end of the hour */
    /* 60 + 60 > 100: refused until the hour ends, whatever the minute */
    assert_false(tg_limits_admit(&chk, 1, H0 + 30 * 60000, &retry, &st));
    assert_int_equal(retry, HOUR - 30 * 60000);
    assert_int_equal(tg_counter_used(&c, H0 + 30 * 60000), 60);
    assert_false(tg_limits_admit(&chk, 1, H0 + HOUR - 1, &retry, NULL));
    assert_int_equal(retry, 1);
    /* the next hour starts from nothing */
    assert_int_equal(tg_counter_used(&c, H0 + HOUR), 0);
    assert_true(tg_limits_admit(&chk, 1, H0 + HOUR, &retry, &st));
    assert_int_equal(st.remaining, 40);
    /* exactly at the limit fits; one more does not */
    chk.cost = 40;
    assert_true(tg_limits_admit(&chk, 1, H0 + HOUR + 5, &retry, NULL));
    chk.cost = 1;
    assert_false(tg_limits_admit(&chk, 1, H0 + HOUR + 5, &retry, NULL));
}

static void test_hour_need_above_the_limit_never_fits(void **state)
{
    (void)state;
    /* unlike a minute window, an empty hour does not let it through: it
     * would overshoot the cap by more than the cap */
    struct tg_counter c = {.period = TG_PERIOD_HOUR};
    uint64_t retry;
    struct tg_limit_check chk = {&c, 100, 101};
    assert_false(tg_limits_admit(&chk, 1, H0, &retry, NULL));
    assert_int_equal(retry, HOUR);
    assert_false(tg_limits_admit(&chk, 1, H0 + 5 * HOUR + 7, &retry, NULL));
    assert_int_equal(tg_counter_used(&c, H0 + 5 * HOUR + 7), 0);
}

static void test_hour_settle_after_the_hour_changed(void **state)
{
    (void)state;
    struct tg_counter c = {.period = TG_PERIOD_HOUR};
    uint64_t at = H0 + HOUR - 2000; /* admitted two seconds before the hour ends */
    tg_counter_add(&c, at, at, 500);
    /* settled within the hour: the return goes back to it */
    tg_counter_add(&c, at, at + 1000, -100);
    assert_int_equal(tg_counter_used(&c, at + 1000), 400);
    /* settled in the next hour: a return to an hour that is over is dropped
     * (the new hour owes nothing back)... */
    tg_counter_add(&c, at, H0 + HOUR + 1000, -300);
    assert_int_equal(tg_counter_used(&c, H0 + HOUR + 1000), 0);
    /* ...and more than was reserved is counted in the hour it is known in */
    tg_counter_add(&c, at, H0 + HOUR + 2000, 70);
    assert_int_equal(tg_counter_used(&c, H0 + HOUR + 2000), 70);
    /* a negative count never shows */
    tg_counter_add(&c, H0 + HOUR + 3000, H0 + HOUR + 3000, -500);
    assert_int_equal(tg_counter_used(&c, H0 + HOUR + 3000), 0);
}

static void test_minute_and_hour_in_one_admission(void **state)
{
    (void)state;
    struct tg_counter rpm = {.period = TG_PERIOD_MINUTE}, spend = {.period = TG_PERIOD_HOUR};
    struct tg_limit_check c[2] = {{&rpm, 10, 1}, {&spend, 1000, 600}};
    uint64_t retry;
    assert_true(tg_limits_admit(c, 2, H0 + 1000, &retry, NULL));
    /* the hour refuses: rpm is not charged, and the wait is the hour's */
    assert_false(tg_limits_admit(c, 2, H0 + 2000, &retry, NULL));
    assert_int_equal(tg_counter_used(&rpm, H0 + 2000), 1);
    assert_int_equal(retry, HOUR - 2000);
}

/* ---- the local store -------------------------------------------------- */

struct answer {
    int calls;
    struct tg_admission got;
};

static void on_answer(void *ctx, const struct tg_admission *res)
{
    struct answer *a = ctx;
    a->calls++;
    a->got = *res;
}

static struct answer admit_store(struct tg_limit_store *s, const char *name, int64_t limit,
                                 int64_t cost, uint64_t now)
{
    struct answer a = {0};
    struct tg_limit_want want = {name, TG_PERIOD_MINUTE, limit, cost, 0};
    tg_limit_admit(s, &want, 1, now, on_answer, &a);
    assert_int_equal(a.calls, 1); /* the local store answers before returning */
    return a;
}

static void test_local_store(void **state)
{
    (void)state;
    struct tg_limit_store *s = tg_limit_store_local_new();
    assert_true(admit_store(s, "rpm:a", 2, 1, T0).got.admitted);
    assert_true(admit_store(s, "rpm:a", 2, 1, T0).got.admitted);
    struct answer a = admit_store(s, "rpm:a", 2, 1, T0 + 10);
    assert_false(a.got.admitted);
    assert_int_equal(a.got.retry_after_ms, 59990);
    /* another name is another counter */
    assert_true(admit_store(s, "rpm:b", 2, 1, T0).got.admitted);
    assert_int_equal(tg_limit_peek(s, "rpm:a", TG_PERIOD_MINUTE, T0), 2);
    assert_int_equal(tg_limit_peek(s, "rpm:never", TG_PERIOD_MINUTE, T0), 0);
    /* settle by the admission's clock */
    a = admit_store(s, "tpm:a", 1000, 900, T0 + 5000);
    assert_int_equal(a.got.at_ms, T0 + 5000);
    tg_limit_settle(s, "tpm:a", TG_PERIOD_MINUTE, &a.got, 900, T0 + 7000, -850);
    assert_int_equal(tg_limit_peek(s, "tpm:a", TG_PERIOD_MINUTE, T0 + 7000), 50);
    /* a reload changing the limit: the counts stay, the new limit applies */
    assert_false(admit_store(s, "rpm:a", 2, 1, T0 + 20).got.admitted);
    assert_true(admit_store(s, "rpm:a", 3, 1, T0 + 20).got.admitted);
    assert_false(admit_store(s, "rpm:a", 1, 1, T0 + 30).got.admitted);
    /* the same name over an hour is another counter */
    struct tg_limit_want hw = {"rpm:a", TG_PERIOD_HOUR, 5, 4, 60000};
    struct answer h = {0};
    tg_limit_admit(s, &hw, 1, T0 + 30, on_answer, &h);
    assert_true(h.got.admitted);
    assert_int_equal(tg_limit_peek(s, "rpm:a", TG_PERIOD_HOUR, T0 + 30), 4);
    assert_int_equal(tg_limit_peek(s, "rpm:a", TG_PERIOD_MINUTE, T0 + 30), 3);
    /* many names: the table grows and drops the idle ones, counts intact */
    char name[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "rpm:k%d", i);
        assert_true(admit_store(s, name, 1, 1, T0 + (uint64_t)i * 1000).got.admitted);
    }
    assert_int_equal(tg_limit_peek(s, "rpm:k499", TG_PERIOD_MINUTE, T0 + 499000), 1);
    assert_int_equal(tg_limit_peek(s, "rpm:k450", TG_PERIOD_MINUTE, T0 + 499000), 1);
    assert_int_equal(tg_limit_peek(s, "rpm:k0", TG_PERIOD_MINUTE, T0 + 499000), 0);
    tg_limit_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_at_the_limit),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_retry_after_counts_what_must_expire),
        cmocka_unit_test(test_settlement_returns_and_adds),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_hour_window_counts_the_clock_hour),
        cmocka_unit_test(test_hour_need_above_the_limit_never_fits),
        cmocka_unit_test(test_hour_settle_after_the_hour_changed),
        cmocka_unit_test(test_minute_and_hour_in_one_admission),
        cmocka_unit_test(test_local_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of spend caps' reservations (route/spend.c) through the local
 * limit store's hour counters, on a fake wall clock: money in nano-USD, the
 * reservation and what a request finally costs, the race for the last of a
 * cap, the overshoot bound of route/spend.h, settlement across the hour. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>

#include "limits/store.h"
#include "route/cost.h"
#include "route/spend.h"

#define HOUR 3600000ull
/* 2026-12-06T07:00:00Z, on a whole UTC hour */
#define H0 (1796540400ull * 1000)
#define USD(x) ((int64_t)((x) * 1e9))

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

/* One request's admission under a key's cap and the gateway's, both
 * charged `reserved`, as req/admission.c asks it. */
static struct tg_admission reserve(struct tg_limit_store *s, int64_t key_cap, int64_t gw_cap,
                                   int64_t reserved, uint64_t now)
{
    struct tg_limit_want wants[2] = {
        {"spend:team-a", TG_PERIOD_HOUR, key_cap, reserved, 60000},
        {TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, gw_cap, reserved, 60000}};
    struct answer a = {0};
    tg_limit_admit(s, wants, 2, now, on_answer, &a);
    assert_int_equal(a.calls, 1);
    return a.got;
}

/* Its settlement once it cost `cost`. */
static void settle(struct tg_limit_store *s, const struct tg_admission *adm, int64_t reserved,
                   int64_t cost, uint64_t now)
{
    tg_limit_settle(s, "spend:team-a", TG_PERIOD_HOUR, adm, reserved, now, cost - reserved);
    tg_limit_settle(s, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, adm, reserved, now,
                    cost - reserved);
}

static int64_t used(struct tg_limit_store *s, uint64_t now)
{
    return tg_limit_peek(s, "spend:team-a", TG_PERIOD_HOUR, now);
}

static void test_money(void **state)
{
    (void)state;
    assert_int_equal(tg_spend_nano(0.1), 100000000);
    assert_int_equal(tg_spend_nano(2.5), 2500000000ll);
    assert_int_equal(tg_spend_nano(1e-9), 1);
    assert_int_equal(tg_spend_nano(1.5e-9), 2); /* rounded up: a reservation never falls short */
    assert_int_equal(tg_spend_nano(0), 0);
    assert_int_equal(tg_spend_nano(-3), 0);
    assert_int_equal(tg_spend_nano(NAN), 0);
    assert_int_equal(tg_spend_nano(1e300), TG_SPEND_MAX_NANO);
    assert_true(tg_spend_usd(USD(0.25)) == 0.25);
    /* the worst case of a request, from route/cost.c, as a reservation:
     * 4000 bytes / 4 = 1000 prompt tokens at $5, 1000 out at $15 */
    struct tg_prices p = {5.0, 2.5, 15.0};
    assert_int_equal(tg_spend_reservation(tg_cost_worst_usd(&p, 4000, 1000)), USD(0.02));
    /* nothing to pay still reserves 1 nano-USD */
    assert_int_equal(tg_spend_reservation(0), 1);
}

static void test_final_cost(void **state)
{
    (void)state;
    int64_t r = USD(0.02);
    /* usage reported: the actual cost, whatever the outcome */
    assert_int_equal(tg_spend_final(r, true, 0.003, true), USD(0.003));
    assert_int_equal(tg_spend_final(r, true, 0.003, false), USD(0.003));
    /* answered and paid for, no usage: the reservation stays spent */
    assert_int_equal(tg_spend_final(r, false, 0, true), r);
    /* failed, refused, cached or free: nothing */
    assert_int_equal(tg_spend_final(r, false, 0, false), 0);
    /* under no cap there was no reservation to keep */
    assert_int_equal(tg_spend_final(0, false, 0, true), 0);
}

/* Two requests race for the last of a cap: the first reservation takes it,
 * the second is refused until the first settles and gives back what it did
 * not use. */
static void test_race_for_the_last_of_a_cap(void **state)
{
    (void)state;
    struct tg_limit_store *s = tg_limit_store_local_new();
    int64_t cap = USD(0.05), r = USD(0.02);
    uint64_t t = H0 + 600000;
    struct tg_admission first = reserve(s, cap, USD(100), r, t);
    assert_true(first.admitted);
    struct tg_admission second = reserve(s, cap, USD(100), r, t);
    assert_true(second.admitted);
    assert_int_equal(used(s, t), USD(0.04));
    /* 0.01 is left: a third, in flight with the two, is refused */
    struct tg_admission third = reserve(s, cap, USD(100), r, t + 1);
    assert_false(third.admitted);
    assert_int_equal(third.retry_after_ms, HOUR - 600001); /* the end of the hour */
    assert_int_equal(third.state[0].remaining, USD(0.01));
    assert_int_equal(used(s, t + 1), USD(0.04)); /* nothing charged */
    /* the gateway's counter was not charged either (all or nothing) */
    assert_int_equal(tg_limit_peek(s, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, t + 1), USD(0.04));
    /* the first cost 0.001: the rest of its reservation comes back, and
     * the third now fits */
    settle(s, &first, r, USD(0.001), t + 2000);
    assert_int_equal(used(s, t + 2000), USD(0.021));
    assert_true(reserve(s, cap, USD(100), r, t + 3000).admitted);
    tg_limit_store_free(s);
}

/* The guarantee of route/spend.h: requests within their worst case never
 * take the counter past the cap, however they interleave; one that spends
 * beyond its reservation passes it by less than its own actual cost, and
 * then nothing more is admitted this hour. */
static void test_overshoot_bound(void **state)
{
    (void)state;
    struct tg_limit_store *s = tg_limit_store_local_new();
    int64_t cap = USD(5.0);
    uint64_t t = H0;
    struct {
        struct tg_admission adm;
        int64_t reserved;
        bool live;
    } fl[16] = {{{0}, 0, false}};
    uint32_t rng = 12345;
    int admitted = 0, refused = 0;
    for (int step = 0; step < 4000; step++) {
        rng = rng * 1103515245u + 12345u;
        size_t i = (rng >> 8) % 16;
        t += 7;
        if (!fl[i].live) {
            fl[i].reserved = USD(0.05) + (int64_t)((rng >> 4) % 200) * USD(0.001);
            fl[i].adm = reserve(s, cap, USD(1000), fl[i].reserved, t);
            fl[i].live = fl[i].adm.admitted;
            if (fl[i].live)
                admitted++;
            else
                refused++;
        } else {
            /* it cost from nothing to its whole worst case, mostly far less */
            int64_t pct = (rng >> 12) % 50 == 0 ? 100 : (int64_t)((rng >> 16) % 6);
            int64_t cost = fl[i].reserved * pct / 100;
            settle(s, &fl[i].adm, fl[i].reserved, cost, t);
            fl[i].live = false;
        }
        assert_true(used(s, t) <= cap);
    }
    assert_true(admitted > 100 && refused > 100); /* the race was real */
    /* Now two in flight take the cap exactly; the first spends twice its
     * reservation (a validation retry that also reported usage). */
    for (size_t i = 0; i < 16; i++)
        if (fl[i].live)
            settle(s, &fl[i].adm, fl[i].reserved, 0, t);
    int64_t base = used(s, t);
    int64_t half = (cap - base) / 2;
    struct tg_admission a = reserve(s, cap, USD(1000), half, t);
    struct tg_admission b = reserve(s, cap, USD(1000), cap - base - half, t);
    assert_true(a.admitted && b.admitted);
    assert_false(reserve(s, cap, USD(1000), 1, t).admitted);
    int64_t actual_a = 2 * half;
    settle(s, &a, half, actual_a, t + 100);
    settle(s, &b, cap - base - half, cap - base - half, t + 200);
    int64_t over = used(s, t + 200) - cap;
    assert_true(over > 0);
    assert_true(over < actual_a); /* less than one request's actual cost */
    /* and the reached cap refuses even a request that costs nothing */
    assert_false(reserve(s, cap, USD(1000), tg_spend_reservation(0), t + 300).admitted);
    tg_limit_store_free(s);
}

/* A reservation made at 59:59 and settled after the hour: the new hour
 * starts from nothing and owes nothing back; a cost beyond the reservation
 * is counted where it became known. */
static void test_hour_rollover(void **state)
{
    (void)state;
    struct tg_limit_store *s = tg_limit_store_local_new();
    int64_t cap = USD(0.05), r = USD(0.04);
    uint64_t late = H0 + HOUR - 1000;
    struct tg_admission a = reserve(s, cap, USD(100), r, late);
    assert_true(a.admitted);
    assert_false(reserve(s, cap, USD(100), r, late + 500).admitted);
    /* the hour turns: the reservation no longer counts */
    assert_int_equal(used(s, H0 + HOUR), 0);
    struct tg_admission b = reserve(s, cap, USD(100), r, H0 + HOUR + 10);
    assert_true(b.admitted);
    /* a settles now, cheaper than reserved: nothing comes off the new hour */
    settle(s, &a, r, USD(0.001), H0 + HOUR + 20);
    assert_int_equal(used(s, H0 + HOUR + 20), r);
    /* b settles dearer than reserved (its usage beat the estimate): the
     * excess counts in the hour it is in */
    settle(s, &b, r, USD(0.045), H0 + HOUR + 30);
    assert_int_equal(used(s, H0 + HOUR + 30), USD(0.045));
    /* a request admitted in one hour and dearer than reserved, settled in
     * the next: the excess counts in the new hour */
    struct tg_admission c = reserve(s, cap, USD(100), USD(0.004), H0 + 2 * HOUR - 5);
    assert_true(c.admitted);
    settle(s, &c, USD(0.004), USD(0.006), H0 + 2 * HOUR + 5);
    assert_int_equal(used(s, H0 + 2 * HOUR + 5), USD(0.002));
    tg_limit_store_free(s);
}

/* The gateway's cap refuses: the key's counter is not charged. */
static void test_gateway_cap_all_or_nothing(void **state)
{
    (void)state;
    struct tg_limit_store *s = tg_limit_store_local_new();
    uint64_t t = H0 + 5;
    assert_true(reserve(s, USD(1), USD(0.03), USD(0.02), t).admitted);
    struct tg_admission refused = reserve(s, USD(1), USD(0.03), USD(0.02), t);
    assert_false(refused.admitted);
    assert_int_equal(refused.state[0].remaining, USD(0.98)); /* the key had room */
    assert_int_equal(refused.state[1].remaining, USD(0.01)); /* the gateway did not */
    assert_int_equal(used(s, t), USD(0.02));
    tg_limit_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_final_cost),
        cmocka_unit_test(test_race_for_the_last_of_a_cap),
        cmocka_unit_test(test_overshoot_bound),
        cmocka_unit_test(test_hour_rollover),
        cmocka_unit_test(test_gateway_cap_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

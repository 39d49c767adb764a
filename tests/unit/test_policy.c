/* Unit tests of the retry / move-on / pass-through decision (route/policy.c,
 * SPEC section 4) as tables of (class, tries, Retry-After, now, deadline,
 * budget, fallbacks) -> (decision, wait, cooldown, quarantine,
 * budget_blocked), on a fake clock. Backoff is "none" in the tables so
 * waits are exact; a randomized test checks the invariants with full jitter. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <string.h>

#include "route/backoff.h"
#include "route/policy.h"

#define RETRY TG_DECIDE_RETRY
#define MOVE TG_DECIDE_MOVE_ON
#define PASS TG_DECIDE_PASS_THROUGH
#define CTXFB TG_DECIDE_CONTEXT_FALLBACK
#define POLFB TG_DECIDE_POLICY_FALLBACK

static struct tg_retry_cfg retry_cfg(void)
{
    struct tg_retry_cfg c;
    memset(&c, 0, sizeof(c));
    c.max_attempts = 3;
    c.backoff_base_ms = 250;
    c.backoff_max_ms = 8000;
    c.jitter = TG_JITTER_NONE;
    c.respect_retry_after = true;
    c.max_retry_after_ms = 10000;
    c.budget_ratio = 0.2;
    c.budget_min_per_s = 3;
    return c;
}

struct row {
    enum tg_class cls;
    int tries;
    int64_t retry_after;
    uint64_t now, deadline;
    bool budget_ok;
    bool ctx_fb, pol_fb;
    /* expected */
    enum tg_decision decision;
    uint64_t wait;
    uint64_t cooldown;
    bool quarantine;
    bool budget_blocked;
    const char *what;
};

static void run_rows(const struct tg_retry_cfg *cfg, const struct row *rows, size_t n)
{
    struct tg_rand rnd;
    tg_rand_seed(&rnd, 1);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        struct tg_decision_in in = {
            .cls = r->cls,
            .tries_on_dep = r->tries,
            .retry_after_ms = r->retry_after,
            .now_ms = r->now,
            .deadline_ms = r->deadline,
            .retry = cfg,
            .budget_ok = r->budget_ok,
            .has_context_fallbacks = r->ctx_fb,
            .has_policy_fallbacks = r->pol_fb,
        };
        struct tg_decision_out out;
        memset(&out, 0xa5, sizeof(out)); /* every field must be set */
        tg_policy_decide(&in, &rnd, &out);
        bool ok = out.decision == r->decision && out.quarantine == r->quarantine &&
                  out.budget_blocked == r->budget_blocked && out.cooldown_ms == r->cooldown &&
                  (r->decision != RETRY || out.wait_ms == r->wait);
        if (!ok) {
            print_error("row %zu (%s, %s, tries %d): got %s wait=%llu cooldown=%llu "
                        "quarantine=%d budget_blocked=%d; expected %s wait=%llu cooldown=%llu "
                        "quarantine=%d budget_blocked=%d\n",
                        i, r->what, tg_class_name(r->cls), r->tries, tg_decision_name(out.decision),
                        (unsigned long long)out.wait_ms, (unsigned long long)out.cooldown_ms,
                        out.quarantine, out.budget_blocked, tg_decision_name(r->decision),
                        (unsigned long long)r->wait, (unsigned long long)r->cooldown, r->quarantine,
                        r->budget_blocked);
            bad++;
        }
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define RUN(cfg, rows) run_rows(cfg, rows, sizeof(rows) / sizeof(rows[0]))
#define T 1000      /* now */
#define FAR 1000000 /* a deadline far away */

/* transport and server: retry with backoff within max_attempts. */
static void test_retry_with_backoff(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    static const struct row rows[] = {
        {TG_CLASS_TRANSPORT, 1, -1, T, FAR, true, false, false, RETRY, 250, 0, false, false,
         "first retry: base"},
        {TG_CLASS_TRANSPORT, 2, -1, T, FAR, true, false, false, RETRY, 500, 0, false, false,
         "second: doubled"},
        {TG_CLASS_TRANSPORT, 3, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "max_attempts reached"},
        {TG_CLASS_TRANSPORT, 7, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "beyond max_attempts"},
        {TG_CLASS_SERVER, 1, -1, T, FAR, true, false, false, RETRY, 250, 0, false, false,
         "server: base"},
        {TG_CLASS_SERVER, 2, -1, T, FAR, true, false, false, RETRY, 500, 0, false, false,
         "server: doubled"},
        {TG_CLASS_SERVER, 3, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "server: max_attempts"},
        {TG_CLASS_SERVER, 1, 5000, T, FAR, true, false, false, RETRY, 250, 0, false, false,
         "a 503's Retry-After is not a rate limit's"},
        {TG_CLASS_SERVER, 1, -1, T, FAR, true, true, true, RETRY, 250, 0, false, false,
         "fallbacks do not matter"},
    };
    RUN(&cfg, rows);

    cfg.max_attempts = 6;
    static const struct row rows6[] = {
        {TG_CLASS_SERVER, 4, -1, T, FAR, true, false, false, RETRY, 2000, 0, false, false,
         "max_attempts 6, 4th retry"},
        {TG_CLASS_SERVER, 5, -1, T, FAR, true, false, false, RETRY, 4000, 0, false, false, "5th"},
        {TG_CLASS_SERVER, 6, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false, "6th"},
    };
    RUN(&cfg, rows6);

    cfg.max_attempts = 1;
    static const struct row rows1[] = {
        {TG_CLASS_TRANSPORT, 1, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "max_attempts 1: no retry"},
    };
    RUN(&cfg, rows1);
}

/* timeout and invalid: retried once on the same deployment, then move on. */
static void test_timeout_and_invalid_once(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    cfg.max_attempts = 5;
    static const struct row rows[] = {
        {TG_CLASS_TIMEOUT, 1, -1, T, FAR, true, false, false, RETRY, 250, 0, false, false,
         "timeout: once"},
        {TG_CLASS_TIMEOUT, 2, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "timeout: then move on, whatever max_attempts"},
        {TG_CLASS_INVALID, 1, -1, T, FAR, true, false, false, RETRY, 250, 0, false, false,
         "invalid: once"},
        {TG_CLASS_INVALID, 2, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "invalid: then move on"},
        {TG_CLASS_TIMEOUT, 1, -1, T, FAR, false, false, false, MOVE, 0, 0, false, true,
         "timeout: budget empty"},
        {TG_CLASS_INVALID, 1, -1, T, T + 250, true, false, false, MOVE, 0, 0, false, false,
         "invalid: the wait reaches the deadline"},
    };
    RUN(&cfg, rows);
    cfg.max_attempts = 1;
    static const struct row rows1[] = {
        {TG_CLASS_TIMEOUT, 1, -1, T, FAR, true, false, false, MOVE, 0, 0, false, false,
         "max_attempts 1 wins"},
    };
    RUN(&cfg, rows1);
}

/* rate_limited: wait Retry-After when it fits max_retry_after_ms and the
 * deadline, else move on; either way the deployment gets a cooldown. */
static void test_rate_limited(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    static const struct row rows[] = {
        {TG_CLASS_RATE_LIMITED, 1, 2000, T, FAR, true, false, false, RETRY, 2000, 2000, false,
         false, "Retry-After 2 s"},
        {TG_CLASS_RATE_LIMITED, 1, 0, T, FAR, true, false, false, RETRY, 0, 0, false, false,
         "Retry-After 0"},
        {TG_CLASS_RATE_LIMITED, 1, -1, T, FAR, true, false, false, RETRY, 250, 250, false, false,
         "no Retry-After: backoff"},
        {TG_CLASS_RATE_LIMITED, 2, -1, T, FAR, true, false, false, RETRY, 500, 500, false, false,
         "no Retry-After, second retry"},
        {TG_CLASS_RATE_LIMITED, 1, 10000, T, FAR, true, false, false, RETRY, 10000, 10000, false,
         false, "exactly max_retry_after_ms fits"},
        {TG_CLASS_RATE_LIMITED, 1, 10001, T, FAR, true, false, false, MOVE, 0, 10001, false, false,
         "longer than max_retry_after_ms: move on, cooldown"},
        {TG_CLASS_RATE_LIMITED, 1, 3600000, T, FAR, true, false, false, MOVE, 0, 3600000, false,
         false, "an hour"},
        {TG_CLASS_RATE_LIMITED, 1, 5000, T, T + 5000, true, false, false, MOVE, 0, 5000, false,
         false, "ends at the deadline: move on"},
        {TG_CLASS_RATE_LIMITED, 1, 5000, T, T + 5001, true, false, false, RETRY, 5000, 5000, false,
         false, "ends just before the deadline"},
        {TG_CLASS_RATE_LIMITED, 3, 1000, T, FAR, true, false, false, MOVE, 0, 1000, false, false,
         "max_attempts: move on, cooldown still"},
        {TG_CLASS_RATE_LIMITED, 1, 1000, T, FAR, false, false, false, MOVE, 0, 1000, false, true,
         "budget empty"},
    };
    RUN(&cfg, rows);

    cfg.respect_retry_after = false;
    static const struct row rows_ignore[] = {
        {TG_CLASS_RATE_LIMITED, 1, 2000, T, FAR, true, false, false, RETRY, 250, 250, false, false,
         "respect_retry_after = false: backoff"},
        {TG_CLASS_RATE_LIMITED, 1, 60000, T, FAR, true, false, false, RETRY, 250, 250, false, false,
         "... even a long one"},
    };
    RUN(&cfg, rows_ignore);
}

/* quota and auth: no retry, quarantine, move on. */
static void test_quota_and_auth(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    static const struct row rows[] = {
        {TG_CLASS_QUOTA, 1, -1, T, FAR, true, false, false, MOVE, 0, 0, true, false, "quota"},
        {TG_CLASS_QUOTA, 1, 2000, T, FAR, true, true, true, MOVE, 0, 0, true, false,
         "quota with Retry-After"},
        {TG_CLASS_AUTH, 1, -1, T, FAR, true, false, false, MOVE, 0, 0, true, false, "auth"},
        {TG_CLASS_AUTH, 2, -1, T, FAR, false, false, false, MOVE, 0, 0, true, false,
         "auth, budget empty: not budget_blocked, no retry was due"},
    };
    RUN(&cfg, rows);
}

/* context_overflow and content_policy: their fallbacks, or pass the error
 * through; client_error: pass through at once. */
static void test_fallbacks_and_pass_through(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    static const struct row rows[] = {
        {TG_CLASS_CONTEXT_OVERFLOW, 1, -1, T, FAR, true, true, false, CTXFB, 0, 0, false, false,
         "context: fallbacks"},
        {TG_CLASS_CONTEXT_OVERFLOW, 1, -1, T, FAR, true, false, false, PASS, 0, 0, false, false,
         "context: none"},
        {TG_CLASS_CONTEXT_OVERFLOW, 1, -1, T, FAR, true, false, true, PASS, 0, 0, false, false,
         "context: policy fallbacks are not for it"},
        {TG_CLASS_CONTENT_POLICY, 1, -1, T, FAR, true, false, true, POLFB, 0, 0, false, false,
         "content: fallbacks"},
        {TG_CLASS_CONTENT_POLICY, 1, -1, T, FAR, true, false, false, PASS, 0, 0, false, false,
         "content: none"},
        {TG_CLASS_CONTENT_POLICY, 1, -1, T, FAR, true, true, false, PASS, 0, 0, false, false,
         "content: context fallbacks are not for it"},
        {TG_CLASS_CLIENT_ERROR, 1, -1, T, FAR, true, true, true, PASS, 0, 0, false, false,
         "client error"},
        {TG_CLASS_CLIENT_ERROR, 1, 1000, T, FAR, false, false, false, PASS, 0, 0, false, false,
         "client error, no budget"},
        {TG_CLASS_CONTEXT_OVERFLOW, 1, -1, T, T, false, true, false, CTXFB, 0, 0, false, false,
         "at the deadline: the decision is still the fallback"},
    };
    RUN(&cfg, rows);
}

/* The budget: a retry that was due but the budget is empty moves on with
 * budget_blocked; when no retry was due, budget_blocked stays false. */
static void test_budget_blocked(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    static const struct row rows[] = {
        {TG_CLASS_SERVER, 1, -1, T, FAR, false, false, false, MOVE, 0, 0, false, true,
         "due, empty"},
        {TG_CLASS_TRANSPORT, 2, -1, T, FAR, false, false, false, MOVE, 0, 0, false, true,
         "due, empty"},
        {TG_CLASS_SERVER, 3, -1, T, FAR, false, false, false, MOVE, 0, 0, false, false,
         "not due: attempts used up"},
        {TG_CLASS_SERVER, 1, -1, T, T + 100, false, false, false, MOVE, 0, 0, false, false,
         "not due: no time"},
    };
    RUN(&cfg, rows);
}

/* Nothing waits past the deadline: a retry is decided only when its wait
 * ends before it. */
static void test_deadline(void **state)
{
    (void)state;
    struct tg_retry_cfg cfg = retry_cfg();
    static const struct row rows[] = {
        {TG_CLASS_SERVER, 1, -1, T, T + 250, true, false, false, MOVE, 0, 0, false, false,
         "wait ends at the deadline"},
        {TG_CLASS_SERVER, 1, -1, T, T + 251, true, false, false, RETRY, 250, 0, false, false,
         "1 ms left after the wait"},
        {TG_CLASS_SERVER, 1, -1, T, T, true, false, false, MOVE, 0, 0, false, false,
         "at the deadline"},
        {TG_CLASS_SERVER, 1, -1, T + 10, T, true, false, false, MOVE, 0, 0, false, false,
         "past the deadline"},
        {TG_CLASS_TRANSPORT, 2, -1, T, T + 400, true, false, false, MOVE, 0, 0, false, false,
         "500 ms backoff, 400 ms left"},
        {TG_CLASS_RATE_LIMITED, 1, 0, T, T, true, false, false, MOVE, 0, 0, false, false,
         "Retry-After 0 at the deadline"},
    };
    RUN(&cfg, rows);
}

/* Randomized: with full jitter and any inputs, the invariants hold. */
static void test_invariants_random(void **state)
{
    (void)state;
    struct tg_rand rnd, pol;
    tg_rand_seed(&rnd, 99);
    tg_rand_seed(&pol, 100);
    static const enum tg_jitter jitters[] = {TG_JITTER_FULL, TG_JITTER_EQUAL, TG_JITTER_NONE};
    int retries = 0;
    for (int i = 0; i < 200000; i++) {
        struct tg_retry_cfg cfg = retry_cfg();
        cfg.jitter = jitters[i % 3];
        cfg.max_attempts = 1 + (int64_t)tg_rand_below(&rnd, 6);
        cfg.max_retry_after_ms = (int64_t)tg_rand_below(&rnd, 20000);
        cfg.respect_retry_after = tg_rand_below(&rnd, 4) != 0;
        struct tg_decision_in in = {
            .cls = (enum tg_class)tg_rand_below(&rnd, TG_CLASS__COUNT),
            .tries_on_dep = 1 + (int)tg_rand_below(&rnd, 7),
            .retry_after_ms = tg_rand_below(&rnd, 3) ? (int64_t)tg_rand_below(&rnd, 30000) : -1,
            .now_ms = 1000000 + tg_rand_below(&rnd, 1000),
            .retry = &cfg,
            .budget_ok = tg_rand_below(&rnd, 5) != 0,
            .has_context_fallbacks = tg_rand_below(&rnd, 2),
            .has_policy_fallbacks = tg_rand_below(&rnd, 2),
        };
        in.deadline_ms = in.now_ms - 500 + tg_rand_below(&rnd, 20000);
        struct tg_decision_out out;
        tg_policy_decide(&in, &pol, &out);
        int max_tries = (int)cfg.max_attempts;
        if ((in.cls == TG_CLASS_TIMEOUT || in.cls == TG_CLASS_INVALID) && max_tries > 2)
            max_tries = 2;
        bool retryable = in.cls == TG_CLASS_TRANSPORT || in.cls == TG_CLASS_TIMEOUT ||
                         in.cls == TG_CLASS_RATE_LIMITED || in.cls == TG_CLASS_SERVER ||
                         in.cls == TG_CLASS_INVALID;
        if (out.decision == RETRY) {
            retries++;
            assert_true(retryable);
            assert_true(in.tries_on_dep < max_tries);
            assert_true(in.budget_ok);
            assert_true(in.now_ms + out.wait_ms < in.deadline_ms); /* never past it */
            if (in.cls == TG_CLASS_RATE_LIMITED) {
                assert_true(out.wait_ms <= (uint64_t)cfg.max_retry_after_ms);
                assert_int_equal(out.cooldown_ms, out.wait_ms);
                if (cfg.respect_retry_after && in.retry_after_ms >= 0)
                    assert_int_equal(out.wait_ms, in.retry_after_ms);
            }
            if (in.cls != TG_CLASS_RATE_LIMITED || !cfg.respect_retry_after ||
                in.retry_after_ms < 0) {
                uint64_t cap = tg_backoff_cap_ms(&cfg, in.tries_on_dep);
                assert_true(out.wait_ms <= cap);
                if (cfg.jitter == TG_JITTER_EQUAL)
                    assert_true(out.wait_ms >= cap / 2);
                if (cfg.jitter == TG_JITTER_NONE)
                    assert_int_equal(out.wait_ms, cap);
            }
        }
        if (out.budget_blocked) {
            assert_false(in.budget_ok);
            assert_int_equal(out.decision, MOVE);
        }
        assert_int_equal(out.quarantine, in.cls == TG_CLASS_QUOTA || in.cls == TG_CLASS_AUTH);
        if (in.cls == TG_CLASS_RATE_LIMITED)
            assert_true(out.decision == RETRY || out.decision == MOVE);
        else
            assert_int_equal(out.cooldown_ms, 0);
        if (in.cls == TG_CLASS_CLIENT_ERROR)
            assert_int_equal(out.decision, PASS);
    }
    assert_true(retries > 10000);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(tg_decision_name(RETRY), "retry");
    assert_string_equal(tg_decision_name(MOVE), "move_on");
    assert_string_equal(tg_decision_name(PASS), "pass_through");
    assert_string_equal(tg_decision_name(CTXFB), "context_fallback");
    assert_string_equal(tg_decision_name(POLFB), "policy_fallback");
    assert_string_equal(tg_decision_name((enum tg_decision)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_with_backoff),
        cmocka_unit_test(test_timeout_and_invalid_once),
        cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_quota_and_auth),
        cmocka_unit_test(test_fallbacks_and_pass_through),
        cmocka_unit_test(test_budget_blocked),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_invariants_random),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the timer wheel (util/wheel.c) on a fake clock: the time is a
 * plain uint64_t handed to tg_wheel_run, nothing sleeps.
 *
 * Covered: expiry order with ties in arming order across levels; cancel,
 * including from inside a callback; re-arming from a callback; arming in the
 * past; far deadlines and the 2^42 ms clamp; big clock jumps; the contract of
 * tg_wheel_next; a randomized comparison against a reference model. Every
 * test ends with tg_wheel_count() == 0. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/rand.h"
#include "util/wheel.h"

#define MAX_SPAN ((UINT64_C(1) << (TG_WHEEL_BITS * TG_WHEEL_LEVELS)) - 1)

/* ---- a timer that logs its firing ---- */

struct fire {
    int id;
    uint64_t at; /* the wheel's present when the callback ran */
};

struct rec;
typedef void (*rec_action)(struct rec *r);

struct rec {
    struct tg_timer t;
    int id;
    rec_action action; /* run inside the callback, after logging */
    struct rec *other;
    uint64_t arg;
    int fired;
};

static struct tg_wheel *g_wheel;
static struct fire g_log[1024];
static size_t g_nlog;

static void on_fire(struct tg_timer *t)
{
    struct rec *r = tg_container_of(t, struct rec, t);
    assert_false(tg_timer_pending(t)); /* idle when its callback runs */
    if (g_nlog < sizeof(g_log) / sizeof(g_log[0]))
        g_log[g_nlog] = (struct fire){r->id, g_wheel->now_ms};
    g_nlog++;
    r->fired++;
    if (r->action)
        r->action(r);
}

static void setup_wheel(struct tg_wheel *w, uint64_t now)
{
    tg_wheel_init(w, now);
    g_wheel = w;
    g_nlog = 0;
}

static void rec_init(struct rec *r, int id)
{
    memset(r, 0, sizeof(*r));
    r->id = id;
    tg_timer_init(&r->t, on_fire);
}

/* Asserts that the log since `from` holds exactly ids[0..n) in that order. */
static void expect_log(size_t from, const int *ids, size_t n)
{
    if (g_nlog - from != n) {
        for (size_t i = from; i < g_nlog && i < from + 20; i++)
            print_message("  fired id=%d at=%llu\n", g_log[i].id, (unsigned long long)g_log[i].at);
        fail_msg("%zu timers fired, expected %zu", g_nlog - from, n);
    }
    for (size_t i = 0; i < n; i++)
        if (g_log[from + i].id != ids[i])
            fail_msg("firing #%zu was id %d, expected id %d", i, g_log[from + i].id, ids[i]);
}

/* ------------------------------------------------------------------------ */

/* Timers fire in expiry order, ties in arming order, whatever level of the
 * wheel each sat on when armed; each fires with the wheel's present equal to
 * its expiry. Rows: (now, fired ids). */
static void test_order_and_ties(void **state)
{
    (void)state;
    struct tg_wheel w;
    setup_wheel(&w, 0);
    struct rec r[16];
    for (int i = 0; i < 16; i++)
        rec_init(&r[i], i);

    /* Armed at 0: level 0 (<64), level 1 (<4096), level 2. */
    tg_wheel_add(&w, &r[0].t, 100);
    tg_wheel_add(&w, &r[1].t, 5);
    tg_wheel_add(&w, &r[2].t, 100);
    tg_wheel_add(&w, &r[3].t, 64);
    tg_wheel_add(&w, &r[4].t, 4096 + 64);
    tg_wheel_add(&w, &r[5].t, 5);
    tg_wheel_add(&w, &r[6].t, 63);
    tg_wheel_add(&w, &r[7].t, 64);
    assert_int_equal(tg_wheel_count(&w), 8);

    static const struct {
        uint64_t now;
        int arm_id; /* -1: none; armed after running to `now` */
        uint64_t arm_at;
        int ids[8];
        size_t n;
    } rows[] = {
        {4, -1, 0, {0}, 0},
        {5, -1, 0, {1, 5}, 2},
        {50, 8, 100, {0}, 0}, /* 50 -> 100 crosses a 64 ms block: level 1 */
        {63, -1, 0, {6}, 1},
        {64, -1, 0, {3, 7}, 2},
        {70, 9, 100, {0}, 0}, /* same block as 100: level 0, still after 0, 2, 8 */
        {99, 10, 4096 + 64, {0}, 0},
        {100, -1, 0, {0, 2, 8, 9}, 4},
        {4096, 11, 4096 + 64, {0}, 0}, /* r[4] cascaded already; 11 goes after 4 and 10 */
        {4159, -1, 0, {0}, 0},
        {4160, -1, 0, {4, 10, 11}, 3},
        {100000, -1, 0, {0}, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t from = g_nlog;
        size_t fired = tg_wheel_run(&w, rows[i].now);
        assert_int_equal(fired, rows[i].n);
        expect_log(from, rows[i].ids, rows[i].n);
        for (size_t k = from; k < g_nlog; k++)
            assert_int_equal(g_log[k].at, r[g_log[k].id].t.expire_ms);
        if (rows[i].arm_id >= 0)
            tg_wheel_add(&w, &r[rows[i].arm_id].t, rows[i].arm_at);
    }
    assert_int_equal(tg_wheel_count(&w), 0);
    assert_int_equal(tg_wheel_next(&w), UINT64_MAX);
}

/* Cancel: of a pending timer, of an idle one (no-op), twice; re-adding a
 * pending timer moves it. */
static void test_cancel_and_rearm(void **state)
{
    (void)state;
    struct tg_wheel w;
    setup_wheel(&w, 1000);
    struct rec a, b, c;
    rec_init(&a, 1);
    rec_init(&b, 2);
    rec_init(&c, 3);

    tg_wheel_cancel(&w, &a.t); /* idle: no-op */
    assert_int_equal(tg_wheel_count(&w), 0);

    tg_wheel_add(&w, &a.t, 1010);
    tg_wheel_add(&w, &b.t, 1010);
    tg_wheel_add(&w, &c.t, 50000);
    assert_true(tg_timer_pending(&a.t));
    assert_int_equal(tg_wheel_count(&w), 3);
    tg_wheel_cancel(&w, &a.t);
    tg_wheel_cancel(&w, &a.t);
    assert_false(tg_timer_pending(&a.t));
    assert_int_equal(tg_wheel_count(&w), 2);

    /* Re-adding a pending timer moves it; it does not count twice. */
    tg_wheel_add(&w, &c.t, 1005);
    tg_wheel_add(&w, &c.t, 1020);
    assert_int_equal(tg_wheel_count(&w), 2);

    assert_int_equal(tg_wheel_run(&w, 1010), 1);
    expect_log(0, (int[]){2}, 1);
    assert_int_equal(tg_wheel_run(&w, 1019), 0);
    assert_int_equal(tg_wheel_run(&w, 60000), 1);
    expect_log(1, (int[]){3}, 1);
    assert_int_equal(g_log[1].at, 1020);

    /* A cancelled far timer leaves no trace: next is empty again. */
    tg_wheel_add(&w, &a.t, 60000 + 86400000);
    tg_wheel_cancel(&w, &a.t);
    assert_int_equal(tg_wheel_next(&w), UINT64_MAX);
    assert_int_equal(tg_wheel_run(&w, 60000 + 2 * 86400000ull), 0);
    assert_int_equal(tg_wheel_count(&w), 0);
}

static void act_cancel_other(struct rec *r)
{
    tg_wheel_cancel(g_wheel, &r->other->t);
}

static void act_rearm_other(struct rec *r)
{
    tg_wheel_add(g_wheel, &r->other->t, r->arg);
}

static void act_rearm_self(struct rec *r)
{
    if (r->fired < 3)
        tg_wheel_add(g_wheel, &r->t, r->arg + (uint64_t)r->fired * 10);
}

/* Inside a callback: cancelling another timer due in the same millisecond (it
 * is already out of its slot), cancelling one due later in the same run,
 * re-arming a due timer for later, and a timer re-arming itself for a time
 * after the run's `now` (so each firing takes its own run, see
 * test_arm_in_past_from_callback). */
static void test_cancel_and_rearm_from_callback(void **state)
{
    (void)state;
    struct tg_wheel w;
    setup_wheel(&w, 0);
    struct rec a, b, c, d, e, f, s;
    rec_init(&a, 1);
    rec_init(&b, 2);
    rec_init(&c, 3);
    rec_init(&d, 4);
    rec_init(&e, 5);
    rec_init(&f, 6);
    rec_init(&s, 7);

    a.action = act_cancel_other; /* at 10, cancels b (also due at 10) */
    a.other = &b;
    c.action = act_cancel_other; /* at 10, cancels d (due at 11, same run) */
    c.other = &d;
    e.action = act_rearm_other; /* at 10, re-arms f (due at 10) for 300 */
    e.other = &f;
    e.arg = 300;
    s.action = act_rearm_self; /* at 20, 30, 40: re-arms itself 10 ms later each time */
    s.arg = 20;

    tg_wheel_add(&w, &a.t, 10);
    tg_wheel_add(&w, &b.t, 10);
    tg_wheel_add(&w, &c.t, 10);
    tg_wheel_add(&w, &d.t, 11);
    tg_wheel_add(&w, &e.t, 10);
    tg_wheel_add(&w, &f.t, 10);
    tg_wheel_add(&w, &s.t, 20);
    assert_int_equal(tg_wheel_count(&w), 7);

    static const struct {
        uint64_t now;
        int ids[4];
        size_t n;
        size_t count_after;
    } rows[] = {
        {15, {1, 3, 5}, 3, 2}, /* b and f taken away, d cancelled before its turn */
        {19, {0}, 0, 2},       {20, {7}, 1, 2},  {29, {0}, 0, 2},  {30, {7}, 1, 2},
        {40, {7}, 1, 1},       {299, {0}, 0, 1}, {300, {6}, 1, 0}, {100000, {0}, 0, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t from = g_nlog;
        assert_int_equal(tg_wheel_run(&w, rows[i].now), rows[i].n);
        expect_log(from, rows[i].ids, rows[i].n);
        assert_int_equal(tg_wheel_count(&w), rows[i].count_after);
    }
    assert_int_equal(g_log[3].at, 20);
    assert_int_equal(g_log[4].at, 30);
    assert_int_equal(g_log[5].at, 40);
    assert_int_equal(b.fired + d.fired, 0);
    assert_false(tg_timer_pending(&b.t));
    assert_false(tg_timer_pending(&d.t));
    assert_int_equal(tg_wheel_count(&w), 0);
}

/* Outside a run: a time not after the present fires on the next millisecond.
 * Rows: (arm at, run to, fired). */
static void test_arm_in_past(void **state)
{
    (void)state;
    struct tg_wheel w;
    setup_wheel(&w, 500);
    struct rec a;
    rec_init(&a, 1);
    static const uint64_t arm_at[] = {0, 1, 499, 500};
    for (size_t i = 0; i < 4; i++) {
        uint64_t now = w.now_ms;
        tg_wheel_add(&w, &a.t, arm_at[i]);
        assert_int_equal(a.t.expire_ms, now + 1);
        assert_int_equal(tg_wheel_next(&w), now + 1);
        assert_int_equal(tg_wheel_run(&w, now), 0); /* not in the present */
        assert_int_equal(tg_wheel_run(&w, now + 1), 1);
        assert_int_equal(g_log[g_nlog - 1].at, now + 1);
    }
    assert_int_equal(tg_wheel_count(&w), 0);
}

static void act_arm_past(struct rec *r)
{
    if (r->fired == 1)
        tg_wheel_add(g_wheel, &r->other->t, r->arg);
}

/* Inside a run to `now`: a callback arming a timer in the past (before the
 * wheel's present, or at the run's `now`) must not see it fire inside the
 * same run, or a callback re-arming itself "immediately" would loop for as
 * many milliseconds as the run covers (hours, after a stall). It fires on the
 * next millisecond after the run: now + 1. */
static void test_arm_in_past_from_callback(void **state)
{
    (void)state;
    struct tg_wheel w;
    static const struct {
        uint64_t arm_at; /* asked by the callback firing at 10 */
        bool self;       /* the callback re-arms its own timer */
    } rows[] = {
        {0, false}, {9, false}, {10, false}, {1000, false}, {0, true}, {1000, true},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        setup_wheel(&w, 0);
        struct rec a, b;
        rec_init(&a, 1);
        rec_init(&b, 2);
        a.action = act_arm_past;
        a.other = rows[i].self ? &a : &b;
        a.arg = rows[i].arm_at;
        tg_wheel_add(&w, &a.t, 10);
        size_t fired = tg_wheel_run(&w, 1000);
        if (fired != 1) {
            print_error("row %zu: armed at %llu from the callback at 10 during run(1000): the "
                        "run fired %zu timers, expected 1 (the re-armed one fired at %llu)\n",
                        i, (unsigned long long)rows[i].arm_at, fired,
                        (unsigned long long)g_log[1].at);
            bad++;
            tg_wheel_cancel(&w, &a.other->t);
            continue;
        }
        assert_true(tg_timer_pending(&a.other->t));
        assert_int_equal(tg_wheel_run(&w, 1000), 0);
        assert_int_equal(tg_wheel_run(&w, 1001), 1);
        assert_int_equal(tg_wheel_count(&w), 0);
    }
    assert_int_equal(bad, 0);
}

/* Hours and days ahead, from a present that is not a round number. Rows:
 * (delay). Each fires exactly at its expiry, not a millisecond before. */
static void test_far_deadlines(void **state)
{
    (void)state;
    static const uint64_t delays[] = {
        64,
        4095,
        4096,
        262143,
        262144,
        3600000ull,              /* an hour */
        86400000ull,             /* a day */
        7 * 86400000ull + 12345, /* a week and a bit */
        365 * 86400000ull,       /* a year */
        (UINT64_C(1) << 36) + 1, /* level 6 */
        (UINT64_C(1) << 41) + 777,
    };
    static const uint64_t starts[] = {0, 1, 12345, 1700000000000ull % (UINT64_C(1) << 40)};
    struct tg_wheel w;
    struct rec a;
    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
            setup_wheel(&w, starts[s]);
            rec_init(&a, 1);
            uint64_t at = starts[s] + delays[i];
            tg_wheel_add(&w, &a.t, at);
            assert_int_equal(a.t.expire_ms, at);
            uint64_t next = tg_wheel_next(&w);
            assert_true(next > starts[s] && next <= at);
            /* Drive it the way the loop does: wake at next, run, repeat. */
            size_t wakeups = 0;
            while (tg_wheel_count(&w) > 0) {
                next = tg_wheel_next(&w);
                assert_true(next <= at);
                if (next < at)
                    assert_int_equal(g_nlog, 0);
                tg_wheel_run(&w, next);
                wakeups++;
                assert_true(wakeups <= TG_WHEEL_LEVELS * TG_WHEEL_SLOTS);
            }
            assert_int_equal(g_nlog, 1);
            assert_int_equal(g_log[0].at, at);
            /* The same timer with one jump straight past its expiry. */
            setup_wheel(&w, starts[s]);
            tg_wheel_add(&w, &a.t, at);
            assert_int_equal(tg_wheel_run(&w, at - 1), 0);
            assert_int_equal(tg_wheel_run(&w, at), 1);
            assert_int_equal(tg_wheel_count(&w), 0);
        }
    }
}

/* Runs fn in a child process so that a crash (an out-of-bounds write caught
 * by AddressSanitizer, an assert) fails this test and not the whole binary. */
static bool run_isolated(int (*fn)(void), const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        print_error("%s: child died of signal %d (see the sanitizer report above)\n", what,
                    WTERMSIG(status));
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("%s: failed with exit code %d (1: a sanitizer report above)\n", what,
                    WEXITSTATUS(status));
        return false;
    }
    return true;
}

static int clamp_case(uint64_t start, uint64_t ask, uint64_t want_at)
{
    struct tg_wheel *w = calloc(1, sizeof(*w)); /* on the heap: ASan sees overruns */
    struct rec a;
    setup_wheel(w, start);
    rec_init(&a, 1);
    tg_wheel_add(w, &a.t, ask);
    if (a.t.expire_ms != want_at) {
        fprintf(stderr, "start=%llu ask=%llu: expire_ms %llu, expected %llu\n",
                (unsigned long long)start, (unsigned long long)ask,
                (unsigned long long)a.t.expire_ms, (unsigned long long)want_at);
        return 2;
    }
    if (tg_wheel_next(w) > want_at || tg_wheel_run(w, want_at - 1) != 0)
        return 3;
    if (tg_wheel_run(w, want_at) != 1 || w->count != 0)
        return 4;
    free(w);
    return 0;
}

static int clamp_from_zero(void)
{
    int rc = clamp_case(0, UINT64_MAX, MAX_SPAN);
    return rc ? rc : clamp_case(0, (UINT64_C(1) << 42) + 5, MAX_SPAN);
}

static int clamp_from_nonzero(void)
{
    /* Any present but 0: now + MAX_SPAN has bit 42 set, unlike now. */
    int rc = clamp_case(1000, UINT64_MAX, 1000 + MAX_SPAN);
    return rc ? rc : clamp_case(1, 1 + MAX_SPAN + 1, 1 + MAX_SPAN);
}

static int cross_bit42(void)
{
    /* Not clamped (less than MAX_SPAN ahead), but its expiry and the present
     * differ in bit 42. */
    return clamp_case(1000, (UINT64_C(1) << 42) + 10, (UINT64_C(1) << 42) + 10);
}

/* Beyond 2^42 ms (139 years) a deadline is clamped to the wheel's span; an
 * "infinite" UINT64_MAX must be safe to arm from any present. */
static void test_clamp_beyond_span(void **state)
{
    (void)state;
    bool ok = run_isolated(clamp_from_zero, "clamp from present 0");
    ok &= run_isolated(clamp_from_nonzero, "clamp from present 1000");
    ok &= run_isolated(cross_bit42, "expiry across bit 42");
    assert_true(ok);
}

/* A clock jump of days fires everything due exactly once, in order, and
 * leaves later timers alone. */
static void test_big_jump(void **state)
{
    (void)state;
    enum { N = 500 };
    struct tg_wheel w;
    setup_wheel(&w, 777);
    static struct rec r[N];
    struct tg_rand rnd;
    tg_rand_seed(&rnd, 42);
    const uint64_t jump_to = 777 + 3 * 86400000ull;
    size_t due = 0;
    for (int i = 0; i < N; i++) {
        rec_init(&r[i], i);
        uint64_t at = 777 + 1 + tg_rand_below(&rnd, 6 * 86400000ull);
        if (i % 50 == 0)
            at = jump_to; /* some exactly at the jump's end */
        tg_wheel_add(&w, &r[i].t, at);
        if (at <= jump_to)
            due++;
    }
    assert_int_equal(tg_wheel_run(&w, jump_to), due);
    assert_int_equal(g_nlog, due);
    for (size_t k = 0; k < g_nlog; k++) {
        const struct rec *f = &r[g_log[k].id];
        assert_true(f->t.expire_ms <= jump_to);
        if (k > 0) {
            const struct rec *p = &r[g_log[k - 1].id];
            assert_true(p->t.expire_ms < f->t.expire_ms ||
                        (p->t.expire_ms == f->t.expire_ms && p->id < f->id));
        }
    }
    for (int i = 0; i < N; i++) {
        assert_true(r[i].fired <= 1);
        assert_int_equal(r[i].fired == 1, r[i].t.expire_ms <= jump_to);
        assert_int_equal(tg_timer_pending(&r[i].t), r[i].t.expire_ms > jump_to);
    }
    assert_int_equal(tg_wheel_count(&w), N - due);
    assert_int_equal(tg_wheel_run(&w, jump_to + 10 * 86400000ull), N - due);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].fired, 1);
    assert_int_equal(tg_wheel_count(&w), 0);
}

/* tg_wheel_next: exact for a timer in the same 64 ms block as the present
 * (level 0). Rows: every present in a block, every expiry after it. */
static void test_next_exact_same_block(void **state)
{
    (void)state;
    struct tg_wheel w;
    struct rec a;
    rec_init(&a, 1);
    static const uint64_t bases[] = {0, 64, 4096 * 3, 1000000 * 64};
    for (size_t b = 0; b < 4; b++) {
        for (uint64_t off = 0; off < 63; off++) {
            for (uint64_t at = off + 1; at < 64; at++) {
                setup_wheel(&w, bases[b] + off);
                tg_wheel_add(&w, &a.t, bases[b] + at);
                assert_int_equal(tg_wheel_next(&w), bases[b] + at);
                tg_wheel_cancel(&w, &a.t);
            }
        }
    }
    assert_int_equal(tg_wheel_count(&w), 0);
}

/* For a timer due within 64 ms, tg_wheel_next is never late and at most one
 * cascade point early (wheel.h): exact in the present's block, the start of
 * the next block when the expiry lies there. Rows: (present, delay). */
static void test_next_within_64ms(void **state)
{
    (void)state;
    struct tg_wheel w;
    struct rec a;
    rec_init(&a, 1);
    static const uint64_t presents[] = {0, 60, 63, 100, 4095, 4090, 262143, 999999};
    for (size_t p = 0; p < sizeof(presents) / sizeof(presents[0]); p++) {
        for (uint64_t d = 1; d <= 64; d++) {
            setup_wheel(&w, presents[p]);
            tg_wheel_add(&w, &a.t, presents[p] + d);
            uint64_t next = tg_wheel_next(&w);
            uint64_t due = presents[p] + d;
            bool same_block = due >> 6 == presents[p] >> 6;
            uint64_t want = same_block ? due : (due >> 6) << 6;
            if (next != want)
                fail_msg("present %llu, timer at +%llu: next %llu, expected %llu",
                         (unsigned long long)presents[p], (unsigned long long)d,
                         (unsigned long long)next, (unsigned long long)want);
            tg_wheel_cancel(&w, &a.t);
        }
    }
    assert_int_equal(tg_wheel_count(&w), 0);
}

/* Otherwise a lower bound: after the present, never after the earliest
 * expiry; running to it repeatedly reaches every timer exactly on time. */
static void test_next_lower_bound(void **state)
{
    (void)state;
    enum { N = 64 };
    struct tg_wheel w;
    static struct rec r[N];
    struct tg_rand rnd;
    tg_rand_seed(&rnd, 7);
    for (int round = 0; round < 20; round++) {
        uint64_t start = tg_rand_below(&rnd, UINT64_C(1) << 36);
        setup_wheel(&w, start);
        for (int i = 0; i < N; i++) {
            rec_init(&r[i], i);
            static const uint64_t spans[] = {64, 4096, 1u << 18, 1u << 24, 1ull << 30};
            tg_wheel_add(&w, &r[i].t, start + 1 + tg_rand_below(&rnd, spans[i % 5]));
        }
        size_t wakeups = 0;
        while (tg_wheel_count(&w) > 0) {
            uint64_t earliest = UINT64_MAX;
            for (int i = 0; i < N; i++)
                if (tg_timer_pending(&r[i].t) && r[i].t.expire_ms < earliest)
                    earliest = r[i].t.expire_ms;
            uint64_t next = tg_wheel_next(&w);
            assert_true(next > w.now_ms);
            assert_true(next <= earliest);
            size_t before = g_nlog;
            tg_wheel_run(&w, next);
            for (size_t k = before; k < g_nlog; k++)
                assert_int_equal(g_log[k].at, r[g_log[k].id].t.expire_ms);
            wakeups++;
        }
        assert_int_equal(g_nlog, N);
        /* Cascade points cost at most one wakeup per level per timer. */
        assert_true(wakeups <= (size_t)N * TG_WHEEL_LEVELS);
    }
    assert_int_equal(tg_wheel_count(&w), 0);
}

/* ---- randomized comparison against a reference model ---- */

enum { MODEL_N = 48 };

struct model_timer {
    bool armed;
    uint64_t expire;
    uint64_t seq; /* arming order */
};

static int cmp_fire(const void *a, const void *b)
{
    const struct model_timer *const *x = a, *const *y = b;
    if ((*x)->expire != (*y)->expire)
        return (*x)->expire < (*y)->expire ? -1 : 1;
    return (*x)->seq < (*y)->seq ? -1 : (*x)->seq > (*y)->seq;
}

static void test_random_against_model(void **state)
{
    (void)state;
    struct tg_wheel w;
    static struct rec r[MODEL_N];
    struct model_timer m[MODEL_N];
    struct tg_rand rnd;
    tg_rand_seed(&rnd, 20240601);
    uint64_t now = 1234567;
    uint64_t seq = 0;
    setup_wheel(&w, now);
    for (int i = 0; i < MODEL_N; i++) {
        rec_init(&r[i], i);
        m[i] = (struct model_timer){false, 0, 0};
    }
    size_t total_fired = 0;
    for (int op = 0; op < 10000; op++) {
        uint64_t kind = tg_rand_below(&rnd, 100);
        int i = (int)tg_rand_below(&rnd, MODEL_N);
        if (kind < 45) { /* add or re-arm */
            uint64_t at;
            switch (tg_rand_below(&rnd, 6)) {
            case 0: at = now - tg_rand_below(&rnd, 100); break; /* past or present */
            case 1: at = now + tg_rand_below(&rnd, 64); break;
            case 2: at = now + tg_rand_below(&rnd, 5000); break;
            case 3: at = now + tg_rand_below(&rnd, 1000000); break;
            case 4: at = now + tg_rand_below(&rnd, 100000000); break;
            default: at = (now & ~UINT64_C(63)) + 64 * tg_rand_below(&rnd, 4); break;
            }
            tg_wheel_add(&w, &r[i].t, at);
            m[i].armed = true;
            m[i].expire = at > now ? at : now + 1;
            m[i].seq = seq++;
            assert_int_equal(r[i].t.expire_ms, m[i].expire);
        } else if (kind < 60) { /* cancel */
            tg_wheel_cancel(&w, &r[i].t);
            m[i].armed = false;
        } else { /* advance */
            uint64_t to;
            switch (tg_rand_below(&rnd, 5)) {
            case 0: to = now; break;
            case 1: to = now + 1 + tg_rand_below(&rnd, 64); break;
            case 2: to = now + tg_rand_below(&rnd, 10000); break;
            case 3: to = now + tg_rand_below(&rnd, 2000000); break;
            default: to = now + tg_rand_below(&rnd, 200000000); break;
            }
            const struct model_timer *due[MODEL_N];
            size_t n = 0;
            for (int k = 0; k < MODEL_N; k++)
                if (m[k].armed && m[k].expire <= to)
                    due[n++] = &m[k];
            qsort(due, n, sizeof(due[0]), cmp_fire);
            size_t from = g_nlog;
            assert_int_equal(tg_wheel_run(&w, to), n);
            assert_int_equal(g_nlog - from, n);
            for (size_t k = 0; k < n; k++) {
                int id = (int)(due[k] - m);
                if (g_log[from + k].id != id)
                    fail_msg("op %d: firing #%zu was timer %d, the model says %d", op, k,
                             g_log[from + k].id, id);
                assert_int_equal(g_log[from + k].at, m[id].expire);
                m[id].armed = false;
            }
            total_fired += n;
            now = to > now ? to : now;
            g_nlog = 0; /* keep the log small */
        }
        /* Invariants after every operation. */
        size_t armed = 0;
        uint64_t earliest = UINT64_MAX;
        for (int k = 0; k < MODEL_N; k++) {
            assert_int_equal(tg_timer_pending(&r[k].t), m[k].armed);
            if (m[k].armed) {
                armed++;
                if (m[k].expire < earliest)
                    earliest = m[k].expire;
            }
        }
        assert_int_equal(tg_wheel_count(&w), armed);
        uint64_t next = tg_wheel_next(&w);
        if (armed == 0) {
            assert_int_equal(next, UINT64_MAX);
        } else {
            assert_true(next > now);
            assert_true(next <= earliest);
            if ((earliest >> TG_WHEEL_BITS) == (now >> TG_WHEEL_BITS))
                assert_int_equal(next, earliest);
        }
    }
    assert_true(total_fired > 1000);
    for (int k = 0; k < MODEL_N; k++)
        tg_wheel_cancel(&w, &r[k].t);
    assert_int_equal(tg_wheel_count(&w), 0);
    assert_int_equal(tg_wheel_next(&w), UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_ties),
        cmocka_unit_test(test_cancel_and_rearm),
        cmocka_unit_test(test_cancel_and_rearm_from_callback),
        cmocka_unit_test(test_arm_in_past),
        cmocka_unit_test(test_arm_in_past_from_callback),
        cmocka_unit_test(test_far_deadlines),
        cmocka_unit_test(test_clamp_beyond_span),
        cmocka_unit_test(test_big_jump),
        cmocka_unit_test(test_next_exact_same_block),
        cmocka_unit_test(test_next_within_64ms),
        cmocka_unit_test(test_next_lower_bound),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

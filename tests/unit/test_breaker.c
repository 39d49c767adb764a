/* Unit tests of the circuit breaker (route/breaker.c, SPEC section 4 and
 * [breaker]) as tables of (now, event, expectation) rows on a fake clock.
 *
 * Events: ADMIT asks for a new attempt and stores whether it is a probe in a
 * handle (h); OK / FAIL record the verdict of the attempt in handle h;
 * SUSPECT records an invalid answer of request `req` (each repetition a new
 * request when req is 0); the _LAST variants record on the last deployment
 * that can serve the request (may_open false);
 * RELEASE cancels it without a verdict; FORCE is a quota/auth failure; STATE
 * only looks. After every row the state tg_breaker_state() reports at `now`
 * is checked; ADMIT rows also check the answer, that it is a probe, and that
 * tg_breaker_would_admit() predicted it. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "route/breaker.h"

enum ev { ADMIT, OK, FAIL, RELEASE, FORCE, STATE, SUSPECT, SUSPECT_LAST, FAIL_LAST };

#define C TG_BREAKER_CLOSED
#define H TG_BREAKER_HALF_OPEN
#define O TG_BREAKER_OPEN
#define YES 1
#define NO 0
#define NA -1
#define NP -1 /* handle: an attempt that is not a probe */

struct row {
    uint64_t now;
    enum ev ev;
    int h;   /* handle index, or NP */
    int rep; /* repeat the event this many times (0 = once) */
    enum tg_breaker_state want;
    int admit; /* ADMIT: YES / NO */
    int probe; /* ADMIT: YES / NO / NA */
    uint64_t req; /* SUSPECT: the request's key; 0: a new request each time */
};

static const char *const ev_names[] = {"ADMIT", "OK",      "FAIL",         "RELEASE",  "FORCE",
                                       "STATE", "SUSPECT", "SUSPECT_LAST", "FAIL_LAST"};

static struct tg_breaker_cfg default_cfg(void)
{
    struct tg_breaker_cfg c;
    memset(&c, 0, sizeof(c));
    c.failure_threshold = 5;
    c.error_rate = 0.5;
    c.min_requests = 20;
    c.window_ms = 60000;
    c.cooldown_ms = 30000;
    c.max_cooldown_ms = 300000;
    c.half_open_probes = 1;
    c.latency_factor = 4.0;
    c.quota_cooldown_ms = 600000;
    return c;
}

static void run_rows(struct tg_breaker *b, const struct tg_breaker_cfg *cfg, const struct row *rows,
                     size_t n)
{
    uint32_t handles[16] = {0}; /* probe tickets; 0: not a probe */
    uint64_t next_req = 1000000; /* keys of requests no row names */
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        int reps = r->rep ? r->rep : 1;
        for (int k = 0; k < reps; k++) {
            uint32_t probe = r->h >= 0 ? handles[r->h] : 0;
            switch (r->ev) {
            case ADMIT: {
                bool would = tg_breaker_would_admit(b, cfg, r->now);
                bool got = tg_breaker_admit(b, cfg, r->now, &probe);
                if (got != (r->admit == YES))
                    fail_msg("row %zu (t=%llu ADMIT #%d): %s, expected %s", i,
                             (unsigned long long)r->now, k + 1, got ? "admitted" : "refused",
                             r->admit == YES ? "admitted" : "refused");
                if (would != got)
                    fail_msg("row %zu: would_admit said %d, admit %d", i, would, got);
                if (got && r->probe != NA && (probe != 0) != (r->probe == YES))
                    fail_msg("row %zu: probe=%u, expected %d", i, probe, r->probe == YES);
                if (!got && probe)
                    fail_msg("row %zu: a refused attempt marked as a probe", i);
                if (r->h >= 0)
                    handles[r->h] = probe;
                break;
            }
            case OK:
                tg_breaker_record(b, cfg, r->now, TG_BREAKER_SUCCESS, true, next_req++, probe);
                break;
            case FAIL:
            case FAIL_LAST:
                tg_breaker_record(b, cfg, r->now, TG_BREAKER_FAILURE, r->ev == FAIL, next_req++,
                                  probe);
                break;
            case SUSPECT:
            case SUSPECT_LAST:
                tg_breaker_record(b, cfg, r->now, TG_BREAKER_SUSPECT, r->ev == SUSPECT,
                                  r->req ? r->req : next_req++, probe);
                break;
            case RELEASE: tg_breaker_release_probe(b, probe); break;
            case FORCE: tg_breaker_force_open(b, cfg, r->now); break;
            case STATE: break;
            }
        }
        enum tg_breaker_state st = tg_breaker_state(b, r->now);
        if (st != r->want)
            fail_msg("row %zu (t=%llu %s h=%d): state %s, expected %s", i,
                     (unsigned long long)r->now, ev_names[r->ev], r->h, tg_breaker_state_name(st),
                     tg_breaker_state_name(r->want));
    }
}

#define RUN(b, cfg, rows) run_rows(b, cfg, rows, sizeof(rows) / sizeof(rows[0]))

/* failure_threshold consecutive failures open it; a success in between
 * starts the count again; open refuses until the cooldown is over. */
static void test_consecutive_failures(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, STATE, NP, 0, C, NA, NA, 0},
        {0, ADMIT, 0, 0, C, YES, NO, 0},
        {100, FAIL, NP, 4, C, NA, NA, 0},
        {200, OK, NP, 0, C, NA, NA, 0}, /* resets the count */
        {300, FAIL, NP, 4, C, NA, NA, 0},
        {400, ADMIT, 0, 0, C, YES, NO, 0},
        {1000, FAIL, NP, 0, O, NA, NA, 0}, /* 5th in a row */
        {1000, ADMIT, 0, 0, O, NO, NA, 0},
        {30999, ADMIT, 0, 0, O, NO, NA, 0}, /* cooldown 30 s */
        {30999, STATE, NP, 0, O, NA, NA, 0},
        {31000, STATE, NP, 0, H, NA, NA, 0}, /* what /status shows once it is over */
        {31000, ADMIT, 1, 0, H, YES, YES, 0},
        {31000, ADMIT, 2, 0, H, NO, NA, 0}, /* one probe at a time */
        {35000, ADMIT, 2, 0, H, NO, NA, 0},
        {36000, OK, 1, 0, C, NA, NA, 0}, /* the probe succeeded */
        {36000, ADMIT, 3, 0, C, YES, NO, 0},
        {36001, FAIL, NP, 4, C, NA, NA, 0}, /* a fresh count */
        {36002, FAIL, NP, 0, O, NA, NA, 0},
        {66001, ADMIT, 0, 0, O, NO, NA, 0}, /* the cooldown is back to 30 s */
        {66002, ADMIT, 0, 0, H, YES, YES, 0},
    };
    RUN(&b, &cfg, rows);
    assert_int_equal(b.opens_total, 2);
}

/* A probe that fails re-opens with the cooldown doubled, up to
 * max_cooldown_ms; a probe that succeeds closes it and the cooldown starts
 * again at cooldown_ms. */
static void test_probe_failure_doubles_cooldown(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1;
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0}, /* open for 30 s */
        {29999, ADMIT, 0, 0, O, NO, NA, 0},     {30000, ADMIT, 0, 0, H, YES, YES, 0},
        {30500, FAIL, 0, 0, O, NA, NA, 0}, /* 60 s, from the probe's failure */
        {90499, ADMIT, 0, 0, O, NO, NA, 0},     {90500, ADMIT, 0, 0, H, YES, YES, 0},
        {91000, FAIL, 0, 0, O, NA, NA, 0}, /* 120 s */
        {210999, ADMIT, 0, 0, O, NO, NA, 0},    {211000, ADMIT, 0, 0, H, YES, YES, 0},
        {211000, FAIL, 0, 0, O, NA, NA, 0}, /* 240 s */
        {450999, ADMIT, 0, 0, O, NO, NA, 0},    {451000, ADMIT, 0, 0, H, YES, YES, 0},
        {451000, FAIL, 0, 0, O, NA, NA, 0}, /* 480 s: capped at 300 s */
        {750999, ADMIT, 0, 0, O, NO, NA, 0},    {751000, ADMIT, 0, 0, H, YES, YES, 0},
        {751000, FAIL, 0, 0, O, NA, NA, 0}, /* still 300 s */
        {1050999, ADMIT, 0, 0, O, NO, NA, 0},   {1051000, ADMIT, 0, 0, H, YES, YES, 0},
        {1051100, OK, 0, 0, C, NA, NA, 0}, /* closed: cooldown back to 30 s */
        {1051200, FAIL, NP, 0, O, NA, NA, 0},   {1081199, ADMIT, 0, 0, O, NO, NA, 0},
        {1081200, ADMIT, 0, 0, H, YES, YES, 0},
    };
    RUN(&b, &cfg, rows);
    assert_int_equal(b.cooldown_ms, 30000);
}

/* error_rate over the window, once it holds min_requests attempts. */
static void test_error_rate(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1000; /* only the rate opens it here */
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    /* F S F S ...: 10 failures in 19 attempts stays closed (under
     * min_requests); the 20th is a success; the 21st, a failure, makes
     * 11/21 >= 0.5. */
    static const struct row rows[] = {
        {1000, FAIL, NP, 0, C, NA, NA, 0}, {1001, OK, NP, 0, C, NA, NA, 0},
        {1002, FAIL, NP, 0, C, NA, NA, 0}, {1003, OK, NP, 0, C, NA, NA, 0},
        {1004, FAIL, NP, 0, C, NA, NA, 0}, {1005, OK, NP, 0, C, NA, NA, 0},
        {1006, FAIL, NP, 0, C, NA, NA, 0}, {1007, OK, NP, 0, C, NA, NA, 0},
        {1008, FAIL, NP, 0, C, NA, NA, 0}, {1009, OK, NP, 0, C, NA, NA, 0},
        {1010, FAIL, NP, 0, C, NA, NA, 0}, {1011, OK, NP, 0, C, NA, NA, 0},
        {1012, FAIL, NP, 0, C, NA, NA, 0}, {1013, OK, NP, 0, C, NA, NA, 0},
        {1014, FAIL, NP, 0, C, NA, NA, 0}, {1015, OK, NP, 0, C, NA, NA, 0},
        {1016, FAIL, NP, 0, C, NA, NA, 0}, {1017, OK, NP, 0, C, NA, NA, 0},
        {1018, FAIL, NP, 0, C, NA, NA, 0}, /* 10 of 19 */
        {1019, OK, NP, 0, C, NA, NA, 0},   /* 10 of 20: a success never opens */
        {1020, FAIL, NP, 0, O, NA, NA, 0}, /* 11 of 21 */
    };
    RUN(&b, &cfg, rows);

    /* Under the rate: 9 failures of 20, then 10 of 21 (< 0.5) stay closed. */
    tg_breaker_init(&b, &cfg);
    static const struct row rows2[] = {
        {0, OK, NP, 11, C, NA, NA, 0},
        {10, FAIL, NP, 9, C, NA, NA, 0},
        {20, FAIL, NP, 0, C, NA, NA, 0}, /* 10 of 21 */
        {30, FAIL, NP, 0, O, NA, NA, 0}, /* 11 of 22 = 0.5: open */
    };
    RUN(&b, &cfg, rows2);

    /* Exactly min_requests, exactly the rate. */
    tg_breaker_init(&b, &cfg);
    static const struct row rows3[] = {
        {0, OK, NP, 10, C, NA, NA, 0},
        {10, FAIL, NP, 9, C, NA, NA, 0}, /* 9 of 19 */
        {20, FAIL, NP, 0, O, NA, NA, 0}, /* 10 of 20 */
    };
    RUN(&b, &cfg, rows3);
}

/* Window counts expire after window_ms. The window is a ring of 20 slices of
 * window_ms / 20, so "window_ms" holds to one slice (5%): an attempt counts
 * for at least window_ms - slice (a newer slice may take its place in the
 * ring after that) and is gone by window_ms + slice. */
static void test_window_expiry(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1000;
    const uint64_t slice = (uint64_t)cfg.window_ms / TG_BREAKER_BUCKETS;
    struct tg_breaker b;
    uint64_t total, failed;
    static const uint64_t starts[] = {0, 1, 2999, 3000, 1234567};
    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        uint64_t t0 = starts[s];
        tg_breaker_init(&b, &cfg);
        for (int k = 0; k < 15; k++)
            tg_breaker_record(&b, &cfg, t0, TG_BREAKER_FAILURE, true, 1, 0);
        tg_breaker_record(&b, &cfg, t0, TG_BREAKER_SUCCESS, true, 1, 0);
        tg_breaker_window(&b, &cfg, t0 + (uint64_t)cfg.window_ms - 1, &total, &failed);
        assert_int_equal(total, 16);
        assert_int_equal(failed, 15);
        tg_breaker_window(&b, &cfg, t0 + (uint64_t)cfg.window_ms + slice, &total, &failed);
        assert_int_equal(total, 0);
        assert_int_equal(failed, 0);
        assert_int_equal(tg_breaker_state(&b, t0), TG_BREAKER_CLOSED);

        /* 15 old failures forgotten: 5 new ones of 5 are under min_requests. */
        uint64_t t1 = t0 + (uint64_t)cfg.window_ms + slice;
        for (int k = 0; k < 5; k++)
            tg_breaker_record(&b, &cfg, t1, TG_BREAKER_FAILURE, true, 1, 0);
        assert_int_equal(tg_breaker_state(&b, t1), TG_BREAKER_CLOSED);
        /* ... had they not been, 20 of 21 would have opened it: */
        tg_breaker_init(&b, &cfg);
        for (int k = 0; k < 15; k++)
            tg_breaker_record(&b, &cfg, t0, TG_BREAKER_FAILURE, true, 1, 0);
        tg_breaker_record(&b, &cfg, t0, TG_BREAKER_SUCCESS, true, 1, 0);
        uint64_t t2 = t0 + (uint64_t)cfg.window_ms - slice;
        for (int k = 0; k < 5; k++)
            tg_breaker_record(&b, &cfg, t2, TG_BREAKER_FAILURE, true, 1, 0);
        assert_int_equal(tg_breaker_state(&b, t2), TG_BREAKER_OPEN);
    }

    /* Spread over time: counts of the last window only. */
    tg_breaker_init(&b, &cfg);
    for (uint64_t t = 0; t < 600000; t += 1000)
        tg_breaker_record(&b, &cfg, t, TG_BREAKER_SUCCESS, true, 1, 0); /* one a second for 10 minutes */
    tg_breaker_window(&b, &cfg, 599000, &total, &failed);
    assert_in_range(total, 60, 60 + slice / 1000);
}

/* A closed breaker forgets its failures: the window is cleared when a probe
 * closes it, so old failures do not re-open it on the next blip. */
static void test_close_clears_window(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1000;
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, FAIL, NP, 20, O, NA, NA, 0},
        {30000, ADMIT, 0, 0, H, YES, YES, 0},
        {30100, OK, 0, 0, C, NA, NA, 0},
        {30200, FAIL, NP, 0, C, NA, NA, 0}, /* 1 of 1: under min_requests */
        {30300, FAIL, NP, 18, C, NA, NA, 0},
        {30400, FAIL, NP, 0, O, NA, NA, 0}, /* 20 of 20 */
    };
    RUN(&b, &cfg, rows);
}

/* half_open_probes concurrent probes, no more; a probe released without a
 * verdict (cancelled: its hedge won, the client left) frees its slot. */
static void test_half_open_probes(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1;
    cfg.half_open_probes = 3;
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0},
        {30000, ADMIT, 0, 0, H, YES, YES, 0},
        {30000, ADMIT, 1, 0, H, YES, YES, 0},
        {30001, ADMIT, 2, 0, H, YES, YES, 0},
        {30002, ADMIT, 3, 0, H, NO, NA, 0},
        {30003, RELEASE, 1, 0, H, NA, NA, 0},
        {30004, ADMIT, 4, 0, H, YES, YES, 0}, /* the released slot */
        {30005, ADMIT, 5, 0, H, NO, NA, 0},
        {30006, RELEASE, 5, 0, H, NA, NA, 0}, /* releasing a refused one frees nothing */
        {30007, ADMIT, 5, 0, H, NO, NA, 0},
        {30008, RELEASE, 0, 0, H, NA, NA, 0},
        {30009, RELEASE, 2, 0, H, NA, NA, 0},
        {30010, RELEASE, 4, 0, H, NA, NA, 0}, /* all released: still half-open */
        {30011, ADMIT, 0, 0, H, YES, YES, 0},
        {30011, ADMIT, 1, 0, H, YES, YES, 0},
        {30012, OK, 0, 0, C, NA, NA, 0}, /* one success closes */
        {30013, ADMIT, 2, 0, C, YES, NO, 0},
        {30014, FAIL, 1, 0, O, NA, NA, 0}, /* the other probe finishes later: a failure
                                           like any other (threshold 1) */
    };
    RUN(&b, &cfg, rows);

    /* One probe at a time (the default): released, then the next. */
    cfg.half_open_probes = 1;
    tg_breaker_init(&b, &cfg);
    static const struct row rows2[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0},       {30000, ADMIT, 0, 0, H, YES, YES, 0},
        {30001, ADMIT, 1, 0, H, NO, NA, 0},   {30002, RELEASE, 0, 0, H, NA, NA, 0},
        {30003, ADMIT, 1, 0, H, YES, YES, 0}, {30004, ADMIT, 2, 0, H, NO, NA, 0},
        {30005, FAIL, 1, 0, O, NA, NA, 0},    {90004, ADMIT, 2, 0, O, NO, NA, 0},
        {90005, ADMIT, 2, 0, H, YES, YES, 0},
    };
    RUN(&b, &cfg, rows2);
}

/* Quota or auth: open for quota_cooldown_ms whatever the state, never
 * doubled; forcing again runs the quota cooldown from then on, but never
 * shortens a longer opening. */
static void test_force_open(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {1000, ADMIT, 0, 0, C, YES, NO, 0},
        {1000, FORCE, NP, 0, O, NA, NA, 0}, /* until 601000 */
        {1000, ADMIT, 1, 0, O, NO, NA, 0},
        {31000, ADMIT, 1, 0, O, NO, NA, 0},   /* not the 30 s cooldown */
        {300000, FORCE, NP, 0, O, NA, NA, 0}, /* again: until 900000, not doubled */
        {899999, ADMIT, 1, 0, O, NO, NA, 0},
        {900000, ADMIT, 1, 0, H, YES, YES, 0},
        {900100, FAIL, 1, 0, O, NA, NA, 0}, /* a probe failure doubles cooldown_ms: 60 s */
        {960099, ADMIT, 1, 0, O, NO, NA, 0},
        {960100, ADMIT, 1, 0, H, YES, YES, 0},
        {960200, FORCE, NP, 0, O, NA, NA, 0}, /* while half-open: the probe is void */
        {960300, OK, 1, 0, O, NA, NA, 0},
        {1560199, ADMIT, 2, 0, O, NO, NA, 0},
        {1560200, ADMIT, 2, 0, H, YES, YES, 0},
        {1560300, OK, 2, 0, C, NA, NA, 0},
    };
    RUN(&b, &cfg, rows);
    assert_int_equal(b.opens_total, 4);

    /* Forced while open for longer (a 300 s cooldown): the longer stays. */
    cfg.failure_threshold = 1;
    cfg.quota_cooldown_ms = 100000;
    cfg.cooldown_ms = 300000;
    tg_breaker_init(&b, &cfg);
    static const struct row rows2[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0},     /* until 300000 */
        {1000, FORCE, NP, 0, O, NA, NA, 0}, /* 101000 < 300000: kept */
        {299999, ADMIT, 0, 0, O, NO, NA, 0},
        {300000, ADMIT, 0, 0, H, YES, YES, 0},
    };
    RUN(&b, &cfg, rows2);

    /* Forced while open for shorter: lengthened to the quota cooldown. */
    cfg = default_cfg();
    cfg.failure_threshold = 1;
    tg_breaker_init(&b, &cfg);
    static const struct row rows3[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0},     /* until 30000 */
        {1000, FORCE, NP, 0, O, NA, NA, 0}, /* until 601000 */
        {600999, ADMIT, 0, 0, O, NO, NA, 0},
        {601000, ADMIT, 0, 0, H, YES, YES, 0},
    };
    RUN(&b, &cfg, rows3);
}

/* Attempts admitted while closed that finish after it opened do not flip
 * its state or stretch its cooldown, whatever their verdict; nor do they
 * while it is half-open. */
static void test_late_verdicts_while_open(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, ADMIT, 0, 0, C, YES, NO, 0},
        {0, ADMIT, 1, 0, C, YES, NO, 0},
        {0, ADMIT, 2, 0, C, YES, NO, 0},
        {0, ADMIT, 3, 0, C, YES, NO, 0},
        {100, FAIL, NP, 5, O, NA, NA, 0}, /* open until 30100 */
        {200, OK, 0, 0, O, NA, NA, 0},    /* a late success does not close it */
        {300, FAIL, 1, 0, O, NA, NA, 0},  /* a late failure does not extend it */
        {30099, ADMIT, 4, 0, O, NO, NA, 0},
        {30100, ADMIT, 4, 0, H, YES, YES, 0},
        {30200, OK, 2, 0, H, NA, NA, 0}, /* not a probe: no verdict on the half-open state */
        {30300, FAIL, 3, 0, H, NA, NA, 0},
        {30300, ADMIT, 5, 0, H, NO, NA, 0}, /* the probe's slot is still taken */
        {30400, OK, 4, 0, C, NA, NA, 0},
    };
    RUN(&b, &cfg, rows);
    assert_int_equal(b.opens_total, 1);
}

/* A probe admitted in one half-open period and finishing in a later one
 * (it outlived a re-open and a new cooldown: a long stream, or a cooldown
 * shorter than attempt_ms) is as stale as any attempt started before an
 * open: its verdict must not close or re-open the breaker, and releasing it
 * must not free the slot of the current probe. */
static void test_stale_probe_verdict(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1;
    cfg.cooldown_ms = 1000;
    cfg.half_open_probes = 2;
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0},      /* until 1000 */
        {1000, ADMIT, 0, 0, H, YES, YES, 0}, /* A */
        {1000, ADMIT, 1, 0, H, YES, YES, 0}, /* B */
        {1100, FAIL, 0, 0, O, NA, NA, 0},    /* A fails: open 2 s, until 3100 */
        {3100, ADMIT, 2, 0, H, YES, YES, 0}, /* C, a probe of the new half-open period */
        {3200, OK, 1, 0, H, NA, NA, 0},      /* B, from before the re-open, succeeds: stale */
        {3300, FAIL, 2, 0, O, NA, NA, 0},    /* C fails: re-opens (4 s) */
    };
    RUN(&b, &cfg, rows);
}

static void test_stale_probe_release(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.failure_threshold = 1;
    cfg.cooldown_ms = 1000;
    cfg.half_open_probes = 2;
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows2[] = {
        {0, FAIL, NP, 0, O, NA, NA, 0},      {1000, ADMIT, 0, 0, H, YES, YES, 0}, /* A */
        {1000, ADMIT, 1, 0, H, YES, YES, 0},                                   /* B */
        {1100, FAIL, 0, 0, O, NA, NA, 0},                                      /* open until 3100 */
        {3100, ADMIT, 2, 0, H, YES, YES, 0},                                   /* C */
        {3100, ADMIT, 3, 0, H, YES, YES, 0}, /* D: two probes in flight */
        {3200, RELEASE, 1, 0, H, NA, NA, 0}, /* B (stale) cancelled */
        {3300, ADMIT, 4, 0, H, NO, NA, 0},   /* still two in flight: no third */
    };
    RUN(&b, &cfg, rows2);
}

/* Invalid answers (SPEC section 4) count toward error_rate, never toward
 * failure_threshold consecutive failures: ten of them, then four failures,
 * then one more invalid leave it closed (counted as failures they would
 * have opened it at the fifth); the window's rate opens it once it holds
 * min_requests attempts. */
static void test_suspect_counts_toward_rate_only(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {100, SUSPECT, NP, 10, C, NA, NA, 0},
        {200, FAIL, NP, 4, C, NA, NA, 0},
        {300, SUSPECT, NP, 0, C, NA, NA, 0}, /* not the 5th consecutive failure */
        {400, OK, NP, 4, C, NA, NA, 0},      /* 19 attempts, 15 failed */
        {500, SUSPECT, NP, 0, O, NA, NA, 0}, /* 20 attempts, 16 failed: over 50% */
    };
    RUN(&b, &cfg, rows);
    assert_int_equal(b.opens_total, 1);
}

/* A request's invalid answers count once (its retries say nothing new), and
 * the rate opens on invalid answers only when they come from
 * TG_BREAKER_SUSPECT_SOURCES different requests. */
static void test_suspect_needs_several_requests(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    cfg.min_requests = 2;
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {100, SUSPECT, NP, 0, C, NA, NA, 1},
        {100, SUSPECT, NP, 0, C, NA, NA, 2}, /* 2 of 2 failed, but from 2 requests */
        {150, SUSPECT, NP, 5, C, NA, NA, 2}, /* request 2 again: no new evidence */
        {150, SUSPECT, NP, 3, C, NA, NA, 1},
        {200, SUSPECT, NP, 0, O, NA, NA, 3}, /* a third request */
    };
    RUN(&b, &cfg, rows);
    uint64_t total, failed;
    tg_breaker_window(&b, &cfg, 200, &total, &failed);
    assert_int_equal(total, 3);
    assert_int_equal(failed, 3);

    /* Once the window has moved on, the same request is evidence again. */
    tg_breaker_init(&b, &cfg);
    static const struct row later[] = {
        {0, SUSPECT, NP, 0, C, NA, NA, 7},
        {59999, SUSPECT, NP, 0, C, NA, NA, 7},
        {63000, SUSPECT, NP, 0, C, NA, NA, 7},
    };
    RUN(&b, &cfg, later);
    tg_breaker_window(&b, &cfg, 63000, &total, &failed);
    assert_int_equal(total, 1); /* the first has left the window, the second was a repeat */
    assert_int_equal(failed, 1);

    /* A hard failure's rate needs no distinct requests. */
    tg_breaker_init(&b, &cfg);
    static const struct row hard[] = {
        {0, FAIL, NP, 0, C, NA, NA, 0},
        {0, FAIL, NP, 0, O, NA, NA, 0},
    };
    RUN(&b, &cfg, hard);
}

/* On the last deployment that can serve the request, neither an invalid nor
 * a slow answer opens it, however many, nor counts toward a later opening
 * (SPEC: a held answer beats a 503); hard failures still do. A half-open probe that answers slow or invalid
 * closes it (the deployment answered); one that fails re-opens it. */
static void test_last_resort_never_opens(void **state)
{
    (void)state;
    struct tg_breaker_cfg cfg = default_cfg();
    struct tg_breaker b;
    tg_breaker_init(&b, &cfg);
    static const struct row rows[] = {
        {0, SUSPECT_LAST, NP, 40, C, NA, NA, 0},
        {10, FAIL_LAST, NP, 10, C, NA, NA, 0}, /* slow answers, nothing else left */
        /* ... are no evidence later either: a hard failure finds neither them
         * in the window nor a consecutive count of 11 (it did before) */
        {20, FAIL, NP, 4, C, NA, NA, 0},
        {20, FAIL, NP, 0, O, NA, NA, 0}, /* the 5th hard failure in a row */
        {30020, ADMIT, 1, 0, H, YES, YES, 0},
        {30100, SUSPECT_LAST, 1, 0, C, NA, NA, 0},
        {30200, FAIL, NP, 5, O, NA, NA, 0},
        {60200, ADMIT, 1, 0, H, YES, YES, 0},
        {60300, FAIL_LAST, 1, 0, C, NA, NA, 0},
        {60400, FAIL, NP, 5, O, NA, NA, 0},
        {90400, ADMIT, 1, 0, H, YES, YES, 0},
        {90500, SUSPECT, 1, 0, C, NA, NA, 0}, /* an invalid probe answer, alternatives or not */
        {90600, FAIL, NP, 5, O, NA, NA, 0},
        {120600, ADMIT, 1, 0, H, YES, YES, 0},
        {120700, FAIL, 1, 0, O, NA, NA, 0},
        {180699, ADMIT, 1, 0, O, NO, NA, 0}, /* doubled: 60 s */
    };
    RUN(&b, &cfg, rows);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(tg_breaker_state_name(TG_BREAKER_CLOSED), "closed");
    assert_string_equal(tg_breaker_state_name(TG_BREAKER_HALF_OPEN), "half-open");
    assert_string_equal(tg_breaker_state_name(TG_BREAKER_OPEN), "open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_failures),
        cmocka_unit_test(test_probe_failure_doubles_cooldown),
        cmocka_unit_test(test_error_rate),
        cmocka_unit_test(test_window_expiry),
        cmocka_unit_test(test_close_clears_window),
        cmocka_unit_test(test_half_open_probes),
        cmocka_unit_test(test_force_open),
        cmocka_unit_test(test_late_verdicts_while_open),
        cmocka_unit_test(test_stale_probe_verdict),
        cmocka_unit_test(test_stale_probe_release),
        cmocka_unit_test(test_suspect_counts_toward_rate_only),
        cmocka_unit_test(test_suspect_needs_several_requests),
        cmocka_unit_test(test_last_resort_never_opens),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The counters of SPEC section 8 and the admission decision over several of
 * them: sliding one-minute windows (`rpm`, `tpm`) and clock-hour windows
 * (`usd_per_hour`, UTC hours). Pure: the caller gives the clock, in
 * wall-clock ms since the Unix epoch (clock hours are UTC hours), so tests
 * run on a fake one.
 *
 * Accuracy: a minute window keeps one bucket per whole second of the last 60. What
 * was counted during second s stops counting when second s + 60 begins, so
 * an admission leaves the window between 59 and 60 seconds after it was made
 * (never later): a limit is never exceeded over any 60 s span that starts on
 * a whole second, and over an arbitrary 60 s span by at most what one second
 * admitted. */
#ifndef TG_ROUTE_RATELIMIT_H
#define TG_ROUTE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_WINDOW_SECONDS 60

struct tg_window {
    uint64_t second[TG_WINDOW_SECONDS]; /* which second each bucket counts, +1 (0: never used) */
    int64_t count[TG_WINDOW_SECONDS];
};

/* What the window holds at now_ms (never below 0). */
int64_t tg_window_used(const struct tg_window *w, uint64_t now_ms);
/* Adds n (which may be negative) to the bucket of the second at_ms fell in,
 * when that second is still in the window at now_ms; a positive n whose
 * second has left the window is counted now instead (it was still spent), a
 * negative one is dropped (what it would return is gone already). */
void tg_window_add(struct tg_window *w, uint64_t at_ms, uint64_t now_ms, int64_t n);
/* The second tg_window_add counts n in (seconds since the epoch): at_ms's,
 * or now_ms's for a positive n whose second has left the window; false when
 * n is dropped (a return to a second already gone). A shared store applies
 * the same rule to its own counters. */
bool tg_window_add_second(uint64_t at_ms, uint64_t now_ms, int64_t n, uint64_t *second);
/* Milliseconds from now_ms until used + need <= limit, as buckets expire (0
 * when it fits now). need above limit is taken as limit: it fits once the
 * window is empty. */
uint64_t tg_window_wait_ms(const struct tg_window *w, uint64_t now_ms, int64_t limit,
                           int64_t need);

#define TG_HOUR_MS 3600000u

/* What was counted during one clock hour; it stops counting when the next
 * hour begins (spend caps reset on the hour, UTC). */
struct tg_hour_window {
    uint64_t hour; /* which hour since the epoch it counts, +1 (0: never used) */
    int64_t count;
};

/* What the window holds at now_ms (never below 0): 0 once its hour is over. */
int64_t tg_hour_used(const struct tg_hour_window *w, uint64_t now_ms);
/* Adds n (which may be negative) to the hour at_ms fell in, when that hour is
 * still the current one at now_ms; else, like tg_window_add, a positive n is
 * counted in the current hour (it was still spent) and a negative one is
 * dropped (the hour it would return to is over). */
void tg_hour_add(struct tg_hour_window *w, uint64_t at_ms, uint64_t now_ms, int64_t n);
/* Milliseconds to the end of the current hour when used + need > limit, else
 * 0. Unlike a minute window's, a need above the whole limit never fits (it
 * would overshoot a spend cap, not wait a minute): it is refused every hour. */
uint64_t tg_hour_wait_ms(const struct tg_hour_window *w, uint64_t now_ms, int64_t limit,
                         int64_t need);

/* How long a counter counts what it is charged. */
enum tg_limit_period {
    TG_PERIOD_MINUTE = 0, /* sliding one-minute window */
    TG_PERIOD_HOUR,       /* the clock hour (UTC) */
};

/* A counter of either period. */
struct tg_counter {
    enum tg_limit_period period;
    union {
        struct tg_window minute;
        struct tg_hour_window hour;
    } u;
};

/* The window functions above, for a counter of either period. */
int64_t tg_counter_used(const struct tg_counter *c, uint64_t now_ms);
void tg_counter_add(struct tg_counter *c, uint64_t at_ms, uint64_t now_ms, int64_t n);
uint64_t tg_counter_wait_ms(const struct tg_counter *c, uint64_t now_ms, int64_t limit,
                            int64_t need);

/* One counter a request is checked against and charged to. */
struct tg_limit_check {
    struct tg_counter *counter;
    int64_t limit; /* > 0 */
    int64_t cost;  /* >= 0 */
};

/* What a counter looked like once the decision was made (OpenAI's
 * x-ratelimit-* headers). */
struct tg_limit_state {
    int64_t limit;
    int64_t remaining; /* limit - used, never below 0 */
    uint64_t reset_ms; /* until the window is empty again (an hour's: until it ends) */
};

/* All or nothing: when every check fits (tg_counter_wait_ms() is 0: for a
 * minute window used + min(cost, limit) <= limit, for an hour used + cost <=
 * limit), charges each cost at now_ms and returns true; else charges nothing and sets
 * *retry_ms to when every check would fit. state[i] (may be NULL) gets each
 * counter's state after the decision. */
bool tg_limits_admit(struct tg_limit_check *checks, size_t n, uint64_t now_ms,
                     uint64_t *retry_ms, struct tg_limit_state *state);

/* SPEC section 8's estimate of a request's tokens: prompt bytes / 4 plus the
 * answer's max_tokens (default_out when the request sets none). */
int64_t tg_limits_estimate_tokens(size_t prompt_bytes, int64_t max_tokens, int64_t default_out);

#endif

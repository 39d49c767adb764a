/* Sliding one-minute windows of counters (SPEC section 8 `rpm`, `tpm`), and
 * the admission decision over several of them. Pure: the caller gives the
 * clock (ms), so tests run on a fake one.
 *
 * Accuracy: a window keeps one bucket per whole second of the last 60. What
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
/* Milliseconds from now_ms until used + need <= limit, as buckets expire (0
 * when it fits now). need above limit is taken as limit: it fits once the
 * window is empty. */
uint64_t tg_window_wait_ms(const struct tg_window *w, uint64_t now_ms, int64_t limit,
                           int64_t need);

/* One counter a request is checked against and charged to. */
struct tg_limit_check {
    struct tg_window *window;
    int64_t limit; /* > 0 */
    int64_t cost;  /* >= 0 */
};

/* What a counter looked like once the decision was made (OpenAI's
 * x-ratelimit-* headers). */
struct tg_limit_state {
    int64_t limit;
    int64_t remaining; /* limit - used, never below 0 */
    uint64_t reset_ms; /* until the window is empty again */
};

/* All or nothing: when every check fits (used + min(cost, limit) <= limit),
 * charges each cost at now_ms and returns true; else charges nothing and sets
 * *retry_ms to when every check would fit. state[i] (may be NULL) gets each
 * counter's state after the decision. */
bool tg_limits_admit(struct tg_limit_check *checks, size_t n, uint64_t now_ms,
                     uint64_t *retry_ms, struct tg_limit_state *state);

/* SPEC section 8's estimate of a request's tokens: prompt bytes / 4 plus the
 * answer's max_tokens (default_out when the request sets none). */
int64_t tg_limits_estimate_tokens(size_t prompt_bytes, int64_t max_tokens, int64_t default_out);

#endif

/* Circuit breaker of one deployment (SPEC section 4 and [breaker]).
 *
 *   CLOSED    --failure_threshold consecutive failures, or error_rate over
 *               window_ms once it holds min_requests attempts-->  OPEN
 *   OPEN      --cooldown elapsed, on the next admission question--> HALF_OPEN
 *   HALF_OPEN --a probe answers (even slow or invalid)--> CLOSED (cooldown back
 *               to cooldown_ms)
 *             --a probe fails-->   OPEN with the cooldown doubled (<= max_cooldown_ms)
 *   any       --quota or auth failure--> OPEN for quota_cooldown_ms (no doubling)
 *
 * Verdicts (SPEC section 4): a FAILURE (down, broken, slow) counts toward
 * both rules. A SUSPECT answer (one that failed validation) says as much
 * about the client's prompt as about the deployment: it counts toward
 * error_rate only, never toward the consecutive count, and once per request
 * (a request whose prompt gets prose three times is one piece of evidence,
 * not three). The error_rate rule opens on a SUSPECT verdict only when the
 * window's suspect answers come from TG_BREAKER_SUSPECT_SOURCES different
 * requests, so no single client can take a deployment down with its own
 * prompts. A verdict recorded with may_open false (the deployment is the
 * last one that can serve the request: a slow or invalid answer beats a 503)
 * is counted but never opens the breaker, nor re-opens it from half-open.
 *
 * Half-open admits at most half_open_probes concurrent probe attempts. Each
 * half-open period has its own ticket: a probe from an earlier period that
 * ends late (a long stream) neither decides nor frees a slot of this one.
 * Pure: time comes in as now_ms. */
#ifndef TG_ROUTE_BREAKER_H
#define TG_ROUTE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

enum tg_breaker_state { TG_BREAKER_CLOSED = 0, TG_BREAKER_HALF_OPEN, TG_BREAKER_OPEN };

#define TG_BREAKER_BUCKETS 20 /* the window, in slices of window_ms / 20 */
/* Suspect answers remembered by request, for the once-per-request count
 * and the distinct-requests rule. */
#define TG_BREAKER_SUSPECTS 8
#define TG_BREAKER_SUSPECT_SOURCES 3

enum tg_breaker_verdict {
    TG_BREAKER_SUCCESS = 0,
    TG_BREAKER_FAILURE, /* transport, timeout, 429, 5xx, slow */
    TG_BREAKER_SUSPECT, /* invalid answer: error_rate only, once per request */
};

struct tg_breaker {
    enum tg_breaker_state state;
    uint32_t consecutive;
    uint64_t open_until_ms;
    uint64_t cooldown_ms; /* of the current or next opening */
    uint32_t probes;      /* probe attempts in flight while half-open */
    uint32_t epoch;       /* half-open periods so far: the probe ticket */
    uint64_t opens_total;
    uint64_t bucket_start[TG_BREAKER_BUCKETS];
    uint32_t bucket_total[TG_BREAKER_BUCKETS];
    uint32_t bucket_failed[TG_BREAKER_BUCKETS];
    struct {
        uint64_t request; /* the caller's request key; 0: free */
        uint64_t at_ms;
    } suspects[TG_BREAKER_SUSPECTS]; /* the most recent, a ring */
    uint32_t suspect_next;
};

void tg_breaker_init(struct tg_breaker *b, const struct tg_breaker_cfg *cfg);

/* Whether a new attempt may go to the deployment now; moves OPEN to
 * HALF_OPEN when the cooldown is over. *probe is 0 for an ordinary attempt,
 * else the ticket of a half-open probe (pass it back to record/release). */
bool tg_breaker_admit(struct tg_breaker *b, const struct tg_breaker_cfg *cfg, uint64_t now_ms,
                      uint32_t *probe);
/* Like admit, without changing anything. */
bool tg_breaker_would_admit(const struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                            uint64_t now_ms);
/* The verdict on a finished attempt of request `request` (a key unique
 * among the caller's requests, never 0). */
void tg_breaker_record(struct tg_breaker *b, const struct tg_breaker_cfg *cfg, uint64_t now_ms,
                       enum tg_breaker_verdict verdict, bool may_open, uint64_t request,
                       uint32_t probe);
/* A probe ended without a verdict (cancelled): frees its slot. */
void tg_breaker_release_probe(struct tg_breaker *b, uint32_t probe);
/* Quota or auth: out of rotation for quota_cooldown_ms. */
void tg_breaker_force_open(struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                           uint64_t now_ms);
/* The state as /status and metrics should show it at now_ms. */
enum tg_breaker_state tg_breaker_state(const struct tg_breaker *b, uint64_t now_ms);
/* Attempts and failures over the window. */
void tg_breaker_window(const struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                       uint64_t now_ms, uint64_t *total, uint64_t *failed);

const char *tg_breaker_state_name(enum tg_breaker_state s);

#endif

/* Where the gateway's counters live: counters keyed by name and period
 * ("rpm:team-a" and "tpm:team-a" over a sliding minute, "spend:team-a" and
 * the gateway's "spend" over the clock hour). One small interface, so the
 * local store of today and a shared (Redis) store later are interchangeable
 * and no caller knows which it talks to. Every operation maps onto a shared
 * store's counters: an hour counter is one integer per (name, UTC hour)
 * (INCRBY on "name:HOUR", expiring after the hour), a minute counter one per
 * (name, second).
 *
 * Units are the caller's and integers: requests, tokens, and for spend
 * nano-USD (1e-9 USD), so sums are exact and a shared store's INCRBY works.
 * Clocks are wall-clock ms since the Unix epoch (tg_wall_ms()): clock hours
 * are UTC hours, and every admission and settlement uses the same clock.
 *
 * admit() may complete later (a shared store after one round trip), so it
 * answers through a callback, exactly once, and always: a store that cannot
 * reach its backend decides locally rather than leave a request waiting.
 * The local store calls back before admit() returns; a shared one within its
 * call timeout, so a requester waits for its answer. settle() and peek()
 * never wait: settlement is fire-and-forget, peek reads what the store knows
 * now (for /status). Counter names and the admission's checks are copied;
 * the caller's memory is not kept. */
#ifndef TG_LIMITS_STORE_H
#define TG_LIMITS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "route/ratelimit.h"

#define TG_LIMIT_MAX_CHECKS 4

/* One counter to check and charge: `cost` against `limit` (> 0) over the
 * window of counter (`name`, `period`). An hour counter's charge is a
 * reservation until it is settled; hold_ms is how long a shared store keeps
 * it when it never is (the instance that made it died): past the request's
 * deadline, so a crash cannot hold a cap until the hour ends. */
struct tg_limit_want {
    const char *name;
    enum tg_limit_period period;
    int64_t limit;
    int64_t cost;
    uint64_t hold_ms;
};

struct tg_admission {
    bool admitted;             /* every counter charged; else none was */
    bool shared;               /* decided by the shared store (else on local state) */
    uint64_t retry_after_ms;   /* refused: when it would fit */
    uint64_t at_ms;            /* the clock the decision was made at (for settle) */
    uint64_t ticket;           /* names its reservations in a shared store */
    size_t n;
    struct tg_limit_state state[TG_LIMIT_MAX_CHECKS]; /* in the order of the wants */
};

typedef void (*tg_admit_cb)(void *ctx, const struct tg_admission *result);

struct tg_limit_store;

struct tg_limit_store_ops {
    /* Checks every want (n <= TG_LIMIT_MAX_CHECKS) and charges all or none;
     * the result comes through cb(ctx, ...), exactly once. */
    void (*admit)(struct tg_limit_store *s, const struct tg_limit_want *wants, size_t n,
                  uint64_t now_ms, tg_admit_cb cb, void *ctx);
    /* Adds delta (negative: returns) to counter (`name`, `period`) for
     * admission adm, which charged it `charged` (adm NULL: nothing was
     * charged, delta counts at now_ms), by tg_counter_add()'s rules: what was
     * charged to a window that is over is not returned, more than was
     * charged counts now. An hour counter's reservation ends here. */
    void (*settle)(struct tg_limit_store *s, const char *name, enum tg_limit_period period,
                   const struct tg_admission *adm, int64_t charged, uint64_t now_ms,
                   int64_t delta);
    /* What counter (`name`, `period`) holds in its window now (0 when unknown). */
    int64_t (*peek)(struct tg_limit_store *s, const char *name, enum tg_limit_period period,
                    uint64_t now_ms);
    void (*free)(struct tg_limit_store *s);
};

struct tg_limit_store {
    const struct tg_limit_store_ops *ops;
};

static inline void tg_limit_admit(struct tg_limit_store *s, const struct tg_limit_want *wants,
                                  size_t n, uint64_t now_ms, tg_admit_cb cb, void *ctx)
{
    s->ops->admit(s, wants, n, now_ms, cb, ctx);
}

static inline void tg_limit_settle(struct tg_limit_store *s, const char *name,
                                   enum tg_limit_period period, const struct tg_admission *adm,
                                   int64_t charged, uint64_t now_ms, int64_t delta)
{
    s->ops->settle(s, name, period, adm, charged, now_ms, delta);
}

static inline int64_t tg_limit_peek(struct tg_limit_store *s, const char *name,
                                    enum tg_limit_period period, uint64_t now_ms)
{
    return s->ops->peek(s, name, period, now_ms);
}

static inline void tg_limit_store_free(struct tg_limit_store *s)
{
    if (s)
        s->ops->free(s);
}

/* The name of `owner`'s counter of `kind` ("rpm:team-a"): one spelling
 * for everyone who charges, settles or reads it. */
static inline void tg_limit_counter_name(struct tg_buf *b, const char *kind, const char *owner)
{
    tg_buf_reset(b);
    tg_buf_printf(b, "%s:%s", kind, owner);
}

/* The gateway's own spend counter (SPEC section 8 `[budget] usd_per_hour`):
 * no key's counter ("spend:NAME") can be spelled this way. */
#define TG_LIMIT_GATEWAY_SPEND "spend"

/* The same, as a new string (owned by the caller): keys spell theirs once. */
static inline char *tg_limit_counter_dup(const char *kind, const char *owner)
{
    struct tg_buf b = TG_BUF_INIT;
    tg_limit_counter_name(&b, kind, owner);
    return tg_buf_steal(&b, NULL);
}

/* The in-process store: counters in a hash table by name and period, created
 * on first use; a counter whose window is empty is dropped when the table
 * would grow, so names no longer configured do not pile up. */
struct tg_limit_store *tg_limit_store_local_new(void);

#endif

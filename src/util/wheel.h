/* Hierarchical timer wheel: every backoff wait, hedge delay, deadline,
 * cooldown and connection timeout in tailgate lives here. Insert and cancel
 * are O(1); advancing the clock touches only occupied slots.
 *
 * Pure: it never reads a clock. The owner passes the time in (tg_wheel_run)
 * and asks when to wake next (tg_wheel_next); core/loop.c drives it with one
 * uv_timer, the unit tests with a fake clock. Resolution is 1 ms. */
#ifndef TG_UTIL_WHEEL_H
#define TG_UTIL_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/list.h"

#define TG_WHEEL_BITS 6
#define TG_WHEEL_SLOTS (1u << TG_WHEEL_BITS)
#define TG_WHEEL_LEVELS 7 /* 42 bits of milliseconds: about 139 years */

#define TG_TIMER_IDLE (-1)
#define TG_TIMER_DUE (-2) /* taken out of its slot by tg_wheel_run, about to fire */

struct tg_timer;
typedef void (*tg_timer_cb)(struct tg_timer *t);

struct tg_timer {
    struct tg_list link;
    uint64_t expire_ms;
    tg_timer_cb cb;
    int16_t bucket; /* level * SLOTS + slot while in a slot, or TG_TIMER_IDLE / TG_TIMER_DUE */
};

struct tg_wheel {
    uint64_t now_ms;
    uint64_t run_to_ms; /* during tg_wheel_run: the time it advances to */
    size_t count;
    uint64_t occupied[TG_WHEEL_LEVELS]; /* bit s: slots[level][s] is non-empty */
    struct tg_list slots[TG_WHEEL_LEVELS][TG_WHEEL_SLOTS];
};

void tg_wheel_init(struct tg_wheel *w, uint64_t now_ms);
void tg_timer_init(struct tg_timer *t, tg_timer_cb cb);
static inline bool tg_timer_pending(const struct tg_timer *t)
{
    return t->bucket != TG_TIMER_IDLE;
}

/* Arms t to fire at expire_ms (re-arms it if pending). A time not after the
 * wheel's present fires on the next millisecond, never inside the call that
 * armed it; armed from a callback of tg_wheel_run, a time not after the
 * run's end fires in the next run. So a callback that re-arms itself cannot
 * spin. Times beyond 2^42 ms ahead are clamped. */
void tg_wheel_add(struct tg_wheel *w, struct tg_timer *t, uint64_t expire_ms);
/* Disarms t; a no-op when it is idle. */
void tg_wheel_cancel(struct tg_wheel *w, struct tg_timer *t);
/* Advances the wheel to now_ms, firing every timer due by then in order of
 * expiry (ties in arming order). Returns how many fired. */
size_t tg_wheel_run(struct tg_wheel *w, uint64_t now_ms);
/* The earliest time at which tg_wheel_run has work: exact when the earliest
 * timer is in the present's 64 ms block (level 0), otherwise a lower bound (a
 * cascade point, at most 64 ms early for a timer in the next block).
 * UINT64_MAX when empty. */
uint64_t tg_wheel_next(const struct tg_wheel *w);
static inline size_t tg_wheel_count(const struct tg_wheel *w)
{
    return w->count;
}

#endif

/* struct tg_loop: the one event loop of a tailgate process. It owns the libuv
 * loop, the timer wheel (driven by a single uv_timer), the queue of deferred
 * callbacks and the process's random source. Logic reads time only through
 * tg_now(). */
#ifndef TG_CORE_LOOP_H
#define TG_CORE_LOOP_H

#include <stdint.h>
#include <uv.h>

#include "util/list.h"
#include "util/rand.h"
#include "util/wheel.h"

struct tg_deferred;
typedef void (*tg_deferred_cb)(struct tg_deferred *d);

/* A callback to run on the next loop iteration, outside the current call
 * stack (STYLE: never complete work inside the call that started it). */
struct tg_deferred {
    struct tg_list link;
    tg_deferred_cb cb;
};

struct tg_loop {
    uv_loop_t *uv;
    struct tg_wheel wheel;
    uv_timer_t wheel_timer;
    uint64_t wheel_armed_ms; /* when wheel_timer fires; UINT64_MAX when stopped */
    uv_idle_t defer_idle;
    struct tg_list deferred;
    struct tg_rand rand;
};

int tg_loop_init(struct tg_loop *loop, uv_loop_t *uv, uint64_t seed);
/* Closes the loop's own handles; run the uv loop once more to finish. */
void tg_loop_close(struct tg_loop *loop);

static inline uint64_t tg_now(const struct tg_loop *loop)
{
    return uv_now(loop->uv);
}

/* Wall-clock ms since the Unix epoch (CLOCK_REALTIME). The limit store's
 * clock: spend caps count clock hours (UTC), and every admission and
 * settlement reads this one so all counters share it. Not monotonic: timers
 * and durations use tg_now(). */
uint64_t tg_wall_ms(void);

void tg_timer_start(struct tg_loop *loop, struct tg_timer *t, uint64_t delay_ms);
void tg_timer_start_at(struct tg_loop *loop, struct tg_timer *t, uint64_t at_ms);
void tg_timer_stop(struct tg_loop *loop, struct tg_timer *t);

void tg_deferred_init(struct tg_deferred *d, tg_deferred_cb cb);
/* Queues d (a no-op when already queued). */
void tg_defer(struct tg_loop *loop, struct tg_deferred *d);
void tg_defer_cancel(struct tg_deferred *d);
static inline int tg_deferred_queued(const struct tg_deferred *d)
{
    return tg_list_linked(&d->link);
}

#endif

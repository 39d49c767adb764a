/* The loop's timer wheel driver and deferred-callback queue (see loop.h). */
#include "core/loop.h"

#include <string.h>
#include <time.h>

uint64_t tg_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_wheel_timer(uv_timer_t *h);

static void rearm(struct tg_loop *loop)
{
    uint64_t next = tg_wheel_next(&loop->wheel);
    if (next == UINT64_MAX) {
        uv_timer_stop(&loop->wheel_timer);
        loop->wheel_armed_ms = UINT64_MAX;
        return;
    }
    uint64_t now = tg_now(loop);
    uv_timer_start(&loop->wheel_timer, on_wheel_timer, next > now ? next - now : 0, 0);
    loop->wheel_armed_ms = next;
}

static void on_wheel_timer(uv_timer_t *h)
{
    struct tg_loop *loop = tg_container_of(h, struct tg_loop, wheel_timer);
    loop->wheel_armed_ms = UINT64_MAX;
    tg_wheel_run(&loop->wheel, tg_now(loop));
    rearm(loop);
}

static void on_defer_idle(uv_idle_t *h)
{
    struct tg_loop *loop = tg_container_of(h, struct tg_loop, defer_idle);
    /* Only what was queued before this pass runs now; what the callbacks
     * queue waits for the next pass. */
    struct tg_list batch;
    tg_list_init(&batch);
    tg_list_splice_back(&batch, &loop->deferred);
    while (!tg_list_empty(&batch)) {
        struct tg_deferred *d = tg_container_of(tg_list_first(&batch), struct tg_deferred, link);
        tg_list_remove(&d->link);
        d->cb(d);
    }
    if (tg_list_empty(&loop->deferred))
        uv_idle_stop(&loop->defer_idle);
}

int tg_loop_init(struct tg_loop *loop, uv_loop_t *uv, uint64_t seed)
{
    memset(loop, 0, sizeof(*loop));
    loop->uv = uv;
    uv_update_time(uv);
    tg_wheel_init(&loop->wheel, uv_now(uv));
    int rc = uv_timer_init(uv, &loop->wheel_timer);
    if (rc < 0)
        return rc;
    rc = uv_idle_init(uv, &loop->defer_idle);
    if (rc < 0) {
        uv_close((uv_handle_t *)&loop->wheel_timer, NULL);
        return rc;
    }
    loop->wheel_armed_ms = UINT64_MAX;
    tg_list_init(&loop->deferred);
    tg_rand_seed(&loop->rand, seed);
    return 0;
}

void tg_loop_close(struct tg_loop *loop)
{
    uv_timer_stop(&loop->wheel_timer);
    uv_close((uv_handle_t *)&loop->wheel_timer, NULL);
    uv_idle_stop(&loop->defer_idle);
    uv_close((uv_handle_t *)&loop->defer_idle, NULL);
}

void tg_timer_start_at(struct tg_loop *loop, struct tg_timer *t, uint64_t at_ms)
{
    tg_wheel_add(&loop->wheel, t, at_ms);
    if (t->expire_ms < loop->wheel_armed_ms)
        rearm(loop);
}

void tg_timer_start(struct tg_loop *loop, struct tg_timer *t, uint64_t delay_ms)
{
    tg_timer_start_at(loop, t, tg_now(loop) + delay_ms);
}

void tg_timer_stop(struct tg_loop *loop, struct tg_timer *t)
{
    /* The uv timer may now wake early for nothing; it re-arms itself then. */
    tg_wheel_cancel(&loop->wheel, t);
}

void tg_deferred_init(struct tg_deferred *d, tg_deferred_cb cb)
{
    tg_list_init(&d->link);
    d->cb = cb;
}

void tg_defer(struct tg_loop *loop, struct tg_deferred *d)
{
    if (tg_deferred_queued(d))
        return;
    if (tg_list_empty(&loop->deferred))
        uv_idle_start(&loop->defer_idle, on_defer_idle);
    tg_list_push_back(&loop->deferred, &d->link);
}

void tg_defer_cancel(struct tg_deferred *d)
{
    if (tg_deferred_queued(d))
        tg_list_remove(&d->link);
}

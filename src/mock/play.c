/* Timed delivery of a mock plan (see play.h). */
#include "mock/play.h"

#include <math.h>

/* No more timers or passes: the play is over, however it ended. */
static void play_stop(struct tg_mock_play *p)
{
    tg_timer_stop(p->loop, &p->timer);
    tg_defer_cancel(&p->kick);
    p->state = TG_MOCK_PLAY_DONE;
    p->mock->stats.inflight--;
}

static void play_finish(struct tg_mock_play *p, bool reset)
{
    play_stop(p);
    if (reset)
        p->mock->stats.resets++;
    else
        p->mock->stats.completed++;
    const struct tg_mock_sink *sink = p->sink;
    void *ctx = p->ctx;
    tg_mock_plan_free(&p->plan);
    if (reset)
        sink->reset(ctx); /* may free p */
    else
        sink->end(ctx); /* may free p */
}

/* Delivers body bytes [p->sent, upto), honouring reset_after_bytes.
 * Returns false when the answer was cut or cancelled (and p may be gone:
 * callers return at once). A cancelled play stays allocated by its owner
 * until the sink call returns, so reading p->state here is safe. */
static bool deliver(struct tg_mock_play *p, size_t upto)
{
    int64_t limit = p->plan.reset_after_bytes;
    bool cut = limit >= 0 && (int64_t)upto > limit;
    if (cut)
        upto = (size_t)limit;
    if (upto > p->sent) {
        size_t from = p->sent;
        p->sent = upto;
        p->sink->data(p->ctx, p->plan.body.data + from, upto - from);
        if (p->state == TG_MOCK_PLAY_DONE)
            return false; /* the sink cancelled us */
    }
    if (cut) {
        play_finish(p, true);
        return false;
    }
    return true;
}

static uint64_t due_at(const struct tg_mock_play *p, double offset_ms)
{
    return p->start_ms + (uint64_t)llround(offset_ms < 0 ? 0 : offset_ms);
}

static void play_step(struct tg_mock_play *p)
{
    uint64_t now = tg_now(p->loop);
    struct tg_mock_plan *plan = &p->plan;
    if (p->state == TG_MOCK_PLAY_WAITING) {
        if (now < due_at(p, plan->delay_ms)) {
            tg_timer_start_at(p->loop, &p->timer, due_at(p, plan->delay_ms));
            return;
        }
        if (plan->hang && !plan->stream) {
            p->state = TG_MOCK_PLAY_HANGING; /* until the receiver gives up */
            return;
        }
        if (plan->reset_after_bytes == 0) {
            play_finish(p, true); /* broken before a single byte */
            return;
        }
        p->sink->head(p->ctx, plan->status, plan->headers.data, plan->headers.len, plan->stream,
                      plan->body.len);
        if (p->state == TG_MOCK_PLAY_DONE)
            return; /* the sink cancelled us */
        if (!plan->stream) {
            if (deliver(p, plan->body.len))
                play_finish(p, false);
            return;
        }
        p->state = TG_MOCK_PLAY_STREAMING;
    }
    if (p->state != TG_MOCK_PLAY_STREAMING)
        return;
    while (p->next_piece < plan->n_pieces && !p->paused) {
        if (plan->hang && p->next_piece >= plan->hang_after) {
            p->state = TG_MOCK_PLAY_HANGING;
            return;
        }
        const struct tg_mock_piece *piece = &plan->pieces[p->next_piece];
        uint64_t at = due_at(p, plan->delay_ms > piece->at_ms ? plan->delay_ms : piece->at_ms);
        if (at > now) {
            tg_timer_start_at(p->loop, &p->timer, at);
            return;
        }
        p->next_piece++;
        if (!deliver(p, piece->end))
            return;
    }
    if (p->next_piece >= plan->n_pieces && !p->paused) {
        if (plan->hang) {
            p->state = TG_MOCK_PLAY_HANGING;
            return;
        }
        play_finish(p, false);
    }
}

static void on_play_timer(struct tg_timer *t)
{
    play_step(tg_container_of(t, struct tg_mock_play, timer));
}

static void on_play_kick(struct tg_deferred *d)
{
    play_step(tg_container_of(d, struct tg_mock_play, kick));
}

void tg_mock_play_start(struct tg_mock_play *p, struct tg_loop *loop, struct tg_mock *mock,
                        enum tg_mock_api api, const char *body, size_t len,
                        const struct tg_mock_sink *sink, void *ctx)
{
    p->loop = loop;
    p->mock = mock;
    p->sink = sink;
    p->ctx = ctx;
    p->state = TG_MOCK_PLAY_WAITING;
    p->start_ms = tg_now(loop);
    p->next_piece = 0;
    p->sent = 0;
    p->paused = false;
    tg_timer_init(&p->timer, on_play_timer);
    tg_deferred_init(&p->kick, on_play_kick);
    tg_mock_plan(mock, api, body, len, &p->plan);
    tg_mock_count_status(mock, p->plan.status);
    mock->stats.inflight++;
    /* Even a 0 ms answer arrives on a later loop pass, never inside this call. */
    if (due_at(p, p->plan.delay_ms) <= p->start_ms)
        tg_defer(loop, &p->kick);
    else
        tg_timer_start_at(loop, &p->timer, due_at(p, p->plan.delay_ms));
}

void tg_mock_play_cancel(struct tg_mock_play *p)
{
    if (p->state == TG_MOCK_PLAY_DONE)
        return;
    play_stop(p);
    p->mock->stats.cancelled++;
    tg_mock_plan_free(&p->plan);
}

void tg_mock_play_pause(struct tg_mock_play *p)
{
    p->paused = true;
}

void tg_mock_play_resume(struct tg_mock_play *p)
{
    if (!p->paused)
        return;
    p->paused = false;
    if (p->state == TG_MOCK_PLAY_STREAMING)
        play_step(p);
}

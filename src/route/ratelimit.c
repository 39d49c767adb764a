/* Minute and hour windows, and admission (see ratelimit.h). */
#include "route/ratelimit.h"

#define SECOND_MS 1000u

/* Whether bucket i counts a second still in the window at now_s; *sec gets it. */
static bool bucket_live(const struct tg_window *w, size_t i, uint64_t now_s, uint64_t *sec)
{
    if (w->second[i] == 0)
        return false;
    uint64_t s = w->second[i] - 1;
    *sec = s;
    return s <= now_s && s + TG_WINDOW_SECONDS > now_s;
}

int64_t tg_window_used(const struct tg_window *w, uint64_t now_ms)
{
    uint64_t now_s = now_ms / SECOND_MS, s;
    int64_t sum = 0;
    for (size_t i = 0; i < TG_WINDOW_SECONDS; i++)
        if (bucket_live(w, i, now_s, &s))
            sum += w->count[i];
    return sum > 0 ? sum : 0;
}

bool tg_window_add_second(uint64_t at_ms, uint64_t now_ms, int64_t n, uint64_t *second)
{
    uint64_t now_s = now_ms / SECOND_MS, at_s = at_ms / SECOND_MS;
    if (at_s > now_s)
        at_s = now_s;
    if (at_s + TG_WINDOW_SECONDS <= now_s) {
        if (n <= 0)
            return false;
        at_s = now_s;
    }
    *second = at_s;
    return true;
}

void tg_window_add(struct tg_window *w, uint64_t at_ms, uint64_t now_ms, int64_t n)
{
    uint64_t at_s;
    if (!tg_window_add_second(at_ms, now_ms, n, &at_s))
        return;
    size_t i = at_s % TG_WINDOW_SECONDS;
    if (w->second[i] != at_s + 1) { /* the bucket held a second that has left the window */
        w->second[i] = at_s + 1;
        w->count[i] = 0;
    }
    w->count[i] += n;
}

/* The counts of the live seconds, oldest first: out[k] counts second
 * now_s - 59 + k. */
static void live_counts(const struct tg_window *w, uint64_t now_s, int64_t out[TG_WINDOW_SECONDS])
{
    uint64_t s;
    for (size_t k = 0; k < TG_WINDOW_SECONDS; k++)
        out[k] = 0;
    for (size_t i = 0; i < TG_WINDOW_SECONDS; i++)
        if (bucket_live(w, i, now_s, &s))
            out[s + TG_WINDOW_SECONDS - 1 - now_s] = w->count[i];
}

/* When second now_s - 59 + k leaves the window, in ms from now_ms. */
static uint64_t expiry_in(uint64_t now_ms, size_t k)
{
    uint64_t now_s = now_ms / SECOND_MS;
    uint64_t sec = now_s + 1 + k - TG_WINDOW_SECONDS;
    return (sec + TG_WINDOW_SECONDS) * SECOND_MS - now_ms;
}

uint64_t tg_window_wait_ms(const struct tg_window *w, uint64_t now_ms, int64_t limit,
                           int64_t need)
{
    if (need > limit)
        need = limit;
    /* One pass in the common case: it fits. */
    if (tg_window_used(w, now_ms) + need <= limit)
        return 0;
    int64_t counts[TG_WINDOW_SECONDS];
    live_counts(w, now_ms / SECOND_MS, counts);
    int64_t used = 0;
    for (size_t k = 0; k < TG_WINDOW_SECONDS; k++)
        used += counts[k];
    for (size_t k = 0; k < TG_WINDOW_SECONDS; k++) {
        used -= counts[k];
        if (used + need <= limit)
            return expiry_in(now_ms, k);
    }
    return expiry_in(now_ms, TG_WINDOW_SECONDS - 1);
}

/* ---- clock hours ---- */

/* The hour now_ms falls in, +1 (the window's spelling). */
static uint64_t hour_of(uint64_t ms)
{
    return ms / TG_HOUR_MS + 1;
}

static uint64_t to_hour_end(uint64_t now_ms)
{
    return TG_HOUR_MS - now_ms % TG_HOUR_MS;
}

int64_t tg_hour_used(const struct tg_hour_window *w, uint64_t now_ms)
{
    return w->hour == hour_of(now_ms) && w->count > 0 ? w->count : 0;
}

void tg_hour_add(struct tg_hour_window *w, uint64_t at_ms, uint64_t now_ms, int64_t n)
{
    uint64_t now_h = hour_of(now_ms), at_h = hour_of(at_ms);
    if (at_h != now_h) {
        if (n <= 0)
            return;
        at_h = now_h;
    }
    if (w->hour != at_h) { /* the window held an hour that is over */
        w->hour = at_h;
        w->count = 0;
    }
    w->count += n;
}

uint64_t tg_hour_wait_ms(const struct tg_hour_window *w, uint64_t now_ms, int64_t limit,
                         int64_t need)
{
    return tg_hour_used(w, now_ms) + need <= limit ? 0 : to_hour_end(now_ms);
}

/* ---- either period ---- */

int64_t tg_counter_used(const struct tg_counter *c, uint64_t now_ms)
{
    return c->period == TG_PERIOD_HOUR ? tg_hour_used(&c->u.hour, now_ms)
                                       : tg_window_used(&c->u.minute, now_ms);
}

void tg_counter_add(struct tg_counter *c, uint64_t at_ms, uint64_t now_ms, int64_t n)
{
    if (c->period == TG_PERIOD_HOUR)
        tg_hour_add(&c->u.hour, at_ms, now_ms, n);
    else
        tg_window_add(&c->u.minute, at_ms, now_ms, n);
}

uint64_t tg_counter_wait_ms(const struct tg_counter *c, uint64_t now_ms, int64_t limit,
                            int64_t need)
{
    return c->period == TG_PERIOD_HOUR ? tg_hour_wait_ms(&c->u.hour, now_ms, limit, need)
                                       : tg_window_wait_ms(&c->u.minute, now_ms, limit, need);
}

/* Until the newest second with something in it leaves the window: looked
 * for from now backwards, so a busy window answers at its first bucket. */
static uint64_t reset_ms(const struct tg_window *w, uint64_t now_ms)
{
    uint64_t now_s = now_ms / SECOND_MS;
    for (size_t back = 0; back < TG_WINDOW_SECONDS && back <= now_s; back++) {
        uint64_t s = now_s - back;
        size_t i = s % TG_WINDOW_SECONDS;
        if (w->second[i] == s + 1 && w->count[i] > 0)
            return expiry_in(now_ms, TG_WINDOW_SECONDS - 1 - back);
    }
    return 0;
}

/* Until the counter is empty again. */
static uint64_t counter_reset_ms(const struct tg_counter *c, uint64_t now_ms)
{
    if (c->period == TG_PERIOD_MINUTE)
        return reset_ms(&c->u.minute, now_ms);
    return tg_hour_used(&c->u.hour, now_ms) > 0 ? to_hour_end(now_ms) : 0;
}

bool tg_limits_admit(struct tg_limit_check *checks, size_t n, uint64_t now_ms,
                     uint64_t *retry_ms, struct tg_limit_state *state)
{
    bool fits = true;
    uint64_t wait = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = tg_counter_wait_ms(checks[i].counter, now_ms, checks[i].limit,
                                        checks[i].cost);
        if (w > 0)
            fits = false;
        if (w > wait)
            wait = w;
    }
    for (size_t i = 0; i < n; i++) {
        if (fits)
            tg_counter_add(checks[i].counter, now_ms, now_ms, checks[i].cost);
        if (state) {
            int64_t left = checks[i].limit - tg_counter_used(checks[i].counter, now_ms);
            state[i] = (struct tg_limit_state){checks[i].limit, left > 0 ? left : 0,
                                               counter_reset_ms(checks[i].counter, now_ms)};
        }
    }
    if (retry_ms)
        *retry_ms = fits ? 0 : wait;
    return fits;
}

int64_t tg_limits_estimate_tokens(size_t prompt_bytes, int64_t max_tokens, int64_t default_out)
{
    return (int64_t)(prompt_bytes / 4) + (max_tokens >= 0 ? max_tokens : default_out);
}

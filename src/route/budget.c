/* Retry budget (see budget.h). */
#include "route/budget.h"

#include <string.h>

static uint32_t *slot(struct tg_budget *b, uint32_t *arr, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000;
    size_t i = (size_t)(sec % TG_BUDGET_SLOTS);
    if (b->slot_second[i] != sec) {
        b->slot_second[i] = sec;
        b->firsts[i] = 0;
        b->extras[i] = 0;
    }
    return &arr[i];
}

static void window_totals(const struct tg_budget *b, uint64_t now_ms, uint64_t *firsts,
                          uint64_t *extras)
{
    uint64_t sec = now_ms / 1000;
    *firsts = *extras = 0;
    for (size_t i = 0; i < TG_BUDGET_SLOTS; i++) {
        if (b->slot_second[i] + TG_BUDGET_SLOTS > sec && b->slot_second[i] <= sec) {
            *firsts += b->firsts[i];
            *extras += b->extras[i];
        }
    }
}

void tg_budget_init(struct tg_budget *b, uint64_t now_ms)
{
    memset(b, 0, sizeof(*b));
    for (size_t i = 0; i < TG_BUDGET_SLOTS; i++)
        b->slot_second[i] = UINT64_MAX;
    b->floor_at_ms = now_ms;
    b->floor_tokens = 1e18; /* starts full: clamped to budget_min_per_s on first use */
}

void tg_budget_first(struct tg_budget *b, uint64_t now_ms)
{
    (*slot(b, b->firsts, now_ms))++;
}

static void refill_floor(struct tg_budget *b, uint64_t now_ms, double min_per_s)
{
    if (now_ms > b->floor_at_ms) {
        b->floor_tokens += (double)(now_ms - b->floor_at_ms) / 1000.0 * min_per_s;
        b->floor_at_ms = now_ms;
    }
    /* At least one token fits, so a fractional floor (0.5/s) still grants
     * a retry every other second. */
    double cap = min_per_s > 1.0 ? min_per_s : (min_per_s > 0 ? 1.0 : 0.0);
    if (b->floor_tokens > cap)
        b->floor_tokens = cap;
}

bool tg_budget_can_spend(struct tg_budget *b, uint64_t now_ms, double ratio, double min_per_s)
{
    uint64_t firsts, extras;
    refill_floor(b, now_ms, min_per_s);
    window_totals(b, now_ms, &firsts, &extras);
    return (double)(extras + 1) <= ratio * (double)firsts + 1e-9 || b->floor_tokens >= 1.0;
}

bool tg_budget_spend(struct tg_budget *b, uint64_t now_ms, double ratio, double min_per_s)
{
    uint64_t firsts, extras;
    refill_floor(b, now_ms, min_per_s);
    window_totals(b, now_ms, &firsts, &extras);
    if ((double)(extras + 1) <= ratio * (double)firsts + 1e-9) { /* 0.29 * 100 is 28.999... */
        (*slot(b, b->extras, now_ms))++;
        return true;
    }
    if (b->floor_tokens >= 1.0) {
        b->floor_tokens -= 1.0;
        return true;
    }
    return false;
}

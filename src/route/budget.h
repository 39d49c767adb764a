/* Retry budget of one deployment (SPEC [retry] budget_ratio, budget_min_per_s):
 * retries and hedges sent to it stay under budget_ratio of its first attempts
 * over the last 10 seconds, plus a floor of budget_min_per_s per second that
 * is always allowed. When it is empty, a request moves on rather than
 * retrying: a failing deployment cannot multiply its own load. Pure. */
#ifndef TG_ROUTE_BUDGET_H
#define TG_ROUTE_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define TG_BUDGET_SLOTS 10 /* one-second slots: a 10 s window */

struct tg_budget {
    uint64_t slot_second[TG_BUDGET_SLOTS];
    uint32_t firsts[TG_BUDGET_SLOTS];
    uint32_t extras[TG_BUDGET_SLOTS];
    double floor_tokens;
    uint64_t floor_at_ms;
};

void tg_budget_init(struct tg_budget *b, uint64_t now_ms);
/* A first attempt was sent: it earns budget_ratio of a retry. */
void tg_budget_first(struct tg_budget *b, uint64_t now_ms);
/* Asks to send a retry or hedge; true (and spent) when the budget allows. */
bool tg_budget_spend(struct tg_budget *b, uint64_t now_ms, double ratio, double min_per_s);
/* Without spending: would a spend succeed? */
bool tg_budget_can_spend(struct tg_budget *b, uint64_t now_ms, double ratio, double min_per_s);

#endif

/* A deployment's runtime state: its breaker, retry budget, hedge ratio,
 * latency histograms, rate-limit cooldown, learned context window and
 * in-flight count. Keyed by
 * deployment name and shared by config generations, so a reload keeps what
 * tailgate has learned about each deployment. Pure (no I/O). */
#ifndef TG_ROUTE_DEP_H
#define TG_ROUTE_DEP_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "route/breaker.h"
#include "route/budget.h"
#include "route/context.h"
#include "route/health.h"
#include "util/hist.h"

struct tg_dep {
    char *name;
    int refs;
    struct tg_breaker breaker;
    struct tg_budget budget;       /* retries and hedges vs first attempts */
    struct tg_budget hedge_ratio;  /* hedges vs first attempts (hedge.max_ratio) */
    struct tg_hist latency;        /* full answers */
    struct tg_hist ttfb;           /* streams: time to first content chunk */
    struct tg_hist per_token;      /* full answers: time per output token */
    uint64_t inflight;
    uint64_t rate_limited_until_ms; /* no new first attempts before this, if others exist */
    struct tg_health health;        /* drives its share of the group (route/health.h) */
    struct tg_context_learned context; /* from its context-length errors (route/context.h) */
    struct tg_dep_quantiles {
        double p50_us, p90_us, p99_us;
        double weight;   /* recent samples behind them */
        uint64_t at_ms;  /* when computed; 0: never */
        uint64_t samples; /* the histogram's sample count then */
    } q_latency, q_ttfb, q_per_token;
};

struct tg_dep *tg_dep_new(const char *name, const struct tg_breaker_cfg *breaker, uint64_t now_ms);
void tg_dep_ref(struct tg_dep *d);
void tg_dep_unref(struct tg_dep *d);

enum tg_dep_hist { TG_DEP_LATENCY = 0, TG_DEP_TTFB, TG_DEP_PER_TOKEN };

/* p50/p90/p99 of full answers, of streams' first content, or of full
 * answers' time per output token. Computing them
 * scans the histogram, so the copy is refreshed at most every 250 ms once
 * there are many samples; with few, each new sample refreshes it. */
const struct tg_dep_quantiles *tg_dep_quantiles(struct tg_dep *d, enum tg_dep_hist which,
                                                uint64_t now_ms);

/* Name-keyed registry of live deployment states. */
struct tg_dep_registry {
    struct tg_dep **items;
    size_t len, cap;
};

/* The state for `name`, created when new; the caller gets a reference. */
struct tg_dep *tg_dep_registry_get(struct tg_dep_registry *r, const char *name,
                                   const struct tg_breaker_cfg *breaker, uint64_t now_ms);
/* Forgets states no runtime references any more (refs == 1: the registry's). */
void tg_dep_registry_prune(struct tg_dep_registry *r);
void tg_dep_registry_free(struct tg_dep_registry *r);

#endif

/* Deployment runtime state and its registry (see dep.h). */
#include "route/dep.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define HIST_TAU_MS 30000.0

struct tg_dep *tg_dep_new(const char *name, const struct tg_breaker_cfg *breaker, uint64_t now_ms)
{
    struct tg_dep *d = tg_xcalloc(1, sizeof(*d));
    d->name = tg_xstrdup(name);
    d->refs = 1;
    tg_breaker_init(&d->breaker, breaker);
    tg_budget_init(&d->budget, now_ms);
    tg_budget_init(&d->hedge_ratio, now_ms);
    tg_hist_init(&d->latency, now_ms, HIST_TAU_MS);
    tg_hist_init(&d->ttfb, now_ms, HIST_TAU_MS);
    tg_hist_init(&d->per_token, now_ms, HIST_TAU_MS);
    tg_health_init(&d->health);
    return d;
}

void tg_dep_ref(struct tg_dep *d)
{
    d->refs++;
}

void tg_dep_unref(struct tg_dep *d)
{
    if (d && --d->refs == 0) {
        free(d->name);
        free(d);
    }
}

const struct tg_dep_quantiles *tg_dep_quantiles(struct tg_dep *d, enum tg_dep_hist which,
                                                uint64_t now_ms)
{
    struct tg_dep_quantiles *q = &d->q_latency;
    const struct tg_hist *h = &d->latency;
    switch (which) {
    case TG_DEP_LATENCY:
        break;
    case TG_DEP_TTFB:
        q = &d->q_ttfb;
        h = &d->ttfb;
        break;
    case TG_DEP_PER_TOKEN:
        q = &d->q_per_token;
        h = &d->per_token;
        break;
    }
    bool few_and_new = h->samples < 256 && h->samples != q->samples;
    if (q->at_ms == 0 || now_ms >= q->at_ms + 250 || now_ms < q->at_ms || few_and_new) {
        static const double qs[3] = {0.5, 0.9, 0.99};
        double out[3];
        tg_hist_quantiles(h, qs, 3, out);
        q->p50_us = out[0];
        q->p90_us = out[1];
        q->p99_us = out[2];
        q->weight = tg_hist_weight(h, now_ms);
        q->at_ms = now_ms ? now_ms : 1;
        q->samples = h->samples;
    }
    return q;
}

struct tg_dep *tg_dep_registry_get(struct tg_dep_registry *r, const char *name,
                                   const struct tg_breaker_cfg *breaker, uint64_t now_ms)
{
    for (size_t i = 0; i < r->len; i++) {
        if (strcmp(r->items[i]->name, name) == 0) {
            tg_dep_ref(r->items[i]);
            return r->items[i];
        }
    }
    if (r->len == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->items = tg_xrealloc(r->items, r->cap * sizeof(*r->items));
    }
    struct tg_dep *d = tg_dep_new(name, breaker, now_ms);
    r->items[r->len++] = d;
    tg_dep_ref(d);
    return d;
}

void tg_dep_registry_prune(struct tg_dep_registry *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->items[i]->refs == 1)
            tg_dep_unref(r->items[i]);
        else
            r->items[kept++] = r->items[i];
    }
    r->len = kept;
}

void tg_dep_registry_free(struct tg_dep_registry *r)
{
    for (size_t i = 0; i < r->len; i++)
        tg_dep_unref(r->items[i]);
    free(r->items);
    r->items = NULL;
    r->len = r->cap = 0;
}

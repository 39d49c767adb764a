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

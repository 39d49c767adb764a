/* The in-process limit store (see store.h): one window per counter name and
 * period, in an open-addressing hash table. Decides at once. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "limits/store.h"

struct counter {
    char *name; /* NULL: empty slot */
    uint64_t hash;
    struct tg_counter c; /* its period is part of its identity */
};

struct local_store {
    struct tg_limit_store base;
    struct counter *slots;
    size_t cap; /* a power of two */
    size_t len;
};

static uint64_t fnv1a(const char *s, enum tg_limit_period period)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ (uint64_t)period) * 1099511628211ull;
}

static struct counter *find_slot(struct counter *slots, size_t cap, const char *name,
                                 enum tg_limit_period period, uint64_t h)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!slots[i].name || (slots[i].hash == h && slots[i].c.period == period &&
                               strcmp(slots[i].name, name) == 0))
            return &slots[i];
}

/* Rehashes into a table of new_cap, dropping counters whose window is empty
 * at now_ms (nothing of theirs counts any more). */
static void rebuild(struct local_store *s, size_t new_cap, uint64_t now_ms)
{
    struct counter *old = s->slots;
    size_t old_cap = s->cap;
    s->slots = tg_xcalloc(new_cap, sizeof(*s->slots));
    s->cap = new_cap;
    s->len = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].name)
            continue;
        if (tg_counter_used(&old[i].c, now_ms) == 0) {
            free(old[i].name);
            continue;
        }
        *find_slot(s->slots, s->cap, old[i].name, old[i].c.period, old[i].hash) = old[i];
        s->len++;
    }
    free(old);
}

static struct counter *lookup(struct local_store *s, const char *name,
                              enum tg_limit_period period, uint64_t now_ms, bool create)
{
    uint64_t h = fnv1a(name, period);
    struct counter *c = find_slot(s->slots, s->cap, name, period, h);
    if (c->name || !create)
        return c->name ? c : NULL;
    if ((s->len + 1) * 4 > s->cap * 3) {
        rebuild(s, s->cap, now_ms); /* first drop the idle ones */
        if ((s->len + 1) * 2 > s->cap) /* still over half full: grow, so sweeps stay rare */
            rebuild(s, s->cap * 2, now_ms);
        c = find_slot(s->slots, s->cap, name, period, h);
    }
    c->name = tg_xstrdup(name);
    c->hash = h;
    memset(&c->c, 0, sizeof(c->c));
    c->c.period = period;
    s->len++;
    return c;
}

static void local_admit(struct tg_limit_store *base, const struct tg_limit_want *wants, size_t n,
                        uint64_t now_ms, tg_admit_cb cb, void *ctx)
{
    struct local_store *s = (struct local_store *)base;
    struct tg_limit_check checks[TG_LIMIT_MAX_CHECKS];
    struct tg_admission res = {.at_ms = now_ms};
    /* No ticket: nothing outlives this process to name. */
    if (n > TG_LIMIT_MAX_CHECKS)
        n = TG_LIMIT_MAX_CHECKS;
    for (size_t i = 0; i < n; i++)
        checks[i] = (struct tg_limit_check){
            &lookup(s, wants[i].name, wants[i].period, now_ms, true)->c, wants[i].limit,
            wants[i].cost};
    res.n = n;
    res.admitted = tg_limits_admit(checks, n, now_ms, &res.retry_after_ms, res.state);
    cb(ctx, &res);
}

static void local_settle(struct tg_limit_store *base, const char *name,
                         enum tg_limit_period period, const struct tg_admission *adm,
                         int64_t charged, uint64_t now_ms, int64_t delta)
{
    (void)charged; /* a reservation is just part of the count here */
    struct local_store *s = (struct local_store *)base;
    struct counter *c = lookup(s, name, period, now_ms, delta > 0);
    if (c)
        tg_counter_add(&c->c, adm ? adm->at_ms : now_ms, now_ms, delta);
}

static int64_t local_peek(struct tg_limit_store *base, const char *name,
                          enum tg_limit_period period, uint64_t now_ms)
{
    struct counter *c = lookup((struct local_store *)base, name, period, now_ms, false);
    return c ? tg_counter_used(&c->c, now_ms) : 0;
}

static void local_free(struct tg_limit_store *base)
{
    struct local_store *s = (struct local_store *)base;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].name);
    free(s->slots);
    free(s);
}

static const struct tg_limit_store_ops local_ops = {local_admit, local_settle, local_peek,
                                                    local_free};

struct tg_limit_store *tg_limit_store_local_new(void)
{
    struct local_store *s = tg_xcalloc(1, sizeof(*s));
    s->base.ops = &local_ops;
    s->cap = 16;
    s->slots = tg_xcalloc(s->cap, sizeof(*s->slots));
    return &s->base;
}

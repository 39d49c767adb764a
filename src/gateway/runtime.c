/* Config generations at run time (see runtime.h). */
#include "gateway/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "gateway/gateway.h"

static void runtime_free(struct tg_runtime *rt)
{
    for (size_t i = 0; i < rt->cfg->n_providers; i++) {
        struct tg_provider_rt *p = &rt->providers[i];
        if (p->pool)
            tg_pool_unref(p->pool);
        for (int w = 0; w < TG_API__COUNT; w++)
            for (int stream = 0; stream < 2; stream++)
                tg_provider_plan_free(&p->plans[w][stream]);
        if (p->mock) {
            tg_mock_free(p->mock);
            free(p->mock);
        }
    }
    for (size_t i = 0; i < rt->cfg->n_deployments; i++)
        tg_dep_unref(rt->deps[i]);
    for (size_t i = 0; i < (rt->cfg->n_deployments + 1) * TG_API__COUNT; i++)
        tg_buf_free(&rt->span_attrs[i]);
    free(rt->span_attrs);
    free(rt->providers);
    free(rt->deps);
    tg_config_free(rt->cfg);
    free(rt);
}

/* Whether the previous config had this deployment serving the same model
 * with the same configured window: what its errors taught about its
 * context window holds only as long as that is so. */
static bool same_model(const struct tg_deployment_cfg *d, const struct tg_config *prev)
{
    for (size_t j = 0; j < prev->n_deployments; j++) {
        const struct tg_deployment_cfg *o = &prev->deployments[j];
        if (strcmp(o->name, d->name) == 0)
            return strcmp(o->model, d->model) == 0 &&
                   strcmp(o->provider->name, d->provider->name) == 0 &&
                   o->context_tokens == d->context_tokens;
    }
    return false;
}

struct tg_runtime *tg_runtime_new(struct tg_gateway *gw, struct tg_config *cfg,
                                  const struct tg_runtime *prev, char *err, size_t errlen)
{
    struct tg_runtime *rt = tg_xcalloc(1, sizeof(*rt));
    rt->refs = 1;
    rt->cfg = cfg;
    rt->generation = ++gw->generation;
    rt->providers = tg_xcalloc(cfg->n_providers ? cfg->n_providers : 1, sizeof(*rt->providers));
    rt->deps = tg_xcalloc(cfg->n_deployments ? cfg->n_deployments : 1, sizeof(*rt->deps));
    rt->span_attrs = tg_xcalloc((cfg->n_deployments + 1) * TG_API__COUNT, sizeof(*rt->span_attrs));
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct tg_provider_cfg *pc = &cfg->providers[i];
        struct tg_provider_rt *p = &rt->providers[i];
        p->cfg = pc;
        if (pc->kind == TG_PROVIDER_MOCK) {
            p->mock = tg_xcalloc(1, sizeof(*p->mock));
            tg_mock_init(p->mock, &pc->mock);
            continue;
        }
        for (int w = 0; w < TG_API__COUNT; w++)
            for (int stream = 0; stream < 2; stream++)
                tg_provider_plan_build(pc, (enum tg_api)w, stream, &p->plans[w][stream]);
        /* Keep the old pool (and its warm connections) when nothing that
         * shapes connections changed. */
        for (size_t j = 0; prev && j < prev->cfg->n_providers; j++) {
            const struct tg_provider_rt *old = &prev->providers[j];
            if (old->pool && strcmp(old->cfg->name, pc->name) == 0 &&
                tg_pool_compatible(old->pool, pc)) {
                p->pool = old->pool;
                tg_pool_ref(p->pool);
                break;
            }
        }
        if (!p->pool) {
            p->pool = tg_pool_new(&gw->loop, pc, err, errlen);
            if (!p->pool) {
                runtime_free(rt);
                return NULL;
            }
        }
    }
    uint64_t now = tg_now(&gw->loop);
    for (size_t i = 0; i < cfg->n_deployments; i++) {
        rt->deps[i] = tg_dep_registry_get(&gw->deps, cfg->deployments[i].name, &cfg->breaker, now);
        if (prev && !same_model(&cfg->deployments[i], prev->cfg))
            rt->deps[i]->context = (struct tg_context_learned){0};
    }
    return rt;
}

void tg_runtime_ref(struct tg_runtime *rt)
{
    rt->refs++;
}

void tg_runtime_unref(struct tg_runtime *rt)
{
    if (rt && --rt->refs == 0)
        runtime_free(rt);
}

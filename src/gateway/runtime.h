/* One configuration generation at run time: the immutable config plus what
 * it needs to run (a connection pool per HTTP provider, an engine per mock
 * provider, the state of each deployment). Requests hold a reference to the
 * runtime they started on, so a SIGHUP reload never changes a request's
 * config under it; the old runtime goes when its last request does. */
#ifndef TG_GATEWAY_RUNTIME_H
#define TG_GATEWAY_RUNTIME_H

#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "mock/engine.h"
#include "route/dep.h"
#include "upstream/pool.h"
#include "upstream/provider.h"

struct tg_gateway;

struct tg_provider_rt {
    const struct tg_provider_cfg *cfg;
    struct tg_pool *pool; /* openai, anthropic */
    struct tg_mock *mock; /* mock */
    /* URL and headers by wire API and stream (0/1), built once (HTTP kinds). */
    struct tg_provider_plan plans[TG_API__COUNT][2];
};

struct tg_runtime {
    int refs;
    uint64_t generation;
    struct tg_config *cfg;
    struct tg_provider_rt *providers; /* by provider index */
    struct tg_dep **deps;             /* by deployment index */
    /* Span attributes every span of a kind repeats, pre-rendered by
     * req/trace.c on first use: an attempt's that name its deployment, by
     * deployment index and wire API; then one row more, a request's that
     * name its endpoint, by client API. */
    struct tg_buf *span_attrs;
};

/* Builds a runtime for cfg (taking ownership of it), reusing the pools of
 * `prev` whose settings are unchanged and the registry's deployment states.
 * NULL with a message on failure (cfg is then freed). */
struct tg_runtime *tg_runtime_new(struct tg_gateway *gw, struct tg_config *cfg,
                                  const struct tg_runtime *prev, char *err, size_t errlen);
void tg_runtime_ref(struct tg_runtime *rt);
void tg_runtime_unref(struct tg_runtime *rt);

#endif

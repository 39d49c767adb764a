/* Exponential backoff with jitter (see backoff.h). */
#include "route/backoff.h"

uint64_t tg_backoff_cap_ms(const struct tg_retry_cfg *cfg, int retry)
{
    uint64_t cap = (uint64_t)cfg->backoff_base_ms;
    for (int i = 1; i < retry && cap < (uint64_t)cfg->backoff_max_ms; i++)
        cap *= 2;
    if (cap > (uint64_t)cfg->backoff_max_ms)
        cap = (uint64_t)cfg->backoff_max_ms;
    return cap;
}

uint64_t tg_backoff_ms(const struct tg_retry_cfg *cfg, int retry, struct tg_rand *rand)
{
    uint64_t cap = tg_backoff_cap_ms(cfg, retry);
    switch (cfg->jitter) {
    case TG_JITTER_FULL:
        return tg_rand_below(rand, cap + 1);
    case TG_JITTER_EQUAL:
        return cap / 2 + tg_rand_below(rand, cap - cap / 2 + 1);
    case TG_JITTER_NONE:
    default:
        return cap;
    }
}

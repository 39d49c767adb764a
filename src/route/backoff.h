/* Backoff before a retry (SPEC section 4): retry n (1, 2, ...) waits up to
 * cap = min(backoff_max_ms, backoff_base_ms * 2^(n-1)); "full" jitter draws
 * uniformly from [0, cap], "equal" from [cap/2, cap], "none" waits cap. */
#ifndef TG_ROUTE_BACKOFF_H
#define TG_ROUTE_BACKOFF_H

#include <stdint.h>

#include "config/config.h"
#include "util/rand.h"

uint64_t tg_backoff_cap_ms(const struct tg_retry_cfg *cfg, int retry);
uint64_t tg_backoff_ms(const struct tg_retry_cfg *cfg, int retry, struct tg_rand *rand);

#endif

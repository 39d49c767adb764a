/* The shared limit store of SPEC section 8, over Redis (see shared.c). */
#ifndef TG_LIMITS_SHARED_H
#define TG_LIMITS_SHARED_H

#include "limits/store.h"
#include "shared/redis.h"

/* The shared store of SPEC section 8 over Redis (limits/shared.c): one
 * script call decides an admission for every instance; on a link that is
 * down or slow it decides on `local` instead (which it owns from here on,
 * and also charges with what Redis admitted, so an outage starts from this
 * instance's own counts). Keys live under prefix. Settlements of one loop
 * pass go out together, as one call. */
struct tg_limit_store *tg_limit_store_shared_new(struct tg_loop *loop, struct tg_redis *redis,
                                                 const char *prefix, struct tg_limit_store *local,
                                                 uint64_t instance_id);

#endif

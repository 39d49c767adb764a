/* The response cache across instances (SPEC section 8, [cache] in both
 * modes), in Redis: an answer one instance stored is there for the others.
 * One hash per cache key (prefix "c:" and the hex of route/cache.h's key)
 * with the status, the stream flag, the deployment, the body and when it
 * was stored (wall clock, so ages agree between instances); it expires when
 * no mode could still serve it. The entries together stay within the
 * cache's max_bytes: an index by age ("cidx") and each entry's size
 * ("csize") let a store evict the oldest, as the local cache does. */
#ifndef TG_SHARED_CACHE_H
#define TG_SHARED_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/cache.h"
#include "shared/redis.h"

/* An entry as fetched; its bytes belong to the reply (valid during the
 * callback). */
struct tg_shared_cache_entry {
    int status;
    bool stream;
    const char *deployment;
    const char *body;
    size_t body_len;
    uint64_t age_ms; /* since it was stored */
};

/* e NULL: no entry, or Redis did not answer. */
typedef void (*tg_shared_cache_cb)(void *ctx, const struct tg_shared_cache_entry *e);

/* One fetch in flight; embedded in its requester. */
struct tg_shared_cache_fetch {
    struct tg_redis_call *call; /* NULL when none is out */
    tg_shared_cache_cb cb;
    void *ctx;
};

/* False when the link is down (nothing sent; no callback). */
bool tg_shared_cache_fetch(struct tg_shared_cache_fetch *f, struct tg_redis *r, const char *prefix,
                           const uint8_t key[TG_CACHE_KEY_LEN], tg_shared_cache_cb cb, void *ctx);
void tg_shared_cache_fetch_cancel(struct tg_shared_cache_fetch *f);

/* Stores an answer for keep_ms, evicting the oldest entries past max_bytes
 * (an answer larger than max_bytes is not stored). Unanswered. */
void tg_shared_cache_put(struct tg_redis *r, const char *prefix,
                         const uint8_t key[TG_CACHE_KEY_LEN], int status, bool stream,
                         const char *deployment, const char *body, size_t len, uint64_t keep_ms,
                         size_t max_bytes);

#endif

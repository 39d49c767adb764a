/* Response cache (SPEC [cache]): answers keyed by SHA-256 of the route and
 * the request body, bounded by max_bytes with least-recently-used eviction.
 * Entries are read fresh (mode "on", within ttl_s) or stale (when every path
 * failed, within stale_s); the freshness rule is the caller's. Pure. */
#ifndef TG_ROUTE_CACHE_H
#define TG_ROUTE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/list.h"

#define TG_CACHE_KEY_LEN 32

struct tg_cache_entry {
    uint8_t key[TG_CACHE_KEY_LEN];
    struct tg_list lru;           /* most recent first */
    struct tg_cache_entry *next;  /* hash chain */
    int status;
    bool stream;                  /* body is an SSE transcript */
    char *deployment;
    char *body;
    size_t body_len;
    uint64_t stored_ms;
    size_t bytes;                 /* accounted size */
};

struct tg_cache {
    struct tg_cache_entry **buckets;
    size_t n_buckets;
    size_t n_entries;
    size_t bytes;
    size_t max_bytes;
    struct tg_list lru;
};

void tg_cache_init(struct tg_cache *c, size_t max_bytes);
void tg_cache_free(struct tg_cache *c);
void tg_cache_set_max_bytes(struct tg_cache *c, size_t max_bytes);
void tg_cache_key(const char *endpoint, const char *route, const char *body, size_t len,
                  uint8_t out[TG_CACHE_KEY_LEN]);
/* The entry, if stored within max_age_ms of now; marks it recently used. */
const struct tg_cache_entry *tg_cache_get(struct tg_cache *c, const uint8_t *key, uint64_t now_ms,
                                          uint64_t max_age_ms);
/* Stores (replacing) an answer; answers larger than max_bytes are not kept. */
void tg_cache_put(struct tg_cache *c, const uint8_t *key, int status, bool stream,
                  const char *deployment, const char *body, size_t len, uint64_t now_ms);

#endif

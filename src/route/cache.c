/* Response cache (see cache.h). */
#include "route/cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/sha256.h"

#define ENTRY_OVERHEAD 128 /* struct, strings' headers: counted against max_bytes */

void tg_cache_init(struct tg_cache *c, size_t max_bytes)
{
    memset(c, 0, sizeof(*c));
    c->n_buckets = 1024;
    c->buckets = tg_xcalloc(c->n_buckets, sizeof(*c->buckets));
    c->max_bytes = max_bytes;
    tg_list_init(&c->lru);
}

static size_t bucket_of(const struct tg_cache *c, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return (size_t)(h & (c->n_buckets - 1));
}

static void entry_unlink(struct tg_cache *c, struct tg_cache_entry *e)
{
    struct tg_cache_entry **pp = &c->buckets[bucket_of(c, e->key)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    tg_list_remove(&e->lru);
    c->n_entries--;
    c->bytes -= e->bytes;
    free(e->deployment);
    free(e->body);
    free(e);
}

static void evict_to(struct tg_cache *c, size_t limit)
{
    while (c->bytes > limit && !tg_list_empty(&c->lru)) {
        struct tg_cache_entry *oldest = tg_container_of(c->lru.prev, struct tg_cache_entry, lru);
        entry_unlink(c, oldest);
    }
}

void tg_cache_free(struct tg_cache *c)
{
    evict_to(c, 0);
    free(c->buckets);
    c->buckets = NULL;
}

void tg_cache_set_max_bytes(struct tg_cache *c, size_t max_bytes)
{
    c->max_bytes = max_bytes;
    evict_to(c, max_bytes);
}

void tg_cache_key(const char *endpoint, const char *route, const char *body, size_t len,
                  uint8_t out[TG_CACHE_KEY_LEN])
{
    /* NULs separate the parts. The endpoint: one body can be both a valid
     * chat and a valid Messages request, whose answers differ in shape. */
    const struct tg_bytes parts[] = {
        {endpoint, strlen(endpoint) + 1}, {route, strlen(route) + 1}, {body, len}};
    tg_sha256(parts, 3, out);
}

static struct tg_cache_entry *find(struct tg_cache *c, const uint8_t *key)
{
    for (struct tg_cache_entry *e = c->buckets[bucket_of(c, key)]; e; e = e->next)
        if (memcmp(e->key, key, TG_CACHE_KEY_LEN) == 0)
            return e;
    return NULL;
}

const struct tg_cache_entry *tg_cache_get(struct tg_cache *c, const uint8_t *key, uint64_t now_ms,
                                          uint64_t max_age_ms)
{
    struct tg_cache_entry *e = find(c, key);
    if (!e)
        return NULL;
    if (now_ms > e->stored_ms && now_ms - e->stored_ms > max_age_ms)
        return NULL;
    tg_list_remove(&e->lru);
    tg_list_push_front(&c->lru, &e->lru);
    return e;
}

void tg_cache_put(struct tg_cache *c, const uint8_t *key, int status, bool stream,
                  const char *deployment, const char *body, size_t len, uint64_t now_ms)
{
    size_t bytes = len + strlen(deployment) + ENTRY_OVERHEAD;
    /* Copies first: the arguments may point into the entry being replaced. */
    char *dep_copy = tg_xstrdup(deployment);
    char *body_copy = tg_xmemdup0(body, len);
    struct tg_cache_entry *old = find(c, key);
    if (old)
        entry_unlink(c, old);
    if (bytes > c->max_bytes) {
        free(dep_copy);
        free(body_copy);
        return;
    }
    evict_to(c, c->max_bytes - bytes);
    struct tg_cache_entry *e = tg_xcalloc(1, sizeof(*e));
    memcpy(e->key, key, TG_CACHE_KEY_LEN);
    e->status = status;
    e->stream = stream;
    e->deployment = dep_copy;
    e->body = body_copy;
    e->body_len = len;
    e->stored_ms = now_ms;
    e->bytes = bytes;
    size_t b = bucket_of(c, key);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    tg_list_push_front(&c->lru, &e->lru);
    c->n_entries++;
    c->bytes += bytes;
}

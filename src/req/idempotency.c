/* Idempotency-Key answers (see idempotency.h). */
#include "req/idempotency.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/sha256.h"

void tg_idem_init(struct tg_idem_table *t, size_t max_bytes, uint64_t ttl_ms)
{
    tg_keymap_init(&t->map);
    tg_list_init(&t->lru);
    t->bytes = 0;
    t->max_bytes = max_bytes;
    t->ttl_ms = ttl_ms;
}

static void entry_drop(struct tg_idem_table *t, struct tg_idem_entry *e)
{
    tg_keymap_remove(&t->map, &e->node);
    if (e->kept) {
        tg_list_remove(&e->lru);
        t->bytes -= e->bytes;
    }
    tg_tape_unref(e->tape);
    free(e);
}

static void evict_to(struct tg_idem_table *t, size_t limit)
{
    while (t->bytes > limit && !tg_list_empty(&t->lru))
        entry_drop(t, tg_container_of(t->lru.prev, struct tg_idem_entry, lru));
}

void tg_idem_set_limits(struct tg_idem_table *t, size_t max_bytes, uint64_t ttl_ms)
{
    t->max_bytes = max_bytes;
    t->ttl_ms = ttl_ms;
    evict_to(t, max_bytes);
}

void tg_idem_free(struct tg_idem_table *t)
{
    for (size_t i = 0; i < t->map.n_buckets; i++)
        while (t->map.buckets[i])
            entry_drop(t, tg_container_of(t->map.buckets[i], struct tg_idem_entry, node));
    tg_keymap_free(&t->map);
}

void tg_idem_key(const char *scope, const char *key, size_t key_len, uint8_t out[TG_KEYMAP_KEY_LEN])
{
    /* The NULs keep ("ab", "c") apart from ("a", "bc"). */
    const struct tg_bytes parts[] = {{scope, strlen(scope) + 1}, {key, key_len}};
    tg_sha256(parts, 2, out);
}

void tg_idem_fingerprint(const char *method, const char *path, const char *body, size_t body_len,
                         uint8_t out[TG_KEYMAP_KEY_LEN])
{
    const struct tg_bytes parts[] = {
        {method, strlen(method) + 1}, {path, strlen(path) + 1}, {body, body_len}};
    tg_sha256(parts, 3, out);
}

struct tg_idem_entry *tg_idem_find(struct tg_idem_table *t, const uint8_t *key, uint64_t now_ms)
{
    struct tg_keymap_node *n = tg_keymap_get(&t->map, key);
    if (!n)
        return NULL;
    struct tg_idem_entry *e = tg_container_of(n, struct tg_idem_entry, node);
    if (e->kept && now_ms >= e->kept_ms + t->ttl_ms) {
        entry_drop(t, e);
        return NULL;
    }
    if (e->kept) { /* most recently used first */
        tg_list_remove(&e->lru);
        tg_list_push_front(&t->lru, &e->lru);
    }
    return e;
}

struct tg_idem_entry *tg_idem_start(struct tg_idem_table *t, const uint8_t *key,
                                    const uint8_t *fingerprint, struct tg_tape *tape)
{
    struct tg_idem_entry *e = tg_xcalloc(1, sizeof(*e));
    memcpy(e->node.key, key, TG_KEYMAP_KEY_LEN);
    memcpy(e->fingerprint, fingerprint, TG_KEYMAP_KEY_LEN);
    e->tape = tape;
    tg_tape_ref(tape);
    tg_list_init(&e->lru);
    tg_keymap_put(&t->map, &e->node);
    return e;
}

void tg_idem_finish(struct tg_idem_table *t, struct tg_idem_entry *e, bool keep, uint64_t now_ms)
{
    size_t bytes = sizeof(*e) + tg_tape_bytes(e->tape);
    if (!keep || !e->tape->joinable || bytes > t->max_bytes || t->ttl_ms == 0) {
        entry_drop(t, e);
        return;
    }
    e->kept = true;
    e->kept_ms = now_ms;
    e->bytes = bytes;
    t->bytes += bytes;
    tg_list_push_front(&t->lru, &e->lru);
    evict_to(t, t->max_bytes);
}

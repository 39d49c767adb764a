/* Digest-keyed intrusive hash map (see keymap.h). */
#include "util/keymap.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define INITIAL_BUCKETS 64

static size_t bucket_of(size_t n_buckets, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return (size_t)(h & (n_buckets - 1));
}

void tg_keymap_init(struct tg_keymap *m)
{
    m->n_buckets = INITIAL_BUCKETS;
    m->buckets = tg_xcalloc(m->n_buckets, sizeof(*m->buckets));
    m->len = 0;
}

void tg_keymap_free(struct tg_keymap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = m->len = 0;
}

struct tg_keymap_node *tg_keymap_get(const struct tg_keymap *m, const uint8_t *key)
{
    struct tg_keymap_node *n = m->buckets[bucket_of(m->n_buckets, key)];
    while (n && memcmp(n->key, key, TG_KEYMAP_KEY_LEN) != 0)
        n = n->next;
    return n;
}

static void grow(struct tg_keymap *m)
{
    size_t cap = m->n_buckets * 2;
    struct tg_keymap_node **b = tg_xcalloc(cap, sizeof(*b));
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct tg_keymap_node *n = m->buckets[i];
        while (n) {
            struct tg_keymap_node *next = n->next;
            size_t j = bucket_of(cap, n->key);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = cap;
}

void tg_keymap_put(struct tg_keymap *m, struct tg_keymap_node *node)
{
    if (m->len + 1 > m->n_buckets)
        grow(m);
    size_t i = bucket_of(m->n_buckets, node->key);
    node->next = m->buckets[i];
    m->buckets[i] = node;
    m->len++;
}

void tg_keymap_remove(struct tg_keymap *m, struct tg_keymap_node *node)
{
    struct tg_keymap_node **pp = &m->buckets[bucket_of(m->n_buckets, node->key)];
    while (*pp && *pp != node)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = node->next;
        node->next = NULL;
        m->len--;
    }
}

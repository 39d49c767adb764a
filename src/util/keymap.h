/* A hash map of 32-byte keys (SHA-256 digests) to nodes embedded in the
 * caller's structs (intrusive, like util/list.h): the map allocates only its
 * bucket array and never owns what it indexes. Keys are digests, so their
 * first bytes are already uniformly spread and serve as the hash. */
#ifndef TG_UTIL_KEYMAP_H
#define TG_UTIL_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

#define TG_KEYMAP_KEY_LEN 32

struct tg_keymap_node {
    uint8_t key[TG_KEYMAP_KEY_LEN];
    struct tg_keymap_node *next;
};

struct tg_keymap {
    struct tg_keymap_node **buckets;
    size_t n_buckets; /* a power of two */
    size_t len;
};

void tg_keymap_init(struct tg_keymap *m);
/* Frees the buckets; the nodes are the caller's. */
void tg_keymap_free(struct tg_keymap *m);
struct tg_keymap_node *tg_keymap_get(const struct tg_keymap *m, const uint8_t *key);
/* Adds node under node->key (which must not be in the map yet). */
void tg_keymap_put(struct tg_keymap *m, struct tg_keymap_node *node);
/* Removes node (which must be in the map). */
void tg_keymap_remove(struct tg_keymap *m, struct tg_keymap_node *node);

#endif

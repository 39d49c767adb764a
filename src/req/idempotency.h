/* Answers kept under their Idempotency-Key (SPEC section 8): while the first
 * request with a key is in flight its entry holds the tape it records
 * (later requests with the key read it live); once it is answered the entry
 * keeps the finished tape for replay, for ttl, within max_bytes (oldest kept
 * answers go first). An in-flight entry is never evicted. Keys are scoped:
 * the entry's key is the SHA-256 of the auth key's name and the client's
 * Idempotency-Key, so two teams never see each other's answers. */
#ifndef TG_REQ_IDEMPOTENCY_H
#define TG_REQ_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "req/tape.h"
#include "util/keymap.h"
#include "util/list.h"

struct tg_idem_entry {
    struct tg_keymap_node node;
    uint8_t fingerprint[TG_KEYMAP_KEY_LEN]; /* of the request: method, path, body */
    struct tg_tape *tape;                   /* one reference */
    bool kept;                              /* answered and kept: on the LRU */
    uint64_t kept_ms;
    size_t bytes;
    struct tg_list lru; /* most recent first */
};

struct tg_idem_table {
    struct tg_keymap map;
    struct tg_list lru;
    size_t bytes; /* of kept entries */
    size_t max_bytes;
    uint64_t ttl_ms;
};

void tg_idem_init(struct tg_idem_table *t, size_t max_bytes, uint64_t ttl_ms);
/* A reload's new limits; kept answers over the new max_bytes go. */
void tg_idem_set_limits(struct tg_idem_table *t, size_t max_bytes, uint64_t ttl_ms);
void tg_idem_free(struct tg_idem_table *t);

void tg_idem_key(const char *scope, const char *key, size_t key_len,
                 uint8_t out[TG_KEYMAP_KEY_LEN]);
void tg_idem_fingerprint(const char *method, const char *path, const char *body, size_t body_len,
                         uint8_t out[TG_KEYMAP_KEY_LEN]);

/* The entry for key, in flight or kept within ttl (expired ones are dropped). */
struct tg_idem_entry *tg_idem_find(struct tg_idem_table *t, const uint8_t *key, uint64_t now_ms);
/* A new in-flight entry recording into tape (the entry takes a reference). */
struct tg_idem_entry *tg_idem_start(struct tg_idem_table *t, const uint8_t *key,
                                    const uint8_t *fingerprint, struct tg_tape *tape);
/* The request of an in-flight entry ended: keep its answer for replay, or
 * drop the entry (a failure a retry may cure, an answer too big to keep). */
void tg_idem_finish(struct tg_idem_table *t, struct tg_idem_entry *e, bool keep, uint64_t now_ms);

#endif

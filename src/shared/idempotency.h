/* The Idempotency-Key across instances (SPEC section 8), in Redis: which
 * instance's request owns a key while it is in flight, and the answer it
 * kept once it is done. One hash per scoped key (prefix "i:" and the hex of
 * req/idempotency.h's key): the request's fingerprint, its owner, and, once
 * done, the status, the stream flag, the headers and the body.
 *
 * A claim is one script call: the key is free (it is now this owner's, for
 * hold_ms: a crashed owner's claim lapses then), or its answer is kept
 * (replay it), or another request owns it (ask again a little later), or
 * it was used with another request (422). The owner's release keeps the
 * answer for ttl_ms, or frees the key (an answer not to keep) — only while it
 * is still the owner, so a release that comes after its claim lapsed and
 * another took the key changes nothing. */
#ifndef TG_SHARED_IDEMPOTENCY_H
#define TG_SHARED_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/redis.h"
#include "util/keymap.h"

enum tg_idem_verdict {
    TG_IDEM_CLAIMED,   /* this request owns the key now */
    TG_IDEM_STORED,    /* the answer is kept: *answer */
    TG_IDEM_ELSEWHERE, /* another request owns it, in flight */
    TG_IDEM_MISMATCH,  /* the key was used with another request */
    TG_IDEM_UNSHARED,  /* Redis did not answer: decide on this instance alone */
};

/* A kept answer. Its bytes belong to the reply: valid during the callback. */
struct tg_idem_answer {
    int status;
    bool stream;
    const char *headers;
    size_t headers_len;
    const char *body;
    size_t body_len;
};

typedef void (*tg_idem_claim_cb)(void *ctx, enum tg_idem_verdict verdict,
                                 const struct tg_idem_answer *answer);

/* One claim in flight; embedded in its requester. */
struct tg_idem_claim {
    struct tg_redis_call *call; /* NULL when none is out */
    tg_idem_claim_cb cb;
    void *ctx;
};

/* False when the link is down (nothing sent; no callback). */
bool tg_idem_claim_start(struct tg_idem_claim *c, struct tg_redis *r, const char *prefix,
                         const uint8_t key[TG_KEYMAP_KEY_LEN],
                         const uint8_t fingerprint[TG_KEYMAP_KEY_LEN], const char *owner,
                         uint64_t hold_ms, tg_idem_claim_cb cb, void *ctx);
/* No callback will come. */
void tg_idem_claim_cancel(struct tg_idem_claim *c);

/* The owner is done: keep `answer` for ttl_ms, or (answer NULL) free the key. */
void tg_idem_release(struct tg_redis *r, const char *prefix, const uint8_t key[TG_KEYMAP_KEY_LEN],
                     const char *owner, uint64_t ttl_ms, const struct tg_idem_answer *answer);

#endif

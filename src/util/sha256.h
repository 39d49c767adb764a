/* SHA-256 of several byte strings one after another: the keys of the
 * cache, of coalescing and of Idempotency-Key entries. */
#ifndef TG_UTIL_SHA256_H
#define TG_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TG_SHA256_LEN 32

struct tg_bytes {
    const void *data;
    size_t len;
};

void tg_sha256(const struct tg_bytes *parts, size_t n, uint8_t out[TG_SHA256_LEN]);

#endif

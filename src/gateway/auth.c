/* Key lookup at the door (see auth.h). */
#include "gateway/auth.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/sha256.h"

/* Whether two digests differ, in time that does not depend on where:
 * every word is looked at and the differences are ORed, never branched on. */
static uint64_t differ(const unsigned char a[32], const unsigned char b[32])
{
    uint64_t d = 0;
    for (size_t w = 0; w < 4; w++) {
        uint64_t x, y;
        memcpy(&x, a + 8 * w, 8);
        memcpy(&y, b + 8 * w, 8);
        d |= x ^ y;
    }
    return d;
}

/* The configured key whose hash is `digest`: every entry is compared, and
 * the index is picked with masks rather than a branch on the comparison, so
 * the time taken does not say which key (or whether one) matched. (OpenSSL's
 * CRYPTO_memcmp would do, byte by byte behind a call: with 100 keys it was
 * a visible part of a request's cost.) */
static const struct tg_key_cfg *match(const struct tg_config *cfg, const unsigned char digest[32])
{
    size_t hit = cfg->n_keys; /* none */
    for (size_t i = 0; i < cfg->n_keys; i++) {
        uint64_t d = differ(digest, cfg->keys[i].sha256);
        size_t eq = (size_t)(((d | (0 - d)) >> 63) ^ 1); /* 1 when d == 0, without a branch */
        size_t take = (size_t)0 - (eq & (size_t)(hit == cfg->n_keys));
        hit = (hit & ~take) | (i & take);
    }
    return hit < cfg->n_keys ? &cfg->keys[hit] : NULL;
}

static const struct tg_key_cfg *presented(const struct tg_config *cfg, const char *key, size_t len)
{
    while (len && (*key == ' ' || *key == '\t')) {
        key++;
        len--;
    }
    while (len && (key[len - 1] == ' ' || key[len - 1] == '\t'))
        len--;
    if (len == 0)
        return NULL;
    unsigned char digest[TG_SHA256_LEN];
    const struct tg_bytes part = {key, len};
    tg_sha256(&part, 1, digest);
    return match(cfg, digest);
}

const struct tg_key_cfg *tg_auth_key(const struct tg_config *cfg,
                                     const struct tg_http_request *req)
{
    if (cfg->n_keys == 0 || !req->headers)
        return NULL;
    const struct tg_key_cfg *k = NULL;
    const struct tg_http_header *h = tg_http_header_find(req, "authorization");
    if (h && h->value_len > 7 && strncasecmp(h->value, "Bearer ", 7) == 0)
        k = presented(cfg, h->value + 7, h->value_len - 7);
    /* Some SDKs send both; either one may carry the key. */
    if (!k && (h = tg_http_header_find(req, "x-api-key")))
        k = presented(cfg, h->value, h->value_len);
    return k;
}

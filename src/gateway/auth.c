/* Key lookup at the door (see auth.h). */
#include "gateway/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

/* The configured key whose hash is `digest`: every entry is compared, and
 * the index is picked with masks rather than a branch on the comparison, so
 * the time taken does not say which key (or whether one) matched. */
static const struct tg_key_cfg *match(const struct tg_config *cfg, const unsigned char digest[32])
{
    size_t hit = cfg->n_keys; /* none */
    for (size_t i = 0; i < cfg->n_keys; i++) {
        size_t eq = (size_t)(CRYPTO_memcmp(digest, cfg->keys[i].sha256, 32) == 0);
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
    unsigned char digest[32];
    unsigned int n = sizeof(digest);
    if (EVP_Digest(key, len, digest, &n, EVP_sha256(), NULL) != 1)
        return NULL;
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

/* SHA-256 over parts (see sha256.h). */
#include "util/sha256.h"

#include <openssl/sha.h>

void tg_sha256(const struct tg_bytes *parts, size_t n, uint8_t out[TG_SHA256_LEN])
{
    /* The low-level SHA-256 calls, deprecated in OpenSSL 3 in favour of EVP:
     * EVP_DigestInit_ex fetches the implementation from the provider store on
     * every call, which costs more than hashing a typical request body. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    for (size_t i = 0; i < n; i++)
        SHA256_Update(&ctx, parts[i].data, parts[i].len);
    SHA256_Final(out, &ctx);
#pragma GCC diagnostic pop
}

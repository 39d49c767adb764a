/* SPEC section 8 keys at the door: which configured key a request presents
 * (`Authorization: Bearer KEY` or `x-api-key: KEY`). */
#ifndef TG_GATEWAY_AUTH_H
#define TG_GATEWAY_AUTH_H

#include "config/config.h"
#include "server/http.h"

/* The key of cfg the request presents, or NULL (none presented, or none
 * matches). The presented key is hashed and compared with every configured
 * hash in constant time, all of them every time. */
const struct tg_key_cfg *tg_auth_key(const struct tg_config *cfg,
                                     const struct tg_http_request *req);

#endif

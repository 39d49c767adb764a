/* The client API handler (SPEC section 3) of the gateway's listener. */
#ifndef TG_GATEWAY_HANDLER_H
#define TG_GATEWAY_HANDLER_H

#include <cjson/cJSON.h>

#include "gateway/gateway.h"
#include "server/http.h"
#include "upstream/provider.h"

/* ctx: struct tg_gateway. */
extern const struct tg_http_handler tg_client_handler;

/* The door's two decisions, public for the fuzz harnesses, which check what
 * it lets through. The API whose endpoint the request's path names, or -1: */
int tg_client_api(const struct tg_http_request *req);
/* What is wrong with a checked request body (its root viewed) for `api`
 * (SPEC section 3: 400 invalid_request), or NULL when it can be routed. */
const char *tg_client_body_problem(enum tg_api api, struct tg_jv root);

#endif

/* The client API handler (SPEC section 3) of the gateway's listener. */
#ifndef TG_GATEWAY_HANDLER_H
#define TG_GATEWAY_HANDLER_H

#include "gateway/gateway.h"
#include "server/http.h"

/* ctx: struct tg_gateway. */
extern const struct tg_http_handler tg_client_handler;

#endif

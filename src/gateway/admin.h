/* The admin listener (SPEC section 6): /healthz, /readyz, /metrics, /status. */
#ifndef TG_GATEWAY_ADMIN_H
#define TG_GATEWAY_ADMIN_H

#include "server/http.h"

/* ctx: struct tg_gateway. */
extern const struct tg_http_handler tg_admin_handler;

#endif

/* A client request's journey through tailgate (SPEC section 4): routing,
 * attempts, retries with backoff, failover, fallbacks, the streaming commit
 * point, and the final answer. One explicit state machine per request; see
 * req.c for its states and transitions. */
#ifndef TG_REQ_REQ_H
#define TG_REQ_REQ_H

#include <cjson/cJSON.h>

#include "config/config.h"
#include "server/http.h"
#include "upstream/provider.h"

struct tg_gateway;
struct tg_req;

/* A request id's room, NUL included (ids are at most 64 characters). */
#define TG_REQ_ID_CAP 80

/* Takes over a checked request (its body passed the client rules and
 * tg_client_body_problem): `route` the route its model names and `key` the
 * auth key it presented (NULL without keys), both in the gateway's current
 * runtime; `id` the request id the door decided (gateway/handler.c). */
void tg_req_start(struct tg_gateway *gw, struct tg_http_exchange *x, enum tg_api api,
                  const struct tg_route_cfg *route, const struct tg_key_cfg *key, const char *id);

/* The span of an answer made at the door, before a request exists
 * (req/trace.c; nothing without [telemetry]). */
void tg_trace_door(struct tg_gateway *gw, struct tg_http_exchange *x, const char *id,
                   const struct tg_key_cfg *key, int status);

/* The client went away (server on_abort). */
void tg_req_client_gone(struct tg_req *r);
/* The client can take more bytes (server on_writable). */
void tg_req_client_writable(struct tg_req *r);
/* Gateway shutdown past drain_ms: end the request now. */
void tg_req_abandon(struct tg_req *r);

#endif

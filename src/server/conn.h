/* One inbound connection (internal to server/): created by the listener on
 * accept, owns its socket, parser, timers and the exchange in progress. */
#ifndef TG_SERVER_CONN_H
#define TG_SERVER_CONN_H

#include "server/server.h"

struct tg_conn;

/* Accepts one pending connection from the listener (or refuses it when
 * over max_connections). */
void tg_conn_accept(struct tg_http_server *s);
/* Server draining: close now if idle, else after the current answer. */
void tg_conn_drain(struct tg_conn *c);
/* Immediate close (server shutdown). */
void tg_conn_close(struct tg_conn *c);
struct tg_conn *tg_conn_from_link(struct tg_list *link);

#endif

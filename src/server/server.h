/* A listening HTTP/1.1 server: the socket, its connections, their limits.
 * The gateway's client listener, its admin listener and `tailgate mock` are
 * each one struct tg_http_server with their own handler. */
#ifndef TG_SERVER_SERVER_H
#define TG_SERVER_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "core/loop.h"
#include "server/http.h"
#include "util/list.h"

struct tg_tls_ctx;

struct tg_http_server {
    struct tg_loop *loop;
    uv_tcp_t tcp;
    struct tg_http_limits limits;
    const struct tg_http_handler *handler;
    void *ctx;
    struct tg_tls_ctx *tls;    /* NULL: plain HTTP; not owned */
    struct tg_list conns;      /* struct tg_conn.link */
    size_t n_conns;
    bool listening;
    bool draining; /* no new connections; each closes after its current answer */
    void (*on_empty)(struct tg_http_server *s); /* draining and the last connection closed */
    uint64_t accepted_total;
    char read_buf[65536];   /* every connection reads through it, one at a time */
};

/* Binds and listens on "HOST:PORT". With reuseport, several processes may
 * listen on the same address (server.workers). Returns 0 or a negative uv
 * error, with a message in errbuf. */
int tg_http_server_listen(struct tg_http_server *s, struct tg_loop *loop, const char *addr,
                          bool reuseport, const struct tg_http_limits *limits,
                          const struct tg_http_handler *handler, void *ctx, char *errbuf,
                          size_t errbuf_len);
void tg_http_server_set_limits(struct tg_http_server *s, const struct tg_http_limits *limits);
/* Serve TLS on connections accepted from now on (server/tls.h). */
void tg_http_server_set_tls(struct tg_http_server *s, struct tg_tls_ctx *tls);
/* Stops accepting; idle connections close now, busy ones after their answer. */
void tg_http_server_drain(struct tg_http_server *s);
/* Closes the listener and every connection at once (exchanges see on_abort). */
void tg_http_server_close(struct tg_http_server *s);
/* The port actually bound (useful with port 0). */
int tg_http_server_port(const struct tg_http_server *s);

#endif

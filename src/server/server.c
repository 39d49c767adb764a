/* The listening socket and the set of its connections (see server.h). */
#include "server/server.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/conn.h"

/* Resolves "HOST:PORT" / "[V6]:PORT" (a name only at startup: blocking). */
static int parse_listen_addr(const char *addr, struct sockaddr_storage *out, char *errbuf,
                             size_t errbuf_len)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr) {
        snprintf(errbuf, errbuf_len, "\"%s\" is not HOST:PORT", addr);
        return UV_EINVAL;
    }
    char host[256];
    size_t hlen = (size_t)(colon - addr);
    if (addr[0] == '[' && hlen >= 2 && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        snprintf(errbuf, errbuf_len, "host too long in \"%s\"", addr);
        return UV_EINVAL;
    }
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    int port = atoi(colon + 1);
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    /* A host name: resolved once, at startup. */
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(errbuf, errbuf_len, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return UV_EINVAL;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct tg_http_server *s = listener->data;
    if (status < 0)
        return; /* EMFILE and the like: the kernel keeps the connection queued */
    tg_conn_accept(s);
}

int tg_http_server_listen(struct tg_http_server *s, struct tg_loop *loop, const char *addr,
                          bool reuseport, const struct tg_http_limits *limits,
                          const struct tg_http_handler *handler, void *ctx, char *errbuf,
                          size_t errbuf_len)
{
    struct sockaddr_storage ss;
    int rc = parse_listen_addr(addr, &ss, errbuf, errbuf_len);
    if (rc < 0)
        return rc;
    s->loop = loop;
    s->limits = *limits;
    s->handler = handler;
    s->ctx = ctx;
    tg_list_init(&s->conns);
    s->n_conns = 0;
    s->draining = false;
    rc = uv_tcp_init_ex(loop->uv, &s->tcp, ss.ss_family);
    if (rc < 0) {
        snprintf(errbuf, errbuf_len, "socket: %s", uv_strerror(rc));
        return rc;
    }
    s->tcp.data = s;
    if (reuseport) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)&s->tcp, &fd) == 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    }
    rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, 4096, on_connection);
    if (rc < 0) {
        snprintf(errbuf, errbuf_len, "listen on %s: %s", addr, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->tcp, NULL);
        return rc;
    }
    s->listening = true;
    return 0;
}

void tg_http_server_set_limits(struct tg_http_server *s, const struct tg_http_limits *limits)
{
    s->limits = *limits;
}

void tg_http_server_set_tls(struct tg_http_server *s, struct tg_tls_ctx *tls)
{
    s->tls = tls;
}

int tg_http_server_port(const struct tg_http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void stop_listening(struct tg_http_server *s)
{
    if (!s->listening)
        return;
    s->listening = false;
    uv_close((uv_handle_t *)&s->tcp, NULL);
}

void tg_http_server_drain(struct tg_http_server *s)
{
    s->draining = true;
    stop_listening(s);
    struct tg_list *pos, *tmp;
    tg_list_foreach_safe(pos, tmp, &s->conns) tg_conn_drain(tg_conn_from_link(pos));
    if (s->n_conns == 0 && s->on_empty)
        s->on_empty(s);
}

void tg_http_server_close(struct tg_http_server *s)
{
    s->draining = true;
    stop_listening(s);
    struct tg_list *pos, *tmp;
    tg_list_foreach_safe(pos, tmp, &s->conns) tg_conn_close(tg_conn_from_link(pos));
}

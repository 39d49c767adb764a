/* libcurl multi on the libuv loop (see pool.h).
 *
 * Hazards handled here (curl, libuv and pyuv trackers):
 * - a socket's uv_poll lives as long as the socket: curl tells us when it
 *   closes one (CURLOPT_CLOSESOCKETFUNCTION), and the poll is stopped and
 *   closed synchronously before the fd is, so a new socket that gets the same
 *   fd number never meets an old poll (two active polls on one fd break libuv);
 * - between transfers (CURL_POLL_REMOVE) a keep-alive socket keeps a read
 *   interest instead of being taken out of epoll and put back per request;
 *   if it ever fires while idle (the server closed it), the interest is
 *   dropped and curl's own liveness check retires the connection on reuse;
 * - per-socket state is curl_multi_assign's socketp, or the fd table when
 *   curl has forgotten the assignment after a REMOVE; the table is exact
 *   because every close goes through our callback;
 * - a poll error goes to curl as CURL_CSELECT_ERR;
 * - curl_multi_socket_action is never called inside the timer callback's
 *   registration; a 0 ms timeout fires on the next loop pass;
 * - curl_multi_remove_handle is not allowed inside curl callbacks, so a
 *   cancellation from one (a hedge losing inside the winner's write callback)
 *   waits until the action returns. */
#include "upstream/pool.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"


struct pool_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    struct pool_shard *shard; /* whose multi the socket belongs to */
    int events; /* UV_READABLE/UV_WRITABLE being polled */
    bool idle;  /* curl said REMOVE: between transfers */
};

static void drain_done(struct pool_shard *sh);
static void pool_maybe_close(struct tg_pool *p);
static void on_poll(uv_poll_t *h, int status, int events);

static void on_socket_closed(uv_handle_t *h)
{
    free(tg_container_of((uv_poll_t *)h, struct pool_socket, poll));
}

static void socket_action(struct pool_shard *sh, curl_socket_t fd, int flags)
{
    int running = 0;
    sh->pool->in_action++;
    curl_multi_socket_action(sh->multi, fd, flags, &running);
    sh->pool->in_action--;
    drain_done(sh);
}

static void poll_events(struct pool_socket *s, int events)
{
    if (events == s->events)
        return;
    s->events = events;
    if (events)
        uv_poll_start(&s->poll, events, on_poll);
    else
        uv_poll_stop(&s->poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pool_socket *s = tg_container_of(h, struct pool_socket, poll);
    if (s->idle) {
        poll_events(s, 0); /* closed or spoken to while idle: curl will find out */
        return;
    }
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    socket_action(s->shard, s->fd, flags);
}

static struct pool_socket *socket_of(struct tg_pool *p, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < p->n_by_fd ? p->by_fd[fd] : NULL;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct pool_shard *sh = userp;
    struct tg_pool *p = sh->pool;
    struct pool_socket *s = socketp ? socketp : socket_of(p, fd);
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            s->idle = true;
            poll_events(s, s->events & UV_READABLE); /* a writable idle socket would spin */
        }
        return 0;
    }
    if (!s) {
        s = tg_xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->shard = sh;
        if (uv_poll_init_socket(p->loop->uv, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        if ((size_t)fd >= p->n_by_fd) {
            size_t n = p->n_by_fd ? p->n_by_fd : 64;
            while (n <= (size_t)fd)
                n *= 2;
            p->by_fd = tg_xrealloc(p->by_fd, n * sizeof(*p->by_fd));
            memset(p->by_fd + p->n_by_fd, 0, (n - p->n_by_fd) * sizeof(*p->by_fd));
            p->n_by_fd = n;
        }
        p->by_fd[fd] = s;
    }
    if (!socketp)
        curl_multi_assign(sh->multi, fd, s);
    s->idle = false;
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    poll_events(s, events);
    return 0;
}

/* curl closes a socket: the poll goes first, synchronously, then the fd. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    struct tg_pool *p = clientp;
    struct pool_socket *s = socket_of(p, fd);
    if (s) {
        p->by_fd[fd] = NULL;
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, on_socket_closed);
    }
    return close(fd);
}

static void on_timer(uv_timer_t *h)
{
    socket_action(tg_container_of(h, struct pool_shard, timer), CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct pool_shard *sh = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&sh->timer);
    else
        uv_timer_start(&sh->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void remove_transfer(struct tg_pool *p, struct tg_pool_transfer *t)
{
    curl_multi_remove_handle(t->shard->multi, t->easy);
    t->active = false;
    t->shard->active--;
    t->shard = NULL;
    p->active--;
}

/* Hands a shard's finished transfers to their owners, then performs
 * cancellations requested from inside curl callbacks. */
static void drain_done(struct pool_shard *sh)
{
    struct tg_pool *p = sh->pool;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sh->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct tg_pool_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode result = msg->data.result;
        if (!t)
            continue;
        if (t->removal_pending) { /* cancelled meanwhile: no on_done */
            tg_list_remove(&t->link);
            t->removal_pending = false;
            remove_transfer(p, t);
            continue;
        }
        remove_transfer(p, t);
        t->on_done(t, result); /* may add or cancel other transfers */
    }
    while (!tg_list_empty(&p->removals)) {
        struct tg_pool_transfer *t =
            tg_container_of(tg_list_first(&p->removals), struct tg_pool_transfer, link);
        tg_list_remove(&t->link);
        t->removal_pending = false;
        if (t->active)
            remove_transfer(p, t);
    }
    pool_maybe_close(p);
}

/* An SSL_CTX hook: adds the provider's extra CAs to the default trust store. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userp)
{
    struct tg_pool *p = userp;
    X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);
    for (int i = 0; i < sk_X509_num(p->extra_cas); i++)
        X509_STORE_add_cert(store, sk_X509_value(p->extra_cas, i));
    return CURLE_OK;
}

static int load_cas(struct tg_pool *p, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open ca_file %s", path);
        return -1;
    }
    p->extra_cas = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)))
        sk_X509_push(p->extra_cas, x);
    fclose(f);
    if (sk_X509_num(p->extra_cas) == 0) {
        snprintf(err, errlen, "ca_file %s holds no PEM certificate", path);
        return -1;
    }
    return 0;
}

struct tg_pool *tg_pool_new(struct tg_loop *loop, const struct tg_provider_cfg *prov, char *err,
                            size_t errlen)
{
    struct tg_pool *p = tg_xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->name = tg_xstrdup(prov->name);
    p->max_connections = (long)prov->max_connections;
    p->http2 = prov->http2;
    p->https = strncmp(prov->base_url, "https://", 8) == 0;
    p->ca_file = tg_xstrdup(prov->ca_file);
    p->refs = 1;
    tg_list_init(&p->removals);
    if (prov->ca_file[0] && load_cas(p, prov->ca_file, err, errlen) < 0) {
        if (p->extra_cas)
            sk_X509_pop_free(p->extra_cas, X509_free);
        free(p->name);
        free(p->ca_file);
        free(p);
        return NULL;
    }
    long max = p->max_connections > 0 ? p->max_connections : 1;
    long per = p->http2 ? max : TG_POOL_SHARD_CONNECTIONS;
    p->n_shards = (size_t)((max + per - 1) / per);
    p->shards = tg_xcalloc(p->n_shards, sizeof(*p->shards));
    for (size_t i = 0; i < p->n_shards; i++) {
        struct pool_shard *sh = &p->shards[i];
        sh->pool = p;
        sh->cap = max - (long)i * per < per ? max - (long)i * per : per;
        uv_timer_init(loop->uv, &sh->timer);
    }
    p->open_timers = p->n_shards;
    return p;
}

/* A shard's multi handle, made on its first transfer: a provider that
 * never sees 32 at once has one. */
static CURLM *shard_multi(struct pool_shard *sh)
{
    if (sh->multi)
        return sh->multi;
    CURLM *m = curl_multi_init();
    if (!m)
        return NULL;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, sh);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, sh);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, sh->cap);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, sh->cap);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, sh->cap);
    curl_multi_setopt(m, CURLMOPT_PIPELINING,
                      sh->pool->http2 ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
    sh->multi = m;
    return m;
}

/* The first shard with a free connection slot, else the least busy (its
 * multi queues the transfer until a connection frees up). */
static struct pool_shard *pick_shard(struct tg_pool *p)
{
    struct pool_shard *least = &p->shards[0];
    for (size_t i = 0; i < p->n_shards; i++) {
        struct pool_shard *sh = &p->shards[i];
        if ((long)sh->active < sh->cap)
            return sh;
        if (sh->active * (size_t)least->cap < least->active * (size_t)sh->cap)
            least = sh;
    }
    return least;
}

bool tg_pool_compatible(const struct tg_pool *p, const struct tg_provider_cfg *b)
{
    return p->max_connections == (long)b->max_connections && p->http2 == b->http2 &&
           p->https == (strncmp(b->base_url, "https://", 8) == 0) &&
           strcmp(p->ca_file, b->ca_file) == 0;
}

void tg_pool_ref(struct tg_pool *p)
{
    p->refs++;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tg_pool *p = tg_container_of((uv_timer_t *)h, struct pool_shard, timer)->pool;
    if (--p->open_timers > 0)
        return;
    free(p->shards);
    free(p->name);
    free(p->ca_file);
    free(p);
}

static void pool_maybe_close(struct tg_pool *p)
{
    if (p->refs > 0 || p->active > 0 || p->closing || p->in_action)
        return;
    p->closing = true;
    for (size_t i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle_easies[i]);
    p->n_idle = 0;
    for (size_t i = 0; i < p->n_shards; i++) {
        /* Closes the cached connections (on_close_socket); socket callbacks may run. */
        curl_multi_cleanup(p->shards[i].multi);
        p->shards[i].multi = NULL;
    }
    free(p->by_fd);
    p->by_fd = NULL;
    p->n_by_fd = 0;
    if (p->extra_cas)
        sk_X509_pop_free(p->extra_cas, X509_free);
    p->extra_cas = NULL;
    for (size_t i = 0; i < p->n_shards; i++) {
        uv_timer_stop(&p->shards[i].timer);
        uv_close((uv_handle_t *)&p->shards[i].timer, on_timer_closed);
    }
}

void tg_pool_unref(struct tg_pool *p)
{
    if (--p->refs == 0)
        pool_maybe_close(p);
}

/* Whether any proxy environment variable is set, asked once: without one,
 * CURLOPT_PROXY "" spares curl reading the environment on every transfer. */
static bool proxy_from_env(void)
{
    static int known = -1;
    if (known < 0) {
        static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
                                           "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
        known = 0;
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
            if (getenv(vars[i]))
                known = 1;
    }
    return known == 1;
}

CURL *tg_pool_easy(struct tg_pool *p)
{
    if (p->n_idle > 0)
        return p->idle_easies[--p->n_idle]; /* its defaults are still set */
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, p);
    if (!proxy_from_env())
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (!p->https && !proxy_from_env()) {
        /* Plain HTTP needs no trust store: without these libcurl copies the
         * default CA file and path names (for the connection and its proxy)
         * into every new transfer's connection, four strdups and frees a
         * request. */
        curl_easy_setopt(easy, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(easy, CURLOPT_PROXY_CAINFO, NULL);
        curl_easy_setopt(easy, CURLOPT_PROXY_CAPATH, NULL);
    }
    /* The receive buffer each running transfer holds (16 KiB by default):
     * an answer or a stream's events fit in 8 KiB reads, and at 256 busy
     * connections the difference is 2 MiB of the gateway's memory. */
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, (long)TG_POOL_RECV_BUFFER);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     p->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    /* Waiting for a busy connection to say whether it can multiplex only
     * makes sense where HTTP/2 can be negotiated: on plain HTTP it would
     * serialise requests (a hedge would wait for the attempt it races). */
    if (p->http2 && p->https)
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    if (p->extra_cas) {
        curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, p);
    }
    return easy;
}

void tg_pool_release_easy(struct tg_pool *p, CURL *easy)
{
    if (!easy)
        return;
    if (p->closing || p->n_idle >= TG_POOL_IDLE_EASIES) {
        curl_easy_cleanup(easy);
        return;
    }
    /* Kept as it is: every per-transfer option (URL, body, headers, the
     * callbacks' data, the error buffer) is set again on the next use, and
     * the defaults stay. */
    p->idle_easies[p->n_idle++] = easy;
}

int tg_pool_add(struct tg_pool *p, struct tg_pool_transfer *t)
{
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *)t);
    struct pool_shard *sh = pick_shard(p);
    CURLM *multi = shard_multi(sh);
    CURLMcode rc = multi ? curl_multi_add_handle(multi, t->easy) : CURLM_OUT_OF_MEMORY;
    if (rc != CURLM_OK) {
        tg_log_error("upstream_add_failed", "provider=%s error=%s", p->name,
                     curl_multi_strerror(rc));
        return -1;
    }
    t->active = true;
    t->shard = sh;
    t->removal_pending = false;
    tg_list_init(&t->link);
    sh->active++;
    p->active++;
    return 0;
}

void tg_pool_cancel(struct tg_pool *p, struct tg_pool_transfer *t)
{
    if (!t->active)
        return;
    if (p->in_action) {
        if (!t->removal_pending) {
            t->removal_pending = true;
            tg_list_push_back(&p->removals, &t->link);
        }
        return;
    }
    remove_transfer(p, t);
    pool_maybe_close(p);
}

void tg_pool_unpause(struct tg_pool *p, struct tg_pool_transfer *t)
{
    if (!t->active || t->removal_pending)
        return;
    struct pool_shard *sh = t->shard;
    p->in_action++;
    curl_easy_pause(t->easy, CURLPAUSE_CONT); /* may deliver buffered data now */
    p->in_action--;
    drain_done(sh);
}

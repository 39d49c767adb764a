/* The upstream connection pool of one provider: libcurl multi handles whose
 * sockets and timers are driven by the gateway's libuv loop (uv_poll per
 * socket, a uv_timer per multi), with connections capped at the provider's
 * max_connections and HTTP/2 multiplexing when enabled. No thread, no
 * curl_multi_perform loop.
 *
 * HTTP/1.1 connections are split into shards of at most
 * TG_POOL_SHARD_CONNECTIONS, each its own multi handle and connection cache:
 * libcurl 7.88 walks a cache's connections to the host on every transfer
 * (to find an idle one, and again on removal), so one cache of 256
 * connections costs each request 8 times the walk of one of 32. A transfer
 * goes to the first shard with a free slot, so connections stay warm where
 * the load is. HTTP/2 keeps one shard: its connections are shared. */
#ifndef TG_UPSTREAM_POOL_H
#define TG_UPSTREAM_POOL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <uv.h>

#include "core/loop.h"
#include "util/list.h"

struct tg_pool;
struct tg_provider_cfg;
struct pool_socket;

/* What a transfer on the pool hears back. */
struct pool_shard;

struct tg_pool_transfer {
    CURL *easy;
    struct pool_shard *shard; /* while active */
    /* The transfer ended (complete, failed, or aborted by a callback).
     * Called outside curl callbacks; the easy is already removed. */
    void (*on_done)(struct tg_pool_transfer *t, CURLcode result);
    struct tg_list link; /* pool->removals while a removal waits */
    bool active;
    bool removal_pending;
};

#define TG_POOL_IDLE_EASIES 64 /* curl handles kept for reuse, at most */
#define TG_POOL_SHARD_CONNECTIONS 32
#define TG_POOL_RECV_BUFFER (8 * 1024)

struct pool_shard {
    struct tg_pool *pool;
    CURLM *multi; /* NULL until first used */
    uv_timer_t timer;
    long cap;      /* its connections, at most */
    size_t active; /* its transfers added and not yet done */
};

struct tg_pool {
    struct tg_loop *loop;
    struct pool_shard *shards;
    size_t n_shards;
    size_t open_timers; /* shard timers not yet closed */
    char *name;
    long max_connections;
    bool http2;
    bool https; /* HTTP/2 is negotiated by ALPN only over TLS */
    char *ca_file;          /* extra CA bundle, read once at creation */
    struct stack_st_X509 *extra_cas;
    int refs;               /* runtimes using it */
    size_t active;          /* transfers added and not yet done */
    int in_action;          /* inside curl_multi_socket_action: removals wait */
    struct tg_list removals;
    struct pool_socket **by_fd; /* the sockets curl has open, by fd */
    size_t n_by_fd;
    CURL *idle_easies[TG_POOL_IDLE_EASIES]; /* handles kept for reuse */
    size_t n_idle;
    bool closing;
};

/* Creates the pool for a provider; NULL with a message when ca_file cannot be read. */
struct tg_pool *tg_pool_new(struct tg_loop *loop, const struct tg_provider_cfg *provider,
                            char *err, size_t errlen);
/* True when a pool made for `a` can serve provider config `b` unchanged. */
bool tg_pool_compatible(const struct tg_pool *pool, const struct tg_provider_cfg *b);
void tg_pool_ref(struct tg_pool *p);
/* Last reference: closes once no transfer remains. */
void tg_pool_unref(struct tg_pool *p);

/* An easy handle with the pool's defaults (from the free list when possible). */
CURL *tg_pool_easy(struct tg_pool *p);
/* Adds t->easy; on_done follows (never inside this call). */
int tg_pool_add(struct tg_pool *p, struct tg_pool_transfer *t);
/* Cancels a transfer: removed now, or right after the current curl action
 * when called from inside a curl callback. No on_done follows. The owner
 * must not free t before that action returns (owners free from deferred
 * callbacks, which run later). */
void tg_pool_cancel(struct tg_pool *p, struct tg_pool_transfer *t);
/* Returns a no longer used easy handle (kept for reuse, or freed). */
void tg_pool_release_easy(struct tg_pool *p, CURL *easy);
/* Resumes a paused transfer (CURLPAUSE_CONT) from outside its callbacks. */
void tg_pool_unpause(struct tg_pool *p, struct tg_pool_transfer *t);

#endif

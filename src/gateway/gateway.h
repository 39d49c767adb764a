/* The gateway process (`tailgate serve`): its loop, listeners, current
 * runtime, metrics, access log, response cache and live requests; signals
 * (SIGTERM/SIGINT drain, SIGHUP reload and access log reopen, SIGUSR1 reopen). */
#ifndef TG_GATEWAY_GATEWAY_H
#define TG_GATEWAY_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/loop.h"
#include "dlq/writer.h"
#include "gateway/runtime.h"
#include "limits/store.h"
#include "metrics/families.h"
#include "req/idempotency.h"
#include "route/cache.h"
#include "route/dep.h"
#include "server/access_log.h"
#include "server/server.h"
#include "util/keymap.h"
#include "util/list.h"

enum tg_gateway_state { TG_GW_RUNNING = 0, TG_GW_DRAINING, TG_GW_STOPPING };

struct tg_redis;
struct tg_tracer;

struct tg_gateway {
    struct tg_loop loop;
    char *config_path;
    enum tg_gateway_state state;
    struct tg_runtime *rt; /* current */
    uint64_t generation;
    struct tg_http_server client;
    struct tg_http_server admin;
    bool admin_on;
    struct tg_tls_ctx *tls; /* server.tls_cert/tls_key, or NULL */
    struct tg_metrics *metrics;
    struct tg_families fam;
    struct tg_access_log *alog;
    struct tg_cache cache;
    struct tg_limit_store *limits; /* the keys' rpm/tpm windows, by name: they outlive reloads */
    struct tg_redis *redis;        /* [shared]'s link, or NULL: set at start, kept over reloads */
    char *shared_prefix;           /* [shared] key_prefix, as the link started with it */
    uint64_t instance_id;          /* names this process's claims and reservations in Redis */
    struct tg_tracer *tracer;      /* [telemetry]'s, or NULL: set at start, kept over reloads */
    struct tg_idem_table idem;     /* Idempotency-Key answers, in flight and kept */
    struct tg_keymap coalescing;   /* cache key -> the in-flight request others may join */
    struct tg_dep_registry deps;
    struct tg_dlq_writer dlq; /* background requests that still failed (SPEC section 8) */
    struct tg_list requests; /* struct tg_req.link */
    uint64_t inflight;
    uint64_t request_seq;
    uint64_t req_serial; /* requests taken by req/: each one's key for the breakers */
    char id_prefix[16];
    struct tg_timer drain_timer;
    struct tg_deferred stopper; /* the last request or connection is gone: stop */
    /* Past drain_ms, connections are closed once no dead-letter line is
     * being written: a background client cut short hears where its work went. */
    bool close_after_dlq;
    struct tg_deferred closer;
    uv_signal_t sigterm, sigint, sighup, sigusr1;
    bool reloading;
    bool reload_again;
    int worker_index;
};

/* Runs `tailgate serve`; returns the exit status. */
int tg_gateway_main(const char *config_path);

/* A request finished: drop it from the live set (and end a drain when last). */
void tg_gateway_request_done(struct tg_gateway *gw);

#endif

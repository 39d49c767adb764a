/* `tailgate serve`: the gateway process (see gateway.h).
 *
 * Life of the process: load the config, build the first runtime, listen,
 * run the loop. SIGHUP reloads the config on libuv's thread pool (file I/O
 * and parsing stay off the loop) and swaps runtimes on the loop; a bad file
 * is logged and the old config kept. SIGHUP and SIGUSR1 reopen the access
 * log file (server/access_log.c), for logrotate. SIGTERM/SIGINT drain: stop accepting,
 * let requests in flight finish for up to drain_ms, then end what is left,
 * free everything and exit 0. With server.workers > 1 a supervisor forks
 * that many workers sharing the listener through SO_REUSEPORT. */
#include "gateway/gateway.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "gateway/admin.h"
#include "gateway/handler.h"
#include "limits/shared.h"
#include "shared/scripts.h"
#include "telemetry/tracer.h"
#include "req/req.h"
#include "req/internal.h"
#include "server/tls.h"

static void limits_of(const struct tg_config *cfg, struct tg_http_limits *l)
{
    l->max_connections = (uint64_t)cfg->server.max_connections;
    l->max_header_bytes = (uint64_t)cfg->server.max_header_bytes;
    l->max_headers = (uint64_t)cfg->server.max_headers;
    l->max_body_bytes = (uint64_t)cfg->server.max_body_bytes;
    l->read_timeout_ms = (uint64_t)cfg->server.read_timeout_ms;
    l->idle_timeout_ms = (uint64_t)cfg->server.idle_timeout_ms;
}

/* ---- stopping ---- */

/* Deferred, so requests that just ended are freed (their own deferred
 * callbacks were queued first) before the loop's handles close. */
static bool drained(const struct tg_gateway *gw)
{
    return gw->state == TG_GW_DRAINING && gw->inflight == 0 && gw->client.n_conns == 0;
}

static void maybe_stop(struct tg_gateway *gw)
{
    if (!drained(gw))
        return;
    tg_defer(&gw->loop, &gw->stopper);
}

static void stop_shared(struct tg_gateway *gw);

static void on_stop(struct tg_deferred *d)
{
    struct tg_gateway *gw = tg_container_of(d, struct tg_gateway, stopper);
    if (!drained(gw))
        return; /* a connection came or went since */
    gw->state = TG_GW_STOPPING;
    tg_log_info("stopped", "generation=%llu", (unsigned long long)gw->generation);
    tg_timer_stop(&gw->loop, &gw->drain_timer);
    if (gw->admin_on)
        tg_http_server_close(&gw->admin);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->sighup, NULL);
    uv_close((uv_handle_t *)&gw->sigusr1, NULL);
    /* Closing the handles gave the signals back their default (exit); a late
     * reopen or reload is moot now, and must not turn a clean stop into a kill. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    tg_runtime_unref(gw->rt);
    gw->rt = NULL;
    tg_access_log_close(gw->alog);
    gw->alog = NULL;
    stop_shared(gw);
    tg_tracer_close(gw->tracer); /* its last export runs on after the loop's own handles close */
    gw->tracer = NULL;
    tg_loop_close(&gw->loop);
}

/* Past drain_ms: every connection left is closed, answered or not. */
static void close_clients(struct tg_gateway *gw)
{
    tg_http_server_close(&gw->client);
    maybe_stop(gw);
}

static void on_closer(struct tg_deferred *d)
{
    close_clients(tg_container_of(d, struct tg_gateway, closer));
}

void tg_gateway_request_done(struct tg_gateway *gw)
{
    gw->inflight--;
    if (gw->close_after_dlq && !tg_dlq_writer_busy(&gw->dlq)) {
        /* On a later pass: the answer just sent is on its way first. */
        gw->close_after_dlq = false;
        tg_defer(&gw->loop, &gw->closer);
    }
    maybe_stop(gw);
}

static void on_client_empty(struct tg_http_server *s)
{
    maybe_stop(tg_container_of(s, struct tg_gateway, client));
}

static void on_drain_timeout(struct tg_timer *t)
{
    struct tg_gateway *gw = tg_container_of(t, struct tg_gateway, drain_timer);
    tg_log_warn("drain_timeout", "inflight=%llu connections=%zu action=end_them",
                (unsigned long long)gw->inflight, gw->client.n_conns);
    while (!tg_list_empty(&gw->requests)) {
        struct tg_req *r = tg_container_of(tg_list_first(&gw->requests), struct tg_req, link);
        tg_req_abandon(r); /* leaves gw->requests */
    }
    /* Background requests cut short are being written to the DLQ: their
     * clients get their answer first (the drain made every connection close
     * after its answer), the rest are closed when the writes are done. */
    if (tg_dlq_writer_busy(&gw->dlq)) {
        gw->close_after_dlq = true;
        return;
    }
    close_clients(gw);
}

static void begin_drain(struct tg_gateway *gw, int signum)
{
    if (gw->state != TG_GW_RUNNING) {
        if (gw->state == TG_GW_DRAINING) {
            tg_log_warn("drain_forced", "signal=%d", signum);
            on_drain_timeout(&gw->drain_timer);
        }
        return;
    }
    gw->state = TG_GW_DRAINING;
    uint64_t drain_ms = (uint64_t)gw->rt->cfg->server.drain_ms;
    tg_log_info("drain_start", "signal=%d inflight=%llu connections=%zu drain_ms=%llu", signum,
                (unsigned long long)gw->inflight, gw->client.n_conns,
                (unsigned long long)drain_ms);
    tg_timer_start(&gw->loop, &gw->drain_timer, drain_ms);
    tg_http_server_drain(&gw->client);
    maybe_stop(gw);
}

/* ---- reloading ---- */

struct reload_job {
    uv_work_t work;
    struct tg_gateway *gw;
    char *path;
    char *alog_target; /* the access log's target when the reload began */
    struct tg_config *cfg;
    struct tg_config_error err;
    /* A new access_log target is opened here too, off the loop. */
    bool alog_changed;
    struct tg_access_log *alog; /* NULL when the new target is "" or failed (alog_err) */
    char alog_err[512];
};

static void start_reload(struct tg_gateway *gw);

static void reload_work(uv_work_t *w)
{
    struct reload_job *job = tg_container_of(w, struct reload_job, work);
    job->cfg = tg_config_load(job->path, &job->err);
    if (!job->cfg || strcmp(job->cfg->server.access_log, job->alog_target) == 0)
        return;
    job->alog_changed = true;
    bool disabled;
    job->alog = tg_access_log_open(&job->gw->loop, job->cfg->server.access_log, job->alog_err,
                                   sizeof(job->alog_err), &disabled);
    if (disabled)
        job->alog_err[0] = '\0';
}

static void reload_failed(struct tg_gateway *gw, const char *why)
{
    const char *l[] = {"error"};
    tg_metric_add(gw->fam.reloads, l, 1);
    tg_log_error("reload_failed", "config=%s error=%s keeping=generation_%llu",
                 gw->config_path, why, (unsigned long long)gw->rt->generation);
}

static bool telemetry_changed(const struct tg_telemetry_cfg *a, const struct tg_telemetry_cfg *b)
{
    bool headers_same = a->n_headers == b->n_headers;
    for (size_t i = 0; headers_same && i < a->n_headers; i++)
        headers_same = strcmp(a->headers[i].name, b->headers[i].name) == 0 &&
                       strcmp(a->headers[i].value, b->headers[i].value) == 0;
    return !headers_same || strcmp(a->otlp_endpoint, b->otlp_endpoint) != 0 ||
           a->sample_ratio != b->sample_ratio || strcmp(a->service_name, b->service_name) != 0 ||
           a->queue_spans != b->queue_spans || a->batch_spans != b->batch_spans ||
           a->flush_ms != b->flush_ms || a->timeout_ms != b->timeout_ms;
}

static void apply_config(struct tg_gateway *gw, struct reload_job *job)
{
    struct tg_config *cfg = job->cfg;
    char err[512] = "";
    struct tg_config *old_cfg = gw->rt->cfg;
    if (strcmp(cfg->server.listen, old_cfg->server.listen) != 0 ||
        strcmp(cfg->server.admin_listen, old_cfg->server.admin_listen) != 0 ||
        cfg->server.workers != old_cfg->server.workers ||
        strcmp(cfg->server.tls_cert, old_cfg->server.tls_cert) != 0 ||
        strcmp(cfg->server.tls_key, old_cfg->server.tls_key) != 0 ||
        strcmp(cfg->shared.redis_url, old_cfg->shared.redis_url) != 0 ||
        strcmp(cfg->shared.password_env, old_cfg->shared.password_env) != 0 ||
        strcmp(cfg->shared.key_prefix, old_cfg->shared.key_prefix) != 0 ||
        cfg->shared.timeout_ms != old_cfg->shared.timeout_ms ||
        telemetry_changed(&cfg->telemetry, &old_cfg->telemetry))
        tg_log_warn("reload_restart_needed", "message=%s",
                    "server.listen, admin_listen, workers, TLS files, [shared] and [telemetry] "
                    "apply on restart only");
    struct tg_access_log *alog = gw->alog;
    if (job->alog_changed) {
        alog = job->alog;
        job->alog = NULL;
        if (job->alog_err[0]) {
            reload_failed(gw, job->alog_err);
            tg_config_free(cfg);
            return;
        }
    }
    struct tg_runtime *rt = tg_runtime_new(gw, cfg, gw->rt, err, sizeof(err));
    if (!rt) {
        if (alog != gw->alog)
            tg_access_log_close(alog);
        reload_failed(gw, err);
        return;
    }
    if (alog != gw->alog) {
        tg_access_log_close(gw->alog);
        gw->alog = alog;
    }
    struct tg_http_limits limits;
    limits_of(cfg, &limits);
    tg_http_server_set_limits(&gw->client, &limits);
    tg_cache_set_max_bytes(&gw->cache, (size_t)cfg->policy.cache.max_bytes);
    tg_idem_set_limits(&gw->idem, (size_t)cfg->idempotency.max_bytes,
                       (uint64_t)cfg->idempotency.ttl_s * 1000);
    struct tg_runtime *old = gw->rt;
    gw->rt = rt;
    tg_runtime_unref(old); /* requests still on it keep it alive */
    tg_dep_registry_prune(&gw->deps);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        tg_log_warn("config_warning", "message=%s", cfg->warnings[i]);
    const char *l[] = {"ok"};
    tg_metric_add(gw->fam.reloads, l, 1);
    tg_log_info("reloaded", "config=%s generation=%llu routes=%zu deployments=%zu",
                gw->config_path, (unsigned long long)rt->generation, cfg->n_routes,
                cfg->n_deployments);
}

static void reload_done(uv_work_t *w, int status)
{
    struct reload_job *job = tg_container_of(w, struct reload_job, work);
    struct tg_gateway *gw = job->gw;
    gw->reloading = false;
    if (gw->state != TG_GW_RUNNING) {
        tg_config_free(job->cfg);
    } else if (!job->cfg) {
        reload_failed(gw, job->err.message);
    } else {
        apply_config(gw, job);
    }
    tg_access_log_close(job->alog); /* opened for a config that was not applied */
    free(job->alog_target);
    free(job->path);
    free(job);
    if (gw->reload_again && gw->state == TG_GW_RUNNING) {
        gw->reload_again = false;
        start_reload(gw);
    }
}

static void start_reload(struct tg_gateway *gw)
{
    if (gw->reloading) {
        gw->reload_again = true; /* one more after this one: the file may have changed again */
        return;
    }
    struct reload_job *job = tg_xcalloc(1, sizeof(*job));
    job->gw = gw;
    job->path = tg_xstrdup(gw->config_path);
    job->alog_target = tg_xstrdup(tg_access_log_target(gw->alog));
    if (uv_queue_work(gw->loop.uv, &job->work, reload_work, reload_done) < 0) {
        free(job->alog_target);
        free(job->path);
        free(job);
        reload_failed(gw, "cannot queue the reload");
        return;
    }
    gw->reloading = true;
    tg_log_info("reload_start", "config=%s", gw->config_path);
}

/* SIGHUP: reopen the access log (logrotate may send either) and reload;
 * SIGUSR1: reopen only; SIGTERM/SIGINT: drain. */
static void on_signal(uv_signal_t *h, int signum)
{
    struct tg_gateway *gw = h->data;
    switch (signum) {
    case SIGHUP:
        tg_access_log_reopen(gw->alog);
        if (gw->state == TG_GW_RUNNING)
            start_reload(gw);
        break;
    case SIGUSR1:
        tg_access_log_reopen(gw->alog);
        break;
    default:
        begin_drain(gw, signum);
    }
}

/* ---- [shared] ---- */

/* The limit store first (its last settlements go into the link's output),
 * then the link (which writes them out before it closes). */
static void stop_shared(struct tg_gateway *gw)
{
    tg_limit_store_free(gw->limits);
    gw->limits = NULL;
    tg_redis_close(gw->redis);
    gw->redis = NULL;
}

static void on_shared_state(void *ctx, bool up, const char *why)
{
    struct tg_gateway *gw = ctx;
    if (up)
        tg_log_info("shared_up", "message=%s", "limits and spend are shared through Redis");
    else
        tg_log_warn("shared_down", "error=%s action=%s", why,
                    "each request decided on this instance's state; reconnecting with backoff");
    tg_metric_set(gw->fam.shared_up, NULL, up ? 1 : 0);
}

static void on_shared_error(void *ctx, const char *reason)
{
    struct tg_gateway *gw = ctx;
    const char *l[] = {reason};
    tg_metric_add(gw->fam.shared_errors, l, 1);
}

/* The link, and the stores that share through it; the local store made
 * before becomes the shared one's fallback. */
static void start_shared(struct tg_gateway *gw, const struct tg_shared_cfg *sh)
{
    struct tg_redis_params params = {sh->host, sh->port, sh->db, sh->password,
                                     (uint64_t)sh->timeout_ms};
    struct tg_redis_events events = {on_shared_state, on_shared_error, gw};
    /* Only here: without [shared] a 0 would read as "Redis is down". */
    gw->fam.shared_up = tg_metrics_family(gw->metrics, "tailgate_shared_up",
                                          "1 while the [shared] Redis link is up, 0 while it is "
                                          "down.",
                                          TG_METRIC_GAUGE, NULL);
    gw->redis = tg_redis_new(&gw->loop, &params, tg_shared_scripts, TG_SCRIPT__COUNT, &events);
    gw->shared_prefix = tg_xstrdup(sh->key_prefix);
    gw->instance_id = tg_rand_u64(&gw->loop.rand);
    gw->limits = tg_limit_store_shared_new(&gw->loop, gw->redis, sh->key_prefix, gw->limits,
                                           gw->instance_id);
}

/* ---- [telemetry] ---- */

static int start_telemetry(struct tg_gateway *gw, const struct tg_telemetry_cfg *tc, char *err,
                           size_t errlen)
{
    gw->tracer = tg_tracer_new(&gw->loop, tc, err, errlen);
    if (!gw->tracer)
        return -1;
    /* Only here: without [telemetry] there is nothing to count. */
    static const char *const reason[] = {"reason", NULL};
    gw->fam.trace_exported = tg_metrics_family(
        gw->metrics, "tailgate_trace_spans_exported_total",
        "Spans the OTLP collector took.", TG_METRIC_COUNTER, NULL);
    gw->fam.trace_dropped = tg_metrics_family(
        gw->metrics, "tailgate_trace_spans_dropped_total",
        "Spans dropped: queue_full (telemetry.queue_spans were waiting) or export_failed (the "
        "collector refused them, or never answered, after the retries).",
        TG_METRIC_COUNTER, reason);
    gw->fam.trace_export_failures = tg_metrics_family(
        gw->metrics, "tailgate_trace_export_failures_total",
        "Exports to the OTLP collector that failed, retries included.", TG_METRIC_COUNTER, NULL);
    gw->fam.trace_queued = tg_metrics_family(
        gw->metrics, "tailgate_trace_queue_spans",
        "Spans waiting for export, the export in flight included.", TG_METRIC_GAUGE, NULL);
    gw->fam.trace_queued_bytes = tg_metrics_family(
        gw->metrics, "tailgate_trace_queue_bytes",
        "Memory held by the spans' export bodies (waiting and in flight).", TG_METRIC_GAUGE,
        NULL);
    tg_log_info("tracing", "url=%s sample_ratio=%g service_name=%s", tc->traces_url,
                tc->sample_ratio, tc->service_name);
    return 0;
}

/* ---- running ---- */

static int run_worker(const char *path, struct tg_config *cfg, int worker_index, bool reuseport)
{
    struct tg_gateway *gw = tg_xcalloc(1, sizeof(*gw));
    tg_deferred_init(&gw->stopper, on_stop);
    tg_deferred_init(&gw->closer, on_closer);
    uv_loop_t *uv = uv_default_loop();
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16) ^ uv_hrtime();
    tg_loop_init(&gw->loop, uv, seed);
    gw->config_path = tg_xstrdup(path);
    gw->worker_index = worker_index;
    snprintf(gw->id_prefix, sizeof(gw->id_prefix), "tg%06llx",
             (unsigned long long)(tg_rand_u64(&gw->loop.rand) & 0xffffff));
    tg_list_init(&gw->requests);
    gw->metrics = tg_metrics_new();
    tg_families_init(&gw->fam, gw->metrics);
    tg_cache_init(&gw->cache, (size_t)cfg->policy.cache.max_bytes);
    gw->limits = tg_limit_store_local_new();
    if (cfg->shared.host)
        start_shared(gw, &cfg->shared);
    tg_idem_init(&gw->idem, (size_t)cfg->idempotency.max_bytes,
                 (uint64_t)cfg->idempotency.ttl_s * 1000);
    tg_keymap_init(&gw->coalescing);
    tg_timer_init(&gw->drain_timer, on_drain_timeout);
    tg_dlq_writer_init(&gw->dlq, uv);
    int rc = 1;
    char err[512] = "";

    bool alog_disabled;
    gw->alog = tg_access_log_open(&gw->loop, cfg->server.access_log, err, sizeof(err),
                                  &alog_disabled);
    if (!gw->alog && !alog_disabled) {
        tg_log_error("startup_failed", "error=%s", err);
        tg_config_free(cfg);
        goto fail_runtime;
    }
    gw->rt = tg_runtime_new(gw, cfg, NULL, err, sizeof(err));
    if (!gw->rt) {
        tg_log_error("startup_failed", "error=%s", err);
        goto fail_runtime;
    }
    if (cfg->telemetry.traces_url && start_telemetry(gw, &cfg->telemetry, err, sizeof(err)) < 0) {
        tg_log_error("startup_failed", "error=%s", err);
        goto fail_listen;
    }
    if (cfg->server.tls_cert[0]) {
        gw->tls = tg_tls_ctx_new(cfg->server.tls_cert, cfg->server.tls_key, err, sizeof(err));
        if (!gw->tls) {
            tg_log_error("startup_failed", "error=%s", err);
            goto fail_listen;
        }
    }
    struct tg_http_limits limits;
    limits_of(cfg, &limits);
    if (tg_http_server_listen(&gw->client, &gw->loop, cfg->server.listen, reuseport, &limits,
                              &tg_client_handler, gw, err, sizeof(err)) < 0) {
        tg_log_error("startup_failed", "error=%s", err);
        goto fail_listen;
    }
    tg_http_server_set_tls(&gw->client, gw->tls);
    gw->client.on_empty = on_client_empty;
    if (cfg->server.admin_listen[0]) {
        struct tg_http_limits admin_limits = {1024, 16384, 100, 65536, 10000, 60000};
        if (tg_http_server_listen(&gw->admin, &gw->loop, cfg->server.admin_listen, reuseport,
                                  &admin_limits, &tg_admin_handler, gw, err, sizeof(err)) < 0) {
            tg_log_error("startup_failed", "error=%s", err);
            tg_http_server_close(&gw->client);
            goto fail_listen;
        }
        gw->admin_on = true;
    }
    uv_signal_init(uv, &gw->sigterm);
    uv_signal_init(uv, &gw->sigint);
    uv_signal_init(uv, &gw->sighup);
    uv_signal_init(uv, &gw->sigusr1);
    gw->sigterm.data = gw->sigint.data = gw->sighup.data = gw->sigusr1.data = gw;
    uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
    uv_signal_start(&gw->sigint, on_signal, SIGINT);
    uv_signal_start(&gw->sighup, on_signal, SIGHUP);
    uv_signal_start(&gw->sigusr1, on_signal, SIGUSR1);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        tg_log_warn("config_warning", "message=%s", cfg->warnings[i]);
    tg_log_info("listening", "worker=%d listen=%s tls=%s port=%d admin=%s routes=%zu deployments=%zu",
                worker_index, cfg->server.listen, gw->tls ? "on" : "off",
                tg_http_server_port(&gw->client),
                cfg->server.admin_listen[0] ? cfg->server.admin_listen : "off", cfg->n_routes,
                cfg->n_deployments);
    uv_run(uv, UV_RUN_DEFAULT);
    rc = 0;
    goto done;

fail_listen:
    tg_runtime_unref(gw->rt);
    gw->rt = NULL;
fail_runtime:
    tg_access_log_close(gw->alog);
    stop_shared(gw);
    tg_tracer_close(gw->tracer);
    gw->tracer = NULL;
    tg_loop_close(&gw->loop);
    uv_run(uv, UV_RUN_DEFAULT);
done:
    tg_tls_ctx_free(gw->tls);
    tg_cache_free(&gw->cache);
    tg_idem_free(&gw->idem);
    tg_keymap_free(&gw->coalescing);
    tg_limit_store_free(gw->limits);
    free(gw->shared_prefix);
    tg_metrics_free(gw->metrics);
    tg_dep_registry_free(&gw->deps);
    free(gw->config_path);
    free(gw);
    uv_loop_close(uv);
    return rc;
}

/* ---- workers ---- */

static volatile sig_atomic_t pending_signal;

static void on_supervisor_signal(int signum)
{
    pending_signal = signum;
}

static pid_t spawn_worker(const char *path, int index)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    /* Until the worker's loop takes them: a reload or reopen before it runs is moot. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    struct tg_config_error err;
    struct tg_config *cfg = tg_config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.message);
        _exit(1);
    }
    int rc = run_worker(path, cfg, index, true);
    curl_global_cleanup();
    _exit(rc);
}

/* The supervisor of server.workers processes: forwards signals, restarts a
 * worker that dies unexpectedly, exits when all have stopped. */
static int supervise(const char *path, int workers)
{
    pid_t *pids = tg_xcalloc((size_t)workers, sizeof(pid_t));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_supervisor_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < workers; i++)
        pids[i] = spawn_worker(path, i);
    bool stopping = false;
    int alive = workers, rc = 0;
    while (alive > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            int sig = pending_signal;
            pending_signal = 0;
            if (sig == SIGTERM || sig == SIGINT)
                stopping = true;
            for (int i = 0; i < workers; i++)
                if (pids[i] > 0)
                    kill(pids[i], sig);
            continue;
        }
        if (pid < 0)
            break;
        for (int i = 0; i < workers; i++) {
            if (pids[i] != pid)
                continue;
            bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (!stopping && !clean) {
                tg_log_error("worker_died", "worker=%d pid=%d status=%d action=restart", i, (int)pid,
                             status);
                sleep(1); /* the supervisor has no loop to block; a crash loop stays slow */
                pids[i] = spawn_worker(path, i);
            } else {
                if (!clean)
                    rc = 1;
                pids[i] = 0;
                alive--;
            }
        }
    }
    free(pids);
    return rc;
}

/* Each client connection and upstream socket is a file descriptor: take the
 * hard limit, and say so when max_connections cannot fit under it. */
static void raise_fd_limit(const struct tg_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t want = (uint64_t)cfg->server.max_connections + 64;
    for (size_t i = 0; i < cfg->n_providers; i++)
        want += (uint64_t)cfg->providers[i].max_connections;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        tg_log_warn("fd_limit_low", "nofile=%llu wanted=%llu hint=\"raise the limit (ulimit -n) or "
                                    "lower server.max_connections\"",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int tg_gateway_main(const char *config_path)
{
    signal(SIGPIPE, SIG_IGN);
    /* Until the loop takes them (SIGUSR1 would otherwise end the process). */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    struct tg_config_error err;
    struct tg_config *cfg = tg_config_load(config_path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    raise_fd_limit(cfg);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tailgate: curl_global_init failed\n");
        tg_config_free(cfg);
        return 1;
    }
    int rc;
    if (cfg->server.workers > 1) {
        int workers = (int)cfg->server.workers;
        tg_config_free(cfg);
        rc = supervise(config_path, workers);
    } else {
        rc = run_worker(config_path, cfg, 0, false);
    }
    curl_global_cleanup();
    return rc;
}

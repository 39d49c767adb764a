/* Admin endpoints (see admin.h). /status and /metrics read the live state of
 * each deployment of the current runtime. */
#include "gateway/admin.h"

#include <string.h>

#include "gateway/gateway.h"
#include "metrics/process.h"
#include "telemetry/tracer.h"
#include "shared/redis.h"
#include "route/spend.h"
#include "util/json.h"

static void respond(struct tg_http_exchange *x, int status, const char *content_type,
                    const struct tg_buf *body)
{
    struct tg_buf h = TG_BUF_INIT;
    tg_buf_printf(&h, "Content-Type: %s\r\nCache-Control: no-store\r\n", content_type);
    tg_http_respond(x, status, h.data, h.len, body->data, body->len);
    tg_buf_free(&h);
}

static bool ready(const struct tg_gateway *gw)
{
    if (!gw->rt || gw->state != TG_GW_RUNNING)
        return false;
    uint64_t now = tg_now(&gw->loop);
    for (size_t i = 0; i < gw->rt->cfg->n_deployments; i++)
        if (tg_breaker_state(&gw->rt->deps[i]->breaker, now) != TG_BREAKER_OPEN)
            return true;
    return false;
}

static void render_metrics(struct tg_gateway *gw, struct tg_buf *out)
{
    const struct tg_runtime *rt = gw->rt;
    uint64_t now = tg_now(&gw->loop);
    tg_metric_set(gw->fam.connections, NULL, (double)gw->client.n_conns);
    tg_metric_set(gw->fam.inflight, NULL, (double)gw->inflight);
    /* This hour's spend and caps (the wall clock is the limit store's). */
    uint64_t wall = tg_wall_ms();
    const struct tg_config *cfg = rt->cfg;
    tg_metric_clear(gw->fam.hour_spend);
    tg_metric_clear(gw->fam.hour_cap);
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct tg_key_cfg *k = &cfg->keys[i];
        const char *l[] = {k->name};
        tg_metric_set(gw->fam.hour_spend, l,
                      tg_spend_usd(tg_limit_peek(gw->limits, k->counter_spend, TG_PERIOD_HOUR,
                                                 wall)));
        if (k->usd_per_hour > 0)
            tg_metric_set(gw->fam.hour_cap, l, k->usd_per_hour);
    }
    const char *gl[] = {"(gateway)"};
    tg_metric_set(gw->fam.hour_spend, gl,
                  tg_spend_usd(tg_limit_peek(gw->limits, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR,
                                             wall)));
    if (cfg->budget.usd_per_hour > 0)
        tg_metric_set(gw->fam.hour_cap, gl, cfg->budget.usd_per_hour);
    if (gw->tracer) {
        struct tg_tracer_stats ts;
        tg_tracer_stats(gw->tracer, &ts);
        const char *queue_full[] = {"queue_full"}, *export_failed[] = {"export_failed"};
        tg_metric_set(gw->fam.trace_exported, NULL, (double)ts.exported);
        tg_metric_set(gw->fam.trace_dropped, queue_full, (double)ts.dropped_queue);
        tg_metric_set(gw->fam.trace_dropped, export_failed, (double)ts.dropped_export);
        tg_metric_set(gw->fam.trace_export_failures, NULL, (double)ts.export_failures);
        tg_metric_set(gw->fam.trace_queued, NULL, (double)ts.queued);
        tg_metric_set(gw->fam.trace_queued_bytes, NULL, (double)ts.queued_bytes);
    }
    struct tg_process_stats ps;
    tg_process_stats_read(&ps);
    tg_metric_set(gw->fam.process_cpu, NULL, ps.cpu_seconds);
    if (ps.resident_bytes >= 0)
        tg_metric_set(gw->fam.process_resident, NULL, ps.resident_bytes);
    if (ps.open_fds >= 0)
        tg_metric_set(gw->fam.process_fds, NULL, ps.open_fds);
    tg_metric_clear(gw->fam.breaker_state);
    for (size_t i = 0; i < rt->cfg->n_deployments; i++) {
        const char *l[] = {rt->cfg->deployments[i].name};
        tg_metric_set(gw->fam.breaker_state, l,
                      (double)tg_breaker_state(&rt->deps[i]->breaker, now));
    }
    tg_metrics_render(gw->metrics, out);
}

static void str_array(struct tg_buf *b, struct tg_route_cfg *const *routes, size_t n)
{
    tg_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            tg_buf_putc(b, ',');
        tg_buf_json_str(b, routes[i]->model, strlen(routes[i]->model));
    }
    tg_buf_putc(b, ']');
}

/* The best recent latency (kind 0 full answers, 1 first content) among the
 * deployments sharing a route with deployment `i`: what its health factor is
 * judged against. */
static double peers_best(const struct tg_runtime *rt, size_t i, int kind)
{
    const struct tg_config *cfg = rt->cfg;
    double best = 0;
    for (size_t r = 0; r < cfg->n_routes; r++) {
        const struct tg_route_cfg *route = &cfg->routes[r];
        bool member = false;
        for (size_t j = 0; j < route->n_deployments; j++)
            member |= route->deployments[j]->index == i;
        if (!member)
            continue;
        for (size_t j = 0; j < route->n_deployments; j++) {
            const struct tg_health *h = &rt->deps[route->deployments[j]->index]->health;
            if (h->has_latency[kind] && (best == 0 || h->latency_us[kind] < best))
                best = h->latency_us[kind];
        }
    }
    return best;
}

static double effective_weight(const struct tg_runtime *rt, size_t i)
{
    return rt->cfg->deployments[i].weight *
           tg_health_factor(&rt->deps[i]->health, false, peers_best(rt, i, 0));
}

static void render_status(struct tg_gateway *gw, struct tg_buf *b)
{
    const struct tg_runtime *rt = gw->rt;
    const struct tg_config *cfg = rt->cfg;
    uint64_t now = tg_now(&gw->loop);
    /* "off" without [shared]; SPEC section 8's "up" or "down" with it. */
    const char *shared = !gw->redis ? "off" : tg_redis_up(gw->redis) ? "up" : "down";
    tg_buf_printf(b, "{\"generation\":%llu,\"inflight_requests\":%llu,\"connections\":%zu,"
                     "\"shared\":\"%s\",\"deployments\":{",
                  (unsigned long long)rt->generation, (unsigned long long)gw->inflight,
                  gw->client.n_conns, shared);
    for (size_t i = 0; i < cfg->n_deployments; i++) {
        const struct tg_deployment_cfg *d = &cfg->deployments[i];
        struct tg_dep *dep = rt->deps[i];
        const struct tg_dep_quantiles *lq = tg_dep_quantiles(dep, TG_DEP_LATENCY, now);
        const struct tg_dep_quantiles *tq = tg_dep_quantiles(dep, TG_DEP_TTFB, now);
        uint64_t total, failed;
        tg_breaker_window(&dep->breaker, &cfg->breaker, now, &total, &failed);
        const struct tg_health *h = &dep->health;
        if (i)
            tg_buf_putc(b, ',');
        tg_buf_json_str(b, d->name, strlen(d->name));
        tg_buf_printf(b,
                      ":{\"state\":\"%s\",\"inflight\":%llu,\"requests\":%llu,\"failures\":%llu,"
                      "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
                      "\"ttfb_p50_ms\":%.3f,\"ttfb_p90_ms\":%.3f,\"ttfb_p99_ms\":%.3f,"
                      "\"weight\":%.6g,\"configured_weight\":%g,"
                      "\"health\":{\"failure_rate\":%.4f,\"latency_ms\":%.3f,\"ttfb_ms\":%.3f},"
                      "\"provider\":",
                      tg_breaker_state_name(tg_breaker_state(&dep->breaker, now)),
                      (unsigned long long)dep->inflight, (unsigned long long)total,
                      (unsigned long long)failed, lq->p50_us / 1000.0, lq->p90_us / 1000.0,
                      lq->p99_us / 1000.0, tq->p50_us / 1000.0, tq->p90_us / 1000.0,
                      tq->p99_us / 1000.0, effective_weight(rt, i), d->weight, h->fail_rate,
                      h->has_latency[0] ? h->latency_us[0] / 1000.0 : 0.0,
                      h->has_latency[1] ? h->latency_us[1] / 1000.0 : 0.0);
        tg_buf_json_str(b, d->provider->name, strlen(d->provider->name));
        tg_buf_printf(b, ",\"opens_total\":%llu,\"rate_limited_for_ms\":%llu",
                      (unsigned long long)dep->breaker.opens_total,
                      (unsigned long long)(dep->rate_limited_until_ms > now
                                               ? dep->rate_limited_until_ms - now
                                               : 0));
        if (d->context_tokens > 0)
            tg_buf_printf(b, ",\"context_tokens\":%lld", (long long)d->context_tokens);
        if (dep->context.tokens > 0) /* requests estimated this big or bigger are skipped */
            tg_buf_printf(b, ",\"context_tokens_learned\":%lld",
                          (long long)dep->context.tokens);
        tg_buf_putc(b, '}');
    }
    /* Each key's limits and what its windows hold now (requests and tokens
     * counted only for the limits that are set; spend always: nano-USD in
     * the store, USD here). The limit store's clock is the wall clock. */
    uint64_t wall = tg_wall_ms();
    tg_buf_puts(b, "},\"keys\":{");
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct tg_key_cfg *k = &cfg->keys[i];
        if (i)
            tg_buf_putc(b, ',');
        tg_buf_json_str(b, k->name, strlen(k->name));
        long long requests =
            (long long)tg_limit_peek(gw->limits, k->counter_rpm, TG_PERIOD_MINUTE, wall);
        long long tokens =
            (long long)tg_limit_peek(gw->limits, k->counter_tpm, TG_PERIOD_MINUTE, wall);
        int64_t spend = tg_limit_peek(gw->limits, k->counter_spend, TG_PERIOD_HOUR, wall);
        tg_buf_printf(b, ":{\"rpm\":%lld,\"tpm\":%lld,\"requests_in_window\":%lld,"
                         "\"tokens_in_window\":%lld,\"usd_per_hour\":%.9g,"
                         "\"spend_usd_this_hour\":%.9f}",
                      (long long)k->rpm, (long long)k->tpm, requests, tokens, k->usd_per_hour,
                      tg_spend_usd(spend));
    }
    if (cfg->budget.usd_per_hour > 0) {
        int64_t spend = tg_limit_peek(gw->limits, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, wall);
        tg_buf_printf(b, "},\"budget\":{\"usd_per_hour\":%.9g,\"spend_usd_this_hour\":%.9f",
                      cfg->budget.usd_per_hour, tg_spend_usd(spend));
    }
    /* Answers kept for replay, and those in flight that others may join. */
    size_t kept = 0;
    struct tg_list *n;
    tg_list_foreach(n, &gw->idem.lru) kept++;
    tg_buf_printf(b, "},\"idempotency\":{\"kept\":%zu,\"in_flight\":%zu,\"bytes\":%zu,"
                     "\"max_bytes\":%zu},\"coalescing\":{\"in_flight\":%zu",
                  kept, gw->idem.map.len - kept, gw->idem.bytes, gw->idem.max_bytes,
                  gw->coalescing.len);
    tg_buf_puts(b, "},\"routes\":{");
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct tg_route_cfg *r = &cfg->routes[i];
        if (i)
            tg_buf_putc(b, ',');
        tg_buf_json_str(b, r->model, strlen(r->model));
        tg_buf_puts(b, ":{\"deployments\":[");
        double total = 0;
        for (size_t j = 0; j < r->n_deployments; j++) {
            total += effective_weight(rt, r->deployments[j]->index);
            if (j)
                tg_buf_putc(b, ',');
            tg_buf_json_str(b, r->deployments[j]->name, strlen(r->deployments[j]->name));
        }
        tg_buf_puts(b, "],\"candidates\":[");
        for (size_t j = 0; j < r->n_deployments; j++) {
            size_t di = r->deployments[j]->index;
            double w = effective_weight(rt, di);
            tg_buf_printf(b, "%s{\"deployment\":", j ? "," : "");
            tg_buf_json_str(b, r->deployments[j]->name, strlen(r->deployments[j]->name));
            tg_buf_printf(b, ",\"weight\":%.6g,\"share\":%.4f,\"state\":\"%s\"}", w,
                          total > 0 ? w / total : 0.0,
                          tg_breaker_state_name(tg_breaker_state(&rt->deps[di]->breaker, now)));
        }
        tg_buf_puts(b, "],\"fallbacks\":");
        str_array(b, r->fallbacks, r->n_fallbacks);
        tg_buf_puts(b, ",\"context_window_fallbacks\":");
        str_array(b, r->context_window_fallbacks, r->n_context_window_fallbacks);
        tg_buf_puts(b, ",\"content_policy_fallbacks\":");
        str_array(b, r->content_policy_fallbacks, r->n_content_policy_fallbacks);
        tg_buf_putc(b, '}');
    }
    tg_buf_puts(b, "}}");
}

static void on_request(struct tg_http_exchange *x, void *ctx)
{
    struct tg_gateway *gw = ctx;
    const struct tg_http_request *req = tg_http_request(x);
    struct tg_buf b = TG_BUF_INIT;
    if (strcmp(req->method_name, "GET") != 0 && strcmp(req->method_name, "HEAD") != 0) {
        tg_http_respond_error(x, 405, "method_not_allowed", "the admin API is read-only",
                              "Allow: GET\r\n");
        return;
    }
    if (tg_http_path_is(req, "/healthz")) {
        tg_buf_puts(&b, "ok\n");
        respond(x, 200, "text/plain", &b);
    } else if (tg_http_path_is(req, "/readyz")) {
        bool ok = ready(gw);
        tg_buf_puts(&b, ok ? "ready\n" : "not ready\n");
        respond(x, ok ? 200 : 503, "text/plain", &b);
    } else if (tg_http_path_is(req, "/metrics")) {
        render_metrics(gw, &b);
        respond(x, 200, "text/plain; version=0.0.4", &b);
    } else if (tg_http_path_is(req, "/status")) {
        render_status(gw, &b);
        respond(x, 200, "application/json", &b);
    } else {
        tg_http_respond_error(x, 404, "not_found", "admin endpoints: /healthz /readyz /metrics "
                                                   "/status",
                              NULL);
    }
    tg_buf_free(&b);
}

const struct tg_http_handler tg_admin_handler = {.on_request = on_request};

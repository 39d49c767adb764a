/* Registration of the gateway's metric families (see families.h). */
#include "metrics/families.h"

#include <time.h>

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

void tg_families_init(struct tg_families *f, struct tg_metrics *m)
{
    f->requests_total = tg_metrics_family(m, "tailgate_requests_total",
                                          "Client requests answered, by route and HTTP status.",
                                          TG_METRIC_COUNTER, L("route", "code"));
    f->request_duration = tg_metrics_family(m, "tailgate_request_duration_seconds",
                                            "Time from a client request to its complete answer.",
                                            TG_METRIC_HISTOGRAM, L("route"));
    f->upstream_attempts = tg_metrics_family(
        m, "tailgate_upstream_attempts_total",
        "Upstream attempts finished, by deployment and outcome class.", TG_METRIC_COUNTER,
        L("deployment", "outcome"));
    f->upstream_duration = tg_metrics_family(m, "tailgate_upstream_duration_seconds",
                                             "Duration of finished upstream attempts.",
                                             TG_METRIC_HISTOGRAM, L("deployment"));
    f->retries = tg_metrics_family(m, "tailgate_retries_total",
                                   "Retries sent to a deployment after a failed attempt.",
                                   TG_METRIC_COUNTER, L("deployment"));
    f->fallbacks = tg_metrics_family(m, "tailgate_fallbacks_total",
                                     "Requests that moved on to a fallback route, by that route.",
                                     TG_METRIC_COUNTER, L("route"));
    f->hedges = tg_metrics_family(m, "tailgate_hedges_total",
                                  "Hedged duplicates, by deployment and result (won, lost).",
                                  TG_METRIC_COUNTER, L("deployment", "result"));
    f->breaker_state = tg_metrics_family(m, "tailgate_breaker_state",
                                         "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                                         TG_METRIC_GAUGE, L("deployment"));
    f->breaker_opens = tg_metrics_family(m, "tailgate_breaker_opens_total",
                                         "Times a deployment's circuit breaker opened.",
                                         TG_METRIC_COUNTER, L("deployment"));
    f->budget_exhausted = tg_metrics_family(
        m, "tailgate_retry_budget_exhausted_total",
        "Retries or hedges not sent because the retry budget was empty.", TG_METRIC_COUNTER, NULL);
    f->cache = tg_metrics_family(m, "tailgate_cache_total",
                                 "Response cache lookups and stores, by result.",
                                 TG_METRIC_COUNTER, L("result"));
    f->degraded = tg_metrics_family(m, "tailgate_degraded_total",
                                    "Degraded answers (stale cache or the static message).",
                                    TG_METRIC_COUNTER, NULL);
    f->tokens = tg_metrics_family(m, "tailgate_tokens_total",
                                  "Tokens reported by upstream usage, by deployment and kind.",
                                  TG_METRIC_COUNTER, L("deployment", "kind"));
    f->spend = tg_metrics_family(m, "tailgate_spend_usd_total",
                                 "Cost of upstream attempts from usage and prices, USD.",
                                 TG_METRIC_COUNTER, L("deployment"));
    f->connections = tg_metrics_family(m, "tailgate_connections",
                                       "Open client connections.", TG_METRIC_GAUGE, NULL);
    f->inflight = tg_metrics_family(m, "tailgate_inflight_requests",
                                    "Client requests being handled.", TG_METRIC_GAUGE, NULL);
    f->reloads = tg_metrics_family(m, "tailgate_config_reloads_total",
                                   "Configuration reloads (SIGHUP), by result.", TG_METRIC_COUNTER,
                                   L("result"));
    f->key_requests = tg_metrics_family(m, "tailgate_key_requests_total",
                                        "Client requests answered, by auth key name and HTTP status.",
                                        TG_METRIC_COUNTER, L("key", "code"));
    f->dlq_writes = tg_metrics_family(
        m, "tailgate_dlq_writes_total",
        "Failed background requests appended to the dead-letter queue, by result (ok, error).",
        TG_METRIC_COUNTER, L("result"));
    f->ttft = tg_metrics_family(m, "tailgate_time_to_first_token_seconds",
                                "Time from a streaming attempt's start to its first content, "
                                "by deployment (answered streams only).",
                                TG_METRIC_HISTOGRAM, L("deployment"));
    static const double ttft_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
    tg_metric_set_buckets(f->ttft, ttft_bounds, sizeof(ttft_bounds) / sizeof(ttft_bounds[0]));
    f->hour_spend = tg_metrics_family(m, "tailgate_hourly_spend_usd",
                                      "Spend this clock hour (UTC) by auth key, \"(gateway)\" "
                                      "for all requests; reservations in flight included.",
                                      TG_METRIC_GAUGE, L("key"));
    f->hour_cap = tg_metrics_family(m, "tailgate_hourly_spend_cap_usd",
                                    "The spend cap per clock hour (usd_per_hour) by auth key, "
                                    "\"(gateway)\" for [budget]; only where one is set.",
                                    TG_METRIC_GAUGE, L("key"));
    f->build_info = tg_metrics_family(m, "tailgate_build_info",
                                      "The running tailgate's version, as a label (always 1).",
                                      TG_METRIC_GAUGE, L("version"));
    const char *version[] = {TG_VERSION};
    tg_metric_set(f->build_info, version, 1);
    f->process_cpu = tg_metrics_family(m, "process_cpu_seconds_total",
                                       "Total user and system CPU time spent in seconds.",
                                       TG_METRIC_COUNTER, NULL);
    f->process_resident = tg_metrics_family(m, "process_resident_memory_bytes",
                                            "Resident memory size in bytes.", TG_METRIC_GAUGE,
                                            NULL);
    f->process_fds = tg_metrics_family(m, "process_open_fds", "Number of open file descriptors.",
                                       TG_METRIC_GAUGE, NULL);
    f->process_start = tg_metrics_family(m, "process_start_time_seconds",
                                         "Start time of the process since unix epoch in seconds.",
                                         TG_METRIC_GAUGE, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tg_metric_set(f->process_start, NULL, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    f->shared_errors = tg_metrics_family(
        m, "tailgate_shared_errors_total",
        "Failures of the [shared] Redis link, by reason (connect, timeout, closed, reply); each "
        "request they touched was decided on this instance's own state.",
        TG_METRIC_COUNTER, L("reason"));
}

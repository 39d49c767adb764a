/* The gateway's metric families (SPEC section 6), created once per process. */
#ifndef TG_METRICS_FAMILIES_H
#define TG_METRICS_FAMILIES_H

#include "metrics/metrics.h"

struct tg_families {
    struct tg_metric_family *requests_total;     /* {route,code} */
    struct tg_metric_family *request_duration;   /* {route} */
    struct tg_metric_family *upstream_attempts;  /* {deployment,outcome} */
    struct tg_metric_family *upstream_duration;  /* {deployment} */
    struct tg_metric_family *retries;            /* {deployment} */
    struct tg_metric_family *fallbacks;          /* {route} */
    struct tg_metric_family *hedges;             /* {deployment,result} */
    struct tg_metric_family *breaker_state;      /* {deployment} */
    struct tg_metric_family *breaker_opens;      /* {deployment} */
    struct tg_metric_family *budget_exhausted;   /* no labels */
    struct tg_metric_family *cache;              /* {result} */
    struct tg_metric_family *degraded;           /* no labels */
    struct tg_metric_family *tokens;             /* {deployment,kind} */
    struct tg_metric_family *spend;              /* {deployment}, USD */
    struct tg_metric_family *connections;        /* gauge */
    struct tg_metric_family *inflight;           /* gauge */
    struct tg_metric_family *reloads;            /* {result} */
    struct tg_metric_family *key_requests;       /* {key,code} */
    struct tg_metric_family *dlq_writes;         /* {result}: ok, error */
    struct tg_metric_family *shared_errors;      /* {reason} */
    struct tg_metric_family *shared_up;          /* gauge; NULL without [shared] (start_shared) */
    struct tg_metric_family *ttft;               /* {deployment}, seconds to a stream's first content */
    /* This clock hour's spend and its cap, per key and "(gateway)" for
     * [budget] (set at each scrape: what alerts on a cap compare). */
    struct tg_metric_family *hour_spend, *hour_cap; /* {key} */
    /* [telemetry]'s, NULL without it (start_telemetry); set at each scrape. */
    struct tg_metric_family *trace_exported, *trace_dropped, *trace_export_failures,
        *trace_queued, *trace_queued_bytes;
    struct tg_metric_family *build_info;         /* {version}, always 1 */
    /* The standard process_* family, set at each scrape (admin.c). */
    struct tg_metric_family *process_cpu, *process_resident, *process_fds, *process_start;
};

void tg_families_init(struct tg_families *f, struct tg_metrics *m);

#endif

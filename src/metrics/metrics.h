/* Prometheus metrics: families of counters, gauges and histograms, each
 * series keyed by its label values, rendered in the text exposition format.
 * Label values are copied, so a series outlives the config that named it. */
#ifndef TG_METRICS_METRICS_H
#define TG_METRICS_METRICS_H

#include <stddef.h>

#include "core/buf.h"

enum tg_metric_type { TG_METRIC_COUNTER = 0, TG_METRIC_GAUGE, TG_METRIC_HISTOGRAM };

#define TG_METRIC_MAX_LABELS 3

struct tg_metrics;
struct tg_metric_family;

struct tg_metrics *tg_metrics_new(void);
void tg_metrics_free(struct tg_metrics *m);

/* `labels` is a NULL-terminated list of label names (at most 3). */
struct tg_metric_family *tg_metrics_family(struct tg_metrics *m, const char *name,
                                           const char *help, enum tg_metric_type type,
                                           const char *const *labels);
/* Histogram bucket upper bounds (ascending); +Inf is implied. */
void tg_metric_set_buckets(struct tg_metric_family *f, const double *bounds, size_t n);

/* `values` holds one value per label of the family (may be NULL with none). */
void tg_metric_add(struct tg_metric_family *f, const char *const *values, double delta);
void tg_metric_set(struct tg_metric_family *f, const char *const *values, double value);
void tg_metric_observe(struct tg_metric_family *f, const char *const *values, double value);
/* Drops every series of a gauge family (before re-setting it from state). */
void tg_metric_clear(struct tg_metric_family *f);

void tg_metrics_render(const struct tg_metrics *m, struct tg_buf *out);

#endif

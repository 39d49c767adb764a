/* Prometheus metrics registry (see metrics.h). Series live in a per-family
 * open-addressing hash on their label values; there are a few dozen of them,
 * looked up a handful of times per request. */
#include "metrics/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct series {
    char *values[TG_METRIC_MAX_LABELS];
    uint64_t hash;
    double value;           /* counter, gauge; histogram: sum */
    uint64_t count;         /* histogram */
    uint64_t *bucket_counts; /* histogram: per bound, not cumulative */
};

struct tg_metric_family {
    char *name;
    char *help;
    enum tg_metric_type type;
    char *labels[TG_METRIC_MAX_LABELS];
    int n_labels;
    double *bounds;
    size_t n_bounds;
    struct series **slots; /* open addressing, power-of-two size */
    size_t n_slots, n_series;
    struct tg_metric_family *next;
};

struct tg_metrics {
    struct tg_metric_family *first, *last;
};

static const double default_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30, 60};

struct tg_metrics *tg_metrics_new(void)
{
    return tg_xcalloc(1, sizeof(struct tg_metrics));
}

static void series_free(struct series *s, int n_labels)
{
    for (int i = 0; i < n_labels; i++)
        free(s->values[i]);
    free(s->bucket_counts);
    free(s);
}

void tg_metric_clear(struct tg_metric_family *f)
{
    for (size_t i = 0; i < f->n_slots; i++) {
        if (f->slots[i])
            series_free(f->slots[i], f->n_labels);
        f->slots[i] = NULL;
    }
    f->n_series = 0;
}

void tg_metrics_free(struct tg_metrics *m)
{
    if (!m)
        return;
    struct tg_metric_family *f = m->first;
    while (f) {
        struct tg_metric_family *next = f->next;
        tg_metric_clear(f);
        free(f->slots);
        free(f->name);
        free(f->help);
        for (int i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->bounds);
        free(f);
        f = next;
    }
    free(m);
}

struct tg_metric_family *tg_metrics_family(struct tg_metrics *m, const char *name,
                                           const char *help, enum tg_metric_type type,
                                           const char *const *labels)
{
    struct tg_metric_family *f = tg_xcalloc(1, sizeof(*f));
    f->name = tg_xstrdup(name);
    f->help = tg_xstrdup(help);
    f->type = type;
    for (int i = 0; labels && labels[i] && i < TG_METRIC_MAX_LABELS; i++)
        f->labels[f->n_labels++] = tg_xstrdup(labels[i]);
    f->n_slots = 16;
    f->slots = tg_xcalloc(f->n_slots, sizeof(*f->slots));
    if (type == TG_METRIC_HISTOGRAM)
        tg_metric_set_buckets(f, default_bounds, sizeof(default_bounds) / sizeof(default_bounds[0]));
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

void tg_metric_set_buckets(struct tg_metric_family *f, const double *bounds, size_t n)
{
    free(f->bounds);
    f->bounds = tg_xmalloc(n * sizeof(double));
    memcpy(f->bounds, bounds, n * sizeof(double));
    f->n_bounds = n;
}

static uint64_t hash_values(const struct tg_metric_family *f, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < f->n_labels; i++) {
        for (const char *p = values[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static bool same_values(const struct tg_metric_family *f, const struct series *s,
                        const char *const *values)
{
    for (int i = 0; i < f->n_labels; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return false;
    return true;
}

static void grow(struct tg_metric_family *f)
{
    size_t n = f->n_slots * 2;
    struct series **slots = tg_xcalloc(n, sizeof(*slots));
    for (size_t i = 0; i < f->n_slots; i++) {
        struct series *s = f->slots[i];
        if (!s)
            continue;
        size_t j = s->hash & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = s;
    }
    free(f->slots);
    f->slots = slots;
    f->n_slots = n;
}

static struct series *find(struct tg_metric_family *f, const char *const *values, bool create)
{
    static const char *const none[TG_METRIC_MAX_LABELS] = {"", "", ""};
    if (!values)
        values = none;
    uint64_t h = hash_values(f, values);
    size_t j = h & (f->n_slots - 1);
    while (f->slots[j]) {
        struct series *s = f->slots[j];
        if (s->hash == h && same_values(f, s, values))
            return s;
        j = (j + 1) & (f->n_slots - 1);
    }
    if (!create)
        return NULL;
    struct series *s = tg_xcalloc(1, sizeof(*s));
    for (int i = 0; i < f->n_labels; i++)
        s->values[i] = tg_xstrdup(values[i]);
    s->hash = h;
    if (f->type == TG_METRIC_HISTOGRAM)
        s->bucket_counts = tg_xcalloc(f->n_bounds + 1, sizeof(uint64_t));
    f->slots[j] = s;
    if (++f->n_series * 2 > f->n_slots)
        grow(f);
    return s;
}

void tg_metric_add(struct tg_metric_family *f, const char *const *values, double delta)
{
    find(f, values, true)->value += delta;
}

void tg_metric_set(struct tg_metric_family *f, const char *const *values, double value)
{
    find(f, values, true)->value = value;
}

void tg_metric_observe(struct tg_metric_family *f, const char *const *values, double value)
{
    struct series *s = find(f, values, true);
    s->value += value;
    s->count++;
    size_t i = 0;
    while (i < f->n_bounds && value > f->bounds[i])
        i++;
    s->bucket_counts[i]++;
}

/* Label values escaped per the exposition format: \\ \" \n. */
static void put_label_value(struct tg_buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            tg_buf_putc(out, '\\');
            tg_buf_putc(out, *v);
        } else if (*v == '\n')
            tg_buf_puts(out, "\\n");
        else
            tg_buf_putc(out, *v);
    }
}

static void put_labels(struct tg_buf *out, const struct tg_metric_family *f,
                       const struct series *s, const char *le)
{
    if (f->n_labels == 0 && !le)
        return;
    tg_buf_putc(out, '{');
    for (int i = 0; i < f->n_labels; i++) {
        tg_buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_label_value(out, s->values[i]);
        tg_buf_putc(out, '"');
    }
    if (le)
        tg_buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    tg_buf_putc(out, '}');
}

static void put_number(struct tg_buf *out, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        tg_buf_printf(out, " %.0f\n", v);
    else
        tg_buf_printf(out, " %.9g\n", v);
}

void tg_metrics_render(const struct tg_metrics *m, struct tg_buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    for (const struct tg_metric_family *f = m->first; f; f = f->next) {
        tg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      type_names[f->type]);
        if (f->n_series == 0 && f->n_labels == 0 && f->type != TG_METRIC_HISTOGRAM) {
            tg_buf_printf(out, "%s 0\n", f->name);
            continue;
        }
        for (size_t i = 0; i < f->n_slots; i++) {
            const struct series *s = f->slots[i];
            if (!s)
                continue;
            if (f->type != TG_METRIC_HISTOGRAM) {
                tg_buf_puts(out, f->name);
                put_labels(out, f, s, NULL);
                put_number(out, s->value);
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t b = 0; b <= f->n_bounds; b++) {
                char le[32];
                if (b < f->n_bounds)
                    snprintf(le, sizeof(le), "%g", f->bounds[b]);
                else
                    snprintf(le, sizeof(le), "+Inf");
                cumulative += s->bucket_counts[b];
                tg_buf_printf(out, "%s_bucket", f->name);
                put_labels(out, f, s, le);
                put_number(out, (double)cumulative);
            }
            tg_buf_printf(out, "%s_sum", f->name);
            put_labels(out, f, s, NULL);
            put_number(out, s->value);
            tg_buf_printf(out, "%s_count", f->name);
            put_labels(out, f, s, NULL);
            put_number(out, (double)s->count);
        }
    }
}

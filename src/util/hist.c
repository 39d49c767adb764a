/* Decaying log-bucketed latency histogram (see hist.h). */
#include "util/hist.h"

#include <math.h>
#include <string.h>

/* Renormalise before weights get anywhere near float's range. */
#define MAX_WEIGHT_EXPONENT 40.0

int tg_hist_bucket(uint64_t v)
{
    if (v < TG_HIST_SUB)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    if (msb > TG_HIST_MAX_EXP) {
        return TG_HIST_BUCKETS - 1;
    }
    int shift = msb - TG_HIST_SUB_BITS;
    int sub = (int)(v >> shift) - TG_HIST_SUB; /* 0..31 */
    return (shift + 1) * TG_HIST_SUB + sub;
}

double tg_hist_bucket_mid(int index)
{
    if (index < TG_HIST_SUB)
        return (double)index;
    int shift = index / TG_HIST_SUB - 1;
    int sub = index % TG_HIST_SUB + TG_HIST_SUB;
    double lo = ldexp((double)sub, shift);
    double width = ldexp(1.0, shift);
    return lo + width / 2.0;
}

void tg_hist_init(struct tg_hist *h, uint64_t now_ms, double tau_ms)
{
    memset(h, 0, sizeof(*h));
    h->landmark_ms = now_ms;
    h->tau_ms = tau_ms > 0 ? tau_ms : 30000;
}

static void renormalise(struct tg_hist *h, uint64_t now_ms)
{
    double f = exp(-(double)(now_ms - h->landmark_ms) / h->tau_ms);
    for (int i = 0; i < TG_HIST_BUCKETS; i++)
        h->counts[i] = (float)(h->counts[i] * f);
    h->total *= f;
    h->landmark_ms = now_ms;
}

void tg_hist_record(struct tg_hist *h, uint64_t now_ms, uint64_t value_us)
{
    if (now_ms < h->landmark_ms)
        now_ms = h->landmark_ms;
    if ((double)(now_ms - h->landmark_ms) / h->tau_ms > MAX_WEIGHT_EXPONENT)
        renormalise(h, now_ms);
    double w = exp((double)(now_ms - h->landmark_ms) / h->tau_ms);
    h->counts[tg_hist_bucket(value_us)] += (float)w;
    h->total += w;
    h->samples++;
}

double tg_hist_quantile(const struct tg_hist *h, double q)
{
    if (h->total <= 0)
        return 0;
    double want = q * h->total, seen = 0;
    for (int i = 0; i < TG_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want && h->counts[i] > 0)
            return tg_hist_bucket_mid(i);
    }
    for (int i = TG_HIST_BUCKETS - 1; i >= 0; i--)
        if (h->counts[i] > 0)
            return tg_hist_bucket_mid(i);
    return 0;
}

void tg_hist_quantiles(const struct tg_hist *h, const double *qs, int n, double *out)
{
    int k = 0;
    double seen = 0;
    for (int i = 0; i < TG_HIST_BUCKETS && k < n; i++) {
        seen += h->counts[i];
        while (k < n && h->counts[i] > 0 && seen >= qs[k] * h->total) {
            out[k++] = tg_hist_bucket_mid(i);
        }
    }
    for (; k < n; k++)
        out[k] = tg_hist_quantile(h, qs[k]);
}

double tg_hist_weight(const struct tg_hist *h, uint64_t now_ms)
{
    if (now_ms < h->landmark_ms)
        now_ms = h->landmark_ms;
    return h->total * exp(-(double)(now_ms - h->landmark_ms) / h->tau_ms);
}

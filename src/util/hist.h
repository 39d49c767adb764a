/* Latency histogram with bounded relative error and exponential decay.
 *
 * Buckets are HDR-style: values (in microseconds) below 32 are exact; above,
 * each power of two is split into 32 linear sub-buckets, so a quantile read
 * from a bucket's midpoint is within 1/64 (1.6%) of a value in that bucket.
 * Values below 2^31 us (~36 min) fit; larger ones land in the top bucket.
 *
 * Decay is "forward decay": a sample recorded at time t weighs
 * e^((t - landmark) / tau), so older samples count less without ever being
 * touched; with tau = 30 s a sample a minute old weighs 13%, two minutes 2%.
 * The weights are renormalised when they grow large. 864 float buckets:
 * about 3.5 KiB per histogram. Pure: time comes in as now_ms. */
#ifndef TG_UTIL_HIST_H
#define TG_UTIL_HIST_H

#include <stdint.h>

#define TG_HIST_SUB_BITS 5
#define TG_HIST_SUB (1 << TG_HIST_SUB_BITS)
#define TG_HIST_MAX_EXP 30
#define TG_HIST_BUCKETS ((TG_HIST_MAX_EXP - TG_HIST_SUB_BITS + 2) * TG_HIST_SUB)
#define TG_HIST_REL_ERROR (1.0 / (2 * TG_HIST_SUB))

struct tg_hist {
    float counts[TG_HIST_BUCKETS];
    double total;       /* sum of weights */
    uint64_t landmark_ms;
    double tau_ms;
    uint64_t samples;   /* raw count, never decayed */
};

void tg_hist_init(struct tg_hist *h, uint64_t now_ms, double tau_ms);
void tg_hist_record(struct tg_hist *h, uint64_t now_ms, uint64_t value_us);
/* The q-quantile (0 < q < 1) in microseconds; 0 when empty. */
double tg_hist_quantile(const struct tg_hist *h, double q);
/* Several quantiles in one pass: qs ascending, out[i] for qs[i]. */
void tg_hist_quantiles(const struct tg_hist *h, const double *qs, int n, double *out);
/* Samples still counting, in "recent sample" units (1 for a sample just
 * recorded, less for older ones). */
double tg_hist_weight(const struct tg_hist *h, uint64_t now_ms);

/* Bucket index of a value, and the midpoint of a bucket (for tests). */
int tg_hist_bucket(uint64_t value_us);
double tg_hist_bucket_mid(int index);

#endif

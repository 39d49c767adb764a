/* Health factors for weighted routing (see health.h). */
#include "route/health.h"

#include <math.h>
#include <string.h>

void tg_health_init(struct tg_health *h)
{
    memset(h, 0, sizeof(*h));
}

/* The weight a new sample gets after dt ms: 1 - e^(-dt/tau), at least a
 * little so back-to-back samples still count. */
static double sample_weight(uint64_t last_ms, uint64_t now_ms)
{
    if (last_ms == 0)
        return 1.0;
    double dt = now_ms > last_ms ? (double)(now_ms - last_ms) : 0.0;
    double w = 1.0 - exp(-dt / TG_HEALTH_TAU_MS);
    return w < 0.02 ? 0.02 : w;
}

void tg_health_record(struct tg_health *h, uint64_t now_ms, bool failure)
{
    double w = sample_weight(h->last_ms[2], now_ms);
    h->fail_rate += w * ((failure ? 1.0 : 0.0) - h->fail_rate);
    h->last_ms[2] = now_ms ? now_ms : 1;
}

void tg_health_latency(struct tg_health *h, uint64_t now_ms, bool stream, double latency_us)
{
    int k = stream ? 1 : 0;
    if (!h->has_latency[k]) {
        h->latency_us[k] = latency_us;
        h->has_latency[k] = true;
    } else {
        double w = sample_weight(h->last_ms[k], now_ms);
        h->latency_us[k] += w * (latency_us - h->latency_us[k]);
    }
    h->last_ms[k] = now_ms ? now_ms : 1;
}

double tg_health_factor(const struct tg_health *h, bool stream, double best_us)
{
    int k = stream ? 1 : 0;
    double ok = 1.0 - h->fail_rate;
    double factor = ok * ok;
    if (h->has_latency[k] && best_us > 0 && h->latency_us[k] > best_us) {
        double ratio = (best_us + TG_HEALTH_LATENCY_FLOOR_US) /
                       (h->latency_us[k] + TG_HEALTH_LATENCY_FLOOR_US);
        factor *= ratio * ratio;
    }
    return factor < TG_HEALTH_MIN_FACTOR ? TG_HEALTH_MIN_FACTOR : factor;
}

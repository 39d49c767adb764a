/* Health-weighted routing: a deployment's share of its group shrinks with its
 * recent failure rate and its latency relative to its peers, before its
 * breaker trips, and comes back as it heals.
 *
 *   effective = weight * max(MIN_FACTOR, (1 - f)^2 * min(1, ((best + F) / (mine + F))^2))
 *
 * f is the deployment's failure rate and `mine` its latency, both as
 * time-decayed averages (tau 2 s): each sample weighs 1 - e^(-dt/tau) against
 * what came before, so a deployment that gets few requests (because it is
 * slow) still moves quickly on the samples it does get. `best` is the lowest
 * latency among the group's deployments with samples; full answers and
 * streams' first chunks are compared apart. F (25 ms) keeps noise out:
 * 0.3 ms against 0.5 ms is no reason to move traffic, 500 ms against 2.5 s
 * is (that deployment keeps ~1/23 of its weight); one failing 50% keeps 1/4.
 * MIN_FACTOR (2%) keeps every deployment sampled, so recovery is seen. Pure. */
#ifndef TG_ROUTE_HEALTH_H
#define TG_ROUTE_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#define TG_HEALTH_TAU_MS 2000.0
#define TG_HEALTH_MIN_FACTOR 0.02
#define TG_HEALTH_LATENCY_FLOOR_US 25000.0

struct tg_health {
    double fail_rate;     /* decayed failure fraction, 0..1 */
    double latency_us[2]; /* decayed latency: [0] full answers, [1] first content */
    bool has_latency[2];
    uint64_t last_ms[3];  /* last update of fail_rate, latency[0], latency[1] */
};

void tg_health_init(struct tg_health *h);
/* An attempt finished: failure or not, and (when ok) how long it took. */
void tg_health_record(struct tg_health *h, uint64_t now_ms, bool failure);
void tg_health_latency(struct tg_health *h, uint64_t now_ms, bool stream, double latency_us);
/* The factor (MIN_FACTOR..1) that multiplies the configured weight; best_us
 * is the group's best latency of the same kind (0 when unknown). */
double tg_health_factor(const struct tg_health *h, bool stream, double best_us);

#endif

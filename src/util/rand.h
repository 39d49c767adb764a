/* Seeded pseudo-random numbers (xoshiro256**, seeded through splitmix64).
 * Every random choice in tailgate (jitter, weighted picks, the mock's
 * latencies and text) draws from an injected struct tg_rand, so that a seed
 * makes a run repeat and tests can pin outcomes. */
#ifndef TG_UTIL_RAND_H
#define TG_UTIL_RAND_H

#include <stdint.h>

struct tg_rand {
    uint64_t s[4];
};

void tg_rand_seed(struct tg_rand *r, uint64_t seed);
uint64_t tg_rand_u64(struct tg_rand *r);
/* Uniform in [0, 1). */
double tg_rand_unit(struct tg_rand *r);
/* Uniform integer in [0, n); n == 0 gives 0. */
uint64_t tg_rand_below(struct tg_rand *r, uint64_t n);
/* Standard normal (mean 0, sd 1). */
double tg_rand_normal(struct tg_rand *r);
/* Log-normal with the given median and 99th percentile. A p99 that is not
 * above the median gives the median itself (no spread). */
double tg_rand_lognormal(struct tg_rand *r, double median, double p99);

#endif

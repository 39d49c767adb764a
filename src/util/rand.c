/* xoshiro256** (Blackman and Vigna), seeded with splitmix64; written from the
 * published algorithm description. */
#include "util/rand.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void tg_rand_seed(struct tg_rand *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t tg_rand_u64(struct tg_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tg_rand_unit(struct tg_rand *r)
{
    /* 53 random bits scaled into [0, 1). */
    return (double)(tg_rand_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t tg_rand_below(struct tg_rand *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Rejection removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = tg_rand_u64(r);
    } while (x >= limit);
    return x % n;
}

double tg_rand_normal(struct tg_rand *r)
{
    /* Box-Muller; 1 - unit() is in (0, 1], so the log is finite. */
    double u1 = 1.0 - tg_rand_unit(r);
    double u2 = tg_rand_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double tg_rand_lognormal(struct tg_rand *r, double median, double p99)
{
    if (median <= 0)
        return 0;
    if (p99 <= median)
        return median;
    /* ln X ~ N(mu, sigma): the median is e^mu and p99 is e^(mu + z99 sigma). */
    const double z99 = 2.3263478740408408;
    double mu = log(median);
    double sigma = (log(p99) - mu) / z99;
    return exp(mu + sigma * tg_rand_normal(r));
}

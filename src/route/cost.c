#include "route/cost.h"

#include <stddef.h>

#define PER_TOKEN(usd_per_mtok) ((usd_per_mtok) / 1e6)

bool tg_prices_set(const struct tg_prices *p)
{
    return p->input > 0 || p->cached_input > 0 || p->output > 0;
}

double tg_cost_usd(const struct tg_prices *p, const struct tg_usage *u)
{
    int64_t in = u->input > 0 ? u->input : 0;
    int64_t cached = u->cached_input > 0 ? u->cached_input : 0;
    int64_t out = u->output > 0 ? u->output : 0;
    if (cached > in)
        cached = in;
    return (double)(in - cached) * PER_TOKEN(p->input) +
           (double)cached * PER_TOKEN(p->cached_input) + (double)out * PER_TOKEN(p->output);
}

double tg_cost_worst_usd(const struct tg_prices *p, size_t prompt_bytes, int64_t max_out)
{
    struct tg_usage u = {(int64_t)(prompt_bytes / 4), 0, max_out};
    return tg_cost_usd(p, &u);
}

double tg_cost_ceiling(double gateway, double key, double request)
{
    double v[3] = {gateway, key, request}, low = 0;
    for (size_t i = 0; i < 3; i++)
        if (v[i] > 0 && (low == 0 || v[i] < low))
            low = v[i];
    return low;
}

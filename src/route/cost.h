/* What a request costs (SPEC section 8, "Spend and cost" and "Cost
 * ceiling"): usage times a deployment's prices, and the worst case a
 * deployment could charge for a request before it is sent. Pure. */
#ifndef TG_ROUTE_COST_H
#define TG_ROUTE_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* USD per million tokens. */
struct tg_prices {
    double input;
    double cached_input; /* prompt tokens the provider reports as read from its cache */
    double output;
};

/* Usage as providers report it. input counts the whole prompt, cached
 * tokens included (OpenAI's prompt_tokens; for Anthropic, input_tokens +
 * cache_creation_input_tokens + cache_read_input_tokens); cached_input is
 * the part of it read from the provider's cache. */
struct tg_usage {
    int64_t input;
    int64_t cached_input;
    int64_t output;
};

/* Whether any price is set: without one, nothing is charged or shown. */
bool tg_prices_set(const struct tg_prices *p);

/* The cached part at cached_input, the rest of the prompt at input, the
 * answer at output. Counts below zero, or a cached count above the prompt,
 * are clamped (a provider's odd usage never makes a cost negative). */
double tg_cost_usd(const struct tg_prices *p, const struct tg_usage *u);

/* The most a request could cost on a deployment: its estimated prompt
 * (bytes / 4, no cache assumed) at input, max_out tokens at output. */
double tg_cost_worst_usd(const struct tg_prices *p, size_t prompt_bytes, int64_t max_out);

/* The cost ceiling in force: the lowest positive of the three (0: none). */
double tg_cost_ceiling(double gateway, double key, double request);

#endif

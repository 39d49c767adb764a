/* Spend caps (SPEC section 8 `usd_per_hour`, per key and `[budget]` for the
 * whole gateway): money as the limit store counts it, a request's
 * reservation, and what it is charged once it ends. Pure.
 *
 * Money is counted in integer nano-USD (1e-9 USD): sums are exact, and a
 * shared store adds them with INCRBY.
 *
 * How a cap holds. A request is admitted only when what its cap's counter
 * holds this hour plus its reservation (its worst-case cost) is within the
 * cap, and the reservation stays in the counter until the request settles
 * it to its actual cost. So the requests in flight never hold more than the
 * cap together: two requests racing for the last of a cap cannot both get
 * it, whatever their number. The counter can pass the cap only by what a
 * request spends beyond its own reservation (a prompt of more tokens than
 * bytes / 4, or several attempts that each reported usage: answers retried
 * for failing validation, hedges), which is less than that request's actual
 * cost; once it has, the cap is reached and every request is refused until
 * the hour ends, so no request admitted later adds to it. A request whose
 * worst case alone is above the cap is never admitted. */
#ifndef TG_ROUTE_SPEND_H
#define TG_ROUTE_SPEND_H

#include <stdbool.h>
#include <stdint.h>

#define TG_NANO_PER_USD 1e9
/* Above any cap the config allows (1e9 USD), far below INT64_MAX: a sum of
 * two never overflows. */
#define TG_SPEND_MAX_NANO ((int64_t)4e18)

/* USD as nano-USD, rounded up (a reservation never falls short by
 * rounding), within [0, TG_SPEND_MAX_NANO]. */
int64_t tg_spend_nano(double usd);
double tg_spend_usd(int64_t nano);

/* A request's reservation for its worst case (USD): at least 1 nano-USD, so
 * a cap already reached refuses even a request that would cost nothing. */
int64_t tg_spend_reservation(double worst_usd);

/* What a finished request costs, in nano-USD, against the `reserved` it was
 * admitted with (0 when it was under no cap): its reported cost when one is
 * known; else its reservation when an upstream answer it paid for reached
 * the client without usage (the money was spent, just not reported); else
 * nothing (refused, failed, served from the cache or by a deployment
 * without prices). */
int64_t tg_spend_final(int64_t reserved, bool cost_known, double cost_usd, bool paid_unreported);

#endif

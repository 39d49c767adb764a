/* Spend caps' money (see spend.h). */
#include "route/spend.h"

#include <math.h>

int64_t tg_spend_nano(double usd)
{
    if (!(usd > 0)) /* also NaN */
        return 0;
    double n = ceil(usd * TG_NANO_PER_USD - 1e-6); /* 0.1 USD is 1e8, not 1e8 + 1 */
    return n >= (double)TG_SPEND_MAX_NANO ? TG_SPEND_MAX_NANO : (int64_t)n;
}

double tg_spend_usd(int64_t nano)
{
    return (double)nano / TG_NANO_PER_USD;
}

int64_t tg_spend_reservation(double worst_usd)
{
    int64_t n = tg_spend_nano(worst_usd);
    return n > 0 ? n : 1;
}

int64_t tg_spend_final(int64_t reserved, bool cost_known, double cost_usd, bool paid_unreported)
{
    if (cost_known)
        return tg_spend_nano(cost_usd);
    return paid_unreported ? reserved : 0;
}

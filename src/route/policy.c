/* Retry / move-on / pass-through decisions (see policy.h). */
#include "route/policy.h"

#include <string.h>

#include "route/backoff.h"

const char *tg_decision_name(enum tg_decision d)
{
    static const char *const names[] = {"retry", "move_on", "pass_through", "context_fallback",
                                        "policy_fallback"};
    return (unsigned)d < 5 ? names[d] : "?";
}

void tg_policy_decide(const struct tg_decision_in *in, struct tg_rand *rand,
                      struct tg_decision_out *out)
{
    memset(out, 0, sizeof(*out));
    out->decision = TG_DECIDE_MOVE_ON;
    int max_tries = (int)in->retry->max_attempts;
    switch (in->cls) {
    case TG_CLASS_CLIENT_ERROR:
        out->decision = TG_DECIDE_PASS_THROUGH;
        return;
    case TG_CLASS_CONTEXT_OVERFLOW:
        out->decision = in->has_context_fallbacks ? TG_DECIDE_CONTEXT_FALLBACK
                                                  : TG_DECIDE_PASS_THROUGH;
        return;
    case TG_CLASS_CONTENT_POLICY:
        out->decision = in->has_policy_fallbacks ? TG_DECIDE_POLICY_FALLBACK
                                                 : TG_DECIDE_PASS_THROUGH;
        return;
    case TG_CLASS_QUOTA:
    case TG_CLASS_AUTH:
        out->quarantine = true;
        return;
    case TG_CLASS_TIMEOUT:
    case TG_CLASS_INVALID:
        /* Once more on the same deployment, then move on. */
        if (max_tries > 2)
            max_tries = 2;
        break;
    case TG_CLASS_TRANSPORT:
    case TG_CLASS_SERVER:
    case TG_CLASS_RATE_LIMITED:
        break;
    case TG_CLASS_OK:
    case TG_CLASS_CANCELLED:
    default:
        return;
    }

    uint64_t wait = tg_backoff_ms(in->retry, in->tries_on_dep, rand);
    if (in->cls == TG_CLASS_RATE_LIMITED) {
        if (in->retry->respect_retry_after && in->retry_after_ms >= 0)
            wait = (uint64_t)in->retry_after_ms;
        out->cooldown_ms = wait;
        if (wait > (uint64_t)in->retry->max_retry_after_ms)
            return; /* too long to wait here: another candidate serves it sooner */
    }
    if (in->tries_on_dep >= max_tries)
        return;
    if (in->now_ms + wait >= in->deadline_ms)
        return; /* nothing waits past the deadline */
    if (!in->budget_ok) {
        out->budget_blocked = true;
        return;
    }
    out->decision = TG_DECIDE_RETRY;
    out->wait_ms = wait;
}

/* What to do after a failed attempt (SPEC section 4's table), as a pure
 * function of the outcome class, the attempts already made on the
 * deployment, Retry-After, the deadline and the retry budget. */
#ifndef TG_ROUTE_POLICY_H
#define TG_ROUTE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "route/classify.h"
#include "util/rand.h"

enum tg_decision {
    TG_DECIDE_RETRY = 0,         /* same deployment, after wait_ms */
    TG_DECIDE_MOVE_ON,           /* next candidate */
    TG_DECIDE_PASS_THROUGH,      /* send the upstream's answer to the client as is */
    TG_DECIDE_CONTEXT_FALLBACK,  /* context_window_fallbacks */
    TG_DECIDE_POLICY_FALLBACK,   /* content_policy_fallbacks */
};

struct tg_decision_in {
    enum tg_class cls;
    int tries_on_dep;       /* attempts made on this deployment, the failed one included */
    int64_t retry_after_ms; /* from the answer's headers; -1 when absent */
    uint64_t now_ms;
    uint64_t deadline_ms;
    const struct tg_retry_cfg *retry;
    bool budget_ok;         /* the deployment's retry budget allows one more */
    bool has_context_fallbacks;
    bool has_policy_fallbacks;
};

struct tg_decision_out {
    enum tg_decision decision;
    uint64_t wait_ms;        /* RETRY: before the retry */
    uint64_t cooldown_ms;    /* rate_limited: no new first attempts for this long */
    bool quarantine;         /* quota / auth: out for quota_cooldown_ms */
    bool budget_blocked;     /* a retry was due but the budget was empty */
};

void tg_policy_decide(const struct tg_decision_in *in, struct tg_rand *rand,
                      struct tg_decision_out *out);
const char *tg_decision_name(enum tg_decision d);

#endif

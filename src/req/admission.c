/* A request's admission (SPEC section 8): its key's rpm and tpm, and the
 * spend caps it falls under (its key's `usd_per_hour` and the gateway's
 * `[budget] usd_per_hour`, which covers requests without a key too). It asks
 * the limit store to charge every counter at once or none, answers 429 when
 * refused, and settles the charges when the request ends, exactly once.
 *
 * Spend is reserved at its worst case and settled to the actual cost; see
 * route/spend.h for why that bounds what concurrent requests can overshoot
 * a cap by. Every admission and settlement reads the wall clock
 * (tg_wall_ms()): clock hours are UTC hours, and all counters share it. */
#include <stdio.h>
#include <stdlib.h>

#include "req/internal.h"
#include "route/spend.h"

static struct tg_limit_store *store(const struct tg_req *r)
{
    return r->gw->limits;
}

static int64_t gateway_cap(const struct tg_req *r)
{
    return tg_spend_nano(r->rt->cfg->budget.usd_per_hour);
}

static int64_t key_cap(const struct tg_req *r)
{
    return r->key ? tg_spend_nano(r->key->usd_per_hour) : 0;
}

bool tg_admission_needed(const struct tg_req *r)
{
    const struct tg_key_cfg *k = r->key;
    return (k && (k->rpm > 0 || k->tpm > 0 || key_cap(r) > 0)) || gateway_cap(r) > 0;
}

/* The most the request could cost: its worst case on the dearest deployment
 * it could be sent to (its route's, and those of every route its fallbacks
 * of any kind lead to), leaving out those over its cost ceiling, which it
 * can never use. */
static double worst_usd(const struct tg_req *r)
{
    const struct tg_route_cfg *route = r->first_route;
    double worst = 0;
    for (size_t i = 0; i < route->n_reachable; i++) {
        const struct tg_deployment_cfg *d = route->reachable[i];
        if (tg_attempt_eligibility(r, d) != TG_ELIGIBLE)
            continue; /* never used for this request */
        struct tg_prices p = tg_deployment_prices(d);
        double w = tg_cost_worst_usd(&p, r->body_len, r->max_out_tokens);
        if (w > worst)
            worst = w;
    }
    return worst;
}

static void on_admitted(void *ctx, const struct tg_admission *result)
{
    struct tg_req *r = ctx;
    r->adm.result = *result;
    r->adm.done = true;
    tg_req_admitted(r);
}

/* A reservation outlives its request's deadline by this much in a shared
 * store when nobody settles it. */
#define HOLD_GRACE_MS 10000u

/* The next want of an admission; returns its index. */
static int want(const struct tg_req *r, struct tg_limit_want *wants, size_t *n, const char *name,
                enum tg_limit_period period, int64_t limit, int64_t cost)
{
    size_t i = (*n)++;
    uint64_t now = tg_now(&r->gw->loop);
    uint64_t left = r->deadline_ms > now ? r->deadline_ms - now : 0;
    wants[i] = (struct tg_limit_want){name, period, limit, cost, left + HOLD_GRACE_MS};
    return (int)i;
}

void tg_admission_start(struct tg_req *r)
{
    struct tg_req_admission *ad = &r->adm;
    const struct tg_key_cfg *k = r->key;
    struct tg_limit_want wants[TG_LIMIT_MAX_CHECKS];
    size_t n = 0;
    ad->rpm = ad->tpm = ad->spend_key = ad->spend_gw = -1;
    ad->est_tokens = tg_limits_estimate_tokens(r->body_len, r->max_out_tokens, 0);
    if (k && k->rpm > 0)
        ad->rpm = want(r, wants, &n, k->counter_rpm, TG_PERIOD_MINUTE, k->rpm, 1);
    if (k && k->tpm > 0)
        ad->tpm = want(r, wants, &n, k->counter_tpm, TG_PERIOD_MINUTE, k->tpm, ad->est_tokens);
    int64_t kcap = key_cap(r), gcap = gateway_cap(r);
    if (kcap > 0 || gcap > 0)
        ad->reserved = tg_spend_reservation(worst_usd(r));
    if (kcap > 0)
        ad->spend_key = want(r, wants, &n, k->counter_spend, TG_PERIOD_HOUR, kcap, ad->reserved);
    if (gcap > 0)
        ad->spend_gw = want(r, wants, &n, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, gcap,
                            ad->reserved);
    tg_limit_admit(store(r), wants, n, tg_wall_ms(), on_admitted, r);
}

/* Whether counter i of the admission refused it (it had less left than the
 * request's charge to it). */
static bool refused_by(const struct tg_req_admission *ad, int i, int64_t charge)
{
    return i >= 0 && ad->result.state[i].remaining < charge;
}

enum tg_req_term tg_admission_refuse(struct tg_req *r)
{
    const struct tg_req_admission *ad = &r->adm;
    const struct tg_key_cfg *k = r->key;
    char msg[512];
    int64_t wait_s = (int64_t)((ad->result.retry_after_ms + 999) / 1000);
    r->retry_after_s = wait_s < 1 ? 1 : wait_s;
    int cap = refused_by(ad, ad->spend_key, ad->reserved)  ? ad->spend_key
              : refused_by(ad, ad->spend_gw, ad->reserved) ? ad->spend_gw
                                                           : -1;
    if (cap >= 0) {
        /* Not before the hour ends; and an SDK's own retries meanwhile
         * would only be refused again. */
        const struct tg_limit_state *st = &ad->result.state[cap];
        char who[256];
        if (cap == ad->spend_key)
            snprintf(who, sizeof(who), "the key \"%.200s\"", k->name);
        else
            snprintf(who, sizeof(who), "the gateway ([budget])");
        snprintf(msg, sizeof(msg),
                 "%s is over its spend cap of %g USD per hour: %.6f USD is spent or reserved "
                 "this hour and this request could cost up to %.6f USD; the cap resets at the "
                 "top of the hour (UTC)",
                 who, tg_spend_usd(st->limit), tg_spend_usd(st->limit - st->remaining),
                 tg_spend_usd(ad->reserved));
        r->retry_never = true;
        tg_answer_error(r, 429, "budget_exceeded", msg);
        return TG_TERM_BUDGET_EXCEEDED;
    }
    if (refused_by(ad, ad->rpm, 1))
        snprintf(msg, sizeof(msg), "the key \"%.200s\" is over its rpm of %lld requests per "
                                   "minute",
                 k->name, (long long)k->rpm);
    else
        snprintf(msg, sizeof(msg), "the key \"%.200s\" is over its tpm of %lld tokens per "
                                   "minute (this request is estimated at %lld)",
                 k->name, (long long)k->tpm, (long long)ad->est_tokens);
    tg_answer_error(r, 429, "rate_limited", msg);
    return TG_TERM_RATE_LIMITED;
}

/* Adds delta to counter `name`, which the admission charged `charged` (0:
 * it was not charged, and delta counts now). An hour counter's reservation
 * ends even when delta is 0: its request ended. */
static void settle(struct tg_req *r, const char *name, enum tg_limit_period period,
                   int64_t charged, int64_t delta, uint64_t now)
{
    if (delta == 0 && (charged == 0 || period != TG_PERIOD_HOUR))
        return;
    tg_limit_settle(store(r), name, period, charged ? &r->adm.result : NULL, charged, now, delta);
}

void tg_admission_return(struct tg_req *r)
{
    struct tg_req_admission *ad = &r->adm;
    if (ad->settled || !ad->done || !ad->result.admitted)
        return;
    ad->settled = true;
    uint64_t now = tg_wall_ms();
    if (ad->rpm >= 0)
        settle(r, r->key->counter_rpm, TG_PERIOD_MINUTE, 1, -1, now);
    if (ad->tpm >= 0)
        settle(r, r->key->counter_tpm, TG_PERIOD_MINUTE, ad->est_tokens, -ad->est_tokens, now);
    if (ad->spend_key >= 0)
        settle(r, r->key->counter_spend, TG_PERIOD_HOUR, ad->reserved, -ad->reserved, now);
    if (ad->spend_gw >= 0)
        settle(r, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, ad->reserved, -ad->reserved, now);
}

/* Whether an upstream's answer reached the client (whole, or a stream at
 * least begun) from a deployment with prices: it was paid for, whether or
 * not it reported usage. */
static bool paid(const struct tg_req *r)
{
    if (!r->served_by || r->cache_result)
        return false;
    if (!r->winner && (r->status < 200 || r->status >= 300))
        return false;
    const struct tg_deployment_cfg *d = tg_config_deployment(r->rt->cfg, r->served_by);
    if (!d)
        return false;
    struct tg_prices p = tg_deployment_prices(d);
    return tg_prices_set(&p);
}

void tg_admission_settle(struct tg_req *r)
{
    struct tg_req_admission *ad = &r->adm;
    if (ad->settled)
        return;
    ad->settled = true;
    bool admitted = ad->done && ad->result.admitted;
    uint64_t now = tg_wall_ms();
    if (admitted && ad->tpm >= 0) {
        /* The estimate becomes the usage reported. A request with no usage
         * keeps its estimate when it was answered (the tokens were spent,
         * just not reported) and returns it when it failed. */
        int64_t used = r->input_tokens + r->output_tokens;
        if (used <= 0)
            used = r->status >= 200 && r->status < 300 ? ad->est_tokens : 0;
        settle(r, r->key->counter_tpm, TG_PERIOD_MINUTE, ad->est_tokens, used - ad->est_tokens,
               now);
    }
    /* Every request's cost goes to its key's and the gateway's hourly
     * spend, capped or not (for /status, and for a cap a reload adds). */
    bool reserved = admitted && (ad->spend_key >= 0 || ad->spend_gw >= 0);
    int64_t cost = tg_spend_final(reserved ? ad->reserved : 0, r->cost_known, r->cost_usd,
                                  paid(r));
    bool on_key = admitted && ad->spend_key >= 0, on_gw = admitted && ad->spend_gw >= 0;
    if (r->key)
        settle(r, r->key->counter_spend, TG_PERIOD_HOUR, on_key ? ad->reserved : 0,
               cost - (on_key ? ad->reserved : 0), now);
    settle(r, TG_LIMIT_GATEWAY_SPEND, TG_PERIOD_HOUR, on_gw ? ad->reserved : 0,
           cost - (on_gw ? ad->reserved : 0), now);
}

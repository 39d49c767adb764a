/* The request state machine.
 *
 *   ADMIT    --its limits and spend caps admit it (admission.c)--> ROUTE
 *            (or DONE on a fresh cache hit)
 *            --refused--> DONE (429, no upstream call)
 *            --client gone: waits for the store's answer, returns the charge--> DONE
 *   ROUTE    --deployment picked, attempt started--> ATTEMPT
 *            --group exhausted--> next fallback route (stays in ROUTE); the route's
 *              context fallbacks first when one of its deployments was too small
 *            --nothing left--> DEGRADE;  --client gone or deadline--> DONE
 *   ATTEMPT  --ok answer--> DONE;  --stream reached its commit point--> STREAM
 *            --retryable failure, budget and deadline allow--> BACKOFF
 *            --failure, move on--> ROUTE;  --upstream client error--> DONE
 *            --context/content fallbacks--> ROUTE (those routes first)
 *   BACKOFF  --wait over--> ATTEMPT (or ROUTE when the breaker opened meanwhile)
 *   STREAM   --stream ended, well or not--> DONE
 *   DEGRADE  --kept answer, stale cache, degraded message or error--> DONE
 *            --background request, error--> DLQ
 *   ROUTE, ATTEMPT, BACKOFF --background request, deadline--> DLQ
 *   DLQ      --its dead-letter line written (or not), error sent--> DONE
 *            (the client leaving does not end the wait; shutdown waits too)
 *   FOLLOW   (from ADMIT: an Idempotency-Key seen before; from ROUTE: an
 *            identical request in flight, cache.mode "on") reads that
 *            request's answer --the client has it, or left--> DONE
 *   DRAIN    (from any state that answers, when the answer was recorded for
 *            others too: share.c) --the client has read it, left, or the
 *            deadline passed--> DONE
 *   DONE     terminal: freed on a later loop pass
 *
 * Callbacks (attempt results, timers, the client) record an event in the
 * request and call req_step(), which runs state handlers until the state
 * stops changing. Only req_set_state() writes r->state, and only along the
 * moves of allowed_moves[]. */
#include "req/req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/log.h"
#include "dlq/entry.h"
#include "req/internal.h"
#include "route/backoff.h"
#include "route/policy.h"
#include "route/ratelimit.h"
#include "util/json.h"

#define BIT(s) (1u << (s))
/* Hedges allowed beyond max_ratio: one per 10 s, so that a deployment with
 * little traffic (where 10% of its first attempts is less than one) can
 * still hedge its slow tail. */
#define HEDGE_FLOOR_PER_S 0.1

#define ENDS (BIT(TG_REQ_DRAIN) | BIT(TG_REQ_DONE))
static const unsigned allowed_moves[TG_REQ__COUNT] = {
    [TG_REQ_ADMIT] = BIT(TG_REQ_ROUTE) | BIT(TG_REQ_FOLLOW) | ENDS,
    [TG_REQ_CLAIM] = BIT(TG_REQ_ADMIT) | BIT(TG_REQ_ROUTE) | BIT(TG_REQ_DLQ) | ENDS,
    [TG_REQ_ROUTE] = BIT(TG_REQ_ATTEMPT) | BIT(TG_REQ_DEGRADE) | BIT(TG_REQ_FOLLOW) |
                     BIT(TG_REQ_DLQ) | ENDS,
    [TG_REQ_ATTEMPT] = BIT(TG_REQ_ROUTE) | BIT(TG_REQ_BACKOFF) | BIT(TG_REQ_STREAM) |
                       BIT(TG_REQ_DEGRADE) | BIT(TG_REQ_DLQ) | ENDS,
    [TG_REQ_BACKOFF] = BIT(TG_REQ_ATTEMPT) | BIT(TG_REQ_ROUTE) | BIT(TG_REQ_DLQ) | ENDS,
    [TG_REQ_STREAM] = ENDS,
    [TG_REQ_DEGRADE] = BIT(TG_REQ_DLQ) | ENDS,
    [TG_REQ_FOLLOW] = BIT(TG_REQ_DONE),
    [TG_REQ_DLQ] = ENDS,
    [TG_REQ_DRAIN] = BIT(TG_REQ_DONE),
    [TG_REQ_DONE] = 0,
};

static const char *const state_names[TG_REQ__COUNT] = {
    "ADMIT", "CLAIM", "ROUTE", "ATTEMPT", "BACKOFF", "STREAM", "DEGRADE", "FOLLOW", "DRAIN",
    "DLQ",   "DONE"};

static void req_step(struct tg_req *r);
static void req_on_done(struct tg_req *r);
static void st_follow(struct tg_req *r);
static void st_drain(struct tg_req *r);

static void req_set_state(struct tg_req *r, enum tg_req_state to)
{
    if (r->state == to)
        return;
    if (!(allowed_moves[r->state] & BIT(to))) {
        tg_log_error("req_bad_transition", "request_id=%s from=%s to=%s", r->id,
                     state_names[r->state], state_names[to]);
        abort();
    }
    tg_log_debug("req_state", "request_id=%s from=%s to=%s", r->id, state_names[r->state],
                 state_names[to]);
    if (r->state == TG_REQ_ATTEMPT) {
        tg_timer_stop(&r->gw->loop, &r->hedge_timer); /* a hedge only races an attempt */
        r->ev_hedge = false;
    }
    if (r->state == TG_REQ_CLAIM) {
        /* Whatever ended the wait, no answer of the shared store may come after. */
        tg_idem_claim_cancel(&r->claim);
        tg_timer_stop(&r->gw->loop, &r->step_timer);
        r->ev_step = false;
    }
    if (r->state == TG_REQ_DEGRADE || (r->state == TG_REQ_ROUTE && r->cache_wait)) {
        /* A shared cache entry is of use only to the state that asked. */
        tg_shared_cache_fetch_cancel(&r->cache_fetch);
        r->cache_wait = false;
    }
    r->state = to;
    if (to == TG_REQ_DONE)
        req_on_done(r);
}

static uint64_t now_ms(const struct tg_req *r)
{
    return tg_now(&r->gw->loop);
}

/* ---- what the request's mode gives it ---- */

/* The request's deadline, from its start (SPEC sections 3 and 8): the
 * route's timeouts.request_ms, or [background]'s request_ms; a valid
 * x-tailgate-timeout-ms lowers it, never raises it. */
static uint64_t deadline_budget_ms(const struct tg_req *r, const struct tg_route_cfg *route,
                                   const struct tg_http_header *lower)
{
    uint64_t budget = (uint64_t)(r->background ? r->background->request_ms
                                               : route->policy.timeouts.request_ms);
    if (lower && lower->value_len > 0 && lower->value_len < 16) {
        char num[16];
        snprintf(num, sizeof(num), "%.*s", (int)lower->value_len, lower->value);
        char *end;
        unsigned long long v = strtoull(num, &end, 10);
        if (*end == '\0' && v > 0 && v < budget)
            budget = v;
    }
    return budget;
}

/* The retry rules after a failed attempt: the route's [retry], with
 * [background]'s max_attempts on one deployment for a background request. */
static struct tg_retry_cfg retry_rules(const struct tg_req *r)
{
    struct tg_retry_cfg rc = r->policy->retry;
    if (r->background)
        rc.max_attempts = r->background->max_attempts;
    return rc;
}

/* ---- attempts bookkeeping ---- */

void tg_req_bury(struct tg_req *r, struct tg_attempt *a)
{
    tg_list_remove(&a->link);
    tg_list_push_back(&r->graveyard, &a->link);
    tg_defer(&r->gw->loop, &r->kick); /* freed on a later pass */
}

/* The next finished attempt for req_step to judge, already buried; NULL
 * when none is left. */
static struct tg_attempt *take_finished(struct tg_req *r)
{
    if (tg_list_empty(&r->finished))
        return NULL;
    struct tg_attempt *a = tg_container_of(tg_list_first(&r->finished), struct tg_attempt, link);
    tg_req_bury(r, a);
    return a;
}

static void free_attempts(struct tg_list *list)
{
    while (!tg_list_empty(list)) {
        struct tg_attempt *a = tg_container_of(tg_list_first(list), struct tg_attempt, link);
        tg_list_remove(&a->link);
        tg_attempt_free(a);
    }
}

/* A new zeroed entry at the end of the request's attempt log. */
static struct tg_attempt_log *log_push(struct tg_req *r)
{
    if (r->n_log == r->cap_log) {
        r->cap_log = r->cap_log ? r->cap_log * 2 : 4;
        r->log = tg_xrealloc(r->log, r->cap_log * sizeof(*r->log));
    }
    struct tg_attempt_log *l = &r->log[r->n_log++];
    memset(l, 0, sizeof(*l));
    return l;
}

void tg_req_log_attempt(struct tg_req *r, struct tg_attempt *a)
{
    if (a->log_index == 0) {
        *log_push(r) = (struct tg_attempt_log){
            .deployment = a->dcfg->name, .cls = a->cls, .hedge = a->hedge};
        a->log_index = r->n_log;
    }
    struct tg_attempt_log *l = &r->log[a->log_index - 1];
    if (a->state == TG_ATTEMPT_RUNNING)
        return;
    l->cls = a->cls;
    l->status = a->xfer.status;
    l->retry_after_known = a->cls == TG_CLASS_RATE_LIMITED && a->retry_after_ms >= 0;
    l->ms = (a->end_ns - a->start_ns) / 1000000;
    l->done = true;
}

/* A deployment passed over because it cannot serve this request: not an
 * attempt, but the trace shows it and why. */
static void log_skipped(struct tg_req *r, const char *deployment, const char *why)
{
    struct tg_attempt_log *l = log_push(r);
    l->deployment = deployment;
    l->skipped = true;
    l->done = true;
    snprintf(l->note, sizeof(l->note), "%s", why);
}

/* A deployment of the current route that cannot serve this request: given
 * up on for this route, and shown in the trace. One too small for the
 * request's context makes the route's context_window_fallbacks next once
 * its group runs out (as a context-length answer would have). */
static void skip(struct tg_req *r, size_t slot, const char *why)
{
    r->tried |= UINT64_C(1) << slot;
    log_skipped(r, r->route->deployments[slot]->name, why);
    if (strcmp(why, tg_ineligible_name(TG_INELIGIBLE_CONTEXT)) == 0)
        r->too_long_here = true;
}

/* Whether a deployment was skipped for this reason on any route. */
static bool skipped_for(const struct tg_req *r, enum tg_ineligible why)
{
    const char *name = tg_ineligible_name(why);
    for (size_t i = 0; i < r->n_log; i++)
        if (r->log[i].skipped && strcmp(r->log[i].note, name) == 0)
            return true;
    return false;
}

static void cancel_attempts(struct tg_req *r, struct tg_attempt *except)
{
    while (!tg_list_empty(&r->attempts)) {
        struct tg_list *pos = tg_list_first(&r->attempts);
        struct tg_attempt *a = tg_container_of(pos, struct tg_attempt, link);
        if (a == except) {
            if (pos->next == &r->attempts)
                break;
            a = tg_container_of(pos->next, struct tg_attempt, link);
        }
        tg_attempt_cancel(a); /* moves it to the graveyard */
    }
}

/* The hedge quantile of the deployment's latency (first content for a
 * stream), us. */
static double hedge_quantile_us(struct tg_dep *dep, bool stream, double q,
                                const struct tg_dep_quantiles *c)
{
    if (q == 0.5)
        return c->p50_us;
    if (q == 0.9)
        return c->p90_us;
    if (q == 0.99)
        return c->p99_us;
    return tg_hist_quantile(stream ? &dep->ttfb : &dep->latency, q);
}

/* SPEC [hedge]: once an attempt has gone without an answer for its
 * deployment's `quantile` latency (clamped to [min_delay_ms, max_delay_ms];
 * initial_delay_ms until min_samples), a duplicate may race it. */
static void arm_hedge(struct tg_req *r, struct tg_attempt *a)
{
    const struct tg_hedge_cfg *h = &r->policy->hedge;
    tg_timer_stop(&r->gw->loop, &r->hedge_timer);
    r->ev_hedge = false;
    if (!h->enabled || (r->stream && !h->streaming))
        return;
    uint64_t now = now_ms(r);
    const struct tg_dep_quantiles *c =
        tg_dep_quantiles(a->dep, r->stream ? TG_DEP_TTFB : TG_DEP_LATENCY, now);
    uint64_t delay;
    if (c->weight < (double)h->min_samples) {
        delay = (uint64_t)h->initial_delay_ms;
    } else {
        delay = (uint64_t)(hedge_quantile_us(a->dep, r->stream, h->quantile, c) / 1000.0);
        if (delay < (uint64_t)h->min_delay_ms)
            delay = (uint64_t)h->min_delay_ms;
        if (delay > (uint64_t)h->max_delay_ms)
            delay = (uint64_t)h->max_delay_ms;
    }
    if (now + delay >= r->deadline_ms)
        return; /* a hedge could not answer in time */
    tg_timer_start(&r->gw->loop, &r->hedge_timer, delay);
}

static bool start_attempt(struct tg_req *r, size_t slot, int try_no, bool hedge, uint32_t probe)
{
    uint64_t now = now_ms(r);
    if (now >= r->deadline_ms)
        return false;
    uint64_t left = r->deadline_ms - now;
    uint64_t timeout = (uint64_t)(r->stream ? r->policy->timeouts.first_byte_ms
                                            : r->policy->timeouts.attempt_ms);
    if (timeout > left)
        timeout = left; /* an attempt gets min(attempt_ms, time left) */
    char why[32] = "";
    struct tg_attempt *a = tg_attempt_start(r, slot, try_no, hedge, probe, timeout, why,
                                            sizeof(why));
    if (!a) {
        tg_breaker_release_probe(&r->rt->deps[r->route->deployments[slot]->index]->breaker, probe);
        skip(r, slot, why);
        return false;
    }
    tg_req_log_attempt(r, a);
    if (!hedge) {
        r->cur_slot = slot;
        r->tries_on_cur = try_no;
        arm_hedge(r, a);
    }
    return true;
}

/* ---- choosing a deployment ---- */

/* The best (lowest) recent latency in the current group, of the kind this
 * request is judged on (full answers, or streams' first content); 0 when no
 * deployment has samples. */
static double group_best_latency(const struct tg_req *r)
{
    double best = 0;
    int kind = r->stream ? 1 : 0;
    for (size_t i = 0; i < r->route->n_deployments; i++) {
        const struct tg_health *h = &r->rt->deps[r->route->deployments[i]->index]->health;
        if (h->has_latency[kind] && (best == 0 || h->latency_us[kind] < best))
            best = h->latency_us[kind];
    }
    return best;
}

/* A deployment's share of its group's traffic: its configured weight times
 * its health factor (route/health.h). */
static double effective_weight(const struct tg_req *r, size_t slot, double best_us)
{
    const struct tg_deployment_cfg *d = r->route->deployments[slot];
    const struct tg_dep *dep = r->rt->deps[d->index];
    return d->weight * tg_health_factor(&dep->health, r->stream, best_us);
}

/* Picks an untried deployment of the current route's group, weighted by
 * effective weight; open breakers are skipped, and a deployment cooling off
 * after a 429 only when nothing else is left anywhere. Admits it through its
 * breaker (a half-open one admits probes). Returns false when none is left. */
/* One of n candidates, with probability proportional to its weight
 * (uniform when no weight is positive). */
static size_t weighted_draw(struct tg_rand *rand, const size_t *cand, const double *w, size_t n,
                            double total)
{
    if (total <= 0)
        return cand[tg_rand_below(rand, n)];
    double x = tg_rand_unit(rand) * total;
    for (size_t k = 0; k + 1 < n; k++) {
        if (x < w[k])
            return cand[k];
        x -= w[k];
    }
    return cand[n - 1];
}

/* Admits an attempt through the deployment's breaker; its move from open
 * to half-open (the cooldown is over, a probe goes out) is logged here. */
static bool admit(struct tg_req *r, size_t slot, uint32_t *probe)
{
    const struct tg_deployment_cfg *d = r->route->deployments[slot];
    struct tg_breaker *b = &r->rt->deps[d->index]->breaker;
    enum tg_breaker_state before = b->state;
    bool ok = tg_breaker_admit(b, &r->rt->cfg->breaker, now_ms(r), probe);
    if (before == TG_BREAKER_OPEN && b->state == TG_BREAKER_HALF_OPEN)
        tg_log_info("breaker_half_open", "deployment=%s request_id=%s probes=%lld", d->name,
                    r->id, (long long)r->rt->cfg->breaker.half_open_probes);
    return ok;
}

static bool any_unvisited(const struct tg_req *r, struct tg_route_cfg *const *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!r->visited[routes[i]->index])
            return true;
    return false;
}

/* Whether routes remain after this one's group: its fallbacks, and when
 * the request is too long for part of the group, its context fallbacks. */
static bool routes_left(const struct tg_req *r)
{
    return r->q_head < r->q_len ||
           (r->too_long_here && any_unvisited(r, r->route->context_window_fallbacks,
                                              r->route->n_context_window_fallbacks));
}

static bool pick(struct tg_req *r, size_t *slot_out, uint32_t *probe)
{
    const struct tg_route_cfg *route = r->route;
    const struct tg_breaker_cfg *bcfg = &r->rt->cfg->breaker;
    uint64_t now = now_ms(r);
    double best_us = group_best_latency(r);
    for (;;) {
        size_t eligible[64], cooling[64];
        double weights[64], total = 0;
        size_t n_eligible = 0, n_cooling = 0;
        for (size_t i = 0; i < route->n_deployments && i < 64; i++) {
            if (r->tried & (UINT64_C(1) << i))
                continue;
            enum tg_ineligible no = tg_attempt_eligibility(r, route->deployments[i]);
            if (no != TG_ELIGIBLE) {
                skip(r, i, tg_ineligible_name(no));
                continue;
            }
            struct tg_dep *dep = r->rt->deps[route->deployments[i]->index];
            if (!tg_breaker_would_admit(&dep->breaker, bcfg, now)) {
                r->skipped_open++;
                r->tried |= UINT64_C(1) << i;
                continue;
            }
            if (dep->rate_limited_until_ms > now) {
                cooling[n_cooling++] = i;
                continue;
            }
            weights[n_eligible] = effective_weight(r, i, best_us);
            total += weights[n_eligible];
            eligible[n_eligible++] = i;
        }
        size_t chosen;
        if (n_eligible > 0) {
            chosen = weighted_draw(&r->gw->loop.rand, eligible, weights, n_eligible, total);
        } else if (n_cooling > 0 && !routes_left(r)) {
            /* Only deployments cooling off after a 429 remain: the soonest. */
            chosen = cooling[0];
            for (size_t k = 1; k < n_cooling; k++) {
                struct tg_dep *a = r->rt->deps[route->deployments[cooling[k]]->index];
                struct tg_dep *b = r->rt->deps[route->deployments[chosen]->index];
                if (a->rate_limited_until_ms < b->rate_limited_until_ms)
                    chosen = cooling[k];
            }
        } else {
            return false;
        }
        if (admit(r, chosen, probe)) {
            *slot_out = chosen;
            return true;
        }
        r->tried |= UINT64_C(1) << chosen; /* its half-open probes are all out */
        r->skipped_open++;
    }
}

static bool group_has_other(const struct tg_req *r, const struct tg_route_cfg *route,
                            const struct tg_dep *except, uint64_t now)
{
    const struct tg_breaker_cfg *bcfg = &r->rt->cfg->breaker;
    for (size_t i = 0; i < route->n_deployments; i++) {
        const struct tg_dep *dep = r->rt->deps[route->deployments[i]->index];
        if (dep != except && tg_breaker_would_admit(&dep->breaker, bcfg, now) &&
            tg_attempt_eligibility(r, route->deployments[i]) == TG_ELIGIBLE)
            return true;
    }
    return false;
}

bool tg_req_has_alternative(const struct tg_req *r, const struct tg_dep *except)
{
    uint64_t now = now_ms(r);
    if (group_has_other(r, r->route, except, now))
        return true;
    for (size_t i = r->q_head; i < r->q_len; i++)
        if (!r->visited[r->queue[i]->index] && group_has_other(r, r->queue[i], except, now))
            return true;
    /* A route too small for the request goes on to its context fallbacks. */
    for (size_t i = 0; r->too_long_here && i < r->route->n_context_window_fallbacks; i++) {
        const struct tg_route_cfg *f = r->route->context_window_fallbacks[i];
        if (!r->visited[f->index] && group_has_other(r, f, except, now))
            return true;
    }
    return false;
}

static void enter_route(struct tg_req *r, const struct tg_route_cfg *route)
{
    r->route = route;
    r->policy = &route->policy;
    r->visited[route->index] = true;
    r->tried = 0;
    r->tries_on_cur = 0;
    r->too_long_here = false;
    for (size_t i = 0; i < route->n_fallbacks; i++) {
        if (r->q_len == r->q_cap) {
            r->q_cap = r->q_cap ? r->q_cap * 2 : 8;
            r->queue = tg_xrealloc(r->queue, r->q_cap * sizeof(*r->queue));
        }
        r->queue[r->q_len++] = route->fallbacks[i];
    }
}

/* Puts routes at the front of the queue (context/content fallbacks). */
static void queue_front(struct tg_req *r, struct tg_route_cfg *const *routes, size_t n)
{
    size_t remaining = r->q_len - r->q_head;
    const struct tg_route_cfg **q = tg_xcalloc(remaining + n + 1, sizeof(*q));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!r->visited[routes[i]->index])
            q[k++] = routes[i];
    for (size_t i = r->q_head; i < r->q_len; i++)
        q[k++] = r->queue[i];
    free(r->queue);
    r->queue = q;
    r->q_head = 0;
    r->q_len = k;
    r->q_cap = remaining + n + 1;
}

static bool next_route(struct tg_req *r)
{
    while (r->q_head < r->q_len) {
        const struct tg_route_cfg *next = r->queue[r->q_head++];
        if (r->visited[next->index])
            continue;
        r->route_no++;
        const char *l[] = {next->model};
        tg_metric_add(r->gw->fam.fallbacks, l, 1);
        enter_route(r, next);
        return true;
    }
    return false;
}

/* ---- answers ---- */

/* The one exit. A request whose client still reads its recorded answer
 * waits for it in DRAIN. */
static void finish(struct tg_req *r, enum tg_req_term term)
{
    if (r->term == TG_TERM_NONE)
        r->term = term;
    req_set_state(r, r->reader && r->state != TG_REQ_FOLLOW ? TG_REQ_DRAIN : TG_REQ_DONE);
}

/* ---- the dead-letter queue (SPEC section 8) ---- */

static void on_dlq_written(struct tg_dlq_job *job)
{
    struct tg_req *r = tg_container_of(job, struct tg_req, dlq.job);
    r->dlq.done = true;
    req_step(r);
}

/* The gateway's own final error after trying upstreams. A background
 * request's error waits in DLQ until the request is appended to dlq_path
 * and fsync'd (off the loop); any other is sent now. */
static void fail_request(struct tg_req *r, int status, const char *code, const char *message,
                         enum tg_req_term term)
{
    if (!r->background) {
        tg_answer_error(r, status, code, message);
        finish(r, term);
        return;
    }
    cancel_attempts(r, NULL);
    tg_timer_stop(&r->gw->loop, &r->deadline_timer);
    tg_timer_stop(&r->gw->loop, &r->step_timer);
    r->status = status;
    r->dlq.status = status;
    r->dlq.code = code;
    r->dlq.message = tg_xstrdup(message);
    r->dlq.term = term;
    struct tg_buf now = TG_BUF_INIT, attempts = TG_BUF_INIT;
    tg_buf_utc_now(&now);
    tg_answer_attempts_json(r, &attempts);
    struct tg_dlq_entry e = {
        .time = now.data,
        .request_id = r->id,
        .method = r->method,
        .path = r->path,
        .route = r->first_route->model,
        .key = r->key ? r->key->name : NULL, /* its name: the key itself is never kept */
        .body = r->body,
        .body_len = r->body_len,
        .attempts_json = attempts.data,
        .status = status,
        .code = code,
        .message = message,
    };
    tg_dlq_entry_encode(&e, &r->dlq.job.line);
    tg_buf_free(&now);
    tg_buf_free(&attempts);
    r->dlq.job.path = r->background->dlq_path; /* in rt's config, which r holds */
    r->dlq.job.done = on_dlq_written;
    req_set_state(r, TG_REQ_DLQ);
    tg_dlq_submit(&r->gw->dlq, &r->dlq.job);
}

/* DLQ -> DONE, once the line is written or could not be. The client may
 * have gone meanwhile: the line is written all the same. */
static void st_dlq(struct tg_req *r)
{
    if (!r->dlq.done)
        return;
    const struct tg_dlq_job *j = &r->dlq.job;
    const char *l[] = {j->rc == 0 ? "ok" : "error"};
    tg_metric_add(r->gw->fam.dlq_writes, l, 1);
    if (j->rc == 0) {
        r->dlq.saved = true;
        tg_log_info("dlq_saved", "request_id=%s path=\"%s\" status=%d", r->id, j->path,
                    r->dlq.status);
        tg_answer_error(r, r->dlq.status, r->dlq.code, r->dlq.message);
    } else {
        /* Never a silent loss: the client and the log both hear of it. */
        const char *why = strerror(j->err.err);
        tg_log_error("dlq_write_failed",
                     "request_id=%s path=\"%s\" op=%s error=\"%s\" status=%d", r->id, j->path,
                     j->err.op, why, r->dlq.status);
        struct tg_buf msg = TG_BUF_INIT;
        tg_buf_printf(&msg, "%s; the request could NOT be saved to the dead-letter queue (%s: %s: "
                            "%s)",
                      r->dlq.message, j->path, j->err.op, why);
        tg_answer_error(r, r->dlq.status, r->dlq.code, msg.data);
        tg_buf_free(&msg);
    }
    finish(r, r->dlq.term);
}

static void answer_from_attempt(struct tg_req *r, struct tg_attempt *a, enum tg_req_term term)
{
    r->truncated = a->truncated;
    r->served_by = a->dcfg->name;
    r->served_route = r->route->model;
    r->status = a->xfer.status;
    r->hedge_won = a->hedge && a->cls == TG_CLASS_OK;
    r->input_tokens = a->usage.input_tokens;
    r->output_tokens = a->usage.output_tokens;
    if (!tg_out_pending(r))
        return;
    /* The provider's own content type when its bytes go as they came. */
    size_t ct_len = 0;
    const char *ct = tg_convert_passes(&a->conv)
                         ? tg_transfer_header(&a->xfer, "content-type", &ct_len)
                         : NULL;
    char content_type[128];
    snprintf(content_type, sizeof(content_type), "%.*s", (int)(ct ? ct_len : 0), ct ? ct : "");
    struct tg_buf h = TG_BUF_INIT;
    tg_answer_headers(r, &h,
                      content_type[0] ? content_type
                      : a->sse        ? "text/event-stream"
                                      : "application/json");
    if (term == TG_TERM_PASSED) {
        /* Rate-limit hints help the client pace itself. */
        size_t n;
        const char *ra = tg_transfer_header(&a->xfer, "retry-after", &n);
        if (ra)
            tg_buf_printf(&h, "Retry-After: %.*s\r\n", (int)n, ra);
    }
    if (a->sse) {
        /* A stream that finished before its commit point (no content, and
         * empty answers allowed): it goes out whole now. */
        tg_out_stream_begin(r, r->status, &h);
        tg_attempt_flush_held(a);
        tg_out_stream_end(r);
    } else {
        tg_out_respond(r, r->status, &h, a->body.data, a->body.len);
    }
    tg_buf_free(&h);
}

/* The cache key of the request on its current route, hashed once per route. */
static const uint8_t *cache_key(struct tg_req *r)
{
    if (r->cache_key_route != r->route) {
        tg_cache_key(tg_api_path(r->api), r->route->model, r->body, r->body_len, r->cache_key);
        r->cache_key_route = r->route;
    }
    return r->cache_key;
}

/* Keeps an ok answer (fallback and on modes): a body, or for a stream the
 * events relayed, to be replayed the same way. */
static void cache_store(struct tg_req *r, struct tg_attempt *a)
{
    const struct tg_cache_cfg *cc = &r->policy->cache;
    if (cc->mode == TG_CACHE_OFF || r->cache_bypass || a->cls != TG_CLASS_OK)
        return;
    if (a->sse && !a->keep_transcript)
        return; /* larger than max_response_bytes */
    const struct tg_buf *b = a->sse ? &a->transcript : &a->body;
    tg_cache_put(&r->gw->cache, cache_key(r), a->xfer.status, a->sse, a->dcfg->name, b->data, b->len,
                 now_ms(r));
    if (r->gw->redis) {
        /* Kept there as long as either mode could still serve it. */
        uint64_t keep_s = (uint64_t)(cc->ttl_s > cc->stale_s ? cc->ttl_s : cc->stale_s);
        tg_shared_cache_put(r->gw->redis, r->gw->shared_prefix, cache_key(r), a->xfer.status,
                            a->sse, a->dcfg->name, b->data, b->len, keep_s * 1000,
                            (size_t)cc->max_bytes);
    }
    const char *l[] = {"store"};
    tg_metric_add(r->gw->fam.cache, l, 1);
}

static void answer_ok(struct tg_req *r, struct tg_attempt *a)
{
    r->winner_log = a->log_index;
    cancel_attempts(r, NULL); /* racers that lost */
    answer_from_attempt(r, a, TG_TERM_ANSWERED); /* a held stream goes into the transcript */
    cache_store(r, a);
    finish(r, TG_TERM_ANSWERED);
}

/* Serves a cached answer: fresh ("hit") or, when every path failed, "stale". */
static bool answer_from_cache(struct tg_req *r, bool stale)
{
    const struct tg_cache_cfg *cc = &r->policy->cache;
    if (cc->mode == TG_CACHE_OFF || r->cache_bypass)
        return false;
    if (!stale && cc->mode != TG_CACHE_ON)
        return false;
    uint64_t max_age_ms = (uint64_t)(stale ? cc->stale_s : cc->ttl_s) * 1000;
    const struct tg_cache_entry *e =
        tg_cache_get(&r->gw->cache, cache_key(r), now_ms(r), max_age_ms);
    if (e && e->stream != r->stream)
        e = NULL;
    const char *l[] = {e ? (stale ? "stale" : "hit") : "miss"};
    tg_metric_add(r->gw->fam.cache, l, 1);
    if (!e)
        return false;
    r->cache_result = stale ? "stale" : "hit";
    r->degraded = stale;
    r->status = e->status;
    r->served_by = e->deployment;
    r->served_route = r->route->model;
    if (stale)
        tg_metric_add(r->gw->fam.degraded, NULL, 1);
    tg_answer_whole(r, e->status, e->stream, e->body, e->body_len);
    finish(r, stale ? TG_TERM_DEGRADED : TG_TERM_ANSWERED);
    return true;
}

/* The request reads another's answer; the deadline is that request's. */
static void follow(struct tg_req *r)
{
    tg_timer_stop(&r->gw->loop, &r->deadline_timer);
    req_set_state(r, TG_REQ_FOLLOW);
}

static bool answer_fresh(struct tg_req *r);

static void on_cache_fetched(void *ctx, const struct tg_shared_cache_entry *e)
{
    struct tg_req *r = ctx;
    if (e) {
        uint64_t now = now_ms(r);
        tg_cache_put(&r->gw->cache, r->cache_fetch_key, e->status, e->stream, e->deployment,
                     e->body, e->body_len, now > e->age_ms ? now - e->age_ms : 0);
    }
    if (r->state == TG_REQ_ROUTE && r->cache_wait) {
        r->cache_wait = false;
        if (!answer_fresh(r))
            req_step(r);
    } else if (r->state == TG_REQ_DEGRADE) {
        req_step(r);
    }
}

/* With [shared]: the entry another instance stored for this request,
 * fetched into this instance's cache unless one young enough is here
 * already (`stale`: for a stale answer, else a fresh one). True when the
 * fetch is out: the caller waits for on_cache_fetched. */
static bool fetch_shared_cache(struct tg_req *r, bool stale)
{
    const struct tg_cache_cfg *cc = &r->policy->cache;
    struct tg_gateway *gw = r->gw;
    if (!gw->redis || cc->mode == TG_CACHE_OFF || r->cache_bypass || r->cache_fetched)
        return false;
    if (!stale && cc->mode != TG_CACHE_ON)
        return false;
    uint64_t max_age_ms = (uint64_t)(stale ? cc->stale_s : cc->ttl_s) * 1000;
    if (tg_cache_get(&gw->cache, cache_key(r), now_ms(r), max_age_ms))
        return false;
    memcpy(r->cache_fetch_key, cache_key(r), TG_CACHE_KEY_LEN);
    if (!tg_shared_cache_fetch(&r->cache_fetch, gw->redis, gw->shared_prefix, r->cache_fetch_key,
                               on_cache_fetched, r))
        return false;
    r->cache_fetched = true;
    r->cache_wait = !stale;
    return true;
}

/* Entering ROUTE with cache.mode "on": a fresh cache hit, or an identical
 * request in flight to follow (else this one may be followed). True when
 * the request needs no upstream call of its own. */
static bool answer_fresh(struct tg_req *r)
{
    if (answer_from_cache(r, false))
        return true;
    if (r->policy->cache.mode != TG_CACHE_ON || r->cache_bypass)
        return false;
    if (tg_share_coalesce(r, cache_key(r)) != TG_SHARE_FOLLOWS)
        return false;
    follow(r);
    return true;
}

/* Keeps an invalid answer: if every path turns out invalid, the last one
 * is sent, flagged (x-tailgate-validation). A stream keeps what it held. */
static void keep_answer(struct tg_req *r, struct tg_attempt *a)
{
    tg_buf_free(&r->kept.body);
    r->kept.set = true;
    r->kept.status = a->xfer.status;
    r->kept.deployment = a->dcfg->name;
    r->kept.invalid = a->invalid;
    r->kept.stream = a->sse;
    if (a->sse) {
        r->kept.body = a->held;
        a->held = (struct tg_buf)TG_BUF_INIT;
        if (!a->saw_done) /* cut short where the refusal showed: close it */
            tg_buf_puts(&r->kept.body, "data: [DONE]\n\n");
    } else {
        r->kept.body = a->body;
        a->body = (struct tg_buf)TG_BUF_INIT;
    }
}

/* Every path gave an invalid answer: send the last one, flagged. */
static bool answer_kept_invalid(struct tg_req *r)
{
    if (!r->kept.set)
        return false;
    r->sent_invalid = r->kept.invalid;
    r->served_by = r->kept.deployment;
    r->served_route = r->route->model;
    r->status = r->kept.status;
    tg_answer_whole(r, r->status, r->kept.stream, r->kept.body.data, r->kept.body.len);
    finish(r, TG_TERM_ANSWERED);
    return true;
}

/* When every path has failed: the time a retry could succeed, if it is
 * known for every deployment that could serve the request (each one's
 * breaker open until a known time, or rate-limited with a Retry-After);
 * else retrying the same request cannot help now. */
static void set_retry_hint(struct tg_req *r)
{
    const struct tg_breaker_cfg *bcfg = &r->rt->cfg->breaker;
    uint64_t now = now_ms(r);
    uint64_t soonest = UINT64_MAX;
    for (size_t ri = 0; ri < r->rt->cfg->n_routes; ri++) {
        const struct tg_route_cfg *route = &r->rt->cfg->routes[ri];
        if (!r->visited[route->index])
            continue;
        for (size_t i = 0; i < route->n_deployments; i++) {
            const struct tg_deployment_cfg *d = route->deployments[i];
            const struct tg_dep *dep = r->rt->deps[d->index];
            bool skipped = false, rate_limited = false;
            for (size_t k = 0; k < r->n_log; k++) {
                if (r->log[k].deployment != d->name || !r->log[k].done)
                    continue;
                skipped = r->log[k].skipped;
                rate_limited = r->log[k].retry_after_known;
            }
            uint64_t at;
            if (skipped)
                continue; /* it can never serve this request */
            if (tg_breaker_state(&dep->breaker, now) == TG_BREAKER_OPEN)
                at = dep->breaker.open_until_ms;
            else if (rate_limited && dep->rate_limited_until_ms > now)
                at = dep->rate_limited_until_ms;
            else if (!tg_breaker_would_admit(&dep->breaker, bcfg, now) || rate_limited)
                at = now; /* half-open with its probes out, or its wait is over */
            else {
                r->retry_never = true; /* it failed for no known time */
                return;
            }
            if (at < soonest)
                soonest = at;
        }
    }
    if (soonest == UINT64_MAX) {
        r->retry_never = true;
        return;
    }
    r->retry_after_s = soonest > now ? (int64_t)((soonest - now + 999) / 1000) : 1;
}

/* ---- events shared by every state ---- */

/* Handles the client leaving and the deadline. True when the request ended. */
static bool common_events(struct tg_req *r)
{
    if (r->ev_client_gone) {
        cancel_attempts(r, NULL);
        r->status = 499; /* nginx's "client closed request", for the log */
        finish(r, TG_TERM_CLIENT_GONE);
        return true;
    }
    if (r->ev_deadline || now_ms(r) >= r->deadline_ms) {
        cancel_attempts(r, NULL);
        if (answer_kept_invalid(r))
            return true; /* a held answer beats an error */
        r->retry_never = true; /* the same deadline again would end the same */
        fail_request(r, 504, "deadline_exceeded",
                     "no upstream answered before the request deadline", TG_TERM_DEADLINE);
        return true;
    }
    return false;
}

/* ---- state handlers ---- */

static bool answer_from_cache(struct tg_req *r, bool stale);

/* ADMIT -> ROUTE | DONE. Nothing happens until the store has answered (it
 * always does), so the request outlives its callback. */
static void st_admit(struct tg_req *r)
{
    if (!r->adm.done)
        return;
    if (r->ev_client_gone) {
        tg_admission_return(r); /* it never reached a provider */
        if (r->status == 0)
            r->status = 499;
        finish(r, TG_TERM_CLIENT_GONE);
        return;
    }
    if (!r->adm.result.admitted) {
        finish(r, tg_admission_refuse(r));
        return;
    }
    req_set_state(r, TG_REQ_ROUTE);
    if (!fetch_shared_cache(r, false))
        answer_fresh(r);
}

void tg_req_admitted(struct tg_req *r)
{
    req_step(r);
}

/* CLAIM -> ADMIT | ROUTE | DONE: another instance may own the request's
 * Idempotency-Key. The shared store's answers come through tg_req_shared;
 * the step timer asks again while the other instance's request runs. A
 * request with a key is finished even when its client leaves, so that only
 * the deadline ends the wait. */
static void st_claim(struct tg_req *r)
{
    if (r->ev_deadline || now_ms(r) >= r->deadline_ms) {
        tg_share_claim_expired(r);
        finish(r, TG_TERM_FAILED);
        return;
    }
    if (r->ev_step) {
        r->ev_step = false;
        tg_share_claim_again(r); /* answers through tg_req_shared */
    }
}

/* Past the Idempotency-Key: its limits, then routing. */
static void begin_work(struct tg_req *r)
{
    if (tg_admission_needed(r)) {
        req_set_state(r, TG_REQ_ADMIT);
        tg_admission_start(r); /* the store answers through tg_req_admitted, now or later */
        return;
    }
    req_set_state(r, TG_REQ_ROUTE);
    if (fetch_shared_cache(r, false) || answer_fresh(r))
        return;
    req_step(r);
}

void tg_req_shared(struct tg_req *r, enum tg_share_verdict v)
{
    switch (v) {
    case TG_SHARE_ALONE: begin_work(r); return;
    case TG_SHARE_ANSWERED: finish(r, TG_TERM_FAILED); return;
    case TG_SHARE_REPLAYED: finish(r, TG_TERM_ANSWERED); return;
    case TG_SHARE_FOLLOWS: follow(r); return;
    case TG_SHARE_ASKING:
        /* The request is new (ADMIT by default) or asks again from CLAIM. */
        r->state = TG_REQ_CLAIM;
        return;
    }
}

/* The answer's most tokens the request asks for: max_tokens (or its other
 * names); -1 when it sets none. */
static int64_t asked_out_tokens(const struct tg_req *r)
{
    static const char *const names[] = {"max_tokens", "max_completion_tokens",
                                        "max_output_tokens"};
    struct tg_jv found[3];
    tg_jv_pick(tg_json_doc_root(&r->doc), names, 3, found);
    double v;
    for (size_t i = 0; i < 3; i++)
        if (tg_jv_num(found[i], &v) && v >= 0 && v < 1e12)
            return (int64_t)v;
    return -1;
}

/* The answer's most tokens, or 1024 when the request sets none (embeddings
 * have no output). SPEC section 8 uses it for both the tpm estimate and the
 * worst-case cost. */
static int64_t max_out_tokens(const struct tg_req *r, int64_t asked)
{
    return asked >= 0 ? asked : r->api == TG_API_EMBEDDINGS ? 0 : 1024;
}

/* ROUTE -> ATTEMPT | DEGRADE | DONE */
static void st_route(struct tg_req *r)
{
    if (common_events(r))
        return;
    if (r->cache_wait)
        return; /* the shared cache answers within its timeout */
    for (;;) {
        size_t slot;
        uint32_t probe;
        if (pick(r, &slot, &probe)) {
            if (start_attempt(r, slot, 1, false, probe)) {
                req_set_state(r, TG_REQ_ATTEMPT);
                return;
            }
            if (now_ms(r) >= r->deadline_ms) {
                common_events(r);
                return;
            }
            continue; /* that one could not serve it: pick again */
        }
        if (r->too_long_here) /* too long for part of this group: bigger windows next */
            queue_front(r, r->route->context_window_fallbacks,
                        r->route->n_context_window_fallbacks);
        if (!next_route(r))
            break;
    }
    req_set_state(r, TG_REQ_DEGRADE);
}

/* After the last running attempt failed: SPEC section 4's table. */
static void decide(struct tg_req *r, struct tg_attempt *a)
{
    const struct tg_route_cfg *route = r->route;
    uint64_t now = now_ms(r);
    const struct tg_retry_cfg rules = retry_rules(r);
    const struct tg_retry_cfg *rc = &rules;
    struct tg_decision_in in = {
        .cls = a->cls,
        .tries_on_dep = a->hedge ? a->try_no : r->tries_on_cur,
        .retry_after_ms = a->retry_after_ms,
        .now_ms = now,
        .deadline_ms = r->deadline_ms,
        .retry = rc,
        .budget_ok = tg_budget_can_spend(&a->dep->budget, now, rc->budget_ratio,
                                         rc->budget_min_per_s),
        .has_context_fallbacks = any_unvisited(r, route->context_window_fallbacks,
                                               route->n_context_window_fallbacks),
        .has_policy_fallbacks = any_unvisited(r, route->content_policy_fallbacks,
                                              route->n_content_policy_fallbacks),
    };
    struct tg_decision_out out;
    tg_policy_decide(&in, &r->gw->loop.rand, &out);
    if (out.cooldown_ms && a->dep->rate_limited_until_ms < now + out.cooldown_ms)
        a->dep->rate_limited_until_ms = now + out.cooldown_ms;
    if (out.budget_blocked)
        tg_metric_add(r->gw->fam.budget_exhausted, NULL, 1);
    tg_log_debug("req_decide", "request_id=%s deployment=%s outcome=%s decision=%s wait_ms=%llu",
                 r->id, a->dcfg->name, tg_class_name(a->cls), tg_decision_name(out.decision),
                 (unsigned long long)out.wait_ms);
    switch (out.decision) {
    case TG_DECIDE_RETRY: {
        tg_budget_spend(&a->dep->budget, now, rc->budget_ratio, rc->budget_min_per_s);
        const char *l[] = {a->dcfg->name};
        tg_metric_add(r->gw->fam.retries, l, 1);
        r->cur_slot = a->slot;
        r->tries_on_cur = in.tries_on_dep;
        req_set_state(r, TG_REQ_BACKOFF);
        if (out.wait_ms == 0)
            r->ev_step = true;
        else
            tg_timer_start(&r->gw->loop, &r->step_timer, out.wait_ms);
        return;
    }
    case TG_DECIDE_MOVE_ON:
        r->tried |= (UINT64_C(1) << a->slot) | r->round_failed; /* every racer that failed */
        r->round_failed = 0;
        req_set_state(r, TG_REQ_ROUTE);
        return;
    case TG_DECIDE_PASS_THROUGH:
        answer_from_attempt(r, a, TG_TERM_PASSED);
        finish(r, TG_TERM_PASSED);
        return;
    case TG_DECIDE_CONTEXT_FALLBACK:
        queue_front(r, route->context_window_fallbacks, route->n_context_window_fallbacks);
        r->tried = ~UINT64_C(0);
        req_set_state(r, TG_REQ_ROUTE);
        return;
    case TG_DECIDE_POLICY_FALLBACK:
        queue_front(r, route->content_policy_fallbacks, route->n_content_policy_fallbacks);
        r->tried = ~UINT64_C(0);
        req_set_state(r, TG_REQ_ROUTE);
        return;
    }
}

/* ATTEMPT -> DONE | STREAM | BACKOFF | ROUTE | DEGRADE */
/* Where a hedge goes: another healthy deployment of the group (closed
 * breaker, not cooling off, not given up on), weighted like a first pick;
 * the primary's own deployment when there is no other. -1: nowhere. */
static int hedge_target(struct tg_req *r, const struct tg_attempt *primary)
{
    const struct tg_route_cfg *route = r->route;
    uint64_t now = now_ms(r);
    double best_us = group_best_latency(r);
    size_t cand[64];
    double w[64], total = 0;
    size_t n = 0;
    for (size_t i = 0; i < route->n_deployments && i < 64; i++) {
        if (i == primary->slot || (r->tried & (UINT64_C(1) << i)))
            continue;
        struct tg_dep *dep = r->rt->deps[route->deployments[i]->index];
        if (tg_breaker_state(&dep->breaker, now) != TG_BREAKER_CLOSED ||
            dep->rate_limited_until_ms > now)
            continue;
        w[n] = effective_weight(r, i, best_us);
        total += w[n];
        cand[n++] = i;
    }
    if (n == 0)
        return tg_breaker_state(&primary->dep->breaker, now) == TG_BREAKER_CLOSED
                   ? (int)primary->slot
                   : -1;
    return (int)weighted_draw(&r->gw->loop.rand, cand, w, n, total);
}

/* The hedge timer fired: race the one attempt running with a duplicate, if
 * the hedge ratio and the target's retry budget allow it. */
static void try_hedge(struct tg_req *r)
{
    if (r->winner || tg_list_empty(&r->attempts) ||
        tg_list_first(&r->attempts)->next != &r->attempts)
        return; /* nothing to race, or already racing */
    struct tg_attempt *primary =
        tg_container_of(tg_list_first(&r->attempts), struct tg_attempt, link);
    const struct tg_hedge_cfg *h = &r->policy->hedge;
    const struct tg_retry_cfg *rc = &r->policy->retry;
    uint64_t now = now_ms(r);
    if (!tg_budget_can_spend(&primary->dep->hedge_ratio, now, h->max_ratio, HEDGE_FLOOR_PER_S))
        return; /* hedges stay under max_ratio of first attempts */
    int slot = hedge_target(r, primary);
    if (slot < 0)
        return;
    struct tg_dep *target = r->rt->deps[r->route->deployments[slot]->index];
    if (!tg_budget_spend(&target->budget, now, rc->budget_ratio, rc->budget_min_per_s)) {
        tg_metric_add(r->gw->fam.budget_exhausted, NULL, 1);
        return;
    }
    tg_budget_spend(&primary->dep->hedge_ratio, now, h->max_ratio, HEDGE_FLOOR_PER_S);
    int try_no = (size_t)slot == primary->slot ? primary->try_no + 1 : 1;
    tg_log_debug("hedge", "request_id=%s primary=%s hedge=%s", r->id, primary->dcfg->name,
                 r->route->deployments[slot]->name);
    start_attempt(r, (size_t)slot, try_no, true, 0);
}

static void st_attempt(struct tg_req *r)
{
    if (common_events(r))
        return;
    struct tg_attempt *a;
    while ((a = take_finished(r))) {
        if (a->cls == TG_CLASS_OK) {
            answer_ok(r, a);
            return;
        }
        r->round_failed |= UINT64_C(1) << a->slot;
        if (a->cls == TG_CLASS_INVALID)
            keep_answer(r, a); /* if every later path fails, this answer is sent */
        if (!tg_list_empty(&r->attempts) || !tg_list_empty(&r->finished))
            continue; /* a racer is still running: the race goes on */
        decide(r, a);
        return;
    }
    if (r->ev_hedge) {
        r->ev_hedge = false;
        try_hedge(r);
    }
}

/* BACKOFF -> ATTEMPT | ROUTE | DONE */
static void st_backoff(struct tg_req *r)
{
    if (common_events(r))
        return;
    if (!r->ev_step)
        return;
    r->ev_step = false;
    uint32_t probe;
    if (!admit(r, r->cur_slot, &probe)) {
        r->tried |= UINT64_C(1) << r->cur_slot; /* it opened meanwhile */
        req_set_state(r, TG_REQ_ROUTE);
        return;
    }
    if (start_attempt(r, r->cur_slot, r->tries_on_cur + 1, false, probe))
        req_set_state(r, TG_REQ_ATTEMPT);
    else
        req_set_state(r, TG_REQ_ROUTE);
}

static const char broken_stream_error[] =
    "{\"message\":\"the upstream stream failed after it had started\",\"type\":\"server_error\","
    "\"code\":\"upstream_stream_broken\"}";
static const char idle_stream_error[] =
    "{\"message\":\"the upstream stream went silent for longer than stream_idle_ms\","
    "\"type\":\"server_error\",\"code\":\"upstream_stream_idle\"}";

/* STREAM -> DONE */
static void st_stream(struct tg_req *r)
{
    struct tg_attempt *w = r->winner;
    if (r->ev_client_gone) {
        tg_log_info("stream_cut", "request_id=%s deployment=%s reason=\"the client went away\"",
                    r->id, w->dcfg->name);
        cancel_attempts(r, NULL);
        finish(r, TG_TERM_CLIENT_GONE);
        return;
    }
    tg_attempt_send_out(w);
    if (r->ev_deadline) {
        cancel_attempts(r, NULL);
        tg_answer_stream_error(r, "{\"message\":\"the request deadline passed mid-stream\","
                                  "\"type\":\"server_error\",\"code\":\"deadline_exceeded\"}");
        finish(r, TG_TERM_DEADLINE);
        return;
    }
    struct tg_attempt *a;
    while ((a = take_finished(r))) {
        if (a != w)
            continue;
        r->input_tokens = w->usage.input_tokens;
        r->output_tokens = w->usage.output_tokens;
        if (w->cls == TG_CLASS_OK) {
            tg_out_stream_end(r);
            cache_store(r, w);
            finish(r, TG_TERM_ANSWERED);
        } else {
            tg_answer_stream_error(r, w->stream_error_json ? w->stream_error_json
                                      : w->idle_timed_out ? idle_stream_error
                                                          : broken_stream_error);
            finish(r, TG_TERM_STREAM_BROKE);
        }
        return;
    }
}

/* Nothing was tried, and deployments were skipped as too dear or too small:
 * the same request can never be served, a changed one could (a lower
 * max_tokens or a higher ceiling; a shorter prompt). Too small everywhere is
 * what a provider's context-length error says (OpenAI's shape, as SPEC
 * section 3 has no row of its own for it); a mix of both is a cost ceiling
 * whose message names the windows too. */
/* Nothing was tried because no deployment's format can carry what the
 * request depends on (SPEC section 3: never a silent drop): the same request
 * can never be served by this route. */
static bool answer_untranslatable(struct tg_req *r)
{
    struct tg_buf msg = TG_BUF_INIT;
    tg_buf_puts(&msg, "no deployment of this route can serve this request without losing what "
                      "it depends on:");
    size_t n = 0;
    for (size_t i = 0; i < r->n_log; i++) {
        if (!r->log[i].skipped)
            continue;
        tg_buf_printf(&msg, "%s %s: ineligible(%s)", n++ ? "," : "", r->log[i].deployment,
                      r->log[i].note);
    }
    if (n > 0) {
        r->retry_never = true;
        tg_answer_error(r, 400, "invalid_request", msg.data);
        finish(r, TG_TERM_FAILED);
    }
    tg_buf_free(&msg);
    return n > 0;
}

static bool answer_ineligible(struct tg_req *r)
{
    bool dear = skipped_for(r, TG_INELIGIBLE_COST);
    bool small = skipped_for(r, TG_INELIGIBLE_CONTEXT);
    char msg[256];
    if (!dear && !small)
        return answer_untranslatable(r);
    r->retry_never = true;
    if (dear) {
        snprintf(msg, sizeof(msg), "no deployment can serve this request within its cost "
                                   "ceiling of %.6f USD%s",
                 r->cost_ceiling, small ? " (the others' context windows are too small for it)"
                                        : "");
        tg_answer_error(r, 400, "cost_ceiling", msg);
    } else {
        snprintf(msg, sizeof(msg), "this request (estimated at %lld tokens, its prompt plus "
                                   "max_tokens) is longer than the context window of every "
                                   "deployment that could serve it; shorten the messages or "
                                   "lower max_tokens",
                 (long long)r->context_need);
        tg_answer_error(r, 400, "context_length_exceeded", msg);
    }
    finish(r, TG_TERM_FAILED);
    return true;
}

/* DEGRADE -> DONE */
static void st_degrade(struct tg_req *r)
{
    if (common_events(r))
        return;
    if (r->cache_fetch.call || fetch_shared_cache(r, true))
        return; /* a stale answer may come from the shared cache (within its timeout) */
    if (r->n_started == 0 && r->skipped_open == 0 && answer_ineligible(r))
        return;
    if (answer_kept_invalid(r))
        return;
    if (answer_from_cache(r, true))
        return;
    set_retry_hint(r);
    const struct tg_degraded_cfg *d = &r->rt->cfg->degraded;
    if (d->enabled && !r->background) {
        /* Not for background work: a program would take the static message
         * for the job's result; it gets the error and the DLQ instead. */
        tg_answer_degraded(r);
        finish(r, TG_TERM_DEGRADED);
        return;
    }
    bool all_open = r->n_started == 0 && r->skipped_open > 0;
    fail_request(r, all_open ? 503 : 502, "upstream_unavailable",
                 all_open ? "every deployment's circuit breaker is open"
                          : "every upstream path failed",
                 TG_TERM_FAILED);
}

static void req_step(struct tg_req *r)
{
    enum tg_req_state before;
    do {
        before = r->state;
        switch (r->state) {
        case TG_REQ_ADMIT: st_admit(r); break;
        case TG_REQ_CLAIM: st_claim(r); break;
        case TG_REQ_ROUTE: st_route(r); break;
        case TG_REQ_ATTEMPT: st_attempt(r); break;
        case TG_REQ_BACKOFF: st_backoff(r); break;
        case TG_REQ_STREAM: st_stream(r); break;
        case TG_REQ_DEGRADE: st_degrade(r); break;
        case TG_REQ_FOLLOW: st_follow(r); break;
        case TG_REQ_DRAIN: st_drain(r); break;
        case TG_REQ_DLQ: st_dlq(r); break;
        case TG_REQ_DONE: return;
        case TG_REQ__COUNT: return;
        }
    } while (r->state != before);
}

/* ---- callbacks ---- */

void tg_req_attempt_finished(struct tg_attempt *a)
{
    req_step(a->req);
}

/* Called from inside a transfer callback: only relays and cancels; the
 * cancelled racers are freed later, outside curl's callbacks. */
void tg_req_attempt_commit(struct tg_attempt *a)
{
    struct tg_req *r = a->req;
    if (r->winner || r->state != TG_REQ_ATTEMPT)
        return;
    r->winner = a;
    r->winner_log = a->log_index;
    a->committed = true;
    cancel_attempts(r, a);
    r->served_by = a->dcfg->name;
    r->served_route = r->route->model;
    r->hedge_won = a->hedge;
    r->status = 200;
    if (tg_out_pending(r)) {
        struct tg_buf h = TG_BUF_INIT;
        tg_answer_headers(r, &h, "text/event-stream");
        tg_buf_puts(&h, "Cache-Control: no-cache\r\n");
        tg_out_stream_begin(r, 200, &h);
        tg_buf_free(&h);
    }
    tg_attempt_flush_held(a);
    req_set_state(r, TG_REQ_STREAM);
}

bool tg_req_client_congested(const struct tg_req *r)
{
    return tg_out_congested(r);
}

static void on_deadline(struct tg_timer *t)
{
    struct tg_req *r = tg_container_of(t, struct tg_req, deadline_timer);
    r->ev_deadline = true;
    req_step(r);
}

static void on_hedge_timer(struct tg_timer *t)
{
    struct tg_req *r = tg_container_of(t, struct tg_req, hedge_timer);
    r->ev_hedge = true;
    req_step(r);
}

static void on_step_timer(struct tg_timer *t)
{
    struct tg_req *r = tg_container_of(t, struct tg_req, step_timer);
    r->ev_step = true;
    req_step(r);
}

void tg_req_client_gone(struct tg_req *r)
{
    if (r->reader) {
        /* A request whose answer is recorded goes on while others read it
         * or its Idempotency-Key keeps it for the client's retry: the tape
         * says when its last reader left (tg_req_unread). */
        tg_tape_reader_free(r->reader);
        r->reader = NULL;
        if (r->state != TG_REQ_FOLLOW && r->state != TG_REQ_DRAIN)
            return;
    }
    r->x = NULL;
    r->ev_client_gone = true;
    req_step(r);
}

void tg_req_unread(struct tg_req *r)
{
    if (r->idem)
        return; /* answered all the same, for the retry that will come */
    r->ev_client_gone = true;
    req_step(r);
}

void tg_req_reader_ended(struct tg_req *r, bool cut)
{
    r->reader_status = tg_tape_reader_status(r->reader);
    tg_tape_reader_free(r->reader);
    r->reader = NULL;
    r->ev_reader_done = true;
    r->reader_cut = cut;
    if (cut && r->term == TG_TERM_NONE)
        r->term = TG_TERM_STREAM_BROKE; /* its client has only part of the answer */
    if (cut && r->tape && tg_out_pending(r) && !tg_tape_has_readers(r->tape) && !r->idem)
        r->ev_client_gone = true; /* the writer's own client was the last one reading */
    req_step(r);
}

void tg_req_client_writable(struct tg_req *r)
{
    if (r->reader)
        tg_tape_reader_writable(r->reader); /* which tells the tape's writer */
    else
        tg_req_upstream_may_resume(r);
}

void tg_req_upstream_may_resume(struct tg_req *r)
{
    if (r->state == TG_REQ_STREAM && r->winner)
        tg_attempt_resume(r->winner);
}

/* Shutdown, or the deadline while the client reads a recorded answer: a
 * client that has not seen its answer begin gets `status`; one in the middle
 * of a stream is reset (its stream cannot be ended cleanly from here). */
static void drop_reader(struct tg_req *r, int status, const char *code, const char *message)
{
    if (!r->reader)
        return;
    struct tg_http_exchange *x = tg_tape_reader_exchange(r->reader);
    bool begun = tg_tape_reader_begun(r->reader);
    if (r->tape)
        tg_tape_drop_writer(r->tape); /* ending anyway: no word back from the tape */
    tg_tape_reader_free(r->reader);
    r->reader = NULL;
    if (!x)
        return;
    if (begun) {
        tg_http_reset(x);
    } else {
        struct tg_buf h = TG_BUF_INIT;
        tg_answer_own_headers(r, &h);
        tg_http_respond_error(x, status, code, message, h.data);
        tg_buf_free(&h);
        r->status = status;
    }
}

/* FOLLOW -> DONE: the client reads another request's answer. */
static void st_follow(struct tg_req *r)
{
    if (r->ev_reader_done) {
        r->status = r->reader_status;
        finish(r, r->reader_cut ? TG_TERM_STREAM_BROKE : TG_TERM_ANSWERED);
    } else if (r->ev_client_gone) {
        if (r->status == 0)
            r->status = 499;
        finish(r, TG_TERM_CLIENT_GONE);
    }
}

/* DRAIN -> DONE: the answer is recorded; its client is still reading it. */
static void st_drain(struct tg_req *r)
{
    if (r->ev_deadline || now_ms(r) >= r->deadline_ms)
        drop_reader(r, 504, "deadline_exceeded",
                    "the answer could not be sent before the request deadline");
    if (r->ev_reader_done || r->ev_client_gone || !r->reader)
        req_set_state(r, TG_REQ_DONE);
}

void tg_req_abandon(struct tg_req *r)
{
    if (r->state == TG_REQ_DONE)
        return;
    if (r->state == TG_REQ_FOLLOW || r->state == TG_REQ_DRAIN) {
        drop_reader(r, 503, "shutting_down", "the gateway is shutting down");
        finish(r, TG_TERM_FAILED);
        return;
    }
    if (r->state == TG_REQ_DLQ || (r->background && r->state != TG_REQ_ADMIT &&
                                   r->state != TG_REQ_STREAM)) {
        /* Background work cut short is not lost: it goes to the DLQ like any
         * other failure, and the process waits for the line (inflight stays
         * counted until DONE); it leaves the list the drain walks. */
        if (r->state != TG_REQ_DLQ)
            fail_request(r, 503, "shutting_down", "the gateway is shutting down",
                         TG_TERM_FAILED);
        tg_list_remove(&r->link);
        return;
    }
    if (r->state == TG_REQ_ADMIT && !r->adm.done) {
        /* The store still holds this request as its callback's context: it
         * ends when the answer comes (a shared store's within its timeout),
         * as if its client had left. It leaves the list the drain walks. */
        if (tg_out_pending(r))
            tg_answer_error(r, 503, "shutting_down", "the gateway is shutting down");
        r->ev_client_gone = true;
        tg_list_remove(&r->link);
        return;
    }
    if (tg_out_pending(r)) {
        if (r->state == TG_REQ_STREAM) {
            tg_attempt_send_out(r->winner);
            tg_answer_stream_error(r, "{\"message\":\"the gateway is shutting down\","
                                      "\"type\":\"server_error\",\"code\":\"shutting_down\"}");
        } else {
            tg_answer_error(r, 503, "shutting_down", "the gateway is shutting down");
        }
    }
    cancel_attempts(r, NULL);
    drop_reader(r, 503, "shutting_down", "the gateway is shutting down");
    finish(r, TG_TERM_FAILED);
}

/* ---- life and death ---- */

static void req_free(struct tg_req *r)
{
    free_attempts(&r->attempts);
    free_attempts(&r->finished);
    free_attempts(&r->graveyard);
    tg_buf_free(&r->kept.body);
    tg_buf_free(&r->dlq.job.line);
    free(r->dlq.message);
    tg_json_doc_free(&r->doc);
    free(r->body);
    free(r->passed_header);
    free(r->path);
    free(r->queue);
    free(r->visited);
    free(r->log);
    free(r->trace.tracestate);
    tg_share_free(r);
    tg_runtime_unref(r->rt);
    free(r);
}

/* Later passes: free attempts nobody needs, and the request once done. */
static void on_kick(struct tg_deferred *d)
{
    struct tg_req *r = tg_container_of(d, struct tg_req, kick);
    if (r->state == TG_REQ_DONE) {
        req_free(r);
        return;
    }
    free_attempts(&r->graveyard);
}

/* On entering DONE: the answer is out (or nobody waits for it). */
static void req_on_done(struct tg_req *r)
{
    struct tg_gateway *gw = r->gw;
    cancel_attempts(r, NULL);
    tg_shared_cache_fetch_cancel(&r->cache_fetch);
    r->cache_wait = false;
    tg_timer_stop(&gw->loop, &r->deadline_timer);
    tg_timer_stop(&gw->loop, &r->step_timer);
    tg_timer_stop(&gw->loop, &r->hedge_timer);
    for (size_t i = 0; i < r->n_log; i++) {
        if (!r->log[i].hedge)
            continue;
        const char *l[] = {r->log[i].deployment, i + 1 == r->winner_log ? "won" : "lost"};
        tg_metric_add(gw->fam.hedges, l, 1);
    }
    if (tg_out_pending(r)) {
        /* Every path to DONE answers first; this is a safety net. */
        tg_answer_error(r, 500, "internal_error", "the request ended without an answer");
    }
    tg_share_request_done(r);
    if (r->status == 0)
        r->status = 500;
    const char *route = r->served_route ? r->served_route : r->first_route->model;
    char code[8];
    snprintf(code, sizeof(code), "%d", r->status);
    const char *l[] = {route, code};
    tg_metric_add(gw->fam.requests_total, l, 1);
    double secs = (double)(uv_hrtime() - r->start_ns) / 1e9;
    tg_metric_observe(gw->fam.request_duration, l, secs);
    if (r->key) {
        const char *kl[] = {r->key->name, code};
        tg_metric_add(gw->fam.key_requests, kl, 1);
    }
    tg_admission_settle(r);
    tg_trace_request_end(r);
    tg_answer_access_log(r);
    tg_list_remove(&r->link);
    tg_defer(&gw->loop, &r->kick);
    tg_gateway_request_done(gw);
}

/* x-tailgate-max-cost-usd: a positive plain decimal ("0.05", "2"); no sign,
 * exponent, hex, inf or nan. */
static bool parse_usd(const char *s, size_t len, double *out)
{
    char num[32];
    size_t digits = 0, dots = 0;
    if (len == 0 || len >= sizeof(num))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    if (digits == 0)
        return false;
    memcpy(num, s, len);
    num[len] = '\0';
    *out = strtod(num, NULL);
    return *out > 0;
}

static const struct tg_http_header *find_header(struct tg_http_exchange *x, const char *name)
{
    return tg_http_header_find(tg_http_request(x), name);
}

void tg_req_start(struct tg_gateway *gw, struct tg_http_exchange *x, enum tg_api api,
                  const struct tg_route_cfg *route, const struct tg_key_cfg *key, const char *id)
{
    struct tg_req *r = tg_xcalloc(1, sizeof(*r));
    const struct tg_http_request *hr = tg_http_request(x);
    r->gw = gw;
    r->serial = ++gw->req_serial;
    r->rt = gw->rt;
    tg_runtime_ref(r->rt);
    r->x = x;
    r->api = api;
    r->body = tg_xmemdup0(hr->body, hr->body_len);
    r->body_len = hr->body_len;
    r->doc = (struct tg_json_doc){r->body, r->body_len, NULL};
    r->stream = api != TG_API_EMBEDDINGS &&
                tg_jv_is(tg_jv_get(tg_json_doc_root(&r->doc), "stream"), TG_JV_TRUE);
    /* SPEC: completions and embeddings are not validated */
    r->validate = api != TG_API_COMPLETIONS && api != TG_API_EMBEDDINGS;
    if (r->validate)
        tg_expect_from_request(api, &r->doc, &r->expect);
    r->first_route = route;
    r->visited = tg_xcalloc(r->rt->cfg->n_routes, sizeof(bool));
    tg_list_init(&r->attempts);
    tg_list_init(&r->finished);
    tg_list_init(&r->graveyard);
    tg_timer_init(&r->deadline_timer, on_deadline);
    tg_timer_init(&r->step_timer, on_step_timer);
    tg_timer_init(&r->hedge_timer, on_hedge_timer);
    tg_deferred_init(&r->kick, on_kick);
    r->start_ms = tg_now(&gw->loop);
    r->start_ns = hr->received_ns ? hr->received_ns : uv_hrtime();

    snprintf(r->id, sizeof(r->id), "%s", id);
    tg_trace_request_begin(r, hr);
    r->method = hr->method_name;
    r->path = tg_xmemdup0(hr->url, hr->path_len);
    if (gw->alog) /* only the access log names the client: a getpeername saved */
        tg_http_peer(x, r->client, sizeof(r->client));
    r->key = key;
    const struct tg_http_header *h = find_header(x, "x-tailgate-debug");
    r->debug = h && h->value_len == 1 && h->value[0] == '1';
    const char *passed = tg_api_passed_header(api);
    if (passed && (h = find_header(x, passed)))
        r->passed_header = tg_xmemdup0(h->value, h->value_len);
    h = find_header(x, "x-tailgate-cache");
    r->cache_bypass = h && h->value_len == 2 && strncasecmp(h->value, "no", 2) == 0;
    int64_t asked_out = asked_out_tokens(r);
    r->max_out_tokens = max_out_tokens(r, asked_out);
    r->context_need = tg_limits_estimate_tokens(r->body_len, asked_out, 0);
    double asked = 0;
    h = find_header(x, "x-tailgate-max-cost-usd");
    bool bad_ceiling = h && !parse_usd(h->value, h->value_len, &asked);
    r->cost_ceiling = tg_cost_ceiling(r->rt->cfg->budget.max_request_usd,
                                      key ? key->max_request_usd : 0, asked);

    h = find_header(x, "x-tailgate-mode");
    bool bad_mode = h && !(h->value_len == 10 && strncasecmp(h->value, "background", 10) == 0);
    if (h && !bad_mode)
        r->background = &r->rt->cfg->background;
    enter_route(r, route);
    r->deadline_ms =
        r->start_ms + deadline_budget_ms(r, route, find_header(x, "x-tailgate-timeout-ms"));
    tg_timer_start_at(&gw->loop, &r->deadline_timer, r->deadline_ms);

    tg_list_push_back(&gw->requests, &r->link);
    gw->inflight++;
    tg_http_set_user(x, r);
    if (bad_mode) {
        r->retry_never = true;
        tg_answer_error(r, 400, "invalid_request",
                        "x-tailgate-mode must be \"background\", the only mode there is");
        finish(r, TG_TERM_FAILED);
        return;
    }
    if (bad_ceiling) {
        r->retry_never = true;
        tg_answer_error(r, 400, "invalid_request",
                        "x-tailgate-max-cost-usd must be a positive decimal number of USD");
        finish(r, TG_TERM_FAILED);
        return;
    }
    /* Before the limits: a replay or a waiter makes no upstream call. */
    tg_req_shared(r, tg_share_idempotency(r, find_header(x, "idempotency-key")));
}

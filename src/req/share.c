/* Answers shared between requests (SPEC section 8): the Idempotency-Key
 * (waiters read the first request's answer live, later requests get it
 * replayed) and coalescing (with cache.mode "on", identical requests in
 * flight at the same time share one upstream call). Either way one request,
 * the writer, records its answer on a tape (req/tape.h) and every client
 * concerned, its own included, reads the tape at its own pace; the others
 * follow (TG_REQ_FOLLOW) without an upstream call of their own. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "req/internal.h"
#include "shared/redis.h"

#define IDEMPOTENCY_KEY_MAX 255

static void on_tape_writable(void *ctx)
{
    tg_req_upstream_may_resume(ctx);
}

static void on_tape_unread(void *ctx)
{
    tg_req_unread(ctx);
}

static const struct tg_tape_writer_ops writer_ops = {on_tape_writable, on_tape_unread};

static void own_headers(void *ctx, struct tg_buf *h)
{
    tg_answer_own_headers(ctx, h);
}

static void on_reader_end(void *ctx, enum tg_tape_end how)
{
    tg_req_reader_ended(ctx, how == TG_TAPE_END_CUT);
}

/* The request's client reads `tape` from now on. */
static void read_tape(struct tg_req *r, struct tg_tape *tape)
{
    struct tg_http_exchange *x = r->x;
    r->x = NULL;
    r->reader = tg_tape_reader_new(tape, x, own_headers, on_reader_end, r);
}

/* From now on the request's answer is recorded for others as well. */
static void record(struct tg_req *r)
{
    if (r->tape)
        return;
    r->tape = tg_tape_new(&r->gw->loop, &writer_ops, r);
    if (r->x)
        read_tape(r, r->tape);
}

static bool valid_key(const char *v, size_t len)
{
    if (len == 0 || len > IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return false;
    return true;
}

/* ---- the Idempotency-Key across instances ---- */

/* How often a request whose key another instance's request owns asks again. */
#define CLAIM_POLL_MS 100u
/* A claim outlives its request's deadline by this much when its owner
 * never releases it (it crashed). */
#define CLAIM_GRACE_MS 10000u

static void owner_name(const struct tg_req *r, char *out, size_t cap)
{
    snprintf(out, cap, "%016llx:%llu", (unsigned long long)r->gw->instance_id,
             (unsigned long long)r->serial);
}

static void refuse_reused(struct tg_req *r)
{
    r->retry_never = true;
    tg_answer_error(r, 422, "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request; use a new key "
                    "for a new request");
}

/* The kept answer of another instance, as this request's own (its tape's
 * readers, its own client first, get it with x-tailgate-idempotent-replay). */
static void replay(struct tg_req *r, const struct tg_idem_answer *a)
{
    struct tg_buf h = TG_BUF_INIT;
    tg_buf_append(&h, a->headers, a->headers_len);
    r->joined = TG_JOINED_IDEMPOTENT;
    r->status = a->status;
    if (a->stream) {
        tg_out_stream_begin(r, a->status, &h);
        tg_out_stream_write(r, a->body, a->body_len);
        tg_out_stream_end(r);
    } else {
        tg_out_respond(r, a->status, &h, a->body, a->body_len);
    }
    tg_buf_free(&h);
}

static void on_claim(void *ctx, enum tg_idem_verdict v, const struct tg_idem_answer *a)
{
    struct tg_req *r = ctx;
    switch (v) {
    case TG_IDEM_CLAIMED:
        r->idem_owner = true;
        tg_req_shared(r, TG_SHARE_ALONE);
        return;
    case TG_IDEM_UNSHARED:
        /* Redis did not answer: this instance decides alone. The claim may
         * have been recorded all the same: release it when done (a release
         * by whoever does not own the key changes nothing). */
        r->idem_owner = true;
        tg_req_shared(r, TG_SHARE_ALONE);
        return;
    case TG_IDEM_STORED:
        replay(r, a);
        tg_req_shared(r, TG_SHARE_REPLAYED);
        return;
    case TG_IDEM_MISMATCH:
        r->idem_unkept = true;
        refuse_reused(r);
        tg_req_shared(r, TG_SHARE_ANSWERED);
        return;
    case TG_IDEM_ELSEWHERE:
        tg_timer_start(&r->gw->loop, &r->step_timer, CLAIM_POLL_MS);
        tg_req_shared(r, TG_SHARE_ASKING);
        return;
    }
}

/* Asks the shared store; ALONE when there is none or it is down. */
static enum tg_share_verdict claim(struct tg_req *r)
{
    struct tg_gateway *gw = r->gw;
    if (!gw->redis)
        return TG_SHARE_ALONE;
    char owner[48];
    owner_name(r, owner, sizeof(owner));
    uint64_t now = tg_now(&gw->loop);
    uint64_t hold = (r->deadline_ms > now ? r->deadline_ms - now : 0) + CLAIM_GRACE_MS;
    if (!tg_idem_claim_start(&r->claim, gw->redis, gw->shared_prefix, r->idem_key, r->idem_fp,
                             owner, hold, on_claim, r))
        return TG_SHARE_ALONE;
    return TG_SHARE_ASKING;
}

void tg_share_claim_again(struct tg_req *r)
{
    enum tg_share_verdict v = claim(r);
    if (v != TG_SHARE_ASKING)
        tg_req_shared(r, v);
}

void tg_share_claim_expired(struct tg_req *r)
{
    tg_idem_claim_cancel(&r->claim);
    r->idem_unkept = true;
    r->retry_after_s = 1;
    tg_answer_error(r, 409, "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still in flight on another instance; "
                    "retry when it is done");
}

enum tg_share_verdict tg_share_idempotency(struct tg_req *r, const struct tg_http_header *h)
{
    if (!h)
        return TG_SHARE_ALONE;
    if (!valid_key(h->value, h->value_len)) {
        r->retry_never = true;
        tg_answer_error(r, 400, "invalid_request",
                        "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return TG_SHARE_ANSWERED;
    }
    struct tg_gateway *gw = r->gw;
    uint8_t key[TG_KEYMAP_KEY_LEN], fp[TG_KEYMAP_KEY_LEN];
    tg_idem_key(r->key ? r->key->name : "", h->value, h->value_len, key);
    tg_idem_fingerprint(r->method, r->path, r->body, r->body_len, fp);
    struct tg_idem_entry *e = tg_idem_find(&gw->idem, key, tg_now(&gw->loop));
    if (!e) {
        /* This instance's own later requests with the key follow this one,
         * whatever the shared store says of it. */
        record(r);
        r->idem = tg_idem_start(&gw->idem, key, fp, r->tape);
        memcpy(r->idem_key, key, sizeof(key));
        memcpy(r->idem_fp, fp, sizeof(fp));
        return claim(r);
    }
    if (memcmp(e->fingerprint, fp, sizeof(fp)) != 0) {
        refuse_reused(r);
        return TG_SHARE_ANSWERED;
    }
    if (!e->tape->joinable) {
        /* In flight and past what a tape keeps for late readers. */
        r->retry_after_s = 1;
        tg_answer_error(r, 409, "idempotency_key_in_use",
                        "a request with this Idempotency-Key is still in flight and its answer is "
                        "too large to share; retry when it is done");
        return TG_SHARE_ANSWERED;
    }
    r->joined = TG_JOINED_IDEMPOTENT;
    read_tape(r, e->tape);
    return TG_SHARE_FOLLOWS;
}

enum tg_share_verdict tg_share_coalesce(struct tg_req *r, const uint8_t *cache_key)
{
    struct tg_gateway *gw = r->gw;
    struct tg_keymap_node *n = tg_keymap_get(&gw->coalescing, cache_key);
    if (n) {
        struct tg_req *lead = tg_container_of(n, struct tg_req, coalesce);
        if (!lead->tape->joinable)
            return TG_SHARE_ALONE;
        r->joined = TG_JOINED_COALESCED;
        r->cache_result = "coalesced";
        read_tape(r, lead->tape);
        const char *l[] = {"coalesced"};
        tg_metric_add(gw->fam.cache, l, 1);
        return TG_SHARE_FOLLOWS;
    }
    record(r);
    memcpy(r->coalesce.key, cache_key, TG_KEYMAP_KEY_LEN);
    tg_keymap_put(&gw->coalescing, &r->coalesce);
    r->coalescing = true;
    return TG_SHARE_ALONE;
}

/* No one new joins a finished answer: identical requests from now on are
 * the cache's. */
static void stop_coalescing(struct tg_req *r)
{
    if (!r->coalescing)
        return;
    tg_keymap_remove(&r->gw->coalescing, &r->coalesce);
    r->coalescing = false;
}

void tg_share_answer_done(struct tg_req *r)
{
    stop_coalescing(r);
}

/* SPEC section 8 keeps every answer below 500; a 429 (the key's rate limit
 * or spend cap, or a provider's) and a 408 are not kept either: like a 5xx
 * they say "not now", and a retry with the same key must be able to
 * succeed. */
static bool keep_for_replay(const struct tg_req *r)
{
    if (r->term != TG_TERM_ANSWERED && r->term != TG_TERM_PASSED)
        return false;
    return r->status < 500 && r->status != 429 && r->status != 408 &&
           r->tape->state == TG_TAPE_DONE;
}

/* The key's owner is done: its answer kept in Redis for every instance
 * (whole, within [idempotency] max_bytes), or the key freed for a retry. */
static void release_claim(struct tg_req *r, bool keep)
{
    struct tg_gateway *gw = r->gw;
    r->idem_owner = false;
    if (!tg_redis_up(gw->redis))
        return; /* the claim lapses by itself */
    const struct tg_tape *t = r->tape;
    const struct tg_config *cfg = r->rt->cfg;
    keep = keep && t && t->state == TG_TAPE_DONE && t->base == 0 &&
           tg_tape_bytes(t) <= (size_t)cfg->idempotency.max_bytes &&
           t->body.len + t->headers.len <= TG_SHARED_VALUE_MAX;
    struct tg_idem_answer a = {0};
    if (keep)
        a = (struct tg_idem_answer){t->status,
                                    t->stream,
                                    t->headers.data ? t->headers.data : "",
                                    t->headers.len,
                                    t->body.data ? t->body.data : "",
                                    t->body.len};
    char owner[48];
    owner_name(r, owner, sizeof(owner));
    tg_idem_release(gw->redis, gw->shared_prefix, r->idem_key, owner,
                    (uint64_t)cfg->idempotency.ttl_s * 1000, keep ? &a : NULL);
}

void tg_share_request_done(struct tg_req *r)
{
    stop_coalescing(r);
    if (r->tape && r->tape->state != TG_TAPE_DONE && tg_tape_has_readers(r->tape)) {
        /* Every path to DONE ends the answer first; followers must never be
         * left waiting if one does not. */
        tg_log_error("tape_unfinished", "request_id=%s", r->id);
        if (r->tape->state == TG_TAPE_WAITING)
            tg_tape_begin(r->tape, 500, false, "Content-Type: application/json\r\n", 33);
        tg_tape_end(r->tape);
    }
    tg_idem_claim_cancel(&r->claim);
    bool keep = (r->idem || r->idem_owner) && !r->idem_unkept && keep_for_replay(r);
    if (r->idem_owner)
        release_claim(r, keep);
    if (r->idem) {
        tg_idem_finish(&r->gw->idem, r->idem, keep, tg_now(&r->gw->loop));
        r->idem = NULL;
    }
    if (r->tape)
        tg_tape_drop_writer(r->tape);
}

void tg_share_free(struct tg_req *r)
{
    tg_idem_claim_cancel(&r->claim);
    tg_tape_reader_free(r->reader);
    r->reader = NULL;
    if (r->tape)
        tg_tape_unref(r->tape);
    r->tape = NULL;
}

/* Per-deployment circuit breaker (see breaker.h). */
#include "route/breaker.h"

#include <string.h>

static uint64_t bucket_width(const struct tg_breaker_cfg *cfg)
{
    uint64_t w = (uint64_t)cfg->window_ms / TG_BREAKER_BUCKETS;
    return w ? w : 1;
}

void tg_breaker_init(struct tg_breaker *b, const struct tg_breaker_cfg *cfg)
{
    memset(b, 0, sizeof(*b));
    b->state = TG_BREAKER_CLOSED;
    b->cooldown_ms = (uint64_t)cfg->cooldown_ms;
    for (int i = 0; i < TG_BREAKER_BUCKETS; i++)
        b->bucket_start[i] = UINT64_MAX;
}

void tg_breaker_window(const struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                       uint64_t now_ms, uint64_t *total, uint64_t *failed)
{
    *total = *failed = 0;
    uint64_t w = bucket_width(cfg);
    uint64_t oldest = now_ms >= (uint64_t)cfg->window_ms ? now_ms - (uint64_t)cfg->window_ms : 0;
    for (int i = 0; i < TG_BREAKER_BUCKETS; i++) {
        if (b->bucket_start[i] == UINT64_MAX || b->bucket_start[i] + w <= oldest ||
            b->bucket_start[i] > now_ms)
            continue;
        *total += b->bucket_total[i];
        *failed += b->bucket_failed[i];
    }
}

static void count(struct tg_breaker *b, const struct tg_breaker_cfg *cfg, uint64_t now_ms,
                  bool failure)
{
    uint64_t w = bucket_width(cfg);
    uint64_t start = now_ms / w * w;
    int i = (int)((now_ms / w) % TG_BREAKER_BUCKETS);
    if (b->bucket_start[i] != start) {
        b->bucket_start[i] = start;
        b->bucket_total[i] = 0;
        b->bucket_failed[i] = 0;
    }
    b->bucket_total[i]++;
    if (failure)
        b->bucket_failed[i]++;
}

static void open_for(struct tg_breaker *b, uint64_t now_ms, uint64_t for_ms)
{
    b->state = TG_BREAKER_OPEN;
    b->open_until_ms = now_ms + for_ms;
    b->probes = 0;
    b->opens_total++;
}

static void close_breaker(struct tg_breaker *b, const struct tg_breaker_cfg *cfg)
{
    b->state = TG_BREAKER_CLOSED;
    b->consecutive = 0;
    b->probes = 0;
    b->cooldown_ms = (uint64_t)cfg->cooldown_ms;
    /* A fresh start: old failures must not re-open it on the next blip. */
    for (int i = 0; i < TG_BREAKER_BUCKETS; i++)
        b->bucket_start[i] = UINT64_MAX;
}

bool tg_breaker_would_admit(const struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                            uint64_t now_ms)
{
    switch (b->state) {
    case TG_BREAKER_CLOSED:
        return true;
    case TG_BREAKER_OPEN:
        return now_ms >= b->open_until_ms && cfg->half_open_probes > 0;
    case TG_BREAKER_HALF_OPEN:
        return b->probes < (uint64_t)cfg->half_open_probes;
    }
    return false;
}

bool tg_breaker_admit(struct tg_breaker *b, const struct tg_breaker_cfg *cfg, uint64_t now_ms,
                      uint32_t *probe)
{
    *probe = 0;
    if (b->state == TG_BREAKER_OPEN && now_ms >= b->open_until_ms) {
        b->state = TG_BREAKER_HALF_OPEN;
        b->probes = 0;
        if (++b->epoch == 0)
            b->epoch = 1; /* 0 means "not a probe" */
    }
    switch (b->state) {
    case TG_BREAKER_CLOSED:
        return true;
    case TG_BREAKER_HALF_OPEN:
        if (b->probes >= (uint64_t)cfg->half_open_probes)
            return false;
        b->probes++;
        *probe = b->epoch;
        return true;
    case TG_BREAKER_OPEN:
        return false;
    }
    return false;
}

/* A probe of the current half-open period? */
static bool current_probe(const struct tg_breaker *b, uint32_t probe)
{
    return probe != 0 && probe == b->epoch && b->state == TG_BREAKER_HALF_OPEN;
}

void tg_breaker_release_probe(struct tg_breaker *b, uint32_t probe)
{
    if (current_probe(b, probe) && b->probes > 0)
        b->probes--;
}

/* A suspect answer of this request already in the window? */
static bool suspect_seen(const struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                         uint64_t now_ms, uint64_t request)
{
    for (int i = 0; i < TG_BREAKER_SUSPECTS; i++)
        if (b->suspects[i].request == request &&
            b->suspects[i].at_ms + (uint64_t)cfg->window_ms > now_ms)
            return true;
    return false;
}

/* Different requests with a suspect answer in the window (the ring holds
 * each request once). */
static uint32_t suspect_sources(const struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                                uint64_t now_ms)
{
    uint32_t n = 0;
    for (int i = 0; i < TG_BREAKER_SUSPECTS; i++)
        if (b->suspects[i].request != 0 &&
            b->suspects[i].at_ms + (uint64_t)cfg->window_ms > now_ms)
            n++;
    return n;
}

void tg_breaker_record(struct tg_breaker *b, const struct tg_breaker_cfg *cfg, uint64_t now_ms,
                       enum tg_breaker_verdict verdict, bool may_open, uint64_t request,
                       uint32_t probe)
{
    if (verdict == TG_BREAKER_SUSPECT) {
        if (suspect_seen(b, cfg, now_ms, request)) {
            tg_breaker_release_probe(b, probe); /* no new evidence */
            return;
        }
        b->suspects[b->suspect_next].request = request;
        b->suspects[b->suspect_next].at_ms = now_ms;
        b->suspect_next = (b->suspect_next + 1) % TG_BREAKER_SUSPECTS;
    }
    bool failure = verdict != TG_BREAKER_SUCCESS;
    /* An answer on the last deployment that can serve the request (slow or
     * invalid) is counted, but never as evidence toward opening it: not now,
     * and not later, when one hard failure would find it in the window or
     * in the consecutive count (a held answer beats a 503). */
    count(b, cfg, now_ms, failure && may_open);
    if (current_probe(b, probe)) {
        if (b->probes > 0)
            b->probes--;
        if (verdict == TG_BREAKER_FAILURE && may_open) {
            uint64_t next = b->cooldown_ms * 2;
            if (next > (uint64_t)cfg->max_cooldown_ms)
                next = (uint64_t)cfg->max_cooldown_ms;
            b->cooldown_ms = next;
            open_for(b, now_ms, next);
        } else {
            close_breaker(b, cfg); /* it answered: slow or invalid is not down */
        }
        return;
    }
    if (b->state != TG_BREAKER_CLOSED)
        return; /* attempts admitted before it opened: counted, no transition */
    if (!failure) {
        b->consecutive = 0;
        return;
    }
    if (!may_open)
        return;
    if (verdict == TG_BREAKER_FAILURE)
        b->consecutive++;
    uint64_t total, failed;
    tg_breaker_window(b, cfg, now_ms, &total, &failed);
    bool by_rate = total >= (uint64_t)cfg->min_requests &&
                   (double)failed >= cfg->error_rate * (double)total &&
                   (verdict != TG_BREAKER_SUSPECT ||
                    suspect_sources(b, cfg, now_ms) >= TG_BREAKER_SUSPECT_SOURCES);
    bool by_count = verdict == TG_BREAKER_FAILURE &&
                    b->consecutive >= (uint64_t)cfg->failure_threshold;
    if (by_count || by_rate)
        open_for(b, now_ms, b->cooldown_ms);
}

void tg_breaker_force_open(struct tg_breaker *b, const struct tg_breaker_cfg *cfg,
                           uint64_t now_ms)
{
    uint64_t until = now_ms + (uint64_t)cfg->quota_cooldown_ms;
    if (b->state == TG_BREAKER_OPEN && b->open_until_ms >= until)
        return;
    open_for(b, now_ms, (uint64_t)cfg->quota_cooldown_ms);
}

enum tg_breaker_state tg_breaker_state(const struct tg_breaker *b, uint64_t now_ms)
{
    if (b->state == TG_BREAKER_OPEN && now_ms >= b->open_until_ms)
        return TG_BREAKER_HALF_OPEN; /* the next admission question will say so */
    return b->state;
}

const char *tg_breaker_state_name(enum tg_breaker_state s)
{
    static const char *const names[] = {"closed", "half-open", "open"};
    return (unsigned)s < 3 ? names[s] : "?";
}

/* The shared limit store (see store.h): every instance's counters in Redis.
 *
 * Layout, under the configured prefix:
 *   m:NAME            a minute counter: a hash of second -> count, the
 *                     seconds of the last minute (older ones are deleted
 *                     by the next admission; the key expires a minute
 *                     after its last write)
 *   h:NAME:HOUR       an hour counter: a hash with "spent" (settled),
 *                     "reserved" (the sum of live reservations) and
 *                     "r:MEMBER" (each reservation's amount)
 *   r:NAME:HOUR       the hour's reservations by expiry (a sorted set of
 *                     MEMBER = "INSTANCE:TICKET", scored by the time it
 *                     lapses: a crashed instance's reservations stop
 *                     counting then, not at the end of the hour)
 * Hour keys expire an hour after their hour ends.
 *
 * An admission is one EVALSHA: the script reads every counter, decides
 * all or nothing, charges, and returns what it read before charging. The
 * same pure code as the local store's (route/ratelimit.c) then turns that
 * into the headers' states and the wait, so both stores answer alike.
 * Settlements are fire-and-forget: a plain HINCRBY where nothing else must
 * change at once, the settle script where a reservation ends.
 *
 * Redis's Lua numbers are doubles: counts are exact below 2^53, which is
 * 9 million USD of nano-USD in an hour. Amounts are written as the strings
 * they came as, never formatted by Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "limits/shared.h"
#include "shared/scripts.h"
#include "util/list.h"

#define SECOND_MS 1000u
/* A minute key outlives its last write by a little more than its window. */
#define MINUTE_KEY_TTL_MS "61000"

const char tg_limit_admit_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "local now_s = math.floor(now / 1000)\n"
    "local member = ARGV[2]\n"
    "local n = (#ARGV - 2) / 4\n"
    "local fits = 1\n"
    "local read = {}\n"
    "for i = 1, n do\n"
    "  local a = 2 + (i - 1) * 4\n"
    "  local kind, limit, cost = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])\n"
    "  local key = KEYS[2 * i - 1]\n"
    "  if kind == 'm' then\n"
    "    local h = redis.call('HGETALL', key)\n"
    "    local used, live = 0, {}\n"
    "    for j = 1, #h, 2 do\n"
    "      local sec = tonumber(h[j])\n"
    "      if sec + 60 <= now_s then\n"
    "        redis.call('HDEL', key, h[j])\n"
    "      elseif sec <= now_s then\n"
    "        used = used + tonumber(h[j + 1])\n"
    "        live[#live + 1] = h[j]\n"
    "        live[#live + 1] = h[j + 1]\n"
    "      end\n"
    "    end\n"
    "    if used + math.min(cost, limit) > limit then fits = 0 end\n"
    "    read[i] = live\n"
    "  else\n"
    "    local zkey = KEYS[2 * i]\n"
    "    local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)\n"
    "    for _, m in ipairs(gone) do\n"
    "      local amt = redis.call('HGET', key, 'r:' .. m)\n"
    "      if amt then\n"
    "        redis.call('HINCRBY', key, 'reserved', '-' .. amt)\n"
    "        redis.call('HDEL', key, 'r:' .. m)\n"
    "      end\n"
    "    end\n"
    "    if #gone > 0 then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now) end\n"
    "    local v = redis.call('HMGET', key, 'spent', 'reserved')\n"
    "    local used = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)\n"
    "    if used < 0 then used = 0 end\n"
    "    if used + cost > limit then fits = 0 end\n"
    "    read[i] = {tostring(used)}\n"
    "  end\n"
    "end\n"
    "if fits == 1 then\n"
    "  for i = 1, n do\n"
    "    local a = 2 + (i - 1) * 4\n"
    "    local kind, cost, hold = ARGV[a + 1], ARGV[a + 3], tonumber(ARGV[a + 4])\n"
    "    local key = KEYS[2 * i - 1]\n"
    "    if kind == 'm' then\n"
    "      redis.call('HINCRBY', key, tostring(now_s), cost)\n"
    "      redis.call('PEXPIRE', key, " MINUTE_KEY_TTL_MS ")\n"
    "    else\n"
    "      local zkey = KEYS[2 * i]\n"
    "      local ends = (math.floor(now / 3600000) + 2) * 3600000\n"
    "      redis.call('HINCRBY', key, 'reserved', cost)\n"
    "      redis.call('HSET', key, 'r:' .. member, cost)\n"
    "      redis.call('ZADD', zkey, now + hold, member)\n"
    "      redis.call('PEXPIREAT', key, ends)\n"
    "      redis.call('PEXPIREAT', zkey, ends)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {fits, unpack(read)}\n";

/* KEYS: the reservation's hash and sorted set (its hour), the current
 * hour's hash. ARGV: member, what its hour's spend gets, what the current
 * hour's gets, when the current hour's keys expire. */
const char tg_limit_settle_lua[] =
    "local amt = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])\n"
    "if amt then\n"
    "  redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  redis.call('HINCRBY', KEYS[1], 'reserved', '-' .. amt)\n"
    "end\n"
    "if ARGV[2] ~= '0' then redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2]) end\n"
    "if ARGV[3] ~= '0' then\n"
    "  redis.call('HINCRBY', KEYS[3], 'spent', ARGV[3])\n"
    "  redis.call('PEXPIREAT', KEYS[3], ARGV[4])\n"
    "end\n"
    "return 1\n";


struct shared_store {
    struct tg_limit_store base;
    struct tg_redis *redis;
    struct tg_limit_store *local;
    char *prefix;
    char instance[17];
    uint64_t next_ticket;
    struct tg_list admitting; /* struct pending_admit waiting for Redis */
};

/* An admission waiting for its script's answer: the wants copied. */
struct pending_admit {
    struct tg_list link;
    struct shared_store *s;
    struct tg_redis_call *call;
    struct tg_limit_want wants[TG_LIMIT_MAX_CHECKS];
    char *names[TG_LIMIT_MAX_CHECKS];
    size_t n;
    uint64_t now_ms, ticket;
    tg_admit_cb cb;
    void *ctx;
};

static uint64_t hour_of(uint64_t ms)
{
    return ms / TG_HOUR_MS;
}

/* The key of counter `name` of `kind` ("m", "h" or "r"), for an hour's. */
static void counter_key(struct tg_buf *b, const struct shared_store *s, const char *kind,
                        const char *name, enum tg_limit_period period, uint64_t ms)
{
    tg_buf_reset(b);
    if (period == TG_PERIOD_MINUTE)
        tg_buf_printf(b, "%sm:%s", s->prefix, name);
    else
        tg_buf_printf(b, "%s%s:%s:%llu", s->prefix, kind, name, (unsigned long long)hour_of(ms));
}

static void member_of(char *out, size_t cap, const struct shared_store *s, uint64_t ticket)
{
    snprintf(out, cap, "%s:%llu", s->instance, (unsigned long long)ticket);
}

/* ---- admission ---- */

/* The local store's decision, for a link that is down or failed. */
static void admit_locally(struct shared_store *s, const struct tg_limit_want *wants, size_t n,
                          uint64_t now_ms, tg_admit_cb cb, void *ctx)
{
    tg_limit_admit(s->local, wants, n, now_ms, cb, ctx);
}

/* A counter as the script read it, in the local store's shape. */
static bool counter_from_reply(const redisReply *e, enum tg_limit_period period, uint64_t now_ms,
                               struct tg_counter *c)
{
    memset(c, 0, sizeof(*c));
    c->period = period;
    if (!e || e->type != REDIS_REPLY_ARRAY)
        return false;
    if (period == TG_PERIOD_HOUR) {
        if (e->elements != 1 || e->element[0]->type != REDIS_REPLY_STRING)
            return false;
        c->u.hour.hour = now_ms / TG_HOUR_MS + 1;
        c->u.hour.count = strtoll(e->element[0]->str, NULL, 10);
        return true;
    }
    for (size_t j = 0; j + 1 < e->elements; j += 2) {
        if (e->element[j]->type != REDIS_REPLY_STRING ||
            e->element[j + 1]->type != REDIS_REPLY_STRING)
            return false;
        uint64_t sec = strtoull(e->element[j]->str, NULL, 10);
        size_t i = sec % TG_WINDOW_SECONDS;
        c->u.minute.second[i] = sec + 1;
        c->u.minute.count[i] += strtoll(e->element[j + 1]->str, NULL, 10);
    }
    return true;
}

static void pending_free(struct pending_admit *p)
{
    if (tg_list_linked(&p->link))
        tg_list_remove(&p->link);
    for (size_t i = 0; i < p->n; i++)
        free(p->names[i]);
    free(p);
}

static void on_admit_reply(void *ctx, const redisReply *reply)
{
    struct pending_admit *p = ctx;
    struct shared_store *s = p->s;
    tg_admit_cb cb = p->cb;
    void *cb_ctx = p->ctx;
    tg_list_remove(&p->link);
    struct tg_counter counters[TG_LIMIT_MAX_CHECKS];
    bool ok = !tg_redis_reply_failed(reply) && reply->type == REDIS_REPLY_ARRAY &&
              reply->elements == p->n + 1 && reply->element[0]->type == REDIS_REPLY_INTEGER;
    for (size_t i = 0; ok && i < p->n; i++)
        ok = counter_from_reply(reply->element[i + 1], p->wants[i].period, p->now_ms,
                                &counters[i]);
    if (!ok) {
        /* Down, slow or odd: this request is decided here, as if alone. */
        admit_locally(s, p->wants, p->n, p->now_ms, cb, cb_ctx);
        pending_free(p);
        return;
    }
    struct tg_admission res = {.shared = true, .at_ms = p->now_ms, .ticket = p->ticket,
                               .n = p->n};
    struct tg_limit_check checks[TG_LIMIT_MAX_CHECKS];
    for (size_t i = 0; i < p->n; i++)
        checks[i] = (struct tg_limit_check){&counters[i], p->wants[i].limit, p->wants[i].cost};
    /* What Redis read, before its charge: the same decision again here
     * gives the states and the wait the local store would give. */
    bool fits_here = tg_limits_admit(checks, p->n, p->now_ms, &res.retry_after_ms, res.state);
    res.admitted = reply->element[0]->integer == 1;
    if (!res.admitted && fits_here)
        res.retry_after_ms = SECOND_MS; /* rounding aside, they agree: retry soon */
    if (res.admitted)
        for (size_t i = 0; i < p->n; i++) /* this instance's own counts, for an outage */
            tg_limit_settle(s->local, p->wants[i].name, p->wants[i].period, NULL, 0, p->now_ms,
                            p->wants[i].cost);
    pending_free(p);
    cb(cb_ctx, &res);
}

static void shared_admit(struct tg_limit_store *base, const struct tg_limit_want *wants, size_t n,
                         uint64_t now_ms, tg_admit_cb cb, void *ctx)
{
    struct shared_store *s = (struct shared_store *)base;
    if (n > TG_LIMIT_MAX_CHECKS)
        n = TG_LIMIT_MAX_CHECKS;
    if (!tg_redis_up(s->redis)) {
        admit_locally(s, wants, n, now_ms, cb, ctx);
        return;
    }
    struct pending_admit *p = tg_xcalloc(1, sizeof(*p));
    p->s = s;
    p->n = n;
    p->now_ms = now_ms;
    p->ticket = ++s->next_ticket;
    p->cb = cb;
    p->ctx = ctx;
    struct tg_buf text = TG_BUF_INIT;
    const char *keys[2 * TG_LIMIT_MAX_CHECKS], *args[2 + 4 * TG_LIMIT_MAX_CHECKS];
    size_t offs[2 * TG_LIMIT_MAX_CHECKS + 2 + 4 * TG_LIMIT_MAX_CHECKS], nt = 0;
    struct tg_buf key = TG_BUF_INIT;
    /* Every string goes into one buffer first (it may move as it grows);
     * the pointers are taken once it is whole. */
#define PUT(...)                                                                                   \
    do {                                                                                           \
        offs[nt++] = text.len;                                                                     \
        tg_buf_printf(&text, __VA_ARGS__);                                                         \
        tg_buf_putc(&text, '\0');                                                                  \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        p->names[i] = tg_xstrdup(wants[i].name);
        p->wants[i] = wants[i];
        p->wants[i].name = p->names[i];
        counter_key(&key, s, "h", wants[i].name, wants[i].period, now_ms);
        PUT("%s", key.data);
        counter_key(&key, s, "r", wants[i].name, wants[i].period, now_ms);
        PUT("%s", key.data);
    }
    char member[48];
    member_of(member, sizeof(member), s, p->ticket);
    PUT("%llu", (unsigned long long)now_ms);
    PUT("%s", member);
    for (size_t i = 0; i < n; i++) {
        PUT("%s", wants[i].period == TG_PERIOD_MINUTE ? "m" : "h");
        PUT("%lld", (long long)wants[i].limit);
        PUT("%lld", (long long)wants[i].cost);
        PUT("%llu", (unsigned long long)wants[i].hold_ms);
    }
#undef PUT
    for (size_t i = 0; i < 2 * n; i++)
        keys[i] = text.data + offs[i];
    for (size_t i = 0; i < 2 + 4 * n; i++)
        args[i] = text.data + offs[2 * n + i];
    tg_list_push_back(&s->admitting, &p->link);
    p->call = tg_redis_eval(s->redis, TG_SCRIPT_LIMIT_ADMIT, 2 * n, keys, 2 + 4 * n, args,
                            NULL, on_admit_reply, p);
    tg_buf_free(&text);
    tg_buf_free(&key);
    if (!p->call) {
        pending_free(p);
        admit_locally(s, wants, n, now_ms, cb, ctx);
    }
}

/* ---- settlement ---- */

/* A command whose answer nobody waits for. */
static void fire(struct shared_store *s, int argc, const char **argv)
{
    tg_redis_command(s->redis, argc, argv, NULL, NULL, NULL);
}

static void shared_settle(struct tg_limit_store *base, const char *name,
                          enum tg_limit_period period, const struct tg_admission *adm,
                          int64_t charged, uint64_t now_ms, int64_t delta)
{
    struct shared_store *s = (struct shared_store *)base;
    tg_limit_settle(s->local, name, period, adm, charged, now_ms, delta);
    if ((adm && !adm->shared) || !tg_redis_up(s->redis))
        return; /* decided here, or Redis is away: local state only */
    struct tg_buf key = TG_BUF_INIT;
    char num[32], field[24];
    uint64_t at_ms = adm ? adm->at_ms : now_ms;
    if (period == TG_PERIOD_MINUTE) {
        /* tg_window_add's rules, worked out here: one HINCRBY. */
        uint64_t now_s = now_ms / SECOND_MS, at_s = at_ms / SECOND_MS;
        if (at_s > now_s)
            at_s = now_s;
        if (at_s + TG_WINDOW_SECONDS <= now_s) {
            if (delta <= 0)
                goto out;
            at_s = now_s;
        }
        if (delta == 0)
            goto out;
        counter_key(&key, s, "m", name, period, now_ms);
        snprintf(field, sizeof(field), "%llu", (unsigned long long)at_s);
        snprintf(num, sizeof(num), "%lld", (long long)delta);
        const char *incr[] = {"HINCRBY", key.data, field, num};
        const char *expire[] = {"PEXPIRE", key.data, MINUTE_KEY_TTL_MS};
        fire(s, 4, incr);
        fire(s, 3, expire);
        goto out;
    }
    char ends[24];
    snprintf(ends, sizeof(ends), "%llu", (unsigned long long)((hour_of(now_ms) + 2) * TG_HOUR_MS));
    bool same_hour = hour_of(at_ms) == hour_of(now_ms);
    if (adm && charged > 0) {
        /* The reservation ends; its hour keeps the actual cost, or, once
         * that hour is over, what it overspent counts now. */
        struct tg_buf hkey = TG_BUF_INIT, zkey = TG_BUF_INIT;
        counter_key(&hkey, s, "h", name, period, at_ms);
        counter_key(&zkey, s, "r", name, period, at_ms);
        counter_key(&key, s, "h", name, period, now_ms);
        char member[48], add_at[32], add_now[32];
        member_of(member, sizeof(member), s, adm->ticket);
        snprintf(add_at, sizeof(add_at), "%lld", same_hour ? (long long)(charged + delta) : 0LL);
        snprintf(add_now, sizeof(add_now), "%lld",
                 !same_hour && delta > 0 ? (long long)delta : 0LL);
        const char *keys[] = {hkey.data, zkey.data, key.data};
        const char *args[] = {member, add_at, add_now, ends};
        tg_redis_eval(s->redis, TG_SCRIPT_LIMIT_SETTLE, 3, keys, 4, args, NULL, NULL, NULL);
        tg_buf_free(&hkey);
        tg_buf_free(&zkey);
        goto out;
    }
    if (delta == 0)
        goto out;
    counter_key(&key, s, "h", name, period, now_ms);
    snprintf(num, sizeof(num), "%lld", (long long)delta);
    const char *incr[] = {"HINCRBY", key.data, "spent", num};
    const char *expire[] = {"PEXPIREAT", key.data, ends};
    fire(s, 4, incr);
    fire(s, 3, expire);
out:
    tg_buf_free(&key);
}

/* What this instance knows without a round trip: its own counts (the
 * mirror of what Redis admitted for it, and what it decided alone). */
static int64_t shared_peek(struct tg_limit_store *base, const char *name,
                           enum tg_limit_period period, uint64_t now_ms)
{
    struct shared_store *s = (struct shared_store *)base;
    return tg_limit_peek(s->local, name, period, now_ms);
}

static void shared_free(struct tg_limit_store *base)
{
    struct shared_store *s = (struct shared_store *)base;
    /* The link closed first and answered every admission still out. */
    while (!tg_list_empty(&s->admitting)) {
        struct pending_admit *p =
            tg_container_of(s->admitting.next, struct pending_admit, link);
        tg_redis_cancel(p->call);
        pending_free(p);
    }
    tg_limit_store_free(s->local);
    free(s->prefix);
    free(s);
}

static const struct tg_limit_store_ops shared_ops = {shared_admit, shared_settle, shared_peek,
                                                     shared_free};

struct tg_limit_store *tg_limit_store_shared_new(struct tg_redis *redis, const char *prefix,
                                                struct tg_limit_store *local,
                                                uint64_t instance_id)
{
    struct shared_store *s = tg_xcalloc(1, sizeof(*s));
    s->base.ops = &shared_ops;
    s->redis = redis;
    s->local = local;
    s->prefix = tg_xstrdup(prefix);
    snprintf(s->instance, sizeof(s->instance), "%016llx", (unsigned long long)instance_id);
    tg_list_init(&s->admitting);
    return &s->base;
}

/* The shared limit store (see store.h): every instance's counters in Redis.
 *
 * Layout, under the configured prefix:
 *   m:NAME            a minute counter: a hash of second -> count for the
 *                     seconds of the last minute, with "t" (their sum) and
 *                     "lo" (the oldest second still in t): an admission
 *                     deletes the seconds that left the window and
 *                     subtracts them from t, so it reads one field, not
 *                     sixty (all of them only when it refuses, for the
 *                     exact wait); the key expires a minute after its last
 *                     write
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
    "local from = now_s - 59\n"
    "local member = ARGV[2]\n"
    "local n = (#ARGV - 2) / 4\n"
    "local fits = 1\n"
    "local read, used_of = {}, {}\n"
    "for i = 1, n do\n"
    "  local a = 2 + (i - 1) * 4\n"
    "  local kind, limit, cost = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])\n"
    "  local key = KEYS[2 * i - 1]\n"
    "  if kind == 'm' then\n"
    "    local st = redis.call('HMGET', key, 't', 'lo')\n"
    "    local t, lo = tonumber(st[1]) or 0, tonumber(st[2])\n"
    "    if lo and lo + 60 <= from then\n"
    "      t = 0\n"
    "      local h = redis.call('HGETALL', key)\n"
    "      for j = 1, #h, 2 do\n"
    "        local sec = tonumber(h[j])\n"
    "        if sec and sec < from then\n"
    "          redis.call('HDEL', key, h[j])\n"
    "        elseif sec then\n"
    "          t = t + tonumber(h[j + 1])\n"
    "        end\n"
    "      end\n"
    "    elseif lo then\n"
    "      for sec = lo, from - 1 do\n"
    "        local c = redis.call('HGET', key, tostring(sec))\n"
    "        if c then\n"
    "          t = t - tonumber(c)\n"
    "          redis.call('HDEL', key, tostring(sec))\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    if not lo or lo < from then\n"
    "      redis.call('HSET', key, 't', tostring(t), 'lo', tostring(from))\n"
    "      redis.call('PEXPIRE', key, " MINUTE_KEY_TTL_MS ")\n"
    "    end\n"
    "    local used = t > 0 and t or 0\n"
    "    if used + math.min(cost, limit) > limit then fits = 0 end\n"
    "    used_of[i] = used\n"
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
    "      redis.call('HINCRBY', key, 't', cost)\n"
    "      redis.call('PEXPIRE', key, " MINUTE_KEY_TTL_MS ")\n"
    "      read[i] = {tostring(used_of[i])}\n"
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
    "if fits == 0 then\n"
    "  for i = 1, n do\n"
    "    if ARGV[2 + (i - 1) * 4 + 1] == 'm' then\n"
    "      local h, live = redis.call('HGETALL', KEYS[2 * i - 1]), {}\n"
    "      for j = 1, #h, 2 do\n"
    "        local sec = tonumber(h[j])\n"
    "        if sec and sec >= from and sec <= now_s then\n"
    "          live[#live + 1] = h[j]\n"
    "          live[#live + 1] = h[j + 1]\n"
    "        end\n"
    "      end\n"
    "      read[i] = live\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {fits, unpack(read)}\n";

/* A batch of settlements, one loop pass's. Each operation takes its keys
 * from KEYS in order and starts with its code in ARGV:
 *   m FIELD NOW DELTA          a minute counter's second FIELD, or second NOW
 *                              when FIELD has left the window (1 key)
 *   h DELTA ENDS               an hour's spend, expiring at ENDS (1 key)
 *   r MEMBER ADD_AT ADD_NOW ENDS ENDS_AT
 *                              a reservation ends: its hour's hash and sorted
 *                              set, and the current hour's hash (3 keys);
 *                              ENDS_AT: when its hour's keys expire */
const char tg_limit_settle_lua[] =
    "local k, a = 1, 1\n"
    "while a <= #ARGV do\n"
    "  local op = ARGV[a]\n"
    "  if op == 'm' then\n"
    "    local lo = tonumber(redis.call('HGET', KEYS[k], 'lo'))\n"
    "    local sec, delta = ARGV[a + 1], ARGV[a + 3]\n"
    "    if not lo or tonumber(sec) < lo then\n"
    "      sec = tonumber(delta) > 0 and ARGV[a + 2] or nil\n"
    "    end\n"
    "    if sec then\n"
    "      redis.call('HINCRBY', KEYS[k], sec, delta)\n"
    "      redis.call('HINCRBY', KEYS[k], 't', delta)\n"
    "      redis.call('PEXPIRE', KEYS[k], " MINUTE_KEY_TTL_MS ")\n"
    "    end\n"
    "    k, a = k + 1, a + 4\n"
    "  elseif op == 'h' then\n"
    "    redis.call('HINCRBY', KEYS[k], 'spent', ARGV[a + 1])\n"
    "    redis.call('PEXPIREAT', KEYS[k], ARGV[a + 2])\n"
    "    k, a = k + 1, a + 3\n"
    "  else\n"
    "    local m = ARGV[a + 1]\n"
    "    local amt = redis.call('HGET', KEYS[k], 'r:' .. m)\n"
    "    if amt then\n"
    "      redis.call('HDEL', KEYS[k], 'r:' .. m)\n"
    "      redis.call('ZREM', KEYS[k + 1], m)\n"
    "      redis.call('HINCRBY', KEYS[k], 'reserved', '-' .. amt)\n"
    "    end\n"
    "    if ARGV[a + 2] ~= '0' then\n"
    "      redis.call('HINCRBY', KEYS[k], 'spent', ARGV[a + 2])\n"
    "      redis.call('PEXPIREAT', KEYS[k], ARGV[a + 5])\n"
    "    end\n"
    "    if ARGV[a + 3] ~= '0' then\n"
    "      redis.call('HINCRBY', KEYS[k + 2], 'spent', ARGV[a + 3])\n"
    "      redis.call('PEXPIREAT', KEYS[k + 2], ARGV[a + 4])\n"
    "    end\n"
    "    k, a = k + 3, a + 6\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* Strings handed to one call, in one buffer: offsets while it grows, the
 * pointers once it is whole. */
struct arglist {
    struct tg_buf text;
    size_t *offs;
    size_t n, cap;
};

static void arg_start(struct arglist *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->offs = tg_xrealloc(l->offs, l->cap * sizeof(*l->offs));
    }
    l->offs[l->n++] = l->text.len;
}

static void arg_end(struct arglist *l)
{
    tg_buf_putc(&l->text, '\0');
}

static void arg_str(struct arglist *l, const char *s)
{
    arg_start(l);
    tg_buf_puts(&l->text, s);
    arg_end(l);
}

static void arg_u64(struct arglist *l, uint64_t v)
{
    arg_start(l);
    tg_buf_put_u64(&l->text, v);
    arg_end(l);
}

static void arg_i64(struct arglist *l, int64_t v)
{
    arg_start(l);
    if (v < 0)
        tg_buf_putc(&l->text, '-');
    tg_buf_put_u64(&l->text, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    arg_end(l);
}

/* The pointers of args [from, to). */
static void arg_pointers(const struct arglist *l, size_t from, size_t to, const char **out)
{
    for (size_t i = from; i < to; i++)
        out[i - from] = l->text.data + l->offs[i];
}

static void arg_reset(struct arglist *l)
{
    tg_buf_reset(&l->text);
    l->n = 0;
}

static void arg_free(struct arglist *l)
{
    tg_buf_free(&l->text);
    free(l->offs);
}

/* Settlements wait at most one loop pass, then go out as one call. */
#define SETTLE_BATCH_MAX_ARGS 240
#define OWED_MAX_ARGS 6000

struct shared_store {
    struct tg_limit_store base;
    struct tg_redis *redis;
    struct tg_loop *loop;
    struct tg_limit_store *local;
    char *prefix;
    char instance[17];
    uint64_t next_ticket;
    struct tg_list admitting;              /* struct pending_admit waiting for Redis */
    struct arglist batch_keys, batch_args; /* this pass's settlements */
    /* Hour settlements made while Redis was away, sent when it is back:
     * spend it never saw (decided here) or never heard settled. Bounded:
     * past OWED_MAX_ARGS the oldest are kept and the rest dropped. */
    struct arglist owed_keys, owed_args;
    struct arglist scratch; /* an admission's strings */
    struct tg_deferred flush;
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

/* The key of counter `name` of `kind` ("m", "h" or "r", as an hour's at ms),
 * as the next string of l. */
static void arg_key(struct arglist *l, const struct shared_store *s, const char *kind,
                    const char *name, enum tg_limit_period period, uint64_t ms)
{
    arg_start(l);
    tg_buf_puts(&l->text, s->prefix);
    if (period == TG_PERIOD_MINUTE) {
        tg_buf_puts(&l->text, "m:");
        tg_buf_puts(&l->text, name);
    } else {
        tg_buf_puts(&l->text, kind);
        tg_buf_putc(&l->text, ':');
        tg_buf_puts(&l->text, name);
        tg_buf_putc(&l->text, ':');
        tg_buf_put_u64(&l->text, hour_of(ms));
    }
    arg_end(l);
}

/* A reservation's member: "INSTANCE:TICKET". */
static void arg_member(struct arglist *l, const struct shared_store *s, uint64_t ticket)
{
    arg_start(l);
    tg_buf_puts(&l->text, s->instance);
    tg_buf_putc(&l->text, ':');
    tg_buf_put_u64(&l->text, ticket);
    arg_end(l);
}

/* ---- admission ---- */

static void pay_owed(struct shared_store *s);

/* The local store's decision, for a link that is down or failed. */
static void admit_locally(struct shared_store *s, const struct tg_limit_want *wants, size_t n,
                          uint64_t now_ms, tg_admit_cb cb, void *ctx)
{
    tg_limit_admit(s->local, wants, n, now_ms, cb, ctx);
}

/* A counter as the script read it, before its charge, in the local store's
 * shape. An admitted request's minute counters come back as their sum only
 * (held in the current second: what the states need); a refused one's as
 * every live second, for the exact wait. */
static bool counter_from_reply(const redisReply *e, enum tg_limit_period period, bool admitted,
                               uint64_t now_ms, struct tg_counter *c)
{
    memset(c, 0, sizeof(*c));
    c->period = period;
    if (!e || e->type != REDIS_REPLY_ARRAY)
        return false;
    if (period == TG_PERIOD_HOUR || admitted) {
        if (e->elements != 1 || e->element[0]->type != REDIS_REPLY_STRING)
            return false;
        int64_t used = strtoll(e->element[0]->str, NULL, 10);
        if (period == TG_PERIOD_HOUR) {
            c->u.hour.hour = now_ms / TG_HOUR_MS + 1;
            c->u.hour.count = used;
        } else {
            uint64_t sec = now_ms / SECOND_MS;
            c->u.minute.second[sec % TG_WINDOW_SECONDS] = sec + 1;
            c->u.minute.count[sec % TG_WINDOW_SECONDS] = used;
        }
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
    bool admitted = ok && reply->element[0]->integer == 1;
    for (size_t i = 0; ok && i < p->n; i++)
        ok = counter_from_reply(reply->element[i + 1], p->wants[i].period, admitted, p->now_ms,
                                &counters[i]);
    if (!ok) {
        /* Down, slow or odd: this request is decided here, as if alone. */
        admit_locally(s, p->wants, p->n, p->now_ms, cb, cb_ctx);
        pending_free(p);
        return;
    }
    struct tg_admission res = {.shared = true, .at_ms = p->now_ms, .ticket = p->ticket, .n = p->n};
    struct tg_limit_check checks[TG_LIMIT_MAX_CHECKS];
    for (size_t i = 0; i < p->n; i++)
        checks[i] = (struct tg_limit_check){&counters[i], p->wants[i].limit, p->wants[i].cost};
    /* What Redis read, before its charge: the same decision again here
     * gives the states and the wait the local store would give. */
    bool fits_here = tg_limits_admit(checks, p->n, p->now_ms, &res.retry_after_ms, res.state);
    res.admitted = admitted;
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
    pay_owed(s);
    struct pending_admit *p = tg_xcalloc(1, sizeof(*p));
    p->s = s;
    p->n = n;
    p->now_ms = now_ms;
    p->ticket = ++s->next_ticket;
    p->cb = cb;
    p->ctx = ctx;
    struct arglist *l = &s->scratch;
    arg_reset(l);
    for (size_t i = 0; i < n; i++) {
        p->names[i] = tg_xstrdup(wants[i].name);
        p->wants[i] = wants[i];
        p->wants[i].name = p->names[i];
        arg_key(l, s, "h", wants[i].name, wants[i].period, now_ms);
        arg_key(l, s, "r", wants[i].name, wants[i].period, now_ms);
    }
    arg_u64(l, now_ms);
    arg_member(l, s, p->ticket);
    for (size_t i = 0; i < n; i++) {
        arg_str(l, wants[i].period == TG_PERIOD_MINUTE ? "m" : "h");
        arg_i64(l, wants[i].limit);
        arg_i64(l, wants[i].cost);
        arg_u64(l, wants[i].hold_ms);
    }
    const char *keys[2 * TG_LIMIT_MAX_CHECKS], *args[2 + 4 * TG_LIMIT_MAX_CHECKS];
    arg_pointers(l, 0, 2 * n, keys);
    arg_pointers(l, 2 * n, l->n, args);
    tg_list_push_back(&s->admitting, &p->link);
    p->call = tg_redis_eval(s->redis, TG_SCRIPT_LIMIT_ADMIT, 2 * n, keys, 2 + 4 * n, args, NULL,
                            on_admit_reply, p);
    if (!p->call) {
        pending_free(p);
        admit_locally(s, wants, n, now_ms, cb, ctx);
    }
}

/* ---- settlement ---- */

/* Sends operations as one settle call, unanswered (a batch lost with the
 * link leaves Redis counting a reservation until it lapses). */
static void send_ops(struct shared_store *s, struct arglist *keys_l, struct arglist *args_l)
{
    if (args_l->n == 0)
        return;
    const char **keys = tg_xcalloc(keys_l->n + 1, sizeof(*keys));
    const char **args = tg_xcalloc(args_l->n, sizeof(*args));
    arg_pointers(keys_l, 0, keys_l->n, keys);
    arg_pointers(args_l, 0, args_l->n, args);
    tg_redis_eval(s->redis, TG_SCRIPT_LIMIT_SETTLE, keys_l->n, keys, args_l->n, args, NULL, NULL,
                  NULL);
    free(keys);
    free(args);
    arg_reset(keys_l);
    arg_reset(args_l);
}

static void flush_batch(struct shared_store *s)
{
    send_ops(s, &s->batch_keys, &s->batch_args);
}

/* Redis is back: what it missed meanwhile goes first. */
static void pay_owed(struct shared_store *s)
{
    send_ops(s, &s->owed_keys, &s->owed_args);
}

static void on_flush(struct tg_deferred *d)
{
    flush_batch(tg_container_of(d, struct shared_store, flush));
}

/* The batch grows by one operation; it goes out at the end of the loop
 * pass, or now when it is large. */
static void batched(struct shared_store *s)
{
    if (s->batch_args.n >= SETTLE_BATCH_MAX_ARGS) {
        tg_defer_cancel(&s->flush);
        flush_batch(s);
    } else {
        tg_defer(s->loop, &s->flush);
    }
}

static void shared_settle(struct tg_limit_store *base, const char *name,
                          enum tg_limit_period period, const struct tg_admission *adm,
                          int64_t charged, uint64_t now_ms, int64_t delta)
{
    struct shared_store *s = (struct shared_store *)base;
    tg_limit_settle(s->local, name, period, adm, charged, now_ms, delta);
    bool up = tg_redis_up(s->redis), local = adm && !adm->shared;
    if (up)
        pay_owed(s);
    /* A minute's counts are stale by the time Redis is back: only what
     * Redis admitted is settled there. An hour's spend is owed to it. */
    if (period == TG_PERIOD_MINUTE && (!up || local))
        return;
    if (!up && s->owed_args.n >= OWED_MAX_ARGS)
        return;
    struct arglist *k = up ? &s->batch_keys : &s->owed_keys;
    struct arglist *a = up ? &s->batch_args : &s->owed_args;
    uint64_t at_ms = adm ? adm->at_ms : now_ms;
    uint64_t ends = (hour_of(now_ms) + 2) * TG_HOUR_MS;
    if (local && period == TG_PERIOD_HOUR) {
        /* Decided on local state: Redis never saw the reservation, only the
         * spend is its business (by tg_hour_add's rules). */
        delta = hour_of(at_ms) == hour_of(now_ms) ? charged + delta : (delta > 0 ? delta : 0);
        adm = NULL;
        charged = 0;
    }
    if (period == TG_PERIOD_MINUTE) {
        uint64_t at_s;
        if (delta == 0 || !tg_window_add_second(at_ms, now_ms, delta, &at_s))
            return;
        arg_key(k, s, "m", name, period, now_ms);
        arg_str(a, "m");
        arg_u64(a, at_s);
        arg_u64(a, now_ms / SECOND_MS);
        arg_i64(a, delta);
    } else if (adm && charged > 0) {
        /* The reservation ends; its hour keeps the actual cost, or, once
         * that hour is over, what it overspent counts now. */
        bool same_hour = hour_of(at_ms) == hour_of(now_ms);
        arg_key(k, s, "h", name, period, at_ms);
        arg_key(k, s, "r", name, period, at_ms);
        arg_key(k, s, "h", name, period, now_ms);
        arg_str(a, "r");
        arg_member(a, s, adm->ticket);
        arg_i64(a, same_hour ? charged + delta : 0);
        arg_i64(a, !same_hour && delta > 0 ? delta : 0);
        arg_u64(a, ends);
        arg_u64(a, (hour_of(at_ms) + 2) * TG_HOUR_MS);
    } else {
        if (delta == 0)
            return;
        arg_key(k, s, "h", name, period, now_ms);
        arg_str(a, "h");
        arg_i64(a, delta);
        arg_u64(a, ends);
    }
    if (up)
        batched(s);
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
    /* Freed before the link closes (gateway.c): the last settlements go
     * into its output, which tg_redis_close writes out. An admission still
     * out has no requester left by now. */
    while (!tg_list_empty(&s->admitting)) {
        struct pending_admit *p = tg_container_of(s->admitting.next, struct pending_admit, link);
        tg_redis_cancel(p->call);
        pending_free(p);
    }
    flush_batch(s);
    tg_defer_cancel(&s->flush);
    arg_free(&s->batch_keys);
    arg_free(&s->batch_args);
    arg_free(&s->owed_keys);
    arg_free(&s->owed_args);
    arg_free(&s->scratch);
    tg_limit_store_free(s->local);
    free(s->prefix);
    free(s);
}

static const struct tg_limit_store_ops shared_ops = {shared_admit, shared_settle, shared_peek,
                                                     shared_free};

struct tg_limit_store *tg_limit_store_shared_new(struct tg_loop *loop, struct tg_redis *redis,
                                                 const char *prefix, struct tg_limit_store *local,
                                                 uint64_t instance_id)
{
    struct shared_store *s = tg_xcalloc(1, sizeof(*s));
    s->base.ops = &shared_ops;
    s->loop = loop;
    tg_deferred_init(&s->flush, on_flush);
    s->redis = redis;
    s->local = local;
    s->prefix = tg_xstrdup(prefix);
    snprintf(s->instance, sizeof(s->instance), "%016llx", (unsigned long long)instance_id);
    tg_list_init(&s->admitting);
    return &s->base;
}

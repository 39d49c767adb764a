/* The response cache in Redis (see cache.h). */
#include "shared/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/loop.h"
#include "shared/scripts.h"
#include "util/hex.h"

/* KEYS: the entry, the index (by expiry: entries of routes that keep
 * them for different times age out alike), the sizes. ARGV: the entry's
 * name in the index, status, stream, deployment, body, stored (wall ms),
 * keep (ms), max_bytes. The index's total is the sizes' field "total". */
const char tg_cache_put_lua[] =
    "local name, size = ARGV[1], #ARGV[5] + #ARGV[4] + 64\n"
    "local max = tonumber(ARGV[8])\n"
    "if size > max then return 0 end\n"
    "local now, keep = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local function drop(n)\n"
    "  local s = tonumber(redis.call('HGET', KEYS[3], n) or '0')\n"
    "  redis.call('HDEL', KEYS[3], n)\n"
    "  redis.call('ZREM', KEYS[2], n)\n"
    "  redis.call('HINCRBY', KEYS[3], 'total', -s)\n"
    "end\n"
    "for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do\n"
    "  drop(n)\n"
    "end\n"
    "if redis.call('HEXISTS', KEYS[3], name) == 1 then drop(name) end\n"
    "local total = tonumber(redis.call('HGET', KEYS[3], 'total') or '0')\n"
    "while total + size > max do\n"
    "  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]\n"
    "  if not oldest then break end\n"
    "  local s = tonumber(redis.call('HGET', KEYS[3], oldest) or '0')\n"
    "  drop(oldest)\n"
    "  redis.call('DEL', string.sub(KEYS[1], 1, #KEYS[1] - #name) .. oldest)\n"
    "  total = total - s\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'stream', ARGV[3], 'deployment', ARGV[4],\n"
    "           'body', ARGV[5], 'stored', ARGV[6])\n"
    "redis.call('PEXPIRE', KEYS[1], keep)\n"
    "redis.call('ZADD', KEYS[2], now + keep, name)\n"
    "redis.call('HSET', KEYS[3], name, size)\n"
    "redis.call('HINCRBY', KEYS[3], 'total', size)\n"
    "return 1\n";

static void on_fetched(void *ctx, const redisReply *reply)
{
    struct tg_shared_cache_fetch *f = ctx;
    f->call = NULL;
    struct tg_shared_cache_entry e = {0};
    bool hit =
        !tg_redis_reply_failed(reply) && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5;
    for (size_t i = 0; hit && i < 5; i++)
        hit = tg_redis_is_string(reply->element[i]);
    if (hit) {
        e.status = atoi(reply->element[0]->str);
        e.stream = reply->element[1]->len == 1 && reply->element[1]->str[0] == '1';
        e.deployment = reply->element[2]->str;
        e.body = reply->element[3]->str;
        e.body_len = reply->element[3]->len;
        uint64_t stored = strtoull(reply->element[4]->str, NULL, 10), now = tg_wall_ms();
        e.age_ms = now > stored ? now - stored : 0;
        hit = e.status >= 200 && e.status <= 599;
    }
    f->cb(f->ctx, hit ? &e : NULL);
}

bool tg_shared_cache_fetch(struct tg_shared_cache_fetch *f, struct tg_redis *r, const char *prefix,
                           const uint8_t key[TG_CACHE_KEY_LEN], tg_shared_cache_cb cb, void *ctx)
{
    char h[2 * TG_CACHE_KEY_LEN + 1];
    tg_hex_encode(key, TG_CACHE_KEY_LEN, h);
    struct tg_buf k = TG_BUF_INIT;
    tg_buf_puts(&k, prefix);
    tg_buf_puts(&k, "c:");
    tg_buf_puts(&k, h);
    const char *argv[] = {"HMGET", k.data, "status", "stream", "deployment", "body", "stored"};
    f->cb = cb;
    f->ctx = ctx;
    f->call = tg_redis_command(r, 7, argv, NULL, on_fetched, f);
    tg_buf_free(&k);
    return f->call != NULL;
}

void tg_shared_cache_fetch_cancel(struct tg_shared_cache_fetch *f)
{
    tg_redis_cancel(f->call);
    f->call = NULL;
}

void tg_shared_cache_put(struct tg_redis *r, const char *prefix,
                         const uint8_t key[TG_CACHE_KEY_LEN], int status, bool stream,
                         const char *deployment, const char *body, size_t len, uint64_t keep_ms,
                         size_t max_bytes)
{
    if (len > TG_SHARED_VALUE_MAX || len > max_bytes)
        return;
    char h[2 * TG_CACHE_KEY_LEN + 1], st[16], stored[24], keep[24], max[24];
    tg_hex_encode(key, TG_CACHE_KEY_LEN, h);
    snprintf(st, sizeof(st), "%d", status);
    snprintf(stored, sizeof(stored), "%llu", (unsigned long long)tg_wall_ms());
    snprintf(keep, sizeof(keep), "%llu", (unsigned long long)(keep_ms ? keep_ms : 1));
    snprintf(max, sizeof(max), "%zu", max_bytes);
    struct tg_buf entry = TG_BUF_INIT, index = TG_BUF_INIT, sizes = TG_BUF_INIT;
    tg_buf_printf(&entry, "%sc:%s", prefix, h);
    tg_buf_printf(&index, "%scidx", prefix);
    tg_buf_printf(&sizes, "%scsize", prefix);
    const char *keys[] = {entry.data, index.data, sizes.data};
    const char *args[] = {h,    st, stream ? "1" : "0", deployment, body ? body : "", stored,
                          keep, max};
    size_t lens[] = {strlen(h),      strlen(st),   1,          strlen(deployment), len,
                     strlen(stored), strlen(keep), strlen(max)};
    tg_redis_eval(r, TG_SCRIPT_CACHE_PUT, 3, keys, 8, args, lens, NULL, NULL);
    tg_buf_free(&entry);
    tg_buf_free(&index);
    tg_buf_free(&sizes);
}

/* The Idempotency-Key in Redis (see idempotency.h). */
#include "shared/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "shared/scripts.h"
#include "util/hex.h"

/* KEYS: the key's hash. ARGV: fingerprint, owner, hold (ms). */
const char tg_idem_claim_lua[] =
    "local v = redis.call('HMGET', KEYS[1], 'fp', 'state', 'status', 'stream', 'headers', "
    "'body')\n"
    "if not v[1] then\n"
    "  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'owner', ARGV[2], 'state', 'inflight')\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "  return {'claimed'}\n"
    "end\n"
    "if v[1] ~= ARGV[1] then return {'mismatch'} end\n"
    "if v[2] == 'done' then return {'done', v[3], v[4], v[5], v[6]} end\n"
    "return {'inflight'}\n";

/* KEYS: the key's hash. ARGV: owner, keep ('1' or '0'), ttl (ms), status,
 * stream, headers, body. */
const char tg_idem_finish_lua[] =
    "if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end\n"
    "if ARGV[2] == '1' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[4], 'stream', ARGV[5], "
    "'headers', ARGV[6], 'body', ARGV[7])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 1\n";

static void key_of(struct tg_buf *b, const char *prefix, const uint8_t key[TG_KEYMAP_KEY_LEN])
{
    char h[2 * TG_KEYMAP_KEY_LEN + 1];
    tg_hex_encode(key, TG_KEYMAP_KEY_LEN, h);
    tg_buf_printf(b, "%si:%s", prefix, h);
}

static bool element_is(const redisReply *e, const char *s)
{
    return e && e->type == REDIS_REPLY_STRING && strlen(s) == e->len &&
           memcmp(e->str, s, e->len) == 0;
}

static void on_claim_reply(void *ctx, const redisReply *reply)
{
    struct tg_idem_claim *c = ctx;
    c->call = NULL;
    enum tg_idem_verdict v = TG_IDEM_UNSHARED;
    struct tg_idem_answer a = {0};
    if (!tg_redis_reply_failed(reply) && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1) {
        const redisReply *const *e = (const redisReply *const *)reply->element;
        if (element_is(e[0], "claimed")) {
            v = TG_IDEM_CLAIMED;
        } else if (element_is(e[0], "mismatch")) {
            v = TG_IDEM_MISMATCH;
        } else if (element_is(e[0], "inflight")) {
            v = TG_IDEM_ELSEWHERE;
        } else if (element_is(e[0], "done") && reply->elements == 5 && tg_redis_is_string(e[1]) &&
                   tg_redis_is_string(e[2]) && tg_redis_is_string(e[3]) &&
                   tg_redis_is_string(e[4])) {
            a.status = atoi(e[1]->str);
            a.stream = element_is(e[2], "1");
            a.headers = e[3]->str;
            a.headers_len = e[3]->len;
            a.body = e[4]->str;
            a.body_len = e[4]->len;
            if (a.status >= 200 && a.status <= 599)
                v = TG_IDEM_STORED;
        }
    }
    c->cb(c->ctx, v, v == TG_IDEM_STORED ? &a : NULL);
}

bool tg_idem_claim_start(struct tg_idem_claim *c, struct tg_redis *r, const char *prefix,
                         const uint8_t key[TG_KEYMAP_KEY_LEN],
                         const uint8_t fingerprint[TG_KEYMAP_KEY_LEN], const char *owner,
                         uint64_t hold_ms, tg_idem_claim_cb cb, void *ctx)
{
    struct tg_buf k = TG_BUF_INIT;
    key_of(&k, prefix, key);
    char fp[2 * TG_KEYMAP_KEY_LEN + 1], hold[24];
    tg_hex_encode(fingerprint, TG_KEYMAP_KEY_LEN, fp);
    snprintf(hold, sizeof(hold), "%llu", (unsigned long long)(hold_ms ? hold_ms : 1));
    const char *keys[] = {k.data};
    const char *args[] = {fp, owner, hold};
    c->cb = cb;
    c->ctx = ctx;
    c->call = tg_redis_eval(r, TG_SCRIPT_IDEM_CLAIM, 1, keys, 3, args, NULL, on_claim_reply, c);
    tg_buf_free(&k);
    return c->call != NULL;
}

void tg_idem_claim_cancel(struct tg_idem_claim *c)
{
    tg_redis_cancel(c->call);
    c->call = NULL;
}

void tg_idem_release(struct tg_redis *r, const char *prefix, const uint8_t key[TG_KEYMAP_KEY_LEN],
                     const char *owner, uint64_t ttl_ms, const struct tg_idem_answer *answer)
{
    struct tg_buf k = TG_BUF_INIT;
    key_of(&k, prefix, key);
    char ttl[24], status[16];
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(ttl_ms ? ttl_ms : 1));
    snprintf(status, sizeof(status), "%d", answer ? answer->status : 0);
    const char *keys[] = {k.data};
    const char *args[] = {owner,
                          answer ? "1" : "0",
                          ttl,
                          status,
                          answer && answer->stream ? "1" : "0",
                          answer ? answer->headers : "",
                          answer ? answer->body : ""};
    size_t lens[] = {strlen(owner),
                     1,
                     strlen(ttl),
                     strlen(status),
                     1,
                     answer ? answer->headers_len : 0,
                     answer ? answer->body_len : 0};
    tg_redis_eval(r, TG_SCRIPT_IDEM_FINISH, 1, keys, 7, args, lens, NULL, NULL);
    tg_buf_free(&k);
}

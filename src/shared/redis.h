/* The gateway's one connection to the Redis of [shared] (SPEC section 8):
 * hiredis's asynchronous context on the gateway's own libuv loop, so no call
 * ever blocks it. Commands are pipelined (every command of a loop pass goes
 * out in one write) and answered in order.
 *
 * The link is UP only after its handshake (AUTH when a password is set,
 * SELECT of the URL's db, SCRIPT LOAD of the caller's scripts) has been
 * answered. Anything else is down, and then a command is refused at once
 * (tg_redis_command returns NULL), so the caller decides on its local state
 * without waiting. A call not answered within timeout_ms takes the whole
 * link down: Redis that slow is treated as gone, every pending call fails,
 * and the link reconnects after a backoff (full jitter, 100 ms doubling to
 * 5 s). The host name is resolved with uv_getaddrinfo, never by hiredis
 * (its getaddrinfo would block the loop).
 *
 * Every call is answered exactly once through its callback, with the reply
 * or with NULL (down, timed out, closed), unless the caller cancelled it
 * first. The reply belongs to hiredis and is valid only during the
 * callback. */
#ifndef TG_SHARED_REDIS_H
#define TG_SHARED_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

enum tg_redis_state {
    TG_REDIS_RESOLVING,  /* looking up the host */
    TG_REDIS_CONNECTING, /* TCP connect under way */
    TG_REDIS_HANDSHAKE,  /* AUTH, SELECT and SCRIPT LOAD sent, not all answered */
    TG_REDIS_UP,
    TG_REDIS_WAITING, /* down: the next connection after a backoff */
    TG_REDIS_CLOSED,  /* tg_redis_close was called */
};

/* A Lua script the link loads on every connection; its SHA-1 names it in
 * EVALSHA. The text must outlive the link. */
struct tg_redis_script {
    const char *text;
    char sha1[41];
};

struct tg_redis_params {
    const char *host;
    int port, db;
    const char *password; /* NULL: no AUTH */
    uint64_t timeout_ms;
};

/* What the link tells its owner: each failure (one line of log per change
 * of state is the owner's to write, and its error counter). `reason` is a
 * short word for a metric label: "connect", "timeout", "closed", "reply". */
struct tg_redis_events {
    void (*on_state)(void *ctx, bool up, const char *why);
    void (*on_error)(void *ctx, const char *reason);
    void *ctx;
};

typedef void (*tg_redis_done)(void *ctx, const redisReply *reply);

/* The largest value the gateway shares (a kept answer, a cache entry): on
 * the one pipelined connection every call queued behind it waits while it
 * crosses, and one over timeout_ms would take the link down. */
#define TG_SHARED_VALUE_MAX (1024u * 1024)

struct tg_redis;
struct tg_redis_call;

/* Starts connecting at once. The params' strings are copied; the scripts
 * are not (n_scripts of them, their sha1 filled here). */
struct tg_redis *tg_redis_new(struct tg_loop *loop, const struct tg_redis_params *params,
                              struct tg_redis_script *scripts, size_t n_scripts,
                              const struct tg_redis_events *events);
/* Fails every pending call (NULL replies), closes the connection, and frees
 * the link once libuv has let go of its handles. */
void tg_redis_close(struct tg_redis *r);

enum tg_redis_state tg_redis_state(const struct tg_redis *r);
static inline bool tg_redis_up(const struct tg_redis *r)
{
    return tg_redis_state(r) == TG_REDIS_UP;
}

/* Sends argv; NULL when the link is down (nothing sent, no callback). */
struct tg_redis_call *tg_redis_command(struct tg_redis *r, int argc, const char **argv,
                                       const size_t *lens, tg_redis_done cb, void *ctx);
/* EVALSHA of scripts[script] with keys[0..nkeys) then args[0..nargs);
 * arg_lens (may be NULL: C strings) gives the args' lengths, for bytes. */
struct tg_redis_call *tg_redis_eval(struct tg_redis *r, size_t script, size_t nkeys,
                                    const char *const *keys, size_t nargs, const char *const *args,
                                    const size_t *arg_lens, tg_redis_done cb, void *ctx);
/* The call's callback will not run (the caller is going away). */
void tg_redis_cancel(struct tg_redis_call *call);

/* Whether reply is an error, a NOSCRIPT included (the link reloads its
 * scripts when it sees one). */
bool tg_redis_reply_failed(const redisReply *reply);

static inline bool tg_redis_is_string(const redisReply *e)
{
    return e && e->type == REDIS_REPLY_STRING;
}

#endif

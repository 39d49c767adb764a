/* The Redis link (see redis.h). */
#include "shared/redis.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "util/list.h"

#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS 5000u
/* A connection and its handshake get at least this long, however short
 * timeout_ms is: a new TCP connection to another host takes a round trip or
 * two more than a command does. */
#define CONNECT_MIN_MS 1000u

struct tg_redis_call {
    struct tg_list link; /* in the link's pending calls, oldest first */
    struct tg_redis *r;
    uint64_t deadline_ms;
    tg_redis_done cb; /* NULL once cancelled */
    void *ctx;
};

struct tg_redis {
    struct tg_loop *loop;
    enum tg_redis_state state;
    char *host;
    int port, db;
    char *password;
    uint64_t timeout_ms;
    struct tg_redis_script *scripts;
    size_t n_scripts;
    struct tg_redis_events events;

    redisAsyncContext *ac;     /* NULL unless connecting, in handshake or up */
    uv_getaddrinfo_t resolver; /* in use while RESOLVING */
    bool resolving;
    struct tg_timer timer;  /* the connect deadline, the oldest call's, or the backoff */
    struct tg_list pending; /* struct tg_redis_call, in the order sent */
    struct tg_buf command;  /* the command being queued, in RESP */
    size_t handshake_left;  /* replies the handshake still waits for */
    uint64_t backoff_ms;
    bool was_up;        /* the last state reported to the owner */
    bool reported_once; /* any state reported yet */
};

static void connect_now(struct tg_redis *r);
static void arm_timer(struct tg_redis *r);

static void report(struct tg_redis *r, bool up, const char *why)
{
    if (r->reported_once && r->was_up == up)
        return;
    r->reported_once = true;
    r->was_up = up;
    if (r->events.on_state)
        r->events.on_state(r->events.ctx, up, why);
}

static void count_error(struct tg_redis *r, const char *reason)
{
    if (r->events.on_error)
        r->events.on_error(r->events.ctx, reason);
}

/* ---- calls ---- */

static struct tg_redis_call *call_new(struct tg_redis *r, tg_redis_done cb, void *ctx)
{
    struct tg_redis_call *c = tg_xcalloc(1, sizeof(*c));
    c->r = r;
    c->cb = cb;
    c->ctx = ctx;
    c->deadline_ms = tg_now(r->loop) + r->timeout_ms;
    tg_list_push_back(&r->pending, &c->link);
    return c;
}

/* Takes c off the pending list and answers it (reply NULL: failed). */
static void call_finish(struct tg_redis_call *c, const redisReply *reply)
{
    struct tg_redis *r = c->r;
    tg_list_remove(&c->link);
    tg_redis_done cb = c->cb;
    void *ctx = c->ctx;
    free(c);
    if (r->state == TG_REDIS_UP)
        arm_timer(r);
    if (cb)
        cb(ctx, reply);
}

/* ---- going down ---- */

/* Drops the connection (its pending calls are answered NULL by hiredis as it
 * frees the context) and waits a backoff before the next one. */
static void go_down(struct tg_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    bool closing = r->state == TG_REDIS_CLOSED;
    if (!closing)
        r->state = TG_REDIS_WAITING; /* before the callbacks: no command is sent from them */
    r->ac = NULL;
    if (ac) {
        /* hiredis answers every pending call NULL as it frees the context:
         * now, or, inside one of its callbacks, once that returns. Only
         * hiredis finishes them, so none is answered twice. */
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (closing)
        return;
    report(r, false, why);
    uint64_t cap = r->backoff_ms ? r->backoff_ms : BACKOFF_FIRST_MS;
    r->backoff_ms = cap * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cap * 2;
    tg_timer_start(r->loop, &r->timer, 1 + tg_rand_below(&r->loop->rand, cap));
}

/* One timer, three meanings, by state: the backoff is over; the connection
 * or its handshake took too long; the oldest call took too long. */
static void on_timer(struct tg_timer *t)
{
    struct tg_redis *r = tg_container_of(t, struct tg_redis, timer);
    switch (r->state) {
    case TG_REDIS_WAITING: connect_now(r); break;
    case TG_REDIS_RESOLVING:
    case TG_REDIS_CONNECTING:
    case TG_REDIS_HANDSHAKE:
        count_error(r, "connect");
        go_down(r, "no connection within the connect deadline");
        break;
    case TG_REDIS_UP: {
        if (tg_list_empty(&r->pending))
            break;
        struct tg_redis_call *oldest = tg_container_of(r->pending.next, struct tg_redis_call, link);
        if (oldest->deadline_ms > tg_now(r->loop)) {
            arm_timer(r);
            break;
        }
        count_error(r, "timeout");
        char why[96];
        snprintf(why, sizeof(why), "a call was not answered within timeout_ms (%llu ms)",
                 (unsigned long long)r->timeout_ms);
        go_down(r, why);
        break;
    }
    case TG_REDIS_CLOSED: break;
    }
}

/* While up: the timer follows the oldest pending call. */
static void arm_timer(struct tg_redis *r)
{
    if (tg_list_empty(&r->pending)) {
        tg_timer_stop(r->loop, &r->timer);
        return;
    }
    struct tg_redis_call *oldest = tg_container_of(r->pending.next, struct tg_redis_call, link);
    if (!tg_timer_pending(&r->timer) || r->timer.expire_ms != oldest->deadline_ms)
        tg_timer_start_at(r->loop, &r->timer, oldest->deadline_ms);
}

static void on_reply(redisAsyncContext *ac, void *reply_v, void *privdata);

/* "<prefix><n>\r\n", n in decimal. */
static void put_count(struct tg_buf *b, char prefix, size_t n)
{
    tg_buf_putc(b, prefix);
    tg_buf_put_u64(b, n);
    tg_buf_append(b, "\r\n", 2);
}

static void put_arg(struct tg_buf *b, const char *p, size_t n)
{
    put_count(b, '$', n);
    tg_buf_append(b, p, n);
    tg_buf_append(b, "\r\n", 2);
}

/* Queues the command in r->command as a new call; NULL when hiredis refuses.
 * Commands are written in RESP here, in one buffer the link reuses:
 * hiredis's own formatting costs a printf-like pass per argument. */
static struct tg_redis_call *send_formatted(struct tg_redis *r, tg_redis_done cb, void *ctx)
{
    struct tg_redis_call *c = call_new(r, cb, ctx);
    if (redisAsyncFormattedCommand(r->ac, on_reply, c, r->command.data, r->command.len) !=
        REDIS_OK) {
        tg_list_remove(&c->link);
        free(c);
        return NULL;
    }
    return c;
}

static struct tg_redis_call *send_call(struct tg_redis *r, int argc, const char **argv,
                                       const size_t *lens, tg_redis_done cb, void *ctx)
{
    struct tg_buf *b = &r->command;
    tg_buf_reset(b);
    put_count(b, '*', (size_t)argc);
    for (int i = 0; i < argc; i++)
        put_arg(b, argv[i], lens ? lens[i] : strlen(argv[i]));
    return send_formatted(r, cb, ctx);
}

/* ---- hiredis callbacks ---- */

static void on_reply(redisAsyncContext *ac, void *reply_v, void *privdata)
{
    (void)ac;
    struct tg_redis_call *c = privdata;
    const redisReply *reply = reply_v;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        count_error(c->r, "reply");
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0 && c->r->state == TG_REDIS_UP) {
            /* Redis lost its scripts (SCRIPT FLUSH, a failover): load
             * them again; this call fails, later ones find them. */
            for (size_t i = 0; i < c->r->n_scripts; i++) {
                const char *argv[] = {"SCRIPT", "LOAD", c->r->scripts[i].text};
                tg_redis_command(c->r, 3, argv, NULL, NULL, NULL);
            }
        }
    }
    call_finish(c, reply);
}

static void on_handshake_reply(void *ctx, const redisReply *reply)
{
    struct tg_redis *r = ctx;
    if (r->state != TG_REDIS_HANDSHAKE)
        return; /* the link went down meanwhile */
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "the handshake was refused: %.150s",
                 reply ? reply->str : "no answer");
        count_error(r, "connect");
        go_down(r, why);
        return;
    }
    if (--r->handshake_left > 0)
        return;
    r->state = TG_REDIS_UP;
    r->backoff_ms = 0;
    arm_timer(r);
    report(r, true, "connected");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct tg_redis *r = ac->data;
    if (!r)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        char why[160];
        snprintf(why, sizeof(why), "cannot connect: %.120s", ac->errstr);
        r->ac = NULL;
        count_error(r, "connect");
        go_down(r, why);
        return;
    }
    r->state = TG_REDIS_HANDSHAKE;
    /* Sent together; answered in order; only the last reply makes it UP. */
    r->handshake_left = 1 + r->n_scripts + (r->password != NULL) + (r->db != 0);
    char db[16];
    snprintf(db, sizeof(db), "%d", r->db);
    const char *auth[] = {"AUTH", r->password}, *sel[] = {"SELECT", db}, *ping[] = {"PING"};
    bool sent = (!r->password || send_call(r, 2, auth, NULL, on_handshake_reply, r)) &&
                (r->db == 0 || send_call(r, 2, sel, NULL, on_handshake_reply, r));
    for (size_t i = 0; sent && i < r->n_scripts; i++) {
        const char *load[] = {"SCRIPT", "LOAD", r->scripts[i].text};
        sent = send_call(r, 3, load, NULL, on_handshake_reply, r) != NULL;
    }
    if (!sent || !send_call(r, 1, ping, NULL, on_handshake_reply, r)) {
        count_error(r, "connect");
        go_down(r, "cannot send the handshake");
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct tg_redis *r = ac->data;
    if (!r)
        return; /* our own go_down: it has done the rest */
    /* hiredis frees the context after this callback, and has answered the
     * pending calls already. */
    r->ac = NULL;
    char why[160];
    snprintf(why, sizeof(why), "the connection closed%s%.120s", status == REDIS_OK ? "" : ": ",
             status == REDIS_OK ? "" : ac->errstr);
    count_error(r, "closed");
    go_down(r, why);
}

/* ---- connecting ---- */

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tg_redis *r = req->data;
    r->resolving = false;
    if (r->state == TG_REDIS_CLOSED) {
        uv_freeaddrinfo(res);
        free(r->host);
        free(r->password);
        free(r);
        return;
    }
    if (r->state != TG_REDIS_RESOLVING) {
        uv_freeaddrinfo(res);
        return; /* the connect deadline passed meanwhile */
    }
    char ip[64] = "";
    if (status == 0 && res) {
        if (res->ai_family == AF_INET6)
            uv_ip6_name((const struct sockaddr_in6 *)res->ai_addr, ip, sizeof(ip));
        else
            uv_ip4_name((const struct sockaddr_in *)res->ai_addr, ip, sizeof(ip));
    }
    uv_freeaddrinfo(res);
    if (!ip[0]) {
        char why[160];
        snprintf(why, sizeof(why), "cannot resolve %.100s: %s", r->host,
                 status ? uv_strerror(status) : "no address");
        count_error(r, "connect");
        go_down(r, why);
        return;
    }
    /* A numeric address: hiredis's own lookup returns at once. */
    redisAsyncContext *ac = redisAsyncConnect(ip, r->port);
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "cannot connect: %.120s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        count_error(r, "connect");
        go_down(r, why);
        return;
    }
    ac->data = r;
    if (redisLibuvAttach(ac, r->loop->uv) != REDIS_OK) {
        redisAsyncFree(ac);
        count_error(r, "connect");
        go_down(r, "cannot watch the connection's socket");
        return;
    }
    r->ac = ac;
    r->state = TG_REDIS_CONNECTING;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void connect_now(struct tg_redis *r)
{
    r->state = TG_REDIS_RESOLVING;
    uint64_t deadline = r->timeout_ms > CONNECT_MIN_MS ? r->timeout_ms : CONNECT_MIN_MS;
    tg_timer_start(r->loop, &r->timer, deadline);
    if (r->resolving)
        return; /* an earlier lookup is still out: its answer serves */
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    char port[8];
    snprintf(port, sizeof(port), "%d", r->port);
    r->resolver.data = r;
    int rc = uv_getaddrinfo(r->loop->uv, &r->resolver, on_resolved, r->host, port, &hints);
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof(why), "cannot resolve %.100s: %s", r->host, uv_strerror(rc));
        count_error(r, "connect");
        go_down(r, why);
        return;
    }
    r->resolving = true;
}

/* ---- the interface ---- */

static void script_sha1(struct tg_redis_script *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s->text, strlen(s->text), md, &n, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < n && i < 20; i++)
        snprintf(s->sha1 + 2 * i, 3, "%02x", md[i]);
}

struct tg_redis *tg_redis_new(struct tg_loop *loop, const struct tg_redis_params *params,
                              struct tg_redis_script *scripts, size_t n_scripts,
                              const struct tg_redis_events *events)
{
    struct tg_redis *r = tg_xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->host = tg_xstrdup(params->host);
    r->port = params->port;
    r->db = params->db;
    r->password = params->password ? tg_xstrdup(params->password) : NULL;
    r->timeout_ms = params->timeout_ms;
    r->scripts = scripts;
    r->n_scripts = n_scripts;
    if (events)
        r->events = *events;
    for (size_t i = 0; i < n_scripts; i++)
        script_sha1(&scripts[i]);
    tg_list_init(&r->pending);
    tg_timer_init(&r->timer, on_timer);
    connect_now(r);
    return r;
}

void tg_redis_close(struct tg_redis *r)
{
    if (!r)
        return;
    /* What is queued (a stop's last settlements, kept answers) gets one
     * non-blocking write before the context goes; hiredis would drop it. */
    if (r->state == TG_REDIS_UP && r->ac)
        redisAsyncHandleWrite(r->ac);
    tg_timer_stop(r->loop, &r->timer);
    r->state = TG_REDIS_CLOSED;
    go_down(r, "closed");
    if (r->password)
        explicit_bzero(r->password, strlen(r->password));
    tg_buf_free(&r->command);
    if (r->resolving)
        return; /* on_resolved frees it: libuv still holds the request */
    free(r->host);
    free(r->password);
    free(r);
}

enum tg_redis_state tg_redis_state(const struct tg_redis *r)
{
    return r->state;
}

struct tg_redis_call *tg_redis_command(struct tg_redis *r, int argc, const char **argv,
                                       const size_t *lens, tg_redis_done cb, void *ctx)
{
    if (r->state != TG_REDIS_UP)
        return NULL;
    struct tg_redis_call *c = send_call(r, argc, argv, lens, cb, ctx);
    if (c)
        arm_timer(r);
    return c;
}

struct tg_redis_call *tg_redis_eval(struct tg_redis *r, size_t script, size_t nkeys,
                                    const char *const *keys, size_t nargs, const char *const *args,
                                    const size_t *arg_lens, tg_redis_done cb, void *ctx)
{
    if (r->state != TG_REDIS_UP || script >= r->n_scripts)
        return NULL;
    struct tg_buf *b = &r->command;
    char n[20];
    size_t n_len = tg_u64_decimal(nkeys, n);
    tg_buf_reset(b);
    put_count(b, '*', 3 + nkeys + nargs);
    put_arg(b, "EVALSHA", 7);
    put_arg(b, r->scripts[script].sha1, strlen(r->scripts[script].sha1));
    put_arg(b, n, n_len);
    for (size_t i = 0; i < nkeys; i++)
        put_arg(b, keys[i], strlen(keys[i]));
    for (size_t i = 0; i < nargs; i++)
        put_arg(b, args[i], arg_lens ? arg_lens[i] : strlen(args[i]));
    struct tg_redis_call *c = send_formatted(r, cb, ctx);
    if (c)
        arm_timer(r);
    return c;
}

void tg_redis_cancel(struct tg_redis_call *call)
{
    if (call)
        call->cb = NULL;
}

bool tg_redis_reply_failed(const redisReply *reply)
{
    return !reply || reply->type == REDIS_REPLY_ERROR;
}

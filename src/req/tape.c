/* A recorded answer and its readers (see tape.h). */
#include "req/tape.h"

#include <stdlib.h>

#include "core/alloc.h"

#define PUMP_BYTES (64 * 1024) /* written per step, so a congested client is seen in time */

enum reader_state {
    RD_WAITING = 0, /* the tape has not begun */
    RD_SENDING,     /* the client has the head (a stream) and some of the body */
    RD_ENDED,       /* the client has it all or was cut off; the end callback is due */
};

struct tg_tape_reader {
    struct tg_list link; /* tape->readers while attached */
    struct tg_tape *tape;
    struct tg_http_exchange *x;
    enum reader_state state;
    enum tg_tape_end how;
    int status; /* sent to the client */
    size_t sent; /* offset in the answer's body */
    tg_tape_own_headers_cb own_headers;
    tg_tape_reader_end_cb on_end;
    void *ctx;
    struct tg_loop *loop;
    struct tg_deferred ended; /* the end callback runs on a later pass */
};

static void reader_detach(struct tg_tape_reader *rd)
{
    if (!rd->tape)
        return;
    tg_list_remove(&rd->link);
    tg_tape_unref(rd->tape);
    rd->tape = NULL;
}

static void on_reader_ended(struct tg_deferred *d)
{
    struct tg_tape_reader *rd = tg_container_of(d, struct tg_tape_reader, ended);
    rd->on_end(rd->ctx, rd->how);
}

/* Its answer is over for this reader: detach now, tell the owner later. */
static void reader_end(struct tg_tape_reader *rd, enum tg_tape_end how)
{
    rd->state = RD_ENDED;
    rd->how = how;
    rd->x = NULL;
    reader_detach(rd);
    tg_defer(rd->loop, &rd->ended);
}

static void head(struct tg_tape_reader *rd, struct tg_buf *h)
{
    rd->status = rd->tape->status;
    if (rd->own_headers)
        rd->own_headers(rd->ctx, h);
    tg_buf_append(h, rd->tape->headers.data, rd->tape->headers.len);
}

/* Sends what the client can take now. */
static void pump(struct tg_tape_reader *rd)
{
    struct tg_tape *t = rd->tape;
    if (!t || t->state == TG_TAPE_WAITING)
        return;
    if (!t->stream) {
        if (t->state != TG_TAPE_DONE)
            return;
        struct tg_buf h = TG_BUF_INIT;
        head(rd, &h);
        tg_http_respond(rd->x, t->status, h.data, h.len, t->body.data, t->body.len);
        tg_buf_free(&h);
        reader_end(rd, TG_TAPE_END_SENT);
        return;
    }
    if (rd->state == RD_WAITING) {
        struct tg_buf h = TG_BUF_INIT;
        head(rd, &h);
        tg_http_stream_begin(rd->x, t->status, h.data, h.len);
        tg_buf_free(&h);
        rd->state = RD_SENDING;
    }
    size_t end = t->base + t->body.len;
    while (rd->sent < end && !tg_http_congested(rd->x)) {
        size_t off = rd->sent - t->base, n = end - rd->sent;
        if (n > PUMP_BYTES)
            n = PUMP_BYTES;
        tg_http_stream_write(rd->x, t->body.data + off, n);
        rd->sent += n;
    }
    if (rd->sent == end && t->state == TG_TAPE_DONE) {
        tg_http_stream_end(rd->x);
        reader_end(rd, TG_TAPE_END_SENT);
    }
}

/* Pumps every reader; a reader's end detaches it, so the next is saved first. */
static void pump_all(struct tg_tape *t)
{
    struct tg_list *n, *next;
    tg_tape_ref(t);
    tg_list_foreach_safe(n, next, &t->readers)
        pump(tg_container_of(n, struct tg_tape_reader, link));
    tg_tape_unref(t);
}

/* Past TG_TAPE_JOIN_BYTES: drop what every reader has sent, and cut off the
 * readers too far behind to be waited for. */
static void trim(struct tg_tape *t)
{
    if (t->joinable && t->body.len <= TG_TAPE_JOIN_BYTES)
        return;
    t->joinable = false;
    size_t end = t->base + t->body.len;
    struct tg_list *n, *next;
    tg_list_foreach_safe(n, next, &t->readers) {
        struct tg_tape_reader *rd = tg_container_of(n, struct tg_tape_reader, link);
        if (end - rd->sent > TG_TAPE_JOIN_BYTES) {
            tg_http_reset(rd->x);
            reader_end(rd, TG_TAPE_END_CUT);
        }
    }
    size_t low = end;
    tg_list_foreach(n, &t->readers) {
        struct tg_tape_reader *rd = tg_container_of(n, struct tg_tape_reader, link);
        if (rd->sent < low)
            low = rd->sent;
    }
    if (low > t->base) {
        tg_buf_consume(&t->body, low - t->base);
        t->base = low;
    }
}

struct tg_tape *tg_tape_new(struct tg_loop *loop, const struct tg_tape_writer_ops *writer,
                            void *writer_ctx)
{
    struct tg_tape *t = tg_xcalloc(1, sizeof(*t));
    t->refs = 1;
    t->joinable = true;
    t->loop = loop;
    t->writer = writer;
    t->writer_ctx = writer_ctx;
    tg_list_init(&t->readers);
    return t;
}

void tg_tape_ref(struct tg_tape *t)
{
    t->refs++;
}

void tg_tape_unref(struct tg_tape *t)
{
    if (--t->refs > 0)
        return;
    tg_buf_free(&t->headers);
    tg_buf_free(&t->body);
    free(t);
}

void tg_tape_drop_writer(struct tg_tape *t)
{
    t->writer = NULL;
    t->writer_ctx = NULL;
}

void tg_tape_begin(struct tg_tape *t, int status, bool stream, const char *headers,
                   size_t headers_len)
{
    if (t->state != TG_TAPE_WAITING)
        return;
    t->state = TG_TAPE_RECORDING;
    t->status = status;
    t->stream = stream;
    tg_buf_append(&t->headers, headers, headers_len);
    if (stream)
        pump_all(t);
}

void tg_tape_write(struct tg_tape *t, const char *data, size_t len)
{
    if (t->state != TG_TAPE_RECORDING || len == 0)
        return;
    tg_buf_append(&t->body, data, len);
    if (t->stream) {
        pump_all(t);
        trim(t);
    }
}

void tg_tape_end(struct tg_tape *t)
{
    if (t->state != TG_TAPE_RECORDING)
        return;
    t->state = TG_TAPE_DONE;
    pump_all(t);
}

bool tg_tape_congested(const struct tg_tape *t)
{
    struct tg_list *n;
    if (tg_list_empty(&t->readers))
        return false;
    tg_list_foreach(n, &t->readers) {
        const struct tg_tape_reader *rd = tg_container_of(n, struct tg_tape_reader, link);
        if (!tg_http_congested(rd->x))
            return false;
    }
    return true;
}

bool tg_tape_has_readers(const struct tg_tape *t)
{
    return !tg_list_empty(&t->readers);
}

size_t tg_tape_bytes(const struct tg_tape *t)
{
    return sizeof(*t) + t->headers.cap + t->body.cap;
}

struct tg_tape_reader *tg_tape_reader_new(struct tg_tape *t, struct tg_http_exchange *x,
                                          tg_tape_own_headers_cb own_headers,
                                          tg_tape_reader_end_cb on_end, void *ctx)
{
    struct tg_tape_reader *rd = tg_xcalloc(1, sizeof(*rd));
    rd->tape = t;
    rd->x = x;
    rd->own_headers = own_headers;
    rd->on_end = on_end;
    rd->ctx = ctx;
    rd->loop = t->loop;
    rd->sent = t->base;
    tg_deferred_init(&rd->ended, on_reader_ended);
    tg_tape_ref(t);
    tg_list_push_back(&t->readers, &rd->link);
    pump(rd);
    return rd;
}

void tg_tape_reader_writable(struct tg_tape_reader *rd)
{
    struct tg_tape *t = rd->tape;
    if (!t)
        return;
    tg_tape_ref(t);
    pump(rd);
    if (t->writer && t->state == TG_TAPE_RECORDING)
        t->writer->on_writable(t->writer_ctx);
    tg_tape_unref(t);
}

bool tg_tape_reader_begun(const struct tg_tape_reader *rd)
{
    return rd->state != RD_WAITING;
}

int tg_tape_reader_status(const struct tg_tape_reader *rd)
{
    return rd->status;
}

struct tg_http_exchange *tg_tape_reader_exchange(const struct tg_tape_reader *rd)
{
    return rd->x;
}

void tg_tape_reader_free(struct tg_tape_reader *rd)
{
    if (!rd)
        return;
    struct tg_tape *t = rd->tape;
    tg_defer_cancel(&rd->ended);
    if (t) {
        tg_tape_ref(t);
        reader_detach(rd);
        if (t->writer && t->state != TG_TAPE_DONE && tg_list_empty(&t->readers))
            t->writer->on_unread(t->writer_ctx);
        tg_tape_unref(t);
    }
    free(rd);
}

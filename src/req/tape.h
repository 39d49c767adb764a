/* An answer recorded once and read by several clients, each at its own pace
 * (SPEC section 8): the waiters and later replays of an Idempotency-Key, and
 * the requests coalesced onto one upstream call. One writer (the request
 * that makes the upstream call) records status, headers and body bytes;
 * each reader sends them to its client's exchange as fast as that client
 * takes them: a reader that joins late gets every byte so far, then the
 * rest live.
 *
 * Backpressure: the writer is told the tape is congested only when every
 * reader is, so the fastest client sets the pace and a slow one never stalls
 * the others. Memory: the tape keeps the whole answer while it is at most
 * TG_TAPE_JOIN_BYTES (so late readers and replays can have it all); past
 * that nobody new may join, the prefix every reader has sent is dropped, and
 * a reader more than TG_TAPE_JOIN_BYTES behind the writer is cut off (its
 * connection reset), so one stalled client never grows memory without bound.
 *
 * Lifetime: refcounted. The writer holds a reference, each reader one, and
 * whoever keeps a finished tape for replay one more. */
#ifndef TG_REQ_TAPE_H
#define TG_REQ_TAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/loop.h"
#include "server/http.h"
#include "util/list.h"

#define TG_TAPE_JOIN_BYTES (1024u * 1024)

enum tg_tape_state {
    TG_TAPE_WAITING = 0, /* nothing recorded yet */
    TG_TAPE_RECORDING,   /* status and headers known, body coming */
    TG_TAPE_DONE,        /* the whole answer is recorded */
};

/* How a reader ended: its client has the whole answer, or was cut off. */
enum tg_tape_end { TG_TAPE_END_SENT = 0, TG_TAPE_END_CUT };

struct tg_tape_reader;

/* What a tape tells its writer. */
struct tg_tape_writer_ops {
    void (*on_writable)(void *ctx); /* a reader can take more: a paused upstream may resume */
    void (*on_unread)(void *ctx);   /* the last reader left while recording */
};

struct tg_tape {
    int refs;
    enum tg_tape_state state;
    bool stream;            /* begin/write/end with chunked framing; else one whole body */
    bool joinable;          /* the whole answer is still here */
    int status;
    struct tg_buf headers;  /* the answer's "Name: value\r\n" lines (not a reader's own) */
    struct tg_buf body;     /* bytes from offset `base` of the answer */
    size_t base;            /* bytes dropped from the front (once not joinable) */
    struct tg_list readers; /* struct tg_tape_reader.link */
    const struct tg_tape_writer_ops *writer;
    void *writer_ctx;
    struct tg_loop *loop;
};

/* Called once when the reader's client has the whole answer or was cut
 * off. The reader is detached from the tape then; the callback (or its
 * owner later) frees it with tg_tape_reader_free. */
typedef void (*tg_tape_reader_end_cb)(void *ctx, enum tg_tape_end how);
/* Appends the reader's own header lines (its x-request-id, its rate-limit
 * state) when its answer begins. */
typedef void (*tg_tape_own_headers_cb)(void *ctx, struct tg_buf *headers);

struct tg_tape *tg_tape_new(struct tg_loop *loop, const struct tg_tape_writer_ops *writer,
                            void *writer_ctx);
void tg_tape_ref(struct tg_tape *t);
void tg_tape_unref(struct tg_tape *t);
/* The writer leaves (its request is done): no more callbacks to it. */
void tg_tape_drop_writer(struct tg_tape *t);

/* Recording. A whole answer is begin(stream = false), write, end. */
void tg_tape_begin(struct tg_tape *t, int status, bool stream, const char *headers,
                   size_t headers_len);
void tg_tape_write(struct tg_tape *t, const char *data, size_t len);
void tg_tape_end(struct tg_tape *t);
/* Every reader's client is congested (false with no reader). */
bool tg_tape_congested(const struct tg_tape *t);
bool tg_tape_has_readers(const struct tg_tape *t);
/* Memory the tape holds (its replay cost). */
size_t tg_tape_bytes(const struct tg_tape *t);

/* A reader sending the tape to exchange x. It takes a reference. The answer
 * starts at once when the tape has begun, else when it begins. */
struct tg_tape_reader *tg_tape_reader_new(struct tg_tape *t, struct tg_http_exchange *x,
                                          tg_tape_own_headers_cb own_headers,
                                          tg_tape_reader_end_cb on_end, void *ctx);
/* The client can take more (server on_writable). */
void tg_tape_reader_writable(struct tg_tape_reader *rd);
/* Whether the reader's client has seen the answer's first bytes. */
bool tg_tape_reader_begun(const struct tg_tape_reader *rd);
/* Detaches (if still attached) and frees. The exchange is not touched:
 * the caller says what becomes of it (the client left, or it was answered
 * otherwise). */
void tg_tape_reader_free(struct tg_tape_reader *rd);
/* The status the reader's client was sent, 0 before its answer began. */
int tg_tape_reader_status(const struct tg_tape_reader *rd);
/* The reader's exchange, NULL once its answer ended. */
struct tg_http_exchange *tg_tape_reader_exchange(const struct tg_tape_reader *rd);

#endif

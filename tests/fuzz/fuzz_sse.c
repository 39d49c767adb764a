/* SSE parser (util/sse.c), differentially: the same bytes fed whole, one
 * byte at a time, and in pieces of sizes the input picks must give the same
 * events (name, data, has_data), the same outcome of the size limit, and raw
 * bytes that add up to the input. Input: one byte picking the event size
 * limit, one picking the piece sizes, then the stream. */
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "fuzz.h"
#include "util/sse.h"

struct run {
    struct tg_buf events; /* every event, serialised */
    struct tg_buf raw;    /* every event's raw bytes */
    size_t n;
    bool overflow;
    bool pending;
    size_t pending_bytes;
};

static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct run *r = ctx;
    FUZZ_CHECK(ev->data[ev->data_len] == '\0', "data not NUL-terminated");
    FUZZ_CHECK(ev->has_data || ev->data_len == 0, "data without has_data");
    tg_buf_printf(&r->events, "%zu|%d|%s|", r->n, ev->has_data, ev->event);
    tg_buf_append(&r->events, ev->data, ev->data_len);
    tg_buf_putc(&r->events, '\n');
    tg_buf_append(&r->raw, ev->raw, ev->raw_len);
    r->n++;
    return true;
}

/* Feeds text in pieces: sizes[k % n_sizes] bytes each (each an exact heap
 * copy, so a read past a piece's end shows). */
static void feed(struct run *r, size_t max, const char *text, size_t len, const size_t *sizes,
                 size_t n_sizes)
{
    struct tg_sse_parser p;
    tg_sse_init(&p, max);
    size_t off = 0;
    for (size_t k = 0; off < len; k++) {
        size_t n = sizes[k % n_sizes];
        if (n > len - off)
            n = len - off;
        char *piece = malloc(n);
        memcpy(piece, text + off, n);
        size_t used = tg_sse_feed(&p, piece, n, on_event, r);
        free(piece);
        if (used == (size_t)-1) {
            r->overflow = true;
            break;
        }
        FUZZ_CHECK(used == n, "consumed %zu of %zu", used, n);
        off += n;
    }
    r->pending = tg_sse_pending(&p);
    r->pending_bytes = p.raw.len;
    tg_sse_free(&p);
}

static void compare(const struct run *a, const struct run *b, const char *how)
{
    FUZZ_CHECK(a->overflow == b->overflow, "%s: overflow %d vs %d whole", how, b->overflow,
               a->overflow);
    FUZZ_CHECK(a->n == b->n, "%s: %zu events vs %zu whole", how, b->n, a->n);
    FUZZ_CHECK(a->events.len == b->events.len &&
                   (a->events.len == 0 ||
                    memcmp(a->events.data, b->events.data, a->events.len) == 0),
               "%s: different events", how);
    if (!a->overflow)
        FUZZ_CHECK(a->pending == b->pending, "%s: pending %d vs %d whole", how, b->pending,
                   a->pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = 8 + (size_t)data[0] * 4;
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    struct run whole = {TG_BUF_INIT, TG_BUF_INIT, 0, false, false, 0};
    const size_t all[] = {len ? len : 1};
    feed(&whole, max, text, len, all, 1);
    if (!whole.overflow) {
        /* What the events cover plus what is held is the input. */
        FUZZ_CHECK(whole.raw.len + whole.pending_bytes == len, "raw %zu + held %zu != %zu",
                   whole.raw.len, whole.pending_bytes, len);
        FUZZ_CHECK(whole.raw.len == 0 || memcmp(whole.raw.data, text, whole.raw.len) == 0,
                   "raw bytes differ from the input");
    }

    const size_t one[] = {1};
    const size_t picked[] = {1 + (data[1] & 7), 1 + (data[1] >> 3)};
    const size_t *splits[] = {one, picked};
    const size_t n_splits[] = {1, 2};
    const char *how[] = {"byte by byte", "picked pieces"};
    for (size_t s = 0; s < 2; s++) {
        struct run r = {TG_BUF_INIT, TG_BUF_INIT, 0, false, false, 0};
        feed(&r, max, text, len, splits[s], n_splits[s]);
        compare(&whole, &r, how[s]);
        tg_buf_free(&r.events);
        tg_buf_free(&r.raw);
    }
    tg_buf_free(&whole.events);
    tg_buf_free(&whole.raw);
    return 0;
}

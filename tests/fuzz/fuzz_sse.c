/* SSE parser (util/sse.c), differentially: the same bytes fed whole, one
 * byte at a time, and in pieces of sizes the input picks must give the same
 * events (name, data, has_data), the same outcome of the size limit; and
 * the events' raw bytes and what is held are the input's bytes in order,
 * less only line endings between events (a blank line with no event before
 * it dispatches nothing and is not forwarded). Input: one byte picking the event size
 * limit, one picking the piece sizes, then the stream. */
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "fuzz.h"
#include "util/sse.h"

struct run {
    struct tg_buf events; /* every event, serialised */
    size_t n;
    bool overflow;
    bool pending;
    struct tg_buf held; /* raw bytes held at the end */
    const char *text;   /* the input, when raw bytes are checked against it */
    size_t len, pos;    /* ... and how far the events have covered it */
};

static bool is_eol(char c)
{
    return c == '\r' || c == '\n';
}

/* The next raw bytes (less leading line endings) are the input's at pos
 * (less line endings there). */
static void match_input(struct run *r, const char *raw, size_t n, const char *what)
{
    while (n > 0 && is_eol(*raw)) {
        raw++;
        n--;
    }
    while (r->pos < r->len && is_eol(r->text[r->pos]))
        r->pos++;
    FUZZ_CHECK(n <= r->len - r->pos && (n == 0 || memcmp(raw, r->text + r->pos, n) == 0),
               "%s: raw bytes are not the input's at %zu", what, r->pos);
    r->pos += n;
}

static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct run *r = ctx;
    FUZZ_CHECK(ev->data[ev->data_len] == '\0', "data not NUL-terminated");
    FUZZ_CHECK(ev->has_data || ev->data_len == 0, "data without has_data");
    tg_buf_printf(&r->events, "%zu|%d|%s|", r->n, ev->has_data, ev->event);
    tg_buf_append(&r->events, ev->data, ev->data_len);
    tg_buf_putc(&r->events, '\n');
    if (r->text)
        match_input(r, ev->raw, ev->raw_len, "event");
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
    tg_buf_append(&r->held, p.raw.data, p.raw.len);
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

    struct run whole = {TG_BUF_INIT, 0, false, false, TG_BUF_INIT, text, len, 0};
    const size_t all[] = {len ? len : 1};
    feed(&whole, max, text, len, all, 1);
    if (!whole.overflow) {
        /* What the events cover plus what is held is the whole input. */
        match_input(&whole, whole.held.data, whole.held.len, "held");
        FUZZ_CHECK(whole.pos == whole.len, "%zu bytes neither in an event nor held",
                   whole.len - whole.pos);
    }

    const size_t one[] = {1};
    const size_t picked[] = {1 + (data[1] & 7), 1 + (data[1] >> 3)};
    const size_t *splits[] = {one, picked};
    const size_t n_splits[] = {1, 2};
    const char *how[] = {"byte by byte", "picked pieces"};
    for (size_t s = 0; s < 2; s++) {
        struct run r = {TG_BUF_INIT, 0, false, false, TG_BUF_INIT, NULL, 0, 0};
        feed(&r, max, text, len, splits[s], n_splits[s]);
        compare(&whole, &r, how[s]);
        tg_buf_free(&r.events);
        tg_buf_free(&r.held);
    }
    tg_buf_free(&whole.events);
    tg_buf_free(&whole.held);
    return 0;
}

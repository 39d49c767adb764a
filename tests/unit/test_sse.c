/* Unit tests of the incremental SSE parser (util/sse.c): one stream with
 * every kind of line ending and field, fed in every possible split into
 * three pieces, must give the same events, and the events' raw bytes must
 * add up to the input; stopping from the callback; oversize events. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sse.h"

struct got_event {
    char event[64];
    char data[256];
    size_t data_len;
    bool has_data;
};

struct collector {
    struct got_event ev[64];
    size_t n;
    char raw[4096]; /* every event's raw bytes, concatenated */
    size_t raw_len;
    size_t stop_at; /* return false on this event (1-based); 0: never */
    bool lenient;   /* an unterminated event name reads as "" (see test_first_event_strings) */
};

static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct collector *c = ctx;
    assert_true(c->n < 64);
    struct got_event *g = &c->ev[c->n++];
    assert_non_null(ev->event);
    assert_non_null(ev->data);
    /* Both are C strings. strnlen within bounds every buffer has (a tg_buf
     * holds at least 64 bytes), so a missing NUL fails here rather than
     * reading past the block; the sanitizer build fills fresh blocks with
     * non-zero bytes, which makes a missing NUL show. */
    size_t elen = strnlen(ev->event, sizeof(g->event));
    if (elen == sizeof(g->event) && !c->lenient)
        fail_msg("event %zu: the event name is not NUL-terminated (an uninitialised buffer?)",
                 c->n);
    if (elen == sizeof(g->event))
        g->event[0] = '\0';
    else
        memcpy(g->event, ev->event, elen + 1);
    assert_true(ev->data_len < sizeof(g->data));
    if (strnlen(ev->data, ev->data_len + 1) != ev->data_len)
        fail_msg("event %zu: data is not NUL-terminated at data_len %zu", c->n, ev->data_len);
    memcpy(g->data, ev->data, ev->data_len + 1);
    g->data_len = ev->data_len;
    g->has_data = ev->has_data;
    assert_true(c->raw_len + ev->raw_len <= sizeof(c->raw));
    memcpy(c->raw + c->raw_len, ev->raw, ev->raw_len);
    c->raw_len += ev->raw_len;
    return c->stop_at != c->n;
}

/* Parsers live on the heap and are tracked, so that one left behind by a
 * failed assertion (which longjmps out of the test) is freed by the group
 * teardown and the leak checker stays quiet about it. */
static struct tg_sse_parser *g_parsers[8];

static struct tg_sse_parser *parser_new(size_t max_event_bytes)
{
    for (size_t i = 0; i < 8; i++) {
        if (!g_parsers[i]) {
            g_parsers[i] = malloc(sizeof(*g_parsers[i]));
            assert_non_null(g_parsers[i]);
            tg_sse_init(g_parsers[i], max_event_bytes);
            return g_parsers[i];
        }
    }
    fail_msg("too many parsers");
    return NULL;
}

static void parser_del(struct tg_sse_parser *p)
{
    for (size_t i = 0; i < 8; i++) {
        if (g_parsers[i] == p) {
            tg_sse_free(p);
            free(p);
            g_parsers[i] = NULL;
        }
    }
}

static int free_parsers(void **state)
{
    (void)state;
    for (size_t i = 0; i < 8; i++)
        if (g_parsers[i])
            parser_del(g_parsers[i]);
    return 0;
}

struct want {
    const char *event;
    const char *data;
    bool has_data;
};

/* LF, CRLF and CR endings, multi-line data, comments inside events, event:
 * fields, fields without a colon, ignored fields, a value with no space
 * after the colon and one with two, and a trailing partial event. */
static const char stream[] = ": a comment opening the event\n"
                             "event: message_start\n"
                             "data: {\"a\":1}\n"
                             "\n"
                             "data: line one\r\n"
                             "data:line two\r\n"
                             "data:  three\r\n"
                             ": a comment\r\n"
                             "\r\n"
                             "event: ping\r"
                             "\r"
                             "data\n"
                             "data: x\n"
                             "id: 7\n"
                             "retry: 100\n"
                             "foo\n"
                             "\n"
                             "event: a\r\n"
                             "event: b\r"
                             "data: mixed\n"
                             "\r\n"
                             "data: [DONE]\r\n"
                             "\r\n"
                             "data: partial";

static const struct want stream_events[] = {
    {"message_start", "{\"a\":1}", true},
    {"", "line one\nline two\n three", true},
    {"ping", "", false},
    {"", "\nx", true},
    {"b", "mixed", true},
    {"", "[DONE]", true},
};
#define N_STREAM_EVENTS (sizeof(stream_events) / sizeof(stream_events[0]))

static void expect_events(const struct collector *c, const struct want *w, size_t n,
                          const char *where)
{
    if (c->n != n)
        fail_msg("%s: %zu events, expected %zu", where, c->n, n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c->ev[i].event, w[i].event) != 0)
            fail_msg("%s: event %zu named \"%s\", expected \"%s\"", where, i, c->ev[i].event,
                     w[i].event);
        if (strcmp(c->ev[i].data, w[i].data) != 0)
            fail_msg("%s: event %zu data \"%s\", expected \"%s\"", where, i, c->ev[i].data,
                     w[i].data);
        if (c->ev[i].has_data != w[i].has_data)
            fail_msg("%s: event %zu has_data %d", where, i, c->ev[i].has_data);
    }
}

static void feed_all(struct tg_sse_parser *p, const char *data, size_t len, struct collector *c)
{
    size_t used = tg_sse_feed(p, data, len, on_event, c);
    assert_int_equal(used, len);
}

/* The whole stream in one piece: the events, and the raw bytes of the events
 * plus what is buffered of the unfinished one give back the input. */
static void test_stream_whole(void **state)
{
    (void)state;
    struct tg_sse_parser *p;
    struct collector c;
    memset(&c, 0, sizeof(c));
    c.lenient = true;
    p = parser_new(1 << 16);
    size_t len = strlen(stream);
    feed_all(p, stream, len, &c);
    expect_events(&c, stream_events, N_STREAM_EVENTS, "whole");
    assert_true(tg_sse_pending(p)); /* "data: partial" */
    assert_int_equal(c.raw_len + p->raw.len, len);
    assert_memory_equal(c.raw, stream, c.raw_len);
    assert_memory_equal(p->raw.data, stream + c.raw_len, p->raw.len);
    /* The first event's raw bytes are exactly its text, blank line included. */
    const char *first_end = strstr(stream, "\n\n") + 2;
    assert_memory_equal(c.raw, stream, (size_t)(first_end - stream));
    parser_del(p);
}

/* Every split of the stream into three pieces (every pair of cut points),
 * and one byte at a time: the same events, the same raw bytes. */
static void test_stream_every_split(void **state)
{
    (void)state;
    size_t len = strlen(stream);
    /* Exact-size heap copies, so reads past a piece's end are caught. */
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            struct tg_sse_parser *p;
            struct collector c;
            memset(&c, 0, sizeof(c));
            c.lenient = true;
            p = parser_new(1 << 16);
            size_t cuts[4] = {0, i, j, len};
            for (int k = 0; k < 3; k++) {
                size_t n = cuts[k + 1] - cuts[k];
                char *piece = malloc(n ? n : 1);
                memcpy(piece, stream + cuts[k], n);
                size_t used = tg_sse_feed(p, piece, n, on_event, &c);
                free(piece);
                if (used != n)
                    fail_msg("cuts %zu,%zu: piece %d consumed %zu of %zu", i, j, k, used, n);
            }
            char where[64];
            snprintf(where, sizeof(where), "cuts at %zu and %zu", i, j);
            expect_events(&c, stream_events, N_STREAM_EVENTS, where);
            if (c.raw_len + p->raw.len != len || memcmp(c.raw, stream, c.raw_len) != 0 ||
                memcmp(p->raw.data, stream + c.raw_len, p->raw.len) != 0)
                fail_msg("%s: raw bytes do not add up to the input", where);
            assert_true(tg_sse_pending(p));
            parser_del(p);
        }
    }
    /* One byte at a time. */
    struct tg_sse_parser *p;
    struct collector c;
    memset(&c, 0, sizeof(c));
    c.lenient = true;
    p = parser_new(1 << 16);
    for (size_t i = 0; i < len; i++)
        feed_all(p, stream + i, 1, &c);
    expect_events(&c, stream_events, N_STREAM_EVENTS, "byte by byte");
    parser_del(p);
}

/* A stream that ends cleanly leaves nothing pending, whatever its line
 * endings: the gateway takes "pending" at the end of a 200 stream as a
 * stream cut mid-event (a transport failure). */
static void test_complete_stream_not_pending(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t events;
    } rows[] = {
        {"data: a\n\n", 1},
        {"data: a\r\r", 1},
        {"data: a\r\n\r\n", 1},
        {"data: {\"x\":1}\r\n\r\ndata: [DONE]\r\n\r\n", 2},
        {"event: e\r\ndata: a\r\n\r\n", 1},
        {": keep-alive\r\n\r\n", 1}, /* a keep-alive: an event without data */
        {"", 0},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        size_t len = strlen(rows[r].text);
        for (size_t cut = 0; cut <= len; cut++) {
            struct tg_sse_parser *p;
            struct collector c;
            memset(&c, 0, sizeof(c));
            c.lenient = true;
            p = parser_new(1 << 16);
            feed_all(p, rows[r].text, cut, &c);
            feed_all(p, rows[r].text + cut, len - cut, &c);
            assert_int_equal(c.n, rows[r].events);
            if (tg_sse_pending(p))
                fail_msg("row %zu, cut at %zu: %zu bytes pending after a complete stream", r, cut,
                         p->raw.len);
            parser_del(p);
        }
    }
}

/* The first event of a parser: without an event: field its name is "",
 * without data its data is "" (both NUL-terminated C strings, sse.h). */
static void test_first_event_strings(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        struct want w;
    } rows[] = {
        {"data: a\n\n", {"", "a", true}},
        {"event: e\n\n", {"e", "", false}},
        {"data\n\n", {"", "", true}},
        {"event:\ndata: b\n\n", {"", "b", true}},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct tg_sse_parser *p;
        struct collector c;
        memset(&c, 0, sizeof(c));
        p = parser_new(1 << 16);
        feed_all(p, rows[r].text, strlen(rows[r].text), &c);
        expect_events(&c, &rows[r].w, 1, rows[r].text);
        parser_del(p);
    }
}

/* A block of comments only (a keep-alive) dispatches nothing, and does not
 * leak into the next event's data. */
static void test_comment_only_block(void **state)
{
    (void)state;
    struct tg_sse_parser *p;
    struct collector c;
    memset(&c, 0, sizeof(c));
    c.lenient = true;
    p = parser_new(1 << 16);
    const char *text = ": ping\n\n:\n\ndata: after\n\n";
    feed_all(p, text, strlen(text), &c);
    /* Comment-only blocks (keep-alives) come through without data, so a
     * relay can pass them on. */
    static const struct want w[] = {{"", "", false}, {"", "", false}, {"", "after", true}};
    expect_events(&c, w, 3, "comments");
    assert_false(tg_sse_pending(p));
    parser_del(p);
}

/* The callback returning false stops the parse: the count returned covers
 * exactly the bytes up to the end of that event, and feeding the rest
 * afterwards goes on as if nothing happened. Every event of the stream in
 * turn is the one that stops it. */
static void test_callback_stops(void **state)
{
    (void)state;
    size_t len = strlen(stream);
    for (size_t stop = 1; stop <= N_STREAM_EVENTS; stop++) {
        struct tg_sse_parser *p;
        struct collector c;
        memset(&c, 0, sizeof(c));
        c.lenient = true;
        c.stop_at = stop;
        p = parser_new(1 << 16);
        size_t used = tg_sse_feed(p, stream, len, on_event, &c);
        assert_int_equal(c.n, stop);
        assert_true(used < len);
        /* What was consumed is what the events cover. */
        assert_int_equal(used, c.raw_len);
        assert_memory_equal(c.raw, stream, used);
        assert_false(tg_sse_pending(p));
        /* The rest, fed afterwards. */
        c.stop_at = 0;
        feed_all(p, stream + used, len - used, &c);
        expect_events(&c, stream_events, N_STREAM_EVENTS, "resumed");
        assert_int_equal(c.raw_len + p->raw.len, len);
        assert_memory_equal(c.raw, stream, c.raw_len);
        parser_del(p);
    }
}

/* An event over max_event_bytes: (size_t)-1, now and on every later feed,
 * whether it comes in one piece or many. */
static void test_oversize(void **state)
{
    (void)state;
    char big[300];
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', sizeof(big) - 6);
    for (size_t piece = 1; piece <= sizeof(big); piece *= 3) {
        struct tg_sse_parser *p;
        struct collector c;
        memset(&c, 0, sizeof(c));
        c.lenient = true;
        p = parser_new(100);
        const char *small = "data: ok\n\n";
        feed_all(p, small, strlen(small), &c);
        assert_int_equal(c.n, 1);
        size_t off = 0, r = 0;
        while (off < sizeof(big)) {
            size_t n = sizeof(big) - off < piece ? sizeof(big) - off : piece;
            r = tg_sse_feed(p, big + off, n, on_event, &c);
            if (r == (size_t)-1)
                break;
            assert_int_equal(r, n);
            off += n;
        }
        assert_true(r == (size_t)-1);
        assert_true(off <= 100); /* caught at the limit, not at the end of the event */
        assert_true(tg_sse_feed(p, "\n\n", 2, on_event, &c) == (size_t)-1);
        assert_true(tg_sse_feed(p, small, strlen(small), on_event, &c) == (size_t)-1);
        assert_int_equal(c.n, 1);
        parser_del(p);
    }
    /* Many lines of one event add up; many small events do not. */
    struct tg_sse_parser *p;
    struct collector c;
    memset(&c, 0, sizeof(c));
    c.lenient = true;
    p = parser_new(100);
    for (int i = 0; i < 50; i++)
        feed_all(p, "data: 0123456789\n\n", 18, &c);
    assert_int_equal(c.n, 50);
    size_t r = 0;
    for (int i = 0; i < 10 && r != (size_t)-1; i++)
        r = tg_sse_feed(p, "data: 0123456789\n", 17, on_event, &c);
    assert_true(r == (size_t)-1);
    parser_del(p);
}

/* The size limit does not depend on the reads: an event of exactly
 * max_event_bytes after one that ends in CRLF passes at every split of the
 * stream into two reads (a read ending on the CR of the CRLF held its LF
 * over into the next event, which then overflowed a byte early), and one
 * byte more overflows at every split, after the same first event. */
static void test_limit_every_split(void **state)
{
    (void)state;
    static const char first[] = "data: a\r\n\r\n";
    char text[128];
    size_t second = strlen("data: ") + 40;
    snprintf(text, sizeof(text), "%sdata: %040d\r\n\r\n", first, 0);
    size_t len = strlen(text);
    for (size_t over = 0; over <= 1; over++) {
        for (size_t cut = 0; cut <= len; cut++) {
            struct tg_sse_parser *p;
            struct collector c;
            memset(&c, 0, sizeof(c));
            c.lenient = true;
            p = parser_new(second - over);
            char *a = malloc(cut ? cut : 1), *b = malloc(len - cut ? len - cut : 1);
            memcpy(a, text, cut);
            memcpy(b, text + cut, len - cut);
            size_t ra = tg_sse_feed(p, a, cut, on_event, &c);
            size_t rb = ra == (size_t)-1 ? ra : tg_sse_feed(p, b, len - cut, on_event, &c);
            free(a);
            free(b);
            if (over) {
                if (rb != (size_t)-1 || c.n != 1)
                    fail_msg("limit %zu, cut at %zu: %zu events, no overflow", second - over, cut,
                             c.n);
                assert_string_equal(c.ev[0].data, "a");
            } else {
                if (ra == (size_t)-1 || rb == (size_t)-1)
                    fail_msg("limit %zu, cut at %zu: an event of exactly the limit overflowed",
                             second, cut);
                assert_int_equal(c.n, 2);
                assert_string_equal(c.ev[0].data, "a");
                assert_int_equal(c.ev[1].data_len, 40);
                assert_int_equal(c.raw_len + p->raw.len, len);
                assert_false(tg_sse_pending(p));
            }
            parser_del(p);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_first_event_strings, free_parsers),
        cmocka_unit_test_teardown(test_stream_whole, free_parsers),
        cmocka_unit_test_teardown(test_stream_every_split, free_parsers),
        cmocka_unit_test_teardown(test_complete_stream_not_pending, free_parsers),
        cmocka_unit_test_teardown(test_comment_only_block, free_parsers),
        cmocka_unit_test_teardown(test_callback_stops, free_parsers),
        cmocka_unit_test_teardown(test_oversize, free_parsers),
        cmocka_unit_test_teardown(test_limit_every_split, free_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The SSE events a stream translator wrote, parsed back through util/sse.c
 * (shared by the stream tests): each event's name and its data as JSON, or
 * NULL for chat's "data: [DONE]". Comment-only blocks are skipped, as the
 * gateway skips them. Include after cmocka.h. */
#ifndef TG_TESTS_SSE_EVENTS_H
#define TG_TESTS_SSE_EVENTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "util/sse.h"

#define MAX_EVENTS 160

struct events {
    int n;
    char name[MAX_EVENTS][64]; /* "" when the event had no event: line */
    cJSON *data[MAX_EVENTS];   /* NULL: [DONE] */
};

static inline bool collect_event(void *ctx, const struct tg_sse_event *ev)
{
    struct events *e = ctx;
    if (!ev->has_data)
        return true;
    assert_true(e->n < MAX_EVENTS);
    snprintf(e->name[e->n], sizeof(e->name[0]), "%s", ev->event);
    if (strcmp(ev->data, "[DONE]") == 0) {
        e->data[e->n] = NULL;
    } else {
        e->data[e->n] = cJSON_Parse(ev->data);
        if (!e->data[e->n])
            fail_msg("event %d data is not JSON: %s", e->n, ev->data);
    }
    e->n++;
    return true;
}

/* Parses all of out, which must hold whole events only. */
static inline void parse_events(const struct tg_buf *out, struct events *e)
{
    memset(e, 0, sizeof(*e));
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 20);
    assert_int_equal(tg_sse_feed(&p, out->data ? out->data : "", out->len, collect_event, e),
                     out->len);
    assert_false(tg_sse_pending(&p));
    tg_sse_free(&p);
}

static inline void free_events(struct events *e)
{
    for (int i = 0; i < e->n; i++)
        cJSON_Delete(e->data[i]);
    e->n = 0;
}

#endif

/* Incremental parser for server-sent events (text/event-stream): bytes in,
 * whole events out, whatever the split of the bytes across reads. Handles LF,
 * CRLF and CR line endings, multi-line data fields (joined with "\n"),
 * comments, and fields without a value. Each event also comes with its raw
 * bytes, so a relay can forward it exactly as received; a block of comments
 * only (a keep-alive) comes as an event without data. */
#ifndef TG_UTIL_SSE_H
#define TG_UTIL_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct tg_sse_event {
    const char *event; /* "" when the event had no event: field */
    const char *data;  /* NUL-terminated */
    size_t data_len;
    const char *raw; /* the event's bytes, blank line included */
    size_t raw_len;
    bool has_data;
};

/* Returns false to stop parsing (the rest stays unparsed). */
typedef bool (*tg_sse_cb)(void *ctx, const struct tg_sse_event *ev);

struct tg_sse_parser {
    struct tg_buf raw;   /* the event being read, raw */
    size_t line_start;   /* where in raw the line being read starts */
    struct tg_buf data;
    struct tg_buf event;
    bool has_data;
    bool block_has_lines; /* a field or comment line since the last blank line */
    bool cr_pending; /* a read ended on CR: a following LF belongs to it */
    bool lead_lf;    /* raw starts with that LF */
    size_t max_event_bytes;
    bool overflow;
};

void tg_sse_init(struct tg_sse_parser *p, size_t max_event_bytes);
void tg_sse_free(struct tg_sse_parser *p);
/* Feeds bytes; calls cb for each complete event. Returns the number of bytes
 * consumed (less than len only when cb returned false), or (size_t)-1 when
 * an event grew past max_event_bytes. */
size_t tg_sse_feed(struct tg_sse_parser *p, const char *data, size_t len, tg_sse_cb cb,
                   void *ctx);
/* True when bytes of an unfinished event are buffered. */
bool tg_sse_pending(const struct tg_sse_parser *p);

#endif

/* Server-sent events parser (see sse.h), after the WHATWG event-stream
 * interpretation rules: a blank line dispatches, "data" lines accumulate,
 * lines starting with ':' are comments, unknown fields are ignored. */
#include "util/sse.h"

#include <string.h>

void tg_sse_init(struct tg_sse_parser *p, size_t max_event_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max_event_bytes = max_event_bytes;
}

void tg_sse_free(struct tg_sse_parser *p)
{
    tg_buf_free(&p->raw);
    tg_buf_free(&p->data);
    tg_buf_free(&p->event);
}

/* The bytes of the event being read: raw, less an LF that ended the event
 * before (its CR ended a read), so that neither "pending" nor the size limit
 * depends on where the reads split the stream. */
static size_t event_bytes(const struct tg_sse_parser *p)
{
    return p->raw.len - (p->lead_lf ? 1u : 0u);
}

bool tg_sse_pending(const struct tg_sse_parser *p)
{
    return event_bytes(p) > 0;
}

static void field(struct tg_sse_parser *p, const char *l, size_t n)
{
    if (n == 0 || l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon ? (size_t)(colon - l) : n;
    const char *value = colon ? colon + 1 : l + n;
    size_t value_len = colon ? n - name_len - 1 : 0;
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && memcmp(l, "data", 4) == 0) {
        if (p->has_data)
            tg_buf_putc(&p->data, '\n');
        tg_buf_append(&p->data, value, value_len);
        p->has_data = true;
    } else if (name_len == 5 && memcmp(l, "event", 5) == 0) {
        tg_buf_reset(&p->event);
        tg_buf_append(&p->event, value, value_len);
    }
}

/* A line ended at raw offset line_end (its terminator is already in raw).
 * Returns false when the callback asked to stop. */
static bool end_line(struct tg_sse_parser *p, size_t line_end, tg_sse_cb cb, void *ctx)
{
    if (line_end > p->line_start) {
        field(p, p->raw.data + p->line_start, line_end - p->line_start);
        p->line_start = p->raw.len;
        p->block_has_lines = true;
        return true;
    }
    /* Blank line: dispatch whatever the block held. A comment-only block
     * (a keep-alive) is dispatched too, without data, so relays can pass it on. */
    bool go_on = true;
    if (p->block_has_lines) {
        tg_buf_reserve(&p->data, 0);
        tg_buf_reserve(&p->event, 0);
        struct tg_sse_event ev = {p->event.data, p->data.data, p->data.len, p->raw.data,
                                  p->raw.len, p->has_data};
        go_on = cb(ctx, &ev);
    }
    tg_buf_reset(&p->raw);
    tg_buf_reset(&p->data);
    tg_buf_reset(&p->event);
    p->line_start = 0;
    p->has_data = false;
    p->block_has_lines = false;
    p->lead_lf = false;
    return go_on;
}

size_t tg_sse_feed(struct tg_sse_parser *p, const char *data, size_t len, tg_sse_cb cb,
                   void *ctx)
{
    if (p->overflow)
        return (size_t)-1;
    size_t i = 0;
    while (i < len) {
        if (p->cr_pending) {
            p->cr_pending = false;
            if (data[i] == '\n') {
                /* The LF of a CRLF whose CR ended the last read: it belongs
                 * to the line before, not to the event being read. */
                if (p->raw.len == 0)
                    p->lead_lf = true;
                tg_buf_putc(&p->raw, '\n');
                p->line_start = p->raw.len;
                i++;
                continue;
            }
        }
        /* The rest of the line in this read, in one append. */
        /* The line's end: an LF, or a CR before it (vector scans: a stream's
         * lines are its events' JSON, a few hundred bytes each). */
        const char *lf = memchr(data + i, '\n', len - i);
        size_t lf_at = lf ? (size_t)(lf - data) : len;
        const char *cr = memchr(data + i, '\r', lf_at - i);
        size_t j = cr ? (size_t)(cr - data) : lf_at;
        if (j > i) {
            tg_buf_append(&p->raw, data + i, j - i);
            if (event_bytes(p) > p->max_event_bytes) {
                p->overflow = true;
                return (size_t)-1;
            }
            i = j;
            if (i == len)
                break;
        }
        size_t line_end = p->raw.len;
        tg_buf_putc(&p->raw, data[i]);
        if (data[i] == '\r') {
            if (i + 1 < len) {
                if (data[i + 1] == '\n')
                    tg_buf_putc(&p->raw, data[++i]); /* CRLF, whole in this read */
            } else {
                p->cr_pending = true; /* is an LF next? the next read will tell */
            }
        }
        i++;
        if (!end_line(p, line_end, cb, ctx))
            return i;
    }
    return len;
}

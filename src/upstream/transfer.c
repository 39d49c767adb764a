/* Upstream transfers over curl or the in-process mock (see transfer.h). */
#include "upstream/transfer.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/headers.h"

static void header_line(struct tg_transfer *t, const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (t->headers.cap == 0)
        tg_buf_reserve(&t->headers, 512); /* a provider's head, in one allocation */
    tg_buf_append(&t->headers, p, n);
    tg_buf_puts(&t->headers, "\r\n");
}

const char *tg_transfer_header(const struct tg_transfer *t, const char *name, size_t *len)
{
    return tg_headers_find(t->headers.data, t->headers.len, name, len);
}

static void transfer_init(struct tg_transfer *t, enum tg_transfer_kind kind, struct tg_loop *loop,
                          const struct tg_transfer_spec *spec,
                          const struct tg_transfer_events *ev)
{
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->ev = ev;
    t->loop = loop;
    t->max_bytes = spec->max_response_bytes;
}

/* ---- curl ---- */

static size_t on_curl_header(char *p, size_t size, size_t n, void *userp)
{
    struct tg_transfer *t = userp;
    size_t len = size * n;
    if (t->state != TG_TRANSFER_RUNNING)
        return len;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        tg_buf_reset(&t->headers); /* a new response (after a 1xx) */
        return len;
    }
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(t->u.curl.pt.easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 100 && code < 200) {
            tg_buf_reset(&t->headers);
            return len;
        }
        t->status = (int)code;
        t->head_done = true;
        t->ev->on_head(t);
        return len;
    }
    header_line(t, p, len);
    return len;
}

static size_t on_curl_write(char *p, size_t size, size_t n, void *userp)
{
    struct tg_transfer *t = userp;
    size_t len = size * n;
    if (t->state != TG_TRANSFER_RUNNING)
        return 0;
    if (t->bytes + len > t->max_bytes) {
        /* libcurl 7.88's own size limit does not stop a transfer under way */
        t->end = TG_TRANSFER_TOO_LARGE;
        return 0;
    }
    switch (t->ev->on_data(t, p, len)) {
    case TG_DATA_PAUSE:
        t->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    case TG_DATA_ABORT:
        t->end = TG_TRANSFER_ABORTED;
        return 0;
    case TG_DATA_TAKEN:
        break;
    }
    t->bytes += len;
    return len;
}

static void on_curl_done(struct tg_pool_transfer *pt, CURLcode result)
{
    struct tg_transfer *t = tg_container_of(pt, struct tg_transfer, u.curl.pt);
    if (t->state != TG_TRANSFER_RUNNING)
        return;
    t->state = TG_TRANSFER_DONE;
    if (t->end == TG_TRANSFER_TOO_LARGE || t->end == TG_TRANSFER_ABORTED) {
        /* set by the write callback */
    } else if (result == CURLE_OK && t->head_done) {
        t->end = TG_TRANSFER_COMPLETE;
    } else if (result == CURLE_OPERATION_TIMEDOUT) {
        t->end = TG_TRANSFER_TIMEOUT;
    } else {
        t->end = TG_TRANSFER_TRANSPORT;
        if (!t->error[0])
            snprintf(t->error, sizeof(t->error), "%s", curl_easy_strerror(result));
    }
    if (t->end == TG_TRANSFER_TOO_LARGE)
        snprintf(t->error, sizeof(t->error), "response larger than max_response_bytes (%zu)",
                 t->max_bytes);
    t->ev->on_done(t);
}

int tg_transfer_start_curl(struct tg_transfer *t, struct tg_loop *loop, struct tg_pool *pool,
                           const struct tg_transfer_spec *spec,
                           const struct tg_transfer_events *ev)
{
    transfer_init(t, TG_TRANSFER_CURL, loop, spec, ev);
    t->u.curl.pool = pool;
    CURL *e = tg_pool_easy(pool);
    if (!e) {
        snprintf(t->error, sizeof(t->error), "cannot create a curl handle");
        return -1;
    }
    t->u.curl.pt.easy = e;
    t->u.curl.pt.on_done = on_curl_done;
    /* With the parsed URL libcurl copies it instead of parsing the text
     * again; the text (the same URL) is still set, or libcurl would
     * re-assemble it from the parts for every transfer. */
    curl_easy_setopt(e, CURLOPT_URL, spec->url);
    curl_easy_setopt(e, CURLOPT_CURLU, spec->parsed_url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, spec->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, spec->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_curl_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)spec->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)spec->total_timeout_ms);
    if (spec->upload_buffer_bytes)
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, spec->upload_buffer_bytes);
    t->state = TG_TRANSFER_RUNNING;
    if (tg_pool_add(pool, &t->u.curl.pt) < 0) {
        t->state = TG_TRANSFER_IDLE;
        snprintf(t->error, sizeof(t->error), "cannot add the transfer to the pool");
        return -1;
    }
    return 0;
}

/* ---- in-process mock ---- */

static void mock_report_done(struct tg_deferred *d)
{
    struct tg_transfer *t = tg_container_of(d, struct tg_transfer, deferred_done);
    if (t->state != TG_TRANSFER_RUNNING)
        return;
    t->state = TG_TRANSFER_DONE;
    t->ev->on_done(t);
}

static void mock_finish(struct tg_transfer *t, enum tg_transfer_end end, const char *error)
{
    t->end = end;
    if (error)
        snprintf(t->error, sizeof(t->error), "%s", error);
    tg_defer(t->loop, &t->deferred_done);
}

static void mock_head(void *ctx, int status, const char *headers, size_t headers_len, bool stream,
                      size_t body_len)
{
    struct tg_transfer *t = ctx;
    if (t->state != TG_TRANSFER_RUNNING)
        return;
    t->status = status;
    tg_buf_append(&t->headers, headers, headers_len);
    t->head_done = true;
    t->ev->on_head(t);
}

static void mock_data(void *ctx, const char *p, size_t n)
{
    struct tg_transfer *t = ctx;
    if (t->state != TG_TRANSFER_RUNNING || tg_deferred_queued(&t->deferred_done))
        return; /* stopping */
    if (t->bytes + n > t->max_bytes) {
        tg_mock_play_pause(&t->u.mock.play);
        mock_finish(t, TG_TRANSFER_TOO_LARGE, "response larger than max_response_bytes");
        return;
    }
    switch (t->ev->on_data(t, p, n)) {
    case TG_DATA_TAKEN:
        t->bytes += n;
        break;
    case TG_DATA_PAUSE:
        /* The player cannot deliver again, so the refused bytes wait here. */
        t->paused = true;
        tg_buf_append(&t->u.mock.held, p, n);
        tg_mock_play_pause(&t->u.mock.play);
        break;
    case TG_DATA_ABORT:
        tg_mock_play_pause(&t->u.mock.play);
        mock_finish(t, TG_TRANSFER_ABORTED, NULL);
        break;
    }
}

static void mock_end(void *ctx)
{
    struct tg_transfer *t = ctx;
    if (t->state == TG_TRANSFER_RUNNING && !tg_deferred_queued(&t->deferred_done))
        mock_finish(t, TG_TRANSFER_COMPLETE, NULL);
}

static void mock_reset(void *ctx)
{
    struct tg_transfer *t = ctx;
    if (t->state == TG_TRANSFER_RUNNING && !tg_deferred_queued(&t->deferred_done))
        mock_finish(t, TG_TRANSFER_TRANSPORT, "connection reset by peer (mock)");
}

static const struct tg_mock_sink transfer_sink = {mock_head, mock_data, mock_end, mock_reset};

int tg_transfer_start_mock(struct tg_transfer *t, struct tg_loop *loop, struct tg_mock *mock,
                           const struct tg_transfer_spec *spec,
                           const struct tg_transfer_events *ev)
{
    transfer_init(t, TG_TRANSFER_MOCK, loop, spec, ev);
    tg_deferred_init(&t->deferred_done, mock_report_done);
    t->state = TG_TRANSFER_RUNNING;
    tg_mock_play_start(&t->u.mock.play, loop, mock, (enum tg_mock_api)spec->mock_api, spec->body,
                       spec->body_len, &transfer_sink, t);
    return 0;
}

/* ---- both ---- */

void tg_transfer_cancel(struct tg_transfer *t)
{
    if (t->state != TG_TRANSFER_RUNNING)
        return;
    t->state = TG_TRANSFER_CANCELLED;
    if (t->kind == TG_TRANSFER_CURL) {
        tg_pool_cancel(t->u.curl.pool, &t->u.curl.pt);
    } else {
        tg_defer_cancel(&t->deferred_done);
        tg_mock_play_cancel(&t->u.mock.play);
    }
}

void tg_transfer_resume(struct tg_transfer *t)
{
    if (t->state != TG_TRANSFER_RUNNING || !t->paused)
        return;
    t->paused = false;
    if (t->kind == TG_TRANSFER_CURL) {
        tg_pool_unpause(t->u.curl.pool, &t->u.curl.pt);
        return;
    }
    if (t->u.mock.held.len > 0) {
        struct tg_buf held = t->u.mock.held;
        t->u.mock.held = (struct tg_buf)TG_BUF_INIT;
        enum tg_data_verdict v = t->ev->on_data(t, held.data, held.len);
        if (v == TG_DATA_PAUSE) {
            t->paused = true;
            t->u.mock.held = held;
            return;
        }
        size_t n = held.len;
        tg_buf_free(&held);
        if (v == TG_DATA_ABORT) {
            mock_finish(t, TG_TRANSFER_ABORTED, NULL);
            return;
        }
        t->bytes += n;
    }
    tg_mock_play_resume(&t->u.mock.play);
}

void tg_transfer_cleanup(struct tg_transfer *t)
{
    if (t->state == TG_TRANSFER_RUNNING)
        tg_transfer_cancel(t);
    if (t->kind == TG_TRANSFER_CURL) {
        if (t->u.curl.pt.easy)
            tg_pool_release_easy(t->u.curl.pool, t->u.curl.pt.easy);
        t->u.curl.pt.easy = NULL;
    } else {
        tg_defer_cancel(&t->deferred_done);
        tg_mock_play_cancel(&t->u.mock.play);
        tg_buf_free(&t->u.mock.held);
    }
    tg_buf_free(&t->headers);
}

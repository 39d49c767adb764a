/* Asynchronous access log writer (see access_log.h). */
#include "server/access_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "util/json.h"

#define MAX_PENDING (8u * 1024 * 1024)
#define OPEN_FLAGS (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC)

/* Reopening: the new file is being opened, then (READY) waits for the write
 * in flight to the old one to end. */
enum reopen_state { REOPEN_NONE = 0, REOPEN_OPENING, REOPEN_READY };

struct tg_access_log {
    struct tg_loop *loop;
    char *target;
    uv_file fd;
    bool own_fd;
    struct tg_buf pending; /* lines waiting for the next write */
    struct tg_buf writing; /* the write in flight */
    uv_fs_t req;
    bool busy;
    bool closing;
    uint64_t dropped;
    enum reopen_state reopen;
    bool reopen_again;  /* asked again while reopening: the file may have moved again */
    size_t old_bytes;   /* while reopening: the head of pending that belongs to the old file */
    uv_file next_fd;    /* REOPEN_READY: the new file */
    uv_fs_t open_req;
};

static void settle(struct tg_access_log *log);

static void on_fd_closed(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

/* close(2) can wait on a slow disk too: on the thread pool. */
static void close_fd(struct tg_access_log *log, uv_file fd)
{
    uv_fs_t *req = tg_xmalloc(sizeof(*req));
    if (uv_fs_close(log->loop->uv, req, fd, on_fd_closed) < 0) {
        free(req);
        close(fd);
    }
}

static void finish_close(struct tg_access_log *log)
{
    if (log->own_fd)
        close_fd(log, log->fd);
    tg_buf_free(&log->pending);
    tg_buf_free(&log->writing);
    free(log->target);
    free(log);
}

static void on_written(uv_fs_t *req)
{
    struct tg_access_log *log = req->data;
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    log->busy = false;
    if (result <= 0) {
        tg_log_error("access_log_write_failed", "target=%s error=%s", log->target,
                     result < 0 ? uv_strerror((int)result) : "nothing written");
        tg_buf_reset(&log->writing);
    } else {
        /* A short write: the rest goes to the same file, before anything else. */
        tg_buf_consume(&log->writing, (size_t)result);
    }
    settle(log);
}

static void write_out(struct tg_access_log *log)
{
    uv_buf_t b = uv_buf_init(log->writing.data, (unsigned)log->writing.len);
    log->req.data = log;
    if (uv_fs_write(log->loop->uv, &log->req, log->fd, &b, 1, -1, on_written) < 0) {
        tg_buf_reset(&log->writing);
        return;
    }
    log->busy = true;
}

/* Moves what may go to the current file from pending to writing. */
static void take_pending(struct tg_access_log *log)
{
    size_t n = log->reopen == REOPEN_NONE ? log->pending.len : log->old_bytes;
    if (n == 0)
        return;
    if (n == log->pending.len && log->writing.len == 0) {
        struct tg_buf t = log->writing;
        log->writing = log->pending;
        log->pending = t;
    } else {
        tg_buf_append(&log->writing, log->pending.data, n);
        tg_buf_consume(&log->pending, n);
    }
    log->old_bytes = 0;
}

static void on_reopened(uv_fs_t *req)
{
    struct tg_access_log *log = req->data;
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    if (result < 0) {
        tg_log_error("access_log_reopen_failed", "target=%s error=%s action=keep_old_file",
                     log->target, uv_strerror((int)result));
        log->reopen = REOPEN_NONE;
    } else {
        log->next_fd = (uv_file)result;
        log->reopen = REOPEN_READY;
    }
    settle(log);
}

static void start_reopen(struct tg_access_log *log)
{
    log->open_req.data = log;
    if (uv_fs_open(log->loop->uv, &log->open_req, log->target, OPEN_FLAGS, 0644,
                   on_reopened) < 0)
        return;
    log->reopen = REOPEN_OPENING;
    log->old_bytes = log->pending.len;
}

/* After every event (a line, a write done, an open done, close): switch to a
 * reopened file between writes, start the next write, or finish closing. */
static void settle(struct tg_access_log *log)
{
    if (log->busy)
        return;
    if (log->writing.len > 0) {
        write_out(log);
        if (log->busy)
            return;
    }
    take_pending(log); /* the old file's last lines, before it is let go */
    if (log->writing.len > 0) {
        write_out(log);
        if (log->busy)
            return;
    }
    if (log->reopen == REOPEN_READY) {
        close_fd(log, log->fd);
        log->fd = log->next_fd;
        log->next_fd = -1;
        log->reopen = REOPEN_NONE;
        tg_log_info("access_log_reopened", "target=%s", log->target);
    }
    if (log->reopen == REOPEN_NONE && log->reopen_again && !log->closing) {
        log->reopen_again = false;
        start_reopen(log);
    }
    take_pending(log);
    if (log->writing.len > 0) {
        write_out(log);
        if (log->busy)
            return;
    }
    if (log->closing && log->reopen == REOPEN_NONE)
        finish_close(log);
}

struct tg_access_log *tg_access_log_open(struct tg_loop *loop, const char *target, char *err,
                                         size_t errlen, bool *disabled)
{
    *disabled = target[0] == '\0';
    if (*disabled)
        return NULL;
    struct tg_access_log *log = tg_xcalloc(1, sizeof(*log));
    log->loop = loop;
    log->target = tg_xstrdup(target);
    log->next_fd = -1;
    if (strcmp(target, "-") == 0) {
        log->fd = STDOUT_FILENO;
    } else {
        int fd = open(target, OPEN_FLAGS, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "cannot open access log %s: %m", target);
            free(log->target);
            free(log);
            return NULL;
        }
        log->fd = fd;
        log->own_fd = true;
    }
    return log;
}

void tg_access_log_reopen(struct tg_access_log *log)
{
    if (!log || !log->own_fd || log->closing)
        return;
    if (log->reopen != REOPEN_NONE) {
        log->reopen_again = true;
        return;
    }
    start_reopen(log);
}

void tg_access_log_write(struct tg_access_log *log, const char *line, size_t len)
{
    if (!log || log->closing)
        return;
    if (log->pending.len + len + 1 > MAX_PENDING) {
        log->dropped++;
        return;
    }
    tg_buf_append(&log->pending, line, len);
    tg_buf_putc(&log->pending, '\n');
    settle(log);
}

static void json_str_or_null(struct tg_buf *b, const char *s, size_t n)
{
    if (s)
        tg_buf_json_str(b, s, n);
    else
        tg_buf_puts(b, "null");
}

static void json_cstr_or_null(struct tg_buf *b, const char *s)
{
    json_str_or_null(b, s, s ? strlen(s) : 0);
}

void tg_access_log_entry(struct tg_access_log *log, const struct tg_access_entry *e)
{
    if (!log)
        return;
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_puts(&b, "{\"ts\":\"");
    tg_buf_utc_now(&b);
    tg_buf_puts(&b, "\",\"request_id\":");
    json_cstr_or_null(&b, e->request_id);
    tg_buf_puts(&b, ",\"method\":");
    json_cstr_or_null(&b, e->method);
    tg_buf_puts(&b, ",\"path\":");
    json_str_or_null(&b, e->path, e->path_len);
    tg_buf_puts(&b, ",\"client\":");
    json_cstr_or_null(&b, e->client);
    tg_buf_puts(&b, ",\"key\":");
    json_cstr_or_null(&b, e->key);
    tg_buf_puts(&b, ",\"route\":");
    json_cstr_or_null(&b, e->route);
    tg_buf_printf(&b, ",\"status\":%d,\"ms\":%.3f,\"deployment\":", e->status, e->ms);
    json_cstr_or_null(&b, e->deployment);
    tg_buf_puts(&b, ",\"attempts\":");
    tg_buf_puts(&b, e->attempts_json ? e->attempts_json : "[]");
    tg_buf_puts(&b, ",\"cache\":");
    json_cstr_or_null(&b, e->cache);
    tg_buf_printf(&b,
                  ",\"degraded\":%s,\"input_tokens\":%lld,\"output_tokens\":%lld,\"stream\":%s,"
                  "\"fallback\":%d,\"cost_usd\":",
                  e->degraded ? "true" : "false", e->input_tokens, e->output_tokens,
                  e->stream ? "true" : "false", e->fallback);
    if (e->cost_known)
        tg_buf_printf(&b, "%.9f", e->cost_usd);
    else
        tg_buf_puts(&b, "null");
    tg_buf_puts(&b, ",\"term\":");
    json_cstr_or_null(&b, e->term);
    tg_buf_printf(&b, ",\"truncated\":%s,\"validation\":", e->truncated ? "true" : "false");
    json_cstr_or_null(&b, e->validation);
    tg_buf_putc(&b, '}');
    tg_access_log_write(log, b.data, b.len);
    tg_buf_free(&b);
}

void tg_access_log_close(struct tg_access_log *log)
{
    if (!log)
        return;
    log->closing = true;
    settle(log);
}

const char *tg_access_log_target(const struct tg_access_log *log)
{
    return log ? log->target : "";
}

uint64_t tg_access_log_dropped(const struct tg_access_log *log)
{
    return log ? log->dropped : 0;
}

/* Asynchronous access log writer (see access_log.h). */
#include "server/access_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

#define MAX_PENDING (8u * 1024 * 1024)

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
};

static void start_write(struct tg_access_log *log);

static void finish_close(struct tg_access_log *log)
{
    if (log->own_fd) {
        uv_fs_t req;
        uv_fs_close(NULL, &req, log->fd, NULL); /* synchronous: at shutdown or reload only */
        uv_fs_req_cleanup(&req);
    }
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
    if (result < 0) {
        tg_log_error("access_log_write_failed", "target=%s error=%s", log->target,
                     uv_strerror((int)result));
    } else if ((size_t)result < log->writing.len) {
        /* A short write: the rest goes first next time. */
        tg_buf_consume(&log->writing, (size_t)result);
        struct tg_buf rest = log->writing;
        tg_buf_append(&rest, log->pending.data, log->pending.len);
        log->writing = (struct tg_buf)TG_BUF_INIT;
        tg_buf_free(&log->pending);
        log->pending = rest;
    }
    tg_buf_reset(&log->writing);
    if (log->pending.len > 0) {
        start_write(log);
        return;
    }
    if (log->closing)
        finish_close(log);
}

static void start_write(struct tg_access_log *log)
{
    struct tg_buf t = log->writing;
    log->writing = log->pending;
    log->pending = t;
    tg_buf_reset(&log->pending);
    uv_buf_t b = uv_buf_init(log->writing.data, (unsigned)log->writing.len);
    log->req.data = log;
    if (uv_fs_write(log->loop->uv, &log->req, log->fd, &b, 1, -1, on_written) < 0) {
        tg_buf_reset(&log->writing);
        return;
    }
    log->busy = true;
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
    if (strcmp(target, "-") == 0) {
        log->fd = STDOUT_FILENO;
    } else {
        int fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
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
    if (!log->busy)
        start_write(log);
}

void tg_access_log_close(struct tg_access_log *log)
{
    if (!log)
        return;
    log->closing = true;
    if (!log->busy && log->pending.len > 0)
        start_write(log);
    if (!log->busy)
        finish_close(log);
}

const char *tg_access_log_target(const struct tg_access_log *log)
{
    return log ? log->target : "";
}

uint64_t tg_access_log_dropped(const struct tg_access_log *log)
{
    return log ? log->dropped : 0;
}

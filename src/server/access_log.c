/* Asynchronous access log writer (see access_log.h). */
#include "server/access_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "util/json.h"

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
        tg_log_error("access_log_write_failed", "target=%s error=\"%s\"", log->target,
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
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_printf(&b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"request_id\":",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  (int)(tv.tv_usec / 1000));
    json_cstr_or_null(&b, e->request_id);
    tg_buf_puts(&b, ",\"method\":");
    json_cstr_or_null(&b, e->method);
    tg_buf_puts(&b, ",\"path\":");
    json_str_or_null(&b, e->path, e->path_len);
    tg_buf_puts(&b, ",\"client\":");
    json_cstr_or_null(&b, e->client);
    tg_buf_puts(&b, ",\"key\":null,\"route\":");
    json_cstr_or_null(&b, e->route);
    tg_buf_printf(&b, ",\"status\":%d,\"ms\":%.3f,\"deployment\":", e->status, e->ms);
    json_cstr_or_null(&b, e->deployment);
    tg_buf_puts(&b, ",\"attempts\":");
    tg_buf_puts(&b, e->attempts_json ? e->attempts_json : "[]");
    tg_buf_puts(&b, ",\"cache\":");
    json_cstr_or_null(&b, e->cache);
    tg_buf_printf(&b,
                  ",\"degraded\":%s,\"input_tokens\":%lld,\"output_tokens\":%lld,\"stream\":%s,"
                  "\"fallback\":%d,\"term\":",
                  e->degraded ? "true" : "false", e->input_tokens, e->output_tokens,
                  e->stream ? "true" : "false", e->fallback);
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

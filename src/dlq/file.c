/* The dead-letter queue file (see file.h). */
#include "dlq/file.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

static int fail(struct tg_dlq_file_error *e, const char *op)
{
    e->op = op;
    e->err = errno ? errno : EIO;
    return -1;
}

static void close_keep_errno(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* Locks fd, and makes sure path still names the file fd is: a replay may
 * have renamed another over it while we waited. 1: locked and current;
 * 0: stale (fd closed, open again); -1: failed (fd closed, *e set). */
static int lock_current(int fd, const char *path, int how, struct stat *st,
                        struct tg_dlq_file_error *e)
{
    struct stat by_path;
    while (flock(fd, how) < 0) {
        if (errno != EINTR) {
            fail(e, "lock");
            close_keep_errno(fd);
            return -1;
        }
    }
    if (fstat(fd, st) < 0) {
        fail(e, "stat");
        close_keep_errno(fd);
        return -1;
    }
    if (stat(path, &by_path) < 0 || by_path.st_ino != st->st_ino ||
        by_path.st_dev != st->st_dev) {
        close(fd);
        return 0;
    }
    return 1;
}

/* fsyncs the directory holding path: a new name is durable only then. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? tg_xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : tg_xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close_keep_errno(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tg_dlq_file_append(const char *path, const char *const *lines, const size_t *lens, size_t n,
                       struct tg_dlq_file_error *e)
{
    struct stat st;
    bool created = false;
    int fd = -1;
    for (int tries = 0; tries < 16; tries++) {
        errno = 0;
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0 && errno == EEXIST)
                continue; /* another writer made it first */
            created = fd >= 0;
        }
        if (fd < 0)
            return fail(e, "open");
        int ok = lock_current(fd, path, LOCK_EX, &st, e);
        if (ok < 0)
            return -1;
        if (ok > 0)
            break;
        fd = -1;
    }
    if (fd < 0) {
        errno = EAGAIN;
        return fail(e, "open");
    }
    off_t before = st.st_size;
    for (size_t i = 0; i < n; i++) {
        if (write_all(fd, lines[i], lens[i]) < 0) {
            fail(e, "write");
            /* No partial line may stay for the next one to be glued to. */
            if (S_ISREG(st.st_mode) && ftruncate(fd, before) == 0)
                fsync(fd);
            close(fd);
            return -1;
        }
    }
    if (fsync(fd) < 0 && errno != EINVAL) { /* EINVAL: a device without fsync */
        fail(e, "fsync");
        if (S_ISREG(st.st_mode) && ftruncate(fd, before) == 0)
            fsync(fd);
        close(fd);
        return -1;
    }
    if (created && sync_dir(path) < 0) {
        fail(e, "fsync directory");
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return fail(e, "close");
    return 0;
}

static int read_fd(int fd, struct tg_buf *out, size_t from)
{
    char chunk[65536];
    if (lseek(fd, (off_t)from, SEEK_SET) < 0)
        return -1;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 0;
        tg_buf_append(out, chunk, (size_t)r);
    }
}

int tg_dlq_file_read(const char *path, struct tg_buf *out, ino_t *ino, dev_t *dev,
                     struct tg_dlq_file_error *e)
{
    struct stat st;
    for (int tries = 0; tries < 16; tries++) {
        errno = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fail(e, "open");
        int ok = lock_current(fd, path, LOCK_SH, &st, e);
        if (ok < 0)
            return -1;
        if (ok == 0)
            continue;
        out->len = 0;
        if (read_fd(fd, out, 0) < 0) {
            fail(e, "read");
            close(fd);
            return -1;
        }
        close(fd);
        *ino = st.st_ino;
        *dev = st.st_dev;
        return 0;
    }
    errno = EAGAIN;
    return fail(e, "open");
}

int tg_dlq_file_rewrite(const char *path, ino_t ino, dev_t dev, size_t from, const char *keep,
                        size_t keep_len, struct tg_dlq_file_error *e)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(e, "open");
    int ok = lock_current(fd, path, LOCK_EX, &st, e);
    if (ok < 0)
        return -1;
    if (ok == 0 || st.st_ino != ino || st.st_dev != dev || (size_t)st.st_size < from) {
        if (ok)
            close(fd);
        errno = ESTALE; /* replaced or cut since it was read: its offsets mean nothing */
        return fail(e, "check");
    }
    /* What gateways appended while the replay ran: kept after the survivors. */
    struct tg_buf tail = TG_BUF_INIT;
    if (read_fd(fd, &tail, from) < 0) {
        fail(e, "read");
        goto fail_read;
    }
    size_t tmp_len = strlen(path) + 5;
    char *tmp = tg_xmalloc(tmp_len);
    snprintf(tmp, tmp_len, "%s.tmp", path);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0) {
        fail(e, "open temporary file");
        goto fail_tmp;
    }
    if (write_all(out, keep, keep_len) < 0 || write_all(out, tail.data, tail.len) < 0) {
        fail(e, "write temporary file");
        goto fail_write;
    }
    if (fsync(out) < 0) {
        fail(e, "fsync temporary file");
        goto fail_write;
    }
    if (close(out) < 0) {
        out = -1;
        fail(e, "close temporary file");
        goto fail_write;
    }
    if (rename(tmp, path) < 0) {
        out = -1;
        fail(e, "rename");
        goto fail_write;
    }
    if (sync_dir(path) < 0) {
        fail(e, "fsync directory");
        goto fail_renamed;
    }
    free(tmp);
    tg_buf_free(&tail);
    close(fd); /* lets waiting gateways go on, to the new file */
    return 0;

fail_write:
    if (out >= 0)
        close_keep_errno(out);
    unlink(tmp);
fail_renamed:
fail_tmp:
    free(tmp);
fail_read:
    tg_buf_free(&tail);
    close_keep_errno(fd);
    return -1;
}

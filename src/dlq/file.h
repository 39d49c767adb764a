/* The dead-letter queue file (SPEC section 8): appending lines durably, and
 * the replay's atomic rewrite, safe against each other and against several
 * gateway processes. Blocking POSIX I/O: called on libuv's thread pool by
 * the gateway (dlq/writer.c), or by the `tailgate dlq` command.
 *
 * Every writer holds an exclusive flock(2) on the file while it writes, and
 * checks after locking that the path still names the file it opened (a
 * replay may have renamed a new one over it meanwhile), so lines never
 * interleave and none lands in a file that was replaced. */
#ifndef TG_DLQ_FILE_H
#define TG_DLQ_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

/* What failed, for messages: "open", "lock", "write", "fsync", ... */
struct tg_dlq_file_error {
    const char *op;
    int err; /* errno */
};

/* Appends data (whole lines) to path, creating it (mode 0600: it holds
 * prompts) and fsyncing it and, when new, its directory. A failed write is
 * cut back, so no partial line stays. 0, or -1 with *e. */
int tg_dlq_file_append(const char *path, const char *const *lines, const size_t *lens, size_t n,
                       struct tg_dlq_file_error *e);

/* The file's contents under a shared lock: whole lines only. *ino and
 * *dev identify the file, for tg_dlq_file_rewrite. */
int tg_dlq_file_read(const char *path, struct tg_buf *out, ino_t *ino, dev_t *dev,
                     struct tg_dlq_file_error *e);

/* Replaces path (the file read as `ino`/`dev`, `from` bytes long) by
 * keep[0..keep_len) followed by every byte appended to it since that read:
 * written to PATH.tmp, fsync'd, renamed over PATH, directory fsync'd, all
 * under the exclusive lock. Fails (err ESTALE) when the file was replaced or
 * cut meanwhile. */
int tg_dlq_file_rewrite(const char *path, ino_t ino, dev_t dev, size_t from, const char *keep,
                        size_t keep_len, struct tg_dlq_file_error *e);

#endif

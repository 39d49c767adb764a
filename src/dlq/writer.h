/* The gateway's dead-letter queue writer: appends lines to dlq_path on
 * libuv's thread pool (never on the loop), one batch at a time, so the
 * process has one writer and its lines never interleave (dlq/file.h keeps
 * other processes' apart). Lines queued while a batch is written go out
 * together in the next one: one lock and one fsync for all of them. */
#ifndef TG_DLQ_WRITER_H
#define TG_DLQ_WRITER_H

#include <stdbool.h>
#include <uv.h>

#include "core/buf.h"
#include "dlq/file.h"
#include "util/list.h"

struct tg_dlq_job;
typedef void (*tg_dlq_done_cb)(struct tg_dlq_job *job);

/* One line to append, owned by its caller (embedded in a request) until
 * `done` runs, always on a later loop pass than tg_dlq_submit's. */
struct tg_dlq_job {
    struct tg_list link;
    const char *path;   /* alive until done */
    struct tg_buf line; /* the caller's; '\n'-terminated */
    tg_dlq_done_cb done;
    int rc;             /* once done: 0, or -1 with err */
    struct tg_dlq_file_error err;
};

struct tg_dlq_writer {
    uv_loop_t *uv;
    struct tg_list queue; /* waiting for the next batch */
    struct tg_list batch; /* on the thread pool now */
    bool busy;
    uv_work_t work;
};

void tg_dlq_writer_init(struct tg_dlq_writer *w, uv_loop_t *uv);
void tg_dlq_submit(struct tg_dlq_writer *w, struct tg_dlq_job *job);
/* Whether a line is queued or being written (the process must wait). */
bool tg_dlq_writer_busy(const struct tg_dlq_writer *w);

#endif

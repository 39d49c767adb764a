/* The dead-letter queue writer (see writer.h). */
#include "dlq/writer.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define BATCH_LINES 64 /* lines per file append; a longer run takes several */

static void start_batch(struct tg_dlq_writer *w);

/* Thread pool: runs of jobs with the same path go out in one append each.
 * Touches only the batch's jobs, which the loop leaves alone until after. */
static void on_work(uv_work_t *req)
{
    struct tg_dlq_writer *w = req->data;
    struct tg_list *pos = w->batch.next;
    while (pos != &w->batch) {
        struct tg_dlq_job *first = tg_container_of(pos, struct tg_dlq_job, link);
        struct tg_dlq_job *run[BATCH_LINES];
        const char *lines[BATCH_LINES];
        size_t lens[BATCH_LINES], n = 0;
        while (pos != &w->batch && n < BATCH_LINES) {
            struct tg_dlq_job *j = tg_container_of(pos, struct tg_dlq_job, link);
            if (strcmp(j->path, first->path) != 0)
                break;
            run[n] = j;
            lines[n] = j->line.data;
            lens[n] = j->line.len;
            n++;
            pos = pos->next;
        }
        struct tg_dlq_file_error err = {NULL, 0};
        int rc = tg_dlq_file_append(first->path, lines, lens, n, &err);
        for (size_t i = 0; i < n; i++) {
            run[i]->rc = rc;
            run[i]->err = err;
        }
    }
}

static void on_after_work(uv_work_t *req, int status)
{
    struct tg_dlq_writer *w = req->data;
    w->busy = false;
    struct tg_list done;
    tg_list_init(&done);
    tg_list_splice_back(&done, &w->batch);
    /* The next batch first: a callback may queue more. */
    start_batch(w);
    while (!tg_list_empty(&done)) {
        struct tg_dlq_job *j = tg_container_of(tg_list_first(&done), struct tg_dlq_job, link);
        tg_list_remove(&j->link);
        if (status < 0) { /* cancelled: never happens to a started batch, but say so */
            j->rc = -1;
            j->err = (struct tg_dlq_file_error){"queue", -status};
        }
        j->done(j);
    }
}

static void start_batch(struct tg_dlq_writer *w)
{
    if (w->busy || tg_list_empty(&w->queue))
        return;
    tg_list_splice_back(&w->batch, &w->queue);
    w->busy = true;
    w->work.data = w;
    int rc = uv_queue_work(w->uv, &w->work, on_work, on_after_work);
    if (rc < 0) { /* only for a NULL callback: a bug */
        tg_log_error("dlq_queue_failed", "error=\"%s\"", uv_strerror(rc));
        abort();
    }
}

void tg_dlq_writer_init(struct tg_dlq_writer *w, uv_loop_t *uv)
{
    memset(w, 0, sizeof(*w));
    w->uv = uv;
    tg_list_init(&w->queue);
    tg_list_init(&w->batch);
}

void tg_dlq_submit(struct tg_dlq_writer *w, struct tg_dlq_job *job)
{
    job->rc = 0;
    job->err = (struct tg_dlq_file_error){NULL, 0};
    tg_list_push_back(&w->queue, &job->link);
    start_batch(w);
}

bool tg_dlq_writer_busy(const struct tg_dlq_writer *w)
{
    return w->busy || !tg_list_empty(&w->queue);
}

/* The JSON access log (SPEC section 6): one line per request, written off
 * the loop. Lines gather in memory and go out with uv_fs_write (libuv's
 * thread pool), one write at a time, so a slow disk or a blocked stdout pipe
 * never stalls the loop; what piles up meanwhile is capped, and lines beyond
 * the cap are counted as dropped rather than buffered without bound.
 *
 * A file target can be reopened (SIGUSR1, SIGHUP: logrotate moved it). The
 * open runs on the thread pool too; lines logged before the request go to
 * the old file, lines logged after it wait for the new one, and the files
 * change between two writes, so no line is lost, split or interleaved. */
#ifndef TG_SERVER_ACCESS_LOG_H
#define TG_SERVER_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/loop.h"

struct tg_access_log;

/* "-" is stdout, "" disables (NULL, no error), anything else a file opened
 * for appending. Returns NULL with a message on failure. The open blocks:
 * call it at startup or on the thread pool (it touches nothing of loop). */
struct tg_access_log *tg_access_log_open(struct tg_loop *loop, const char *target, char *err,
                                         size_t errlen, bool *disabled);
/* One request's line (SPEC section 6). NULL strings are written as null. */
struct tg_access_entry {
    const char *request_id;
    const char *method;        /* NULL: refused before the request line was read */
    const char *path;          /* the URL before any '?' */
    size_t path_len;
    const char *client;        /* peer "IP:PORT" */
    const char *key;           /* the auth key's name; NULL: none */
    const char *route;         /* NULL: answered before routing */
    int status;
    double ms;
    const char *deployment;    /* whose answer was sent */
    const char *attempts_json; /* a JSON array; NULL: [] */
    const char *cache;
    bool degraded;
    long long input_tokens;
    long long output_tokens;
    bool cost_known;  /* a price was set for a deployment that reported usage */
    double cost_usd;  /* null in the log unless cost_known */
    bool stream;
    int fallback;
    const char *term;          /* how the request ended */
    bool truncated;
    const char *validation;
};

/* Formats an entry as one JSON line and writes it (log may be NULL). */
void tg_access_log_entry(struct tg_access_log *log, const struct tg_access_entry *e);
/* Opens the target's path again, off the loop (see above); a no-op for
 * stdout and for NULL (no access log). A failure is logged and the old file
 * kept. */
void tg_access_log_reopen(struct tg_access_log *log);
/* Takes a line (no newline at the end; one is added). */
void tg_access_log_write(struct tg_access_log *log, const char *line, size_t len);
/* Flushes what is buffered, then frees; safe with writes in flight. */
void tg_access_log_close(struct tg_access_log *log);
const char *tg_access_log_target(const struct tg_access_log *log);
uint64_t tg_access_log_dropped(const struct tg_access_log *log);

#endif

/* `tailgate dlq list|replay` (see cli.h).
 *
 * replay sends each entry's body again as an ordinary request (not
 * background: a failure is not appended to a gateway's DLQ again, which may
 * be this very file; the replay keeps it here itself), to the entry's path,
 * with its request id, at most --rate requests per second. Then it rewrites
 * the file atomically, keeping the entries that still failed (a status
 * other than 2xx, a degraded static answer, a stream that ended with its
 * error event, or no answer at all) and lines
 * it could not read, plus every line a gateway appended during the replay. */
#include "dlq/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/config.h"
#include "core/buf.h"
#include "dlq/entry.h"
#include "dlq/file.h"

static int misuse(const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "tailgate dlq: %s%s%s%s\nusage: %s", what, arg ? " \"" : "", arg ? arg : "",
            arg ? "\"" : "", usage);
    return 2;
}

/* Calls fn for each line of text (without its '\n'); a last line without
 * '\n' counts too. */
typedef void (*line_cb)(void *ctx, size_t line_no, const char *p, size_t len);

static void each_line(const struct tg_buf *text, line_cb fn, void *ctx)
{
    size_t start = 0, no = 0;
    while (start < text->len) {
        const char *nl = memchr(text->data + start, '\n', text->len - start);
        size_t end = nl ? (size_t)(nl - text->data) : text->len;
        fn(ctx, ++no, text->data + start, end - start);
        start = end + 1;
    }
}

static bool blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

static int read_file(const char *path, struct tg_buf *text, ino_t *ino, dev_t *dev)
{
    struct tg_dlq_file_error e;
    if (tg_dlq_file_read(path, text, ino, dev, &e) < 0) {
        fprintf(stderr, "tailgate dlq: %s: cannot %s: %s\n", path, e.op, strerror(e.err));
        return -1;
    }
    return 0;
}

/* ---- list ---- */

struct list_ctx {
    const char *path;
    size_t entries, malformed;
};

static void list_line(void *ctx, size_t line_no, const char *p, size_t len)
{
    struct list_ctx *c = ctx;
    if (blank(p, len))
        return;
    struct tg_dlq_record rec;
    char why[160];
    if (tg_dlq_record_parse(p, len, &rec, why, sizeof(why)) < 0) {
        c->malformed++;
        printf("%s:%zu: malformed line: %s\n", c->path, line_no, why);
        return;
    }
    c->entries++;
    printf("%s  %s  %s  route=%s  key=%s  %d %s  %d attempt%s\n", rec.time[0] ? rec.time : "-",
           rec.request_id[0] ? rec.request_id : "-", rec.path, rec.route[0] ? rec.route : "-",
           rec.key ? rec.key : "-", rec.status, rec.code[0] ? rec.code : "-", rec.n_attempts,
           rec.n_attempts == 1 ? "" : "s");
    tg_dlq_record_free(&rec);
}

static int dlq_list(int argc, char **argv, const char *usage)
{
    if (argc != 1)
        return misuse(usage, argc ? "list takes one FILE, not" : "list: which FILE?",
                      argc ? argv[1] : NULL);
    struct tg_buf text = TG_BUF_INIT;
    ino_t ino;
    dev_t dev;
    if (read_file(argv[0], &text, &ino, &dev) < 0)
        return 1;
    struct list_ctx c = {argv[0], 0, 0};
    each_line(&text, list_line, &c);
    printf("%zu entr%s", c.entries, c.entries == 1 ? "y" : "ies");
    if (c.malformed)
        printf(", %zu malformed line%s", c.malformed, c.malformed == 1 ? "" : "s");
    printf(" in %s\n", argv[0]);
    tg_buf_free(&text);
    return 0;
}

/* ---- replay ---- */

struct replay_opts {
    const char *file;
    const char *to;      /* base URL, or NULL: the config's listener */
    const char *config;  /* for the listener */
    double rate;         /* requests per second; 0: as fast as they go */
    const char *key_env;
};

struct replay_ctx {
    struct replay_opts *o;
    const char *base;
    const char *key;
    CURL *curl;
    struct timespec start;
    size_t sent, succeeded, malformed;
    struct tg_buf keep; /* the lines that stay */
};

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The n-th request (0-based) leaves no sooner than n / rate seconds in. */
static void pace(struct replay_ctx *c)
{
    if (c->o->rate <= 0 || c->sent == 0)
        return;
    double due = (double)c->sent / c->o->rate, wait = due - since(&c->start);
    if (wait <= 0)
        return;
    struct timespec ts = {(time_t)wait, 0};
    ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

struct answer {
    bool degraded, from_cache, sse;
    struct tg_buf events; /* a stream's body, to see how it ended */
};

#define MAX_STREAM_KEPT (64u << 20)

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;
    if (len >= 22 && strncasecmp(p, "x-tailgate-degraded: 1", 22) == 0)
        a->degraded = true;
    if (len >= 17 && strncasecmp(p, "x-tailgate-cache:", 17) == 0)
        a->from_cache = true;
    if (len >= 31 && strncasecmp(p, "content-type: text/event-stream", 31) == 0)
        a->sse = true;
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    if (a->sse && a->events.len + size * n <= MAX_STREAM_KEPT)
        tg_buf_append(&a->events, p, size * n);
    return size * n; /* the answer itself goes to the client that asked, not here */
}

/* A 200 stream can still have failed midway: it then ends with the
 * format's error event (SPEC section 4). */
static bool stream_broke(const struct tg_buf *events)
{
    return events->len > 0 && (strstr(events->data, "data: {\"error\"") ||
                                strstr(events->data, "event: error") ||
                                strstr(events->data, "event: response.failed"));
}

/* Sends one entry; true when it succeeded. */
static bool send_entry(struct replay_ctx *c, const struct tg_dlq_record *rec, long *status,
                       char *err, size_t err_len)
{
    struct tg_buf url = TG_BUF_INIT, h = TG_BUF_INIT;
    struct curl_slist *headers = NULL;
    struct answer a = {false, false, false, TG_BUF_INIT};
    tg_buf_printf(&url, "%s%s", c->base, rec->path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue wait on large bodies */
    if (rec->request_id[0]) {
        tg_buf_printf(&h, "x-request-id: %s", rec->request_id);
        headers = curl_slist_append(headers, h.data);
        tg_buf_reset(&h);
    }
    if (c->key) {
        tg_buf_printf(&h, "Authorization: Bearer %s", c->key);
        headers = curl_slist_append(headers, h.data);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *e = c->curl;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, rec->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rec->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    *status = 0;
    bool ok = false;
    if (rc != CURLE_OK) {
        snprintf(err, err_len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
        /* The static degraded message is no answer to the work; a stale
         * cached answer is (it answered this very request before). */
        bool broke = stream_broke(&a.events);
        ok = *status >= 200 && *status < 300 && !(a.degraded && !a.from_cache) && !broke;
        snprintf(err, err_len, "%s",
                 ok ? "" : broke ? "the stream broke" : a.degraded ? "degraded answer" : "");
    }
    curl_slist_free_all(headers);
    tg_buf_free(&a.events);
    tg_buf_free(&url);
    tg_buf_free(&h);
    return ok;
}

static void replay_line(void *ctx, size_t line_no, const char *p, size_t len)
{
    struct replay_ctx *c = ctx;
    if (blank(p, len))
        return;
    struct tg_dlq_record rec;
    char why[CURL_ERROR_SIZE + 64];
    if (tg_dlq_record_parse(p, len, &rec, why, sizeof(why)) < 0) {
        c->malformed++;
        printf("%s:%zu: malformed line kept as it is: %s\n", c->o->file, line_no, why);
        tg_buf_append(&c->keep, p, len);
        tg_buf_putc(&c->keep, '\n');
        return;
    }
    pace(c);
    long status;
    bool ok = send_entry(c, &rec, &status, why, sizeof(why));
    c->sent++;
    if (ok) {
        c->succeeded++;
        printf("%s  %s  %ld  ok\n", rec.request_id, rec.path, status);
    } else {
        printf("%s  %s  %ld  kept%s%s\n", rec.request_id, rec.path, status, why[0] ? ": " : "",
               why);
        tg_buf_append(&c->keep, p, len);
        tg_buf_putc(&c->keep, '\n');
    }
    tg_dlq_record_free(&rec);
}

/* The listener of the config, as a base URL ("0.0.0.0" and "[::]" mean this host). */
static int base_from_config(const char *path, struct tg_buf *base)
{
    struct tg_config_error err;
    struct tg_config *cfg = tg_config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    const char *listen = cfg->server.listen;
    const char *colon = strrchr(listen, ':');
    size_t host_len = colon ? (size_t)(colon - listen) : strlen(listen);
    const char *scheme = cfg->server.tls_cert[0] ? "https" : "http";
    if (host_len == 7 && strncmp(listen, "0.0.0.0", 7) == 0)
        tg_buf_printf(base, "%s://127.0.0.1%s", scheme, colon ? colon : "");
    else if (host_len == 4 && strncmp(listen, "[::]", 4) == 0)
        tg_buf_printf(base, "%s://[::1]%s", scheme, colon ? colon : "");
    else
        tg_buf_printf(base, "%s://%s", scheme, listen);
    tg_config_free(cfg);
    return 0;
}

static int parse_replay(int argc, char **argv, const char *usage, struct replay_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *const names[] = {"--to", "--rate", "--key-env", "--config", "-c"};
        const char **slots[] = {&o->to, NULL, &o->key_env, &o->config, &o->config};
        size_t k;
        const char *value = NULL;
        for (k = 0; k < 5; k++) {
            size_t n = strlen(names[k]);
            if (strncmp(a, names[k], n) == 0 && a[n] == '=' && k < 4) {
                value = a + n + 1;
                break;
            }
            if (strcmp(a, names[k]) == 0) {
                if (i + 1 >= argc)
                    return misuse(usage, "a value is missing after", a);
                value = argv[++i];
                break;
            }
        }
        if (k == 5) {
            if (a[0] == '-' || o->file)
                return misuse(usage, a[0] == '-' ? "unknown option" : "unexpected argument", a);
            o->file = a;
            continue;
        }
        if (slots[k]) {
            *slots[k] = value;
            continue;
        }
        char *end;
        errno = 0;
        o->rate = strtod(value, &end);
        if (errno || end == value || *end || !(o->rate >= 0) || o->rate > 1e6)
            return misuse(usage, "--rate is a number of requests per second (0: no limit), not",
                          value);
    }
    if (!o->file)
        return misuse(usage, "replay: which FILE?", NULL);
    if (o->to && strncmp(o->to, "http://", 7) != 0 && strncmp(o->to, "https://", 8) != 0)
        return misuse(usage, "--to is an http:// or https:// URL, not", o->to);
    return 0;
}

static int dlq_replay(int argc, char **argv, const char *usage)
{
    struct replay_opts o = {NULL, NULL, "config.toml", 1.0, NULL};
    int rc = parse_replay(argc, argv, usage, &o);
    if (rc)
        return rc;
    struct replay_ctx c = {.o = &o};
    struct tg_buf base = TG_BUF_INIT, text = TG_BUF_INIT;
    if (o.key_env) {
        c.key = getenv(o.key_env);
        if (!c.key || !c.key[0]) {
            fprintf(stderr, "tailgate dlq: --key-env %s: the variable is not set\n", o.key_env);
            return 1;
        }
    }
    if (o.to) {
        tg_buf_puts(&base, o.to);
        while (base.len > 0 && base.data[base.len - 1] == '/')
            base.data[--base.len] = '\0';
    } else if (base_from_config(o.config, &base) < 0) {
        return 1;
    }
    c.base = base.data;
    ino_t ino;
    dev_t dev;
    if (read_file(o.file, &text, &ino, &dev) < 0) {
        tg_buf_free(&base);
        return 1;
    }
    /* Only whole lines are ours to judge; anything after them is left for
     * the rewrite to carry over untouched. */
    size_t upto = text.len;
    while (upto > 0 && text.data[upto - 1] != '\n')
        upto--;
    text.len = upto;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.curl = curl_easy_init();
    if (!c.curl) {
        curl_global_cleanup();
        fprintf(stderr, "tailgate dlq: libcurl failed to start\n");
        tg_buf_free(&base);
        tg_buf_free(&text);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &c.start);
    each_line(&text, replay_line, &c);
    curl_easy_cleanup(c.curl);
    curl_global_cleanup();
    rc = 0;
    size_t kept = c.sent - c.succeeded + c.malformed;
    if (c.succeeded > 0) {
        struct tg_dlq_file_error e;
        if (tg_dlq_file_rewrite(o.file, ino, dev, upto, c.keep.data ? c.keep.data : "", c.keep.len,
                                &e) < 0) {
            fprintf(stderr, "tailgate dlq: %s: not rewritten (%s: %s); every entry is still in it\n",
                    o.file, e.op, strerror(e.err));
            rc = 1;
        }
    }
    printf("sent %zu, succeeded %zu, kept %zu%s in %s (to %s)\n", c.sent, c.succeeded, kept,
           c.malformed ? " (malformed lines included)" : "", o.file, c.base);
    tg_buf_free(&c.keep);
    tg_buf_free(&base);
    tg_buf_free(&text);
    return rc;
}

int tg_dlq_main(int argc, char **argv, const char *usage)
{
    if (argc < 1)
        return misuse(usage, "which subcommand? list or replay", NULL);
    if (strcmp(argv[0], "list") == 0)
        return dlq_list(argc - 1, argv + 1, usage);
    if (strcmp(argv[0], "replay") == 0)
        return dlq_replay(argc - 1, argv + 1, usage);
    return misuse(usage, "no such subcommand (list, replay):", argv[0]);
}

/* tailgate-loadgen: an open-loop HTTP/1.1 load generator for the benchmarks.
 *
 * wrk measures peak throughput with a closed loop; latency "at a given rate"
 * needs requests sent on a schedule whatever the server does, with each
 * latency counted from when the request was due (no coordinated omission).
 * Requests go out at --rate per second over up to --connections keep-alive
 * connections; when none is free a new one is opened, and when the cap is
 * reached the request waits, its clock already running.
 *
 * Prints one JSON object: counts, achieved rate, latency percentiles (us),
 * time to first body byte for streams, statuses, and tallies of chosen
 * response headers (e.g. x-tailgate-hedge, x-tailgate-deployment).
 *
 *   tailgate-loadgen --url http://127.0.0.1:8080/v1/chat/completions \
 *       --body '{"model":"m","messages":[...]}' --rate 500 --duration 10 \
 *       [--connections 256] [--warmup 2] [--header 'k: v'] [--count-header NAME] */
#include <llhttp.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define MAX_COUNTED 8
#define MAX_VALUES 32

struct sample {
    uint64_t latency_us;
    uint64_t ttfb_us;
};

struct tally {
    char name[64];
    struct {
        char value[96];
        uint64_t count;
    } values[MAX_VALUES];
    int n_values;
};

struct conn;

struct gen {
    uv_loop_t *loop;
    struct sockaddr_in addr;
    char host[64];
    char path[512];
    char *request; /* the whole request, preformatted */
    size_t request_len;
    double rate;
    double duration_s, warmup_s;
    int max_conns;
    uint64_t start_ns;
    uint64_t sent;         /* requests started (scheduled and given a connection) */
    uint64_t due;          /* requests whose time has come */
    uint64_t completed, errors;
    uint64_t measured_from_ns, measured_to_ns;
    uint64_t *queue_due_ns; /* due times of requests waiting for a connection */
    size_t q_head, q_len, q_cap;
    struct conn **idle;
    int n_idle, n_conns, peak_conns;
    struct sample *samples;
    size_t n_samples, cap_samples;
    uint64_t status_counts[600];
    struct tally tallies[MAX_COUNTED];
    int n_tallies;
    uv_timer_t tick;
    bool stopping;
    int active;
};

struct conn {
    struct gen *g;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    llhttp_t parser;
    llhttp_settings_t settings;
    bool busy;
    bool closing;
    uint64_t due_ns, sent_ns, first_body_ns;
    char field[64];
    size_t field_len;
    bool in_value;
    char value[96];
    size_t value_len;
    int status;
    bool counted_headers[MAX_COUNTED];
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void die(const char *msg)
{
    fprintf(stderr, "tailgate-loadgen: %s\n", msg);
    exit(2);
}

static void tally_add(struct tally *t, const char *v, size_t n)
{
    if (n >= sizeof(t->values[0].value))
        n = sizeof(t->values[0].value) - 1;
    for (int i = 0; i < t->n_values; i++) {
        if (strlen(t->values[i].value) == n && memcmp(t->values[i].value, v, n) == 0) {
            t->values[i].count++;
            return;
        }
    }
    if (t->n_values < MAX_VALUES) {
        memcpy(t->values[t->n_values].value, v, n);
        t->values[t->n_values].value[n] = '\0';
        t->values[t->n_values].count = 1;
        t->n_values++;
    }
}

static void conn_close(struct conn *c);
static void dispatch(struct gen *g);

/* ---- response parsing ---- */

static struct conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static void header_done(struct conn *c)
{
    struct gen *g = c->g;
    for (int i = 0; i < g->n_tallies; i++) {
        if (strlen(g->tallies[i].name) == c->field_len &&
            strncasecmp(g->tallies[i].name, c->field, c->field_len) == 0) {
            c->counted_headers[i] = true;
            if (g->measured_from_ns && c->due_ns >= g->measured_from_ns &&
                c->due_ns < g->measured_to_ns)
                tally_add(&g->tallies[i], c->value, c->value_len);
        }
    }
    c->field_len = c->value_len = 0;
    c->in_value = false;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (c->in_value)
        header_done(c);
    size_t room = sizeof(c->field) - 1 - c->field_len;
    if (len > room)
        len = room;
    memcpy(c->field + c->field_len, at, len);
    c->field_len += len;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    c->in_value = true;
    size_t room = sizeof(c->value) - 1 - c->value_len;
    if (len > room)
        len = room;
    memcpy(c->value + c->value_len, at, len);
    c->value_len += len;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct conn *c = conn_of(p);
    if (c->in_value)
        header_done(c);
    c->status = p->status_code;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (!c->first_body_ns && len > 0)
        c->first_body_ns = now_ns();
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct conn *c = conn_of(p);
    struct gen *g = c->g;
    uint64_t end = now_ns();
    g->completed++;
    if (c->status < 200 || c->status >= 600)
        g->errors++;
    else if (c->due_ns >= g->measured_from_ns && c->due_ns < g->measured_to_ns) {
        g->status_counts[c->status]++;
        if (g->n_samples == g->cap_samples) {
            g->cap_samples = g->cap_samples ? g->cap_samples * 2 : 65536;
            g->samples = realloc(g->samples, g->cap_samples * sizeof(*g->samples));
        }
        g->samples[g->n_samples].latency_us = (end - c->due_ns) / 1000;
        g->samples[g->n_samples].ttfb_us =
            c->first_body_ns ? (c->first_body_ns - c->due_ns) / 1000 : 0;
        g->n_samples++;
    }
    c->busy = false;
    g->active--;
    if (!llhttp_should_keep_alive(p)) {
        conn_close(c);
    } else {
        g->idle[g->n_idle++] = c;
    }
    return HPE_PAUSED; /* one response per request: resume when the next is sent */
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct gen *g = c->g;
    g->n_conns--;
    free(c);
    if (!g->stopping)
        dispatch(g);
}

static void conn_close(struct conn *c)
{
    struct gen *g = c->g;
    if (c->closing)
        return;
    c->closing = true;
    for (int i = 0; i < g->n_idle; i++) {
        if (g->idle[i] == c) {
            g->idle[i] = g->idle[--g->n_idle];
            break;
        }
    }
    if (c->busy) {
        g->errors++;
        g->active--;
    }
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    struct gen *g = c->g;
    llhttp_errno_t e = llhttp_execute(&c->parser, buf->base, (size_t)n);
    if (e == HPE_PAUSED) {
        llhttp_resume(&c->parser);
        if (c->parser.error_pos && c->parser.error_pos < buf->base + n) {
            fprintf(stderr, "tailgate-loadgen: unexpected bytes after a response\n");
            conn_close(c);
        }
        if (!g->stopping)
            dispatch(g); /* a waiting request can have this connection now */
    } else if (e != HPE_OK) {
        fprintf(stderr, "tailgate-loadgen: bad response: %s\n", llhttp_errno_name(e));
        conn_close(c);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    if (status < 0)
        conn_close(c);
}

static void send_on(struct conn *c, uint64_t due_ns)
{
    struct gen *g = c->g;
    c->busy = true;
    c->due_ns = due_ns;
    c->sent_ns = now_ns();
    c->first_body_ns = 0;
    c->status = 0;
    g->active++;
    g->sent++;
    uv_buf_t b = uv_buf_init(g->request, (unsigned)g->request_len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct gen *g = c->g;
    if (status < 0) {
        fprintf(stderr, "tailgate-loadgen: connect: %s\n", uv_strerror(status));
        c->busy = false;
        g->active--;
        g->errors++;
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    g->active--; /* send_on counts it again */
    send_on(c, c->due_ns);
}

static void open_conn(struct gen *g, uint64_t due_ns)
{
    struct conn *c = calloc(1, sizeof(*c));
    c->g = g;
    uv_tcp_init(g->loop, &c->tcp);
    c->tcp.data = c;
    llhttp_settings_init(&c->settings);
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_headers_complete = on_headers_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
    c->parser.data = c;
    c->busy = true;
    c->due_ns = due_ns;
    g->active++;
    if (++g->n_conns > g->peak_conns)
        g->peak_conns = g->n_conns;
    c->connect_req.data = c;
    if (uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&g->addr, on_connected) < 0)
        conn_close(c);
}

/* Due times with this bit set waited for a connection: their latency counts
 * from when they were due. The others count from when they were sent, so the
 * generator's own 1 ms tick is not charged to the server. */
#define WAITED (UINT64_C(1) << 63)

/* Sends every due request that can go now. */
static void dispatch(struct gen *g)
{
    while (g->q_len > 0) {
        uint64_t entry = g->queue_due_ns[g->q_head];
        uint64_t start = entry & WAITED ? entry & ~WAITED : now_ns();
        if (g->n_idle > 0) {
            struct conn *c = g->idle[--g->n_idle];
            send_on(c, start);
        } else if (g->n_conns < g->max_conns) {
            open_conn(g, start);
        } else {
            for (size_t i = 0; i < g->q_len; i++)
                g->queue_due_ns[(g->q_head + i) % g->q_cap] |= WAITED;
            return;
        }
        g->q_head = (g->q_head + 1) % g->q_cap;
        g->q_len--;
    }
}

static void enqueue(struct gen *g, uint64_t due_ns)
{
    if (g->q_len == g->q_cap) {
        size_t cap = g->q_cap ? g->q_cap * 2 : 1024;
        uint64_t *q = malloc(cap * sizeof(*q));
        for (size_t i = 0; i < g->q_len; i++)
            q[i] = g->queue_due_ns[(g->q_head + i) % g->q_cap];
        free(g->queue_due_ns);
        g->queue_due_ns = q;
        g->q_head = 0;
        g->q_cap = cap;
    }
    g->queue_due_ns[(g->q_head + g->q_len) % g->q_cap] = due_ns;
    g->q_len++;
}

static void on_tick(uv_timer_t *t)
{
    struct gen *g = t->data;
    uint64_t now = now_ns();
    double elapsed = (double)(now - g->start_ns) / 1e9;
    if (elapsed >= g->warmup_s + g->duration_s) {
        /* Schedule over: wait for what is in flight (up to 10 s), then stop. */
        if (!g->stopping) {
            g->stopping = true;
            g->q_len = 0;
        }
        if (g->active == 0 || elapsed >= g->warmup_s + g->duration_s + 10) {
            uv_timer_stop(t);
            for (int i = g->n_idle - 1; i >= 0; i--)
                conn_close(g->idle[i]);
            uv_stop(g->loop);
        }
        return;
    }
    uint64_t should = (uint64_t)(elapsed * g->rate);
    while (g->due < should) {
        uint64_t due = g->start_ns + (uint64_t)((double)g->due / g->rate * 1e9);
        g->due++;
        enqueue(g, due);
    }
    dispatch(g);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t quantile(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(q * (double)n);
    if (i == 0)
        i = 1;
    return sorted[i - 1];
}

static void print_quantiles(const char *name, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(uint64_t), cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    printf("\"%s\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu,"
           "\"mean\":%.1f}",
           name, (unsigned long long)quantile(v, n, 0.5), (unsigned long long)quantile(v, n, 0.9),
           (unsigned long long)quantile(v, n, 0.99), (unsigned long long)quantile(v, n, 0.999),
           (unsigned long long)(n ? v[n - 1] : 0), n ? sum / (double)n : 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot read the body file");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        die("short read on the body file");
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    struct gen g;
    memset(&g, 0, sizeof(g));
    const char *url = NULL, *body = NULL;
    size_t body_len = 0;
    char headers[4096] = "";
    g.rate = 100;
    g.duration_s = 10;
    g.warmup_s = 1;
    g.max_conns = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("every option takes a value");
        i++;
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--body") == 0) {
            body = v;
            body_len = strlen(v);
        }
        else if (strcmp(a, "--body-file") == 0)
            body = read_file(v, &body_len);
        else if (strcmp(a, "--rate") == 0)
            g.rate = atof(v);
        else if (strcmp(a, "--duration") == 0)
            g.duration_s = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            g.warmup_s = atof(v);
        else if (strcmp(a, "--connections") == 0)
            g.max_conns = atoi(v);
        else if (strcmp(a, "--header") == 0) {
            strncat(headers, v, sizeof(headers) - strlen(headers) - 3);
            strcat(headers, "\r\n");
        } else if (strcmp(a, "--count-header") == 0) {
            if (g.n_tallies < MAX_COUNTED)
                snprintf(g.tallies[g.n_tallies++].name, sizeof(g.tallies[0].name), "%s", v);
        } else
            die("unknown option");
    }
    if (!url || strncmp(url, "http://", 7) != 0)
        die("--url http://HOST:PORT/PATH is required");
    if (g.rate <= 0)
        die("--rate must be positive");
    int port = 80;
    const char *hp = url + 7;
    const char *slash = strchr(hp, '/');
    const char *colon = memchr(hp, ':', slash ? (size_t)(slash - hp) : strlen(hp));
    size_t hlen = colon ? (size_t)(colon - hp) : (slash ? (size_t)(slash - hp) : strlen(hp));
    snprintf(g.host, sizeof(g.host), "%.*s", (int)hlen, hp);
    if (colon)
        port = atoi(colon + 1);
    snprintf(g.path, sizeof(g.path), "%s", slash ? slash : "/");
    if (uv_ip4_addr(g.host, port, &g.addr) < 0)
        die("the host must be an IPv4 address");
    size_t cap = 1024 + body_len + strlen(headers);
    g.request = malloc(cap);
    if (body)
        g.request_len = (size_t)snprintf(g.request, cap,
                                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                                         "application/json\r\n%sContent-Length: %zu\r\n\r\n",
                                         g.path, g.host, port, headers, body_len);
    else
        g.request_len = (size_t)snprintf(g.request, cap, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n",
                                         g.path, g.host, port, headers);
    if (body) {
        memcpy(g.request + g.request_len, body, body_len);
        g.request_len += body_len;
    }
    g.idle = calloc((size_t)g.max_conns + 1, sizeof(*g.idle));
    g.loop = uv_default_loop();
    g.start_ns = now_ns();
    g.measured_from_ns = g.start_ns + (uint64_t)(g.warmup_s * 1e9);
    g.measured_to_ns = g.measured_from_ns + (uint64_t)(g.duration_s * 1e9);
    uv_timer_init(g.loop, &g.tick);
    g.tick.data = &g;
    uv_timer_start(&g.tick, on_tick, 0, 1);
    uv_run(g.loop, UV_RUN_DEFAULT);

    uint64_t *lat = malloc((g.n_samples + 1) * sizeof(uint64_t));
    uint64_t *ttfb = malloc((g.n_samples + 1) * sizeof(uint64_t));
    for (size_t i = 0; i < g.n_samples; i++) {
        lat[i] = g.samples[i].latency_us;
        ttfb[i] = g.samples[i].ttfb_us;
    }
    printf("{\"rate\":%.1f,\"duration_s\":%.1f,\"measured\":%zu,\"achieved_rate\":%.1f,"
           "\"errors\":%llu,\"connections_peak\":%d,",
           g.rate, g.duration_s, g.n_samples, (double)g.n_samples / g.duration_s,
           (unsigned long long)g.errors, g.peak_conns);
    print_quantiles("latency_us", lat, g.n_samples);
    printf(",");
    print_quantiles("ttfb_us", ttfb, g.n_samples);
    printf(",\"status\":{");
    int first = 1;
    for (int s = 0; s < 600; s++) {
        if (g.status_counts[s]) {
            printf("%s\"%d\":%llu", first ? "" : ",", s, (unsigned long long)g.status_counts[s]);
            first = 0;
        }
    }
    printf("},\"headers\":{");
    for (int i = 0; i < g.n_tallies; i++) {
        printf("%s\"%s\":{", i ? "," : "", g.tallies[i].name);
        for (int k = 0; k < g.tallies[i].n_values; k++)
            printf("%s\"%s\":%llu", k ? "," : "", g.tallies[i].values[k].value,
                   (unsigned long long)g.tallies[i].values[k].count);
        printf("}");
    }
    printf("}}\n");
    free(lat);
    free(ttfb);
    free(g.samples);
    free(g.request);
    free(g.idle);
    free(g.queue_due_ns);
    uv_loop_close(g.loop);
    return 0;
}

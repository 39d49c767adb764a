/* Unit tests of the config loader (SPEC section 2): every default, every key
 * read back with a non-default value, per-route overrides, and every class of
 * error with its exact FILE:LINE:COL prefix. Configs are in-memory TOML; the
 * position an error must point at is marked in the test text with "@@",
 * which the helpers strip before parsing. The last tests feed every prefix
 * (and every one-line deletion) of config.toml.example to the loader, which
 * must load or fail cleanly, never crash or leak (ASan/LSan run these).
 *
 * The tests that find bugs in the loader are written for the correct
 * behaviour and fail until it is fixed; the two that trip ASan run last. */
/* cmocka.h needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "fakes.h"

#define NAME "t.toml"
#define MARK "@@"

/* A small, valid skeleton: one mock provider, one deployment, one route. */
#define PROVIDER "[[providers]]\nname = \"p\"\nkind = \"mock\"\n"
#define DEPLOYMENT "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = \"m1\"\n"
#define ROUTE "[[routes]]\nmodel = \"r\"\ndeployments = [\"d\"]\n"
#define MINIMAL PROVIDER DEPLOYMENT ROUTE

#define assert_double(a, b)                                                                        \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= 1e-9 * (fabs(b_) > 1 ? fabs(b_) : 1)))                              \
            fail_msg("%s is %.17g, expected %.17g", #a, a_, b_);                                   \
    } while (0)

/* ---- helpers ------------------------------------------------------------- */

/* Copies text into a heap block of exactly len bytes, with no terminating
 * NUL, so AddressSanitizer catches any read past the end. */
static char *exact_copy(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len)
        memcpy(p, text, len);
    return p;
}

static struct tg_config *parse_len(const char *text, size_t len, struct tg_config_error *err)
{
    char *buf = exact_copy(text, len);
    memset(err->message, 0, sizeof(err->message));
    struct tg_config *cfg = tg_config_parse(NAME, buf, len, err);
    free(buf);
    return cfg;
}

static struct tg_config *load_ok(const char *text)
{
    struct tg_config_error err;
    struct tg_config *cfg = parse_len(text, strlen(text), &err);
    if (!cfg)
        fail_msg("config did not load: %s", err.message);
    return cfg;
}

/* Removes the MARK from `marked` (exactly one must be present) and returns
 * the text without it; *line and *col get the marker's 1-based position. */
static char *strip_mark(const char *marked, int *line, int *col)
{
    /* One condition: cmocka's fail_msg is not marked noreturn, so a second
     * search after `if (!m) fail_msg(...)` is, to gcc -O2, a read at NULL + 1. */
    const char *m = strstr(marked, MARK);
    if (!m || strstr(m + strlen(MARK), MARK))
        fail_msg("test text must have exactly one %s marker", MARK);
    *line = 1;
    *col = 1;
    for (const char *p = marked; p < m; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
    size_t n = strlen(marked), off = (size_t)(m - marked), ml = strlen(MARK);
    char *out = malloc(n - ml + 1);
    assert_non_null(out);
    memcpy(out, marked, off);
    memcpy(out + off, m + ml, n - off - ml + 1);
    return out;
}

/* The config must fail; the message must be "t.toml:LINE:COL: ..." with the
 * position of the @@ marker, and contain every string of the NULL-terminated
 * list that follows. */
static void expect_error(const char *marked, ...)
{
    int line, col;
    char *text = strip_mark(marked, &line, &col);
    struct tg_config_error err;
    struct tg_config *cfg = parse_len(text, strlen(text), &err);
    char why[2048] = "";
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", NAME, line, col);
    if (cfg) {
        tg_config_free(cfg);
        snprintf(why, sizeof(why), "config loaded, expected an error at %d:%d in:\n%.1500s", line,
                 col, text);
    } else if (strncmp(err.message, prefix, strlen(prefix)) != 0) {
        snprintf(why, sizeof(why), "error \"%s\" does not start with \"%s\"", err.message, prefix);
    } else if (strlen(err.message) <= strlen(prefix) + 3) {
        snprintf(why, sizeof(why), "error \"%s\" has no real message", err.message);
    } else {
        va_list ap;
        va_start(ap, marked);
        for (const char *s; !why[0] && (s = va_arg(ap, const char *));)
            if (!strstr(err.message, s))
                snprintf(why, sizeof(why), "error \"%s\" does not mention \"%s\"", err.message, s);
        va_end(ap);
    }
    free(text);
    if (why[0])
        fail_msg("%s", why);
}

/* A message of the form "NAME:LINE:COL: text" with LINE, COL >= 1. */
static int well_formed(const char *msg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(msg, name, n) != 0 || msg[n] != ':')
        return 0;
    char *end;
    long line = strtol(msg + n + 1, &end, 10);
    if (line < 1 || *end != ':')
        return 0;
    long col = strtol(end + 1, &end, 10);
    if (col < 1 || strncmp(end, ": ", 2) != 0)
        return 0;
    return end[2] != '\0';
}

static const struct tg_route_cfg *route(const struct tg_config *cfg, const char *model)
{
    const struct tg_route_cfg *r = tg_config_route(cfg, model, strlen(model));
    if (!r)
        fail_msg("route \"%s\" not found", model);
    return r;
}

static const struct tg_provider_cfg *provider(const struct tg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strcmp(cfg->providers[i].name, name) == 0)
            return &cfg->providers[i];
    fail_msg("provider \"%s\" not found", name);
    return NULL;
}

static char *printf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A readable temporary file; the caller unlinks and frees the path. */
static char *temp_file(const char *content)
{
    char *path = strdup("/tmp/tg-test-config-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_true(write(fd, content, n) == (ssize_t)n);
    close(fd);
    return path;
}

static char *read_example(size_t *len)
{
    const char *src = getenv("TG_SRC");
    char path[4096];
    if (src) {
        snprintf(path, sizeof(path), "%s/config.toml.example", src);
        char *text = tg_test_read_file(path, len);
        if (text)
            return text;
    }
    static const char *const fallbacks[] = {"../../config.toml.example", "../config.toml.example",
                                            "config.toml.example"};
    for (size_t i = 0; i < sizeof(fallbacks) / sizeof(fallbacks[0]); i++) {
        char *text = tg_test_read_file(fallbacks[i], len);
        if (text)
            return text;
    }
    fail_msg("config.toml.example not found (set TG_SRC to the source directory)");
    return NULL;
}

/* ---- defaults ------------------------------------------------------------ */

static void assert_default_policy(const struct tg_policy *p)
{
    assert_int_equal(p->timeouts.request_ms, 600000);
    assert_int_equal(p->timeouts.attempt_ms, 300000);
    assert_int_equal(p->timeouts.connect_ms, 3000);
    assert_int_equal(p->timeouts.first_byte_ms, 60000);
    assert_int_equal(p->timeouts.stream_idle_ms, 60000);

    assert_int_equal(p->retry.max_attempts, 3);
    assert_int_equal(p->retry.backoff_base_ms, 250);
    assert_int_equal(p->retry.backoff_max_ms, 8000);
    assert_int_equal(p->retry.jitter, TG_JITTER_FULL);
    assert_true(p->retry.respect_retry_after);
    assert_int_equal(p->retry.max_retry_after_ms, 10000);
    assert_double(p->retry.budget_ratio, 0.2);
    assert_double(p->retry.budget_min_per_s, 3);

    assert_true(p->hedge.enabled);
    assert_double(p->hedge.quantile, 0.9);
    assert_int_equal(p->hedge.min_delay_ms, 20);
    assert_int_equal(p->hedge.max_delay_ms, 5000);
    assert_int_equal(p->hedge.initial_delay_ms, 1000);
    assert_int_equal(p->hedge.min_samples, 20);
    assert_double(p->hedge.max_ratio, 0.1);
    assert_true(p->hedge.streaming);

    assert_true(p->validate.empty);
    assert_true(p->validate.refusal);
    static const char *const phrases[] = {"I can't help with", "I cannot help with",
                                          "I'm sorry, but I can", "I am unable to", "As an AI"};
    assert_int_equal(p->validate.refusal_phrases.len, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(p->validate.refusal_phrases.items[i], phrases[i]);
    assert_int_equal(p->validate.truncation, TG_TRUNCATION_FLAG);
    assert_true(p->validate.json);

    assert_int_equal(p->cache.mode, TG_CACHE_FALLBACK);
    assert_int_equal(p->cache.ttl_s, 300);
    assert_int_equal(p->cache.stale_s, 86400);
    assert_int_equal(p->cache.max_bytes, 67108864);
}

static void test_defaults(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok(MINIMAL);
    assert_string_equal(cfg->path, NAME);

    const struct tg_server_cfg *s = &cfg->server;
    assert_string_equal(s->listen, "127.0.0.1:8080");
    assert_string_equal(s->admin_listen, "127.0.0.1:8081");
    assert_int_equal(s->workers, 1);
    assert_int_equal(s->max_connections, 10000);
    assert_int_equal(s->max_header_bytes, 16384);
    assert_int_equal(s->max_headers, 100);
    assert_int_equal(s->max_body_bytes, 4194304);
    assert_int_equal(s->max_response_bytes, 16777216);
    assert_int_equal(s->read_timeout_ms, 10000);
    assert_int_equal(s->idle_timeout_ms, 60000);
    assert_int_equal(s->drain_ms, 10000);
    assert_string_equal(s->access_log, "-");
    assert_string_equal(s->tls_cert, "");
    assert_string_equal(s->tls_key, "");

    assert_default_policy(&cfg->policy);

    const struct tg_breaker_cfg *b = &cfg->breaker;
    assert_int_equal(b->failure_threshold, 5);
    assert_double(b->error_rate, 0.5);
    assert_int_equal(b->min_requests, 20);
    assert_int_equal(b->window_ms, 60000);
    assert_int_equal(b->cooldown_ms, 30000);
    assert_int_equal(b->max_cooldown_ms, 300000);
    assert_int_equal(b->half_open_probes, 1);
    assert_double(b->latency_factor, 4.0);
    assert_int_equal(b->quota_cooldown_ms, 600000);

    assert_true(cfg->degraded.enabled);
    assert_int_equal(cfg->degraded.status, 503);
    assert_string_equal(cfg->degraded.message,
                        "The AI service is temporarily unavailable. Please try again shortly.");

    assert_int_equal(cfg->n_providers, 1);
    const struct tg_provider_cfg *p = &cfg->providers[0];
    assert_int_equal(p->index, 0);
    assert_string_equal(p->name, "p");
    assert_int_equal(p->kind, TG_PROVIDER_MOCK);
    assert_string_equal(p->base_url, "");
    assert_string_equal(p->api_key_env, "");
    assert_null(p->api_key);
    assert_int_equal(p->n_headers, 0);
    assert_int_equal(p->max_connections, 256);
    assert_true(p->http2);
    assert_string_equal(p->ca_file, "");
    assert_double(p->mock.latency_ms, 50);
    assert_double(p->mock.latency_p99_ms, 0);
    assert_double(p->mock.tokens_per_s, 0);
    assert_int_equal(p->mock.output_tokens, 16);
    assert_double(p->mock.error_rate, 0);
    assert_int_equal(p->mock.error_status, 503);
    assert_int_equal(p->mock.seed, 1);

    assert_int_equal(cfg->n_deployments, 1);
    const struct tg_deployment_cfg *d = &cfg->deployments[0];
    assert_string_equal(d->name, "d");
    assert_ptr_equal(d->provider, p);
    assert_string_equal(d->model, "m1");
    assert_double(d->weight, 1.0);
    assert_int_equal(d->context_tokens, 0);
    assert_double(d->input_usd_per_mtok, 0);
    assert_double(d->output_usd_per_mtok, 0);

    assert_int_equal(cfg->n_routes, 1);
    const struct tg_route_cfg *r = &cfg->routes[0];
    assert_string_equal(r->model, "r");
    assert_int_equal(r->n_deployments, 1);
    assert_ptr_equal(r->deployments[0], d);
    assert_int_equal(r->n_fallbacks, 0);
    assert_int_equal(r->n_context_window_fallbacks, 0);
    assert_int_equal(r->n_content_policy_fallbacks, 0);
    assert_string_equal(r->overrides, "");
    assert_default_policy(&r->policy);
    /* The route's copy of the phrases is its own. */
    assert_ptr_not_equal(r->policy.validate.refusal_phrases.items,
                         cfg->policy.validate.refusal_phrases.items);

    assert_int_equal(cfg->n_warnings, 0);
    tg_config_free(cfg);
}

/* Empty tables change nothing. */
static void test_empty_sections_keep_defaults(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok("[server]\n[timeouts]\n[retry]\n[hedge]\n[breaker]\n"
                                    "[validate]\n[cache]\n[degraded]\n" MINIMAL);
    assert_string_equal(cfg->server.listen, "127.0.0.1:8080");
    assert_default_policy(&cfg->policy);
    assert_default_policy(&cfg->routes[0].policy);
    assert_int_equal(cfg->breaker.failure_threshold, 5);
    assert_int_equal(cfg->degraded.status, 503);
    tg_config_free(cfg);
}

/* ---- every key, non-default ---------------------------------------------- */

static void test_every_key(void **state)
{
    (void)state;
    char *cert = temp_file("cert\n");
    char *key = temp_file("key\n");
    char *ca = temp_file("ca\n");
    setenv("TG_TEST_CONFIG_KEY", "sk-test-123", 1);
    char *text = printf_alloc(
        "[server]\n"
        "listen = \"0.0.0.0:9090\"\n"
        "admin_listen = \"\"\n"
        "workers = 4\n"
        "max_connections = 500\n"
        "max_header_bytes = 8192\n"
        "max_headers = 50\n"
        "max_body_bytes = 1048576\n"
        "max_response_bytes = 2097152\n"
        "read_timeout_ms = 5000\n"
        "idle_timeout_ms = 30000\n"
        "drain_ms = 2000\n"
        "access_log = \"/var/log/tailgate/access.jsonl\"\n"
        "tls_cert = \"%s\"\n"
        "tls_key = \"%s\"\n"
        "\n[timeouts]\n"
        "request_ms = 12000\nattempt_ms = 6000\nconnect_ms = 1500\nfirst_byte_ms = 4000\n"
        "\n[retry]\n"
        "max_attempts = 5\nbackoff_base_ms = 100\nbackoff_max_ms = 2000\njitter = \"equal\"\n"
        "respect_retry_after = false\nmax_retry_after_ms = 3000\nbudget_ratio = 0.5\n"
        "budget_min_per_s = 7\n"
        "\n[hedge]\n"
        "enabled = false\nquantile = 0.95\nmin_delay_ms = 10\nmax_delay_ms = 3000\n"
        "initial_delay_ms = 500\nmin_samples = 50\nmax_ratio = 0.25\nstreaming = false\n"
        "\n[breaker]\n"
        "failure_threshold = 9\nerror_rate = 0.75\nmin_requests = 40\nwindow_ms = 30000\n"
        "cooldown_ms = 15000\nmax_cooldown_ms = 120000\nhalf_open_probes = 3\n"
        "latency_factor = 0\nquota_cooldown_ms = 60000\n"
        "\n[validate]\n"
        "empty = false\nrefusal = false\nrefusal_phrases = [\"Nope\", \"No way\"]\n"
        "truncation = \"fail\"\njson = false\n"
        "\n[cache]\n"
        "mode = \"on\"\nttl_s = 60\nstale_s = 3600\nmax_bytes = 1024\n"
        "\n[degraded]\n"
        "enabled = false\nstatus = 200\nmessage = \"Back soon.\"\n"
        "\n[[providers]]\n"
        "name = \"oa\"\nkind = \"openai\"\nbase_url = \"https://api.example.com/v1/\"\n"
        "api_key_env = \"TG_TEST_CONFIG_KEY\"\n"
        "headers = { \"OpenAI-Organization\" = \"org-1\", X-Extra = \"yes\" }\n"
        "max_connections = 32\nhttp2 = false\nca_file = \"%s\"\n"
        "\n[[providers]]\n"
        "name = \"an\"\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9/v1\"\n"
        "api_key_env = \"\"\n"
        "\n[[providers]]\n"
        "name = \"mk\"\nkind = \"mock\"\n"
        "mock = { latency_ms = 5, latency_p99_ms = 80.5, tokens_per_s = 100, output_tokens = 33,"
        " error_rate = 0.25, error_status = 429, seed = 42 }\n"
        "\n[[deployments]]\n"
        "name = \"d-oa\"\nprovider = \"oa\"\nmodel = \"gpt-x\"\nweight = 3.5\n"
        "context_tokens = 128000\ninput_usd_per_mtok = 2.5\noutput_usd_per_mtok = 10\n"
        "cached_input_usd_per_mtok = 1.25\n"
        "\n[[deployments]]\n"
        "name = \"d-an\"\nprovider = \"an\"\nmodel = \"claude-x\"\n"
        "\n[[deployments]]\n"
        "name = \"d-mk\"\nprovider = \"mk\"\nmodel = \"mock-1\"\nweight = 0\n"
        "\n[[routes]]\n"
        "model = \"main\"\n"
        "deployments = [\"d-oa\", \"d-an\"]\n"
        "fallbacks = [\"spare\", \"cheap\"]\n"
        "context_window_fallbacks = [\"spare\"]\n"
        "content_policy_fallbacks = [\"cheap\"]\n"
        "timeouts = { request_ms = 8000, first_byte_ms = 900 }\n"
        "retry = { max_attempts = 2, jitter = \"none\" }\n"
        "hedge = { enabled = true, quantile = 0.5 }\n"
        "validate = { truncation = \"off\", refusal_phrases = [\"Sorry\"] }\n"
        "cache = { mode = \"off\", ttl_s = 1 }\n"
        "\n[[routes]]\n"
        "model = \"spare\"\ndeployments = [\"d-mk\"]\n"
        "\n[[routes]]\n"
        "model = \"cheap\"\ndeployments = [\"d-mk\", \"d-an\"]\n",
        cert, key, ca);
    struct tg_config *cfg = load_ok(text);

    const struct tg_server_cfg *s = &cfg->server;
    assert_string_equal(s->listen, "0.0.0.0:9090");
    assert_string_equal(s->admin_listen, "");
    assert_int_equal(s->workers, 4);
    assert_int_equal(s->max_connections, 500);
    assert_int_equal(s->max_header_bytes, 8192);
    assert_int_equal(s->max_headers, 50);
    assert_int_equal(s->max_body_bytes, 1048576);
    assert_int_equal(s->max_response_bytes, 2097152);
    assert_int_equal(s->read_timeout_ms, 5000);
    assert_int_equal(s->idle_timeout_ms, 30000);
    assert_int_equal(s->drain_ms, 2000);
    assert_string_equal(s->access_log, "/var/log/tailgate/access.jsonl");
    assert_string_equal(s->tls_cert, cert);
    assert_string_equal(s->tls_key, key);

    const struct tg_policy *g = &cfg->policy;
    assert_int_equal(g->timeouts.request_ms, 12000);
    assert_int_equal(g->timeouts.attempt_ms, 6000);
    assert_int_equal(g->timeouts.connect_ms, 1500);
    assert_int_equal(g->timeouts.first_byte_ms, 4000);
    assert_int_equal(g->retry.max_attempts, 5);
    assert_int_equal(g->retry.backoff_base_ms, 100);
    assert_int_equal(g->retry.backoff_max_ms, 2000);
    assert_int_equal(g->retry.jitter, TG_JITTER_EQUAL);
    assert_false(g->retry.respect_retry_after);
    assert_int_equal(g->retry.max_retry_after_ms, 3000);
    assert_double(g->retry.budget_ratio, 0.5);
    assert_double(g->retry.budget_min_per_s, 7);
    assert_false(g->hedge.enabled);
    assert_double(g->hedge.quantile, 0.95);
    assert_int_equal(g->hedge.min_delay_ms, 10);
    assert_int_equal(g->hedge.max_delay_ms, 3000);
    assert_int_equal(g->hedge.initial_delay_ms, 500);
    assert_int_equal(g->hedge.min_samples, 50);
    assert_double(g->hedge.max_ratio, 0.25);
    assert_false(g->hedge.streaming);
    assert_false(g->validate.empty);
    assert_false(g->validate.refusal);
    assert_int_equal(g->validate.refusal_phrases.len, 2);
    assert_string_equal(g->validate.refusal_phrases.items[0], "Nope");
    assert_string_equal(g->validate.refusal_phrases.items[1], "No way");
    assert_int_equal(g->validate.truncation, TG_TRUNCATION_FAIL);
    assert_false(g->validate.json);
    assert_int_equal(g->cache.mode, TG_CACHE_ON);
    assert_int_equal(g->cache.ttl_s, 60);
    assert_int_equal(g->cache.stale_s, 3600);
    assert_int_equal(g->cache.max_bytes, 1024);

    const struct tg_breaker_cfg *b = &cfg->breaker;
    assert_int_equal(b->failure_threshold, 9);
    assert_double(b->error_rate, 0.75);
    assert_int_equal(b->min_requests, 40);
    assert_int_equal(b->window_ms, 30000);
    assert_int_equal(b->cooldown_ms, 15000);
    assert_int_equal(b->max_cooldown_ms, 120000);
    assert_int_equal(b->half_open_probes, 3);
    assert_double(b->latency_factor, 0);
    assert_int_equal(b->quota_cooldown_ms, 60000);

    assert_false(cfg->degraded.enabled);
    assert_int_equal(cfg->degraded.status, 200);
    assert_string_equal(cfg->degraded.message, "Back soon.");

    assert_int_equal(cfg->n_providers, 3);
    const struct tg_provider_cfg *oa = provider(cfg, "oa");
    assert_int_equal(oa->index, 0);
    assert_int_equal(oa->kind, TG_PROVIDER_OPENAI);
    assert_string_equal(oa->base_url, "https://api.example.com/v1"); /* trailing '/' dropped */
    assert_string_equal(oa->api_key_env, "TG_TEST_CONFIG_KEY");
    assert_non_null(oa->api_key);
    assert_string_equal(oa->api_key, "sk-test-123");
    assert_int_equal(oa->n_headers, 2);
    assert_string_equal(oa->headers[0].name, "OpenAI-Organization");
    assert_string_equal(oa->headers[0].value, "org-1");
    assert_string_equal(oa->headers[1].name, "X-Extra");
    assert_string_equal(oa->headers[1].value, "yes");
    assert_int_equal(oa->max_connections, 32);
    assert_false(oa->http2);
    assert_string_equal(oa->ca_file, ca);

    const struct tg_provider_cfg *an = provider(cfg, "an");
    assert_int_equal(an->index, 1);
    assert_int_equal(an->kind, TG_PROVIDER_ANTHROPIC);
    assert_string_equal(an->base_url, "http://127.0.0.1:9/v1");
    assert_string_equal(an->api_key_env, "");
    assert_null(an->api_key);

    const struct tg_provider_cfg *mk = provider(cfg, "mk");
    assert_int_equal(mk->kind, TG_PROVIDER_MOCK);
    assert_double(mk->mock.latency_ms, 5);
    assert_double(mk->mock.latency_p99_ms, 80.5);
    assert_double(mk->mock.tokens_per_s, 100);
    assert_int_equal(mk->mock.output_tokens, 33);
    assert_double(mk->mock.error_rate, 0.25);
    assert_int_equal(mk->mock.error_status, 429);
    assert_int_equal(mk->mock.seed, 42);

    assert_int_equal(cfg->n_deployments, 3);
    const struct tg_deployment_cfg *doa = tg_config_deployment(cfg, "d-oa");
    const struct tg_deployment_cfg *dan = tg_config_deployment(cfg, "d-an");
    const struct tg_deployment_cfg *dmk = tg_config_deployment(cfg, "d-mk");
    assert_non_null(doa);
    assert_non_null(dan);
    assert_non_null(dmk);
    assert_null(tg_config_deployment(cfg, "d-xx"));
    assert_ptr_equal(doa->provider, oa);
    assert_string_equal(doa->model, "gpt-x");
    assert_double(doa->weight, 3.5);
    assert_int_equal(doa->context_tokens, 128000);
    assert_double(doa->input_usd_per_mtok, 2.5);
    assert_double(doa->output_usd_per_mtok, 10); /* an integer for a float key */
    assert_double(doa->cached_input_usd_per_mtok, 1.25);
    assert_ptr_equal(dan->provider, an);
    assert_double(dan->weight, 1.0);
    assert_ptr_equal(dmk->provider, mk);
    assert_int_equal(dmk->index, 2);
    assert_double(dmk->weight, 0);

    assert_int_equal(cfg->n_routes, 3);
    const struct tg_route_cfg *main_r = route(cfg, "main");
    const struct tg_route_cfg *spare = route(cfg, "spare");
    const struct tg_route_cfg *cheap = route(cfg, "cheap");
    assert_int_equal(main_r->index, 0);
    assert_int_equal(spare->index, 1);
    assert_int_equal(cheap->index, 2);
    assert_int_equal(main_r->n_deployments, 2);
    assert_ptr_equal(main_r->deployments[0], doa);
    assert_ptr_equal(main_r->deployments[1], dan);
    assert_int_equal(main_r->n_fallbacks, 2);
    assert_ptr_equal(main_r->fallbacks[0], spare);
    assert_ptr_equal(main_r->fallbacks[1], cheap);
    assert_int_equal(main_r->n_context_window_fallbacks, 1);
    assert_ptr_equal(main_r->context_window_fallbacks[0], spare);
    assert_int_equal(main_r->n_content_policy_fallbacks, 1);
    assert_ptr_equal(main_r->content_policy_fallbacks[0], cheap);
    assert_int_equal(cheap->n_deployments, 2);
    assert_ptr_equal(cheap->deployments[0], dmk);
    assert_ptr_equal(cheap->deployments[1], dan);

    /* main's overrides on top of the (non-default) globals */
    const struct tg_policy *mp = &main_r->policy;
    assert_int_equal(mp->timeouts.request_ms, 8000);
    assert_int_equal(mp->timeouts.attempt_ms, 6000);
    assert_int_equal(mp->timeouts.first_byte_ms, 900);
    assert_int_equal(mp->retry.max_attempts, 2);
    assert_int_equal(mp->retry.jitter, TG_JITTER_NONE);
    assert_int_equal(mp->retry.backoff_base_ms, 100);
    assert_true(mp->hedge.enabled);
    assert_double(mp->hedge.quantile, 0.5);
    assert_int_equal(mp->hedge.min_samples, 50);
    assert_int_equal(mp->validate.truncation, TG_TRUNCATION_OFF);
    assert_int_equal(mp->validate.refusal_phrases.len, 1);
    assert_string_equal(mp->validate.refusal_phrases.items[0], "Sorry");
    assert_false(mp->validate.json);
    assert_int_equal(mp->cache.mode, TG_CACHE_OFF);
    assert_int_equal(mp->cache.ttl_s, 1);
    assert_int_equal(mp->cache.stale_s, 3600);
    assert_string_equal(main_r->overrides,
                        "timeouts.request_ms=8000 timeouts.first_byte_ms=900 retry.max_attempts=2 "
                        "retry.jitter=\"none\" hedge.enabled=true hedge.quantile=0.5 "
                        "validate.truncation=\"off\" validate.refusal_phrases=[1 items] "
                        "cache.mode=\"off\" cache.ttl_s=1");

    /* the other routes carry the globals */
    for (const struct tg_route_cfg *r = spare; r; r = r == spare ? cheap : NULL) {
        assert_string_equal(r->overrides, "");
        assert_int_equal(r->policy.timeouts.request_ms, 12000);
        assert_int_equal(r->policy.retry.max_attempts, 5);
        assert_false(r->policy.hedge.enabled);
        assert_int_equal(r->policy.validate.refusal_phrases.len, 2);
        assert_string_equal(r->policy.validate.refusal_phrases.items[1], "No way");
        assert_int_equal(r->policy.cache.mode, TG_CACHE_ON);
    }
    assert_int_equal(cfg->n_warnings, 0);

    tg_config_free(cfg);
    free(text);
    unsetenv("TG_TEST_CONFIG_KEY");
    unlink(cert);
    unlink(key);
    unlink(ca);
    free(cert);
    free(key);
    free(ca);
}

static void test_provider_kind_defaults(void **state)
{
    (void)state;
    unsetenv("OPENAI_API_KEY");
    unsetenv("ANTHROPIC_API_KEY");
    struct tg_config *cfg =
        load_ok("[[providers]]\nname = \"o\"\nkind = \"openai\"\n"
                "base_url = \"https://api.openai.com/v1///\"\n"
                "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n"
                "base_url = \"https://api.anthropic.com/v1\"\n"
                "[[deployments]]\nname = \"do\"\nprovider = \"o\"\nmodel = \"x\"\n"
                "[[deployments]]\nname = \"da\"\nprovider = \"a\"\nmodel = \"y\"\n"
                "[[deployments]]\nname = \"spare\"\nprovider = \"a\"\nmodel = \"z\"\n"
                "[[routes]]\nmodel = \"r\"\ndeployments = [\"do\", \"da\"]\n");
    const struct tg_provider_cfg *o = provider(cfg, "o");
    assert_string_equal(o->base_url, "https://api.openai.com/v1");
    assert_string_equal(o->api_key_env, "OPENAI_API_KEY");
    assert_null(o->api_key);
    assert_int_equal(o->max_connections, 256);
    assert_true(o->http2);
    assert_true(o->responses); /* an OpenAI provider serves /responses unless told */
    const struct tg_provider_cfg *a = provider(cfg, "a");
    assert_string_equal(a->api_key_env, "ANTHROPIC_API_KEY");
    assert_null(a->api_key);
    /* two unset keys and one deployment no route uses */
    assert_int_equal(cfg->n_warnings, 3);
    int key_o = 0, key_a = 0, unused = 0;
    for (size_t i = 0; i < cfg->n_warnings; i++) {
        key_o |= strstr(cfg->warnings[i], "OPENAI_API_KEY") != NULL;
        key_a |= strstr(cfg->warnings[i], "ANTHROPIC_API_KEY") != NULL;
        unused |= strstr(cfg->warnings[i], "\"spare\"") != NULL;
    }
    assert_true(key_o && key_a && unused);
    tg_config_free(cfg);

    /* The well-known variables only for the providers' own hosts: any other
     * base_url (a local model server, a proxy) gets no key unless it names one. */
    setenv("OPENAI_API_KEY", "sk-openai", 1);
    setenv("ANTHROPIC_API_KEY", "sk-anthropic", 1);
    cfg = load_ok("[[providers]]\nname = \"own\"\nkind = \"openai\"\n"
                  "base_url = \"https://API.OpenAI.com:443/v1\"\n"
                  "[[providers]]\nname = \"local\"\nkind = \"openai\"\n"
                  "base_url = \"http://127.0.0.1:11434/v1\"\n"
                  "[[providers]]\nname = \"lookalike\"\nkind = \"openai\"\n"
                  "base_url = \"https://api.openai.com.evil.example/v1\"\n"
                  "[[providers]]\nname = \"userinfo\"\nkind = \"openai\"\n"
                  "base_url = \"https://api.openai.com@proxy.example/v1\"\n"
                  "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n"
                  "base_url = \"https://api.anthropic.com/v1\"\n"
                  "[[providers]]\nname = \"a2\"\nkind = \"anthropic\"\n"
                  "base_url = \"http://localhost:8000/v1\"\n"
                  "[[providers]]\nname = \"named\"\nkind = \"openai\"\n"
                  "base_url = \"http://127.0.0.1:11434/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n"
                  "[[deployments]]\nname = \"d\"\nprovider = \"own\"\nmodel = \"x\"\n" ROUTE);
    assert_string_equal(provider(cfg, "own")->api_key, "sk-openai");
    assert_null(provider(cfg, "local")->api_key);
    assert_string_equal(provider(cfg, "local")->api_key_env, "");
    assert_null(provider(cfg, "lookalike")->api_key);
    assert_null(provider(cfg, "userinfo")->api_key);
    assert_string_equal(provider(cfg, "a")->api_key, "sk-anthropic");
    assert_null(provider(cfg, "a2")->api_key);
    assert_string_equal(provider(cfg, "named")->api_key, "sk-openai");
    tg_config_free(cfg);
    unsetenv("OPENAI_API_KEY");
    unsetenv("ANTHROPIC_API_KEY");

    /* an empty variable counts as unset */
    setenv("TG_TEST_EMPTY_KEY", "", 1);
    cfg = load_ok("[[providers]]\nname = \"o\"\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n"
                  "api_key_env = \"TG_TEST_EMPTY_KEY\"\n"
                  "[[deployments]]\nname = \"d\"\nprovider = \"o\"\nmodel = \"x\"\n" ROUTE);
    assert_null(cfg->providers[0].api_key);
    assert_int_equal(cfg->n_warnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "TG_TEST_EMPTY_KEY"));
    tg_config_free(cfg);
    unsetenv("TG_TEST_EMPTY_KEY");

    /* An OpenAI-compatible server without the Responses API: translated to chat. */
    cfg = load_ok("[[providers]]\nname = \"o\"\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n"
                  "api_key_env = \"\"\nresponses = false\n"
                  "[[deployments]]\nname = \"d\"\nprovider = \"o\"\nmodel = \"x\"\n" ROUTE);
    assert_false(cfg->providers[0].responses);
    tg_config_free(cfg);
}

/* Providers, deployments and routes may come in any order in the file, and the
 * global sections apply to routes written before them. */
static void test_order_independent(void **state)
{
    (void)state;
    struct tg_config *cfg =
        load_ok("[[routes]]\nmodel = \"a\"\ndeployments = [\"d\"]\n"
                "fallbacks = [\"b\"]\n"
                "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = \"x\"\n"
                "[retry]\nmax_attempts = 9\n"
                "[[routes]]\nmodel = \"b\"\ndeployments = [\"d\"]\n" PROVIDER
                "[timeouts]\nrequest_ms = 777\n");
    assert_int_equal(cfg->n_routes, 2);
    const struct tg_route_cfg *a = route(cfg, "a");
    const struct tg_route_cfg *b = route(cfg, "b");
    assert_ptr_equal(a->fallbacks[0], b);
    assert_ptr_equal(a->deployments[0]->provider, &cfg->providers[0]);
    assert_int_equal(a->policy.retry.max_attempts, 9);
    assert_int_equal(a->policy.timeouts.request_ms, 777);
    assert_int_equal(b->policy.timeouts.request_ms, 777);
    tg_config_free(cfg);
}

static void test_lookups_and_names(void **state)
{
    (void)state;
    struct tg_config *cfg =
        load_ok(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"gpt-4o\"\ndeployments = [\"d\"]\n"
                                    "[[routes]]\nmodel = \"gpt-4o-mini\"\ndeployments = [\"d\"]\n");
    /* by length, not NUL-terminated: the prefix of a longer name is not a match */
    const char *body = "gpt-4o-mini\"}";
    const struct tg_route_cfg *r = tg_config_route(cfg, body, 6);
    assert_non_null(r);
    assert_string_equal(r->model, "gpt-4o");
    r = tg_config_route(cfg, body, 11);
    assert_non_null(r);
    assert_string_equal(r->model, "gpt-4o-mini");
    assert_null(tg_config_route(cfg, body, 5));
    assert_null(tg_config_route(cfg, body, 12));
    assert_null(tg_config_route(cfg, "", 0));
    assert_non_null(tg_config_deployment(cfg, "d"));
    assert_null(tg_config_deployment(cfg, ""));
    tg_config_free(cfg);

    assert_string_equal(tg_provider_kind_name(TG_PROVIDER_OPENAI), "openai");
    assert_string_equal(tg_provider_kind_name(TG_PROVIDER_ANTHROPIC), "anthropic");
    assert_string_equal(tg_provider_kind_name(TG_PROVIDER_MOCK), "mock");
    assert_string_equal(tg_jitter_name(TG_JITTER_FULL), "full");
    assert_string_equal(tg_jitter_name(TG_JITTER_EQUAL), "equal");
    assert_string_equal(tg_jitter_name(TG_JITTER_NONE), "none");
    assert_string_equal(tg_truncation_name(TG_TRUNCATION_FLAG), "flag");
    assert_string_equal(tg_truncation_name(TG_TRUNCATION_FAIL), "fail");
    assert_string_equal(tg_truncation_name(TG_TRUNCATION_OFF), "off");
    assert_string_equal(tg_cache_mode_name(TG_CACHE_OFF), "off");
    assert_string_equal(tg_cache_mode_name(TG_CACHE_FALLBACK), "fallback");
    assert_string_equal(tg_cache_mode_name(TG_CACHE_ON), "on");
}

/* ---- per-route overrides ------------------------------------------------- */

static void test_route_override_inline(void **state)
{
    (void)state;
    struct tg_config *cfg =
        load_ok("[timeouts]\nattempt_ms = 4000\n" MINIMAL
                "timeouts = { request_ms = 8000, stream_idle_ms = 1500 }\n"
                "[[routes]]\nmodel = \"other\"\ndeployments = [\"d\"]\n");
    const struct tg_route_cfg *r = route(cfg, "r");
    const struct tg_route_cfg *o = route(cfg, "other");
    assert_int_equal(r->policy.timeouts.request_ms, 8000);
    assert_int_equal(r->policy.timeouts.attempt_ms, 4000); /* global, not overridden */
    assert_int_equal(r->policy.timeouts.connect_ms, 3000);
    assert_int_equal(r->policy.timeouts.stream_idle_ms, 1500);
    assert_string_equal(r->overrides, "timeouts.request_ms=8000 timeouts.stream_idle_ms=1500");
    assert_int_equal(o->policy.timeouts.request_ms, 600000);
    assert_int_equal(o->policy.timeouts.stream_idle_ms, 60000);
    assert_int_equal(o->policy.timeouts.attempt_ms, 4000);
    assert_string_equal(o->overrides, "");
    assert_int_equal(cfg->policy.timeouts.request_ms, 600000);
    tg_config_free(cfg);
}

static void test_route_override_subtables(void **state)
{
    (void)state;
    struct tg_config *cfg =
        load_ok(MINIMAL "[routes.retry]\nmax_attempts = 7\nrespect_retry_after = false\n"
                        "[routes.hedge]\nenabled = false\n"
                        "[routes.validate]\nempty = false\nrefusal_phrases = []\n"
                        "[routes.cache]\nmode = \"on\"\n"
                        "[routes.timeouts]\nconnect_ms = 100\n"
                        "[[routes]]\nmodel = \"other\"\ndeployments = [\"d\"]\n"
                        "[validate]\njson = false\n");
    const struct tg_route_cfg *r = route(cfg, "r");
    const struct tg_route_cfg *o = route(cfg, "other");
    assert_int_equal(r->policy.retry.max_attempts, 7);
    assert_false(r->policy.retry.respect_retry_after);
    assert_int_equal(r->policy.retry.backoff_base_ms, 250);
    assert_false(r->policy.hedge.enabled);
    assert_false(r->policy.validate.empty);
    assert_int_equal(r->policy.validate.refusal_phrases.len, 0);
    assert_false(r->policy.validate.json); /* global [validate] still applies */
    assert_int_equal(r->policy.cache.mode, TG_CACHE_ON);
    assert_int_equal(r->policy.timeouts.connect_ms, 100);
    assert_string_equal(r->overrides, "timeouts.connect_ms=100 retry.max_attempts=7 "
                                      "retry.respect_retry_after=false hedge.enabled=false "
                                      "validate.empty=false validate.refusal_phrases=[0 items] "
                                      "cache.mode=\"on\"");

    assert_int_equal(o->policy.retry.max_attempts, 3);
    assert_true(o->policy.retry.respect_retry_after);
    assert_true(o->policy.hedge.enabled);
    assert_true(o->policy.validate.empty);
    assert_int_equal(o->policy.validate.refusal_phrases.len, 5);
    assert_false(o->policy.validate.json);
    assert_int_equal(o->policy.cache.mode, TG_CACHE_FALLBACK);
    assert_int_equal(o->policy.timeouts.connect_ms, 3000);
    assert_string_equal(o->overrides, "");

    assert_int_equal(cfg->policy.retry.max_attempts, 3);
    assert_int_equal(cfg->policy.validate.refusal_phrases.len, 5);
    tg_config_free(cfg);
}

static void test_route_override_errors(void **state)
{
    (void)state;
    expect_error(MINIMAL "timeouts = { request_ms = @@0 }\n", "request_ms", "between", NULL);
    expect_error(MINIMAL "retry = { max_attempts = @@\"3\" }\n", "max_attempts", "integer", NULL);
    expect_error(MINIMAL "timeouts = { @@requst_ms = 1 }\n", "unknown key \"requst_ms\"",
                 "did you mean \"request_ms\"", NULL);
    expect_error(MINIMAL "[routes.hedge]\n@@enable = true\n", "unknown key \"enable\"",
                 "did you mean \"enabled\"", NULL);
    expect_error(MINIMAL "cache = { mode = @@\"sometimes\" }\n", "cache.mode", "\"fallback\"",
                 NULL);
    expect_error(MINIMAL "timeouts = @@8000\n", "timeouts", "table", NULL);
    /* a section that routes may not override */
    expect_error(MINIMAL "@@breaker = { failure_threshold = 1 }\n", "unknown key \"breaker\"",
                 NULL);
    expect_error(MINIMAL "@@server = { listen = \"127.0.0.1:1\" }\n", "unknown key \"server\"",
                 NULL);
    /* cross-key checks run on the route's resolved policy, pointing at the
     * override that caused them */
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = [\"d\"]\n"
                                     "retry = { @@backoff_base_ms = 9000 }\n",
                 "route \"r\"", "backoff_base_ms", "backoff_max_ms", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = [\"d\"]\n"
                                     "hedge = { @@min_delay_ms = 6000 }\n",
                 "route \"r\"", "min_delay_ms", "max_delay_ms", NULL);
}

/* ---- errors -------------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r@@\ndeployments = [\"d\"]\n",
                 "unterminated", NULL);
    expect_error("[server]\nlisten = \"127.0.0.1:1\"\n@@listen = \"127.0.0.1:2\"\n" MINIMAL, NULL);
    expect_error(MINIMAL "fallbacks = [\"a\",@@, ]\n", NULL);
}

/* Whatever position the TOML parser reports, the loader passes it on as
 * NAME:LINE:COL: with a message. */
static void test_syntax_error_prefix(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[server\n",      "[server]\nworkers = \n",   "[server]\nworkers = 1 2\n",
        "a = 1\na = 2\n", "[[routes]]\nmodel = 'x\n", "x = [1, 2\n",
        "\xff\xfe = 1\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tg_config_error err;
        struct tg_config *cfg = parse_len(bad[i], strlen(bad[i]), &err);
        if (cfg) {
            tg_config_free(cfg);
            fail_msg("case %zu loaded", i);
        }
        if (!well_formed(err.message, NAME))
            fail_msg("case %zu: malformed error \"%s\"", i, err.message);
    }
}

static void test_wrong_types(void **state)
{
    (void)state;
    /* string for an integer */
    expect_error("[server]\nworkers = @@\"2\"\n" MINIMAL, "server.workers", "integer", "string",
                 NULL);
    /* integer for a bool */
    expect_error("[hedge]\nenabled = @@1\n" MINIMAL, "hedge.enabled", "true or false", "integer",
                 NULL);
    /* float for an integer key */
    expect_error("[timeouts]\nrequest_ms = @@1500.0\n" MINIMAL, "timeouts.request_ms", "integer",
                 "float", NULL);
    expect_error("[server]\nmax_headers = @@1e2\n" MINIMAL, "max_headers", "integer", NULL);
    /* string for a float */
    expect_error("[retry]\nbudget_ratio = @@\"0.2\"\n" MINIMAL, "retry.budget_ratio", "number",
                 "string", NULL);
    /* bool for a string */
    expect_error("[server]\nlisten = @@true\n" MINIMAL, "server.listen", "string", "boolean", NULL);
    /* date for a string */
    expect_error("[degraded]\nmessage = @@1979-05-27\n" MINIMAL, "degraded.message", "string",
                 NULL);
    /* array for a string */
    expect_error("[server]\naccess_log = @@[\"-\"]\n" MINIMAL, "access_log", "string", "array",
                 NULL);
    /* enum: wrong value and wrong type */
    expect_error("[retry]\njitter = @@\"half\"\n" MINIMAL, "retry.jitter", "\"full\"", "\"equal\"",
                 "\"none\"", NULL);
    expect_error("[validate]\ntruncation = @@true\n" MINIMAL, "validate.truncation", "\"flag\"",
                 NULL);
    expect_error("[cache]\nmode = @@\"ON\"\n" MINIMAL, "cache.mode", NULL);
    /* string list */
    expect_error("[validate]\nrefusal_phrases = @@\"As an AI\"\n" MINIMAL,
                 "validate.refusal_phrases", "array", NULL);
    expect_error("[validate]\nrefusal_phrases = [\"a\", @@2]\n" MINIMAL, "validate.refusal_phrases",
                 "strings", "integer", NULL);
    /* a section that is not a table */
    expect_error("server = @@\"127.0.0.1:80\"\n" MINIMAL, "[server]", "table", NULL);
    expect_error("retry = @@3\n" MINIMAL, "[retry]", "table", NULL);
    expect_error("breaker = @@[]\n" MINIMAL, "[breaker]", "table", NULL);
    /* provider, deployment, route keys */
    expect_error("[[providers]]\nname = @@1\nkind = \"mock\"\n" DEPLOYMENT ROUTE, "providers.name",
                 "string", NULL);
    expect_error(
        "[[providers]]\nname = \"p\"\nkind = \"mock\"\nhttp2 = @@\"yes\"\n" DEPLOYMENT ROUTE,
        "providers.http2", "true or false", NULL);
    expect_error("[[providers]]\nname = \"p\"\nkind = @@\"bedrock\"\n" DEPLOYMENT ROUTE,
                 "providers.kind", "\"openai\"", "\"anthropic\"", "\"azure\"", "\"mock\"", NULL);
    expect_error(PROVIDER
                 "[[deployments]]\nname = \"d\"\nprovider = @@[\"p\"]\nmodel = \"m\"\n" ROUTE,
                 "provider", "string", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = \"m\"\n"
                          "weight = @@\"1\"\n" ROUTE,
                 "weight", "number", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = @@5\ndeployments = [\"d\"]\n",
                 "routes.model", "string", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = @@\"d\"\n",
                 "deployments", "array", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = [@@1]\n",
                 "deployments", NULL);
    expect_error(MINIMAL "fallbacks = @@\"x\"\n", "fallbacks", "array", NULL);
    expect_error(MINIMAL "content_policy_fallbacks = [@@{}]\n", "content_policy_fallbacks", NULL);
    /* the entries of providers/deployments/routes */
    expect_error("@@[providers]\nname = \"p\"\n" DEPLOYMENT ROUTE, "providers", "[[providers]]",
                 NULL);
    expect_error("routes = @@\"r\"\n" PROVIDER DEPLOYMENT, "routes", "[[routes]]", NULL);
    expect_error("providers = [@@1]\n" DEPLOYMENT ROUTE, "[[providers]]", "table", NULL);
    expect_error("deployments = [@@\"d\"]\n" PROVIDER ROUTE, "[[deployments]]", "table", NULL);
    expect_error("routes = [@@true]\n" PROVIDER DEPLOYMENT, "[[routes]]", "table", NULL);
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_error("[server]\nworkers = @@0\n" MINIMAL, "server.workers", "between 1 and 256",
                 "found 0", NULL);
    expect_error("[server]\nworkers = @@257\n" MINIMAL, "server.workers", "257", NULL);
    expect_error("[server]\nmax_connections = @@-1\n" MINIMAL, "max_connections", NULL);
    expect_error("[server]\nmax_header_bytes = @@9223372036854775807\n" MINIMAL, "max_header_bytes",
                 NULL);
    expect_error("[timeouts]\nrequest_ms = @@0\n" MINIMAL, "timeouts.request_ms", "between", NULL);
    expect_error("[retry]\nmax_attempts = @@0\n" MINIMAL, "retry.max_attempts", NULL);
    expect_error("[retry]\nbudget_ratio = @@-0.1\n" MINIMAL, "retry.budget_ratio", NULL);
    expect_error("[hedge]\nquantile = @@1.5\n" MINIMAL, "hedge.quantile", "1.5", NULL);
    expect_error("[hedge]\nquantile = @@nan\n" MINIMAL, "hedge.quantile", NULL);
    expect_error("[hedge]\nmax_ratio = @@inf\n" MINIMAL, "hedge.max_ratio", NULL);
    expect_error("[breaker]\nwindow_ms = @@999\n" MINIMAL, "breaker.window_ms", NULL);
    expect_error("[breaker]\nerror_rate = @@0\n" MINIMAL, "breaker.error_rate", NULL);
    expect_error("[cache]\nttl_s = @@-5\n" MINIMAL, "cache.ttl_s", NULL);
    expect_error("[degraded]\nstatus = @@199\n" MINIMAL, "degraded.status", "found 199", NULL);
    expect_error("[degraded]\nstatus = @@600\n" MINIMAL, "degraded.status", NULL);
    expect_error(
        "[[providers]]\nname = \"p\"\nkind = \"mock\"\nmax_connections = @@0\n" DEPLOYMENT ROUTE,
        "max_connections", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = \"m\"\n"
                          "weight = @@-1.0\n" ROUTE,
                 "weight", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = \"m\"\n"
                          "context_tokens = @@-1\n" ROUTE,
                 "context_tokens", NULL);
    /* strings have a length limit */
    char *long_msg = malloc(5000);
    assert_non_null(long_msg);
    memset(long_msg, 'x', 4999);
    long_msg[4999] = '\0';
    char *text = printf_alloc("[degraded]\nmessage = @@\"%s\"\n" MINIMAL, long_msg);
    expect_error(text, "degraded.message", "4096", NULL);
    free(text);
    free(long_msg);
    /* [server] addresses */
    expect_error("[server]\nlisten = @@\"8080\"\n" MINIMAL, "server.listen", "HOST:PORT", NULL);
    expect_error("[server]\nlisten = @@\":8080\"\n" MINIMAL, "server.listen", NULL);
    expect_error("[server]\nlisten = @@\"127.0.0.1:0\"\n" MINIMAL, "server.listen", "port", NULL);
    expect_error("[server]\nlisten = @@\"127.0.0.1:65536\"\n" MINIMAL, "server.listen", "port",
                 NULL);
    expect_error("[server]\nlisten = @@\"127.0.0.1:http\"\n" MINIMAL, "server.listen", "port",
                 NULL);
    expect_error("[server]\nlisten = @@\"\"\n" MINIMAL, "server.listen", NULL);
    expect_error("[server]\nadmin_listen = @@\"localhost\"\n" MINIMAL, "server.admin_listen", NULL);
    struct tg_config *cfg = load_ok("[server]\nlisten = \"[::1]:8080\"\n"
                                    "admin_listen = \"localhost:9\"\n" MINIMAL);
    assert_string_equal(cfg->server.listen, "[::1]:8080");
    tg_config_free(cfg);
}

/* Checks between two keys of one section. */
static void test_cross_key_checks(void **state)
{
    (void)state;
    /* the error points into the section at fault, not at the top of the file */
    int line, col;
    const char *marked =
        "# a comment\n[server]\nworkers = 1\n[retry]\n@@backoff_base_ms = 9000\n" MINIMAL;
    char *text = strip_mark(marked, &line, &col);
    struct tg_config_error err;
    struct tg_config *cfg = parse_len(text, strlen(text), &err);
    assert_null(cfg);
    assert_true(well_formed(err.message, NAME));
    assert_non_null(strstr(err.message, "retry.backoff_base_ms"));
    assert_non_null(strstr(err.message, "retry.backoff_max_ms"));
    free(text);
    int got_line = atoi(err.message + strlen(NAME) + 1);
    if (got_line != 4 && got_line != 5) /* the [retry] header or the key */
        fail_msg("\"%s\": expected the position of [retry] (line 4) or of the key (line 5)",
                 err.message);

    expect_error("@@[breaker]\ncooldown_ms = 20000\nmax_cooldown_ms = 10000\n" MINIMAL,
                 "breaker.cooldown_ms", "breaker.max_cooldown_ms", NULL);
    /* equal bounds are fine */
    cfg = load_ok("[retry]\nbackoff_base_ms = 500\nbackoff_max_ms = 500\n"
                  "[hedge]\nmin_delay_ms = 0\nmax_delay_ms = 0\n" MINIMAL);
    tg_config_free(cfg);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_error("[server]\n@@listn = \"127.0.0.1:1\"\n" MINIMAL, "unknown key \"listn\"",
                 "[server]", "did you mean \"listen\"", NULL);
    expect_error("[timeouts]\n@@request_s = 1\n" MINIMAL, "unknown key \"request_s\"", "[timeouts]",
                 "did you mean \"request_ms\"", NULL);
    expect_error("[retry]\n@@max_atempts = 1\n" MINIMAL, "unknown key \"max_atempts\"", "[retry]",
                 "did you mean \"max_attempts\"", NULL);
    expect_error("[hedge]\n@@quantle = 0.5\n" MINIMAL, "unknown key \"quantle\"", "[hedge]",
                 "did you mean \"quantile\"", NULL);
    expect_error("[breaker]\n@@window = 1000\n" MINIMAL, "unknown key \"window\"", "[breaker]",
                 NULL);
    expect_error("[validate]\n@@refusals = true\n" MINIMAL, "unknown key \"refusals\"",
                 "[validate]", "did you mean \"refusal\"", NULL);
    expect_error("[cache]\n@@ttl = 1\n" MINIMAL, "unknown key \"ttl\"", "[cache]", NULL);
    expect_error("[degraded]\n@@mesage = \"x\"\n" MINIMAL, "unknown key \"mesage\"", "[degraded]",
                 "did you mean \"message\"", NULL);
    expect_error("[[providers]]\nname = \"p\"\nkind = \"mock\"\n@@header = {}\n" DEPLOYMENT ROUTE,
                 "unknown key \"header\"", "did you mean \"headers\"", NULL);
    expect_error(
        "[[providers]]\nname = \"p\"\nkind = \"mock\"\n@@api_key = \"sk-1\"\n" DEPLOYMENT ROUTE,
        "unknown key \"api_key\"", NULL);
    expect_error(
        "[[providers]]\nname = \"p\"\nkind = \"mock\"\n@@base_ur = \"\"\n" DEPLOYMENT ROUTE,
        "unknown key \"base_ur\"", "did you mean \"base_url\"", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = \"m\"\n"
                          "@@wieght = 2\n" ROUTE,
                 "unknown key \"wieght\"", "did you mean \"weight\"", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\n@@providr = \"p\"\nmodel = \"m\"\n" ROUTE,
                 "unknown key \"providr\"", "did you mean \"provider\"", NULL);
    expect_error(MINIMAL "@@fallback = []\n", "unknown key \"fallback\"",
                 "did you mean \"fallbacks\"", NULL);
    expect_error(MINIMAL "@@breaker = {}\n", "unknown key \"breaker\"", NULL);
    /* far from every known key: no suggestion */
    expect_error("[server]\n@@zzzzzzzz = 1\n" MINIMAL, "unknown key \"zzzzzzzz\"", NULL);
    struct tg_config_error err;
    const char *far = "[server]\nzzzzzzzz = 1\n" MINIMAL;
    assert_null(parse_len(far, strlen(far), &err));
    assert_null(strstr(err.message, "did you mean"));
    /* a dotted key creates a sub-table inside a section: still unknown */
    expect_error("[server]\n@@tls.cert = \"x\"\n" MINIMAL, "unknown key \"tls\"", NULL);
}

static void test_unknown_top_level(void **state)
{
    (void)state;
    expect_error("[@@sever]\nlisten = \"127.0.0.1:1\"\n" MINIMAL, "unknown key \"sever\"",
                 "top level", "did you mean \"server\"", NULL);
    expect_error(MINIMAL "[@@timeout]\nrequest_ms = 1\n", "unknown key \"timeout\"",
                 "did you mean \"timeouts\"", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[@@route]]\nmodel = \"r\"\ndeployments = [\"d\"]\n",
                 "unknown key \"route\"", "did you mean \"routes\"", NULL);
    expect_error("@@title = \"gateway\"\n" MINIMAL, "unknown key \"title\"", "top level", NULL);
    expect_error("[@@metrics]\nenabled = true\n" MINIMAL, "unknown key \"metrics\"", NULL);
}

static void test_section8_tables(void **state)
{
    (void)state;
    /* [budget]: the cost ceiling and the gateway's hourly spend cap. */
    struct tg_config *cfg = load_ok("[budget]\nusd_per_hour = 2.5\n" MINIMAL);
    assert_double(cfg->budget.usd_per_hour, 2.5);
    tg_config_free(cfg);
    expect_error("[budget]\nusd_per_hour = @@-0.5\n" MINIMAL, "usd_per_hour", "between", NULL);
    expect_error("[budget]\nusd_per_hour = @@\"1\"\n" MINIMAL, "usd_per_hour", NULL);
    expect_error("[budget]\nmax_request_usd = @@-1\n" MINIMAL, "max_request_usd", "between",
                 NULL);
    expect_error("[budget]\n@@max_request = 1\n" MINIMAL, "unknown key \"max_request\"", NULL);
    expect_error("[idempotency]\nttl_s = @@-1\n" MINIMAL, "ttl_s", "between", NULL);
    expect_error("[idempotency]\n@@ttl = 1\n" MINIMAL, "unknown key \"ttl\"", NULL);
}

/* [shared]: off by default; the URL read into host, port and db; the
 * password from its variable; what is refused, and where. */
static void test_shared(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok(MINIMAL);
    assert_string_equal(cfg->shared.redis_url, "");
    assert_int_equal(cfg->shared.timeout_ms, 50);
    assert_string_equal(cfg->shared.key_prefix, "tailgate:");
    assert_null(cfg->shared.host);
    tg_config_free(cfg);

    cfg = load_ok("[shared]\nredis_url = \"redis://10.0.0.5:6380/3\"\ntimeout_ms = 20\n" MINIMAL);
    assert_string_equal(cfg->shared.host, "10.0.0.5");
    assert_int_equal(cfg->shared.port, 6380);
    assert_int_equal(cfg->shared.db, 3);
    assert_int_equal(cfg->shared.timeout_ms, 20);
    assert_null(cfg->shared.password);
    tg_config_free(cfg);

    cfg = load_ok("[shared]\nredis_url = \"redis://[::1]\"\n" MINIMAL);
    assert_string_equal(cfg->shared.host, "::1");
    assert_int_equal(cfg->shared.port, 6379);
    assert_int_equal(cfg->shared.db, 0);
    tg_config_free(cfg);

    setenv("TG_TEST_REDIS_PW", "s3cret", 1);
    cfg = load_ok("[shared]\nredis_url = \"redis://cache.internal\"\n"
                  "password_env = \"TG_TEST_REDIS_PW\"\n" MINIMAL);
    assert_string_equal(cfg->shared.host, "cache.internal");
    assert_string_equal(cfg->shared.password, "s3cret");
    tg_config_free(cfg);

    expect_error("[shared]\nredis_url = @@\"redis://:pw@host\"\n" MINIMAL, "shared.redis_url",
                 "password_env", NULL);
    expect_error("[shared]\nredis_url = @@\"rediss://host\"\n" MINIMAL, "TLS", NULL);
    expect_error("[shared]\nredis_url = @@\"http://host\"\n" MINIMAL, "redis://", NULL);
    expect_error("[shared]\nredis_url = @@\"redis://host:0\"\n" MINIMAL, "port", NULL);
    expect_error("[shared]\nredis_url = @@\"redis://host:6379/x\"\n" MINIMAL, "db number",
                 NULL);
    expect_error("[shared]\nredis_url = @@\"redis://\"\n" MINIMAL, "no host", NULL);
    expect_error("[shared]\nredis_url = @@\"redis://[::1\"\n" MINIMAL, "IPv6", NULL);
    expect_error("[shared]\nredis_url = \"redis://h\"\npassword_env = @@\"TG_TEST_UNSET_VAR\"\n"
                 MINIMAL, "TG_TEST_UNSET_VAR", "unset", NULL);
    expect_error("[shared]\ntimeout_ms = @@0\n" MINIMAL, "shared.timeout_ms", "between", NULL);
    expect_error("[shared]\n@@redis = \"x\"\n" MINIMAL, "unknown key \"redis\"", NULL);
}

/* [telemetry] (SPEC section 9): off by default; a collector's base URL made
 * its traces URL as OpenTelemetry's exporters make it, a URL with a path
 * kept; every value read back; what is refused, and where. */
static void test_telemetry(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok(MINIMAL);
    const struct tg_telemetry_cfg *t = &cfg->telemetry;
    assert_string_equal(t->otlp_endpoint, "");
    assert_null(t->traces_url); /* off */
    assert_double(t->sample_ratio, 1.0);
    assert_string_equal(t->service_name, "tailgate");
    assert_int_equal(t->queue_spans, 2048);
    assert_int_equal(t->batch_spans, 512);
    assert_int_equal(t->flush_ms, 1000);
    assert_int_equal(t->timeout_ms, 5000);
    assert_int_equal(t->n_headers, 0);
    tg_config_free(cfg);

    cfg = load_ok("[telemetry]\n" MINIMAL);
    assert_null(cfg->telemetry.traces_url);
    tg_config_free(cfg);
    cfg = load_ok("[telemetry]\notlp_endpoint = \"\"\nsample_ratio = 0.5\n" MINIMAL);
    assert_null(cfg->telemetry.traces_url);
    tg_config_free(cfg);

    static const struct {
        const char *endpoint, *traces_url;
    } urls[] = {
        {"http://h:4318", "http://h:4318/v1/traces"},
        {"http://h:4318/", "http://h:4318/v1/traces"},
        {"http://h:4318//", "http://h:4318/v1/traces"},
        {"https://collector.example.com", "https://collector.example.com/v1/traces"},
        {"http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"},
        {"http://[::1]:4318/", "http://[::1]:4318/v1/traces"},
        {"https://h/otlp/v1/traces", "https://h/otlp/v1/traces"},
        {"http://h:4318/v1/traces", "http://h:4318/v1/traces"},
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char *text =
            printf_alloc("[telemetry]\notlp_endpoint = \"%s\"\n" MINIMAL, urls[i].endpoint);
        cfg = load_ok(text);
        assert_string_equal(cfg->telemetry.otlp_endpoint, urls[i].endpoint);
        if (!cfg->telemetry.traces_url || strcmp(cfg->telemetry.traces_url, urls[i].traces_url))
            fail_msg("%s: traces URL %s, expected %s", urls[i].endpoint,
                     cfg->telemetry.traces_url ? cfg->telemetry.traces_url : "(none)",
                     urls[i].traces_url);
        tg_config_free(cfg);
        free(text);
    }

    cfg = load_ok(
        "[telemetry]\notlp_endpoint = \"http://otel:4318\"\nsample_ratio = 0.25\n"
        "service_name = \"gw-eu\"\nqueue_spans = 100\nbatch_spans = 100\n"
        "flush_ms = 250\ntimeout_ms = 2000\n"
        "headers = { \"x-honeycomb-team\" = \"k3y\", Authorization = \"Basic YTpi\" }\n" MINIMAL);
    t = &cfg->telemetry;
    assert_double(t->sample_ratio, 0.25);
    assert_string_equal(t->service_name, "gw-eu");
    assert_int_equal(t->queue_spans, 100);
    assert_int_equal(t->batch_spans, 100); /* equal to the queue: allowed */
    assert_int_equal(t->flush_ms, 250);
    assert_int_equal(t->timeout_ms, 2000);
    assert_int_equal(t->n_headers, 2);
    assert_string_equal(t->headers[0].name, "x-honeycomb-team");
    assert_string_equal(t->headers[0].value, "k3y");
    assert_string_equal(t->headers[1].name, "Authorization");
    assert_string_equal(t->headers[1].value, "Basic YTpi");
    tg_config_free(cfg);

    cfg = load_ok("[telemetry]\nsample_ratio = 0\n" MINIMAL);
    assert_double(cfg->telemetry.sample_ratio, 0.0);
    tg_config_free(cfg);
    cfg = load_ok("[telemetry.headers]\nx-key = \"v\"\n" MINIMAL);
    assert_int_equal(cfg->telemetry.n_headers, 1);
    tg_config_free(cfg);

    expect_error("[telemetry]\notlp_endpoint = @@\"grpc://h:4317\"\n" MINIMAL,
                 "telemetry.otlp_endpoint", "http://", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"h:4318\"\n" MINIMAL, "http://", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"HTTP://h:4318\"\n" MINIMAL, "http://", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"http://\"\n" MINIMAL, "telemetry.otlp_endpoint",
                 "not a collector URL", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"http:///v1/traces\"\n" MINIMAL,
                 "not a collector URL", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"http://h:4318/v1/traces?x=1\"\n" MINIMAL,
                 "not a collector URL", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"http://h:4318#f\"\n" MINIMAL,
                 "not a collector URL", NULL);
    expect_error("[telemetry]\notlp_endpoint = @@\"http://h 4318\"\n" MINIMAL,
                 "not a collector URL", NULL);
    /* Host and port: none, an empty one, not a number, out of range. */
    static const char *const bad_authority[] = {"http://:4318", "http://h:", "http://h:notaport",
                                                "http://h:99999", "http://h:0", "http://[]:4318",
                                                "http://[::1", "http://[::1]x:4318",
                                                "https://h:4318:1/v1/traces"};
    for (size_t i = 0; i < sizeof(bad_authority) / sizeof(bad_authority[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "[telemetry]\notlp_endpoint = @@\"%s\"\n" MINIMAL,
                 bad_authority[i]);
        expect_error(text, "not a collector URL", NULL);
    }
    static const char *const good_authority[] = {"http://h", "http://h:1", "http://h:65535/x",
                                                 "http://[::1]:4318", "https://[::1]/v1/traces",
                                                 "http://10.0.0.1:4318"};
    for (size_t i = 0; i < sizeof(good_authority) / sizeof(good_authority[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "[telemetry]\notlp_endpoint = \"%s\"\n" MINIMAL,
                 good_authority[i]);
        tg_config_free(load_ok(text));
    }
    expect_error("[telemetry]\nsample_ratio = @@1.5\n" MINIMAL, "telemetry.sample_ratio", "between",
                 NULL);
    expect_error("[telemetry]\nsample_ratio = @@-0.1\n" MINIMAL, "telemetry.sample_ratio",
                 "between", NULL);
    expect_error("[telemetry]\nsample_ratio = @@nan\n" MINIMAL, "telemetry.sample_ratio", NULL);
    expect_error("[telemetry]\nsample_ratio = @@\"1\"\n" MINIMAL, "telemetry.sample_ratio", NULL);
    expect_error("[telemetry]\nservice_name = @@\"\"\n" MINIMAL, "telemetry.service_name", "empty",
                 NULL);
    expect_error("[telemetry]\nqueue_spans = @@0\n" MINIMAL, "telemetry.queue_spans", "between",
                 NULL);
    expect_error("[telemetry]\nflush_ms = @@0\n" MINIMAL, "telemetry.flush_ms", "between", NULL);
    expect_error("[telemetry]\ntimeout_ms = @@-5\n" MINIMAL, "telemetry.timeout_ms", "between",
                 NULL);
    expect_error("@@[telemetry]\nqueue_spans = 100\nbatch_spans = 101\n" MINIMAL,
                 "telemetry.batch_spans", "telemetry.queue_spans", NULL);
    expect_error("@@[telemetry]\nbatch_spans = 4096\n" MINIMAL, "telemetry.batch_spans", NULL);
    expect_error("[telemetry]\n@@endpoint = \"http://h:4318\"\n" MINIMAL,
                 "unknown key \"endpoint\"", NULL);
    expect_error("[telemetry]\nheaders = { X-A = @@\"a\\r\\nX-Injected: 1\" }\n" MINIMAL, "X-A",
                 "line breaks", NULL);
    expect_error("[telemetry]\nheaders = { X-A = @@\"a\\nb\" }\n" MINIMAL, "line breaks", NULL);
    expect_error("[telemetry]\nheaders = { @@\"Bad Name\" = \"x\" }\n" MINIMAL, "header name",
                 NULL);
    expect_error("[telemetry]\nheaders = { X-A = @@1 }\n" MINIMAL, "telemetry.X-A", "string", NULL);
    expect_error("[telemetry]\nheaders = @@\"x\"\n" MINIMAL, "headers", NULL);
    expect_error("telemetry = @@1\n" MINIMAL, "telemetry", NULL);
}

/* [background]: defaults, values, and what is refused. */
static void test_background(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok(MINIMAL);
    assert_int_equal(cfg->background.max_attempts, 6);
    assert_int_equal(cfg->background.request_ms, 1800000);
    assert_string_equal(cfg->background.dlq_path, "tailgate-dlq.jsonl");
    tg_config_free(cfg);
    cfg = load_ok("[background]\nmax_attempts = 9\nrequest_ms = 5000\n"
                  "dlq_path = \"/var/lib/tailgate/dlq.jsonl\"\n" MINIMAL);
    assert_int_equal(cfg->background.max_attempts, 9);
    assert_int_equal(cfg->background.request_ms, 5000);
    assert_string_equal(cfg->background.dlq_path, "/var/lib/tailgate/dlq.jsonl");
    tg_config_free(cfg);
    expect_error("[background]\nmax_attempts = @@0\n" MINIMAL, "background.max_attempts",
                 "between", NULL);
    expect_error("[background]\nrequest_ms = @@-1\n" MINIMAL, "background.request_ms", "between",
                 NULL);
    expect_error("[background]\ndlq_path = @@\"\"\n" MINIMAL, "background.dlq_path",
                 "may not be empty", NULL);
    expect_error("[background]\ndlq_path = @@3\n" MINIMAL, "background.dlq_path", "string",
                 NULL);
    expect_error("[background]\n@@max_attempt = 2\n" MINIMAL, "unknown key \"max_attempt\"",
                 "did you mean \"max_attempts\"", NULL);
}

#define KEY_A "[[auth.keys]]\nname = \"team-a\"\nkey_sha256 = \"" SHA_EMPTY "\"\n"
/* SHA-256 of "" and of "abc" (FIPS 180-2's example; $TG_TEST_KEY_B). */
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_keys(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok(MINIMAL KEY_A "models = [\"m*\", \"x/[ab]\"]\nrpm = 3\n"
                                            "tpm = 1000\nmax_request_usd = 0.5\n"
                                            "usd_per_hour = 12.5\n[[auth.keys]]\nname = \"team-b\"\nkey_env = "
                                            "\"TG_TEST_KEY_B\"\n"
                                            "[budget]\nmax_request_usd = 2\n");
    assert_int_equal(cfg->n_keys, 2);
    const struct tg_key_cfg *a = &cfg->keys[0], *b = &cfg->keys[1];
    assert_string_equal(a->name, "team-a");
    assert_int_equal(a->sha256[0], 0xe3);
    assert_int_equal(a->sha256[31], 0x55);
    assert_int_equal(a->rpm, 3);
    assert_int_equal(a->tpm, 1000);
    assert_double(a->max_request_usd, 0.5);
    assert_double(b->max_request_usd, 0);
    assert_double(a->usd_per_hour, 12.5);
    assert_double(b->usd_per_hour, 0); /* no cap */
    assert_double(cfg->budget.max_request_usd, 2);
    assert_double(cfg->budget.usd_per_hour, 0);
    assert_true(tg_key_allows(a, "m"));
    assert_true(tg_key_allows(a, "m-large/v2")); /* '*' crosses '/' */
    assert_true(tg_key_allows(a, "x/b"));
    assert_false(tg_key_allows(a, "x/c"));
    assert_false(tg_key_allows(a, "gpt"));
    /* key_env: the hash of the variable's value; models default to every route */
    assert_string_equal(b->key_env, "TG_TEST_KEY_B");
    assert_int_equal(b->sha256[0], 0xba);
    assert_int_equal(b->sha256[31], 0xad);
    assert_int_equal(b->models.len, 1);
    assert_true(tg_key_allows(b, "anything/at-all"));
    assert_int_equal(b->rpm, 0);
    tg_config_free(cfg);

    cfg = load_ok(MINIMAL KEY_A "models = [\"nothing-*\"]\n");
    assert_int_equal(cfg->n_warnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "may call no route"));
    tg_config_free(cfg);
}

static void test_key_errors(void **state)
{
    (void)state;
    expect_error(MINIMAL "@@[[auth.keys]]\nkey_sha256 = \"" SHA_ABC "\"\n", "\"name\"", NULL);
    expect_error(MINIMAL KEY_A "[[auth.keys]]\nname = @@\"team-a\"\nkey_env = \"X\"\n",
                 "duplicate key name \"team-a\"", NULL);
    expect_error(MINIMAL "@@[[auth.keys]]\nname = \"k\"\n", "exactly one of key_sha256 and key_env",
                 NULL);
    expect_error(MINIMAL "[[auth.keys]]\nname = \"k\"\n@@key_sha256 = \"" SHA_ABC "\"\n"
                         "key_env = \"X\"\n",
                 "exactly one", NULL);
    expect_error(MINIMAL "[[auth.keys]]\nname = \"k\"\nkey_sha256 = @@\"abc\"\n", "64 hex", NULL);
    expect_error(MINIMAL "[[auth.keys]]\nname = \"k\"\nkey_sha256 = "
                         "@@\"zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n",
                 "64 hex", NULL);
    expect_error(MINIMAL "[[auth.keys]]\nname = \"k\"\nkey_env = @@\"TG_TEST_UNSET_VAR\"\n",
                 "\"TG_TEST_UNSET_VAR\"", "unset or empty", NULL);
    expect_error(MINIMAL "[[auth.keys]]\nname = \"k\"\nkey_env = @@\"TG_TEST_EMPTY_VAR\"\n",
                 "\"TG_TEST_EMPTY_VAR\"", "unset or empty", NULL);
    expect_error(MINIMAL KEY_A "[[auth.keys]]\nname = \"b\"\nkey_sha256 = @@\"" SHA_EMPTY "\"\n",
                 "\"team-a\" and \"b\" are the same key", NULL);
    expect_error(MINIMAL "[[auth.keys]]\nname = \"a\"\nkey_sha256 = \"" SHA_ABC "\"\n"
                         "[[auth.keys]]\nname = \"b\"\nkey_env = @@\"TG_TEST_KEY_B\"\n",
                 "same key", NULL);
    expect_error(MINIMAL KEY_A "rpm = @@-1\n", "rpm", "between", NULL);
    expect_error(MINIMAL KEY_A "tpm = @@\"1000\"\n", "tpm", "integer", NULL);
    expect_error(MINIMAL KEY_A "models = @@\"m\"\n", "models", "array", NULL);
    expect_error(MINIMAL KEY_A "@@rmp = 1\n", "unknown key \"rmp\"", "[[auth.keys]]",
                 "did you mean \"rpm\"", NULL);
    expect_error(MINIMAL KEY_A "usd_per_hour = @@-1.0\n", "usd_per_hour", "between", NULL);
    expect_error(MINIMAL KEY_A "usd_per_hour = @@true\n", "usd_per_hour", NULL);
    expect_error(MINIMAL "[auth]\n@@key = 1\n", "unknown key \"key\"", "[auth]", NULL);
    expect_error("auth = @@1\n" MINIMAL, "[auth]", "table", NULL);
    expect_error("auth.keys = @@1\n" MINIMAL, "[[auth.keys]]", NULL);
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("@@[[providers]]\nkind = \"mock\"\n" DEPLOYMENT ROUTE, "[[providers]]", "\"name\"",
                 NULL);
    expect_error(PROVIDER "@@[[providers]]\nname = \"q\"\n" DEPLOYMENT ROUTE, "provider \"q\"",
                 "\"kind\"", NULL);
    expect_error(PROVIDER "@@[[deployments]]\nprovider = \"p\"\nmodel = \"m\"\n" ROUTE,
                 "[[deployments]]", "\"name\"", NULL);
    expect_error(PROVIDER "@@[[deployments]]\nname = \"d\"\nmodel = \"m\"\n" ROUTE,
                 "deployment \"d\"", "\"provider\"", NULL);
    expect_error(PROVIDER "@@[[deployments]]\nname = \"d\"\nprovider = \"p\"\n" ROUTE,
                 "deployment \"d\"", "\"model\"", NULL);
    expect_error(PROVIDER DEPLOYMENT "@@[[routes]]\ndeployments = [\"d\"]\n", "[[routes]]",
                 "\"model\"", NULL);
    expect_error(PROVIDER DEPLOYMENT "@@[[routes]]\nmodel = \"r\"\n", "route \"r\"",
                 "\"deployments\"", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = @@[]\n",
                 "route \"r\"", "at least one", NULL);
    /* the second entry of three, not the first */
    expect_error(PROVIDER DEPLOYMENT ROUTE "@@[[routes]]\ndeployments = [\"d\"]\n"
                                           "[[routes]]\nmodel = \"z\"\ndeployments = [\"d\"]\n",
                 "\"model\"", NULL);
    /* required names may not be empty */
    expect_error("[[providers]]\nname = @@\"\"\nkind = \"mock\"\n" DEPLOYMENT ROUTE,
                 "providers.name", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = @@\"\"\nprovider = \"p\"\nmodel = \"m\"\n" ROUTE,
                 "deployments.name", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = @@\"\"\ndeployments = [\"d\"]\n",
                 "routes.model", NULL);
    /* nothing to serve */
    expect_error("@@", "no [[routes]]", NULL);
    expect_error("@@" PROVIDER DEPLOYMENT, "no [[routes]]", NULL);
}

/* A deployment's model is the provider's model id: required, so not empty. */
static void test_deployment_model_not_empty(void **state)
{
    (void)state;
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\nprovider = \"p\"\nmodel = @@\"\"\n" ROUTE,
                 "model", NULL);
}

static void test_duplicates(void **state)
{
    (void)state;
    expect_error(PROVIDER "[[providers]]\nname = @@\"p\"\nkind = \"mock\"\n" DEPLOYMENT ROUTE,
                 "duplicate provider name \"p\"", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[deployments]]\nname = @@\"d\"\nprovider = \"p\"\n"
                                     "model = \"m2\"\n" ROUTE,
                 "duplicate deployment name \"d\"", NULL);
    expect_error(MINIMAL "[[routes]]\nmodel = @@\"r\"\ndeployments = [\"d\"]\n", "duplicate route",
                 "\"r\"", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = [\"d\", @@\"d\"]\n",
                 "route \"r\"", "\"d\" twice", NULL);
    expect_error(MINIMAL "fallbacks = [\"s\", @@\"s\"]\n"
                         "[[routes]]\nmodel = \"s\"\ndeployments = [\"d\"]\n",
                 "route \"r\"", "\"s\" twice", "fallbacks", NULL);
    /* the same name in two different kinds of list is fine */
    struct tg_config *cfg =
        load_ok(PROVIDER DEPLOYMENT "[[deployments]]\nname = \"p\"\nprovider = \"p\"\n"
                                    "model = \"m\"\n" ROUTE "fallbacks = [\"s\"]\n"
                                    "context_window_fallbacks = [\"s\"]\n"
                                    "[[routes]]\nmodel = \"s\"\ndeployments = [\"p\"]\n");
    tg_config_free(cfg);
}

static void test_dangling_references(void **state)
{
    (void)state;
    expect_error(PROVIDER
                 "[[deployments]]\nname = \"d\"\nprovider = @@\"nope\"\nmodel = \"m\"\n" ROUTE,
                 "deployment \"d\"", "provider \"nope\"", "not defined", NULL);
    /* no providers at all */
    expect_error("[[deployments]]\nname = \"d\"\nprovider = @@\"p\"\nmodel = \"m\"\n" ROUTE,
                 "provider \"p\"", "not defined", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = [\"d\", @@\"e\"]\n",
                 "route \"r\"", "deployment \"e\"", "not defined", NULL);
    /* names are exact: no case folding */
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = \"r\"\ndeployments = [@@\"D\"]\n",
                 "deployment \"D\"", NULL);
    expect_error(MINIMAL "fallbacks = [@@\"gpt-5\"]\n", "route \"r\"", "fallbacks", "\"gpt-5\"",
                 NULL);
    expect_error(MINIMAL "context_window_fallbacks = [@@\"big\"]\n", "context_window_fallbacks",
                 "\"big\"", NULL);
    expect_error(MINIMAL "content_policy_fallbacks = [@@\"lenient\"]\n", "content_policy_fallbacks",
                 "\"lenient\"", NULL);
    /* a fallback names a route's model, not a deployment */
    expect_error(MINIMAL "fallbacks = [@@\"d\"]\n", "\"d\"", NULL);
}

/* Names may not hold a NUL (TOML "\u0000"). */
static void test_nul_in_names(void **state)
{
    (void)state;
    expect_error("[[providers]]\nname = @@\"p\\u0000x\"\nkind = \"mock\"\n" DEPLOYMENT ROUTE,
                 "providers.name", "NUL", NULL);
    expect_error(PROVIDER "[[deployments]]\nname = @@\"d\\u0000y\"\nprovider = \"p\"\n"
                          "model = \"m\"\n" ROUTE,
                 "deployments.name", "NUL", NULL);
    expect_error(PROVIDER DEPLOYMENT "[[routes]]\nmodel = @@\"r\\u0000\"\ndeployments = [\"d\"]\n",
                 "routes.model", NULL);
}

/* A reference with an embedded NUL is not the name before the NUL. */
static void test_nul_in_references(void **state)
{
    (void)state;
    expect_error(PROVIDER "[[deployments]]\nname = \"d\"\nprovider = @@\"p\\u0000x\"\n"
                          "model = \"m\"\n" ROUTE,
                 "provider", NULL);
    expect_error(PROVIDER DEPLOYMENT
                 "[[routes]]\nmodel = \"r\"\ndeployments = [@@\"d\\u0000tail\"]\n",
                 "deployment", NULL);
}

/* tg_config_route() takes a length: a NUL inside it must not end the
 * comparison early (it read past the route's model, found by ASan). These
 * run last, since an ASan report aborts the binary. */
static void test_route_lookup_embedded_nul(void **state)
{
    (void)state;
    struct tg_config *cfg = load_ok(MINIMAL);
    static const char model[] = "r\0zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
    assert_null(tg_config_route(cfg, model, sizeof(model) - 1));
    assert_null(tg_config_route(cfg, model, 2));
    assert_non_null(tg_config_route(cfg, model, 1));
    tg_config_free(cfg);
}

static void test_nul_in_fallback_reference(void **state)
{
    (void)state;
    expect_error(MINIMAL "fallbacks = [@@\"s\\u0000zzzzzzzzzzzzzzzzzzzzzzzz\"]\n"
                         "[[routes]]\nmodel = \"s\"\ndeployments = [\"d\"]\n",
                 "fallbacks", NULL);
}

static void test_fallback_self(void **state)
{
    (void)state;
    expect_error(MINIMAL "fallbacks = [@@\"r\"]\n", "route \"r\" lists itself", "fallbacks", NULL);
    expect_error(MINIMAL "context_window_fallbacks = [@@\"r\"]\n", "itself",
                 "context_window_fallbacks", NULL);
    expect_error(MINIMAL "content_policy_fallbacks = [@@\"r\"]\n", "itself",
                 "content_policy_fallbacks", NULL);
}

#define RT(m, extra) "[[routes]]\nmodel = \"" m "\"\ndeployments = [\"d\"]\n" extra

static void test_fallback_cycles(void **state)
{
    (void)state;
    /* length 2: found at the entry that closes it */
    expect_error(PROVIDER DEPLOYMENT RT("a", "fallbacks = [\"b\"]\n")
                     RT("b", "fallbacks = [@@\"a\"]\n"),
                 "fallback cycle", "\"a\" -> \"b\" -> \"a\"", NULL);
    /* length 3 */
    expect_error(PROVIDER DEPLOYMENT RT("a", "fallbacks = [\"b\"]\n")
                     RT("b", "fallbacks = [\"c\"]\n") RT("c", "fallbacks = [\"x\", @@\"a\"]\n")
                         RT("x", ""),
                 "fallback cycle", "\"a\" -> \"b\" -> \"c\" -> \"a\"", NULL);
    /* through context_window_fallbacks and content_policy_fallbacks */
    expect_error(PROVIDER DEPLOYMENT RT("a", "context_window_fallbacks = [\"b\"]\n")
                     RT("b", "fallbacks = [@@\"a\"]\n"),
                 "fallback cycle", "\"a\" -> \"b\" -> \"a\"", NULL);
    expect_error(PROVIDER DEPLOYMENT RT("a", "fallbacks = [\"b\"]\n")
                     RT("b", "context_window_fallbacks = [\"c\"]\n")
                         RT("c", "content_policy_fallbacks = [@@\"a\"]\n"),
                 "fallback cycle", "\"a\" -> \"b\" -> \"c\" -> \"a\"", NULL);
    /* a cycle not through the first route: the chain shows only the cycle */
    expect_error(PROVIDER DEPLOYMENT RT("a", "fallbacks = [\"b\"]\n")
                     RT("b", "fallbacks = [\"c\"]\n") RT("c", "fallbacks = [@@\"b\"]\n"),
                 "fallback cycle", "\"b\" -> \"c\" -> \"b\"", NULL);

    /* a diamond is not a cycle; neither is a long chain */
    struct tg_config *cfg =
        load_ok(PROVIDER DEPLOYMENT RT("a", "fallbacks = [\"b\", \"c\"]\n"
                                            "context_window_fallbacks = [\"d\"]\n")
                    RT("b", "fallbacks = [\"d\"]\n") RT("c", "content_policy_fallbacks = [\"d\"]\n")
                        RT("d", "fallbacks = [\"e\"]\n") RT("e", ""));
    assert_int_equal(cfg->n_routes, 5);
    assert_ptr_equal(route(cfg, "a")->fallbacks[1], route(cfg, "c"));
    assert_ptr_equal(route(cfg, "c")->content_policy_fallbacks[0], route(cfg, "d"));
    tg_config_free(cfg);
}

static void test_mock_options(void **state)
{
    (void)state;
    expect_error("[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n"
                 "@@mock = { latency_ms = 5 }\n" DEPLOYMENT ROUTE,
                 "provider \"p\"", "\"mock\"", "kind = \"mock\"", NULL);
    expect_error(PROVIDER "mock = { @@latency = 5 }\n" DEPLOYMENT ROUTE, "unknown key \"latency\"",
                 NULL);
    expect_error(PROVIDER "mock = { @@sead = 5 }\n" DEPLOYMENT ROUTE, "unknown key \"sead\"",
                 "did you mean \"seed\"", NULL);
    expect_error(PROVIDER "mock = { @@latency-ms = 5 }\n" DEPLOYMENT ROUTE,
                 "unknown key \"latency-ms\"", "did you mean \"latency_ms\"", NULL);
    expect_error(PROVIDER "mock = { output_tokens = @@2.5 }\n" DEPLOYMENT ROUTE, "output_tokens",
                 "integer", NULL);
    expect_error(PROVIDER "mock = { latency_ms = @@\"5\" }\n" DEPLOYMENT ROUTE, "latency_ms",
                 "number", NULL);
    expect_error(PROVIDER "mock = { error_rate = @@1.5 }\n" DEPLOYMENT ROUTE, "error_rate",
                 "between", NULL);
    expect_error(PROVIDER "mock = { error_status = @@600 }\n" DEPLOYMENT ROUTE, "error_status",
                 NULL);
    expect_error(PROVIDER "mock = { seed = @@-1 }\n" DEPLOYMENT ROUTE, "seed", NULL);
    expect_error(PROVIDER "[providers.mock]\n@@latncy_ms = 1\n" DEPLOYMENT ROUTE,
                 "unknown key \"latncy_ms\"", "did you mean \"latency_ms\"", NULL);
    /* the sub-table form works too */
    struct tg_config *cfg = load_ok(
        PROVIDER "[providers.mock]\nlatency_ms = 0\nseed = 9007199254740991\n" DEPLOYMENT ROUTE);
    assert_double(cfg->providers[0].mock.latency_ms, 0);
    assert_true(cfg->providers[0].mock.seed == 9007199254740991ULL);
    tg_config_free(cfg);
}

/* A wrong type for a provider's sub-table must name that key. */
static void test_provider_subtable_types(void **state)
{
    (void)state;
    expect_error(PROVIDER "headers = @@\"X-A: b\"\n" DEPLOYMENT ROUTE, "headers", "table", NULL);
    expect_error(PROVIDER "mock = @@5\n" DEPLOYMENT ROUTE, "mock", "table", NULL);
}

static void test_headers(void **state)
{
    (void)state;
    expect_error(PROVIDER "headers = { @@\"Bad Name\" = \"x\" }\n" DEPLOYMENT ROUTE, "\"Bad Name\"",
                 "header name", NULL);
    expect_error(PROVIDER "headers = { @@\"\" = \"x\" }\n" DEPLOYMENT ROUTE, "header name", NULL);
    expect_error(PROVIDER "headers = { X-A = @@\"a\\r\\nX-Injected: 1\" }\n" DEPLOYMENT ROUTE,
                 "X-A", "line breaks", NULL);
    expect_error(PROVIDER "headers = { X-A = @@1 }\n" DEPLOYMENT ROUTE, "X-A", "string", NULL);
    struct tg_config *cfg = load_ok(PROVIDER "headers = {}\n" DEPLOYMENT ROUTE);
    assert_int_equal(cfg->providers[0].n_headers, 0);
    tg_config_free(cfg);
}

static void test_base_url(void **state)
{
    (void)state;
    expect_error("@@[[providers]]\nname = \"o\"\nkind = \"openai\"\n"
                 "[[deployments]]\nname = \"d\"\nprovider = \"o\"\nmodel = \"m\"\n" ROUTE,
                 "provider \"o\"", "base_url", NULL);
    expect_error("@@[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n"
                 "[[deployments]]\nname = \"d\"\nprovider = \"a\"\nmodel = \"m\"\n" ROUTE,
                 "provider \"a\"", "base_url", NULL);
    expect_error(
        "[[providers]]\nname = \"o\"\nkind = \"openai\"\nbase_url = @@\"api.openai.com/v1\"\n"
        "[[deployments]]\nname = \"d\"\nprovider = \"o\"\nmodel = \"m\"\n" ROUTE,
        "base_url", "http", NULL);
    expect_error("[[providers]]\nname = \"o\"\nkind = \"openai\"\nbase_url = @@\"\"\n"
                 "[[deployments]]\nname = \"d\"\nprovider = \"o\"\nmodel = \"m\"\n" ROUTE,
                 "base_url", NULL);
}

#define AZ_URL "https://res.openai.azure.com/openai/deployments/gpt4o"
#define AZ_DEPLOYMENT "[[deployments]]\nname = \"d\"\nprovider = \"az\"\nmodel = \"gpt-4o\"\n"

/* SPEC section 5 `azure`: the deployment's URL, api_version required (Azure
 * answers 404 without one) and only there, the key in a named variable, or
 * $AZURE_OPENAI_API_KEY only for the resource $AZURE_OPENAI_ENDPOINT names. */
static void test_azure(void **state)
{
    (void)state;
    unsetenv("AZURE_OPENAI_ENDPOINT");
    unsetenv("AZURE_OPENAI_API_KEY");
    setenv("TG_TEST_AZ_KEY", "az-key-1", 1);
    struct tg_config *cfg = load_ok("[[providers]]\nname = \"az\"\nkind = \"azure\"\n"
                                    "base_url = \"" AZ_URL "//\"\napi_version = \"2024-10-21\"\n"
                                    "api_key_env = \"TG_TEST_AZ_KEY\"\n" AZ_DEPLOYMENT ROUTE);
    const struct tg_provider_cfg *p = provider(cfg, "az");
    assert_int_equal(p->kind, TG_PROVIDER_AZURE);
    assert_string_equal(tg_provider_kind_name(p->kind), "azure");
    assert_string_equal(p->base_url, AZ_URL);
    assert_string_equal(p->api_version, "2024-10-21");
    assert_string_equal(p->api_key, "az-key-1");
    assert_int_equal(cfg->n_warnings, 0);
    tg_config_free(cfg);
    unsetenv("TG_TEST_AZ_KEY");

    /* other kinds have no api_version, and may spell out its default */
    cfg = load_ok(MINIMAL);
    assert_string_equal(cfg->providers[0].api_version, "");
    tg_config_free(cfg);
    cfg = load_ok(PROVIDER "api_version = \"\"\n" DEPLOYMENT ROUTE);
    assert_string_equal(cfg->providers[0].api_version, "");
    tg_config_free(cfg);

    /* The SDKs' $AZURE_OPENAI_API_KEY belongs to $AZURE_OPENAI_ENDPOINT's
     * resource: no other host gets it by default. */
    setenv("AZURE_OPENAI_API_KEY", "az-env-key", 1);
    const char *three = "[[providers]]\nname = \"az\"\nkind = \"azure\"\n"
                        "base_url = \"" AZ_URL "\"\napi_version = \"2024-10-21\"\n"
                        "[[providers]]\nname = \"other\"\nkind = \"azure\"\n"
                        "base_url = \"https://else.openai.azure.com/openai/deployments/x\"\n"
                        "api_version = \"2024-10-21\"\n"
                        "[[providers]]\nname = \"oa\"\nkind = \"openai\"\n"
                        "base_url = \"https://res.openai.azure.com/openai/v1\"\n" AZ_DEPLOYMENT ROUTE;
    cfg = load_ok(three); /* no endpoint: nobody gets it */
    assert_null(provider(cfg, "az")->api_key);
    assert_null(provider(cfg, "other")->api_key);
    /* a keyless azure provider is worth a warning (one per azure provider) */
    size_t no_key = 0;
    for (size_t i = 0; i < cfg->n_warnings; i++)
        no_key += strstr(cfg->warnings[i], "without an api-key") != NULL;
    assert_int_equal(no_key, 2);
    tg_config_free(cfg);
    setenv("AZURE_OPENAI_ENDPOINT", "https://RES.openai.azure.com/", 1);
    cfg = load_ok(three);
    assert_string_equal(provider(cfg, "az")->api_key_env, "AZURE_OPENAI_API_KEY");
    assert_string_equal(provider(cfg, "az")->api_key, "az-env-key");
    assert_null(provider(cfg, "other")->api_key);
    assert_null(provider(cfg, "oa")->api_key); /* kind openai: never Azure's variable */
    tg_config_free(cfg);
    unsetenv("AZURE_OPENAI_ENDPOINT");
    unsetenv("AZURE_OPENAI_API_KEY");

    /* Entra ID: a bearer token in headers is a key; no warning */
    cfg = load_ok("[[providers]]\nname = \"az\"\nkind = \"azure\"\nbase_url = \"" AZ_URL "\"\n"
                  "api_version = \"2024-10-21\"\nheaders = { Authorization = \"Bearer t\" }\n"
                  AZ_DEPLOYMENT ROUTE);
    assert_int_equal(cfg->n_warnings, 0);
    tg_config_free(cfg);

    /* a base_url that names no deployment loads, with a warning */
    cfg = load_ok("[[providers]]\nname = \"az\"\nkind = \"azure\"\napi_key_env = \"HOME\"\n"
                  "base_url = \"https://res.openai.azure.com\"\napi_version = \"2024-10-21\"\n"
                  AZ_DEPLOYMENT ROUTE);
    assert_int_equal(cfg->n_warnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "names no deployment"));
    tg_config_free(cfg);

    /* errors, at the key or the entry */
    expect_error("@@[[providers]]\nname = \"az\"\nkind = \"azure\"\nbase_url = \"" AZ_URL "\"\n"
                 AZ_DEPLOYMENT ROUTE,
                 "provider \"az\"", "\"azure\"", "\"api_version\"", NULL);
    expect_error("@@[[providers]]\nname = \"az\"\nkind = \"azure\"\napi_version = \"2024-10-21\"\n"
                 AZ_DEPLOYMENT ROUTE,
                 "provider \"az\"", "base_url", NULL);
    expect_error("[[providers]]\nname = \"az\"\nkind = \"azure\"\nbase_url = \"" AZ_URL "\"\n"
                 "api_version = @@\"\"\n" AZ_DEPLOYMENT ROUTE,
                 "provider \"az\"", "api_version", NULL);
    expect_error("[[providers]]\nname = \"az\"\nkind = \"azure\"\nbase_url = \"" AZ_URL "\"\n"
                 "api_version = @@\"2024-10-21&x=y\"\n" AZ_DEPLOYMENT ROUTE,
                 "provider \"az\"", "api_version", "2024-10-21&x=y", NULL);
    expect_error("[[providers]]\nname = \"az\"\nkind = \"azure\"\nbase_url = \"" AZ_URL "\"\n"
                 "api_version = @@2024\n" AZ_DEPLOYMENT ROUTE,
                 "providers.api_version", "string", NULL);
    expect_error("[[providers]]\nname = \"az\"\nkind = \"azure\"\n"
                 "base_url = @@\"" AZ_URL "?api-version=2024-10-21\"\napi_version = \"2024-10-21\"\n"
                 AZ_DEPLOYMENT ROUTE,
                 "provider \"az\"", "query", "api_version", NULL);
    expect_error("[[providers]]\nname = \"az\"\nkind = \"openai\"\nbase_url = \"https://h/v1\"\n"
                 "@@api_version = \"2024-10-21\"\n" AZ_DEPLOYMENT ROUTE,
                 "provider \"az\"", "\"api_version\"", "only to kind = \"azure\"", NULL);
    expect_error(PROVIDER "@@api_version = \"2024-10-21\"\n" DEPLOYMENT ROUTE, "provider \"p\"",
                 "\"api_version\"", NULL);
}

static void test_tls_and_files(void **state)
{
    (void)state;
    char *cert = temp_file("c\n");
    char *text;

    text = printf_alloc("[server]\n@@tls_cert = \"%s\"\n" MINIMAL, cert);
    expect_error(text, "server.tls_cert", "server.tls_key", "together", NULL);
    free(text);
    text = printf_alloc("[server]\ntls_cert = \"\"\n@@tls_key = \"%s\"\n" MINIMAL, cert);
    expect_error(text, "server.tls_cert", "server.tls_key", NULL);
    free(text);
    text = printf_alloc(
        "[server]\ntls_cert = \"%s\"\ntls_key = @@\"/nonexistent/tg/key.pem\"\n" MINIMAL, cert);
    expect_error(text, "server.tls_key", "/nonexistent/tg/key.pem", NULL);
    free(text);
    text = printf_alloc(
        "[server]\ntls_cert = @@\"/nonexistent/tg/cert.pem\"\ntls_key = \"%s\"\n" MINIMAL, cert);
    expect_error(text, "server.tls_cert", "/nonexistent/tg/cert.pem", NULL);
    free(text);

    expect_error(PROVIDER "ca_file = @@\"/nonexistent/tg/ca.pem\"\n" DEPLOYMENT ROUTE, "ca_file",
                 "/nonexistent/tg/ca.pem", NULL);
    expect_error("[[providers]]\nname = \"o\"\nkind = \"openai\"\nbase_url = \"https://h/v1\"\n"
                 "ca_file = @@\"/nonexistent/tg/ca.pem\"\n"
                 "[[deployments]]\nname = \"d\"\nprovider = \"o\"\nmodel = \"m\"\n" ROUTE,
                 "ca_file", "cannot read", NULL);

    text = printf_alloc("[server]\ntls_cert = \"%s\"\ntls_key = \"%s\"\n" MINIMAL, cert, cert);
    struct tg_config *cfg = load_ok(text);
    assert_string_equal(cfg->server.tls_cert, cert);
    tg_config_free(cfg);
    free(text);
    unlink(cert);
    free(cert);
}

/* A directory is not a PEM file, though access(R_OK) says it is readable. */
static void test_files_not_directories(void **state)
{
    (void)state;
    expect_error(PROVIDER "ca_file = @@\"/tmp\"\n" DEPLOYMENT ROUTE, "ca_file", "/tmp", NULL);
    expect_error("[server]\ntls_cert = @@\"/\"\ntls_key = \"/\"\n" MINIMAL, "tls_cert", NULL);
}

static void test_load_file(void **state)
{
    (void)state;
    struct tg_config_error err;
    assert_null(tg_config_load("/nonexistent/tg/config.toml", &err));
    assert_true(well_formed(err.message, "/nonexistent/tg/config.toml"));
    assert_non_null(strstr(err.message, "cannot open"));

    char *path = temp_file(MINIMAL "[server]\nworkers = \"x\"\n");
    assert_null(tg_config_load(path, &err));
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s:", path);
    assert_int_equal(strncmp(err.message, prefix, strlen(prefix)), 0);
    assert_true(well_formed(err.message, path));
    assert_non_null(strstr(err.message, "workers"));
    unlink(path);
    free(path);

    path = temp_file(MINIMAL);
    struct tg_config *cfg = tg_config_load(path, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->path, path);
    tg_config_free(cfg);
    unlink(path);
    free(path);

    tg_config_free(NULL);
}

/* ---- config.toml.example ------------------------------------------------- */

static void test_example_loads(void **state)
{
    (void)state;
    size_t len;
    char *text = read_example(&len);
    struct tg_config_error err;
    struct tg_config *cfg = tg_config_parse("config.toml.example", text, len, &err);
    if (!cfg)
        fail_msg("config.toml.example: %s", err.message);
    assert_int_equal(cfg->n_providers, 3);
    assert_int_equal(cfg->n_deployments, 3);
    assert_int_equal(cfg->n_routes, 3);
    const struct tg_route_cfg *fast = route(cfg, "fast");
    const struct tg_route_cfg *smart = route(cfg, "smart");
    const struct tg_route_cfg *backup = route(cfg, "backup");
    assert_string_equal(fast->deployments[0]->name, "fast@mock");
    assert_string_equal(smart->deployments[0]->name, "flaky@mock");
    assert_int_equal(smart->n_fallbacks, 1);
    assert_ptr_equal(smart->fallbacks[0], backup);
    assert_int_equal(smart->policy.timeouts.request_ms, 8000);
    assert_string_equal(smart->overrides, "timeouts.request_ms=8000");
    assert_int_equal(fast->policy.timeouts.request_ms, 600000);
    assert_double(smart->deployments[0]->provider->mock.error_rate, 0.2);
    assert_int_equal(cfg->n_warnings, 0);
    /* it documents the defaults: its global values are SPEC's */
    assert_default_policy(&cfg->policy);
    assert_int_equal(cfg->breaker.quota_cooldown_ms, 600000);
    assert_int_equal(cfg->server.max_response_bytes, 16777216);
    tg_config_free(cfg);
    free(text);
}

static void check_loads_or_fails_cleanly(const char *text, size_t len, const char *what, size_t n)
{
    char *buf = exact_copy(text, len);
    struct tg_config_error err;
    memset(&err, 0, sizeof(err));
    struct tg_config *cfg = tg_config_parse("config.toml.example", buf, len, &err);
    free(buf);
    if (cfg) {
        assert_true(cfg->n_routes >= 1);
        tg_config_free(cfg);
    } else if (!well_formed(err.message, "config.toml.example")) {
        fail_msg("%s %zu: malformed error \"%s\"", what, n, err.message);
    }
}

static void test_example_every_prefix(void **state)
{
    (void)state;
    size_t len;
    char *text = read_example(&len);
    size_t loaded = 0;
    for (size_t n = 0; n <= len; n++) {
        char *buf = exact_copy(text, n);
        struct tg_config_error err;
        memset(&err, 0, sizeof(err));
        struct tg_config *cfg = tg_config_parse("config.toml.example", buf, n, &err);
        free(buf);
        if (cfg) {
            loaded++;
            tg_config_free(cfg);
        } else if (!well_formed(err.message, "config.toml.example")) {
            fail_msg("prefix of %zu bytes: malformed error \"%s\"", n, err.message);
        }
    }
    /* the whole file, at least, loads */
    assert_true(loaded >= 1);
    free(text);
}

static void test_example_each_line_removed(void **state)
{
    (void)state;
    size_t len;
    char *text = read_example(&len);
    char *out = malloc(len + 1);
    assert_non_null(out);
    size_t line = 0;
    for (size_t start = 0; start < len; line++) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        memcpy(out, text, start);
        memcpy(out + start, text + end, len - end);
        check_loads_or_fails_cleanly(out, start + (len - end), "without line", line + 1);
        /* and the line doubled */
        char *twice = malloc(len + (end - start) + 1);
        assert_non_null(twice);
        memcpy(twice, text, end);
        memcpy(twice + end, text + start, len - start);
        check_loads_or_fails_cleanly(twice, len + (end - start), "with doubled line", line + 1);
        free(twice);
        start = end;
    }
    free(out);
    free(text);
}

int main(void)
{
    setenv("TG_TEST_KEY_B", "abc", 1); /* test_keys: key_env = "TG_TEST_KEY_B" */
    setenv("TG_TEST_EMPTY_VAR", "", 1);
    unsetenv("TG_TEST_UNSET_VAR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_sections_keep_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_provider_kind_defaults),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_lookups_and_names),
        cmocka_unit_test(test_route_override_inline),
        cmocka_unit_test(test_route_override_subtables),
        cmocka_unit_test(test_route_override_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_syntax_error_prefix),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_cross_key_checks),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_unknown_top_level),
        cmocka_unit_test(test_section8_tables),
        cmocka_unit_test(test_shared),
        cmocka_unit_test(test_telemetry),
        cmocka_unit_test(test_background),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_deployment_model_not_empty),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_dangling_references),
        cmocka_unit_test(test_nul_in_names),
        cmocka_unit_test(test_nul_in_references),
        cmocka_unit_test(test_fallback_self),
        cmocka_unit_test(test_fallback_cycles),
        cmocka_unit_test(test_mock_options),
        cmocka_unit_test(test_provider_subtable_types),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_base_url),
        cmocka_unit_test(test_azure),
        cmocka_unit_test(test_tls_and_files),
        cmocka_unit_test(test_files_not_directories),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_example_every_prefix),
        cmocka_unit_test(test_example_each_line_removed),
        cmocka_unit_test(test_route_lookup_embedded_nul),
        cmocka_unit_test(test_nul_in_fallback_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

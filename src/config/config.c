/* Loads SPEC section 2 from a TOML document into struct tg_config.
 *
 * Scalar keys of every section are described by tables of `struct field`
 * (name, type, offset, bounds), so type checks, range checks and unknown-key
 * errors are one mechanism. Providers, deployments and routes are loaded in
 * that order whatever their order in the file, so that references can be
 * resolved as they are read; fallbacks are resolved once every route is known,
 * then checked for cycles. Every error names FILE:LINE:COL of the key or value
 * at fault. */
#include "config/config.h"
#include "limits/store.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "util/hex.h"
#include "util/redis_url.h"
#include "util/toml.h"
#include "util/url.h"

enum field_type { F_INT, F_FLOAT, F_BOOL, F_STRING, F_ENUM, F_STRLIST };

struct field {
    const char *name;
    enum field_type type;
    size_t offset;
    double min, max;                /* F_INT, F_FLOAT, and the length of an F_STRING */
    const char *const *enum_values; /* F_ENUM: NULL-terminated; stored as int */
};

#define INT_FIELD(st, f, lo, hi) {#f, F_INT, offsetof(st, f), lo, hi, NULL}
#define FLOAT_FIELD(st, f, lo, hi) {#f, F_FLOAT, offsetof(st, f), lo, hi, NULL}
#define BOOL_FIELD(st, f) {#f, F_BOOL, offsetof(st, f), 0, 0, NULL}
#define STRING_FIELD(st, f) {#f, F_STRING, offsetof(st, f), 0, 4096, NULL}
#define ENUM_FIELD(st, f, values) {#f, F_ENUM, offsetof(st, f), 0, 0, values}
#define STRLIST_FIELD(st, f) {#f, F_STRLIST, offsetof(st, f), 0, 0, NULL}
#define FIELDS_END {NULL, F_INT, 0, 0, 0, NULL}

#define DAY_MS 86400000.0
#define BIG 1e15

static const char *const jitter_values[] = {"full", "equal", "none", NULL};
static const char *const truncation_values[] = {"flag", "fail", "off", NULL};
static const char *const cache_mode_values[] = {"off", "fallback", "on", NULL};
/* In the order of enum tg_provider_kind. */
static const char *const provider_kind_values[] = {"openai", "anthropic", "azure", "mock", NULL};

static const struct field server_fields[] = {
    STRING_FIELD(struct tg_server_cfg, listen),
    STRING_FIELD(struct tg_server_cfg, admin_listen),
    INT_FIELD(struct tg_server_cfg, workers, 1, 256),
    INT_FIELD(struct tg_server_cfg, max_connections, 1, 10000000),
    INT_FIELD(struct tg_server_cfg, max_header_bytes, 256, 16777216),
    INT_FIELD(struct tg_server_cfg, max_headers, 1, 100000),
    INT_FIELD(struct tg_server_cfg, max_body_bytes, 1, 1073741824),
    INT_FIELD(struct tg_server_cfg, max_response_bytes, 1, 1073741824),
    INT_FIELD(struct tg_server_cfg, read_timeout_ms, 1, DAY_MS),
    INT_FIELD(struct tg_server_cfg, idle_timeout_ms, 1, DAY_MS),
    INT_FIELD(struct tg_server_cfg, drain_ms, 0, DAY_MS),
    STRING_FIELD(struct tg_server_cfg, access_log),
    STRING_FIELD(struct tg_server_cfg, tls_cert),
    STRING_FIELD(struct tg_server_cfg, tls_key),
    FIELDS_END,
};

static const struct field timeouts_fields[] = {
    INT_FIELD(struct tg_timeouts_cfg, request_ms, 1, DAY_MS),
    INT_FIELD(struct tg_timeouts_cfg, attempt_ms, 1, DAY_MS),
    INT_FIELD(struct tg_timeouts_cfg, connect_ms, 1, DAY_MS),
    INT_FIELD(struct tg_timeouts_cfg, first_byte_ms, 1, DAY_MS),
    INT_FIELD(struct tg_timeouts_cfg, stream_idle_ms, 1, DAY_MS),
    FIELDS_END,
};

static const struct field retry_fields[] = {
    INT_FIELD(struct tg_retry_cfg, max_attempts, 1, 100),
    INT_FIELD(struct tg_retry_cfg, backoff_base_ms, 0, DAY_MS),
    INT_FIELD(struct tg_retry_cfg, backoff_max_ms, 0, DAY_MS),
    ENUM_FIELD(struct tg_retry_cfg, jitter, jitter_values),
    BOOL_FIELD(struct tg_retry_cfg, respect_retry_after),
    INT_FIELD(struct tg_retry_cfg, max_retry_after_ms, 0, DAY_MS),
    FLOAT_FIELD(struct tg_retry_cfg, budget_ratio, 0, 100),
    FLOAT_FIELD(struct tg_retry_cfg, budget_min_per_s, 0, 1e6),
    FIELDS_END,
};

static const struct field hedge_fields[] = {
    BOOL_FIELD(struct tg_hedge_cfg, enabled),
    FLOAT_FIELD(struct tg_hedge_cfg, quantile, 0.01, 0.999),
    INT_FIELD(struct tg_hedge_cfg, min_delay_ms, 0, DAY_MS),
    INT_FIELD(struct tg_hedge_cfg, max_delay_ms, 0, DAY_MS),
    INT_FIELD(struct tg_hedge_cfg, initial_delay_ms, 0, DAY_MS),
    INT_FIELD(struct tg_hedge_cfg, min_samples, 1, 1000000),
    FLOAT_FIELD(struct tg_hedge_cfg, max_ratio, 0, 1),
    BOOL_FIELD(struct tg_hedge_cfg, streaming),
    FIELDS_END,
};

static const struct field breaker_fields[] = {
    INT_FIELD(struct tg_breaker_cfg, failure_threshold, 1, 1000000),
    FLOAT_FIELD(struct tg_breaker_cfg, error_rate, 0.01, 1),
    INT_FIELD(struct tg_breaker_cfg, min_requests, 1, 1000000000),
    INT_FIELD(struct tg_breaker_cfg, window_ms, 1000, DAY_MS),
    INT_FIELD(struct tg_breaker_cfg, cooldown_ms, 1, DAY_MS),
    INT_FIELD(struct tg_breaker_cfg, max_cooldown_ms, 1, 30 * DAY_MS),
    INT_FIELD(struct tg_breaker_cfg, half_open_probes, 1, 1000000),
    FLOAT_FIELD(struct tg_breaker_cfg, latency_factor, 0, 1000),
    INT_FIELD(struct tg_breaker_cfg, quota_cooldown_ms, 0, 30 * DAY_MS),
    FIELDS_END,
};

static const struct field validate_fields[] = {
    BOOL_FIELD(struct tg_validate_cfg, empty),
    BOOL_FIELD(struct tg_validate_cfg, refusal),
    STRLIST_FIELD(struct tg_validate_cfg, refusal_phrases),
    ENUM_FIELD(struct tg_validate_cfg, truncation, truncation_values),
    BOOL_FIELD(struct tg_validate_cfg, json),
    FIELDS_END,
};

static const struct field cache_fields[] = {
    ENUM_FIELD(struct tg_cache_cfg, mode, cache_mode_values),
    INT_FIELD(struct tg_cache_cfg, ttl_s, 0, 365 * 86400.0),
    INT_FIELD(struct tg_cache_cfg, stale_s, 0, 3650 * 86400.0),
    INT_FIELD(struct tg_cache_cfg, max_bytes, 0, 1099511627776.0),
    FIELDS_END,
};

static const struct field degraded_fields[] = {
    BOOL_FIELD(struct tg_degraded_cfg, enabled),
    INT_FIELD(struct tg_degraded_cfg, status, 200, 599),
    STRING_FIELD(struct tg_degraded_cfg, message),
    FIELDS_END,
};

static const struct field provider_fields[] = {
    STRING_FIELD(struct tg_provider_cfg, name),
    ENUM_FIELD(struct tg_provider_cfg, kind, provider_kind_values),
    STRING_FIELD(struct tg_provider_cfg, base_url),
    STRING_FIELD(struct tg_provider_cfg, api_key_env),
    INT_FIELD(struct tg_provider_cfg, max_connections, 1, 65535),
    BOOL_FIELD(struct tg_provider_cfg, http2),
    STRING_FIELD(struct tg_provider_cfg, ca_file),
    INT_FIELD(struct tg_provider_cfg, default_max_tokens, 1, 10000000),
    STRING_FIELD(struct tg_provider_cfg, anthropic_version),
    STRING_FIELD(struct tg_provider_cfg, api_version),
    BOOL_FIELD(struct tg_provider_cfg, responses),
    FIELDS_END,
};

static const struct field deployment_fields[] = {
    STRING_FIELD(struct tg_deployment_cfg, name),
    STRING_FIELD(struct tg_deployment_cfg, model),
    FLOAT_FIELD(struct tg_deployment_cfg, weight, 0, 1e9),
    INT_FIELD(struct tg_deployment_cfg, context_tokens, 0, 1e12),
    FLOAT_FIELD(struct tg_deployment_cfg, input_usd_per_mtok, 0, 1e9),
    FLOAT_FIELD(struct tg_deployment_cfg, output_usd_per_mtok, 0, 1e9),
    FLOAT_FIELD(struct tg_deployment_cfg, cached_input_usd_per_mtok, 0, 1e9),
    FIELDS_END,
};

/* The per-route overridable sections, in the order of struct tg_policy. */
struct policy_section {
    const char *name;
    const struct field *fields;
    size_t offset; /* in struct tg_policy */
};

static const struct policy_section policy_sections[] = {
    {"timeouts", timeouts_fields, offsetof(struct tg_policy, timeouts)},
    {"retry", retry_fields, offsetof(struct tg_policy, retry)},
    {"hedge", hedge_fields, offsetof(struct tg_policy, hedge)},
    {"validate", validate_fields, offsetof(struct tg_policy, validate)},
    {"cache", cache_fields, offsetof(struct tg_policy, cache)},
};
#define N_POLICY_SECTIONS (sizeof(policy_sections) / sizeof(policy_sections[0]))

static const struct field shared_fields[] = {
    STRING_FIELD(struct tg_shared_cfg, redis_url),
    STRING_FIELD(struct tg_shared_cfg, password_env),
    INT_FIELD(struct tg_shared_cfg, timeout_ms, 1, 60000),
    STRING_FIELD(struct tg_shared_cfg, key_prefix),
    FIELDS_END,
};

static const struct field telemetry_fields[] = {
    STRING_FIELD(struct tg_telemetry_cfg, otlp_endpoint),
    FLOAT_FIELD(struct tg_telemetry_cfg, sample_ratio, 0, 1),
    STRING_FIELD(struct tg_telemetry_cfg, service_name),
    INT_FIELD(struct tg_telemetry_cfg, queue_spans, 1, 1000000),
    INT_FIELD(struct tg_telemetry_cfg, batch_spans, 1, 1000000),
    INT_FIELD(struct tg_telemetry_cfg, flush_ms, 1, 3600000),
    INT_FIELD(struct tg_telemetry_cfg, timeout_ms, 1, 600000),
    FIELDS_END,
};
static const char *const telemetry_extra[] = {"headers", NULL};

static const struct field background_fields[] = {
    INT_FIELD(struct tg_background_cfg, max_attempts, 1, 100),
    INT_FIELD(struct tg_background_cfg, request_ms, 1, DAY_MS),
    STRING_FIELD(struct tg_background_cfg, dlq_path),
    FIELDS_END,
};

static const struct field idempotency_fields[] = {
    INT_FIELD(struct tg_idempotency_cfg, ttl_s, 0, 31536000),
    INT_FIELD(struct tg_idempotency_cfg, max_bytes, 0, INT64_C(1) << 40),
    FIELDS_END,
};

/* [budget]: the cost ceiling and the whole gateway's hourly spend cap. */
static const struct field budget_fields[] = {
    FLOAT_FIELD(struct tg_budget_cfg, max_request_usd, 0, 1e9),
    FLOAT_FIELD(struct tg_budget_cfg, usd_per_hour, 0, 1e9),
    FIELDS_END,
};

struct loader {
    const char *path;
    struct tg_config *cfg;
    struct tg_config_error *err;
    int failed;
    const char *note_prefix; /* route overrides: "retry" in notes, routes["m"].retry in errors */
};

static int fail(struct loader *L, struct tg_toml_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *L, struct tg_toml_pos pos, const char *fmt, ...)
{
    if (L->failed)
        return -1;
    L->failed = 1;
    int n = snprintf(L->err->message, sizeof(L->err->message), "%s:%d:%d: ", L->path, pos.line,
                     pos.col);
    if (n < 0 || (size_t)n >= sizeof(L->err->message))
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err->message + n, sizeof(L->err->message) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void add_warning(struct tg_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_warning(struct tg_config *cfg, const char *fmt, ...)
{
    struct tg_buf b = TG_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    tg_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cfg->warnings = tg_xrealloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(char *));
    cfg->warnings[cfg->n_warnings++] = tg_buf_steal(&b, NULL);
}

/* Edit distance, for "did you mean" on unknown keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Fails with "unknown key" and the nearest known name, if one is close. */
static int unknown_key(struct loader *L, const struct tg_toml_kv *kv, const char *where,
                       const char *const *known, size_t n_known)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < n_known; i++) {
        size_t d = edit_distance(kv->key, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    if (best)
        return fail(L, kv->key_pos, "unknown key \"%s\" in %s (did you mean \"%s\"?)", kv->key,
                    where, best);
    return fail(L, kv->key_pos, "unknown key \"%s\" in %s", kv->key, where);
}

static const char *article_type(enum tg_toml_type t)
{
    switch (t) {
    case TG_TOML_STRING: return "a string";
    case TG_TOML_INTEGER: return "an integer";
    case TG_TOML_FLOAT: return "a float";
    case TG_TOML_BOOL: return "a boolean";
    case TG_TOML_ARRAY: return "an array";
    case TG_TOML_TABLE: return "a table";
    default: return "a date/time";
    }
}

static int expect_type(struct loader *L, const char *where, const struct tg_toml_kv *kv,
                       enum tg_toml_type want, const char *want_text)
{
    if (kv->value.type == want)
        return 0;
    return fail(L, kv->value.pos, "%s.%s must be %s, not %s", where, kv->key, want_text,
                article_type(kv->value.type));
}

static char *dup_str(const struct tg_toml_value *v)
{
    return tg_xmemdup0(v->u.str.ptr, v->u.str.len);
}

static void strlist_free(struct tg_strlist *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

static void strlist_copy(struct tg_strlist *to, const struct tg_strlist *from)
{
    to->len = from->len;
    to->items = from->len ? tg_xcalloc(from->len, sizeof(char *)) : NULL;
    for (size_t i = 0; i < from->len; i++)
        to->items[i] = tg_xstrdup(from->items[i]);
}

/* Reads an array of strings (element positions checked for type). */
static int read_strlist(struct loader *L, const char *where, const struct tg_toml_kv *kv,
                        struct tg_strlist *out)
{
    if (expect_type(L, where, kv, TG_TOML_ARRAY, "an array of strings") < 0)
        return -1;
    const struct tg_toml_array *a = kv->value.u.arr;
    for (size_t i = 0; i < a->len; i++) {
        if (a->items[i].type != TG_TOML_STRING)
            return fail(L, a->items[i].pos, "%s.%s must hold only strings, not %s", where,
                        kv->key, article_type(a->items[i].type));
        if (memchr(a->items[i].u.str.ptr, '\0', a->items[i].u.str.len))
            return fail(L, a->items[i].pos, "%s.%s: strings may not contain NUL", where, kv->key);
    }
    struct tg_strlist l = {a->len ? tg_xcalloc(a->len, sizeof(char *)) : NULL, a->len};
    for (size_t i = 0; i < a->len; i++)
        l.items[i] = dup_str(&a->items[i]);
    strlist_free(out);
    *out = l;
    return 0;
}

static const struct field *find_field(const struct field *fields, const char *name)
{
    for (const struct field *f = fields; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Sets one described key from its TOML value; `note`, when given, collects
 * "section.key=value" for `tailgate check`. */
#define NOTE_WHERE (L->note_prefix ? L->note_prefix : where)

static int set_field(struct loader *L, const char *where, const struct field *f,
                     const struct tg_toml_kv *kv, void *base, struct tg_buf *note)
{
    char *p = (char *)base + f->offset;
    const struct tg_toml_value *v = &kv->value;
    switch (f->type) {
    case F_INT: {
        if (expect_type(L, where, kv, TG_TOML_INTEGER, "an integer") < 0)
            return -1;
        if ((double)v->u.i < f->min || (double)v->u.i > f->max)
            return fail(L, v->pos, "%s.%s must be between %.0f and %.0f (found %lld)", where,
                        f->name, f->min, f->max, (long long)v->u.i);
        *(int64_t *)p = v->u.i;
        if (note)
            tg_buf_printf(note, "%s.%s=%lld ", NOTE_WHERE, f->name, (long long)v->u.i);
        return 0;
    }
    case F_FLOAT: {
        double d;
        if (v->type == TG_TOML_INTEGER)
            d = (double)v->u.i;
        else if (v->type == TG_TOML_FLOAT)
            d = v->u.f;
        else
            return fail(L, v->pos, "%s.%s must be a number, not %s", where, f->name,
                        article_type(v->type));
        if (!(d >= f->min && d <= f->max))
            return fail(L, v->pos, "%s.%s must be between %g and %g (found %g)", where, f->name,
                        f->min, f->max, d);
        *(double *)p = d;
        if (note)
            tg_buf_printf(note, "%s.%s=%g ", NOTE_WHERE, f->name, d);
        return 0;
    }
    case F_BOOL:
        if (expect_type(L, where, kv, TG_TOML_BOOL, "true or false") < 0)
            return -1;
        *(bool *)p = v->u.b;
        if (note)
            tg_buf_printf(note, "%s.%s=%s ", NOTE_WHERE, f->name, v->u.b ? "true" : "false");
        return 0;
    case F_STRING:
        if (expect_type(L, where, kv, TG_TOML_STRING, "a string") < 0)
            return -1;
        if (memchr(v->u.str.ptr, '\0', v->u.str.len))
            return fail(L, v->pos, "%s.%s may not contain NUL", where, f->name);
        if ((double)v->u.str.len > f->max)
            return fail(L, v->pos, "%s.%s is longer than %.0f bytes", where, f->name, f->max);
        free(*(char **)p);
        *(char **)p = dup_str(v);
        if (note)
            tg_buf_printf(note, "%s.%s=\"%s\" ", NOTE_WHERE, f->name, v->u.str.ptr);
        return 0;
    case F_ENUM: {
        if (v->type == TG_TOML_STRING) {
            for (int i = 0; f->enum_values[i]; i++) {
                if (strcmp(v->u.str.ptr, f->enum_values[i]) == 0) {
                    *(int *)p = i;
                    if (note)
                        tg_buf_printf(note, "%s.%s=\"%s\" ", NOTE_WHERE, f->name, f->enum_values[i]);
                    return 0;
                }
            }
        }
        struct tg_buf allowed = TG_BUF_INIT;
        for (int i = 0; f->enum_values[i]; i++)
            tg_buf_printf(&allowed, "%s\"%s\"", i ? ", " : "", f->enum_values[i]);
        fail(L, v->pos, "%s.%s must be one of %s", where, f->name, allowed.data);
        tg_buf_free(&allowed);
        return -1;
    }
    case F_STRLIST:
        if (read_strlist(L, where, kv, (struct tg_strlist *)p) < 0)
            return -1;
        if (note)
            tg_buf_printf(note, "%s.%s=[%zu items] ", NOTE_WHERE, f->name,
                          ((struct tg_strlist *)p)->len);
        return 0;
    }
    return -1;
}

/* Applies a whole table of described keys; `extra` names keys the caller
 * handles itself (they are skipped here). */
static int apply_fields(struct loader *L, const char *where, const struct tg_toml_table *t,
                        const struct field *fields, void *base, const char *const *extra,
                        struct tg_buf *note)
{
    for (size_t i = 0; i < t->len; i++) {
        const struct tg_toml_kv *kv = &t->items[i];
        const struct field *f = find_field(fields, kv->key);
        if (f) {
            if (set_field(L, where, f, kv, base, note) < 0)
                return -1;
            continue;
        }
        int handled = 0;
        for (int e = 0; extra && extra[e]; e++)
            if (strcmp(extra[e], kv->key) == 0)
                handled = 1;
        if (handled)
            continue;
        const char *known[64];
        size_t n = 0;
        for (const struct field *g = fields; g->name && n < 60; g++)
            known[n++] = g->name;
        for (int e = 0; extra && extra[e] && n < 64; e++)
            known[n++] = extra[e];
        char label[256];
        bool entries = strcmp(where, "providers") == 0 || strcmp(where, "deployments") == 0 ||
                       strcmp(where, "auth.keys") == 0;
        snprintf(label, sizeof(label), entries ? "[[%s]]" : "[%s]", where);
        return unknown_key(L, kv, label, known, n);
    }
    return 0;
}

static const struct tg_toml_table *as_table(struct loader *L, const char *where,
                                            const struct tg_toml_kv *kv)
{
    if (kv->value.type != TG_TOML_TABLE) {
        fail(L, kv->value.pos, "%s must be a table, not %s", where, article_type(kv->value.type));
        return NULL;
    }
    return kv->value.u.tab;
}

/* ---- defaults ---------------------------------------------------------- */

static const char *const default_refusal_phrases[] = {
    "I can't help with", "I cannot help with", "I'm sorry, but I can", "I am unable to",
    "As an AI",
};

static void set_defaults(struct tg_config *cfg)
{
    struct tg_server_cfg *s = &cfg->server;
    s->listen = tg_xstrdup("127.0.0.1:8080");
    s->admin_listen = tg_xstrdup("127.0.0.1:8081");
    s->workers = 1;
    s->max_connections = 10000;
    s->max_header_bytes = 16384;
    s->max_headers = 100;
    s->max_body_bytes = 4194304;
    s->max_response_bytes = 16777216;
    s->read_timeout_ms = 10000;
    s->idle_timeout_ms = 60000;
    s->drain_ms = 10000;
    s->access_log = tg_xstrdup("-");
    s->tls_cert = tg_xstrdup("");
    s->tls_key = tg_xstrdup("");

    struct tg_policy *p = &cfg->policy;
    p->timeouts = (struct tg_timeouts_cfg){600000, 300000, 3000, 60000, 60000};
    p->retry = (struct tg_retry_cfg){3, 250, 8000, TG_JITTER_FULL, true, 10000, 0.2, 3};
    p->hedge = (struct tg_hedge_cfg){true, 0.9, 20, 5000, 1000, 20, 0.1, true};
    p->validate.empty = true;
    p->validate.refusal = true;
    const struct tg_strlist defaults = { /* a read-only view for strlist_copy */
        (char **)default_refusal_phrases,
        sizeof(default_refusal_phrases) / sizeof(default_refusal_phrases[0])};
    strlist_copy(&p->validate.refusal_phrases, &defaults);
    p->validate.truncation = TG_TRUNCATION_FLAG;
    p->validate.json = true;
    p->cache = (struct tg_cache_cfg){TG_CACHE_FALLBACK, 300, 86400, 67108864};

    cfg->breaker = (struct tg_breaker_cfg){5, 0.5, 20, 60000, 30000, 300000, 1, 4.0, 600000};
    cfg->idempotency = (struct tg_idempotency_cfg){600, 67108864};
    cfg->shared.redis_url = tg_xstrdup("");
    cfg->shared.password_env = tg_xstrdup("");
    cfg->shared.timeout_ms = 50;
    cfg->shared.key_prefix = tg_xstrdup("tailgate:");
    cfg->telemetry = (struct tg_telemetry_cfg){.otlp_endpoint = tg_xstrdup(""),
                                               .sample_ratio = 1.0,
                                               .service_name = tg_xstrdup("tailgate"),
                                               .queue_spans = 2048,
                                               .batch_spans = 512,
                                               .flush_ms = 1000,
                                               .timeout_ms = 5000};
    cfg->degraded.enabled = true;
    cfg->degraded.status = 503;
    cfg->background.max_attempts = 6;
    cfg->background.request_ms = 1800000;
    cfg->background.dlq_path = tg_xstrdup("tailgate-dlq.jsonl");
    cfg->degraded.message =
        tg_xstrdup("The AI service is temporarily unavailable. Please try again shortly.");
}

/* ---- [server] and the global sections ---------------------------------- */

/* Accepts "host:port" and "[v6]:port", port 1..65535. */
static int check_listen(struct loader *L, const char *key, const struct tg_toml_value *v,
                        int allow_empty)
{
    const char *s = v->u.str.ptr;
    if (allow_empty && s[0] == '\0')
        return 0;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return fail(L, v->pos, "server.%s must look like \"HOST:PORT\" (found \"%s\")", key, s);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || errno || port < 1 || port > 65535)
        return fail(L, v->pos, "server.%s has an invalid port (found \"%s\")", key, s);
    if (s[0] == '[' && colon[-1] != ']')
        return fail(L, v->pos, "server.%s: an IPv6 host goes in brackets, \"[::1]:8080\"", key);
    return 0;
}

static int check_readable(struct loader *L, const char *what, const struct tg_toml_value *v)
{
    if (v->u.str.len == 0)
        return 0;
    struct stat st;
    if (stat(v->u.str.ptr, &st) != 0 || access(v->u.str.ptr, R_OK) != 0)
        return fail(L, v->pos, "%s: cannot read \"%s\": %s", what, v->u.str.ptr, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(L, v->pos, "%s: \"%s\" is not a regular file", what, v->u.str.ptr);
    return 0;
}

static int load_server(struct loader *L, const struct tg_toml_kv *kv)
{
    const struct tg_toml_table *t = as_table(L, "[server]", kv);
    if (!t || apply_fields(L, "server", t, server_fields, &L->cfg->server, NULL, NULL) < 0)
        return -1;
    const struct tg_toml_kv *x;
    if ((x = tg_toml_get(t, "listen")) && check_listen(L, "listen", &x->value, 0) < 0)
        return -1;
    if ((x = tg_toml_get(t, "admin_listen")) && check_listen(L, "admin_listen", &x->value, 1) < 0)
        return -1;
    if ((x = tg_toml_get(t, "tls_cert")) && check_readable(L, "server.tls_cert", &x->value) < 0)
        return -1;
    if ((x = tg_toml_get(t, "tls_key")) && check_readable(L, "server.tls_key", &x->value) < 0)
        return -1;
    const struct tg_server_cfg *s = &L->cfg->server;
    if ((s->tls_cert[0] == '\0') != (s->tls_key[0] == '\0')) {
        x = tg_toml_get(t, s->tls_cert[0] ? "tls_cert" : "tls_key");
        return fail(L, x->key_pos, "server.tls_cert and server.tls_key must be set together");
    }
    return 0;
}

/* A section of struct tg_policy, globally or in a route. */
static int load_policy_section(struct loader *L, const struct policy_section *ps,
                               const char *where, const struct tg_toml_kv *kv,
                               struct tg_policy *policy, struct tg_buf *note)
{
    char label[256];
    snprintf(label, sizeof(label), "[%s]", where);
    const struct tg_toml_table *t = as_table(L, label, kv);
    if (!t)
        return -1;
    return apply_fields(L, where, t, ps->fields, (char *)policy + ps->offset, NULL, note);
}

/* Where to point for a cross-key problem: the key in `t` when it is there
 * (the override that caused it), else `fallback`. */
static struct tg_toml_pos key_pos_in(const struct tg_toml_table *t, const char *key,
                                     struct tg_toml_pos fallback)
{
    const struct tg_toml_kv *kv = t ? tg_toml_get(t, key) : NULL;
    return kv ? kv->key_pos : fallback;
}

/* Cross-key checks within one resolved policy. `retry` and `hedge` are the
 * tables that set it (NULL when absent), to point at the key at fault. */
static int check_policy(struct loader *L, const struct tg_policy *p, const char *who,
                        const struct tg_toml_table *retry, const struct tg_toml_table *hedge,
                        struct tg_toml_pos fallback)
{
    if (p->retry.backoff_base_ms > p->retry.backoff_max_ms) {
        struct tg_toml_pos pos = key_pos_in(retry, "backoff_base_ms",
                                            key_pos_in(retry, "backoff_max_ms", fallback));
        return fail(L, pos, "%sretry.backoff_base_ms (%lld) is above retry.backoff_max_ms (%lld)",
                    who, (long long)p->retry.backoff_base_ms, (long long)p->retry.backoff_max_ms);
    }
    if (p->hedge.min_delay_ms > p->hedge.max_delay_ms) {
        struct tg_toml_pos pos = key_pos_in(hedge, "min_delay_ms",
                                            key_pos_in(hedge, "max_delay_ms", fallback));
        return fail(L, pos, "%shedge.min_delay_ms (%lld) is above hedge.max_delay_ms (%lld)", who,
                    (long long)p->hedge.min_delay_ms, (long long)p->hedge.max_delay_ms);
    }
    return 0;
}

/* The table value of key `name` in t, or NULL. */
static const struct tg_toml_table *sub_table(const struct tg_toml_table *t, const char *name)
{
    const struct tg_toml_kv *kv = tg_toml_get(t, name);
    return kv && kv->value.type == TG_TOML_TABLE ? kv->value.u.tab : NULL;
}

/* ---- providers ---------------------------------------------------------- */

static const char *const provider_extra[] = {"headers", "mock", NULL};

static int load_headers(struct loader *L, const char *where, const struct tg_toml_kv *kv,
                        struct tg_header_cfg **out, size_t *n_out)
{
    char label[200];
    snprintf(label, sizeof(label), "%s: headers", where);
    const struct tg_toml_table *t = as_table(L, label, kv);
    if (!t)
        return -1;
    struct tg_header_cfg *headers = t->len ? tg_xcalloc(t->len, sizeof(*headers)) : NULL;
    *out = headers;
    for (size_t i = 0; i < t->len; i++) {
        const struct tg_toml_kv *h = &t->items[i];
        if (h->value.type != TG_TOML_STRING)
            return fail(L, h->value.pos, "%s.%s must be a string, not %s", where, h->key,
                        article_type(h->value.type));
        /* A header name is a token; a value has no line breaks (no header injection). */
        if (h->key_len == 0 || strspn(h->key, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != h->key_len)
            return fail(L, h->key_pos, "%s: \"%s\" is not a valid header name", where, h->key);
        if (strpbrk(h->value.u.str.ptr, "\r\n") || memchr(h->value.u.str.ptr, '\0', h->value.u.str.len))
            return fail(L, h->value.pos, "%s.%s: header values may not contain line breaks",
                        where, h->key);
        headers[i].name = tg_xstrdup(h->key);
        headers[i].value = dup_str(&h->value);
        (*n_out)++;
    }
    return 0;
}

static int load_mock_options(struct loader *L, const char *where, const struct tg_toml_kv *kv,
                             struct tg_mock_options *o)
{
    char label[200];
    snprintf(label, sizeof(label), "%s: mock", where);
    const struct tg_toml_table *t = as_table(L, label, kv);
    if (!t)
        return -1;
    for (size_t i = 0; i < t->len; i++) {
        const struct tg_toml_kv *m = &t->items[i];
        const struct tg_mock_option_desc *d = tg_mock_option_find(m->key);
        if (!d || strchr(m->key, '-')) {
            const char *known[16];
            size_t n = 0;
            for (int k = 0; k < tg_mock_option_count && n < 16; k++)
                known[n++] = tg_mock_option_descs[k].name;
            return unknown_key(L, m, label, known, n);
        }
        double v;
        if (m->value.type == TG_TOML_INTEGER)
            v = (double)m->value.u.i;
        else if (m->value.type == TG_TOML_FLOAT && d->kind == TG_MOCK_OPT_DOUBLE)
            v = m->value.u.f;
        else
            return fail(L, m->value.pos, "%s.%s must be %s, not %s", label, m->key,
                        d->kind == TG_MOCK_OPT_DOUBLE ? "a number" : "an integer",
                        article_type(m->value.type));
        if (tg_mock_option_set(o, m->key, v) < 0)
            return fail(L, m->value.pos, "%s.%s must be between %g and %g%s", label, m->key,
                        d->min, d->max, d->kind == TG_MOCK_OPT_DOUBLE ? "" : " and whole");
    }
    return 0;
}

static const char *provider_name(const struct tg_config *cfg, size_t i)
{
    return cfg->providers[i].name;
}

static const char *deployment_name(const struct tg_config *cfg, size_t i)
{
    return cfg->deployments[i].name;
}

/* An [[section]] entry's name: present, not empty, not used by an earlier
 * entry (earlier(cfg, i) names entry i). */
static int check_entry_name(struct loader *L, const struct tg_toml_value *elem,
                            const char *section, const char *what, const char *name,
                            size_t index, const char *(*earlier)(const struct tg_config *, size_t))
{
    if (!name)
        return fail(L, elem->pos, "[[%s]] entry without the required key \"name\"", section);
    const struct tg_toml_kv *name_kv = tg_toml_get(elem->u.tab, "name");
    if (name[0] == '\0')
        return fail(L, name_kv->value.pos, "%s.name must not be empty", section);
    for (size_t i = 0; i < index; i++)
        if (strcmp(earlier(L->cfg, i), name) == 0)
            return fail(L, name_kv->value.pos, "duplicate %s name \"%s\"", what, name);
    return 0;
}

/* The host of a URL (userinfo and port aside), or NULL when it has no
 * scheme. *len gets its length. */
static const char *url_host(const char *url, size_t *len)
{
    const char *p = strstr(url, "://");
    if (!p)
        return NULL;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t host_len = strcspn(p, ":/?#");
    *len = host_len > n ? n : host_len;
    return p;
}

/* Whether the URL's host is `host` (case-insensitive). */
static bool url_host_is(const char *url, const char *host)
{
    size_t n = 0;
    const char *h = url_host(url, &n);
    return h && n > 0 && n == strlen(host) && strncasecmp(h, host, n) == 0;
}

/* Whether two URLs name the same host (case-insensitive). */
static bool same_host(const char *a, const char *b)
{
    size_t na = 0, nb = 0; /* url_host leaves them unset when there is no host */
    const char *ha = url_host(a, &na), *hb = url_host(b, &nb);
    return ha && hb && na > 0 && na == nb && strncasecmp(ha, hb, na) == 0;
}

/* SPEC [[providers]] api_key_env: the well-known variable only for the
 * provider's own host. A key for api.openai.com must never reach a local
 * model server or a proxy someone else runs because its API looks alike. */
static const char *default_key_env(const struct tg_provider_cfg *p)
{
    if (p->kind == TG_PROVIDER_OPENAI && url_host_is(p->base_url, "api.openai.com"))
        return "OPENAI_API_KEY";
    if (p->kind == TG_PROVIDER_ANTHROPIC && url_host_is(p->base_url, "api.anthropic.com"))
        return "ANTHROPIC_API_KEY";
    if (p->kind == TG_PROVIDER_AZURE) {
        /* An Azure key belongs to one resource: the one the SDKs' companion
         * variable $AZURE_OPENAI_ENDPOINT names. */
        const char *endpoint = getenv("AZURE_OPENAI_ENDPOINT");
        if (endpoint && same_host(p->base_url, endpoint))
            return "AZURE_OPENAI_API_KEY";
    }
    return "";
}

static bool has_header(const struct tg_provider_cfg *p, const char *name)
{
    for (size_t i = 0; i < p->n_headers; i++)
        if (strcasecmp(p->headers[i].name, name) == 0)
            return true;
    return false;
}

/* SPEC [[providers]] api_version: required by kind "azure" (Azure answers
 * 404 without it); elsewhere only its default "" (a version there would be
 * silently unused). It goes into the query string as it is, so it is held
 * to the characters Azure's versions use. */
static int check_api_version(struct loader *L, const struct tg_toml_value *elem, const char *where,
                             const struct tg_provider_cfg *p)
{
    const struct tg_toml_kv *kv = tg_toml_get(elem->u.tab, "api_version");
    if (p->kind != TG_PROVIDER_AZURE) {
        if (kv && p->api_version[0])
            return fail(L, kv->key_pos, "%s: \"api_version\" applies only to kind = \"azure\"",
                        where);
        return 0;
    }
    if (!kv)
        return fail(L, elem->pos, "%s (kind \"azure\") needs \"api_version\", e.g. "
                    "api_version = \"2024-10-21\"", where);
    const char *v = p->api_version;
    if (!v[0] || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
                     strlen(v))
        return fail(L, kv->value.pos, "%s: api_version \"%s\" is not an API version such as "
                    "\"2024-10-21\" or \"2025-04-01-preview\"", where, v);
    return 0;
}

static int load_provider(struct loader *L, const struct tg_toml_value *elem, size_t index)
{
    struct tg_config *cfg = L->cfg;
    struct tg_provider_cfg *p = &cfg->providers[index];
    p->index = index;
    p->max_connections = 256;
    p->http2 = true;
    p->ca_file = tg_xstrdup("");
    p->default_max_tokens = 4096;
    p->anthropic_version = tg_xstrdup("2023-06-01");
    p->api_version = tg_xstrdup("");
    p->responses = true;
    tg_mock_options_default(&p->mock);
    p->kind = (enum tg_provider_kind)-1;

    if (elem->type != TG_TOML_TABLE)
        return fail(L, elem->pos, "each [[providers]] entry must be a table");
    const struct tg_toml_table *t = elem->u.tab;
    if (apply_fields(L, "providers", t, provider_fields, p, provider_extra, NULL) < 0)
        return -1;
    if (check_entry_name(L, elem, "providers", "provider", p->name, index, provider_name) < 0)
        return -1;
    if ((int)p->kind < 0)
        return fail(L, elem->pos, "provider \"%s\" lacks the required key \"kind\"", p->name);

    char where[160];
    snprintf(where, sizeof(where), "provider \"%s\"", p->name);
    const struct tg_toml_kv *kv;
    if ((kv = tg_toml_get(t, "headers")) &&
        load_headers(L, where, kv, &p->headers, &p->n_headers) < 0)
        return -1;
    if ((kv = tg_toml_get(t, "mock"))) {
        if (p->kind != TG_PROVIDER_MOCK)
            return fail(L, kv->key_pos, "%s: \"mock\" options apply only to kind = \"mock\"",
                        where);
        if (load_mock_options(L, where, kv, &p->mock) < 0)
            return -1;
    }
    if ((kv = tg_toml_get(t, "ca_file")) && check_readable(L, "providers.ca_file", &kv->value) < 0)
        return -1;
    if (check_api_version(L, elem, where, p) < 0)
        return -1;

    if (p->kind == TG_PROVIDER_MOCK) {
        if (!p->base_url)
            p->base_url = tg_xstrdup("");
        if (!p->api_key_env)
            p->api_key_env = tg_xstrdup("");
    } else {
        kv = tg_toml_get(t, "base_url");
        if (!p->base_url)
            return fail(L, elem->pos, "%s (kind \"%s\") needs \"base_url\"", where,
                        tg_provider_kind_name(p->kind));
        if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0)
            return fail(L, kv->value.pos, "%s: base_url must start with http:// or https://",
                        where);
        if (p->kind == TG_PROVIDER_AZURE && strpbrk(p->base_url, "?#"))
            return fail(L, kv->value.pos, "%s: an azure base_url is the deployment's URL without "
                        "a query (the api-version goes in \"api_version\")", where);
        size_t n = strlen(p->base_url);
        while (n > 0 && p->base_url[n - 1] == '/')
            p->base_url[--n] = '\0';
        if (p->kind == TG_PROVIDER_AZURE && !strstr(p->base_url, "/deployments/"))
            add_warning(cfg, "%s: base_url %s names no deployment; Azure OpenAI's are "
                        "https://RESOURCE.openai.azure.com/openai/deployments/NAME (its /openai/v1 "
                        "endpoint is kind \"openai\")", where, p->base_url);
        if (!p->api_key_env)
            p->api_key_env = tg_xstrdup(default_key_env(p));
    }
    if (p->api_key_env[0]) {
        const char *key = getenv(p->api_key_env);
        if (key && key[0])
            p->api_key = tg_xstrdup(key);
        else if (p->kind != TG_PROVIDER_MOCK)
            add_warning(cfg, "%s: environment variable %s is not set; requests go without a key",
                        where, p->api_key_env);
    } else if (p->kind == TG_PROVIDER_AZURE && !has_header(p, "api-key") &&
               !has_header(p, "Authorization")) {
        /* Azure has no well-known key variable of its own host to fall back on. */
        add_warning(cfg, "%s: no api_key_env; requests go without an api-key (set api_key_env, "
                    "or an Authorization header in headers for Entra ID)", where);
    }
    return 0;
}

/* ---- deployments -------------------------------------------------------- */

static const char *const deployment_extra[] = {"provider", NULL};

static int load_deployment(struct loader *L, const struct tg_toml_value *elem, size_t index)
{
    struct tg_config *cfg = L->cfg;
    struct tg_deployment_cfg *d = &cfg->deployments[index];
    d->index = index;
    d->weight = 1.0;
    if (elem->type != TG_TOML_TABLE)
        return fail(L, elem->pos, "each [[deployments]] entry must be a table");
    const struct tg_toml_table *t = elem->u.tab;
    if (apply_fields(L, "deployments", t, deployment_fields, d, deployment_extra, NULL) < 0)
        return -1;
    if (check_entry_name(L, elem, "deployments", "deployment", d->name, index, deployment_name) < 0)
        return -1;
    const struct tg_toml_kv *pkv = tg_toml_get(t, "provider");
    if (!pkv)
        return fail(L, elem->pos, "deployment \"%s\" lacks the required key \"provider\"", d->name);
    if (expect_type(L, "deployments", pkv, TG_TOML_STRING, "a string") < 0)
        return -1;
    if (memchr(pkv->value.u.str.ptr, '\0', pkv->value.u.str.len))
        return fail(L, pkv->value.pos, "deployments.provider may not contain NUL");
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strcmp(cfg->providers[i].name, pkv->value.u.str.ptr) == 0)
            d->provider = &cfg->providers[i];
    if (!d->provider)
        return fail(L, pkv->value.pos, "deployment \"%s\" names provider \"%s\", which is not "
                                       "defined in [[providers]]",
                    d->name, pkv->value.u.str.ptr);
    if (!d->model)
        return fail(L, elem->pos, "deployment \"%s\" lacks the required key \"model\"", d->name);
    if (d->model[0] == '\0')
        return fail(L, tg_toml_get(t, "model")->value.pos,
                    "deployment \"%s\": model must not be empty", d->name);
    return 0;
}

/* ---- routes ------------------------------------------------------------- */

enum fallback_kind { FB_PLAIN = 0, FB_CONTEXT_WINDOW, FB_CONTENT_POLICY, FB__COUNT };
static const char *const fallback_keys[FB__COUNT] = {"fallbacks", "context_window_fallbacks",
                                                     "content_policy_fallbacks"};
static const char *const route_extra[] = {"model", "deployments", "fallbacks",
                                          "context_window_fallbacks", "content_policy_fallbacks",
                                          "timeouts", "retry", "hedge", "validate", "cache", NULL};

static struct tg_route_cfg ***fallback_slot(struct tg_route_cfg *r, enum fallback_kind k,
                                            size_t **n)
{
    switch (k) {
    case FB_CONTEXT_WINDOW:
        *n = &r->n_context_window_fallbacks;
        return &r->context_window_fallbacks;
    case FB_CONTENT_POLICY:
        *n = &r->n_content_policy_fallbacks;
        return &r->content_policy_fallbacks;
    default:
        *n = &r->n_fallbacks;
        return &r->fallbacks;
    }
}

static void policy_copy(struct tg_policy *to, const struct tg_policy *from)
{
    *to = *from;
    strlist_copy(&to->validate.refusal_phrases, &from->validate.refusal_phrases);
}

static int load_route(struct loader *L, const struct tg_toml_value *elem, size_t index)
{
    struct tg_config *cfg = L->cfg;
    struct tg_route_cfg *r = &cfg->routes[index];
    r->index = index;
    policy_copy(&r->policy, &cfg->policy);
    r->overrides = tg_xstrdup("");
    if (elem->type != TG_TOML_TABLE)
        return fail(L, elem->pos, "each [[routes]] entry must be a table");
    const struct tg_toml_table *t = elem->u.tab;
    for (size_t i = 0; i < t->len; i++) {
        int known = 0;
        for (int e = 0; route_extra[e]; e++)
            known |= strcmp(route_extra[e], t->items[i].key) == 0;
        if (!known)
            return unknown_key(L, &t->items[i], "[[routes]]", (const char *const *)route_extra,
                               sizeof(route_extra) / sizeof(route_extra[0]) - 1);
    }
    const struct tg_toml_kv *kv = tg_toml_get(t, "model");
    if (!kv)
        return fail(L, elem->pos, "[[routes]] entry without the required key \"model\"");
    if (expect_type(L, "routes", kv, TG_TOML_STRING, "a string") < 0)
        return -1;
    if (kv->value.u.str.len == 0 || memchr(kv->value.u.str.ptr, '\0', kv->value.u.str.len))
        return fail(L, kv->value.pos, "routes.model must be a non-empty name");
    r->model = dup_str(&kv->value);
    for (size_t i = 0; i < index; i++)
        if (strcmp(cfg->routes[i].model, r->model) == 0)
            return fail(L, kv->value.pos, "duplicate route for model \"%s\"", r->model);

    char where[160];
    snprintf(where, sizeof(where), "route \"%s\"", r->model);
    kv = tg_toml_get(t, "deployments");
    if (!kv)
        return fail(L, elem->pos, "%s lacks the required key \"deployments\"", where);
    if (kv->value.type != TG_TOML_ARRAY)
        return fail(L, kv->value.pos, "%s: deployments must be an array of deployment names",
                    where);
    const struct tg_toml_array *a = kv->value.u.arr;
    if (a->len == 0)
        return fail(L, kv->value.pos, "%s: deployments must name at least one deployment", where);
    r->deployments = tg_xcalloc(a->len, sizeof(*r->deployments));
    for (size_t i = 0; i < a->len; i++) {
        const struct tg_toml_value *v = &a->items[i];
        if (v->type != TG_TOML_STRING || memchr(v->u.str.ptr, '\0', v->u.str.len))
            return fail(L, v->pos, "%s: deployments must hold names (strings)", where);
        const struct tg_deployment_cfg *d = tg_config_deployment(cfg, v->u.str.ptr);
        if (!d)
            return fail(L, v->pos, "%s names deployment \"%s\", which is not defined in "
                                   "[[deployments]]",
                        where, v->u.str.ptr);
        for (size_t j = 0; j < r->n_deployments; j++)
            if (r->deployments[j] == d)
                return fail(L, v->pos, "%s lists deployment \"%s\" twice", where, d->name);
        r->deployments[r->n_deployments++] = (struct tg_deployment_cfg *)d;
    }

    struct tg_buf note = TG_BUF_INIT;
    for (size_t s = 0; s < N_POLICY_SECTIONS; s++) {
        kv = tg_toml_get(t, policy_sections[s].name);
        char section_where[200];
        snprintf(section_where, sizeof(section_where), "routes[\"%s\"].%s", r->model,
                 policy_sections[s].name);
        L->note_prefix = policy_sections[s].name;
        int rc = kv ? load_policy_section(L, &policy_sections[s], section_where, kv, &r->policy,
                                          &note)
                    : 0;
        L->note_prefix = NULL;
        if (rc < 0) {
            tg_buf_free(&note);
            return -1;
        }
    }
    if (note.len) {
        note.data[--note.len] = '\0'; /* the trailing space */
        free(r->overrides);
        r->overrides = tg_buf_steal(&note, NULL);
    }
    tg_buf_free(&note);
    char who[200];
    snprintf(who, sizeof(who), "%s: ", where);
    return check_policy(L, &r->policy, who, sub_table(t, "retry"), sub_table(t, "hedge"),
                        elem->pos);
}

/* Resolves the three fallback lists of route `index` once all routes exist. */
static int resolve_fallbacks(struct loader *L, const struct tg_toml_value *elem, size_t index)
{
    struct tg_config *cfg = L->cfg;
    struct tg_route_cfg *r = &cfg->routes[index];
    for (int k = 0; k < FB__COUNT; k++) {
        const struct tg_toml_kv *kv = tg_toml_get(elem->u.tab, fallback_keys[k]);
        if (!kv)
            continue;
        if (kv->value.type != TG_TOML_ARRAY)
            return fail(L, kv->value.pos, "route \"%s\": %s must be an array of route models",
                        r->model, fallback_keys[k]);
        const struct tg_toml_array *a = kv->value.u.arr;
        size_t *n;
        struct tg_route_cfg ***list = fallback_slot(r, (enum fallback_kind)k, &n);
        *list = a->len ? tg_xcalloc(a->len, sizeof(**list)) : NULL;
        for (size_t i = 0; i < a->len; i++) {
            const struct tg_toml_value *v = &a->items[i];
            if (v->type != TG_TOML_STRING || memchr(v->u.str.ptr, '\0', v->u.str.len))
                return fail(L, v->pos, "route \"%s\": %s must hold route models (strings)",
                            r->model, fallback_keys[k]);
            const struct tg_route_cfg *to = tg_config_route(cfg, v->u.str.ptr, v->u.str.len);
            if (!to)
                return fail(L, v->pos, "route \"%s\": %s names \"%s\", which is not the model "
                                       "of any [[routes]] entry",
                            r->model, fallback_keys[k], v->u.str.ptr);
            if (to == r)
                return fail(L, v->pos, "route \"%s\" lists itself in %s", r->model,
                            fallback_keys[k]);
            for (size_t j = 0; j < *n; j++)
                if ((*list)[j] == to)
                    return fail(L, v->pos, "route \"%s\" lists \"%s\" twice in %s", r->model,
                                to->model, fallback_keys[k]);
            (*list)[(*n)++] = (struct tg_route_cfg *)to;
        }
    }
    return 0;
}

/* route->reachable: a walk over every kind of fallback edge (the graph has
 * no cycle by now, but routes are shared, so each is entered once). */
static void find_reachable(struct tg_config *cfg, struct tg_route_cfg *route)
{
    bool *seen = tg_xcalloc(cfg->n_routes, sizeof(*seen));
    bool *have = tg_xcalloc(cfg->n_deployments ? cfg->n_deployments : 1, sizeof(*have));
    const struct tg_route_cfg **todo = tg_xcalloc(cfg->n_routes, sizeof(*todo));
    size_t n = 0;
    route->reachable = tg_xcalloc(cfg->n_deployments ? cfg->n_deployments : 1,
                                  sizeof(*route->reachable));
    route->n_reachable = 0;
    todo[n++] = route;
    seen[route->index] = true;
    while (n > 0) {
        const struct tg_route_cfg *r = todo[--n];
        for (size_t i = 0; i < r->n_deployments; i++) {
            size_t d = (size_t)(r->deployments[i] - cfg->deployments);
            if (!have[d]) {
                have[d] = true;
                route->reachable[route->n_reachable++] = r->deployments[i];
            }
        }
        struct tg_route_cfg *const *lists[] = {r->fallbacks, r->context_window_fallbacks,
                                               r->content_policy_fallbacks};
        size_t lens[] = {r->n_fallbacks, r->n_context_window_fallbacks,
                         r->n_content_policy_fallbacks};
        for (size_t l = 0; l < 3; l++)
            for (size_t i = 0; i < lens[l]; i++)
                if (!seen[lists[l][i]->index]) {
                    seen[lists[l][i]->index] = true;
                    todo[n++] = lists[l][i];
                }
    }
    free(todo);
    free(have);
    free(seen);
}

/* Depth-first search over every fallback edge; a back edge is a cycle. */
struct cycle_search {
    struct loader *L;
    const struct tg_toml_array *routes_toml;
    unsigned char *color; /* 0 new, 1 on the path, 2 done */
    size_t *path;
    size_t depth;
};

static int visit(struct cycle_search *cs, size_t i)
{
    struct tg_config *cfg = cs->L->cfg;
    cs->color[i] = 1;
    cs->path[cs->depth++] = i;
    struct tg_route_cfg *r = &cfg->routes[i];
    for (int k = 0; k < FB__COUNT; k++) {
        size_t *n;
        struct tg_route_cfg **list = *fallback_slot(r, (enum fallback_kind)k, &n);
        for (size_t j = 0; j < *n; j++) {
            size_t to = list[j]->index;
            if (cs->color[to] == 2)
                continue;
            if (cs->color[to] == 1) {
                struct tg_buf chain = TG_BUF_INIT;
                size_t start = 0;
                while (cs->path[start] != to)
                    start++;
                for (size_t p = start; p < cs->depth; p++)
                    tg_buf_printf(&chain, "\"%s\" -> ", cfg->routes[cs->path[p]].model);
                tg_buf_printf(&chain, "\"%s\"", cfg->routes[to].model);
                const struct tg_toml_kv *kv =
                    tg_toml_get(cs->routes_toml->items[i].u.tab, fallback_keys[k]);
                fail(cs->L, kv->value.u.arr->items[j].pos, "fallback cycle: %s", chain.data);
                tg_buf_free(&chain);
                return -1;
            }
            if (visit(cs, to) < 0)
                return -1;
        }
    }
    cs->depth--;
    cs->color[i] = 2;
    return 0;
}

static int check_cycles(struct loader *L, const struct tg_toml_array *routes_toml)
{
    size_t n = L->cfg->n_routes;
    struct cycle_search cs = {L, routes_toml, tg_xcalloc(n, 1), tg_xcalloc(n, sizeof(size_t)), 0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cs.color[i] == 0)
            rc = visit(&cs, i);
    free(cs.color);
    free(cs.path);
    return rc;
}

/* ---- [[auth.keys]] ------------------------------------------------------ */

static const struct field key_fields[] = {
    STRING_FIELD(struct tg_key_cfg, name),
    STRING_FIELD(struct tg_key_cfg, key_env),
    STRLIST_FIELD(struct tg_key_cfg, models),
    INT_FIELD(struct tg_key_cfg, rpm, 0, 1e12),
    INT_FIELD(struct tg_key_cfg, tpm, 0, 1e15),
    FLOAT_FIELD(struct tg_key_cfg, max_request_usd, 0, 1e9),
    FLOAT_FIELD(struct tg_key_cfg, usd_per_hour, 0, 1e9),
    FIELDS_END,
};

/* key_sha256 is read apart (hex into bytes). */
static const char *const key_extra[] = {"key_sha256", NULL};

static const char *key_name(const struct tg_config *cfg, size_t i)
{
    return cfg->keys[i].name;
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

bool tg_key_allows(const struct tg_key_cfg *k, const char *model)
{
    for (size_t i = 0; i < k->models.len; i++)
        if (fnmatch(k->models.items[i], model, 0) == 0)
            return true;
    return false;
}

static int load_key(struct loader *L, const struct tg_toml_value *elem, size_t index)
{
    struct tg_config *cfg = L->cfg;
    struct tg_key_cfg *k = &cfg->keys[index];
    k->index = index;
    if (elem->type != TG_TOML_TABLE)
        return fail(L, elem->pos, "each [[auth.keys]] entry must be a table");
    const struct tg_toml_table *t = elem->u.tab;
    if (apply_fields(L, "auth.keys", t, key_fields, k, key_extra, NULL) < 0)
        return -1;
    if (check_entry_name(L, elem, "auth.keys", "key", k->name, index, key_name) < 0)
        return -1;
    const struct tg_toml_kv *hex = tg_toml_get(t, "key_sha256");
    const struct tg_toml_kv *env = tg_toml_get(t, "key_env");
    if (!hex == !env)
        return fail(L, hex ? hex->key_pos : elem->pos,
                    "key \"%s\" needs exactly one of key_sha256 and key_env", k->name);
    if (hex) {
        if (expect_type(L, "auth.keys", hex, TG_TOML_STRING, "a string") < 0)
            return -1;
        const char *h = hex->value.u.str.ptr;
        bool ok = hex->value.u.str.len == 64;
        for (size_t i = 0; ok && i < 32; i++) {
            int hi = tg_hex_value(h[2 * i]), lo = tg_hex_value(h[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            k->sha256[i] = (unsigned char)(hi * 16 + lo);
        }
        if (!ok)
            return fail(L, hex->value.pos, "key \"%s\": key_sha256 must be 64 hex digits (the "
                                           "SHA-256 of the key, e.g. from `printf %%s KEY | "
                                           "sha256sum`)",
                        k->name);
        k->key_env = tg_xstrdup("");
    } else {
        const char *v = k->key_env[0] ? getenv(k->key_env) : NULL;
        if (!v || !v[0])
            return fail(L, env->value.pos, "key \"%s\": the environment variable \"%s\" (key_env) "
                                           "is %s",
                        k->name, k->key_env, k->key_env[0] ? "unset or empty" : "not named");
        sha256(v, strlen(v), k->sha256);
    }
    if (!tg_toml_get(t, "models")) {
        k->models.items = tg_xcalloc(1, sizeof(char *));
        k->models.items[0] = tg_xstrdup("*");
        k->models.len = 1;
    }
    for (size_t i = 0; i < index; i++)
        if (memcmp(cfg->keys[i].sha256, k->sha256, 32) == 0)
            return fail(L, (hex ? hex : env)->value.pos,
                        "keys \"%s\" and \"%s\" are the same key: a request could not say "
                        "which it is",
                        cfg->keys[i].name, k->name);
    size_t allowed = 0;
    for (size_t r = 0; r < cfg->n_routes; r++)
        allowed += tg_key_allows(k, cfg->routes[r].model);
    if (allowed == 0)
        add_warning(cfg, "key \"%s\" may call no route: its models match none", k->name);
    return 0;
}

static int load_auth(struct loader *L, const struct tg_toml_kv *auth)
{
    const struct tg_toml_table *t = as_table(L, "[auth]", auth);
    if (!t)
        return -1;
    static const char *const auth_keys[] = {"keys"};
    for (size_t i = 0; i < t->len; i++)
        if (strcmp(t->items[i].key, "keys") != 0)
            return unknown_key(L, &t->items[i], "[auth]", auth_keys, 1);
    const struct tg_toml_kv *kv = tg_toml_get(t, "keys");
    if (!kv)
        return 0;
    if (kv->value.type != TG_TOML_ARRAY)
        return fail(L, kv->value.pos, "auth.keys must be an array of tables: write [[auth.keys]] "
                                      "entries");
    const struct tg_toml_array *a = kv->value.u.arr;
    L->cfg->keys = a->len ? tg_xcalloc(a->len, sizeof(*L->cfg->keys)) : NULL;
    for (size_t i = 0; i < a->len; i++) {
        L->cfg->n_keys = i + 1;
        if (load_key(L, &a->items[i], i) < 0)
            return -1;
    }
    return 0;
}

/* ---- the document ------------------------------------------------------- */

static const struct tg_toml_array *as_entries(struct loader *L, const struct tg_toml_kv *kv)
{
    if (kv->value.type != TG_TOML_ARRAY) {
        fail(L, kv->value.pos, "%s must be an array of tables: write [[%s]] entries", kv->key,
             kv->key);
        return NULL;
    }
    return kv->value.u.arr;
}

/* A dead-letter queue that cannot be written is found out at the first
 * failure otherwise: say so at startup, reload and `check`. Only a warning:
 * the directory may appear later, and every failed write is reported. */
static void warn_dlq_dir(struct tg_config *cfg)
{
    const char *path = cfg->background.dlq_path;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? tg_xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : tg_xstrdup(".");
    if (access(dir, W_OK | X_OK) != 0)
        add_warning(cfg, "background.dlq_path \"%s\": its directory %s is not writable here "
                         "(%s): failed background requests could not be saved",
                    path, dir, strerror(errno));
    free(dir);
}

/* [shared]: the URL is read into host, port and db here, and the password
 * from its variable, so a mistake is `tailgate check`'s to report and not a
 * reconnect loop's. */
static int load_shared(struct loader *L, const struct tg_toml_kv *kv)
{
    struct tg_shared_cfg *sh = &L->cfg->shared;
    const struct tg_toml_table *t = as_table(L, "[shared]", kv);
    if (!t || apply_fields(L, "shared", t, shared_fields, sh, NULL, NULL) < 0)
        return -1;
    const struct tg_toml_kv *url = tg_toml_get(t, "redis_url");
    const struct tg_toml_kv *env = tg_toml_get(t, "password_env");
    if (!sh->redis_url[0])
        return 0;
    struct tg_redis_addr addr;
    char why[160];
    if (tg_redis_url_parse(sh->redis_url, &addr, why, sizeof(why)) < 0)
        return fail(L, url->value.pos, "shared.redis_url \"%s\": %s", sh->redis_url, why);
    sh->host = tg_xstrdup(addr.host);
    sh->port = addr.port;
    sh->db = addr.db;
    if (sh->password_env[0]) {
        const char *v = getenv(sh->password_env);
        if (!v || !v[0])
            return fail(L, env->value.pos, "shared.password_env: the environment variable "
                                           "\"%s\" is unset or empty",
                        sh->password_env);
        sh->password = tg_xstrdup(v);
    }
    if (!sh->key_prefix[0])
        add_warning(L->cfg, "shared.key_prefix is empty: tailgate's keys share the db's "
                            "namespace with everything else in it");
    return 0;
}

/* [telemetry]: the collector's URL is checked here, and made the traces
 * URL as OpenTelemetry's exporters make it from a base endpoint. */
static int load_telemetry(struct loader *L, const struct tg_toml_kv *kv)
{
    struct tg_telemetry_cfg *tc = &L->cfg->telemetry;
    const struct tg_toml_table *t = as_table(L, "[telemetry]", kv);
    if (!t || apply_fields(L, "telemetry", t, telemetry_fields, tc, telemetry_extra, NULL) < 0)
        return -1;
    const struct tg_toml_kv *h = tg_toml_get(t, "headers");
    if (h && load_headers(L, "telemetry", h, &tc->headers, &tc->n_headers) < 0)
        return -1;
    if (!tc->service_name[0])
        return fail(L, tg_toml_get(t, "service_name")->value.pos,
                    "telemetry.service_name may not be empty");
    if (tc->batch_spans > tc->queue_spans)
        return fail(L, kv->value.pos, "telemetry.batch_spans is above telemetry.queue_spans");
    const char *url = tc->otlp_endpoint;
    if (!url[0])
        return 0;
    const struct tg_toml_kv *u = tg_toml_get(t, "otlp_endpoint");
    size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (!scheme)
        return fail(L, u->value.pos, "telemetry.otlp_endpoint must start with http:// or "
                                     "https:// (OTLP/HTTP, e.g. \"http://127.0.0.1:4318\")");
    char host[TG_URL_HOST_CAP], why[96] = "a query, fragment or blank";
    int port;
    if (strpbrk(url, "?# \t") ||
        tg_url_authority(url + scheme, strcspn(url + scheme, "/"), host, &port, why,
                         sizeof(why)) < 0)
        return fail(L, u->value.pos, "telemetry.otlp_endpoint \"%s\" is not a collector URL "
                                     "(scheme, host, optional port, path): %s",
                    url, why);
    /* A URL with no path is the collector's base: traces go to /v1/traces. */
    const char *path = strchr(url + scheme, '/');
    size_t n = strlen(url);
    while (n > scheme && url[n - 1] == '/')
        n--;
    if (!path || url + n <= path) {
        struct tg_buf b = TG_BUF_INIT;
        tg_buf_append(&b, url, n);
        tg_buf_puts(&b, "/v1/traces");
        tc->traces_url = tg_buf_steal(&b, NULL);
    } else {
        tc->traces_url = tg_xstrdup(url);
    }
    return 0;
}

static int load_root(struct loader *L, const struct tg_toml_table *root)
{
    struct tg_config *cfg = L->cfg;
    static const char *const top_keys[] = {"server",  "timeouts", "retry",     "hedge",
                                           "breaker", "validate", "cache",     "degraded",
                                           "providers", "deployments", "routes", "auth",
                                           "budget", "idempotency", "background", "shared",
                                           "telemetry"};
    const size_t n_top = sizeof(top_keys) / sizeof(top_keys[0]);
    for (size_t i = 0; i < root->len; i++) {
        const struct tg_toml_kv *kv = &root->items[i];
        int known = 0;
        for (size_t k = 0; k < n_top; k++)
            known |= strcmp(top_keys[k], kv->key) == 0;
        if (known)
            continue;
        return unknown_key(L, kv, "the top level", top_keys, n_top);
    }

    const struct tg_toml_kv *kv;
    if ((kv = tg_toml_get(root, "server")) && load_server(L, kv) < 0)
        return -1;
    for (size_t s = 0; s < N_POLICY_SECTIONS; s++)
        if ((kv = tg_toml_get(root, policy_sections[s].name)) &&
            load_policy_section(L, &policy_sections[s], policy_sections[s].name, kv,
                                &cfg->policy, NULL) < 0)
            return -1;
    if ((kv = tg_toml_get(root, "budget"))) {
        const struct tg_toml_table *t = as_table(L, "[budget]", kv);
        if (!t || apply_fields(L, "budget", t, budget_fields, &cfg->budget, NULL, NULL) < 0)
            return -1;
    }
    if ((kv = tg_toml_get(root, "background"))) {
        const struct tg_toml_table *t = as_table(L, "[background]", kv);
        if (!t || apply_fields(L, "background", t, background_fields, &cfg->background, NULL,
                               NULL) < 0)
            return -1;
        const struct tg_toml_kv *p = tg_toml_get(t, "dlq_path");
        if (p && cfg->background.dlq_path[0] == '\0')
            return fail(L, p->value.pos, "background.dlq_path may not be empty: failed background "
                                         "requests must go somewhere");
    }
    warn_dlq_dir(cfg);
    if ((kv = tg_toml_get(root, "breaker"))) {
        const struct tg_toml_table *t = as_table(L, "[breaker]", kv);
        if (!t || apply_fields(L, "breaker", t, breaker_fields, &cfg->breaker, NULL, NULL) < 0)
            return -1;
        if (cfg->breaker.cooldown_ms > cfg->breaker.max_cooldown_ms)
            return fail(L, kv->value.pos, "breaker.cooldown_ms is above breaker.max_cooldown_ms");
    }
    if ((kv = tg_toml_get(root, "idempotency"))) {
        const struct tg_toml_table *t = as_table(L, "[idempotency]", kv);
        if (!t || apply_fields(L, "idempotency", t, idempotency_fields, &cfg->idempotency, NULL,
                               NULL) < 0)
            return -1;
    }
    if ((kv = tg_toml_get(root, "telemetry")) && load_telemetry(L, kv) < 0)
        return -1;
    if ((kv = tg_toml_get(root, "shared")) && load_shared(L, kv) < 0)
        return -1;
    if ((kv = tg_toml_get(root, "degraded"))) {
        const struct tg_toml_table *t = as_table(L, "[degraded]", kv);
        if (!t || apply_fields(L, "degraded", t, degraded_fields, &cfg->degraded, NULL, NULL) < 0)
            return -1;
    }
    if (check_policy(L, &cfg->policy, "", sub_table(root, "retry"), sub_table(root, "hedge"),
                     (struct tg_toml_pos){1, 1}) < 0)
        return -1;

    const struct tg_toml_array *providers = NULL, *deployments = NULL, *routes = NULL;
    if ((kv = tg_toml_get(root, "providers")) && !(providers = as_entries(L, kv)))
        return -1;
    if ((kv = tg_toml_get(root, "deployments")) && !(deployments = as_entries(L, kv)))
        return -1;
    if ((kv = tg_toml_get(root, "routes")) && !(routes = as_entries(L, kv)))
        return -1;

    if (providers) {
        cfg->providers = tg_xcalloc(providers->len, sizeof(*cfg->providers));
        for (size_t i = 0; i < providers->len; i++) {
            cfg->n_providers = i + 1;
            if (load_provider(L, &providers->items[i], i) < 0)
                return -1;
        }
    }
    if (deployments) {
        cfg->deployments = tg_xcalloc(deployments->len, sizeof(*cfg->deployments));
        for (size_t i = 0; i < deployments->len; i++) {
            cfg->n_deployments = i + 1;
            if (load_deployment(L, &deployments->items[i], i) < 0)
                return -1;
        }
    }
    if (!routes || routes->len == 0) {
        struct tg_toml_pos end = {1, 1};
        return fail(L, end, "no [[routes]]: the gateway would have nothing to serve");
    }
    cfg->routes = tg_xcalloc(routes->len, sizeof(*cfg->routes));
    for (size_t i = 0; i < routes->len; i++) {
        cfg->n_routes = i + 1;
        if (load_route(L, &routes->items[i], i) < 0)
            return -1;
    }
    for (size_t i = 0; i < routes->len; i++)
        if (resolve_fallbacks(L, &routes->items[i], i) < 0)
            return -1;
    if (check_cycles(L, routes) < 0)
        return -1;
    for (size_t i = 0; i < cfg->n_routes; i++)
        find_reachable(cfg, &cfg->routes[i]);
    if ((kv = tg_toml_get(root, "auth")) && load_auth(L, kv) < 0)
        return -1;
    for (size_t i = 0; i < cfg->n_keys; i++) {
        struct tg_key_cfg *k = &cfg->keys[i];
        k->counter_rpm = tg_limit_counter_dup("rpm", k->name);
        k->counter_tpm = tg_limit_counter_dup("tpm", k->name);
        k->counter_spend = tg_limit_counter_dup("spend", k->name);
    }

    for (size_t i = 0; i < cfg->n_deployments; i++) {
        int used = 0;
        for (size_t r = 0; r < cfg->n_routes && !used; r++)
            for (size_t j = 0; j < cfg->routes[r].n_deployments; j++)
                used |= cfg->routes[r].deployments[j] == &cfg->deployments[i];
        if (!used)
            add_warning(cfg, "deployment \"%s\" is not in any route", cfg->deployments[i].name);
    }
    return 0;
}

struct tg_config *tg_config_parse(const char *path, const char *text, size_t len,
                                  struct tg_config_error *err)
{
    struct tg_toml_error terr;
    struct tg_toml_doc *doc = tg_toml_parse(text, len, &terr);
    if (!doc) {
        snprintf(err->message, sizeof(err->message), "%s:%d:%d: %s", path, terr.pos.line,
                 terr.pos.col, terr.message);
        return NULL;
    }
    struct tg_config *cfg = tg_xcalloc(1, sizeof(*cfg));
    cfg->path = tg_xstrdup(path);
    set_defaults(cfg);
    struct loader L = {path, cfg, err, 0, NULL};
    int rc = load_root(&L, tg_toml_root(doc));
    tg_toml_free(doc);
    if (rc < 0) {
        tg_config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct tg_config *tg_config_load(const char *path, struct tg_config_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err->message, sizeof(err->message), "%s:1:1: cannot open: %s", path,
                 strerror(errno));
        return NULL;
    }
    struct tg_buf b = TG_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > 16 * 1024 * 1024) {
            fclose(f);
            tg_buf_free(&b);
            snprintf(err->message, sizeof(err->message), "%s:1:1: larger than 16 MiB", path);
            return NULL;
        }
        tg_buf_append(&b, chunk, n);
    }
    int read_error = ferror(f) ? errno : 0;
    fclose(f);
    if (read_error) {
        tg_buf_free(&b);
        snprintf(err->message, sizeof(err->message), "%s:1:1: cannot read: %s", path,
                 strerror(read_error));
        return NULL;
    }
    struct tg_config *cfg = tg_config_parse(path, b.data ? b.data : "", b.len, err);
    tg_buf_free(&b);
    return cfg;
}

static void policy_free(struct tg_policy *p)
{
    strlist_free(&p->validate.refusal_phrases);
}

static void free_headers(struct tg_header_cfg *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

void tg_config_free(struct tg_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    struct tg_server_cfg *s = &cfg->server;
    free(s->listen);
    free(s->admin_listen);
    free(s->access_log);
    free(s->tls_cert);
    free(s->tls_key);
    free(cfg->degraded.message);
    free(cfg->background.dlq_path);
    free(cfg->shared.redis_url);
    free(cfg->shared.password_env);
    free(cfg->shared.key_prefix);
    free(cfg->shared.host);
    if (cfg->shared.password) {
        explicit_bzero(cfg->shared.password, strlen(cfg->shared.password));
        free(cfg->shared.password);
    }
    free(cfg->telemetry.otlp_endpoint);
    free(cfg->telemetry.service_name);
    free(cfg->telemetry.traces_url);
    free_headers(cfg->telemetry.headers, cfg->telemetry.n_headers);
    policy_free(&cfg->policy);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        struct tg_provider_cfg *p = &cfg->providers[i];
        free(p->name);
        free(p->base_url);
        free(p->api_key_env);
        free(p->api_key);
        free(p->ca_file);
        free(p->anthropic_version);
        free(p->api_version);
        free_headers(p->headers, p->n_headers);
    }
    free(cfg->providers);
    for (size_t i = 0; i < cfg->n_deployments; i++) {
        free(cfg->deployments[i].name);
        free(cfg->deployments[i].model);
    }
    free(cfg->deployments);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        struct tg_route_cfg *r = &cfg->routes[i];
        free(r->model);
        free(r->deployments);
        free(r->fallbacks);
        free(r->context_window_fallbacks);
        free(r->content_policy_fallbacks);
        free(r->overrides);
        free(r->reachable);
        policy_free(&r->policy);
    }
    free(cfg->routes);
    for (size_t i = 0; i < cfg->n_keys; i++) {
        free(cfg->keys[i].name);
        free(cfg->keys[i].key_env);
        free(cfg->keys[i].counter_rpm);
        free(cfg->keys[i].counter_tpm);
        free(cfg->keys[i].counter_spend);
        strlist_free(&cfg->keys[i].models);
    }
    free(cfg->keys);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

const struct tg_route_cfg *tg_config_route(const struct tg_config *cfg, const char *model,
                                           size_t model_len)
{
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const char *m = cfg->routes[i].model;
        if (m && strlen(m) == model_len && memcmp(m, model, model_len) == 0)
            return &cfg->routes[i];
    }
    return NULL;
}

const struct tg_deployment_cfg *tg_config_deployment(const struct tg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_deployments; i++)
        if (cfg->deployments[i].name && strcmp(cfg->deployments[i].name, name) == 0)
            return &cfg->deployments[i];
    return NULL;
}

const char *tg_provider_kind_name(enum tg_provider_kind kind)
{
    return (unsigned)kind < TG_PROVIDER__COUNT ? provider_kind_values[kind] : "?";
}

const char *tg_jitter_name(enum tg_jitter j)
{
    return (unsigned)j < 3 ? jitter_values[j] : "?";
}

const char *tg_truncation_name(enum tg_truncation t)
{
    return (unsigned)t < 3 ? truncation_values[t] : "?";
}

const char *tg_cache_mode_name(enum tg_cache_mode m)
{
    return (unsigned)m < 3 ? cache_mode_values[m] : "?";
}

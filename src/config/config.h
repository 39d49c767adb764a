/* The gateway's configuration (SPEC section 2), as loaded from TOML.
 *
 * A struct tg_config is built whole by tg_config_load/parse, checked (types,
 * ranges, unknown keys, cross references, fallback cycles) and then never
 * changed: a SIGHUP reload builds a new one, and requests keep the one they
 * started with. Every string and array inside is owned by the config and
 * freed by tg_config_free. */
#ifndef TG_CONFIG_CONFIG_H
#define TG_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mock/options.h"

enum tg_jitter { TG_JITTER_FULL = 0, TG_JITTER_EQUAL, TG_JITTER_NONE };
enum tg_truncation { TG_TRUNCATION_FLAG = 0, TG_TRUNCATION_FAIL, TG_TRUNCATION_OFF };
enum tg_cache_mode { TG_CACHE_OFF = 0, TG_CACHE_FALLBACK, TG_CACHE_ON };
enum tg_provider_kind {
    TG_PROVIDER_OPENAI = 0,
    TG_PROVIDER_ANTHROPIC,
    TG_PROVIDER_AZURE, /* Azure OpenAI: OpenAI's bodies, a deployment URL, api-version, api-key */
    TG_PROVIDER_MOCK,
    TG_PROVIDER__COUNT
};

struct tg_server_cfg {
    char *listen;
    char *admin_listen; /* "" disables the admin listener */
    int64_t workers;
    int64_t max_connections;
    int64_t max_header_bytes;
    int64_t max_headers;
    int64_t max_body_bytes;
    int64_t max_response_bytes;
    int64_t read_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t drain_ms;
    char *access_log; /* "-" stdout, a path, or "" for none */
    char *tls_cert;
    char *tls_key;
};

struct tg_timeouts_cfg {
    int64_t request_ms;
    int64_t attempt_ms;
    int64_t connect_ms;
    int64_t first_byte_ms;
    int64_t stream_idle_ms; /* after a stream's commit point: longest silence from upstream */
};

struct tg_retry_cfg {
    int64_t max_attempts;
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    enum tg_jitter jitter;
    bool respect_retry_after;
    int64_t max_retry_after_ms;
    double budget_ratio;
    double budget_min_per_s;
};

struct tg_hedge_cfg {
    bool enabled;
    double quantile;
    int64_t min_delay_ms;
    int64_t max_delay_ms;
    int64_t initial_delay_ms;
    int64_t min_samples;
    double max_ratio;
    bool streaming;
};

struct tg_breaker_cfg {
    int64_t failure_threshold;
    double error_rate;
    int64_t min_requests;
    int64_t window_ms;
    int64_t cooldown_ms;
    int64_t max_cooldown_ms;
    int64_t half_open_probes;
    double latency_factor;
    int64_t quota_cooldown_ms;
};

struct tg_strlist {
    char **items;
    size_t len;
};

struct tg_validate_cfg {
    bool empty;
    bool refusal;
    struct tg_strlist refusal_phrases;
    enum tg_truncation truncation;
    bool json;
};

struct tg_cache_cfg {
    enum tg_cache_mode mode;
    int64_t ttl_s;
    int64_t stale_s;
    int64_t max_bytes;
};

struct tg_degraded_cfg {
    bool enabled;
    int64_t status;
    char *message;
};

/* The sections a route may override; each route holds a full resolved copy. */
struct tg_policy {
    struct tg_timeouts_cfg timeouts;
    struct tg_retry_cfg retry;
    struct tg_hedge_cfg hedge;
    struct tg_validate_cfg validate;
    struct tg_cache_cfg cache;
};

struct tg_header_cfg {
    char *name;
    char *value;
};

struct tg_provider_cfg {
    size_t index;
    char *name;
    enum tg_provider_kind kind;
    char *base_url; /* without a trailing '/' */
    char *api_key_env;
    char *api_key; /* read from api_key_env at load; NULL when unset. Never logged. */
    struct tg_header_cfg *headers;
    size_t n_headers;
    int64_t max_connections;
    bool http2;
    char *ca_file;
    int64_t default_max_tokens; /* anthropic: max_tokens when the request has none */
    char *anthropic_version;    /* anthropic: the anthropic-version header */
    char *api_version;          /* azure: the api-version query parameter; "" for other kinds */
    bool responses;             /* openai: serves /responses (Responses requests pass through) */
    struct tg_mock_options mock;
};

struct tg_deployment_cfg {
    size_t index;
    char *name;
    struct tg_provider_cfg *provider;
    char *model;
    double weight;
    int64_t context_tokens;
    double input_usd_per_mtok;
    double output_usd_per_mtok;
    double cached_input_usd_per_mtok; /* prompt tokens the provider reports as cached */
};

struct tg_route_cfg {
    size_t index;
    char *model;
    struct tg_deployment_cfg **deployments;
    size_t n_deployments;
    struct tg_route_cfg **fallbacks;
    size_t n_fallbacks;
    struct tg_route_cfg **context_window_fallbacks;
    size_t n_context_window_fallbacks;
    struct tg_route_cfg **content_policy_fallbacks;
    size_t n_content_policy_fallbacks;
    struct tg_policy policy;
    char *overrides; /* "timeouts.request_ms=8000 ..." for `tailgate check`, or "" */
    /* Every deployment a request to this route could reach: its own and
     * those of the routes any of its fallbacks lead to (each once). */
    struct tg_deployment_cfg **reachable;
    size_t n_reachable;
};

/* SPEC section 8 [[auth.keys]]. The key itself is never kept: only its
 * SHA-256, given as key_sha256 or taken from $key_env when loading. */
struct tg_key_cfg {
    size_t index;
    char *name;
    unsigned char sha256[32];
    char *key_env;            /* "" when key_sha256 was given */
    struct tg_strlist models; /* globs over route models; default ["*"] */
    int64_t rpm;              /* 0: no limit */
    int64_t tpm;              /* 0: no limit */
    double max_request_usd;   /* this key's cost ceiling per request; 0: none */
    double usd_per_hour;      /* this key's spend cap per clock hour (UTC); 0: none */
    /* Its counters' names in the limit store ("rpm:NAME", ...), spelled once. */
    char *counter_rpm, *counter_tpm, *counter_spend;
};

struct tg_budget_cfg {
    double max_request_usd; /* cost ceiling per request for everyone; 0: none */
    double usd_per_hour;    /* the whole gateway's spend cap per clock hour (UTC); 0: none */
};

/* [idempotency] (SPEC section 8). */
struct tg_idempotency_cfg {
    int64_t ttl_s;     /* answers kept for replay this long */
    int64_t max_bytes; /* memory for kept answers */
};

/* SPEC section 8 [background]: what `x-tailgate-mode: background` gets. */
struct tg_background_cfg {
    int64_t max_attempts; /* attempts on one deployment, in place of the route's retry.max_attempts */
    int64_t request_ms;   /* the request's deadline, in place of the route's timeouts.request_ms */
    char *dlq_path;       /* relative: to the working directory of `tailgate serve` */
};

/* [shared] (SPEC section 8): the Redis every instance shares limits, spend,
 * idempotency and the cache through. Off when redis_url is empty. */
struct tg_shared_cfg {
    char *redis_url;
    char *password_env; /* "": no AUTH */
    int64_t timeout_ms; /* a call slower than this counts as Redis being down */
    char *key_prefix;
    /* From the above, when redis_url is set: */
    char *host;
    int port, db;
    char *password; /* the variable's value; NULL: no AUTH */
};

/* [telemetry] (SPEC section 9): OpenTelemetry traces over OTLP/HTTP JSON.
 * Off when otlp_endpoint is empty. */
struct tg_telemetry_cfg {
    char *otlp_endpoint; /* the collector's base URL ("http://HOST:4318") or its traces URL */
    double sample_ratio; /* of traces starting here; a client's sampled flag decides its own */
    char *service_name;
    struct tg_header_cfg *headers; /* sent with every export (a vendor's key) */
    size_t n_headers;
    int64_t queue_spans; /* spans waiting for export, at most: more are dropped (counted) */
    int64_t batch_spans; /* an export starts once this many wait */
    int64_t flush_ms;    /* or once the oldest has waited this long */
    int64_t timeout_ms;  /* one export, at most */
    char *traces_url;    /* otlp_endpoint with /v1/traces when it names no path */
};

struct tg_config {
    char *path;
    struct tg_server_cfg server;
    struct tg_breaker_cfg breaker;
    struct tg_degraded_cfg degraded;
    struct tg_budget_cfg budget;
    struct tg_idempotency_cfg idempotency;
    struct tg_background_cfg background;
    struct tg_shared_cfg shared;
    struct tg_telemetry_cfg telemetry;
    struct tg_policy policy; /* global [timeouts] [retry] [hedge] [validate] [cache] */
    struct tg_provider_cfg *providers;
    size_t n_providers;
    struct tg_deployment_cfg *deployments;
    size_t n_deployments;
    struct tg_route_cfg *routes;
    size_t n_routes;
    struct tg_key_cfg *keys; /* none: the gateway is open, as before keys existed */
    size_t n_keys;
    char **warnings; /* things worth telling an operator, e.g. an unset API key env */
    size_t n_warnings;
};

struct tg_config_error {
    char message[1024]; /* "FILE:LINE:COL: message" */
};

/* Reads and checks FILE (blocking I/O: startup, `tailgate check`, or a reload
 * thread). NULL with *err on failure. */
struct tg_config *tg_config_load(const char *path, struct tg_config_error *err);
/* The same from text already in memory; `path` names it in messages. */
struct tg_config *tg_config_parse(const char *path, const char *text, size_t len,
                                  struct tg_config_error *err);
void tg_config_free(struct tg_config *cfg);

const struct tg_route_cfg *tg_config_route(const struct tg_config *cfg, const char *model,
                                           size_t model_len);
const struct tg_deployment_cfg *tg_config_deployment(const struct tg_config *cfg,
                                                     const char *name);

/* Whether key k may call the route whose model is `model`: one of its globs
 * matches it (fnmatch(3) without flags: '*' and '?' match '/' and a leading
 * '.' too, "[...]" are classes, '\\' escapes). */
bool tg_key_allows(const struct tg_key_cfg *k, const char *model);

const char *tg_provider_kind_name(enum tg_provider_kind kind);
const char *tg_jitter_name(enum tg_jitter j);
const char *tg_truncation_name(enum tg_truncation t);
const char *tg_cache_mode_name(enum tg_cache_mode m);

#endif

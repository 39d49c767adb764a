/* `tailgate check`: the resolved routes of a loaded config, as text for a
 * person: each route's weighted group with the share each deployment gets,
 * its fallback chains, and the keys it overrides. */
#include "config/describe.h"

#include <string.h>

static void print_route_list(FILE *out, const char *label, struct tg_route_cfg *const *list,
                             size_t n)
{
    fprintf(out, "    %-26s", label);
    if (n == 0)
        fputs("(none)", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? " -> " : "", list[i]->model);
    fputc('\n', out);
}

static void print_provider(FILE *out, const struct tg_provider_cfg *p)
{
    if (p->kind == TG_PROVIDER_MOCK) {
        fprintf(out, "mock provider \"%s\" (latency %gms", p->name, p->mock.latency_ms);
        if (p->mock.latency_p99_ms > 0)
            fprintf(out, ", p99 %gms", p->mock.latency_p99_ms);
        if (p->mock.error_rate > 0)
            fprintf(out, ", %g%% %lld", p->mock.error_rate * 100, (long long)p->mock.error_status);
        fputc(')', out);
        return;
    }
    fprintf(out, "%s provider \"%s\" %s", tg_provider_kind_name(p->kind), p->name, p->base_url);
    if (p->kind == TG_PROVIDER_AZURE)
        fprintf(out, " api-version %s", p->api_version);
    if (p->api_key_env[0])
        fprintf(out, " (key from $%s%s)", p->api_key_env, p->api_key ? "" : ", unset");
}

void tg_config_describe(const struct tg_config *cfg, FILE *out)
{
    fprintf(out, "%s: ok\n", cfg->path);
    fprintf(out, "listen %s", cfg->server.listen);
    if (cfg->server.tls_cert[0])
        fputs(" (TLS)", out);
    if (cfg->server.admin_listen[0])
        fprintf(out, ", admin %s", cfg->server.admin_listen);
    fprintf(out, ", %lld worker%s\n", (long long)cfg->server.workers,
            cfg->server.workers == 1 ? "" : "s");
    fprintf(out, "%zu route%s, %zu deployment%s, %zu provider%s\n", cfg->n_routes,
            cfg->n_routes == 1 ? "" : "s", cfg->n_deployments, cfg->n_deployments == 1 ? "" : "s",
            cfg->n_providers, cfg->n_providers == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct tg_route_cfg *r = &cfg->routes[i];
        fprintf(out, "\nroute \"%s\"\n", r->model);
        double total = 0;
        for (size_t j = 0; j < r->n_deployments; j++)
            total += r->deployments[j]->weight;
        for (size_t j = 0; j < r->n_deployments; j++) {
            const struct tg_deployment_cfg *d = r->deployments[j];
            fprintf(out, "    %-26s", j ? "" : "deployments");
            double share = total > 0 ? 100.0 * d->weight / total : 100.0 / (double)r->n_deployments;
            fprintf(out, "%s  weight %g (%.0f%%)  model \"%s\" on ", d->name, d->weight, share,
                    d->model);
            print_provider(out, d->provider);
            if (d->input_usd_per_mtok > 0 || d->cached_input_usd_per_mtok > 0 ||
                d->output_usd_per_mtok > 0)
                fprintf(out, "  $%g in / $%g cached / $%g out per Mtok", d->input_usd_per_mtok,
                        d->cached_input_usd_per_mtok, d->output_usd_per_mtok);
            if (d->context_tokens > 0)
                fprintf(out, "  context %lld tokens", (long long)d->context_tokens);
            fputc('\n', out);
        }
        print_route_list(out, "fallbacks", r->fallbacks, r->n_fallbacks);
        print_route_list(out, "context_window_fallbacks", r->context_window_fallbacks,
                         r->n_context_window_fallbacks);
        print_route_list(out, "content_policy_fallbacks", r->content_policy_fallbacks,
                         r->n_content_policy_fallbacks);
        const struct tg_policy *p = &r->policy;
        fprintf(out, "    %-26srequest %lldms, attempt %lldms, %lld attempts per deployment, "
                     "hedge %s, cache %s\n",
                "policy", (long long)p->timeouts.request_ms, (long long)p->timeouts.attempt_ms,
                (long long)p->retry.max_attempts, p->hedge.enabled ? "on" : "off",
                tg_cache_mode_name(p->cache.mode));
        fprintf(out, "    %-26sfirst content %lldms, idle %lldms\n", "streams",
                (long long)p->timeouts.first_byte_ms, (long long)p->timeouts.stream_idle_ms);
        if (r->overrides[0])
            fprintf(out, "    %-26s%s\n", "overrides", r->overrides);
    }
    fprintf(out, "\nIdempotency-Key answers kept %llds, in at most %lld bytes\n",
            (long long)cfg->idempotency.ttl_s, (long long)cfg->idempotency.max_bytes);
    const struct tg_background_cfg *bg = &cfg->background;
    fprintf(out, "\nbackground requests (x-tailgate-mode: background): %lld attempts per "
                 "deployment, deadline %lldms; what still fails goes to %s%s\n",
            (long long)bg->max_attempts, (long long)bg->request_ms, bg->dlq_path,
            bg->dlq_path[0] == '/' ? "" : " (relative to the directory tailgate serve runs in)");
    const struct tg_shared_cfg *sh = &cfg->shared;
    if (sh->host)
        fprintf(out, "\nshared with every instance through Redis at %s%s%s:%d db %d%s%s (keys "
                     "under \"%s\", calls over %lldms count as Redis down): rate limits, spend caps, "
                     "Idempotency-Keys and the cache\n",
                strchr(sh->host, ':') ? "[" : "", sh->host, strchr(sh->host, ':') ? "]" : "",
                sh->port, sh->db, sh->password ? ", password from " : "",
                sh->password ? sh->password_env : "", sh->key_prefix,
                (long long)sh->timeout_ms);
    else
        fputs("\nnot shared ([shared] redis_url unset): limits, spend, idempotency and the cache "
              "are this instance's own\n",
              out);
    const struct tg_telemetry_cfg *tc = &cfg->telemetry;
    if (tc->traces_url) {
        fprintf(out, "\ntraces (OTLP/HTTP JSON) to %s as service \"%s\", %g of new traces sampled "
                     "(a client's traceparent decides its own); at most %lld spans wait, sent "
                     "by %lld or after %lldms, each export within %lldms",
                tc->traces_url, tc->service_name, tc->sample_ratio, (long long)tc->queue_spans,
                (long long)tc->batch_spans, (long long)tc->flush_ms, (long long)tc->timeout_ms);
        for (size_t i = 0; i < tc->n_headers; i++)
            fprintf(out, "%s%s", i ? ", " : "; headers sent: ", tc->headers[i].name);
        fputc('\n', out);
    } else {
        fputs("\nno traces ([telemetry] otlp_endpoint unset): a client's traceparent is passed "
              "upstream as it came\n",
              out);
    }
    if (cfg->budget.max_request_usd > 0)
        fprintf(out, "\ncost ceiling $%g per request for every client\n",
                cfg->budget.max_request_usd);
    if (cfg->budget.usd_per_hour > 0)
        fprintf(out, "%sspend cap $%g per hour (UTC) for the whole gateway\n",
                cfg->budget.max_request_usd > 0 ? "" : "\n", cfg->budget.usd_per_hour);
    if (cfg->n_keys == 0)
        fputs("\nno [[auth.keys]]: any client that reaches the listener may call every route\n",
              out);
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct tg_key_cfg *k = &cfg->keys[i];
        /* The key's name, never the key or its hash. */
        fprintf(out, "\nkey \"%s\"%s%s%s\n", k->name, k->key_env[0] ? " (from $" : "",
                k->key_env, k->key_env[0] ? ")" : "");
        fprintf(out, "    %-26s", "limits");
        if (k->rpm)
            fprintf(out, "%lld requests/min", (long long)k->rpm);
        if (k->tpm)
            fprintf(out, "%s%lld tokens/min", k->rpm ? ", " : "", (long long)k->tpm);
        if (k->max_request_usd > 0)
            fprintf(out, "%s$%g per request at most", k->rpm || k->tpm ? ", " : "",
                    k->max_request_usd);
        if (k->usd_per_hour > 0)
            fprintf(out, "%s$%g per hour", k->rpm || k->tpm || k->max_request_usd > 0 ? ", " : "",
                    k->usd_per_hour);
        fputs(k->rpm || k->tpm || k->max_request_usd > 0 || k->usd_per_hour > 0 ? "\n"
                                                                                 : "none\n",
              out);
        fprintf(out, "    %-26s", "routes");
        size_t shown = 0;
        for (size_t r = 0; r < cfg->n_routes; r++)
            if (tg_key_allows(k, cfg->routes[r].model))
                fprintf(out, "%s%s", shown++ ? ", " : "", cfg->routes[r].model);
        fputs(shown ? "\n" : "(none)\n", out);
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        fprintf(out, "%swarning: %s\n", i ? "" : "\n", cfg->warnings[i]);
}

/* What to send a provider for one attempt: URL, headers and body, by
 * provider kind (SPEC section 5). Each provider is called in the client's
 * own API where it speaks it, the body passed through with only "model"
 * replaced: `anthropic` speaks Messages, `openai` chat (completions,
 * embeddings) and, with `responses = true`, Responses; `azure` and `mock`
 * chat. Any other client format is translated (src/formats/): to Messages
 * for `anthropic`, to chat for the others. Keys: Authorization: Bearer
 * (openai), api-key and the api-version query (azure, at the deployment's
 * URL), x-api-key and anthropic-version (anthropic). Pure apart from
 * building the curl header list: no loop, no transfer. */
#ifndef TG_UPSTREAM_PROVIDER_H
#define TG_UPSTREAM_PROVIDER_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "formats/api.h"
#include "util/json.h"

/* What every call of one provider in one wire API shares, built once per
 * runtime: the URL, parsed once (libcurl would otherwise parse and
 * re-assemble it for every transfer), and the headers (content type, keys,
 * the configured extras) as curl takes them. */
struct tg_provider_plan {
    char *url;
    CURLU *parsed_url; /* NULL when libcurl rejects url: the transfer then reports it */
    struct curl_slist *headers;
};

/* One attempt's request: its body, and its own headers chained in front
 * of the plan's (tg_upstream_req_headers). */
struct tg_upstream_req {
    struct tg_buf body;
    enum tg_api wire; /* the API the provider is called with */
    int mock_api;     /* enum tg_mock_api, for kind mock */
    /* A chat stream whose client did not ask for usage: it was asked for
     * upstream (stream_options.include_usage), and the usage-only chunk is
     * counted, then dropped before the client sees it (SPEC section 3). */
    bool usage_added;
    struct curl_slist own[4]; /* tg_upstream_own_headers' lines: nodes over own_text */
    struct tg_buf own_text;
};

/* The API a provider is called with for a client request of `api`: the
 * client's own where the provider speaks it (pass-through), else the one it
 * is translated to; TG_API__COUNT when the provider cannot serve it. */
enum tg_api tg_provider_wire(const struct tg_provider_cfg *p, enum tg_api client);

/* The URL and headers of provider p's calls in `wire` (HTTP kinds only). */
void tg_provider_plan_build(const struct tg_provider_cfg *p, enum tg_api wire, bool stream,
                            struct tg_provider_plan *out);
void tg_provider_plan_free(struct tg_provider_plan *plan);

/* Builds the request's body; returns 0, or -1 with a reason when this
 * provider cannot serve this request (the deployment is then skipped). */
int tg_provider_build(const struct tg_deployment_cfg *dep, enum tg_api api,
                      struct tg_json_doc *request, bool stream, struct tg_upstream_req *out,
                      char *why, size_t why_len);
/* What an attempt sends besides the plan's headers. */
struct tg_upstream_own_headers {
    const char *request_id;                 /* x-request-id (SPEC section 3) */
    const char *passed_name, *passed_value; /* the client's header passed along, or NULL */
    const char *traceparent, *tracestate;   /* W3C trace context (SPEC section 9), or NULL */
};

/* The attempt's header list: its own headers in front of the plan's.
 * Nothing of the plan is copied; the list lives as long as r and the plan. */
const struct curl_slist *tg_upstream_req_headers(struct tg_upstream_req *r,
                                                 const struct tg_provider_plan *plan,
                                                 const struct tg_upstream_own_headers *own);
void tg_upstream_req_free(struct tg_upstream_req *r);

#endif

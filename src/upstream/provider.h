/* What to send a provider for one attempt: URL, headers and body, by
 * provider kind (SPEC section 5). `openai` and `mock` get the client's body
 * with "model" replaced by the deployment's model; the key goes in
 * Authorization: Bearer. `azure` gets the same body (Azure routes by the
 * deployment in base_url and ignores "model") at
 * {base_url}/chat/completions?api-version=V (and /completions, /embeddings),
 * the key in api-key; it serves no Responses API here, so Responses
 * requests reach it as chat. Kind `anthropic` gets the request translated
 * (formats/messages_from_chat.c), the key in x-api-key, and anthropic-version.
 * Pure apart from building the curl header list: no loop, no transfer. */
#ifndef TG_UPSTREAM_PROVIDER_H
#define TG_UPSTREAM_PROVIDER_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/buf.h"
#include "formats/api.h"

struct tg_upstream_req {
    char *url;
    struct curl_slist *headers; /* "Name: value", as curl takes them */
    struct tg_buf body;
    int mock_api; /* enum tg_mock_api, for kind mock */
    /* A chat stream whose client did not ask for usage: it was asked for
     * upstream (stream_options.include_usage), and the usage-only chunk is
     * counted, then dropped before the client sees it (SPEC section 3). */
    bool usage_added;
};

/* Builds the request; returns 0, or -1 with a reason when this provider
 * cannot serve this request (the deployment is then skipped). */
int tg_provider_build(const struct tg_deployment_cfg *dep, enum tg_api api, const char *body,
                      size_t body_len, const cJSON *json, bool stream,
                      struct tg_upstream_req *out, char *why, size_t why_len);
/* One more header for this attempt (x-request-id), after the provider's. */
void tg_upstream_req_add_header(struct tg_upstream_req *r, const char *name, const char *value);
void tg_upstream_req_free(struct tg_upstream_req *r);

#endif

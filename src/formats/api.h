/* The client APIs tailgate serves (SPEC section 3), which are also the APIs
 * it calls upstream: each attempt speaks one of them to its provider, and
 * the format layer translates between the two when they differ. Pure. */
#ifndef TG_FORMATS_API_H
#define TG_FORMATS_API_H

enum tg_api {
    TG_API_CHAT = 0,    /* POST /v1/chat/completions, the hub of every translation */
    TG_API_COMPLETIONS, /* POST /v1/completions: passed through only */
    TG_API_EMBEDDINGS,  /* POST /v1/embeddings: passed through only */
    TG_API_MESSAGES,    /* POST /v1/messages, Anthropic Messages */
    TG_API_RESPONSES,   /* POST /v1/responses, OpenAI Responses */
    TG_API__COUNT
};

/* "/v1/chat/completions", ... */
const char *tg_api_path(enum tg_api api);

/* The client header its API's providers read (Anthropic's "anthropic-beta"
 * turns on features the body then uses), sent along when the provider is
 * called in the client's own API; NULL when there is none. */
const char *tg_api_passed_header(enum tg_api api);

/* The header its API's SDKs read the request id from besides x-request-id
 * (Anthropic's read "request-id"); NULL when x-request-id is the one. */
const char *tg_api_id_header(enum tg_api api);

#endif

/* The client APIs' paths (see api.h). */
#include "formats/api.h"

#include <stddef.h>

static const char *const api_paths[TG_API__COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/responses"};

const char *tg_api_path(enum tg_api api)
{
    return (unsigned)api < TG_API__COUNT ? api_paths[api] : "?";
}

const char *tg_api_passed_header(enum tg_api api)
{
    return api == TG_API_MESSAGES ? "anthropic-beta" : NULL;
}

const char *tg_api_id_header(enum tg_api api)
{
    return api == TG_API_MESSAGES ? "request-id" : NULL;
}

/* The Anthropic Messages API adapter (SPEC section 5, kind "anthropic"):
 * OpenAI chat requests in, Messages requests out; Messages answers, stream
 * events and errors back in OpenAI's shapes. Pure (cJSON and buffers only),
 * so that every translation is unit-tested without a network. */
#ifndef TG_UPSTREAM_ANTHROPIC_H
#define TG_UPSTREAM_ANTHROPIC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Translates an OpenAI chat completion request (parsed) into the body of
 * POST /v1/messages for `model`. max_tokens is the request's (max_tokens or
 * max_completion_tokens), else default_max_tokens. Returns 0, or -1 with a
 * short reason in `why` (e.g. "n>1", "logprobs", "audio") when the request
 * asks for something the Messages API cannot give: that deployment is then
 * skipped for this request. */
int tg_anthropic_request(const cJSON *openai, const char *model, int64_t default_max_tokens,
                         struct tg_buf *out, char *why, size_t why_len);

/* Translates a complete Messages answer (status 200) into a
 * chat.completion. Returns 0, or -1 when the body is not a message. */
int tg_anthropic_response(const char *body, size_t len, struct tg_buf *out);

/* Translates a Messages error body (any non-200) into OpenAI's error shape
 * {"error":{"message","type","param":null,"code"}}; a body that is not an
 * Anthropic error gets a generic message for `status`. */
void tg_anthropic_error(const char *body, size_t len, int status, struct tg_buf *out);

/* One stream's translation state. */
struct tg_anthropic_stream {
    char id[128];
    char model[128];
    int64_t created;
    bool include_usage;      /* the client asked stream_options.include_usage */
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cached_tokens;   /* cache_read_input_tokens, part of input_tokens */
    bool has_cached;
    int block_tool[64];      /* content block index -> tool call index, or -1 */
    int n_tools;
    const char *finish_reason; /* a literal from tg_anthropic_finish_reason; NULL until set */
};

enum tg_anthropic_event_result {
    TG_ANTHROPIC_CONTINUE = 0, /* zero or more chunks appended */
    TG_ANTHROPIC_DONE,         /* message_stop: the final chunks and "data: [DONE]" appended */
    TG_ANTHROPIC_ERROR,        /* an error event: *error_json is an OpenAI error object */
    TG_ANTHROPIC_BAD,          /* data that is not the JSON its event needs */
};

void tg_anthropic_stream_init(struct tg_anthropic_stream *s, bool include_usage, int64_t created);
/* Translates one SSE event of a Messages stream (its event name and data)
 * into chat.completion.chunk events, each "data: {...}\n\n", appended to
 * out. *error_json (malloc'd, caller frees) is set only with
 * TG_ANTHROPIC_ERROR. */
enum tg_anthropic_event_result tg_anthropic_stream_event(struct tg_anthropic_stream *s,
                                                         const char *event, const char *data,
                                                         size_t len, struct tg_buf *out,
                                                         char **error_json);

/* Anthropic's stop_reason in OpenAI's finish_reason words. */
const char *tg_anthropic_finish_reason(const char *stop_reason);

#endif

/* OpenAI Chat Completions from Anthropic Messages: what a Messages request
 * becomes for a chat deployment (openai, azure, mock), and what a Messages
 * answer, stream and error become for a chat client (SPEC sections 3 and 5).
 * Pure: cJSON and bytes in, bytes out. */
#ifndef TG_FORMATS_CHAT_FROM_MESSAGES_H
#define TG_FORMATS_CHAT_FROM_MESSAGES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "formats/format.h"

/* Translates an Anthropic Messages request (parsed) into a chat completion
 * request for `model` (NULL: the request's own). Returns 0, or -1 with a
 * short reason in `why` (e.g. "top_k", "document") when the request depends
 * on something Chat Completions cannot express: that deployment is then
 * skipped for this request. See the .c for the thinking budget mapping. */
int tg_fmt_chat_from_messages_request(const cJSON *messages, const char *model, struct tg_buf *out,
                                      char *why, size_t why_len);

/* Translates a complete Messages answer (status 200) into a
 * chat.completion: text as content, tool_use blocks as tool_calls with
 * their ids, thinking blocks as the message's "reasoning_content" (the
 * field DeepSeek and vLLM use). Returns 0, or -1 when the body is not a
 * message. */
int tg_fmt_chat_from_messages_answer(const char *body, size_t len, struct tg_buf *out);

/* Translates a Messages error body (any non-200) into OpenAI's error shape
 * {"error":{"message","type","param":null,"code"}}; a body that is not an
 * Anthropic error gets a generic message for `status`. */
void tg_fmt_chat_from_messages_error(const char *body, size_t len, int status, struct tg_buf *out);

/* One Messages stream's translation state. */
struct tg_fmt_chat_from_messages_stream {
    char id[128];
    char model[128];
    int64_t created;
    bool include_usage; /* the client asked stream_options.include_usage */
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cached_tokens; /* cache_read_input_tokens, part of input_tokens */
    bool has_cached;
    int block_tool[64]; /* content block index -> tool call index, or -1 */
    int n_tools;
    const char *finish_reason; /* a literal from tg_fmt_chat_finish_reason; NULL until set */
};

void tg_fmt_chat_from_messages_stream_init(struct tg_fmt_chat_from_messages_stream *s,
                                           bool include_usage, int64_t created);
/* Translates one SSE event of a Messages stream (its event name and data)
 * into chat.completion.chunk events, each "data: {...}\n\n", appended to
 * out (thinking_delta as delta.reasoning_content). TG_FMT_DONE on message_stop (the final chunks and "data: [DONE]"
 * appended); with TG_FMT_ERROR (an error event) *error_json (malloc'd,
 * caller frees) is an OpenAI error object. */
enum tg_fmt_result
tg_fmt_chat_from_messages_stream_event(struct tg_fmt_chat_from_messages_stream *s,
                                       const char *event, const char *data, size_t len,
                                       struct tg_buf *out, char **error_json);

/* Anthropic's stop_reason in OpenAI's finish_reason words. */
const char *tg_fmt_chat_finish_reason(const char *stop_reason);

#endif

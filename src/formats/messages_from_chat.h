/* Anthropic Messages from OpenAI Chat Completions: what a chat request
 * becomes for an `anthropic` deployment, and what a chat answer, chunk
 * stream and error become for a /v1/messages client served by a chat
 * deployment (SPEC sections 3 and 5). Pure: cJSON and bytes in, bytes out. */
#ifndef TG_FORMATS_MESSAGES_FROM_CHAT_H
#define TG_FORMATS_MESSAGES_FROM_CHAT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "formats/format.h"

/* Translates an OpenAI chat completion request (parsed) into the body of
 * POST /v1/messages for `model`. max_tokens is the request's (max_tokens or
 * max_completion_tokens), else default_max_tokens. Content parts keep
 * their cache_control; reasoning_effort becomes a thinking budget (see the
 * .c). Returns 0, or -1 with a short reason in `why` (e.g. "n>1",
 * "logprobs", "audio") when the request asks for something the Messages API
 * cannot give: that deployment is then skipped for this request. */
int tg_fmt_messages_from_chat_request(const cJSON *chat, const char *model,
                                      int64_t default_max_tokens, struct tg_buf *out, char *why,
                                      size_t why_len);

/* Translates a complete chat.completion (status 200) into a Messages answer
 * {"id","type":"message","role":"assistant","model","content":[...],
 * "stop_reason","stop_sequence":null,"usage"}: reasoning content as a
 * thinking block, text as a text block, tool calls as tool_use blocks with
 * their ids. Returns 0, or -1 when the body is not a chat.completion a
 * Messages client could read (no choices, tool arguments not an object). */
int tg_fmt_messages_from_chat_answer(const char *body, size_t len, struct tg_buf *out);

/* Translates an OpenAI error body (any non-200) into Anthropic's error
 * shape {"type":"error","error":{"type","message"}}, the type from the
 * status (400 invalid_request_error, 401 authentication_error, 403
 * permission_error, 404 not_found_error, 413 request_too_large, 429
 * rate_limit_error, 529 overloaded_error, others api_error). */
void tg_fmt_messages_from_chat_error(const char *body, size_t len, int status, struct tg_buf *out);

/* Appends Anthropic's in-band stream error: "event: error\ndata: " +
 * error_body (an Anthropic error, as made above) + a blank line. */
void tg_fmt_messages_error_event(struct tg_buf *out, const char *error_body, size_t len);

enum tg_fmt_messages_block {
    TG_FMT_BLOCK_NONE = 0,
    TG_FMT_BLOCK_TEXT,
    TG_FMT_BLOCK_THINKING,
    TG_FMT_BLOCK_TOOL
};

/* One chat stream's translation state. */
struct tg_fmt_messages_from_chat_stream {
    char id[128];
    char model[128];
    bool started;                    /* message_start sent */
    enum tg_fmt_messages_block open; /* the content block being streamed */
    int open_index;                  /* its Messages block index */
    int open_tool;                   /* for a tool block: the chat tool call index */
    int n_blocks;                    /* blocks started so far */
    int tools_seen;                  /* tool call indexes < this one had their block */
    const char *stop_reason;         /* a literal; NULL until a finish_reason came */
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    bool has_usage, has_cached;
};

void tg_fmt_messages_from_chat_stream_init(struct tg_fmt_messages_from_chat_stream *s);

/* Translates one SSE event of a chat stream (its data: a chunk, "[DONE]" or
 * an error object) into Messages events, each "event: NAME\ndata: {...}\n\n",
 * appended to out: message_start before the first block, then
 * content_block_start / content_block_delta (text_delta, thinking_delta,
 * input_json_delta) / content_block_stop, and on [DONE] message_delta
 * (stop_reason, usage) and message_stop: TG_FMT_DONE. With TG_FMT_ERROR
 * (data {"error":{...}}) *error_json (malloc'd, caller frees) is an
 * Anthropic error body for tg_fmt_messages_error_event. */
enum tg_fmt_result
tg_fmt_messages_from_chat_stream_event(struct tg_fmt_messages_from_chat_stream *s, const char *data,
                                       size_t len, struct tg_buf *out, char **error_json);

/* OpenAI's finish_reason in Anthropic's stop_reason words. */
const char *tg_fmt_messages_stop_reason(const char *finish_reason);

#endif

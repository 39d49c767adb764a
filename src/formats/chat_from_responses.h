/* OpenAI Responses -> OpenAI Chat Completions (the hub): a Responses request
 * as a chat request, for deployments that do not speak Responses, and a
 * Responses answer (a `response` object) as a chat.completion, for chat
 * clients served by a Responses-speaking upstream. Pure: cJSON and bytes in,
 * bytes out; no loop, no network. */
#ifndef TG_FORMATS_CHAT_FROM_RESPONSES_H
#define TG_FORMATS_CHAT_FROM_RESPONSES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/buf.h"

/* Translates a Responses request (parsed) into a chat completion request
 * for `model` (NULL: the request's own). Returns 0, or -1 with a short
 * reason in `why` when the request needs what a chat provider cannot give:
 * state kept by the Responses provider ("previous_response_id",
 * "background", "conversation", "prompt", "item_reference",
 * "context_management"), a built-in tool ("tool web_search", ...), or an
 * input chat cannot carry ("input_image file_id", ...). The deployment is
 * then ineligible for this request. A streamed request asks for
 * stream_options.include_usage: response.completed carries the usage. */
int tg_fmt_chat_from_responses_request(const cJSON *req, const char *model, struct tg_buf *out,
                                       char *why, size_t why_len);

/* Translates a whole Responses answer (status 200, a `response` object) into
 * a chat.completion. Returns 0, or -1 when the body is not a response or the
 * response failed (its error is the answer then). */
int tg_fmt_chat_from_responses_answer(const char *body, size_t len, struct tg_buf *out);

#endif

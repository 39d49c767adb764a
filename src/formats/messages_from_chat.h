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
 * max_completion_tokens), else default_max_tokens. Returns 0, or -1 with a
 * short reason in `why` (e.g. "n>1", "logprobs", "audio") when the request
 * asks for something the Messages API cannot give: that deployment is then
 * skipped for this request. */
int tg_fmt_messages_from_chat_request(const cJSON *chat, const char *model,
                                      int64_t default_max_tokens, struct tg_buf *out, char *why,
                                      size_t why_len);

#endif

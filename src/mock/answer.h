/* The mock's answer texts in each wire format (internal to mock/): OpenAI
 * chat.completion and chat.completion.chunk, text_completion, embeddings,
 * Responses API responses and their stream events, Anthropic messages and
 * their stream events, and each API's error shape. */
#ifndef TG_MOCK_ANSWER_H
#define TG_MOCK_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#include "mock/engine.h"

/* What to say, decided by the engine; answer.c only formats it. */
struct tg_mock_reply {
    enum tg_mock_api api;
    const char *model;
    const char *id; /* "chatcmpl-..." and the like */
    int64_t created;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    int n_choices;
    bool logprobs;    /* chat: "logprobs": true */
    int top_logprobs; /* 0..20 alternatives per token */
    /* The text, and where each token ends in it (for streaming). */
    const char *text;
    const size_t *token_ends;
    size_t n_tokens;
    /* One tool call instead of text (chat and messages). */
    const char *tool_name;
    const char *tool_args; /* JSON object text */
    const char *tool_id;
    const char *finish_reason; /* OpenAI's words: stop, length, tool_calls, content_filter */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    /* Embeddings: one vector per input, drawn from its seed. */
    int n_inputs;
    const uint64_t *input_seeds;
    int dims;
    bool base64; /* encoding_format "base64": little-endian float32, base64 */
    /* Streamed faults. */
    int64_t stream_error_after; /* -1: none */
    const char *stream_error_type;
    const char *stream_error_message;
    /* Timing. */
    double first_ms;
    double interval_ms;
};

/* Fills plan->body, plan->pieces and the content headers for a success. */
void tg_mock_answer_format(const struct tg_mock_reply *r, struct tg_mock_plan *plan);

/* An error body in the API's shape. `code`, `type`, `message` may be NULL
 * (then filled from the status). */
void tg_mock_answer_error(enum tg_mock_api api, int status, const char *code, const char *type,
                          const char *message, struct tg_buf *out);

#endif

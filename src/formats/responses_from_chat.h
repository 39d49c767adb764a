/* OpenAI Chat Completions (the hub) -> OpenAI Responses: a chat.completion
 * as a `response` object, a chat.completion.chunk stream as the Responses
 * event sequence, and OpenAI errors as Responses' error body and in-band
 * stream events. Pure: bytes (and the client's parsed request) in, bytes
 * out; the stream's state is a struct the caller owns. */
#ifndef TG_FORMATS_RESPONSES_FROM_CHAT_H
#define TG_FORMATS_RESPONSES_FROM_CHAT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "formats/format.h"

/* Translates a whole chat.completion (status 200) into a Responses
 * `response` object. `request` is the client's Responses request (may be
 * NULL): a response echoes its instructions, tools, tool_choice, text,
 * reasoning, temperature, top_p, metadata and max_output_tokens, as the
 * Responses API does. Returns 0, or -1 when the body is not a completion. */
int tg_fmt_responses_from_chat_answer(const char *body, size_t len, const cJSON *request,
                                      struct tg_buf *out);

/* Translates a chat error body (any non-200) into the Responses error body:
 * the same OpenAI shape {"error":{"message","type","param","code"}}, passed
 * through when it is one, made from `status` when it is not. */
void tg_fmt_responses_from_chat_error(const char *body, size_t len, int status, struct tg_buf *out);

/* ---- streams ---- */

enum tg_fmt_responses_item_kind {
    TG_FMT_RITEM_REASONING = 0,
    TG_FMT_RITEM_MESSAGE,
    TG_FMT_RITEM_CALL
};

/* One output item of the response being streamed. */
struct tg_fmt_responses_item {
    enum tg_fmt_responses_item_kind kind;
    char id[64];
    int chat_index;        /* the chat tool call's index (calls only) */
    struct tg_buf text;    /* output_text, reasoning summary, or call arguments */
    struct tg_buf refusal; /* messages only */
    int text_part;         /* content_index of the output_text part, or -1 */
    int refusal_part;      /* content_index of the refusal part, or -1 */
    char *call_id;         /* calls only; malloc'd */
    char *name;            /* calls only; malloc'd */
    bool done;             /* output_item.done was sent */
    bool cut;              /* ended by the response's truncation: status "incomplete" */
};

/* Output items one stream may hold; past it, new items are dropped whole
 * (their absence is visible, a half item would not be). */
#define TG_FMT_RESPONSES_MAX_ITEMS 128

enum tg_fmt_responses_phase {
    TG_FMT_RSTREAM_WAITING = 0, /* nothing sent yet */
    TG_FMT_RSTREAM_OPEN,        /* response.created sent */
    TG_FMT_RSTREAM_ENDED,       /* response.completed / incomplete / failed sent */
};

struct tg_fmt_responses_from_chat_stream {
    enum tg_fmt_responses_phase phase;
    char id[80]; /* "resp_..." */
    char model[128];
    int64_t created;
    int seq;            /* the next sequence_number */
    const cJSON *request; /* the client's request (borrowed), for the echo */
    struct tg_buf echo;   /* the request's members a response repeats, ",...": made when a
                           * response object is first written (a pass-through never does) */
    struct tg_fmt_responses_item *items;
    int n_items;
    int open;                  /* the item taking deltas, or -1 */
    const char *finish_reason; /* a literal; NULL until a choice says */
    bool has_usage;
    int64_t input_tokens, output_tokens, cached_tokens, reasoning_tokens;
    bool has_cached, has_reasoning;
    bool content_started; /* an output_text, refusal or arguments delta was sent */
};

/* `request` as for tg_fmt_responses_from_chat_answer; read when the first
 * response object is written, so it must outlive the stream (a pass-through
 * that never writes one never reads it). */
void tg_fmt_responses_from_chat_stream_init(struct tg_fmt_responses_from_chat_stream *s,
                                            const cJSON *request, int64_t created);
void tg_fmt_responses_from_chat_stream_free(struct tg_fmt_responses_from_chat_stream *s);
/* Translates one chat SSE event's data ("{...}" or "[DONE]") into Responses
 * events ("event: NAME\ndata: {...}\n\n"), appended to out: TG_FMT_DONE on
 * [DONE] (response.completed or .incomplete appended), TG_FMT_ERROR on an
 * in-band chat error (error and response.failed appended), TG_FMT_BAD for
 * data that is not a chunk. An upstream that ends its stream without [DONE]
 * after a finish_reason is ended by passing "[DONE]" here. */
enum tg_fmt_result
tg_fmt_responses_from_chat_stream_event(struct tg_fmt_responses_from_chat_stream *s,
                                        const char *data, size_t len, struct tg_buf *out);
/* Ends the stream with the in-band failure: an `error` event from the
 * OpenAI error object error_json ({"message","type","code",...}; NULL or
 * unreadable: a generic server error), then response.failed with what was
 * output so far. Starts the response first if nothing was sent. No-op once
 * the stream has ended. */
void tg_fmt_responses_from_chat_stream_fail(struct tg_fmt_responses_from_chat_stream *s,
                                            const char *error_json, struct tg_buf *out);

#endif

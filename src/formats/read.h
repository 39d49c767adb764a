/* What the request machine needs from an upstream's answer, read in the
 * format the upstream speaks (chat, Messages or Responses): whether it is an
 * error, its usage, how it finished, and what validation looks at; for a
 * stream, the same event by event, plus whether the event carries content
 * (the commit point of SPEC section 4) and whether it ends the stream. This
 * is the one interface the machine asks of an answer: it learns nothing
 * else about formats. Pure: text in, facts out; the text is read through
 * views (util/json_view.h), never built into a tree, so the data path reads
 * an answer or an event without allocating. */
#ifndef TG_FORMATS_READ_H
#define TG_FORMATS_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "formats/api.h"
#include "formats/format.h"
#include "util/json_view.h"

/* Token usage (SPEC section 8 prices cached prompt tokens apart). */
struct tg_usage_facts {
    bool set; /* some usage was reported */
    int64_t input_tokens;  /* every prompt token, cached and cache writes included */
    int64_t cached_tokens; /* the part of input_tokens read from the provider's cache */
    int64_t output_tokens;
};

/* Reads a usage object in any provider's shape: chat's prompt_tokens /
 * completion_tokens (prompt_tokens_details.cached_tokens), Responses'
 * input_tokens / output_tokens (input_tokens_details.cached_tokens), and
 * Anthropic's input_tokens, which leaves out cache_creation_input_tokens and
 * cache_read_input_tokens (both added to input; reads are the cached part).
 * Members absent keep their value: a Messages stream reports its input at
 * message_start and its output at message_delta. */
void tg_read_usage(struct tg_jv usage, struct tg_usage_facts *u);

#define TG_READ_MAX_CALLS 16

/* One tool call of an answer, viewed in the answer's text. */
struct tg_read_call {
    struct tg_jv name;      /* a string, or absent when the answer gave none */
    struct tg_jv input;     /* Messages: the tool_use input; else absent */
    struct tg_jv arguments; /* chat, Responses: the arguments string; else absent */
};

/* A finish reason, in chat's words ("stop", "length", "tool_calls",
 * "content_filter", or what a chat provider said); "" when none was said. */
#define TG_READ_FINISH_MAX 32

struct tg_answer_facts {
    bool error;             /* an error although the status was 200 */
    char finish[TG_READ_FINISH_MAX];
    struct tg_usage_facts usage;
    struct tg_buf text;     /* the output text, parts concatenated (owned); data
                             * NULL when the answer has no text at all */
    bool refusal;           /* an explicit refusal (chat message.refusal, a Responses
                             * refusal part) */
    bool has_calls;         /* any tool call */
    int n_calls;            /* the first TG_READ_MAX_CALLS of them */
    struct tg_read_call calls[TG_READ_MAX_CALLS];
};

/* Reads a 200 body of `api`: CHAT (choices[0]), COMPLETIONS
 * (choices[0].text), EMBEDDINGS (usage only), MESSAGES (a message), RESPONSES
 * (a response; status "failed" is an error, "incomplete" finishes by its
 * reason). Returns 0, or -1 when the body is not strict JSON (a provider's:
 * no key twice) or not an answer of that format; f borrows from the body
 * and is usable (and must be freed) either way. */
int tg_read_answer(enum tg_api api, const char *body, size_t len, struct tg_answer_facts *f);
void tg_answer_facts_free(struct tg_answer_facts *f);

/* What one stream event says. Views borrow from the event's data. */
struct tg_event_facts {
    bool content;       /* the format's content (the commit point): chat a delta with
                         * content, tool calls or legacy text; Messages any
                         * content_block_delta; Responses an output_text, refusal or
                         * function_call_arguments delta */
    struct tg_jv text;  /* the delta's plain output text, a string (refusal phrases
                         * are looked for in it); absent for tool arguments and thinking */
    bool refusal;       /* a refusal delta (Responses, chat delta.refusal) */
    char finish[TG_READ_FINISH_MAX]; /* when the event says how the answer ends */
    struct tg_jv usage; /* an object for tg_read_usage, when the event reports usage */
    bool usage_only;    /* chat: a usage chunk with no choices */
};

/* Reads one SSE event of a 200 stream of `api` (CHAT and COMPLETIONS share
 * chat's reader): its event name ("" when none) and data. Returns TG_FMT_CONTINUE; TG_FMT_DONE for the format's success terminator
 * (chat "[DONE]", Messages message_stop, Responses response.completed or
 * response.incomplete); TG_FMT_ERROR for an in-band error (chat a chunk with
 * "error" or an `error` event, Messages an `error` event, Responses an
 * `error` event or response.failed), with *error_json an OpenAI error object
 * {"message","type","code"} (malloc'd, freed with cJSON_free); TG_FMT_BAD
 * when the data is not the JSON the event needs. Comments never get here. */
enum tg_fmt_result tg_read_event(enum tg_api api, const char *event, const char *data, size_t len,
                                 struct tg_event_facts *f, char **error_json);

/* Whether a finish reason alone ends a stream well: chat-speaking providers
 * that send no [DONE]. The other formats always send their terminator. */
static inline bool tg_read_finish_ends(enum tg_api api)
{
    return api == TG_API_CHAT || api == TG_API_COMPLETIONS;
}

#endif

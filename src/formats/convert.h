/* An attempt's answer, from the API its provider speaks (the wire) to the
 * client's: nothing to do where they are the same (pass-through: the bytes
 * go as they came), one translator where one side is chat, two through chat
 * (the hub) otherwise. Also what the gateway writes itself in the client's
 * format: its errors, and the in-band error that ends a broken stream.
 * Pure: bytes in, bytes out; the stream states are the caller's. */
#ifndef TG_FORMATS_CONVERT_H
#define TG_FORMATS_CONVERT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "formats/api.h"
#include "formats/chat_from_messages.h"
#include "formats/format.h"
#include "formats/messages_from_chat.h"
#include "formats/responses_from_chat.h"
#include "util/json.h"

struct tg_convert {
    enum tg_api client, wire;
    const cJSON *request; /* the client's request (borrowed) */
    bool drop_usage;      /* chat to chat: the usage chunk asked for on the client's behalf */
    bool skip_lf;         /* the LF that starts the next event's bytes ended a dropped one */
    bool ended;           /* the client's stream terminator was written */
    /* The stages a stream takes, as the pair needs them. */
    struct tg_fmt_chat_from_messages_stream from_messages; /* wire Messages -> chat */
    struct tg_fmt_messages_from_chat_stream to_messages;   /* chat -> client Messages */
    struct tg_fmt_responses_from_chat_stream to_responses; /* chat -> client Responses; in a Responses
                                              * pass-through, what its failure needs */
    struct tg_buf hub; /* chat events between two stages */
};

/* `usage_added`: the provider was asked for a chat stream's usage that the
 * client did not ask for (upstream/provider.h). */
void tg_convert_init(struct tg_convert *c, enum tg_api client, enum tg_api wire,
                     struct tg_json_doc *request, bool usage_added, int64_t now_s);
void tg_convert_free(struct tg_convert *c);

/* Whether the client sees the provider's own bytes. */
static inline bool tg_convert_passes(const struct tg_convert *c)
{
    return c->client == c->wire;
}

/* A whole 200 answer in the client's format. Returns 0, or -1 when the body
 * is not an answer the client's format can carry. */
int tg_convert_answer(struct tg_convert *c, const char *body, size_t len, struct tg_buf *out);
/* A provider's error body (any status but 200) in the client's format. */
void tg_convert_error(struct tg_convert *c, const char *body, size_t len, int status,
                      struct tg_buf *out);

/* One event of a 200 stream (not an error: the caller reads those first),
 * appended to out in the client's format: `raw` (the event's bytes) as is in
 * a pass-through, else translated from its name and data. usage_only: the
 * event is chat's usage chunk. Returns TG_FMT_DONE when the client's
 * terminator was written, TG_FMT_BAD when a translator could not read it. */
enum tg_fmt_result tg_convert_event(struct tg_convert *c, const char *event, const char *data,
                                    size_t len, const char *raw, size_t raw_len, bool usage_only,
                                    struct tg_buf *out);
/* A stream that ended well without its terminator (a chat provider that
 * sends a finish_reason and no [DONE]): the client's terminator, if a
 * translator owes one. */
void tg_convert_end(struct tg_convert *c, struct tg_buf *out);
/* Ends a stream with the client format's in-band error (SPEC section 4):
 * chat data: {"error": ...} then [DONE]; Messages event: error; Responses an
 * error event then response.failed. error_json: an OpenAI error object. */
void tg_convert_fail(struct tg_convert *c, const char *error_json, struct tg_buf *out);

/* An error the gateway makes itself, in the client's format (SPEC section
 * 3): OpenAI's {"error":{"message","type","code","attempts"}} for chat and
 * Responses, Anthropic's {"type":"error","error":{"type","message","code",
 * "attempts"}} for Messages. attempts_json: a JSON array, or NULL. */
void tg_convert_gateway_error(enum tg_api client, int status, const char *code,
                              const char *message, const char *attempts_json, struct tg_buf *out);

#endif

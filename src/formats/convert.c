/* Answers from the wire's API to the client's (see convert.h). The pairs:
 *   same API                 bytes as they came (chat drops the usage chunk
 *                            it asked for on the client's behalf)
 *   Messages -> chat         chat_from_messages
 *   Messages -> Responses    chat_from_messages, then responses_from_chat
 *   chat -> Messages         messages_from_chat
 *   chat -> Responses        responses_from_chat
 * No client is ever served by a Responses wire but a Responses client. */
#include "formats/convert.h"

#include <stdio.h>
#include <string.h>

#include "util/json.h"

void tg_convert_init(struct tg_convert *c, enum tg_api client, enum tg_api wire,
                     struct tg_json_doc *doc, bool usage_added, int64_t now_s)
{
    memset(c, 0, sizeof(*c));
    c->client = client;
    c->wire = wire;
    /* Only a translation to chat from Messages, and Responses (its echo),
     * read the request: a pass-through builds no tree. */
    bool reads = (wire == TG_API_MESSAGES && client != TG_API_MESSAGES) ||
                 client == TG_API_RESPONSES;
    const cJSON *request = reads ? tg_json_doc_tree(doc) : NULL;
    c->request = request;
    c->drop_usage = client == TG_API_CHAT && wire == TG_API_CHAT && usage_added;
    if (wire == TG_API_MESSAGES && client != TG_API_MESSAGES) {
        /* Chat's usage chunk: for a chat client that asked, and always
         * for Responses, whose response.completed carries the usage. */
        const cJSON *so = tg_fmt_get(request, "stream_options");
        bool usage = client != TG_API_CHAT || tg_json_get_bool(so, "include_usage", false);
        tg_fmt_chat_from_messages_stream_init(&c->from_messages, usage, now_s);
    }
    if (client == TG_API_MESSAGES && wire != TG_API_MESSAGES)
        tg_fmt_messages_from_chat_stream_init(&c->to_messages);
    if (client == TG_API_RESPONSES)
        tg_fmt_responses_from_chat_stream_init(&c->to_responses, request, now_s);
}

void tg_convert_free(struct tg_convert *c)
{
    if (c->client == TG_API_RESPONSES)
        tg_fmt_responses_from_chat_stream_free(&c->to_responses);
    tg_buf_free(&c->hub);
}

/* ---- whole answers ---- */

int tg_convert_answer(struct tg_convert *c, const char *body, size_t len, struct tg_buf *out)
{
    if (tg_convert_passes(c)) {
        tg_buf_append(out, body, len);
        return 0;
    }
    const char *chat = body;
    size_t chat_len = len;
    struct tg_buf hub = TG_BUF_INIT;
    int rc = 0;
    if (c->wire == TG_API_MESSAGES) {
        rc = tg_fmt_chat_from_messages_answer(body, len, c->client == TG_API_CHAT ? out : &hub);
        chat = hub.data;
        chat_len = hub.len;
    }
    if (rc == 0 && c->client == TG_API_MESSAGES)
        rc = tg_fmt_messages_from_chat_answer(chat, chat_len, out);
    else if (rc == 0 && c->client == TG_API_RESPONSES)
        rc = tg_fmt_responses_from_chat_answer(chat, chat_len, c->request, out);
    tg_buf_free(&hub);
    return rc;
}

void tg_convert_error(struct tg_convert *c, const char *body, size_t len, int status,
                      struct tg_buf *out)
{
    if (tg_convert_passes(c)) {
        tg_buf_append(out, body, len);
        return;
    }
    const char *chat = body;
    size_t chat_len = len;
    struct tg_buf hub = TG_BUF_INIT;
    if (c->wire == TG_API_MESSAGES) {
        tg_fmt_chat_from_messages_error(body, len, status, c->client == TG_API_CHAT ? out : &hub);
        chat = hub.data;
        chat_len = hub.len;
    }
    if (c->client == TG_API_MESSAGES)
        tg_fmt_messages_from_chat_error(chat, chat_len, status, out);
    else if (c->client == TG_API_RESPONSES)
        tg_fmt_responses_from_chat_error(chat, chat_len, status, out);
    tg_buf_free(&hub);
}

/* ---- streams ---- */

/* A Responses pass-through keeps what its in-band failure must say: the
 * response's id, model and created_at (from response.created, read once:
 * response.failed ends that response) and the sequence number the next
 * event takes. */
static void note_responses_event(struct tg_convert *c, const char *event, const char *data,
                                 size_t len)
{
    struct tg_fmt_responses_from_chat_stream *s = &c->to_responses;
    s->seq++;
    if (s->phase != TG_FMT_RSTREAM_WAITING || !tg_fmt_str_eq(event, "response.created"))
        return;
    cJSON *doc = tg_json_parse_provider(data, len);
    const cJSON *resp = tg_fmt_get(doc, "response");
    const char *id = tg_json_get_str(resp, "id");
    const char *model = tg_json_get_str(resp, "model");
    const cJSON *seq = tg_fmt_get(doc, "sequence_number");
    const cJSON *created = tg_fmt_get(resp, "created_at");
    if (cJSON_IsNumber(created))
        s->created = tg_fmt_count(created);
    if (id)
        tg_fmt_copy_trunc(s->id, sizeof(s->id), id);
    if (model)
        tg_fmt_copy_trunc(s->model, sizeof(s->model), model);
    if (cJSON_IsNumber(seq) && seq->valuedouble >= 0 && seq->valuedouble < 1e9)
        s->seq = (int)seq->valuedouble + 1;
    s->phase = TG_FMT_RSTREAM_OPEN;
    cJSON_Delete(doc);
}

/* A passed-through event's bytes. When a read ends between the CR and the
 * LF of a CRLF, the SSE parser gives the LF to the next event's bytes; a
 * dropped event keeps the LF that ended the event before it and takes along
 * the one that ends itself, so the client's bytes never depend on where
 * the reads split the stream. */
static void pass_raw(struct tg_convert *c, const char *raw, size_t len, bool drop,
                     struct tg_buf *out)
{
    if (c->skip_lf && len > 0 && raw[0] == '\n') {
        raw++;
        len--;
    }
    c->skip_lf = false;
    if (!drop) {
        tg_buf_append(out, raw, len);
        return;
    }
    if (len > 0 && raw[0] == '\n')
        tg_buf_putc(out, '\n');
    c->skip_lf = len > 0 && raw[len - 1] == '\r';
}

/* One chat event (its data) into the client's format. */
static enum tg_fmt_result from_chat(struct tg_convert *c, const char *data, size_t len,
                                    struct tg_buf *out)
{
    if (c->client == TG_API_MESSAGES)
        return tg_fmt_messages_from_chat_stream_event(&c->to_messages, data, len, out, NULL);
    return tg_fmt_responses_from_chat_stream_event(&c->to_responses, data, len, out);
}

/* The chat events a first stage wrote ("data: {...}\n\n" each) through the
 * second. */
static enum tg_fmt_result hub_through(struct tg_convert *c, struct tg_buf *out)
{
    enum tg_fmt_result r = TG_FMT_CONTINUE;
    const char *p = c->hub.data, *end = p + c->hub.len;
    while (p && p < end && r == TG_FMT_CONTINUE) {
        const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!stop)
            break;
        const char *data = p + 6; /* after "data: " */
        r = from_chat(c, data, (size_t)(stop - data), out);
        p = stop + 2;
    }
    tg_buf_reset(&c->hub);
    return r;
}

enum tg_fmt_result tg_convert_event(struct tg_convert *c, const char *event, const char *data,
                                    size_t len, const char *raw, size_t raw_len, bool usage_only,
                                    struct tg_buf *out)
{
    enum tg_fmt_result r = TG_FMT_CONTINUE;
    if (tg_convert_passes(c)) {
        if (c->client == TG_API_RESPONSES)
            note_responses_event(c, event, data, len);
        pass_raw(c, raw, raw_len, usage_only && c->drop_usage, out);
        return TG_FMT_CONTINUE; /* the reader knows the terminators */
    }
    if (c->wire == TG_API_MESSAGES) {
        struct tg_buf *chat = c->client == TG_API_CHAT ? out : &c->hub;
        r = tg_fmt_chat_from_messages_stream_event(&c->from_messages, event, data, len, chat, NULL);
        if (r != TG_FMT_BAD && c->client != TG_API_CHAT)
            r = hub_through(c, out);
    } else {
        r = from_chat(c, data, len, out);
    }
    if (r == TG_FMT_DONE)
        c->ended = true;
    return r;
}

void tg_convert_end(struct tg_convert *c, struct tg_buf *out)
{
    if (c->ended || tg_convert_passes(c) || c->wire != TG_API_CHAT)
        return;
    if (from_chat(c, "[DONE]", 6, out) == TG_FMT_DONE)
        c->ended = true;
}

void tg_convert_fail(struct tg_convert *c, const char *error_json, struct tg_buf *out)
{
    switch (c->client) {
    case TG_API_MESSAGES: {
        struct tg_buf body = TG_BUF_INIT, wrapped = TG_BUF_INIT;
        tg_buf_printf(&wrapped, "{\"error\":%s}", error_json);
        tg_fmt_messages_from_chat_error(wrapped.data, wrapped.len, 0, &body);
        tg_fmt_messages_error_event(out, body.data, body.len);
        tg_buf_free(&body);
        tg_buf_free(&wrapped);
        break;
    }
    case TG_API_RESPONSES:
        tg_fmt_responses_from_chat_stream_fail(&c->to_responses, error_json, out);
        break;
    default: tg_buf_printf(out, "data: {\"error\":%s}\n\ndata: [DONE]\n\n", error_json); break;
    }
    c->ended = true;
}

/* ---- the gateway's own errors ---- */

void tg_convert_gateway_error(enum tg_api client, int status, const char *code, const char *message,
                              const char *attempts_json, struct tg_buf *out)
{
    bool anthropic = client == TG_API_MESSAGES;
    const char *type = anthropic       ? tg_fmt_anthropic_error_type(status)
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    tg_buf_puts(out, anthropic ? "{\"type\":\"error\",\"error\":{\"type\":\"" : "{\"error\":{");
    if (anthropic)
        tg_buf_printf(out, "%s\",", type);
    tg_buf_puts(out, "\"message\":");
    tg_buf_json_str(out, message, strlen(message));
    if (!anthropic)
        tg_buf_printf(out, ",\"type\":\"%s\"", type);
    tg_buf_printf(out, ",\"code\":\"%s\"", code);
    if (attempts_json) {
        tg_buf_puts(out, ",\"attempts\":");
        tg_buf_puts(out, attempts_json);
    }
    tg_buf_puts(out, "}}");
}

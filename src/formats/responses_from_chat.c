/* Chat -> Responses (see responses_from_chat.h). A whole answer and a
 * stream build the same list of output items (reasoning, message, function
 * calls) and render the same `response` object from it, so that a streamed
 * response.completed and a non-streamed answer never disagree. Every input
 * comes from an upstream: each member is read with its type checked. */
#include "formats/responses_from_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/format.h"
#include "util/json.h"

static void put_str(struct tg_buf *b, const char *s)
{
    tg_buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

static void put_text(struct tg_buf *b, const struct tg_buf *t)
{
    tg_buf_json_str(b, t->data ? t->data : "", t->len);
}

/* ==== the request's echo ==== */

/* `,"key":` and the member's JSON, or dflt when it is absent, null or not of
 * the wanted cJSON type mask. */
static void echo_member(struct tg_buf *b, const char *key, const cJSON *v, int types,
                        const char *dflt)
{
    tg_buf_printf(b, ",\"%s\":", key);
    if (v && (v->type & 0xFF & types))
        tg_buf_json_item(b, v);
    else
        tg_buf_puts(b, dflt);
}

/* The members of the request a Responses answer repeats, with the API's
 * defaults where the request has none. */
static void put_echo(struct tg_buf *b, const cJSON *req)
{
    echo_member(b, "instructions", tg_fmt_get(req, "instructions"), cJSON_String, "null");
    echo_member(b, "max_output_tokens", tg_fmt_get(req, "max_output_tokens"), cJSON_Number, "null");
    echo_member(b, "metadata", tg_fmt_get(req, "metadata"), cJSON_Object, "{}");
    echo_member(b, "parallel_tool_calls", tg_fmt_get(req, "parallel_tool_calls"),
                cJSON_True | cJSON_False, "true");
    tg_buf_puts(b, ",\"previous_response_id\":null,\"reasoning\":{\"effort\":");
    const cJSON *reasoning = tg_fmt_get(req, "reasoning");
    const char *effort = tg_json_get_str(reasoning, "effort");
    const char *summary = tg_json_get_str(reasoning, "summary");
    if (effort)
        put_str(b, effort);
    else
        tg_buf_puts(b, "null");
    tg_buf_puts(b, ",\"summary\":");
    if (summary)
        put_str(b, summary);
    else
        tg_buf_puts(b, "null");
    /* Nothing is stored: a translated answer exists only on this wire. */
    tg_buf_puts(b, "},\"store\":false");
    echo_member(b, "temperature", tg_fmt_get(req, "temperature"), cJSON_Number, "1");
    const cJSON *text = tg_fmt_get(req, "text");
    echo_member(b, "text\":{\"format", tg_fmt_get(text, "format"), cJSON_Object,
                "{\"type\":\"text\"}");
    const char *verbosity = tg_json_get_str(text, "verbosity");
    if (verbosity) {
        tg_buf_puts(b, ",\"verbosity\":");
        put_str(b, verbosity);
    }
    tg_buf_putc(b, '}');
    echo_member(b, "tool_choice", tg_fmt_get(req, "tool_choice"), cJSON_String | cJSON_Object,
                "\"auto\"");
    echo_member(b, "tools", tg_fmt_get(req, "tools"), cJSON_Array, "[]");
    echo_member(b, "top_p", tg_fmt_get(req, "top_p"), cJSON_Number, "1");
    tg_buf_puts(b, ",\"truncation\":\"disabled\"");
    const char *user = tg_json_get_str(req, "user");
    if (user) {
        tg_buf_puts(b, ",\"user\":");
        put_str(b, user);
    }
}

/* ==== output items ==== */

/* The response's id from the completion's: "chatcmpl-X" becomes "resp_X". */
static void set_ids(struct tg_fmt_responses_from_chat_stream *s, const char *chat_id,
                    const char *model)
{
    if (chat_id && *chat_id && !s->id[0]) {
        const char *suffix = strncmp(chat_id, "chatcmpl-", 9) == 0 ? chat_id + 9 : chat_id;
        memcpy(s->id, "resp_", 5);
        tg_fmt_copy_trunc(s->id + 5, sizeof(s->id) - 5, suffix);
    }
    if (model && *model && !s->model[0])
        tg_fmt_copy_trunc(s->model, sizeof(s->model), model);
}

static const char *id_suffix(const struct tg_fmt_responses_from_chat_stream *s)
{
    return s->id[0] ? s->id + 5 : "tailgate";
}

static struct tg_fmt_responses_item *new_item(struct tg_fmt_responses_from_chat_stream *s,
                                              enum tg_fmt_responses_item_kind kind, int chat_index)
{
    if (s->n_items >= TG_FMT_RESPONSES_MAX_ITEMS)
        return NULL;
    if (!s->items)
        s->items = tg_xmalloc(sizeof(*s->items) * TG_FMT_RESPONSES_MAX_ITEMS);
    struct tg_fmt_responses_item *it = &s->items[s->n_items];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->chat_index = chat_index;
    it->text_part = -1;
    it->refusal_part = -1;
    static const char *const prefix[] = {"rs", "msg", "fc"};
    /* The output index keeps ids unique within the response. */
    char suffix[40];
    tg_fmt_copy_trunc(suffix, sizeof(suffix), id_suffix(s));
    if (s->n_items)
        snprintf(it->id, sizeof(it->id), "%s_%s_%d", prefix[kind], suffix, s->n_items);
    else
        snprintf(it->id, sizeof(it->id), "%s_%s", prefix[kind], suffix);
    s->n_items++;
    return it;
}

static int index_of(const struct tg_fmt_responses_from_chat_stream *s,
                    const struct tg_fmt_responses_item *it)
{
    return (int)(it - s->items);
}

/* A call's id and name; a call without an id gets one, since a client
 * needs it to send the call's output back (and the SDKs refuse an empty
 * one). */
static void set_call(const struct tg_fmt_responses_from_chat_stream *s,
                     struct tg_fmt_responses_item *it, const char *call_id, const char *name)
{
    if (call_id && *call_id) {
        it->call_id = tg_xstrdup(call_id);
    } else {
        char gen[64];
        snprintf(gen, sizeof(gen), "call_%.40s_%d", id_suffix(s), index_of(s, it));
        it->call_id = tg_xstrdup(gen);
    }
    it->name = tg_xstrdup(name ? name : "");
}

static void put_text_part(struct tg_buf *b, const struct tg_buf *text)
{
    tg_buf_puts(b, "{\"type\":\"output_text\",\"text\":");
    put_text(b, text);
    tg_buf_puts(b, ",\"annotations\":[],\"logprobs\":[]}");
}

static void put_refusal_part(struct tg_buf *b, const struct tg_buf *refusal)
{
    tg_buf_puts(b, "{\"type\":\"refusal\",\"refusal\":");
    put_text(b, refusal);
    tg_buf_putc(b, '}');
}

static void put_summary_part(struct tg_buf *b, const struct tg_buf *text)
{
    tg_buf_puts(b, "{\"type\":\"summary_text\",\"text\":");
    put_text(b, text);
    tg_buf_putc(b, '}');
}

static const char *item_status(const struct tg_fmt_responses_item *it)
{
    return !it->done ? "in_progress" : it->cut ? "incomplete" : "completed";
}

/* An output item as it stands: announced (not done: no content yet) or
 * whole. */
static void put_item(struct tg_buf *b, const struct tg_fmt_responses_item *it)
{
    tg_buf_puts(b, "{\"id\":");
    put_str(b, it->id);
    switch (it->kind) {
    case TG_FMT_RITEM_REASONING:
        tg_buf_puts(b, ",\"type\":\"reasoning\",\"summary\":[");
        if (it->done)
            put_summary_part(b, &it->text);
        tg_buf_putc(b, ']');
        break;
    case TG_FMT_RITEM_MESSAGE:
        tg_buf_printf(b,
                      ",\"type\":\"message\",\"status\":\"%s\",\"role\":\"assistant\","
                      "\"content\":[",
                      item_status(it));
        for (int part = 0; it->done && part < 2; part++) {
            if (part && it->text_part >= 0 && it->refusal_part >= 0)
                tg_buf_putc(b, ',');
            if (it->text_part == part)
                put_text_part(b, &it->text);
            else if (it->refusal_part == part)
                put_refusal_part(b, &it->refusal);
        }
        tg_buf_putc(b, ']');
        break;
    case TG_FMT_RITEM_CALL:
        tg_buf_puts(b, ",\"type\":\"function_call\",\"call_id\":");
        put_str(b, it->call_id);
        tg_buf_puts(b, ",\"name\":");
        put_str(b, it->name);
        tg_buf_puts(b, ",\"arguments\":");
        if (it->done)
            put_text(b, &it->text);
        else
            tg_buf_puts(b, "\"\"");
        tg_buf_printf(b, ",\"status\":\"%s\"", item_status(it));
        break;
    }
    tg_buf_putc(b, '}');
}

static void put_usage(struct tg_buf *b, const struct tg_fmt_responses_from_chat_stream *s)
{
    tg_buf_printf(b,
                  "{\"input_tokens\":%lld,\"input_tokens_details\":{\"cached_tokens\":%lld},"
                  "\"output_tokens\":%lld,\"output_tokens_details\":{\"reasoning_tokens\":%lld},"
                  "\"total_tokens\":%lld}",
                  (long long)s->input_tokens, (long long)s->cached_tokens,
                  (long long)s->output_tokens, (long long)s->reasoning_tokens,
                  (long long)(s->input_tokens + s->output_tokens));
}

/* How the answer ended, in Responses' words. */
struct ending {
    const char *status;     /* completed, incomplete, in_progress, failed */
    const char *incomplete; /* incomplete_details.reason, or NULL */
};

static struct ending ending_of(const char *finish_reason)
{
    if (tg_fmt_str_eq(finish_reason, "length"))
        return (struct ending){"incomplete", "max_output_tokens"};
    if (tg_fmt_str_eq(finish_reason, "content_filter"))
        return (struct ending){"incomplete", "content_filter"};
    return (struct ending){"completed", NULL};
}

/* The response object. error_object: the JSON of `error` (NULL: null).
 * Output and usage only once the response has ended. */
static void put_response(struct tg_buf *b, struct tg_fmt_responses_from_chat_stream *s,
                         struct ending e, const char *error_object)
{
    if (!s->echo.data)
        put_echo(&s->echo, s->request);
    bool ended = !tg_fmt_str_eq(e.status, "in_progress");
    tg_buf_puts(b, "{\"id\":");
    put_str(b, s->id[0] ? s->id : "resp_tailgate");
    tg_buf_printf(b,
                  ",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
                  "\"background\":false,\"error\":%s,\"incomplete_details\":",
                  (long long)s->created, e.status, error_object ? error_object : "null");
    if (e.incomplete)
        tg_buf_printf(b, "{\"reason\":\"%s\"}", e.incomplete);
    else
        tg_buf_puts(b, "null");
    tg_buf_append(b, s->echo.data ? s->echo.data : "", s->echo.len);
    tg_buf_puts(b, ",\"model\":");
    put_str(b, s->model);
    tg_buf_puts(b, ",\"output\":[");
    for (int i = 0; ended && i < s->n_items; i++) {
        if (i)
            tg_buf_putc(b, ',');
        put_item(b, &s->items[i]);
    }
    tg_buf_puts(b, "],\"usage\":");
    if (ended && s->has_usage)
        put_usage(b, s);
    else
        tg_buf_puts(b, "null");
    tg_buf_putc(b, '}');
}

static void read_usage(struct tg_fmt_responses_from_chat_stream *s, const cJSON *usage)
{
    if (!cJSON_IsObject(usage))
        return;
    s->has_usage = true;
    s->input_tokens = tg_fmt_count(tg_fmt_get(usage, "prompt_tokens"));
    s->output_tokens = tg_fmt_count(tg_fmt_get(usage, "completion_tokens"));
    s->cached_tokens =
        tg_fmt_count(tg_fmt_get(tg_fmt_get(usage, "prompt_tokens_details"), "cached_tokens"));
    s->reasoning_tokens = tg_fmt_count(
        tg_fmt_get(tg_fmt_get(usage, "completion_tokens_details"), "reasoning_tokens"));
}

/* The reasoning text of a message or delta: "reasoning_content" (DeepSeek,
 * vLLM, and what tailgate's Anthropic translation writes) or "reasoning"
 * (OpenRouter, Groq). */
static const char *reasoning_of(const cJSON *msg)
{
    const char *r = tg_json_get_str(msg, "reasoning_content");
    return r ? r : tg_json_get_str(msg, "reasoning");
}

/* A chat content (a string, or parts) appended to text; refusal parts to
 * refusal. True when it held text. */
static bool gather_text(const cJSON *content, struct tg_buf *text, struct tg_buf *refusal)
{
    if (cJSON_IsString(content)) {
        tg_buf_puts(text, content->valuestring);
        return true;
    }
    bool any = false;
    const cJSON *part;
    cJSON_ArrayForEach(part, tg_fmt_array(content))
    {
        const char *t = tg_json_get_str(part, "text");
        const char *r = tg_json_get_str(part, "refusal");
        if (t) {
            tg_buf_puts(text, t);
            any = true;
        } else if (r) {
            tg_buf_puts(refusal, r);
        }
    }
    return any;
}

/* ==== whole answers ==== */

static void free_items(struct tg_fmt_responses_from_chat_stream *s)
{
    for (int i = 0; i < s->n_items; i++) {
        tg_buf_free(&s->items[i].text);
        tg_buf_free(&s->items[i].refusal);
        free(s->items[i].call_id);
        free(s->items[i].name);
    }
    free(s->items);
    s->items = NULL;
    s->n_items = 0;
}

int tg_fmt_responses_from_chat_answer(const char *body, size_t len, const cJSON *request,
                                      struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    const cJSON *choices = tg_fmt_get(root, "choices");
    if (!tg_fmt_str_eq(tg_json_get_str(root, "object"), "chat.completion") &&
        !cJSON_IsArray(choices)) {
        cJSON_Delete(root);
        return -1;
    }
    struct tg_fmt_responses_from_chat_stream s;
    tg_fmt_responses_from_chat_stream_init(&s, request, tg_fmt_count(tg_fmt_get(root, "created")));
    set_ids(&s, tg_json_get_str(root, "id"), tg_json_get_str(root, "model"));
    const cJSON *choice = cJSON_IsArray(choices) ? choices->child : NULL;
    const cJSON *msg = tg_fmt_get(choice, "message");
    s.finish_reason = tg_json_get_str(choice, "finish_reason");
    bool cut = ending_of(s.finish_reason).incomplete != NULL;

    const char *reasoning = reasoning_of(msg);
    if (reasoning && *reasoning) {
        struct tg_fmt_responses_item *it = new_item(&s, TG_FMT_RITEM_REASONING, -1);
        tg_buf_puts(&it->text, reasoning);
    }
    struct tg_buf text = TG_BUF_INIT, refusals = TG_BUF_INIT;
    bool has_text = gather_text(tg_fmt_get(msg, "content"), &text, &refusals);
    const char *refusal = tg_json_get_str(msg, "refusal");
    if (!refusal && refusals.len)
        refusal = refusals.data;
    const cJSON *calls = tg_fmt_get(msg, "tool_calls");
    bool has_calls = cJSON_IsArray(calls) && calls->child;
    /* An empty answer is still a message, so that it stays visible. */
    if ((has_text && (text.len || !has_calls)) || refusal || (!has_calls && !has_text)) {
        struct tg_fmt_responses_item *it = new_item(&s, TG_FMT_RITEM_MESSAGE, -1);
        if (has_text || !refusal) {
            it->text_part = 0;
            tg_buf_append(&it->text, text.data ? text.data : "", text.len);
        }
        if (refusal) {
            it->refusal_part = it->text_part + 1;
            tg_buf_puts(&it->refusal, refusal);
        }
    }
    tg_buf_free(&text);
    tg_buf_free(&refusals);
    const cJSON *call;
    int k = 0;
    cJSON_ArrayForEach(call, tg_fmt_array(calls))
    {
        const cJSON *fn = tg_fmt_get(call, "function");
        struct tg_fmt_responses_item *it = new_item(&s, TG_FMT_RITEM_CALL, k++);
        if (!it)
            break;
        set_call(&s, it, tg_json_get_str(call, "id"), tg_json_get_str(fn, "name"));
        const char *args = tg_json_get_str(fn, "arguments");
        tg_buf_puts(&it->text, args ? args : "");
    }
    /* The limit cuts the item being written, the last: those before it
     * are whole, as the same answer streamed says. */
    for (int i = 0; i < s.n_items; i++) {
        s.items[i].done = true;
        s.items[i].cut = cut && i == s.n_items - 1;
    }
    read_usage(&s, tg_fmt_get(root, "usage"));
    put_response(out, &s, ending_of(s.finish_reason), NULL);
    tg_fmt_responses_from_chat_stream_free(&s);
    cJSON_Delete(root);
    return 0;
}

/* ==== errors ==== */

/* Responses' error codes (ResponseError.code) for an OpenAI error. */
static const char *response_error_code(const char *type, const char *code)
{
    static const char *const known[] = {"server_error", "rate_limit_exceeded", "invalid_prompt",
                                        "vector_store_timeout", "invalid_image"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (tg_fmt_str_eq(code, known[i]))
            return code;
    }
    if (tg_fmt_str_eq(type, "rate_limit_error") || tg_fmt_str_eq(type, "rate_limit_exceeded") ||
        tg_fmt_str_eq(type, "tokens") || tg_fmt_str_eq(type, "requests"))
        return "rate_limit_exceeded";
    if (tg_fmt_str_eq(code, "context_length_exceeded") ||
        tg_fmt_str_eq(type, "invalid_request_error"))
        return "invalid_prompt";
    return "server_error";
}

static const char *type_for_status(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
    }
}

void tg_fmt_responses_from_chat_error(const char *body, size_t len, int status, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    const cJSON *err = tg_fmt_get(root, "error");
    if (tg_json_get_str(err, "message")) {
        /* Already OpenAI's shape, which Responses shares: kept byte for byte. */
        tg_buf_append(out, body, len);
        cJSON_Delete(root);
        return;
    }
    cJSON_Delete(root);
    tg_buf_printf(out,
                  "{\"error\":{\"message\":\"upstream answered HTTP %d\",\"type\":\"%s\","
                  "\"param\":null,\"code\":null}}",
                  status, type_for_status(status));
}

/* ==== streams ==== */

void tg_fmt_responses_from_chat_stream_init(struct tg_fmt_responses_from_chat_stream *s,
                                            const cJSON *request, int64_t created)
{
    memset(s, 0, sizeof(*s));
    s->created = created;
    s->open = -1;
    s->request = request;
}

void tg_fmt_responses_from_chat_stream_free(struct tg_fmt_responses_from_chat_stream *s)
{
    free_items(s);
    tg_buf_free(&s->echo);
}

/* "event: NAME" and the data's head up to its sequence number; the caller
 * adds the event's own members, then ev_end. */
static void ev(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out, const char *name)
{
    tg_buf_printf(out, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%d", name, name,
                  s->seq++);
}

static void ev_end(struct tg_buf *out)
{
    tg_buf_puts(out, "}\n\n");
}

/* ,"item_id":..,"output_index":N */
static void ev_item(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out,
                    const struct tg_fmt_responses_item *it)
{
    tg_buf_puts(out, ",\"item_id\":");
    put_str(out, it->id);
    tg_buf_printf(out, ",\"output_index\":%d", index_of(s, it));
}

static void start_response(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out)
{
    if (s->phase != TG_FMT_RSTREAM_WAITING)
        return;
    s->phase = TG_FMT_RSTREAM_OPEN;
    static const char *const names[] = {"response.created", "response.in_progress"};
    for (int i = 0; i < 2; i++) {
        ev(s, out, names[i]);
        tg_buf_puts(out, ",\"response\":");
        put_response(out, s, (struct ending){"in_progress", NULL}, NULL);
        ev_end(out);
    }
}

/* Sends the done events of the open item. */
static void close_item(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out)
{
    if (s->open < 0)
        return;
    struct tg_fmt_responses_item *it = &s->items[s->open];
    s->open = -1;
    it->done = true;
    it->cut = ending_of(s->finish_reason).incomplete != NULL;
    switch (it->kind) {
    case TG_FMT_RITEM_REASONING:
        ev(s, out, "response.reasoning_summary_text.done");
        ev_item(s, out, it);
        tg_buf_puts(out, ",\"summary_index\":0,\"text\":");
        put_text(out, &it->text);
        ev_end(out);
        ev(s, out, "response.reasoning_summary_part.done");
        ev_item(s, out, it);
        tg_buf_puts(out, ",\"summary_index\":0,\"part\":");
        put_summary_part(out, &it->text);
        ev_end(out);
        break;
    case TG_FMT_RITEM_MESSAGE:
        for (int part = 0; part < 2; part++) {
            if (it->text_part == part) {
                ev(s, out, "response.output_text.done");
                ev_item(s, out, it);
                tg_buf_printf(out, ",\"content_index\":%d,\"text\":", part);
                put_text(out, &it->text);
                tg_buf_puts(out, ",\"logprobs\":[]");
                ev_end(out);
            } else if (it->refusal_part == part) {
                ev(s, out, "response.refusal.done");
                ev_item(s, out, it);
                tg_buf_printf(out, ",\"content_index\":%d,\"refusal\":", part);
                put_text(out, &it->refusal);
                ev_end(out);
            } else {
                continue;
            }
            ev(s, out, "response.content_part.done");
            ev_item(s, out, it);
            tg_buf_printf(out, ",\"content_index\":%d,\"part\":", part);
            if (it->text_part == part)
                put_text_part(out, &it->text);
            else
                put_refusal_part(out, &it->refusal);
            ev_end(out);
        }
        break;
    case TG_FMT_RITEM_CALL:
        ev(s, out, "response.function_call_arguments.done");
        ev_item(s, out, it);
        tg_buf_puts(out, ",\"name\":");
        put_str(out, it->name);
        tg_buf_puts(out, ",\"arguments\":");
        put_text(out, &it->text);
        ev_end(out);
        break;
    }
    ev(s, out, "response.output_item.done");
    tg_buf_printf(out, ",\"output_index\":%d,\"item\":", index_of(s, it));
    put_item(out, it);
    ev_end(out);
}

/* Closes the open item and announces a new one; NULL when the stream holds
 * as many items as it may. */
static struct tg_fmt_responses_item *start_item(struct tg_fmt_responses_from_chat_stream *s,
                                                struct tg_buf *out,
                                                enum tg_fmt_responses_item_kind kind,
                                                int chat_index, const char *call_id,
                                                const char *name)
{
    if (s->n_items >= TG_FMT_RESPONSES_MAX_ITEMS)
        return NULL;
    close_item(s, out);
    struct tg_fmt_responses_item *it = new_item(s, kind, chat_index);
    if (kind == TG_FMT_RITEM_CALL)
        set_call(s, it, call_id, name);
    s->open = index_of(s, it);
    ev(s, out, "response.output_item.added");
    tg_buf_printf(out, ",\"output_index\":%d,\"item\":", s->open);
    put_item(out, it);
    ev_end(out);
    if (kind == TG_FMT_RITEM_REASONING) {
        ev(s, out, "response.reasoning_summary_part.added");
        ev_item(s, out, it);
        tg_buf_puts(out, ",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}");
        ev_end(out);
    }
    return it;
}

/* The open item when it is of this kind, else a new one. */
static struct tg_fmt_responses_item *item_for(struct tg_fmt_responses_from_chat_stream *s,
                                              struct tg_buf *out,
                                              enum tg_fmt_responses_item_kind kind)
{
    if (s->open >= 0 && s->items[s->open].kind == kind)
        return &s->items[s->open];
    return start_item(s, out, kind, -1, NULL, NULL);
}

static void on_reasoning(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out,
                         const char *delta)
{
    struct tg_fmt_responses_item *it = item_for(s, out, TG_FMT_RITEM_REASONING);
    if (!it)
        return;
    tg_buf_puts(&it->text, delta);
    ev(s, out, "response.reasoning_summary_text.delta");
    ev_item(s, out, it);
    tg_buf_puts(out, ",\"summary_index\":0,\"delta\":");
    put_str(out, delta);
    ev_end(out);
}

/* Text (refusal false) or refusal text into the open message. */
static void on_message_delta(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out,
                             const char *delta, bool refusal)
{
    struct tg_fmt_responses_item *it = item_for(s, out, TG_FMT_RITEM_MESSAGE);
    if (!it)
        return;
    int *part = refusal ? &it->refusal_part : &it->text_part;
    if (*part < 0) {
        *part = (it->text_part >= 0) + (it->refusal_part >= 0);
        ev(s, out, "response.content_part.added");
        ev_item(s, out, it);
        tg_buf_printf(out, ",\"content_index\":%d,\"part\":", *part);
        struct tg_buf empty = TG_BUF_INIT;
        if (refusal)
            put_refusal_part(out, &empty);
        else
            put_text_part(out, &empty);
        ev_end(out);
    }
    if (!*delta)
        return; /* a part announced, nothing said yet */
    tg_buf_puts(refusal ? &it->refusal : &it->text, delta);
    ev(s, out, refusal ? "response.refusal.delta" : "response.output_text.delta");
    ev_item(s, out, it);
    tg_buf_printf(out, ",\"content_index\":%d,\"delta\":", *part);
    put_str(out, delta);
    if (!refusal)
        tg_buf_puts(out, ",\"logprobs\":[]");
    ev_end(out);
    s->content_started = true;
}

static void on_tool_call(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out,
                         const cJSON *call)
{
    const cJSON *index = tg_fmt_get(call, "index");
    int chat_index = cJSON_IsNumber(index) && index->valuedouble >= 0 && index->valuedouble < 1e6
                         ? (int)index->valuedouble
                         : 0;
    const cJSON *fn = tg_fmt_get(call, "function");
    const char *args = tg_json_get_str(fn, "arguments");
    struct tg_fmt_responses_item *it = NULL;
    for (int i = s->n_items - 1; i >= 0; i--) {
        if (s->items[i].kind == TG_FMT_RITEM_CALL && s->items[i].chat_index == chat_index) {
            it = &s->items[i];
            break;
        }
    }
    if (!it) {
        it = start_item(s, out, TG_FMT_RITEM_CALL, chat_index, tg_json_get_str(call, "id"),
                        tg_json_get_str(fn, "name"));
        if (!it)
            return;
    }
    if (!args || !*args)
        return;
    tg_buf_puts(&it->text, args);
    /* A call streamed after the next item began (chat allows interleaving,
     * Responses does not): its text reaches the final response only. */
    if (it->done)
        return;
    ev(s, out, "response.function_call_arguments.delta");
    ev_item(s, out, it);
    tg_buf_puts(out, ",\"delta\":");
    put_str(out, args);
    ev_end(out);
    s->content_started = true;
}

static void finish(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out)
{
    start_response(s, out);
    /* An answer without text or calls is still a message, as in a whole
     * answer. */
    bool said = false;
    for (int i = 0; i < s->n_items; i++)
        said = said || s->items[i].kind != TG_FMT_RITEM_REASONING;
    if (!said)
        on_message_delta(s, out, "", false);
    close_item(s, out);
    struct ending e = ending_of(s->finish_reason);
    ev(s, out, e.incomplete ? "response.incomplete" : "response.completed");
    tg_buf_puts(out, ",\"response\":");
    put_response(out, s, e, NULL);
    ev_end(out);
    s->phase = TG_FMT_RSTREAM_ENDED;
}

/* The error event's code and message, and response.failed's error object,
 * from an OpenAI error object. */
static void fail_with(struct tg_fmt_responses_from_chat_stream *s, const cJSON *err,
                      struct tg_buf *out)
{
    if (s->phase == TG_FMT_RSTREAM_ENDED)
        return;
    start_response(s, out);
    const char *message = tg_json_get_str(err, "message");
    const char *type = tg_json_get_str(err, "type");
    const char *code = tg_json_get_str(err, "code");
    const char *param = tg_json_get_str(err, "param");
    if (!message)
        message = "The upstream stream failed.";
    ev(s, out, "error");
    tg_buf_puts(out, ",\"code\":");
    if (code || type)
        put_str(out, code ? code : type);
    else
        tg_buf_puts(out, "\"server_error\"");
    tg_buf_puts(out, ",\"message\":");
    put_str(out, message);
    tg_buf_puts(out, ",\"param\":");
    if (param)
        put_str(out, param);
    else
        tg_buf_puts(out, "null");
    ev_end(out);

    /* What was said so far stays in the failed response, marked unfinished. */
    if (s->open >= 0) {
        s->items[s->open].done = true;
        s->items[s->open].cut = true;
        s->open = -1;
    }
    struct tg_buf obj = TG_BUF_INIT;
    tg_buf_puts(&obj, "{\"code\":");
    put_str(&obj, response_error_code(type, code));
    tg_buf_puts(&obj, ",\"message\":");
    put_str(&obj, message);
    tg_buf_putc(&obj, '}');
    ev(s, out, "response.failed");
    tg_buf_puts(out, ",\"response\":");
    put_response(out, s, (struct ending){"failed", NULL}, obj.data);
    ev_end(out);
    tg_buf_free(&obj);
    s->phase = TG_FMT_RSTREAM_ENDED;
}

void tg_fmt_responses_from_chat_stream_fail(struct tg_fmt_responses_from_chat_stream *s,
                                            const char *error_json, struct tg_buf *out)
{
    cJSON *err = error_json ? tg_json_parse_provider(error_json, strlen(error_json)) : NULL;
    /* Either the error object or a body that holds one. */
    const cJSON *inner = tg_fmt_get(err, "error");
    fail_with(s, cJSON_IsObject(inner) ? inner : err, out);
    cJSON_Delete(err);
}

static void on_choice(struct tg_fmt_responses_from_chat_stream *s, struct tg_buf *out,
                      const cJSON *choice)
{
    const cJSON *delta = tg_fmt_get(choice, "delta");
    const char *reasoning = reasoning_of(delta);
    if (reasoning && *reasoning)
        on_reasoning(s, out, reasoning);
    const cJSON *content = tg_fmt_get(delta, "content");
    if (cJSON_IsString(content) && *content->valuestring)
        on_message_delta(s, out, content->valuestring, false);
    const char *refusal = tg_json_get_str(delta, "refusal");
    if (refusal && *refusal)
        on_message_delta(s, out, refusal, true);
    const cJSON *call;
    const cJSON *calls = tg_fmt_get(delta, "tool_calls");
    cJSON_ArrayForEach(call, tg_fmt_array(calls)) on_tool_call(s, out, call);
    const char *finish_reason = tg_json_get_str(choice, "finish_reason");
    if (finish_reason) {
        static const char *const known[] = {"stop", "length", "tool_calls", "content_filter",
                                            "function_call"};
        s->finish_reason = "stop";
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strcmp(finish_reason, known[i]) == 0)
                s->finish_reason = known[i];
        }
    }
}

enum tg_fmt_result
tg_fmt_responses_from_chat_stream_event(struct tg_fmt_responses_from_chat_stream *s,
                                        const char *data, size_t len, struct tg_buf *out)
{
    if (s->phase == TG_FMT_RSTREAM_ENDED)
        return TG_FMT_DONE;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        finish(s, out);
        return TG_FMT_DONE;
    }
    cJSON *root = data && len ? tg_json_parse_provider(data, len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return TG_FMT_BAD;
    }
    const cJSON *err = tg_fmt_get(root, "error");
    if (cJSON_IsObject(err)) {
        fail_with(s, err, out);
        cJSON_Delete(root);
        return TG_FMT_ERROR;
    }
    const cJSON *choices = tg_fmt_get(root, "choices");
    bool says =
        (cJSON_IsArray(choices) && choices->child) || cJSON_IsObject(tg_fmt_get(root, "usage"));
    if (s->phase == TG_FMT_RSTREAM_WAITING && !says) {
        /* Azure opens with a chunk of prompt_filter_results, empty id and
         * model: the response starts with the first chunk that has them. */
        cJSON_Delete(root);
        return TG_FMT_CONTINUE;
    }
    set_ids(s, tg_json_get_str(root, "id"), tg_json_get_str(root, "model"));
    const cJSON *created = tg_fmt_get(root, "created");
    if (s->phase == TG_FMT_RSTREAM_WAITING && cJSON_IsNumber(created) && created->valuedouble > 0)
        s->created = tg_fmt_count(created);
    start_response(s, out);
    if (cJSON_IsArray(choices) && choices->child)
        on_choice(s, out, choices->child); /* n = 1: Responses has one output */
    read_usage(s, tg_fmt_get(root, "usage"));
    cJSON_Delete(root);
    return TG_FMT_CONTINUE;
}

/* The format layer's reader of upstream answers (see read.h): one place that
 * knows how chat, Messages and Responses say "error", "usage", "finished"
 * and "content", whole and event by event. */
#include "formats/read.h"

#include <string.h>

#include "formats/chat_from_messages.h"
#include "util/json.h"
#include "util/json_scan.h"

/* ==== usage ==== */

void tg_read_usage(const cJSON *usage, struct tg_usage_facts *u)
{
    if (!cJSON_IsObject(usage))
        return;
    const cJSON *prompt = tg_fmt_get(usage, "prompt_tokens");
    const cJSON *input = tg_fmt_get(usage, "input_tokens");
    if (cJSON_IsNumber(prompt)) {
        u->set = true;
        u->input_tokens = tg_fmt_count(prompt);
        const cJSON *c = tg_fmt_get(tg_fmt_get(usage, "prompt_tokens_details"), "cached_tokens");
        if (cJSON_IsNumber(c))
            u->cached_tokens = tg_fmt_count(c);
    } else if (cJSON_IsNumber(input)) {
        u->set = true;
        const cJSON *read = tg_fmt_get(usage, "cache_read_input_tokens");
        const cJSON *wrote = tg_fmt_get(usage, "cache_creation_input_tokens");
        if (cJSON_IsNumber(read) || cJSON_IsNumber(wrote)) {
            /* Anthropic: input_tokens leaves out cache reads and writes,
             * both of which are prompt tokens. Each term is clamped, so the
             * sum stays far from overflow. */
            u->input_tokens = tg_fmt_count(input) + tg_fmt_count(read) + tg_fmt_count(wrote);
            u->cached_tokens = tg_fmt_count(read);
        } else {
            u->input_tokens = tg_fmt_count(input);
            const cJSON *c = tg_fmt_get(tg_fmt_get(usage, "input_tokens_details"), "cached_tokens");
            if (cJSON_IsNumber(c))
                u->cached_tokens = tg_fmt_count(c);
        }
    }
    const cJSON *out = tg_fmt_get(usage, "completion_tokens");
    if (!cJSON_IsNumber(out))
        out = tg_fmt_get(usage, "output_tokens");
    if (cJSON_IsNumber(out)) {
        u->set = true;
        u->output_tokens = tg_fmt_count(out);
    }
    /* Cached tokens are a part of the prompt: more than all of it would
     * price the prompt below zero. */
    if (u->cached_tokens > u->input_tokens)
        u->cached_tokens = u->input_tokens;
}

/* ==== whole answers ==== */

/* Appending even "" allocates: text.data != NULL says the answer had text. */
static void add_text(struct tg_answer_facts *f, const char *s)
{
    if (s)
        tg_buf_puts(&f->text, s);
}

static void add_call(struct tg_answer_facts *f, const char *name, const cJSON *input,
                     const char *arguments)
{
    f->has_calls = true;
    if (f->n_calls >= TG_READ_MAX_CALLS)
        return;
    f->calls[f->n_calls++] = (struct tg_read_call){name, input, arguments};
}

static bool nonempty(const char *s)
{
    return s && *s;
}

static void read_chat(enum tg_api api, const cJSON *root, struct tg_answer_facts *f)
{
    const cJSON *choice = cJSON_GetArrayItem(tg_fmt_array(tg_fmt_get(root, "choices")), 0);
    f->finish = tg_json_get_str(choice, "finish_reason");
    if (api == TG_API_COMPLETIONS) {
        add_text(f, tg_json_get_str(choice, "text"));
        return;
    }
    const cJSON *message = tg_fmt_get(choice, "message");
    add_text(f, tg_json_get_str(message, "content"));
    f->refusal = nonempty(tg_json_get_str(message, "refusal"));
    const cJSON *call;
    cJSON_ArrayForEach(call, tg_fmt_array(tg_fmt_get(message, "tool_calls")))
    {
        const cJSON *fn = tg_fmt_get(call, "function");
        add_call(f, tg_json_get_str(fn, "name"), NULL, tg_json_get_str(fn, "arguments"));
    }
    const cJSON *legacy = tg_fmt_get(message, "function_call");
    if (cJSON_IsObject(legacy))
        add_call(f, tg_json_get_str(legacy, "name"), NULL, tg_json_get_str(legacy, "arguments"));
}

static int read_message(const cJSON *root, struct tg_answer_facts *f)
{
    if (!f->error && !tg_fmt_is_type(root, "message"))
        return -1;
    const cJSON *block;
    cJSON_ArrayForEach(block, tg_fmt_array(tg_fmt_get(root, "content")))
    {
        const char *type = tg_json_get_str(block, "type");
        if (tg_fmt_str_eq(type, "text"))
            add_text(f, tg_json_get_str(block, "text"));
        else if (tg_fmt_str_eq(type, "tool_use"))
            add_call(f, tg_json_get_str(block, "name"), tg_fmt_get(block, "input"), NULL);
        /* thinking, redacted_thinking, server tools: not what is validated */
    }
    const char *stop = tg_json_get_str(root, "stop_reason");
    if (stop)
        f->finish = tg_fmt_chat_finish_reason(stop);
    return 0;
}

/* A response that completed: its calls are what it ended on, if any. */
static const char *completed_finish(const cJSON *response)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, tg_fmt_array(tg_fmt_get(response, "output")))
    {
        if (tg_fmt_is_type(item, "function_call"))
            return "tool_calls";
    }
    return "stop";
}

static const char *incomplete_finish(const cJSON *response)
{
    const char *reason = tg_json_get_str(tg_fmt_get(response, "incomplete_details"), "reason");
    /* max_output_tokens, and whatever else cut it short */
    return tg_fmt_str_eq(reason, "content_filter") ? "content_filter" : "length";
}

/* How a response that ended says it ended, in chat's words. */
static const char *response_finish(const cJSON *response)
{
    if (tg_fmt_str_eq(tg_json_get_str(response, "status"), "incomplete"))
        return incomplete_finish(response);
    return completed_finish(response);
}

static int read_response(const cJSON *root, struct tg_answer_facts *f)
{
    const char *status = tg_json_get_str(root, "status");
    if (tg_fmt_str_eq(status, "failed") || tg_fmt_str_eq(status, "cancelled"))
        f->error = true;
    if (!f->error && !tg_fmt_str_eq(tg_json_get_str(root, "object"), "response"))
        return -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, tg_fmt_array(tg_fmt_get(root, "output")))
    {
        const char *type = tg_json_get_str(item, "type");
        if (tg_fmt_str_eq(type, "message")) {
            const cJSON *part;
            cJSON_ArrayForEach(part, tg_fmt_array(tg_fmt_get(item, "content")))
            {
                if (tg_fmt_is_type(part, "output_text"))
                    add_text(f, tg_json_get_str(part, "text"));
                else if (tg_fmt_is_type(part, "refusal"))
                    f->refusal |= nonempty(tg_json_get_str(part, "refusal"));
            }
        } else if (tg_fmt_str_eq(type, "function_call")) {
            add_call(f, tg_json_get_str(item, "name"), NULL, tg_json_get_str(item, "arguments"));
        }
    }
    if (!f->error)
        f->finish = response_finish(root);
    return 0;
}

int tg_read_answer(enum tg_api api, const cJSON *root, struct tg_answer_facts *f)
{
    memset(f, 0, sizeof(*f));
    if (!cJSON_IsObject(root))
        return -1;
    /* OpenAI's and Anthropic's error bodies both hold an "error" member;
     * a Responses answer holds "error": null. */
    const cJSON *err = tg_fmt_get(root, "error");
    f->error = err && !cJSON_IsNull(err);
    tg_read_usage(tg_fmt_get(root, "usage"), &f->usage);
    switch (api) {
    case TG_API_CHAT:
    case TG_API_COMPLETIONS: read_chat(api, root, f); return 0;
    case TG_API_MESSAGES: return read_message(root, f);
    case TG_API_RESPONSES: return read_response(root, f);
    case TG_API_EMBEDDINGS:
    case TG_API__COUNT: break;
    }
    return 0;
}

void tg_answer_facts_free(struct tg_answer_facts *f)
{
    tg_buf_free(&f->text);
}

/* ==== stream events ==== */

/* OpenAI's error object, printed (malloc'd, as cJSON prints). */
static char *error_object(const char *message, const char *type, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", message ? message : "upstream stream failed");
    cJSON_AddStringToObject(o, "type", type ? type : "server_error");
    cJSON_AddNullToObject(o, "param");
    if (code)
        cJSON_AddStringToObject(o, "code", code);
    else
        cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void set_error(char **error_json, char *s)
{
    if (error_json)
        *error_json = s;
    else
        cJSON_free(s);
}

/* Chat's in-band error: the provider's own error object as it is, or one
 * built around whatever else it put there. */
static char *chat_error(const cJSON *err)
{
    if (cJSON_IsObject(err))
        return cJSON_PrintUnformatted(err);
    return error_object(cJSON_IsString(err) ? err->valuestring : NULL, NULL, NULL);
}

static enum tg_fmt_result chat_event(const char *event, const char *data, size_t len, cJSON **doc,
                                     struct tg_event_facts *f, char **error_json)
{
    if (tg_fmt_str_eq(event, "error")) {
        *doc = tg_json_parse_provider(data, len);
        if (!*doc)
            return TG_FMT_BAD; /* nothing to tell the client: a broken stream */
        const cJSON *err = tg_fmt_get(*doc, "error");
        set_error(error_json, chat_error(err ? err : *doc));
        return TG_FMT_ERROR;
    }
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return TG_FMT_DONE;
    *doc = tg_json_parse_provider(data, len);
    if (!*doc)
        return TG_FMT_BAD;
    const cJSON *err = tg_fmt_get(*doc, "error");
    if (err && !cJSON_IsNull(err)) {
        set_error(error_json, chat_error(err));
        return TG_FMT_ERROR;
    }
    const cJSON *usage = tg_fmt_get(*doc, "usage");
    const cJSON *choices = tg_fmt_get(*doc, "choices");
    if (cJSON_IsObject(usage)) {
        f->usage = usage;
        f->usage_only = cJSON_IsArray(choices) && !choices->child;
    }
    const cJSON *choice;
    cJSON_ArrayForEach(choice, tg_fmt_array(choices))
    {
        const cJSON *delta = tg_fmt_get(choice, "delta");
        const cJSON *calls = tg_fmt_get(delta, "tool_calls");
        if (nonempty(tg_json_get_str(delta, "content")) || (cJSON_IsArray(calls) && calls->child) ||
            nonempty(tg_json_get_str(choice, "text")))
            f->content = true;
        f->refusal |= nonempty(tg_json_get_str(delta, "refusal"));
        const char *finish = tg_json_get_str(choice, "finish_reason");
        if (finish)
            f->finish = finish;
    }
    /* Refusal phrases are looked for in the first choice's text. */
    const cJSON *first = cJSON_GetArrayItem(tg_fmt_array(choices), 0);
    f->text = tg_json_get_str(tg_fmt_get(first, "delta"), "content");
    return TG_FMT_CONTINUE;
}

/* The data's own "type" names the event when no event: line did. */
static const char *event_name(const char *event, const cJSON *doc)
{
    return event && *event ? event : tg_json_get_str(doc, "type");
}

static enum tg_fmt_result messages_event(const char *event, const cJSON *doc,
                                         struct tg_event_facts *f, char **error_json)
{
    const char *name = event_name(event, doc);
    if (tg_fmt_str_eq(name, "error")) {
        /* The upstream said it failed; unreadable details only leave the
         * message generic. */
        const cJSON *err = tg_fmt_get(doc, "error");
        const char *type = tg_json_get_str(err, "type");
        if (!type)
            type = "api_error";
        set_error(error_json, error_object(tg_json_get_str(err, "message"), type, type));
        return TG_FMT_ERROR;
    }
    if (tg_fmt_str_eq(name, "message_stop"))
        return TG_FMT_DONE; /* needs nothing from its data */
    if (!doc)
        return TG_FMT_BAD;
    if (!name)
        return TG_FMT_CONTINUE; /* JSON that names no event: nothing to read */
    if (strcmp(name, "message_start") == 0) {
        const cJSON *message = tg_fmt_get(doc, "message");
        if (!cJSON_IsObject(message))
            return TG_FMT_BAD;
        f->usage = tg_fmt_get(message, "usage");
    } else if (strcmp(name, "content_block_start") == 0) {
        if (!cJSON_IsObject(tg_fmt_get(doc, "content_block")))
            return TG_FMT_BAD;
    } else if (strcmp(name, "content_block_delta") == 0) {
        const cJSON *delta = tg_fmt_get(doc, "delta");
        if (!cJSON_IsObject(delta))
            return TG_FMT_BAD;
        const char *type = tg_json_get_str(delta, "type");
        if (tg_fmt_str_eq(type, "text_delta")) {
            f->text = tg_json_get_str(delta, "text");
            if (!f->text)
                return TG_FMT_BAD;
        } else if (tg_fmt_str_eq(type, "input_json_delta") &&
                   !tg_json_get_str(delta, "partial_json")) {
            return TG_FMT_BAD;
        }
        /* thinking, signatures and citations stream as content too */
        f->content = true;
    } else if (strcmp(name, "message_delta") == 0) {
        if (!cJSON_IsObject(doc))
            return TG_FMT_BAD;
        const char *stop = tg_json_get_str(tg_fmt_get(doc, "delta"), "stop_reason");
        if (stop)
            f->finish = tg_fmt_chat_finish_reason(stop);
        f->usage = tg_fmt_get(doc, "usage");
    }
    /* ping, content_block_stop and events yet to be invented: nothing. */
    if (!cJSON_IsObject(f->usage))
        f->usage = NULL;
    return TG_FMT_CONTINUE;
}

/* The `error` event: {"type":"error","code","message","param"}, or (as
 * some servers write it) the error object under "error". */
static char *responses_error_event(const cJSON *doc)
{
    const cJSON *inner = tg_fmt_get(doc, "error");
    const cJSON *err = cJSON_IsObject(inner) ? inner : doc;
    const char *type = tg_json_get_str(err, "type");
    if (err == doc || tg_fmt_str_eq(type, "error"))
        type = NULL; /* the event's own type, not the error's */
    return error_object(tg_json_get_str(err, "message"), type, tg_json_get_str(err, "code"));
}

static enum tg_fmt_result responses_event(const char *event, const cJSON *doc,
                                          struct tg_event_facts *f, char **error_json)
{
    const char *name = event_name(event, doc);
    if (tg_fmt_str_eq(name, "error")) {
        set_error(error_json, responses_error_event(doc));
        return TG_FMT_ERROR;
    }
    if (tg_fmt_str_eq(name, "response.failed")) {
        const cJSON *err = tg_fmt_get(tg_fmt_get(doc, "response"), "error");
        set_error(error_json, error_object(tg_json_get_str(err, "message"), "server_error",
                                           tg_json_get_str(err, "code")));
        return TG_FMT_ERROR;
    }
    if (!doc)
        return TG_FMT_BAD;
    if (!name)
        return TG_FMT_CONTINUE;
    bool text = strcmp(name, "response.output_text.delta") == 0;
    bool refusal = strcmp(name, "response.refusal.delta") == 0;
    if (text || refusal || strcmp(name, "response.function_call_arguments.delta") == 0) {
        const char *delta = tg_json_get_str(doc, "delta");
        if (!delta)
            return TG_FMT_BAD;
        f->content = true;
        f->text = text ? delta : NULL;
        f->refusal = refusal;
        return TG_FMT_CONTINUE;
    }
    bool incomplete = strcmp(name, "response.incomplete") == 0;
    if (incomplete || strcmp(name, "response.completed") == 0) {
        const cJSON *response = tg_fmt_get(doc, "response");
        if (!cJSON_IsObject(response))
            return TG_FMT_BAD;
        /* The event names the ending, whatever the object's status says. */
        f->finish = incomplete ? incomplete_finish(response) : completed_finish(response);
        const cJSON *usage = tg_fmt_get(response, "usage");
        f->usage = cJSON_IsObject(usage) ? usage : NULL;
        return TG_FMT_DONE;
    }
    /* response.created, .in_progress, output items, content parts, the
     * .done events and reasoning summaries: no content, no ending. */
    return TG_FMT_CONTINUE;
}

/* Events whose data says nothing the machine reads (no content, usage,
 * ending or error), by the name on their event: line. Their JSON is
 * checked, not built: Responses repeats the whole response object and the
 * whole text in several of them, which a pass-through relays as they are. */
static bool says_nothing(enum tg_api api, const char *event)
{
    static const char *const messages[] = {"ping", "content_block_stop"};
    static const char *const responses[] = {"response.created",
                                            "response.in_progress",
                                            "response.output_item.added",
                                            "response.output_item.done",
                                            "response.content_part.added",
                                            "response.content_part.done",
                                            "response.output_text.done",
                                            "response.refusal.done",
                                            "response.function_call_arguments.done",
                                            "response.output_text.annotation.added",
                                            "response.reasoning_summary_part.added",
                                            "response.reasoning_summary_part.done",
                                            "response.reasoning_summary_text.delta",
                                            "response.reasoning_summary_text.done"};
    const char *const *names = api == TG_API_MESSAGES ? messages : responses;
    size_t n = api == TG_API_MESSAGES ? sizeof(messages) / sizeof(messages[0])
                                      : sizeof(responses) / sizeof(responses[0]);
    for (size_t i = 0; event && *event && i < n; i++)
        if (strcmp(event, names[i]) == 0)
            return true;
    return false;
}

enum tg_fmt_result tg_read_event(enum tg_api api, const char *event, const char *data, size_t len,
                                 cJSON **doc, struct tg_event_facts *f, char **error_json)
{
    memset(f, 0, sizeof(*f));
    *doc = NULL;
    if (error_json)
        *error_json = NULL;
    if (!data)
        len = 0;
    if ((api == TG_API_MESSAGES || api == TG_API_RESPONSES) && says_nothing(api, event)) {
        struct tg_json_check_opts strict = {TG_JSON_NO_DUP_KEYS, NULL, NULL};
        return len && tg_json_check(data, len, &strict, NULL) ? TG_FMT_CONTINUE : TG_FMT_BAD;
    }
    switch (api) {
    case TG_API_MESSAGES:
        *doc = len ? tg_json_parse_provider(data, len) : NULL;
        return messages_event(event, *doc, f, error_json);
    case TG_API_RESPONSES:
        *doc = len ? tg_json_parse_provider(data, len) : NULL;
        return responses_event(event, *doc, f, error_json);
    case TG_API_CHAT:
    case TG_API_COMPLETIONS:
    case TG_API_EMBEDDINGS:
    case TG_API__COUNT: break;
    }
    return chat_event(event, data ? data : "", len, doc, f, error_json);
}

/* The format layer's reader of upstream answers (see read.h): one place that
 * knows how chat, Messages and Responses say "error", "usage", "finished"
 * and "content", whole and event by event. */
#include "formats/read.h"

#include <stdio.h>
#include <string.h>

#include "formats/chat_from_messages.h"
#include "util/json.h"
#include "util/json_scan.h"

/* ==== views ==== */

/* The elements of v when it is an array: a wrong type (an object too)
 * iterates as an empty one. */
static void iter_array(struct tg_jv_iter *it, struct tg_jv v)
{
    tg_jv_iter_init(it, tg_jv_is(v, TG_JV_ARRAY) ? v : TG_JV_ABSENT);
}

static bool is_type(struct tg_jv obj, const char *type)
{
    return tg_jv_str_eq(tg_jv_get(obj, "type"), type);
}

/* A count as tg_fmt_count reads one: clamped, 0 when not a positive number. */
static int64_t count(struct tg_jv v)
{
    double d;
    if (!tg_jv_num(v, &d) || !(d > 0))
        return 0;
    return d > TG_FMT_COUNT_MAX ? (int64_t)TG_FMT_COUNT_MAX : (int64_t)d;
}

/* A strict provider text: one JSON value, no key named twice. */
/* Top-level members picked up by the check's own pass over the text, so
 * the root is not walked again: keys[i]'s value in out[i] (absent when not
 * there). No key is named twice in a provider's checked text. */
struct members {
    const char *const *keys;
    size_t n;
    struct tg_jv *out;
};

static void on_member(void *ctx, const char *text, const struct tg_json_member *m)
{
    struct members *ms = ctx;
    /* A key without escapes (all of them, in practice) is its own bytes. */
    const char *kp = text + m->key_start + 1;
    size_t kn = m->key_end - m->key_start - 2;
    bool plain = memchr(kp, '\\', kn) == NULL;
    for (size_t i = 0; i < ms->n; i++) {
        if (plain ? strncmp(kp, ms->keys[i], kn) == 0 && ms->keys[i][kn] == '\0'
                  : tg_jv_str_eq(tg_jv_span(kp - 1, kn + 2), ms->keys[i])) {
            ms->out[i] = tg_jv_span(text + m->value_start, m->value_end - m->value_start);
            return;
        }
    }
}

static bool checked_members(const char *p, size_t len, const char *const *keys, size_t n,
                            struct tg_jv *out)
{
    struct members ms = {keys, n, out};
    for (size_t i = 0; i < n; i++)
        out[i] = TG_JV_ABSENT;
    struct tg_json_check_opts strict = {TG_JSON_NO_DUP_KEYS, n ? on_member : NULL, &ms};
    return len > 0 && tg_json_check(p, len, &strict, NULL);
}

/* A strict provider text: one JSON value, no key named twice. */
static bool checked(const char *p, size_t len)
{
    return checked_members(p, len, NULL, 0, NULL);
}

static void set_finish(char *finish, const char *s)
{
    snprintf(finish, TG_READ_FINISH_MAX, "%s", s);
}

/* Anthropic's stop_reason in chat's words. */
static void set_stop_reason(char *finish, struct tg_jv stop)
{
    char reason[32];
    tg_jv_str_copy(stop, reason, sizeof(reason));
    set_finish(finish, tg_fmt_chat_finish_reason(reason));
}

/* ==== usage ==== */

void tg_read_usage(struct tg_jv usage, struct tg_usage_facts *u)
{
    if (!tg_jv_is(usage, TG_JV_OBJECT))
        return;
    static const char *const keys[] = {"prompt_tokens",           "input_tokens",
                                       "prompt_tokens_details",   "input_tokens_details",
                                       "cache_read_input_tokens", "cache_creation_input_tokens",
                                       "completion_tokens",       "output_tokens"};
    struct tg_jv k[8];
    tg_jv_pick(usage, keys, 8, k);
    struct tg_jv prompt = k[0], input = k[1];
    if (tg_jv_is(prompt, TG_JV_NUMBER)) {
        u->set = true;
        u->input_tokens = count(prompt);
        struct tg_jv c = tg_jv_get(k[2], "cached_tokens");
        if (tg_jv_is(c, TG_JV_NUMBER))
            u->cached_tokens = count(c);
    } else if (tg_jv_is(input, TG_JV_NUMBER)) {
        u->set = true;
        struct tg_jv read = k[4];
        struct tg_jv wrote = k[5];
        if (tg_jv_is(read, TG_JV_NUMBER) || tg_jv_is(wrote, TG_JV_NUMBER)) {
            /* Anthropic: input_tokens leaves out cache reads and writes,
             * both of which are prompt tokens. Each term is clamped, so the
             * sum stays far from overflow. */
            u->input_tokens = count(input) + count(read) + count(wrote);
            u->cached_tokens = count(read);
        } else {
            u->input_tokens = count(input);
            struct tg_jv c = tg_jv_get(k[3], "cached_tokens");
            if (tg_jv_is(c, TG_JV_NUMBER))
                u->cached_tokens = count(c);
        }
    }
    struct tg_jv out = k[6];
    if (!tg_jv_is(out, TG_JV_NUMBER))
        out = k[7];
    if (tg_jv_is(out, TG_JV_NUMBER)) {
        u->set = true;
        u->output_tokens = count(out);
    }
    /* Cached tokens are a part of the prompt: more than all of it would
     * price the prompt below zero. */
    if (u->cached_tokens > u->input_tokens)
        u->cached_tokens = u->input_tokens;
}

/* ==== whole answers ==== */

/* Appending even "" allocates: text.data != NULL says the answer had text. */
static void add_text(struct tg_answer_facts *f, struct tg_jv s)
{
    tg_jv_str_append(s, &f->text);
}

static void add_call(struct tg_answer_facts *f, struct tg_jv name, struct tg_jv input,
                     struct tg_jv arguments)
{
    f->has_calls = true;
    if (f->n_calls >= TG_READ_MAX_CALLS)
        return;
    f->calls[f->n_calls++] = (struct tg_read_call){
        tg_jv_is(name, TG_JV_STRING) ? name : TG_JV_ABSENT, input,
        tg_jv_is(arguments, TG_JV_STRING) ? arguments : TG_JV_ABSENT};
}

static void read_chat(enum tg_api api, struct tg_jv choices, struct tg_answer_facts *f)
{
    /* Each object walked once: the answer's bytes are most of its cost. */
    static const char *const choice_keys[] = {"finish_reason", "text", "message"};
    static const char *const message_keys[] = {"content", "refusal", "tool_calls",
                                               "function_call"};
    struct tg_jv c[3], m[4];
    tg_jv_pick(tg_jv_at(choices, 0), choice_keys, 3, c);
    tg_jv_str_copy(c[0], f->finish, sizeof(f->finish));
    if (api == TG_API_COMPLETIONS) {
        add_text(f, c[1]);
        return;
    }
    tg_jv_pick(c[2], message_keys, 4, m);
    add_text(f, m[0]);
    f->refusal = tg_jv_str_nonempty(m[1]);
    struct tg_jv_iter it;
    struct tg_jv call;
    iter_array(&it, m[2]);
    while (tg_jv_next(&it, NULL, &call)) {
        struct tg_jv fn = tg_jv_get(call, "function");
        add_call(f, tg_jv_get(fn, "name"), TG_JV_ABSENT, tg_jv_get(fn, "arguments"));
    }
    if (tg_jv_is(m[3], TG_JV_OBJECT))
        add_call(f, tg_jv_get(m[3], "name"), TG_JV_ABSENT, tg_jv_get(m[3], "arguments"));
}

static int read_message(struct tg_jv root, struct tg_answer_facts *f)
{
    if (!f->error && !is_type(root, "message"))
        return -1;
    struct tg_jv_iter it;
    struct tg_jv block;
    iter_array(&it, tg_jv_get(root, "content"));
    while (tg_jv_next(&it, NULL, &block)) {
        struct tg_jv type = tg_jv_get(block, "type");
        if (tg_jv_str_eq(type, "text"))
            add_text(f, tg_jv_get(block, "text"));
        else if (tg_jv_str_eq(type, "tool_use"))
            add_call(f, tg_jv_get(block, "name"), tg_jv_get(block, "input"), TG_JV_ABSENT);
        /* thinking, redacted_thinking, server tools: not what is validated */
    }
    struct tg_jv stop = tg_jv_get(root, "stop_reason");
    if (tg_jv_is(stop, TG_JV_STRING))
        set_stop_reason(f->finish, stop);
    return 0;
}

/* A response that completed: its calls are what it ended on, if any. */
static const char *completed_finish(struct tg_jv response)
{
    struct tg_jv_iter it;
    struct tg_jv item;
    iter_array(&it, tg_jv_get(response, "output"));
    while (tg_jv_next(&it, NULL, &item))
        if (is_type(item, "function_call"))
            return "tool_calls";
    return "stop";
}

static const char *incomplete_finish(struct tg_jv response)
{
    struct tg_jv reason = tg_jv_get(tg_jv_get(response, "incomplete_details"), "reason");
    /* max_output_tokens, and whatever else cut it short */
    return tg_jv_str_eq(reason, "content_filter") ? "content_filter" : "length";
}

/* How a response that ended says it ended, in chat's words. */
static const char *response_finish(struct tg_jv response)
{
    if (tg_jv_str_eq(tg_jv_get(response, "status"), "incomplete"))
        return incomplete_finish(response);
    return completed_finish(response);
}

static int read_response(struct tg_jv root, struct tg_answer_facts *f)
{
    struct tg_jv status = tg_jv_get(root, "status");
    if (tg_jv_str_eq(status, "failed") || tg_jv_str_eq(status, "cancelled"))
        f->error = true;
    if (!f->error && !tg_jv_str_eq(tg_jv_get(root, "object"), "response"))
        return -1;
    struct tg_jv_iter it, parts;
    struct tg_jv item, part;
    iter_array(&it, tg_jv_get(root, "output"));
    while (tg_jv_next(&it, NULL, &item)) {
        struct tg_jv type = tg_jv_get(item, "type");
        if (tg_jv_str_eq(type, "message")) {
            iter_array(&parts, tg_jv_get(item, "content"));
            while (tg_jv_next(&parts, NULL, &part)) {
                if (is_type(part, "output_text"))
                    add_text(f, tg_jv_get(part, "text"));
                else if (is_type(part, "refusal"))
                    f->refusal |= tg_jv_str_nonempty(tg_jv_get(part, "refusal"));
            }
        } else if (tg_jv_str_eq(type, "function_call")) {
            add_call(f, tg_jv_get(item, "name"), TG_JV_ABSENT, tg_jv_get(item, "arguments"));
        }
    }
    if (!f->error)
        set_finish(f->finish, response_finish(root));
    return 0;
}

int tg_read_answer(enum tg_api api, const char *body, size_t len, struct tg_answer_facts *f)
{
    memset(f, 0, sizeof(*f));
    /* OpenAI's and Anthropic's error bodies both hold an "error" member;
     * a Responses answer holds "error": null. */
    static const char *const keys[] = {"error", "usage", "choices"};
    struct tg_jv k[3];
    if (!checked_members(body, len, keys, 3, k))
        return -1;
    struct tg_jv root = tg_jv_root(body, len);
    if (!tg_jv_is(root, TG_JV_OBJECT))
        return -1;
    f->error = k[0].type != TG_JV_NONE && k[0].type != TG_JV_NULL;
    tg_read_usage(k[1], &f->usage);
    switch (api) {
    case TG_API_CHAT:
    case TG_API_COMPLETIONS: read_chat(api, k[2], f); return 0;
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

/* The error paths build their OpenAI error object from a tree: they are
 * rare, and the object is new JSON. Returns TG_FMT_ERROR, or TG_FMT_BAD
 * when the data is not JSON. */
typedef char *(*error_builder)(const cJSON *doc);

static enum tg_fmt_result fail_with(const char *data, size_t len, error_builder build,
                                    char **error_json)
{
    cJSON *doc = len ? tg_json_parse_provider(data, len) : NULL;
    if (len && !doc)
        return TG_FMT_BAD; /* nothing to tell the client: a broken stream */
    set_error(error_json, build(doc));
    cJSON_Delete(doc);
    return TG_FMT_ERROR;
}

/* Chat's in-band error: the provider's own error object as it is, or one
 * built around whatever else it put there. */
static char *chat_error(const cJSON *doc)
{
    const cJSON *err = tg_fmt_get(doc, "error");
    if (!err)
        err = doc; /* an `error` event whose data is the error itself */
    if (cJSON_IsObject(err))
        return cJSON_PrintUnformatted(err);
    return error_object(cJSON_IsString(err) ? err->valuestring : NULL, NULL, NULL);
}

static enum tg_fmt_result chat_event(const char *event, const char *data, size_t len,
                                     struct tg_event_facts *f, char **error_json)
{
    if (event && strcmp(event, "error") == 0)
        return len ? fail_with(data, len, chat_error, error_json) : TG_FMT_BAD;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return TG_FMT_DONE;
    static const char *const keys[] = {"error", "usage", "choices"};
    static const char *const choice_keys[] = {"delta", "finish_reason", "text"};
    static const char *const delta_keys[] = {"content", "tool_calls", "refusal"};
    struct tg_jv root[3];
    if (!checked_members(data, len, keys, 3, root))
        return TG_FMT_BAD;
    if (root[0].type != TG_JV_NONE && root[0].type != TG_JV_NULL)
        return fail_with(data, len, chat_error, error_json);
    struct tg_jv usage = root[1], choices = root[2];
    if (tg_jv_is(usage, TG_JV_OBJECT)) {
        f->usage = usage;
        f->usage_only = tg_jv_is(choices, TG_JV_ARRAY) && tg_jv_is_empty(choices);
    }
    struct tg_jv_iter it;
    struct tg_jv choice;
    iter_array(&it, choices);
    for (bool first = true; tg_jv_next(&it, NULL, &choice); first = false) {
        struct tg_jv c[3], d[3];
        tg_jv_pick(choice, choice_keys, 3, c);
        tg_jv_pick(c[0], delta_keys, 3, d);
        struct tg_jv finish = c[1], text = c[2];
        struct tg_jv content = d[0], calls = d[1], refusal = d[2];
        if (tg_jv_str_nonempty(content) ||
            (tg_jv_is(calls, TG_JV_ARRAY) && !tg_jv_is_empty(calls)) || tg_jv_str_nonempty(text))
            f->content = true;
        f->refusal |= tg_jv_str_nonempty(refusal);
        if (tg_jv_is(finish, TG_JV_STRING))
            tg_jv_str_copy(finish, f->finish, sizeof(f->finish));
        /* Refusal phrases are looked for in the first choice's text. */
        if (first && tg_jv_is(content, TG_JV_STRING))
            f->text = content;
    }
    return TG_FMT_CONTINUE;
}

/* The data's own "type" names the event when no event: line did: the name
 * is copied out (cut: no event name is near this long). */
static void event_name(const char *event, struct tg_jv doc, char *name, size_t cap)
{
    if (event && *event)
        snprintf(name, cap, "%s", event);
    else
        tg_jv_str_copy(tg_jv_get(doc, "type"), name, cap);
}

/* Anthropic's `error` event: the upstream said it failed; unreadable
 * details only leave the message generic. */
static char *messages_error(const cJSON *doc)
{
    const cJSON *err = tg_fmt_get(doc, "error");
    const char *type = tg_json_get_str(err, "type");
    if (!type)
        type = "api_error";
    return error_object(tg_json_get_str(err, "message"), type, type);
}

static enum tg_fmt_result messages_event(const char *event, const char *data, size_t len,
                                         struct tg_event_facts *f, char **error_json)
{
    bool json = checked(data, len);
    struct tg_jv doc = json ? tg_jv_root(data, len) : TG_JV_ABSENT;
    char name[64];
    event_name(event, doc, name, sizeof(name));
    if (strcmp(name, "error") == 0) {
        if (!json)
            data = NULL, len = 0; /* generic details */
        return fail_with(data, len, messages_error, error_json);
    }
    if (strcmp(name, "message_stop") == 0)
        return TG_FMT_DONE; /* needs nothing from its data */
    if (!json)
        return TG_FMT_BAD;
    if (!name[0])
        return TG_FMT_CONTINUE; /* JSON that names no event: nothing to read */
    if (strcmp(name, "message_start") == 0) {
        struct tg_jv message = tg_jv_get(doc, "message");
        if (!tg_jv_is(message, TG_JV_OBJECT))
            return TG_FMT_BAD;
        f->usage = tg_jv_get(message, "usage");
    } else if (strcmp(name, "content_block_start") == 0) {
        if (!tg_jv_is(tg_jv_get(doc, "content_block"), TG_JV_OBJECT))
            return TG_FMT_BAD;
    } else if (strcmp(name, "content_block_delta") == 0) {
        struct tg_jv delta = tg_jv_get(doc, "delta");
        if (!tg_jv_is(delta, TG_JV_OBJECT))
            return TG_FMT_BAD;
        struct tg_jv type = tg_jv_get(delta, "type");
        if (tg_jv_str_eq(type, "text_delta")) {
            f->text = tg_jv_get(delta, "text");
            if (!tg_jv_is(f->text, TG_JV_STRING))
                return TG_FMT_BAD;
        } else if (tg_jv_str_eq(type, "input_json_delta") &&
                   !tg_jv_is(tg_jv_get(delta, "partial_json"), TG_JV_STRING)) {
            return TG_FMT_BAD;
        }
        /* thinking, signatures and citations stream as content too */
        f->content = true;
    } else if (strcmp(name, "message_delta") == 0) {
        if (!tg_jv_is(doc, TG_JV_OBJECT))
            return TG_FMT_BAD;
        struct tg_jv stop = tg_jv_get(tg_jv_get(doc, "delta"), "stop_reason");
        if (tg_jv_is(stop, TG_JV_STRING))
            set_stop_reason(f->finish, stop);
        f->usage = tg_jv_get(doc, "usage");
    }
    /* ping, content_block_stop and events yet to be invented: nothing. */
    if (!tg_jv_is(f->usage, TG_JV_OBJECT))
        f->usage = TG_JV_ABSENT;
    return TG_FMT_CONTINUE;
}

/* The `error` event: {"type":"error","code","message","param"}, or (as
 * some servers write it) the error object under "error". */
static char *responses_error(const cJSON *doc)
{
    const cJSON *inner = tg_fmt_get(doc, "error");
    const cJSON *err = cJSON_IsObject(inner) ? inner : doc;
    const char *type = tg_json_get_str(err, "type");
    if (err == doc || tg_fmt_str_eq(type, "error"))
        type = NULL; /* the event's own type, not the error's */
    return error_object(tg_json_get_str(err, "message"), type, tg_json_get_str(err, "code"));
}

static char *responses_failed(const cJSON *doc)
{
    const cJSON *err = tg_fmt_get(tg_fmt_get(doc, "response"), "error");
    return error_object(tg_json_get_str(err, "message"), "server_error",
                        tg_json_get_str(err, "code"));
}

static enum tg_fmt_result responses_event(const char *event, const char *data, size_t len,
                                          struct tg_event_facts *f, char **error_json)
{
    bool json = checked(data, len);
    struct tg_jv doc = json ? tg_jv_root(data, len) : TG_JV_ABSENT;
    char name[64];
    event_name(event, doc, name, sizeof(name));
    if (!json)
        data = NULL, len = 0; /* an error with generic details, if an error */
    if (strcmp(name, "error") == 0)
        return fail_with(data, len, responses_error, error_json);
    if (strcmp(name, "response.failed") == 0)
        return fail_with(data, len, responses_failed, error_json);
    if (!json)
        return TG_FMT_BAD;
    if (!name[0])
        return TG_FMT_CONTINUE;
    bool text = strcmp(name, "response.output_text.delta") == 0;
    bool refusal = strcmp(name, "response.refusal.delta") == 0;
    if (text || refusal || strcmp(name, "response.function_call_arguments.delta") == 0) {
        struct tg_jv delta = tg_jv_get(doc, "delta");
        if (!tg_jv_is(delta, TG_JV_STRING))
            return TG_FMT_BAD;
        f->content = true;
        f->text = text ? delta : TG_JV_ABSENT;
        f->refusal = refusal;
        return TG_FMT_CONTINUE;
    }
    bool incomplete = strcmp(name, "response.incomplete") == 0;
    if (incomplete || strcmp(name, "response.completed") == 0) {
        struct tg_jv response = tg_jv_get(doc, "response");
        if (!tg_jv_is(response, TG_JV_OBJECT))
            return TG_FMT_BAD;
        /* The event names the ending, whatever the object's status says. */
        set_finish(f->finish,
                   incomplete ? incomplete_finish(response) : completed_finish(response));
        struct tg_jv usage = tg_jv_get(response, "usage");
        f->usage = tg_jv_is(usage, TG_JV_OBJECT) ? usage : TG_JV_ABSENT;
        return TG_FMT_DONE;
    }
    /* response.created, .in_progress, output items, content parts, the
     * .done events and reasoning summaries: no content, no ending. */
    return TG_FMT_CONTINUE;
}

enum tg_fmt_result tg_read_event(enum tg_api api, const char *event, const char *data, size_t len,
                                 struct tg_event_facts *f, char **error_json)
{
    memset(f, 0, sizeof(*f));
    if (error_json)
        *error_json = NULL;
    if (!data) {
        data = "";
        len = 0;
    }
    switch (api) {
    case TG_API_MESSAGES: return messages_event(event, data, len, f, error_json);
    case TG_API_RESPONSES: return responses_event(event, data, len, f, error_json);
    case TG_API_CHAT:
    case TG_API_COMPLETIONS:
    case TG_API_EMBEDDINGS:
    case TG_API__COUNT: break;
    }
    return chat_event(event, data, len, f, error_json);
}

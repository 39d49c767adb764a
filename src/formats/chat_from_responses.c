/* Responses -> chat (see chat_from_responses.h). Every input comes from a
 * client or an upstream, so each member is read with its type checked: a
 * wrong type is ignored, or makes the request ineligible, and never reaches
 * a NULL dereference. */
#include "formats/chat_from_responses.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

/* Token counts are clamped to this, so that casting a hostile double to an
 * integer is always defined. */
#define COUNT_MAX 1e15

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const cJSON *array_or_null(const cJSON *v)
{
    return cJSON_IsArray(v) ? v : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Present and not JSON null. */
static bool given(const cJSON *v)
{
    return v && !cJSON_IsNull(v);
}

static void set_why(char *why, size_t why_len, const char *what, const char *arg)
{
    if (!why || why_len == 0)
        return;
    if (arg)
        snprintf(why, why_len, "%s %s", what, arg);
    else
        snprintf(why, why_len, "%s", what);
}

static void copy_member(cJSON *to, const char *to_key, const cJSON *from, const char *from_key)
{
    const cJSON *v = get(from, from_key);
    if (given(v))
        cJSON_AddItemToObject(to, to_key, cJSON_Duplicate(v, true));
}

/* ==== requests ==== */

/* What the request needs from the Responses provider's own state or
 * features; NULL when a chat provider can serve it. */
static const char *stateful(const cJSON *req)
{
    if (given(get(req, "previous_response_id")))
        return "previous_response_id";
    if (cJSON_IsTrue(get(req, "background")))
        return "background";
    if (given(get(req, "conversation")))
        return "conversation";
    if (given(get(req, "prompt"))) /* a template stored with the provider */
        return "prompt";
    if (given(get(req, "context_management")))
        return "context_management";
    /* "auto" lets the provider drop early input to fit its window; a chat
     * provider fails instead, which the client did not ask for. */
    if (str_eq(tg_json_get_str(req, "truncation"), "auto"))
        return "truncation";
    const cJSON *top = get(req, "top_logprobs");
    if (cJSON_IsNumber(top) && top->valuedouble > 0)
        return "top_logprobs";
    const cJSON *inc;
    cJSON_ArrayForEach(inc, array_or_null(get(req, "include")))
    {
        if (cJSON_IsString(inc) && strcmp(inc->valuestring, "message.output_text.logprobs") == 0)
            return "top_logprobs";
    }
    return NULL;
}

/* One input content part as a chat content part (added to parts). */
static int add_part(cJSON *parts, const cJSON *part, bool tool_output, char *why, size_t why_len)
{
    const char *type = tg_json_get_str(part, "type");
    if (!type)
        return 0; /* malformed: nothing to send */
    if (strcmp(type, "input_text") == 0 || strcmp(type, "output_text") == 0 ||
        strcmp(type, "text") == 0) {
        const char *text = tg_json_get_str(part, "text");
        if (!text)
            return 0;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "text");
        cJSON_AddStringToObject(p, "text", text);
        cJSON_AddItemToArray(parts, p);
        return 0;
    }
    if (tool_output) {
        /* A chat tool message carries text only. */
        set_why(why, why_len, "function_call_output", type);
        return -1;
    }
    if (strcmp(type, "input_image") == 0) {
        const char *url = tg_json_get_str(part, "image_url");
        if (!url) {
            set_why(why, why_len, "input_image", "file_id");
            return -1;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
        cJSON_AddStringToObject(iu, "url", url);
        const char *detail = tg_json_get_str(part, "detail");
        /* "original" is Responses-only; chat's nearest is "high". */
        if (str_eq(detail, "original"))
            detail = "high";
        if (detail)
            cJSON_AddStringToObject(iu, "detail", detail);
        cJSON_AddItemToArray(parts, p);
        return 0;
    }
    if (strcmp(type, "input_file") == 0) {
        if (given(get(part, "file_url"))) {
            set_why(why, why_len, "input_file", "file_url");
            return -1;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "file");
        cJSON *f = cJSON_AddObjectToObject(p, "file");
        copy_member(f, "file_data", part, "file_data");
        copy_member(f, "file_id", part, "file_id");
        copy_member(f, "filename", part, "filename");
        cJSON_AddItemToArray(parts, p);
        return 0;
    }
    if (strcmp(type, "input_audio") == 0) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "input_audio");
        copy_member(p, "input_audio", part, "input_audio");
        cJSON_AddItemToArray(parts, p);
        return 0;
    }
    set_why(why, why_len, "content", type);
    return -1;
}

/* A content (string or parts) as chat content: a string stays a string,
 * parts become chat parts. */
static int chat_content(const cJSON *content, bool tool_output, cJSON **out, char *why,
                        size_t why_len)
{
    *out = NULL;
    if (cJSON_IsString(content)) {
        *out = cJSON_CreateString(content->valuestring);
        return 0;
    }
    cJSON *parts = cJSON_CreateArray();
    const cJSON *part;
    cJSON_ArrayForEach(part, array_or_null(content))
    {
        if (add_part(parts, part, tool_output, why, why_len) < 0) {
            cJSON_Delete(parts);
            return -1;
        }
    }
    *out = parts;
    return 0;
}

/* An assistant message of an earlier turn: its output_text parts joined as
 * the content string, its refusal parts as `refusal`. */
static cJSON *assistant_message(const cJSON *content)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "assistant");
    if (cJSON_IsString(content)) {
        cJSON_AddStringToObject(msg, "content", content->valuestring);
        return msg;
    }
    struct tg_buf text = TG_BUF_INIT, refusal = TG_BUF_INIT;
    bool has_text = false;
    const cJSON *part;
    cJSON_ArrayForEach(part, array_or_null(content))
    {
        const char *type = tg_json_get_str(part, "type");
        const char *t = tg_json_get_str(part, "text");
        const char *r = tg_json_get_str(part, "refusal");
        if (t &&
            (str_eq(type, "output_text") || str_eq(type, "input_text") || str_eq(type, "text"))) {
            tg_buf_puts(&text, t);
            has_text = true;
        } else if (r && str_eq(type, "refusal")) {
            tg_buf_puts(&refusal, r);
        }
    }
    if (has_text)
        cJSON_AddStringToObject(msg, "content", text.data);
    else
        cJSON_AddNullToObject(msg, "content");
    if (refusal.len)
        cJSON_AddStringToObject(msg, "refusal", refusal.data);
    tg_buf_free(&text);
    tg_buf_free(&refusal);
    return msg;
}

/* The last chat message when it is an assistant turn that tool calls can
 * join (Responses lists a turn's text and its calls as separate items). */
static cJSON *open_assistant(cJSON *msgs)
{
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    return str_eq(tg_json_get_str(last, "role"), "assistant") ? last : NULL;
}

static void add_function_call(cJSON *msgs, const cJSON *item)
{
    cJSON *msg = open_assistant(msgs);
    if (!msg) {
        msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddNullToObject(msg, "content");
        cJSON_AddItemToArray(msgs, msg);
    }
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (!calls)
        calls = cJSON_AddArrayToObject(msg, "tool_calls");
    const char *call_id = tg_json_get_str(item, "call_id");
    const char *name = tg_json_get_str(item, "name");
    const cJSON *args = get(item, "arguments");
    cJSON *call = cJSON_CreateObject();
    cJSON_AddStringToObject(call, "id", call_id ? call_id : "");
    cJSON_AddStringToObject(call, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(call, "function");
    cJSON_AddStringToObject(fn, "name", name ? name : "");
    if (cJSON_IsString(args)) {
        cJSON_AddStringToObject(fn, "arguments", args->valuestring);
    } else if (cJSON_IsObject(args)) {
        char *text = cJSON_PrintUnformatted(args); /* lenient clients send the object */
        cJSON_AddStringToObject(fn, "arguments", text ? text : "{}");
        free(text);
    } else {
        cJSON_AddStringToObject(fn, "arguments", "{}");
    }
    cJSON_AddItemToArray(calls, call);
}

static int add_function_output(cJSON *msgs, const cJSON *item, char *why, size_t why_len)
{
    const char *call_id = tg_json_get_str(item, "call_id");
    cJSON *content;
    if (chat_content(get(item, "output"), true, &content, why, why_len) < 0)
        return -1;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "tool");
    cJSON_AddStringToObject(msg, "tool_call_id", call_id ? call_id : "");
    if (cJSON_IsArray(content) && !content->child) {
        cJSON_Delete(content);
        content = cJSON_CreateString("");
    }
    cJSON_AddItemToObject(msg, "content", content);
    cJSON_AddItemToArray(msgs, msg);
    return 0;
}

static int add_message(cJSON *msgs, const cJSON *item, char *why, size_t why_len)
{
    const char *role = tg_json_get_str(item, "role");
    const cJSON *content = get(item, "content");
    if (str_eq(role, "assistant")) {
        cJSON_AddItemToArray(msgs, assistant_message(content));
        return 0;
    }
    if (!str_eq(role, "user") && !str_eq(role, "system") && !str_eq(role, "developer")) {
        set_why(why, why_len, "role", role ? role : "(none)");
        return -1;
    }
    cJSON *c;
    if (chat_content(content, false, &c, why, why_len) < 0)
        return -1;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", role);
    cJSON_AddItemToObject(msg, "content", c);
    cJSON_AddItemToArray(msgs, msg);
    return 0;
}

static int add_input(cJSON *msgs, const cJSON *input, char *why, size_t why_len)
{
    if (cJSON_IsString(input)) {
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", "user");
        cJSON_AddStringToObject(msg, "content", input->valuestring);
        cJSON_AddItemToArray(msgs, msg);
        return 0;
    }
    if (!cJSON_IsArray(input)) {
        set_why(why, why_len, "no input", NULL);
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, input)
    {
        if (!cJSON_IsObject(item)) {
            set_why(why, why_len, "bad input item", NULL);
            return -1;
        }
        const char *type = tg_json_get_str(item, "type");
        int rc = 0;
        if (!type || strcmp(type, "message") == 0) {
            rc = add_message(msgs, item, why, why_len);
        } else if (strcmp(type, "function_call") == 0) {
            add_function_call(msgs, item);
        } else if (strcmp(type, "function_call_output") == 0) {
            rc = add_function_output(msgs, item, why, why_len);
        } else if (strcmp(type, "reasoning") == 0) {
            /* An earlier turn's reasoning: the Responses provider's own
             * (often encrypted) state, which a chat model is never given. */
        } else {
            /* item_reference (a stored item), built-in tool calls and their
             * outputs: nothing a chat provider could be sent. */
            set_why(why, why_len, strcmp(type, "item_reference") == 0 ? "item_reference" : "input",
                    strcmp(type, "item_reference") == 0 ? NULL : type);
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Responses' flat function tools as chat's {type, function:{...}}. */
static int add_tools(cJSON *root, const cJSON *req, char *why, size_t why_len)
{
    const cJSON *list = get(req, "tools");
    if (!cJSON_IsArray(list) || !list->child)
        return 0;
    cJSON *tools = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, list)
    {
        const char *type = tg_json_get_str(t, "type");
        const char *name = tg_json_get_str(t, "name");
        if (!str_eq(type, "function") || !name) {
            set_why(why, why_len, "tool", type ? type : "(none)");
            cJSON_Delete(tools);
            return -1;
        }
        cJSON *tool = cJSON_CreateObject();
        cJSON_AddStringToObject(tool, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(tool, "function");
        cJSON_AddStringToObject(fn, "name", name);
        copy_member(fn, "description", t, "description");
        copy_member(fn, "parameters", t, "parameters");
        copy_member(fn, "strict", t, "strict");
        cJSON_AddItemToArray(tools, tool);
    }
    cJSON_AddItemToObject(root, "tools", tools);
    return 0;
}

static cJSON *function_ref(const char *name)
{
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(ref, "function");
    cJSON_AddStringToObject(fn, "name", name);
    return ref;
}

/* tool_choice: the same words, a function named the chat way, and an
 * allowed_tools list of functions; a built-in tool cannot be chosen. */
static int add_tool_choice(cJSON *root, const cJSON *req, char *why, size_t why_len)
{
    const cJSON *tc = get(req, "tool_choice");
    if (!given(tc))
        return 0;
    if (cJSON_IsString(tc)) {
        cJSON_AddStringToObject(root, "tool_choice", tc->valuestring);
        return 0;
    }
    const char *type = tg_json_get_str(tc, "type");
    if (str_eq(type, "function") && tg_json_get_str(tc, "name")) {
        cJSON_AddItemToObject(root, "tool_choice", function_ref(tg_json_get_str(tc, "name")));
        return 0;
    }
    if (str_eq(type, "allowed_tools")) {
        cJSON *choice = cJSON_CreateObject();
        cJSON_AddStringToObject(choice, "type", "allowed_tools");
        cJSON *allowed = cJSON_AddObjectToObject(choice, "allowed_tools");
        const char *mode = tg_json_get_str(tc, "mode");
        cJSON_AddStringToObject(allowed, "mode", mode ? mode : "auto");
        cJSON *list = cJSON_AddArrayToObject(allowed, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, array_or_null(get(tc, "tools")))
        {
            const char *name = tg_json_get_str(t, "name");
            if (!str_eq(tg_json_get_str(t, "type"), "function") || !name) {
                cJSON_Delete(choice);
                set_why(why, why_len, "tool_choice", "allowed_tools");
                return -1;
            }
            cJSON_AddItemToArray(list, function_ref(name));
        }
        cJSON_AddItemToObject(root, "tool_choice", choice);
        return 0;
    }
    set_why(why, why_len, "tool_choice", type ? type : "(none)");
    return -1;
}

/* text.format as response_format; text.verbosity as verbosity. */
static void add_text_format(cJSON *root, const cJSON *req)
{
    const cJSON *text = get(req, "text");
    copy_member(root, "verbosity", text, "verbosity");
    const cJSON *format = get(text, "format");
    const char *type = tg_json_get_str(format, "type");
    if (str_eq(type, "json_object") || str_eq(type, "text")) {
        cJSON *rf = cJSON_AddObjectToObject(root, "response_format");
        cJSON_AddStringToObject(rf, "type", type);
    } else if (str_eq(type, "json_schema")) {
        cJSON *rf = cJSON_AddObjectToObject(root, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        const char *name = tg_json_get_str(format, "name");
        cJSON_AddStringToObject(js, "name", name ? name : "response");
        copy_member(js, "description", format, "description");
        copy_member(js, "schema", format, "schema");
        copy_member(js, "strict", format, "strict");
    }
}

int tg_chat_from_responses_request(const cJSON *req, const char *model, struct tg_buf *out,
                                   char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!cJSON_IsObject(req)) {
        set_why(why, why_len, "no input", NULL);
        return -1;
    }
    const char *no = stateful(req);
    if (no) {
        set_why(why, why_len, no, NULL);
        return -1;
    }
    cJSON *root = cJSON_CreateObject();
    if (!model)
        model = tg_json_get_str(req, "model");
    cJSON_AddStringToObject(root, "model", model ? model : "");
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    const char *instructions = tg_json_get_str(req, "instructions");
    if (instructions) {
        cJSON *sys = cJSON_CreateObject();
        cJSON_AddStringToObject(sys, "role", "system");
        cJSON_AddStringToObject(sys, "content", instructions);
        cJSON_AddItemToArray(msgs, sys);
    }
    if (add_input(msgs, get(req, "input"), why, why_len) < 0 ||
        add_tools(root, req, why, why_len) < 0) {
        cJSON_Delete(root);
        return -1;
    }
    /* Chat refuses tool_choice and parallel_tool_calls without tools. */
    if (cJSON_HasObjectItem(root, "tools")) {
        if (add_tool_choice(root, req, why, why_len) < 0) {
            cJSON_Delete(root);
            return -1;
        }
        const cJSON *ptc = get(req, "parallel_tool_calls");
        if (cJSON_IsBool(ptc))
            cJSON_AddBoolToObject(root, "parallel_tool_calls", cJSON_IsTrue(ptc));
    }
    add_text_format(root, req);
    copy_member(root, "reasoning_effort", get(req, "reasoning"), "effort");
    const cJSON *max = get(req, "max_output_tokens");
    if (cJSON_IsNumber(max))
        cJSON_AddNumberToObject(root, "max_completion_tokens", max->valuedouble);
    static const char *const same[] = {"temperature",
                                       "top_p",
                                       "metadata",
                                       "user",
                                       "safety_identifier",
                                       "prompt_cache_key",
                                       "prompt_cache_retention",
                                       "service_tier"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
        copy_member(root, same[i], req, same[i]);
    const cJSON *stream = get(req, "stream");
    if (cJSON_IsBool(stream)) {
        cJSON_AddBoolToObject(root, "stream", cJSON_IsTrue(stream));
        if (cJSON_IsTrue(stream)) {
            cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
            cJSON_AddTrueToObject(so, "include_usage");
        }
    }
    tg_buf_json_item(out, root);
    cJSON_Delete(root);
    return 0;
}

/* ==== whole answers ==== */

static int64_t count_of(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return 0;
    if (v->valuedouble > COUNT_MAX)
        return (int64_t)COUNT_MAX;
    return (int64_t)v->valuedouble;
}

static void put_str(struct tg_buf *b, const char *s)
{
    tg_buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

/* The parts of a response's output, gathered for one chat message. */
struct gathered {
    struct tg_buf text, refusal, reasoning;
    bool has_text;
    int n_calls;
};

static void gather(const cJSON *output, struct gathered *g)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, output)
    {
        const char *type = tg_json_get_str(item, "type");
        if (str_eq(type, "message")) {
            const cJSON *part;
            cJSON_ArrayForEach(part, array_or_null(get(item, "content")))
            {
                const char *pt = tg_json_get_str(part, "type");
                const char *t = tg_json_get_str(part, "text");
                const char *r = tg_json_get_str(part, "refusal");
                if (str_eq(pt, "output_text") && t) {
                    tg_buf_puts(&g->text, t);
                    g->has_text = true;
                } else if (str_eq(pt, "refusal") && r) {
                    tg_buf_puts(&g->refusal, r);
                }
            }
        } else if (str_eq(type, "function_call")) {
            g->n_calls++;
        } else if (str_eq(type, "reasoning")) {
            const cJSON *s;
            cJSON_ArrayForEach(s, array_or_null(get(item, "summary")))
            {
                const char *t = tg_json_get_str(s, "text");
                if (!t)
                    continue;
                if (g->reasoning.len)
                    tg_buf_puts(&g->reasoning, "\n\n");
                tg_buf_puts(&g->reasoning, t);
            }
        }
        /* built-in tool calls (web search, ...): chat has no place. */
    }
}

static void put_calls(struct tg_buf *out, const cJSON *output)
{
    tg_buf_puts(out, ",\"tool_calls\":[");
    int k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, output)
    {
        if (!str_eq(tg_json_get_str(item, "type"), "function_call"))
            continue;
        if (k++)
            tg_buf_putc(out, ',');
        tg_buf_puts(out, "{\"id\":");
        put_str(out, tg_json_get_str(item, "call_id"));
        tg_buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
        put_str(out, tg_json_get_str(item, "name"));
        tg_buf_puts(out, ",\"arguments\":");
        const char *args = tg_json_get_str(item, "arguments");
        put_str(out, args ? args : "{}");
        tg_buf_puts(out, "}}");
    }
    tg_buf_putc(out, ']');
}

static const char *finish_of(const cJSON *root, int n_calls)
{
    if (str_eq(tg_json_get_str(root, "status"), "incomplete")) {
        const char *reason = tg_json_get_str(get(root, "incomplete_details"), "reason");
        return str_eq(reason, "content_filter") ? "content_filter" : "length";
    }
    return n_calls ? "tool_calls" : "stop";
}

static void put_usage(struct tg_buf *out, const cJSON *usage)
{
    int64_t in = count_of(get(usage, "input_tokens"));
    int64_t outn = count_of(get(usage, "output_tokens"));
    tg_buf_printf(out,
                  ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                  "\"total_tokens\":%lld",
                  (long long)in, (long long)outn, (long long)(in + outn));
    const cJSON *cached = get(get(usage, "input_tokens_details"), "cached_tokens");
    if (cJSON_IsNumber(cached))
        tg_buf_printf(out, ",\"prompt_tokens_details\":{\"cached_tokens\":%lld}",
                      (long long)count_of(cached));
    const cJSON *reasoning = get(get(usage, "output_tokens_details"), "reasoning_tokens");
    if (cJSON_IsNumber(reasoning))
        tg_buf_printf(out, ",\"completion_tokens_details\":{\"reasoning_tokens\":%lld}",
                      (long long)count_of(reasoning));
    tg_buf_putc(out, '}');
}

int tg_chat_from_responses_answer(const char *body, size_t len, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    const char *status = tg_json_get_str(root, "status");
    if (!str_eq(tg_json_get_str(root, "object"), "response") || str_eq(status, "failed") ||
        str_eq(status, "cancelled")) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *output = array_or_null(get(root, "output"));
    struct gathered g = {TG_BUF_INIT, TG_BUF_INIT, TG_BUF_INIT, false, 0};
    gather(output, &g);

    tg_buf_puts(out, "{\"id\":");
    put_str(out, tg_json_get_str(root, "id"));
    tg_buf_printf(out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":",
                  (long long)count_of(get(root, "created_at")));
    put_str(out, tg_json_get_str(root, "model"));
    tg_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (g.has_text)
        tg_buf_json_str(out, g.text.data, g.text.len);
    else
        tg_buf_puts(out, g.n_calls || g.refusal.len ? "null" : "\"\"");
    tg_buf_puts(out, ",\"refusal\":");
    if (g.refusal.len)
        tg_buf_json_str(out, g.refusal.data, g.refusal.len);
    else
        tg_buf_puts(out, "null");
    if (g.reasoning.len) {
        tg_buf_puts(out, ",\"reasoning_content\":");
        tg_buf_json_str(out, g.reasoning.data, g.reasoning.len);
    }
    if (g.n_calls)
        put_calls(out, output);
    tg_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":\"");
    tg_buf_puts(out, finish_of(root, g.n_calls));
    tg_buf_puts(out, "\"}]");
    const cJSON *usage = get(root, "usage");
    if (cJSON_IsObject(usage))
        put_usage(out, usage);
    tg_buf_putc(out, '}');
    tg_buf_free(&g.text);
    tg_buf_free(&g.refusal);
    tg_buf_free(&g.reasoning);
    cJSON_Delete(root);
    return 0;
}

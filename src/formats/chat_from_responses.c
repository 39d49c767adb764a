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

#include "formats/format.h"
#include "util/json.h"

/* Present and not JSON null. */
static bool given(const cJSON *v)
{
    return v && !cJSON_IsNull(v);
}

static void copy_member(cJSON *to, const char *to_key, const cJSON *from, const char *from_key)
{
    const cJSON *v = tg_fmt_get(from, from_key);
    if (given(v))
        cJSON_AddItemToObject(to, to_key, cJSON_Duplicate(v, true));
}

/* ==== requests ==== */

/* What the request needs from the Responses provider's own state or
 * features; NULL when a chat provider can serve it. */
static const char *stateful(const cJSON *req)
{
    if (given(tg_fmt_get(req, "previous_response_id")))
        return "previous_response_id";
    if (cJSON_IsTrue(tg_fmt_get(req, "background")))
        return "background";
    if (given(tg_fmt_get(req, "conversation")))
        return "conversation";
    if (given(tg_fmt_get(req, "prompt"))) /* a template stored with the provider */
        return "prompt";
    if (given(tg_fmt_get(req, "context_management")))
        return "context_management";
    /* "auto" lets the provider drop early input to fit its window; a chat
     * provider fails instead, which the client did not ask for. */
    if (tg_fmt_str_eq(tg_json_get_str(req, "truncation"), "auto"))
        return "truncation";
    const cJSON *top = tg_fmt_get(req, "top_logprobs");
    if (cJSON_IsNumber(top) && top->valuedouble > 0)
        return "top_logprobs";
    const cJSON *inc;
    cJSON_ArrayForEach(inc, tg_fmt_array(tg_fmt_get(req, "include")))
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
        tg_fmt_set_why(why, why_len, "function_call_output", type);
        return -1;
    }
    if (strcmp(type, "input_image") == 0) {
        const char *url = tg_json_get_str(part, "image_url");
        if (!url) {
            tg_fmt_set_why(why, why_len, "input_image", "file_id");
            return -1;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
        cJSON_AddStringToObject(iu, "url", url);
        const char *detail = tg_json_get_str(part, "detail");
        /* "original" is Responses-only; chat's nearest is "high". */
        if (tg_fmt_str_eq(detail, "original"))
            detail = "high";
        if (detail)
            cJSON_AddStringToObject(iu, "detail", detail);
        cJSON_AddItemToArray(parts, p);
        return 0;
    }
    if (strcmp(type, "input_file") == 0) {
        if (given(tg_fmt_get(part, "file_url"))) {
            tg_fmt_set_why(why, why_len, "input_file", "file_url");
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
    tg_fmt_set_why(why, why_len, "content", type);
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
    cJSON_ArrayForEach(part, tg_fmt_array(content))
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
    cJSON_ArrayForEach(part, tg_fmt_array(content))
    {
        const char *type = tg_json_get_str(part, "type");
        const char *t = tg_json_get_str(part, "text");
        const char *r = tg_json_get_str(part, "refusal");
        if (t && (tg_fmt_str_eq(type, "output_text") || tg_fmt_str_eq(type, "input_text") ||
                  tg_fmt_str_eq(type, "text"))) {
            tg_buf_puts(&text, t);
            has_text = true;
        } else if (r && tg_fmt_str_eq(type, "refusal")) {
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
    return tg_fmt_str_eq(tg_json_get_str(last, "role"), "assistant") ? last : NULL;
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
    const cJSON *args = tg_fmt_get(item, "arguments");
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
    if (chat_content(tg_fmt_get(item, "output"), true, &content, why, why_len) < 0)
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
    const cJSON *content = tg_fmt_get(item, "content");
    if (tg_fmt_str_eq(role, "assistant")) {
        cJSON_AddItemToArray(msgs, assistant_message(content));
        return 0;
    }
    if (!tg_fmt_str_eq(role, "user") && !tg_fmt_str_eq(role, "system") &&
        !tg_fmt_str_eq(role, "developer")) {
        tg_fmt_set_why(why, why_len, "role", role ? role : "(none)");
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
        tg_fmt_set_why(why, why_len, "no input", NULL);
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, input)
    {
        if (!cJSON_IsObject(item)) {
            tg_fmt_set_why(why, why_len, "bad input item", NULL);
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
            tg_fmt_set_why(why, why_len,
                           strcmp(type, "item_reference") == 0 ? "item_reference" : "input",
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
    const cJSON *list = tg_fmt_get(req, "tools");
    if (!cJSON_IsArray(list) || !list->child)
        return 0;
    cJSON *tools = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, list)
    {
        const char *type = tg_json_get_str(t, "type");
        const char *name = tg_json_get_str(t, "name");
        if (!tg_fmt_str_eq(type, "function") || !name) {
            tg_fmt_set_why(why, why_len, "tool", type ? type : "(none)");
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
    const cJSON *tc = tg_fmt_get(req, "tool_choice");
    if (!given(tc))
        return 0;
    if (cJSON_IsString(tc)) {
        cJSON_AddStringToObject(root, "tool_choice", tc->valuestring);
        return 0;
    }
    const char *type = tg_json_get_str(tc, "type");
    if (tg_fmt_str_eq(type, "function") && tg_json_get_str(tc, "name")) {
        cJSON_AddItemToObject(root, "tool_choice", function_ref(tg_json_get_str(tc, "name")));
        return 0;
    }
    if (tg_fmt_str_eq(type, "allowed_tools")) {
        cJSON *choice = cJSON_CreateObject();
        cJSON_AddStringToObject(choice, "type", "allowed_tools");
        cJSON *allowed = cJSON_AddObjectToObject(choice, "allowed_tools");
        const char *mode = tg_json_get_str(tc, "mode");
        cJSON_AddStringToObject(allowed, "mode", mode ? mode : "auto");
        cJSON *list = cJSON_AddArrayToObject(allowed, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tg_fmt_array(tg_fmt_get(tc, "tools")))
        {
            const char *name = tg_json_get_str(t, "name");
            if (!tg_fmt_str_eq(tg_json_get_str(t, "type"), "function") || !name) {
                cJSON_Delete(choice);
                tg_fmt_set_why(why, why_len, "tool_choice", "allowed_tools");
                return -1;
            }
            cJSON_AddItemToArray(list, function_ref(name));
        }
        cJSON_AddItemToObject(root, "tool_choice", choice);
        return 0;
    }
    tg_fmt_set_why(why, why_len, "tool_choice", type ? type : "(none)");
    return -1;
}

/* text.format as response_format; text.verbosity as verbosity. */
static void add_text_format(cJSON *root, const cJSON *req)
{
    const cJSON *text = tg_fmt_get(req, "text");
    copy_member(root, "verbosity", text, "verbosity");
    const cJSON *format = tg_fmt_get(text, "format");
    const char *type = tg_json_get_str(format, "type");
    if (tg_fmt_str_eq(type, "json_object") || tg_fmt_str_eq(type, "text")) {
        cJSON *rf = cJSON_AddObjectToObject(root, "response_format");
        cJSON_AddStringToObject(rf, "type", type);
    } else if (tg_fmt_str_eq(type, "json_schema")) {
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

int tg_fmt_chat_from_responses_request(const cJSON *req, const char *model, struct tg_buf *out,
                                       char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!cJSON_IsObject(req)) {
        tg_fmt_set_why(why, why_len, "no input", NULL);
        return -1;
    }
    const char *no = stateful(req);
    if (no) {
        tg_fmt_set_why(why, why_len, no, NULL);
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
    if (add_input(msgs, tg_fmt_get(req, "input"), why, why_len) < 0 ||
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
        const cJSON *ptc = tg_fmt_get(req, "parallel_tool_calls");
        if (cJSON_IsBool(ptc))
            cJSON_AddBoolToObject(root, "parallel_tool_calls", cJSON_IsTrue(ptc));
    }
    add_text_format(root, req);
    copy_member(root, "reasoning_effort", tg_fmt_get(req, "reasoning"), "effort");
    const cJSON *max = tg_fmt_get(req, "max_output_tokens");
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
    const cJSON *stream = tg_fmt_get(req, "stream");
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
        if (tg_fmt_str_eq(type, "message")) {
            const cJSON *part;
            cJSON_ArrayForEach(part, tg_fmt_array(tg_fmt_get(item, "content")))
            {
                const char *pt = tg_json_get_str(part, "type");
                const char *t = tg_json_get_str(part, "text");
                const char *r = tg_json_get_str(part, "refusal");
                if (tg_fmt_str_eq(pt, "output_text") && t) {
                    tg_buf_puts(&g->text, t);
                    g->has_text = true;
                } else if (tg_fmt_str_eq(pt, "refusal") && r) {
                    tg_buf_puts(&g->refusal, r);
                }
            }
        } else if (tg_fmt_str_eq(type, "function_call")) {
            g->n_calls++;
        } else if (tg_fmt_str_eq(type, "reasoning")) {
            const cJSON *s;
            cJSON_ArrayForEach(s, tg_fmt_array(tg_fmt_get(item, "summary")))
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
        if (!tg_fmt_str_eq(tg_json_get_str(item, "type"), "function_call"))
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
    if (tg_fmt_str_eq(tg_json_get_str(root, "status"), "incomplete")) {
        const char *reason = tg_json_get_str(tg_fmt_get(root, "incomplete_details"), "reason");
        return tg_fmt_str_eq(reason, "content_filter") ? "content_filter" : "length";
    }
    return n_calls ? "tool_calls" : "stop";
}

static void put_usage(struct tg_buf *out, const cJSON *usage)
{
    int64_t in = tg_fmt_count(tg_fmt_get(usage, "input_tokens"));
    int64_t outn = tg_fmt_count(tg_fmt_get(usage, "output_tokens"));
    tg_buf_printf(out,
                  ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                  "\"total_tokens\":%lld",
                  (long long)in, (long long)outn, (long long)(in + outn));
    const cJSON *cached = tg_fmt_get(tg_fmt_get(usage, "input_tokens_details"), "cached_tokens");
    if (cJSON_IsNumber(cached))
        tg_buf_printf(out, ",\"prompt_tokens_details\":{\"cached_tokens\":%lld}",
                      (long long)tg_fmt_count(cached));
    const cJSON *reasoning =
        tg_fmt_get(tg_fmt_get(usage, "output_tokens_details"), "reasoning_tokens");
    if (cJSON_IsNumber(reasoning))
        tg_buf_printf(out, ",\"completion_tokens_details\":{\"reasoning_tokens\":%lld}",
                      (long long)tg_fmt_count(reasoning));
    tg_buf_putc(out, '}');
}

int tg_fmt_chat_from_responses_answer(const char *body, size_t len, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    const char *status = tg_json_get_str(root, "status");
    if (!tg_fmt_str_eq(tg_json_get_str(root, "object"), "response") ||
        tg_fmt_str_eq(status, "failed") || tg_fmt_str_eq(status, "cancelled")) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *output = tg_fmt_array(tg_fmt_get(root, "output"));
    struct gathered g = {TG_BUF_INIT, TG_BUF_INIT, TG_BUF_INIT, false, 0};
    gather(output, &g);

    tg_buf_puts(out, "{\"id\":");
    put_str(out, tg_json_get_str(root, "id"));
    tg_buf_printf(out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":",
                  (long long)tg_fmt_count(tg_fmt_get(root, "created_at")));
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
    const cJSON *usage = tg_fmt_get(root, "usage");
    if (cJSON_IsObject(usage))
        put_usage(out, usage);
    tg_buf_putc(out, '}');
    tg_buf_free(&g.text);
    tg_buf_free(&g.refusal);
    tg_buf_free(&g.reasoning);
    cJSON_Delete(root);
    return 0;
}

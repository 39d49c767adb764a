/* The Anthropic Messages API adapter (see anthropic.h): the translation of
 * OpenAI chat requests into Messages requests, and of Messages answers, stream
 * events and errors back into chat.completion, chat.completion.chunk and
 * OpenAI's error shape. Every input comes from a client or an upstream, so
 * each member is read with its type checked: a wrong type is ignored, or
 * makes the request ineligible, and never reaches a NULL dereference. */
#include "upstream/anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "util/json.h"

/* Token counts are clamped to this, so that casting a hostile double to an
 * integer is always defined. */
#define COUNT_MAX 1e15

/* Used when the deployment gives no usable default_max_tokens. */
#define FALLBACK_MAX_TOKENS 4096

/* Anthropic needs a first turn from the user, and every turn non-empty; this
 * stands in when a conversation has none to offer. */
#define PLACEHOLDER_TURN "."

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/* v when it is an array, so that a wrong type iterates as an empty one. */
static const cJSON *array_or_null(const cJSON *v)
{
    return cJSON_IsArray(v) ? v : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int64_t count_of(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return 0;
    if (v->valuedouble > COUNT_MAX)
        return (int64_t)COUNT_MAX;
    return (int64_t)v->valuedouble;
}

/* Copies s into dst[cap], cutting only at a UTF-8 character boundary so that
 * a truncated id or model still prints as valid JSON text. */
static void copy_trunc(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
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

const char *tg_anthropic_finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return "stop";
    if (strcmp(stop_reason, "end_turn") == 0 || strcmp(stop_reason, "stop_sequence") == 0)
        return "stop";
    if (strcmp(stop_reason, "max_tokens") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    /* pause_turn and whatever comes next: the answer did end, normally. */
    return "stop";
}

/* ==== requests ==== */

/* The Messages conversation being built: consecutive blocks of one role land
 * in one turn, since Anthropic wants strictly alternating turns. */
struct conv {
    cJSON *msgs;
    cJSON *last_content; /* the content array of the last turn */
    const char *last_role;
};

static void add_block(struct conv *c, const char *role, cJSON *block)
{
    if (!str_eq(c->last_role, role)) {
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", role);
        c->last_content = cJSON_AddArrayToObject(msg, "content");
        cJSON_AddItemToArray(c->msgs, msg);
        c->last_role = role;
    }
    cJSON_AddItemToArray(c->last_content, block);
}

static void add_text_block(struct conv *c, const char *role, const char *text)
{
    if (!text || !*text) /* Anthropic rejects empty text blocks */
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    add_block(c, role, b);
}

/* The text of a content that is a string or an array of text parts, parts
 * concatenated as OpenAI reads them. */
static void gather_text(const cJSON *content, struct tg_buf *b)
{
    if (cJSON_IsString(content)) {
        tg_buf_puts(b, content->valuestring);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, array_or_null(content))
    {
        const char *type = tg_json_get_str(part, "type");
        const char *text = tg_json_get_str(part, "text");
        if (text && (!type || strcmp(type, "text") == 0))
            tg_buf_puts(b, text);
    }
}

static bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* An image_url part as an image block: data:<media>;base64,<data> becomes a
 * base64 source, http(s) a url source. Anything else cannot be expressed. */
static int image_block(const cJSON *part, cJSON **block)
{
    const cJSON *iu = get(part, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : tg_json_get_str(iu, "url");
    *block = NULL;
    if (!url)
        return 0; /* malformed part: nothing to send */
    cJSON *source = cJSON_CreateObject();
    if (has_prefix_ci(url, "data:")) {
        const char *comma = strchr(url, ',');
        if (!comma)
            goto unsupported;
        const char *media = url + 5;
        size_t head = (size_t)(comma - media);
        static const char b64[] = ";base64";
        size_t b64_len = sizeof(b64) - 1;
        if (head < b64_len || strncasecmp(comma - b64_len, b64, b64_len) != 0)
            goto unsupported;
        size_t media_len = strcspn(media, ";,");
        cJSON_AddStringToObject(source, "type", "base64");
        char *mt = tg_xstrndup(media, media_len);
        cJSON_AddStringToObject(source, "media_type", media_len ? mt : "image/png");
        free(mt);
        cJSON_AddStringToObject(source, "data", comma + 1);
    } else if (has_prefix_ci(url, "https://") || has_prefix_ci(url, "http://")) {
        cJSON_AddStringToObject(source, "type", "url");
        cJSON_AddStringToObject(source, "url", url);
    } else {
        goto unsupported;
    }
    *block = cJSON_CreateObject();
    cJSON_AddStringToObject(*block, "type", "image");
    cJSON_AddItemToObject(*block, "source", source);
    return 0;
unsupported:
    cJSON_Delete(source);
    return -1;
}

/* The content of a user or assistant message as blocks of that role. */
static int add_content(struct conv *c, const char *role, const cJSON *content, char *why,
                       size_t why_len)
{
    if (cJSON_IsString(content)) {
        add_text_block(c, role, content->valuestring);
        return 0;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, array_or_null(content))
    {
        const char *type = tg_json_get_str(part, "type");
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            add_text_block(c, role, tg_json_get_str(part, "text"));
        } else if (strcmp(type, "refusal") == 0) {
            add_text_block(c, role, tg_json_get_str(part, "refusal"));
        } else if (strcmp(type, "image_url") == 0) {
            cJSON *block;
            if (image_block(part, &block) < 0) {
                set_why(why, why_len, "image", NULL);
                return -1;
            }
            if (block)
                add_block(c, role, block);
        } else if (strcmp(type, "input_audio") == 0) {
            set_why(why, why_len, "audio", NULL);
            return -1;
        } else if (strcmp(type, "file") == 0) {
            set_why(why, why_len, "file", NULL);
            return -1;
        }
        /* Unknown part types carry nothing we could send: skipped. */
    }
    return 0;
}

/* A tool call's arguments (JSON text) as the tool_use input object. */
static cJSON *tool_input(const cJSON *args)
{
    if (cJSON_IsObject(args))
        return cJSON_Duplicate(args, true); /* lenient clients send the object */
    if (cJSON_IsString(args)) {
        cJSON *parsed = tg_json_parse_generated(args->valuestring, strlen(args->valuestring));
        if (cJSON_IsObject(parsed))
            return parsed;
        cJSON_Delete(parsed);
    }
    return cJSON_CreateObject();
}

static void add_tool_calls(struct conv *c, const cJSON *calls, int msg_index)
{
    const cJSON *call;
    int k = 0;
    cJSON_ArrayForEach(call, array_or_null(calls))
    {
        const cJSON *fn = get(call, "function");
        const char *name = tg_json_get_str(fn, "name");
        if (!name)
            continue;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        const char *id = tg_json_get_str(call, "id");
        if (id) {
            cJSON_AddStringToObject(b, "id", id);
        } else {
            /* Anthropic needs an id; a result can never refer to this call
             * anyway, but the turn itself stays valid. */
            char gen[48];
            snprintf(gen, sizeof(gen), "toolu_tg_%d_%d", msg_index, k);
            cJSON_AddStringToObject(b, "id", gen);
        }
        cJSON_AddStringToObject(b, "name", name);
        cJSON_AddItemToObject(b, "input", tool_input(get(fn, "arguments")));
        add_block(c, "assistant", b);
        k++;
    }
}

static void add_tool_result(struct conv *c, const cJSON *msg)
{
    struct tg_buf text = TG_BUF_INIT;
    gather_text(get(msg, "content"), &text);
    const char *id = tg_json_get_str(msg, "tool_call_id");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_result");
    cJSON_AddStringToObject(b, "tool_use_id", id ? id : "");
    cJSON_AddStringToObject(b, "content", text.data ? text.data : "");
    add_block(c, "user", b);
    tg_buf_free(&text);
}

static void append_system(struct tg_buf *sys, const char *text, size_t len)
{
    if (len == 0)
        return;
    if (sys->len)
        tg_buf_puts(sys, "\n\n");
    tg_buf_append(sys, text, len);
}

/* Walks the OpenAI messages: system text into sys, turns into c. */
static int convert_messages(const cJSON *messages, struct conv *c, struct tg_buf *sys, char *why,
                            size_t why_len)
{
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, messages)
    {
        if (!cJSON_IsObject(m)) {
            set_why(why, why_len, "bad message", NULL);
            return -1;
        }
        const char *role = tg_json_get_str(m, "role");
        const cJSON *content = get(m, "content");
        if (!role) {
            set_why(why, why_len, "role", "(none)");
            return -1;
        }
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            struct tg_buf text = TG_BUF_INIT;
            gather_text(content, &text);
            append_system(sys, text.data, text.len);
            tg_buf_free(&text);
        } else if (strcmp(role, "user") == 0) {
            if (add_content(c, "user", content, why, why_len) < 0)
                return -1;
        } else if (strcmp(role, "assistant") == 0) {
            if (add_content(c, "assistant", content, why, why_len) < 0)
                return -1;
            add_tool_calls(c, get(m, "tool_calls"), i);
        } else if (strcmp(role, "tool") == 0) {
            add_tool_result(c, m);
        } else {
            set_why(why, why_len, "role", role);
            return -1;
        }
        i++;
    }
    return 0;
}

static bool is_block_type(const cJSON *block, const char *type)
{
    return str_eq(tg_json_get_str(block, "type"), type);
}

/* Final shape of each turn: tool results first in a user turn (Anthropic
 * rejects text before them), and a lone text block as a plain string. */
static void finish_turns(cJSON *msgs)
{
    cJSON *msg;
    cJSON_ArrayForEach(msg, msgs)
    {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!cJSON_IsArray(content))
            continue;
        cJSON *sorted = cJSON_CreateArray();
        for (int pass = 0; pass < 2; pass++) {
            cJSON *b = content->child;
            while (b) {
                cJSON *next = b->next;
                if (pass == 1 || is_block_type(b, "tool_result"))
                    cJSON_AddItemToArray(sorted, cJSON_DetachItemViaPointer(content, b));
                b = next;
            }
        }
        cJSON *only = sorted->child;
        if (only && !only->next && is_block_type(only, "text")) {
            cJSON *text = cJSON_CreateString(tg_json_get_str(only, "text"));
            cJSON_Delete(sorted);
            sorted = text;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", sorted);
    }
}

static void add_placeholder_turn(cJSON *msgs, bool first)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "user");
    cJSON_AddStringToObject(msg, "content", PLACEHOLDER_TURN);
    if (first && msgs->child)
        cJSON_InsertItemInArray(msgs, 0, msg);
    else
        cJSON_AddItemToArray(msgs, msg);
}

static cJSON *tool_choice_of(const cJSON *req)
{
    const cJSON *tc = get(req, "tool_choice");
    cJSON *choice = NULL;
    if (cJSON_IsString(tc)) {
        const char *t = strcmp(tc->valuestring, "auto") == 0       ? "auto"
                        : strcmp(tc->valuestring, "required") == 0 ? "any"
                        : strcmp(tc->valuestring, "none") == 0     ? "none"
                                                                   : NULL;
        if (t) {
            choice = cJSON_CreateObject();
            cJSON_AddStringToObject(choice, "type", t);
        }
    } else {
        const char *name = tg_json_get_str(get(tc, "function"), "name");
        if (name) {
            choice = cJSON_CreateObject();
            cJSON_AddStringToObject(choice, "type", "tool");
            cJSON_AddStringToObject(choice, "name", name);
        }
    }
    if (cJSON_IsFalse(get(req, "parallel_tool_calls"))) {
        if (!choice) {
            choice = cJSON_CreateObject();
            cJSON_AddStringToObject(choice, "type", "auto");
        }
        /* "none" calls no tools, and its schema has no such member. */
        if (!str_eq(tg_json_get_str(choice, "type"), "none"))
            cJSON_AddTrueToObject(choice, "disable_parallel_tool_use");
    }
    return choice;
}

static void add_tools(cJSON *root, const cJSON *req)
{
    cJSON *tools = cJSON_CreateArray();
    const cJSON *t;
    const cJSON *list = get(req, "tools");
    cJSON_ArrayForEach(t, array_or_null(list))
    {
        const cJSON *fn = get(t, "function");
        const char *name = tg_json_get_str(fn, "name");
        if (!name)
            continue; /* not a function tool: nothing Anthropic could call */
        cJSON *tool = cJSON_CreateObject();
        cJSON_AddStringToObject(tool, "name", name);
        const char *desc = tg_json_get_str(fn, "description");
        if (desc)
            cJSON_AddStringToObject(tool, "description", desc);
        const cJSON *params = get(fn, "parameters");
        cJSON *schema;
        if (cJSON_IsObject(params)) {
            schema = cJSON_Duplicate(params, true);
            /* input_schema must say it is an object; OpenAI tolerates less. */
            if (!cJSON_HasObjectItem(schema, "type"))
                cJSON_AddStringToObject(schema, "type", "object");
        } else {
            schema = cJSON_CreateObject();
            cJSON_AddStringToObject(schema, "type", "object");
            cJSON_AddObjectToObject(schema, "properties");
        }
        cJSON_AddItemToObject(tool, "input_schema", schema);
        cJSON_AddItemToArray(tools, tool);
    }
    if (!tools->child) {
        /* No tools: a tool_choice alone is an error on both APIs. */
        cJSON_Delete(tools);
        return;
    }
    cJSON_AddItemToObject(root, "tools", tools);
    cJSON *choice = tool_choice_of(req);
    if (choice)
        cJSON_AddItemToObject(root, "tool_choice", choice);
}

/* Messages has no response_format: the nearest thing is to ask in words. */
static void add_response_format(struct tg_buf *sys, const cJSON *req)
{
    const cJSON *rf = get(req, "response_format");
    const char *type = tg_json_get_str(rf, "type");
    if (!type)
        return;
    static const char plain[] = "Respond with only a single JSON object: no other text, no "
                                "markdown code fences.";
    if (strcmp(type, "json_object") == 0) {
        append_system(sys, plain, strlen(plain));
    } else if (strcmp(type, "json_schema") == 0) {
        const cJSON *schema = get(get(rf, "json_schema"), "schema");
        if (!schema) {
            append_system(sys, plain, strlen(plain));
            return;
        }
        struct tg_buf text = TG_BUF_INIT;
        tg_buf_puts(&text, "Respond with only a single JSON object that conforms to this JSON "
                           "Schema: no other text, no markdown code fences.\n");
        tg_buf_json_item(&text, schema);
        append_system(sys, text.data, text.len);
        tg_buf_free(&text);
    }
}

static void add_stop(cJSON *root, const cJSON *stop)
{
    cJSON *seqs = cJSON_CreateArray();
    if (cJSON_IsString(stop) && *stop->valuestring) {
        cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop)) {
        const cJSON *s;
        cJSON_ArrayForEach(s, stop)
        {
            if (cJSON_IsString(s) && *s->valuestring)
                cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring));
        }
    }
    if (seqs->child)
        cJSON_AddItemToObject(root, "stop_sequences", seqs);
    else
        cJSON_Delete(seqs);
}

static void add_clamped(cJSON *root, const char *key, const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        return;
    double d = v->valuedouble;
    /* OpenAI's temperature goes to 2, Anthropic's to 1: the top of the
     * range means "most random" on both, so clamp rather than rescale. */
    if (!(d > 0))
        d = 0;
    if (d > 1)
        d = 1;
    cJSON_AddNumberToObject(root, key, d);
}

static bool positive_count(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1))
        return false;
    *out = count_of(v);
    return true;
}

/* What the Messages API cannot give; NULL when it can give it all. */
static const char *ineligible(const cJSON *req)
{
    const cJSON *n = get(req, "n");
    if (cJSON_IsNumber(n) && n->valuedouble > 1)
        return "n>1";
    const cJSON *top = get(req, "top_logprobs");
    if (cJSON_IsTrue(get(req, "logprobs")) ||
        (top && !cJSON_IsNull(top) && !(cJSON_IsNumber(top) && top->valuedouble == 0)))
        return "logprobs";
    const cJSON *audio = get(req, "audio");
    if (audio && !cJSON_IsNull(audio))
        return "audio";
    const cJSON *mod;
    const cJSON *mods = get(req, "modalities");
    cJSON_ArrayForEach(mod, array_or_null(mods))
    {
        if (cJSON_IsString(mod) && strcmp(mod->valuestring, "audio") == 0)
            return "audio";
    }
    return NULL;
}

int tg_anthropic_request(const cJSON *openai, const char *model, int64_t default_max_tokens,
                         struct tg_buf *out, char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!cJSON_IsObject(openai)) {
        set_why(why, why_len, "no messages", NULL);
        return -1;
    }
    const char *no = ineligible(openai);
    if (no) {
        set_why(why, why_len, no, NULL);
        return -1;
    }
    const cJSON *messages = get(openai, "messages");
    if (!cJSON_IsArray(messages) || !messages->child) {
        set_why(why, why_len, "no messages", NULL);
        return -1;
    }

    struct conv c = {cJSON_CreateArray(), NULL, NULL};
    struct tg_buf sys = TG_BUF_INIT;
    if (convert_messages(messages, &c, &sys, why, why_len) < 0) {
        cJSON_Delete(c.msgs);
        tg_buf_free(&sys);
        return -1;
    }
    add_response_format(&sys, openai);
    finish_turns(c.msgs);
    /* An assistant-first (prefill-style) conversation, or one of system text
     * only, gets a minimal user turn: OpenAI answers those, Anthropic wants
     * a user turn first. */
    const cJSON *first = c.msgs->child;
    if (!first || !str_eq(tg_json_get_str(first, "role"), "user"))
        add_placeholder_turn(c.msgs, true);

    cJSON *root = cJSON_CreateObject();
    if (!model)
        model = tg_json_get_str(openai, "model");
    cJSON_AddStringToObject(root, "model", model ? model : "");
    int64_t max_tokens = default_max_tokens >= 1 ? default_max_tokens : FALLBACK_MAX_TOKENS;
    if (!positive_count(get(openai, "max_tokens"), &max_tokens))
        positive_count(get(openai, "max_completion_tokens"), &max_tokens);
    cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens);
    if (sys.len)
        cJSON_AddStringToObject(root, "system", sys.data);
    tg_buf_free(&sys);
    cJSON_AddItemToObject(root, "messages", c.msgs);

    add_stop(root, get(openai, "stop"));
    add_clamped(root, "temperature", get(openai, "temperature"));
    add_clamped(root, "top_p", get(openai, "top_p"));
    const char *user = tg_json_get_str(openai, "user");
    if (user) {
        cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
        cJSON_AddStringToObject(meta, "user_id", user);
    }
    add_tools(root, openai);
    const cJSON *stream = get(openai, "stream");
    if (cJSON_IsBool(stream))
        cJSON_AddBoolToObject(root, "stream", cJSON_IsTrue(stream));

    tg_buf_json_item(out, root);
    cJSON_Delete(root);
    return 0;
}

/* ==== errors ==== */

/* OpenAI-style codes for the Anthropic error types clients test for. */
static const char *code_for_type(const char *type)
{
    if (str_eq(type, "rate_limit_error"))
        return "rate_limit_exceeded";
    if (str_eq(type, "overloaded_error"))
        return "overloaded";
    if (str_eq(type, "authentication_error"))
        return "invalid_api_key";
    return NULL;
}

/* The error type Anthropic documents for a status, for bodies that say none. */
static const char *type_for_status(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    }
}

static void put_str_or_null(struct tg_buf *b, const char *s)
{
    if (s)
        tg_buf_json_str(b, s, strlen(s));
    else
        tg_buf_puts(b, "null");
}

/* OpenAI's error object {"message","type","param":null,"code"} from the
 * Anthropic error in root (any shape), or from the status alone. */
static void error_object(const cJSON *root, int status, struct tg_buf *b)
{
    const cJSON *err = get(root, "error");
    const char *type = tg_json_get_str(err, "type");
    const char *msg = tg_json_get_str(err, "message");
    const char *code = tg_json_get_str(get(err, "details"), "error_code");
    char generic[96];
    if (!msg) {
        if (status > 0)
            snprintf(generic, sizeof(generic), "upstream answered HTTP %d", status);
        else
            snprintf(generic, sizeof(generic), "upstream stream failed");
        msg = generic;
    }
    if (!type)
        type = status > 0 ? type_for_status(status) : "api_error";
    if (!code)
        code = code_for_type(type);
    /* OpenAI clients detect an overlong prompt by this code, not the text. */
    if (!code && str_eq(type, "invalid_request_error") &&
        strncmp(msg, "prompt is too long", 18) == 0)
        code = "context_length_exceeded";
    tg_buf_puts(b, "{\"message\":");
    put_str_or_null(b, msg);
    tg_buf_puts(b, ",\"type\":");
    put_str_or_null(b, type);
    tg_buf_puts(b, ",\"param\":null,\"code\":");
    put_str_or_null(b, code);
    tg_buf_putc(b, '}');
}

void tg_anthropic_error(const char *body, size_t len, int status, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    tg_buf_puts(out, "{\"error\":");
    error_object(root, status, out);
    tg_buf_putc(out, '}');
    cJSON_Delete(root);
}

/* ==== whole answers ==== */

struct usage {
    int64_t prompt, completion, cached;
    bool has_cached;
};

/* Anthropic counts cached input apart from input_tokens; OpenAI's
 * prompt_tokens covers all of the prompt. */
static int64_t prompt_of(const cJSON *usage)
{
    return count_of(get(usage, "input_tokens")) +
           count_of(get(usage, "cache_creation_input_tokens")) +
           count_of(get(usage, "cache_read_input_tokens"));
}

static void put_usage(struct tg_buf *b, const struct usage *u)
{
    tg_buf_printf(b, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld",
                  (long long)u->prompt, (long long)u->completion,
                  (long long)(u->prompt + u->completion));
    if (u->has_cached)
        tg_buf_printf(b, ",\"prompt_tokens_details\":{\"cached_tokens\":%lld}",
                      (long long)u->cached);
    tg_buf_putc(b, '}');
}

/* The cached part of a stream's prompt, as the whole answer's usage says it. */
static void read_cached(struct tg_anthropic_stream *s, const cJSON *usage)
{
    const cJSON *cached = get(usage, "cache_read_input_tokens");
    if (cJSON_IsNumber(cached)) {
        s->cached_tokens = count_of(cached);
        s->has_cached = true;
    }
}

static void put_tool_call(struct tg_buf *b, const cJSON *block)
{
    const char *id = tg_json_get_str(block, "id");
    const char *name = tg_json_get_str(block, "name");
    const cJSON *input = get(block, "input");
    tg_buf_puts(b, "{\"id\":");
    put_str_or_null(b, id ? id : "");
    tg_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
    put_str_or_null(b, name ? name : "");
    tg_buf_puts(b, ",\"arguments\":");
    struct tg_buf args = TG_BUF_INIT;
    if (input)
        tg_buf_json_item(&args, input);
    else
        tg_buf_puts(&args, "{}");
    tg_buf_json_str(b, args.data, args.len);
    tg_buf_free(&args);
    tg_buf_puts(b, "}}");
}

int tg_anthropic_response(const char *body, size_t len, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    if (!str_eq(tg_json_get_str(root, "type"), "message")) {
        cJSON_Delete(root);
        return -1;
    }
    const char *id = tg_json_get_str(root, "id");
    const char *model = tg_json_get_str(root, "model");
    const cJSON *content = get(root, "content");
    if (!cJSON_IsArray(content))
        content = NULL;

    struct tg_buf text = TG_BUF_INIT;
    bool has_text = false;
    int n_tools = 0;
    const cJSON *block;
    cJSON_ArrayForEach(block, content)
    {
        const char *type = tg_json_get_str(block, "type");
        if (str_eq(type, "text")) {
            const char *t = tg_json_get_str(block, "text");
            if (t) {
                tg_buf_puts(&text, t);
                has_text = true;
            }
        } else if (str_eq(type, "tool_use")) {
            n_tools++;
        }
        /* thinking, redacted_thinking, server tools: OpenAI has no place. */
    }

    tg_buf_puts(out, "{\"id\":");
    put_str_or_null(out, id ? id : "");
    tg_buf_printf(
        out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":", (long long)time(NULL));
    put_str_or_null(out, model ? model : "");
    tg_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (has_text)
        tg_buf_json_str(out, text.data, text.len);
    else
        tg_buf_puts(out, n_tools ? "null" : "\"\"");
    tg_buf_free(&text);
    if (n_tools) {
        tg_buf_puts(out, ",\"tool_calls\":[");
        int k = 0;
        cJSON_ArrayForEach(block, content)
        {
            if (!is_block_type(block, "tool_use"))
                continue;
            if (k++)
                tg_buf_putc(out, ',');
            put_tool_call(out, block);
        }
        tg_buf_putc(out, ']');
    }
    tg_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":");
    put_str_or_null(out, tg_anthropic_finish_reason(tg_json_get_str(root, "stop_reason")));
    tg_buf_puts(out, "}],\"usage\":");
    const cJSON *usage = get(root, "usage");
    const cJSON *cached = get(usage, "cache_read_input_tokens");
    struct usage u = {prompt_of(usage), count_of(get(usage, "output_tokens")), count_of(cached),
                      cJSON_IsNumber(cached)};
    put_usage(out, &u);
    tg_buf_putc(out, '}');
    cJSON_Delete(root);
    return 0;
}

/* ==== streams ==== */

void tg_anthropic_stream_init(struct tg_anthropic_stream *s, bool include_usage, int64_t created)
{
    memset(s, 0, sizeof(*s));
    s->include_usage = include_usage;
    s->created = created;
    for (size_t i = 0; i < sizeof(s->block_tool) / sizeof(s->block_tool[0]); i++)
        s->block_tool[i] = -1;
}

/* Writes "data: {" and a chunk's id, object, created and model. */
static void chunk_head(const struct tg_anthropic_stream *s, struct tg_buf *out)
{
    tg_buf_puts(out, "data: {\"id\":");
    tg_buf_json_str(out, s->id, strlen(s->id));
    tg_buf_printf(out, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                  (long long)s->created);
    tg_buf_json_str(out, s->model, strlen(s->model));
}

/* Writes a chunk up to "choices":[{"index":0,"delta": ; the caller writes
 * the delta object and then calls chunk_close. */
static void chunk_open(const struct tg_anthropic_stream *s, struct tg_buf *out)
{
    chunk_head(s, out);
    tg_buf_puts(out, ",\"choices\":[{\"index\":0,\"delta\":");
}

static void chunk_close(struct tg_buf *out, const char *finish_reason)
{
    tg_buf_puts(out, ",\"logprobs\":null,\"finish_reason\":");
    put_str_or_null(out, finish_reason);
    tg_buf_puts(out, "}]}\n\n");
}

static void tool_delta_chunk(const struct tg_anthropic_stream *s, struct tg_buf *out, int tool,
                             const char *id, const char *name, const char *args)
{
    chunk_open(s, out);
    tg_buf_printf(out, "{\"tool_calls\":[{\"index\":%d", tool);
    if (id) {
        tg_buf_puts(out, ",\"id\":");
        put_str_or_null(out, id);
        tg_buf_puts(out, ",\"type\":\"function\"");
    }
    tg_buf_puts(out, ",\"function\":{");
    if (name) {
        tg_buf_puts(out, "\"name\":");
        put_str_or_null(out, name);
        tg_buf_putc(out, ',');
    }
    tg_buf_puts(out, "\"arguments\":");
    put_str_or_null(out, args);
    tg_buf_puts(out, "}}]}");
    chunk_close(out, NULL);
}

static enum tg_anthropic_event_result on_message_start(struct tg_anthropic_stream *s,
                                                       const cJSON *root, struct tg_buf *out)
{
    const cJSON *msg = get(root, "message");
    if (!cJSON_IsObject(msg))
        return TG_ANTHROPIC_BAD;
    const char *id = tg_json_get_str(msg, "id");
    const char *model = tg_json_get_str(msg, "model");
    if (id)
        copy_trunc(s->id, sizeof(s->id), id);
    if (model)
        copy_trunc(s->model, sizeof(s->model), model);
    const cJSON *usage = get(msg, "usage");
    s->input_tokens = prompt_of(usage);
    s->output_tokens = count_of(get(usage, "output_tokens"));
    read_cached(s, usage);
    chunk_open(s, out);
    tg_buf_puts(out, "{\"role\":\"assistant\",\"content\":\"\"}");
    chunk_close(out, NULL);
    return TG_ANTHROPIC_CONTINUE;
}

/* The event's block index when it fits the block -> tool table, else -1. */
static int block_index(const struct tg_anthropic_stream *s, const cJSON *root)
{
    const cJSON *i = get(root, "index");
    int n = (int)(sizeof(s->block_tool) / sizeof(s->block_tool[0]));
    if (!cJSON_IsNumber(i) || !(i->valuedouble >= 0) || i->valuedouble >= n)
        return -1;
    return (int)i->valuedouble;
}

static enum tg_anthropic_event_result on_block_start(struct tg_anthropic_stream *s,
                                                     const cJSON *root, struct tg_buf *out)
{
    const cJSON *block = get(root, "content_block");
    if (!cJSON_IsObject(block))
        return TG_ANTHROPIC_BAD;
    int index = block_index(s, root);
    if (!is_block_type(block, "tool_use")) {
        if (index >= 0)
            s->block_tool[index] = -1;
        return TG_ANTHROPIC_CONTINUE;
    }
    int tool = s->n_tools++;
    if (index >= 0)
        s->block_tool[index] = tool;
    const char *id = tg_json_get_str(block, "id");
    const char *name = tg_json_get_str(block, "name");
    /* Anthropic starts with input {} and streams the text; should a server
     * send the input whole here instead, it is not lost. */
    const cJSON *input = get(block, "input");
    struct tg_buf args = TG_BUF_INIT;
    if (input && !(cJSON_IsObject(input) && !input->child))
        tg_buf_json_item(&args, input);
    tool_delta_chunk(s, out, tool, id ? id : "", name ? name : "", args.data ? args.data : "");
    tg_buf_free(&args);
    return TG_ANTHROPIC_CONTINUE;
}

static enum tg_anthropic_event_result on_block_delta(struct tg_anthropic_stream *s,
                                                     const cJSON *root, struct tg_buf *out)
{
    const cJSON *delta = get(root, "delta");
    if (!cJSON_IsObject(delta))
        return TG_ANTHROPIC_BAD;
    const char *type = tg_json_get_str(delta, "type");
    if (str_eq(type, "text_delta")) {
        const char *text = tg_json_get_str(delta, "text");
        if (!text)
            return TG_ANTHROPIC_BAD;
        if (*text) {
            chunk_open(s, out);
            tg_buf_puts(out, "{\"content\":");
            put_str_or_null(out, text);
            tg_buf_putc(out, '}');
            chunk_close(out, NULL);
        }
    } else if (str_eq(type, "input_json_delta")) {
        const char *part = tg_json_get_str(delta, "partial_json");
        if (!part)
            return TG_ANTHROPIC_BAD;
        int index = block_index(s, root);
        /* Blocks stream one after another, so past the table's end (or
         * without an index) the delta belongs to the latest tool block. */
        int tool = index >= 0 && s->block_tool[index] >= 0 ? s->block_tool[index] : s->n_tools - 1;
        if (tool >= 0 && *part)
            tool_delta_chunk(s, out, tool, NULL, NULL, part);
    }
    /* thinking_delta, signature_delta, citations_delta: nothing to say. */
    return TG_ANTHROPIC_CONTINUE;
}

static enum tg_anthropic_event_result on_message_delta(struct tg_anthropic_stream *s,
                                                       const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return TG_ANTHROPIC_BAD;
    const char *stop = tg_json_get_str(get(root, "delta"), "stop_reason");
    if (stop)
        s->finish_reason = tg_anthropic_finish_reason(stop);
    const cJSON *usage = get(root, "usage");
    if (cJSON_IsNumber(get(usage, "output_tokens")))
        s->output_tokens = count_of(get(usage, "output_tokens"));
    /* Newer API versions repeat the (final) input counts here. */
    if (cJSON_IsNumber(get(usage, "input_tokens"))) {
        s->input_tokens = prompt_of(usage);
        read_cached(s, usage);
    }
    return TG_ANTHROPIC_CONTINUE;
}

static enum tg_anthropic_event_result on_message_stop(struct tg_anthropic_stream *s,
                                                      struct tg_buf *out)
{
    chunk_open(s, out);
    tg_buf_puts(out, "{}");
    chunk_close(out, s->finish_reason ? s->finish_reason : "stop");
    if (s->include_usage) {
        chunk_head(s, out);
        tg_buf_puts(out, ",\"choices\":[],\"usage\":");
        struct usage u = {s->input_tokens, s->output_tokens, s->cached_tokens, s->has_cached};
        put_usage(out, &u);
        tg_buf_puts(out, "}\n\n");
    }
    tg_buf_puts(out, "data: [DONE]\n\n");
    return TG_ANTHROPIC_DONE;
}

enum tg_anthropic_event_result tg_anthropic_stream_event(struct tg_anthropic_stream *s,
                                                         const char *event, const char *data,
                                                         size_t len, struct tg_buf *out,
                                                         char **error_json)
{
    cJSON *root = data && len ? tg_json_parse_provider(data, len) : NULL;
    /* The data's own "type" names the event when no event: line did. */
    const char *name = event && *event ? event : tg_json_get_str(root, "type");
    enum tg_anthropic_event_result r = TG_ANTHROPIC_CONTINUE;
    if (!name) {
        r = root ? TG_ANTHROPIC_CONTINUE : TG_ANTHROPIC_BAD;
    } else if (strcmp(name, "message_start") == 0) {
        r = on_message_start(s, root, out);
    } else if (strcmp(name, "content_block_start") == 0) {
        r = on_block_start(s, root, out);
    } else if (strcmp(name, "content_block_delta") == 0) {
        r = on_block_delta(s, root, out);
    } else if (strcmp(name, "message_delta") == 0) {
        r = on_message_delta(s, root);
    } else if (strcmp(name, "message_stop") == 0) {
        /* Needs nothing from its data, so even broken data ends well. */
        r = on_message_stop(s, out);
    } else if (strcmp(name, "error") == 0) {
        /* The upstream said it failed; unreadable details do not change
         * that, they only leave the message generic. */
        if (error_json) {
            struct tg_buf b = TG_BUF_INIT;
            error_object(root, 0, &b);
            *error_json = tg_buf_steal(&b, NULL);
        }
        r = TG_ANTHROPIC_ERROR;
    }
    /* ping, content_block_stop and events yet to be invented: nothing. */
    cJSON_Delete(root);
    return r;
}

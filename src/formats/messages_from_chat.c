/* Anthropic Messages from OpenAI Chat Completions (see messages_from_chat.h):
 * chat requests become Messages requests (for `anthropic` deployments), and
 * chat answers, chunk streams and errors become Messages answers, events and
 * errors (for /v1/messages clients served by chat deployments). Every input
 * comes from a client or an upstream, so each member is read with its type
 * checked: a wrong type is ignored, or makes the request ineligible, and
 * never reaches a NULL dereference. */
#include "formats/messages_from_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "formats/format.h"
#include "util/json.h"

/* Used when the deployment gives no usable default_max_tokens. */
#define FALLBACK_MAX_TOKENS 4096

/* Anthropic needs a first turn from the user, and every turn non-empty; this
 * stands in when a conversation has none to offer. */
#define PLACEHOLDER_TURN "."

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
    if (!tg_fmt_str_eq(c->last_role, role)) {
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
    cJSON_ArrayForEach(part, tg_fmt_array(content))
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
    const cJSON *iu = tg_fmt_get(part, "image_url");
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
    cJSON_ArrayForEach(part, tg_fmt_array(content))
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
                tg_fmt_set_why(why, why_len, "image", NULL);
                return -1;
            }
            if (block)
                add_block(c, role, block);
        } else if (strcmp(type, "input_audio") == 0) {
            tg_fmt_set_why(why, why_len, "audio", NULL);
            return -1;
        } else if (strcmp(type, "file") == 0) {
            tg_fmt_set_why(why, why_len, "file", NULL);
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
    cJSON_ArrayForEach(call, tg_fmt_array(calls))
    {
        const cJSON *fn = tg_fmt_get(call, "function");
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
        cJSON_AddItemToObject(b, "input", tool_input(tg_fmt_get(fn, "arguments")));
        add_block(c, "assistant", b);
        k++;
    }
}

static void add_tool_result(struct conv *c, const cJSON *msg)
{
    struct tg_buf text = TG_BUF_INIT;
    gather_text(tg_fmt_get(msg, "content"), &text);
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
            tg_fmt_set_why(why, why_len, "bad message", NULL);
            return -1;
        }
        const char *role = tg_json_get_str(m, "role");
        const cJSON *content = tg_fmt_get(m, "content");
        if (!role) {
            tg_fmt_set_why(why, why_len, "role", "(none)");
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
            add_tool_calls(c, tg_fmt_get(m, "tool_calls"), i);
        } else if (strcmp(role, "tool") == 0) {
            add_tool_result(c, m);
        } else {
            tg_fmt_set_why(why, why_len, "role", role);
            return -1;
        }
        i++;
    }
    return 0;
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
                if (pass == 1 || tg_fmt_is_type(b, "tool_result"))
                    cJSON_AddItemToArray(sorted, cJSON_DetachItemViaPointer(content, b));
                b = next;
            }
        }
        cJSON *only = sorted->child;
        if (only && !only->next && tg_fmt_is_type(only, "text")) {
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
    const cJSON *tc = tg_fmt_get(req, "tool_choice");
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
        const char *name = tg_json_get_str(tg_fmt_get(tc, "function"), "name");
        if (name) {
            choice = cJSON_CreateObject();
            cJSON_AddStringToObject(choice, "type", "tool");
            cJSON_AddStringToObject(choice, "name", name);
        }
    }
    if (cJSON_IsFalse(tg_fmt_get(req, "parallel_tool_calls"))) {
        if (!choice) {
            choice = cJSON_CreateObject();
            cJSON_AddStringToObject(choice, "type", "auto");
        }
        /* "none" calls no tools, and its schema has no such member. */
        if (!tg_fmt_str_eq(tg_json_get_str(choice, "type"), "none"))
            cJSON_AddTrueToObject(choice, "disable_parallel_tool_use");
    }
    return choice;
}

static void add_tools(cJSON *root, const cJSON *req)
{
    cJSON *tools = cJSON_CreateArray();
    const cJSON *t;
    const cJSON *list = tg_fmt_get(req, "tools");
    cJSON_ArrayForEach(t, tg_fmt_array(list))
    {
        const cJSON *fn = tg_fmt_get(t, "function");
        const char *name = tg_json_get_str(fn, "name");
        if (!name)
            continue; /* not a function tool: nothing Anthropic could call */
        cJSON *tool = cJSON_CreateObject();
        cJSON_AddStringToObject(tool, "name", name);
        const char *desc = tg_json_get_str(fn, "description");
        if (desc)
            cJSON_AddStringToObject(tool, "description", desc);
        const cJSON *params = tg_fmt_get(fn, "parameters");
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
    const cJSON *rf = tg_fmt_get(req, "response_format");
    const char *type = tg_json_get_str(rf, "type");
    if (!type)
        return;
    static const char plain[] = "Respond with only a single JSON object: no other text, no "
                                "markdown code fences.";
    if (strcmp(type, "json_object") == 0) {
        append_system(sys, plain, strlen(plain));
    } else if (strcmp(type, "json_schema") == 0) {
        const cJSON *schema = tg_fmt_get(tg_fmt_get(rf, "json_schema"), "schema");
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
    *out = tg_fmt_count(v);
    return true;
}

/* What the Messages API cannot give; NULL when it can give it all. */
static const char *ineligible(const cJSON *req)
{
    const cJSON *n = tg_fmt_get(req, "n");
    if (cJSON_IsNumber(n) && n->valuedouble > 1)
        return "n>1";
    const cJSON *top = tg_fmt_get(req, "top_logprobs");
    if (cJSON_IsTrue(tg_fmt_get(req, "logprobs")) ||
        (top && !cJSON_IsNull(top) && !(cJSON_IsNumber(top) && top->valuedouble == 0)))
        return "logprobs";
    const cJSON *audio = tg_fmt_get(req, "audio");
    if (audio && !cJSON_IsNull(audio))
        return "audio";
    const cJSON *mod;
    const cJSON *mods = tg_fmt_get(req, "modalities");
    cJSON_ArrayForEach(mod, tg_fmt_array(mods))
    {
        if (cJSON_IsString(mod) && strcmp(mod->valuestring, "audio") == 0)
            return "audio";
    }
    return NULL;
}

int tg_fmt_messages_from_chat_request(const cJSON *openai, const char *model,
                                      int64_t default_max_tokens, struct tg_buf *out, char *why,
                                      size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!cJSON_IsObject(openai)) {
        tg_fmt_set_why(why, why_len, "no messages", NULL);
        return -1;
    }
    const char *no = ineligible(openai);
    if (no) {
        tg_fmt_set_why(why, why_len, no, NULL);
        return -1;
    }
    const cJSON *messages = tg_fmt_get(openai, "messages");
    if (!cJSON_IsArray(messages) || !messages->child) {
        tg_fmt_set_why(why, why_len, "no messages", NULL);
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
    if (!first || !tg_fmt_str_eq(tg_json_get_str(first, "role"), "user"))
        add_placeholder_turn(c.msgs, true);

    cJSON *root = cJSON_CreateObject();
    if (!model)
        model = tg_json_get_str(openai, "model");
    cJSON_AddStringToObject(root, "model", model ? model : "");
    int64_t max_tokens = default_max_tokens >= 1 ? default_max_tokens : FALLBACK_MAX_TOKENS;
    if (!positive_count(tg_fmt_get(openai, "max_tokens"), &max_tokens))
        positive_count(tg_fmt_get(openai, "max_completion_tokens"), &max_tokens);
    cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens);
    if (sys.len)
        cJSON_AddStringToObject(root, "system", sys.data);
    tg_buf_free(&sys);
    cJSON_AddItemToObject(root, "messages", c.msgs);

    add_stop(root, tg_fmt_get(openai, "stop"));
    add_clamped(root, "temperature", tg_fmt_get(openai, "temperature"));
    add_clamped(root, "top_p", tg_fmt_get(openai, "top_p"));
    const char *user = tg_json_get_str(openai, "user");
    if (user) {
        cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
        cJSON_AddStringToObject(meta, "user_id", user);
    }
    add_tools(root, openai);
    const cJSON *stream = tg_fmt_get(openai, "stream");
    if (cJSON_IsBool(stream))
        cJSON_AddBoolToObject(root, "stream", cJSON_IsTrue(stream));

    tg_buf_json_item(out, root);
    cJSON_Delete(root);
    return 0;
}

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

/* Keeps a content part's cache_control (the convention chat clients use for
 * Anthropic's prompt caching) on the block made from it. */
static void keep_cache_control(cJSON *block, const cJSON *part)
{
    const cJSON *cc = tg_fmt_get(part, "cache_control");
    if (cJSON_IsObject(cc))
        cJSON_AddItemToObject(block, "cache_control", cJSON_Duplicate(cc, true));
}

static cJSON *text_block(const char *text, const cJSON *part)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    keep_cache_control(b, part);
    return b;
}

/* part: the content part the text comes from (for its cache_control), or NULL. */
static void add_text_block(struct conv *c, const char *role, const char *text, const cJSON *part)
{
    if (!text || !*text) /* Anthropic rejects empty text blocks */
        return;
    add_block(c, role, text_block(text, part));
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
        add_text_block(c, role, content->valuestring, NULL);
        return 0;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, tg_fmt_array(content))
    {
        const char *type = tg_json_get_str(part, "type");
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            add_text_block(c, role, tg_json_get_str(part, "text"), part);
        } else if (strcmp(type, "refusal") == 0) {
            add_text_block(c, role, tg_json_get_str(part, "refusal"), part);
        } else if (strcmp(type, "image_url") == 0) {
            cJSON *block;
            if (image_block(part, &block) < 0) {
                tg_fmt_set_why(why, why_len, "image", NULL);
                return -1;
            }
            if (block) {
                keep_cache_control(block, part);
                add_block(c, role, block);
            }
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

/* The system prompt being built: as one string, and as text blocks, which
 * are sent instead when some part asked for cache_control. */
struct sys {
    struct tg_buf text;
    cJSON *blocks;
    bool cached;
};

static void append_system(struct sys *sys, const char *text, size_t len, const cJSON *part)
{
    if (len == 0)
        return;
    if (sys->text.len)
        tg_buf_puts(&sys->text, "\n\n");
    tg_buf_append(&sys->text, text, len);
    cJSON *b = text_block(sys->text.data + sys->text.len - len, part);
    sys->cached |= cJSON_HasObjectItem(b, "cache_control");
    cJSON_AddItemToArray(sys->blocks, b);
}

/* A system message's content: its parts concatenated in the string, one
 * block each in the blocks. */
static void add_system(struct sys *sys, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        append_system(sys, content->valuestring, strlen(content->valuestring), NULL);
        return;
    }
    bool first = true;
    const cJSON *part;
    cJSON_ArrayForEach(part, tg_fmt_array(content))
    {
        const char *type = tg_json_get_str(part, "type");
        const char *text = tg_json_get_str(part, "text");
        if (!text || !*text || (type && strcmp(type, "text") != 0))
            continue;
        if (first) {
            append_system(sys, text, strlen(text), part);
            first = false;
        } else {
            /* parts of one message join with nothing between them */
            tg_buf_puts(&sys->text, text);
            cJSON *b = text_block(text, part);
            sys->cached |= cJSON_HasObjectItem(b, "cache_control");
            cJSON_AddItemToArray(sys->blocks, b);
        }
    }
}

/* Walks the OpenAI messages: system text into sys, turns into c. */
static int convert_messages(const cJSON *messages, struct conv *c, struct sys *sys, char *why,
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
            add_system(sys, content);
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
        if (only && !only->next && tg_fmt_is_type(only, "text") &&
            !cJSON_HasObjectItem(only, "cache_control")) {
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
static void add_response_format(struct sys *sys, const cJSON *req)
{
    const cJSON *rf = tg_fmt_get(req, "response_format");
    const char *type = tg_json_get_str(rf, "type");
    if (!type)
        return;
    static const char plain[] = "Respond with only a single JSON object: no other text, no "
                                "markdown code fences.";
    if (strcmp(type, "json_object") == 0) {
        append_system(sys, plain, strlen(plain), NULL);
    } else if (strcmp(type, "json_schema") == 0) {
        const cJSON *schema = tg_fmt_get(tg_fmt_get(rf, "json_schema"), "schema");
        if (!schema) {
            append_system(sys, plain, strlen(plain), NULL);
            return;
        }
        struct tg_buf text = TG_BUF_INIT;
        tg_buf_puts(&text, "Respond with only a single JSON object that conforms to this JSON "
                           "Schema: no other text, no markdown code fences.\n");
        tg_buf_json_item(&text, schema);
        append_system(sys, text.data, text.len, NULL);
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

/* OpenAI's reasoning_effort as a thinking budget: inside the bands
 * chat_from_messages.c maps budgets back with (low < 4096 <= medium < 16384
 * <= high), so a round trip keeps the effort. Anthropic wants 1024 <= budget
 * < max_tokens; OpenAI's max tokens count reasoning too, so the budget is cut
 * to fit rather than max_tokens raised. Sets *thinking (NULL: none), or
 * returns -1 when the request cannot think as asked on Anthropic. */
static int thinking_of(const cJSON *req, int64_t max_tokens, cJSON **thinking, char *why,
                       size_t why_len)
{
    static const struct {
        const char *effort;
        int64_t budget;
    } budgets[] = {{"minimal", 1024}, {"low", 2048}, {"medium", 8192}, {"high", 24576}};
    *thinking = NULL;
    const char *effort = tg_json_get_str(req, "reasoning_effort");
    if (!effort || strcmp(effort, "none") == 0)
        return 0;
    int64_t budget = 0;
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        if (strcmp(effort, budgets[i].effort) == 0)
            budget = budgets[i].budget;
    }
    if (!budget) {
        tg_fmt_set_why(why, why_len, "reasoning_effort", effort);
        return -1;
    }
    if (max_tokens <= 1024) {
        tg_fmt_set_why(why, why_len, "reasoning_effort with max_tokens<=1024", NULL);
        return -1;
    }
    if (budget >= max_tokens)
        budget = max_tokens - 1;
    /* Anthropic refuses these with thinking on (as OpenAI's reasoning
     * models refuse temperature). */
    const cJSON *t = tg_fmt_get(req, "temperature");
    if (cJSON_IsNumber(t) && t->valuedouble != 1) {
        tg_fmt_set_why(why, why_len, "temperature with reasoning_effort", NULL);
        return -1;
    }
    const cJSON *p = tg_fmt_get(req, "top_p");
    if (cJSON_IsNumber(p) && p->valuedouble < 0.95) {
        tg_fmt_set_why(why, why_len, "top_p with reasoning_effort", NULL);
        return -1;
    }
    const cJSON *tc = tg_fmt_get(req, "tool_choice");
    if ((cJSON_IsString(tc) && strcmp(tc->valuestring, "required") == 0) || cJSON_IsObject(tc)) {
        tg_fmt_set_why(why, why_len, "tool_choice with reasoning_effort", NULL);
        return -1;
    }
    *thinking = cJSON_CreateObject();
    cJSON_AddStringToObject(*thinking, "type", "enabled");
    cJSON_AddNumberToObject(*thinking, "budget_tokens", (double)budget);
    return 0;
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

    int64_t max_tokens = default_max_tokens >= 1 ? default_max_tokens : FALLBACK_MAX_TOKENS;
    if (!positive_count(tg_fmt_get(openai, "max_tokens"), &max_tokens))
        positive_count(tg_fmt_get(openai, "max_completion_tokens"), &max_tokens);
    cJSON *thinking;
    if (thinking_of(openai, max_tokens, &thinking, why, why_len) < 0)
        return -1;

    struct conv c = {cJSON_CreateArray(), NULL, NULL};
    struct sys sys = {TG_BUF_INIT, cJSON_CreateArray(), false};
    if (convert_messages(messages, &c, &sys, why, why_len) < 0) {
        cJSON_Delete(c.msgs);
        cJSON_Delete(thinking);
        tg_buf_free(&sys.text);
        cJSON_Delete(sys.blocks);
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
    cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens);
    if (sys.cached)
        cJSON_AddItemToObject(root, "system", sys.blocks);
    else if (sys.text.len)
        cJSON_AddStringToObject(root, "system", sys.text.data);
    if (!sys.cached)
        cJSON_Delete(sys.blocks);
    tg_buf_free(&sys.text);
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
    if (thinking)
        cJSON_AddItemToObject(root, "thinking", thinking);
    const cJSON *stream = tg_fmt_get(openai, "stream");
    if (cJSON_IsBool(stream))
        cJSON_AddBoolToObject(root, "stream", cJSON_IsTrue(stream));

    tg_buf_json_item(out, root);
    cJSON_Delete(root);
    return 0;
}

/* ==== errors: OpenAI -> Anthropic ==== */

/* The error types Anthropic documents (and sends in stream error events). */
static bool is_anthropic_type(const char *type)
{
    static const char *const types[] = {
        "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
        "request_too_large",     "rate_limit_error",     "api_error",        "overloaded_error",
        "billing_error",         "timeout_error"};
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return true;
    return false;
}

/* {"type":"error","error":{"type","message"}} from an OpenAI error in root
 * (any shape) and the status (0: in a stream, where it says nothing). */
static void anthropic_error(const cJSON *root, int status, struct tg_buf *b)
{
    const cJSON *err = tg_fmt_get(root, "error");
    const char *msg = tg_json_get_str(err, "message");
    if (!msg && cJSON_IsString(err))
        msg = err->valuestring; /* some servers send the text alone */
    const char *code = tg_json_get_str(err, "code");
    char generic[96];
    if (!msg) {
        if (status > 0)
            snprintf(generic, sizeof(generic), "upstream answered HTTP %d", status);
        else
            snprintf(generic, sizeof(generic), "upstream stream failed");
        msg = generic;
    }
    const char *type = tg_fmt_anthropic_error_type(status);
    /* A stream's error has no status: an Anthropic type it already has (an
     * Anthropic upstream's, read as OpenAI's shape) stays; else its code
     * tells what the client may do. */
    const char *given = tg_json_get_str(err, "type");
    if (status == 0 && is_anthropic_type(given))
        type = given;
    else if (status == 0 && (tg_fmt_str_eq(code, "rate_limit_exceeded")))
        type = "rate_limit_error";
    else if (status == 0 && tg_fmt_str_eq(code, "context_length_exceeded"))
        type = "invalid_request_error";
    tg_buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    tg_fmt_put_str(b, type);
    tg_buf_puts(b, ",\"message\":");
    tg_fmt_put_str(b, msg);
    tg_buf_puts(b, "}}");
}

void tg_fmt_messages_from_chat_error(const char *body, size_t len, int status, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    anthropic_error(root, status, out);
    cJSON_Delete(root);
}

void tg_fmt_messages_error_event(struct tg_buf *out, const char *error_body, size_t len)
{
    tg_buf_puts(out, "event: error\ndata: ");
    tg_buf_append(out, error_body, len);
    tg_buf_puts(out, "\n\n");
}

/* ==== whole answers: chat.completion -> Messages ==== */

const char *tg_fmt_messages_stop_reason(const char *finish_reason)
{
    if (tg_fmt_str_eq(finish_reason, "length"))
        return "max_tokens";
    if (tg_fmt_str_eq(finish_reason, "tool_calls") || tg_fmt_str_eq(finish_reason, "function_call"))
        return "tool_use";
    if (tg_fmt_str_eq(finish_reason, "content_filter"))
        return "refusal";
    return "end_turn";
}

/* Anthropic's usage: input_tokens leaves out what was read from the cache,
 * which is counted apart (chat_from_messages.c adds it back). */
static void put_messages_usage(struct tg_buf *b, int64_t prompt, int64_t completion, int64_t cached,
                               bool has_cached)
{
    if (cached > prompt)
        cached = prompt;
    tg_buf_printf(b, "{\"input_tokens\":%lld,", (long long)(prompt - cached));
    if (has_cached)
        tg_buf_printf(b, "\"cache_read_input_tokens\":%lld,", (long long)cached);
    tg_buf_printf(b, "\"output_tokens\":%lld}", (long long)completion);
}

/* The reasoning text a chat message or delta carries: reasoning_content
 * (DeepSeek, vLLM, the gateway's own Anthropic translation), or reasoning
 * (OpenRouter, Ollama). */
static const char *reasoning_of(const cJSON *msg)
{
    const char *r = tg_json_get_str(msg, "reasoning_content");
    return r ? r : tg_json_get_str(msg, "reasoning");
}

/* The text of a message content: a string, or text parts concatenated. */
static void content_text(const cJSON *content, struct tg_buf *b)
{
    if (cJSON_IsString(content)) {
        tg_buf_puts(b, content->valuestring);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, tg_fmt_array(content))
    {
        const char *text = tg_json_get_str(part, "text");
        if (text)
            tg_buf_puts(b, text);
    }
}

/* A tool call as a tool_use block; -1 when its arguments are not an object
 * (a Messages client reads input as one). */
static int put_tool_use(struct tg_buf *b, const cJSON *call)
{
    const cJSON *fn = tg_fmt_get(call, "function");
    const char *args = tg_json_get_str(fn, "arguments");
    cJSON *input = NULL;
    if (args && *args) {
        input = tg_json_parse_generated(args, strlen(args));
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            return -1;
        }
    }
    const char *id = tg_json_get_str(call, "id");
    const char *name = tg_json_get_str(fn, "name");
    tg_buf_puts(b, "{\"type\":\"tool_use\",\"id\":");
    tg_fmt_put_str(b, id ? id : "");
    tg_buf_puts(b, ",\"name\":");
    tg_fmt_put_str(b, name ? name : "");
    tg_buf_puts(b, ",\"input\":");
    if (input)
        tg_buf_json_item(b, input);
    else
        tg_buf_puts(b, "{}");
    tg_buf_putc(b, '}');
    cJSON_Delete(input);
    return 0;
}

int tg_fmt_messages_from_chat_answer(const char *body, size_t len, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    const cJSON *choices = tg_fmt_get(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? choices->child : NULL;
    const cJSON *msg = tg_fmt_get(choice, "message");
    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(root);
        return -1;
    }
    struct tg_buf b = TG_BUF_INIT;
    const char *id = tg_json_get_str(root, "id");
    const char *model = tg_json_get_str(root, "model");
    tg_buf_puts(&b, "{\"id\":");
    tg_fmt_put_str(&b, id ? id : "");
    tg_buf_puts(&b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    tg_fmt_put_str(&b, model ? model : "");
    tg_buf_puts(&b, ",\"content\":[");
    bool first = true;
    const char *reasoning = reasoning_of(msg);
    if (reasoning && *reasoning) {
        /* No chat provider signs its reasoning; Anthropic's SDKs read an
         * empty signature as none. */
        tg_buf_puts(&b, "{\"type\":\"thinking\",\"thinking\":");
        tg_fmt_put_str(&b, reasoning);
        tg_buf_puts(&b, ",\"signature\":\"\"}");
        first = false;
    }
    struct tg_buf text = TG_BUF_INIT;
    content_text(tg_fmt_get(msg, "content"), &text);
    if (!text.len) {
        const char *refusal = tg_json_get_str(msg, "refusal");
        if (refusal)
            tg_buf_puts(&text, refusal);
    }
    if (text.len) {
        if (!first)
            tg_buf_putc(&b, ',');
        tg_buf_puts(&b, "{\"type\":\"text\",\"text\":");
        tg_buf_json_str(&b, text.data, text.len);
        tg_buf_putc(&b, '}');
        first = false;
    }
    tg_buf_free(&text);
    const cJSON *call;
    cJSON_ArrayForEach(call, tg_fmt_array(tg_fmt_get(msg, "tool_calls")))
    {
        if (!first)
            tg_buf_putc(&b, ',');
        first = false;
        if (put_tool_use(&b, call) < 0) {
            tg_buf_free(&b);
            cJSON_Delete(root);
            return -1;
        }
    }
    tg_buf_puts(&b, "],\"stop_reason\":");
    tg_fmt_put_str(&b, tg_fmt_messages_stop_reason(tg_json_get_str(choice, "finish_reason")));
    tg_buf_puts(&b, ",\"stop_sequence\":null,\"usage\":");
    const cJSON *usage = tg_fmt_get(root, "usage");
    const cJSON *cached = tg_fmt_get(tg_fmt_get(usage, "prompt_tokens_details"), "cached_tokens");
    put_messages_usage(&b, tg_fmt_count(tg_fmt_get(usage, "prompt_tokens")),
                       tg_fmt_count(tg_fmt_get(usage, "completion_tokens")), tg_fmt_count(cached),
                       cJSON_IsNumber(cached));
    tg_buf_putc(&b, '}');
    tg_buf_append(out, b.data, b.len);
    tg_buf_free(&b);
    cJSON_Delete(root);
    return 0;
}

/* ==== streams: chat.completion.chunk -> Messages events ==== */

void tg_fmt_messages_from_chat_stream_init(struct tg_fmt_messages_from_chat_stream *s)
{
    memset(s, 0, sizeof(*s));
}

/* Writes "event: NAME\ndata: " ; the caller writes the JSON, then ev_end. */
static void ev_begin(struct tg_buf *out, const char *name)
{
    tg_buf_printf(out, "event: %s\ndata: ", name);
}

static void ev_end(struct tg_buf *out)
{
    tg_buf_puts(out, "\n\n");
}

static void message_start(struct tg_fmt_messages_from_chat_stream *s, struct tg_buf *out)
{
    s->started = true;
    ev_begin(out, "message_start");
    tg_buf_puts(out, "{\"type\":\"message_start\",\"message\":{\"id\":");
    tg_fmt_put_str(out, s->id);
    tg_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    tg_fmt_put_str(out, s->model);
    tg_buf_puts(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                     "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}");
    ev_end(out);
}

static void block_stop(struct tg_fmt_messages_from_chat_stream *s, struct tg_buf *out)
{
    if (s->open == TG_FMT_BLOCK_NONE)
        return;
    ev_begin(out, "content_block_stop");
    tg_buf_printf(out, "{\"type\":\"content_block_stop\",\"index\":%d}", s->open_index);
    ev_end(out);
    s->open = TG_FMT_BLOCK_NONE;
}

/* Opens a text or thinking block unless one of that kind is open. */
static void block_start(struct tg_fmt_messages_from_chat_stream *s, struct tg_buf *out,
                        enum tg_fmt_messages_block kind)
{
    if (s->open == kind)
        return;
    block_stop(s, out);
    s->open = kind;
    s->open_index = s->n_blocks++;
    ev_begin(out, "content_block_start");
    tg_buf_printf(
        out, "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":", s->open_index);
    tg_buf_puts(out, kind == TG_FMT_BLOCK_TEXT
                         ? "{\"type\":\"text\",\"text\":\"\"}}"
                         : "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}");
    ev_end(out);
}

static void block_delta(struct tg_fmt_messages_from_chat_stream *s, struct tg_buf *out,
                        const char *type, const char *field, const char *text)
{
    ev_begin(out, "content_block_delta");
    tg_buf_printf(
        out, "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":", s->open_index);
    tg_fmt_put_str(out, type);
    tg_buf_printf(out, ",\"%s\":", field);
    tg_fmt_put_str(out, text);
    tg_buf_puts(out, "}}");
    ev_end(out);
}

/* One tool call delta. OpenAI streams a call's id and name first, then its
 * arguments in pieces, one call after another; each call is one tool_use
 * block. Arguments for a call whose block was already closed cannot be
 * said in Messages' order: the stream is broken. */
static enum tg_fmt_result tool_delta(struct tg_fmt_messages_from_chat_stream *s, const cJSON *call,
                                     struct tg_buf *out)
{
    const cJSON *idx = tg_fmt_get(call, "index");
    const char *id = tg_json_get_str(call, "id");
    int index;
    if (cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6)
        index = (int)idx->valuedouble;
    else if (id) /* servers that leave out the index (Mistral): an id starts the next call */
        index = s->tools_seen;
    else
        index = s->open == TG_FMT_BLOCK_TOOL ? s->open_tool : 0;
    const cJSON *fn = tg_fmt_get(call, "function");
    const char *name = tg_json_get_str(fn, "name");
    const char *args = tg_json_get_str(fn, "arguments");
    bool is_open = s->open == TG_FMT_BLOCK_TOOL && s->open_tool == index;
    if (!is_open) {
        if (index < s->tools_seen)
            return TG_FMT_BAD;
        block_stop(s, out);
        s->open = TG_FMT_BLOCK_TOOL;
        s->open_tool = index;
        s->tools_seen = index + 1;
        s->open_index = s->n_blocks++;
        ev_begin(out, "content_block_start");
        tg_buf_printf(out,
                      "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":"
                      "{\"type\":\"tool_use\",\"id\":",
                      s->open_index);
        tg_fmt_put_str(out, id ? id : "");
        tg_buf_puts(out, ",\"name\":");
        tg_fmt_put_str(out, name ? name : "");
        tg_buf_puts(out, ",\"input\":{}}}");
        ev_end(out);
    }
    if (args && *args)
        block_delta(s, out, "input_json_delta", "partial_json", args);
    return TG_FMT_CONTINUE;
}

static void read_stream_usage(struct tg_fmt_messages_from_chat_stream *s, const cJSON *usage)
{
    if (!cJSON_IsObject(usage))
        return;
    s->has_usage = true;
    s->prompt_tokens = tg_fmt_count(tg_fmt_get(usage, "prompt_tokens"));
    s->completion_tokens = tg_fmt_count(tg_fmt_get(usage, "completion_tokens"));
    const cJSON *cached = tg_fmt_get(tg_fmt_get(usage, "prompt_tokens_details"), "cached_tokens");
    if (cJSON_IsNumber(cached)) {
        s->cached_tokens = tg_fmt_count(cached);
        s->has_cached = true;
    }
}

static enum tg_fmt_result on_chunk(struct tg_fmt_messages_from_chat_stream *s, const cJSON *root,
                                   struct tg_buf *out)
{
    const cJSON *choices = tg_fmt_get(root, "choices");
    const cJSON *choice = cJSON_IsArray(choices) ? choices->child : NULL;
    if (!s->started && !choice && !cJSON_IsObject(tg_fmt_get(root, "usage")))
        return TG_FMT_CONTINUE; /* Azure's prompt_filter_results chunk: no id or model yet */
    if (!s->started) {
        const char *id = tg_json_get_str(root, "id");
        const char *model = tg_json_get_str(root, "model");
        tg_fmt_copy_trunc(s->id, sizeof(s->id), id ? id : "");
        tg_fmt_copy_trunc(s->model, sizeof(s->model), model ? model : "");
        message_start(s, out);
    }
    read_stream_usage(s, tg_fmt_get(root, "usage"));
    if (!choice)
        return TG_FMT_CONTINUE; /* the usage chunk */
    const cJSON *delta = tg_fmt_get(choice, "delta");
    const char *reasoning = reasoning_of(delta);
    if (reasoning && *reasoning) {
        block_start(s, out, TG_FMT_BLOCK_THINKING);
        block_delta(s, out, "thinking_delta", "thinking", reasoning);
    }
    const char *text = tg_json_get_str(delta, "content");
    if (!text || !*text)
        text = tg_json_get_str(delta, "refusal");
    if (text && *text) {
        block_start(s, out, TG_FMT_BLOCK_TEXT);
        block_delta(s, out, "text_delta", "text", text);
    }
    const cJSON *call;
    cJSON_ArrayForEach(call, tg_fmt_array(tg_fmt_get(delta, "tool_calls")))
    {
        if (tool_delta(s, call, out) == TG_FMT_BAD)
            return TG_FMT_BAD;
    }
    const char *finish = tg_json_get_str(choice, "finish_reason");
    if (finish)
        s->stop_reason = tg_fmt_messages_stop_reason(finish);
    return TG_FMT_CONTINUE;
}

static enum tg_fmt_result on_done(struct tg_fmt_messages_from_chat_stream *s, struct tg_buf *out)
{
    if (!s->started)
        message_start(s, out);
    block_stop(s, out);
    ev_begin(out, "message_delta");
    tg_buf_puts(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    tg_fmt_put_str(out, s->stop_reason ? s->stop_reason : "end_turn");
    tg_buf_puts(out, ",\"stop_sequence\":null},\"usage\":");
    if (s->has_usage)
        put_messages_usage(out, s->prompt_tokens, s->completion_tokens, s->cached_tokens,
                           s->has_cached);
    else
        tg_buf_puts(out, "{\"output_tokens\":0}");
    tg_buf_putc(out, '}');
    ev_end(out);
    ev_begin(out, "message_stop");
    tg_buf_puts(out, "{\"type\":\"message_stop\"}");
    ev_end(out);
    return TG_FMT_DONE;
}

enum tg_fmt_result
tg_fmt_messages_from_chat_stream_event(struct tg_fmt_messages_from_chat_stream *s, const char *data,
                                       size_t len, struct tg_buf *out, char **error_json)
{
    if (data && len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return on_done(s, out);
    cJSON *root = data && len ? tg_json_parse_provider(data, len) : NULL;
    enum tg_fmt_result r;
    if (!cJSON_IsObject(root)) {
        r = TG_FMT_BAD;
    } else if (cJSON_HasObjectItem(root, "error")) {
        if (error_json) {
            struct tg_buf b = TG_BUF_INIT;
            anthropic_error(root, 0, &b);
            *error_json = tg_buf_steal(&b, NULL);
        }
        r = TG_FMT_ERROR;
    } else {
        r = on_chunk(s, root, out);
    }
    cJSON_Delete(root);
    return r;
}

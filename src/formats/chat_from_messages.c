/* OpenAI Chat Completions from Anthropic Messages (see chat_from_messages.h):
 * Messages requests become chat requests (for /v1/messages clients served by
 * chat deployments), and Messages answers, stream events and errors become
 * chat.completion, chat.completion.chunk and OpenAI's error shape (for
 * `anthropic` deployments). Every input comes from a client or an upstream,
 * so each member is read with its type checked: a wrong type is ignored, or
 * makes the request ineligible, and never reaches a NULL dereference. */
#include "formats/chat_from_messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "formats/format.h"
#include "util/json.h"

const char *tg_fmt_chat_finish_reason(const char *stop_reason)
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

/* ==== errors ==== */

/* OpenAI-style codes for the Anthropic error types clients test for. */
static const char *code_for_type(const char *type)
{
    if (tg_fmt_str_eq(type, "rate_limit_error"))
        return "rate_limit_exceeded";
    if (tg_fmt_str_eq(type, "overloaded_error"))
        return "overloaded";
    if (tg_fmt_str_eq(type, "authentication_error"))
        return "invalid_api_key";
    return NULL;
}

/* The error type Anthropic documents for a status, for bodies that say
 * none; a 4xx it names none for is still the request's fault. */
static const char *type_for_status(int status)
{
    const char *type = tg_fmt_anthropic_error_type(status);
    if (strcmp(type, "api_error") == 0 && status >= 400 && status < 500)
        return "invalid_request_error";
    return type;
}

/* OpenAI's error object {"message","type","param":null,"code"} from the
 * Anthropic error in root (any shape), or from the status alone. */
static void error_object(const cJSON *root, int status, struct tg_buf *b)
{
    const cJSON *err = tg_fmt_get(root, "error");
    const char *type = tg_json_get_str(err, "type");
    const char *msg = tg_json_get_str(err, "message");
    const char *code = tg_json_get_str(tg_fmt_get(err, "details"), "error_code");
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
    if (!code && tg_fmt_str_eq(type, "invalid_request_error") &&
        strncmp(msg, "prompt is too long", 18) == 0)
        code = "context_length_exceeded";
    tg_buf_puts(b, "{\"message\":");
    tg_fmt_put_str(b, msg);
    tg_buf_puts(b, ",\"type\":");
    tg_fmt_put_str(b, type);
    tg_buf_puts(b, ",\"param\":null,\"code\":");
    tg_fmt_put_str(b, code);
    tg_buf_putc(b, '}');
}

void tg_fmt_chat_from_messages_error(const char *body, size_t len, int status, struct tg_buf *out)
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
    return tg_fmt_count(tg_fmt_get(usage, "input_tokens")) +
           tg_fmt_count(tg_fmt_get(usage, "cache_creation_input_tokens")) +
           tg_fmt_count(tg_fmt_get(usage, "cache_read_input_tokens"));
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
static void read_cached(struct tg_fmt_chat_from_messages_stream *s, const cJSON *usage)
{
    const cJSON *cached = tg_fmt_get(usage, "cache_read_input_tokens");
    if (cJSON_IsNumber(cached)) {
        s->cached_tokens = tg_fmt_count(cached);
        s->has_cached = true;
    }
}

static void put_tool_call(struct tg_buf *b, const cJSON *block)
{
    const char *id = tg_json_get_str(block, "id");
    const char *name = tg_json_get_str(block, "name");
    const cJSON *input = tg_fmt_get(block, "input");
    tg_buf_puts(b, "{\"id\":");
    tg_fmt_put_str(b, id ? id : "");
    tg_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
    tg_fmt_put_str(b, name ? name : "");
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

int tg_fmt_chat_from_messages_answer(const char *body, size_t len, struct tg_buf *out)
{
    cJSON *root = body && len ? tg_json_parse_provider(body, len) : NULL;
    if (!tg_fmt_str_eq(tg_json_get_str(root, "type"), "message")) {
        cJSON_Delete(root);
        return -1;
    }
    const char *id = tg_json_get_str(root, "id");
    const char *model = tg_json_get_str(root, "model");
    const cJSON *content = tg_fmt_get(root, "content");
    if (!cJSON_IsArray(content))
        content = NULL;

    struct tg_buf text = TG_BUF_INIT, thinking = TG_BUF_INIT;
    bool has_text = false;
    int n_tools = 0;
    const cJSON *block;
    cJSON_ArrayForEach(block, content)
    {
        const char *type = tg_json_get_str(block, "type");
        if (tg_fmt_str_eq(type, "text")) {
            const char *t = tg_json_get_str(block, "text");
            if (t) {
                tg_buf_puts(&text, t);
                has_text = true;
            }
        } else if (tg_fmt_str_eq(type, "tool_use")) {
            n_tools++;
        } else if (tg_fmt_str_eq(type, "thinking")) {
            /* joined as a stream's thinking_delta chunks would be */
            const char *t = tg_json_get_str(block, "thinking");
            if (t)
                tg_buf_puts(&thinking, t);
        }
        /* redacted_thinking (encrypted, nothing to read), server tools:
         * OpenAI has no place. */
    }

    tg_buf_puts(out, "{\"id\":");
    tg_fmt_put_str(out, id ? id : "");
    tg_buf_printf(
        out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":", (long long)time(NULL));
    tg_fmt_put_str(out, model ? model : "");
    tg_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (has_text)
        tg_buf_json_str(out, text.data, text.len);
    else
        tg_buf_puts(out, n_tools ? "null" : "\"\"");
    tg_buf_free(&text);
    /* Reasoning where DeepSeek and vLLM put it, and where the translators
     * to Messages and Responses read it back from. */
    if (thinking.len) {
        tg_buf_puts(out, ",\"reasoning_content\":");
        tg_buf_json_str(out, thinking.data, thinking.len);
    }
    tg_buf_free(&thinking);
    if (n_tools) {
        tg_buf_puts(out, ",\"tool_calls\":[");
        int k = 0;
        cJSON_ArrayForEach(block, content)
        {
            if (!tg_fmt_is_type(block, "tool_use"))
                continue;
            if (k++)
                tg_buf_putc(out, ',');
            put_tool_call(out, block);
        }
        tg_buf_putc(out, ']');
    }
    tg_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":");
    tg_fmt_put_str(out, tg_fmt_chat_finish_reason(tg_json_get_str(root, "stop_reason")));
    tg_buf_puts(out, "}],\"usage\":");
    const cJSON *usage = tg_fmt_get(root, "usage");
    const cJSON *cached = tg_fmt_get(usage, "cache_read_input_tokens");
    struct usage u = {prompt_of(usage), tg_fmt_count(tg_fmt_get(usage, "output_tokens")),
                      tg_fmt_count(cached), cJSON_IsNumber(cached)};
    put_usage(out, &u);
    tg_buf_putc(out, '}');
    cJSON_Delete(root);
    return 0;
}

/* ==== streams ==== */

void tg_fmt_chat_from_messages_stream_init(struct tg_fmt_chat_from_messages_stream *s,
                                           bool include_usage, int64_t created)
{
    memset(s, 0, sizeof(*s));
    s->include_usage = include_usage;
    s->created = created;
    for (size_t i = 0; i < sizeof(s->block_tool) / sizeof(s->block_tool[0]); i++)
        s->block_tool[i] = -1;
}

/* Writes "data: {" and a chunk's id, object, created and model. */
static void chunk_head(const struct tg_fmt_chat_from_messages_stream *s, struct tg_buf *out)
{
    tg_buf_puts(out, "data: {\"id\":");
    tg_buf_json_str(out, s->id, strlen(s->id));
    tg_buf_printf(out, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                  (long long)s->created);
    tg_buf_json_str(out, s->model, strlen(s->model));
}

/* Writes a chunk up to "choices":[{"index":0,"delta": ; the caller writes
 * the delta object and then calls chunk_close. */
static void chunk_open(const struct tg_fmt_chat_from_messages_stream *s, struct tg_buf *out)
{
    chunk_head(s, out);
    tg_buf_puts(out, ",\"choices\":[{\"index\":0,\"delta\":");
}

static void chunk_close(struct tg_buf *out, const char *finish_reason)
{
    tg_buf_puts(out, ",\"logprobs\":null,\"finish_reason\":");
    tg_fmt_put_str(out, finish_reason);
    tg_buf_puts(out, "}]}\n\n");
}

static void tool_delta_chunk(const struct tg_fmt_chat_from_messages_stream *s, struct tg_buf *out,
                             int tool, const char *id, const char *name, const char *args)
{
    chunk_open(s, out);
    tg_buf_printf(out, "{\"tool_calls\":[{\"index\":%d", tool);
    if (id) {
        tg_buf_puts(out, ",\"id\":");
        tg_fmt_put_str(out, id);
        tg_buf_puts(out, ",\"type\":\"function\"");
    }
    tg_buf_puts(out, ",\"function\":{");
    if (name) {
        tg_buf_puts(out, "\"name\":");
        tg_fmt_put_str(out, name);
        tg_buf_putc(out, ',');
    }
    tg_buf_puts(out, "\"arguments\":");
    tg_fmt_put_str(out, args);
    tg_buf_puts(out, "}}]}");
    chunk_close(out, NULL);
}

static enum tg_fmt_result on_message_start(struct tg_fmt_chat_from_messages_stream *s,
                                           const cJSON *root, struct tg_buf *out)
{
    const cJSON *msg = tg_fmt_get(root, "message");
    if (!cJSON_IsObject(msg))
        return TG_FMT_BAD;
    const char *id = tg_json_get_str(msg, "id");
    const char *model = tg_json_get_str(msg, "model");
    if (id)
        tg_fmt_copy_trunc(s->id, sizeof(s->id), id);
    if (model)
        tg_fmt_copy_trunc(s->model, sizeof(s->model), model);
    const cJSON *usage = tg_fmt_get(msg, "usage");
    s->input_tokens = prompt_of(usage);
    s->output_tokens = tg_fmt_count(tg_fmt_get(usage, "output_tokens"));
    read_cached(s, usage);
    chunk_open(s, out);
    tg_buf_puts(out, "{\"role\":\"assistant\",\"content\":\"\"}");
    chunk_close(out, NULL);
    return TG_FMT_CONTINUE;
}

/* The event's block index when it fits the block -> tool table, else -1. */
static int block_index(const struct tg_fmt_chat_from_messages_stream *s, const cJSON *root)
{
    const cJSON *i = tg_fmt_get(root, "index");
    int n = (int)(sizeof(s->block_tool) / sizeof(s->block_tool[0]));
    if (!cJSON_IsNumber(i) || !(i->valuedouble >= 0) || i->valuedouble >= n)
        return -1;
    return (int)i->valuedouble;
}

static enum tg_fmt_result on_block_start(struct tg_fmt_chat_from_messages_stream *s,
                                         const cJSON *root, struct tg_buf *out)
{
    const cJSON *block = tg_fmt_get(root, "content_block");
    if (!cJSON_IsObject(block))
        return TG_FMT_BAD;
    int index = block_index(s, root);
    if (!tg_fmt_is_type(block, "tool_use")) {
        if (index >= 0)
            s->block_tool[index] = -1;
        return TG_FMT_CONTINUE;
    }
    int tool = s->n_tools++;
    if (index >= 0)
        s->block_tool[index] = tool;
    const char *id = tg_json_get_str(block, "id");
    const char *name = tg_json_get_str(block, "name");
    /* Anthropic starts with input {} and streams the text; should a server
     * send the input whole here instead, it is not lost. */
    const cJSON *input = tg_fmt_get(block, "input");
    struct tg_buf args = TG_BUF_INIT;
    if (input && !(cJSON_IsObject(input) && !input->child))
        tg_buf_json_item(&args, input);
    tool_delta_chunk(s, out, tool, id ? id : "", name ? name : "", args.data ? args.data : "");
    tg_buf_free(&args);
    return TG_FMT_CONTINUE;
}

static enum tg_fmt_result on_block_delta(struct tg_fmt_chat_from_messages_stream *s,
                                         const cJSON *root, struct tg_buf *out)
{
    const cJSON *delta = tg_fmt_get(root, "delta");
    if (!cJSON_IsObject(delta))
        return TG_FMT_BAD;
    const char *type = tg_json_get_str(delta, "type");
    bool text_delta = tg_fmt_str_eq(type, "text_delta");
    if (text_delta || tg_fmt_str_eq(type, "thinking_delta")) {
        const char *text = tg_json_get_str(delta, text_delta ? "text" : "thinking");
        if (!text)
            return TG_FMT_BAD;
        if (*text) {
            chunk_open(s, out);
            tg_buf_puts(out, text_delta ? "{\"content\":" : "{\"reasoning_content\":");
            tg_fmt_put_str(out, text);
            tg_buf_putc(out, '}');
            chunk_close(out, NULL);
        }
    } else if (tg_fmt_str_eq(type, "input_json_delta")) {
        const char *part = tg_json_get_str(delta, "partial_json");
        if (!part)
            return TG_FMT_BAD;
        int index = block_index(s, root);
        /* Blocks stream one after another, so past the table's end (or
         * without an index) the delta belongs to the latest tool block; a
         * block the table knows is no tool's (a server tool, which
         * Anthropic runs) has no call to add to. */
        int tool = index >= 0 ? s->block_tool[index] : s->n_tools - 1;
        if (tool >= 0 && *part)
            tool_delta_chunk(s, out, tool, NULL, NULL, part);
    }
    /* signature_delta, citations_delta: nothing chat could say. */
    return TG_FMT_CONTINUE;
}

static enum tg_fmt_result on_message_delta(struct tg_fmt_chat_from_messages_stream *s,
                                           const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return TG_FMT_BAD;
    const char *stop = tg_json_get_str(tg_fmt_get(root, "delta"), "stop_reason");
    if (stop)
        s->finish_reason = tg_fmt_chat_finish_reason(stop);
    const cJSON *usage = tg_fmt_get(root, "usage");
    if (cJSON_IsNumber(tg_fmt_get(usage, "output_tokens")))
        s->output_tokens = tg_fmt_count(tg_fmt_get(usage, "output_tokens"));
    /* Newer API versions repeat the (final) input counts here. */
    if (cJSON_IsNumber(tg_fmt_get(usage, "input_tokens"))) {
        s->input_tokens = prompt_of(usage);
        read_cached(s, usage);
    }
    return TG_FMT_CONTINUE;
}

static enum tg_fmt_result on_message_stop(struct tg_fmt_chat_from_messages_stream *s,
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
    return TG_FMT_DONE;
}

enum tg_fmt_result
tg_fmt_chat_from_messages_stream_event(struct tg_fmt_chat_from_messages_stream *s,
                                       const char *event, const char *data, size_t len,
                                       struct tg_buf *out, char **error_json)
{
    cJSON *root = data && len ? tg_json_parse_provider(data, len) : NULL;
    /* The data's own "type" names the event when no event: line did. */
    const char *name = event && *event ? event : tg_json_get_str(root, "type");
    enum tg_fmt_result r = TG_FMT_CONTINUE;
    if (!name) {
        r = root ? TG_FMT_CONTINUE : TG_FMT_BAD;
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
        r = TG_FMT_ERROR;
    }
    /* ping, content_block_stop and events yet to be invented: nothing. */
    cJSON_Delete(root);
    return r;
}

/* ==== requests: Messages -> chat ==== */

/* Anthropic's thinking budget as OpenAI's reasoning_effort. Anthropic's docs
 * start budgets at 1024 and call 16k+ large; messages_from_chat.c maps the
 * efforts back to 2048 / 8192 / 24576, each inside its own band here, so a
 * round trip keeps the effort:
 *   budget < 4096 -> "low", < 16384 -> "medium", else "high". */
static const char *effort_for_budget(int64_t budget)
{
    if (budget < 4096)
        return "low";
    if (budget < 16384)
        return "medium";
    return "high";
}

/* A chat content part for a text block, cache_control kept on the part. */
static cJSON *text_part(const cJSON *block, const char *text)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "text");
    cJSON_AddStringToObject(p, "text", text);
    const cJSON *cc = tg_fmt_get(block, "cache_control");
    if (cJSON_IsObject(cc))
        cJSON_AddItemToObject(p, "cache_control", cJSON_Duplicate(cc, true));
    return p;
}

/* An image block as an image_url part: a base64 source as a data: URL. */
static int image_part(const cJSON *block, cJSON **part, char *why, size_t why_len)
{
    const cJSON *src = tg_fmt_get(block, "source");
    const char *type = tg_json_get_str(src, "type");
    struct tg_buf url = TG_BUF_INIT;
    if (tg_fmt_str_eq(type, "base64")) {
        const char *media = tg_json_get_str(src, "media_type");
        const char *data = tg_json_get_str(src, "data");
        if (!media || !data) {
            tg_fmt_set_why(why, why_len, "image", NULL);
            return -1;
        }
        tg_buf_printf(&url, "data:%s;base64,%s", media, data);
    } else if (tg_fmt_str_eq(type, "url") && tg_json_get_str(src, "url")) {
        tg_buf_puts(&url, tg_json_get_str(src, "url"));
    } else {
        /* file ids live in Anthropic's Files API: no chat provider has them */
        tg_fmt_set_why(why, why_len, "image", type ? type : "(no source)");
        return -1;
    }
    *part = cJSON_CreateObject();
    cJSON_AddStringToObject(*part, "type", "image_url");
    cJSON *iu = cJSON_AddObjectToObject(*part, "image_url");
    cJSON_AddStringToObject(iu, "url", url.data);
    tg_buf_free(&url);
    return 0;
}

/* A chat message's content from parts: a lone plain text part as a string
 * (what every chat provider reads), else the array. Takes parts. */
static void set_content(cJSON *msg, cJSON *parts)
{
    cJSON *only = parts->child;
    if (only && !only->next && tg_fmt_is_type(only, "text") &&
        !cJSON_HasObjectItem(only, "cache_control")) {
        cJSON_AddStringToObject(msg, "content", tg_json_get_str(only, "text"));
        cJSON_Delete(parts);
    } else {
        cJSON_AddItemToObject(msg, "content", parts);
    }
}

static cJSON *new_message(cJSON *msgs, const char *role)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddItemToArray(msgs, m);
    return m;
}

/* A tool_result's content (a string, or text blocks) as a tool message's. */
static int tool_message(cJSON *msgs, const cJSON *block, char *why, size_t why_len)
{
    const char *id = tg_json_get_str(block, "tool_use_id");
    if (!id) {
        tg_fmt_set_why(why, why_len, "tool_result", "(no tool_use_id)");
        return -1;
    }
    const cJSON *content = tg_fmt_get(block, "content");
    cJSON *parts = cJSON_CreateArray();
    if (cJSON_IsString(content) && *content->valuestring) {
        cJSON_AddItemToArray(parts, text_part(NULL, content->valuestring));
    } else {
        const cJSON *b;
        cJSON_ArrayForEach(b, tg_fmt_array(content))
        {
            const char *text = tg_json_get_str(b, "text");
            if (!tg_fmt_is_type(b, "text") || !text) {
                /* chat tool messages carry text only */
                tg_fmt_set_why(why, why_len, "tool_result",
                               tg_json_get_str(b, "type") ? tg_json_get_str(b, "type") : "?");
                cJSON_Delete(parts);
                return -1;
            }
            if (*text)
                cJSON_AddItemToArray(parts, text_part(b, text));
        }
    }
    /* is_error has no chat field; the result's text is what says what went
     * wrong, and it is kept. */
    cJSON *m = new_message(msgs, "tool");
    cJSON_AddStringToObject(m, "tool_call_id", id);
    if (!parts->child) {
        cJSON_Delete(parts);
        cJSON_AddStringToObject(m, "content", "");
    } else {
        set_content(m, parts);
    }
    return 0;
}

/* A user turn: its tool results first, as tool messages (they answer the
 * assistant turn before), then the rest as one user message. */
static int user_turn(cJSON *msgs, const cJSON *content, char *why, size_t why_len)
{
    cJSON *parts = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const char *type = tg_json_get_str(b, "type");
        if (tg_fmt_str_eq(type, "text")) {
            const char *text = tg_json_get_str(b, "text");
            if (text)
                cJSON_AddItemToArray(parts, text_part(b, text));
        } else if (tg_fmt_str_eq(type, "image")) {
            cJSON *part;
            if (image_part(b, &part, why, why_len) < 0)
                goto fail;
            cJSON_AddItemToArray(parts, part);
        } else if (tg_fmt_str_eq(type, "tool_result")) {
            if (tool_message(msgs, b, why, why_len) < 0)
                goto fail;
        } else {
            /* documents, search results, server tool blocks: nothing in chat */
            tg_fmt_set_why(why, why_len, "block", type ? type : "?");
            goto fail;
        }
    }
    if (parts->child)
        set_content(new_message(msgs, "user"), parts);
    else
        cJSON_Delete(parts);
    return 0;
fail:
    cJSON_Delete(parts);
    return -1;
}

/* An assistant turn: text as content, tool_use blocks as tool_calls with
 * their ids. Earlier thinking blocks are dropped: they matter only to the
 * model that wrote them (Anthropic checks their signatures), and no chat
 * provider takes them back. */
static int assistant_turn(cJSON *msgs, const cJSON *content, char *why, size_t why_len)
{
    cJSON *parts = cJSON_CreateArray();
    cJSON *calls = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const char *type = tg_json_get_str(b, "type");
        if (tg_fmt_str_eq(type, "text")) {
            const char *text = tg_json_get_str(b, "text");
            if (text)
                cJSON_AddItemToArray(parts, text_part(b, text));
        } else if (tg_fmt_str_eq(type, "tool_use")) {
            const char *id = tg_json_get_str(b, "id");
            const char *name = tg_json_get_str(b, "name");
            if (!id || !name) {
                tg_fmt_set_why(why, why_len, "tool_use", "(no id or name)");
                goto fail;
            }
            cJSON *call = cJSON_CreateObject();
            cJSON_AddStringToObject(call, "id", id);
            cJSON_AddStringToObject(call, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "name", name);
            struct tg_buf args = TG_BUF_INIT;
            const cJSON *input = tg_fmt_get(b, "input");
            if (input)
                tg_buf_json_item(&args, input);
            else
                tg_buf_puts(&args, "{}");
            cJSON_AddStringToObject(fn, "arguments", args.data);
            tg_buf_free(&args);
            cJSON_AddItemToArray(calls, call);
        } else if (tg_fmt_str_eq(type, "thinking") || tg_fmt_str_eq(type, "redacted_thinking")) {
            continue;
        } else {
            tg_fmt_set_why(why, why_len, "block", type ? type : "?");
            goto fail;
        }
    }
    cJSON *m = new_message(msgs, "assistant");
    if (parts->child)
        set_content(m, parts);
    else
        cJSON_Delete(parts);
    if (calls->child) {
        if (!cJSON_HasObjectItem(m, "content"))
            cJSON_AddNullToObject(m, "content");
        cJSON_AddItemToObject(m, "tool_calls", calls);
    } else {
        cJSON_Delete(calls);
        if (!cJSON_HasObjectItem(m, "content"))
            cJSON_AddStringToObject(m, "content", "");
    }
    return 0;
fail:
    cJSON_Delete(parts);
    cJSON_Delete(calls);
    return -1;
}

static int add_system(cJSON *msgs, const cJSON *system, char *why, size_t why_len)
{
    if (!system || cJSON_IsNull(system))
        return 0;
    if (cJSON_IsString(system)) {
        if (*system->valuestring)
            cJSON_AddStringToObject(new_message(msgs, "system"), "content", system->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(system)) {
        tg_fmt_set_why(why, why_len, "system", NULL);
        return -1;
    }
    cJSON *parts = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, system)
    {
        const char *text = tg_json_get_str(b, "text");
        if (!tg_fmt_is_type(b, "text") || !text) {
            tg_fmt_set_why(why, why_len, "system", tg_json_get_str(b, "type"));
            cJSON_Delete(parts);
            return -1;
        }
        cJSON_AddItemToArray(parts, text_part(b, text));
    }
    if (parts->child)
        set_content(new_message(msgs, "system"), parts);
    else
        cJSON_Delete(parts);
    return 0;
}

static int convert_turns(cJSON *msgs, const cJSON *turns, char *why, size_t why_len)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, turns)
    {
        const char *role = tg_json_get_str(t, "role");
        const cJSON *content = tg_fmt_get(t, "content");
        bool user = tg_fmt_str_eq(role, "user");
        if (!user && !tg_fmt_str_eq(role, "assistant")) {
            tg_fmt_set_why(why, why_len, "role", role ? role : "(none)");
            return -1;
        }
        if (cJSON_IsString(content)) {
            cJSON_AddStringToObject(new_message(msgs, role), "content", content->valuestring);
            continue;
        }
        if (!cJSON_IsArray(content)) {
            tg_fmt_set_why(why, why_len, "content", NULL);
            return -1;
        }
        if ((user ? user_turn : assistant_turn)(msgs, content, why, why_len) < 0)
            return -1;
    }
    return 0;
}

static int add_tools_chat(cJSON *root, const cJSON *req, char *why, size_t why_len)
{
    const cJSON *list = tg_fmt_get(req, "tools");
    if (!cJSON_IsArray(list) || !list->child)
        return 0;
    cJSON *tools = cJSON_AddArrayToObject(root, "tools");
    const cJSON *t;
    cJSON_ArrayForEach(t, list)
    {
        const char *type = tg_json_get_str(t, "type");
        const char *name = tg_json_get_str(t, "name");
        /* Server tools (web_search_..., bash_..., ...) run at Anthropic. */
        if ((type && strcmp(type, "custom") != 0) || !name) {
            tg_fmt_set_why(why, why_len, "tool", type ? type : "(no name)");
            return -1;
        }
        cJSON *tool = cJSON_CreateObject();
        cJSON_AddStringToObject(tool, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(tool, "function");
        cJSON_AddStringToObject(fn, "name", name);
        const char *desc = tg_json_get_str(t, "description");
        if (desc)
            cJSON_AddStringToObject(fn, "description", desc);
        const cJSON *schema = tg_fmt_get(t, "input_schema");
        if (cJSON_IsObject(schema))
            cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(schema, true));
        /* cache_control on a tool is a caching hint: chat providers cache
         * prefixes on their own, and nothing the answer depends on is lost. */
        cJSON_AddItemToArray(tools, tool);
    }
    const cJSON *tc = tg_fmt_get(req, "tool_choice");
    const char *tc_type = tg_json_get_str(tc, "type");
    if (tg_fmt_str_eq(tc_type, "auto") || tg_fmt_str_eq(tc_type, "none")) {
        cJSON_AddStringToObject(root, "tool_choice", tc_type);
    } else if (tg_fmt_str_eq(tc_type, "any")) {
        cJSON_AddStringToObject(root, "tool_choice", "required");
    } else if (tg_fmt_str_eq(tc_type, "tool") && tg_json_get_str(tc, "name")) {
        cJSON *choice = cJSON_AddObjectToObject(root, "tool_choice");
        cJSON_AddStringToObject(choice, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(choice, "function");
        cJSON_AddStringToObject(fn, "name", tg_json_get_str(tc, "name"));
    } else if (tc && !cJSON_IsNull(tc)) {
        tg_fmt_set_why(why, why_len, "tool_choice", tc_type);
        return -1;
    }
    if (tg_json_get_bool(tc, "disable_parallel_tool_use", false))
        cJSON_AddFalseToObject(root, "parallel_tool_calls");
    return 0;
}

/* stop_sequences as stop: OpenAI takes at most 4. */
static int add_stop_chat(cJSON *root, const cJSON *seqs, char *why, size_t why_len)
{
    if (!cJSON_IsArray(seqs) || !seqs->child)
        return 0;
    if (cJSON_GetArraySize(seqs) > 4) {
        tg_fmt_set_why(why, why_len, "stop_sequences>4", NULL);
        return -1;
    }
    cJSON *stop = cJSON_AddArrayToObject(root, "stop");
    const cJSON *s;
    cJSON_ArrayForEach(s, seqs)
    {
        if (cJSON_IsString(s))
            cJSON_AddItemToArray(stop, cJSON_CreateString(s->valuestring));
    }
    return 0;
}

static int add_thinking(cJSON *root, const cJSON *thinking, char *why, size_t why_len)
{
    const char *type = tg_json_get_str(thinking, "type");
    if (!thinking || cJSON_IsNull(thinking) || tg_fmt_str_eq(type, "disabled"))
        return 0;
    if (!tg_fmt_str_eq(type, "enabled")) {
        tg_fmt_set_why(why, why_len, "thinking", type);
        return -1;
    }
    const cJSON *budget = tg_fmt_get(thinking, "budget_tokens");
    cJSON_AddStringToObject(root, "reasoning_effort", effort_for_budget(tg_fmt_count(budget)));
    return 0;
}

/* Top-level members chat has no way to say, and that change the answer. */
static const char *ineligible_messages(const cJSON *req)
{
    static const char *const unsupported[] = {"top_k", "mcp_servers", "container"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        const cJSON *v = tg_fmt_get(req, unsupported[i]);
        if (v && !cJSON_IsNull(v))
            return unsupported[i];
    }
    return NULL;
}

static void copy_number(cJSON *root, const char *key, const cJSON *v)
{
    if (cJSON_IsNumber(v))
        cJSON_AddNumberToObject(root, key, v->valuedouble);
}

int tg_fmt_chat_from_messages_request(const cJSON *req, const char *model, struct tg_buf *out,
                                      char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    const cJSON *turns = tg_fmt_get(req, "messages");
    if (!cJSON_IsArray(turns) || !turns->child) {
        tg_fmt_set_why(why, why_len, "no messages", NULL);
        return -1;
    }
    const char *no = ineligible_messages(req);
    if (no) {
        tg_fmt_set_why(why, why_len, no, NULL);
        return -1;
    }
    cJSON *root = cJSON_CreateObject();
    if (!model)
        model = tg_json_get_str(req, "model");
    cJSON_AddStringToObject(root, "model", model ? model : "");
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    if (add_system(msgs, tg_fmt_get(req, "system"), why, why_len) < 0 ||
        convert_turns(msgs, turns, why, why_len) < 0 ||
        add_tools_chat(root, req, why, why_len) < 0 ||
        add_stop_chat(root, tg_fmt_get(req, "stop_sequences"), why, why_len) < 0 ||
        add_thinking(root, tg_fmt_get(req, "thinking"), why, why_len) < 0) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *max = tg_fmt_get(req, "max_tokens");
    /* Reasoning models take only max_completion_tokens; the others, and
     * most OpenAI-compatible servers, read max_tokens. */
    if (cJSON_IsNumber(max) && max->valuedouble >= 1)
        cJSON_AddNumberToObject(
            root,
            cJSON_HasObjectItem(root, "reasoning_effort") ? "max_completion_tokens" : "max_tokens",
            (double)tg_fmt_count(max));
    copy_number(root, "temperature", tg_fmt_get(req, "temperature"));
    copy_number(root, "top_p", tg_fmt_get(req, "top_p"));
    const char *user = tg_json_get_str(tg_fmt_get(req, "metadata"), "user_id");
    if (user)
        cJSON_AddStringToObject(root, "user", user);
    if (cJSON_IsTrue(tg_fmt_get(req, "stream"))) {
        cJSON_AddTrueToObject(root, "stream");
        /* A Messages stream reports usage in message_delta: ask for it. */
        cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
        cJSON_AddTrueToObject(so, "include_usage");
    }
    tg_buf_json_item(out, root);
    cJSON_Delete(root);
    return 0;
}

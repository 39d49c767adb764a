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

    struct tg_buf text = TG_BUF_INIT;
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
        }
        /* thinking, redacted_thinking, server tools: OpenAI has no place. */
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
    if (tg_fmt_str_eq(type, "text_delta")) {
        const char *text = tg_json_get_str(delta, "text");
        if (!text)
            return TG_FMT_BAD;
        if (*text) {
            chunk_open(s, out);
            tg_buf_puts(out, "{\"content\":");
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
         * without an index) the delta belongs to the latest tool block. */
        int tool = index >= 0 && s->block_tool[index] >= 0 ? s->block_tool[index] : s->n_tools - 1;
        if (tool >= 0 && *part)
            tool_delta_chunk(s, out, tool, NULL, NULL, part);
    }
    /* thinking_delta, signature_delta, citations_delta: nothing to say. */
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

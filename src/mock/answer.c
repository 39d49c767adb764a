/* Formats the mock's answers in each provider's wire format (see answer.h).
 * Written by hand into one buffer rather than built as cJSON trees: the mock
 * is a load-test target and must stay cheap per request. */
#include "mock/answer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/json.h"

struct pieces {
    struct tg_mock_plan *plan;
    size_t cap;
};

/* Closes the current piece at the body's end, due at at_ms. */
static void piece_end(struct pieces *ps, double at_ms)
{
    struct tg_mock_plan *p = ps->plan;
    if (p->n_pieces == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 32;
        p->pieces = tg_xrealloc(p->pieces, ps->cap * sizeof(*p->pieces));
    }
    p->pieces[p->n_pieces++] = (struct tg_mock_piece){p->body.len, at_ms};
}

static void sse_data_begin(struct tg_buf *b)
{
    tg_buf_puts(b, "data: ");
}

static void sse_end(struct tg_buf *b)
{
    tg_buf_puts(b, "\n\n");
}

static void str(struct tg_buf *b, const char *s)
{
    tg_buf_json_str(b, s, strlen(s));
}

static void token_text(const struct tg_mock_reply *r, size_t k, const char **p, size_t *n)
{
    size_t start = k ? r->token_ends[k - 1] : 0;
    *p = r->text + start;
    *n = r->token_ends[k] - start;
}

/* Chat's usage carries the token details OpenAI always sends (the SDKs'
 * types have them; cached_tokens is what prompt caching reports); the
 * legacy completions' does not. */
static void usage_openai(struct tg_buf *b, const struct tg_mock_reply *r, bool chat)
{
    tg_buf_printf(b,
                  "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                  "\"total_tokens\":%lld",
                  (long long)r->prompt_tokens, (long long)r->completion_tokens,
                  (long long)(r->prompt_tokens + r->completion_tokens));
    if (chat)
        tg_buf_puts(b, ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                       "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                       "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}");
    tg_buf_putc(b, '}');
}

/* How many of a stream's n token pieces go out: all, or those before a
 * scripted stream error (which then follows, at the last piece's time). */
static size_t pieces_before_error(const struct tg_mock_reply *r, size_t n)
{
    int64_t e = r->stream_error_after;
    return e >= 0 && (size_t)e < n ? (size_t)e : n;
}

/* ---- OpenAI chat ---- */

static void chat_head(struct tg_buf *b, const struct tg_mock_reply *r, const char *object)
{
    tg_buf_puts(b, "{\"id\":");
    str(b, r->id);
    tg_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object,
                  (long long)r->created);
    str(b, r->model);
    tg_buf_puts(b, ",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
}

static void tool_call_json(struct tg_buf *b, const struct tg_mock_reply *r, bool with_index)
{
    tg_buf_puts(b, "[{");
    if (with_index)
        tg_buf_puts(b, "\"index\":0,");
    tg_buf_puts(b, "\"id\":");
    str(b, r->tool_id);
    tg_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
    str(b, r->tool_name);
    tg_buf_puts(b, ",\"arguments\":");
    str(b, with_index ? "" : r->tool_args);
    tg_buf_puts(b, "}}]");
}

/* logprobs: made-up but steady values per token position. */
static double token_logprob(size_t k, int rank)
{
    return -(double)((k * 7919 + 13) % 250) / 100.0 - 1.5 * rank;
}

static void token_entry(struct tg_buf *b, const struct tg_mock_reply *r, size_t k, int rank)
{
    const char *p;
    size_t len;
    token_text(r, k, &p, &len);
    tg_buf_puts(b, "{\"token\":");
    tg_buf_json_str(b, p, len);
    tg_buf_printf(b, ",\"logprob\":%.4f,\"bytes\":[", token_logprob(k, rank));
    for (size_t i = 0; i < len; i++)
        tg_buf_printf(b, "%s%u", i ? "," : "", (unsigned char)p[i]);
    tg_buf_putc(b, ']');
}

/* A choice's "logprobs" for tokens [from, to): null unless asked; the top
 * alternatives are the token itself, then other tokens of the answer, each
 * less likely. Tool calls have none for their content. */
static void chat_logprobs(struct tg_buf *b, const struct tg_mock_reply *r, size_t from, size_t to)
{
    if (!r->logprobs) {
        tg_buf_puts(b, "null");
        return;
    }
    if (r->tool_name) {
        tg_buf_puts(b, "{\"content\":null,\"refusal\":null}");
        return;
    }
    tg_buf_puts(b, "{\"content\":[");
    for (size_t k = from; k < to; k++) {
        if (k > from)
            tg_buf_putc(b, ',');
        token_entry(b, r, k, 0);
        tg_buf_puts(b, ",\"top_logprobs\":[");
        for (int j = 0; j < r->top_logprobs; j++) {
            if (j)
                tg_buf_putc(b, ',');
            token_entry(b, r, (k + (size_t)j) % r->n_tokens, j);
            tg_buf_putc(b, '}');
        }
        tg_buf_puts(b, "]}");
    }
    tg_buf_puts(b, "],\"refusal\":null}");
}

static void chat_whole(const struct tg_mock_reply *r, struct tg_buf *b)
{
    chat_head(b, r, "chat.completion");
    for (int c = 0; c < r->n_choices; c++) {
        tg_buf_printf(b, "%s{\"index\":%d,\"message\":{\"role\":\"assistant\",\"content\":",
                      c ? "," : "", c);
        if (r->tool_name) /* a tool-call answer has content null */
            tg_buf_puts(b, "null");
        else
            str(b, r->text);
        if (r->tool_name) {
            tg_buf_puts(b, ",\"tool_calls\":");
            tool_call_json(b, r, false);
        }
        tg_buf_puts(b, ",\"refusal\":null,\"annotations\":[]},\"logprobs\":");
        chat_logprobs(b, r, 0, r->n_tokens);
        tg_buf_puts(b, ",\"finish_reason\":");
        str(b, r->finish_reason);
        tg_buf_putc(b, '}');
    }
    tg_buf_puts(b, "],");
    usage_openai(b, r, true);
    tg_buf_puts(b, ",\"service_tier\":\"default\"}");
}

/* "data: " and a chunk's head up to its choices: the same for every chunk
 * of a stream, so formatted once. */
static void chunk_head(struct tg_buf *head, const struct tg_mock_reply *r, const char *object)
{
    sse_data_begin(head);
    chat_head(head, r, object);
}

static void chat_chunk_begin(struct tg_buf *b, const struct tg_buf *head, int choice)
{
    tg_buf_append(b, head->data, head->len);
    tg_buf_printf(b, "{\"index\":%d,\"delta\":{", choice);
}

/* Closes a chunk; `token` is the text token it carries (its logprobs go
 * along when asked), or -1. */
static void chat_chunk_end(struct tg_buf *b, const struct tg_mock_reply *r, long token,
                           const char *finish_reason)
{
    tg_buf_puts(b, "},\"logprobs\":");
    if (token >= 0 && !r->tool_name)
        chat_logprobs(b, r, (size_t)token, (size_t)token + 1);
    else
        tg_buf_puts(b, "null");
    tg_buf_puts(b, ",\"finish_reason\":");
    if (finish_reason)
        str(b, finish_reason);
    else
        tg_buf_puts(b, "null");
    tg_buf_puts(b, "}]}");
    sse_end(b);
}

/* stream_options.include_usage: a last chunk with no choices and the usage. */
static void usage_chunk(struct tg_buf *b, const struct tg_buf *head, const struct tg_mock_reply *r,
                        bool chat)
{
    tg_buf_append(b, head->data, head->len);
    tg_buf_puts(b, "],");
    usage_openai(b, r, chat);
    tg_buf_putc(b, '}');
    sse_end(b);
}

static void openai_stream_error(struct tg_buf *b, const struct tg_mock_reply *r)
{
    sse_data_begin(b);
    tg_buf_puts(b, "{\"error\":{\"message\":");
    str(b, r->stream_error_message ? r->stream_error_message
                                   : "The server had an error while processing your request.");
    tg_buf_puts(b, ",\"type\":");
    str(b, r->stream_error_type ? r->stream_error_type : "server_error");
    tg_buf_puts(b, ",\"param\":null,\"code\":null}}");
    sse_end(b);
}

/* Streamed tool arguments go in fragments of about 8 bytes, as providers
 * send them, never cutting a UTF-8 character. Returns the fragment count;
 * ends[k] is where fragment k ends. */
#define ARG_FRAGMENT 8

static size_t arg_fragments(const char *args, size_t **ends)
{
    size_t len = strlen(args), n = 0, at = 0;
    *ends = tg_xmalloc((len / ARG_FRAGMENT + 2) * sizeof(size_t));
    while (at < len) {
        size_t end = at + ARG_FRAGMENT < len ? at + ARG_FRAGMENT : len;
        while (end < len && ((unsigned char)args[end] & 0xC0) == 0x80)
            end++; /* a continuation byte: the character goes on */
        (*ends)[n++] = end;
        at = end;
    }
    return n;
}

/* One content piece of choice c: token k of the text, or fragment k of the
 * tool arguments. */
static void chat_content_chunk(struct tg_buf *b, const struct tg_buf *head,
                               const struct tg_mock_reply *r, int c, size_t k,
                               const size_t *frag_ends)
{
    chat_chunk_begin(b, head, c);
    if (r->tool_name) {
        size_t from = k ? frag_ends[k - 1] : 0;
        tg_buf_puts(b, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
        tg_buf_json_str(b, r->tool_args + from, frag_ends[k] - from);
        tg_buf_puts(b, "}}]");
    } else {
        const char *p;
        size_t len;
        token_text(r, k, &p, &len);
        tg_buf_puts(b, "\"content\":");
        tg_buf_json_str(b, p, len);
    }
    chat_chunk_end(b, r, (long)k, NULL);
}

static void chat_stream(const struct tg_mock_reply *r, struct tg_mock_plan *plan)
{
    struct pieces ps = {plan, 0};
    struct tg_buf *b = &plan->body;
    double t = r->first_ms;
    size_t *frag_ends = NULL;
    size_t n = r->tool_name ? arg_fragments(r->tool_args, &frag_ends) : r->n_tokens;
    struct tg_buf head = TG_BUF_INIT;
    chunk_head(&head, r, "chat.completion.chunk");
    /* Every choice opens with its role chunk; each later piece carries the
     * next token of every choice, as OpenAI interleaves them. */
    for (int c = 0; c < r->n_choices; c++) {
        chat_chunk_begin(b, &head, c);
        if (r->tool_name) {
            tg_buf_puts(b, "\"role\":\"assistant\",\"content\":null,\"tool_calls\":");
            tool_call_json(b, r, true);
        } else {
            tg_buf_puts(b, "\"role\":\"assistant\",\"content\":\"\",\"refusal\":null");
        }
        chat_chunk_end(b, r, -1, NULL);
    }
    piece_end(&ps, t);
    plan->hang_after = 1;
    size_t sent = pieces_before_error(r, n);
    for (size_t k = 0; k < sent; k++) {
        if (k > 0)
            t += r->interval_ms;
        for (int c = 0; c < r->n_choices; c++)
            chat_content_chunk(b, &head, r, c, k, frag_ends);
        piece_end(&ps, t);
    }
    free(frag_ends);
    if (r->stream_error_after >= 0) {
        openai_stream_error(b, r);
        piece_end(&ps, t);
        tg_buf_free(&head);
        return;
    }
    for (int c = 0; c < r->n_choices; c++) {
        chat_chunk_begin(b, &head, c);
        chat_chunk_end(b, r, -1, r->finish_reason);
    }
    if (r->include_usage)
        usage_chunk(b, &head, r, true);
    tg_buf_puts(b, "data: [DONE]\n\n");
    piece_end(&ps, t);
    tg_buf_free(&head);
}

/* ---- OpenAI completions ---- */

static void completion_whole(const struct tg_mock_reply *r, struct tg_buf *b)
{
    chat_head(b, r, "text_completion");
    for (int c = 0; c < r->n_choices; c++) {
        tg_buf_printf(b, "%s{\"text\":", c ? "," : "");
        str(b, r->text);
        tg_buf_printf(b, ",\"index\":%d,\"logprobs\":null,\"finish_reason\":", c);
        str(b, r->finish_reason);
        tg_buf_putc(b, '}');
    }
    tg_buf_puts(b, "],");
    usage_openai(b, r, false);
    tg_buf_putc(b, '}');
}

static void completion_chunk(struct tg_buf *b, const struct tg_buf *head, int choice,
                             const char *p, size_t len, const char *finish_reason)
{
    tg_buf_append(b, head->data, head->len);
    tg_buf_puts(b, "{\"text\":");
    tg_buf_json_str(b, p, len);
    tg_buf_printf(b, ",\"index\":%d,\"logprobs\":null,\"finish_reason\":", choice);
    if (finish_reason)
        str(b, finish_reason);
    else
        tg_buf_puts(b, "null");
    tg_buf_puts(b, "}]}");
    sse_end(b);
}

static void completion_stream(const struct tg_mock_reply *r, struct tg_mock_plan *plan)
{
    struct pieces ps = {plan, 0};
    struct tg_buf *b = &plan->body;
    double t = r->first_ms;
    plan->hang_after = 0;
    struct tg_buf head = TG_BUF_INIT;
    chunk_head(&head, r, "text_completion");
    size_t sent = pieces_before_error(r, r->n_tokens);
    for (size_t k = 0; k < sent; k++) {
        if (k > 0)
            t += r->interval_ms;
        const char *p;
        size_t len;
        token_text(r, k, &p, &len);
        for (int c = 0; c < r->n_choices; c++) /* interleaved, as OpenAI sends n > 1 */
            completion_chunk(b, &head, c, p, len, NULL);
        piece_end(&ps, t);
    }
    if (r->stream_error_after >= 0) {
        openai_stream_error(b, r);
        piece_end(&ps, t);
    } else {
        for (int c = 0; c < r->n_choices; c++)
            completion_chunk(b, &head, c, "", 0, r->finish_reason);
        if (r->include_usage)
            usage_chunk(b, &head, r, false);
        tg_buf_puts(b, "data: [DONE]\n\n");
        piece_end(&ps, t);
    }
    tg_buf_free(&head);
}

/* ---- embeddings ---- */

/* Writes v in [-1, 1] with 9 decimals, without printf (1536 per input). */
static void put_unit_float(struct tg_buf *b, double v)
{
    char tmp[16];
    size_t n = 0;
    if (v < 0) {
        tmp[n++] = '-';
        v = -v;
    }
    long long scaled = llround(v * 1e9);
    tmp[n++] = (char)('0' + scaled / 1000000000);
    tmp[n++] = '.';
    long long frac = scaled % 1000000000;
    for (long long d = 100000000; d > 0; d /= 10)
        tmp[n++] = (char)('0' + (frac / d) % 10);
    tg_buf_append(b, tmp, n);
}

/* The vector of one input: uniform draws from its seed, scaled to unit
 * length, as float32 (what the provider computes and sends). Uniform rather
 * than normal draws: a third of the cost, and nobody reads the direction. */
static void embedding_vector(uint64_t seed, float *v, int dims)
{
    struct tg_rand rand;
    tg_rand_seed(&rand, seed);
    double sum = 0;
    for (int d = 0; d < dims; d++) {
        double x = tg_rand_unit(&rand) * 2.0 - 1.0;
        v[d] = (float)x;
        sum += x * x;
    }
    double norm = sqrt(sum) > 0 ? sqrt(sum) : 1;
    for (int d = 0; d < dims; d++)
        v[d] = (float)(v[d] / norm);
}

/* The vector's float32 values, little-endian, in standard base64. */
static void put_base64_floats(struct tg_buf *b, const float *v, int dims)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (size_t)dims * 4;
    unsigned char *bytes = tg_xmalloc(n);
    for (int d = 0; d < dims; d++) {
        uint32_t u;
        memcpy(&u, &v[d], 4);
        for (int k = 0; k < 4; k++)
            bytes[4 * d + k] = (unsigned char)(u >> (8 * k));
    }
    tg_buf_reserve(b, n / 3 * 4 + 4);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)bytes[i] << 16;
        if (i + 1 < n)
            w |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < n)
            w |= bytes[i + 2];
        char q[4] = {tab[(w >> 18) & 63], tab[(w >> 12) & 63],
                     i + 1 < n ? tab[(w >> 6) & 63] : '=', i + 2 < n ? tab[w & 63] : '='};
        tg_buf_append(b, q, 4);
    }
    free(bytes);
}

static void embeddings_whole(const struct tg_mock_reply *r, struct tg_buf *b)
{
    tg_buf_puts(b, "{\"object\":\"list\",\"data\":[");
    tg_buf_reserve(b, (size_t)r->n_inputs * (size_t)r->dims * (r->base64 ? 6 : 13) + 64);
    float *v = tg_xmalloc((size_t)r->dims * sizeof(float));
    for (int i = 0; i < r->n_inputs; i++) {
        tg_buf_printf(b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":",
                      i ? "," : "", i);
        embedding_vector(r->input_seeds[i], v, r->dims);
        if (r->base64) {
            tg_buf_putc(b, '"');
            put_base64_floats(b, v, r->dims);
            tg_buf_putc(b, '"');
        } else {
            tg_buf_putc(b, '[');
            for (int d = 0; d < r->dims; d++) {
                if (d)
                    tg_buf_putc(b, ',');
                put_unit_float(b, v[d]);
            }
            tg_buf_putc(b, ']');
        }
        tg_buf_putc(b, '}');
    }
    free(v);
    tg_buf_puts(b, "],\"model\":");
    str(b, r->model);
    tg_buf_printf(b, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}",
                  (long long)r->prompt_tokens, (long long)r->prompt_tokens);
}

/* ---- Anthropic messages ---- */

static const char *anthropic_stop_reason(const char *finish_reason)
{
    if (strcmp(finish_reason, "stop") == 0)
        return "end_turn";
    if (strcmp(finish_reason, "length") == 0)
        return "max_tokens";
    if (strcmp(finish_reason, "tool_calls") == 0)
        return "tool_use";
    if (strcmp(finish_reason, "content_filter") == 0)
        return "refusal";
    return finish_reason;
}

static void messages_whole(const struct tg_mock_reply *r, struct tg_buf *b)
{
    tg_buf_puts(b, "{\"id\":");
    str(b, r->id);
    tg_buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    str(b, r->model);
    tg_buf_puts(b, ",\"content\":[");
    if (r->tool_name) {
        tg_buf_puts(b, "{\"type\":\"tool_use\",\"id\":");
        str(b, r->tool_id);
        tg_buf_puts(b, ",\"name\":");
        str(b, r->tool_name);
        tg_buf_printf(b, ",\"input\":%s}", r->tool_args);
    } else if (r->text[0]) {
        tg_buf_puts(b, "{\"type\":\"text\",\"text\":");
        str(b, r->text);
        tg_buf_putc(b, '}');
    }
    tg_buf_puts(b, "],\"stop_reason\":");
    str(b, anthropic_stop_reason(r->finish_reason));
    tg_buf_printf(b,
                  ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld}}",
                  (long long)r->prompt_tokens, (long long)r->completion_tokens);
}

static void anthropic_event(struct tg_buf *b, const char *name)
{
    tg_buf_puts(b, "event: ");
    tg_buf_puts(b, name);
    tg_buf_puts(b, "\ndata: ");
}

static void anthropic_stream_error(struct tg_buf *b, const struct tg_mock_reply *r)
{
    anthropic_event(b, "error");
    tg_buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    str(b, r->stream_error_type ? r->stream_error_type : "overloaded_error");
    tg_buf_puts(b, ",\"message\":");
    str(b, r->stream_error_message ? r->stream_error_message : "Overloaded");
    tg_buf_puts(b, "}}");
    sse_end(b);
}

static void messages_stream(const struct tg_mock_reply *r, struct tg_mock_plan *plan)
{
    struct pieces ps = {plan, 0};
    struct tg_buf *b = &plan->body;
    double t = r->first_ms;
    anthropic_event(b, "message_start");
    tg_buf_puts(b, "{\"type\":\"message_start\",\"message\":{\"id\":");
    str(b, r->id);
    tg_buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    str(b, r->model);
    tg_buf_printf(b,
                  ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
                  "{\"input_tokens\":%lld,\"output_tokens\":1}}}",
                  (long long)r->prompt_tokens);
    sse_end(b);
    anthropic_event(b, "content_block_start");
    if (r->tool_name) {
        tg_buf_puts(b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                       "{\"type\":\"tool_use\",\"id\":");
        str(b, r->tool_id);
        tg_buf_puts(b, ",\"name\":");
        str(b, r->tool_name);
        tg_buf_puts(b, ",\"input\":{}}}");
    } else {
        tg_buf_puts(b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                       "{\"type\":\"text\",\"text\":\"\"}}");
    }
    sse_end(b);
    anthropic_event(b, "ping");
    tg_buf_puts(b, "{\"type\":\"ping\"}");
    sse_end(b);
    piece_end(&ps, t);
    plan->hang_after = 1;

    size_t *frag_ends = NULL;
    size_t n = r->tool_name ? arg_fragments(r->tool_args, &frag_ends) : r->n_tokens;
    size_t sent = pieces_before_error(r, n);
    for (size_t k = 0; k < sent; k++) {
        if (k > 0)
            t += r->interval_ms;
        anthropic_event(b, "content_block_delta");
        tg_buf_puts(b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":");
        if (r->tool_name) {
            size_t from = k ? frag_ends[k - 1] : 0;
            tg_buf_puts(b, "{\"type\":\"input_json_delta\",\"partial_json\":");
            tg_buf_json_str(b, r->tool_args + from, frag_ends[k] - from);
        } else {
            const char *p;
            size_t len;
            token_text(r, k, &p, &len);
            tg_buf_puts(b, "{\"type\":\"text_delta\",\"text\":");
            tg_buf_json_str(b, p, len);
        }
        tg_buf_puts(b, "}}");
        sse_end(b);
        piece_end(&ps, t);
    }
    free(frag_ends);
    if (r->stream_error_after >= 0) {
        anthropic_stream_error(b, r);
        piece_end(&ps, t);
        return;
    }
    anthropic_event(b, "content_block_stop");
    tg_buf_puts(b, "{\"type\":\"content_block_stop\",\"index\":0}");
    sse_end(b);
    anthropic_event(b, "message_delta");
    tg_buf_puts(b, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    str(b, anthropic_stop_reason(r->finish_reason));
    tg_buf_printf(b, ",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%lld}}",
                  (long long)r->completion_tokens);
    sse_end(b);
    anthropic_event(b, "message_stop");
    tg_buf_puts(b, "{\"type\":\"message_stop\"}");
    sse_end(b);
    piece_end(&ps, t);
}

/* ---- OpenAI Responses API ---- */

/* The ids of the answer's output item: "msg_..." or "fc_..." after the
 * response's own "resp_..." suffix. */
static void item_id(struct tg_buf *b, const struct tg_mock_reply *r)
{
    const char *suffix = strncmp(r->id, "resp_", 5) == 0 ? r->id + 5 : r->id;
    tg_buf_printf(b, "\"%s_%s\"", r->tool_name ? "fc" : "msg", suffix);
}

/* The output item; `done` false: as announced when it starts (no text yet).
 * An answer cut by its token limit leaves its item incomplete, as OpenAI's do. */
static void response_item(struct tg_buf *b, const struct tg_mock_reply *r, bool done)
{
    const char *status = !done                                    ? "in_progress"
                         : strcmp(r->finish_reason, "length") == 0 ? "incomplete"
                                                                   : "completed";
    if (r->tool_name) {
        tg_buf_puts(b, "{\"type\":\"function_call\",\"id\":");
        item_id(b, r);
        tg_buf_puts(b, ",\"call_id\":");
        str(b, r->tool_id);
        tg_buf_puts(b, ",\"name\":");
        str(b, r->tool_name);
        tg_buf_puts(b, ",\"arguments\":");
        str(b, done ? r->tool_args : "");
        tg_buf_printf(b, ",\"status\":\"%s\"}", status);
        return;
    }
    tg_buf_puts(b, "{\"type\":\"message\",\"id\":");
    item_id(b, r);
    tg_buf_printf(b, ",\"status\":\"%s\",\"role\":\"assistant\",\"content\":[", status);
    if (done) {
        tg_buf_puts(b, "{\"type\":\"output_text\",\"text\":");
        str(b, r->text);
        tg_buf_puts(b, ",\"annotations\":[],\"logprobs\":[]}");
    }
    tg_buf_puts(b, "]}");
}

/* The response object: in progress (no output, no usage) or finished. */
static void response_object(struct tg_buf *b, const struct tg_mock_reply *r, bool done)
{
    bool cut = done && strcmp(r->finish_reason, "length") == 0;
    tg_buf_puts(b, "{\"id\":");
    str(b, r->id);
    tg_buf_printf(b, ",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
                     "\"error\":null,\"incomplete_details\":%s,\"model\":",
                  (long long)r->created, !done ? "in_progress" : cut ? "incomplete" : "completed",
                  cut ? "{\"reason\":\"max_output_tokens\"}" : "null");
    str(b, r->model);
    tg_buf_puts(b, ",\"output\":[");
    if (done)
        response_item(b, r, true);
    tg_buf_puts(b, "],\"usage\":");
    if (done)
        tg_buf_printf(b,
                      "{\"input_tokens\":%lld,\"input_tokens_details\":{\"cached_tokens\":0},"
                      "\"output_tokens\":%lld,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                      "\"total_tokens\":%lld}",
                      (long long)r->prompt_tokens, (long long)r->completion_tokens,
                      (long long)(r->prompt_tokens + r->completion_tokens));
    else
        tg_buf_puts(b, "null");
    tg_buf_puts(b, "}");
}

/* "event: NAME" and the data's head up to its sequence number; the caller
 * adds the event's own members and the closing brace. */
static void response_event(struct tg_buf *b, const char *name, int *seq)
{
    tg_buf_printf(b, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%d", name, name,
                  (*seq)++);
}

static void response_event_end(struct tg_buf *b)
{
    tg_buf_putc(b, '}');
    sse_end(b);
}

/* The position members of an event about the output item's content. */
static void item_ref(struct tg_buf *b, const struct tg_mock_reply *r, bool with_content)
{
    tg_buf_puts(b, ",\"item_id\":");
    item_id(b, r);
    tg_buf_puts(b, ",\"output_index\":0");
    if (with_content)
        tg_buf_puts(b, ",\"content_index\":0");
}

static void responses_stream(const struct tg_mock_reply *r, struct tg_mock_plan *plan)
{
    struct pieces ps = {plan, 0};
    struct tg_buf *b = &plan->body;
    double t = r->first_ms;
    int seq = 0;
    static const char *const opening[] = {"response.created", "response.in_progress"};
    for (int i = 0; i < 2; i++) {
        response_event(b, opening[i], &seq);
        tg_buf_puts(b, ",\"response\":");
        response_object(b, r, false);
        response_event_end(b);
    }
    response_event(b, "response.output_item.added", &seq);
    tg_buf_puts(b, ",\"output_index\":0,\"item\":");
    response_item(b, r, false);
    response_event_end(b);
    if (!r->tool_name) {
        response_event(b, "response.content_part.added", &seq);
        item_ref(b, r, true);
        tg_buf_puts(b, ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}");
        response_event_end(b);
    }
    piece_end(&ps, t);
    plan->hang_after = 1;

    size_t *frag_ends = NULL;
    size_t n = r->tool_name ? arg_fragments(r->tool_args, &frag_ends) : r->n_tokens;
    size_t sent = pieces_before_error(r, n);
    for (size_t k = 0; k < sent; k++) {
        if (k > 0)
            t += r->interval_ms;
        if (r->tool_name) {
            size_t from = k ? frag_ends[k - 1] : 0;
            response_event(b, "response.function_call_arguments.delta", &seq);
            item_ref(b, r, false);
            tg_buf_puts(b, ",\"delta\":");
            tg_buf_json_str(b, r->tool_args + from, frag_ends[k] - from);
        } else {
            const char *p;
            size_t len;
            token_text(r, k, &p, &len);
            response_event(b, "response.output_text.delta", &seq);
            item_ref(b, r, true);
            tg_buf_puts(b, ",\"delta\":");
            tg_buf_json_str(b, p, len);
            tg_buf_puts(b, ",\"logprobs\":[]");
        }
        response_event_end(b);
        piece_end(&ps, t);
    }
    free(frag_ends);
    if (r->stream_error_after >= 0) {
        response_event(b, "error", &seq);
        tg_buf_puts(b, ",\"code\":");
        str(b, r->stream_error_type ? r->stream_error_type : "server_error");
        tg_buf_puts(b, ",\"message\":");
        str(b, r->stream_error_message
                   ? r->stream_error_message
                   : "The server had an error while processing your request.");
        tg_buf_puts(b, ",\"param\":null");
        response_event_end(b);
        piece_end(&ps, t);
        return;
    }
    if (r->tool_name) {
        response_event(b, "response.function_call_arguments.done", &seq);
        item_ref(b, r, false);
        tg_buf_puts(b, ",\"arguments\":");
        str(b, r->tool_args);
        response_event_end(b);
    } else {
        response_event(b, "response.output_text.done", &seq);
        item_ref(b, r, true);
        tg_buf_puts(b, ",\"text\":");
        str(b, r->text);
        tg_buf_puts(b, ",\"logprobs\":[]");
        response_event_end(b);
        response_event(b, "response.content_part.done", &seq);
        item_ref(b, r, true);
        tg_buf_puts(b, ",\"part\":{\"type\":\"output_text\",\"text\":");
        str(b, r->text);
        tg_buf_puts(b, ",\"annotations\":[]}");
        response_event_end(b);
    }
    response_event(b, "response.output_item.done", &seq);
    tg_buf_puts(b, ",\"output_index\":0,\"item\":");
    response_item(b, r, true);
    response_event_end(b);
    response_event(b,
                   strcmp(r->finish_reason, "length") == 0 ? "response.incomplete"
                                                           : "response.completed",
                   &seq);
    tg_buf_puts(b, ",\"response\":");
    response_object(b, r, true);
    response_event_end(b);
    piece_end(&ps, t);
}

void tg_mock_answer_format(const struct tg_mock_reply *r, struct tg_mock_plan *plan)
{
    plan->status = 200;
    plan->stream = r->stream && r->api != TG_MOCK_API_EMBEDDINGS;
    plan->delay_ms = r->first_ms;
    if (plan->stream)
        tg_buf_puts(&plan->headers,
                    "Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n");
    else
        tg_buf_puts(&plan->headers, "Content-Type: application/json\r\n");
    switch (r->api) {
    case TG_MOCK_API_CHAT:
        if (plan->stream)
            chat_stream(r, plan);
        else
            chat_whole(r, &plan->body);
        break;
    case TG_MOCK_API_COMPLETIONS:
        if (plan->stream)
            completion_stream(r, plan);
        else
            completion_whole(r, &plan->body);
        break;
    case TG_MOCK_API_EMBEDDINGS:
        embeddings_whole(r, &plan->body);
        break;
    case TG_MOCK_API_MESSAGES:
        if (plan->stream)
            messages_stream(r, plan);
        else
            messages_whole(r, &plan->body);
        break;
    case TG_MOCK_API_RESPONSES:
        if (plan->stream)
            responses_stream(r, plan);
        else
            response_object(&plan->body, r, true);
        break;
    default:
        break;
    }
}

/* ---- errors ---- */

struct error_default {
    int status;
    const char *openai_type;
    const char *openai_code;
    const char *anthropic_type;
    const char *message;
};

static const struct error_default error_defaults[] = {
    {400, "invalid_request_error", NULL, "invalid_request_error", "Invalid request."},
    {401, "invalid_request_error", "invalid_api_key", "authentication_error",
     "Incorrect API key provided."},
    {403, "invalid_request_error", "unsupported_country_region_territory", "permission_error",
     "Your API key does not have permission to use the specified resource."},
    {404, "invalid_request_error", "model_not_found", "not_found_error",
     "The model does not exist or you do not have access to it."},
    {413, "invalid_request_error", "request_too_large", "request_too_large",
     "Request exceeds the maximum allowed number of bytes."},
    {422, "invalid_request_error", NULL, "invalid_request_error", "Unprocessable request."},
    {429, "requests", "rate_limit_exceeded", "rate_limit_error",
     "Rate limit reached for requests. Please try again later."},
    {500, "server_error", NULL, "api_error", "The server had an error while processing your request."},
    {502, "server_error", NULL, "api_error", "Bad gateway."},
    {503, "server_error", NULL, "api_error", "The engine is currently overloaded, please try again later."},
    {504, "server_error", NULL, "api_error", "Gateway timeout."},
    {529, "server_error", NULL, "overloaded_error", "Overloaded"},
};

/* Well-known codes get the provider's own type and wording. */
struct error_code_text {
    const char *code;
    const char *openai_type;
    const char *anthropic_type;
    const char *message;
};

static const struct error_code_text error_codes[] = {
    {"insufficient_quota", "insufficient_quota", "rate_limit_error",
     "You exceeded your current quota, please check your plan and billing details."},
    {"billing_hard_limit_reached", "insufficient_quota", "rate_limit_error",
     "Billing hard limit has been reached."},
    {"enforced_spend_limit_reached", "insufficient_quota", "rate_limit_error",
     "You have reached your specified workspace API usage limits."},
    {"rate_limit_exceeded", "requests", "rate_limit_error",
     "Rate limit reached for requests. Please try again later."},
    {"tokens", "tokens", "rate_limit_error",
     "Rate limit reached for tokens per min (TPM). Please try again later."},
    {"context_length_exceeded", "invalid_request_error", "invalid_request_error",
     "This model's maximum context length is 128000 tokens. However, your messages resulted in "
     "131072 tokens. Please reduce the length of the messages."},
    {"content_filter", "invalid_request_error", "invalid_request_error",
     "The response was filtered due to the prompt triggering content management policy."},
    {"content_policy_violation", "invalid_request_error", "invalid_request_error",
     "Your request was rejected as a result of our safety system."},
    {"invalid_api_key", "invalid_request_error", "authentication_error",
     "Incorrect API key provided."},
};

void tg_mock_answer_error(enum tg_mock_api api, int status, const char *code, const char *type,
                          const char *message, struct tg_buf *out)
{
    const struct error_default *d = NULL;
    for (size_t i = 0; i < sizeof(error_defaults) / sizeof(error_defaults[0]); i++)
        if (error_defaults[i].status == status)
            d = &error_defaults[i];
    const struct error_code_text *ct = NULL;
    for (size_t i = 0; code && i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
        if (strcmp(error_codes[i].code, code) == 0)
            ct = &error_codes[i];
    const char *msg = message ? message
                      : ct    ? ct->message
                      : d     ? d->message
                              : "Error.";
    if (api == TG_MOCK_API_MESSAGES) {
        const char *atype = type ? type
                            : ct ? ct->anthropic_type
                            : d  ? d->anthropic_type
                                 : (status >= 500 ? "api_error" : "invalid_request_error");
        if (!message && code && strcmp(code, "context_length_exceeded") == 0)
            msg = "prompt is too long: 210000 tokens > 200000 maximum";
        tg_buf_puts(out, "{\"type\":\"error\",\"error\":{\"type\":");
        str(out, atype);
        tg_buf_puts(out, ",\"message\":");
        str(out, msg);
        if (code && strcmp(code, "context_length_exceeded") != 0) {
            tg_buf_puts(out, ",\"details\":{\"error_code\":");
            str(out, code);
            tg_buf_putc(out, '}');
        }
        tg_buf_puts(out, "}}");
        return;
    }
    const char *otype = type ? type
                        : ct ? ct->openai_type
                        : d  ? d->openai_type
                             : (status >= 500 ? "server_error" : "invalid_request_error");
    const char *ocode = code ? code : d ? d->openai_code : NULL;
    if (ct && strcmp(ct->code, "tokens") == 0)
        ocode = "rate_limit_exceeded";
    tg_buf_puts(out, "{\"error\":{\"message\":");
    str(out, msg);
    tg_buf_puts(out, ",\"type\":");
    str(out, otype);
    tg_buf_puts(out, ",\"param\":null,\"code\":");
    if (ocode)
        str(out, ocode);
    else
        tg_buf_puts(out, "null");
    tg_buf_puts(out, "}}");
}

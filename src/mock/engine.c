/* The mock engine: what to answer to a request, and when (see engine.h).
 *
 * Order of decisions for each request: parse it (bad JSON or a missing
 * required field gets the provider's own 400), take the next script step,
 * else roll error_rate, else generate an answer: log-normal latency, text of
 * `output_tokens` words (fewer when max_tokens is lower: finish_reason
 * "length"), a tool call when the request offers tools and the last turn is
 * the user's, and usage counted from the request's text. */
#include "mock/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "mock/answer.h"
#include "mock/script.h"
#include "util/json.h"

static const char *const api_paths[TG_MOCK_API__COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages"};

const char *tg_mock_api_path(enum tg_mock_api api)
{
    return (unsigned)api < TG_MOCK_API__COUNT ? api_paths[api] : "?";
}

int tg_mock_api_of_path(const char *path, size_t len)
{
    for (int i = 0; i < TG_MOCK_API__COUNT; i++)
        if (strlen(api_paths[i]) == len && memcmp(api_paths[i], path, len) == 0)
            return i;
    return -1;
}

void tg_mock_init(struct tg_mock *m, const struct tg_mock_options *opts)
{
    memset(m, 0, sizeof(*m));
    m->opts = *opts;
    tg_rand_seed(&m->rand, opts->seed);
}

static void recent_free(struct tg_mock_recent *r)
{
    free(r->method);
    free(r->path);
    free(r->headers_json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void recent_clear(struct tg_mock *m)
{
    for (size_t i = 0; i < TG_MOCK_RECENT; i++)
        recent_free(&m->recent[i]);
    m->recent_next = 0;
}

void tg_mock_free(struct tg_mock *m)
{
    tg_mock_script_clear(m);
    recent_clear(m);
}

void tg_mock_reset(struct tg_mock *m)
{
    tg_mock_script_clear(m);
    recent_clear(m);
    uint64_t inflight = m->stats.inflight;
    memset(&m->stats, 0, sizeof(m->stats));
    m->stats.inflight = inflight; /* answers still playing end normally */
    tg_rand_seed(&m->rand, m->opts.seed);
    m->id_counter = 0;
}

void tg_mock_count_status(struct tg_mock *m, int status)
{
    struct tg_mock_stats *s = &m->stats;
    for (size_t i = 0; i < s->n_statuses; i++) {
        if (s->by_status[i].status == status) {
            s->by_status[i].count++;
            return;
        }
    }
    if (s->n_statuses < TG_MOCK_MAX_STATUSES) {
        s->by_status[s->n_statuses].status = status;
        s->by_status[s->n_statuses].count = 1;
        s->n_statuses++;
    }
}

/* ---- reading the request ---- */

static size_t text_chars(const cJSON *content)
{
    if (cJSON_IsString(content))
        return strlen(content->valuestring);
    size_t n = 0;
    const cJSON *part;
    if (cJSON_IsArray(content)) {
        cJSON_ArrayForEach(part, content)
        {
            const char *t = tg_json_get_str(part, "text");
            if (t)
                n += strlen(t);
            else if (cJSON_IsString(part))
                n += strlen(part->valuestring);
            const cJSON *inner = cJSON_GetObjectItemCaseSensitive(part, "content");
            if (inner)
                n += text_chars(inner);
        }
    }
    return n;
}

static int64_t tokens_of_chars(size_t chars)
{
    return (int64_t)((chars + 3) / 4);
}

/* About what a tokenizer would count: 4 characters a token, 4 tokens of
 * framing per message, 3 to prime the answer. */
static int64_t prompt_tokens(enum tg_mock_api api, const cJSON *req)
{
    if (api == TG_MOCK_API_COMPLETIONS || api == TG_MOCK_API_EMBEDDINGS) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(
            req, api == TG_MOCK_API_COMPLETIONS ? "prompt" : "input");
        int64_t t = 0;
        if (cJSON_IsString(in))
            return tokens_of_chars(strlen(in->valuestring));
        const cJSON *x;
        cJSON_ArrayForEach(x, in)
        {
            if (cJSON_IsString(x))
                t += tokens_of_chars(strlen(x->valuestring));
            else if (cJSON_IsNumber(x))
                t += 1;
            else if (cJSON_IsArray(x))
                t += cJSON_GetArraySize(x);
        }
        return t;
    }
    int64_t t = 3;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(req, "messages"))
    {
        t += 4 + tokens_of_chars(text_chars(cJSON_GetObjectItemCaseSensitive(msg, "content")));
    }
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(req, "system");
    if (system)
        t += 4 + tokens_of_chars(text_chars(system));
    return t;
}

/* The provider's own complaint about a request it cannot take, or NULL. */
static const char *request_problem(enum tg_mock_api api, const cJSON *req)
{
    if (!cJSON_IsObject(req))
        return "The request body must be a JSON object.";
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "model")))
        return "you must provide a model parameter";
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    switch (api) {
    case TG_MOCK_API_CHAT:
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
            return "'messages' must be a non-empty array";
        return NULL;
    case TG_MOCK_API_MESSAGES: {
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
            return "messages: Field required";
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
        if (!cJSON_IsNumber(mt) || mt->valuedouble < 1)
            return "max_tokens: Field required";
        return NULL;
    }
    case TG_MOCK_API_COMPLETIONS:
        if (!cJSON_GetObjectItemCaseSensitive(req, "prompt"))
            return "you must provide a prompt parameter";
        return NULL;
    case TG_MOCK_API_EMBEDDINGS: {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
        if (!cJSON_IsString(in) && !(cJSON_IsArray(in) && cJSON_GetArraySize(in) > 0))
            return "'input' must be a string or a non-empty array";
        return NULL;
    }
    default:
        return NULL;
    }
}

/* ---- generated text ---- */

static const char *const words[64] = {
    "the",     "model",    "answers", "quickly", "with",   "a",       "clear",   "and",
    "useful",  "reply",    "about",   "your",    "request", "in",     "plain",   "words",
    "this",    "gateway",  "keeps",   "calls",   "alive",   "when",   "providers", "fail",
    "retries", "hedges",   "and",     "fallbacks", "help", "every",   "request", "arrive",
    "latency", "matters",  "so",      "tail",    "requests", "are",   "cut",     "short",
    "tokens",  "stream",   "one",     "by",      "one",     "until",  "done",    "here",
    "is",      "more",     "text",    "to",      "read",    "from",   "the",     "mock",
    "provider", "which",   "never",   "spends",  "money",   "or",     "time",    "today",
};

struct text {
    struct tg_buf buf;
    size_t *ends;
    size_t n, cap;
};

static void text_add_token(struct text *t, const char *p, size_t len)
{
    tg_buf_append(&t->buf, p, len);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->ends = tg_xrealloc(t->ends, t->cap * sizeof(size_t));
    }
    t->ends[t->n++] = t->buf.len;
}

static void text_generate(struct text *t, struct tg_rand *rand, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const char *w = words[tg_rand_below(rand, 64)];
        char tok[24];
        int len;
        if (i == 0)
            len = snprintf(tok, sizeof(tok), "%c%s", w[0] - 'a' + 'A', w + 1);
        else
            len = snprintf(tok, sizeof(tok), " %s%s", w, i == n - 1 ? "." : "");
        text_add_token(t, tok, (size_t)len);
    }
}

/* Scripted content: one token per word, each with its leading space. */
static void text_from(struct text *t, const char *s)
{
    size_t i = 0, n = strlen(s);
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] == ' ')
            j++;
        while (j < n && s[j] != ' ')
            j++;
        text_add_token(t, s + i, j - i);
        i = j;
    }
}

/* ---- tool calls ---- */

/* Arguments an eager model would send: each required property with a
 * placeholder of its declared type. */
static void tool_args(const cJSON *schema, struct tg_buf *out)
{
    tg_buf_putc(out, '{');
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
    int first = 1;
    const cJSON *r;
    cJSON_ArrayForEach(r, required)
    {
        if (!cJSON_IsString(r))
            continue;
        const cJSON *prop = cJSON_GetObjectItemCaseSensitive(props, r->valuestring);
        const char *type = tg_json_get_str(prop, "type");
        if (!first)
            tg_buf_putc(out, ',');
        first = 0;
        tg_buf_json_str(out, r->valuestring, strlen(r->valuestring));
        tg_buf_putc(out, ':');
        if (!type || strcmp(type, "string") == 0) {
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(prop, "enum");
            const cJSON *first_enum = cJSON_IsArray(en) ? en->child : NULL;
            if (cJSON_IsString(first_enum))
                tg_buf_json_str(out, first_enum->valuestring, strlen(first_enum->valuestring));
            else
                tg_buf_puts(out, "\"mock\"");
        } else if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
            tg_buf_puts(out, "1");
        else if (strcmp(type, "boolean") == 0)
            tg_buf_puts(out, "true");
        else if (strcmp(type, "array") == 0)
            tg_buf_puts(out, "[]");
        else
            tg_buf_puts(out, "{}");
    }
    tg_buf_putc(out, '}');
}

/* The tool the answer calls, when the request invites one; else NULL. */
static const cJSON *pick_tool(enum tg_mock_api api, const cJSON *req, const char **name,
                              const cJSON **schema)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0)
        return NULL;
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
    const char *wanted = NULL;
    if (cJSON_IsString(choice) && strcmp(choice->valuestring, "none") == 0)
        return NULL;
    if (cJSON_IsObject(choice)) {
        const char *type = tg_json_get_str(choice, "type");
        if (type && strcmp(type, "none") == 0)
            return NULL;
        wanted = tg_json_get_str(choice, "name");
        if (!wanted)
            wanted = tg_json_get_str(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
    }
    /* Only when the user spoke last (not right after a tool result). */
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    int n = cJSON_GetArraySize(msgs);
    const cJSON *last = n > 0 ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    const char *role = tg_json_get_str(last, "role");
    if (!role || strcmp(role, "user") != 0)
        return NULL;
    const cJSON *part;
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(last, "content"))
    {
        const char *type = tg_json_get_str(part, "type");
        if (type && strcmp(type, "tool_result") == 0)
            return NULL;
    }
    const cJSON *tool;
    cJSON_ArrayForEach(tool, tools)
    {
        const cJSON *fn = api == TG_MOCK_API_MESSAGES
                              ? tool
                              : cJSON_GetObjectItemCaseSensitive(tool, "function");
        const char *tname = tg_json_get_str(fn, "name");
        if (!tname || (wanted && strcmp(wanted, tname) != 0))
            continue;
        *name = tname;
        *schema = cJSON_GetObjectItemCaseSensitive(
            fn, api == TG_MOCK_API_MESSAGES ? "input_schema" : "parameters");
        return tool;
    }
    return NULL;
}

/* ---- the plan ---- */

/* An error answer: the step's code, type and message, or `message` (the
 * mock's own verdict on the request), or the defaults for the status. */
static void plan_error(struct tg_mock_plan *p, enum tg_mock_api api, int status,
                       const struct tg_mock_step *step, const char *message, double delay_ms)
{
    p->status = status;
    p->stream = false;
    p->delay_ms = delay_ms;
    tg_buf_puts(&p->headers, "Content-Type: application/json\r\n");
    if (!message && step)
        message = step->error_message;
    tg_mock_answer_error(api, status, step ? step->error_code : NULL,
                         step ? step->error_type : NULL, message, &p->body);
}

static void plan_headers_from_step(struct tg_mock_plan *p, const struct tg_mock_step *s)
{
    if (s->retry_after)
        tg_buf_printf(&p->headers, "Retry-After: %s\r\n", s->retry_after);
    if (s->retry_after_ms >= 0)
        tg_buf_printf(&p->headers, "retry-after-ms: %lld\r\n", (long long)s->retry_after_ms);
    if (s->headers)
        tg_buf_puts(&p->headers, s->headers);
}

void tg_mock_plan(struct tg_mock *m, enum tg_mock_api api, const char *body, size_t len,
                  struct tg_mock_plan *p)
{
    memset(p, 0, sizeof(*p));
    p->reset_after_bytes = -1;
    m->stats.requests++;
    m->stats.by_api[api]++;

    struct tg_mock_step step;
    bool have_step = tg_mock_script_next(m, &step);
    p->scripted = have_step;
    cJSON *req = tg_json_parse(body, len);

    if (have_step && step.body) {
        /* A raw body: sent as is, whatever the request was. */
        p->status = step.status > 0 ? (int)step.status : 200;
        p->delay_ms = step.delay_ms >= 0 ? (double)step.delay_ms : 0;
        tg_buf_puts(&p->headers, "Content-Type: application/json\r\n");
        tg_buf_puts(&p->body, step.body);
        goto finish;
    }
    if (!req) {
        plan_error(p, api, 400, NULL, "We could not parse the JSON body of your request.", 0);
        goto finish;
    }
    if (have_step && step.status >= 400) {
        plan_error(p, api, (int)step.status, &step, NULL,
                   step.delay_ms >= 0 ? (double)step.delay_ms : 0);
        goto finish;
    }
    if (!have_step && m->opts.error_rate > 0 && tg_rand_unit(&m->rand) < m->opts.error_rate) {
        plan_error(p, api, (int)m->opts.error_status, NULL, NULL, 0);
        goto finish;
    }
    const char *problem = request_problem(api, req);
    if (problem) {
        plan_error(p, api, 400, NULL, problem, 0);
        goto finish;
    }

    struct tg_mock_reply r = {0};
    char id[48], tool_id[48];
    m->id_counter++;
    snprintf(id, sizeof(id), "%s%016llx",
             api == TG_MOCK_API_MESSAGES      ? "msg_mock"
             : api == TG_MOCK_API_COMPLETIONS ? "cmpl-mock"
                                              : "chatcmpl-mock",
             (unsigned long long)m->id_counter);
    snprintf(tool_id, sizeof(tool_id), "%s%016llx",
             api == TG_MOCK_API_MESSAGES ? "toolu_mock" : "call_mock",
             (unsigned long long)m->id_counter);
    r.api = api;
    r.model = tg_json_get_str(req, "model");
    r.id = id;
    r.tool_id = tool_id;
    r.created = (int64_t)time(NULL);
    r.stream = tg_json_get_bool(req, "stream", false);
    r.include_usage = tg_json_get_bool(cJSON_GetObjectItemCaseSensitive(req, "stream_options"),
                                       "include_usage", false);
    double n = 1;
    tg_json_get_num(req, "n", &n);
    r.n_choices = n >= 1 && n <= 16 ? (int)n : 1;
    if (api == TG_MOCK_API_MESSAGES)
        r.n_choices = 1;
    r.prompt_tokens = prompt_tokens(api, req);
    r.stream_error_after = have_step ? step.stream_error_after_chunks : -1;
    r.stream_error_type = have_step ? step.error_type : NULL;
    r.stream_error_message = have_step ? step.error_message : NULL;
    r.first_ms = have_step && step.delay_ms >= 0
                     ? (double)step.delay_ms
                     : tg_rand_lognormal(&m->rand, m->opts.latency_ms, m->opts.latency_p99_ms);
    /* A rare stall on top: tails made of queueing events, not of a wide
     * distribution (the draw happens only when stalls are on, so seeded runs
     * without them repeat as before). */
    if (!(have_step && step.delay_ms >= 0) && m->opts.stall_rate > 0 &&
        tg_rand_unit(&m->rand) < m->opts.stall_rate)
        r.first_ms += m->opts.stall_ms;
    r.interval_ms = m->opts.tokens_per_s > 0 ? 1000.0 / m->opts.tokens_per_s : 0;

    struct text t = {TG_BUF_INIT, NULL, 0, 0};
    struct tg_buf args = TG_BUF_INIT;
    const char *finish = "stop";
    if (api == TG_MOCK_API_EMBEDDINGS) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
        r.n_inputs = 1;
        if (cJSON_IsArray(in) && (cJSON_IsString(in->child) || cJSON_IsArray(in->child)))
            r.n_inputs = cJSON_GetArraySize(in);
        double dims = 1536;
        tg_json_get_num(req, "dimensions", &dims);
        r.dims = dims >= 1 && dims <= 4096 ? (int)dims : 1536;
        r.text = "";
    } else {
        const char *tool_name = NULL;
        const cJSON *schema = NULL;
        if (!(have_step && step.content) && pick_tool(api, req, &tool_name, &schema)) {
            tool_args(schema, &args);
            r.tool_name = tool_name;
            r.tool_args = args.data;
            finish = "tool_calls";
            r.completion_tokens = tokens_of_chars(args.len) + 8;
            text_from(&t, "");
        } else if (have_step && step.content) {
            text_from(&t, step.content);
            r.completion_tokens = tokens_of_chars(strlen(step.content));
        } else {
            int64_t want = have_step && step.output_tokens >= 0 ? step.output_tokens
                                                                 : m->opts.output_tokens;
            double max_tokens = -1;
            if (!tg_json_get_num(req, "max_completion_tokens", &max_tokens))
                tg_json_get_num(req, "max_tokens", &max_tokens);
            if (max_tokens >= 0 && (double)want > max_tokens) {
                want = (int64_t)max_tokens;
                finish = "length";
            }
            text_generate(&t, &m->rand, want);
            r.completion_tokens = want;
        }
        tg_buf_reserve(&t.buf, 0);
        r.text = t.buf.data;
        r.token_ends = t.ends;
        r.n_tokens = t.n;
        r.completion_tokens *= r.n_choices;
    }
    r.finish_reason = have_step && step.finish_reason ? step.finish_reason : finish;
    tg_mock_answer_format(&r, &m->rand, p);
    if (have_step && step.status > 0)
        p->status = (int)step.status;
    tg_buf_free(&t.buf);
    free(t.ends);
    tg_buf_free(&args);

finish:
    if (have_step) {
        plan_headers_from_step(p, &step);
        p->hang = step.hang || step.hang_after_chunks >= 0;
        if (step.hang_after_chunks >= 0 && p->stream) /* past the opening piece */
            p->hang_after += (size_t)step.hang_after_chunks;
        p->reset_after_bytes = step.reset_after_bytes;
        tg_mock_step_free(&step);
    }
    cJSON_Delete(req);
}

void tg_mock_plan_free(struct tg_mock_plan *p)
{
    tg_buf_free(&p->headers);
    tg_buf_free(&p->body);
    free(p->pieces);
    p->pieces = NULL;
    p->n_pieces = 0;
}

/* ---- stats ---- */

void tg_mock_remember(struct tg_mock *m, const char *method, const char *path,
                      const char *headers_json, const char *body, size_t body_len)
{
    struct tg_mock_recent *r = &m->recent[m->recent_next];
    m->recent_next = (m->recent_next + 1) % TG_MOCK_RECENT;
    recent_free(r);
    r->method = tg_xstrdup(method);
    r->path = tg_xstrdup(path);
    r->headers_json = tg_xstrdup(headers_json);
    r->body = tg_xmemdup0(body, body_len > 65536 ? 65536 : body_len);
}

void tg_mock_stats_json(const struct tg_mock *m, struct tg_buf *out)
{
    const struct tg_mock_stats *s = &m->stats;
    tg_buf_printf(out,
                  "{\"requests\":%llu,\"inflight\":%llu,\"completed\":%llu,\"cancelled\":%llu,"
                  "\"resets\":%llu,\"connections_total\":%llu,\"connections_open\":%llu,"
                  "\"script_remaining\":%zu,\"by_path\":{",
                  (unsigned long long)s->requests, (unsigned long long)s->inflight,
                  (unsigned long long)s->completed, (unsigned long long)s->cancelled,
                  (unsigned long long)s->resets, (unsigned long long)s->connections_total,
                  (unsigned long long)s->connections_open, tg_mock_script_remaining(m));
    for (int i = 0; i < TG_MOCK_API__COUNT; i++)
        tg_buf_printf(out, "%s\"%s\":%llu", i ? "," : "", api_paths[i],
                      (unsigned long long)s->by_api[i]);
    tg_buf_puts(out, "},\"by_status\":{");
    for (size_t i = 0; i < s->n_statuses; i++)
        tg_buf_printf(out, "%s\"%d\":%llu", i ? "," : "", s->by_status[i].status,
                      (unsigned long long)s->by_status[i].count);
    tg_buf_puts(out, "},\"recent\":[");
    /* Oldest first. */
    int first = 1;
    for (size_t k = 0; k < TG_MOCK_RECENT; k++) {
        const struct tg_mock_recent *r = &m->recent[(m->recent_next + k) % TG_MOCK_RECENT];
        if (!r->path)
            continue;
        tg_buf_printf(out, "%s{\"method\":", first ? "" : ",");
        first = 0;
        tg_buf_json_str(out, r->method, strlen(r->method));
        tg_buf_puts(out, ",\"path\":");
        tg_buf_json_str(out, r->path, strlen(r->path));
        tg_buf_printf(out, ",\"headers\":%s,\"body\":", r->headers_json);
        tg_buf_json_str(out, r->body, strlen(r->body));
        tg_buf_putc(out, '}');
    }
    tg_buf_puts(out, "]}");
}

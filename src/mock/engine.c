/* The mock engine: what to answer to a request, and when (see engine.h).
 *
 * Order of decisions for each request: parse it (bad JSON or a missing
 * required field gets the provider's own 400), take the next script step,
 * else roll error_rate, else generate an answer: log-normal latency; a tool
 * call (arguments made from the tool's schema) when tool_choice demands one,
 * or on "auto" when the last turn is the user's; else JSON content when the
 * request asks for it (response_format, text.format, output_format), else
 * text of `output_tokens` words (fewer when max_tokens is lower:
 * finish_reason "length"); usage counted from the request's text.
 * Embeddings are unit vectors drawn from each input's text, so the same text
 * always gets the same vector. */
#include "mock/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "mock/answer.h"
#include "mock/schema_gen.h"
#include "mock/script.h"
#include "util/json.h"

static const char *const api_paths[TG_MOCK_API__COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/responses"};

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
    free(r->query);
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

/* The turns of a conversation: "messages", or the Responses API's "input"
 * (a string or an array of items). */
static const cJSON *conversation(enum tg_mock_api api, const cJSON *req)
{
    return cJSON_GetObjectItemCaseSensitive(req,
                                            api == TG_MOCK_API_RESPONSES ? "input" : "messages");
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
    const cJSON *turns = conversation(api, req);
    if (cJSON_IsString(turns))
        t += 4 + tokens_of_chars(strlen(turns->valuestring));
    const cJSON *msg;
    cJSON_ArrayForEach(msg, turns)
    {
        /* a message's content, or a Responses function_call_output's output */
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
        t += 4 + tokens_of_chars(text_chars(c ? c : cJSON_GetObjectItemCaseSensitive(msg, "output")));
    }
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(
        req, api == TG_MOCK_API_RESPONSES ? "instructions" : "system");
    if (system)
        t += 4 + tokens_of_chars(text_chars(system));
    return t;
}

/* ---- embeddings ---- */

#define EMBED_MAX_DIMS 8192 /* above every real model's size */
#define EMBED_MAX_INPUTS 2048

/* One input: a non-empty string, or a non-empty array of token ids. */
static bool embedding_input_ok(const cJSON *x)
{
    if (cJSON_IsString(x))
        return x->valuestring[0] != '\0';
    if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) == 0)
        return false;
    const cJSON *tok;
    cJSON_ArrayForEach(tok, x)
    {
        if (!cJSON_IsNumber(tok) || tok->valuedouble < 0)
            return false;
    }
    return true;
}

/* `input` is one string, one token array, or an array of either (at most
 * 2048); `encoding_format` float or base64; `dimensions` a positive integer
 * of sane size. OpenAI answers 400 to anything else. */
static const char *embeddings_problem(const cJSON *req)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
    bool ok = embedding_input_ok(in);
    if (!ok && cJSON_IsArray(in) && cJSON_GetArraySize(in) > 0 &&
        cJSON_GetArraySize(in) <= EMBED_MAX_INPUTS) {
        const cJSON *x;
        ok = true;
        cJSON_ArrayForEach(x, in) ok = ok && embedding_input_ok(x);
    }
    if (!ok)
        return "'$.input' is invalid. Please check the API reference: "
               "https://platform.openai.com/docs/api-reference.";
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(req, "encoding_format");
    if (enc && !cJSON_IsNull(enc) &&
        !(cJSON_IsString(enc) && (strcmp(enc->valuestring, "float") == 0 ||
                                  strcmp(enc->valuestring, "base64") == 0)))
        return "Invalid value for 'encoding_format': expected 'float' or 'base64'.";
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(req, "dimensions");
    if (dims && !cJSON_IsNull(dims) &&
        !(cJSON_IsNumber(dims) && dims->valuedouble >= 1 &&
          dims->valuedouble <= EMBED_MAX_DIMS && dims->valuedouble == floor(dims->valuedouble)))
        return "Invalid value for 'dimensions': expected a positive integer of at most 8192.";
    return NULL;
}

/* `dimensions`, else the model's own size (text-embedding-3-large: 3072). */
static int embedding_dims(const cJSON *req)
{
    double dims;
    if (tg_json_get_num(req, "dimensions", &dims))
        return (int)dims;
    const char *model = tg_json_get_str(req, "model");
    return model && strstr(model, "3-large") ? 3072 : 1536;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t input_seed(const cJSON *x, uint64_t seed)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, &seed, sizeof(seed));
    if (cJSON_IsString(x))
        return fnv1a(h, x->valuestring, strlen(x->valuestring));
    const cJSON *tok;
    cJSON_ArrayForEach(tok, x)
    {
        int64_t id = (int64_t)tok->valuedouble;
        h = fnv1a(h, &id, sizeof(id));
    }
    return h;
}

/* One seed per input, from its text (or token ids) and the mock's seed: the
 * same text gets the same vector in every request and every run. */
static uint64_t *embedding_seeds(const cJSON *req, uint64_t seed, int *n)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
    bool many = cJSON_IsArray(in) && (cJSON_IsString(in->child) || cJSON_IsArray(in->child));
    *n = many ? cJSON_GetArraySize(in) : 1;
    uint64_t *seeds = tg_xmalloc((size_t)*n * sizeof(uint64_t));
    if (!many) {
        seeds[0] = input_seed(in, seed);
        return seeds;
    }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, in) seeds[i++] = input_seed(x, seed);
    return seeds;
}

#define MAX_CHOICES 128 /* OpenAI's limit on n */

/* The provider's own complaint about a request it cannot take, or NULL. */
static const char *request_problem(enum tg_mock_api api, const cJSON *req)
{
    if (!cJSON_IsObject(req))
        return "The request body must be a JSON object.";
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "model")))
        return "you must provide a model parameter";
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(req, "n");
    if ((api == TG_MOCK_API_CHAT || api == TG_MOCK_API_COMPLETIONS) && n && !cJSON_IsNull(n) &&
        !(cJSON_IsNumber(n) && n->valuedouble >= 1 && n->valuedouble <= MAX_CHOICES &&
          n->valuedouble == floor(n->valuedouble)))
        return "Invalid 'n': expected an integer from 1 to 128.";
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(req, "top_logprobs");
    if (api == TG_MOCK_API_CHAT && top && !cJSON_IsNull(top) &&
        !(cJSON_IsNumber(top) && top->valuedouble >= 0 && top->valuedouble <= 20 &&
          top->valuedouble == floor(top->valuedouble)))
        return "Invalid 'top_logprobs': expected an integer from 0 to 20.";
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
    case TG_MOCK_API_RESPONSES: {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
        if (!(cJSON_IsString(in) && in->valuestring[0]) &&
            !(cJSON_IsArray(in) && cJSON_GetArraySize(in) > 0))
            return "Missing required parameter: 'input'.";
        return NULL;
    }
    case TG_MOCK_API_COMPLETIONS:
        if (!cJSON_GetObjectItemCaseSensitive(req, "prompt"))
            return "you must provide a prompt parameter";
        return NULL;
    case TG_MOCK_API_EMBEDDINGS:
        return embeddings_problem(req);
    default:
        return NULL;
    }
}

/* ---- generated text ---- */

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
        const char *w = tg_mock_word(rand);
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

/* Structured content (a JSON text) in token-sized pieces of about four
 * bytes, never cutting a UTF-8 character, so a stream delivers it in many
 * chunks as a provider does. */
static void text_from_json(struct text *t, const char *s, size_t n)
{
    size_t at = 0;
    while (at < n) {
        size_t end = at + 4 < n ? at + 4 : n;
        while (end < n && ((unsigned char)s[end] & 0xC0) == 0x80)
            end++;
        text_add_token(t, s + at, end - at);
        at = end;
    }
}

/* ---- structured answers ---- */

/* What the request asks the content to be: response_format (chat),
 * text.format (Responses) or output_format (Anthropic's structured outputs). */
enum content_kind { CONTENT_TEXT = 0, CONTENT_JSON_OBJECT, CONTENT_JSON_SCHEMA };

static enum content_kind content_kind(enum tg_mock_api api, const cJSON *req,
                                      const cJSON **schema)
{
    *schema = NULL;
    const cJSON *rf =
        api == TG_MOCK_API_MESSAGES
            ? cJSON_GetObjectItemCaseSensitive(req, "output_format")
        : api == TG_MOCK_API_RESPONSES
            ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "text"),
                                               "format")
            : cJSON_GetObjectItemCaseSensitive(req, "response_format");
    const char *type = tg_json_get_str(rf, "type");
    if (!type || api == TG_MOCK_API_COMPLETIONS || api == TG_MOCK_API_EMBEDDINGS)
        return CONTENT_TEXT;
    if (strcmp(type, "json_object") == 0)
        return CONTENT_JSON_OBJECT;
    if (strcmp(type, "json_schema") != 0)
        return CONTENT_TEXT;
    /* Chat nests it: {"json_schema": {"name", "strict", "schema"}}; the
     * others have "schema" beside "type". */
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    *schema = cJSON_GetObjectItemCaseSensitive(js ? js : rf, "schema");
    return cJSON_IsObject(*schema) ? CONTENT_JSON_SCHEMA : CONTENT_JSON_OBJECT;
}

/* ---- tool calls ---- */

/* tool_choice in either API's words. */
enum tool_mode { TOOLS_AUTO = 0, TOOLS_NONE, TOOLS_REQUIRED, TOOLS_NAMED };

static enum tool_mode tool_mode(const cJSON *req, const char **wanted)
{
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
    *wanted = NULL;
    const char *word = cJSON_IsString(choice) ? choice->valuestring : tg_json_get_str(choice, "type");
    if (!word)
        return TOOLS_AUTO;
    if (strcmp(word, "none") == 0)
        return TOOLS_NONE;
    if (strcmp(word, "required") == 0 || strcmp(word, "any") == 0)
        return TOOLS_REQUIRED;
    /* {"type":"function","function":{"name"}} or {"type":"tool","name"} */
    *wanted = tg_json_get_str(choice, "name");
    if (!*wanted)
        *wanted = tg_json_get_str(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
    return *wanted ? TOOLS_NAMED : TOOLS_AUTO;
}

/* Whether the conversation's last turn is the user's own words (not a tool
 * result): then "auto" calls a tool, as an eager model does. */
static bool user_spoke_last(enum tg_mock_api api, const cJSON *req)
{
    const cJSON *msgs = conversation(api, req);
    if (cJSON_IsString(msgs)) /* Responses: a plain string is the user's */
        return true;
    int n = cJSON_GetArraySize(msgs);
    const cJSON *last = n > 0 ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    const char *role = tg_json_get_str(last, "role");
    if (!role || strcmp(role, "user") != 0)
        return false;
    const cJSON *part;
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(last, "content"))
    {
        const char *type = tg_json_get_str(part, "type");
        if (type && strcmp(type, "tool_result") == 0)
            return false;
    }
    return true;
}

/* The function a tools entry declares (chat's {"type":"function",
 * "function":{...}}, the Responses API's flat {"type":"function","name",
 * "parameters"}, Anthropic's tool itself), or NULL for other kinds of tools
 * (web search, file search, code interpreter). */
static const cJSON *tool_function(enum tg_mock_api api, const cJSON *tool, const cJSON **schema)
{
    const cJSON *fn = api == TG_MOCK_API_CHAT ? cJSON_GetObjectItemCaseSensitive(tool, "function")
                                              : tool;
    if (!tg_json_get_str(fn, "name"))
        return NULL;
    const char *type = tg_json_get_str(tool, "type");
    if (api == TG_MOCK_API_MESSAGES && type && strcmp(type, "custom") != 0)
        return NULL; /* Anthropic's server tools (web_search_20250305, ...) */
    if (api == TG_MOCK_API_RESPONSES && (!type || strcmp(type, "function") != 0))
        return NULL;
    *schema = cJSON_GetObjectItemCaseSensitive(
        fn, api == TG_MOCK_API_MESSAGES ? "input_schema" : "parameters");
    return fn;
}

/* The tool the answer calls, or NULL. "none" never calls; "auto" calls when
 * the user spoke last; "required"/"any" and a named tool always call. Among
 * several, the pick is seeded. */
static const char *pick_tool(enum tg_mock_api api, const cJSON *req, struct tg_rand *rand,
                             const cJSON **schema)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    if (!cJSON_IsArray(tools))
        return NULL;
    const char *wanted;
    enum tool_mode mode = tool_mode(req, &wanted);
    if (mode == TOOLS_NONE || (mode == TOOLS_AUTO && !user_spoke_last(api, req)))
        return NULL;
    const cJSON *tool, *fn, *sch = NULL;
    int n = 0;
    cJSON_ArrayForEach(tool, tools)
    {
        if ((fn = tool_function(api, tool, &sch)) != NULL &&
            (!wanted || strcmp(wanted, tg_json_get_str(fn, "name")) == 0))
            n++;
    }
    if (n == 0)
        return NULL;
    int k = n > 1 ? (int)tg_rand_below(rand, (uint64_t)n) : 0;
    cJSON_ArrayForEach(tool, tools)
    {
        if ((fn = tool_function(api, tool, &sch)) == NULL ||
            (wanted && strcmp(wanted, tg_json_get_str(fn, "name")) != 0))
            continue;
        if (k-- == 0) {
            *schema = sch;
            return tg_json_get_str(fn, "name");
        }
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
    /* Read as a provider reads a request: it carries JSON models wrote (tool
     * inputs), which may name a key twice. */
    cJSON *req = tg_json_parse_generated(body, len);

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
             : api == TG_MOCK_API_RESPONSES   ? "resp_mock"
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
    if (api == TG_MOCK_API_CHAT || api == TG_MOCK_API_COMPLETIONS)
        tg_json_get_num(req, "n", &n); /* checked above: 1..128 */
    r.n_choices = (int)n;
    if (api == TG_MOCK_API_CHAT) {
        double top = 0;
        r.logprobs = tg_json_get_bool(req, "logprobs", false);
        tg_json_get_num(req, "top_logprobs", &top); /* checked above: 0..20 */
        r.top_logprobs = (int)top;
    }
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

    /* The request's "seed" makes its words repeat, as OpenAI's seed tries
     * to; timing and faults still draw from the mock's own source. */
    struct tg_rand seeded;
    struct tg_rand *words_rand = &m->rand;
    double req_seed;
    if (tg_json_get_num(req, "seed", &req_seed)) {
        uint64_t bits; /* any number, without an out-of-range conversion */
        memcpy(&bits, &req_seed, sizeof(bits));
        tg_rand_seed(&seeded, bits ^ m->opts.seed);
        words_rand = &seeded;
    }
    struct text t = {TG_BUF_INIT, NULL, 0, 0};
    struct tg_buf args = TG_BUF_INIT;
    uint64_t *seeds = NULL;
    const char *finish = "stop";
    if (api == TG_MOCK_API_EMBEDDINGS) {
        seeds = embedding_seeds(req, m->opts.seed, &r.n_inputs);
        r.input_seeds = seeds;
        r.dims = embedding_dims(req);
        const char *enc = tg_json_get_str(req, "encoding_format");
        r.base64 = enc && strcmp(enc, "base64") == 0;
        r.text = "";
    } else {
        int64_t want = have_step && step.output_tokens >= 0 ? step.output_tokens
                                                             : m->opts.output_tokens;
        double max_tokens = -1;
        if (!tg_json_get_num(req, "max_completion_tokens", &max_tokens) &&
            !tg_json_get_num(req, "max_output_tokens", &max_tokens))
            tg_json_get_num(req, "max_tokens", &max_tokens);
        const cJSON *schema = NULL, *schema_of_content;
        const char *tool_name =
            have_step && step.content ? NULL : pick_tool(api, req, words_rand, &schema);
        enum content_kind kind = content_kind(api, req, &schema_of_content);
        if (tool_name) {
            tg_mock_schema_gen(schema, words_rand, &args);
            if (args.data[0] != '{') { /* no usable schema: arguments are an object */
                tg_buf_reset(&args);
                tg_buf_puts(&args, "{}");
            }
            r.tool_name = tool_name;
            r.tool_args = args.data;
            finish = "tool_calls";
            r.completion_tokens = tokens_of_chars(args.len) + 8;
            text_from(&t, "");
        } else if (have_step && step.content) {
            text_from(&t, step.content);
            r.completion_tokens = tokens_of_chars(strlen(step.content));
        } else if (kind != CONTENT_TEXT) {
            /* Whole JSON even past max_tokens: a cut document would only
             * fail the client's parse, which is not what load tests probe. */
            struct tg_buf json = TG_BUF_INIT;
            if (kind == CONTENT_JSON_SCHEMA)
                tg_mock_schema_gen(schema_of_content, words_rand, &json);
            else
                tg_mock_json_object_gen(words_rand,
                                        max_tokens >= 0 && max_tokens < (double)want
                                            ? (int64_t)max_tokens
                                            : want,
                                        &json);
            text_from_json(&t, json.data, json.len);
            r.completion_tokens = tokens_of_chars(json.len);
            tg_buf_free(&json);
        } else {
            if (max_tokens >= 0 && (double)want > max_tokens) {
                want = (int64_t)max_tokens;
                finish = "length";
            }
            text_generate(&t, words_rand, want);
            r.completion_tokens = want;
        }
        tg_buf_reserve(&t.buf, 0);
        r.text = t.buf.data;
        r.token_ends = t.ends;
        r.n_tokens = t.n;
        r.completion_tokens *= r.n_choices;
    }
    r.finish_reason = have_step && step.finish_reason ? step.finish_reason : finish;
    tg_mock_answer_format(&r, p);
    if (have_step && step.status > 0)
        p->status = (int)step.status;
    tg_buf_free(&t.buf);
    free(t.ends);
    tg_buf_free(&args);
    free(seeds);

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

void tg_mock_remember(struct tg_mock *m, const char *method, const char *target,
                      const char *headers_json, const char *body, size_t body_len)
{
    struct tg_mock_recent *r = &m->recent[m->recent_next];
    m->recent_next = (m->recent_next + 1) % TG_MOCK_RECENT;
    recent_free(r);
    r->method = tg_xstrdup(method);
    size_t path_len = strcspn(target, "?");
    r->path = tg_xmemdup0(target, path_len);
    r->query = tg_xstrdup(target[path_len] ? target + path_len + 1 : "");
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
        tg_buf_puts(out, ",\"query\":");
        tg_buf_json_str(out, r->query, strlen(r->query));
        tg_buf_printf(out, ",\"headers\":%s,\"body\":", r->headers_json);
        tg_buf_json_str(out, r->body, strlen(r->body));
        tg_buf_putc(out, '}');
    }
    tg_buf_puts(out, "]}");
}

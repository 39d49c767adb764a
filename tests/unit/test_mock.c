/* Unit tests of the mock provider's engine (SPEC section 7): the latency
 * distribution, seeded repeatability, the answer of each API (bodies, usage,
 * streamed pieces and their timing), tool calls, every field of a script
 * step, script validation, error_rate and the stats JSON.
 *
 * The engine is pure apart from its seeded random source, so everything here
 * works on plans (struct tg_mock_plan): no loop, no sockets, no sleeping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mock/engine.h"
#include "mock/options.h"
#include "util/rand.h"

/* ---- helpers ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n sorted values, nearest rank. */
static double quantile(const double *sorted, size_t n, double q)
{
    size_t i = (size_t)ceil(q * (double)n);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

static void assert_within(double got, double want, double rel, const char *what)
{
    if (fabs(got - want) > rel * want)
        fail_msg("%s: got %.3f, want %.3f within %.0f%%", what, got, want, rel * 100);
}

static struct tg_mock *mock_new(const struct tg_mock_options *o)
{
    struct tg_mock *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    struct tg_mock_options def;
    tg_mock_options_default(&def);
    tg_mock_init(m, o ? o : &def);
    return m;
}

static void mock_del(struct tg_mock *m)
{
    tg_mock_free(m);
    free(m);
}

static void opts_with(struct tg_mock_options *o)
{
    tg_mock_options_default(o);
}

static void plan(struct tg_mock *m, enum tg_mock_api api, const char *body, struct tg_mock_plan *p)
{
    tg_mock_plan(m, api, body, strlen(body), p);
}

static cJSON *parse(const struct tg_buf *b)
{
    cJSON *j = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    if (!j)
        fail_msg("body is not JSON: %.*s", (int)(b->len > 400 ? 400 : b->len),
                 b->data ? b->data : "");
    return j;
}

static cJSON *jpath(const cJSON *j, const char *path)
{
    /* "a.b.0.c": members and array indices. */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = j;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok;
         tok = strtok_r(NULL, ".", &save)) {
        if (!cur)
            return NULL;
        if (cJSON_IsArray(cur) && tok[0] >= '0' && tok[0] <= '9')
            cur = cJSON_GetArrayItem(cur, atoi(tok));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    return (cJSON *)cur;
}

static const char *jstr(const cJSON *j, const char *path)
{
    const cJSON *v = jpath(j, path);
    if (!cJSON_IsString(v))
        fail_msg("%s is not a string", path);
    return v->valuestring;
}

static double jnum(const cJSON *j, const char *path)
{
    const cJSON *v = jpath(j, path);
    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", path);
    return v->valuedouble;
}

static bool has_header(const struct tg_mock_plan *p, const char *line)
{
    return p->headers.data && strstr(p->headers.data, line) != NULL;
}

/* One SSE event of a streamed body: its "event:" name (or "") and data. */
struct sse_ev {
    char name[64];
    char *data;
    size_t end; /* body offset just past the event */
};

struct sse {
    struct sse_ev ev[4096];
    size_t n;
};

static struct sse *sse_parse(const struct tg_mock_plan *p)
{
    struct sse *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    const char *b = p->body.data ? p->body.data : "";
    size_t len = p->body.len, i = 0;
    while (i < len) {
        const char *end = strstr(b + i, "\n\n");
        if (!end)
            fail_msg("SSE body does not end with a blank line at %zu: %s", i, b + i);
        assert_true(s->n < 4096);
        struct sse_ev *e = &s->ev[s->n++];
        size_t elen = (size_t)(end - (b + i));
        char *block = strndup(b + i, elen);
        for (char *save = NULL, *line = strtok_r(block, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "event: ", 7) == 0)
                snprintf(e->name, sizeof(e->name), "%s", line + 7);
            else if (strncmp(line, "data: ", 6) == 0) {
                assert_null(e->data);
                e->data = strdup(line + 6);
            } else
                fail_msg("unexpected SSE line: %s", line);
        }
        free(block);
        assert_non_null(e->data);
        i += elen + 2;
        e->end = i;
    }
    return s;
}

static void sse_free(struct sse *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ev[i].data);
    free(s);
}

/* Pieces cover the body in order, each ending on an event boundary. */
static void check_pieces(const struct tg_mock_plan *p, const struct sse *s)
{
    assert_true(p->n_pieces > 0);
    size_t prev = 0;
    double prev_at = -1;
    for (size_t i = 0; i < p->n_pieces; i++) {
        assert_true(p->pieces[i].end > prev);
        assert_true(p->pieces[i].at_ms >= prev_at);
        bool boundary = false;
        for (size_t k = 0; k < s->n; k++)
            if (s->ev[k].end == p->pieces[i].end)
                boundary = true;
        if (!boundary)
            fail_msg("piece %zu ends at %zu, inside an event", i, p->pieces[i].end);
        prev = p->pieces[i].end;
        prev_at = p->pieces[i].at_ms;
    }
    assert_int_equal(prev, p->body.len);
}

/* The index of the piece that holds body offset `off`. */
static size_t piece_of(const struct tg_mock_plan *p, size_t off)
{
    for (size_t i = 0; i < p->n_pieces; i++)
        if (off < p->pieces[i].end)
            return i;
    fail_msg("offset %zu past the last piece", off);
    return 0;
}

/* Replaces the digits after every "created": with 0, so that two plans made
 * at different seconds compare equal. */
static char *strip_created(const struct tg_buf *b)
{
    char *out = malloc(b->len + 1);
    assert_non_null(out);
    size_t o = 0;
    for (size_t i = 0; i < b->len;) {
        if (b->len - i >= 10 && memcmp(b->data + i, "\"created\":", 10) == 0) {
            memcpy(out + o, "\"created\":0", 11);
            o += 11;
            i += 10;
            while (i < b->len && b->data[i] >= '0' && b->data[i] <= '9')
                i++;
        } else
            out[o++] = b->data[i++];
    }
    out[o] = '\0';
    return out;
}

static const char *CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *CHAT_STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":"
                                 "[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *COMPL = "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Say hi\"}";
static const char *COMPL_STREAM =
    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Say hi\",\"stream\":true}";
static const char *EMBED = "{\"model\":\"text-embedding-3-small\",\"input\":\"hello world\"}";
static const char *MSGS = "{\"model\":\"claude-3-5-sonnet\",\"max_tokens\":1024,\"messages\":"
                          "[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *MSGS_STREAM = "{\"model\":\"claude-3-5-sonnet\",\"max_tokens\":1024,"
                                 "\"stream\":true,\"messages\":"
                                 "[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void script_ok(struct tg_mock *m, const char *json, int steps)
{
    char err[256] = "";
    int n = tg_mock_script_set(m, json, strlen(json), err, sizeof(err));
    if (n != steps)
        fail_msg("script %s: got %d (%s), want %d steps", json, n, err, steps);
}

static void script_bad(struct tg_mock *m, const char *json, const char *must_contain)
{
    char err[256] = "";
    int n = tg_mock_script_set(m, json, strlen(json), err, sizeof(err));
    if (n != -1)
        fail_msg("script %s accepted (%d steps)", json, n);
    if (err[0] == '\0')
        fail_msg("script %s: rejected without a message", json);
    if (must_contain && !strstr(err, must_contain))
        fail_msg("script %s: error \"%s\" does not mention \"%s\"", json, err, must_contain);
}

/* ---- latency distribution ------------------------------------------------ */

#define N_DRAWS 10000

static void test_lognormal_quantiles(void **state)
{
    (void)state;
    static double v[N_DRAWS];
    struct tg_rand r;
    tg_rand_seed(&r, 42);
    for (size_t i = 0; i < N_DRAWS; i++) {
        v[i] = tg_rand_lognormal(&r, 50, 400);
        assert_true(v[i] > 0);
    }
    qsort(v, N_DRAWS, sizeof(v[0]), cmp_double);
    assert_within(quantile(v, N_DRAWS, 0.50), 50, 0.10, "p50");
    assert_within(quantile(v, N_DRAWS, 0.99), 400, 0.10, "p99");

    /* Another seed, same distribution. */
    tg_rand_seed(&r, 7);
    for (size_t i = 0; i < N_DRAWS; i++)
        v[i] = tg_rand_lognormal(&r, 50, 400);
    qsort(v, N_DRAWS, sizeof(v[0]), cmp_double);
    assert_within(quantile(v, N_DRAWS, 0.50), 50, 0.10, "p50 (seed 7)");
    assert_within(quantile(v, N_DRAWS, 0.99), 400, 0.10, "p99 (seed 7)");
}

static void test_lognormal_no_spread(void **state)
{
    (void)state;
    struct tg_rand r;
    tg_rand_seed(&r, 1);
    for (int i = 0; i < 1000; i++) {
        assert_true(tg_rand_lognormal(&r, 50, 0) == 50.0);
        assert_true(tg_rand_lognormal(&r, 50, 50) == 50.0); /* p99 not above the median */
        assert_true(tg_rand_lognormal(&r, 50, 20) == 50.0);
    }
    assert_true(tg_rand_lognormal(&r, 0, 400) == 0.0);
}

static void test_plan_latency_quantiles(void **state)
{
    (void)state;
    static double v[N_DRAWS];
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 50;
    o.latency_p99_ms = 400;
    o.output_tokens = 1;
    struct tg_mock *m = mock_new(&o);
    for (size_t i = 0; i < N_DRAWS; i++) {
        struct tg_mock_plan p;
        plan(m, TG_MOCK_API_CHAT, CHAT, &p);
        assert_int_equal(p.status, 200);
        v[i] = p.delay_ms;
        tg_mock_plan_free(&p);
    }
    qsort(v, N_DRAWS, sizeof(v[0]), cmp_double);
    assert_within(quantile(v, N_DRAWS, 0.50), 50, 0.10, "plan p50");
    assert_within(quantile(v, N_DRAWS, 0.99), 400, 0.10, "plan p99");

    /* Streamed answers: the first piece is due at the drawn latency. */
    for (size_t i = 0; i < N_DRAWS / 4; i++) {
        struct tg_mock_plan p;
        plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
        assert_true(p.stream);
        assert_true(p.n_pieces > 0);
        assert_true(p.pieces[0].at_ms == p.delay_ms);
        v[i] = p.pieces[0].at_ms;
        tg_mock_plan_free(&p);
    }
    qsort(v, N_DRAWS / 4, sizeof(v[0]), cmp_double);
    assert_within(quantile(v, N_DRAWS / 4, 0.50), 50, 0.10, "stream first-chunk p50");
    mock_del(m);
}

static void test_plan_latency_no_spread(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 50;
    o.latency_p99_ms = 0;
    struct tg_mock *m = mock_new(&o);
    const char *bodies[] = {CHAT, CHAT_STREAM, COMPL, EMBED, MSGS, MSGS_STREAM};
    const enum tg_mock_api apis[] = {TG_MOCK_API_CHAT,       TG_MOCK_API_CHAT,
                                     TG_MOCK_API_COMPLETIONS, TG_MOCK_API_EMBEDDINGS,
                                     TG_MOCK_API_MESSAGES,   TG_MOCK_API_MESSAGES};
    for (int i = 0; i < 600; i++) {
        struct tg_mock_plan p;
        plan(m, apis[i % 6], bodies[i % 6], &p);
        assert_int_equal(p.status, 200);
        assert_true(p.delay_ms == 50.0);
        tg_mock_plan_free(&p);
    }
    mock_del(m);
}

/* ---- seeded repeatability ------------------------------------------------ */

static const struct {
    enum tg_mock_api api;
    const char *body;
} sequence[] = {
    {TG_MOCK_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}"},
    {TG_MOCK_API_CHAT, "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"tell me more\"}]}"},
    {TG_MOCK_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"once upon\"}"},
    {TG_MOCK_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"once upon\",\"stream\":true}"},
    {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"e\",\"input\":[\"x\",\"y\"],\"dimensions\":8}"},
    {TG_MOCK_API_MESSAGES, "{\"model\":\"c\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\","
                           "\"content\":\"hi\"}]}"},
    {TG_MOCK_API_MESSAGES, "{\"model\":\"c\",\"max_tokens\":100,\"stream\":true,\"messages\":"
                           "[{\"role\":\"user\",\"content\":\"hi\"}]}"},
    {TG_MOCK_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"b\"}]}"},
};
#define N_SEQ (sizeof(sequence) / sizeof(sequence[0]))

static void run_sequence(uint64_t seed, double error_rate, struct tg_mock_plan *out, size_t rounds)
{
    struct tg_mock_options o;
    opts_with(&o);
    o.seed = seed;
    o.latency_p99_ms = 500;
    o.tokens_per_s = 30;
    o.error_rate = error_rate;
    struct tg_mock *m = mock_new(&o);
    for (size_t r = 0; r < rounds; r++)
        for (size_t i = 0; i < N_SEQ; i++)
            plan(m, sequence[i].api, sequence[i].body, &out[r * N_SEQ + i]);
    mock_del(m);
}

static bool plans_equal(const struct tg_mock_plan *a, const struct tg_mock_plan *b)
{
    if (a->status != b->status || a->stream != b->stream || a->delay_ms != b->delay_ms ||
        a->n_pieces != b->n_pieces || a->hang != b->hang ||
        a->reset_after_bytes != b->reset_after_bytes)
        return false;
    if (a->headers.len != b->headers.len ||
        memcmp(a->headers.data, b->headers.data, a->headers.len) != 0)
        return false;
    char *x = strip_created(&a->body), *y = strip_created(&b->body);
    bool same = strcmp(x, y) == 0;
    free(x);
    free(y);
    for (size_t i = 0; same && i < a->n_pieces; i++)
        if (a->pieces[i].at_ms != b->pieces[i].at_ms)
            same = false;
    return same;
}

#define ROUNDS 4

static void test_seed_repeats(void **state)
{
    (void)state;
    struct tg_mock_plan a[N_SEQ * ROUNDS], b[N_SEQ * ROUNDS], c[N_SEQ * ROUNDS];
    run_sequence(1234, 0.2, a, ROUNDS);
    run_sequence(1234, 0.2, b, ROUNDS);
    run_sequence(1235, 0.2, c, ROUNDS);
    size_t differ = 0;
    for (size_t i = 0; i < N_SEQ * ROUNDS; i++) {
        if (!plans_equal(&a[i], &b[i]))
            fail_msg("request %zu: same seed, different plans:\n%s\n---\n%s", i, a[i].body.data,
                     b[i].body.data);
        if (!plans_equal(&a[i], &c[i]))
            differ++;
    }
    /* A different seed gives different texts, vectors and latencies. */
    assert_true(differ >= N_SEQ * ROUNDS / 2);
    for (size_t i = 0; i < N_SEQ * ROUNDS; i++) {
        tg_mock_plan_free(&a[i]);
        tg_mock_plan_free(&b[i]);
        tg_mock_plan_free(&c[i]);
    }
}

static void test_reset_reseeds(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_p99_ms = 300;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan first[N_SEQ], again[N_SEQ];
    for (size_t i = 0; i < N_SEQ; i++)
        plan(m, sequence[i].api, sequence[i].body, &first[i]);
    tg_mock_reset(m);
    for (size_t i = 0; i < N_SEQ; i++)
        plan(m, sequence[i].api, sequence[i].body, &again[i]);
    for (size_t i = 0; i < N_SEQ; i++) {
        if (!plans_equal(&first[i], &again[i]))
            fail_msg("request %zu differs after reset", i);
        tg_mock_plan_free(&first[i]);
        tg_mock_plan_free(&again[i]);
    }
    mock_del(m);
}

/* ---- each API, not streamed -------------------------------------------- */

static void test_chat_plan(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    assert_false(p.stream);
    assert_false(p.scripted);
    assert_true(has_header(&p, "Content-Type: application/json\r\n"));
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "object"), "chat.completion");
    assert_string_equal(jstr(j, "model"), "gpt-4o");
    assert_true(strlen(jstr(j, "id")) > 0);
    assert_true(cJSON_IsNumber(jpath(j, "created")));
    assert_int_equal(cJSON_GetArraySize(jpath(j, "choices")), 1);
    assert_string_equal(jstr(j, "choices.0.message.role"), "assistant");
    const char *text = jstr(j, "choices.0.message.content");
    assert_true(strlen(text) > 0);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 16);
    double pt = jnum(j, "usage.prompt_tokens");
    assert_true(pt >= 1 && pt < 30);
    assert_true(jnum(j, "usage.total_tokens") == pt + 16);
    /* What OpenAI always sends besides: the SDKs' types have these. */
    assert_true(cJSON_IsArray(jpath(j, "choices.0.message.annotations")));
    assert_true(jnum(j, "usage.prompt_tokens_details.cached_tokens") == 0);
    assert_true(jnum(j, "usage.completion_tokens_details.reasoning_tokens") == 0);
    assert_string_equal(jstr(j, "service_tier"), "default");
    /* 16 words for 16 tokens. */
    int words = 1;
    for (const char *c = text; *c; c++)
        words += *c == ' ';
    assert_int_equal(words, 16);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* A second answer gets another id. */
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    cJSON *j2 = parse(&p.body);
    assert_true(strlen(jstr(j2, "id")) > 0);
    cJSON_Delete(j2);
    tg_mock_plan_free(&p);

    /* n choices. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"n\":3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &p);
    j = parse(&p.body);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "choices")), 3);
    assert_int_equal((int)jnum(j, "choices.2.index"), 2);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static double chat_prompt_tokens(struct tg_mock *m, size_t content_len, bool with_system)
{
    char *content = malloc(content_len + 1);
    memset(content, 'a', content_len);
    for (size_t i = 5; i < content_len; i += 6)
        content[i] = ' ';
    content[content_len] = '\0';
    size_t cap = content_len + 256;
    char *body = malloc(cap);
    snprintf(body, cap,
             "{\"model\":\"m\",\"messages\":[%s{\"role\":\"user\",\"content\":\"%s\"}]}",
             with_system ? "{\"role\":\"system\",\"content\":\"You are terse.\"}," : "", content);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT, body, &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    double pt = jnum(j, "usage.prompt_tokens");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    free(content);
    free(body);
    return pt;
}

static void test_usage_realistic(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    double t10 = chat_prompt_tokens(m, 10, false);
    double t400 = chat_prompt_tokens(m, 400, false);
    double t4000 = chat_prompt_tokens(m, 4000, false);
    assert_true(t10 < t400 && t400 < t4000);
    /* Roughly 4 characters a token, plus a little framing. */
    assert_true(t400 >= 400 / 6.0 && t400 <= 400 / 3.0 + 20);
    assert_true(t4000 >= 4000 / 6.0 && t4000 <= 4000 / 3.0 + 20);
    /* A system message counts too. */
    assert_true(chat_prompt_tokens(m, 400, true) > t400);

    /* Completions and embeddings count their prompt / input. */
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"ab\"}", &p);
    cJSON *j = parse(&p.body);
    double c_short = jnum(j, "usage.prompt_tokens");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_COMPLETIONS,
         "{\"model\":\"m\",\"prompt\":\"a much longer prompt than the other one, with many words "
         "in it\"}",
         &p);
    j = parse(&p.body);
    assert_true(jnum(j, "usage.prompt_tokens") > c_short);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 16);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":50,\"system\":\"Be brief.\",\"messages\":[{\"role\":"
         "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello there, how are you today?\"}]}]}",
         &p);
    j = parse(&p.body);
    assert_true(jnum(j, "usage.input_tokens") >= 8);
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 16);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_output_tokens_and_max_tokens(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.output_tokens = 40;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    cJSON *j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 40);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* max_tokens below output_tokens: cut, finish_reason length. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"max_tokens\":7,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 7);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "length");
    int words = 1;
    for (const char *c = jstr(j, "choices.0.message.content"); *c; c++)
        words += *c == ' ';
    assert_int_equal(words, 7);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* max_completion_tokens (the newer name) too. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"max_completion_tokens\":3,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 3);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "length");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* max_tokens above output_tokens changes nothing. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 40);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Completions. */
    plan(m, TG_MOCK_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":5}", &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 5);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "length");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Anthropic: stop_reason max_tokens. */
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 9);
    assert_string_equal(jstr(j, "stop_reason"), "max_tokens");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 40);
    assert_string_equal(jstr(j, "stop_reason"), "end_turn");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_completions_plan(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_COMPLETIONS, COMPL, &p);
    assert_int_equal(p.status, 200);
    assert_false(p.stream);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "object"), "text_completion");
    assert_string_equal(jstr(j, "model"), "gpt-3.5-turbo-instruct");
    assert_true(strlen(jstr(j, "choices.0.text")) > 0);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 16);
    assert_true(jnum(j, "usage.total_tokens") ==
                jnum(j, "usage.prompt_tokens") + jnum(j, "usage.completion_tokens"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_embeddings_plan(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_EMBEDDINGS, EMBED, &p);
    assert_int_equal(p.status, 200);
    assert_false(p.stream);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "object"), "list");
    assert_string_equal(jstr(j, "model"), "text-embedding-3-small");
    assert_int_equal(cJSON_GetArraySize(jpath(j, "data")), 1);
    assert_string_equal(jstr(j, "data.0.object"), "embedding");
    const cJSON *vec = jpath(j, "data.0.embedding");
    assert_int_equal(cJSON_GetArraySize(vec), 1536);
    const cJSON *x;
    cJSON_ArrayForEach(x, vec)
    {
        assert_true(cJSON_IsNumber(x));
        assert_true(x->valuedouble >= -1.0 && x->valuedouble <= 1.0);
    }
    double pt = jnum(j, "usage.prompt_tokens");
    assert_true(pt >= 1);
    assert_true(jnum(j, "usage.total_tokens") == pt);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Several inputs, chosen dimensions, longer input counts more tokens. */
    plan(m, TG_MOCK_API_EMBEDDINGS,
         "{\"model\":\"e\",\"dimensions\":64,\"input\":[\"one\",\"two two two two two two\","
         "\"three\"]}",
         &p);
    j = parse(&p.body);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "data")), 3);
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf(path, sizeof(path), "data.%d.embedding", i);
        assert_int_equal(cJSON_GetArraySize(jpath(j, path)), 64);
        snprintf(path, sizeof(path), "data.%d.index", i);
        assert_int_equal((int)jnum(j, path), i);
    }
    assert_true(jnum(j, "usage.prompt_tokens") > pt);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Token ids: one input of 4 tokens. */
    plan(m, TG_MOCK_API_EMBEDDINGS, "{\"model\":\"e\",\"dimensions\":4,\"input\":[1,2,3,4]}", &p);
    j = parse(&p.body);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "data")), 1);
    assert_int_equal((int)jnum(j, "usage.prompt_tokens"), 4);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* "stream": true does not apply to embeddings. */
    plan(m, TG_MOCK_API_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"x\",\"stream\":true}", &p);
    assert_false(p.stream);
    cJSON_Delete(parse(&p.body));
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_messages_plan(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    assert_int_equal(p.status, 200);
    assert_false(p.stream);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "type"), "message");
    assert_string_equal(jstr(j, "role"), "assistant");
    assert_string_equal(jstr(j, "model"), "claude-3-5-sonnet");
    assert_true(strlen(jstr(j, "id")) > 0);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "content")), 1);
    assert_string_equal(jstr(j, "content.0.type"), "text");
    assert_true(strlen(jstr(j, "content.0.text")) > 0);
    assert_string_equal(jstr(j, "stop_reason"), "end_turn");
    assert_true(cJSON_IsNull(jpath(j, "stop_sequence")));
    assert_true(jnum(j, "usage.input_tokens") >= 1);
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 16);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    static const struct {
        enum tg_mock_api api;
        const char *body;
    } bad[] = {
        {TG_MOCK_API_CHAT, "{not json"},
        {TG_MOCK_API_CHAT, "[]"},
        {TG_MOCK_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"},
        {TG_MOCK_API_CHAT, "{\"model\":\"m\",\"messages\":[]}"},
        {TG_MOCK_API_CHAT, "{\"model\":\"m\"}"},
        {TG_MOCK_API_COMPLETIONS, "{\"model\":\"m\"}"},
        {TG_MOCK_API_CHAT, "{\"model\":\"m\",\"n\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"},
        {TG_MOCK_API_CHAT, "{\"model\":\"m\",\"n\":129,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"},
        {TG_MOCK_API_COMPLETIONS, "{\"model\":\"m\",\"n\":1.5,\"prompt\":\"x\"}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":[]}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\"}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"\"}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":[\"a\",\"\"]}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":[\"a\",3]}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":0}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":-3}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":1.5}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":100000}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":\"8\"}"},
        {TG_MOCK_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"int8\"}"},
        {TG_MOCK_API_MESSAGES, "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"},
        {TG_MOCK_API_MESSAGES, "{\"model\":\"c\",\"max_tokens\":10}"},
        {TG_MOCK_API_MESSAGES, ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        plan(m, bad[i].api, bad[i].body, &p);
        if (p.status != 400)
            fail_msg("request %zu (%s): status %d, want 400", i, bad[i].body, p.status);
        assert_false(p.stream);
        cJSON *j = parse(&p.body);
        if (bad[i].api == TG_MOCK_API_MESSAGES) {
            assert_string_equal(jstr(j, "type"), "error");
            assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
            assert_true(strlen(jstr(j, "error.message")) > 0);
        } else {
            assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
            assert_true(strlen(jstr(j, "error.message")) > 0);
        }
        cJSON_Delete(j);
        tg_mock_plan_free(&p);
    }
    mock_del(m);
}

/* ---- each API, streamed -------------------------------------------------- */

static void test_chat_stream(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 50;
    o.tokens_per_s = 100;
    o.output_tokens = 10;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_int_equal(p.status, 200);
    assert_true(p.stream);
    assert_true(has_header(&p, "Content-Type: text/event-stream"));
    assert_true(p.delay_ms == 50.0);
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    assert_string_equal(s->ev[s->n - 1].data, "[DONE]");
    /* role chunk, 10 content chunks, finish chunk, [DONE] */
    assert_int_equal(s->n, 13);
    char text[1024] = "";
    size_t content_k = 0;
    const char *id = NULL;
    for (size_t i = 0; i + 1 < s->n; i++) {
        cJSON *j = cJSON_Parse(s->ev[i].data);
        if (!j)
            fail_msg("event %zu is not JSON: %s", i, s->ev[i].data);
        assert_string_equal(jstr(j, "object"), "chat.completion.chunk");
        if (!id)
            id = strdup(jstr(j, "id"));
        else
            assert_string_equal(jstr(j, "id"), id);
        const cJSON *c = jpath(j, "choices.0.delta.content");
        const cJSON *fr = jpath(j, "choices.0.finish_reason");
        if (i == 0) {
            assert_string_equal(jstr(j, "choices.0.delta.role"), "assistant");
            assert_true(cJSON_IsNull(fr));
        } else if (i == s->n - 2) {
            assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
        } else {
            assert_true(cJSON_IsString(c));
            assert_true(strlen(c->valuestring) > 0);
            assert_true(cJSON_IsNull(fr));
            strcat(text, c->valuestring);
            /* Content chunk k is due at delay + k * 1000 / tokens_per_s. */
            size_t pi = piece_of(&p, s->ev[i].end - 1);
            double at = p.pieces[pi].at_ms;
            if (fabs(at - (50.0 + 10.0 * (double)content_k)) > 1e-6)
                fail_msg("content chunk %zu due at %.3f ms, want %.3f", content_k, at,
                         50.0 + 10.0 * (double)content_k);
            content_k++;
        }
        cJSON_Delete(j);
    }
    assert_int_equal(content_k, 10);
    /* The first chunk (role) goes at the latency; the end no earlier than the last token. */
    assert_true(p.pieces[piece_of(&p, s->ev[0].end - 1)].at_ms == 50.0);
    assert_true(p.pieces[p.n_pieces - 1].at_ms >= 140.0);
    assert_true(strlen(text) > 10);
    free((void *)id);
    sse_free(s);
    tg_mock_plan_free(&p);

    /* stream_options.include_usage: a usage chunk with empty choices before [DONE]. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}",
         &p);
    s = sse_parse(&p);
    check_pieces(&p, s);
    assert_string_equal(s->ev[s->n - 1].data, "[DONE]");
    cJSON *u = cJSON_Parse(s->ev[s->n - 2].data);
    assert_non_null(u);
    assert_int_equal(cJSON_GetArraySize(jpath(u, "choices")), 0);
    assert_int_equal((int)jnum(u, "usage.completion_tokens"), 10);
    assert_true(jnum(u, "usage.prompt_tokens") >= 1);
    cJSON_Delete(u);
    sse_free(s);
    tg_mock_plan_free(&p);

    /* With max_tokens: that many content chunks, finish_reason length. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"stream\":true,\"max_tokens\":4,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}",
         &p);
    s = sse_parse(&p);
    assert_int_equal(s->n, 1 + 4 + 1 + 1);
    cJSON *f = cJSON_Parse(s->ev[s->n - 2].data);
    assert_string_equal(jstr(f, "choices.0.finish_reason"), "length");
    cJSON_Delete(f);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_chat_stream_unpaced(void **state)
{
    (void)state;
    /* tokens_per_s 0: every piece is due at the latency. */
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 20;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    for (size_t i = 0; i < p.n_pieces; i++)
        assert_true(p.pieces[i].at_ms == 20.0);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_completions_stream(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 50;
    o.tokens_per_s = 100;
    o.output_tokens = 10;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_COMPLETIONS, COMPL_STREAM, &p);
    assert_int_equal(p.status, 200);
    assert_true(p.stream);
    assert_true(has_header(&p, "Content-Type: text/event-stream"));
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    assert_string_equal(s->ev[s->n - 1].data, "[DONE]");
    assert_int_equal(s->n, 10 + 1 + 1);
    for (size_t k = 0; k < 10; k++) {
        cJSON *j = cJSON_Parse(s->ev[k].data);
        assert_non_null(j);
        assert_string_equal(jstr(j, "object"), "text_completion");
        assert_true(strlen(jstr(j, "choices.0.text")) > 0);
        assert_true(cJSON_IsNull(jpath(j, "choices.0.finish_reason")));
        double at = p.pieces[piece_of(&p, s->ev[k].end - 1)].at_ms;
        if (fabs(at - (50.0 + 10.0 * (double)k)) > 1e-6)
            fail_msg("completion chunk %zu due at %.3f", k, at);
        cJSON_Delete(j);
    }
    cJSON *f = cJSON_Parse(s->ev[10].data);
    assert_string_equal(jstr(f, "choices.0.finish_reason"), "stop");
    cJSON_Delete(f);
    sse_free(s);
    tg_mock_plan_free(&p);

    /* n = 2: both choices stream, each ends with its finish_reason; with
     * include_usage a last chunk carries the usage. Before: choice 0 only,
     * and no usage chunk. */
    plan(m, TG_MOCK_API_COMPLETIONS,
         "{\"model\":\"m\",\"prompt\":\"x\",\"n\":2,\"stream\":true,\"stream_options\":"
         "{\"include_usage\":true}}",
         &p);
    s = sse_parse(&p);
    assert_int_equal(s->n, 2 * 10 + 2 + 1 + 1);
    int finished[2] = {0, 0};
    for (size_t k = 0; k + 2 < s->n; k++) {
        cJSON *j = cJSON_Parse(s->ev[k].data);
        int idx = (int)jnum(j, "choices.0.index");
        assert_int_equal(idx, (int)(k % 2));
        if (cJSON_IsString(jpath(j, "choices.0.finish_reason")))
            finished[idx]++;
        cJSON_Delete(j);
    }
    assert_int_equal(finished[0], 1);
    assert_int_equal(finished[1], 1);
    cJSON *u = cJSON_Parse(s->ev[s->n - 2].data);
    assert_int_equal(cJSON_GetArraySize(jpath(u, "choices")), 0);
    assert_int_equal((int)jnum(u, "usage.completion_tokens"), 20);
    cJSON_Delete(u);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_messages_stream(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 50;
    o.tokens_per_s = 100;
    o.output_tokens = 10;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_MESSAGES, MSGS_STREAM, &p);
    assert_int_equal(p.status, 200);
    assert_true(p.stream);
    assert_true(has_header(&p, "Content-Type: text/event-stream"));
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    static const char *const head[] = {"message_start", "content_block_start", "ping"};
    static const char *const tail[] = {"content_block_stop", "message_delta", "message_stop"};
    assert_int_equal(s->n, 3 + 10 + 3);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        const char *want = i < 3 ? head[i] : i < 13 ? "content_block_delta" : tail[i - 13];
        assert_string_equal(s->ev[i].name, want);
        cJSON *j = cJSON_Parse(s->ev[i].data);
        if (!j)
            fail_msg("event %zu is not JSON: %s", i, s->ev[i].data);
        assert_string_equal(jstr(j, "type"), want); /* data type matches the event name */
        if (i == 0) {
            assert_string_equal(jstr(j, "message.role"), "assistant");
            assert_string_equal(jstr(j, "message.model"), "claude-3-5-sonnet");
            assert_true(jnum(j, "message.usage.input_tokens") >= 1);
        } else if (i >= 3 && i < 13) {
            assert_string_equal(jstr(j, "delta.type"), "text_delta");
            assert_true(strlen(jstr(j, "delta.text")) > 0);
            double at = p.pieces[piece_of(&p, s->ev[i].end - 1)].at_ms;
            if (fabs(at - (50.0 + 10.0 * (double)k)) > 1e-6)
                fail_msg("delta %zu due at %.3f", k, at);
            k++;
        } else if (i == 14) {
            assert_string_equal(jstr(j, "delta.stop_reason"), "end_turn");
            assert_int_equal((int)jnum(j, "usage.output_tokens"), 10);
        }
        cJSON_Delete(j);
    }
    sse_free(s);
    tg_mock_plan_free(&p);

    /* max_tokens cut in a stream: stop_reason max_tokens. */
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":3,\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"hi\"}]}",
         &p);
    s = sse_parse(&p);
    assert_int_equal(s->n, 3 + 3 + 3);
    cJSON *d = cJSON_Parse(s->ev[7].data);
    assert_string_equal(jstr(d, "delta.stop_reason"), "max_tokens");
    assert_int_equal((int)jnum(d, "usage.output_tokens"), 3);
    cJSON_Delete(d);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* ---- tool calls ---------------------------------------------------------- */

#define WEATHER_TOOL                                                                       \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"w\","   \
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"    \
    "\"days\":{\"type\":\"integer\"},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\","   \
    "\"fahrenheit\"]},\"verbose\":{\"type\":\"boolean\"}},\"required\":[\"city\",\"days\","  \
    "\"unit\"]}}}"

static void check_weather_args(const char *args_text)
{
    cJSON *args = cJSON_Parse(args_text);
    if (!cJSON_IsObject(args))
        fail_msg("arguments are not a JSON object: %s", args_text);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(args, "city")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(args, "days")));
    const char *unit = jstr(args, "unit"); /* an allowed enum value */
    assert_true(strcmp(unit, "celsius") == 0 || strcmp(unit, "fahrenheit") == 0);
    /* Optional properties too (strict schemas require all), typed as declared. */
    const cJSON *verbose = cJSON_GetObjectItemCaseSensitive(args, "verbose");
    assert_true(cJSON_IsBool(verbose) || !strstr(WEATHER_TOOL, "verbose") ||
                cJSON_GetArraySize(args) == 3);
    cJSON_Delete(args);
}

static void test_chat_tool_call(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"tools\":[" WEATHER_TOOL "],\"messages\":[{\"role\":\"user\","
         "\"content\":\"weather in Paris?\"}]}",
         &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "tool_calls");
    assert_true(cJSON_IsNull(jpath(j, "choices.0.message.content")));
    assert_int_equal(cJSON_GetArraySize(jpath(j, "choices.0.message.tool_calls")), 1);
    assert_string_equal(jstr(j, "choices.0.message.tool_calls.0.type"), "function");
    assert_true(strlen(jstr(j, "choices.0.message.tool_calls.0.id")) > 0);
    assert_string_equal(jstr(j, "choices.0.message.tool_calls.0.function.name"), "get_weather");
    check_weather_args(jstr(j, "choices.0.message.tool_calls.0.function.arguments"));
    assert_true(jnum(j, "usage.completion_tokens") >= 1);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* After the tool's result, a text answer. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"tools\":[" WEATHER_TOOL "],\"messages\":["
         "{\"role\":\"user\",\"content\":\"weather in Paris?\"},"
         "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
         "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},"
         "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]}",
         &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    assert_true(strlen(jstr(j, "choices.0.message.content")) > 0);
    assert_null(jpath(j, "choices.0.message.tool_calls"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* tool_choice "none": text. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"tool_choice\":\"none\",\"tools\":[" WEATHER_TOOL "],\"messages\":["
         "{\"role\":\"user\",\"content\":\"hi\"}]}",
         &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* A named tool_choice picks that tool. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
         "\"get_time\"}},\"tools\":[" WEATHER_TOOL ",{\"type\":\"function\",\"function\":"
         "{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
         "\"messages\":[{\"role\":\"user\",\"content\":\"time?\"}]}",
         &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.message.tool_calls.0.function.name"), "get_time");
    cJSON *args = cJSON_Parse(jstr(j, "choices.0.message.tool_calls.0.function.arguments"));
    assert_true(cJSON_IsObject(args));
    cJSON_Delete(args);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Streamed: the argument fragments put together are the arguments. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"stream\":true,\"tools\":[" WEATHER_TOOL "],\"messages\":["
         "{\"role\":\"user\",\"content\":\"weather?\"}]}",
         &p);
    assert_true(p.stream);
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    assert_string_equal(s->ev[s->n - 1].data, "[DONE]");
    char argbuf[1024] = "";
    const char *finish = NULL;
    for (size_t i = 0; i + 1 < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        assert_non_null(c);
        const cJSON *tc = jpath(c, "choices.0.delta.tool_calls.0");
        if (i == 0) {
            assert_string_equal(jstr(c, "choices.0.delta.tool_calls.0.function.name"),
                                "get_weather");
            assert_true(strlen(jstr(c, "choices.0.delta.tool_calls.0.id")) > 0);
        }
        if (tc) {
            assert_int_equal((int)jnum(tc, "index"), 0);
            const cJSON *a = jpath(tc, "function.arguments");
            if (cJSON_IsString(a))
                strcat(argbuf, a->valuestring);
        }
        const cJSON *fr = jpath(c, "choices.0.finish_reason");
        if (cJSON_IsString(fr))
            finish = strdup(fr->valuestring);
        cJSON_Delete(c);
    }
    check_weather_args(argbuf);
    assert_non_null(finish);
    assert_string_equal(finish, "tool_calls");
    free((void *)finish);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

#define ANTHROPIC_TOOL                                                                      \
    "{\"name\":\"get_weather\",\"description\":\"w\",\"input_schema\":{\"type\":\"object\"," \
    "\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"},"        \
    "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]}},"                 \
    "\"required\":[\"city\",\"days\",\"unit\"]}}"

static void test_messages_tool_use(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":200,\"tools\":[" ANTHROPIC_TOOL "],\"messages\":["
         "{\"role\":\"user\",\"content\":\"weather in Paris?\"}]}",
         &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "stop_reason"), "tool_use");
    const cJSON *blocks = jpath(j, "content");
    const cJSON *use = NULL, *b;
    cJSON_ArrayForEach(b, blocks)
    {
        if (strcmp(jstr(b, "type"), "tool_use") == 0)
            use = b;
    }
    assert_non_null(use);
    assert_string_equal(jstr(use, "name"), "get_weather");
    assert_true(strlen(jstr(use, "id")) > 0);
    const cJSON *input = jpath(use, "input");
    assert_true(cJSON_IsObject(input));
    char *input_text = cJSON_PrintUnformatted(input);
    check_weather_args(input_text);
    free(input_text);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* After a tool_result: text, end_turn. */
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":200,\"tools\":[" ANTHROPIC_TOOL "],\"messages\":["
         "{\"role\":\"user\",\"content\":\"weather in Paris?\"},"
         "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\","
         "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]},"
         "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
         "\"content\":\"sunny\"}]}]}",
         &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "stop_reason"), "end_turn");
    assert_string_equal(jstr(j, "content.0.type"), "text");
    assert_true(strlen(jstr(j, "content.0.text")) > 0);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Streamed tool use: content_block_start tool_use, input_json_delta fragments. */
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":200,\"stream\":true,\"tools\":[" ANTHROPIC_TOOL
         "],\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}]}",
         &p);
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    assert_string_equal(s->ev[0].name, "message_start");
    assert_string_equal(s->ev[1].name, "content_block_start");
    cJSON *start = cJSON_Parse(s->ev[1].data);
    assert_string_equal(jstr(start, "content_block.type"), "tool_use");
    assert_string_equal(jstr(start, "content_block.name"), "get_weather");
    cJSON_Delete(start);
    char argbuf[1024] = "";
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->ev[i].name, "content_block_delta") != 0)
            continue;
        cJSON *d = cJSON_Parse(s->ev[i].data);
        assert_string_equal(jstr(d, "delta.type"), "input_json_delta");
        strcat(argbuf, jstr(d, "delta.partial_json"));
        cJSON_Delete(d);
    }
    check_weather_args(argbuf);
    assert_string_equal(s->ev[s->n - 1].name, "message_stop");
    cJSON *md = cJSON_Parse(s->ev[s->n - 2].data);
    assert_string_equal(jstr(md, "delta.stop_reason"), "tool_use");
    cJSON_Delete(md);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* True when p[0..n) is well-formed UTF-8 (no sequence cut at either end). */
static bool utf8_valid(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* A streamed tool call's argument fragments never cut a UTF-8 character in
 * two: each chunk is a JSON text of its own and must be valid UTF-8, or a
 * client decoding the stream gets replacement characters in the arguments. */
static void test_tool_call_stream_utf8(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    static const char *const reqs[] = {
        "{\"model\":\"m\",\"stream\":true,\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"set_unit\",\"parameters\":{\"type\":\"object\",\"properties\":{\"unit\":"
        "{\"type\":\"string\",\"enum\":[\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
        "\xe5\x8d\x98\xe4\xbd\x8d \xc2\xb0" "C\"]}},\"required\":[\"unit\"]}}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}",
        "{\"model\":\"c\",\"max_tokens\":100,\"stream\":true,\"tools\":[{\"name\":\"set_unit\","
        "\"input_schema\":{\"type\":\"object\",\"properties\":{\"unit\":{\"type\":\"string\","
        "\"enum\":[\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\x8d\x98\xe4\xbd\x8d "
        "\xc2\xb0" "C\"]}},\"required\":[\"unit\"]}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}",
    };
    static const enum tg_mock_api apis[] = {TG_MOCK_API_CHAT, TG_MOCK_API_MESSAGES};
    for (int r = 0; r < 2; r++) {
        plan(m, apis[r], reqs[r], &p);
        assert_int_equal(p.status, 200);
        assert_true(p.stream);
        struct sse *s = sse_parse(&p);
        char args[512] = "";
        for (size_t i = 0; i < s->n; i++) {
            if (!utf8_valid(s->ev[i].data, strlen(s->ev[i].data)))
                fail_msg("%s stream: event %zu is not valid UTF-8 (a character cut between "
                         "two argument fragments)",
                         r ? "messages" : "chat", i);
            cJSON *c = cJSON_Parse(s->ev[i].data);
            if (!c)
                continue;
            const cJSON *frag = r ? jpath(c, "delta.partial_json")
                                  : jpath(c, "choices.0.delta.tool_calls.0.function.arguments");
            if (cJSON_IsString(frag))
                strcat(args, frag->valuestring);
            cJSON_Delete(c);
        }
        cJSON *a = cJSON_Parse(args);
        assert_non_null(a);
        assert_string_equal(jstr(a, "unit"),
                            "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\x8d\x98\xe4\xbd\x8d "
                            "\xc2\xb0" "C");
        cJSON_Delete(a);
        sse_free(s);
        tg_mock_plan_free(&p);
    }
    mock_del(m);
}

/* ---- structured answers (response_format, tools from schemas) ------------ */

/* The text a stream delivers, joined: chat content or tool arguments of
 * choice 0, Anthropic text or partial_json; and how many pieces it took. */
static char *stream_joined(const struct tg_mock_plan *p, bool anthropic, int *pieces)
{
    struct sse *s = sse_parse(p);
    struct tg_buf out = TG_BUF_INIT;
    *pieces = 0;
    for (size_t i = 0; i < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        const cJSON *index = jpath(c, "choices.0.index");
        if (!c || (index && index->valuedouble != 0)) {
            cJSON_Delete(c);
            continue;
        }
        const cJSON *frag[] = {
            anthropic ? jpath(c, "delta.text") : jpath(c, "choices.0.delta.content"),
            anthropic ? jpath(c, "delta.partial_json")
                      : jpath(c, "choices.0.delta.tool_calls.0.function.arguments"),
        };
        for (int k = 0; k < 2; k++) {
            if (cJSON_IsString(frag[k]) && frag[k]->valuestring[0]) {
                tg_buf_puts(&out, frag[k]->valuestring);
                (*pieces)++;
            }
        }
        cJSON_Delete(c);
    }
    sse_free(s);
    tg_buf_reserve(&out, 1);
    return tg_buf_steal(&out, NULL);
}

#define STRICT_SCHEMA                                                                       \
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\"},\"rating\":"     \
    "{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},\"genre\":{\"type\":\"string\","   \
    "\"enum\":[\"drama\",\"comedy\"]},\"cast\":{\"type\":\"array\",\"items\":{\"$ref\":"   \
    "\"#/$defs/actor\"}},\"sequel\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}}," \
    "\"required\":[\"title\",\"rating\",\"genre\",\"cast\",\"sequel\"],"                     \
    "\"additionalProperties\":false,\"$defs\":{\"actor\":{\"type\":\"object\",\"properties\":" \
    "{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"}},\"required\":[\"name\"," \
    "\"age\"],\"additionalProperties\":false}}}"

static void check_movie(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    if (!cJSON_IsObject(v))
        fail_msg("content is not a JSON object: %s", text);
    assert_int_equal(cJSON_GetArraySize(v), 5);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "title")));
    double rating = jnum(v, "rating");
    assert_true(rating >= 1 && rating <= 5 && rating == floor(rating));
    const char *genre = jstr(v, "genre");
    assert_true(strcmp(genre, "drama") == 0 || strcmp(genre, "comedy") == 0);
    const cJSON *sequel = cJSON_GetObjectItemCaseSensitive(v, "sequel");
    assert_true(cJSON_IsString(sequel) || cJSON_IsNull(sequel));
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(v, "cast"))
    {
        assert_int_equal(cJSON_GetArraySize(a), 2);
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(a, "name")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, "age")));
    }
    cJSON_Delete(v);
}

/* response_format json_object / json_schema (OpenAI) and output_format
 * (Anthropic): the content is JSON that parses and fits; a stream sends the
 * same text in many pieces; n choices each get it. Before: prose. */
static void test_response_format(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"response_format\":{\"type\":\"json_object\"},\"messages\":"
         "[{\"role\":\"user\",\"content\":\"JSON please\"}]}",
         &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    cJSON *v = cJSON_Parse(jstr(j, "choices.0.message.content"));
    if (!cJSON_IsObject(v))
        fail_msg("json_object content is not an object: %s", jstr(j, "choices.0.message.content"));
    assert_true(cJSON_GetArraySize(v) >= 2); /* 16 tokens: a few members */
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    assert_true(jnum(j, "usage.completion_tokens") >= 8);
    cJSON_Delete(v);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

#define SCHEMA_REQ(extra)                                                                   \
    "{\"model\":\"m\",\"n\":2," extra "\"response_format\":{\"type\":\"json_schema\","       \
    "\"json_schema\":{\"name\":\"movie\",\"strict\":true,\"schema\":" STRICT_SCHEMA "}},"      \
    "\"messages\":[{\"role\":\"user\",\"content\":\"a movie\"}]}"
    plan(m, TG_MOCK_API_CHAT, SCHEMA_REQ(""), &p);
    assert_int_equal(p.status, 200);
    j = parse(&p.body);
    check_movie(jstr(j, "choices.0.message.content"));
    check_movie(jstr(j, "choices.1.message.content"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Streamed: the deltas join into JSON that fits, over many chunks. */
    plan(m, TG_MOCK_API_CHAT, SCHEMA_REQ("\"stream\":true,"), &p);
    assert_true(p.stream);
    int pieces;
    char *joined = stream_joined(&p, false, &pieces);
    check_movie(joined);
    assert_true(pieces > 5);
    free(joined);
    tg_mock_plan_free(&p);

    /* Anthropic structured outputs. */
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":500,\"output_format\":{\"type\":\"json_schema\","
         "\"schema\":" STRICT_SCHEMA "},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "content.0.type"), "text");
    check_movie(jstr(j, "content.0.text"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":500,\"stream\":true,\"output_format\":{\"type\":"
         "\"json_schema\",\"schema\":" STRICT_SCHEMA "},\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &p);
    joined = stream_joined(&p, true, &pieces);
    check_movie(joined);
    free(joined);
    tg_mock_plan_free(&p);

    /* "text" is plain prose, as before. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"response_format\":{\"type\":\"text\"},\"messages\":"
         "[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    assert_null(cJSON_Parse(jstr(j, "choices.0.message.content")));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* json_object grows with output_tokens (and stays whole under max_tokens). */
static void test_json_object_size_follows_tokens(void **state)
{
    (void)state;
    struct tg_mock_options o;
    tg_mock_options_default(&o);
    o.output_tokens = 600;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"response_format\":{\"type\":\"json_object\"},\"messages\":"
         "[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    cJSON *j = parse(&p.body);
    cJSON *v = cJSON_Parse(jstr(j, "choices.0.message.content"));
    assert_int_equal(cJSON_GetArraySize(v), 100);
    double ct = jnum(j, "usage.completion_tokens");
    assert_true(ct > 300 && ct < 1200);
    cJSON_Delete(v);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"max_tokens\":30,\"response_format\":{\"type\":\"json_object\"},"
         "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    j = parse(&p.body);
    v = cJSON_Parse(jstr(j, "choices.0.message.content"));
    assert_int_equal(cJSON_GetArraySize(v), 5);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(v);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* tool_choice in both APIs: "required"/"any" and a named tool call even
 * after a tool result, "auto" only when the user spoke last, "none" never;
 * the arguments fit nested parameter schemas; among several tools the pick
 * is seeded and varies; a tool without parameters gets "{}". */
static void test_tool_choice_and_schemas(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    const char *after_result =
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
        "\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":"
        "\"c1\",\"content\":\"ok\"}]}";
    static const struct {
        const char *choice;
        bool calls;
    } openai[] = {{"", false}, {"\"tool_choice\":\"auto\",", false},
                  {"\"tool_choice\":\"required\",", true},
                  {"\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},", true},
                  {"\"tool_choice\":\"none\",", false}};
    for (size_t i = 0; i < sizeof(openai) / sizeof(openai[0]); i++) {
        char body[2048];
        snprintf(body, sizeof(body), "{\"model\":\"m\",%s\"tools\":[" WEATHER_TOOL "],%s",
                 openai[i].choice, after_result);
        plan(m, TG_MOCK_API_CHAT, body, &p);
        cJSON *j = parse(&p.body);
        if (openai[i].calls != (jpath(j, "choices.0.message.tool_calls") != NULL))
            fail_msg("tool_choice %s after a tool result: tool call %s", openai[i].choice,
                     openai[i].calls ? "missing" : "made");
        if (openai[i].calls)
            check_weather_args(jstr(j, "choices.0.message.tool_calls.0.function.arguments"));
        cJSON_Delete(j);
        tg_mock_plan_free(&p);
    }
    static const struct {
        const char *choice;
        bool calls;
    } anthropic[] = {{"", false}, {"\"tool_choice\":{\"type\":\"auto\"},", false},
                     {"\"tool_choice\":{\"type\":\"any\"},", true},
                     {"\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\"},", true},
                     {"\"tool_choice\":{\"type\":\"none\"},", false}};
    for (size_t i = 0; i < sizeof(anthropic) / sizeof(anthropic[0]); i++) {
        char body[2048];
        snprintf(body, sizeof(body),
                 "{\"model\":\"c\",\"max_tokens\":100,%s\"tools\":[" ANTHROPIC_TOOL "],"
                 "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
                 "\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"get_weather\","
                 "\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                 "\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}]}",
                 anthropic[i].choice);
        plan(m, TG_MOCK_API_MESSAGES, body, &p);
        cJSON *j = parse(&p.body);
        bool called = strcmp(jstr(j, "stop_reason"), "tool_use") == 0;
        if (anthropic[i].calls != called)
            fail_msg("tool_choice %s after a tool result: tool use %s", anthropic[i].choice,
                     anthropic[i].calls ? "missing" : "made");
        if (called) {
            char *input = cJSON_PrintUnformatted(jpath(j, "content.0.input"));
            check_weather_args(input);
            free(input);
        }
        cJSON_Delete(j);
        tg_mock_plan_free(&p);
    }

    /* Nested parameters, streamed in fragments, fit the schema. */
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"stream\":true,\"tool_choice\":\"required\",\"tools\":[{\"type\":"
         "\"function\",\"function\":{\"name\":\"rate\",\"strict\":true,\"parameters\":"
         STRICT_SCHEMA "}}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    int pieces;
    char *joined = stream_joined(&p, false, &pieces);
    check_movie(joined);
    assert_true(pieces > 3);
    free(joined);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_MESSAGES,
         "{\"model\":\"c\",\"max_tokens\":100,\"stream\":true,\"tool_choice\":{\"type\":\"any\"},"
         "\"tools\":[{\"name\":\"rate\",\"input_schema\":" STRICT_SCHEMA "}],\"messages\":"
         "[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    joined = stream_joined(&p, true, &pieces);
    check_movie(joined);
    free(joined);
    tg_mock_plan_free(&p);

    /* Several tools: the pick varies with the seed; a tool without
     * parameters (and a non-function tool, skipped) gets "{}". */
    bool saw_weather = false, saw_ping = false;
    for (int i = 0; i < 20; i++) {
        plan(m, TG_MOCK_API_CHAT,
             "{\"model\":\"m\",\"tool_choice\":\"required\",\"tools\":[{\"type\":\"web_search\"},"
             WEATHER_TOOL ",{\"type\":\"function\",\"function\":{\"name\":\"ping\"}}],"
             "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
             &p);
        cJSON *j = parse(&p.body);
        const char *name = jstr(j, "choices.0.message.tool_calls.0.function.name");
        const char *args = jstr(j, "choices.0.message.tool_calls.0.function.arguments");
        if (strcmp(name, "ping") == 0) {
            saw_ping = true;
            assert_string_equal(args, "{}");
        } else {
            assert_string_equal(name, "get_weather");
            saw_weather = true;
            check_weather_args(args);
        }
        cJSON_Delete(j);
        tg_mock_plan_free(&p);
    }
    assert_true(saw_weather && saw_ping);
    mock_del(m);
}

/* "logprobs": true (and top_logprobs): per-token entries whose tokens spell
 * the content, with bytes and alternatives; streamed, each chunk carries its
 * token's entry. Before: "logprobs": null whatever was asked. */
static void test_chat_logprobs(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"logprobs\":true,\"top_logprobs\":3,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &p);
    cJSON *j = parse(&p.body);
    const cJSON *content = jpath(j, "choices.0.logprobs.content");
    assert_int_equal(cJSON_GetArraySize(content), 16);
    struct tg_buf spelled = TG_BUF_INIT;
    const cJSON *e;
    cJSON_ArrayForEach(e, content)
    {
        const char *tok = jstr(e, "token");
        tg_buf_puts(&spelled, tok);
        assert_true(jnum(e, "logprob") <= 0);
        assert_int_equal(cJSON_GetArraySize(jpath(e, "bytes")), (int)strlen(tok));
        assert_int_equal((int)jnum(e, "bytes.0"), (unsigned char)tok[0]);
        assert_int_equal(cJSON_GetArraySize(jpath(e, "top_logprobs")), 3);
        assert_string_equal(jstr(e, "top_logprobs.0.token"), tok);
        assert_true(jnum(e, "top_logprobs.1.logprob") < jnum(e, "top_logprobs.0.logprob"));
    }
    assert_string_equal(spelled.data, jstr(j, "choices.0.message.content"));
    tg_buf_free(&spelled);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"stream\":true,\"logprobs\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &p);
    struct sse *s = sse_parse(&p);
    int with_logprobs = 0;
    for (size_t i = 0; i + 1 < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        const cJSON *d = jpath(c, "choices.0.delta.content");
        const char *delta = cJSON_IsString(d) ? d->valuestring : NULL;
        if (delta && delta[0]) {
            assert_string_equal(jstr(c, "choices.0.logprobs.content.0.token"), delta);
            assert_int_equal(cJSON_GetArraySize(jpath(c, "choices.0.logprobs.content.0.top_logprobs")), 0);
            with_logprobs++;
        }
        cJSON_Delete(c);
    }
    assert_int_equal(with_logprobs, 16);
    sse_free(s);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"logprobs\":true,\"top_logprobs\":21,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         &p);
    assert_int_equal(p.status, 400);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* The request's "seed": the same seed gives the same words (and the same
 * structured content) whatever came before; another seed, other words.
 * Before: ignored, every answer differed. */
static void test_request_seed(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    static const char *const bodies[] = {
        "{\"model\":\"m\",\"seed\":42,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"seed\":42,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"seed\":43,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"seed\":1e300,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
    };
    char *texts[4];
    for (int i = 0; i < 4; i++) {
        struct tg_mock_plan p;
        plan(m, TG_MOCK_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &p);
        tg_mock_plan_free(&p); /* an unseeded answer between: no effect */
        plan(m, TG_MOCK_API_CHAT, bodies[i], &p);
        cJSON *j = parse(&p.body);
        texts[i] = strdup(jstr(j, "choices.0.message.content"));
        cJSON_Delete(j);
        tg_mock_plan_free(&p);
    }
    assert_string_equal(texts[0], texts[1]);
    assert_string_not_equal(texts[0], texts[2]);
    for (int i = 0; i < 4; i++)
        free(texts[i]);
    mock_del(m);
}

/* ---- the Responses API ---------------------------------------------------- */

/* POST /v1/responses (SPEC section 7; the OpenAI SDK's responses.create and
 * responses.parse). Before: 404. Text, text.format json_schema, function
 * calls from flat tools, max_output_tokens, and the event stream whose
 * deltas join into what response.completed reports. */
static void test_responses(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_RESPONSES,
         "{\"model\":\"gpt-5\",\"instructions\":\"be brief\",\"input\":\"hello\"}", &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "object"), "response");
    assert_string_equal(jstr(j, "status"), "completed");
    assert_string_equal(jstr(j, "output.0.type"), "message");
    assert_string_equal(jstr(j, "output.0.role"), "assistant");
    assert_string_equal(jstr(j, "output.0.content.0.type"), "output_text");
    assert_true(strlen(jstr(j, "output.0.content.0.text")) > 0);
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 16);
    assert_true(jnum(j, "usage.input_tokens") > 3);
    assert_true(jnum(j, "usage.total_tokens") ==
                jnum(j, "usage.input_tokens") + jnum(j, "usage.output_tokens"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_RESPONSES,
         "{\"model\":\"gpt-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
         "\"input_text\",\"text\":\"a movie\"}]}],\"text\":{\"format\":{\"type\":\"json_schema\","
         "\"name\":\"movie\",\"strict\":true,\"schema\":" STRICT_SCHEMA "}}}",
         &p);
    j = parse(&p.body);
    check_movie(jstr(j, "output.0.content.0.text"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Flat function tools; "auto" after a function_call_output: text. */
    const char *tools = "\"tools\":[{\"type\":\"web_search\"},{\"type\":\"function\",\"name\":"
                        "\"rate\",\"strict\":true,\"parameters\":" STRICT_SCHEMA "}]";
    char body[4096];
    snprintf(body, sizeof(body), "{\"model\":\"gpt-5\",\"input\":\"rate it\",%s}", tools);
    plan(m, TG_MOCK_API_RESPONSES, body, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "output.0.type"), "function_call");
    assert_string_equal(jstr(j, "output.0.name"), "rate");
    assert_true(strncmp(jstr(j, "output.0.call_id"), "call_", 5) == 0);
    check_movie(jstr(j, "output.0.arguments"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    snprintf(body, sizeof(body),
             "{\"model\":\"gpt-5\",\"input\":[{\"role\":\"user\",\"content\":\"rate it\"},"
             "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"rate\",\"arguments\":"
             "\"{}\"},{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"5\"}],%s}",
             tools);
    plan(m, TG_MOCK_API_RESPONSES, body, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "output.0.type"), "message");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* max_output_tokens cuts: status incomplete, with the reason. */
    plan(m, TG_MOCK_API_RESPONSES,
         "{\"model\":\"gpt-5\",\"input\":\"x\",\"max_output_tokens\":5}", &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "status"), "incomplete");
    assert_string_equal(jstr(j, "incomplete_details.reason"), "max_output_tokens");
    assert_string_equal(jstr(j, "output.0.status"), "incomplete"); /* the cut item too */
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 5);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* No input: OpenAI's 400. */
    plan(m, TG_MOCK_API_RESPONSES, "{\"model\":\"gpt-5\"}", &p);
    assert_int_equal(p.status, 400);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Streams: text and function call arguments. */
    for (int tool = 0; tool < 2; tool++) {
        snprintf(body, sizeof(body), "{\"model\":\"gpt-5\",\"stream\":true,\"input\":\"x\"%s%s}",
                 tool ? "," : "", tool ? tools : "");
        plan(m, TG_MOCK_API_RESPONSES, body, &p);
        assert_true(p.stream);
        struct sse *s = sse_parse(&p);
        check_pieces(&p, s);
        struct tg_buf joined = TG_BUF_INIT;
        int deltas = 0;
        for (size_t i = 0; i < s->n; i++) {
            cJSON *e = cJSON_Parse(s->ev[i].data);
            assert_non_null(e);
            assert_int_equal((int)jnum(e, "sequence_number"), (int)i);
            const char *type = jstr(e, "type");
            if (i == 0)
                assert_string_equal(type, "response.created");
            if (strstr(type, ".delta")) {
                tg_buf_puts(&joined, jstr(e, "delta"));
                deltas++;
            }
            if (i == s->n - 1) {
                assert_string_equal(type, "response.completed");
                const char *whole = tool ? jstr(e, "response.output.0.arguments")
                                         : jstr(e, "response.output.0.content.0.text");
                assert_string_equal(joined.data, whole);
                if (tool)
                    check_movie(whole);
                assert_true(jnum(e, "response.usage.output_tokens") > 0);
            }
            cJSON_Delete(e);
        }
        assert_true(deltas > 3);
        tg_buf_free(&joined);
        sse_free(s);
        tg_mock_plan_free(&p);
    }

    /* A scripted stream error: an "error" event after two deltas. */
    script_ok(m, "[{\"stream_error_after_chunks\":2}]", 1);
    plan(m, TG_MOCK_API_RESPONSES, "{\"model\":\"gpt-5\",\"stream\":true,\"input\":\"x\"}", &p);
    struct sse *s = sse_parse(&p);
    cJSON *e = cJSON_Parse(s->ev[s->n - 1].data);
    assert_string_equal(jstr(e, "type"), "error");
    assert_string_equal(jstr(e, "code"), "server_error");
    cJSON_Delete(e);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* ---- embeddings ---------------------------------------------------------- */

static size_t b64_decode(const char *s, unsigned char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0, len = strlen(s);
    assert_int_equal(len % 4, 0);
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = strchr(tab, s[i + k]);
            if (s[i + k] == '=')
                pad++;
            else if (!c || !s[i + k])
                fail_msg("not base64: %c", s[i + k]);
            w = w << 6 | (uint32_t)(c && s[i + k] != '=' ? c - tab : 0);
        }
        out[n++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[n++] = (unsigned char)w;
    }
    return n;
}

/* The vector of data[i] in a body, as floats, whichever the encoding. */
static int vector_of(const cJSON *j, int i, float *v, int max)
{
    char path[32];
    snprintf(path, sizeof(path), "data.%d.embedding", i);
    const cJSON *e = jpath(j, path);
    if (cJSON_IsString(e)) {
        unsigned char *bytes = malloc(strlen(e->valuestring));
        size_t n = b64_decode(e->valuestring, bytes);
        assert_int_equal(n % 4, 0);
        assert_true(n / 4 <= (size_t)max);
        for (size_t d = 0; d < n / 4; d++) {
            uint32_t u = (uint32_t)bytes[4 * d] | (uint32_t)bytes[4 * d + 1] << 8 |
                         (uint32_t)bytes[4 * d + 2] << 16 | (uint32_t)bytes[4 * d + 3] << 24;
            memcpy(&v[d], &u, 4);
        }
        free(bytes);
        return (int)(n / 4);
    }
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, e)
    {
        assert_true(n < max);
        v[n++] = (float)x->valuedouble;
    }
    return n;
}

static double norm_of(const float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

/* encoding_format "base64" (the Node SDK's default) is little-endian
 * float32 in base64: the same vector as "float" gives for the same text.
 * Before: float arrays whatever was asked (the SDK decoded zeros). Vectors
 * are unit length, not zero, the same for the same text in any request and
 * position, different for different texts; dimensions sets the length;
 * text-embedding-3-large defaults to 3072. */
static void test_embeddings_encodings(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    static float a[3072], b[3072], c[3072];
    plan(m, TG_MOCK_API_EMBEDDINGS,
         "{\"model\":\"e\",\"encoding_format\":\"base64\",\"input\":[\"alpha\",\"beta\"]}", &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    assert_true(cJSON_IsString(jpath(j, "data.0.embedding")));
    assert_int_equal(vector_of(j, 0, a, 3072), 1536);
    assert_int_equal(vector_of(j, 1, b, 3072), 1536);
    assert_true(fabs(norm_of(a, 1536) - 1) < 1e-5);
    assert_true(fabs(norm_of(b, 1536) - 1) < 1e-5);
    assert_true(memcmp(a, b, 1536 * sizeof(float)) != 0);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Float, other position, another request: the same vector for "beta". */
    plan(m, TG_MOCK_API_EMBEDDINGS,
         "{\"model\":\"e\",\"encoding_format\":\"float\",\"input\":[\"beta\"]}", &p);
    j = parse(&p.body);
    assert_true(cJSON_IsArray(jpath(j, "data.0.embedding")));
    assert_int_equal(vector_of(j, 0, c, 3072), 1536);
    for (int d = 0; d < 1536; d++)
        if (fabs(c[d] - b[d]) > 1e-8)
            fail_msg("dimension %d: float %.9f, base64 %.9f", d, c[d], b[d]);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* dimensions with base64; token arrays. */
    plan(m, TG_MOCK_API_EMBEDDINGS,
         "{\"model\":\"e\",\"encoding_format\":\"base64\",\"dimensions\":7,\"input\":"
         "[[1,2,3],[4,5]]}",
         &p);
    j = parse(&p.body);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "data")), 2);
    assert_int_equal(vector_of(j, 0, a, 3072), 7);
    assert_int_equal(vector_of(j, 1, b, 3072), 7);
    assert_true(fabs(norm_of(a, 7) - 1) < 1e-5);
    assert_int_equal((int)jnum(j, "usage.prompt_tokens"), 5);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_EMBEDDINGS, "{\"model\":\"text-embedding-3-large\",\"input\":\"x\"}",
         &p);
    j = parse(&p.body);
    assert_int_equal(vector_of(j, 0, a, 3072), 3072);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* "n": 2 with "stream": true: each choice streams its own deltas and ends
 * with its own finish_reason, as OpenAI does (usage already counts n). */
static void test_chat_stream_n_choices(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.output_tokens = 4;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"n\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
         "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         &p);
    struct sse *s = sse_parse(&p);
    int content[2] = {0, 0}, finished[2] = {0, 0};
    double usage = -1;
    for (size_t i = 0; i + 1 < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        assert_non_null(c);
        const cJSON *ch;
        cJSON_ArrayForEach(ch, jpath(c, "choices"))
        {
            int idx = (int)jnum(ch, "index");
            assert_true(idx >= 0 && idx < 2);
            const cJSON *d = jpath(ch, "delta.content");
            if (cJSON_IsString(d) && d->valuestring[0])
                content[idx]++;
            if (cJSON_IsString(jpath(ch, "finish_reason")))
                finished[idx]++;
        }
        if (jpath(c, "usage") && cJSON_IsNumber(jpath(c, "usage.completion_tokens")))
            usage = jnum(c, "usage.completion_tokens");
        cJSON_Delete(c);
    }
    if (content[1] == 0 || finished[1] != 1)
        fail_msg("n=2 stream: choice 1 got %d content chunks and %d finish_reason (choice 0: "
                 "%d, %d)",
                 content[1], finished[1], content[0], finished[0]);
    assert_int_equal(content[0], 4);
    assert_int_equal(content[1], 4);
    assert_int_equal(finished[0], 1);
    assert_true(usage == 8);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* ---- script steps -------------------------------------------------------- */

static void test_script_status_error_shapes(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    cJSON *j;

    /* OpenAI insufficient_quota: 429, code and type insufficient_quota. */
    script_ok(m, "[{\"status\":429,\"error_code\":\"insufficient_quota\"}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 429);
    assert_true(p.scripted);
    assert_true(has_header(&p, "Content-Type: application/json\r\n"));
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.code"), "insufficient_quota");
    assert_string_equal(jstr(j, "error.type"), "insufficient_quota");
    assert_true(strstr(jstr(j, "error.message"), "quota") != NULL);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Plain 429: a rate limit in OpenAI's words. */
    script_ok(m, "[{\"status\":429}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 429);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.code"), "rate_limit_exceeded");
    assert_true(strstr(jstr(j, "error.message"), "Rate limit") != NULL);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* context_length_exceeded: 400 invalid_request_error. */
    script_ok(m, "[{\"status\":400,\"error_code\":\"context_length_exceeded\"}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 400);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.code"), "context_length_exceeded");
    assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
    assert_true(strstr(jstr(j, "error.message"), "context length") != NULL);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* 503 on completions and embeddings: server_error. */
    script_ok(m, "[{\"status\":503},{\"status\":500}]", 2);
    plan(m, TG_MOCK_API_COMPLETIONS, COMPL, &p);
    assert_int_equal(p.status, 503);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.type"), "server_error");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_EMBEDDINGS, EMBED, &p);
    assert_int_equal(p.status, 500);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.type"), "server_error");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* A streamed request that fails gets a JSON error, not a stream. */
    script_ok(m, "[{\"status\":502}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_int_equal(p.status, 502);
    assert_false(p.stream);
    assert_true(has_header(&p, "Content-Type: application/json\r\n"));
    cJSON_Delete(parse(&p.body));
    tg_mock_plan_free(&p);

    /* Anthropic spend limit: 429 with details.error_code. */
    script_ok(m, "[{\"status\":429,\"error_code\":\"enforced_spend_limit_reached\"}]", 1);
    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    assert_int_equal(p.status, 429);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "type"), "error");
    assert_string_equal(jstr(j, "error.type"), "rate_limit_error");
    assert_string_equal(jstr(j, "error.details.error_code"), "enforced_spend_limit_reached");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Anthropic context too long: "prompt is too long". */
    script_ok(m, "[{\"status\":400,\"error_code\":\"context_length_exceeded\"}]", 1);
    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    assert_int_equal(p.status, 400);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
    assert_true(strstr(jstr(j, "error.message"), "prompt is too long") != NULL);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Anthropic 529 overloaded_error, 401 authentication_error, 429 rate_limit_error. */
    script_ok(m, "[{\"status\":529},{\"status\":401},{\"status\":429}]", 3);
    static const char *const atypes[] = {"overloaded_error", "authentication_error",
                                         "rate_limit_error"};
    static const int astatus[] = {529, 401, 429};
    for (int i = 0; i < 3; i++) {
        plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
        assert_int_equal(p.status, astatus[i]);
        j = parse(&p.body);
        assert_string_equal(jstr(j, "type"), "error");
        assert_string_equal(jstr(j, "error.type"), atypes[i]);
        cJSON_Delete(j);
        tg_mock_plan_free(&p);
    }

    /* error_type / error_message override, with characters that need escaping. */
    script_ok(m, "[{\"status\":400,\"error_code\":\"content_filter\",\"error_type\":\"my_type\","
                 "\"error_message\":\"bad \\\"thing\\\"\\n\"}]",
              1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "error.code"), "content_filter");
    assert_string_equal(jstr(j, "error.type"), "my_type");
    assert_string_equal(jstr(j, "error.message"), "bad \"thing\"\n");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* The script is used up: normal answers again. */
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    assert_false(p.scripted);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_script_retry_after_headers(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    script_ok(m,
              "[{\"status\":429,\"retry_after\":2},"
              "{\"status\":429,\"retry_after\":\"Wed, 21 Oct 2015 07:28:00 GMT\"},"
              "{\"status\":429,\"retry_after_ms\":1500},"
              "{\"status\":503,\"retry_after\":0.5,\"headers\":{\"x-ratelimit-remaining-requests\":"
              "\"0\",\"X-Custom\":\"a b\"}}]",
              4);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 429);
    assert_true(has_header(&p, "Retry-After: 2\r\n"));
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_true(has_header(&p, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"));
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_true(has_header(&p, "retry-after-ms: 1500\r\n"));
    assert_false(has_header(&p, "Retry-After:"));
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    assert_int_equal(p.status, 503);
    assert_true(has_header(&p, "Retry-After: 0.5\r\n"));
    assert_true(has_header(&p, "x-ratelimit-remaining-requests: 0\r\n"));
    assert_true(has_header(&p, "X-Custom: a b\r\n"));
    tg_mock_plan_free(&p);

    /* Headers on a success too. */
    script_ok(m, "[{\"headers\":{\"x-request-id\":\"abc\"}}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    assert_true(has_header(&p, "x-request-id: abc\r\n"));
    assert_true(has_header(&p, "Content-Type: application/json\r\n"));
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* hang_after_chunks: a stream that stalls after its commit point, with so
 * many content chunks sent (the opening role chunk comes before them). */
static void test_script_hang_after_chunks(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.output_tokens = 5;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    script_ok(m, "[{\"hang_after_chunks\":2},{\"hang_after_chunks\":0}]", 2);
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_true(p.stream);
    assert_true(p.hang);
    assert_int_equal(p.hang_after, 3);
    assert_true(p.hang_after < p.n_pieces);
    tg_mock_plan_free(&p);
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_true(p.hang);
    assert_int_equal(p.hang_after, 1); /* before any content */
    tg_mock_plan_free(&p);
    script_bad(m, "[{\"hang_after_chunks\":-1}]", "hang_after_chunks");
    mock_del(m);
}

static void test_script_timing_faults(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.latency_ms = 50;
    o.tokens_per_s = 100;
    o.output_tokens = 5;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    script_ok(m,
              "[{\"delay_ms\":1234},{\"status\":503,\"delay_ms\":300},{\"delay_ms\":0},"
              "{\"delay_ms\":200},{\"hang\":true},{\"hang\":true},{\"hang\":false},"
              "{\"reset_after_bytes\":10},{\"reset_after_bytes\":0}]",
              9);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    assert_true(p.delay_ms == 1234.0);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 503);
    assert_true(p.delay_ms == 300.0);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_true(p.delay_ms == 0.0);
    tg_mock_plan_free(&p);

    /* A streamed answer starts at delay_ms and keeps its pace. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_true(p.stream);
    assert_true(p.delay_ms == 200.0);
    assert_true(p.pieces[0].at_ms == 200.0);
    assert_true(p.pieces[p.n_pieces - 1].at_ms == 200.0 + 4 * 10.0);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_true(p.hang);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_true(p.hang);
    assert_true(p.stream);
    assert_true(p.hang_after < p.n_pieces);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_false(p.hang);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.reset_after_bytes, 10);
    assert_int_equal(p.status, 200);
    assert_true(p.body.len > 10);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.reset_after_bytes, 0);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_false(p.hang);
    assert_int_equal(p.reset_after_bytes, -1);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_script_content(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    cJSON *j;
    script_ok(m,
              "[{\"content\":\"I can't help with that.\",\"finish_reason\":\"content_filter\"},"
              "{\"content\":\"Plain answer here\"},"
              "{\"content\":\"refused\",\"finish_reason\":\"content_filter\"},"
              "{\"content\":\"abc def\"}]",
              4);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.message.content"), "I can't help with that.");
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "content_filter");
    assert_true(jnum(j, "usage.completion_tokens") >= 1);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_COMPLETIONS, COMPL, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.text"), "Plain answer here");
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "content.0.text"), "refused");
    assert_string_equal(jstr(j, "stop_reason"), "refusal");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Scripted content streamed: the deltas join to the content. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    char text[256] = "";
    for (size_t i = 0; i + 1 < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        const cJSON *d = jpath(c, "choices.0.delta.content");
        if (cJSON_IsString(d))
            strcat(text, d->valuestring);
        cJSON_Delete(c);
    }
    assert_string_equal(text, "abc def");
    sse_free(s);
    tg_mock_plan_free(&p);

    /* content wins over tools: no tool call. */
    script_ok(m, "[{\"content\":\"no tools today\"}]", 1);
    plan(m, TG_MOCK_API_CHAT,
         "{\"model\":\"m\",\"tools\":[" WEATHER_TOOL "],\"messages\":[{\"role\":\"user\","
         "\"content\":\"weather?\"}]}",
         &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.message.content"), "no tools today");
    assert_null(jpath(j, "choices.0.message.tool_calls"));
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* finish_reason alone. */
    script_ok(m, "[{\"finish_reason\":\"length\"}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "length");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* content "" makes an empty answer in every format. */
static void test_script_empty_content(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    cJSON *j;
    script_ok(m, "[{\"content\":\"\",\"repeat\":6}]", 1);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.message.content"), "");
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 0);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_COMPLETIONS, COMPL, &p);
    j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.text"), "");
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    j = parse(&p.body);
    const cJSON *content = jpath(j, "content");
    assert_true(cJSON_IsArray(content));
    /* Either no block or one empty text block. */
    if (cJSON_GetArraySize(content) > 0)
        assert_string_equal(jstr(j, "content.0.text"), "");
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 0);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* Streamed: no content chunk, but a proper end. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    assert_string_equal(s->ev[s->n - 1].data, "[DONE]");
    for (size_t i = 0; i + 1 < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        assert_non_null(c);
        const cJSON *d = jpath(c, "choices.0.delta.content");
        if (cJSON_IsString(d))
            assert_string_equal(d->valuestring, "");
        cJSON_Delete(c);
    }
    sse_free(s);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_COMPLETIONS, COMPL_STREAM, &p);
    s = sse_parse(&p);
    assert_string_equal(s->ev[s->n - 1].data, "[DONE]");
    sse_free(s);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_MESSAGES, MSGS_STREAM, &p);
    s = sse_parse(&p);
    assert_string_equal(s->ev[s->n - 1].name, "message_stop");
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* output_tokens 0 (option or step): an empty answer, like content "". */
static void test_zero_output_tokens(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    script_ok(m, "[{\"output_tokens\":0}]", 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    cJSON *j = parse(&p.body);
    assert_string_equal(jstr(j, "choices.0.message.content"), "");
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 0);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_script_output_tokens_and_body(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    cJSON *j;
    script_ok(m,
              "[{\"output_tokens\":3},{\"output_tokens\":100},"
              "{\"body\":\"{\\\"choices\\\": [\"},"
              "{\"status\":500,\"body\":\"upstream exploded\"},"
              "{\"status\":200,\"body\":\"{}\",\"delay_ms\":70}]",
              5);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.completion_tokens"), 3);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_MESSAGES, MSGS, &p);
    j = parse(&p.body);
    assert_int_equal((int)jnum(j, "usage.output_tokens"), 100);
    cJSON_Delete(j);
    tg_mock_plan_free(&p);

    /* A raw body goes as is: broken JSON for a streamed request too. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_int_equal(p.status, 200);
    assert_false(p.stream);
    assert_int_equal(p.body.len, strlen("{\"choices\": ["));
    assert_memory_equal(p.body.data, "{\"choices\": [", p.body.len);
    tg_mock_plan_free(&p);

    /* Whatever the request (even not JSON). */
    plan(m, TG_MOCK_API_EMBEDDINGS, "garbage", &p);
    assert_int_equal(p.status, 500);
    assert_string_equal(p.body.data, "upstream exploded");
    tg_mock_plan_free(&p);

    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    assert_string_equal(p.body.data, "{}");
    assert_true(p.delay_ms == 70.0);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_script_stream_error(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.output_tokens = 10;
    struct tg_mock *m = mock_new(&o);
    struct tg_mock_plan p;
    script_ok(m,
              "[{\"stream_error_after_chunks\":3},{\"stream_error_after_chunks\":0},"
              "{\"stream_error_after_chunks\":2},{\"stream_error_after_chunks\":4,"
              "\"error_type\":\"server_error\",\"error_message\":\"boom\"},"
              "{\"stream_error_after_chunks\":50}]",
              5);

    /* OpenAI chat: 3 content chunks, then an error event, then nothing more. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    assert_int_equal(p.status, 200);
    struct sse *s = sse_parse(&p);
    check_pieces(&p, s);
    size_t content = 0, err_at = 0;
    bool have_err = false;
    for (size_t i = 0; i < s->n; i++) {
        cJSON *c = cJSON_Parse(s->ev[i].data);
        if (!c) {
            assert_false(have_err); /* [DONE] only before the error... */
            continue;
        }
        if (jpath(c, "error")) {
            assert_false(have_err);
            have_err = true;
            err_at = i;
            assert_true(strlen(jstr(c, "error.message")) > 0);
            assert_true(strlen(jstr(c, "error.type")) > 0);
        } else if (cJSON_IsString(jpath(c, "choices.0.delta.content")) &&
                   strlen(jstr(c, "choices.0.delta.content")) > 0) {
            assert_false(have_err); /* no content after the error */
            content++;
        }
        cJSON_Delete(c);
    }
    assert_true(have_err);
    assert_int_equal(content, 3);
    assert_true(err_at >= 3);
    sse_free(s);
    tg_mock_plan_free(&p);

    /* 0: the error before any content. */
    plan(m, TG_MOCK_API_COMPLETIONS, COMPL_STREAM, &p);
    s = sse_parse(&p);
    check_pieces(&p, s);
    cJSON *c = cJSON_Parse(s->ev[0].data);
    assert_non_null(jpath(c, "error"));
    cJSON_Delete(c);
    sse_free(s);
    tg_mock_plan_free(&p);

    /* Anthropic: an "error" event after 2 deltas, no message_stop. */
    plan(m, TG_MOCK_API_MESSAGES, MSGS_STREAM, &p);
    s = sse_parse(&p);
    check_pieces(&p, s);
    size_t deltas = 0;
    for (size_t i = 0; i < s->n; i++)
        deltas += strcmp(s->ev[i].name, "content_block_delta") == 0;
    assert_int_equal(deltas, 2);
    assert_string_equal(s->ev[s->n - 1].name, "error");
    c = cJSON_Parse(s->ev[s->n - 1].data);
    assert_string_equal(jstr(c, "type"), "error");
    assert_true(strlen(jstr(c, "error.type")) > 0);
    cJSON_Delete(c);
    for (size_t i = 0; i < s->n; i++)
        assert_string_not_equal(s->ev[i].name, "message_stop");
    sse_free(s);
    tg_mock_plan_free(&p);

    /* Given type and message. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    s = sse_parse(&p);
    bool found = false;
    for (size_t i = 0; i < s->n; i++) {
        c = cJSON_Parse(s->ev[i].data);
        if (c && jpath(c, "error")) {
            assert_string_equal(jstr(c, "error.message"), "boom");
            assert_string_equal(jstr(c, "error.type"), "server_error");
            found = true;
        }
        cJSON_Delete(c);
    }
    assert_true(found);
    sse_free(s);
    tg_mock_plan_free(&p);

    /* More chunks than the answer has: the error comes after all the content. */
    plan(m, TG_MOCK_API_CHAT, CHAT_STREAM, &p);
    s = sse_parse(&p);
    c = cJSON_Parse(s->ev[s->n - 1].data);
    assert_non_null(c);
    assert_non_null(jpath(c, "error"));
    cJSON_Delete(c);
    sse_free(s);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_script_repeat(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    struct tg_mock_plan p;
    script_ok(m, "[{\"status\":503,\"repeat\":3},{\"status\":429},{\"status\":200}]", 3);
    assert_int_equal(tg_mock_script_remaining(m), 5);
    const int want[] = {503, 503, 503, 429, 200, 200};
    const size_t left[] = {4, 3, 2, 1, 0, 0};
    const bool scripted[] = {true, true, true, true, true, false};
    for (int i = 0; i < 6; i++) {
        plan(m, TG_MOCK_API_CHAT, CHAT, &p);
        if (p.status != want[i])
            fail_msg("request %d: status %d, want %d", i, p.status, want[i]);
        assert_int_equal(p.scripted, scripted[i]);
        assert_int_equal(tg_mock_script_remaining(m), left[i]);
        tg_mock_plan_free(&p);
    }
    /* A new script replaces the old one at once. */
    script_ok(m, "[{\"status\":500,\"repeat\":10}]", 1);
    script_ok(m, "[{\"status\":502}]", 1);
    assert_int_equal(tg_mock_script_remaining(m), 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 502);
    tg_mock_plan_free(&p);
    /* An empty script clears it. */
    script_ok(m, "[{\"status\":500}]", 1);
    script_ok(m, "[]", 0);
    assert_int_equal(tg_mock_script_remaining(m), 0);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    tg_mock_plan_free(&p);
    mock_del(m);
}

static void test_script_validation(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    script_ok(m, "[{\"status\":418},{\"status\":419}]", 2);

    script_bad(m, "[{\"bogus\":1}]", "step 0");
    script_bad(m, "[{\"bogus\":1}]", "bogus");
    script_bad(m, "[{\"status\":500},{\"status\":500,\"sleep\":3}]", "step 1");
    script_bad(m, "[{}, {}, {\"status\":\"500\"}]", "step 2");
    script_bad(m, "[{\"status\":\"500\"}]", "status");
    script_bad(m, "[{\"status\":99}]", "status");
    script_bad(m, "[{\"status\":600}]", "status");
    script_bad(m, "[{\"status\":500.5}]", "status");
    script_bad(m, "[{\"retry_after\":true}]", "retry_after");
    script_bad(m, "[{\"retry_after\":-1}]", "retry_after");
    script_bad(m, "[{\"retry_after\":\"1\\r\\nX-Evil: 1\"}]", "retry_after");
    script_bad(m, "[{\"retry_after_ms\":\"100\"}]", "retry_after_ms");
    script_bad(m, "[{\"retry_after_ms\":-5}]", "retry_after_ms");
    script_bad(m, "[{\"error_code\":429}]", "error_code");
    script_bad(m, "[{\"delay_ms\":-1}]", "delay_ms");
    script_bad(m, "[{\"delay_ms\":\"10\"}]", "delay_ms");
    script_bad(m, "[{\"content\":5}]", "content");
    script_bad(m, "[{\"content\":null}]", "content");
    script_bad(m, "[{\"finish_reason\":[]}]", "finish_reason");
    script_bad(m, "[{\"hang\":1}]", "hang");
    script_bad(m, "[{\"hang\":\"true\"}]", "hang");
    script_bad(m, "[{\"reset_after_bytes\":-1}]", "reset_after_bytes");
    script_bad(m, "[{\"reset_after_bytes\":\"10\"}]", "reset_after_bytes");
    script_bad(m, "[{\"stream_error_after_chunks\":1.5}]", "stream_error_after_chunks");
    script_bad(m, "[{\"output_tokens\":-2}]", "output_tokens");
    script_bad(m, "[{\"body\":{}}]", "body");
    script_bad(m, "[{\"headers\":\"X-A: 1\"}]", "headers");
    script_bad(m, "[{\"headers\":{\"X-A\":1}}]", "headers");
    script_bad(m, "[{\"headers\":{\"X-A\":\"1\\r\\nX-B: 2\"}}]", "headers");
    script_bad(m, "[{\"headers\":{\"bad name\":\"1\"}}]", "headers");
    script_bad(m, "[{\"headers\":{\"\":\"1\"}}]", "headers");
    script_bad(m, "[{\"repeat\":0}]", "repeat");
    script_bad(m, "[{\"repeat\":\"3\"}]", "repeat");
    script_bad(m, "[1]", "step 0");
    script_bad(m, "[{\"status\":500},\"x\"]", "step 1");
    /* Malformed JSON and the wrong top-level type. */
    script_bad(m, "[{\"status\":500}", NULL);
    script_bad(m, "", NULL);
    script_bad(m, "not json", NULL);
    script_bad(m, "[{\"status\":500}] trailing", NULL);
    script_bad(m, "{\"status\":500}", NULL);
    script_bad(m, "500", NULL);

    /* Every rejection kept the old script. */
    assert_int_equal(tg_mock_script_remaining(m), 2);
    struct tg_mock_plan p;
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 418);
    tg_mock_plan_free(&p);
    script_bad(m, "[{\"status\":500},{\"nope\":1}]", "step 1");
    assert_int_equal(tg_mock_script_remaining(m), 1);
    plan(m, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 419);
    tg_mock_plan_free(&p);
    mock_del(m);
}

/* ---- error_rate ---------------------------------------------------------- */

static void test_error_rate(void **state)
{
    (void)state;
    struct tg_mock_options o;
    opts_with(&o);
    o.error_rate = 0.3;
    o.error_status = 500;
    o.output_tokens = 2;
    struct tg_mock *m = mock_new(&o);
    int failures = 0;
    const int n = 2000;
    for (int i = 0; i < n; i++) {
        struct tg_mock_plan p;
        plan(m, i % 2 ? TG_MOCK_API_CHAT : TG_MOCK_API_MESSAGES, i % 2 ? CHAT : MSGS, &p);
        if (p.status != 200) {
            if (p.status != 500)
                fail_msg("request %d: status %d, want 200 or 500", i, p.status);
            cJSON *j = parse(&p.body);
            assert_non_null(jpath(j, "error"));
            cJSON_Delete(j);
            failures++;
        }
        tg_mock_plan_free(&p);
    }
    double share = (double)failures / n;
    if (share < 0.25 || share > 0.35)
        fail_msg("failure share %.3f not in 0.25..0.35", share);

    /* error_rate 1 with another status: every request fails with it. */
    o.error_rate = 1;
    o.error_status = 429;
    struct tg_mock *all = mock_new(&o);
    for (int i = 0; i < 50; i++) {
        struct tg_mock_plan p;
        plan(all, TG_MOCK_API_COMPLETIONS, COMPL, &p);
        assert_int_equal(p.status, 429);
        tg_mock_plan_free(&p);
    }
    /* A script step takes precedence over error_rate. */
    script_ok(all, "[{\"content\":\"ok\"}]", 1);
    struct tg_mock_plan p;
    plan(all, TG_MOCK_API_CHAT, CHAT, &p);
    assert_int_equal(p.status, 200);
    tg_mock_plan_free(&p);
    mock_del(all);
    mock_del(m);
}

/* ---- options ------------------------------------------------------------- */

static void test_options(void **state)
{
    (void)state;
    struct tg_mock_options o;
    tg_mock_options_default(&o);
    assert_true(o.latency_ms == 50);
    assert_true(o.latency_p99_ms == 0);
    assert_true(o.tokens_per_s == 0);
    assert_int_equal(o.output_tokens, 16);
    assert_true(o.error_rate == 0);
    assert_int_equal(o.error_status, 503);
    assert_int_equal(o.seed, 1);
    assert_int_equal(tg_mock_option_set(&o, "latency_ms", 120), 0);
    assert_true(o.latency_ms == 120);
    assert_int_equal(tg_mock_option_set(&o, "latency-p99-ms", 900), 0);
    assert_true(o.latency_p99_ms == 900);
    assert_int_equal(tg_mock_option_set(&o, "output_tokens", 3.5), -2);
    assert_int_equal(tg_mock_option_set(&o, "error_rate", 1.5), -2);
    assert_int_equal(tg_mock_option_set(&o, "error_rate", -0.1), -2);
    assert_int_equal(tg_mock_option_set(&o, "error_status", 99), -2);
    assert_int_equal(tg_mock_option_set(&o, "no_such", 1), -1);
    assert_int_equal(tg_mock_option_set(&o, "seed", 77), 0);
    assert_int_equal(o.seed, 77);
    assert_non_null(tg_mock_option_find("tokens-per-s"));
    assert_null(tg_mock_option_find("tokens"));
}

/* ---- paths and stats ----------------------------------------------------- */

static void test_paths(void **state)
{
    (void)state;
    static const char *const paths[] = {"/v1/chat/completions", "/v1/completions",
                                        "/v1/embeddings", "/v1/messages", "/v1/responses"};
    for (int i = 0; i < TG_MOCK_API__COUNT; i++) {
        assert_string_equal(tg_mock_api_path((enum tg_mock_api)i), paths[i]);
        assert_int_equal(tg_mock_api_of_path(paths[i], strlen(paths[i])), i);
    }
    assert_int_equal(tg_mock_api_of_path("/v1/chat", 8), -1);
    assert_int_equal(tg_mock_api_of_path("/v1/chat/completions/", 21), -1);
    assert_int_equal(tg_mock_api_of_path("/v1/messagesX", 12), TG_MOCK_API_MESSAGES);
    assert_int_equal(tg_mock_api_of_path("", 0), -1);
}

static cJSON *stats(const struct tg_mock *m)
{
    struct tg_buf b = TG_BUF_INIT;
    tg_mock_stats_json(m, &b);
    cJSON *j = parse(&b);
    tg_buf_free(&b);
    return j;
}

/* What the server does for each API request: remember, plan, count. */
static int serve(struct tg_mock *m, enum tg_mock_api api, const char *body, const char *headers)
{
    tg_mock_remember(m, "POST", tg_mock_api_path(api), headers, body, strlen(body));
    struct tg_mock_plan p;
    plan(m, api, body, &p);
    tg_mock_count_status(m, p.status);
    int status = p.status;
    tg_mock_plan_free(&p);
    return status;
}

static void test_stats_json(void **state)
{
    (void)state;
    struct tg_mock *m = mock_new(NULL);
    cJSON *j = stats(m);
    assert_int_equal((int)jnum(j, "requests"), 0);
    assert_int_equal((int)jnum(j, "inflight"), 0);
    assert_int_equal((int)jnum(j, "script_remaining"), 0);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "recent")), 0);
    cJSON_Delete(j);

    script_ok(m, "[{\"status\":503,\"repeat\":2},{\"status\":429},{\"status\":400}]", 3);
    j = stats(m);
    assert_int_equal((int)jnum(j, "script_remaining"), 4);
    cJSON_Delete(j);

    assert_int_equal(serve(m, TG_MOCK_API_CHAT, CHAT, "{\"x-a\":\"1\"}"), 503);
    assert_int_equal(serve(m, TG_MOCK_API_CHAT, CHAT, "{}"), 503);
    assert_int_equal(serve(m, TG_MOCK_API_MESSAGES, MSGS, "{}"), 429);
    j = stats(m);
    assert_int_equal((int)jnum(j, "script_remaining"), 1);
    cJSON_Delete(j);
    assert_int_equal(serve(m, TG_MOCK_API_EMBEDDINGS, EMBED, "{}"), 400);
    assert_int_equal(serve(m, TG_MOCK_API_COMPLETIONS, COMPL, "{}"), 200);
    assert_int_equal(serve(m, TG_MOCK_API_CHAT, CHAT,
                           "{\"authorization\":\"Bearer sk-test\",\"x-request-id\":\"r-7\"}"),
                     200);

    j = stats(m);
    assert_int_equal((int)jnum(j, "requests"), 6);
    assert_int_equal((int)jnum(j, "script_remaining"), 0);
    const cJSON *bp = jpath(j, "by_path");
    assert_int_equal((int)jnum(bp, "/v1/chat/completions"), 3);
    assert_int_equal((int)jnum(bp, "/v1/messages"), 1);
    assert_int_equal((int)jnum(bp, "/v1/embeddings"), 1);
    assert_int_equal((int)jnum(bp, "/v1/completions"), 1);
    const cJSON *bs = jpath(j, "by_status");
    assert_int_equal((int)jnum(bs, "503"), 2);
    assert_int_equal((int)jnum(bs, "429"), 1);
    assert_int_equal((int)jnum(bs, "400"), 1);
    assert_int_equal((int)jnum(bs, "200"), 2);
    assert_null(jpath(bs, "500"));

    const cJSON *recent = jpath(j, "recent");
    assert_int_equal(cJSON_GetArraySize(recent), 6);
    /* Oldest first; the last one is the last request, with its headers and body. */
    assert_string_equal(jstr(recent, "0.headers.x-a"), "1");
    assert_string_equal(jstr(recent, "5.method"), "POST");
    assert_string_equal(jstr(recent, "5.path"), "/v1/chat/completions");
    assert_string_equal(jstr(recent, "5.headers.x-request-id"), "r-7");
    assert_string_equal(jstr(recent, "5.body"), CHAT);
    assert_string_equal(jstr(recent, "2.path"), "/v1/messages");
    cJSON_Delete(j);

    /* The recent ring keeps the last TG_MOCK_RECENT requests. */
    for (int i = 0; i < TG_MOCK_RECENT + 8; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"n\":%d}", i);
        tg_mock_remember(m, "POST", "/v1/completions", "{}", body, strlen(body));
    }
    j = stats(m);
    recent = jpath(j, "recent");
    assert_int_equal(cJSON_GetArraySize(recent), TG_MOCK_RECENT);
    assert_string_equal(jstr(recent, "0.body"), "{\"n\":8}");
    char last[64];
    snprintf(last, sizeof(last), "{\"n\":%d}", TG_MOCK_RECENT + 7);
    char path[32];
    snprintf(path, sizeof(path), "%d.body", TG_MOCK_RECENT - 1);
    assert_string_equal(jstr(recent, path), last);
    cJSON_Delete(j);

    /* Bodies with quotes, newlines and control bytes stay valid JSON; a big body is cut. */
    const char odd[] = "line1\n\"quoted\"\t\x01 end";
    tg_mock_remember(m, "POST", "/v1/chat/completions", "{}", odd, strlen(odd));
    size_t big_len = 100000;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    tg_mock_remember(m, "POST", "/v1/chat/completions", "{}", big, big_len);
    free(big);
    j = stats(m);
    recent = jpath(j, "recent");
    snprintf(path, sizeof(path), "%d.body", TG_MOCK_RECENT - 2);
    assert_string_equal(jstr(recent, path), odd);
    snprintf(path, sizeof(path), "%d.body", TG_MOCK_RECENT - 1);
    size_t cut = strlen(jstr(recent, path));
    assert_true(cut >= 1024 && cut < big_len);
    cJSON_Delete(j);

    /* Reset: counts, script and recent cleared. */
    script_ok(m, "[{\"status\":500}]", 1);
    tg_mock_reset(m);
    j = stats(m);
    assert_int_equal((int)jnum(j, "requests"), 0);
    assert_int_equal((int)jnum(j, "script_remaining"), 0);
    assert_int_equal((int)jnum(j, "by_path./v1/chat/completions"), 0);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "by_status")), 0);
    assert_int_equal(cJSON_GetArraySize(jpath(j, "recent")), 0);
    cJSON_Delete(j);
    assert_int_equal(serve(m, TG_MOCK_API_CHAT, CHAT, "{}"), 200);
    mock_del(m);
}

/* A failed assertion jumps out of its test and leaves that test's buffers
 * behind; LeakSanitizer would then bury the failure under leak reports. Leak
 * checking stays on whenever every test passed. */
static int failed_tests;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return failed_tests > 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lognormal_quantiles),
        cmocka_unit_test(test_lognormal_no_spread),
        cmocka_unit_test(test_plan_latency_quantiles),
        cmocka_unit_test(test_plan_latency_no_spread),
        cmocka_unit_test(test_seed_repeats),
        cmocka_unit_test(test_reset_reseeds),
        cmocka_unit_test(test_chat_plan),
        cmocka_unit_test(test_usage_realistic),
        cmocka_unit_test(test_output_tokens_and_max_tokens),
        cmocka_unit_test(test_completions_plan),
        cmocka_unit_test(test_embeddings_plan),
        cmocka_unit_test(test_messages_plan),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_chat_stream),
        cmocka_unit_test(test_chat_stream_unpaced),
        cmocka_unit_test(test_completions_stream),
        cmocka_unit_test(test_messages_stream),
        cmocka_unit_test(test_chat_tool_call),
        cmocka_unit_test(test_messages_tool_use),
        cmocka_unit_test(test_tool_call_stream_utf8),
        cmocka_unit_test(test_chat_stream_n_choices),
        cmocka_unit_test(test_response_format),
        cmocka_unit_test(test_json_object_size_follows_tokens),
        cmocka_unit_test(test_tool_choice_and_schemas),
        cmocka_unit_test(test_embeddings_encodings),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_chat_logprobs),
        cmocka_unit_test(test_request_seed),
        cmocka_unit_test(test_script_status_error_shapes),
        cmocka_unit_test(test_script_retry_after_headers),
        cmocka_unit_test(test_script_timing_faults),
        cmocka_unit_test(test_script_hang_after_chunks),
        cmocka_unit_test(test_script_content),
        cmocka_unit_test(test_script_empty_content),
        cmocka_unit_test(test_zero_output_tokens),
        cmocka_unit_test(test_script_output_tokens_and_body),
        cmocka_unit_test(test_script_stream_error),
        cmocka_unit_test(test_script_repeat),
        cmocka_unit_test(test_script_validation),
        cmocka_unit_test(test_error_rate),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_stats_json),
    };
    /* TG_TEST_FILTER / TG_TEST_SKIP: run some tests only (cmocka patterns). */
    if (getenv("TG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("TG_TEST_FILTER"));
    if (getenv("TG_TEST_SKIP"))
        cmocka_set_skip_filter(getenv("TG_TEST_SKIP"));
    failed_tests = cmocka_run_group_tests(tests, NULL, NULL);
    return failed_tests;
}

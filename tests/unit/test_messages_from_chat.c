/* Unit tests of formats/messages_from_chat.c's answer, error and stream
 * translators (chat.completion, OpenAI errors and chat.completion.chunk
 * streams to Anthropic Messages), as tables of (input, JSON path, expected
 * JSON) and event sequences; the stream fed through util/sse.c cut at every
 * offset of its wire bytes; and a round trip of a Messages request through
 * chat and back. Its chat -> Messages request translator is tested in
 * test_anthropic.c. JSON is written with ' for " (tg_test_q). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "fakes.h"
#include "formats/chat_from_messages.h"
#include "formats/messages_from_chat.h"
#include "util/sse.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static cJSON *parse_q(const char *quoted)
{
    char *t = tg_test_q(quoted);
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

/* An exact-size copy without a NUL, so reads past len are caught. */
static char *exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

/* ---- whole answers ---- */

struct row {
    const char *in;
    const char *path;
    const char *want;
};

#define ANSWER(message, finish, usage)                                                             \
    "{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'gpt-x','choices':"         \
    "[{'index':0,'message':" message ",'finish_reason':" finish "}]" usage "}"
#define TEXT_MSG "{'role':'assistant','content':'Hello'}"
#define USAGE ",'usage':{'prompt_tokens':10,'completion_tokens':2,'total_tokens':12}"
#define USAGE_CACHED                                                                               \
    ",'usage':{'prompt_tokens':10,'completion_tokens':2,'total_tokens':12,"                        \
    "'prompt_tokens_details':{'cached_tokens':4}}"
#define TOOL_MSG                                                                                   \
    "{'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',"           \
    "'function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},{'id':'call_2',"    \
    "'type':'function','function':{'name':'get_time','arguments':''}}]}"

static void test_answer_rows(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {ANSWER(TEXT_MSG, "'stop'", USAGE), "",
         "{'id':'chatcmpl-1','type':'message','role':'assistant','model':'gpt-x','content':"
         "[{'type':'text','text':'Hello'}],'stop_reason':'end_turn','stop_sequence':null,"
         "'usage':{'input_tokens':10,'output_tokens':2}}"},
        {ANSWER(TOOL_MSG, "'tool_calls'", USAGE), "content",
         "[{'type':'tool_use','id':'call_1','name':'get_weather','input':{'city':'Paris'}},"
         "{'type':'tool_use','id':'call_2','name':'get_time','input':{}}]"},
        {ANSWER(TOOL_MSG, "'tool_calls'", USAGE), "stop_reason", "'tool_use'"},
        {ANSWER("{'role':'assistant','content':'Hi','tool_calls':[{'id':'c','type':'function',"
                "'function':{'name':'f','arguments':'{}'}}]}",
                "'tool_calls'", USAGE),
         "content",
         "[{'type':'text','text':'Hi'},{'type':'tool_use','id':'c','name':'f','input':{}}]"},
        /* reasoning content (DeepSeek, vLLM: reasoning_content; OpenRouter: reasoning) */
        {ANSWER("{'role':'assistant','content':'42','reasoning_content':'think'}", "'stop'", USAGE),
         "content",
         "[{'type':'thinking','thinking':'think','signature':''},{'type':'text','text':'42'}]"},
        {ANSWER("{'role':'assistant','content':'42','reasoning':'hm'}", "'stop'", USAGE),
         "content.0.thinking", "'hm'"},
        {ANSWER("{'role':'assistant','content':'42','reasoning_content':''}", "'stop'", USAGE),
         "content", "[{'type':'text','text':'42'}]"},
        /* cached prompt tokens apart from input_tokens, as Anthropic counts */
        {ANSWER(TEXT_MSG, "'stop'", USAGE_CACHED), "usage",
         "{'input_tokens':6,'cache_read_input_tokens':4,'output_tokens':2}"},
        {ANSWER(TEXT_MSG, "'stop'", ""), "usage", "{'input_tokens':0,'output_tokens':0}"},
        {ANSWER(TEXT_MSG, "'length'", USAGE), "stop_reason", "'max_tokens'"},
        {ANSWER(TEXT_MSG, "'content_filter'", USAGE), "stop_reason", "'refusal'"},
        {ANSWER(TEXT_MSG, "'function_call'", USAGE), "stop_reason", "'tool_use'"},
        {ANSWER(TEXT_MSG, "null", USAGE), "stop_reason", "'end_turn'"},
        {ANSWER("{'role':'assistant','content':null,'refusal':'I cannot'}", "'stop'", USAGE),
         "content", "[{'type':'text','text':'I cannot'}]"},
        {ANSWER("{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text',"
                "'text':'b'}]}",
                "'stop'", USAGE),
         "content", "[{'type':'text','text':'ab'}]"},
        {ANSWER("{'role':'assistant','content':''}", "'stop'", USAGE), "content", "[]"},
        {ANSWER("{'role':'assistant','content':'\\u00e9\\n\\''}", "'stop'", USAGE),
         "content.0.text", "'\\u00e9\\n\\''"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *in = tg_test_q(rows[i].in);
        struct tg_buf out = TG_BUF_INIT;
        char *body = exact(in, strlen(in));
        int rc = tg_fmt_messages_from_chat_answer(body, strlen(in), &out);
        free(body);
        cJSON *got = rc == 0 ? cJSON_Parse(out.data) : NULL;
        if (!got || !tg_test_matches(got, rows[i].path, rows[i].want)) {
            print_error("row %zu: %s should be %s in %s\n", i, rows[i].path, rows[i].want,
                        out.data ? out.data : "(declined)");
            bad++;
        }
        cJSON_Delete(got);
        tg_buf_free(&out);
        free(in);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

static void test_answer_rejects(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "",
        "not json",
        "{}",
        "{'choices':[]}",
        "{'choices':[{'message':'x'}]}",
        /* a Messages client reads tool input as an object */
        ANSWER("{'role':'assistant','content':null,'tool_calls':[{'id':'c','function':{'name':"
               "'f','arguments':'{\\'a\\':'}}]}",
               "'tool_calls'", USAGE),
        ANSWER("{'role':'assistant','content':null,'tool_calls':[{'id':'c','function':{'name':"
               "'f','arguments':'[1]'}}]}",
               "'tool_calls'", USAGE),
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *in = tg_test_q(rows[i]);
        struct tg_buf out = TG_BUF_INIT;
        char *body = exact(in, strlen(in));
        if (tg_fmt_messages_from_chat_answer(body, strlen(in), &out) != -1)
            fail_msg("row %zu accepted: %s", i, out.data);
        assert_int_equal(out.len, 0);
        free(body);
        free(in);
    }
}

/* ---- errors ---- */

struct err_row {
    int status;
    const char *body;
    const char *want;
};

static void test_errors(void **state)
{
    (void)state;
#define OAI(msg)                                                                                   \
    "{'error':{'message':'" msg "','type':'invalid_request_error','param':null,'code':null}}"
    static const struct err_row rows[] = {
        {400, OAI("bad"),
         "{'type':'error','error':{'type':'invalid_request_error','message':'bad'}}"},
        {401, OAI("key"),
         "{'type':'error','error':{'type':'authentication_error','message':'key'}}"},
        {403, OAI("no"), "{'type':'error','error':{'type':'permission_error','message':'no'}}"},
        {404, OAI("gone"), "{'type':'error','error':{'type':'not_found_error','message':'gone'}}"},
        {413, OAI("big"), "{'type':'error','error':{'type':'request_too_large','message':'big'}}"},
        {429, OAI("slow"), "{'type':'error','error':{'type':'rate_limit_error','message':'slow'}}"},
        {500, OAI("oops"), "{'type':'error','error':{'type':'api_error','message':'oops'}}"},
        {529, OAI("busy"), "{'type':'error','error':{'type':'overloaded_error','message':'busy'}}"},
        {503, OAI("down"), "{'type':'error','error':{'type':'api_error','message':'down'}}"},
        {422, OAI("odd"), "{'type':'error','error':{'type':'api_error','message':'odd'}}"},
        {502, "<html>bad gateway</html>",
         "{'type':'error','error':{'type':'api_error','message':'upstream answered HTTP 502'}}"},
        {400, "",
         "{'type':'error','error':{'type':'invalid_request_error','message':"
         "'upstream answered HTTP 400'}}"},
        {500, "{'error':'plain words'}",
         "{'type':'error','error':{'type':'api_error','message':'plain words'}}"},
        {400, "{'error':{'message':7}}",
         "{'type':'error','error':{'type':'invalid_request_error','message':"
         "'upstream answered HTTP 400'}}"},
        /* In a stream (no status): an Anthropic upstream's own type stays. */
        {0, "{'error':{'message':'Overloaded','type':'overloaded_error','code':'overloaded_error'}}",
         "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}"},
        {0, "{'error':{'message':'x','type':'server_error','code':'rate_limit_exceeded'}}",
         "{'type':'error','error':{'type':'rate_limit_error','message':'x'}}"},
        {0, "{'error':{'message':'x','type':'server_error','code':null}}",
         "{'type':'error','error':{'type':'api_error','message':'x'}}"},
    };
#undef OAI
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *in = tg_test_q(rows[i].body);
        char *want = tg_test_q(rows[i].want);
        struct tg_buf out = TG_BUF_INIT;
        char *body = exact(in, strlen(in));
        tg_fmt_messages_from_chat_error(body, strlen(in), rows[i].status, &out);
        if (!out.data || strcmp(out.data, want) != 0) {
            print_error("row %zu: got %s want %s\n", i, out.data, want);
            bad++;
        }
        free(body);
        free(want);
        free(in);
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

/* ---- streams ---- */

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-x',"             \
    "'choices':[{'index':0,'delta':" delta ",'finish_reason':" finish "}]}"

/* A chat stream with every kind of delta: role, reasoning, text, two tool
 * calls with their arguments in pieces, the finish, the usage chunk. */
static const char *const chat_stream[] = {
    CHUNK("{'role':'assistant','content':''}", "null"),
    CHUNK("{'reasoning_content':'Let me think'}", "null"),
    CHUNK("{'content':'Hello'}", "null"),
    CHUNK("{'content':' world'}", "null"),
    CHUNK("{'tool_calls':[{'index':0,'id':'call_1','type':'function','function':{'name':"
          "'get_weather','arguments':''}}]}",
          "null"),
    CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\':'}}]}", "null"),
    CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'\\'Paris\\'}'}}]}", "null"),
    CHUNK("{'tool_calls':[{'index':1,'id':'call_2','type':'function','function':{'name':"
          "'get_time','arguments':'{}'}}]}",
          "null"),
    CHUNK("{}", "'tool_calls'"),
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-x',"
    "'choices':[],'usage':{'prompt_tokens':20,'completion_tokens':9,'total_tokens':29,"
    "'prompt_tokens_details':{'cached_tokens':8}}}",
    "[DONE]",
};

struct ev {
    const char *event;
    const char *data;
};

static const struct ev messages_events[] = {
    {"message_start",
     "{'type':'message_start','message':{'id':'chatcmpl-1','type':'message','role':'assistant',"
     "'model':'gpt-x','content':[],'stop_reason':null,'stop_sequence':null,'usage':"
     "{'input_tokens':0,'output_tokens':0}}}"},
    {"content_block_start", "{'type':'content_block_start','index':0,'content_block':"
                            "{'type':'thinking','thinking':'','signature':''}}"},
    {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                            "{'type':'thinking_delta','thinking':'Let me think'}}"},
    {"content_block_stop", "{'type':'content_block_stop','index':0}"},
    {"content_block_start",
     "{'type':'content_block_start','index':1,'content_block':{'type':'text','text':''}}"},
    {"content_block_delta",
     "{'type':'content_block_delta','index':1,'delta':{'type':'text_delta','text':'Hello'}}"},
    {"content_block_delta",
     "{'type':'content_block_delta','index':1,'delta':{'type':'text_delta','text':' world'}}"},
    {"content_block_stop", "{'type':'content_block_stop','index':1}"},
    {"content_block_start",
     "{'type':'content_block_start','index':2,'content_block':{'type':'tool_use','id':'call_1',"
     "'name':'get_weather','input':{}}}"},
    {"content_block_delta", "{'type':'content_block_delta','index':2,'delta':"
                            "{'type':'input_json_delta','partial_json':'{\\'city\\':'}}"},
    {"content_block_delta", "{'type':'content_block_delta','index':2,'delta':"
                            "{'type':'input_json_delta','partial_json':'\\'Paris\\'}'}}"},
    {"content_block_stop", "{'type':'content_block_stop','index':2}"},
    {"content_block_start",
     "{'type':'content_block_start','index':3,'content_block':{'type':'tool_use','id':'call_2',"
     "'name':'get_time','input':{}}}"},
    {"content_block_delta", "{'type':'content_block_delta','index':3,'delta':"
                            "{'type':'input_json_delta','partial_json':'{}'}}"},
    {"content_block_stop", "{'type':'content_block_stop','index':3}"},
    {"message_delta",
     "{'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},"
     "'usage':{'input_tokens':12,'cache_read_input_tokens':8,'output_tokens':9}}"},
    {"message_stop", "{'type':'message_stop'}"},
};

/* Checks that out is exactly the events of want: "event: NAME\ndata: JSON\n\n"
 * each, JSON equal to the expected one. */
static void expect_events(const char *out, const struct ev *want, size_t n)
{
    const char *p = out;
    for (size_t i = 0; i < n; i++) {
        char head[96];
        snprintf(head, sizeof(head), "event: %s\ndata: ", want[i].event);
        if (strncmp(p, head, strlen(head)) != 0)
            fail_msg("event %zu: want %s at: %s", i, want[i].event, p);
        p += strlen(head);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        char *data = strndup(p, (size_t)(end - p));
        cJSON *got = cJSON_Parse(data);
        cJSON *w = parse_q(want[i].data);
        assert_non_null(w);
        if (!got || !cJSON_Compare(got, w, true))
            fail_msg("event %zu (%s): got %s", i, want[i].event, data);
        cJSON_Delete(got);
        cJSON_Delete(w);
        free(data);
        p = end + 2;
    }
    if (*p)
        fail_msg("more than %zu events: %s", n, p);
}

/* Feeds each data of list (after tg_test_q) to the translator. */
static enum tg_fmt_result feed_all(struct tg_fmt_messages_from_chat_stream *s,
                                   const char *const *list, size_t n, struct tg_buf *out,
                                   char **err)
{
    enum tg_fmt_result r = TG_FMT_CONTINUE;
    for (size_t i = 0; i < n && r == TG_FMT_CONTINUE; i++) {
        char *d = tg_test_q(list[i]);
        char *data = exact(d, strlen(d));
        r = tg_fmt_messages_from_chat_stream_event(s, data, strlen(d), out, err);
        free(data);
        free(d);
    }
    return r;
}

static void test_stream_full(void **state)
{
    (void)state;
    struct tg_fmt_messages_from_chat_stream s;
    tg_fmt_messages_from_chat_stream_init(&s);
    struct tg_buf out = TG_BUF_INIT;
    assert_int_equal(feed_all(&s, chat_stream, N_OF(chat_stream), &out, NULL), TG_FMT_DONE);
    expect_events(out.data, messages_events, N_OF(messages_events));
    tg_buf_free(&out);
}

struct stream_case {
    const char *name;
    const char *const *chunks;
    size_t n;
    enum tg_fmt_result last;
    const struct ev *events;
    size_t n_events;
};

#define START_EV                                                                                   \
    {                                                                                              \
        "message_start",                                                                           \
            "{'type':'message_start','message':{'id':'chatcmpl-1','type':'message','role':"        \
            "'assistant','model':'gpt-x','content':[],'stop_reason':null,'stop_sequence':null,"    \
            "'usage':{'input_tokens':0,'output_tokens':0}}}"                                       \
    }
#define STOP_EV                                                                                    \
    {                                                                                              \
        "message_stop", "{'type':'message_stop'}"                                                  \
    }
#define DELTA_EV(reason)                                                                           \
    {                                                                                              \
        "message_delta", "{'type':'message_delta','delta':{'stop_reason':'" reason "',"            \
                         "'stop_sequence':null},'usage':{'output_tokens':0}}"                      \
    }
#define TEXT_START(i)                                                                              \
    {                                                                                              \
        "content_block_start", "{'type':'content_block_start','index':" #i                         \
                               ",'content_block':{'type':'text','text':''}}"                       \
    }
#define TEXT_DELTA(i, t)                                                                           \
    {                                                                                              \
        "content_block_delta", "{'type':'content_block_delta','index':" #i                         \
                               ",'delta':{'type':'text_delta','text':'" t "'}}"                    \
    }
#define BLOCK_STOP(i)                                                                              \
    {                                                                                              \
        "content_block_stop", "{'type':'content_block_stop','index':" #i "}"                       \
    }

static const char *const only_done[] = {"[DONE]"};
static const struct ev only_done_ev[] = {
    {"message_start", "{'type':'message_start','message':{'id':'','type':'message','role':"
                      "'assistant','model':'','content':[],'stop_reason':null,'stop_sequence':"
                      "null,'usage':{'input_tokens':0,'output_tokens':0}}}"},
    DELTA_EV("end_turn"),
    STOP_EV,
};
static const char *const length_stream[] = {CHUNK("{'content':'a'}", "null"),
                                            CHUNK("{}", "'length'"), "[DONE]"};
static const struct ev length_ev[] = {START_EV,      TEXT_START(0),          TEXT_DELTA(0, "a"),
                                      BLOCK_STOP(0), DELTA_EV("max_tokens"), STOP_EV};
static const char *const refusal_stream[] = {CHUNK("{'refusal':'no'}", "'content_filter'"),
                                             "[DONE]"};
static const struct ev refusal_ev[] = {START_EV,      TEXT_START(0),       TEXT_DELTA(0, "no"),
                                       BLOCK_STOP(0), DELTA_EV("refusal"), STOP_EV};
/* the text after a tool call opens a new block */
static const char *const text_after_tool[] = {
    CHUNK("{'tool_calls':[{'index':0,'id':'c','function':{'name':'f'}}]}", "null"),
    CHUNK("{'content':'x'}", "'stop'"), "[DONE]"};
static const struct ev text_after_tool_ev[] = {
    START_EV,
    {"content_block_start", "{'type':'content_block_start','index':0,'content_block':"
                            "{'type':'tool_use','id':'c','name':'f','input':{}}}"},
    BLOCK_STOP(0),
    TEXT_START(1),
    TEXT_DELTA(1, "x"),
    BLOCK_STOP(1),
    DELTA_EV("end_turn"),
    STOP_EV};
/* arguments for a call whose block is closed cannot be said in order */
static const char *const interleaved[] = {
    CHUNK("{'tool_calls':[{'index':0,'id':'a','function':{'name':'f','arguments':'{'}}]}", "null"),
    CHUNK("{'tool_calls':[{'index':1,'id':'b','function':{'name':'g','arguments':'{'}}]}", "null"),
    CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'}'}}]}", "null")};
/* calls without an index, whole in one chunk: each id is a new call */
static const char *const no_index[] = {
    CHUNK("{'tool_calls':[{'id':'a','function':{'name':'f','arguments':'{}'}},"
          "{'id':'b','function':{'name':'g','arguments':'{\\'x\\':1}'}}]}",
          "'tool_calls'"),
    "[DONE]"};
static const struct ev no_index_ev[] = {
    START_EV,
    {"content_block_start", "{'type':'content_block_start','index':0,'content_block':"
                            "{'type':'tool_use','id':'a','name':'f','input':{}}}"},
    {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                            "{'type':'input_json_delta','partial_json':'{}'}}"},
    BLOCK_STOP(0),
    {"content_block_start", "{'type':'content_block_start','index':1,'content_block':"
                            "{'type':'tool_use','id':'b','name':'g','input':{}}}"},
    {"content_block_delta", "{'type':'content_block_delta','index':1,'delta':"
                            "{'type':'input_json_delta','partial_json':'{\\'x\\':1}'}}"},
    BLOCK_STOP(1),
    {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'tool_use',"
                      "'stop_sequence':null},'usage':{'output_tokens':0}}"},
    STOP_EV};
static const char *const not_json[] = {CHUNK("{'content':'a'}", "null"), "{'choices':"};
static const char *const not_object[] = {"[1,2]"};
static const char *const empty_data[] = {""};

static void test_stream_cases(void **state)
{
    (void)state;
    static const struct stream_case cases[] = {
        {"only [DONE]", only_done, N_OF(only_done), TG_FMT_DONE, only_done_ev, N_OF(only_done_ev)},
        {"length", length_stream, N_OF(length_stream), TG_FMT_DONE, length_ev, N_OF(length_ev)},
        {"refusal", refusal_stream, N_OF(refusal_stream), TG_FMT_DONE, refusal_ev,
         N_OF(refusal_ev)},
        {"text after tool", text_after_tool, N_OF(text_after_tool), TG_FMT_DONE, text_after_tool_ev,
         N_OF(text_after_tool_ev)},
        {"calls without an index", no_index, N_OF(no_index), TG_FMT_DONE, no_index_ev,
         N_OF(no_index_ev)},
        {"interleaved tool calls", interleaved, N_OF(interleaved), TG_FMT_BAD, NULL, 0},
        {"not json", not_json, N_OF(not_json), TG_FMT_BAD, NULL, 0},
        {"not an object", not_object, N_OF(not_object), TG_FMT_BAD, NULL, 0},
        {"empty data", empty_data, N_OF(empty_data), TG_FMT_BAD, NULL, 0},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        struct tg_fmt_messages_from_chat_stream s;
        tg_fmt_messages_from_chat_stream_init(&s);
        struct tg_buf out = TG_BUF_INIT;
        enum tg_fmt_result r = feed_all(&s, cases[i].chunks, cases[i].n, &out, NULL);
        if (r != cases[i].last)
            fail_msg("%s: result %d, want %d", cases[i].name, r, cases[i].last);
        if (cases[i].events)
            expect_events(out.data ? out.data : "", cases[i].events, cases[i].n_events);
        tg_buf_free(&out);
    }
}

/* An error chunk mid-stream: the caller gets Anthropic's error, and the
 * in-band event is "event: error" with it. */
static void test_stream_error(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        const char *want;
    } rows[] = {
        {"{'error':{'message':'boom','type':'server_error','code':null}}",
         "{'type':'error','error':{'type':'api_error','message':'boom'}}"},
        {"{'error':{'message':'slow down','type':'requests','code':'rate_limit_exceeded'}}",
         "{'type':'error','error':{'type':'rate_limit_error','message':'slow down'}}"},
        {"{'error':{'message':'too long','code':'context_length_exceeded'}}",
         "{'type':'error','error':{'type':'invalid_request_error','message':'too long'}}"},
        {"{'error':null}",
         "{'type':'error','error':{'type':'api_error','message':'upstream stream failed'}}"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_fmt_messages_from_chat_stream s;
        tg_fmt_messages_from_chat_stream_init(&s);
        struct tg_buf out = TG_BUF_INIT;
        char *err = NULL;
        const char *list[] = {CHUNK("{'content':'a'}", "null"), rows[i].data};
        assert_int_equal(feed_all(&s, list, 2, &out, &err), TG_FMT_ERROR);
        assert_non_null(err);
        char *want = tg_test_q(rows[i].want);
        assert_string_equal(err, want);
        struct tg_buf ev = TG_BUF_INIT;
        tg_fmt_messages_error_event(&ev, err, strlen(err));
        struct tg_buf expect = TG_BUF_INIT;
        tg_buf_printf(&expect, "event: error\ndata: %s\n\n", want);
        assert_string_equal(ev.data, expect.data);
        tg_buf_free(&expect);
        tg_buf_free(&ev);
        free(want);
        free(err);
        tg_buf_free(&out);
    }
    /* without a place for the error, the result still says it */
    struct tg_fmt_messages_from_chat_stream s;
    tg_fmt_messages_from_chat_stream_init(&s);
    struct tg_buf out = TG_BUF_INIT;
    const char *list[] = {"{'error':{'message':'x'}}"};
    assert_int_equal(feed_all(&s, list, 1, &out, NULL), TG_FMT_ERROR);
    tg_buf_free(&out);
}

static void test_stop_reasons(void **state)
{
    (void)state;
    static const char *const rows[][2] = {
        {"stop", "end_turn"},          {"length", "max_tokens"},      {"tool_calls", "tool_use"},
        {"function_call", "tool_use"}, {"content_filter", "refusal"}, {"other", "end_turn"},
    };
    for (size_t i = 0; i < N_OF(rows); i++)
        assert_string_equal(tg_fmt_messages_stop_reason(rows[i][0]), rows[i][1]);
    assert_string_equal(tg_fmt_messages_stop_reason(NULL), "end_turn");
}

/* ---- the stream on the wire, cut everywhere ---- */

struct wire {
    struct tg_fmt_messages_from_chat_stream s;
    struct tg_buf out;
    enum tg_fmt_result last;
};

static bool on_wire_event(void *ctx, const struct tg_sse_event *ev)
{
    struct wire *w = ctx;
    if (!ev->has_data)
        return true;
    w->last = tg_fmt_messages_from_chat_stream_event(&w->s, ev->data, ev->data_len, &w->out, NULL);
    return w->last == TG_FMT_CONTINUE;
}

/* The chat stream as an OpenAI server writes it, with a keep-alive comment
 * and CRLF line ends on some events. */
static char *chat_wire(void)
{
    struct tg_buf b = TG_BUF_INIT;
    for (size_t i = 0; i < N_OF(chat_stream); i++) {
        char *d = tg_test_q(chat_stream[i]);
        const char *eol = i % 3 == 2 ? "\r\n" : "\n";
        if (i == 5)
            tg_buf_puts(&b, ": OPENROUTER PROCESSING\n\n");
        tg_buf_printf(&b, "data: %s%s%s", d, eol, eol);
        free(d);
    }
    return tg_buf_steal(&b, NULL);
}

static void run_wire(const char *bytes, size_t len, size_t cut, struct wire *w)
{
    tg_fmt_messages_from_chat_stream_init(&w->s);
    w->out = (struct tg_buf)TG_BUF_INIT;
    w->last = TG_FMT_CONTINUE;
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 16);
    size_t pieces[2][2] = {{0, cut}, {cut, len}};
    for (size_t i = 0; i < 2; i++) {
        size_t n = pieces[i][1] - pieces[i][0];
        char *piece = exact(bytes + pieces[i][0], n);
        if (w->last == TG_FMT_CONTINUE)
            tg_sse_feed(&p, piece, n, on_wire_event, w);
        free(piece);
    }
    tg_sse_free(&p);
}

static void test_stream_every_cut(void **state)
{
    (void)state;
    char *bytes = chat_wire();
    size_t len = strlen(bytes);
    struct wire whole;
    run_wire(bytes, len, 0, &whole);
    assert_int_equal(whole.last, TG_FMT_DONE);
    expect_events(whole.out.data, messages_events, N_OF(messages_events));
    for (size_t cut = 1; cut < len; cut++) {
        struct wire w;
        run_wire(bytes, len, cut, &w);
        if (w.last != TG_FMT_DONE || w.out.len != whole.out.len ||
            memcmp(w.out.data, whole.out.data, w.out.len) != 0)
            fail_msg("cut at %zu: a different event sequence:\n%s", cut, w.out.data);
        tg_buf_free(&w.out);
    }
    tg_buf_free(&whole.out);
    free(bytes);
}

/* ---- a round trip: Messages -> chat -> Messages ---- */

static void test_round_trip(void **state)
{
    (void)state;
    cJSON *in = parse_q(
        "{'model':'claude-x','max_tokens':300,'system':'be brief',"
        "'stop_sequences':['END','\\n\\nHuman:'],'metadata':{'user_id':'u-7'},"
        "'tools':[{'name':'get_weather','input_schema':{'type':'object','properties':"
        "{'city':{'type':'string'}}}}],'tool_choice':{'type':'tool','name':'get_weather'},"
        "'messages':[{'role':'user','content':'weather in Paris and the time?'},"
        "{'role':'assistant','content':[{'type':'text','text':'checking'},"
        "{'type':'tool_use','id':'toolu_01A','name':'get_weather','input':{'city':'Paris'}},"
        "{'type':'tool_use','id':'toolu_01B','name':'get_weather','input':{'city':'Lyon'}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_01A','content':"
        "'sunny'},{'type':'tool_result','tool_use_id':'toolu_01B','content':'rain'},"
        "{'type':'text','text':'thanks'}]}]}");
    assert_non_null(in);
    struct tg_buf chat = TG_BUF_INIT;
    char why[64] = "";
    assert_int_equal(tg_fmt_chat_from_messages_request(in, "gpt-x", &chat, why, sizeof(why)), 0);
    cJSON *chat_json = cJSON_Parse(chat.data);
    assert_non_null(chat_json);
    struct tg_buf back = TG_BUF_INIT;
    assert_int_equal(
        tg_fmt_messages_from_chat_request(chat_json, "claude-x", 1024, &back, why, sizeof(why)), 0);
    cJSON *out = cJSON_Parse(back.data);
    assert_non_null(out);
    static const struct row same[] = {
        {NULL, "system", NULL},
        {NULL, "stop_sequences", NULL},
        {NULL, "max_tokens", NULL},
        {NULL, "metadata", NULL},
        {NULL, "tool_choice", NULL},
        {NULL, "tools.0.name", NULL},
        {NULL, "tools.0.input_schema", NULL},
        {NULL, "messages", NULL},
    };
    for (size_t i = 0; i < N_OF(same); i++) {
        const cJSON *a = tg_test_at(in, same[i].path);
        const cJSON *b = tg_test_at(out, same[i].path);
        if (!a || !b || !cJSON_Compare(a, b, true))
            fail_msg("%s changed on the round trip:\n%s\nvia\n%s\nto\n%s", same[i].path,
                     cJSON_PrintUnformatted(in), chat.data, back.data);
    }
    cJSON_Delete(out);
    cJSON_Delete(chat_json);
    cJSON_Delete(in);
    tg_buf_free(&back);
    tg_buf_free(&chat);
}

/* What the round trip keeps beyond the words: cached system blocks and
 * parts, and the thinking effort (a budget comes back as its band's). */
static void test_round_trip_cache_and_thinking(void **state)
{
    (void)state;
    cJSON *in = parse_q("{'model':'claude-x','max_tokens':20000,"
                        "'system':[{'type':'text','text':'rules','cache_control':{'type':"
                        "'ephemeral'}},{'type':'text','text':'more'}],"
                        "'thinking':{'type':'enabled','budget_tokens':10000},"
                        "'messages':[{'role':'user','content':[{'type':'text','text':'doc',"
                        "'cache_control':{'type':'ephemeral','ttl':'1h'}}]}]}");
    assert_non_null(in);
    struct tg_buf chat = TG_BUF_INIT;
    char why[64] = "";
    assert_int_equal(tg_fmt_chat_from_messages_request(in, "gpt-x", &chat, why, sizeof(why)), 0);
    cJSON *chat_json = cJSON_Parse(chat.data);
    struct tg_buf back = TG_BUF_INIT;
    assert_int_equal(
        tg_fmt_messages_from_chat_request(chat_json, "claude-x", 1024, &back, why, sizeof(why)), 0);
    cJSON *out = cJSON_Parse(back.data);
    assert_non_null(out);
    static const char *const same[] = {"system", "messages", "max_tokens"};
    for (size_t i = 0; i < N_OF(same); i++) {
        if (!cJSON_Compare(tg_test_at(in, same[i]), tg_test_at(out, same[i]), true))
            fail_msg("%s changed on the round trip: via %s to %s", same[i], chat.data, back.data);
    }
    assert_true(tg_test_matches(out, "thinking", "{'type':'enabled','budget_tokens':8192}"));
    cJSON_Delete(out);
    cJSON_Delete(chat_json);
    cJSON_Delete(in);
    tg_buf_free(&back);
    tg_buf_free(&chat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_rows),  cmocka_unit_test(test_answer_rejects),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_stream_full),
        cmocka_unit_test(test_stream_cases), cmocka_unit_test(test_stream_error),
        cmocka_unit_test(test_stop_reasons), cmocka_unit_test(test_stream_every_cut),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_round_trip_cache_and_thinking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

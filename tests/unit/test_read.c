/* Unit tests of the answer reader (formats/read.c): tables of (api, stream
 * event, facts) for every event type of chat, Messages and Responses, of
 * (api, whole answer, facts), of usage shapes, and hostile inputs. JSON is
 * written with ' for " (tg_test_q). */
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

#include <cjson/cJSON.h>

#include "fakes.h"
#include "formats/read.h"
#include "mock/answer.h"
#include "util/sse.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define NONE (-1)

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A finish reason: want NULL is "" (none said). */
static bool finish_is(const char *finish, const char *want)
{
    return strcmp(finish, want ? want : "") == 0;
}

/* Whether a view is a string that reads as want; want NULL: no string. */
static bool view_reads(struct tg_jv v, const char *want)
{
    return want ? tg_jv_str_eq(v, want) : !tg_jv_is(v, TG_JV_STRING);
}

/* What a view reads as, for messages ("NULL" when it is no string). */
static const char *view_text(struct tg_jv v, char *buf, size_t cap)
{
    if (!tg_jv_is(v, TG_JV_STRING))
        return "NULL";
    tg_jv_str_copy(v, buf, cap);
    return buf;
}

/* Whether JSON text got equals want (written with '). */
static bool json_same(const char *got, const char *want_q)
{
    if (!got || !want_q)
        return !got && !want_q;
    char *w = tg_test_q(want_q);
    cJSON *a = cJSON_Parse(got), *b = cJSON_Parse(w);
    bool same = a && b && cJSON_Compare(a, b, true);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(w);
    return same;
}

static bool usage_is(const struct tg_usage_facts *u, long long in, long long cached, long long out)
{
    if (in == NONE)
        return !u->set;
    return u->set && u->input_tokens == in && u->cached_tokens == cached && u->output_tokens == out;
}

/* ==== stream events ==== */

struct ev_row {
    enum tg_api api;
    const char *event;
    const char *data;
    enum tg_fmt_result rc;
    bool content;
    const char *text;
    bool refusal;
    const char *finish;
    long long in, cached, out; /* the event's usage, read; in NONE: no usage */
    bool usage_only;
    const char *error; /* the error object (JSON), for TG_FMT_ERROR */
};

static int check_event(size_t i, const struct ev_row *r)
{
    char *data = tg_test_q(r->data);
    struct tg_event_facts f;
    memset(&f, 0x5a, sizeof(f));
    char *err = (char *)1;
    char shown[256];
    enum tg_fmt_result rc = tg_read_event(r->api, r->event, data, strlen(data), &f, &err);
    struct tg_usage_facts u = {0};
    tg_read_usage(f.usage, &u);
    int bad = 0;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("row %zu (%s %s): ", i, r->event, r->data);                                \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n");                                                                     \
            bad = 1;                                                                               \
        }                                                                                          \
    } while (0)
    CHECK(rc == r->rc, "result %d, want %d", (int)rc, (int)r->rc);
    CHECK(f.content == r->content, "content %d", f.content);
    CHECK(view_reads(f.text, r->text), "text %s", view_text(f.text, shown, sizeof(shown)));
    CHECK(f.refusal == r->refusal, "refusal %d", f.refusal);
    CHECK(finish_is(f.finish, r->finish), "finish %s", f.finish);
    CHECK(f.usage.type == (r->in != NONE ? TG_JV_OBJECT : TG_JV_NONE), "usage type %d",
          (int)f.usage.type);
    CHECK(usage_is(&u, r->in, r->cached, r->out), "usage %lld/%lld/%lld", (long long)u.input_tokens,
          (long long)u.cached_tokens, (long long)u.output_tokens);
    CHECK(f.usage_only == r->usage_only, "usage_only %d", f.usage_only);
    CHECK(json_same(err, r->rc == TG_FMT_ERROR ? r->error : NULL), "error %s", err ? err : "NULL");
#undef CHECK
    cJSON_free(err);
    free(data);
    return bad;
}

static void run_events(const struct ev_row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += check_event(i, &rows[i]);
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define C TG_API_CHAT
#define CONT TG_FMT_CONTINUE
#define BAD TG_FMT_BAD
#define CH(choices) "{'id':'c1','object':'chat.completion.chunk','choices':[" choices "]}"

static void test_chat_events(void **state)
{
    (void)state;
    static const struct ev_row rows[] = {
        /* the role-only first chunk is not content */
        {C, "", CH("{'index':0,'delta':{'role':'assistant','content':''}}"), CONT, false, "", false,
         NULL, NONE, 0, 0, false, NULL},
        {C, "", CH("{'index':0,'delta':{'content':'Hel'}}"), CONT, true, "Hel", false, NULL, NONE,
         0, 0, false, NULL},
        {C, "",
         CH("{'index':0,'delta':{'tool_calls':[{'index':0,'id':'t','function':{'name':'f','"
            "arguments':''}}]}}"),
         CONT, true, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {C, "", CH("{'index':0,'delta':{'tool_calls':[]}}"), CONT, false, NULL, false, NULL, NONE,
         0, 0, false, NULL},
        /* legacy completions text: content, with no phrase to look for */
        {TG_API_COMPLETIONS, "", CH("{'index':0,'text':'once'}"), CONT, true, NULL, false, NULL,
         NONE, 0, 0, false, NULL},
        {C, "", CH("{'index':0,'text':''}"), CONT, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        {C, "", CH("{'index':0,'delta':{'refusal':'No.'}}"), CONT, false, NULL, true, NULL, NONE, 0,
         0, false, NULL},
        /* the finish of any choice; the text of the first */
        {C, "",
         CH("{'index':0,'delta':{},'finish_reason':null},{'index':1,'delta':{'content':'b'},'"
            "finish_reason':'length'}"),
         CONT, true, NULL, false, "length", NONE, 0, 0, false, NULL},
        {C, "", CH("{'index':0,'delta':{},'finish_reason':'stop'}"), CONT, false, NULL, false,
         "stop", NONE, 0, 0, false, NULL},
        {C, "",
         "{'choices':[],'usage':{'prompt_tokens':9,'completion_tokens':4,'prompt_tokens_details':{'"
         "cached_tokens':3}}}",
         CONT, false, NULL, false, NULL, 9, 3, 4, true, NULL},
        /* usage alongside a choice is not a usage-only chunk */
        {C, "",
         "{'choices':[{'delta':{'content':'x'}}],'usage':{'prompt_tokens':1,'completion_tokens':2}"
         "}",
         CONT, true, "x", false, NULL, 1, 0, 2, false, NULL},
        {C, "", "{'usage':{'prompt_tokens':1}}", CONT, false, NULL, false, NULL, 1, 0, 0, false,
         NULL},
        {C, "", "{'choices':[],'usage':null}", CONT, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        {C, "", "[DONE]", TG_FMT_DONE, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {C, "", "{'choices':[], 'error':null}", CONT, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        /* in-band errors: a chunk holding one, an event named error */
        {C, "", "{'error':{'message':'boom','type':'server_error','code':null}}", TG_FMT_ERROR,
         false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'boom','type':'server_error','code':null}"},
        {C, "", "{'error':'boom'}", TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'boom','type':'server_error','param':null,'code':null}"},
        {C, "error", "{'error':{'message':'late','type':'overloaded'}}", TG_FMT_ERROR, false, NULL,
         false, NULL, NONE, 0, 0, false, "{'message':'late','type':'overloaded'}"},
        {C, "error", "{'message':'whole','type':'x'}", TG_FMT_ERROR, false, NULL, false, NULL, NONE,
         0, 0, false, "{'message':'whole','type':'x'}"},
        /* an error event whose error is null: generic details, not the null */
        {C, "error", "{'error':null}", TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'upstream stream failed','type':'server_error','param':null,'code':null}"},
        {C, "error", "not json", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {C, "", "{'choices':[{'delta':", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        {C, "", "", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        /* JSON that is not a chunk says nothing */
        {C, "", "42", CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        /* choices that are an object, not an array: nothing read from them */
        {C, "", "{'choices':{'0':{'delta':{'content':'a'},'finish_reason':'stop'}}}", CONT, false,
         NULL, false, NULL, NONE, 0, 0, false, NULL},
    };
    run_events(rows, N_OF(rows));
}

#define M TG_API_MESSAGES

static void test_messages_events(void **state)
{
    (void)state;
    static const struct ev_row rows[] = {
        {M, "message_start",
         "{'type':'message_start','message':{'id':'msg_1','type':'message','role':'assistant','"
         "content':[],'model':'claude-x','stop_reason':null,'usage':{'input_tokens':10,'cache_read_"
         "input_tokens':5,'cache_creation_input_tokens':2,'output_tokens':1}}}",
         CONT, false, NULL, false, NULL, 17, 5, 1, false, NULL},
        {M, "content_block_start",
         "{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}", CONT,
         false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_start",
         "{'type':'content_block_start','index':1,'content_block':{'type':'tool_use','id':'toolu_1'"
         ",'name':'get','input':{}}}",
         CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta",
         "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'Hi'}}", CONT,
         true, "Hi", false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta",
         "{'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta','partial_json'"
         ":'{\\'a'}}",
         CONT, true, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta",
         "{'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta','thinking':'hmm'"
         "}}",
         CONT, true, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta",
         "{'type':'content_block_delta','index':0,'delta':{'type':'signature_delta','signature':'s'"
         "}}",
         CONT, true, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_stop", "{'type':'content_block_stop','index':0}", CONT, false, NULL,
         false, NULL, NONE, 0, 0, false, NULL},
        {M, "message_delta",
         "{'type':'message_delta','delta':{'stop_reason':'end_turn','stop_sequence':null},'usage':{"
         "'output_tokens':15}}",
         CONT, false, NULL, false, "stop", 0, 0, 15, false, NULL},
        {M, "message_delta", "{'type':'message_delta','delta':{'stop_reason':'max_tokens'}}", CONT,
         false, NULL, false, "length", NONE, 0, 0, false, NULL},
        {M, "message_delta", "{'type':'message_delta','delta':{'stop_reason':'tool_use'}}", CONT,
         false, NULL, false, "tool_calls", NONE, 0, 0, false, NULL},
        {M, "message_delta", "{'type':'message_delta','delta':{'stop_reason':'refusal'}}", CONT,
         false, NULL, false, "content_filter", NONE, 0, 0, false, NULL},
        {M, "message_stop", "{'type':'message_stop'}", TG_FMT_DONE, false, NULL, false, NULL, NONE,
         0, 0, false, NULL},
        {M, "ping", "{'type':'ping'}", CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "error", "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}",
         TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'Overloaded','type':'overloaded_error','param':null,'code':'overloaded_error'"
         "}"},
        {M, "error", "{broken", TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'upstream stream failed','type':'api_error','param':null,'code':'api_error'}"},
        /* no event name: the data's type names it */
        {M, "", "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'x'}}",
         CONT, true, "x", false, NULL, NONE, 0, 0, false, NULL},
        {M, "", "{'type':'message_stop'}", TG_FMT_DONE, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        {M, "", "{'type':'error','error':{'type':'api_error','message':'m'}}", TG_FMT_ERROR, false,
         NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'m','type':'api_error','param':null,'code':'api_error'}"},
        /* data that is not what the event needs */
        {M, "content_block_delta", "{'type':'content_block_delta','delta':'x'}", TG_FMT_BAD, false,
         NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta", "{'delta':{'type':'text_delta','text':5}}", TG_FMT_BAD, false,
         NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta", "{'delta':{'type':'input_json_delta'}}", TG_FMT_BAD, false, NULL,
         false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_start", "{'content_block':null}", TG_FMT_BAD, false, NULL, false, NULL,
         NONE, 0, 0, false, NULL},
        {M, "message_start", "{'type':'message_start'}", TG_FMT_BAD, false, NULL, false, NULL, NONE,
         0, 0, false, NULL},
        {M, "message_delta", "[1]", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "content_block_delta", "{cut", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        {M, "", "{'no':'type'}", CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "", "", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {M, "future_event", "{'type':'future_event'}", CONT, false, NULL, false, NULL, NONE, 0, 0,
         false, NULL},
        /* message_stop needs nothing from its data */
        {M, "message_stop", "", TG_FMT_DONE, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
    };
    run_events(rows, N_OF(rows));
}

#define R TG_API_RESPONSES
#define RESP(extra) "{'id':'resp_1','object':'response','status':'completed','output':[" extra "]"
#define USAGE                                                                                      \
    "'usage':{'input_tokens':20,'input_tokens_details':{'cached_tokens':8},'output_tokens':6}"

static void test_responses_events(void **state)
{
    (void)state;
    static const struct ev_row rows[] = {
        {R, "response.created",
         "{'type':'response.created','sequence_number':0,'response':{'id':'r','object':'response','"
         "status':'in_progress','output':[]}}",
         CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.in_progress", "{'type':'response.in_progress','response':{}}", CONT, false,
         NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.output_item.added",
         "{'type':'response.output_item.added','output_index':0,'item':{'type':'message','id':'m','"
         "role':'assistant','content':[]}}",
         CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.content_part.added",
         "{'type':'response.content_part.added','item_id':'m','output_index':0,'content_index':0,'"
         "part':{'type':'output_text','text':''}}",
         CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.output_text.delta",
         "{'type':'response.output_text.delta','item_id':'m','output_index':0,'content_index':0,'"
         "delta':'Hel'}",
         CONT, true, "Hel", false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.output_text.done", "{'type':'response.output_text.done','text':'Hello'}",
         CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.content_part.done",
         "{'type':'response.content_part.done','part':{'type':'output_text','text':'Hello'}}", CONT,
         false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.refusal.delta", "{'type':'response.refusal.delta','delta':'I will not'}",
         CONT, true, NULL, true, NULL, NONE, 0, 0, false, NULL},
        {R, "response.function_call_arguments.delta",
         "{'type':'response.function_call_arguments.delta','item_id':'fc','delta':'{\\'a\\''}",
         CONT, true, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.function_call_arguments.done",
         "{'type':'response.function_call_arguments.done','arguments':'{}'}", CONT, false, NULL,
         false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.output_item.done",
         "{'type':'response.output_item.done','item':{'type':'function_call','name':'f'}}", CONT,
         false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.reasoning_summary_text.delta",
         "{'type':'response.reasoning_summary_text.delta','delta':'thinking'}", CONT, false, NULL,
         false, NULL, NONE, 0, 0, false, NULL},
        /* events that say nothing are checked, not built: still strict JSON */
        {R, "response.output_item.done", "{'type':'response.output_item.done','item':{", BAD,
         false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.created", "{'type':'response.created','type':'x'}", BAD, false, NULL, false,
         NULL, NONE, 0, 0, false, NULL},
        {R, "response.in_progress", "", BAD, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.completed",
         "{'type':'response.completed','response':" RESP(
             "{'type':'message','content':[{'type':'output_text','text':'Hi'}]}") "," USAGE "}}",
         TG_FMT_DONE, false, NULL, false, "stop", 20, 8, 6, false, NULL},
        {R, "response.completed",
         "{'type':'response.completed','response':" RESP(
             "{'type':'function_call','name':'f','arguments':'{}'}") "}}",
         TG_FMT_DONE, false, NULL, false, "tool_calls", NONE, 0, 0, false, NULL},
        {R, "response.incomplete",
         "{'type':'response.incomplete','response':{'status':'incomplete','incomplete_details':{'"
         "reason':'max_output_tokens'}," USAGE "}}",
         TG_FMT_DONE, false, NULL, false, "length", 20, 8, 6, false, NULL},
        {R, "response.incomplete",
         "{'type':'response.incomplete','response':{'status':'incomplete','incomplete_details':{'"
         "reason':'content_filter'}}}",
         TG_FMT_DONE, false, NULL, false, "content_filter", NONE, 0, 0, false, NULL},
        {R, "response.failed",
         "{'type':'response.failed','response':{'status':'failed','error':{'code':'server_error','"
         "message':'went wrong'}}}",
         TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'went wrong','type':'server_error','param':null,'code':'server_error'}"},
        {R, "response.failed", "{}", TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'upstream stream failed','type':'server_error','param':null,'code':null}"},
        {R, "error",
         "{'type':'error','code':'rate_limit_exceeded','message':'slow down','param':null}",
         TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'slow down','type':'server_error','param':null,'code':'rate_limit_exceeded'}"},
        {R, "error",
         "{'type':'error','error':{'type':'invalid_request_error','code':'bad','message':'no'}}",
         TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0, 0, false,
         "{'message':'no','type':'invalid_request_error','param':null,'code':'bad'}"},
        /* no event name: the data's type names it */
        {R, "", "{'type':'response.output_text.delta','delta':'x'}", CONT, true, "x", false, NULL,
         NONE, 0, 0, false, NULL},
        {R, "", "{'type':'error','message':'m'}", TG_FMT_ERROR, false, NULL, false, NULL, NONE, 0,
         0, false, "{'message':'m','type':'server_error','param':null,'code':null}"},
        /* data that is not what the event needs */
        {R, "response.output_text.delta", "{'delta':5}", TG_FMT_BAD, false, NULL, false, NULL, NONE,
         0, 0, false, NULL},
        /* an output that is an object, not an array: no calls in it */
        {R, "response.completed",
         "{'type':'response.completed','response':{'output':{'a':{'type':'function_call'}}}}",
         TG_FMT_DONE, false, NULL, false, "stop", NONE, 0, 0, false, NULL},
        {R, "response.completed", "{'response':'done'}", TG_FMT_BAD, false, NULL, false, NULL, NONE,
         0, 0, false, NULL},
        {R, "response.completed", "{cut", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false,
         NULL},
        {R, "", "", TG_FMT_BAD, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
        {R, "response.future", "{}", CONT, false, NULL, false, NULL, NONE, 0, 0, false, NULL},
    };
    run_events(rows, N_OF(rows));
}

/* NULL data and NULL error_json are allowed. */
static void test_event_edges(void **state)
{
    (void)state;
    struct tg_event_facts f;
    assert_int_equal(tg_read_event(M, "error", NULL, 0, &f, NULL), TG_FMT_ERROR);
    assert_int_equal(tg_read_event(R, "response.failed", NULL, 5, &f, NULL), TG_FMT_ERROR);
    assert_int_equal(tg_read_event(C, "", NULL, 0, &f, NULL), TG_FMT_BAD);
    const char *e = "{\"error\":{\"message\":\"x\"}}";
    assert_int_equal(tg_read_event(C, "", e, strlen(e), &f, NULL), TG_FMT_ERROR);
    /* the facts borrow from the data the caller keeps */
    const char *d =
        "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"abc\"}}";
    assert_int_equal(tg_read_event(M, "", d, strlen(d), &f, NULL), TG_FMT_CONTINUE);
    assert_true(tg_jv_str_eq(f.text, "abc"));
    assert_true(f.text.p > d && f.text.p + f.text.len < d + strlen(d));
}

/* ==== whole answers ==== */

struct ans_row {
    enum tg_api api;
    const char *body;
    int rc;
    bool error;
    const char *finish;
    const char *text; /* NULL: no text at all */
    bool refusal;
    bool has_calls;
    int n_calls;
    const char *call_name;  /* of the first call */
    const char *call_input; /* its input object or arguments text, as JSON text */
    long long in, cached, out;
};

static int check_answer(size_t i, const struct ans_row *r)
{
    char *body = tg_test_q(r->body);
    cJSON *root = cJSON_Parse(body);
    if (!root) {
        print_error("row %zu: table JSON does not parse: %s\n", i, body);
        free(body);
        return 1;
    }
    cJSON_Delete(root);
    struct tg_answer_facts f;
    memset(&f, 0x5a, sizeof(f));
    char shown[256];
    int rc = tg_read_answer(r->api, body, strlen(body), &f);
    int bad = 0;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("row %zu (%s): ", i, r->body);                                             \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n");                                                                     \
            bad = 1;                                                                               \
        }                                                                                          \
    } while (0)
    CHECK(rc == r->rc, "rc %d", rc);
    CHECK(f.error == r->error, "error %d", f.error);
    CHECK(finish_is(f.finish, r->finish), "finish %s", f.finish);
    CHECK(str_same(f.text.data, r->text), "text %s", f.text.data ? f.text.data : "NULL");
    CHECK(f.refusal == r->refusal, "refusal %d", f.refusal);
    CHECK(f.has_calls == r->has_calls, "has_calls %d", f.has_calls);
    CHECK(f.n_calls == r->n_calls, "n_calls %d", f.n_calls);
    if (f.n_calls > 0 && r->n_calls > 0) {
        const struct tg_read_call *call = &f.calls[0];
        CHECK(call->name.type == (r->call_name ? TG_JV_STRING : TG_JV_NONE) &&
                  view_reads(call->name, r->call_name),
              "call name %s", view_text(call->name, shown, sizeof(shown)));
        /* the input's own bytes, or what the arguments string reads as */
        struct tg_buf got = TG_BUF_INIT;
        if (call->input.type != TG_JV_NONE)
            tg_buf_append(&got, call->input.p, call->input.len);
        else if (tg_jv_is(call->arguments, TG_JV_STRING))
            tg_jv_str_append(call->arguments, &got);
        if (got.data)
            tg_buf_putc(&got, '\0');
        CHECK(json_same(got.data, r->call_input), "call input %s", got.data ? got.data : "NULL");
        CHECK(r->api == TG_API_MESSAGES ? call->arguments.type == TG_JV_NONE
                                        : call->input.type == TG_JV_NONE,
              "input for Messages, arguments for the others");
        tg_buf_free(&got);
    }
    CHECK(usage_is(&f.usage, r->in, r->cached, r->out), "usage %lld/%lld/%lld",
          (long long)f.usage.input_tokens, (long long)f.usage.cached_tokens,
          (long long)f.usage.output_tokens);
#undef CHECK
    tg_answer_facts_free(&f);
    free(body);
    return bad;
}

static void run_answers(const struct ans_row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += check_answer(i, &rows[i]);
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define CHAT(msg, finish, extra)                                                                   \
    "{'id':'c','object':'chat.completion','choices':[{'index':0,'message':" msg                    \
    ",'finish_reason':" finish "}]" extra "}"
#define TOOL(name, args)                                                                           \
    "{'id':'call_1','type':'function','function':{'name':'" name "','arguments':'" args "'}}"

static void test_chat_answers(void **state)
{
    (void)state;
    static const struct ans_row rows[] = {
        {C,
         CHAT("{'role':'assistant','content':'Hello'}", "'stop'",
              ",'usage':{'prompt_tokens':12,'completion_tokens':3,'prompt_tokens_details':{'cached_"
              "tokens':4}}"),
         0, false, "stop", "Hello", false, false, 0, NULL, NULL, 12, 4, 3},
        {C,
         CHAT("{'role':'assistant','content':null,'tool_calls':[" TOOL(
                  "get", "{\\'city\\':\\'Paris\\'}") "]}",
              "'tool_calls'", ""),
         0, false, "tool_calls", NULL, false, true, 1, "get", "{'city':'Paris'}", NONE, 0, 0},
        {C,
         CHAT("{'role':'assistant','content':null,'function_call':{'name':'old','arguments':'{}'}}",
              "'function_call'", ""),
         0, false, "function_call", NULL, false, true, 1, "old", "{}", NONE, 0, 0},
        {C,
         CHAT("{'role':'assistant','content':null,'refusal':'I will not do that'}", "'stop'", ""),
         0, false, "stop", NULL, true, false, 0, NULL, NULL, NONE, 0, 0},
        {C, CHAT("{'role':'assistant','content':'','refusal':''}", "'length'", ""), 0, false,
         "length", "", false, false, 0, NULL, NULL, NONE, 0, 0},
        {C, CHAT("{'content':'x'}", "null", ""), 0, false, NULL, "x", false, false, 0, NULL, NULL,
         NONE, 0, 0},
        /* an error in a 200 */
        {C, "{'error':{'message':'quota','type':'server_error'}}", 0, true, NULL, NULL, false,
         false, 0, NULL, NULL, NONE, 0, 0},
        {C, "{'error':null,'choices':[]}", 0, false, NULL, NULL, false, false, 0, NULL, NULL, NONE,
         0, 0},
        {C, "[1,2]", -1, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {C, "'text'", -1, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {TG_API_COMPLETIONS,
         "{'object':'text_completion','choices':[{'text':'once "
         "upon','finish_reason':'length'}],'usage':{'prompt_tokens':2,'completion_tokens':2}}",
         0, false, "length", "once upon", false, false, 0, NULL, NULL, 2, 0, 2},
        {TG_API_EMBEDDINGS,
         "{'object':'list','data':[{'embedding':[0.1]}],'usage':{'prompt_tokens':5,'total_tokens':"
         "5}}",
         0, false, NULL, NULL, false, false, 0, NULL, NULL, 5, 0, 0},
        {TG_API_EMBEDDINGS, "{'error':{'message':'m'}}", 0, true, NULL, NULL, false, false, 0, NULL,
         NULL, NONE, 0, 0},
    };
    run_answers(rows, N_OF(rows));
}

#define MSG(content, stop, extra)                                                                  \
    "{'id':'msg_1','type':'message','role':'assistant','model':'claude-x','content':[" content     \
    "],'stop_reason':" stop extra "}"

static void test_messages_answers(void **state)
{
    (void)state;
    static const struct ans_row rows[] = {
        {M,
         MSG("{'type':'text','text':'Hello '},{'type':'text','text':'world'}", "'end_turn'",
             ",'usage':{'input_tokens':10,'cache_read_input_tokens':30,'cache_creation_input_"
             "tokens':5,'output_tokens':7}"),
         0, false, "stop", "Hello world", false, false, 0, NULL, NULL, 45, 30, 7},
        {M,
         MSG("{'type':'thinking','thinking':'hmm','signature':'s'},{'type':'text','text':'Let me "
             "look.'},{'type':'tool_use','id':'toolu_1','name':'get','input':{'city':'Paris'}}",
             "'tool_use'", ",'usage':{'input_tokens':10,'output_tokens':7}"),
         0, false, "tool_calls", "Let me look.", false, true, 1, "get", "{'city':'Paris'}", 10, 0,
         7},
        {M, MSG("{'type':'text','text':'cut'}", "'max_tokens'", ""), 0, false, "length", "cut",
         false, false, 0, NULL, NULL, NONE, 0, 0},
        {M, MSG("", "'refusal'", ""), 0, false, "content_filter", NULL, false, false, 0, NULL, NULL,
         NONE, 0, 0},
        {M, MSG("{'type':'text','text':'a'}", "'stop_sequence'", ""), 0, false, "stop", "a", false,
         false, 0, NULL, NULL, NONE, 0, 0},
        {M, MSG("{'type':'text','text':'a'}", "'pause_turn'", ""), 0, false, "stop", "a", false,
         false, 0, NULL, NULL, NONE, 0, 0},
        {M, MSG("", "null", ""), 0, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        /* an error in a 200 */
        {M, "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}", 0, true,
         NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        /* not a message */
        {M, CHAT("{'content':'x'}", "'stop'", ""), -1, false, NULL, NULL, false, false, 0, NULL,
         NULL, NONE, 0, 0},
        {M, "{'type':'completion'}", -1, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0,
         0},
    };
    run_answers(rows, N_OF(rows));
}

#define RESPONSE(status, output, extra)                                                            \
    "{'id':'resp_1','object':'response','status':'" status "','error':null,'output':[" output      \
    "]" extra "}"
#define OUT_TEXT(t)                                                                                \
    "{'type':'message','id':'m','role':'assistant','content':[{'type':'output_text','text':'" t    \
    "','annotations':[]}]}"

static void test_responses_answers(void **state)
{
    (void)state;
    static const struct ans_row rows[] = {
        {R,
         RESPONSE("completed", "{'type':'reasoning','summary':[]}," OUT_TEXT("Hello"), "," USAGE),
         0, false, "stop", "Hello", false, false, 0, NULL, NULL, 20, 8, 6},
        {R,
         RESPONSE("completed",
                  "{'type':'message','content':[{'type':'output_text','text':'a'},{'type':'output_"
                  "text','text':'b'}]}," OUT_TEXT("c"),
                  ""),
         0, false, "stop", "abc", false, false, 0, NULL, NULL, NONE, 0, 0},
        {R,
         RESPONSE("completed",
                  "{'type':'function_call','call_id':'call_1','name':'get','arguments':'{\\'city\\'"
                  ":1}'}",
                  ""),
         0, false, "tool_calls", NULL, false, true, 1, "get", "{'city':1}", NONE, 0, 0},
        {R,
         RESPONSE("completed",
                  "{'type':'message','content':[{'type':'refusal','refusal':'I will not'}]}", ""),
         0, false, "stop", NULL, true, false, 0, NULL, NULL, NONE, 0, 0},
        {R,
         RESPONSE("incomplete", OUT_TEXT("cut"),
                  ",'incomplete_details':{'reason':'max_output_tokens'}"),
         0, false, "length", "cut", false, false, 0, NULL, NULL, NONE, 0, 0},
        {R, RESPONSE("incomplete", "", ",'incomplete_details':{'reason':'content_filter'}"), 0,
         false, "content_filter", NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        /* errors in a 200 */
        {R,
         "{'object':'response','status':'failed','error':{'code':'server_error','message':'x'},'"
         "output':[]}",
         0, true, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {R, "{'object':'response','status':'cancelled','error':null,'output':[]}", 0, true, NULL,
         NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {R, "{'error':{'message':'m','type':'server_error'}}", 0, true, NULL, NULL, false, false, 0,
         NULL, NULL, NONE, 0, 0},
        /* not a response */
        {R, CHAT("{'content':'x'}", "'stop'", ""), -1, false, NULL, NULL, false, false, 0, NULL,
         NULL, NONE, 0, 0},
        {R, "{'object':'list'}", -1, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
    };
    run_answers(rows, N_OF(rows));
}

/* More calls than the facts keep: all counted as calls, the first kept. */
static void test_many_calls(void **state)
{
    (void)state;
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_puts(&b, "{\"type\":\"message\",\"content\":[");
    for (int i = 0; i < TG_READ_MAX_CALLS + 5; i++)
        tg_buf_printf(&b, "%s{\"type\":\"tool_use\",\"name\":\"t%d\",\"input\":{}}", i ? "," : "",
                      i);
    tg_buf_puts(&b, "]}");
    struct tg_answer_facts f;
    assert_int_equal(tg_read_answer(M, b.data, b.len, &f), 0);
    assert_true(f.has_calls);
    assert_int_equal(f.n_calls, TG_READ_MAX_CALLS);
    assert_true(tg_jv_str_eq(f.calls[TG_READ_MAX_CALLS - 1].name, "t15"));
    tg_answer_facts_free(&f);
    tg_buf_free(&b);
}

/* ==== usage ==== */

struct usage_row {
    const char *usage;
    long long in, cached, out;
};

static void test_usage(void **state)
{
    (void)state;
    static const struct usage_row rows[] = {
        {"{'prompt_tokens':100,'completion_tokens':20,'prompt_tokens_details':{'cached_tokens':64}"
         "}",
         100, 64, 20},
        {"{'input_tokens':100,'output_tokens':20,'input_tokens_details':{'cached_tokens':64}}", 100,
         64, 20},
        {"{'input_tokens':3,'cache_read_input_tokens':90,'cache_creation_input_tokens':7,'output_"
         "tokens':20}",
         100, 90, 20},
        {"{'input_tokens':3,'cache_creation_input_tokens':7}", 10, 0, 0},
        {"{'output_tokens':20}", 0, 0, 20},
        /* hostile: huge, negative, wrong types, cached beyond the prompt */
        {"{'prompt_tokens':1e300,'completion_tokens':-5}", (long long)TG_FMT_COUNT_MAX, 0, 0},
        {"{'input_tokens':1e300,'cache_read_input_tokens':1e300,'cache_creation_input_tokens':"
         "1e300}",
         3 * (long long)TG_FMT_COUNT_MAX, (long long)TG_FMT_COUNT_MAX, 0},
        {"{'prompt_tokens':'12','completion_tokens':[1]}", NONE, 0, 0},
        {"{'prompt_tokens':5,'prompt_tokens_details':{'cached_tokens':50}}", 5, 5, 0},
        {"{'prompt_tokens':5,'prompt_tokens_details':[]}", 5, 0, 0},
        {"[]", NONE, 0, 0},
        {"null", NONE, 0, 0},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *t = tg_test_q(rows[i].usage);
        struct tg_usage_facts u = {0};
        tg_read_usage(tg_jv_root(t, strlen(t)), &u);
        if (!usage_is(&u, rows[i].in, rows[i].cached, rows[i].out)) {
            print_error("row %zu (%s): %lld/%lld/%lld\n", i, rows[i].usage,
                        (long long)u.input_tokens, (long long)u.cached_tokens,
                        (long long)u.output_tokens);
            bad++;
        }
        free(t);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

/* A Messages stream reports its input at message_start and its output at
 * message_delta: what one leaves out the other keeps. */
static void test_usage_accumulates(void **state)
{
    (void)state;
    static const char *const events[][2] = {
        {"message_start",
         "{\"type\":\"message_start\",\"message\":{\"type\":\"message\",\"usage\":{\"input_"
         "tokens\":4,\"cache_read_input_tokens\":6,\"output_tokens\":1}}}"},
        {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                          "\"usage\":{\"output_tokens\":9}}"},
    };
    struct tg_usage_facts u = {0};
    for (size_t i = 0; i < N_OF(events); i++) {
        struct tg_event_facts f;
        assert_int_equal(
            tg_read_event(M, events[i][0], events[i][1], strlen(events[i][1]), &f, NULL),
            TG_FMT_CONTINUE);
        tg_read_usage(f.usage, &u);
    }
    assert_true(usage_is(&u, 10, 6, 9));
}

/* Wrong types anywhere: no crash, nothing read from them. */
static void test_hostile_answers(void **state)
{
    (void)state;
    static const struct ans_row rows[] = {
        {C, "{'choices':'x','usage':[]}", 0, false, NULL, NULL, false, false, 0, NULL, NULL, NONE,
         0, 0},
        {C, "{'choices':[{'message':[],'finish_reason':5}]}", 0, false, NULL, NULL, false, false, 0,
         NULL, NULL, NONE, 0, 0},
        {C,
         "{'choices':[{'message':{'content':7,'refusal':true,'tool_calls':{'a':1},'function_call':'"
         "f'}}]}",
         0, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {C, "{'choices':[{'message':{'tool_calls':[5,{'function':'x'}]}}]}", 0, false, NULL, NULL,
         false, true, 2, NULL, NULL, NONE, 0, 0},
        {M, "{'type':'message','content':{'type':'text'},'stop_reason':9}", 0, false, NULL, NULL,
         false, false, 0, NULL, NULL, NONE, 0, 0},
        {M,
         "{'type':'message','content':[5,'x',{'type':'text','text':null},{'type':'tool_use','input'"
         ":'str'}]}",
         0, false, NULL, NULL, false, true, 1, NULL, "'str'", NONE, 0, 0},
        {R, "{'object':'response','output':{'type':'message'},'status':7}", 0, false, "stop", NULL,
         false, false, 0, NULL, NULL, NONE, 0, 0},
        {R,
         "{'object':'response','output':[{'type':'message','content':'x'},{'type':'function_call','"
         "name':3}]}",
         0, false, "tool_calls", NULL, false, true, 1, NULL, NULL, NONE, 0, 0},
        {R, "{'object':'response','status':'incomplete','incomplete_details':'x'}", 0, false,
         "length", NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        /* objects where arrays belong are read as empty arrays, not as their members */
        {M,
         "{'type':'message','content':{'a':{'type':'text','text':'x'},'b':{'type':'tool_use','"
         "name':'t','input':{}}}}",
         0, false, NULL, NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {R,
         "{'object':'response','output':{'a':{'type':'function_call','name':'f'},'b':{'type':'"
         "message','content':[{'type':'output_text','text':'x'}]}}}",
         0, false, "stop", NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
        {R,
         "{'object':'response','output':[{'type':'message','content':{'a':{'type':'output_text','"
         "text':'x'},'b':{'type':'refusal','refusal':'no'}}}]}",
         0, false, "stop", NULL, false, false, 0, NULL, NULL, NONE, 0, 0},
    };
    run_answers(rows, N_OF(rows));
}

/* ==== the mock's answers, as a deployment would send them ==== */

struct mock_case {
    enum tg_api api;
    bool stream;
    bool tool;
    const char *finish;  /* what the mock is told (OpenAI's words) */
    int64_t error_after; /* -1: none */
};

/* What a stream said, summed as the request machine will. */
struct seen {
    enum tg_api api;
    enum tg_fmt_result last;
    int events, bad;
    bool content;
    struct tg_buf text;
    char finish_copy[32];
    struct tg_usage_facts usage;
    char *error_json;
};

static bool on_mock_event(void *ctx, const struct tg_sse_event *ev)
{
    struct seen *s = ctx;
    if (!ev->has_data)
        return true;
    struct tg_event_facts f;
    char *err = NULL;
    enum tg_fmt_result r = tg_read_event(s->api, ev->event, ev->data, ev->data_len, &f, &err);
    s->events++;
    s->last = r;
    s->bad += r == TG_FMT_BAD;
    s->content |= f.content;
    tg_jv_str_append(f.text, &s->text);
    if (f.finish[0])
        snprintf(s->finish_copy, sizeof(s->finish_copy), "%s", f.finish);
    tg_read_usage(f.usage, &s->usage);
    if (err) {
        cJSON_free(s->error_json);
        s->error_json = err;
    }
    return r == TG_FMT_CONTINUE;
}

static void test_mock_answers(void **state)
{
    (void)state;
    static const struct mock_case cases[] = {
        {TG_API_CHAT, true, false, "stop", -1},
        {TG_API_CHAT, true, true, "tool_calls", -1},
        {TG_API_CHAT, false, false, "length", -1},
        {TG_API_MESSAGES, true, false, "stop", -1},
        {TG_API_MESSAGES, true, true, "tool_calls", -1},
        {TG_API_MESSAGES, true, false, "length", -1},
        {TG_API_MESSAGES, true, false, "stop", 1},
        {TG_API_MESSAGES, false, false, "stop", -1},
        {TG_API_MESSAGES, false, true, "tool_calls", -1},
        {TG_API_RESPONSES, true, false, "stop", -1},
        {TG_API_RESPONSES, true, true, "tool_calls", -1},
        {TG_API_RESPONSES, true, false, "length", -1},
        {TG_API_RESPONSES, true, false, "stop", 1},
        {TG_API_RESPONSES, false, false, "stop", -1},
        {TG_API_RESPONSES, false, true, "tool_calls", -1},
        {TG_API_RESPONSES, false, false, "length", -1},
    };
    static const size_t ends[] = {5, 11};
    for (size_t i = 0; i < N_OF(cases); i++) {
        const struct mock_case *c = &cases[i];
        struct tg_mock_reply r = {
            .api = (enum tg_mock_api)c->api,
            .model = "m",
            .id = "id-1",
            .created = 1,
            .stream = c->stream,
            .include_usage = true,
            .n_choices = 1,
            .text = c->tool ? NULL : "Hello world",
            .token_ends = c->tool ? NULL : ends,
            .n_tokens = c->tool ? 0 : N_OF(ends),
            .tool_name = c->tool ? "get" : NULL,
            .tool_args = c->tool ? "{\"city\":\"Paris\"}" : NULL,
            .tool_id = c->tool ? "call_1" : NULL,
            .finish_reason = c->finish,
            .prompt_tokens = 12,
            .completion_tokens = 2,
            .stream_error_after = c->error_after,
        };
        struct tg_mock_plan plan;
        memset(&plan, 0, sizeof(plan));
        tg_mock_answer_format(&r, &plan);
        if (!c->stream) {
            struct tg_answer_facts f;
            assert_int_equal(tg_read_answer(c->api, plan.body.data, plan.body.len, &f), 0);
            assert_false(f.error);
            assert_string_equal(f.finish, c->finish);
            assert_true(usage_is(&f.usage, 12, 0, 2));
            if (c->tool) {
                assert_int_equal(f.n_calls, 1);
                assert_true(tg_jv_str_eq(f.calls[0].name, "get"));
            } else {
                assert_string_equal(f.text.data, "Hello world");
            }
            tg_answer_facts_free(&f);
            tg_mock_plan_free(&plan);
            continue;
        }
        struct seen s = {.api = c->api, .last = TG_FMT_CONTINUE};
        struct tg_sse_parser p;
        tg_sse_init(&p, 1 << 20);
        tg_sse_feed(&p, plan.body.data, plan.body.len, on_mock_event, &s);
        tg_sse_free(&p);
        assert_int_equal(s.bad, 0);
        assert_true(s.content);
        if (c->error_after >= 0) {
            assert_int_equal(s.last, TG_FMT_ERROR);
            assert_non_null(s.error_json);
        } else {
            assert_int_equal(s.last, TG_FMT_DONE);
            assert_null(s.error_json);
            assert_string_equal(s.finish_copy, c->finish);
            assert_true(usage_is(&s.usage, 12, 0, 2));
            if (!c->tool)
                assert_string_equal(s.text.data, "Hello world");
        }
        cJSON_free(s.error_json);
        tg_buf_free(&s.text);
        tg_mock_plan_free(&plan);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_events),
        cmocka_unit_test(test_messages_events),
        cmocka_unit_test(test_responses_events),
        cmocka_unit_test(test_event_edges),
        cmocka_unit_test(test_chat_answers),
        cmocka_unit_test(test_messages_answers),
        cmocka_unit_test(test_responses_answers),
        cmocka_unit_test(test_many_calls),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_usage_accumulates),
        cmocka_unit_test(test_hostile_answers),
        cmocka_unit_test(test_mock_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

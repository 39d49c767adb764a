/* Unit tests of formats/responses_from_chat.c: chat.completion to a
 * Responses `response`, chat errors to Responses errors, and
 * chat.completion.chunk streams to the Responses event sequence (every
 * event type, sequence numbers, item ids and indexes, the final response),
 * with the same wire bytes cut at every offset giving the same events. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "responses_rows.h"
#include "sse_events.h"

#include "core/buf.h"
#include "formats/responses_from_chat.h"
#include "util/sse.h"

struct row {
    const char *in;
    const char *path;
    const char *want;
};

/* ---- whole answers ---- */

#define CHAT(msg, finish, usage)                                                                   \
    "{'id':'chatcmpl-abc','object':'chat.completion','created':1700000000,'model':'gpt-4o',"       \
    "'choices':[{'index':0,'message':" msg ",'finish_reason':'" finish "'}]" usage "}"
#define USAGE                                                                                      \
    ",'usage':{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15,"                        \
    "'prompt_tokens_details':{'cached_tokens':3},'completion_tokens_details':"                     \
    "{'reasoning_tokens':1}}"
#define TEXT_MSG(t) "{'role':'assistant','content':'" t "'}"
#define CALLS_MSG                                                                                  \
    "{'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',"           \
    "'function':{'name':'get','arguments':'{\\'a\\':1}'}},{'id':'call_2','type':'function',"       \
    "'function':{'name':'put','arguments':'{}'}}]}"

static cJSON *answer_of(const char *chat_q, const char *request_q)
{
    char *body = q(chat_q);
    cJSON *req = request_q ? parse_q(request_q) : NULL;
    struct tg_buf out = TG_BUF_INIT;
    int rc = tg_fmt_responses_from_chat_answer(body, strlen(body), req, &out);
    cJSON *got = rc == 0 ? cJSON_Parse(out.data) : NULL;
    if (rc == 0 && !got)
        fail_msg("not JSON: %s", out.data);
    tg_buf_free(&out);
    cJSON_Delete(req);
    free(body);
    return got;
}

static void test_answer_rows(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "id", "'resp_abc'"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "object", "'response'"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "created_at", "1700000000"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "status", "'completed'"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "error", "null"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "incomplete_details", "null"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "model", "'gpt-4o'"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "output_text", "!"}, /* the SDK's, not the wire's */
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "output",
         "[{'id':'msg_abc','type':'message','status':'completed','role':'assistant',"
         "'content':[{'type':'output_text','text':'hi','annotations':[],'logprobs':[]}]}]"},
        {CHAT(TEXT_MSG("hi"), "stop", USAGE), "usage",
         "{'input_tokens':10,'input_tokens_details':{'cached_tokens':3},'output_tokens':5,"
         "'output_tokens_details':{'reasoning_tokens':1},'total_tokens':15}"},
        {CHAT(TEXT_MSG("hi"), "stop", ""), "usage", "null"},
        {CHAT("{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text','text':"
              "'b'}]}",
              "stop", ""),
         "output.0.content.0.text", "'ab'"},
        /* an empty answer is still a message */
        {CHAT(TEXT_MSG(""), "stop", ""), "output.0.content",
         "[{'type':'output_text','text':'','annotations':[],'logprobs':[]}]"},
        {CHAT("{'role':'assistant','content':null}", "stop", ""), "output.0.content.0.text", "''"},
        /* refusal */
        {CHAT("{'role':'assistant','content':null,'refusal':'I cannot'}", "stop", ""),
         "output.0.content", "[{'type':'refusal','refusal':'I cannot'}]"},
        {CHAT("{'role':'assistant','content':'well','refusal':'no'}", "stop", ""),
         "output.0.content.1", "{'type':'refusal','refusal':'no'}"},
        {CHAT("{'role':'assistant','content':[{'type':'refusal','refusal':'nope'}]}", "stop", ""),
         "output.0.content", "[{'type':'refusal','refusal':'nope'}]"},
        /* tool calls, call ids preserved */
        {CHAT(CALLS_MSG, "tool_calls", ""), "output",
         "[{'id':'fc_abc','type':'function_call','call_id':'call_1','name':'get','arguments':"
         "'{\\'a\\':1}','status':'completed'},{'id':'fc_abc_1','type':'function_call',"
         "'call_id':'call_2','name':'put','arguments':'{}','status':'completed'}]"},
        {CHAT(CALLS_MSG, "tool_calls", ""), "status", "'completed'"},
        {CHAT("{'role':'assistant','content':'calling','tool_calls':[{'id':'c','type':"
              "'function','function':{'name':'f','arguments':'{}'}}]}",
              "tool_calls", ""),
         "output.1.call_id", "'c'"},
        {CHAT("{'role':'assistant','content':'calling','tool_calls':[{'id':'c','type':"
              "'function','function':{'name':'f','arguments':'{}'}}]}",
              "tool_calls", ""),
         "output.0.content.0.text", "'calling'"},
        /* length -> incomplete */
        {CHAT(TEXT_MSG("cut sh"), "length", ""), "status", "'incomplete'"},
        {CHAT(TEXT_MSG("cut sh"), "length", ""), "incomplete_details",
         "{'reason':'max_output_tokens'}"},
        {CHAT(TEXT_MSG("cut sh"), "length", ""), "output.0.status", "'incomplete'"},
        {CHAT(TEXT_MSG(""), "content_filter", ""), "incomplete_details",
         "{'reason':'content_filter'}"},
        /* reasoning content -> a reasoning item with its summary */
        {CHAT("{'role':'assistant','content':'42','reasoning_content':'think'}", "stop", ""),
         "output.0",
         "{'id':'rs_abc','type':'reasoning','summary':[{'type':'summary_text','text':'think'}]}"},
        {CHAT("{'role':'assistant','content':'42','reasoning':'think'}", "stop", ""), "output.1.id",
         "'msg_abc_1'"},
        /* a call without an id gets one (clients send it back with the output) */
        {CHAT("{'role':'assistant','tool_calls':[{'type':'function','function':{'name':'f',"
              "'arguments':'{}'}}]}",
              "tool_calls", ""),
         "output.0.call_id", "'call_abc_0'"},
        /* the id of another provider kept, prefixed */
        {"{'id':'x-1','choices':[{'message':{'content':'a'},'finish_reason':'stop'}]}", "id",
         "'resp_x-1'"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        cJSON *got = answer_of(rows[i].in, NULL);
        if (!got) {
            print_error("row %zu: declined\n", i);
            bad++;
            continue;
        }
        if (!path_matches(got, rows[i].path, rows[i].want)) {
            report(i, rows[i].path, rows[i].want, got);
            bad++;
        }
        cJSON_Delete(got);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define ECHO_REQ                                                                                   \
    "{'model':'gpt-4o','input':'hi','instructions':'be brief','max_output_tokens':99,"             \
    "'metadata':{'k':'v'},'parallel_tool_calls':false,'reasoning':{'effort':'low'},"               \
    "'temperature':0.2,'top_p':0.5,'text':{'format':{'type':'json_object'},"                       \
    "'verbosity':'low'},'tool_choice':'required','tools':[{'type':'function','name':'f',"          \
    "'parameters':{},'strict':true}],'user':'u'}"

/* A response repeats the request's settings, or the API's defaults. */
static void test_answer_echo(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {ECHO_REQ, "instructions", "'be brief'"},
        {ECHO_REQ, "max_output_tokens", "99"},
        {ECHO_REQ, "metadata", "{'k':'v'}"},
        {ECHO_REQ, "parallel_tool_calls", "false"},
        {ECHO_REQ, "reasoning", "{'effort':'low','summary':null}"},
        {ECHO_REQ, "temperature", "0.2"},
        {ECHO_REQ, "top_p", "0.5"},
        {ECHO_REQ, "text", "{'format':{'type':'json_object'},'verbosity':'low'}"},
        {ECHO_REQ, "tool_choice", "'required'"},
        {ECHO_REQ, "tools", "[{'type':'function','name':'f','parameters':{},'strict':true}]"},
        {ECHO_REQ, "user", "'u'"},
        {ECHO_REQ, "store", "false"},
        {ECHO_REQ, "previous_response_id", "null"},
        {"{'input':'hi'}", "instructions", "null"},
        {"{'input':'hi'}", "max_output_tokens", "null"},
        {"{'input':'hi'}", "metadata", "{}"},
        {"{'input':'hi'}", "parallel_tool_calls", "true"},
        {"{'input':'hi'}", "reasoning", "{'effort':null,'summary':null}"},
        {"{'input':'hi'}", "temperature", "1"},
        {"{'input':'hi'}", "top_p", "1"},
        {"{'input':'hi'}", "text", "{'format':{'type':'text'}}"},
        {"{'input':'hi'}", "tool_choice", "'auto'"},
        {"{'input':'hi'}", "tools", "[]"},
        {"{'input':'hi'}", "truncation", "'disabled'"},
        {"{'input':'hi'}", "user", "!"},
        {"{'input':'hi','temperature':'hot','tools':{},'metadata':[]}", "temperature", "1"},
        {"{'input':'hi','temperature':'hot','tools':{},'metadata':[]}", "tools", "[]"},
        {"{'input':'hi','temperature':'hot','tools':{},'metadata':[]}", "metadata", "{}"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        cJSON *got = answer_of(CHAT(TEXT_MSG("x"), "stop", ""), rows[i].in);
        assert_non_null(got);
        if (!path_matches(got, rows[i].path, rows[i].want)) {
            report(i, rows[i].path, rows[i].want, got);
            bad++;
        }
        cJSON_Delete(got);
    }
    /* no request at all: the defaults */
    cJSON *got = answer_of(CHAT(TEXT_MSG("x"), "stop", ""), NULL);
    assert_true(path_matches(got, "tools", "[]"));
    cJSON_Delete(got);
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

static void test_answer_declined(void **state)
{
    (void)state;
    static const char *const rows[] = {"{'object':'response'}", "[]", "nope", ""};
    for (size_t i = 0; i < N_OF(rows); i++)
        assert_null(answer_of(rows[i], NULL));
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    /* OpenAI's shape is Responses' too: byte for byte */
    static const char openai[] = "{\"error\": {\"message\": \"Rate limit reached\", \"type\": "
                                 "\"tokens\", \"param\": null, \"code\": \"rate_limit_exceeded\"}}";
    struct tg_buf out = TG_BUF_INIT;
    tg_fmt_responses_from_chat_error(openai, strlen(openai), 429, &out);
    assert_string_equal(out.data, openai);
    tg_buf_reset(&out);

    static const struct {
        const char *body;
        int status;
        const char *want;
    } rows[] = {
        {"<html>bad gateway</html>", 502,
         "{'error':{'message':'upstream answered HTTP 502','type':'server_error','param':null,"
         "'code':null}}"},
        {"", 429,
         "{'error':{'message':'upstream answered HTTP 429','type':'rate_limit_error','param':"
         "null,'code':null}}"},
        {"{'error':'x'}", 400,
         "{'error':{'message':'upstream answered HTTP 400','type':'invalid_request_error',"
         "'param':null,'code':null}}"},
        {"{'error':{'type':'x'}}", 401,
         "{'error':{'message':'upstream answered HTTP 401','type':'authentication_error',"
         "'param':null,'code':null}}"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *body = q(rows[i].body);
        tg_fmt_responses_from_chat_error(body, strlen(body), rows[i].status, &out);
        cJSON *got = cJSON_Parse(out.data);
        if (!path_matches(got, "", rows[i].want))
            fail_msg("row %zu: %s", i, out.data);
        cJSON_Delete(got);
        tg_buf_reset(&out);
        free(body);
    }
    tg_buf_free(&out);
}

/* ---- streams ---- */

/* Every event: the data's type is the event's name, sequence numbers count
 * from 0 by one. */
static void check_framing(const struct events *e)
{
    for (int i = 0; i < e->n; i++) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e->data[i], "type");
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e->data[i], "sequence_number");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, e->name[i]) != 0)
            fail_msg("event %d (%s): type differs", i, e->name[i]);
        if (!cJSON_IsNumber(seq) || seq->valueint != i)
            fail_msg("event %d (%s): sequence_number is not %d", i, e->name[i], i);
    }
}

/* The events' names, space separated. */
static void names_of(const struct events *e, struct tg_buf *b)
{
    for (int i = 0; i < e->n; i++) {
        if (i)
            tg_buf_putc(b, ' ');
        tg_buf_puts(b, e->name[i]);
    }
}

struct event_row {
    int event; /* index into the events; -1: the last */
    const char *path;
    const char *want;
};

struct stream_case {
    const char *label;
    const char *chunks[16]; /* data of each chat event, ' for "; NULL ends */
    const char *names;      /* the Responses events wanted, "" = "response." */
    enum tg_fmt_result last;
    struct event_row rows[12];
};

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-abc','object':'chat.completion.chunk','created':1700000000,'model':"          \
    "'gpt-4o','choices':[{'index':0,'delta':" delta ",'finish_reason':" finish "}]}"
#define ROLE CHUNK("{'role':'assistant','content':''}", "null")
#define SAY(t) CHUNK("{'content':'" t "'}", "null")
#define END(f) CHUNK("{}", "'" f "'")
#define USAGE_CHUNK                                                                                \
    "{'id':'chatcmpl-abc','object':'chat.completion.chunk','created':1700000000,'model':"          \
    "'gpt-4o','choices':[],'usage':{'prompt_tokens':10,'completion_tokens':5,"                     \
    "'total_tokens':15,'prompt_tokens_details':{'cached_tokens':3},"                               \
    "'completion_tokens_details':{'reasoning_tokens':1}}}"
#define TOOL(i, id, name, args)                                                                    \
    CHUNK("{'tool_calls':[{'index':" #i ",'id':'" id                                               \
          "','type':'function','function':{'name':'" name "','arguments':'" args "'}}]}",          \
          "null")
#define ARGS(i, args)                                                                              \
    CHUNK("{'tool_calls':[{'index':" #i ",'function':{'arguments':'" args "'}}]}", "null")

static const struct stream_case cases[] = {
    {"text",
     {ROLE, SAY("Hel"), SAY("lo"), END("stop"), USAGE_CHUNK, "[DONE]"},
     "created in_progress output_item.added content_part.added output_text.delta "
     "output_text.delta output_text.done content_part.done output_item.done completed",
     TG_FMT_DONE,
     {{0, "response",
       "{'id':'resp_abc','object':'response','created_at':1700000000,'status':'in_progress',"
       "'background':false,'error':null,'incomplete_details':null,'instructions':null,"
       "'max_output_tokens':null,'metadata':{},'parallel_tool_calls':true,"
       "'previous_response_id':null,'reasoning':{'effort':null,'summary':null},'store':false,"
       "'temperature':1,'text':{'format':{'type':'text'}},'tool_choice':'auto','tools':[],"
       "'top_p':1,'truncation':'disabled','model':'gpt-4o','output':[],'usage':null}"},
      {1, "response.status", "'in_progress'"},
      {2, "",
       "{'type':'response.output_item.added','sequence_number':2,'output_index':0,"
       "'item':{'id':'msg_abc','type':'message','status':'in_progress','role':"
       "'assistant','content':[]}}"},
      {3, "",
       "{'type':'response.content_part.added','sequence_number':3,'item_id':'msg_abc',"
       "'output_index':0,'content_index':0,'part':{'type':'output_text','text':'',"
       "'annotations':[],'logprobs':[]}}"},
      {4, "",
       "{'type':'response.output_text.delta','sequence_number':4,'item_id':'msg_abc',"
       "'output_index':0,'content_index':0,'delta':'Hel','logprobs':[]}"},
      {6, "",
       "{'type':'response.output_text.done','sequence_number':6,'item_id':'msg_abc',"
       "'output_index':0,'content_index':0,'text':'Hello','logprobs':[]}"},
      {7, "part", "{'type':'output_text','text':'Hello','annotations':[],'logprobs':[]}"},
      {8, "item.status", "'completed'"},
      {8, "item.content.0.text", "'Hello'"},
      {-1, "response.status", "'completed'"},
      {-1, "response.output.0.content.0.text", "'Hello'"},
      {-1, "response.usage",
       "{'input_tokens':10,'input_tokens_details':{'cached_tokens':3},'output_tokens':5,"
       "'output_tokens_details':{'reasoning_tokens':1},'total_tokens':15}"}}},
    {"tool calls after text",
     {ROLE, SAY("ok"), TOOL(0, "call_1", "get", "{\\'a\\'"), ARGS(0, ":1}"),
      TOOL(1, "call_2", "put", ""), ARGS(1, "{}"), END("tool_calls"), "[DONE]"},
     "created in_progress output_item.added content_part.added output_text.delta "
     "output_text.done content_part.done output_item.done output_item.added "
     "function_call_arguments.delta function_call_arguments.delta function_call_arguments.done "
     "output_item.done output_item.added function_call_arguments.delta "
     "function_call_arguments.done output_item.done completed",
     TG_FMT_DONE,
     {{8, "",
       "{'type':'response.output_item.added','sequence_number':8,'output_index':1,"
       "'item':{'id':'fc_abc_1','type':'function_call','call_id':'call_1','name':'get',"
       "'arguments':'','status':'in_progress'}}"},
      {9, "",
       "{'type':'response.function_call_arguments.delta','sequence_number':9,"
       "'item_id':'fc_abc_1','output_index':1,'delta':'{\\'a\\''}"},
      {11, "",
       "{'type':'response.function_call_arguments.done','sequence_number':11,"
       "'item_id':'fc_abc_1','output_index':1,'name':'get','arguments':'{\\'a\\':1}'}"},
      {12, "item.arguments", "'{\\'a\\':1}'"},
      {12, "item.status", "'completed'"},
      {13, "item.call_id", "'call_2'"},
      {13, "output_index", "2"},
      {15, "arguments", "'{}'"},
      {-1, "response.output.2",
       "{'id':'fc_abc_2','type':'function_call','call_id':'call_2','name':'put','arguments':"
       "'{}','status':'completed'}"},
      {-1, "response.usage", "null"}}},
    {"length",
     {ROLE, SAY("cut"), END("length"), "[DONE]"},
     "created in_progress output_item.added content_part.added output_text.delta "
     "output_text.done content_part.done output_item.done incomplete",
     TG_FMT_DONE,
     {{7, "item.status", "'incomplete'"},
      {-1, "response.status", "'incomplete'"},
      {-1, "response.incomplete_details", "{'reason':'max_output_tokens'}"},
      {-1, "response.output.0.content.0.text", "'cut'"}}},
    {"content filter",
     {ROLE, END("content_filter"), "[DONE]"},
     "created in_progress output_item.added content_part.added output_text.done "
     "content_part.done output_item.done incomplete",
     TG_FMT_DONE,
     {{-1, "response.incomplete_details", "{'reason':'content_filter'}"}}},
    {"refusal",
     {ROLE, CHUNK("{'refusal':'I can'}", "null"), CHUNK("{'refusal':'not'}", "null"), END("stop"),
      "[DONE]"},
     "created in_progress output_item.added content_part.added refusal.delta refusal.delta "
     "refusal.done content_part.done output_item.done completed",
     TG_FMT_DONE,
     {{3, "part", "{'type':'refusal','refusal':''}"},
      {4, "",
       "{'type':'response.refusal.delta','sequence_number':4,'item_id':'msg_abc',"
       "'output_index':0,'content_index':0,'delta':'I can'}"},
      {6, "refusal", "'I cannot'"},
      {7, "part", "{'type':'refusal','refusal':'I cannot'}"},
      {-1, "response.output.0.content", "[{'type':'refusal','refusal':'I cannot'}]"}}},
    {"reasoning then text",
     {ROLE, CHUNK("{'reasoning_content':'hm'}", "null"), CHUNK("{'reasoning':'m'}", "null"),
      SAY("42"), END("stop"), "[DONE]"},
     "created in_progress output_item.added reasoning_summary_part.added "
     "reasoning_summary_text.delta reasoning_summary_text.delta reasoning_summary_text.done "
     "reasoning_summary_part.done output_item.done output_item.added content_part.added "
     "output_text.delta output_text.done content_part.done output_item.done completed",
     TG_FMT_DONE,
     {{2, "item", "{'id':'rs_abc','type':'reasoning','summary':[]}"},
      {3, "",
       "{'type':'response.reasoning_summary_part.added','sequence_number':3,"
       "'item_id':'rs_abc','output_index':0,'summary_index':0,'part':{'type':"
       "'summary_text','text':''}}"},
      {4, "",
       "{'type':'response.reasoning_summary_text.delta','sequence_number':4,"
       "'item_id':'rs_abc','output_index':0,'summary_index':0,'delta':'hm'}"},
      {6, "text", "'hmm'"},
      {7, "part", "{'type':'summary_text','text':'hmm'}"},
      {8, "item",
       "{'id':'rs_abc','type':'reasoning','summary':[{'type':'summary_text',"
       "'text':'hmm'}]}"},
      {9, "item.id", "'msg_abc_1'"},
      {11, "output_index", "1"},
      {-1, "response.output.0.summary.0.text", "'hmm'"},
      {-1, "response.output.1.content.0.text", "'42'"}}},
    {"empty answer",
     {ROLE, END("stop"), "[DONE]"},
     "created in_progress output_item.added content_part.added output_text.done "
     "content_part.done output_item.done completed",
     TG_FMT_DONE,
     {{4, "text", "''"}, {-1, "response.output.0.content.0.text", "''"}}},
    {"reasoning only",
     {ROLE, CHUNK("{'reasoning_content':'hm'}", "null"), END("stop"), "[DONE]"},
     "created in_progress output_item.added reasoning_summary_part.added "
     "reasoning_summary_text.delta reasoning_summary_text.done reasoning_summary_part.done "
     "output_item.done output_item.added content_part.added output_text.done "
     "content_part.done output_item.done completed",
     TG_FMT_DONE,
     {{-1, "response.output.1.content.0.text", "''"}}},
    {"in-band error after text",
     {ROLE, SAY("part"),
      "{'error':{'message':'boom','type':'server_error','param':null,'code':null}}"},
     "created in_progress output_item.added content_part.added output_text.delta error failed",
     TG_FMT_ERROR,
     {{5, "",
       "{'type':'error','sequence_number':5,'code':'server_error','message':'boom',"
       "'param':null}"},
      {6, "response.status", "'failed'"},
      {6, "response.error", "{'code':'server_error','message':'boom'}"},
      {6, "response.output.0.status", "'incomplete'"},
      {6, "response.output.0.content.0.text", "'part'"}}},
    {"in-band rate limit error",
     {ROLE, "{'error':{'message':'slow down','type':'tokens','code':'rate_limit_exceeded'}}"},
     "created in_progress error failed",
     TG_FMT_ERROR,
     {{2, "code", "'rate_limit_exceeded'"},
      {3, "response.error", "{'code':'rate_limit_exceeded','message':'slow down'}"},
      {3, "response.output", "[]"}}},
    {"a chunk without an id",
     {"{'choices':[{'delta':{'content':'x'},'finish_reason':'stop'}]}", "[DONE]"},
     "created in_progress output_item.added content_part.added output_text.delta "
     "output_text.done content_part.done output_item.done completed",
     TG_FMT_DONE,
     {{0, "response.id", "'resp_tailgate'"},
      {0, "response.created_at", "1234"},
      {2, "item.id", "'msg_tailgate'"}}},
    {"a call without an id",
     {CHUNK("{'tool_calls':[{'index':0,'function':{'name':'f','arguments':'{}'}}]}", "null"),
      END("tool_calls"), "[DONE]"},
     "created in_progress output_item.added function_call_arguments.delta "
     "function_call_arguments.done output_item.done completed",
     TG_FMT_DONE,
     {{2, "item.call_id", "'call_abc_0'"}, {-1, "response.output.0.call_id", "'call_abc_0'"}}},
};

/* Runs one case's chunks through a fresh stream; returns the last result. */
static enum tg_fmt_result run_chunks(const struct stream_case *c, struct tg_buf *out,
                                     const char *request_q, bool *content_started)
{
    struct tg_fmt_responses_from_chat_stream s;
    cJSON *req = request_q ? parse_q(request_q) : NULL;
    tg_fmt_responses_from_chat_stream_init(&s, req, 1234);
    enum tg_fmt_result r = TG_FMT_CONTINUE;
    for (int i = 0; c->chunks[i]; i++) {
        char *data = q(c->chunks[i]);
        r = tg_fmt_responses_from_chat_stream_event(&s, data, strlen(data), out);
        free(data);
    }
    if (content_started)
        *content_started = s.content_started;
    tg_fmt_responses_from_chat_stream_free(&s);
    cJSON_Delete(req); /* read until the stream's last response object */
    return r;
}

static void test_stream_cases(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t k = 0; k < N_OF(cases); k++) {
        const struct stream_case *c = &cases[k];
        struct tg_buf out = TG_BUF_INIT;
        enum tg_fmt_result r = run_chunks(c, &out, NULL, NULL);
        struct events e;
        parse_events(&out, &e);
        check_framing(&e);
        struct tg_buf names = TG_BUF_INIT, want = TG_BUF_INIT;
        names_of(&e, &names);
        /* the wanted names without their "response." */
        for (const char *p = c->names; *p;) {
            size_t n = strcspn(p, " ");
            if (!(n == 5 && strncmp(p, "error", 5) == 0))
                tg_buf_puts(&want, "response.");
            tg_buf_append(&want, p, n);
            p += n;
            if (*p)
                tg_buf_putc(&want, *p++);
        }
        if (strcmp(names.data ? names.data : "", want.data) != 0) {
            print_error("case %s:\n got  %s\n want %s\n", c->label, names.data, want.data);
            bad++;
        }
        if (r != c->last) {
            print_error("case %s: result %d, want %d\n", c->label, r, c->last);
            bad++;
        }
        for (size_t i = 0; i < N_OF(c->rows) && c->rows[i].path; i++) {
            int ev = c->rows[i].event < 0 ? e.n - 1 : c->rows[i].event;
            if (ev >= e.n || !path_matches(e.data[ev], c->rows[i].path, c->rows[i].want)) {
                print_error("case %s, event %d (%s): ", c->label, ev, ev < e.n ? e.name[ev] : "-");
                report(i, c->rows[i].path, c->rows[i].want, ev < e.n ? e.data[ev] : NULL);
                bad++;
            }
        }
        tg_buf_free(&names);
        tg_buf_free(&want);
        free_events(&e);
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d check(s) wrong", bad);
}

/* The request's settings are in every response object of the stream. */
static void test_stream_echo(void **state)
{
    (void)state;
    struct tg_buf out = TG_BUF_INIT;
    run_chunks(&cases[0], &out, ECHO_REQ, NULL);
    struct events e;
    parse_events(&out, &e);
    assert_true(path_matches(e.data[0], "response.instructions", "'be brief'"));
    assert_true(path_matches(e.data[e.n - 1], "response.tool_choice", "'required'"));
    assert_true(path_matches(e.data[e.n - 1], "response.max_output_tokens", "99"));
    free_events(&e);
    tg_buf_free(&out);
}

/* content_started turns on with the first output or arguments delta (the
 * streaming commit point), not with the role chunk or reasoning. */
static void test_stream_content_started(void **state)
{
    (void)state;
    static const struct stream_case only_role = {"", {ROLE}, "", 0, {{0}}};
    static const struct stream_case reasoning = {
        "", {ROLE, CHUNK("{'reasoning_content':'hm'}", "null")}, "", 0, {{0}}};
    static const struct stream_case text = {"", {ROLE, SAY("a")}, "", 0, {{0}}};
    static const struct stream_case call = {"", {TOOL(0, "c", "f", "{")}, "", 0, {{0}}};
    static const struct stream_case call_no_args = {"", {TOOL(0, "c", "f", "")}, "", 0, {{0}}};
    static const struct {
        const struct stream_case *c;
        bool started;
    } rows[] = {{&only_role, false},
                {&reasoning, false},
                {&text, true},
                {&call, true},
                {&call_no_args, false}};
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        bool started = !rows[i].started;
        run_chunks(rows[i].c, &out, NULL, &started);
        if (started != rows[i].started)
            fail_msg("row %zu: content_started %d", i, started);
        tg_buf_free(&out);
    }
}

/* The gateway's own failure (a cut upstream, the deadline) mid-stream, and
 * before anything was sent; after the end, nothing more. */
static void test_stream_fail(void **state)
{
    (void)state;
    struct tg_fmt_responses_from_chat_stream s;
    struct tg_buf out = TG_BUF_INIT;
    tg_fmt_responses_from_chat_stream_init(&s, NULL, 1234);
    tg_fmt_responses_from_chat_stream_fail(
        &s,
        "{\"message\":\"deadline\",\"type\":\"timeout\",\"code\":"
        "\"deadline_exceeded\"}",
        &out);
    struct events e;
    parse_events(&out, &e);
    check_framing(&e);
    assert_int_equal(e.n, 4);
    assert_string_equal(e.name[0], "response.created");
    assert_string_equal(e.name[2], "error");
    assert_true(path_matches(e.data[2], "code", "'deadline_exceeded'"));
    assert_true(path_matches(e.data[2], "message", "'deadline'"));
    assert_string_equal(e.name[3], "response.failed");
    assert_true(
        path_matches(e.data[3], "response.error", "{'code':'server_error','message':'deadline'}"));
    free_events(&e);
    tg_buf_reset(&out);
    /* ended: another failure or chunk writes nothing */
    tg_fmt_responses_from_chat_stream_fail(&s, NULL, &out);
    char *chunk = q(SAY("late"));
    assert_int_equal(tg_fmt_responses_from_chat_stream_event(&s, chunk, strlen(chunk), &out),
                     TG_FMT_DONE);
    free(chunk);
    assert_int_equal(out.len, 0);
    tg_fmt_responses_from_chat_stream_free(&s);

    /* a body-shaped error, or none at all */
    static const char *const errors[] = {"{\"error\":{\"message\":\"inner\"}}", NULL, "garbage"};
    static const char *const messages[] = {"'inner'", "'The upstream stream failed.'",
                                           "'The upstream stream failed.'"};
    for (size_t i = 0; i < N_OF(errors); i++) {
        struct tg_buf o = TG_BUF_INIT;
        struct tg_fmt_responses_from_chat_stream t;
        tg_fmt_responses_from_chat_stream_init(&t, NULL, 1);
        char *role = q(ROLE);
        tg_fmt_responses_from_chat_stream_event(&t, role, strlen(role), &o);
        free(role);
        tg_fmt_responses_from_chat_stream_fail(&t, errors[i], &o);
        parse_events(&o, &e);
        check_framing(&e);
        assert_true(path_matches(e.data[e.n - 2], "message", messages[i]));
        assert_true(path_matches(e.data[e.n - 2], "code", "'server_error'"));
        assert_string_equal(e.name[e.n - 1], "response.failed");
        free_events(&e);
        tg_buf_free(&o);
        tg_fmt_responses_from_chat_stream_free(&t);
    }
    tg_buf_free(&out);
}

/* Data that is not a chunk is reported, and writes nothing. */
static void test_stream_bad(void **state)
{
    (void)state;
    static const char *const rows[] = {"not json", "[1,2]", "\"str\"", ""};
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_fmt_responses_from_chat_stream s;
        struct tg_buf out = TG_BUF_INIT;
        tg_fmt_responses_from_chat_stream_init(&s, NULL, 1);
        assert_int_equal(
            tg_fmt_responses_from_chat_stream_event(&s, rows[i], strlen(rows[i]), &out),
            TG_FMT_BAD);
        assert_int_equal(out.len, 0);
        tg_fmt_responses_from_chat_stream_free(&s);
        tg_buf_free(&out);
    }
}

/* More output items than a stream keeps: the extra calls are dropped whole,
 * and the events stay well formed. */
static void test_stream_item_cap(void **state)
{
    (void)state;
    struct tg_fmt_responses_from_chat_stream s;
    struct tg_buf out = TG_BUF_INIT;
    tg_fmt_responses_from_chat_stream_init(&s, NULL, 1);
    for (int i = 0; i < TG_FMT_RESPONSES_MAX_ITEMS + 5; i++) {
        char data[256];
        snprintf(data, sizeof(data),
                 "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":%d,\"id\":\"c%d\","
                 "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}",
                 i, i);
        tg_fmt_responses_from_chat_stream_event(&s, data, strlen(data), &out);
    }
    assert_int_equal(tg_fmt_responses_from_chat_stream_event(&s, "[DONE]", 6, &out), TG_FMT_DONE);
    assert_int_equal(s.n_items, TG_FMT_RESPONSES_MAX_ITEMS);
    /* the last event is the completed response with every kept call */
    const char *last = strstr(out.data, "event: response.completed\n");
    assert_non_null(last);
    cJSON *done = cJSON_Parse(strchr(last, '{'));
    assert_non_null(done);
    assert_int_equal(cJSON_GetArraySize(at(done, "response.output")), TG_FMT_RESPONSES_MAX_ITEMS);
    cJSON_Delete(done);
    tg_fmt_responses_from_chat_stream_free(&s);
    tg_buf_free(&out);
}

/* ---- the wire: the same stream cut at every byte ---- */

struct wire {
    struct tg_fmt_responses_from_chat_stream s;
    struct tg_buf out;
    enum tg_fmt_result last;
};

static bool on_chat_event(void *ctx, const struct tg_sse_event *ev)
{
    struct wire *w = ctx;
    if (ev->has_data)
        w->last = tg_fmt_responses_from_chat_stream_event(&w->s, ev->data, ev->data_len, &w->out);
    return true;
}

/* The chat stream as an upstream writes it: CRLF and LF, a comment, a
 * multi-byte character astride every cut. */
static void wire_bytes(struct tg_buf *b)
{
    static const char *const chunks[] = {
        ROLE,
        CHUNK("{'reasoning_content':'th\xc3\xa9'}", "null"),
        SAY("H\xc3\xa9l"),
        SAY("lo"),
        TOOL(0, "call_1", "get", "{\\'a\\'"),
        ARGS(0, ":1}"),
        TOOL(1, "call_2", "put", "{}"),
        END("tool_calls"),
        USAGE_CHUNK,
    };
    tg_buf_puts(b, ": keep-alive\r\n\r\n");
    for (size_t i = 0; i < N_OF(chunks); i++) {
        char *data = q(chunks[i]);
        tg_buf_printf(b, "data: %s%s", data, i % 2 ? "\r\n\r\n" : "\n\n");
        free(data);
    }
    tg_buf_puts(b, "data: [DONE]\n\n");
}

static void run_wire(const char *bytes, size_t len, size_t cut, struct wire *w)
{
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 16);
    tg_fmt_responses_from_chat_stream_init(&w->s, NULL, 1);
    memset(&w->out, 0, sizeof(w->out));
    w->last = TG_FMT_CONTINUE;
    /* exact-size heap copies, so a read past either piece shows */
    char *a = malloc(cut ? cut : 1), *b = malloc(len - cut ? len - cut : 1);
    memcpy(a, bytes, cut);
    memcpy(b, bytes + cut, len - cut);
    assert_int_equal(tg_sse_feed(&p, a, cut, on_chat_event, w), cut);
    assert_int_equal(tg_sse_feed(&p, b, len - cut, on_chat_event, w), len - cut);
    free(a);
    free(b);
    assert_false(tg_sse_pending(&p));
    tg_sse_free(&p);
    tg_fmt_responses_from_chat_stream_free(&w->s);
}

static void test_wire_every_cut(void **state)
{
    (void)state;
    struct tg_buf bytes = TG_BUF_INIT;
    wire_bytes(&bytes);
    struct wire whole;
    run_wire(bytes.data, bytes.len, 0, &whole);
    assert_int_equal(whole.last, TG_FMT_DONE);
    struct events e;
    parse_events(&whole.out, &e);
    check_framing(&e);
    /* reasoning, message, two calls; the final response has them all */
    assert_true(path_matches(e.data[e.n - 1], "response.output.0.summary.0.text", "'th\xc3\xa9'"));
    assert_true(
        path_matches(e.data[e.n - 1], "response.output.1.content.0.text", "'H\xc3\xa9llo'"));
    assert_true(path_matches(e.data[e.n - 1], "response.output.2.arguments", "'{\\'a\\':1}'"));
    assert_true(path_matches(e.data[e.n - 1], "response.output.3.call_id", "'call_2'"));
    assert_true(path_matches(e.data[e.n - 1], "response.usage.total_tokens", "15"));
    assert_string_equal(e.name[e.n - 1], "response.completed");
    free_events(&e);
    for (size_t cut = 1; cut < bytes.len; cut++) {
        struct wire w;
        run_wire(bytes.data, bytes.len, cut, &w);
        if (w.last != TG_FMT_DONE || w.out.len != whole.out.len ||
            memcmp(w.out.data, whole.out.data, w.out.len) != 0)
            fail_msg("cut at %zu: different events", cut);
        tg_buf_free(&w.out);
    }
    tg_buf_free(&whole.out);
    tg_buf_free(&bytes);
}

/* A stream's response.completed and the same answer whole are one
 * response: the same output items, ids, statuses and usage. */
static void test_stream_equals_whole(void **state)
{
    (void)state;
    static const struct {
        size_t stream_case;
        const char *whole;
    } rows[] = {
        {0, CHAT(TEXT_MSG("Hello"), "stop", USAGE)},
        {1, CHAT("{'role':'assistant','content':'ok','tool_calls':[{'id':'call_1','type':"
                 "'function','function':{'name':'get','arguments':'{\\'a\\':1}'}},{'id':"
                 "'call_2','type':'function','function':{'name':'put','arguments':'{}'}}]}",
                 "tool_calls", "")},
        {2, CHAT(TEXT_MSG("cut"), "length", "")},
        {4, CHAT("{'role':'assistant','content':null,'refusal':'I cannot'}", "stop", "")},
        {5, CHAT("{'role':'assistant','content':'42','reasoning_content':'hmm'}", "stop", "")},
        {6, CHAT(TEXT_MSG(""), "stop", "")},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        run_chunks(&cases[rows[i].stream_case], &out, NULL, NULL);
        struct events e;
        parse_events(&out, &e);
        cJSON *whole = answer_of(rows[i].whole, NULL);
        assert_non_null(whole);
        const cJSON *streamed = at(e.data[e.n - 1], "response");
        static const char *const members[] = {"id",    "status", "incomplete_details", "output",
                                              "usage", "model",  "created_at"};
        for (size_t m = 0; m < N_OF(members); m++) {
            if (!cJSON_Compare(at(streamed, members[m]), at(whole, members[m]), true)) {
                char *a = cJSON_PrintUnformatted(streamed), *b = cJSON_PrintUnformatted(whole);
                fail_msg("case %s: %s differs:\n stream %s\n whole  %s",
                         cases[rows[i].stream_case].label, members[m], a, b);
            }
        }
        cJSON_Delete(whole);
        free_events(&e);
        tg_buf_free(&out);
    }
}

/* ---- robustness: every member replaced by every wrong type ---- */

/* clang-format off */
static const char *const wrong_values[] = {
    "null", "true", "false", "0", "-1", "3", "1e300", "-1e300", "0.5", "\"\"", "\"x\"",
    "[]", "{}", "[null]", "[1,\"a\",{},[]]", "{\"a\":1}", "{\"type\":\"text\"}",
    "[{\"type\":\"refusal\",\"refusal\":\"r\"}]", "{\"index\":1e9,\"id\":\"\"}",
};
/* clang-format on */

/* The k-th node (pre-order, root excluded) under root, and its parent. */
static cJSON *nth_node(cJSON *node, int *k, cJSON **parent)
{
    for (cJSON *c = node->child; c; c = c->next) {
        if ((*k)-- == 0) {
            *parent = node;
            return c;
        }
        cJSON *f = nth_node(c, k, parent);
        if (f)
            return f;
    }
    return NULL;
}

static int count_nodes(const cJSON *node)
{
    int n = 0;
    for (const cJSON *c = node->child; c; c = c->next)
        n += 1 + count_nodes(c);
    return n;
}

/* Calls cb with the text of valid with every node replaced by each wrong
 * value, and removed. */
static void mutate_all(const char *valid_q, void (*cb)(const char *text, void *ctx), void *ctx)
{
    cJSON *base = parse_q(valid_q);
    assert_non_null(base);
    int n = count_nodes(base);
    for (int k = 0; k < n; k++) {
        for (size_t v = 0; v <= N_OF(wrong_values); v++) {
            cJSON *copy = cJSON_Duplicate(base, true);
            int left = k;
            cJSON *parent = NULL;
            cJSON *node = nth_node(copy, &left, &parent);
            assert_non_null(node);
            if (v == N_OF(wrong_values)) {
                cJSON_Delete(cJSON_DetachItemViaPointer(parent, node));
            } else {
                cJSON *repl = cJSON_Parse(wrong_values[v]);
                assert_non_null(repl);
                assert_true(cJSON_ReplaceItemViaPointer(parent, node, repl));
            }
            char *text = cJSON_PrintUnformatted(copy);
            cb(text, ctx);
            free(text);
            cJSON_Delete(copy);
        }
    }
    cJSON_Delete(base);
}

/* A mutated answer: declined with nothing written, or a response object. */
static void check_answer_mutant(const char *text, void *ctx)
{
    (void)ctx;
    struct tg_buf out = TG_BUF_INIT;
    if (tg_fmt_responses_from_chat_answer(text, strlen(text), NULL, &out) != 0) {
        assert_int_equal(out.len, 0);
    } else {
        cJSON *got = cJSON_Parse(out.data);
        if (!got || !path_matches(got, "object", "'response'"))
            fail_msg("from %s: %s", text, out.data);
        cJSON_Delete(got);
    }
    tg_buf_free(&out);
}

static void test_answer_mutants(void **state)
{
    (void)state;
    mutate_all(CHAT(CALLS_MSG, "tool_calls", USAGE), check_answer_mutant, NULL);
    mutate_all(CHAT("{'role':'assistant','content':'a','refusal':'r','reasoning_content':'t'}",
                    "length", USAGE),
               check_answer_mutant, NULL);
}

/* A stream whose k-th chunk is mutated: every event well framed, and after
 * [DONE] the last one a finished response. */
struct stream_mutant {
    const char *const *chunks;
    size_t n, k;
};

static void check_stream_mutant(const char *text, void *ctx)
{
    const struct stream_mutant *m = ctx;
    struct tg_fmt_responses_from_chat_stream s;
    struct tg_buf out = TG_BUF_INIT;
    tg_fmt_responses_from_chat_stream_init(&s, NULL, 1);
    for (size_t i = 0; i < m->n; i++) {
        char *data = i == m->k ? NULL : q(m->chunks[i]);
        const char *d = data ? data : text;
        tg_fmt_responses_from_chat_stream_event(&s, d, strlen(d), &out);
        free(data);
    }
    tg_fmt_responses_from_chat_stream_event(&s, "[DONE]", 6, &out);
    tg_fmt_responses_from_chat_stream_free(&s);
    struct events e;
    parse_events(&out, &e);
    check_framing(&e);
    assert_true(e.n >= 3);
    const char *last = e.name[e.n - 1];
    if (strcmp(last, "response.completed") != 0 && strcmp(last, "response.incomplete") != 0 &&
        strcmp(last, "response.failed") != 0)
        fail_msg("chunk %zu as %s ends with %s", m->k, text, last);
    free_events(&e);
    tg_buf_free(&out);
}

static void test_stream_mutants(void **state)
{
    (void)state;
    static const char *const chunks[] = {
        ROLE,         CHUNK("{'reasoning_content':'t','refusal':'r'}", "null"),
        SAY("a"),     TOOL(0, "call_1", "get", "{"),
        ARGS(0, "}"), END("length"),
        USAGE_CHUNK,
    };
    for (size_t k = 0; k < N_OF(chunks); k++) {
        struct stream_mutant m = {chunks, N_OF(chunks), k};
        mutate_all(chunks[k], check_stream_mutant, &m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_rows),
        cmocka_unit_test(test_answer_echo),
        cmocka_unit_test(test_answer_declined),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stream_cases),
        cmocka_unit_test(test_stream_echo),
        cmocka_unit_test(test_stream_content_started),
        cmocka_unit_test(test_stream_fail),
        cmocka_unit_test(test_stream_bad),
        cmocka_unit_test(test_stream_item_cap),
        cmocka_unit_test(test_wire_every_cut),
        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_answer_mutants),
        cmocka_unit_test(test_stream_mutants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of formats/chat_from_responses.c: Responses requests to chat
 * requests (every field, every reason a deployment becomes ineligible, a
 * round trip of a tool-using conversation), and Responses answers to
 * chat.completion, as tables of (input, JSON path, expected JSON). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "responses_rows.h"

#include "core/buf.h"
#include "formats/chat_from_responses.h"
#include "formats/responses_from_chat.h"

/* ---- requests ---- */

struct row {
    const char *in;
    const char *path;
    const char *want;
};

static int translate(const char *in_q, const char *model, struct tg_buf *out, char *why,
                     size_t why_len)
{
    cJSON *j = parse_q(in_q);
    if (!j)
        fail_msg("bad input JSON %s", in_q);
    int rc = tg_fmt_chat_from_responses_request(j, model, out, why, why_len);
    cJSON_Delete(j);
    return rc;
}

static void run_req_rows(const struct row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct tg_buf out = TG_BUF_INIT;
        char why[64] = "";
        if (translate(rows[i].in, "gpt-x", &out, why, sizeof(why)) != 0) {
            print_error("row %zu: declined (%s)\n", i, why);
            bad++;
            tg_buf_free(&out);
            continue;
        }
        cJSON *got = cJSON_Parse(out.data);
        assert_non_null(got);
        if (!path_matches(got, rows[i].path, rows[i].want)) {
            report(i, rows[i].path, rows[i].want, got);
            bad++;
        }
        cJSON_Delete(got);
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define RUN_REQ(rows) run_req_rows(rows, N_OF(rows))
#define REQ(extra) "{'model':'gpt-4o','input':'hi'" extra "}"
#define ITEMS(list) "{'model':'gpt-4o','input':[" list "]}"
#define FN_TOOL "{'type':'function','name':'get','parameters':{'type':'object'},'strict':true}"
#define TOOLS(extra) REQ(",'tools':[" FN_TOOL "]" extra)

static void test_request_fields(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {REQ(""), "model", "'gpt-x'"},
        {REQ(""), "messages", "[{'role':'user','content':'hi'}]"},
        {REQ(""), "stream", "!"},
        {REQ(""), "stream_options", "!"},
        {REQ(""), "tools", "!"},
        {REQ(""), "response_format", "!"},
        {REQ(""), "input", "!"},
        {REQ(",'instructions':'be brief'"), "messages.0", "{'role':'system','content':'be brief'}"},
        {REQ(",'instructions':'be brief'"), "messages.1", "{'role':'user','content':'hi'}"},
        {REQ(",'instructions':null"), "messages.1", "!"},
        {REQ(",'max_output_tokens':77"), "max_completion_tokens", "77"},
        {REQ(",'max_output_tokens':77"), "max_output_tokens", "!"},
        {REQ(",'temperature':0.5"), "temperature", "0.5"},
        {REQ(",'top_p':0.9"), "top_p", "0.9"},
        {REQ(",'stream':true"), "stream", "true"},
        {REQ(",'stream':true"), "stream_options", "{'include_usage':true}"},
        {REQ(",'stream':false"), "stream", "false"},
        {REQ(",'stream':false"), "stream_options", "!"},
        {REQ(",'metadata':{'k':'v'}"), "metadata", "{'k':'v'}"},
        {REQ(",'user':'u-1'"), "user", "'u-1'"},
        {REQ(",'safety_identifier':'s'"), "safety_identifier", "'s'"},
        {REQ(",'prompt_cache_key':'pk'"), "prompt_cache_key", "'pk'"},
        {REQ(",'service_tier':'flex'"), "service_tier", "'flex'"},
        {REQ(",'reasoning':{'effort':'high','summary':'auto'}"), "reasoning_effort", "'high'"},
        {REQ(",'reasoning':{'effort':'high'}"), "reasoning", "!"},
        {REQ(",'reasoning':null"), "reasoning_effort", "!"},
        /* nothing is stored on a chat provider's side either way */
        {REQ(",'store':true"), "store", "!"},
        {REQ(",'store':false"), "store", "!"},
        {REQ(",'truncation':'disabled'"), "truncation", "!"},
        {REQ(",'previous_response_id':null"), "model", "'gpt-x'"},
        {REQ(",'background':false"), "background", "!"},
        {REQ(",'top_logprobs':0"), "logprobs", "!"},
    };
    RUN_REQ(rows);
}

static void test_request_model_kept(void **state)
{
    (void)state;
    struct tg_buf out = TG_BUF_INIT;
    char why[64];
    assert_int_equal(translate(REQ(""), NULL, &out, why, sizeof(why)), 0);
    cJSON *got = cJSON_Parse(out.data);
    assert_true(path_matches(got, "model", "'gpt-4o'"));
    cJSON_Delete(got);
    tg_buf_free(&out);
}

static void test_request_text_format(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {REQ(",'text':{'format':{'type':'text'}}"), "response_format", "{'type':'text'}"},
        {REQ(",'text':{'format':{'type':'json_object'}}"), "response_format",
         "{'type':'json_object'}"},
        {REQ(",'text':{'format':{'type':'json_schema','name':'person','strict':true,"
             "'description':'who','schema':{'type':'object','required':['name']}}}"),
         "response_format",
         "{'type':'json_schema','json_schema':{'name':'person','description':'who',"
         "'schema':{'type':'object','required':['name']},'strict':true}}"},
        {REQ(",'text':{'format':{'type':'json_schema','schema':{}}}"),
         "response_format.json_schema.name", "'response'"},
        {REQ(",'text':{'verbosity':'low'}"), "verbosity", "'low'"},
        {REQ(",'text':{'verbosity':'low'}"), "response_format", "!"},
        {REQ(",'text':{'format':{'type':'grammar'}}"), "response_format", "!"},
        {REQ(",'text':'json'"), "response_format", "!"},
    };
    RUN_REQ(rows);
}

static void test_request_tools(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {TOOLS(""), "tools",
         "[{'type':'function','function':{'name':'get','parameters':{'type':'object'},"
         "'strict':true}}]"},
        {REQ(",'tools':[{'type':'function','name':'f','description':'d','parameters':null,"
             "'strict':null}]"),
         "tools.0.function", "{'name':'f','description':'d'}"},
        {TOOLS(""), "tool_choice", "!"},
        {TOOLS(",'tool_choice':'auto'"), "tool_choice", "'auto'"},
        {TOOLS(",'tool_choice':'required'"), "tool_choice", "'required'"},
        {TOOLS(",'tool_choice':'none'"), "tool_choice", "'none'"},
        {TOOLS(",'tool_choice':{'type':'function','name':'get'}"), "tool_choice",
         "{'type':'function','function':{'name':'get'}}"},
        {TOOLS(",'tool_choice':{'type':'allowed_tools','mode':'required','tools':[{'type':"
               "'function','name':'get'}]}"),
         "tool_choice",
         "{'type':'allowed_tools','allowed_tools':{'mode':'required','tools':[{'type':"
         "'function','function':{'name':'get'}}]}}"},
        {TOOLS(",'parallel_tool_calls':false"), "parallel_tool_calls", "false"},
        /* chat refuses these two without tools */
        {REQ(",'tool_choice':'auto','parallel_tool_calls':true"), "tool_choice", "!"},
        {REQ(",'tool_choice':'auto','parallel_tool_calls':true"), "parallel_tool_calls", "!"},
        {REQ(",'tools':[]"), "tools", "!"},
    };
    RUN_REQ(rows);
}

static void test_request_input_items(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {ITEMS("{'role':'user','content':'hi'}"), "messages", "[{'role':'user','content':'hi'}]"},
        {ITEMS("{'type':'message','role':'developer','content':'rules'}"), "messages.0",
         "{'role':'developer','content':'rules'}"},
        {ITEMS("{'type':'message','role':'system','content':[{'type':'input_text','text':'s'}]}"),
         "messages.0", "{'role':'system','content':[{'type':'text','text':'s'}]}"},
        {ITEMS("{'role':'user','content':[{'type':'input_text','text':'look'},"
               "{'type':'input_image','image_url':'https://x/y.png','detail':'low'}]}"),
         "messages.0.content",
         "[{'type':'text','text':'look'},{'type':'image_url','image_url':{'url':'https://x/"
         "y.png','detail':'low'}}]"},
        {ITEMS("{'role':'user','content':[{'type':'input_image','image_url':'data:image/png;"
               "base64,AAAA','detail':'original'}]}"),
         "messages.0.content.0.image_url", "{'url':'data:image/png;base64,AAAA','detail':'high'}"},
        {ITEMS("{'role':'user','content':[{'type':'input_file','file_data':'data:application/"
               "pdf;base64,AA','filename':'a.pdf'}]}"),
         "messages.0.content.0",
         "{'type':'file','file':{'file_data':'data:application/pdf;base64,AA','filename':'a."
         "pdf'}}"},
        {ITEMS("{'role':'user','content':[{'type':'input_audio','input_audio':{'data':'AA',"
               "'format':'wav'}}]}"),
         "messages.0.content.0",
         "{'type':'input_audio','input_audio':{'data':'AA','format':'wav'}}"},
        /* earlier assistant turns: output_text joined, refusal kept */
        {ITEMS("{'type':'message','role':'assistant','status':'completed','id':'msg_1',"
               "'content':[{'type':'output_text','text':'a','annotations':[]},"
               "{'type':'output_text','text':'b','annotations':[]}]}"),
         "messages.0", "{'role':'assistant','content':'ab'}"},
        {ITEMS("{'role':'assistant','content':[{'type':'refusal','refusal':'no'}]}"), "messages.0",
         "{'role':'assistant','content':null,'refusal':'no'}"},
        {ITEMS("{'role':'assistant','content':'plain'}"), "messages.0",
         "{'role':'assistant','content':'plain'}"},
        /* function calls and outputs, ids preserved */
        {ITEMS("{'role':'user','content':'q'},{'type':'function_call','id':'fc_1','call_id':"
               "'call_A','name':'get','arguments':'{\\'x\\':1}'},{'type':'function_call_output',"
               "'call_id':'call_A','output':'42'}"),
         "messages.1",
         "{'role':'assistant','content':null,'tool_calls':[{'id':'call_A','type':'function',"
         "'function':{'name':'get','arguments':'{\\'x\\':1}'}}]}"},
        {ITEMS("{'role':'user','content':'q'},{'type':'function_call','id':'fc_1','call_id':"
               "'call_A','name':'get','arguments':'{}'},{'type':'function_call_output',"
               "'call_id':'call_A','output':'42'}"),
         "messages.2", "{'role':'tool','tool_call_id':'call_A','content':'42'}"},
        /* a turn's text and its parallel calls are one assistant message */
        {ITEMS("{'role':'user','content':'q'},{'role':'assistant','content':'let me see'},"
               "{'type':'function_call','call_id':'c1','name':'a','arguments':'{}'},"
               "{'type':'function_call','call_id':'c2','name':'b','arguments':'{}'},"
               "{'type':'function_call_output','call_id':'c1','output':'1'},"
               "{'type':'function_call_output','call_id':'c2','output':'2'}"),
         "messages.1.tool_calls.1.id", "'c2'"},
        {ITEMS("{'role':'user','content':'q'},{'role':'assistant','content':'let me see'},"
               "{'type':'function_call','call_id':'c1','name':'a','arguments':'{}'}"),
         "messages.1.content", "'let me see'"},
        {ITEMS("{'role':'user','content':'q'},"
               "{'type':'function_call','call_id':'c1','name':'a','arguments':'{}'},"
               "{'type':'function_call_output','call_id':'c1','output':'1'},"
               "{'type':'function_call','call_id':'c2','name':'b','arguments':'{}'}"),
         "messages.3.tool_calls.0.id", "'c2'"},
        {ITEMS("{'type':'function_call','call_id':'c1','name':'a','arguments':{'k':1}}"),
         "messages.0.tool_calls.0.function.arguments", "'{\\'k\\':1}'"},
        {ITEMS("{'type':'function_call_output','call_id':'c1','output':[{'type':'input_text',"
               "'text':'x'},{'type':'input_text','text':'y'}]}"),
         "messages.0.content", "[{'type':'text','text':'x'},{'type':'text','text':'y'}]"},
        {ITEMS("{'type':'function_call_output','call_id':'c1','output':[]}"), "messages.0.content",
         "''"},
        /* an earlier reasoning item is the provider's own state: not sent */
        {ITEMS("{'type':'reasoning','id':'rs_1','summary':[],'encrypted_content':'xx'},"
               "{'role':'user','content':'go'}"),
         "messages", "[{'role':'user','content':'go'}]"},
    };
    RUN_REQ(rows);
}

/* Each request a chat provider cannot serve, and the reason the trace shows. */
static void test_request_ineligible(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *why;
    } rows[] = {
        {REQ(",'previous_response_id':'resp_1'"), "previous_response_id"},
        {REQ(",'background':true"), "background"},
        {REQ(",'conversation':'conv_1'"), "conversation"},
        {REQ(",'conversation':{'id':'conv_1'}"), "conversation"},
        {REQ(",'prompt':{'id':'pmpt_1'}"), "prompt"},
        {REQ(",'context_management':[{'type':'compaction'}]"), "context_management"},
        {REQ(",'truncation':'auto'"), "truncation"},
        {REQ(",'top_logprobs':3"), "top_logprobs"},
        {REQ(",'include':['message.output_text.logprobs']"), "top_logprobs"},
        {REQ(",'tools':[{'type':'web_search'}]"), "tool web_search"},
        {REQ(",'tools':[{'type':'file_search','vector_store_ids':['v']}]"), "tool file_search"},
        {REQ(",'tools':[{'type':'computer_use_preview'}]"), "tool computer_use_preview"},
        {REQ(",'tools':[" FN_TOOL ",{'type':'mcp','server_label':'x'}]"), "tool mcp"},
        {REQ(",'tools':[{'type':'custom','name':'c'}]"), "tool custom"},
        {REQ(",'tools':[{'type':'function'}]"), "tool function"},
        {TOOLS(",'tool_choice':{'type':'file_search'}"), "tool_choice file_search"},
        {TOOLS(",'tool_choice':{'type':'allowed_tools','mode':'auto','tools':[{'type':"
               "'web_search'}]}"),
         "tool_choice allowed_tools"},
        {ITEMS("{'type':'item_reference','id':'msg_1'}"), "item_reference"},
        {ITEMS("{'type':'web_search_call','id':'ws_1','status':'completed'}"),
         "input web_search_call"},
        {ITEMS("{'type':'computer_call_output','call_id':'c','output':{}}"),
         "input computer_call_output"},
        {ITEMS("{'role':'user','content':[{'type':'input_image','file_id':'file-1'}]}"),
         "input_image file_id"},
        {ITEMS("{'role':'user','content':[{'type':'input_file','file_url':'https://x/a.pdf'}]}"),
         "input_file file_url"},
        {ITEMS("{'role':'user','content':[{'type':'video','url':'x'}]}"), "content video"},
        {ITEMS("{'type':'function_call_output','call_id':'c','output':[{'type':'input_image',"
               "'image_url':'https://x/y.png'}]}"),
         "function_call_output input_image"},
        {ITEMS("{'role':'tool','content':'x'}"), "role tool"},
        {ITEMS("'hi'"), "bad input item"},
        {"{'model':'m'}", "no input"},
        {"{'model':'m','input':5}", "no input"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        char why[64] = "";
        int rc = translate(rows[i].in, "gpt-x", &out, why, sizeof(why));
        if (rc != -1 || strcmp(why, rows[i].why) != 0) {
            print_error("row %zu: rc %d why '%s', want '%s'\n", i, rc, why, rows[i].why);
            bad++;
        }
        assert_int_equal(out.len, 0); /* nothing half-written */
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

/* An agent's second turn, as the openai SDK sends it: instructions, the
 * first answer's items fed back and the tool's output. Compared whole. */
static void test_request_round_trip(void **state)
{
    (void)state;
    static const char in[] =
        "{'model':'gpt-4o','instructions':'You are terse.','stream':true,"
        "'max_output_tokens':256,'reasoning':{'effort':'low'},"
        "'tools':[{'type':'function','name':'weather','description':'now',"
        "'parameters':{'type':'object','properties':{'city':{'type':'string'}},"
        "'required':['city']},'strict':true}],'tool_choice':'auto',"
        "'input':[{'role':'user','content':[{'type':'input_text','text':'Paris?'}]},"
        "{'type':'reasoning','id':'rs_9','summary':[]},"
        "{'type':'function_call','id':'fc_9','call_id':'call_Zx9','name':'weather',"
        "'arguments':'{\\'city\\':\\'Paris\\'}','status':'completed'},"
        "{'type':'function_call_output','call_id':'call_Zx9','output':'18C'}]}";
    static const char want[] =
        "{'model':'gpt-x','messages':[{'role':'system','content':'You are terse.'},"
        "{'role':'user','content':[{'type':'text','text':'Paris?'}]},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_Zx9','type':'function',"
        "'function':{'name':'weather','arguments':'{\\'city\\':\\'Paris\\'}'}}]},"
        "{'role':'tool','tool_call_id':'call_Zx9','content':'18C'}],"
        "'tools':[{'type':'function','function':{'name':'weather','description':'now',"
        "'parameters':{'type':'object','properties':{'city':{'type':'string'}},"
        "'required':['city']},'strict':true}}],'tool_choice':'auto',"
        "'reasoning_effort':'low','max_completion_tokens':256,'stream':true,"
        "'stream_options':{'include_usage':true}}";
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    assert_int_equal(translate(in, "gpt-x", &out, why, sizeof(why)), 0);
    cJSON *got = cJSON_Parse(out.data);
    cJSON *w = parse_q(want);
    assert_non_null(w);
    if (!cJSON_Compare(got, w, true))
        fail_msg("got %s", out.data);
    cJSON_Delete(got);
    cJSON_Delete(w);
    tg_buf_free(&out);
}

/* The whole loop an agent makes: a chat answer with tool calls becomes a
 * Responses answer; the client sends its output items back with the tools'
 * outputs (as the SDKs do: `input: [...prev.output, ...outputs]`); that
 * request becomes a chat request whose assistant turn has the provider's own
 * call ids, which its tool messages answer. */
static void test_round_trip_through_answer(void **state)
{
    (void)state;
    char *chat = q("{'id':'chatcmpl-7','object':'chat.completion','created':1,'model':'m',"
                   "'choices':[{'index':0,'message':{'role':'assistant','content':'checking',"
                   "'tool_calls':[{'id':'call_P1','type':'function','function':{'name':'a',"
                   "'arguments':'{}'}},{'id':'call_P2','type':'function','function':{'name':"
                   "'b','arguments':'{\\'x\\':2}'}}]},'finish_reason':'tool_calls'}]}");
    struct tg_buf resp = TG_BUF_INIT;
    assert_int_equal(tg_fmt_responses_from_chat_answer(chat, strlen(chat), NULL, &resp), 0);
    free(chat);
    cJSON *answer = cJSON_Parse(resp.data);
    assert_non_null(answer);
    cJSON *req = parse_q("{'model':'gpt-4o','instructions':'Be terse.','input':[{'role':'user',"
                         "'content':'go'}]}");
    cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(answer, "output"))
        cJSON_AddItemToArray(input, cJSON_Duplicate(item, true));
    cJSON_AddItemToArray(input, parse_q("{'type':'function_call_output','call_id':'call_P1',"
                                        "'output':'one'}"));
    cJSON_AddItemToArray(input, parse_q("{'type':'function_call_output','call_id':'call_P2',"
                                        "'output':'two'}"));
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    assert_int_equal(tg_fmt_chat_from_responses_request(req, "m", &out, why, sizeof(why)), 0);
    cJSON *got = cJSON_Parse(out.data);
    static const struct {
        const char *path, *want;
    } rows[] = {
        {"messages.0", "{'role':'system','content':'Be terse.'}"},
        {"messages.1", "{'role':'user','content':'go'}"},
        {"messages.2",
         "{'role':'assistant','content':'checking','tool_calls':[{'id':'call_P1','type':"
         "'function','function':{'name':'a','arguments':'{}'}},{'id':'call_P2','type':"
         "'function','function':{'name':'b','arguments':'{\\'x\\':2}'}}]}"},
        {"messages.3", "{'role':'tool','tool_call_id':'call_P1','content':'one'}"},
        {"messages.4", "{'role':'tool','tool_call_id':'call_P2','content':'two'}"},
        {"messages.5", "!"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        if (!path_matches(got, rows[i].path, rows[i].want))
            fail_msg("%s should be %s in %s", rows[i].path, rows[i].want, out.data);
    }
    cJSON_Delete(got);
    cJSON_Delete(req);
    cJSON_Delete(answer);
    tg_buf_free(&out);
    tg_buf_free(&resp);
}

/* A request that is not an object, or null: declined with a reason. */
static void test_request_not_object(void **state)
{
    (void)state;
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    assert_int_equal(tg_fmt_chat_from_responses_request(NULL, "m", &out, why, sizeof(why)), -1);
    assert_string_equal(why, "no input");
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(tg_fmt_chat_from_responses_request(arr, "m", &out, NULL, 0), -1);
    cJSON_Delete(arr);
    tg_buf_free(&out);
}

/* ---- answers ---- */

#define RESP(status, extra, output)                                                                \
    "{'id':'resp_1','object':'response','created_at':1700000000,'status':'" status "',"            \
    "'model':'gpt-4o'" extra ",'output':[" output "],'usage':{'input_tokens':10,"                  \
    "'input_tokens_details':{'cached_tokens':4},'output_tokens':5,"                                \
    "'output_tokens_details':{'reasoning_tokens':2},'total_tokens':15}}"
#define MSG(parts)                                                                                 \
    "{'type':'message','id':'msg_1','status':'completed','role':'assistant',"                      \
    "'content':[" parts "]}"
#define TEXT(t) "{'type':'output_text','text':'" t "','annotations':[]}"
#define CALL(id, name, args)                                                                       \
    "{'type':'function_call','id':'fc_1','call_id':'" id "','name':'" name "','arguments':'" args  \
    "','status':'completed'}"

static void test_answer_rows(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {RESP("completed", "", MSG(TEXT("hi"))), "object", "'chat.completion'"},
        {RESP("completed", "", MSG(TEXT("hi"))), "id", "'resp_1'"},
        {RESP("completed", "", MSG(TEXT("hi"))), "created", "1700000000"},
        {RESP("completed", "", MSG(TEXT("hi"))), "model", "'gpt-4o'"},
        {RESP("completed", "", MSG(TEXT("hi"))), "choices.0.message",
         "{'role':'assistant','content':'hi','refusal':null}"},
        {RESP("completed", "", MSG(TEXT("hi"))), "choices.0.finish_reason", "'stop'"},
        {RESP("completed", "", MSG(TEXT("a") "," TEXT("b"))), "choices.0.message.content", "'ab'"},
        {RESP("completed", "", MSG("{'type':'refusal','refusal':'no'}")), "choices.0.message",
         "{'role':'assistant','content':null,'refusal':'no'}"},
        {RESP("completed", "", ""), "choices.0.message.content", "''"},
        {RESP("completed", "", CALL("call_1", "get", "{}")), "choices.0.message",
         "{'role':'assistant','content':null,'refusal':null,'tool_calls':[{'id':'call_1',"
         "'type':'function','function':{'name':'get','arguments':'{}'}}]}"},
        {RESP("completed", "", CALL("call_1", "get", "{}")), "choices.0.finish_reason",
         "'tool_calls'"},
        {RESP("completed", "", MSG(TEXT("x")) "," CALL("c1", "a", "{}") "," CALL("c2", "b", "{}")),
         "choices.0.message.tool_calls.1.id", "'c2'"},
        {RESP("completed", "", MSG(TEXT("x")) "," CALL("c1", "a", "{}")),
         "choices.0.message.content", "'x'"},
        {RESP("incomplete", ",'incomplete_details':{'reason':'max_output_tokens'}",
              MSG(TEXT("cut"))),
         "choices.0.finish_reason", "'length'"},
        {RESP("incomplete", ",'incomplete_details':{'reason':'content_filter'}", MSG(TEXT(""))),
         "choices.0.finish_reason", "'content_filter'"},
        {RESP("completed", "",
              "{'type':'reasoning','id':'rs_1','summary':[{'type':'summary_text','text':'t1'},"
              "{'type':'summary_text','text':'t2'}]}," MSG(TEXT("ok"))),
         "choices.0.message.reasoning_content", "'t1\\n\\nt2'"},
        {RESP("completed", "",
              "{'type':'web_search_call','id':'ws','status':'completed'}," MSG(TEXT("ok"))),
         "choices.0.message.content", "'ok'"},
        {RESP("completed", "", MSG(TEXT("hi"))), "usage",
         "{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15,"
         "'prompt_tokens_details':{'cached_tokens':4},"
         "'completion_tokens_details':{'reasoning_tokens':2}}"},
        {"{'object':'response','status':'completed','output':[]}", "usage", "!"},
        {"{'object':'response','status':'completed','output':[]}", "id", "''"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *body = q(rows[i].in);
        struct tg_buf out = TG_BUF_INIT;
        if (tg_fmt_chat_from_responses_answer(body, strlen(body), &out) != 0) {
            print_error("row %zu: declined\n", i);
            bad++;
        } else {
            cJSON *got = cJSON_Parse(out.data);
            assert_non_null(got);
            if (!path_matches(got, rows[i].path, rows[i].want)) {
                report(i, rows[i].path, rows[i].want, got);
                bad++;
            }
            cJSON_Delete(got);
        }
        tg_buf_free(&out);
        free(body);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

static void test_answer_declined(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "{'object':'chat.completion','choices':[]}",
        "{'object':'response','status':'failed','error':{'code':'server_error','message':'x'}}",
        "{'object':'response','status':'cancelled'}",
        "[1]",
        "not json",
        "",
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *body = q(rows[i]);
        struct tg_buf out = TG_BUF_INIT;
        assert_int_equal(tg_fmt_chat_from_responses_answer(body, strlen(body), &out), -1);
        assert_int_equal(out.len, 0);
        tg_buf_free(&out);
        free(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_request_model_kept),
        cmocka_unit_test(test_request_text_format),
        cmocka_unit_test(test_request_tools),
        cmocka_unit_test(test_request_input_items),
        cmocka_unit_test(test_request_ineligible),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_round_trip_through_answer),
        cmocka_unit_test(test_request_not_object),
        cmocka_unit_test(test_answer_rows),
        cmocka_unit_test(test_answer_declined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

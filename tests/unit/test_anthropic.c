/* Unit tests of the chat <-> Anthropic Messages translators that serve
 * `anthropic` deployments (formats/messages_from_chat.c: OpenAI requests to
 * Messages bodies; formats/chat_from_messages.c: Messages answers, errors and
 * stream events back to chat), as tables of (input, JSON path, expected
 * JSON); and robustness loops that replace or remove every member of valid
 * inputs with wrongly typed values and check that each translation either
 * succeeds with well-formed output or declines, never crashes. JSON in the
 * tables is written with ' for " (see tg_test_q()), to keep the rows readable. */
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
#include <time.h>

#include "core/buf.h"
#include "fakes.h"
#include "formats/chat_from_messages.h"
#include "formats/messages_from_chat.h"
#include "util/sse.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

/* An exact-size copy without a NUL, so reads past len are caught. */
static char *exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

static cJSON *parse_q(const char *quoted)
{
    char *t = tg_test_q(quoted);
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

static void report(size_t row, const char *path, const char *want, const cJSON *root)
{
    char *all = cJSON_PrintUnformatted(root);
    print_error("row %zu: %s should be %s in %s\n", row, path, want, all ? all : "(none)");
    free(all);
}

/* ---- requests ---- */

static int translate(const char *in_q, struct tg_buf *out, char *why, size_t why_len)
{
    cJSON *j = parse_q(in_q);
    assert_non_null(j);
    int rc = tg_fmt_messages_from_chat_request(j, "claude-x", 1024, out, why, why_len);
    cJSON_Delete(j);
    return rc;
}

struct req_row {
    const char *in;
    const char *path;
    const char *want;
};

static void run_req_rows(const struct req_row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct tg_buf out = TG_BUF_INIT;
        char why[64] = "";
        int rc = translate(rows[i].in, &out, why, sizeof(why));
        if (rc != 0) {
            print_error("row %zu: declined (%s)\n", i, why);
            bad++;
            tg_buf_free(&out);
            continue;
        }
        cJSON *got = cJSON_Parse(out.data);
        assert_non_null(got);
        if (!tg_test_matches(got, rows[i].path, rows[i].want)) {
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

#define HI "{'role':'user','content':'hi'}"
#define REQ(extra) "{'model':'gpt-4o','messages':[" HI "]" extra "}"
#define MSGS(list) "{'model':'gpt-4o','messages':[" list "]}"

static void test_request_basics(void **state)
{
    (void)state;
    static const struct req_row rows[] = {
        {REQ(""), "model", "'claude-x'"},
        {REQ(""), "max_tokens", "1024"},
        {REQ(""), "messages", "[" HI "]"},
        {REQ(""), "system", "!"},
        {REQ(""), "stream", "!"},
        {REQ(""), "temperature", "!"},
        {REQ(""), "tools", "!"},
        {REQ(",'max_tokens':77"), "max_tokens", "77"},
        {REQ(",'max_completion_tokens':55"), "max_tokens", "55"},
        {REQ(",'max_tokens':77,'max_completion_tokens':55"), "max_tokens", "77"},
        {REQ(",'max_tokens':null,'max_completion_tokens':55"), "max_tokens", "55"},
        {REQ(",'max_tokens':0"), "max_tokens", "1024"},
        {REQ(",'max_tokens':'77'"), "max_tokens", "1024"},
        {REQ(",'stream':true"), "stream", "true"},
        {REQ(",'stream':false"), "stream", "false"},
        {REQ(",'stream':'yes'"), "stream", "!"},
        {REQ(",'temperature':0.7"), "temperature", "0.7"},
        {REQ(",'temperature':1.5"), "temperature", "1"}, /* clamped, not halved */
        {REQ(",'temperature':2"), "temperature", "1"},
        {REQ(",'temperature':-1"), "temperature", "0"},
        {REQ(",'temperature':0"), "temperature", "0"},
        {REQ(",'top_p':0.9"), "top_p", "0.9"},
        {REQ(",'top_p':'high'"), "top_p", "!"},
        {REQ(",'stop':'END'"), "stop_sequences", "['END']"},
        {REQ(",'stop':['a','b']"), "stop_sequences", "['a','b']"},
        {REQ(",'stop':['a',3,'',null]"), "stop_sequences", "['a']"},
        {REQ(",'stop':''"), "stop_sequences", "!"},
        {REQ(",'stop':[]"), "stop_sequences", "!"},
        {REQ(",'stop':5"), "stop_sequences", "!"},
        {REQ(",'user':'u-1'"), "metadata", "{'user_id':'u-1'}"},
        {REQ(",'user':7"), "metadata", "!"},
        /* OpenAI-only knobs are dropped, not forwarded. */
        {REQ(",'presence_penalty':1,'seed':3,'stream_options':{'include_usage':true}"),
         "presence_penalty", "!"},
        {REQ(",'seed':3"), "seed", "!"},
        {REQ(",'stream_options':{'include_usage':true}"), "stream_options", "!"},
    };
    RUN_REQ(rows);
}

static void test_request_system(void **state)
{
    (void)state;
    static const struct req_row rows[] = {
        {MSGS("{'role':'system','content':'S1'}," HI), "system", "'S1'"},
        {MSGS("{'role':'system','content':'S1'}," HI), "messages", "[" HI "]"},
        {MSGS("{'role':'developer','content':'D1'}," HI), "system", "'D1'"},
        {MSGS("{'role':'system','content':'S1'},{'role':'developer','content':'D1'}," HI), "system",
         "'S1\\n\\nD1'"},
        /* wherever they stand in the conversation */
        {MSGS(HI ",{'role':'assistant','content':'yo'},{'role':'system','content':'S2'},"
                 "{'role':'user','content':'again'}"),
         "system", "'S2'"},
        {MSGS(HI ",{'role':'assistant','content':'yo'},{'role':'system','content':'S2'},"
                 "{'role':'user','content':'again'}"),
         "messages.2", "{'role':'user','content':'again'}"},
        {MSGS("{'role':'system','content':[{'type':'text','text':'A'},"
              "{'type':'text','text':'B'}]}," HI),
         "system", "'AB'"},
        {MSGS("{'role':'system','content':''},{'role':'system','content':'S'}," HI), "system",
         "'S'"},
        {MSGS("{'role':'system','content':null}," HI), "system", "!"},
    };
    RUN_REQ(rows);
}

/* cache_control on chat content parts (how chat clients ask for Anthropic's
 * prompt caching) stays on the blocks; reasoning_effort becomes a thinking
 * budget inside the band chat_from_messages.c maps back. */
static void test_request_cache_and_thinking(void **state)
{
    (void)state;
#define CC "'cache_control':{'type':'ephemeral'}"
    static const struct req_row rows[] = {
        {MSGS("{'role':'user','content':[{'type':'text','text':'long doc'," CC "}]}"),
         "messages.0.content", "[{'type':'text','text':'long doc'," CC "}]"},
        {MSGS("{'role':'user','content':[{'type':'text','text':'a'},{'type':'image_url',"
              "'image_url':{'url':'https://x/i.png'}," CC "}]}"),
         "messages.0.content.1.cache_control", "{'type':'ephemeral'}"},
        {MSGS("{'role':'user','content':[{'type':'text','text':'a'}]}"), "messages.0.content",
         "'a'"},
        /* a cached system part: the system goes as blocks */
        {MSGS("{'role':'system','content':[{'type':'text','text':'A'," CC "},"
              "{'type':'text','text':'B'}]},{'role':'system','content':'C'}," HI),
         "system",
         "[{'type':'text','text':'A'," CC "},{'type':'text','text':'B'},"
         "{'type':'text','text':'C'}]"},
        {MSGS("{'role':'system','content':[{'type':'text','text':'A'," CC "}]}," HI
              "],'response_format':{'type':'json_object'},'x':[0"),
         "system.1.text", "~Respond with only a single JSON object"},
        {REQ(",'reasoning_effort':'minimal','max_tokens':5000"), "thinking",
         "{'type':'enabled','budget_tokens':1024}"},
        {REQ(",'reasoning_effort':'low','max_tokens':5000"), "thinking",
         "{'type':'enabled','budget_tokens':2048}"},
        {REQ(",'reasoning_effort':'medium','max_tokens':20000"), "thinking",
         "{'type':'enabled','budget_tokens':8192}"},
        {REQ(",'reasoning_effort':'high','max_tokens':30000"), "thinking",
         "{'type':'enabled','budget_tokens':24576}"},
        /* cut to fit under max_tokens, which counts reasoning on OpenAI too */
        {REQ(",'reasoning_effort':'high','max_tokens':4000"), "thinking",
         "{'type':'enabled','budget_tokens':3999}"},
        {REQ(",'reasoning_effort':'high','max_completion_tokens':9000"), "thinking",
         "{'type':'enabled','budget_tokens':8999}"},
        {REQ(",'reasoning_effort':'high','max_completion_tokens':9000"), "max_tokens", "9000"},
        {REQ(",'reasoning_effort':'none'"), "thinking", "!"},
        {REQ(",'reasoning_effort':null"), "thinking", "!"},
        {REQ(",'reasoning_effort':'low','max_tokens':5000,'temperature':1,'top_p':0.95"),
         "thinking.budget_tokens", "2048"},
    };
#undef CC
    RUN_REQ(rows);
}

static void test_request_merging(void **state)
{
    (void)state;
    static const struct req_row rows[] = {
        {MSGS("{'role':'user','content':'a'},{'role':'user','content':'b'}"), "messages",
         "[{'role':'user','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}]"},
        {MSGS(HI ",{'role':'assistant','content':'x'},{'role':'assistant','content':'y'}"),
         "messages.1",
         "{'role':'assistant','content':[{'type':'text','text':'x'},{'type':'text','text':'y'}]}"},
        /* a lone text part stays a plain string */
        {MSGS("{'role':'user','content':[{'type':'text','text':'only'}]}"), "messages",
         "[{'role':'user','content':'only'}]"},
        /* assistant first: a minimal user turn goes before it */
        {MSGS("{'role':'assistant','content':'I start'}," HI), "messages",
         "[{'role':'user','content':'.'},{'role':'assistant','content':'I start'}," HI "]"},
        /* system text only: the same minimal turn */
        {MSGS("{'role':'system','content':'Say hi'}"), "messages",
         "[{'role':'user','content':'.'}]"},
        /* an empty assistant turn is dropped, and the users around it merge */
        {MSGS("{'role':'user','content':'a'},{'role':'assistant','content':''},"
              "{'role':'user','content':'b'}"),
         "messages",
         "[{'role':'user','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}]"},
        {MSGS("{'role':'user','content':'a'},{'role':'assistant','content':null},"
              "{'role':'user','content':'b'}"),
         "messages.1", "!"},
        /* unknown part types carry nothing and are skipped */
        {MSGS("{'role':'user','content':[{'type':'text','text':'t'},{'type':'hologram'},7]}"),
         "messages.0.content", "'t'"},
    };
    RUN_REQ(rows);
}

static void test_request_images(void **state)
{
    (void)state;
#define IMG(url) "{'type':'image_url','image_url':{'url':'" url "','detail':'high'}}"
    static const struct req_row rows[] = {
        {MSGS("{'role':'user','content':[{'type':'text','text':'look'}," IMG(
             "data:image/png;base64,iVBORw0K") "]}"),
         "messages.0.content",
         "[{'type':'text','text':'look'},{'type':'image','source':{'type':'base64',"
         "'media_type':'image/png','data':'iVBORw0K'}}]"},
        {MSGS("{'role':'user','content':[" IMG("data:image/jpeg;base64,/9j/4AAQ") "]}"),
         "messages.0.content",
         "[{'type':'image','source':{'type':'base64','media_type':'image/jpeg',"
         "'data':'/9j/4AAQ'}}]"},
        {MSGS("{'role':'user','content':[" IMG("https://example.com/cat.png") "]}"),
         "messages.0.content",
         "[{'type':'image','source':{'type':'url','url':'https://example.com/cat.png'}}]"},
        {MSGS("{'role':'user','content':[" IMG("http://example.com/cat.png") "]}"),
         "messages.0.content.0.source", "{'type':'url','url':'http://example.com/cat.png'}"},
        /* image_url given as a bare string, as some clients do */
        {MSGS("{'role':'user','content':[{'type':'image_url','image_url':'https://x.io/a.gif'}]}"),
         "messages.0.content.0.source.url", "'https://x.io/a.gif'"},
        /* a part without any url is skipped */
        {MSGS("{'role':'user','content':[{'type':'text','text':'t'},{'type':'image_url'}]}"),
         "messages.0.content", "'t'"},
    };
#undef IMG
    RUN_REQ(rows);
}

#define TOOL_GET                                                                                   \
    "{'type':'function','function':{'name':'get','description':'Weather','parameters':"            \
    "{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}}}"
#define TOOLS(extra) REQ(",'tools':[" TOOL_GET "]" extra)

static void test_request_tools(void **state)
{
    (void)state;
    static const struct req_row rows[] = {
        {TOOLS(""), "tools",
         "[{'name':'get','description':'Weather','input_schema':{'type':'object','properties':"
         "{'city':{'type':'string'}},'required':['city']}}]"},
        {TOOLS(""), "tool_choice", "!"},
        {REQ(",'tools':[{'type':'function','function':{'name':'now'}}]"), "tools",
         "[{'name':'now','input_schema':{'type':'object','properties':{}}}]"},
        /* a schema without "type" is given one */
        {REQ(",'tools':[{'type':'function','function':{'name':'f',"
             "'parameters':{'properties':{}}}}]"),
         "tools.0.input_schema", "{'properties':{},'type':'object'}"},
        /* entries that are no function are skipped; none left -> no tools */
        {REQ(",'tools':[7,{'type':'function'},{'type':'function','function':{'name':3}}]"), "tools",
         "!"},
        {TOOLS(",'tool_choice':'auto'"), "tool_choice", "{'type':'auto'}"},
        {TOOLS(",'tool_choice':'required'"), "tool_choice", "{'type':'any'}"},
        {TOOLS(",'tool_choice':'none'"), "tool_choice", "{'type':'none'}"},
        {TOOLS(",'tool_choice':{'type':'function','function':{'name':'get'}}"), "tool_choice",
         "{'type':'tool','name':'get'}"},
        {TOOLS(",'tool_choice':'sometimes'"), "tool_choice", "!"},
        {TOOLS(",'tool_choice':{'type':'function'}"), "tool_choice", "!"},
        {TOOLS(",'parallel_tool_calls':false"), "tool_choice",
         "{'type':'auto','disable_parallel_tool_use':true}"},
        {TOOLS(",'parallel_tool_calls':true"), "tool_choice", "!"},
        {TOOLS(",'tool_choice':'required','parallel_tool_calls':false"), "tool_choice",
         "{'type':'any','disable_parallel_tool_use':true}"},
        {TOOLS(",'tool_choice':{'type':'function','function':{'name':'get'}},"
               "'parallel_tool_calls':false"),
         "tool_choice", "{'type':'tool','name':'get','disable_parallel_tool_use':true}"},
        {TOOLS(",'tool_choice':'none','parallel_tool_calls':false"), "tool_choice",
         "{'type':'none'}"},
        /* tool_choice without tools is meaningless to Anthropic */
        {REQ(",'tool_choice':'required'"), "tool_choice", "!"},
    };
    RUN_REQ(rows);
}

#define CALL(id, name, args)                                                                       \
    "{'id':'" id "','type':'function','function':{'name':'" name "','arguments':'" args "'}}"
#define ASK "{'role':'user','content':'weather in Paris?'}"
#define CALLED                                                                                     \
    "{'role':'assistant','content':null,'tool_calls':[" CALL("call_1", "get",                      \
                                                             "{\\'city\\':\\'Paris\\'}") "]}"
#define RESULT(id, text) "{'role':'tool','tool_call_id':'" id "','content':'" text "'}"

static void test_request_tool_round_trip(void **state)
{
    (void)state;
    /* clang-format off */
    static const struct req_row rows[] = {
        {MSGS(ASK "," CALLED "," RESULT("call_1", "sunny")), "messages",
         "[" ASK ",{'role':'assistant','content':[{'type':'tool_use','id':'call_1','name':'get',"
         "'input':{'city':'Paris'}}]},{'role':'user','content':[{'type':'tool_result',"
         "'tool_use_id':'call_1','content':'sunny'}]}]"},
        /* assistant text comes before its tool calls */
        {MSGS(ASK ",{'role':'assistant','content':'Let me check.','tool_calls':[" CALL(
             "c1", "get", "{}") "," CALL("c2", "now", "{}") "]}"),
         "messages.1.content",
         "[{'type':'text','text':'Let me check.'},{'type':'tool_use','id':'c1','name':'get',"
         "'input':{}},{'type':'tool_use','id':'c2','name':'now','input':{}}]"},
        /* arguments that are not a JSON object become {} */
        {MSGS(ASK ",{'role':'assistant','tool_calls':[" CALL("c1", "get", "not json") "]}"),
         "messages.1.content.0.input", "{}"},
        {MSGS(ASK ",{'role':'assistant','tool_calls':[" CALL("c1", "get", "[1,2]") "]}"),
         "messages.1.content.0.input", "{}"},
        {MSGS(ASK ",{'role':'assistant','tool_calls':[{'id':'c1','type':'function','function':"
                  "{'name':'get','arguments':{'city':'Rome'}}}]}"),
         "messages.1.content.0.input", "{'city':'Rome'}"},
        /* a call without id still gets one (Anthropic requires it) */
        {MSGS(ASK ",{'role':'assistant','tool_calls':[{'function':{'name':'get'}}]}"),
         "messages.1.content.0.id", "'toolu_tg_1_0'"},
        /* several results merge into one user turn, text after them */
        {MSGS(ASK ",{'role':'assistant','tool_calls':[" CALL("c1", "get", "{}") "," CALL(
                  "c2", "get", "{}") "]}," RESULT("c1", "r1") "," RESULT("c2", "r2") ","
                  "{'role':'user','content':'and?'}"),
         "messages.2.content",
         "[{'type':'tool_result','tool_use_id':'c1','content':'r1'},{'type':'tool_result',"
         "'tool_use_id':'c2','content':'r2'},{'type':'text','text':'and?'}]"},
        /* results go first in their turn even when text came before them */
        {MSGS(ASK ",{'role':'assistant','tool_calls':[" CALL("c1", "get", "{}") "]},"
                  "{'role':'user','content':'also'}," RESULT("c1", "r1")),
         "messages.2.content",
         "[{'type':'tool_result','tool_use_id':'c1','content':'r1'},"
         "{'type':'text','text':'also'}]"},
        /* result content given as text parts */
        {MSGS(ASK ",{'role':'assistant','tool_calls':[" CALL("c1", "get", "{}") "]},"
                  "{'role':'tool','tool_call_id':'c1','content':[{'type':'text','text':'a'},"
                  "{'type':'text','text':'b'}]}"),
         "messages.2.content.0.content", "'ab'"},
        {MSGS(ASK ",{'role':'assistant','tool_calls':[" CALL("c1", "get", "{}") "]},"
                  "{'role':'tool','tool_call_id':'c1','content':null}"),
         "messages.2.content.0.content", "''"},
    };
    /* clang-format on */
    RUN_REQ(rows);
}

static void test_request_response_format(void **state)
{
    (void)state;
    static const struct req_row rows[] = {
        {REQ(",'response_format':{'type':'json_object'}"), "system", "~JSON object"},
        {"{'model':'gpt-4o','messages':[{'role':'system','content':'S1'}," HI "],"
         "'response_format':{'type':'json_object'}}",
         "system", "~S1\n\nRespond with only"},
        {REQ(",'response_format':{'type':'json_schema','json_schema':{'name':'n','strict':true,"
             "'schema':{'type':'object','properties':{'n':{'type':'number'}}}}}"),
         "system", "~{'type':'object','properties':{'n':{'type':'number'}}}"},
        {REQ(",'response_format':{'type':'json_schema','json_schema':{'name':'n'}}"), "system",
         "~JSON object"},
        {REQ(",'response_format':{'type':'text'}"), "system", "!"},
        {REQ(",'response_format':'json'"), "system", "!"},
        {REQ(",'response_format':{'type':'json_object'}"), "response_format", "!"},
    };
    RUN_REQ(rows);
}

/* One request using every feature, compared whole. */
static void test_request_golden(void **state)
{
    (void)state;
    /* clang-format off */
    static const char in[] =
        "{'model':'gpt-4o','stream':true,'temperature':0.5,'top_p':0.8,'max_tokens':300,"
        "'stop':['###'],'user':'alice','messages':["
        "{'role':'system','content':'Be brief.'},"
        "{'role':'user','content':[{'type':'text','text':'What is this?'},{'type':'image_url',"
        "'image_url':{'url':'data:image/webp;base64,UklGR'}}]},"
        "{'role':'assistant','content':'A cat.'},"
        "{'role':'user','content':'Weather where it lives?'},"
        "{'role':'assistant','tool_calls':[" CALL("call_7", "get", "{\\'city\\':\\'Oslo\\'}") "]},"
        "{'role':'tool','tool_call_id':'call_7','content':'-3C'}],"
        "'tools':[" TOOL_GET "],'tool_choice':'auto','parallel_tool_calls':false}";
    /* clang-format on */
    static const char want[] =
        "{'model':'claude-x','max_tokens':300,'system':'Be brief.','messages':["
        "{'role':'user','content':[{'type':'text','text':'What is this?'},{'type':'image',"
        "'source':{'type':'base64','media_type':'image/webp','data':'UklGR'}}]},"
        "{'role':'assistant','content':'A cat.'},"
        "{'role':'user','content':'Weather where it lives?'},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'call_7','name':'get',"
        "'input':{'city':'Oslo'}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_7','content':'-3C'}]}"
        "],'stop_sequences':['###'],'temperature':0.5,'top_p':0.8,'metadata':{'user_id':'alice'},"
        "'tools':[{'name':'get','description':'Weather','input_schema':{'type':'object',"
        "'properties':{'city':{'type':'string'}},'required':['city']}}],"
        "'tool_choice':{'type':'auto','disable_parallel_tool_use':true},'stream':true}";
    struct tg_buf out = TG_BUF_INIT;
    char why[64];
    assert_int_equal(translate(in, &out, why, sizeof(why)), 0);
    cJSON *got = cJSON_Parse(out.data);
    cJSON *w = parse_q(want);
    assert_non_null(got);
    assert_non_null(w);
    if (!cJSON_Compare(got, w, true))
        fail_msg("got %s", out.data);
    cJSON_Delete(got);
    cJSON_Delete(w);
    tg_buf_free(&out);
}

static void test_request_ineligible(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *why; /* NULL: eligible */
    } rows[] = {
        {REQ(",'n':2"), "n>1"},
        {REQ(",'reasoning_effort':'extreme'"), "reasoning_effort extreme"},
        {REQ(",'reasoning_effort':'low','max_tokens':1024"),
         "reasoning_effort with max_tokens<=1024"},
        {REQ(",'reasoning_effort':'low','max_tokens':5000,'temperature':0.2"),
         "temperature with reasoning_effort"},
        {REQ(",'reasoning_effort':'low','max_tokens':5000,'top_p':0.5"),
         "top_p with reasoning_effort"},
        {REQ(",'reasoning_effort':'low','max_tokens':5000,'tool_choice':'required'"),
         "tool_choice with reasoning_effort"},
        {REQ(",'reasoning_effort':'low','max_tokens':5000,'tool_choice':'auto'"), NULL},
        {REQ(",'n':1"), NULL},
        {REQ(",'logprobs':true"), "logprobs"},
        {REQ(",'logprobs':false"), NULL},
        {REQ(",'top_logprobs':3"), "logprobs"},
        {REQ(",'top_logprobs':0"), NULL},
        {REQ(",'top_logprobs':null"), NULL},
        {REQ(",'modalities':['text','audio']"), "audio"},
        {REQ(",'modalities':['text']"), NULL},
        {REQ(",'audio':{'voice':'alloy','format':'wav'}"), "audio"},
        {REQ(",'audio':null"), NULL},
        {MSGS("{'role':'user','content':[{'type':'input_audio','input_audio':{'data':'AAA',"
              "'format':'wav'}}]}"),
         "audio"},
        {"{'model':'gpt-4o'}", "no messages"},
        {"{'model':'gpt-4o','messages':[]}", "no messages"},
        {"{'model':'gpt-4o','messages':'hi'}", "no messages"},
        {"{'model':'gpt-4o','messages':{'role':'user'}}", "no messages"},
        {"[]", "no messages"},
        {"'a string'", "no messages"},
        {MSGS(HI ",{'role':'function','name':'f','content':'x'}"), "role function"},
        {MSGS("{'role':'wizard','content':'x'}"), "role wizard"},
        {MSGS("{'content':'x'}"), "role (none)"},
        {MSGS("{'role':5,'content':'x'}"), "role (none)"},
        {MSGS("'hi'"), "bad message"},
        {MSGS("{'role':'user','content':[{'type':'file','file':{'file_id':'f1'}}]}"), "file"},
        {MSGS("{'role':'user','content':[{'type':'image_url','image_url':{'url':'ftp://x/a.png'"
              "}}]}"),
         "image"},
        {MSGS("{'role':'user','content':[{'type':'image_url','image_url':{'url':"
              "'data:image/svg+xml,%3Csvg%3E'}}]}"),
         "image"},
        {MSGS("{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:nocomma'}}"
              "]}"),
         "image"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        char why[64] = "unset";
        int rc = translate(rows[i].in, &out, why, sizeof(why));
        if (rows[i].why == NULL) {
            if (rc != 0) {
                print_error("row %zu: declined (%s)\n", i, why);
                bad++;
            }
        } else if (rc != -1 || strcmp(why, rows[i].why) != 0) {
            print_error("row %zu: rc %d why '%s', expected '%s'\n", i, rc, why, rows[i].why);
            bad++;
        } else if (out.len != 0) {
            print_error("row %zu: declined but wrote %s\n", i, out.data);
            bad++;
        }
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);

    /* why may be absent or tiny */
    cJSON *j = parse_q(REQ(",'n':3"));
    struct tg_buf out = TG_BUF_INIT;
    char tiny[2] = "x";
    assert_int_equal(tg_fmt_messages_from_chat_request(j, "m", 10, &out, NULL, 0), -1);
    assert_int_equal(tg_fmt_messages_from_chat_request(j, "m", 10, &out, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "n");
    assert_int_equal(tg_fmt_messages_from_chat_request(NULL, "m", 10, &out, tiny, sizeof(tiny)),
                     -1);
    cJSON_Delete(j);
    /* no model given: the request's own; no sane default: a fallback */
    j = parse_q(REQ(""));
    assert_int_equal(tg_fmt_messages_from_chat_request(j, NULL, 0, &out, NULL, 0), 0);
    cJSON *got = cJSON_Parse(out.data);
    assert_true(tg_test_matches(got, "model", "'gpt-4o'"));
    assert_true(tg_test_matches(got, "max_tokens", "4096"));
    cJSON_Delete(got);
    cJSON_Delete(j);
    tg_buf_free(&out);
}

/* ---- responses ---- */

struct resp_row {
    const char *body;
    const char *path;
    const char *want;
};

#define MSG_BODY(content, stop, usage)                                                             \
    "{'id':'msg_01','type':'message','role':'assistant','model':'claude-3-5-sonnet',"              \
    "'content':[" content "],'stop_reason':" stop ",'stop_sequence':null,'usage':" usage "}"
#define TEXT(t) "{'type':'text','text':'" t "'}"
#define TOOL_USE(id, name, input)                                                                  \
    "{'type':'tool_use','id':'" id "','name':'" name "','input':" input "}"
#define USAGE "{'input_tokens':10,'output_tokens':5}"
#define THINKING(t) "{'type':'thinking','thinking':'" t "','signature':'EqQB'}"

static void test_response_rows(void **state)
{
    (void)state;
    static const struct resp_row rows[] = {
        {MSG_BODY(TEXT("Hello"), "'end_turn'", USAGE), "id", "'msg_01'"},
        {MSG_BODY(TEXT("Hello"), "'end_turn'", USAGE), "object", "'chat.completion'"},
        {MSG_BODY(TEXT("Hello"), "'end_turn'", USAGE), "model", "'claude-3-5-sonnet'"},
        {MSG_BODY(TEXT("Hello"), "'end_turn'", USAGE), "choices",
         "[{'index':0,'message':{'role':'assistant','content':'Hello'},'logprobs':null,"
         "'finish_reason':'stop'}]"},
        {MSG_BODY(TEXT("Hello"), "'end_turn'", USAGE), "usage",
         "{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15}"},
        {MSG_BODY(TEXT("Hel") "," TEXT("lo"), "'end_turn'", USAGE), "choices.0.message.content",
         "'Hello'"},
        /* tool_use only: content null */
        {MSG_BODY(TOOL_USE("toolu_1", "get", "{'city':'Paris'}"), "'tool_use'", USAGE),
         "choices.0.message",
         "{'role':'assistant','content':null,'tool_calls':[{'id':'toolu_1','type':'function',"
         "'function':{'name':'get','arguments':'{\\'city\\':\\'Paris\\'}'}}]}"},
        {MSG_BODY(TOOL_USE("toolu_1", "get", "{'city':'Paris'}"), "'tool_use'", USAGE),
         "choices.0.finish_reason", "'tool_calls'"},
        /* both, and the thinking as reasoning_content */
        /* clang-format off */
        {MSG_BODY("{'type':'thinking','thinking':'hmm','signature':'s'}," TEXT(
                      "Checking.") "," TOOL_USE("t1", "a", "{}") "," TOOL_USE("t2", "b",
                                                                                "{'x':[1,2]}"),
                  "'tool_use'", USAGE),
         "choices.0.message",
         "{'role':'assistant','content':'Checking.','reasoning_content':'hmm','tool_calls':"
         "[{'id':'t1','type':'function','function':{'name':'a','arguments':'{}'}},{'id':'t2',"
         "'type':'function','function':{'name':'b','arguments':'{\\'x\\':[1,2]}'}}]}"},
        /* clang-format on */
        {MSG_BODY(THINKING("Let me see.") "," TEXT("42"), "'end_turn'", USAGE), "choices.0.message",
         "{'role':'assistant','content':'42','reasoning_content':'Let me see.'}"},
        /* only thinking: still a (empty) text answer, with its reasoning */
        {MSG_BODY(THINKING("hm"), "'max_tokens'", USAGE), "choices.0.message",
         "{'role':'assistant','content':'','reasoning_content':'hm'}"},
        /* blocks joined as their stream deltas are; redacted thinking is
         * encrypted, with nothing to read */
        {MSG_BODY(THINKING("a") ",{'type':'redacted_thinking','data':'EnC'}," THINKING(
                      "b") "," TEXT("x"),
                  "'end_turn'", USAGE),
         "choices.0.message.reasoning_content", "'ab'"},
        {MSG_BODY("{'type':'redacted_thinking','data':'EnC'}," TEXT("x"), "'end_turn'", USAGE),
         "choices.0.message.reasoning_content", "!"},
        {MSG_BODY(THINKING("") "," TEXT("x"), "'end_turn'", USAGE),
         "choices.0.message.reasoning_content", "!"},
        {MSG_BODY("{'type':'thinking','thinking':7}," TEXT("x"), "'end_turn'", USAGE),
         "choices.0.message.reasoning_content", "!"},
        {MSG_BODY(TEXT("x"), "'end_turn'", USAGE), "choices.0.message.reasoning_content", "!"},
        {MSG_BODY(TOOL_USE("t1", "a", "null"), "'tool_use'", USAGE),
         "choices.0.message.tool_calls.0.function.arguments", "'null'"},
        /* nothing at all: empty text, not null */
        {MSG_BODY("", "'max_tokens'", USAGE), "choices.0.message",
         "{'role':'assistant','content':''}"},
        {MSG_BODY(TEXT("x"), "'end_turn'", USAGE), "choices.0.finish_reason", "'stop'"},
        {MSG_BODY(TEXT("x"), "'stop_sequence'", USAGE), "choices.0.finish_reason", "'stop'"},
        {MSG_BODY(TEXT("x"), "'max_tokens'", USAGE), "choices.0.finish_reason", "'length'"},
        {MSG_BODY(TEXT("x"), "'tool_use'", USAGE), "choices.0.finish_reason", "'tool_calls'"},
        {MSG_BODY(TEXT("x"), "'refusal'", USAGE), "choices.0.finish_reason", "'content_filter'"},
        {MSG_BODY(TEXT("x"), "'pause_turn'", USAGE), "choices.0.finish_reason", "'stop'"},
        {MSG_BODY(TEXT("x"), "null", USAGE), "choices.0.finish_reason", "'stop'"},
        {MSG_BODY(TEXT("x"), "7", USAGE), "choices.0.finish_reason", "'stop'"},
        /* cache usage: all of it is prompt */
        {MSG_BODY(TEXT("x"), "'end_turn'",
                  "{'input_tokens':10,'cache_creation_input_tokens':20,"
                  "'cache_read_input_tokens':30,'output_tokens':5}"),
         "usage",
         "{'prompt_tokens':60,'completion_tokens':5,'total_tokens':65,'prompt_tokens_details':"
         "{'cached_tokens':30}}"},
        {MSG_BODY(TEXT("x"), "'end_turn'",
                  "{'input_tokens':10,'cache_creation_input_tokens':null,"
                  "'cache_read_input_tokens':null,'output_tokens':5}"),
         "usage", "{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15}"},
        {MSG_BODY(TEXT("x"), "'end_turn'", "'none'"), "usage",
         "{'prompt_tokens':0,'completion_tokens':0,'total_tokens':0}"},
        {MSG_BODY(TEXT("x"), "'end_turn'", "{'input_tokens':-5,'output_tokens':1e300}"), "usage",
         "{'prompt_tokens':0,'completion_tokens':1e15,'total_tokens':1e15}"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *body = tg_test_q(rows[i].body);
        size_t len = strlen(body);
        char *copy = exact(body, len);
        struct tg_buf out = TG_BUF_INIT;
        int rc = tg_fmt_chat_from_messages_answer(copy, len, &out);
        free(copy);
        free(body);
        if (rc != 0) {
            print_error("row %zu: not a message\n", i);
            bad++;
        } else {
            cJSON *got = cJSON_Parse(out.data);
            assert_non_null(got);
            if (!tg_test_matches(got, rows[i].path, rows[i].want)) {
                report(i, rows[i].path, rows[i].want, got);
                bad++;
            }
            cJSON_Delete(got);
        }
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

static void test_response_created_and_rejects(void **state)
{
    (void)state;
    char *body = tg_test_q(MSG_BODY(TEXT("x"), "'end_turn'", USAGE));
    struct tg_buf out = TG_BUF_INIT;
    time_t before = time(NULL);
    assert_int_equal(tg_fmt_chat_from_messages_answer(body, strlen(body), &out), 0);
    free(body);
    cJSON *got = cJSON_Parse(out.data);
    const cJSON *created = tg_test_at(got, "created");
    assert_true(cJSON_IsNumber(created));
    assert_true(created->valuedouble >= (double)before &&
                created->valuedouble <= (double)time(NULL));
    cJSON_Delete(got);
    tg_buf_free(&out);

    static const char *const not_messages[] = {
        "{'type':'error','error':{'type':'api_error','message':'x'}}",
        "{'id':'m','content':[]}",
        "{'type':7}",
        "[]",
        "'message'",
        "{'type':'message'} trailing",
        "",
    };
    for (size_t i = 0; i < N_OF(not_messages); i++) {
        char *b = tg_test_q(not_messages[i]);
        assert_int_equal(tg_fmt_chat_from_messages_answer(b, strlen(b), &out), -1);
        assert_int_equal(out.len, 0);
        free(b);
    }
    assert_int_equal(tg_fmt_chat_from_messages_answer(NULL, 0, &out), -1);
    tg_buf_free(&out);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int status;
        const char *want;
    } rows[] = {
        {"{'type':'error','error':{'type':'rate_limit_error','message':'Number of request tokens "
         "has exceeded your per-minute rate limit'}}",
         429,
         "{'error':{'message':'Number of request tokens has exceeded your per-minute rate limit',"
         "'type':'rate_limit_error','param':null,'code':'rate_limit_exceeded'}}"},
        {"{'type':'error','error':{'type':'rate_limit_error','message':'You have reached your "
         "specified workspace API usage limits.','details':{'error_code':"
         "'enforced_spend_limit_reached'}}}",
         429,
         "{'error':{'message':'You have reached your specified workspace API usage limits.',"
         "'type':'rate_limit_error','param':null,'code':'enforced_spend_limit_reached'}}"},
        {"{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}", 529,
         "{'error':{'message':'Overloaded','type':'overloaded_error','param':null,"
         "'code':'overloaded'}}"},
        {"{'type':'error','error':{'type':'invalid_request_error','message':'prompt is too long: "
         "210000 tokens > 200000 maximum'}}",
         400,
         "{'error':{'message':'prompt is too long: 210000 tokens > 200000 maximum','type':"
         "'invalid_request_error','param':null,'code':'context_length_exceeded'}}"},
        {"{'type':'error','error':{'type':'authentication_error','message':'invalid x-api-key'}}",
         401,
         "{'error':{'message':'invalid x-api-key','type':'authentication_error','param':null,"
         "'code':'invalid_api_key'}}"},
        {"{'type':'error','error':{'type':'not_found_error','message':'model: claude-9'}}", 404,
         "{'error':{'message':'model: claude-9','type':'not_found_error','param':null,"
         "'code':null}}"},
        /* not Anthropic errors: a message naming the status */
        {"<html><body>502 Bad Gateway</body></html>", 502,
         "{'error':{'message':'upstream answered HTTP 502','type':'api_error','param':null,"
         "'code':null}}"},
        {"", 429,
         "{'error':{'message':'upstream answered HTTP 429','type':'rate_limit_error','param':null,"
         "'code':'rate_limit_exceeded'}}"},
        {"{'error':'boom'}", 500,
         "{'error':{'message':'upstream answered HTTP 500','type':'api_error','param':null,"
         "'code':null}}"},
        {"{'type':'error','error':{'message':'no type'}}", 529,
         "{'error':{'message':'no type','type':'overloaded_error','param':null,"
         "'code':'overloaded'}}"},
        {"{'type':'error','error':{'type':'weird_error','message':3,'details':{'error_code':4}}}",
         418,
         "{'error':{'message':'upstream answered HTTP 418','type':'weird_error','param':null,"
         "'code':null}}"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *body = tg_test_q(rows[i].body);
        size_t len = strlen(body);
        char *copy = exact(body, len);
        struct tg_buf out = TG_BUF_INIT;
        tg_fmt_chat_from_messages_error(copy, len, rows[i].status, &out);
        cJSON *got = cJSON_Parse(out.data);
        cJSON *want = parse_q(rows[i].want);
        assert_non_null(want);
        if (!got || !cJSON_Compare(got, want, true)) {
            print_error("row %zu: got %s\n", i, out.data);
            bad++;
        }
        cJSON_Delete(got);
        cJSON_Delete(want);
        tg_buf_free(&out);
        free(copy);
        free(body);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

/* ---- streams ---- */

struct ev {
    const char *event;
    const char *data; /* in ' form */
};

/* clang-format off */
#define EV_START                                                                                   \
    {"message_start",                                                                              \
     "{'type':'message_start','message':{'id':'msg_s1','type':'message','role':'assistant',"      \
     "'model':'claude-3','content':[],'stop_reason':null,'stop_sequence':null,'usage':"            \
     "{'input_tokens':25,'cache_read_input_tokens':5,'output_tokens':1}}}"}
#define EV_TEXT_START                                                                              \
    {"content_block_start",                                                                        \
     "{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}"}
#define EV_TEXT(i, t)                                                                              \
    {"content_block_delta", "{'type':'content_block_delta','index':" #i                            \
                            ",'delta':{'type':'text_delta','text':'" t "'}}"}
#define EV_STOP_BLOCK(i) {"content_block_stop", "{'type':'content_block_stop','index':" #i "}"}
#define EV_TOOL_START(i, id, name)                                                                 \
    {"content_block_start", "{'type':'content_block_start','index':" #i                            \
                            ",'content_block':{'type':'tool_use','id':'" id "','name':'" name      \
                            "','input':{}}}"}
#define EV_JSON(i, part)                                                                           \
    {"content_block_delta", "{'type':'content_block_delta','index':" #i                            \
                            ",'delta':{'type':'input_json_delta','partial_json':'" part "'}}"}
#define EV_MSG_DELTA(stop, out)                                                                    \
    {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'" stop                      \
                      "','stop_sequence':null},'usage':{'output_tokens':" #out "}}"}
#define EV_MSG_STOP {"message_stop", "{'type':'message_stop'}"}
#define EV_PING {"ping", "{'type':'ping'}"}
/* clang-format on */

static const struct ev full_stream[] = {
    EV_START,
    EV_TEXT_START,
    EV_PING,
    EV_TEXT(0, "Hello"),
    EV_TEXT(0, ", world"),
    EV_STOP_BLOCK(0),
    EV_TOOL_START(1, "toolu_9", "get_weather"),
    EV_JSON(1, ""),
    EV_JSON(1, "{\\'ci"),
    EV_JSON(1, "ty\\': \\'Par"),
    EV_JSON(1, "is\\'}"),
    EV_STOP_BLOCK(1),
    {"content_block_delta",
     "{'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta','thinking':'x'}}"},
    {"content_block_delta",
     "{'type':'content_block_delta','index':0,'delta':{'type':'signature_delta','signature':'s'}}"},
    {"future_event", "{'type':'future_event','x':1}"},
    EV_MSG_DELTA("tool_use", 42),
    EV_MSG_STOP,
};

#define CREATED 1700000000

/* Feeds events (data copied to exact-size blocks); returns the last result
 * and the index of the event that gave it in *stopped_at. */
static enum tg_fmt_result feed(struct tg_fmt_chat_from_messages_stream *s, const struct ev *evs,
                               size_t n, struct tg_buf *out, char **error_json, size_t *stopped_at)
{
    enum tg_fmt_result r = TG_FMT_CONTINUE;
    for (size_t i = 0; i < n; i++) {
        char *d = tg_test_q(evs[i].data);
        size_t len = strlen(d);
        char *copy = exact(d, len);
        r = tg_fmt_chat_from_messages_stream_event(s, evs[i].event, copy, len, out, error_json);
        free(copy);
        free(d);
        if (stopped_at)
            *stopped_at = i;
        if (r != TG_FMT_CONTINUE)
            break;
    }
    return r;
}

/* The "data: ..." payloads of out, in order, as a cJSON array of parsed
 * chunks (the [DONE] marker as the string "[DONE]"). Fails on any piece
 * that is not "data: <json>\n\n". */
static cJSON *chunks_of(const char *out)
{
    cJSON *list = cJSON_CreateArray();
    const char *p = out;
    while (*p) {
        assert_memory_equal(p, "data: ", 6);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        char *payload = strndup(p + 6, (size_t)(end - p - 6));
        if (strcmp(payload, "[DONE]") == 0) {
            cJSON_AddItemToArray(list, cJSON_CreateString("[DONE]"));
        } else {
            cJSON *c = cJSON_Parse(payload);
            if (!c)
                fail_msg("not JSON: %s", payload);
            cJSON_AddItemToArray(list, c);
        }
        free(payload);
        p = end + 2;
    }
    return list;
}

static void check_chunk_shape(const cJSON *c)
{
    assert_true(tg_test_matches(c, "object", "'chat.completion.chunk'"));
    assert_true(tg_test_matches(c, "created", "1700000000"));
    assert_true(cJSON_IsString(tg_test_at(c, "id")));
    assert_true(cJSON_IsString(tg_test_at(c, "model")));
}

/* ---- the wire: the same stream cut at every byte ---- */

struct wire_ctx {
    struct tg_fmt_chat_from_messages_stream s;
    struct tg_buf out;
    char *err;
    enum tg_fmt_result last;
    int events;
};

static bool wire_event(void *ctx, const struct tg_sse_event *ev)
{
    struct wire_ctx *w = ctx;
    if (!ev->has_data)
        return true;
    w->events++;
    w->last = tg_fmt_chat_from_messages_stream_event(&w->s, ev->event, ev->data, ev->data_len,
                                                     &w->out, &w->err);
    return w->last == TG_FMT_CONTINUE;
}

/* Runs the raw SSE bytes through the SSE parser in pieces cut at the given
 * points (ascending, within len), translating as a gateway attempt does. */
static void run_wire(const char *bytes, size_t len, const size_t *cuts, size_t n_cuts,
                     struct wire_ctx *w)
{
    tg_fmt_chat_from_messages_stream_init(&w->s, true, CREATED);
    w->out = (struct tg_buf)TG_BUF_INIT;
    w->err = NULL;
    w->last = TG_FMT_CONTINUE;
    w->events = 0;
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 16);
    size_t from = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        char *piece = exact(bytes + from, to - from);
        if (w->last == TG_FMT_CONTINUE)
            tg_sse_feed(&p, piece, to - from, wire_event, w);
        free(piece);
        from = to;
    }
    tg_sse_free(&p);
}

/* Every event type of a Messages stream, as Anthropic sends it (CRLF in
 * places, a comment, a multi-line JSON data field). */
static char *wire_stream(void)
{
    struct tg_buf b = TG_BUF_INIT;
    for (size_t i = 0; i < N_OF(full_stream); i++) {
        char *d = tg_test_q(full_stream[i].data);
        const char *eol = i % 3 == 1 ? "\r\n" : "\n";
        if (i == 2)
            tg_buf_puts(&b, ": keep-alive\n\n");
        tg_buf_puts(&b, "event: ");
        tg_buf_puts(&b, full_stream[i].event);
        tg_buf_puts(&b, eol);
        if (i == 4) {
            /* JSON may span data lines: they join with "\n", still JSON */
            char *comma = strchr(d, ',');
            tg_buf_puts(&b, "data: ");
            tg_buf_append(&b, d, (size_t)(comma - d + 1));
            tg_buf_puts(&b, eol);
            tg_buf_puts(&b, "data: ");
            tg_buf_puts(&b, comma + 1);
        } else {
            tg_buf_puts(&b, "data: ");
            tg_buf_puts(&b, d);
        }
        tg_buf_puts(&b, eol);
        tg_buf_puts(&b, eol);
        free(d);
    }
    char *s = strndup(b.data, b.len);
    tg_buf_free(&b);
    return s;
}

static void test_stream_split_on_the_wire(void **state)
{
    (void)state;
    char *bytes = wire_stream();
    size_t len = strlen(bytes);
    struct wire_ctx whole;
    run_wire(bytes, len, NULL, 0, &whole);
    assert_int_equal(whole.last, TG_FMT_DONE);
    assert_int_equal(whole.events, (int)N_OF(full_stream));
    assert_non_null(strstr(whole.out.data, "get_weather"));
    /* every single cut, then every pair of cuts 7 bytes apart, then bytewise */
    for (size_t cut = 1; cut < len; cut++) {
        struct wire_ctx w;
        size_t cuts[2] = {cut, cut + 7};
        run_wire(bytes, len, cuts, cut + 7 < len ? 2 : 1, &w);
        assert_int_equal(w.last, TG_FMT_DONE);
        assert_int_equal(w.out.len, whole.out.len);
        assert_memory_equal(w.out.data, whole.out.data, whole.out.len);
        tg_buf_free(&w.out);
    }
    size_t *each = malloc(len * sizeof(*each));
    for (size_t i = 0; i + 1 < len; i++)
        each[i] = i + 1;
    struct wire_ctx w;
    run_wire(bytes, len, each, len - 1, &w);
    assert_int_equal(w.out.len, whole.out.len);
    assert_memory_equal(w.out.data, whole.out.data, whole.out.len);
    tg_buf_free(&w.out);
    free(each);
    tg_buf_free(&whole.out);
    free(bytes);
}

static void test_stream_error_split_on_the_wire(void **state)
{
    (void)state;
    const char *bytes =
        "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_e\","
        "\"model\":\"claude-3\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\r\n\r\n"
        "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
        "event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}\r\n\r\n";
    size_t len = strlen(bytes);
    for (size_t cut = 0; cut < len; cut++) {
        struct wire_ctx w;
        size_t cuts[1] = {cut};
        run_wire(bytes, len, cuts, cut ? 1 : 0, &w);
        assert_int_equal(w.last, TG_FMT_ERROR);
        assert_non_null(w.err);
        assert_non_null(strstr(w.err, "overloaded_error"));
        free(w.err);
        tg_buf_free(&w.out);
    }
}

static void test_stream_full(void **state)
{
    (void)state;
    for (int with_usage = 0; with_usage < 2; with_usage++) {
        struct tg_fmt_chat_from_messages_stream s;
        tg_fmt_chat_from_messages_stream_init(&s, with_usage, CREATED);
        struct tg_buf out = TG_BUF_INIT;
        char *err = NULL;
        size_t at_i = 0;
        assert_int_equal(feed(&s, full_stream, N_OF(full_stream), &out, &err, &at_i), TG_FMT_DONE);
        assert_int_equal(at_i, N_OF(full_stream) - 1);
        assert_null(err);

        /* the first chunk, byte for byte */
        static const char first[] =
            "data: {\"id\":\"msg_s1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            "\"model\":\"claude-3\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
            "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
        assert_memory_equal(out.data, first, sizeof(first) - 1);

        cJSON *chunks = chunks_of(out.data);
        int n = cJSON_GetArraySize(chunks);
        assert_true(n >= 4);
        assert_true(
            tg_test_matches(chunks, "0.choices.0.delta", "{'role':'assistant','content':''}"));

        struct tg_buf text = TG_BUF_INIT, args = TG_BUF_INIT, reasoning = TG_BUF_INIT;
        const char *tool_id = NULL, *tool_name = NULL;
        int finish_at = -1;
        for (int i = 0; i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(chunks, i);
            if (cJSON_IsString(c)) {
                assert_int_equal(i, n - 1); /* [DONE] is last */
                continue;
            }
            check_chunk_shape(c);
            assert_true(tg_test_matches(c, "id", "'msg_s1'"));
            assert_true(tg_test_matches(c, "model", "'claude-3'"));
            const cJSON *choices = tg_test_at(c, "choices");
            if (cJSON_GetArraySize(choices) == 0) {
                /* the usage chunk, after the finish chunk */
                assert_true(with_usage);
                assert_int_equal(i, n - 2);
                assert_true(tg_test_matches(c, "usage",
                                            "{'prompt_tokens':30,'completion_tokens':42,"
                                            "'total_tokens':72,"
                                            "'prompt_tokens_details':{'cached_tokens':5}}"));
                continue;
            }
            assert_true(tg_test_matches(c, "choices.0.index", "0"));
            assert_true(tg_test_matches(c, "choices.0.logprobs", "null"));
            const cJSON *fr = tg_test_at(c, "choices.0.finish_reason");
            if (!cJSON_IsNull(fr)) {
                assert_true(tg_test_matches(c, "choices.0.finish_reason", "'tool_calls'"));
                assert_true(tg_test_matches(c, "choices.0.delta", "{}"));
                assert_int_equal(finish_at, -1);
                finish_at = i;
            }
            const cJSON *content = tg_test_at(c, "choices.0.delta.content");
            if (cJSON_IsString(content))
                tg_buf_puts(&text, content->valuestring);
            const cJSON *thought = tg_test_at(c, "choices.0.delta.reasoning_content");
            if (cJSON_IsString(thought))
                tg_buf_puts(&reasoning, thought->valuestring);
            const cJSON *tc = tg_test_at(c, "choices.0.delta.tool_calls.0");
            if (tc) {
                assert_true(tg_test_matches(tc, "index", "0"));
                const cJSON *id = tg_test_at(tc, "id");
                if (id) {
                    assert_null(tool_id);
                    tool_id = id->valuestring;
                    tool_name = tg_test_at(tc, "function.name")->valuestring;
                    assert_true(tg_test_matches(tc, "type", "'function'"));
                }
                tg_buf_puts(&args, tg_test_at(tc, "function.arguments")->valuestring);
            }
        }
        assert_string_equal(text.data, "Hello, world");
        assert_string_equal(reasoning.data, "x");
        assert_string_equal(tool_id, "toolu_9");
        assert_string_equal(tool_name, "get_weather");
        assert_string_equal(args.data, "{\"city\": \"Paris\"}");
        assert_int_equal(finish_at, with_usage ? n - 3 : n - 2);
        assert_string_equal(cJSON_GetArrayItem(chunks, n - 1)->valuestring, "[DONE]");
        size_t done_len = strlen("data: [DONE]\n\n");
        assert_string_equal(out.data + out.len - done_len, "data: [DONE]\n\n");
        tg_buf_free(&text);
        tg_buf_free(&args);
        tg_buf_free(&reasoning);
        cJSON_Delete(chunks);
        tg_buf_free(&out);
    }
}

/* Extended thinking: each thinking_delta a delta.reasoning_content chunk
 * (what DeepSeek and vLLM stream), its signature nothing; the text after it
 * content as ever. */
static void test_stream_thinking(void **state)
{
    (void)state;
    static const struct ev evs[] = {
        EV_START,
        {"content_block_start", "{'type':'content_block_start','index':0,'content_block':"
                                "{'type':'thinking','thinking':'','signature':''}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'thinking_delta','thinking':'Let me'}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'thinking_delta','thinking':''}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'thinking_delta','thinking':' see.'}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'signature_delta','signature':'EqQBCgIYAhIM'}}"},
        EV_STOP_BLOCK(0),
        {"content_block_start", "{'type':'content_block_start','index':1,'content_block':"
                                "{'type':'redacted_thinking','data':'EnC'}}"},
        EV_STOP_BLOCK(1),
        {"content_block_start",
         "{'type':'content_block_start','index':2,'content_block':{'type':'text','text':''}}"},
        EV_TEXT(2, "42"),
        EV_STOP_BLOCK(2),
        EV_MSG_DELTA("end_turn", 7),
        EV_MSG_STOP,
    };
    struct tg_fmt_chat_from_messages_stream s;
    tg_fmt_chat_from_messages_stream_init(&s, false, CREATED);
    struct tg_buf out = TG_BUF_INIT;
    assert_int_equal(feed(&s, evs, N_OF(evs), &out, NULL, NULL), TG_FMT_DONE);
    cJSON *chunks = chunks_of(out.data);
    static const char *const deltas[] = {"{'role':'assistant','content':''}",
                                         "{'reasoning_content':'Let me'}",
                                         "{'reasoning_content':' see.'}", "{'content':'42'}", "{}"};
    assert_int_equal(cJSON_GetArraySize(chunks), N_OF(deltas) + 1);
    for (size_t i = 0; i < N_OF(deltas); i++) {
        const cJSON *c = cJSON_GetArrayItem(chunks, (int)i);
        check_chunk_shape(c);
        if (!tg_test_matches(c, "choices.0.delta", deltas[i])) {
            report(i, "choices.0.delta", deltas[i], c);
            fail();
        }
    }
    assert_true(tg_test_matches(chunks, "4.choices.0.finish_reason", "'stop'"));
    /* a thinking_delta without its text is broken, as a text_delta is */
    struct tg_buf o2 = TG_BUF_INIT;
    char *bad = tg_test_q("{'index':0,'delta':{'type':'thinking_delta'}}");
    assert_int_equal(tg_fmt_chat_from_messages_stream_event(&s, "content_block_delta", bad,
                                                            strlen(bad), &o2, NULL),
                     TG_FMT_BAD);
    assert_int_equal(o2.len, 0);
    free(bad);
    tg_buf_free(&o2);
    cJSON_Delete(chunks);
    tg_buf_free(&out);
}

/* Deltas land on the tool of their block, even out of order; past the
 * 64-entry table, on the latest tool. */
static void test_stream_tool_indexes(void **state)
{
    (void)state;
    static const struct ev evs[] = {
        EV_START,
        EV_TOOL_START(0, "a", "fa"),
        EV_TOOL_START(1, "b", "fb"),
        EV_JSON(1, "B1"),
        EV_JSON(0, "A1"),
        /* a server tool's input (Anthropic runs it) is no call of the client's */
        {"content_block_start",
         "{'type':'content_block_start','index':2,'content_block':{'type':'server_tool_use',"
         "'id':'srvtoolu_1','name':'web_search','input':{}}}"},
        EV_JSON(2, "{\\'query\\':\\'x\\'}"),
        {"content_block_start",
         "{'type':'content_block_start','index':70,'content_block':{'type':'tool_use','id':'c',"
         "'name':'fc','input':{'pre':1}}}"},
        EV_JSON(70, "C1"),
        {"content_block_delta", /* no index at all */
         "{'type':'content_block_delta','delta':{'type':'input_json_delta','partial_json':'C2'}}"},
        EV_MSG_STOP,
    };
    struct tg_fmt_chat_from_messages_stream s;
    tg_fmt_chat_from_messages_stream_init(&s, false, CREATED);
    struct tg_buf out = TG_BUF_INIT;
    assert_int_equal(feed(&s, evs, N_OF(evs), &out, NULL, NULL), TG_FMT_DONE);
    cJSON *chunks = chunks_of(out.data);
    static const struct {
        int chunk;
        const char *want; /* the tool_calls[0] */
    } rows[] = {
        {1, "{'index':0,'id':'a','type':'function','function':{'name':'fa','arguments':''}}"},
        {2, "{'index':1,'id':'b','type':'function','function':{'name':'fb','arguments':''}}"},
        {3, "{'index':1,'function':{'arguments':'B1'}}"},
        {4, "{'index':0,'function':{'arguments':'A1'}}"},
        {5, "{'index':2,'id':'c','type':'function','function':{'name':'fc','arguments':"
            "'{\\'pre\\':1}'}}"},
        {6, "{'index':2,'function':{'arguments':'C1'}}"},
        {7, "{'index':2,'function':{'arguments':'C2'}}"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        const cJSON *c = cJSON_GetArrayItem(chunks, rows[i].chunk);
        if (!tg_test_matches(c, "choices.0.delta.tool_calls.0", rows[i].want)) {
            report(i, "choices.0.delta.tool_calls.0", rows[i].want, c);
            fail();
        }
    }
    /* no message_delta: finish_reason "stop" */
    assert_true(tg_test_matches(chunks, "8.choices.0.finish_reason", "'stop'"));
    assert_int_equal(cJSON_GetArraySize(chunks), 10);
    cJSON_Delete(chunks);
    tg_buf_free(&out);
}

static void test_stream_finish_reasons(void **state)
{
    (void)state;
    static const struct {
        const char *stop;
        const char *want;
    } rows[] = {
        {"end_turn", "stop"},       {"stop_sequence", "stop"},     {"max_tokens", "length"},
        {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "stop"},
        {"something_new", "stop"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        char data[256];
        snprintf(data, sizeof(data),
                 "{'type':'message_delta','delta':{'stop_reason':'%s'},'usage':"
                 "{'output_tokens':3}}",
                 rows[i].stop);
        const struct ev evs[] = {EV_START, {"message_delta", data}, EV_MSG_STOP};
        struct tg_fmt_chat_from_messages_stream s;
        tg_fmt_chat_from_messages_stream_init(&s, true, CREATED);
        struct tg_buf out = TG_BUF_INIT;
        assert_int_equal(feed(&s, evs, N_OF(evs), &out, NULL, NULL), TG_FMT_DONE);
        cJSON *chunks = chunks_of(out.data);
        char want[64];
        snprintf(want, sizeof(want), "'%s'", rows[i].want);
        assert_true(tg_test_matches(chunks, "1.choices.0.finish_reason", want));
        assert_true(tg_test_matches(chunks, "2.usage.completion_tokens", "3"));
        cJSON_Delete(chunks);
        tg_buf_free(&out);
        assert_string_equal(tg_fmt_chat_finish_reason(rows[i].stop), rows[i].want);
    }
    assert_string_equal(tg_fmt_chat_finish_reason(NULL), "stop");
}

static void test_stream_error_event(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        const char *want;
    } rows[] = {
        {"{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}",
         "{'message':'Overloaded','type':'overloaded_error','param':null,'code':'overloaded'}"},
        {"{'type':'error','error':{'type':'api_error','message':'Internal server error'}}",
         "{'message':'Internal server error','type':'api_error','param':null,'code':null}"},
        {"{'type':'error','error':{'type':'rate_limit_error','message':'slow down','details':"
         "{'error_code':'enforced_spend_limit_reached'}}}",
         "{'message':'slow down','type':'rate_limit_error','param':null,"
         "'code':'enforced_spend_limit_reached'}"},
        /* unreadable: still an error, in generic words */
        {"Overloaded!", "{'message':'upstream stream failed','type':'api_error','param':null,"
                        "'code':null}"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        const struct ev evs[] = {
            EV_START, EV_TEXT_START, EV_TEXT(0, "par"), {"error", rows[i].data}};
        struct tg_fmt_chat_from_messages_stream s;
        tg_fmt_chat_from_messages_stream_init(&s, false, CREATED);
        struct tg_buf out = TG_BUF_INIT;
        char *err = NULL;
        size_t at_i = 0;
        assert_int_equal(feed(&s, evs, N_OF(evs), &out, &err, &at_i), TG_FMT_ERROR);
        assert_int_equal(at_i, 3);
        assert_non_null(err);
        cJSON *got = cJSON_Parse(err);
        cJSON *want = parse_q(rows[i].want);
        if (!got || !cJSON_Compare(got, want, true))
            fail_msg("row %zu: got %s", i, err);
        assert_null(strstr(out.data, "[DONE]")); /* the caller ends the stream */
        cJSON_Delete(got);
        cJSON_Delete(want);
        free(err);
        tg_buf_free(&out);
    }
    /* a caller that does not want the object */
    struct tg_fmt_chat_from_messages_stream s;
    tg_fmt_chat_from_messages_stream_init(&s, false, CREATED);
    struct tg_buf out = TG_BUF_INIT;
    assert_int_equal(tg_fmt_chat_from_messages_stream_event(&s, "error", "{}", 2, &out, NULL),
                     TG_FMT_ERROR);
    tg_buf_free(&out);
}

static void test_stream_bad_data(void **state)
{
    (void)state;
    static const struct {
        const char *event;
        const char *data;
        enum tg_fmt_result want;
    } rows[] = {
        {"message_start", "not json", TG_FMT_BAD},
        {"message_start", "", TG_FMT_BAD},
        {"message_start", "{'type':'message_start'}", TG_FMT_BAD},
        {"message_start", "{'type':'message_start','message':'m'}", TG_FMT_BAD},
        {"message_start", "{'type':'message_start','message':{}} x", TG_FMT_BAD},
        {"content_block_start", "{'index':0}", TG_FMT_BAD},
        {"content_block_start", "[1]", TG_FMT_BAD},
        {"content_block_delta", "{'index':0}", TG_FMT_BAD},
        {"content_block_delta", "{'index':0,'delta':{'type':'text_delta'}}", TG_FMT_BAD},
        {"content_block_delta", "{'index':0,'delta':{'type':'text_delta','text':5}}", TG_FMT_BAD},
        {"content_block_delta", "{'index':0,'delta':{'type':'input_json_delta'}}", TG_FMT_BAD},
        {"content_block_delta",
         "{'index':0,'delta':{'type':'input_json_delta',"
         "'partial_json':'{}'}}",
         TG_FMT_CONTINUE}, /* no tool block started: nothing to say */
        {"message_delta", "{{", TG_FMT_BAD},
        {"message_delta", "{'usage':{'output_tokens':'many'}}", TG_FMT_CONTINUE},
        /* events that need nothing from their data */
        {"ping", "garbage", TG_FMT_CONTINUE},
        {"content_block_stop", "", TG_FMT_CONTINUE},
        {"brand_new_event", "<<<", TG_FMT_CONTINUE},
        /* no event name: the data's type names it, or nothing does */
        {"", "{'type':'ping'}", TG_FMT_CONTINUE},
        {"", "{'x':1}", TG_FMT_CONTINUE},
        {"", "junk", TG_FMT_BAD},
        {NULL, "", TG_FMT_BAD},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_fmt_chat_from_messages_stream s;
        tg_fmt_chat_from_messages_stream_init(&s, true, CREATED);
        struct tg_buf out = TG_BUF_INIT;
        char *d = tg_test_q(rows[i].data);
        size_t len = strlen(d);
        char *copy = exact(d, len);
        char *err = NULL;
        enum tg_fmt_result r =
            tg_fmt_chat_from_messages_stream_event(&s, rows[i].event, copy, len, &out, &err);
        if (r != rows[i].want)
            fail_msg("row %zu: %d, expected %d", i, (int)r, (int)rows[i].want);
        assert_null(err);
        if (r == TG_FMT_BAD)
            assert_int_equal(out.len, 0);
        tg_buf_free(&out);
        free(copy);
        free(d);
    }
    /* no event: line, the data's type says message_start */
    struct tg_fmt_chat_from_messages_stream s;
    tg_fmt_chat_from_messages_stream_init(&s, false, CREATED);
    struct tg_buf out = TG_BUF_INIT;
    const struct ev evs[] = {{"", full_stream[0].data}};
    assert_int_equal(feed(&s, evs, 1, &out, NULL, NULL), TG_FMT_CONTINUE);
    assert_non_null(strstr(out.data, "\"role\":\"assistant\""));
    assert_string_equal(s.id, "msg_s1");
    tg_buf_free(&out);
}

/* An id longer than the state keeps is cut, at a character boundary. */
static void test_stream_long_id(void **state)
{
    (void)state;
    struct tg_buf data = TG_BUF_INIT;
    tg_buf_puts(&data, "{\"type\":\"message_start\",\"message\":{\"id\":\"");
    for (int i = 0; i < 126; i++)
        tg_buf_putc(&data, 'x');
    tg_buf_puts(&data, "\xc3\xa9\xc3\xa9\",\"model\":\"m\"}}"); /* two e-acute astride 127 */
    struct tg_fmt_chat_from_messages_stream s;
    tg_fmt_chat_from_messages_stream_init(&s, false, CREATED);
    struct tg_buf out = TG_BUF_INIT;
    assert_int_equal(tg_fmt_chat_from_messages_stream_event(&s, "message_start", data.data,
                                                            data.len, &out, NULL),
                     TG_FMT_CONTINUE);
    assert_int_equal(strlen(s.id), 126);
    tg_buf_free(&out);
    tg_buf_free(&data);
}

/* ---- robustness: every member replaced by every wrong type ---- */

/* clang-format off */
static const char *const wrong_values[] = {
    "null", "true", "false", "0", "-1", "3", "1e300", "-1e300", "0.5", "\"\"", "\"x\"",
    "\"audio\"", "[]", "{}", "[null]", "[1,\"a\",{},[]]", "{\"a\":1}", "{\"type\":\"text\"}",
    "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:,\"}}]",
    "[{\"type\":\"text\",\"text\":\"\"}]", "{\"type\":\"function\",\"function\":[]}",
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

typedef void (*mutant_cb)(const cJSON *mutant, void *ctx);

/* Calls cb with root itself replaced by each wrong value, and with every
 * node replaced by each wrong value and removed. */
static int mutate_all(const char *valid, mutant_cb cb, void *ctx)
{
    cJSON *base = cJSON_Parse(valid);
    assert_non_null(base);
    int runs = 0;
    for (size_t v = 0; v < N_OF(wrong_values); v++) {
        cJSON *whole = cJSON_Parse(wrong_values[v]);
        cb(whole, ctx);
        cJSON_Delete(whole);
        runs++;
    }
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
            cb(copy, ctx);
            cJSON_Delete(copy);
            runs++;
        }
    }
    cJSON_Delete(base);
    return runs;
}

/* Whatever got through is a body Anthropic could accept in shape: user
 * first, strictly alternating turns, no empty content. */
static void check_request_mutant(const cJSON *mutant, void *ctx)
{
    int *accepted = ctx;
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    int rc = tg_fmt_messages_from_chat_request(mutant, "claude-x", 512, &out, why, sizeof(why));
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_true(why[0] != '\0');
        assert_int_equal(out.len, 0);
        tg_buf_free(&out);
        return;
    }
    (*accepted)++;
    cJSON *got = cJSON_Parse(out.data);
    assert_non_null(got);
    assert_true(cJSON_IsString(tg_test_at(got, "model")));
    const cJSON *mt = tg_test_at(got, "max_tokens");
    assert_true(cJSON_IsNumber(mt) && mt->valuedouble >= 1);
    const cJSON *msgs = tg_test_at(got, "messages");
    assert_true(cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0);
    const cJSON *m;
    const char *want = "user";
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = cJSON_GetStringValue(cJSON_GetObjectItem(m, "role"));
        if (!role || strcmp(role, want) != 0)
            fail_msg("turns do not alternate: %s", out.data);
        want = strcmp(want, "user") == 0 ? "assistant" : "user";
        const cJSON *content = cJSON_GetObjectItem(m, "content");
        bool ok = (cJSON_IsString(content) && content->valuestring[0]) ||
                  (cJSON_IsArray(content) && cJSON_GetArraySize(content) > 0);
        if (!ok)
            fail_msg("empty turn: %s", out.data);
    }
    const cJSON *t = tg_test_at(got, "temperature");
    assert_true(!t || (t->valuedouble >= 0 && t->valuedouble <= 1));
    cJSON_Delete(got);
    tg_buf_free(&out);
}

static void test_request_robust(void **state)
{
    (void)state;
    /* clang-format off */
    char *valid = tg_test_q(
        "{'model':'gpt-4o','stream':true,'temperature':0.5,'top_p':0.8,'max_tokens':300,"
        "'max_completion_tokens':200,'n':1,'logprobs':false,'stop':['###','END'],'user':'alice',"
        "'modalities':['text'],'messages':["
        "{'role':'system','content':'Be brief.'},"
        "{'role':'developer','content':[{'type':'text','text':'Really.'}]},"
        "{'role':'user','content':[{'type':'text','text':'What?'},{'type':'image_url',"
        "'image_url':{'url':'data:image/png;base64,AAAA'}},{'type':'image_url','image_url':"
        "{'url':'https://x.io/a.png'}}]},"
        "{'role':'assistant','content':'A cat.','tool_calls':[" CALL(
            "call_7", "get", "{\\'city\\':\\'Oslo\\'}") "]},"
        "{'role':'tool','tool_call_id':'call_7','content':'-3C'},"
        "{'role':'user','content':'ok'}],"
        "'tools':[" TOOL_GET "],'tool_choice':{'type':'function','function':{'name':'get'}},"
        "'parallel_tool_calls':false,'response_format':{'type':'json_schema','json_schema':"
        "{'name':'x','schema':{'type':'object'}}},'stream_options':{'include_usage':true}}");
    /* clang-format on */

    int accepted = 0;
    int runs = mutate_all(valid, check_request_mutant, &accepted);
    free(valid);
    print_message("request mutants: %d, translated: %d\n", runs, accepted);
    assert_true(accepted > runs / 2);
}

static void check_response_mutant(const cJSON *mutant, void *ctx)
{
    int *accepted = ctx;
    char *text = cJSON_PrintUnformatted(mutant);
    size_t len = strlen(text);
    char *copy = exact(text, len);
    struct tg_buf out = TG_BUF_INIT;
    if (tg_fmt_chat_from_messages_answer(copy, len, &out) == 0) {
        (*accepted)++;
        cJSON *got = cJSON_Parse(out.data);
        assert_non_null(got);
        assert_true(cJSON_IsString(tg_test_at(got, "choices.0.finish_reason")));
        assert_true(cJSON_IsNumber(tg_test_at(got, "usage.total_tokens")));
        const cJSON *args;
        const cJSON *calls = tg_test_at(got, "choices.0.message.tool_calls");
        cJSON_ArrayForEach(args, calls)
        {
            assert_true(cJSON_IsString(tg_test_at(args, "function.arguments")));
        }
        cJSON_Delete(got);
    } else {
        assert_int_equal(out.len, 0);
    }
    /* and every prefix of it too */
    for (size_t n = 0; n < len; n += 7) {
        struct tg_buf o2 = TG_BUF_INIT;
        assert_int_equal(tg_fmt_chat_from_messages_answer(copy, n, &o2), -1);
        tg_buf_free(&o2);
    }
    struct tg_buf err = TG_BUF_INIT;
    tg_fmt_chat_from_messages_error(copy, len, 500, &err);
    cJSON *e = cJSON_Parse(err.data);
    assert_non_null(e);
    assert_true(cJSON_IsString(tg_test_at(e, "error.message")));
    cJSON_Delete(e);
    tg_buf_free(&err);
    tg_buf_free(&out);
    free(copy);
    free(text);
}

static void test_response_robust(void **state)
{
    (void)state;
    char *valid = tg_test_q(MSG_BODY("{'type':'thinking','thinking':'t'}," TEXT("Hi") "," TOOL_USE(
                                         "t1", "get", "{'city':'Paris','n':[1,{'a':null}]}"),
                                     "'tool_use'",
                                     "{'input_tokens':10,'cache_creation_input_tokens':20,"
                                     "'cache_read_input_tokens':30,'output_tokens':5}"));
    int accepted = 0;
    int runs = mutate_all(valid, check_response_mutant, &accepted);
    free(valid);
    char *err =
        tg_test_q("{'type':'error','error':{'type':'rate_limit_error','message':'m','details':"
                  "{'error_code':'enforced_spend_limit_reached'}}}");
    int dummy = 0;
    runs += mutate_all(err, check_response_mutant, &dummy);
    free(err);
    print_message("response/error mutants: %d, translated: %d\n", runs, accepted);
    assert_true(accepted > 0);
}

struct stream_mutation {
    size_t event; /* which event of full_stream is the mutant */
    int done;
};

static void check_stream_mutant(const cJSON *mutant, void *ctx)
{
    struct stream_mutation *m = ctx;
    struct tg_fmt_chat_from_messages_stream s;
    tg_fmt_chat_from_messages_stream_init(&s, true, CREATED);
    struct tg_buf out = TG_BUF_INIT;
    char *text = cJSON_PrintUnformatted(mutant);
    for (size_t i = 0; i < N_OF(full_stream); i++) {
        char *d = i == m->event ? strdup(text) : tg_test_q(full_stream[i].data);
        size_t len = strlen(d);
        char *copy = exact(d, len);
        char *err = NULL;
        enum tg_fmt_result r =
            tg_fmt_chat_from_messages_stream_event(&s, full_stream[i].event, copy, len, &out, &err);
        free(copy);
        free(d);
        assert_true(r >= TG_FMT_CONTINUE && r <= TG_FMT_BAD);
        assert_true((err != NULL) == (r == TG_FMT_ERROR));
        free(err);
        if (r == TG_FMT_DONE)
            m->done++;
        if (r != TG_FMT_CONTINUE)
            break;
    }
    cJSON *chunks = chunks_of(out.data ? out.data : "");
    const cJSON *c;
    cJSON_ArrayForEach(c, chunks)
    {
        if (!cJSON_IsString(c))
            check_chunk_shape(c);
    }
    cJSON_Delete(chunks);
    free(text);
    tg_buf_free(&out);
}

static void test_stream_robust(void **state)
{
    (void)state;
    int runs = 0, done = 0;
    for (size_t e = 0; e < N_OF(full_stream); e++) {
        struct stream_mutation m = {e, 0};
        char *valid = tg_test_q(full_stream[e].data);
        runs += mutate_all(valid, check_stream_mutant, &m);
        free(valid);
        done += m.done;
    }
    print_message("stream mutants: %d, completed: %d\n", runs, done);
    assert_true(done > 0);

    /* events out of order, each dropped in turn, and every event name with
     * every event's data */
    for (size_t skip = 0; skip <= N_OF(full_stream); skip++) {
        struct tg_fmt_chat_from_messages_stream s;
        tg_fmt_chat_from_messages_stream_init(&s, true, CREATED);
        struct tg_buf out = TG_BUF_INIT;
        for (size_t i = N_OF(full_stream); i-- > 0;) {
            if (i == skip)
                continue;
            char *d = tg_test_q(full_stream[i].data);
            char *err = NULL;
            tg_fmt_chat_from_messages_stream_event(&s, full_stream[i].event, d, strlen(d), &out,
                                                   &err);
            free(err);
            free(d);
        }
        cJSON_Delete(chunks_of(out.data ? out.data : ""));
        tg_buf_free(&out);
    }
    for (size_t a = 0; a < N_OF(full_stream); a++) {
        for (size_t b = 0; b < N_OF(full_stream); b++) {
            struct tg_fmt_chat_from_messages_stream s;
            tg_fmt_chat_from_messages_stream_init(&s, true, CREATED);
            struct tg_buf out = TG_BUF_INIT;
            char *d = tg_test_q(full_stream[b].data);
            size_t len = strlen(d);
            for (size_t n = 0; n <= len; n++) {
                char *copy = exact(d, n);
                char *err = NULL;
                tg_fmt_chat_from_messages_stream_event(&s, full_stream[a].event, copy, n, &out,
                                                       &err);
                free(err);
                free(copy);
            }
            free(d);
            cJSON_Delete(chunks_of(out.data ? out.data : ""));
            tg_buf_free(&out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basics),
        cmocka_unit_test(test_request_system),
        cmocka_unit_test(test_request_cache_and_thinking),
        cmocka_unit_test(test_request_merging),
        cmocka_unit_test(test_request_images),
        cmocka_unit_test(test_request_tools),
        cmocka_unit_test(test_request_tool_round_trip),
        cmocka_unit_test(test_request_response_format),
        cmocka_unit_test(test_request_golden),
        cmocka_unit_test(test_request_ineligible),
        cmocka_unit_test(test_response_rows),
        cmocka_unit_test(test_response_created_and_rejects),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stream_full),
        cmocka_unit_test(test_stream_thinking),
        cmocka_unit_test(test_stream_tool_indexes),
        cmocka_unit_test(test_stream_finish_reasons),
        cmocka_unit_test(test_stream_error_event),
        cmocka_unit_test(test_stream_bad_data),
        cmocka_unit_test(test_stream_long_id),
        cmocka_unit_test(test_stream_split_on_the_wire),
        cmocka_unit_test(test_stream_error_split_on_the_wire),
        cmocka_unit_test(test_request_robust),
        cmocka_unit_test(test_response_robust),
        cmocka_unit_test(test_stream_robust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

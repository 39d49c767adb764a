/* Unit tests of the Messages -> chat request translator
 * (formats/chat_from_messages.c), the inbound side of /v1/messages for chat
 * deployments: tables of (Messages request, JSON path, expected JSON) for
 * every field it translates, and of (request, reason) for every request it
 * declines. The answer, error and stream directions of the same file are
 * tested in test_anthropic.c. JSON is written with ' for " (tg_test_q). */
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

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

struct row {
    const char *in;
    const char *path;
    const char *want;
};

static int translate(const char *in_q, struct tg_buf *out, char *why, size_t why_len)
{
    char *t = tg_test_q(in_q);
    cJSON *j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    int rc = tg_fmt_chat_from_messages_request(j, "gpt-x", out, why, why_len);
    cJSON_Delete(j);
    return rc;
}

static void run_rows(const struct row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct tg_buf out = TG_BUF_INIT;
        char why[64] = "";
        if (translate(rows[i].in, &out, why, sizeof(why)) != 0) {
            print_error("row %zu: declined (%s)\n", i, why);
            bad++;
            tg_buf_free(&out);
            continue;
        }
        cJSON *got = cJSON_Parse(out.data);
        assert_non_null(got);
        if (!tg_test_matches(got, rows[i].path, rows[i].want)) {
            print_error("row %zu: %s should be %s in %s\n", i, rows[i].path, rows[i].want,
                        out.data);
            bad++;
        }
        cJSON_Delete(got);
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define HI "{'role':'user','content':'hi'}"
#define REQ(extra) "{'model':'claude-x','max_tokens':100,'messages':[" HI "]" extra "}"
#define TURNS(list) "{'model':'claude-x','max_tokens':100,'messages':[" list "]}"

static void test_basics(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {REQ(""), "model", "'gpt-x'"},
        {REQ(""), "max_tokens", "100"},
        {REQ(""), "messages", "[" HI "]"},
        {REQ(""), "stream", "!"},
        {REQ(""), "stream_options", "!"},
        {REQ(""), "tools", "!"},
        {REQ(""), "user", "!"},
        {REQ(",'stream':true"), "stream", "true"},
        /* usage is what message_delta reports: always asked for */
        {REQ(",'stream':true"), "stream_options", "{'include_usage':true}"},
        {REQ(",'stream':false"), "stream", "!"},
        {REQ(",'temperature':0.5"), "temperature", "0.5"},
        {REQ(",'temperature':'hot'"), "temperature", "!"},
        {REQ(",'top_p':0.9"), "top_p", "0.9"},
        {REQ(",'stop_sequences':['END','\\n\\nHuman:']"), "stop", "['END','\\n\\nHuman:']"},
        {REQ(",'stop_sequences':[]"), "stop", "!"},
        {REQ(",'stop_sequences':['a','b','c','d']"), "stop", "['a','b','c','d']"},
        {REQ(",'metadata':{'user_id':'u-1'}"), "user", "'u-1'"},
        {REQ(",'metadata':{}"), "user", "!"},
        /* only a caching hint: chat providers cache prefixes themselves */
        {REQ(",'service_tier':'auto'"), "service_tier", "!"},
    };
    run_rows(rows, N_OF(rows));
}

static void test_system(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {REQ(",'system':'be brief'"), "messages.0", "{'role':'system','content':'be brief'}"},
        {REQ(",'system':'be brief'"), "messages.1", HI},
        {REQ(",'system':''"), "messages.0", HI},
        {REQ(",'system':[{'type':'text','text':'a'}]"), "messages.0",
         "{'role':'system','content':'a'}"},
        /* cache_control stays on the content part */
        {REQ(",'system':[{'type':'text','text':'a','cache_control':{'type':'ephemeral'}}]"),
         "messages.0.content", "[{'type':'text','text':'a','cache_control':{'type':'ephemeral'}}]"},
        {REQ(",'system':[{'type':'text','text':'a'},{'type':'text','text':'b'}]"),
         "messages.0.content", "[{'type':'text','text':'a'},{'type':'text','text':'b'}]"},
    };
    run_rows(rows, N_OF(rows));
}

#define TOOL_TURN                                                                                  \
    "{'role':'assistant','content':[{'type':'thinking','thinking':'hm','signature':'s'},"          \
    "{'type':'text','text':'let me see'},"                                                         \
    "{'type':'tool_use','id':'toolu_01','name':'get_weather','input':{'city':'Paris'}},"           \
    "{'type':'tool_use','id':'toolu_02','name':'get_time','input':{}}]}"
#define RESULT_TURN                                                                                \
    "{'role':'user','content':[{'type':'text','text':'and?'},"                                     \
    "{'type':'tool_result','tool_use_id':'toolu_01','content':'sunny'},"                           \
    "{'type':'tool_result','tool_use_id':'toolu_02','content':[{'type':'text','text':'noon'}],"    \
    "'is_error':true}]}"

static void test_turns(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {TURNS(HI ",{'role':'assistant','content':'hello'}," HI), "messages",
         "[" HI ",{'role':'assistant','content':'hello'}," HI "]"},
        {TURNS("{'role':'user','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}"),
         "messages.0.content", "[{'type':'text','text':'a'},{'type':'text','text':'b'}]"},
        {TURNS("{'role':'user','content':[{'type':'text','text':'a','cache_control':{'type':"
               "'ephemeral','ttl':'1h'}}]}"),
         "messages.0.content.0.cache_control", "{'type':'ephemeral','ttl':'1h'}"},
        /* tool_use blocks: tool_calls with their ids; thinking dropped */
        {TURNS(HI "," TOOL_TURN), "messages.1.content", "'let me see'"},
        {TURNS(HI "," TOOL_TURN), "messages.1.tool_calls",
         "[{'id':'toolu_01','type':'function','function':{'name':'get_weather','arguments':"
         "'{\\'city\\':\\'Paris\\'}'}},{'id':'toolu_02','type':'function','function':{'name':"
         "'get_time','arguments':'{}'}}]"},
        {TURNS(HI ",{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f',"
                  "'input':{}}]}"),
         "messages.1.content", "null"},
        /* tool results: tool messages first (they answer the turn before),
         * then the rest of the user turn */
        {TURNS(HI "," TOOL_TURN "," RESULT_TURN), "messages.2",
         "{'role':'tool','tool_call_id':'toolu_01','content':'sunny'}"},
        {TURNS(HI "," TOOL_TURN "," RESULT_TURN), "messages.3",
         "{'role':'tool','tool_call_id':'toolu_02','content':'noon'}"},
        {TURNS(HI "," TOOL_TURN "," RESULT_TURN), "messages.4", "{'role':'user','content':'and?'}"},
        {TURNS(HI "," TOOL_TURN "," RESULT_TURN), "messages.5", "!"},
        {TURNS("{'role':'user','content':[{'type':'tool_result','tool_use_id':'x'}]}"),
         "messages.0", "{'role':'tool','tool_call_id':'x','content':''}"},
        /* a prefill turn stays the last assistant message */
        {TURNS(HI ",{'role':'assistant','content':'{'}"), "messages.1",
         "{'role':'assistant','content':'{'}"},
    };
    run_rows(rows, N_OF(rows));
}

static void test_images(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {TURNS("{'role':'user','content':[{'type':'image','source':{'type':'base64',"
               "'media_type':'image/jpeg','data':'AAAA'}},{'type':'text','text':'what?'}]}"),
         "messages.0.content",
         "[{'type':'image_url','image_url':{'url':'data:image/jpeg;base64,AAAA'}},"
         "{'type':'text','text':'what?'}]"},
        {TURNS("{'role':'user','content':[{'type':'image','source':{'type':'url',"
               "'url':'https://example.com/a.png'}}]}"),
         "messages.0.content",
         "[{'type':'image_url','image_url':{'url':'https://example.com/a.png'}}]"},
    };
    run_rows(rows, N_OF(rows));
}

#define TOOLS                                                                                      \
    ",'tools':[{'name':'get_weather','description':'weather','input_schema':{'type':'object',"     \
    "'properties':{'city':{'type':'string'}}},'cache_control':{'type':'ephemeral'}}]"

static void test_tools_and_thinking(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {REQ(TOOLS), "tools",
         "[{'type':'function','function':{'name':'get_weather','description':'weather',"
         "'parameters':{'type':'object','properties':{'city':{'type':'string'}}}}}]"},
        {REQ(TOOLS), "tool_choice", "!"},
        {REQ(TOOLS ",'tool_choice':{'type':'auto'}"), "tool_choice", "'auto'"},
        {REQ(TOOLS ",'tool_choice':{'type':'any'}"), "tool_choice", "'required'"},
        {REQ(TOOLS ",'tool_choice':{'type':'none'}"), "tool_choice", "'none'"},
        {REQ(TOOLS ",'tool_choice':{'type':'tool','name':'get_weather'}"), "tool_choice",
         "{'type':'function','function':{'name':'get_weather'}}"},
        {REQ(TOOLS ",'tool_choice':{'type':'auto','disable_parallel_tool_use':true}"),
         "parallel_tool_calls", "false"},
        {REQ(TOOLS ",'tool_choice':{'type':'auto'}"), "parallel_tool_calls", "!"},
        {REQ(",'tools':[{'type':'custom','name':'f','input_schema':{'type':'object'}}]"),
         "tools.0.function.name", "'f'"},
        /* thinking budget -> reasoning_effort (bands in chat_from_messages.c) */
        {REQ(",'thinking':{'type':'enabled','budget_tokens':1024}"), "reasoning_effort", "'low'"},
        {REQ(",'thinking':{'type':'enabled','budget_tokens':4095}"), "reasoning_effort", "'low'"},
        {REQ(",'thinking':{'type':'enabled','budget_tokens':4096}"), "reasoning_effort",
         "'medium'"},
        {REQ(",'thinking':{'type':'enabled','budget_tokens':16383}"), "reasoning_effort",
         "'medium'"},
        {REQ(",'thinking':{'type':'enabled','budget_tokens':16384}"), "reasoning_effort", "'high'"},
        {REQ(",'thinking':{'type':'enabled','budget_tokens':1024}"), "max_completion_tokens",
         "100"},
        {REQ(",'thinking':{'type':'enabled','budget_tokens':1024}"), "max_tokens", "!"},
        {REQ(",'thinking':{'type':'disabled'}"), "reasoning_effort", "!"},
        {REQ(",'thinking':{'type':'disabled'}"), "max_tokens", "100"},
    };
    run_rows(rows, N_OF(rows));
}

struct no_row {
    const char *in;
    const char *why;
};

static void test_ineligible(void **state)
{
    (void)state;
    static const struct no_row rows[] = {
        {"{'model':'m','max_tokens':1}", "no messages"},
        {"{'model':'m','max_tokens':1,'messages':[]}", "no messages"},
        {"{'model':'m','max_tokens':1,'messages':'hi'}", "no messages"},
        {REQ(",'top_k':5"), "top_k"},
        {REQ(",'mcp_servers':[{'type':'url','url':'https://x','name':'x'}]"), "mcp_servers"},
        {REQ(",'container':'c1'"), "container"},
        {REQ(",'tools':[{'type':'web_search_20250305','name':'web_search'}]"),
         "tool web_search_20250305"},
        {REQ(",'tools':[{'input_schema':{}}]"), "tool (no name)"},
        {REQ(TOOLS ",'tool_choice':{'type':'sometimes'}"), "tool_choice sometimes"},
        {REQ(",'stop_sequences':['a','b','c','d','e']"), "stop_sequences>4"},
        {REQ(",'thinking':{'type':'adaptive'}"), "thinking adaptive"},
        {REQ(",'system':[{'type':'image'}]"), "system image"},
        {REQ(",'system':7"), "system"},
        {TURNS("{'role':'system','content':'x'}"), "role system"},
        {TURNS("{'content':'x'}"), "role (none)"},
        {TURNS("{'role':'user','content':7}"), "content"},
        {TURNS("{'role':'user','content':[{'type':'document','source':{'type':'text',"
               "'media_type':'text/plain','data':'d'}}]}"),
         "block document"},
        {TURNS("{'role':'user','content':[{'type':'image','source':{'type':'file',"
               "'file_id':'f1'}}]}"),
         "image file"},
        {TURNS("{'role':'user','content':[{'type':'image','source':{'type':'base64'}}]}"), "image"},
        {TURNS("{'role':'user','content':[{'type':'tool_result','tool_use_id':'t','content':"
               "[{'type':'image','source':{'type':'url','url':'https://x'}}]}]}"),
         "tool_result image"},
        {TURNS("{'role':'user','content':[{'type':'tool_result','content':'x'}]}"),
         "tool_result (no tool_use_id)"},
        {TURNS(HI ",{'role':'assistant','content':[{'type':'tool_use','name':'f','input':{}}]}"),
         "tool_use (no id or name)"},
        {TURNS(HI ",{'role':'assistant','content':[{'type':'server_tool_use','id':'s'}]}"),
         "block server_tool_use"},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        char why[64] = "";
        int rc = translate(rows[i].in, &out, why, sizeof(why));
        if (rc != -1 || strcmp(why, rows[i].why) != 0) {
            print_error("row %zu: rc %d why '%s', want '%s'\n", i, rc, why, rows[i].why);
            bad++;
        }
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

/* The model is the deployment's, or the request's own without one. */
static void test_model(void **state)
{
    (void)state;
    char *t = tg_test_q(REQ(""));
    cJSON *j = cJSON_Parse(t);
    struct tg_buf out = TG_BUF_INIT;
    char why[64];
    assert_int_equal(tg_fmt_chat_from_messages_request(j, NULL, &out, why, sizeof(why)), 0);
    assert_non_null(strstr(out.data, "\"model\":\"claude-x\""));
    tg_buf_free(&out);
    cJSON_Delete(j);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_system),
        cmocka_unit_test(test_turns),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_tools_and_thinking),
        cmocka_unit_test(test_ineligible),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of validation (route/validate.c) over every client format:
 * tables of (request, answer in the upstream's format, [validate] settings,
 * verdict) for empty, refusal, truncation, JSON, json_schema on chat's
 * response_format and Responses' text.format, and Messages tool input. JSON
 * is written with ' for " (tg_test_q). */
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
#include "route/validate.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char *phrases[] = {"I can't help with", "I cannot help with", "I am unable to"};

enum cfg_kind { DEF, FAIL, OFF, NO_EMPTY, NO_JSON, NO_REFUSAL };

static struct tg_validate_cfg cfg_of(enum cfg_kind k)
{
    struct tg_validate_cfg c = {
        .empty = k != NO_EMPTY,
        .refusal = k != NO_REFUSAL,
        .refusal_phrases = {phrases, N_OF(phrases)},
        .truncation = k == FAIL  ? TG_TRUNCATION_FAIL
                      : k == OFF ? TG_TRUNCATION_OFF
                                 : TG_TRUNCATION_FLAG,
        .json = k != NO_JSON,
    };
    return c;
}

struct row {
    enum tg_api req_api;
    const char *request;
    enum tg_api answer_api; /* the upstream's format */
    const char *answer;
    enum cfg_kind cfg;
    enum tg_invalid want;
    bool truncated;
    bool content_filter;
};

static cJSON *parse_q(const char *q)
{
    char *t = tg_test_q(q);
    cJSON *j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    return j;
}

/* A request as the gateway holds it: its text, the tree built on demand. */
static struct tg_json_doc request_doc(const char *q)
{
    char *t = tg_test_q(q);
    return (struct tg_json_doc){t, strlen(t), NULL};
}

static void free_request_doc(struct tg_json_doc *d)
{
    tg_json_doc_free(d);
    free((char *)d->text);
}

static void run_rows(const struct row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        cJSON_Delete(parse_q(r->request)); /* the table's request is JSON */
        struct tg_json_doc req = request_doc(r->request);
        cJSON_Delete(parse_q(r->answer)); /* the table's answer is JSON */
        char *ans = tg_test_q(r->answer);
        struct tg_expect e;
        tg_expect_from_request(r->req_api, &req, &e);
        struct tg_answer_facts f;
        tg_read_answer(r->answer_api, ans, strlen(ans), &f);
        struct tg_validate_cfg cfg = cfg_of(r->cfg);
        struct tg_verdict v;
        tg_validate_answer(&cfg, &e, &f, &v);
        if (v.invalid != r->want || v.truncated != r->truncated ||
            v.content_filter != r->content_filter) {
            print_error("row %zu: %s/%d/%d, want %s/%d/%d for %s\n", i, tg_invalid_name(v.invalid),
                        v.truncated, v.content_filter, tg_invalid_name(r->want), r->truncated,
                        r->content_filter, r->answer);
            bad++;
        }
        tg_answer_facts_free(&f);
        free_request_doc(&req);
        free(ans);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

#define C TG_API_CHAT
#define M TG_API_MESSAGES
#define R TG_API_RESPONSES

/* ---- chat ---- */

#define CREQ(extra) "{'model':'m','messages':[{'role':'user','content':'hi'}]" extra "}"
#define JSON_OBJ ",'response_format':{'type':'json_object'}"
#define SCHEMA                                                                                     \
    "{'type':'object','properties':{'name':{'type':'string'},'age':{'type':'integer'}},"           \
    "'required':['name','age']}"
#define JSON_SCHEMA                                                                                \
    ",'response_format':{'type':'json_schema','json_schema':{'name':'p','schema':" SCHEMA "}}"
#define CANS(msg, finish) "{'choices':[{'index':0,'message':" msg ",'finish_reason':'" finish "'}]}"
#define CTEXT(t, finish) CANS("{'role':'assistant','content':'" t "'}", finish)
#define CCALL(args)                                                                                \
    CANS("{'role':'assistant','content':null,'tool_calls':[{'id':'c','type':'function','function'" \
         ":{'name':'get','arguments':'" args "'}}]}",                                              \
         "tool_calls")

static void test_chat(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {C, CREQ(""), C, CTEXT("Hello", "stop"), DEF, TG_VALID, false, false},
        {C, CREQ(""), C, CTEXT("", "stop"), DEF, TG_INVALID_EMPTY, false, false},
        {C, CREQ(""), C, CTEXT(" \\n\\t", "stop"), DEF, TG_INVALID_EMPTY, false, false},
        {C, CREQ(""), C, CANS("{'role':'assistant','content':null}", "stop"), DEF, TG_INVALID_EMPTY,
         false, false},
        {C, CREQ(""), C, CTEXT("", "stop"), NO_EMPTY, TG_VALID, false, false},
        {C, CREQ(""), C, CCALL("{}"), DEF, TG_VALID, false, false},
        {C, CREQ(""), C, CTEXT("  I cannot help with that.", "stop"), DEF, TG_INVALID_REFUSAL,
         false, false},
        {C, CREQ(""), C, CTEXT("I cannot help with that.", "stop"), NO_REFUSAL, TG_VALID, false,
         false},
        {C, CREQ(""), C, CANS("{'role':'assistant','content':null,'refusal':'No.'}", "stop"), DEF,
         TG_INVALID_REFUSAL, false, false},
        {C, CREQ(""), C, CTEXT("", "content_filter"), DEF, TG_VALID, false, true},
        {C, CREQ(""), C, CTEXT("cut", "length"), DEF, TG_VALID, true, false},
        {C, CREQ(""), C, CTEXT("cut", "length"), FAIL, TG_INVALID_TRUNCATED, true, false},
        {C, CREQ(""), C, CTEXT("cut", "length"), OFF, TG_VALID, false, false},
        {C, CREQ(JSON_OBJ), C, CTEXT("not json", "stop"), DEF, TG_INVALID_JSON, false, false},
        {C, CREQ(JSON_OBJ), C, CTEXT("not json", "stop"), NO_JSON, TG_VALID, false, false},
        {C, CREQ(JSON_OBJ), C, CTEXT("{\\'a\\':1}", "stop"), DEF, TG_VALID, false, false},
        /* a cut-off answer is flagged, not also called broken */
        {C, CREQ(JSON_OBJ), C, CTEXT("{\\'a\\':", "length"), DEF, TG_VALID, true, false},
        /* no text at all is not checked as JSON; "" is */
        {C, CREQ(JSON_OBJ), C, CANS("{'role':'assistant','content':null}", "stop"), NO_EMPTY,
         TG_VALID, false, false},
        {C, CREQ(JSON_OBJ), C, CTEXT("", "stop"), NO_EMPTY, TG_INVALID_JSON, false, false},
        {C, CREQ(JSON_SCHEMA), C, CTEXT("{\\'name\\':\\'Ann\\',\\'age\\':3}", "stop"), DEF,
         TG_VALID, false, false},
        {C, CREQ(JSON_SCHEMA), C, CTEXT("{\\'name\\':\\'Ann\\'}", "stop"), DEF, TG_INVALID_SCHEMA,
         false, false},
        {C, CREQ(JSON_SCHEMA), C, CTEXT("{\\'name\\':\\'Ann\\',\\'age\\':3.5}", "stop"), DEF,
         TG_INVALID_SCHEMA, false, false},
        {C, CREQ(JSON_SCHEMA), C, CTEXT("[1]", "stop"), DEF, TG_INVALID_SCHEMA, false, false},
        /* chat tools are not checked: chat's behaviour is unchanged */
        {C,
         CREQ(",'tools':[{'type':'function','function':{'name':'get','parameters':" SCHEMA "}}]"),
         C, CCALL("not json"), DEF, TG_VALID, false, false},
    };
    run_rows(rows, N_OF(rows));
}

/* ---- Responses ---- */

#define RREQ(extra) "{'model':'m','input':'hi'" extra "}"
#define RJSON_OBJ ",'text':{'format':{'type':'json_object'}}"
#define RJSON_SCHEMA                                                                               \
    ",'text':{'format':{'type':'json_schema','name':'p','strict':true,'schema':" SCHEMA "}}"
#define RANS(status, output, extra)                                                                \
    "{'object':'response','status':'" status "','output':[" output "]" extra "}"
#define RMSG(parts) "{'type':'message','role':'assistant','content':[" parts "]}"
#define RTEXT(t) RMSG("{'type':'output_text','text':'" t "'}")

static void test_responses(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {R, RREQ(""), R, RANS("completed", RTEXT("Hello"), ""), DEF, TG_VALID, false, false},
        {R, RREQ(""), R, RANS("completed", "", ""), DEF, TG_INVALID_EMPTY, false, false},
        {R, RREQ(""), R, RANS("completed", RTEXT("   "), ""), DEF, TG_INVALID_EMPTY, false, false},
        {R, RREQ(""), R,
         RANS("completed", "{'type':'function_call','name':'f','arguments':'{}'}", ""), DEF,
         TG_VALID, false, false},
        {R, RREQ(""), R, RANS("completed", RMSG("{'type':'refusal','refusal':'I will not.'}"), ""),
         DEF, TG_INVALID_REFUSAL, false, false},
        {R, RREQ(""), R, RANS("completed", RTEXT("I am unable to do that"), ""), DEF,
         TG_INVALID_REFUSAL, false, false},
        {R, RREQ(""), R,
         RANS("incomplete", RTEXT("cut"), ",'incomplete_details':{'reason':'max_output_tokens'}"),
         FAIL, TG_INVALID_TRUNCATED, true, false},
        {R, RREQ(""), R,
         RANS("incomplete", RTEXT("cut"), ",'incomplete_details':{'reason':'max_output_tokens'}"),
         DEF, TG_VALID, true, false},
        {R, RREQ(""), R,
         RANS("incomplete", "", ",'incomplete_details':{'reason':'content_filter'}"), DEF, TG_VALID,
         false, true},
        {R, RREQ(RJSON_OBJ), R, RANS("completed", RTEXT("nope"), ""), DEF, TG_INVALID_JSON, false,
         false},
        {R, RREQ(RJSON_OBJ), R, RANS("completed", RTEXT("{}"), ""), DEF, TG_VALID, false, false},
        {R, RREQ(RJSON_SCHEMA), R,
         RANS("completed", RTEXT("{\\'name\\':\\'Ann\\',\\'age\\':3}"), ""), DEF, TG_VALID, false,
         false},
        {R, RREQ(RJSON_SCHEMA), R, RANS("completed", RTEXT("{\\'age\\':3}"), ""), DEF,
         TG_INVALID_SCHEMA, false, false},
        {R, RREQ(RJSON_SCHEMA), R, RANS("completed", RTEXT("{\\'name\\':1,\\'age\\':3}"), ""), DEF,
         TG_INVALID_SCHEMA, false, false},
        /* a Responses client served by a chat upstream */
        {R, RREQ(RJSON_SCHEMA), C, CTEXT("{\\'name\\':\\'Ann\\'}", "stop"), DEF, TG_INVALID_SCHEMA,
         false, false},
        /* text.type "text" asks for nothing */
        {R, RREQ(",'text':{'format':{'type':'text'}}"), R, RANS("completed", RTEXT("plain"), ""),
         DEF, TG_VALID, false, false},
    };
    run_rows(rows, N_OF(rows));
}

/* ---- Messages ---- */

#define TOOLS                                                                                      \
    ",'tools':[{'name':'get','description':'d','input_schema':{'type':'object','properties':{"     \
    "'city':{'type':'string'},'days':{'type':'integer'}},'required':['city']}},"                   \
    "{'name':'free','input_schema':{'type':'object'}}]"
#define MREQ(extra)                                                                                \
    "{'model':'claude','max_tokens':100,'messages':[{'role':'user','content':'hi'}]" extra "}"
#define MANS(content, stop)                                                                        \
    "{'type':'message','role':'assistant','content':[" content "],'stop_reason':'" stop "'}"
#define MTEXT(t, stop) MANS("{'type':'text','text':'" t "'}", stop)
#define MUSE(name, input)                                                                          \
    MANS("{'type':'text','text':'Looking.'},{'type':'tool_use','id':'toolu_1','name':'" name       \
         "','input':" input "}",                                                                   \
         "tool_use")

static void test_messages(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {M, MREQ(""), M, MTEXT("Hello", "end_turn"), DEF, TG_VALID, false, false},
        {M, MREQ(""), M, MANS("", "end_turn"), DEF, TG_INVALID_EMPTY, false, false},
        {M, MREQ(""), M, MTEXT("", "end_turn"), DEF, TG_INVALID_EMPTY, false, false},
        {M, MREQ(""), M, MTEXT("I cannot help with that", "end_turn"), DEF, TG_INVALID_REFUSAL,
         false, false},
        {M, MREQ(""), M, MANS("", "refusal"), DEF, TG_VALID, false, true},
        {M, MREQ(""), M, MTEXT("cut", "max_tokens"), FAIL, TG_INVALID_TRUNCATED, true, false},
        {M, MREQ(""), M, MTEXT("cut", "max_tokens"), DEF, TG_VALID, true, false},
        /* tool input against its tool's input_schema */
        {M, MREQ(TOOLS), M, MUSE("get", "{'city':'Paris'}"), DEF, TG_VALID, false, false},
        {M, MREQ(TOOLS), M, MUSE("get", "{'city':'Paris','days':2}"), DEF, TG_VALID, false, false},
        {M, MREQ(TOOLS), M, MUSE("get", "{}"), DEF, TG_INVALID_SCHEMA, false, false},
        {M, MREQ(TOOLS), M, MUSE("get", "{'city':5}"), DEF, TG_INVALID_SCHEMA, false, false},
        {M, MREQ(TOOLS), M, MUSE("get", "'Paris'"), DEF, TG_INVALID_SCHEMA, false, false},
        {M, MREQ(TOOLS), M, MUSE("free", "{'any':1}"), DEF, TG_VALID, false, false},
        {M, MREQ(TOOLS), M, MUSE("unknown", "{}"), DEF, TG_VALID, false, false},
        {M, MREQ(TOOLS), M, MUSE("unknown", "[]"), DEF, TG_INVALID_SCHEMA, false, false},
        {M, MREQ(TOOLS), M, MUSE("get", "{}"), NO_JSON, TG_VALID, false, false},
        /* the second call is checked too */
        {M, MREQ(TOOLS), M,
         MANS("{'type':'tool_use','name':'get','input':{'city':'a'}},{'type':'tool_use','name':'"
              "get','input':{'days':1}}",
              "tool_use"),
         DEF, TG_INVALID_SCHEMA, false, false},
        /* a cut-off call is flagged, not also called broken */
        {M, MREQ(TOOLS), M,
         "{'type':'message','content':[{'type':'tool_use','name':'get','input':{}}],'stop_reason':'"
         "max_tokens'}",
         DEF, TG_VALID, true, false},
        /* a Messages client served by a chat upstream: the arguments text */
        {M, MREQ(TOOLS), C, CCALL("{\\'city\\':\\'Paris\\'}"), DEF, TG_VALID, false, false},
        {M, MREQ(TOOLS), C, CCALL("{\\'city\\':"), DEF, TG_INVALID_JSON, false, false},
        {M, MREQ(TOOLS), C, CCALL(""), DEF, TG_INVALID_JSON, false, false},
        {M, MREQ(TOOLS), C, CCALL("{}"), DEF, TG_INVALID_SCHEMA, false, false},
        {M, MREQ(TOOLS), C, CCALL("[1]"), DEF, TG_INVALID_SCHEMA, false, false},
        {M, MREQ(TOOLS), C,
         CANS("{'role':'assistant','tool_calls':[{'type':'function','function':{'name':'get'}}]}",
              "tool_calls"),
         DEF, TG_INVALID_JSON, false, false},
        /* ... and by a Responses upstream */
        {M, MREQ(TOOLS), R,
         RANS("completed", "{'type':'function_call','name':'get','arguments':'{\\'days\\':1}'}",
              ""),
         DEF, TG_INVALID_SCHEMA, false, false},
    };
    run_rows(rows, N_OF(rows));
}

/* What each format's request asks, including requests of the wrong shape. */
static void test_expect(void **state)
{
    (void)state;
    static const struct {
        enum tg_api api;
        const char *request;
        bool json, schema, tools;
    } rows[] = {
        {C, CREQ(""), false, false, false},
        {C, CREQ(JSON_OBJ), true, false, false},
        {C, CREQ(JSON_SCHEMA), true, true, false},
        {C, CREQ(",'response_format':{'type':'json_schema','json_schema':{'schema':5}}"), true,
         false, false},
        {C, CREQ(",'response_format':'json'"), false, false, false},
        {C, CREQ(RJSON_OBJ), false, false, false},
        {R, RREQ(RJSON_OBJ), true, false, false},
        {R, RREQ(RJSON_SCHEMA), true, true, false},
        {R, RREQ(",'text':{'format':{'type':'json_schema','schema':[]}}"), true, false, false},
        {R, RREQ(",'text':5"), false, false, false},
        {R, RREQ(JSON_OBJ), false, false, false},
        {M, MREQ(TOOLS), false, false, true},
        {M, MREQ(",'tools':[]"), false, false, false},
        {M, MREQ(",'tools':{'name':'get'}"), false, false, false},
        {TG_API_COMPLETIONS, CREQ(JSON_OBJ), false, false, false},
        {TG_API_EMBEDDINGS, "{'input':'x'}", false, false, false},
    };
    int bad = 0;
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_json_doc req = request_doc(rows[i].request);
        struct tg_expect e;
        memset(&e, 0x5a, sizeof(e));
        tg_expect_from_request(rows[i].api, &req, &e);
        /* The tree is built only for a request that says what it expects. */
        bool says = strstr(rows[i].request, "response_format") ||
                    strstr(rows[i].request, "'text'") || strstr(rows[i].request, "tools");
        if (!says && req.tree) {
            print_error("row %zu: the tree was built for nothing\n", i);
            bad++;
        }
        if (e.json != rows[i].json || (e.schema != NULL) != rows[i].schema ||
            (e.tools != NULL) != rows[i].tools) {
            print_error("row %zu: %d/%d/%d\n", i, e.json, e.schema != NULL, e.tools != NULL);
            bad++;
        }
        free_request_doc(&req);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat),          cmocka_unit_test(test_responses),
        cmocka_unit_test(test_messages),      cmocka_unit_test(test_expect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of formats/convert.c, an attempt's answer from the API its
 * provider speaks (the wire) to the client's, for every (client, wire) pair
 * it serves: chat<-chat, chat<-messages, messages<-messages, messages<-chat,
 * responses<-responses, responses<-chat, responses<-messages. Whole answers
 * and errors as tables; streams as a provider writes them, fed through the
 * SSE parser at every cut of their bytes and passed to tg_convert_event as
 * the gateway does, the client's output the same at every cut and a valid
 * stream of its format; then tg_convert_end, tg_convert_fail and the
 * gateway's own errors. JSON is written with ' for " (tg_test_q). */
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
#include "formats/convert.h"
#include "util/sse.h"

#define CHAT TG_API_CHAT
#define MSGS TG_API_MESSAGES
#define RESP TG_API_RESPONSES


/* The request as the converter asks for it: its tree, already built. */
#define DOC(tree) (&(struct tg_json_doc){NULL, 0, (cJSON *)(tree)})

static const char *api_name(enum tg_api a)
{
    return a == CHAT ? "chat" : a == MSGS ? "messages" : "responses";
}

/* The client's request, by client API. */
#define CHAT_REQ_USAGE                                                                             \
    "{'model':'m','messages':[{'role':'user','content':'weather?'}],'stream':true,"                \
    "'stream_options':{'include_usage':true}}"
#define CHAT_REQ "{'model':'m','messages':[{'role':'user','content':'weather?'}],'stream':true}"
#define MSGS_REQ                                                                                   \
    "{'model':'m','max_tokens':100,'messages':[{'role':'user','content':'weather?'}],"             \
    "'stream':true}"
#define RESP_REQ "{'model':'m','input':'weather?','stream':true,'instructions':'be brief'}"

static const char *request_for(enum tg_api client)
{
    return client == CHAT ? CHAT_REQ_USAGE : client == MSGS ? MSGS_REQ : RESP_REQ;
}

/* ==== whole answers ==== */

#define CHAT_ANSWER(finish)                                                                        \
    "{'id':'chatcmpl-X','object':'chat.completion','created':1700000000,'model':'gpt-4o',"         \
    "'choices':[{'index':0,'message':{'role':'assistant','content':'Paris.',"                      \
    "'reasoning_content':'Th\xc3\xa9nk.','tool_calls':[{'id':'call_A1','type':'function','"        \
    "function':"                                                                                   \
    "{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}}]},'finish_reason':'" finish    \
    "'}],'usage':{'prompt_tokens':30,'completion_tokens':9,'total_tokens':39,"                     \
    "'prompt_tokens_details':{'cached_tokens':20}}}"
#define MSGS_ANSWER(stop)                                                                          \
    "{'id':'msg_X','type':'message','role':'assistant','model':'claude-x','content':["             \
    "{'type':'thinking','thinking':'Th\xc3\xa9nk.','signature':'EqQB'},{'type':'text','text':'"    \
    "Paris.'},"                                                                                    \
    "{'type':'tool_use','id':'toolu_A1','name':'get_weather','input':{'city':'Paris'}}],"          \
    "'stop_reason':'" stop "','stop_sequence':null,'usage':{'input_tokens':10,"                    \
    "'cache_creation_input_tokens':0,'cache_read_input_tokens':20,'output_tokens':9}}"
#define RESP_ANSWER                                                                                \
    "{'id':'resp_X','object':'response','created_at':1700000000,'status':'completed',"             \
    "'model':'gpt-4o','output':[{'id':'msg_1','type':'message','status':'completed','role':"       \
    "'assistant','content':[{'type':'output_text','text':'Paris.','annotations':[]}]}],"           \
    "'usage':{'input_tokens':30,'input_tokens_details':{'cached_tokens':20},'output_tokens':9,"    \
    "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':39}}"

struct answer_row {
    enum tg_api client, wire;
    const char *body;
    const char *path; /* NULL: the output is the body, byte for byte */
    const char *want;
};

static const struct answer_row answer_rows[] = {
    /* pass-through: the provider's bytes */
    {CHAT, CHAT, CHAT_ANSWER("tool_calls"), NULL, NULL},
    {MSGS, MSGS, MSGS_ANSWER("tool_use"), NULL, NULL},
    {RESP, RESP, RESP_ANSWER, NULL, NULL},
    /* chat <- messages */
    {CHAT, MSGS, MSGS_ANSWER("tool_use"), "object", "'chat.completion'"},
    {CHAT, MSGS, MSGS_ANSWER("tool_use"), "choices.0.message.content", "'Paris.'"},
    {CHAT, MSGS, MSGS_ANSWER("tool_use"), "choices.0.message.reasoning_content", "'Th\xc3\xa9nk.'"},
    {CHAT, MSGS, MSGS_ANSWER("tool_use"), "choices.0.message.tool_calls",
     "[{'id':'toolu_A1','type':'function','function':{'name':'get_weather',"
     "'arguments':'{\\'city\\':\\'Paris\\'}'}}]"},
    {CHAT, MSGS, MSGS_ANSWER("tool_use"), "choices.0.finish_reason", "'tool_calls'"},
    {CHAT, MSGS, MSGS_ANSWER("max_tokens"), "choices.0.finish_reason", "'length'"},
    {CHAT, MSGS, MSGS_ANSWER("tool_use"), "usage",
     "{'prompt_tokens':30,'completion_tokens':9,'total_tokens':39,"
     "'prompt_tokens_details':{'cached_tokens':20}}"},
    /* messages <- chat */
    {MSGS, CHAT, CHAT_ANSWER("tool_calls"), "type", "'message'"},
    {MSGS, CHAT, CHAT_ANSWER("tool_calls"), "content",
     "[{'type':'thinking','thinking':'Th\xc3\xa9nk.','signature':''},{'type':'text','text':'Paris.'"
     "},"
     "{'type':'tool_use','id':'call_A1','name':'get_weather','input':{'city':'Paris'}}]"},
    {MSGS, CHAT, CHAT_ANSWER("tool_calls"), "stop_reason", "'tool_use'"},
    {MSGS, CHAT, CHAT_ANSWER("length"), "stop_reason", "'max_tokens'"},
    {MSGS, CHAT, CHAT_ANSWER("tool_calls"), "usage",
     "{'input_tokens':10,'cache_read_input_tokens':20,'output_tokens':9}"},
    /* responses <- chat */
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "id", "'resp_X'"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "status", "'completed'"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "instructions", "'be brief'"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "output.0.summary",
     "[{'type':'summary_text','text':'Th\xc3\xa9nk.'}]"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "output.1.content.0.text", "'Paris.'"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "output.2.call_id", "'call_A1'"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "output.2.arguments", "'{\\'city\\':\\'Paris\\'}'"},
    {RESP, CHAT, CHAT_ANSWER("tool_calls"), "usage.input_tokens_details", "{'cached_tokens':20}"},
    {RESP, CHAT, CHAT_ANSWER("length"), "status", "'incomplete'"},
    {RESP, CHAT, CHAT_ANSWER("length"), "incomplete_details", "{'reason':'max_output_tokens'}"},
    /* the item the limit cut is unfinished, the ones before it whole: as
     * the same answer streamed says */
    {RESP, CHAT, CHAT_ANSWER("length"), "output.1.status", "'completed'"},
    {RESP, CHAT, CHAT_ANSWER("length"), "output.2.status", "'incomplete'"},
    /* responses <- messages, through chat */
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "id", "'resp_msg_X'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "model", "'claude-x'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "output.0.type", "'reasoning'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "output.0.summary.0.text", "'Th\xc3\xa9nk.'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "output.1.content.0.text", "'Paris.'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "output.2.call_id", "'toolu_A1'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "output.2.arguments", "'{\\'city\\':\\'Paris\\'}'"},
    {RESP, MSGS, MSGS_ANSWER("tool_use"), "usage",
     "{'input_tokens':30,'input_tokens_details':{'cached_tokens':20},'output_tokens':9,"
     "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':39}"},
    {RESP, MSGS, MSGS_ANSWER("max_tokens"), "status", "'incomplete'"},
    {RESP, MSGS, MSGS_ANSWER("max_tokens"), "incomplete_details", "{'reason':'max_output_tokens'}"},
    {RESP, MSGS, MSGS_ANSWER("max_tokens"), "output.1.status", "'completed'"},
    {RESP, MSGS, MSGS_ANSWER("max_tokens"), "output.2.status", "'incomplete'"},
};

/* The converted answer (rc in *rc), parsed; NULL when it is not JSON. */
static cJSON *convert_answer(enum tg_api client, enum tg_api wire, const char *body_q,
                             struct tg_buf *out, int *rc)
{
    cJSON *req = parse_q(request_for(client));
    char *body = q(body_q);
    struct tg_convert c;
    tg_convert_init(&c, client, wire, DOC(req), false, 1700000000);
    *rc = tg_convert_answer(&c, body, strlen(body), out);
    tg_convert_free(&c);
    free(body);
    cJSON_Delete(req);
    return *rc == 0 && out->len ? cJSON_ParseWithLength(out->data, out->len) : NULL;
}

static void test_answers(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_OF(answer_rows); i++) {
        const struct answer_row *r = &answer_rows[i];
        struct tg_buf out = TG_BUF_INIT;
        int rc;
        cJSON *got = convert_answer(r->client, r->wire, r->body, &out, &rc);
        if (rc != 0 || !got) {
            print_error("row %zu (%s<-%s): declined or not JSON: %.*s\n", i, api_name(r->client),
                        api_name(r->wire), (int)out.len, out.data ? out.data : "");
            bad++;
        } else if (!r->path) {
            char *body = q(r->body);
            if (out.len != strlen(body) || memcmp(out.data, body, out.len) != 0) {
                print_error("row %zu: not passed through: %s\n", i, out.data);
                bad++;
            }
            free(body);
        } else if (!path_matches(got, r->path, r->want)) {
            print_error("row %zu (%s<-%s): ", i, api_name(r->client), api_name(r->wire));
            report(i, r->path, r->want, got);
            bad++;
        }
        cJSON_Delete(got);
        tg_buf_free(&out);
    }
    if (bad)
        fail_msg("%d row(s) wrong", bad);
}

/* What a translator cannot read is declined, with nothing written. */
static void test_answers_declined(void **state)
{
    (void)state;
    static const struct {
        enum tg_api client, wire;
        const char *body;
    } rows[] = {
        {CHAT, MSGS, "{'type':'error','error':{'type':'api_error','message':'x'}}"},
        {RESP, MSGS, "not json"},
        {MSGS, CHAT, "{'object':'chat.completion','choices':[]}"},
        {RESP, CHAT, "{'object':'response'}"},
        /* tool arguments a Messages client could not read as an object */
        {MSGS, CHAT,
         "{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'name':'f',"
         "'arguments':'[1'}}]},'finish_reason':'tool_calls'}]}"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        int rc;
        cJSON *got = convert_answer(rows[i].client, rows[i].wire, rows[i].body, &out, &rc);
        if (rc != -1 || out.len)
            fail_msg("row %zu: rc %d, wrote %.*s", i, rc, (int)out.len, out.data);
        cJSON_Delete(got);
        tg_buf_free(&out);
    }
}

/* A tool call's id survives every hop: chat's call_A1 becomes a Messages
 * tool_use id, and back to chat and on to Responses it is call_A1 again. */
static void test_answer_ids_round_trip(void **state)
{
    (void)state;
    cJSON *req = parse_q(MSGS_REQ);
    char *chat = q(CHAT_ANSWER("tool_calls"));
    struct tg_buf msgs = TG_BUF_INIT, back = TG_BUF_INIT, resp = TG_BUF_INIT;
    struct tg_convert c;
    tg_convert_init(&c, MSGS, CHAT, DOC(req), false, 1);
    assert_int_equal(tg_convert_answer(&c, chat, strlen(chat), &msgs), 0);
    tg_convert_free(&c);
    tg_convert_init(&c, CHAT, MSGS, DOC(req), false, 1);
    assert_int_equal(tg_convert_answer(&c, msgs.data, msgs.len, &back), 0);
    tg_convert_free(&c);
    tg_convert_init(&c, RESP, MSGS, DOC(req), false, 1);
    assert_int_equal(tg_convert_answer(&c, msgs.data, msgs.len, &resp), 0);
    tg_convert_free(&c);
    cJSON *m = cJSON_Parse(msgs.data), *b = cJSON_Parse(back.data), *r = cJSON_Parse(resp.data);
    assert_true(path_matches(m, "content.2.id", "'call_A1'"));
    assert_true(path_matches(b, "choices.0.message.tool_calls.0.id", "'call_A1'"));
    /* and the reasoning with it: chat -> thinking block -> chat -> reasoning item */
    assert_true(path_matches(b, "choices.0.message.reasoning_content", "'Th\xc3\xa9nk.'"));
    assert_true(path_matches(r, "output.2.call_id", "'call_A1'"));
    assert_true(path_matches(r, "output.0.summary.0.text", "'Th\xc3\xa9nk.'"));
    /* usage, cached tokens included, both ways */
    assert_true(path_matches(b, "usage",
                             "{'prompt_tokens':30,'completion_tokens':9,'total_tokens':39,"
                             "'prompt_tokens_details':{'cached_tokens':20}}"));
    cJSON_Delete(m);
    cJSON_Delete(b);
    cJSON_Delete(r);
    tg_buf_free(&msgs);
    tg_buf_free(&back);
    tg_buf_free(&resp);
    free(chat);
    cJSON_Delete(req);
}

/* ==== provider errors ==== */

struct error_case {
    int status;
    const char *openai;    /* the body an OpenAI-speaking provider sends */
    const char *anthropic; /* the body Anthropic sends */
    const char *ant_type;  /* Anthropic's type for the status */
    const char *oai_code;  /* the code an OpenAI client reads for Anthropic's type */
    const char *message;   /* in both bodies, and in every translation */
};

static const struct error_case error_cases[] = {
    {400,
     "{'error':{'message':'bad input','type':'invalid_request_error','param':null,'code':null}}",
     "{'type':'error','error':{'type':'invalid_request_error','message':'bad input'}}",
     "invalid_request_error", "null", "'bad input'"},
    {429,
     "{'error':{'message':'slow down','type':'requests','param':null,'code':"
     "'rate_limit_exceeded'}}",
     "{'type':'error','error':{'type':'rate_limit_error','message':'slow down'}}",
     "rate_limit_error", "'rate_limit_exceeded'", "'slow down'"},
    {500, "{'error':{'message':'oops','type':'server_error','param':null,'code':null}}",
     "{'type':'error','error':{'type':'api_error','message':'oops'}}", "api_error", "null",
     "'oops'"},
    {529, "{'error':{'message':'busy','type':'server_error','param':null,'code':null}}",
     "{'type':'error','error':{'type':'overloaded_error','message':'busy'}}", "overloaded_error",
     "'overloaded'", "'busy'"},
};

static cJSON *convert_error(enum tg_api client, enum tg_api wire, const char *body, int status,
                            struct tg_buf *out)
{
    struct tg_convert c;
    cJSON *req = parse_q(request_for(client));
    tg_convert_init(&c, client, wire, DOC(req), false, 1);
    tg_convert_error(&c, body, strlen(body), status, out);
    tg_convert_free(&c);
    cJSON_Delete(req);
    return cJSON_ParseWithLength(out->data ? out->data : "", out->len);
}

static void expect(const cJSON *got, const char *path, const char *want, const char *what,
                   int status)
{
    if (!path_matches(got, path, want)) {
        char *all = cJSON_PrintUnformatted(got);
        fail_msg("%s, HTTP %d: %s should be %s in %s", what, status, path, want,
                 all ? all : "(not JSON)");
    }
}

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_OF(error_cases); i++) {
        const struct error_case *e = &error_cases[i];
        char *openai = q(e->openai), *anthropic = q(e->anthropic);
        struct tg_buf out = TG_BUF_INIT;
        char want[128];

        /* pass-through: the provider's bytes */
        static const struct {
            enum tg_api api;
            bool anthropic;
        } same[] = {{CHAT, false}, {MSGS, true}, {RESP, false}};
        for (size_t k = 0; k < N_OF(same); k++) {
            const char *body = same[k].anthropic ? anthropic : openai;
            cJSON_Delete(convert_error(same[k].api, same[k].api, body, e->status, &out));
            assert_int_equal(out.len, strlen(body));
            assert_memory_equal(out.data, body, out.len);
            tg_buf_reset(&out);
        }

        /* messages <- chat: Anthropic's shape, the type from the status */
        cJSON *got = convert_error(MSGS, CHAT, openai, e->status, &out);
        snprintf(want, sizeof(want), "'%s'", e->ant_type);
        expect(got, "type", "'error'", "messages<-chat", e->status);
        expect(got, "error.type", want, "messages<-chat", e->status);
        expect(got, "error.message", e->message, "messages<-chat", e->status);
        cJSON_Delete(got);
        tg_buf_reset(&out);

        /* chat <- messages, and responses <- messages through it: OpenAI's
         * shape with Anthropic's type, and the code OpenAI clients test */
        static const enum tg_api openai_clients[] = {CHAT, RESP};
        for (size_t k = 0; k < N_OF(openai_clients); k++) {
            got = convert_error(openai_clients[k], MSGS, anthropic, e->status, &out);
            const char *what = openai_clients[k] == CHAT ? "chat<-messages" : "responses<-messages";
            expect(got, "error.type", want, what, e->status);
            expect(got, "error.code", e->oai_code, what, e->status);
            expect(got, "error.param", "null", what, e->status);
            expect(got, "error.message", e->message, what, e->status);
            cJSON_Delete(got);
            tg_buf_reset(&out);
        }

        /* responses <- chat: OpenAI's shape is Responses' too */
        cJSON_Delete(convert_error(RESP, CHAT, openai, e->status, &out));
        assert_string_equal(out.data, openai);
        tg_buf_reset(&out);

        /* a body that is no error at all (a proxy's page): made from the status */
        static const enum tg_api clients[] = {CHAT, MSGS, RESP};
        for (size_t k = 0; k < N_OF(clients); k++) {
            enum tg_api wire = clients[k] == MSGS ? CHAT : MSGS;
            got = convert_error(clients[k], wire, "<html>busy</html>", e->status, &out);
            snprintf(want, sizeof(want), "'upstream answered HTTP %d'", e->status);
            expect(got, "error.message", want, api_name(clients[k]), e->status);
            if (clients[k] == MSGS) {
                snprintf(want, sizeof(want), "'%s'", e->ant_type);
                expect(got, "error.type", want, "messages<-chat", e->status);
            }
            cJSON_Delete(got);
            tg_buf_reset(&out);
        }
        tg_buf_free(&out);
        free(openai);
        free(anthropic);
    }
}

/* ==== streams ==== */

/* What a provider's stream says, as its wire bytes are built. */
struct wire_opts {
    const char *finish; /* chat's finish_reason, or Anthropic's stop_reason */
    bool terminator;    /* chat: data: [DONE] at the end */
    bool usage;         /* chat: the usage chunk */
    bool azure;         /* chat: Azure's opening chunk of prompt_filter_results (no id) */
};

/* Appends one event the way providers vary them: CRLF or LF line ends. */
static void put_event(struct tg_buf *b, const char *name, const char *data_q, int i)
{
    const char *eol = i % 3 == 1 ? "\r\n" : "\n";
    char *data = q(data_q);
    if (name)
        tg_buf_printf(b, "event: %s%s", name, eol);
    tg_buf_printf(b, "data: %s%s%s", data, eol, eol);
    free(data);
}

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-X','object':'chat.completion.chunk','created':1700000000,'model':'gpt-4o',"   \
    "'choices':[{'index':0,'delta':" delta ",'logprobs':null,'finish_reason':" finish "}]}"

/* An OpenAI-compatible stream: reasoning (DeepSeek's field), text with a
 * two-byte character, a tool call in pieces, the finish, the usage chunk
 * with cached tokens, [DONE]; a keep-alive comment among them. */
static void chat_wire(const struct wire_opts *o, struct tg_buf *b)
{
    char finish[256];
    snprintf(finish, sizeof(finish), CHUNK("{}", "'%s'"), o->finish);
    const char *const chunks[] = {
        CHUNK("{'role':'assistant','content':''}", "null"),
        CHUNK("{'reasoning_content':'Th\xc3\xa9'}", "null"),
        CHUNK("{'reasoning_content':'nk.'}", "null"),
        CHUNK("{'content':'Par'}", "null"),
        CHUNK("{'content':'is.'}", "null"),
        CHUNK("{'tool_calls':[{'index':0,'id':'call_A1','type':'function','function':"
              "{'name':'get_weather','arguments':''}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\':'}}]}", "null"),
        CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'\\'Paris\\'}'}}]}", "null"),
        finish,
    };
    if (o->azure)
        put_event(b, NULL,
                  "{'choices':[],'created':0,'id':'','model':'','object':'',"
                  "'prompt_filter_results':[{'prompt_index':0,'content_filter_results':{}}]}",
                  0);
    for (size_t i = 0; i < N_OF(chunks); i++) {
        if (i == 4)
            tg_buf_puts(b, ": OPENROUTER PROCESSING\n\n");
        /* the finish and usage chunks end in CRLF, so that a read can end
         * between the CR and the LF on either side of the usage chunk */
        put_event(b, NULL, chunks[i], i + 1 == N_OF(chunks) ? 1 : (int)i);
    }
    if (o->usage)
        put_event(b, NULL,
                  "{'id':'chatcmpl-X','object':'chat.completion.chunk','created':1700000000,"
                  "'model':'gpt-4o','choices':[],'usage':{'prompt_tokens':30,"
                  "'completion_tokens':9,'total_tokens':39,'prompt_tokens_details':"
                  "{'cached_tokens':20}}}",
                  1);
    if (o->terminator)
        tg_buf_puts(b, "data: [DONE]\n\n");
}

/* Anthropic's stream: message_start with cached input, ping, a thinking
 * block with its signature, a text block, a tool_use block in pieces,
 * message_delta, message_stop. */
static void messages_wire(const struct wire_opts *o, struct tg_buf *b)
{
    char delta[200];
    snprintf(delta, sizeof(delta),
             "{'type':'message_delta','delta':{'stop_reason':'%s','stop_sequence':null},"
             "'usage':{'output_tokens':9}}",
             o->finish);
#define BLOCK_DELTA(i, d) "{'type':'content_block_delta','index':" #i ",'delta':" d "}"
    const struct {
        const char *name, *data;
    } evs[] = {
        {"message_start",
         "{'type':'message_start','message':{'id':'msg_X','type':'message','role':'assistant',"
         "'model':'claude-x','content':[],'stop_reason':null,'stop_sequence':null,'usage':"
         "{'input_tokens':10,'cache_creation_input_tokens':0,'cache_read_input_tokens':20,"
         "'output_tokens':1}}}"},
        {"content_block_start", "{'type':'content_block_start','index':0,'content_block':"
                                "{'type':'thinking','thinking':'','signature':''}}"},
        {"ping", "{'type': 'ping'}"},
        {"content_block_delta",
         BLOCK_DELTA(0, "{'type':'thinking_delta','thinking':'Th\xc3\xa9'}")},
        {"content_block_delta", BLOCK_DELTA(0, "{'type':'thinking_delta','thinking':'nk.'}")},
        {"content_block_delta", BLOCK_DELTA(0, "{'type':'signature_delta','signature':'EqQB'}")},
        {"content_block_stop", "{'type':'content_block_stop','index':0}"},
        {"content_block_start", "{'type':'content_block_start','index':1,'content_block':"
                                "{'type':'text','text':''}}"},
        {"content_block_delta", BLOCK_DELTA(1, "{'type':'text_delta','text':'Par'}")},
        {"content_block_delta", BLOCK_DELTA(1, "{'type':'text_delta','text':'is.'}")},
        {"content_block_stop", "{'type':'content_block_stop','index':1}"},
        {"content_block_start",
         "{'type':'content_block_start','index':2,'content_block':{'type':'tool_use','id':"
         "'toolu_A1','name':'get_weather','input':{}}}"},
        {"content_block_delta", BLOCK_DELTA(2, "{'type':'input_json_delta','partial_json':''}")},
        {"content_block_delta",
         BLOCK_DELTA(2, "{'type':'input_json_delta','partial_json':'{\\'city\\':'}")},
        {"content_block_delta",
         BLOCK_DELTA(2, "{'type':'input_json_delta','partial_json':'\\'Paris\\'}'}")},
        {"content_block_stop", "{'type':'content_block_stop','index':2}"},
        {"message_delta", delta},
        {"message_stop", "{'type':'message_stop'}"},
    };
#undef BLOCK_DELTA
    for (size_t i = 0; i < N_OF(evs); i++) {
        if (i == 9)
            tg_buf_puts(b, ": keep-alive\r\n\r\n");
        put_event(b, evs[i].name, evs[i].data, (int)i);
    }
}

#define RESP_HEAD(status)                                                                          \
    "{'id':'resp_X','object':'response','created_at':1700000000,'status':'" status "',"            \
    "'model':'gpt-4o-2024-08-06'"
#define RESP_MSG(status, content)                                                                  \
    "{'id':'msg_1','type':'message','status':'" status "','role':'assistant','content':" content "}"
#define RESP_CALL(status, args)                                                                    \
    "{'id':'fc_1','type':'function_call','status':'" status "','call_id':'call_A1','name':"        \
    "'get_weather','arguments':'" args "'}"
#define RESP_TEXT(t) "{'type':'output_text','text':'" t "','annotations':[]}"

/* OpenAI's Responses stream, as its API sends it (passed through only). */
/* clang-format off */
static const struct {
    const char *name, *data;
} responses_events[] = {
    {"response.created",
     "{'type':'response.created','sequence_number':0,'response':"
     RESP_HEAD("in_progress") ",'output':[],'usage':null}}"},
    {"response.in_progress",
     "{'type':'response.in_progress','sequence_number':1,'response':"
     RESP_HEAD("in_progress") ",'output':[],'usage':null}}"},
    {"response.output_item.added",
     "{'type':'response.output_item.added','sequence_number':2,'output_index':0,'item':"
     RESP_MSG("in_progress", "[]") "}"},
    {"response.content_part.added",
     "{'type':'response.content_part.added','sequence_number':3,'item_id':'msg_1',"
     "'output_index':0,'content_index':0,'part':" RESP_TEXT("") "}"},
    {"response.output_text.delta",
     "{'type':'response.output_text.delta','sequence_number':4,'item_id':'msg_1',"
     "'output_index':0,'content_index':0,'delta':'Par'}"},
    {"response.output_text.delta",
     "{'type':'response.output_text.delta','sequence_number':5,'item_id':'msg_1',"
     "'output_index':0,'content_index':0,'delta':'is.'}"},
    {"response.output_text.done",
     "{'type':'response.output_text.done','sequence_number':6,'item_id':'msg_1',"
     "'output_index':0,'content_index':0,'text':'Paris.'}"},
    {"response.content_part.done",
     "{'type':'response.content_part.done','sequence_number':7,'item_id':'msg_1',"
     "'output_index':0,'content_index':0,'part':" RESP_TEXT("Paris.") "}"},
    {"response.output_item.done",
     "{'type':'response.output_item.done','sequence_number':8,'output_index':0,'item':"
     RESP_MSG("completed", "[" RESP_TEXT("Paris.") "]") "}"},
    {"response.output_item.added",
     "{'type':'response.output_item.added','sequence_number':9,'output_index':1,'item':"
     RESP_CALL("in_progress", "") "}"},
    {"response.function_call_arguments.delta",
     "{'type':'response.function_call_arguments.delta','sequence_number':10,'item_id':'fc_1',"
     "'output_index':1,'delta':'{\\'city\\':\\'Paris\\'}'}"},
    {"response.function_call_arguments.done",
     "{'type':'response.function_call_arguments.done','sequence_number':11,'item_id':'fc_1',"
     "'output_index':1,'arguments':'{\\'city\\':\\'Paris\\'}'}"},
    {"response.output_item.done",
     "{'type':'response.output_item.done','sequence_number':12,'output_index':1,'item':"
     RESP_CALL("completed", "{\\'city\\':\\'Paris\\'}") "}"},
    {"response.completed",
     "{'type':'response.completed','sequence_number':13,'response':" RESP_HEAD("completed")
     ",'output':[" RESP_MSG("completed", "[" RESP_TEXT("Paris.") "]") ","
     RESP_CALL("completed", "{\\'city\\':\\'Paris\\'}") "],"
     "'usage':{'input_tokens':30,'input_tokens_details':{'cached_tokens':20},"
     "'output_tokens':9,'output_tokens_details':{'reasoning_tokens':0},'total_tokens':39}}}"},
};
/* clang-format on */

static void responses_wire(const struct wire_opts *o, struct tg_buf *b)
{
    (void)o;
    for (size_t i = 0; i < N_OF(responses_events); i++) {
        if (i == 5)
            tg_buf_puts(b, ": keep-alive\n\n");
        /* the last with LF: a CR that ends the bytes leaves its LF to a read
         * that never comes, and a relay of raw bytes one byte short */
        put_event(b, responses_events[i].name, responses_events[i].data,
                  i + 1 < N_OF(responses_events) ? (int)i : 0);
    }
}

static void wire_bytes(enum tg_api wire, const struct wire_opts *o, struct tg_buf *b)
{
    if (wire == CHAT)
        chat_wire(o, b);
    else if (wire == MSGS)
        messages_wire(o, b);
    else
        responses_wire(o, b);
}

/* One attempt's stream as the gateway reads it: the SSE parser's events
 * into tg_convert_event until the client's terminator. */
struct run {
    struct tg_convert c;
    struct tg_buf out;
    enum tg_fmt_result last;
    int events;   /* events given to the converter */
    bool limited; /* stop after `limit` events, as a cut upstream does */
    int limit;
};

/* chat's usage chunk: no choices, a usage (what formats/read.h reports as
 * usage_only; the wires here write "choices":[] only there). */
static bool usage_only(enum tg_api wire, const char *data, size_t len)
{
    return wire == CHAT && memmem(data, len, "\"choices\":[]", 12) != NULL;
}

static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct run *r = ctx;
    if (!ev->has_data) {
        /* keep-alives: a pass-through relays them (the gateway does), a
         * translated stream has its own rhythm */
        if (tg_convert_passes(&r->c))
            tg_buf_append(&r->out, ev->raw, ev->raw_len);
        return true;
    }
    if (r->limited && r->events == r->limit)
        return false;
    r->events++;
    r->last = tg_convert_event(&r->c, ev->event, ev->data, ev->data_len, ev->raw, ev->raw_len,
                               usage_only(r->c.wire, ev->data, ev->data_len), &r->out);
    if (r->last == TG_FMT_BAD)
        fail_msg("event %d (%s) unreadable: %s", r->events, ev->event, ev->data);
    return r->last == TG_FMT_CONTINUE;
}

/* Feeds bytes in two pieces cut at `cut`, each an exact-size copy so that a
 * read past either shows. The caller frees r->out and tg_convert_free. */
static void run_stream(enum tg_api client, enum tg_api wire, const cJSON *req, bool usage_added,
                       const char *bytes, size_t len, size_t cut, struct run *r)
{
    bool limited = r->limited;
    int limit = r->limit;
    memset(r, 0, sizeof(*r));
    r->limited = limited;
    r->limit = limit;
    tg_convert_init(&r->c, client, wire, DOC(req), usage_added, 1234);
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 16);
    size_t from[2] = {0, cut}, to[2] = {cut, len};
    for (int i = 0; i < 2; i++) {
        size_t n = to[i] - from[i];
        char *piece = malloc(n ? n : 1);
        memcpy(piece, bytes + from[i], n);
        if (r->last == TG_FMT_CONTINUE)
            tg_sse_feed(&p, piece, n, on_event, r);
        free(piece);
    }
    tg_sse_free(&p);
}

/* ---- what a client reads from a stream of its format ---- */

static cJSON *add_str(cJSON *obj, const char *key, const char *s)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return cJSON_AddStringToObject(obj, key, s);
    size_t n = strlen(v->valuestring);
    char *joined = malloc(n + strlen(s) + 1);
    memcpy(joined, v->valuestring, n);
    strcpy(joined + n, s);
    cJSON_SetValuestring(v, joined);
    free(joined);
    return v;
}

static void set_item(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddItemToObject(obj, key, cJSON_Duplicate(v, true));
}

/* A chat stream checked as the OpenAI SDKs read it (chunks, at most one
 * finish_reason, an error chunk only last but [DONE], [DONE] last and once)
 * and put together: {id, model, content, reasoning_content, tool_calls:
 * [{id, name, arguments}] by index, finish_reason, usage, error}. */
static cJSON *read_chat(const struct events *e)
{
    cJSON *a = cJSON_CreateObject();
    cJSON *calls = cJSON_AddArrayToObject(a, "tool_calls");
    if (e->n == 0 || e->data[e->n - 1])
        fail_msg("a chat stream ends with [DONE]");
    for (int i = 0; i + 1 < e->n; i++) {
        const cJSON *d = e->data[i];
        if (!d || e->name[i][0])
            fail_msg("chunk %d: [DONE] before the end, or an event: name", i);
        if (at(d, "error")) {
            if (i != e->n - 2)
                fail_msg("chunk %d: an error before the end", i);
            set_item(a, "error", at(d, "error"));
            continue;
        }
        if (!path_matches(d, "object", "'chat.completion.chunk'"))
            fail_msg("chunk %d: not a chat.completion.chunk", i);
        set_item(a, "id", at(d, "id"));
        set_item(a, "model", at(d, "model"));
        if (at(d, "usage") && !cJSON_IsNull(at(d, "usage")))
            set_item(a, "usage", at(d, "usage"));
        const cJSON *choices = at(d, "choices");
        if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) > 1)
            fail_msg("chunk %d: choices", i);
        const cJSON *delta = at(d, "choices.0.delta");
        if (!choices->child)
            continue;
        const cJSON *s;
        if (cJSON_IsString(s = at(delta, "content")))
            add_str(a, "content", s->valuestring);
        if (cJSON_IsString(s = at(delta, "reasoning_content")))
            add_str(a, "reasoning_content", s->valuestring);
        const cJSON *tc;
        cJSON_ArrayForEach(tc, at(delta, "tool_calls"))
        {
            int index = at(tc, "index")->valueint;
            while (cJSON_GetArraySize(calls) <= index)
                cJSON_AddItemToArray(calls, cJSON_CreateObject());
            cJSON *call = cJSON_GetArrayItem(calls, index);
            if (cJSON_IsString(s = at(tc, "id"))) {
                if (at(call, "id"))
                    fail_msg("chunk %d: call %d named twice", i, index);
                cJSON_AddStringToObject(call, "id", s->valuestring);
                cJSON_AddStringToObject(call, "name", at(tc, "function.name")->valuestring);
            }
            if (cJSON_IsString(s = at(tc, "function.arguments")))
                add_str(call, "arguments", s->valuestring);
        }
        const cJSON *finish = at(d, "choices.0.finish_reason");
        if (cJSON_IsString(finish)) {
            if (at(a, "finish_reason"))
                fail_msg("chunk %d: a second finish_reason", i);
            cJSON_AddStringToObject(a, "finish_reason", finish->valuestring);
        }
    }
    return a;
}

/* A Messages stream checked as the Anthropic SDKs read it: event names
 * their data's type; message_start first; content_block_start indexes
 * 0, 1, 2, ... each opened once, while no other is open; deltas and stops
 * on the open block; message_delta with no block open, then message_stop
 * last; or an error event last. Put together: {id, model, content: the
 * blocks (text, thinking, tool_use with its input parsed), stop_reason,
 * usage, error}. */
static cJSON *read_messages(const struct events *e)
{
    cJSON *a = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(a, "content");
    int open = -1;
    bool started = false, delta_seen = false;
    for (int i = 0; i < e->n; i++) {
        const char *name = e->name[i];
        const cJSON *d = e->data[i];
        if (!d)
            fail_msg("event %d (%s): no data", i, name);
        char want[80];
        snprintf(want, sizeof(want), "'%s'", name);
        if (!path_matches(d, "type", want))
            fail_msg("event %d (%s): its data's type differs", i, name);
        bool last = i == e->n - 1;
        if (strcmp(name, "ping") == 0)
            continue;
        if (strcmp(name, "error") == 0) {
            if (!last || !cJSON_IsString(at(d, "error.type")) ||
                !cJSON_IsString(at(d, "error.message")))
                fail_msg("event %d: an error event must be last, with type and message", i);
            set_item(a, "error", at(d, "error"));
            continue;
        }
        if (!started != (strcmp(name, "message_start") == 0))
            fail_msg("event %d (%s): message_start must come first, once", i, name);
        if (delta_seen && strcmp(name, "message_stop") != 0)
            fail_msg("event %d (%s) after message_delta", i, name);
        int index = cJSON_IsNumber(at(d, "index")) ? at(d, "index")->valueint : -1;
        if (strcmp(name, "message_start") == 0) {
            started = true;
            set_item(a, "id", at(d, "message.id"));
            set_item(a, "model", at(d, "message.model"));
        } else if (strcmp(name, "content_block_start") == 0) {
            if (open != -1 || index != cJSON_GetArraySize(content))
                fail_msg("event %d: block %d starts while %d is open, or out of order", i, index,
                         open);
            open = index;
            cJSON_AddItemToArray(content, cJSON_Duplicate(at(d, "content_block"), true));
        } else if (strcmp(name, "content_block_delta") == 0) {
            if (index != open || open < 0)
                fail_msg("event %d: a delta for block %d, %d is open", i, index, open);
            cJSON *block = cJSON_GetArrayItem(content, open);
            const char *type = at(d, "delta.type")->valuestring;
            const char *block_type = at(block, "type")->valuestring;
            if (strcmp(type, "text_delta") == 0 && strcmp(block_type, "text") == 0)
                add_str(block, "text", at(d, "delta.text")->valuestring);
            else if (strcmp(type, "thinking_delta") == 0 && strcmp(block_type, "thinking") == 0)
                add_str(block, "thinking", at(d, "delta.thinking")->valuestring);
            else if (strcmp(type, "signature_delta") == 0 && strcmp(block_type, "thinking") == 0)
                set_item(block, "signature", at(d, "delta.signature"));
            else if (strcmp(type, "input_json_delta") == 0 && strcmp(block_type, "tool_use") == 0)
                add_str(block, "partial_json", at(d, "delta.partial_json")->valuestring);
            else
                fail_msg("event %d: a %s on a %s block", i, type, block_type);
        } else if (strcmp(name, "content_block_stop") == 0) {
            if (index != open || open < 0)
                fail_msg("event %d: stop of block %d, %d is open", i, index, open);
            /* a tool's input: what streamed, parsed, else what it started with */
            cJSON *block = cJSON_GetArrayItem(content, open);
            const cJSON *part = at(block, "partial_json");
            if (part && *part->valuestring) {
                cJSON *input = cJSON_Parse(part->valuestring);
                if (!input)
                    fail_msg("block %d: its input is not JSON: %s", open, part->valuestring);
                cJSON_ReplaceItemInObjectCaseSensitive(block, "input", input);
            }
            cJSON_DeleteItemFromObjectCaseSensitive(block, "partial_json");
            open = -1;
        } else if (strcmp(name, "message_delta") == 0) {
            if (open != -1)
                fail_msg("event %d: message_delta with block %d open", i, open);
            delta_seen = true;
            set_item(a, "stop_reason", at(d, "delta.stop_reason"));
            set_item(a, "usage", at(d, "usage"));
        } else if (strcmp(name, "message_stop") == 0) {
            if (!last || !delta_seen)
                fail_msg("event %d: message_stop not last, or before message_delta", i);
        } else {
            fail_msg("event %d: unknown event %s", i, name);
        }
    }
    return a;
}

/* A Responses stream checked as the OpenAI SDKs read it: event names their
 * data's type, sequence numbers strictly increasing, response.created
 * first, one terminal event (completed, incomplete, failed) and last, an
 * error event only right before response.failed. Put together:
 * {created: response.created's response, response: the terminal event's,
 * error: the error event}. */
static cJSON *read_responses(const struct events *e)
{
    cJSON *a = cJSON_CreateObject();
    double seq = -1;
    for (int i = 0; i < e->n; i++) {
        const char *name = e->name[i];
        const cJSON *d = e->data[i];
        char want[80];
        snprintf(want, sizeof(want), "'%s'", name);
        if (!d || !path_matches(d, "type", want))
            fail_msg("event %d (%s): its data's type differs", i, name);
        const cJSON *n = at(d, "sequence_number");
        if (!cJSON_IsNumber(n) || !(n->valuedouble > seq))
            fail_msg("event %d (%s): sequence_number not above %g", i, name, seq);
        seq = n->valuedouble;
        if ((i == 0) != (strcmp(name, "response.created") == 0))
            fail_msg("event %d (%s): response.created must come first, once", i, name);
        bool terminal = strcmp(name, "response.completed") == 0 ||
                        strcmp(name, "response.incomplete") == 0 ||
                        strcmp(name, "response.failed") == 0;
        if (terminal != (i == e->n - 1))
            fail_msg("event %d (%s): the terminal event must be last", i, name);
        if (strcmp(name, "error") == 0) {
            if (i != e->n - 2 || strcmp(e->name[i + 1], "response.failed") != 0)
                fail_msg("event %d: an error not followed by response.failed", i);
            set_item(a, "error", d);
        }
        if (i == 0)
            set_item(a, "created", at(d, "response"));
        if (terminal)
            set_item(a, "response", at(d, "response"));
    }
    if (!at(a, "response"))
        fail_msg("a Responses stream without its terminal event");
    return a;
}

/* The client's output, checked as a stream of its format, put together. */
static cJSON *read_client(enum tg_api client, const struct tg_buf *out)
{
    struct events e;
    parse_events(out, &e);
    cJSON *a = client == CHAT   ? read_chat(&e)
               : client == MSGS ? read_messages(&e)
                                : read_responses(&e);
    free_events(&e);
    return a;
}

/* ---- the pairs ---- */

struct stream_row {
    const char *path; /* in what read_client put together */
    const char *want;
};

struct stream_case {
    const char *label;
    enum tg_api client, wire;
    const char *request; /* NULL: request_for(client) */
    bool usage_added;
    struct wire_opts wire_opts;
    enum { PASSES, PASSES_NO_USAGE, TRANSLATED } bytes; /* what the output is to the wire */
    size_t step; /* cuts 1, 1 + step, ...: a variant of a pair (another finish, usage asked
                  * or not) need not take every cut its pair takes */
    struct stream_row rows[12];
};

/* clang-format off */
#define CHAT_WIRE(finish) {finish, true, true, false}
#define MSGS_WIRE(stop) {stop, true, false, false}
/* clang-format on */

static const struct stream_case stream_cases[] = {
    {"chat<-chat",
     CHAT,
     CHAT,
     NULL,
     false,
     CHAT_WIRE("tool_calls"),
     PASSES,
     1,
     {{"content", "'Paris.'"},
      {"tool_calls",
       "[{'id':'call_A1','name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}]"},
      {"usage.prompt_tokens_details", "{'cached_tokens':20}"}}},
    /* the usage chunk asked for on the client's behalf is not the client's,
     * and the bytes around it stay the same wherever a read ends */
    {"chat<-chat, usage added",
     CHAT,
     CHAT,
     CHAT_REQ,
     true,
     CHAT_WIRE("tool_calls"),
     PASSES_NO_USAGE,
     1,
     {{"usage", "!"}, {"finish_reason", "'tool_calls'"}}},
    {"chat<-messages",
     CHAT,
     MSGS,
     NULL,
     false,
     MSGS_WIRE("tool_use"),
     TRANSLATED,
     1,
     {{"id", "'msg_X'"},
      {"model", "'claude-x'"},
      {"content", "'Paris.'"},
      {"reasoning_content", "'Th\xc3\xa9nk.'"},
      {"tool_calls",
       "[{'id':'toolu_A1','name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}]"},
      {"finish_reason", "'tool_calls'"},
      {"usage",
       "{'prompt_tokens':30,'completion_tokens':9,'total_tokens':39,'prompt_tokens_details':"
       "{'cached_tokens':20}}"}}},
    {"chat<-messages, no usage asked",
     CHAT,
     MSGS,
     CHAT_REQ,
     false,
     MSGS_WIRE("max_tokens"),
     TRANSLATED,
     13,
     {{"usage", "!"}, {"finish_reason", "'length'"}}},
    {"messages<-messages",
     MSGS,
     MSGS,
     NULL,
     false,
     MSGS_WIRE("tool_use"),
     PASSES,
     1,
     {{"content.2.id", "'toolu_A1'"}, {"content.0.signature", "'EqQB'"}}},
    {"messages<-chat",
     MSGS,
     CHAT,
     NULL,
     true,
     CHAT_WIRE("tool_calls"),
     TRANSLATED,
     1,
     {{"id", "'chatcmpl-X'"},
      {"model", "'gpt-4o'"},
      {"content",
       "[{'type':'thinking','thinking':'Th\xc3\xa9nk.','signature':''},"
       "{'type':'text','text':'Paris.'},"
       "{'type':'tool_use','id':'call_A1','name':'get_weather','input':{'city':'Paris'}}]"},
      {"stop_reason", "'tool_use'"},
      {"usage", "{'input_tokens':10,'cache_read_input_tokens':20,'output_tokens':9}"}}},
    /* Azure's first chunk has empty ids: the stream takes the first real ones */
    {"messages<-chat, azure",
     MSGS,
     CHAT,
     NULL,
     true,
     {"stop", true, true, true},
     TRANSLATED,
     13,
     {{"id", "'chatcmpl-X'"}, {"model", "'gpt-4o'"}, {"stop_reason", "'end_turn'"}}},
    {"responses<-chat, azure",
     RESP,
     CHAT,
     NULL,
     true,
     {"stop", true, true, true},
     TRANSLATED,
     13,
     {{"created.id", "'resp_X'"},
      {"response.id", "'resp_X'"},
      {"response.model", "'gpt-4o'"},
      {"response.created_at", "1700000000"}}},
    {"messages<-chat, length",
     MSGS,
     CHAT,
     NULL,
     true,
     CHAT_WIRE("length"),
     TRANSLATED,
     13,
     {{"stop_reason", "'max_tokens'"}}},
    {"responses<-responses",
     RESP,
     RESP,
     NULL,
     false,
     {NULL, false, false, false},
     PASSES,
     1,
     {{"response.id", "'resp_X'"}, {"response.output.1.call_id", "'call_A1'"}}},
    {"responses<-chat",
     RESP,
     CHAT,
     NULL,
     true,
     CHAT_WIRE("tool_calls"),
     TRANSLATED,
     1,
     {{"created.id", "'resp_X'"},
      {"response.id", "'resp_X'"},
      {"response.status", "'completed'"},
      {"response.instructions", "'be brief'"},
      {"response.output.0.summary", "[{'type':'summary_text','text':'Th\xc3\xa9nk.'}]"},
      {"response.output.1.content.0.text", "'Paris.'"},
      {"response.output.2.call_id", "'call_A1'"},
      {"response.output.2.arguments", "'{\\'city\\':\\'Paris\\'}'"},
      {"response.usage",
       "{'input_tokens':30,'input_tokens_details':{'cached_tokens':20},'output_tokens':9,"
       "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':39}"}}},
    {"responses<-chat, length",
     RESP,
     CHAT,
     NULL,
     true,
     CHAT_WIRE("length"),
     TRANSLATED,
     13,
     {{"response.status", "'incomplete'"},
      {"response.incomplete_details", "{'reason':'max_output_tokens'}"}}},
    {"responses<-messages",
     RESP,
     MSGS,
     NULL,
     false,
     MSGS_WIRE("tool_use"),
     TRANSLATED,
     1,
     {{"response.id", "'resp_msg_X'"},
      {"response.model", "'claude-x'"},
      {"response.status", "'completed'"},
      {"response.output.0.type", "'reasoning'"},
      {"response.output.0.summary.0.text", "'Th\xc3\xa9nk.'"},
      {"response.output.1.content.0.text", "'Paris.'"},
      {"response.output.2.call_id", "'toolu_A1'"},
      {"response.output.2.arguments", "'{\\'city\\':\\'Paris\\'}'"},
      {"response.usage",
       "{'input_tokens':30,'input_tokens_details':{'cached_tokens':20},'output_tokens':9,"
       "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':39}"}}},
    {"responses<-messages, max_tokens",
     RESP,
     MSGS,
     NULL,
     false,
     MSGS_WIRE("max_tokens"),
     TRANSLATED,
     13,
     {{"response.status", "'incomplete'"},
      {"response.incomplete_details", "{'reason':'max_output_tokens'}"},
      /* the item the limit cut is unfinished, the ones before it whole */
      {"response.output.1.status", "'completed'"},
      {"response.output.2.status", "'incomplete'"}}},
};

/* The wire's bytes, less chat's usage chunk when the gateway asked for it:
 * what a pass-through sends. */
static void passed_bytes(const struct stream_case *k, struct tg_buf *b)
{
    struct wire_opts o = k->wire_opts;
    if (k->bytes == PASSES_NO_USAGE)
        o.usage = false;
    wire_bytes(k->wire, &o, b);
}

static void check_rows(const struct stream_case *k, const cJSON *got)
{
    int bad = 0;
    for (size_t i = 0; i < N_OF(k->rows) && k->rows[i].path; i++) {
        if (!path_matches(got, k->rows[i].path, k->rows[i].want)) {
            print_error("%s: ", k->label);
            report(i, k->rows[i].path, k->rows[i].want, got);
            bad++;
        }
    }
    if (bad)
        fail_msg("%s: %d row(s) wrong", k->label, bad);
}

static void test_streams_every_cut(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_OF(stream_cases); i++) {
        const struct stream_case *k = &stream_cases[i];
        cJSON *req = parse_q(k->request ? k->request : request_for(k->client));
        struct tg_buf bytes = TG_BUF_INIT;
        wire_bytes(k->wire, &k->wire_opts, &bytes);
        struct run whole = {.limit = 0};
        run_stream(k->client, k->wire, req, k->usage_added, bytes.data, bytes.len, 0, &whole);
        if (whole.last != TG_FMT_DONE && !tg_convert_passes(&whole.c))
            fail_msg("%s: the stream did not end (%d)", k->label, whole.last);
        if (k->bytes != TRANSLATED) {
            struct tg_buf want = TG_BUF_INIT;
            passed_bytes(k, &want);
            if (whole.out.len != want.len || memcmp(whole.out.data, want.data, want.len) != 0)
                fail_msg("%s: not the provider's bytes:\n%.*s", k->label, (int)whole.out.len,
                         whole.out.data);
            tg_buf_free(&want);
        }
        cJSON *got = read_client(k->client, &whole.out);
        check_rows(k, got);
        cJSON_Delete(got);
        for (size_t cut = 1; cut < bytes.len; cut += k->step) {
            struct run r = {.limit = 0};
            run_stream(k->client, k->wire, req, k->usage_added, bytes.data, bytes.len, cut, &r);
            if (r.last != whole.last || r.out.len != whole.out.len ||
                memcmp(r.out.data, whole.out.data, r.out.len) != 0) {
                size_t d = 0;
                while (d < r.out.len && d < whole.out.len && r.out.data[d] == whole.out.data[d])
                    d++;
                fail_msg("%s: cut at %zu (%.*s|%.*s) gives other bytes from %zu: %zu vs %zu: "
                         "[%.*s] vs [%.*s]",
                         k->label, cut, 10, bytes.data + cut - 10, 10, bytes.data + cut, d,
                         r.out.len, whole.out.len, 20, r.out.data + d, 20, whole.out.data + d);
            }
            tg_buf_free(&r.out);
            tg_convert_free(&r.c);
        }
        tg_buf_free(&whole.out);
        tg_convert_free(&whole.c);
        tg_buf_free(&bytes);
        cJSON_Delete(req);
    }
}

/* Messages -> chat -> Messages: Anthropic's own stream, through the hub and
 * back, keeps its blocks (thinking included, unsigned), ids, stop reason
 * and usage. */
static void test_stream_messages_round_trip(void **state)
{
    (void)state;
    cJSON *req = parse_q(MSGS_REQ);
    struct wire_opts o = MSGS_WIRE("tool_use");
    struct tg_buf bytes = TG_BUF_INIT;
    messages_wire(&o, &bytes);
    /* to a chat client that asked for usage, as the hub would */
    cJSON *chat_req = parse_q(CHAT_REQ_USAGE);
    struct run hub = {.limit = 0};
    run_stream(CHAT, MSGS, chat_req, false, bytes.data, bytes.len, 0, &hub);
    assert_int_equal(hub.last, TG_FMT_DONE);
    struct run back = {.limit = 0};
    run_stream(MSGS, CHAT, req, true, hub.out.data, hub.out.len, hub.out.len / 2, &back);
    assert_int_equal(back.last, TG_FMT_DONE);
    cJSON *original = read_client(MSGS, &bytes), *got = read_client(MSGS, &back.out);
    static const char *const same[] = {"id",        "model",       "content.1",
                                       "content.2", "stop_reason", "content.0.thinking"};
    for (size_t i = 0; i < N_OF(same); i++) {
        if (!cJSON_Compare(at(original, same[i]), at(got, same[i]), true))
            fail_msg("%s changed:\n%s\n%s", same[i], cJSON_PrintUnformatted(original),
                     cJSON_PrintUnformatted(got));
    }
    assert_true(path_matches(got, "usage",
                             "{'input_tokens':10,'cache_read_input_tokens':20,'output_tokens':9}"));
    cJSON_Delete(original);
    cJSON_Delete(got);
    tg_buf_free(&back.out);
    tg_convert_free(&back.c);
    tg_buf_free(&hub.out);
    tg_convert_free(&hub.c);
    tg_buf_free(&bytes);
    cJSON_Delete(chat_req);
    cJSON_Delete(req);
}

/* A Responses client gets one response whether it streams or not: the
 * streamed response.completed (or .incomplete) and the same answer whole
 * agree on the output items, their ids and statuses, and the usage. */
static void test_stream_equals_whole(void **state)
{
    (void)state;
    static const struct {
        enum tg_api wire;
        const char *finish;
        const char *whole;
    } rows[] = {
        {CHAT, "tool_calls", CHAT_ANSWER("tool_calls")},
        {CHAT, "length", CHAT_ANSWER("length")},
        {MSGS, "tool_use", MSGS_ANSWER("tool_use")},
        {MSGS, "max_tokens", MSGS_ANSWER("max_tokens")},
    };
    cJSON *req = parse_q(RESP_REQ);
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct wire_opts o = {rows[i].finish, true, true, false};
        struct tg_buf bytes = TG_BUF_INIT, out = TG_BUF_INIT;
        wire_bytes(rows[i].wire, &o, &bytes);
        struct run r = {.limit = 0};
        run_stream(RESP, rows[i].wire, req, true, bytes.data, bytes.len, 0, &r);
        cJSON *streamed = read_client(RESP, &r.out);
        int rc;
        cJSON *whole = convert_answer(RESP, rows[i].wire, rows[i].whole, &out, &rc);
        assert_int_equal(rc, 0);
        static const char *const members[] = {"id",     "model", "status", "incomplete_details",
                                              "output", "usage"};
        for (size_t m = 0; m < N_OF(members); m++) {
            if (!cJSON_Compare(at(at(streamed, "response"), members[m]), at(whole, members[m]),
                               true))
                fail_msg("%s<-%s, %s: %s differs:\n stream %s\n whole  %s", api_name(RESP),
                         api_name(rows[i].wire), rows[i].finish, members[m],
                         cJSON_PrintUnformatted(at(streamed, "response")),
                         cJSON_PrintUnformatted(whole));
        }
        cJSON_Delete(whole);
        cJSON_Delete(streamed);
        tg_buf_free(&out);
        tg_buf_free(&r.out);
        tg_convert_free(&r.c);
        tg_buf_free(&bytes);
    }
    cJSON_Delete(req);
}

/* A chat provider that sends its finish_reason and no [DONE]: the gateway
 * calls tg_convert_end, and a translating client gets its terminator; a
 * chat client's pass-through is the caller's to close. Once only. */
static void test_stream_end_without_done(void **state)
{
    (void)state;
    static const enum tg_api clients[] = {CHAT, MSGS, RESP};
    struct wire_opts o = {"stop", false, true, false};
    struct tg_buf bytes = TG_BUF_INIT;
    chat_wire(&o, &bytes);
    for (size_t i = 0; i < N_OF(clients); i++) {
        cJSON *req = parse_q(request_for(clients[i]));
        for (size_t cut = 0; cut < bytes.len; cut += 97) {
            struct run r = {.limit = 0};
            run_stream(clients[i], CHAT, req, true, bytes.data, bytes.len, cut, &r);
            assert_int_equal(r.last, TG_FMT_CONTINUE);
            size_t before = r.out.len;
            tg_convert_end(&r.c, &r.out);
            if (clients[i] == CHAT) {
                assert_int_equal(r.out.len, before);
            } else {
                assert_true(r.out.len > before);
                assert_true(r.c.ended);
                cJSON *got = read_client(clients[i], &r.out);
                if (clients[i] == MSGS) {
                    assert_true(path_matches(got, "stop_reason", "'end_turn'"));
                    assert_true(path_matches(got, "content.2.id", "'call_A1'"));
                    assert_true(path_matches(got, "usage.cache_read_input_tokens", "20"));
                } else {
                    assert_true(path_matches(got, "response.status", "'completed'"));
                    assert_true(path_matches(got, "response.usage.total_tokens", "39"));
                }
                cJSON_Delete(got);
                /* a second end adds nothing */
                before = r.out.len;
                tg_convert_end(&r.c, &r.out);
                assert_int_equal(r.out.len, before);
            }
            tg_buf_free(&r.out);
            tg_convert_free(&r.c);
        }
        cJSON_Delete(req);
    }
    /* a Messages wire always sends message_stop: nothing is owed */
    cJSON *req = parse_q(RESP_REQ);
    struct tg_convert c;
    tg_convert_init(&c, RESP, MSGS, DOC(req), false, 1);
    struct tg_buf out = TG_BUF_INIT;
    tg_convert_end(&c, &out);
    assert_int_equal(out.len, 0);
    tg_convert_free(&c);
    cJSON_Delete(req);
    tg_buf_free(&bytes);
}

/* ---- the in-band failure ---- */

#define CUT_ERROR                                                                                  \
    "{\"message\":\"upstream cut\",\"type\":\"server_error\",\"code\":\"upstream_cut\"}"

/* The stream of each pair cut after every one of its events but the last,
 * then failed by the gateway: a valid stream of the client's format that
 * ends with its in-band error. */
static void test_stream_fail_every_event(void **state)
{
    (void)state;
    static const struct {
        enum tg_api client, wire;
    } pairs[] = {{CHAT, CHAT}, {CHAT, MSGS}, {MSGS, MSGS}, {MSGS, CHAT},
                 {RESP, RESP}, {RESP, CHAT}, {RESP, MSGS}};
    for (size_t i = 0; i < N_OF(pairs); i++) {
        enum tg_api client = pairs[i].client, wire = pairs[i].wire;
        cJSON *req = parse_q(request_for(client));
        struct wire_opts o = wire == CHAT ? (struct wire_opts)CHAT_WIRE("stop")
                                          : (struct wire_opts)MSGS_WIRE("end_turn");
        struct tg_buf bytes = TG_BUF_INIT;
        wire_bytes(wire, &o, &bytes);
        struct run whole = {.limit = 0};
        run_stream(client, wire, req, true, bytes.data, bytes.len, 0, &whole);
        int n = whole.events;
        tg_buf_free(&whole.out);
        tg_convert_free(&whole.c);
        for (int k = 0; k < n; k++) {
            struct run r = {.limited = true, .limit = k};
            run_stream(client, wire, req, true, bytes.data, bytes.len, bytes.len / 3, &r);
            assert_int_equal(r.events, k);
            tg_convert_fail(&r.c, CUT_ERROR, &r.out);
            assert_true(r.c.ended);
            size_t len = r.out.len;
            tg_convert_end(&r.c, &r.out);
            assert_int_equal(r.out.len, len);
            cJSON *got = read_client(client, &r.out);
            const char *what = client == RESP ? "response.error.message" : "error.message";
            if (!path_matches(got, what, "'upstream cut'"))
                fail_msg("%s<-%s after %d events: %s", api_name(client), api_name(wire), k,
                         cJSON_PrintUnformatted(got));
            if (client == MSGS)
                assert_true(path_matches(got, "error.type", "'api_error'"));
            if (client == RESP) {
                assert_true(path_matches(got, "error.code", "'upstream_cut'"));
                assert_true(path_matches(got, "response.status", "'failed'"));
                /* the failed response is the one that was created */
                static const char *const same[] = {"id", "created_at", "model"};
                for (size_t m = 0; m < N_OF(same); m++) {
                    if (!cJSON_Compare(at(at(got, "created"), same[m]),
                                       at(at(got, "response"), same[m]), true))
                        fail_msg("%s<-%s after %d events: response.failed's %s is not "
                                 "response.created's: %s",
                                 api_name(client), api_name(wire), k, same[m],
                                 cJSON_PrintUnformatted(got));
                }
                if (wire == RESP && k > 0) {
                    assert_true(path_matches(got, "response.id", "'resp_X'"));
                    char want[16];
                    snprintf(want, sizeof(want), "%d", k); /* the upstream's were 0..k-1 */
                    assert_true(path_matches(got, "error.sequence_number", want));
                }
            }
            cJSON_Delete(got);
            tg_buf_free(&r.out);
            tg_convert_free(&r.c);
        }
        tg_buf_free(&bytes);
        cJSON_Delete(req);
    }
}

/* ==== the gateway's own errors ==== */

static void test_gateway_errors(void **state)
{
    (void)state;
    static const char attempts[] =
        "[{\"deployment\":\"a\",\"outcome\":\"server\",\"status\":529,\"ms\":12}]";
    static const struct {
        enum tg_api client;
        int status;
        const char *code;
        bool attempts;
        const char *want;
    } rows[] = {
        {CHAT, 502, "upstream_unavailable", true,
         "{'error':{'message':'say \\'no\\'','type':'server_error','code':'upstream_unavailable',"
         "'attempts':[{'deployment':'a','outcome':'server','status':529,'ms':12}]}}"},
        {RESP, 504, "deadline_exceeded", true,
         "{'error':{'message':'say \\'no\\'','type':'server_error','code':'deadline_exceeded',"
         "'attempts':[{'deployment':'a','outcome':'server','status':529,'ms':12}]}}"},
        {CHAT, 400, "invalid_request", false,
         "{'error':{'message':'say \\'no\\'','type':'invalid_request_error','code':"
         "'invalid_request'}}"},
        {RESP, 404, "model_not_found", false,
         "{'error':{'message':'say \\'no\\'','type':'invalid_request_error','code':"
         "'model_not_found'}}"},
        {MSGS, 502, "upstream_unavailable", true,
         "{'type':'error','error':{'type':'api_error','message':'say \\'no\\'','code':"
         "'upstream_unavailable','attempts':[{'deployment':'a','outcome':'server','status':529,"
         "'ms':12}]}}"},
        {MSGS, 529, "upstream_unavailable", true,
         "{'type':'error','error':{'type':'overloaded_error','message':'say \\'no\\'','code':"
         "'upstream_unavailable','attempts':[{'deployment':'a','outcome':'server','status':529,"
         "'ms':12}]}}"},
        {MSGS, 429, "rate_limited", false,
         "{'type':'error','error':{'type':'rate_limit_error','message':'say \\'no\\'','code':"
         "'rate_limited'}}"},
        {MSGS, 401, "invalid_api_key", false,
         "{'type':'error','error':{'type':'authentication_error','message':'say \\'no\\'',"
         "'code':'invalid_api_key'}}"},
        {MSGS, 404, "model_not_found", false,
         "{'type':'error','error':{'type':'not_found_error','message':'say \\'no\\'','code':"
         "'model_not_found'}}"},
    };
    for (size_t i = 0; i < N_OF(rows); i++) {
        struct tg_buf out = TG_BUF_INIT;
        tg_convert_gateway_error(rows[i].client, rows[i].status, rows[i].code, "say \"no\"",
                                 rows[i].attempts ? attempts : NULL, &out);
        cJSON *got = cJSON_ParseWithLength(out.data, out.len);
        if (!path_matches(got, "", rows[i].want))
            fail_msg("row %zu: %.*s", i, (int)out.len, out.data);
        cJSON_Delete(got);
        tg_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_answers_declined),
        cmocka_unit_test(test_answer_ids_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_streams_every_cut),
        cmocka_unit_test(test_stream_messages_round_trip),
        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_stream_end_without_done),
        cmocka_unit_test(test_stream_fail_every_event),
        cmocka_unit_test(test_gateway_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of what an attempt sends each HTTP provider kind
 * (upstream/provider.c, SPEC section 5): the URL, the key's header and the
 * body, as a table of cases; for `azure`, the deployment URL with its
 * api-version query and the key in api-key, never in Authorization. */
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
#include <strings.h>

#include "config/config.h"
#include "upstream/provider.h"
#include "util/json.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define AZ_URL "https://res.openai.azure.com/openai/deployments/gpt4o"
#define CHAT "{\"model\":\"client-name\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define CHAT_STREAM                                                                                \
    "{\"model\":\"client-name\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"     \
    "\"hi\"}]}"
#define EMBED "{\"model\":\"client-name\",\"input\":\"hi\"}"

/* The value of header `name` in the list (case-insensitive name), or NULL;
 * *count gets how many times it appears. */
static const char *find_header(const struct curl_slist *h, const char *name, int *count)
{
    const char *found = NULL;
    size_t n = strlen(name);
    *count = 0;
    for (; h; h = h->next) {
        if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':') {
            (*count)++;
            found = h->data + n + 1 + (h->data[n + 1] == ' ');
        }
    }
    return found;
}

struct header_case {
    const char *name;
    const char *value; /* NULL: must be absent */
};

struct build_case {
    const char *what;
    enum tg_provider_kind kind;
    const char *base_url;
    const char *api_version;
    const char *api_key;        /* NULL: none configured */
    struct tg_header_cfg extra; /* {NULL, NULL}: none */
    enum tg_api api;
    const char *body;
    bool stream;
    const char *url;
    struct header_case headers[4];
    bool usage_added;
};

static const struct build_case cases[] = {
    {"azure chat", TG_PROVIDER_AZURE, AZ_URL, "2024-10-21", "az-key", {NULL, NULL}, TG_API_CHAT,
     CHAT, false, AZ_URL "/chat/completions?api-version=2024-10-21",
     {{"api-key", "az-key"}, {"Authorization", NULL}, {"Content-Type", "application/json"}},
     false},
    {"azure completions", TG_PROVIDER_AZURE, AZ_URL, "2024-10-21", "az-key", {NULL, NULL},
     TG_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"p\"}", false,
     AZ_URL "/completions?api-version=2024-10-21",
     {{"api-key", "az-key"}, {"Authorization", NULL}},
     false},
    {"azure embeddings", TG_PROVIDER_AZURE, AZ_URL, "2025-04-01-preview", "az-key", {NULL, NULL},
     TG_API_EMBEDDINGS, EMBED, false, AZ_URL "/embeddings?api-version=2025-04-01-preview",
     {{"api-key", "az-key"}, {"Authorization", NULL}},
     false},
    {"azure without a key sends none", TG_PROVIDER_AZURE, AZ_URL, "2024-10-21", NULL,
     {NULL, NULL}, TG_API_CHAT, CHAT, false, AZ_URL "/chat/completions?api-version=2024-10-21",
     {{"api-key", NULL}, {"Authorization", NULL}},
     false},
    {"azure with Entra ID's bearer token in headers", TG_PROVIDER_AZURE, AZ_URL, "2024-10-21",
     NULL, {"Authorization", "Bearer entra-token"}, TG_API_CHAT, CHAT, false,
     AZ_URL "/chat/completions?api-version=2024-10-21",
     {{"api-key", NULL}, {"Authorization", "Bearer entra-token"}},
     false},
    {"azure stream on a version with stream_options asks for usage", TG_PROVIDER_AZURE, AZ_URL,
     "2024-10-21", "k", {NULL, NULL}, TG_API_CHAT, CHAT_STREAM, true,
     AZ_URL "/chat/completions?api-version=2024-10-21",
     {{"api-key", "k"}, {"Accept", "text/event-stream"}},
     true},
    {"azure stream on an older version does not (it would answer 400)", TG_PROVIDER_AZURE,
     AZ_URL, "2024-06-01", "k", {NULL, NULL}, TG_API_CHAT, CHAT_STREAM, true,
     AZ_URL "/chat/completions?api-version=2024-06-01",
     {{"api-key", "k"}, {"Accept", "text/event-stream"}},
     false},
    {"azure stream on a preview after 2024-09-01", TG_PROVIDER_AZURE, AZ_URL,
     "2025-01-01-preview", "k", {NULL, NULL}, TG_API_CHAT, CHAT_STREAM, true,
     AZ_URL "/chat/completions?api-version=2025-01-01-preview",
     {{"api-key", "k"}},
     true},
    {"openai: Bearer, no api-key, no query", TG_PROVIDER_OPENAI, "https://api.openai.com/v1", "",
     "sk-1", {NULL, NULL}, TG_API_CHAT, CHAT, false, "https://api.openai.com/v1/chat/completions",
     {{"Authorization", "Bearer sk-1"}, {"api-key", NULL}},
     false},
    {"openai stream asks for usage", TG_PROVIDER_OPENAI, "http://127.0.0.1:9/v1", "", NULL,
     {NULL, NULL}, TG_API_CHAT, CHAT_STREAM, true, "http://127.0.0.1:9/v1/chat/completions",
     {{"Authorization", NULL}, {"api-key", NULL}},
     true},
};

static void test_build(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_OF(cases); i++) {
        const struct build_case *c = &cases[i];
        struct tg_provider_cfg p = {0};
        p.name = "p";
        p.kind = c->kind;
        p.base_url = (char *)c->base_url;
        p.api_version = (char *)c->api_version;
        p.api_key = (char *)c->api_key;
        p.anthropic_version = "2023-06-01";
        struct tg_header_cfg extra = c->extra;
        if (extra.name) {
            p.headers = &extra;
            p.n_headers = 1;
        }
        struct tg_deployment_cfg d = {0};
        d.name = "d";
        d.provider = &p;
        d.model = "gpt-4o";
        cJSON *json = cJSON_Parse(c->body);
        assert_non_null(json);
        struct tg_upstream_req r;
        char why[128] = "";
        struct tg_json_doc doc = {c->body, strlen(c->body), NULL};
        int rc = tg_provider_build(&d, c->api, &doc, c->stream, &r, why, sizeof(why));
        if (rc != 0)
            fail_msg("%s: not built (%s)", c->what, why);
        struct tg_provider_plan plan;
        tg_provider_plan_build(&p, r.wire, c->stream, &plan);
        if (strcmp(plan.url, c->url) != 0)
            fail_msg("%s: url %s, expected %s", c->what, plan.url, c->url);
        /* libcurl is given both: they must name the same URL. */
        char *parsed = NULL;
        if (!plan.parsed_url || curl_url_get(plan.parsed_url, CURLUPART_URL, &parsed, 0) != CURLUE_OK ||
            strcmp(parsed, c->url) != 0)
            fail_msg("%s: parsed url %s, expected %s", c->what, parsed ? parsed : "(none)", c->url);
        curl_free(parsed);
        struct tg_upstream_own_headers own = {.request_id = "req-1"};
        const struct curl_slist *headers = tg_upstream_req_headers(&r, &plan, &own);
        int ids;
        const char *id = find_header(headers, "x-request-id", &ids);
        if (!id || strcmp(id, "req-1") != 0 || ids != 1)
            fail_msg("%s: x-request-id %s (%d times)", c->what, id ? id : "absent", ids);
        for (size_t h = 0; h < N_OF(c->headers) && c->headers[h].name; h++) {
            int count;
            const char *v = find_header(headers, c->headers[h].name, &count);
            if (!c->headers[h].value && v)
                fail_msg("%s: %s: %s sent, expected none", c->what, c->headers[h].name, v);
            if (c->headers[h].value && (!v || strcmp(v, c->headers[h].value) != 0 || count != 1))
                fail_msg("%s: %s is %s (%d times), expected %s once", c->what,
                         c->headers[h].name, v ? v : "absent", count, c->headers[h].value);
        }
        /* The body is OpenAI's with the deployment's model (Azure ignores it). */
        cJSON *sent = tg_json_parse_provider(r.body.data, r.body.len);
        assert_non_null(sent);
        assert_string_equal(tg_json_get_str(sent, "model"), "gpt-4o");
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(sent, "stream_options");
        if (r.usage_added != c->usage_added || (so != NULL) != c->usage_added)
            fail_msg("%s: usage asked %d (stream_options %s), expected %d", c->what,
                     r.usage_added, so ? "present" : "absent", c->usage_added);
        if (c->usage_added)
            assert_true(tg_json_get_bool(so, "include_usage", false));
        cJSON_Delete(sent);
        cJSON_Delete(json);
        tg_json_doc_free(&doc);
        tg_upstream_req_free(&r);
        tg_provider_plan_free(&plan);
    }
}

/* An attempt's own headers go in front of the provider's shared list, which
 * they leave as it was: the next attempt sees the plan unchanged. */
static void test_attempt_headers(void **state)
{
    (void)state;
    struct tg_provider_cfg p = {0};
    p.name = "p";
    p.kind = TG_PROVIDER_ANTHROPIC;
    p.base_url = "http://127.0.0.1:9/v1";
    p.api_key = "k";
    p.anthropic_version = "2023-06-01";
    struct tg_provider_plan plan;
    tg_provider_plan_build(&p, TG_API_MESSAGES, true, &plan);
    assert_string_equal(plan.url, "http://127.0.0.1:9/v1/messages");
    struct tg_upstream_req a = {0}, b = {0};
    struct tg_upstream_own_headers own_a = {
        .request_id = "id-a",
        .passed_name = "anthropic-beta",
        .passed_value = "tools-2024",
        .traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        .tracestate = "congo=t61rcWkgMzE",
    };
    struct tg_upstream_own_headers own_b = {.request_id = "id-b"};
    const struct curl_slist *ha = tg_upstream_req_headers(&a, &plan, &own_a);
    const struct curl_slist *hb = tg_upstream_req_headers(&b, &plan, &own_b);
    int n;
    assert_string_equal(find_header(ha, "traceparent", &n),
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert_int_equal(n, 1);
    assert_string_equal(find_header(ha, "tracestate", &n), "congo=t61rcWkgMzE");
    assert_null(find_header(hb, "traceparent", &n));
    assert_null(find_header(hb, "tracestate", &n));
    assert_string_equal(find_header(ha, "x-request-id", &n), "id-a");
    assert_int_equal(n, 1);
    assert_string_equal(find_header(ha, "anthropic-beta", &n), "tools-2024");
    assert_string_equal(find_header(ha, "x-api-key", &n), "k");
    assert_string_equal(find_header(hb, "x-request-id", &n), "id-b");
    assert_int_equal(n, 1);
    assert_null(find_header(hb, "anthropic-beta", &n));
    assert_string_equal(find_header(hb, "Accept", &n), "text/event-stream");
    /* The plan itself names no request. */
    assert_null(find_header(plan.headers, "x-request-id", &n));
    tg_upstream_req_free(&a);
    tg_upstream_req_free(&b);
    tg_provider_plan_free(&plan);
}


/* Which API each provider kind is called with for each client API, and
 * what the body becomes: passed through (only "model" replaced), translated,
 * or the deployment ineligible with a reason (SPEC sections 3 and 5). */
#define MSG_STREAM                                                                                 \
    "{\"model\":\"client-name\",\"max_tokens\":10,\"stream\":true,\"messages\":[{\"role\":"        \
    "\"user\",\"content\":\"hi\"}]}"
#define RESP "{\"model\":\"client-name\",\"input\":\"hi\"}"
#define RESP_PREV "{\"model\":\"client-name\",\"input\":\"hi\",\"previous_response_id\":\"r1\"}"

static const struct wire_case {
    const char *what;
    enum tg_provider_kind kind;
    bool responses;          /* openai: serves /responses */
    const char *api_version; /* azure */
    enum tg_api api;
    const char *body;
    enum tg_api wire;        /* TG_API__COUNT: ineligible */
    const char *url_end;     /* or the reason it is ineligible */
    bool passed;             /* the body is the client's with "model" replaced */
    bool stream_options;     /* the body asks for a stream's usage */
} wire_cases[] = {
    {"Messages to anthropic: passed through", TG_PROVIDER_ANTHROPIC, false, "", TG_API_MESSAGES,
     MSG_STREAM, TG_API_MESSAGES, "/messages", true, false},
    {"Responses to anthropic: through chat to Messages", TG_PROVIDER_ANTHROPIC, false, "",
     TG_API_RESPONSES, RESP, TG_API_MESSAGES, "/messages", false, false},
    {"Responses to openai with responses: passed through", TG_PROVIDER_OPENAI, true, "",
     TG_API_RESPONSES, RESP_PREV, TG_API_RESPONSES, "/responses", true, false},
    {"Responses to openai without: chat", TG_PROVIDER_OPENAI, false, "", TG_API_RESPONSES, RESP,
     TG_API_CHAT, "/chat/completions", false, false},
    {"stateful Responses to a chat provider: ineligible", TG_PROVIDER_OPENAI, false, "",
     TG_API_RESPONSES, RESP_PREV, TG_API__COUNT, "previous_response_id", false, false},
    {"Messages to openai: chat, usage asked for", TG_PROVIDER_OPENAI, true, "", TG_API_MESSAGES,
     MSG_STREAM, TG_API_CHAT, "/chat/completions", false, true},
    {"Messages to azure: chat, usage asked for", TG_PROVIDER_AZURE, false, "2024-10-21",
     TG_API_MESSAGES, MSG_STREAM, TG_API_CHAT, "/chat/completions?api-version=2024-10-21", false,
     true},
    {"Messages to azure before stream_options: not asked (400 otherwise)", TG_PROVIDER_AZURE,
     false, "2024-06-01", TG_API_MESSAGES, MSG_STREAM, TG_API_CHAT,
     "/chat/completions?api-version=2024-06-01", false, false},
    {"Responses to azure: chat, never passed through", TG_PROVIDER_AZURE, false, "2024-10-21",
     TG_API_RESPONSES, RESP, TG_API_CHAT, "/chat/completions?api-version=2024-10-21", false,
     false},
    {"Messages to mock: chat", TG_PROVIDER_MOCK, false, "", TG_API_MESSAGES, MSG_STREAM,
     TG_API_CHAT, NULL, false, true},
    {"embeddings to anthropic: ineligible", TG_PROVIDER_ANTHROPIC, false, "", TG_API_EMBEDDINGS,
     EMBED, TG_API__COUNT, "api", false, false},
};

static void test_wire(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_OF(wire_cases); i++) {
        const struct wire_case *c = &wire_cases[i];
        struct tg_provider_cfg p = {0};
        p.name = "p";
        p.kind = c->kind;
        p.base_url = c->kind == TG_PROVIDER_AZURE ? AZ_URL : "http://127.0.0.1:9/v1";
        p.api_version = (char *)c->api_version;
        p.anthropic_version = "2023-06-01";
        p.default_max_tokens = 4096;
        p.responses = c->responses;
        struct tg_deployment_cfg d = {0};
        d.name = "d";
        d.provider = &p;
        d.model = "gpt-4o";
        cJSON *json = cJSON_Parse(c->body);
        assert_non_null(json);
        struct tg_upstream_req r;
        char why[128] = "";
        struct tg_json_doc doc = {c->body, strlen(c->body), NULL};
        int rc = tg_provider_build(&d, c->api, &doc, tg_json_get_bool(json, "stream", false), &r,
                                   why, sizeof(why));
        if (c->wire == TG_API__COUNT) {
            if (rc == 0 || strcmp(why, c->url_end) != 0)
                fail_msg("%s: built %d, why \"%s\", expected ineligible(%s)", c->what, rc == 0,
                         why, c->url_end);
        } else {
            if (rc != 0)
                fail_msg("%s: not built (%s)", c->what, why);
            assert_int_equal(r.wire, c->wire);
            assert_int_equal(tg_provider_wire(&p, c->api), c->wire);
            struct tg_provider_plan plan;
            tg_provider_plan_build(&p, r.wire, false, &plan);
            size_t n = c->url_end ? strlen(c->url_end) : 0, have = strlen(plan.url);
            if (c->url_end && (have < n || strcmp(plan.url + have - n, c->url_end) != 0))
                fail_msg("%s: url %s, expected it to end in %s", c->what, plan.url, c->url_end);
            tg_provider_plan_free(&plan);
            cJSON *sent = tg_json_parse_provider(r.body.data, r.body.len);
            assert_non_null(sent);
            assert_string_equal(tg_json_get_str(sent, "model"), "gpt-4o");
            /* A pass-through reads the body through views: no tree is built
             * (a chat stream's stream_options edit aside). */
            if (c->passed && !c->stream_options && doc.tree)
                fail_msg("%s: the request's tree was built for a pass-through", c->what);
            if (!c->passed && !doc.tree)
                fail_msg("%s: translated without the request's tree", c->what);
            if (c->passed) {
                /* Byte for byte but the model. */
                char *want = malloc(strlen(c->body) + 8);
                const char *at = strstr(c->body, "client-name");
                sprintf(want, "%.*sgpt-4o%s", (int)(at - c->body), c->body, at + 11);
                assert_int_equal(r.body.len, strlen(want));
                assert_memory_equal(r.body.data, want, r.body.len);
                free(want);
            }
            bool so = cJSON_HasObjectItem(sent, "stream_options");
            if (so != c->stream_options)
                fail_msg("%s: stream_options %s", c->what, so ? "sent" : "not sent");
            cJSON_Delete(sent);
        }
        cJSON_Delete(json);
        tg_json_doc_free(&doc);
        tg_upstream_req_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_attempt_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The answer reader (formats/read.c), as the request machine asks it: byte
 * 0 picks the api (chat, completions, embeddings, Messages, Responses); the
 * rest is read both as a 200 stream, event by event behind util/sse.c, and
 * as a whole 200 body. The facts must hold together: an in-band error comes
 * with an OpenAI error object and nothing else does, borrowed text and usage
 * are what they claim, a finish is one of chat's words, and token counts
 * stay within [0, 3 * TG_FMT_COUNT_MAX] with the cached part inside the
 * prompt. */
#include <stdbool.h>
#include <string.h>

#include "formats/read.h"
#include "fuzz.h"
#include "util/json.h"
#include "util/sse.h"

struct state {
    enum tg_api api;
    struct tg_usage_facts usage; /* summed over the stream, as the machine does */
    bool ended;
};

static bool chat_word(const char *finish)
{
    static const char *const words[] = {"stop", "length", "tool_calls", "content_filter"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(finish, words[i]) == 0)
            return true;
    }
    return false;
}

/* A view borrowed from text[0..len): inside it, and a string when it is one. */
static void check_view(struct tg_jv v, const char *text, size_t len, const char *what)
{
    if (v.type == TG_JV_NONE)
        return;
    FUZZ_CHECK(v.p >= text && v.len > 0 && v.len <= len && v.p + v.len <= text + len,
               "%s outside the text", what);
    if (v.type == TG_JV_STRING)
        FUZZ_CHECK(v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"', "%s not a string token",
                   what);
}

static void check_usage(const struct tg_usage_facts *u)
{
    FUZZ_CHECK(u->input_tokens >= 0 && u->input_tokens <= 3 * (int64_t)TG_FMT_COUNT_MAX,
               "input %lld", (long long)u->input_tokens);
    FUZZ_CHECK(u->output_tokens >= 0 && u->output_tokens <= (int64_t)TG_FMT_COUNT_MAX,
               "output %lld", (long long)u->output_tokens);
    FUZZ_CHECK(u->cached_tokens >= 0 && u->cached_tokens <= u->input_tokens, "cached %lld of %lld",
               (long long)u->cached_tokens, (long long)u->input_tokens);
}

static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct state *st = ctx;
    if (!ev->has_data)
        return true; /* comments never reach the reader */
    struct tg_event_facts f;
    char *error_json;
    enum tg_fmt_result r =
        tg_read_event(st->api, ev->event, ev->data, ev->data_len, &f, &error_json);
    FUZZ_CHECK(r >= TG_FMT_CONTINUE && r <= TG_FMT_BAD, "result %d", (int)r);
    FUZZ_CHECK((r == TG_FMT_ERROR) == (error_json != NULL), "result %d, error %s", (int)r,
               error_json ? error_json : "NULL");
    if (error_json) {
        cJSON *e = tg_json_parse_provider(error_json, strlen(error_json));
        FUZZ_CHECK(cJSON_IsObject(e), "error not an object: %s", error_json);
        /* chat relays its provider's object as it is; the others build one */
        if (st->api == TG_API_MESSAGES || st->api == TG_API_RESPONSES)
            FUZZ_CHECK(tg_json_get_str(e, "message") && tg_json_get_str(e, "type") &&
                           cJSON_GetObjectItemCaseSensitive(e, "code"),
                       "error %s", error_json);
        cJSON_Delete(e);
        cJSON_free(error_json);
    }
    if (r != TG_FMT_CONTINUE) {
        FUZZ_CHECK(!f.content, "content in a result %d", (int)r);
    }
    FUZZ_CHECK(f.usage.type == TG_JV_NONE || f.usage.type == TG_JV_OBJECT,
               "usage not an object");
    FUZZ_CHECK(!f.usage_only || tg_jv_is(f.usage, TG_JV_OBJECT), "usage_only without usage");
    /* borrowed views, inside the event's data */
    check_view(f.usage, ev->data, ev->data_len, "usage");
    check_view(f.text, ev->data, ev->data_len, "text");
    if (tg_jv_is(f.text, TG_JV_STRING)) {
        if (st->api == TG_API_MESSAGES || st->api == TG_API_RESPONSES ||
            tg_jv_str_nonempty(f.text))
            FUZZ_CHECK(f.content, "text %.*s without content", (int)f.text.len, f.text.p);
    }
    FUZZ_CHECK(memchr(f.finish, '\0', sizeof(f.finish)) != NULL, "finish not terminated");
    if (f.finish[0] && st->api != TG_API_CHAT && st->api != TG_API_COMPLETIONS &&
        st->api != TG_API_EMBEDDINGS)
        FUZZ_CHECK(chat_word(f.finish), "finish %s", f.finish);
    tg_read_usage(f.usage, &st->usage);
    check_usage(&st->usage);
    if (r == TG_FMT_DONE || r == TG_FMT_ERROR || r == TG_FMT_BAD)
        st->ended = true;
    return true; /* read on: the reader must not care what came before */
}

static void read_whole(enum tg_api api, const char *p, size_t len)
{
    cJSON *root = tg_json_parse_provider(p, len);
    struct tg_answer_facts f;
    memset(&f, 0xa5, sizeof(f));
    int rc = tg_read_answer(api, p, len, &f);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    FUZZ_CHECK(rc == -1 || cJSON_IsObject(root), "an answer that is not an object");
    FUZZ_CHECK(f.n_calls >= 0 && f.n_calls <= TG_READ_MAX_CALLS, "n_calls %d", f.n_calls);
    FUZZ_CHECK(!f.n_calls || f.has_calls, "calls without has_calls");
    FUZZ_CHECK(!f.text.data || strlen(f.text.data) == f.text.len, "text length");
    if (f.finish[0] && api != TG_API_CHAT && api != TG_API_COMPLETIONS)
        FUZZ_CHECK(chat_word(f.finish), "finish %s", f.finish);
    for (int i = 0; i < f.n_calls; i++) {
        const struct tg_read_call *c = &f.calls[i];
        FUZZ_CHECK(c->input.type == TG_JV_NONE || c->arguments.type == TG_JV_NONE,
                   "call %d has input and arguments", i);
        FUZZ_CHECK(c->name.type == TG_JV_NONE || c->name.type == TG_JV_STRING, "call %d name", i);
        FUZZ_CHECK(c->arguments.type == TG_JV_NONE || c->arguments.type == TG_JV_STRING,
                   "call %d arguments", i);
        check_view(c->name, p, len, "call name");
        check_view(c->input, p, len, "call input");
        check_view(c->arguments, p, len, "call arguments");
    }
    check_usage(&f.usage);
    tg_answer_facts_free(&f);
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum tg_api api = (enum tg_api)(data[0] % TG_API__COUNT);
    const char *p = (const char *)data + 1;
    size_t len = size - 1;

    struct state st = {api, {0}, false};
    struct tg_sse_parser parser;
    tg_sse_init(&parser, 1 << 20);
    tg_sse_feed(&parser, p, len, on_event, &st);
    tg_sse_free(&parser);

    read_whole(api, p, len);
    return 0;
}

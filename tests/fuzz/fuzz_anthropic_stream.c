/* The Anthropic stream translator (formats/chat_from_messages.c) behind the SSE
 * parser, as a streaming attempt runs them: any Messages event stream
 * becomes chat.completion.chunk events, each "data: " + JSON (or [DONE]) +
 * a blank line; an error event gives an OpenAI error object. Input: one
 * byte of flags (include_usage), then the stream. */
#include <stdbool.h>
#include <string.h>

#include "formats/chat_from_messages.h"
#include "fuzz.h"
#include "util/json.h"
#include "util/sse.h"

struct state {
    struct tg_fmt_chat_from_messages_stream s;
    struct tg_buf out;
    bool done;
};

/* Every chunk appended: "data: X\n\n", X JSON or [DONE] (the last). */
static void check_chunks(const struct tg_buf *out)
{
    size_t i = 0;
    while (i < out->len) {
        FUZZ_CHECK(out->len - i > 6 && memcmp(out->data + i, "data: ", 6) == 0,
                   "not a data line at %zu: %.*s", i, (int)out->len, out->data);
        const char *start = out->data + i + 6;
        const char *end = memmem(start, out->len - i - 6, "\n\n", 2);
        FUZZ_CHECK(end != NULL, "an unterminated chunk: %.*s", (int)out->len, out->data);
        size_t n = (size_t)(end - start);
        if (!(n == 6 && memcmp(start, "[DONE]", 6) == 0)) {
            cJSON *chunk = tg_json_parse_provider(start, n);
            FUZZ_CHECK(chunk != NULL, "chunk not JSON: %.*s", (int)n, start);
            cJSON_Delete(chunk);
        }
        i = (size_t)(end - out->data) + 2;
    }
}

static bool on_event(void *ctx, const struct tg_sse_event *ev)
{
    struct state *st = ctx;
    if (!ev->has_data)
        return true;
    char *error_json = NULL;
    tg_buf_reset(&st->out);
    enum tg_fmt_result r = tg_fmt_chat_from_messages_stream_event(
        &st->s, ev->event, ev->data, ev->data_len, &st->out, &error_json);
    check_chunks(&st->out);
    if (r == TG_FMT_ERROR) {
        FUZZ_CHECK(error_json != NULL, "an error without an error object");
        cJSON *e = tg_json_parse_provider(error_json, strlen(error_json));
        FUZZ_CHECK(e != NULL, "error not JSON: %s", error_json);
        cJSON_Delete(e);
        free(error_json);
        return false;
    }
    FUZZ_CHECK(error_json == NULL, "an error object without an error");
    if (r == TG_FMT_DONE) {
        st->done = true;
        return false;
    }
    return r == TG_FMT_CONTINUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct state st;
    memset(&st, 0, sizeof(st));
    tg_fmt_chat_from_messages_stream_init(&st.s, data[0] & 1, 1764990000);
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 20);
    tg_sse_feed(&p, (const char *)data + 1, size - 1, on_event, &st);
    tg_sse_free(&p);
    tg_buf_free(&st.out);
    return 0;
}

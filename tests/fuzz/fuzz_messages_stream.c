/* The chat -> Messages answer translators (formats/messages_from_chat.c)
 * for what a chat provider sends back. Byte 0, bit 0 clear: the rest is a
 * chat stream, fed through the SSE parser as a streaming attempt does; the
 * Messages events out must each be "event: NAME\ndata: JSON\n\n" with JSON
 * whose type is NAME, in Anthropic's order: message_start first, blocks
 * started at index 0, 1, 2, ..., every delta and stop on the open block, and
 * after [DONE] message_delta then message_stop. Bit 0 set: byte 1 picks a
 * status and the rest is a body; a translated answer must be a JSON message
 * with a content array, an error Anthropic's shape. */
#include <stdbool.h>
#include <string.h>

#include "formats/messages_from_chat.h"
#include "fuzz.h"
#include "util/json.h"
#include "util/sse.h"

struct state {
    struct tg_fmt_messages_from_chat_stream s;
    struct tg_buf out;
    bool started, stopped, delta_sent;
    int open;   /* index of the open block, or -1 */
    int blocks; /* blocks started */
};

static void check_event(struct state *st, const char *name, size_t name_len, const cJSON *data)
{
    const char *type = tg_json_get_str(data, "type");
    FUZZ_CHECK(type && strlen(type) == name_len && memcmp(type, name, name_len) == 0,
               "event %.*s with data type %s", (int)name_len, name, type ? type : "(none)");
    FUZZ_CHECK(!st->stopped, "an event after message_stop: %s", type);
    bool start = strcmp(type, "message_start") == 0;
    FUZZ_CHECK(start != st->started, "message_start %s", start ? "twice" : "missing");
    double index = -1;
    tg_json_get_num(data, "index", &index);
    if (start) {
        st->started = true;
    } else if (strcmp(type, "content_block_start") == 0) {
        FUZZ_CHECK(st->open < 0 && !st->delta_sent, "a block started inside another");
        FUZZ_CHECK(index == st->blocks, "block %g started, want %d", index, st->blocks);
        st->open = st->blocks++;
    } else if (strcmp(type, "content_block_delta") == 0 ||
               strcmp(type, "content_block_stop") == 0) {
        FUZZ_CHECK(st->open >= 0 && index == st->open, "%s on block %g, open %d", type, index,
                   st->open);
        if (type[14] == 's') /* content_block_stop */
            st->open = -1;
    } else if (strcmp(type, "message_delta") == 0) {
        FUZZ_CHECK(st->open < 0 && !st->delta_sent, "message_delta with a block open, or twice");
        FUZZ_CHECK(
            tg_json_get_str(cJSON_GetObjectItemCaseSensitive(data, "delta"), "stop_reason") != NULL,
            "message_delta without stop_reason");
        st->delta_sent = true;
    } else {
        FUZZ_CHECK(strcmp(type, "message_stop") == 0, "unknown event %s", type);
        FUZZ_CHECK(st->delta_sent, "message_stop before message_delta");
        st->stopped = true;
    }
}

/* The events appended by one call: "event: NAME\ndata: JSON\n\n" each. */
static void check_events(struct state *st)
{
    const struct tg_buf *out = &st->out;
    size_t i = 0;
    while (i < out->len) {
        const char *p = out->data + i;
        size_t left = out->len - i;
        FUZZ_CHECK(left > 7 && memcmp(p, "event: ", 7) == 0, "not an event at %zu: %.*s", i,
                   (int)out->len, out->data);
        const char *nl = memchr(p, '\n', left);
        FUZZ_CHECK(nl && (size_t)(nl - p) + 7 < left && memcmp(nl + 1, "data: ", 6) == 0,
                   "no data line: %.*s", (int)left, p);
        const char *json = nl + 7;
        const char *end = memmem(json, left - (size_t)(json - p), "\n\n", 2);
        FUZZ_CHECK(end != NULL, "an unterminated event: %.*s", (int)left, p);
        cJSON *data = tg_json_parse_provider(json, (size_t)(end - json));
        FUZZ_CHECK(data != NULL, "data not JSON: %.*s", (int)(end - json), json);
        check_event(st, p + 7, (size_t)(nl - p) - 7, data);
        cJSON_Delete(data);
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
    enum tg_fmt_result r = tg_fmt_messages_from_chat_stream_event(&st->s, ev->data, ev->data_len,
                                                                  &st->out, &error_json);
    check_events(st);
    if (r == TG_FMT_ERROR) {
        FUZZ_CHECK(error_json != NULL, "an error without an error object");
        cJSON *e = tg_json_parse_provider(error_json, strlen(error_json));
        FUZZ_CHECK(tg_json_get_str(cJSON_GetObjectItemCaseSensitive(e, "error"), "type"),
                   "error not Anthropic's: %s", error_json);
        cJSON_Delete(e);
        free(error_json);
        return false;
    }
    FUZZ_CHECK(error_json == NULL, "an error object without an error");
    if (r == TG_FMT_DONE) {
        FUZZ_CHECK(st->stopped, "done without message_stop");
        return false;
    }
    FUZZ_CHECK(!st->stopped, "message_stop without done");
    return r == TG_FMT_CONTINUE;
}

static void whole(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    int status = 400 + data[0] % 200;
    size_t len = size - 1;
    char *body = malloc(len ? len : 1); /* exact: reads past the end show */
    memcpy(body, data + 1, len);
    struct tg_buf out = TG_BUF_INIT;
    if (tg_fmt_messages_from_chat_answer(body, len, &out) == 0) {
        cJSON *answer = tg_json_parse_provider(out.data, out.len);
        FUZZ_CHECK(answer != NULL, "answer not JSON: %.*s", (int)out.len, out.data);
        FUZZ_CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(answer, "content")) &&
                       tg_fmt_str_eq(tg_json_get_str(answer, "type"), "message"),
                   "not a message: %.*s", (int)out.len, out.data);
        cJSON_Delete(answer);
    } else {
        FUZZ_CHECK(out.len == 0, "declined with output");
    }
    tg_buf_free(&out);
    tg_fmt_messages_from_chat_error(body, len, status, &out);
    cJSON *err = tg_json_parse_provider(out.data, out.len);
    FUZZ_CHECK(err != NULL, "error not JSON: %.*s", (int)out.len, out.data);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(err, "error");
    FUZZ_CHECK(tg_json_get_str(e, "message") && tg_json_get_str(e, "type"),
               "not Anthropic's error: %.*s", (int)out.len, out.data);
    cJSON_Delete(err);
    tg_buf_free(&out);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        whole(data + 1, size - 1);
        return 0;
    }
    struct state st;
    memset(&st, 0, sizeof(st));
    st.open = -1;
    tg_fmt_messages_from_chat_stream_init(&st.s);
    struct tg_sse_parser p;
    tg_sse_init(&p, 1 << 20);
    tg_sse_feed(&p, (const char *)data + 1, size - 1, on_event, &st);
    tg_sse_free(&p);
    tg_buf_free(&st.out);
    return 0;
}

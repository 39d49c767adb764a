/* The Anthropic answer and error translators (formats/chat_from_messages.c): any
 * body a provider sends becomes a chat.completion (valid JSON with
 * choices) or is refused; any error body becomes OpenAI's error shape.
 * Input: one byte picking the status, then the body. */
#include <string.h>

#include "formats/chat_from_messages.h"
#include "fuzz.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int status = 400 + data[0] % 200;
    size_t len = size - 1;
    char *body = malloc(len ? len : 1); /* exact: reads past the end show */
    memcpy(body, data + 1, len);

    struct tg_buf out = TG_BUF_INIT;
    if (tg_fmt_chat_from_messages_answer(body, len, &out) == 0) {
        cJSON *answer = tg_json_parse_provider(out.data, out.len);
        FUZZ_CHECK(answer != NULL, "answer not JSON: %.*s", (int)out.len, out.data);
        FUZZ_CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(answer, "choices")),
                   "no choices: %.*s", (int)out.len, out.data);
        cJSON_Delete(answer);
    }
    tg_buf_free(&out);

    tg_fmt_chat_from_messages_error(body, len, status, &out);
    cJSON *err = tg_json_parse_provider(out.data, out.len);
    FUZZ_CHECK(err != NULL, "error not JSON: %.*s", (int)out.len, out.data);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(err, "error");
    FUZZ_CHECK(tg_json_get_str(e, "message") != NULL, "no error.message: %.*s", (int)out.len,
               out.data);
    cJSON_Delete(err);
    tg_buf_free(&out);
    free(body);
    return 0;
}

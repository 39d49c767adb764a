/* The Responses request translator (formats/chat_from_responses.c): any JSON
 * a client sends to /v1/responses becomes a chat request that is valid JSON
 * for the deployment's model, whose messages are objects with a role and
 * whose tool calls and tool messages carry ids, or a refusal with a reason.
 * The same request echoed into a translated answer
 * (formats/responses_from_chat.c) must leave that answer valid JSON too. */
#include <string.h>

#include "formats/chat_from_responses.h"
#include "formats/responses_from_chat.h"
#include "fuzz.h"
#include "util/json.h"

static void check_chat(const struct tg_buf *out)
{
    cJSON *sent = tg_json_parse_generated(out->data, out->len);
    FUZZ_CHECK(sent != NULL, "not JSON: %.*s", (int)out->len, out->data);
    const char *model = tg_json_get_str(sent, "model");
    FUZZ_CHECK(model && strcmp(model, "gpt-x") == 0, "model: %.*s", (int)out->len, out->data);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(sent, "messages");
    FUZZ_CHECK(cJSON_IsArray(msgs), "messages: %.*s", (int)out->len, out->data);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = tg_json_get_str(m, "role");
        FUZZ_CHECK(role != NULL, "a message without a role: %.*s", (int)out->len, out->data);
        if (strcmp(role, "tool") == 0)
            FUZZ_CHECK(tg_json_get_str(m, "tool_call_id") != NULL, "tool message without id");
        const cJSON *call;
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
            FUZZ_CHECK(tg_json_get_str(call, "id") && tg_json_get_str(fn, "name") &&
                           tg_json_get_str(fn, "arguments"),
                       "tool call incomplete: %.*s", (int)out->len, out->data);
        }
    }
    cJSON_Delete(sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *json = tg_json_parse_client((const char *)data, size, NULL);
    if (!json)
        return 0;
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    if (tg_fmt_chat_from_responses_request(json, "gpt-x", &out, why, sizeof(why)) == 0)
        check_chat(&out);
    else
        FUZZ_CHECK(why[0] != '\0' && out.len == 0, "refused without a reason, or half-written");
    tg_buf_free(&out);

    static const char answer[] =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
        "\"finish_reason\":\"stop\"}]}";
    FUZZ_CHECK(tg_fmt_responses_from_chat_answer(answer, sizeof(answer) - 1, json, &out) == 0,
               "answer declined");
    cJSON *resp = tg_json_parse_generated(out.data, out.len);
    FUZZ_CHECK(resp != NULL, "echo broke the answer: %.*s", (int)out.len, out.data);
    cJSON_Delete(resp);
    tg_buf_free(&out);
    cJSON_Delete(json);
    return 0;
}

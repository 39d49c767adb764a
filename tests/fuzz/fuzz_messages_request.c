/* The Messages request translator (formats/chat_from_messages.c), the
 * inbound parser of /v1/messages for chat deployments: any JSON a client
 * sends becomes a chat request that is JSON for the deployment's model, with
 * every message's role one chat knows and every tool_use id of the request
 * kept as a tool call id; or a refusal with a reason. */
#include <stdbool.h>
#include <string.h>

#include "formats/chat_from_messages.h"
#include "fuzz.h"
#include "util/json.h"

/* Whether some tool call of some assistant message of chat has id. */
static bool has_call_id(const cJSON *chat, const char *id)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(chat, "messages"))
    {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            const char *cid = tg_json_get_str(c, "id");
            if (cid && strcmp(cid, id) == 0)
                return true;
        }
    }
    return false;
}

static void check(const cJSON *req, const char *out, size_t len)
{
    cJSON *chat = tg_json_parse_generated(out, len);
    FUZZ_CHECK(chat != NULL, "not JSON: %.*s", (int)len, out);
    const char *model = tg_json_get_str(chat, "model");
    FUZZ_CHECK(model && strcmp(model, "gpt-x") == 0, "model: %.*s", (int)len, out);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(chat, "messages");
    FUZZ_CHECK(cJSON_IsArray(msgs), "messages: %.*s", (int)len, out);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = tg_json_get_str(m, "role");
        FUZZ_CHECK(role && (strcmp(role, "system") == 0 || strcmp(role, "user") == 0 ||
                            strcmp(role, "assistant") == 0 || strcmp(role, "tool") == 0),
                   "role: %.*s", (int)len, out);
        FUZZ_CHECK(cJSON_HasObjectItem(m, "content"), "no content: %.*s", (int)len, out);
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            const char *args =
                tg_json_get_str(cJSON_GetObjectItemCaseSensitive(c, "function"), "arguments");
            FUZZ_CHECK(args, "arguments: %.*s", (int)len, out);
            cJSON *a = tg_json_parse_generated(args, strlen(args));
            FUZZ_CHECK(a != NULL, "arguments not JSON: %s", args);
            cJSON_Delete(a);
        }
    }
    /* Every tool_use id of the request is a tool call id of the answer. */
    const cJSON *turn;
    cJSON_ArrayForEach(turn, cJSON_GetObjectItemCaseSensitive(req, "messages"))
    {
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(turn, "content"))
        {
            const char *type = tg_json_get_str(b, "type");
            const char *id = tg_json_get_str(b, "id");
            if (type && strcmp(type, "tool_use") == 0 && id)
                FUZZ_CHECK(has_call_id(chat, id), "lost tool id %s: %.*s", id, (int)len, out);
        }
    }
    cJSON_Delete(chat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *req = tg_json_parse_client((const char *)data, size, NULL);
    if (!req)
        return 0;
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    if (tg_fmt_chat_from_messages_request(req, "gpt-x", &out, why, sizeof(why)) == 0)
        check(req, out.data, out.len);
    else
        FUZZ_CHECK(why[0] != '\0', "refused without a reason");
    tg_buf_free(&out);
    cJSON_Delete(req);
    return 0;
}

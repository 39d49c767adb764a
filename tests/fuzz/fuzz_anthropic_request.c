/* The Anthropic request translator (formats/messages_from_chat.c): any JSON a
 * client sends becomes a Messages request that is valid JSON for the
 * deployment's model with a positive max_tokens, or a refusal with a reason. */
#include <string.h>

#include "formats/messages_from_chat.h"
#include "fuzz.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *json = tg_json_parse_client((const char *)data, size, NULL);
    if (!json)
        return 0;
    struct tg_buf out = TG_BUF_INIT;
    char why[64] = "";
    if (tg_fmt_messages_from_chat_request(json, "claude-x", 1024, &out, why, sizeof(why)) == 0) {
        /* Tool inputs keep the keys a model named twice. */
        cJSON *sent = tg_json_parse_generated(out.data, out.len);
        FUZZ_CHECK(sent != NULL, "not JSON: %.*s", (int)out.len, out.data);
        const char *model = tg_json_get_str(sent, "model");
        FUZZ_CHECK(model && strcmp(model, "claude-x") == 0, "model: %.*s", (int)out.len, out.data);
        double max_tokens = 0;
        FUZZ_CHECK(tg_json_get_num(sent, "max_tokens", &max_tokens) && max_tokens >= 1,
                   "max_tokens: %.*s", (int)out.len, out.data);
        cJSON_Delete(sent);
    } else {
        FUZZ_CHECK(why[0] != '\0', "refused without a reason");
    }
    tg_buf_free(&out);
    cJSON_Delete(json);
    return 0;
}

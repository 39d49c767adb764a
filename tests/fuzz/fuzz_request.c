/* The request JSON path: what the gateway does with a client's body
 * (gateway/handler.c: parse, check, route on "model"; upstream/provider.c:
 * splice the deployment's model in, or translate for Anthropic). Whatever
 * the door lets through must go upstream as valid JSON whose every
 * top-level "model" is the deployment's: a body routed on one model must
 * never reach a provider naming another. Input: one byte picking the
 * endpoint, then the body. */
#include <stdbool.h>
#include <string.h>

#include "config/config.h"
#include "fuzz.h"
#include "gateway/handler.h"
#include "upstream/provider.h"
#include "util/json.h"

static const char config_text[] = "[[providers]]\nname = \"m\"\nkind = \"mock\"\n"
                                   "[[providers]]\nname = \"o\"\nkind = \"openai\"\n"
                                   "base_url = \"http://127.0.0.1:9/v1\"\n"
                                   "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n"
                                   "base_url = \"http://127.0.0.1:9/v1\"\n"
                                   "[[deployments]]\nname = \"m1\"\nprovider = \"m\"\n"
                                   "model = \"mock-1\"\n"
                                   "[[deployments]]\nname = \"o1\"\nprovider = \"o\"\n"
                                   "model = \"gpt-x\"\n"
                                   "[[deployments]]\nname = \"a1\"\nprovider = \"a\"\n"
                                   "model = \"claude-x\"\n"
                                   "[[routes]]\nmodel = \"fast\"\n"
                                   "deployments = [\"m1\", \"o1\", \"a1\"]\n";

static const struct tg_config *config(void)
{
    static struct tg_config *cfg;
    if (!cfg) {
        struct tg_config_error err;
        cfg = tg_config_parse("fuzz.toml", config_text, sizeof(config_text) - 1, &err);
        FUZZ_CHECK(cfg != NULL, "%s", err.message);
    }
    return cfg;
}

/* What goes upstream: valid JSON, and "model" (every occurrence at the top,
 * duplicates included) names the deployment's model. Read with the rules of
 * model-written JSON: tool-call arguments keep the keys a model named twice. */
static void check_sent(const struct tg_deployment_cfg *dep, const struct tg_buf *body)
{
    cJSON *sent = tg_json_parse_generated(body->data, body->len);
    FUZZ_CHECK(sent != NULL, "%s: the body sent upstream is not JSON: %.*s", dep->name,
               (int)body->len, body->data);
    size_t models = 0;
    for (const cJSON *m = sent->child; m; m = m->next) {
        if (m->string && strcmp(m->string, "model") == 0) {
            FUZZ_CHECK(cJSON_IsString(m) && strcmp(m->valuestring, dep->model) == 0,
                       "%s: sent upstream with model %s: %.*s", dep->name,
                       cJSON_IsString(m) ? m->valuestring : "(not a string)", (int)body->len,
                       body->data);
            models++;
        }
    }
    FUZZ_CHECK(models >= 1, "%s: no model sent upstream", dep->name);
    cJSON_Delete(sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct tg_config *cfg = config();
    enum tg_api api = (enum tg_api)(data[0] % TG_API__COUNT);
    /* An exact copy: the scanner must stay within the body's length. */
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);

    /* The door (gateway/handler.c): the client rules, then the body read
     * through views. */
    cJSON *json = tg_json_parse_client(body, len, NULL);
    struct tg_json_check_opts rules = {TG_JSON_NO_DUP_KEYS | TG_JSON_NO_ODD_ESCAPES, NULL, NULL};
    bool checked = tg_json_check(body, len, &rules, NULL);
    FUZZ_CHECK(checked == (json != NULL), "the check and cJSON disagree on the body");
    if (!checked || tg_client_body_problem(api, tg_jv_root(body, len))) {
        cJSON_Delete(json);
        free(body);
        return 0; /* 400 */
    }
    const char *model = tg_json_get_str(json, "model");
    FUZZ_CHECK(model && model[0], "a body without a model passed the checks");
    char viewed[256];
    size_t n = tg_jv_str_copy(tg_jv_get(tg_jv_root(body, len), "model"), viewed, sizeof(viewed));
    FUZZ_CHECK(strncmp(viewed, model, n) == 0 && (n == sizeof(viewed) - 1 || !model[n]),
               "the door routes on %s, the tree reads %s", viewed, model);
    /* Whichever route it names (404 when none), the splice is the same: run
     * every deployment of the one route. */
    (void)tg_config_route(cfg, model, strlen(model));
    const struct tg_route_cfg *route = &cfg->routes[0];
    bool stream = tg_json_get_bool(json, "stream", false);
    for (size_t i = 0; i < route->n_deployments; i++) {
        const struct tg_deployment_cfg *dep = route->deployments[i];
        struct tg_upstream_req out;
        struct tg_json_doc doc = {body, len, NULL};
        char why[64] = "";
        if (tg_provider_build(dep, api, &doc, stream, &out, why, sizeof(why)) == 0)
            check_sent(dep, &out.body);
        else
            FUZZ_CHECK(why[0] != '\0', "%s: refused without a reason", dep->name);
        tg_upstream_req_free(&out);
        tg_json_doc_free(&doc);
    }
    cJSON_Delete(json);
    free(body);
    return 0;
}

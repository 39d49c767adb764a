/* Validation of chat answers (see validate.h). */
#include "route/validate.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/json.h"

const char *tg_invalid_name(enum tg_invalid r)
{
    static const char *const names[] = {"valid", "empty", "refusal", "truncated", "json", "schema"};
    return (unsigned)r < TG_INVALID__COUNT ? names[r] : "?";
}

void tg_expect_from_request(const cJSON *request, struct tg_expect *out)
{
    out->json = false;
    out->schema = NULL;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(request, "response_format");
    const char *type = tg_json_get_str(rf, "type");
    if (!type)
        return;
    if (strcmp(type, "json_object") == 0) {
        out->json = true;
    } else if (strcmp(type, "json_schema") == 0) {
        out->json = true;
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
        out->schema = cJSON_IsObject(schema) ? schema : NULL;
    }
}

int tg_refusal_match(const struct tg_strlist *phrases, const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    int undecided = 0;
    for (size_t i = 0; i < phrases->len; i++) {
        const char *p = phrases->items[i];
        size_t plen = strlen(p);
        if (plen == 0)
            continue;
        if (len >= plen) {
            if (strncasecmp(text, p, plen) == 0)
                return 1;
        } else if (len > 0 && strncasecmp(text, p, len) == 0) {
            undecided = 1; /* "I can" could still become "I can't help with" */
        } else if (len == 0) {
            undecided = 1;
        }
    }
    return undecided ? -1 : 0;
}

static bool type_matches(const cJSON *v, const char *type)
{
    if (!type)
        return true;
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(type, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(type, "null") == 0)
        return cJSON_IsNull(v);
    return true; /* a type we do not know is not held against the answer */
}

/* A "type" that is a string, or the first of a list of them. */
static const char *schema_type(const cJSON *schema)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (cJSON_IsString(t))
        return t->valuestring;
    return NULL;
}

static bool any_type_matches(const cJSON *v, const cJSON *schema)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (cJSON_IsArray(t)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, t)
        {
            if (cJSON_IsString(x) && type_matches(v, x->valuestring))
                return true;
        }
        return false;
    }
    return type_matches(v, schema_type(schema));
}

enum tg_invalid tg_validate_json_content(const struct tg_expect *expect, const char *content,
                                         size_t len)
{
    if (!expect->json)
        return TG_VALID;
    cJSON *doc = tg_json_parse_generated(content, len);
    if (!doc)
        return TG_INVALID_JSON;
    enum tg_invalid r = TG_VALID;
    if (expect->schema) {
        if (!any_type_matches(doc, expect->schema)) {
            r = TG_INVALID_SCHEMA;
        } else {
            const cJSON *props = cJSON_GetObjectItemCaseSensitive(expect->schema, "properties");
            const cJSON *req;
            cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(expect->schema, "required"))
            {
                if (!cJSON_IsString(req))
                    continue;
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, req->valuestring);
                const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, req->valuestring);
                if (!v || (ps && !any_type_matches(v, ps))) {
                    r = TG_INVALID_SCHEMA;
                    break;
                }
            }
        }
    }
    cJSON_Delete(doc);
    return r;
}

void tg_validate_chat(const struct tg_validate_cfg *cfg, const struct tg_expect *expect,
                      const cJSON *answer, struct tg_verdict *out)
{
    memset(out, 0, sizeof(*out));
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(answer, "choices");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(choice, "message");
    const char *finish = tg_json_get_str(choice, "finish_reason");
    if (finish && strcmp(finish, "content_filter") == 0) {
        out->content_filter = true;
        return;
    }
    const char *content = tg_json_get_str(message, "content");
    size_t len = content ? strlen(content) : 0;
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(message, "tool_calls");
    bool has_calls = cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0;
    has_calls |= cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(message, "function_call"));
    const char *refusal = tg_json_get_str(message, "refusal");
    if (cfg->refusal && refusal && refusal[0]) {
        out->invalid = TG_INVALID_REFUSAL; /* OpenAI's own refusal field */
        return;
    }
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
        blank = isspace((unsigned char)content[i]) != 0;
    if (cfg->empty && blank && !has_calls) {
        out->invalid = TG_INVALID_EMPTY;
        return;
    }
    if (cfg->refusal && content && tg_refusal_match(&cfg->refusal_phrases, content, len) == 1) {
        out->invalid = TG_INVALID_REFUSAL;
        return;
    }
    if (finish && strcmp(finish, "length") == 0 && cfg->truncation != TG_TRUNCATION_OFF) {
        out->truncated = true;
        if (cfg->truncation == TG_TRUNCATION_FAIL) {
            out->invalid = TG_INVALID_TRUNCATED;
            return;
        }
    }
    if (cfg->json && content && !has_calls && !out->truncated)
        out->invalid = tg_validate_json_content(expect, content, len);
}

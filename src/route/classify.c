/* Upstream outcome classes (see classify.h). OpenAI errors carry
 * error.code / error.type (Azure's also error.innererror.code); Anthropic
 * ones error.type and, for spend limits, error.details.error_code. Messages are consulted only where providers
 * give nothing better ("prompt is too long"). */
#include "route/classify.h"

#include <string.h>
#include <strings.h>

#include "util/json.h"

static const char *const class_names[TG_CLASS__COUNT] = {
    "ok",    "transport",        "timeout",        "rate_limited", "quota",   "auth",
    "server", "context_overflow", "content_policy", "client_error", "invalid", "cancelled",
};

const char *tg_class_name(enum tg_class c)
{
    return (unsigned)c < TG_CLASS__COUNT ? class_names[c] : "?";
}

bool tg_class_is_failure(enum tg_class c)
{
    switch (c) {
    case TG_CLASS_TRANSPORT:
    case TG_CLASS_TIMEOUT:
    case TG_CLASS_RATE_LIMITED:
    case TG_CLASS_SERVER:
    case TG_CLASS_INVALID:
        return true;
    default:
        return false;
    }
}

static bool contains(const char *s, const char *needle)
{
    return s && strcasestr(s, needle) != NULL;
}

struct error_fields {
    const char *code;
    const char *type;
    const char *message;
    const char *detail_code;
    const char *inner_code; /* Azure: error.innererror.code */
};

static void read_error(const cJSON *root, struct error_fields *e)
{
    memset(e, 0, sizeof(*e));
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(err)) { /* some OpenAI-compatible servers */
        e->message = err->valuestring;
        return;
    }
    e->code = tg_json_get_str(err, "code");
    e->type = tg_json_get_str(err, "type");
    e->message = tg_json_get_str(err, "message");
    e->detail_code = tg_json_get_str(cJSON_GetObjectItemCaseSensitive(err, "details"), "error_code");
    e->inner_code = tg_json_get_str(cJSON_GetObjectItemCaseSensitive(err, "innererror"), "code");
}

/* Quota, from the error's code/type when it has one (they are precise);
 * the message only when it has neither: OpenAI's free-tier rate limit
 * message mentions billing, but its code says rate_limit_exceeded. */
static bool is_quota(const struct error_fields *e)
{
    if (e->detail_code)
        return contains(e->detail_code, "spend_limit") || contains(e->detail_code, "quota") ||
               contains(e->detail_code, "billing");
    if (e->code || e->type)
        return contains(e->code, "quota") || contains(e->type, "quota") ||
               contains(e->code, "billing") || contains(e->type, "billing");
    return contains(e->message, "exceeded your current quota") ||
           contains(e->message, "billing") || contains(e->message, "spend limit");
}

static bool is_context_overflow(const struct error_fields *e)
{
    return contains(e->code, "context_length_exceeded") ||
           contains(e->type, "context_length_exceeded") ||
           contains(e->message, "maximum context length") ||
           contains(e->message, "prompt is too long") ||
           contains(e->message, "context window") ||
           contains(e->message, "exceed context limit") || /* Anthropic: prompt + max_tokens */
           contains(e->message, "context_length_exceeded");
}

/* Azure: code "content_filter" (prompts), "contentFilter" (images), or a
 * generic code with innererror.code "ResponsibleAIPolicyViolation". */
static bool is_content_policy(const struct error_fields *e)
{
    return contains(e->code, "content_filter") || contains(e->code, "content_policy") ||
           contains(e->type, "content_filter") || contains(e->type, "content_policy") ||
           contains(e->code, "contentFilter") ||
           contains(e->code, "ResponsibleAIPolicyViolation") ||
           contains(e->inner_code, "ResponsibleAIPolicyViolation") ||
           contains(e->message, "content management policy") ||
           contains(e->message, "content policy") || contains(e->message, "safety system");
}

enum tg_class tg_classify_http(int status, const char *body, size_t body_len,
                               enum tg_provider_dialect dialect)
{
    (void)dialect; /* both dialects' fields are read; they do not collide */
    if (status >= 200 && status < 300)
        return TG_CLASS_OK;
    if (status >= 500)
        return TG_CLASS_SERVER;
    if (status < 200 || (status >= 300 && status < 400))
        return TG_CLASS_TRANSPORT; /* no API answers with these */
    if (status == 401 || status == 403)
        return TG_CLASS_AUTH;
    if (status == 413)
        return TG_CLASS_CONTEXT_OVERFLOW;
    if (status == 408)
        return TG_CLASS_TIMEOUT;
    if (status == 409)
        return TG_CLASS_SERVER; /* OpenAI's transient conflict: retried by its own SDKs */

    cJSON *root = body_len ? tg_json_parse_provider(body, body_len) : NULL;
    struct error_fields e;
    read_error(root, &e);
    enum tg_class c;
    if (status == 429)
        c = is_quota(&e) ? TG_CLASS_QUOTA : TG_CLASS_RATE_LIMITED;
    else if (is_context_overflow(&e))
        c = TG_CLASS_CONTEXT_OVERFLOW;
    else if (is_content_policy(&e))
        c = TG_CLASS_CONTENT_POLICY;
    else
        c = TG_CLASS_CLIENT_ERROR;
    cJSON_Delete(root);
    return c;
}

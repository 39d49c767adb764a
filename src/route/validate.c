/* Validation of answers (see validate.h). */
#include "route/validate.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "formats/format.h"
#include "util/json.h"

const char *tg_invalid_name(enum tg_invalid r)
{
    static const char *const names[] = {"valid", "empty", "refusal", "truncated", "json", "schema"};
    return (unsigned)r < TG_INVALID__COUNT ? names[r] : "?";
}

/* response_format (chat) and text.format (Responses) name the same two
 * types; chat nests the schema under "json_schema", Responses does not. */
static void expect_format(const cJSON *format, const cJSON *schema_holder, struct tg_expect *out)
{
    const char *type = tg_json_get_str(format, "type");
    if (tg_fmt_str_eq(type, "json_object")) {
        out->json = true;
    } else if (tg_fmt_str_eq(type, "json_schema")) {
        out->json = true;
        const cJSON *schema = tg_fmt_get(schema_holder, "schema");
        out->schema = cJSON_IsObject(schema) ? schema : NULL;
    }
}

/* The member of a request that says what the answer must be, by API. */
static const char *expectation_member(enum tg_api api)
{
    switch (api) {
    case TG_API_CHAT: return "response_format";
    case TG_API_RESPONSES: return "text";
    case TG_API_MESSAGES: return "tools";
    default: return NULL;
    }
}

void tg_expect_from_request(enum tg_api api, struct tg_json_doc *doc, struct tg_expect *out)
{
    *out = (struct tg_expect){false, NULL, NULL};
    const char *member = expectation_member(api);
    if (!member || tg_jv_is(tg_jv_get(tg_json_doc_root(doc), member), TG_JV_NONE))
        return; /* most requests: no tree to build */
    const cJSON *request = tg_json_doc_tree(doc);
    if (api == TG_API_CHAT) {
        const cJSON *rf = tg_fmt_get(request, "response_format");
        expect_format(rf, tg_fmt_get(rf, "json_schema"), out);
    } else if (api == TG_API_RESPONSES) {
        const cJSON *format = tg_fmt_get(tg_fmt_get(request, "text"), "format");
        expect_format(format, format, out);
    } else if (api == TG_API_MESSAGES) {
        const cJSON *tools = tg_fmt_array(tg_fmt_get(request, "tools"));
        out->tools = tools && tools->child ? tools : NULL;
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

/* A parsed value against a schema: its type, and the required keys of the
 * right types. */
static enum tg_invalid check_schema(const cJSON *doc, const cJSON *schema)
{
    if (!any_type_matches(doc, schema))
        return TG_INVALID_SCHEMA;
    const cJSON *props = tg_fmt_get(schema, "properties");
    const cJSON *req;
    cJSON_ArrayForEach(req, tg_fmt_array(tg_fmt_get(schema, "required")))
    {
        if (!cJSON_IsString(req))
            continue;
        const cJSON *v = tg_fmt_get(doc, req->valuestring);
        const cJSON *ps = tg_fmt_get(props, req->valuestring);
        if (!v || (ps && !any_type_matches(v, ps)))
            return TG_INVALID_SCHEMA;
    }
    return TG_VALID;
}

enum tg_invalid tg_validate_json_content(const struct tg_expect *expect, const char *content,
                                         size_t len)
{
    if (!expect->json)
        return TG_VALID;
    cJSON *doc = tg_json_parse_generated(content, len);
    if (!doc)
        return TG_INVALID_JSON;
    enum tg_invalid r = expect->schema ? check_schema(doc, expect->schema) : TG_VALID;
    cJSON_Delete(doc);
    return r;
}

/* The input schema of the request's tool `name`, or NULL. */
static const cJSON *tool_schema(const cJSON *tools, struct tg_jv name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const char *tool = tg_json_get_str(t, "name");
        if (tool && tg_jv_str_eq(name, tool)) {
            const cJSON *schema = tg_fmt_get(t, "input_schema");
            return cJSON_IsObject(schema) ? schema : NULL;
        }
    }
    return NULL;
}

/* A tool call's input (Messages' object, or the arguments text of chat and
 * Responses) must be an object that fits its tool's schema. */
static enum tg_invalid check_call(const cJSON *tools, const struct tg_read_call *call)
{
    cJSON *input;
    if (call->input.type != TG_JV_NONE) {
        input = tg_json_parse_generated(call->input.p, call->input.len);
    } else {
        /* The arguments are JSON text inside a JSON string: read, then parsed. */
        struct tg_buf args = TG_BUF_INIT;
        tg_jv_str_append(call->arguments, &args);
        input = tg_json_parse_generated(args.data ? args.data : "", args.len);
        tg_buf_free(&args);
        if (!input)
            return TG_INVALID_JSON;
    }
    enum tg_invalid r = TG_INVALID_SCHEMA;
    if (cJSON_IsObject(input)) {
        const cJSON *schema = tool_schema(tools, call->name);
        r = schema ? check_schema(input, schema) : TG_VALID;
    }
    cJSON_Delete(input);
    return r;
}

void tg_validate_answer(const struct tg_validate_cfg *cfg, const struct tg_expect *expect,
                        const struct tg_answer_facts *f, struct tg_verdict *out)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(f->finish, "content_filter") == 0) {
        out->content_filter = true;
        return;
    }
    if (cfg->refusal && f->refusal) {
        out->invalid = TG_INVALID_REFUSAL; /* the provider's own refusal */
        return;
    }
    /* text.data is NULL when the answer had no text at all (read.c). */
    const char *text = f->text.data;
    size_t len = f->text.len;
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
        blank = isspace((unsigned char)text[i]) != 0;
    if (cfg->empty && blank && !f->has_calls) {
        out->invalid = TG_INVALID_EMPTY;
        return;
    }
    if (cfg->refusal && text && tg_refusal_match(&cfg->refusal_phrases, text, len) == 1) {
        out->invalid = TG_INVALID_REFUSAL;
        return;
    }
    if (strcmp(f->finish, "length") == 0 && cfg->truncation != TG_TRUNCATION_OFF) {
        out->truncated = true;
        if (cfg->truncation == TG_TRUNCATION_FAIL) {
            out->invalid = TG_INVALID_TRUNCATED;
            return;
        }
    }
    if (!cfg->json || out->truncated)
        return; /* a cut-off answer is flagged, not also called broken */
    if (text && !f->has_calls)
        out->invalid = tg_validate_json_content(expect, text, len);
    for (int i = 0; expect->tools && i < f->n_calls && !out->invalid; i++)
        out->invalid = check_call(expect->tools, &f->calls[i]);
}

/* JSON helpers (see json.h). */
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static cJSON *parse(const char *p, size_t len, unsigned flags, struct tg_json_error *err)
{
    struct tg_json_check_opts rules = {flags, NULL, NULL};
    if (!tg_json_check(p, len, &rules, err))
        return NULL;
    /* cJSON only ever sees strict JSON, which it reads whole: the check
     * above already refused what would follow the value. */
    cJSON *root = cJSON_ParseWithLength(p, len);
    if (!root && !(flags & TG_JSON_NO_ODD_ESCAPES) && len) {
        /* cJSON refuses lone surrogates the check let through: it reads a
         * copy where they are U+FFFD (rare, so only after it failed). */
        char *copy = tg_xmalloc(len);
        memcpy(copy, p, len);
        if (tg_json_mend_surrogates(copy, len))
            root = cJSON_ParseWithLength(copy, len);
        free(copy);
    }
    if (!root && err) {
        err->offset = 0;
        err->what = "out of memory while parsing";
    }
    return root;
}

cJSON *tg_json_parse_client(const char *p, size_t len, struct tg_json_error *err)
{
    return parse(p, len, TG_JSON_NO_DUP_KEYS | TG_JSON_NO_ODD_ESCAPES, err);
}

cJSON *tg_json_parse_provider(const char *p, size_t len)
{
    return parse(p, len, TG_JSON_NO_DUP_KEYS, NULL);
}

cJSON *tg_json_parse_generated(const char *p, size_t len)
{
    return parse(p, len, 0, NULL);
}

const cJSON *tg_json_doc_tree(struct tg_json_doc *d)
{
    /* The text passed the client rules: nothing for cJSON to refuse. */
    if (!d->tree)
        d->tree = cJSON_ParseWithLength(d->text, d->len);
    return d->tree;
}

void tg_json_doc_free(struct tg_json_doc *d)
{
    cJSON_Delete(d->tree);
    d->tree = NULL;
}

const char *tg_json_get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool tg_json_get_num(const cJSON *obj, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

bool tg_json_get_bool(const cJSON *obj, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsTrue(v))
        return true;
    if (cJSON_IsFalse(v))
        return false;
    return dflt;
}

void tg_buf_json_str(struct tg_buf *b, const char *s, size_t n)
{
    tg_buf_putc(b, '"');
    tg_buf_json_escape(b, s, n);
    tg_buf_putc(b, '"');
}

void tg_buf_json_item(struct tg_buf *b, const cJSON *item)
{
    char *text = cJSON_PrintUnformatted(item);
    if (text) {
        tg_buf_puts(b, text);
        cJSON_free(text);
    } else {
        tg_buf_puts(b, "null");
    }
}

/* Dead-letter queue lines: encoding and reading back (see entry.h). */
#include "dlq/entry.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "util/json.h"

/* A strict JSON text on one line: whitespace outside strings dropped (a raw
 * newline cannot be inside a string of a strict text), every other byte
 * kept, so numbers and escapes read back exactly as the client sent them. */
static void put_minified(struct tg_buf *out, const char *p, size_t len)
{
    bool in_str = false, esc = false;
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            tg_buf_append(out, p + run, i - run);
            run = i + 1;
        }
    }
    tg_buf_append(out, p + run, len - run);
}

static void put_str_member(struct tg_buf *out, const char *name, const char *v)
{
    tg_buf_printf(out, ",\"%s\":", name);
    if (v)
        tg_buf_json_str(out, v, strlen(v));
    else
        tg_buf_puts(out, "null");
}

void tg_dlq_entry_encode(const struct tg_dlq_entry *e, struct tg_buf *out)
{
    tg_buf_puts(out, "{\"time\":");
    tg_buf_json_str(out, e->time, strlen(e->time));
    put_str_member(out, "request_id", e->request_id);
    put_str_member(out, "method", e->method);
    put_str_member(out, "path", e->path);
    put_str_member(out, "route", e->route);
    put_str_member(out, "key", e->key);
    if (tg_json_check(e->body, e->body_len, NULL, NULL)) {
        tg_buf_puts(out, ",\"body\":");
        put_minified(out, e->body, e->body_len);
    } else {
        tg_buf_puts(out, ",\"body_text\":");
        tg_buf_json_str(out, e->body, e->body_len);
    }
    tg_buf_puts(out, ",\"attempts\":");
    tg_buf_puts(out, e->attempts_json && e->attempts_json[0] ? e->attempts_json : "[]");
    tg_buf_printf(out, ",\"error\":{\"status\":%d", e->status);
    put_str_member(out, "code", e->code);
    put_str_member(out, "message", e->message);
    tg_buf_puts(out, "}}\n");
}

static const char *str_or_empty(const cJSON *obj, const char *key)
{
    const char *s = tg_json_get_str(obj, key);
    return s ? s : "";
}

int tg_dlq_record_parse(const char *line, size_t len, struct tg_dlq_record *rec, char *why,
                        size_t why_len)
{
    memset(rec, 0, sizeof(*rec));
    struct tg_json_error jerr;
    rec->root = tg_json_parse_provider(line, len);
    if (!rec->root) {
        if (!tg_json_check(line, len, NULL, &jerr))
            snprintf(why, why_len, "not JSON: %s at byte %zu", jerr.what, jerr.offset);
        else
            snprintf(why, why_len, "not JSON");
        return -1;
    }
    if (!cJSON_IsObject(rec->root)) {
        snprintf(why, why_len, "not a JSON object");
        goto fail;
    }
    const cJSON *root = rec->root;
    rec->request_id = str_or_empty(root, "request_id");
    rec->path = str_or_empty(root, "path");
    rec->route = str_or_empty(root, "route");
    if (!rec->path[0] || rec->path[0] != '/') {
        snprintf(why, why_len, "no \"path\" to send it to");
        goto fail;
    }
    rec->time = str_or_empty(root, "time");
    rec->method = str_or_empty(root, "method");
    rec->key = tg_json_get_str(root, "key");
    /* The body's own bytes, as they are in the line, not cJSON's rendering. */
    size_t start, end;
    const char *text = tg_json_get_str(root, "body_text");
    if (cJSON_GetObjectItemCaseSensitive(root, "body") &&
        tg_json_find_member(line, len, "body", &start, &end)) {
        rec->body = tg_xmemdup0(line + start, end - start);
        rec->body_len = end - start;
    } else if (text) {
        rec->body_len = strlen(text);
        rec->body = tg_xmemdup0(text, rec->body_len);
    } else {
        snprintf(why, why_len, "no \"body\"");
        goto fail;
    }
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(root, "attempts");
    rec->n_attempts = cJSON_IsArray(attempts) ? cJSON_GetArraySize(attempts) : 0;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    double status = 0;
    if (cJSON_IsObject(err))
        tg_json_get_num(err, "status", &status);
    rec->status = (int)status;
    rec->code = str_or_empty(err, "code");
    rec->message = str_or_empty(err, "message");
    return 0;
fail:
    tg_dlq_record_free(rec);
    return -1;
}

void tg_dlq_record_free(struct tg_dlq_record *rec)
{
    cJSON_Delete(rec->root);
    free(rec->body);
    memset(rec, 0, sizeof(*rec));
}

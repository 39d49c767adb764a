/* The mock's fault script: parsing POST /_mock/script and handing out one
 * step per request (see engine.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mock/engine.h"
#include "mock/script.h"
#include "util/json.h"

void tg_mock_step_free(struct tg_mock_step *s)
{
    free(s->retry_after);
    free(s->error_code);
    free(s->error_type);
    free(s->error_message);
    free(s->content);
    free(s->finish_reason);
    free(s->body);
    free(s->headers);
    memset(s, 0, sizeof(*s));
}

static void step_init(struct tg_mock_step *s)
{
    memset(s, 0, sizeof(*s));
    s->status = -1;
    s->retry_after_ms = -1;
    s->delay_ms = -1;
    s->reset_after_bytes = -1;
    s->stream_error_after_chunks = -1;
    s->hang_after_chunks = -1;
    s->output_tokens = -1;
    s->repeat = 1;
}

static void step_copy(struct tg_mock_step *to, const struct tg_mock_step *from)
{
    *to = *from;
#define DUP(f) to->f = from->f ? tg_xstrdup(from->f) : NULL
    DUP(retry_after);
    DUP(error_code);
    DUP(error_type);
    DUP(error_message);
    DUP(content);
    DUP(finish_reason);
    DUP(body);
    DUP(headers);
#undef DUP
}

static int bad(char *err, size_t errlen, size_t index, const char *fmt, const char *key)
    __attribute__((format(printf, 4, 0)));

static int bad(char *err, size_t errlen, size_t index, const char *fmt, const char *key)
{
    char what[160];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(what, sizeof(what), fmt, key);
#pragma GCC diagnostic pop
    snprintf(err, errlen, "step %zu: %s", index, what);
    return -1;
}

static int read_int(const cJSON *v, const char *key, int64_t lo, int64_t hi, int64_t *out,
                    char *err, size_t errlen, size_t index)
{
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return bad(err, errlen, index, "\"%s\" must be a whole number in range", key);
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int read_str(const cJSON *v, const char *key, char **out, char *err, size_t errlen,
                    size_t index)
{
    if (!cJSON_IsString(v))
        return bad(err, errlen, index, "\"%s\" must be a string", key);
    free(*out);
    *out = tg_xstrdup(v->valuestring);
    return 0;
}

static int parse_headers(const cJSON *v, struct tg_mock_step *s, char *err, size_t errlen,
                         size_t index)
{
    if (!cJSON_IsObject(v))
        return bad(err, errlen, index, "\"%s\" must be an object of strings", "headers");
    struct tg_buf b = TG_BUF_INIT;
    const cJSON *h;
    cJSON_ArrayForEach(h, v)
    {
        if (!cJSON_IsString(h) || strpbrk(h->valuestring, "\r\n") || !h->string[0] ||
            strpbrk(h->string, " :\r\n")) {
            tg_buf_free(&b);
            return bad(err, errlen, index, "\"%s\" must map header names to one-line strings",
                       "headers");
        }
        tg_buf_printf(&b, "%s: %s\r\n", h->string, h->valuestring);
    }
    free(s->headers);
    s->headers = tg_buf_steal(&b, NULL);
    return 0;
}

static int parse_step(const cJSON *o, struct tg_mock_step *s, char *err, size_t errlen,
                      size_t index)
{
    if (!cJSON_IsObject(o))
        return bad(err, errlen, index, "%s must be an object", "a step");
    const cJSON *v;
    cJSON_ArrayForEach(v, o)
    {
        const char *k = v->string;
        int rc;
        if (strcmp(k, "status") == 0)
            rc = read_int(v, k, 100, 599, &s->status, err, errlen, index);
        else if (strcmp(k, "retry_after") == 0) {
            if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
                char num[32];
                snprintf(num, sizeof(num), "%.15g", v->valuedouble);
                free(s->retry_after);
                s->retry_after = tg_xstrdup(num);
                rc = 0;
            } else {
                rc = read_str(v, k, &s->retry_after, err, errlen, index);
                if (rc == 0 && strpbrk(s->retry_after, "\r\n"))
                    rc = bad(err, errlen, index, "\"%s\" must be one line", k);
            }
        } else if (strcmp(k, "retry_after_ms") == 0)
            rc = read_int(v, k, 0, INT64_C(1) << 40, &s->retry_after_ms, err, errlen, index);
        else if (strcmp(k, "error_code") == 0)
            rc = read_str(v, k, &s->error_code, err, errlen, index);
        else if (strcmp(k, "error_type") == 0)
            rc = read_str(v, k, &s->error_type, err, errlen, index);
        else if (strcmp(k, "error_message") == 0)
            rc = read_str(v, k, &s->error_message, err, errlen, index);
        else if (strcmp(k, "delay_ms") == 0)
            rc = read_int(v, k, 0, 3600000, &s->delay_ms, err, errlen, index);
        else if (strcmp(k, "content") == 0)
            rc = read_str(v, k, &s->content, err, errlen, index);
        else if (strcmp(k, "finish_reason") == 0)
            rc = read_str(v, k, &s->finish_reason, err, errlen, index);
        else if (strcmp(k, "hang") == 0) {
            rc = cJSON_IsBool(v) ? 0 : bad(err, errlen, index, "\"%s\" must be true or false", k);
            s->hang = cJSON_IsTrue(v);
        } else if (strcmp(k, "hang_after_chunks") == 0)
            rc = read_int(v, k, 0, 1000000, &s->hang_after_chunks, err, errlen, index);
        else if (strcmp(k, "reset_after_bytes") == 0)
            rc = read_int(v, k, 0, INT64_C(1) << 40, &s->reset_after_bytes, err, errlen, index);
        else if (strcmp(k, "stream_error_after_chunks") == 0)
            rc = read_int(v, k, 0, 1000000, &s->stream_error_after_chunks, err, errlen, index);
        else if (strcmp(k, "output_tokens") == 0)
            rc = read_int(v, k, 0, 1000000, &s->output_tokens, err, errlen, index);
        else if (strcmp(k, "body") == 0)
            rc = read_str(v, k, &s->body, err, errlen, index);
        else if (strcmp(k, "headers") == 0)
            rc = parse_headers(v, s, err, errlen, index);
        else if (strcmp(k, "repeat") == 0)
            rc = read_int(v, k, 1, 1000000000, &s->repeat, err, errlen, index);
        else
            rc = bad(err, errlen, index, "unknown key \"%s\"", k);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int tg_mock_script_set(struct tg_mock *m, const char *json, size_t len, char *err, size_t errlen)
{
    cJSON *root = tg_json_parse_provider(json, len);
    if (!root) {
        snprintf(err, errlen, "the script must be a JSON array of steps (body is not JSON)");
        return -1;
    }
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "the script must be a JSON array of steps");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    if (n > 100000) {
        cJSON_Delete(root);
        snprintf(err, errlen, "at most 100000 steps");
        return -1;
    }
    struct tg_mock_step *steps = n ? tg_xcalloc(n, sizeof(*steps)) : NULL;
    size_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, root)
    {
        step_init(&steps[i]);
        if (parse_step(o, &steps[i], err, errlen, i) < 0) {
            for (size_t j = 0; j <= i; j++)
                tg_mock_step_free(&steps[j]);
            free(steps);
            cJSON_Delete(root);
            return -1;
        }
        i++;
    }
    cJSON_Delete(root);
    tg_mock_script_clear(m);
    m->script = steps;
    m->script_len = n;
    m->script_head = 0;
    return (int)n;
}

void tg_mock_script_clear(struct tg_mock *m)
{
    for (size_t i = 0; i < m->script_len; i++)
        tg_mock_step_free(&m->script[i]);
    free(m->script);
    m->script = NULL;
    m->script_len = m->script_head = 0;
}

size_t tg_mock_script_remaining(const struct tg_mock *m)
{
    size_t n = 0;
    for (size_t i = m->script_head; i < m->script_len; i++)
        n += (size_t)m->script[i].repeat;
    return n;
}

bool tg_mock_script_next(struct tg_mock *m, struct tg_mock_step *out)
{
    if (m->script_head >= m->script_len)
        return false;
    struct tg_mock_step *s = &m->script[m->script_head];
    if (--s->repeat > 0) {
        step_copy(out, s);
        return true;
    }
    *out = *s; /* its last use: handed over, not copied */
    memset(s, 0, sizeof(*s));
    m->script_head++;
    return true;
}

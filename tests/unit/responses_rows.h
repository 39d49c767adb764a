/* Table helpers of the Responses translator tests (test_responses_*.c):
 * JSON written with ' for " (q()), and rows of (JSON, dotted path, wanted
 * JSON) checked against a translation's output. Include after cmocka.h. */
#ifndef TG_TESTS_RESPONSES_ROWS_H
#define TG_TESTS_RESPONSES_ROWS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* s with every ' turned into ", malloc'd. */
static inline char *q(const char *s)
{
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    assert_non_null(t);
    for (size_t i = 0; i <= n; i++)
        t[i] = s[i] == '\'' ? '"' : s[i];
    return t;
}

static inline cJSON *parse_q(const char *quoted)
{
    char *t = q(quoted);
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

/* The node at a dotted path ("messages.0.content"), array members by index;
 * "" is the root. */
static inline const cJSON *at(const cJSON *root, const char *path)
{
    const cJSON *cur = root;
    char key[128];
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        assert_true(n < sizeof(key));
        memcpy(key, path, n);
        key[n] = '\0';
        path += n + (path[n] == '.');
        if (cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, atoi(key));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, key);
    }
    return cur;
}

/* want: "!" = absent; else JSON (after q()) that must equal the node. */
static inline bool path_matches(const cJSON *root, const char *path, const char *want)
{
    const cJSON *got = at(root, path);
    if (strcmp(want, "!") == 0)
        return got == NULL;
    cJSON *w = parse_q(want);
    if (!w)
        fail_msg("bad wanted JSON %s", want);
    bool ok = got && cJSON_Compare(got, w, true);
    cJSON_Delete(w);
    return ok;
}

static inline void report(size_t row, const char *path, const char *want, const cJSON *root)
{
    char *all = cJSON_PrintUnformatted(root);
    print_error("row %zu: %s should be %s in %s\n", row, path, want, all ? all : "(none)");
    free(all);
}

#endif

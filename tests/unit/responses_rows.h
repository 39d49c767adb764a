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

#include "fakes.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The shared test readers (fakes.h), by the short names the tables use. */
static inline char *q(const char *s)
{
    return tg_test_q(s);
}

static inline cJSON *parse_q(const char *quoted)
{
    char *t = q(quoted);
    cJSON *j = cJSON_Parse(t);
    free(t);
    return j;
}

static inline const cJSON *at(const cJSON *root, const char *path)
{
    return tg_test_at(root, path);
}

/* want: "!" = absent; else JSON (after q()) that must equal the node. */
static inline bool path_matches(const cJSON *root, const char *path, const char *want)
{
    return tg_test_matches(root, path, want);
}

static inline void report(size_t row, const char *path, const char *want, const cJSON *root)
{
    char *all = cJSON_PrintUnformatted(root);
    print_error("row %zu: %s should be %s in %s\n", row, path, want, all ? all : "(none)");
    free(all);
}

#endif

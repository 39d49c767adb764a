/* Helpers shared by the unit tests. */
#include "fakes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *tg_test_read_exact(const char *path, size_t *len)
{
    size_t n;
    char *whole = tg_test_read_file(path, &n);
    if (!whole) {
        fprintf(stderr, "cannot read %s\n", path);
        abort();
    }
    char *exact = malloc(n ? n : 1);
    memcpy(exact, whole, n);
    free(whole);
    *len = n;
    return exact;
}

char *tg_test_q(const char *s)
{
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    if (!t)
        abort();
    for (size_t i = 0; i <= n; i++)
        t[i] = s[i] == '\'' ? '"' : s[i];
    return t;
}

const cJSON *tg_test_at(const cJSON *root, const char *path)
{
    const cJSON *cur = root;
    char key[128];
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(key))
            return NULL;
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

bool tg_test_matches(const cJSON *root, const char *path, const char *want)
{
    const cJSON *got = tg_test_at(root, path);
    if (strcmp(want, "!") == 0)
        return got == NULL;
    char *w = tg_test_q(want[0] == '~' ? want + 1 : want);
    bool ok;
    if (want[0] == '~') {
        ok = cJSON_IsString(got) && strstr(got->valuestring, w) != NULL;
    } else {
        cJSON *wj = cJSON_Parse(w);
        ok = wj && got && cJSON_Compare(got, wj, true);
        cJSON_Delete(wj);
    }
    free(w);
    return ok;
}

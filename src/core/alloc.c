/* Aborting allocators (see alloc.h for why). */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "tailgate: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *tg_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *tg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *tg_xmemdup0(const void *p, size_t n)
{
    char *s = tg_xmalloc(n + 1);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

char *tg_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    return tg_xmemdup0(s, len);
}

char *tg_xstrdup(const char *s)
{
    return tg_xmemdup0(s, strlen(s));
}

/* Allocation that aborts on exhaustion. Used for small runtime objects whose
 * loss we cannot recover from meaningfully; client-sized buffers are capped by
 * config before they get here (STYLE: "Runtime OOM on small objects aborts"). */
#ifndef TG_CORE_ALLOC_H
#define TG_CORE_ALLOC_H

#include <stddef.h>

void *tg_xmalloc(size_t n);
void *tg_xcalloc(size_t count, size_t size);
void *tg_xrealloc(void *p, size_t n);
char *tg_xstrdup(const char *s);
char *tg_xstrndup(const char *s, size_t n);
/* Copies n bytes and appends a NUL. */
char *tg_xmemdup0(const void *p, size_t n);

#endif

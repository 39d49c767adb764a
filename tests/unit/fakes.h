/* Helpers shared by the unit tests. */
#ifndef TG_TEST_FAKES_H
#define TG_TEST_FAKES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL on error. */
char *tg_test_read_file(const char *path, size_t *len);
/* The same in a block of exactly the file's size (no NUL after it), so that
 * ASan reports a parser reading past the end; aborts the test when the file
 * cannot be read. */
char *tg_test_read_exact(const char *path, size_t *len);

/* JSON written with ' for " (to keep table rows readable): s with every '
 * turned into ", malloc'd. */
char *tg_test_q(const char *s);

/* The node at a dotted path ("messages.0.content"), array members by
 * index; "" is the root. NULL when absent. */
const cJSON *tg_test_at(const cJSON *root, const char *path);

/* Whether the node at path is `want`: "!" = absent; "~text" = a string
 * containing text (after tg_test_q); else JSON (after tg_test_q) equal to
 * the node. */
bool tg_test_matches(const cJSON *root, const char *path, const char *want);

#endif

/* Helpers shared by the unit tests. */
#ifndef TG_TEST_FAKES_H
#define TG_TEST_FAKES_H

#include <stddef.h>

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL on error. */
char *tg_test_read_file(const char *path, size_t *len);

#endif

/* `tailgate dlq list FILE` and `tailgate dlq replay FILE [...]` (SPEC
 * section 8): reading the dead-letter queue, and sending its entries again.
 * A command-line tool: it blocks (files, libcurl's easy interface). */
#ifndef TG_DLQ_CLI_H
#define TG_DLQ_CLI_H

#include <stdio.h>

/* argv: what follows "dlq". Returns the exit status; usage errors print
 * `usage` to stderr and return 2. */
int tg_dlq_main(int argc, char **argv, const char *usage);

#endif

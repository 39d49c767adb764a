/* Versions of tailgate and of the libraries it runs on, for `tailgate version`. */
#ifndef TG_CORE_VERSION_H
#define TG_CORE_VERSION_H

#include <stdio.h>

void tg_version_print(FILE *out);

#endif

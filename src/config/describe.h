/* Human-readable summary of a config, for `tailgate check`. */
#ifndef TG_CONFIG_DESCRIBE_H
#define TG_CONFIG_DESCRIBE_H

#include <stdio.h>

#include "config/config.h"

void tg_config_describe(const struct tg_config *cfg, FILE *out);

#endif

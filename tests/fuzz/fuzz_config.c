/* Config loading (config/config.c over util/toml.c): any text gives a
 * config or one error message naming the file, never a crash; a config
 * that loads answers its own routes. */
#include <string.h>

#include "config/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_config_error err;
    memset(&err, 0, sizeof(err));
    struct tg_config *cfg = tg_config_parse("fuzz.toml", (const char *)data, size, &err);
    if (!cfg) {
        FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL, "message");
        FUZZ_CHECK(strncmp(err.message, "fuzz.toml", 9) == 0, "message without the file: %s",
                   err.message);
        return 0;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct tg_route_cfg *r = &cfg->routes[i];
        FUZZ_CHECK(tg_config_route(cfg, r->model, strlen(r->model)) == r, "route %s", r->model);
        for (size_t j = 0; j < r->n_deployments; j++)
            FUZZ_CHECK(tg_config_deployment(cfg, r->deployments[j]->name) == r->deployments[j],
                       "deployment %s", r->deployments[j]->name);
    }
    tg_config_free(cfg);
    return 0;
}

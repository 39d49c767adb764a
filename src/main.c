/* tailgate: command line entry (SPEC section 1). */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/describe.h"
#include "core/version.h"
#include "gateway/gateway.h"
#include "mock/server.h"

static void usage(FILE *out)
{
    fputs("usage: tailgate serve [-c FILE]      run the gateway (default FILE: config.toml)\n"
          "       tailgate check -c FILE        validate a config and print its routes\n"
          "       tailgate mock [--listen ADDR] [options]   run the mock provider\n"
          "       tailgate version              print versions\n",
          out);
}

/* Finds "-c FILE" / "--config FILE" / "--config=FILE" among args. */
static int config_arg(int argc, char **argv, const char **path)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return -1;
            *path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *path = argv[i] + 9;
        } else {
            return -1;
        }
    }
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    const char *path = NULL;
    if (config_arg(argc, argv, &path) < 0 || !path) {
        fputs("usage: tailgate check -c FILE\n", stderr);
        return 2;
    }
    struct tg_config_error err;
    struct tg_config *cfg = tg_config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    tg_config_describe(cfg, stdout);
    tg_config_free(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) {
        const char *path = "config.toml";
        if (config_arg(argc - 2, argv + 2, &path) < 0) {
            fputs("usage: tailgate serve [-c FILE]\n", stderr);
            return 2;
        }
        return tg_gateway_main(path);
    }
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "mock") == 0)
        return tg_mock_main(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        tg_version_print(stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "tailgate: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}

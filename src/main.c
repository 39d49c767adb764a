/* tailgate: command line entry (SPEC sections 1 and 9). Each command has one
 * entry in `commands`: its synopsis (the short usage), its description (the
 * --help text) and the function that runs it. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/describe.h"
#include "core/log.h"
#include "core/version.h"
#include "dlq/cli.h"
#include "gateway/gateway.h"
#include "mock/server.h"

struct command {
    const char *name;
    const char *synopsis;
    const char *help; /* what it does, its options, exit status */
    int (*run)(const struct command *cmd, int argc, char **argv);
};

static int cmd_serve(const struct command *cmd, int argc, char **argv);
static int cmd_check(const struct command *cmd, int argc, char **argv);
static int cmd_mock(const struct command *cmd, int argc, char **argv);
static int cmd_version(const struct command *cmd, int argc, char **argv);
static int cmd_dlq(const struct command *cmd, int argc, char **argv);
static int cmd_help(const struct command *cmd, int argc, char **argv);

static const struct command commands[] = {
    {"serve", "serve [-c FILE] [--log-level LEVEL]",
     "Runs the gateway on the config FILE until SIGTERM or SIGINT.\n"
     "\n"
     "  -c, --config FILE    the config (default: config.toml)\n"
     "  --log-level LEVEL    debug, info, warn or error (default: info): the least\n"
     "                       severe operator log line written\n"
     "  -h, --help           this text\n"
     "\n"
     "Operator logs go to stderr, one logfmt line per event (ts, level, pid, event,\n"
     "then the event's keys). The access log, one JSON object per request, goes\n"
     "where server.access_log says (default \"-\": stdout).\n"
     "\n"
     "Signals:\n"
     "  SIGHUP           reload the config (a bad one is logged and the old one kept;\n"
     "                   requests in flight finish on their config) and reopen the\n"
     "                   access log file\n"
     "  SIGUSR1          reopen the access log file (after logrotate moved it)\n"
     "  SIGTERM, SIGINT  stop accepting, let requests in flight finish for up to\n"
     "                   server.drain_ms, then exit 0; a second signal ends them now\n"
     "\n"
     "Exit status: 0 after a drain, 1 when the config or a listener fails, 2 for a\n"
     "usage error.\n",
     cmd_serve},
    {"check", "check -c FILE",
     "Validates a config and prints the routes it resolves to, without serving.\n"
     "\n"
     "  -c, --config FILE    the config to check\n"
     "  -h, --help           this text\n"
     "\n"
     "Exit status: 0 when the config is valid; 1 with FILE:LINE:COL: message on\n"
     "stderr when it is not; 2 for a usage error.\n",
     cmd_check},
    {"mock", "mock [--listen HOST:PORT] [options]",
     "Runs the mock LLM provider (OpenAI and Anthropic APIs, scriptable faults) as\n"
     "an HTTP server.\n\n",
     cmd_mock},
    {"dlq", "dlq list FILE | dlq replay FILE [--to URL] [--rate N] [--key-env VAR] [-c FILE]",
     "Reads and replays the dead-letter queue: the background requests\n"
     "(x-tailgate-mode: background) that still failed, one JSON line each in\n"
     "[background] dlq_path.\n"
     "\n"
     "  list FILE            one line per entry (time, request id, path, route, key,\n"
     "                       final status and code, attempts) and the total;\n"
     "                       malformed lines are reported by line number\n"
     "  replay FILE          sends each entry's body again to its path, with its\n"
     "                       x-request-id, as an ordinary request (not background:\n"
     "                       a failure is not appended to a gateway's queue again);\n"
     "                       then rewrites FILE atomically (FILE.tmp, fsync, rename)\n"
     "                       keeping the entries that still failed (not 2xx, a\n"
     "                       degraded static answer, a stream that ended with its\n"
     "                       error event, or no answer) and lines it could not\n"
     "                       read; lines a gateway appends meanwhile stay\n"
     "    --to URL           where to send them (default: the config's\n"
     "                       server.listen, http:// or https:// with TLS)\n"
     "    -c, --config FILE  the config to read the listener from (default:\n"
     "                       config.toml)\n"
     "    --rate N           at most N requests per second (default 1; fractions\n"
     "                       allowed; 0: no limit)\n"
     "    --key-env VAR      send Authorization: Bearer $VAR (with [[auth.keys]])\n"
     "  -h, --help           this text\n"
     "\n"
     "Exit status: 0 when FILE was read (and, after a replay with successes,\n"
     "rewritten); 1 when it could not be; 2 for a usage error.\n",
     cmd_dlq},
    {"version", "version",
     "Prints the version of tailgate and of libuv, llhttp, libcurl and OpenSSL.\n", cmd_version},
    {"help", "help [COMMAND]",
     "Describes every command, or one COMMAND with its options.\n", cmd_help},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fputs("usage:", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "%s tailgate %s\n", i ? "      " : "", commands[i].synopsis);
    fputs("Run 'tailgate help COMMAND' or 'tailgate COMMAND --help' for its options.\n", out);
}

static void command_help(const struct command *cmd, FILE *out)
{
    fprintf(out, "usage: tailgate %s\n\n%s", cmd->synopsis, cmd->help);
}

/* A usage error: the short form on stderr, exit status 2. */
static int misuse(const struct command *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "tailgate %s: %s \"%s\"\nusage: tailgate %s\nRun 'tailgate %s --help' for more.\n",
            cmd->name, what, arg, cmd->synopsis, cmd->name);
    return 2;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Matches argv[*i] against an option taking a value, as "-s V" (when short is
 * not NULL), "--long V" or "--long=V". Returns 1 with *value set, 0 for
 * another option, -1 when the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *shrt, const char *lng,
                        const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(arg, lng, n) == 0 && arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (strcmp(arg, lng) != 0 && !(shrt && strcmp(arg, shrt) == 0))
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

/* The options `serve` and `check` share: the config file and the log level. */
struct opts {
    const char *config;
    bool help;
};

static int parse_opts(const struct command *cmd, int argc, char **argv, bool log_level,
                      struct opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *value;
        if (is_help(argv[i])) {
            o->help = true;
            continue;
        }
        int m = option_value(argc, argv, &i, "-c", "--config", &value);
        if (m == 1) {
            o->config = value;
            continue;
        }
        if (m == 0 && log_level)
            m = option_value(argc, argv, &i, NULL, "--log-level", &value);
        if (m == 1) {
            enum tg_log_level level;
            if (tg_log_parse_level(value, &level) < 0)
                return misuse(cmd, "--log-level is one of debug, info, warn, error, not", value);
            tg_log_set_level(level);
            continue;
        }
        if (m < 0)
            return misuse(cmd, "a value is missing after", argv[i]);
        return misuse(cmd, argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                      argv[i]);
    }
    return 0;
}

static int cmd_serve(const struct command *cmd, int argc, char **argv)
{
    struct opts o = {"config.toml", false};
    int rc = parse_opts(cmd, argc, argv, true, &o);
    if (rc != 0 || o.help) {
        if (o.help && rc == 0)
            command_help(cmd, stdout);
        return rc;
    }
    return tg_gateway_main(o.config);
}

static int cmd_check(const struct command *cmd, int argc, char **argv)
{
    struct opts o = {NULL, false};
    int rc = parse_opts(cmd, argc, argv, false, &o);
    if (rc != 0 || o.help) {
        if (o.help && rc == 0)
            command_help(cmd, stdout);
        return rc;
    }
    if (!o.config) {
        fprintf(stderr, "tailgate check: which file? (-c FILE)\nusage: tailgate %s\n",
                cmd->synopsis);
        return 2;
    }
    struct tg_config_error err;
    struct tg_config *cfg = tg_config_load(o.config, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    tg_config_describe(cfg, stdout);
    tg_config_free(cfg);
    return 0;
}

static int cmd_mock(const struct command *cmd, int argc, char **argv)
{
    return tg_mock_main(argc, argv); /* its options are the mock's own (mock --help) */
}

static int cmd_version(const struct command *cmd, int argc, char **argv)
{
    if (argc > 0) {
        if (argc == 1 && is_help(argv[0])) {
            command_help(cmd, stdout);
            return 0;
        }
        return misuse(cmd, "unexpected argument", argv[0]);
    }
    tg_version_print(stdout);
    return 0;
}

static int cmd_dlq(const struct command *cmd, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            command_help(cmd, stdout);
            return 0;
        }
    }
    char usage[256];
    snprintf(usage, sizeof(usage), "tailgate %s\nRun 'tailgate dlq --help' for more.\n",
             cmd->synopsis);
    return tg_dlq_main(argc, argv, usage);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* The mock describes its own options (they are its option table's). */
static int mock_help(void)
{
    char help[] = "--help";
    char *args[] = {help, NULL};
    fflush(stdout);
    return tg_mock_main(1, args);
}

static int cmd_help(const struct command *cmd, int argc, char **argv)
{
    if (argc == 0) {
        usage(stdout);
        for (size_t i = 0; i < N_COMMANDS; i++) {
            fprintf(stdout, "\n---- tailgate %s\n\n%s", commands[i].synopsis, commands[i].help);
            if (commands[i].run == cmd_mock)
                mock_help();
        }
        return 0;
    }
    if (argc == 1 && is_help(argv[0])) {
        command_help(cmd, stdout);
        return 0;
    }
    const struct command *which = argc == 1 ? find_command(argv[0]) : NULL;
    if (!which)
        return misuse(cmd, argc == 1 ? "no such command" : "unexpected argument",
                      argv[argc == 1 ? 0 : 1]);
    if (which->run == cmd_mock)
        return mock_help();
    command_help(which, stdout);
    return 0;
}


int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0)
        name = "version";
    else if (is_help(name))
        name = "help";
    const struct command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "tailgate: unknown command \"%s\"\n", name);
        usage(stderr);
        return 2;
    }
    return cmd->run(cmd, argc - 2, argv + 2);
}

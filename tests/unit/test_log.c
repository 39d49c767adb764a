/* Unit tests of the operator log (core/log.c): every line is logfmt, and a
 * string value of any content reads back, through a small logfmt parser, as
 * the same key and value. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "util/hex.h"

#define MAX_PAIRS 16

struct pair {
    char key[64];
    char value[2048];
};

/* Runs fn with stderr sent to a temporary file and returns what it wrote. */
static char *capture(void (*fn)(void))
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    long n = ftell(tmp);
    if (n <= 0)
        n = lseek(fileno(tmp), 0, SEEK_END);
    assert_true(n > 0);
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    rewind(tmp);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

/* Parses one logfmt line (as go-logfmt reads it: bare values end at a space
 * and may not hold '=' or '"'; quoted ones take \" \\ \n \r \t \uXXXX).
 * Returns the number of pairs, or -1 for a line that is not logfmt. */
static int logfmt_parse(const char *line, struct pair *pairs, int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\n' && p[1] == '\0')
            return n;
        if (*p == '\0' || n == max)
            return -1; /* every line ends in exactly one newline */
        struct pair *kv = &pairs[n++];
        size_t k = 0;
        while (*p > ' ' && *p != '=' && *p != '"' && k < sizeof(kv->key) - 1)
            kv->key[k++] = *p++;
        kv->key[k] = '\0';
        if (k == 0 || *p != '=')
            return -1;
        p++;
        size_t v = 0;
        if (*p != '"') {
            while (*p > ' ' && v < sizeof(kv->value) - 1) {
                if (*p == '=' || *p == '"')
                    return -1;
                kv->value[v++] = *p++;
            }
        } else {
            p++;
            for (;;) {
                if (*p == '\0' || (unsigned char)*p < ' ' || v >= sizeof(kv->value) - 1)
                    return -1;
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p != '\\') {
                    kv->value[v++] = *p++;
                    continue;
                }
                p++;
                switch (*p++) {
                case '"': kv->value[v++] = '"'; break;
                case '\\': kv->value[v++] = '\\'; break;
                case 'n': kv->value[v++] = '\n'; break;
                case 'r': kv->value[v++] = '\r'; break;
                case 't': kv->value[v++] = '\t'; break;
                case 'u': {
                    int c = 0;
                    for (int i = 0; i < 4; i++) {
                        int h = tg_hex_value(*p++);
                        if (h < 0)
                            return -1;
                        c = c * 16 + h;
                    }
                    if (c > 0x7f)
                        return -1; /* the logger only escapes ASCII */
                    kv->value[v++] = (char)c;
                    break;
                }
                default: return -1;
                }
            }
            if (*p != ' ' && *p != '\n')
                return -1;
        }
        kv->value[v] = '\0';
    }
}

static const char *value_of(struct pair *pairs, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(pairs[i].key, key) == 0)
            return pairs[i].value;
    return NULL;
}

static const char *const nasty = "duplicate key \"deployments\" at C:\\cfg\nnext=line\ttab \x01 end";

static void log_nasty(void)
{
    tg_log_error("reload_failed", "config=%s error=%s keeping=generation_%llu peer=%s empty=%s",
                 "/etc/tail gate/config.toml", nasty, 7ULL, "127.0.0.1:5000", "");
}

static void test_values_read_back(void **state)
{
    (void)state;
    char *out = capture(log_nasty);
    struct pair pairs[MAX_PAIRS];
    int n = logfmt_parse(out, pairs, MAX_PAIRS);
    assert_int_equal(n, 9);
    assert_string_equal(value_of(pairs, n, "level"), "error");
    assert_string_equal(value_of(pairs, n, "event"), "reload_failed");
    assert_string_equal(value_of(pairs, n, "config"), "/etc/tail gate/config.toml");
    assert_string_equal(value_of(pairs, n, "error"), nasty);
    assert_string_equal(value_of(pairs, n, "keeping"), "generation_7");
    assert_string_equal(value_of(pairs, n, "empty"), "");
    /* A plain token stays bare. */
    assert_non_null(strstr(out, " peer=127.0.0.1:5000 "));
    free(out);
}

/* A fmt written the old way, with quotes around %s, still gives one pair of
 * quotes and an escaped value. */
static void log_prequoted(void)
{
    tg_log_warn("config_warning", "message=\"%s\" n=%zu pad=%03d|%.2f|%c|%5.3s|%%", nasty,
                (size_t)42, 5, 1.5, 'x', "abcdef");
}

static void test_prequoted_and_other_conversions(void **state)
{
    (void)state;
    char *out = capture(log_prequoted);
    struct pair pairs[MAX_PAIRS];
    int n = logfmt_parse(out, pairs, MAX_PAIRS);
    assert_int_equal(n, 7);
    assert_string_equal(value_of(pairs, n, "message"), nasty);
    assert_string_equal(value_of(pairs, n, "n"), "42");
    /* Width on a string value is not padding: values carry no spaces. */
    assert_string_equal(value_of(pairs, n, "pad"), "005|1.50|x|abc|%");
    free(out);
}

static void log_long(void)
{
    static char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[100] = '"';
    tg_log_info("long", "value=%s after=1", big);
}

static void test_long_value_is_cut_and_stays_valid(void **state)
{
    (void)state;
    char *out = capture(log_long);
    struct pair pairs[MAX_PAIRS];
    int n = logfmt_parse(out, pairs, MAX_PAIRS);
    assert_int_equal(n, 6);
    const char *v = value_of(pairs, n, "value");
    assert_true(strlen(v) < 1100);
    assert_string_equal(v + strlen(v) - 3, "...");
    assert_string_equal(value_of(pairs, n, "after"), "1");
    free(out);
}

static void log_debug_line(void)
{
    tg_log_debug("hidden", "x=%s", "y");
    tg_log_info("shown", "x=%s", "y");
}

/* A conversion tg_log does not know (a wide string) stops the formatting
 * there, printed as written: reading it as a byte string, or going on with
 * the arguments after it misaligned, would be undefined behaviour. */
static void log_unknown_conversion(void)
{
    tg_log_error("odd", "a=%d w=%ls b=%s", 5, L"wide", "never read");
}

static void test_unknown_conversion_stops(void **state)
{
    (void)state;
    char *out = capture(log_unknown_conversion);
    assert_non_null(strstr(out, " a=5 w=%ls b=%s\n"));
    assert_null(strstr(out, "never read"));
    free(out);
}

static void test_level_filters(void **state)
{
    (void)state;
    char *out = capture(log_debug_line);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "event=shown x=y\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_read_back),
        cmocka_unit_test(test_prequoted_and_other_conversions),
        cmocka_unit_test(test_long_value_is_cut_and_stays_valid),
        cmocka_unit_test(test_unknown_conversion_stops),
        cmocka_unit_test(test_level_filters),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}

/* The JSON conformance corpus (tests/data/json) through the strict validator
 * (util/json_scan.c) and the three parsers of util/json.h, one per source
 * (client body, provider envelope, model-written JSON): y_ accepted, n_
 * refused (n_dup_ accepted from a model), i_ as decisions.txt says per
 * source; for every accepted client body, cJSON and the member scanner see
 * the same top-level members with the same values. Each file is
 * read into an exact-size block, so a read past its end is caught. Also: the
 * refusals say what is wrong and at which byte. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "fakes.h"
#include "util/json_scan.h"

static char dir[1024];

/* A corpus file in a block of its exact size. */
static char *read_file(const char *name, size_t *len)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return tg_test_read_exact(path, len);
}

enum source { CLIENT, PROVIDER, MODEL, SOURCES };
static const char *const source_name[SOURCES] = {"client", "provider", "model"};
static const unsigned source_flags[SOURCES] = {TG_JSON_NO_DUP_KEYS | TG_JSON_NO_ODD_ESCAPES,
                                               TG_JSON_NO_DUP_KEYS, 0};

static cJSON *parse_as(enum source src, const char *p, size_t len, struct tg_json_error *err)
{
    switch (src) {
    case CLIENT: return tg_json_parse_client(p, len, err);
    case PROVIDER: return tg_json_parse_provider(p, len);
    default: return tg_json_parse_generated(p, len);
    }
}

/* decisions.txt: "name client provider model why", each accept|reject.
 * -1 when the file is not listed or the column is not one of the two. */
static int decision(const char *name, enum source src)
{
    size_t len;
    char *text = read_file("decisions.txt", &len);
    int r = -1;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        const char *line = text + i;
        size_t l = e - i;
        if (l > nlen && memcmp(line, name, nlen) == 0 && line[nlen] == ' ') {
            const char *v = line + nlen;
            for (int col = 0; col <= (int)src; col++) {
                while (v < line + l && *v == ' ')
                    v++;
                r = line + l - v >= 6 && strncmp(v, "accept", 6) == 0   ? 1
                    : line + l - v >= 6 && strncmp(v, "reject", 6) == 0 ? 0
                                                                        : -1;
                v += 6;
            }
        }
        i = e + 1;
    }
    free(text);
    return r;
}

struct members {
    struct tg_json_member m[512];
    size_t n;
};

static void on_member(void *ctx, const char *text, const struct tg_json_member *m)
{
    (void)text;
    struct members *ms = ctx;
    if (ms->n < sizeof(ms->m) / sizeof(ms->m[0]))
        ms->m[ms->n] = *m;
    ms->n++;
}

/* cJSON's tree and the scanner agree on the top-level members. Returns the
 * number of disagreements (each printed). */
static int agree(const char *name, const char *p, size_t len, const cJSON *root)
{
    struct members ms = {.n = 0};
    struct tg_json_check_opts o = {TG_JSON_NO_DUP_KEYS, on_member, &ms};
    assert_true(tg_json_check(p, len, &o, NULL));
    int bad = 0;
    size_t start, end;
    if (!cJSON_IsObject(root)) {
        if (ms.n != 0 || tg_json_find_member(p, len, "a", &start, &end)) {
            print_error("%s: members reported in a non-object\n", name);
            bad++;
        }
        return bad;
    }
    if (ms.n != (size_t)cJSON_GetArraySize(root) || ms.n > 512) {
        print_error("%s: the scanner saw %zu members, cJSON %d\n", name, ms.n,
                    cJSON_GetArraySize(root));
        return bad + 1;
    }
    size_t i = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, root)
    {
        const struct tg_json_member *m = &ms.m[i++];
        if (!tg_json_member_key_is(p, m, child->string, strlen(child->string))) {
            print_error("%s: member %zu is \"%s\" for cJSON, not for the scanner\n", name, i,
                        child->string);
            bad++;
            continue;
        }
        if (!tg_json_find_member(p, len, child->string, &start, &end) || start != m->value_start ||
            end != m->value_end) {
            print_error("%s: tg_json_find_member(\"%s\") disagrees\n", name, child->string);
            bad++;
            continue;
        }
        /* The spliceable bytes are exactly the value cJSON holds. */
        cJSON *v = tg_json_parse_client(p + start, end - start, NULL);
        /* Compared as printed: cJSON_Compare is exponential in the depth. */
        char *a = v ? cJSON_PrintUnformatted(v) : NULL, *b = cJSON_PrintUnformatted(child);
        bool same = a && b && strcmp(a, b) == 0;
        cJSON_free(a);
        cJSON_free(b);
        if (!same) {
            print_error("%s: the bytes of \"%s\" are not cJSON's value\n", name, child->string);
            bad++;
        }
        cJSON_Delete(v);
    }
    return bad;
}

static void test_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    assert_non_null(d);
    int bad = 0, files = 0, kinds[3] = {0, 0, 0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t nl = strlen(name);
        if (nl < 7 || strcmp(name + nl - 5, ".json") != 0 || name[1] != '_')
            continue;
        int expect[SOURCES];
        for (int src = 0; src < SOURCES; src++) {
            if (name[0] == 'y')
                expect[src] = 1;
            else if (name[0] == 'n')
                expect[src] = src == MODEL && strncmp(name, "n_dup_", 6) == 0;
            else if (name[0] == 'i')
                expect[src] = decision(name, (enum source)src);
            else
                expect[src] = -2;
        }
        if (expect[0] == -2)
            continue;
        kinds[name[0] == 'y' ? 0 : name[0] == 'n' ? 1 : 2]++;
        if (expect[0] < 0 || expect[1] < 0 || expect[2] < 0) {
            print_error("%s: no decision for each source in decisions.txt\n", name);
            bad++;
            continue;
        }
        files++;
        size_t len;
        char *p = read_file(name, &len);
        for (int src = 0; src < SOURCES; src++) {
            struct tg_json_error err = {12345, NULL};
            struct tg_json_check_opts rules = {source_flags[src], NULL, NULL};
            bool valid = tg_json_check(p, len, &rules, &err);
            struct tg_json_error perr = {12345, NULL};
            cJSON *root = parse_as((enum source)src, p, len, &perr);
            if (valid != (expect[src] == 1) || (root != NULL) != (expect[src] == 1)) {
                print_error("%s as %s: validator %s, parser %s, expected %s%s%s\n", name,
                            source_name[src], valid ? "accepts" : "refuses",
                            root ? "accepts" : "refuses", expect[src] ? "accept" : "reject",
                            valid ? "" : ": ", valid ? "" : err.what);
                bad++;
            } else if (!valid && src == CLIENT) {
                /* A refusal says what and where, the same through both entry points. */
                if (!err.what || err.offset > len || perr.what != err.what ||
                    perr.offset != err.offset) {
                    print_error("%s: refused without a reason or a place\n", name);
                    bad++;
                }
            } else if (valid && src == CLIENT) {
                bad += agree(name, p, len, root);
            }
            cJSON_Delete(root);
        }
        free(p);
    }
    closedir(d);
    print_message("corpus: %d files (%d y_, %d n_, %d i_)\n", files, kinds[0], kinds[1], kinds[2]);
    assert_true(kinds[0] > 0 && kinds[1] > 0 && kinds[2] > 0);
    assert_int_equal(bad, 0);
}

/* Every i_ decision names a file that exists (no stale lines). */
static void test_decisions_name_files(void **state)
{
    (void)state;
    size_t len;
    char *text = read_file("decisions.txt", &len);
    int bad = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        if (e > i && text[i] == 'i') {
            size_t w = i;
            while (w < e && text[w] != ' ')
                w++;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(w - i), text + i);
            char path[2048];
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            FILE *f = fopen(path, "rb");
            if (!f) {
                print_error("decisions.txt names %s, which is not there\n", name);
                bad++;
            } else {
                fclose(f);
            }
        }
        i = e + 1;
    }
    free(text);
    assert_int_equal(bad, 0);
}

/* What a client reads in its 400: the reason and the byte. (Duplicates are
 * reported at the first key, in document order, that repeats an earlier one
 * of the first object to close.) */
static void test_errors_say_what_and_where(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;       /* 0: strlen */
        const char *what; /* a substring of the reason */
        size_t offset;
    } rows[] = {
        {"01", 0, "leading zero", 0},
        {"{\"max_tokens\":01}", 0, "leading zero", 14},
        {"{\"t\":1.}", 0, "'.' without digits", 7},
        {"[1e]", 0, "exponent without digits", 3},
        {"[-]", 0, "'-' without digits", 2},
        {"[\"a\tb\"]", 0, "raw control byte in a string", 3},
        {"[\"a\nb\"]", 0, "raw control byte in a string", 3},
        {"{\"model\":\"fast\",\0\"messages\":[]}", 31, "control byte between tokens", 16},
        {"{\"model\":\"fast\",\v\"messages\":[]}", 0, "control byte between tokens", 16},
        {"{\"model\":\"fast\",\"model\":\"o1-pro\"}", 0, "duplicate key", 16},
        {"{\"a\":1,\"\\u0061\":2}", 0, "duplicate key", 7},
        {"[\"\\x\"]", 0, "escape JSON does not have", 2},
        {"[\"\\u12\"]", 0, "four hex digits", 2},
        {"[\"\\uD800\"]", 0, "lone high surrogate", 2},
        {"[\"\\uDC00\"]", 0, "lone low surrogate", 2},
        {"[\"\\u0000\"]", 0, "\\u0000", 2},
        {"[\"\xc0\xaf\"]", 0, "overlong", 2},
        {"[\"\xe0\x80\xaf\"]", 0, "overlong", 2},
        {"[\"\xed\xa0\x80\"]", 0, "surrogate encoded in UTF-8", 2},
        {"[\"\xf4\x90\x80\x80\"]", 0, "above U+10FFFF", 2},
        {"[\"\x80\"]", 0, "continuation byte", 2},
        {"[\"\xe4\xb8\"]", 0, "truncated UTF-8", 2},
        {"[\"abc", 0, "unterminated string", 1},
        {"", 0, "empty", 0},
        {"  ", 0, "only whitespace", 2},
        {"{}x", 0, "text after the value", 2},
        {"[1,]", 0, "expected a value", 3},
        {"{\"a\":1,}", 0, "expected a member name", 7},
        {"{\"a\" 1}", 0, "expected ':'", 5},
        {"[1 2]", 0, "expected ',' or ']'", 3},
        {"{\"a\":1", 0, "object is not closed", 6},
        {"[True]", 0, "unknown word", 1},
        {"\xef\xbb\xbf{}", 0, "byte order mark", 0},
        {"[1,\xc3\xa9]", 0, "non-ASCII byte outside a string", 3},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t len = rows[i].len ? rows[i].len : strlen(rows[i].text);
        char *p = malloc(len ? len : 1);
        memcpy(p, rows[i].text, len);
        struct tg_json_error err = {0, NULL};
        struct tg_json_check_opts strict = {source_flags[CLIENT], NULL, NULL};
        bool ok = tg_json_check(p, len, &strict, &err);
        free(p);
        if (ok || !err.what || !strstr(err.what, rows[i].what) || err.offset != rows[i].offset) {
            print_error("row %zu: got %s at %zu, expected \"%s\" at %zu\n", i,
                        ok ? "(accepted)" : err.what, err.offset, rows[i].what, rows[i].offset);
            bad++;
        }
    }
    /* Nesting: 256 open containers are fine, the 257th is refused where it opens. */
    char deep[600];
    memset(deep, '[', 257);
    memset(deep + 257, ']', 257);
    struct tg_json_error err = {0, NULL};
    assert_false(tg_json_check(deep, 514, NULL, &err));
    assert_int_equal(err.offset, 256);
    assert_non_null(strstr(err.what, "nesting"));
    assert_true(tg_json_check(deep + 1, 512, NULL, NULL));
    assert_int_equal(bad, 0);
}

int main(void)
{
    const char *src = getenv("TG_SRC");
    snprintf(dir, sizeof(dir), "%s/tests/data/json", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_decisions_name_files),
        cmocka_unit_test(test_errors_say_what_and_where),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

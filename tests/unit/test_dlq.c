/* Unit tests of dlq/entry.c (the dead-letter line: encoded on one line, body
 * kept byte for byte, read back) and dlq/file.c (appends under the lock,
 * the replay's rewrite carrying over what was appended since its read, and
 * refusing a file replaced meanwhile). */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlq/entry.h"
#include "dlq/file.h"

static struct tg_dlq_entry sample(const char *body)
{
    return (struct tg_dlq_entry){
        .time = "2026-12-06T08:00:00.000Z",
        .request_id = "r-1",
        .method = "POST",
        .path = "/v1/chat/completions",
        .route = "gpt-4o",
        .key = "team-a",
        .body = body,
        .body_len = strlen(body),
        .attempts_json = "[{\"deployment\":\"d\",\"outcome\":\"server\",\"status\":503,\"ms\":3,"
                         "\"hedge\":false}]",
        .status = 502,
        .code = "upstream_unavailable",
        .message = "every upstream path failed",
    };
}

static void test_encode_one_line_exact_body(void **state)
{
    (void)state;
    const char *body = "{\n  \"model\" : \"gpt-4o\",\r\n\t\"messages\": [{\"role\": \"user\", "
                       "\"content\": \"a  b\\n \\\"c\\\" \\\\\"}],\n \"temperature\": 0.70 }\n";
    struct tg_dlq_entry e = sample(body);
    struct tg_buf b = TG_BUF_INIT;
    tg_dlq_entry_encode(&e, &b);
    assert_non_null(strchr(b.data, '\n'));
    assert_int_equal(strchr(b.data, '\n') - b.data, (long)b.len - 1); /* one line */
    /* Whitespace outside strings gone, inside kept; numbers as written. */
    assert_non_null(strstr(b.data, "\"body\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                                   "\"content\":\"a  b\\n \\\"c\\\" \\\\\"}],\"temperature\":0.70}"));
    struct tg_dlq_record rec;
    char why[128];
    assert_int_equal(tg_dlq_record_parse(b.data, b.len - 1, &rec, why, sizeof(why)), 0);
    assert_string_equal(rec.request_id, "r-1");
    assert_string_equal(rec.path, "/v1/chat/completions");
    assert_string_equal(rec.route, "gpt-4o");
    assert_string_equal(rec.key, "team-a");
    assert_string_equal(rec.code, "upstream_unavailable");
    assert_int_equal(rec.status, 502);
    assert_int_equal(rec.n_attempts, 1);
    assert_string_equal(rec.body, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                                  "\"content\":\"a  b\\n \\\"c\\\" \\\\\"}],\"temperature\":0.70}");
    tg_dlq_record_free(&rec);
    tg_buf_free(&b);
}

static void test_encode_no_key_and_text_body(void **state)
{
    (void)state;
    struct tg_dlq_entry e = sample("not json\nat all");
    e.key = NULL;
    e.attempts_json = NULL;
    struct tg_buf b = TG_BUF_INIT;
    tg_dlq_entry_encode(&e, &b);
    assert_non_null(strstr(b.data, "\"key\":null"));
    assert_non_null(strstr(b.data, "\"body_text\":\"not json\\nat all\""));
    assert_non_null(strstr(b.data, "\"attempts\":[]"));
    struct tg_dlq_record rec;
    char why[128];
    assert_int_equal(tg_dlq_record_parse(b.data, b.len - 1, &rec, why, sizeof(why)), 0);
    assert_null(rec.key);
    assert_string_equal(rec.body, "not json\nat all");
    tg_dlq_record_free(&rec);
    tg_buf_free(&b);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *why;
    } cases[] = {
        {"", "not JSON"},
        {"{\"path\":", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"body\":{}}", "no \"path\""},
        {"{\"path\":\"v1/x\",\"body\":{}}", "no \"path\""},
        {"{\"path\":\"/v1/x\"}", "no \"body\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_dlq_record rec;
        char why[128] = "";
        assert_int_equal(tg_dlq_record_parse(cases[i].line, strlen(cases[i].line), &rec, why,
                                             sizeof(why)),
                         -1);
        if (!strstr(why, cases[i].why)) {
            fprintf(stderr, "%s: %s\n", cases[i].line, why);
            fail();
        }
    }
}

static char *temp_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
    return out;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_file_append_and_rewrite(void **state)
{
    (void)state;
    char dir[] = "/tmp/tg-unit-dlq-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], other[512];
    temp_path(path, sizeof(path), dir, "q.jsonl");
    struct tg_dlq_file_error e = {NULL, 0};
    const char *lines[] = {"a\n", "b\n"};
    size_t lens[] = {2, 2};
    assert_int_equal(tg_dlq_file_append(path, lines, lens, 2, &e), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct tg_buf text = TG_BUF_INIT;
    ino_t ino;
    dev_t dev;
    assert_int_equal(tg_dlq_file_read(path, &text, &ino, &dev, &e), 0);
    assert_int_equal(text.len, 4);
    /* Appended after the read: carried over by the rewrite. */
    const char *late[] = {"c\n"};
    size_t late_len[] = {2};
    assert_int_equal(tg_dlq_file_append(path, late, late_len, 1, &e), 0);
    assert_int_equal(tg_dlq_file_rewrite(path, ino, dev, text.len, "b\n", 2, &e), 0);
    assert_string_equal(slurp(path), "b\nc\n");
    assert_int_equal(access(temp_path(other, sizeof(other), dir, "q.jsonl.tmp"), F_OK), -1);
    /* The file was replaced since that read: its offsets mean nothing. */
    assert_int_equal(tg_dlq_file_rewrite(path, ino, dev, text.len, "", 0, &e), -1);
    assert_int_equal(e.err, ESTALE);
    assert_string_equal(slurp(path), "b\nc\n");
    /* Appends go to the new file. */
    assert_int_equal(tg_dlq_file_append(path, late, late_len, 1, &e), 0);
    assert_string_equal(slurp(path), "b\nc\nc\n");
    /* A missing directory: the open fails, and says so. */
    assert_int_equal(tg_dlq_file_append(temp_path(other, sizeof(other), dir, "none/q.jsonl"), lines, lens, 1, &e), -1);
    assert_string_equal(e.op, "open");
    assert_int_equal(e.err, ENOENT);
    tg_buf_free(&text);
    unlink(path);
    rmdir(dir);
}

static void test_file_full_disk(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    struct tg_dlq_file_error e = {NULL, 0};
    const char *lines[] = {"a\n"};
    size_t lens[] = {2};
    assert_int_equal(tg_dlq_file_append("/dev/full", lines, lens, 1, &e), -1);
    assert_string_equal(e.op, "write");
    assert_int_equal(e.err, ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_one_line_exact_body),
        cmocka_unit_test(test_encode_no_key_and_text_body),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_file_append_and_rewrite),
        cmocka_unit_test(test_file_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* core/buf: the decimal formatter the hot paths use instead of printf
 * (span timestamps, Redis commands), checked against printf. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "util/rand.h"

static void check(uint64_t v)
{
    char want[24], got[24];
    snprintf(want, sizeof(want), "%" PRIu64, v);
    size_t n = tg_u64_decimal(v, got);
    got[n] = '\0';
    if (strcmp(got, want) != 0)
        fail_msg("%s, expected %s", got, want);
}

static void test_u64_decimal(void **state)
{
    (void)state;
    static const uint64_t edges[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345,
                                     1000000000, 1796582151575458520u, UINT64_MAX - 1,
                                     UINT64_MAX};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        check(edges[i]);
    for (uint64_t p = 1; p && p <= UINT64_MAX / 10; p *= 10) {
        check(p - 1);
        check(p);
        check(p + 1);
    }
    struct tg_rand r;
    tg_rand_seed(&r, 16);
    for (int i = 0; i < 100000; i++)
        check(tg_rand_u64(&r) >> (tg_rand_u64(&r) % 64));
}

static void test_buf_put_u64(void **state)
{
    (void)state;
    struct tg_buf b = TG_BUF_INIT;
    tg_buf_puts(&b, "n=");
    tg_buf_put_u64(&b, 18446744073709551615u);
    assert_string_equal(b.data, "n=18446744073709551615");
    assert_int_equal(b.len, 22);
    tg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_decimal),
        cmocka_unit_test(test_buf_put_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

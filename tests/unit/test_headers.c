/* Unit tests of the anthropic-ratelimit-*-reset times (util/headers.c): the
 * RFC 3339 date-time grammar, exactly, whatever length or garbage a provider
 * sends (the values are read in place, never copied into a fixed buffer). */
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

#include "util/headers.h"

#define NOW_MS INT64_C(1700000000000) /* 2023-11-14T22:13:20Z */

/* The wait a 429 with the requests limit run out and this reset value asks
 * for; the block is an exact-size heap copy so a read past it is caught. */
static int64_t reset_wait(const char *reset)
{
    char *block = NULL;
    int n = asprintf(&block,
                     "HTTP/1.1 429 x\r\nanthropic-ratelimit-requests-remaining: 0\r\n"
                     "anthropic-ratelimit-requests-reset: %s",
                     reset);
    assert_true(n > 0);
    char *exact = malloc((size_t)n);
    memcpy(exact, block, (size_t)n);
    free(block);
    int64_t ms = tg_headers_retry_after(exact, (size_t)n, NOW_MS);
    free(exact);
    return ms;
}

static void test_reset_valid(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int64_t ms;
    } rows[] = {
        {"2023-11-14T22:13:50Z", 30000},
        {"2023-11-14t22:13:50z", 30000}, /* RFC 3339 5.6: T and Z in either case */
        {"2023-11-14T22:13:50.5Z", 30500},
        {"2023-11-14T22:13:50.123456789Z", 30123},
        {"2023-11-14T23:13:50+01:00", 30000},
        {"2023-11-14T21:43:50-00:30", 30000},
        {"2023-11-14T22:13:59.999+00:00", 39999},
        {"2023-11-14T22:13:10Z", 0}, /* the past */
        {"1969-12-31T23:59:59Z", 0},
        {"2023-11-14T22:13:60Z", 40000}, /* a leap second */
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000) - NOW_MS},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t ms = reset_wait(rows[i].value);
        if (ms != rows[i].ms)
            fail_msg("\"%s\" -> %lld, expected %lld", rows[i].value, (long long)ms,
                     (long long)rows[i].ms);
    }
}

/* The fuzzer's find: 38 zeros of fraction then a short offset read past the
 * parser's stack copy; a fraction of any length is fine. */
static void test_reset_long_fraction(void **state)
{
    (void)state;
    char v[512];
    snprintf(v, sizeof(v), "2023-11-14T22:13:50.%038d+1:2", 0);
    assert_int_equal(reset_wait(v), -1);
    snprintf(v, sizeof(v), "2023-11-14T22:13:50.%0300dZ", 7);
    assert_int_equal(reset_wait(v), 30000);
    snprintf(v, sizeof(v), "2023-11-14T22:13:50.25%0300d+00:00", 0);
    assert_int_equal(reset_wait(v), 30250);
    snprintf(v, sizeof(v), "2023-11-14T22:13:50.%0400dZ", 0);
    v[20] = '9';
    for (size_t i = 21; i < 420; i++)
        v[i] = '9';
    assert_int_equal(reset_wait(v), 30999);
}

static void test_reset_invalid(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "",
        "2023-11-14T22:13:50",       /* no offset */
        "2023-11-14T22:13:50.Z",     /* a dot without digits */
        "2023-11-14T22:13:50.5e3Z",  /* C number syntax is not a fraction */
        "2023-11-14T22:13:50.5e300Z",
        "2023-11-14T22:13:50+01:00x",
        "2023-11-14T22:13:50+1:00",
        "2023-11-14T22:13:50+01:0",
        "2023-11-14T22:13:50+0100",
        "2023-11-14T22:13:50+24:00",
        "2023-11-14T22:13:50+01:60",
        "2023-11-14T22:13:50+",
        "2023-11-14 22:13:50Z",
        "2023-1-14T22:13:50Z",
        "2023-11-4T22:13:50Z",
        "23-11-14T22:13:50Z",
        "+2023-11-14T22:13:50Z",
        "2023-11-14T2:13:50Z",
        "2023-11-14T22:13:5Z",
        "2023-02-29T00:00:00Z",
        "2023-04-31T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-00-01T00:00:00Z",
        "2023-11-00T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:60:00Z",
        "2023-11-14T22:13:61Z",
        "2023-11-14T-2:13:50Z",
        "2023-11-14T22:13:50.-5Z",
        "Tue, 14 Nov 2023 22:13:50 GMT",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t ms = reset_wait(rows[i]);
        if (ms != -1)
            fail_msg("\"%s\" -> %lld, expected -1 (not RFC 3339)", rows[i], (long long)ms);
    }
}

/* The latest reset of the limits that ran out; limits with some left wait for nothing. */
static void test_reset_latest_exhausted(void **state)
{
    (void)state;
    static const char block[] = "HTTP/1.1 429 x\r\n"
                                "anthropic-ratelimit-requests-remaining: 5\r\n"
                                "anthropic-ratelimit-requests-reset: 2023-11-14T22:20:00Z\r\n"
                                "anthropic-ratelimit-tokens-remaining: 0\r\n"
                                "anthropic-ratelimit-tokens-reset: 2023-11-14T22:13:25Z\r\n"
                                "anthropic-ratelimit-output-tokens-remaining: 0\r\n"
                                "anthropic-ratelimit-output-tokens-reset: 2023-11-14T22:13:30Z\r\n"
                                "\r\n";
    assert_int_equal(tg_headers_retry_after(block, sizeof(block) - 1, NOW_MS), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_valid),
        cmocka_unit_test(test_reset_long_fraction),
        cmocka_unit_test(test_reset_invalid),
        cmocka_unit_test(test_reset_latest_exhausted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

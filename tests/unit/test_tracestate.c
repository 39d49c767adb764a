/* Unit tests of the tracestate a client sends, as the gateway passes it on
 * (util/traceparent.c, W3C Trace Context section 3.3): lists checked,
 * cleaned and cut. Values are exact-size heap copies, so a read past one is
 * caught under ASan. (traceparent and sampling: test_traceparent.c.) */
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

#include "util/traceparent.h"

static char *exact(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return p;
}

/* The cleaned list, or "" when none is passed on. */
static const char *clean(const char *s)
{
    static char out[TG_TRACESTATE_MAX + 1];
    char *p = exact(s);
    memset(out, 'X', sizeof(out));
    size_t n = tg_tracestate_clean(p, strlen(s), out);
    free(p);
    assert_int_equal(strlen(out), n);
    return out;
}

static void test_tracestate_members(void **state)
{
    (void)state;
    assert_string_equal(clean("congo=t61rcWkgMzE"), "congo=t61rcWkgMzE");
    assert_string_equal(clean("foo=1,bar=2,rojo=1,congo=2,baz=3"),
                        "foo=1,bar=2,rojo=1,congo=2,baz=3");
    assert_string_equal(clean("foo=1 \t , \t bar=2, \t baz=3"), "foo=1,bar=2,baz=3");
    assert_string_equal(clean(",foo=1,,  ,\t,bar=2,"), "foo=1,bar=2");
    assert_string_equal(clean("foo=a value with spaces"), "foo=a value with spaces");
    assert_string_equal(clean("foo= 1"), "foo= 1"); /* a value may start with a space */
    assert_string_equal(clean("t@v=1,0t@v=2,a_-*/9@z_-*/9=3"), "t@v=1,0t@v=2,a_-*/9@z_-*/9=3");
    assert_string_equal(clean(""), "");
    assert_string_equal(clean(" , \t,"), "");
}

static void test_tracestate_discarded(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "foo",        "foo=1,bar",  "foo=",       "=1",         "foo=1,foo=2",
        "foo=1,foo=1", "FOO=1",     "foo =1",     "foo.bar=1",  "1foo=1",
        "foo@=1",     "@foo=1",     "foo@@bar=1", "foo@bar@baz=1", "t@1v=1",
        "foo=bar=baz", "foo=,bar=3", "foo=a\tb",  "foo=\x7f",   "foo=\xc3\xa9",
        "_foo=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (clean(bad[i])[0])
            fail_msg("kept %s as %s", bad[i], clean(bad[i]));
}

static void test_tracestate_limits(void **state)
{
    (void)state;
    char list[2048];
    /* 32 members, not 33. */
    size_t n = 0;
    for (int i = 1; i <= 33; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%sbar%02d=%02d", i > 1 ? "," : "", i,
                              i);
    assert_string_equal(clean(list), "");
    list[n - strlen(",bar33=33")] = '\0';
    assert_string_equal(clean(list), list);
    /* Keys: 256 characters, a tenant of 241 and a system of 14, not more. */
    memset(list, 'z', 256);
    strcpy(list + 256, "=1");
    assert_string_equal(clean(list), list);
    memset(list, 'z', 257);
    strcpy(list + 257, "=1");
    assert_string_equal(clean(list), "");
    memset(list, 't', 241);
    list[241] = '@';
    memset(list + 242, 'v', 14);
    strcpy(list + 256, "=1");
    assert_string_equal(clean(list), list);
    memset(list, 't', 242);
    strcpy(list + 242, "@v=1");
    assert_string_equal(clean(list), "");
    strcpy(list, "t@vvvvvvvvvvvvvvv=1"); /* a system of 15 */
    assert_string_equal(clean(list), "");
    /* Values: 256 characters, not 257. */
    strcpy(list, "k=");
    memset(list + 2, 'v', 256);
    list[258] = '\0';
    assert_string_equal(clean(list), list);
    strcpy(list + 258, "v");
    assert_string_equal(clean(list), "");
}

static void test_tracestate_cut_to_512(void **state)
{
    (void)state;
    /* 14 members of 40 characters: 573, cut from the end to 12 (491). */
    char list[2048], want[2048];
    size_t n = 0, w = 0;
    for (int i = 0; i < 14; i++) {
        char m[41];
        snprintf(m, sizeof(m), "k%02d=%036d", i, i);
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "", m);
        if (i < 12)
            w += (size_t)snprintf(want + w, sizeof(want) - w, "%s%s", i ? "," : "", m);
    }
    assert_string_equal(clean(list), want);
    /* A member over 128 characters goes first, wherever it is. */
    char with_big[4096];
    snprintf(with_big, sizeof(with_big), "k00=%036d,big=%0150d,%s", 0, 0, want + 41);
    assert_true(strlen(with_big) > TG_TRACESTATE_MAX);
    assert_string_equal(clean(with_big), want);
    /* Exactly 512 stays whole. */
    memset(list, 0, sizeof(list));
    strcpy(list, "a=");
    memset(list + 2, 'v', 256);
    strcpy(list + 258, ",b=");
    memset(list + 261, 'w', 251);
    assert_int_equal(strlen(list), 512);
    assert_string_equal(clean(list), list);
    strcat(list, "w"); /* 513: the long members go from the end until it fits */
    char kept[259] = "a=";
    memset(kept + 2, 'v', 256);
    kept[258] = '\0';
    assert_string_equal(clean(list), kept);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tracestate_members),
        cmocka_unit_test(test_tracestate_discarded),
        cmocka_unit_test(test_tracestate_limits),
        cmocka_unit_test(test_tracestate_cut_to_512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

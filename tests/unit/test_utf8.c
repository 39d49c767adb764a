/* Unit tests of util/utf8.c: RFC 3629's sequences at their boundaries
 * (overlong forms, surrogates, U+10FFFF, truncation), then every sequence
 * of up to three bytes and a wide sample of four-byte ones checked against
 * a decoder written from the RFC's definition. Bytes are read from heap
 * blocks of exactly n bytes, so a read past n shows under ASan. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, s, n);
    size_t len = tg_utf8_seq_len(copy, n);
    free(copy);
    return len;
}

/* The RFC's definition, the long way: the length the lead byte announces,
 * continuation bytes 10xxxxxx, the code point decoded, then refused when it
 * has a shorter form, is a surrogate or is past U+10FFFF. */
static size_t reference_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    /* Bytes present must already be continuations for a truncated
     * sequence to be refused for the right reason; both refuse it. */
    for (size_t k = 1; k < len; k++) {
        if (k >= n || (s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

struct row {
    const char *bytes;
    size_t n;
    size_t want;
};

#define ROW(lit, want)                                                                             \
    {                                                                                              \
        lit, sizeof(lit) - 1, want                                                                 \
    }

static void test_boundaries(void **state)
{
    (void)state;
    static const struct row rows[] = {
        ROW("\x00", 1),
        ROW("A", 1),
        ROW("\x7f", 1),
        /* continuation bytes alone, and lead bytes never used */
        ROW("\x80", 0),
        ROW("\xbf", 0),
        ROW("\xc0\x80", 0), /* overlong U+0000 */
        ROW("\xc1\xbf", 0), /* overlong U+007F */
        ROW("\xf5\x80\x80\x80", 0),
        ROW("\xf8\x88\x80\x80\x80", 0),
        ROW("\xfe", 0),
        ROW("\xff", 0),
        /* two bytes */
        ROW("\xc2\x80", 2), /* U+0080 */
        ROW("\xc3\xa9", 2),
        ROW("\xdf\xbf", 2), /* U+07FF */
        ROW("\xc2\x7f", 0),
        ROW("\xc2\xc0", 0),
        /* three bytes */
        ROW("\xe0\x80\x80", 0), /* overlong U+0000 */
        ROW("\xe0\x9f\xbf", 0), /* overlong U+07FF */
        ROW("\xe0\xa0\x80", 3), /* U+0800 */
        ROW("\xe2\x82\xac", 3), /* the euro sign */
        ROW("\xed\x9f\xbf", 3), /* U+D7FF */
        ROW("\xed\xa0\x80", 0), /* U+D800, a surrogate */
        ROW("\xed\xbf\xbf", 0), /* U+DFFF */
        ROW("\xee\x80\x80", 3), /* U+E000 */
        ROW("\xef\xbf\xbd", 3), /* U+FFFD */
        ROW("\xef\xbf\xbf", 3), /* U+FFFF: a noncharacter, still UTF-8 */
        ROW("\xe2\x82\x2c", 0),
        ROW("\xe2\x28\xac", 0),
        /* four bytes */
        ROW("\xf0\x80\x80\x80", 0), /* overlong */
        ROW("\xf0\x8f\xbf\xbf", 0), /* overlong U+FFFF */
        ROW("\xf0\x90\x80\x80", 4), /* U+10000 */
        ROW("\xf0\x9f\x98\x80", 4), /* an emoji */
        ROW("\xf4\x8f\xbf\xbf", 4), /* U+10FFFF */
        ROW("\xf4\x90\x80\x80", 0), /* U+110000 */
        ROW("\xf7\xbf\xbf\xbf", 0), /* U+1FFFFF */
        ROW("\xf0\x9f\x98\xc0", 0),
        /* truncated: the bytes end before the sequence does */
        ROW("\xc3", 0),
        ROW("\xe2\x82", 0),
        ROW("\xe2", 0),
        ROW("\xf0\x9f\x98", 0),
        ROW("\xf0\x9f", 0),
        ROW("\xf4", 0),
        /* only the first sequence counts */
        ROW("\xc3\xa9\xff", 2),
        ROW("a\xff", 1),
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const unsigned char *b = (const unsigned char *)rows[i].bytes;
        size_t got = seq_len(b, rows[i].n);
        if (got != rows[i].want)
            fail_msg("row %zu (%02x...): %zu, expected %zu", i, b[0], got, rows[i].want);
    }
}

/* A valid sequence cut short by n is refused at every cut. */
static void test_cut_by_n(void **state)
{
    (void)state;
    static const char *const seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        size_t len = strlen(seqs[i]);
        for (size_t n = 1; n < len; n++)
            assert_int_equal(seq_len((const unsigned char *)seqs[i], n), 0);
        assert_int_equal(seq_len((const unsigned char *)seqs[i], len), len);
    }
}

/* Every one-, two- and three-byte input, each at every length n from 1 to
 * 3, and four-byte inputs over every lead and second byte with the last
 * two from the classes that matter, against the reference decoder. */
static void test_against_reference(void **state)
{
    (void)state;
    unsigned char b[4];
    for (unsigned x = 0; x < 256; x++)
        for (unsigned y = 0; y < 256; y++)
            for (unsigned z = 0; z < 256; z++) {
                b[0] = (unsigned char)x;
                b[1] = (unsigned char)y;
                b[2] = (unsigned char)z;
                for (size_t n = 1; n <= 3; n++) {
                    size_t got = tg_utf8_seq_len(b, n), want = reference_len(b, n);
                    if (got != want)
                        fail_msg("%02x %02x %02x n=%zu: %zu, expected %zu", x, y, z, n, got, want);
                }
                if (x < 0xc0)
                    break; /* z cannot matter after ASCII or a continuation lead */
            }
    static const unsigned char tails[] = {0x00, 0x3f, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff};
    for (unsigned x = 0xc0; x < 256; x++)
        for (unsigned y = 0; y < 256; y++)
            for (size_t i = 0; i < sizeof(tails); i++)
                for (size_t j = 0; j < sizeof(tails); j++) {
                    b[0] = (unsigned char)x;
                    b[1] = (unsigned char)y;
                    b[2] = tails[i];
                    b[3] = tails[j];
                    size_t got = tg_utf8_seq_len(b, 4), want = reference_len(b, 4);
                    if (got != want)
                        fail_msg("%02x %02x %02x %02x: %zu, expected %zu", x, y, b[2], b[3], got,
                                 want);
                }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_cut_by_n),
        cmocka_unit_test(test_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

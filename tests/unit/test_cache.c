/* Unit tests of the response cache (route/cache.c) on a fake clock: get and
 * put, max-age freshness, LRU eviction under max_bytes, replacement,
 * oversize answers, and keys that depend on both route and body. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "route/cache.h"

/* What one entry costs against max_bytes (cache.c's accounting: body,
 * deployment name, and a fixed overhead per entry), measured rather than
 * assumed. */
static size_t entry_cost(size_t body_len, const char *dep)
{
    struct tg_cache c;
    tg_cache_init(&c, SIZE_MAX);
    uint8_t key[TG_CACHE_KEY_LEN];
    tg_cache_key("/v1/chat/completions", "r", "b", 1, key);
    char body[4096] = {0};
    assert_true(body_len <= sizeof(body));
    tg_cache_put(&c, key, 200, false, dep, body, body_len, 0);
    size_t bytes = c.bytes;
    tg_cache_free(&c);
    assert_true(bytes >= body_len + strlen(dep));
    return bytes;
}

static void key_of(const char *route, const char *body, uint8_t *key)
{
    tg_cache_key("/v1/chat/completions", route, body, strlen(body), key);
}

static const struct tg_cache_entry *get(struct tg_cache *c, const char *route, const char *body,
                                        uint64_t now, uint64_t max_age)
{
    uint8_t key[TG_CACHE_KEY_LEN];
    key_of(route, body, key);
    return tg_cache_get(c, key, now, max_age);
}

static void put(struct tg_cache *c, const char *route, const char *body, const char *answer,
                uint64_t now)
{
    uint8_t key[TG_CACHE_KEY_LEN];
    key_of(route, body, key);
    tg_cache_put(c, key, 200, false, "dep-a", answer, strlen(answer), now);
}

static void test_get_put(void **state)
{
    (void)state;
    struct tg_cache c;
    tg_cache_init(&c, 1 << 20);
    uint8_t key[TG_CACHE_KEY_LEN];
    key_of("gpt-4o", "{\"messages\":[]}", key);
    assert_null(tg_cache_get(&c, key, 1000, 60000));

    const char answer[] = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}";
    tg_cache_put(&c, key, 200, false, "gpt-4o@openai", answer, sizeof(answer) - 1, 1000);
    const struct tg_cache_entry *e = tg_cache_get(&c, key, 1500, 60000);
    assert_non_null(e);
    assert_int_equal(e->status, 200);
    assert_false(e->stream);
    assert_string_equal(e->deployment, "gpt-4o@openai");
    assert_int_equal(e->body_len, sizeof(answer) - 1);
    assert_memory_equal(e->body, answer, sizeof(answer) - 1);
    assert_int_equal(e->body[e->body_len], '\0');
    assert_int_equal(e->stored_ms, 1000);
    assert_int_equal(c.n_entries, 1);

    /* A stream transcript with embedded NULs, and an empty body. */
    const char sse[] = "data: {\"a\":1}\n\n\0data: [DONE]\n\n";
    uint8_t k2[TG_CACHE_KEY_LEN], k3[TG_CACHE_KEY_LEN];
    key_of("gpt-4o", "{\"stream\":true}", k2);
    key_of("gpt-4o", "{}", k3);
    tg_cache_put(&c, k2, 200, true, "d", sse, sizeof(sse) - 1, 2000);
    tg_cache_put(&c, k3, 200, false, "d", "", 0, 2000);
    e = tg_cache_get(&c, k2, 2000, 0);
    assert_non_null(e);
    assert_true(e->stream);
    assert_int_equal(e->body_len, sizeof(sse) - 1);
    assert_memory_equal(e->body, sse, sizeof(sse) - 1);
    e = tg_cache_get(&c, k3, 2000, 0);
    assert_non_null(e);
    assert_int_equal(e->body_len, 0);
    assert_int_equal(c.n_entries, 3);
    tg_cache_free(&c);
}

/* An entry is returned while its age is at most max_age_ms. A miss for age
 * does not drop it: the same entry may still serve as stale (a longer
 * max_age) when every path failed. Rows: (now, max_age, hit). */
static void test_max_age(void **state)
{
    (void)state;
    struct tg_cache c;
    tg_cache_init(&c, 1 << 20);
    put(&c, "m", "q", "answer", 10000);
    static const struct {
        uint64_t now, max_age;
        bool hit;
    } rows[] = {
        {10000, 0, true}, /* age 0 */
        {10001, 0, false},
        {10000 + 300000, 300000, true}, /* ttl_s = 300: exactly */
        {10000 + 300001, 300000, false},
        {10000 + 300001, 86400000, true}, /* stale_s = 86400 */
        {10000 + 86400000, 86400000, true},
        {10000 + 86400001, 86400000, false},
        {5000, 0, true}, /* a time before it was stored: age 0 */
        {10000 + 300001, 300000, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct tg_cache_entry *e = get(&c, "m", "q", rows[i].now, rows[i].max_age);
        if ((e != NULL) != rows[i].hit)
            fail_msg("row %zu: now %llu max_age %llu: %s", i, (unsigned long long)rows[i].now,
                     (unsigned long long)rows[i].max_age, e ? "hit" : "miss");
    }
    assert_int_equal(c.n_entries, 1);
    tg_cache_free(&c);
}

/* Least recently used goes first; a get counts as a use. */
static void test_lru_eviction(void **state)
{
    (void)state;
    size_t cost = entry_cost(10, "dep-a");
    struct tg_cache c;
    tg_cache_init(&c, 3 * cost); /* room for three */
    static const struct {
        char op;             /* 'p' put, 'g' get */
        const char *name;    /* the request body; answers are 10 bytes */
        const char *present; /* entries expected afterwards */
    } rows[] = {
        {'p', "A", "A"},   {'p', "B", "AB"},  {'p', "C", "ABC"},
        {'p', "D", "BCD"},                                       /* A, the oldest, goes */
        {'g', "B", "BCD"},                                       /* B is now the most recent */
        {'p', "E", "BDE"},                                       /* C goes */
        {'g', "D", "BDE"}, {'g', "B", "BDE"}, {'p', "F", "BDF"}, /* E goes */
        {'p', "D", "BDF"}, /* replaces D, which becomes the most recent */
        {'p', "G", "DFG"}, /* B goes */
        {'g', "X", "DFG"}, /* a miss changes nothing */
        {'p', "H", "DGH"}, /* F: D was replaced after it */
    };
    uint64_t now = 1000;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++, now++) {
        if (rows[i].op == 'p')
            put(&c, "m", rows[i].name, "0123456789", now);
        else
            get(&c, "m", rows[i].name, now, UINT64_MAX);
        assert_true(c.bytes <= c.max_bytes);
        assert_int_equal(c.n_entries, strlen(rows[i].present));
        assert_int_equal(c.bytes, strlen(rows[i].present) * cost);
        /* Walk the LRU list: every entry on it is one of `present` (listed
         * in name order). Looking entries up would reorder them. */
        size_t seen = 0;
        struct tg_list *pos;
        tg_list_foreach(pos, &c.lru)
        {
            const struct tg_cache_entry *e = tg_container_of(pos, struct tg_cache_entry, lru);
            bool found = false;
            for (const char *n = rows[i].present; *n && !found; n++) {
                uint8_t key[TG_CACHE_KEY_LEN];
                char body[2] = {*n, 0};
                key_of("m", body, key);
                found = memcmp(key, e->key, TG_CACHE_KEY_LEN) == 0;
            }
            if (!found)
                fail_msg("row %zu: an entry not in \"%s\" is still cached", i, rows[i].present);
            seen++;
        }
        assert_int_equal(seen, strlen(rows[i].present));
    }
    tg_cache_free(&c);
}

/* Replacing an entry: one entry, the new answer, the bytes of the new one. */
static void test_replace(void **state)
{
    (void)state;
    struct tg_cache c;
    tg_cache_init(&c, 1 << 20);
    uint8_t key[TG_CACHE_KEY_LEN];
    key_of("m", "q", key);
    tg_cache_put(&c, key, 200, false, "dep-a", "first answer", 12, 1000);
    size_t one = c.bytes;
    tg_cache_put(&c, key, 200, true, "dep-bb", "the second, longer answer", 25, 2000);
    assert_int_equal(c.n_entries, 1);
    assert_int_equal(c.bytes, one + 13 + 1);
    const struct tg_cache_entry *e = tg_cache_get(&c, key, 2000, 0);
    assert_non_null(e);
    assert_string_equal(e->body, "the second, longer answer");
    assert_string_equal(e->deployment, "dep-bb");
    assert_true(e->stream);
    assert_int_equal(e->stored_ms, 2000);
    assert_null(tg_cache_get(&c, key, 2001, 0)); /* the age is the new entry's */
    tg_cache_free(&c);
}

/* An answer larger than max_bytes is not kept, and does not push the others
 * out; one that just fits evicts everything else. */
static void test_oversize(void **state)
{
    (void)state;
    size_t small = entry_cost(10, "dep-a");
    struct tg_cache c;
    tg_cache_init(&c, 4 * small);
    put(&c, "m", "a", "0123456789", 1);
    put(&c, "m", "b", "0123456789", 2);
    static char big[8192];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put(&c, "m", "big", big, 3);
    assert_null(get(&c, "m", "big", 3, UINT64_MAX));
    assert_int_equal(c.n_entries, 2);
    assert_non_null(get(&c, "m", "a", 3, UINT64_MAX));
    assert_non_null(get(&c, "m", "b", 3, UINT64_MAX));

    /* Exactly max_bytes: kept, alone. */
    size_t fit_len = 4 * small - (small - 10);
    assert_true(fit_len < sizeof(big));
    uint8_t key[TG_CACHE_KEY_LEN];
    key_of("m", "fit", key);
    tg_cache_put(&c, key, 200, false, "dep-a", big, fit_len, 4);
    assert_int_equal(c.bytes, c.max_bytes);
    assert_int_equal(c.n_entries, 1);
    assert_non_null(tg_cache_get(&c, key, 4, 0));
    /* One byte more: not kept. */
    key_of("m", "fit+1", key);
    tg_cache_put(&c, key, 200, false, "dep-a", big, fit_len + 1, 5);
    assert_null(tg_cache_get(&c, key, 5, UINT64_MAX));
    tg_cache_free(&c);

    /* max_bytes 0 keeps nothing. */
    tg_cache_init(&c, 0);
    put(&c, "m", "a", "", 1);
    assert_int_equal(c.n_entries, 0);
    assert_int_equal(c.bytes, 0);
    tg_cache_free(&c);
}

/* Shrinking max_bytes evicts the least recently used first. */
static void test_shrink(void **state)
{
    (void)state;
    size_t cost = entry_cost(10, "dep-a");
    struct tg_cache c;
    tg_cache_init(&c, 10 * cost);
    const char *names[] = {"1", "2", "3", "4", "5"};
    for (int i = 0; i < 5; i++)
        put(&c, "m", names[i], "0123456789", (uint64_t)i);
    get(&c, "m", "1", 10, UINT64_MAX);
    tg_cache_set_max_bytes(&c, 2 * cost);
    assert_int_equal(c.n_entries, 2);
    assert_non_null(get(&c, "m", "1", 10, UINT64_MAX));
    assert_non_null(get(&c, "m", "5", 10, UINT64_MAX));
    assert_null(get(&c, "m", "4", 10, UINT64_MAX));
    tg_cache_free(&c);
}

/* The key: SHA-256 over route and body; any difference in either changes it,
 * and the boundary between them is not ambiguous. */
static void test_keys(void **state)
{
    (void)state;
    static const struct {
        const char *route, *body;
    } inputs[] = {
        {"gpt-4o", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
        {"gpt-4o-mini", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
        {"gpt-4o", "{\"messages\":[{\"role\":\"user\",\"content\":\"hI\"}]}"},
        {"gpt-4o", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}] }"},
        {"ab", "c"},
        {"a", "bc"},
        {"abc", ""},
        {"", "abc"},
        {"", ""},
    };
    enum { N = sizeof(inputs) / sizeof(inputs[0]) };
    uint8_t keys[N][TG_CACHE_KEY_LEN];
    for (size_t i = 0; i < N; i++) {
        key_of(inputs[i].route, inputs[i].body, keys[i]);
        uint8_t again[TG_CACHE_KEY_LEN];
        key_of(inputs[i].route, inputs[i].body, again);
        assert_memory_equal(keys[i], again, TG_CACHE_KEY_LEN);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (memcmp(keys[i], keys[j], TG_CACHE_KEY_LEN) == 0)
                fail_msg("(%s, %s) and (%s, %s) share a key", inputs[i].route, inputs[i].body,
                         inputs[j].route, inputs[j].body);

    /* The same body on two routes: two entries. */
    struct tg_cache c;
    tg_cache_init(&c, 1 << 20);
    put(&c, "gpt-4o", "{}", "from 4o", 1);
    put(&c, "gpt-4o-mini", "{}", "from mini", 1);
    assert_string_equal(get(&c, "gpt-4o", "{}", 1, 0)->body, "from 4o");
    assert_string_equal(get(&c, "gpt-4o-mini", "{}", 1, 0)->body, "from mini");
    assert_null(get(&c, "gpt-4", "{}", 1, 0));
    /* The body length counts, not a NUL inside it. */
    uint8_t k1[TG_CACHE_KEY_LEN], k2[TG_CACHE_KEY_LEN];
    tg_cache_key("/v1/chat/completions", "m", "ab\0c", 4, k1);
    tg_cache_key("/v1/chat/completions", "m", "ab\0d", 4, k2);
    assert_memory_not_equal(k1, k2, TG_CACHE_KEY_LEN);
    /* One body can be a chat and a Messages request: their answers differ. */
    tg_cache_key("/v1/messages", "m", "ab\0c", 4, k2);
    assert_memory_not_equal(k1, k2, TG_CACHE_KEY_LEN);
    tg_cache_free(&c);
}

/* Many entries (more than hash buckets): all found, and freeing leaks
 * nothing (the sanitizer build checks). */
static void test_many(void **state)
{
    (void)state;
    struct tg_cache c;
    tg_cache_init(&c, SIZE_MAX);
    char body[32], answer[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(body, sizeof(body), "q%d", i);
        snprintf(answer, sizeof(answer), "a%d", i);
        put(&c, "m", body, answer, (uint64_t)i);
    }
    assert_int_equal(c.n_entries, 5000);
    for (int i = 0; i < 5000; i += 7) {
        snprintf(body, sizeof(body), "q%d", i);
        snprintf(answer, sizeof(answer), "a%d", i);
        const struct tg_cache_entry *e = get(&c, "m", body, 5000, UINT64_MAX);
        assert_non_null(e);
        assert_string_equal(e->body, answer);
    }
    tg_cache_free(&c);
    assert_int_equal(c.n_entries, 0);
    assert_int_equal(c.bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put),      cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_lru_eviction), cmocka_unit_test(test_replace),
        cmocka_unit_test(test_oversize),     cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_keys),         cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the Idempotency-Key table (req/idempotency.c) and the
 * digest-keyed map under it (util/keymap.c), on a fake clock: scoping,
 * fingerprints, in-flight entries that are never evicted, ttl, max_bytes
 * with the oldest kept answer going first, answers not kept, and a map that
 * grows past its first buckets. */
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

#include "req/idempotency.h"

/* A finished whole answer of `len` body bytes (no readers: no loop needed). */
static struct tg_tape *answered(size_t len)
{
    static char body[8192];
    struct tg_tape *t = tg_tape_new(NULL, NULL, NULL);
    tg_tape_begin(t, 200, false, "Content-Type: application/json\r\n", 32);
    tg_tape_write(t, body, len);
    tg_tape_end(t);
    return t;
}

static struct tg_idem_entry *start(struct tg_idem_table *t, const char *scope, const char *key,
                                   const char *body, struct tg_tape *tape)
{
    uint8_t k[TG_KEYMAP_KEY_LEN], fp[TG_KEYMAP_KEY_LEN];
    tg_idem_key(scope, key, strlen(key), k);
    tg_idem_fingerprint("POST", "/v1/chat/completions", body, strlen(body), fp);
    struct tg_idem_entry *e = tg_idem_start(t, k, fp, tape);
    tg_tape_unref(tape); /* the entry holds its own reference */
    return e;
}

static struct tg_idem_entry *find(struct tg_idem_table *t, const char *scope, const char *key,
                                  uint64_t now)
{
    uint8_t k[TG_KEYMAP_KEY_LEN];
    tg_idem_key(scope, key, strlen(key), k);
    return tg_idem_find(t, k, now);
}

static void test_scope_and_fingerprint(void **state)
{
    (void)state;
    uint8_t a[32], b[32], c[32];
    tg_idem_key("team-a", "k1", 2, a);
    tg_idem_key("team-b", "k1", 2, b);
    assert_memory_not_equal(a, b, 32);
    tg_idem_key("ab", "c", 1, a);
    tg_idem_key("a", "bc", 2, b);
    assert_memory_not_equal(a, b, 32); /* the scope's end is part of the key */
    tg_idem_fingerprint("POST", "/v1/completions", "{}", 2, a);
    tg_idem_fingerprint("POST", "/v1/embeddings", "{}", 2, b);
    tg_idem_fingerprint("POST", "/v1/completions", "{}", 2, c);
    assert_memory_not_equal(a, b, 32);
    assert_memory_equal(a, c, 32);
}

static void test_in_flight_then_kept_then_expired(void **state)
{
    (void)state;
    struct tg_idem_table t;
    tg_idem_init(&t, 1 << 20, 600000);
    struct tg_idem_entry *e = start(&t, "", "k", "{\"a\":1}", answered(100));
    assert_ptr_equal(find(&t, "", "k", 0), e);
    assert_false(e->kept);
    assert_null(find(&t, "other-team", "k", 0));
    tg_idem_finish(&t, e, true, 1000);
    assert_true(e->kept);
    assert_ptr_equal(find(&t, "", "k", 600999), e);
    assert_null(find(&t, "", "k", 601000)); /* ttl over: dropped */
    assert_int_equal(t.bytes, 0);
    tg_idem_free(&t);
}

static void test_not_kept_is_dropped(void **state)
{
    (void)state;
    struct tg_idem_table t;
    tg_idem_init(&t, 1 << 20, 600000);
    struct tg_idem_entry *e = start(&t, "", "k", "{}", answered(10));
    tg_idem_finish(&t, e, false, 5);
    assert_null(find(&t, "", "k", 5));
    /* A ttl of 0 keeps nothing. */
    tg_idem_set_limits(&t, 1 << 20, 0);
    e = start(&t, "", "k", "{}", answered(10));
    tg_idem_finish(&t, e, true, 5);
    assert_null(find(&t, "", "k", 5));
    tg_idem_free(&t);
}

static void test_max_bytes_evicts_oldest_never_in_flight(void **state)
{
    (void)state;
    struct tg_idem_table t;
    tg_idem_init(&t, SIZE_MAX, 600000);
    /* What one kept 1000-byte answer costs, measured. */
    struct tg_idem_entry *probe = start(&t, "", "probe", "{}", answered(1000));
    tg_idem_finish(&t, probe, true, 0);
    size_t one = t.bytes;
    tg_idem_free(&t);

    tg_idem_init(&t, 3 * one, 600000);
    struct tg_idem_entry *flying = start(&t, "", "flying", "{}", answered(1000));
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        tg_idem_finish(&t, start(&t, "", key, "{}", answered(1000)), true, (uint64_t)i);
    }
    assert_true(t.bytes <= 3 * one);
    assert_null(find(&t, "", "k0", 10));
    assert_null(find(&t, "", "k1", 10));
    assert_non_null(find(&t, "", "k4", 10));
    assert_ptr_equal(find(&t, "", "flying", 10), flying); /* in flight: never evicted */
    /* Reading an entry makes it the most recent: k2 outlives k3. */
    assert_non_null(find(&t, "", "k2", 11));
    tg_idem_finish(&t, start(&t, "", "k5", "{}", answered(1000)), true, 12);
    assert_non_null(find(&t, "", "k2", 13));
    assert_null(find(&t, "", "k3", 13));
    /* An answer bigger than max_bytes is not kept at all. */
    tg_idem_finish(&t, start(&t, "", "huge", "{}", answered(8000)), true, 14);
    assert_null(find(&t, "", "huge", 14));
    /* A reload's lower max_bytes evicts at once. */
    tg_idem_set_limits(&t, one, 600000);
    assert_true(t.bytes <= one);
    tg_idem_finish(&t, flying, false, 20);
    tg_idem_free(&t);
}

static void test_keymap_grows(void **state)
{
    (void)state;
    struct tg_keymap m;
    tg_keymap_init(&m);
    static struct tg_keymap_node nodes[1000];
    for (int i = 0; i < 1000; i++) {
        memset(nodes[i].key, 0, sizeof(nodes[i].key));
        memcpy(nodes[i].key, &i, sizeof(i));
        nodes[i].key[31] = (uint8_t)i;
        tg_keymap_put(&m, &nodes[i]);
    }
    assert_int_equal(m.len, 1000);
    assert_true(m.n_buckets >= 1000);
    for (int i = 0; i < 1000; i++)
        assert_ptr_equal(tg_keymap_get(&m, nodes[i].key), &nodes[i]);
    for (int i = 0; i < 1000; i += 2)
        tg_keymap_remove(&m, &nodes[i]);
    assert_int_equal(m.len, 500);
    for (int i = 0; i < 1000; i++)
        assert_ptr_equal(tg_keymap_get(&m, nodes[i].key), i % 2 ? &nodes[i] : NULL);
    tg_keymap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_and_fingerprint),
        cmocka_unit_test(test_in_flight_then_kept_then_expired),
        cmocka_unit_test(test_not_kept_is_dropped),
        cmocka_unit_test(test_max_bytes_evicts_oldest_never_in_flight),
        cmocka_unit_test(test_keymap_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* TOML parser (util/toml.c): any bytes give a document or an error with a
 * position, never a crash; every node of a document is well formed. */
#include <string.h>

#include "fuzz.h"
#include "util/toml.h"

static void walk_value(const struct tg_toml_value *v, int depth);

static void walk_table(const struct tg_toml_table *t, int depth)
{
    for (size_t i = 0; i < t->len; i++) {
        const struct tg_toml_kv *kv = &t->items[i];
        FUZZ_CHECK(kv->key[kv->key_len] == '\0', "key not NUL-terminated");
        FUZZ_CHECK(kv->key_pos.line >= 1 && kv->key_pos.col >= 1, "key position");
        FUZZ_CHECK(tg_toml_get(t, kv->key) != NULL, "a key of the table is not found");
        walk_value(&kv->value, depth + 1);
    }
}

static void walk_value(const struct tg_toml_value *v, int depth)
{
    FUZZ_CHECK(depth < 10000, "depth");
    FUZZ_CHECK((unsigned)v->type < TG_TOML__COUNT, "type %d", (int)v->type);
    FUZZ_CHECK(tg_toml_type_name(v->type) != NULL, "type name");
    FUZZ_CHECK(v->pos.line >= 1 && v->pos.col >= 1, "value position");
    switch (v->type) {
    case TG_TOML_STRING:
    case TG_TOML_DATETIME:
    case TG_TOML_DATETIME_LOCAL:
    case TG_TOML_DATE_LOCAL:
    case TG_TOML_TIME_LOCAL:
        FUZZ_CHECK(v->u.str.ptr[v->u.str.len] == '\0', "string not NUL-terminated");
        break;
    case TG_TOML_ARRAY:
        for (size_t i = 0; i < v->u.arr->len; i++)
            walk_value(&v->u.arr->items[i], depth + 1);
        break;
    case TG_TOML_TABLE:
        walk_table(v->u.tab, depth + 1);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_toml_error err;
    memset(&err, 0, sizeof(err));
    struct tg_toml_doc *doc = tg_toml_parse((const char *)data, size, &err);
    if (!doc) {
        FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL, "message");
        FUZZ_CHECK(err.message[0] != '\0', "an error without a message");
        FUZZ_CHECK(err.pos.line >= 1 && err.pos.col >= 1, "error position %d:%d", err.pos.line,
                   err.pos.col);
        return 0;
    }
    walk_table(tg_toml_root(doc), 0);
    tg_toml_free(doc);
    return 0;
}

/* TOML 1.0 parser: text in, an immutable document tree out.
 *
 * Every key and value carries the line and column (1-based, columns in bytes)
 * where it starts, so that the config layer can say FILE:LINE:COL for a wrong
 * type or an unknown key. Dates and times are kept as their text. The whole
 * document is one allocation arena, freed by tg_toml_free(). */
#ifndef TG_UTIL_TOML_H
#define TG_UTIL_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tg_toml_type {
    TG_TOML_STRING = 0,
    TG_TOML_INTEGER,
    TG_TOML_FLOAT,
    TG_TOML_BOOL,
    TG_TOML_DATETIME,       /* offset date-time, e.g. 1979-05-27T07:32:00Z */
    TG_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    TG_TOML_DATE_LOCAL,     /* 1979-05-27 */
    TG_TOML_TIME_LOCAL,     /* 07:32:00 */
    TG_TOML_ARRAY,
    TG_TOML_TABLE,
    TG_TOML__COUNT
};

struct tg_toml_pos {
    int line; /* 1-based */
    int col;  /* 1-based, in bytes */
};

struct tg_toml_table;
struct tg_toml_array;

struct tg_toml_value {
    enum tg_toml_type type;
    struct tg_toml_pos pos; /* first byte of the value (a table: its header or `{`) */
    union {
        struct {
            const char *ptr; /* NUL-terminated; may hold NULs from \u0000, so use len */
            size_t len;
        } str;               /* STRING, and the four date/time types (their text) */
        int64_t i;           /* INTEGER */
        double f;            /* FLOAT */
        bool b;              /* BOOL */
        struct tg_toml_array *arr;
        struct tg_toml_table *tab;
    } u;
};

struct tg_toml_kv {
    const char *key; /* NUL-terminated, unescaped; key_len excludes the NUL */
    size_t key_len;
    struct tg_toml_pos key_pos;
    struct tg_toml_value value;
};

struct tg_toml_table {
    struct tg_toml_kv *items; /* in document order */
    size_t len;
};

struct tg_toml_array {
    struct tg_toml_value *items;
    size_t len;
};

struct tg_toml_doc; /* opaque: owns every node */

struct tg_toml_error {
    struct tg_toml_pos pos;
    char message[200];
};

/* Parses `len` bytes of TOML 1.0. Returns NULL on error with *err filled in
 * (never a partial document). The text need not be NUL-terminated. */
struct tg_toml_doc *tg_toml_parse(const char *text, size_t len, struct tg_toml_error *err);
void tg_toml_free(struct tg_toml_doc *doc);

/* The root table of a parsed document. */
const struct tg_toml_table *tg_toml_root(const struct tg_toml_doc *doc);

/* Looks a key up in a table; NULL when absent. */
const struct tg_toml_kv *tg_toml_get(const struct tg_toml_table *t, const char *key);

/* "string", "integer", ... as used by toml-test and in config error messages. */
const char *tg_toml_type_name(enum tg_toml_type type);

#endif

/* A read-only view of JSON text that passed tg_json_check (json_scan.h):
 * values found by key or index as spans of the text, and read as cJSON
 * reads them (the first of two equal keys, strings cut at \u0000, a lone
 * surrogate as U+FFFD, numbers by strtod), with nothing built and nothing
 * allocated. It is what the data path reads answers and stream events with:
 * a cJSON tree of a 1 KiB answer costs dozens of allocations, a view none.
 *
 * Only checked text may be viewed: the walk trusts the grammar (it stays
 * inside the text whatever it holds, but reads garbage as garbage).
 * tests/unit/test_json_view.c and tests/fuzz/fuzz_json_view.c hold it to
 * cJSON's reading of the same documents. */
#ifndef TG_UTIL_JSON_VIEW_H
#define TG_UTIL_JSON_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

enum tg_jv_type {
    TG_JV_NONE = 0, /* absent: the member or element is not there */
    TG_JV_NULL,
    TG_JV_FALSE,
    TG_JV_TRUE,
    TG_JV_NUMBER,
    TG_JV_STRING,
    TG_JV_ARRAY,
    TG_JV_OBJECT,
};

/* A value's bytes: [p, p + len), quotes and brackets included. */
struct tg_jv {
    const char *p;
    size_t len;
    enum tg_jv_type type;
};

#define TG_JV_ABSENT ((struct tg_jv){NULL, 0, TG_JV_NONE})

/* The value whose bytes are p[0..len) (a member's span from json_scan's
 * member callback, say): its type read from its first byte. */
struct tg_jv tg_jv_span(const char *p, size_t len);
/* The document's value (text[0..len) must have passed tg_json_check). */
struct tg_jv tg_jv_root(const char *text, size_t len);
/* Member `key` of an object (its first, as cJSON finds it); absent when v
 * is not an object or has no such member. */
struct tg_jv tg_jv_get(struct tg_jv v, const char *key);
/* Members keys[0..n) of an object in one walk (out[i] absent when not
 * there, or when v is not an object): what several tg_jv_get calls find,
 * at the cost of one. */
void tg_jv_pick(struct tg_jv v, const char *const *keys, size_t n, struct tg_jv *out);
/* Element `index` of an array; absent when v is not an array or is shorter. */
struct tg_jv tg_jv_at(struct tg_jv v, size_t index);

/* Members of an object or elements of an array, in order. */
struct tg_jv_iter {
    const char *p, *end;
    bool object;
};

void tg_jv_iter_init(struct tg_jv_iter *it, struct tg_jv container);
/* The next member (key: its string token) or element (key absent); false
 * at the end, or when v is neither an object nor an array. */
bool tg_jv_next(struct tg_jv_iter *it, struct tg_jv *key, struct tg_jv *value);

static inline bool tg_jv_is(struct tg_jv v, enum tg_jv_type type)
{
    return v.type == type;
}

/* An array or object with nothing in it. */
bool tg_jv_is_empty(struct tg_jv v);
/* A string that reads as exactly s. */
bool tg_jv_str_eq(struct tg_jv v, const char *s);
/* A string that reads as at least one byte. */
bool tg_jv_str_nonempty(struct tg_jv v);
/* Appends what a string reads as; nothing for any other value. */
void tg_jv_str_append(struct tg_jv v, struct tg_buf *out);
/* What a string reads as, NUL-terminated and cut to fit out[0..cap); ""
 * for any other value. Returns the length written. */
size_t tg_jv_str_copy(struct tg_jv v, char *out, size_t cap);
/* A string that reads as its own bytes (it has no escape): *p and *n are
 * those bytes, inside the text. False for any other value, or with an escape. */
bool tg_jv_str_raw(struct tg_jv v, const char **p, size_t *n);
/* A number's value, as cJSON reads it. */
bool tg_jv_num(struct tg_jv v, double *out);

#endif

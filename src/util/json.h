/* JSON helpers over cJSON: strict parsing (nothing but whitespace after the
 * value), typed getters, and a scanner that finds where a top-level key's
 * value lies in a document, so a body can be edited without re-printing it. */
#ifndef TG_UTIL_JSON_H
#define TG_UTIL_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* NULL unless p[0..len) is exactly one JSON value with optional whitespace. */
cJSON *tg_json_parse(const char *p, size_t len);

/* Member `key` of an object when it has the wanted type; NULL otherwise. */
const char *tg_json_get_str(const cJSON *obj, const char *key);
bool tg_json_get_num(const cJSON *obj, const char *key, double *out);
/* true/false when the member is a boolean, else `dflt`. */
bool tg_json_get_bool(const cJSON *obj, const char *key, bool dflt);

/* Finds the value of top-level member `key` in the object text p[0..len):
 * [*start, *end) covers the value's bytes. Returns false when p is not an
 * object or has no such member. With duplicate keys the first occurrence
 * wins, as cJSON_GetObjectItem reads it. */
bool tg_json_find_member(const char *p, size_t len, const char *key, size_t *start, size_t *end);

/* Appends "s" as a JSON string, quotes included. */
void tg_buf_json_str(struct tg_buf *b, const char *s, size_t n);
/* Appends cJSON's compact text of item. */
void tg_buf_json_item(struct tg_buf *b, const cJSON *item);

#endif

/* JSON helpers over cJSON: strict parsing (RFC 8259 checked by
 * util/json_scan.h before cJSON reads anything), typed getters, and output.
 * The member scanner (tg_json_find_member) lives in util/json_scan.h. */
#ifndef TG_UTIL_JSON_H
#define TG_UTIL_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "util/json_scan.h"

/* NULL unless p[0..len) is strict JSON (json_scan.h) without duplicate keys;
 * then *err (when not NULL) says what is wrong and at which byte. Every JSON
 * the gateway reads, from clients and from providers, goes through here. */
cJSON *tg_json_parse_err(const char *p, size_t len, struct tg_json_error *err);
cJSON *tg_json_parse(const char *p, size_t len);

/* Member `key` of an object when it has the wanted type; NULL otherwise. */
const char *tg_json_get_str(const cJSON *obj, const char *key);
bool tg_json_get_num(const cJSON *obj, const char *key, double *out);
/* true/false when the member is a boolean, else `dflt`. */
bool tg_json_get_bool(const cJSON *obj, const char *key, bool dflt);

/* Appends "s" as a JSON string, quotes included. */
void tg_buf_json_str(struct tg_buf *b, const char *s, size_t n);
/* Appends cJSON's compact text of item. */
void tg_buf_json_item(struct tg_buf *b, const cJSON *item);

#endif

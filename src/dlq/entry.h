/* One entry of the dead-letter queue (SPEC section 8): a background request
 * that still failed, as the one JSON line the gateway appends to dlq_path and
 * `tailgate dlq list|replay` read back. Pure: no loop, no files.
 *
 * The line: {"time", "request_id", "method", "path", "route", "key", "body",
 * "attempts", "error": {"status", "code", "message"}}. "body" is the
 * client's JSON body itself (whitespace outside strings removed so it stays
 * one line; every value byte kept), or "body_text" (a string) for a body
 * that is not JSON. No header is ever stored, so no credential can be. */
#ifndef TG_DLQ_ENTRY_H
#define TG_DLQ_ENTRY_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/buf.h"

struct tg_dlq_entry {
    const char *time;          /* RFC 3339 UTC */
    const char *request_id;
    const char *method;
    const char *path;          /* the client's path: /v1/chat/completions, ... */
    const char *route;         /* the model the client asked for */
    const char *key;           /* the auth key's name, or NULL */
    const char *body;
    size_t body_len;
    const char *attempts_json; /* a JSON array: the error body's attempts */
    int status;
    const char *code;
    const char *message;
};

/* Appends e as one line, '\n' included. */
void tg_dlq_entry_encode(const struct tg_dlq_entry *e, struct tg_buf *out);

/* A line read back. Strings point into `root` (or are "" when absent). */
struct tg_dlq_record {
    cJSON *root;
    const char *time, *request_id, *method, *path, *route, *key; /* key: NULL for none */
    char *body; /* owned: the body's bytes to send again */
    size_t body_len;
    int n_attempts;
    int status;
    const char *code, *message;
};

/* 0, or -1 with why[] saying what is wrong with the line. */
int tg_dlq_record_parse(const char *line, size_t len, struct tg_dlq_record *rec, char *why,
                        size_t why_len);
void tg_dlq_record_free(struct tg_dlq_record *rec);

#endif

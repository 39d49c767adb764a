/* Classification of an upstream answer (route/classify.c), the wait it
 * asks for (util/headers.c) and the context window its message states
 * (route/context.c). Input: two bytes of status, one of dialect,
 * then the header block, a blank line, and the body. */
#include <string.h>

#include "fuzz.h"
#include "route/classify.h"
#include "route/context.h"
#include "util/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* Mostly 4xx, whose bodies are read; any status now and then. */
    int status = data[0] < 192 ? 400 + data[1] % 100 : 100 + ((data[0] << 8) | data[1]) % 500;
    enum tg_provider_dialect dialect = (data[2] & 1) ? TG_DIALECT_ANTHROPIC : TG_DIALECT_OPENAI;
    const char *p = (const char *)data + 3;
    size_t len = size - 3;
    const char *blank = memmem(p, len, "\r\n\r\n", 4);
    size_t head_len = blank ? (size_t)(blank - p) + 4 : 0;
    const char *body = p + head_len;
    size_t body_len = len - head_len;
    /* An exact copy of the body, so a read past its end shows. */
    char *copy = malloc(body_len ? body_len : 1);
    memcpy(copy, body, body_len);
    enum tg_class c = tg_classify_http(status, copy, body_len, dialect);
    free(copy);
    FUZZ_CHECK((unsigned)c < TG_CLASS__COUNT, "class %d", (int)c);
    FUZZ_CHECK(tg_class_name(c) != NULL, "class name");
    FUZZ_CHECK(c != TG_CLASS_OK || (status >= 200 && status < 300), "status %d is ok", status);
    int64_t wait = tg_headers_retry_after(p, head_len, INT64_C(1764990000000));
    FUZZ_CHECK(wait >= -1, "wait %lld", (long long)wait);
    /* The body as an error message (a C string, as cJSON hands it over). */
    char *msg = malloc(body_len + 1);
    memcpy(msg, body, body_len);
    msg[body_len] = '\0';
    int64_t window = tg_context_stated_limit(msg);
    free(msg);
    FUZZ_CHECK(window >= 0 && window <= 1000000000, "window %lld", (long long)window);
    return 0;
}

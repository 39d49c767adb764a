/* Header-block readers (util/headers.c): tg_headers_find, Retry-After,
 * retry-after-ms and the anthropic-ratelimit-*-reset times, on any bytes
 * a provider could send. */
#include <string.h>

#include "fuzz.h"
#include "util/headers.h"

#define NOW_MS INT64_C(1764990000000) /* 2025-12-06T03:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    static const char *const names[] = {"retry-after", "retry-after-ms",
                                        "anthropic-ratelimit-requests-reset", "x"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = 0;
        const char *v = tg_headers_find(p, size, names[i], &len);
        if (v)
            FUZZ_CHECK(v >= p && v + len <= p + size, "value outside the block");
    }
    /* The whole input as one Retry-After value. */
    int64_t ms = tg_retry_after_ms(p, size, NOW_MS);
    FUZZ_CHECK(ms >= -1, "Retry-After %lld", (long long)ms);
    const int64_t nows[] = {0, NOW_MS, INT64_C(253402300799000)}; /* 9999-12-31T23:59:59Z */
    for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        ms = tg_headers_retry_after(p, size, nows[i]);
        FUZZ_CHECK(ms >= -1, "wait %lld", (long long)ms);
    }
    return 0;
}

/* `tailgate version`: our version and the run-time versions of our libraries. */
#include "core/version.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <uv.h>

void tg_version_print(FILE *out)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    fprintf(out, "tailgate %s\n", TG_VERSION);
    fprintf(out, "libuv %s\n", uv_version_string());
    fprintf(out, "llhttp %d.%d.%d\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
            LLHTTP_VERSION_PATCH);
    fprintf(out, "libcurl %s (%s%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS",
            (cv->features & CURL_VERSION_HTTP2) ? ", HTTP/2" : "");
    fprintf(out, "OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
    fprintf(out, "cJSON %s\n", cJSON_Version());
}

/* Unit tests of inbound TLS (server/tls.c) with no sockets: a key and a
 * self-signed certificate for 127.0.0.1 are made at start-up in a temporary
 * directory, and each test drives a server connection with an in-memory
 * OpenSSL client. The test pumps bytes by hand: the client's output goes to
 * tg_tls_conn_feed (whole, split at a chosen offset, or a byte at a time) and
 * send_raw's output goes to the client's input.
 *
 * Covered: TLS 1.3 and 1.2 handshakes, TLS 1.1 refused; ALPN http/1.1 chosen
 * when offered, no ALPN, h2 only; resumption by ticket and by the session
 * cache; data both ways (1 MiB in several pieces in one send_raw and full
 * records); the client's flights fed in every split and a byte at a time;
 * writes before the handshake completes; garbage, mutated handshakes and
 * corrupted records failing exactly once; an untrusting client's alert;
 * KeyUpdate; renegotiation refused; close_notify both ways; callbacks that
 * write, close or free from inside; tg_tls_ctx_new's errors; many
 * connections freed with nothing left behind; the memory an idle connection
 * keeps. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "server/tls.h"

/* ---- memory in use ---- */

#if defined(__SANITIZE_ADDRESS__)
/* ASan replaces malloc, so glibc's mallinfo2 sees nothing; its own count is
 * exact (bytes requested, without redzones). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#define HEAP_NOISE 1024
#else
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
/* Freed chunks parked in glibc's per-thread cache (up to 7 per size class)
 * still count as in use. */
#define HEAP_NOISE (256 * 1024)
#endif

/* ---- fixtures: files, contexts ---- */

static char g_dir[64];
static char g_cert[128], g_key[128], g_other_key[128], g_bad[128], g_enc_key[128], g_rsa_key[128];
static X509 *g_x509;
static struct tg_tls_ctx *g_srv;
static SSL_CTX *g_cli;       /* trusts g_x509 */
static SSL_CTX *g_cli_blind; /* verifies, trusts nothing */

static EVP_PKEY *make_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *k)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    assert_int_equal(X509_set_pubkey(x, k), 1);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    add_ext(x, NID_subject_alt_name, "IP:127.0.0.1");
    add_ext(x, NID_basic_constraints, "critical,CA:FALSE");
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}

static void write_key(const char *path, EVP_PKEY *k, const char *password)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const EVP_CIPHER *enc = password ? EVP_aes_128_cbc() : NULL;
    int plen = password ? (int)strlen(password) : 0;
    assert_int_equal(
        PEM_write_PrivateKey(f, k, enc, (const unsigned char *)password, plen, NULL, NULL), 1);
    fclose(f);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static SSL_CTX *client_ctx(bool trust)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    assert_non_null(c);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    if (trust)
        assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(c), g_x509), 1);
    return c;
}

static int group_setup(void **state)
{
    strcpy(g_dir, "/tmp/tg_test_tls.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_cert, sizeof(g_cert), "%s/cert.pem", g_dir);
    snprintf(g_key, sizeof(g_key), "%s/key.pem", g_dir);
    snprintf(g_other_key, sizeof(g_other_key), "%s/other.pem", g_dir);
    snprintf(g_bad, sizeof(g_bad), "%s/bad.pem", g_dir);
    snprintf(g_enc_key, sizeof(g_enc_key), "%s/enc.pem", g_dir);
    snprintf(g_rsa_key, sizeof(g_rsa_key), "%s/rsa.pem", g_dir);

    /* P-256 rather than RSA: signing is ~50x cheaper, which keeps the
     * thousands of handshakes below within the time budget. */
    EVP_PKEY *k = make_key(), *other = make_key();
    g_x509 = make_cert(k);
    FILE *f = fopen(g_cert, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, g_x509), 1);
    fclose(f);
    write_key(g_key, k, NULL);
    write_key(g_other_key, other, NULL);
    write_key(g_enc_key, k, "secret");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(rsa);
    write_key(g_rsa_key, rsa, NULL); /* another type than the certificate's */
    EVP_PKEY_free(rsa);
    write_text(g_bad, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                      "-----END CERTIFICATE-----\n");
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);

    char err[256] = "";
    g_srv = tg_tls_ctx_new(g_cert, g_key, err, sizeof(err));
    if (!g_srv)
        fail_msg("tg_tls_ctx_new: %s", err);
    g_cli = client_ctx(true);
    g_cli_blind = client_ctx(false);
    return 0;
}

static int group_teardown(void **state)
{
    tg_tls_ctx_free(g_srv);
    SSL_CTX_free(g_cli);
    SSL_CTX_free(g_cli_blind);
    X509_free(g_x509);
    unlink(g_cert);
    unlink(g_key);
    unlink(g_other_key);
    unlink(g_bad);
    unlink(g_enc_key);
    unlink(g_rsa_key);
    rmdir(g_dir);
    return 0;
}

/* ---- a server connection and an in-memory client ---- */

struct pair;
typedef void (*plain_hook)(struct pair *pr, const char *p, size_t n);

struct pair {
    struct tg_tls_conn *srv;
    SSL *cli;
    BIO *c_in, *c_out;     /* the client's rbio and wbio */
    struct tg_buf to_cli;  /* send_raw output the client has not read yet */
    struct tg_buf srv_got; /* plaintext the server delivered */
    struct tg_buf cli_got; /* plaintext the client read */
    size_t raw_calls;
    size_t raw_after_fail; /* send_raw calls after failed: must stay 0 */
    int failed;
    char why[256];
    bool cli_failed;
    const char *cli_why; /* the client's OpenSSL reason when it failed */
    bool cli_closed;     /* the client read close_notify */
    const char *cli_msg; /* written by the client as soon as its handshake is done */
    size_t split;        /* feed each client transmission cut here (0: whole) */
    bool bytewise;       /* feed each client transmission a byte at a time */
    plain_hook on_plain;
    bool free_on_fail; /* failed frees the server connection */
};

static void io_send_raw(void *conn, const char *p, size_t n)
{
    struct pair *pr = conn;
    assert_true(n > 0);
    pr->raw_calls++;
    if (pr->failed)
        pr->raw_after_fail++;
    tg_buf_append(&pr->to_cli, p, n);
}

static void io_plaintext(void *conn, const char *p, size_t n)
{
    struct pair *pr = conn;
    assert_true(n > 0);
    assert_int_equal(pr->failed, 0);
    tg_buf_append(&pr->srv_got, p, n);
    if (pr->on_plain)
        pr->on_plain(pr, p, n);
}

static void io_failed(void *conn, const char *why)
{
    struct pair *pr = conn;
    pr->failed++;
    snprintf(pr->why, sizeof(pr->why), "%s", why);
    if (pr->free_on_fail) {
        tg_tls_conn_free(pr->srv);
        pr->srv = NULL;
    }
}

static const struct tg_tls_io g_io = {io_send_raw, io_plaintext, io_failed};

static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    BIO_set_mem_eof_return(b, -1);
    return b;
}

/* alpn: wire format (length-prefixed names), NULL for none; max_version 0
 * for the default. */
static void pair_init_with(struct pair *pr, SSL_CTX *cctx, const char *alpn, size_t alpn_len,
                           int max_version)
{
    memset(pr, 0, sizeof(*pr));
    pr->srv = tg_tls_conn_new(g_srv, &g_io, pr);
    assert_non_null(pr->srv);
    pr->cli = SSL_new(cctx);
    assert_non_null(pr->cli);
    pr->c_in = mem_bio();
    pr->c_out = mem_bio();
    SSL_set_bio(pr->cli, pr->c_in, pr->c_out);
    SSL_set_connect_state(pr->cli);
    assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(pr->cli), "127.0.0.1"), 1);
    if (alpn) /* 0 is success here */
        assert_int_equal(
            SSL_set_alpn_protos(pr->cli, (const unsigned char *)alpn, (unsigned)alpn_len), 0);
    if (max_version)
        assert_int_equal(SSL_set_max_proto_version(pr->cli, max_version), 1);
}

#define ALPN_BOTH "\x02h2\x08http/1.1"
#define ALPN_H11 "\x08http/1.1"
#define ALPN_H2 "\x02h2"

static void pair_init(struct pair *pr, int max_version)
{
    pair_init_with(pr, g_cli, ALPN_BOTH, sizeof(ALPN_BOTH) - 1, max_version);
}

static void pair_free(struct pair *pr)
{
    tg_tls_conn_free(pr->srv);
    SSL_free(pr->cli);
    tg_buf_free(&pr->to_cli);
    tg_buf_free(&pr->srv_got);
    tg_buf_free(&pr->cli_got);
    memset(pr, 0, sizeof(*pr));
}

static void feed(struct pair *pr, const char *p, size_t n)
{
    if (!pr->srv)
        return;
    if (pr->bytewise) {
        for (size_t i = 0; i < n && pr->srv; i++)
            tg_tls_conn_feed(pr->srv, p + i, 1);
    } else if (pr->split > 0 && pr->split < n) {
        tg_tls_conn_feed(pr->srv, p, pr->split);
        if (pr->srv)
            tg_tls_conn_feed(pr->srv, p + pr->split, n - pr->split);
    } else {
        tg_tls_conn_feed(pr->srv, p, n);
    }
}

static void client_write(struct pair *pr, const char *p, size_t n)
{
    size_t done = 0;
    assert_int_equal(SSL_write_ex(pr->cli, p, n, &done), 1);
    assert_int_equal(done, n);
}

static void client_failed(struct pair *pr)
{
    pr->cli_failed = true;
    pr->cli_why = ERR_reason_error_string(ERR_peek_error());
    ERR_clear_error();
}

/* One step of the client: handshake, or read whatever arrived. */
static void client_step(struct pair *pr)
{
    if (pr->cli_failed)
        return;
    ERR_clear_error();
    if (!SSL_is_init_finished(pr->cli)) {
        int r = SSL_do_handshake(pr->cli);
        if (r != 1) {
            if (SSL_get_error(pr->cli, r) != SSL_ERROR_WANT_READ)
                client_failed(pr);
            ERR_clear_error();
            return;
        }
        if (pr->cli_msg)
            client_write(pr, pr->cli_msg, strlen(pr->cli_msg));
    }
    char buf[16384];
    for (;;) {
        size_t got = 0;
        if (SSL_read_ex(pr->cli, buf, sizeof(buf), &got) == 1) {
            tg_buf_append(&pr->cli_got, buf, got);
            continue;
        }
        int e = SSL_get_error(pr->cli, 0);
        if (e == SSL_ERROR_ZERO_RETURN)
            pr->cli_closed = true;
        else if (e != SSL_ERROR_WANT_READ)
            client_failed(pr);
        ERR_clear_error();
        return;
    }
}

/* The client's pending output, taken. */
static char *client_output(struct pair *pr, size_t *n)
{
    *n = BIO_ctrl_pending(pr->c_out);
    char *p = malloc(*n ? *n : 1);
    assert_non_null(p);
    if (*n)
        assert_int_equal(BIO_read(pr->c_out, p, (int)*n), (int)*n);
    return p;
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(struct pair *pr)
{
    for (int round = 0; round < 1000; round++) {
        bool moved = false;
        if (pr->to_cli.len > 0) {
            assert_int_equal(BIO_write(pr->c_in, pr->to_cli.data, (int)pr->to_cli.len),
                             (int)pr->to_cli.len);
            tg_buf_reset(&pr->to_cli);
            moved = true;
        }
        client_step(pr);
        size_t n;
        char *out = client_output(pr, &n);
        if (n > 0) {
            feed(pr, out, n);
            moved = true;
        }
        free(out);
        if (!moved)
            return;
    }
    fail_msg("pump does not settle");
}

static void handshake(struct pair *pr)
{
    pump(pr);
    assert_false(pr->cli_failed);
    assert_int_equal(pr->failed, 0);
    assert_true(SSL_is_init_finished(pr->cli));
    assert_true(tg_tls_conn_established(pr->srv));
}

static void assert_buf_eq(const struct tg_buf *b, const char *p, size_t n)
{
    assert_int_equal(b->len, n);
    if (n)
        assert_memory_equal(b->data, p, n);
}

/* ---- handshakes ---- */

static void check_alpn(struct pair *pr, const char *want)
{
    const unsigned char *sel = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(pr->cli, &sel, &len);
    assert_int_equal(len, strlen(want));
    if (len)
        assert_memory_equal(sel, want, len);
}

static void test_handshake_tls13(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    assert_false(tg_tls_conn_established(pr.srv));
    assert_string_equal(tg_tls_conn_version(pr.srv), "");
    handshake(&pr);
    assert_string_equal(tg_tls_conn_version(pr.srv), "TLSv1.3");
    assert_string_equal(SSL_get_version(pr.cli), "TLSv1.3");
    assert_int_equal(SSL_get_verify_result(pr.cli), X509_V_OK);
    check_alpn(&pr, "http/1.1");
    pair_free(&pr);
}

static void test_handshake_tls12(void **state)
{
    struct pair pr;
    pair_init_with(&pr, g_cli, ALPN_H11, sizeof(ALPN_H11) - 1, TLS1_2_VERSION);
    handshake(&pr);
    assert_string_equal(tg_tls_conn_version(pr.srv), "TLSv1.2");
    assert_string_equal(SSL_get_version(pr.cli), "TLSv1.2");
    check_alpn(&pr, "http/1.1");
    pair_free(&pr);
}

static void test_no_alpn(void **state)
{
    struct pair pr;
    pair_init_with(&pr, g_cli, NULL, 0, 0);
    handshake(&pr);
    check_alpn(&pr, "");
    pair_free(&pr);
}

static void test_alpn_h2_only(void **state)
{
    /* No overlap: the handshake goes on without ALPN, as if none offered. */
    struct pair pr;
    pair_init_with(&pr, g_cli, ALPN_H2, sizeof(ALPN_H2) - 1, 0);
    handshake(&pr);
    check_alpn(&pr, "");
    pair_free(&pr);
}

static void test_tls11_refused(void **state)
{
    struct pair pr;
    pair_init(&pr, TLS1_1_VERSION);
    SSL_set_security_level(pr.cli, 0); /* else the client will not even offer 1.1 */
    assert_int_equal(SSL_set_min_proto_version(pr.cli, TLS1_VERSION), 1);
    pump(&pr);
    assert_true(pr.cli_failed);
    assert_string_equal(pr.cli_why, "tlsv1 alert protocol version"); /* we told it */
    assert_int_equal(pr.failed, 1);
    assert_non_null(strstr(pr.why, "unsupported protocol"));
    assert_false(tg_tls_conn_established(pr.srv));
    assert_int_equal(pr.raw_after_fail, 0);
    pair_free(&pr);
}

/* Resumes a session from a connection the server side never closed (an
 * idle timeout, say): by ticket, or with no_ticket by the server's session
 * cache (TLS 1.2 only). */
static void resume(int max_version, bool no_ticket)
{
    struct pair pr;
    pair_init(&pr, max_version);
    if (no_ticket)
        SSL_set_options(pr.cli, SSL_OP_NO_TICKET);
    handshake(&pr);
    pump(&pr); /* TLS 1.3 tickets come after the handshake */
    SSL_SESSION *sess = SSL_get1_session(pr.cli);
    assert_non_null(sess);
    assert_true(SSL_SESSION_is_resumable(sess));
    assert_int_equal(SSL_shutdown(pr.cli), 0); /* else the client forgets it */
    pair_free(&pr);

    pair_init(&pr, max_version);
    if (no_ticket)
        SSL_set_options(pr.cli, SSL_OP_NO_TICKET);
    assert_int_equal(SSL_set_session(pr.cli, sess), 1);
    handshake(&pr);
    assert_true(SSL_session_reused(pr.cli));
    SSL_SESSION_free(sess);
    pair_free(&pr);
}

static void test_resumption(void **state)
{
    resume(0, false);
    resume(TLS1_2_VERSION, false);
    resume(TLS1_2_VERSION, true);
}

/* ---- data ---- */

/* Counts the TLS records in p (5-byte headers with their lengths). */
static size_t count_records(const char *p, size_t n, size_t *largest)
{
    size_t count = 0, off = 0;
    *largest = 0;
    while (off + 5 <= n) {
        size_t len = ((size_t)(unsigned char)p[off + 3] << 8) | (unsigned char)p[off + 4];
        if (len > *largest)
            *largest = len;
        off += 5 + len;
        count++;
    }
    assert_int_equal(off, n);
    return count;
}

static void data_both_ways(int max_version)
{
    struct pair pr;
    pair_init(&pr, max_version);
    handshake(&pr);
    pump(&pr);

    /* Client to server: 100 KiB, seven records in one feed. */
    size_t up_len = 100 * 1024 + 17;
    char *up = malloc(up_len);
    for (size_t i = 0; i < up_len; i++)
        up[i] = (char)(i * 7 + 3);
    client_write(&pr, up, up_len);
    pump(&pr);
    assert_buf_eq(&pr.srv_got, up, up_len);

    /* Server to client: 1 MiB in uneven pieces, one of them empty. */
    size_t total = 1024 * 1024;
    char *down = malloc(total);
    for (size_t i = 0; i < total; i++)
        down[i] = (char)(i * 13 + i / 4096);
    size_t lens[] = {1, 100, 0, 16383, 16385, 500000, 3, 0};
    const char *pieces[8];
    size_t off = 0;
    for (unsigned i = 0; i < 7; i++) {
        pieces[i] = down + off;
        off += lens[i];
    }
    pieces[7] = down + off;
    lens[7] = total - off;
    size_t calls = pr.raw_calls;
    tg_tls_conn_write(pr.srv, pieces, lens, 8);
    assert_int_equal(pr.raw_calls, calls + 1); /* all of it in one send_raw */
    /* Full records regardless of the pieces: 64 of 16 KiB plaintext. */
    size_t largest;
    assert_int_equal(count_records(pr.to_cli.data, pr.to_cli.len, &largest), 64);
    assert_true(largest <= 16384 + 256); /* the most a record may add */
    pump(&pr);
    assert_buf_eq(&pr.cli_got, down, total);

    /* Nothing written: nothing sent. */
    calls = pr.raw_calls;
    tg_tls_conn_write(pr.srv, pieces, lens, 0);
    size_t zero = 0;
    tg_tls_conn_write(pr.srv, pieces, &zero, 1);
    assert_int_equal(pr.raw_calls, calls);
    assert_int_equal(pr.failed, 0);
    free(up);
    free(down);
    pair_free(&pr);
}

static void test_data_tls13(void **state)
{
    data_both_ways(0);
}

static void test_data_tls12(void **state)
{
    data_both_ways(TLS1_2_VERSION);
}

static const char g_request[] =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Content-Length: 120\r\n\r\n"
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"say something long enough "
    "to span a few lines of a record\"}]}";

/* The largest single client transmission in a plain run, to bound the
 * split offsets. */
static size_t largest_flight(int max_version)
{
    struct pair pr;
    pair_init(&pr, max_version);
    pr.cli_msg = g_request;
    size_t most = 0;
    for (int round = 0; round < 20; round++) {
        if (pr.to_cli.len) {
            BIO_write(pr.c_in, pr.to_cli.data, (int)pr.to_cli.len);
            tg_buf_reset(&pr.to_cli);
        }
        client_step(&pr);
        size_t n;
        char *out = client_output(&pr, &n);
        if (n > most)
            most = n;
        feed(&pr, out, n);
        free(out);
    }
    assert_buf_eq(&pr.srv_got, g_request, strlen(g_request));
    pair_free(&pr);
    return most;
}

static void splits(int max_version)
{
    size_t most = largest_flight(max_version);
    assert_true(most > 100);
    /* Every cut of every flight (cut k applies to each transmission), then a
     * byte at a time. */
    for (size_t k = 0; k <= most + 1; k++) {
        struct pair pr;
        pair_init(&pr, max_version);
        pr.cli_msg = g_request;
        pr.split = k;
        pr.bytewise = k == most + 1;
        handshake(&pr);
        assert_buf_eq(&pr.srv_got, g_request, strlen(g_request));
        /* The answer arrives too. */
        const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        size_t alen = strlen(ans);
        tg_tls_conn_write(pr.srv, &ans, &alen, 1);
        pump(&pr);
        assert_buf_eq(&pr.cli_got, ans, alen);
        pair_free(&pr);
    }
}

static void test_every_split_tls13(void **state)
{
    splits(0);
}

static void test_every_split_tls12(void **state)
{
    splits(TLS1_2_VERSION);
}

static void early_write(int max_version)
{
    struct pair pr;
    pair_init(&pr, max_version);
    const char *pieces[] = {"early ", "", "bird"};
    size_t lens[] = {6, 0, 4};
    tg_tls_conn_write(pr.srv, pieces, lens, 3);
    assert_int_equal(pr.raw_calls, 0);
    const char *more = " gets the worm";
    size_t mlen = strlen(more);
    tg_tls_conn_write(pr.srv, &more, &mlen, 1);
    assert_int_equal(pr.raw_calls, 0);
    handshake(&pr);
    pump(&pr);
    assert_buf_eq(&pr.cli_got, "early bird gets the worm", 24);
    pair_free(&pr);
}

static void test_write_before_handshake(void **state)
{
    early_write(0);
    early_write(TLS1_2_VERSION);
}

/* ---- failures ---- */

static void test_http_in_clear(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    const char *req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert_int_equal(tg_tls_conn_feed(pr.srv, req, strlen(req)), -1);
    assert_int_equal(pr.failed, 1);
    assert_non_null(strstr(pr.why, "http request"));
    /* Dead from now on: nothing delivered, nothing sent, no second failure. */
    size_t calls = pr.raw_calls;
    assert_int_equal(tg_tls_conn_feed(pr.srv, req, strlen(req)), -1);
    size_t len = strlen(req);
    tg_tls_conn_write(pr.srv, &req, &len, 1);
    tg_tls_conn_close_notify(pr.srv);
    assert_int_equal(pr.failed, 1);
    assert_int_equal(pr.raw_calls, calls);
    assert_int_equal(pr.srv_got.len, 0);
    assert_false(tg_tls_conn_established(pr.srv));
    assert_string_equal(tg_tls_conn_version(pr.srv), "");
    pair_free(&pr);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Feeds all of p in random-sized chunks, on past a failure; returns how
 * often failed was called. */
static int feed_chunks(struct pair *pr, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t c = 1 + rnd() % 64;
        if (c > n - off)
            c = n - off;
        tg_tls_conn_feed(pr->srv, p + off, c);
        off += c;
    }
    assert_int_equal(pr->raw_after_fail, 0);
    return pr->failed;
}

static void test_random_garbage(void **state)
{
    /* Random bytes, and random bytes behind a plausible record header. */
    char junk[2048];
    for (int i = 0; i < 300; i++) {
        struct pair pr;
        pair_init(&pr, 0);
        size_t n = 1 + rnd() % sizeof(junk);
        for (size_t j = 0; j < n; j++)
            junk[j] = (char)rnd();
        if (i % 2) {
            memcpy(junk, "\x16\x03\x01", 3);
            junk[3] = (char)(rnd() % 8);
        }
        assert_true(feed_chunks(&pr, junk, n) <= 1);
        pair_free(&pr);
    }
}

static void test_mutated_client_hello(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    client_step(&pr);
    size_t n;
    char *hello = client_output(&pr, &n);
    pair_free(&pr);
    /* Each byte changed in turn; many variants are still acceptable hellos,
     * and then the server answers, which is fine too. */
    char *m = malloc(n);
    for (size_t i = 0; i < n; i++) {
        memcpy(m, hello, n);
        m[i] ^= (char)(1 + rnd() % 255);
        pair_init(&pr, 0);
        assert_true(feed_chunks(&pr, m, n) <= 1);
        pair_free(&pr);
    }
    /* Truncated at every length: never a failure, just waiting. */
    for (size_t i = 0; i < n; i++) {
        pair_init(&pr, 0);
        assert_int_equal(tg_tls_conn_feed(pr.srv, hello, i), 0);
        assert_int_equal(pr.failed, 0);
        assert_int_equal(pr.raw_calls, 0);
        pair_free(&pr);
    }
    free(m);
    free(hello);
}

static void test_corrupt_record(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    handshake(&pr);
    pump(&pr);
    client_write(&pr, "hello", 5);
    size_t n;
    char *rec = client_output(&pr, &n);
    rec[n - 3] ^= 0x40; /* inside the AEAD tag */
    assert_int_equal(tg_tls_conn_feed(pr.srv, rec, n), -1);
    assert_int_equal(pr.failed, 1);
    assert_non_null(strstr(pr.why, "TLS error: "));
    assert_non_null(strstr(pr.why, "bad record mac"));
    assert_int_equal(pr.srv_got.len, 0);
    assert_int_equal(tg_tls_conn_feed(pr.srv, rec, n), -1);
    assert_int_equal(pr.failed, 1);
    free(rec);
    pair_free(&pr);
}

static void test_untrusted_client(void **state)
{
    struct pair pr;
    pair_init_with(&pr, g_cli_blind, ALPN_H11, sizeof(ALPN_H11) - 1, 0);
    pump(&pr);
    assert_true(pr.cli_failed);
    assert_string_equal(pr.cli_why, "certificate verify failed");
    assert_int_equal(SSL_get_verify_result(pr.cli), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    /* The client's alert reached the server. */
    assert_int_equal(pr.failed, 1);
    assert_non_null(strstr(pr.why, "unknown ca"));
    assert_false(tg_tls_conn_established(pr.srv));
    pair_free(&pr);

    /* TLS 1.2 too, where the alert comes before the client's Finished. */
    pair_init_with(&pr, g_cli_blind, NULL, 0, TLS1_2_VERSION);
    pump(&pr);
    assert_true(pr.cli_failed);
    assert_int_equal(pr.failed, 1);
    assert_non_null(strstr(pr.why, "alert"));
    pair_free(&pr);
}

static void test_key_update(void **state)
{
    /* The client rekeys and asks the server to. OpenSSL sends the server's
     * KeyUpdate just before its next data (as RFC 8446 4.6.3 allows), so it
     * leaves in the same send_raw as that write; then data flows both ways
     * on the new keys. */
    struct pair pr;
    pair_init(&pr, 0);
    handshake(&pr);
    pump(&pr);
    assert_int_equal(SSL_key_update(pr.cli, SSL_KEY_UPDATE_REQUESTED), 1);
    client_write(&pr, "after", 5);
    pump(&pr);
    assert_buf_eq(&pr.srv_got, "after", 5);
    const char *m = "rekeyed";
    size_t len = 7;
    size_t calls = pr.raw_calls;
    tg_tls_conn_write(pr.srv, &m, &len, 1);
    assert_int_equal(pr.raw_calls, calls + 1);
    size_t largest;
    assert_int_equal(count_records(pr.to_cli.data, pr.to_cli.len, &largest), 2);
    pump(&pr);
    assert_buf_eq(&pr.cli_got, "rekeyed", 7);
    assert_int_equal(pr.failed, 0);
    assert_false(pr.cli_failed);
    pair_free(&pr);
}

static void test_renegotiation_refused(void **state)
{
    struct pair pr;
    pair_init(&pr, TLS1_2_VERSION);
    handshake(&pr);
    pump(&pr);
    assert_int_equal(SSL_renegotiate(pr.cli), 1);
    pump(&pr);
    /* The server answered with a no_renegotiation warning; OpenSSL's client
     * gives up with a fatal alert, which fails the connection. */
    assert_true(pr.cli_failed);
    assert_string_equal(pr.cli_why, "no renegotiation");
    assert_int_equal(pr.failed, 1);
    assert_non_null(strstr(pr.why, "alert handshake failure"));
    pair_free(&pr);
}

/* ---- close_notify ---- */

static void test_close_notify_from_server(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    handshake(&pr);
    pump(&pr);
    const char *msg = "bye";
    size_t len = 3;
    tg_tls_conn_write(pr.srv, &msg, &len, 1);
    size_t calls = pr.raw_calls;
    tg_tls_conn_close_notify(pr.srv);
    assert_int_equal(pr.raw_calls, calls + 1);
    tg_tls_conn_close_notify(pr.srv);         /* once only */
    tg_tls_conn_write(pr.srv, &msg, &len, 1); /* after close: dropped */
    assert_int_equal(pr.raw_calls, calls + 1);
    pump(&pr);
    assert_buf_eq(&pr.cli_got, "bye", 3);
    assert_true(pr.cli_closed);
    assert_int_equal(pr.failed, 0);
    pair_free(&pr);
}

static void test_close_notify_from_client(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    handshake(&pr);
    pump(&pr);
    client_write(&pr, "last words", 10);
    assert_true(SSL_shutdown(pr.cli) >= 0);
    size_t n;
    char *out = client_output(&pr, &n);
    size_t calls = pr.raw_calls;
    assert_int_equal(tg_tls_conn_feed(pr.srv, out, n), 0);
    assert_buf_eq(&pr.srv_got, "last words", 10);
    assert_int_equal(pr.failed, 0);
    assert_int_equal(pr.raw_calls, calls + 1); /* our close_notify */
    /* Input is over: more bytes are ignored, writes are dropped. */
    assert_int_equal(tg_tls_conn_feed(pr.srv, "junk", 4), 0);
    const char *msg = "late";
    size_t len = 4;
    tg_tls_conn_write(pr.srv, &msg, &len, 1);
    tg_tls_conn_close_notify(pr.srv);
    assert_int_equal(pr.raw_calls, calls + 1);
    assert_int_equal(pr.failed, 0);
    assert_int_equal(pr.srv_got.len, 10);
    pump(&pr);
    assert_true(SSL_get_shutdown(pr.cli) & SSL_RECEIVED_SHUTDOWN);
    free(out);
    pair_free(&pr);
}

static void test_close_notify_during_handshake(void **state)
{
    /* Asked for before the handshake completes: sent after it, behind what
     * was written. */
    struct pair pr;
    pair_init(&pr, 0);
    const char *msg = "goodbye";
    size_t len = 7;
    tg_tls_conn_write(pr.srv, &msg, &len, 1);
    tg_tls_conn_close_notify(pr.srv);
    tg_tls_conn_write(pr.srv, &msg, &len, 1); /* dropped */
    handshake(&pr);
    pump(&pr);
    assert_buf_eq(&pr.cli_got, "goodbye", 7);
    assert_true(pr.cli_closed);
    pair_free(&pr);
}

/* ---- callbacks that call back ---- */

static void echo_hook(struct pair *pr, const char *p, size_t n)
{
    tg_tls_conn_write(pr->srv, &p, &n, 1);
}

static void test_echo_from_callback(void **state)
{
    /* The answer written inside the plaintext callback leaves in the same
     * send_raw as the rest of that feed (TLS 1.3: tickets and the echo). */
    struct pair pr;
    pair_init(&pr, 0);
    pr.on_plain = echo_hook;
    pr.cli_msg = g_request;
    pump(&pr);
    assert_buf_eq(&pr.srv_got, g_request, strlen(g_request));
    assert_buf_eq(&pr.cli_got, g_request, strlen(g_request));
    assert_int_equal(pr.raw_calls, 2); /* server flight; tickets + echo */
    pair_free(&pr);
}

static void close_hook(struct pair *pr, const char *p, size_t n)
{
    tg_tls_conn_write(pr->srv, &p, &n, 1);
    tg_tls_conn_close_notify(pr->srv);
}

static void test_close_from_callback(void **state)
{
    struct pair pr;
    pair_init(&pr, 0);
    pr.on_plain = close_hook;
    handshake(&pr);
    pump(&pr);
    client_write(&pr, "x", 1);
    pump(&pr);
    assert_buf_eq(&pr.cli_got, "x", 1);
    assert_true(pr.cli_closed);
    pair_free(&pr);
}

static void free_hook(struct pair *pr, const char *p, size_t n)
{
    tg_tls_conn_free(pr->srv);
    pr->srv = NULL;
}

static void test_free_from_callbacks(void **state)
{
    /* Freed inside plaintext, with more records behind: nothing more is
     * delivered or sent, and ASan sees no use after free. */
    struct pair pr;
    pair_init(&pr, 0);
    handshake(&pr);
    pump(&pr);
    pr.on_plain = free_hook;
    client_write(&pr, "one", 3);
    client_write(&pr, "two", 3);
    size_t calls = pr.raw_calls;
    pump(&pr);
    assert_null(pr.srv);
    assert_buf_eq(&pr.srv_got, "one", 3);
    assert_int_equal(pr.raw_calls, calls);
    pair_free(&pr);

    /* Freed inside failed. */
    pair_init(&pr, 0);
    pr.free_on_fail = true;
    tg_tls_conn_feed(pr.srv, "GET / HTTP/1.0\r\n\r\n", 18);
    assert_int_equal(pr.failed, 1);
    assert_null(pr.srv);
    pair_free(&pr);
}

/* send_raw that writes again: must not disturb the bytes it is handed. */
static struct tg_tls_conn *g_nested_srv;
static int g_nested_left;

static void nested_send_raw(void *conn, const char *p, size_t n)
{
    io_send_raw(conn, p, n);
    if (g_nested_left > 0) {
        g_nested_left--;
        const char *m = "+nested";
        size_t len = 7;
        tg_tls_conn_write(g_nested_srv, &m, &len, 1);
    }
}

static void test_write_from_send_raw(void **state)
{
    static const struct tg_tls_io io = {nested_send_raw, io_plaintext, io_failed};
    struct pair pr;
    pair_init(&pr, 0);
    tg_tls_conn_free(pr.srv);
    pr.srv = tg_tls_conn_new(g_srv, &io, &pr);
    g_nested_srv = pr.srv;
    handshake(&pr);
    pump(&pr);
    tg_buf_reset(&pr.cli_got);
    g_nested_left = 2;
    const char *m = "outer";
    size_t len = 5;
    tg_tls_conn_write(pr.srv, &m, &len, 1);
    pump(&pr);
    assert_buf_eq(&pr.cli_got, "outer+nested+nested", 19);
    pair_free(&pr);
}

/* ---- tg_tls_ctx_new errors ---- */

static void ctx_fails(const char *cert, const char *key, const char *want1, const char *want2)
{
    char err[512] = "";
    struct tg_tls_ctx *c = tg_tls_ctx_new(cert, key, err, sizeof(err));
    assert_null(c);
    if (!strcasestr(err, want1) || !strcasestr(err, want2))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, want1, want2);
    print_message("%s\n", err);
    /* Nothing left on OpenSSL's error queue to confuse the next call. */
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_ctx_errors(void **state)
{
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing.pem", g_dir);
    ctx_fails(missing, g_key, missing, "no such file");
    ctx_fails(g_cert, missing, missing, "no such file");
    ctx_fails(g_bad, g_key, g_bad, "certificate");
    ctx_fails(g_cert, g_bad, g_bad, "no PEM private key found");
    ctx_fails(g_cert, g_other_key, "does not match", "key values mismatch");
    ctx_fails(g_cert, g_rsa_key, "does not match", g_rsa_key);
    /* Encrypted: refused, not a terminal prompt. */
    ctx_fails(g_cert, g_enc_key, g_enc_key, "encrypted");
    /* A certificate where the key should be, and the other way round. */
    ctx_fails(g_cert, g_cert, g_cert, "no PEM private key found");
    ctx_fails(g_key, g_key, g_key, "no start line");
}

/* ---- many connections, memory ---- */

static void test_many_connections(void **state)
{
    /* Warm-up: OpenSSL sets up some tables on first use, which stay. */
    struct pair pr;
    pair_init(&pr, 0);
    handshake(&pr);
    pair_free(&pr);
    size_t before = heap_in_use();

    for (int i = 0; i < 3000; i++) {
        struct tg_tls_io io = g_io;
        struct tg_tls_conn *t = tg_tls_conn_new(g_srv, &io, NULL);
        tg_tls_conn_free(t);
    }
    for (int i = 0; i < 200; i++) {
        pair_init(&pr, i % 2 ? TLS1_2_VERSION : 0);
        handshake(&pr);
        client_write(&pr, "ping", 4);
        pump(&pr);
        pair_free(&pr);
    }
    tg_tls_conn_free(NULL);
    tg_tls_ctx_free(NULL);
    size_t after = heap_in_use();
    /* All gone; ticket sessions are not kept in the server's cache. */
    if (after > before + HEAP_NOISE)
        fail_msg("%zu bytes left after freeing", after - before);
}

/* Average bytes kept by each of n established, idle server connections
 * (their clients freed), after carrying a 20 KiB request and a 100 KiB
 * answer when `traffic`. */
static size_t idle_bytes(struct tg_tls_conn **conns, int n, bool traffic)
{
    static char up[20 * 1024], down[100 * 1024];
    memset(up, 'u', sizeof(up));
    memset(down, 'd', sizeof(down));
    size_t before = heap_in_use();
    for (int i = 0; i < n; i++) {
        struct pair pr;
        pair_init(&pr, 0);
        handshake(&pr);
        pump(&pr);
        if (traffic) {
            client_write(&pr, up, sizeof(up));
            pump(&pr);
            assert_int_equal(pr.srv_got.len, sizeof(up));
            const char *d = down;
            size_t dl = sizeof(down);
            tg_tls_conn_write(pr.srv, &d, &dl, 1);
            pump(&pr);
            assert_int_equal(pr.cli_got.len, sizeof(down));
        }
        conns[i] = pr.srv; /* keep the server side only */
        pr.srv = NULL;
        pair_free(&pr);
    }
    size_t per = (heap_in_use() - before) / (size_t)n;
    for (int i = 0; i < n; i++)
        tg_tls_conn_free(conns[i]);
    return per;
}

static void test_idle_memory(void **state)
{
    /* Measured: ~14.5 KiB, of which OpenSSL 3.0's bare SSL_new is ~8.5 KiB
     * and the session and cipher state most of the rest. Record buffers
     * kept (no SSL_MODE_RELEASE_BUFFERS) add ~33 KiB, 16 KiB plus overhead
     * each way, and memory BIOs kept at their peak add what the largest
     * answer took; 32 KiB catches either while leaving 2x headroom for
     * OpenSSL versions and malloc overhead (mallinfo2 counts chunk
     * headers). The traffic pass is smaller only to save time. */
    enum { N_IDLE = 1000, N_TRAFFIC = 250 };
    struct tg_tls_conn **conns = malloc(N_IDLE * sizeof(*conns));
    size_t fresh = idle_bytes(conns, N_IDLE, false);
    size_t used = idle_bytes(conns, N_TRAFFIC, true);
    print_message("idle TLS 1.3 connection: %zu bytes after the handshake, %zu after "
                  "traffic\n",
                  fresh, used);
    assert_true(fresh < 32 * 1024);
    assert_true(used < 32 * 1024);
    free(conns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_tls13),
        cmocka_unit_test(test_handshake_tls12),
        cmocka_unit_test(test_no_alpn),
        cmocka_unit_test(test_alpn_h2_only),
        cmocka_unit_test(test_tls11_refused),
        cmocka_unit_test(test_resumption),
        cmocka_unit_test(test_data_tls13),
        cmocka_unit_test(test_data_tls12),
        cmocka_unit_test(test_every_split_tls13),
        cmocka_unit_test(test_every_split_tls12),
        cmocka_unit_test(test_write_before_handshake),
        cmocka_unit_test(test_http_in_clear),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_mutated_client_hello),
        cmocka_unit_test(test_corrupt_record),
        cmocka_unit_test(test_untrusted_client),
        cmocka_unit_test(test_key_update),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_close_notify_from_server),
        cmocka_unit_test(test_close_notify_from_client),
        cmocka_unit_test(test_close_notify_during_handshake),
        cmocka_unit_test(test_echo_from_callback),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_free_from_callbacks),
        cmocka_unit_test(test_write_from_send_raw),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_idle_memory),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

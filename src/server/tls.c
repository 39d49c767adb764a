/* Inbound TLS with OpenSSL over memory BIOs (see tls.h). This file owns the
 * server SSL_CTX (certificate, key, versions, ALPN, session cache) and, per
 * connection, the SSL object, its two memory BIOs and the plaintext written
 * before the handshake completes. It never sees a socket: ciphertext comes in
 * through tg_tls_conn_feed and leaves through io->send_raw.
 *
 * Re-entrancy: the callbacks may call back into this file (a plaintext
 * callback writing an answer, failed freeing the connection). Such calls only
 * record what to do; the outermost call does the sending, so each feed or
 * write hands its ciphertext to send_raw in one piece and nothing is freed
 * under a running loop. */
#include "server/tls.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

/* The largest plaintext in one TLS record: reads are done in record-sized
 * pieces, and writes are cut on these boundaries so no small records appear
 * between pieces. */
#define RECORD_MAX 16384

/* A memory BIO keeps the capacity of the most it ever held. Once empty, one
 * that held more than this gets its storage freed, so an idle connection
 * keeps little (SSL_MODE_RELEASE_BUFFERS does the same for OpenSSL's record
 * buffers), while a stream of small writes (SSE events) reuses its storage
 * instead of allocating each time. */
#define BIO_KEEP_MAX 512

static const unsigned char alpn_http11[] = "http/1.1";

struct tg_tls_ctx {
    SSL_CTX *ssl_ctx;
};

struct tg_tls_conn {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer; owned by ssl */
    BIO *wbio; /* ciphertext for the peer; owned by ssl */
    const struct tg_tls_io *io;
    void *conn;
    struct tg_buf pending; /* plaintext accepted but not yet encrypted */
    size_t rbio_peak;      /* most bytes rbio has held since it was made */
    unsigned depth;        /* nesting of feed/write/close_notify calls */
    bool established;
    bool dead;          /* failed was called: everything is ignored */
    bool peer_closed;   /* close_notify received: input is over */
    bool closing;       /* close_notify asked for: no more writes */
    bool shutdown_sent; /* our close_notify is in wbio or gone */
    bool in_send;       /* inside io->send_raw: wbio must not change */
    bool doomed;        /* freed from inside a callback */
};

/* ---- context --------------------------------------------------------------- */

/* Writes the reason of the oldest queued OpenSSL error (the cause; later
 * entries are consequences) and its detail text if any, then clears the
 * queue. System errors (a missing file) carry an errno, which OpenSSL has no
 * string for. */
static const char *ssl_reason(char *out, size_t outlen)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
    const char *r = NULL;
    if (e != 0)
        r = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) : ERR_reason_error_string(e);
    if (e == 0)
        snprintf(out, outlen, "unknown error");
    else if (!r)
        snprintf(out, outlen, "error %lx", e);
    else if (data && (flags & ERR_TXT_STRING) && data[0] && !ERR_SYSTEM_ERROR(e))
        snprintf(out, outlen, "%s (%s)", r, data);
    else
        snprintf(out, outlen, "%s", r);
    ERR_clear_error();
    return out;
}

/* An encrypted key must fail to load, not prompt on the terminal; noting
 * that a password was wanted makes the error message say so. */
static int no_password(char *buf, int size, int rwflag, void *userdata)
{
    if (userdata)
        *(bool *)userdata = true;
    return 0;
}

/* Picks http/1.1 when the client offers it; otherwise no ALPN at all (a
 * client offering only h2 may still fall back to HTTP/1.1 without ALPN). The
 * list was checked for well-formedness by OpenSSL; the bounds are checked
 * again anyway. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int len = in[i];
        if (len == 0 || len > inlen - i - 1)
            break;
        if (len == sizeof(alpn_http11) - 1 && memcmp(in + i + 1, alpn_http11, len) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)len;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

struct tg_tls_ctx *tg_tls_ctx_new(const char *cert_file, const char *key_file, char *err,
                                  size_t errlen)
{
    char why[256];
    ERR_clear_error();
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    if (!sc) {
        snprintf(err, errlen, "TLS: cannot create context: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    bool password_wanted = false;
    SSL_CTX_set_default_passwd_cb(sc, no_password);
    SSL_CTX_set_default_passwd_cb_userdata(sc, &password_wanted);
    if (SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) != 1) {
        snprintf(err, errlen, "TLS: cannot set minimum version: %s", ssl_reason(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(sc, cert_file) != 1) {
        snprintf(err, errlen, "TLS certificate %s: %s", cert_file, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(sc, key_file, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL compares the key with the certificate as it loads it, so a
         * mismatch can surface here as well as in the check below. */
        unsigned long e = ERR_peek_last_error();
        bool mismatch =
            ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                                               ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
        /* OpenSSL's decoders only say "unsupported" for a file with no key. */
        bool no_key = ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_OSSL_DECODER;
        ssl_reason(why, sizeof(why));
        if (mismatch)
            snprintf(err, errlen, "TLS private key %s does not match certificate %s: %s", key_file,
                     cert_file, why);
        else if (password_wanted)
            snprintf(err, errlen,
                     "TLS private key %s is encrypted; an unencrypted key is needed (%s)", key_file,
                     why);
        else if (no_key)
            snprintf(err, errlen, "TLS private key %s: no PEM private key found: %s", key_file,
                     why);
        else
            snprintf(err, errlen, "TLS private key %s: %s", key_file, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(sc) != 1) {
        snprintf(err, errlen, "TLS private key %s does not match certificate %s: %s", key_file,
                 cert_file, ssl_reason(why, sizeof(why)));
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb_userdata(sc, NULL); /* it pointed at this frame */
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_SERVER);
    /* Sessions are only resumed within the same context id. */
    static const unsigned char sid_ctx[] = "tailgate";
    SSL_CTX_set_session_id_context(sc, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_alpn_select_cb(sc, select_alpn, NULL);

    struct tg_tls_ctx *ctx = tg_xmalloc(sizeof(*ctx));
    ctx->ssl_ctx = sc;
    return ctx;

fail:
    SSL_CTX_free(sc);
    ERR_clear_error();
    return NULL;
}

void tg_tls_ctx_free(struct tg_tls_ctx *ctx)
{
    if (!ctx)
        return;
    /* Connections hold their own reference to the SSL_CTX. */
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ---- connection ------------------------------------------------------------ */

static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) {
        fprintf(stderr, "tailgate: out of memory creating a TLS buffer\n");
        abort();
    }
    /* Empty means "more later" (retry), never end of stream. */
    BIO_set_mem_eof_return(b, -1);
    return b;
}

/* Frees the storage of an empty memory BIO (see BIO_KEEP_MAX). The BIO
 * itself stays, so the SSL's view of it is unchanged. */
static void drop_storage(BIO *b)
{
    BUF_MEM *bm = BUF_MEM_new();
    if (!bm) {
        fprintf(stderr, "tailgate: out of memory creating a TLS buffer\n");
        abort();
    }
    BIO_set_mem_buf(b, bm, BIO_CLOSE); /* frees the old one */
}

struct tg_tls_conn *tg_tls_conn_new(struct tg_tls_ctx *ctx, const struct tg_tls_io *io, void *conn)
{
    struct tg_tls_conn *t = tg_xcalloc(1, sizeof(*t));
    t->ssl = SSL_new(ctx->ssl_ctx);
    if (!t->ssl) {
        fprintf(stderr, "tailgate: out of memory creating a TLS connection\n");
        abort();
    }
    t->rbio = mem_bio();
    t->wbio = mem_bio();
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    t->io = io;
    t->conn = conn;
    t->pending = (struct tg_buf)TG_BUF_INIT;
    return t;
}

static void destroy(struct tg_tls_conn *t)
{
    /* OpenSSL drops the session from the cache when a connection ends
     * without close_notify, but ending on an idle timeout or a client's bare
     * TCP close is normal here, and resuming after it is safe (RFC 5246
     * dropped that rule). Failed connections still lose theirs. */
    if (t->established && !t->dead)
        SSL_set_shutdown(t->ssl, SSL_get_shutdown(t->ssl) | SSL_SENT_SHUTDOWN);
    SSL_free(t->ssl); /* frees both BIOs */
    tg_buf_free(&t->pending);
    free(t);
}

void tg_tls_conn_free(struct tg_tls_conn *t)
{
    if (!t)
        return;
    if (t->depth > 0) {
        t->doomed = true; /* the outermost call frees it on its way out */
        return;
    }
    destroy(t);
}

/* Whether the connection can still do anything at all. */
static bool alive(const struct tg_tls_conn *t)
{
    return !t->dead && !t->doomed;
}

static void enter(struct tg_tls_conn *t)
{
    t->depth++;
}

/* t must not be used after this: it may have been freed. */
static void leave(struct tg_tls_conn *t)
{
    if (--t->depth == 0 && t->doomed)
        destroy(t);
}

/* Hands everything in wbio to send_raw in one call, straight from the BIO's
 * storage. While send_raw runs, nothing may write to wbio (its storage could
 * move); nested writes and close_notify are recorded and done afterwards. */
static void send_wbio(struct tg_tls_conn *t)
{
    char *data = NULL;
    long len = BIO_get_mem_data(t->wbio, &data);
    if (len <= 0 || !data)
        return;
    t->in_send = true;
    t->io->send_raw(t->conn, data, (size_t)len);
    t->in_send = false;
    if ((size_t)len > BIO_KEEP_MAX)
        drop_storage(t->wbio);
    else
        (void)BIO_reset(t->wbio);
}

/* The connection is dead: the alert OpenSSL queued (if any) leaves first,
 * then the connection layer hears why, once. */
static void fail(struct tg_tls_conn *t, const char *what)
{
    char reason[200], why[256];
    snprintf(why, sizeof(why), "%s: %s", what, ssl_reason(reason, sizeof(reason)));
    if (!alive(t))
        return;
    if (!t->in_send)
        send_wbio(t);
    t->dead = true;
    tg_buf_free(&t->pending);
    t->io->failed(t->conn, why);
}

static bool ssl_write(struct tg_tls_conn *t, const char *p, size_t n)
{
    size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, p, n, &written) != 1 || written != n) {
        fail(t, "TLS write failed");
        return false;
    }
    return true;
}

/* Encrypts the pieces as one stream: whole records are written straight from
 * the caller's memory, the rest is packed into full records through a
 * scratch buffer, so the pieces' boundaries cost no extra records. */
static void encrypt_pieces(struct tg_tls_conn *t, const char *const *pieces, const size_t *lens,
                           unsigned count)
{
    char chunk[RECORD_MAX];
    size_t used = 0;
    for (unsigned i = 0; i < count; i++) {
        const char *p = pieces[i];
        size_t n = lens[i];
        while (n > 0) {
            if (used == 0 && n >= RECORD_MAX) {
                size_t direct = n - n % RECORD_MAX;
                if (!ssl_write(t, p, direct))
                    return;
                p += direct;
                n -= direct;
                continue;
            }
            size_t take = RECORD_MAX - used < n ? RECORD_MAX - used : n;
            memcpy(chunk + used, p, take);
            used += take;
            p += take;
            n -= take;
            if (used == RECORD_MAX) {
                if (!ssl_write(t, chunk, used))
                    return;
                used = 0;
            }
        }
    }
    if (used > 0)
        ssl_write(t, chunk, used);
}

/* Encrypts what was kept back (written before the handshake completed, or
 * from inside send_raw) and sends close_notify if it was asked for meanwhile.
 * The buffer is freed, not kept: it may have been large. */
static void encrypt_pending(struct tg_tls_conn *t)
{
    if (!alive(t) || !t->established || t->in_send)
        return;
    if (t->pending.len > 0 && !t->shutdown_sent) {
        struct tg_buf b = t->pending;
        t->pending = (struct tg_buf)TG_BUF_INIT;
        const char *piece = b.data;
        encrypt_pieces(t, &piece, &b.len, 1);
        tg_buf_free(&b);
    }
    if (alive(t) && t->closing && !t->shutdown_sent) {
        t->shutdown_sent = true;
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl); /* 0: sent, not yet received; fine */
        ERR_clear_error();
    }
}

/* Sends wbio's contents, from the outermost call only, until nothing more
 * was added by the callbacks. */
static void flush(struct tg_tls_conn *t)
{
    if (t->depth > 1 || t->in_send)
        return;
    while (alive(t)) {
        encrypt_pending(t);
        if (!alive(t) || BIO_ctrl_pending(t->wbio) == 0)
            return;
        send_wbio(t);
    }
}

/* Handshake, then every complete record in rbio. */
static void process(struct tg_tls_conn *t)
{
    if (!t->established) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN)
                t->peer_closed = true; /* gave up politely; the TCP EOF follows */
            else if (e != SSL_ERROR_WANT_READ)
                fail(t, "TLS handshake failed");
            return;
        }
        t->established = true;
        encrypt_pending(t);
    }
    char buf[RECORD_MAX];
    while (alive(t) && !t->peer_closed) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(t->ssl, buf, sizeof(buf), &got) == 1) {
            t->io->plaintext(t->conn, buf, got);
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN) {
            /* close_notify: the end of input, not an error. Answer in kind;
             * the connection layer sees the TCP EOF. */
            t->peer_closed = true;
            t->closing = true;
            encrypt_pending(t);
        } else if (e != SSL_ERROR_WANT_READ) {
            fail(t, "TLS error");
        }
        return;
    }
}

/* Frees rbio's storage once it is empty if it ever held much. */
static void trim_rbio(struct tg_tls_conn *t)
{
    if (t->rbio_peak <= BIO_KEEP_MAX || BIO_ctrl_pending(t->rbio) > 0)
        return;
    drop_storage(t->rbio);
    t->rbio_peak = 0;
}

int tg_tls_conn_feed(struct tg_tls_conn *t, const char *p, size_t n)
{
    if (!alive(t))
        return -1;
    if (t->peer_closed)
        return 0;
    while (n > 0) {
        size_t put = 0;
        size_t want = n < INT_MAX ? n : INT_MAX; /* a BIO takes an int at a time */
        if (BIO_write_ex(t->rbio, p, want, &put) != 1 || put == 0) {
            fprintf(stderr, "tailgate: out of memory buffering TLS input\n");
            abort();
        }
        p += put;
        n -= put;
    }
    size_t held = BIO_ctrl_pending(t->rbio);
    if (held > t->rbio_peak)
        t->rbio_peak = held;
    if (t->depth > 0)
        return 0; /* from a callback: the running feed (or the next) reads it */

    enter(t);
    while (alive(t)) {
        process(t);
        flush(t);
        /* Input fed from inside send_raw arrived after process stopped. */
        if (t->peer_closed || BIO_ctrl_pending(t->rbio) == 0)
            break;
    }
    int rc = t->dead ? -1 : 0;
    if (alive(t))
        trim_rbio(t);
    leave(t);
    return rc;
}

void tg_tls_conn_write(struct tg_tls_conn *t, const char *const *pieces, const size_t *lens,
                       unsigned count)
{
    if (!alive(t) || t->closing)
        return;
    size_t total = 0;
    for (unsigned i = 0; i < count; i++)
        total += lens[i];
    if (total == 0)
        return;
    /* Kept back until the handshake completes or send_raw returns, and in
     * order behind anything kept earlier. */
    bool keep = !t->established || t->in_send || t->pending.len > 0;
    if (keep) {
        tg_buf_reserve(&t->pending, total);
        for (unsigned i = 0; i < count; i++)
            tg_buf_append(&t->pending, pieces[i], lens[i]);
        if (!t->established || t->in_send)
            return;
    }
    enter(t);
    if (!keep)
        encrypt_pieces(t, pieces, lens, count);
    flush(t); /* encrypts what was kept too */
    leave(t);
}

void tg_tls_conn_close_notify(struct tg_tls_conn *t)
{
    if (!alive(t) || t->closing)
        return;
    t->closing = true;
    /* During the handshake there is nothing to close yet: it is sent when
     * the handshake completes (after anything written before it). */
    if (!t->established)
        return;
    enter(t);
    encrypt_pending(t);
    flush(t);
    leave(t);
}

bool tg_tls_conn_established(const struct tg_tls_conn *t)
{
    return t->established;
}

const char *tg_tls_conn_version(const struct tg_tls_conn *t)
{
    return t->established ? SSL_get_version(t->ssl) : "";
}

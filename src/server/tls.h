/* Inbound TLS over a libuv stream, with OpenSSL memory BIOs: the socket's
 * bytes are fed in, handshakes run without blocking on the loop, decrypted
 * bytes come out through a callback, and what must be sent (records,
 * handshake messages, alerts) goes out through another. TLS 1.2 and 1.3,
 * ALPN http/1.1. The connection layer (server/conn.c) owns the socket; this
 * file never touches it. */
#ifndef TG_SERVER_TLS_H
#define TG_SERVER_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tg_tls_ctx; /* a server's certificate, key and settings (an SSL_CTX) */
struct tg_tls_conn;

/* Loads a PEM certificate (chain) and key; NULL with a message on error. */
struct tg_tls_ctx *tg_tls_ctx_new(const char *cert_file, const char *key_file, char *err,
                                  size_t errlen);
void tg_tls_ctx_free(struct tg_tls_ctx *ctx);

/* What the connection provides. Callbacks may be called from inside
 * tg_tls_conn_feed and tg_tls_conn_write. */
struct tg_tls_io {
    void (*send_raw)(void *conn, const char *p, size_t n);  /* ciphertext for the socket */
    void (*plaintext)(void *conn, const char *p, size_t n); /* decrypted input */
    void (*failed)(void *conn, const char *why);           /* the connection must close */
};

struct tg_tls_conn *tg_tls_conn_new(struct tg_tls_ctx *ctx, const struct tg_tls_io *io,
                                    void *conn);
void tg_tls_conn_free(struct tg_tls_conn *t);

/* Bytes from the socket. Runs the handshake, then decrypts; returns 0, or
 * -1 after io->failed (bad handshake, bad record, peer alert). After a
 * failure or close_notify from the peer, further calls do nothing. */
int tg_tls_conn_feed(struct tg_tls_conn *t, const char *p, size_t n);
/* Plaintext to send, as `count` pieces sent as one: encrypted at once (the
 * ciphertext leaves in as few send_raw calls as possible), or kept until
 * the handshake completes. */
void tg_tls_conn_write(struct tg_tls_conn *t, const char *const *pieces, const size_t *lens,
                       unsigned count);
/* Sends close_notify (before a graceful close). */
void tg_tls_conn_close_notify(struct tg_tls_conn *t);
bool tg_tls_conn_established(const struct tg_tls_conn *t);
/* "TLSv1.3" etc. once established, else "". */
const char *tg_tls_conn_version(const struct tg_tls_conn *t);

#endif

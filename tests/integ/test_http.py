"""The gateway's inbound HTTP/1.1 (issue: proxy core): strict parsing, the
[server] limits at L-1, L and L+1, pipelining, smuggling, timeouts,
max_connections. Real `tailgate serve` and `tailgate mock` processes."""

import json
import socket
import time

from harness import (TestCase, main, openai_provider, parse_responses, raw_exchange,
                     simple_gateway)

CHAT = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'


def post(body, extra=b"", path=b"/v1/chat/completions"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: t\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def head_of_size(n, path=b"/v1/models"):
    """A GET whose request line + headers + blank line are exactly n bytes."""
    base = b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nX-Pad: \r\n\r\n"
    return base.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (n - len(base)))


class Strictness(TestCase):
    def setUp(self):
        super().setUp()
        self.m = self.mock()
        self.g = simple_gateway(self, self.m)

    def bad(self, data, message_part):
        out = raw_exchange(self.g.port, data, timeout=3)
        resps = parse_responses(out)
        self.assertEqual(len(resps), 1, out)
        status, headers, body = resps[0]
        self.assertEqual(status, 400, out)
        self.assertEqual(headers.get("connection"), "close")
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "bad_http")
        self.assertIn(message_part, err["message"])
        return err

    def test_content_length_and_transfer_encoding(self):
        self.bad(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" % len(CHAT) + CHAT,
                 "Content-Length and Transfer-Encoding")

    def test_obs_fold(self):
        self.bad(b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", "folding")
        self.bad(b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\tc\r\n\r\n", "folding")

    def test_bare_lf(self):
        self.bad(b"GET /v1/models HTTP/1.1\nHost: t\n\n", "")

    def test_invalid_chunk_size(self):
        self.bad(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                 b"\r\n\r\nZZ\r\n" + CHAT + b"\r\n0\r\n\r\n", "chunk size")

    def test_bare_cr(self):
        # The two forms llhttp releases after 8.1.0 fixed; rejected here either way.
        self.bad(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\rX: y\r\n\r\n", "")
        self.bad(b"GET /v1/models HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", "")

    def test_empty_header_name(self):
        self.bad(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n: value\r\n\r\n", "empty header name")

    def test_duplicate_content_length(self):
        self.bad(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                 b"Content-Length: %d\r\n\r\n" % (len(CHAT), len(CHAT)) + CHAT,
                 "more than one Content-Length")

    def test_garbage(self):
        self.bad(b"\x00\x01\x02 nonsense\r\n\r\n", "")

    def test_chunked_body_accepted(self):
        out = raw_exchange(self.g.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                           b"%x\r\n" % len(CHAT) + CHAT + b"\r\n0\r\n\r\n")
        self.assertEqual(parse_responses(out)[0][0], 200, out)

    def test_chunked_body_with_trailers(self):
        # Trailers arrive after the head has been handed over; they are
        # ignored, and must not move the stored head (a large one used to).
        trailer = b"X-Trailer: " + b"t" * 3000 + b"\r\n"
        out = raw_exchange(self.g.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                           b"%x\r\n" % len(CHAT) + CHAT + b"\r\n0\r\n" + trailer + b"\r\n")
        self.assertEqual(parse_responses(out)[0][0], 200, out)
        self.assertEqual(parse_responses(raw_exchange(
            self.g.port, b"GET /v1/models HTTP/1.0\r\n\r\n"))[0][0], 200)

    def test_http10_and_keep_alive(self):
        out = raw_exchange(self.g.port, b"GET /v1/models HTTP/1.0\r\n\r\n")
        resps = parse_responses(out)
        self.assertEqual(resps[0][0], 200)
        self.assertEqual(resps[0][1].get("connection"), "close")

    def test_bad_request_does_not_disturb_other_clients(self):
        good = socket.create_connection(("127.0.0.1", self.g.port))
        raw_exchange(self.g.port, b"\xff\xfe garbage\r\n\r\n")
        good.sendall(post(CHAT, b"Connection: close\r\n"))
        data = b""
        while True:
            b = good.recv(65536)
            if not b:
                break
            data += b
        self.assertEqual(parse_responses(data)[0][0], 200)


def chunked(body, ext=b""):
    return b"%x%s\r\n" % (len(body), ext) + body + b"\r\n0\r\n"


class Smuggling(TestCase):
    """Framing the gateway cannot trust is refused and the connection closed;
    the request behind it never reaches the upstream (issue 11)."""

    def setUp(self):
        super().setUp()
        self.m = self.mock()
        self.g = simple_gateway(self, self.m)

    def refused(self, data, status, code, upstream=0):
        """`data` then a second chat request on the same connection: one
        refusal, connection closed, `upstream` requests reached the mock."""
        out = raw_exchange(self.g.port, data + post(CHAT), timeout=3)
        resps = parse_responses(out)
        self.assertEqual([r[0] for r in resps], [status], out)
        _, headers, body = resps[0]
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(json.loads(body)["error"]["code"], code)
        self.assertEqual(headers.get("x-should-retry"), "false")
        self.assertTrue(headers.get("x-request-id"))
        time.sleep(0.2)
        self.assertEqual(self.m.stats()["requests"], upstream)
        return json.loads(body)["error"]["message"]

    def chat_te(self, te_lines, version=b"1.1"):
        return (b"POST /v1/chat/completions HTTP/" + version + b"\r\nHost: t\r\n" + te_lines +
                b"\r\n" + chunked(CHAT) + b"\r\n")

    def test_http10_with_transfer_encoding_answered_then_closed(self):
        # RFC 9112 section 6.1: the framing is faulty even when it parses.
        data = self.chat_te(b"Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n",
                            version=b"1.0")
        resps = parse_responses(raw_exchange(self.g.port, data + post(CHAT), timeout=3))
        self.assertEqual([r[0] for r in resps], [200])
        self.assertEqual(resps[0][1].get("connection"), "close")
        time.sleep(0.2)
        self.assertEqual(self.m.stats()["requests"], 1)

    def test_obs_fold_in_trailers(self):
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n" + chunked(CHAT) + b"X-T: a\r\n b\r\n\r\n")
        self.assertIn("folding", self.refused(data, 400, "bad_http"))

    def test_bare_cr_in_trailers(self):
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n" + chunked(CHAT) + b"X-T: a\rX-U: b\r\n\r\n")
        self.refused(data, 400, "bad_http")

    def test_trailers_are_still_accepted(self):
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n" + chunked(CHAT) + b"X-T: a\r\nX-U: b\r\n\r\n")
        resps = parse_responses(raw_exchange(self.g.port, data + post(CHAT, b"Connection: close\r\n")))
        self.assertEqual([r[0] for r in resps], [200, 200])

    def test_codings_other_than_chunked(self):
        for te in (b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
                   b"Transfer-Encoding: gzip, chunked\r\n"):
            with self.subTest(te=te):
                self.refused(self.chat_te(te), 501, "not_implemented")
        # llhttp refuses these first, as malformed.
        for te in (b"Transfer-Encoding: chunked, gzip\r\n",
                   b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"):
            with self.subTest(te=te):
                self.refused(self.chat_te(te), 400, "bad_http")

    def test_chunked_twice(self):
        self.refused(self.chat_te(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
                     400, "bad_http")

    def test_empty_transfer_encoding(self):
        # Taken as absent, the chunked body would be parsed as a new request.
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n\r\n" +
                post(CHAT))
        self.assertIn("empty Transfer-Encoding", self.refused(data, 400, "bad_http"))

    def test_only_http_10_and_11(self):
        for line in (b"GET /v1/models HTTP/2.0", b"GET /v1/models HTTP/0.9", b"GET /v1/models"):
            with self.subTest(line=line):
                self.refused(line + b"\r\nHost: t\r\n\r\n", 505, "http_version_not_supported")
        # llhttp refuses this one first, as malformed.
        self.refused(b"GET /v1/models HTTP/1.2\r\nHost: t\r\n\r\n", 400, "bad_http")

    def test_host(self):
        for head, why in ((b"", "missing"), (b"Host: a\r\nHost: b\r\n", "more than one"),
                          (b"Host: g w\r\n", "invalid"), (b"Host: user@gw\r\n", "invalid"),
                          (b"Host: gw:80x\r\n", "invalid"), (b"Host: gw/x\r\n", "invalid")):
            with self.subTest(head=head):
                msg = self.refused(b"GET /v1/models HTTP/1.1\r\n" + head + b"\r\n", 400,
                                   "bad_http")
                self.assertIn(why, msg)

    def test_valid_hosts(self):
        for host in (b"gw", b"gw:8080", b"127.0.0.1:1", b"[::1]:8080", b"a-b.c_d~e%41"):
            with self.subTest(host=host):
                out = raw_exchange(self.g.port, b"GET /v1/models HTTP/1.1\r\nHost: " + host +
                                   b"\r\nConnection: close\r\n\r\n")
                self.assertEqual(parse_responses(out)[0][0], 200, out)
        # HTTP/1.0 may leave Host out.
        out = raw_exchange(self.g.port, b"GET /v1/models HTTP/1.0\r\n\r\n")
        self.assertEqual(parse_responses(out)[0][0], 200, out)

    def test_valid_framing_llhttp_refused(self):
        # llhttp 8.1.0 refused these; RFC 9110/9112 allow them.
        heads = (b"Transfer-Encoding: chunked\t\r\n", b"Transfer-Encoding: chunked \t \r\n",
                 b"Transfer-Encoding:  chunked\r\n")
        for te in heads:
            with self.subTest(te=te):
                self.accepted(self.chat_te(te))
        for cl in (b"%d\t" % len(CHAT), b"%d  " % len(CHAT), b"\t%d" % len(CHAT)):
            with self.subTest(cl=cl):
                self.accepted(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                              b"Content-Length: " + cl + b"\r\n\r\n" + CHAT)
        for ext in (b";a=b;c=d", b";a", b";a;b", b";a=\"q;\\\"x\";b=c", b" ;a = b ; c",
                    b";a=b\t;c=d"):
            with self.subTest(ext=ext):
                half = len(CHAT) // 2
                self.accepted(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" +
                              b"%x%s\r\n" % (half, ext) + CHAT[:half] + b"\r\n" +
                              b"%x%s\r\n" % (len(CHAT) - half, ext) + CHAT[half:] +
                              b"\r\n0" + ext + b"\r\nX-T: v\r\n\r\n")
        self.assertEqual(self.m.stats()["requests"], 4 * (len(heads) + 3 + 6))

    def accepted(self, data):
        """`data`, then a second chat request: both answered 200, whole or a
        byte at a time; and the value the gateway saw lost its trailing OWS."""
        for split in (False, True):
            second = post(CHAT, b"Connection: close\r\nx-request-id: id-7 \t\r\n")
            if split:
                s = socket.create_connection(("127.0.0.1", self.g.port), timeout=5)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for i in range(len(data)):
                    s.sendall(data[i:i + 1])
                    time.sleep(0.0005)
                s.sendall(second)
                out = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    out += b
                s.close()
            else:
                out = raw_exchange(self.g.port, data + second)
            resps = parse_responses(out)
            self.assertEqual([r[0] for r in resps], [200, 200], out)
            self.assertEqual(resps[1][1]["x-request-id"], "id-7")

    def test_invalid_chunk_extensions(self):
        for ext in (b";", b";a=", b" ", b";a b", b";a=\"b", b";=b", b";a=b c", b";a@b",
                    b";a=" + b"b" * 5000):
            with self.subTest(ext=ext[:20]):
                data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" + chunked(CHAT, ext) + b"\r\n")
                self.refused(data, 400, "bad_http")

    def test_whitespace_inside_values_is_kept(self):
        s, h, _ = self.g.chat(headers={"x-request-id": "a\tb"})
        self.assertNotEqual(h["x-request-id"], "a\tb")  # not a sane id: replaced
        out = raw_exchange(self.g.port, b"GET /v1/models HTTP/1.1\r\nHost: t\r\n"
                           b"Connection: close\r\nx-request-id:  in-side  \r\n\r\n")
        self.assertEqual(parse_responses(out)[0][1]["x-request-id"], "in-side")

    def test_request_line_trailing_whitespace_still_refused(self):
        self.refused(b"GET /v1/models HTTP/1.1 \r\nHost: t\r\n\r\n", 400, "bad_http")
        self.refused(b"\r\nGET /v1/models HTTP/1.1 \r\nHost: t\r\n\r\n", 400, "bad_http")

    def test_refusals_are_logged(self):
        raw_exchange(self.g.port, b"GET /v1/models HTTP/1.1\r\nHost: g w\r\n\r\n")
        raw_exchange(self.g.port, b"GET /v1/models HTTP/2.0\r\nHost: t\r\n\r\n")
        raw_exchange(self.g.port, b"GET /v1/models HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n")
        deadline = time.time() + 3
        while time.time() < deadline and self.g.stderr().count("event=http_refused") < 3:
            time.sleep(0.05)
        lines = [l for l in self.g.stderr().splitlines() if "event=http_refused" in l]
        self.assertEqual(len(lines), 3, lines)
        for line, status, reason in zip(lines, (400, 505, 400),
                                        ("invalid Host", "only HTTP/1.0", "empty header name")):
            self.assertIn("peer=127.0.0.1:", line)
            self.assertIn("status=%d" % status, line)
            self.assertIn('reason="' + reason, line)


class Limits(TestCase):
    L_HEAD = 1024
    L_HEADERS = 10
    L_BODY = 2000

    def setUp(self):
        super().setUp()
        self.m = self.mock()
        self.g = simple_gateway(self, self.m, server={
            "max_header_bytes": self.L_HEAD, "max_headers": self.L_HEADERS,
            "max_body_bytes": self.L_BODY, "read_timeout_ms": 400, "idle_timeout_ms": 300,
            "max_connections": 4})

    def exchange(self, data):
        return parse_responses(raw_exchange(self.g.port, data, timeout=3))

    def test_header_bytes_at_limit(self):
        for n, want in ((self.L_HEAD - 1, 200), (self.L_HEAD, 200), (self.L_HEAD + 1, 431)):
            req = head_of_size(n)
            self.assertEqual(len(req), n)
            resps = self.exchange(req + b"")
            self.assertEqual(resps[0][0], want, (n, resps))
            if want == 431:
                self.assertEqual(json.loads(resps[0][2])["error"]["code"], "headers_too_large")
                self.assertEqual(resps[0][1].get("connection"), "close")

    def test_header_bytes_streamed_without_end(self):
        # A head that never ends is refused once it passes the limit, not buffered.
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=3)
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * (self.L_HEAD * 4))
        data = s.recv(65536)
        self.assertIn(b" 431 ", data.split(b"\r\n")[0])
        s.close()

    def test_whitespace_counts_toward_header_bytes(self):
        # Whitespace held to see whether it trails a value is bounded too.
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=5)
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX: a" + b" " * (self.L_HEAD * 4))
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        self.assertEqual(parse_responses(data)[0][0], 431)

    def test_header_count_at_limit(self):
        def req(n_headers):
            lines = b"Host: t\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(n_headers - 1))
            return b"GET /v1/models HTTP/1.1\r\n" + lines + b"\r\n"
        for n, want in ((self.L_HEADERS - 1, 200), (self.L_HEADERS, 200),
                        (self.L_HEADERS + 1, 431)):
            resps = self.exchange(req(n))
            self.assertEqual(resps[0][0], want, n)
            if want == 431:
                self.assertEqual(resps[0][1].get("connection"), "close")

    def body_of(self, n):
        base = b'{"model":"m","messages":[{"role":"user","content":""}]}'
        body = base.replace(b'"content":""', b'"content":"' + b"x" * (n - len(base)) + b'"')
        self.assertEqual(len(body), n)
        return body

    def test_body_at_limit(self):
        for n, want in ((self.L_BODY - 1, 200), (self.L_BODY, 200), (self.L_BODY + 1, 413)):
            resps = self.exchange(post(self.body_of(n)))
            self.assertEqual(resps[0][0], want, n)
            if want == 413:
                self.assertEqual(json.loads(resps[0][2])["error"]["code"], "body_too_large")
                self.assertEqual(resps[0][1].get("connection"), "close")

    def test_body_too_large_answered_before_the_body(self):
        # Content-Length announces too much: 413 at once, without waiting for the body.
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=3)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\n\r\n")
        t0 = time.time()
        data = s.recv(65536)
        self.assertIn(b" 413 ", data.split(b"\r\n")[0])
        self.assertLess(time.time() - t0, 0.3)  # well before read_timeout_ms
        s.close()
        self.assertEqual(self.m.stats()["requests"], 0)

    def test_chunked_body_too_large(self):
        body = self.body_of(self.L_BODY) + b" " * 50
        data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        self.assertEqual(self.exchange(data)[0][0], 413)

    def test_read_timeout(self):
        for partial in (b"GET /v1/models HTTP/1.1\r\nHost: t\r\n",
                        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{",
                        b""):
            t0 = time.time()
            resps = parse_responses(raw_exchange(self.g.port, partial, timeout=3))
            took = time.time() - t0
            self.assertEqual(resps[0][0], 408, partial)
            self.assertEqual(json.loads(resps[0][2])["error"]["code"], "request_timeout")
            self.assertEqual(resps[0][1].get("connection"), "close")
            self.assertGreater(took, 0.3)
            self.assertLess(took, 2.0)

    def test_read_timeout_counts_the_whole_request(self):
        # Trickling a byte at a time does not extend read_timeout_ms.
        import select
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=3)
        t0 = time.time()
        data = b""
        for ch in b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200:
            try:
                s.sendall(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if select.select([s], [], [], 0.02)[0]:
                data = s.recv(65536)
                break
        took = time.time() - t0
        s.close()
        self.assertIn(b" 408 ", data.split(b"\r\n")[0])
        self.assertGreater(took, 0.3)
        self.assertLess(took, 1.0)

    def test_idle_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=3)
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
        first = s.recv(65536)
        self.assertIn(b" 200 ", first.split(b"\r\n")[0])
        t0 = time.time()
        rest = s.recv(65536)  # EOF when the idle timeout closes it
        self.assertEqual(rest, b"")
        self.assertGreater(time.time() - t0, 0.2)
        self.assertLess(time.time() - t0, 2.0)
        s.close()

    def test_max_connections(self):
        while self.g.metric("tailgate_connections") > 0:  # the harness's readiness probe
            time.sleep(0.01)
        held = [socket.create_connection(("127.0.0.1", self.g.port)) for _ in range(4)]
        for s in held:
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertIn(b" 200 ", s.recv(65536))
        extra = socket.create_connection(("127.0.0.1", self.g.port), timeout=3)
        extra.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            got = extra.recv(65536)
        except ConnectionResetError:
            got = b""
        self.assertEqual(got, b"")  # accepted and closed at once
        extra.close()
        held.pop().close()
        time.sleep(0.1)
        again = raw_exchange(self.g.port, b"GET /v1/models HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertEqual(parse_responses(again)[0][0], 200)
        for s in held:
            s.close()


class Pipelining(TestCase):
    def test_hundred_pipelined_requests_answered_in_order(self):
        m = self.mock(latency_ms=3, latency_p99_ms=30)  # answers would overtake each other
        g = simple_gateway(self, m, sections={"hedge": {"enabled": False}})
        reqs = b"".join(post(CHAT, b"x-request-id: r%03d\r\n" % i) for i in range(100))
        s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        s.sendall(reqs + b"GET /v1/models HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        s.close()
        resps = parse_responses(data)
        self.assertEqual(len(resps), 101)
        for i, (status, headers, _) in enumerate(resps[:100]):
            self.assertEqual(status, 200)
            self.assertEqual(headers["x-request-id"], "r%03d" % i)
        self.assertEqual(m.stats()["requests"], 100)

    def test_smuggling_in_a_pipeline_stops_it(self):
        m = self.mock()
        g = simple_gateway(self, m)
        smuggle = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        data = post(CHAT) + smuggle + post(CHAT) + post(CHAT)
        resps = parse_responses(raw_exchange(g.port, data, timeout=3))
        self.assertEqual([r[0] for r in resps], [200, 400])
        self.assertEqual(resps[1][1].get("connection"), "close")
        time.sleep(0.2)
        self.assertEqual(m.stats()["requests"], 1)  # nothing after the bad one went upstream

    def test_pipelined_client_that_does_not_read(self):
        # Many pipelined requests from a client that never reads: bounded, then
        # everything arrives once it does.
        m = self.mock()
        g = simple_gateway(self, m)
        s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        n = 300
        s.sendall(b"".join(post(CHAT) for _ in range(n)) +
                  b"GET /v1/models HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)
        data = b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        s.close()
        resps = parse_responses(data)
        self.assertEqual(len(resps), n + 1)
        self.assertTrue(all(r[0] == 200 for r in resps))


if __name__ == "__main__":
    main()

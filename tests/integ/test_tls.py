"""TLS on both sides (issue: TLS): the gateway serves HTTPS (TLS 1.2 and 1.3,
ALPN http/1.1) with keep-alive and streaming as in the clear, a failed
handshake closes only that connection; upstreams over HTTPS are trusted
through the provider's ca_file, and a wrong CA fails the attempt as
transport with a clear log line. Certificates are made at test time by the
openssl command line; `tailgate mock --tls-cert/--tls-key` is the upstream."""

import http.client
import json
import socket
import ssl
import tempfile
import threading

from harness import Mock, TestCase, main, make_cert, openai_provider, sse_events

CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
STREAM = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})


class Inbound(TestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="tg-tls-")
        self.cert, self.key = make_cert(self.dir)
        self.m = self.mock(tokens_per_s=200)
        self.g = self.gateway(server={"tls_cert": self.cert, "tls_key": self.key},
                              providers=[openai_provider("up", self.m)],
                              deployments=[{"name": "d", "provider": "up", "model": "x"}],
                              routes=[{"model": "m", "deployments": ["d"]}])

    def ctx(self, version=None, alpn=True):
        c = ssl.create_default_context(cafile=self.cert)
        if version:
            c.minimum_version = version
            c.maximum_version = version
        if alpn:
            c.set_alpn_protocols(["http/1.1"])
        return c

    def conn(self, **kw):
        return http.client.HTTPSConnection("127.0.0.1", self.g.port, context=self.ctx(**kw),
                                           timeout=10)

    def test_keep_alive_over_tls(self):
        c = self.conn()
        for _ in range(5):
            c.request("POST", "/v1/chat/completions", CHAT, {"Content-Type": "application/json"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["object"], "chat.completion")
        self.assertEqual(c.sock.version(), "TLSv1.3")
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        self.assertEqual(self.g.metric("tailgate_connections"), 1)  # one connection, reused
        c.close()

    def test_connection_close_gets_the_whole_answer(self):
        # The answer is made while the request is being decrypted; closing
        # must wait until its records have left, then send close_notify.
        for path, method, body in (("/v1/models", "GET", None),
                                   ("/v1/chat/completions", "POST", CHAT),
                                   ("/nope", "GET", None)):
            c = self.conn()
            c.request(method, path, body, {"Connection": "close"})
            r = c.getresponse()
            self.assertIn(r.status, (200, 404))
            self.assertIn(b"{", r.read())
            self.assertTrue(r.will_close)
            c.close()
        # HTTP/1.0 without keep-alive closes after each answer too.
        raw = socket.create_connection(("127.0.0.1", self.g.port), timeout=5)
        s = self.ctx().wrap_socket(raw, server_hostname="127.0.0.1")
        s.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            more = s.recv(65536)
            if not more:
                break
            data += more
        self.assertTrue(data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(data.rstrip().endswith(b"}"), data)
        s.close()

    def test_tls12_and_tls13(self):
        for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            c = self.conn(version=v)
            c.request("POST", "/v1/chat/completions", CHAT)
            self.assertEqual(c.getresponse().status, 200)
            self.assertEqual(c.sock.version(), name)
            c.close()

    def test_no_alpn(self):
        c = self.conn(alpn=False)
        c.request("GET", "/v1/models")
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_streaming_over_tls(self):
        c = self.conn()
        c.request("POST", "/v1/chat/completions", STREAM)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("transfer-encoding"), "chunked")
        ev = sse_events(r.read().decode())
        self.assertEqual(ev[-1], "[DONE]")
        c.close()

    def test_large_body_over_tls(self):
        big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 300000}]})
        c = self.conn()
        c.request("POST", "/v1/chat/completions", big)
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_failed_handshakes_close_only_their_connection(self):
        good = self.conn()
        good.request("GET", "/v1/models")
        first = good.getresponse()
        self.assertEqual(first.status, 200)
        first.read()
        # Plain HTTP to the TLS port.
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=5)
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(65536)
            while data and len(data) < 100000:
                more = s.recv(65536)
                if not more:
                    break
                data += more
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        # Random garbage.
        s = socket.create_connection(("127.0.0.1", self.g.port), timeout=5)
        s.sendall(bytes(range(256)) * 4)
        try:
            s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        # A client that does not trust the certificate gives up mid-handshake.
        bad = ssl.create_default_context()
        with self.assertRaises(ssl.SSLError):
            with socket.create_connection(("127.0.0.1", self.g.port), timeout=5) as raw:
                bad.wrap_socket(raw, server_hostname="127.0.0.1")
        # The good connection is still fine.
        good.request("POST", "/v1/chat/completions", CHAT)
        self.assertEqual(good.getresponse().status, 200)
        good.close()

    def test_many_concurrent_tls_clients(self):
        results = []

        def one():
            c = self.conn()
            for _ in range(3):
                c.request("POST", "/v1/chat/completions", CHAT)
                r = c.getresponse()
                r.read()
                results.append(r.status)
            c.close()
        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 60)


class Upstream(TestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="tg-tls-")
        self.cert, self.key = make_cert(self.dir)
        self.m = self.start(Mock(latency_ms=0, tokens_per_s=200, tls_cert=self.cert,
                                 tls_key=self.key))
        self.url = "https://127.0.0.1:%d/v1" % self.m.port

    def gw(self, ca_file):
        return self.gateway(
            providers=[{"name": "up", "kind": "openai", "base_url": self.url, "api_key_env": "",
                        "ca_file": ca_file}],
            deployments=[{"name": "d", "provider": "up", "model": "x"}],
            routes=[{"model": "m", "deployments": ["d"]}],
            sections={"degraded": {"enabled": False}, "retry": {"max_attempts": 1},
                      "hedge": {"enabled": False}})

    def test_https_upstream_trusted_by_ca_file(self):
        g = self.gw(self.cert)
        s, h, b = g.chat()
        self.assertEqual(s, 200, b)
        s, h, b = g.chat(stream=True)
        self.assertEqual(sse_events(b)[-1], "[DONE]")
        self.assertEqual(self.m_stats()["requests"], 2)

    def m_stats(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        c = http.client.HTTPSConnection("127.0.0.1", self.m.port, context=ctx)
        try:
            c.request("GET", "/_mock/stats")
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def test_wrong_ca_fails_as_transport(self):
        other, _ = make_cert(tempfile.mkdtemp(prefix="tg-tls-"), "other")
        g = self.gw(other)
        s, h, b = g.chat()
        self.assertEqual(s, 502)
        self.assertEqual(json.loads(b)["error"]["attempts"][0]["outcome"], "transport")
        self.assertIn("certificate", g.stderr())
        self.assertIn("event=attempt_failed", g.stderr())


if __name__ == "__main__":
    main()

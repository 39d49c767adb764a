"""HTTPS upstreams (issue: proxy core): ca_file trusts a private CA, HTTP/2
multiplexes requests over one connection when the provider offers it, and
http2 = false keeps to HTTP/1.1. nginx serves as the TLS upstream, with a
certificate made at test time by the openssl command line."""

import json
import tempfile
import threading

from harness import Nginx, TestCase, main, make_cert

ANSWER = ('{"id":"x","object":"chat.completion","created":0,"model":"nginx",'
          '"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
          '"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,'
          '"total_tokens":2}}')


class TlsUpstream(TestCase):
    def setUp(self):
        super().setUp()
        d = tempfile.mkdtemp(prefix="tg-certs-")
        self.cert, self.key = make_cert(d)
        self.nginx = Nginx("""
  log_format proto '$server_protocol $connection';
  server {
    listen 127.0.0.1:PORT ssl http2;
    ssl_certificate %s;
    ssl_certificate_key %s;
    access_log DIR/access.log proto;
    location /v1/chat/completions {
      default_type application/json;
      return 200 '%s';
    }
  }""" % (self.cert, self.key, ANSWER))

    def tearDown(self):
        self.nginx.stop()
        super().tearDown()

    def gateway_for(self, http2=True, ca_file=None):
        return self.gateway(
            providers=[{"name": "tls", "kind": "openai",
                        "base_url": "https://127.0.0.1:%d/v1" % self.nginx.port,
                        "ca_file": ca_file or self.cert, "http2": http2,
                        "api_key_env": ""}],
            deployments=[{"name": "d", "provider": "tls", "model": "x"}],
            routes=[{"model": "m", "deployments": ["d"]}],
            sections={"hedge": {"enabled": False}, "degraded": {"enabled": False},
                      "retry": {"max_attempts": 1}})

    def log(self):
        with open(self.nginx.dir + "/access.log") as f:
            return [l.split() for l in f.read().splitlines()]

    def concurrent(self, g, n):
        results = []

        def one():
            results.append(g.chat()[0])
        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_http2_multiplexes(self):
        g = self.gateway_for(http2=True)
        self.assertEqual(g.chat()[0], 200)  # one connection up first
        self.assertEqual(self.concurrent(g, 20), [200] * 20)
        log = self.log()
        self.assertEqual(len(log), 21)
        self.assertEqual({proto for proto, _ in log}, {"HTTP/2.0"})
        self.assertEqual(len({conn for _, conn in log}), 1)

    def test_http1_when_http2_is_off(self):
        g = self.gateway_for(http2=False)
        for _ in range(5):
            self.assertEqual(g.chat()[0], 200)
        log = self.log()
        self.assertEqual({proto for proto, _ in log}, {"HTTP/1.1"})
        self.assertEqual(len({conn for _, conn in log}), 1)  # keep-alive

    def test_wrong_ca_fails_as_transport(self):
        other_cert, _ = make_cert(tempfile.mkdtemp(prefix="tg-certs-"), "other")
        g = self.gateway_for(ca_file=other_cert)
        s, h, b = g.chat()
        self.assertEqual(s, 502, b)
        self.assertEqual(json.loads(b)["error"]["attempts"][0]["outcome"], "transport")
        self.assertIn("certificate", g.stderr())  # the log line says why


if __name__ == "__main__":
    main()

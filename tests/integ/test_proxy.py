"""The data path (issue: proxy core): routing by model, the upstream request,
response headers, streaming with backpressure, cancellation, upstream
connection reuse, size and time limits, and every error row of SPEC
section 3. Real `tailgate serve` + `tailgate mock` processes on 127.0.0.1."""

import json
import os
import socket
import threading
import time

from harness import (TestCase, main, openai_provider, parse_responses, raw_exchange, request,
                     simple_gateway, sse_events)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Routing(TestCase):
    def test_request_sent_upstream(self):
        os.environ["TG_TEST_UPSTREAM_KEY"] = "sk-test-123"
        m = self.mock()
        g = simple_gateway(self, m, providers=[openai_provider(
            "up", m, api_key_env="TG_TEST_UPSTREAM_KEY", headers={"OpenAI-Organization": "org-9"})])
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
        s, h, b = g.call("POST", "/v1/chat/completions", json.dumps(body),
                         {"x-request-id": "abc-123"})
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-request-id"], "abc-123")
        self.assertEqual(h["x-tailgate-route"], "m")
        self.assertEqual(h["x-tailgate-deployment"], "d1")
        self.assertEqual(h["x-tailgate-attempts"], "1")
        self.assertEqual(h["x-tailgate-fallback"], "0")
        self.assertEqual(json.loads(b)["object"], "chat.completion")
        self.assertEqual(json.loads(b)["model"], "up-model")  # the provider's id, passed through
        recent = m.stats()["recent"][-1]
        self.assertEqual(recent["path"], "/v1/chat/completions")
        sent = json.loads(recent["body"])
        self.assertEqual(sent["model"], "up-model")  # rewritten
        self.assertEqual(sent["temperature"], 0.5)  # the rest as received
        hdrs = {k.lower(): v for k, v in recent["headers"].items()}
        self.assertEqual(hdrs["authorization"], "Bearer sk-test-123")
        self.assertEqual(hdrs["openai-organization"], "org-9")

    def test_request_id_generated(self):
        m = self.mock()
        g = simple_gateway(self, m)
        ids = {g.chat()[1]["x-request-id"] for _ in range(3)}
        self.assertEqual(len(ids), 3)

    def test_completions_embeddings_models(self):
        m = self.mock()
        g = simple_gateway(self, m)
        s, _, b = g.call("POST", "/v1/completions", json.dumps({"model": "m", "prompt": "Say"}))
        self.assertEqual(s, 200, b)
        self.assertEqual(json.loads(b)["object"], "text_completion")
        s, _, b = g.call("POST", "/v1/embeddings", json.dumps({"model": "m", "input": ["a", "b"]}))
        self.assertEqual(s, 200, b)
        self.assertEqual(len(json.loads(b)["data"]), 2)
        paths = [r["path"] for r in m.stats()["recent"]]
        self.assertEqual(paths, ["/v1/completions", "/v1/embeddings"])
        s, _, b = g.call("GET", "/v1/models")
        self.assertEqual(s, 200)
        self.assertEqual([d["id"] for d in json.loads(b)["data"]], ["m"])

    def test_weighted_pick(self):
        m1, m2 = self.mock(), self.mock()
        g = self.gateway(
            providers=[openai_provider("a", m1), openai_provider("b", m2)],
            deployments=[{"name": "da", "provider": "a", "model": "x", "weight": 3.0},
                         {"name": "db", "provider": "b", "model": "x", "weight": 1.0}],
            routes=[{"model": "m", "deployments": ["da", "db"]}],
            sections={"hedge": {"enabled": False}})
        counts = {"da": 0, "db": 0}
        for _ in range(200):
            s, h, _ = g.chat()
            counts[h["x-tailgate-deployment"]] += 1
        self.assertGreater(counts["da"], 110)
        self.assertGreater(counts["db"], 20)


class Streaming(TestCase):
    def test_stream_passes_chunk_by_chunk(self):
        m = self.mock(tokens_per_s=20, output_tokens=10)
        g = simple_gateway(self, m)
        s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        arrivals = []
        data = b""
        t0 = time.time()
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
            arrivals.append((time.time() - t0, b.count(b"data: ")))
        s.close()
        resp = parse_responses(data)[0]
        self.assertEqual(resp[0], 200)
        self.assertEqual(resp[1]["content-type"], "text/event-stream")
        self.assertEqual(resp[1]["transfer-encoding"], "chunked")
        events = sse_events(resp[2].decode())
        self.assertEqual(events[-1], "[DONE]")
        content = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                          for e in events[:-1] if json.loads(e)["choices"])
        self.assertEqual(len(content.split()), 10)
        # Chunks reach the client as the upstream sends them (~50 ms apart), not at the end.
        times = [t for t, n in arrivals if n > 0]
        self.assertGreater(len(times), 5)
        self.assertGreater(times[-1] - times[0], 0.3)

    def test_slow_client_backpressure(self):
        # A long, unpaced stream to a client that does not read: the gateway
        # pauses the upstream instead of buffering it all.
        m = self.mock(output_tokens=40000)
        # ASan's quarantine would hold freed memory and hide what is live.
        g = simple_gateway(self, m, env={"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:"
                                                        "abort_on_error=1:quarantine_size_mb=1"})
        before = rss_kib(g.proc.pid)
        s = socket.create_connection(("127.0.0.1", g.port), timeout=20)
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(1.5)
        grown = rss_kib(g.proc.pid) - before
        st = m.stats()
        self.assertEqual(st["inflight"], 1)  # the upstream is held back, not finished
        # The whole stream is ~10 MB; what the gateway holds stays small.
        self.assertLess(grown, 8 * 1024, "gateway RSS grew by %d KiB" % grown)
        total = 0
        done = False
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            total += len(b)
            done = done or b"[DONE]" in b[-64:]
        s.close()
        self.assertGreater(total, 9 * 1024 * 1024)
        self.assertTrue(done)
        self.assertEqual(m.wait_stats(lambda x: x["completed"] == 1)["completed"], 1)

    def test_stream_error_status_is_json(self):
        m = self.mock()
        g = simple_gateway(self, m, sections={"degraded": {"enabled": False},
                                              "retry": {"max_attempts": 1}})
        m.script([{"status": 400, "error_code": "invalid_value"}])
        s, h, b = g.chat(stream=True)
        self.assertEqual(s, 400)
        self.assertEqual(json.loads(b)["error"]["code"], "invalid_value")


class Cancellation(TestCase):
    def test_client_abort_cancels_upstream(self):
        m = self.mock(latency_ms=3000)
        g = simple_gateway(self, m)
        s = socket.create_connection(("127.0.0.1", g.port))
        body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        m.wait_stats(lambda x: x["inflight"] == 1)
        t0 = time.time()
        s.close()
        st = m.wait_stats(lambda x: x["cancelled"] == 1, timeout=2)
        self.assertEqual(st["cancelled"], 1)
        self.assertEqual(st["inflight"], 0)
        self.assertLess(time.time() - t0, 1.0)
        log = g.wait_log(lambda l: l["status"] == 499)
        self.assertEqual(len(log), 1)
        self.assertEqual(log[0]["attempts"][0]["outcome"], "cancelled")

    def test_client_abort_mid_stream_cancels_upstream(self):
        m = self.mock(tokens_per_s=10, output_tokens=100)
        g = simple_gateway(self, m)
        s = socket.create_connection(("127.0.0.1", g.port))
        body = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        self.assertIn(b"200 OK", s.recv(65536))
        s.close()
        st = m.wait_stats(lambda x: x["cancelled"] == 1, timeout=2)
        self.assertEqual(st["cancelled"], 1)


class UpstreamConnections(TestCase):
    def test_keep_alive_reuse(self):
        m = self.mock()
        g = simple_gateway(self, m)
        before = m.stats()["connections_total"]
        for _ in range(20):
            self.assertEqual(g.chat()[0], 200)
        for _ in range(5):
            self.assertEqual(g.chat(stream=True)[0], 200)
        # (each stats call is a connection of its own: the second one counts itself)
        self.assertEqual(m.stats()["connections_total"] - before, 1 + 1)

    def test_max_connections_per_provider(self):
        m = self.mock(latency_ms=300)
        g = simple_gateway(self, m, providers=[openai_provider("up", m, max_connections=2)])
        before = m.stats()["connections_total"]
        results = []

        def one():
            results.append(g.chat()[0])
        threads = [threading.Thread(target=one) for _ in range(6)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 6)
        self.assertLessEqual(m.stats()["connections_total"] - before, 2 + 1)
        self.assertGreater(time.time() - t0, 0.8)  # 6 requests over 2 connections: 3 rounds

    def test_max_response_bytes(self):
        m = self.mock(output_tokens=20000)
        g = simple_gateway(self, m, server={"max_response_bytes": 10000},
                           sections={"degraded": {"enabled": False},
                                     "retry": {"max_attempts": 1}})
        s, h, b = g.chat()
        self.assertEqual(s, 502, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "upstream_unavailable")
        self.assertEqual(err["attempts"][0]["outcome"], "transport")

    def test_connection_refused_is_transport(self):
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        dead = port.getsockname()[1]
        port.close()
        g = self.gateway(
            providers=[{"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:%d/v1" % dead}],
            deployments=[{"name": "d1", "provider": "up", "model": "x"}],
            routes=[{"model": "m", "deployments": ["d1"]}],
            sections={"degraded": {"enabled": False},
                      "retry": {"max_attempts": 2, "backoff_base_ms": 10}})
        s, h, b = g.chat()
        self.assertEqual(s, 502)
        self.assertEqual([a["outcome"] for a in json.loads(b)["error"]["attempts"]],
                         ["transport", "transport"])

    def test_connect_timeout(self):
        # A listener whose accept queue is full drops SYNs: connect hangs.
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        fillers = []
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            try:
                f.connect(("127.0.0.1", lst.getsockname()[1]))
            except BlockingIOError:
                pass
            fillers.append(f)
        time.sleep(0.1)
        g = self.gateway(
            providers=[{"name": "up", "kind": "openai",
                        "base_url": "http://127.0.0.1:%d/v1" % lst.getsockname()[1]}],
            deployments=[{"name": "d1", "provider": "up", "model": "x"}],
            routes=[{"model": "m", "deployments": ["d1"]}],
            sections={"degraded": {"enabled": False}, "retry": {"max_attempts": 1},
                      "timeouts": {"connect_ms": 200}})
        t0 = time.time()
        s, h, b = g.chat()
        took = time.time() - t0
        for f in fillers:
            f.close()
        lst.close()
        self.assertEqual(s, 502, b)
        self.assertEqual(json.loads(b)["error"]["attempts"][0]["outcome"], "timeout")
        self.assertLess(took, 1.5)


class Errors(TestCase):
    """Every error row of SPEC section 3, against the real gateway."""

    def setUp(self):
        super().setUp()
        self.m = self.mock()
        self.g = simple_gateway(self, self.m, server={"max_body_bytes": 1000},
                                sections={"degraded": {"enabled": False},
                                          "retry": {"max_attempts": 1},
                                          "breaker": {"failure_threshold": 3}})

    def error(self, status, code, *args, **kw):
        s, h, b = self.g.call(*args, **kw)
        self.assertEqual(s, status, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], code)
        self.assertIn("message", err)
        self.assertIn("type", err)
        self.assertIsInstance(err["attempts"], list)
        return err, h

    def test_invalid_request(self):
        for body in ('not json', '{"model": "m", "messages": [] trailing', '[]', '{}',
                     '{"model": 5, "messages": []}', '{"model": "m"}',
                     '{"model": "m", "messages": "hi"}', '{"messages": []}',
                     '{"model": "m", "messages": [], "stream": "yes"}'):
            self.error(400, "invalid_request", "POST", "/v1/chat/completions", body)
        self.error(400, "invalid_request", "POST", "/v1/embeddings", '{"model": "m"}')
        self.error(400, "invalid_request", "POST", "/v1/completions", '{"model": "m"}')
        self.assertEqual(self.m.stats()["requests"], 0)

    def test_model_not_found(self):
        self.error(404, "model_not_found", "POST", "/v1/chat/completions",
                   '{"model": "nope", "messages": []}')

    def test_not_found_and_method(self):
        self.error(404, "not_found", "GET", "/v2/anything")
        err, h = self.error(405, "method_not_allowed", "GET", "/v1/chat/completions")
        self.assertEqual(h["allow"], "POST")
        self.error(405, "method_not_allowed", "POST", "/v1/models", "{}")

    def test_body_too_large(self):
        big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]})
        self.error(413, "body_too_large", "POST", "/v1/chat/completions", big)

    def test_headers_too_large(self):
        resp = parse_responses(raw_exchange(self.g.port, b"GET /v1/models HTTP/1.1\r\nX: " +
                                            b"a" * 20000 + b"\r\n\r\n"))
        self.assertEqual(resp[0][0], 431)
        self.assertEqual(json.loads(resp[0][2])["error"]["code"], "headers_too_large")

    def test_bad_http(self):
        resp = parse_responses(raw_exchange(self.g.port, b"BREW /pot HTCPCP/1.0\r\n\r\n"))
        self.assertEqual(resp[0][0], 400)
        self.assertEqual(json.loads(resp[0][2])["error"]["code"], "bad_http")

    def test_deadline_exceeded(self):
        self.m.script([{"delay_ms": 3000}])
        t0 = time.time()
        err, h = self.error(504, "deadline_exceeded", "POST", "/v1/chat/completions",
                            '{"model":"m","messages":[{"role":"user","content":"x"}]}',
                            {"x-tailgate-timeout-ms": "300"})
        self.assertLess(time.time() - t0, 1.5)
        self.assertEqual(self.m.wait_stats(lambda x: x["inflight"] == 0)["cancelled"], 1)

    def test_upstream_unavailable(self):
        self.m.script([{"status": 503}])
        err, h = self.error(502, "upstream_unavailable", "POST", "/v1/chat/completions",
                            '{"model":"m","messages":[{"role":"user","content":"x"}]}')
        self.assertEqual(err["attempts"], [{"deployment": "d1", "outcome": "server",
                                            "status": 503, "ms": err["attempts"][0]["ms"],
                                            "hedge": False}])

    def test_every_breaker_open_is_503(self):
        self.m.script([{"status": 503, "repeat": 3}])
        for _ in range(3):
            self.error(502, "upstream_unavailable", "POST", "/v1/chat/completions",
                       '{"model":"m","messages":[{"role":"user","content":"x"}]}')
        err, h = self.error(503, "upstream_unavailable", "POST", "/v1/chat/completions",
                            '{"model":"m","messages":[{"role":"user","content":"x"}]}')
        self.assertEqual(err["attempts"], [])
        self.assertEqual(self.m.stats()["requests"], 3)

    def test_upstream_client_error_passed_through(self):
        self.m.script([{"status": 422, "error_code": "unprocessable", "error_message": "bad thing"}])
        s, h, b = self.g.chat()
        self.assertEqual(s, 422)
        self.assertEqual(json.loads(b)["error"]["message"], "bad thing")
        self.assertEqual(h["x-tailgate-deployment"], "d1")
        self.assertEqual(self.m.stats()["requests"], 1)

    def test_over_max_connections(self):
        g = simple_gateway(self, self.m, server={"max_connections": 1})
        while g.metric("tailgate_connections") > 0:  # the harness's readiness probe
            time.sleep(0.01)
        a = socket.create_connection(("127.0.0.1", g.port))
        a.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
        a.recv(65536)
        b = socket.create_connection(("127.0.0.1", g.port), timeout=2)
        try:
            self.assertEqual(b.recv(100), b"")
        except ConnectionResetError:
            pass
        a.close()
        b.close()

    def test_request_timeout(self):
        g = simple_gateway(self, self.m, server={"read_timeout_ms": 200})
        resp = parse_responses(raw_exchange(g.port, b"POST /v1/chat/completions HTTP/1.1\r\n"))
        self.assertEqual(resp[0][0], 408)
        self.assertEqual(json.loads(resp[0][2])["error"]["code"], "request_timeout")


class Door(TestCase):
    """Answers made before routing (issue 11): x-request-id, x-should-retry,
    an access log line; GET /v1/models/{id}."""

    def setUp(self):
        super().setUp()
        self.m = self.mock()
        self.g = simple_gateway(self, self.m, server={"max_body_bytes": 1000}, routes=[
            {"model": "m", "deployments": ["d1"]},
            {"model": "openai/gpt-4o", "deployments": ["d1"]}])

    def test_pre_routing_answers(self):
        big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]})
        cases = [(404, "not_found", "GET", "/v2/anything", None),
                 (405, "method_not_allowed", "GET", "/v1/chat/completions", None),
                 (405, "method_not_allowed", "DELETE", "/v1/models", None),
                 (400, "invalid_request", "POST", "/v1/chat/completions", "not json"),
                 (404, "model_not_found", "POST", "/v1/chat/completions",
                  '{"model": "nope", "messages": []}'),
                 (413, "body_too_large", "POST", "/v1/chat/completions", big)]
        for i, (status, code, method, path, body) in enumerate(cases):
            with self.subTest(path=path, status=status):
                rid = "door-%d" % i
                s, h, b = self.g.call(method, path, body, headers={"x-request-id": rid})
                self.assertEqual(s, status, b)
                self.assertEqual(json.loads(b)["error"]["code"], code)
                self.assertEqual(h.get("x-request-id"), rid)
                self.assertEqual(h.get("x-should-retry"), "false")
                line = self.g.wait_log(lambda l, rid=rid: l["request_id"] == rid)
                self.assertEqual(len(line), 1, self.g.access_log())
                line = line[0]
                self.assertEqual(line["status"], status)
                self.assertEqual(line["method"], method)
                self.assertEqual(line["path"], path)
                self.assertTrue(line["client"].startswith("127.0.0.1:"), line)
                self.assertIsNone(line["route"])
                self.assertIsNone(line["deployment"])
                self.assertEqual(line["attempts"], [])
        self.assertEqual(self.m.stats()["requests"], 0)

    def test_connection_refusals(self):
        for i, (data, status, code) in enumerate((
                (b"GET /v1/models HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
                 431, "headers_too_large"),
                (b"GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\nx-request-id: raw-1\r\n\r\n",
                 400, "bad_http"),
                (b"GET /v1/models HTTP/2.0\r\nHost: t\r\n\r\n", 505, "http_version_not_supported"),
                (b"\x00garbage\r\n\r\n", 400, "bad_http"))):
            with self.subTest(status=status, i=i):
                resps = parse_responses(raw_exchange(self.g.port, data))
                self.assertEqual(resps[0][0], status)
                h = resps[0][1]
                self.assertEqual(json.loads(resps[0][2])["error"]["code"], code)
                self.assertTrue(h.get("x-request-id"))
                self.assertEqual(h.get("x-should-retry"), "false")
                rid = h["x-request-id"]
                if i == 1:
                    self.assertEqual(rid, "raw-1")  # the head was read: the client's id
                line = self.g.wait_log(lambda l, rid=rid: l["request_id"] == rid)
                self.assertEqual(len(line), 1, self.g.access_log())
                self.assertEqual(line[0]["status"], status)
                self.assertEqual(line[0]["attempts"], [])

    def test_request_id_echoed_only_when_sane(self):
        for rid, echoed in (("a" * 64, True), ("a" * 65, False), ("a b", False),
                            ("r-1_2.3", True)):
            with self.subTest(rid=rid):
                s, h, _ = self.g.chat(headers={"x-request-id": rid})
                self.assertEqual(s, 200)
                self.assertEqual(h["x-request-id"] == rid, echoed, h["x-request-id"])
                self.assertTrue(h["x-request-id"])
                line = self.g.wait_log(lambda l: l["request_id"] == h["x-request-id"])
                self.assertEqual(line[0]["route"], "m")
                self.assertEqual(line[0]["method"], "POST")
                self.assertEqual(line[0]["path"], "/v1/chat/completions")

    def test_get_model(self):
        for path, model in (("/v1/models/m", "m"), ("/v1/models/openai/gpt-4o", "openai/gpt-4o"),
                            ("/v1/models/openai%2Fgpt-4o", "openai/gpt-4o"),
                            ("/v1/models/openai%2fgpt%2D4o?x=1", "openai/gpt-4o")):
            with self.subTest(path=path):
                s, h, b = self.g.call("GET", path, headers={"x-request-id": "gm"})
                self.assertEqual(s, 200, b)
                self.assertEqual(json.loads(b), {"id": model, "object": "model", "created": 0,
                                                 "owned_by": "tailgate"})
                self.assertEqual(h["x-request-id"], "gm")
        for path in ("/v1/models/nope", "/v1/models/openai", "/v1/models/m%2", "/v1/models/m%zz"):
            with self.subTest(path=path):
                s, h, b = self.g.call("GET", path)
                self.assertEqual(s, 404, b)
                err = json.loads(b)["error"]
                self.assertEqual(err["code"], "model_not_found")
                self.assertEqual(err["type"], "invalid_request_error")
                self.assertEqual(err["attempts"], [])
                self.assertEqual(h.get("x-should-retry"), "false")
        s, h, b = self.g.call("POST", "/v1/models/m", "{}")
        self.assertEqual(s, 405, b)
        self.assertEqual(h["allow"], "GET")


class Admin(TestCase):
    def test_endpoints(self):
        m = self.mock()
        g = simple_gateway(self, m)
        g.chat()
        g.chat(stream=True)
        self.assertEqual(g.admin("/healthz")[:1], (200,))
        self.assertEqual(g.admin("/readyz")[0], 200)
        text = g.metrics()
        for name in ("tailgate_connections", "tailgate_inflight_requests",
                     "tailgate_requests_total", "tailgate_request_duration_seconds_bucket",
                     "tailgate_upstream_duration_seconds_bucket", "tailgate_tokens_total",
                     "tailgate_upstream_attempts_total", "tailgate_breaker_state"):
            self.assertIn(name, text)
        self.assertEqual(g.metric("tailgate_requests_total", route="m", code="200"), 2)
        self.assertGreater(g.metric("tailgate_tokens_total", deployment="d1", kind="input"), 0)
        self.assertEqual(g.metric("tailgate_request_duration_seconds_count", route="m"), 2)
        st = g.status()
        self.assertEqual(st["deployments"]["d1"]["state"], "closed")
        self.assertEqual(st["routes"]["m"]["deployments"], ["d1"])
        self.assertEqual(g.admin("/nope")[0], 404)

    def test_access_log(self):
        m = self.mock()
        g = simple_gateway(self, m)
        g.chat(headers={"x-request-id": "log-1"})
        time.sleep(0.2)
        line = [l for l in g.access_log() if l["request_id"] == "log-1"][0]
        for key in ("ts", "request_id", "route", "status", "ms", "deployment", "attempts",
                    "cache", "degraded", "input_tokens", "output_tokens"):
            self.assertIn(key, line)
        self.assertEqual(line["status"], 200)
        self.assertEqual(line["attempts"][0]["outcome"], "ok")
        self.assertGreater(line["output_tokens"], 0)

    def test_readyz_when_every_breaker_is_open(self):
        m = self.mock()
        g = simple_gateway(self, m, sections={"breaker": {"failure_threshold": 1},
                                              "retry": {"max_attempts": 1},
                                              "degraded": {"enabled": False}})
        m.script([{"status": 500}])
        g.chat()
        self.assertEqual(g.admin("/readyz")[0], 503)


if __name__ == "__main__":
    main()

"""Signals (SPEC section 1): SIGTERM/SIGINT drain and exit 0; SIGHUP reloads
the config, keeping the old one when the new one is bad, and requests in
flight finish on the config they started with. Also server.workers."""

import json
import signal
import socket
import subprocess
import threading
import time

from harness import (Gateway, TestCase, main, make_config, openai_provider, request,
                     simple_gateway)


def in_background(fn, *args, **kw):
    out = {}

    def run():
        try:
            out["result"] = fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 - reported to the test
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    return t, out


class Drain(TestCase):
    def drain_with(self, sig):
        m = self.mock(latency_ms=800)
        g = simple_gateway(self, m)
        t, out = in_background(g.chat)
        m.wait_stats(lambda s: s["inflight"] == 1)
        t0 = time.time()
        g.signal(sig)
        time.sleep(0.2)
        # Stopped accepting: new connections are refused.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", g.port), timeout=1).close()
        t.join(5)
        self.assertNotIn("error", out)
        status, headers, body = out["result"]
        self.assertEqual(status, 200)  # the request in flight finished
        self.assertEqual(g.proc.wait(5), 0)
        self.assertGreater(time.time() - t0, 0.4)
        self.assertIn("event=drain_start", g.stderr())

    def test_sigterm_drains(self):
        self.drain_with(signal.SIGTERM)

    def test_sigint_drains(self):
        self.drain_with(signal.SIGINT)

    def test_stream_in_flight_finishes(self):
        m = self.mock(tokens_per_s=20, output_tokens=10)
        g = simple_gateway(self, m)
        t, out = in_background(g.chat, stream=True)
        m.wait_stats(lambda s: s["inflight"] == 1)
        g.signal(signal.SIGTERM)
        t.join(5)
        status, _, body = out["result"]
        self.assertEqual(status, 200)
        self.assertIn("data: [DONE]", body)
        self.assertEqual(g.proc.wait(5), 0)

    def test_drain_timeout_ends_what_is_left(self):
        m = self.mock(latency_ms=5000)
        g = simple_gateway(self, m, server={"drain_ms": 300})
        t, out = in_background(g.chat)
        m.wait_stats(lambda s: s["inflight"] == 1)
        t0 = time.time()
        g.signal(signal.SIGTERM)
        t.join(5)
        status, _, body = out["result"]
        self.assertEqual(status, 503)
        self.assertEqual(json.loads(body)["error"]["code"], "shutting_down")
        self.assertEqual(g.proc.wait(5), 0)
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual(m.wait_stats(lambda s: s["cancelled"] == 1)["cancelled"], 1)

    def test_idle_connections_do_not_hold_the_exit(self):
        m = self.mock()
        g = simple_gateway(self, m)
        idle = [socket.create_connection(("127.0.0.1", g.port)) for _ in range(5)]
        for s in idle:
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n")
            s.recv(65536)
        t0 = time.time()
        g.signal(signal.SIGTERM)
        self.assertEqual(g.proc.wait(5), 0)
        self.assertLess(time.time() - t0, 1.0)
        for s in idle:
            self.assertEqual(s.recv(10), b"")
            s.close()


class Reload(TestCase):
    def config(self, g, mocks, model_to_mock):
        providers = [openai_provider("p%d" % i, m) for i, m in enumerate(mocks)]
        deployments = [{"name": "d%d" % i, "provider": "p%d" % i, "model": "x"}
                       for i in range(len(mocks))]
        routes = [{"model": model, "deployments": ["d%d" % idx]}
                  for model, idx in model_to_mock.items()]
        return make_config(server={"listen": "127.0.0.1:%d" % g.port,
                                   "admin_listen": "127.0.0.1:%d" % g.admin_port,
                                   "access_log": "-"},
                           providers=providers, deployments=deployments, routes=routes)

    def wait_reload(self, g, n, what="event=reloaded"):
        deadline = time.time() + 5
        while g.stderr().count(what) < n and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(g.stderr().count(what), n)

    def test_reload_adds_a_route(self):
        a, b = self.mock(), self.mock()
        g = simple_gateway(self, a)
        self.assertEqual(g.chat(model="new")[0], 404)
        g.rewrite(self.config(g, [a, b], {"m": 0, "new": 1}))
        g.reload()
        self.wait_reload(g, 1)
        s, h, _ = g.chat(model="new")
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "d1")
        self.assertEqual(g.status()["generation"], 2)
        self.assertEqual(g.metric("tailgate_config_reloads_total", result="ok"), 1)

    def test_bad_config_keeps_the_old_one(self):
        a = self.mock()
        g = simple_gateway(self, a)
        g.rewrite("[server]\nlisten = 12\n")
        g.reload()
        self.wait_reload(g, 1, "event=reload_failed")
        self.assertIn("must be a string", g.stderr())
        self.assertEqual(g.chat()[0], 200)  # still serving, on the old config
        g.rewrite(self.config(g, [a], {"m": 0}) + "[[routes]]\nmodel = \"x\"\ndeployments = [\"nope\"]\n")
        g.reload()
        self.wait_reload(g, 2, "event=reload_failed")
        self.assertEqual(g.chat()[0], 200)
        self.assertEqual(g.metric("tailgate_config_reloads_total", result="error"), 2)

    def test_in_flight_requests_finish_on_their_config(self):
        old, new = self.mock(latency_ms=1000), self.mock()
        g = simple_gateway(self, old)
        t, out = in_background(g.chat)
        old.wait_stats(lambda s: s["inflight"] == 1)
        g.rewrite(self.config(g, [new], {"m": 0}))
        g.reload()
        self.wait_reload(g, 1)
        s, h, _ = g.chat()  # new requests: the new config
        self.assertEqual(s, 200)
        self.assertEqual(new.stats()["requests"], 1)
        t.join(5)
        s, h, _ = out["result"]  # the one in flight: its own config, to the end
        self.assertEqual(s, 200)
        self.assertEqual(old.stats()["completed"], 1)

    def test_reload_changes_limits(self):
        a = self.mock()
        g = simple_gateway(self, a)
        text = self.config(g, [a], {"m": 0}).replace("[server]\n", "[server]\nmax_body_bytes = 50\n")
        g.rewrite(text)
        g.reload()
        self.wait_reload(g, 1)
        self.assertEqual(g.chat(content="x" * 100)[0], 413)


class Workers(TestCase):
    def test_two_workers_share_the_listener(self):
        m = self.mock()
        g = simple_gateway(self, m, server={"workers": 2})
        time.sleep(0.3)
        children = subprocess.run(["pgrep", "-P", str(g.proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        self.assertEqual(len(children), 2)
        for _ in range(20):
            self.assertEqual(g.chat()[0], 200)
        self.assertEqual(g.stderr().count("event=listening"), 2)
        # SIGTERM to the supervisor: every worker drains and the whole exits 0.


if __name__ == "__main__":
    main()

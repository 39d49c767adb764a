"""Operational log lines of the request engine (issue 11): attempt_failed says
why (validation reason; HTTP status with the upstream's error code and
message; stream idle), and a breaker logs going half-open and closing as it
logs opening."""

import json
import socket
import time

from harness import TestCase, main, simple_gateway

JSON_OBJECT = {"response_format": {"type": "json_object"}}


def lines(g, event):
    return [l for l in g.stderr().splitlines() if ("event=" + event) in l or (" " + event + " ") in l]


class EngineLogs(TestCase):
    def wait_lines(self, g, event, n=1, timeout=3.0):
        deadline = time.time() + timeout
        while len(lines(g, event)) < n and time.time() < deadline:
            time.sleep(0.02)
        return lines(g, event)

    def test_attempt_failed_gives_the_reason(self):
        m = self.mock()
        g = simple_gateway(self, m, sections={
            "hedge": {"enabled": False}, "cache": {"mode": "off"},
            "degraded": {"enabled": False},
            "retry": {"max_attempts": 1}})
        m.script([{"content": "plain prose, not JSON"},
                  {"status": 503, "error_code": "overloaded", "error_message": "try later"}])
        s, h, b = g.chat(extra=JSON_OBJECT)
        self.assertEqual(s, 200)
        s, h, b = g.chat()
        self.assertEqual(s, 502)
        got = self.wait_lines(g, "attempt_failed", 2)
        self.assertEqual(len(got), 2, g.stderr())
        self.assertIn("outcome=invalid", got[0])
        self.assertIn("answer failed validation: json", got[0])
        self.assertIn("outcome=server", got[1])
        self.assertIn("status=503", got[1])
        self.assertIn("HTTP 503 overloaded: try later", got[1])
        self.assertNotIn('error=""', g.stderr())

    def test_breaker_logs_half_open_and_closed(self):
        m = self.mock()
        g = simple_gateway(self, m, sections={
            "hedge": {"enabled": False}, "cache": {"mode": "off"},
            "degraded": {"enabled": False},
            "retry": {"max_attempts": 1},
            "breaker": {"failure_threshold": 2, "cooldown_ms": 200}})
        m.script([{"status": 500, "repeat": 2}])
        for _ in range(2):
            self.assertEqual(g.chat()[0], 502)
        self.assertEqual(len(self.wait_lines(g, "breaker_open")), 1)
        self.assertEqual(g.chat()[0], 503)  # open: refused at once
        time.sleep(0.3)
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        half = self.wait_lines(g, "breaker_half_open")
        closed = self.wait_lines(g, "breaker_closed")
        self.assertEqual(len(half), 1, g.stderr())
        self.assertIn("deployment=d1", half[0])
        self.assertEqual(len(closed), 1, g.stderr())
        self.assertIn("deployment=d1", closed[0])

    def test_client_leaving_a_stream_is_logged_as_such(self):
        m = self.mock(tokens_per_s=20, output_tokens=100)
        g = simple_gateway(self, m, sections={"hedge": {"enabled": False}})
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        c = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        got = b""
        while b"data:" not in got:
            got += c.recv(4096)
        c.close()
        cut = self.wait_lines(g, "stream_cut")
        self.assertEqual(len(cut), 1, g.stderr())
        self.assertIn("the client went away", cut[0])
        self.assertNotIn("Failure writing", g.stderr())
        self.assertEqual(m.wait_stats(lambda st: st["inflight"] == 0)["inflight"], 0)

    def test_upstream_cutting_a_stream_is_logged_as_such(self):
        m = self.mock(tokens_per_s=100, output_tokens=30)
        g = simple_gateway(self, m, sections={"hedge": {"enabled": False}})
        m.script([{"reset_after_bytes": 2500}])
        s, h, b = g.chat(stream=True)
        self.assertEqual(s, 200)
        self.assertIn('"error"', b)
        got = self.wait_lines(g, "attempt_failed")
        self.assertEqual(len(got), 1, g.stderr())
        self.assertIn("the upstream cut the stream", got[0])
        self.assertIn("committed=1", got[0])
        self.assertNotIn("Failure writing", g.stderr())


if __name__ == "__main__":
    main()

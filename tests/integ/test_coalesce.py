"""Coalescing against real processes (SPEC section 8, issue 12): with
cache.mode = "on", identical cache-eligible requests in flight at the same
time share one upstream call; streams share one upstream stream, fanned out
to every client, each at its own pace: a client that reads slowly neither
stalls the others nor makes the gateway hold more than the one answer."""

import threading
import time

from harness import TestCase, chat_body, main, open_post, simple_gateway, sse_events


def read_all(s, pause=0.0, chunk=65536):
    out = []
    while True:
        b = s.recv(chunk)
        if not b:
            break
        out.append(b)
        if pause:
            time.sleep(pause)
    s.close()
    return b"".join(out)


def dechunk(raw):
    """(head, body) of a chunked HTTP/1.1 response."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    body = []
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            break
        body.append(rest[:n])
        rest = rest[n + 2:]
    return head.decode(), b"".join(body)


class CoalesceCase(TestCase):
    def start_gateway(self, cache=None, mock=None):
        self.m = self.mock(**(mock or {}))
        cache = dict(cache or {"mode": "on"})
        self.g = simple_gateway(self, self.m, sections={
            "hedge": {"enabled": False}, "cache": cache, "retry": {"max_attempts": 1}})
        return self.g

    def concurrently(self, n, fn):
        results = [None] * n

        def one(i):
            results[i] = fn(i)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in threads:
            t.join()
        return results


class Coalesce(CoalesceCase):
    def test_identical_requests_share_one_upstream_call(self):
        self.start_gateway(mock={"latency_ms": 500})
        body = chat_body("same question")
        res = self.concurrently(5, lambda i: self.g.call("POST", "/v1/chat/completions", body))
        self.assertEqual([r[0] for r in res], [200] * 5)
        self.assertEqual(len({r[2] for r in res}), 1)
        self.assertEqual(sorted(r[1].get("x-tailgate-cache", "") for r in res),
                         ["", "coalesced", "coalesced", "coalesced", "coalesced"])
        self.assertEqual(self.m.stats()["requests"], 1)
        self.assertEqual(self.g.metric("tailgate_cache_total", result="coalesced"), 4)
        self.assertEqual(self.g.status()["coalescing"]["in_flight"], 0)
        # Once answered, the next identical request is a cache hit.
        s, h, _ = self.g.call("POST", "/v1/chat/completions", body)
        self.assertEqual((s, h.get("x-tailgate-cache")), (200, "hit"))
        self.assertEqual(self.m.stats()["requests"], 1)

    def test_different_requests_and_bypass_are_not_coalesced(self):
        self.start_gateway(mock={"latency_ms": 300})
        res = self.concurrently(3, lambda i: self.g.call(
            "POST", "/v1/chat/completions", chat_body("question %d" % i)))
        self.assertEqual([r[0] for r in res], [200] * 3)
        res = self.concurrently(2, lambda i: self.g.call(
            "POST", "/v1/chat/completions", chat_body("bypass"), {"x-tailgate-cache": "no"}))
        self.assertEqual([r[1].get("x-tailgate-cache") for r in res], [None, None])
        self.assertEqual(self.m.stats()["requests"], 5)

    def test_fallback_mode_does_not_coalesce(self):
        self.start_gateway(cache={"mode": "fallback"}, mock={"latency_ms": 300})
        res = self.concurrently(3, lambda i: self.g.call("POST", "/v1/chat/completions",
                                                         chat_body("same")))
        self.assertEqual([r[0] for r in res], [200] * 3)
        self.assertEqual(self.m.stats()["requests"], 3)

    def test_an_error_is_shared_too(self):
        self.start_gateway(mock={"latency_ms": 300})
        self.m.script([{"status": 400, "error_code": "invalid_value", "delay_ms": 300}])
        res = self.concurrently(3, lambda i: self.g.call("POST", "/v1/chat/completions",
                                                         chat_body("bad")))
        self.assertEqual([r[0] for r in res], [400] * 3)
        self.assertEqual(self.m.stats()["requests"], 1)

    def test_followers_are_answered_when_the_first_client_leaves(self):
        self.start_gateway(mock={"latency_ms": 600})
        body = chat_body("leader leaves")
        leader = open_post(self.g.port, body)
        self.m.wait_stats(lambda s: s["requests"] >= 1)
        res = {}
        t = threading.Thread(target=lambda: res.update(
            r=self.g.call("POST", "/v1/chat/completions", body)))
        t.start()
        time.sleep(0.1)
        leader.close()
        t.join()
        self.assertEqual(res["r"][0], 200, res["r"][2])
        self.assertEqual(res["r"][1].get("x-tailgate-cache"), "coalesced")
        self.assertEqual(self.m.stats()["requests"], 1)

    def test_everyone_leaving_cancels_the_upstream_call(self):
        self.start_gateway(mock={"latency_ms": 3000})
        body = chat_body("all leave")
        a = open_post(self.g.port, body)
        self.m.wait_stats(lambda s: s["requests"] >= 1)
        b = open_post(self.g.port, body)
        time.sleep(0.2)
        a.close()
        b.close()
        s = self.m.wait_stats(lambda s: s["inflight"] == 0, timeout=3)
        self.assertEqual(s["inflight"], 0)
        self.assertEqual(s["requests"], 1)


class Streams(CoalesceCase):
    def test_streams_share_one_upstream_stream(self):
        self.start_gateway(mock={"output_tokens": 30, "tokens_per_s": 60})
        body = chat_body("stream together", stream=True)
        res = self.concurrently(4, lambda i: self.g.call("POST", "/v1/chat/completions", body))
        self.assertEqual([r[0] for r in res], [200] * 4)
        self.assertEqual(len({r[2] for r in res}), 1)
        self.assertEqual(sse_events(res[0][2])[-1], "[DONE]")
        self.assertEqual(sum(1 for r in res if r[1].get("x-tailgate-cache") == "coalesced"), 3)
        self.assertEqual(self.m.stats()["requests"], 1)

    def test_a_slow_reader_does_not_stall_the_others(self):
        # About 700 KB of events over about two seconds (under the 1 MiB a
        # shared answer keeps, so the slow client is not cut off).
        self.start_gateway(mock={"output_tokens": 6000, "tokens_per_s": 3000})
        body = chat_body("a long one", stream=True)
        t0 = time.time()
        slow = open_post(self.g.port, body, rcvbuf=4096)
        fast = open_post(self.g.port, body)
        fast_raw = read_all(fast)
        fast_s = time.time() - t0
        head, fast_body = dechunk(fast_raw)
        self.assertIn("200", head.splitlines()[0])
        self.assertEqual(sse_events(fast_body.decode())[-1], "[DONE]")
        self.assertGreater(len(fast_body), 500000)
        # The slow client has read nothing yet; the fast one is done.
        slow.setblocking(False)
        try:
            early = slow.recv(1 << 20)
        except BlockingIOError:
            early = b""
        self.assertLess(len(early), len(fast_body) // 2)
        slow.setblocking(True)
        slow_raw = early + read_all(slow, pause=0.001, chunk=16384)
        _, slow_body = dechunk(slow_raw)
        self.assertEqual(slow_body, fast_body)
        self.assertEqual(self.m.stats()["requests"], 1)
        self.assertLess(fast_s, 20)

    def test_a_reader_too_far_behind_is_cut_off_not_buffered_for(self):
        # About 10 MB of events over 4 s: past what the kernel buffers for a
        # client that reads nothing (a few MB on loopback), then past what a
        # shared answer keeps (1 MiB) behind its fastest reader.
        self.start_gateway(mock={"output_tokens": 40000, "tokens_per_s": 10000})
        body = chat_body("longer than the tape", stream=True)
        # Both are sent at once, so the second joins while the whole answer is
        # still there to join (waiting for the first to reach the mock could,
        # on a loaded machine, let the first 1 MiB go by); either may lead.
        fast = open_post(self.g.port, body)
        stalled = open_post(self.g.port, body, rcvbuf=4096)
        _, fast_body = dechunk(read_all(fast))
        self.assertGreater(len(fast_body), 8 * 1024 * 1024)
        self.assertEqual(sse_events(fast_body.decode())[-1], "[DONE]")
        # The stalled client was reset once it fell that far behind: what it
        # can still read ends without the stream's last chunk.
        got = b""
        try:
            got = read_all(stalled)
        except ConnectionResetError:
            pass
        self.assertFalse(b"data: [DONE]" in got, "the stalled client got the whole stream")
        self.assertFalse(got.endswith(b"0\r\n\r\n"))
        self.assertEqual(self.m.stats()["requests"], 1)
        lines = self.g.wait_log(lambda l: l.get("term") == "stream_broken", timeout=3)
        self.assertTrue(lines, [(l["request_id"], l["term"]) for l in self.g.access_log()])


if __name__ == "__main__":
    main()

"""timeouts.stream_idle_ms (issue 11, SPEC sections 2 and 4): once a stream
has passed its commit point, an upstream that sends nothing for that long
ends the stream with the in-band error (chat: `data: {"error": ...}` then
`data: [DONE]`) instead of holding the client until the request deadline;
a slow but steady stream, longer than stream_idle_ms in total, is not cut."""

import json
import time

from harness import TestCase, main, simple_gateway, sse_events

IDLE_MS = 600


class StreamIdle(TestCase):
    def setup(self, **mock_opts):
        self.m = self.mock(**mock_opts)
        self.g = simple_gateway(self, self.m, sections={
            "timeouts": {"stream_idle_ms": IDLE_MS, "request_ms": 20000},
            "hedge": {"enabled": False}, "cache": {"mode": "off"}})

    def stream(self):
        t0 = time.time()
        s, h, b = self.g.chat(stream=True, timeout=40)
        return s, h, sse_events(b), time.time() - t0

    def test_stall_after_commit_ends_with_error_within_idle(self):
        self.setup(tokens_per_s=100, output_tokens=20)
        self.m.script([{"hang_after_chunks": 3}])
        s, h, events, elapsed = self.stream()
        self.assertEqual(s, 200)
        self.assertEqual(events[-1], "[DONE]")
        err = json.loads(events[-2])["error"]
        self.assertEqual(err["code"], "upstream_stream_idle")
        content = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[:-2]]
        self.assertEqual(len([c for c in content if c]), 3)  # what came before the stall
        # within ~stream_idle_ms of the last chunk, not at the 20 s deadline
        self.assertGreaterEqual(elapsed, IDLE_MS / 1000.0)
        self.assertLess(elapsed, IDLE_MS / 1000.0 + 2.0)
        log = self.g.wait_log(lambda l: l.get("stream"))[0]
        self.assertEqual(log["status"], 200)
        self.assertEqual(log["term"], "stream_broken")
        # the upstream connection was given up
        self.assertEqual(self.m.wait_stats(lambda st: st["inflight"] == 0)["inflight"], 0)
        self.assertIn("stream idle", self.g.stderr())

    def test_slow_steady_stream_longer_than_idle_is_not_cut(self):
        # a chunk every 250 ms for ~2.5 s: each gap under the 600 ms limit
        self.setup(tokens_per_s=4, output_tokens=10)
        s, h, events, elapsed = self.stream()
        self.assertEqual(s, 200)
        self.assertEqual(events[-1], "[DONE]")
        self.assertFalse(any('"error"' in e for e in events), events)
        self.assertGreater(elapsed, 2 * IDLE_MS / 1000.0)
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                       for e in events[:-1] if json.loads(e)["choices"])
        self.assertTrue(text)


if __name__ == "__main__":
    main()

"""Idempotency-Key against real processes (SPEC sections 3 and 8, issue 12):
a second request with a key gets the first one's answer without a second
upstream call, replayed with x-tailgate-idempotent-replay: 1 (a stream: every
byte so far, then live); the same key with another body is 422
idempotency_key_reused; answers of 500 or more (and 429s) are not kept; keys
are scoped per auth key; kept answers expire after ttl_s and fit max_bytes;
a request whose client left is still answered for its retry."""

import json
import threading
import time

from harness import TestCase, chat_body, main, open_post, simple_gateway, sse_events

KEY_A, KEY_B = "sk-idem-team-a-0123456789", "sk-idem-team-b-9876543210"


class IdemCase(TestCase):
    def start_gateway(self, idempotency=None, keys=None, mock=None, retry=None, env=None):
        self.m = self.mock(**(mock or {}))
        sections = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
                    "retry": retry or {"max_attempts": 1}}
        if idempotency:
            sections["idempotency"] = idempotency
        if keys:
            sections["auth"] = {"keys": keys}
        self.g = simple_gateway(self, self.m, sections=sections, env=env)
        return self.g

    def post(self, body, key=None, auth=None, timeout=30):
        h = {}
        if key is not None:
            h["Idempotency-Key"] = key
        if auth:
            h["Authorization"] = "Bearer " + auth
        return self.g.call("POST", "/v1/chat/completions", body, h, timeout)

    def upstream(self):
        return self.m.stats()["requests"]


class Replay(IdemCase):
    def setUp(self):
        super().setUp()
        self.start_gateway()

    def test_second_request_is_the_stored_answer(self):
        s1, h1, b1 = self.post(chat_body("first"), key="order-1")
        self.assertEqual(s1, 200, b1)
        self.assertNotIn("x-tailgate-idempotent-replay", h1)
        s2, h2, b2 = self.post(chat_body("first"), key="order-1")
        self.assertEqual(s2, 200, b2)
        self.assertEqual(b2, b1)
        self.assertEqual(h2.get("x-tailgate-idempotent-replay"), "1")
        self.assertNotEqual(h2["x-request-id"], h1["x-request-id"])
        self.assertEqual(h2["x-tailgate-deployment"], h1["x-tailgate-deployment"])
        self.assertEqual(self.upstream(), 1)
        idem = self.g.status()["idempotency"]
        self.assertEqual((idem["kept"], idem["in_flight"]), (1, 0))
        self.assertGreater(idem["bytes"], len(b1))
        # Without a key, or with another one, the request goes upstream.
        self.assertEqual(self.post(chat_body("first"))[0], 200)
        self.assertEqual(self.post(chat_body("first"), key="order-2")[0], 200)
        self.assertEqual(self.upstream(), 3)

    def test_same_key_other_body_is_422(self):
        self.assertEqual(self.post(chat_body("one"), key="k-reuse")[0], 200)
        s, h, b = self.post(chat_body("two"), key="k-reuse")
        self.assertEqual(s, 422, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "idempotency_key_reused")
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assertEqual(self.upstream(), 1)
        # The original is still there for its own retries.
        s, h, _ = self.post(chat_body("one"), key="k-reuse")
        self.assertEqual((s, h.get("x-tailgate-idempotent-replay")), (200, "1"))

    def test_same_body_other_endpoint_is_422(self):
        body = json.dumps({"model": "m", "prompt": "hi"})
        self.assertEqual(self.g.call("POST", "/v1/completions", body,
                                     {"Idempotency-Key": "k-path"})[0], 200)
        s, _, b = self.g.call("POST", "/v1/embeddings", json.dumps({"model": "m", "input": "hi"}),
                              {"Idempotency-Key": "k-path"})
        self.assertEqual(s, 422, b)

    def test_bad_key_is_400(self):
        for bad in ["x" * 256, "has space", "tab\there"]:
            s, _, b = self.post(chat_body(), key=bad)
            self.assertEqual(s, 400, (bad, b))
            self.assertIn("Idempotency-Key", json.loads(b)["error"]["message"])
        self.assertEqual(self.upstream(), 0)

    def test_stream_replay_is_byte_identical(self):
        s1, h1, b1 = self.post(chat_body("tell me", stream=True), key="s-1")
        self.assertEqual(s1, 200, b1)
        s2, h2, b2 = self.post(chat_body("tell me", stream=True), key="s-1")
        self.assertEqual(s2, 200)
        self.assertEqual(h2["content-type"], "text/event-stream")
        self.assertEqual(h2.get("x-tailgate-idempotent-replay"), "1")
        self.assertEqual(b2, b1)
        self.assertEqual(sse_events(b2)[-1], "[DONE]")
        self.assertEqual(self.upstream(), 1)


class NotKept(IdemCase):
    def test_5xx_is_not_kept_so_the_retry_succeeds(self):
        self.start_gateway()
        self.m.script([{"status": 503}])
        s, _, b = self.post(chat_body("flaky"), key="k-5xx")
        self.assertGreaterEqual(s, 500, b)
        s, h, b = self.post(chat_body("flaky"), key="k-5xx")
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-tailgate-idempotent-replay", h)
        self.assertEqual(self.upstream(), 2)
        s, h, _ = self.post(chat_body("flaky"), key="k-5xx")
        self.assertEqual((s, h.get("x-tailgate-idempotent-replay")), (200, "1"))
        self.assertEqual(self.upstream(), 2)

    def test_4xx_from_the_provider_is_kept(self):
        self.start_gateway()
        self.m.script([{"status": 400, "error_code": "invalid_value"}])
        s1, _, b1 = self.post(chat_body("bad"), key="k-4xx")
        self.assertEqual(s1, 400, b1)
        s2, h2, b2 = self.post(chat_body("bad"), key="k-4xx")
        self.assertEqual((s2, b2, h2.get("x-tailgate-idempotent-replay")), (400, b1, "1"))
        self.assertEqual(self.upstream(), 1)

    def test_rate_limited_is_not_kept(self):
        self.start_gateway(keys=[{"name": "a", "key_env": "TG_IDEM_A", "rpm": 1}],
                           env={"TG_IDEM_A": KEY_A})
        self.assertEqual(self.post(chat_body("x"), key="k-first", auth=KEY_A)[0], 200)
        s, _, b = self.post(chat_body("y"), key="k-429", auth=KEY_A)
        self.assertEqual(s, 429, b)
        # Still refused for rpm, but as a fresh decision, not a replay.
        s, h, _ = self.post(chat_body("y"), key="k-429", auth=KEY_A)
        self.assertEqual(s, 429)
        self.assertNotIn("x-tailgate-idempotent-replay", h)

    def test_ttl_expires(self):
        self.start_gateway(idempotency={"ttl_s": 1})
        self.assertEqual(self.post(chat_body("t"), key="k-ttl")[0], 200)
        _, h, _ = self.post(chat_body("t"), key="k-ttl")
        self.assertEqual(h.get("x-tailgate-idempotent-replay"), "1")
        time.sleep(1.2)
        _, h, _ = self.post(chat_body("t"), key="k-ttl")
        self.assertNotIn("x-tailgate-idempotent-replay", h)
        self.assertEqual(self.upstream(), 2)

    def test_max_bytes_bounds_what_is_kept(self):
        self.start_gateway(idempotency={"max_bytes": 6000})
        for i in range(8):
            self.assertEqual(self.post(chat_body("n%d" % i), key="k-%d" % i)[0], 200)
        # The newest is kept, the oldest went first.
        _, h, _ = self.post(chat_body("n7"), key="k-7")
        self.assertEqual(h.get("x-tailgate-idempotent-replay"), "1")
        _, h, _ = self.post(chat_body("n0"), key="k-0")
        self.assertNotIn("x-tailgate-idempotent-replay", h)


class Scoped(IdemCase):
    def test_keys_are_per_auth_key(self):
        self.m = self.mock()
        keys = [{"name": "a", "key_env": "TG_IDEM_A"}, {"name": "b", "key_env": "TG_IDEM_B"}]
        self.g = simple_gateway(self, self.m, env={"TG_IDEM_A": KEY_A, "TG_IDEM_B": KEY_B},
                                sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                                          "auth": {"keys": keys}})
        body = chat_body("shared words")
        s1, h1, _ = self.post(body, key="same", auth=KEY_A)
        s2, h2, _ = self.post(body, key="same", auth=KEY_B)
        self.assertEqual((s1, s2), (200, 200))
        self.assertNotIn("x-tailgate-idempotent-replay", h2)
        self.assertEqual(self.m.stats()["requests"], 2)
        _, h3, _ = self.post(body, key="same", auth=KEY_A)
        self.assertEqual(h3.get("x-tailgate-idempotent-replay"), "1")
        # Another team with a different body under the same key: its own.
        s4, _, _ = self.post(chat_body("other"), key="same", auth=KEY_B)
        self.assertEqual(s4, 422)


class InFlight(IdemCase):
    def test_ten_clients_share_one_key(self):
        self.start_gateway(mock={"latency_ms": 400})
        results = [None] * 10

        def one(i):
            results[i] = self.post(chat_body("together"), key="k-ten")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
            time.sleep(0.01)
        for t in threads:
            t.join()
        bodies = {r[2] for r in results}
        self.assertEqual([r[0] for r in results], [200] * 10)
        self.assertEqual(len(bodies), 1)
        replays = sum(1 for r in results if r[1].get("x-tailgate-idempotent-replay") == "1")
        self.assertEqual(replays, 9)
        self.assertEqual(self.upstream(), 1)
        ids = {r[1]["x-request-id"] for r in results}
        self.assertEqual(len(ids), 10)

    def test_waiter_on_a_stream_gets_every_byte_so_far_then_live(self):
        self.start_gateway(mock={"output_tokens": 40, "tokens_per_s": 40})
        body = chat_body("stream it", stream=True)
        first = {}

        def leader():
            first["r"] = self.post(body, key="k-stream")

        t = threading.Thread(target=leader)
        t.start()
        self.m.wait_stats(lambda s: s["requests"] >= 1)
        time.sleep(0.4)  # well into the one-second stream
        s, h, b = self.post(body, key="k-stream")
        t.join()
        s1, _, b1 = first["r"]
        self.assertEqual((s1, s), (200, 200))
        self.assertEqual(h.get("x-tailgate-idempotent-replay"), "1")
        self.assertEqual(b, b1)
        self.assertGreater(len(sse_events(b)), 30)
        self.assertEqual(self.upstream(), 1)

    def test_client_that_left_is_answered_for_its_retry(self):
        self.start_gateway(mock={"latency_ms": 600})
        body = chat_body("slow one")
        sock = open_post(self.g.port, body, headers={"Idempotency-Key": "k-gone"})
        self.m.wait_stats(lambda s: s["requests"] >= 1)
        sock.close()  # the client times out and goes away
        time.sleep(0.1)
        s, h, b = self.post(body, key="k-gone")
        self.assertEqual(s, 200, b)
        self.assertEqual(h.get("x-tailgate-idempotent-replay"), "1")
        self.assertEqual(self.upstream(), 1)
        lines = self.g.wait_log(lambda l: l.get("status") == 200 and l.get("deployment"),
                                timeout=3)
        self.assertTrue(lines)

    def test_without_a_key_a_leaving_client_still_cancels(self):
        self.start_gateway(mock={"latency_ms": 2000})
        sock = open_post(self.g.port, chat_body("cancel me"))
        self.m.wait_stats(lambda s: s["requests"] >= 1)
        sock.close()
        s = self.m.wait_stats(lambda s: s["inflight"] == 0, timeout=3)
        self.assertEqual(s["inflight"], 0)


if __name__ == "__main__":
    main()

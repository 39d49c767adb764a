"""[shared] against a real redis-server (SPEC section 8, issue 15): two
gateways on one Redis share a key's rpm and the spend caps; concurrent
requests through both never pass a cap; Redis killed mid-traffic fails no
request (each instance decides on its own state, says so once in its log, in
/status and in tailgate_shared_errors_total) and sharing resumes without a
restart when Redis is back, with what was decided locally meanwhile never
added to Redis; a Redis too slow for timeout_ms counts as down; a wrong
password is refused at the handshake; a crashed instance's reservation
lapses after its request's deadline instead of holding the cap; an
Idempotency-Key's answer kept by one instance is replayed by the other, and
a retry that lands on another instance while the first is in flight waits
for it; a cached answer stored by one instance is a hit (mode "on") or a
stale fallback (mode "fallback") on the other, within max_bytes."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import TestCase, free_port, main, make_config, openai_provider, wait_port

KEY = "sk-shared-team-0001"
PRICES = (5.0, 2.5, 15.0)  # USD per million tokens: input, cached input, output


def bearer():
    return {"Authorization": "Bearer " + KEY}


class Redis:
    """redis-server on a free port, nothing saved to disk; restartable on
    the same port."""

    def __init__(self, password=None):
        self.port = free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="tg-redis-")
        self.proc = None
        self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--enable-debug-command", "local"]  # DEBUG SLEEP: a slow Redis
        if self.password:
            args += ["--requirepass", self.password]
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        cmd = ["redis-cli", "-p", str(self.port)]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        return subprocess.run(cmd + list(args), capture_output=True, text=True,
                              timeout=10).stdout.strip()

    def url(self):
        return "redis://127.0.0.1:%d" % self.port


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def chat_body(model, max_tokens, content="hello"):
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}],
                       "max_tokens": max_tokens})


def worst(model, max_tokens):
    """SPEC section 8's worst case: body bytes / 4 at input, max_tokens at output."""
    prompt = len(chat_body(model, max_tokens).encode()) // 4
    return (prompt * PRICES[0] + max_tokens * PRICES[2]) / 1e6


class Shared(TestCase):
    def setUp(self):
        super().setUp()
        self.redis = Redis()
        self.addCleanup(self.redis.stop)

    def start_gateways(self, n=2, key_extra=None, shared_extra=None, budget=None,
                       mock=None, timeouts=None, redis=None, retry=None, cache=None,
                       server=None, sections_extra=None):
        self.m = mock or self.mock()
        key = {"name": "team", "key_sha256": hashlib.sha256(KEY.encode()).hexdigest()}
        key.update(key_extra or {})
        shared = {"redis_url": (redis or self.redis).url(), "timeout_ms": 200}
        shared.update(shared_extra or {})
        sections = {"hedge": {"enabled": False}, "cache": cache or {"mode": "off"},
                    "auth": {"keys": [key]}, "shared": shared}
        if budget:
            sections["budget"] = budget
        if timeouts:
            sections["timeouts"] = timeouts
        if retry:
            sections["retry"] = retry
        sections.update(sections_extra or {})
        deployment = {"name": "d", "provider": "up", "model": "up-m",
                      "input_usd_per_mtok": PRICES[0], "cached_input_usd_per_mtok": PRICES[1],
                      "output_usd_per_mtok": PRICES[2]}
        gws = [self.gateway(server=server, sections=sections,
                            providers=[openai_provider("up", self.m)],
                            deployments=[deployment],
                            routes=[{"model": "m", "deployments": ["d"]}],
                            env={"TG_REDIS_PW": "pw-test"})
               for _ in range(n)]
        for g in gws:
            wait_for(lambda: g.status()["shared"] in ("up", "down"), what="status")
        return gws

    def both(self, **kw):
        """Two gateways on the same Redis, once both are connected."""
        g1, g2 = self.start_gateways(**kw)
        self.wait_up(g1)
        self.wait_up(g2)
        return g1, g2

    def upstream(self):
        return self.m.stats()["requests"]

    def wait_up(self, g, timeout=10.0):
        wait_for(lambda: g.status()["shared"] == "up", timeout, "shared up")

    def chat(self, g, max_tokens=None):
        extra = {"max_tokens": max_tokens} if max_tokens else None
        return g.chat(model="m", headers=bearer(), extra=extra)


class Off(TestCase):
    def test_without_shared_status_says_off_and_no_up_gauge(self):
        m = self.mock()
        g = self.gateway(providers=[openai_provider("up", m)],
                         deployments=[{"name": "d", "provider": "up", "model": "x"}],
                         routes=[{"model": "m", "deployments": ["d"]}])
        self.assertEqual(g.status()["shared"], "off")
        self.assertNotIn("tailgate_shared_up", g.metrics())  # a 0 would read as "down"
        self.assertEqual(g.chat()[0], 200)


class Limits(Shared):
    def test_two_instances_share_one_rpm(self):
        g1, g2 = self.both(key_extra={"rpm": 6})
        for g in (g1, g2, g1, g2, g1, g2):
            s, h, b = self.chat(g)
            self.assertEqual(s, 200, b)
        for g in (g1, g2):
            s, h, b = self.chat(g)
            self.assertEqual(s, 429, b)
            self.assertEqual(json.loads(b)["error"]["code"], "rate_limited")
            self.assertEqual(h.get("x-ratelimit-limit-requests"), "6")
            self.assertEqual(h.get("x-ratelimit-remaining-requests"), "0")
            self.assertGreaterEqual(int(h["retry-after"]), 1)
        # Redis has the six (the minute's sum, "t", and its seconds).
        self.assertEqual(self.redis.cli("HGET", "tailgate:m:rpm:team", "t"), "6")
        fields = self.redis.cli("HGETALL", "tailgate:m:rpm:team").split()
        self.assertEqual(sum(int(v) for k, v in zip(fields[::2], fields[1::2])
                             if k.isdigit()), 6)
        self.assertEqual(len([r for r in self.m.stats()["recent"]
                              if r["path"] == "/v1/chat/completions"]), 6)

    def test_concurrent_requests_through_both_never_pass_the_rpm(self):
        g1, g2 = self.both(key_extra={"rpm": 10})
        codes = []
        lock = threading.Lock()

        def one(g):
            s, _, _ = self.chat(g)
            with lock:
                codes.append(s)

        threads = [threading.Thread(target=one, args=(g,)) for g in (g1, g2) * 15]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(codes.count(200), 10, codes)
        self.assertEqual(codes.count(429), 20, codes)

    def test_spend_cap_shared_and_never_overshot_by_a_race(self):
        # Room for exactly three worst cases in the hour, across both instances.
        w = worst("m", 100)
        g1, g2 = self.both(key_extra={"usd_per_hour": w * 3.5})
        codes = []
        lock = threading.Lock()

        def one(g):
            s, _, b = self.chat(g, max_tokens=100)
            with lock:
                codes.append((s, json.loads(b).get("error", {}).get("code")))

        threads = [threading.Thread(target=one, args=(g,)) for g in (g1, g2) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        admitted = [c for c in codes if c[0] == 200]
        # Reservations are the worst case: at most three fit at once; the mock's
        # answers cost less, so a later one may fit once they settle.
        self.assertGreaterEqual(len(admitted), 3, codes)
        self.assertTrue(all(c == (429, "budget_exceeded") for c in codes if c[0] != 200), codes)
        # What Redis holds once all settled is their actual cost, no reservation left.
        hour = int(time.time() * 1000) // 3600000
        spent = self.redis.cli("HGET", "tailgate:h:spend:team:%d" % hour, "spent")
        reserved = self.redis.cli("HGET", "tailgate:h:spend:team:%d" % hour, "reserved")
        self.assertGreater(int(spent), 0)
        self.assertEqual(int(reserved or 0), 0)
        self.assertEqual(self.redis.cli("ZCARD", "tailgate:r:spend:team:%d" % hour), "0")
        self.assertLessEqual(int(spent), int(w * 3.5 * 1e9) + int(w * 1e9))


class Outage(Shared):
    def test_redis_killed_mid_traffic_fails_nothing_and_sharing_resumes(self):
        g1, g2 = self.start_gateways(key_extra={"rpm": 1000})
        self.wait_up(g1)
        for _ in range(3):
            self.assertEqual(self.chat(g1)[0], 200)
        self.redis.kill()
        for _ in range(10):
            s, _, b = self.chat(g1)
            self.assertEqual(s, 200, b)
            s, _, b = self.chat(g2)
            self.assertEqual(s, 200, b)
        self.assertEqual(g1.status()["shared"], "down")
        self.assertGreaterEqual(g1.metric("tailgate_shared_errors_total"), 1)
        self.assertEqual(g1.metric("tailgate_shared_up"), 0)
        downs = [l for l in g1.stderr().splitlines() if "event=shared_down" in l]
        self.assertEqual(len(downs), 1, downs)  # one line per change, not per retry
        self.redis.start()
        self.wait_up(g1)
        self.wait_up(g2)
        self.assertEqual(g1.metric("tailgate_shared_up"), 1)
        self.assertIn("event=shared_up", g1.stderr())
        for _ in range(2):
            self.assertEqual(self.chat(g1)[0], 200)
        # Only what was admitted through Redis since it came back is in it: the
        # twenty decided locally meanwhile were never added.
        self.assertEqual(self.redis.cli("HGET", "tailgate:m:rpm:team", "t"), "2")

    def test_redis_killed_and_restarted_under_concurrent_load(self):
        g1, g2 = self.both(key_extra={"rpm": 100000, "usd_per_hour": 1000.0})
        codes, stop = [], threading.Event()
        lock = threading.Lock()

        def load(g):
            while not stop.is_set():
                s, _, _ = self.chat(g, max_tokens=16)
                with lock:
                    codes.append(s)

        threads = [threading.Thread(target=load, args=(g,)) for g in (g1, g2, g1, g2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        self.redis.kill()
        time.sleep(0.7)
        self.redis.start()
        self.wait_up(g1)
        self.wait_up(g2)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(codes), 40)
        self.assertEqual(set(codes), {200}, codes)
        # Sharing resumed: what was admitted since is in Redis again.
        self.assertGreater(int(self.redis.cli("HGET", "tailgate:m:rpm:team", "t") or 0), 0)

    def test_stopping_while_a_request_waits_for_a_slow_redis(self):
        # drain_ms ends the request waiting for its admission; the process
        # exits once Redis answers or the call times out (it once spun).
        g1, = self.start_gateways(n=1, key_extra={"rpm": 1000},
                                  shared_extra={"timeout_ms": 2000},
                                  server={"drain_ms": 200, "access_log": "-"})
        self.wait_up(g1)
        sleeper = threading.Thread(target=self.redis.cli, args=("DEBUG", "SLEEP", "1.5"))
        sleeper.start()
        time.sleep(0.2)
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("r", self.chat(g1)))
        t.start()
        time.sleep(0.3)
        g1.signal(signal.SIGTERM)  # its drain ends before Redis answers
        code = g1.stop(timeout=10)
        t.join()
        sleeper.join()
        self.assertEqual(code, 0)
        self.assertIn(got["r"][0], (200, 503))

    def test_spend_made_while_redis_was_away_is_added_when_it_is_back(self):
        g1, = self.start_gateways(n=1, key_extra={"usd_per_hour": 100.0})
        self.wait_up(g1)
        self.redis.kill()
        for _ in range(4):
            self.assertEqual(self.chat(g1, max_tokens=50)[0], 200)
        self.redis.start()
        self.wait_up(g1)
        self.assertEqual(self.chat(g1, max_tokens=50)[0], 200)
        hour = int(time.time() * 1000) // 3600000
        wait_for(lambda: int(self.redis.cli("HGET", "tailgate:h:spend:team:%d" % hour, "spent")
                             or 0) > 0, what="spend in Redis")
        time.sleep(0.3)
        spent = int(self.redis.cli("HGET", "tailgate:h:spend:team:%d" % hour, "spent"))
        # Five requests of the same cost: the four made during the outage count too.
        local = g1.status()["keys"]["team"]["spend_usd_this_hour"]
        self.assertAlmostEqual(spent / 1e9, local, places=6)

    def test_a_slow_redis_counts_as_down_then_comes_back(self):
        g1, = self.start_gateways(n=1, key_extra={"rpm": 1000}, shared_extra={"timeout_ms": 50})
        self.wait_up(g1)
        self.assertEqual(self.chat(g1)[0], 200)
        sleeper = threading.Thread(target=self.redis.cli, args=("DEBUG", "SLEEP", "1.5"))
        sleeper.start()
        time.sleep(0.2)
        t0 = time.time()
        s, _, b = self.chat(g1)
        waited = time.time() - t0
        self.assertEqual(s, 200, b)
        self.assertLess(waited, 1.0)  # decided locally after timeout_ms, not after the sleep
        self.assertEqual(g1.status()["shared"], "down")
        self.assertGreaterEqual(g1.metric("tailgate_shared_errors_total", reason="timeout"), 1)
        for _ in range(5):
            self.assertEqual(self.chat(g1)[0], 200)
        sleeper.join()
        self.wait_up(g1)
        self.assertEqual(self.chat(g1)[0], 200)

    def test_a_wrong_password_is_refused_at_the_handshake(self):
        locked = Redis(password="the-right-one")
        self.addCleanup(locked.stop)
        g1, = self.start_gateways(n=1, key_extra={"rpm": 1000}, redis=locked,
                                  shared_extra={"password_env": "TG_REDIS_PW"})
        wait_for(lambda: "event=shared_down" in g1.stderr(), what="shared_down")
        self.assertIn("handshake was refused", g1.stderr())
        self.assertEqual(g1.status()["shared"], "down")
        self.assertEqual(self.chat(g1)[0], 200)  # served on local state

    def test_the_right_password_and_a_db(self):
        locked = Redis(password="pw-test")
        self.addCleanup(locked.stop)
        g1, = self.start_gateways(n=1, key_extra={"rpm": 1000}, redis=locked,
                                  shared_extra={"password_env": "TG_REDIS_PW",
                                                "redis_url": locked.url() + "/3"})
        self.wait_up(g1)
        self.assertEqual(self.chat(g1)[0], 200)
        self.assertEqual(locked.cli("-n", "3", "HGET", "tailgate:m:rpm:team", "t"), "1")
        self.assertEqual(locked.cli("-n", "0", "DBSIZE"), "0")

    def test_a_crashed_instance_reservation_lapses_after_its_deadline(self):
        slow = self.mock(latency_ms=20000)
        w = worst("m", 100)
        g1, g2 = self.both(key_extra={"usd_per_hour": w * 1.5}, mock=slow,
                                     timeouts={"request_ms": 1000, "connect_ms": 500})
        def hang():
            try:
                self.chat(g1, max_tokens=100)
            except OSError:
                pass  # its gateway is killed under it

        hung = threading.Thread(target=hang)
        hung.start()
        hour = int(time.time() * 1000) // 3600000
        wait_for(lambda: self.redis.cli("ZCARD", "tailgate:r:spend:team:%d" % hour) == "1",
                 what="the reservation")
        g1.proc.kill()  # no settlement will ever come from it
        g1.proc.wait()
        g1.stopped = True
        hung.join()
        s, _, b = self.chat(g2, max_tokens=100)
        self.assertEqual((s, json.loads(b)["error"]["code"]), (429, "budget_exceeded"), b)
        # Its request's deadline (1 s) plus the grace (10 s): then it stops counting.
        wait_for(lambda: self.chat(g2, max_tokens=100)[0] != 429, timeout=20,
                 what="the reservation to lapse")
        self.assertEqual(self.redis.cli("ZCARD", "tailgate:r:spend:team:%d" % hour), "0")


class Idempotency(Shared):
    """The Idempotency-Key across instances: one upstream call, wherever the
    retry lands."""

    def post(self, g, body, key, timeout=30):
        h = bearer()
        h["Idempotency-Key"] = key
        return g.call("POST", "/v1/chat/completions", body, h, timeout)

    def body(self, content, stream=False):
        b = {"model": "m", "messages": [{"role": "user", "content": content}]}
        if stream:
            b["stream"] = True
        return json.dumps(b)

    def test_an_answer_kept_by_one_instance_is_replayed_by_the_other(self):
        g1, g2 = self.both()
        s1, h1, b1 = self.post(g1, self.body("order"), "order-1")
        self.assertEqual(s1, 200, b1)
        self.assertNotIn("x-tailgate-idempotent-replay", h1)
        s2, h2, b2 = self.post(g2, self.body("order"), "order-1")
        self.assertEqual(s2, 200, b2)
        self.assertEqual(b2, b1)
        self.assertEqual(h2.get("x-tailgate-idempotent-replay"), "1")
        self.assertNotEqual(h2["x-request-id"], h1["x-request-id"])
        self.assertEqual(self.upstream(), 1)
        # g2 now keeps it too: a third try there needs no round trip to the provider.
        s3, h3, b3 = self.post(g2, self.body("order"), "order-1")
        self.assertEqual((s3, b3, h3.get("x-tailgate-idempotent-replay")), (200, b1, "1"))
        self.assertEqual(self.upstream(), 1)

    def test_a_stream_replayed_elsewhere_is_byte_identical(self):
        g1, g2 = self.both()
        s1, h1, b1 = self.post(g1, self.body("tell me", stream=True), "s-1")
        self.assertEqual(s1, 200, b1)
        s2, h2, b2 = self.post(g2, self.body("tell me", stream=True), "s-1")
        self.assertEqual(s2, 200)
        self.assertEqual(h2["content-type"], "text/event-stream")
        self.assertEqual(h2.get("x-tailgate-idempotent-replay"), "1")
        self.assertEqual(b2, b1)
        self.assertEqual(self.upstream(), 1)

    def test_a_retry_on_another_instance_waits_for_the_one_in_flight(self):
        slow = self.mock(latency_ms=800)
        g1, g2 = self.both(mock=slow)
        first = {}

        def send():
            first["resp"] = self.post(g1, self.body("slow"), "k-wait")

        t = threading.Thread(target=send)
        t.start()
        wait_for(lambda: slow.stats()["requests"] == 1, what="the first request upstream")
        s2, h2, b2 = self.post(g2, self.body("slow"), "k-wait")
        t.join()
        s1, _, b1 = first["resp"]
        self.assertEqual((s1, s2), (200, 200), (b1, b2))
        self.assertEqual(b2, b1)
        self.assertEqual(h2.get("x-tailgate-idempotent-replay"), "1")
        self.assertEqual(slow.stats()["requests"], 1)

    def test_the_same_key_with_another_body_is_422_on_any_instance(self):
        g1, g2 = self.both()
        self.assertEqual(self.post(g1, self.body("one"), "k-reuse")[0], 200)
        s, _, b = self.post(g2, self.body("two"), "k-reuse")
        self.assertEqual((s, json.loads(b)["error"]["code"]), (422, "idempotency_key_reused"), b)
        # The refusal is not kept under the key: the right body still replays there.
        s, h, _ = self.post(g2, self.body("one"), "k-reuse")
        self.assertEqual((s, h.get("x-tailgate-idempotent-replay")), (200, "1"))
        self.assertEqual(self.upstream(), 1)

    def test_a_5xx_is_not_kept_so_a_retry_elsewhere_calls_again(self):
        g1, g2 = self.both(retry={"max_attempts": 1})
        self.m.script([{"status": 503}])
        s, _, b = self.post(g1, self.body("flaky"), "k-5xx")
        self.assertGreaterEqual(s, 500, b)
        s, h, b = self.post(g2, self.body("flaky"), "k-5xx")
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-tailgate-idempotent-replay", h)
        self.assertEqual(self.upstream(), 2)

    def test_with_redis_down_keys_work_per_instance(self):
        g1, g2 = self.both()
        self.redis.kill()
        self.assertEqual(self.post(g1, self.body("x"), "k-down")[0], 200)
        s, h, _ = self.post(g1, self.body("x"), "k-down")
        self.assertEqual((s, h.get("x-tailgate-idempotent-replay")), (200, "1"))
        self.assertEqual(self.post(g2, self.body("x"), "k-down")[0], 200)  # its own call
        self.assertEqual(self.upstream(), 2)


class Cache(Shared):
    """The response cache across instances, in both modes."""

    def stored(self, n=1):
        """An answer goes to Redis right after its client has it: wait for it."""
        wait_for(lambda: int(self.redis.cli("ZCARD", "tailgate:cidx") or 0) >= n,
                 what="the answer in the shared cache")

    def test_mode_on_a_hit_on_one_instance_of_what_the_other_stored(self):
        g1, g2 = self.both(cache={"mode": "on"})
        s1, h1, b1 = g1.chat(model="m", content="cached question", headers=bearer())
        self.assertEqual(s1, 200, b1)
        self.assertNotIn("x-tailgate-cache", h1)
        self.stored()
        s2, h2, b2 = g2.chat(model="m", content="cached question", headers=bearer())
        self.assertEqual((s2, h2.get("x-tailgate-cache")), (200, "hit"), b2)
        self.assertEqual(b2, b1)
        self.assertEqual(self.upstream(), 1)
        self.assertEqual(g2.metric("tailgate_cache_total", result="hit"), 1)
        # Another question is another entry, on either instance.
        self.assertEqual(g2.chat(model="m", content="other", headers=bearer())[0], 200)
        self.assertEqual(self.upstream(), 2)

    def test_mode_on_a_stream_hit_elsewhere(self):
        g1, g2 = self.both(cache={"mode": "on"})
        s1, _, b1 = g1.chat(model="m", content="tell me", stream=True, headers=bearer())
        self.assertEqual(s1, 200)
        self.stored()
        s2, h2, b2 = g2.chat(model="m", content="tell me", stream=True, headers=bearer())
        self.assertEqual((s2, h2.get("x-tailgate-cache")), (200, "hit"))
        self.assertEqual(b2, b1)
        self.assertEqual(self.upstream(), 1)

    def test_fallback_a_stale_answer_stored_by_the_other_instance(self):
        g1, g2 = self.both(cache={"mode": "fallback"}, retry={"max_attempts": 1})
        s, h, first = g1.chat(model="m", content="same question", headers=bearer())
        self.assertEqual(s, 200, first)
        self.stored()
        self.m.script([{"status": 503, "repeat": 20}])
        s, h, b = g2.chat(model="m", content="same question", headers=bearer())
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-cache"], "stale")
        self.assertEqual(h["x-tailgate-degraded"], "1")
        self.assertEqual(b, first)
        self.assertIn(g2.chat(model="m", content="never asked", headers=bearer())[0], (502, 503))

    def test_a_request_that_ends_while_its_fetch_is_out_ignores_the_late_answer(self):
        # A background request times out waiting for a slow Redis and goes
        # to the dead-letter queue; the entry that comes afterwards must not
        # answer it a second time (it once did, or aborted).
        dlq = os.path.join(tempfile.mkdtemp(prefix="tg-dlq-"), "dlq.jsonl")
        g1, g2 = self.both(cache={"mode": "on"}, shared_extra={"timeout_ms": 3000},
                           sections_extra={"background": {"dlq_path": dlq}})
        self.assertEqual(g1.chat(model="m", content="q-late", headers=bearer())[0], 200)
        self.stored()
        sleeper = threading.Thread(target=self.redis.cli, args=("DEBUG", "SLEEP", "1"))
        sleeper.start()
        time.sleep(0.2)
        h = bearer()
        h.update({"x-tailgate-mode": "background", "x-tailgate-timeout-ms": "300"})
        s, h2, b = g2.chat(model="m", content="q-late", headers=h)
        self.assertEqual(s, 504, b)
        self.assertEqual(h2.get("x-tailgate-dlq"), "1")
        sleeper.join()
        time.sleep(0.3)  # the late answer arrives and must change nothing
        s, h3, _ = g2.chat(model="m", content="q-late", headers=bearer())
        self.assertEqual((s, h3.get("x-tailgate-cache")), (200, "hit"))

    def test_entries_stay_within_max_bytes(self):
        g1, g2 = self.both(cache={"mode": "on", "max_bytes": 4000})
        for i in range(12):
            self.assertEqual(g1.chat(model="m", content="question %d" % i,
                                     headers=bearer())[0], 200)
        wait_for(lambda: self.redis.cli("EXISTS", "tailgate:csize") == "1", what="sizes")
        time.sleep(0.2)  # the last stores are unanswered: let them land
        total = int(self.redis.cli("HGET", "tailgate:csize", "total"))
        self.assertLessEqual(total, 4000)
        self.assertLess(int(self.redis.cli("ZCARD", "tailgate:cidx")), 12)
        # The newest is still there for the other instance.
        s, h, _ = g2.chat(model="m", content="question 11", headers=bearer())
        self.assertEqual((s, h.get("x-tailgate-cache")), (200, "hit"))

    def test_with_redis_down_each_instance_caches_alone(self):
        g1, g2 = self.both(cache={"mode": "on"})
        self.redis.kill()
        self.assertEqual(g1.chat(model="m", content="q", headers=bearer())[0], 200)
        s, h, _ = g1.chat(model="m", content="q", headers=bearer())
        self.assertEqual(h.get("x-tailgate-cache"), "hit")
        s, h, _ = g2.chat(model="m", content="q", headers=bearer())
        self.assertEqual((s, h.get("x-tailgate-cache")), (200, None))


if __name__ == "__main__":
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is missing (deps/install.sh installs it)")
    main()

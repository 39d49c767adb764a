"""The resilience engine (SPEC section 4) end to end: every class row of the
outcome table, Retry-After, the retry budget, breakers opening, staying open,
probing and closing, failover within a group, fallback routes, the stale
cache and the degraded answer. Real `tailgate serve` + `tailgate mock`."""

import json
import time
from email.utils import formatdate

from harness import TestCase, main, openai_provider

FAST = {"backoff_base_ms": 20, "backoff_max_ms": 40, "jitter": "none"}


def route(model, deployments, **kw):
    r = {"model": model, "deployments": deployments}
    r.update(kw)
    return r


class Base(TestCase):
    def two(self, sections=None, extra_routes=(), weights=(1.0, 1.0), **mock_opts):
        """Deployments a (weight 1) and b in one group, route "m"; a is tried first
        when b's weight is 0."""
        self.a, self.b = self.mock(**mock_opts), self.mock(**mock_opts)
        base = {"retry": dict(FAST), "hedge": {"enabled": False},
                "degraded": {"enabled": False}, "cache": {"mode": "off"}}
        for k, v in (sections or {}).items():
            base.setdefault(k, {}).update(v)
        self.g = self.gateway(
            providers=[openai_provider("pa", self.a), openai_provider("pb", self.b)],
            deployments=[{"name": "a", "provider": "pa", "model": "x", "weight": weights[0]},
                         {"name": "b", "provider": "pb", "model": "x", "weight": weights[1]}],
            routes=[route("m", ["a", "b"])] + list(extra_routes), sections=base)
        return self.g

    def one(self, sections=None, routes=None, n_mocks=1, **mock_opts):
        self.mocks = [self.mock(**mock_opts) for _ in range(n_mocks)]
        base = {"retry": dict(FAST), "hedge": {"enabled": False},
                "degraded": {"enabled": False}, "cache": {"mode": "off"}}
        for k, v in (sections or {}).items():
            base.setdefault(k, {}).update(v)
        names = "abcdefgh"
        self.g = self.gateway(
            providers=[openai_provider("p" + names[i], m) for i, m in enumerate(self.mocks)],
            deployments=[{"name": names[i], "provider": "p" + names[i], "model": "x"}
                         for i in range(n_mocks)],
            routes=routes or [route("m", ["a"])], sections=base)
        return self.g

    def requests_to(self, mock):
        return mock.stats()["requests"]

    def trace(self, h):
        return [t.split(":")[1] for t in h["x-tailgate-trace"].split(",")]


class Retries(Base):
    def test_server_error_then_success(self):
        g = self.one()
        self.mocks[0].script([{"status": 503}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-attempts"], "2")
        self.assertEqual(self.trace(h), ["server", "ok"])
        self.assertEqual(self.requests_to(self.mocks[0]), 2)
        self.assertEqual(g.metric("tailgate_retries_total", deployment="a"), 1)
        self.assertEqual(g.metric("tailgate_upstream_attempts_total", deployment="a",
                                  outcome="server"), 1)
        log = g.wait_log(lambda l: l["status"] == 200)[0]
        self.assertEqual([x["outcome"] for x in log["attempts"]], ["server", "ok"])

    def test_every_5xx_and_529_retried(self):
        g = self.one(sections={"retry": {"max_attempts": 6, "budget_min_per_s": 10},
                               "breaker": {"failure_threshold": 10}})
        self.mocks[0].script([{"status": s} for s in (500, 502, 503, 504, 529)])
        s, h, b = g.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-attempts"], "6")

    def test_backoff_is_waited(self):
        g = self.one(sections={"retry": {"backoff_base_ms": 300, "backoff_max_ms": 300,
                                         "jitter": "none"}})
        self.mocks[0].script([{"status": 500}])
        t0 = time.time()
        self.assertEqual(g.chat()[0], 200)
        self.assertGreater(time.time() - t0, 0.28)

    def test_max_attempts_then_failure(self):
        g = self.one(sections={"retry": {"max_attempts": 3}})
        self.mocks[0].script([{"status": 503, "repeat": 10}])
        s, h, b = g.chat()
        self.assertEqual(s, 502)
        self.assertEqual(len(json.loads(b)["error"]["attempts"]), 3)
        self.assertEqual(self.requests_to(self.mocks[0]), 3)

    def test_transport_retried(self):
        g = self.one()
        self.mocks[0].script([{"reset_after_bytes": 0}, {"reset_after_bytes": 20}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200, b)
        self.assertEqual(self.trace(h), ["transport", "transport", "ok"])

    def test_broken_json_is_transport(self):
        g = self.one()
        self.mocks[0].script([{"body": "{\"choices\": [ not json"}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200, b)
        self.assertEqual(self.trace(h), ["transport", "ok"])

    def test_timeout_retried_once_then_moves_on(self):
        g = self.two(sections={"timeouts": {"attempt_ms": 300}}, weights=(1.0, 0.0))
        self.a.script([{"hang": True, "repeat": 5}])
        t0 = time.time()
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200, b)
        self.assertEqual(self.trace(h), ["timeout", "timeout", "ok"])
        self.assertEqual(h["x-tailgate-deployment"], "b")
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual(self.a.wait_stats(lambda s: s["inflight"] == 0)["cancelled"], 2)


class RateLimits(Base):
    def test_retry_after_seconds(self):
        g = self.one()
        self.mocks[0].script([{"status": 429, "retry_after": 1}])
        t0 = time.time()
        s, h, b = g.chat()
        self.assertEqual(s, 200, b)
        self.assertGreater(time.time() - t0, 0.95)
        self.assertLess(time.time() - t0, 2.0)

    def test_retry_after_ms(self):
        g = self.one()
        self.mocks[0].script([{"status": 429, "retry_after_ms": 400}])
        t0 = time.time()
        self.assertEqual(g.chat()[0], 200)
        self.assertGreater(time.time() - t0, 0.38)
        self.assertLess(time.time() - t0, 1.5)

    def test_retry_after_http_date(self):
        g = self.one()
        self.mocks[0].script([{"status": 429,
                               "retry_after": formatdate(time.time() + 2, usegmt=True)}])
        t0 = time.time()
        self.assertEqual(g.chat()[0], 200)
        self.assertGreater(time.time() - t0, 0.9)  # whole seconds: 1 to 2 s
        self.assertLess(time.time() - t0, 2.8)

    def test_retry_after_too_long_moves_on(self):
        g = self.two(sections={"retry": {"max_retry_after_ms": 2000}}, weights=(1.0, 0.0))
        self.a.script([{"status": 429, "retry_after": 60}])
        t0 = time.time()
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "b")
        self.assertLess(time.time() - t0, 1.0)
        # Until those 60 s pass, a gets no new first attempts while b exists.
        for _ in range(5):
            self.assertEqual(g.chat()[1]["x-tailgate-deployment"], "b")
        self.assertEqual(self.requests_to(self.a), 1)
        self.assertGreater(g.status()["deployments"]["a"]["rate_limited_for_ms"], 50000)

    def test_token_limit_is_rate_limited(self):
        g = self.one()
        self.mocks[0].script([{"status": 429, "error_code": "tokens", "retry_after_ms": 50}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["rate_limited", "ok"])

    def test_quota_never_retried_and_deployment_left_alone(self):
        g = self.two(weights=(1.0, 0.0),
                     sections={"breaker": {"quota_cooldown_ms": 60000}})
        self.a.script([{"status": 429, "error_code": "insufficient_quota", "repeat": 10}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["quota", "ok"])
        for _ in range(10):
            self.assertEqual(g.chat()[1]["x-tailgate-deployment"], "b")
        self.assertEqual(self.requests_to(self.a), 1)
        self.assertEqual(g.status()["deployments"]["a"]["state"], "open")

    def test_auth_moves_on(self):
        g = self.two(weights=(1.0, 0.0))
        self.a.script([{"status": 401, "repeat": 10}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["auth", "ok"])
        self.assertEqual(g.chat()[1]["x-tailgate-deployment"], "b")
        self.assertEqual(self.requests_to(self.a), 1)
        self.b.script([{"status": 403}])
        self.assertEqual(g.chat()[0], 502)  # b refuses too: every path failed
        s, h, b = g.chat()  # now both are out of rotation: nothing is even tried
        self.assertEqual(s, 503)
        self.assertEqual(json.loads(b)["error"]["attempts"], [])


class PassThrough(Base):
    def test_client_error_passed_through_at_once(self):
        g = self.two(weights=(1.0, 0.0))
        self.a.script([{"status": 400, "error_code": "invalid_value",
                        "error_message": "temperature too high"}])
        s, h, b = g.chat()
        self.assertEqual(s, 400)
        self.assertEqual(json.loads(b)["error"]["message"], "temperature too high")
        self.assertEqual(h["x-tailgate-attempts"], "1")
        self.assertEqual(self.requests_to(self.a), 1)
        self.assertEqual(self.requests_to(self.b), 0)

    def test_404_and_422_passed_through(self):
        g = self.one()
        for status in (404, 422):
            self.mocks[0].script([{"status": status}])
            self.assertEqual(g.chat()[0], status)
        self.assertEqual(self.requests_to(self.mocks[0]), 2)

    def test_context_overflow_without_fallbacks_passes_through(self):
        g = self.one()
        self.mocks[0].script([{"status": 400, "error_code": "context_length_exceeded"}])
        s, h, b = g.chat()
        self.assertEqual(s, 400)
        self.assertEqual(json.loads(b)["error"]["code"], "context_length_exceeded")

    def test_413_is_context_overflow(self):
        g = self.one(n_mocks=2, routes=[route("m", ["a"], context_window_fallbacks=["big"]),
                                         route("big", ["b"])])
        self.mocks[0].script([{"status": 413}])
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-route"], "big")

    def test_content_policy_without_fallbacks_passes_through(self):
        g = self.one()
        self.mocks[0].script([{"status": 400, "error_code": "content_policy_violation"}])
        self.assertEqual(g.chat()[0], 400)


class Fallbacks(Base):
    def test_failover_within_the_group(self):
        g = self.two(sections={"retry": {"max_attempts": 1}}, weights=(1.0, 0.0))
        self.a.script([{"status": 503}])
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "b")
        self.assertEqual(h["x-tailgate-attempts"], "2")
        self.assertEqual(h["x-tailgate-fallback"], "0")

    def test_fallback_chain(self):
        g = self.one(n_mocks=3, sections={"retry": {"max_attempts": 1}},
                     routes=[route("m", ["a"], fallbacks=["second", "third"]),
                             route("second", ["b"]), route("third", ["c"])])
        self.mocks[0].script([{"status": 500}])
        self.mocks[1].script([{"status": 502}])
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-route"], "third")
        self.assertEqual(h["x-tailgate-deployment"], "c")
        self.assertEqual(h["x-tailgate-fallback"], "2")
        self.assertEqual(g.metric("tailgate_fallbacks_total", route="second"), 1)
        self.assertEqual(g.metric("tailgate_fallbacks_total", route="third"), 1)

    def test_context_window_fallback(self):
        g = self.one(n_mocks=2, routes=[route("m", ["a"], context_window_fallbacks=["long"]),
                                         route("long", ["b"])])
        self.mocks[0].script([{"status": 400, "error_code": "context_length_exceeded"}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-route"], "long")
        self.assertEqual(h["x-tailgate-fallback"], "1")
        self.assertEqual(self.trace(h), ["context_overflow", "ok"])

    def test_content_policy_fallback(self):
        g = self.one(n_mocks=2, routes=[route("m", ["a"], content_policy_fallbacks=["lenient"]),
                                         route("lenient", ["b"])])
        self.mocks[0].script([{"status": 400, "error_code": "content_policy_violation"}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-route"], "lenient")
        self.assertEqual(self.trace(h), ["content_policy", "ok"])

    def test_per_route_overrides(self):
        g = self.one(n_mocks=2, sections={"retry": {"max_attempts": 3}},
                     routes=[route("m", ["a"]),
                             route("strict", ["b"], retry={"max_attempts": 1})])
        self.mocks[0].script([{"status": 503, "repeat": 2}])
        self.mocks[1].script([{"status": 503, "repeat": 2}])
        self.assertEqual(g.chat(model="m")[1]["x-tailgate-attempts"], "3")
        self.assertEqual(g.chat(model="strict")[0], 502)
        self.assertEqual(self.requests_to(self.mocks[1]), 1)


class Breakers(Base):
    def test_open_stay_open_probe_close(self):
        g = self.one(sections={"retry": {"max_attempts": 1},
                               "breaker": {"failure_threshold": 3, "cooldown_ms": 600,
                                           "max_cooldown_ms": 5000}})
        m = self.mocks[0]
        m.script([{"status": 500, "repeat": 4}])
        for _ in range(3):
            self.assertEqual(g.chat()[0], 502)
        self.assertEqual(g.status()["deployments"]["a"]["state"], "open")
        self.assertEqual(g.metric("tailgate_breaker_opens_total", deployment="a"), 1)
        self.assertEqual(g.metric("tailgate_breaker_state", deployment="a"), 2)
        # Open: refused without an upstream request.
        for _ in range(5):
            self.assertEqual(g.chat()[0], 503)
        self.assertEqual(self.requests_to(m), 3)
        # After the cooldown: one probe; it fails, and the cooldown doubles.
        time.sleep(0.65)
        self.assertEqual(g.status()["deployments"]["a"]["state"], "half-open")
        self.assertEqual(g.chat()[0], 502)
        self.assertEqual(self.requests_to(m), 4)
        self.assertEqual(g.metric("tailgate_breaker_opens_total", deployment="a"), 2)
        time.sleep(0.65)
        self.assertEqual(g.chat()[0], 503)  # 1.2 s this time: still open
        self.assertEqual(self.requests_to(m), 4)
        time.sleep(0.65)
        # The probe succeeds: closed, and traffic flows again.
        self.assertEqual(g.chat()[0], 200)
        self.assertEqual(g.status()["deployments"]["a"]["state"], "closed")
        for _ in range(3):
            self.assertEqual(g.chat()[0], 200)
        self.assertEqual(self.requests_to(m), 8)

    def test_half_open_admits_only_the_probes(self):
        import threading
        g = self.one(sections={"retry": {"max_attempts": 1},
                               "breaker": {"failure_threshold": 1, "cooldown_ms": 300,
                                           "half_open_probes": 1}})
        m = self.mocks[0]
        m.script([{"status": 500}, {"delay_ms": 500}])
        self.assertEqual(g.chat()[0], 502)
        time.sleep(0.35)
        results = []
        threads = [threading.Thread(target=lambda: results.append(g.chat()[0]))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [200, 503, 503, 503])
        self.assertEqual(self.requests_to(m), 2)

    def test_error_rate_opens(self):
        g = self.one(sections={"retry": {"max_attempts": 1},
                               "breaker": {"failure_threshold": 100, "error_rate": 0.5,
                                           "min_requests": 10}})
        m = self.mocks[0]
        m.script([{"status": 500}, {}] * 4 + [{"status": 500}, {"status": 500}])
        for _ in range(10):
            g.chat()
        self.assertEqual(g.status()["deployments"]["a"]["state"], "open")


class Budget(Base):
    def test_empty_budget_moves_on(self):
        g = self.one(sections={"retry": {"budget_ratio": 0.0, "budget_min_per_s": 0.0}})
        self.mocks[0].script([{"status": 503}])
        s, h, b = g.chat()
        self.assertEqual(s, 502)
        self.assertEqual(len(json.loads(b)["error"]["attempts"]), 1)
        self.assertEqual(g.metric("tailgate_retry_budget_exhausted_total"), 1)

    def test_floor_allows_some(self):
        g = self.one(sections={"retry": {"budget_ratio": 0.0, "budget_min_per_s": 1.0,
                                         "max_attempts": 2}})
        m = self.mocks[0]
        m.script([{"status": 503}, {}, {"status": 503}, {}])
        self.assertEqual(g.chat()[0], 200)  # the floor's one token
        self.assertEqual(g.chat()[0], 502)  # none left within the second
        self.assertEqual(g.metric("tailgate_retry_budget_exhausted_total"), 1)


class Deadline(Base):
    def test_deadline_cancels_and_answers_504(self):
        g = self.one(sections={"timeouts": {"request_ms": 400}})
        self.mocks[0].script([{"delay_ms": 3000}])
        t0 = time.time()
        s, h, b = g.chat()
        self.assertEqual(s, 504)
        self.assertEqual(json.loads(b)["error"]["code"], "deadline_exceeded")
        self.assertLess(time.time() - t0, 1.2)
        self.assertEqual(self.mocks[0].wait_stats(lambda x: x["cancelled"] == 1)["cancelled"], 1)

    def test_no_backoff_past_the_deadline(self):
        g = self.one(sections={"timeouts": {"request_ms": 500},
                               "retry": {"backoff_base_ms": 2000, "backoff_max_ms": 2000,
                                         "jitter": "none"}})
        self.mocks[0].script([{"status": 503}])
        t0 = time.time()
        s, h, b = g.chat()
        self.assertIn(s, (502, 504))
        self.assertLess(time.time() - t0, 0.9)


class CacheAndDegraded(Base):
    def test_stale_cache_when_every_path_failed(self):
        g = self.one(sections={"cache": {"mode": "fallback"}})
        s, h, first = g.chat(content="same question")
        self.assertEqual(s, 200)
        self.assertNotIn("x-tailgate-cache", h)
        self.mocks[0].script([{"status": 503, "repeat": 20}])
        s, h, b = g.chat(content="same question")
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-cache"], "stale")
        self.assertEqual(h["x-tailgate-degraded"], "1")
        self.assertEqual(b, first)
        self.assertEqual(g.chat(content="another question")[0], 502)
        self.assertEqual(g.metric("tailgate_cache_total", result="stale"), 1)
        self.assertEqual(g.metric("tailgate_degraded_total"), 1)

    def test_stale_stream(self):
        g = self.one(sections={"cache": {"mode": "fallback"}})
        s, h, first = g.chat(content="q", stream=True)
        self.assertEqual(s, 200)
        self.mocks[0].script([{"status": 503, "repeat": 20}])
        s, h, b = g.chat(content="q", stream=True)
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-cache"], "stale")
        self.assertEqual(b, first)

    def test_fresh_hits_and_bypass(self):
        g = self.one(sections={"cache": {"mode": "on", "ttl_s": 60}})
        s, h, first = g.chat(content="q")
        s, h, b = g.chat(content="q")
        self.assertEqual(h["x-tailgate-cache"], "hit")
        self.assertEqual(b, first)
        self.assertEqual(self.requests_to(self.mocks[0]), 1)
        s, h, b = g.chat(content="q", headers={"x-tailgate-cache": "no"})
        self.assertNotIn("x-tailgate-cache", h)
        self.assertEqual(self.requests_to(self.mocks[0]), 2)

    def test_cache_off(self):
        g = self.one(sections={"cache": {"mode": "off"}})
        g.chat(content="q")
        self.mocks[0].script([{"status": 503, "repeat": 20}])
        self.assertEqual(g.chat(content="q")[0], 502)

    def test_degraded_error(self):
        g = self.one(sections={"degraded": {"enabled": True, "status": 503,
                                            "message": "Back soon."}})
        self.mocks[0].script([{"status": 500, "repeat": 10}])
        s, h, b = g.chat()
        self.assertEqual(s, 503)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "degraded")
        self.assertEqual(err["message"], "Back soon.")
        self.assertEqual(h["x-tailgate-degraded"], "1")
        self.assertEqual(len(err["attempts"]), 3)

    def test_degraded_200_message(self):
        g = self.one(sections={"degraded": {"enabled": True, "status": 200,
                                            "message": "Back soon."}})
        self.mocks[0].script([{"status": 500, "repeat": 20}])
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertEqual(json.loads(b)["choices"][0]["message"]["content"], "Back soon.")
        self.assertEqual(h["x-tailgate-degraded"], "1")
        s, h, b = g.chat(stream=True)
        self.assertEqual(s, 200)
        self.assertIn('"content":"Back soon."', b)
        self.assertIn("data: [DONE]", b)


if __name__ == "__main__":
    main()

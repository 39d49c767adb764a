"""Tail latency (issue: hedging and health-weighted routing): hedged
requests race a slow attempt and the loser is cancelled at once, the hedge
cap holds under load, streams race on their first content chunk, and a
deployment made 5x slower loses most of its share, then regains it."""

import json
import threading
import time

from harness import TestCase, main, openai_provider


class Base(TestCase):
    def pair(self, slow_opts, fast_opts, hedge=None, weights=(1.0, 0.0), sections=None):
        self.slow, self.fast = self.mock(**slow_opts), self.mock(**fast_opts)
        h = {"enabled": True, "initial_delay_ms": 100, "min_samples": 1000}
        h.update(hedge or {})
        sec = {"hedge": h, "cache": {"mode": "off"}, "degraded": {"enabled": False},
               "retry": {"budget_min_per_s": 100}}
        sec.update(sections or {})
        self.g = self.gateway(
            providers=[openai_provider("ps", self.slow), openai_provider("pf", self.fast)],
            deployments=[{"name": "slow", "provider": "ps", "model": "x", "weight": weights[0]},
                         {"name": "fast", "provider": "pf", "model": "x", "weight": weights[1]}],
            routes=[{"model": "m", "deployments": ["slow", "fast"]}], sections=sec)
        return self.g

    def timed(self, **kw):
        t0 = time.time()
        r = self.g.chat(**kw)
        return r, time.time() - t0


class Hedging(Base):
    def test_hedge_wins_and_cancels_the_loser(self):
        g = self.pair({"latency_ms": 3000}, {"latency_ms": 10})
        (s, h, b), took = self.timed(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-hedge"], "won")
        self.assertEqual(h["x-tailgate-deployment"], "fast")
        self.assertEqual(h["x-tailgate-attempts"], "2")
        self.assertLess(took, 0.8)
        st = self.slow.wait_stats(lambda x: x["cancelled"] == 1, timeout=2)
        self.assertEqual((st["cancelled"], st["inflight"]), (1, 0))  # the loser, cut at once
        self.assertEqual(g.metric("tailgate_hedges_total", deployment="fast", result="won"), 1)
        log = g.wait_log(lambda l: l["status"] == 200)[0]
        self.assertEqual([(a["outcome"], a["hedge"]) for a in log["attempts"]],
                         [("cancelled", False), ("ok", True)])

    def test_hedging_disabled_takes_the_slow_path(self):
        self.pair({"latency_ms": 1200}, {"latency_ms": 10}, hedge={"enabled": False})
        (s, h, b), took = self.timed()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "slow")
        self.assertNotIn("x-tailgate-hedge", h)
        self.assertGreater(took, 1.1)
        self.assertEqual(self.fast.stats()["requests"], 0)

    def test_primary_wins_and_the_hedge_loses(self):
        g = self.pair({"latency_ms": 400}, {"latency_ms": 3000})
        (s, h, b), took = self.timed()
        self.assertEqual(h["x-tailgate-deployment"], "slow")
        self.assertNotIn("x-tailgate-hedge", h)
        self.assertLess(took, 1.5)
        self.assertEqual(self.fast.wait_stats(lambda x: x["cancelled"] == 1)["cancelled"], 1)
        self.assertEqual(g.metric("tailgate_hedges_total", deployment="fast", result="lost"), 1)

    def test_a_failed_racer_does_not_end_the_race(self):
        self.pair({"latency_ms": 500}, {"latency_ms": 0})
        self.fast.script([{"status": 503}])
        (s, h, b), took = self.timed(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "slow")
        self.assertEqual(sorted(t.split(":")[1] for t in h["x-tailgate-trace"].split(",")),
                         ["ok", "server"])
        self.assertLess(took, 1.5)

    def test_alone_the_hedge_goes_to_the_same_deployment(self):
        m = self.mock(latency_ms=10)
        g = self.gateway(providers=[openai_provider("p", m)],
                         deployments=[{"name": "only", "provider": "p", "model": "x"}],
                         routes=[{"model": "m", "deployments": ["only"]}],
                         sections={"hedge": {"initial_delay_ms": 100, "min_samples": 1000},
                                   "cache": {"mode": "off"}})
        m.script([{"delay_ms": 3000}])
        t0 = time.time()
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-hedge"], "won")
        self.assertLess(time.time() - t0, 0.8)
        self.assertEqual(m.wait_stats(lambda x: x["cancelled"] == 1)["cancelled"], 1)

    def test_hedge_delay_follows_the_quantile(self):
        # Once the deployment has min_samples, the hedge waits for its p90
        # clamped to [min_delay_ms, max_delay_ms] (here p90 ~5 ms -> 60 ms), not
        # initial_delay_ms. (Warm-up answers stay well under 60 ms: none hedged.)
        g = self.pair({"latency_ms": 5}, {"latency_ms": 5},
                      hedge={"initial_delay_ms": 5000, "min_samples": 10, "min_delay_ms": 60,
                             "quantile": 0.9})
        for _ in range(15):
            self.assertEqual(g.chat()[0], 200)
        self.slow.script([{"delay_ms": 3000}])
        (s, h, b), took = self.timed()
        self.assertEqual(h["x-tailgate-hedge"], "won")
        self.assertLess(took, 0.5)

    def test_hedge_cap_under_load(self):
        g = self.pair({"latency_ms": 600}, {"latency_ms": 10}, hedge={"max_ratio": 0.1})
        results = []

        def one():
            results.append(g.chat()[1].get("x-tailgate-hedge"))
        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 40)
        hedges = g.metric("tailgate_hedges_total")
        self.assertGreater(hedges, 0)
        self.assertLessEqual(hedges, 5)  # max_ratio 0.1 of 40 first attempts, + 1 per 10 s
        self.assertEqual(results.count("won"), hedges)

    def test_hedges_spend_the_retry_budget(self):
        g = self.pair({"latency_ms": 600}, {"latency_ms": 10},
                      sections={"retry": {"budget_ratio": 0.0, "budget_min_per_s": 0.0}})
        (s, h, b), took = self.timed()
        self.assertNotIn("x-tailgate-hedge", h)
        self.assertGreater(took, 0.5)
        self.assertEqual(g.metric("tailgate_retry_budget_exhausted_total"), 1)


class StreamHedging(Base):
    def test_stream_hedged_on_first_content(self):
        g = self.pair({"latency_ms": 3000, "tokens_per_s": 100}, {"latency_ms": 10,
                                                                   "tokens_per_s": 100})
        (s, h, b), took = self.timed(stream=True)
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-hedge"], "won")
        self.assertEqual(h["x-tailgate-deployment"], "fast")
        self.assertIn("data: [DONE]", b)
        self.assertLess(took, 1.5)
        self.assertEqual(self.slow.wait_stats(lambda x: x["cancelled"] == 1)["cancelled"], 1)

    def test_stream_hedging_off(self):
        self.pair({"latency_ms": 1200}, {"latency_ms": 10}, hedge={"streaming": False})
        (s, h, b), took = self.timed(stream=True)
        self.assertEqual(h["x-tailgate-deployment"], "slow")
        self.assertGreater(took, 1.1)


class HealthWeights(Base):
    def share(self, g, seconds, clients=4):
        """The slow deployment's share of picks, from a few clients in a loop
        (enough picks for the share to mean something)."""
        picks = {"slow": 0, "fast": 0}
        lock = threading.Lock()
        end = time.time() + seconds

        def client():
            while time.time() < end:
                d = g.chat()[1]["x-tailgate-deployment"]
                with lock:
                    picks[d] += 1
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return picks["slow"] / max(1, sum(picks.values())), picks

    def test_slower_deployment_loses_its_share_then_regains_it(self):
        # Equal weights; "slow" is the one made 5x slower, then healed. (The
        # breaker's latency_factor would open it outright: 5x > 4x p50; off
        # here, to watch the weighting itself.)
        g = self.pair({"latency_ms": 40}, {"latency_ms": 40}, weights=(1.0, 1.0),
                      hedge={"enabled": False}, sections={"breaker": {"latency_factor": 0.0}})
        before, _ = self.share(g, 2)
        self.assertGreater(before, 0.3)
        self.slow.script([{"delay_ms": 200, "repeat": 100000}])
        self.share(g, 3)  # it learns: the decayed latency moves over ~2 s (tau)
        during, picks = self.share(g, 3)
        self.assertLess(during, 0.2, picks)
        st = g.status()
        self.assertLess(st["deployments"]["slow"]["weight"], 0.2)
        cands = {c["deployment"]: c for c in st["routes"]["m"]["candidates"]}
        self.assertLess(cands["slow"]["share"], 0.2)
        self.slow.reset()  # healed: back to 40 ms
        deadline = time.time() + 15
        after = 0
        while time.time() < deadline:
            after, picks = self.share(g, 1.5)
            if after > 0.3:
                break
        self.assertGreater(after, 0.3, picks)

    def test_failing_deployment_loses_share_before_its_breaker_trips(self):
        g = self.pair({"latency_ms": 10}, {"latency_ms": 10}, weights=(1.0, 1.0),
                      hedge={"enabled": False},
                      sections={"breaker": {"failure_threshold": 1000, "error_rate": 1.0},
                                "retry": {"max_attempts": 1}})
        self.slow.script([{"status": 503}, {}] * 500)  # half its answers fail
        self.share(g, 2)
        st = g.status()
        self.assertEqual(st["deployments"]["slow"]["state"], "closed")
        cands = {c["deployment"]: c for c in st["routes"]["m"]["candidates"]}
        self.assertLess(cands["slow"]["share"], 0.35)


class SlowSuccess(Base):
    """latency_factor: an ok answer slower than 4x the deployment's p50 (and
    over 100 ms, and per output token when it reports them) counts as a
    breaker failure, unless no other deployment could serve the request: a
    slow answer beats a 503."""

    def warm_then_slow(self, g, n_slow):
        for _ in range(12):  # a p50 of ~10 ms to judge by
            self.assertEqual(g.chat()[0], 200)
        self.slow.script([{"delay_ms": 200, "repeat": n_slow}])
        return [g.chat()[0] for _ in range(n_slow)]

    def test_slow_answers_open_the_breaker_when_a_peer_can_serve(self):
        # All traffic on "slow" (weight 1 vs 0); "fast" is its healthy peer.
        g = self.pair({"latency_ms": 10}, {"latency_ms": 10}, hedge={"enabled": False})
        statuses = self.warm_then_slow(g, 5)
        self.assertEqual(statuses, [200] * 5)
        self.assertEqual(g.status()["deployments"]["slow"]["state"], "open")
        self.assertIn("reason=slow_ok", g.stderr())
        s, h, _ = g.chat()
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "fast"))

    def test_long_answers_at_the_usual_speed_are_not_slow(self):
        # 16-token answers in ~10 ms, then 400-token answers in 300 ms: 30x
        # the p50, but no slower per token, so no breaker failure.
        g = self.pair({"latency_ms": 10}, {"latency_ms": 10}, hedge={"enabled": False})
        for _ in range(12):
            self.assertEqual(g.chat()[0], 200)
        self.slow.script([{"delay_ms": 300, "output_tokens": 400, "repeat": 8}])
        for _ in range(8):
            s, h, b = g.chat()
            self.assertEqual((s, h["x-tailgate-deployment"]), (200, "slow"))
            self.assertEqual(json.loads(b)["usage"]["completion_tokens"], 400)
        st = g.status()["deployments"]["slow"]
        self.assertEqual((st["state"], st["failures"]), ("closed", 0))
        self.assertNotIn("slow_ok", g.stderr())

    def test_a_lone_slow_deployment_keeps_serving(self):
        self.slow = self.mock(latency_ms=10)
        g = self.g = self.gateway(
            providers=[openai_provider("ps", self.slow)],
            deployments=[{"name": "slow", "provider": "ps", "model": "x"}],
            routes=[{"model": "m", "deployments": ["slow"]}],
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "degraded": {"enabled": False}})
        statuses = self.warm_then_slow(g, 8)
        self.assertEqual(statuses, [200] * 8)
        self.assertEqual(g.status()["deployments"]["slow"]["state"], "closed")
        self.assertNotIn("breaker_open", g.stderr())
        self.assertEqual(g.chat()[0], 200)


class Status(Base):
    def test_status_fields(self):
        g = self.pair({"latency_ms": 20}, {"latency_ms": 10}, weights=(1.0, 1.0))
        for _ in range(10):
            g.chat()
            g.chat(stream=True)
        st = g.status()
        for name in ("slow", "fast"):
            d = st["deployments"][name]
            for key in ("state", "inflight", "requests", "failures", "p50_ms", "p90_ms",
                        "p99_ms", "weight", "ttfb_p50_ms"):
                self.assertIn(key, d)
            self.assertEqual(d["state"], "closed")
            self.assertGreater(d["requests"], 0)
        self.assertGreater(st["deployments"]["slow"]["p50_ms"],
                           st["deployments"]["fast"]["p50_ms"])
        self.assertEqual(st["routes"]["m"]["deployments"], ["slow", "fast"])
        self.assertEqual(len(st["routes"]["m"]["candidates"]), 2)
        self.assertEqual(st["routes"]["m"]["fallbacks"], [])


if __name__ == "__main__":
    main()

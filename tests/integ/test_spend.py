"""Spend caps against real processes (SPEC sections 3 and 8, issue 12): a
key's and the gateway's `usd_per_hour`, admitted on the worst case at the
dearest candidate's prices and reserved until the request settles to its
actual cost. Refusals are 429 budget_exceeded with Retry-After to the end of
the UTC hour and x-should-retry: false, never reach the provider (the mock's
own count says so), and two requests racing for the last of a cap cannot
both have it."""

import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time

from harness import TestCase, main, make_config, openai_provider, tailgate_bin
from test_json_strict import Upstream

# USD per million tokens: (input, cached input, output)
BIG = (5.0, 2.5, 15.0)
SMALL = (0.1, 0.05, 0.4)
KEY_A, KEY_B = "sk-spend-team-a-0001", "sk-spend-team-b-0002"


def bearer(key):
    return {"Authorization": "Bearer " + key}


def key(name, secret, **extra):
    k = {"name": name, "key_sha256": hashlib.sha256(secret.encode()).hexdigest()}
    k.update(extra)
    return k


def deployment(name, provider, prices=None):
    d = {"name": name, "provider": provider, "model": "up-" + name}
    if prices:
        d.update(input_usd_per_mtok=prices[0], cached_input_usd_per_mtok=prices[1],
                 output_usd_per_mtok=prices[2])
    return d


def chat_body(model, max_tokens, content="hello"):
    """The body Gateway.chat sends, to know its bytes."""
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}],
                       "max_tokens": max_tokens})


def worst(prices, model, max_tokens, content="hello"):
    """SPEC section 8's worst case: body bytes / 4 at input, max_tokens at output."""
    prompt = len(chat_body(model, max_tokens, content).encode()) // 4
    return (prompt * prices[0] + max_tokens * prices[2]) / 1e6


def clear_of_the_hour(margin_s=20):
    """Caps reset on the UTC hour: a test that fills one waits out the last
    seconds of an hour rather than straddle it."""
    left = 3600 - time.time() % 3600
    if left < margin_s:
        time.sleep(left + 0.5)


class SpendCase(TestCase):
    def start_gateway(self, keys=None, budget=None, latency_ms=0):
        clear_of_the_hour()
        self.m = self.mock(latency_ms=latency_ms)
        sections = {"hedge": {"enabled": False}, "cache": {"mode": "off"}}
        if keys:
            sections["auth"] = {"keys": keys}
        if budget:
            sections["budget"] = budget
        # "big" falls back to "small": a request's worst case is at big's prices,
        # the dearer candidate.
        deployments = [deployment("d-big", "up", BIG), deployment("d-small", "up", SMALL)]
        routes = [{"model": "big", "deployments": ["d-big"], "fallbacks": ["small"]},
                  {"model": "small", "deployments": ["d-small"]}]
        self.g = self.gateway(sections=sections, providers=[openai_provider("up", self.m)],
                              deployments=deployments, routes=routes)
        return self.g

    def upstream_count(self):
        return self.m.stats()["requests"]

    def assert_budget_exceeded(self, resp, *words):
        s, h, b = resp
        self.assertEqual(s, 429, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "budget_exceeded", b)
        self.assertEqual(err["attempts"], [])
        for w in words:
            self.assertIn(w, err["message"])
        # Retry-After: the seconds to the end of this UTC hour; and the SDKs'
        # own retries would only be refused again.
        ra = int(h["retry-after"])
        self.assertGreater(ra, 0)
        self.assertLessEqual(ra, 3600)
        self.assertLessEqual(abs(ra - (3600 - time.time() % 3600)), 2)
        self.assertEqual(h["x-should-retry"], "false")
        self.assertIn("x-request-id", h)
        return err

    def spend(self, name=None):
        st = self.g.status()
        return st["budget"]["spend_usd_this_hour"] if name is None \
            else st["keys"][name]["spend_usd_this_hour"]

    def wait_spend(self, want, name=None, timeout=5.0):
        deadline = time.time() + timeout
        while abs(self.spend(name) - want) > 5e-9 and time.time() < deadline:
            time.sleep(0.02)
        self.assertAlmostEqual(self.spend(name), want, delta=5e-9)


class KeyCap(SpendCase):
    def test_refused_over_the_key_cap_before_the_provider(self):
        g = self.start_gateway(keys=[key("team-a", KEY_A, usd_per_hour=0.01),
                                     key("team-b", KEY_B)])
        # max_tokens 1000 at $15/Mtok alone is $0.015: above the cap
        self.assertGreater(worst(BIG, "big", 1000), 0.01)
        err = self.assert_budget_exceeded(
            g.chat(model="big", headers=bearer(KEY_A), extra={"max_tokens": 1000}),
            '"team-a"', "0.01 USD per hour")
        self.assertIn("%.6f" % worst(BIG, "big", 1000), err["message"])
        # a stream request is refused the same way, as JSON
        s, h, b = g.chat(model="big", headers=bearer(KEY_A), stream=True,
                         extra={"max_tokens": 1000})
        self.assertEqual(s, 429, b)
        self.assertEqual(json.loads(b)["error"]["code"], "budget_exceeded")
        self.assertEqual(self.upstream_count(), 0)
        # another key has no cap; a cheaper request of team-a fits
        self.assertEqual(g.chat(model="big", headers=bearer(KEY_B),
                                extra={"max_tokens": 1000})[0], 200)
        s, h, b = g.chat(model="big", headers=bearer(KEY_A), extra={"max_tokens": 100})
        self.assertEqual(s, 200, b)
        self.assertEqual(self.upstream_count(), 2)
        # the access log and the key's metric say what happened
        line = g.wait_log(lambda l: l.get("status") == 429)[0]
        self.assertEqual(line["key"], "team-a")
        self.assertEqual(line["attempts"], [])
        self.assertEqual(line["term"], "budget_exceeded")
        self.assertEqual(g.metric("tailgate_key_requests_total", key="team-a", code="429"), 2)

    def test_refused_in_the_other_openai_endpoints_too(self):
        g = self.start_gateway(keys=[key("team-a", KEY_A, usd_per_hour=0.001)])
        body = json.dumps({"model": "big", "prompt": "x", "max_tokens": 1000})
        self.assert_budget_exceeded(g.call("POST", "/v1/completions", body, bearer(KEY_A)),
                                    '"team-a"')
        self.assertEqual(self.upstream_count(), 0)
        # embeddings have no output: their worst case is the prompt alone
        body = json.dumps({"model": "big", "input": "x"})
        self.assertEqual(g.call("POST", "/v1/embeddings", body, bearer(KEY_A))[0], 200)

    def test_race_for_the_last_of_the_cap_and_settlement(self):
        one = worst(BIG, "big", 1000)
        # room for one worst case, not two
        cap = round(one * 1.5, 6)
        g = self.start_gateway(keys=[key("team-a", KEY_A, usd_per_hour=cap)], latency_ms=800)
        results = []
        barrier = threading.Barrier(2)

        def go():
            barrier.wait()
            results.append(g.chat(model="big", headers=bearer(KEY_A),
                                  extra={"max_tokens": 1000}))

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(r[0] for r in results), [200, 429])
        self.assertEqual(self.upstream_count(), 1)
        ok = next(r for r in results if r[0] == 200)
        refused = next(r for r in results if r[0] == 429)
        self.assert_budget_exceeded(refused, '"team-a"')
        # Settled: the hour holds what the answer cost, not its reservation...
        actual = float(ok[1]["x-tailgate-cost-usd"])
        self.assertLess(actual, one / 10)
        self.wait_spend(actual, "team-a")
        # ...so the same request fits again, and the next one after it too
        for n in range(2):
            s, h, b = g.chat(model="big", headers=bearer(KEY_A), extra={"max_tokens": 1000})
            self.assertEqual(s, 200, b)
            actual += float(h["x-tailgate-cost-usd"])
        self.wait_spend(actual, "team-a")
        self.assertEqual(self.upstream_count(), 3)
        st = g.status()["keys"]["team-a"]
        self.assertEqual(st["usd_per_hour"], cap)

    def test_reservation_held_while_in_flight(self):
        one = worst(BIG, "big", 1000)
        g = self.start_gateway(keys=[key("team-a", KEY_A, usd_per_hour=1.0)], latency_ms=1500)
        t = threading.Thread(target=lambda: g.chat(model="big", headers=bearer(KEY_A),
                                                   extra={"max_tokens": 1000}))
        t.start()
        self.m.wait_stats(lambda s: s["inflight"] >= 1)
        # the worst case is reserved until the answer settles it
        self.assertAlmostEqual(self.spend("team-a"), one, delta=2e-9)
        t.join(30)
        self.assertLess(self.spend("team-a"), one / 10)


class GatewayCap(SpendCase):
    def test_requests_without_a_key_fall_under_it(self):
        g = self.start_gateway(budget={"usd_per_hour": 0.01})
        self.assert_budget_exceeded(g.chat(model="big", extra={"max_tokens": 1000}),
                                    "the gateway", "0.01 USD per hour")
        self.assertEqual(self.upstream_count(), 0)
        s, h, b = g.chat(model="big", extra={"max_tokens": 100})
        self.assertEqual(s, 200, b)
        self.wait_spend(float(h["x-tailgate-cost-usd"]))
        self.assertEqual(g.status()["budget"]["usd_per_hour"], 0.01)
        self.assertEqual(g.status()["keys"], {})
        self.assertEqual(self.upstream_count(), 1)

    def test_keyed_requests_fall_under_both_caps(self):
        g = self.start_gateway(keys=[key("team-a", KEY_A, usd_per_hour=5.0),
                                     key("team-b", KEY_B)],
                               budget={"usd_per_hour": 0.01})
        # the key has room; the gateway does not
        self.assert_budget_exceeded(
            g.chat(model="big", headers=bearer(KEY_A), extra={"max_tokens": 1000}),
            "the gateway")
        self.assert_budget_exceeded(
            g.chat(model="big", headers=bearer(KEY_B), extra={"max_tokens": 1000}),
            "the gateway")
        self.assertEqual(self.upstream_count(), 0)
        # nothing was charged to the key either (all or nothing)
        self.assertEqual(self.spend("team-a"), 0)
        s, h, b = g.chat(model="big", headers=bearer(KEY_B), extra={"max_tokens": 10})
        self.assertEqual(s, 200, b)
        cost_b = float(h["x-tailgate-cost-usd"])
        self.wait_spend(cost_b)
        self.wait_spend(cost_b, "team-b")  # an uncapped key's spend is shown too
        self.assertEqual(g.status()["keys"]["team-b"]["usd_per_hour"], 0)

    def test_no_cap_no_budget_block(self):
        g = self.start_gateway()
        self.assertEqual(g.chat(model="big", extra={"max_tokens": 1000})[0], 200)
        self.assertNotIn("budget", g.status())


class Unreported(SpendCase):
    """A provider that answers without usage: the money was spent, just not
    reported, so the reservation stays; an error it answers costs nothing."""

    def setUp(self):
        super().setUp()
        clear_of_the_hour()
        self.up = Upstream()
        self.addCleanup(self.up.stop)
        self.g = self.gateway(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "retry": {"max_attempts": 1}, "budget": {"usd_per_hour": 1.0}},
            providers=[{"name": "oa", "kind": "openai", "base_url": self.up.url + "/v1",
                        "api_key_env": ""}],
            deployments=[deployment("d-big", "oa", BIG)],
            routes=[{"model": "big", "deployments": ["d-big"]}])

    def test_answer_without_usage_keeps_its_reservation(self):
        self.up.answer = (200, "application/json", json.dumps({
            "id": "c1", "object": "chat.completion", "created": 1, "model": "up-d-big",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi there"}}]}).encode())
        s, h, b = self.g.chat(model="big", extra={"max_tokens": 1000})
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-tailgate-cost-usd", h)
        reserved = worst(BIG, "big", 1000)
        self.wait_spend(reserved)
        # an upstream error (passed through) was not paid for: all returned
        self.up.answer = (400, "application/json",
                          b'{"error":{"message":"bad","type":"invalid_request_error"}}')
        s, h, b = self.g.chat(model="big", extra={"max_tokens": 1000})
        self.assertEqual(s, 400, b)
        self.wait_spend(reserved)
        self.assertEqual(self.up.count(), 2)


class Check(TestCase):
    def test_check_shows_the_caps(self):
        text = make_config(
            providers=[{"name": "p", "kind": "mock"}],
            deployments=[deployment("d-big", "p", BIG)],
            routes=[{"model": "big", "deployments": ["d-big"]}],
            sections={"budget": {"usd_per_hour": 25.0},
                      "auth": {"keys": [key("team-a", KEY_A, rpm=5, usd_per_hour=2.5),
                                        key("team-b", KEY_B, usd_per_hour=0.75)]}})
        fd, path = tempfile.mkstemp(suffix=".toml")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        p = subprocess.run([tailgate_bin(), "check", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("spend cap $25 per hour (UTC) for the whole gateway\n", p.stdout)
        self.assertRegex(p.stdout, r'key "team-a"\n\s+limits\s+5 requests/min, \$2.5 per hour\n')
        self.assertRegex(p.stdout, r'key "team-b"\n\s+limits\s+\$0.75 per hour\n')


if __name__ == "__main__":
    main()

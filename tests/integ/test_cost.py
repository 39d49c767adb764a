"""Cost and cost ceilings against real processes (SPEC sections 3, 6 and 8,
issue 12 part B1): x-tailgate-cost-usd and the access log's cost_usd are the
provider's reported usage times the deployment's prices (cached prompt
tokens at their own price, for OpenAI's and Anthropic's usage shapes), the
spend metric grows by each attempt's cost, and a cost ceiling (the lowest of
[budget], the key's and x-tailgate-max-cost-usd) makes dear deployments
ineligible, so a cheaper fallback serves, or answers 400 cost_ceiling."""

import hashlib
import json
import os
import subprocess
import tempfile

from harness import TestCase, main, make_config, openai_provider, sse_events, tailgate_bin
from test_json_strict import Upstream

# USD per million tokens: (input, cached input, output)
BIG = (5.0, 2.5, 15.0)
SMALL = (0.1, 0.05, 0.4)
KEY_A, KEY_B = "sk-cost-team-a-000111", "sk-cost-team-b-222333"


def deployment(name, provider, prices=None):
    d = {"name": name, "provider": provider, "model": "up-" + name}
    if prices:
        d.update(input_usd_per_mtok=prices[0], cached_input_usd_per_mtok=prices[1],
                 output_usd_per_mtok=prices[2])
    return d


def cost(prices, prompt, completion, cached=0):
    return ((prompt - cached) * prices[0] + cached * prices[1] + completion * prices[2]) / 1e6


class CostCase(TestCase):
    def start_gateway(self, budget=None, keys=None):
        self.m = self.mock()
        sections = {"hedge": {"enabled": False}, "cache": {"mode": "off"}}
        if budget is not None:
            sections["budget"] = {"max_request_usd": budget}
        if keys:
            sections["auth"] = {"keys": keys}
        deployments = [deployment("d-big", "up", BIG), deployment("d-small", "up", SMALL),
                       deployment("d-free", "up")]
        routes = [{"model": "big", "deployments": ["d-big"], "fallbacks": ["small"]},
                  {"model": "small", "deployments": ["d-small"]},
                  {"model": "free", "deployments": ["d-free"]}]
        self.g = self.gateway(sections=sections, providers=[openai_provider("up", self.m)],
                              deployments=deployments, routes=routes)
        return self.g

    def upstream_models(self):
        return [json.loads(r["body"])["model"] if "body" in r else r.get("model")
                for r in self.m.stats()["recent"] if r["path"] == "/v1/chat/completions"]

    def assert_usd(self, got, want):
        self.assertAlmostEqual(float(got), want, delta=max(want * 1e-5, 1e-9))

    def log_of(self, rid):
        lines = self.g.wait_log(lambda l: l["request_id"] == rid)
        self.assertEqual(len(lines), 1, rid)
        return lines[0]


class Cost(CostCase):
    def setUp(self):
        super().setUp()
        self.start_gateway()

    def test_header_log_and_metric_are_usage_times_prices(self):
        g = self.g
        spent = 0.0
        for n in range(3):
            s, h, b = g.chat(model="small", content="price me " * (n + 1),
                             extra={"max_tokens": 50})
            self.assertEqual(s, 200, b)
            u = json.loads(b)["usage"]
            self.assertGreater(u["prompt_tokens"], 0)
            self.assertGreater(u["completion_tokens"], 0)
            want = cost(SMALL, u["prompt_tokens"], u["completion_tokens"])
            self.assert_usd(h["x-tailgate-cost-usd"], want)
            line = self.log_of(h["x-request-id"])
            self.assert_usd(line["cost_usd"], want)
            spent += want
        self.assert_usd(g.metric("tailgate_spend_usd_total", deployment="d-small"), spent)
        self.assertEqual(g.metric("tailgate_spend_usd_total", deployment="d-big"), 0)

    def test_no_prices_no_header_and_null_in_the_log(self):
        s, h, b = self.g.chat(model="free")
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-tailgate-cost-usd", h)
        self.assertIsNone(self.log_of(h["x-request-id"])["cost_usd"])
        self.assertNotIn('tailgate_spend_usd_total{deployment="d-free"}', self.g.metrics())

    def test_stream_cost_in_the_log_and_metric_not_the_header(self):
        s, h, b = self.g.chat(model="small", stream=True,
                              extra={"stream_options": {"include_usage": True}})
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-tailgate-cost-usd", h)  # headers leave before the usage
        usage = [json.loads(e)["usage"] for e in sse_events(b)
                 if e != "[DONE]" and json.loads(e).get("usage")]
        self.assertEqual(len(usage), 1, b)
        want = cost(SMALL, usage[0]["prompt_tokens"], usage[0]["completion_tokens"])
        self.assert_usd(self.log_of(h["x-request-id"])["cost_usd"], want)
        self.assert_usd(self.g.metric("tailgate_spend_usd_total", deployment="d-small"), want)

    def test_stream_without_include_usage_is_costed_too(self):
        s, h, b = self.g.chat(model="small", stream=True)
        self.assertEqual(s, 200, b)
        self.assertNotIn('"usage"', b)  # asked upstream on the client's behalf, not relayed
        line = self.log_of(h["x-request-id"])
        self.assertGreater(line["output_tokens"], 0)
        self.assert_usd(line["cost_usd"],
                        cost(SMALL, line["input_tokens"], line["output_tokens"]))

    def test_ceiling_makes_the_dear_deployment_ineligible_and_a_fallback_serves(self):
        g = self.g
        hdr = {"x-tailgate-max-cost-usd": "0.001", "x-tailgate-debug": "1"}
        s, h, b = g.chat(model="big", headers=hdr, extra={"max_tokens": 100})
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-deployment"], "d-small")
        self.assertEqual(h["x-tailgate-route"], "small")
        self.assertEqual(h["x-tailgate-fallback"], "1")
        self.assertIn("d-big:ineligible(cost_ceiling)", h["x-tailgate-trace"])
        self.assertEqual(h["x-tailgate-attempts"], "1")
        self.assertEqual(self.upstream_models(), ["up-d-small"])
        # A looser ceiling lets the first route serve.
        s, h, b = g.chat(model="big", headers={"x-tailgate-max-cost-usd": "0.5"},
                         extra={"max_tokens": 100})
        self.assertEqual((s, h["x-tailgate-deployment"], h["x-tailgate-fallback"]),
                         (200, "d-big", "0"), b)
        # max_tokens counts: without it the worst case assumes 1024 output tokens.
        s, h, b = g.chat(model="big", headers={"x-tailgate-max-cost-usd": "0.01"})
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "d-small"), b)

    def test_400_cost_ceiling_when_nothing_fits(self):
        g = self.g
        s, h, b = g.chat(model="big", headers={"x-tailgate-max-cost-usd": "0.00001"},
                         extra={"max_tokens": 100})
        self.assertEqual(s, 400, b)
        self.assertEqual(json.loads(b)["error"]["code"], "cost_ceiling", b)
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assertEqual(self.upstream_models(), [])
        self.assertEqual(self.log_of(h["x-request-id"])["status"], 400)
        # A deployment without prices costs nothing: it always fits.
        s, h, b = g.chat(model="free", headers={"x-tailgate-max-cost-usd": "0.00001"})
        self.assertEqual(s, 200, b)

    def test_malformed_ceiling_is_invalid_request(self):
        for v in ("abc", "-1", "0", "0.0", "1e3", "+1", ".", "1.2.3", "inf", "1 2", ""):
            s, h, b = self.g.chat(model="small", headers={"x-tailgate-max-cost-usd": v})
            self.assertEqual(s, 400, (v, b))
            self.assertEqual(json.loads(b)["error"]["code"], "invalid_request", (v, b))
            self.assertEqual(h.get("x-should-retry"), "false")
        self.assertEqual(self.upstream_models(), [])
        for v in ("1", "0.5", "12.", ".25"):
            s, _, b = self.g.chat(model="small", headers={"x-tailgate-max-cost-usd": v})
            self.assertEqual(s, 200, (v, b))


class IneligibleIsNoAlternative(TestCase):
    def test_invalid_answers_from_the_only_affordable_deployment_keep_it_up(self):
        """A deployment over the ceiling cannot serve the request, so it is no
        alternative to the one that can: that one's invalid answers are no
        evidence toward opening its breaker (issue 11's rule)."""
        cheap, dear = self.mock(), self.mock()
        cheap.script([{"content": "Sure! Here it is, in prose.", "repeat": 1000}])
        self.g = self.gateway(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "breaker": {"failure_threshold": 2, "min_requests": 4, "error_rate": 0.5},
                      "retry": {"max_attempts": 1, "backoff_base_ms": 1, "backoff_max_ms": 2,
                                "budget_min_per_s": 100}},
            providers=[openai_provider("pc", cheap), openai_provider("pd", dear)],
            deployments=[dict(deployment("d-cheap", "pc", SMALL), weight=1.0),
                         dict(deployment("d-dear", "pd", BIG), weight=0.0)],
            routes=[{"model": "m", "deployments": ["d-cheap", "d-dear"]}])
        for i in range(10):
            s, h, b = self.g.chat(model="m", headers={"x-tailgate-max-cost-usd": "0.001"},
                                  extra={"max_tokens": 100,
                                         "response_format": {"type": "json_object"}})
            self.assertEqual(s, 200, "request %d: %s" % (i + 1, b))
            self.assertEqual(h["x-tailgate-deployment"], "d-cheap")
            self.assertEqual(h.get("x-tailgate-validation"), "json")
        self.assertEqual(self.g.metric("tailgate_breaker_opens_total", deployment="d-cheap"), 0)
        self.assertEqual([r for r in dear.stats()["recent"]
                          if r["path"] == "/v1/chat/completions"], [])


def key(name, secret, **extra):
    k = {"name": name, "key_sha256": hashlib.sha256(secret.encode()).hexdigest()}
    k.update(extra)
    return k


class LowestCeilingWins(CostCase):
    def served_by(self, secret, headers=None):
        hdr = {"Authorization": "Bearer " + secret}
        hdr.update(headers or {})
        s, h, b = self.g.chat(model="big", headers=hdr, extra={"max_tokens": 100})
        self.assertEqual(s, 200, b)
        return h["x-tailgate-deployment"]

    def test_budget_below_the_key_and_the_header(self):
        self.start_gateway(budget=0.001, keys=[key("team-a", KEY_A, max_request_usd=1.0)])
        self.assertEqual(self.served_by(KEY_A), "d-small")
        # The header can only lower the ceiling, never raise it.
        self.assertEqual(self.served_by(KEY_A, {"x-tailgate-max-cost-usd": "5"}), "d-small")

    def test_key_below_the_budget(self):
        self.start_gateway(budget=1.0, keys=[key("team-a", KEY_A, max_request_usd=0.001),
                                             key("team-b", KEY_B)])
        self.assertEqual(self.served_by(KEY_A), "d-small")
        self.assertEqual(self.served_by(KEY_B), "d-big")
        self.assertEqual(self.served_by(KEY_B, {"x-tailgate-max-cost-usd": "0.001"}), "d-small")


class Check(TestCase):
    def test_check_shows_prices_and_ceilings(self):
        text = make_config(
            providers=[{"name": "p", "kind": "mock"}],
            deployments=[deployment("d-big", "p", BIG), deployment("d-free", "p")],
            routes=[{"model": "big", "deployments": ["d-big", "d-free"]}],
            sections={"budget": {"max_request_usd": 0.25},
                      "auth": {"keys": [key("team-a", KEY_A, rpm=5, max_request_usd=0.05)]}})
        fd, path = tempfile.mkstemp(suffix=".toml")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        p = subprocess.run([tailgate_bin(), "check", "-c", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"d-big .*\$5 in / \$2.5 cached / \$15 out per Mtok\n")
        self.assertRegex(p.stdout, r"d-free [^\n$]*\n")
        self.assertIn("cost ceiling $0.25 per request for every client", p.stdout)
        self.assertRegex(p.stdout, r"limits\s+5 requests/min, \$0.05 per request at most\n")


class CachedTokens(TestCase):
    """A provider reporting cached prompt tokens (the mock reports none)."""

    def setUp(self):
        super().setUp()
        self.up = Upstream()
        self.addCleanup(self.up.stop)
        providers = [{"name": "oa", "kind": "openai", "base_url": self.up.url + "/v1",
                      "api_key_env": ""},
                     {"name": "an", "kind": "anthropic", "base_url": self.up.url + "/v1",
                      "api_key_env": ""}]
        self.g = self.gateway(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"}},
            providers=providers,
            deployments=[deployment("d-oa", "oa", BIG), deployment("d-an", "an", BIG)],
            routes=[{"model": "oa", "deployments": ["d-oa"]},
                    {"model": "an", "deployments": ["d-an"]}])

    def answer(self, obj):
        self.up.answer = (200, "application/json", json.dumps(obj).encode())

    def test_openai_cached_tokens_at_the_cached_price(self):
        self.answer({"id": "c1", "object": "chat.completion", "created": 1, "model": "up-d-oa",
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "hi there"}}],
                     "usage": {"prompt_tokens": 1000, "completion_tokens": 50,
                               "total_tokens": 1050,
                               "prompt_tokens_details": {"cached_tokens": 600}}})
        s, h, b = self.g.chat(model="oa")
        self.assertEqual(s, 200, b)
        want = cost(BIG, 1000, 50, cached=600)
        self.assertAlmostEqual(float(h["x-tailgate-cost-usd"]), want, delta=1e-9)
        self.assertLess(want, cost(BIG, 1000, 50))

    def test_anthropic_cache_reads_cheap_cache_writes_as_input(self):
        self.answer({"id": "msg_1", "type": "message", "role": "assistant", "model": "up-d-an",
                     "content": [{"type": "text", "text": "hi there"}],
                     "stop_reason": "end_turn", "stop_sequence": None,
                     "usage": {"input_tokens": 100, "cache_creation_input_tokens": 200,
                               "cache_read_input_tokens": 700, "output_tokens": 50}})
        s, h, b = self.g.chat(model="an")
        self.assertEqual(s, 200, b)
        u = json.loads(b)["usage"]
        self.assertEqual((u["prompt_tokens"], u["prompt_tokens_details"]["cached_tokens"]),
                         (1000, 700))
        want = cost(BIG, 1000, 50, cached=700)
        self.assertAlmostEqual(float(h["x-tailgate-cost-usd"]), want, delta=1e-9)
        line = self.g.wait_log(lambda l: l["request_id"] == h["x-request-id"])[0]
        self.assertAlmostEqual(line["cost_usd"], want, delta=1e-9)
        self.assertAlmostEqual(self.g.metric("tailgate_spend_usd_total", deployment="d-an"),
                               want, delta=1e-9)


if __name__ == "__main__":
    main()

"""The pre-call context check against real processes (SPEC section 4, issue 12):
a deployment whose context window, configured (`context_tokens`) or learned
from its own context-length error, cannot hold a request's estimated prompt
(bytes / 4) plus its max_tokens is ineligible: the request goes straight to
the route's context_window_fallbacks (then its fallbacks) without a call to
it, the trace says `name:ineligible(context)`, and when nothing can hold the
request the gateway answers 400 context_length_exceeded (OpenAI's shape)
with x-should-retry: false. Each deployment has its own mock process, so
its request count says whether it was called."""

import json
import time

from harness import TestCase, main, make_config, openai_provider
from test_cli import run

SMALL_WINDOW = 1000
CONTEXT_ERROR = {"status": 400, "error_code": "context_length_exceeded",
                 "error_message": "Your input is too long for this model."}


def body_of(content, **extra):
    b = {"model": "small", "messages": [{"role": "user", "content": content}]}
    b.update(extra)
    return b


def estimate(body):
    """SPEC section 8's prompt estimate of the body gateway.chat sends."""
    return len(json.dumps(body)) // 4 + body.get("max_tokens", 0)


class ContextCase(TestCase):
    def start_gateway(self, a_window=0, b_window=0, small_routes=None, extra_routes=(),
                      b_extra=None):
        self.ma, self.mb = self.mock(), self.mock()
        self.parts = dict(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "degraded": {"enabled": True}},
            providers=[openai_provider("pa", self.ma), openai_provider("pb", self.mb)],
            deployments=[{"name": "a", "provider": "pa", "model": "up-a",
                          "context_tokens": a_window},
                         dict({"name": "b", "provider": "pb", "model": "up-b",
                               "context_tokens": b_window}, **(b_extra or {}))],
            routes=[dict({"model": "small", "deployments": ["a"]}, **(small_routes or {})),
                    {"model": "big", "deployments": ["b"]}] + list(extra_routes))
        self.g = self.gateway(**self.parts)
        return self.g

    def send(self, content, stream=False, **extra):
        extra.setdefault("max_tokens", None)
        if extra["max_tokens"] is None:
            del extra["max_tokens"]
        body = body_of(content, **extra)
        if stream:
            body["stream"] = True
        s, h, b = self.g.call("POST", "/v1/chat/completions", json.dumps(body),
                              {"x-tailgate-debug": "1"})
        return s, h, b, estimate(body)

    def calls(self, m):
        return m.stats()["by_path"]["/v1/chat/completions"]


class ConfiguredWindow(ContextCase):
    def setUp(self):
        super().setUp()
        self.start_gateway(a_window=SMALL_WINDOW, small_routes={
            "context_window_fallbacks": ["big"]})

    def test_long_prompt_goes_straight_to_the_context_fallback(self):
        s, h, b, need = self.send("word " * 1000)
        self.assertGreater(need, SMALL_WINDOW)
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-deployment"], "b")
        self.assertEqual(h["x-tailgate-route"], "big")
        self.assertEqual(h["x-tailgate-fallback"], "1")
        self.assertEqual(h["x-tailgate-attempts"], "1")
        self.assertTrue(h["x-tailgate-trace"].startswith("a:ineligible(context):0,b:ok:"),
                        h["x-tailgate-trace"])
        self.assertEqual(self.calls(self.ma), 0)
        self.assertEqual(self.calls(self.mb), 1)
        # A stream is judged the same way, before anything is sent.
        s, h, b, _ = self.send("word " * 1000, stream=True)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertEqual(self.calls(self.ma), 0)
        # A short one is A's.
        s, h, b, _ = self.send("hello")
        self.assertEqual((s, h["x-tailgate-deployment"], h["x-tailgate-fallback"]),
                         (200, "a", "0"), b)
        self.assertEqual(self.calls(self.ma), 1)

    def test_the_requests_own_max_tokens_counts_and_no_default_is_assumed(self):
        prompt = "word " * 120  # ~170 estimated tokens
        # The prompt alone fits: without max_tokens, the provider is only
        # asked for what is left of its window, so A serves it.
        s, h, b, need = self.send(prompt)
        self.assertLess(need, SMALL_WINDOW)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)
        # With the maximum it asks for, it does not.
        s, h, b, need = self.send(prompt, max_tokens=900)
        self.assertGreater(need, SMALL_WINDOW)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertIn("a:ineligible(context)", h["x-tailgate-trace"])
        # max_completion_tokens is the same limit by its newer name.
        s, h, b, _ = self.send(prompt, max_completion_tokens=900)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertEqual(self.calls(self.ma), 1)

    def test_status_and_check_show_the_configured_window(self):
        d = self.g.status()["deployments"]
        self.assertEqual(d["a"]["context_tokens"], SMALL_WINDOW)
        self.assertNotIn("context_tokens", d["b"])
        self.assertNotIn("context_tokens_learned", d["a"])
        code, out, err = run("check", "-c", self.g.config_path)
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"\n\s+deployments\s+a\s+weight.*context 1000 tokens\n")
        self.assertNotRegex(out, r"\n\s+deployments\s+b\s+weight.*context")


class Fallbacks(ContextCase):
    def test_context_fallbacks_come_before_regular_ones(self):
        self.start_gateway(a_window=SMALL_WINDOW, small_routes={
            "fallbacks": ["other"], "context_window_fallbacks": ["big"]},
            extra_routes=[{"model": "other", "deployments": ["a"]}])
        s, h, b, _ = self.send("word " * 1000)
        self.assertEqual((s, h["x-tailgate-route"]), (200, "big"), b)
        self.assertEqual(self.calls(self.ma), 0)

    def test_regular_fallbacks_serve_when_there_is_no_context_fallback(self):
        self.start_gateway(a_window=SMALL_WINDOW, small_routes={"fallbacks": ["big"]})
        s, h, b, _ = self.send("word " * 1000)
        self.assertEqual((s, h["x-tailgate-route"], h["x-tailgate-deployment"]),
                         (200, "big", "b"), b)
        self.assertEqual(self.calls(self.ma), 0)

    def test_a_deployment_that_fits_in_the_same_group_serves(self):
        self.start_gateway(a_window=SMALL_WINDOW)
        self.parts["routes"][0]["deployments"] = ["a", "b"]
        g = self.g
        g.rewrite(make_config(server={"listen": "127.0.0.1:%d" % g.port,
                                      "admin_listen": "127.0.0.1:%d" % g.admin_port,
                                      "access_log": "-"}, **self.parts))
        g.reload()
        deadline = time.time() + 5
        while g.status()["generation"] < 2 and time.time() < deadline:
            time.sleep(0.05)
        for _ in range(5):
            s, h, b, _ = self.send("word " * 1000)
            self.assertEqual((s, h["x-tailgate-deployment"], h["x-tailgate-route"]),
                             (200, "b", "small"), b)
        self.assertEqual(self.calls(self.ma), 0)

    def test_a_context_fallback_is_preferred_to_waiting_for_a_rate_limited_peer(self):
        """A deployment cooling off after a 429 gets first attempts only when
        nothing else is left; the context fallbacks of a route too small for
        the request are something else."""
        mc = self.mock()
        self.start_gateway(a_window=SMALL_WINDOW, small_routes={
            "context_window_fallbacks": ["big"]})
        self.parts["providers"].append(openai_provider("pc", mc))
        self.parts["deployments"].append({"name": "c", "provider": "pc", "model": "up-c"})
        self.parts["routes"][0]["deployments"] = ["a", "c"]
        g = self.g
        g.rewrite(make_config(server={"listen": "127.0.0.1:%d" % g.port,
                                      "admin_listen": "127.0.0.1:%d" % g.admin_port,
                                      "access_log": "-"}, **self.parts))
        g.reload()
        deadline = time.time() + 5
        while g.status()["generation"] < 2 and time.time() < deadline:
            time.sleep(0.05)
        mc.script([{"status": 429, "error_code": "rate_limit_exceeded", "retry_after": 60}])
        for _ in range(2):
            s, h, b, _ = self.send("word " * 1000)
            self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertEqual(self.calls(mc), 1)  # the 429; then it cools off
        self.assertEqual(self.calls(self.ma), 0)


class TooSmallIsNoAlternative(TestCase):
    def test_invalid_answers_from_the_only_deployment_that_fits_keep_it_up(self):
        """A deployment too small for the request cannot serve it, so it is
        no alternative to the one that can: that one's invalid answers are
        no evidence toward opening its breaker (issue 11's rule)."""
        big, small = self.mock(), self.mock()
        big.script([{"content": "Sure! Here it is, in prose.", "repeat": 1000}])
        g = self.gateway(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "breaker": {"failure_threshold": 2, "min_requests": 4, "error_rate": 0.5},
                      "retry": {"max_attempts": 1, "backoff_base_ms": 1, "backoff_max_ms": 2,
                                "budget_min_per_s": 100}},
            providers=[openai_provider("pbig", big), openai_provider("psmall", small)],
            deployments=[{"name": "d-big", "provider": "pbig", "model": "up-big"},
                         {"name": "d-small", "provider": "psmall", "model": "up-small",
                          "context_tokens": SMALL_WINDOW}],
            routes=[{"model": "m", "deployments": ["d-big", "d-small"]}])
        for i in range(10):
            s, h, b = g.chat(model="m", content="word " * 1000,
                             extra={"response_format": {"type": "json_object"}})
            self.assertEqual(s, 200, "request %d: %s" % (i + 1, b))
            self.assertEqual(h["x-tailgate-deployment"], "d-big")
            self.assertEqual(h.get("x-tailgate-validation"), "json")
        self.assertEqual(g.metric("tailgate_breaker_opens_total", deployment="d-big"), 0)
        self.assertEqual(small.stats()["by_path"]["/v1/chat/completions"], 0)


class NothingHoldsIt(ContextCase):
    def assert_context_error(self, s, h, b, need):
        self.assertEqual(s, 400, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "context_length_exceeded", b)
        self.assertEqual(err["type"], "invalid_request_error", b)
        self.assertIn(str(need), err["message"])
        self.assertEqual(err["attempts"], [])
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assertNotIn("x-tailgate-degraded", h)

    def test_400_when_no_route_can_hold_it_and_no_upstream_call(self):
        self.start_gateway(a_window=SMALL_WINDOW, b_window=SMALL_WINDOW * 2, small_routes={
            "context_window_fallbacks": ["big"]})
        s, h, b, need = self.send("word " * 2000)
        self.assertGreater(need, SMALL_WINDOW * 2)
        self.assert_context_error(s, h, b, need)
        self.assertIn("a:ineligible(context):0", h["x-tailgate-trace"])
        self.assertIn("b:ineligible(context):0", h["x-tailgate-trace"])
        self.assertEqual((self.calls(self.ma), self.calls(self.mb)), (0, 0))
        line = self.g.wait_log(lambda l: l["request_id"] == h["x-request-id"])[0]
        self.assertEqual(line["status"], 400)

    def test_too_small_here_and_too_dear_there_is_a_cost_ceiling(self):
        """A request shorter prompts or a higher ceiling could serve: SPEC's
        cost_ceiling row, whose message names the windows too."""
        self.start_gateway(a_window=SMALL_WINDOW, small_routes={
            "context_window_fallbacks": ["big"]},
            b_extra={"input_usd_per_mtok": 5.0, "output_usd_per_mtok": 15.0})
        s, h, b = self.g.chat(model="small", content="word " * 1000,
                              headers={"x-tailgate-max-cost-usd": "0.000001"})
        self.assertEqual(s, 400, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "cost_ceiling", b)
        self.assertIn("context windows", err["message"])
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assertEqual((self.calls(self.ma), self.calls(self.mb)), (0, 0))

    def test_a_learned_window_answers_like_the_providers_error_did(self):
        self.start_gateway()
        self.ma.script([CONTEXT_ERROR])
        content = "word " * 2000
        # The first time the provider's own error is passed through...
        s, h, b, need = self.send(content)
        self.assertEqual(s, 400, b)
        self.assertEqual(json.loads(b)["error"]["message"], CONTEXT_ERROR["error_message"])
        self.assertEqual(self.calls(self.ma), 1)
        # ...after that the gateway knows, and answers the same way itself.
        s, h, b, _ = self.send(content)
        self.assert_context_error(s, h, b, need)
        self.assertEqual(self.calls(self.ma), 1)


class Learning(ContextCase):
    def setUp(self):
        super().setUp()
        self.start_gateway(small_routes={"context_window_fallbacks": ["big"]})

    def test_a_context_error_teaches_the_deployment_its_window(self):
        self.ma.script([CONTEXT_ERROR])
        long = "word " * 2000
        s, h, b, need = self.send(long)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertTrue(h["x-tailgate-trace"].startswith("a:context_overflow:"),
                        h["x-tailgate-trace"])
        self.assertEqual(self.calls(self.ma), 1)
        self.assertEqual(self.g.status()["deployments"]["a"]["context_tokens_learned"], need)
        # The same request again skips A without a call.
        s, h, b, _ = self.send(long)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertTrue(h["x-tailgate-trace"].startswith("a:ineligible(context):0,b:ok:"),
                        h["x-tailgate-trace"])
        self.assertEqual(self.calls(self.ma), 1)
        # A longer one too; a shorter one (and a short one) still go to A.
        s, h, b, _ = self.send(long + "more")
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        s, h, b, _ = self.send("word " * 1900)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)
        s, h, b, _ = self.send("hello")
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)
        self.assertEqual(self.calls(self.ma), 3)

    def test_a_window_stated_in_the_error_is_learned(self):
        self.ma.script([{"status": 400, "error_code": "context_length_exceeded",
                         "error_message": "This model's maximum context length is 2500 tokens. "
                                          "However, your messages resulted in 3002 tokens."}])
        s, h, b, need = self.send("word " * 2400)
        self.assertGreater(need, 2500)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertEqual(self.g.status()["deployments"]["a"]["context_tokens_learned"], 2500)
        # Smaller than that request, but over the stated window: skipped.
        s, h, b, need = self.send("word " * 2100)
        self.assertTrue(2500 <= need, need)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        s, h, b, need = self.send("word " * 1900)
        self.assertLess(need, 2500)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)
        self.assertEqual(self.calls(self.ma), 2)

    def test_anthropics_prompt_is_too_long_states_its_window(self):
        """An anthropic-kind deployment: "prompt is too long: X tokens > N
        maximum" (the mock's wording) teaches N, through the translation of
        its error."""
        mc = self.mock()
        g = self.gateway(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"}},
            providers=[{"name": "pc", "kind": "anthropic", "base_url": mc.url,
                        "api_key_env": "TG_TEST_CONTEXT_KEY"},
                       openai_provider("pb", self.mb)],
            deployments=[{"name": "c", "provider": "pc", "model": "claude"},
                         {"name": "b", "provider": "pb", "model": "up-b"}],
            routes=[{"model": "small", "deployments": ["c"], "context_window_fallbacks": ["big"]},
                    {"model": "big", "deployments": ["b"]}],
            env={"TG_TEST_CONTEXT_KEY": "sk-ant-test"})
        mc.script([{"status": 400, "error_code": "context_length_exceeded"}])
        self.g = g
        s, h, b, _ = self.send("hello")
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertEqual(g.status()["deployments"]["c"]["context_tokens_learned"], 200000)
        s, h, b, _ = self.send("hello")
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "c"), b)

    def test_an_overflow_of_a_tiny_estimate_teaches_nothing(self):
        """bytes / 4 undercounts some prompts (CJK, images by URL): an
        overflow below TG_CONTEXT_LEARN_FLOOR says the estimate was wrong,
        not that A's window is that small."""
        self.ma.script([CONTEXT_ERROR])
        s, h, b, _ = self.send("\u6f22\u5b57" * 50)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertNotIn("context_tokens_learned", self.g.status()["deployments"]["a"])
        s, h, b, _ = self.send("hello")
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)
        s, h, b, _ = self.send("word " * 1000)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)

    def test_learned_window_survives_a_reload_unless_the_model_changes(self):
        self.ma.script([CONTEXT_ERROR])
        long = "word " * 2000
        s, _, b, need = self.send(long)
        self.assertEqual(s, 200, b)
        g = self.g
        server = {"listen": "127.0.0.1:%d" % g.port,
                  "admin_listen": "127.0.0.1:%d" % g.admin_port, "access_log": "-"}

        def reload(generation):
            g.rewrite(make_config(server=server, **self.parts))
            g.reload()
            deadline = time.time() + 5
            while g.status()["generation"] < generation and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(g.status()["generation"], generation)

        self.parts["routes"].append({"model": "extra", "deployments": ["b"]})
        reload(2)
        self.assertEqual(g.status()["deployments"]["a"]["context_tokens_learned"], need)
        s, h, b, _ = self.send(long)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "b"), b)
        self.assertEqual(self.calls(self.ma), 1)
        # A new model behind the same name has a window of its own.
        self.parts["deployments"][0]["model"] = "up-a-128k"
        reload(3)
        self.assertNotIn("context_tokens_learned", g.status()["deployments"]["a"])
        s, h, b, _ = self.send(long)
        self.assertEqual((s, h["x-tailgate-deployment"]), (200, "a"), b)


if __name__ == "__main__":
    main()

"""The gateway's own final errors tell clients whether to retry (issue 11,
SPEC section 3): every path already failed or was tried, so retrying the
same request at once cannot help (`x-should-retry: false`), unless the
gateway knows when it can (`Retry-After`: every candidate rate-limited with
a known Retry-After, or every breaker open until a known time). The official
SDKs read both; without them one SDK call with default retries became three
gateway requests with three full retry sequences behind them."""

from harness import TestCase, main, openai_provider, simple_gateway

QUIET = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
         "retry": {"backoff_base_ms": 1, "backoff_max_ms": 2, "budget_min_per_s": 100}}


def sections(**extra):
    s = {k: dict(v) for k, v in QUIET.items()}
    for k, v in extra.items():
        s.setdefault(k, {}).update(v)
    return s


class RetryHints(TestCase):
    def test_every_path_failed_says_do_not_retry(self):
        m = self.mock()
        m.script([{"status": 500, "repeat": 100}])
        g = simple_gateway(self, m, sections=sections(degraded={"enabled": False}))
        s, h, b = g.chat()
        self.assertEqual(s, 502, b)
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assertNotIn("retry-after", h)
        self.assertEqual(m.stats()["requests"], 3)  # the gateway's own retries happened

    def test_degraded_error_says_do_not_retry(self):
        m = self.mock()
        m.script([{"status": 503, "repeat": 100}])
        g = simple_gateway(self, m, sections=sections())  # degraded 503, the default
        s, h, b = g.chat()
        self.assertEqual(s, 503, b)
        self.assertEqual(h.get("x-tailgate-degraded"), "1")
        self.assertEqual(h.get("x-should-retry"), "false")

    def test_degraded_200_carries_no_hint(self):
        m = self.mock()
        m.script([{"status": 503, "repeat": 100}])
        g = simple_gateway(self, m, sections=sections(degraded={"status": 200}))
        s, h, b = g.chat()
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-should-retry", h)

    def test_deadline_says_do_not_retry(self):
        m = self.mock()
        m.script([{"delay_ms": 3000}])
        g = simple_gateway(self, m, sections=sections())
        s, h, b = g.chat(headers={"x-tailgate-timeout-ms": "300"})
        self.assertEqual(s, 504, b)
        self.assertEqual(h.get("x-should-retry"), "false")

    def test_every_candidate_rate_limited_gives_retry_after(self):
        a, b_ = self.mock(), self.mock()
        a.script([{"status": 429, "retry_after": "30", "repeat": 10}])
        b_.script([{"status": 429, "retry_after": "20", "repeat": 10}])
        g = self.gateway(
            providers=[openai_provider("pa", a), openai_provider("pb", b_)],
            deployments=[{"name": "da", "provider": "pa", "model": "x"},
                         {"name": "db", "provider": "pb", "model": "x"}],
            routes=[{"model": "m", "deployments": ["da", "db"]}],
            sections=sections(degraded={"enabled": False}))
        s, h, body = g.chat()
        self.assertEqual(s, 502, body)
        self.assertNotIn("x-should-retry", h)
        self.assertIn(h.get("retry-after"), ("19", "20"))  # the sooner of the two

    def test_one_candidate_without_known_time_means_do_not_retry(self):
        a, b_ = self.mock(), self.mock()
        a.script([{"status": 429, "retry_after": "30", "repeat": 10}])
        b_.script([{"status": 500, "repeat": 10}])
        g = self.gateway(
            providers=[openai_provider("pa", a), openai_provider("pb", b_)],
            deployments=[{"name": "da", "provider": "pa", "model": "x"},
                         {"name": "db", "provider": "pb", "model": "x"}],
            routes=[{"model": "m", "deployments": ["da", "db"]}],
            sections=sections(degraded={"enabled": False}))
        s, h, body = g.chat()
        self.assertEqual(s, 502, body)
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assertNotIn("retry-after", h)

    def test_every_breaker_open_gives_retry_after_the_cooldown(self):
        m = self.mock()
        m.script([{"status": 500, "repeat": 100}])
        g = simple_gateway(self, m, sections=sections(
            degraded={"enabled": False}, retry={"max_attempts": 1},
            breaker={"failure_threshold": 1, "cooldown_ms": 20000}))
        s, h, b = g.chat()
        self.assertEqual(s, 502, b)
        s, h, b = g.chat()
        self.assertEqual(s, 503, b)  # every breaker open
        self.assertIn(h.get("retry-after"), ("19", "20"))
        self.assertNotIn("x-should-retry", h)


if __name__ == "__main__":
    main()

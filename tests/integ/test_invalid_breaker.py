"""Invalid answers and the circuit breaker (issue 11, SPEC section 4): an
answer that fails validation is evidence about one prompt, which the client
controls. It must never take a route down: the demo scenario (a route with
one deployment, `response_format: json_object` requests answered in prose,
repeated) keeps the route up, and every client gets the held answer flagged
with x-tailgate-validation rather than a 503."""

import json

from harness import TestCase, main, openai_provider

PROSE = "Sure! Here is the information you asked for, in a friendly paragraph."
JSON_OBJECT = {"response_format": {"type": "json_object"}}


class InvalidAnswers(TestCase):
    def gateway_on(self, mocks, sections=None):
        """The first deployment is every request's first pick (the others
        have weight 0: they are tried only after it)."""
        sec = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
               "retry": {"backoff_base_ms": 1, "backoff_max_ms": 2, "budget_min_per_s": 100}}
        sec.update(sections or {})
        names = ["d%d" % i for i in range(len(mocks))]
        return self.gateway(
            providers=[openai_provider("p%d" % i, m) for i, m in enumerate(mocks)],
            deployments=[{"name": n, "provider": "p%d" % i, "model": "x",
                          "weight": 1.0 if i == 0 else 0.0} for i, n in enumerate(names)],
            routes=[{"model": "m", "deployments": names}], sections=sec)

    def deployment(self, g, name):
        return g.status()["deployments"][name]

    def test_prose_to_json_object_never_takes_the_route_down(self):
        m = self.mock()
        m.script([{"content": PROSE, "repeat": 100}])
        g = self.gateway_on([m])  # degraded answers on (503), as in the demo
        for i in range(8):
            s, h, b = g.chat(extra=JSON_OBJECT, headers={"x-tailgate-debug": "1"})
            self.assertEqual(s, 200, "request %d: %s %s" % (i + 1, h, b))
            self.assertEqual(h.get("x-tailgate-validation"), "json", "request %d" % (i + 1))
            self.assertNotIn("x-tailgate-degraded", h)
            self.assertEqual(json.loads(b)["choices"][0]["message"]["content"], PROSE)
        d = self.deployment(g, "d0")
        self.assertEqual(d["state"], "closed")
        self.assertEqual(d["opens_total"], 0)
        self.assertEqual(g.metric("tailgate_breaker_opens_total"), 0)
        # The route still answers a request whose answer is valid.
        s, h, b = g.chat()
        self.assertEqual(s, 200)
        self.assertNotIn("x-tailgate-validation", h)

    def test_invalid_answers_count_toward_the_error_rate_only(self):
        """With an alternative, invalid answers from several requests open the
        breaker through error_rate (not failure_threshold): the traffic moves to
        the deployment that answers well, and no client sees an error."""
        bad, good = self.mock(), self.mock()
        bad.script([{"content": PROSE, "repeat": 1000}])
        good.script([{"content": '{"answer": 42}', "repeat": 1000}])
        g = self.gateway_on([bad, good], sections={
            "breaker": {"failure_threshold": 2, "min_requests": 6, "error_rate": 0.5},
            "retry": {"max_attempts": 1, "backoff_base_ms": 1, "backoff_max_ms": 2,
                      "budget_min_per_s": 100}})
        for i in range(20):
            s, h, b = g.chat(extra=JSON_OBJECT)
            self.assertEqual(s, 200, b)
            self.assertNotIn("x-tailgate-validation", h)
            self.assertEqual(h["x-tailgate-deployment"], "d1")
            if self.deployment(g, "d0")["state"] == "open":
                break
        d = self.deployment(g, "d0")
        self.assertEqual(d["state"], "open", (i, d))
        # Not by 2 consecutive failures: by the window's rate, once it held
        # min_requests attempts (each from a different request here).
        self.assertEqual(d["requests"], 6)
        self.assertEqual(d["failures"], 6)
        self.assertEqual(g.metric("tailgate_breaker_opens_total", deployment="d0"), 1)


if __name__ == "__main__":
    main()

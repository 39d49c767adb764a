"""What the gateway sends upstream, as a real upstream process records it
(`tailgate mock`'s /_mock/stats keeps the recent requests with their headers
and bodies), and what the client gets back (issue 11, SPEC sections 2, 3):

- the well-known API key only for the provider's own host;
- x-request-id on every attempt;
- usage asked for on a chat stream whose client did not ask, counted, and
  the usage chunk removed before the client sees it."""

import json

from harness import TestCase, main, simple_gateway, sse_events


def recent(mock):
    return [r for r in mock.stats()["recent"] if r["path"] == "/v1/chat/completions"]


def header(req, name):
    for k, v in req["headers"].items():
        if k.lower() == name:
            return v
    return None


class ApiKey(TestCase):
    def test_default_key_env_not_sent_to_another_host(self):
        m = self.mock()
        env = {"OPENAI_API_KEY": "sk-must-not-leak"}
        g = simple_gateway(self, m, env=env, providers=[
            {"name": "up", "kind": "openai", "base_url": m.url}])  # no api_key_env
        s, h, b = g.chat()
        self.assertEqual(s, 200, b)
        req = recent(m)[-1]
        self.assertIsNone(header(req, "authorization"), req["headers"])
        self.assertNotIn("sk-must-not-leak", json.dumps(req))

    def test_named_key_env_is_sent(self):
        m = self.mock()
        g = simple_gateway(self, m, env={"LOCAL_KEY": "sk-local"}, providers=[
            {"name": "up", "kind": "openai", "base_url": m.url, "api_key_env": "LOCAL_KEY"}])
        self.assertEqual(g.chat()[0], 200)
        self.assertEqual(header(recent(m)[-1], "authorization"), "Bearer sk-local")


class RequestId(TestCase):
    def setUp(self):
        super().setUp()
        self.m = self.mock()
        self.g = simple_gateway(self, self.m, sections={
            "hedge": {"enabled": False}, "cache": {"mode": "off"},
            "retry": {"backoff_base_ms": 1, "backoff_max_ms": 2}})

    def test_client_id_sent_on_every_attempt(self):
        self.m.script([{"status": 503}, {"status": 503}])
        s, h, b = self.g.chat(headers={"x-request-id": "client-id-42"})
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-attempts"], "3")
        reqs = recent(self.m)
        self.assertEqual(len(reqs), 3)
        self.assertEqual([header(r, "x-request-id") for r in reqs], ["client-id-42"] * 3)

    def test_generated_id_sent_is_the_one_the_client_got(self):
        s, h, b = self.g.chat()
        self.assertEqual(s, 200)
        self.assertTrue(h["x-request-id"])
        self.assertEqual(header(recent(self.m)[-1], "x-request-id"), h["x-request-id"])

    def test_stream_attempts_carry_it_too(self):
        s, h, b = self.g.chat(stream=True, headers={"x-request-id": "stream-id"})
        self.assertEqual(s, 200)
        self.assertEqual(header(recent(self.m)[-1], "x-request-id"), "stream-id")


class StreamUsage(TestCase):
    def setUp(self):
        super().setUp()
        self.m = self.mock(output_tokens=7)
        self.g = simple_gateway(self, self.m, sections={
            "hedge": {"enabled": False}, "cache": {"mode": "off"}})

    def chunks(self, body):
        return [json.loads(e) for e in sse_events(body) if e != "[DONE]"]

    def tokens(self):
        return (self.g.metric("tailgate_tokens_total", kind="input"),
                self.g.metric("tailgate_tokens_total", kind="output"))

    def test_usage_counted_and_removed_when_not_asked(self):
        s, h, b = self.g.chat(stream=True, headers={"x-request-id": "nu"})
        self.assertEqual(s, 200)
        self.assertEqual(sse_events(b)[-1], "[DONE]")
        chunks = self.chunks(b)
        self.assertTrue(chunks)
        self.assertFalse([c for c in chunks if c.get("usage")], chunks[-2:])
        self.assertFalse([c for c in chunks if c.get("choices") == []])
        sent = json.loads(recent(self.m)[-1]["body"])
        self.assertEqual(sent["stream_options"], {"include_usage": True})
        log = self.g.wait_log(lambda l: l["request_id"] == "nu")[0]
        self.assertGreater(log["input_tokens"], 0)
        self.assertEqual(log["output_tokens"], 7)
        inp, out = self.tokens()
        self.assertGreater(inp, 0)
        self.assertEqual(out, 7)

    def test_existing_stream_options_kept_and_merged(self):
        s, h, b = self.g.chat(stream=True, extra={
            "stream_options": {"include_usage": False, "x_extra": 1}})
        self.assertEqual(s, 200)
        self.assertFalse([c for c in self.chunks(b) if c.get("usage")])
        sent = json.loads(recent(self.m)[-1]["body"])
        self.assertEqual(sent["stream_options"], {"x_extra": 1, "include_usage": True})
        self.assertEqual(self.tokens()[1], 7)

    def test_client_that_asked_still_gets_usage(self):
        s, h, b = self.g.chat(stream=True, headers={"x-request-id": "u"},
                              extra={"stream_options": {"include_usage": True}})
        self.assertEqual(s, 200)
        usage = [c for c in self.chunks(b) if c.get("usage")]
        self.assertEqual(len(usage), 1)
        self.assertEqual(usage[0]["choices"], [])
        self.assertEqual(usage[0]["usage"]["completion_tokens"], 7)
        log = self.g.wait_log(lambda l: l["request_id"] == "u")[0]
        self.assertEqual(log["output_tokens"], 7)

    def test_in_process_mock_provider_counts_too(self):
        g = self.gateway(providers=[{"name": "mk", "kind": "mock", "mock": {"output_tokens": 5,
                                                                         "latency_ms": 0}}],
                         deployments=[{"name": "d", "provider": "mk", "model": "x"}],
                         routes=[{"model": "m", "deployments": ["d"]}])
        s, h, b = g.chat(stream=True, headers={"x-request-id": "k"})
        self.assertEqual(s, 200)
        self.assertFalse([c for c in self.chunks(b) if c.get("usage")])
        log = g.wait_log(lambda l: l["request_id"] == "k")[0]
        self.assertEqual(log["output_tokens"], 5)


if __name__ == "__main__":
    main()

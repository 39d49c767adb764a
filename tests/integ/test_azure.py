"""Provider kind "azure" (SPEC section 5) against a real `tailgate mock`
posing as Azure OpenAI at /openai/deployments/NAME/...: what reaches the
upstream (the deployment path, the api-version query, the key in api-key and
never in Authorization), streaming, Azure's 429 hints, its content filter
(400 and finish_reason) going to content_policy_fallbacks, and failover from
an azure deployment to an openai one."""

import json
import time

from harness import TestCase, main, openai_provider, request, sse_events

DEPLOYMENT_PATH = "/openai/deployments/gpt4o-prod"
KEY = "az-secret-7f3a"

# Azure's own bodies, as its API sends them.
AZURE_FILTER = {"error": {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
               "management policy. Please modify your prompt and retry.",
    "type": None, "param": "prompt", "code": "content_filter", "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
        "hate": {"filtered": True, "severity": "high"}}}}}
AZURE_429 = {"error": {
    "code": "429",
    "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
               "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
               "Please retry after 1 second."}}


def azure_provider(name, mock, api_version="2024-10-21", **extra):
    p = {"name": name, "kind": "azure",
         "base_url": "http://127.0.0.1:%d%s" % (mock.port, DEPLOYMENT_PATH),
         "api_version": api_version, "api_key_env": "TG_AZ_KEY"}
    p.update(extra)
    return p


def header(req, name):
    for k, v in req["headers"].items():
        if k.lower() == name:
            return v
    return None


def recent(mock):
    return [r for r in mock.stats()["recent"] if r["path"].startswith("/openai/")]


class Base(TestCase):
    SECTIONS = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
                "degraded": {"enabled": False},
                "retry": {"backoff_base_ms": 10, "backoff_max_ms": 20, "budget_min_per_s": 50}}

    def setup(self, api_version="2024-10-21", routes=None, deployments=None, env=None):
        self.az = self.mock()
        self.oa = self.mock()
        self.g = self.gateway(
            env=dict({"TG_AZ_KEY": KEY}, **(env or {})),
            providers=[azure_provider("azure", self.az, api_version),
                       openai_provider("openai", self.oa)],
            deployments=deployments or [
                {"name": "az", "provider": "azure", "model": "gpt-4o"},
                {"name": "oa", "provider": "openai", "model": "gpt-4o-mini"}],
            routes=routes or [{"model": "m", "deployments": ["az"]}],
            sections=self.SECTIONS)
        return self.g

    def chat(self, **kw):
        h = dict(kw.pop("headers", {}))
        h["x-tailgate-debug"] = "1"
        return self.g.chat(headers=h, **kw)

    def trace(self, h):
        return [tuple(t.split(":")[:2]) for t in h["x-tailgate-trace"].split(",")]


class Requests(Base):
    def test_chat_goes_to_the_deployment_with_api_version_and_api_key(self):
        self.setup()
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-deployment"], "az")
        self.assertEqual(json.loads(b)["object"], "chat.completion")
        req, = recent(self.az)
        self.assertEqual(req["path"], DEPLOYMENT_PATH + "/chat/completions")
        self.assertEqual(req["query"], "api-version=2024-10-21")
        self.assertEqual(header(req, "api-key"), KEY)
        self.assertIsNone(header(req, "authorization"), req["headers"])
        # OpenAI's body, with the deployment's model (Azure routes by the URL)
        self.assertEqual(json.loads(req["body"])["model"], "gpt-4o")
        self.assertEqual(self.oa.stats()["requests"], 0)

    def test_completions_and_embeddings(self):
        self.setup()
        s, _, b = self.g.call("POST", "/v1/completions",
                              json.dumps({"model": "m", "prompt": "Say hi"}))
        self.assertEqual(s, 200, b)
        s, _, b = self.g.call("POST", "/v1/embeddings", json.dumps({"model": "m", "input": "hi"}))
        self.assertEqual(s, 200, b)
        self.assertEqual(json.loads(b)["object"], "list")
        reqs = recent(self.az)
        self.assertEqual([(r["path"], r["query"]) for r in reqs],
                         [(DEPLOYMENT_PATH + "/completions", "api-version=2024-10-21"),
                          (DEPLOYMENT_PATH + "/embeddings", "api-version=2024-10-21")])
        for r in reqs:
            self.assertEqual(header(r, "api-key"), KEY)
            self.assertIsNone(header(r, "authorization"))

    def test_reload_changes_the_api_version(self):
        self.setup()
        with open(self.g.config_path) as f:
            text = f.read()
        self.g.rewrite(text.replace('"2024-10-21"', '"2025-04-01-preview"'))
        self.g.reload()
        deadline = time.time() + 5
        while (self.g.metric("tailgate_config_reloads_total", result="ok") < 1
               and time.time() < deadline):
            time.sleep(0.02)
        s, _, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(recent(self.az)[-1]["query"], "api-version=2025-04-01-preview")

    def test_the_mock_answers_like_azure_without_api_version(self):
        """What the tests above rely on: the mock serves Azure's paths only
        with an api-version, as Azure does (404 Resource not found)."""
        m = self.mock()
        body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
        s, _, b = request(m.port, "POST", DEPLOYMENT_PATH + "/chat/completions", body)
        self.assertEqual(s, 404)
        self.assertEqual(json.loads(b), {"error": {"code": "404", "message": "Resource not found"}})
        s, _, b = request(m.port, "POST",
                          DEPLOYMENT_PATH + "/chat/completions?api-version=2024-10-21", body)
        self.assertEqual(s, 200, b)
        s, _, _ = request(m.port, "POST", "/openai/deployments//chat/completions?api-version=1",
                          body)
        self.assertEqual(s, 404)
        self.assertEqual(m.stats()["by_path"]["/v1/chat/completions"], 1)


class Keys(TestCase):
    """SDKs pair $AZURE_OPENAI_API_KEY with $AZURE_OPENAI_ENDPOINT: without
    api_key_env the key goes only to that resource's host."""

    def run_with(self, endpoint_host):
        m = self.mock()
        env = {"AZURE_OPENAI_API_KEY": "az-env-key",
               "AZURE_OPENAI_ENDPOINT": "http://%s:%d/" % (endpoint_host, m.port)}
        g = self.gateway(env=env, providers=[
            {"name": "azure", "kind": "azure", "api_version": "2024-10-21",
             "base_url": "http://127.0.0.1:%d%s" % (m.port, DEPLOYMENT_PATH)}],
            deployments=[{"name": "az", "provider": "azure", "model": "gpt-4o"}],
            routes=[{"model": "m", "deployments": ["az"]}])
        s, _, b = g.chat()
        self.assertEqual(s, 200, b)
        req, = recent(m)
        self.assertIsNone(header(req, "authorization"))
        return req

    def test_default_key_for_its_endpoint(self):
        self.assertEqual(header(self.run_with("127.0.0.1"), "api-key"), "az-env-key")

    def test_default_key_not_sent_to_another_host(self):
        req = self.run_with("other-resource.openai.azure.com")
        self.assertIsNone(header(req, "api-key"))
        self.assertNotIn("az-env-key", json.dumps(req))


class Streaming(Base):
    def events(self, body):
        return [e for e in sse_events(body)]

    def test_stream_through_an_azure_deployment(self):
        self.setup()
        s, h, b = self.chat(stream=True)
        self.assertEqual(s, 200, b)
        self.assertTrue(h["content-type"].startswith("text/event-stream"))
        events = self.events(b)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        # Azure's opening chunk (its prompt's filter verdicts, no choices) is
        # not content and not usage: it is held, then relayed as it came
        self.assertEqual(chunks[0]["choices"], [])
        self.assertIn("prompt_filter_results", chunks[0])
        text = "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in chunks if c["choices"])
        self.assertTrue(text)
        # usage was asked for on the client's behalf, counted, and not relayed
        self.assertFalse(any(c.get("usage") for c in chunks), chunks[-1])
        req, = recent(self.az)
        self.assertEqual(req["query"], "api-version=2024-10-21")
        self.assertEqual(header(req, "accept"), "text/event-stream")
        self.assertEqual(json.loads(req["body"])["stream_options"], {"include_usage": True})
        log = self.g.wait_log(lambda l: l.get("output_tokens"))[0]
        self.assertGreater(log["output_tokens"], 0)

    def test_older_api_version_is_not_sent_stream_options(self):
        """Azure answers 400 to stream_options before 2024-09-01-preview."""
        self.setup(api_version="2024-06-01")
        s, h, b = self.chat(stream=True)
        self.assertEqual(s, 200, b)
        self.assertEqual(self.events(b)[-1], "[DONE]")
        req, = recent(self.az)
        self.assertEqual(req["query"], "api-version=2024-06-01")
        self.assertNotIn("stream_options", json.loads(req["body"]))

    def test_stream_content_filter_goes_to_content_policy_fallbacks(self):
        self.setup(routes=[{"model": "m", "deployments": ["az"],
                            "content_policy_fallbacks": ["safe"]},
                           {"model": "safe", "deployments": ["oa"]}])
        self.az.script([{"content": "", "finish_reason": "content_filter"}])
        s, h, b = self.chat(stream=True)
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-route"], "safe")
        self.assertEqual(self.trace(h), [("az", "content_policy"), ("oa", "streaming")])
        events = self.events(b)
        self.assertEqual(events[-1], "[DONE]")
        self.assertNotIn("prompt_filter_results", b)  # nothing of Azure's stream got out

    def test_stream_fails_over_to_openai_before_first_content(self):
        self.setup(routes=[{"model": "m", "deployments": ["az", "oa"]}],
                   deployments=[{"name": "az", "provider": "azure", "model": "gpt-4o"},
                                {"name": "oa", "provider": "openai", "model": "gpt-4o-mini",
                                 "weight": 0.0}])
        self.az.script([{"status": 503, "repeat": 3}])
        s, h, b = self.chat(stream=True)
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-deployment"], "oa")
        self.assertEqual(self.events(b)[-1], "[DONE]")
        # the trace is sent with the headers, while the winner is still streaming
        self.assertEqual(self.trace(h), [("az", "server")] * 3 + [("oa", "streaming")])


class Failures(Base):
    def test_429_with_retry_after_ms_is_retried_after_it(self):
        """Azure sends retry-after (seconds) and retry-after-ms: the precise
        one is waited, then the same deployment is tried again."""
        self.setup()
        self.az.script([{"status": 429, "retry_after": "3", "retry_after_ms": 400,
                         "body": json.dumps(AZURE_429),
                         "headers": {"x-ratelimit-remaining-requests": "0",
                                     "x-ratelimit-remaining-tokens": "0"}}])
        t0 = time.time()
        s, h, b = self.chat()
        took = time.time() - t0
        self.assertEqual(s, 200, b)
        self.assertEqual(self.trace(h), [("az", "rate_limited"), ("az", "ok")])
        self.assertGreaterEqual(took, 0.38)
        self.assertLess(took, 2.5)  # not the 3 s of retry-after
        self.assertEqual(len(recent(self.az)), 2)

    def test_429_with_only_retry_after(self):
        self.setup()
        self.az.script([{"status": 429, "retry_after": "1", "body": json.dumps(AZURE_429)}])
        t0 = time.time()
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertGreaterEqual(time.time() - t0, 0.95)
        self.assertEqual(self.trace(h), [("az", "rate_limited"), ("az", "ok")])

    def test_content_filter_400_goes_to_content_policy_fallbacks(self):
        self.setup(routes=[{"model": "m", "deployments": ["az"],
                            "content_policy_fallbacks": ["safe"]},
                           {"model": "safe", "deployments": ["oa"]}])
        self.az.script([{"status": 400, "body": json.dumps(AZURE_FILTER)}])
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-route"], "safe")
        self.assertEqual(h["x-tailgate-deployment"], "oa")
        self.assertEqual(self.trace(h), [("az", "content_policy"), ("oa", "ok")])
        self.assertEqual(len(recent(self.az)), 1)  # a policy answer is not retried

    def test_content_filter_400_without_fallback_is_passed_through(self):
        self.setup()
        self.az.script([{"status": 400, "body": json.dumps(AZURE_FILTER)}])
        s, h, b = self.chat()
        self.assertEqual(s, 400)
        self.assertEqual(json.loads(b)["error"]["innererror"]["code"],
                         "ResponsibleAIPolicyViolation")

    def test_finish_reason_content_filter_goes_to_content_policy_fallbacks(self):
        self.setup(routes=[{"model": "m", "deployments": ["az"],
                            "content_policy_fallbacks": ["safe"]},
                           {"model": "safe", "deployments": ["oa"]}])
        self.az.script([{"content": "", "finish_reason": "content_filter"}])
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-route"], "safe")
        self.assertEqual(self.trace(h), [("az", "content_policy"), ("oa", "ok")])

    def test_context_length_exceeded_goes_to_context_window_fallbacks(self):
        self.setup(routes=[{"model": "m", "deployments": ["az"],
                            "context_window_fallbacks": ["big"]},
                           {"model": "big", "deployments": ["oa"]}])
        self.az.script([{"status": 400, "error_code": "context_length_exceeded"}])
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-route"], "big")
        self.assertEqual(self.trace(h), [("az", "context_overflow"), ("oa", "ok")])

    def test_fails_over_from_azure_to_openai(self):
        self.setup(routes=[{"model": "m", "deployments": ["az", "oa"]}],
                   deployments=[{"name": "az", "provider": "azure", "model": "gpt-4o"},
                                {"name": "oa", "provider": "openai", "model": "gpt-4o-mini"}])
        # whichever is picked first, make azure the one that fails
        self.az.script([{"status": 503, "repeat": 3}])
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-deployment"], "oa")
        self.assertEqual(json.loads(b)["model"], "gpt-4o-mini")
        oa_req = [r for r in self.oa.stats()["recent"] if r["path"] == "/v1/chat/completions"][-1]
        self.assertIsNone(header(oa_req, "api-key"))  # Azure's key stays with Azure
        self.assertNotIn(KEY, json.dumps(oa_req))

    def test_auth_error_takes_the_deployment_out(self):
        self.setup(routes=[{"model": "m", "deployments": ["az", "oa"]}],
                   deployments=[{"name": "az", "provider": "azure", "model": "gpt-4o"},
                                {"name": "oa", "provider": "openai", "model": "gpt-4o-mini",
                                 "weight": 0.0}])
        self.az.script([{"status": 401, "body": json.dumps({"error": {
            "code": "401", "message": "Access denied due to invalid subscription key or wrong "
                                      "API endpoint."}})}])
        s, h, b = self.chat()
        self.assertEqual(s, 200, b)
        self.assertEqual(self.trace(h), [("az", "auth"), ("oa", "ok")])


if __name__ == "__main__":
    main()

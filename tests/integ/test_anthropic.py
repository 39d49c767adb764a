"""Cross-provider failover (issue: the Anthropic adapter): an OpenAI client
keeps working when tailgate fails over from an OpenAI deployment to an
Anthropic one, streaming and tool calls included. The Anthropic side is
`tailgate mock`'s /v1/messages."""

import json
import os

from harness import TestCase, main, openai_provider, sse_events

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                     "days": {"type": "integer"}},
                   "required": ["city", "days"]}}}]


def anthropic_provider(name, mock, **extra):
    p = {"name": name, "kind": "anthropic", "base_url": mock.url,
         "api_key_env": "TG_TEST_ANTHROPIC_KEY"}
    p.update(extra)
    return p


class Base(TestCase):
    def setup(self, sections=None, routes=None, **opts):
        os.environ["TG_TEST_ANTHROPIC_KEY"] = "sk-ant-test"
        self.oai, self.ant = self.mock(**opts), self.mock(**opts)
        sec = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
               "degraded": {"enabled": False},
               "retry": {"backoff_base_ms": 10, "backoff_max_ms": 20, "budget_min_per_s": 50}}
        for k, v in (sections or {}).items():
            sec.setdefault(k, {}).update(v)
        self.g = self.gateway(
            providers=[openai_provider("openai", self.oai), anthropic_provider("anthropic", self.ant)],
            deployments=[{"name": "gpt@openai", "provider": "openai", "model": "gpt-4o"},
                         {"name": "claude@anthropic", "provider": "anthropic",
                          "model": "claude-sonnet-4"}],
            routes=routes or [{"model": "m", "deployments": ["gpt@openai"], "fallbacks": ["claude"]},
                              {"model": "claude", "deployments": ["claude@anthropic"]}],
            sections=sec)
        return self.g

    def sent(self):
        r = self.ant.stats()["recent"][-1]
        return r, json.loads(r["body"]), {k.lower(): v for k, v in r["headers"].items()}

    def text_of(self, events):
        out = ""
        for e in events:
            if e == "[DONE]":
                continue
            c = json.loads(e)
            if c["choices"]:
                out += c["choices"][0]["delta"].get("content") or ""
        return out


class Translation(Base):
    def test_request_and_answer(self):
        g = self.setup()
        body = {"model": "claude", "temperature": 0.3, "stop": "END",
                "messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "Hi"},
                             {"role": "user", "content": "How are you?"}]}
        s, h, b = g.call("POST", "/v1/chat/completions", json.dumps(body))
        self.assertEqual(s, 200, b)
        ans = json.loads(b)
        self.assertEqual(ans["object"], "chat.completion")
        self.assertEqual(ans["choices"][0]["message"]["role"], "assistant")
        self.assertTrue(ans["choices"][0]["message"]["content"])
        self.assertEqual(ans["choices"][0]["finish_reason"], "stop")
        self.assertGreater(ans["usage"]["prompt_tokens"], 0)
        self.assertEqual(h["x-tailgate-deployment"], "claude@anthropic")
        r, sent, headers = self.sent()
        self.assertEqual(r["path"], "/v1/messages")
        self.assertEqual(headers["x-api-key"], "sk-ant-test")
        self.assertEqual(headers["anthropic-version"], "2023-06-01")
        self.assertNotIn("authorization", headers)
        self.assertEqual(sent["model"], "claude-sonnet-4")
        self.assertEqual(sent["system"], "Be brief.")
        self.assertEqual(sent["max_tokens"], 4096)
        self.assertEqual(sent["stop_sequences"], ["END"])
        self.assertEqual([m["role"] for m in sent["messages"]], ["user"])  # merged

    def test_max_tokens_and_length(self):
        g = self.setup(output_tokens=50)
        s, h, b = g.chat(model="claude", extra={"max_tokens": 5})
        ans = json.loads(b)
        self.assertEqual(ans["choices"][0]["finish_reason"], "length")
        self.assertEqual(self.sent()[1]["max_tokens"], 5)

    def test_stream(self):
        g = self.setup(tokens_per_s=200)
        s, h, b = g.chat(model="claude", stream=True,
                         extra={"stream_options": {"include_usage": True}})
        self.assertEqual(s, 200)
        ev = sse_events(b)
        self.assertEqual(ev[-1], "[DONE]")
        chunks = [json.loads(e) for e in ev[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(len(self.text_of(ev).split()), 16)
        finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
        self.assertEqual(finishes[-1], "stop")
        self.assertGreater(chunks[-1]["usage"]["completion_tokens"], 0)

    def test_tool_calls(self):
        g = self.setup()
        s, h, b = g.chat(model="claude", content="Weather in Paris?", extra={"tools": TOOLS})
        msg = json.loads(b)["choices"][0]
        self.assertEqual(msg["finish_reason"], "tool_calls")
        call = msg["message"]["tool_calls"][0]
        self.assertEqual(call["function"]["name"], "get_weather")
        args = json.loads(call["function"]["arguments"])
        self.assertEqual(sorted(args), ["city", "days"])
        sent = self.sent()[1]
        self.assertEqual(sent["tools"][0]["name"], "get_weather")
        self.assertEqual(sent["tools"][0]["input_schema"]["required"], ["city", "days"])
        # The tool's result goes back as a tool_result block; the answer is text.
        follow = {"model": "claude", "tools": TOOLS, "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21C"}]}
        s, h, b = g.call("POST", "/v1/chat/completions", json.dumps(follow))
        self.assertEqual(json.loads(b)["choices"][0]["finish_reason"], "stop")
        sent = self.sent()[1]
        self.assertEqual(sent["messages"][1]["content"][0]["type"], "tool_use")
        self.assertEqual(sent["messages"][2]["content"][0]["type"], "tool_result")
        self.assertEqual(sent["messages"][2]["content"][0]["tool_use_id"], call["id"])

    def test_streamed_tool_calls(self):
        g = self.setup()
        s, h, b = g.chat(model="claude", content="Weather?", stream=True, extra={"tools": TOOLS})
        ev = sse_events(b)
        args, name = "", None
        for e in ev[:-1]:
            c = json.loads(e)
            for tc in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
                name = tc.get("function", {}).get("name") or name
                args += tc.get("function", {}).get("arguments") or ""
        self.assertEqual(name, "get_weather")
        self.assertEqual(sorted(json.loads(args)), ["city", "days"])
        self.assertEqual(json.loads(ev[-2])["choices"][0]["finish_reason"], "tool_calls")


class Failover(Base):
    def test_openai_outage_falls_over_to_anthropic(self):
        g = self.setup()
        self.oai.script([{"status": 503, "repeat": 100}])
        s, h, b = g.chat(headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-route"], "claude")
        self.assertEqual(h["x-tailgate-fallback"], "1")
        self.assertEqual(json.loads(b)["object"], "chat.completion")
        self.assertTrue(h["x-tailgate-trace"].endswith("claude@anthropic:ok:" +
                                                        h["x-tailgate-trace"].split(":")[-1]))

    def test_failover_streaming_with_tools(self):
        g = self.setup()
        self.oai.script([{"status": 503, "repeat": 100}])
        s, h, b = g.chat(stream=True, extra={"tools": TOOLS})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-route"], "claude")
        ev = sse_events(b)
        self.assertEqual(ev[-1], "[DONE]")
        self.assertIn("tool_calls", b)

    def test_failover_streaming_text(self):
        g = self.setup()
        self.oai.script([{"status": 529, "repeat": 100}])
        s, h, b = g.chat(stream=True)
        self.assertEqual(h["x-tailgate-deployment"], "claude@anthropic")
        self.assertEqual(len(self.text_of(sse_events(b)).split()), 16)


class Errors(Base):
    def trace(self, h):
        return [t.split(":")[1] for t in h["x-tailgate-trace"].split(",")]

    def test_overloaded_and_api_error_are_server(self):
        g = self.setup()
        self.ant.script([{"status": 529}, {"status": 500}])
        s, h, b = g.chat(model="claude", headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["server", "server", "ok"])

    def test_rate_limit_with_retry_after(self):
        g = self.setup()
        self.ant.script([{"status": 429, "retry_after": 1}])
        s, h, b = g.chat(model="claude", headers={"x-tailgate-debug": "1"})
        self.assertEqual(self.trace(h), ["rate_limited", "ok"])

    def test_rate_limit_reset_headers(self):
        import time
        from datetime import datetime, timedelta, timezone
        g = self.setup()
        reset = (datetime.now(timezone.utc) + timedelta(milliseconds=700)).isoformat()
        self.ant.script([{"status": 429, "headers": {
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset.replace("+00:00", "Z")}}])
        t0 = time.time()
        s, h, b = g.chat(model="claude")
        self.assertEqual(s, 200)
        self.assertGreater(time.time() - t0, 0.5)

    def test_spend_limit_is_quota(self):
        g = self.setup()
        self.ant.script([{"status": 429, "error_code": "enforced_spend_limit_reached"}])
        s, h, b = g.chat(model="claude", headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 502)
        self.assertEqual(self.trace(h), ["quota"])

    def test_prompt_too_long_is_context_overflow(self):
        g = self.setup()
        self.ant.script([{"status": 400, "error_code": "context_length_exceeded"}])
        s, h, b = g.chat(model="claude", headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 400)
        self.assertEqual(self.trace(h), ["context_overflow"])
        err = json.loads(b)["error"]  # passed through, in OpenAI's shape
        self.assertIn("prompt is too long", err["message"])
        self.assertEqual(err["type"], "invalid_request_error")
        self.assertEqual(err["code"], "context_length_exceeded")
        self.assertEqual(err["code"], "context_length_exceeded")

    def test_413_and_auth(self):
        g = self.setup()
        self.ant.script([{"status": 413}])
        s, h, b = g.chat(model="claude", headers={"x-tailgate-debug": "1"})
        self.assertEqual(self.trace(h), ["context_overflow"])
        self.ant.script([{"status": 401}])
        s, h, b = g.chat(model="claude", headers={"x-tailgate-debug": "1"})
        self.assertEqual(self.trace(h), ["auth"])

    def test_error_event_in_stream(self):
        g = self.setup()
        self.ant.script([{"stream_error_after_chunks": 0}])
        s, h, b = g.chat(model="claude", stream=True, headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual([t.split(":")[1] for t in h["x-tailgate-trace"].split(",")],
                         ["server", "streaming"])


class Eligibility(Base):
    def test_unservable_request_skips_the_deployment(self):
        # Anthropic first, OpenAI as the fallback: the order is fixed, so the
        # skip always shows in the trace.
        g = self.setup(routes=[{"model": "m", "deployments": ["claude@anthropic"],
                                "fallbacks": ["g"]},
                               {"model": "g", "deployments": ["gpt@openai"]}])
        s, h, b = g.chat(extra={"n": 2}, headers={"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "gpt@openai")
        self.assertIn("claude@anthropic:ineligible(n>1)", h["x-tailgate-trace"])
        self.assertEqual(h["x-tailgate-attempts"], "1")
        self.assertEqual(self.ant.stats()["requests"], 0)

    def test_nothing_can_serve_it(self):
        g = self.setup()
        s, h, b = g.chat(model="claude", extra={"logprobs": True},
                         headers={"x-tailgate-debug": "1"})
        # No deployment can carry it: the request's fault, which no retry mends.
        self.assertEqual(s, 400)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "invalid_request")
        self.assertEqual(err["attempts"], [])
        self.assertIn("claude@anthropic: ineligible(logprobs)", err["message"])
        self.assertEqual(h["x-should-retry"], "false")
        self.assertIn("ineligible(logprobs)", h["x-tailgate-trace"])

    def test_embeddings_never_go_to_anthropic(self):
        g = self.setup(routes=[{"model": "e", "deployments": ["claude@anthropic", "gpt@openai"]}])
        s, h, b = g.call("POST", "/v1/embeddings", json.dumps({"model": "e", "input": "x"}))
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-deployment"], "gpt@openai")


if __name__ == "__main__":
    main()

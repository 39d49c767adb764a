"""The three client formats (SPEC sections 3-5, issue 13): /v1/messages and
/v1/responses reach every provider kind, passed through where the provider
speaks the client's format (only "model" replaced) and translated
otherwise; errors, streams, failover and validation keep the client's
format. Upstreams are `tailgate mock` processes (which serve chat, Messages
and Responses) and the in-process mock provider. The official SDKs drive
the same paths in test_sdk_formats.py; this file checks the wire bytes."""

import json
import os
import re

from harness import TestCase, main, openai_provider, sse_events

MSG = {"model": "claude", "max_tokens": 64, "system": "Be brief.",
       "messages": [{"role": "user", "content": [
           {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}],
       "metadata": {"user_id": "u-1"}, "stop_sequences": ["END"]}

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


def named_events(body):
    """(event name, data object) of an SSE body, in order."""
    out = []
    for block in re.split(r"\r?\n\r?\n", body):
        name, data = "", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            text = "\n".join(data)
            out.append((name, text if text == "[DONE]" else json.loads(text)))
    return out


class Base(TestCase):
    def setup(self, sections=None, extra_routes=()):
        os.environ["TG_TEST_ANTHROPIC_KEY"] = "sk-ant-test"
        self.ant, self.oai = self.mock(), self.mock()
        sec = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
               "degraded": {"enabled": False},
               "retry": {"backoff_base_ms": 5, "backoff_max_ms": 10, "budget_min_per_s": 50}}
        for k, v in (sections or {}).items():
            sec.setdefault(k, {}).update(v)
        self.g = self.gateway(
            providers=[{"name": "ant", "kind": "anthropic", "base_url": self.ant.url,
                        "api_key_env": "TG_TEST_ANTHROPIC_KEY"},
                       openai_provider("oai", self.oai),
                       openai_provider("oai-chat", self.oai, responses=False),
                       {"name": "local", "kind": "mock", "mock": {"latency_ms": 0}}],
            deployments=[{"name": "claude@ant", "provider": "ant", "model": "claude-sonnet-4"},
                         {"name": "gpt@oai", "provider": "oai", "model": "gpt-4o"},
                         {"name": "gpt@oai-chat", "provider": "oai-chat", "model": "gpt-4o"},
                         {"name": "local@mock", "provider": "local", "model": "mock-1"}],
            routes=[{"model": "claude", "deployments": ["claude@ant"]},
                    {"model": "gpt", "deployments": ["gpt@oai"]},
                    {"model": "gpt-chat", "deployments": ["gpt@oai-chat"]},
                    {"model": "local", "deployments": ["local@mock"]},
                    {"model": "claude-then-gpt", "deployments": ["claude@ant"],
                     "fallbacks": ["gpt-chat"]}] + list(extra_routes),
            sections=sec)
        return self.g

    def post(self, path, body, headers=None):
        text = body if isinstance(body, str) else json.dumps(body)
        return self.g.call("POST", path, text, headers)

    def last(self, mock):
        r = mock.stats()["recent"][-1]
        return r["path"], r["body"]


class Messages(Base):
    def test_pass_through_to_anthropic_only_replaces_model(self):
        self.setup()
        text = json.dumps(MSG, separators=(", ", ": "))  # spacing a re-encoder would change
        beta = {"anthropic-beta": "prompt-caching-2024-07-31"}
        s, h, b = self.post("/v1/messages", text, beta)
        self.assertEqual(s, 200, b)
        recent = self.ant.stats()["recent"][-1]
        self.assertEqual(recent["headers"].get("anthropic-beta"), beta["anthropic-beta"])
        path, sent = self.last(self.ant)
        self.assertEqual(path, "/v1/messages")
        self.assertEqual(sent, text.replace('"claude"', '"claude-sonnet-4"', 1))
        ans = json.loads(b)
        self.assertEqual(ans["type"], "message")
        self.assertEqual(ans["content"][0]["type"], "text")
        self.assertEqual(h["x-tailgate-deployment"], "claude@ant")
        self.assertEqual(h["x-tailgate-route"], "claude")

    def test_translated_to_chat_providers(self):
        self.setup()
        for route, mock, dep in (("gpt-chat", self.oai, "gpt@oai-chat"),
                                 ("local", None, "local@mock")):
            body = dict(MSG, model=route)
            s, h, b = self.post("/v1/messages", body, {"anthropic-beta": "x"})
            self.assertEqual(s, 200, b)
            ans = json.loads(b)
            self.assertEqual(ans["type"], "message", b)
            self.assertEqual(ans["role"], "assistant")
            self.assertTrue(ans["content"][0]["text"])
            self.assertIn(ans["stop_reason"], ("end_turn", "max_tokens"))
            self.assertGreater(ans["usage"]["input_tokens"], 0)
            self.assertEqual(h["x-tailgate-deployment"], dep)
            if mock:
                self.assertNotIn("anthropic-beta", mock.stats()["recent"][-1]["headers"])
                path, sent = self.last(mock)
                self.assertEqual(path, "/v1/chat/completions")
                sent = json.loads(sent)
                self.assertEqual(sent["messages"][0], {"role": "system", "content": "Be brief."})
                self.assertEqual(sent["stop"], ["END"])

    def test_stream_event_sequence_each_way(self):
        self.setup()
        for route in ("claude", "gpt-chat", "local"):
            s, h, b = self.post("/v1/messages", dict(MSG, model=route, stream=True))
            self.assertEqual(s, 200, b)
            self.assertTrue(h["content-type"].startswith("text/event-stream"))
            names = [n for n, _ in named_events(b) if n != "ping"]
            self.assertEqual(names[0], "message_start", route)
            self.assertEqual(names[1], "content_block_start", route)
            self.assertIn("content_block_delta", names)
            self.assertEqual(names[-3:], ["content_block_stop", "message_delta", "message_stop"],
                             route)
            delta = [d for n, d in named_events(b) if n == "message_delta"][0]
            self.assertGreater(delta["usage"]["output_tokens"], 0, route)

    def test_tools_round_trip_through_chat(self):
        self.setup()
        body = dict(MSG, model="gpt-chat", tools=[WEATHER],
                    tool_choice={"type": "tool", "name": "get_weather"})
        s, _, b = self.post("/v1/messages", body)
        self.assertEqual(s, 200, b)
        ans = json.loads(b)
        use = [c for c in ans["content"] if c["type"] == "tool_use"]
        self.assertEqual(len(use), 1, b)
        self.assertEqual(use[0]["name"], "get_weather")
        self.assertIsInstance(use[0]["input"]["city"], str)
        self.assertEqual(ans["stop_reason"], "tool_use")
        # The tool result goes back with the same id.
        follow = dict(MSG, model="gpt-chat", tools=[WEATHER], messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": use},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use[0]["id"],
                                          "content": "sunny"}]}])
        s, _, b = self.post("/v1/messages", follow)
        self.assertEqual(s, 200, b)
        _, sent = self.last(self.oai)
        sent = json.loads(sent)
        self.assertEqual(sent["messages"][-2]["tool_calls"][0]["id"], use[0]["id"])
        self.assertEqual(sent["messages"][-1], {"role": "tool", "tool_call_id": use[0]["id"],
                                                "content": "sunny"})

    def test_fails_over_from_anthropic_529_to_openai(self):
        self.setup()
        self.ant.script([{"status": 529, "repeat": 10}])
        for stream in (False, True):
            s, h, b = self.post("/v1/messages", dict(MSG, model="claude-then-gpt", stream=stream),
                                {"x-tailgate-debug": "1"})
            self.assertEqual(s, 200, b)
            self.assertEqual(h["x-tailgate-deployment"], "gpt@oai-chat")
            self.assertIn("claude@ant:server", h["x-tailgate-trace"])
            if stream:
                self.assertEqual(named_events(b)[-1][0], "message_stop")
            else:
                self.assertEqual(json.loads(b)["type"], "message")

    def test_errors_in_anthropic_shape(self):
        self.setup()
        s, h, b = self.post("/v1/messages", "{not json")
        self.assertEqual(s, 400)
        e = json.loads(b)
        self.assertEqual(e["type"], "error")
        self.assertEqual(e["error"]["type"], "invalid_request_error")
        self.assertEqual(h["x-should-retry"], "false")
        s, _, b = self.post("/v1/messages", dict(MSG, model="nope"))
        self.assertEqual(s, 404)
        self.assertEqual(json.loads(b)["error"]["type"], "not_found_error")
        s, _, b = self.post("/v1/messages", {"model": "claude", "max_tokens": 5})
        self.assertEqual(s, 400)
        self.assertIn("messages", json.loads(b)["error"]["message"])
        # Every path failing: the gateway's 502, with the attempts made.
        self.ant.script([{"status": 503, "repeat": 20}])
        s, h, b = self.post("/v1/messages", MSG)
        self.assertEqual(s, 502, b)
        e = json.loads(b)
        self.assertEqual(e["type"], "error")
        self.assertEqual(e["error"]["type"], "api_error")
        self.assertEqual(e["error"]["code"], "upstream_unavailable")
        self.assertEqual(e["error"]["attempts"][0]["deployment"], "claude@ant")
        self.assertEqual(e["error"]["attempts"][0]["status"], 503)
        # A chat provider's client error, passed through in Anthropic's shape.
        self.oai.script([{"status": 400}])
        s, _, b = self.post("/v1/messages", dict(MSG, model="gpt-chat"))
        self.assertEqual(s, 400, b)
        e = json.loads(b)
        self.assertEqual(e["type"], "error")
        self.assertEqual(e["error"]["type"], "invalid_request_error")

    def test_stream_cut_after_commit_ends_with_error_event(self):
        self.setup()
        for route, mock in (("claude", self.ant), ("gpt-chat", self.oai)):
            mock.script([{"stream_error_after_chunks": 3}])
            s, _, b = self.post("/v1/messages", dict(MSG, model=route, stream=True))
            self.assertEqual(s, 200, b)
            ev = named_events(b)
            self.assertIn("content_block_delta", [n for n, _ in ev])
            self.assertEqual(ev[-1][0], "error", route)
            self.assertEqual(ev[-1][1]["type"], "error")
            self.assertNotIn("message_stop", [n for n, _ in ev])

    def test_tool_input_validated_against_schema(self):
        self.setup(sections={"validate": {"json": True}})
        # A chat provider's tool call whose arguments miss the required key.
        answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": None, "tool_calls": [{
                          "id": "call_1", "type": "function", "function": {
                              "name": "get_weather", "arguments": "{\"town\": \"Oslo\"}"}}]}}],
                  "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
        self.oai.script([{"body": json.dumps(answer), "repeat": 10}])
        s, h, b = self.post("/v1/messages", dict(MSG, model="gpt-chat", tools=[WEATHER]))
        self.assertEqual(s, 200, b)
        self.assertEqual(h.get("x-tailgate-validation"), "schema", h)


class Responses(Base):
    REQ = {"model": "gpt", "input": "Say hi", "instructions": "Be brief.",
           "max_output_tokens": 64, "metadata": {"k": "v"}}

    def test_pass_through_to_openai_with_responses(self):
        self.setup()
        text = json.dumps(self.REQ, separators=(", ", ": "))
        s, h, b = self.post("/v1/responses", text)
        self.assertEqual(s, 200, b)
        path, sent = self.last(self.oai)
        self.assertEqual(path, "/v1/responses")
        self.assertEqual(sent, text.replace('"gpt"', '"gpt-4o"', 1))
        self.assertEqual(json.loads(b)["object"], "response")

    def test_translated_for_chat_and_anthropic_providers(self):
        self.setup()
        for route, mock, path in (("gpt-chat", self.oai, "/v1/chat/completions"),
                                  ("claude", self.ant, "/v1/messages"), ("local", None, None)):
            s, h, b = self.post("/v1/responses", dict(self.REQ, model=route))
            self.assertEqual(s, 200, b)
            ans = json.loads(b)
            self.assertEqual(ans["object"], "response", route)
            self.assertEqual(ans["status"], "completed")
            msg = [o for o in ans["output"] if o["type"] == "message"][0]
            self.assertTrue(msg["content"][0]["text"])
            self.assertGreater(ans["usage"]["input_tokens"], 0)
            self.assertEqual(ans["instructions"], "Be brief.")
            if mock:
                self.assertEqual(self.last(mock)[0], path)

    def test_stream_events_each_way(self):
        self.setup()
        for route in ("gpt", "gpt-chat", "claude", "local"):
            s, h, b = self.post("/v1/responses", dict(self.REQ, model=route, stream=True))
            self.assertEqual(s, 200, b)
            ev = named_events(b)
            names = [n for n, _ in ev]
            self.assertEqual(names[0], "response.created", route)
            self.assertIn("response.output_text.delta", names)
            self.assertEqual(names[-1], "response.completed", route)
            seq = [d["sequence_number"] for _, d in ev]
            self.assertEqual(seq, sorted(seq), route)
            self.assertGreater(ev[-1][1]["response"]["usage"]["output_tokens"], 0, route)

    def test_stateful_requests_only_pass_through(self):
        self.setup()
        body = dict(self.REQ, previous_response_id="resp_123")
        s, _, b = self.post("/v1/responses", body)
        self.assertEqual(s, 200, b)
        s, h, b = self.post("/v1/responses", dict(body, model="gpt-chat"),
                            {"x-tailgate-debug": "1"})
        self.assertEqual(s, 400, b)
        self.assertEqual(h["x-should-retry"], "false")
        self.assertIn("ineligible(previous_response_id)", json.loads(b)["error"]["message"])
        self.assertEqual(self.oai.stats()["by_path"]["/v1/chat/completions"], 0)

    def test_function_call_output_round_trip(self):
        self.setup()
        tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER["input_schema"]}]
        s, _, b = self.post("/v1/responses", dict(self.REQ, model="claude", tools=tools,
                                                   tool_choice="required"))
        self.assertEqual(s, 200, b)
        call = [o for o in json.loads(b)["output"] if o["type"] == "function_call"][0]
        self.assertEqual(call["name"], "get_weather")
        follow = dict(self.REQ, model="claude", tools=tools, input=[
            {"role": "user", "content": "Weather?"}, call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}])
        s, _, b = self.post("/v1/responses", follow)
        self.assertEqual(s, 200, b)
        sent = json.loads(self.last(self.ant)[1])
        self.assertEqual(sent["messages"][-2]["content"][-1]["id"], call["call_id"])
        self.assertEqual(sent["messages"][-1]["content"][0]["tool_use_id"], call["call_id"])

    def test_text_format_json_schema_is_validated(self):
        self.setup(sections={"validate": {"json": True}})
        fmt = {"type": "json_schema", "name": "w", "schema": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
        self.oai.script([{"content": "not json at all", "repeat": 10}])
        s, h, b = self.post("/v1/responses", dict(self.REQ, model="gpt-chat", text={"format": fmt}))
        self.assertEqual(s, 200, b)
        self.assertEqual(h.get("x-tailgate-validation"), "json", h)
        self.oai.script([{"content": "{\"town\": \"Oslo\"}", "repeat": 10}])
        s, h, b = self.post("/v1/responses", dict(self.REQ, model="gpt", text={"format": fmt}))
        self.assertEqual(s, 200, b)
        self.assertEqual(h.get("x-tailgate-validation"), "schema", h)
        self.oai.reset()
        s, h, b = self.post("/v1/responses", dict(self.REQ, model="gpt", text={"format": fmt}))
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-tailgate-validation", h)
        out = json.loads(b)["output"][0]["content"][0]["text"]
        self.assertIn("city", json.loads(out))

    def test_stream_cut_after_commit_ends_with_response_failed(self):
        self.setup()
        for route, mock in (("gpt", self.oai), ("gpt-chat", self.oai), ("claude", self.ant)):
            mock.script([{"stream_error_after_chunks": 3}])
            s, _, b = self.post("/v1/responses", dict(self.REQ, model=route, stream=True))
            self.assertEqual(s, 200, b)
            ev = named_events(b)
            names = [n for n, _ in ev]
            self.assertIn("response.output_text.delta", names, route)
            self.assertEqual(names[-2:], ["error", "response.failed"], route)
            created = ev[0][1]["response"]["id"]
            self.assertEqual(ev[-1][1]["response"]["id"], created, route)
            seq = [d["sequence_number"] for _, d in ev]
            self.assertEqual(seq, list(range(seq[0], seq[0] + len(seq))), route)

    def test_errors_in_openai_shape(self):
        self.setup()
        s, h, b = self.post("/v1/responses", {"model": "gpt"})
        self.assertEqual(s, 400)
        e = json.loads(b)["error"]
        self.assertEqual(e["code"], "invalid_request")
        self.assertIn("input", e["message"])
        self.ant.script([{"status": 503, "repeat": 20}])
        s, _, b = self.post("/v1/responses", dict(self.REQ, model="claude"))
        self.assertEqual(s, 502, b)
        self.assertEqual(json.loads(b)["error"]["attempts"][0]["deployment"], "claude@ant")


class Hedging(TestCase):
    """A stream in any format races on its first content: a Messages stream
    from a slow Anthropic deployment is hedged to a fast OpenAI one, and the
    client sees one well-formed Messages stream from the winner."""

    def test_messages_stream_hedged_across_formats(self):
        os.environ["TG_TEST_ANTHROPIC_KEY"] = "sk-ant-test"
        slow, fast = self.mock(latency_ms=3000), self.mock(latency_ms=10)
        g = self.gateway(
            providers=[{"name": "ant", "kind": "anthropic", "base_url": slow.url,
                        "api_key_env": "TG_TEST_ANTHROPIC_KEY"}, openai_provider("oai", fast)],
            deployments=[{"name": "slow@ant", "provider": "ant", "model": "c", "weight": 1.0},
                         {"name": "fast@oai", "provider": "oai", "model": "g", "weight": 0.0}],
            routes=[{"model": "claude", "deployments": ["slow@ant", "fast@oai"]}],
            sections={"hedge": {"enabled": True, "initial_delay_ms": 100, "min_samples": 1000},
                      "cache": {"mode": "off"}, "retry": {"budget_min_per_s": 100}})
        s, h, b = g.call("POST", "/v1/messages", json.dumps(dict(MSG, stream=True)))
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-hedge"], "won")
        self.assertEqual(h["x-tailgate-deployment"], "fast@oai")
        names = [n for n, _ in named_events(b)]
        self.assertEqual((names[0], names[-1]), ("message_start", "message_stop"))
        self.assertEqual(names.count("message_start"), 1)
        self.assertEqual(slow.wait_stats(lambda x: x["cancelled"] == 1, timeout=2)["cancelled"], 1)


class Degraded(Base):
    def test_degraded_answer_in_each_format(self):
        self.setup(sections={"degraded": {"enabled": True, "status": 200, "message": "Busy, try later."}})
        self.ant.script([{"status": 503, "repeat": 50}])
        s, h, b = self.post("/v1/messages", MSG)
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-tailgate-degraded"], "1")
        ans = json.loads(b)
        self.assertEqual(ans["type"], "message")
        self.assertEqual(ans["content"][0]["text"], "Busy, try later.")
        s, h, b = self.post("/v1/messages", dict(MSG, stream=True))
        self.assertEqual(s, 200, b)
        ev = named_events(b)
        self.assertEqual(ev[0][0], "message_start")
        self.assertEqual(ev[-1][0], "message_stop")
        text = "".join(d["delta"].get("text", "") for n, d in ev if n == "content_block_delta")
        self.assertEqual(text, "Busy, try later.")
        s, h, b = self.post("/v1/responses", dict(Responses.REQ, model="claude", stream=True))
        self.assertEqual(s, 200, b)
        ev = named_events(b)
        self.assertEqual(ev[-1][0], "response.completed")
        s, h, b = self.post("/v1/responses", dict(Responses.REQ, model="claude"))
        self.assertEqual(json.loads(b)["output"][0]["content"][0]["text"], "Busy, try later.")


class ChatUnchanged(Base):
    def test_chat_through_anthropic_still_chat(self):
        self.setup()
        s, _, b = self.g.chat(model="claude", stream=True)
        self.assertEqual(s, 200, b)
        ev = sse_events(b)
        self.assertEqual(ev[-1], "[DONE]")
        self.assertEqual(json.loads(ev[0])["object"], "chat.completion.chunk")

    def test_cache_keeps_formats_apart(self):
        self.setup(sections={"cache": {"mode": "on", "ttl_s": 60}})
        # One body that is a valid chat and a valid Messages request.
        body = {"model": "local", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]}
        s, _, chat = self.post("/v1/chat/completions", body)
        self.assertEqual(s, 200, chat)
        s, h, msg = self.post("/v1/messages", body)
        self.assertEqual(s, 200, msg)
        self.assertNotIn("x-tailgate-cache", h)
        self.assertEqual(json.loads(msg)["type"], "message")


if __name__ == "__main__":
    main()

"""`tailgate mock` driven by the official `openai` and `@anthropic-ai/sdk` npm packages
(tests/sdk, through sdk.py): every API the SDKs call, streaming and not, parses in the
SDK as it would from the real provider, and the mock's faults reach the user as the
SDK's own error classes. This proves the drivers the gateway's SDK tests use, and the
mock the gateway's tests stand on.

Each node start costs ~0.3 s, so the calls are made in a few batches: one of every
successful call, made once for the class, and one per group of scripted faults.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from sdk import run_sdk_batch  # noqa: E402

WEATHER_PARAMS = {"type": "object",
                  "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                  "required": ["city", "days"]}
PERSON = {"type": "object",
          "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
USER = [{"role": "user", "content": "What is the weather in Paris?"}]

CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather",
                                                "description": "Weather for a city",
                                                "parameters": WEATHER_PARAMS}}]
RESP_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
               "parameters": WEATHER_PARAMS}]
MSG_TOOLS = [{"name": "get_weather", "description": "Weather for a city",
              "input_schema": WEATHER_PARAMS}]

# name -> (sdk, api, stream, params): every call expected to succeed.
CALLS = {
    "chat": ("openai", "chat", False, {"model": "gpt-4o", "messages": USER}),
    "chat_stream": ("openai", "chat", True,
                    {"model": "gpt-4o", "messages": USER,
                     "stream_options": {"include_usage": True}}),
    "chat_tools": ("openai", "chat", False,
                   {"model": "gpt-4o", "messages": USER, "tools": CHAT_TOOLS}),
    "chat_tools_stream": ("openai", "chat", True,
                          {"model": "gpt-4o", "messages": USER, "tools": CHAT_TOOLS}),
    "chat_json_schema": ("openai", "chat", False,
                         {"model": "gpt-4o", "messages": USER,
                          "response_format": {"type": "json_schema",
                                              "json_schema": {"name": "person", "strict": True,
                                                              "schema": PERSON}}}),
    "resp_string": ("openai", "responses", False,
                    {"model": "gpt-4o", "input": "Say hello", "instructions": "Be brief"}),
    "resp_items": ("openai", "responses", False,
                   {"model": "gpt-4o", "tools": RESP_TOOLS, "input": [
                       {"role": "user", "content": "What is the weather in Paris?"},
                       {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                        "arguments": "{\"city\":\"Paris\",\"days\":1}"},
                       {"type": "function_call_output", "call_id": "call_1",
                        "output": "{\"sky\":\"clear\"}"}]}),
    "resp_tools": ("openai", "responses", False,
                   {"model": "gpt-4o", "input": "Weather in Paris?", "tools": RESP_TOOLS}),
    "resp_json_schema": ("openai", "responses", False,
                         {"model": "gpt-4o", "input": "A person",
                          "text": {"format": {"type": "json_schema", "name": "person",
                                              "strict": True, "schema": PERSON}}}),
    "resp_stream": ("openai", "responses", True, {"model": "gpt-4o", "input": "Say hello"}),
    "resp_tools_stream": ("openai", "responses", True,
                          {"model": "gpt-4o", "input": "Weather in Paris?", "tools": RESP_TOOLS}),
    "msg_system": ("anthropic", "messages", False,
                   {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "Be brief.",
                    "messages": USER}),
    "msg_tools": ("anthropic", "messages", False,
                  {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": USER,
                   "tools": MSG_TOOLS}),
    "msg_stream": ("anthropic", "messages", True,
                   {"model": "claude-sonnet-4-5", "max_tokens": 256,
                    "system": [{"type": "text", "text": "Be brief."}], "messages": USER}),
    "msg_tools_stream": ("anthropic", "messages", True,
                         {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": USER,
                          "tools": MSG_TOOLS}),
    "models": ("openai", "models", False, {}),
    # the SDK asks for base64 unless told otherwise, and decodes it
    "embeddings": ("openai", "embeddings", False,
                   {"model": "text-embedding-3-small", "input": ["hello", "world"],
                    "dimensions": 8}),
    "completions": ("openai", "completions", False,
                    {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello"}),
    "completions_stream": ("openai", "completions", True,
                           {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello"}),
}


def spec(mock, sdk, api, stream, params, **extra):
    s = {"sdk": sdk, "api": api, "stream": stream, "base_url": mock.url, "params": params}
    s.update(extra)
    return s


def assert_weather_args(test, args):
    """Tool arguments as the tool's parameters ask: both required keys, right types."""
    test.assertIsInstance(args["city"], str)
    test.assertIsInstance(args["days"], int)


class SdkMock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = harness.Mock(latency_ms=0)
        try:
            names = list(CALLS)
            out = run_sdk_batch([spec(cls.mock, *CALLS[n]) for n in names])
            cls.out = dict(zip(names, out))
        except BaseException:
            cls.mock.stop(expect_code=None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def ok(self, name):
        r = self.out[name]
        self.assertTrue(r["ok"], "%s: %s" % (name, json.dumps(r)[:2000]))
        return r

    # OpenAI Chat Completions

    def test_chat(self):
        c = self.ok("chat")["result"]
        self.assertEqual(c["object"], "chat.completion")
        choice = c["choices"][0]
        self.assertEqual(choice["message"]["role"], "assistant")
        self.assertTrue(choice["message"]["content"].strip())
        self.assertEqual(choice["finish_reason"], "stop")
        u = c["usage"]
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

    def test_chat_stream(self):
        r = self.ok("chat_stream")
        chunks = r["events"]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
        self.assertTrue(text.strip())
        # the SDK's own accumulation (ChatCompletionStream.finalChatCompletion)
        self.assertEqual(r["final"]["text"], text)
        self.assertEqual(r["final"]["finish_reason"], "stop")
        # include_usage: a last chunk with no choices and the usage
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertGreater(r["final"]["usage"]["completion_tokens"], 0)

    def test_chat_tools(self):
        choice = self.ok("chat_tools")["result"]["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        call = choice["message"]["tool_calls"][0]
        self.assertEqual(call["type"], "function")
        self.assertEqual(call["function"]["name"], "get_weather")
        assert_weather_args(self, json.loads(call["function"]["arguments"]))

    def test_chat_tools_stream(self):
        final = self.ok("chat_tools_stream")["final"]
        self.assertEqual(final["finish_reason"], "tool_calls")
        call = final["tool_calls"][0]
        self.assertTrue(call["id"])
        self.assertEqual(call["function"]["name"], "get_weather")
        assert_weather_args(self, json.loads(call["function"]["arguments"]))

    def test_chat_json_schema(self):
        content = self.ok("chat_json_schema")["result"]["choices"][0]["message"]["content"]
        person = json.loads(content)
        self.assertIsInstance(person["name"], str)
        self.assertIsInstance(person["age"], int)

    def test_models(self):
        ids = [m["id"] for m in self.ok("models")["result"]["data"]]
        self.assertTrue(ids)

    def test_embeddings_base64(self):
        data = self.ok("embeddings")["result"]["data"]
        self.assertEqual([d["index"] for d in data], [0, 1])
        for d in data:
            v = d["embedding"]
            self.assertEqual(len(v), 8)
            self.assertTrue(all(isinstance(x, float) for x in v))
            self.assertAlmostEqual(sum(x * x for x in v), 1.0, places=3)

    def test_completions(self):
        choice = self.ok("completions")["result"]["choices"][0]
        self.assertTrue(choice["text"].strip())
        self.assertEqual(choice["finish_reason"], "stop")
        r = self.ok("completions_stream")
        self.assertTrue(all(e["object"] == "text_completion" for e in r["events"]))
        self.assertTrue(r["final"]["text"].strip())
        self.assertEqual(r["final"]["finish_reason"], "stop")

    # OpenAI Responses

    def test_responses_string_input(self):
        resp = self.ok("resp_string")["result"]
        self.assertEqual(resp["object"], "response")
        self.assertEqual(resp["status"], "completed")
        # output_text is the SDK's own join of the output_text parts
        self.assertTrue(resp["output_text"].strip())
        self.assertEqual(resp["output"][0]["type"], "message")
        u = resp["usage"]
        self.assertEqual(u["total_tokens"], u["input_tokens"] + u["output_tokens"])

    def test_responses_function_call_output_items(self):
        resp = self.ok("resp_items")["result"]
        self.assertEqual(resp["status"], "completed")
        # with the tool's output in hand, the model answers in text
        self.assertEqual(resp["output"][0]["type"], "message")
        self.assertTrue(resp["output_text"].strip())

    def test_responses_tools(self):
        resp = self.ok("resp_tools")["result"]
        call = resp["output"][0]
        self.assertEqual(call["type"], "function_call")
        self.assertEqual(call["name"], "get_weather")
        self.assertTrue(call["call_id"])
        assert_weather_args(self, json.loads(call["arguments"]))

    def test_responses_json_schema(self):
        person = json.loads(self.ok("resp_json_schema")["result"]["output_text"])
        self.assertIsInstance(person["name"], str)
        self.assertIsInstance(person["age"], int)

    def test_responses_stream(self):
        r = self.ok("resp_stream")
        events = r["events"]
        types = [e["type"] for e in events]
        self.assertEqual(types[:2], ["response.created", "response.in_progress"])
        self.assertEqual(types[-1], "response.completed")
        self.assertEqual([e["sequence_number"] for e in events], list(range(len(events))))
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        # finalResponse(), as the SDK accumulated it from the events
        final = r["final"]
        self.assertEqual(final["status"], "completed")
        self.assertEqual(final["output_text"], text)
        self.assertTrue(text.strip())

    def test_responses_tools_stream(self):
        r = self.ok("resp_tools_stream")
        types = [e["type"] for e in r["events"]]
        self.assertIn("response.function_call_arguments.delta", types)
        self.assertIn("response.function_call_arguments.done", types)
        call = r["final"]["output"][0]
        self.assertEqual(call["type"], "function_call")
        self.assertEqual(call["name"], "get_weather")
        assert_weather_args(self, json.loads(call["arguments"]))

    # Anthropic Messages

    def test_messages_system(self):
        msg = self.ok("msg_system")["result"]
        self.assertEqual(msg["type"], "message")
        self.assertEqual(msg["role"], "assistant")
        self.assertEqual(msg["content"][0]["type"], "text")
        self.assertTrue(msg["content"][0]["text"].strip())
        self.assertEqual(msg["stop_reason"], "end_turn")
        self.assertGreater(msg["usage"]["output_tokens"], 0)

    def test_messages_tools(self):
        msg = self.ok("msg_tools")["result"]
        self.assertEqual(msg["stop_reason"], "tool_use")
        block = msg["content"][-1]
        self.assertEqual(block["type"], "tool_use")
        self.assertEqual(block["name"], "get_weather")
        self.assertTrue(block["id"].startswith("toolu_"))
        assert_weather_args(self, block["input"])

    def check_event_order(self, events):
        """message_start, then per block start / deltas / stop, message_delta, message_stop."""
        types = [e["type"] for e in events]
        self.assertEqual(types[0], "message_start")
        self.assertEqual(types[-2:], ["message_delta", "message_stop"])
        self.assertEqual(events[0]["message"]["content"], [])
        open_block = None
        for e in events[1:-2]:
            if e["type"] == "content_block_start":
                self.assertIsNone(open_block)
                open_block = e["index"]
            elif e["type"] in ("content_block_delta", "content_block_stop"):
                self.assertEqual(e["index"], open_block)
                if e["type"] == "content_block_stop":
                    open_block = None
            else:
                self.fail("unexpected %s between message_start and message_delta" % e["type"])
        self.assertIsNone(open_block)

    def test_messages_stream(self):
        r = self.ok("msg_stream")
        events = r["events"]
        self.check_event_order(events)
        text = "".join(e["delta"]["text"] for e in events
                       if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta")
        # finalMessage(), as the SDK accumulated it from the events
        final = r["final"]
        self.assertEqual(final["content"], [{"type": "text", "text": text}])
        self.assertEqual(final["stop_reason"], "end_turn")
        self.assertGreater(final["usage"]["output_tokens"], 0)

    def test_messages_tools_stream(self):
        r = self.ok("msg_tools_stream")
        self.check_event_order(r["events"])
        self.assertIn("input_json_delta", [e["delta"]["type"] for e in r["events"]
                                           if e["type"] == "content_block_delta"])
        block = r["final"]["content"][-1]
        self.assertEqual(block["type"], "tool_use")
        self.assertEqual(r["final"]["stop_reason"], "tool_use")
        assert_weather_args(self, block["input"])


class SdkMockErrors(harness.TestCase):
    """The mock's scripted faults, as each SDK reports them to its user."""

    def test_error_classes(self):
        mock = self.mock()
        mock.script([{"status": 529}, {"status": 400, "error_code": "context_length_exceeded"},
                     {"status": 429, "retry_after": "7"}, {"status": 503}])
        msgs = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": USER}
        overloaded, too_long, limited, unavailable = run_sdk_batch([
            spec(mock, "anthropic", "messages", False, msgs),
            spec(mock, "openai", "chat", False, {"model": "gpt-4o", "messages": USER}),
            spec(mock, "openai", "chat", True, {"model": "gpt-4o", "messages": USER}),
            spec(mock, "openai", "responses", False, {"model": "gpt-4o", "input": "hi"}),
        ])
        self.assertEqual((overloaded["ok"], overloaded["error_class"], overloaded["status"]),
                         (False, "OverloadedError", 529))
        self.assertEqual(overloaded["error"]["type"], "error")
        self.assertEqual(overloaded["error"]["error"]["type"], "overloaded_error")

        self.assertEqual((too_long["error_class"], too_long["status"]), ("BadRequestError", 400))
        self.assertEqual(too_long["error"]["code"], "context_length_exceeded")

        self.assertEqual((limited["error_class"], limited["status"]), ("RateLimitError", 429))
        self.assertEqual(limited["headers"]["retry-after"], "7")
        self.assertEqual(limited["events"], [])

        self.assertEqual((unavailable["error_class"], unavailable["status"]),
                         ("InternalServerError", 503))
        # max_retries 0 (sdk.py's default): one request each
        self.assertEqual([r["attempts"] for r in (overloaded, too_long, limited, unavailable)],
                         [1, 1, 1, 1])

    def test_sdk_retries_honour_retry_after_ms(self):
        """The SDK retries a 529 itself, after the mock's retry-after-ms (its own backoff
        would wait at most 0.5 s)."""
        mock = self.mock()
        mock.script([{"status": 529, "retry_after_ms": 1000}])
        msgs = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": USER}
        r, = run_sdk_batch([spec(mock, "anthropic", "messages", False, msgs, max_retries=2)])
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["attempts"], 2)
        self.assertEqual(mock.stats()["requests"], 2)
        self.assertGreaterEqual(r["ms"], 1000)

    def test_stream_error_after_content(self):
        """A stream that fails after content: the events before it, then the SDK's error."""
        mock = self.mock()
        mock.script([{"stream_error_after_chunks": 3, "repeat": 3}])
        msgs = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": USER}
        anth, chat, resp = run_sdk_batch([
            spec(mock, "anthropic", "messages", True, msgs),
            spec(mock, "openai", "chat", True, {"model": "gpt-4o", "messages": USER}),
            spec(mock, "openai", "responses", True, {"model": "gpt-4o", "input": "hi"}),
        ])
        self.assertEqual((anth["ok"], anth["error_class"]), (False, "APIError"))
        self.assertEqual(anth["error"]["error"]["type"], "overloaded_error")
        self.assertEqual(anth["events"][0]["type"], "message_start")
        self.assertIn("content_block_delta", [e["type"] for e in anth["events"]])

        self.assertEqual((chat["ok"], chat["error_class"]), (False, "APIError"))
        self.assertEqual(chat["error"]["type"], "server_error")
        self.assertTrue(any(c["choices"][0]["delta"].get("content") for c in chat["events"]))

        # The OpenAI SDK's ResponseStream rejects with the `error` event itself.
        self.assertFalse(resp["ok"])
        self.assertEqual(resp["error"]["type"], "error")
        self.assertEqual(resp["error"]["code"], "server_error")
        self.assertEqual(resp["events"][-1]["type"], "error")
        self.assertIn("response.output_text.delta", [e["type"] for e in resp["events"]])

    def test_connection_refused(self):
        port = harness.free_port()
        r, = run_sdk_batch([{"sdk": "openai", "api": "chat", "base_url":
                             "http://127.0.0.1:%d/v1" % port,
                             "params": {"model": "gpt-4o", "messages": USER}}])
        self.assertEqual((r["ok"], r["error_class"], r["status"]),
                         (False, "APIConnectionError", None))


class SdkThroughGateway(harness.TestCase):
    """What the driver reads from the gateway's answers: the request id the SDK
    exposes and every x-tailgate-* header, on answers, streams and errors (Chat
    Completions here; the other formats' gateway tests use the same driver)."""

    def test_request_id_and_tailgate_headers(self):
        mock = self.mock()
        gw = harness.simple_gateway(self, mock)
        url = "http://127.0.0.1:%d/v1" % gw.port
        chat = {"model": "m", "messages": USER}
        once, streamed, unknown = run_sdk_batch([
            {"sdk": "openai", "api": "chat", "base_url": url, "params": chat,
             "headers": {"x-request-id": "sdk-req-1"}},
            {"sdk": "openai", "api": "chat", "stream": True, "base_url": url, "params": chat},
            {"sdk": "openai", "api": "chat", "base_url": url,
             "params": {"model": "nope", "messages": USER}},
        ])
        self.assertTrue(once["ok"], once)
        self.assertEqual(once["request_id"], "sdk-req-1")
        self.assertEqual(once["headers"]["x-request-id"], "sdk-req-1")
        self.assertEqual(once["headers"]["x-tailgate-route"], "m")
        self.assertEqual(once["headers"]["x-tailgate-deployment"], "d1")
        self.assertEqual(once["headers"]["x-tailgate-attempts"], "1")

        self.assertTrue(streamed["ok"], streamed)
        self.assertTrue(streamed["request_id"])
        self.assertEqual(streamed["headers"]["x-tailgate-deployment"], "d1")
        self.assertEqual(streamed["final"]["finish_reason"], "stop")

        self.assertEqual((unknown["error_class"], unknown["status"]), ("NotFoundError", 404))
        self.assertEqual(unknown["error"]["code"], "model_not_found")
        self.assertTrue(unknown["headers"]["x-request-id"])
        self.assertEqual(unknown["request_id"], unknown["headers"]["x-request-id"])


if __name__ == "__main__":
    harness.main()

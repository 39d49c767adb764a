"""The gateway driven by the official `openai` and `@anthropic-ai/sdk` npm packages
(tests/sdk, through sdk.py) in each client format: Chat Completions, Responses and
Messages reach each provider kind (anthropic, openai with and without Responses, azure,
the in-process mock), streaming and not, and what the SDK parses is what a user of the
real provider would get: the SDK's own accumulation of a stream, its tool calls, the
error class it raises for the gateway's errors (and that it does not retry when the
gateway says so), a failover from an Anthropic deployment answering 529 to an OpenAI
one, a stream cut after its commit point, and a stream hedged on its first content.
test_formats.py checks the same paths' wire bytes.

Each node start costs ~0.3 s, so the calls are made in a few batches, against one
gateway per class.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import openai_provider  # noqa: E402
from sdk import run_sdk_batch  # noqa: E402
from test_azure import KEY as AZURE_KEY, azure_provider  # noqa: E402

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {"type": "object",
           "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
           "required": ["city", "days"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather",
                                                "description": "Weather for a city",
                                                "parameters": WEATHER}}]
RESP_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
               "parameters": WEATHER}]
MSG_TOOLS = [{"name": "get_weather", "description": "Weather for a city",
              "input_schema": WEATHER}]
TOOL_OUTPUT = "{\"sky\": \"clear\", \"celsius\": 21}"

# route -> (deployment, provider, the provider's model id): one route per provider kind.
ROUTES = {
    "claude": ("claude@ant", "ant", "claude-sonnet-4"),     # anthropic: speaks Messages
    "gpt": ("gpt@oai", "oai", "gpt-4o"),                    # openai, responses = true
    "gpt-chat": ("gpt@oai-chat", "oai-chat", "gpt-4o"),     # openai, responses = false
    "azure": ("gpt@azure", "azure", "gpt-4o"),              # azure: chat only
    "local": ("local@mock", "local", "mock-1"),             # in-process mock
}
# The route each format passes through to (the provider speaks it), and one it is
# translated for.
PASS_THROUGH = {"chat": "gpt", "responses": "gpt", "messages": "claude"}
TRANSLATED = {"chat": "claude", "responses": "claude", "messages": "gpt-chat"}
SDK_OF = {"chat": "openai", "responses": "openai", "messages": "anthropic"}


class Topology:
    """`tailgate mock` upstreams for the anthropic, openai (Responses and chat-only)
    and azure providers, an in-process mock provider, one route per provider, and
    "claude-then-gpt": the anthropic deployment, falling back to the openai route."""

    def __init__(self, sections=None):
        self.procs = []
        try:
            self.ant, self.oai, self.oai_chat, self.az = [self.start(harness.Mock(latency_ms=0))
                                                          for _ in range(4)]
            sec = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
                   "degraded": {"enabled": False},
                   "retry": {"backoff_base_ms": 5, "backoff_max_ms": 10, "budget_min_per_s": 50}}
            for k, v in (sections or {}).items():
                sec.setdefault(k, {}).update(v)
            self.g = self.start(harness.Gateway(
                env={"TG_TEST_ANTHROPIC_KEY": "sk-ant-test", "TG_AZ_KEY": AZURE_KEY},
                providers=[{"name": "ant", "kind": "anthropic", "base_url": self.ant.url,
                            "api_key_env": "TG_TEST_ANTHROPIC_KEY"},
                           openai_provider("oai", self.oai),
                           openai_provider("oai-chat", self.oai_chat, responses=False),
                           azure_provider("azure", self.az),
                           {"name": "local", "kind": "mock", "mock": {"latency_ms": 0}}],
                deployments=[{"name": dep, "provider": prov, "model": model}
                             for dep, prov, model in ROUTES.values()],
                routes=[{"model": r, "deployments": [d]} for r, (d, _, _) in ROUTES.items()] +
                       [{"model": "claude-then-gpt", "deployments": ["claude@ant"],
                         "fallbacks": ["gpt"]}],
                sections=sec))
        except BaseException:
            self.stop(check=False)
            raise
        self.url = "http://127.0.0.1:%d/v1" % self.g.port

    def start(self, proc):
        self.procs.append(proc)
        return proc

    def mocks(self):
        return (self.ant, self.oai, self.oai_chat, self.az)

    def stop(self, check=True):
        errors = []
        for p in reversed(self.procs):
            try:
                p.stop(expect_code=0 if check else None)
            except AssertionError as e:
                errors.append(str(e))
        if errors and check:
            raise AssertionError("\n".join(errors))

    def spec(self, api, route, stream, params, **extra):
        """A call of the `api` format's SDK on `route`; params without "model"."""
        s = {"sdk": SDK_OF[api], "api": api, "stream": stream, "base_url": self.url,
             "params": dict(params, model=route)}
        s.update(extra)
        return s


def plain_params(api, stream):
    if api == "chat":
        p = {"messages": USER}
        if stream:
            p["stream_options"] = {"include_usage": True}
        return p
    if api == "responses":
        return {"input": "Say hello", "instructions": "Be brief"}
    return {"max_tokens": 256, "system": "Be brief.", "messages": USER}


def tool_params(api):
    if api == "chat":
        return {"messages": USER, "tools": CHAT_TOOLS}
    if api == "responses":
        return {"input": USER[0]["content"], "tools": RESP_TOOLS}
    return {"max_tokens": 256, "messages": USER, "tools": MSG_TOOLS}


def tool_call_of(api, r, stream):
    """(id, name, arguments as an object) of the one tool call in an SDK result."""
    if api == "chat":
        calls = r["final"]["tool_calls"] if stream else \
            r["result"]["choices"][0]["message"]["tool_calls"]
        assert len(calls) == 1, calls
        fn = calls[0]["function"]
        return calls[0]["id"], fn["name"], json.loads(fn["arguments"])
    if api == "responses":
        resp = r["final"] if stream else r["result"]
        calls = [o for o in resp["output"] if o["type"] == "function_call"]
        assert len(calls) == 1, resp["output"]
        return calls[0]["call_id"], calls[0]["name"], json.loads(calls[0]["arguments"])
    msg = r["final"] if stream else r["result"]
    uses = [b for b in msg["content"] if b["type"] == "tool_use"]
    assert len(uses) == 1, msg["content"]
    return uses[0]["id"], uses[0]["name"], uses[0]["input"]


def second_turn_params(api, r, stream):
    """The conversation so far, the model's tool call, and the tool's result, as a
    user of each SDK sends them back."""
    call_id, name, args = tool_call_of(api, r, stream)
    if api == "chat":
        call = {"id": call_id, "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)}}
        return {"tools": CHAT_TOOLS, "messages": USER + [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_OUTPUT}]}
    if api == "responses":
        return {"tools": RESP_TOOLS, "input": [
            {"role": "user", "content": USER[0]["content"]},
            {"type": "function_call", "call_id": call_id, "name": name,
             "arguments": json.dumps(args)},
            {"type": "function_call_output", "call_id": call_id, "output": TOOL_OUTPUT}]}
    return {"max_tokens": 256, "tools": MSG_TOOLS, "messages": USER + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": name,
                                           "input": args}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                      "content": TOOL_OUTPUT}]}]}


class Checks(unittest.TestCase):
    """What a sane answer looks like to each SDK."""

    def ok(self, r, what=""):
        self.assertTrue(r["ok"], "%s: %s" % (what, json.dumps(r)[:2000]))
        return r

    def served_by(self, r, route, deployment=None):
        h = r["headers"]
        self.assertEqual(h.get("x-tailgate-route"), route, h)
        self.assertEqual(h.get("x-tailgate-deployment"), deployment or ROUTES[route][0], h)

    def chat_once(self, c, finish="stop"):
        self.assertEqual(c["object"], "chat.completion")
        choice = c["choices"][0]
        self.assertEqual(choice["message"]["role"], "assistant")
        self.assertEqual(choice["finish_reason"], finish)
        if finish == "stop":
            self.assertTrue(choice["message"]["content"].strip())
        u = c["usage"]
        self.assertGreater(u["prompt_tokens"], 0)
        self.assertGreater(u["completion_tokens"], 0)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

    def chat_stream(self, r, usage=True):
        # Azure's first chunk carries only prompt_filter_results (as Azure's own does).
        chunks = [c for c in r["events"] if "prompt_filter_results" not in c]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks), chunks)
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"]
                    if ch.get("finish_reason")]
        self.assertEqual(len(finishes), 1, chunks)
        text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
        # ChatCompletionStream's own accumulation
        self.assertEqual(r["final"]["text"] or "", text)
        if usage:
            # stream_options.include_usage: the usage chunk last, with no choices
            self.assertEqual(chunks[-1]["choices"], [])
            self.assertGreater(r["final"]["usage"]["prompt_tokens"], 0)
            self.assertGreater(r["final"]["usage"]["completion_tokens"], 0)
        return finishes[0], text

    def responses_once(self, resp):
        self.assertEqual(resp["object"], "response")
        self.assertEqual(resp["status"], "completed")
        self.assertTrue(resp["id"].startswith("resp_"))
        u = resp["usage"]
        self.assertGreater(u["input_tokens"], 0)
        self.assertGreater(u["output_tokens"], 0)
        self.assertEqual(u["total_tokens"], u["input_tokens"] + u["output_tokens"])

    def responses_stream(self, r):
        events = r["events"]
        types = [e["type"] for e in events]
        self.assertEqual(types[:3], ["response.created", "response.in_progress",
                                     "response.output_item.added"], types)
        self.assertEqual(types[-1], "response.completed")
        self.assertEqual([e["sequence_number"] for e in events], list(range(len(events))))
        # every item added before its deltas and done after them
        for i, e in enumerate(events):
            if e["type"].endswith(".delta"):
                self.assertIn("response.output_item.added", types[:i])
        self.assertLess(types.index("response.output_item.done"), types.index("response.completed"))
        final = r["final"]
        self.assertEqual(final["status"], "completed")
        self.assertEqual(final["id"], events[0]["response"]["id"])
        self.assertGreater(final["usage"]["input_tokens"], 0)
        self.assertGreater(final["usage"]["output_tokens"], 0)
        return types, final

    def messages_once(self, msg, stop="end_turn"):
        self.assertEqual(msg["type"], "message")
        self.assertEqual(msg["role"], "assistant")
        self.assertEqual(msg["stop_reason"], stop)
        if stop == "end_turn":
            self.assertEqual(msg["content"][0]["type"], "text")
            self.assertTrue(msg["content"][0]["text"].strip())
        self.assertGreater(msg["usage"]["input_tokens"], 0)
        self.assertGreater(msg["usage"]["output_tokens"], 0)

    def messages_order(self, events):
        """message_start, then per block start / deltas / stop, message_delta,
        message_stop (pings anywhere); a cut stream ends where it was cut."""
        events = [e for e in events if e["type"] != "ping"]
        types = [e["type"] for e in events]
        self.assertEqual(types[0], "message_start")
        self.assertEqual(events[0]["message"]["content"], [])
        open_block, ended = None, types[-2:] == ["message_delta", "message_stop"]
        for e in events[1:-2] if ended else events[1:]:
            if e["type"] == "content_block_start":
                self.assertIsNone(open_block, types)
                open_block = e["index"]
            elif e["type"] in ("content_block_delta", "content_block_stop"):
                self.assertEqual(e["index"], open_block, types)
                if e["type"] == "content_block_stop":
                    open_block = None
            else:
                self.fail("%s between message_start and message_delta: %s" % (e["type"], types))
        if ended:
            self.assertIsNone(open_block, types)
        return types

    def messages_stream(self, r, stop="end_turn"):
        self.messages_order(r["events"])
        final = r["final"]
        self.assertEqual(final["stop_reason"], stop)
        self.assertGreater(final["usage"]["input_tokens"], 0)
        self.assertGreater(final["usage"]["output_tokens"], 0)
        if stop == "end_turn":
            text = "".join(e["delta"]["text"] for e in r["events"]
                           if e["type"] == "content_block_delta"
                           and e["delta"]["type"] == "text_delta")
            # MessageStream.finalMessage(), as the SDK accumulated it
            self.assertEqual(final["content"], [{"type": "text", "text": text}])
            self.assertTrue(text.strip())
        return final


class EachFormatToEachProvider(Checks):
    """Every format's SDK on every route, streaming and not; tools through a
    pass-through and a translated provider, and their second turns."""

    @classmethod
    def setUpClass(cls):
        cls.t = Topology()
        try:
            t = cls.t
            names, specs = [], []
            for route in ROUTES:
                for api in ("chat", "responses", "messages"):
                    for stream in (False, True):
                        names.append(("plain", api, route, stream))
                        specs.append(t.spec(api, route, stream, plain_params(api, stream)))
            for api in ("chat", "responses", "messages"):
                names.append(("unknown", api, "nope", False))
                specs.append(t.spec(api, "nope", False, plain_params(api, False)))
                for route in (PASS_THROUGH[api], TRANSLATED[api]):
                    for stream in (False, True):
                        names.append(("tool", api, route, stream))
                        specs.append(t.spec(api, route, stream, tool_params(api)))
            cls.out = dict(zip(names, run_sdk_batch(specs)))
            # The second turns, from what the SDK parsed of the first (a first turn that
            # failed is reported by its own test).
            names2, specs2 = [], []
            for (kind, api, route, stream), r in list(cls.out.items()):
                if kind != "tool" or not r["ok"]:
                    continue
                try:
                    params = second_turn_params(api, r, stream)
                except (AssertionError, KeyError, ValueError):
                    continue
                names2.append(("turn2", api, route, stream))
                specs2.append(t.spec(api, route, stream, params))
            cls.out.update(zip(names2, run_sdk_batch(specs2)))
        except BaseException:
            cls.t.stop(check=False)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.t.stop()

    def test_chat(self):
        for route in ROUTES:
            with self.subTest(route=route):
                r = self.ok(self.out[("plain", "chat", route, False)])
                self.served_by(r, route)
                self.chat_once(r["result"])
                self.assertEqual(r["result"]["model"], ROUTES[route][2])

    def test_chat_stream(self):
        for route in ROUTES:
            with self.subTest(route=route):
                r = self.ok(self.out[("plain", "chat", route, True)])
                self.served_by(r, route)
                finish, text = self.chat_stream(r)
                self.assertEqual(finish, "stop")
                self.assertEqual(r["final"]["finish_reason"], "stop")
                self.assertTrue(text.strip())

    def test_responses(self):
        for route in ROUTES:
            with self.subTest(route=route):
                r = self.ok(self.out[("plain", "responses", route, False)])
                self.served_by(r, route)
                resp = r["result"]
                self.responses_once(resp)
                self.assertEqual(resp["model"], ROUTES[route][2])
                self.assertEqual([o["type"] for o in resp["output"]], ["message"])
                # output_text: the SDK's own join of the output_text parts
                self.assertTrue(resp["output_text"].strip())

    def test_responses_stream(self):
        for route in ROUTES:
            with self.subTest(route=route):
                r = self.ok(self.out[("plain", "responses", route, True)])
                self.served_by(r, route)
                types, final = self.responses_stream(r)
                self.assertEqual(types[3], "response.content_part.added")
                self.assertEqual(types[-4:-1], ["response.output_text.done",
                                                "response.content_part.done",
                                                "response.output_item.done"])
                text = "".join(e["delta"] for e in r["events"]
                               if e["type"] == "response.output_text.delta")
                # ResponseStream.finalResponse(), as the SDK accumulated it
                self.assertEqual(final["output_text"], text)
                self.assertTrue(text.strip())

    def test_messages(self):
        for route in ROUTES:
            with self.subTest(route=route):
                r = self.ok(self.out[("plain", "messages", route, False)])
                self.served_by(r, route)
                self.messages_once(r["result"])
                self.assertEqual(r["result"]["model"], ROUTES[route][2])

    def test_messages_stream(self):
        for route in ROUTES:
            with self.subTest(route=route):
                r = self.ok(self.out[("plain", "messages", route, True)])
                self.served_by(r, route)
                self.messages_stream(r)

    def test_stream_identity(self):
        """A translated stream names its message / response as the answer does: an id,
        the provider's model, a creation time."""
        for route in ROUTES:
            with self.subTest(route=route, api="messages"):
                r = self.ok(self.out[("plain", "messages", route, True)])
                start = r["events"][0]["message"]
                self.assertTrue(start["id"], start)
                self.assertEqual(start["model"], ROUTES[route][2], start)
                self.assertEqual(r["final"]["id"], start["id"])
            with self.subTest(route=route, api="responses"):
                r = self.ok(self.out[("plain", "responses", route, True)])
                created = r["events"][0]["response"]
                self.assertGreater(len(created["id"]), len("resp_"), created)
                self.assertGreater(created["created_at"], 0, created)
                self.assertEqual(created["model"], ROUTES[route][2], created)

    def test_request_id_in_each_sdk(self):
        """The id the gateway gave the request is the one each SDK exposes (the
        OpenAI SDK's _request_id and APIError.request_id read x-request-id; the
        Anthropic SDK's _request_id and APIError.requestID read request-id), on
        answers and on the gateway's own errors."""
        for api in ("chat", "responses", "messages"):
            for route in ROUTES:
                with self.subTest(api=api, route=route):
                    r = self.ok(self.out[("plain", api, route, False)])
                    self.assertTrue(r["headers"]["x-request-id"])
                    self.assertEqual(r["request_id"], r["headers"]["x-request-id"])
            with self.subTest(api=api, route="nope"):
                r = self.out[("unknown", api, "nope", False)]
                self.assertEqual((r["ok"], r["status"]), (False, 404), r)
                self.assertTrue(r["headers"]["x-request-id"])
                self.assertEqual(r["request_id"], r["headers"]["x-request-id"])

    def check_tool_call(self, api, route, stream):
        r = self.ok(self.out[("tool", api, route, stream)], (api, route, stream))
        self.served_by(r, route)
        call_id, name, args = tool_call_of(api, r, stream)
        self.assertTrue(call_id)
        self.assertEqual(name, "get_weather")
        # arguments as the tool's parameters ask: both required keys, right types
        self.assertIsInstance(args["city"], str)
        self.assertIsInstance(args["days"], int)
        if api == "chat":
            finish = self.chat_stream(r, usage=False)[0] if stream else \
                r["result"]["choices"][0]["finish_reason"]
            self.assertEqual(finish, "tool_calls")
            if not stream:
                self.chat_once(r["result"], finish="tool_calls")
        elif api == "responses":
            if stream:
                types, _ = self.responses_stream(r)
                self.assertIn("response.function_call_arguments.delta", types)
                self.assertIn("response.function_call_arguments.done", types)
            else:
                self.responses_once(r["result"])
        elif stream:
            self.messages_stream(r, stop="tool_use")
            self.assertIn("input_json_delta", [e["delta"]["type"] for e in r["events"]
                                               if e["type"] == "content_block_delta"])
        else:
            self.messages_once(r["result"], stop="tool_use")

    def check_second_turn(self, api, route, stream):
        r = self.ok(self.out[("turn2", api, route, stream)], (api, route, stream))
        self.served_by(r, route)
        # with the tool's output in hand, the model answers in text
        if api == "chat":
            if stream:
                finish, text = self.chat_stream(r, usage=False)
                self.assertEqual(finish, "stop")
                self.assertTrue(text.strip())
            else:
                self.chat_once(r["result"])
        elif api == "responses":
            resp = r["final"] if stream else r["result"]
            if stream:
                self.responses_stream(r)
            else:
                self.responses_once(resp)
            self.assertEqual([o["type"] for o in resp["output"]], ["message"])
            self.assertTrue(resp["output_text"].strip())
        elif stream:
            self.messages_stream(r)
        else:
            self.messages_once(r["result"])

    def test_tools(self):
        for api in ("chat", "responses", "messages"):
            for route in (PASS_THROUGH[api], TRANSLATED[api]):
                for stream in (False, True):
                    with self.subTest(api=api, route=route, stream=stream):
                        self.check_tool_call(api, route, stream)
                        self.check_second_turn(api, route, stream)


class Faults(Checks):
    """The gateway's own errors, upstream errors, failover and cut streams, as each
    SDK reports them. Breakers stay closed (a test's failures do not leak into the
    next) and each deployment gets two attempts."""

    @classmethod
    def setUpClass(cls):
        cls.t = Topology(sections={"retry": {"max_attempts": 2},
                                   "breaker": {"failure_threshold": 1000, "min_requests": 1000}})

    @classmethod
    def tearDownClass(cls):
        cls.t.stop()

    def setUp(self):
        for m in self.t.mocks():
            m.reset()

    def test_gateway_errors_raise_the_sdk_error_class(self):
        """404 unknown model and 400 bad body, from each SDK (allowed to retry)."""
        t, retries = self.t, {"max_retries": 2}
        calls = [t.spec("chat", "nope", False, plain_params("chat", False), **retries),
                 t.spec("responses", "nope", False, plain_params("responses", False), **retries),
                 t.spec("messages", "nope", False, plain_params("messages", False), **retries),
                 t.spec("chat", "gpt", False, {}, **retries),
                 t.spec("responses", "gpt", False, {"instructions": "no input"}, **retries),
                 t.spec("messages", "claude", False, {"max_tokens": 5}, **retries),
                 t.spec("messages", "claude", True, {"max_tokens": 5, "messages": "hi"},
                        **retries)]
        out = run_sdk_batch(calls)
        for r in out[:3]:
            self.assertEqual((r["ok"], r["error_class"], r["status"]),
                             (False, "NotFoundError", 404), r)
        for r in out[3:]:
            self.assertEqual((r["ok"], r["error_class"], r["status"]),
                             (False, "BadRequestError", 400), r)
        # OpenAI's error shape, and Anthropic's with the same code
        self.assertEqual(out[0]["error"]["code"], "model_not_found")
        self.assertEqual(out[1]["error"]["code"], "model_not_found")
        self.assertEqual(out[2]["error"]["type"], "error")
        self.assertEqual(out[2]["error"]["error"]["type"], "not_found_error")
        self.assertEqual(out[2]["error"]["error"]["code"], "model_not_found")
        self.assertIn("messages", out[3]["error"]["message"])
        self.assertIn("input", out[4]["error"]["message"])
        for r in out[5:]:
            self.assertEqual(r["error"]["error"]["type"], "invalid_request_error")
            self.assertIn("messages", r["error"]["error"]["message"])
        for r in out:
            self.assertEqual(r["headers"]["x-should-retry"], "false")
            self.assertTrue(r["headers"]["x-request-id"])
            self.assertEqual(r["attempts"], 1)
        self.assertEqual(out[6]["events"], [])
        self.assertEqual(sum(m.stats()["requests"] for m in t.mocks()), 0)

    def test_every_path_failing_is_not_retried_by_the_sdk(self):
        """A 502 with the attempts made, and x-should-retry: false, which the SDKs
        obey though allowed two retries of their own."""
        t = self.t
        for m in t.mocks():
            m.script([{"status": 503, "repeat": 100}])
        cases = [(api, route, stream) for api in ("chat", "responses", "messages")
                 for route in (PASS_THROUGH[api], TRANSLATED[api]) for stream in (False, True)]
        out = run_sdk_batch([t.spec(api, route, stream, plain_params(api, stream),
                                    max_retries=2) for api, route, stream in cases])
        for (api, route, stream), r in zip(cases, out):
            with self.subTest(api=api, route=route, stream=stream):
                self.assertEqual((r["ok"], r["error_class"], r["status"]),
                                 (False, "InternalServerError", 502), r)
                self.assertEqual(r["headers"]["x-should-retry"], "false")
                self.assertEqual(r["attempts"], 1)  # the SDK did not retry
                err = r["error"]["error"] if api == "messages" else r["error"]
                if api == "messages":
                    self.assertEqual(r["error"]["type"], "error")
                    self.assertEqual(err["type"], "api_error")
                self.assertEqual(err["code"], "upstream_unavailable")
                self.assertEqual([(a["deployment"], a["outcome"], a["status"])
                                  for a in err["attempts"]],
                                 [(ROUTES[route][0], "server", 503)] * 2)
                self.assertEqual(r["headers"]["x-tailgate-attempts"], "2")
                if stream:
                    self.assertEqual(r["events"], [])
        # two gateway attempts per call, no more: nobody retried the 502
        self.assertEqual(sum(m.stats()["requests"] for m in t.mocks()), 2 * len(cases))

    def test_upstream_client_error_passed_through(self):
        """An upstream 400 that no fallback covers reaches the SDK as a BadRequestError,
        the body the upstream's where it speaks the client's format."""
        t = self.t
        t.ant.script([{"status": 400}, {"status": 400}])
        t.oai.script([{"status": 400, "error_code": "context_length_exceeded"}, {"status": 400}])
        t.oai_chat.script([{"status": 400, "error_code": "context_length_exceeded"}])
        cases = [("messages", "claude"), ("chat", "gpt"), ("responses", "gpt"),
                 ("responses", "claude"), ("messages", "gpt-chat")]
        out = run_sdk_batch([t.spec(api, route, False, plain_params(api, False), max_retries=2)
                             for api, route in cases])
        for (api, route), r in zip(cases, out):
            with self.subTest(api=api, route=route):
                self.assertEqual((r["ok"], r["error_class"], r["status"]),
                                 (False, "BadRequestError", 400), r)
                self.assertEqual(r["attempts"], 1)
                self.served_by(r, route)
                self.assertEqual(r["headers"]["x-tailgate-attempts"], "1")
        anth, chat, resp, resp_tr, msg_tr = out
        self.assertEqual(anth["error"]["type"], "error")
        self.assertEqual(anth["error"]["error"]["type"], "invalid_request_error")
        self.assertEqual(chat["error"]["code"], "context_length_exceeded")
        self.assertEqual(chat["error"]["type"], "invalid_request_error")
        self.assertEqual(resp["error"]["type"], "invalid_request_error")
        # translated: the client's format
        self.assertEqual(resp_tr["error"]["type"], "invalid_request_error")
        self.assertTrue(resp_tr["error"]["message"])
        self.assertEqual(msg_tr["error"]["type"], "error")
        self.assertEqual(msg_tr["error"]["error"]["type"], "invalid_request_error")
        self.assertTrue(msg_tr["error"]["error"]["message"])

    def test_failover_from_anthropic_529_to_openai(self):
        """The Anthropic deployment overloaded: the Anthropic SDK gets a normal
        Message and a normal stream, from the OpenAI deployment of the fallback
        route; a Responses client on the same route too."""
        t = self.t
        t.ant.script([{"status": 529, "repeat": 100}])
        once, streamed, resp = run_sdk_batch([
            t.spec("messages", "claude-then-gpt", False, plain_params("messages", False),
                   max_retries=2),
            t.spec("messages", "claude-then-gpt", True, plain_params("messages", True),
                   max_retries=2),
            t.spec("responses", "claude-then-gpt", True, plain_params("responses", True),
                   max_retries=2)])
        for r in (once, streamed, resp):
            self.ok(r)
            self.served_by(r, "gpt")
            self.assertEqual(r["headers"]["x-tailgate-fallback"], "1")
            self.assertEqual(r["headers"]["x-tailgate-attempts"], "3")
            self.assertEqual(r["attempts"], 1)
        self.messages_once(once["result"])
        self.assertEqual(once["result"]["model"], "gpt-4o")
        final = self.messages_stream(streamed)
        self.assertEqual(final["model"], "gpt-4o")
        self.assertEqual(self.responses_stream(resp)[1]["model"], "gpt-4o")
        self.assertEqual(t.ant.stats()["by_path"]["/v1/messages"], 6)
        # Messages translated to chat; Responses passed through
        by_path = t.oai.stats()["by_path"]
        self.assertEqual((by_path["/v1/chat/completions"], by_path["/v1/responses"]), (2, 1))

    def cut(self, cases):
        t = self.t
        for m in t.mocks():
            m.script([{"stream_error_after_chunks": 3, "repeat": 100}])
        return run_sdk_batch([t.spec(api, route, True, plain_params(api, True), max_retries=2)
                              for api, route in cases])

    def test_cut_stream_after_commit(self):
        """Content, then the format's in-band error, as each SDK surfaces it; the
        stream is never switched to another attempt once it has begun."""
        cases = [(api, route) for api in ("chat", "responses", "messages")
                 for route in (PASS_THROUGH[api], TRANSLATED[api])]
        out = self.cut(cases)
        for (api, route), r in zip(cases, out):
            with self.subTest(api=api, route=route):
                self.assertFalse(r["ok"], r)
                self.served_by(r, route)
                self.assertEqual(r["headers"]["x-tailgate-attempts"], "1")
                self.assertEqual(r["attempts"], 1)
                ev = r["events"]
                if api == "chat":
                    # the SDK raises APIError from the `data: {"error": ...}` chunk
                    self.assertEqual((r["error_class"], r["status"]), ("APIError", None))
                    self.assertTrue(r["error"]["message"])
                    self.assertTrue(r["error"]["type"])
                    self.assertTrue(any(ch["delta"].get("content") for c in ev
                                        for ch in c["choices"]))
                    self.assertFalse(any(ch.get("finish_reason") for c in ev
                                         for ch in c["choices"]))
                elif api == "responses":
                    # ResponseStream rejects with the `error` event itself
                    types = [e["type"] for e in ev]
                    self.assertEqual(types[0], "response.created")
                    self.assertIn("response.output_text.delta", types)
                    self.assertEqual(types[-1], "error")
                    self.assertNotIn("response.completed", types)
                    self.assertEqual(r["error"], ev[-1])
                    self.assertTrue(r["error"]["code"])
                    self.assertTrue(r["error"]["message"])
                    seq = [e["sequence_number"] for e in ev]
                    self.assertEqual(seq, list(range(len(seq))))
                else:
                    # MessageStream raises APIError from the `error` event
                    self.assertEqual((r["error_class"], r["status"]), ("APIError", None))
                    self.assertEqual(r["error"]["type"], "error")
                    self.assertTrue(r["error"]["error"]["type"])
                    self.assertTrue(r["error"]["error"]["message"])
                    types = self.messages_order(ev)
                    self.assertIn("content_block_delta", types)
                    self.assertNotIn("message_stop", types)
        self.assertEqual(sum(m.stats()["requests"] for m in self.t.mocks()), len(cases))

    def test_cut_stream_keeps_the_upstreams_error_type(self):
        """Anthropic's in-band `overloaded_error` reaches the Anthropic SDK as
        Anthropic sent it on the pass-through path (and the OpenAI formats keep it as
        their code when translated)."""
        cases = [("messages", "claude"), ("chat", "claude"), ("responses", "claude")]
        msg, chat, resp = self.cut(cases)
        self.assertEqual(chat["error"]["type"], "overloaded_error")
        self.assertEqual(resp["error"]["code"], "overloaded_error")
        self.assertEqual(msg["error"]["error"]["type"], "overloaded_error", msg["error"])


class StreamHedging(Checks, harness.TestCase):
    """A Messages and a Responses stream race on first content: the slow
    deployment's stream loses to the hedge, and the SDK sees one normal stream."""

    def setUp(self):
        super().setUp()
        mk = lambda ms: self.mock(latency_ms=ms, tokens_per_s=100)
        self.ant_slow, self.ant_fast, self.oai_slow, self.oai_fast = mk(3000), mk(10), \
            mk(3000), mk(10)
        ant = lambda name, m: {"name": name, "kind": "anthropic", "base_url": m.url,
                               "api_key_env": "TG_TEST_ANTHROPIC_KEY"}
        self.g = self.gateway(
            env={"TG_TEST_ANTHROPIC_KEY": "sk-ant-test"},
            providers=[ant("as", self.ant_slow), ant("af", self.ant_fast),
                       openai_provider("os", self.oai_slow), openai_provider("of", self.oai_fast)],
            deployments=[{"name": "claude-slow", "provider": "as", "model": "c", "weight": 1.0},
                         {"name": "claude-fast", "provider": "af", "model": "c", "weight": 0.0},
                         {"name": "gpt-slow", "provider": "os", "model": "g", "weight": 1.0},
                         {"name": "gpt-fast", "provider": "of", "model": "g", "weight": 0.0}],
            routes=[{"model": "claude", "deployments": ["claude-slow", "claude-fast"]},
                    {"model": "gpt", "deployments": ["gpt-slow", "gpt-fast"]}],
            sections={"hedge": {"enabled": True, "initial_delay_ms": 100, "min_samples": 1000},
                      "cache": {"mode": "off"}, "degraded": {"enabled": False},
                      "retry": {"budget_min_per_s": 100}})

    def test_messages_and_responses_streams_hedged_on_first_content(self):
        url = "http://127.0.0.1:%d/v1" % self.g.port
        msg, resp = run_sdk_batch([
            {"sdk": "anthropic", "api": "messages", "stream": True, "base_url": url,
             "params": dict(plain_params("messages", True), model="claude")},
            {"sdk": "openai", "api": "responses", "stream": True, "base_url": url,
             "params": dict(plain_params("responses", True), model="gpt")}])
        for r, route, fast, slow in ((msg, "claude", "claude-fast", self.ant_slow),
                                     (resp, "gpt", "gpt-fast", self.oai_slow)):
            self.ok(r, route)
            self.served_by(r, route, fast)
            self.assertEqual(r["headers"]["x-tailgate-hedge"], "won")
            self.assertLess(r["ms"], 2000)
            # the loser, cut at once
            self.assertEqual(slow.wait_stats(lambda s: s["cancelled"] == 1)["cancelled"], 1)
        self.messages_stream(msg)
        self.responses_stream(resp)


if __name__ == "__main__":
    harness.main()

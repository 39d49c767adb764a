"""Silent failures (issue: validation and the streaming commit point): 200s
that are empty, refusals, truncated or not the JSON asked for are caught and
retried or failed over; streams are held until their first content so a
stream that fails or stays silent before it can still be retried; after it,
a failure ends the stream with an error event."""

import json
import time

from harness import TestCase, main, openai_provider, sse_events


class Base(TestCase):
    def setup(self, n=1, sections=None, routes=None, **mock_opts):
        self.mocks = [self.mock(**mock_opts) for _ in range(n)]
        sec = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
               "degraded": {"enabled": False},
               "retry": {"backoff_base_ms": 10, "backoff_max_ms": 20, "budget_min_per_s": 50}}
        for k, v in (sections or {}).items():
            sec.setdefault(k, {}).update(v)
        names = "abcd"
        self.g = self.gateway(
            providers=[openai_provider("p" + names[i], m) for i, m in enumerate(self.mocks)],
            deployments=[{"name": names[i], "provider": "p" + names[i], "model": "x",
                          "weight": 1.0 if i == 0 else 0.0} for i in range(n)],
            routes=routes or [{"model": "m", "deployments": [names[i] for i in range(n)]}],
            sections=sec)
        return self.g

    def chat(self, **kw):
        h = dict(kw.pop("headers", {}))
        h["x-tailgate-debug"] = "1"
        return self.g.chat(headers=h, **kw)

    def trace(self, h):
        return [t.split(":")[1] for t in h["x-tailgate-trace"].split(",")]

    def content(self, body):
        return json.loads(body)["choices"][0]["message"]["content"]


class NonStreaming(Base):
    def test_empty_retried_once_then_moves_on(self):
        self.setup(n=2)
        self.mocks[0].script([{"content": ""}, {"content": "  "}])
        s, h, b = self.chat()
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["invalid", "invalid", "ok"])
        self.assertEqual(h["x-tailgate-deployment"], "b")
        self.assertEqual(self.g.metric("tailgate_upstream_attempts_total", deployment="a",
                                       outcome="invalid"), 2)

    def test_every_path_invalid_sends_the_last_answer_flagged(self):
        self.setup()
        self.mocks[0].script([{"content": "", "repeat": 5}])
        s, h, b = self.chat()
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-validation"], "empty")
        self.assertEqual(self.content(b), "")
        log = self.g.wait_log(lambda l: l.get("validation"))[0]
        self.assertEqual(log["validation"], "empty")

    def test_tool_call_is_not_empty(self):
        self.setup()
        tools = [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
        s, h, b = self.chat(extra={"tools": tools})
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["ok"])
        self.assertIsNone(json.loads(b)["choices"][0]["message"]["content"])

    def test_refusal(self):
        self.setup()
        self.mocks[0].script([{"content": "I can't help with that request."},
                              {"content": "  i CANNOT HELP WITH this either"}])
        s, h, b = self.chat()
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["invalid", "invalid"])
        self.assertEqual(h["x-tailgate-validation"], "refusal")

    def test_refusal_phrases_are_configurable_and_can_be_off(self):
        self.setup(sections={"validate": {"refusal_phrases": ["Nope"]}})
        self.mocks[0].script([{"content": "I can't help with that."}, {"content": "nope."}])
        s, h, b = self.chat()
        self.assertEqual(self.trace(h), ["ok"])
        s, h, b = self.chat()
        self.assertEqual(self.trace(h), ["invalid", "ok"])

    def test_truncation_flag(self):
        self.setup(output_tokens=50)
        s, h, b = self.chat(extra={"max_tokens": 5})
        self.assertEqual(s, 200)
        self.assertEqual(h["x-tailgate-truncated"], "1")
        self.assertEqual(self.trace(h), ["ok"])
        self.assertEqual(json.loads(b)["choices"][0]["finish_reason"], "length")

    def test_truncation_fail(self):
        self.setup(n=2, sections={"validate": {"truncation": "fail"}})
        self.mocks[0].script([{"finish_reason": "length", "repeat": 2}])
        s, h, b = self.chat()
        self.assertEqual(self.trace(h), ["invalid", "invalid", "ok"])
        self.assertNotIn("x-tailgate-truncated", h)

    def test_truncation_off(self):
        self.setup(sections={"validate": {"truncation": "off"}})
        self.mocks[0].script([{"finish_reason": "length"}])
        s, h, b = self.chat()
        self.assertNotIn("x-tailgate-truncated", h)

    def test_json_object_must_parse(self):
        self.setup()
        self.mocks[0].script([{"content": "Sure! Here is the JSON: {\"a\": 1}"},
                              {"content": "{\"a\": 1}"}])
        s, h, b = self.chat(extra={"response_format": {"type": "json_object"}})
        self.assertEqual(self.trace(h), ["invalid", "ok"])
        self.assertEqual(json.loads(self.content(b)), {"a": 1})

    def test_json_schema_required_keys_and_types(self):
        self.setup()
        schema = {"type": "object", "properties": {"name": {"type": "string"},
                                                    "age": {"type": "integer"}},
                  "required": ["name", "age"]}
        rf = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
        self.mocks[0].script([{"content": "{\"name\": \"x\"}"},             # age missing
                              {"content": "{\"name\": \"x\", \"age\": \"3\"}"},  # wrong type
                              {"content": "{\"name\": \"x\", \"age\": 3}"}])
        s, h, b = self.chat(extra={"response_format": rf})
        self.assertEqual(self.trace(h), ["invalid", "invalid"])
        self.assertEqual(h["x-tailgate-validation"], "schema")
        s, h, b = self.chat(extra={"response_format": rf})
        self.assertEqual(self.trace(h), ["ok"])

    def test_json_check_off(self):
        self.setup(sections={"validate": {"json": False}})
        self.mocks[0].script([{"content": "not json"}])
        s, h, b = self.chat(extra={"response_format": {"type": "json_object"}})
        self.assertEqual(self.trace(h), ["ok"])

    def test_content_filter_is_content_policy(self):
        self.setup(n=2, routes=[{"model": "m", "deployments": ["a"],
                                 "content_policy_fallbacks": ["other"]},
                                {"model": "other", "deployments": ["b"]}])
        self.mocks[0].script([{"content": "", "finish_reason": "content_filter"}])
        s, h, b = self.chat()
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["content_policy", "ok"])
        self.assertEqual(h["x-tailgate-route"], "other")

    def test_content_filter_without_fallback_passes_through(self):
        self.setup()
        self.mocks[0].script([{"content": "", "finish_reason": "content_filter"}])
        s, h, b = self.chat()
        self.assertEqual(s, 200)
        self.assertEqual(json.loads(b)["choices"][0]["finish_reason"], "content_filter")
        self.assertEqual(self.trace(h), ["content_policy"])

    def test_checks_off_per_route(self):
        self.setup(n=2, routes=[{"model": "m", "deployments": ["a"]},
                                {"model": "lax", "deployments": ["b"],
                                 "validate": {"empty": False}}])
        self.mocks[1].script([{"content": ""}])
        s, h, b = self.chat(model="lax")
        self.assertEqual(self.trace(h), ["ok"])

    def test_completions_and_embeddings_not_validated(self):
        self.setup()
        self.mocks[0].script([{"content": ""}])
        s, h, b = self.g.call("POST", "/v1/completions",
                              json.dumps({"model": "m", "prompt": "x"}), {"x-tailgate-debug": "1"})
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["ok"])


class Streaming(Base):
    def stream_chat(self, **kw):
        s, h, b = self.chat(stream=True, **kw)
        return s, h, b, sse_events(b)

    def trace(self, h):
        # a stream's headers leave at its commit point: the winner shows "streaming"
        return [t if t != "streaming" else "ok" for t in super().trace(h)]

    def test_role_only_chunk_does_not_commit(self):
        # The first attempt sends its role chunk and then fails: the client
        # sees only the retry's clean stream.
        self.setup()
        self.mocks[0].script([{"stream_error_after_chunks": 0}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(s, 200)
        self.assertEqual(self.trace(h), ["server", "ok"])
        self.assertNotIn("error", b)
        self.assertEqual(ev[-1], "[DONE]")
        roles = [e for e in ev if '"role"' in e]
        self.assertEqual(len(roles), 1)

    def test_reset_before_first_content(self):
        self.setup()
        self.mocks[0].script([{"reset_after_bytes": 60}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(self.trace(h), ["transport", "ok"])
        self.assertEqual(ev[-1], "[DONE]")

    def test_silent_past_first_byte_ms(self):
        self.setup(sections={"timeouts": {"first_byte_ms": 300}})
        self.mocks[0].script([{"hang": True}])
        t0 = time.time()
        s, h, b, ev = self.stream_chat()
        self.assertEqual(self.trace(h), ["timeout", "ok"])
        self.assertLess(time.time() - t0, 1.5)
        self.assertEqual(self.mocks[0].wait_stats(lambda x: x["cancelled"] == 1)["cancelled"], 1)

    def test_empty_stream(self):
        self.setup()
        self.mocks[0].script([{"content": ""}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(self.trace(h), ["invalid", "ok"])

    def test_refusal_caught_before_commit(self):
        self.setup()
        self.mocks[0].script([{"content": "I can't help with that request, sorry."}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(self.trace(h), ["invalid", "ok"])
        self.assertNotIn("can't", b)

    def test_opening_that_is_not_a_refusal_commits(self):
        self.setup()
        self.mocks[0].script([{"content": "I can help with that gladly."}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(self.trace(h), ["ok"])
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                       for e in ev[:-1] if json.loads(e)["choices"])
        self.assertEqual(text, "I can help with that gladly.")

    def test_failure_after_three_chunks_ends_with_an_error_event(self):
        self.setup()
        self.mocks[0].script([{"stream_error_after_chunks": 3}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(s, 200)
        content = [e for e in ev if '"content":"' in e and '"role"' not in e]
        self.assertEqual(len(content), 3)
        self.assertIn('"error"', ev[-2])
        self.assertEqual(ev[-1], "[DONE]")
        self.assertEqual(self.mocks[0].stats()["requests"], 1)  # no switching after commit
        log = self.g.wait_log(lambda l: l["term"] == "stream_broken")[0]
        self.assertEqual(log["attempts"][0]["outcome"], "server")
        self.assertEqual(self.g.metric("tailgate_upstream_attempts_total", deployment="a",
                                       outcome="ok"), 0)

    def test_reset_after_commit(self):
        self.setup(tokens_per_s=100, output_tokens=30)
        self.mocks[0].script([{"reset_after_bytes": 2500}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(s, 200)
        self.assertIn('"error"', ev[-2])
        self.assertEqual(ev[-1], "[DONE]")

    def test_error_event_in_stream_is_a_failure(self):
        self.setup(n=2)
        self.mocks[0].script([{"stream_error_after_chunks": 0, "error_type": "overloaded_error",
                               "repeat": 3}])
        s, h, b, ev = self.stream_chat()
        self.assertEqual(self.trace(h), ["server", "server", "server", "ok"])
        self.assertEqual(h["x-tailgate-deployment"], "b")


if __name__ == "__main__":
    main()

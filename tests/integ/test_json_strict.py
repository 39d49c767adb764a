"""Strict JSON (SPEC section 3, issue 11) against a real `tailgate serve`.

The upstream is a raw HTTP server in this process (a provider of kind openai)
that records every body it receives and answers with bytes the test sets, so
answers no real provider would send can be sent.

- Client bodies: every file of the corpus tests/data/json, alone and inside a
  chat request; what is not strict JSON is a 400 `invalid_request` saying what
  and where, and nothing reaches the upstream. What is, is forwarded byte for
  byte with only `model` replaced.
- Upstream answers: every file as a whole answer and inside a chat completion,
  and broken stream events: the client never gets a broken body as a 200.
- The cases issue 11 names, one by one.
- Whose text it is (util/json.h): what a client may not send (\u0000, a lone
  surrogate, a duplicate key) a provider's answer or a model's JSON may
  carry; such an answer is served as sent and never counts against the
  deployment's breaker.
"""

import http.server
import json
import os
import threading

import harness

CORPUS = os.path.join(harness.SRC, "tests", "data", "json")


def corpus(source="client"):
    """(name, bytes, accepted) for every y_/n_/i_ file, i_ as decisions.txt
    says for that source: "client" (a request body) or "provider" (an answer)."""
    column = {"client": 1, "provider": 2}[source]
    decisions = {}
    with open(os.path.join(CORPUS, "decisions.txt")) as f:
        for line in f:
            if line.startswith("i_"):
                words = line.split()
                decisions[words[0]] = words[column] == "accept"
    out = []
    for name in sorted(os.listdir(CORPUS)):
        if not name.endswith(".json") or name[1:2] != "_":
            continue
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        accepted = {"y": True, "n": False}.get(name[0], decisions.get(name))
        assert accepted is not None, name
        out.append((name, data, accepted))
    return out


class Upstream:
    """A provider that answers what it is told and keeps what it got."""

    def __init__(self):
        self.bodies = []
        self.answer = (200, "application/json", b"{}")
        self.lock = threading.Lock()
        up = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with up.lock:
                    up.bodies.append(body)
                    status, ctype, data = up.answer
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.bodies)

    def last(self):
        with self.lock:
            return self.bodies[-1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


CHAT_HEAD = b'{"model":"fast","messages":[{"role":"user","content":"hi"}],"metadata":'

ANSWER_HEAD = (b'{"id":"c1","object":"chat.completion","created":1,"model":"up-model",'
               b'"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},'
               b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,'
               b'"total_tokens":3},"extra":')
GOOD_ANSWER = ANSWER_HEAD + b"null}"

CHUNK = (b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-model",'
         b'"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]%s}')


def sse(*events):
    return b"".join(b"data: " + e + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def post(gw, body, path="/v1/chat/completions"):
    """Status, headers and body (bytes) of one POST with a raw body."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


class JsonStrictTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.up = Upstream()
        self.addCleanup(self.up.stop)
        # One attempt, no hedge, cache or degraded answer, a breaker that never
        # opens: every answer the test sets is what decides the outcome.
        self.gw = harness.simple_gateway(
            self, self.up, model="fast",
            sections={"retry": {"max_attempts": 1},
                      "hedge": {"enabled": False},
                      "cache": {"mode": "off"},
                      "degraded": {"enabled": False},
                      "breaker": {"failure_threshold": 1000000, "min_requests": 1000000}})

    def test_duplicate_keys_in_a_json_object_answer_are_valid(self):
        # The model wrote the key twice: its JSON, strict grammar, first wins.
        content = json.dumps('{"a":1,"a":2}').encode()
        answer = ANSWER_HEAD.replace(b'"hello there"', content) + b"null}"
        self.up.answer = (200, "application/json", answer)
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=30)
        conn.request("POST", "/v1/chat/completions",
                     body=CHAT_HEAD + b'null,"response_format":{"type":"json_object"}}',
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.assertEqual(resp.status, 200, data)
        self.assertIsNone(resp.getheader("x-tailgate-validation"), data)
        self.assertEqual(data, answer)

    def refused_400(self, body, why):
        before = self.up.count()
        status, data = post(self.gw, body)
        self.assertEqual(status, 400, "%s: %r" % (why, data[:300]))
        err = json.loads(data)["error"]
        self.assertEqual(err["code"], "invalid_request", why)
        self.assertIn("not valid JSON", err["message"], why)
        self.assertRegex(err["message"], r" at byte \d+$", why)
        self.assertEqual(self.up.count(), before, "%s: forwarded although refused" % why)
        return err["message"]

    def forwarded(self, body, why):
        """200, and the upstream got body with only model replaced."""
        self.up.answer = (200, "application/json", GOOD_ANSWER)
        before = self.up.count()
        status, data = post(self.gw, body)
        self.assertEqual(status, 200, "%s: %r" % (why, data[:300]))
        self.assertEqual(self.up.count(), before + 1, why)
        return self.up.last()

    # ---- client bodies ----

    def test_corpus_as_client_body(self):
        files = corpus()
        self.assertGreater(len(files), 100)
        for name, doc, accepted in files:
            if accepted:
                # Alone: never refused as broken JSON (most are no chat request).
                status, data = post(self.gw, doc)
                if status == 400:
                    self.assertNotIn(b"not valid JSON", data, name)
            else:
                self.refused_400(doc, name)

    def test_corpus_inside_a_chat_request(self):
        for name, doc, accepted in corpus():
            body = CHAT_HEAD + doc + b"}"
            # One more level of nesting takes the 256-deep cases over the limit.
            if accepted and "depth_256" not in name:
                got = self.forwarded(body, name)
                self.assertEqual(got, body.replace(b'"model":"fast"', b'"model":"up-model"', 1),
                                 name)
            else:
                self.refused_400(body, name)

    # ---- the cases issue 11 names ----

    def test_issue_cases_refused(self):
        msg = b'"messages":[{"role":"user","content":"hi"}]'
        cases = [
            (b'{"model":"fast",' + msg + b',"max_tokens":01}', "leading zero"),
            (b'{"model":"fast",' + msg + b',"temperature":1.}', "'.' without digits"),
            (b'{"model":"fast","messages":[{"role":"user","content":"a\tb"}]}',
             "raw control byte in a string"),
            (b'{"model":"fast","messages":[{"role":"user","content":"a\nb"}]}',
             "raw control byte in a string"),
            # Was routed on "fast" and forwarded with model NOT replaced.
            (b'{"model":"fast",\x00' + msg + b'}', "control byte between tokens"),
            (b'{"model":"fast",\x0b' + msg + b'}', "control byte between tokens"),
            (b'{"model":"fast",\x0c' + msg + b'}', "control byte between tokens"),
            # Was routed on "fast" while a last-wins provider serves o1-pro.
            (b'{"model":"fast","model":"o1-pro",' + msg + b'}', "duplicate key"),
            (b'{"model":"fast","mo\\u0064el":"o1-pro",' + msg + b'}', "duplicate key"),
            (b'{"model":"fast",' + msg + b',"metadata":{"a":1,"a":2}}', "duplicate key"),
        ]
        for body, what in cases:
            with self.subTest(body=body):
                text = self.refused_400(body, repr(body))
                self.assertIn(what, text)

    def test_nul_between_members_says_where(self):
        text = self.refused_400(b'{"model":"fast",\x00"messages":[]}', "nul")
        self.assertTrue(text.endswith("at byte 16"), text)

    def test_escaped_model_key_is_replaced(self):
        # cJSON reads "mo\u0064el" as "model": the scanner must too, or the
        # body goes upstream with the client's model instead of the deployment's.
        body = b'{"mo\\u0064el":"fast","messages":[{"role":"user","content":"hi"}]}'
        got = self.forwarded(body, "escaped key")
        self.assertEqual(got, b'{"mo\\u0064el":"up-model","messages":[{"role":"user","content":"hi"}]}')

    def test_strict_body_forwarded_as_is(self):
        body = b' {\r\n\t"model" : "fast" ,\n "messages":[{"role":"user","content":"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00"}], "max_tokens": 1e2 }\r\n'
        got = self.forwarded(body, "strict")
        self.assertEqual(got, body.replace(b'"fast"', b'"up-model"'))

    # ---- upstream answers ----

    def assert_not_served(self, answer, why, ctype="application/json", stream=False):
        self.up.answer = (200, ctype, answer)
        before = self.up.count()
        body = b'{"model":"fast","messages":[{"role":"user","content":"hi"}]%s}' % (
            b',"stream":true' if stream else b"")
        status, data = post(self.gw, body)
        self.assertEqual(self.up.count(), before + 1, why)
        self.assertNotEqual(status, 200, "%s: a broken answer was served: %r" % (why, data[:300]))
        if len(answer) > 16:  # short ones ("1,", ":") occur in any error text
            self.assertNotIn(answer, data, why)
        return status, data

    def test_corpus_as_upstream_answer(self):
        for name, doc, accepted in corpus("provider"):
            if not accepted:
                self.assert_not_served(doc, name)
                self.assert_not_served(ANSWER_HEAD + doc + b"}", name + " inside an answer")
            elif "depth_256" not in name:
                # Passed through untouched.
                self.up.answer = (200, "application/json", ANSWER_HEAD + doc + b"}")
                status, data = post(self.gw, CHAT_HEAD + b"null}")
                self.assertEqual(status, 200, name)
                self.assertEqual(data, ANSWER_HEAD + doc + b"}", name)

    def test_broken_stream_events(self):
        bad = [
            CHUNK % (b"hi", b',"x":01'),
            CHUNK % (b"hi", b',"x":1.'),
            CHUNK % (b"a\tb", b""),
            CHUNK % (b"hi", b',\x0b"x":1'),
            CHUNK % (b"hi", b',\x00"x":1'),
            CHUNK % (b"hi", b',"choices":[]'),  # a duplicate key
            CHUNK % (b"\xc0\xaf", b""),
        ]
        for ev in bad:
            with self.subTest(event=ev):
                self.broken_event(ev)
        # The same stream with good events is served.
        self.up.answer = (200, "text/event-stream", sse(CHUNK % (b"ok", b""), CHUNK % (b"fine", b"")))
        status, data = post(self.gw, b'{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}')
        self.assertEqual(status, 200)
        self.assertIn(b'"fine"', data)

    def broken_event(self, ev):
        # The first event broken: nothing was committed, so no 200.
        self.assert_not_served(sse(ev), repr(ev), "text/event-stream", stream=True)
        # After a good event the stream is committed; the broken one is
        # never relayed.
        self.up.answer = (200, "text/event-stream", sse(CHUNK % (b"ok", b""), ev))
        status, data = post(self.gw, b'{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}')
        self.assertNotIn(ev, data, repr(ev))


class OddEscapesInAnswers(harness.TestCase):
    """\u0000 and lone surrogates a provider sends (a model asked to print
    U+0000, a serializer that split a pair) are content: served byte for byte,
    and never a failure of the deployment, however often a client asks."""

    THRESHOLD = 2

    def setUp(self):
        super().setUp()
        self.up = Upstream()
        self.addCleanup(self.up.stop)
        self.gw = harness.simple_gateway(
            self, self.up, model="fast",
            sections={"retry": {"max_attempts": 1},
                      "hedge": {"enabled": False},
                      "cache": {"mode": "off"},
                      "degraded": {"enabled": False},
                      "breaker": {"failure_threshold": self.THRESHOLD, "min_requests": 1000,
                                  "cooldown_ms": 60000}})

    def served(self, answer, ctype="application/json", stream=False):
        self.up.answer = (200, ctype, answer)
        body = CHAT_HEAD + (b'null,"stream":true}' if stream else b"null}")
        for i in range(3 * self.THRESHOLD):
            status, data = post(self.gw, body)
            self.assertEqual(status, 200, "%r, request %d: %r" % (answer, i + 1, data[:300]))
            if stream:
                self.assertIn(answer[:-len(b"data: [DONE]\n\n")], data)
            else:
                self.assertEqual(data, answer)
        d = self.gw.status()["deployments"]["d1"]
        self.assertEqual(d["state"], "closed", d)
        self.assertEqual(d["opens_total"], 0, d)
        self.assertEqual(self.gw.metric("tailgate_breaker_opens_total"), 0)

    def test_nul_in_content(self):
        self.served(ANSWER_HEAD.replace(b'"hello there"', b'"A\\u0000B"') + b"null}")

    def test_lone_high_surrogate_in_content(self):
        self.served(ANSWER_HEAD.replace(b'"hello there"', b'"x\\ud800y"') + b"null}")

    def test_lone_low_surrogate_in_content(self):
        self.served(ANSWER_HEAD.replace(b'"hello there"', b'"\\udc00"') + b'{"k":"\\ud800"}}')

    def test_odd_escapes_in_stream_events(self):
        self.served(sse(CHUNK % (b"A\\u0000B", b""), CHUNK % (b"\\ud800", b"")),
                    "text/event-stream", stream=True)


class DuplicateKeysInToolArguments(harness.TestCase):
    """Tool-call arguments are a model's JSON: a key named twice reaches an
    Anthropic-kind deployment as the model wrote it, not as {}."""

    def test_reaches_anthropic_intact(self):
        os.environ["TG_TEST_ANTHROPIC_KEY"] = "sk-ant-test"
        ant = self.mock()
        g = self.gateway(
            providers=[{"name": "anthropic", "kind": "anthropic", "base_url": ant.url,
                        "api_key_env": "TG_TEST_ANTHROPIC_KEY"}],
            deployments=[{"name": "claude@anthropic", "provider": "anthropic",
                          "model": "claude-sonnet-4"}],
            routes=[{"model": "claude", "deployments": ["claude@anthropic"]}],
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "degraded": {"enabled": False}, "retry": {"max_attempts": 1}})
        args = '{"city":"Paris","city":"Rome","days":2}'
        body = {"model": "claude", "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}]}
        s, h, b = g.call("POST", "/v1/chat/completions", json.dumps(body))
        self.assertEqual(s, 200, b)
        sent = ant.stats()["recent"][-1]["body"]
        self.assertIn('"input":' + args, sent)


if __name__ == "__main__":
    harness.main()

"""`tailgate mock` over real HTTP on 127.0.0.1 (SPEC section 7): each API in its
wire format, streaming as chunked SSE with paced chunks, simulated latency, the
script of faults (429 + Retry-After, hang, reset after N bytes, stream errors),
/_mock/stats, /_mock/reset, bad scripts, unknown paths and methods, many
concurrent clients, and a clean exit on SIGTERM even with a request hanging.

Every mock is stopped by harness.TestCase.tearDown (or by the test itself),
which fails on a non-zero exit status or a sanitizer report.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello there"}]}
COMPL = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello"}
EMBED = {"model": "text-embedding-3-small", "input": ["hello", "world"]}
MSGS = {"model": "claude-3-5-sonnet", "max_tokens": 256,
        "messages": [{"role": "user", "content": "hello there"}]}


def streamed(body):
    b = dict(body)
    b["stream"] = True
    return b


def post(mock, path, body, headers=None, timeout=10):
    """One request on a fresh connection, closed even when the answer breaks:
    (status, headers (lower-case keys), body str)."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    if isinstance(data, str):
        data = data.encode()
    conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        conn.request("POST", path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text
    finally:
        conn.close()


def raw_request(method, path, body=b"", headers=None):
    """The bytes of one HTTP/1.1 request that asks for the connection to close."""
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1",
             "Content-Type: application/json", "Content-Length: %d" % len(body),
             "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def timed_stream(port, path, body, timeout=10.0):
    """Sends one request on a raw socket and reads to the end, noting when each
    SSE event ("\\n\\n"-terminated) arrived. Returns (raw bytes, [times])."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    start = time.monotonic()
    s.sendall(raw_request("POST", path, json.dumps(body)))
    data = b""
    times = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            now = time.monotonic() - start
            data += b
            head_end = data.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            n = data.count(b"\n\n", head_end + 4)
            while len(times) < n:
                times.append(now)
    finally:
        s.close()
    return data, times


def read_all_raw(port, data, timeout=5.0):
    """Sends raw bytes; returns (bytes received, how the connection ended:
    'close', 'reset' or 'timeout')."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    chunks = []
    how = "close"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    s.close()
    return b"".join(chunks), how


def dechunk(data):
    """The body of a complete chunked transfer (fails on a truncated one)."""
    out = []
    j = 0
    while True:
        line_end = data.index(b"\r\n", j)
        size = int(data[j:line_end], 16)
        j = line_end + 2
        out.append(data[j:j + size])
        j += size + 2
        if size == 0:
            return b"".join(out)


def events(body):
    """(event name or None, data) of each SSE event."""
    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        out.append((name, "\n".join(data)))
    return out


class MockTest(harness.TestCase):

    # ---- each API in its format ------------------------------------------

    def test_chat_completion(self):
        m = self.mock()
        status, h, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200, body)
        self.assertTrue(h["content-type"].startswith("application/json"))
        j = json.loads(body)
        self.assertEqual(j["object"], "chat.completion")
        self.assertEqual(j["model"], "gpt-4o")
        self.assertTrue(j["id"])
        self.assertEqual(j["choices"][0]["message"]["role"], "assistant")
        self.assertTrue(j["choices"][0]["message"]["content"])
        self.assertEqual(j["choices"][0]["finish_reason"], "stop")
        u = j["usage"]
        self.assertEqual(u["completion_tokens"], 16)
        self.assertGreater(u["prompt_tokens"], 0)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

    def test_completions(self):
        m = self.mock()
        status, h, body = post(m, "/v1/completions", COMPL)
        self.assertEqual(status, 200, body)
        j = json.loads(body)
        self.assertEqual(j["object"], "text_completion")
        self.assertTrue(j["choices"][0]["text"])
        self.assertEqual(j["usage"]["completion_tokens"], 16)

    def test_embeddings(self):
        m = self.mock()
        body = dict(EMBED, dimensions=32)
        status, h, text = post(m, "/v1/embeddings", body)
        self.assertEqual(status, 200, text)
        j = json.loads(text)
        self.assertEqual(j["object"], "list")
        self.assertEqual(len(j["data"]), 2)
        for i, d in enumerate(j["data"]):
            self.assertEqual(d["object"], "embedding")
            self.assertEqual(d["index"], i)
            self.assertEqual(len(d["embedding"]), 32)
            self.assertTrue(all(-1.0 <= x <= 1.0 for x in d["embedding"]))
        self.assertGreater(j["usage"]["prompt_tokens"], 0)
        self.assertEqual(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"])

    def test_messages(self):
        m = self.mock()
        status, h, body = post(m, "/v1/messages", MSGS)
        self.assertEqual(status, 200, body)
        j = json.loads(body)
        self.assertEqual(j["type"], "message")
        self.assertEqual(j["role"], "assistant")
        self.assertEqual(j["content"][0]["type"], "text")
        self.assertTrue(j["content"][0]["text"])
        self.assertEqual(j["stop_reason"], "end_turn")
        self.assertEqual(j["usage"]["output_tokens"], 16)
        self.assertGreater(j["usage"]["input_tokens"], 0)

    def test_bad_request_body(self):
        m = self.mock()
        status, _, body = post(m, "/v1/chat/completions", "{not json")
        self.assertEqual(status, 400)
        self.assertIn("error", json.loads(body))
        status, _, body = post(m, "/v1/messages", {"model": "c", "messages": []})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["type"], "error")

    def test_keep_alive_connection(self):
        m = self.mock()
        conn = http.client.HTTPConnection("127.0.0.1", m.port, timeout=10)
        for path, body in (("/v1/chat/completions", CHAT), ("/v1/completions", COMPL),
                           ("/v1/messages", MSGS), ("/v1/chat/completions", streamed(CHAT))):
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            self.assertEqual(r.status, 200, data)
        conn.close()
        self.assertEqual(m.stats()["requests"], 4)

    def test_healthz_and_models(self):
        m = self.mock()
        status, _, body = m.call("GET", "/healthz")
        self.assertEqual(status, 200)
        status, _, body = m.call("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["object"], "list")

    # ---- streaming ---------------------------------------------------------

    def test_chat_stream_is_chunked_sse(self):
        m = self.mock()
        status, h, body = post(m, "/v1/chat/completions", streamed(CHAT))
        self.assertEqual(status, 200, body)
        self.assertTrue(h["content-type"].startswith("text/event-stream"))
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        data = harness.sse_events(body)
        self.assertEqual(data[-1], "[DONE]")
        chunks = [json.loads(d) for d in data[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        self.assertTrue(text)
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(sum(1 for c in chunks if c["choices"][0]["delta"].get("content")), 16)

    def test_completions_stream(self):
        m = self.mock()
        status, h, body = post(m, "/v1/completions", streamed(COMPL))
        self.assertEqual(status, 200, body)
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        data = harness.sse_events(body)
        self.assertEqual(data[-1], "[DONE]")
        chunks = [json.loads(d) for d in data[:-1]]
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertTrue("".join(c["choices"][0]["text"] for c in chunks))

    def test_messages_stream(self):
        m = self.mock(output_tokens=5)
        status, h, body = post(m, "/v1/messages", streamed(MSGS))
        self.assertEqual(status, 200, body)
        self.assertTrue(h["content-type"].startswith("text/event-stream"))
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        names = [n for n, _ in events(body)]
        self.assertEqual(names, ["message_start", "content_block_start", "ping"]
                         + ["content_block_delta"] * 5
                         + ["content_block_stop", "message_delta", "message_stop"])
        for n, d in events(body):
            self.assertEqual(json.loads(d)["type"], n)

    def test_stream_pacing(self):
        # 50 tokens/s, 10 tokens: the content chunks spread over ~180-200 ms.
        m = self.mock(tokens_per_s=50, output_tokens=10)
        raw, times = timed_stream(m.port, "/v1/chat/completions", streamed(CHAT))
        (status, headers, body), = harness.parse_responses(raw)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("transfer-encoding"), "chunked")
        data = harness.sse_events(body.decode())
        self.assertEqual(len(data), 1 + 10 + 1 + 1)  # role, 10 tokens, finish, [DONE]
        self.assertEqual(len(times), len(data))
        content = times[1:11]
        spread = content[-1] - content[0]
        self.assertGreater(spread, 0.10, times)
        self.assertLess(spread, 1.0, times)
        self.assertEqual(content, sorted(content))
        # The chunks come spread out, not in one burst at the end.
        gaps = [b - a for a, b in zip(content, content[1:])]
        self.assertGreaterEqual(sum(1 for g in gaps if g >= 0.005), 4, gaps)

    def test_stream_unpaced_is_fast(self):
        m = self.mock(output_tokens=200)
        t0 = time.monotonic()
        status, _, body = post(m, "/v1/chat/completions", streamed(CHAT))
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(len(harness.sse_events(body)), 1 + 200 + 1 + 1)

    # ---- latency -------------------------------------------------------------

    def test_latency(self):
        m = self.start(harness.Mock(latency_ms=100))
        for path, body in (("/v1/chat/completions", CHAT), ("/v1/embeddings", EMBED),
                           ("/v1/messages", MSGS)):
            t0 = time.monotonic()
            status, _, _ = post(m, path, body)
            took = time.monotonic() - t0
            self.assertEqual(status, 200)
            self.assertGreaterEqual(took, 0.095, path)
            self.assertLess(took, 2.0, path)
        # A stream's first chunk comes after the latency too.
        raw, times = timed_stream(m.port, "/v1/chat/completions", streamed(CHAT))
        self.assertGreaterEqual(times[0], 0.095)

    def test_default_latency_is_50ms(self):
        m = self.start(harness.Mock())
        t0 = time.monotonic()
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.045)

    # ---- script faults -------------------------------------------------------

    def test_script_429_retry_after(self):
        m = self.mock()
        self.assertEqual(m.script([
            {"status": 429, "retry_after": 3},
            {"status": 429, "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT",
             "error_code": "insufficient_quota"},
            {"status": 429, "retry_after_ms": 1500},
        ])["steps"], 3)
        status, h, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 429)
        self.assertEqual(h.get("retry-after"), "3")
        self.assertEqual(json.loads(body)["error"]["code"], "rate_limit_exceeded")
        status, h, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 429)
        self.assertEqual(h.get("retry-after"), "Wed, 21 Oct 2015 07:28:00 GMT")
        self.assertEqual(json.loads(body)["error"]["code"], "insufficient_quota")
        status, h, body = post(m, "/v1/messages", MSGS)
        self.assertEqual(status, 429)
        self.assertEqual(h.get("retry-after-ms"), "1500")
        self.assertEqual(json.loads(body)["error"]["type"], "rate_limit_error")
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)

    def test_script_status_delay_repeat(self):
        m = self.mock()
        m.script([{"status": 503, "repeat": 2}, {"delay_ms": 150, "content": "slow"},
                  {"status": 500, "headers": {"x-upstream": "sick"}}])
        self.assertEqual(m.stats()["script_remaining"], 4)
        for _ in range(2):
            status, _, body = post(m, "/v1/chat/completions", CHAT)
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body)["error"]["type"], "server_error")
        t0 = time.monotonic()
        status, _, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"], "slow")
        status, h, _ = post(m, "/v1/completions", COMPL)
        self.assertEqual(status, 500)
        self.assertEqual(h.get("x-upstream"), "sick")
        self.assertEqual(m.stats()["script_remaining"], 0)

    def test_script_raw_body(self):
        m = self.mock()
        m.script([{"body": "{\"choices\": [", "status": 200}])
        status, _, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        self.assertEqual(body, "{\"choices\": [")

    def test_hang_client_timeout_cancels(self):
        m = self.mock()
        m.script([{"hang": True}])
        conn = http.client.HTTPConnection("127.0.0.1", m.port, timeout=0.5)
        t0 = time.monotonic()
        conn.request("POST", "/v1/chat/completions", json.dumps(CHAT),
                     {"Content-Type": "application/json"})
        with self.assertRaises((socket.timeout, TimeoutError)):
            conn.getresponse()
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        s = m.stats()
        self.assertEqual(s["inflight"], 1)
        conn.close()
        s = m.wait_stats(lambda s: s["cancelled"] == 1 and s["inflight"] == 0)
        self.assertEqual(s["cancelled"], 1)
        self.assertEqual(s["inflight"], 0)
        self.assertEqual(s["completed"], 0)
        # The mock still answers.
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        s = m.wait_stats(lambda s: s["completed"] == 1)
        self.assertEqual(s["completed"], 1)
        self.assertEqual(s["requests"], 2)

    def test_hang_stream_after_first_chunk(self):
        m = self.mock()
        m.script([{"hang": True}])
        s = socket.create_connection(("127.0.0.1", m.port), timeout=0.5)
        s.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(streamed(CHAT))))
        data = b""
        with self.assertRaises(socket.timeout):
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        s.close()
        self.assertIn(b"200", data.split(b"\r\n")[0])
        self.assertNotIn(b"[DONE]", data)
        st = m.wait_stats(lambda st: st["cancelled"] == 1)
        self.assertEqual((st["cancelled"], st["inflight"]), (1, 0))

    def test_reset_after_bytes(self):
        m = self.mock()
        m.script([{"reset_after_bytes": 20}])
        raw, how = read_all_raw(m.port, raw_request("POST", "/v1/chat/completions",
                                                     json.dumps(CHAT)))
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), raw)
        length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")][0])
        self.assertEqual(len(body), 20)
        self.assertGreater(length, 20)
        self.assertIn(how, ("reset", "close"))
        # Through http.client: the body is cut short.
        m.script([{"reset_after_bytes": 20}])
        with self.assertRaises((http.client.IncompleteRead, ConnectionResetError,
                                http.client.RemoteDisconnected)):
            post(m, "/v1/chat/completions", CHAT)
        s = m.wait_stats(lambda s: s["resets"] == 2 and s["inflight"] == 0)
        self.assertEqual(s["resets"], 2)
        self.assertEqual(s["inflight"], 0)

    def test_reset_before_any_byte(self):
        m = self.mock()
        m.script([{"reset_after_bytes": 0}])
        raw, how = read_all_raw(m.port, raw_request("POST", "/v1/chat/completions",
                                                     json.dumps(CHAT)))
        self.assertEqual(raw, b"")
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            m.script([{"reset_after_bytes": 0}])
            post(m, "/v1/chat/completions", CHAT)
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)

    def test_reset_mid_stream(self):
        m = self.mock(output_tokens=50)
        m.script([{"reset_after_bytes": 600}])
        raw, how = read_all_raw(m.port, raw_request("POST", "/v1/chat/completions",
                                                     json.dumps(streamed(CHAT))))
        self.assertTrue(raw.startswith(b"HTTP/1.1 200"), raw[:100])
        self.assertIn(b"chunked", raw.split(b"\r\n\r\n")[0].lower())
        self.assertNotIn(b"[DONE]", raw)
        self.assertFalse(raw.endswith(b"0\r\n\r\n"), "the chunked body must not end cleanly")
        self.assertIn(b"data: ", raw)

    def test_reset_after_more_bytes_than_the_body(self):
        m = self.mock()
        m.script([{"reset_after_bytes": 10 ** 9}])
        status, _, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        json.loads(body)
        s = m.wait_stats(lambda s: s["completed"] == 1)
        self.assertEqual((s["completed"], s["resets"]), (1, 0))

    def test_client_gone_mid_stream(self):
        m = self.mock(tokens_per_s=20, output_tokens=100)
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        s.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(streamed(CHAT))))
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        s.close()
        st = m.wait_stats(lambda st: st["cancelled"] == 1)
        self.assertEqual((st["cancelled"], st["inflight"], st["completed"]), (1, 0, 0))

    def test_slow_reader_gets_the_whole_stream(self):
        # A big stream to a client that does not read at first: the mock must
        # hold back (congestion) and then deliver every byte in order.
        n = 30000
        m = self.mock(output_tokens=n)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connect
        s.settimeout(10)
        s.connect(("127.0.0.1", m.port))
        s.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(streamed(CHAT))))
        time.sleep(0.5)
        st = m.stats()
        self.assertEqual(st["inflight"], 1)  # held back, not thrown away
        chunks = []
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            chunks.append(b)
        s.close()
        head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"))
        body = dechunk(rest).decode()
        ev = harness.sse_events(body)
        self.assertEqual(ev[-1], "[DONE]")
        self.assertEqual(len(ev), 1 + n + 1 + 1)
        st = m.wait_stats(lambda st: st["completed"] == 1)
        self.assertEqual((st["completed"], st["inflight"]), (1, 0))

    def test_pipelined_requests_answer_in_order(self):
        m = self.mock()
        m.script([{"delay_ms": 150, "content": "first"}, {"content": "second"}])
        one = raw_request("POST", "/v1/chat/completions", json.dumps(CHAT)).replace(
            b"Connection: close\r\n", b"")
        two = raw_request("POST", "/v1/chat/completions", json.dumps(CHAT))
        raw, _ = read_all_raw(m.port, one + two)
        answers = harness.parse_responses(raw)
        self.assertEqual([a[0] for a in answers], [200, 200])
        texts = [json.loads(a[2])["choices"][0]["message"]["content"] for a in answers]
        self.assertEqual(texts, ["first", "second"])

    def test_reset_with_a_request_in_flight(self):
        m = self.mock()
        m.script([{"hang": True}])
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        s.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(CHAT)))
        m.wait_stats(lambda st: st["inflight"] == 1)
        m.reset()
        st = m.stats()
        self.assertEqual((st["requests"], st["inflight"]), (0, 1))
        s.close()
        st = m.wait_stats(lambda st: st["inflight"] == 0)
        self.assertEqual((st["inflight"], st["cancelled"]), (0, 1))

    def test_stream_error_after_chunks(self):
        m = self.mock(output_tokens=10)
        m.script([{"stream_error_after_chunks": 3},
                  {"stream_error_after_chunks": 2, "error_type": "overloaded_error",
                   "error_message": "Overloaded"}])
        status, _, body = post(m, "/v1/chat/completions", streamed(CHAT))
        self.assertEqual(status, 200)
        data = harness.sse_events(body)
        parsed = [json.loads(d) for d in data if d != "[DONE]"]
        errors = [i for i, p in enumerate(parsed) if "error" in p]
        self.assertEqual(len(errors), 1, data)
        content = [p for p in parsed[:errors[0]]
                   if p.get("choices") and p["choices"][0]["delta"].get("content")]
        self.assertEqual(len(content), 3)
        self.assertFalse(any(p.get("choices") and p["choices"][0]["delta"].get("content")
                             for p in parsed[errors[0] + 1:]))
        self.assertTrue(parsed[errors[0]]["error"]["message"])
        # Anthropic: an "error" event after 2 deltas.
        status, _, body = post(m, "/v1/messages", streamed(MSGS))
        self.assertEqual(status, 200)
        evs = events(body)
        names = [n for n, _ in evs]
        self.assertEqual(names.count("content_block_delta"), 2)
        self.assertEqual(names[-1], "error")
        err = json.loads(evs[-1][1])
        self.assertEqual(err["error"]["type"], "overloaded_error")
        self.assertNotIn("message_stop", names)

    def test_empty_content(self):
        m = self.mock()
        m.script([{"content": ""}, {"content": "", "finish_reason": "content_filter"}])
        status, _, body = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200, body)
        j = json.loads(body)
        self.assertEqual(j["choices"][0]["message"]["content"], "")
        self.assertEqual(j["usage"]["completion_tokens"], 0)
        status, _, body = post(m, "/v1/messages", MSGS)
        self.assertEqual(status, 200, body)
        j = json.loads(body)
        self.assertEqual("".join(b.get("text", "") for b in j["content"]), "")
        self.assertEqual(j["stop_reason"], "refusal")

    # ---- stats, reset, bad scripts ------------------------------------------

    def test_stats_and_recent(self):
        m = self.mock()
        m.script([{"status": 503}])
        post(m, "/v1/chat/completions", CHAT)
        post(m, "/v1/completions", COMPL)
        post(m, "/v1/messages", MSGS, headers={"X-Test-Header": "abc-123",
                                               "anthropic-version": "2023-06-01"})
        s = m.wait_stats(lambda s: s["completed"] == 3)
        self.assertEqual(s["requests"], 3)
        self.assertEqual(s["inflight"], 0)
        self.assertEqual(s["completed"], 3)
        self.assertEqual(s["by_path"]["/v1/chat/completions"], 1)
        self.assertEqual(s["by_path"]["/v1/completions"], 1)
        self.assertEqual(s["by_path"]["/v1/messages"], 1)
        self.assertEqual(s["by_path"]["/v1/embeddings"], 0)
        self.assertEqual(s["by_status"], {"503": 1, "200": 2})
        self.assertEqual(s["script_remaining"], 0)
        last = s["recent"][-1]
        self.assertEqual(last["method"], "POST")
        self.assertEqual(last["path"], "/v1/messages")
        hdrs = {k.lower(): v for k, v in last["headers"].items()}
        self.assertEqual(hdrs["x-test-header"], "abc-123")
        self.assertEqual(hdrs["anthropic-version"], "2023-06-01")
        self.assertEqual(json.loads(last["body"]), MSGS)
        self.assertEqual([r["path"] for r in s["recent"]],
                         ["/v1/chat/completions", "/v1/completions", "/v1/messages"])

    def test_reset_clears(self):
        m = self.mock()
        post(m, "/v1/chat/completions", CHAT)
        m.script([{"status": 500}, {"status": 500}])
        m.reset()
        s = m.stats()
        self.assertEqual(s["requests"], 0)
        self.assertEqual(s["completed"], 0)
        self.assertEqual(s["script_remaining"], 0)
        self.assertEqual(s["by_status"], {})
        self.assertEqual(s["recent"], [])
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)  # the script is gone

    def test_reset_repeats_answers(self):
        m = self.mock()
        _, _, a = post(m, "/v1/chat/completions", CHAT)
        m.reset()
        _, _, b = post(m, "/v1/chat/completions", CHAT)
        ja, jb = json.loads(a), json.loads(b)
        self.assertEqual(ja["choices"], jb["choices"])

    def test_seed_repeats_across_processes(self):
        a = self.mock(seed=77)
        b = self.mock(seed=77)
        c = self.mock(seed=78)
        texts = []
        for m in (a, b, c):
            _, _, body = post(m, "/v1/chat/completions", CHAT)
            texts.append(json.loads(body)["choices"][0]["message"]["content"])
        self.assertEqual(texts[0], texts[1])
        self.assertNotEqual(texts[0], texts[2])

    def test_bad_script(self):
        m = self.mock()
        m.script([{"status": 418}])
        for bad, must in (("[{\"status\": 500", None), ("{\"status\": 500}", None),
                          ("[{\"status\": 500}, {\"nope\": 1}]", "step 1"),
                          ("[{\"hang\": \"yes\"}]", "step 0"), ("", None)):
            status, h, body = m.call("POST", "/_mock/script", bad)
            self.assertEqual(status, 400, bad)
            self.assertTrue(h["content-type"].startswith("application/json"))
            err = json.loads(body)["error"]
            self.assertTrue(err["message"])
            if must:
                self.assertIn(must, err["message"])
        # The old script is kept, and the mock keeps serving.
        self.assertEqual(m.stats()["script_remaining"], 1)
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 418)
        status, _, _ = post(m, "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)

    def test_unknown_path_and_method(self):
        m = self.mock()
        status, _, body = m.call("GET", "/nope")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["code"], "not_found")
        status, _, body = post(m, "/v1/chat", CHAT)
        self.assertEqual(status, 404)
        status, h, body = m.call("GET", "/v1/chat/completions")
        self.assertEqual(status, 405)
        self.assertEqual(json.loads(body)["error"]["code"], "method_not_allowed")
        self.assertIn("POST", h.get("allow", ""))
        for method, path in (("GET", "/_mock/script"), ("POST", "/_mock/stats"),
                             ("GET", "/_mock/reset"), ("PUT", "/v1/messages")):
            status, _, body = m.call(method, path, "" if method != "GET" else None)
            self.assertEqual(status, 405, (method, path))
        self.assertEqual(m.stats()["requests"], 0)

    # ---- load and shutdown ---------------------------------------------------

    def test_concurrent_requests(self):
        m = self.start(harness.Mock(latency_ms=200))
        n = 50
        results = [None] * n
        paths = [("/v1/chat/completions", CHAT), ("/v1/messages", MSGS),
                 ("/v1/completions", COMPL), ("/v1/chat/completions", streamed(CHAT)),
                 ("/v1/embeddings", EMBED)]

        def worker(i):
            path, body = paths[i % len(paths)]
            try:
                results[i] = post(m, path, body, timeout=20)[0]
            except Exception as e:  # noqa: BLE001
                results[i] = repr(e)

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200] * n)
        # Served concurrently: far less than 50 x 200 ms.
        self.assertLess(time.monotonic() - t0, 5.0)
        s = m.wait_stats(lambda s: s["completed"] == n)
        self.assertEqual(s["requests"], n)
        self.assertEqual(s["completed"], n)
        self.assertEqual(s["inflight"], 0)
        self.assertEqual(s["by_status"], {"200": n})

    def test_sigterm_with_hanging_request(self):
        m = self.mock()
        m.script([{"hang": True}, {"hang": True}])
        plain = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        plain.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(CHAT)))
        stream = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        stream.sendall(raw_request("POST", "/v1/messages", json.dumps(streamed(MSGS))))
        idle = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        s = m.wait_stats(lambda s: s["inflight"] == 2)
        self.assertEqual(s["inflight"], 2)
        t0 = time.monotonic()
        self.assertEqual(m.stop(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 5.0)
        for sock in (plain, stream, idle):
            sock.close()

    def test_sigterm_mid_stream(self):
        m = self.mock(tokens_per_s=20, output_tokens=100)
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        s.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(streamed(CHAT))))
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        self.assertEqual(m.stop(timeout=10), 0)
        s.close()

    def test_sigint_exits_cleanly(self):
        m = self.mock()
        m.script([{"hang": True}])
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        s.sendall(raw_request("POST", "/v1/chat/completions", json.dumps(CHAT)))
        m.wait_stats(lambda st: st["inflight"] == 1)
        m.signal(signal.SIGINT)
        self.assertEqual(m.proc.wait(timeout=10), 0)
        s.close()
        self.assertEqual(m.stop(), 0)  # sanitizer check

    def test_big_body_with_expect_continue(self):
        m = self.mock()
        content = "word " * 400000  # 2 MB
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]})
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        head = raw_request("POST", "/v1/chat/completions", body,
                           {"Expect": "100-continue"}).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        s.sendall(head)
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 100"))
        s.sendall(body.encode())
        data = b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        s.close()
        (status, _, answer), = harness.parse_responses(data)
        self.assertEqual(status, 200)
        usage = json.loads(answer)["usage"]
        self.assertGreater(usage["prompt_tokens"], len(content) // 6)
        recent = m.stats()["recent"][-1]
        # "recent" keeps a bounded prefix of a big body.
        self.assertTrue(body.startswith(recent["body"]))
        self.assertLess(len(recent["body"]), len(body))

    def test_error_rate_option(self):
        m = self.mock(error_rate=1, error_status=500)
        for path, body in (("/v1/chat/completions", CHAT), ("/v1/messages", MSGS)):
            status, _, text = post(m, path, body)
            self.assertEqual(status, 500)
            self.assertIn("error", json.loads(text))

    def test_bad_command_line(self):
        port = harness.free_port()
        for args in (["--bogus", "1"], ["--error-rate", "2"], ["--output-tokens", "x"],
                     ["--latency-ms"]):
            p = subprocess.run([harness.tailgate_bin(), "mock", "--listen",
                                "127.0.0.1:%d" % port] + args,
                               capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr)


# ---- what SDKs send by default: structured outputs, tools, base64 ----------

try:
    import datetime
    import decimal
    import enum
    import typing
    import uuid
    import jsonschema
    import pydantic
except ImportError:  # pragma: no cover - the checks below then skip
    jsonschema = pydantic = None


def strict_schema(schema):
    """What the OpenAI SDK's parse() sends for a pydantic model (its
    to_strict_json_schema): every object closed, every property required."""
    if isinstance(schema, dict):
        if "properties" in schema:
            schema["additionalProperties"] = False
            schema["required"] = list(schema["properties"])
        for v in schema.values():
            strict_schema(v)
    elif isinstance(schema, list):
        for v in schema:
            strict_schema(v)
    return schema


def chat_text(body, stream):
    """Choice 0's content (or tool arguments) of a chat answer; streamed
    deltas joined. Returns (text, number of pieces)."""
    if not stream:
        msg = json.loads(body)["choices"][0]["message"]
        if msg.get("tool_calls"):
            return msg["tool_calls"][0]["function"]["arguments"], 1
        return msg["content"], 1
    out, n = [], 0
    for data in harness.sse_events(body):
        if data == "[DONE]":
            continue
        for c in json.loads(data)["choices"]:
            if c["index"] != 0:
                continue
            d = c["delta"]
            frag = d.get("content") or ""
            for tc in d.get("tool_calls") or []:
                frag += tc["function"].get("arguments") or ""
            if frag:
                out.append(frag)
                n += 1
    return "".join(out), n


def messages_input(body, stream):
    """The tool_use input (or text) of an Anthropic answer; streamed
    input_json_delta / text_delta joined."""
    if not stream:
        for block in json.loads(body)["content"]:
            if block["type"] == "tool_use":
                return block["input"]
            return json.loads(block["text"])
    parts = []
    for name, data in events(body):
        if name == "content_block_delta":
            d = json.loads(data)["delta"]
            parts.append(d.get("partial_json", d.get("text", "")))
    return json.loads("".join(parts))


def decode_embedding(e, dims):
    """A base64 embedding as the SDKs decode it: little-endian float32."""
    import base64
    import struct
    raw = base64.b64decode(e)
    assert len(raw) == 4 * dims, (len(raw), dims)
    return list(struct.unpack("<%df" % dims, raw))


if pydantic is not None:
    class Genre(str, enum.Enum):
        drama = "drama"
        comedy = "comedy"

    class Actor(pydantic.BaseModel):
        name: str
        age: int
        lead: bool

    class Movie(pydantic.BaseModel):
        title: str
        year: int
        rating: float
        genre: Genre
        cast: typing.List[Actor]
        sequel: typing.Optional[str]
        language: typing.Literal["en", "fr"]

    MOVIE_SCHEMA = strict_schema(Movie.model_json_schema())

    class Node(pydantic.BaseModel):
        name: pydantic.constr(min_length=2, max_length=10)
        children: typing.List["Node"]
        parent: typing.Optional["Node"]

    class Everything(pydantic.BaseModel):
        """The field types pydantic users put in parse() models."""
        d: decimal.Decimal
        dt: datetime.datetime
        day: datetime.date
        t: datetime.time
        dur: datetime.timedelta
        u: uuid.UUID
        url: pydantic.AnyUrl
        m: typing.Dict[str, int]
        tup: typing.Tuple[str, int, bool]
        lit: typing.Literal["a", "b"]
        n: pydantic.conint(ge=10, lt=20)
        f: float = pydantic.Field(gt=0, le=1)
        items: typing.List[int] = pydantic.Field(min_length=2, max_length=4)
        tree: Node
        either: typing.Union[int, str, None]

WEATHER = {"type": "object",
           "properties": {"city": {"type": "string"},
                          "days": {"type": "integer", "minimum": 1, "maximum": 14},
                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                          "hours": {"type": "array", "items": {"type": "integer"}}},
           "required": ["city", "days", "unit", "hours"], "additionalProperties": False}


def movie_request(stream=False, n=1):
    body = dict(CHAT, n=n, response_format={
        "type": "json_schema",
        "json_schema": {"name": "Movie", "strict": True, "schema": MOVIE_SCHEMA}})
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def tool_request(stream=False, choice="required"):
    body = dict(CHAT, tool_choice=choice, parallel_tool_calls=False, tools=[
        {"type": "function", "function": {"name": "get_weather", "strict": True,
                                          "parameters": WEATHER}}])
    if stream:
        body["stream"] = True
    return body


@unittest.skipIf(pydantic is None, "pydantic and jsonschema are needed")
class StructuredTest(harness.TestCase):
    """Before: the mock answered every one of these with prose (parse()
    failed), tool arguments with placeholders, and base64 embeddings as float
    arrays (the Node SDK decoded them to zeros)."""

    def check_movie_answers(self, post_fn):
        for stream in (False, True):
            for _ in range(5):
                status, _, body = post_fn(movie_request(stream=stream, n=2))
                self.assertEqual(status, 200, body)
                text, pieces = chat_text(body, stream)
                Movie.model_validate_json(text)  # what the SDK's parse() does
                jsonschema.validate(json.loads(text), MOVIE_SCHEMA)
                if stream:
                    self.assertGreater(pieces, 5)
                    usage = json.loads(harness.sse_events(body)[-2])["usage"]
                    self.assertGreater(usage["completion_tokens"], 0)
                else:
                    j = json.loads(body)
                    self.assertEqual(len(j["choices"]), 2)
                    Movie.model_validate_json(j["choices"][1]["message"]["content"])
                    self.assertEqual(j["choices"][0]["finish_reason"], "stop")

    def check_tool_answers(self, post_fn):
        for stream in (False, True):
            status, _, body = post_fn(tool_request(stream=stream))
            self.assertEqual(status, 200, body)
            args, _ = chat_text(body, stream)
            jsonschema.validate(json.loads(args), WEATHER)

    def check_embeddings(self, post_fn):
        status, _, body = post_fn({"model": "text-embedding-3-small", "input": ["a", "b", "a"],
                                   "encoding_format": "base64", "dimensions": 256})
        self.assertEqual(status, 200, body)
        data = json.loads(body)["data"]
        self.assertEqual(len(data), 3)
        vecs = [decode_embedding(d["embedding"], 256) for d in data]
        for v in vecs:
            self.assertAlmostEqual(sum(x * x for x in v), 1.0, places=4)
            self.assertGreater(sum(1 for x in v if x != 0), 250)
        self.assertEqual(vecs[0], vecs[2])  # same text, same vector
        self.assertNotEqual(vecs[0], vecs[1])
        status, _, body = post_fn({"model": "text-embedding-3-small", "input": "b",
                                   "dimensions": 256})
        floats = json.loads(body)["data"][0]["embedding"]
        self.assertEqual(len(floats), 256)
        for x, y in zip(floats, vecs[1]):
            self.assertAlmostEqual(x, y, places=7)

    def test_json_object(self):
        m = self.mock(output_tokens=120)
        for stream in (False, True):
            body = dict(CHAT, response_format={"type": "json_object"}, stream=stream)
            status, _, text = post(m, "/v1/chat/completions", body)
            self.assertEqual(status, 200, text)
            content, _ = chat_text(text, stream)
            obj = json.loads(content)
            self.assertIsInstance(obj, dict)
            self.assertEqual(len(obj), 20)  # about output_tokens / 6 members

    def test_json_schema_parses_as_the_sdk_does(self):
        m = self.mock()
        self.check_movie_answers(lambda b: post(m, "/v1/chat/completions", b))

    def test_pydantic_field_types(self):
        """Decimal, datetimes, UUID, URL, dict, tuple, Literal, bounds and a
        recursive model: 30 answers, every one validates."""
        m = self.mock()
        schema = strict_schema(Everything.model_json_schema())
        for _ in range(30):
            body = dict(CHAT, response_format={"type": "json_schema", "json_schema": {
                "name": "Everything", "strict": True, "schema": schema}})
            status, _, text = post(m, "/v1/chat/completions", body)
            self.assertEqual(status, 200, text)
            Everything.model_validate_json(chat_text(text, False)[0])

    def test_tool_arguments_fit_parameters(self):
        m = self.mock()
        self.check_tool_answers(lambda b: post(m, "/v1/chat/completions", b))
        # auto: called when the user spoke last; none: text
        status, _, body = post(m, "/v1/chat/completions", tool_request(choice="auto"))
        self.assertEqual(json.loads(body)["choices"][0]["finish_reason"], "tool_calls")
        status, _, body = post(m, "/v1/chat/completions", tool_request(choice="none"))
        self.assertEqual(json.loads(body)["choices"][0]["finish_reason"], "stop")

    def test_anthropic_tool_use_and_output_format(self):
        m = self.mock()
        for stream in (False, True):
            body = dict(MSGS, stream=stream, tool_choice={"type": "tool", "name": "get_weather"},
                        tools=[{"name": "get_weather", "input_schema": WEATHER}])
            status, _, text = post(m, "/v1/messages", body)
            self.assertEqual(status, 200, text)
            jsonschema.validate(messages_input(text, stream), WEATHER)
            body = dict(MSGS, stream=stream,
                        output_format={"type": "json_schema", "schema": MOVIE_SCHEMA})
            status, _, text = post(m, "/v1/messages", body)
            self.assertEqual(status, 200, text)
            Movie.model_validate(messages_input(text, stream))

    def test_responses_api(self):
        """/v1/responses (before: 404): text.format json_schema parses as
        responses.parse() does, function calls fit their parameters, and a
        stream's deltas join into what response.completed holds."""
        m = self.mock()
        fmt = {"format": {"type": "json_schema", "name": "Movie", "strict": True,
                          "schema": MOVIE_SCHEMA}}
        tools = [{"type": "function", "name": "get_weather", "strict": True,
                  "parameters": WEATHER}]
        for stream in (False, True):
            for extra, check in (
                    ({"text": fmt}, lambda out: Movie.model_validate_json(
                        out["content"][0]["text"])),
                    ({"tools": tools, "tool_choice": "required"}, lambda out: jsonschema.validate(
                        json.loads(out["arguments"]), WEATHER))):
                body = dict(model="gpt-5", input="go", stream=stream, **extra)
                status, _, text = post(m, "/v1/responses", body)
                self.assertEqual(status, 200, text)
                if stream:
                    evs = events(text)
                    self.assertEqual(evs[-1][0], "response.completed")
                    resp = json.loads(evs[-1][1])["response"]
                    deltas = "".join(json.loads(d)["delta"] for name, d in evs
                                     if name.endswith(".delta"))
                    out = resp["output"][0]
                    self.assertEqual(deltas, out.get("arguments", None) or
                                     out["content"][0]["text"])
                else:
                    resp = json.loads(text)
                self.assertEqual(resp["status"], "completed")
                self.assertGreater(resp["usage"]["output_tokens"], 0)
                check(resp["output"][0])

    def test_embeddings_base64_and_dimensions(self):
        m = self.mock()
        self.check_embeddings(lambda b: post(m, "/v1/embeddings", b))
        # the Node SDK's default request: base64, no dimensions
        status, _, body = post(m, "/v1/embeddings", dict(EMBED, encoding_format="base64"))
        for d in json.loads(body)["data"]:
            self.assertEqual(len(decode_embedding(d["embedding"], 1536)), 1536)
        for bad in ({"dimensions": 0}, {"dimensions": -5}, {"dimensions": 10 ** 6},
                    {"dimensions": 2.5}, {"encoding_format": "int8"}, {"input": ""}):
            status, _, body = post(m, "/v1/embeddings", dict(EMBED, **bad))
            self.assertEqual(status, 400, (bad, body))
            self.assertEqual(json.loads(body)["error"]["type"], "invalid_request_error")

    def test_through_the_gateway(self):
        """The same answers through `tailgate serve`, with the mock over HTTP
        behind an openai provider and as an in-process mock provider."""
        m = self.mock()
        gws = [harness.simple_gateway(self, m),
               harness.simple_gateway(self, m, providers=[
                   {"name": "up", "kind": "mock", "mock": {"latency_ms": 0}}])]
        for gw in gws:
            def call(path):
                return lambda b: gw.call("POST", path, json.dumps(dict(b, model="m")))
            self.check_movie_answers(call("/v1/chat/completions"))
            self.check_tool_answers(call("/v1/chat/completions"))
            self.check_embeddings(call("/v1/embeddings"))


if __name__ == "__main__":
    harness.main()

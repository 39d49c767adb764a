"""OpenTelemetry tracing (SPEC section 9 "Tracing", and `traceparent` in
section 3) against real processes: a fake OTLP/HTTP collector in this file
takes the gateway's exports (or answers slowly, 503s, or is absent), and
`tailgate mock` records the traceparent each upstream attempt carried.

What an operator or a client sees: one server span per request and one
client span per attempt, with the attributes dashboards filter on; the
client's trace continued and the attempt's own context sent upstream; the
sampled flag obeyed; answers made at the door traced too; and export never
in the request's way: a collector that is down, slow or failing costs
spans (counted on /metrics, logged once), never latency, and the spans
waiting at SIGTERM are sent before the process exits, which stays prompt."""

import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (TestCase, chat_body, free_port, main, make_config, openai_provider,
                     parse_responses, raw_exchange, tailgate_bin)

FAST_RETRY = {"backoff_base_ms": 20, "backoff_max_ms": 40, "jitter": "none"}
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class Collector:
    """An OTLP/HTTP collector on 127.0.0.1: records every POST (path,
    headers, parsed body, the status it answered). `delay` seconds before
    each answer; the first `fail` POSTs answered `fail_status`; `answer`:
    the body of a 200 (OTLP's ExportTraceServiceResponse)."""

    def __init__(self, port=0, delay=0.0, fail=0, fail_status=503,
                 answer=b'{"partialSuccess":{}}', retry_after=None):
        self.lock = threading.Lock()
        self.posts = []
        self.delay = delay
        self.fail = fail
        self.fail_status = fail_status
        self.answer = answer
        self.retry_after = retry_after  # sent with each failure
        self.closing = threading.Event()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with collector.lock:
                    failing = collector.fail > 0
                    collector.fail -= failing
                    delay = collector.delay
                status = collector.fail_status if failing else 200
                post = {"path": self.path, "at": time.time(), "status": status,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": json.loads(raw)}
                with collector.lock:
                    collector.posts.append(post)
                if delay and collector.closing.wait(delay):
                    return  # the test is over: no answer
                data = collector.answer if status == 200 else b'{"code":14}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    if status != 200 and collector.retry_after is not None:
                        self.send_header("Retry-After", collector.retry_after)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the gateway gave up waiting

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def all_posts(self):
        with self.lock:
            return list(self.posts)

    def spans(self, accepted_only=True):
        """Every span of every POST (answered 200 when accepted_only), in order."""
        out = []
        for p in self.all_posts():
            if accepted_only and p["status"] != 200:
                continue
            for rs in p["body"]["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    out.extend(ss["spans"])
        return out

    def wait_spans(self, pred, timeout=5.0):
        """The spans, once pred(spans) holds (or the timeout passed)."""
        deadline = time.time() + timeout
        spans = self.spans()
        while not pred(spans) and time.time() < deadline:
            time.sleep(0.02)
            spans = self.spans()
        return spans


def settled(g, name, want, timeout=3.0, **labels):
    """The metric once it reads `want`, or after `timeout`: a collector has the
    spans a moment before the gateway has its answer and counts them."""
    deadline = time.time() + timeout
    value = g.metric(name, **labels)
    while value != want and time.time() < deadline:
        time.sleep(0.05)
        value = g.metric(name, **labels)
    return value


def attrs(span_or_resource):
    """Attribute key -> Python value (OTLP's JSON int64 strings as int)."""
    out = {}
    for a in span_or_resource["attributes"]:
        (kind, v), = a["value"].items()
        out[a["key"]] = int(v) if kind == "intValue" else v
    return out


def of_trace(spans, trace_id):
    return [s for s in spans if s["traceId"] == trace_id]


def server_span(spans, request_id):
    found = [s for s in spans if s["kind"] == 2 and attrs(s).get("tailgate.request_id") == request_id]
    return found[0] if len(found) == 1 else None


def children(spans, parent):
    """The client spans under a server span, in start order."""
    out = [s for s in spans if s["kind"] == 3 and s.get("parentSpanId") == parent["spanId"]]
    return sorted(out, key=lambda s: int(s["startTimeUnixNano"]))


def traceparent(trace_id=CLIENT_TRACE, span_id=CLIENT_SPAN, flags="01"):
    return "00-%s-%s-%s" % (trace_id, span_id, flags)


def chat_with_lines(port, header_lines):
    """A chat request with these (name, value) header lines, repeated names
    included: (status, headers)."""
    body = chat_body()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body))
    head += "".join("%s: %s\r\n" % line for line in header_lines)
    (status, headers, _), = parse_responses(raw_exchange(port, (head + "\r\n" + body).encode()))
    return status, headers


# Client tracestate header lines and the tracestate passed on (None: none),
# as W3C Trace Context (section 3.3) and its test suite read them: lines
# combined, OWS and empty members dropped, an invalid list discarded whole,
# a list over 512 characters cut (members over 128 first, then from the end).
LONG = ["k%02d=" % i + "y" * 36 for i in range(14)]  # 40 characters each
KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7f) if chr(c) not in ",=")
TRACESTATES = [
    (["foo=1,bar=2", "rojo=1,congo=2", "baz=3"], "foo=1,bar=2,rojo=1,congo=2,baz=3"),
    (["foo=1", ""], "foo=1"),
    (["", "foo=1"], "foo=1"),
    (["foo=1 \t , \t bar=2, \t baz=3"], "foo=1,bar=2,baz=3"),
    (["foo=1\t \t,\t \tbar=2,\t \tbaz=3"], "foo=1,bar=2,baz=3"),
    (["foo=1,,  ,bar=2"], "foo=1,bar=2"),
    (["foo=1,foo=1"], None),
    (["foo=1,foo=2"], None),
    (["foo=1", "foo=2"], None),
    (["foo =1"], None),
    (["FOO=1"], None),
    (["foo.bar=1"], None),
    (["foo@=1,bar=2"], None),
    (["@foo=1,bar=2"], None),
    (["foo@@bar=1,bar=2"], None),
    (["foo@bar@baz=1,bar=2"], None),
    (["foo=bar=baz"], None),
    (["foo=,bar=3"], None),
    (["1foo=1"], None),
    (["foo=" + "v" * 257], None),
    ([",".join("bar%02d=%02d" % (i, i) for i in range(1, 33))],
     ",".join("bar%02d=%02d" % (i, i) for i in range(1, 33))),
    ([",".join("bar%02d=%02d" % (i, i) for i in range(1, 34))], None),
    (["foo=1", "z" * 256 + "=1"], "foo=1," + "z" * 256 + "=1"),
    (["foo=1", "z" * 257 + "=1"], None),
    (["foo=1", "t" * 241 + "@" + "v" * 14 + "=1"], "foo=1," + "t" * 241 + "@" + "v" * 14 + "=1"),
    (["foo=1", "t" * 242 + "@v=1"], None),
    (["foo=1", "t@" + "v" * 15 + "=1"], None),
    ([KEY_CHARS + "=" + VALUE_CHARS], KEY_CHARS + "=" + VALUE_CHARS),
    ([KEY_CHARS + "@a-z0-9_-*/=" + VALUE_CHARS], KEY_CHARS + "@a-z0-9_-*/=" + VALUE_CHARS),
    (["big=" + "x" * 150 + "," + ",".join(LONG[:12])], ",".join(LONG[:12])),
    ([",".join(LONG)], ",".join(LONG[:12])),
]


class Base(TestCase):
    def collector(self, **kw):
        c = Collector(**kw)
        self.addCleanup(c.stop)  # after tearDown stopped the gateway
        return c

    def telemetry(self, endpoint, **kw):
        t = {"otlp_endpoint": endpoint, "flush_ms": 100, "service_name": "tg-integ",
             "headers": {"x-collector-key": "k-123"}}
        t.update(kw)
        return t

    def gateway_on(self, telemetry=None, mocks=None, deployments=None, routes=None,
                   sections=None, env=None):
        """A gateway on one mock (or `mocks`): deployment d1 on provider up, route m."""
        self.m = self.mock() if mocks is None else mocks[0]
        mocks = mocks or [self.m]
        base = {"retry": dict(FAST_RETRY), "hedge": {"enabled": False},
                "cache": {"mode": "off"}, "degraded": {"enabled": False}}
        if telemetry is not None:
            base["telemetry"] = telemetry
        base.update(sections or {})
        providers = [openai_provider("up" if i == 0 else "up%d" % i, m)
                     for i, m in enumerate(mocks)]
        deployments = deployments or [{"name": "d1", "provider": "up", "model": "up-model"}]
        routes = routes or [{"model": "m", "deployments": [d["name"] for d in deployments]}]
        self.g = self.gateway(sections=base, providers=providers, deployments=deployments,
                              routes=routes, env=env)
        return self.g

    def upstream_headers(self, mock):
        """Request headers (lower-case names) of each chat request the mock got."""
        return [{k.lower(): v for k, v in r["headers"].items()} for r in mock.stats()["recent"]
                if r["path"] == "/v1/chat/completions"]

    def chat_ok(self, g, **kw):
        s, h, b = g.chat(**kw)
        self.assertEqual(s, 200, b)
        return h

    def trace_of(self, c, request_id, n_client, timeout=5.0):
        """(server span, its client spans) of a request once all arrived."""
        def complete(spans):
            srv = server_span(spans, request_id)
            return srv is not None and len(children(spans, srv)) >= n_client
        spans = c.wait_spans(complete, timeout)
        srv = server_span(spans, request_id)
        self.assertIsNotNone(srv, "no server span for %s in %s" % (request_id, spans))
        kids = children(spans, srv)
        self.assertEqual(len(kids), n_client, kids)
        return srv, kids


class Export(Base):
    def test_one_request_one_export_with_a_server_and_a_client_span(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url), deployments=[
            {"name": "d1", "provider": "up", "model": "up-model", "input_usd_per_mtok": 2.0,
             "output_usd_per_mtok": 8.0}])
        h = self.chat_ok(g)
        rid = h["x-request-id"]
        srv, (cli,) = self.trace_of(c, rid, 1)
        time.sleep(0.3)  # three flush periods: nothing else comes
        posts = c.all_posts()
        self.assertEqual(len(posts), 1, posts)
        post = posts[0]
        self.assertEqual(post["path"], "/v1/traces")
        self.assertEqual(post["headers"]["content-type"], "application/json")
        self.assertEqual(post["headers"]["x-collector-key"], "k-123")
        (rs,) = post["body"]["resourceSpans"]
        res = attrs(rs["resource"])
        self.assertEqual(res["service.name"], "tg-integ")
        self.assertRegex(res["service.version"], r"^\d+\.\d+")
        self.assertRegex(res["service.instance.id"],
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(rs["scopeSpans"][0]["scope"]["name"], "tailgate")
        self.assertEqual(len(rs["scopeSpans"][0]["spans"]), 2)

        self.assertEqual(srv["name"], "POST /v1/chat/completions")
        self.assertRegex(srv["traceId"], HEX32)
        self.assertRegex(srv["spanId"], HEX16)
        self.assertNotIn("parentSpanId", srv)  # no client context: a root span
        sa = attrs(srv)
        self.assertEqual(sa["http.request.method"], "POST")
        self.assertEqual(sa["http.route"], "/v1/chat/completions")
        self.assertEqual(sa["http.response.status_code"], 200)
        self.assertEqual(sa["tailgate.route"], "m")
        self.assertEqual(sa["tailgate.deployment"], h["x-tailgate-deployment"])
        self.assertEqual(sa["tailgate.deployment"], "d1")
        self.assertEqual(sa["tailgate.attempts"], 1)
        self.assertEqual(sa["tailgate.stream"], False)
        self.assertGreater(sa["gen_ai.usage.input_tokens"], 0)
        self.assertGreater(sa["gen_ai.usage.output_tokens"], 0)
        self.assertAlmostEqual(sa["tailgate.cost_usd"], float(h["x-tailgate-cost-usd"]), places=9)
        self.assertAlmostEqual(sa["tailgate.cost_usd"],
                               (sa["gen_ai.usage.input_tokens"] * 2.0
                                + sa["gen_ai.usage.output_tokens"] * 8.0) / 1e6, places=12)
        self.assertNotIn("status", srv)

        self.assertEqual(cli["traceId"], srv["traceId"])
        self.assertNotEqual(cli["spanId"], srv["spanId"])
        self.assertEqual(cli["name"], "chat up-model")
        ca = attrs(cli)
        self.assertEqual(ca["tailgate.deployment"], "d1")
        self.assertEqual(ca["tailgate.provider"], "up")
        self.assertEqual(ca["gen_ai.provider.name"], "openai")
        self.assertEqual(ca["gen_ai.request.model"], "up-model")
        self.assertEqual(ca["tailgate.outcome"], "ok")
        self.assertEqual(ca["http.response.status_code"], 200)
        self.assertEqual(ca["tailgate.retry"], 0)
        self.assertIs(ca["tailgate.hedge"], False)
        self.assertEqual(ca["gen_ai.usage.input_tokens"], sa["gen_ai.usage.input_tokens"])
        self.assertEqual(ca["gen_ai.usage.output_tokens"], sa["gen_ai.usage.output_tokens"])
        self.assertAlmostEqual(ca["tailgate.cost_usd"], sa["tailgate.cost_usd"], places=12)
        self.assertNotIn("status", cli)

        # Times: the attempt inside the request, both around now.
        s0, s1 = int(srv["startTimeUnixNano"]), int(srv["endTimeUnixNano"])
        c0, c1 = int(cli["startTimeUnixNano"]), int(cli["endTimeUnixNano"])
        self.assertLessEqual(s0, c0)
        self.assertLessEqual(c0, c1)
        self.assertLessEqual(c1, s1)
        self.assertLess(abs(s0 / 1e9 - time.time()), 30)
        self.assertLess(s1 - s0, 5e9)

        # The attempt's own context went upstream.
        (up,) = self.upstream_headers(self.m)
        self.assertEqual(up["traceparent"], traceparent(cli["traceId"], cli["spanId"], "01"))
        self.assertNotIn("tracestate", up)
        self.assertEqual(settled(g, "tailgate_trace_spans_exported_total", 2), 2)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total"), 0)
        self.assertEqual(g.metric("tailgate_trace_queue_spans"), 0)

    def test_the_clients_trace_is_continued_and_its_context_sent_upstream(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        state = "vendor1=opaque,congo=t61rcWkgMzE"
        h = self.chat_ok(g, headers={"traceparent": traceparent(), "tracestate": state})
        srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
        self.assertEqual(srv["traceId"], CLIENT_TRACE)
        self.assertEqual(srv["parentSpanId"], CLIENT_SPAN)
        self.assertEqual(srv["traceState"], state)
        self.assertEqual(cli["traceId"], CLIENT_TRACE)
        self.assertEqual(cli["parentSpanId"], srv["spanId"])
        self.assertEqual(cli["traceState"], state)
        self.assertNotIn(srv["spanId"], (CLIENT_SPAN, cli["spanId"]))
        (up,) = self.upstream_headers(self.m)
        self.assertEqual(up["traceparent"], traceparent(CLIENT_TRACE, cli["spanId"], "01"))
        self.assertEqual(up["tracestate"], state)

    def test_a_long_tracestate_is_exported_whole(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        state = ",".join("vendor%02d=%s" % (i, "v" * 12) for i in range(20))  # 439 characters
        h = self.chat_ok(g, headers={"traceparent": traceparent(), "tracestate": state})
        srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
        self.assertEqual((srv["traceState"], cli["traceState"]), (state, state))
        self.assertEqual(self.upstream_headers(self.m)[0]["tracestate"], state)

    def marker(self, g, c):
        """A sampled request after the ones that must leave no span: once its
        spans arrived, anything sent before it would have too."""
        mark = "11111111111111111111111111111111"
        h = self.chat_ok(g, headers={"traceparent": traceparent(mark)})
        self.trace_of(c, h["x-request-id"], 1)
        time.sleep(0.25)
        return mark

    def test_an_unsampled_client_trace_is_not_exported_but_still_sent_upstream(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        self.chat_ok(g, headers={"traceparent": traceparent(flags="00"), "tracestate": "a=b"})
        mark = self.marker(g, c)
        self.assertEqual(of_trace(c.spans(), CLIENT_TRACE), [])
        self.assertEqual({s["traceId"] for s in c.spans()}, {mark})
        up = self.upstream_headers(self.m)[0]
        m = re.match(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-00$", up["traceparent"])
        self.assertIsNotNone(m, up)
        self.assertEqual(m.group(1), CLIENT_TRACE)
        self.assertNotEqual(m.group(2), CLIENT_SPAN)  # the attempt's own span id
        self.assertEqual(up["tracestate"], "a=b")

    def test_sample_ratio_zero_exports_no_new_trace(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url, sample_ratio=0.0))
        rids = [self.chat_ok(g)["x-request-id"] for _ in range(5)]
        self.assertEqual(g.call("GET", "/nowhere")[0], 404)
        mark = self.marker(g, c)  # a sampled client's trace is still recorded
        self.assertEqual({s["traceId"] for s in c.spans()}, {mark})
        exported = {attrs(s).get("tailgate.request_id") for s in c.spans()}
        self.assertFalse(exported & set(rids))
        ups = self.upstream_headers(self.m)
        self.assertEqual(len(ups), 6)
        ids = set()
        for up in ups[:5]:
            m = re.match(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-00$", up["traceparent"])
            self.assertIsNotNone(m, up)
            ids.add(m.group(1))
        self.assertEqual(len(ids), 5)  # a new trace each, unsampled
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total"), 0)

    def test_an_invalid_client_traceparent_starts_a_new_trace(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        bad = [traceparent(CLIENT_TRACE.upper()),
               traceparent("0" * 32),
               traceparent(span_id="0" * 16),
               "ff" + traceparent()[2:],
               traceparent() + "-extra",  # version 00 is exactly 55 characters
               traceparent()[:-1]]
        for value in bad:
            h = self.chat_ok(g, headers={"traceparent": value, "tracestate": "k=v"})
            srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
            self.assertNotIn(srv["traceId"], (CLIENT_TRACE, CLIENT_TRACE.upper(), "0" * 32), value)
            self.assertRegex(srv["traceId"], HEX32)
            self.assertNotIn("parentSpanId", srv, value)
            self.assertNotIn("traceState", srv, value)  # tracestate only beside a valid parent
            up = self.upstream_headers(self.m)[-1]
            self.assertEqual(up["traceparent"], traceparent(srv["traceId"], cli["spanId"]), value)
            self.assertNotIn("tracestate", up, value)


class TraceContext(Base):
    """Receiving traceparent and tracestate as W3C Trace Context asks."""

    def test_a_duplicated_traceparent_starts_a_new_trace(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        other = "0af7651916cd43dd8448eb211c80319c"
        s, h = chat_with_lines(g.port, [("traceparent", traceparent()),
                                        ("traceparent", traceparent(other)),
                                        ("tracestate", "foo=1")])
        self.assertEqual(s, 200)
        srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
        self.assertNotIn(srv["traceId"], (CLIENT_TRACE, other))
        self.assertNotIn("parentSpanId", srv)
        self.assertNotIn("traceState", srv)
        up = self.upstream_headers(self.m)[-1]
        self.assertEqual(up["traceparent"], traceparent(srv["traceId"], cli["spanId"]))
        self.assertNotIn("tracestate", up)

    def test_tracestate_lines_are_combined_checked_and_cut(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        for lines, passed in TRACESTATES:
            s, h = chat_with_lines(g.port, [("traceparent", traceparent())]
                                   + [("tracestate", v) for v in lines])
            self.assertEqual(s, 200, lines)
            srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
            self.assertEqual((srv["traceId"], srv["parentSpanId"]), (CLIENT_TRACE, CLIENT_SPAN))
            self.assertEqual(srv.get("traceState"), passed, lines)
            self.assertEqual(cli.get("traceState"), passed, lines)
            up = self.upstream_headers(self.m)[-1]
            self.assertEqual(up["traceparent"], traceparent(CLIENT_TRACE, cli["spanId"]))
            self.assertEqual(up.get("tracestate"), passed, lines)


class Attempts(Base):
    def test_a_retry_is_a_second_client_span(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        self.m.script([{"status": 503}])
        h = self.chat_ok(g)
        self.assertEqual(h["x-tailgate-attempts"], "2")
        srv, (first, second) = self.trace_of(c, h["x-request-id"], 2)
        sa, fa, ta = attrs(srv), attrs(first), attrs(second)
        self.assertEqual(sa["tailgate.attempts"], 2)
        self.assertEqual(sa["http.response.status_code"], 200)
        self.assertNotIn("status", srv)  # the request succeeded
        self.assertEqual((fa["tailgate.retry"], ta["tailgate.retry"]), (0, 1))
        self.assertEqual(fa["tailgate.outcome"], "server")
        self.assertEqual(fa["error.type"], "server")
        self.assertEqual(fa["http.response.status_code"], 503)
        self.assertEqual(first["status"]["code"], 2)
        self.assertIn("503", first["status"]["message"])
        self.assertEqual(ta["tailgate.outcome"], "ok")
        self.assertEqual(ta["http.response.status_code"], 200)
        self.assertNotIn("error.type", ta)
        self.assertNotIn("status", second)
        self.assertLessEqual(int(first["endTimeUnixNano"]), int(second["startTimeUnixNano"]))
        self.assertNotIn("gen_ai.usage.output_tokens", fa)
        # Each attempt carried its own span id upstream.
        ups = self.upstream_headers(self.m)
        self.assertEqual([u["traceparent"] for u in ups],
                         [traceparent(srv["traceId"], s["spanId"]) for s in (first, second)])

    def test_failover_and_fallback_show_each_deployments_span(self):
        c = self.collector()
        a, b, f = self.mock(), self.mock(), self.mock()
        g = self.gateway_on(
            self.telemetry(c.url), mocks=[a, b, f], sections={"retry": dict(FAST_RETRY,
                                                                            max_attempts=1)},
            deployments=[{"name": "a", "provider": "up", "model": "x", "weight": 1.0},
                         {"name": "b", "provider": "up1", "model": "x", "weight": 0.0},
                         {"name": "f", "provider": "up2", "model": "y"}],
            routes=[{"model": "m", "deployments": ["a", "b"], "fallbacks": ["second"]},
                    {"model": "second", "deployments": ["f"]}])
        a.script([{"status": 503}])
        h = self.chat_ok(g)
        self.assertEqual(h["x-tailgate-deployment"], "b")
        srv, kids = self.trace_of(c, h["x-request-id"], 2)
        self.assertEqual([(attrs(s)["tailgate.deployment"], attrs(s)["tailgate.outcome"])
                          for s in kids], [("a", "server"), ("b", "ok")])
        self.assertEqual((attrs(srv)["tailgate.deployment"], attrs(srv)["tailgate.route"]),
                         ("b", "m"))
        # Both deployments of the group fail: the fallback route serves.
        a.script([{"status": 500}])
        b.script([{"status": 502}])
        h = self.chat_ok(g)
        self.assertEqual(h["x-tailgate-route"], "second")
        srv, kids = self.trace_of(c, h["x-request-id"], 3)
        self.assertEqual([(attrs(s)["tailgate.deployment"], attrs(s)["tailgate.outcome"],
                           attrs(s)["http.response.status_code"]) for s in kids],
                         [("a", "server", 500), ("b", "server", 502), ("f", "ok", 200)])
        self.assertEqual([s["status"]["code"] for s in kids[:2]], [2, 2])
        sa = attrs(srv)
        self.assertEqual((sa["tailgate.deployment"], sa["tailgate.route"], sa["tailgate.attempts"]),
                         ("f", "second", 3))
        self.assertEqual(sa["gen_ai.request.model"], "m")
        self.assertEqual(attrs(kids[2])["gen_ai.request.model"], "y")

    def test_a_hedge_has_its_own_span(self):
        c = self.collector()
        slow, fast = self.mock(latency_ms=3000), self.mock(latency_ms=10)
        g = self.gateway_on(
            self.telemetry(c.url), mocks=[slow, fast],
            sections={"hedge": {"enabled": True, "initial_delay_ms": 100, "min_samples": 1000},
                      "retry": {"budget_min_per_s": 100}},
            deployments=[{"name": "slow", "provider": "up", "model": "x", "weight": 1.0},
                         {"name": "fast", "provider": "up1", "model": "x", "weight": 0.0}])
        h = self.chat_ok(g)
        self.assertEqual(h.get("x-tailgate-hedge"), "won")
        srv, (primary, hedge) = self.trace_of(c, h["x-request-id"], 2)
        pa, ha = attrs(primary), attrs(hedge)
        self.assertEqual((pa["tailgate.deployment"], pa["tailgate.hedge"], pa["tailgate.outcome"]),
                         ("slow", False, "cancelled"))
        self.assertNotIn("status", primary)  # cut by the gateway: not the provider's error
        self.assertEqual((ha["tailgate.deployment"], ha["tailgate.hedge"], ha["tailgate.outcome"]),
                         ("fast", True, "ok"))
        self.assertGreaterEqual(int(hedge["startTimeUnixNano"]) - int(primary["startTimeUnixNano"]),
                                90e6)  # started initial_delay_ms after the primary
        self.assertEqual(attrs(srv)["tailgate.deployment"], "fast")
        self.assertEqual(attrs(srv)["tailgate.attempts"], 2)

    def test_a_stream_records_its_time_to_first_token(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        s, h, b = g.chat(stream=True)
        self.assertEqual(s, 200, b)
        self.assertIn("[DONE]", b)
        srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
        ca, sa = attrs(cli), attrs(srv)
        self.assertIs(sa["tailgate.stream"], True)
        ttft = ca["tailgate.time_to_first_token_ms"]
        self.assertGreater(ttft, 0)
        self.assertLessEqual(ttft, (int(cli["endTimeUnixNano"]) - int(cli["startTimeUnixNano"])) / 1e6)
        self.assertEqual(ca["tailgate.outcome"], "ok")
        self.assertGreater(ca["gen_ai.usage.output_tokens"], 0)
        self.assertEqual(sa["gen_ai.usage.output_tokens"], ca["gen_ai.usage.output_tokens"])
        # A chat request's answer carries none: no first token to time.
        h = self.chat_ok(g)
        _, (cli,) = self.trace_of(c, h["x-request-id"], 1)
        self.assertNotIn("tailgate.time_to_first_token_ms", attrs(cli))


class Door(Base):
    def test_answers_made_at_the_door_have_a_server_span(self):
        import hashlib
        c = self.collector()
        key = "sk-trace-door-1"
        g = self.gateway_on(self.telemetry(c.url), sections={"auth": {"keys": [
            {"name": "team", "key_sha256": hashlib.sha256(key.encode()).hexdigest()}]}})
        auth = {"Authorization": "Bearer " + key}
        cases = [
            (g.chat(headers={"traceparent": traceparent()}), 401, "POST /v1/chat/completions",
             None),
            (g.call("POST", "/v1/nothing", "{}", auth), 404, "POST", "team"),
            (g.call("POST", "/v1/chat/completions", '{"model": "m", "messages": [', auth), 400,
             "POST /v1/chat/completions", "team"),
            (g.call("GET", "/v1/models", None, auth), 200, "GET /v1/models", "team"),
        ]
        for (s, h, b), status, name, key_name in cases:
            self.assertEqual(s, status, b)
            spans = c.wait_spans(lambda sp: server_span(sp, h["x-request-id"]))
            srv = server_span(spans, h["x-request-id"])
            self.assertIsNotNone(srv, (status, spans))
            a = attrs(srv)
            self.assertEqual((srv["kind"], srv["name"]), (2, name))
            self.assertEqual(a["http.response.status_code"], status)
            self.assertEqual(a.get("tailgate.key"), key_name)
            self.assertEqual(a["tailgate.outcome"], "answered" if status < 400 else "refused")
            self.assertNotIn("status", srv)  # the client's mistake, not the gateway's error
            self.assertEqual(children(spans, srv), [])
        door401 = server_span(c.spans(), cases[0][0][1]["x-request-id"])
        self.assertEqual((door401["traceId"], door401["parentSpanId"]), (CLIENT_TRACE, CLIENT_SPAN))
        self.assertEqual(self.upstream_headers(self.m), [])

    def test_requests_the_connection_refuses_have_a_server_span(self):
        c = self.collector()
        self.m = self.mock()
        g = self.gateway(server={"max_body_bytes": 1024, "max_headers": 20},
                         sections={"telemetry": self.telemetry(c.url)},
                         providers=[openai_provider("up", self.m)],
                         deployments=[{"name": "d1", "provider": "up", "model": "x"}],
                         routes=[{"model": "m", "deployments": ["d1"]}])
        s, h, _ = g.call("POST", "/v1/chat/completions", "x" * 2000,
                         {"traceparent": traceparent()})
        self.assertEqual(s, 413)
        srv = server_span(c.wait_spans(lambda sp: server_span(sp, h["x-request-id"])),
                          h["x-request-id"])
        self.assertEqual((srv["name"], srv["parentSpanId"]),
                         ("POST /v1/chat/completions", CLIENT_SPAN))
        self.assertEqual(attrs(srv)["http.response.status_code"], 413)
        # Refused before the method was known: named "HTTP", the method
        # "_OTHER" (OpenTelemetry's HTTP conventions).
        many = "".join("x-h%d: v\r\n" % i for i in range(30))
        for raw, status in ((b"GARBAGE\r\n\r\n", 400),
                            (("GET /v1/models HTTP/1.1\r\nHost: x\r\n%s\r\n" % many).encode(), 431)):
            (got, headers, _), = parse_responses(raw_exchange(g.port, raw))
            self.assertEqual(got, status)
            rid = headers["x-request-id"]
            srv = server_span(c.wait_spans(lambda sp: server_span(sp, rid)), rid)
            self.assertEqual(srv["name"], "HTTP")
            a = attrs(srv)
            self.assertEqual((a["http.request.method"], a["http.response.status_code"]),
                             ("_OTHER", status))
            self.assertEqual(a["tailgate.outcome"], "refused")


class Reload(Base):
    def test_a_reload_keeps_the_tracer_and_tells_when_telemetry_changed(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        server = {"listen": "127.0.0.1:%d" % g.port,
                  "admin_listen": "127.0.0.1:%d" % g.admin_port, "access_log": "-"}
        parts = dict(providers=[openai_provider("up", self.m)],
                     deployments=[{"name": "d2", "provider": "up", "model": "up-model-2"}],
                     routes=[{"model": "m", "deployments": ["d2"]}])
        g.rewrite(make_config(server=server, sections={"telemetry": self.telemetry(
            c.url, service_name="renamed")}, **parts))
        g.reload()
        deadline = time.time() + 5
        while g.metric("tailgate_config_reloads_total", result="ok") < 1 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(g.metric("tailgate_config_reloads_total", result="ok"), 1)
        self.assertIn("reload_restart_needed", g.stderr())
        h = self.chat_ok(g)
        srv, (cli,) = self.trace_of(c, h["x-request-id"], 1)
        self.assertEqual(attrs(cli)["tailgate.deployment"], "d2")  # the new routes
        post = [p for p in c.all_posts() if srv in p["body"]["resourceSpans"][0]["scopeSpans"][0]
                ["spans"]][0]
        # [telemetry] applies on restart: the tracer, its name and collector stay.
        self.assertEqual(attrs(post["body"]["resourceSpans"][0]["resource"])["service.name"],
                         "tg-integ")

class WithoutTelemetry(Base):
    def test_the_clients_context_is_passed_upstream_unchanged(self):
        g = self.gateway_on(None)
        value = traceparent(flags="01")
        self.chat_ok(g, headers={"traceparent": value, "tracestate": "v=1"})
        self.chat_ok(g)
        self.chat_ok(g, headers={"traceparent": traceparent(CLIENT_TRACE.upper())})
        with_ctx, without, invalid = self.upstream_headers(self.m)
        self.assertEqual(with_ctx["traceparent"], value)
        self.assertEqual(with_ctx["tracestate"], "v=1")
        self.assertNotIn("traceparent", without)
        self.assertNotIn("tracestate", without)
        self.assertNotIn("traceparent", invalid)
        self.assertNotIn("tailgate_trace_", g.metrics())
        # Read as with [telemetry]: two traceparents are none, tracestate
        # lines combined and checked.
        chat_with_lines(g.port, [("traceparent", value), ("traceparent", value)])
        self.assertNotIn("traceparent", self.upstream_headers(self.m)[-1])
        chat_with_lines(g.port, [("traceparent", value), ("tracestate", "a=1 "),
                                 ("tracestate", " b=2")])
        up = self.upstream_headers(self.m)[-1]
        self.assertEqual((up["traceparent"], up["tracestate"]), (value, "a=1,b=2"))
        chat_with_lines(g.port, [("traceparent", value), ("tracestate", "a=1,A=2")])
        self.assertNotIn("tracestate", self.upstream_headers(self.m)[-1])


class CollectorTrouble(Base):
    def test_collector_down_costs_spans_not_answers(self):
        port = free_port()  # nothing listens there
        g = self.gateway_on(self.telemetry("http://127.0.0.1:%d" % port))
        slowest = 0.0
        for _ in range(50):
            t0 = time.time()
            self.chat_ok(g)
            slowest = max(slowest, time.time() - t0)
        self.assertLess(slowest, 1.0)
        # The first batch fails, is retried 1 s and 2 s later, then dropped.
        deadline = time.time() + 8
        while (g.metric("tailgate_trace_spans_dropped_total", reason="export_failed") == 0
               and time.time() < deadline):
            time.sleep(0.1)
        dropped = g.metric("tailgate_trace_spans_dropped_total", reason="export_failed")
        self.assertGreater(dropped, 0)
        self.assertGreaterEqual(g.metric("tailgate_trace_export_failures_total"), 3)
        self.assertEqual(g.metric("tailgate_trace_spans_exported_total"), 0)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total", reason="queue_full"), 0)
        self.assertLessEqual(dropped + g.metric("tailgate_trace_queue_spans"), 100)
        warns = [l for l in g.stderr().splitlines() if "trace_export_failed" in l]
        self.assertEqual(len(warns), 1, warns)
        self.assertIn(str(port), warns[0])
        # The collector comes up on that port: the next exports get through.
        c = self.collector(port=port)
        h = self.chat_ok(g)
        self.trace_of(c, h["x-request-id"], 1, timeout=8)
        # The collector has the spans a moment before the gateway has its answer.
        deadline = time.time() + 3
        while (g.metric("tailgate_trace_spans_exported_total") == 0
               and time.time() < deadline):
            time.sleep(0.05)
        self.assertGreater(g.metric("tailgate_trace_spans_exported_total"), 0)
        deadline = time.time() + 3
        while "trace_export_ok" not in g.stderr() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("trace_export_ok", g.stderr())
        self.assertEqual(len([l for l in g.stderr().splitlines() if "trace_export_failed" in l]),
                         1)

    def test_a_slow_collector_bounds_the_queue_and_drops_the_rest(self):
        c = self.collector(delay=3.0)
        g = self.gateway_on(self.telemetry(c.url, queue_spans=20, batch_spans=10,
                                           timeout_ms=10000))
        slowest, most_queued = 0.0, 0.0
        for i in range(60):
            t0 = time.time()
            self.chat_ok(g)
            slowest = max(slowest, time.time() - t0)
            if i % 5 == 4:
                most_queued = max(most_queued, g.metric("tailgate_trace_queue_spans"))
        self.assertLess(slowest, 1.0)
        # 20 waiting at most, plus the export in flight (taken from at most 20 waiting).
        self.assertLessEqual(most_queued, 40)
        self.assertGreaterEqual(most_queued, 20)
        dropped = g.metric("tailgate_trace_spans_dropped_total", reason="queue_full")
        self.assertGreater(dropped, 0)
        self.assertEqual(len(c.all_posts()), 1)  # the first export is still being answered
        c.delay = 0
        deadline = time.time() + 8
        while g.metric("tailgate_trace_queue_spans") > 0 and time.time() < deadline:
            time.sleep(0.1)
        # Every span of the 60 requests is accounted for: taken or dropped.
        exported = g.metric("tailgate_trace_spans_exported_total")
        self.assertEqual(g.metric("tailgate_trace_queue_spans"), 0)
        self.assertEqual(exported, len(c.spans()))
        self.assertEqual(exported + g.metric("tailgate_trace_spans_dropped_total"), 120)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total", reason="export_failed"), 0)
        self.assertEqual(len({s["spanId"] for s in c.spans()}), exported)

    def test_collector_503_twice_then_the_same_spans_arrive(self):
        c = self.collector(fail=2, fail_status=503)
        g = self.gateway_on(self.telemetry(c.url))
        h = self.chat_ok(g)
        srv, (cli,) = self.trace_of(c, h["x-request-id"], 1, timeout=8)
        posts = c.all_posts()
        self.assertEqual([p["status"] for p in posts], [503, 503, 200])
        self.assertEqual(posts[0]["body"], posts[2]["body"])
        self.assertEqual(posts[1]["body"], posts[2]["body"])
        gaps = [posts[1]["at"] - posts[0]["at"], posts[2]["at"] - posts[1]["at"]]
        self.assertGreater(gaps[0], 0.9)
        self.assertLess(gaps[0], 1.8)
        self.assertGreater(gaps[1], 1.9)
        self.assertLess(gaps[1], 2.8)
        self.assertEqual(settled(g, "tailgate_trace_spans_exported_total", 2), 2)
        self.assertEqual(g.metric("tailgate_trace_export_failures_total"), 2)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total"), 0)
        self.assertEqual(len([l for l in g.stderr().splitlines() if "trace_export_failed" in l]),
                         1)

    def test_a_throttling_collectors_retry_after_is_waited(self):
        c = self.collector(fail=1, fail_status=429, retry_after="2")
        g = self.gateway_on(self.telemetry(c.url))
        h = self.chat_ok(g)
        self.trace_of(c, h["x-request-id"], 1, timeout=6)
        posts = c.all_posts()
        self.assertEqual([p["status"] for p in posts], [429, 200])
        self.assertGreater(posts[1]["at"] - posts[0]["at"], 1.9)  # not the 1 s of its own
        self.assertLess(posts[1]["at"] - posts[0]["at"], 2.8)
        self.assertEqual(settled(g, "tailgate_trace_spans_exported_total", 2), 2)

    def test_a_collector_refusing_the_batch_is_not_asked_again(self):
        c = self.collector(fail=1, fail_status=400)
        g = self.gateway_on(self.telemetry(c.url))
        self.chat_ok(g)
        deadline = time.time() + 3
        while (g.metric("tailgate_trace_spans_dropped_total", reason="export_failed") < 2
               and time.time() < deadline):
            time.sleep(0.05)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total", reason="export_failed"), 2)
        time.sleep(1.3)  # past the first retry's wait
        self.assertEqual([p["status"] for p in c.all_posts()], [400])
        h = self.chat_ok(g)  # the next batch goes as usual
        self.trace_of(c, h["x-request-id"], 1)
        self.assertEqual(settled(g, "tailgate_trace_spans_exported_total", 2), 2)

    def test_spans_the_collector_rejects_are_counted_as_dropped(self):
        c = self.collector(answer=b'{"partialSuccess":{"rejectedSpans":"1",'
                                  b'"errorMessage":"span too old"}}')
        g = self.gateway_on(self.telemetry(c.url))
        h = self.chat_ok(g)
        self.trace_of(c, h["x-request-id"], 1)
        time.sleep(1.3)  # past a retry's wait: a partial success is not sent again
        self.assertEqual(len(c.all_posts()), 1)
        self.assertEqual(settled(g, "tailgate_trace_spans_exported_total", 1), 1)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total", reason="export_failed"), 1)
        self.assertEqual(g.metric("tailgate_trace_export_failures_total"), 0)
        c.answer = b'{"partialSuccess":{"rejectedSpans":2,"errorMessage":"quota"}}'
        h = self.chat_ok(g)
        self.trace_of(c, h["x-request-id"], 1)
        deadline = time.time() + 3
        while (g.metric("tailgate_trace_spans_dropped_total", reason="export_failed") < 3
               and time.time() < deadline):
            time.sleep(0.05)
        self.assertEqual(g.metric("tailgate_trace_spans_dropped_total", reason="export_failed"), 3)
        self.assertEqual(settled(g, "tailgate_trace_spans_exported_total", 1), 1)
        warns = [l for l in g.stderr().splitlines() if "trace_spans_rejected" in l]
        self.assertEqual(len(warns), 1, warns)  # once, until a batch is taken whole
        self.assertIn("span too old", warns[0])
        c.answer = b'{}'
        h = self.chat_ok(g)
        self.trace_of(c, h["x-request-id"], 1)
        deadline = time.time() + 3
        while g.metric("tailgate_trace_spans_exported_total") < 3 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(g.metric("tailgate_trace_spans_exported_total"), 3)


class Shutdown(Base):
    def test_waiting_spans_are_exported_before_exit(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url, flush_ms=60000))
        rids = [self.chat_ok(g)["x-request-id"] for _ in range(3)]
        time.sleep(0.2)
        self.assertEqual(c.all_posts(), [])  # flush_ms is far off
        self.assertEqual(g.metric("tailgate_trace_queue_spans"), 6)
        t0 = time.time()
        g.stop()
        self.assertLess(time.time() - t0, 5)
        spans = c.spans()
        self.assertEqual(len(spans), 6)
        for rid in rids:
            srv = server_span(spans, rid)
            self.assertIsNotNone(srv)
            self.assertEqual(len(children(spans, srv)), 1)

    def test_exit_is_prompt_when_the_collector_is_down_or_hangs(self):
        down = "http://127.0.0.1:%d" % free_port()
        hung = self.collector(delay=30)
        for endpoint in (down, hung.url):
            g = self.gateway_on(self.telemetry(endpoint, flush_ms=60000, timeout_ms=20000))
            for _ in range(3):
                self.chat_ok(g)
            t0 = time.time()
            g.stop()
            # The last export waits 2 s at most, whatever timeout_ms says.
            self.assertLess(time.time() - t0, 3.5, endpoint)
        self.assertEqual(len(hung.all_posts()), 1)

    def test_an_export_hanging_at_sigterm_does_not_hold_the_exit(self):
        hung = self.collector(delay=30)
        g = self.gateway_on(self.telemetry(hung.url, timeout_ms=20000))
        self.chat_ok(g)
        deadline = time.time() + 3
        while not hung.all_posts() and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(hung.all_posts()), 1)  # the export is in flight, unanswered
        self.chat_ok(g)  # and more spans wait behind it
        t0 = time.time()
        g.stop()
        # 2 s at most for what is in flight, whatever timeout_ms says; the
        # spans waiting behind it are not worth a longer stop either.
        self.assertLess(time.time() - t0, 3.5)
        warns = [l for l in g.stderr().splitlines() if "trace_export_failed" in l]
        self.assertEqual(len(warns), 1, warns)
        self.assertIn("no answer within 2000 ms of the exit", warns[0])


class Check(TestCase):
    def run_check(self, telemetry):
        text = make_config(sections={"telemetry": telemetry},
                           providers=[{"name": "p", "kind": "mock"}],
                           deployments=[{"name": "d", "provider": "p", "model": "x"}],
                           routes=[{"model": "m", "deployments": ["d"]}])
        fd, path = tempfile.mkstemp(prefix="tg-trace-check-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1:halt_on_error=1")
        p = subprocess.run([tailgate_bin(), "check", "-c", path], capture_output=True, text=True,
                           env=env, timeout=20)
        return p.returncode, p.stdout + p.stderr

    def test_check_accepts_telemetry_and_names_a_bad_endpoint(self):
        code, out = self.run_check({"otlp_endpoint": "http://127.0.0.1:4318", "sample_ratio": 0.25,
                                    "headers": {"x-honeycomb-team": "abc"}})
        self.assertEqual(code, 0, out)
        for endpoint, message in (("grpc://127.0.0.1:4317", "must start with http:// or https://"),
                                  ("http://", "is not a collector URL"),
                                  ("http://host:4318/v1/traces?x=1", "is not a collector URL")):
            code, out = self.run_check({"otlp_endpoint": endpoint})
            self.assertEqual(code, 1, out)
            self.assertIn("telemetry.otlp_endpoint", out)
            self.assertIn(message, out)
        code, out = self.run_check({"otlp_endpoint": "http://127.0.0.1:4318", "queue_spans": 10,
                                    "batch_spans": 20})
        self.assertEqual(code, 1, out)
        self.assertIn("telemetry.batch_spans is above telemetry.queue_spans", out)
        code, out = self.run_check({"otlp_endpoint": "http://127.0.0.1:4318", "sample_ratio": 1.5})
        self.assertEqual(code, 1, out)
        self.assertIn("sample_ratio", out)


class Metrics(Base):
    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is missing")
    def test_promtool_accepts_the_trace_families(self):
        c = self.collector()
        g = self.gateway_on(self.telemetry(c.url))
        h = self.chat_ok(g)
        self.trace_of(c, h["x-request-id"], 1)
        text = g.metrics()
        for family in ("tailgate_trace_spans_exported_total", "tailgate_trace_spans_dropped_total",
                       "tailgate_trace_export_failures_total", "tailgate_trace_queue_spans"):
            self.assertIn("# TYPE %s " % family, text)
            self.assertIn("# HELP %s " % family, text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "", r.stdout + r.stderr)


if __name__ == "__main__":
    main()

"""Background mode and the dead-letter queue (SPEC section 8, issue 12)
against real `tailgate serve` and `tailgate mock` processes:
x-tailgate-mode: background gets [background]'s attempts and deadline; what
still fails is appended to dlq_path (one JSON line, no credential) before the
client's error, which says x-tailgate-dlq: 1; a write that fails (missing
directory, /dev/full) is an error the client sees, the log says and a metric
counts; the client leaving or the gateway stopping does not lose the line;
`tailgate dlq list` and `tailgate dlq replay` (--to, --rate, --key-env, the
atomic rewrite that keeps what still fails and what was appended meanwhile)."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import TestCase, main, openai_provider, tailgate_bin

BG = {"x-tailgate-mode": "background"}
CLIENT_KEY = "sk-client-secret-0123456789"
PROVIDER_KEY = "sk-provider-own-9876543210"


def run(*args, env=None, timeout=60):
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run([tailgate_bin()] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=full)
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in p.stderr, p.stderr
    return p.returncode, p.stdout, p.stderr


def read_lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f.read().splitlines() if l.strip()]


class DlqCase(TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="tg-dlq-")
        self.dlq = os.path.join(self.tmp, "dlq.jsonl")

    def start_gateway(self, mocks, dlq_path=None, background=None, sections=None, keys=None,
                      env=None, routes=None, server=None):
        """One deployment per mock (d0, d1...), routes as given (default: route "m"
        over every deployment)."""
        bg = {"dlq_path": dlq_path or self.dlq, "max_attempts": 4}
        bg.update(background or {})
        secs = {"hedge": {"enabled": False}, "cache": {"mode": "off"},
                "retry": {"max_attempts": 2, "backoff_base_ms": 1, "backoff_max_ms": 2,
                          "budget_min_per_s": 1000},
                "breaker": {"failure_threshold": 100000, "min_requests": 100000},
                "background": bg}
        secs.update(sections or {})
        if keys:
            secs["auth"] = {"keys": keys}
        providers = [openai_provider("p%d" % i, m, api_key_env="UP_KEY")
                     for i, m in enumerate(mocks)]
        deployments = [{"name": "d%d" % i, "provider": "p%d" % i, "model": "up-model"}
                       for i in range(len(mocks))]
        routes = routes or [{"model": "m", "deployments": [d["name"] for d in deployments]}]
        e = {"UP_KEY": PROVIDER_KEY}
        e.update(env or {})
        return self.gateway(server=server, sections=secs, providers=providers,
                            deployments=deployments, routes=routes, env=e)

    def chat(self, g, model="m", content="hello", headers=None, **kw):
        return g.chat(model=model, content=content, headers=headers, **kw)


class Background(DlqCase):
    def test_failure_is_appended_before_the_error(self):
        m = self.mock(error_rate=1, error_status=503)
        sha = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()
        g = self.start_gateway([m], keys=[{"name": "team-a", "key_sha256": sha}])
        # Pretty-printed on purpose: the line must still be one line.
        pretty = ('{\n  "model": "m",\n  "messages": [{"role": "user", "content": "a\\nb \\"q\\""}],'
                  '\n\t"temperature": 0.70,\r\n  "max_tokens": 12345678901234567\n}\n')
        s, h, b = g.call("POST", "/v1/chat/completions", pretty,
                         dict(BG, Authorization="Bearer " + CLIENT_KEY,
                              **{"x-request-id": "job-42"}))
        self.assertEqual(s, 502, b)
        self.assertEqual(h.get("x-tailgate-dlq"), "1")
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "upstream_unavailable")
        # Sent only after the fsync: the line is there when the answer is.
        with open(self.dlq) as f:
            text = f.read()
        self.assertEqual(text.count("\n"), 1, text)
        line = json.loads(text)
        self.assertEqual(line["request_id"], "job-42")
        self.assertEqual(line["route"], "m")
        self.assertEqual(line["key"], "team-a")
        self.assertEqual(line["path"], "/v1/chat/completions")
        self.assertEqual(line["method"], "POST")
        self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        # The body is JSON (not a string), its numbers exactly as sent.
        self.assertEqual(line["body"]["messages"][0]["content"], "a\nb \"q\"")
        self.assertIn('"temperature":0.70', text)
        self.assertIn('"max_tokens":12345678901234567', text)
        self.assertEqual(line["error"], {"status": 502, "code": "upstream_unavailable",
                                         "message": err["message"]})
        self.assertEqual(line["attempts"], err["attempts"])
        self.assertEqual(len(line["attempts"]), 4)
        self.assertEqual({a["outcome"] for a in line["attempts"]}, {"server"})
        # No credential anywhere: the client's key, or the provider's.
        self.assertNotIn(CLIENT_KEY, text)
        self.assertNotIn(PROVIDER_KEY, text)
        self.assertNotIn("uthorization", text)
        self.assertEqual(os.stat(self.dlq).st_mode & 0o777, 0o600)
        self.assertEqual(g.metric("tailgate_dlq_writes_total", result="ok"), 1)
        self.assertIn("dlq_saved", g.stderr())
        # A second one is a second line.
        s, h, _ = self.chat(g, headers=dict(BG, Authorization="Bearer " + CLIENT_KEY))
        self.assertEqual((s, h.get("x-tailgate-dlq")), (502, "1"))
        self.assertEqual(len(read_lines(self.dlq)), 2)

    def test_more_attempts_and_the_longer_deadline(self):
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m], background={"max_attempts": 5},
                               sections={"degraded": {"enabled": False}})
        s, h, b = self.chat(g)
        self.assertEqual((s, h["x-tailgate-attempts"]), (502, "2"), b)  # [retry] max_attempts
        self.assertNotIn("x-tailgate-dlq", h)
        s, h, b = self.chat(g, headers=BG)
        self.assertEqual((s, h["x-tailgate-attempts"]), (502, "5"), b)  # [background]'s
        self.assertEqual(h.get("x-tailgate-dlq"), "1")
        self.assertEqual(len(read_lines(self.dlq)), 1)  # only the background one

    def test_deadline_is_backgrounds(self):
        m = self.mock()
        g = self.start_gateway([m], background={"request_ms": 5000},
                               sections={"timeouts": {"request_ms": 300}})
        m.script([{"delay_ms": 700}])
        s, _, b = self.chat(g)
        self.assertEqual(s, 504, b)
        m.reset()
        m.script([{"delay_ms": 700}])
        t0 = time.time()
        s, h, b = self.chat(g, headers=BG)
        self.assertEqual(s, 200, b)
        self.assertGreaterEqual(time.time() - t0, 0.6)
        self.assertNotIn("x-tailgate-dlq", h)
        # x-tailgate-timeout-ms still lowers it: the 504 goes to the DLQ.
        m.reset()
        m.script([{"delay_ms": 1500}])
        s, h, b = self.chat(g, headers=dict(BG, **{"x-tailgate-timeout-ms": "200"}))
        self.assertEqual(s, 504, b)
        self.assertEqual(h.get("x-tailgate-dlq"), "1")
        self.assertEqual(read_lines(self.dlq)[0]["error"]["code"], "deadline_exceeded")

    def test_invalid_mode_is_400(self):
        m = self.mock()
        g = self.start_gateway([m])
        for v in ("foreground", "backgroundx", ""):
            s, h, b = self.chat(g, headers={"x-tailgate-mode": v})
            self.assertEqual(s, 400, b)
            err = json.loads(b)["error"]
            self.assertEqual(err["code"], "invalid_request")
            self.assertIn("x-tailgate-mode", err["message"])
        self.assertEqual(m.stats()["requests"], 0)
        s, _, b = self.chat(g, headers={"x-tailgate-mode": "Background"})
        self.assertEqual(s, 200, b)

    def test_not_dlqd(self):
        """A client error passed through is the request's own fault, and an
        ok answer is no failure: neither is kept."""
        m = self.mock()
        g = self.start_gateway([m])
        m.script([{"status": 400}])
        s, h, b = self.chat(g, headers=BG)
        self.assertEqual(s, 400, b)
        self.assertNotIn("x-tailgate-dlq", h)
        s, h, b = self.chat(g, headers=BG)
        self.assertEqual(s, 200, b)
        self.assertFalse(os.path.exists(self.dlq))

    def test_degraded_is_not_the_answer_for_background(self):
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m], sections={"degraded": {"enabled": True, "status": 200}})
        s, h, _ = self.chat(g)
        self.assertEqual((s, h.get("x-tailgate-degraded")), (200, "1"))
        s, h, b = self.chat(g, headers=BG)
        self.assertEqual((s, h.get("x-tailgate-dlq")), (502, "1"), b)
        self.assertNotIn("x-tailgate-degraded", h)

    def test_other_endpoints_keep_their_path(self):
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m])
        for path, body in (("/v1/completions", {"model": "m", "prompt": "hi"}),
                           ("/v1/embeddings", {"model": "m", "input": "hi"})):
            s, h, b = g.call("POST", path, json.dumps(body), BG)
            self.assertEqual((s, h.get("x-tailgate-dlq")), (502, "1"), b)
            self.assertEqual(read_lines(self.dlq)[-1]["path"], path)
            self.assertEqual(read_lines(self.dlq)[-1]["body"], body)

    def test_stream_failing_before_its_first_byte(self):
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m])
        s, h, b = self.chat(g, headers=BG, stream=True)
        self.assertEqual((s, h.get("x-tailgate-dlq")), (502, "1"), b)
        self.assertEqual(read_lines(self.dlq)[0]["body"]["stream"], True)


class Concurrent(DlqCase):
    def test_lines_never_interleave(self):
        """Many failures at once, in two worker processes appending to one file:
        every line whole, none lost."""
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m], server={"workers": 2})
        n = 40
        big = "x" * 20000  # lines longer than a pipe buffer: a torn write would show
        results = [None] * n

        def call(i):
            results[i] = self.chat(g, content="%d %s" % (i, big),
                                   headers=dict(BG, **{"x-request-id": "c-%d" % i}))
        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual({(s, h.get("x-tailgate-dlq")) for s, h, _ in results}, {(502, "1")})
        lines = read_lines(self.dlq)
        self.assertEqual(sorted(l["request_id"] for l in lines),
                         sorted("c-%d" % i for i in range(n)))
        for l in lines:
            i = int(l["request_id"][2:])
            self.assertEqual(l["body"]["messages"][0]["content"], "%d %s" % (i, big))


class WriteFailure(DlqCase):
    def check_unsaved(self, path, reason):
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m], dlq_path=path)
        s, h, b = self.chat(g, headers=BG)
        self.assertEqual(s, 502, b)
        self.assertNotIn("x-tailgate-dlq", h)
        msg = json.loads(b)["error"]["message"]
        self.assertIn("could NOT be saved to the dead-letter queue", msg)
        self.assertIn(path, msg)
        self.assertIn(reason, msg)
        err = g.stderr()
        line = [l for l in err.splitlines() if "dlq_write_failed" in l]
        self.assertEqual(len(line), 1, err)
        self.assertIn(path, line[0])
        self.assertIn(reason, line[0])
        self.assertEqual(g.metric("tailgate_dlq_writes_total", result="error"), 1)
        self.assertEqual(g.metric("tailgate_dlq_writes_total", result="ok"), 0)

    def test_missing_directory(self):
        self.check_unsaved(os.path.join(self.tmp, "no-such-dir", "dlq.jsonl"),
                           "No such file or directory")

    def test_full_disk(self):
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        self.check_unsaved("/dev/full", "No space left on device")

    def test_read_only_directory(self):
        if os.geteuid() == 0:
            self.skipTest("root writes anywhere")
        ro = os.path.join(self.tmp, "ro")
        os.mkdir(ro, 0o500)
        self.check_unsaved(os.path.join(ro, "dlq.jsonl"), "Permission denied")


class NotLost(DlqCase):
    def test_client_leaving_during_the_write(self):
        """The answer waits for the line; the client leaving does not cancel it.
        A FIFO as dlq_path holds the write until the test reads it."""
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        m = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([m], dlq_path=fifo)
        sock = socket.create_connection(("127.0.0.1", g.port))
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]})
        sock.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/json\r\nx-tailgate-mode: background\r\n"
                      "x-request-id: left-early\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body)).encode())
        sock.settimeout(0.8)
        with self.assertRaises(socket.timeout):  # no answer while the line is not written
            sock.recv(100)
        sock.close()
        time.sleep(0.2)
        with open(fifo) as f:  # the write goes on: here it is
            line = json.loads(f.readline())
        self.assertEqual(line["request_id"], "left-early")
        deadline = time.time() + 5
        while "dlq_saved" not in g.stderr() and time.time() < deadline:
            time.sleep(0.02)
        self.assertIn("request_id=left-early", g.stderr())
        self.assertEqual(g.metric("tailgate_dlq_writes_total", result="ok"), 1)

    def test_shutdown_does_not_lose_background_work(self):
        m = self.mock()
        m.script([{"hang": True}])
        g = self.start_gateway([m], server={"drain_ms": 200})
        out = {}

        def call():
            out["r"] = self.chat(g, headers=dict(BG, **{"x-request-id": "cut-short"}))
        t = threading.Thread(target=call)
        t.start()
        m.wait_stats(lambda s: s.get("in_flight", s.get("inflight", 0)) >= 1)
        time.sleep(0.1)
        g.signal(signal.SIGTERM)
        t.join(10)
        g.proc.wait(10)
        self.assertEqual(g.stop(), 0)
        # The client hears where its work went before its connection closes.
        s, h, b = out["r"]
        self.assertEqual((s, h.get("x-tailgate-dlq")), (503, "1"), b)
        # The process wrote the line before it exited.
        self.assertLess(g.stderr().index("dlq_saved"), g.stderr().index("event=stopped"))
        line = read_lines(self.dlq)[0]
        self.assertEqual((line["request_id"], line["error"]["code"]),
                         ("cut-short", "shutting_down"))


class Cli(DlqCase):
    def fill(self, n_good=2, n_bad=2, stream=False):
        """A DLQ file made by a gateway: entries on route "good" and "bad"."""
        dead = self.mock(error_rate=1, error_status=503)
        g = self.start_gateway([dead], routes=[{"model": "good", "deployments": ["d0"]},
                                               {"model": "bad", "deployments": ["d0"]}])
        ids = []
        for i in range(n_good + n_bad):
            model = "good" if i < n_good else "bad"
            rid = "%s-%d" % (model, i)
            s, h, _ = self.chat(g, model=model, content="job %d" % i, stream=stream,
                                headers=dict(BG, **{"x-request-id": rid}))
            assert (s, h.get("x-tailgate-dlq")) == (502, "1")
            ids.append(rid)
        return g, ids

    def target(self, keys=None):
        """A gateway where "good" now works and "bad" still fails."""
        ok, dead = self.mock(), self.mock(error_rate=1, error_status=503)
        other = os.path.join(self.tmp, "target-dlq.jsonl")
        g = self.start_gateway([ok, dead], dlq_path=other, keys=keys,
                               routes=[{"model": "good", "deployments": ["d0"]},
                                       {"model": "bad", "deployments": ["d1"]}])
        return g, ok

    def test_list(self):
        self.fill(1, 1)
        with open(self.dlq, "a") as f:
            f.write("not json\n")
        code, out, err = run("dlq", "list", self.dlq)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertIn("good-0", lines[0])
        self.assertIn("route=good", lines[0])
        self.assertIn("502 upstream_unavailable", lines[0])
        self.assertIn("4 attempts", lines[0])
        self.assertIn("key=-", lines[0])
        self.assertIn("bad-1", lines[1])
        self.assertIn(self.dlq + ":3: malformed line", lines[2])
        self.assertEqual(lines[-1], "2 entries, 1 malformed line in " + self.dlq)
        code, _, err = run("dlq", "list", os.path.join(self.tmp, "none.jsonl"))
        self.assertEqual(code, 1)
        self.assertIn("No such file", err)
        self.assertEqual(run("dlq", "list")[0], 2)

    def test_replay_keeps_what_still_fails(self):
        self.fill(2, 2)
        before = os.stat(self.dlq)
        g, ok = self.target()
        code, out, err = run("dlq", "replay", self.dlq, "--to", "http://127.0.0.1:%d" % g.port,
                             "--rate", "0")
        self.assertEqual(code, 0, err)
        self.assertIn("sent 4, succeeded 2, kept 2", out)
        kept = read_lines(self.dlq)
        self.assertEqual([l["request_id"] for l in kept], ["bad-2", "bad-3"])
        # Rewritten by rename: a new file, same mode, no temporary left.
        after = os.stat(self.dlq)
        self.assertNotEqual(before.st_ino, after.st_ino)
        self.assertEqual(after.st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(self.dlq + ".tmp"))
        # Sent as ordinary requests with their ids and bodies; the target's
        # own DLQ got nothing (not background).
        log = g.access_log()
        self.assertEqual(sorted(e["request_id"] for e in log),
                         ["bad-2", "bad-3", "good-0", "good-1"])
        self.assertEqual(ok.stats()["requests"], 2)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "target-dlq.jsonl")))

    def test_replay_to_the_configured_listener(self):
        self.fill(1, 1)
        g, _ = self.target()
        code, out, err = run("dlq", "replay", self.dlq, "-c", g.config_path, "--rate", "0")
        self.assertEqual(code, 0, err)
        self.assertIn("sent 2, succeeded 1, kept 1", out)
        self.assertIn("http://127.0.0.1:%d" % g.port, out)

    def test_rate(self):
        self.fill(4, 0)
        g, _ = self.target()
        t0 = time.time()
        code, out, err = run("dlq", "replay", self.dlq, "--to", "http://127.0.0.1:%d" % g.port,
                             "--rate", "10")
        took = time.time() - t0
        self.assertEqual(code, 0, err)
        self.assertIn("sent 4, succeeded 4, kept 0", out)
        self.assertGreaterEqual(took, 0.3)
        self.assertEqual(read_lines(self.dlq), [])
        stamps = sorted(e["ts"] for e in g.access_log())
        self.assertEqual(len(stamps), 4)

    def test_key_env(self):
        self.fill(2, 0)
        sha = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()
        g, _ = self.target(keys=[{"name": "replayer", "key_sha256": sha}])
        url = "http://127.0.0.1:%d" % g.port
        code, out, err = run("dlq", "replay", self.dlq, "--to", url, "--rate", "0")
        self.assertIn("sent 2, succeeded 0, kept 2", out)  # 401 without the key
        code, out, err = run("dlq", "replay", self.dlq, "--to", url, "--rate", "0",
                             "--key-env", "REPLAY_KEY", env={"REPLAY_KEY": CLIENT_KEY})
        self.assertEqual(code, 0, err)
        self.assertIn("sent 2, succeeded 2, kept 0", out)
        self.assertEqual({e["key"] for e in g.access_log() if e["status"] == 200}, {"replayer"})
        code, _, err = run("dlq", "replay", self.dlq, "--to", url, "--key-env", "UNSET_VAR_X")
        self.assertEqual(code, 1)
        self.assertIn("UNSET_VAR_X", err)

    def test_lines_appended_during_the_replay_stay(self):
        src, _ = self.fill(1, 3)  # src keeps running, appending to the same file
        g, _ = self.target()
        p = subprocess.Popen([tailgate_bin(), "dlq", "replay", self.dlq, "--to",
                              "http://127.0.0.1:%d" % g.port, "--rate", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        s, h, _ = self.chat(src, model="bad", headers=dict(BG, **{"x-request-id": "late"}))
        self.assertEqual((s, h.get("x-tailgate-dlq")), (502, "1"))
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("sent 4, succeeded 1, kept 3", out)
        self.assertEqual([l["request_id"] for l in read_lines(self.dlq)],
                         ["bad-1", "bad-2", "bad-3", "late"])
        # And the gateway appends to the new file after the rename.
        s, h, _ = self.chat(src, model="bad", headers=dict(BG, **{"x-request-id": "later"}))
        self.assertEqual(read_lines(self.dlq)[-1]["request_id"], "later")

    def test_a_stream_that_breaks_midway_still_failed(self):
        self.fill(2, 0, stream=True)
        g, ok = self.target()
        ok.script([{"stream_error_after_chunks": 3}])
        code, out, err = run("dlq", "replay", self.dlq, "--to", "http://127.0.0.1:%d" % g.port,
                             "--rate", "0")
        self.assertEqual(code, 0, err)
        self.assertIn("good-0  /v1/chat/completions  200  kept: the stream broke", out)
        self.assertIn("sent 2, succeeded 1, kept 1", out)
        self.assertEqual([l["request_id"] for l in read_lines(self.dlq)], ["good-0"])

    def test_malformed_lines_survive_a_replay(self):
        self.fill(1, 0)
        with open(self.dlq, "a") as f:
            f.write("garbage line\n")
        g, _ = self.target()
        code, out, err = run("dlq", "replay", self.dlq, "--to", "http://127.0.0.1:%d" % g.port,
                             "--rate", "0")
        self.assertEqual(code, 0, err)
        self.assertIn(":2: malformed line kept", out)
        with open(self.dlq) as f:
            self.assertEqual(f.read(), "garbage line\n")

    def test_check_shows_background(self):
        m = self.mock()
        g = self.start_gateway([m], dlq_path="queue/dlq.jsonl",
                               background={"max_attempts": 7, "request_ms": 90000})
        code, out, err = run("check", "-c", g.config_path)
        self.assertEqual(code, 0, err)
        self.assertIn("background requests (x-tailgate-mode: background): 7 attempts per "
                      "deployment, deadline 90000ms; what still fails goes to queue/dlq.jsonl "
                      "(relative to the directory tailgate serve runs in)", out)

    def test_check_warns_of_an_unwritable_dlq_directory(self):
        m = self.mock()
        missing = os.path.join(self.tmp, "missing", "dlq.jsonl")
        g = self.start_gateway([m], dlq_path=missing)
        code, out, err = run("check", "-c", g.config_path)
        self.assertEqual(code, 0, err)
        self.assertIn('warning: background.dlq_path "%s": its directory %s is not writable '
                      "here (No such file or directory)" % (missing, os.path.dirname(missing)), out)
        self.assertIn("event=config_warning", g.stderr())

    def test_usage(self):
        for args in (["dlq"], ["dlq", "lists"], ["dlq", "replay"],
                     ["dlq", "replay", "f", "--rate", "x"], ["dlq", "replay", "f", "--to", "ftp://x"],
                     ["dlq", "replay", "f", "--bogus"]):
            code, _, err = run(*args)
            self.assertEqual(code, 2, (args, err))
            self.assertIn("usage:", err)
        code, out, _ = run("dlq", "--help")
        self.assertEqual(code, 0)
        self.assertIn("--key-env", out)
        code, out, _ = run("help")
        self.assertIn("dlq replay FILE", out)


if __name__ == "__main__":
    main()

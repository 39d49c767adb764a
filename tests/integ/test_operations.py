"""Operations (SPEC sections 1, 6, 9): the operator log is logfmt whatever
the values hold; the access log is reopened on SIGUSR1 and SIGHUP so
logrotate can move it; `help` and `COMMAND --help` describe the CLI."""

import json
import os
import re
import signal
import tempfile
import threading
import time

from harness import TestCase, main, simple_gateway

_ESC = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def parse_logfmt(line):
    """The key/value pairs of one logfmt line; raises ValueError when it is not logfmt."""
    pairs, i, n = {}, 0, len(line)
    while True:
        while i < n and line[i] == " ":
            i += 1
        if i == n:
            return pairs
        m = re.compile(r'[^\s="]+').match(line, i)
        if not m or m.end() >= n or line[m.end()] != "=":
            raise ValueError("no key=value at %d: %r" % (i, line))
        key, i = m.group(0), m.end() + 1
        if i < n and line[i] == '"':
            i += 1
            value = []
            while True:
                if i >= n or ord(line[i]) < 0x20:
                    raise ValueError("unterminated quoted value: %r" % line)
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    e = line[i + 1:i + 2]
                    if e in _ESC:
                        value.append(_ESC[e])
                        i += 2
                    elif e == "u":
                        value.append(chr(int(line[i + 2:i + 6], 16)))
                        i += 6
                    else:
                        raise ValueError("bad escape: %r" % line)
                    continue
                value.append(c)
                i += 1
            value = "".join(value)
            if i < n and line[i] != " ":
                raise ValueError("junk after a quoted value: %r" % line)
        else:
            m = re.compile(r'[^\s]*').match(line, i)
            value, i = m.group(0), m.end()
            if "=" in value or '"' in value:
                raise ValueError("bare value with '=' or '\"': %r" % line)
        pairs[key] = value


def log_events(text, event):
    """Parsed stderr lines of one event (every line must be logfmt)."""
    out = []
    for line in text.splitlines():
        if line.startswith("ts="):
            pairs = parse_logfmt(line)
            if pairs.get("event") == event:
                out.append(pairs)
    return out


class Logfmt(TestCase):
    def test_reload_failed_with_a_quoted_error_is_logfmt(self):
        g = simple_gateway(self, self.mock())
        with open(g.config_path, "a") as f:
            f.write('[[routes]]\nmodel = "x"\ndeployments = ["d1"]\ndeployments = ["d1"]\n')
        g.reload()
        deadline = time.time() + 5
        while "event=reload_failed" not in g.stderr() and time.time() < deadline:
            time.sleep(0.02)
        failed = log_events(g.stderr(), "reload_failed")
        self.assertEqual(len(failed), 1, g.stderr())
        self.assertEqual(failed[0]["config"], g.config_path)
        self.assertRegex(failed[0]["error"], r':\d+:\d+: duplicate key "deployments"$')
        self.assertEqual(failed[0]["level"], "error")
        self.assertEqual(g.chat()[0], 200)
        g.stop()
        for line in g.stderr().splitlines():  # every line the gateway wrote
            if line.startswith("ts="):
                parse_logfmt(line)


def read_lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f.read().splitlines()]
    except FileNotFoundError:
        return []


def wait_for(pred, timeout=5.0):
    deadline = time.time() + timeout
    while not pred() and time.time() < deadline:
        time.sleep(0.02)
    return pred()


class AccessLogReopen(TestCase):
    """SPEC section 6: the access log file is reopened on SIGUSR1 and on SIGHUP."""

    def gateway_with_file(self, workers=1):
        d = tempfile.mkdtemp(prefix="tg-alog-")
        path = os.path.join(d, "access.log")
        g = simple_gateway(self, self.mock(), server={"access_log": path, "workers": workers})
        return g, path

    def rotate_with(self, sig):
        g, path = self.gateway_with_file()
        for i in range(3):
            self.assertEqual(g.chat(headers={"x-request-id": "before-%d" % i})[0], 200)
        self.assertTrue(wait_for(lambda: len(read_lines(path)) == 3))
        os.rename(path, path + ".1")  # what logrotate does first
        g.signal(sig)
        self.assertTrue(wait_for(lambda: "event=access_log_reopened" in g.stderr()), g.stderr())
        self.assertTrue(os.path.exists(path))
        self.assertEqual(g.chat(headers={"x-request-id": "after"})[0], 200)
        self.assertTrue(wait_for(lambda: len(read_lines(path)) == 1))
        self.assertEqual([l["request_id"] for l in read_lines(path)], ["after"])
        self.assertEqual([l["request_id"] for l in read_lines(path + ".1")],
                         ["before-0", "before-1", "before-2"])
        self.assertIsNone(g.proc.poll())
        return g, path

    def test_sigusr1_reopens(self):
        g, _ = self.rotate_with(signal.SIGUSR1)
        self.assertNotIn("event=reload_start", g.stderr())  # USR1 only reopens

    def test_sighup_reopens_and_reloads(self):
        g, _ = self.rotate_with(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "event=reloaded" in g.stderr()))

    def test_lines_under_load_are_not_lost_or_split(self):
        """Requests keep coming while the file is moved and reopened: each
        line lands whole in one of the two files, none twice, none lost."""
        g, path = self.gateway_with_file()
        sent, stop = [], threading.Event()

        def client(k):
            i = 0
            while not stop.is_set():
                rid = "c%d-%d" % (k, i)
                if g.chat(headers={"x-request-id": rid})[0] == 200:
                    sent.append(rid)
                i += 1
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        def more_requests():
            n = len(sent)
            self.assertTrue(wait_for(lambda: len(sent) >= n + 5, timeout=20))
        try:
            for n in range(1, 4):
                more_requests()
                os.rename(path, "%s.%d" % (path, n))
                g.signal(signal.SIGUSR1)
            self.assertTrue(wait_for(
                lambda: g.stderr().count("event=access_log_reopened") == 3, timeout=10))
            more_requests()
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        files = [path] + ["%s.%d" % (path, n) for n in range(1, 4)]
        self.assertTrue(wait_for(lambda: sum(len(read_lines(f)) for f in files) == len(sent)))
        got = [l["request_id"] for f in files for l in read_lines(f)]
        self.assertEqual(sorted(got), sorted(sent))
        self.assertGreater(len(sent), 20)
        for f in files:
            self.assertGreater(len(read_lines(f)), 0, f)

    def test_workers_reopen_too(self):
        g, path = self.gateway_with_file(workers=2)
        self.assertEqual(g.chat()[0], 200)
        self.assertTrue(wait_for(lambda: len(read_lines(path)) == 1))
        os.rename(path, path + ".1")
        g.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: g.stderr().count("event=access_log_reopened") == 2),
                        g.stderr())
        for _ in range(4):
            self.assertEqual(g.chat()[0], 200)
        self.assertTrue(wait_for(lambda: len(read_lines(path)) == 4))
        self.assertEqual(len(read_lines(path + ".1")), 1)

    def test_sigusr1_without_access_log_file(self):
        for target in ("", "-"):
            g = simple_gateway(self, self.mock(), server={"access_log": target})
            g.signal(signal.SIGUSR1)
            g.signal(signal.SIGUSR1)
            time.sleep(0.2)
            self.assertEqual(g.chat()[0], 200)
            self.assertIsNone(g.proc.poll())
            g.stop()

    def test_reopen_failure_keeps_the_old_file(self):
        g, path = self.gateway_with_file()
        os.rename(path, path + ".1")
        os.mkdir(path)  # the new file cannot be opened (not even by root)
        g.signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: "event=access_log_reopen_failed" in g.stderr()))
        failed = log_events(g.stderr(), "access_log_reopen_failed")
        self.assertEqual(failed[0]["target"], path)
        self.assertEqual(g.chat()[0], 200)  # still logged, to the file it has
        self.assertTrue(wait_for(lambda: len(read_lines(path + ".1")) == 1))
        os.rmdir(path)
        g.signal(signal.SIGUSR1)  # the next try works
        self.assertTrue(wait_for(lambda: "event=access_log_reopened" in g.stderr()))
        self.assertEqual(g.chat()[0], 200)
        self.assertTrue(wait_for(lambda: len(read_lines(path)) == 1))


if __name__ == "__main__":
    main()

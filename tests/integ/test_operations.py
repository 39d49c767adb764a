"""Operations (SPEC sections 1, 6, 9): the operator log is logfmt whatever
the values hold; the access log is reopened on SIGUSR1 and SIGHUP so
logrotate can move it; `help` and `COMMAND --help` describe the CLI."""

import os
import re
import signal
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


if __name__ == "__main__":
    main()

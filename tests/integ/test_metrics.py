"""/metrics against a real gateway (SPEC section 6, issue 16): the families an
operator builds dashboards on, time to first token per deployment, the build
info and the standard process_* family, and the whole exposition accepted by
Prometheus's own linter (`promtool check metrics`: every family with HELP and
TYPE, names and units as Prometheus expects)."""

import re
import shutil
import subprocess
import time
import unittest

from harness import TestCase, main, simple_gateway


class Metrics(TestCase):
    def setUp(self):
        super().setUp()
        self.m = self.mock(latency_ms=20, tokens_per_s=200)
        self.g = simple_gateway(self, self.m, sections={"hedge": {"enabled": False}})
        self.assertEqual(self.g.chat()[0], 200)
        self.assertEqual(self.g.chat(stream=True)[0], 200)

    def value(self, text, name, **labels):
        for line in text.splitlines():
            m = re.match(r"^([a-zA-Z_:]+)(?:\{([^}]*)\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(got.get(k) == str(v) for k, v in labels.items()):
                return float(m.group(3))
        self.fail("no %s %s in:\n%s" % (name, labels, text))

    def test_time_to_first_token_build_info_and_process(self):
        text = self.g.metrics()
        # One stream answered: one first-token time, below the stream's own length.
        self.assertEqual(self.value(text, "tailgate_time_to_first_token_seconds_count",
                                    deployment="d1"), 1)
        ttft = self.value(text, "tailgate_time_to_first_token_seconds_sum", deployment="d1")
        self.assertGreater(ttft, 0.015)
        self.assertLess(ttft, 5)
        version = subprocess.run([self.g.proc.args[0], "version"], capture_output=True,
                                 text=True).stdout.split()[1]
        self.assertEqual(self.value(text, "tailgate_build_info", version=version), 1)
        self.assertGreater(self.value(text, "process_cpu_seconds_total"), 0)
        self.assertGreater(self.value(text, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(self.value(text, "process_open_fds"), 3)
        start = self.value(text, "process_start_time_seconds")
        self.assertLess(abs(time.time() - start), 120)

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is missing")
    def test_promtool_accepts_the_exposition(self):
        text = self.g.metrics()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "", r.stdout + r.stderr)
        for family in set(re.findall(r"^# TYPE (\S+)", text, re.M)):
            self.assertIn("# HELP %s " % family, text)


if __name__ == "__main__":
    main()

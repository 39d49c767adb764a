"""/metrics against a real gateway (SPEC section 6, issue 16): the families an
operator builds dashboards on, time to first token per deployment, the build
info and the standard process_* family, and the whole exposition accepted by
Prometheus's own linter (`promtool check metrics`: every family with HELP and
TYPE, names and units as Prometheus expects). The Grafana dashboard and the
alert rules in packaging/ are checked against them: every query parses (as
promtool reads a rule) and names a family the gateway exports, and
`promtool test rules` shows each alert firing on the series it is for."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import SRC, TestCase, main, simple_gateway

DASHBOARD = os.path.join(SRC, "packaging", "grafana-dashboard.json")
ALERTS = os.path.join(SRC, "packaging", "prometheus-alerts.yml")
ALERT_TESTS = os.path.join(SRC, "tests", "data", "ops", "alerts_test.yml")
# Families that exist only with a config this test's gateway does not have.
CONFIG_ONLY = {"tailgate_shared_up"}


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


class SpendGauges(TestCase):
    def test_hourly_spend_and_caps_by_key_and_for_the_gateway(self):
        import hashlib
        m = self.mock(latency_ms=0)
        key = {"name": "team", "key_sha256": hashlib.sha256(b"sk-metrics-1").hexdigest(),
               "usd_per_hour": 2.5}
        g = simple_gateway(self, m, sections={"auth": {"keys": [key]},
                                              "budget": {"usd_per_hour": 40.0}},
                           deployments=[{"name": "d1", "provider": "up", "model": "x",
                                         "input_usd_per_mtok": 5.0, "output_usd_per_mtok": 15.0}])
        s, h, _ = g.chat(headers={"Authorization": "Bearer sk-metrics-1"})
        self.assertEqual(s, 200)
        cost = float(h["x-tailgate-cost-usd"])
        self.assertGreater(cost, 0)
        self.assertAlmostEqual(g.metric("tailgate_hourly_spend_usd", key="team"), cost, places=9)
        self.assertAlmostEqual(g.metric("tailgate_hourly_spend_usd", key="(gateway)"), cost,
                               places=9)
        self.assertEqual(g.metric("tailgate_hourly_spend_cap_usd", key="team"), 2.5)
        self.assertEqual(g.metric("tailgate_hourly_spend_cap_usd", key="(gateway)"), 40.0)


def dashboard_queries():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


class Dashboard(TestCase):
    def test_every_query_names_a_family_the_gateway_exports(self):
        m = self.mock(latency_ms=0)
        g = simple_gateway(self, m)
        self.assertEqual(g.chat(stream=True)[0], 200)
        text = g.metrics()
        families = set(re.findall(r"^# TYPE (\S+)", text, re.M))
        queries = dashboard_queries()
        self.assertGreaterEqual(len(queries), 20)
        for q in queries:
            for name in re.findall(r"\b((?:tailgate|process)_[a-z_]+)", q):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if base in CONFIG_ONLY:
                    continue
                self.assertIn(base, families, q)
        for family in ("tailgate_requests_total", "tailgate_upstream_attempts_total",
                       "tailgate_breaker_state", "tailgate_hedges_total",
                       "tailgate_time_to_first_token_seconds", "tailgate_spend_usd_total"):
            self.assertTrue(any(family in q for q in queries), family)

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is missing")
    def test_every_query_parses(self):
        # As recording rules, with Grafana's variables given values, so that
        # promtool parses each one as PromQL.
        lines = ["groups:", "  - name: dashboard", "    rules:"]
        for i, q in enumerate(dashboard_queries()):
            q = q.replace("$__rate_interval", "5m").replace("$instance", ".*")
            lines += ["      - record: dashboard:query_%d" % i, "        expr: %s" % json.dumps(q)]
        path = os.path.join(tempfile.mkdtemp(prefix="tg-dash-"), "rules.yml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


@unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is missing")
class Alerts(unittest.TestCase):
    def test_rules_are_valid(self):
        r = subprocess.run(["promtool", "check", "rules", ALERTS], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("4 rules found", r.stdout)

    def test_each_alert_fires_on_its_series(self):
        r = subprocess.run(["promtool", "test", "rules", ALERT_TESTS], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    main()

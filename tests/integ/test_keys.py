"""[[auth.keys]] against real processes (SPEC section 8, issue 12 part A):
keys at the door (401 / 403, both header forms, never sent upstream), the
key's name in the access log, metrics and /status, per-key rpm/tpm as
sliding windows with 429 + Retry-After + x-ratelimit-*, refused requests
never reaching the provider, tpm settled with the reported usage, a race
for the last unit, and keys changed by SIGHUP mid-traffic."""

import json
import os
import subprocess
import tempfile
import threading
import time

from harness import TestCase, main, make_config, openai_provider, tailgate_bin

KEY_A = "sk-team-a-0123456789"
KEY_B = "sk-team-b-9876543210"
SHA_A = __import__("hashlib").sha256(KEY_A.encode()).hexdigest()


def bearer(key):
    return {"Authorization": "Bearer " + key}


class Keys(TestCase):
    def start_gateway(self, keys, env=None, **mock_opts):
        self.m = self.mock(**mock_opts)
        self.env = {"UP_KEY": "sk-provider-own", "TEAM_B_KEY": KEY_B}
        self.env.update(env or {})
        self.g = self.gateway(env=self.env, **self.parts(keys))
        return self.g

    def parts(self, keys):
        deployments = [{"name": "d-" + m, "provider": "up", "model": "up-" + m}
                       for m in ("m", "gpt-4o-mini", "claude-x")]
        return dict(
            sections={"hedge": {"enabled": False}, "cache": {"mode": "off"},
                      "auth": {"keys": keys}},
            providers=[openai_provider("up", self.m, api_key_env="UP_KEY")],
            deployments=deployments,
            routes=[{"model": d["name"][2:], "deployments": [d["name"]]} for d in deployments])

    def rewrite(self, keys):
        server = {"listen": "127.0.0.1:%d" % self.g.port,
                  "admin_listen": "127.0.0.1:%d" % self.g.admin_port, "access_log": "-"}
        self.g.rewrite(make_config(server=server, **self.parts(keys)))

    def upstream_requests(self):
        return [r for r in self.m.stats()["recent"] if r["path"] == "/v1/chat/completions"]

    def assert_error(self, resp, status, code):
        s, h, b = resp
        self.assertEqual(s, status, b)
        self.assertEqual(json.loads(b)["error"]["code"], code, b)
        self.assertIn("x-request-id", h)
        return h


class Door(Keys):
    def setUp(self):
        super().setUp()
        self.start_gateway([
            {"name": "team-a", "key_sha256": SHA_A, "models": ["gpt-*"]},
            {"name": "team-b", "key_env": "TEAM_B_KEY"}])

    def test_401_without_or_with_a_wrong_key_in_both_forms(self):
        g = self.g
        for headers in ({}, bearer("sk-wrong"), {"x-api-key": "sk-wrong"},
                        {"Authorization": KEY_A},          # no "Bearer "
                        {"Authorization": "Bearer "}):
            h = self.assert_error(g.chat(model="gpt-4o-mini", headers=headers), 401,
                                  "invalid_api_key")
            self.assertEqual(h.get("x-should-retry"), "false", headers)
        self.assert_error(g.call("GET", "/v1/models"), 401, "invalid_api_key")
        self.assertEqual(self.upstream_requests(), [])
        for headers in (bearer(KEY_A), {"x-api-key": KEY_A}, {"authorization": "bearer " + KEY_A}):
            s, _, b = g.chat(model="gpt-4o-mini", headers=headers)
            self.assertEqual(s, 200, (headers, b))
        # The provider got its own key, never the client's.
        ups = self.upstream_requests()
        self.assertEqual(len(ups), 3)
        for r in ups:
            hdrs = {k.lower(): v for k, v in r["headers"].items()}
            self.assertEqual(hdrs.get("authorization"), "Bearer sk-provider-own", hdrs)
            self.assertNotIn("x-api-key", hdrs)
            self.assertNotIn(KEY_A, json.dumps(r))

    def test_403_for_a_route_the_globs_do_not_allow(self):
        h = self.assert_error(self.g.chat(model="claude-x", headers=bearer(KEY_A)), 403,
                              "model_not_allowed")
        self.assertEqual(h.get("x-should-retry"), "false")
        self.assert_error(self.g.chat(model="m", headers={"x-api-key": KEY_A}), 403,
                          "model_not_allowed")
        self.assertEqual(self.upstream_requests(), [])
        # an unknown model is still 404, and team-b's default ["*"] calls anything
        self.assert_error(self.g.chat(model="nope", headers=bearer(KEY_A)), 404, "model_not_found")
        self.assertEqual(self.g.chat(model="claude-x", headers=bearer(KEY_B))[0], 200)

    def test_models_lists_only_what_the_key_may_call(self):
        s, _, b = self.g.call("GET", "/v1/models", headers=bearer(KEY_A))
        self.assertEqual(s, 200, b)
        self.assertEqual([m["id"] for m in json.loads(b)["data"]], ["gpt-4o-mini"])
        s, _, b = self.g.call("GET", "/v1/models", headers=bearer(KEY_B))
        self.assertEqual(sorted(m["id"] for m in json.loads(b)["data"]),
                         ["claude-x", "gpt-4o-mini", "m"])
        self.assertEqual(self.g.call("GET", "/v1/models/claude-x", headers=bearer(KEY_A))[0], 404)
        self.assertEqual(self.g.call("GET", "/v1/models/gpt-4o-mini", headers=bearer(KEY_A))[0],
                         200)

    def test_key_name_in_access_log_metrics_and_status_never_the_key(self):
        g = self.g
        self.assertEqual(g.chat(model="gpt-4o-mini", headers=bearer(KEY_A))[0], 200)
        self.assertEqual(g.chat(model="claude-x", headers=bearer(KEY_A))[0], 403)
        self.assertEqual(g.chat(model="m", headers=bearer("sk-nobody"))[0], 401)
        lines = g.wait_log(lambda l: l.get("status") == 401)
        self.assertTrue(lines)
        log = g.access_log()
        by_status = {l["status"]: l for l in log}
        self.assertEqual(by_status[200]["key"], "team-a")
        self.assertEqual(by_status[403]["key"], "team-a")
        self.assertIsNone(by_status[401]["key"])
        self.assertEqual(g.metric("tailgate_key_requests_total", key="team-a", code="200"), 1)
        self.assertEqual(g.metric("tailgate_key_requests_total", key="team-a", code="403"), 1)
        self.assertEqual(g.metric("tailgate_key_requests_total", code="401"), 0)
        st = g.status()["keys"]
        self.assertEqual(set(st), {"team-a", "team-b"})
        self.assertEqual(st["team-a"]["rpm"], 0)
        everything = g.stdout() + g.stderr() + g.metrics() + json.dumps(g.status())
        for secret in (KEY_A, KEY_B, SHA_A):
            self.assertNotIn(secret, everything)


class RateLimits(Keys):
    def test_rpm_refuses_the_4th_before_the_provider(self):
        g = self.start_gateway([{"name": "team-a", "key_sha256": SHA_A, "rpm": 3}])
        for i in range(3):
            s, h, b = g.chat(headers=bearer(KEY_A))
            self.assertEqual(s, 200, b)
            self.assertEqual(h["x-ratelimit-limit-requests"], "3")
            self.assertEqual(h["x-ratelimit-remaining-requests"], str(2 - i))
            self.assertRegex(h["x-ratelimit-reset-requests"], r"^(\d+ms|\d+s|1m0s)$")
            self.assertNotIn("x-ratelimit-limit-tokens", h)  # no tpm set
        h = self.assert_error(g.chat(headers=bearer(KEY_A)), 429, "rate_limited")
        self.assertTrue(1 <= int(h["retry-after"]) <= 60, h)
        self.assertEqual(h["x-ratelimit-limit-requests"], "3")
        self.assertEqual(h["x-ratelimit-remaining-requests"], "0")
        self.assertIn("x-ratelimit-reset-requests", h)
        self.assertEqual(self.m.stats()["requests"], 3)
        self.assertEqual(len(self.upstream_requests()), 3)
        line = g.wait_log(lambda l: l.get("status") == 429)[0]
        self.assertEqual(line["key"], "team-a")
        self.assertEqual(line["attempts"], [])
        self.assertEqual(g.metric("tailgate_key_requests_total", key="team-a", code="429"), 1)
        self.assertEqual(g.status()["keys"]["team-a"]["requests_in_window"], 3)

    def test_tpm_is_settled_with_the_reported_usage(self):
        g = self.start_gateway([{"name": "team-a", "key_sha256": SHA_A, "tpm": 2000}],
                               output_tokens=16)
        extra = {"max_tokens": 1500}
        s, h, b = g.chat(headers=bearer(KEY_A), extra=extra)
        self.assertEqual(s, 200, b)
        usage = json.loads(b)["usage"]
        used = usage["prompt_tokens"] + usage["completion_tokens"]
        self.assertLess(used, 200)
        self.assertEqual(h["x-ratelimit-limit-tokens"], "2000")
        estimate = 2000 - int(h["x-ratelimit-remaining-tokens"])
        self.assertGreater(estimate, 1500)  # admitted on prompt bytes / 4 + max_tokens
        # Settled: the window holds the real usage, so a second such request fits
        # (two estimates would not).
        deadline = time.time() + 3
        while g.status()["keys"]["team-a"]["tokens_in_window"] != used and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(g.status()["keys"]["team-a"]["tokens_in_window"], used)
        s, h, b = g.chat(headers=bearer(KEY_A), extra=extra)
        self.assertEqual(s, 200, b)
        self.assertEqual(int(h["x-ratelimit-remaining-tokens"]), 2000 - used - estimate)
        # A third is refused on its estimate, and never sent.
        h = self.assert_error(g.chat(headers=bearer(KEY_A), extra={"max_tokens": 1960}), 429,
                              "rate_limited")
        self.assertIn("retry-after", h)
        self.assertEqual(h["x-ratelimit-limit-tokens"], "2000")
        self.assertEqual(len(self.upstream_requests()), 2)

    def test_two_requests_race_for_the_last_unit(self):
        g = self.start_gateway([{"name": "team-a", "key_sha256": SHA_A, "rpm": 2}],
                               latency_ms=300)
        self.assertEqual(g.chat(headers=bearer(KEY_A))[0], 200)
        results = []
        barrier = threading.Barrier(2)

        def one():
            barrier.wait()
            results.append(g.chat(headers=bearer(KEY_A))[0])

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(results), [200, 429])
        self.assertEqual(self.m.stats()["requests"], 2)

    def test_stream_gets_the_headers_too(self):
        g = self.start_gateway([{"name": "team-a", "key_sha256": SHA_A, "rpm": 5, "tpm": 100000}])
        s, h, b = g.chat(headers=bearer(KEY_A), stream=True)
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-ratelimit-remaining-requests"], "4")
        self.assertEqual(h["x-ratelimit-limit-tokens"], "100000")


class Reload(Keys):
    def test_sighup_changes_keys_mid_traffic(self):
        g = self.start_gateway([{"name": "team-a", "key_sha256": SHA_A, "rpm": 100}])
        self.m.script([{"delay_ms": 1500}])
        slow = {}

        def in_flight():
            slow["resp"] = g.chat(headers=bearer(KEY_A))

        t = threading.Thread(target=in_flight)
        t.start()
        self.m.wait_stats(lambda s: s["inflight"] >= 1)
        self.rewrite([{"name": "team-b", "key_env": "TEAM_B_KEY", "rpm": 1}])
        g.reload()
        deadline = time.time() + 10
        while g.chat(headers=bearer(KEY_B))[0] != 200 and time.time() < deadline:
            time.sleep(0.05)
        self.assert_error(g.chat(headers=bearer(KEY_A)), 401, "invalid_api_key")
        # the new key's new limit holds (its one request was used while waiting)
        self.assert_error(g.chat(headers=bearer(KEY_B)), 429, "rate_limited")
        t.join(30)
        s, h, b = slow["resp"]
        self.assertEqual(s, 200, b)
        self.assertEqual(h["x-ratelimit-limit-requests"], "100")
        lines = g.wait_log(lambda l: l.get("key") == "team-a" and l.get("status") == 200)
        self.assertEqual(len(lines), 1)
        self.assertEqual(set(g.status()["keys"]), {"team-b"})


class Check(TestCase):
    def run_check(self, text, env):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            return subprocess.run([tailgate_bin(), "check", "-c", path], capture_output=True,
                                  text=True, env=dict(os.environ, **env), timeout=30)
        finally:
            os.unlink(path)

    def test_check_prints_names_limits_and_routes_never_the_key(self):
        text = make_config(
            providers=[{"name": "p", "kind": "mock"}],
            deployments=[{"name": "d", "provider": "p", "model": "x"}],
            routes=[{"model": "gpt-4o", "deployments": ["d"]},
                    {"model": "claude", "deployments": ["d"]}],
            sections={"auth": {"keys": [
                {"name": "team-a", "key_env": "TG_CHECK_KEY", "models": ["gpt-*"], "rpm": 60,
                 "tpm": 1000},
                {"name": "team-b", "key_sha256": SHA_A}]}})
        p = self.run_check(text, {"TG_CHECK_KEY": KEY_B})
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertRegex(out, r'key "team-a".*\n\s+limits\s+60 requests/min, 1000 tokens/min\n'
                              r'\s+routes\s+gpt-4o\n')
        self.assertRegex(out, r'key "team-b"\n\s+limits\s+none\n\s+routes\s+gpt-4o, claude\n')
        for secret in (KEY_B, SHA_A):
            self.assertNotIn(secret, out + p.stderr)
        # key_env unset: an error naming the variable, at its FILE:LINE:COL
        p = self.run_check(text, {"TG_CHECK_KEY": ""})
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r':\d+:\d+: key "team-a": the environment variable '
                                   r'"TG_CHECK_KEY" \(key_env\) is unset or empty')


class NoKeys(TestCase):
    def test_open_as_before(self):
        m = self.mock(latency_ms=0)
        g = self.gateway(providers=[openai_provider("up", m)],
                         deployments=[{"name": "d", "provider": "up", "model": "x"}],
                         routes=[{"model": "m", "deployments": ["d"]}])
        s, h, b = g.chat()
        self.assertEqual(s, 200, b)
        self.assertNotIn("x-ratelimit-limit-requests", h)
        self.assertEqual(g.call("GET", "/v1/models")[0], 200)
        self.assertIsNone(g.wait_log(lambda l: l.get("status") == 200)[0]["key"])
        self.assertEqual(g.status()["keys"], {})


if __name__ == "__main__":
    main()

"""The command line (SPEC section 1) as real subprocesses: `tailgate check` on
the example and on broken configs, `version`, usage errors, and `serve` on the
example config (with free ports) answering every route, then stopping cleanly
on SIGTERM."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXAMPLE = os.path.join(harness.SRC, "config.toml.example")
ROUTES = ("fast", "smart", "backup")

MINIMAL = """\
[[providers]]
name = "p"
kind = "mock"

[[deployments]]
name = "d"
provider = "p"
model = "m1"

[[routes]]
model = "r"
deployments = ["d"]
"""


def run(*args, timeout=20, env=None):
    env = dict(os.environ if env is None else env)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    p = subprocess.run([harness.tailgate_bin()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def example_text(port, admin_port):
    with open(EXAMPLE) as f:
        text = f.read()
    text, n1 = re.subn(r'(?m)^listen = "[^"]*"', 'listen = "127.0.0.1:%d"' % port, text)
    text, n2 = re.subn(r'(?m)^admin_listen = "[^"]*"', 'admin_listen = "127.0.0.1:%d"' % admin_port,
                       text)
    assert n1 == 1 and n2 == 1, "config.toml.example no longer has listen/admin_listen lines"
    return text


class ExampleGateway(harness.Gateway):
    """`tailgate serve` on config.toml.example, with its two addresses moved to free ports."""

    def __init__(self):
        self.port = harness.free_port()
        self.admin_port = harness.free_port()
        fd, self.config_path = tempfile.mkstemp(prefix="tg-example-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(example_text(self.port, self.admin_port))
        harness.Process.__init__(self, ["serve", "-c", self.config_path], "gateway")
        harness.wait_port(self.port, proc=self.proc)
        harness.wait_port(self.admin_port, proc=self.proc)


class CliTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="tg-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_no_sanitizer(self, err):
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)

    # ---- check ----------------------------------------------------------

    def test_check_example(self):
        code, out, err = run("check", "-c", EXAMPLE)
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        lines = out.splitlines()
        self.assertEqual(lines[0], "%s: ok" % EXAMPLE)
        self.assertIn("3 routes, 3 deployments, 3 providers", out)
        # one block per route: its deployments and its fallbacks
        blocks = {}
        current = None
        for line in lines:
            m = re.match(r'^route "([^"]+)"$', line)
            if m:
                current = m.group(1)
                blocks[current] = []
            elif current and line.strip():
                blocks[current].append(line.split(None, 1))
        self.assertEqual(list(blocks), list(ROUTES))

        def field(route, name):
            for parts in blocks[route]:
                if parts[0] == name:
                    return parts[1] if len(parts) > 1 else ""
            self.fail("route %s has no %s line:\n%s" % (route, name, out))

        self.assertTrue(field("fast", "deployments").startswith("fast@mock"))
        self.assertIn('"mock-fast-1"', field("fast", "deployments"))
        self.assertIn('mock provider "fast-mock"', field("fast", "deployments"))
        self.assertIn("$0.15 in / $0.075 cached / $0.6 out per Mtok", field("fast", "deployments"))
        self.assertNotIn("per Mtok", field("smart", "deployments"))  # no prices, none shown
        self.assertTrue(field("smart", "deployments").startswith("flaky@mock"))
        self.assertTrue(field("backup", "deployments").startswith("backup@mock"))
        self.assertEqual(field("fast", "fallbacks"), "(none)")
        self.assertEqual(field("smart", "fallbacks"), "backup")
        self.assertEqual(field("backup", "fallbacks"), "(none)")
        for r in ROUTES:
            self.assertEqual(field(r, "context_window_fallbacks"), "(none)")
            self.assertEqual(field(r, "content_policy_fallbacks"), "(none)")
        self.assertIn("request 8000ms", field("smart", "policy"))
        self.assertIn("request 600000ms", field("fast", "policy"))
        self.assertEqual(field("fast", "streams"), "first content 60000ms, idle 60000ms")
        self.assertEqual(field("smart", "overrides"), "timeouts.request_ms=8000")
        self.assertIn("\nIdempotency-Key answers kept 600s, in at most 67108864 bytes\n", out)

    def test_check_shared(self):
        code, out, err = run("check", "-c", self.write("local.toml", MINIMAL))
        self.assertEqual(code, 0, err)
        self.assertIn("not shared ([shared] redis_url unset)", out)
        path = self.write("shared.toml", MINIMAL + '[shared]\nredis_url = "redis://[::1]:6380/2"\n'
                          'password_env = "TG_CLI_REDIS_PW"\n')
        code, out, err = run("check", "-c", path, env=dict(os.environ, TG_CLI_REDIS_PW="pw"))
        self.assertEqual(code, 0, err)
        self.assertIn("shared with every instance through Redis at [::1]:6380 db 2, password "
                      "from TG_CLI_REDIS_PW", out)
        self.assertNotIn("pw\n", out)
        code, out, err = run("check", "-c", path)  # the variable is not set
        self.assertEqual(code, 1)
        self.assertIn("TG_CLI_REDIS_PW", err)

    def test_check_config_flag_forms(self):
        path = self.write("ok.toml", MINIMAL)
        for args in (["--config", path], ["--config=" + path], ["-c", path]):
            code, out, err = run("check", *args)
            self.assertEqual(code, 0, err)
            self.assertTrue(out.startswith("%s: ok\n" % path), out)
            self.assertIn('route "r"', out)

    def test_check_fallback_chain_and_weights(self):
        weighted = MINIMAL.replace('model = "m1"\n', 'model = "m1"\nweight = 3\n')
        path = self.write("chain.toml", weighted + """
[[deployments]]
name = "e"
provider = "p"
model = "m2"

[[routes]]
model = "big"
deployments = ["d", "e"]
fallbacks = ["r", "s"]
context_window_fallbacks = ["s"]
content_policy_fallbacks = ["r"]

[[routes]]
model = "s"
deployments = ["e"]
""")
        code, out, err = run("check", "-c", path)
        self.assertEqual(code, 0, err)
        block = out.split('route "big"', 1)[1].split("\nroute ", 1)[0]
        self.assertRegex(block, r"deployments\s+d\s+weight 3 \(75%\)")
        self.assertRegex(block, r"\n\s+e\s+weight 1 \(25%\)")
        self.assertRegex(block, r"\n\s+fallbacks\s+r -> s\n")
        self.assertRegex(block, r"\n\s+context_window_fallbacks\s+s\n")
        self.assertRegex(block, r"\n\s+content_policy_fallbacks\s+r\n")

    def test_check_warnings_still_ok(self):
        path = self.write("warn.toml", MINIMAL + """
[[deployments]]
name = "unused"
provider = "p"
model = "m2"
""")
        code, out, err = run("check", "-c", path)
        self.assertEqual(code, 0, err)
        self.assertIn('warning: deployment "unused" is not in any route', out)

    def test_check_azure_provider(self):
        """An azure provider shows its deployment URL and api-version; its key
        by the variable's name only."""
        path = self.write("azure.toml", MINIMAL.replace(
            'kind = "mock"\n', 'kind = "azure"\n'
            'base_url = "https://res.openai.azure.com/openai/deployments/gpt4o/"\n'
            'api_version = "2024-10-21"\napi_key_env = "TG_TEST_AZURE_KEY"\n'))
        env = dict(os.environ, TG_TEST_AZURE_KEY="az-secret-key")
        code, out, err = run("check", "-c", path, env=env)
        self.assertEqual(code, 0, err)
        self.assertIn('azure provider "p" https://res.openai.azure.com/openai/deployments/gpt4o '
                      'api-version 2024-10-21 (key from $TG_TEST_AZURE_KEY)', out)
        self.assertNotIn("az-secret-key", out + err)
        self.assertNotIn("warning", out)

    # Each broken config: (name, text with "@@" where the error must point, words
    # the message must hold).
    BROKEN = [
        ("syntax", MINIMAL + '[server]\nlisten = "127.0.0.1:80@@\n', ["unterminated"]),
        ("type", '[server]\nworkers = @@"2"\n' + MINIMAL, ["server.workers", "integer"]),
        ("float_for_int", "[timeouts]\nrequest_ms = @@1.5\n" + MINIMAL,
         ["timeouts.request_ms", "integer"]),
        ("range", "[hedge]\nquantile = @@2.0\n" + MINIMAL, ["hedge.quantile"]),
        ("unknown_key", "[retry]\n@@max_atempts = 2\n" + MINIMAL,
         ['unknown key "max_atempts"', 'did you mean "max_attempts"']),
        ("unknown_table", "[@@sever]\n" + MINIMAL, ['"sever"', 'did you mean "server"']),
        ("shared_url", MINIMAL + "[shared]\nredis_url = @@\"redis://:pw@h\"\n",
         ["shared.redis_url", "password_env"]),
        ("spend_cap", MINIMAL + "[budget]\nusd_per_hour = @@-1.0\n",
         ["budget.usd_per_hour", "between"]),
        ("dangling_deployment",
         MINIMAL.replace('deployments = ["d"]', 'deployments = ["d", @@"x"]'),
         ['deployment "x"', "not defined"]),
        ("dangling_provider", MINIMAL.replace('provider = "p"', 'provider = @@"q"'),
         ['provider "q"']),
        ("dangling_fallback", MINIMAL + 'fallbacks = [@@"nowhere"]\n', ['"nowhere"']),
        ("missing_required", MINIMAL + '\n@@[[routes]]\nmodel = "s"\n',
         ['route "s"', '"deployments"']),
        ("cycle", MINIMAL + 'fallbacks = ["s"]\n\n[[routes]]\nmodel = "s"\n'
         'deployments = ["d"]\nfallbacks = [@@"r"]\n',
         ["fallback cycle", '"r" -> "s" -> "r"']),
        ("cycle3", MINIMAL + 'fallbacks = ["s"]\n\n[[routes]]\nmodel = "s"\n'
         'deployments = ["d"]\ncontext_window_fallbacks = ["t"]\n\n[[routes]]\nmodel = "t"\n'
         'deployments = ["d"]\nfallbacks = [@@"r"]\n',
         ["fallback cycle", '"r" -> "s" -> "t" -> "r"']),
        ("azure_no_api_version",
         MINIMAL.replace('[[providers]]\nname = "p"\nkind = "mock"\n',
                         '@@[[providers]]\nname = "p"\nkind = "azure"\n'
                         'base_url = "https://r.openai.azure.com/openai/deployments/d"\n'
                         'api_key_env = "AZ_KEY"\n'),
         ['provider "p"', '"azure"', '"api_version"']),
        ("api_version_not_azure",
         MINIMAL.replace('kind = "mock"\n', 'kind = "openai"\nbase_url = "http://127.0.0.1:1/v1"\n'
                         '@@api_version = "2024-10-21"\n'),
         ['provider "p"', '"api_version"', 'only to kind = "azure"']),
        ("azure_bad_api_version",
         MINIMAL.replace('kind = "mock"\n', 'kind = "azure"\n'
                         'base_url = "https://r.openai.azure.com/openai/deployments/d"\n'
                         'api_version = @@"2024-10-21&x=1"\n'),
         ['provider "p"', "api_version", "2024-10-21&x=1"]),
        ("azure_query_in_base_url",
         MINIMAL.replace('kind = "mock"\n', 'kind = "azure"\nbase_url = '
                         '@@"https://r.openai.azure.com/openai/deployments/d?api-version=1"\n'
                         'api_version = "2024-10-21"\n'),
         ['provider "p"', "query", '"api_version"']),
    ]

    @staticmethod
    def strip_mark(marked):
        i = marked.index("@@")
        before = marked[:i]
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        return marked[:i] + marked[i + 2:], line, col

    def test_check_broken(self):
        for name, marked, words in self.BROKEN:
            with self.subTest(name):
                text, line, col = self.strip_mark(marked)
                path = self.write(name + ".toml", text)
                code, out, err = run("check", "-c", path)
                self.assertEqual(code, 1, "%s: exit %s, stderr %r" % (name, code, err))
                self.assertEqual(out, "")
                self.assert_no_sanitizer(err)
                err_lines = err.splitlines()
                self.assertEqual(len(err_lines), 1, err)
                self.assertTrue(err.endswith("\n"), repr(err))
                prefix = "%s:%d:%d: " % (path, line, col)
                self.assertTrue(err_lines[0].startswith(prefix),
                                "%s: %r does not start with %r" % (name, err_lines[0], prefix))
                self.assertGreater(len(err_lines[0]), len(prefix))
                for w in words:
                    self.assertIn(w, err_lines[0])

    def test_check_missing_file(self):
        path = os.path.join(self.tmp, "missing.toml")
        code, out, err = run("check", "-c", path)
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith(path + ":1:1: "), err)
        self.assertIn("No such file", err)

    def test_example_counts_what_it_has(self):
        """The example's own header and the README say how many routes and mock
        providers it has; they must match the file."""
        words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
        with open(EXAMPLE) as f:
            text = f.read()
        header = " ".join(l.lstrip("# ") for l in text.splitlines()[:4])
        live = [l for l in text.splitlines() if not l.startswith("#")]
        routes = sum(1 for l in live if l.strip() == "[[routes]]")
        mocks = sum(1 for l in live if l.split("#")[0].strip() == 'kind = "mock"')
        self.assertEqual(words[re.search(r"the (\w+) routes", header).group(1)], routes)
        self.assertEqual(words[re.search(r"by (\w+) built-in mock", header).group(1)], mocks)
        with open(os.path.join(harness.SRC, "README.md")) as f:
            readme = f.read()
        self.assertEqual(words[re.search(r"\((\w+) routes served by built-in mock",
                                         readme).group(1)], routes)
        code, out, _ = run("check", "-c", EXAMPLE)
        self.assertIn("%d routes, " % routes, out)

    def test_dev_run_stdout_is_only_the_access_log(self):
        """`./dev run`'s stdout is the gateway's access log: install and build
        output must not land in it. Run on a copy of `dev` with deps/install.sh,
        cmake and the binary replaced by stand-ins that talk on stdout."""
        root = os.path.join(self.tmp, "repo")
        os.makedirs(os.path.join(root, "deps"))
        shutil.copy(os.path.join(harness.SRC, "dev"), root)
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        stubs = {
            os.path.join(root, "deps", "install.sh"): "echo installing libuv1-dev\n",
            os.path.join(bindir, "tailgate"): 'echo "{\\"args\\": \\"$*\\"}"\n',
            # configure: -S . -B DIR ...; build: --build DIR ...
            os.path.join(bindir, "cmake"): ('echo "-- Configuring done"\n'
                                            'if [ "$1" = --build ]; then\n'
                                            '  echo "[100%] Built target tailgate"\n'
                                            '  cp "$(dirname "$0")/tailgate" "$2/tailgate"\n'
                                            'else mkdir -p "$4"; fi\n'),
        }
        for path, body in stubs.items():
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body)
            os.chmod(path, 0o755)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])
        p = subprocess.run(["sh", os.path.join(root, "dev"), "run"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode(), '{"args": "serve -c config.toml.example"}\n')
        self.assertIn("Built target", p.stderr.decode())
        self.assertTrue(os.path.exists(os.path.join(root, "build", "release", "tailgate")))
        with open(os.path.join(harness.SRC, "README.md")) as f:
            self.assertIn("build/release/tailgate", f.read())

    def test_check_usage(self):
        for args in ([], ["-c"], ["extra"], ["-x", "file"]):
            with self.subTest(args=args):
                code, out, err = run("check", *args)
                self.assertEqual(code, 2, err)
                self.assertEqual(out, "")
                self.assertIn("usage", err)
                self.assertIn("check -c FILE", err)

    # ---- version, usage ---------------------------------------------------

    def test_version(self):
        code, out, err = run("version")
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^tailgate \d+\.\d+\.\d+")
        self.assertTrue(any(re.match(r"^libuv 1\.44\.", l) for l in lines), out)
        self.assertIn("llhttp 8.1.0", lines)
        self.assertTrue(any(re.match(r"^libcurl \d+\.\d+\.\d+", l) for l in lines), out)
        self.assertTrue(any(re.match(r"^OpenSSL \d+\.\d+\.\d+", l) for l in lines), out)
        self.assertEqual(run("--version")[1], out)

    def test_unknown_command(self):
        code, out, err = run("frobnicate")
        self.assertEqual(code, 2)
        self.assertIn("frobnicate", err)
        self.assertIn("usage", err)
        self.assertEqual(out, "")

    def test_no_command(self):
        code, out, err = run()
        self.assertEqual(code, 2)
        self.assertIn("usage", err)
        for cmd in ("serve", "check", "mock", "version"):
            self.assertIn("tailgate " + cmd, err)

    def test_help(self):
        code, out, err = run("help")
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        self.assertIn("usage", out)
        # every command, every option of each (SPEC section 9)
        for cmd in ("serve", "check", "mock", "version", "help"):
            self.assertIn("---- tailgate " + cmd, out)
        for opt in ("--config FILE", "--log-level LEVEL", "SIGHUP", "SIGUSR1", "SIGTERM",
                    "--listen HOST:PORT", "--latency-ms N", "--error-rate N", "--tls-cert FILE"):
            self.assertIn(opt, out)
        self.assertEqual(run("--help")[1], out)
        self.assertEqual(run("-h")[1], out)

    def test_command_help(self):
        for cmd in ("serve", "check", "mock", "version", "help"):
            for how in ([cmd, "--help"], [cmd, "-h"], ["help", cmd]):
                with self.subTest(args=how):
                    code, out, err = run(*how)
                    self.assertEqual(code, 0, err)
                    self.assertEqual(err, "")
                    self.assertTrue(out.startswith("usage: tailgate " + cmd), out)
        out = run("serve", "--help")[1]
        for opt in ("-c, --config FILE", "--log-level LEVEL", "debug, info, warn or error",
                    "SIGHUP", "SIGUSR1", "SIGTERM, SIGINT", "server.drain_ms"):
            self.assertIn(opt, out)

    def test_usage_errors_are_short(self):
        for args in (["serve", "--bogus"], ["serve", "-c", "x", "extra"],
                     ["serve", "--log-level", "loud"], ["serve", "--log-level"],
                     ["check", "--bogus"], ["version", "extra"], ["help", "nope"],
                     ["mock", "--bogus", "1"]):
            with self.subTest(args=args):
                code, out, err = run(*args)
                self.assertEqual(code, 2, err)
                self.assertEqual(out, "")
                self.assertIn("usage: tailgate " + args[0], err)
                self.assertIn(args[-1] if args[-1] != "1" else args[-2], err)
                self.assertLess(len(err.splitlines()), 25, err)

    def test_serve_log_level(self):
        port = harness.free_port()
        path = self.write("c.toml", '[server]\nlisten = "127.0.0.1:%d"\naccess_log = ""\n'
                          % port + MINIMAL)
        for level, seen, unseen in (("debug", "event=req_state", None),
                                    ("--log-level=info", "event=listening", "event=req_state"),
                                    ("error", None, "event=listening")):
            with self.subTest(level=level):
                args = ["serve", "-c", path] + ([level] if level.startswith("--")
                                                else ["--log-level", level])
                gw = self.start(harness.Process(args, "gateway"))
                harness.wait_port(port, proc=gw.proc)
                body = json.dumps({"model": "r", "messages": [{"role": "user", "content": "x"}]})
                self.assertEqual(harness.request(port, "POST", "/v1/chat/completions",
                                                 body)[0], 200)
                self.assertEqual(gw.stop(), 0)
                if seen:
                    self.assertIn(seen, gw.stderr())
                if unseen:
                    self.assertNotIn(unseen, gw.stderr())

    # ---- serve --------------------------------------------------------------

    def test_serve_missing_config(self):
        path = os.path.join(self.tmp, "missing.toml")
        start = time.time()
        code, out, err = run("serve", "-c", path, timeout=10)
        self.assertEqual(code, 1, err)
        self.assertLess(time.time() - start, 5)
        self.assertIn(path, err)
        self.assertIn("cannot open", err)
        self.assertIn("No such file", err)
        self.assert_no_sanitizer(err)

    def test_serve_broken_config(self):
        path = self.write("broken.toml", "[server]\nworkers = \"2\"\n" + MINIMAL)
        code, out, err = run("serve", "-c", path, timeout=10)
        self.assertEqual(code, 1, err)
        self.assertIn("%s:2:11: " % path, err)
        self.assert_no_sanitizer(err)

    def test_serve_usage(self):
        code, out, err = run("serve", "-c")
        self.assertEqual(code, 2)
        self.assertIn("usage", err)

    def test_serve_example(self):
        gw = self.start(ExampleGateway())
        for model in ROUTES:
            with self.subTest(route=model):
                status, headers, body = gw.chat(model=model, content="Say hi")
                self.assertEqual(status, 200, body)
                doc = json.loads(body)
                self.assertEqual(doc["object"], "chat.completion")
                self.assertEqual(doc["choices"][0]["message"]["role"], "assistant")
                self.assertIsInstance(doc["choices"][0]["message"]["content"], str)
                self.assertTrue(doc["choices"][0]["message"]["content"])
                self.assertIn("usage", doc)
                self.assertIn("x-request-id", headers)
                # smart may fall back to backup (its mock fails 20% of requests)
                expected = ("smart", "backup") if model == "smart" else (model,)
                self.assertIn(headers.get("x-tailgate-route"), expected)

        status, _, body = gw.call("GET", "/v1/models")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["object"], "list")
        self.assertEqual(sorted(m["id"] for m in doc["data"]), sorted(ROUTES))
        for m in doc["data"]:
            self.assertEqual(m["object"], "model")

        status, _, body = gw.chat(model="no-such-route")
        self.assertEqual(status, 404, body)
        self.assertEqual(json.loads(body)["error"]["code"], "model_not_found")

        status, _, body = gw.admin("/healthz")
        self.assertEqual(status, 200, body)
        self.assertEqual(set(gw.status()["routes"]), set(ROUTES))

        # SIGTERM: exit 0 promptly, no sanitizer report (stop() checks both)
        start = time.time()
        self.assertEqual(gw.stop(timeout=15), 0)
        self.assertLess(time.time() - start, 12)

    def test_serve_sighup_reload(self):
        parts = dict(providers=[{"name": "p", "kind": "mock", "mock": {"latency_ms": 0}}],
                     deployments=[{"name": "d", "provider": "p", "model": "m1"}],
                     routes=[{"model": "r", "deployments": ["d"]}])
        gw = self.start(harness.Gateway(**parts))
        server = {"listen": "127.0.0.1:%d" % gw.port,
                  "admin_listen": "127.0.0.1:%d" % gw.admin_port, "access_log": "-"}

        def models():
            status, _, body = gw.call("GET", "/v1/models")
            self.assertEqual(status, 200, body)
            return sorted(m["id"] for m in json.loads(body)["data"])

        self.assertEqual(models(), ["r"])
        # an invalid new config is logged and the old one kept
        gw.rewrite(harness.make_config(server=server, **parts) + "[retry]\nmax_atempts = 2\n")
        gw.reload()
        deadline = time.time() + 5
        while "max_atempts" not in gw.stderr() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("max_atempts", gw.stderr())
        self.assertEqual(models(), ["r"])
        self.assertEqual(gw.chat(model="r")[0], 200)
        # a valid one replaces it
        parts["routes"].append({"model": "s", "deployments": ["d"]})
        gw.rewrite(harness.make_config(server=server, **parts))
        gw.reload()
        deadline = time.time() + 5
        while models() != ["r", "s"] and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(models(), ["r", "s"])
        self.assertEqual(gw.chat(model="s")[0], 200)

    def test_serve_sigint(self):
        gw = self.start(harness.Gateway(config=None, providers=[{"name": "p", "kind": "mock",
                                                                 "mock": {"latency_ms": 0}}],
                                        deployments=[{"name": "d", "provider": "p",
                                                      "model": "m1"}],
                                        routes=[{"model": "r", "deployments": ["d"]}]))
        status, _, body = gw.chat(model="r")
        self.assertEqual(status, 200, body)
        gw.signal(signal.SIGINT)
        self.assertEqual(gw.proc.wait(timeout=15), 0)
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    harness.main()

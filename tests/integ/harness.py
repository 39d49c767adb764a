"""Integration test harness: runs `tailgate mock` and `tailgate serve` as real
processes on 127.0.0.1 and talks to them over real sockets.

Every process is stopped with SIGTERM at the end of its test and must exit 0
with no AddressSanitizer / UndefinedBehaviorSanitizer / LeakSanitizer report
on stderr: a leak or UB in the binary fails the test that ran it.

Only the Python standard library is used.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TG_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))


def tailgate_bin():
    b = os.environ.get("TG_BIN")
    if b:
        return b
    for cand in ("build/test/tailgate", "build/tailgate", "build/release/tailgate"):
        p = os.path.join(SRC, cand)
        if os.path.exists(p):
            return p
    raise RuntimeError("set TG_BIN to the tailgate binary")


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited early with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d did not open" % port)


class Process:
    """A tailgate process with its stderr (and stdout) kept in files."""

    def __init__(self, args, name, env=None):
        self.dir = tempfile.mkdtemp(prefix="tg-%s-" % name)
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.out = open(self.stdout_path, "wb")
        self.err = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1:halt_on_error=1")
        full_env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        full_env.update(env or {})
        self.proc = subprocess.Popen([tailgate_bin()] + args, stdout=self.out, stderr=self.err,
                                     env=full_env)
        self.stopped = False

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        self.out.flush()
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0, expect_code=0):
        """SIGTERM, wait, then check the exit code and for sanitizer reports."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("process did not exit within %ss of SIGTERM:\n%s"
                                 % (timeout, self.stderr()[-3000:]))
        self.out.close()
        self.err.close()
        err = self.stderr()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                raise AssertionError("sanitizer report:\n" + err[-6000:])
        if expect_code is not None and code != expect_code:
            raise AssertionError("exit code %s (wanted %s):\n%s" % (code, expect_code, err[-3000:]))
        return code


class Mock(Process):
    """`tailgate mock` on a free port."""

    def __init__(self, **opts):
        self.port = free_port()
        args = ["mock", "--listen", "127.0.0.1:%d" % self.port]
        for k, v in opts.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        super().__init__(args, "mock")
        wait_port(self.port, proc=self.proc)
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def call(self, method, path, body=None):
        return request(self.port, method, path, body)

    def script(self, steps):
        status, _, body = self.call("POST", "/_mock/script", json.dumps(steps))
        assert status == 200, body
        return json.loads(body)

    def stats(self):
        status, _, body = self.call("GET", "/_mock/stats")
        assert status == 200, body
        return json.loads(body)

    def reset(self):
        status, _, body = self.call("POST", "/_mock/reset", "")
        assert status == 200, body

    def wait_stats(self, pred, timeout=5.0):
        deadline = time.time() + timeout
        s = self.stats()
        while not pred(s) and time.time() < deadline:
            time.sleep(0.02)
            s = self.stats()
        return s


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (json.dumps(k), toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


def make_config(server=None, sections=None, providers=(), deployments=(), routes=()):
    """TOML text from Python values. `server` gets listen/admin ports filled in."""
    lines = []
    lines.append("[server]")
    for k, v in (server or {}).items():
        lines.append("%s = %s" % (k, toml_value(v)))
    for name, body in (sections or {}).items():
        lines.append("[%s]" % name)
        for k, v in body.items():
            lines.append("%s = %s" % (k, toml_value(v)))
    for kind, items in (("providers", providers), ("deployments", deployments), ("routes", routes)):
        for item in items:
            lines.append("[[%s]]" % kind)
            for k, v in item.items():
                lines.append("%s = %s" % (k, toml_value(v)))
    return "\n".join(lines) + "\n"


class Gateway(Process):
    """`tailgate serve` on free ports, from config text or parts."""

    def __init__(self, config=None, wait=True, env=None, **parts):
        self.port = free_port()
        self.admin_port = free_port()
        server = dict(parts.pop("server", {}) or {})
        server.setdefault("listen", "127.0.0.1:%d" % self.port)
        server.setdefault("admin_listen", "127.0.0.1:%d" % self.admin_port)
        server.setdefault("access_log", "-")
        if config is None:
            config = make_config(server=server, **parts)
        fd, self.config_path = tempfile.mkstemp(prefix="tg-config-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(config)
        super().__init__(["serve", "-c", self.config_path], "gateway", env)
        if wait:
            wait_port(self.port, proc=self.proc)
            if server.get("admin_listen"):
                wait_port(self.admin_port, proc=self.proc)

    def rewrite(self, config):
        with open(self.config_path, "w") as f:
            f.write(config)

    def reload(self):
        self.signal(signal.SIGHUP)

    def call(self, method, path, body=None, headers=None, timeout=30):
        return request(self.port, method, path, body, headers, timeout)

    def chat(self, model="m", content="hello", stream=False, headers=None, extra=None, timeout=30):
        body = {"model": model, "messages": [{"role": "user", "content": content}]}
        if stream:
            body["stream"] = True
        body.update(extra or {})
        return self.call("POST", "/v1/chat/completions", json.dumps(body), headers, timeout)

    def admin(self, path):
        return request(self.admin_port, "GET", path)

    def status(self):
        s, _, b = self.admin("/status")
        assert s == 200, b
        return json.loads(b)

    def metrics(self):
        s, _, b = self.admin("/metrics")
        assert s == 200, b
        return b

    def metric(self, name, **labels):
        """Sum of the series of `name` whose labels include `labels` (0 when none)."""
        total = 0.0
        for line in self.metrics().splitlines():
            m = re.match(r"^([a-zA-Z_:]+)(?:\{([^}]*)\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(got.get(k) == str(v) for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def wait_log(self, pred, timeout=3.0):
        """Access log lines, once one satisfies pred (or the timeout passes)."""
        deadline = time.time() + timeout
        lines = self.access_log()
        while not any(pred(l) for l in lines) and time.time() < deadline:
            time.sleep(0.02)
            lines = self.access_log()
        return [l for l in lines if pred(l)]

    def access_log(self):
        out = []
        for line in self.stdout().splitlines():
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def request(port, method, path, body=None, headers=None, timeout=30):
    """One HTTP request on a fresh connection: (status, headers (lower-case keys), body str)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    if isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    h = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, h, data


def chat_body(content="hello", stream=False, model="m", **extra):
    """A chat completions request body (JSON text)."""
    b = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        b["stream"] = True
    b.update(extra)
    return json.dumps(b)


def open_post(port, body, path="/v1/chat/completions", headers=None, rcvbuf=None):
    """A client socket that has sent one POST (Connection: close); the caller
    reads it, or closes it to leave early. rcvbuf: a small receive buffer
    makes a slow reader."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    data = body.encode()
    head = "POST %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n" % path
    head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    s.sendall(head.encode() + b"\r\n" + data)
    return s


def sse_events(body):
    """The data fields of an SSE body, in order."""
    out = []
    for block in re.split(r"\r?\n\r?\n", body):
        data = [l[5:].lstrip(" ") if l.startswith("data:") else None for l in block.splitlines()]
        data = [d for d in data if d is not None]
        if data:
            out.append("\n".join(data))
    return out


def raw_exchange(port, data, timeout=5.0, read_until_close=True, shutdown_write=False):
    """Sends raw bytes, returns every byte received until close or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if shutdown_write:
        s.shutdown(socket.SHUT_WR)
    chunks = []
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    s.close()
    return b"".join(chunks)


def parse_responses(data):
    """Splits a byte stream into HTTP/1.1 responses: [(status, headers, body)]."""
    out = []
    i = 0
    while i < len(data):
        head_end = data.find(b"\r\n\r\n", i)
        if head_end < 0:
            break
        head = data[i:head_end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        j = head_end + 4
        if "content-length" in headers:
            n = int(headers["content-length"])
            body = data[j:j + n]
            j += n
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                line_end = data.find(b"\r\n", j)
                size = int(data[j:line_end], 16)
                j = line_end + 2
                body += data[j:j + size]
                j += size + 2
                if size == 0:
                    break
        else:
            body = data[j:]
            j = len(data)
        out.append((status, headers, body))
        i = j
    return out


def make_cert(directory, name="server", cn="127.0.0.1"):
    """A self-signed certificate for 127.0.0.1 made by the openssl command line:
    (cert path, key path). The certificate is its own CA (use it as ca_file)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class Nginx:
    """nginx (Debian nginx-light) in the foreground with a config of our own."""

    def __init__(self, server_block):
        self.dir = tempfile.mkdtemp(prefix="tg-nginx-")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("daemon off;\nmaster_process off;\nworker_processes 1;\n"
                    "pid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                    "events { worker_connections 1024; }\n"
                    "http {\n  access_log off;\n  client_body_temp_path %s;\n"
                    "  proxy_temp_path %s;\n  fastcgi_temp_path %s;\n  uwsgi_temp_path %s;\n"
                    "  scgi_temp_path %s;\n%s\n}\n"
                    % ((self.dir,) * 7 + (server_block.replace("PORT", str(self.port))
                                          .replace("DIR", self.dir),)))
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def have(cmd):
    return subprocess.run(["sh", "-c", "command -v " + cmd], capture_output=True).returncode == 0


def openai_provider(name, mock, **extra):
    p = {"name": name, "kind": "openai", "base_url": mock.url, "api_key_env": ""}
    p.update(extra)
    return p


class TestCase(unittest.TestCase):
    """Stops every process a test started, checking each exits cleanly."""

    def setUp(self):
        self._procs = []

    def start(self, proc):
        self._procs.append(proc)
        return proc

    def mock(self, **opts):
        opts.setdefault("latency_ms", 0)
        return self.start(Mock(**opts))

    def gateway(self, *args, **kw):
        return self.start(Gateway(*args, **kw))

    def tearDown(self):
        errors = []
        for p in reversed(self._procs):
            try:
                p.stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))


def simple_gateway(test, mock, model="m", sections=None, server=None, deployments=None,
                   routes=None, providers=None, env=None):
    """One openai-kind provider on `mock`, one deployment, one route."""
    providers = providers or [openai_provider("up", mock)]
    deployments = deployments or [{"name": "d1", "provider": "up", "model": "up-model"}]
    routes = routes or [{"model": model, "deployments": [d["name"] for d in deployments]}]
    return test.gateway(server=server, sections=sections, providers=providers,
                        deployments=deployments, routes=routes, env=env)


def main():
    unittest.main(verbosity=2)

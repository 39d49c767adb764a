#!/usr/bin/env python3
"""tailgate benchmarks. Each suite starts its own upstreams and gateways on
127.0.0.1, drives them with wrk (peak, closed loop) or tailgate-loadgen (a
fixed rate, open loop), and prints Markdown tables for bench/README.md.

    bench/bench.py proxy      # throughput/latency vs direct and nginx proxy_pass,
                              # 10,000 idle connections, 20-chunk streams
    bench/bench.py failover   # full outage of a primary, breaker, retry storms
    bench/bench.py hedge      # heavy-tailed upstreams, hedging off vs on
    bench/bench.py validate   # validation on vs off; stream commit point
    bench/bench.py tls        # TLS inbound vs plain; handshakes per second
    bench/bench.py shared     # Idempotency-Key replays, coalescing, cache hits vs upstream
    bench/bench.py keys       # 100 keys with limits and spend caps vs no keys
    bench/bench.py formats    # Messages and Responses passed through or translated vs chat
    bench/bench.py cost       # CPU per request beside nginx proxy_pass at 64 and 256 conns
    bench/bench.py scaleout   # [shared] through Redis vs local state
    bench/bench.py trace      # tracing on (sample_ratio 1.0) vs off; the collector down 60 s

Two cores: the process under test is pinned to core 1, load generators and
upstreams to core 0. Every comparison is run in interleaved rounds and the
median is reported, because this machine's timing is noisy.
"""

import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("TG_BUILD", os.path.join(ROOT, "build", "release"))
TAILGATE = os.path.join(BUILD, "tailgate")
LOADGEN = os.path.join(BUILD, "tailgate-loadgen")
GATEWAY_CPU = "1"
LOAD_CPU = "0"
ROUNDS = int(os.environ.get("TG_BENCH_ROUNDS", "3"))

CHAT = ('{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},'
        '{"role":"user","content":"Write one sentence about gateways."}]}')
CHAT_STREAM = CHAT[:-1] + ',"stream":true}'
STATIC_ANSWER = ('{"id":"chatcmpl-static","object":"chat.completion","created":0,"model":"x",'
                 '"choices":[{"index":0,"message":{"role":"assistant","content":"A gateway keeps '
                 'calls alive when providers fail, and cuts the slow tail."},"logprobs":null,'
                 '"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":16,'
                 '"total_tokens":40}}')


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d did not open" % port)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Proc:
    def __init__(self, args, cpu, port=None, name="proc"):
        self.dir = tempfile.mkdtemp(prefix="tg-bench-%s-" % name)
        self.err = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen(["taskset", "-c", cpu] + args, stdout=subprocess.DEVNULL,
                                     stderr=self.err, preexec_fn=raise_nofile)
        self.pid = self.proc.pid
        self.port = port
        if port:
            wait_port(port)

    def cpu_seconds(self):
        return sum(self.cpu_split())

    def cpu_split(self):
        """(user, system) CPU seconds so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def status_kib(self, key):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def mock(port, cpu=LOAD_CPU, **opts):
    args = [TAILGATE, "mock", "--listen", "127.0.0.1:%d" % port]
    for k, v in opts.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return Proc(args, cpu, port, "mock")


def toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, toml(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


def tailgate_config(port, upstreams, sections=None, server=None, routes=None, deployments=None):
    """upstreams: {provider name: base_url or {provider key: value}}; default
    one route "m" over them."""
    lines = ["[server]", 'listen = "127.0.0.1:%d"' % port, 'access_log = ""',
             "max_connections = 19000"]
    srv = {"admin_listen": ""}
    srv.update(server or {})
    for k, v in srv.items():
        lines.append("%s = %s" % (k, toml(v)))
    for name, body in (sections or {}).items():
        lines.append("[%s]" % name)
        for k, v in body.items():
            lines.append("%s = %s" % (k, toml(v)))
    for name, up in upstreams.items():
        # A base_url, or the provider's keys (kind openai and no key unless said).
        p = {"kind": "openai", "api_key_env": ""}
        p.update({"base_url": up} if isinstance(up, str) else up)
        lines += ["[[providers]]", 'name = "%s"' % name]
        lines += ["%s = %s" % (k, toml(v)) for k, v in p.items()]
    deployments = deployments or [{"name": "d-" + n, "provider": n, "model": "x"}
                                  for n in upstreams]
    for d in deployments:
        lines.append("[[deployments]]")
        lines += ["%s = %s" % (k, toml(v)) for k, v in d.items()]
    routes = routes or [{"model": "m", "deployments": [d["name"] for d in deployments]}]
    for r in routes:
        lines.append("[[routes]]")
        lines += ["%s = %s" % (k, toml(v)) for k, v in r.items()]
    return "\n".join(lines) + "\n"


def tailgate(port, config_text, cpu=GATEWAY_CPU, preload=None, binary=None, wrap=()):
    """preload: a shared object for LD_PRELOAD (another malloc, measured side by side);
    binary: another tailgate build than TG_BUILD's; wrap: a command it runs under."""
    d = tempfile.mkdtemp(prefix="tg-bench-cfg-")
    path = os.path.join(d, "config.toml")
    with open(path, "w") as f:
        f.write(config_text)
    env = ["env", "LD_PRELOAD=" + preload] if preload else []
    return Proc(env + list(wrap) + [binary or TAILGATE, "serve", "-c", path], cpu, port,
                "tailgate")


NGINX_HEAD = """daemon off; master_process off; worker_processes 1; worker_rlimit_nofile 20000;
pid DIR/nginx.pid; error_log DIR/error.log error;
events { worker_connections 19000; }
http { access_log off; client_body_temp_path DIR; proxy_temp_path DIR; fastcgi_temp_path DIR;
  uwsgi_temp_path DIR; scgi_temp_path DIR; keepalive_requests 1000000; keepalive_timeout 300s;
"""


def nginx(port, body, cpu, name="nginx", wrap=()):
    d = tempfile.mkdtemp(prefix="tg-bench-%s-" % name)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write((NGINX_HEAD + body + "\n}\n").replace("DIR", d).replace("PORT", str(port)))
    return Proc(list(wrap) + ["nginx", "-c", conf, "-p", d], cpu, port, name)


def nginx_static(port, cpu=LOAD_CPU):
    return nginx(port, """
  server { listen 127.0.0.1:PORT backlog=4096;
    location / { default_type application/json; return 200 '%s'; } }""" % STATIC_ANSWER,
                 cpu, "nginx-static")


def nginx_proxy(port, upstream_port, cpu=GATEWAY_CPU, wrap=()):
    """The baseline: proxy_pass with upstream keepalive, one worker."""
    return nginx(port, """
  upstream up { server 127.0.0.1:%d; keepalive 256; }
  server { listen 127.0.0.1:PORT backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_buffering off; } }""" % upstream_port,
                 cpu, "nginx-proxy", wrap)


def wrk(url, body, seconds=10, conns=64, headers=None):
    """body None: GET. headers: extra request headers."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    if body is None:
        script.write('wrk.method = "GET"\n')
    else:
        script.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = '
                     '"application/json"\n' % json.dumps(body))
    for k, v in (headers or {}).items():
        script.write('wrk.headers[%s] = %s\n' % (json.dumps(k), json.dumps(v)))
    script.close()
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c%d" % conns,
                          "-d%ds" % seconds, "--latency", "-s", script.name, url],
                         capture_output=True, text=True).stdout
    os.unlink(script.name)
    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
           "seconds": seconds}
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % pct, out)
        res["p" + pct] = to_us(m.group(1), m.group(2))
    m = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    res["max"] = to_us(m.group(1), m.group(2))
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(errs.group(1)) if errs else 0
    return res


def to_us(v, unit):
    return float(v) * {"us": 1, "ms": 1000, "s": 1e6}[unit]


def loadgen(url, body, rate, seconds=10, warmup=2, conns=256, count_headers=(), extra=()):
    args = ["taskset", "-c", LOAD_CPU, LOADGEN, "--url", url, "--rate", str(rate),
            "--duration", str(seconds), "--warmup", str(warmup), "--connections", str(conns)]
    if body is not None:
        args += ["--body", body]
    for h in count_headers:
        args += ["--count-header", h]
    args += list(extra)
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def measured(proc, fn):
    """Runs fn() and returns (its result, CPU % of one core used by proc)."""
    cpu0, t0 = proc.cpu_seconds(), time.time()
    r = fn()
    return r, 100.0 * (proc.cpu_seconds() - cpu0) / (time.time() - t0)


def med(values):
    return statistics.median(values)


def fmt_us(us):
    return "%.0f µs" % us if us < 10000 else "%.1f ms" % (us / 1000)


# ---------------------------------------------------------------- proxy ---

def open_idle(port, n, path="/v1/models"):
    """n keep-alive connections, each having made one request, held open."""
    socks = []
    req = ("GET %s HTTP/1.1\r\nHost: b\r\n\r\n" % path).encode()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        socks.append(s)
        if i % 500 == 499:
            for t in socks[-500:]:
                t.recv(65536)
    for t in socks[len(socks) - n % 500:]:  # the last batch, unless already read
        t.recv(65536)
    return socks


def suite_proxy():
    raise_nofile()
    results = {}
    up_mock, up_static = free_port(), free_port()
    upstreams = {"mock": (mock(up_mock, latency_ms=0), up_mock),
                 "nginx-static": (nginx_static(up_static), up_static)}
    tg_port, ngx_port = {}, {}
    gateways = {}
    for name, (_, port) in upstreams.items():
        tg_port[name], ngx_port[name] = free_port(), free_port()
        gateways[("tailgate", name)] = tailgate(tg_port[name], tailgate_config(
            tg_port[name], {"up": "http://127.0.0.1:%d/v1" % port},
            sections={"hedge": {"enabled": False}}))
        gateways[("nginx", name)] = nginx_proxy(ngx_port[name], port)
    path = "/v1/chat/completions"

    def url(kind, up):
        if kind == "direct":
            return "http://127.0.0.1:%d%s" % (upstreams[up][1], path)
        return "http://127.0.0.1:%d%s" % ((tg_port if kind == "tailgate" else ngx_port)[up], path)

    # Peak throughput, closed loop.
    peak = {}
    for up in upstreams:
        rows = {k: [] for k in ("direct", "tailgate", "nginx")}
        for rnd in range(ROUNDS):
            for kind in ("direct", "tailgate", "nginx"):
                log("peak %s via %s round %d" % (up, kind, rnd + 1))
                if kind == "direct":
                    r, cpu = wrk(url(kind, up), CHAT), 0.0
                else:
                    r, cpu = measured(gateways[(kind, up)], lambda: wrk(url(kind, up), CHAT))
                r["cpu"] = cpu
                rows[kind].append(r)
        peak[up] = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in rows.items()}
        for kind in ("tailgate", "nginx"):
            peak[up][kind]["rss_kib"] = gateways[(kind, up)].status_kib("VmHWM")
    results["peak"] = peak

    # Latency at a quarter of tailgate's peak, open loop.
    quarter = {}
    for up in upstreams:
        rate = int(peak[up]["tailgate"]["rps"] / 4)
        rows = {k: [] for k in ("direct", "tailgate", "nginx")}
        for rnd in range(ROUNDS):
            for kind in ("direct", "tailgate", "nginx"):
                log("quarter load %s via %s at %d/s round %d" % (up, kind, rate, rnd + 1))
                rows[kind].append(loadgen(url(kind, up), CHAT, rate, seconds=8)["latency_us"])
        quarter[up] = {"rate": rate}
        for kind, v in rows.items():
            quarter[up][kind] = {q: med([r[q] for r in v]) for q in ("p50", "p90", "p99", "p999")}
    results["quarter"] = quarter

    for g in gateways.values():
        g.stop()
    for p, _ in upstreams.values():
        p.stop()

    # 10,000 idle keep-alive client connections, on fresh gateways (one that
    # has just carried a load test keeps its malloc arenas, which would hide
    # what the connections cost).
    idle = {}
    up_port = free_port()
    up = mock(up_port, latency_ms=0)
    for kind in ("tailgate", "nginx"):
        port = free_port()
        if kind == "tailgate":
            g = tailgate(port, tailgate_config(port, {"up": "http://127.0.0.1:%d/v1" % up_port}))
        else:
            g = nginx_proxy(port, up_port)
        time.sleep(0.5)
        before = g.status_kib("VmRSS")
        log("10,000 idle connections to %s" % kind)
        socks = open_idle(port, 10000, "/v1/models")
        time.sleep(1)
        idle[kind] = {"before_kib": before, "with_10k_kib": g.status_kib("VmRSS")}
        for s in socks:
            s.close()
        g.stop()
    up.stop()
    results["idle"] = idle

    # Streams: 20 content chunks each.
    sp = free_port()
    up = mock(sp, latency_ms=0, output_tokens=20)
    t, n = free_port(), free_port()
    tg = tailgate(t, tailgate_config(t, {"up": "http://127.0.0.1:%d/v1" % sp},
                                     sections={"hedge": {"enabled": False}}))
    ng = nginx_proxy(n, sp)
    rows = {k: [] for k in ("direct", "tailgate", "nginx")}
    for rnd in range(ROUNDS):
        for kind, port, proc in (("direct", sp, None), ("tailgate", t, tg), ("nginx", n, ng)):
            log("stream via %s round %d" % (kind, rnd + 1))
            u = "http://127.0.0.1:%d%s" % (port, path)
            if proc:
                r, cpu = measured(proc, lambda: wrk(u, CHAT_STREAM))
            else:
                r, cpu = wrk(u, CHAT_STREAM), 0.0
            r["cpu"] = cpu
            rows[kind].append(r)
    results["stream"] = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in rows.items()}
    results["stream"]["tailgate"]["rss_kib"] = tg.status_kib("VmHWM")
    results["stream"]["nginx"]["rss_kib"] = ng.status_kib("VmHWM")
    for p in (tg, ng, up):
        p.stop()
    print_proxy(results)
    return results


def print_proxy(res):
    print("\n### Peak throughput (wrk -t1 -c64 -d10s, median of %d rounds)\n" % ROUNDS)
    for up, rows in res["peak"].items():
        print("Upstream: **%s**\n" % up)
        print("| path | requests/s | p50 | p99 | max | gateway CPU | gateway peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for kind in ("direct", "tailgate", "nginx"):
            r = rows[kind]
            if r["non2xx"]:
                print("**%s: %d answers were not 2xx: the figures below are not valid**\n"
                      % (kind, r["non2xx"]))
            rss = "%.1f MiB" % (r["rss_kib"] / 1024) if "rss_kib" in r else "—"
            cpu = "%.0f%%" % r["cpu"] if kind != "direct" else "—"
            name = {"direct": "direct", "tailgate": "through tailgate",
                    "nginx": "through nginx proxy_pass"}[kind]
            print("| %s | %.0f | %s | %s | %s | %s | %s |" % (name, r["rps"], fmt_us(r["p50"]),
                                                           fmt_us(r["p99"]), fmt_us(r["max"]),
                                                           cpu, rss))
        ratio = rows["tailgate"]["rps"] / rows["nginx"]["rps"]
        print("\ntailgate / nginx throughput: **%.0f%%**\n" % (100 * ratio))
    print("### Latency at a quarter of tailgate's peak (tailgate-loadgen, open loop, 8 s)\n")
    print("| upstream | rate | direct p50 | tailgate p50 | nginx p50 | tailgate added p50 | "
          "nginx added p50 | tailgate p99 | nginx p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for up, q in res["quarter"].items():
        print("| %s | %d/s | %s | %s | %s | %s | %s | %s | %s |" % (
            up, q["rate"], fmt_us(q["direct"]["p50"]), fmt_us(q["tailgate"]["p50"]),
            fmt_us(q["nginx"]["p50"]), fmt_us(q["tailgate"]["p50"] - q["direct"]["p50"]),
            fmt_us(q["nginx"]["p50"] - q["direct"]["p50"]), fmt_us(q["tailgate"]["p99"]),
            fmt_us(q["nginx"]["p99"])))
    print("\n### 10,000 idle keep-alive client connections\n")
    print("| gateway | RSS before | RSS with 10,000 idle | per connection |")
    print("|---|---|---|---|")
    for kind, r in res["idle"].items():
        print("| %s | %.1f MiB | %.1f MiB | %.0f bytes |" % (
            kind, r["before_kib"] / 1024, r["with_10k_kib"] / 1024,
            (r["with_10k_kib"] - r["before_kib"]) * 1024 / 10000))
    print("\n### Streaming, 20-chunk SSE (wrk -c64, median of %d rounds)\n" % ROUNDS)
    print("| path | streams/s | p50 | p99 | gateway CPU | gateway peak RSS |")
    print("|---|---|---|---|---|---|")
    for kind in ("direct", "tailgate", "nginx"):
        r = res["stream"][kind]
        if r["non2xx"]:
            print("**%s: %d answers were not 2xx: the figures below are not valid**\n"
                  % (kind, r["non2xx"]))
        rss = "%.1f MiB" % (r["rss_kib"] / 1024) if "rss_kib" in r else "—"
        print("| %s | %.0f | %s | %s | %s | %s |" % (kind, r["rps"], fmt_us(r["p50"]),
                                                   fmt_us(r["p99"]),
                                                   "%.0f%%" % r["cpu"] if kind != "direct" else "—",
                                                   rss))


# ------------------------------------------------------------- failover ---

def suite_failover():
    """A full outage of a route's primary with a healthy fallback route, at a
    steady rate; then the retry-storm check."""
    raise_nofile()
    rate, seconds = int(os.environ.get("TG_BENCH_RATE", "400")), int(
        os.environ.get("TG_BENCH_SECONDS", "60"))
    dead_port, ok_port, port = free_port(), free_port(), free_port()
    dead = mock(dead_port, latency_ms=0, error_rate=1, error_status=503)
    ok = mock(ok_port, latency_ms=0)
    cfg = tailgate_config(
        port, {"dead": "http://127.0.0.1:%d/v1" % dead_port,
               "ok": "http://127.0.0.1:%d/v1" % ok_port},
        sections={"hedge": {"enabled": False}},
        deployments=[{"name": "primary", "provider": "dead", "model": "x"},
                     {"name": "healthy", "provider": "ok", "model": "x"}],
        routes=[{"model": "m", "deployments": ["primary"], "fallbacks": ["backup"]},
                {"model": "backup", "deployments": ["healthy"]}])
    tg = tailgate(port, cfg)
    url = "http://127.0.0.1:%d/v1/chat/completions" % port
    backup_body = CHAT.replace('"model":"m"', '"model":"backup"')
    log("failover: %d s at %d/s through the dead primary" % (seconds, rate))
    outage = loadgen(url, CHAT, rate, seconds=seconds, warmup=0,
                     count_headers=("x-tailgate-route", "x-tailgate-attempts"))
    dead_requests = json.loads(subprocess.run(
        ["curl", "-s", "http://127.0.0.1:%d/_mock/stats" % dead_port], capture_output=True,
        text=True).stdout)["requests"]
    # Once the breaker is open, the latency added over the healthy path:
    # the same load straight to the healthy route and via the dead primary,
    # in interleaved rounds.
    rounds = {"healthy": [], "steady": []}
    for rnd in range(ROUNDS):
        for label, body in (("healthy", backup_body), ("steady", CHAT)):
            log("failover: %s round %d" % (label, rnd + 1))
            rounds[label].append(loadgen(url, body, rate, seconds=10, warmup=1)["latency_us"])
    healthy = {"latency_us": {q: med([r[q] for r in rounds["healthy"]]) for q in ("p50", "p99")}}
    steady = {"latency_us": {q: med([r[q] for r in rounds["steady"]]) for q in ("p50", "p99")}}
    tg.stop()
    dead.stop()
    ok.stop()

    # Retry storm: one deployment answering 503 half the time; breaker kept
    # out of the way so the budget alone is measured.
    storm = {}
    for label, retry in (("budget (0.2, floor 3/s)", {}),
                         ("no budget (ratio 100)", {"budget_ratio": 100.0})):
        up_port, port = free_port(), free_port()
        up = mock(up_port, latency_ms=0, error_rate=0.5, error_status=503)
        cfg = tailgate_config(port, {"up": "http://127.0.0.1:%d/v1" % up_port},
                              sections={"hedge": {"enabled": False},
                                        "retry": dict({"backoff_base_ms": 5,
                                                       "backoff_max_ms": 20}, **retry),
                                        "breaker": {"failure_threshold": 1000000,
                                                    "error_rate": 1.0},
                                        "degraded": {"enabled": False},
                                        "cache": {"mode": "off"}})
        tg = tailgate(port, cfg)
        log("retry storm: %s" % label)
        r = loadgen("http://127.0.0.1:%d/v1/chat/completions" % port, CHAT, rate,
                    seconds=min(seconds, 30), warmup=0)
        upstream = json.loads(subprocess.run(
            ["curl", "-s", "http://127.0.0.1:%d/_mock/stats" % up_port], capture_output=True,
            text=True).stdout)["requests"]
        storm[label] = {"client": r["measured"] + r["errors"], "upstream": upstream,
                        "status": r["status"]}
        tg.stop()
        up.stop()
    res = {"rate": rate, "seconds": seconds, "outage": outage, "dead_requests": dead_requests,
           "healthy": healthy, "steady": steady, "storm": storm}
    print_failover(res)
    return res


def print_failover(res):
    o = res["outage"]
    total = o["measured"] + o["errors"]
    ok = sum(v for k, v in o["status"].items() if k.startswith("2"))
    print("### Full outage of the primary, fallback route healthy "
          "(%d req/s for %d s, tailgate-loadgen)\n" % (res["rate"], res["seconds"]))
    print("| measure | value | target |")
    print("|---|---|---|")
    print("| requests / answered 2xx | %d / %d (%.2f%%) | 100%% |"
          % (total, ok, 100.0 * ok / max(total, 1)))
    print("| requests that reached the dead primary | %d | ≤ failure_threshold (5) + "
          "half-open probes per cooldown (1 per 30 s, doubling) |" % res["dead_requests"])
    print("| routes that answered | %s | |" % json.dumps(o["headers"].get("x-tailgate-route", {})))
    h, st = res["healthy"]["latency_us"], res["steady"]["latency_us"]
    print("| p50 straight to the healthy route (median of %d x 10 s) | %s | |"
          % (ROUNDS, fmt_us(h["p50"])))
    print("| p50 via the dead primary, breaker open | %s (added %s) | |"
          % (fmt_us(st["p50"]), fmt_us(st["p50"] - h["p50"])))
    print("| p99 straight to the healthy route | %s | |" % fmt_us(h["p99"]))
    print("| p99 via the dead primary, breaker open | %s (added %s) | < 1 ms added |"
          % (fmt_us(st["p99"]), fmt_us(st["p99"] - h["p99"])))
    print("| p99 over the whole outage run (includes the first failures) | %s | |"
          % fmt_us(o["latency_us"]["p99"]))
    print("\n### Retry storm: one deployment failing 50%% of requests with 503 "
          "(%d req/s, max_attempts 3, breaker disabled)\n" % res["rate"])
    print("| retry budget | client requests | upstream attempts | attempts per request | "
          "bound |")
    print("|---|---|---|---|---|")
    for label, r in res["storm"].items():
        bound = "1 + 0.2 + 3/%d = %.3f" % (res["rate"], 1.2 + 3.0 / res["rate"]) \
            if "floor" in label else "1 + 0.5 + 0.25 = 1.75 (no budget)"
        print("| %s | %d | %d | %.3f | %s |" % (label, r["client"], r["upstream"],
                                              r["upstream"] / max(r["client"], 1), bound))


# ---------------------------------------------------------------- hedge ---

TAILS = {
    "log-normal, median 50 ms, p99 1000 ms": {"latency_ms": 50, "latency_p99_ms": 1000},
    "median 50 ms (p99 100 ms) + 2% stalls of 1.5 s": {
        "latency_ms": 50, "latency_p99_ms": 100, "stall_rate": 0.02, "stall_ms": 1500},
}


HEDGE_MODES = {"off": {"enabled": False}, "on": {"enabled": True},
               "on, max_ratio 0.12": {"enabled": True, "max_ratio": 0.12}}


def hedge_run(tail, hedge, stream, rate, seconds):
    ports = [free_port(), free_port()]
    mocks = [mock(p, seed=i + 1, tokens_per_s=200, output_tokens=20, **tail)
             for i, p in enumerate(ports)]
    port = free_port()
    cfg = tailgate_config(
        port, {"a": "http://127.0.0.1:%d/v1" % ports[0], "b": "http://127.0.0.1:%d/v1" % ports[1]},
        sections={"hedge": dict(hedge), "cache": {"mode": "off"},
                  # the breaker's slow-success rule would take a deployment out
                  # on its own tail; hedging is what is measured here
                  "breaker": {"latency_factor": 0.0}})
    tg = tailgate(port, cfg)
    body = CHAT_STREAM if stream else CHAT
    r = loadgen("http://127.0.0.1:%d/v1/chat/completions" % port, body, rate, seconds=seconds,
                warmup=5, count_headers=("x-tailgate-hedge",))
    upstream = sum(json.loads(subprocess.run(
        ["curl", "-s", "http://127.0.0.1:%d/_mock/stats" % p], capture_output=True,
        text=True).stdout)["requests"] for p in ports)
    tg.stop()
    for m in mocks:
        m.stop()
    client = r["measured"] + r["errors"]
    # the warm-up's requests went upstream too: count them at the same ratio
    total_client = client * (seconds + 5) / seconds
    return {"lat": r["ttfb_us"] if stream else r["latency_us"], "client": client,
            "extra": upstream / total_client - 1.0,
            "won": r["headers"].get("x-tailgate-hedge", {}).get("won", 0)}


def suite_hedge():
    raise_nofile()
    rate = int(os.environ.get("TG_BENCH_RATE", "100"))
    seconds = int(os.environ.get("TG_BENCH_SECONDS", "60"))
    res = {}
    for stream in (False, True):
        for tail_name, tail in TAILS.items():
            for mode, hedge in HEDGE_MODES.items():
                log("hedge: %s, stream=%s, hedging %s" % (tail_name, stream, mode))
                res[(stream, tail_name, mode)] = hedge_run(tail, hedge, stream, rate, seconds)
    print("Two deployments of the same heavy-tailed mock, %d req/s for %d s (after 5 s warm-up),"
          " default [hedge] (p90, max_ratio 0.1).\n" % (rate, seconds))
    for stream in (False, True):
        what = "time to first chunk (stream)" if stream else "full answer"
        print("#### %s\n" % what)
        print("| upstream latency | hedging | p50 | p99 | p99.9 | max | extra upstream requests | "
              "hedges won | p99 off/on |")
        print("|---|---|---|---|---|---|---|---|---|")
        for tail_name in TAILS:
            off = res[(stream, tail_name, "off")]
            for label in HEDGE_MODES:
                r = res[(stream, tail_name, label)]
                ratio = "%.1fx" % (off["lat"]["p99"] / max(r["lat"]["p99"], 1)) \
                    if label != "off" else ""
                print("| %s | %s | %s | %s | %s | %s | %.1f%% | %d | %s |" % (
                    tail_name, label, fmt_us(r["lat"]["p50"]), fmt_us(r["lat"]["p99"]),
                    fmt_us(r["lat"]["p999"]), fmt_us(r["lat"]["max"]), 100 * r["extra"],
                    r["won"], ratio))
        print()
    return res


# ------------------------------------------------------------- validate ---

VALIDATE_OFF = {"empty": False, "refusal": False, "json": False, "truncation": "off"}


def suite_validate():
    raise_nofile()
    up_port = free_port()
    up = mock(up_port, latency_ms=0)
    ports = {"on": free_port(), "off": free_port()}
    gws = {}
    for mode, port in ports.items():
        sections = {"hedge": {"enabled": False}}
        if mode == "off":
            sections["validate"] = dict(VALIDATE_OFF)
        gws[mode] = tailgate(port, tailgate_config(
            port, {"up": "http://127.0.0.1:%d/v1" % up_port}, sections=sections))
    rows = {"on": [], "off": []}
    for rnd in range(ROUNDS):
        for mode in ("on", "off"):
            log("validation %s round %d" % (mode, rnd + 1))
            r, cpu = measured(gws[mode], lambda: wrk(
                "http://127.0.0.1:%d/v1/chat/completions" % ports[mode], CHAT))
            r["cpu"] = cpu
            rows[mode].append(r)
    for g in gws.values():
        g.stop()
    up.stop()
    thr = {m: {f: med([r[f] for r in v]) for f in v[0]} for m, v in rows.items()}

    # Time to first byte of a stream: direct, through nginx (bytes passed as they
    # come), through tailgate (held until the first content chunk).
    sp = free_port()
    up = mock(sp, latency_ms=20, tokens_per_s=100, output_tokens=20)
    t, n = free_port(), free_port()
    tg = tailgate(t, tailgate_config(t, {"up": "http://127.0.0.1:%d/v1" % sp},
                                     sections={"hedge": {"enabled": False}}))
    ng = nginx_proxy(n, sp)
    ttfb = {k: [] for k in ("direct", "nginx", "tailgate")}
    for rnd in range(ROUNDS):
        for kind, port in (("direct", sp), ("nginx", n), ("tailgate", t)):
            log("stream ttfb via %s round %d" % (kind, rnd + 1))
            r = loadgen("http://127.0.0.1:%d/v1/chat/completions" % port, CHAT_STREAM, 200,
                        seconds=10, warmup=2)
            ttfb[kind].append(r["ttfb_us"])
    for p in (tg, ng, up):
        p.stop()
    ttfb = {k: {q: med([r[q] for r in v]) for q in ("p50", "p90", "p99")} for k, v in
            ttfb.items()}
    print("### Validation on vs off (wrk -c64 -d10s, median of %d rounds, mock upstream)\n"
          % ROUNDS)
    print("| validation | requests/s | p50 | p99 | gateway CPU |")
    print("|---|---|---|---|---|")
    for mode in ("on", "off"):
        r = thr[mode]
        print("| %s | %.0f | %s | %s | %.0f%% |" % (mode, r["rps"], fmt_us(r["p50"]),
                                                   fmt_us(r["p99"]), r["cpu"]))
    print("\nthroughput with validation on / off: **%.1f%%** (target: the difference under 5%%)\n"
          % (100.0 * thr["on"]["rps"] / thr["off"]["rps"]))
    print("### Time to first byte of a stream (200 streams/s, mock: 20 ms to first chunk, "
          "100 tokens/s)\n")
    print("| path | TTFB p50 | p90 | p99 | added p50 over direct |")
    print("|---|---|---|---|---|")
    for kind in ("direct", "nginx", "tailgate"):
        r = ttfb[kind]
        label = {"direct": "direct", "nginx": "nginx proxy_pass (passthrough)",
                 "tailgate": "tailgate (held until first content)"}[kind]
        print("| %s | %s | %s | %s | %s |" % (label, fmt_us(r["p50"]), fmt_us(r["p90"]),
                                              fmt_us(r["p99"]),
                                              fmt_us(r["p50"] - ttfb["direct"]["p50"])))
    return {"throughput": thr, "ttfb": ttfb}


# --------------------------------------------------------------- shared ---

def cpu_us_per_request(r):
    """Gateway CPU per request: r["cpu"] is % of one core over a wrk run."""
    return r["cpu"] * 1e4 / r["rps"]


def metric_total(admin_port, name, **labels):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port).read().decode()
    total = 0.0
    for line in body.splitlines():
        m = re.match(r"^([a-zA-Z_:]+)(?:\{([^}]*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
    return total


def coalesced_lag(port, followers, what):
    """Sends one request, then `followers` identical ones 5 ms later, each on
    its own connection; returns, for each follower, µs between the leader's
    answer ending and the follower's."""
    import selectors
    body = ('{"model":"m","messages":[{"role":"user","content":"coalesce %s %f"}]}'
            % (what, time.time())).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(1 + followers):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    socks[0].sendall(req)
    time.sleep(0.005)
    for s in socks[1:]:
        s.sendall(req)
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    ended = {}
    while len(ended) < len(socks):
        for key, _ in sel.select(5):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                ended[key.data] = time.perf_counter()
                sel.unregister(key.fileobj)
                key.fileobj.close()
    return [(ended[i] - ended[0]) * 1e6 for i in range(1, len(socks))]


def suite_shared():
    """Answers served without an upstream call (issue 12): an Idempotency-Key
    replay, a coalesced follower, a cache hit, against the upstream round
    trip they save."""
    raise_nofile()
    up_port, slow_port = free_port(), free_port()
    up = mock(up_port, latency_ms=0)
    slow = mock(slow_port, latency_ms=20)
    default_port = free_port()
    default_up = mock(default_port)  # the mock's own timing: 50 ms to an answer
    ports = {k: free_port() for k in ("plain", "cache", "coalesce", "slow", "coalesce-default")}
    admin = free_port()
    off = {"hedge": {"enabled": False}, "cache": {"mode": "off"}}
    gws = {
        "plain": tailgate(ports["plain"], tailgate_config(
            ports["plain"], {"up": "http://127.0.0.1:%d/v1" % up_port}, sections=off)),
        "cache": tailgate(ports["cache"], tailgate_config(
            ports["cache"], {"up": "http://127.0.0.1:%d/v1" % up_port},
            sections={"hedge": {"enabled": False}, "cache": {"mode": "on"}})),
        # ttl_s = 0: no fresh hits, so identical requests can only coalesce.
        "coalesce": tailgate(ports["coalesce"], tailgate_config(
            ports["coalesce"], {"up": "http://127.0.0.1:%d/v1" % slow_port},
            sections={"hedge": {"enabled": False}, "cache": {"mode": "on", "ttl_s": 0}},
            server={"admin_listen": "127.0.0.1:%d" % admin})),
        "slow": tailgate(ports["slow"], tailgate_config(
            ports["slow"], {"up": "http://127.0.0.1:%d/v1" % default_port}, sections=off)),
        "coalesce-default": tailgate(ports["coalesce-default"], tailgate_config(
            ports["coalesce-default"], {"up": "http://127.0.0.1:%d/v1" % default_port},
            sections={"hedge": {"enabled": False}, "cache": {"mode": "on", "ttl_s": 0}})),
    }
    path = "/v1/chat/completions"
    url = {k: "http://127.0.0.1:%d%s" % (p, path) for k, p in ports.items()}
    url["direct"] = "http://127.0.0.1:%d%s" % (up_port, path)
    replay_key = {"Idempotency-Key": "bench-replay"}
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Content-Type: application/json",
                    "-H", "Idempotency-Key: bench-replay", "-d", CHAT, url["plain"]], check=True)
    kinds = ("direct", "floor", "upstream", "replay", "hit", "coalesced")
    url["floor"] = "http://127.0.0.1:%d/v1/no-such-endpoint" % ports["plain"]
    rows = {k: [] for k in kinds}
    coalesced_share = []
    for rnd in range(ROUNDS):
        for kind in kinds:
            log("shared answers: %s round %d" % (kind, rnd + 1))
            if kind == "direct":
                r, cpu = wrk(url["direct"], CHAT), 0.0
            elif kind == "floor":
                r, cpu = measured(gws["plain"], lambda: wrk(url["floor"], CHAT))
                r["non2xx"] = 0  # every answer is the 404 this row measures
            elif kind == "upstream":
                r, cpu = measured(gws["plain"], lambda: wrk(url["plain"], CHAT))
            elif kind == "replay":
                r, cpu = measured(gws["plain"], lambda: wrk(url["plain"], CHAT,
                                                            headers=replay_key))
            elif kind == "hit":
                r, cpu = measured(gws["cache"], lambda: wrk(url["cache"], CHAT))
            else:
                before = metric_total(admin, "tailgate_cache_total", result="coalesced")
                r, cpu = measured(gws["coalesce"], lambda: wrk(url["coalesce"], CHAT))
                n = metric_total(admin, "tailgate_cache_total", result="coalesced") - before
                coalesced_share.append(n / (r["rps"] * 10))
            r["cpu"] = cpu
            rows[kind].append(r)
    # What a client waits, at a fixed rate: the upstream round trip to a
    # mock with its default timing, against a replay and a coalesced answer.
    wait = {k: [] for k in ("round trip", "replay")}
    for rnd in range(ROUNDS):
        log("shared answers: waits round %d" % (rnd + 1))
        wait["round trip"].append(loadgen(url["slow"], CHAT, 500, seconds=8)["latency_us"])
        wait["replay"].append(loadgen(url["plain"], CHAT, 500, seconds=8,
                                      extra=["--header", "Idempotency-Key: bench-replay"])
                              ["latency_us"])
    wait = {k: {q: med([r[q] for r in v]) for q in ("p50", "p99")} for k, v in wait.items()}
    # A coalesced follower against the request it joined: both end when the
    # one upstream answer (the mock's 50 ms) comes; what being a follower
    # costs is how long after the leader it gets that answer.
    fan = []
    for rnd in range(ROUNDS * 10):
        fan += coalesced_lag(ports["coalesce-default"], 20, "round %d" % rnd)
    fan.sort()
    for p in list(gws.values()) + [up, slow, default_up]:
        p.stop()
    res = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in rows.items()}
    share = med(coalesced_share)
    # A coalesced follower's own cost: the run's CPU less what its leaders
    # (one upstream call each) cost, over the followers.
    co = res["coalesced"]
    per_req = cpu_us_per_request(co)
    up_cost = cpu_us_per_request(res["upstream"])
    follower = (per_req - (1 - share) * up_cost) / share if share > 0 else float("nan")
    print("### Answers without an upstream call (wrk -t1 -c64 -d10s, median of %d rounds)\n"
          % ROUNDS)
    print("Upstream: `tailgate mock --latency-ms 0` (the coalescing run: `--latency-ms 20`, "
          "so that identical requests overlap; `cache.ttl_s = 0`, so none is a cache hit).\n")
    print("| answer | requests/s | p50 | p99 | gateway CPU | CPU per request |")
    print("|---|---|---|---|---|---|")
    label = {"direct": "direct to the mock (no gateway)",
             "floor": "any answer at all: the same POST to an unknown path (404)",
             "upstream": "through tailgate, upstream round trip",
             "replay": "Idempotency-Key replay", "hit": "cache hit (mode on)",
             "coalesced": "identical requests, coalesced (%.1f%% followers)" % (100 * share)}
    for kind in kinds:
        r = res[kind]
        if r["non2xx"]:
            print("**%s: %d answers were not 2xx: the figures below are not valid**\n"
                  % (kind, r["non2xx"]))
        cpu = "%.0f%%" % r["cpu"] if kind != "direct" else "—"
        per = "%.1f µs" % cpu_us_per_request(r) if kind != "direct" else "—"
        print("| %s | %.0f | %s | %s | %s | %s |" % (label[kind], r["rps"], fmt_us(r["p50"]),
                                                    fmt_us(r["p99"]), cpu, per))
    print("\nGateway CPU per answer, against one upstream round trip through tailgate "
          "(%.1f µs):\n" % up_cost)
    print("| answer | CPU per answer | share of an upstream round trip |")
    print("|---|---|---|")
    for kind, v in (("a 404 (the HTTP exchange alone)", cpu_us_per_request(res["floor"])),
                    ("Idempotency-Key replay", cpu_us_per_request(res["replay"])),
                    ("cache hit", cpu_us_per_request(res["hit"])),
                    ("coalesced follower (run CPU less its leaders' upstream calls)", follower)):
        print("| %s | %.1f µs | %.1f%% |" % (kind, v, 100 * v / up_cost))
    print("\nWhat a client waits at 500 requests/s (tailgate-loadgen, open loop, median of %d "
          "rounds), against the upstream round trip it saves (the mock with its default "
          "timing, 50 ms median):\n" % ROUNDS)
    print("| answer | p50 | p99 | p50 / round trip p50 |")
    print("|---|---|---|---|")
    for kind in ("round trip", "replay"):
        w = wait[kind]
        print("| %s | %s | %s | %.2f%% |" % (
            "upstream round trip through tailgate" if kind == "round trip"
            else "Idempotency-Key replay", fmt_us(w["p50"]), fmt_us(w["p99"]),
            100 * w["p50"] / wait["round trip"]["p50"]))
    lag = {"p50": fan[len(fan) // 2], "p99": fan[int(len(fan) * 0.99)], "n": len(fan)}
    print("| coalesced follower: after its leader got the shared answer (%d followers) | %s | %s "
          "| %.2f%% |" % (lag["n"], fmt_us(lag["p50"]), fmt_us(lag["p99"]),
                          100 * lag["p50"] / wait["round trip"]["p50"]))
    res["wait"] = wait
    res["lag"] = lag
    return res


# ----------------------------------------------------------------- keys ---

def print_peak_and_latency(first, labels, peak, lat, rate):
    """A table of peak throughput and CPU (wrk) beside open-loop latency at
    `rate` (lat["direct"]: the upstream alone), one row per labels item."""
    print("| %s | requests/s (wrk -c64) | gateway CPU | CPU per request | p50 at %d/s | "
          "p50 added over direct | p99 at %d/s |" % (first, rate, rate))
    print("|---|---|---|---|---|---|---|")
    for kind, label in labels.items():
        r = peak[kind]
        if r["non2xx"]:
            print("**%s: %d answers were not 2xx: the figures below are not valid**\n"
                  % (kind, r["non2xx"]))
        print("| %s | %.0f | %.0f%% | %.1f µs | %s | %s | %s |" % (
            label, r["rps"], r["cpu"], cpu_us_per_request(r), fmt_us(lat[kind]["p50"]),
            fmt_us(lat[kind]["p50"] - lat["direct"]["p50"]), fmt_us(lat[kind]["p99"])))


def suite_keys():
    """100 keys with rpm, tpm and spend caps on, against the same gateway with
    no keys (issue 12): CPU per request at peak and p50 added at a fixed rate."""
    raise_nofile()
    import hashlib
    up_port = free_port()
    up = mock(up_port, latency_ms=0)
    keys = ["sk-bench-%03d-%s" % (i, "k" * 24) for i in range(100)]
    # Limits far above what the run sends, so every request is admitted and
    # charged: the cost measured is the checking, not refusals.
    entries = ["[[auth.keys]]\nname = \"team-%03d\"\nkey_sha256 = \"%s\"\nmodels = [\"m*\"]\n"
               "rpm = 100000000\ntpm = 1000000000000\nusd_per_hour = 1000000.0\n"
               % (i, hashlib.sha256(k.encode()).hexdigest()) for i, k in enumerate(keys)]
    priced = [{"name": "d-up", "provider": "up", "model": "x", "input_usd_per_mtok": 2.5,
               "output_usd_per_mtok": 10.0}]
    ports = {"none": free_port(), "keys": free_port()}
    gws = {}
    for kind, port in ports.items():
        text = tailgate_config(port, {"up": "http://127.0.0.1:%d/v1" % up_port},
                               sections={"hedge": {"enabled": False}}, deployments=priced)
        if kind == "keys":
            text += "[budget]\nusd_per_hour = 100000000.0\n" + "".join(entries)
        gws[kind] = tailgate(port, text)
    hdr = {"none": {}, "keys": {"Authorization": "Bearer " + keys[-1]}}
    url = {k: "http://127.0.0.1:%d/v1/chat/completions" % p for k, p in ports.items()}
    url["direct"] = "http://127.0.0.1:%d/v1/chat/completions" % up_port
    peak = {k: [] for k in ports}
    for rnd in range(ROUNDS):
        for kind in ports:
            log("keys: peak %s round %d" % (kind, rnd + 1))
            r, cpu = measured(gws[kind], lambda: wrk(url[kind], CHAT, headers=hdr[kind]))
            r["cpu"] = cpu
            peak[kind].append(r)
    peak = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in peak.items()}
    rate = int(peak["none"]["rps"] / 4)
    lat = {k: [] for k in ("direct", "none", "keys")}
    for rnd in range(ROUNDS):
        for kind in ("direct", "none", "keys"):
            log("keys: %d/s via %s round %d" % (rate, kind, rnd + 1))
            extra = []
            for k, v in hdr.get(kind, {}).items():
                extra += ["--header", "%s: %s" % (k, v)]
            lat[kind].append(loadgen(url[kind], CHAT, rate, seconds=8, extra=extra)["latency_us"])
    lat = {k: {q: med([r[q] for r in v]) for q in ("p50", "p99")} for k, v in lat.items()}
    for p in list(gws.values()) + [up]:
        p.stop()
    print("### 100 keys with rpm, tpm and spend caps vs no keys (median of %d rounds)\n" % ROUNDS)
    print("Every request carries the 100th key (the last one compared), is admitted against "
          "its rpm, tpm and hourly spend and the gateway's spend cap, and is settled with its "
          "cost; the deployment has prices.\n")
    print_peak_and_latency("gateway", {"none": "no keys", "keys": "100 keys, limits and caps"},
                           peak, lat, rate)
    cpu_ratio = cpu_us_per_request(peak["keys"]) / cpu_us_per_request(peak["none"])
    added = {k: lat[k]["p50"] - lat["direct"]["p50"] for k in ("none", "keys")}
    print("\nCPU per request, keys / no keys: **%.1f%%**; p50 added, keys / no keys: **%.1f%%** "
          "(target: both within 5%%)\n" % (100 * cpu_ratio, 100 * added["keys"] / added["none"]))
    return {"peak": peak, "latency": lat}



def redis_server(port, cpu=LOAD_CPU):
    """redis-server with nothing saved to disk, beside the load tools."""
    d = tempfile.mkdtemp(prefix="tg-bench-redis-")
    return Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", d], cpu, port, "redis")


def redis_commands(port):
    """{command: calls} from INFO commandstats."""
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"],
                         capture_output=True, text=True).stdout
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_(\w+(?:\|\w+)?):calls=(\d+)", out)}


def suite_scaleout():
    """[shared] (issue 15): a key with rpm, tpm and a spend cap (and the
    gateway's cap), on local state and on one Redis shared by two instances:
    CPU per request at peak, p50 added at a fixed rate, and Redis commands
    per request."""
    raise_nofile()
    import hashlib
    up_port, redis_port = free_port(), free_port()
    up = mock(up_port, latency_ms=0)
    redis = redis_server(redis_port)
    key = "sk-bench-scaleout-" + "k" * 24
    entry = ("[[auth.keys]]\nname = \"team\"\nkey_sha256 = \"%s\"\nrpm = 100000000\n"
             "tpm = 1000000000000\nusd_per_hour = 1000000.0\n"
             % hashlib.sha256(key.encode()).hexdigest())
    priced = [{"name": "d-up", "provider": "up", "model": "x", "input_usd_per_mtok": 2.5,
               "output_usd_per_mtok": 10.0}]
    ports = {"local": free_port(), "shared": free_port(), "shared-2": free_port()}
    gws = {}
    for kind, port in ports.items():
        sections = {"hedge": {"enabled": False}}
        if kind.startswith("shared"):
            sections["shared"] = {"redis_url": "redis://127.0.0.1:%d" % redis_port}
        text = tailgate_config(port, {"up": "http://127.0.0.1:%d/v1" % up_port},
                               sections=sections, deployments=priced)
        gws[kind] = tailgate(port, text + "[budget]\nusd_per_hour = 100000000.0\n" + entry)
    time.sleep(1)  # the shared instances connect
    hdr = {"Authorization": "Bearer " + key}
    url = {k: "http://127.0.0.1:%d/v1/chat/completions" % p for k, p in ports.items()}
    url["direct"] = "http://127.0.0.1:%d/v1/chat/completions" % up_port
    peak = {k: [] for k in ("local", "shared")}
    calls = []
    for rnd in range(ROUNDS):
        for kind in ("local", "shared"):
            log("scaleout: peak %s round %d" % (kind, rnd + 1))
            before = redis_commands(redis_port)
            r, cpu = measured(gws[kind], lambda: wrk(url[kind], CHAT, headers=hdr))
            after = redis_commands(redis_port)
            r["cpu"] = cpu
            peak[kind].append(r)
            if kind == "shared":
                n = r["rps"] * r["seconds"]
                calls.append({c: (after.get(c, 0) - before.get(c, 0)) / n for c in after
                              if after.get(c, 0) > before.get(c, 0)})
    # The second instance shares the same counters at the same time.
    log("scaleout: both shared instances at once")
    both = {}
    threads = [threading.Thread(target=lambda k=k: both.__setitem__(
        k, wrk(url[k], CHAT, headers=hdr, conns=32))) for k in ("shared", "shared-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in peak.items()}
    per_req = {c: med([x.get(c, 0) for x in calls]) for c in set().union(*calls)}
    rate = int(peak["local"]["rps"] / 4)
    lat = {k: [] for k in ("direct", "local", "shared")}
    for rnd in range(ROUNDS):
        for kind in ("direct", "local", "shared"):
            log("scaleout: %d/s via %s round %d" % (rate, kind, rnd + 1))
            extra = [] if kind == "direct" else ["--header", "Authorization: Bearer " + key]
            lat[kind].append(loadgen(url[kind], CHAT, rate, seconds=8, extra=extra)["latency_us"])
    lat = {k: {q: med([r[q] for r in v]) for q in ("p50", "p99")} for k, v in lat.items()}
    spent = subprocess.run(["redis-cli", "-p", str(redis_port), "--scan", "--pattern",
                            "tailgate:h:spend:*"], capture_output=True, text=True).stdout.split()
    for p in list(gws.values()) + [up, redis]:
        p.stop()
    print("### A key with rpm, tpm and a spend cap: local state vs one Redis shared by two "
          "instances (median of %d rounds)\n" % ROUNDS)
    print("Every request is admitted against the key's rpm, tpm and hourly spend and the "
          "gateway's spend cap (one EVALSHA on Redis, on the request's path), then settled "
          "with its tokens and cost (fire-and-forget). Redis (7.0, Debian's) runs on core 0 "
          "beside the load tools.\n")
    print_peak_and_latency("state", {"local": "local", "shared": "shared (Redis)"}, peak, lat,
                           rate)
    print("\nCPU per request, shared / local: **%.1f%%**; p50 added, shared / local: **%.1f%%**"
          % (100 * cpu_us_per_request(peak["shared"]) / cpu_us_per_request(peak["local"]),
             100 * (lat["shared"]["p50"] - lat["direct"]["p50"])
             / (lat["local"]["p50"] - lat["direct"]["p50"])))
    print("\nRedis commands per request: " + ", ".join(
        "%s %.2f" % (c, v) for c, v in sorted(per_req.items(), key=lambda kv: -kv[1])
        if v >= 0.005) + " (of them on the request's path before its upstream call: the one "
          "EVALSHA of the admission; the rest settle after the answer, unanswered)")
    print("\nBoth shared instances at once (wrk -c32 each): %s; every answer 2xx: %s; "
          "spend hashes in Redis: %d\n" % (
              ", ".join("%s %.0f/s" % (k, v["rps"]) for k, v in sorted(both.items())),
              "yes" if all(not v["non2xx"] for v in both.values()) else "no", len(spent)))
    return {"peak": peak, "latency": lat, "calls": per_req}

# -------------------------------------------------------------- formats ---

MESSAGES = ('{"model":"m","max_tokens":256,"system":"You are a helpful assistant.",'
            '"messages":[{"role":"user","content":"Write one sentence about gateways."}]}')
RESPONSES = ('{"model":"m","instructions":"You are a helpful assistant.",'
             '"input":[{"role":"user","content":"Write one sentence about gateways."}]}')
FORMAT_APIS = {"/v1/chat/completions": CHAT, "/v1/messages": MESSAGES, "/v1/responses": RESPONSES}
# Providers, each once for whole answers and once for streams (see suite_formats).
FORMAT_PROVIDERS = {"oai": {"kind": "openai"}, "oai-chat": {"kind": "openai", "responses": False},
                    "ant": {"kind": "anthropic"}}

# (name, client API path, provider, how the gateway carries it)
FORMAT_PATHS = (
    ("chat -> openai", "/v1/chat/completions", "oai", "pass-through"),
    ("Messages -> anthropic", "/v1/messages", "ant", "pass-through"),
    ("Responses -> openai", "/v1/responses", "oai", "pass-through"),
    ("Messages -> openai (chat)", "/v1/messages", "oai", "translated"),
    ("Responses -> openai, responses = false (chat)", "/v1/responses", "oai-chat", "translated"),
    ("chat -> anthropic (Messages)", "/v1/chat/completions", "ant", "translated"),
    ("Responses -> anthropic (Messages)", "/v1/responses", "ant", "translated"),
)
FORMAT_BASE = FORMAT_PATHS[0][0]
# Profiled when TG_BENCH_PROFILE names a directory: the pass-throughs and two
# translated paths, each non-stream and as a stream.
FORMAT_PROFILED = ("chat -> openai", "Messages -> anthropic", "Responses -> openai",
                   "chat -> anthropic (Messages)", "Messages -> openai (chat)")


def post_json(url, body):
    req = urllib.request.Request(url, data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def recorded_answers(mock_port):
    """The mock's answer to each API, whole and streamed (20 tokens), as the
    gateway asks for it (a chat stream with its usage)."""
    out = {}
    for path, body in FORMAT_APIS.items():
        for stream in (False, True):
            b = json.loads(body)
            b["model"] = "x"
            if stream:
                b["stream"] = True
                if path == "/v1/chat/completions":
                    b["stream_options"] = {"include_usage": True}
            out[(path, stream)] = post_json("http://127.0.0.1:%d%s" % (mock_port, path),
                                            json.dumps(b))
    return out


def nginx_replay(port, answers, cpu=LOAD_CPU):
    """nginx answering each API with the recorded bytes: under /whole/ the
    JSON answers, under /stream/ the SSE streams. They are files (an answer
    is too long for `return`); a POST to a file is a 405 that error_page
    turns into the file. nginx logs each URI, so that a probe can see which
    API the gateway asked."""
    d = tempfile.mkdtemp(prefix="tg-bench-answers-")
    for (path, stream), text in answers.items():
        f = os.path.join(d, "stream" if stream else "whole") + path
        os.makedirs(os.path.dirname(f), exist_ok=True)
        with open(f, "w") as out:
            out.write(text)
    return nginx(port, """
  log_format uri $uri; open_file_cache max=64;
  server { listen 127.0.0.1:PORT backlog=4096; access_log DIR/uri.log uri;
    root %s; error_page 405 =200 $uri;
    location /whole/ { types { } default_type application/json; }
    location /stream/ { types { } default_type text/event-stream; } }""" % d,
                 cpu, "nginx-replay")


def format_request(path, provider, stream):
    b = json.loads(FORMAT_APIS[path])
    b["model"] = provider + ("-stream" if stream else "")
    if stream:
        b["stream"] = True
    return json.dumps(b, separators=(",", ":"))


def syscalls_per_request(proc, fn):
    """fn() (a wrk run) under `perf stat` of every syscall tracepoint on
    proc: {syscall: calls per request}."""
    out = tempfile.NamedTemporaryFile("r", suffix=".txt", delete=False)
    out.close()
    st = subprocess.Popen(["taskset", "-c", LOAD_CPU, "perf", "stat", "-e",
                           "syscalls:sys_enter_*", "-p", str(proc.pid), "-o", out.name],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    r = fn()
    st.send_signal(signal.SIGINT)
    st.wait()
    n = r["rps"] * r["seconds"]
    counts = {}
    with open(out.name) as f:
        for line in f:
            m = re.match(r"\s*([\d,]+)\s+syscalls:sys_enter_(\w+)", line)
            if m and int(m.group(1).replace(",", "")) > 0:
                counts[m.group(2)] = int(m.group(1).replace(",", "")) / n
    os.unlink(out.name)
    return counts


# libcurl's entry points a gateway calls on the data path, and the gateway's
# callbacks libcurl calls back: libcurl's own instructions are the first
# ones' inclusive count less the second ones'.
CURL_ENTRIES = ("curl_multi_socket_action", "curl_multi_add_handle", "curl_multi_remove_handle",
                "curl_easy_setopt", "curl_easy_getinfo", "curl_multi_info_read",
                "curl_multi_assign", "curl_easy_pause")
CURL_CALLBACKS = ("on_curl_header", "on_curl_write", "on_curl_socket", "on_curl_timer",
                  "on_close_socket", "on_ssl_ctx")


def callgrind_costs(path):
    """From a callgrind dump (Ir only): ({(function, object): self}, {function:
    inclusive of its calls}), read from the file itself: callgrind_annotate
    counts a function still on the stack at the dump as its own."""
    names = {}

    def name(kind, v):
        m = re.match(r"\((\d+)\)(?: (.*))?$", v)
        if not m:
            return v
        if m.group(2) is not None:
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), "?")

    self_ir, incl = {}, {}
    ob = fn = cfn = None
    after_calls = False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] in "#":
                continue
            key, _, v = line.partition("=")
            if key in ("ob", "cob") and v:
                o = os.path.basename(name("ob", v))
                if key == "ob":
                    ob = o
            elif key in ("fn", "cfn", "cfi", "cfl", "fl", "fi", "fe") and v:
                n = name("fn" if key in ("fn", "cfn") else "fl", v)
                if key == "fn":
                    fn = n
                elif key == "cfn":
                    cfn = n
            elif key == "calls":
                after_calls = True
            elif line[0] in "+-*0123456789":
                parts = line.split()
                if len(parts) < 2:
                    continue
                ir = int(parts[1])
                if after_calls:
                    incl[cfn] = incl.get(cfn, 0) + ir
                    after_calls = False
                else:
                    self_ir[(fn, ob)] = self_ir.get((fn, ob), 0) + ir
    return self_ir, incl


def instructions_per_request(start, url, body, conns=16, seconds=6):
    """User-space instructions per request of the proxy that start(wrap) runs
    under callgrind, from a `wrk` run after a warm-up: a count, so free of
    the VM's noise that moves CPU time between runs. Returns (total, by
    object, libcurl's own); libcurl's own is None for a proxy without it."""
    d = tempfile.mkdtemp(prefix="tg-bench-callgrind-")
    out = os.path.join(d, "callgrind.out")
    proc = start(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out])
    try:
        wrk(url, body, seconds=2, conns=conns)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True)
        r = wrk(url, body, seconds=seconds, conns=conns)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True)
    finally:
        proc.stop()
    dumps = sorted(f for f in os.listdir(d) if f.startswith("callgrind.out."))
    n = r["rps"] * r["seconds"]
    self_ir, incl = callgrind_costs(os.path.join(d, dumps[-1]))
    shutil.rmtree(d, ignore_errors=True)
    by_obj = {}
    for (fn, obj), ir in self_ir.items():
        name = re.sub(r"\.so[.\d]*$", "", obj or "?")
        by_obj[name] = by_obj.get(name, 0) + ir / n
    curl = None
    if any((obj or "").startswith("libcurl") for _, obj in self_ir):
        curl = (sum(incl.get(fn, 0) for fn in CURL_ENTRIES)
                - sum(incl.get(fn, 0) for fn in CURL_CALLBACKS)) / n
    return sum(by_obj.values()), by_obj, curl


def perf_profile(proc, out, fn):
    """fn() under `perf record -g` on proc, kept in out.data; out.txt holds
    self time by DSO, then by DSO and symbol, then by caller of each symbol
    (use a build with frame pointers for the callers: TG_BUILD=build/prof)."""
    data = out + ".data"
    rec = subprocess.Popen(["taskset", "-c", LOAD_CPU, "perf", "record", "-F", "2000", "-g",
                            "-o", data, "-p", str(proc.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    r = fn()
    rec.send_signal(signal.SIGINT)
    rec.wait()
    with open(out + ".txt", "w") as f:
        for args in (["--sort", "dso", "-g", "none"],
                     ["--sort", "dso,sym", "-g", "none", "--percent-limit", "0.3"],
                     ["--sort", "dso,sym", "-g", "caller,0.5,callee,function,percent",
                      "--percent-limit", "2"]):
            f.write(subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children"]
                                   + args, capture_output=True, text=True).stdout)
    return r


def suite_formats():
    """Issue 13: gateway CPU per request of the three client formats, passed
    through to a provider that speaks them or translated, against chat
    pass-through; whole answers and 20-token streams.

    The upstream answers are the mock's (--latency-ms 0 --output-tokens 20),
    recorded once and replayed by nginx: the mock costs several times the
    CPU nginx does per answer, and sharing core 0 with wrk it held the
    gateway to 25-45% of its core, where CPU per request depends on the
    load (fewer events per loop wake-up) and so on each path's throughput."""
    raise_nofile()
    mock_port, up_port, gw_port = free_port(), free_port(), free_port()
    m = mock(mock_port, latency_ms=0, output_tokens=20)
    answers = recorded_answers(mock_port)
    m.stop()
    up = nginx_replay(up_port, answers)
    providers, deployments = {}, []
    for name, keys in FORMAT_PROVIDERS.items():
        for mode in ("whole", "stream"):
            pname = name + ("-stream" if mode == "stream" else "")
            providers[pname] = dict(keys, base_url="http://127.0.0.1:%d/%s/v1" % (up_port, mode))
            deployments.append({"name": "d-" + pname, "provider": pname, "model": "x"})
    gw = tailgate(gw_port, tailgate_config(
        gw_port, providers, sections={"hedge": {"enabled": False}}, deployments=deployments,
        routes=[{"model": d["provider"], "deployments": [d["name"]]} for d in deployments]))
    runs = [(p[0], stream) for stream in (False, True) for p in FORMAT_PATHS]
    spec = {p[0]: p for p in FORMAT_PATHS}
    url, body, seen = {}, {}, {}
    for name, stream in runs:
        _, path, provider, _ = spec[name]
        k = (name, stream)
        url[k] = "http://127.0.0.1:%d%s" % (gw_port, path)
        body[k] = format_request(path, provider, stream)
        text = post_json(url[k], body[k])
        time.sleep(0.2)  # the access log is written after the answer
        with open(os.path.join(up.proc.args[-1], "uri.log")) as f:  # nginx -p DIR
            wire = f.read().splitlines()[-1].split("/v1", 1)[1]
        seen[k] = ("/v1" + wire, sum(1 for ln in text.splitlines() if ln.startswith("data:")))
    rows = {k: [] for k in runs}
    for rnd in range(ROUNDS):
        for k in runs:
            log("formats: %s%s round %d" % (k[0], " stream" if k[1] else "", rnd + 1))
            r, cpu = measured(gw, lambda: wrk(url[k], body[k], seconds=8))
            r["cpu"] = cpu
            r["us"] = cpu_us_per_request(r)
            rows[k].append(r)
    prof = os.environ.get("TG_BENCH_PROFILE")
    if prof:
        os.makedirs(prof, exist_ok=True)
        for name in FORMAT_PROFILED:
            for stream in (False, True):
                k = (name, stream)
                out = os.path.join(prof, re.sub(r"\W+", "-", name).strip("-").lower()
                                   + ("-stream" if stream else ""))
                log("formats: perf record %s -> %s.txt" % (name, out))
                perf_profile(gw, out, lambda: wrk(url[k], body[k], seconds=8))
    gw.stop()
    up.stop()
    print_formats(rows, seen)
    return rows


def print_formats(rows, seen):
    print("### Gateway CPU per request by client format and provider (wrk -t1 -c64 -d8s, "
          "median of %d interleaved rounds; upstream: the mock's answers with 20 tokens, "
          "replayed by nginx)\n" % ROUNDS)
    print("Ratio: each round's CPU per request over the same round's chat pass-through, "
          "median over rounds.\n")
    for stream in (False, True):
        print("**%s**\n" % ("20-token streams" if stream else "Whole answers"))
        print("| client -> provider | carried | upstream API | events to client | requests/s | "
              "gateway CPU | CPU per request | vs chat pass-through |")
        print("|---|---|---|---|---|---|---|---|")
        base = rows[(FORMAT_BASE, stream)]
        for name, _, _, how in FORMAT_PATHS:
            v = rows[(name, stream)]
            bad = sum(r["non2xx"] for r in v)
            if bad:
                print("**%s: %d answers were not 2xx: the figures below are not valid**\n"
                      % (name, bad))
            ratio = med([r["us"] / b["us"] for r, b in zip(v, base)])
            wire, events = seen[(name, stream)]
            print("| %s | %s | %s | %s | %.0f | %.0f%% | %.1f µs | %.1f%% |" % (
                name, how, wire, events if stream else "—", med([r["rps"] for r in v]),
                med([r["cpu"] for r in v]), med([r["us"] for r in v]), 100 * ratio))
        print()
    for stream in (False, True):
        base = rows[(FORMAT_BASE, stream)]
        for name, _, _, how in FORMAT_PATHS[1:3]:
            ratio = med([r["us"] / b["us"] for r, b in zip(rows[(name, stream)], base)])
            print("%s pass-through / chat pass-through, %s: **%.1f%%** (target: within 10%%)\n"
                  % (name, "stream" if stream else "whole answer", 100 * ratio))


# ------------------------------------------------------------------ tls ---

def make_cert(directory, key_type):
    """A self-signed certificate for 127.0.0.1 by the openssl command line."""
    cert = os.path.join(directory, key_type + ".crt")
    key = os.path.join(directory, key_type + ".key")
    newkey = {"ecdsa-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
              "rsa-2048": ["-newkey", "rsa:2048"]}[key_type]
    subprocess.run(["openssl", "req", "-x509"] + newkey + ["-nodes", "-keyout", key, "-out",
                    cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def s_time(port, mode, seconds=10, clients=4):
    """Handshakes per second by `clients` openssl s_time processes (-new: full
    handshakes, -reuse: resumed), each fetching /v1/models once per handshake."""
    t0 = time.time()
    procs = [subprocess.Popen(["taskset", "-c", LOAD_CPU, "openssl", "s_time", "-connect",
                               "127.0.0.1:%d" % port, "-" + mode, "-time", str(seconds),
                               "-www", "/v1/models"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(clients)]
    total, read = 0, 0
    for p in procs:
        out = p.communicate()[0]
        m = re.search(r"(\d+) connections in [\d.]+s;.*bytes read (\d+)", out)
        if not m:
            raise RuntimeError("s_time gave no figures: %s" % out)
        total += int(m.group(1))
        read += int(m.group(2))
    if total and read < total * 20:
        raise RuntimeError("s_time read no answers: the gateway did not serve them")
    return {"rps": total / (time.time() - t0)}


def nginx_tls(port, upstream_port, cert, key, cpu=GATEWAY_CPU):
    """nginx terminating TLS with the same certificate: proxy_pass to the
    upstream for chat, and /v1/models answered locally (as tailgate does)."""
    return nginx(port, """
  upstream up { server 127.0.0.1:%d; keepalive 256; }
  server { listen 127.0.0.1:PORT ssl backlog=4096;
    ssl_certificate %s; ssl_certificate_key %s; ssl_protocols TLSv1.2 TLSv1.3;
    location = /v1/models { default_type application/json;
      return 200 '{"object":"list","data":[{"id":"m","object":"model"}]}'; }
    location / { proxy_pass http://up; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_buffering off; } }""" % (upstream_port, cert, key),
                 cpu, "nginx-tls")


def suite_tls():
    raise_nofile()
    d = tempfile.mkdtemp(prefix="tg-bench-tls-")
    certs = {k: make_cert(d, k) for k in ("ecdsa-p256", "rsa-2048")}
    up_port = free_port()
    up = mock(up_port, latency_ms=0)
    upstream = {"up": "http://127.0.0.1:%d/v1" % up_port}
    no_hedge = {"hedge": {"enabled": False}}
    cert, key = certs["ecdsa-p256"]
    ports = {k: free_port() for k in ("tailgate-plain", "tailgate-tls", "nginx-plain",
                                      "nginx-tls")}
    procs = {
        "tailgate-plain": tailgate(ports["tailgate-plain"], tailgate_config(
            ports["tailgate-plain"], upstream, sections=no_hedge)),
        "tailgate-tls": tailgate(ports["tailgate-tls"], tailgate_config(
            ports["tailgate-tls"], upstream, sections=no_hedge,
            server={"tls_cert": cert, "tls_key": key})),
        "nginx-plain": nginx_proxy(ports["nginx-plain"], up_port),
        "nginx-tls": nginx_tls(ports["nginx-tls"], up_port, cert, key),
    }

    def url(kind, path="/v1/chat/completions"):
        scheme = "https" if kind.endswith("tls") else "http"
        return "%s://127.0.0.1:%d%s" % (scheme, ports[kind], path)

    # Keep-alive clients: the cost of encryption on the request path.
    rows = {k: [] for k in procs}
    for rnd in range(ROUNDS):
        for kind in procs:
            log("keep-alive %s round %d" % (kind, rnd + 1))
            r, cpu = measured(procs[kind], lambda: wrk(url(kind), CHAT))
            r["cpu"] = cpu
            rows[kind].append(r)
    keep = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in rows.items()}
    for p in procs.values():
        p.stop()

    # New handshakes: every request on a fresh connection, GET /v1/models
    # answered by the gateway itself, so the handshake is the work. Clients:
    # openssl s_time, 4 at once on core 0; -new makes every handshake a full
    # one, -reuse resumes the session (a TLS 1.3 ticket). The gateway has
    # core 1 to itself; dividing by its CPU share gives handshakes per second
    # of one core even when the clients are the limit.
    hs = {}
    for key_type, (cert, key) in certs.items():
        tp, np_ = free_port(), free_port()
        gw = {"tailgate": tailgate(tp, tailgate_config(tp, upstream, sections=no_hedge,
                                                       server={"tls_cert": cert,
                                                               "tls_key": key})),
              "nginx": nginx_tls(np_, up_port, cert, key)}
        port = {"tailgate": tp, "nginx": np_}
        for mode in ("new", "reuse"):
            rows = {k: [] for k in gw}
            for rnd in range(ROUNDS):
                for kind in gw:
                    log("handshakes %s -%s %s round %d" % (key_type, mode, kind, rnd + 1))
                    r, cpu = measured(gw[kind], lambda: s_time(port[kind], mode))
                    r["cpu"] = cpu
                    rows[kind].append(r)
            hs[(key_type, mode)] = {k: {f: med([r[f] for r in v]) for f in v[0]}
                                    for k, v in rows.items()}
        for p in gw.values():
            p.stop()
    up.stop()
    print_tls(keep, hs)
    return {"keepalive": keep, "handshakes": hs}


def print_tls(keep, hs):
    print("### Keep-alive clients, TLS 1.3 inbound vs plain HTTP (wrk -t1 -c64 -d10s, "
          "ECDSA P-256 certificate, mock upstream over plain HTTP, median of %d rounds)\n"
          % ROUNDS)
    print("| gateway | inbound | requests/s | p50 | p99 | gateway CPU |")
    print("|---|---|---|---|---|---|")
    for kind in ("tailgate-plain", "tailgate-tls", "nginx-plain", "nginx-tls"):
        r = keep[kind]
        gw, inbound = kind.split("-")
        if r["non2xx"]:
            print("**%s: %d answers were not 2xx: the figures below are not valid**\n"
                  % (kind, r["non2xx"]))
        print("| %s | %s | %.0f | %s | %s | %.0f%% |" % (
            gw, "TLS" if inbound == "tls" else "plain", r["rps"], fmt_us(r["p50"]),
            fmt_us(r["p99"]), r["cpu"]))
    for gw in ("tailgate", "nginx"):
        print("\n%s: TLS / plain throughput **%.0f%%**" % (
            gw, 100.0 * keep[gw + "-tls"]["rps"] / keep[gw + "-plain"]["rps"]), end="")
    print("\n\n### New TLS handshakes (openssl s_time, 4 clients at once for 10 s, one "
          "GET /v1/models per connection; TLS 1.3, X25519)\n")
    print("| certificate | handshake | gateway | handshakes/s | gateway CPU | "
          "handshakes/s per core (rate / CPU share) |")
    print("|---|---|---|---|---|---|")
    for (key_type, mode), rows in hs.items():
        for kind in ("tailgate", "nginx"):
            r = rows[kind]
            per_core = r["rps"] / (r["cpu"] / 100.0) if r["cpu"] > 0 else 0
            print("| %s | %s | %s | %.0f | %.0f%% | %.0f |" % (
                key_type, "full" if mode == "new" else "resumed (ticket)", kind, r["rps"],
                r["cpu"], per_core))


# ----------------------------------------------------------------- cost ---

COST_CONNS = (64, 256)


def suite_cost():
    """Issue 14: the data path's CPU per request beside nginx proxy_pass, in
    one run: a chat completion and a 20-event chat stream, at 64 and 256
    client connections. Both proxies sit on core 1 in front of the same
    upstream, nginx replaying the mock's recorded answers (a stream with its
    usage chunk) on core 0 with wrk; tailgate runs with validation, hedging
    and the cache at their defaults."""
    raise_nofile()
    mock_port, up_port, tg_port, ngx_port = free_port(), free_port(), free_port(), free_port()
    m = mock(mock_port, latency_ms=0, output_tokens=20)
    answers = {k: v for k, v in recorded_answers(mock_port).items()
               if k[0] == "/v1/chat/completions"}
    m.stop()
    up = nginx_replay(up_port, answers)
    providers = {mode: "http://127.0.0.1:%d/%s/v1" % (up_port, mode) for mode in ("whole", "stream")}
    deployments = [{"name": "d-" + mode, "provider": mode, "model": "x"} for mode in providers]
    routes = [{"model": "m", "deployments": ["d-whole"]},
              {"model": "m-stream", "deployments": ["d-stream"]}]
    tg = tailgate(tg_port, tailgate_config(tg_port, providers, deployments=deployments,
                                           routes=routes))
    ngx = nginx_proxy(ngx_port, up_port)
    procs = {"tailgate": tg, "nginx": ngx}
    # TG_BENCH_MALLOC=/path/to/libX.so: the same gateway with that malloc, in the same rounds.
    alt = os.environ.get("TG_BENCH_MALLOC")
    alt_port = free_port()
    if alt:
        procs["tailgate+" + os.path.basename(alt)] = tailgate(
            alt_port, tailgate_config(alt_port, providers, deployments=deployments,
                                      routes=routes), preload=alt)
    # TG_BENCH_BEFORE=/path/to/tailgate: another build (an earlier commit's) in the same
    # rounds, so that a change is measured before and after in one run.
    before = os.environ.get("TG_BENCH_BEFORE")
    if before:
        alt_port = free_port()
        procs["tailgate (before)"] = tailgate(
            alt_port, tailgate_config(alt_port, providers, deployments=deployments,
                                      routes=routes), binary=before)

    ports = {"tailgate": tg_port}
    ports.update({k: p.port for k, p in procs.items() if k.startswith("tailgate") and k != "tailgate"})

    def target(kind, mode):
        if kind.startswith("tailgate"):
            port = ports[kind]
            return ("http://127.0.0.1:%d/v1/chat/completions" % port,
                    CHAT_STREAM.replace('"model":"m"', '"model":"m-stream"') if mode == "stream"
                    else CHAT)
        return ("http://127.0.0.1:%d/%s/v1/chat/completions" % (ngx_port, mode),
                CHAT_STREAM if mode == "stream" else CHAT)

    cases = [(mode, conns) for mode in ("whole", "stream") for conns in COST_CONNS]
    rows = {(kind, c): [] for kind in procs for c in cases}
    for rnd in range(ROUNDS):
        for c in cases:
            for kind in procs:
                log("cost: %s %s -c%d round %d" % (kind, c[0], c[1], rnd + 1))
                u, b = target(kind, c[0])
                user0, sys0 = procs[kind].cpu_split()
                r, cpu = measured(procs[kind], lambda: wrk(u, b, seconds=10, conns=c[1]))
                user1, sys1 = procs[kind].cpu_split()
                r["cpu"] = cpu
                r["us"] = cpu_us_per_request(r)
                n = r["rps"] * r["seconds"]
                r["user_us"] = (user1 - user0) * 1e6 / n
                r["sys_us"] = (sys1 - sys0) * 1e6 / n
                rows[(kind, c)].append(r)
    rss = {kind: p.status_kib("VmHWM") for kind, p in procs.items()}
    calls = {}
    for c in cases:
        for kind in procs:
            log("cost: syscalls %s %s -c%d" % (kind, c[0], c[1]))
            u, b = target(kind, c[0])
            calls[(kind, c)] = syscalls_per_request(procs[kind],
                                                    lambda: wrk(u, b, seconds=5, conns=c[1]))
    instr = {}
    if shutil.which("valgrind"):
        builds = {"tailgate": None}
        if before:
            builds["tailgate (before)"] = before
        for mode in ("whole", "stream"):
            for kind, binary in builds.items():
                log("cost: callgrind %s %s" % (kind, mode))
                port = free_port()
                cfg = tailgate_config(port, providers, deployments=deployments, routes=routes)
                instr[(kind, mode)] = instructions_per_request(
                    lambda wrap: tailgate(port, cfg, binary=binary, wrap=wrap),
                    "http://127.0.0.1:%d/v1/chat/completions" % port,
                    CHAT_STREAM.replace('"model":"m"', '"model":"m-stream"') if mode == "stream"
                    else CHAT)
            log("cost: callgrind nginx %s" % mode)
            port = free_port()
            instr[("nginx", mode)] = instructions_per_request(
                lambda wrap: nginx_proxy(port, up_port, wrap=wrap),
                "http://127.0.0.1:%d/%s/v1/chat/completions" % (port, mode),
                CHAT_STREAM if mode == "stream" else CHAT)
    prof = os.environ.get("TG_BENCH_PROFILE")
    if prof:
        os.makedirs(prof, exist_ok=True)
        for c in cases:
            u, b = target("tailgate", c[0])
            out = os.path.join(prof, "cost-%s-%d" % c)
            log("cost: perf record %s -c%d -> %s.txt" % (c[0], c[1], out))
            perf_profile(tg, out, lambda: wrk(u, b, seconds=8, conns=c[1]))
    for p in list(procs.values()) + [up]:
        p.stop()
    print_cost(rows, cases, rss, list(procs), calls)
    if instr:
        print_instructions(instr)
    return rows


def print_instructions(instr):
    label = {"whole": "JSON", "stream": "20-event SSE stream"}
    print("### User-space instructions per request (callgrind, wrk -c16 for 6 s after a 2 s "
          "warm-up)\n")
    print("| proxy | case | instructions | / nginx | libcurl's own | by object (self) |")
    print("|---|---|---|---|---|---|")
    for (kind, mode), (total, by_obj, curl) in sorted(instr.items(), key=lambda kv: kv[0][1]):
        print("| %s | %s | %.0fk | %.2fx | %s | %s |" % (
            kind, label[mode], total / 1000, total / instr[("nginx", mode)][0],
            "%.0fk (%.0f%%)" % (curl / 1000, 100 * curl / total) if curl is not None else "—",
            ", ".join("%s %.0fk" % (o, v / 1000) for o, v in
                      sorted(by_obj.items(), key=lambda kv: -kv[1]) if v >= 500)))
    print()


def print_cost(rows, cases, rss, kinds, calls):
    med_of = {k: {f: med([r[f] for r in v])
                  for f in ("rps", "cpu", "us", "non2xx", "user_us", "sys_us")}
              for k, v in rows.items()}
    label = {"whole": "JSON", "stream": "20-event SSE stream"}
    print("### CPU per request beside nginx proxy_pass (wrk -t1 -d10s, median of %d interleaved "
          "rounds; upstream: nginx replaying the mock's answers)\n" % ROUNDS)
    print("| proxy | " + " | ".join("%s, %d conns" % (label[m], c) for m, c in cases) + " |")
    print("|---|" + "---|" * len(cases))
    for kind in ["nginx"] + [k for k in kinds if k != "nginx"]:
        print("| %s | " % kind + " | ".join(
            "%.1f µs (%.0f/s, %.0f%%)" % (med_of[(kind, c)]["us"], med_of[(kind, c)]["rps"],
                                          med_of[(kind, c)]["cpu"]) for c in cases) + " |")
    for kind in [k for k in kinds if k != "nginx"]:
        print("| %s / nginx | " % kind + " | ".join(
            "**%.2fx**" % (med_of[(kind, c)]["us"] / med_of[("nginx", c)]["us"])
            for c in cases) + " |")
    for kind in kinds:
        bad = sum(med_of[(kind, c)]["non2xx"] for c in cases)
        if bad:
            print("\n**%s: %d answers were not 2xx: the figures are not valid**" % (kind, bad))
    print("\nFlat with concurrency (CPU per request at 256 / at 64 connections): " + ", ".join(
        "%s %s **%.2fx**" % (kind, label[m], med_of[(kind, (m, 256))]["us"]
                            / med_of[(kind, (m, 64))]["us"])
        for kind in kinds for m in ("whole", "stream")))
    print("\nPeak RSS (VmHWM) after every run: " + ", ".join(
        "%s %.1f MiB" % (k, rss[k] / 1024) for k in kinds) + " (targets: tailgate at most 1.25x "
          "nginx's CPU per request, 256/64 at most 1.1x, RSS at most 16 MiB)\n")
    print("User and system CPU per request (medians): " + "; ".join(
        "%s %s %d conns %.1f + %.1f µs" % (kind, label[c[0]], c[1], med_of[(kind, c)]["user_us"],
                                          med_of[(kind, c)]["sys_us"])
        for kind in ["nginx"] + [k for k in kinds if k != "nginx"] for c in cases) + "\n")
    print("### Syscalls per request (perf stat of the syscall tracepoints, one 5 s run each)\n")
    print("| proxy | case | total | by syscall |")
    print("|---|---|---|---|")
    for kind in ["nginx"] + [k for k in kinds if k != "nginx"]:
        for c in cases:
            cs = calls[(kind, c)]
            print("| %s | %s, %d conns | %.2f | %s |" % (
                kind, label[c[0]], c[1], sum(cs.values()),
                ", ".join("%s %.2f" % (k, v) for k, v in
                          sorted(cs.items(), key=lambda kv: -kv[1]) if v >= 0.01)))
    print()


# ---------------------------------------------------------------- trace ---

def nginx_collector(port, cpu=LOAD_CPU):
    """An OTLP/HTTP collector that takes every export and keeps nothing: what
    the gateway pays for tracing is measured, not a collector's parsing."""
    return nginx(port, """
  server { listen 127.0.0.1:PORT backlog=4096; client_max_body_size 64m;
    location /v1/traces { default_type application/json; return 200 '{}'; } }""",
                 cpu, "nginx-collector")


def rss_series(proc, seconds, every=1.0):
    """VmRSS in KiB, sampled every `every` seconds for `seconds`."""
    out = []
    end = time.time() + seconds
    while time.time() < end:
        out.append(proc.status_kib("VmRSS"))
        time.sleep(every)
    return out


def suite_trace():
    """[telemetry] (issue 16): CPU per request with tracing on at
    sample_ratio 1.0, exporting to a local collector, beside tracing off in
    the same rounds; then 60 s with the collector down, RSS sampled each
    second."""
    raise_nofile()
    up_port, coll_port = free_port(), free_port()
    up = nginx_static(up_port)
    coll = nginx_collector(coll_port)
    upstreams = {"up": "http://127.0.0.1:%d/v1" % up_port}
    priced = [{"name": "d-up", "provider": "up", "model": "x", "input_usd_per_mtok": 2.5,
               "output_usd_per_mtok": 10.0}]
    down_port = free_port()  # nothing listens there
    telemetry = {
        "on": {"otlp_endpoint": "http://127.0.0.1:%d" % coll_port, "sample_ratio": 1.0},
        "down": {"otlp_endpoint": "http://127.0.0.1:%d" % down_port, "sample_ratio": 1.0},
    }
    ports, admin = {}, {}

    def config(kind, port, admin_port):
        sections = {"hedge": {"enabled": False}}
        if kind in telemetry:
            sections["telemetry"] = telemetry[kind]
        return tailgate_config(port, upstreams, sections=sections, deployments=priced,
                               server={"admin_listen": "127.0.0.1:%d" % admin_port})

    gws = {}
    for kind in ("off", "on"):
        ports[kind], admin[kind] = free_port(), free_port()
        gws[kind] = tailgate(ports[kind], config(kind, ports[kind], admin[kind]))
    url = {k: "http://127.0.0.1:%d/v1/chat/completions" % p for k, p in ports.items()}
    peak = {k: [] for k in gws}
    for rnd in range(ROUNDS):
        for kind in ("off", "on"):
            log("trace: peak, tracing %s, round %d" % (kind, rnd + 1))
            r, cpu = measured(gws[kind], lambda: wrk(url[kind], CHAT))
            r["cpu"] = cpu
            peak[kind].append(r)
    # CPU per request at a fixed rate, both gateways loaded at the same time
    # (each by its own open-loop generator): whatever this VM's neighbours,
    # steal or clock do in a round, they do to both.
    fixed_rate = int(min(med([r["rps"] for r in v]) for v in peak.values()) / 4)
    fixed = {k: [] for k in gws}
    for rnd in range(ROUNDS + 2):
        log("trace: %d/s into each, both at once, round %d" % (fixed_rate, rnd + 1))
        cpu0 = {k: g.cpu_seconds() for k, g in gws.items()}
        runs = {}
        threads = [threading.Thread(target=lambda k=k: runs.__setitem__(
            k, loadgen(url[k], CHAT, fixed_rate, seconds=15, warmup=1)))
            for k in ("off", "on")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in ("off", "on"):
            n = runs[k]["status"].get("200", 0) + runs[k]["errors"]
            # 1 s of warm-up and 15 s measured, all at fixed_rate
            fixed[k].append({"cpu_us": (gws[k].cpu_seconds() - cpu0[k]) * 1e6
                                       / (fixed_rate * 16),
                             "p50": runs[k]["latency_us"]["p50"],
                             "p99": runs[k]["latency_us"]["p99"], "n": n})
    ratios = [on["cpu_us"] / off["cpu_us"] for on, off in zip(fixed["on"], fixed["off"])]
    # And at peak, both at once: each gateway's wrk as hard as it can.
    both = []
    for rnd in range(ROUNDS + 2):
        log("trace: peak, both at once, round %d" % (rnd + 1))
        cpu0 = {k: g.cpu_seconds() for k, g in gws.items()}
        runs = {}
        threads = [threading.Thread(target=lambda k=k: runs.__setitem__(k, wrk(url[k], CHAT)))
                   for k in ("off", "on")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        per = {k: (gws[k].cpu_seconds() - cpu0[k]) * 1e6 / (runs[k]["rps"] * runs[k]["seconds"])
               for k in runs}
        both.append({"off": per["off"], "on": per["on"], "ratio": per["on"] / per["off"],
                     "rps_off": runs["off"]["rps"], "rps_on": runs["on"]["rps"]})
    time.sleep(1.5)  # the last batch goes out
    made = 2 * metric_total(admin["on"], "tailgate_requests_total")
    exported = metric_total(admin["on"], "tailgate_trace_spans_exported_total")
    dropped = metric_total(admin["on"], "tailgate_trace_spans_dropped_total")
    log("trace: perf profile, tracing on")
    prof = os.path.join(tempfile.mkdtemp(prefix="tg-bench-perf-"), "trace-on")
    perf_profile(gws["on"], prof, lambda: wrk(url["on"], CHAT, seconds=8))
    shares = trace_shares(prof + ".data")
    for g in gws.values():
        g.stop()
    log("trace: instructions per request, off and on (callgrind)")
    instr = {}
    for kind in ("off", "on"):
        p, a = free_port(), free_port()
        text = config(kind, p, a)
        instr[kind] = instructions_per_request(
            lambda wrap, p=p, text=text: tailgate(p, text, wrap=wrap),
            "http://127.0.0.1:%d/v1/chat/completions" % p, CHAT)[0]

    # The collector down: a fixed rate for 60 s, RSS each second, beside a
    # gateway without tracing under the same load at the same time.
    ports["down"], admin["down"] = free_port(), free_port()
    ports["off2"], admin["off2"] = free_port(), free_port()
    down = tailgate(ports["down"], config("down", ports["down"], admin["down"]))
    off2 = tailgate(ports["off2"], config("off", ports["off2"], admin["off2"]))
    down_rate = 2000
    log("trace: collector down, %d/s for 60 s (and tracing off beside it)" % down_rate)
    series, series_off, runs = [], [], {}

    def drive(kind):
        runs[kind] = loadgen("http://127.0.0.1:%d/v1/chat/completions" % ports[kind], CHAT,
                             down_rate, seconds=60, warmup=0)

    threads = [threading.Thread(target=lambda: series.extend(rss_series(down, 60))),
               threading.Thread(target=lambda: series_off.extend(rss_series(off2, 60))),
               threading.Thread(target=drive, args=("down",)),
               threading.Thread(target=drive, args=("off2",))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res = runs["down"]
    down_metrics = {
        "queue_full": metric_total(admin["down"], "tailgate_trace_spans_dropped_total",
                                   reason="queue_full"),
        "export_failed": metric_total(admin["down"], "tailgate_trace_spans_dropped_total",
                                      reason="export_failed"),
        "failures": metric_total(admin["down"], "tailgate_trace_export_failures_total"),
        "queue_bytes": metric_total(admin["down"], "tailgate_trace_queue_bytes"),
        "queued": metric_total(admin["down"], "tailgate_trace_queue_spans"),
    }
    down.stop()
    off2.stop()
    for p in (up, coll):
        p.stop()

    peak = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in peak.items()}
    print("### Tracing on (sample_ratio 1.0, a local collector) vs off (median of %d rounds)\n"
          % ROUNDS)
    print("wrk -c64 on core 0 against one gateway on core 1, a static upstream (nginx) and the "
          "collector (nginx answering every export with 200) on core 0. Every request makes "
          "two spans (the request's and its attempt's) and sends a traceparent upstream.\n")
    print("| tracing | requests/s | p50 | p99 | gateway CPU | CPU per request | instructions "
          "per request |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("off", "on"):
        r = peak[kind]
        print("| %s | %.0f | %s | %s | %.0f%% | %.1f µs | %.0fk |" % (
            kind, r["rps"], fmt_us(r["p50"]), fmt_us(r["p99"]), r["cpu"],
            cpu_us_per_request(r), instr[kind] / 1000))
    fixed = {k: {f: med([r[f] for r in v]) for f in v[0]} for k, v in fixed.items()}
    print("\nBoth at once, %d requests/s into each (tailgate-loadgen, open loop, 15 s a round, "
          "median of %d rounds; per round on / off: %s):\n" % (
              fixed_rate, len(ratios), ", ".join("%.1f%%" % (100 * r) for r in ratios)))
    print("| tracing | CPU per request | p50 | p99 |")
    print("|---|---|---|---|")
    for kind in ("off", "on"):
        print("| %s | %.1f µs | %s | %s |" % (kind, fixed[kind]["cpu_us"],
                                             fmt_us(fixed[kind]["p50"]),
                                             fmt_us(fixed[kind]["p99"])))
    print("\nBoth at peak at once (a wrk -c64 each, 10 s a round), CPU per request on / off "
          "by round: %s; off %.1f µs (%.0f/s), on %.1f µs (%.0f/s) in the median round.\n" % (
              ", ".join("%.1f%%" % (100 * x["ratio"]) for x in both),
              *[sorted(both, key=lambda x: x["ratio"])[len(both) // 2][k]
                for k in ("off", "rps_off", "on", "rps_on")]))
    print("CPU per request, on / off: **%.1f%%** both at once at %d/s, **%.1f%%** both at once "
          "at peak (median rounds); %.1f%% at peak one after the other (this VM moves that "
          "one by ±15%%); user-space instructions per request, on / off: **%.1f%%**" % (
              100 * med(ratios), fixed_rate, 100 * med([x["ratio"] for x in both]),
              100 * cpu_us_per_request(peak["on"]) / cpu_us_per_request(peak["off"]),
              100 * instr["on"] / instr["off"]))
    print("\nSpans exported %.0f of %.0f made (2 per request), dropped %.0f.\n"
          % (exported, made, dropped))
    print("Where tracing's CPU goes (perf, self time of the traced gateway, %s):\n" % prof)
    for name, pct in shares:
        print("- %s: %.2f%%" % (name, pct))
    total = sum(pct for _, pct in shares)
    print("- all of them: **%.2f%%**\n" % total)
    print("### Collector down: %d requests/s for 60 s\n" % down_rate)
    ok = res["status"].get("200", 0)
    print("Every request answered 200: %s (%d measured, %d answered 200, %d errors); "
          "p50 %s, p99 %s.\n" % (
              "yes" if ok == res["measured"] and not res["errors"] else "no", res["measured"],
              ok, res["errors"], fmt_us(res["latency_us"]["p50"]),
              fmt_us(res["latency_us"]["p99"])))
    print("RSS (MiB) each 10 s, beside a gateway without tracing under the same load at the "
          "same time:\n")
    marks = [i for i in (0, 9, 19, 29, 39, 49, 59) if i < min(len(series), len(series_off))]
    print("| tracing | " + " | ".join("%d s" % (i + 1) for i in marks) + " | growth 10-60 s |")
    print("|---|" + "---|" * (len(marks) + 1))
    for name, ser in (("on, collector down", series), ("off", series_off)):
        print("| %s | %s | %+.2f |" % (name, " | ".join("%.1f" % (ser[i] / 1024) for i in marks),
                                         (max(ser[9:]) - ser[9]) / 1024))
    print("\nThe queue's bound: %.0f spans waiting (queue_spans, and as many in the export in "
          "flight), %.2f MiB of export bodies (tailgate_trace_queue_bytes).\n" % (
              down_metrics["queued"], down_metrics["queue_bytes"] / 1048576))
    print("Spans dropped: %.0f queue_full, %.0f export_failed; exports failed %.0f times.\n" % (
        down_metrics["queue_full"], down_metrics["export_failed"], down_metrics["failures"]))
    return {"peak": peak, "fixed": fixed, "ratios": ratios, "both": both, "instr": instr, "rss": series, "down": down_metrics}


def trace_shares(data):
    """Self-time shares of tracing's own symbols in a perf record file."""
    pats = ("tg_otlp_", "put_text", "put_attr_str", "attr_head", "put_id", "put_u64_string",
            "tg_tracer_", "tg_trace_", "tg_traceparent_", "tg_tracestate_", "random_bytes",
            "tg_utf8_seq_len", "usage_attrs", "client_context", "own_line", "export_")
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort",
                          "sym", "-g", "none", "--percent-limit", "0"],
                         capture_output=True, text=True).stdout
    shares = {}
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+\[\.\]\s+(\S+)", line)
        if m and any(m.group(2).startswith(p) for p in pats):
            shares[m.group(2)] = shares.get(m.group(2), 0) + float(m.group(1))
    return sorted(shares.items(), key=lambda kv: -kv[1])


SUITES = {"proxy": suite_proxy, "failover": suite_failover, "hedge": suite_hedge,
          "validate": suite_validate, "tls": suite_tls, "shared": suite_shared,
          "keys": suite_keys, "formats": suite_formats, "cost": suite_cost,
          "scaleout": suite_scaleout, "trace": suite_trace}


def main():
    for tool in ("wrk", "nginx", "taskset"):
        if not shutil.which(tool):
            sys.exit("bench: %s is missing (run deps/install.sh --bench)" % tool)
    for binary in (TAILGATE, LOADGEN):
        if not os.path.exists(binary):
            sys.exit("bench: %s is missing (build with ./dev bench)" % binary)
    names = sys.argv[1:] or list(SUITES)
    for name in names:
        if name not in SUITES:
            sys.exit("bench: unknown suite %s (have: %s)" % (name, ", ".join(SUITES)))
        print("\n## %s\n" % name)
        print("Command: `./dev bench %s` (%s)\n" % (name, time.strftime("%Y-%m-%d")))
        SUITES[name]()


if __name__ == "__main__":
    main()

"""Calls made with the official `openai` and `@anthropic-ai/sdk` npm packages, through
tests/sdk/client.mjs (one node process per call, or per batch of calls).

A spec is what client.mjs reads: {"sdk", "api", "base_url", "params", "stream", ...}.
The SDKs are installed by tests/sdk/install.sh (`./dev test` runs it); without them
every call fails loudly: a test of what the SDKs see is never skipped.
"""

import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_DIR = os.path.abspath(os.path.join(HERE, "..", "sdk"))
CLIENT = os.path.join(SDK_DIR, "client.mjs")
INSTALL = os.path.join(SDK_DIR, "install.sh")


def _check_installed():
    if shutil.which("node") is None:
        raise RuntimeError("node is not on the PATH: run deps/install.sh (Debian's nodejs and npm)")
    for pkg in ("openai", os.path.join("@anthropic-ai", "sdk")):
        if not os.path.isfile(os.path.join(SDK_DIR, "node_modules", pkg, "package.json")):
            raise RuntimeError("tests/sdk/node_modules/%s is missing: run %s" % (pkg, INSTALL))


def _run(payload, timeout):
    _check_installed()
    proc = subprocess.run(["node", CLIENT], input=json.dumps(payload).encode(),
                          capture_output=True, cwd=SDK_DIR, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("client.mjs exited %d: %s" % (proc.returncode,
                                                          proc.stderr.decode("utf-8", "replace")))
    return json.loads(proc.stdout)


def _with_defaults(spec):
    # No retries by the SDK unless a test asks: an answer is the first attempt's.
    s = dict(spec)
    s.setdefault("max_retries", 0)
    s.setdefault("api_key", "sk-test")
    return s


def run_sdk(spec, timeout=30):
    """One SDK call; the parsed result of client.mjs ({"ok": ..., ...})."""
    return _run(_with_defaults(spec), timeout)


def run_sdk_batch(specs, timeout=60):
    """Several SDK calls in one node process, one after another, in order (so a
    mock's script of faults applies to them in order): a list of results."""
    return _run([_with_defaults(s) for s in specs], timeout)

"""The Debian package (SPEC section 9, issue 16): built with CPack from the
optimised build the test command makes (installed under /usr), checked by
lintian (no errors, no warnings), its contents and control fields, its
systemd unit verified by systemd-analyze, then installed with dpkg (as root),
`tailgate check` run on the installed config, and purged again. The man page
documents every option `tailgate help` prints."""

import glob
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import SRC, main


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def release_build():
    """build/test-release (from ./dev test), configured under /usr, or a
    fresh one made here."""
    build = os.path.join(SRC, "build", "test-release")
    cache = os.path.join(build, "CMakeCache.txt")
    if not (os.path.exists(cache) and "CMAKE_INSTALL_PREFIX:PATH=/usr\n" in open(cache).read()):
        build = tempfile.mkdtemp(prefix="tg-pkg-build-")
        subprocess.run(["cmake", "-S", SRC, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                        "-DCMAKE_INSTALL_PREFIX=/usr"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", build, "-j2", "--target", "tailgate", "packaged_docs"],
                   check=True, capture_output=True)
    return build


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = cls.build = release_build()
        cls.out = tempfile.mkdtemp(prefix="tg-pkg-")
        r = run(["cpack", "-G", "DEB", "-B", cls.out,
                 "--config", os.path.join(build, "CPackConfig.cmake")])
        assert r.returncode == 0, r.stdout + r.stderr
        debs = glob.glob(os.path.join(cls.out, "tailgate_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.root = tempfile.mkdtemp(prefix="tg-pkg-root-")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_cmake_install_puts_everything_in_place(self):
        dest = tempfile.mkdtemp(prefix="tg-install-")
        self.addCleanup(shutil.rmtree, dest, True)
        r = run(["cmake", "--install", self.build], env=dict(os.environ, DESTDIR=dest))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for path in ("usr/bin/tailgate", "usr/share/man/man1/tailgate.1.gz",
                     "etc/tailgate/config.toml", "etc/logrotate.d/tailgate",
                     "lib/systemd/system/tailgate.service"):
            self.assertTrue(os.path.exists(os.path.join(dest, path)), path)
        with open(os.path.join(dest, "lib/systemd/system/tailgate.service")) as f:
            self.assertIn("ExecStart=/usr/bin/tailgate serve -c /etc/tailgate/config.toml",
                          f.read())

    def test_lintian_finds_nothing(self):
        r = run(["lintian", "--tag-display-limit", "0", self.deb])
        tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWI]: ", l)]
        self.assertEqual([t for t in tags if t.startswith(("E:", "W:"))], [], r.stdout)

    def test_contents(self):
        listing = run(["dpkg-deb", "-c", self.deb]).stdout
        files = {l.split()[-1] for l in listing.splitlines()}
        for path in ("./usr/bin/tailgate", "./usr/share/man/man1/tailgate.1.gz",
                     "./etc/tailgate/config.toml", "./etc/default/tailgate",
                     "./etc/logrotate.d/tailgate", "./lib/systemd/system/tailgate.service",
                     "./usr/share/doc/tailgate/copyright",
                     "./usr/share/tailgate/grafana-dashboard.json",
                     "./usr/share/tailgate/prometheus-alerts.yml"):
            self.assertIn(path, files)
        self.assertRegex(listing, r"-rwxr-xr-x root/root +\d+ .* \./usr/bin/tailgate")

    def test_control_fields(self):
        info = run(["dpkg-deb", "-I", self.deb]).stdout
        depends = re.search(r"^ Depends: (.*)$", info, re.M).group(1)
        for lib in ("libuv1", "libcurl4", "libssl3", "libcjson1", "libhiredis0.14", "libc6"):
            self.assertIn(lib, depends)
        self.assertEqual(run(["dpkg-deb", "-f", self.deb, "Package"]).stdout.strip(), "tailgate")
        ctl = tempfile.mkdtemp(prefix="tg-pkg-ctl-")
        self.addCleanup(shutil.rmtree, ctl, True)
        subprocess.run(["dpkg-deb", "-e", self.deb, ctl], check=True)
        with open(os.path.join(ctl, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/tailgate/config.toml",
                                                "/etc/default/tailgate",
                                                "/etc/logrotate.d/tailgate"])

    def test_unit_and_logrotate_rule(self):
        with open(os.path.join(self.root, "lib/systemd/system/tailgate.service")) as f:
            unit = f.read()
        for line in ("ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes",
                     "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "EnvironmentFile=-/etc/default/tailgate", "LimitNOFILE="):
            self.assertIn(line, unit)
        stop = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
        self.assertGreater(stop * 1000, 10000)  # above the default server.drain_ms
        with open(os.path.join(self.root, "etc/logrotate.d/tailgate")) as f:
            self.assertIn("--signal=SIGUSR1", f.read())

    def test_man_page_documents_every_option_of_every_command(self):
        with gzip.open(os.path.join(self.root, "usr/share/man/man1/tailgate.1.gz"), "rt") as f:
            man = f.read().replace("\\-", "-")
        binary = os.path.join(self.root, "usr/bin/tailgate")
        for command in ("serve", "check", "mock", "dlq", "version", "help"):
            out = run([binary, "help", command]).stdout
            self.assertTrue(out, command)
            for option in set(re.findall(r"(--[a-z0-9-]+)", out)):
                self.assertIn(option, man, "%s %s" % (command, option))
            self.assertIn(".B " + command, man.replace(".B dlq list", ".B dlq"))
        for word in ("SIGHUP", "SIGUSR1", "SIGTERM", "EXIT STATUS", "/etc/tailgate/config.toml",
                     "/etc/default/tailgate"):
            self.assertIn(word, man)

    @unittest.skipUnless(os.geteuid() == 0, "installing a package needs root")
    def test_installs_and_checks_its_config(self):
        if run(["dpkg-query", "-W", "tailgate"]).returncode == 0:
            self.skipTest("a tailgate package is installed on this machine already")
        r = run(["dpkg", "-i", self.deb])
        self.addCleanup(run, ["dpkg", "--purge", "tailgate"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run(["/usr/bin/tailgate", "check", "-c", "/etc/tailgate/config.toml"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("/etc/tailgate/config.toml: ok", r.stdout)
        self.assertEqual(run(["man", "-w", "tailgate"]).returncode, 0)
        if shutil.which("systemd-analyze"):
            r = run(["systemd-analyze", "verify", "/lib/systemd/system/tailgate.service"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    main()

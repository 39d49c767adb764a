"""The shared limit store's Lua scripts (src/limits/shared.c) run on a real
redis-server with a clock the test gives them (they take `now` as an
argument), so a minute's window slides, an idle counter empties and a
reservation lapses without the test waiting for any of it: the same rules
as the local store's (route/ratelimit.h), checked second by second."""

import ast
import os
import re
import shutil
import time
import unittest

from harness import SRC, main
from test_shared import Redis

# The current clock hour, in ms: the scripts take the clock from the test,
# but Redis expires keys (PEXPIREAT at an hour's end) by its own, so the
# hours the test plays in must be real ones.
T0 = int(time.time() // 3600) * 3600000


def script(name):
    """The text of C string constant `name` in src/limits/shared.c."""
    with open(os.path.join(SRC, "src", "limits", "shared.c")) as f:
        src = f.read()
    body = src[src.index("const char %s[] =" % name):]
    body = body[:body.index(";\n")]
    body = body.replace('" MINUTE_KEY_TTL_MS "', "61000")
    return "".join(ast.literal_eval(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', body))


ADMIT = script("tg_limit_admit_lua")
SETTLE = script("tg_limit_settle_lua")


class Scripts(unittest.TestCase):
    def setUp(self):
        self.redis = Redis()
        self.addCleanup(self.redis.stop)

    def admit(self, now_ms, wants, member="i1:1"):
        """wants: (key, kind, limit, cost, hold); returns (fits, per-counter reads)."""
        keys, args = [], [str(now_ms), member]
        for key, kind, limit, cost, hold in wants:
            keys += ["m:" + key if kind == "m" else "h:" + key, "r:" + key]
            args += [kind, str(limit), str(cost), str(hold)]
        out = self.redis.cli("EVAL", ADMIT, str(len(keys)), *(keys + args)).split("\n")
        return int(out[0]), out[1:]

    def settle(self, keys, args):
        self.assertEqual(self.redis.cli("EVAL", SETTLE, str(len(keys)), *(keys + args)), "1")

    def t(self, key):
        return int(self.redis.cli("HGET", "m:" + key, "t") or 0)

    def test_a_minute_window_slides_second_by_second(self):
        rpm = ("rpm", "m", 3, 1, 0)
        for s in (0, 1, 2):
            self.assertEqual(self.admit(T0 + s * 1000, [rpm])[0], 1)
        fits, read = self.admit(T0 + 3000, [rpm])
        self.assertEqual(fits, 0)
        # Refused: every live second, for the exact wait.
        seconds = dict(zip(read[::2], read[1::2]))
        self.assertEqual(sorted(int(v) for v in seconds.values()), [1, 1, 1])
        # Second 0 leaves the window when second 60 begins, not before.
        self.assertEqual(self.admit(T0 + 59999, [rpm])[0], 0)
        self.assertEqual(self.admit(T0 + 60000, [rpm])[0], 1)
        self.assertEqual(self.t("rpm"), 3)
        self.assertEqual(self.redis.cli("HEXISTS", "m:rpm", str(T0 // 1000)), "0")

    def test_an_idle_counter_starts_empty(self):
        tpm = ("tpm", "m", 1000, 900, 0)
        self.assertEqual(self.admit(T0, [tpm])[0], 1)
        self.assertEqual(self.admit(T0 + 1000, [tpm])[0], 0)
        # Two minutes later nothing counts, whatever fields were left.
        self.assertEqual(self.admit(T0 + 120000, [tpm])[0], 1)
        self.assertEqual(self.t("tpm"), 900)

    def test_a_cost_above_the_limit_waits_for_an_empty_window(self):
        # As locally: a minute's need above the limit is taken as the limit.
        self.assertEqual(self.admit(T0, [("tpm", "m", 100, 500, 0)])[0], 1)
        self.assertEqual(self.admit(T0 + 1000, [("tpm", "m", 100, 500, 0)])[0], 0)

    def test_settling_a_counter_that_expired_counts_now(self):
        # The request outlived its minute key (it expired): a return is
        # dropped, an overspend counts in the current second, and the next
        # admission starts its window from there.
        now_s = T0 // 1000 + 200
        self.settle(["m:tpm"], ["m", str(T0 // 1000), str(now_s), "-5"])
        self.assertEqual(self.redis.cli("EXISTS", "m:tpm"), "0")
        self.settle(["m:tpm"], ["m", str(T0 // 1000), str(now_s), "7"])
        self.assertEqual(self.admit(now_s * 1000 + 10, [("tpm", "m", 10, 3, 0)])[0], 1)
        self.assertEqual(self.t("tpm"), 10)
        self.assertEqual(self.admit(now_s * 1000 + 60000, [("tpm", "m", 10, 3, 0)])[0], 1)
        self.assertEqual(self.t("tpm"), 3)

    def test_a_settlement_far_past_the_oldest_second_still_counts(self):
        # A long request settles its overspend in the current second, far
        # past the counter's oldest one; the next admission a little later
        # must still count it (it once dropped the whole counter instead).
        s0 = T0 // 1000
        self.assertEqual(self.admit(T0, [("tpm", "m", 1000, 10, 0)])[0], 1)
        self.settle(["m:tpm"], ["m", str(s0 + 100), str(s0 + 100), "500"])
        self.assertEqual(self.admit((s0 + 120) * 1000, [("tpm", "m", 1000, 1, 0)])[0], 1)
        self.assertEqual(self.t("tpm"), 501)
        # ...and it leaves the window when its own second does.
        self.assertEqual(self.admit((s0 + 161) * 1000, [("tpm", "m", 1000, 1, 0)])[0], 1)
        self.assertEqual(self.t("tpm"), 1 + 1)

    def test_a_late_settlement_of_a_reservation_sets_its_hour_to_expire(self):
        # Redis lost the hour's keys (a restart without persistence): the
        # settlement that recreates them must not make them immortal.
        self.settle(["h:spend:d:0", "r:spend:d:0", "h:spend:d:0"],
                    ["r", "i1:9", "250", "0", str(T0 + 7200000), str(T0 + 7200000)])
        self.assertEqual(self.redis.cli("HGET", "h:spend:d:0", "spent"), "250")
        self.assertNotEqual(self.redis.cli("PTTL", "h:spend:d:0"), "-1")

    def test_all_or_nothing(self):
        ok = ("rpm", "m", 10, 1, 0)
        full = ("tpm", "m", 10, 10, 0)
        self.assertEqual(self.admit(T0, [ok, full])[0], 1)
        self.assertEqual(self.admit(T0 + 1000, [ok, full])[0], 0)
        self.assertEqual(self.t("rpm"), 1)  # the refused request charged nothing

    def test_settling_a_minute_counter(self):
        self.assertEqual(self.admit(T0, [("tpm", "m", 1000, 900, 0)])[0], 1)
        s0 = str(T0 // 1000)
        # Usage came in lower: the estimate's second gives back the difference.
        self.settle(["m:tpm"], ["m", s0, str(T0 // 1000 + 5), "-850"])
        self.assertEqual(self.t("tpm"), 50)
        self.assertEqual(self.redis.cli("HGET", "m:tpm", s0), "50")
        # Once that second has left the window, a return is dropped and an
        # overspend counts in the current second.
        self.assertEqual(self.admit(T0 + 61000, [("tpm", "m", 1000, 1, 0)])[0], 1)
        later = str(T0 // 1000 + 61)
        self.settle(["m:tpm"], ["m", s0, later, "-40"])
        self.assertEqual(self.t("tpm"), 1)
        self.settle(["m:tpm"], ["m", s0, later, "30"])
        self.assertEqual(self.t("tpm"), 31)
        self.assertEqual(self.redis.cli("HGET", "m:tpm", later), "31")

    def test_a_reservation_holds_then_lapses(self):
        cap = ("spend:a:0", "h", 1000, 600, 5000)
        self.assertEqual(self.admit(T0, [cap], member="i1:1")[0], 1)
        fits, read = self.admit(T0 + 1000, [cap], member="i1:2")
        self.assertEqual((fits, read), (0, ["600"]))
        # Its instance never settles it: 5 s later it stops counting.
        self.assertEqual(self.admit(T0 + 5001, [cap], member="i1:3")[0], 1)
        self.assertEqual(self.redis.cli("HGET", "h:spend:a:0", "reserved"), "600")
        self.assertEqual(self.redis.cli("ZCARD", "r:spend:a:0"), "1")

    def test_a_settled_reservation_becomes_its_cost(self):
        cap = ("spend:b:0", "h", 1000, 600, 60000)
        self.assertEqual(self.admit(T0, [cap], member="i1:7")[0], 1)
        # Same hour: the reservation ends and the hour keeps the actual cost.
        self.settle(["h:spend:b:0", "r:spend:b:0", "h:spend:b:0"],
                    ["r", "i1:7", "250", "0", str(T0 + 7200000), str(T0 + 7200000)])
        self.assertEqual(self.redis.cli("HGET", "h:spend:b:0", "spent"), "250")
        self.assertEqual(self.redis.cli("HGET", "h:spend:b:0", "reserved"), "0")
        self.assertEqual(self.redis.cli("ZCARD", "r:spend:b:0"), "0")
        self.assertEqual(self.admit(T0 + 1000, [("spend:b:0", "h", 1000, 750, 60000)])[0], 1)
        self.assertEqual(self.admit(T0 + 1000, [("spend:b:0", "h", 1000, 1, 60000)])[0], 0)

    def test_a_batch_of_settlements(self):
        self.assertEqual(self.admit(T0, [("rpm", "m", 10, 1, 0)])[0], 1)
        s0 = str(T0 // 1000)
        self.settle(["m:rpm", "h:spend:c:0"],
                    ["m", s0, s0, "-1", "h", "123", str(T0 + 7200000)])
        self.assertEqual(self.t("rpm"), 0)
        self.assertEqual(self.redis.cli("HGET", "h:spend:c:0", "spent"), "123")


if __name__ == "__main__":
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is missing (deps/install.sh installs it)")
    main()

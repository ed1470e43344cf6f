# SPDX-License-Identifier: Apache-2.0
"""kafkajs (npm, pinned by package-lock.json) against ringletd: the scenarios live in
kjs_test.js; this wrapper starts the broker and runs node. node_modules must exist
(scripts/test.sh runs `npm ci` in tests/integration); without it the test fails."""
import os
import subprocess
import sys

from harness import run_tests, scaled, TestFailure

HERE = os.path.dirname(os.path.abspath(__file__))


def kjs_version():
    try:
        return subprocess.run(["node", os.path.join(HERE, "kjs_test.js"), "--version"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=HERE,
                              timeout=30).stdout.decode().strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


META = {"client": "kafkajs", "version": kjs_version}


def scenario(name, count=None, settings=None, timeout=240):
    def fn(ctx):
        if not os.path.isdir(os.path.join(HERE, "node_modules", "kafkajs")):
            raise TestFailure("kafkajs is not installed: run `npm ci` in %s" % HERE)
        b = ctx.broker(settings=settings)
        argv = ["node", os.path.join(HERE, "kjs_test.js"), name, b.bootstrap]
        if count is not None:
            argv.append(str(count))
        p = ctx.run(argv, timeout=timeout, check_rc=False)
        sys.stdout.write(p.stdout.decode("utf-8", "replace")[-4000:])
        if p.returncode != 0:
            raise TestFailure("kafkajs %s failed (exit %d):\n%s" % (
                name, p.returncode, p.stderr.decode("utf-8", "replace")[-4000:]))
        b.check_alive("after kafkajs %s" % name)
    return fn


TESTS = {
    "kjs_roundtrip": (scenario("roundtrip", scaled(5000, 100)),
                      dict(META, scenario="produce/consume round trip")),
    "kjs_admin": (scenario("admin"), dict(META, scenario="admin create/list/delete topics, "
                                                        "describe/alter configs, partitions")),
    "kjs_group": (scenario("group", scaled(2000, 100)),
                  dict(META, scenario="consumer group with eachBatch and commits")),
    "kjs_group_admin": (scenario("groupAdmin"),
                        dict(META, scenario="admin describeGroups, fetchOffsets, listGroups, "
                                            "deleteGroups")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))

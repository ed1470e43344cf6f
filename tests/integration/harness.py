# SPDX-License-Identifier: Apache-2.0
"""Integration test harness: starts ringletd on a free loopback port with a private data
directory, runs real Kafka clients against it, and records one JSON result per test.

Each test script defines test functions and calls run_tests(); ctest runs
`python3 test_x.py <test-name>`, one ctest entry per test. Environment (set by CMake):
  RINGLETD            path of the ringletd binary (required)
  RINGLET_CLI         path of the ringlet CLI (optional)
  RINGLET_INTEG_BIN   directory holding the compiled librdkafka test programs
  RINGLET_INTEG_WORK  directory for per-test work dirs (data dir, broker log)
  RINGLET_RESULTS_DIR directory for the per-test JSON results (merged by gen_compat.py)
  RINGLET_INTEG_SCALE multiplier for message counts (default 1.0; CI under ASan may lower it)
Exit codes: 0 pass, 1 fail, 77 skipped.
"""
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback

SKIP = 77


class TestFailure(Exception):
    """An assertion of the test failed."""


class TestSkip(Exception):
    """The test cannot run here (missing privilege or tool): exit 77."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: expected %r, got %r" % (what, want, got))


def scaled(n, minimum=1):
    """Scale a message count by RINGLET_INTEG_SCALE."""
    s = float(os.environ.get("RINGLET_INTEG_SCALE", "1"))
    return max(minimum, int(n * s))


def _die_with_parent():
    """preexec_fn: SIGKILL this child when the test process dies (e.g. killed by ctest on a
    timeout), so no broker or client outlives its test."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def log(msg):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def free_port():
    """A port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_versions_probe(port, timeout=1.0):
    """Send ApiVersions v0 and return the list of (key, min, max), or None on any failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            client_id = b"ringlet-harness"
            body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
            s.sendall(struct.pack(">i", len(body)) + body)
            hdr = recv_exact(s, 4)
            if hdr is None:
                return None
            (n,) = struct.unpack(">i", hdr)
            if n < 6 or n > 1 << 20:
                return None
            resp = recv_exact(s, n)
            if resp is None:
                return None
            corr, err, cnt = struct.unpack(">ihi", resp[:10])
            if corr != 1 or err != 0:
                return None
            out = []
            for i in range(cnt):
                out.append(struct.unpack(">hhh", resp[10 + 6 * i:16 + 6 * i]))
            return out
    except (OSError, struct.error):
        return None


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Broker:
    """One ringletd process on 127.0.0.1:<port> with its own data directory."""

    def __init__(self, ctx, name="broker", settings=None, data_dir=None, port=None):
        self.ctx = ctx
        self.name = name
        self.port = port or free_port()
        self.data_dir = data_dir or os.path.join(ctx.workdir, name + "-data")
        self.log_path = os.path.join(ctx.workdir, name + ".log")
        self.settings = {
            "listeners": "127.0.0.1:%d" % self.port,
            "log.dir": self.data_dir,
            "group.initial.rebalance.delay.ms": "0",
            # No HTTP admin listener on its fixed default port (parallel tests would collide);
            # tests of the admin listener set a free port.
            "admin.listener": "",
        }
        if settings:
            self.settings.update({k: str(v) for k, v in settings.items()})
        self.proc = None
        self.starts = 0
        os.makedirs(self.data_dir, exist_ok=True)

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self):
        binary = os.environ.get("RINGLETD")
        if not binary:
            raise TestFailure("RINGLETD is not set (path of the ringletd binary)")
        argv = [binary]
        for k, v in self.settings.items():
            argv += ["--set", "%s=%s" % (k, v)]
        return argv

    def start(self, timeout=15.0):
        self.starts += 1
        logf = open(self.log_path, "ab")
        logf.write(("\n==== start #%d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
        logf.flush()
        env = dict(os.environ)
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, env=env,
                                     preexec_fn=_die_with_parent)
        logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise TestFailure("ringletd (%s) exited with code %d during startup"
                                  % (self.name, rc))
            if api_versions_probe(self.port) is not None:
                log("%s ready on %s (pid %d)" % (self.name, self.bootstrap, self.proc.pid))
                return self
            time.sleep(0.1)
        raise TestFailure("ringletd (%s) did not answer ApiVersions on %s within %.0f s"
                          % (self.name, self.bootstrap, timeout))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, what=""):
        if not self.alive():
            raise TestFailure("ringletd died%s (exit code %s)"
                              % (" " + what if what else "", self.proc.poll()))

    def stop(self, timeout=30.0, expect_clean=True):
        """SIGTERM, wait; SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                if expect_clean:
                    raise TestFailure("ringletd (%s) did not exit within %.0f s of SIGTERM"
                                      % (self.name, timeout))
                return -9
        rc = self.proc.returncode
        self.proc = None
        if expect_clean and rc != 0:
            raise TestFailure("ringletd (%s) exited with code %d after SIGTERM (expected 0)"
                              % (self.name, rc))
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self, timeout=15.0):
        """Start again on the same data dir and port (after stop() or kill9())."""
        if self.alive():
            self.stop()
        deadline = time.time() + 10
        while time.time() < deadline:  # the port may linger briefly in TIME_WAIT users
            try:
                return self.start(timeout)
            except TestFailure as e:
                if "exited" in str(e) and time.time() < deadline:
                    time.sleep(0.5)
                    continue
                raise
        return self.start(timeout)

    def log_tail(self, lines=200):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(data[-lines:])


class Context:
    """Per-test state: work dir, brokers to clean up, helper to run client processes."""

    def __init__(self, test_name):
        self.test_name = test_name
        base = os.environ.get("RINGLET_INTEG_WORK") or os.path.join(os.getcwd(), "integ-work")
        self.workdir = os.path.join(base, "%s-%d" % (test_name, os.getpid()))
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        self.brokers = []
        self.procs = []
        self.cleanups = []
        self.notes = []

    def broker(self, name="broker", settings=None, start=True, **kw):
        b = Broker(self, name=name, settings=settings, **kw)
        self.brokers.append(b)
        if start:
            b.start()
        return b

    def client_env(self, extra=None):
        env = dict(os.environ)
        # Client programs link librdkafka, which is not instrumented: leak reports from it are
        # not the broker's problem.
        env["ASAN_OPTIONS"] = "detect_leaks=0"
        env["KAFKAJS_NO_PARTITIONER_WARNING"] = "1"
        if extra:
            env.update(extra)
        return env

    def bin(self, name):
        d = os.environ.get("RINGLET_INTEG_BIN")
        if not d:
            raise TestFailure("RINGLET_INTEG_BIN is not set")
        path = os.path.join(d, name)
        check(os.access(path, os.X_OK), "test program %s is missing" % path)
        return path

    def run(self, argv, timeout=120, input=None, check_rc=True, env=None):
        """Run a client to completion; returns CompletedProcess with bytes stdout/stderr."""
        log("run: %s" % " ".join(argv))
        try:
            p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout,
                               env=env or self.client_env(), preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as e:
            raise TestFailure("%s timed out after %d s; stderr tail:\n%s"
                              % (argv[0], timeout, (e.stderr or b"")[-3000:].decode(
                                  "utf-8", "replace")))
        if check_rc and p.returncode != 0:
            raise TestFailure("%s exited with %d\nstdout tail:\n%s\nstderr tail:\n%s"
                              % (" ".join(argv[:6]), p.returncode,
                                 p.stdout[-3000:].decode("utf-8", "replace"),
                                 p.stderr[-3000:].decode("utf-8", "replace")))
        return p

    def spawn(self, argv, stdout=None, env=None):
        log("spawn: %s" % " ".join(argv))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else subprocess.DEVNULL,
                             stderr=subprocess.STDOUT if stdout is not None else None,
                             env=env or self.client_env(), preexec_fn=_die_with_parent)
        self.procs.append(p)
        return p

    def cleanup(self, failed):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        error = None
        for b in self.brokers:
            if b.alive():
                try:
                    b.stop(expect_clean=not failed)
                except TestFailure as e:
                    log(str(e))
                    error = error or e
        for fn in reversed(self.cleanups):  # after the brokers: e.g. unmount their data dir
            try:
                fn()
            except Exception as e:  # cleanup must not hide the test result
                log("cleanup error: %s" % e)
        if error is not None and not failed:
            raise error

    # Convenience wrappers for kcat.
    def kcat(self, broker, args, input=None, timeout=120, check_rc=True):
        return self.run(["kcat", "-b", broker.bootstrap] + args, input=input, timeout=timeout,
                        check_rc=check_rc)


def kcat_version():
    try:
        out = subprocess.run(["kcat", "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    ver, rdk = "unknown", ""
    for line in out.splitlines():
        if line.startswith("Version "):
            ver = line.split()[1]
            if "librdkafka " in line:
                rdk = " (librdkafka %s)" % line.split("librdkafka ")[1].split()[0]
    return ver + rdk


def broker_version():
    """`ringletd --version` (e.g. "ringletd 0.1.0 (e92f3dc)"), recorded with each result."""
    binary = os.environ.get("RINGLETD", "ringletd")
    try:
        ver = subprocess.run([binary, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout.decode().strip()
        libs = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=30).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "libasan" in libs:
        ver += " [ASan+UBSan build]"
    return ver or "unknown"


def write_result(test_name, meta, result, duration, detail=""):
    d = os.environ.get("RINGLET_RESULTS_DIR")
    if not d:
        return
    os.makedirs(d, exist_ok=True)
    rec = {
        "broker": broker_version(),
        "test": test_name,
        "client": meta.get("client", "raw"),
        "client_version": meta.get("version", ""),
        "scenario": meta.get("scenario", test_name),
        "result": result,
        "duration_s": round(duration, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "detail": detail[:500],
    }
    tmp = os.path.join(d, test_name + ".json.tmp")
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, os.path.join(d, test_name + ".json"))


def run_tests(tests):
    """tests: {name: (function(ctx), meta dict with client/version/scenario)}.
    argv[1] names the test to run; `--list` prints the names."""
    if len(sys.argv) < 2 or sys.argv[1] == "--list":
        print("\n".join(sorted(tests)))
        return 0
    name = sys.argv[1]
    if name not in tests:
        print("unknown test %r; known: %s" % (name, ", ".join(sorted(tests))))
        return 2
    fn, meta = tests[name]
    if callable(meta.get("version")):
        meta = dict(meta, version=meta["version"]())
    random.seed(os.environ.get("RINGLET_INTEG_SEED", name))
    ctx = Context(name)
    t0 = time.time()
    result, detail, rc = "pass", "", 0
    # Until it finishes, the recorded result says so (a SIGKILL from ctest leaves it).
    write_result(name, meta, "fail", 0, "did not finish (killed?)")
    limit = int(os.environ.get("RINGLET_TEST_TIMEOUT", "0"))

    def on_alarm(signum, frame):
        raise TestFailure("test did not finish within %d s" % limit)
    if limit > 0:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(limit)
    try:
        fn(ctx)
    except TestSkip as e:
        result, detail, rc = "skip", str(e), SKIP
        log("SKIPPED: %s" % e)
    except Exception as e:
        result, rc = "fail", 1
        detail = "%s: %s" % (type(e).__name__, e)
        log("FAILED: %s" % detail)
        if not isinstance(e, TestFailure):
            traceback.print_exc(file=sys.stdout)
    signal.alarm(0)
    try:
        ctx.cleanup(failed=(result == "fail"))
    except TestFailure as e:
        result, rc, detail = "fail", 1, str(e)
        log("FAILED at shutdown: %s" % e)
    if result == "fail":
        for b in ctx.brokers:
            print("---- %s log (%s), last 200 lines ----" % (b.name, b.log_path))
            print(b.log_tail())
        print("---- work dir kept: %s" % ctx.workdir)
    else:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    write_result(name, meta, result, time.time() - t0, detail)
    log("%s: %s (%.1f s)" % (name, result.upper(), time.time() - t0))
    sys.stdout.flush()
    return rc

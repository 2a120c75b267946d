#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What one run of pagemeld-oci-hook costs, without runc around it:
posix_spawn the hook with the OCI state on stdin (a file), waitpid, against
a live pagemeldd on a private bus (the policy and set-up of
bench/hook-overhead.sh). Several hook binaries can be compared in one run;
the cases are interleaved round by round. Prints medians (ms) per case:

  create     RegisterContainer of an opted-in live process
  stop       UnregisterContainer of it (PAGEMELD_STATE_DIR = the daemon's)
  stop-gone  poststop of an opted-in container that is no longer registered,
             with <state dir>/containers/ present and no marker for it
  noop       create of a container that does not opt in
  true       /bin/true with the same stdin (the floor of any hook)
Wall-clock median, p10, p90, and the median CPU time (user + system, from
wait4) of the hook process, which a busy machine disturbs less.

  flock /work/wt/.bench.lock bench/hook-spawn.py [--rounds N] HOOK [HOOK...]
(root; PAGEMELD_BUILD or build/ for pagemeldd)."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from conftest import BUS_CONFIG, SRC, as_unit, build_path  # noqa: E402

CGROUP = "/sys/fs/cgroup/unified/pagemeld-hookspawn-probe"


def spawn(argv, stdin_path, env):
    fa = [(os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    return (t1 - t0) / 1e6, (ru.ru_utime + ru.ru_stime) * 1e3, os.waitstatus_to_exitcode(status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--cases", default="create,stop,stop-gone,noop",
                    help="comma-separated subset of create,stop,stop-gone,noop")
    ap.add_argument("hooks", nargs="+")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="pagemeld-hookspawn-")
    state_dir = tempfile.mkdtemp(prefix="pagemeld-hookspawn-state-", dir="/dev/shm")
    gone_dir = os.path.join(tmp, "gone-state")
    os.makedirs(os.path.join(gone_dir, "containers"))
    procs = []
    try:
        sock = os.path.join(tmp, "bus")
        with open(os.path.join(tmp, "bus.conf"), "w") as f:
            f.write(BUS_CONFIG.replace("@SOCKET@", sock).replace(
                "@POLICY@", str(SRC / "packaging" / "dbus" / "io.pagemeld1.conf")))
        procs.append(subprocess.Popen(["dbus-daemon", "--config-file=" + os.path.join(tmp, "bus.conf"), "--nofork",
                                       "--nopidfile"]))
        addr = "unix:path=" + sock
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        with open(os.path.join(tmp, "pagemeld.conf"), "w") as f:
            f.write("[Daemon]\nSweepIntervalSec=3600\nLogLevel=warning\nStartKsm=no\n")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=addr)
        procs.append(subprocess.Popen(as_unit([build_path("daemon", "pagemeldd"), "--config",
                                               os.path.join(tmp, "pagemeld.conf"), "--state-dir", state_dir]),
                                      env=env, stdout=open(os.path.join(tmp, "daemon.log"), "w"),
                                      stderr=subprocess.STDOUT))
        for _ in range(200):
            if subprocess.run(["busctl", "--address=" + addr, "get-property", "io.pagemeld1", "/io/pagemeld1",
                               "io.pagemeld1.Manager", "Version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        sleeper = subprocess.Popen(["sleep", "3600"])
        procs.append(sleeper)
        os.makedirs(CGROUP, exist_ok=True)
        with open(os.path.join(CGROUP, "cgroup.procs"), "w") as f:
            f.write(str(sleeper.pid))

        def state_file(name, **s):
            p = os.path.join(tmp, name + ".json")
            with open(p, "w") as f:
                json.dump({"ociVersion": "1.0.2", **s}, f)
            return p
        opt_in = {"merge.pagemeld.io": "true"}
        files = {
            "create": state_file("create", id="bench-probe", pid=sleeper.pid, annotations=opt_in),
            "stop": state_file("stop", id="bench-probe", annotations=opt_in),
            "stop-gone": state_file("stop-gone", id="bench-gone", annotations=opt_in),
            "noop": state_file("noop", id="bench-noop", pid=sleeper.pid, annotations={}),
        }
        hook_env = dict(env, PAGEMELD_STATE_DIR=state_dir)
        gone_env = dict(env, PAGEMELD_STATE_DIR=gone_dir)

        # Check what each hook does once, loudly.
        for h in a.hooks:
            for case, verb in (("create", "create"), ("stop", "stop")):
                p = subprocess.run([h, "--config", "/dev/null", "--fail-mode", "closed", verb],
                                   stdin=open(files[case]), env=dict(env, PAGEMELD_STATE_DIR=state_dir),
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    raise SystemExit(f"{h} {case}: exit {p.returncode}: {p.stderr}")

        cases = a.cases.split(",")
        times = {}
        cpus = {}
        codes = {}

        def run(key, argv, stdin, e):
            ms, cpu, rc = spawn(argv, stdin, e)
            times.setdefault(key, []).append(ms)
            cpus.setdefault(key, []).append(cpu)
            codes.setdefault(key, set()).add(rc)

        for i in range(a.rounds):
            order = list(enumerate(a.hooks))
            if i % 2:
                order.reverse()
            run(("true", "-"), ["/bin/true"], files["noop"], hook_env)
            for n, h in order:
                for case in cases:
                    verb = "stop" if case.startswith("stop") else "create"
                    run((f"hook{n}", case), [h, "--config", "/dev/null", verb], files[case],
                        gone_env if case == "stop-gone" else hook_env)

        load = open("/proc/loadavg").read().split()[:3]
        print(f"rounds {a.rounds}, load average {' '.join(load)} (at the end)")
        for n, h in enumerate(a.hooks):
            print(f"hook{n} = {h}")
        for key in sorted(times):
            t = sorted(times[key])
            print(f"{key[0]:6} {key[1]:10} median {statistics.median(t):6.3f} ms  "
                  f"p10 {t[len(t) // 10]:6.3f}  p90 {t[len(t) * 9 // 10]:6.3f}  "
                  f"cpu median {statistics.median(cpus[key]):6.3f} ms  exit {sorted(codes[key])}")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        try:
            os.rmdir(CGROUP)
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registration latency under load: bursts of concurrent `runc run -d`
(busybox sleep), each container opted in and handed to a live pagemeldd by
pagemeld-oci-hook at createRuntime (through the hook socket), with and
without unprivileged D-Bus readers hammering GetAll and ListCgroups.

Registration latency = the hook process's wall time as the runtime sees it,
spawn to exit (bench/hook-timer in front of the hook logs it). Also the
`runc run -d` wall time. Every container must have registered (its cgroup in
ListCgroups) and no hook may fail; p99 over all bursts of a scenario.

  flock /work/wt/.bench.lock bench/hook-burst.py [--bursts 5] [--containers 20] [--readers 50]
(root; PAGEMELD_BUILD or build/: pagemeldd, the hook, bench/hook-timer;
pagemeldd runs under the unit's capabilities on a private bus with the real policy)."""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from conftest import NOBODY, Daemon, PagemeldClient, PrivateBus, build_path  # noqa: E402
from oci import Runc, Workspace, hook_path, v2_cgroup_of  # noqa: E402
from test_hook_socket import DEAD_BUS, READER  # noqa: E402

CONFIG = "[Daemon]\nSweepIntervalSec=3600\nLogLevel=warning\nStartKsm=no\n"


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    return v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))]


def wait_for(cond, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def one_burst(ws, rt, daemon, client, n, tag, timer_log):
    entry = {"path": str(build_path("bench", "hook-timer")),
             "args": ["hook-timer", timer_log, hook_path(), "--fail-mode", "closed", "create"],
             "env": [f"DBUS_SYSTEM_BUS_ADDRESS={DEAD_BUS}", f"PAGEMELD_STATE_DIR={daemon.state_dir}"]}
    bundles = [rt.bundle(f"{tag}-{i}", ["/bin/sleep", "600"], {"merge.pagemeld.io": "true"},
                         {"createRuntime": [entry]}) for i in range(n)]
    results = [None] * n
    go = threading.Event()

    def run(i):
        go.wait()
        t0 = time.monotonic()
        rc, pid = rt.run_detached(bundles[i])
        results[i] = (rc, pid, time.monotonic() - t0)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    bad = [(b.name, b.output()[-300:]) for b, r in zip(bundles, results) if r[0] != 0]
    if bad:
        raise SystemExit(f"runc run failed: {bad}")
    paths = {str(r[1]) for r in client.manager.ListCgroups()}  # (object, path, ...)
    missing = [b.name for b, r in zip(bundles, results) if v2_cgroup_of(r[1]) not in paths]
    if missing:
        raise SystemExit(f"not registered: {missing}")
    for b in bundles:
        rt.delete(b.id)
    wait_for(lambda: int(client.props.Get("io.pagemeld1.Manager", "ManagedContainers")) == 0, 30,
             "every container unregistered on exit")
    return [r[2] * 1e3 for r in results]


def scenario(ws, rt, daemon, client, a, readers):
    timer_log = str(ws.path(f"hook-times-{readers}"))
    procs = [subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
                               "/usr/bin/python3", "-c", READER, daemon.bus_address, "3600"],
                              stdout=subprocess.PIPE, text=True) for _ in range(readers)]
    runc_ms = []
    try:
        if procs:
            time.sleep(1.5)  # connected and calling
        for k in range(a.bursts):
            runc_ms += one_burst(ws, rt, daemon, client, a.containers, f"r{readers}b{k}", timer_log)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    lines = [l.split() for l in open(timer_log).read().splitlines()]
    codes = sorted({int(l[2]) for l in lines})
    hook_ms = sorted((int(l[1]) - int(l[0])) / 1e6 for l in lines)
    runc_ms.sort()
    if codes != [0] or len(hook_ms) != a.bursts * a.containers:
        raise SystemExit(f"hook exit codes {codes}, {len(hook_ms)} hook runs logged")
    load = open("/proc/loadavg").read().split()[:3]
    what = f"{a.containers} concurrent runc run x {a.bursts} bursts" + \
        (f", {readers} unprivileged readers (GetAll + ListCgroups)" if readers else ", no readers")
    print(what)
    print(f"  registration (hook spawn to exit): p50 {statistics.median(hook_ms):7.2f} ms  "
          f"p99 {pct(hook_ms, 99):7.2f} ms  max {hook_ms[-1]:7.2f} ms  (n={len(hook_ms)}, all registered)")
    print(f"  runc run -d wall time:             p50 {statistics.median(runc_ms):7.2f} ms  "
          f"p99 {pct(runc_ms, 99):7.2f} ms  max {runc_ms[-1]:7.2f} ms")
    print(f"  load average at the end: {' '.join(load)} (2 cores here; other jobs skew every figure)")
    return hook_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bursts", type=int, default=5)
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--readers", type=int, default=50)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (runc, the daemon's capabilities)")
    for b in (build_path("daemon", "pagemeldd"), hook_path(), build_path("bench", "hook-timer")):
        if not os.path.exists(b):
            raise SystemExit(f"missing {b}: build first")
    bus = PrivateBus()
    daemon = ws = None
    try:
        daemon = Daemon(bus, config=CONFIG).start()
        client = PagemeldClient(bus.address)
        ws = Workspace()
        rt = Runc(ws)
        scenario(ws, rt, daemon, client, a, 0)
        if a.readers:
            scenario(ws, rt, daemon, client, a, a.readers)
    finally:
        if ws:
            ws.cleanup()
        if daemon:
            daemon.stop()
        bus.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeldd at scale: N managed cgroups with P processes each on a
private system bus, measured from a client on the same bus.

  sudo bench/daemon-bench.py [--cgroups 1000] [--procs 5] [--build build]

Prints Manager GetAll and ListCgroups calls/s and p50/p99 latency, the CPU
time of a full sweep (the daemon's own LastSweepCPUUSec, CLOCK_PROCESS_CPUTIME
around manager_sweep_all) and the daemon's RSS, each against its target. Runs as
root; leaves no process or cgroup behind. The workload processes are tiny
static memfills that set merge-any themselves, so the sweep measures the
steady state (read cgroup.procs + ksm_stat), not first-time ptrace."""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
os.environ.setdefault("PAGEMELD_BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))

ap = argparse.ArgumentParser()
ap.add_argument("--cgroups", type=int, default=1000)
ap.add_argument("--procs", type=int, default=5, help="processes per cgroup")
ap.add_argument("--calls", type=int, default=500)
ap.add_argument("--build")
ap.add_argument("--hold", type=int, default=0, help="keep everything up N seconds (for perf)")
args = ap.parse_args()
if args.build:
    os.environ["PAGEMELD_BUILD"] = os.path.abspath(args.build)

import conftest  # noqa: E402  (after PAGEMELD_BUILD is set)
from conftest import Daemon, PrivateBus, ScratchCgroup, build_path  # noqa: E402


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench(address, what, n):
    out = subprocess.run([str(build_path("bench", "bench-bus")), address, what, str(n)], check=True,
                         capture_output=True, text=True).stdout.strip()
    return dict(kv.split("=") for kv in out.split()[1:]), out


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # still clean up
    if os.geteuid() != 0:
        sys.exit("run as root")
    bus = PrivateBus()
    d = Daemon(bus, config="[Daemon]\nSweepIntervalSec=86400\nLogLevel=notice\nStartKsm=no\n")
    base = f"/pagemeld-bench-{os.getpid()}"
    cgs = []
    try:
        d.start()
        rss0 = rss_kib(d.pid)
        c = d.client()
        t0 = time.monotonic()
        for i in range(args.cgroups):
            cg = ScratchCgroup(f"{base}/c{i}")
            cgs.append(cg)
            ps = [cg.spawn_memfill(same=1, unique=1, merge=True) for _ in range(args.procs)]
            c.register(f"bench-{i}", ps[0].pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "1Gi"})
        setup = time.monotonic() - t0
        c.close()
        print(f"setup: {args.cgroups} cgroups, {args.cgroups * args.procs} processes, registered in {setup:.1f} s "
              f"({args.cgroups / setup:.0f} registrations/s incl. spawning)")
        rss_idle = rss_kib(d.pid)

        r, line = bench(bus.address, "getall", args.calls)
        print(line)
        r, line = bench(bus.address, "list", args.calls)
        print(line)
        list_p50 = int(r["p50_us"])
        r, line = bench(bus.address, "sweep", 20)
        print(line)
        sweep_cpu = int(r["sweep_cpu_p50_us"])
        rss = rss_kib(d.pid)
        print(f"rss: start {rss0} KiB, with {args.cgroups} cgroups {rss_idle} KiB, after the benchmark {rss} KiB")
        print()
        print(f"ListCgroups({args.cgroups}) p50 {list_p50 / 1000:.2f} ms (target < 5 ms): "
              f"{'ok' if list_p50 < 5000 else 'MISSED'}")
        print(f"sweep CPU {sweep_cpu / 1000:.2f} ms over {args.cgroups * args.procs} processes (target < 50 ms): "
              f"{'ok' if sweep_cpu < 50000 else 'MISSED'}")
        print(f"RSS {rss / 1024:.2f} MiB (target < 8 MiB): {'ok' if rss < 8192 else 'MISSED'}")
        if args.hold:
            print(f"holding {args.hold} s: pagemeldd pid {d.pid}, bus {bus.address}", flush=True)
            time.sleep(args.hold)
    finally:
        d.cleanup()
        for cg in cgs:
            cg.remove()
        conftest.try_rmdir(conftest.CGROUP_V2 / base.lstrip("/"))
        bus.stop()


main()

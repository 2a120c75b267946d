#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeldd at scale: N managed cgroups with P processes each on a
private system bus, measured from a client on the same bus.

  sudo bench/daemon-bench.py [--cgroups 1000] [--procs 5] [--build build]

Prints Manager GetAll and ListCgroups calls/s and p50/p99 latency, 20
RegisterContainer calls without and under --readers unprivileged clients
flooding GetAll/ListCgroups/a cgroup's GetAll, the CPU
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
ap.add_argument("--readers", type=int, default=50, help="unprivileged readers flooding the bus (0: skip)")
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


# An unprivileged dashboard gone wild: Manager GetAll, ListCgroups and a
# cgroup object's GetAll in a loop (refusals included) until killed.
READER = r"""
import sys, dbus, dbus.bus
conn = dbus.bus.BusConnection(sys.argv[1])
o = conn.get_object("io.pagemeld1", "/io/pagemeld1")
props = dbus.Interface(o, "org.freedesktop.DBus.Properties")
m = dbus.Interface(o, "io.pagemeld1.Manager")
c = dbus.Interface(conn.get_object("io.pagemeld1", sys.argv[2]), "org.freedesktop.DBus.Properties")
while True:
    for f in (lambda: props.GetAll("io.pagemeld1.Manager"), m.ListCgroups, lambda: c.GetAll("io.pagemeld1.Cgroup")):
        try:
            f()
        except dbus.DBusException:
            pass
"""


def registrations(address, base, tag, n=20):
    """n RegisterContainer calls on D-Bus, one after the other: latencies (s)."""
    c = conftest.PagemeldClient(address)
    lat, cgs = [], []
    try:
        for i in range(n):
            cg = ScratchCgroup(f"{base}/{tag}{i}")
            cgs.append(cg)
            p = cg.spawn(["sleep", "600"])
            t0 = time.monotonic()
            c.register(f"{tag}-{i}", p.pid, {"merge.pagemeld.io": "true"})
            lat.append(time.monotonic() - t0)
            c.unregister(f"{tag}-{i}")
    finally:
        c.close()
    return sorted(lat), cgs


def flood(bus, base, cgs):
    quiet, more = registrations(bus.address, base, "quiet")
    cgs += more
    obj = conftest.PagemeldClient(bus.address).list_cgroups()[0][0]
    readers = [subprocess.Popen(["setpriv", f"--reuid={conftest.NOBODY}", f"--regid={conftest.NOBODY}",
                                 "--clear-groups", "--", "/usr/bin/python3", "-c", READER, bus.address, str(obj)])
               for _ in range(args.readers)]
    try:
        time.sleep(2.0)
        loaded, more = registrations(bus.address, base, "flood")
        cgs += more
    finally:
        for r in readers:
            r.kill()
            r.wait()
    print(f"RegisterContainer (D-Bus) x20: quiet p50 {quiet[10] * 1e3:.2f} ms p99 {quiet[-1] * 1e3:.2f} ms; "
          f"under {args.readers} unprivileged readers p50 {loaded[10] * 1e3:.2f} ms p99 {loaded[-1] * 1e3:.2f} ms")


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
        if args.readers:
            flood(bus, base, cgs)
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

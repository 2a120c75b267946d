#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Scan policies side by side: ksmd CPU time (utime+stime
of /proc/PID/stat) and seconds to 90% of the final savings, for
  kernel   : the kernel defaults, pages_to_scan=100 sleep_millisecs=20
  pagemeld : pagemeldd ScanPolicy=pagemeld (TargetScanSec, KsmdCpuPercent)
  advisor  : pagemeldd ScanPolicy=advisor (the kernel's scan-time advisor
             with the same target and CPU budget), where the kernel has it
on the same workload, one run each: PROCS memfills with SAME identical
pages (the same in all of them) and UNIQUE unique ones, in a scratch
cgroup, registered with pagemeldd (the policy runs; they set merge-any
themselves). Savings = pages_sharing, sampled every 100 ms; "final" is the
value once it has not grown for STABLE seconds (or at LIMIT seconds).
Takes the KSM test lock and restores every knob."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

PROCS = int(os.environ.get("PROCS", 4))
SAME = int(os.environ.get("SAME", 16384))
UNIQUE = int(os.environ.get("UNIQUE", 8192))
TARGET = int(os.environ.get("TARGET_SCAN_SEC", 5))
CPU = int(os.environ.get("KSMD_CPU_PERCENT", 20))
LIMIT = float(os.environ.get("LIMIT", 120))
STABLE = float(os.environ.get("STABLE", 6))


def run_one(ci, policy):
    benchlib.set_knobs(run=2)
    benchlib.set_knobs(advisor_mode="none", pages_to_scan=100, sleep_millisecs=20, run=0)
    bus = ci.PrivateBus()
    d = None
    cg = ci.ScratchCgroup(f"/pagemeld-bench-{os.getpid()}-{policy}")
    try:
        if policy != "kernel":
            conf = (f"[Daemon]\nSweepIntervalSec=1\nStartKsm=no\n[Scan]\nScanPolicy={policy}\n"
                    f"TargetScanSec={TARGET}\nKsmdCpuPercent={CPU}\n[TrustDomain]\nMode=off\n")
            d = ci.Daemon(bus, config=conf)
            d.start()
        procs = [cg.spawn_memfill(same=SAME, unique=UNIQUE, merge=True) for _ in range(PROCS)]
        if d:
            c = d.client()
            for i, p in enumerate(procs):
                c.register(f"bench-{i}", p.pid, {"merge.pagemeld.io": "true"})
            c.sweep()  # the policy is applied at the end of every sweep
            c.close()
        cpu0 = benchlib.ksmd_cpu_ms()
        t0 = time.monotonic()
        benchlib.set_knobs(run=1)
        samples = []
        last_growth = t0
        best = 0
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            v = benchlib.counter("pages_sharing")
            samples.append((now - t0, v))
            if v > best:
                best, last_growth = v, now
            if (best > 0 and now - last_growth > STABLE) or now - t0 > LIMIT:
                break
        cpu = benchlib.ksmd_cpu_ms() - cpu0
        knobs = {k: benchlib.read(k) for k in ("pages_to_scan", "sleep_millisecs", "advisor_mode")
                 if benchlib.has(k)}
        final = best
        t90 = next(t for t, v in samples if v >= 0.9 * final) if final else float("nan")
        wall = last_growth - t0
        return {"policy": policy, "final": final, "t90": t90, "cpu_ms": cpu, "wall": wall, "knobs": knobs}
    finally:
        if d:
            d.cleanup()
        cg.remove()
        bus.stop()


def main():
    ci = benchlib.integration()
    policies = ["kernel", "pagemeld"] + (["advisor"] if benchlib.has("advisor_mode") else [])
    results = []
    with benchlib.ksm_locked():
        for p in policies:
            results.append(run_one(ci, p))
    print(f"workload: {PROCS} x ({SAME} identical + {UNIQUE} unique) pages = "
          f"{PROCS * (SAME + UNIQUE) * 4 // 1024} MiB; pagemeld/advisor target {TARGET} s, ksmd CPU {CPU}%")
    print(f"{'policy':9s} {'final pages_sharing':>19s} {'s to 90%':>9s} {'ksmd CPU ms':>12s} "
          f"{'CPU ms/1k pages':>15s}  knobs at the end")
    for r in results:
        print(f"{r['policy']:9s} {r['final']:19d} {r['t90']:9.1f} {r['cpu_ms']:12.0f} "
              f"{r['cpu_ms'] / max(r['final'], 1) * 1000:15.2f}  {r['knobs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

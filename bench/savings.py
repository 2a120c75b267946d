#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What KSM achieves against the ideal the estimator predicts, per scan
policy, side by side in one run.

Workloads, each process in a cgroup of its own (a stand-in for a
container: same memory, no runtime), merge-any set by the process itself:
  memfill : N memfills of SAME identical + UNIQUE unique + ZERO zero pages;
  python  : N python3 running the same program: import a good part of the
            standard library, build the same data structures (dicts, lists,
            a JSON text, compiled regexps), then wait. Address layout is
            randomised per process as in real containers.
Policies (each on a fresh copy of the workload, KSM emptied in between):
  kernel   : the kernel defaults, pages_to_scan=100 sleep_millisecs=20;
  advisor  : advisor_mode=scan-time with the kernel's default advisor knobs;
  pagemeld : pagemeldd with the shipped pagemeld.conf scan policy
             (ScanPolicy=pagemeld TargetScanSec=60 KsmdCpuPercent=10), the
             processes registered with it;
  ksmtuned : ksmtuned's published defaults while it is active (memory
             short): pages_to_scan starts at KSM_NPAGES_BOOST=300 and grows
             by 300 every KSM_MONITOR_INTERVAL=60 s up to 1250,
             sleep_millisecs = 10 * 16 GiB / RAM. (With memory to spare, as
             here, ksmtuned would stop ksmd altogether.)
Ideal: the estimator (build/tests/estimate-cli) on the processes before
ksmd runs: pages freed = dup_pages. Achieved, at convergence: the
processes' pages mapped to a KSM page (pagemap PFN + KPF_KSM) minus one per
distinct KSM page, plus their ksm_zero_pages: their share of pages_sharing
+ ksm_zero_pages, untouched by other processes merging on the machine.
Progress is sampled every SAMPLE s as the processes' ksm_merging_pages +
ksm_zero_pages, against its ideal dup_pages + ksm_pages; converged when it
has not changed over two full scans of ksmd (full_scans), or at LIMIT s. ksmd CPU = utime+stime from
run=1 to the last change (other merge-any processes on the machine, if
any, are scanned too: they add to it). Takes the KSM test lock and
restores every knob."""
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

N = int(os.environ.get("N", 4))
SAME = int(os.environ.get("SAME", 8192))
UNIQUE = int(os.environ.get("UNIQUE", 4096))
ZERO = int(os.environ.get("ZERO", 1024))
LIMIT = float(os.environ.get("LIMIT", 240))
SAMPLE = 0.25
POLICIES = os.environ.get("POLICIES", "kernel,advisor,pagemeld,ksmtuned").split(",")
WORKLOADS = os.environ.get("WORKLOADS", "memfill,python").split(",")

PYTHON_PROGRAM = r"""
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(67, 1, 0, 0, 0) != 0:  # PR_SET_MEMORY_MERGE, before the imports
    sys.exit(f"prctl: {os.strerror(ctypes.get_errno())}")
import argparse, ast, asyncio, collections, csv, dataclasses, datetime, decimal, difflib, email.parser
import enum, fractions, functools, hashlib, http.client, inspect, itertools, json, logging, pathlib
import pickle, random, re, sqlite3, statistics, string, tarfile, textwrap, tokenize, typing, unittest
import urllib.request, xml.etree.ElementTree, zipfile
random.seed(17)
rows = [{"id": i, "name": f"item-{i}", "price": decimal.Decimal(i) / 7, "tags": [str(j) for j in range(i % 9)]}
        for i in range(120000)]
text = json.dumps(rows, default=str)
index = {r["name"]: r for r in rows}
words = collections.Counter(re.findall(r"[a-z]+", text))
patterns = [re.compile(rf"item-{i}\\b") for i in range(2000)]
print("ready", os.getpid(), flush=True)
sys.stdin.read()
"""

ADVISOR_DEFAULTS = {"advisor_max_cpu": 70, "advisor_min_pages_to_scan": 500,
                    "advisor_max_pages_to_scan": 30000, "advisor_target_scan_time": 200}
PAGEMELD_CONF = ("[Daemon]\nSweepIntervalSec=1\nStartKsm=no\n[Scan]\nScanPolicy=pagemeld\nTargetScanSec=60\n"
                 "KsmdCpuPercent=10\n[TrustDomain]\nMode=off\n")


def spawn(ci, tag, i, workload):
    cg = ci.ScratchCgroup(f"/pagemeld-savings-{os.getpid()}-{tag}-{i}")
    if workload == "memfill":
        argv = [str(benchlib.BUILD / "tests" / "memfill"), "--same", str(SAME), "--unique", str(UNIQUE),
                "--zero", str(ZERO), "--merge"]
    else:
        argv = [sys.executable, "-c", PYTHON_PROGRAM]
    p = cg.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("ready"), line
    return cg, p


def ksm_stat(pid):
    st = {}
    for line in open(f"/proc/{pid}/ksm_stat"):
        k, v = line.replace(":", "").split()[:2]
        st[k] = v
    return int(st["ksm_merging_pages"]), int(st["ksm_zero_pages"])


def progress(pids):
    return sum(sum(ksm_stat(p)) for p in pids)


MAPS = re.compile(r"([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)")


def freed(pids):
    """Pages of pids mapped to a KSM page, minus one per distinct KSM page,
    plus their ksm_zero_pages."""
    kf = os.open("/proc/kpageflags", os.O_RDONLY)
    ksm, zero = [], 0
    try:
        for pid in pids:
            zero += ksm_stat(pid)[1]
            pm = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
            try:
                for line in open(f"/proc/{pid}/maps"):
                    m = MAPS.match(line)
                    start, end, perms, name = int(m[1], 16), int(m[2], 16), m[3], m[4]
                    if perms[0] != "r" or perms[3] != "p" or name.startswith(("[vvar", "[vdso]", "[vsyscall]")):
                        continue
                    n = (end - start) // 4096
                    for e in struct.unpack(f"{n}Q", os.pread(pm, n * 8, start // 4096 * 8)):
                        if e >> 63:
                            pfn = e & ((1 << 55) - 1)
                            if struct.unpack("Q", os.pread(kf, 8, pfn * 8))[0] >> 21 & 1:
                                ksm.append(pfn)
            finally:
                os.close(pm)
    finally:
        os.close(kf)
    return len(ksm) - len(set(ksm)) + zero


def others_rmap_items(ours):
    """Pages ksmd also scans for other processes on the machine: it walks
    every merge-any/madvised process, so they slow every policy alike."""
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in ours:
            try:
                for line in open(f"/proc/{d}/ksm_stat"):
                    if line.startswith("ksm_rmap_items "):
                        n += int(line.split()[1])
            except OSError:
                pass
    return n


def estimate(groups):
    out = subprocess.run([str(benchlib.BUILD / "tests" / "estimate-cli"), *groups], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


class Ksmtuned(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()

    def run(self):
        total_kib = int(open("/proc/meminfo").read().split()[1])
        sleep_ms = max(10 * 16 * 1024 * 1024 // total_kib, 1)
        npages = 0
        while True:
            npages = min(max(npages + 300, 64), 1250)
            benchlib.set_knobs(pages_to_scan=npages, sleep_millisecs=sleep_ms)
            if self.stop.wait(60):
                return


def run_one(ci, workload, policy):
    benchlib.set_knobs(run=2)
    benchlib.set_knobs(advisor_mode="none", pages_to_scan=100, sleep_millisecs=20, **ADVISOR_DEFAULTS)
    benchlib.set_knobs(run=0)
    procs, daemon, bus, tuner = [], None, None, None
    try:
        for i in range(N):
            procs.append(spawn(ci, policy, i, workload))
        pids = [p.pid for _, p in procs]
        others = others_rmap_items(pids)
        est = estimate([str(p) for p in pids])
        ideal, ideal_progress = est["dup_pages"], est["dup_pages"] + est["ksm_pages"]
        if policy == "pagemeld":
            bus = ci.PrivateBus()
            daemon = ci.Daemon(bus, config=PAGEMELD_CONF)
            daemon.start()
            c = daemon.client()
            for i, pid in enumerate(pids):
                c.register(f"savings-{i}", pid, {"merge.pagemeld.io": "true"})
            c.sweep()  # the policy is applied at the end of every sweep
            c.close()
        elif policy == "advisor":
            benchlib.set_knobs(advisor_mode="scan-time")
        elif policy == "ksmtuned":
            tuner = Ksmtuned()
            tuner.start()
        ksmd = benchlib.ksmd_pid()
        cpu0, t0 = benchlib.ksmd_cpu_ms(ksmd), time.monotonic()
        benchlib.set_knobs(run=1)
        last, t_last, cpu_last, t90, scans_last = -1, t0, cpu0, None, benchlib.counter("full_scans")
        while True:
            time.sleep(SAMPLE)
            now, v, scans = time.monotonic(), progress(pids), benchlib.counter("full_scans")
            if t90 is None and v >= 0.9 * ideal_progress:
                t90 = now - t0
            if v != last:
                last, t_last, cpu_last, scans_last = v, now, benchlib.ksmd_cpu_ms(ksmd), scans
            if (v > 0 and scans >= scans_last + 2) or now - t0 > LIMIT:
                break
        achieved = freed(pids)
        return {"workload": workload, "policy": policy, "scanned": est["pages_scanned"], "ideal": ideal,
                "others": others,
                "achieved": achieved, "t90": t90, "t_conv": t_last - t0, "cpu_s": (cpu_last - cpu0) / 1000,
                "limit_hit": now - t0 > LIMIT,
                "knobs": {k: benchlib.read(k) for k in ("pages_to_scan", "sleep_millisecs")}}
    finally:
        if tuner:
            tuner.stop.set()
            tuner.join()
        if daemon:
            daemon.cleanup()
        if bus:
            bus.stop()
        for cg, p in procs:
            p.stdin.close()
            p.wait(timeout=60)
            cg.remove()


def main():
    ci = benchlib.integration()
    results = []
    with benchlib.ksm_locked():
        for w in WORKLOADS:
            for policy in POLICIES:
                if policy == "advisor" and not benchlib.has("advisor_mode"):
                    continue
                results.append(run_one(ci, w, policy))
    print(f"# {N} processes per workload, one cgroup each; memfill = {SAME} same + {UNIQUE} unique + {ZERO} "
          f"zero pages; ideal = estimator's dup_pages; achieved = the processes' share of pages_sharing + "
          f"ksm_zero_pages at convergence (no change over 2 full scans, limit {LIMIT:g} s)")
    print("# others: rmap items of other processes on the machine when the run started (ksmd scans them "
          "too); '+': the limit ended the run before convergence; s to 90%: '-' = not within the run")
    print(f"{'workload':9s} {'policy':9s} {'scanned':>8s} {'ideal':>7s} {'achieved':>8s} {'ratio':>6s} "
          f"{'s to 90%':>8s} {'s conv':>7s} {'ksmd CPU s':>10s} {'CPU s/GiB':>9s} {'others':>7s}  knobs at the end")
    for r in results:
        gib = r["achieved"] * 4096 / 2**30
        t90 = f"{r['t90']:8.1f}" if r["t90"] is not None else f"{'-':>8s}"
        print(f"{r['workload']:9s} {r['policy']:9s} {r['scanned']:8d} {r['ideal']:7d} {r['achieved']:8d} "
              f"{r['achieved'] / max(r['ideal'], 1):6.3f} {t90} {r['t_conv']:7.1f}{'+' if r['limit_hit'] else ' '}"
              f"{r['cpu_s']:10.2f} {r['cpu_s'] / gib if gib else float('nan'):9.1f} {r['others']:7d}  {r['knobs']}")
    by = {(r["workload"], r["policy"]): r for r in results}
    for w in WORKLOADS:
        k = by.get((w, "kernel"))
        if not k or k["t90"] is None:
            continue
        for p in POLICIES:
            r = by.get((w, p))
            if r and p != "kernel" and r["t90"]:
                print(f"# {w}: {p} reached 90% of the ideal {k['t90'] / r['t90']:.1f}x as soon as kernel defaults")
    return 0


if __name__ == "__main__":
    sys.exit(main())

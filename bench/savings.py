#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What KSM achieves against the ideal the estimator predicts, per scan
policy, side by side in one run.

Workloads, each of N runc containers (the host's /usr and /etc bound
read-only into a rootfs of symlinks, no network namespace, cgroupsPath
relative as in tests/integration/oci.py), merge-any inherited from runc
(set with prctl before runc is exec'd; it survives fork and exec):
  memfill : N memfills of SAME identical + UNIQUE unique + ZERO zero pages;
  python  : N python3 running the same program: import a good part of the
            standard library, build the same data structures (dicts, lists,
            a JSON text, compiled regexps), then wait. Address layout is
            randomised per process as in real containers;
  httpd   : N busybox httpd serving the same FILES files of FILE_KIB KiB
            each on ports of their own, warmed by WARM requests per file
            before ksmd starts (httpd serves from the page cache: what KSM
            can merge is its own small heap and data, reported as it is).
Policies (each on a fresh copy of the workload, KSM emptied in between):
  kernel   : the kernel defaults, pages_to_scan=100 sleep_millisecs=20;
  advisor  : advisor_mode=scan-time with the kernel's default advisor knobs;
  pagemeld : pagemeldd with the shipped pagemeld.conf scan policy
             (ScanPolicy=pagemeld TargetScanSec=60 KsmdCpuPercent=10), the
             processes registered with it;
  pagemeld-old : the same with another pagemeldd binary ($OLD_PAGEMELDD, a
             build of an earlier commit), for a before/after of the policy
             in one run; skipped unless set;
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
any, are scanned too: they add to it). ROUNDS runs of every (workload,
policy), interleaved, for the machine's noise; the load average is
recorded with each. Goals (issue: savings efficiency), judged per round:
  >= 95% of the ideal after convergence;
  90% of the ideal reached >= 4x sooner than kernel defaults;
  ksmd CPU-seconds per GiB saved no worse than kernel defaults.
Takes the KSM test lock and restores every knob."""
import ctypes
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

N = int(os.environ.get("N", 4))
SAME = int(os.environ.get("SAME", 8192))
UNIQUE = int(os.environ.get("UNIQUE", 4096))
ZERO = int(os.environ.get("ZERO", 1024))
LIMIT = float(os.environ.get("LIMIT", 240))
SAMPLE = 0.25
POLICIES = os.environ.get("POLICIES", "kernel,advisor,pagemeld,ksmtuned").split(",")
WORKLOADS = os.environ.get("WORKLOADS", "memfill,python,httpd").split(",")
ROUNDS = int(os.environ.get("ROUNDS", 2))
FILES = int(os.environ.get("FILES", 32))
FILE_KIB = int(os.environ.get("FILE_KIB", 64))
WARM = int(os.environ.get("WARM", 4))
HTTPD_PORT = 18400

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


class Containers:
    """N runc containers of one workload; every process in them merges
    (PR_SET_MEMORY_MERGE set on runc, inherited by the container)."""

    def __init__(self, ci, oci, tag, workload):
        self.oci = oci
        self.ws = oci.Workspace()
        self.runc = oci.Runc(self.ws)
        self.ci, self.tag, self.workload = ci, tag, workload
        self.inits, self.cgroups, self.pipes = [], [], []
        root = self.ws.path("hostroot")
        root.mkdir()
        for d in ("usr", "etc", "proc", "dev", "tmp", "run", "pm", "www"):
            (root / d).mkdir()
        for link in ("bin", "lib", "lib64", "sbin"):
            os.symlink(f"usr/{link}", root / link)
        self.root = root
        if workload == "httpd":
            www = self.ws.path("www")
            www.mkdir()
            rnd = __import__("random").Random(17)
            for f in range(FILES):
                (www / f"f{f}.html").write_bytes(rnd.randbytes(FILE_KIB * 1024))

    def argv(self, i):
        if self.workload == "memfill":
            return ["/pm/memfill", "--same", str(SAME), "--unique", str(UNIQUE), "--zero", str(ZERO)]
        if self.workload == "python":
            return ["/usr/bin/python3", "-c", PYTHON_PROGRAM]
        return ["/bin/busybox", "sh", "-c",
                f"/bin/busybox httpd -f -p 127.0.0.1:{HTTPD_PORT + i} -h /www & echo ready $!; wait"]

    def start(self, i):
        b = self.runc.bundle(f"{self.tag}-{i}", self.argv(i))
        cfg = json.loads((b.dir / "config.json").read_text())
        cfg["root"] = {"path": str(self.root), "readonly": True}
        # No network namespace (httpd on the host's loopback), so no sysfs.
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
        cfg["mounts"] = [m for m in cfg["mounts"] if not m["destination"].startswith("/sys")]
        binds = [("/usr", "/usr"), ("/etc", "/etc"), (str(benchlib.BUILD / "tests"), "/pm")]
        if self.workload == "httpd":
            binds.append((str(self.ws.path("www")), "/www"))
        cfg["mounts"] += [{"destination": d, "type": "bind", "source": src, "options": ["rbind", "ro"]}
                          for src, d in binds]
        (b.dir / "config.json").write_text(json.dumps(cfg))
        pidfile = self.ws.path("pids", b.name)
        libc = ctypes.CDLL(None, use_errno=True)
        self.runc.created.append(b.id)
        p = subprocess.Popen(self.runc.cmd("run", "-d", "--pid-file", str(pidfile), "--bundle", str(b.dir), b.id),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             preexec_fn=lambda: libc.prctl(67, 1, 0, 0, 0))  # PR_SET_MEMORY_MERGE
        line = p.stdout.readline()
        assert line.startswith("ready"), (line, b.output())
        assert p.wait(timeout=60) == 0
        pid = int(pidfile.read_text())
        self.pipes.append(p)
        self.inits.append(pid)
        self.cgroups.append(self.oci.v2_cgroup_of(pid))

    def warm(self):
        if self.workload != "httpd":
            return
        for i in range(len(self.inits)):
            for _ in range(WARM):
                for f in range(FILES):
                    url = f"http://127.0.0.1:{HTTPD_PORT + i}/f{f}.html"
                    for attempt in range(50):
                        try:
                            with urllib.request.urlopen(url, timeout=10) as r:
                                assert len(r.read()) == FILE_KIB * 1024
                            break
                        except OSError:
                            if attempt == 49:
                                raise
                            time.sleep(0.1)

    def pids(self):
        out = []
        for cg in self.cgroups:
            try:
                out += [int(x) for x in (self.ci.CGROUP_V2 / cg.lstrip("/") / "cgroup.procs").read_text().split()]
            except OSError:
                pass
        return out

    def cleanup(self):
        for p in self.pipes:
            p.stdin.close()
            p.stdout.close()
        self.ws.cleanup()  # runc delete --force of every container


def ksm_stat(pid):
    """(merging, zero) pages; (0, 0) for a process gone (httpd's children)."""
    st = {}
    try:
        for line in open(f"/proc/{pid}/ksm_stat"):
            k, v = line.replace(":", "").split()[:2]
            st[k] = v
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
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
            try:
                pm = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
            except (FileNotFoundError, ProcessLookupError):
                continue
            try:
                for line in open(f"/proc/{pid}/maps").readlines():
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


def pages_visited():
    """ksmd's pages_scanned counter (6.10+), None before."""
    return benchlib.counter("pages_scanned") if benchlib.has("pages_scanned") else None


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


def old_daemon_class(ci):
    class OldDaemon(ci.Daemon):
        def command(self):
            new = str(ci.build_path("daemon", "pagemeldd"))
            return [os.environ["OLD_PAGEMELDD"] if a == new else a for a in super().command()]
    return OldDaemon


def run_one(ci, oci, workload, policy, rnd):
    OldDaemon = old_daemon_class(ci)
    benchlib.set_knobs(run=2)
    benchlib.set_knobs(advisor_mode="none", pages_to_scan=100, sleep_millisecs=20, **ADVISOR_DEFAULTS)
    benchlib.set_knobs(run=0)
    daemon, bus, tuner = None, None, None
    box = Containers(ci, oci, f"sv{rnd}{policy[:3]}", workload)
    try:
        for i in range(N):
            box.start(i)
        box.warm()
        pids = box.pids()
        others = others_rmap_items(pids)
        est = estimate([f"cg:{cg}" for cg in box.cgroups])
        ideal, ideal_progress = est["dup_pages"], est["dup_pages"] + est["ksm_pages"]
        if policy.startswith("pagemeld"):
            bus = ci.PrivateBus()
            daemon = (OldDaemon if policy == "pagemeld-old" else ci.Daemon)(bus, config=PAGEMELD_CONF)
            daemon.start()
            c = daemon.client()
            for i, pid in enumerate(box.inits):
                c.register(f"savings-{i}", pid, {"merge.pagemeld.io": "true"})
            c.sweep()  # the policy is applied at the end of every sweep
            c.close()
        elif policy == "advisor":
            benchlib.set_knobs(advisor_mode="scan-time")
        elif policy == "ksmtuned":
            tuner = Ksmtuned()
            tuner.start()
        ksmd = benchlib.ksmd_pid()
        load0 = os.getloadavg()[0]
        cpu0, t0 = benchlib.ksmd_cpu_ms(ksmd), time.monotonic()
        visited0 = pages_visited()
        benchlib.set_knobs(run=1)
        scans0 = benchlib.counter("full_scans")
        last, t_last, cpu_last, t90, scans_last, visited_last = -1, t0, cpu0, None, scans0, visited0
        while True:
            time.sleep(SAMPLE)
            now, v, scans = time.monotonic(), progress(box.pids()), benchlib.counter("full_scans")
            if t90 is None and v >= 0.9 * ideal_progress:
                t90 = now - t0
            if v != last:
                last, t_last, cpu_last, scans_last = v, now, benchlib.ksmd_cpu_ms(ksmd), scans
                visited_last = pages_visited()
            if (v > 0 and scans >= scans_last + 2) or now - t0 > LIMIT:
                break
        achieved = freed(box.pids())
        return {"workload": workload, "policy": policy, "round": rnd, "scanned": est["pages_scanned"],
                "ideal": ideal, "others": others, "load": (load0 + os.getloadavg()[0]) / 2,
                "achieved": achieved, "t90": t90, "t_conv": t_last - t0, "cpu_s": (cpu_last - cpu0) / 1000,
                "limit_hit": now - t0 > LIMIT, "full_scans": scans_last - scans0,
                "visited": visited_last - visited0 if visited0 is not None else None,
                "knobs": {k: benchlib.read(k) for k in ("pages_to_scan", "sleep_millisecs")}}
    finally:
        if tuner:
            tuner.stop.set()
            tuner.join()
        if daemon:
            daemon.cleanup()
        if bus:
            bus.stop()
        box.cleanup()


def goals(results):
    """The issue's three goals, one PASS/FAIL line each per (workload,
    policy, round); kernel defaults are the reference of their own round."""
    by = {(r["workload"], r["policy"], r["round"]): r for r in results}
    lines = []
    for (w, p, rnd), r in sorted(by.items(), key=lambda kv: (WORKLOADS.index(kv[0][0]), kv[0][2],
                                                              POLICIES.index(kv[0][1]))):
        ratio = r["achieved"] / max(r["ideal"], 1)
        lines.append(f"{'PASS' if ratio >= 0.95 else 'FAIL'} {w} {p} round {rnd}: {ratio:.3f} of the ideal "
                     f"after convergence (goal >= 0.95)")
        k = by.get((w, "kernel", rnd))
        if p == "kernel" or not k:
            continue
        if r["t90"] is None:
            lines.append(f"FAIL {w} {p} round {rnd}: 90% of the ideal not reached within {LIMIT:g} s")
        elif k["t90"] is None:
            lines.append(f"PASS {w} {p} round {rnd}: 90% in {r['t90']:.1f} s, kernel defaults never "
                         f"(within {LIMIT:g} s)")
        else:
            x = k["t90"] / r["t90"]
            lines.append(f"{'PASS' if x >= 4 else 'FAIL'} {w} {p} round {rnd}: 90% of the ideal {x:.1f}x as "
                         f"soon as kernel defaults ({r['t90']:.1f} s vs {k['t90']:.1f} s; goal >= 4x)")
        cpg, kcpg = cpu_per_gib(r), cpu_per_gib(k)
        if cpg is None or kcpg is None:
            lines.append(f"FAIL {w} {p} round {rnd}: ksmd CPU per GiB saved not comparable (nothing saved)")
        else:
            lines.append(f"{'PASS' if cpg <= kcpg else 'FAIL'} {w} {p} round {rnd}: ksmd {cpg:.1f} CPU-s/GiB "
                         f"saved vs kernel defaults {kcpg:.1f} (goal: no worse)")
    return lines


def cpu_per_gib(r):
    gib = r["achieved"] * 4096 / 2**30
    return r["cpu_s"] / gib if gib > 0 else None


def main():
    ci = benchlib.integration()
    import oci
    results = []
    with benchlib.ksm_locked():
        for rnd in range(1, ROUNDS + 1):
            for w in WORKLOADS:
                for policy in POLICIES:
                    if policy == "advisor" and not benchlib.has("advisor_mode"):
                        continue
                    if policy == "pagemeld-old" and not os.environ.get("OLD_PAGEMELDD"):
                        continue
                    r = run_one(ci, oci, w, policy, rnd)
                    print(json.dumps(r), file=sys.stderr, flush=True)
                    results.append(r)
    print(f"# {N} runc containers per workload; memfill = {SAME} same + {UNIQUE} unique + {ZERO} "
          f"zero pages; httpd = {FILES} files of {FILE_KIB} KiB, {WARM} requests each; ideal = estimator's "
          f"dup_pages; achieved = the processes' share of pages_sharing + ksm_zero_pages at convergence (no "
          f"change over 2 full scans, limit {LIMIT:g} s)")
    print("# others: rmap items of other processes on the machine when the run started (ksmd scans them "
          "too); '+': the limit ended the run before convergence; s to 90%: '-' = not within the run; "
          "load: 1-min load average (mean of start and end); scans: ksmd's full scans to the last change; "
          "us/page: ksmd CPU per page it visited (pages_scanned)")
    print(f"{'workload':9s} {'policy':9s} {'rnd':>3s} {'scanned':>8s} {'ideal':>7s} {'achieved':>8s} {'ratio':>6s} "
          f"{'s to 90%':>8s} {'s conv':>7s} {'ksmd CPU s':>10s} {'CPU s/GiB':>9s} {'scans':>5s} {'us/page':>7s} "
          f"{'others':>7s} {'load':>5s}  knobs at the end")
    for r in results:
        cpg = cpu_per_gib(r)
        t90 = f"{r['t90']:8.1f}" if r["t90"] is not None else f"{'-':>8s}"
        print(f"{r['workload']:9s} {r['policy']:9s} {r['round']:3d} {r['scanned']:8d} {r['ideal']:7d} "
              f"{r['achieved']:8d} {r['achieved'] / max(r['ideal'], 1):6.3f} {t90} "
              f"{r['t_conv']:7.1f}{'+' if r['limit_hit'] else ' '}{r['cpu_s']:10.2f} "
              f"{cpg if cpg is not None else float('nan'):9.1f} {r.get('full_scans', -1):5d} "
              f"{r['cpu_s'] * 1e6 / r['visited'] if r.get('visited') else float('nan'):7.2f} "
              f"{r['others']:7d} {r['load']:5.1f}  {r['knobs']}")
    for line in goals(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the benchmarks: the KSM test lock with every knob restored,
memfill workloads, ksmd's CPU time from /proc/PID/stat."""
import contextlib
import fcntl
import os
import pathlib
import subprocess
import time

SRC = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PAGEMELD_BUILD", SRC / "build")).resolve()
KSM = pathlib.Path("/sys/kernel/mm/ksm")
LOCK = "/run/lock/pagemeld-ksm-test.lock"
KNOBS = ["advisor_mode", "advisor_max_cpu", "advisor_min_pages_to_scan", "advisor_max_pages_to_scan",
         "advisor_target_scan_time", "pages_to_scan", "sleep_millisecs", "use_zero_pages", "smart_scan",
         "max_page_sharing", "merge_across_nodes", "run"]
TICKS = os.sysconf("SC_CLK_TCK")


def read(name):
    t = (KSM / name).read_text().strip()
    if name == "advisor_mode":
        return t[t.index("[") + 1:t.index("]")]
    return t


def counter(name):
    return int(read(name))


def has(name):
    return (KSM / name).exists()


def set_knobs(**kv):
    for k, v in kv.items():
        if has(k):
            (KSM / k).write_text(str(v))


@contextlib.contextmanager
def ksm_locked():
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    with open(LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = {k: read(k) for k in KNOBS if has(k)}
        try:
            yield saved
        finally:
            set_knobs(run=2)  # empty the trees so every knob can be restored
            for k, v in saved.items():
                if k == "run":
                    continue
                if k == "pages_to_scan" and saved.get("advisor_mode") == "scan-time":
                    continue
                try:
                    set_knobs(**{k: v})
                except OSError as e:
                    print(f"restoring {k}={v}: {e}")
            set_knobs(run=saved.get("run", 0))


@contextlib.contextmanager
def memfill(same, unique, merge=True, count=1):
    procs = []
    try:
        for _ in range(count):
            args = [str(BUILD / "tests" / "memfill"), "--same", str(same), "--unique", str(unique), "--sleep", "0"]
            if merge:
                args.append("--merge")
            p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            assert line.startswith("ready"), line
            procs.append(p)
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            rc = p.wait()
            p.stdout.close()
            assert rc == 0, f"memfill exited {rc}: its data changed"


def ksmd_pid():
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if pathlib.Path("/proc", d, "comm").read_text().strip() == "ksmd":
                    return int(d)
            except OSError:
                pass
    raise RuntimeError("no ksmd")


def ksmd_cpu_ms(pid=None):
    """utime + stime of ksmd in ms (fields 14, 15 of /proc/PID/stat)."""
    pid = pid or ksmd_pid()
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / TICKS


def wait_full_scans(n, timeout):
    start = counter("full_scans")
    deadline = time.monotonic() + timeout
    while counter("full_scans") < start + n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n} full scans took more than {timeout}s")
        time.sleep(0.05)


def measure_rate(seconds, pages_per_scan):
    pid = ksmd_pid()
    use_scanned = has("pages_scanned")
    c0, t0 = ksmd_cpu_ms(pid), time.monotonic()
    s0 = counter("pages_scanned") if use_scanned else counter("full_scans")
    time.sleep(seconds)
    c1, t1 = ksmd_cpu_ms(pid), time.monotonic()
    s1 = counter("pages_scanned") if use_scanned else counter("full_scans")
    pages = s1 - s0 if use_scanned else (s1 - s0) * pages_per_scan
    cpu = c1 - c0
    return {"pages": pages, "cpu_ms": cpu, "wall_s": t1 - t0,
            "pages_per_cpu_ms": pages / cpu if cpu else float("nan"),
            "cpu_share": cpu / ((t1 - t0) * 1000),
            "how": "pages_scanned" if use_scanned else "full_scans x pages"}


# ---- pagemeldd on a private bus (the integration tier's fixtures) ----------

def integration():
    """tests/integration/conftest.py: PrivateBus, Daemon, ScratchCgroup."""
    import sys
    sys.path.insert(0, str(SRC / "tests" / "integration"))
    import conftest
    return conftest

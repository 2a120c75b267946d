#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registration cost against the number of registered containers: N
containers (one sleep each, its own cgroup) registered one after the other
through the hook socket, as the hook does, with CRI-O's identity keys.

  sudo bench/registration-scale.py [--containers 500] [--build build] [--disk]

Prints, per tenth of the run, the median and p90 round trip of one
registration and the daemon's CPU time per registration (its threads' run
time around the batch), then the size of the state file: a cost that
grows with N is the state file being rewritten for each registration (it
was; a registration now writes its own marker, and the state file follows
at most once a second). The state directory is a tmpfs of its own, as /run is;
--disk leaves it on /tmp's file system (fsync then costs). Runs as root;
leaves no process or cgroup behind."""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
os.environ.setdefault("PAGEMELD_BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))

ap = argparse.ArgumentParser()
ap.add_argument("--containers", type=int, default=500)
ap.add_argument("--build")
ap.add_argument("--disk", action="store_true", help="state dir on /tmp's file system, not a tmpfs")
args = ap.parse_args()
if args.build:
    os.environ["PAGEMELD_BUILD"] = os.path.abspath(args.build)

import conftest  # noqa: E402  (after PAGEMELD_BUILD is set)
from conftest import CGROUP_V2, DEFAULT_DAEMON_CONFIG, Daemon, PrivateBus, ScratchCgroup, try_rmdir  # noqa: E402

N = args.containers
STEP = max(N // 10, 1)


def register(state_dir, cid, pid):
    parts = [b"pagemeld-hook/1", b"register", cid.encode(), b"merge.pagemeld.io", b"true",
             b"io.kubernetes.pod.namespace", b"bench", b"io.kubernetes.pod.name", b"pod-%d" % pid,
             b"io.kubernetes.pod.uid", b"%032x" % pid, b"io.kubernetes.container.name", b"c",
             b"io.container.manager", b"cri-o"]
    fd = os.pidfd_open(pid)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(os.path.join(state_dir, "hook.sock"))
            t0 = time.perf_counter()
            socket.send_fds(s, [b"".join(p + b"\0" for p in parts)], [fd])
            data = s.recv(1 << 16)
            dt = time.perf_counter() - t0
    finally:
        os.close(fd)
    if b"\0ok\0" not in data:
        raise SystemExit(f"registration {cid} refused: {data!r}")
    return dt


def cpu_seconds(pid):
    """CPU time of pagemeldd's threads: schedstat's nanoseconds (utime + stime
    count clock ticks, 10 ms: 0.2 ms per registration in a tenth of 500)."""
    try:
        return sum(int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
                   for t in os.listdir(f"/proc/{pid}/task")) / 1e9
    except FileNotFoundError:  # no CONFIG_SCHEDSTATS
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


conftest.require_root()
bus = PrivateBus()
d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG.replace("LogLevel=debug", "LogLevel=info"))
base = f"/pagemeld-bench-{os.getpid()}"
cgs, mounted = [], False
try:
    if not args.disk:
        os.makedirs(d.state_dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "pagemeld-bench", d.state_dir], check=True)
        mounted = True
    d.start()
    times, cpu = [], []
    for i in range(N):
        if i % STEP == 0:
            cpu.append(cpu_seconds(d.pid))
        cg = ScratchCgroup(f"{base}/c{i}")
        cgs.append(cg)
        p = cg.spawn(["sleep", "3600"])
        times.append(register(d.state_dir, "%064x" % (i + 1), p.pid))
    cpu.append(cpu_seconds(d.pid))
    print(f"{N} registrations through the hook socket, state dir on {'disk' if args.disk else 'tmpfs'}")
    for k, lo in enumerate(range(0, N, STEP)):
        w = times[lo:lo + STEP]
        print(f"  {lo + 1:5d}-{lo + len(w):5d}: median {statistics.median(w) * 1000:6.2f} ms, "
              f"p90 {sorted(w)[int(len(w) * 0.9)] * 1000:6.2f} ms, "
              f"daemon CPU {(cpu[k + 1] - cpu[k]) / len(w) * 1000:5.2f} ms per registration")
    print(f"  state file at N={N}: {os.path.getsize(os.path.join(d.state_dir, 'registrations.json'))} bytes")
finally:
    d.stop()
    if mounted:
        subprocess.run(["umount", "-l", d.state_dir], check=False)
    for cg in reversed(cgs):
        cg.remove()
    try_rmdir(CGROUP_V2 / base.lstrip("/"))
    d.cleanup()
    bus.stop()

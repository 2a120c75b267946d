# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the hostile tests share: the seccomp attacker (remote-target), its
threads' tracer and signal masks, its own end-of-run check, a daemon whose
injections give up after STALL_MS, Sweep on its own connection, a
registration through the hook socket."""
import ctypes
import os
import subprocess
import time

import pytest

from pmtest import Daemon, build_path, hook_socket_register

STALL_MS = 5000  # long enough to measure inside on a loaded CI machine
CONFIG = f"""[Daemon]
SweepIntervalSec=3600
LogLevel=debug
StartKsm=no
InjectStallMSec={STALL_MS}
InjectTimeoutSec=20
"""
MERGE = {"merge.pagemeld.io": "true"}
GET_BOUND = 0.100
PR_SET_MEMORY_MERGE = 67


def remote_target():
    p = build_path("tests", "live", "remote-target")
    if not p.exists():
        pytest.fail(f"{p} not built")
    return str(p)


def merge_off_then_exec():
    """preexec_fn: merging was on (inherited) and the tenant switched it off
    itself before installing its filter."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)
    libc.prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0)


def merge_on_then_exec():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)


TENANT_UID = 1000
CLONE_NEWUSER = 0x10000000
# Who the attacker is: root in the container, an unprivileged uid, or that
# uid in a user namespace of its own (as rootless and userns pods run).
IDENTITIES = ["root", "uid", "userns"]


def become(identity):
    """preexec part: drop to TENANT_UID, and for "userns" unshare a user
    namespace too (its seccomp filter then needs no privilege at all)."""
    if identity == "root":
        return
    os.setgroups([])
    os.setresgid(TENANT_UID, TENANT_UID, TENANT_UID)
    os.setresuid(TENANT_UID, TENANT_UID, TENANT_UID)
    if identity == "userns" and ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")


def spawn_attacker(cg, kind="notif", pages=256, preexec=merge_off_then_exec, identity="root"):
    path = str(cg.dir / "cgroup.procs")

    def enter():
        with open(path, "w") as f:
            f.write("0")
        preexec()
        become(identity)
    p = subprocess.Popen([remote_target(), "read", "--threads", "4", "--pages", str(pages), "--seccomp", kind],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=enter)
    cg.procs.append(p)
    line = p.stdout.readline().decode()
    assert line.startswith("ready "), line
    return p


def assert_identity(pid, identity):
    """The attacker runs as the identity asked for (the test is about it)."""
    with open(f"/proc/{pid}/status") as f:
        uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
    assert int(uid) == (0 if identity == "root" else TENANT_UID), uid
    ours = os.readlink("/proc/self/ns/user") == os.readlink(f"/proc/{pid}/ns/user")
    assert ours == (identity != "userns")


def thread_status(pid):
    """{tid: (TracerPid, SigBlk)} of every thread."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = {}
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    fields[k] = v.strip()
        except FileNotFoundError:
            continue
        out[int(tid)] = (int(fields["TracerPid"]), fields["SigBlk"])
    return out


def traced(pid):
    return any(t for t, _ in thread_status(pid).values())


def masks(pid):
    return {tid: blk for tid, (_, blk) in thread_status(pid).items()}


def settled_masks(pid, threads=4):
    """The threads' masks once they are all running their job: a thread
    glibc has just created blocks every signal until it starts."""
    deadline = time.monotonic() + 10
    prev = None
    while time.monotonic() < deadline:
        cur = masks(pid)
        if cur == prev and len(cur) == threads:
            return cur
        prev = cur
        time.sleep(0.1)
    raise AssertionError(f"the attacker's threads did not settle: {prev}")


def finish_attacker(p, payload=b"x" * 1000 + bytes(range(256))):
    """The attacker's own check: its read job sums what it reads, every
    thread checksums, and it exits 0 only if all held (no register of ours
    left behind)."""
    out, _ = p.communicate(payload, timeout=30)
    out = out.decode()
    assert p.returncode == 0, (p.returncode, out)
    assert out.split()[:4] == ["result", "read", str(sum(payload)), str(len(payload))], out


def children_named(ppid, comm):
    """The pids of ppid's children whose comm is comm (pagemeldd's helpers)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        if name == comm and int(st[st.rindex(")") + 2:].split()[1]) == ppid:
            out.append(int(d))
    return out


def timed(fn, *a):
    t = time.monotonic()
    r = fn(*a)
    return time.monotonic() - t, r


def hook_register(daemon, cid, pid):
    """Register pid through the hook socket, opted in; its object path."""
    reply = hook_socket_register(daemon, cid, pid, {"merge.pagemeld.io": "true"}, timeout=30)
    assert reply[0] == "ok", reply
    return reply[1]


def start_sweep(daemon):
    """Sweep on its own connection: it answers once the sweep's injections
    are done."""
    cmd = ["busctl", "--address=" + daemon.bus_address, "--no-pager", "--timeout=60", "call", "io.pagemeld1",
           "/io/pagemeld1", "io.pagemeld1.Manager", "Sweep"]
    return time.monotonic(), subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def end_sweep(started):
    t0, p = started
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return time.monotonic() - t0


def get_latencies(manager, n, pause=0.05):
    out = []
    for _ in range(n):
        t = time.monotonic()
        manager.get("PagesShared")  # reads sysfs on the loop
        out.append(time.monotonic() - t)
        time.sleep(pause)
    return out


def stall_daemon(bus):
    """pagemeldd whose injections give up after STALL_MS (a generator for a
    fixture)."""
    d = Daemon(bus, config=CONFIG)
    try:
        d.start()
        yield d
    finally:
        d.cleanup()



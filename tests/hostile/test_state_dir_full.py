# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registration must not leave a container merging outside every budget.
A tenant (or anything else) fills the state directory, so the registration
cannot be saved: the call fails, and the container's processes were never
switched to merging, nothing of it is kept, and a restart does not bring it
back. A tenant that makes the enable fail (a seccomp filter answering
prctl with EPERM) gets the same: refused, not kept, nothing left saved."""
import ctypes
import json
import os
import subprocess
import sys
import time

import dbus
import pytest

from pmtest import Daemon, ksm_stat, wait_for

# Installs a filter making prctl(2) fail with EPERM, then execs sleep: the
# injected PR_SET_MEMORY_MERGE fails in this process, whatever the daemon does.
SECCOMP_PRCTL_EPERM = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
NR_PRCTL = {"x86_64": 157, "aarch64": 167}[os.uname().machine]
def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)
prog = (insn(0x20, 0, 0, 0) + insn(0x15, 0, 1, NR_PRCTL) + insn(0x06, 0, 0, 0x00050000 | 1)
        + insn(0x06, 0, 0, 0x7fff0000))
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(4, ctypes.addressof(buf))
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(fp), 0, 0) == 0, ctypes.get_errno()
sys.stdout.write("ready\n"); sys.stdout.flush()
os.execvp("sleep", ["sleep", "600"])
"""


def libc_mount(source, target, fstype, data):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), fstype.encode(), 0, data.encode()) != 0:
        raise OSError(ctypes.get_errno(), f"mount {fstype} on {target}")


def fill(directory):
    """Fill the file system of directory; returns the filler's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == 28, e
    finally:
        os.close(fd)
    return path


def saved_ids(state_dir):
    try:
        with open(os.path.join(state_dir, "registrations.json")) as f:
            return {c["id"] for c in json.load(f)["containers"]}
    except FileNotFoundError:
        return set()


@pytest.fixture
def tiny_state_daemon(bus):
    """pagemeldd whose state directory is a 256 KiB tmpfs of its own."""
    d = Daemon(bus)
    os.makedirs(d.state_dir)
    libc_mount("pagemeld-test", d.state_dir, "tmpfs", "size=256k,mode=0700")
    try:
        d.start()
        yield d
    finally:
        d.stop()
        subprocess.run(["umount", "-l", d.state_dir], check=False)
        d.cleanup()


def test_full_state_dir_refuses_and_does_not_merge(tiny_state_daemon, cgroup):
    d = tiny_state_daemon
    m = d.client()
    try:
        cg_a, cg_b = cgroup(), cgroup()
        a = cg_a.spawn(["sleep", "600"])
        b = cg_b.spawn(["sleep", "600"])
        m.register("room-a", a.pid, {"merge.pagemeld.io": "true"})
        assert ksm_stat(a.pid)["ksm_merge_any"] is True

        filler = fill(d.state_dir)
        t0 = time.monotonic()
        with pytest.raises(dbus.exceptions.DBusException) as e:
            m.register("full-b", b.pid, {"merge.pagemeld.io": "true"})
        assert time.monotonic() - t0 < 5
        assert "Cannot save the registration: No space left on device" in e.value.get_dbus_message()
        # the victim of the failure: the container itself, left unmerged and unmanaged
        assert ksm_stat(b.pid)["ksm_merge_any"] is False
        assert {str(r[1]) for r in m.list_cgroups()} == {cg_a.path}
        assert int(m.get("ManagedCgroups")) == 1
        assert not os.path.exists(os.path.join(d.state_dir, "containers", "full-b"))
        # a sweep does not pick it up either
        m.sweep()
        assert ksm_stat(b.pid)["ksm_merge_any"] is False

        # space again: a restart restores what was acknowledged, nothing else
        # (the state file follows the markers within a second, retried while full)
        os.unlink(filler)
        assert set(os.listdir(os.path.join(d.state_dir, "containers"))) == {"room-a"}
        wait_for(lambda: saved_ids(d.state_dir) == {"room-a"}, 5, what="the state file to hold room-a")
        m.close()
        d.restart()
        m = d.client()
        assert {str(r[1]) for r in m.list_cgroups()} == {cg_a.path}
        m.sweep()
        assert ksm_stat(b.pid)["ksm_merge_any"] is False
        assert ksm_stat(a.pid)["ksm_merge_any"] is True
    finally:
        m.close()


def test_enable_failure_is_not_kept(daemon, manager, cgroup):
    cg = cgroup()
    p = cg.spawn([sys.executable, "-c", SECCOMP_PRCTL_EPERM], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    wait_for(lambda: open(f"/proc/{p.pid}/comm").read().strip() == "sleep", 5, what="exec sleep")
    with pytest.raises(dbus.exceptions.DBusException) as e:
        manager.register("eperm-1", p.pid, {"merge.pagemeld.io": "true"})
    assert e.value.get_dbus_name() == "io.pagemeld1.Error.RemoteFailed", e.value.get_dbus_message()
    assert ksm_stat(p.pid)["ksm_merge_any"] is False
    assert manager.list_cgroups() == []
    assert saved_ids(daemon.state_dir) == set()
    assert not os.path.exists(os.path.join(daemon.state_dir, "containers", "eperm-1"))
    # the daemon is still fine for everyone else
    other = cgroup()
    q = other.spawn(["sleep", "600"])
    manager.register("fine-1", q.pid, {"merge.pagemeld.io": "true"})
    assert ksm_stat(q.pid)["ksm_merge_any"] is True
    p.stdout.close()

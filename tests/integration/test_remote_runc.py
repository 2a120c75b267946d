# SPDX-License-Identifier: LGPL-2.1-or-later
"""Remote control under a real OCI runtime.

A createRuntime hook (tests/helpers/remote-hook.c, built as
build/tests/live/remote-hook; the product hook is runtime-hook/) gets the
container state on stdin and switches merge-any on in the container's init
through lib/remote (pidfd + ptrace injection, or the pidfd ioctls on a
patched kernel) while runc holds it before exec. The process the container
then execs must show ksm_merge_any: yes, its pages must merge, and its
command must still run to its own exit code.

runc runs with a private --root, relative cgroupsPath (see oci.py: nothing
written to the v1 memory hierarchy of our own), unique container ids and a
temp bundle dir; every container is deleted with `runc delete --force`.
"""
import os
import shutil

import pytest

import oci
from conftest import build_path, ksm_fast_scan, require_root, wait_for

HOOK_RESULT = "hook-result"


@pytest.fixture
def ws():
    require_root()
    if shutil.which("runc") is None:
        pytest.fail("runc not installed: scripts/install-deps.sh installs it")
    if not build_path("tests", "live", "remote-hook").exists():
        pytest.fail("tests/live/remote-hook not built")
    w = oci.Workspace()
    for applet in ("grep", "echo"):
        link = w.rootfs / "bin" / applet
        if not link.exists():
            os.symlink("busybox", link)
    yield w
    w.cleanup()


def hooks(ws):
    return {"createRuntime": [{
        "path": str(build_path("tests", "live", "remote-hook")),
        "args": ["remote-hook", str(ws.path(HOOK_RESULT))],
        "timeout": 60,
    }]}


def hook_result(ws):
    lines = ws.path(HOOK_RESULT).read_text().splitlines()
    assert len(lines) == 1, lines
    return lines[0].split()


def kernel_shows_merge_any():
    return "ksm_merge_any" in oci.ksm_stat(os.getpid())


def test_runc_exec_keeps_merge_any_and_exit_code(ksm, ws):
    rt = oci.Runc(ws)
    # pid 1 of the container is this sh after runc init exec'd it; memfill
    # (forked by it) checks its pages are intact and exits 0
    script = ("grep ksm_merge_any /proc/1/ksm_stat; echo stat-done; "
              "/bin/memfill --same 256 --unique 16 </dev/null >/dev/null || exit 3; exit 42")
    b = rt.bundle("remote-fg", ["/bin/sh", "-c", script], hooks=hooks(ws))
    rc = rt.run_foreground(b, timeout=120)
    out = b.output()
    assert rc == 42, out
    status, pid, backend = hook_result(ws)
    assert status == "ok", out
    assert int(pid) > 1
    assert "stat-done" in out
    if kernel_shows_merge_any():
        assert "ksm_merge_any: yes" in out, out
    assert rt.delete(b.id).returncode == 0


def test_runc_detached_init_merges(ksm, ws):
    ksm_fast_scan()
    rt = oci.Runc(ws)
    b = rt.bundle("remote-bg", oci.memfill_args(same=1024, unique=64), hooks=hooks(ws))
    rc, pid = rt.run_detached(b, timeout=120)
    assert rc == 0, b.output()
    status, hook_pid, backend = hook_result(ws)
    assert status == "ok"
    # the hook saw runc init; the same pid exec'd memfill
    assert int(hook_pid) == pid
    assert open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0] == b"/bin/memfill"
    st = oci.ksm_stat(pid)
    if kernel_shows_merge_any():
        assert st["ksm_merge_any"] == 1, st
    # and the kernel merges its identical pages without memfill asking
    wait_for(lambda: oci.ksm_stat(pid)["ksm_merging_pages"] >= 900, 60, what="memfill pages merging")
    assert "TracerPid:\t0\n" in open(f"/proc/{pid}/status").read()
    p = rt.delete(b.id)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, what="container init gone")

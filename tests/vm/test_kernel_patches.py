# SPDX-License-Identifier: LGPL-2.1-or-later
"""The patched 6.12 kernel boots and its pidfd KSM ioctls work.

Runs `kernel-patches/check` (build when the cache is cold, then a qemu boot
with the C test kernel-patches/tests/pidfd-ksm-test.c as the guest's init
payload). Opt-in: see tests/vm/conftest.py.
"""
import os
import pathlib
import re
import subprocess

SRC = pathlib.Path(__file__).resolve().parents[2]
CHECK = SRC / "kernel-patches" / "check"


def test_patched_kernel_boots_and_pidfd_ksm_works(tmp_path):
    env = dict(os.environ)
    env["PAGEMELD_CONSOLE_LOG"] = str(tmp_path / "console.log")
    r = subprocess.run([str(CHECK)], env=env, capture_output=True, text=True,
                       timeout=4 * 3600, check=False)
    print(r.stdout)
    print(r.stderr)
    assert r.returncode == 0, "kernel-patches/check failed"
    console = (tmp_path / "console.log").read_text(errors="replace")
    assert "PIDFD-KSM-TEST: PASS" in console
    m = re.search(r"^(\d+) passed, (\d+) failed", console, re.M)
    assert m and int(m.group(1)) > 20 and int(m.group(2)) == 0, console[-2000:]

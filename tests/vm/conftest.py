# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM tier (qemu). Shared collection rules.

test_kernel_patches.py builds Debian's linux-source-6.12 with
kernel-patches/ (a cold build takes tens of minutes on 2 cores) and boots it.
It is collected only when asked for (never a skip), and scripts/test.sh --
hence CI -- asks for it always, with PAGEMELD_KERNEL_VM=1:
  PAGEMELD_KERNEL_VM=1     always (builds the kernel when the cache is cold)
  PAGEMELD_KERNEL_VM=auto  only when `kernel-patches/check --cached` says the
                           bzImage of the current series is in the cache
                           (then the test is the qemu boot only, minutes)
"""
import os
import pathlib
import subprocess

SRC = pathlib.Path(__file__).resolve().parents[2]

collect_ignore = []


def _kernel_vm_wanted():
    mode = os.environ.get("PAGEMELD_KERNEL_VM", "")
    if mode == "1":
        return True
    if mode == "auto":
        r = subprocess.run([str(SRC / "kernel-patches" / "check"), "--cached"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=600, check=False)
        return r.returncode == 0
    return False


if not _kernel_vm_wanted():
    collect_ignore.append("test_kernel_patches.py")

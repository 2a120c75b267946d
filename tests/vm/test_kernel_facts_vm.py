# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM tier, part 1: the kernel facts the budgets rest on, shown on Debian's
6.12 cloud kernel with pure cgroup v2 + memory controller + swap, without
pagemeld in the way. One boot for every test of this module.

 - a cgroup with memory.max just above its usage and merged pages whose
   copies do not fit: a bare unmerge-all (echo 2 > run) OOM-kills in it;
 - the same with memory.swap.max allowing swap: the unmerge completes,
   nothing is killed, swap use stays within swap.max, the data is intact.
   What really happens there (measured): memcg reclaim swaps out the KSM
   pages themselves, one swap slot shared by all their mappers, and
   break_ksm() skips swap PTEs; so pages_sharing falls to 0 while the
   cgroup's swap grows by about one page per KSM page, not per sharer
   (VmSwap of the process counts every PTE and over-reports). The copies
   are only made when a sharer writes after swap-in.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import vmlib  # noqa: E402

SAME = 4096  # 16 MiB of identical pages in one process
GAP = 2 * 1024 * 1024  # memory.max = memory.current + 2 MiB after merging

SCENARIO = r"""
ksm_fast 8192 10
# --- no budget: unmerge-all OOM-kills in a tight cgroup --------------------
mkdir -p $CG/nobudget
echo 0 > $CG/nobudget/memory.swap.max
start_memfill a /nobudget --same @SAME@ --unique 64 --merge --sleep 0
t0=$(now_ms)
wait_merged $pid $((@SAME@ * 98 / 100)) 120 || pm error merge_timeout_a
pm merged_a ms=$(($(now_ms) - t0)) merging=$(merging_pages $pid) pages_sharing=$(cat $KSM/pages_sharing)
echo 0 > $KSM/run
cur=$(cat $CG/nobudget/memory.current)
echo $((cur + @GAP@)) > $CG/nobudget/memory.max
t0=$(now_ms)
if echo 2 > $KSM/run; then rc=0; else rc=1; fi
pm nobudget current=$cur max=$(cat $CG/nobudget/memory.max) write_failed=$rc ms=$(($(now_ms) - t0)) oom_kill=$(oom_kills /nobudget) alive=$([ -d /proc/$pid ] && echo 1 || echo 0) pages_sharing=$(cat $KSM/pages_sharing)
kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
echo 0 > $KSM/run
rmdir $CG/nobudget

# --- swap allowed: the same unmerge completes, within memory.swap.max ------
ksm_fast 8192 10
mkdir -p $CG/swapok
echo $((32 * 1024 * 1024)) > $CG/swapok/memory.swap.max
start_memfill b /swapok --same @SAME@ --unique 64 --merge --sleep 0
wait_merged $pid $((@SAME@ * 98 / 100)) 120 || pm error merge_timeout_b
echo 0 > $KSM/run
cur=$(cat $CG/swapok/memory.current)
echo $((cur + @GAP@)) > $CG/swapok/memory.max
t0=$(now_ms)
if echo 2 > $KSM/run; then rc=0; else rc=1; fi
pm swapok current=$cur max=$(cat $CG/swapok/memory.max) write_failed=$rc ms=$(($(now_ms) - t0)) oom_kill=$(oom_kills /swapok) swap_current=$(cat $CG/swapok/memory.swap.current) swap_max=$(cat $CG/swapok/memory.swap.max) swap_peak=$(cat $CG/swapok/memory.swap.peak 2>/dev/null || echo na) mem_current=$(cat $CG/swapok/memory.current) pages_sharing=$(cat $KSM/pages_sharing) $(proc_mem $pid)
stop_memfill $pid
pm swapok_exit status=$status
rmdir $CG/swapok
""".replace("@SAME@", str(SAME)).replace("@GAP@", str(GAP))


@pytest.fixture(scope="module")
def vm():
    if os.geteuid() != 0:
        pytest.fail("the vm tier runs as root (apt-get download, cache dir)")
    res = vmlib.boot(SCENARIO, keep_log=os.environ.get("PAGEMELD_VM_LOG"))
    boot = res.get("boot")
    print(f"\nVM: boot to /init {boot['uptime']} s (guest), whole run {res.seconds:.1f} s (host)")
    for l in res.lines:
        print("  ", l)
    return res


def test_vm_boots_with_memcg_and_swap(vm):
    assert vm.get("boot")["kernel"].startswith("6.12.")
    assert "memory" in vm.get("cgroup")["controllers"].split(",")
    assert vm.get("swap") is not None
    assert not vm.all("error"), vm.all("error")


def test_unmerge_all_oom_kills_without_budget(vm):
    a = vm.get("merged_a")
    assert int(a["merging"]) >= SAME * 98 // 100
    r = vm.get("nobudget")
    assert int(r["max"]) == int(r["current"]) + GAP
    # the copies (16 MiB) cannot fit in 2 MiB and swap is off for the cgroup
    assert int(r["oom_kill"]) > 0, r
    assert r["alive"] == "0", r


def test_unmerge_with_swap_room_completes(vm):
    r = vm.get("swapok")
    assert r["write_failed"] == "0", r
    assert int(r["oom_kill"]) == 0, r
    assert int(r["pages_sharing"]) == 0, r
    swap_current, swap_max = int(r["swap_current"]), int(r["swap_max"])
    # swap was used (the KSM pages went there) and memory.swap.max honoured
    assert swap_current > 0, r
    assert swap_current <= swap_max and int(r["swap_peak"]) <= swap_max, r
    # every sharer's PTE is a swap entry now (VmSwap counts PTEs)
    assert int(r["swap_kb"]) * 1024 > SAME * 4096 * 3 // 4, r
    assert int(r["mem_current"]) <= int(r["max"]), r
    # memfill verified every page after swapping in
    assert vm.get("swapok_exit")["status"] == "0"

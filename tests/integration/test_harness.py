# SPDX-License-Identifier: LGPL-2.1-or-later
"""The integration tier itself: memfill merges under real KSM from pytest too."""
import subprocess

from conftest import build_path, ksm_counter, ksm_fast_scan, wait_for


def merging_pages(pid):
    for line in open(f"/proc/{pid}/ksm_stat"):
        if line.startswith("ksm_merging_pages "):
            return int(line.split()[1])
    raise AssertionError("no ksm_merging_pages")


def test_memfill_merges_and_keeps_data(ksm):
    p = subprocess.Popen([build_path("tests", "memfill"), "--same", "2048", "--unique", "256", "--merge"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("ready ")
        sharing0 = ksm_counter("pages_sharing")
        ksm_fast_scan()
        wait_for(lambda: merging_pages(p.pid) >= 2048 * 0.98, 60, what="2048 pages merged")
        assert ksm_counter("pages_sharing") - sharing0 >= 2048 * 0.95
    finally:
        p.stdin.close()
        assert p.wait(60) == 0  # every page still holds what memfill wrote

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Measure ksmd's scan rate per CPU-millisecond on this machine: the
calibration (KsmdPagesPerCpuMs) of pagemeld's scan policy model.

A memfill with SAME identical and UNIQUE unique pages opts in; ksmd scans
flat out (sleep_millisecs=0 is not allowed: 1 ms, big batches) for a few
seconds after the first full scans (steady state: merged pages are cheaper
than unique ones, both are in the mix); the rate is pages_scanned (or
full_scans x pages) per ms of ksmd's utime+stime from /proc/PID/stat.
Takes the KSM test lock and restores every knob."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def main():
    same = int(os.environ.get("SAME", 65536))
    unique = int(os.environ.get("UNIQUE", 65536))
    seconds = float(os.environ.get("SECONDS_", 5))
    with benchlib.ksm_locked():
        with benchlib.memfill(same, unique, merge=True):
            benchlib.set_knobs(advisor_mode="none", pages_to_scan=20000, sleep_millisecs=1, run=1)
            benchlib.wait_full_scans(3, 120)
            r = benchlib.measure_rate(seconds, same + unique)
    print(f"ksmd: {r['pages']} pages in {r['cpu_ms']:.0f} ms CPU over {r['wall_s']:.1f} s wall "
          f"({r['how']}): {r['pages_per_cpu_ms']:.0f} pages per CPU-ms, CPU share {r['cpu_share']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

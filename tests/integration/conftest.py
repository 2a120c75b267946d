# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared fixtures of the integration tier (pytest, as root, real kernel).

The build directory comes from $PAGEMELD_BUILD (scripts/test.sh sets it);
every test that touches KSM takes the machine-wide lock shared with the C
live tests and gets every /sys/kernel/mm/ksm knob restored afterwards.
"""
import fcntl
import os
import pathlib
import time

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PAGEMELD_BUILD", SRC / "build")).resolve()
KSM = pathlib.Path("/sys/kernel/mm/ksm")
KSM_TEST_LOCK = "/run/lock/pagemeld-ksm-test.lock"
# Restored in this order; run last so ksmd never runs with half-restored knobs.
KSM_KNOBS = [
    "advisor_mode", "advisor_max_cpu", "advisor_min_pages_to_scan",
    "advisor_max_pages_to_scan", "advisor_target_scan_time",
    "pages_to_scan", "sleep_millisecs", "use_zero_pages", "smart_scan",
    "stable_node_chains_prune_millisecs", "max_page_sharing",
    "merge_across_nodes", "run",
]


def build_path(*parts):
    return BUILD.joinpath(*parts)


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root")


def read_knob(name):
    text = (KSM / name).read_text().strip()
    if name == "advisor_mode":  # "[none] scan-time" -> "none"
        return text[text.index("[") + 1:text.index("]")]
    return text


def write_knob(name, value):
    (KSM / name).write_text(str(value))


def ksm_counter(name):
    return int((KSM / name).read_text())


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until true or timeout seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def ksm():
    """Exclusive use of KSM for one test; every knob restored afterwards."""
    require_root()
    if not (KSM / "run").exists():
        pytest.skip("kernel without KSM")
    os.makedirs(os.path.dirname(KSM_TEST_LOCK), exist_ok=True)
    with open(KSM_TEST_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = {k: read_knob(k) for k in KSM_KNOBS if (KSM / k).exists()}
        try:
            yield saved
        finally:
            restore_knobs(saved)


def restore_knobs(saved):
    for k, v in saved.items():
        if k == "run" or read_knob(k) == v:
            continue
        if k in ("max_page_sharing", "merge_across_nodes"):
            write_knob("run", 2)  # only changeable with nothing shared
        if k == "pages_to_scan" and saved.get("advisor_mode") == "scan-time":
            continue  # owned by the advisor
        try:
            write_knob(k, v)
        except OSError as e:
            print(f"restoring {k}={v} failed: {e}")
    if "run" in saved:
        write_knob("run", saved["run"])


def ksm_fast_scan(pages=10000, sleep_ms=10):
    if (KSM / "advisor_mode").exists():
        write_knob("advisor_mode", "none")
    write_knob("pages_to_scan", pages)
    write_knob("sleep_millisecs", sleep_ms)
    write_knob("run", 1)

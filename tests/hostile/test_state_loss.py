# SPDX-License-Identifier: LGPL-2.1-or-later
"""The state file is lost to corruption: truncated by a crash, garbage, or
grown past what pagemeldd loads. pagemeldd must not start empty (every
registered container would keep merging outside its budget, and the swap
limits it must put back would be forgotten): it keeps what the file held,
rebuilds the registry from the registration markers (each holds its
container's record) and a scan of the cgroups (markers without a record),
and manages the same containers as before, with the same state."""
import json
import os

import pytest

from pmtest import ksm_stat, wait_for

STATE = "registrations.json"


def state_path(daemon, name=STATE):
    return os.path.join(daemon.state_dir, name)


def managed(manager):
    """{cgroup path: State} from ListCgroups."""
    return {str(r[1]): str(r[8]) for r in manager.list_cgroups()}


def corrupt_truncated(path):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


def corrupt_garbage(path):
    with open(path, "wb") as f:
        f.write(b"\x00\xffnot json at all{")


def corrupt_oversized(path):
    # valid JSON up front, then past the 64 MiB pagemeldd reads
    data = open(path, "rb").read().rstrip()
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(65 << 20)


CORRUPTIONS = {"truncated": corrupt_truncated, "garbage": corrupt_garbage, "oversized": corrupt_oversized}


def setup_two(manager, cgroup):
    """Two containers: one with a swap budget, one whose cgroup the operator disabled."""
    cg_a, cg_b = cgroup(), cgroup()
    a = cg_a.spawn(["sleep", "600"])
    b = cg_b.spawn(["sleep", "600"])
    manager.register("keep-a", a.pid, {"merge.pagemeld.io": "true", "swap-budget.pagemeld.io": "256Mi",
                                       "merge-budget.pagemeld.io": "1Gi"})
    manager.register("keep-b", b.pid, {"merge.pagemeld.io": "true"})
    manager.manager.DisableCgroup(cg_b.path)
    # a: "merging", or "unsupported" where the v2 memory controller is absent (swap budget)
    assert managed(manager)[cg_b.path] == "disabled"
    assert ksm_stat(a.pid)["ksm_merge_any"] is True
    assert ksm_stat(b.pid)["ksm_merge_any"] is False
    return cg_a, a, cg_b, b


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_corrupt_state_file_is_rebuilt(daemon, cgroup, how):
    m = daemon.client()
    try:
        cg_a, a, cg_b, b = setup_two(m, cgroup)
        before = managed(m)
        # what the budget code remembers to put back into memory.swap.max
        swap_saved = state_path(daemon, "swap-saved")
        with open(swap_saved, "w") as f:
            f.write(f"max {cg_a.path}\n")
        m.close()
        daemon.kill()  # a crash: no clean-up
        CORRUPTIONS[how](state_path(daemon))
        broken = open(state_path(daemon), "rb").read()

        daemon.start()
        m = daemon.client()
        # the same containers, in the same states
        assert managed(m) == before
        assert int(m.get("ManagedCgroups")) == 2
        obj_a = [str(r[0]) for r in m.list_cgroups() if str(r[1]) == cg_a.path][0]
        props = m.cgroup_props(obj_a)
        assert int(props["MergeBudget"]) == 1 << 30
        assert int(props["SwapBudget"]) == 256 << 20
        m.sweep()
        assert ksm_stat(a.pid)["ksm_merge_any"] is True
        assert ksm_stat(b.pid)["ksm_merge_any"] is False  # disabled stays disabled
        # nothing discarded: what the file held is kept, the swap limit to restore too
        assert open(state_path(daemon, STATE + ".broken"), "rb").read() == broken
        assert open(swap_saved).read() == f"max {cg_a.path}\n"
        # and the file is whole again, with both
        saved = json.load(open(state_path(daemon)))
        assert {c["id"] for c in saved["containers"]} == {"keep-a", "keep-b"}
        assert "Cannot load" in daemon.read_log() and "rebuilt from the markers" in daemon.read_log()

        # still managed: its init's exit unregisters it, as before the loss
        a.kill()
        a.wait()
        wait_for(lambda: cg_a.path not in managed(m), 10, what="keep-a unregistered on exit")
    finally:
        m.close()


def test_empty_markers_rebuilt_from_cgroup_names(daemon, cgroup):
    """Markers without a record (an older pagemeldd's, or a full state dir):
    the cgroup is found by the container id in its name, as runtimes name them."""
    cid = "3f1c0d9e8b7a65432100fedcba98765432100123456789abcdef0123456789ab"
    cg = cgroup(f"crio-{cid}.scope")
    conmon = cgroup(f"crio-conmon-{cid}.scope")
    p = cg.spawn(["sleep", "600"])
    conmon.spawn(["sleep", "600"])
    m = daemon.client()
    try:
        m.register(cid, p.pid, {"merge.pagemeld.io": "true"})
        before = managed(m)
        assert list(before) == [cg.path]
        m.close()
        daemon.kill()
        open(os.path.join(daemon.state_dir, "containers", cid), "w").close()
        corrupt_garbage(state_path(daemon))

        daemon.start()
        m = daemon.client()
        assert managed(m) == before
        assert ksm_stat(p.pid)["ksm_merge_any"] is True
    finally:
        m.close()


def test_missing_state_file_with_markers(daemon, cgroup):
    """The file deleted outright: the markers still say who is registered."""
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    m = daemon.client()
    try:
        m.register("still-here", p.pid, {"merge.pagemeld.io": "true"})
        before = managed(m)
        m.close()
        daemon.kill()
        os.unlink(state_path(daemon))
        daemon.start()
        m = daemon.client()
        assert managed(m) == before and list(before) == [cg.path]
    finally:
        m.close()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tenant widening its own budgets through annotations.

merge-budget.pagemeld.io is capped by the operator's [Budgets]
MaxMergeBudget=, and so is the default a pod without the annotation gets;
only root (SetBudget) goes above it. swap-budget.pagemeld.io may only lower
memory.swap.max, never raise it: that needs the v2 memory controller this
host lacks, so it is tests/vm/test_swap_limit_vm.py.
"""
from pmtest import DEFAULT_DAEMON_CONFIG, Daemon

MI = 1 << 20
CAP = 64 * MI


def budgets(manager, obj):
    p = manager.cgroup_props(obj)
    (row,) = [r for r in manager.list_cgroups() if str(r[0]) == obj]
    assert int(row[7]) == int(p["MergeBudget"])  # ListCgroups says the same
    return int(p["MergeBudget"])


def test_merge_budget_annotation_is_capped(bus, cgroup):
    d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG + f"[Budgets]\nMaxMergeBudget={CAP // MI}Mi\n")
    d.start()
    m = d.client()
    try:
        big, none, small = cgroup("big"), cgroup("none"), cgroup("small")
        pb, pn, ps = (c.spawn_memfill(merge=False) for c in (big, none, small))
        ob = m.register("big-1", pb.pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "1Ti"})
        on = m.register("none-1", pn.pid, {"merge.pagemeld.io": "true"})
        os_ = m.register("small-1", ps.pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "16Mi"})
        assert budgets(m, ob) == CAP  # asked for 1 TiB
        assert budgets(m, on) == CAP  # DefaultMergeBudget=unlimited, capped
        assert budgets(m, os_) == 16 * MI  # below the cap: as asked
        # registering again, a second container of the same cgroup, or a
        # bigger value later: still capped
        m.register("big-1", pb.pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "8Ei"})
        m.register("big-2", pb.pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "100Gi"})
        assert budgets(m, ob) == CAP
        # a restart restores what was granted, not what was asked
        assert d.stop() == 0
        d.start()
        m.close()
        m = d.client()
        assert budgets(m, ob) == CAP and budgets(m, on) == CAP and budgets(m, os_) == 16 * MI
        # root may grant more: SetBudget is the operator's
        m.manager.SetBudget(big.path, 1 << 30, (1 << 64) - 1)
        assert budgets(m, ob) == 1 << 30
    finally:
        m.close()
        d.cleanup()


def test_default_above_the_cap_is_refused(bus):
    d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG + "[Budgets]\nDefaultMergeBudget=2Gi\nMaxMergeBudget=1Gi\n")
    try:
        code, log = d.start_expecting_exit()
        assert code != 0
        assert "DefaultMergeBudget is above MaxMergeBudget" in log
    finally:
        d.cleanup()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeld on a node as deployed (see nodelib.py): the .deb of this tree in
a Debian 12 VM with systemd as PID 1, pure cgroup v2, swap and podman. One
boot; guest/node-checks.sh runs every check and each of its results is one
test here. The list below is what the guest must report: a check it did
not report fails too."""
import os
import pathlib
import re
import subprocess
import tempfile

import pytest

import nodelib

CHECKS = [
    "pid1_systemd", "cgroup_v2_memory", "swap_file",
    "unit_active_notify", "unit_capabilities", "ctl_root", "ctl_user", "analyze_security",
    "reload_keeps_old_config", "reload_takes_valid_config",
    "podman_image", "kube_play", "containers_registered", "restart_restores_all",
    "kill_restarts_and_restores", "states_real", "reader_group_created", "reader_group_member",
    "merge_budget_enforced", "swap_budget_written",
    "container_gone_unregistered", "nothing_oom_killed", "stop_leaves_ksm_knobs", "bus_activation",
    "socket_activation",
]


# On the patched kernel (one more boot, the same .deb): the node comes up
# and pagemeldd takes the pidfd path instead of ptrace.
PATCHED_CHECKS = [
    "pid1_systemd", "cgroup_v2_memory", "swap_file", "unit_active_notify", "unit_capabilities", "ctl_root",
    "ctl_user", "analyze_security", "kernel_features_pidfd_ksm", "register_without_ptrace",
]


def _print_result(res, what):
    print(f"\nnode VM ({what}): boot to power-off {res.seconds:.0f} s")
    for k, v in res.facts.items():
        print(f"  FACT {k}: {v}")
    for k, (verdict, detail) in res.checks.items():
        print(f"  {verdict:4} {k}: {detail}")


@pytest.fixture(scope="session")
def node_deb(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the node tier runs as root (chroot, dpkg, cache dir)")
    return nodelib.build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def demo_image(tmp_path_factory):
    return nodelib.demo_image_tar(tmp_path_factory.mktemp("image") / "demo-image.tar")


def _boot_node(deb, image, checks, what, kernel=None):
    with tempfile.TemporaryDirectory(prefix="pagemeld-node-", dir=os.environ.get("PAGEMELD_NODE_WORK")) as work:
        img, vmlinuz, initrd = nodelib.make_image(work, deb, {"CHECKS": checks}, image_tar=image)
        if kernel:
            vmlinuz, initrd = kernel, None
        res = nodelib.boot(img, vmlinuz, initrd)
        journal = nodelib.read_file(img, "/var/lib/pagemeld-node/pagemeld.journal")
        out = pathlib.Path(os.environ.get("PAGEMELD_RESULTS", nodelib.SRC / "build-results"))
        out.mkdir(parents=True, exist_ok=True)
        tag = what.split()[0].lower()
        (out / f"node-{tag}-results.txt").write_text(res.text)
        (out / f"node-{tag}-pagemeld.journal").write_text(journal)
        (out / f"node-{tag}-console.log").write_text(res.console)
    _print_result(res, what)
    return res


@pytest.fixture(scope="module")
def node(node_deb, demo_image):
    return _boot_node(node_deb, demo_image, "all", "Debian 6.12 cloud kernel")


@pytest.fixture(scope="module")
def patched_node(node_deb, demo_image):
    return _boot_node(node_deb, demo_image, "node unit patched", "Patched kernel (kernel-patches/)",
                      kernel=nodelib.patched_kernel())


@pytest.mark.parametrize("name", CHECKS)
def test_node(node, name):
    assert name in node.checks, f"the guest did not report {name} (results:\n{node.text})"
    verdict, detail = node.checks[name]
    assert verdict == "ok", f"{name}: {detail}"


def test_node_reports_nothing_unexpected(node):
    """Every check the guest ran is listed above, and it got to its end."""
    assert set(node.checks) <= set(CHECKS), set(node.checks) - set(CHECKS)
    assert node.text.rstrip().endswith("END"), node.text[-2000:]


@pytest.mark.parametrize("name", PATCHED_CHECKS)
def test_patched_node(patched_node, name):
    assert name in patched_node.checks, f"the guest did not report {name} (results:\n{patched_node.text})"
    verdict, detail = patched_node.checks[name]
    assert verdict == "ok", f"{name}: {detail}"


def test_patched_node_reports_nothing_unexpected(patched_node):
    assert set(patched_node.checks) <= set(PATCHED_CHECKS), set(patched_node.checks) - set(PATCHED_CHECKS)
    assert patched_node.text.rstrip().endswith("END"), patched_node.text[-2000:]


def test_demo_vm(node_deb):
    """`bash scripts/demo.sh --vm`: the README's demo on the node VM; every
    row a real state, a merge budget enforced (the guest checks both and
    says DEMO-NODE-OK)."""
    env = dict(os.environ, PAGEMELD_DEMO_SKIP_DEPS="1", PAGEMELD_BUILD=str(nodelib.BUILD),
               PAGEMELD_NODE_DEB=str(node_deb))
    r = subprocess.run(["bash", str(nodelib.SRC / "scripts/demo.sh"), "--vm"], env=env, capture_output=True,
                       text=True, timeout=nodelib.TIMEOUT + 600)
    out = r.stdout + r.stderr
    print(out[-4000:])
    assert r.returncode == 0, out[-6000:]
    m = re.search(r"^DEMO-NODE-OK states: (.*); budget enforced on (\S+)", out, re.M)
    assert m, out[-3000:]
    assert "unsupported" not in m.group(1) and "merging" in m.group(1)
    assert re.search(r"^over-budget ", out, re.M), out[-3000:]
    assert re.search(r"BudgetExceeded signals: [1-9]\d*; OOM kills in the cgroup: 0", out), out[-3000:]

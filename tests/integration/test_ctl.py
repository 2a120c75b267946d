# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeldctl against a real pagemeldd on a private system bus
with the real policy (conftest fixtures `bus`, `daemon`, `manager`,
`cgroup`): what it prints, its JSON, its OpenMetrics, and the exit code of
every kind of failure (daemon down, no bus, non-root caller, not
implemented, no such cgroup, usage)."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import NOBODY, SRC, build_path

# Documented in pagemeldctl(1), --help and api/ctl-format.h.
OK, USAGE, UNAVAILABLE, DENIED, NOT_IMPLEMENTED, REFUSED, DBUS, NOT_FOUND, FAILED = range(9)


def ctl(address, *args, uid=None, timeout=60):
    cmd = [str(build_path("api", "pagemeldctl"))] + [str(a) for a in args]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"] + cmd
    env = dict(os.environ)
    if address is not None:
        env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def registered(daemon, manager, cgroup):
    """One managed cgroup with one merging memfill in it."""
    cg = cgroup()
    p = cg.spawn_memfill(same=256, unique=16, merge=True)
    obj = manager.register("ctl-test-container", p.pid,
                           {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "64Mi",
                            "trust-domain.pagemeld.io": "tenant-a"})
    manager.sweep()
    return cg, obj


def test_version_and_help_need_no_bus():
    r = ctl("unix:path=/nonexistent/socket", "--version")
    assert r.returncode == OK and re.fullmatch(r"pagemeldctl \d+\.\d+\.\d+\n", r.stdout)
    r = ctl("unix:path=/nonexistent/socket", "--help")
    assert r.returncode == OK
    for word in ("status", "list", "top", "budget", "unmerge-all", "merge-across-nodes", "features", "metrics",
                 "Exit codes"):
        assert word in r.stdout


@pytest.mark.parametrize("args", [[], ["bogus"], ["status", "extra"], ["budget"], ["budget", "/x"],
                                  ["budget", "/x", "--merge", "12 parsecs"], ["--json", "enable", "/x"],
                                  ["list", "--force"], ["top", "-n", "0"], ["top", "--interval", "x"],
                                  ["list", "--namespace", "Not_A_Namespace"], ["status", "--wide"],
                                  ["merge-across-nodes", "maybe"], ["--no-such-option", "status"]])
def test_usage_errors(args):
    # no bus at all: usage is checked before connecting
    r = ctl("unix:path=/nonexistent/socket", *args)
    assert r.returncode == USAGE, (args, r.stdout, r.stderr)
    assert r.stderr.startswith("pagemeldctl: ")


def test_no_bus():
    r = ctl("unix:path=/nonexistent/socket", "status")
    assert r.returncode == UNAVAILABLE
    assert r.stderr == "pagemeldctl: cannot connect to the system bus: No such file or directory\n"


def test_daemon_not_running(bus):
    for args in (["status"], ["list"], ["metrics"], ["unmerge-all"]):
        r = ctl(bus.address, *args)
        assert r.returncode == UNAVAILABLE, (args, r.stderr)
        assert r.stderr == "pagemeldctl: daemon not running (io.pagemeld1 not on the bus)\n"
        assert r.stdout == ""


def test_status(daemon, manager):
    r = ctl(daemon.bus_address, "status")
    assert r.returncode == OK, r.stderr
    version = str(manager.get("Version"))
    assert f"Daemon:        pagemeldd {version}\n" in r.stdout
    assert re.search(r"^KSM:           (stopped|running|unmerging), \d+ full scans$", r.stdout, re.M)
    assert re.search(r"^Saved:         \d", r.stdout, re.M)

    r = ctl(daemon.bus_address, "--json", "status")
    assert r.returncode == OK, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == version
    assert doc["ksm_run"] == str(manager.get("KsmRun"))
    assert doc["page_size"] == os.sysconf("SC_PAGESIZE")
    assert doc["managed_cgroups"] == 0
    assert doc["saved_bytes"] == doc["pages_sharing"] * doc["page_size"]
    assert doc["kernel_features"] == [str(f) for f in manager.get("KernelFeatures")]


def test_features(daemon, manager):
    r = ctl(daemon.bus_address, "features")
    assert r.returncode == OK, r.stderr
    want = [str(f) for f in manager.get("KernelFeatures")]
    assert want and r.stdout.split("\n")[:-1] == want
    r = ctl(daemon.bus_address, "features", "--json")
    assert json.loads(r.stdout) == want


def test_list_and_json(daemon, manager, registered):
    cg, obj = registered
    # merging, or unsupported where the cgroup v2 memory controller is
    # absent (hybrid hierarchies): whatever the daemon says, shown as is
    state = str(manager.cgroup_props(obj)["State"])
    assert state in ("merging", "unsupported")
    r = ctl(daemon.bus_address, "list")
    assert r.returncode == OK, r.stderr
    header, row = r.stdout.splitlines()[:2]
    # no pod identity: the short container id names it, no path without --wide
    assert header.split() == ["STATE", "PROCS", "MERGED", "PROFIT", "DEBT/BUDGET", "NAME"]
    assert row.startswith(state + " ") and row.endswith(" ctl-test-con")
    assert "/64.0 MiB" in row and cg.path not in r.stdout
    r = ctl(daemon.bus_address, "list", "--wide")
    assert r.returncode == OK, r.stderr
    header, row = r.stdout.splitlines()[:2]
    assert header.split() == ["STATE", "PROCS", "MERGED", "PROFIT", "DEBT/BUDGET", "NAME", "CGROUP"]
    assert row.endswith(" ctl-test-con     " + cg.path)

    r = ctl(daemon.bus_address, "--json", "list")
    assert r.returncode == OK, r.stderr
    (c,) = json.loads(r.stdout)
    props = manager.cgroup_props(obj)
    assert c["path"] == cg.path == str(props["Path"])
    assert c["object"] == obj
    assert c["containers"] == ["ctl-test-container"]
    assert c["trust_domain"] == "Host/tenant-a"  # no namespace: NoNamespaceDomain, narrowed
    assert c["processes"] == 1
    assert c["state"] == state
    assert c["merge_budget_bytes"] == 64 << 20
    assert c["swap_budget_bytes"] is None  # 2^64-1 = unlimited
    assert c["merging_pages"] == int(props["MergingPages"])
    assert c["merged_bytes"] == c["merging_pages"] * os.sysconf("SC_PAGESIZE")


def test_top(daemon, registered):
    cg, _ = registered
    r = ctl(daemon.bus_address, "top", "-n", "3", "--interval", "0.1", "--wide")
    assert r.returncode == OK, r.stderr
    # redrawn in place: home + clear before each of the 3 frames
    assert r.stdout.count("\033[H\033[2J") == 3
    assert r.stdout.count(cg.path) == 3
    r = ctl(daemon.bus_address, "top", "--json", "--iterations", "2", "-i", "0.05")
    lines = r.stdout.splitlines()
    assert r.returncode == OK and len(lines) == 2
    for line in lines:
        doc = json.loads(line)
        assert [c["path"] for c in doc["cgroups"]] == [cg.path]
        assert "manager" in doc


def parse_openmetrics(text):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics(daemon, manager, registered):
    cg, obj = registered
    state = str(manager.cgroup_props(obj)["State"])
    r = ctl(daemon.bus_address, "metrics")
    assert r.returncode == OK, r.stderr
    assert r.stdout.endswith("\n# EOF\n")
    fams = parse_openmetrics(r.stdout)  # raises on any OpenMetrics error
    assert fams["pagemeld_ksm_full_scans"].type == "counter"
    assert fams["pagemeld_ksm_general_profit_bytes"].unit == "bytes"
    assert fams["pagemeld_managed_cgroups"].samples[0].value == 1
    (s,) = fams["pagemeld_cgroup_merge_budget_bytes"].samples
    # no runtime identity keys: the Kubernetes labels are there, empty
    assert s.labels == {"cgroup": cg.path, "namespace": "", "pod": "", "container": ""} and s.value == 64 << 20
    (s,) = fams["pagemeld_cgroup_processes"].samples
    assert s.value == 1
    states = {x.labels["state"]: x.value for x in fams["pagemeld_cgroup_state"].samples}
    assert set(states) == {"merging", "over-budget", "disabled", "unsupported"}
    assert states[state] == 1 and sum(states.values()) == 1
    for f in fams.values():
        assert f.documentation, f.name
    # node_exporter's textfile collector speaks the Prometheus text format
    from prometheus_client.parser import text_string_to_metric_families
    names = {f.name for f in text_string_to_metric_families(r.stdout)}
    assert "pagemeld_cgroup_merge_debt_bytes" in names


def test_non_root_reads_totals_but_cannot_write(daemon, registered):
    """Not root, not in the reader group: the machine-wide totals, no
    per-cgroup line anywhere, and a message that says why."""
    cg, _ = registered
    for args in (["status"], ["--json", "status"], ["metrics"], ["--json", "metrics"], ["features"],
                 ["top", "-n", "1"]):
        r = ctl(daemon.bus_address, *args, uid=NOBODY)
        assert r.returncode == OK, (args, r.stderr)
        assert cg.path not in r.stdout and "pagemeld_cgroup_merge_debt_bytes{" not in r.stdout, (args, r.stdout)
    r = ctl(daemon.bus_address, "metrics", uid=NOBODY)
    assert "pagemeld_managed_cgroups 1" in r.stdout, r.stdout
    assert "per-cgroup series left out" in r.stderr and "reader group" in r.stderr, r.stderr
    r = ctl(daemon.bus_address, "top", "-n", "1", uid=NOBODY)
    assert "1 cgroups" in r.stdout and "root and the reader group only" in r.stdout, r.stdout
    for args in (["list"], ["--json", "list"], ["list", "--wide"]):
        r = ctl(daemon.bus_address, *args, uid=NOBODY)
        assert r.returncode == DENIED, (args, r.stdout, r.stderr)
        assert r.stdout == "" and cg.path not in r.stderr
        assert r.stderr.startswith("pagemeldctl: listing cgroups: access denied (per-cgroup data is for root"), \
            r.stderr
        assert "pagemeldctl status" in r.stderr
    for args, what in ((["budget", cg.path, "--merge", "1Gi", "--swap", "1Gi"], "setting the budget"),
                       (["enable", cg.path], "enabling"), (["disable", cg.path], "disabling"),
                       (["unmerge-all"], "unmerge-all"), (["merge-across-nodes", "off"], "switching")):
        r = ctl(daemon.bus_address, *args, uid=NOBODY)
        assert r.returncode == DENIED, (args, r.stderr)
        assert r.stderr.startswith(f"pagemeldctl: {what}") and "access denied" in r.stderr


def method_outcome(manager, name, *args):
    """What the daemon answers to a root call: None or the D-Bus error name."""
    import dbus
    try:
        getattr(manager.manager, name)(*args)
        return None
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()


def test_budget_maps_the_daemons_answer(daemon, manager, registered):
    cg, obj = registered
    r = ctl(daemon.bus_address, "budget", "/no/such/cgroup", "--merge", "1Gi", "--swap", "2Gi")
    assert r.returncode == NOT_FOUND, r.stderr
    assert "no such cgroup" in r.stderr
    # only one budget given: pagemeldctl looks the cgroup up first
    r = ctl(daemon.bus_address, "budget", "/no/such/cgroup", "--merge", "1Gi")
    assert r.returncode == NOT_FOUND and "pagemeldctl list" in r.stderr

    r = ctl(daemon.bus_address, "budget", cg.path, "--merge", "128Mi", "--swap", "max")
    assert r.returncode == OK, r.stderr
    assert manager.cgroup_props(obj)["MergeBudget"] == 128 << 20
    assert method_outcome(manager, "SetBudget", cg.path, 128 << 20, 2**64 - 1) is None


def test_disable_enable(daemon, manager, registered):
    cg, obj = registered
    r = ctl(daemon.bus_address, "disable", cg.path)
    assert r.returncode == OK, r.stderr
    assert manager.cgroup_props(obj)["State"] == "disabled"
    r = ctl(daemon.bus_address, "enable", cg.path)
    assert r.returncode == OK, r.stderr
    assert manager.cgroup_props(obj)["State"] == "merging"
    r = ctl(daemon.bus_address, "enable", "/no/such/cgroup")
    assert r.returncode == NOT_FOUND, r.stderr


def test_unmerge_all(daemon, manager, ksm):
    """With the KSM lock held (the `ksm` fixture restores every knob). KSM
    is stopped first, so after the unmerge (which puts run back as it was)
    nothing can have merged again."""
    from conftest import write_knob
    write_knob("run", 0)
    r = ctl(daemon.bus_address, "unmerge-all", "--force", "--wait", timeout=300)
    assert r.returncode == OK, r.stderr
    assert r.stdout.startswith("unmerge-all finished: ")
    assert int(manager.get("PagesSharing")) == 0
    assert str(manager.get("KsmRun")) == "stopped"
    # on a terminal, --wait draws the progress bar on stderr
    if shutil.which("script"):
        cmd = f"{build_path('api', 'pagemeldctl')} unmerge-all --force --wait"
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=daemon.bus_address))
        assert p.returncode == OK, p.stdout
        assert re.search(r"\[#+\] 100%  0 B still shared", p.stdout), p.stdout


def test_bash_completion():
    bc = "/usr/share/bash-completion/bash_completion"
    if not os.path.exists(bc):
        pytest.fail("bash-completion missing: scripts/install-deps.sh installs it")
    script = f"""
source {bc}
source {SRC}/packaging/completion/pagemeldctl.bash
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}};
  COMPREPLY=(); _pagemeldctl; echo "${{COMPREPLY[*]}}"; }}
complete_words pagemeldctl un
complete_words pagemeldctl unmerge-all --
complete_words pagemeldctl merge-across-nodes o
complete_words pagemeldctl top --i
complete_words pagemeldctl budget /x --m
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["unmerge-all", "--force --wait", "on off", "--iterations --interval",
                                     "--merge"]

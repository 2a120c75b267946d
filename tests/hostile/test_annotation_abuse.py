# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tenant writes whatever annotations its pod spec allows: a budget of
200 KiB of leading zeros, a quantity just over its cap, a key longer than
Kubernetes allows, a huge annotation of another domain. pagemeldd refuses
what it reads and cannot bound, with an error naming the key, on D-Bus and on
the hook socket alike; it registers nothing and switches no merging on for
the refused container; it keeps, and saves, only the keys it reads, with
quantities as byte counts, so the state file stays small."""
import json
import os
import subprocess
import time

import dbus
import pytest

from pmtest import build_path, hook_socket_register, ksm_stat, wait_for

DEAD_BUS = "unix:path=/nonexistent/pagemeld-test-bus"
ZEROS_200K = "0" * (200 * 1024) + "1Gi"
ZEROS_100 = "0" * 100 + "1Gi"
LONG_KEY = "example.com/" + "k" * 400


def state_file(daemon):
    return os.path.join(daemon.state_dir, "registrations.json")


def saved_containers(daemon):
    try:
        with open(state_file(daemon)) as f:
            return json.load(f)["containers"]
    except FileNotFoundError:
        return []


def assert_nothing_registered(daemon, manager, proc, cid):
    t0 = time.monotonic()
    assert int(manager.get("ManagedCgroups")) == 0
    assert time.monotonic() - t0 < 0.1, "the daemon is slow to answer after the refusal"
    assert manager.list_cgroups() == []
    assert saved_containers(daemon) == []
    assert not os.path.exists(os.path.join(daemon.state_dir, "containers", cid))
    # the victim is the tenant's own process: nothing switched on in it
    assert ksm_stat(proc.pid)["ksm_merge_any"] is False


def refused(manager, proc, cid, annotations):
    with pytest.raises(dbus.exceptions.DBusException) as e:
        manager.register(cid, proc.pid, annotations)
    return e.value.get_dbus_name(), e.value.get_dbus_message()


@pytest.mark.parametrize("value,why", [(ZEROS_200K, "value is longer than 1024 bytes"),
                                       (ZEROS_100, "value is longer than 64 bytes")],
                         ids=["200KiB-zeros", "100-zeros"])
@pytest.mark.parametrize("key", ["swap-budget.pagemeld.io", "merge-budget.pagemeld.io"])
def test_oversized_quantity_refused_over_dbus(daemon, manager, cgroup, key, value, why):
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    name, msg = refused(manager, p, "zeros-1", {"merge.pagemeld.io": "true", key: value})
    assert name == "io.pagemeld1.Error.InvalidAnnotation"
    assert msg.startswith(f"Annotation {key}: {why}"), msg
    assert len(msg) < 300  # the value is never echoed back
    assert_nothing_registered(daemon, manager, p, "zeros-1")


def test_oversized_key_refused_over_dbus(daemon, manager, cgroup):
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    name, msg = refused(manager, p, "longkey-1", {"merge.pagemeld.io": "true", LONG_KEY: "x"})
    assert name == "io.pagemeld1.Error.InvalidAnnotation"
    assert msg.startswith("Annotation " + LONG_KEY[:80] + "...: key is longer than"), msg
    assert_nothing_registered(daemon, manager, p, "longkey-1")


def test_identity_value_over_cap_refused(daemon, manager, cgroup):
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    name, msg = refused(manager, p, "ns-1", {"merge.pagemeld.io": "true",
                                              "io.kubernetes.pod.namespace": "a" * 2000})
    assert name == "io.pagemeld1.Error.InvalidAnnotation"
    assert "io.kubernetes.pod.namespace" in msg and "value is longer than 1024 bytes" in msg
    assert_nothing_registered(daemon, manager, p, "ns-1")


def test_oversized_quantity_refused_on_hook_socket(daemon, manager, cgroup):
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    reply = hook_socket_register(daemon, "sock-zeros", p.pid,
                                 {"merge.pagemeld.io": "true", "swap-budget.pagemeld.io": ZEROS_100})
    assert reply[:2] == ["error", "io.pagemeld1.Error.InvalidAnnotation"], reply
    assert reply[2].startswith("Annotation swap-budget.pagemeld.io: value is longer than 64 bytes")
    assert_nothing_registered(daemon, manager, p, "sock-zeros")


def run_hook(daemon, pid, cid, annotations):
    state = {"ociVersion": "1.0.2", "id": cid, "status": "creating", "pid": pid, "bundle": "/nonexistent",
             "annotations": annotations}
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=DEAD_BUS, PAGEMELD_STATE_DIR=daemon.state_dir)
    hook = str(build_path("runtime-hook", "pagemeld-oci-hook"))
    return subprocess.run([hook, "--config", "/dev/null", "--fail-mode", "open", "--timeout-ms", "2000",
                           "create"], input=json.dumps(state), env=env, capture_output=True, text=True,
                          timeout=30)


def test_hook_says_which_annotation(daemon, manager, cgroup):
    """The hook itself names the key: over the generic cap it does not even
    ask (a 200 KiB request would not fit the socket), under it pagemeldd's
    refusal is passed on. Either way the container is not registered."""
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    r = run_hook(daemon, p.pid, "hook-zeros", {"merge.pagemeld.io": "true", "swap-budget.pagemeld.io": ZEROS_200K})
    assert r.returncode == 3, r.stderr  # the container's own invalid annotation: whatever fail-mode says
    assert "annotation swap-budget.pagemeld.io: the value is 204803 bytes, more than the 1024 allowed" in r.stderr
    assert_nothing_registered(daemon, manager, p, "hook-zeros")

    r = run_hook(daemon, p.pid, "hook-zeros", {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": ZEROS_100})
    assert "InvalidAnnotation: Annotation merge-budget.pagemeld.io: value is longer than 64 bytes" in r.stderr, \
        r.stderr
    assert_nothing_registered(daemon, manager, p, "hook-zeros")


def test_state_keeps_parsed_values_only(daemon, manager, cgroup):
    """Another domain's 100 KiB annotation is not read, so not refused, and
    not saved either; the budgets are saved as byte counts."""
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    manager.register("kept-1", p.pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "0000512Mi",
                                       "swap-budget.pagemeld.io": "1.5Gi", "example.com/blob": "x" * 100 * 1024})
    assert int(manager.get("ManagedCgroups")) == 1
    kept = {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": str(512 << 20),
            "swap-budget.pagemeld.io": str(3 << 29)}
    # saved at once in its marker; the state file follows within a second
    marker = os.path.join(daemon.state_dir, "containers", "kept-1")
    with open(marker) as f:
        assert json.load(f)["annotations"] == kept
    assert os.path.getsize(marker) < 4096
    wait_for(lambda: len(saved_containers(daemon)) == 1, 5, what="the state file to hold kept-1")
    [c] = saved_containers(daemon)
    assert c["annotations"] == kept
    assert os.path.getsize(state_file(daemon)) < 4096
    assert ksm_stat(p.pid)["ksm_merge_any"] is True

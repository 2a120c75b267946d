# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeld-oci-hook on bad input and with pagemeld unavailable:
each case gives a clear message and the documented exit code
(runtime-hook/README.md). The hook is run the way a runtime runs it: the
state on stdin, DBUS_SYSTEM_BUS_ADDRESS in the environment."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import SRC, build_path, require_root
from oci import Runc, Workspace, hook_entry, hook_path

EXIT_DONE, EXIT_INTERNAL, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_NO_PROCESS, EXIT_UNREACHABLE, EXIT_REFUSED = range(7)
OPT_IN = {"merge.pagemeld.io": "true"}


def state(pid=None, annotations=OPT_IN, cid="hooktest-1", **extra):
    s = {"ociVersion": "1.0.2", "id": cid, "status": "creating", "bundle": "/nonexistent", **extra}
    if pid is not None:
        s["pid"] = pid
    if annotations is not None:
        s["annotations"] = annotations
    return json.dumps(s)


# No registration markers there: the hook at stop asks pagemeldd (whatever
# the host's /run/pagemeld holds).
NO_STATE_DIR = "/nonexistent/pagemeld-test-state"


def hook(stdin, *args, stage="create", address="unix:path=/nonexistent/pagemeld-test-bus", timeout=15,
         state_dir=NO_STATE_DIR, **env_extra):
    """Run the hook; returns (exit code, stderr). state_dir: PAGEMELD_STATE_DIR
    (pass the test daemon's)."""
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, PAGEMELD_STATE_DIR=state_dir, **env_extra)
    p = subprocess.run([hook_path(), "--config", "/dev/null", *args, stage], input=stdin, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.stdout == ""
    return p.returncode, p.stderr


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid  # reaped: no such process (pids are not reused this fast)


# Bad input is not the pod's mistake (its annotations are not even known):
# fail-mode decides, 3 under closed, 0 (the container runs unmerged) under open.
@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_BAD_INPUT)])
def test_malformed_json(mode, code):
    rc, err = hook('{"id": "x", "pid": ', "--fail-mode", mode)
    assert rc == code
    assert "OCI state is not valid JSON" in err
    assert ("runs unmerged (fail-mode=open)" in err) == (mode == "open")


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_BAD_INPUT)])
def test_not_an_object_and_no_id(mode, code):
    assert hook("[]", "--fail-mode", mode)[0] == code
    rc, err = hook('{"pid": 5, "annotations": {"merge.pagemeld.io": "true"}}', "--fail-mode", mode)
    assert rc == code and 'no container "id"' in err


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_BAD_INPUT)])
def test_empty_stdin(mode, code):
    rc, err = hook("", "--fail-mode", mode)
    assert rc == code and "OCI state is empty" in err


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_BAD_INPUT)])
def test_missing_pid_at_create(mode, code):
    rc, err = hook(state(pid=None), "--fail-mode", mode)
    assert rc == code
    assert "container hooktest-1: the OCI state has no pid" in err


def test_missing_pid_at_stop_is_fine():
    # poststop states have no pid; pagemeld being absent is tolerated.
    rc, err = hook(state(pid=None, status="stopped"), stage="stop")
    assert rc == EXIT_DONE
    assert "runs unmerged" in err or "not reachable" in err


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_NO_PROCESS)])
def test_dead_pid(mode, code):
    pid = dead_pid()
    rc, err = hook(state(pid=pid), "--fail-mode", mode)
    assert rc == code
    assert f"process {pid} of the OCI state does not exist" in err


def test_huge_stdin():
    big = '{"id": "x", "pad": "' + "a" * (1 << 20) + '"}'
    rc, err = hook(big, "--fail-mode", "closed")
    assert rc == EXIT_BAD_INPUT
    assert "larger than 1048576 bytes" in err
    rc, err = hook(big, "--fail-mode", "open")
    assert rc == EXIT_DONE and "larger than 1048576 bytes" in err
    # Just under the limit is read and parsed.
    ok = '{"id": "x", "annotations": {}, "pad": "' + "a" * ((1 << 20) - 60) + '"}'
    assert len(ok) <= 1 << 20
    assert hook(ok)[0] == EXIT_DONE  # no annotations: nothing to do


@pytest.mark.parametrize("key", ["merge.pagemeld.io", "merge.pagemeld.io/web"])
def test_unknown_annotation_value(sleeper, key):
    ann = {"merge.pagemeld.io": "true", "io.kubernetes.container.name": "web", key: "yes"}
    for mode in ("open", "closed"):
        rc, err = hook(state(pid=sleeper, annotations=ann), "--fail-mode", mode)
        assert rc == EXIT_BAD_INPUT
        assert f'annotation {key} has invalid value "yes": must be "true" or "false"' in err


def test_not_opted_in_does_nothing(sleeper):
    for ann in ({}, {"merge.pagemeld.io": "false"}, {"other": "x"},
                {"merge.pagemeld.io": "true", "io.kubernetes.cri.container-type": "sandbox"}):
        rc, err = hook(state(pid=sleeper, annotations=ann), "--fail-mode", "closed")
        assert (rc, err) == (EXIT_DONE, "")


def test_annotations_from_bundle(tmp_path, sleeper):
    (tmp_path / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "annotations": {
        "merge.pagemeld.io": "maybe"}}))
    rc, err = hook(state(pid=sleeper, annotations=None, bundle=str(tmp_path)))
    assert rc == EXIT_BAD_INPUT
    assert "annotation merge.pagemeld.io has invalid value" in err


def test_usage_and_config_errors(tmp_path):
    """Exit 2 under fail-mode=closed; under open (the default when the
    configuration says nothing valid) the same message, and 0."""
    for mode, code in (("closed", EXIT_USAGE), ("open", EXIT_DONE)):
        p = subprocess.run([hook_path(), "--fail-mode", mode], capture_output=True, text=True)
        assert p.returncode == code and "expected one argument" in p.stderr
        p = subprocess.run([hook_path(), "--fail-mode", mode, "start"], capture_output=True, text=True)
        assert p.returncode == code and 'unknown command "start"' in p.stderr
    conf = tmp_path / "pagemeld.conf"
    conf.write_text("[Hook]\nFailMode=sometimes\n")
    p = subprocess.run([hook_path(), "--config", str(conf), "create"], input=state(pid=1), capture_output=True,
                       text=True)
    assert p.returncode == EXIT_DONE  # no valid FailMode= in it: open
    assert "FailMode=sometimes" in p.stderr and ":2:" in p.stderr and "fail-mode=open" in p.stderr
    p = subprocess.run([hook_path(), "--config", str(conf), "--fail-mode", "closed", "create"],
                       input=state(pid=1), capture_output=True, text=True)
    assert p.returncode == EXIT_USAGE and "FailMode=sometimes" in p.stderr
    p = subprocess.run([hook_path(), "--config", str(tmp_path / "missing.conf"), "--fail-mode", "closed",
                        "create"], input="", capture_output=True, text=True)
    assert p.returncode == EXIT_USAGE and "cannot open" in p.stderr


def test_shipped_config_is_read_by_hook_and_daemon(sleeper):
    """packaging/pagemeld.conf has the hook's [Hook] section; pagemeldd skips it."""
    conf = SRC / "packaging" / "pagemeld.conf"
    if build_path("daemon", "pagemeldd").exists():
        subprocess.run([build_path("daemon", "pagemeldd"), "--check-config", "-c", str(conf)], check=True,
                       capture_output=True)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/pagemeld-test-bus",
               PAGEMELD_STATE_DIR=NO_STATE_DIR)
    p = subprocess.run([hook_path(), "--config", str(conf), "create"], input=state(pid=sleeper), env=env,
                       capture_output=True, text=True)
    assert p.returncode == EXIT_DONE and "fail-mode=open" in p.stderr


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_UNREACHABLE)])
def test_bus_down(sleeper, mode, code):
    rc, err = hook(state(pid=sleeper), "--fail-mode", mode)
    assert rc == code
    assert "system bus unix:path=/nonexistent/pagemeld-test-bus not reachable" in err
    assert ("runs unmerged" in err) == (mode == "open")


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_UNREACHABLE)])
def test_daemon_absent(bus, sleeper, mode, code):
    rc, err = hook(state(pid=sleeper), "--fail-mode", mode, address=bus.address)
    assert rc == code
    assert "pagemeldd is not running (no owner of io.pagemeld1" in err
    rc, err = hook(state(pid=None, status="stopped"), "--fail-mode", mode, stage="stop", address=bus.address)
    assert rc == code and "pagemeldd is not running" in err


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_UNREACHABLE)])
def test_daemon_hung_times_out(daemon, sleeper, mode, code):
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        rc, err = hook(state(pid=sleeper), "--fail-mode", mode, "--timeout-ms", "300", address=daemon.bus_address)
        took = time.monotonic() - t0
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    assert rc == code
    assert "pagemeldd did not answer within 300 ms" in err
    assert took < 1.5


def test_stdin_never_closed_is_bounded():
    """A runtime that never closes the hook's stdin does not block it past
    the time limit (timeout + 1 s)."""
    r, w = os.pipe()
    try:
        t0 = time.monotonic()
        p = subprocess.run([hook_path(), "--config", "/dev/null", "--timeout-ms", "200", "--fail-mode", "closed",
                            "create"], stdin=r, capture_output=True, text=True, timeout=10)
        took = time.monotonic() - t0
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == EXIT_UNREACHABLE
    assert "time limit reached while reading the OCI state" in p.stderr
    assert 1.0 < took < 2.5


@pytest.mark.parametrize("path", ["dbus", "socket"])
@pytest.mark.parametrize("mode", ["open", "closed"])
def test_daemon_refuses_the_pods_invalid_annotation(daemon, sleeper, mode, path):
    """A budget that is no quantity is the pod's own mistake, as an invalid
    merge.pagemeld.io is: exit 3 whatever the fail mode, so it shows on the
    pod; through the hook socket as through D-Bus."""
    ann = dict(OPT_IN, **{"merge-budget.pagemeld.io": "lots"})
    state_dir = daemon.state_dir if path == "socket" else NO_STATE_DIR
    rc, err = hook(state(pid=sleeper, annotations=ann), "--fail-mode", mode, address=daemon.bus_address,
                   state_dir=state_dir)
    assert rc == EXIT_BAD_INPUT, err
    assert "pagemeldd refused: io.pagemeld1.Error.InvalidAnnotation" in err
    assert "merge-budget.pagemeld.io" in err


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_REFUSED)])
def test_daemon_refusal_follows_fail_mode(daemon, sleeper, mode, code):
    """A refusal that is no fault of the pod's annotations (here: a process
    outside any container cgroup) is judged by fail-mode."""
    rc, err = hook(state(pid=sleeper), "--fail-mode", mode, address=daemon.bus_address,
                   state_dir=daemon.state_dir)
    assert rc == code, err
    assert "io.pagemeld1.Error.ForbiddenProcess" in err


def test_stop_of_unknown_container_is_fine(daemon):
    rc, err = hook(state(pid=None, status="stopped", cid="never-registered"), "--fail-mode", "closed",
                   stage="stop", address=daemon.bus_address, state_dir=daemon.state_dir)
    assert (rc, err) == (EXIT_DONE, "")


# ---- poststop without D-Bus: pagemeldd's registration markers
# (lib/registration-marker.h: <state dir>/containers/<escaped id>) ----

def marker_dir(tmp_path, *ids):
    d = tmp_path / "state"
    (d / "containers").mkdir(parents=True)
    for i in ids:
        (d / "containers" / i).touch()
    return str(d)


STOPPED = state(pid=None, status="stopped", cid="hooktest-1")


def test_stop_without_marker_skips_the_bus(tmp_path):
    """containers/ there, no marker for the id: not registered. Exit 0 at
    once, silently, although the bus would fail loudly under fail-mode
    closed (exit 5 had it been touched)."""
    sd = marker_dir(tmp_path, "hooktest-2", "other")
    rc, err = hook(STOPPED, "--fail-mode", "closed", stage="stop", state_dir=sd)
    assert (rc, err) == (EXIT_DONE, "")
    # and without libsystemd: a broken one in the library path is not even loaded
    rc, err = hook(STOPPED, "--fail-mode", "closed", stage="stop", state_dir=sd,
                   LD_LIBRARY_PATH=broken_libsystemd(tmp_path))
    assert (rc, err) == (EXIT_DONE, "")


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_UNREACHABLE)])
def test_stop_with_marker_calls_pagemeldd(bus, tmp_path, mode, code):
    """The marker is there: UnregisterContainer as ever (here a bus without
    pagemeldd). The id is escaped into one file name."""
    sd = marker_dir(tmp_path, "hooktest-1", "pod%2Fweb")
    rc, err = hook(STOPPED, "--fail-mode", mode, stage="stop", address=bus.address, state_dir=sd)
    assert rc == code and "pagemeldd is not running (no owner of io.pagemeld1" in err
    rc, err = hook(state(pid=None, status="stopped", cid="pod/web"), "--fail-mode", mode, stage="stop",
                   address=bus.address, state_dir=sd)
    assert rc == code and "container pod/web: pagemeldd is not running" in err


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_UNREACHABLE)])
def test_stop_without_marker_dir_calls_pagemeldd(bus, tmp_path, mode, code):
    """No containers/ (an older pagemeldd, or none): unknown, so ask."""
    (tmp_path / "state").mkdir()
    for sd in (str(tmp_path / "state"), NO_STATE_DIR):
        rc, err = hook(STOPPED, "--fail-mode", mode, stage="stop", address=bus.address, state_dir=sd)
        assert rc == code and "pagemeldd is not running (no owner of io.pagemeld1" in err


# ---- libsystemd is loaded only when needed ----

def test_hook_does_not_link_libsystemd():
    """Loading libsystemd.so.0 and its libraries costs every exec ~0.6 ms:
    the hook dlopen()s it for the bus and the journal only."""
    p = subprocess.run(["readelf", "--dynamic", "--wide", hook_path()], capture_output=True, text=True,
                       check=True)
    needed = [ln for ln in p.stdout.splitlines() if "(NEEDED)" in ln]
    assert needed and any("libc.so" in ln for ln in needed), p.stdout
    assert not any("libsystemd" in ln for ln in needed), needed
    p = subprocess.run(["ldd", hook_path()], capture_output=True, text=True, check=True)
    assert "libsystemd" not in p.stdout and "libgcrypt" not in p.stdout, p.stdout


def broken_libsystemd(tmp_path):
    """A directory whose libsystemd.so.0 is an empty shared library: dlopen
    works, dlsym does not."""
    d = tmp_path / "broken-lib"
    if not d.exists():
        d.mkdir()
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(d / "libsystemd.so.0"), "-x", "c", "/dev/null"],
                       check=True)
    return str(d)


@pytest.mark.parametrize("mode,code", [("open", EXIT_DONE), ("closed", EXIT_UNREACHABLE)])
def test_libsystemd_unloadable(tmp_path, sleeper, mode, code):
    """libsystemd that cannot be loaded is pagemeld unavailable: fail-mode
    decides, like a bus that is down."""
    lib = broken_libsystemd(tmp_path)
    rc, err = hook(state(pid=sleeper), "--fail-mode", mode, LD_LIBRARY_PATH=lib)
    assert rc == code
    assert "cannot load libsystemd.so.0: " in err and "undefined symbol: sd_" in err
    assert ("runs unmerged" in err) == (mode == "open")
    rc, err = hook(STOPPED, "--fail-mode", mode, stage="stop", LD_LIBRARY_PATH=lib)
    assert rc == code and "cannot load libsystemd.so.0" in err
    # Paths without the bus do not need it: bad input still says why.
    rc, err = hook(state(pid=sleeper, annotations={"merge.pagemeld.io": "yes"}), LD_LIBRARY_PATH=lib)
    assert rc == EXIT_BAD_INPUT and "annotation merge.pagemeld.io has invalid value" in err
    assert hook(state(pid=sleeper, annotations={}), "--fail-mode", "closed", LD_LIBRARY_PATH=lib) == (EXIT_DONE, "")


def test_runc_shows_hook_errors():
    """Through runc: an invalid value fails the container with the hook's
    message; pagemeld absent lets it run (fail-open)."""
    require_root()
    ws = Workspace()
    try:
        rt = Runc(ws)
        dead_bus = "unix:path=/nonexistent/pagemeld-test-bus"
        hooks = {"createRuntime": [hook_entry("create", dead_bus)], "poststop": [hook_entry("stop", dead_bus)]}
        bad = rt.bundle("bad", ["/bin/true"], {"merge.pagemeld.io": "yes"}, hooks)
        assert rt.run_foreground(bad) != 0
        # runc quotes the hook's stderr in its own error message
        assert "exit status 3" in bad.output()
        assert 'annotation merge.pagemeld.io has invalid value \\"yes\\"' in bad.output()
        assert rt.state(bad.id) is None  # runc cleaned it up

        ok = rt.bundle("absent", ["/bin/true"], OPT_IN, hooks)
        # runc shows a hook's stderr only when the hook fails: the reason
        # went to the journal/syslog (test_bus_down checks the message).
        assert rt.run_foreground(ok) == 0, ok.output()
    finally:
        ws.cleanup()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Attacks on the OCI hook's fail-mode through the container's bundle and
the node's hook configuration.

A tenant controls its bundle's config.json as far as its runtime lets it
(and an operator can botch a configuration): a FIFO there must not hold the
runtime until the hook's timer, a huge or unreadable one must not fail
containers that fail-mode=open says should run unmerged, and a broken
[Hook] section must not fail every container on the node. Only an
opted-in pod's own invalid merge.pagemeld.io value fails the container
whatever fail-mode says: the mistake is the pod's and must show on it.

Each case runs the hook as a runtime does (state on stdin) with fail-mode
open and closed, and asserts its exit status, its message and its time.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from oci import hook_path

EXIT_DONE, EXIT_INTERNAL, EXIT_USAGE, EXIT_BAD_INPUT = 0, 1, 2, 3
NO_BUS = "unix:path=/nonexistent/pagemeld-test-bus"
NO_STATE_DIR = "/nonexistent/pagemeld-test-state"
CONFIG_MAX = 8 * 1024 * 1024


def bundle_state(bundle, pid, cid="failmode-1"):
    """A state without annotations: the hook reads <bundle>/config.json."""
    return json.dumps({"ociVersion": "1.0.2", "id": cid, "status": "creating", "pid": pid,
                       "bundle": str(bundle)})


def run_hook(stdin, *args, config="/dev/null", prefix=(), timeout=20):
    """(exit status, stderr, seconds)."""
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=NO_BUS, PAGEMELD_STATE_DIR=NO_STATE_DIR)
    cmd = list(prefix) + [hook_path(), "--config", str(config), *args, "create"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, input=stdin, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    assert p.stdout == ""
    return p.returncode, p.stderr, took


def expect(mode, rc, err, closed_code, what):
    """fail-mode decides: closed -> closed_code, open -> 0 and the container
    runs unmerged; the reason is on stderr either way."""
    assert what in err, err
    if mode == "closed":
        assert rc == closed_code, err
        assert "fail-mode=closed: refusing the container" in err
    else:
        assert rc == EXIT_DONE, err
        assert "runs unmerged (fail-mode=open)" in err


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_fifo_config_json_returns_promptly(tmp_path, sleeper, mode):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    # a writer that never writes would not help either: open and read must
    # not wait for one at all
    rc, err, took = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode, "--timeout-ms", "2000")
    expect(mode, rc, err, EXIT_BAD_INPUT, f"{fifo} is not a regular file")
    # the timer would fire at 2 s + 1 s slack: far below that
    assert took < 0.5, f"the hook took {took:.2f} s on a FIFO config.json"
    print(f"\nFIFO config.json, fail-mode={mode}: exit {rc} in {took * 1000:.0f} ms")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_fifo_config_json_with_a_writer_holding_it(tmp_path, sleeper, mode):
    """A FIFO with a writer that keeps it open and never writes: still no
    read, still prompt."""
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    stop = threading.Event()

    def writer():
        fd = os.open(fifo, os.O_RDWR)  # never blocks, holds a writer end
        stop.wait(30)
        os.close(fd)
    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.1)
        rc, err, took = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode)
    finally:
        stop.set()
        t.join()
    expect(mode, rc, err, EXIT_BAD_INPUT, "is not a regular file")
    assert took < 0.5


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_directory_config_json(tmp_path, sleeper, mode):
    (tmp_path / "config.json").mkdir()
    rc, err, took = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode)
    expect(mode, rc, err, EXIT_BAD_INPUT, "is not a regular file")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_oversized_config_json(tmp_path, sleeper, mode):
    # valid JSON, one byte over the limit, with the opt-in inside: the size
    # alone is refused, before any of it is parsed
    head = json.dumps({"ociVersion": "1.0.2", "annotations": {"merge.pagemeld.io": "true"}})[:-1]
    pad = ', "pad": "'
    body = head + pad + "a" * (CONFIG_MAX + 1 - len(head) - len(pad) - 2) + '"}'
    assert len(body) == CONFIG_MAX + 1
    (tmp_path / "config.json").write_text(body)
    rc, err, took = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode)
    expect(mode, rc, err, EXIT_BAD_INPUT, f"is larger than {CONFIG_MAX} bytes")
    assert took < 1.0
    # exactly at the limit it is read, and the opt-in is seen: pagemeldd is
    # absent here, so the failure is now "unreachable", not the size
    (tmp_path / "config.json").write_text(body[:CONFIG_MAX - 2] + '"}')
    rc, err, _ = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode)
    assert "larger than" not in err and "not reachable" in err


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_unreadable_config_json(tmp_path, sleeper, mode):
    conf = tmp_path / "config.json"
    conf.write_text(json.dumps({"annotations": {"merge.pagemeld.io": "true"}}))
    conf.chmod(0)
    # root without the capabilities that bypass file modes: EACCES for real
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]
    rc, err, _ = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode, prefix=drop)
    expect(mode, rc, err, EXIT_BAD_INPUT, f"cannot read {conf}: Permission denied")
    # and one that is not there at all
    conf.unlink()
    rc, err, _ = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode)
    expect(mode, rc, err, EXIT_BAD_INPUT, f"cannot read {conf}: No such file or directory")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_config_json_not_json(tmp_path, sleeper, mode):
    (tmp_path / "config.json").write_text('{"annotations": {"merge.pagemeld.io": "tr')
    rc, err, _ = run_hook(bundle_state(tmp_path, sleeper), "--fail-mode", mode)
    expect(mode, rc, err, EXIT_BAD_INPUT, "config.json is not valid JSON")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_bad_hook_config(tmp_path, sleeper, mode):
    """A broken [Hook] section: --fail-mode decides."""
    conf = tmp_path / "pagemeld.conf"
    conf.write_text("[Hook]\nTimeoutMSec=soon\n")
    state = json.dumps({"ociVersion": "1.0.2", "id": "failmode-2", "pid": sleeper, "annotations": {}})
    rc, err, _ = run_hook(state, "--fail-mode", mode, config=conf)
    expect(mode, rc, err, EXIT_USAGE, "TimeoutMSec=soon")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_bad_hook_config_keeps_its_own_fail_mode(tmp_path, sleeper, mode):
    """Without --fail-mode, a valid FailMode= in the broken file still
    governs: an operator who chose closed is not silently opened."""
    conf = tmp_path / "pagemeld.conf"
    conf.write_text(f"[Hook]\nFailMode={mode}\nTimeoutMsec=2000\n")  # misspelt key
    state = json.dumps({"ociVersion": "1.0.2", "id": "failmode-3", "pid": sleeper, "annotations": {}})
    rc, err, _ = run_hook(state, config=conf)
    expect(mode, rc, err, EXIT_USAGE, 'unknown key "TimeoutMsec"')


def test_missing_hook_config_given_explicitly(tmp_path, sleeper):
    state = json.dumps({"ociVersion": "1.0.2", "id": "failmode-4", "pid": sleeper, "annotations": {}})
    for mode, code in (("open", EXIT_DONE), ("closed", EXIT_USAGE)):
        rc, err, _ = run_hook(state, "--fail-mode", mode, config=tmp_path / "missing.conf")
        expect(mode, rc, err, code, "cannot open")


@pytest.mark.parametrize("where", ["state", "bundle"])
@pytest.mark.parametrize("key", ["merge.pagemeld.io", "merge.pagemeld.io/web"])
def test_invalid_opt_in_value_fails_the_container(tmp_path, sleeper, where, key):
    """The pod's own invalid merge.pagemeld.io value: exit 3 under both
    fail-modes, naming the key."""
    ann = {"merge.pagemeld.io": "true", "io.kubernetes.container.name": "web", key: "maybe"}
    if where == "bundle":
        (tmp_path / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "annotations": ann}))
        state = bundle_state(tmp_path, sleeper)
    else:
        state = json.dumps({"ociVersion": "1.0.2", "id": "failmode-5", "pid": sleeper, "annotations": ann})
    for mode in ("open", "closed"):
        rc, err, _ = run_hook(state, "--fail-mode", mode)
        assert rc == EXIT_BAD_INPUT, err
        assert f'annotation {key} has invalid value "maybe"' in err
        assert "runs unmerged" not in err

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared fixtures of the integration tier (pytest, as root, real kernel).

The build directory comes from $PAGEMELD_BUILD (scripts/test.sh sets it);
every test that touches KSM takes the machine-wide lock shared with the C
live tests and gets every /sys/kernel/mm/ksm knob restored afterwards.
"""
import collections
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
        pytest.fail("the integration and vm tiers run as root")


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


# ---------------------------------------------------------------------------
# pagemeldd fixtures: a private system-like dbus-daemon whose
# policy includes the real packaging/dbus/io.pagemeld1.conf, pagemeldd on it
# with a temp state dir and config, scratch cgroup v2 directories and
# memfill workloads in them. Reused by the hook and pagemeldctl tests:
#   bus      -> PrivateBus (.address, .pid, .socket_dir)
#   daemon   -> Daemon (.bus_address, .pid, .state_dir, .config_path,
#               .restart(), .kill(), .reload(), .client(), .busctl(...))
#   cgroup   -> Scratch v2 cgroup factory: cgroup() -> ScratchCgroup
#               (.path relative to the v2 mount, .spawn_memfill(...))
#   manager  -> dbus-python proxy of io.pagemeld1.Manager (root)
# ---------------------------------------------------------------------------
import shutil
import signal
import socket
import subprocess
import tempfile

PAGEMELD_BUS_NAME = "io.pagemeld1"
MANAGER_PATH = "/io/pagemeld1"
MANAGER_IFACE = "io.pagemeld1.Manager"
CGROUP_IFACE = "io.pagemeld1.Cgroup"
CGROUP_V2 = pathlib.Path("/sys/fs/cgroup/unified") if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") \
    else pathlib.Path("/sys/fs/cgroup")
NOBODY = 65534

# The system bus of Debian's /usr/share/dbus-1/system.conf, cut to what a
# test needs: deny method calls by default, let everyone talk to the driver,
# then the service policies. @POLICY@ is the real file, or a permissive one.
BUS_CONFIG = (pathlib.Path(__file__).parent / "system-bus.conf.in").read_text()

PERMISSIVE_POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="default">
    <allow own="io.pagemeld1"/>
    <allow send_destination="io.pagemeld1"/>
  </policy>
</busconfig>
"""

DEFAULT_DAEMON_CONFIG = """[Daemon]
SweepIntervalSec=3600
LogLevel=debug
StartKsm=no
"""


UNIT_FILE = SRC / "packaging" / "systemd" / "pagemeld.service"


def unit_capabilities(unit=UNIT_FILE):
    """The unit's CapabilityBoundingSet= as lower-case names without the
    cap_ prefix, read the way systemd reads it: every assignment adds, an
    empty one resets, a leading ~ inverts (not used by the unit: refused)."""
    caps = []
    for line in pathlib.Path(unit).read_text().splitlines():
        line = line.strip()
        if not line.startswith("CapabilityBoundingSet="):
            continue
        value = line.split("=", 1)[1].strip()
        if value.startswith("~"):
            raise AssertionError(f"{unit}: an inverted CapabilityBoundingSet= is not parsed here")
        if not value:
            caps = []
            continue
        for name in value.split():
            name = name.lower()
            assert name.startswith("cap_"), f"{unit}: {name} in CapabilityBoundingSet="
            if name[4:] not in caps:
                caps.append(name[4:])
    assert caps, f"{unit} has no CapabilityBoundingSet="
    return caps


def as_unit(cmd):
    """cmd run with the unit's capabilities: its bounding set (so root's
    exec keeps only those), no inheritable or ambient ones, and
    no_new_privs (NoNewPrivileges=yes) -- the daemon as deployed, so a
    capability it needs but the unit lacks fails here too."""
    caps = ",".join("+" + c for c in unit_capabilities())
    return ["setpriv", "--bounding-set=-all," + caps, "--inh-caps=-all", "--ambient-caps=-all",
            "--no-new-privs", "--"] + [str(c) for c in cmd]


def proc_status_caps(pid):
    """{"CapBnd": int, "CapEff": int, ...} of /proc/PID/status."""
    caps = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                k, v = line.split(":", 1)
                caps[k] = int(v.strip(), 16)
    return caps


def capability_mask(names):
    """Bit mask of capability names (without cap_) as the kernel numbers them."""
    import ctypes
    import ctypes.util
    libcap = ctypes.CDLL(ctypes.util.find_library("cap") or "libcap.so.2")
    libcap.cap_from_name.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    mask = 0
    for n in names:
        v = ctypes.c_int()
        assert libcap.cap_from_name(("cap_" + n).encode(), ctypes.byref(v)) == 0, n
        mask |= 1 << v.value
    return mask


# The hook's own protocol on pagemeldd's socket (lib/hook-wire.h): one
# request of NUL-terminated strings with the pidfd in SCM_RIGHTS, one reply.
HOOK_WIRE_VERSION = b"pagemeld-hook/1"


def hook_request(cid, annotations=None):
    parts = [HOOK_WIRE_VERSION, b"register", cid.encode()]
    for k, v in (annotations or {}).items():
        parts += [k.encode(), v.encode()]
    return b"".join(p + b"\0" for p in parts)


def hook_exchange(daemon, payload, fds=(), timeout=5):
    """One request on a new connection: the decoded reply strings after the version."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(daemon.state_dir, "hook.sock"))
        if fds:
            socket.send_fds(s, [payload], list(fds))
        else:
            s.send(payload)
        data = s.recv(1 << 17)
    assert data.endswith(b"\0"), data
    parts = [p.decode() for p in data[:-1].split(b"\0")]
    assert parts[0] == HOOK_WIRE_VERSION.decode(), parts
    return parts[1:]


def hook_socket_register(daemon, cid, pid, annotations=None, timeout=5):
    """Register pid as the hook does: ["ok", object] or ["error", name, message]."""
    fd = os.pidfd_open(pid)
    try:
        return hook_exchange(daemon, hook_request(cid, annotations), [fd], timeout)
    finally:
        os.close(fd)


class PrivateBus:
    """A dbus-daemon of type system on a socket every uid can reach."""

    def __init__(self, policy=None):
        self.socket_dir = tempfile.mkdtemp(prefix="pagemeld-bus-", dir="/run" if os.access("/run", os.W_OK)
                                           else None)
        os.chmod(self.socket_dir, 0o755)
        self.socket = os.path.join(self.socket_dir, "system_bus_socket")
        if policy is None:
            policy = str(SRC / "packaging" / "dbus" / "io.pagemeld1.conf")
        elif policy == "permissive":
            policy = os.path.join(self.socket_dir, "permissive.conf")
            with open(policy, "w") as f:
                f.write(PERMISSIVE_POLICY)
        self.config = os.path.join(self.socket_dir, "bus.conf")
        with open(self.config, "w") as f:
            f.write(BUS_CONFIG.replace("@SOCKET@", self.socket).replace("@POLICY@", policy))
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file=" + self.config, "--nofork",
                                      "--nopidfile", "--print-address=1"],
                                     stdout=subprocess.PIPE, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            self.proc.kill()
            raise AssertionError("dbus-daemon did not start")
        os.chmod(self.socket, 0o666)
        self.pid = self.proc.pid

    def env(self, **extra):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        env.update(extra)
        return env

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def busctl(address, *args, uid=None, check=True, timeout=30):
    """busctl against a private bus, as root or (uid=65534) unprivileged.
    Returns CompletedProcess (text)."""
    cmd = ["busctl", "--address=" + address, "--no-pager"] + [str(a) for a in args]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr}")
    return p


class Daemon:
    """pagemeldd on a PrivateBus, with its own state dir, config and
    NOTIFY_SOCKET (so READY=1/STATUS=/STOPPING=1 are observed)."""

    def __init__(self, bus, config=DEFAULT_DAEMON_CONFIG, extra_args=(), seccomp=True):
        self.bus = bus
        self.bus_address = bus.address
        self.dir = tempfile.mkdtemp(prefix="pagemeldd-")
        self.state_dir = os.path.join(self.dir, "state")
        self.config_path = os.path.join(self.dir, "pagemeld.conf")
        self.log_path = os.path.join(self.dir, "pagemeldd.log")
        self.notify_path = os.path.join(self.dir, "notify")
        self.extra_args = list(extra_args)
        self.seccomp = seccomp
        self.write_config(config)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.1)
        self.messages = []
        self.proc = None
        self.log = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def command(self):
        cmd = [str(build_path("daemon", "pagemeldd")), "--config", self.config_path,
               "--state-dir", self.state_dir] + self.extra_args
        if not self.seccomp:
            cmd.append("--no-seccomp")
        return as_unit(cmd)

    def start(self, wait=True, **env):
        """env: extra environment, e.g. WATCHDOG_USEC="200000"."""
        self.log = open(self.log_path, "a")
        self.messages = []
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.bus.env(NOTIFY_SOCKET=self.notify_path, **env))
        if wait:
            self.wait_notify("READY=1", 30)
        return self

    def start_expecting_exit(self, timeout=30):
        """Start it where it is meant to refuse to run: its exit code and log."""
        self.start(wait=False)
        return self.proc.wait(timeout), self.read_log()

    def poll_notify(self):
        while True:
            try:
                data = self.notify.recv(4096).decode()
            except (socket.timeout, BlockingIOError):
                return
            self.messages.extend(data.split("\n"))

    def wait_notify(self, what, timeout):
        def seen():
            self.poll_notify()
            if self.proc.poll() is not None and what not in self.messages:
                raise AssertionError(f"pagemeldd exited with {self.proc.returncode}:\n{self.read_log()}")
            return what in self.messages
        wait_for(seen, timeout, what=f"pagemeldd {what}")

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self):
        self.poll_notify()
        self.messages = []
        os.kill(self.proc.pid, signal.SIGHUP)
        self.wait_notify("READY=1", 30)

    def stop(self, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        rc = self.proc.returncode
        self.log.close()
        self.poll_notify()
        return rc

    def kill(self):
        """SIGKILL (a crash): no STOPPING, no clean-up."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def restart(self):
        self.stop()
        return self.start()

    def busctl(self, *args, uid=None, check=True):
        return busctl(self.bus_address, *args, uid=uid, check=check)

    def client(self):
        return PagemeldClient(self.bus_address)

    def cleanup(self):
        self.stop()
        self.notify.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PagemeldClient:
    """io.pagemeld1 through dbus-python (it passes fds: dbus.types.UnixFd)."""

    def __init__(self, address):
        import dbus
        import dbus.bus
        self.dbus = dbus
        self.conn = dbus.bus.BusConnection(address)
        self.manager = dbus.Interface(self.conn.get_object(PAGEMELD_BUS_NAME, MANAGER_PATH), MANAGER_IFACE)
        self.props = dbus.Interface(self.conn.get_object(PAGEMELD_BUS_NAME, MANAGER_PATH),
                                    "org.freedesktop.DBus.Properties")

    def register(self, cid, pid=None, annotations=None, pidfd=None):
        """RegisterContainer(id, pidfd_open(pid), annotations) -> object path (str)."""
        own = pidfd is None
        fd = os.pidfd_open(pid) if own else pidfd
        try:
            return str(self.manager.RegisterContainer(
                cid, self.dbus.types.UnixFd(fd), self.dbus.Dictionary(annotations or {}, signature="ss")))
        finally:
            if own:
                os.close(fd)

    def unregister(self, cid):
        self.manager.UnregisterContainer(cid)

    def list_cgroups(self):
        return [tuple(x) for x in self.manager.ListCgroups()]

    def sweep(self):
        self.manager.Sweep()

    def get(self, name):
        return self.props.Get(MANAGER_IFACE, name)

    def get_all(self):
        return self.props.GetAll(MANAGER_IFACE)

    def cgroup_props(self, object_path):
        o = self.conn.get_object(PAGEMELD_BUS_NAME, object_path)
        return self.dbus.Interface(o, "org.freedesktop.DBus.Properties").GetAll(CGROUP_IFACE)

    def close(self):
        self.conn.close()


def dbus_error_name(excinfo):
    return excinfo.value.get_dbus_name()


class ScratchCgroup:
    """A cgroup v2 directory of our own under the v2 mount."""

    def __init__(self, rel):
        self.path = rel  # relative to the v2 mount, starts with "/"
        self.dir = CGROUP_V2 / rel.lstrip("/")
        self.dir.mkdir(parents=True)
        self.procs = []

    def spawn(self, argv, **kw):
        cg = str(self.dir / "cgroup.procs")

        def enter():
            with open(cg, "w") as f:
                f.write("0")
        p = subprocess.Popen(argv, preexec_fn=enter, **kw)
        self.procs.append(p)
        return p

    def spawn_memfill(self, same=256, unique=16, merge=False, sleep=0, zero=0, prefix=()):
        """prefix: a command that execs memfill (setpriv, unshare), so the
        returned process is memfill itself."""
        args = list(prefix) + [str(build_path("tests", "memfill")), "--same", str(same), "--unique", str(unique),
                               "--zero", str(zero), "--sleep", str(sleep)]
        if merge:
            args.append("--merge")
        p = self.spawn(args, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert line.startswith("ready "), line
        return p

    def pids(self):
        return [int(x) for x in (self.dir / "cgroup.procs").read_text().split()]

    def remove(self):
        """Ends our processes and removes the cgroup; what could not be
        reaped (a zombie something else still traces), as complaints."""
        unreaped = []
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    state = proc_status(p.pid, "State", "TracerPid")
                    unreaped.append(f"pid {p.pid} not reaped after SIGKILL: {state}")
            if p.stdout:
                p.stdout.close()
        for pid in self.pids() if self.dir.exists() else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for child in sorted(self.dir.rglob("*"), reverse=True) if self.dir.exists() else []:
            if child.is_dir():
                wait_for(lambda: try_rmdir(child), 10, what=f"rmdir {child}")
        if self.dir.exists():
            wait_for(lambda: try_rmdir(self.dir), 10, what=f"rmdir {self.dir}")
        return unreaped


def proc_status(pid, *keys):
    """Those lines of /proc/PID/status, "gone" when there is none."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return ", ".join(line.strip() for line in f if line.split(":")[0] in keys)
    except OSError:
        return "gone"


def try_rmdir(d):
    """rmdir d (a str or path); True when it is gone, False while the kernel still refuses (busy cgroup)."""
    try:
        os.rmdir(d)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


@pytest.fixture
def bus():
    """A private system-type dbus-daemon with the real io.pagemeld1 policy."""
    require_root()
    b = PrivateBus()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def permissive_bus():
    """Same, but the bus lets everyone call pagemeldd: the daemon's own uid
    check is all that stands."""
    require_root()
    b = PrivateBus(policy="permissive")
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def daemon(bus):
    """pagemeldd started on `bus` (seccomp on), READY=1 seen."""
    if not build_path("daemon", "pagemeldd").exists():
        pytest.fail(f"{build_path('daemon', 'pagemeldd')} not built")
    d = Daemon(bus)
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def start_daemon(bus):
    """start(config) -> a started Daemon on the test's bus; all cleaned up after."""
    made = []

    def start(config=DEFAULT_DAEMON_CONFIG):
        if not build_path("daemon", "pagemeldd").exists():
            pytest.fail(f"{build_path('daemon', 'pagemeldd')} not built")
        d = Daemon(bus, config=config)
        made.append(d)
        d.start()
        return d
    try:
        yield start
    finally:
        for d in made:
            d.cleanup()


def merged(pid, pages, timeout=60):
    """Wait until pid has at least pages merged (ksm_merging_pages)."""
    wait_for(lambda: ksm_stat(pid).get("ksm_merging_pages", 0) >= pages, timeout, interval=0.1,
             what=f"{pages} merged pages in {pid}")


def big_merged_workload(m, cg, n, container_id):
    """n processes of 512 MiB of identical pages, merged, the first
    registered: one to two seconds of run=2 here, long enough to kill in."""
    procs = [cg.spawn_memfill(same=131072, unique=16, merge=True) for _ in range(n)]
    ksm_fast_scan(pages=50000, sleep_ms=1)
    for p in procs:
        merged(p.pid, 130000, timeout=300)
    m.register(container_id, procs[0].pid, {"merge.pagemeld.io": "true"})
    return procs


@pytest.fixture
def manager(daemon):
    c = daemon.client()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def ws():
    """A Workspace of oci.py (busybox rootfs, runtimes' state), removed after."""
    require_root()
    from oci import Workspace  # oci imports this module
    w = Workspace()
    try:
        yield w
    finally:
        w.cleanup()


@pytest.fixture
def sleeper():
    """A live process to name in an OCI state (the hook only opens a pidfd)."""
    p = subprocess.Popen(["sleep", "300"])
    try:
        yield p.pid
    finally:
        p.kill()
        p.wait()


@pytest.fixture
def cgroup():
    """Factory of scratch v2 cgroups under <v2 mount>/pagemeld-test-<pid>/."""
    require_root()
    base = f"/pagemeld-test-{os.getpid()}"
    made = []

    def make(name=None):
        rel = f"{base}/{name or 'cg%d' % len(made)}"
        cg = ScratchCgroup(rel)
        made.append(cg)
        return cg
    unreaped = []
    try:
        yield make
    finally:
        for cg in reversed(made):
            unreaped += cg.remove()
        try_rmdir(CGROUP_V2 / base.lstrip("/"))
    # a test process waiting for ever on one is no answer
    assert not unreaped, unreaped


Signal = collections.namedtuple("Signal", "interface member path args time")


class SignalRecorder:
    """Records io.pagemeld1 signals (CgroupAdded, PropertiesChanged,
    BudgetExceeded, UnmergeFinished, ...) on a private bus, each with the
    time.monotonic() it arrived at. dbus-python's GLib main loop runs in a
    thread of its own, so signals arrive while the test blocks in a call
    (the test bus' policy refuses BecomeMonitor)."""

    def __init__(self, address):
        import threading
        from gi.repository import GLib
        self.signals = []
        self.loop = GLib.MainLoop()  # dbus-python dispatches on the default context
        self.address = address
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise TimeoutError("signal recorder: no connection to the bus")

    def _run(self):
        import dbus.bus
        import dbus.mainloop.glib
        dbus.mainloop.glib.threads_init()
        self.conn = dbus.bus.BusConnection(self.address, mainloop=dbus.mainloop.glib.DBusGMainLoop())
        self.conn.add_signal_receiver(self._record, sender_keyword="sender", path_keyword="path",
                                      member_keyword="member", interface_keyword="interface",
                                      bus_name=PAGEMELD_BUS_NAME)
        self.ready.set()
        self.loop.run()

    def _record(self, *args, sender=None, path=None, member=None, interface=None):
        self.signals.append(Signal(str(interface), str(member), str(path), [_plain(a) for a in args],
                                   time.monotonic()))

    def named(self, member):
        return [s for s in list(self.signals) if s.member == member]

    def wait(self, member, timeout=10, pred=lambda s: True):
        return wait_for(lambda: [s for s in self.named(member) if pred(s)], timeout, interval=0.01,
                        what=f"signal {member}")

    def close(self):
        self.loop.quit()
        self.thread.join(5)
        self.conn.close()


def _plain(v):
    import dbus
    if isinstance(v, dbus.Dictionary):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (dbus.Array, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    if isinstance(v, (dbus.Int64, dbus.UInt64, dbus.UInt32, dbus.Int32, dbus.Byte)):
        return int(v)
    return v


def ksm_stat(pid):
    """/proc/PID/ksm_stat as a dict (yes/no -> bool)."""
    out = {}
    for line in open(f"/proc/{pid}/ksm_stat"):
        k, v = line.replace(":", " ").split()
        out[k] = v == "yes" if v in ("yes", "no") else int(v)
    return out


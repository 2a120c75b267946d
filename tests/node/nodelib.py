# SPDX-License-Identifier: LGPL-2.1-or-later
"""The node VM tier: pagemeld as deployed. A Debian 12 root filesystem with
systemd as PID 1, podman and the 6.12 cloud kernel (built by mmdebstrap from
the machine's apt sources, cached outside the clone, keyed by its package
list), the tree's .deb dpkg-installed into a copy of it, an ext4 image made
with `mke2fs -d`, booted under qemu (TCG) with pure cgroup v2. A oneshot
unit runs guest/node-checks.sh, which writes one "RESULT name ok|fail
detail" line per check to a file and powers off; the host reads the file
back with debugfs.

Environment: PAGEMELD_NODE_CACHE (default /var/cache/pagemeld-node),
PAGEMELD_NODE_TIMEOUT (boot to power-off, seconds, default 2400).
"""
import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "vm"))
import vmlib  # noqa: E402  (find_kernel_package, console excerpts)

SRC = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PAGEMELD_BUILD", SRC / "build")).resolve()
CACHE = pathlib.Path(os.environ.get("PAGEMELD_NODE_CACHE", "/var/cache/pagemeld-node"))
GUEST = pathlib.Path(__file__).resolve().parent / "guest"
SOURCES = "/etc/apt/sources.list.d/debian.sources"
TIMEOUT = int(os.environ.get("PAGEMELD_NODE_TIMEOUT", "2400"))
RESULTS = "/var/lib/pagemeld-node/results"

# What a container node needs, plus what pagemeld's .deb depends on (so
# dpkg -i finds it all offline) and the kernel (resolved at build time).
PACKAGES = [
    "systemd-sysv", "dbus", "udev", "kmod", "initramfs-tools", "procps", "util-linux", "e2fsprogs",
    "podman", "runc", "catatonit", "uidmap", "busybox-static",
    "libsystemd0", "libseccomp2", "libjson-c5", "libinih1",
]


def log(msg):
    print(f"nodelib: {msg}", file=sys.stderr, flush=True)


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}"
                             f"\n{r.stderr[-3000:]}")
    return r


def kernel_package():
    name, version = vmlib.find_kernel_package()
    return f"{name}={version}"


def rootfs_key(packages):
    text = "\n".join(packages) + "\n" + pathlib.Path(SOURCES).read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_rootfs():
    """(directory, vmlinuz, initrd) of the cached base root filesystem;
    built with mmdebstrap when missing (about a minute plus the downloads)."""
    packages = sorted(PACKAGES) + [kernel_package()]
    key = rootfs_key(packages)
    d = CACHE / f"rootfs-{key}"
    rootfs, vmlinuz, initrd = d / "rootfs", d / "vmlinuz", d / "initrd.img"
    if (d / "ready").exists():
        return rootfs, vmlinuz, initrd
    assert not str(CACHE.resolve()).startswith(str(SRC) + "/"), f"{CACHE} is inside the clone"
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "rootfs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.monotonic()
    log(f"building the Debian 12 root filesystem {d} (mmdebstrap)")
    _run(["mmdebstrap", "--variant=minbase", "--format=directory", "--include=" + ",".join(packages),
          "--aptopt=Acquire::Retries \"3\"",
          "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
          "bookworm", tmp, SOURCES], timeout=3600)
    shutil.copy(next((tmp / "boot").glob("vmlinuz-*")), vmlinuz)
    shutil.copy(next((tmp / "boot").glob("initrd.img-*")), initrd)
    tmp.rename(rootfs)
    (d / "packages").write_text("\n".join(packages) + "\n")
    (d / "ready").write_text(f"{time.monotonic() - t0:.0f} s\n")
    log(f"root filesystem built in {time.monotonic() - t0:.0f} s")
    return rootfs, vmlinuz, initrd


def build_deb(out):
    """The .deb of this tree (packaging/build-deb.sh, tests not run)."""
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    r = _run(["bash", SRC / "packaging" / "build-deb.sh", out], env=env, timeout=3600)
    debs = [pathlib.Path(l) for l in r.stdout.split() if re.search(r"/pagemeld_[^/]*\.deb$", l)]
    assert len(debs) == 1, r.stdout
    return debs[0]


def make_image(work, deb, scenario_env, image_tar=None, size="6G", extra=None):
    """The guest disk: the cached rootfs, the .deb installed, the check
    units and scripts in place; extra ({name: host path}, files or
    directories) lands in /var/lib/pagemeld-node/ too (a benchmark's guest
    script and what it runs). Returns (image path, vmlinuz, initrd)."""
    base, vmlinuz, initrd = ensure_rootfs()
    root = pathlib.Path(work, "root")
    _run(["cp", "-a", base, root])
    # Installing must not start anything inside the build host.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy(deb, root / "tmp" / deb.name)
    _run(["chroot", root, "dpkg", "-i", f"/tmp/{deb.name}"])
    policy.unlink()
    (root / "tmp" / deb.name).unlink()
    _run(["chroot", root, "useradd", "-m", "-u", "1000", "-s", "/bin/sh", "pmuser"])
    (root / "etc/hostname").write_text("pagemeld-node\n")
    (root / "etc/machine-id").write_text("4c0d3f6a1e6b4e1b9b6d2a7b8c9d0e1f\n")
    (root / "etc/fstab").write_text("/dev/vda / ext4 rw,relatime 0 1\n")
    # The getty hangs up other writers on ttyS0; nothing else the checks
    # need (apt timers, e2scrub) slows the boot either.
    for unit in ["serial-getty@ttyS0.service", "getty@tty1.service", "apt-daily.timer",
                 "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer", "man-db.timer",
                 "systemd-timesyncd.service", "dpkg-db-backup.timer"]:
        link = root / "etc/systemd/system" / unit
        if not link.exists():
            link.symlink_to("/dev/null")
    node = root / "var/lib/pagemeld-node"
    node.mkdir(parents=True)
    for f in GUEST.iterdir():
        shutil.copy(f, node / f.name)
    shutil.copy(SRC / "packaging/kubernetes/example-pod.yaml", node / "example-pod.yaml")
    if image_tar:
        shutil.copy(image_tar, node / "demo-image.tar")
    for name, path in (extra or {}).items():
        if pathlib.Path(path).is_dir():
            _run(["cp", "-a", path, node / name])
        else:
            shutil.copy(path, node / name)
    (node / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in scenario_env.items()))
    unit = root / "etc/systemd/system/pagemeld-node-checks.service"
    unit.write_text((GUEST / "pagemeld-node-checks.service").read_text())
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
    img = pathlib.Path(work, "node.img")
    _run(["mke2fs", "-q", "-t", "ext4", "-E", "root_owner=0:0", "-d", root, img, size], timeout=1800)
    shutil.rmtree(root)
    return img, vmlinuz, initrd


def demo_image_tar(out):
    """The rootfs tarball of localhost/pagemeld-demo (scripts/demo-image.sh's
    content: busybox-static and the static memfill), for `podman import`."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    memfill = BUILD / "tests" / "memfill"
    assert memfill.exists(), f"{memfill} not built"
    with tempfile.TemporaryDirectory() as r:
        for sub in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            os.makedirs(os.path.join(r, sub))
        shutil.copy(busybox, os.path.join(r, "bin/busybox"))
        for applet in ("sh", "sleep", "cat", "ls", "ps", "echo"):
            os.symlink("busybox", os.path.join(r, "bin", applet))
        shutil.copy(memfill, os.path.join(r, "bin/memfill"))
        _run(["tar", "-C", r, "-cf", out, "."])
    return out


class NodeResult:
    def __init__(self, text, console, seconds):
        self.text = text
        self.console = console
        self.seconds = seconds
        self.checks = {}
        self.facts = {}
        for line in text.splitlines():
            parts = line.split(" ", 3)
            if parts[0] == "RESULT" and len(parts) >= 3:
                self.checks[parts[1]] = (parts[2], parts[3] if len(parts) > 3 else "")
            elif parts[0] == "FACT" and len(parts) >= 3:
                self.facts[parts[1]] = line.split(" ", 2)[2]


def boot(img, vmlinuz, initrd, memory_mb=3072, timeout=TIMEOUT, append=""):
    """Boots the image until the check unit powers the guest off; returns
    a NodeResult with the results file read back from the image."""
    cmd = ["nice", "-n", "19", "qemu-system-x86_64", "-accel", "tcg", "-m", str(memory_mb), "-smp", "2",
           "-cpu", "max", "-nographic", "-no-reboot", "-kernel", str(vmlinuz)]
    if initrd:  # the patched kernel has virtio and ext4 built in: no initrd
        cmd += ["-initrd", str(initrd)]
    cmd += ["-append", "root=/dev/vda rootfstype=ext4 rw console=ttyS0 panic=-1 "
            "systemd.unified_cgroup_hierarchy=1 systemd.show_status=0 " + append,
            "-drive", f"file={img},if=virtio,format=raw", "-nic", "none"]
    t0 = time.monotonic()
    console_path = pathlib.Path(img).with_name("console.log")  # readable while it runs
    with open(console_path, "wb") as f:
        try:
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, stdin=subprocess.DEVNULL)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
    console = console_path.read_bytes().decode(errors="replace")
    if timed_out:
        kept = vmlib._save_console(console, "node-timeout")
        raise AssertionError(f"node VM did not power off within {timeout}s (console: {kept}):\n"
                             f"{vmlib._crash_excerpt(console)}")
    seconds = time.monotonic() - t0
    r = subprocess.run(["debugfs", "-R", f"cat {RESULTS}", str(img)], capture_output=True, text=True)
    if "RESULT" not in r.stdout:
        kept = vmlib._save_console(console, "node-no-results")
        raise AssertionError(f"node VM wrote no results (console: {kept}):\n{r.stderr}\n"
                             f"{vmlib._crash_excerpt(console)}")
    return NodeResult(r.stdout, console, seconds)


def patched_kernel():
    """The bzImage of kernel-patches/ (kernel-patches/check builds it when
    its cache is cold; the vm tier has usually done so already)."""
    check = SRC / "kernel-patches" / "check"
    r = subprocess.run([str(check), "--build-only"], capture_output=True, text=True, timeout=4 * 3600)
    assert r.returncode == 0, f"kernel-patches/check --build-only failed:\n{r.stderr[-3000:]}"
    key = _run([check, "--cache-key"]).stdout.strip()
    cache = pathlib.Path(os.environ.get("PAGEMELD_KERNEL_CACHE", "/var/cache/pagemeld-kernel"))
    bz = cache / "build" / key / "bzImage"
    assert bz.exists(), bz
    return bz


def read_file(img, path):
    return subprocess.run(["debugfs", "-R", f"cat {path}", str(img)], capture_output=True, text=True).stdout


def demo_main():
    """scripts/demo.sh --vm: the demo in the node VM, its output streamed
    from the guest's console. Exit status 0 when the guest said DEMO-NODE-OK."""
    import threading
    with tempfile.TemporaryDirectory(prefix="pagemeld-node-demo-") as work:
        if os.environ.get("PAGEMELD_NODE_DEB"):  # tests/node's, already built
            deb = pathlib.Path(os.environ["PAGEMELD_NODE_DEB"])
        else:
            log("building the .deb of this tree")
            deb = build_deb(pathlib.Path(work, "deb"))
        image = demo_image_tar(pathlib.Path(work, "demo-image.tar"))
        log("making the node image (root filesystem cached in " + str(CACHE) + ")")
        img, vmlinuz, initrd = make_image(work, deb, {"CHECKS": "demo"}, image_tar=image)
        log("booting the node VM (qemu TCG: a few minutes)")
        console = pathlib.Path(img).with_name("console.log")
        done = threading.Event()

        def follow():
            pos, started = 0, False
            while not done.is_set() or (console.exists() and console.stat().st_size > pos):
                if console.exists():
                    with open(console, "rb") as f:
                        f.seek(pos)
                        data = f.read()
                    pos += len(data)
                    for line in data.decode(errors="replace").splitlines():
                        # the demo's own lines, not the kernel's or the checks'
                        # (from its first heading on: no firmware or initramfs chatter)
                        started = started or line.startswith("== ")
                        if started and not re.match(r"\s*\[\s*\d+\.\d+\]", line) \
                                and not line.startswith("node-checks:"):
                            print(line.rstrip("\r"), flush=True)
                time.sleep(0.5)
        t = threading.Thread(target=follow, daemon=True)
        t.start()
        try:
            res = boot(img, vmlinuz, initrd)
        finally:
            done.set()
            t.join(5)
        ok = res.checks.get("demo", ("fail", "no result"))
        print(f"\nnode VM: boot to power-off {res.seconds:.0f} s; demo {ok[0]}: {ok[1]}")
        return 0 if ok[0] == "ok" else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["demo"]:
        sys.exit(demo_main())
    print("usage: nodelib.py demo", file=sys.stderr)
    sys.exit(2)

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/hook-overhead.sh's question in the node VM of tests/node (Debian 12,
systemd, runc, this tree's .deb installed as tests/node installs it), booted
under qemu TCG on each kernel:
  patched  kernel-patches/ (pidfd KSM ioctls: pagemeldd enables merging
           with an ioctl, no injection)
  debian   the Debian 6.12 cloud kernel (pagemeldd injects with ptrace)
In the guest (bench/hook-node-vm-guest.sh), interleaved rounds of `runc run`
of a busybox `true`: plain, truehook (one /bin/true createRuntime hook: the
floor), hooked (pagemeld-oci-hook create against the guest's pagemeldd
through its hook socket), and truetimed/hooktimed (/bin/true and the hook
behind bench/hook-timer, which logs each one's spawn to exit inside runc).
Printed per kernel: medians of the per-round ratios and differences against
plain and against the floor, with distribution-free 95% intervals, the
hook's own spawn-to-exit difference, the guest clock's resolution, and the
backend pagemeldd used, asserted (pidfd-ioctl on the patched kernel, ptrace
on Debian's) along with every hooked run having registered its container.
Under TCG the absolute times are not comparable with the host's: read the
ratios and differences against each other.

  flock /work/wt/.bench.lock bench/hook-node-vm.py [--rounds 100] [--kernels patched,debian]
      [--build build-release] [--deb PAGEMELD_DEB] [--keep build-results] [--debian-cpus 1]
(root; the build dir gives bench/hook-timer; the .deb is built from the tree
unless --deb or PAGEMELD_NODE_DEB names one; the node rootfs and the patched
kernel come from the caches of tests/node and kernel-patches/check; the raw
logs, the guest's journal and console stay in KEEP/hook-node-vm-KERNEL/.)
Under TCG here (host load average 2 to 8) a round took 2.2 to 2.6 s on the
patched kernel and 3.7 to 4.0 s on Debian's: the default 100 rounds run
about 5 and 8 min from boot to power-off (120 took up to 6 and 9.3).
Both guests run on one vCPU: the patched tinyconfig kernel (no ACPI) brings
up only the one its MP table lists, and the Debian kernel gets nr_cpus=1 to
match. The guests boot with tsc_early_khz (the host's TSC rate, from dmesg
or /proc/cpuinfo: TCG passes the host's TSC through) and tsc=reliable: with
no reference timer, the patched kernel fails to calibrate the TSC when the
host is loaded and falls back to jiffies (4 ms steps); the clock each guest
really had, and the smallest step its CLOCK_MONOTONIC readings took, are
printed (a coarse one loudly).
pagemeldd runs with the .deb's configuration (sweeps every 5 s, KSM on).
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRC / "tests" / "node"))
import nodelib  # noqa: E402

HOOK = "/usr/libexec/oci/hooks.d/pagemeld-oci-hook"  # where the .deb puts it
GUEST_DIR = "/var/lib/pagemeld-node/hookbench"
VARIANTS = ["plain", "truehook", "hooked", "truetimed", "hooktimed"]
BACKEND = {"patched": "pidfd-ioctl", "debian": "ptrace"}


def bundles(dest):
    """The five bundles, from the host's `runc spec` (the guest has the same
    runc and no JSON tool), with the guest's paths in them."""
    spec = pathlib.Path(dest, "spec")
    spec.mkdir(parents=True)
    subprocess.run(["runc", "spec", "--bundle", str(spec)], check=True)
    base = json.loads((spec / "config.json").read_text())
    shutil.rmtree(spec)
    timer = f"{GUEST_DIR}/hook-timer"
    out = f"{GUEST_DIR}/out"
    hooks = {
        "plain": None,
        "truehook": {"path": "/bin/true"},
        "hooked": {"path": HOOK, "args": ["pagemeld-oci-hook", "create"]},
        "truetimed": {"path": timer, "args": ["hook-timer", f"{out}/truetimed.hook", "/bin/true"]},
        # hook-timer runs argv[2] with argv[2:]: the hook's argv[0] is its path
        "hooktimed": {"path": timer, "args": ["hook-timer", f"{out}/hooktimed.hook", HOOK, "create"]},
    }
    for v in VARIANTS:
        c = json.loads(json.dumps(base))
        c["root"] = {"path": f"{GUEST_DIR}/rootfs", "readonly": True}
        c["process"]["terminal"] = False
        c["process"]["args"] = ["/bin/true"]
        c["annotations"] = {"merge.pagemeld.io": "true"}
        c["linux"]["cgroupsPath"] = "pagemeld-hookbench-" + v
        if hooks[v]:
            c["hooks"] = {"createRuntime": [hooks[v]]}
        pathlib.Path(dest, v).mkdir()
        pathlib.Path(dest, v, "config.json").write_text(json.dumps(c))


def host_tsc_khz():
    """The host's TSC rate: from its boot log while the ring buffer still
    holds it, else cpu MHz of a constant_tsc CPU (the kernel reports the TSC
    rate there when it cannot read the actual frequency), else None (the
    guest calibrates, or fails to)."""
    r = subprocess.run(["dmesg"], capture_output=True, text=True)
    m = re.search(r"tsc: (?:Refined TSC clocksource calibration: |Detected )([\d.]+) MHz", r.stdout)
    if m:
        return int(float(m.group(1)) * 1000)
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    m = re.search(r"^cpu MHz\s*: ([\d.]+)", cpuinfo, re.M)
    return int(float(m.group(1)) * 1000) if m and " constant_tsc" in cpuinfo else None


def median_ci(d):
    """The median and its distribution-free 95% interval (order statistics)."""
    d = sorted(d)
    k = max(0, int(len(d) / 2 - 0.98 * len(d) ** 0.5))
    return statistics.median(d), d[k], d[len(d) - 1 - k]


def load(out, name):
    """ms of each run after the warm-up; every run must have exited 0."""
    rows = [line.split() for line in (out / name).read_text().splitlines()]
    bad = [r for r in rows if r[2] != "0"]
    assert not bad, f"{name}: runs that failed: {bad[:3]}"
    return [(int(b) - int(a)) / 1e6 for a, b, _ in rows][1:]


def summary(kernel, rounds, out, seconds, load_before):
    facts = dict(line.split(" ", 1) for line in (out / "facts").read_text().splitlines() if " " in line)
    runc = {v: load(out, v + ".runc") for v in VARIANTS}
    for v in VARIANTS:
        assert len(runc[v]) == rounds, f"{v}: {len(runc[v])} runs for {rounds} rounds"
    plain, floor = runc["plain"], runc["truehook"]
    print(f"\n== {kernel} kernel {facts.get('kernel')}: {rounds} rounds of runc run of busybox true, "
          f"interleaved; medians of per-round ratios/differences (TCG: compare, do not read as host times)")
    print(f"  guest clock: {facts.get('clocksource')}; CLOCK_MONOTONIC {facts.get('clock')}")
    step = re.search(r"smallest step (\d+) ns", facts.get("clock", ""))
    if not step or int(step.group(1)) > 1000:
        print(f"  COARSE GUEST CLOCK ({step.group(1) if step else '?'} ns steps): every time below is a multiple "
              "of that step")
    print(f"  pagemeldd backend: {facts.get('backend')}; probe: {facts.get('probe')}")
    print(f"  registrations: hooked {facts.get('registered_hooked')}, hooktimed {facts.get('registered_hooktimed')} "
          f"(each {rounds} rounds + 1 warm-up); hook log lines {facts.get('hook_log_lines')}, "
          f"pagemeldd warnings {facts.get('warnings')}")
    print(f"  plain     median {statistics.median(plain):7.2f} ms")
    for v, what in (("truehook", "one /bin/true createRuntime hook: the floor"),
                    ("hooked", "pagemeld hook, socket"),
                    ("truetimed", "/bin/true behind hook-timer"),
                    ("hooktimed", "pagemeld hook behind hook-timer")):
        x = runc[v]
        ratio = median_ci([h / p for h, p in zip(x, plain)])
        over = median_ci([h - f for h, f in zip(x, floor)])
        added = median_ci([h - p for h, p in zip(x, plain)])
        print(f"  {v:9s} median {statistics.median(x):7.2f} ms  x{ratio[0]:.3f} plain (95% CI {ratio[1]:.3f} to "
              f"{ratio[2]:.3f})  {added[0]:+7.2f} ms over plain"
              + ("" if v == "truehook" else
                 f", {over[0]:+7.2f} ms over truehook (95% CI {over[1]:+.2f} to {over[2]:+.2f})") + f"   ({what})")
    hook_t, true_t = load(out, "hooktimed.hook"), load(out, "truetimed.hook")
    inside = median_ci([h - t for h, t in zip(hook_t, true_t)])
    hr = median_ci([h / t for h, t in zip(hook_t, true_t)])
    print(f"  inside runc (hook-timer): the hook's spawn to exit {statistics.median(hook_t):.2f} ms, /bin/true's "
          f"{statistics.median(true_t):.2f} ms: the hook adds {inside[0]:+.2f} ms (95% CI {inside[1]:+.2f} to "
          f"{inside[2]:+.2f}), x{hr[0]:.2f} /bin/true (95% CI {hr[1]:.2f} to {hr[2]:.2f})")
    print(f"  guest: {facts.get('cpus')} vCPUs, rounds took {facts.get('rounds_seconds')} s, load average at the end "
          f"{facts.get('loadavg')}; host load average before {load_before}, after "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}; boot to power-off {seconds:.0f} s")
    return facts


def run_kernel(kernel, args, deb, stage, keep):
    with tempfile.TemporaryDirectory(prefix="pagemeld-hooknode-") as work:
        env = {"CHECKS": "bench", "BENCH": "hookbench/hook-node-vm-guest.sh", "ROUNDS": str(args.rounds)}
        img, vmlinuz, initrd = nodelib.make_image(work, deb, env, extra={"hookbench": stage})
        if kernel == "patched":
            vmlinuz, initrd = nodelib.patched_kernel(), None
        khz = host_tsc_khz()
        append = (f"tsc_early_khz={khz} " if khz else "") + "tsc=reliable"
        if kernel == "debian":
            append += f" nr_cpus={args.debian_cpus}"
        load_before = " ".join(open("/proc/loadavg").read().split()[:3])
        nodelib.log(f"booting the node VM on the {kernel} kernel ({args.rounds} rounds)")
        res = nodelib.boot(img, vmlinuz, initrd, append=append, timeout=900 + 30 * args.rounds)
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir(parents=True)
        subprocess.run(["debugfs", "-R", f"rdump {GUEST_DIR}/out {keep}", str(img)], capture_output=True, check=True)
        out = keep / "out"
        (keep / "bench.out").write_text(nodelib.read_file(img, "/var/lib/pagemeld-node/bench.out"))
        (keep / "console.log").write_text(res.console)
        verdict, detail = res.checks.get("bench", ("fail", "not reported"))
        if verdict != "ok":
            sys.exit(f"{kernel}: the guest benchmark failed: {detail}\n{(keep / 'bench.out').read_text()[-3000:]}")
    facts = summary(kernel, args.rounds, out, res.seconds, load_before)
    # The figure is what it claims only if pagemeldd took that kernel's path
    # and the hook registered every container it was handed.
    problems = []
    if facts.get("backend") != BACKEND[kernel]:
        problems.append(f"backend {facts.get('backend')!r}, expected {BACKEND[kernel]!r}")
    if not re.match(r"hook exit 0, mergeable VMAs [1-9]", facts.get("probe", "")):
        problems.append(f"the probe registration did not enable merging: {facts.get('probe')}")
    for v in ("hooked", "hooktimed"):
        if facts.get(f"registered_{v}") != str(args.rounds + 1):
            problems.append(f"{v}: {facts.get(f'registered_{v}')} registrations for {args.rounds + 1} runs")
    if problems:
        print("  NOT WHAT IT CLAIMS: " + "; ".join(problems))
    else:
        print(f"  asserted: backend {BACKEND[kernel]}, merging enabled in the probe, every hooked run registered")
    return not problems


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--kernels", default="patched,debian")
    p.add_argument("--build", default=str(SRC / "build-release"))
    p.add_argument("--deb", default=os.environ.get("PAGEMELD_NODE_DEB"))
    p.add_argument("--debian-cpus", type=int, default=1,
                   help="vCPUs the Debian kernel may use (the patched one brings up one)")
    p.add_argument("--keep", default=str(SRC / "build-results"),
                   help="where each kernel's raw results go (hook-node-vm-KERNEL/)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (chroot, dpkg, the node cache)")
    kernels = args.kernels.split(",")
    for k in kernels:
        if k not in BACKEND:
            sys.exit(f"unknown kernel {k!r}: patched or debian")
    timer = pathlib.Path(args.build, "bench", "hook-timer")
    if not os.access(timer, os.X_OK):
        sys.exit(f"missing {timer}: build first (ninja -C {args.build})")
    with tempfile.TemporaryDirectory(prefix="pagemeld-hooknode-stage-") as tmp:
        if args.deb:
            deb = pathlib.Path(args.deb)
        else:
            t0 = time.monotonic()
            deb = nodelib.build_deb(pathlib.Path(tmp, "deb"))
            nodelib.log(f"built {deb.name} in {time.monotonic() - t0:.0f} s")
        stage = pathlib.Path(tmp, "hookbench")
        stage.mkdir()
        shutil.copy(timer, stage / "hook-timer")
        shutil.copy(SRC / "bench" / "hook-node-vm-guest.sh", stage / "hook-node-vm-guest.sh")
        bundles(stage / "bundles")
        ok = True
        for k in kernels:
            ok = run_kernel(k, args, deb, stage, pathlib.Path(args.keep, f"hook-node-vm-{k}")) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

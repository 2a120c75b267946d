# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Debian package: packaging/build-deb.sh builds it once per
run (dpkg-buildpackage -b -us -uc, bounded in time), then it is checked as
an operator would receive it: its file list, conffiles and maintainer
scripts, and the binaries run from a scratch root it was unpacked into.

A component whose source is in the tree (daemon/, runtime-hook/) must have
its files in the package; a component not in the tree yet is not expected.
"""
import configparser
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import SRC

BUILD_TIMEOUT = 900  # seconds; a ccache'd build takes well under a minute


def meson_version():
    m = re.search(r"version\s*:\s*'([^']+)'", (SRC / "meson.build").read_text())
    return m.group(1)


@pytest.fixture(scope="session")
def deb(tmp_path_factory):
    for tool in ("dpkg-buildpackage", "dh", "dpkg-deb"):
        assert shutil.which(tool), f"{tool} missing: scripts/install-deps.sh installs it"
    out = tmp_path_factory.mktemp("deb")
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    r = subprocess.run(["bash", str(SRC / "packaging/build-deb.sh"), str(out)], env=env,
                       capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, f"build-deb.sh failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    debs = [p for p in out.glob("pagemeld_*.deb")]
    assert len(debs) == 1, f"expected one pagemeld_*.deb, got {list(out.iterdir())}"
    return debs[0]


@pytest.fixture(scope="session")
def root(deb, tmp_path_factory):
    """The package unpacked into a scratch root (no maintainer scripts run)."""
    d = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(d)], check=True)
    return d


def expected_files():
    files = {
        "usr/bin/pagemeldctl",
        "lib/systemd/system/pagemeld.service",
        "usr/share/dbus-1/system-services/io.pagemeld1.service",
        "usr/share/bash-completion/completions/pagemeldctl",
        "usr/share/man/man1/pagemeldctl.1.gz",
        "usr/share/man/man1/pagemeld-oci-hook.1.gz",
        "usr/share/man/man5/pagemeld.conf.5.gz",
        "usr/share/man/man7/pagemeld-annotations.7.gz",
        "usr/share/man/man8/pagemeldd.8.gz",
    }
    if (SRC / "daemon/meson.build").exists():
        files.add("usr/sbin/pagemeldd")
    if (SRC / "packaging/dbus/io.pagemeld1.conf").exists():
        files.add("usr/share/dbus-1/system.d/io.pagemeld1.conf")
    for xml in ("io.pagemeld1.Manager.xml", "io.pagemeld1.Cgroup.xml"):
        if (SRC / "api" / xml).exists():
            files.add("usr/share/dbus-1/interfaces/" + xml)
    if (SRC / "packaging/pagemeld.conf").exists():
        files.add("etc/pagemeld/pagemeld.conf")
    if (SRC / "packaging/debian/pagemeld.sysusers").exists():
        files.add("usr/lib/sysusers.d/pagemeld.conf")
    if (SRC / "runtime-hook/meson.build").exists():
        files.add("usr/libexec/oci/hooks.d/pagemeld-oci-hook")
    for name in ("50-pagemeld-create.json",):
        if (SRC / "packaging/oci-hooks.d" / name).exists():
            files.add("usr/share/containers/oci/hooks.d/" + name)
    if (SRC / "packaging/containerd/pagemeld-containerd-setup").exists():
        files.add("usr/libexec/pagemeld/pagemeld-containerd-setup")
        files.add("usr/share/pagemeld/containerd/50-pagemeld-cri.toml")
    return files


def test_file_list(deb):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True,
                             text=True).stdout
    files = set()
    for line in listing.splitlines():
        perms, path = line.split()[0], line.split()[5]
        if not perms.startswith("d"):
            files.add(path.removeprefix("./"))
    missing = expected_files() - files
    assert not missing, f"not in the package: {sorted(missing)}"
    # nothing from the test tier leaks in
    assert not [f for f in files if "memfill" in f or "/test-" in f or "probe-features" in f]


def test_control(deb):
    info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends"],
                          check=True, capture_output=True, text=True).stdout
    assert "Package: pagemeld" in info
    assert f"Version: {meson_version()}-" in info
    assert "libsystemd0" in info and "dbus" in info
    ctrl = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], check=True, capture_output=True).stdout
    names = subprocess.run(["tar", "-t"], input=ctrl, check=True, capture_output=True).stdout.decode()
    # dh_installsystemd: the unit is enabled at install (not started)
    assert "./postinst" in names.split()
    postinst = subprocess.run(["tar", "-xO", "./postinst"], input=ctrl, check=True,
                              capture_output=True).stdout.decode()
    # the reader group the D-Bus policy names exists once installed
    if "usr/lib/sysusers.d/pagemeld.conf" in expected_files():
        assert "systemd-sysusers" in postinst and "pagemeld.conf" in postinst, postinst
    if "etc/pagemeld/pagemeld.conf" in expected_files():
        conffiles = subprocess.run(["tar", "-xO", "./conffiles"], input=ctrl, check=True,
                                   capture_output=True).stdout.decode()
        assert "/etc/pagemeld/pagemeld.conf" in conffiles.split()


def test_reader_group_agrees(deb, root):
    """The group the package creates (sysusers.d; test_control checks the
    postinst runs it) is the one pagemeldd and the D-Bus policy name by
    default, and the package depends on something that provides
    systemd-sysusers."""
    default = re.search(r'#define READER_GROUP_DEFAULT "([^"]+)"', (SRC / "daemon/config.h").read_text())[1]
    lines = [ln.split() for ln in (root / "usr/lib/sysusers.d/pagemeld.conf").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert ["g", default, "-"] in lines, lines
    policy = ET.parse(root / "usr/share/dbus-1/system.d/io.pagemeld1.conf").getroot()
    assert default in [p.get("group") for p in policy.iter("policy")]
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], check=True, capture_output=True,
                             text=True).stdout
    assert "systemd-sysusers" in depends or "systemd" in depends.split(", "), depends


def test_binaries_run_from_scratch_root(root):
    r = subprocess.run([str(root / "usr/bin/pagemeldctl"), "--version"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"pagemeldctl {meson_version()}"
    r = subprocess.run([str(root / "usr/bin/pagemeldctl"), "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0 and "Exit codes" in r.stdout
    if (root / "usr/sbin/pagemeldd").exists():
        r = subprocess.run([str(root / "usr/sbin/pagemeldd"), "--version"], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert meson_version() in r.stdout


def test_files_agree_with_each_other(root):
    """The unit, the activation file, the policy and hooks.d point at what
    the package really ships."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(root / "lib/systemd/system/pagemeld.service")
    exec_start = unit["Service"]["ExecStart"].split()[0]
    assert exec_start == "/usr/sbin/pagemeldd"
    assert unit["Service"]["BusName"] == "io.pagemeld1"
    if "usr/sbin/pagemeldd" in expected_files():
        assert os.access(root / exec_start.lstrip("/"), os.X_OK)

    act = configparser.ConfigParser(interpolation=None)
    act.optionxform = str
    act.read(root / "usr/share/dbus-1/system-services/io.pagemeld1.service")
    assert act["D-BUS Service"]["Name"] == unit["Service"]["BusName"]
    assert act["D-BUS Service"]["SystemdService"] == "pagemeld.service"

    policy = root / "usr/share/dbus-1/system.d/io.pagemeld1.conf"
    if policy.exists():
        tree = ET.parse(policy)  # well-formed
        assert any(e.get("own") == "io.pagemeld1" for e in tree.iter("allow"))

    hooks = list((root / "usr/share/containers/oci/hooks.d").glob("*.json")) \
        if (root / "usr/share/containers/oci/hooks.d").exists() else []
    for h in hooks:
        doc = json.loads(h.read_text())
        path = doc["hook"]["path"]
        assert (root / path.lstrip("/")).exists(), f"{h.name} runs {path}, not in the package"
        assert doc["stages"]

    # containerd: the setup script runs, and its default hook is shipped
    setup = root / "usr/libexec/pagemeld/pagemeld-containerd-setup"
    if setup.exists():
        assert os.access(setup, os.X_OK)
        hook = re.search(r"^HOOK=(\S+)$", setup.read_text(), re.M).group(1)
        assert (root / hook.lstrip("/")).exists(), f"pagemeld-containerd-setup runs {hook}, not in the package"


def test_man_pages_render(root):
    if not shutil.which("man"):
        pytest.fail("man not installed: scripts/install-deps.sh installs man-db")
    for page in (root / "usr/share/man").glob("man*/*.gz"):
        r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        assert r.returncode == 0, f"{page.name}: {r.stderr}"
        assert "NAME" in r.stdout and "SEE ALSO" in r.stdout, page.name

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Lint: every syscall of pagemeldd's own seccomp allow-list (daemon/seccomp.c)
must also pass pagemeld.service's SystemCallFilter= lines, or the daemon
would work in tests and fail under systemd. Groups are expanded with
`systemd-analyze syscall-filter`.
    check-syscall-filter.py UNIT SECCOMP_C"""
import re
import subprocess
import sys

cache = {}


def expand(group):
    if group in cache:
        return cache[group]
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            names |= expand(line) if line.startswith("@") else {line}
    cache[group] = names
    return names


def main(unit, seccomp_c):
    allow, deny = set(), set()
    for line in open(unit):
        m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
        if not m:
            continue
        names = set()
        for word in m.group(2).split():
            names |= expand(word) if word.startswith("@") else {word}
        (deny if m.group(1) else allow).update(names)
    if not allow:
        print("no SystemCallFilter= allow list in", unit)
        return 1
    src = open(seccomp_c).read()
    block = src[src.index("allowed[] = {"):]
    block = block[:block.index("};")]
    daemon = set(re.findall(r'"([a-z_0-9]+)"', block))
    # pagemeldd installs its filter with seccomp() and probes features with execve()
    daemon |= {"seccomp", "execve"}
    if len(daemon) < 50:
        print(f"parsed only {len(daemon)} syscalls from {seccomp_c}: has its allow-list moved?")
        return 1
    refused = sorted(n for n in daemon if n not in allow or n in deny)
    if refused:
        print("pagemeld.service refuses syscalls pagemeldd uses:", " ".join(refused))
        return 1
    print(f"pagemeld.service allows all {len(daemon)} syscalls of pagemeldd's allow-list")
    return 0


sys.exit(main(*sys.argv[1:]))

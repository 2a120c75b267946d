#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Layering lint for daemon/: one direction of dependency.

A module is a daemon/X.c with its X.h. Module A depends on B when A.c
includes B.h or calls a function B.c defines and B.h declares. The graph
must be acyclic except for the manager and its bus glue (manager.c <->
*-bus.c: the glue calls the manager, the manager hands output to the glue).
The pure modules (the rules, unit-tested alone) and the leaves (registry,
sweep, policy, persist, ...) depend on no other daemon module but pure ones. Exit 1 with the offending edges otherwise.

  check-layering.py [SOURCE_ROOT]   (default: this script's ../)
"""
import os
import re
import sys

PURE = {"annotations", "config", "budget-policy", "scan-policy", "trust-domain"}
# Modules below the budgets: they measure, list or decide, and call no daemon
# module but the pure ones (the registry is a leaf; the sweep only measures).
LEAVES = {"registry", "sweep", "policy", "persist", "unmerge-worker", "pidfd-util", "seccomp", "hook-server",
          "injector"}
MANAGER = "manager"


def is_glue(mod):
    return mod.endswith("-bus")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


def module_graph(daemon):
    mods = sorted(f[:-2] for f in os.listdir(daemon) if f.endswith(".c"))
    headers = {f[:-2] for f in os.listdir(daemon) if f.endswith(".h")}
    src = {m: open(os.path.join(daemon, m + ".c")).read() for m in mods}
    # the functions each module exports: declared in its header, defined in its .c
    exported = {}
    for m in mods:
        if m not in headers:
            continue
        h = strip_comments(open(os.path.join(daemon, m + ".h")).read())
        declared = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\(", h))
        body = strip_comments(src[m])
        defined = set(re.findall(r"^[a-zA-Z_][\w \*]*?\b([a-z_][a-z0-9_]*)\s*\([^;{]*\)\s*\{", body, re.M))
        for fn in declared & defined:
            exported[fn] = m
    edges = {}
    for m in mods:
        raw = src[m]
        for inc in re.findall(r'^#include "([^"]+)\.h"', raw, re.M):
            if inc != m and inc in src:
                edges.setdefault((m, inc), f'#include "{inc}.h"')
        body = strip_comments(raw)
        for fn in set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\(", body)):
            owner = exported.get(fn)
            if owner and owner != m:
                edges.setdefault((m, owner), f"calls {fn}()")
    return mods, edges


def allowed_cycle_edge(a, b):
    return (a == MANAGER and is_glue(b)) or (is_glue(a) and b == MANAGER)


def find_cycles(mods, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    succ = {m: sorted(b for (a, b) in edges if a == m) for m in mods}
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for m in mods:
        if m not in index:
            visit(m)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    mods, edges = module_graph(os.path.join(root, "daemon"))
    problems = []
    # the manager -> glue direction is the one allowed way back up
    acyclic = {e: why for e, why in edges.items() if not (e[0] == MANAGER and is_glue(e[1]))}
    for comp in find_cycles(mods, acyclic):
        inner = [f"  {a} -> {b} ({why})" for (a, b), why in sorted(acyclic.items())
                 if a in comp and b in comp]
        problems.append("cycle between " + ", ".join(comp) + ":\n" + "\n".join(inner))
    for (a, b), why in sorted(edges.items()):
        if a in PURE and b not in PURE:
            problems.append(f"pure module {a} depends on {b} ({why})")
        elif a in LEAVES and b not in PURE:
            problems.append(f"{a} is a leaf but depends on {b} ({why})")
        if is_glue(b) and not is_glue(a) and a not in (MANAGER, "introspect", "pagemeldd"):
            problems.append(f"{a} reaches the bus glue {b} ({why}): only the manager hands output to it")
    if "--edges" in sys.argv:
        for (a, b), why in sorted(edges.items()):
            print(f"{a} -> {b} ({why})")
    if problems:
        print("daemon/ layering (scripts/check-layering.py):", file=sys.stderr)
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    print(f"daemon/ layering: {len(mods)} modules, {len(edges)} edges, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())

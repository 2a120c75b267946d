# SPDX-License-Identifier: LGPL-2.1-or-later
"""The hostile-tenant tier: each test plays a tenant that attacks pagemeldd
(seccomp filters on the injected syscall, pid churn, crafted annotations,
floods of readers, racing exits) against the real daemon, run under its
unit's capabilities, and asserts what the victim and the daemon see.

It shares the integration tier's fixtures (private bus with the real policy,
Daemon, ScratchCgroup, KSM lock and knob restore): they are loaded here as
the module "pmtest"; tests import helpers with `from pmtest import ...`.
"""
import importlib.util
import pathlib
import sys

_INTEGRATION = pathlib.Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(_INTEGRATION))
_spec = importlib.util.spec_from_file_location("pmtest", _INTEGRATION / "conftest.py")
pmtest = importlib.util.module_from_spec(_spec)
sys.modules["pmtest"] = pmtest
_spec.loader.exec_module(pmtest)

from pmtest import bus, cgroup, daemon, ksm, manager, permissive_bus, sleeper, start_daemon, ws  # noqa: E402

__all__ = ["bus", "cgroup", "daemon", "ksm", "manager", "permissive_bus", "sleeper", "start_daemon", "ws"]


def __getattr__(name):
    """The integration tier's helpers (oci.py) import from "conftest", which
    in this tier is this module: hand them the integration conftest's names."""
    return getattr(pmtest, name)

# SPDX-License-Identifier: LGPL-2.1-or-later
"""The tier itself: its daemon fixture is pagemeldd as deployed, held to the
unit's capabilities, so every attacker below meets the real thing."""
from pmtest import capability_mask, proc_status_caps, unit_capabilities


def test_attackers_meet_the_daemon_as_deployed(daemon, manager):
    caps = proc_status_caps(daemon.pid)
    assert caps["CapBnd"] == capability_mask(unit_capabilities())
    assert manager.get("Version")

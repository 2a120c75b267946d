/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Self-confinement after start-up: a libseccomp allow-list of what the event
 * loop, sd-bus, the sysfs/cgroupfs/procfs readers, persistence and
 * lib/remote (ptrace, pidfd_open, process_vm_readv, waitid, ...) need.
 * Anything else fails with EPERM (no kill: a missed syscall becomes a
 * logged error, not a dead daemon). No execve, no new sockets, no mount,
 * no module loading, no bpf, no keyctl; socket() only for AF_UNIX (sd_notify).
 */

int seccomp_confine(void);
/* After seccomp_confine(): 0 when the forbidden probes (execve, socket,
 * mount, unshare) are refused with EPERM and the needed ones (pidfd_open,
 * ptrace of a child-less target, process_vm_readv, waitid) still reach the
 * kernel; -EPERM/-EIO with the reason logged otherwise. */
int seccomp_selftest(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prints lib/'s kernel feature probe and the KSM sysfs state: what the demo
 * shows first, and a quick look at a machine. */
#include <stdio.h>

#include "kernel-features.h"
#include "ksm-sysfs.h"
#include "log.h"

int main(void)
{
	KernelFeatures f;
	FeatureRoots roots = FEATURE_ROOTS_DEFAULT;
	int r = kernel_features_probe(&roots, &f);
	if (r < 0)
		return log_error_errno(r, "probing kernel features failed: %m"), 1;
	printf("Kernel features:\n");
	kernel_features_print(stdout, &f);
	kernel_features_done(&f);

	KsmState s;
	r = ksm_read_state(KSM_SYSFS_DIR, &s);
	if (r < 0)
		return log_error_errno(r, "reading " KSM_SYSFS_DIR " failed: %m"), 1;
	printf("\nKSM (" KSM_SYSFS_DIR "):\n");
	ksm_state_print(stdout, &s);
	return 0;
}

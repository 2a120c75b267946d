#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build localhost/pagemeld-demo:latest without a network: busybox-static and
# the static memfill workload (tests/helpers/memfill) in a rootfs tarball,
# imported with `podman import`. Honours CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF like podman itself.
#   scripts/demo-image.sh BUILD_DIR [IMAGE]
set -euo pipefail
build=${1:?usage: demo-image.sh BUILD_DIR [IMAGE]}
image=${2:-localhost/pagemeld-demo:latest}
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "$busybox is not static (apt-get install busybox-static)" >&2
	exit 1
fi
[ -x "$build/tests/memfill" ] || { echo "$build/tests/memfill missing: build first" >&2; exit 1; }
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/etc"
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh sleep cat ls ps echo; do ln -s busybox "$rootfs/bin/$applet"; done
cp "$build/tests/memfill" "$rootfs/bin/memfill"
tar -C "$rootfs" -c . | podman import --quiet - "$image" >/dev/null
echo "$image"

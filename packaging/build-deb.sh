#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the Debian package of this tree: dpkg-buildpackage needs debian/ at
# the source root, so copy the tree (tracked and untracked-but-not-ignored
# files, never build directories) to a temp dir, put packaging/debian there
# as debian/, and build.
#   packaging/build-deb.sh [OUTDIR]     (default: ./build-deb)
# DEB_BUILD_OPTIONS is honoured (nocheck skips the unit tests in the build).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$src/build-deb}" && cd "${1:-$src/build-deb}" && pwd)
version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
upstream=${version%-*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tree=$tmp/pagemeld-$upstream
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		(cd "$src" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
	tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -a "$src/packaging/debian" "$tree/debian"

cd "$tree"
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-"parallel=2"}
dpkg-buildpackage -b -us -uc >"$tmp/build.log" 2>&1 || {
	tail -60 "$tmp/build.log"
	echo "dpkg-buildpackage failed (log above)" >&2
	exit 1
}
for f in "$tmp"/*.deb; do
	cp "$f" "$out/"
	echo "$out/$(basename "$f")"
done

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `systemd-analyze verify` of pagemeld.service and pagemeld.socket (found
# next to the service) as installed, except that
# ExecStart points at the freshly built pagemeldd (verify insists the binary
# exists) and the man pages of Documentation= are the freshly built ones.
#   verify-unit.sh UNIT PAGEMELDD MANPAGE...
set -euo pipefail
unit=$1 daemon=$(realpath "$2") # meson passes build-relative paths
shift 2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (package systemd)"; exit 1; }
[ -x "$daemon" ] || { echo "not executable: $daemon"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/unit"
grep -q '^ExecStart=/usr/sbin/pagemeldd$' "$unit" || { echo "ExecStart is not /usr/sbin/pagemeldd"; exit 1; }
sed "s|^ExecStart=/usr/sbin/pagemeldd\$|ExecStart=$daemon|" "$unit" > "$tmp/unit/pagemeld.service"
cp "$(dirname "$unit")/pagemeld.socket" "$tmp/unit/"
for page in "$@"; do
	section=${page##*.}
	mkdir -p "$tmp/man/man$section"
	cp "$page" "$tmp/man/man$section/"
done
# A warning is a failure: verify prints and exits non-zero on hard errors,
# and we also refuse any output at all.
out=$(MANPATH="$tmp/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=yes "$tmp/unit/pagemeld.service" \
	"$tmp/unit/pagemeld.socket" 2>&1) || {
	echo "$out"
	exit 1
}
if [ -n "$out" ]; then
	echo "$out"
	exit 1
fi
echo "systemd-analyze verify: pagemeld.service, pagemeld.socket ok"
systemd-analyze security --offline=yes "$tmp/unit/pagemeld.service" 2>/dev/null | tail -1 || true

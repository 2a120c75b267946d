#!/usr/bin/env bash
# Compile the remote-control code (lib/remote*.c with the aarch64 arch file)
# with Debian's aarch64 cross compiler and the project's warning flags, so
# the architecture we cannot run here still builds. Suite lint.
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
if ! command -v "$cc" >/dev/null; then
	echo "$cc not installed (scripts/install-deps.sh installs gcc-aarch64-linux-gnu)"
	exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -O2 -Wall -Wextra -Werror -Wno-unused-parameter
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -fno-strict-aliasing -Ilib)
status=0
for f in lib/remote.c lib/remote-ptrace.c lib/remote-arch-aarch64.c lib/remote-pidfd.c lib/fileio.c \
	lib/ksm-stat.c lib/log.c; do
	[ -f "$f" ] || continue
	if "$cc" "${flags[@]}" -c "$f" -o "$out/$(basename "$f").o"; then
		echo "ok   $f"
	else
		echo "FAIL $f"
		status=1
	fi
done
# and it links: no symbol of the x86_64 arch file is missing on aarch64
if [ $status -eq 0 ]; then
	cat >"$out/main.c" <<'C'
#include "remote.h"
int main(void) { return remote_set_merge_any(-1, 1) == 0; }
C
	"$cc" "${flags[@]}" "$out/main.c" "$out"/*.o -o "$out/a.out" && echo "ok   link" || { echo "FAIL link"; status=1; }
fi
exit $status

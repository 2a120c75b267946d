#!/usr/bin/env bash
# The io.pagemeld1.Error.* names of lib/bus-contract.h are the contract:
# each one is sent by daemon/ and documented in api/io.pagemeld1.Manager.xml,
# and code and man pages spell no other. Suite lint.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
header=lib/bus-contract.h
xml=api/io.pagemeld1.Manager.xml
fail=0

# PM_ERROR_FOO PM_ERROR("Foo") -> "PM_ERROR_FOO Foo"
mapfile -t defs < <(sed -n 's/^#define \(PM_ERROR_[A-Z0-9_]*\) PM_ERROR("\([A-Za-z0-9]*\)")$/\1 \2/p' "$header")
[ ${#defs[@]} -gt 0 ] || { echo "$header: no PM_ERROR_* names found"; exit 1; }
names=()
for d in "${defs[@]}"; do
	macro=${d% *} name=${d#* }
	names+=("$name")
	if ! grep -qw -- "$macro" daemon/*.c; then
		echo "$header: $macro (io.pagemeld1.Error.$name) is sent nowhere in daemon/: remove it"
		fail=1
	fi
done

# The XML's "Errors (io.pagemeld1.Error.*):" block: one name per entry line.
mapfile -t documented < <(sed -n '/Errors (io\.pagemeld1\.Error\.\*):/,/^  [^ ]/{s/^    \([A-Z][A-Za-z0-9]*\) .*/\1/p}' "$xml")
for name in "${names[@]}"; do
	printf '%s\n' "${documented[@]}" | grep -qx -- "$name" ||
		{ echo "$xml: io.pagemeld1.Error.$name is not documented"; fail=1; }
done
for name in "${documented[@]}"; do
	printf '%s\n' "${names[@]}" | grep -qx -- "$name" ||
		{ echo "$xml: documents io.pagemeld1.Error.$name, which $header does not define"; fail=1; }
done

# Spelled out anywhere else, a name must be one of the contract's.
while IFS= read -r hit; do
	name=${hit##*io.pagemeld1.Error.}
	printf '%s\n' "${names[@]}" | grep -qx -- "$name" ||
		{ echo "${hit%%:*}: io.pagemeld1.Error.$name is not in $header"; fail=1; }
done < <(git ls-files lib daemon api runtime-hook packaging README.md | grep -v "^$header\$" |
	xargs grep -oH 'io\.pagemeld1\.Error\.[A-Za-z0-9]\+' | sort -u)
exit $fail

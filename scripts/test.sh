#!/usr/bin/env bash
# The README's test command: installs what is needed, builds pagemeld twice
# (plain, and with ASan+UBSan), runs every tier and prints one closing line
# "N passed, N failed, N skipped" over all of them. Exits non-zero on any
# failure. Run as root on Debian 12.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
py=/usr/bin/python3 # Debian's, which has pytest; not a pyenv shim
results=$src/build-results
rm -rf "$results"
mkdir -p "$results"
status=0

step() { printf '\n==== %s ====\n' "$*"; }
fail() { echo "FAILED: $*"; status=1; }

step "dependencies"
bash scripts/install-deps.sh || { echo "installing dependencies failed"; exit 1; }

step "build"
if [ ! -d build ]; then meson setup build >/dev/null || exit 1; fi
ninja -C build || exit 1

step "meson tests: unit, live, lint"
meson test -C build --no-suite vm --no-suite slow --print-errorlogs --num-processes 2 || fail "meson tests"
cp build/meson-logs/testlog.json "$results/meson-plain.json" 2>/dev/null

step "ASan+UBSan build: unit and live tests"
if [ ! -d build-asan ]; then
	CC=clang meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
ninja -C build-asan || exit 1
meson test -C build-asan --suite unit --suite live --print-errorlogs --num-processes 2 || fail "ASan+UBSan tests"
cp build-asan/meson-logs/testlog.json "$results/meson-asan.json" 2>/dev/null

step "integration tests (pytest)"
PAGEMELD_BUILD=$src/build $py -m pytest -v -p no:cacheprovider --junitxml="$results/pytest-integration.xml" \
	tests/integration
r=$?
[ $r -eq 0 ] || [ $r -eq 5 ] || fail "integration tests"

if ls tests/hostile/test_*.py >/dev/null 2>&1; then
	step "hostile-tenant tests (pytest)"
	PAGEMELD_BUILD=$src/build $py -m pytest -v -p no:cacheprovider --junitxml="$results/pytest-hostile.xml" \
		tests/hostile
	r=$?
	[ $r -eq 0 ] || [ $r -eq 5 ] || fail "hostile-tenant tests"
fi

if ls tests/vm/test_*.py >/dev/null 2>&1; then
	step "vm tests (qemu)"
	# The patched kernel boots in every run: kernel-patches/check builds it when
	# its cache (outside the clone, keyed by the series) is cold, 5-16 min on
	# 2 cores. PAGEMELD_KERNEL_VM=auto limits it to a warm cache (local runs).
	PAGEMELD_KERNEL_VM=${PAGEMELD_KERNEL_VM:-1} PAGEMELD_BUILD=$src/build \
		$py -m pytest -v -p no:cacheprovider --junitxml="$results/pytest-vm.xml" tests/vm
	r=$?
	[ $r -eq 0 ] || [ $r -eq 5 ] || fail "vm tests"
fi

if ls tests/node/test_*.py >/dev/null 2>&1; then
	step "node VM tests (the .deb on Debian 12 with systemd, qemu)"
	# Builds the .deb, boots it in a Debian 12 VM (root filesystem cached in
	# /var/cache/pagemeld-node, built with mmdebstrap when cold); each check
	# the guest runs is one test. Then once more on the patched kernel.
	PAGEMELD_BUILD=$src/build PAGEMELD_RESULTS=$results \
		$py -m pytest -v -p no:cacheprovider --junitxml="$results/pytest-node.xml" tests/node
	r=$?
	[ $r -eq 0 ] || [ $r -eq 5 ] || fail "node VM tests"
fi

if [ -x tests/fuzz/run.sh ]; then
	step "fuzzing"
	tests/fuzz/run.sh "$results" || fail "fuzzing"
fi

step "summary"
$py scripts/summarize-tests.py "$results" || status=1
exit $status

#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan+UBSan, their own build dir) and
# run each on its committed corpus, 60 s in all. Writes "<name> ok|fail"
# into <results-dir>/<name>.fuzz; crashes are kept in <results-dir>/fuzz-<name>/.
#   tests/fuzz/run.sh <results-dir> [total-seconds]
set -uo pipefail
results=$(realpath -m "${1:?usage: run.sh <results-dir> [total-seconds]}")
total=${2:-60}
cd "$(dirname "$0")/../.."
src=$PWD
build=$src/build-fuzz
mkdir -p "$results"

targets=(oci-state hook-wire registrations)

build_ok=1
if [ ! -d "$build" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dtests=disabled >"$results/fuzz-build.log" 2>&1 || build_ok=0
fi
if [ $build_ok = 1 ]; then
	ninja -C "$build" $(printf 'tests/fuzz/fuzz-%s ' "${targets[@]}") >>"$results/fuzz-build.log" 2>&1 || build_ok=0
fi

per=$((total / ${#targets[@]}))
status=0
for t in "${targets[@]}"; do
	name=fuzz-$t
	if [ $build_ok = 0 ]; then
		echo "$name fail" >"$results/$name.fuzz"
		echo "$name: build failed, see $results/fuzz-build.log"
		status=1
		continue
	fi
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$t/." "$work/"
	mkdir -p "$results/$name"
	# -max_len 65536: the parsers are linear; long inputs only slow the run.
	if (cd "$results/$name" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$build/tests/fuzz/$name" -max_total_time="$per" -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "$work") >"$results/$name.log" 2>&1; then
		echo "$name ok" >"$results/$name.fuzz"
		echo "$name: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$results/$name.log" | grep -o '[0-9]*$') runs)"
	else
		echo "$name fail" >"$results/$name.fuzz"
		echo "$name: FAILED, see $results/$name.log"
		tail -n 30 "$results/$name.log"
		status=1
	fi
	rm -rf "$work"
done
exit $status

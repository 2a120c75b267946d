#!/usr/bin/env bash
# The README's main job, for now (issue 7 turns it into the container demo):
# installs and builds pagemeld, prints the kernel feature probe, then runs
# three processes holding the same 64 MiB (plus 16 MiB each of their own),
# switches merging on with prctl, lets KSM merge them and prints how much
# memory was saved. Every KSM knob it touches is restored at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

build/tests/probe-features

ksm=/sys/kernel/mm/ksm
knobs=(pages_to_scan sleep_millisecs run)
declare -A saved
for k in "${knobs[@]}"; do saved[$k]=$(cat $ksm/$k); done
advisor=""
[ -e $ksm/advisor_mode ] && advisor=$(sed 's/.*\[\(.*\)\].*/\1/' $ksm/advisor_mode)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "$advisor" ] && echo "$advisor" >$ksm/advisor_mode
	for k in "${knobs[@]}"; do echo "${saved[$k]}" >$ksm/$k; done
}
trap cleanup EXIT

same=16384 unique=4096 # 64 MiB shared content, 16 MiB unique, per process
echo
echo "Starting 3 processes with $((same * 4 / 1024)) MiB of identical and $((unique * 4 / 1024)) MiB of unique pages each"
for i in 1 2 3; do
	build/tests/memfill --same $same --unique $unique --merge --sleep 120 --tag demo-$i >/dev/null &
	pids+=($!)
done
sleep 1
[ -n "$advisor" ] && echo none >$ksm/advisor_mode
echo 10000 >$ksm/pages_to_scan
echo 10 >$ksm/sleep_millisecs
echo 1 >$ksm/run
start=$(date +%s%N)
want=$((3 * same * 98 / 100))
while :; do
	merging=0
	for p in "${pids[@]}"; do
		merging=$((merging + $(awk '/^ksm_merging_pages/ {print $2}' /proc/$p/ksm_stat)))
	done
	[ $merging -ge $want ] && break
	if [ $(($(date +%s%N) - start)) -gt 60000000000 ]; then
		echo "KSM did not merge within 60 s"
		exit 1
	fi
	sleep 0.2
done
secs=$(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }')
sharing=$(cat $ksm/pages_sharing)
profit=$(cat $ksm/general_profit 2>/dev/null || echo 0)
page=$(getconf PAGESIZE)
echo
echo "Merged in $secs s:"
for p in "${pids[@]}"; do
	awk -v pid=$p '{ sub(":$", "", $1); printf "%s%s=%s", (NR > 1 ? " " : "  pid " pid ": "), $1, $2 } END { print "" }' \
		/proc/$p/ksm_stat
done
echo "  pages_shared=$(cat $ksm/pages_shared) pages_sharing=$sharing"
echo "  memory saved: $((sharing * page / 1024 / 1024)) MiB (pages_sharing x page size);" \
	"general_profit $((profit / 1024 / 1024)) MiB after KSM's own metadata"

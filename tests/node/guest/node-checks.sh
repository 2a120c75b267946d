#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The node VM's checks, run by pagemeld-node-checks.service after boot,
# through the installed files only (unit, D-Bus policy and activation file,
# hooks.d, pagemeldctl). Writes one line per check to $out:
#   RESULT name ok|fail detail...
#   FACT name value...
# tests/node/test_node.py turns each RESULT into one test.
set -u
here=/var/lib/pagemeld-node
out=$here/results
: >"$out"
# shellcheck disable=SC1091
[ -f $here/env ] && . $here/env
# CHECKS: "all", or the sections to run (node unit reload containers
# budget stop socket patched demo bench), space-separated
CHECKS=${CHECKS:-all}
export LC_ALL=C.UTF-8
want() {
	[ "$CHECKS" = all ] && [ "$1" != patched ] && [ "$1" != demo ] && [ "$1" != bench ] && return 0
	case " $CHECKS " in *" $1 "*) return 0 ;; esac
	return 1
}

say() { echo "node-checks: $*" >/dev/console; }
result() {
	local name=$1 verdict=$2
	shift 2
	echo "RESULT $name $verdict $*" >>"$out"
	say "$name $verdict $*"
	sync "$out"
}
fact() { echo "FACT $*" >>"$out"; sync "$out"; }
# check NAME COND_CMD DETAIL: ok when COND_CMD (a shell string) succeeds
check() { if eval "$2"; then result "$1" ok "${3:-}"; else result "$1" fail "${3:-}"; fi; }
wait_until() { # wait_until SECONDS CMD...
	local t=$(($1 * 10))
	shift
	while [ $t -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}
prop() { busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager "$1" 2>/dev/null | cut -d' ' -f2-; }
unitprop() { systemctl show -p "$1" --value pagemeld; }
ctl_list() { pagemeldctl list --json 2>/dev/null | tr -d ' \n'; }
states() { ctl_list | grep -o '"state":"[a-z-]*"' | cut -d'"' -f4 | sort | uniq -c | tr -s ' \n' ' '; }
active() { [ "$(systemctl is-active pagemeld)" = active ]; }
ksm_knobs() {
	local k
	for k in run pages_to_scan sleep_millisecs max_page_sharing use_zero_pages smart_scan merge_across_nodes advisor_mode; do
		[ -e /sys/kernel/mm/ksm/$k ] && printf '%s=%s ' $k "$(tr ' ' ',' </sys/kernel/mm/ksm/$k)"
	done
}
cgroup_of() { # the cgroup v2 dir of a podman container
	local pid
	pid=$(podman inspect --format '{{.State.Pid}}' "$1") || return 1
	echo "/sys/fs/cgroup$(cut -d: -f3 /proc/"$pid"/cgroup)"
}
ensure_image() {
	podman image exists localhost/pagemeld-demo:latest ||
		podman import --quiet $here/demo-image.tar localhost/pagemeld-demo:latest >/dev/null 2>&1
}
run_ctr() { # run_ctr NAME PODMAN-ARGS... IMAGE COMMAND...
	local name=$1
	shift
	podman run -d --name "$name" --network none --annotation merge.pagemeld.io=true \
		--annotation trust-domain.pagemeld.io=demo "$@" >/tmp/"$name".out 2>&1
}
MEMFILL=(/bin/memfill --same 4096 --unique 256 --sleep 0)
journal_since() { journalctl -u pagemeld --since "@$1" -o cat --no-pager 2>/dev/null; }
t_boot=$(date +%s)

say "start, uptime $(cut -d' ' -f1 /proc/uptime) s"
fact kernel "$(uname -r)"
fact uptime_at_checks "$(cut -d' ' -f1 /proc/uptime)"

# --- the node ---------------------------------------------------------------
sec_node() {
check pid1_systemd '[ "$(cat /proc/1/comm)" = systemd ]' "$(cat /proc/1/comm)"
controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
check cgroup_v2_memory '[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers' "$controllers"
fallocate -l 512M /swapfile && chmod 600 /swapfile && mkswap -q /swapfile && swapon /swapfile
check swap_file 'grep -q "^/swapfile" /proc/swaps' "$(tail -n +2 /proc/swaps | tr -s ' \t' ' ')"
}

# --- the unit ---------------------------------------------------------------
sec_unit() {
wait_until 60 active
check unit_active_notify 'active && [ "$(unitprop Type)" = notify ] && [ -n "$(unitprop StatusText)" ]' \
	"ActiveState=$(systemctl is-active pagemeld) Type=$(unitprop Type) StatusText=$(unitprop StatusText | tr ' ' _)"
pid=$(unitprop MainPID)
capbnd=$(grep CapBnd /proc/"$pid"/status | cut -f2)
capeff=$(grep CapEff /proc/"$pid"/status | cut -f2)
fact capabilities "CapBnd=$capbnd CapEff=$capeff"
# CAP_DAC_OVERRIDE(1) CAP_DAC_READ_SEARCH(2) CAP_SYS_PTRACE(19) CAP_SYS_NICE(23)
check unit_capabilities '[ "$capeff" = 0000000000880006 ] && [ "$capbnd" = 0000000000880006 ]' "CapBnd=$capbnd CapEff=$capeff"
features=$(pagemeldctl features 2>&1 | tr -s ' \n' ' ')
fact features "$features"
pm_status=$(pagemeldctl status 2>&1)
root_rc=$?
check ctl_root '[ $root_rc = 0 ]' "$(echo "$pm_status" | head -3 | tr -s ' \n' ' ')"
user_status=$(runuser -u pmuser -- pagemeldctl status 2>&1)
user_rc=$?
runuser -u pmuser -- pagemeldctl merge-across-nodes off >/dev/null 2>&1
user_write_rc=$?
check ctl_user '[ $user_rc = 0 ] && [ $user_write_rc = 3 ]' "status_rc=$user_rc write_rc=$user_write_rc (3 = access denied)"

exposure=$(systemd-analyze security pagemeld 2>/dev/null | grep -i "overall exposure" | tr -s ' ')
fact exposure "$exposure"
check analyze_security '[ -n "$exposure" ]' "$exposure"
}

# --- reload: an invalid file keeps the old configuration ---------------------
sec_reload() {
conf=/etc/pagemeld/pagemeld.conf
cp $conf /tmp/pagemeld.conf.orig
before=$(prop SweepIntervalUSec)
printf '[Daemon]\nSweepIntervalSec=not-a-number\n' >$conf
t0=$(date +%s)
systemctl reload pagemeld
reload_rc=$?
sleep 2
after=$(prop SweepIntervalUSec)
kept_log=$(journal_since "$t0" | grep -ci "keep\|invalid" || true)
cp /tmp/pagemeld.conf.orig $conf
check reload_keeps_old_config 'active && [ "$before" = "$after" ] && [ -n "$before" ] && [ "$kept_log" -gt 0 ]' \
	"reload_rc=$reload_rc SweepIntervalUSec=$before->$after log_lines=$kept_log"
# and a valid new one is taken
sed -i 's/^SweepIntervalSec=.*/SweepIntervalSec=3/' $conf
systemctl reload pagemeld
wait_until 10 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager SweepIntervalUSec | cut -d" " -f2)" = 3000000 ]'
check reload_takes_valid_config '[ "$(prop SweepIntervalUSec)" = 3000000 ]' "SweepIntervalUSec=$(prop SweepIntervalUSec)"
}

# --- containers through the installed hooks.d --------------------------------
sec_containers() {
ensure_image
check podman_image 'podman image exists localhost/pagemeld-demo:latest' "$(podman --version)"
hooks=$(ls /usr/share/containers/oci/hooks.d/ 2>/dev/null | tr '\n' ' ')
fact hooks_d "$hooks"
podman kube play --network none $here/example-pod.yaml >/tmp/kube.out 2>&1
kube_rc=$?
wait_until 60 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" -ge 3 ]'
check kube_play '[ $kube_rc = 0 ] && [ "$(prop ManagedContainers)" = 3 ]' \
	"rc=$kube_rc ManagedContainers=$(prop ManagedContainers) (3 opted in, the sidecar out) $(tail -1 /tmp/kube.out)"

run_ctr c-root localhost/pagemeld-demo:latest "${MEMFILL[@]}"
r1=$?
run_ctr c-user --user 1000:1000 localhost/pagemeld-demo:latest "${MEMFILL[@]}"
r2=$?
run_ctr c-userns --uidmap 0:200000:65536 --gidmap 0:200000:65536 localhost/pagemeld-demo:latest "${MEMFILL[@]}"
r3=$?
wait_until 60 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" -ge 6 ]'
n=$(prop ManagedContainers)
uid_user=$(awk '/^Uid:/ {print $2}' /proc/"$(podman inspect --format '{{.State.Pid}}' c-user)"/status)
uid_userns=$(awk '/^Uid:/ {print $2}' /proc/"$(podman inspect --format '{{.State.Pid}}' c-userns)"/status)
check containers_registered '[ $r1$r2$r3 = 000 ] && [ "$n" = 6 ] && [ "$uid_user" = 1000 ] && [ "$uid_userns" = 200000 ]' \
	"rc=$r1,$r2,$r3 ManagedContainers=$n host_uid(user)=$uid_user host_uid(userns)=$uid_userns $(cat /tmp/c-user.out | tail -1)"
fact states_before "$(states)"

t0=$(date +%s)
systemctl restart pagemeld
wait_until 60 active
wait_until 30 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" = 6 ]'
dropped=$(journal_since "$t0" | grep -c "Not restoring" || true)
check restart_restores_all 'active && [ "$(prop ManagedContainers)" = 6 ] && [ "$dropped" = 0 ]' \
	"ManagedContainers=$(prop ManagedContainers) not_restored=$dropped $(journal_since "$t0" | grep "Not restoring" | head -2 | tr '\n' ' ')"

restarts0=$(unitprop NRestarts)
pid0=$(unitprop MainPID)
t0=$(date +%s)
systemctl kill -s KILL pagemeld
sleep 1
wait_until 60 sh -c 'p=$(systemctl show -p MainPID --value pagemeld); [ "$(systemctl is-active pagemeld)" = active ] && [ "$p" != 0 ] && [ "$p" != '"$pid0"' ]'
wait_until 30 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" = 6 ]'
dropped=$(journal_since "$t0" | grep -c "Not restoring" || true)
check kill_restarts_and_restores 'active && [ "$(unitprop NRestarts)" -gt "$restarts0" ] && [ "$(prop ManagedContainers)" = 6 ] && [ "$dropped" = 0 ]' \
	"NRestarts=$restarts0->$(unitprop NRestarts) MainPID=$pid0->$(unitprop MainPID) ManagedContainers=$(prop ManagedContainers) not_restored=$dropped"

# every state a real one: merging (or over-budget/disabled), never unsupported
wait_until 30 sh -c 'pagemeldctl list --json | grep -q merging'
st=$(states)
fact states "$st"
check states_real '[ -n "$st" ] && ! echo "$st" | grep -q unsupported' "$st"
fact list "$(pagemeldctl list 2>&1 | tr -s ' ' | tr '\n' '|')"

# The reader group ([Daemon] ReaderGroup=, default pagemeld) comes with the
# package (sysusers.d, run by its postinst); a member estimates and reads
# per-cgroup figures, a user outside it may not estimate.
check reader_group_created 'getent group pagemeld >/dev/null && [ -f /usr/lib/sysusers.d/pagemeld.conf ]' \
	"group=$(getent group pagemeld) sysusers=$(cat /usr/lib/sysusers.d/pagemeld.conf 2>/dev/null | grep -v '^#' | tr -s ' \n' ' ')"
id pmreader >/dev/null 2>&1 || useradd -M -s /bin/sh -G pagemeld pmreader
cg=$(cgroup_of c-root | sed 's|^/sys/fs/cgroup||')
est=$(runuser -u pmreader -- pagemeldctl estimate --json "$cg" 2>&1)
est_rc=$?
reader_list=$(runuser -u pmreader -- pagemeldctl list --json 2>&1 | tr -d ' \n')
runuser -u pmuser -- pagemeldctl estimate "$cg" >/tmp/user-estimate.out 2>&1
user_est_rc=$?
scanned=$(echo "$est" | tr -d ' \n' | grep -o '"pages_scanned":[0-9]*' | head -1 | cut -d: -f2)
check reader_group_member '[ $est_rc = 0 ] && echo "$est" | tr -d " \n" | grep -qF "\"path\":\"$cg\"" && [ "${scanned:-0}" -gt 0 ] && echo "$reader_list" | grep -qF "\"path\":\"$cg\"" && [ $user_est_rc = 3 ]' \
	"estimate_rc=$est_rc pages_scanned=${scanned:-none} list_has_cgroup=$(echo "$reader_list" | grep -cF "$cg") non_member_estimate_rc=$user_est_rc (3 = access denied) $(echo "$est" | head -2 | tr -s ' \n' ' ')"
}

# --- a merge budget enforced -------------------------------------------------
sec_budget() {
busctl monitor --system io.pagemeld1 >/tmp/monitor.out 2>&1 &
mon=$!
sleep 1
run_ctr c-budget --annotation merge-budget.pagemeld.io=2Mi localhost/pagemeld-demo:latest /bin/memfill --same 8192 --unique 256 --sleep 0
rb=$?
cg=$(cgroup_of c-budget)
bpid=$(podman inspect --format '{{.State.Pid}}' c-budget)
wait_until 300 grep -q BudgetExceeded /tmp/monitor.out
seen=$(grep -c BudgetExceeded /tmp/monitor.out || true)
# the biggest merger has merge-any switched off (ptrace or pidfd ioctl)
scope=$(basename "$cg")
wait_until 60 sh -c "journalctl -u pagemeld -o cat | grep -q 'merge-any off in [0-9]* processes of .*$scope'"
off=$(journalctl -u pagemeld -o cat --no-pager | grep "merge-any off in [0-9]* processes of .*$scope" | head -1 | grep -o "merge-any off in [0-9]* processes")
oom=$(awk '/^oom_kill / {print $2}' "$cg"/memory.events)
bstate=$(pagemeldctl list --json 2>/dev/null | tr -d ' \n' | grep -o "\"path\":\"[^\"]*$scope\"[^}]*" | grep -o '"state":"[a-z-]*"' | cut -d'"' -f4)
kill $mon 2>/dev/null
check merge_budget_enforced '[ $rb = 0 ] && [ "$seen" -gt 0 ] && [ -n "$off" ] && [ "$oom" = 0 ] && podman inspect --format "{{.State.Running}}" c-budget | grep -q true' \
	"BudgetExceeded=$seen ($off) oom_kill=$oom state=$bstate cgroup=$cg"
}

# --- a swap budget written to memory.swap.max --------------------------------
sec_swap() {
run_ctr c-swap --annotation swap-budget.pagemeld.io=8Mi localhost/pagemeld-demo:latest "${MEMFILL[@]}"
rs=$?
scg=$(cgroup_of c-swap)
wait_until 30 sh -c "[ \"\$(cat $scg/memory.swap.max)\" = 8388608 ]"
check swap_budget_written '[ $rs = 0 ] && [ "$(cat "$scg"/memory.swap.max)" = 8388608 ]' "memory.swap.max=$(cat "$scg"/memory.swap.max) cgroup=$scg"
wait_until 30 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" = 8 ]'
n_before=$(prop ManagedContainers)
podman rm -f -t 0 c-swap >/dev/null 2>&1
wait_until 30 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" = 7 ]'
check container_gone_unregistered '[ "$n_before" = 8 ] && [ "$(prop ManagedContainers)" = 7 ]' "ManagedContainers=$n_before->$(prop ManagedContainers)"

oom_total=$(journalctl -k -o cat --no-pager | grep -c "Out of memory\|oom-kill" || true)
check nothing_oom_killed '[ "$oom_total" = 0 ]' "kernel OOM lines=$oom_total"
}

# --- stop: the KSM knobs stay as pagemeld.conf says; bus activation ------------
sec_stop() {
# pagemeld.conf: StartKsm=yes, ScanPolicy=pagemeld (pagemeldd tunes
# pages_to_scan/sleep_millisecs after each sweep), the other [Scan] knobs
# empty (the kernel's). Stopping resets nothing: KSM keeps running with the
# values last written, merged pages stay merged, nothing writes afterwards.
static_knobs() { ksm_knobs | tr ' ' '\n' | grep -v '^pages_to_scan=\|^sleep_millisecs=' | tr '\n' ' '; }
static_before=$(static_knobs)
systemctl stop pagemeld
after1=$(ksm_knobs)
sleep 3
after2=$(ksm_knobs)
sharing=$(cat /sys/kernel/mm/ksm/pages_sharing)
check stop_leaves_ksm_knobs '! active && [ "$static_before" = "$(static_knobs)" ] && [ "$after1" = "$after2" ] && [ "$(cat /sys/kernel/mm/ksm/run)" = 1 ] && [ "$sharing" -gt 0 ] && echo "$after2" | grep -q "max_page_sharing=256 use_zero_pages=0 .*merge_across_nodes=1"' \
	"before: $static_before after: $after2 pages_sharing=$sharing"
runuser -u pmuser -- pagemeldctl status >/tmp/activate.out 2>&1
act_rc=$?
wait_until 30 active
check bus_activation 'active && [ $act_rc = 0 ] && [ "$(prop ManagedContainers)" = 7 ]' \
	"ctl_rc=$act_rc ActiveState=$(systemctl is-active pagemeld) ManagedContainers=$(prop ManagedContainers)"
}

# --- socket activation: a container start starts the daemon --------------------
sec_socket() {
	ensure_image
	wait_until 60 active
	local n0 rc pid ino t0 holders p
	n0=$(prop ManagedContainers)
	# From here until the container runs, nothing may call the bus: D-Bus
	# activation would start the daemon instead of the socket.
	systemctl stop pagemeld
	local stopped sock
	stopped=$(systemctl is-active pagemeld)
	sock="$(systemctl is-enabled pagemeld.socket)/$(systemctl is-active pagemeld.socket)"
	t0=$(date +%s)
	run_ctr c-sock localhost/pagemeld-demo:latest "${MEMFILL[@]}"
	rc=$?
	wait_until 30 active
	pid=$(unitprop MainPID)
	# The listener at the socket's path is the one pid 1 holds, and pagemeldd
	# serves it (not a socket of its own).
	ino=$(awk '$8 == "/run/pagemeld/hook.sock" && $4 == "00010000" { print $7 }' /proc/net/unix | head -1)
	holders=""
	[ -n "$ino" ] && for p in 1 "$pid"; do
		ls -l /proc/"$p"/fd 2>/dev/null | grep -q "socket:\[$ino\]" && holders="$holders $p"
	done
	local hook_log
	hook_log=$(journalctl -t pagemeld-oci-hook --since "@$t0" -o cat --no-pager 2>/dev/null | head -3 | tr '\n' ' ')
	check socket_activation '[ "$stopped" != active ] && [ "$sock" = enabled/active ] && [ $rc = 0 ] && active && [ "$holders" = " 1 $pid" ] && [ "$(prop ManagedContainers)" = $((n0 + 1)) ] && [ -z "$hook_log" ]' \
		"before: pagemeld=$stopped socket=$sock; podman_rc=$rc ActiveState=$(systemctl is-active pagemeld) socket_inode=$ino held_by=$holders (pid1, MainPID=$pid) ManagedContainers=$n0->$(prop ManagedContainers) hook_log='$hook_log' $(head -c 200 /tmp/c-sock.out)"
}

# --- the patched kernel: the pidfd path ---------------------------------------
sec_patched() {
	check kernel_features_pidfd_ksm 'echo "$features" | grep -qw pidfd_ksm' "$features"
	ensure_image
	t0=$(date +%s)
	run_ctr c-pidfd --user 1000:1000 localhost/pagemeld-demo:latest "${MEMFILL[@]}"
	local rc=$? ppid
	wait_until 60 sh -c '[ "$(busctl get-property io.pagemeld1 /io/pagemeld1 io.pagemeld1.Manager ManagedContainers | cut -d" " -f2)" -ge 1 ]'
	ppid=$(podman inspect --format '{{.State.Pid}}' c-pidfd)
	wait_until 30 grep -q '^ksm_merge_any: yes' /proc/"$ppid"/ksm_stat
	backend=$(journalctl -u pagemeld -o cat --no-pager | grep -o "remote backend [a-z-]*" | tail -1)
	check register_without_ptrace '[ $rc = 0 ] && [ "$(prop ManagedContainers)" = 1 ] && grep -q "^ksm_merge_any: yes" /proc/$ppid/ksm_stat && [ "$backend" = "remote backend pidfd-ioctl" ]' \
		"rc=$rc ManagedContainers=$(prop ManagedContainers) $(grep ksm_merge_any /proc/"$ppid"/ksm_stat | tr -d ' ') $backend"
}

# --- the demo on a real node -------------------------------------------------
sec_demo() {
	ensure_image
	bash $here/demo-node.sh 2>&1 | tee $here/demo.out >/dev/console
	local rc=${PIPESTATUS[0]}
	check demo '[ $rc = 0 ] && grep -q "^DEMO-NODE-OK" $here/demo.out' "rc=$rc $(grep '^DEMO-NODE' $here/demo.out | tr '\n' ' ')"
}

# --- a benchmark's guest script ($BENCH, put here by make_image's extra) ------
sec_bench() {
	bash "$here/$BENCH" >$here/bench.out 2>&1
	local rc=$?
	check bench '[ $rc = 0 ]' "rc=$rc $(tail -3 $here/bench.out | tr '\n' ' ')"
}

for sec in node unit reload containers budget swap stop socket patched demo bench; do
	want $sec && sec_$sec
done

journalctl -u pagemeld -o short-monotonic --no-pager >$here/pagemeld.journal 2>&1
fact checks_seconds "$(($(date +%s) - t_boot))"
echo "END" >>"$out"
sync

#!/usr/bin/env bash
# bench/sample-cost.sh — what one memory sample costs memwarden (syscalls,
# microseconds) for a service of 1 process and of 50, and its CPU per hour
# at the default interval beside tini-static. Method and results:
# bench/README.md, "Memory sampling cost".
#
#   bench/sample-cost.sh            (from the repository root, as root; ~4.5 min)
#
# 1. syscalls per wake-up, from strace, of six cases (plain sample, sample
#    with the periodic memory event, metric = rss; services of 1 and BIG
#    processes) sampling every 100 ms; 2. µs on CPU per wake-up of the same
#    six at 10 ms, from /proc/PID/schedstat, beside a bare timer wake-up;
#    2b. µs per read of each file a sample reads; 3. CPU per hour at the
#    defaults against tini-static, services of 1 and BIG processes.
#
# Knobs (environment): MEMWARDEN=build/memwarden  BIG=50 (processes of the
# large service)  STRACE_WINDOW=11 (s, at 100 ms)  CPU_REPS=3  CPU_WINDOW=30
# (s, at 10 ms)  HOUR_REPS=3 (instances of each init)  HOUR_WINDOW=120 (s;
# keep it a multiple of 60)  SKIP_HOUR=1 (skip phase 3, for a quick check).
#
# Needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory (it
# makes one memory cgroup with a 1G limit per memwarden), strace, cc and
# /usr/bin/tini-static. Every memwarden runs as an ordinary child of this
# script (not as PID 1), stdin/stdout/stderr on /dev/null. Prints markdown
# on stdout; leaves no process, cgroup or file behind.
set -euo pipefail

MEMWARDEN=${MEMWARDEN:-build/memwarden}
BIG=${BIG:-50}
STRACE_WINDOW=${STRACE_WINDOW:-11}
CPU_REPS=${CPU_REPS:-3}
CPU_WINDOW=${CPU_WINDOW:-30}
HOUR_REPS=${HOUR_REPS:-3}
HOUR_WINDOW=${HOUR_WINDOW:-120}
SKIP_HOUR=${SKIP_HOUR:-0}
SETTLE=2 # seconds between the start of the instances and the first reading
CGROOT=/sys/fs/cgroup/memory

die() { echo "sample-cost: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it makes memory cgroups)"
[ -f "$CGROOT/memory.limit_in_bytes" ] || die "no cgroup v1 memory hierarchy at $CGROOT"
[ -x "$MEMWARDEN" ] || die "$MEMWARDEN not built (make build/memwarden)"
for c in strace cc timeout; do command -v "$c" >/dev/null || die "$c missing"; done
[ -x /usr/bin/tini-static ] || die "/usr/bin/tini-static missing (apt-get install -y tini)"

here=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/sample-cost.XXXXXX)
MW=$TMP/memwarden # a copy (below): a rebuild during the run must not mix two binaries
SHM= # tmpfs directory for the state files of the "state file on tmpfs" row
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	SHM=$(mktemp -d /dev/shm/sample-cost.XXXXXX)
fi
STATEDIR=$TMP # where start_mw puts the state file
CG=$CGROOT/mwbench-$$
PIDS=()   # every init (and tick) started in the background
TRACERS=() # strace processes
NCG=0     # cgroups made under $CG

# Every descendant of $1.
descendants() {
	local p c kids
	for p in /proc/"$1"/task/*/children; do
		kids=()
		# the file ends without a newline: read fails, kids is filled
		read -r -a kids <"$p" 2>/dev/null || true
		for c in "${kids[@]}"; do
			echo "$c"
			descendants "$c"
		done
	done
}

alive() { # the process exists and is not a zombie
	local s
	s=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$s" ] && [ "$s" != Z ]
}

# Stop instances: SIGTERM (each init forwards it to its service and exits
# when the service is gone, the normal path), then SIGKILL what is left.
# The services' processes are waited for too: under tini-static, the
# service's children die (PR_SET_PDEATHSIG) after tini has exited.
stop_all() {
	local pid _ d=() all=()
	for pid in "$@"; do
		mapfile -t d < <(descendants "$pid")
		all+=("${d[@]}")
	done
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
		if alive "$pid"; then
			mapfile -t d < <(descendants "$pid")
			kill -KILL "$pid" "${d[@]}" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	for pid in "${all[@]}"; do
		for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
		# orphans that died are reaped by PID 1: gone from /proc soon after
		for _ in $(seq 100); do [ -e /proc/"$pid" ] || break; sleep 0.05; done
	done
	return 0
}

rm_cgroups() {
	local i _
	[ -d "$CG" ] || return 0
	for i in $(seq "$NCG"); do
		[ -d "$CG/i$i" ] || continue
		for _ in $(seq 100); do rmdir "$CG/i$i" 2>/dev/null && break; sleep 0.05; done
	done
	rmdir "$CG" 2>/dev/null || echo "sample-cost: could not remove $CG" >&2
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local t
	for t in "${TRACERS[@]}"; do kill -INT "$t" 2>/dev/null || true; wait "$t" 2>/dev/null || true; done
	[ ${#PIDS[@]} -gt 0 ] && stop_all "${PIDS[@]}" 2>/dev/null
	rm_cgroups
	rm -rf "$TMP" ${SHM:+"$SHM"}
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$MEMWARDEN" "$MW"
cc -O2 -Wall -Wextra -Werror -o "$TMP/sampleload" "$here/sampleload.c"
mkdir "$CG"

# new_cgroup: a fresh memory cgroup with a 1G limit; sets CGDIR.
new_cgroup() {
	NCG=$((NCG + 1))
	CGDIR=$CG/i$NCG
	mkdir "$CGDIR"
	echo 1G >"$CGDIR/memory.limit_in_bytes"
}

# start_mw TAG PROCS INTERVAL KIND [extra -s settings]: memwarden in its own
# memory cgroup, sampling every INTERVAL, serving sampleload PROCS. KIND:
# plain (no periodic memory event in the window), event (one with every
# sample), rss (metric = rss), default (no setting changed). Sets PID.
start_mw() {
	local tag=$1 procs=$2 interval=$3 kind=$4 set=()
	case $kind in
	plain) set=(-s memory.interval="$interval" -s memory.fast_interval="$interval" -s log.memory_interval=1h) ;;
	event) set=(-s memory.interval="$interval" -s memory.fast_interval="$interval" -s log.memory_interval="$interval") ;;
	rss) set=(-s memory.interval="$interval" -s memory.fast_interval="$interval" -s log.memory_interval=1h -s memory.metric=rss) ;;
	default) set=() ;;
	esac
	new_cgroup
	# shellcheck disable=SC2016
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CGDIR" \
		"$MW" -s "status.state_file=$STATEDIR/mw-$tag.json" "${set[@]}" -- "$TMP/sampleload" "$procs" \
		</dev/null >/dev/null 2>/dev/null &
	PID=$!
	PIDS+=("$PID")
}

start_tini() { # start_tini PROCS
	/usr/bin/tini-static -s -- "$TMP/sampleload" "$1" </dev/null >/dev/null 2>/dev/null &
	PID=$!
	PIDS+=("$PID")
}

start_tick() { # start_tick MS
	"$TMP/sampleload" -t "$1" </dev/null >/dev/null 2>/dev/null &
	PID=$!
	PIDS+=("$PID")
}

run_ns() { cut -d' ' -f1 /proc/"$1"/schedstat; } # time on CPU, ns
vol() { awk '$1 == "voluntary_ctxt_switches:" { print $2 }' /proc/"$1"/status; }
invol() { awk '$1 == "nonvoluntary_ctxt_switches:" { print $2 }' /proc/"$1"/status; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "?"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }
# service size, checked: every process of the service has started
count_procs() { descendants "$1" | wc -l; }
wait_procs() { # wait_procs PID N: until PID has N descendants (5 s at most)
	local _
	for _ in $(seq 100); do [ "$(count_procs "$1")" -ge "$2" ] && return 0; sleep 0.05; done
	die "pid $1: the service did not reach $2 processes"
}

CASES=(plain:1 "plain:$BIG" event:1 "event:$BIG" rss:1 "rss:$BIG")
case_label() { # kind:procs
	local kind=${1%%:*} procs=${1##*:}
	case $kind in
	plain) echo "plain sample, $procs proc." ;;
	event) echo "sample + \`memory\` event, $procs proc." ;;
	rss) echo "metric = rss, $procs proc." ;;
	esac
}

# ---------------------------------------------------------------- machine
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mhz=$(awk -F': ' '/^cpu MHz/ { printf "%.0f", $2; exit }' /proc/cpuinfo)
procs=(/proc/[0-9]*)
echo "## Memory sampling cost — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs ($cpu, ${mhz} MHz), kernel $(uname -r), Debian $(cat /etc/debian_version)," \
	"cgroup v1 memory at $CGROOT; load average at start $(cut -d' ' -f1-3 /proc/loadavg), ${#procs[@]} processes."
echo "memwarden: $("$MW" --version 2>/dev/null | head -1) ($MEMWARDEN of $(date -u -r "$MEMWARDEN" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$MW" | cut -c1-12), $(size "$MW" 2>/dev/null | awk 'NR == 2 { printf "text %d kB", $1 / 1024 }')); $(dpkg-query -W -f '${Package} ${Version}' tini 2>/dev/null), $(dpkg-query -W -f '${Package} ${Version}' strace 2>/dev/null)."
echo

# --------------------------------------------- 1. syscalls per wake-up (strace)
# All six cases at once, sampling every 100 ms; one strace on each for
# STRACE_WINDOW seconds. The trace is cut into wake-ups at each epoll_pwait
# (the loop's one blocking call); the first, partial, and the last, maybe
# cut, are dropped. A wake-up is classed by what it holds: the state file
# rewritten (open of *.json.tmp.*: every 10 s, or when the measure moves by
# 1% of the limit), the memory event (write to fd 2), else plain.
TR=()
for c in "${CASES[@]}"; do
	start_mw "st-${c/:/-}" "${c##*:}" 100ms "${c%%:*}"
	TR+=("$PID")
done
for i in "${!CASES[@]}"; do wait_procs "${TR[$i]}" "${CASES[$i]##*:}"; done
sleep 1
for i in "${!CASES[@]}"; do
	timeout -s INT "$STRACE_WINDOW" strace -qq -e trace=all -o "$TMP/trace-$i" -p "${TR[$i]}" 2>/dev/null &
	TRACERS+=("$!")
done
for t in "${TRACERS[@]}"; do wait "$t" 2>/dev/null || true; done
TRACERS=()
stop_all "${TR[@]}"
PIDS=()

# segments FILE: one line per whole wake-up: CLASS TOTAL name=count,...
segments() {
	awk '
	function emit(   k, s, names, i, j, t) {
		n = 0
		for (k in c) names[++n] = k
		for (i = 2; i <= n; i++) { t = names[i]; for (j = i - 1; j >= 1 && names[j] > t; j--) names[j + 1] = names[j]; names[j + 1] = t }
		s = ""
		for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") names[i] " " c[names[i]]
		print (st ? "state" : ev ? "event" : "plain"), total, s
	}
	!/^[a-z_0-9]+\(/ { next }
	/^epoll_pwait\(/ { if (on) emit(); on = 1; total = 0; st = 0; ev = 0; delete c }
	on {
		name = $0; sub(/\(.*/, "", name); c[name]++; total++
		if (/^open/ && /\.json\.tmp\./) st = 1
		if (/^write\(2,/) ev = 1
	}' "$1"
}

echo "### 1. Syscalls per wake-up (strace, every case sampling every 100 ms, ${STRACE_WINDOW} s each, all at once)"
echo
echo "| case | wake-ups traced | syscalls per wake-up (median) | min–max | the most common wake-up |"
echo "|---|---:|---:|---:|---|"
state_rows=()
for i in "${!CASES[@]}"; do
	c=${CASES[$i]}
	segments "$TMP/trace-$i" >"$TMP/seg-$i"
	want=plain
	[ "${c%%:*}" = event ] && want=event
	awk -v w=$want '$1 == w' "$TMP/seg-$i" >"$TMP/seg-$i-w"
	n=$(wc -l <"$TMP/seg-$i-w")
	med=$(awk '{ print $2 }' "$TMP/seg-$i-w" | median)
	mm=$(awk '{ print $2 }' "$TMP/seg-$i-w" | minmax)
	common=$(cut -d' ' -f3- "$TMP/seg-$i-w" | sort | uniq -c | sort -rn | head -1 | sed 's/^ *[0-9]* //')
	echo "| $(case_label "$c") | $n | $med | $mm | $common |"
	# the state file's rewrite: its wake-ups against the plain ones
	ns=$(awk '$1 == "state"' "$TMP/seg-$i" | wc -l)
	if [ "$ns" -gt 0 ] && [ "$want" = plain ]; then
		smed=$(awk '$1 == "state" { print $2 }' "$TMP/seg-$i" | median)
		state_rows+=("$(case_label "$c"): $ns wake-up(s) with the state file rewritten, $smed syscalls (+$(awk -v a="$smed" -v b="$med" 'BEGIN { print a - b }'))")
	fi
done
echo
if [ ${#state_rows[@]} -gt 0 ]; then
	echo "State file (rewritten every 10 s, and when the measure moves by 1% of the limit), wake-ups that rewrote it:"
	echo
	for row in "${state_rows[@]}"; do echo "- $row"; done
	echo
fi

# ------------------------------------------ 2. CPU per wake-up (schedstat)
# CPU_REPS rounds; in each, the six cases and the bare timer (sampleload
# -t 10) run at once, every 10 ms, for CPU_WINDOW s. CPU time on CPU from
# /proc/PID/schedstat (ns), wake-ups from voluntary_ctxt_switches (the loop
# blocks only in epoll_pwait).
declare -A us rate pre
for r in $(seq "$CPU_REPS"); do
	pid_of=()
	for c in "${CASES[@]}"; do
		start_mw "cpu$r-${c/:/-}" "${c##*:}" 10ms "${c%%:*}"
		pid_of+=("$PID")
	done
	start_tick 10
	pid_of+=("$PID")
	for i in "${!CASES[@]}"; do wait_procs "${pid_of[$i]}" "${CASES[$i]##*:}"; done
	sleep "$SETTLE"
	ns0=() v0=() i0=()
	for p in "${pid_of[@]}"; do ns0+=("$(run_ns "$p")"); v0+=("$(vol "$p")"); i0+=("$(invol "$p")"); done
	sleep "$CPU_WINDOW"
	for k in "${!pid_of[@]}"; do
		p=${pid_of[$k]}
		dns=$(($(run_ns "$p") - ns0[k]))
		dv=$(($(vol "$p") - v0[k]))
		di=$(($(invol "$p") - i0[k]))
		us[$k]+="$(awk -v n="$dns" -v v="$dv" 'BEGIN { printf "%.2f", v ? n / v / 1000 : 0 }') "
		rate[$k]+="$(awk -v v="$dv" -v w="$CPU_WINDOW" 'BEGIN { printf "%.1f", v / w }') "
		pre[$k]+="$di "
	done
	stop_all "${pid_of[@]}"
	PIDS=()
done

tick_k=${#CASES[@]}
tick_us=$(tr ' ' '\n' <<<"${us[$tick_k]}" | grep . | median)
plain1_us=$(tr ' ' '\n' <<<"${us[0]}" | grep . | median)
declare -A cpu_us
echo "### 2. CPU time per wake-up (/proc/PID/schedstat, every 10 ms, ${CPU_WINDOW} s, median of $CPU_REPS rounds; all seven at once in each round)"
echo
echo "| case | wake-ups per s | µs on CPU per wake-up (median) | rounds min–max | above the bare timer wake-up | ratio to the plain sample, 1 proc. | preemptions per round |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for k in $(seq 0 "$tick_k"); do
	if [ "$k" = "$tick_k" ]; then label="bare timer wake-up (\`sampleload -t 10\`, the floor)"; else label=$(case_label "${CASES[$k]}"); fi
	m=$(tr ' ' '\n' <<<"${us[$k]}" | grep . | median)
	cpu_us[$k]=$m
	echo "| $label | $(tr ' ' '\n' <<<"${rate[$k]}" | grep . | median) | $m | $(tr ' ' '\n' <<<"${us[$k]}" | grep . | minmax) |" \
		"$(awk -v a="$m" -v b="$tick_us" 'BEGIN { printf "%+.1f µs", a - b }') |" \
		"$(awk -v a="$m" -v b="$plain1_us" 'BEGIN { printf "%.2f", b ? a / b : 0 }') |" \
		"$(tr ' ' '\n' <<<"${pre[$k]}" | grep . | median) |"
done
echo
echo "Per process walked (metric = rss, $BIG against 1 process): $(awk -v a="${cpu_us[5]}" -v b="${cpu_us[4]}" -v n="$BIG" 'BEGIN { printf "%.1f µs", (a - b) / (n - 1) }') each."
echo

# ------------------------------------------ 2b. each read of a sample alone
# sampleload -p/-o times READS reads of each file, on CPU, in a loop: the
# cgroup files as memwarden reads them (pread, fd kept open; the reader in
# a fresh 1G cgroup of its own), the /proc files of a BIG-process service
# as its walk does (open, read, close). Median of 3 batches, interleaved.
READS=2000
new_cgroup
"$TMP/sampleload" "$BIG" </dev/null >/dev/null 2>/dev/null &
svc=$!
PIDS+=("$svc")
wait_procs "$svc" $((BIG - 1))
mapfile -t kids < <(descendants "$svc")
leaf=${kids[0]}
CGFILES=(memory.usage_in_bytes memory.stat memory.oom_control memory.failcnt memory.max_usage_in_bytes)
PROCFILES=(/proc/"$leaf"/status /proc/"$svc"/task/"$svc"/children /proc/"$leaf"/task/"$leaf"/children /proc/"$leaf"/statm)
for r in 1 2 3; do
	# shellcheck disable=SC2016
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CGDIR" \
		"$TMP/sampleload" -p "$READS" "${CGFILES[@]/#/$CGDIR/}" >>"$TMP/reads"
	"$TMP/sampleload" -o "$READS" "${PROCFILES[@]}" >>"$TMP/reads"
done
stop_all "$svc"
PIDS=()
read_us() { awk -v f="$1" '$1 == f { print $2 }' "$TMP/reads" | median; }
read_bytes() { awk -v f="$1" '$1 == f { b = $3 } END { print b }' "$TMP/reads"; }
echo "### 2b. Each read alone (µs on CPU per read, $READS in a loop, median of 3 batches)"
echo
echo "| file | read by memwarden | bytes | µs per read |"
echo "|---|---|---:|---:|"
preads=0
for f in "${CGFILES[@]}"; do
	u=$(read_us "$CGDIR/$f")
	preads=$(awk -v a="$preads" -v b="$u" 'BEGIN { print a + b }')
	echo "| cgroup \`$f\` | pread, every sample | $(read_bytes "$CGDIR/$f") | $u |"
done
how=("open+read+close, per process walked" "open+read+close, per process walked (this one lists $((BIG - 1)))" "open+read+close, per process walked (empty)" "not read (for comparison: RSS alone)")
names=("\`/proc/PID/status\`" "\`/proc/PID/task/PID/children\` of the service's main process" "\`/proc/PID/task/PID/children\` of a leaf" "\`/proc/PID/statm\`")
for k in "${!PROCFILES[@]}"; do
	echo "| ${names[$k]} | ${how[$k]} | $(read_bytes "${PROCFILES[$k]}") | $(read_us "${PROCFILES[$k]}") |"
done
echo
echo "The five preads of a plain sample: $(awk -v a="$preads" 'BEGIN { printf "%.1f", a }') µs on CPU," \
	"of the $(awk -v a="${cpu_us[0]}" -v b="$tick_us" 'BEGIN { printf "%.1f", a - b }') µs a plain sample costs above the bare timer wake-up in phase 2."
echo

[ "$SKIP_HOUR" = 1 ] && exit 0

# -------------------------------------------- 3. CPU per hour at the defaults
# HOUR_REPS instances each of memwarden (defaults: interval 1 s, memory
# event every 60 s, state file every 10 s) and tini-static -s, with services
# of 1 and BIG processes, and of memwarden with its state file on tmpfs
# (1 process), all at once for HOUR_WINDOW s.
NAMES=("memwarden:1" "memwarden:$BIG" "tini-static:1" "tini-static:$BIG")
[ -n "$SHM" ] && NAMES+=("memwarden-tmpfs:1")
declare -A hns hv hpids
for rep in $(seq "$HOUR_REPS"); do
	for k in "${!NAMES[@]}"; do
		n=${NAMES[$k]}
		case ${n%%:*} in
		memwarden) start_mw "h$rep-$k" "${n##*:}" 1s default ;;
		memwarden-tmpfs) STATEDIR=$SHM start_mw "h$rep-$k" "${n##*:}" 1s default ;;
		tini-static) start_tini "${n##*:}" ;;
		esac
		hpids[$k]+="$PID "
	done
done
for k in "${!NAMES[@]}"; do for p in ${hpids[$k]}; do wait_procs "$p" "${NAMES[$k]##*:}"; done; done
sleep "$SETTLE"
declare -A n0 w0
for k in "${!NAMES[@]}"; do for p in ${hpids[$k]}; do n0[$p]=$(run_ns "$p"); w0[$p]=$(vol "$p"); done; done
sleep "$HOUR_WINDOW"
for k in "${!NAMES[@]}"; do
	for p in ${hpids[$k]}; do
		hns[$k]+="$(awk -v n="$(($(run_ns "$p") - n0[$p]))" -v w="$HOUR_WINDOW" 'BEGIN { printf "%.2f", n * 3600 / w / 1e6 }') "
		hv[$k]+="$(awk -v v="$(($(vol "$p") - w0[$p]))" -v w="$HOUR_WINDOW" 'BEGIN { printf "%.0f", v * 3600 / w }') "
	done
done
stop_all "${PIDS[@]}"
PIDS=()

echo "### 3. CPU per hour at the defaults (interval 1 s, \`memory\` event every 60 s; ${HOUR_WINDOW} s × 3600/${HOUR_WINDOW}; $HOUR_REPS instances of each, all $((HOUR_REPS * ${#NAMES[@]})) at once; median)"
echo
echo "| init | service | wake-ups per hour | CPU ms per hour (median) | instances min–max | % of one CPU | ratio to tini-static, same service |"
echo "|---|---:|---:|---:|---:|---:|---:|"
declare -A hmed
for k in "${!NAMES[@]}"; do hmed[$k]=$(tr ' ' '\n' <<<"${hns[$k]}" | grep . | median); done
for k in "${!NAMES[@]}"; do
	n=${NAMES[$k]}
	ref=${hmed[3]}
	[ "${n##*:}" = 1 ] && ref=${hmed[2]}
	label=${n%%:*}
	[ "$label" = memwarden-tmpfs ] && label="memwarden, state file on tmpfs"
	echo "| $label | ${n##*:} proc. | $(tr ' ' '\n' <<<"${hv[$k]}" | grep . | median) | ${hmed[$k]} | $(tr ' ' '\n' <<<"${hns[$k]}" | grep . | minmax) |" \
		"$(awk -v m="${hmed[$k]}" 'BEGIN { printf "%.4f%%", m / 3600e3 * 100 }') |" \
		"$(awk -v a="${hmed[$k]}" -v b="$ref" 'BEGIN { printf "%.2f", b ? a / b : 0 }') |"
done
echo
echo "From phase 2 (cache warm at 10 ms): 3600 plain samples + 60 memory events = $(awk -v p="${cpu_us[0]}" -v e="${cpu_us[2]}" 'BEGIN { printf "%.0f", (3600 * p + 60 * (e - p)) / 1000 }') ms (1 proc.)," \
	"$(awk -v p="${cpu_us[1]}" -v e="${cpu_us[3]}" 'BEGIN { printf "%.0f", (3600 * p + 60 * (e - p)) / 1000 }') ms ($BIG proc.) per hour, without the 360 state-file rewrites."
if [ -n "$SHM" ]; then
	echo "The 360 state-file rewrites an hour on $(findmnt -no FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP") against tmpfs (1 proc.):" \
		"$(awk -v a="${hmed[0]}" -v b="${hmed[4]}" 'BEGIN { printf "%+.0f ms per hour, %+.0f µs each", a - b, (a - b) * 1000 / 360 }')."
fi

#!/usr/bin/env bash
# bench/init-compare.sh — memwarden against tini, tini-static, dumb-init and
# catatonit, side by side in one run. Method and results: bench/README.md.
#
#   bench/init-compare.sh            (from the repository root; ~80 s)
#
# Knobs (environment): MEMWARDEN=build/memwarden  RUNS=300 (start-up runs per
# command)  WARMUP=20  RSS_REPS=5  IDLE_REPS=3  IDLE_WINDOW=60 (seconds)
# SKIP_IDLE=1 (skip the 60 s phase, for a quick check).
#
# Every init runs as an ordinary child of this script (not as PID 1), with
# stdin, stdout and stderr on /dev/null. Prints markdown on stdout; leaves no
# process and no file behind.
set -euo pipefail

MEMWARDEN=${MEMWARDEN:-build/memwarden}
RUNS=${RUNS:-300}
WARMUP=${WARMUP:-20}
RSS_REPS=${RSS_REPS:-5}
IDLE_REPS=${IDLE_REPS:-3}
IDLE_WINDOW=${IDLE_WINDOW:-60}
SKIP_IDLE=${SKIP_IDLE:-0}
HZ=$(getconf CLK_TCK)

here=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/init-compare.XXXXXX)
SHM= # a tmpfs directory for the extra "state file on tmpfs" start-up row
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	SHM=$(mktemp -d /dev/shm/init-compare.XXXXXX)
fi
PIDS=() # every init started in the background, for the cleanup
TIMER= # the background sleep of the idle phase

die() { echo "init-compare: $*" >&2; exit 1; }

# Every descendant of $1 (children first listed after their parent).
descendants() {
	local p c kids
	for p in /proc/"$1"/task/*/children; do
		# The file has no trailing newline: read fails yet fills kids.
		kids=()
		read -r -a kids <"$p" 2>/dev/null
		[ "${#kids[@]}" -gt 0 ] || continue
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

# Stop inits: SIGKILL their services (each init then reaps its child and
# exits on its own, the normal path), then SIGKILL whatever is left.
stop_inits() {
	local pid _ d=()
	for pid in "$@"; do
		mapfile -t d < <(descendants "$pid")
		if [ ${#d[@]} -gt 0 ]; then kill -KILL "${d[@]}" 2>/dev/null || true; fi
	done
	for pid in "$@"; do
		for _ in $(seq 50); do alive "$pid" || break; sleep 0.05; done
		if alive "$pid"; then
			mapfile -t d < <(descendants "$pid")
			kill -KILL "$pid" "${d[@]}" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$TIMER" ] && kill "$TIMER" 2>/dev/null
	[ ${#PIDS[@]} -gt 0 ] && stop_inits "${PIDS[@]}" 2>/dev/null
	rm -rf "$TMP" ${SHM:+"$SHM"}
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the inits
INITS=(baseline memwarden tini tini-static dumb-init catatonit)
# init_cmd NAME TAG CMD... : sets CMD to the argv that runs CMD under NAME.
init_cmd() {
	local name=$1 tag=$2
	shift 2
	case $name in
	baseline) CMD=("$@") ;;
	memwarden) CMD=("$MW" -s "status.state_file=$TMP/mw-$tag.json" -- "$@") ;;
	memwarden-tmpfs) CMD=("$MW" -s "status.state_file=$SHM/mw-$tag.json" -- "$@") ;;
	tini) CMD=(/usr/bin/tini -- "$@") ;;
	tini-static) CMD=(/usr/bin/tini-static -- "$@") ;;
	dumb-init) CMD=(/usr/bin/dumb-init "$@") ;;
	catatonit) CMD=(/usr/bin/catatonit -- "$@") ;;
	esac
}

for b in /usr/bin/tini /usr/bin/tini-static /usr/bin/dumb-init /usr/bin/catatonit; do
	[ -x "$b" ] || die "$b missing (apt-get install -y tini dumb-init catatonit)"
done
if [ -x "$MEMWARDEN" ]; then
	MW=$(cd "$(dirname "$MEMWARDEN")" && pwd)/$(basename "$MEMWARDEN")
else
	echo "init-compare: $MEMWARDEN not built (make build/memwarden); measuring the others only" >&2
	INITS=(baseline tini tini-static dumb-init catatonit)
fi
SERVED=("${INITS[@]:1}") # the inits proper, without the baseline

command -v cc >/dev/null || die "cc missing (apt-get install -y gcc)"
cc -O2 -Wall -Wextra -Werror -o "$TMP/spawnbench" "$here/spawnbench.c"

# ----------------------------------------------------------------- helpers
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' /proc/"$1"/status; }
rollup_kb() { awk -v k="$2:" '$1 == k { print $2 }' /proc/"$1"/smaps_rollup; }
cpu_ticks() { sed 's/.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'; } # utime+stime
run_ns() { cut -d' ' -f1 /proc/"$1"/schedstat; }                             # time on CPU
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "?"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# start NAME TAG CMD... : start NAME running CMD in the background; sets PID.
start() {
	local name=$1 tag=$2
	shift 2
	init_cmd "$name" "$tag" "$@"
	"${CMD[@]}" </dev/null >/dev/null 2>/dev/null &
	PID=$!
	PIDS+=("$PID")
}

# ---------------------------------------------------------------- machine
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
procs=(/proc/[0-9]*)
echo "## Init comparison — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs ($cpu), kernel $(uname -r), Debian $(cat /etc/debian_version)," \
	"load average at start $(cut -d' ' -f1-3 /proc/loadavg), ${#procs[@]} processes running."
echo "Versions: $(dpkg-query -W -f '${Package} ${Version}, ' tini dumb-init catatonit 2>/dev/null)$([ -n "${MW:-}" ] && "$MW" --version 2>/dev/null | head -1 || echo "memwarden not built")."
echo

# ------------------------------------------------- 1. RSS while a service runs
# RSS_REPS rounds; in each, one instance of every init runs `sleep 30`
# concurrently and is read after 1 s. Medians over the rounds.
declare -A rss hwm pss priv anon
for r in $(seq "$RSS_REPS"); do
	round=()
	declare -A pid_of=()
	for n in "${SERVED[@]}"; do
		start "$n" "rss$r" sleep 30
		pid_of[$n]=$PID
		round+=("$PID")
	done
	sleep 1
	for n in "${SERVED[@]}"; do
		p=${pid_of[$n]}
		alive "$p" || die "$n exited early (rerun it by hand: ${CMD[*]})"
		rss[$n]+="$(status_kb "$p" VmRSS) "
		hwm[$n]+="$(status_kb "$p" VmHWM) "
		anon[$n]+="$(status_kb "$p" RssAnon) "
		pss[$n]+="$(rollup_kb "$p" Pss) "
		priv[$n]+="$(($(rollup_kb "$p" Private_Clean) + $(rollup_kb "$p" Private_Dirty))) "
	done
	stop_inits "${round[@]}"
	PIDS=()
done

med_of() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo "### 1. Memory of the init while a service runs (\`INIT -- sleep 30\`, read after 1 s; median of $RSS_REPS)"
echo
echo "| init | VmRSS kB | VmHWM kB | RssAnon kB | Pss kB | Private kB | VmRSS vs tini-static | binary text kB (\`size\`) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
ref=$(med_of "${rss[tini-static]}")
for n in "${SERVED[@]}"; do
	v=$(med_of "${rss[$n]}")
	init_cmd "$n" x true
	bin=${CMD[0]}
	txt=$(size "$bin" 2>/dev/null | awk 'NR == 2 { printf "%d", $1 / 1024 }')
	file -L "$bin" 2>/dev/null | grep -q 'statically linked' || txt="$txt + libc.so"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$v" "$(med_of "${hwm[$n]}")" \
		"$(med_of "${anon[$n]}")" "$(med_of "${pss[$n]}")" "$(med_of "${priv[$n]}")" \
		"$(awk -v a="$v" -v b="$ref" 'BEGIN { printf "%+d kB", a - b }')" "$txt"
done
echo

# ------------------------------------------------------ 2. start-up overhead
# `INIT -- /bin/true` and plain /bin/true, RUNS times each, interleaved.
args=()
STARTUP=("${INITS[@]}")
# Extra row: memwarden with its state file on tmpfs instead of /tmp's disk,
# to separate the cost of the state file's writes from the rest.
[ -n "${MW:-}" ] && [ -n "$SHM" ] && STARTUP+=(memwarden-tmpfs)
for n in "${STARTUP[@]}"; do
	init_cmd "$n" startup /bin/true
	[ ${#args[@]} -gt 0 ] && args+=(::)
	args+=("$n" "${CMD[@]}")
done
"$TMP/spawnbench" "$RUNS" "$WARMUP" "${args[@]}" >"$TMP/startup.tsv"
rm -f "$TMP"/mw-startup.json* ${SHM:+"$SHM"/mw-startup.json*}

echo "### 2. Start-up overhead (\`INIT -- /bin/true\`, $RUNS runs each, round-robin; wall time of posix_spawn+waitpid)"
echo
echo "| command | median ms | p90 ms | min ms | overhead over /bin/true (median) | ratio to tini | ratio to /bin/true | failed runs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
	{ n[NR] = $1; med[NR] = $3; p90[NR] = $4; mn[NR] = $5; fail[NR] = $7
	  if ($1 == "tini") tini = $3; if ($1 == "baseline") base = $3 }
	END { for (i = 1; i <= NR; i++)
		printf "| %s | %.3f | %.3f | %.3f | %+.3f ms | %.2f | %.2f | %d |\n",
			n[i] == "baseline" ? "/bin/true (baseline)" : n[i] == "memwarden-tmpfs" ? "memwarden, state file on tmpfs" : n[i], med[i] / 1000, p90[i] / 1000,
			mn[i] / 1000, (med[i] - base) / 1000, med[i] / tini, med[i] / base, fail[i] }
' "$TMP/startup.tsv"
mw_start=$(awk -F'\t' '$1 == "memwarden" { m = $3 } $1 == "tini" { t = $3 } END { if (m != "") printf "%+.3f", (m - t) / 1000 }' "$TMP/startup.tsv")
mw_start_shm=$(awk -F'\t' '$1 == "memwarden-tmpfs" { m = $3 } $1 == "tini" { t = $3 } END { if (m != "") printf "%+.3f", (m - t) / 1000 }' "$TMP/startup.tsv")
echo

# ------------------------------------------------------ 3. idle CPU over 60 s
# IDLE_REPS instances of every init run `sleep IDLE_WINDOW+15` all at once;
# after 2 s of settling, CPU time and context switches are read, then again
# IDLE_WINDOW seconds later. Medians over the instances.
if [ "$SKIP_IDLE" = 1 ]; then
	echo "### 3. Idle CPU — skipped (SKIP_IDLE=1)"
else
	declare -A ipid
	for r in $(seq "$IDLE_REPS"); do
		for n in "${SERVED[@]}"; do
			start "$n" "idle$r" sleep $((IDLE_WINDOW + 15))
			ipid[$n.$r]=$PID
		done
	done
	sleep 2
	declare -A ns0 vcs0 ivcs0
	for k in "${!ipid[@]}"; do
		p=${ipid[$k]}
		alive "$p" || die "${k%.*} exited early"
		ns0[$k]=$(run_ns "$p")
		vcs0[$k]=$(status_kb "$p" voluntary_ctxt_switches)
		ivcs0[$k]=$(status_kb "$p" nonvoluntary_ctxt_switches)
	done
	sleep "$IDLE_WINDOW" & # in the background, so that a signal is handled at once
	TIMER=$!
	wait "$TIMER"
	TIMER=
	declare -A d_us d_vcs d_ivcs tot_ms rss_end
	for k in "${!ipid[@]}"; do
		p=${ipid[$k]}
		n=${k%.*}
		alive "$p" || die "$n exited during the idle window"
		d_us[$n]+="$((($(run_ns "$p") - ns0[$k]) / 1000)) "
		d_vcs[$n]+="$(($(status_kb "$p" voluntary_ctxt_switches) - vcs0[$k])) "
		d_ivcs[$n]+="$(($(status_kb "$p" nonvoluntary_ctxt_switches) - ivcs0[$k])) "
		tot_ms[$n]+="$(($(cpu_ticks "$p") * 1000 / HZ)) "
		rss_end[$n]+="$(status_kb "$p" VmRSS) "
	done
	stop_inits "${PIDS[@]}"
	PIDS=()

	echo "### 3. Idle service (\`INIT -- sleep $((IDLE_WINDOW + 15))\`, $IDLE_REPS instances of each init, all concurrent; median)"
	echo
	echo "| init | CPU in the ${IDLE_WINDOW} s window (µs, schedstat) | utime+stime since start (ms) | voluntary ctxt switches in window | involuntary | VmRSS at end kB |"
	echo "|---|---:|---:|---:|---:|---:|"
	for n in "${SERVED[@]}"; do
		printf '| %s | %s | %s | %s | %s | %s |\n' "$n" "$(med_of "${d_us[$n]}")" \
			"$(med_of "${tot_ms[$n]}")" "$(med_of "${d_vcs[$n]}")" \
			"$(med_of "${d_ivcs[$n]}")" "$(med_of "${rss_end[$n]}")"
	done
fi
echo

# ------------------------------------------------------------------ verdict
if [ -n "${MW:-}" ]; then
	mw_rss=$(med_of "${rss[memwarden]}")
	echo "### Targets"
	echo
	if [ "$mw_rss" -le "$ref" ]; then v=met; else v="NOT met"; fi
	echo "- RSS at or below tini-static's: memwarden $mw_rss kB vs tini-static $ref kB — **$v**."
	if [ "$SKIP_IDLE" != 1 ]; then
		a=$(med_of "${d_us[memwarden]}") b=$(med_of "${d_us[tini-static]}")
		wa=$(med_of "${d_vcs[memwarden]}") wb=$(med_of "${d_vcs[tini-static]}")
		if awk -v a="$a" -v b="$b" -v wa="$wa" -v wb="$wb" 'BEGIN { exit !(wa <= wb && a <= b * 1.5 + 50) }'; then v=met; else v="NOT met"; fi
		echo "- Idle CPU at or below tini-static's: memwarden ${a} µs / ${wa} wakeups vs tini-static ${b} µs / ${wb} wakeups in ${IDLE_WINDOW} s — **$v** (met = no more wakeups, CPU within noise: ≤ 1.5× + 50 µs)."
	fi
	if awk -v d="$mw_start" 'BEGIN { exit !(d <= 1.0) }'; then v=met; else v="NOT met"; fi
	echo "- Start-up within 1 ms of tini's: memwarden − tini = ${mw_start} ms (median, state file in /tmp) — **$v**.${mw_start_shm:+ With the state file on tmpfs: ${mw_start_shm} ms.}"
	echo
fi

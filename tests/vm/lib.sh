# shellcheck shell=sh disable=SC3043,SC2034
# (busybox ash has `local`; MW_RC, MW_PID are for the test scripts.)
# Sourced by every VM test script (run.py puts it at /test/lib.sh).
# The lines printed here are what run.py parses:
#   MWVM-PHASE: NAME          the memwarden run that follows is called NAME
#   MWVM-KV: KEY=VALUE        a figure the script measured
#   MWVM-FILE: PATH: LINE     a file's content, line by line
#   MWVM-NOTE: TEXT           anything worth reading when a test fails
# and nsrun's (workloads/nsrun.c) MWVM-NSRUN and MW|UPTIME|LINE lines.

MW=/test/memwarden
NSRUN=/test/bin/nsrun
CG=/sys/fs/cgroup
MW_LOG=/tmp/mw.log

kv() { echo "MWVM-KV: $1=$2"; }
note() { echo "MWVM-NOTE: $*"; }

show() {
	local f l
	for f; do
		if [ -r "$f" ]; then
			while IFS= read -r l; do echo "MWVM-FILE: $f: $l"; done <"$f"
		else
			echo "MWVM-FILE: $f: (absent)"
		fi
	done
}

# cg NAME [FILE=VALUE]...: makes the cgroup $CG/NAME and writes its files.
cg() {
	local d="$CG/$1" a
	shift
	mkdir -p "$d" || return 1
	for a; do
		if ! echo "${a#*=}" >"$d/${a%%=*}"; then
			note "cannot write ${a#*=} to $d/${a%%=*}"
			return 1
		fi
	done
}

# uptime: seconds since boot, as nsrun stamps memwarden's lines.
now() { cut -d' ' -f1 /proc/uptime; }

# mw_run PHASE CGROUP ARG...: runs "memwarden ARG..." as PID 1 of a new PID
# namespace, in $CG/CGROUP ("" leaves it in the script's cgroup), and waits
# for it, at most MW_TIMEOUT seconds (default 40). MW_RC is its status
# (128+N for signal N).
mw_run() {
	mw_start "$@" || return 1
	mw_wait_exit "${MW_TIMEOUT:-40}"
}

# mw_start PHASE CGROUP ARG...: the same in the background. MW_PID is
# memwarden's pid (as seen from here), MW_NSRUN that of nsrun.
mw_start() {
	local phase="$1" cgroup="$2" n=100
	shift 2
	echo "MWVM-PHASE: $phase"
	rm -f "$MW_LOG" /tmp/mw.pid
	if [ -n "$cgroup" ]; then
		"$NSRUN" --cgroup "$CG/$cgroup" --pidfile /tmp/mw.pid --log "$MW_LOG" -- "$MW" "$@" &
	else
		"$NSRUN" --pidfile /tmp/mw.pid --log "$MW_LOG" -- "$MW" "$@" &
	fi
	MW_NSRUN=$!
	while [ "$n" -gt 0 ] && [ ! -s /tmp/mw.pid ]; do
		sleep 0.05
		n=$((n - 1))
	done
	MW_PID=$(cat /tmp/mw.pid 2>/dev/null)
	[ -n "$MW_PID" ] || { note "nsrun gave no pid"; return 1; }
}

# mw_wait_exit SECONDS: waits for the background memwarden; after SECONDS
# it is killed (and the phase noted as timed out). Sets MW_RC.
mw_wait_exit() {
	local n=$(($1 * 10))
	while [ "$n" -gt 0 ] && kill -0 "$MW_NSRUN" 2>/dev/null; do
		# nsrun is our child: a zombie still answers kill -0, so look.
		grep -q '^State:.*Z' "/proc/$MW_NSRUN/status" 2>/dev/null && break
		sleep 0.1
		n=$((n - 1))
	done
	if [ "$n" -le 0 ]; then
		note "memwarden still running after $1 s: killing it"
		kv timeout 1
		kill -KILL "$MW_PID" 2>/dev/null
	fi
	wait "$MW_NSRUN"
	MW_RC=$?
}

# mw_wait_log STRING SECONDS: waits until memwarden's output contains
# STRING; 1 when it did not within SECONDS.
mw_wait_log() {
	local n=$(($2 * 10))
	while [ "$n" -gt 0 ]; do
		grep -qF "$1" "$MW_LOG" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	note "no '$1' from memwarden within $2 s"
	return 1
}

# wait_file FILE SECONDS
wait_file() {
	local n=$(($2 * 10))
	while [ "$n" -gt 0 ]; do
		[ -e "$1" ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	note "no $1 within $2 s"
	return 1
}

# mem_figures CGROUP: prints the cgroup's memory.current and the memory.stat
# fields memwarden reports, as MWVM-KV lines prefixed with "PREFIX.".
mem_figures() {
	local d="$CG/$1" p="$2" k v
	kv "$p.uptime" "$(now)"
	kv "$p.current" "$(cat "$d/memory.current")"
	while read -r k v; do
		case $k in
		anon | file | inactive_file | active_file | shmem) kv "$p.$k" "$v" ;;
		esac
	done <"$d/memory.stat"
}

#!/bin/bash
# valgrind tier: memwarden (the plain dynamic build, build/vg/memwarden)
# under memcheck, as PID 1 of its own PID namespace, through runs with
# restarts and a SIGTERM shutdown: no invalid access, no leak.
set -u
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
skipped=0
bin=build/vg/memwarden
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v valgrind >/dev/null; then
	echo "SKIP valgrind: needs root (PID namespace) and valgrind"
	echo "valgrind: 0 passed, 0 failed, 2 skipped"
	exit 0
fi

# exec: run in the background, the job's pid is unshare's, whose child is
# memwarden (under valgrind) — the pid to signal.
vg() {
	exec unshare --pid --fork --mount-proc \
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 \
		--child-silent-after-fork=yes --log-file="$tmp/vg.%p" \
		"$bin" -s "status.state_file=$tmp/state.json" "$@"
}

result() {
	local name=$1 want=$2 got=$3
	if [ "$got" = "$want" ] && ! grep -qs . "$tmp"/vg.*; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: exit status $got (want $want)"
		cat "$tmp"/vg.* 2>/dev/null | head -40 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
	rm -f "$tmp"/vg.*
}

# Three restarts with back-off, then giving up with the service's status.
(vg -s service.restart=on-failure -s service.max_restarts=3 \
	-s service.restart_backoff=50ms -- sh -c 'exit 3' 2>"$tmp/log1")
result "restarts and giveup under memcheck" 3 $?

# A SIGTERM shutdown with a forwarded signal on the way.
vg -s service.stop_timeout=2s -- sh -c 'trap "exit 7" TERM; trap "" HUP; while :; do sleep 0.1; done' \
	2>"$tmp/log2" &
up=$!
sleep 3
mw=$(cat /proc/$up/task/*/children 2>/dev/null | awk '{print $1}')
kill -HUP "$mw" 2>/dev/null
sleep 0.5
kill -TERM "$mw" 2>/dev/null
wait "$up"
result "forwarding and shutdown under memcheck" 7 $?

echo "valgrind: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

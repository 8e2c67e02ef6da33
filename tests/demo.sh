#!/bin/bash
# `make demo`: memwarden as PID 1 of its own PID namespace, in a memory
# cgroup with a 256 MB limit, supervising a small service that leaves
# orphans behind, grows its memory, takes a forwarded signal and is shut
# down by SIGTERM the way Kubernetes does it. Watch the log lines. Then the
# allocator's fragmentation shown by `memwarden release`, and a leak
# restarted gracefully before the limit.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (it makes a PID namespace and a memory cgroup, as a container runtime does)" >&2
	exit 1
fi
state=$(mktemp -d)
cg=""
cleanup() {
	[ -n "$cg" ] && rmdir "$cg" 2>/dev/null
	rm -rf "$state"
}
trap cleanup EXIT

# A memory cgroup with a limit: v1 where the memory controller is v1, else v2.
if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
	cg=/sys/fs/cgroup/memory/memwarden-demo-$$
	mkdir "$cg" && echo 256M >"$cg/memory.limit_in_bytes"
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	cg=/sys/fs/cgroup/memwarden-demo-$$
	mkdir "$cg" && echo 256M >"$cg/memory.max"
fi

service="
echo \"service: started as pid \$\$; leaving three orphans behind\"
for i in 1 2 3; do (sleep 0.2 &) ; done
trap 'echo service: got SIGHUP, reloading' HUP
trap 'echo service: got SIGTERM, finishing work...; kill \$hog 2>/dev/null; sleep 0.5; echo service: done; exit 0' TERM
echo 'service: growing to 120 MB'
build/workloads/memhog --grow 120 --rate 60 --hold 600 & hog=\$!
while :; do sleep 0.1; done
"
echo "# memwarden -s log.format=text -s log.memory_interval=1s -- sh -c '<service>'   (as PID 1${cg:+, in $cg with a 256 MB limit})"
(
	[ -n "$cg" ] && echo $BASHPID >"$cg/cgroup.procs"
	exec unshare --pid --fork --mount-proc build/memwarden -s log.format=text \
		-s log.memory_interval=1s -s "status.state_file=$state/demo.json" \
		-s service.name=demo -- sh -c "$service"
) &
up=$!
sleep 3
mw=$(cat /proc/$up/task/*/children | awk '{print $1}')
echo "# memwarden status"
build/memwarden status --state "$state/demo.json"
echo "# kill -HUP memwarden   (forwarded to the service)"
kill -HUP "$mw"
sleep 0.5
echo "# kill -TERM memwarden  (what docker stop / Kubernetes send)"
kill -TERM "$mw"
wait "$up"
echo "# memwarden exited with status $?"

# Act 2: the motivating incident's cause, shown in one command. A service
# on glibc's malloc that churns buffers in 4 threads: its arenas keep far
# more than it uses. `memwarden release` asks the preloaded agent to
# give memory back and prints what the allocator held and what was in use.
echo
echo "# --- a glibc service whose allocator holds more than it uses"
echo "# memwarden -s allocator.preload=none -- fragment --threads 4 --hold"
(
	exec unshare --pid --fork --mount-proc build/memwarden -q -s log.format=text \
		-s "status.state_file=$state/frag.json" -s service.name=frag \
		-s allocator.preload=none -- build/workloads/fragment --threads 4 --seconds 3 --hold
) >"$state/frag.out" &
up=$!
for _ in $(seq 100); do grep -q READY "$state/frag.out" 2>/dev/null && break; sleep 0.1; done
echo "# memwarden release"
build/memwarden release --state "$state/frag.json"
mw=$(cat /proc/$up/task/*/children | awk '{print $1}')
kill -TERM "$mw"
wait "$up"

# Act 3: a leak. memwarden restarts the service gracefully before the
# limit, again and again, and the kernel never OOM-kills it.
[ -n "$cg" ] || exit 0
echo
echo "# --- a service leaking 80 MB/s in the 256 MB cgroup: graceful restarts before the limit"
echo "# memwarden -s service.restart_backoff=200ms -- leaker --rate 80   (key events only)"
(
	echo $BASHPID >"$cg/cgroup.procs"
	exec unshare --pid --fork --mount-proc build/memwarden -s log.format=text \
		-s "status.state_file=$state/leak.json" -s service.name=leak \
		-s service.restart_backoff=200ms -s service.restart_backoff_max=400ms \
		-- build/workloads/leaker --rate 80 --max-mb 1024
) 2>&1 | grep --line-buffered -E "\] [a-z]+ (spawn|memory\.soft|memory\.hard|restart|exit|shutdown):" \
	| cut -c1-160 &
sleep 9
# memwarden itself, not the unshare that started it (same arguments after it).
pkill -TERM -f "^build/memwarden -s log.format=text -s status.state_file=$state/leak.json"
wait
echo "# the kernel's OOM kills in the cgroup: $(grep -h oom_kill "$cg"/memory.oom_control "$cg"/memory.events 2>/dev/null | grep -v disable | awk '{print $2}' | head -1)"

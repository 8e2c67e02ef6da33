#!/bin/bash
# `make demo`: memwarden as PID 1 of its own PID namespace, supervising a
# small service that leaves orphans behind, takes a forwarded signal and is
# shut down by SIGTERM the way Kubernetes does it. Watch the log lines.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (it makes a PID namespace, as a container runtime does)" >&2
	exit 1
fi
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT

service='
echo "service: started as pid $$; leaving three orphans behind"
for i in 1 2 3; do (sleep 0.2 &) ; done
trap "echo service: got SIGHUP, reloading" HUP
trap "echo service: got SIGTERM, finishing work...; sleep 0.5; echo service: done; exit 0" TERM
while :; do sleep 0.1; done
'
echo "# memwarden -s log.format=text -- sh -c '<service>'   (as PID 1)"
unshare --pid --fork --mount-proc build/memwarden -s log.format=text \
	-s "status.state_file=$state/demo.json" -s service.name=demo -- sh -c "$service" &
up=$!
sleep 1
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

#!/bin/sh
# Installs what building and testing memwarden needs, when it is missing.
# Needs root for apt-get; without root it only says what is missing.
set -eu

packages="gcc make libc6-dev libinih-dev libcgroup-dev libcmocka-dev python3 util-linux
procps file valgrind musl-tools libjemalloc2 libjemalloc-dev groff-base busybox-static
libsystemd-dev systemd strace cppcheck clang clang-tidy libclang-rt-dev"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2

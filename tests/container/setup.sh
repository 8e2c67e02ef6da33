#!/bin/bash
# Prepares the real-container tier (TESTING.md §3), as root:
#   - installs podman, runc and debootstrap when missing (apt-get);
#   - writes build/container/containers.conf (the settings podman needs on
#     these hosts) — callers export CONTAINERS_CONF=that path;
#   - builds a minimal Debian bookworm base image with debootstrap and
#     imports it into podman under the names a Dockerfile's FROM uses
#     (debian:bookworm, debian:12, their -slim variants), so that
#     `podman build --pull=never` of an unmodified Dockerfile works offline.
#
# Cached: nothing is done when the image is already there. The rootfs
# tarball is kept in build/container/ so that a fresh podman store is
# filled again by an import (seconds) instead of a debootstrap (~30 s).
# Remove build/container/ (or `make clean`) to start over.
#
# Exit status: 0 ready; 1 a step failed; 77 podman cannot be had here
# (not root, apt-get could not install it): the tier is then skipped.
# Prints the containers.conf path on its last stdout line.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
dir=$repo/build/container
conf=$dir/containers.conf
rootfs_tar=$dir/bookworm-rootfs.tar
base=localhost/memwarden-test-base:bookworm
# The names FROM lines use. A short name with --pull=never resolves to
# docker.io/library/NAME (the registries.conf short-name alias) or to
# localhost/NAME; both are tagged.
tags="docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
docker.io/library/debian:12 docker.io/library/debian:12-slim
localhost/debian:bookworm localhost/debian:bookworm-slim localhost/debian:12 localhost/debian:12-slim"

say() { echo "container-setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	say "needs root (apt-get, debootstrap, rootful podman)"
	exit 77
fi

mkdir -p "$dir"
# One setup at a time (two tiers, or two runs, starting together).
exec 9>"$dir/.lock"
flock 9

# 1. Packages.
missing=""
for p in podman runc debootstrap; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! apt-get install -y -qq --no-install-recommends $missing >&2; then
		apt-get update -qq >&2 || true
		# shellcheck disable=SC2086
		if ! apt-get install -y -qq --no-install-recommends $missing >&2; then
			say "apt-get could not install$missing"
			exit 77
		fi
	fi
fi

# 2. containers.conf: the default rlimits cannot be set without
# CAP_SYS_RESOURCE, and crun refuses the hybrid cgroup layout.
cat >"$conf.tmp" <<'EOF'
# Written by tests/container/setup.sh (TESTING.md §3). Use: CONTAINERS_CONF=<this file>
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$conf.tmp" "$conf"
export CONTAINERS_CONF=$conf

if ! podman info >/dev/null 2>"$dir/podman-info.err"; then
	say "podman cannot run here: $(tail -n 3 "$dir/podman-info.err")"
	exit 77
fi

# 3. The base image.
all_tagged() {
	local t
	podman image exists "$base" || return 1
	for t in $tags; do
		podman image exists "$t" || return 1
	done
}
if all_tagged; then
	echo "$conf"
	exit 0
fi

# The Debian mirror apt uses: the first URI of a deb822 .sources stanza or
# a one-line .list entry whose suites include bookworm (not -security).
mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk '
			function flush() { if (uri != "" && suites ~ /(^| )bookworm( |$)/ && types ~ /(^| )deb( |$)/) { print uri; exit } uri = ""; suites = ""; types = "" }
			/^[ \t]*$/ { flush(); next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { $1 = ""; suites = $0 " " }
			/^Types:/ { $1 = ""; types = $0 " " }
			END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") { print $i; exit } }' "$f"
	done
}

if [ ! -s "$rootfs_tar" ]; then
	m=$(mirror | head -n 1)
	m=${m:-http://deb.debian.org/debian}
	say "debootstrap --variant=minbase bookworm from $m (about 30 s)"
	rootfs=$dir/rootfs.tmp
	rm -rf "$rootfs"
	mkdir -p "$rootfs"
	if ! debootstrap --variant=minbase bookworm "$rootfs" "$m" >"$dir/debootstrap.log" 2>&1; then
		say "debootstrap failed; the end of $dir/debootstrap.log:"
		tail -n 20 "$dir/debootstrap.log" >&2
		rm -rf "$rootfs"
		exit 1
	fi
	# Like Debian's official image: the sources apt uses here (deb822, with
	# updates and security), no downloaded lists or package caches.
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
		rm -f "$rootfs/etc/apt/sources.list"
	fi
	rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
	tar --numeric-owner -C "$rootfs" -cf "$rootfs_tar.tmp" .
	mv "$rootfs_tar.tmp" "$rootfs_tar"
	rm -rf "$rootfs"
fi

say "importing the base image (about 7 s)"
podman import --quiet \
	--change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD=["bash"]' \
	--message "debootstrap --variant=minbase bookworm (tests/container/setup.sh)" \
	"$rootfs_tar" "$base" >/dev/null
for t in $tags; do
	podman tag "$base" "$t"
done
all_tagged || { say "the base image is not there after the import"; exit 1; }
echo "$conf"

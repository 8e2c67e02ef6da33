#!/bin/bash
# Prepares the VM tier (TESTING.md §2): qemu, a Debian cloud kernel and a
# base initramfs of busybox-static with our /init. Everything is cached in
# build/vm/ and rebuilt only when missing (the initramfs also when
# tests/vm/init.sh or this script is newer than it).
#
#   tests/vm/setup.sh        prepare (installs packages with apt-get as root)
#
# On success it prints nothing but a summary line on stderr and exits 0.
# It exits 1 with a message naming what is missing; run.py turns that into
# SKIP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1

VM=build/vm
HERE=tests/vm
mkdir -p "$VM"

die() {
	echo "vm setup: $*" >&2
	exit 1
}

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	apt_updated=1
	apt-get update -qq >&2 || echo "vm setup: apt-get update failed; trying with the lists there are" >&2
}

# --- packages -------------------------------------------------------------
missing=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" ||
	missing="$missing busybox-static"
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root, or apt-get install$missing)"
	echo "vm setup: installing$missing" >&2
	# shellcheck disable=SC2086
	if ! apt-get install -y -qq --no-install-recommends $missing >"$VM/apt.log" 2>&1; then
		apt_update
		# shellcheck disable=SC2086
		if ! apt-get install -y -qq --no-install-recommends $missing >"$VM/apt.log" 2>&1; then
			tail -n 20 "$VM/apt.log" >&2
			die "cannot install$missing with apt-get (log: $VM/apt.log)"
		fi
	fi
	rm -f "$VM/apt.log"
fi
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing although busybox-static is installed"

# --- kernel ---------------------------------------------------------------
if [ ! -s "$VM/vmlinuz" ]; then
	kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	if [ -z "$kpkg" ]; then
		apt_update
		kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	fi
	[ -n "$kpkg" ] || die "apt-cache depends linux-image-cloud-amd64 names no kernel package"
	tmp=$(mktemp -d "$PWD/$VM/kernel.XXXXXX") || die "cannot make a temporary directory"
	trap 'rm -rf "$tmp"' EXIT
	echo "vm setup: fetching $kpkg" >&2
	if ! (cd "$tmp" && apt-get download -qq "$kpkg" >&2 2>/dev/null); then
		apt_update
		(cd "$tmp" && apt-get download -qq "$kpkg" >&2) ||
			die "cannot fetch $kpkg with apt-get download (is Debian's mirror reachable?)"
	fi
	set -- "$tmp"/*.deb
	deb=$1
	[ -f "$deb" ] || die "apt-get download $kpkg left no .deb"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' ||
		die "no ./boot/vmlinuz-* in $deb"
	set -- "$tmp"/boot/vmlinuz-*
	mv "$1" "$VM/vmlinuz" || die "cannot write $VM/vmlinuz"
	echo "$kpkg" >"$VM/kernel.package"
	rm -rf "$tmp"
	trap - EXIT
fi

# --- base initramfs -------------------------------------------------------
if [ ! -s "$VM/base.gz" ] || [ "$HERE/init.sh" -nt "$VM/base.gz" ] ||
	[ "$HERE/setup.sh" -nt "$VM/base.gz" ]; then
	root=$(mktemp -d "$PWD/$VM/root.XXXXXX") || die "cannot make a temporary directory"
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,test,etc,root}
	cp "$BUSYBOX" "$root/bin/busybox"
	# `busybox --install -s` would write links to the host's paths: make them
	# here, each applet where busybox itself says it belongs.
	"$BUSYBOX" --list-full | while read -r applet; do
		[ "$applet" = bin/busybox ] && continue
		[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
	done
	install -m 0755 "$HERE/init.sh" "$root/init"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	(cd "$root" && find . | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) \
		>"$VM/base.gz.new" || die "cannot build the initramfs"
	mv "$VM/base.gz.new" "$VM/base.gz"
	rm -rf "$root"
	trap - EXIT
fi

echo "vm setup: ready ($(cat "$VM/kernel.package" 2>/dev/null || echo kernel), $VM/vmlinuz, $VM/base.gz)" >&2

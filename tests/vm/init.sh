#!/bin/sh
# /init of the VM tier's initramfs (tests/vm/setup.sh puts it there).
# Mounts what a container would see, with a real cgroup v2 memory
# controller, runs the test's /test/run.sh and prints its exit status on a
# line of its own, which is all the host looks at to judge the run.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
# The kernel's console is the serial line; the test's output goes there too.
exec </dev/null >/dev/console 2>&1
echo "MWVM-BOOT: $(uname -r)"
if echo +memory >/sys/fs/cgroup/cgroup.subtree_control && mkdir /sys/fs/cgroup/test; then
	if [ -x /test/run.sh ]; then
		cd /test && /bin/sh /test/run.sh
		rc=$?
	else
		echo "MWVM-ERROR: no /test/run.sh in the initramfs"
		rc=125
	fi
else
	echo "MWVM-ERROR: no cgroup v2 memory controller"
	rc=124
fi
echo "MWVM-STATUS: $rc"
sync
poweroff -f

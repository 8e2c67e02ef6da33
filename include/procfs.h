/*
 * The service's processes as /proc shows them: resident memory by kind
 * and the signals each one handles (the release signal is sent only to
 * processes with a handler for it).
 */
#ifndef MEMWARDEN_PROCFS_H
#define MEMWARDEN_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_mem {
	pid_t pid;
	char name[16];
	uint64_t rss, rss_anon, rss_file, rss_shmem, swap; /* bytes */
	uint64_t sig_caught; /* SigCgt: bit N-1 set when signal N has a handler */
	unsigned threads;
};

/* Parses /proc/PID/status (len bytes, no NUL needed). Name, Pid and
 * SigCgt must be there; memory lines may not be (zombies and kernel
 * threads have none: 0). Returns 0, or 1 when malformed or truncated,
 * leaving m unchanged. */
int parse_proc_status(const char *buf, size_t len, struct proc_mem *m);

/* Reads /proc/PID/status with one open, one read and one close. */
int procfs_read_status(pid_t pid, struct proc_mem *m);

/* Lists every descendant of memwarden (at most max), walking down from
 * its children through /proc/PID/task/TID/children: no scan of /proc.
 * Returns how many were stored; max means there may be more. A process
 * that exits during the walk is left out. */
size_t procfs_service_processes(struct proc_mem *out, size_t max);

/* Whether pid is a descendant of memwarden (walking up its parents). */
bool procfs_is_descendant(pid_t pid);

#endif

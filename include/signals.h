/*
 * Signals in memwarden: every signal is blocked and read from a signalfd
 * in the event loop ("a signal is an event like any other"). What
 * memwarden inherited — the mask and the ignored signals — is kept so that
 * the service gets exactly that back.
 *
 * Masks are the kernel's 64-bit sets, changed with raw syscalls: glibc
 * and musl each hide a few real-time signals (32–34) from sigprocmask,
 * and memwarden must block those too (an unblocked one with its default
 * action would kill memwarden when it is not PID 1) and hand the service
 * its inherited mask bit for bit.
 */
#ifndef MEMWARDEN_SIGNALS_H
#define MEMWARDEN_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#define KERNEL_NSIG 64

struct inherited_signals {
	uint64_t mask;	  /* bit N-1: signal N was blocked */
	uint64_t ignored; /* bit N-1: signal N's disposition was SIG_IGN */
};

/* Records what was inherited, makes SIGCHLD's disposition the default (an
 * ignored SIGCHLD would make the kernel reap children for us and lose
 * their status), blocks every signal and opens a signalfd for them.
 * Returns 0 and the fd in *fd, or 1 with errno set. */
int signals_setup(struct inherited_signals *inherited, int *fd);

/* In a forked child before exec: dispositions back to the default, or
 * SIG_IGN where memwarden inherited SIG_IGN, then the inherited mask.
 * Async-signal-safe. */
void signals_restore_inherited(const struct inherited_signals *inherited);

/* True for signals memwarden passes on to the service as they are. */
bool signal_is_forwarded(int signo);

#endif

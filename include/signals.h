/*
 * Signals in memwarden: every signal is blocked and read from a signalfd
 * in the event loop ("a signal is an event like any other"). What
 * memwarden inherited — the mask and the ignored signals — is kept so that
 * the service gets exactly that back.
 */
#ifndef MEMWARDEN_SIGNALS_H
#define MEMWARDEN_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

struct inherited_signals {
	sigset_t mask;    /* the mask memwarden was started with */
	sigset_t ignored; /* signals whose disposition was SIG_IGN */
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

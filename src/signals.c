#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "signals.h"

int
signals_setup(struct inherited_signals *inherited, int *fd)
{
	struct sigaction sa;
	sigset_t all;
	int sig;

	sigemptyset(&inherited->ignored);
	if (sigprocmask(SIG_SETMASK, NULL, &inherited->mask) != 0)
		return 1;
	for (sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, NULL, &sa) != 0)
			continue; /* 32 and 33 are glibc's own */
		if (sa.sa_handler == SIG_IGN)
			sigaddset(&inherited->ignored, sig);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		return 1;

	/* Blocked signals reach a PID 1 even when their disposition is the
	 * default: the kernel drops only unblocked default-action signals
	 * sent to an init, so nothing sent to us is lost. */
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, NULL) != 0)
		return 1;
	*fd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
	return *fd < 0;
}

void
signals_restore_inherited(const struct inherited_signals *inherited)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sa.sa_handler = sigismember(&inherited->ignored, sig) ? SIG_IGN : SIG_DFL;
		(void)sigaction(sig, &sa, NULL);
	}
	(void)sigprocmask(SIG_SETMASK, &inherited->mask, NULL);
}

bool
signal_is_forwarded(int signo)
{
	switch (signo) {
	case SIGCHLD: /* ours: reaping */
	case SIGTERM: /* ours: the shutdown sequence */
	case SIGKILL:
	case SIGSTOP:
		return false;
	default:
		return signo > 0 && signo < NSIG;
	}
}

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "signals.h"

#define SIGBIT(sig) (UINT64_C(1) << ((sig)-1))

static int
kernel_sigmask(int how, const uint64_t *set, uint64_t *old)
{
	return (int)syscall(SYS_rt_sigprocmask, how, set, old, sizeof(uint64_t));
}

int
signals_setup(struct inherited_signals *inherited, int *fd)
{
	struct sigaction sa;
	uint64_t all = ~UINT64_C(0);
	int sig;

	inherited->ignored = 0;
	if (kernel_sigmask(SIG_SETMASK, NULL, &inherited->mask) != 0)
		return 1;
	for (sig = 1; sig <= KERNEL_NSIG; sig++) {
		/* The libc's own signals fail here: memwarden never
		 * changes them, so the service inherits them as they are. */
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			inherited->ignored |= SIGBIT(sig);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		return 1;

	/* Blocked signals reach a PID 1 even when their disposition is the
	 * default: the kernel drops only unblocked default-action signals
	 * sent to an init, so nothing sent to us is lost. */
	if (kernel_sigmask(SIG_SETMASK, &all, NULL) != 0)
		return 1;
	*fd = (int)syscall(SYS_signalfd4, -1, &all, sizeof(all), SFD_NONBLOCK | SFD_CLOEXEC);
	return *fd < 0;
}

void
signals_restore_inherited(const struct inherited_signals *inherited)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	for (sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sa.sa_handler = (inherited->ignored & SIGBIT(sig)) ? SIG_IGN : SIG_DFL;
		(void)sigaction(sig, &sa, NULL);
	}
	(void)kernel_sigmask(SIG_SETMASK, &inherited->mask, NULL);
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
		return signo > 0 && signo <= KERNEL_NSIG;
	}
}

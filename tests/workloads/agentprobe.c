/*
 * agentprobe [--install sigaction|signal|sysv_signal|bsd_signal|none]
 *            [--signal N] [--fork-on-usr1]
 *
 * A service for the agent's tests (tests/integration/test_agent.py). It
 * installs its own handler for signal N (40) the way asked (none: leaves
 * the disposition alone), prints "READY <pid>", then waits in pause().
 * Each time its own handler has run it prints "OWN <count>". With
 * --fork-on-usr1, SIGUSR1 makes it fork a child (once per SIGUSR1) that
 * prints "CHILD <pid>" and waits the same way; the child never forks.
 * SIGTERM: the parent stops its children, waits for them and exits 0.
 * It exits by itself after 10 minutes, so nothing lingers.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 16

/* Declared by glibc only for X/Open before 2008. */
extern __sighandler_t bsd_signal(int, __sighandler_t);

static volatile sig_atomic_t own_count, forks_asked, stop;

static void
on_own(int sig)
{
	(void)sig;
	own_count++;
}

static void
on_usr1(int sig)
{
	(void)sig;
	forks_asked++;
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void catch (int sig, void (*h)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sigaction(sig, &sa, NULL);
}

static int
install(const char *how, int sig)
{
	if (strcmp(how, "sigaction") == 0)
		catch (sig, on_own);
	else if (strcmp(how, "signal") == 0)
		return signal(sig, on_own) == SIG_ERR;
	else if (strcmp(how, "sysv_signal") == 0)
		return sysv_signal(sig, on_own) == SIG_ERR;
	else if (strcmp(how, "bsd_signal") == 0)
		return bsd_signal(sig, on_own) == SIG_ERR;
	else if (strcmp(how, "none") != 0)
		return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *how = "none";
	int sig = 40, fork_on_usr1 = 0, i, nchildren = 0, is_child = 0, seen = 0, forked = 0;
	pid_t children[MAX_CHILDREN];
	time_t deadline = time(NULL) + 600;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--install") == 0 && i + 1 < argc)
			how = argv[++i];
		else if (strcmp(argv[i], "--signal") == 0 && i + 1 < argc)
			sig = atoi(argv[++i]);
		else if (strcmp(argv[i], "--fork-on-usr1") == 0)
			fork_on_usr1 = 1;
		else
			return 2;
	}
	if (install(how, sig) != 0)
		return 2;
	catch (SIGTERM, on_term);
	catch (SIGUSR1, on_usr1);
	printf("READY %d\n", (int)getpid());
	fflush(stdout);
	while (!stop && time(NULL) < deadline) {
		pause();
		if (own_count != seen) {
			seen = own_count;
			printf("OWN %d\n", seen);
			fflush(stdout);
		}
		while (fork_on_usr1 && !is_child && forked < forks_asked &&
		       nchildren < MAX_CHILDREN) {
			pid_t pid = fork();

			forked++;
			if (pid == 0) {
				is_child = 1;
				nchildren = 0;
				printf("CHILD %d\n", (int)getpid());
				fflush(stdout);
			} else if (pid > 0) {
				children[nchildren++] = pid;
			}
		}
	}
	for (i = 0; i < nchildren; i++) {
		kill(children[i], SIGTERM);
		waitpid(children[i], NULL, 0);
	}
	return 0;
}

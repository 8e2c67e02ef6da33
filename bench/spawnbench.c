/*
 * spawnbench — interleaved start-up timer for bench/init-compare.sh.
 *
 *   spawnbench RUNS WARMUP NAME CMD [ARG...] [:: NAME CMD [ARG...]]...
 *
 * Runs every command RUNS times, round-robin (one run of each command per
 * round, the starting command rotating from round to round), so that noise on
 * a shared machine falls on all commands alike instead of on whichever one
 * happened to be measured during a bad second. WARMUP untimed rounds come
 * first. One run = posix_spawn() of the command with stdin, stdout and stderr
 * on /dev/null, then waitpid(); the wall time of that pair is measured with
 * CLOCK_MONOTONIC.
 *
 * Output, one tab-separated line per command:
 *   NAME RUNS MEDIAN_US P90_US MIN_US MEAN_US FAILED
 * FAILED counts runs that did not exit 0 (they are still timed).
 *
 * A C harness rather than hyperfine: hyperfine measures one command after the
 * other (no interleaving) and, with --shell=none, still adds its own per-run
 * bookkeeping; here the harness cost is one posix_spawn+waitpid, the same for
 * every command, including the /bin/true baseline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
	const char *name;
	char **argv;
	double *us;
	int failed;
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, int n, double p)
{
	int k = (int)(p / 100.0 * n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static double median(const double *v, int n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int run_once(struct cmd *c, posix_spawn_file_actions_t *fa, double *us)
{
	pid_t pid;
	int status, err;
	double t0 = now_us();

	err = posix_spawn(&pid, c->argv[0], fa, NULL, c->argv, environ);
	if (err != 0) {
		fprintf(stderr, "spawnbench: %s: %s\n", c->argv[0], strerror(err));
		exit(1);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("spawnbench: waitpid");
			exit(1);
		}
	}
	*us = now_us() - t0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct cmd cmds[32];
	int ncmd = 0, runs, warmup, i, r, k;
	posix_spawn_file_actions_t fa;
	int devnull;

	if (argc < 5) {
		fprintf(stderr, "usage: spawnbench RUNS WARMUP NAME CMD [ARG...] [:: NAME CMD...]...\n");
		return 2;
	}
	runs = atoi(argv[1]);
	warmup = atoi(argv[2]);
	if (runs < 1 || warmup < 0) {
		fprintf(stderr, "spawnbench: bad RUNS or WARMUP\n");
		return 2;
	}
	for (i = 3; i < argc;) {
		if (ncmd == (int)(sizeof(cmds) / sizeof(cmds[0])) || i + 1 >= argc) {
			fprintf(stderr, "spawnbench: too many commands or NAME without CMD\n");
			return 2;
		}
		cmds[ncmd].name = argv[i];
		cmds[ncmd].argv = &argv[i + 1];
		cmds[ncmd].failed = 0;
		cmds[ncmd].us = calloc((size_t)runs, sizeof(double));
		if (!cmds[ncmd].us)
			return 1;
		for (i += 1; i < argc && strcmp(argv[i], "::") != 0; i++)
			;
		if (i < argc)
			argv[i++] = NULL; /* terminate this command's argv */
		ncmd++;
	}

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		perror("spawnbench: /dev/null");
		return 1;
	}
	posix_spawn_file_actions_init(&fa);
	for (k = 0; k < 3; k++)
		posix_spawn_file_actions_adddup2(&fa, devnull, k);

	for (r = -warmup; r < runs; r++) {
		int start = (r < 0 ? -r : r) % ncmd;
		for (k = 0; k < ncmd; k++) {
			struct cmd *c = &cmds[(start + k) % ncmd];
			double us;
			int rc = run_once(c, &fa, &us);
			if (r >= 0) {
				c->us[r] = us;
				if (rc != 0)
					c->failed++;
			}
		}
	}

	for (k = 0; k < ncmd; k++) {
		struct cmd *c = &cmds[k];
		double sum = 0;
		for (r = 0; r < runs; r++)
			sum += c->us[r];
		qsort(c->us, (size_t)runs, sizeof(double), cmp_double);
		printf("%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\n", c->name, runs, median(c->us, runs),
		       pct(c->us, runs, 90), c->us[0], sum / runs, c->failed);
	}
	return 0;
}

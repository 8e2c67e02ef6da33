/*
 * procfs.c: /proc/PID/status captured on this host (a python process
 * with a SIGUSR1 handler and a shared mapping, a kernel thread, a zombie),
 * cut short and broken; then the walk over a real tree of descendants,
 * one of them forked by a second thread.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "procfs.h"

static char *
load(const char *name, size_t *len)
{
	char path[512], *buf;
	const char *slash = strrchr(__FILE__, '/');
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%.*s/data/%s", slash ? (int)(slash - __FILE__) : 1,
		 slash ? __FILE__ : ".", name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

static char *
exact_copy(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);

	assert_non_null(b);
	memcpy(b, s, n);
	return b;
}

static void
python_status(void **state)
{
	struct proc_mem m;
	size_t len;
	char *b = load("proc.status.python", &len);

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(parse_proc_status(b, len, &m), 0);
	assert_string_equal(m.name, "python3");
	assert_int_equal(m.pid, 21066);
	assert_int_equal(m.rss, 38320ULL * 1024);
	assert_int_equal(m.rss_anon, 27392ULL * 1024);
	assert_int_equal(m.rss_file, 6832ULL * 1024);
	assert_int_equal(m.rss_shmem, 4096ULL * 1024);
	assert_int_equal(m.swap, 0);
	assert_int_equal(m.threads, 1);
	/* SIGUSR1 (10) has a handler: bit 9. */
	assert_int_equal(m.sig_caught, 0x200);
	assert_true(m.sig_caught & (1ULL << (SIGUSR1 - 1)));
	free(b);
}

static void
no_memory_lines(void **state)
{
	static const char *files[] = {"proc.status.kthread", "proc.status.zombie"};
	struct proc_mem m;
	size_t len, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		char *b = load(files[i], &len);

		memset(&m, 0xff, sizeof(m));
		assert_int_equal(parse_proc_status(b, len, &m), 0);
		assert_int_equal(m.rss, 0);
		assert_int_equal(m.rss_anon, 0);
		assert_int_equal(m.swap, 0);
		free(b);
	}
	{
		char *b = load("proc.status.kthread", &len);

		assert_int_equal(parse_proc_status(b, len, &m), 0);
		assert_string_equal(m.name, "kthreadd");
		assert_int_equal(m.pid, 2);
		free(b);
	}
}

/* Every prefix parses only when cut after a whole line that still has
 * Name, Pid and SigCgt before it, and never changes m when it fails. */
static void
truncated(void **state)
{
	struct proc_mem m, untouched;
	size_t len, n;
	char *b = load("proc.status.python", &len);
	const char *sig = strstr(b, "SigCgt:");
	size_t need = (size_t)(strchr(sig, '\n') - b) + 1;

	(void)state;
	for (n = 0; n < len; n++) {
		char *c = exact_copy(b, n);
		int rc;

		memset(&m, 0x5a, sizeof(m));
		untouched = m;
		rc = parse_proc_status(c, n, &m);
		if (rc != 0)
			assert_memory_equal(&m, &untouched, sizeof(m));
		else
			assert_true(n >= need && b[n - 1] == '\n');
		if (n >= need && b[n - 1] == '\n')
			assert_int_equal(rc, 0);
		free(c);
	}
	free(b);
}

static void
malformed(void **state)
{
	static const char *bad[] = {
	    "Pid:\t5\nSigCgt:\t0000000000000200\n",  /* no Name */
	    "Name:\tx\nSigCgt:\t0000000000000200\n", /* no Pid */
	    "Name:\tx\nPid:\t5\n",		     /* no SigCgt */
	    "Name:\tx\nPid:\t5\nSigCgt:\t00000000000002zz\n",
	    "Name:\tx\nPid:\t5\nSigCgt:\t00000000000000000\n", /* 17 digits */
	    "Name:\tx\nPid:\t5\nSigCgt:\t\n",
	    "Name:\tx\nPid:\tfive\nSigCgt:\t0\n",
	    "Name:\tx\nPid:\t0\nSigCgt:\t0\n",
	    "Name:\tx\nPid:\t5\nSigCgt:\t0\nVmRSS:\t  100\n",	 /* no unit */
	    "Name:\tx\nPid:\t5\nSigCgt:\t0\nVmRSS:\t  100 MB\n", /* another unit */
	    "Name:\tx\nPid:\t5\nSigCgt:\t0\nVmRSS:\t kB\n",
	    "Name:\tx\nPid:\t5\nSigCgt:\t0\nVmRSS:\t99999999999999999999 kB\n",
	    "Name:\tx\nPid:\t5\nSigCgt:\t0\nThreads:\tmany\n",
	    "Name:\tx\nPid:\t5\nSigCgt:\t0\nVmRSS:\t 100 kB", /* cut */
	};
	const char ok[] = "Name:\ta name that is too long for comm\nPid:\t5\nSigCgt:\t"
			  "FFFFFFFFFFFFFFFF\nVmRSSX:\tjunk\nVmSwap:\t 3 kB\n";
	struct proc_mem m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *c = exact_copy(bad[i], strlen(bad[i]));

		if (parse_proc_status(c, strlen(bad[i]), &m) == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
		free(c);
	}
	assert_int_equal(parse_proc_status(ok, strlen(ok), &m), 0);
	assert_string_equal(m.name, "a name that is ");
	assert_true(m.sig_caught == UINT64_MAX);
	assert_int_equal(m.swap, 3072);
	assert_int_equal(m.rss, 0);
}

static void
own_status(void **state)
{
	struct proc_mem m;

	(void)state;
	assert_int_equal(procfs_read_status(getpid(), &m), 0);
	assert_int_equal(m.pid, getpid());
	assert_true(m.rss > 0);
	assert_true(m.rss >= m.rss_anon);
	assert_int_equal(procfs_read_status(0, &m), 1);
}

/* ---- The walk over real descendants ---- */

static int ready[2];

static void
on_usr1(int sig)
{
	(void)sig;
}

/* Tells the test it is there, then waits to be killed. */
static void
stay(const char *name)
{
	char c = 'r';

	prctl(PR_SET_NAME, name);
	if (write(ready[1], &c, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static void *
forking_thread(void *arg)
{
	(void)arg;
	/* A child of this thread is listed in /proc/PID/task/TID/children
	 * of this thread, not of the main one. */
	if (fork() == 0)
		stay("mw-thread-kid");
	/* Stays: when a thread exits, its children pass to another thread. */
	for (;;)
		pause();
	return NULL;
}

static void
walk_finds_every_descendant(void **state)
{
	struct proc_mem list[64];
	pthread_t t;
	pid_t a, b, c;
	size_t n, i;
	int seen = 0;
	char ch;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	/* a: a plain child with a SIGUSR1 handler and 8 MB touched. */
	a = fork();
	if (a == 0) {
		char *p =
		    mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		signal(SIGUSR1, on_usr1);
		if (p != MAP_FAILED)
			memset(p, 1, 8 << 20);
		stay("mw-a");
	}
	/* b: two threads, each with a child of its own. */
	b = fork();
	if (b == 0) {
		if (pthread_create(&t, NULL, forking_thread, NULL) != 0)
			_exit(1);
		c = fork();
		if (c == 0)
			stay("mw-grandkid");
		stay("mw-b");
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(read(ready[0], &ch, 1), 1);

	n = procfs_service_processes(list, 64);
	for (i = 0; i < n; i++) {
		if (list[i].pid == a) {
			assert_string_equal(list[i].name, "mw-a");
			assert_true(list[i].rss_anon >= 8 << 20);
			assert_true(list[i].sig_caught & (1ULL << (SIGUSR1 - 1)));
			seen |= 1;
		} else if (list[i].pid == b) {
			assert_string_equal(list[i].name, "mw-b");
			assert_true(list[i].threads >= 1);
			seen |= 2;
		} else if (strcmp(list[i].name, "mw-grandkid") == 0) {
			seen |= 4;
		} else if (strcmp(list[i].name, "mw-thread-kid") == 0) {
			seen |= 8;
		}
	}
	print_message("%zu descendants\n", n);
	/* A limit smaller than the tree: no more than asked. */
	assert_int_equal(procfs_service_processes(list, 2), 2);

	/* The grandchildren first: they would outlive b. */
	for (i = 0; i < n; i++)
		if (list[i].pid != a && list[i].pid != b)
			kill(list[i].pid, SIGKILL);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	assert_int_equal(seen, 15);
	assert_int_equal(n, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(python_status), cmocka_unit_test(no_memory_lines),
	    cmocka_unit_test(truncated),     cmocka_unit_test(malformed),
	    cmocka_unit_test(own_status),    cmocka_unit_test(walk_finds_every_descendant),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

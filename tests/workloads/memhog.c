/*
 * memhog [--grow MB] [--rate MB_PER_S] [--cache PATH MB] [--hold SECONDS]
 *        [--ready PATH]
 *
 * A service whose memory the tests control. With --cache it first writes a
 * file of MB megabytes at PATH (page cache charged to its cgroup), then allocates --grow megabytes
 * of anonymous memory, touching every page, at --rate megabytes a second (0: at once), then writes
 * "ready" to the --ready file and holds everything for --hold seconds
 * (default 600) before exiting 0. On SIGTERM it exits 0 at once.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MB (1024L * 1024L)

static void
on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void
make_cache(const char *path, long mb)
{
	static char buf[1 << 20];
	long i;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	memset(buf, 'c', sizeof(buf));
	for (i = 0; i < mb; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			exit(2);
	/* Written once and never read back: clean pages on the inactive
	 * list, the reclaimable cache the working set leaves out. */
	fsync(fd);
	close(fd);
}

static void
grow(long mb, double rate)
{
	struct timespec pause = {0, 0};
	long i;
	char *p;

	if (rate > 0) {
		double s = 1.0 / rate;

		pause.tv_sec = (time_t)s;
		pause.tv_nsec = (long)((s - (double)pause.tv_sec) * 1e9);
	}
	for (i = 0; i < mb; i++) {
		p = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			exit(3);
		memset(p, (int)i | 1, MB);
		if (rate > 0)
			nanosleep(&pause, NULL);
	}
}

static void
write_ready(const char *path)
{
	char tmp[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "ready\n", 6) != 6 || close(fd) != 0 || rename(tmp, path) != 0)
		exit(2);
}

int
main(int argc, char **argv)
{
	const char *cache = NULL, *ready = NULL;
	long grow_mb = 0, cache_mb = 0, hold = 600;
	double rate = 0;
	int i;

	signal(SIGTERM, on_term);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--grow") == 0 && i + 1 < argc)
			grow_mb = atol(argv[++i]);
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (strcmp(argv[i], "--cache") == 0 && i + 2 < argc) {
			cache = argv[++i];
			cache_mb = atol(argv[++i]);
		} else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
			hold = atol(argv[++i]);
		else if (strcmp(argv[i], "--ready") == 0 && i + 1 < argc)
			ready = argv[++i];
		else {
			fprintf(stderr, "memhog: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (cache)
		make_cache(cache, cache_mb);
	grow(grow_mb, rate);
	if (ready)
		write_ready(ready);
	sleep((unsigned)hold);
	return 0;
}

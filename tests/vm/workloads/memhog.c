/*
 * memhog [--step MB] [--ready FILE] [--hold SECONDS] [--exit CODE] MB
 *
 * Allocates MB megabytes of anonymous memory STEP (default 1) at a time,
 * writing to every page so that it is charged, and says how far it got
 * every 8 MB ("memhog: 16 MB"). With all of it held it prints
 * "memhog: held MB MB", writes FILE (by rename) when --ready is given and
 * keeps the memory for SECONDS (default: until a signal kills it), then
 * exits with CODE (default 0).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MB (1024UL * 1024UL)

int
main(int argc, char **argv)
{
	unsigned long total = 0, step = 1, done = 0;
	const char *ready = NULL;
	long hold = -1;
	int code = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--step") == 0 && i + 1 < argc)
			step = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--ready") == 0 && i + 1 < argc)
			ready = argv[++i];
		else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
			hold = atol(argv[++i]);
		else if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc)
			code = atoi(argv[++i]);
		else
			total = strtoul(argv[i], NULL, 10);
	}
	if (total == 0 || step == 0) {
		fprintf(stderr, "usage: memhog [--step MB] [--ready FILE] [--hold SECONDS] "
				"[--exit CODE] MB\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (done < total) {
		unsigned long n = total - done < step ? total - done : step;
		char *p =
		    mmap(NULL, n * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("memhog: mmap");
			return 1;
		}
		memset(p, 0x5a, n * MB);
		done += n;
		if (done / 8 != (done - n) / 8)
			printf("memhog: %lu MB\n", done);
	}
	printf("memhog: held %lu MB\n", done);
	if (ready) {
		char tmp[4096];
		int fd;

		snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, "held\n", 5) != 5 || close(fd) < 0 ||
		    rename(tmp, ready) < 0) {
			perror(ready);
			return 1;
		}
	}
	if (hold < 0)
		for (;;)
			pause();
	sleep((unsigned)hold);
	return code;
}

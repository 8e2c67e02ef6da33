/*
 * hog MB
 *
 * Allocates MB megabytes, 1 MB at a time, writing to every page so that it
 * is charged to the memory cgroup at once; prints "hog: N MB" on stdout
 * every 16 MB. Under a smaller limit the kernel OOM-kills it on the way.
 * If it gets through, it prints "hog: done" and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	long mb, i;

	if (argc != 2 || (mb = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: hog MB\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i <= mb; i++) {
		char *p = malloc(1 << 20);

		if (!p) {
			printf("hog: malloc failed at %ld MB\n", i);
			return 1;
		}
		memset(p, (int)(i & 0xff) | 1, 1 << 20);
		if (i % 16 == 0)
			printf("hog: %ld MB\n", i);
	}
	printf("hog: done\n");
	return 0;
}

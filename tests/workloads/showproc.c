/*
 * showproc OUT [--hold] [VAR...]
 *
 * Writes what a service inherited to OUT (by rename, so it appears whole),
 * one "key value" per line:
 *   pid, ppid, pgid, sid, tcpgrp (foreground group of fd 0, or -1)
 *   SigBlk, SigIgn, Uid, Gid, Groups, Umask (from /proc/self/status)
 *   fd0, fd1, fd2: "TYPE DEV INO" (TYPE: pipe, reg, chr, sock, other, closed)
 *   cwd
 *   env.VAR value   (or "env.VAR <unset>")
 * then exits 0, or with --hold sleeps up to 10 minutes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
ftype(mode_t m)
{
	if (S_ISFIFO(m))
		return "pipe";
	if (S_ISREG(m))
		return "reg";
	if (S_ISCHR(m))
		return "chr";
	if (S_ISSOCK(m))
		return "sock";
	return "other";
}

int
main(int argc, char **argv)
{
	static const char *keys[] = {"SigBlk:", "SigIgn:", "Uid:", "Gid:", "Groups:", "Umask:"};
	char tmp[4096], line[1024], cwd[4096];
	FILE *f, *st;
	int i, hold = 0, first = 2;
	struct stat sb;

	if (argc < 2) {
		fprintf(stderr, "usage: showproc OUT [--hold] [VAR...]\n");
		return 2;
	}
	if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
		hold = 1;
		first = 3;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		return 1;
	}
	fprintf(f, "pid %d\nppid %d\npgid %d\nsid %d\ntcpgrp %d\n", (int)getpid(), (int)getppid(),
		(int)getpgid(0), (int)getsid(0), (int)tcgetpgrp(0));
	st = fopen("/proc/self/status", "r");
	if (!st) {
		perror("/proc/self/status");
		fclose(f);
		return 1;
	}
	while (fgets(line, sizeof(line), st)) {
		for (i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
			size_t n = strlen(keys[i]);

			if (strncmp(line, keys[i], n) == 0) {
				char *v = line + n;

				v[strcspn(v, "\n")] = 0;
				while (*v == ' ' || *v == '\t')
					v++;
				/* Tabs between the numbers become single spaces. */
				for (char *p = v; *p; p++)
					if (*p == '\t')
						*p = ' ';
				fprintf(f, "%.*s %s\n", (int)n - 1, keys[i], v);
			}
		}
	}
	fclose(st);
	for (i = 0; i < 3; i++) {
		if (fstat(i, &sb) != 0)
			fprintf(f, "fd%d closed 0 0\n", i);
		else
			fprintf(f, "fd%d %s %llu %llu\n", i, ftype(sb.st_mode),
				(unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	}
	if (getcwd(cwd, sizeof(cwd)))
		fprintf(f, "cwd %s\n", cwd);
	else
		fprintf(f, "cwd <error>\n");
	for (i = first; i < argc; i++) {
		const char *v = getenv(argv[i]);

		fprintf(f, "env.%s %s\n", argv[i], v ? v : "<unset>");
	}
	if (fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
		perror(argv[1]);
		return 1;
	}
	if (hold)
		sleep(600);
	return 0;
}

/*
 * Helpers shared by the libFuzzer targets in tests/fuzz/ (README.md there).
 *
 * Each target is one file with LLVMFuzzerTestOneInput; this header is
 * included by each, so everything here is static.
 */
#ifndef MEMWARDEN_FUZZ_H
#define MEMWARDEN_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A property the code under test promised and broke: abort, so that
 * libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A NUL-terminated malloc'd copy of n bytes (so that ASan sees a read past
 * the end of the input as the overflow it is). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* The next part of [*p, end) up to a NUL byte (or the end), moved past it. */
static inline char *
fuzz_next_part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
	size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
	char *s = fuzz_strndup(*p, n);

	*p += n + (nul != NULL);
	return s;
}

/*
 * A file whose content the target sets, for code that takes a path: a
 * memfd, opened by its /proc/self/fd/N name. Created once per process.
 */
struct fuzz_file {
	int fd;
	char path[64];
};

static inline void
fuzz_file_init(struct fuzz_file *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	if (f->fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

static inline void
fuzz_file_set(struct fuzz_file *f, const void *data, size_t n)
{
	if (ftruncate(f->fd, 0) != 0 || (n > 0 && pwrite(f->fd, data, n, 0) != (ssize_t)n) ||
	    lseek(f->fd, 0, SEEK_SET) != 0) {
		perror("fuzz_file_set");
		abort();
	}
}

/*
 * memwarden's log lines go to stderr, where libFuzzer reports too. Around
 * a call that logs, stderr is /dev/null; sanitizer reports go to a copy of
 * the real stderr all along, so a crash in there is still reported.
 */
static int fuzz_saved_stderr = -1, fuzz_devnull = -1;

static inline void
fuzz_quiet_init(void)
{
	if (fuzz_saved_stderr >= 0)
		return;
	fuzz_saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
	fuzz_devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fuzz_saved_stderr < 0 || fuzz_devnull < 0) {
		perror("fuzz_quiet_init");
		abort();
	}
	__sanitizer_set_report_fd((void *)(intptr_t)fuzz_saved_stderr);
}

static inline void
fuzz_quiet(bool on)
{
	if (dup2(on ? fuzz_devnull : fuzz_saved_stderr, STDERR_FILENO) < 0)
		abort();
}

#endif

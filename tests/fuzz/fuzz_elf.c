/*
 * preload_classify (preload.h): which loader, if any, the service's
 * program asks for, read from its ELF headers and PT_INTERP, or from a
 * script's #! line; and preload_lib_is_glibc on the same bytes. The
 * program is outside input: whatever the image holds.
 *
 * Input: the file. It is a memfd, classified by its /proc/self/fd path.
 */
#include <sys/stat.h>

#include "fuzz.h"
#include "preload.h"

static struct fuzz_file file;

/* classify follows a #! line to its interpreter, one level, with open(2):
 * an input naming a FIFO or a device would block or read the machine
 * rather than the input. Only regular files (or none) are followed. */
static bool
safe_shebang(const uint8_t *data, size_t size)
{
	char path[PRELOAD_PATH_MAX];
	size_t i = 2, n = 0;
	struct stat st;

	if (size < 3 || data[0] != '#' || data[1] != '!')
		return true;
	while (i < size && (data[i] == ' ' || data[i] == '\t'))
		i++;
	while (i < size && n < sizeof(path) - 1 && data[i] != '\0' && data[i] != ' ' &&
	       data[i] != '\t' && data[i] != '\n')
		path[n++] = (char)data[i++];
	path[n] = '\0';
	return stat(path, &st) != 0 || S_ISREG(st.st_mode);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_init(&file, "fuzz-elf");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char interp[PRELOAD_PATH_MAX], small[8];
	enum preload_elf k, k2;

	if (!safe_shebang(data, size))
		return -1;
	fuzz_file_set(&file, data, size);
	memset(interp, 0xa5, sizeof(interp));
	k = preload_classify(file.path, interp, sizeof(interp));
	FUZZ_CHECK(k >= PRELOAD_ELF_GLIBC && k <= PRELOAD_ELF_UNKNOWN);
	FUZZ_CHECK(memchr(interp, '\0', sizeof(interp)) != NULL);
	if (k == PRELOAD_ELF_GLIBC || k == PRELOAD_ELF_MUSL)
		FUZZ_CHECK(interp[0] != '\0');
	/* The same answer whatever room there is for the interpreter. */
	k2 = preload_classify(file.path, small, sizeof(small));
	FUZZ_CHECK(k2 == k && memchr(small, '\0', sizeof(small)) != NULL);
	(void)preload_lib_is_glibc(file.path);
	return 0;
}

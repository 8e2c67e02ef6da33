/*
 * /proc/PID/status (procfs.h): parse_proc_status, exactly len bytes. A
 * failure leaves the output alone; a success has the three lines it
 * requires and a terminated name.
 */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct proc_mem m, before;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	memset(&m, 0xa5, sizeof(m));
	memcpy(&before, &m, sizeof(m));
	if (parse_proc_status(buf, size, &m) != 0) {
		FUZZ_CHECK(memcmp(&m, &before, sizeof(m)) == 0);
	} else {
		FUZZ_CHECK(size > 0 && buf[size - 1] == '\n');
		FUZZ_CHECK(m.pid > 0);
		FUZZ_CHECK(memchr(m.name, '\0', sizeof(m.name)) != NULL);
		FUZZ_CHECK(m.rss % 1024 == 0 && m.rss_anon % 1024 == 0 && m.swap % 1024 == 0);
	}
	free(buf);
	return 0;
}

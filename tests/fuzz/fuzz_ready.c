/*
 * The tcp readiness probe's reading of /proc/net/tcp and tcp6 (ready.h):
 * ready_tcp_text_listens on the text, and ready_tcp_scan reading the same
 * text from a file through buffers of several sizes, which must agree.
 *
 * Input: 2 bytes of port (big-endian), 1 byte choosing the scan's buffer
 * size, then the file's text.
 */
#include "fuzz.h"
#include "ready.h"

static struct fuzz_file file;

/* The longest line of text, its newline not counted. */
static size_t
longest_line(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	size_t max = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > max)
			max = n;
		p += n + (nl != NULL);
	}
	return max;
}

static void
scan(uint16_t port, size_t cap, bool whole, size_t longest)
{
	char *buf = malloc(cap);
	bool listening = true;

	if (buf == NULL)
		abort();
	if (lseek(file.fd, 0, SEEK_SET) != 0)
		abort();
	FUZZ_CHECK(ready_tcp_scan(file.fd, port, buf, cap, &listening) == 0);
	/* A match is always a whole line; with every line shorter than the
	 * buffer, the scan sees what the whole text shows. */
	if (listening)
		FUZZ_CHECK(whole);
	if (longest < cap)
		FUZZ_CHECK(listening == whole);
	free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_init(&file, "fuzz-ready");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t port;
	size_t len, cap, longest;
	char *text;
	bool whole;

	if (size < 3)
		return 0;
	port = (uint16_t)(data[0] << 8 | data[1]);
	cap = 1 + data[2];
	len = size - 3;
	text = malloc(len ? len : 1);
	if (text == NULL)
		abort();
	memcpy(text, data + 3, len);
	whole = ready_tcp_text_listens(text, len, port);
	longest = longest_line(text, len);
	fuzz_file_set(&file, text, len);
	scan(port, cap, whole, longest);
	scan(port, READY_TCP_BUF, whole, longest);
	free(text);
	return 0;
}

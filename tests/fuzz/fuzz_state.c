/*
 * The state file's reader (state.h): `memwarden status` and `memwarden
 * release` read the JSON file in /run/memwarden with state_field, which
 * is not a general JSON parser. The file is memwarden's own, but anyone
 * who can write to that directory can put anything there.
 *
 * Input: the file's text. Every field memwarden reads is looked up with
 * buffers of several sizes. Then the first line of the input, escaped
 * as log.c's json_escape does (as state_write does), must read back the
 * same when it is printable ASCII.
 */
#include "fuzz.h"
#include "log.h"
#include "state.h"

/* What main.c reads (status, release), and the other fields. */
static const char *const keys[] = {"state",
				   "pid",
				   "ready",
				   "service",
				   "restarts",
				   "socket",
				   "service_pid",
				   "last_exit_status",
				   "last_restart_reason",
				   "updated",
				   "last_sample",
				   ""};

static void
roundtrip(const char *text)
{
	char line[512], json[3200], back[512];
	size_t n = strcspn(text, "\n"), len = 0, i;
	bool ascii = true;

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, text, n);
	line[n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			ascii = false;
	memcpy(json, "{\"socket\":\"", 11);
	len = 11;
	json_escape(json, &len, sizeof(json) - 3, line);
	FUZZ_CHECK(len <= sizeof(json) - 3);
	memcpy(json + len, "\"}", 3);
	FUZZ_CHECK(state_field(json, "socket", back, sizeof(back)) == 0);
	if (ascii)
		FUZZ_CHECK(strcmp(back, line) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = fuzz_strndup(data, size), out[256], tiny[2];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (state_field(json, keys[i], out, sizeof(out)) == 0)
			FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
		if (state_field(json, keys[i], tiny, sizeof(tiny)) == 0)
			FUZZ_CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
		FUZZ_CHECK(state_field(json, keys[i], out, 0) == 1);
	}
	roundtrip(json);
	free(json);
	return 0;
}

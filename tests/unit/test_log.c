/* Escaping of strings in log lines and the state file, and the state
 * file's round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "state.h"

static const char *
escaped(const char *in, size_t cap)
{
	static char buf[256];
	size_t len = 0;

	json_escape(buf, &len, cap, in);
	buf[len] = '\0';
	return buf;
}

static void
escapes_quotes_backslashes_and_controls(void **state)
{
	(void)state;
	assert_string_equal(escaped("a\"b\\c", 255), "a\\\"b\\\\c");
	assert_string_equal(escaped("line\nnext\ttab", 255), "line\\nnext\\ttab");
	assert_string_equal(escaped("\x01\x1f\x7f", 255), "\\u0001\\u001f\\u007f");
}

static void
keeps_utf8_and_replaces_invalid_bytes(void **state)
{
	(void)state;
	assert_string_equal(escaped("caf\xc3\xa9", 255), "caf\xc3\xa9");
	assert_string_equal(escaped("\xff\xc3(", 255), "\\ufffd\\ufffd(");
	/* A sequence cut short at the end of the string. */
	assert_string_equal(escaped("a\xe2\x82", 255), "a\\ufffd\\ufffd");
}

static void
never_writes_past_the_capacity(void **state)
{
	char buf[8];
	size_t len = 0;

	(void)state;
	memset(buf, 'X', sizeof(buf));
	json_escape(buf, &len, 5, "\"\"\"\"\"\"");
	assert_true(len <= 5);
	assert_int_equal(buf[5], 'X');
	len = 0;
	json_escape(buf, &len, 3, "\xc3\xa9\xc3\xa9");
	assert_true(len <= 3);
}

static void
state_file_round_trip(void **state)
{
	char path[] = "/tmp/memwarden-test-state-XXXXXX", value[64];
	struct service_state_info info = {
	    .pid = 1,
	    .service_pid = 42,
	    .service = "web\"app",
	    .state = "running",
	    .ready = true,
	    .restarts = 3,
	    .last_restart_reason = NULL,
	    .last_exit_status = -1,
	};
	char *json = NULL;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(state_write(path, &info), 0);
	assert_int_equal(state_read(path, &json), 0);
	assert_int_equal(state_field(json, "state", value, sizeof(value)), 0);
	assert_string_equal(value, "running");
	assert_int_equal(state_field(json, "ready", value, sizeof(value)), 0);
	assert_string_equal(value, "true");
	assert_int_equal(state_field(json, "service_pid", value, sizeof(value)), 0);
	assert_string_equal(value, "42");
	assert_int_equal(state_field(json, "last_restart_reason", value, sizeof(value)), 0);
	assert_string_equal(value, "null");
	assert_int_equal(state_field(json, "no_such_key", value, sizeof(value)), 1);
	assert_non_null(strstr(json, "\"service\":\"web\\\"app\""));
	free(json);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(escapes_quotes_backslashes_and_controls),
	    cmocka_unit_test(keeps_utf8_and_replaces_invalid_bytes),
	    cmocka_unit_test(never_writes_past_the_capacity),
	    cmocka_unit_test(state_file_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

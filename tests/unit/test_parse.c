/*
 * The value parsers of config.c: sizes, durations, percents, signals,
 * booleans and shell-like word splitting, at their boundaries.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "parse.h"

static void
size_ok(const char *s, uint64_t want)
{
	uint64_t got = 12345;

	if (parse_size(s, &got) != 0)
		fail_msg("parse_size(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s, (unsigned long long)got,
			 (unsigned long long)want);
}

static void
size_bad(const char *s)
{
	uint64_t got = 12345;

	if (parse_size(s, &got) == 0)
		fail_msg("parse_size(\"%s\") accepted it as %llu", s, (unsigned long long)got);
	assert_int_equal(got, 12345);
}

static void
test_size_units(void **state)
{
	(void)state;
	size_ok("0", 0);
	size_ok("1", 1);
	size_ok("1024", 1024);
	size_ok("512B", 512);
	size_ok("512b", 512);
	size_ok("512K", 512ULL << 10);
	size_ok("512k", 512ULL << 10);
	size_ok("1KB", 1024);
	size_ok("1kb", 1024);
	size_ok("1Ki", 1024);
	size_ok("1KiB", 1024);
	size_ok("1kib", 1024);
	size_ok("64M", 64ULL << 20);
	size_ok("64Mi", 64ULL << 20);
	size_ok("4608M", 4608ULL << 20);
	size_ok("4G", 4ULL << 30);
	size_ok("2T", 2ULL << 40);
	size_ok("2TiB", 2ULL << 40);
}

static void
test_size_decimals(void **state)
{
	(void)state;
	size_ok("4.5G", 4608ULL << 20);
	size_ok("4.5Gi", 4608ULL << 20);
	size_ok("4.5GiB", 4608ULL << 20);
	size_ok("0.5K", 512);
	size_ok("1.25M", 1310720);
	/* Rounded down to whole bytes. */
	size_ok("0.1K", 102);
	size_ok("1.5", 1);
	size_ok("0.000000001T", 1099);
	size_ok("1.000000000G", 1ULL << 30);
}

static void
test_size_overflow(void **state)
{
	(void)state;
	size_ok("18446744073709551615", UINT64_MAX);
	size_bad("18446744073709551616");
	size_bad("99999999999999999999999");
	size_ok("16777215T", 16777215ULL << 40);
	size_bad("16777216T"); /* 2^64 */
	size_ok("16777215.999999999T", 18446744073709550516ULL);
	size_bad("17179869184G"); /* 2^64 */
	size_ok("17179869183G", 17179869183ULL << 30);
	size_bad("18014398509481984K"); /* 2^64 */
}

static void
test_size_garbage(void **state)
{
	(void)state;
	size_bad(NULL);
	size_bad("");
	size_bad("K");
	size_bad("-1");
	size_bad("-1K");
	size_bad("+1");
	size_bad(" 1");
	size_bad("1 ");
	size_bad("1 K");
	size_bad("1X");
	size_bad("1KK");
	size_bad("1KBB");
	size_bad("1iB");
	size_bad("1P");
	size_bad("1.");
	size_bad(".5K");
	size_bad("1.5.5");
	size_bad("1e3");
	size_bad("0x10");
	size_bad("1,5G");
	size_bad("1.0000000001G"); /* more than 9 decimals */
	size_bad("80%");
	size_bad("1G\n");
}

static void
dur_ok(const char *s, uint64_t want)
{
	uint64_t got = 12345;

	if (parse_duration_ms(s, &got) != 0)
		fail_msg("parse_duration_ms(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_duration_ms(\"%s\") = %llu, want %llu", s, (unsigned long long)got,
			 (unsigned long long)want);
}

static void
dur_bad(const char *s)
{
	uint64_t got = 12345;

	if (parse_duration_ms(s, &got) == 0)
		fail_msg("parse_duration_ms(\"%s\") accepted it as %llu", s,
			 (unsigned long long)got);
	assert_int_equal(got, 12345);
}

static void
test_duration(void **state)
{
	(void)state;
	dur_ok("0", 0);
	dur_ok("0ms", 0);
	dur_ok("0s", 0);
	dur_ok("250ms", 250);
	dur_ok("250MS", 250);
	dur_ok("10s", 10000);
	dur_ok("10S", 10000);
	dur_ok("10", 10000); /* a bare number is seconds */
	dur_ok("5m", 300000);
	dur_ok("10m", 600000);
	dur_ok("1h", 3600000);
	dur_ok("2d", 172800000);
	dur_ok("1.5s", 1500);
	dur_ok("1.5", 1500);
	dur_ok("0.25s", 250);
	dur_ok("1.5m", 90000);
	dur_ok("0.001s", 1);
	dur_ok("1.5ms", 1); /* rounded down to whole milliseconds */
	dur_ok("0.0001s", 0);
}

static void
test_duration_overflow(void **state)
{
	(void)state;
	dur_ok("18446744073709551615ms", UINT64_MAX);
	dur_bad("18446744073709551616ms");
	dur_ok("18446744073709551s", 18446744073709551000ULL);
	dur_bad("18446744073709552s");
	dur_bad("18446744073709552");
	dur_ok("5124095576030h", 5124095576030ULL * 3600000);
	dur_bad("5124095576031h");
	dur_bad("213503982335d");
	dur_bad("99999999999999999999999999s");
}

static void
test_duration_garbage(void **state)
{
	(void)state;
	dur_bad(NULL);
	dur_bad("");
	dur_bad("s");
	dur_bad("ms");
	dur_bad("-5s");
	dur_bad("-1");
	dur_bad("+5s");
	dur_bad("5 s");
	dur_bad(" 5s");
	dur_bad("5s ");
	dur_bad("5sec");
	dur_bad("5min");
	dur_bad("5us");
	dur_bad("5ns");
	dur_bad("5y");
	dur_bad("1h30m");
	dur_bad(".5s");
	dur_bad("5.s");
	dur_bad("5..0s");
	dur_bad("1e3");
	dur_bad("0x10");
	dur_bad("5G");
}

static void
pct_ok(const char *s, double want)
{
	double got = -1;

	if (parse_percent(s, &got) != 0)
		fail_msg("parse_percent(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_percent(\"%s\") = %g, want %g", s, got, want);
}

static void
pct_bad(const char *s)
{
	double got = -1;

	if (parse_percent(s, &got) == 0)
		fail_msg("parse_percent(\"%s\") accepted it as %g", s, got);
	assert_true(got == -1);
}

static void
test_percent(void **state)
{
	(void)state;
	pct_ok("0%", 0);
	pct_ok("1%", 1);
	pct_ok("80%", 80);
	pct_ok("12.5%", 12.5);
	pct_ok("99.99%", 99.99);
	pct_ok("100%", 100);
	pct_ok("100.0%", 100);
	pct_ok("100.000000000%", 100);
	pct_bad("100.01%");
	pct_bad("100.000000001%");
	pct_bad("101%");
	pct_bad("150%");
	pct_bad("18446744073709551616%");
	pct_bad("-1%");
	pct_bad("80");
	pct_bad("80 %");
	pct_bad("80%%");
	pct_bad("%");
	pct_bad("%80");
	pct_bad(".5%");
	pct_bad("");
	pct_bad(NULL);
	pct_bad("80%x");
}

static void
test_bool(void **state)
{
	static const char *const yes[] = {"yes", "YES", "Yes", "true", "True", "on", "ON", "1"};
	static const char *const no[] = {"no", "NO", "false", "FALSE", "off", "Off", "0"};
	static const char *const bad[] = {"", "y", "n", "2", "01", "yes ", " no", "enable", "-1"};
	bool v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		v = false;
		assert_int_equal(parse_bool(yes[i], &v), 0);
		assert_true(v);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		v = true;
		assert_int_equal(parse_bool(no[i], &v), 0);
		assert_false(v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_bool(bad[i], &v) == 0)
			fail_msg("parse_bool(\"%s\") accepted it", bad[i]);
	assert_int_not_equal(parse_bool(NULL, &v), 0);
}

static void
sig_ok(const char *s, int want)
{
	int got = -1;

	if (parse_signal(s, &got) != 0)
		fail_msg("parse_signal(\"%s\") failed", s);
	if (got != want)
		fail_msg("parse_signal(\"%s\") = %d, want %d", s, got, want);
}

static void
sig_bad(const char *s)
{
	int got = -1;

	if (parse_signal(s, &got) == 0)
		fail_msg("parse_signal(\"%s\") accepted it as %d", s, got);
	assert_int_equal(got, -1);
}

static void
test_signal_names(void **state)
{
	(void)state;
	sig_ok("TERM", SIGTERM);
	sig_ok("SIGTERM", SIGTERM);
	sig_ok("term", SIGTERM);
	sig_ok("sigterm", SIGTERM);
	sig_ok("SigTerm", SIGTERM);
	sig_ok("HUP", SIGHUP);
	sig_ok("INT", SIGINT);
	sig_ok("QUIT", SIGQUIT);
	sig_ok("KILL", SIGKILL);
	sig_ok("STOP", SIGSTOP);
	sig_ok("USR1", SIGUSR1);
	sig_ok("USR2", SIGUSR2);
	sig_ok("CHLD", SIGCHLD);
	sig_ok("CLD", SIGCHLD);
	sig_ok("IOT", SIGABRT);
	sig_ok("POLL", SIGIO);
	sig_ok("WINCH", SIGWINCH);
	sig_ok("SYS", SIGSYS);
	sig_ok("SIGWINCH", SIGWINCH);
}

static void
test_signal_numbers(void **state)
{
	int i;

	(void)state;
	for (i = 1; i <= SIGRTMAX; i++) {
		char buf[8];

		snprintf(buf, sizeof(buf), "%d", i);
		sig_ok(buf, i);
	}
	assert_int_equal(SIGRTMAX, 64);
	sig_bad("0");
	sig_bad("65");
	sig_bad("-1");
	sig_bad("+15");
	sig_bad("15x");
	sig_bad("15 ");
	sig_bad("4294967311"); /* 15 + 2^32 */
	sig_bad("99999999999999999999");
}

static void
test_signal_realtime(void **state)
{
	(void)state;
	sig_ok("RTMIN", SIGRTMIN);
	sig_ok("SIGRTMIN", SIGRTMIN);
	sig_ok("rtmin", SIGRTMIN);
	sig_ok("RTMIN+0", SIGRTMIN);
	sig_ok("RTMIN+3", SIGRTMIN + 3);
	sig_ok("SIGRTMIN+3", SIGRTMIN + 3);
	sig_ok("RTMIN+6", 40);
	sig_ok("RTMAX", SIGRTMAX);
	sig_ok("RTMAX-2", SIGRTMAX - 2);
	sig_ok("SIGRTMAX-2", SIGRTMAX - 2);
	sig_ok("RTMIN+30", SIGRTMAX);
	sig_ok("RTMAX-30", SIGRTMIN);
	sig_bad("RTMIN+31");
	sig_bad("RTMAX-31");
	sig_bad("RTMIN-1");
	sig_bad("RTMAX+1");
	sig_bad("RTMIN+");
	sig_bad("RTMAX-");
	sig_bad("RTMIN+x");
	sig_bad("RTMIN+ 1");
	sig_bad("RTMIN3");
	sig_bad("RTMIN+99999999999999999999");
}

static void
test_signal_garbage(void **state)
{
	(void)state;
	sig_bad(NULL);
	sig_bad("");
	sig_bad("SIG");
	sig_bad("SIGSIG");
	sig_bad("SIG15");
	sig_bad("FOO");
	sig_bad("TERMX");
	sig_bad(" TERM");
	sig_bad("TERM ");
	sig_bad("SIG TERM");
}

static void
test_signal_name(void **state)
{
	char buf[32];
	int i;

	(void)state;
	assert_string_equal(signal_name(SIGTERM, buf, sizeof(buf)), "TERM");
	assert_string_equal(signal_name(SIGKILL, buf, sizeof(buf)), "KILL");
	assert_string_equal(signal_name(SIGABRT, buf, sizeof(buf)), "ABRT");
	assert_string_equal(signal_name(SIGCHLD, buf, sizeof(buf)), "CHLD");
	assert_string_equal(signal_name(SIGIO, buf, sizeof(buf)), "IO");
	assert_string_equal(signal_name(SIGRTMIN, buf, sizeof(buf)), "RTMIN");
	assert_string_equal(signal_name(40, buf, sizeof(buf)), "RTMIN+6");
	assert_string_equal(signal_name(SIGRTMIN + 15, buf, sizeof(buf)), "RTMIN+15");
	assert_string_equal(signal_name(SIGRTMIN + 16, buf, sizeof(buf)), "RTMAX-14");
	assert_string_equal(signal_name(SIGRTMAX - 2, buf, sizeof(buf)), "RTMAX-2");
	assert_string_equal(signal_name(SIGRTMAX, buf, sizeof(buf)), "RTMAX");
	assert_string_equal(signal_name(32, buf, sizeof(buf)), "32");
	assert_string_equal(signal_name(0, buf, sizeof(buf)), "0");
	assert_string_equal(signal_name(65, buf, sizeof(buf)), "65");
	/* Every signal's name reads back as the same signal. */
	for (i = 1; i <= SIGRTMAX; i++) {
		int back = -1;

		assert_int_equal(parse_signal(signal_name(i, buf, sizeof(buf)), &back), 0);
		assert_int_equal(back, i);
	}
	/* A short buffer truncates, never overflows. */
	assert_string_equal(signal_name(SIGRTMIN + 3, buf, 4), "RTM");
}

/* Ends the words words_are() expects. */
#define END ((const char *)NULL)

static void
words_are(const char *s, ...)
{
	char err[128] = "x";
	char **w = split_words(s, err, sizeof(err));
	const char *want;
	va_list ap;
	size_t i = 0;

	if (w == NULL)
		fail_msg("split_words(\"%s\") failed: %s", s, err);
	assert_string_equal(err, "");
	va_start(ap, s);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (w[i] == NULL)
			fail_msg("split_words(\"%s\"): word %zu missing, want \"%s\"", s, i, want);
		if (strcmp(w[i], want) != 0)
			fail_msg("split_words(\"%s\"): word %zu is \"%s\", want \"%s\"", s, i, w[i],
				 want);
		i++;
	}
	va_end(ap);
	if (w[i] != NULL)
		fail_msg("split_words(\"%s\"): extra word \"%s\"", s, w[i]);
	free_words(w);
}

static void
words_fail(const char *s, const char *msg)
{
	char err[128] = "";
	char **w = split_words(s, err, sizeof(err));

	if (w != NULL)
		fail_msg("split_words(\"%s\") accepted it", s);
	if (strstr(err, msg) == NULL)
		fail_msg("split_words(\"%s\"): error \"%s\" lacks \"%s\"", s, err, msg);
}

static void
test_split_plain(void **state)
{
	(void)state;
	words_are("", END);
	words_are("   ", END);
	words_are("\t\n", END);
	words_are("a", "a", END);
	words_are("python3 -m app", "python3", "-m", "app", END);
	words_are("  a   b\tc\nd  ", "a", "b", "c", "d", END);
	words_are("a=b --x=y", "a=b", "--x=y", END);
	/* No expansion. */
	words_are("echo $HOME ~ * `x` ${y}", "echo", "$HOME", "~", "*", "`x`", "${y}", END);
}

static void
test_split_quotes(void **state)
{
	(void)state;
	words_are("'a b' c", "a b", "c", END);
	words_are("'a \"b\" \\c'", "a \"b\" \\c", END);
	words_are("\"a b\" c", "a b", "c", END);
	words_are("\"a \\\"b\\\" \\\\ \\$x \\`y\\`\"", "a \"b\" \\ $x `y`", END);
	/* In double quotes other backslashes stay. */
	words_are("\"a\\nb\\'\"", "a\\nb\\'", END);
	words_are("\"a\\\nb\"", "ab", END);
	words_are("a'b'\"c\"d", "abcd", END);
	words_are("'' \"\" x", "", "", "x", END);
	words_are("a''", "a", END);
	words_are("''a", "a", END);
	words_are("'it'\\''s'", "it's", END);
	words_are("sh -c 'a | b; c > d'", "sh", "-c", "a | b; c > d", END);
	words_are("nginx -g 'daemon off;'", "nginx", "-g", "daemon off;", END);
	words_are("'#' \"#\"", "#", "#", END);
}

static void
test_split_backslash(void **state)
{
	(void)state;
	words_are("a\\ b", "a b", END);
	words_are("\\'a\\'", "'a'", END);
	words_are("\\\"", "\"", END);
	words_are("\\\\", "\\", END);
	words_are("a\\\nb", "ab", END);
	words_are("a \\\n b", "a", "b", END);
	words_are("\\|", "|", END);
	words_are("\\#x", "#x", END);
}

static void
test_split_comments(void **state)
{
	(void)state;
	words_are("a # b c", "a", END);
	words_are("a#b", "a#b", END);
	words_are("# all\nb", "b", END);
	words_are("#", END);
}

static void
test_split_errors(void **state)
{
	(void)state;
	words_fail("'abc", "unterminated single quote");
	words_fail("a 'b c", "unterminated single quote");
	words_fail("\"abc", "unterminated double quote");
	words_fail("\"abc\\\"", "unterminated double quote");
	words_fail("abc\\", "backslash at the end");
	words_fail("a | b", "unquoted '|'");
	words_fail("a;b", "unquoted ';'");
	words_fail("a && b", "unquoted '&'");
	words_fail("a > /tmp/x", "unquoted '>'");
	words_fail("a < b", "unquoted '<'");
	words_fail("(a)", "unquoted '('");
	words_fail("a b)", "unquoted ')'");
	assert_null(split_words("'", NULL, 0)); /* no room for a message is fine */
}

static void
test_split_long(void **state)
{
	size_t n = 100000, i;
	char *s = malloc(2 * n + 1), err[64];
	char **w;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < n; i++) {
		s[2 * i] = 'x';
		s[2 * i + 1] = ' ';
	}
	s[2 * n] = '\0';
	w = split_words(s, err, sizeof(err));
	assert_non_null(w);
	for (i = 0; i < n; i++)
		assert_string_equal(w[i], "x");
	assert_null(w[n]);
	free_words(w);
	memset(s, 'y', 2 * n);
	w = split_words(s, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(strlen(w[0]), 2 * n);
	assert_null(w[1]);
	free_words(w);
	free(s);
	free_words(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_units),
	    cmocka_unit_test(test_size_decimals),
	    cmocka_unit_test(test_size_overflow),
	    cmocka_unit_test(test_size_garbage),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_duration_overflow),
	    cmocka_unit_test(test_duration_garbage),
	    cmocka_unit_test(test_percent),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_signal_names),
	    cmocka_unit_test(test_signal_numbers),
	    cmocka_unit_test(test_signal_realtime),
	    cmocka_unit_test(test_signal_garbage),
	    cmocka_unit_test(test_signal_name),
	    cmocka_unit_test(test_split_plain),
	    cmocka_unit_test(test_split_quotes),
	    cmocka_unit_test(test_split_backslash),
	    cmocka_unit_test(test_split_comments),
	    cmocka_unit_test(test_split_errors),
	    cmocka_unit_test(test_split_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

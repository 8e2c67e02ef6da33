/*
 * The value types of the configuration (parse.h): sizes, durations,
 * percents, signals, booleans, numbers and command lines. Every parser
 * gets the same input, as a C string (and parse_u64_n as the raw bytes);
 * what they promise is checked, not only that they do not crash.
 */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>

#include "config.h"
#include "fuzz.h"
#include "parse.h"

/* strtoull's view of a string of decimal digits, or false on overflow. */
static bool
digits_value(const char *s, uint64_t *v)
{
	unsigned __int128 x = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		x = x * 10 + (unsigned)(*s - '0');
		if (x > UINT64_MAX)
			return false;
	}
	*v = (uint64_t)x;
	return true;
}

static void
check_words(const char *s)
{
	char err[256], err2[256], **words, **again, *joined;
	size_t i;

	words = split_words(s, err, sizeof(err));
	if (words == NULL) {
		FUZZ_CHECK(err[0] != '\0');
		return;
	}
	/* join_words is split_words' inverse: what `memwarden check` prints
	 * as the command loads back as the same words. */
	joined = join_words(words);
	FUZZ_CHECK(joined != NULL);
	again = split_words(joined, err2, sizeof(err2));
	FUZZ_CHECK(again != NULL);
	for (i = 0; words[i] != NULL; i++) {
		FUZZ_CHECK(again[i] != NULL);
		FUZZ_CHECK(strcmp(words[i], again[i]) == 0);
	}
	FUZZ_CHECK(again[i] == NULL);
	free(joined);
	free_words(again);
	free_words(words);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), name[32];
	uint64_t u = 0, u2 = 0, bytes = 0, ms = 0;
	double pct = -1;
	unsigned small;
	bool b, plain;
	int sig, sig2;

	plain = digits_value(s, &u2);

	if (parse_uint64(s, &u) == 0) {
		FUZZ_CHECK(plain && u == u2);
	} else {
		FUZZ_CHECK(!plain);
	}
	/* The same for the n bytes, when they hold no NUL and at most 20
	 * digits (parse_u64_n's limit). */
	if (memchr(data, '\0', size) == NULL && size <= 20) {
		int rc = parse_u64_n((const char *)data, size, &u);

		FUZZ_CHECK(rc == (plain ? 0 : 1));
		if (rc == 0)
			FUZZ_CHECK(u == u2);
	} else {
		(void)parse_u64_n((const char *)data, size, &u);
	}

	if (parse_size(s, &bytes) == 0 && plain)
		FUZZ_CHECK(bytes == u2);

	if (parse_duration_ms(s, &ms) == 0 && plain)
		FUZZ_CHECK(u2 <= UINT64_MAX / 1000 && ms == u2 * 1000);

	if (parse_percent(s, &pct) == 0)
		FUZZ_CHECK(pct >= 0.0 && pct <= 100.0);

	if (parse_bool(s, &b) == 0)
		FUZZ_CHECK(b == true || b == false);

	if (parse_small_uint(s, 255, &small) == 0)
		FUZZ_CHECK(plain && small <= 255 && small == u2);
	if (parse_small_uint(s, UINT_MAX, &small) == 0)
		FUZZ_CHECK(plain && small == u2);

	if (parse_signal(s, &sig) == 0) {
		/* A signal of the service's C library; its name parses back
		 * to it. */
		FUZZ_CHECK(sig >= 1 && sig <= SERVICE_RTMAX);
		signal_name(sig, name, sizeof(name));
		FUZZ_CHECK(parse_signal(name, &sig2) == 0 && sig2 == sig);
	}
	/* Whatever number: a name, never a crash, always terminated. */
	if (size >= sizeof(int)) {
		int any;

		memcpy(&any, data, sizeof(any));
		signal_name(any, name, sizeof(name));
		FUZZ_CHECK(memchr(name, '\0', sizeof(name)) != NULL);
		signal_name(any, name, 4);
	}

	check_words(s);
	free(s);
	return 0;
}

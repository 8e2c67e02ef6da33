/*
 * The datagrams on memwarden's notify socket (notify.h): readiness and
 * status from the service, the agent's release reports, `memwarden
 * release`'s requests and memwarden's answers to it. notify_parse gets
 * exactly the datagram's bytes; what it accepts is formatted, parsed back
 * (the report memwarden forwards to `memwarden release`, the summary) and
 * logged in both log formats, as the supervisor does.
 */
#include "fuzz.h"
#include "log.h"
#include "notify.h"

static void
check_report_roundtrip(const struct release_report *r)
{
	struct release_report want = *r;
	struct notify_msg back;
	char buf[NOTIFY_DATAGRAM_MAX];
	size_t n;

	if (want.pid <= 0)
		want.pid = 1; /* PID= must be a pid in a reply */
	n = notify_format_report(&want, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && n < sizeof(buf));
	FUZZ_CHECK(notify_parse(buf, n, &back) == 0);
	FUZZ_CHECK(back.flags == NOTIFY_RELEASE);
	FUZZ_CHECK(back.report.pid == want.pid && back.report.allocator == want.allocator);
	FUZZ_CHECK(back.report.in_use == want.in_use);
	FUZZ_CHECK(back.report.held_before == want.held_before);
	FUZZ_CHECK(back.report.held_after == want.held_after);
	FUZZ_CHECK(back.report.rss_before == want.rss_before);
	FUZZ_CHECK(back.report.rss_after == want.rss_after);
	FUZZ_CHECK(back.report.usec == want.usec);
	FUZZ_CHECK(back.report.deferred_usec == want.deferred_usec);
	/* Too small a buffer: 0, never an overflow. */
	FUZZ_CHECK(notify_format_report(&want, buf, n) == 0);
}

static void
check_done_roundtrip(const struct release_done *d)
{
	struct notify_msg back;
	char buf[256];
	size_t n = notify_format_done(d, buf, sizeof(buf));

	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(notify_parse(buf, n, &back) == 0);
	FUZZ_CHECK(back.flags == NOTIFY_DONE);
	FUZZ_CHECK(back.done.signalled == d->signalled && back.done.reports == d->reports &&
		   back.done.skipped == d->skipped);
}

static void
check_lines(const struct notify_msg *m)
{
	char line[512], tiny[16];
	double f = notify_fragmentation(m->report.held_before, m->report.in_use);

	FUZZ_CHECK(f >= 0.0 && f <= 1.0);
	FUZZ_CHECK(notify_report_line(&m->report, true, line, sizeof(line)) > 0);
	FUZZ_CHECK(notify_report_line(&m->report, false, line, sizeof(line)) > 0);
	(void)notify_report_line(&m->report, true, tiny, sizeof(tiny));
	(void)notify_report_line(&m->report, false, tiny, sizeof(tiny));
	FUZZ_CHECK(notify_done_line(&m->done, true, line, sizeof(line)) > 0);
	FUZZ_CHECK(notify_done_line(&m->done, false, line, sizeof(line)) > 0);
	(void)notify_done_line(&m->done, false, tiny, sizeof(tiny));
}

/* The supervisor logs STATUS= text and each report; the text and JSON
 * formats escape what the service sent. */
static void
check_logs(const struct notify_msg *m)
{
	static const enum log_format formats[] = {LOG_FORMAT_TEXT, LOG_FORMAT_JSON};
	size_t i;

	fuzz_quiet(true);
	for (i = 0; i < 2; i++) {
		log_setup(formats[i], LOG_DEBUG, m->status);
		if (m->flags & NOTIFY_STATUS)
			log_event(LOG_INFO, "status",
				  LOG_FIELDS(LF_INT("pid", m->pid), LF_STR("status", m->status)),
				  "service status: %s", m->status);
		if (m->flags & NOTIFY_RELEASE)
			notify_log_report(&m->report);
	}
	log_setup(LOG_FORMAT_TEXT, LOG_INFO, "");
	fuzz_quiet(false);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	struct notify_msg m;

	if (size > NOTIFY_DATAGRAM_MAX)
		return -1; /* notify_receive drops larger datagrams unread */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	if (notify_parse(buf, size, &m) == 0) {
		FUZZ_CHECK(memchr(m.status, '\0', sizeof(m.status)) != NULL);
		FUZZ_CHECK(m.pid == 0);
		if (m.flags & NOTIFY_RELEASE)
			check_report_roundtrip(&m.report);
		if (m.flags & NOTIFY_DONE)
			check_done_roundtrip(&m.done);
		check_lines(&m);
		check_logs(&m);
	}
	free(buf);
	return 0;
}

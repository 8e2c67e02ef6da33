/*
 * memwarden's notify socket (SPEC section 6): one abstract AF_UNIX datagram
 * socket that serves systemd's notify protocol (READY=1, STATUS=...), the
 * agent's release reports and `memwarden release`'s requests. The wire
 * format is in agent_proto.h.
 *
 * In the supervisor (the socket is non-blocking; add n.fd to epoll):
 *
 *   struct notify n;
 *   struct notify_msg m;
 *
 *   notify_open(&n);                  n.name: "@memwarden-<pid>-<hex>"
 *   on EPOLLIN on n.fd:
 *   while (notify_receive(&n, &m) == 1) {
 *           if (m.flags & NOTIFY_READY) ...      m.pid, m.uid: the sender
 *           if (m.flags & NOTIFY_STATUS) ...     m.status
 *           if (m.flags & NOTIFY_RELEASE) {      m.report, its pid included
 *                   notify_log_report(&m.report);
 *                   len = notify_format_report(&m.report, buf, sizeof(buf));
 *                   notify_reply(&n, &requester, buf, len);
 *           }
 *           if (m.flags & NOTIFY_HANDLER) ...    never signal m.pid again
 *           if (m.flags & NOTIFY_REQUEST) ...    keep m as requester (from)
 *   }
 *   notify_close(&n);
 *
 * One datagram may carry several keys (READY=1 and STATUS= together):
 * m.flags has a bit for each. A datagram that does not parse, is truncated
 * or comes without credentials is dropped whole and never returned.
 *
 * In `memwarden release`: notify_request_release() with a callback per
 * report. notify_parse() and the format helpers are pure, for the tests.
 */
#ifndef MEMWARDEN_NOTIFY_H
#define MEMWARDEN_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* The largest datagram read, as systemd's: larger ones are dropped. */
#define NOTIFY_DATAGRAM_MAX 4096
/* STATUS= text is cut (at a UTF-8 boundary) to fit, NUL included. */
#define NOTIFY_STATUS_MAX 256
/* "@memwarden-<pid>-<16 hex>" fits with room; sun_path is 108 bytes. */
#define NOTIFY_NAME_MAX 108

struct notify {
	int fd;			    /* -1 when closed */
	char name[NOTIFY_NAME_MAX]; /* "@memwarden-...", as in NOTIFY_SOCKET */
	bool error_logged;	    /* a receive error streak was logged */
};

/* What a datagram carried: a bit per key seen. */
#define NOTIFY_READY 0x01u     /* READY=1 */
#define NOTIFY_STOPPING 0x02u  /* STOPPING=1 */
#define NOTIFY_RELOADING 0x04u /* RELOADING=1 */
#define NOTIFY_STATUS 0x08u    /* STATUS=text, in m.status */
#define NOTIFY_RELEASE 0x10u   /* MEMWARDEN_RELEASE=1: a report, in m.report */
#define NOTIFY_HANDLER 0x20u   /* MEMWARDEN_HANDLER=program */
#define NOTIFY_REQUEST 0x40u   /* MEMWARDEN_RELEASE_REQUEST=1 */
#define NOTIFY_DONE 0x80u      /* MEMWARDEN_RELEASE_DONE=1, in m.done */

enum release_allocator { ALLOCATOR_UNKNOWN, ALLOCATOR_JEMALLOC, ALLOCATOR_GLIBC };

/* One process's release, as the agent measured it. Sizes in bytes. */
struct release_report {
	pid_t pid; /* notify_receive: the sender's (kernel-verified); a reply: PID= */
	enum release_allocator allocator;
	uint64_t in_use; /* allocated by the program, after the release */
	uint64_t held_before, held_after;
	uint64_t rss_before, rss_after;
	uint64_t usec;		/* the release took */
	uint64_t deferred_usec; /* from the signal to the start of the release */
};

/* memwarden's last answer to a request. */
struct release_done {
	unsigned signalled, reports, skipped;
};

struct notify_msg {
	unsigned flags; /* NOTIFY_* */
	pid_t pid;	/* the sender, from SCM_CREDENTIALS (0 from notify_parse) */
	uid_t uid;
	char status[NOTIFY_STATUS_MAX];
	struct release_report report;
	struct release_done done;
	struct sockaddr_un from; /* the sender's address, for notify_reply */
	socklen_t fromlen;
};

/* Opens the socket: abstract, non-blocking, close-on-exec, SO_PASSCRED.
 * Returns 0, or 1 (logged). */
int notify_open(struct notify *n);
void notify_close(struct notify *n);

/* Reads the next datagram. Returns 1 with a message in m, 0 when there is
 * nothing more to read (or after many dropped datagrams in a row: call
 * again on the next EPOLLIN), -1 on an error (logged once per streak;
 * never fatal). */
int notify_receive(struct notify *n, struct notify_msg *m);

/* Parses the len bytes at buf (not NUL-terminated). Returns 0, or 1 when
 * the message is malformed: a line without '=', a bad number, a flag key
 * with a value other than its one, an incomplete report or summary, a NUL
 * byte before the end (trailing NULs are allowed). Unknown keys are
 * ignored; a repeated key's last value wins. */
int notify_parse(const char *buf, size_t len, struct notify_msg *m);

/* Sends len bytes back to the sender of to (MSG_DONTWAIT). Returns 0, or
 * 1 when it could not be sent (the requester is gone, its queue is full). */
int notify_reply(const struct notify *n, const struct notify_msg *to, const char *buf, size_t len);

/* (held - in_use) / held, from 0 to 1; 0 when held is 0 or in_use > held. */
double notify_fragmentation(uint64_t held, uint64_t in_use);

const char *release_allocator_name(enum release_allocator a);

/* The reply datagram for a report (PID=<pid> first, then the agent's keys)
 * and for the end of a release. Return the length written (NUL not
 * counted), or 0 when cap is too small. */
size_t notify_format_report(const struct release_report *r, char *buf, size_t cap);
size_t notify_format_done(const struct release_done *d, char *buf, size_t cap);

/* One line (no newline) for `memwarden release`: text for people, or a
 * JSON object. Same return as above. */
size_t notify_report_line(const struct release_report *r, bool json, char *buf, size_t cap);
size_t notify_done_line(const struct release_done *d, bool json, char *buf, size_t cap);

/* Logs a report as the `release` event (SPEC section 7). */
void notify_log_report(const struct release_report *r);

typedef void notify_report_fn(const struct release_report *r, void *arg);

/* `memwarden release`: sends MEMWARDEN_RELEASE_REQUEST=1 to the socket
 * name ("@..."), calls fn for each report that comes back and returns 0
 * with the summary in done once memwarden says it is done. Returns 1 with
 * errno set otherwise: ETIMEDOUT when timeout_ms passed first,
 * ECONNREFUSED when nothing listens on name. Only memwarden's socket can
 * answer: the client's socket is connected to it. */
int notify_request_release(const char *name, int timeout_ms, notify_report_fn *fn, void *arg,
			   struct release_done *done);

#endif

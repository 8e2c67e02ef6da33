/*
 * The systemd side of memwarden (SPEC sections 7 and 10), in the build
 * linked with libsystemd (make SYSTEMD=1, which defines MEMWARDEN_JOURNAL):
 *
 * - journal_send(): one log event as one journal entry (sd_journal_sendv),
 *   for `[log] target = journal`; log.c calls it and falls back to stderr
 *   when it fails.
 * - journal_notify_*(): sd_notify to the service manager when memwarden
 *   itself runs as a systemd Type=notify service, that is when NOTIFY_SOCKET
 *   is in memwarden's own environment. (spawn.c leaves it out of the
 *   service's environment; memwarden's own environ is never changed.)
 *
 * In the static build (no libsystemd) journal_send() fails with ENOSYS and
 * the notify functions do nothing; config.c refuses target = journal there.
 */
#ifndef MEMWARDEN_JOURNAL_H
#define MEMWARDEN_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* Whether this build can write to the journal. */
bool journal_available(void);

/* Sends one event: MESSAGE=msg, PRIORITY= (debug 7, info 6, warn 4,
 * error 3), SYSLOG_IDENTIFIER=memwarden, MEMWARDEN_EVENT=event,
 * MEMWARDEN_SERVICE=service and MEMWARDEN_<KEY>=value for each field (key
 * upper-cased, any character other than A-Z, 0-9 and '_' made '_'; numbers
 * as integers, raw fields as their JSON text, NULL strings left out).
 * Never blocks for long: the socket is made non-blocking after the first
 * entry, so a journal that does not read makes this fail with EAGAIN.
 * Returns 0, or -1 with errno set (ENOENT: no journal socket; ENOSYS: no
 * libsystemd in this build). */
int journal_send(enum log_level level, const char *event, const char *service, const char *msg,
		 const struct log_field *fields, size_t nfields);

/* READY=1 with STATUS=running, each time ready turns true (the first time
 * is what systemd waits for; later ones, after a restart, are harmless).
 * false only records the change, so that the next true sends again. */
void journal_notify_ready(bool ready);
/* STATUS=<text> when it differs from the last one sent (a short state
 * word: starting, running, draining, restarting, stopping, stopped). */
void journal_notify_status(const char *text);
/* STOPPING=1, once. */
void journal_notify_stopping(void);

#endif

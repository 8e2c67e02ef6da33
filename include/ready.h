/*
 * Readiness probes for [service] ready (SPEC sections 4, 6 and 8): the
 * supervisor polls ready_probe about every 100 ms while the service runs
 * and is not ready yet. `started` needs no probe; `notify` is answered by
 * READY=1 on the notify socket, not here.
 *
 *   tcp:PORT    a TCP socket LISTENs on PORT (any local address, v4 or v6)
 *               in memwarden's network namespace, as the kernel's
 *               sock_diag tells (what `ss -ltn` uses: it lists listeners
 *               alone, cheap however many other sockets there are), else
 *               /proc/net/tcp and /proc/net/tcp6 (state 0A). Never by
 *               connecting: a probe connection would show up in the
 *               service's accept loop and its logs.
 *   file:PATH   PATH exists. A relative PATH is relative to [service]
 *               directory when set (where the service runs), else to
 *               memwarden's own working directory.
 *   delay:D     D has passed since the instance started.
 *
 * Nothing here is fatal: a probe that cannot tell says so once per streak
 * of failures and reports not ready.
 */
#ifndef MEMWARDEN_READY_H
#define MEMWARDEN_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The buffer the tcp probe reads /proc/net/tcp{,6} with; larger files are
 * read in pieces of it. */
#define READY_TCP_BUF 4096

/* True for the modes ready_probe answers: tcp, file and delay. */
bool ready_needs_probe(const struct config *cfg);

/* Before each (re)start: removes the file:PATH file, so that the one a
 * previous instance left does not make the new one ready at once. A
 * missing file is fine; other errors are logged (once per streak). */
void ready_prepare(const struct config *cfg);

/* Sets *ready for the instance started at started_ms (monotonic, like
 * now_ms). Returns 0, or 1 when it could not tell (*ready is then false).
 * `started` is always ready; `notify` never is here. */
int ready_probe(const struct config *cfg, uint64_t started_ms, uint64_t now_ms, bool *ready);

/* The two ways of the tcp probe, for the tests: sock_diag (returns 1 when
 * the kernel has no sock_diag for TCP or refuses it), and /proc/net/tcp
 * with tcp6 (returns 1, logged, when neither can be read). Both return 0
 * and set *listening when they could tell. */
int ready_tcp_diag(uint16_t port, bool *listening);
int ready_tcp_proc(uint16_t port, bool *listening);

/* Pure: true when the text of /proc/net/tcp or /proc/net/tcp6 (len bytes,
 * no NUL needed) holds a socket listening on port. The header, other
 * states, other ports, garbage and a truncated last line do not count. */
bool ready_tcp_text_listens(const char *text, size_t len, uint16_t port);

/* Reads fd to its end (or to the first match) through buf, cap bytes, and
 * sets *listening as ready_tcp_text_listens would for the whole text.
 * Lines cut by the buffer's end are joined with the next read; a line
 * longer than cap does not count. Returns 0, or 1 on a read error. */
int ready_tcp_scan(int fd, uint16_t port, char *buf, size_t cap, bool *listening);

#endif

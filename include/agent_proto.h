/*
 * The wire between memwarden and its agent (SPEC section 6): datagrams of
 * "KEY=value\n" lines, like systemd's notify protocol, on one abstract
 * AF_UNIX SOCK_DGRAM socket that memwarden owns. The agent includes this
 * header and nothing else of memwarden.
 *
 * memwarden names the socket in the service's environment:
 *   MEMWARDEN_SOCKET=@memwarden-<pid>-<random hex>   always (the agent's)
 *   NOTIFY_SOCKET=<the same>                         only with ready = notify
 * The agent reads MEMWARDEN_SOCKET once at load; without it the agent does
 * nothing at all (it is not running under memwarden).
 *
 * memwarden checks every datagram's sender with SCM_CREDENTIALS, so a
 * report always carries a kernel-verified pid.
 */
#ifndef MEMWARDEN_AGENT_PROTO_H
#define MEMWARDEN_AGENT_PROTO_H

#define AGENT_SOCKET_ENV "MEMWARDEN_SOCKET"

/* The release signal's number, decimal ([allocator] release_signal), which
 * memwarden also puts in the service's environment:
 *   MEMWARDEN_RELEASE_SIGNAL=40
 * Unset: 40 (RTMIN+6 with glibc). A value that is not a signal number the
 * agent could handle makes it do nothing. */
#define AGENT_SIGNAL_ENV "MEMWARDEN_RELEASE_SIGNAL"
#define AGENT_DEFAULT_SIGNAL 40

/* agent -> memwarden, after a release, one datagram:
 *   MEMWARDEN_RELEASE=1
 *   ALLOCATOR=jemalloc | glibc | unknown
 *   IN_USE=<bytes the program has allocated, after the release>
 *   HELD_BEFORE=<bytes the allocator held before>   (jemalloc: stats.resident;
 *   HELD_AFTER=<bytes it held after>                 glibc: arena + hblkhd)
 *   RSS_BEFORE=<VmRSS bytes before>
 *   RSS_AFTER=<VmRSS bytes after>
 *   USEC=<microseconds the release took>
 *   DEFERRED_USEC=<microseconds from the signal to the start of the release>
 * Numbers are decimal; unknown keys are ignored by memwarden, so the
 * agent may add more. It adds:
 *   IN_USE_BEFORE=<bytes in use before the release>
 *   SIGNALS=<release signals this one release served: the signals that
 *            came while the previous release ran are served together>
 *   SIGNALS_TOTAL=<release signals this process served since it started;
 *            a jump larger than SIGNALS shows reports were lost: the agent
 *            never blocks, so a report that finds memwarden's receive
 *            queue full (net.unix.max_dgram_qlen, 10) is dropped>
 *   DECAY_MS=<N>           jemalloc, when the signal's value N > 0 was applied
 *   DIRTY_DECAY_MS=<ms>    jemalloc: arena 0's decay times after the release,
 *   MUZZY_DECAY_MS=<ms>    read back (-1: never purged by time)
 * Under glibc, HELD_AFTER does not fall by what malloc_trim gave back:
 * trim returns free pages inside the arenas with MADV_DONTNEED, and
 * mallinfo2's arena still counts them; RSS_AFTER shows what came back. */
#define AGENT_KEY_RELEASE "MEMWARDEN_RELEASE"

/* agent -> memwarden when the program installs its own handler for the
 * release signal (seen through the interposed sigaction/signal):
 *   MEMWARDEN_HANDLER=program
 * memwarden then never sends that pid the release signal again. */
#define AGENT_KEY_HANDLER "MEMWARDEN_HANDLER"

/* `memwarden release` -> memwarden: MEMWARDEN_RELEASE_REQUEST=1. memwarden
 * releases now and sends back to the requester's (autobound) address each
 * report as it comes, prefixed with PID=<pid>, then one
 *   MEMWARDEN_RELEASE_DONE=1, SIGNALLED=<n>, REPORTS=<n>, SKIPPED=<n>
 * datagram when every signalled process answered or the wait ended. */
#define AGENT_KEY_REQUEST "MEMWARDEN_RELEASE_REQUEST"
#define AGENT_KEY_DONE "MEMWARDEN_RELEASE_DONE"

/* The release signal's value (sigqueue): 0 purges only; N > 0 also sets
 * jemalloc's dirty and muzzy decay times of every arena to N ms. */

#endif

/*
 * memwarden-agent.so (SPEC section 6): preloaded into the service, it gives
 * freed memory back to the system when memwarden sends the release signal,
 * and reports what it did on memwarden's socket (include/agent_proto.h).
 *
 * At load, with MEMWARDEN_SOCKET set, it installs its handler for the
 * release signal (MEMWARDEN_RELEASE_SIGNAL, default 40) if the signal's
 * disposition is still the default, and does nothing else: no thread, no
 * pipe, no allocation, no timer. Without MEMWARDEN_SOCKET it does nothing.
 *
 * The thread. The release itself (a jemalloc purge, glibc's malloc_trim)
 * takes the allocator's locks, so it cannot run in the handler; it runs in
 * a helper thread. That thread cannot be made at load (the spec forbids
 * it, and a thread at load would break unshare(CLONE_NEWUSER) and make
 * Python warn at every fork) nor by the handler: pthread_create is not
 * async-signal-safe (it allocates the thread's TLS and DTV with malloc and
 * takes the loader's and the stack cache's locks, which the interrupted
 * code may hold). So:
 *
 * - the handler (async-signal-safe: atomics and write(2), errno kept)
 *   records the request (a pending count, the sigqueue value, the time)
 *   and, once the thread exists, writes one byte to its pipe;
 * - the thread is made lazily at the process's next safe point: the agent
 *   interposes the blocking waits a service makes when idle (epoll_wait,
 *   poll, select, nanosleep, sleep, pause, sigsuspend and their variants),
 *   which signal(7) says are never restarted after a handler, even with
 *   SA_RESTART. A service asleep in one gets EINTR and calls it again; the
 *   wrapper, whose whole cost is one relaxed atomic load while nothing is
 *   pending, makes the thread (small stack, every signal blocked in it)
 *   and then calls the real function. The kernel gives a signal sent to a
 *   process to its main thread when that one does not block it, and the
 *   main thread is where such services wait, so the first release is
 *   served within microseconds. A program that never waits (CPU-bound) is
 *   released at its next wait, whichever thread makes it; later releases
 *   need no safe point, since the thread stays.
 * - fork() is interposed: the child has no thread, so it forgets the
 *   parent's (closes the inherited pipe, drops the parent's requests) and
 *   makes its own at its first safe point. A child made without fork()
 *   (clone, daemon()) is noticed by its pid.
 *
 * sigaction() and signal() (and sysv_signal, bsd_signal, sigset) are
 * interposed too: when the program installs a handler of its own for the
 * release signal, the agent lets it, and tells memwarden once
 * (MEMWARDEN_HANDLER=program), since SigCgt cannot tell our handler from
 * the program's. Setting SIG_DFL or SIG_IGN (as Python's subprocess does in
 * a vfork child before exec) is no takeover and changes nothing here: a
 * vfork child shares our memory, so that path writes nothing at all.
 *
 * Nothing here may disturb the program: every failure is ignored, a report
 * waits at most 1 s for room in memwarden's queue (on the helper thread; a
 * report still lost shows in the next one's SIGNALS_TOTAL), the takeover
 * notice never blocks, and the handler never touches an fd
 * that is no longer our pipe. What remains, and is the price of any
 * handler: the release signal interrupts the program's pause(), sleep()
 * and the like with EINTR, as any handled signal does (a program must not
 * take pause() returning to mean that its own signal came); and a
 * program's own signal handler that calls one of these waits (they are
 * async-signal-safe) before the first release is served would make the
 * thread inside that handler.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"

#define EXPORT __attribute__((visibility("default")))
#define DEFAULT_RELEASE_SIGNAL AGENT_DEFAULT_SIGNAL
#define THREAD_STACK ((size_t)64 * 1024)
#define MALLCTL_ARENAS_ALL 4096

/* The fortified variants the compiler calls for poll and ppoll under
 * _FORTIFY_SOURCE (bits/poll2.h is included only then). */
EXPORT int __poll_chk(struct pollfd *, nfds_t, int, size_t);
EXPORT int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);
/* What glibc's signal() is redirected to without _DEFAULT_SOURCE. */
EXPORT __sighandler_t __sysv_signal(int, __sighandler_t);
EXPORT __sighandler_t bsd_signal(int, __sighandler_t);

/* ------------------------------------------------------------ state */

enum thread_state {
	T_ABSENT,   /* made at the next safe point when a request is pending */
	T_CREATING, /* one caller is making it */
	T_RUNNING,
	T_FAILED, /* pthread_create failed: retried at the next signal */
	T_STALE	  /* inherited from a parent through a fork we did not see */
};

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef __sighandler_t (*signal_fn)(int, __sighandler_t);

static bool active; /* MEMWARDEN_SOCKET was set at load */
static int release_signo = DEFAULT_RELEASE_SIGNAL;
static struct sockaddr_un sock_addr;
static socklen_t sock_len;
static sigaction_fn real_sigaction_fn;

/* Shared with the handler: only atomics. */
static unsigned pending;      /* signals not served yet */
static int req_value;	      /* the last positive sigqueue value */
static uint64_t req_ns;	      /* CLOCK_MONOTONIC of the oldest pending signal */
static int tstate = T_ABSENT; /* enum thread_state */
static int wake_fd = -1;      /* the pipe's write end, -1: no thread */
static pid_t owner_pid;	      /* the process the thread belongs to */
static ino_t pipe_ino;	      /* the pipe's inode: our fd is still ours */
static int pipe_rd = -1;
static int program_handler;	   /* the program took the signal over */
static unsigned long served_total; /* the thread's: signals served so far */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define CAS(p, o, n)                                                                               \
	__atomic_compare_exchange_n((p), (o), (n), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The real function behind an interposed one, resolved on first use and
 * kept: a race only resolves the same pointer twice.
 */
static void *
real(void **slot, const char *name)
{
	void *p = LOAD(slot);

	if (p == NULL) {
		p = dlsym(RTLD_NEXT, name);
		STORE(slot, p);
	}
	return p;
}

static sigaction_fn
real_sigaction(void)
{
	return (sigaction_fn)real((void **)&real_sigaction_fn, "sigaction");
}

/* ------------------------------------------------------------ reports */

/* One datagram; failures are nobody's business. Only system calls, so it
 * may run anywhere (a handler, a vfork child). wait_ms 0 never blocks;
 * the helper thread waits up to wait_ms for room in memwarden's queue
 * (net.unix.max_dgram_qlen is often 10: a burst of reports from many
 * processes would otherwise be dropped). */
static void
send_report(const char *msg, size_t len, int wait_ms)
{
	struct timeval tv = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000};
	int fd;

	if (!active)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (wait_ms > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)sendto(fd, msg, len, (wait_ms > 0 ? 0 : MSG_DONTWAIT) | MSG_NOSIGNAL,
		     (struct sockaddr *)&sock_addr, sock_len);
	close(fd);
}

static void
report_takeover(void)
{
	static const char msg[] = AGENT_KEY_HANDLER "=program\n";
	int no = 0;

	if (CAS(&program_handler, &no, 1))
		send_report(msg, sizeof(msg) - 1, 0);
}

/* ------------------------------------------------------------ the handler */

/* True when fd is still the pipe we made: a program that closed every
 * descriptor may have reused the number for something of its own. */
static bool
is_our_pipe(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
	       st.st_ino == LOAD(&pipe_ino);
}

static void
on_release(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, st, fd;
	pid_t owner = LOAD(&owner_pid);
	uint64_t zero = 0;

	(void)sig;
	(void)uc;
	if (si != NULL && si->si_code == SI_QUEUE && si->si_value.sival_int > 0)
		STORE(&req_value, si->si_value.sival_int);
	CAS(&req_ns, &zero, now_ns());
	__atomic_fetch_add(&pending, 1, __ATOMIC_ACQ_REL);
	st = LOAD(&tstate);
	if (owner != 0 && owner != getpid()) {
		/* A child made without our fork(): the thread is the parent's. */
		if (st != T_STALE && CAS(&tstate, &st, T_STALE))
			st = T_STALE;
	} else if (st == T_FAILED) {
		CAS(&tstate, &st, T_ABSENT);
	} else if (st == T_RUNNING) {
		fd = LOAD(&wake_fd);
		if (is_our_pipe(fd) && write(fd, "", 1) < 0) {
			/* full: the thread has work already */
		}
	}
	errno = saved;
}

/* ------------------------------------------------------------ measures */

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

struct figures {
	size_t in_use, held, rss;
};

enum allocator { ALLOC_UNKNOWN, ALLOC_JEMALLOC, ALLOC_GLIBC };

static const char *const alloc_names[] = {"unknown", "jemalloc", "glibc"};

static size_t
read_rss(void)
{
	char buf[128];
	unsigned long size, resident;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t
je_size(mallctl_fn ctl, const char *name)
{
	size_t v = 0, len = sizeof(v);

	if (ctl(name, &v, &len, NULL, 0) != 0)
		return 0;
	return v;
}

static void
je_measure(mallctl_fn ctl, struct figures *f)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);

	/* The statistics are a snapshot taken at each new epoch. */
	ctl("epoch", &epoch, &len, &epoch, len);
	f->in_use = je_size(ctl, "stats.allocated");
	f->held = je_size(ctl, "stats.resident");
	f->rss = read_rss();
}

static void
glibc_measure(struct figures *f)
{
	static void *mi2;
	struct mallinfo2 (*fn)(void) = (struct mallinfo2(*)(void))real(&mi2, "mallinfo2");
	struct mallinfo2 m;

	if (fn == NULL) {
		f->in_use = f->held = 0;
	} else {
		/* uordblks: bytes in chunks in use in the arenas (tcache's
		 * included), hblkhd: in chunks mmapped on their own; arena:
		 * what the arenas got from the system. */
		m = fn();
		f->in_use = m.uordblks + m.hblkhd;
		f->held = m.arena + m.hblkhd;
	}
	f->rss = read_rss();
}

static bool
in_libc(void *addr, Dl_info *info)
{
	const char *base;

	if (addr == NULL || dladdr(addr, info) == 0 || info->dli_fname == NULL)
		return false;
	base = strrchr(info->dli_fname, '/');
	base = base ? base + 1 : info->dli_fname;
	return strncmp(base, "libc.so", 7) == 0;
}

/* glibc's own malloc is in use when "malloc" resolves into libc.so. A
 * non-PIE program that takes malloc's address (python3 on Debian) makes
 * "malloc" resolve to its own PLT stub, where dladdr finds no symbol
 * called malloc: then the next definition after ours is the one the stub
 * calls. A malloc really defined elsewhere (an allocator linked into the
 * program, tcmalloc) is not glibc's. */
static bool
malloc_is_glibc(void)
{
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	Dl_info info;

	if (in_libc(m, &info))
		return true;
	if (m == NULL || (info.dli_saddr == m && info.dli_sname != NULL &&
			  strcmp(info.dli_sname, "malloc") == 0))
		return false;
	return in_libc(dlsym(RTLD_NEXT, "malloc"), &info);
}

/* Looked up at the first release and kept (only the thread calls this):
 * later releases then never take the loader's lock, which a fork() in
 * another thread would leave held in the child. */
static enum allocator
which_allocator(mallctl_fn *ctl)
{
	static bool known;
	static enum allocator alloc;
	static mallctl_fn found;

	if (!known) {
		found = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
		if (found != NULL)
			alloc = ALLOC_JEMALLOC;
		else
			alloc = malloc_is_glibc() ? ALLOC_GLIBC : ALLOC_UNKNOWN;
		known = true;
	}
	*ctl = found;
	return alloc;
}

static void
measure(enum allocator a, mallctl_fn ctl, struct figures *f)
{
	if (a == ALLOC_JEMALLOC)
		je_measure(ctl, f);
	else if (a == ALLOC_GLIBC)
		glibc_measure(f);
	else
		f->in_use = f->held = 0, f->rss = read_rss();
}

/* ------------------------------------------------------------ release */

static void
je_set_decay(mallctl_fn ctl, ssize_t ms)
{
	unsigned narenas = 0, i;
	size_t len = sizeof(narenas);
	char name[64];

	if (ctl("arenas.narenas", &narenas, &len, NULL, 0) != 0)
		return;
	for (i = 0; i < narenas; i++) {
		/* Arenas not initialised yet refuse: they get the defaults
		 * set below when they are. */
		snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", i);
		ctl(name, NULL, NULL, &ms, sizeof(ms));
		snprintf(name, sizeof(name), "arena.%u.muzzy_decay_ms", i);
		ctl(name, NULL, NULL, &ms, sizeof(ms));
	}
	ctl("arenas.dirty_decay_ms", NULL, NULL, &ms, sizeof(ms));
	ctl("arenas.muzzy_decay_ms", NULL, NULL, &ms, sizeof(ms));
}

static ssize_t
je_decay(mallctl_fn ctl, const char *name)
{
	ssize_t v = -2;
	size_t len = sizeof(v);

	ctl(name, &v, &len, NULL, 0);
	return v;
}

static void
release(enum allocator a, mallctl_fn ctl, int decay_ms)
{
	static void *trim;
	int (*fn)(size_t);
	char name[32];

	if (a == ALLOC_JEMALLOC) {
		if (decay_ms > 0)
			je_set_decay(ctl, decay_ms);
		snprintf(name, sizeof(name), "arena.%d.purge", MALLCTL_ARENAS_ALL);
		ctl(name, NULL, NULL, NULL, 0);
	} else if (a == ALLOC_GLIBC) {
		fn = (int (*)(size_t))real(&trim, "malloc_trim");
		if (fn)
			fn(0);
	}
}

struct report {
	enum allocator alloc;
	struct figures before, after;
	uint64_t usec, deferred_usec;
	unsigned signals;
	unsigned long signals_total;
	int decay_ms;
	ssize_t dirty_ms, muzzy_ms;
};

static void
send_release_report(const struct report *r)
{
	char msg[768];
	int n;

	n = snprintf(msg, sizeof(msg),
		     AGENT_KEY_RELEASE "=1\nALLOCATOR=%s\nIN_USE=%zu\nHELD_BEFORE=%zu\n"
				       "HELD_AFTER=%zu\nRSS_BEFORE=%zu\nRSS_AFTER=%zu\nUSEC=%llu\n"
				       "DEFERRED_USEC=%llu\nIN_USE_BEFORE=%zu\nSIGNALS=%u\n"
				       "SIGNALS_TOTAL=%lu\n",
		     alloc_names[r->alloc], r->after.in_use, r->before.held, r->after.held,
		     r->before.rss, r->after.rss, (unsigned long long)r->usec,
		     (unsigned long long)r->deferred_usec, r->before.in_use, r->signals,
		     r->signals_total);
	if (n > 0 && (size_t)n < sizeof(msg) && r->decay_ms > 0)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "DECAY_MS=%d\n", r->decay_ms);
	if (n > 0 && (size_t)n < sizeof(msg) && r->alloc == ALLOC_JEMALLOC)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n,
			      "DIRTY_DECAY_MS=%zd\nMUZZY_DECAY_MS=%zd\n", r->dirty_ms, r->muzzy_ms);
	if (n > 0 && (size_t)n < sizeof(msg))
		send_report(msg, (size_t)n, 1000);
}

/* One release for the n requests that came since the last one. */
static void
serve(unsigned n)
{
	struct report r;
	mallctl_fn ctl;
	uint64_t asked = XCHG(&req_ns, 0), t0, t1, t2;

	memset(&r, 0, sizeof(r));
	r.signals = n;
	served_total += n;
	r.signals_total = served_total;
	r.decay_ms = XCHG(&req_value, 0);
	r.alloc = which_allocator(&ctl);
	t0 = now_ns();
	measure(r.alloc, ctl, &r.before);
	t1 = now_ns();
	release(r.alloc, ctl, r.decay_ms);
	t2 = now_ns();
	measure(r.alloc, ctl, &r.after);
	if (r.alloc == ALLOC_JEMALLOC) {
		r.dirty_ms = je_decay(ctl, "arena.0.dirty_decay_ms");
		r.muzzy_ms = je_decay(ctl, "arena.0.muzzy_decay_ms");
	} else {
		r.decay_ms = 0;
	}
	r.usec = (t2 - t1) / 1000;
	r.deferred_usec = asked != 0 && asked < t0 ? (t0 - asked) / 1000 : 0;
	send_release_report(&r);
}

/* ------------------------------------------------------------ the thread */

static void *
agent_thread(void *arg)
{
	char buf[64];
	unsigned n;
	ssize_t r;
	int fd = pipe_rd;

	(void)arg;
	prctl(PR_SET_NAME, "memwarden-agent", 0, 0, 0);
	for (;;) {
		/* Every request that came while the last release ran is
		 * served by one release. */
		n = XCHG(&pending, 0);
		if (n > 0) {
			serve(n);
			continue;
		}
		if (!is_our_pipe(fd))
			break;
		r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	/* The program closed our pipe: leave it its descriptors, and let
	 * the next request make a new thread. */
	STORE(&wake_fd, -1);
	STORE(&tstate, T_ABSENT);
	return NULL;
}

static void
close_pipe(void)
{
	int w = XCHG(&wake_fd, -1);

	if (w >= 0 && is_our_pipe(w))
		close(w);
	if (pipe_rd >= 0 && is_our_pipe(pipe_rd))
		close(pipe_rd);
	pipe_rd = -1;
}

static int
spawn_thread(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	if (pthread_attr_init(&attr) != 0)
		return -1;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	/* The thread inherits this mask: no signal of the program's, ours
	 * included, is ever delivered to it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &attr, agent_thread, NULL);
	if (r == EINVAL) {
		/* The program's static TLS does not fit in the small stack. */
		pthread_attr_destroy(&attr);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&t, &attr, agent_thread, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return r == 0 ? 0 : -1;
}

/* Called with tstate T_CREATING, which makes the caller the only one. */
static void
start_thread(void)
{
	struct stat st;
	int fds[2];

	STORE(&owner_pid, getpid());
	if (pipe2(fds, O_CLOEXEC) != 0)
		goto fail;
	/* The handler must never block on a full pipe: a full pipe already
	 * says there is work. */
	if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0 || fstat(fds[0], &st) != 0) {
		close(fds[0]);
		close(fds[1]);
		goto fail;
	}
	STORE(&pipe_ino, st.st_ino);
	pipe_rd = fds[0];
	STORE(&wake_fd, fds[1]);
	if (spawn_thread() != 0) {
		close_pipe();
		goto fail;
	}
	/* Requests that came before wake_fd was set are seen by the
	 * thread's first look at pending. */
	STORE(&tstate, T_RUNNING);
	return;
fail:
	XCHG(&pending, 0);
	STORE(&tstate, T_FAILED);
}

/* The inherited state of a child made without our fork(). */
static void
drop_stale(void)
{
	int st = T_STALE;

	if (!CAS(&tstate, &st, T_CREATING))
		return;
	close_pipe();
	STORE(&owner_pid, 0);
	STORE(&tstate, T_ABSENT);
}

static void
safe_point_slow(void)
{
	int saved = errno, st = LOAD(&tstate);

	if (st == T_STALE) {
		drop_stale();
		st = LOAD(&tstate);
	}
	if (st == T_ABSENT && CAS(&tstate, &st, T_CREATING))
		start_thread();
	errno = saved;
}

/* The whole cost of a wrapper while nothing is pending: one load. */
static inline void
safe_point(void)
{
	if (__builtin_expect(__atomic_load_n(&pending, __ATOMIC_RELAXED) != 0, 0) &&
	    LOAD(&tstate) != T_RUNNING)
		safe_point_slow();
}

/* ------------------------------------------------------------ safe points */

/* Resolves the real function into fn, or fails the call with ENOSYS.
 * (fn is pasted into names: it cannot be parenthesized.) */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define REAL(fn, name)                                                                             \
	static void *slot_##fn;                                                                    \
	__typeof__(&fn) real_fn = (__typeof__(&fn))real(&slot_##fn, name);                         \
	if (real_fn == NULL) {                                                                     \
		errno = ENOSYS;                                                                    \
		return -1;                                                                         \
	}
/* NOLINTEND(bugprone-macro-parentheses) */

/* The wrapped call between two safe points: before, for a request that
 * came while the program was busy; after, for one that interrupted it. */
#define WAIT(call)                                                                                 \
	do {                                                                                       \
		__typeof__(call) ret_;                                                             \
		safe_point();                                                                      \
		ret_ = (call);                                                                     \
		safe_point();                                                                      \
		return ret_;                                                                       \
	} while (0)

EXPORT int
epoll_wait(int epfd, struct epoll_event *ev, int maxevents, int timeout)
{
	REAL(epoll_wait, "epoll_wait");
	WAIT(real_fn(epfd, ev, maxevents, timeout));
}

EXPORT int
epoll_pwait(int epfd, struct epoll_event *ev, int maxevents, int timeout, const sigset_t *mask)
{
	REAL(epoll_pwait, "epoll_pwait");
	WAIT(real_fn(epfd, ev, maxevents, timeout, mask));
}

EXPORT int
epoll_pwait2(int epfd, struct epoll_event *ev, int maxevents, const struct timespec *timeout,
	     const sigset_t *mask)
{
	REAL(epoll_pwait2, "epoll_pwait2");
	WAIT(real_fn(epfd, ev, maxevents, timeout, mask));
}

EXPORT int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	REAL(poll, "poll");
	WAIT(real_fn(fds, n, timeout));
}

EXPORT int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
	REAL(ppoll, "ppoll");
	WAIT(real_fn(fds, n, timeout, mask));
}

EXPORT int
__poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	REAL(__poll_chk, "__poll_chk");
	WAIT(real_fn(fds, n, timeout, fdslen));
}

EXPORT int
__ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask,
	    size_t fdslen)
{
	REAL(__ppoll_chk, "__ppoll_chk");
	WAIT(real_fn(fds, n, timeout, mask, fdslen));
}

EXPORT int
select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
	REAL(select, "select");
	WAIT(real_fn(n, r, w, e, timeout));
}

EXPORT int
pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
	const sigset_t *mask)
{
	REAL(pselect, "pselect");
	WAIT(real_fn(n, r, w, e, timeout, mask));
}

EXPORT int
nanosleep(const struct timespec *req, struct timespec *rem)
{
	REAL(nanosleep, "nanosleep");
	WAIT(real_fn(req, rem));
}

EXPORT int
clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
	static void *slot;
	int (*fn)(clockid_t, int, const struct timespec *, struct timespec *) =
	    (int (*)(clockid_t, int, const struct timespec *, struct timespec *))real(
		&slot, "clock_nanosleep");

	/* It returns the error rather than setting errno. */
	if (fn == NULL)
		return ENOSYS;
	WAIT(fn(clock, flags, req, rem));
}

EXPORT int
usleep(useconds_t usec)
{
	REAL(usleep, "usleep");
	WAIT(real_fn(usec));
}

EXPORT unsigned
sleep(unsigned seconds)
{
	static void *slot;
	unsigned (*fn)(unsigned) = (unsigned (*)(unsigned))real(&slot, "sleep");

	if (fn == NULL)
		return seconds;
	WAIT(fn(seconds));
}

EXPORT int
pause(void)
{
	REAL(pause, "pause");
	WAIT(real_fn());
}

EXPORT int
sigsuspend(const sigset_t *mask)
{
	REAL(sigsuspend, "sigsuspend");
	WAIT(real_fn(mask));
}

/* ------------------------------------------------------------ fork */

EXPORT pid_t
fork(void)
{
	static void *slot;
	pid_t (*fn)(void) = (pid_t(*)(void))real(&slot, "fork");
	pid_t pid;

	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	pid = fn();
	if (pid != 0 || !active)
		return pid;
	/* The child: only the thread that forked exists here. Its parent's
	 * requests are the parent's to answer. */
	close_pipe();
	STORE(&owner_pid, 0);
	STORE(&pending, 0);
	STORE(&req_ns, 0);
	STORE(&req_value, 0);
	served_total = 0;
	STORE(&tstate, T_ABSENT);
	/* A handler of the program's is inherited: memwarden knows pids. */
	if (XCHG(&program_handler, 0))
		report_takeover();
	return 0;
}

/* ------------------------------------------------------------ sigaction */

/* A handler of the program's own: not a default, not ours. */
static bool
is_programs(void *h)
{
	return h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != (void *)SIG_ERR &&
	       h != (void *)SIG_HOLD && h != (void *)on_release;
}

EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigaction_fn fn = real_sigaction();
	void *h;
	int r;

	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	r = fn(sig, act, old);
	if (r != 0 || !active || sig != release_signo || act == NULL)
		return r;
	h = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler;
	if (is_programs(h))
		report_takeover();
	return r;
}

/* signal() and its kin set the disposition with glibc's internal
 * __sigaction, which our sigaction() does not see. */
static __sighandler_t
set_handler(void **slot, const char *name, int sig, __sighandler_t h)
{
	signal_fn fn = (signal_fn)real(slot, name);
	__sighandler_t r;

	if (fn == NULL) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	r = fn(sig, h);
	if (r != SIG_ERR && active && sig == release_signo && is_programs((void *)h))
		report_takeover();
	return r;
}

EXPORT __sighandler_t
signal(int sig, __sighandler_t h)
{
	static void *slot;

	return set_handler(&slot, "signal", sig, h);
}

EXPORT __sighandler_t
sysv_signal(int sig, __sighandler_t h)
{
	static void *slot;

	return set_handler(&slot, "sysv_signal", sig, h);
}

EXPORT __sighandler_t
__sysv_signal(int sig, __sighandler_t h)
{
	static void *slot;

	return set_handler(&slot, "__sysv_signal", sig, h);
}

EXPORT __sighandler_t
bsd_signal(int sig, __sighandler_t h)
{
	static void *slot;

	return set_handler(&slot, "bsd_signal", sig, h);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
EXPORT __sighandler_t
sigset(int sig, __sighandler_t h)
{
	static void *slot;

	return set_handler(&slot, "sigset", sig, h);
}
#pragma GCC diagnostic pop

/* ------------------------------------------------------------ load */

/* MEMWARDEN_SOCKET into sock_addr ('@': abstract). 0, or -1 when unset or
 * too long. No allocation: only getenv and copies. */
static int
socket_from_env(void)
{
	const char *name = getenv(AGENT_SOCKET_ENV);
	size_t len;

	if (name == NULL || name[0] == '\0')
		return -1;
	len = strlen(name);
	if (len >= sizeof(sock_addr.sun_path))
		return -1;
	memset(&sock_addr, 0, sizeof(sock_addr));
	sock_addr.sun_family = AF_UNIX;
	memcpy(sock_addr.sun_path, name, len);
	if (name[0] == '@') {
		sock_addr.sun_path[0] = '\0';
		sock_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		sock_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

static int
signal_from_env(void)
{
	const char *s = getenv(AGENT_SIGNAL_ENV);
	long v = 0;

	if (s == NULL || *s == '\0')
		return DEFAULT_RELEASE_SIGNAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 1000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v >= NSIG || v == SIGKILL || v == SIGSTOP)
		return -1;
	return (int)v;
}

__attribute__((constructor)) static void
agent_load(void)
{
	struct sigaction sa, cur;
	sigaction_fn fn;

	if (socket_from_env() != 0)
		return;
	release_signo = signal_from_env();
	fn = real_sigaction();
	if (release_signo < 0 || fn == NULL || fn(release_signo, NULL, &cur) != 0)
		return;
	active = true;
	/* Never replace a disposition someone chose: an ignored signal
	 * stays ignored, a handler stays. */
	if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_release;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		fn(release_signo, &sa, NULL);
	}
}

/*
 * fragment [--threads N] [--seconds S] [--hold | --forever]
 *          [--wait pause|sleep|nanosleep|poll|poll_chk|epoll|select] [--seed N]
 *          [--stats MS [--latency]]
 *
 * The fragmenting workload of tests/TESTING.md ("Workloads worth
 * having"): N threads (16) each build buffers of 32 KB to 1.3 MB by
 * realloc growth in 3.2 KB steps, copy each into a bounded queue of 20
 * (the oldest freed) and free the builder; 1 step in 100 also allocates a
 * long-lived block of 64 B to 4 KB kept in a ring of 400. Glibc's arenas
 * end up holding about twice what is live.
 *
 * Every block is filled with a pattern of its own and checked when it is
 * freed and at the end, so a release that damaged memory shows up as
 * ERRORS > 0 (exit status 3). The live bytes are counted exactly, as the
 * sizes requested.
 *
 * --hold (the default): churn for S seconds (3), stop the threads keeping
 *   their queues and rings live, print on stdout (flushed)
 *     LIVE <bytes requested, live>   USABLE <malloc_usable_size sum>
 *     COUNT <live blocks>            OPS <buffers built>
 *     BASE_RSS <VmRSS at start>      READY
 *   then wait for SIGTERM in a loop of the --wait call (pause), check every
 *   block, print ERRORS <n> and exit.
 * --forever: print READY, churn until SIGTERM, then print OPS and ERRORS
 *   and exit.
 * It exits by itself after 10 minutes, so nothing lingers.
 *
 * --stats MS (for bench/): while the threads churn, every MS ms the main
 *   thread prints one line (flushed)
 *     STAT <ms> <live> <building> <rss> <ops> <gap_max_us> <gap_med_us> [<gap_us>...]
 *   ms: CLOCK_MONOTONIC in milliseconds (the clock of Python's
 *   time.monotonic(), to line samples up with signals sent from outside);
 *   live: the bytes of the queues and rings, as LIVE counts them; building:
 *   the buffers being grown; rss: VmRSS (statm); ops: buffers built so far.
 *   With --latency each thread also times the gap between two of its
 *   consecutive steps (one realloc growth and its fill, or the copy into
 *   the queue): gap_max_us is the longest gap of any thread that ended in
 *   the interval, gap_med_us the median over the threads of each one's
 *   longest, then each thread's longest, in thread order (without
 *   --latency: 0 0 and no list). A stall (a lock held by a
 *   release, the scheduler) shows there. The main thread waits in
 *   nanosleep (whatever --wait says) and, with --hold, prints
 *   RSS <VmRSS> after the churn stopped, before LIVE.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

/* What poll() compiles to under _FORTIFY_SOURCE when the array size is known. */
extern int __poll_chk(struct pollfd *, nfds_t, int, size_t);

#define MAX_THREADS 256
#define QUEUE 20
#define RING 400
#define STEP 3200
#define MIN_BUF (32 * 1024)
#define MAX_BUF (1300 * 1024)
#define MIN_SMALL 64
#define MAX_SMALL 4096
#define LIFETIME 600

struct block {
	unsigned char *p;
	size_t size;
	uint64_t id;
};

/* Each thread's blocks; static, so the program's own bookkeeping is not
 * part of what it allocates. */
struct worker {
	pthread_t t;
	unsigned seed;
	struct block queue[QUEUE];
	unsigned qhead;
	struct block ring[RING];
	unsigned rhead;
	uint64_t next_id;
	unsigned long ops;
	unsigned long errors;
	/* Read by the main thread for --stats: written with relaxed atomics. */
	size_t live, building;
	uint64_t gap_max_ns; /* exchanged with 0 by the main thread */
	uint64_t last_ns;
};

static struct worker workers[MAX_THREADS];
static volatile sig_atomic_t stop;
static volatile int churn_stop;
static int latency;

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --latency: the gap since this thread's previous step. */
static void
stepped(struct worker *w)
{
	uint64_t now, gap, cur;

	if (!latency)
		return;
	now = mono_ns();
	gap = now - w->last_ns;
	w->last_ns = now;
	cur = __atomic_load_n(&w->gap_max_ns, __ATOMIC_RELAXED);
	while (gap > cur && !__atomic_compare_exchange_n(&w->gap_max_ns, &cur, gap, 0,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void
add_live(struct worker *w, size_t add, size_t sub)
{
	__atomic_store_n(&w->live, w->live + add - sub, __ATOMIC_RELAXED);
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
word_of(uint64_t id, size_t i)
{
	return id * 0x9e3779b97f4a7c15ull + i;
}

/* Fills bytes [from, to) of the block with its pattern. */
static void
fill(unsigned char *p, uint64_t id, size_t from, size_t to)
{
	size_t i = from;

	for (; i < to && i % 8; i++)
		p[i] = (unsigned char)word_of(id, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t w = word_of(id, i);

		memcpy(p + i, &w, 8);
	}
	for (; i < to; i++)
		p[i] = (unsigned char)word_of(id, i);
}

static int
check(const struct block *b)
{
	size_t i = 0;

	for (; i < b->size && i % 8; i++)
		if (b->p[i] != (unsigned char)word_of(b->id, i))
			return 1;
	for (; i + 8 <= b->size; i += 8) {
		uint64_t w;

		memcpy(&w, b->p + i, 8);
		if (w != word_of(b->id, i))
			return 1;
	}
	for (; i < b->size; i++)
		if (b->p[i] != (unsigned char)word_of(b->id, i))
			return 1;
	return 0;
}

static void
drop(struct worker *w, struct block *b)
{
	if (b->p == NULL)
		return;
	w->errors += (unsigned long)check(b);
	add_live(w, 0, b->size);
	free(b->p);
	b->p = NULL;
	b->size = 0;
}

static size_t
between(unsigned *seed, size_t lo, size_t hi)
{
	return lo + (size_t)rand_r(seed) % (hi - lo + 1);
}

static void
long_lived(struct worker *w)
{
	struct block *b = &w->ring[w->rhead];

	drop(w, b);
	b->size = between(&w->seed, MIN_SMALL, MAX_SMALL);
	b->id = w->next_id++;
	b->p = malloc(b->size);
	if (b->p == NULL)
		abort();
	fill(b->p, b->id, 0, b->size);
	add_live(w, b->size, 0);
	w->rhead = (w->rhead + 1) % RING;
}

/* One buffer: grown by realloc, copied into the queue. */
static void
build(struct worker *w)
{
	size_t target = between(&w->seed, MIN_BUF, MAX_BUF), size = 0;
	uint64_t id = w->next_id++;
	unsigned char *p = NULL, *np;
	struct block *b;

	while (size < target) {
		size_t next = size + STEP < target ? size + STEP : target;

		np = realloc(p, next);
		if (np == NULL)
			abort();
		p = np;
		fill(p, id, size, next);
		size = next;
		__atomic_store_n(&w->building, size, __ATOMIC_RELAXED);
		stepped(w);
		if (rand_r(&w->seed) % 100 == 0)
			long_lived(w);
		if (churn_stop) {
			free(p);
			__atomic_store_n(&w->building, 0, __ATOMIC_RELAXED);
			return;
		}
	}
	b = &w->queue[w->qhead];
	drop(w, b);
	b->p = malloc(size);
	if (b->p == NULL)
		abort();
	memcpy(b->p, p, size);
	b->size = size;
	b->id = id;
	add_live(w, size, 0);
	{
		struct block tmp = {p, size, id};

		w->errors += (unsigned long)check(&tmp);
	}
	free(p);
	__atomic_store_n(&w->building, 0, __ATOMIC_RELAXED);
	stepped(w);
	w->qhead = (w->qhead + 1) % QUEUE;
	__atomic_store_n(&w->ops, w->ops + 1, __ATOMIC_RELAXED);
}

static void *
churn(void *arg)
{
	struct worker *w = arg;

	w->last_ns = latency ? mono_ns() : 0;
	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED))
		build(w);
	return NULL;
}

/* Calls f for every live block. */
static void
each_block(int nthreads, void (*f)(struct worker *, struct block *, void *), void *arg)
{
	int t, i;

	for (t = 0; t < nthreads; t++) {
		for (i = 0; i < QUEUE; i++)
			if (workers[t].queue[i].p)
				f(&workers[t], &workers[t].queue[i], arg);
		for (i = 0; i < RING; i++)
			if (workers[t].ring[i].p)
				f(&workers[t], &workers[t].ring[i], arg);
	}
}

struct totals {
	size_t live, usable, count;
	unsigned long errors;
};

static void
add_up(struct worker *w, struct block *b, void *arg)
{
	struct totals *s = arg;

	(void)w;
	s->live += b->size;
	s->usable += malloc_usable_size(b->p);
	s->count++;
}

static void
check_one(struct worker *w, struct block *b, void *arg)
{
	(void)w;
	((struct totals *)arg)->errors += (unsigned long)check(b);
}

static size_t
rss_now(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (f == NULL)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One --stats line. */
static void
print_stats(int nthreads)
{
	static uint64_t gaps[MAX_THREADS], sorted[MAX_THREADS];
	size_t live = 0, building = 0;
	unsigned long ops = 0;
	uint64_t max = 0;
	int t;

	for (t = 0; t < nthreads; t++) {
		live += __atomic_load_n(&workers[t].live, __ATOMIC_RELAXED);
		building += __atomic_load_n(&workers[t].building, __ATOMIC_RELAXED);
		ops += __atomic_load_n(&workers[t].ops, __ATOMIC_RELAXED);
		gaps[t] = __atomic_exchange_n(&workers[t].gap_max_ns, 0, __ATOMIC_RELAXED);
		if (gaps[t] > max)
			max = gaps[t];
	}
	memcpy(sorted, gaps, sizeof(gaps[0]) * (size_t)nthreads);
	qsort(sorted, (size_t)nthreads, sizeof(sorted[0]), cmp_u64);
	printf("STAT %llu %zu %zu %zu %lu %llu %llu", (unsigned long long)(mono_ns() / 1000000), live,
	       building, rss_now(), ops, (unsigned long long)(max / 1000),
	       (unsigned long long)(sorted[nthreads / 2] / 1000));
	for (t = 0; latency && t < nthreads; t++)
		printf(" %llu", (unsigned long long)(gaps[t] / 1000));
	printf("\n");
	fflush(stdout);
}

/* Sleeps until the next multiple of ms (or a signal), then prints stats. */
static void
stats_tick(int nthreads, long ms, uint64_t *next_ns)
{
	uint64_t now = mono_ns();
	struct timespec ts;

	if (*next_ns > now) {
		ts.tv_sec = (time_t)((*next_ns - now) / 1000000000ull);
		ts.tv_nsec = (long)((*next_ns - now) % 1000000000ull);
		if (nanosleep(&ts, NULL) != 0)
			return; /* a signal: the caller looks at stop, then comes back */
	}
	print_stats(nthreads);
	*next_ns += (uint64_t)ms * 1000000ull;
	if (*next_ns < mono_ns())
		*next_ns = mono_ns() + (uint64_t)ms * 1000000ull;
}

/* One wait of the kind asked for, until a signal or a second passes. */
static void
wait_once(const char *how, int epfd)
{
	struct timespec ts = {1, 0};
	struct timeval tv = {1, 0};
	struct epoll_event ev;

	if (strcmp(how, "sleep") == 0)
		sleep(1);
	else if (strcmp(how, "nanosleep") == 0)
		nanosleep(&ts, NULL);
	else if (strcmp(how, "poll") == 0)
		poll(NULL, 0, 1000);
	else if (strcmp(how, "epoll") == 0)
		epoll_wait(epfd, &ev, 1, 1000);
	else if (strcmp(how, "select") == 0)
		select(0, NULL, NULL, NULL, &tv);
	else if (strcmp(how, "poll_chk") == 0)
		__poll_chk(NULL, 0, 1000, 0);
	else
		pause();
}

static void
start(int nthreads, unsigned seed)
{
	int t;

	for (t = 0; t < nthreads; t++) {
		workers[t].seed = seed + (unsigned)t * 7919u;
		workers[t].next_id = ((uint64_t)t << 40) + 1;
		if (pthread_create(&workers[t].t, NULL, churn, &workers[t]) != 0) {
			perror("pthread_create");
			exit(1);
		}
	}
}

static unsigned long
finish(int nthreads, unsigned long *ops)
{
	unsigned long errors = 0;
	int t;

	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	for (t = 0; t < nthreads; t++) {
		pthread_join(workers[t].t, NULL);
		*ops += workers[t].ops;
		errors += workers[t].errors;
	}
	return errors;
}

static void
usage(void)
{
	fprintf(stderr, "usage: fragment [--threads N] [--seconds S] [--hold | --forever] "
			"[--wait pause|sleep|nanosleep|poll|poll_chk|epoll|select] [--seed N] "
			"[--stats MS [--latency]]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int nthreads = 16, forever = 0, i, epfd;
	double seconds = 3;
	unsigned seed = 1;
	const char *how = "pause";
	size_t base_rss = rss_now();
	unsigned long ops = 0, errors;
	struct totals s = {0, 0, 0, 0};
	struct sigaction sa;
	time_t deadline;
	long stats_ms = 0;
	uint64_t next_ns;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
			how = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--stats") == 0 && i + 1 < argc)
			stats_ms = atol(argv[++i]);
		else if (strcmp(argv[i], "--latency") == 0)
			latency = 1;
		else if (strcmp(argv[i], "--forever") == 0)
			forever = 1;
		else if (strcmp(argv[i], "--hold") == 0)
			forever = 0;
		else
			usage();
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || stats_ms < 0 || (latency && !stats_ms))
		usage();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	deadline = time(NULL) + LIFETIME;
	start(nthreads, seed);
	next_ns = mono_ns() + (uint64_t)stats_ms * 1000000ull;
	if (forever) {
		printf("READY\n");
		fflush(stdout);
		while (!stop && time(NULL) < deadline) {
			if (stats_ms)
				stats_tick(nthreads, stats_ms, &next_ns);
			else
				wait_once(how, epfd);
		}
		errors = finish(nthreads, &ops);
		each_block(nthreads, check_one, &s);
		printf("OPS %lu\nERRORS %lu\n", ops, errors + s.errors);
		return errors + s.errors ? 3 : 0;
	}
	if (stats_ms) {
		uint64_t end = mono_ns() + (uint64_t)(seconds * 1e9);

		while (!stop && mono_ns() < end) {
			if (next_ns > end)
				next_ns = end;
			stats_tick(nthreads, stats_ms, &next_ns);
		}
	} else {
		struct timespec ts = {(time_t)seconds,
				      (long)((seconds - (double)(time_t)seconds) * 1e9)};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop)
			;
	}
	errors = finish(nthreads, &ops);
	if (stats_ms)
		printf("RSS %zu\n", rss_now());
	each_block(nthreads, add_up, &s);
	printf("LIVE %zu\nUSABLE %zu\nCOUNT %zu\nOPS %lu\nBASE_RSS %zu\nREADY\n", s.live, s.usable,
	       s.count, ops, base_rss);
	fflush(stdout);
	while (!stop && time(NULL) < deadline)
		wait_once(how, epfd);
	each_block(nthreads, check_one, &s);
	printf("ERRORS %lu\n", errors + s.errors);
	return errors + s.errors ? 3 : 0;
}

/*
 * The configuration of memwarden (SPEC section 9): one schema table, and
 * everything driven by it.
 *
 * Each key is one row of keys[] below: its section and name, its type, its
 * default as text, its range or choices, its documentation and where it is
 * stored in struct config. The INI parser, the MEMWARDEN_<SECTION>_<KEY>
 * environment overrides, the -s options, `memwarden check` and the
 * documented etc/memwarden.ini all walk that table; nothing else lists the
 * keys.
 *
 * Values are applied layer by layer (defaults, file, environment, -s), each
 * one validated and stored as it comes so that an error names the exact
 * place the bad value came from, even when a later layer would override it.
 * What depends on several keys (the command and the name derived from it,
 * the credentials, soft < hard, ...) is settled once all layers are in.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "parse.h"
#include "state.h"
#include "users.h"

#ifndef MEMWARDEN_VERSION
#define MEMWARDEN_VERSION "unknown"
#endif

#define PASSWD_PATH "/etc/passwd"
#define GROUP_PATH "/etc/group"

/* The default state file goes to RUN_DIR, or TMP_DIR when RUN_DIR cannot
 * be created or written (a read-only /run, a non-root user). */
#define RUN_DIR "/run/memwarden"
#define TMP_DIR "/tmp/memwarden"

/* The name is used in file names and log lines. */
#define NAME_MAX_LEN 100
/* When there is no command to take a name from (`memwarden check`,
 * `status`, `release` without one). */
#define FALLBACK_NAME "memwarden"

/* Longer than any sensible timeout or window, and small enough that other
 * code can turn it into nanoseconds in an int64_t without a second thought. */
#define DURATION_MAX (30 * MS_DAY)

#define SIZE_MIB (1024ULL * 1024)

#define DEFAULT_MALLOC_CONF "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"

/* ---------------------------------------------------------------------
 * The schema
 */

struct key;

struct choice {
	const char *name;
	int value;
};

struct type {
	/* Validates text and stores it into cfg; returns 0, or 1 leaving cfg
	 * as it was, with why set when there is more to say than "not" and
	 * the accepted values. */
	int (*set)(struct config *cfg, const struct key *k, const char *text, char *why,
		   size_t whylen);
	/* What is accepted, as a noun phrase ("a duration from 0 to 30d"). */
	void (*accepts)(const struct key *k, char *buf, size_t len);
	bool numeric; /* a leading '-' gets its own message */
};

/* Signal flags. */
#define F_KILL_OK 0x1 /* stop_signal: KILL is fine, it is sent, not caught */
#define F_RELEASE 0x2 /* release_signal: one no program uses for anything else */

struct key {
	const char *section;
	const char *name;
	const struct type *type;
	/* The default, as it would be written in the file; NULL when it is
	 * computed at load (the command, the name, the state file). */
	const char *def;
	const char *doc;
	size_t off; /* where the value goes in struct config */
	uint64_t min, max;
	const struct choice *choices;
	unsigned flags;
};

#define FIELD(f) offsetof(struct config, f)
#define AT(cfg, k, T) ((T *)(void *)((char *)(cfg) + (k)->off))

static int set_command(struct config *, const struct key *, const char *, char *, size_t);
static int set_name(struct config *, const struct key *, const char *, char *, size_t);
static int set_path(struct config *, const struct key *, const char *, char *, size_t);
static int set_account(struct config *, const struct key *, const char *, char *, size_t);
static int set_umask(struct config *, const struct key *, const char *, char *, size_t);
static int set_signal(struct config *, const struct key *, const char *, char *, size_t);
static int set_duration(struct config *, const struct key *, const char *, char *, size_t);
static int set_bool(struct config *, const struct key *, const char *, char *, size_t);
static int set_exit_codes(struct config *, const struct key *, const char *, char *, size_t);
static int set_choice(struct config *, const struct key *, const char *, char *, size_t);
static int set_uint(struct config *, const struct key *, const char *, char *, size_t);
static int set_ready(struct config *, const struct key *, const char *, char *, size_t);
static int set_limit(struct config *, const struct key *, const char *, char *, size_t);
static int set_threshold(struct config *, const struct key *, const char *, char *, size_t);
static int set_malloc_conf(struct config *, const struct key *, const char *, char *, size_t);

static void accepts_command(const struct key *, char *, size_t);
static void accepts_name(const struct key *, char *, size_t);
static void accepts_path(const struct key *, char *, size_t);
static void accepts_account(const struct key *, char *, size_t);
static void accepts_umask(const struct key *, char *, size_t);
static void accepts_signal(const struct key *, char *, size_t);
static void accepts_duration(const struct key *, char *, size_t);
static void accepts_bool(const struct key *, char *, size_t);
static void accepts_exit_codes(const struct key *, char *, size_t);
static void accepts_choice(const struct key *, char *, size_t);
static void accepts_uint(const struct key *, char *, size_t);
static void accepts_ready(const struct key *, char *, size_t);
static void accepts_limit(const struct key *, char *, size_t);
static void accepts_threshold(const struct key *, char *, size_t);
static void accepts_malloc_conf(const struct key *, char *, size_t);

static const struct type t_command = {set_command, accepts_command, false};
static const struct type t_name = {set_name, accepts_name, false};
/* Paths: flags PATH_EMPTY_OK (empty means unset), PATH_AUTO ("auto"). */
static const struct type t_path = {set_path, accepts_path, false};
static const struct type t_account = {set_account, accepts_account, false};
static const struct type t_umask = {set_umask, accepts_umask, true};
static const struct type t_signal = {set_signal, accepts_signal, true};
static const struct type t_duration = {set_duration, accepts_duration, true};
static const struct type t_bool = {set_bool, accepts_bool, false};
static const struct type t_exit_codes = {set_exit_codes, accepts_exit_codes, true};
static const struct type t_choice = {set_choice, accepts_choice, false};
/* Whole numbers: flag UINT_AUTO ("auto" stores 0). */
static const struct type t_uint = {set_uint, accepts_uint, true};
static const struct type t_ready = {set_ready, accepts_ready, false};
static const struct type t_limit = {set_limit, accepts_limit, true};
static const struct type t_threshold = {set_threshold, accepts_threshold, true};
static const struct type t_malloc_conf = {set_malloc_conf, accepts_malloc_conf, false};

#define PATH_EMPTY_OK 0x1
#define PATH_AUTO 0x2
#define UINT_AUTO 0x1

static const struct choice restart_choices[] = {
    {"no", RESTART_NO}, {"on-failure", RESTART_ON_FAILURE}, {"always", RESTART_ALWAYS}, {0}};
static const struct choice metric_choices[] = {{"workingset", METRIC_WORKINGSET},
					       {"current", METRIC_CURRENT},
					       {"anon", METRIC_ANON},
					       {"rss", METRIC_RSS},
					       {0}};
static const struct choice action_choices[] = {
    {"restart", ACTION_RESTART}, {"signal", ACTION_SIGNAL}, {"largest", ACTION_LARGEST}, {0}};
static const struct choice preload_choices[] = {
    {"jemalloc", PRELOAD_JEMALLOC}, {"none", PRELOAD_NONE}, {0}};
static const struct choice format_choices[] = {
    {"auto", LOG_FORMAT_AUTO}, {"json", LOG_FORMAT_JSON}, {"text", LOG_FORMAT_TEXT}, {0}};
static const struct choice level_choices[] = {
    {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}, {0}};
static const struct choice target_choices[] = {
    {"stderr", LOG_TARGET_STDERR}, {"journal", LOG_TARGET_JOURNAL}, {0}};

static const char *const sections[] = {"service", "memory", "allocator",
				       "log",	  "status", "environment"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))
#define ENV_SECTION "environment"

static const struct key keys[] = {
    /* [service] */
    {.section = "service",
     .name = "command",
     .type = &t_command,
     .doc = "The service's command line, split into words as a POSIX shell would (quotes and "
	    "backslashes honoured, no expansion, no shell run: use sh -c '...' for pipes or "
	    "$VARIABLES). A command given after memwarden's options wins over this one. "
	    "Default: none."},
    {.section = "service",
     .name = "name",
     .type = &t_name,
     .doc = "The service's name, in log lines and the state file's name. "
	    "Default: the command's basename, any character other than letters, digits, '.', "
	    "'_' and '-' replaced by '_'."},
    {.section = "service",
     .name = "directory",
     .type = &t_path,
     .def = "",
     .flags = PATH_EMPTY_OK,
     .doc = "Working directory of the service. Empty: memwarden's own.",
     .off = FIELD(directory)},
    {.section = "service",
     .name = "user",
     .type = &t_account,
     .def = "",
     .doc = "User to run the service as: a name from /etc/passwd or a number (a uid that is "
	    "not in /etc/passwd is fine; its group is then the same number). The service gets "
	    "the user's primary group and the groups of /etc/group that list the user as a "
	    "member (set in that order: groups, gid, uid), and none of memwarden's "
	    "capabilities (the bounding set and no_new_privs stay the container's). Empty: "
	    "memwarden's own user."},
    {.section = "service",
     .name = "group",
     .type = &t_account,
     .def = "",
     .doc = "Group to run the service as: a name from /etc/group or a number. "
	    "Empty: the user's primary group."},
    {.section = "service",
     .name = "umask",
     .type = &t_umask,
     .def = "",
     .doc = "File mode creation mask of the service, in octal (022, 0027). "
	    "Empty: inherited from memwarden."},
    {.section = "service",
     .name = "stop_signal",
     .type = &t_signal,
     .def = "TERM",
     .flags = F_KILL_OK,
     .doc = "Signal that asks the service to stop, on shutdown and before a restart.",
     .off = FIELD(stop_signal)},
    {.section = "service",
     .name = "stop_timeout",
     .type = &t_duration,
     .def = "10s",
     .max = DURATION_MAX,
     .doc = "How long the service has to exit after stop_signal before whatever remains of it "
	    "is killed. Under Kubernetes, keep drain_delay + stop_timeout below the pod's "
	    "terminationGracePeriodSeconds.",
     .off = FIELD(stop_timeout_ms)},
    {.section = "service",
     .name = "drain_delay",
     .type = &t_duration,
     .def = "0s",
     .max = DURATION_MAX,
     .doc = "Time between marking the service not ready and sending stop_signal, for load "
	    "balancers to stop sending it traffic.",
     .off = FIELD(drain_delay_ms)},
    {.section = "service",
     .name = "signal_group",
     .type = &t_bool,
     .def = "no",
     .doc = "Forward signals to the service's whole process group instead of its main "
	    "process.",
     .off = FIELD(signal_group)},
    {.section = "service",
     .name = "success_exit_codes",
     .type = &t_exit_codes,
     .def = "none",
     .doc = "Exit codes, besides 0, that count as success, separated by spaces or commas: "
	    "143 for a service that exits with 128+SIGTERM when it is stopped.",
     .off = FIELD(success_exit)},
    {.section = "service",
     .name = "restart",
     .type = &t_choice,
     .def = "no",
     .choices = restart_choices,
     .doc = "When the service exits by itself: no (memwarden exits with its status and the "
	    "orchestrator restarts the container), on-failure (restart it unless it exited "
	    "with a success code) or always.",
     .off = FIELD(restart)},
    {.section = "service",
     .name = "restart_backoff",
     .type = &t_duration,
     .def = "1s",
     .max = DURATION_MAX,
     .doc = "Delay before a restart; it doubles with each restart, up to restart_backoff_max, "
	    "and starts over once the service has run for restart_window.",
     .off = FIELD(restart_backoff_ms)},
    {.section = "service",
     .name = "restart_backoff_max",
     .type = &t_duration,
     .def = "30s",
     .max = DURATION_MAX,
     .doc = "Longest delay before a restart; at least restart_backoff.",
     .off = FIELD(restart_backoff_max_ms)},
    {.section = "service",
     .name = "max_restarts",
     .type = &t_uint,
     .def = "10",
     .max = 1000000,
     .doc = "More restarts than this within restart_window and memwarden gives up: it exits "
	    "with the service's status, so that the orchestrator sees the failure.",
     .off = FIELD(max_restarts)},
    {.section = "service",
     .name = "restart_window",
     .type = &t_duration,
     .def = "10m",
     .min = MS_SECOND,
     .max = DURATION_MAX,
     .doc = "The window max_restarts counts restarts in.",
     .off = FIELD(restart_window_ms)},
    {.section = "service",
     .name = "ready",
     .type = &t_ready,
     .def = "started",
     .doc = "When the service is ready (`memwarden status --ready`): started (as soon as it "
	    "runs), notify (it sends READY=1 to $NOTIFY_SOCKET, as for systemd), tcp:PORT "
	    "(a socket listens on local port PORT; asked from the kernel, never by "
	    "connecting), file:PATH (PATH exists; removed before each start) or "
	    "delay:DURATION (that long after it started)."},

    /* [memory] */
    {.section = "memory",
     .name = "limit",
     .type = &t_limit,
     .def = "auto",
     .doc = "The memory limit the thresholds are relative to: auto (the cgroup's limit; "
	    "without one the guard is off, and a warning says so) or a size."},
    {.section = "memory",
     .name = "metric",
     .type = &t_choice,
     .def = "workingset",
     .choices = metric_choices,
     .doc = "What is compared with the thresholds: workingset (the cgroup's usage minus "
	    "inactive file cache, as the kubelet computes it), current (the cgroup's usage), "
	    "anon (its anonymous memory) or rss (the sum of the service's processes' RSS, for "
	    "hosts without a cgroup limit).",
     .off = FIELD(metric)},
    {.section = "memory",
     .name = "soft",
     .type = &t_threshold,
     .def = "80%",
     .doc = "Above this, memwarden asks the service's processes to hand freed memory back to "
	    "the kernel (at most every release_interval). A percent of the limit or a size; "
	    "below hard.",
     .off = FIELD(soft)},
    {.section = "memory",
     .name = "hard",
     .type = &t_threshold,
     .def = "90%",
     .doc = "Above this for hard_for samples (or sooner when usage grows fast enough to reach "
	    "the limit before then), memwarden takes the action. A percent of the limit or a "
	    "size.",
     .off = FIELD(hard)},
    {.section = "memory",
     .name = "interval",
     .type = &t_duration,
     .def = "1s",
     .min = 10,
     .max = MS_HOUR,
     .doc = "Time between two samples; memwarden samples faster as usage nears hard.",
     .off = FIELD(interval_ms)},
    {.section = "memory",
     .name = "fast_interval",
     .type = &t_duration,
     .def = "50ms",
     .min = 10,
     .max = MS_HOUR,
     .doc = "Shortest time between two samples, near hard; at most interval.",
     .off = FIELD(fast_interval_ms)},
    {.section = "memory",
     .name = "hard_for",
     .type = &t_uint,
     .def = "3",
     .min = 1,
     .max = 1000,
     .doc = "How many samples above hard before the action: in a row, or within the last "
	    "2 x hard_for (a service flapping at the edge is not spared). While a release "
	    "the guard sent is still running, the count waits for it, up to 1 s. Sooner "
	    "when the growth rate says the limit comes first.",
     .off = FIELD(hard_for)},
    {.section = "memory",
     .name = "release_interval",
     .type = &t_duration,
     .def = "10s",
     .max = DURATION_MAX,
     .doc = "Shortest time between two releases while usage stays above soft.",
     .off = FIELD(release_interval_ms)},
    {.section = "memory",
     .name = "action",
     .type = &t_choice,
     .def = "restart",
     .choices = action_choices,
     .doc = "What to do above hard: restart (stop the service gracefully and start it again), "
	    "signal (send action_signal to its main process, e.g. for a graceful reload) or "
	    "largest (stop its largest process other than the main one, which respawns it).",
     .off = FIELD(action)},
    {.section = "memory",
     .name = "action_signal",
     .type = &t_signal,
     .def = "HUP",
     .doc = "The signal of action = signal.",
     .off = FIELD(action_signal)},

    /* [allocator] */
    {.section = "allocator",
     .name = "preload",
     .type = &t_choice,
     .def = "jemalloc",
     .choices = preload_choices,
     .doc = "The allocator preloaded into the service: jemalloc, or none to keep the C "
	    "library's malloc (then arena_max applies).",
     .off = FIELD(preload)},
    {.section = "allocator",
     .name = "jemalloc",
     .type = &t_path,
     .def = "auto",
     .flags = PATH_AUTO,
     .doc = "libjemalloc.so to preload: auto (the copy bundled with memwarden, in the "
	    "library directory beside its executable or the one it was installed with, then "
	    "the usual distribution paths) or a path. It must be a regular file that only root "
	    "or memwarden's own user may change: theirs, not writable by group or others, in "
	    "directories likewise (one above may be writable by others with the sticky bit, "
	    "like /tmp); a path that is not is an error, a copy auto finds that is not is "
	    "skipped with a warning. The service gets the path with symbolic links resolved.",
     .off = FIELD(jemalloc_path)},
    {.section = "allocator",
     .name = "agent",
     .type = &t_path,
     .def = "auto",
     .flags = PATH_AUTO,
     .doc = "memwarden-agent.so, the preloaded library that releases memory on request: auto "
	    "(found like jemalloc) or a path, which must be as safe as jemalloc's.",
     .off = FIELD(agent_path)},
    {.section = "allocator",
     .name = "malloc_conf",
     .type = &t_malloc_conf,
     .def = DEFAULT_MALLOC_CONF,
     .doc = "MALLOC_CONF for jemalloc, passed unless the environment already sets MALLOC_CONF. "
	    "The default is memwarden's own: background purging threads, dirty pages "
	    "returned after 1 s, none kept muzzy. Unless it sets narenas, memwarden adds "
	    "narenas from the container's CPU quota when it starts the service (jemalloc "
	    "would size its arenas by the host's CPUs). Empty: pass nothing.",
     .off = FIELD(malloc_conf)},
    {.section = "allocator",
     .name = "malloc_conf_override",
     .type = &t_bool,
     .def = "no",
     .doc = "yes: malloc_conf wins over a MALLOC_CONF the environment already has.",
     .off = FIELD(malloc_conf_override)},
    {.section = "allocator",
     .name = "arena_max",
     .type = &t_uint,
     .def = "auto",
     .min = 1,
     .max = 1024,
     .flags = UINT_AUTO,
     .doc = "With preload = none: the C library's malloc arena limit "
	    "(GLIBC_TUNABLES=glibc.malloc.arena_max). auto: from the container's CPU quota.",
     .off = FIELD(arena_max)},
    {.section = "allocator",
     .name = "release_signal",
     .type = &t_signal,
     .def = "RTMIN+6",
     .flags = F_RELEASE,
     .doc = "The signal that asks the service's processes to release memory; the agent "
	    "handles it, and it is sent only to processes that handle it. RTMIN is glibc's "
	    "(34), so RTMIN+6 is signal 40, well clear of the real-time signals glibc and "
	    "musl keep for themselves (32 to 34).",
     .off = FIELD(release_signal)},

    /* [log] */
    {.section = "log",
     .name = "format",
     .type = &t_choice,
     .def = "auto",
     .choices = format_choices,
     .doc = "auto (json when stderr is not a terminal, text on a terminal), json or text.",
     .off = FIELD(log_format)},
    {.section = "log",
     .name = "level",
     .type = &t_choice,
     .def = "info",
     .choices = level_choices,
     .doc = "The least important level logged: debug, info, warn or error. Each -v on the "
	    "command line moves it one step towards debug, each -q towards error.",
     .off = FIELD(log_level)},
    {.section = "log",
     .name = "target",
     .type = &t_choice,
     .def = "stderr",
     .choices = target_choices,
     .doc = "Where memwarden's own lines go: stderr, or journal (the systemd journal; only in a "
	    "build linked with libsystemd).",
     .off = FIELD(log_target)},
    {.section = "log",
     .name = "memory_interval",
     .type = &t_duration,
     .def = "60s",
     .max = DURATION_MAX,
     .doc = "Time between two periodic memory events; 0 turns them off.",
     .off = FIELD(memory_interval_ms)},

    /* [status] */
    {.section = "status",
     .name = "state_file",
     .type = &t_path,
     .doc = "The state file memwarden keeps up to date and `memwarden status` reads. "
	    "Default: " RUN_DIR "/NAME.json, NAME being the service's name, or " TMP_DIR
	    "/NAME.json when " RUN_DIR " cannot be created or written. When memwarden runs "
	    "the service as another user ([service] user), that user must not be able to "
	    "change it: its directory, and every one above it, must be root's (or "
	    "memwarden's user's) and not writable by group or others (a directory above it "
	    "may be, with the sticky bit, like /tmp); memwarden creates it 0755. The "
	    "default falls back to " TMP_DIR " (with a warning) when " RUN_DIR " is not "
	    "so; a state_file that is not so is an error.",
     .off = FIELD(state_file)},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* ---------------------------------------------------------------------
 * Where each value came from
 */

enum origin_kind {
	ORIGIN_DEFAULT,
	ORIGIN_FILE,
	ORIGIN_ENV,
	ORIGIN_OPTION,
	ORIGIN_ARGV,	  /* the command given on the command line */
	ORIGIN_VERBOSITY, /* -v or -q moved [log] level */
};

struct origin {
	enum origin_kind kind;
	unsigned line;	   /* ORIGIN_FILE */
	const char *where; /* the file, the variable's name or the -s option */
};

struct setting {
	char *text; /* the value as given; NULL: none */
	enum origin_kind kind;
	unsigned line;
	char *where;
};

struct env_setting {
	char *name;
	struct setting s;
};

/* Behind cfg->origins. */
struct state {
	struct setting settings[NKEYS];
	struct env_setting *env;
	size_t n_env, cap_env;
	bool argv_owned;
};

struct loader {
	struct config *cfg;
	struct state *st;
	const struct config_input *in;
	char *err;
	size_t errlen;
};

/* ---------------------------------------------------------------------
 * Small helpers
 */

static int fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->errlen == 0)
		return 1;
	va_start(ap, fmt);
	vsnprintf(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
	return 1;
}

static int
replace_string(char **dst, const char *src)
{
	char *copy = NULL;

	if (src != NULL && (copy = strdup(src)) == NULL)
		return 1;
	free(*dst);
	*dst = copy;
	return 0;
}

static bool
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The first control character of s, or 0. Tabs are fine. */
static int
control_char(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return (unsigned char)*s;
	return 0;
}

/* A copy of s without leading and trailing whitespace, as inih trims what
 * it reads from a file, so that env and -s values compare the same. */
static char *
trimmed(const char *s, size_t len)
{
	while (len > 0 && is_blank((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank((unsigned char)s[len - 1]))
		len--;
	return strndup(s, len);
}

static bool
is_env_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool
is_absolute_path(const char *s)
{
	return s[0] == '/';
}

static int
find_section(const char *name)
{
	size_t i;

	for (i = 0; i < NSECTIONS; i++)
		if (strcmp(sections[i], name) == 0)
			return (int)i;
	return -1;
}

static int
find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The index of a key the code itself names; the table has it. */
static size_t
key_index(const char *section, const char *name)
{
	int i = find_key(section, name);

	if (i < 0)
		abort();
	return (size_t)i;
}

static void
env_var_name(const struct key *k, char *buf, size_t len)
{
	char *p;

	snprintf(buf, len, "MEMWARDEN_%s_%s", k->section, k->name);
	for (p = buf; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
}

static void
section_list(char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < NSECTIONS && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s[%s]", i > 0 ? ", " : "", sections[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static void
key_list(const char *section, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < NKEYS && used < len; i++) {
		int n;

		if (strcmp(keys[i].section, section) != 0)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", keys[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static void
format_duration(uint64_t ms, char *buf, size_t len)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{MS_DAY, "d"}, {MS_HOUR, "h"}, {MS_MINUTE, "m"}, {MS_SECOND, "s"}};
	size_t i;

	if (ms == 0) {
		snprintf(buf, len, "0");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms),
				 units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%llums", (unsigned long long)ms);
}

/* ---------------------------------------------------------------------
 * The types: validate and store, and say what they accept
 */

static int
set_command(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	char **words;

	(void)cfg;
	(void)k;
	words = split_words(text, why, whylen);
	if (words == NULL)
		return 1;
	if (words[0] == NULL) {
		snprintf(why, whylen, "%sgive the program and its arguments",
			 text[0] != '\0' ? "no words in it: " : "");
		free_words(words);
		return 1;
	}
	/* Split again at the end of the load, when it is known whether the
	 * command line gave a command instead. */
	free_words(words);
	return 0;
}

static void
accepts_command(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len, "a command line, split into words as a shell would");
}

static bool
is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

static int
set_name(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	const char *p;

	(void)k;
	(void)why;
	(void)whylen;
	if (text[0] == '\0' || strlen(text) > NAME_MAX_LEN || strcmp(text, ".") == 0 ||
	    strcmp(text, "..") == 0)
		return 1;
	for (p = text; *p != '\0'; p++)
		if (!is_name_char(*p))
			return 1;
	if (replace_string(&cfg->name, text)) {
		snprintf(why, whylen, "out of memory");
		return 1;
	}
	return 0;
}

static void
accepts_name(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len,
		 "a name of letters, digits, '.', '_' and '-', at most %d characters (it is used "
		 "in file names)",
		 NAME_MAX_LEN);
}

static int
set_path(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	const char *value = text;

	if (((k->flags & PATH_EMPTY_OK) && text[0] == '\0') ||
	    ((k->flags & PATH_AUTO) && strcmp(text, "auto") == 0))
		value = NULL; /* unset, or auto: the default */
	else if (!is_absolute_path(text))
		return 1;
	if (replace_string(AT(cfg, k, char *), value)) {
		snprintf(why, whylen, "out of memory");
		return 1;
	}
	return 0;
}

static void
accepts_path(const struct key *k, char *buf, size_t len)
{
	snprintf(buf, len, "%san absolute path%s", (k->flags & PATH_AUTO) ? "auto or " : "",
		 (k->flags & PATH_EMPTY_OK) ? ", or empty" : "");
}

/* Resolved at the end, when both the user and the group are known; here
 * only what could never name an account. */
static int
set_account(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	const char *p;

	(void)cfg;
	(void)k;
	(void)why;
	(void)whylen;
	if (strlen(text) > 256)
		return 1;
	for (p = text; *p != '\0'; p++)
		if (*p == ':' || *p == ',' || is_blank((unsigned char)*p))
			return 1;
	return 0;
}

static void
accepts_account(const struct key *k, char *buf, size_t len)
{
	snprintf(buf, len, "a name from %s or a number, or empty",
		 strcmp(k->name, "user") == 0 ? PASSWD_PATH : GROUP_PATH);
}

static int
set_umask(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	unsigned v = 0;
	size_t n = strlen(text);
	const char *p;

	(void)k;
	(void)why;
	(void)whylen;
	if (n == 0) {
		cfg->has_umask = false;
		cfg->umask = 0;
		return 0;
	}
	if (n > 4)
		return 1;
	for (p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return 1;
		v = v * 8 + (unsigned)(*p - '0');
	}
	if (v > 0777)
		return 1;
	cfg->has_umask = true;
	cfg->umask = (mode_t)v;
	return 0;
}

static void
accepts_umask(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len, "an octal mask from 000 to 0777 (like 022 or 0027), or empty");
}

static bool
is_release_signal(int signo)
{
	return signo == SIGUSR1 || signo == SIGUSR2 ||
	       (signo >= SERVICE_RTMIN && signo <= SERVICE_RTMAX);
}

static int
set_signal(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	int signo;

	(void)why;
	(void)whylen;
	if (parse_signal(text, &signo))
		return 1;
	/* STOP would only freeze the service; KILL cannot be caught, so it
	 * can do nothing but kill, which only a stop signal may. */
	if (signo == SIGSTOP || (signo == SIGKILL && !(k->flags & F_KILL_OK)))
		return 1;
	if ((k->flags & F_RELEASE) && !is_release_signal(signo))
		return 1;
	*AT(cfg, k, int) = signo;
	return 0;
}

static void
accepts_signal(const struct key *k, char *buf, size_t len)
{
	if (k->flags & F_RELEASE)
		snprintf(buf, len,
			 "USR1, USR2 or a real-time signal (RTMIN, RTMIN+N, RTMAX-N, or a "
			 "number from %d to %d)",
			 SERVICE_RTMIN, SERVICE_RTMAX);
	else
		snprintf(buf, len,
			 "a signal%s: a name like TERM or SIGTERM, a number from 1 to %d, RTMIN+N "
			 "or RTMAX-N%s",
			 (k->flags & F_KILL_OK) ? "" : " that can be caught", SERVICE_RTMAX,
			 (k->flags & F_KILL_OK) ? ", but not STOP" : ", but not KILL or STOP");
}

static int
set_duration(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	uint64_t ms;

	(void)why;
	(void)whylen;
	if (parse_duration_ms(text, &ms) || ms < k->min || ms > k->max)
		return 1;
	*AT(cfg, k, uint64_t) = ms;
	return 0;
}

static void
accepts_duration(const struct key *k, char *buf, size_t len)
{
	char lo[32], hi[32];

	format_duration(k->min, lo, sizeof(lo));
	format_duration(k->max, hi, sizeof(hi));
	snprintf(buf, len,
		 "a duration from %s to %s (like 250ms, 10s, 5m, 1h or 1.5s; a bare number is "
		 "seconds)",
		 lo, hi);
}

static int
set_bool(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	return parse_bool(text, AT(cfg, k, bool));
}

static void
accepts_bool(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len, "a boolean: yes/no, true/false, on/off or 1/0");
}

static int
set_exit_codes(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	bool codes[256] = {false};
	const char *p = text;

	(void)why;
	(void)whylen;
	if (strcmp(text, "none") != 0) {
		while (*p != '\0') {
			char num[8];
			size_t n = strcspn(p, ", \t");
			unsigned code;

			if (n == 0) {
				p++;
				continue;
			}
			if (n >= sizeof(num))
				return 1;
			memcpy(num, p, n);
			num[n] = '\0';
			if (parse_small_uint(num, 255, &code))
				return 1;
			codes[code] = true;
			p += n;
		}
	}
	memcpy(AT(cfg, k, bool), codes, sizeof(codes));
	return 0;
}

static void
accepts_exit_codes(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len, "none, or exit codes from 0 to 255 separated by spaces or commas");
}

static int
set_choice(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	const struct choice *c;

	(void)why;
	(void)whylen;
	for (c = k->choices; c->name != NULL; c++) {
		if (strcmp(c->name, text) == 0) {
			/* The enums of struct config are all int-sized. */
			*AT(cfg, k, int) = c->value;
			return 0;
		}
	}
	return 1;
}

static void
accepts_choice(const struct key *k, char *buf, size_t len)
{
	const struct choice *c;
	size_t used;

	used = (size_t)snprintf(buf, len, "one of");
	for (c = k->choices; c->name != NULL && used < len; c++) {
		int n =
		    snprintf(buf + used, len - used, "%s %s", c == k->choices ? "" : ",", c->name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int
set_uint(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	uint64_t v;

	(void)why;
	(void)whylen;
	if ((k->flags & UINT_AUTO) && strcmp(text, "auto") == 0) {
		*AT(cfg, k, unsigned) = 0;
		return 0;
	}
	if (parse_uint64(text, &v) || v < k->min || v > k->max)
		return 1;
	*AT(cfg, k, unsigned) = (unsigned)v;
	return 0;
}

static void
accepts_uint(const struct key *k, char *buf, size_t len)
{
	snprintf(buf, len, "%sa whole number from %llu to %llu",
		 (k->flags & UINT_AUTO) ? "auto or " : "", (unsigned long long)k->min,
		 (unsigned long long)k->max);
}

static int
set_ready(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	enum ready_mode mode;
	uint64_t port = 0, delay = 0;
	char *path = NULL;

	(void)k;
	if (strcmp(text, "started") == 0) {
		mode = READY_STARTED;
	} else if (strcmp(text, "notify") == 0) {
		mode = READY_NOTIFY;
	} else if (strncmp(text, "tcp:", 4) == 0) {
		mode = READY_TCP;
		if (parse_uint64(text + 4, &port) || port < 1 || port > 65535)
			return 1;
	} else if (strncmp(text, "file:", 5) == 0) {
		mode = READY_FILE;
		if (!is_absolute_path(text + 5))
			return 1;
		if ((path = strdup(text + 5)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return 1;
		}
	} else if (strncmp(text, "delay:", 6) == 0) {
		mode = READY_DELAY;
		if (parse_duration_ms(text + 6, &delay) || delay > DURATION_MAX)
			return 1;
	} else {
		return 1;
	}
	cfg->ready = mode;
	cfg->ready_port = (uint16_t)port;
	cfg->ready_delay_ms = delay;
	free(cfg->ready_path);
	cfg->ready_path = path;
	return 0;
}

static void
accepts_ready(const struct key *k, char *buf, size_t len)
{
	char hi[32];

	(void)k;
	format_duration(DURATION_MAX, hi, sizeof(hi));
	snprintf(buf, len,
		 "started, notify, tcp:PORT (PORT from 1 to 65535), file:PATH (an absolute path) "
		 "or delay:DURATION (up to %s)",
		 hi);
}

static int
set_limit(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	uint64_t bytes;

	(void)k;
	(void)why;
	(void)whylen;
	if (strcmp(text, "auto") == 0) {
		cfg->limit_auto = true;
		cfg->limit_bytes = 0;
		return 0;
	}
	/* Under a megabyte no service runs; it is a size without its unit. */
	if (parse_size(text, &bytes) || bytes < SIZE_MIB)
		return 1;
	cfg->limit_auto = false;
	cfg->limit_bytes = bytes;
	return 0;
}

static void
accepts_limit(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len,
		 "auto or a size of at least 1M (like 512M, 4.5G, 4.5Gi; K, M, G and T are "
		 "powers of 1024)");
}

static int
set_threshold(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	struct threshold t = {0};

	(void)why;
	(void)whylen;
	if (strchr(text, '%') != NULL) {
		if (parse_percent(text, &t.percent) || !(t.percent > 0.0))
			return 1;
		t.is_percent = true;
	} else if (parse_size(text, &t.bytes) || t.bytes == 0) {
		return 1;
	}
	*AT(cfg, k, struct threshold) = t;
	return 0;
}

static void
accepts_threshold(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len, "a percent in (0%%, 100%%] or a size (like 512M, 4.5G, 4.5Gi)");
}

/* NAME:VALUE,NAME:VALUE, as jemalloc parses it; checked here because
 * jemalloc only complains on the service's stderr, once it runs. */
static int
set_malloc_conf(struct config *cfg, const struct key *k, const char *text, char *why, size_t whylen)
{
	const char *p = text;

	(void)k;
	while (*p != '\0') {
		size_t name = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		size_t value;

		if (name == 0 || p[name] != ':')
			return 1;
		p += name + 1;
		value = strcspn(p, ",");
		if (value == 0 || memchr(p, ' ', value) != NULL || memchr(p, '\t', value) != NULL)
			return 1;
		p += value;
		if (*p == ',' && *++p == '\0')
			return 1;
	}
	if (replace_string(&cfg->malloc_conf, text)) {
		snprintf(why, whylen, "out of memory");
		return 1;
	}
	return 0;
}

static void
accepts_malloc_conf(const struct key *k, char *buf, size_t len)
{
	(void)k;
	snprintf(buf, len,
		 "jemalloc options NAME:VALUE separated by commas (like "
		 "background_thread:true,dirty_decay_ms:1000), or empty");
}

/* ---------------------------------------------------------------------
 * Applying values
 */

static void
origin_text(enum origin_kind kind, const char *where, unsigned line, bool for_error, char *buf,
	    size_t len)
{
	switch (kind) {
	case ORIGIN_DEFAULT:
		snprintf(buf, len, "default");
		break;
	case ORIGIN_FILE:
		snprintf(buf, len, "%s:%u", where, line);
		break;
	case ORIGIN_ENV:
		snprintf(buf, len, "env %s", where);
		break;
	case ORIGIN_OPTION:
		if (for_error)
			snprintf(buf, len, "option -s %s", where);
		else
			snprintf(buf, len, "option -s");
		break;
	case ORIGIN_ARGV:
		snprintf(buf, len, "command line");
		break;
	case ORIGIN_VERBOSITY:
		snprintf(buf, len, "%s", where);
		break;
	}
}

static void
setting_origin(const struct setting *s, bool for_error, char *buf, size_t len)
{
	origin_text(s->kind, s->where, s->line, for_error, buf, len);
}

static int
remember(struct setting *s, const char *text, const struct origin *o)
{
	char *t = strdup(text);
	char *w = o->where != NULL ? strdup(o->where) : NULL;

	if (t == NULL || (o->where != NULL && w == NULL)) {
		free(t);
		free(w);
		return 1;
	}
	free(s->text);
	free(s->where);
	s->text = t;
	s->where = w;
	s->kind = o->kind;
	s->line = o->line;
	return 0;
}

static int
bad_value(struct loader *ld, const char *section, const char *name, const char *text,
	  const struct origin *o, const char *why)
{
	char where[PATH_MAX + 64];

	origin_text(o->kind, o->where, o->line, true, where, sizeof(where));
	if (text[0] == '\0')
		return fail(ld, "%s: [%s] %s is empty: %s", where, section, name, why);
	return fail(ld, "%s: [%s] %s = %s: %s", where, section, name, text, why);
}

static int
apply(struct loader *ld, size_t ki, const char *text, const struct origin *o)
{
	const struct key *k = &keys[ki];
	char why[256] = "", msg[300];
	int c;

	if ((c = control_char(text)) != 0) {
		origin_text(o->kind, o->where, o->line, true, msg, sizeof(msg));
		return fail(ld, "%s: [%s] %s: the value contains control character 0x%02x", msg,
			    k->section, k->name, (unsigned)c);
	}
	if (k->type->set(ld->cfg, k, text, why, sizeof(why)) != 0) {
		char accepted[256];

		if (why[0] != '\0')
			return bad_value(ld, k->section, k->name, text, o, why);
		k->type->accepts(k, accepted, sizeof(accepted));
		if (k->type->numeric && text[0] == '-')
			snprintf(msg, sizeof(msg), "negative values are not allowed; expected %s",
				 accepted);
		else
			snprintf(msg, sizeof(msg), "not %s", accepted);
		return bad_value(ld, k->section, k->name, text, o, msg);
	}
	if (remember(&ld->st->settings[ki], text, o))
		return fail(ld, "out of memory");
	return 0;
}

static struct env_setting *
find_env(struct state *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->n_env; i++)
		if (strcmp(st->env[i].name, name) == 0)
			return &st->env[i];
	return NULL;
}

/* [environment] NAME = value, from any layer; a later layer replaces the
 * value of an earlier one, a second one in the same file is an error. */
static int
apply_env(struct loader *ld, const char *name, const char *value, const struct origin *o)
{
	struct state *st = ld->st;
	struct env_setting *e;
	char where[PATH_MAX + 64];
	int c;

	if (!is_env_name(name)) {
		origin_text(o->kind, o->where, o->line, true, where, sizeof(where));
		return fail(ld,
			    "%s: [" ENV_SECTION "] %s: not a valid environment variable name "
			    "(letters, digits and '_', not starting with a digit)",
			    where, name);
	}
	if ((c = control_char(value)) != 0) {
		origin_text(o->kind, o->where, o->line, true, where, sizeof(where));
		return fail(ld, "%s: [" ENV_SECTION "] %s: contains control character 0x%02x",
			    where, name, (unsigned)c);
	}
	e = find_env(st, name);
	if (e != NULL && e->s.kind == ORIGIN_FILE && o->kind == ORIGIN_FILE) {
		origin_text(o->kind, o->where, o->line, true, where, sizeof(where));
		return fail(ld, "%s: [" ENV_SECTION "] %s given twice (first on line %u)", where,
			    name, e->s.line);
	}
	if (e == NULL) {
		if (st->n_env == st->cap_env) {
			size_t cap = st->cap_env != 0 ? st->cap_env * 2 : 8;
			struct env_setting *grown = reallocarray(st->env, cap, sizeof(*grown));

			if (grown == NULL)
				return fail(ld, "out of memory");
			st->env = grown;
			st->cap_env = cap;
		}
		e = &st->env[st->n_env];
		memset(e, 0, sizeof(*e));
		if ((e->name = strdup(name)) == NULL)
			return fail(ld, "out of memory");
		st->n_env++;
	}
	if (remember(&e->s, value, o))
		return fail(ld, "out of memory");
	return 0;
}

static int
unknown_section(struct loader *ld, const char *where, const char *section)
{
	char list[256];

	section_list(list, sizeof(list));
	return fail(ld, "%s: unknown section [%s]; the sections are %s", where, section, list);
}

static int
unknown_key(struct loader *ld, const char *where, const char *section, const char *name)
{
	char list[400];

	key_list(section, list, sizeof(list));
	return fail(ld, "%s: unknown key \"%s\" in [%s]; its keys are %s", where, name, section,
		    list);
}

/* ---------------------------------------------------------------------
 * The file
 *
 * inih does the splitting, but on its own it would truncate a long line
 * into two bogus ones, read an indented line as the continuation of the
 * previous value, skip an unknown section that has no keys, and report any
 * other trouble as a bare line number, without calling the handler with a
 * line number at all (Debian's build has INI_HANDLER_LINENO 0). So inih
 * reads through this reader, which counts lines, hands over one whole line
 * at a time and checks each line the way inih is about to read it, so that
 * every problem gets its own message.
 */

struct file_ctx {
	struct loader *ld;
	const char *path;
	FILE *fp;
	unsigned lineno;
	bool failed;
	bool in_section; /* a [section] header was seen */
	bool after_key;	 /* inih's prev_name: an indented line would continue it */
	char *buf;
	size_t cap;
};

static int file_fail(struct file_ctx *fc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
file_fail(struct file_ctx *fc, const char *fmt, ...)
{
	char msg[CONFIG_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fc->failed = true;
	return fail(fc->ld, "%s:%u: %s", fc->path, fc->lineno, msg);
}

/* Length of the UTF-8 sequence at s (1 to 4), or 0 when it is invalid. */
static size_t
utf8_len(const unsigned char *s, size_t avail)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Binary garbage has NUL bytes, control characters or bytes that are not
 * UTF-8; a configuration file has none of them. */
static int
check_text(struct file_ctx *fc, const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (s[i] == '\0')
			return file_fail(fc, "the line contains a NUL byte; is this a text file?");
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return file_fail(fc,
					 "the line contains control character 0x%02x; is this "
					 "a text file?",
					 s[i]);
		if ((n = utf8_len(s + i, len - i)) == 0)
			return file_fail(fc, "the line is not valid UTF-8; is this a text file?");
		i += n;
	}
	return 0;
}

/* inih's find_chars_or_comment(): the first of chars, or an inline comment
 * (a ';' after whitespace), or the end. */
static const char *
find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* The checks inih does not do, on a line as inih will see it. */
static int
check_syntax(struct file_ctx *fc, const char *line)
{
	const char *s = line, *end;
	char name[256];
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (fc->after_key && s > line)
		return file_fail(fc, "an indented line would continue the value of the line "
				     "before it, and multi-line values are not supported; "
				     "remove the indentation");
	if (*s == '[') {
		end = find_chars_or_comment(s + 1, "]");
		if (*end != ']')
			return file_fail(fc, "unterminated section header \"%s\": expected [NAME]",
					 s);
		n = (size_t)(end - s - 1);
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, s + 1, n);
		name[n] = '\0';
		for (end++; isspace((unsigned char)*end); end++)
			;
		if (*end != '\0' && *end != ';' && *end != '#')
			return file_fail(fc, "text after the section header [%s]: \"%s\"", name,
					 end);
		if (find_section(name) < 0) {
			char list[256];

			section_list(list, sizeof(list));
			return file_fail(fc, "unknown section [%s]; the sections are %s", name,
					 list);
		}
		fc->in_section = true;
		fc->after_key = false;
		return 0;
	}
	end = find_chars_or_comment(s, "=:");
	if (*end != '=' && *end != ':')
		return file_fail(fc,
				 "expected KEY = VALUE, a [SECTION] header or a comment, not "
				 "\"%s\"",
				 s);
	n = (size_t)(end - s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0)
		return file_fail(fc, "a value without a key: \"%s\"", s);
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, s, n);
	name[n] = '\0';
	if (!fc->in_section)
		return file_fail(fc,
				 "key \"%s\" outside any section: put it under a [SECTION] "
				 "header",
				 name);
	fc->after_key = true;
	return 0;
}

/*
 * Reads one line of at most num - 1 bytes (without its newline) into str,
 * after checking it. A longer line is an error, not two lines. Returning
 * NULL ends the parse, on EOF or on the first error.
 */
static char *
file_reader(char *str, int num, void *stream)
{
	struct file_ctx *fc = stream;
	size_t max = num > 1 ? (size_t)num - 1 : 0;
	/* Room for the line, a UTF-8 byte order mark and a '\r' before its
	 * newline: neither counts against the limit. */
	size_t room = max + 4, len = 0;
	int c = EOF;
	char *line;

	if (fc->failed)
		return NULL;
	if (fc->cap < room + 1) {
		char *grown = realloc(fc->buf, room + 1);

		if (grown == NULL) {
			fc->failed = true;
			fail(fc->ld, "out of memory");
			return NULL;
		}
		fc->buf = grown;
		fc->cap = room + 1;
	}
	while ((c = getc(fc->fp)) != EOF && c != '\n') {
		if (len == room)
			break;
		fc->buf[len++] = (char)c;
	}
	if (c == EOF && ferror(fc->fp)) {
		fc->failed = true;
		fail(fc->ld, "cannot read the configuration file %s: %s", fc->path,
		     strerror(errno));
		return NULL;
	}
	if (c == EOF && len == 0)
		return NULL;
	fc->lineno++;
	if (len > 0 && fc->buf[len - 1] == '\r')
		len--;
	fc->buf[len] = '\0';
	line = fc->buf;
	if (fc->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (len > max) {
		file_fail(fc,
			  "line longer than %zu bytes, the parser's limit (a long value can be "
			  "given with -s or a MEMWARDEN_... variable instead)",
			  max);
		return NULL;
	}
	if (check_text(fc, line, len) || check_syntax(fc, line))
		return NULL;
	memcpy(str, line, len + 1);
	return str;
}

static int
file_handler(void *user, const char *section, const char *name, const char *value)
{
	struct file_ctx *fc = user;
	struct loader *ld = fc->ld;
	struct origin o = {ORIGIN_FILE, fc->lineno, fc->path};
	char where[PATH_MAX + 32];
	int ki;

	if (fc->failed)
		return 0;
	snprintf(where, sizeof(where), "%s:%u", fc->path, fc->lineno);
	if (strcmp(section, ENV_SECTION) == 0) {
		if (apply_env(ld, name, value, &o))
			goto fail;
		return 1;
	}
	if (find_section(section) < 0) {
		unknown_section(ld, where, section);
		goto fail;
	}
	if ((ki = find_key(section, name)) < 0) {
		unknown_key(ld, where, section, name);
		goto fail;
	}
	if (ld->st->settings[ki].kind == ORIGIN_FILE) {
		fail(ld, "%s: [%s] %s given twice (first on line %u)", where, section, name,
		     ld->st->settings[ki].line);
		goto fail;
	}
	if (apply(ld, (size_t)ki, value, &o))
		goto fail;
	return 1;
fail:
	fc->failed = true;
	return 0;
}

static int
load_file(struct loader *ld, const char *path)
{
	struct file_ctx fc = {.ld = ld, .path = path};
	int rc;

	if (path[0] == '\0')
		return fail(ld, "the configuration file's name is empty");
	fc.fp = fopen(path, "re");
	if (fc.fp == NULL)
		return fail(ld, "cannot read the configuration file %s: %s", path, strerror(errno));
	rc = ini_parse_stream(file_reader, &fc, file_handler, &fc);
	fclose(fc.fp);
	free(fc.buf);
	if (fc.failed)
		return 1;
	if (rc == -2)
		return fail(ld, "%s: out of memory", path);
	if (rc != 0)
		return fail(ld, "%s:%d: cannot parse this line", path, rc);
	return 0;
}

/* ---------------------------------------------------------------------
 * The environment and the -s options
 */

#define ENV_PREFIX "MEMWARDEN_"
#define ENV_CONFIG "MEMWARDEN_CONFIG"
#define ENV_ENVIRONMENT "MEMWARDEN_ENVIRONMENT_"

static const char *
env_lookup(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static int
key_by_env_name(const char *name)
{
	char buf[128];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		env_var_name(&keys[i], buf, sizeof(buf));
		if (strcmp(buf, name) == 0)
			return (int)i;
	}
	return -1;
}

/* True when name is MEMWARDEN_<SECTION>_... for one of the sections. */
static bool
names_a_section(const char *name)
{
	const char *rest = name + strlen(ENV_PREFIX);
	size_t i, n;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		n = strlen(sections[i]);
		if (strncasecmp(rest, sections[i], n) == 0 && rest[n] == '_')
			return true;
	}
	return false;
}

static int
load_env_var(struct loader *ld, const char *var)
{
	const char *eq = strchr(var, '=');
	char *name, *value = NULL;
	struct origin o = {ORIGIN_ENV, 0, NULL};
	int ki, rc = 1;

	if (eq == NULL)
		return 0;
	if ((name = strndup(var, (size_t)(eq - var))) == NULL ||
	    (value = trimmed(eq + 1, strlen(eq + 1))) == NULL) {
		rc = fail(ld, "out of memory");
		goto out;
	}
	o.where = name;
	/* Two branches accept without applying anything, for two reasons. */
	if (strcmp(name, ENV_CONFIG) == 0) { // NOLINT(bugprone-branch-clone)
		rc = 0;
	} else if ((ki = key_by_env_name(name)) >= 0) {
		/* getenv() takes the first of duplicates; so does this. */
		rc = ld->st->settings[ki].kind == ORIGIN_ENV ? 0 : apply(ld, (size_t)ki, value, &o);
	} else if (strncmp(name, ENV_ENVIRONMENT, strlen(ENV_ENVIRONMENT)) == 0) {
		const char *key = name + strlen(ENV_ENVIRONMENT);
		const struct env_setting *e = find_env(ld->st, key);

		rc = e != NULL && e->s.kind == ORIGIN_ENV ? 0 : apply_env(ld, key, value, &o);
	} else if (!names_a_section(name)) {
		/* MEMWARDEN_SOMETHING_ELSE may be anyone's (a test harness, a
		 * wrapper script): only a misspelt key of a real section is
		 * an error. */
		rc = 0;
	} else {
		rc = fail(ld,
			  "env %s: unknown variable: memwarden reads " ENV_CONFIG
			  " and MEMWARDEN_<SECTION>_<KEY> for the keys of its configuration (like "
			  "MEMWARDEN_MEMORY_SOFT); fix its name or unset it",
			  name);
	}
out:
	free(name);
	free(value);
	return rc;
}

static int
load_env(struct loader *ld)
{
	char **e;

	for (e = ld->in->envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) == 0 && load_env_var(ld, *e))
			return 1;
	return 0;
}

static int
load_option(struct loader *ld, const char *opt)
{
	const char *dot = strchr(opt, '.'), *eq = strchr(opt, '=');
	char *section = NULL, *name = NULL, *value = NULL;
	char where[512];
	struct origin o = {ORIGIN_OPTION, 0, opt};
	int ki, rc = 1;

	snprintf(where, sizeof(where), "option -s %s", opt);
	if (dot == NULL || eq == NULL || dot > eq || dot == opt || eq == dot + 1)
		return fail(ld, "%s: expected SECTION.KEY=VALUE (like -s memory.soft=75%%)", where);
	if ((section = strndup(opt, (size_t)(dot - opt))) == NULL ||
	    (name = trimmed(dot + 1, (size_t)(eq - dot - 1))) == NULL ||
	    (value = trimmed(eq + 1, strlen(eq + 1))) == NULL) {
		rc = fail(ld, "out of memory");
		goto out;
	}
	if (strcmp(section, ENV_SECTION) == 0)
		rc = apply_env(ld, name, value, &o);
	else if (find_section(section) < 0)
		rc = unknown_section(ld, where, section);
	else if ((ki = find_key(section, name)) < 0)
		rc = unknown_key(ld, where, section, name);
	else
		rc = apply(ld, (size_t)ki, value, &o);
out:
	free(section);
	free(name);
	free(value);
	return rc;
}

/* ---------------------------------------------------------------------
 * What depends on several keys
 */

/* The basename of argv0 as a service name: other characters become '_'. */
static char *
name_from_command(const char *argv0)
{
	const char *end = argv0 + strlen(argv0), *start;
	size_t n, i;
	char *name;

	while (end > argv0 && end[-1] == '/')
		end--;
	start = end;
	while (start > argv0 && start[-1] != '/')
		start--;
	n = (size_t)(end - start);
	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	if (n == 0)
		return strdup(FALLBACK_NAME);
	if ((name = strndup(start, n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (!is_name_char(name[i]))
			name[i] = '_';
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		memset(name, '_', n);
	return name;
}

static bool
dir_usable(const char *dir, const char *parent)
{
	struct stat st;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
	return errno == ENOENT && access(parent, W_OK | X_OK) == 0;
}

static int
set_computed(struct loader *ld, size_t ki, const char *text)
{
	struct origin o = {ORIGIN_DEFAULT, 0, NULL};

	if (remember(&ld->st->settings[ki], text, &o))
		return fail(ld, "out of memory");
	return 0;
}

static int
settle_command(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const struct config_input *in = ld->in;
	size_t ki = key_index("service", "command");
	struct setting *s = &ld->st->settings[ki];
	char e[256];

	if (in->argv != NULL && in->argv[0] != NULL) {
		struct origin o = {ORIGIN_ARGV, 0, NULL};
		char *joined = join_words(in->argv);

		cfg->argv = in->argv;
		if (joined == NULL || remember(s, joined, &o)) {
			free(joined);
			return fail(ld, "out of memory");
		}
		free(joined);
	} else if (s->text != NULL) {
		cfg->argv = split_words(s->text, e, sizeof(e));
		if (cfg->argv == NULL)
			return fail(ld, "[service] command = %s: %s", s->text, e);
		ld->st->argv_owned = true;
	} else if (in->need_command) {
		return fail(ld, "no command: give one after the options or set [service] command");
	}
	return 0;
}

static int
settle_name(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	size_t ki = key_index("service", "name");

	if (cfg->name != NULL)
		return 0;
	cfg->name = cfg->argv != NULL ? name_from_command(cfg->argv[0]) : strdup(FALLBACK_NAME);
	if (cfg->name == NULL)
		return fail(ld, "out of memory");
	return set_computed(ld, ki, cfg->name);
}

/* True when memwarden runs the service as a user other than its own (and
 * other than root): then that user must not be able to change the state
 * file (SPEC section 8), which memwarden writes with its own privileges
 * and `memwarden status` and `release` trust. */
static bool
service_is_another_user(const struct config *cfg)
{
	return cfg->cred.set_uid && cfg->cred.uid != 0 && cfg->cred.uid != geteuid();
}

static int
settle_state_file(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	size_t ki = key_index("status", "state_file");
	char why[PATH_MAX + 256], why_run[PATH_MAX + 256] = "", where[PATH_MAX + 64];
	bool strict = service_is_another_user(cfg), in_run;
	const char *dir;

	if (cfg->state_file != NULL) {
		if (!strict || state_dir_check(cfg->state_file, geteuid(), why, sizeof(why)) == 0)
			return 0;
		setting_origin(&ld->st->settings[ki], true, where, sizeof(where));
		return fail(ld,
			    "%s: [status] state_file = %s: %s; the service runs as uid %u, who "
			    "must not be able to change the state file",
			    where, cfg->state_file, why, (unsigned)cfg->cred.uid);
	}
	in_run = dir_usable(RUN_DIR, "/run");
	if (strict && in_run &&
	    state_dir_check(RUN_DIR "/x.json", geteuid(), why_run, sizeof(why_run)) != 0) {
		/* Like an unwritable /run: the fallback, said once. */
		in_run = false;
		if (asprintf(&cfg->state_warning,
			     "[status] state_file: not in " RUN_DIR ": %s; the service runs as uid "
			     "%u; using " TMP_DIR " instead",
			     why_run, (unsigned)cfg->cred.uid) < 0)
			cfg->state_warning = NULL;
	}
	dir = in_run ? RUN_DIR : TMP_DIR;
	if (strict && !in_run &&
	    state_dir_check(TMP_DIR "/x.json", geteuid(), why, sizeof(why)) != 0) {
		return fail(ld,
			    "[status] state_file: no safe directory for it: %s%s%s" TMP_DIR
			    ": %s; the service runs as uid %u, who must not be able to change "
			    "it; set [status] state_file",
			    cfg->state_warning ? RUN_DIR ": " : "",
			    cfg->state_warning ? why_run : "", cfg->state_warning ? "; " : "", why,
			    (unsigned)cfg->cred.uid);
	}
	if (asprintf(&cfg->state_file, "%s/%s.json", dir, cfg->name) < 0) {
		cfg->state_file = NULL;
		return fail(ld, "out of memory");
	}
	return set_computed(ld, ki, cfg->state_file);
}

static bool
resolves(const char *user, const char *group)
{
	struct credentials tmp;
	char e[256];
	int rc = users_resolve(user, group, PASSWD_PATH, GROUP_PATH, &tmp, e, sizeof(e));

	credentials_free(&tmp);
	return rc == 0;
}

static int
settle_credentials(struct loader *ld)
{
	const struct setting *user = &ld->st->settings[key_index("service", "user")];
	const struct setting *group = &ld->st->settings[key_index("service", "group")];
	const struct setting *blame = user;
	char e[256], where[PATH_MAX + 64];

	if (user->text[0] == '\0' && group->text[0] == '\0')
		return 0;
	if (users_resolve(user->text, group->text, PASSWD_PATH, GROUP_PATH, &ld->cfg->cred, e,
			  sizeof(e)) == 0)
		return 0;
	/* Which of the two was it? The group, when the user alone resolves;
	 * users_resolve() left e for it. */
	if (group->text[0] != '\0' && (user->text[0] == '\0' || resolves(user->text, NULL)))
		blame = group;
	setting_origin(blame, true, where, sizeof(where));
	return fail(ld, "%s: [service] %s = %s: %s", where, blame == user ? "user" : "group",
		    blame->text, e);
}

/* When two keys disagree, the one set last is to blame: the later layer,
 * or the later line of the file. */
static const struct setting *
later(const struct setting *a, const struct setting *b)
{
	if (b->kind != a->kind)
		return b->kind > a->kind ? b : a;
	return b->kind == ORIGIN_FILE && b->line > a->line ? b : a;
}

static int
disagree(struct loader *ld, const char *section, const char *a, const char *rel, const char *b)
{
	const struct setting *sa = &ld->st->settings[key_index(section, a)];
	const struct setting *sb = &ld->st->settings[key_index(section, b)];
	char wa[PATH_MAX + 64], wb[PATH_MAX + 64];
	static const struct {
		const char *rel, *inverse;
	} inverse[] = {{"below", "above"}, {"at most", "at least"}, {"at least", "at most"}};

	if (later(sa, sb) == sb) {
		const char *r = rel;
		size_t i;

		for (i = 0; i < sizeof(inverse) / sizeof(inverse[0]); i++)
			if (strcmp(inverse[i].rel, rel) == 0)
				r = inverse[i].inverse;
		setting_origin(sb, true, wb, sizeof(wb));
		setting_origin(sa, true, wa, sizeof(wa));
		return fail(ld, "%s: [%s] %s = %s must be %s [%s] %s = %s (%s)", wb, section, b,
			    sb->text, r, section, a, sa->text, wa);
	}
	setting_origin(sa, true, wa, sizeof(wa));
	setting_origin(sb, true, wb, sizeof(wb));
	return fail(ld, "%s: [%s] %s = %s must be %s [%s] %s = %s (%s)", wa, section, a, sa->text,
		    rel, section, b, sb->text, wb);
}

static uint64_t
threshold_bytes(const struct threshold *t, uint64_t limit)
{
	if (!t->is_percent)
		return t->bytes;
	return (uint64_t)((long double)limit * t->percent / 100.0L);
}

static int
settle_thresholds(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	const struct threshold *soft = &cfg->soft, *hard = &cfg->hard;
	bool below;

	if (soft->is_percent && hard->is_percent)
		below = soft->percent < hard->percent;
	else if (!soft->is_percent && !hard->is_percent)
		below = soft->bytes < hard->bytes;
	else if (!cfg->limit_auto)
		below = threshold_bytes(soft, cfg->limit_bytes) <
			threshold_bytes(hard, cfg->limit_bytes);
	else
		below = true; /* compared once the cgroup's limit is known */
	if (!below)
		return disagree(ld, "memory", "soft", "below", "hard");
	if (!cfg->limit_auto && !hard->is_percent && hard->bytes > cfg->limit_bytes)
		return disagree(ld, "memory", "hard", "at most", "limit");
	return 0;
}

static int
settle_log(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	size_t ki = key_index("log", "level");
	int level = (int)cfg->log_level - ld->in->verbosity;

#ifndef MEMWARDEN_JOURNAL
	if (cfg->log_target == LOG_TARGET_JOURNAL) {
		char where[PATH_MAX + 64];

		setting_origin(&ld->st->settings[key_index("log", "target")], true, where,
			       sizeof(where));
		return fail(ld,
			    "%s: [log] target = journal: this build of memwarden has no "
			    "libsystemd, so it cannot write to the journal; use target = stderr "
			    "(journald collects a service's stderr anyway)",
			    where);
	}
#endif
	if (level < LOG_DEBUG)
		level = LOG_DEBUG;
	if (level > LOG_ERROR)
		level = LOG_ERROR;
	if (level != (int)cfg->log_level) {
		struct origin o = {ORIGIN_VERBOSITY, 0,
				   ld->in->verbosity > 0 ? "option -v" : "option -q"};

		cfg->log_level = (enum log_level)level;
		if (remember(&ld->st->settings[ki], level_choices[level].name, &o))
			return fail(ld, "out of memory");
	}
	return 0;
}

static int
settle_environment(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const struct state *st = ld->st;
	size_t i;

	if (st->n_env == 0)
		return 0;
	cfg->environment = calloc(st->n_env + 1, sizeof(*cfg->environment));
	if (cfg->environment == NULL)
		return fail(ld, "out of memory");
	for (i = 0; i < st->n_env; i++) {
		if (asprintf(&cfg->environment[i], "%s=%s", st->env[i].name, st->env[i].s.text) <
		    0) {
			cfg->environment[i] = NULL;
			return fail(ld, "out of memory");
		}
		cfg->n_environment++;
	}
	return 0;
}

static int
settle(struct loader *ld, const char *path)
{
	struct config *cfg = ld->cfg;

	/* The credentials before the state file: where it may go depends on
	 * the service's user. */
	if (settle_command(ld) || settle_name(ld) || settle_credentials(ld) ||
	    settle_state_file(ld) || settle_thresholds(ld) || settle_log(ld) ||
	    settle_environment(ld))
		return 1;
	if (cfg->fast_interval_ms > cfg->interval_ms)
		return disagree(ld, "memory", "fast_interval", "at most", "interval");
	if (cfg->restart_backoff_ms > cfg->restart_backoff_max_ms)
		return disagree(ld, "service", "restart_backoff", "at most", "restart_backoff_max");
	if ((cfg->source = strdup(path != NULL ? path : "defaults")) == NULL)
		return fail(ld, "out of memory");
	return 0;
}

/* ---------------------------------------------------------------------
 * The public interface
 */

static int
load_defaults(struct loader *ld)
{
	struct origin o = {ORIGIN_DEFAULT, 0, NULL};
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].def != NULL && apply(ld, i, keys[i].def, &o))
			return 1;
	return 0;
}

int
config_load(struct config *cfg, const struct config_input *in, char *err, size_t errlen)
{
	struct loader ld = {.cfg = cfg, .in = in, .err = err, .errlen = errlen};
	const char *path;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen > 0)
		err[0] = '\0';
	if ((ld.st = calloc(1, sizeof(*ld.st))) == NULL)
		return fail(&ld, "out of memory");
	cfg->origins = ld.st;
	if (load_defaults(&ld))
		return 1;
	path = in->file != NULL ? in->file : env_lookup(in->envp, ENV_CONFIG);
	if (path != NULL && path[0] == '\0' && in->file == NULL)
		path = NULL; /* MEMWARDEN_CONFIG= means no file */
	if (path != NULL && load_file(&ld, path))
		return 1;
	if (load_env(&ld))
		return 1;
	for (i = 0; i < in->n_overrides; i++)
		if (load_option(&ld, in->overrides[i]))
			return 1;
	return settle(&ld, path);
}

void
config_free(struct config *cfg)
{
	struct state *st = cfg->origins;
	size_t i;

	if (st != NULL) {
		for (i = 0; i < NKEYS; i++) {
			free(st->settings[i].text);
			free(st->settings[i].where);
		}
		for (i = 0; i < st->n_env; i++) {
			free(st->env[i].name);
			free(st->env[i].s.text);
			free(st->env[i].s.where);
		}
		free(st->env);
		if (st->argv_owned)
			free_words(cfg->argv);
		free(st);
	}
	free(cfg->name);
	free(cfg->directory);
	credentials_free(&cfg->cred);
	free(cfg->ready_path);
	free(cfg->jemalloc_path);
	free(cfg->agent_path);
	free(cfg->malloc_conf);
	free(cfg->state_file);
	free(cfg->state_warning);
	for (i = 0; cfg->environment != NULL && i < cfg->n_environment; i++)
		free(cfg->environment[i]);
	free(cfg->environment);
	free(cfg->source);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---------------------------------------------------------------------
 * Printing
 */

#define ORIGIN_COLUMN 40

static void
print_setting(FILE *out, const char *name, const struct setting *s)
{
	char origin[PATH_MAX + 64];
	int n;

	setting_origin(s, false, origin, sizeof(origin));
	if (s->text == NULL) {
		/* A key without a value (the command of `memwarden check`) is
		 * shown commented out: "command =" would not load again. */
		n = fprintf(out, ";%s =", name);
		fprintf(out, "%*s ; not set\n", n < ORIGIN_COLUMN ? ORIGIN_COLUMN - n : 0, "");
		return;
	}
	n = fprintf(out, "%s =%s%s", name, s->text[0] != '\0' ? " " : "", s->text);
	fprintf(out, "%*s ; %s\n", n < ORIGIN_COLUMN ? ORIGIN_COLUMN - n : 0, "", origin);
}

void
config_print(const struct config *cfg, FILE *out)
{
	const struct state *st = cfg->origins;
	size_t s, i;

	if (st == NULL)
		return;
	fprintf(out, "# memwarden %s: the effective configuration, from %s.\n", MEMWARDEN_VERSION,
		cfg->source != NULL ? cfg->source : "defaults");
	fprintf(out, "# Each value is followed by where it came from.\n");
	for (s = 0; s < NSECTIONS; s++) {
		fprintf(out, "\n[%s]\n", sections[s]);
		if (strcmp(sections[s], ENV_SECTION) == 0) {
			for (i = 0; i < st->n_env; i++)
				print_setting(out, st->env[i].name, &st->env[i].s);
			continue;
		}
		for (i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].section, sections[s]) == 0)
				print_setting(out, keys[i].name, &st->settings[i]);
	}
}

/* Writes the len bytes of text as "# " comment lines of at most width
 * columns, broken at spaces. */
static void
print_wrapped(FILE *out, const char *text, size_t len, size_t width)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		size_t n = (size_t)(end - p), cut = n;

		if (n > width) {
			cut = width;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				for (cut = width; cut < n && p[cut] != ' '; cut++)
					;
		}
		fprintf(out, "# %.*s\n", (int)cut, p);
		p += cut;
		while (p < end && *p == ' ')
			p++;
	}
}

static void
print_doc(FILE *out, const char *text)
{
	print_wrapped(out, text, strlen(text), 76);
}

static const char template_header[] =
    "memwarden configuration, one file per service: memwarden -c FILE, or the file named "
    "by $MEMWARDEN_CONFIG. Every key is optional; the lines below show each key with its "
    "default, commented out. Precedence, lowest first: the defaults, this file, "
    "environment variables MEMWARDEN_<SECTION>_<KEY> (like MEMWARDEN_MEMORY_SOFT=75%), "
    "then -s SECTION.KEY=VALUE options. `memwarden check` prints the effective "
    "configuration; `memwarden check --template` prints this file.\n"
    "Comments start a line with ';' or '#'; a ';' after a space ends a value. Values need "
    "no quotes. A line holds at most 199 bytes; an indented line is an error.\n"
    "Sizes: 512K, 64M, 4.5G, 4.5Gi or plain bytes; K, M, G and T are powers of 1024, "
    "with or without i and B. Durations: 250ms, 10s, 5m, 1h, 1.5s; a bare number is "
    "seconds. Percents: 80%, 12.5%. Signals: TERM, SIGTERM, 15, RTMIN+3, RTMAX-2. "
    "Booleans: yes/no, true/false, on/off, 1/0.\n";

void
config_print_template(FILE *out)
{
	char accepted[300], line[400];
	const char *p, *nl;
	size_t s, i;

	for (p = template_header; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (p != template_header)
			fprintf(out, "#\n");
		print_wrapped(out, p, (size_t)(nl - p), 76);
	}
	for (s = 0; s < NSECTIONS; s++) {
		fprintf(out, "\n[%s]\n", sections[s]);
		if (strcmp(sections[s], ENV_SECTION) == 0) {
			fprintf(out, "\n");
			print_doc(out,
				  "NAME = value pairs added to the service's environment. NAME "
				  "is letters, digits and '_', not starting with a digit. "
				  "MEMWARDEN_ENVIRONMENT_NAME=value adds one too.");
			fprintf(out, ";PYTHONUNBUFFERED = 1\n");
			continue;
		}
		for (i = 0; i < NKEYS; i++) {
			const struct key *k = &keys[i];

			if (strcmp(k->section, sections[s]) != 0)
				continue;
			k->type->accepts(k, accepted, sizeof(accepted));
			fprintf(out, "\n");
			print_doc(out, k->doc);
			snprintf(line, sizeof(line), "Accepts %s.", accepted);
			print_doc(out, line);
			if (k->def == NULL || k->def[0] == '\0')
				fprintf(out, ";%s =\n", k->name);
			else
				fprintf(out, ";%s = %s\n", k->name, k->def);
		}
	}
}

/*
 * The one configuration schema of memwarden (SPEC section 9).
 *
 * Every key is described once, in the table in config.c. The INI parser,
 * the MEMWARDEN_<SECTION>_<KEY> environment overrides, the -s options,
 * `memwarden check` and the documented etc/memwarden.ini template are all
 * driven by that table; nothing else lists the keys.
 */
#ifndef MEMWARDEN_CONFIG_H
#define MEMWARDEN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* What RTMIN and RTMAX mean in signal names: glibc's values, the C library
 * of most services, fixed whatever libc memwarden itself is built with
 * (musl's SIGRTMIN is 35), so a configured signal is the same number for
 * every build. */
#define SERVICE_RTMIN 34
#define SERVICE_RTMAX 64

enum restart_policy { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS };
enum ready_mode { READY_STARTED, READY_NOTIFY, READY_TCP, READY_FILE, READY_DELAY };
enum mem_metric { METRIC_WORKINGSET, METRIC_CURRENT, METRIC_ANON, METRIC_RSS };
enum mem_action { ACTION_RESTART, ACTION_SIGNAL, ACTION_LARGEST };
enum log_format { LOG_FORMAT_AUTO, LOG_FORMAT_JSON, LOG_FORMAT_TEXT };
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_target { LOG_TARGET_STDERR, LOG_TARGET_JOURNAL };
enum preload_kind { PRELOAD_JEMALLOC, PRELOAD_NONE };

/* A memory threshold: a percent of the limit, or an absolute size. */
struct threshold {
	bool is_percent;
	double percent; /* 0 < percent <= 100, when is_percent */
	uint64_t bytes; /* when !is_percent */
};

/* The service's credentials, resolved from [service] user/group against
 * the container's own /etc/passwd and /etc/group (no NSS: the binary is
 * static). */
struct credentials {
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
	size_t ngroups; /* supplementary groups, when set_uid */
	gid_t *groups;
	char *user_name; /* NULL when the user was given as a number not in /etc/passwd */
	char *home;	 /* NULL when unknown */
};

struct config {
	/* [service] */
	char **argv;	 /* NULL-terminated; from the command line or [service] command */
	char *name;	 /* [service] name, default basename of argv[0] */
	char *directory; /* NULL: inherit */
	struct credentials cred;
	bool has_umask;
	mode_t umask;
	int stop_signal;
	uint64_t stop_timeout_ms;
	uint64_t drain_delay_ms;
	bool signal_group;
	bool success_exit[256]; /* exit codes that count as 0 */
	/* What RTMIN and RTMAX mean in signal names: glibc's values, the C library
	 * of most services, fixed whatever libc memwarden itself is built with
	 * (musl's SIGRTMIN is 35), so a configured signal is the same number for
	 * every build. */
#define SERVICE_RTMIN 34
#define SERVICE_RTMAX 64

	enum restart_policy restart;
	uint64_t restart_backoff_ms;
	uint64_t restart_backoff_max_ms;
	unsigned max_restarts;
	uint64_t restart_window_ms;
	enum ready_mode ready;
	uint16_t ready_port;	 /* READY_TCP */
	char *ready_path;	 /* READY_FILE */
	uint64_t ready_delay_ms; /* READY_DELAY */

	/* [memory] */
	bool limit_auto;
	uint64_t limit_bytes; /* when !limit_auto */
	enum mem_metric metric;
	struct threshold soft, hard;
	uint64_t interval_ms;
	uint64_t fast_interval_ms;
	unsigned hard_for;
	uint64_t release_interval_ms;
	enum mem_action action;
	int action_signal;

	/* [allocator] */
	enum preload_kind preload;
	char *jemalloc_path; /* NULL: auto */
	char *agent_path;    /* NULL: auto */
	char *malloc_conf;
	bool malloc_conf_override;
	unsigned arena_max; /* 0: auto */
	int release_signal;

	/* [log] */
	enum log_format log_format;
	enum log_level log_level;
	enum log_target log_target;
	uint64_t memory_interval_ms;

	/* [status] */
	char *state_file;    /* never NULL after config_load */
	char *state_warning; /* why the default is not in /run, for the log; or NULL */

	/* [environment]: "KEY=value" strings added to the service's environment */
	char **environment;
	size_t n_environment;

	/* Where the configuration came from, for the start event:
	 * the file's path, or "defaults". */
	char *source;

	void *origins; /* private to config.c: each key's value and origin */
};

/* What config_load was given. */
struct config_input {
	const char *file; /* -c FILE, or NULL: then $MEMWARDEN_CONFIG, or none */
	char **overrides; /* -s SECTION.KEY=VALUE strings */
	size_t n_overrides;
	char **envp;	   /* the environment to read MEMWARDEN_* from */
	char **argv;	   /* the COMMAND given on the command line, or NULL */
	bool need_command; /* false for `check`: a missing command is fine */
	int verbosity;	   /* -v: +1, -q: -1; applied over [log] level */
};

#define CONFIG_ERROR_MAX 512

/* Loads defaults, then the file, the environment, the overrides; validates
 * everything. Returns 0 and fills cfg, or returns 1 and writes into err a
 * message naming FILE:LINE (or the variable or option), the key, the bad
 * value and what is accepted. cfg is always safe to config_free. */
int config_load(struct config *cfg, const struct config_input *in, char *err, size_t errlen);

/* Prints the effective configuration as INI: every key, its value and,
 * as a trailing comment, where it came from (default, FILE:LINE, env NAME,
 * option -s). */
void config_print(const struct config *cfg, FILE *out);

/* Prints etc/memwarden.ini: every key, commented out, with its default and
 * its documentation, straight from the schema. */
void config_print_template(FILE *out);

void config_free(struct config *cfg);

#endif

/*
 * memwarden's command line (SPEC section 2): run a service, or one of the
 * verbs check, status and release. main() turns failures into exit codes;
 * everything else returns 0 or 1.
 */
#include <errno.h>
#include <getopt.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "monitor.h"
#include "notify.h"
#include "preload.h"
#include "signals.h"
#include "spawn.h"
#include "state.h"
#include "supervisor.h"

#define EXIT_USAGE 2
#define EXIT_NO_STATE 3

extern char **environ;

static const char usage_text[] =
    "usage: memwarden [-c FILE] [-s SECTION.KEY=VALUE]... [-v|-q] [--] COMMAND [ARG...]\n"
    "       memwarden check  [-c FILE] [-s SECTION.KEY=VALUE]... [--template]\n"
    "       memwarden status [--state FILE] [--json] [--ready]\n"
    "       memwarden release [--state FILE] [--json]\n"
    "       memwarden --version | -h | --help\n"
    "\n"
    "Runs COMMAND as a supervised service: reaps zombies, forwards signals, shuts\n"
    "down gracefully on SIGTERM and passes the service's exit status through.\n"
    "\n"
    "  -c FILE     configuration file (default: $MEMWARDEN_CONFIG, else none)\n"
    "  -s S.K=V    set key K of section S, over the file and the environment\n"
    "  -v, -q      more (debug) or fewer (warnings only) log lines\n"
    "  check       validate the configuration and print it with each key's origin\n"
    "              (--template: print the documented default configuration)\n"
    "  status      print the state of a running memwarden; --ready exits 0 only\n"
    "              when its service is running and ready (1 otherwise, 3 when\n"
    "              there is no state file)\n"
    "  release     ask a running memwarden to release memory now and print what\n"
    "              each process reports (--json: one object a line)\n"
    "\n"
    "Environment: MEMWARDEN_CONFIG, MEMWARDEN_<SECTION>_<KEY>=VALUE.\n"
    "Exit status: the service's; 128+N if it was killed by signal N; 126 if the\n"
    "command cannot be executed, 127 if it is not found; 2 for usage and\n"
    "configuration errors.\n";

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "memwarden: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
}

/* Options shared by `run` and `check`. */
struct common_options {
	const char *file;
	char **overrides;
	size_t n_overrides;
	int verbosity;
	bool template;
};

static int
add_override(struct common_options *o, char *arg)
{
	char **grown = realloc(o->overrides, (o->n_overrides + 1) * sizeof(char *));

	if (grown == NULL)
		return 1;
	o->overrides = grown;
	o->overrides[o->n_overrides++] = arg;
	return 0;
}

/* Parses [-c FILE] [-s S.K=V]... [-v|-q] up to the command. Returns 0 and
 * the index of the first non-option in *next, or 1 after a usage error. */
static int
parse_common(int argc, char **argv, bool is_check, struct common_options *o, int *next)
{
	static const struct option longopts[] = {
	    {"template", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:s:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->file = optarg;
			break;
		case 's':
			if (add_override(o, optarg) != 0)
				return 1;
			break;
		case 'v':
			o->verbosity++;
			break;
		case 'q':
			o->verbosity--;
			break;
		case 'T':
			if (!is_check) {
				usage_error("--template goes with check", "");
				return 1;
			}
			o->template = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option -%c needs a value", (char[]){(char)optopt, 0});
			return 1;
		default:
			usage_error("unknown option %s", argv[optind - 1]);
			return 1;
		}
	}
	*next = optind;
	return 0;
}

static int
load_config(struct config *cfg, const struct common_options *o, char **command, bool need)
{
	char err[CONFIG_ERROR_MAX];
	struct config_input in = {
	    .file = o->file,
	    .overrides = o->overrides,
	    .n_overrides = o->n_overrides,
	    .envp = environ,
	    .argv = command,
	    .need_command = need,
	    .verbosity = o->verbosity,
	};

	if (config_load(cfg, &in, err, sizeof(err)) != 0) {
		fprintf(stderr, "memwarden: %s\n", err);
		return 1;
	}
	return 0;
}

static int
cmd_check(int argc, char **argv)
{
	struct common_options o = {0};
	struct config cfg;
	int next, status = 0;

	if (parse_common(argc, argv, true, &o, &next) != 0) {
		free(o.overrides);
		return EXIT_USAGE;
	}
	if (next < argc) {
		usage_error("check takes no command: %s", argv[next]);
		free(o.overrides);
		return EXIT_USAGE;
	}
	if (o.template) {
		config_print_template(stdout);
		free(o.overrides);
		return 0;
	}
	memset(&cfg, 0, sizeof(cfg));
	if (load_config(&cfg, &o, NULL, false) != 0)
		status = EXIT_USAGE;
	else
		config_print(&cfg, stdout);
	config_free(&cfg);
	free(o.overrides);
	return status;
}

/* Counts the state files (NAME.json) in dir, keeping the first one's path
 * in path; with list, prints each. */
static size_t
scan_state_dir(const char *dir, char *path, size_t len, bool list)
{
	struct dirent *d;
	size_t found = 0, n;
	DIR *dp = opendir(dir);

	if (dp == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		n = strlen(d->d_name);
		if (n <= 5 || d->d_name[0] == '.' || strcmp(d->d_name + n - 5, ".json") != 0)
			continue;
		if (found++ == 0)
			snprintf(path, len, "%s/%s", dir, d->d_name);
		if (list)
			fprintf(stderr, "  %s/%s\n", dir, d->d_name);
	}
	closedir(dp);
	return found;
}

/* Finds the state file when --state is not given: the configured one, or
 * the only one in the default directories. Returns 1 when that is
 * ambiguous. */
static int
find_state_file(const char *given, char *path, size_t len)
{
	static const char *const dirs[] = {"/run/memwarden", "/tmp/memwarden"};
	const char *env = getenv("MEMWARDEN_STATUS_STATE_FILE");
	size_t i, found;

	if (given || env) {
		snprintf(path, len, "%s", given ? given : env);
		return 0;
	}
	for (i = 0; i < 2; i++) {
		found = scan_state_dir(dirs[i], path, len, false);
		if (found == 1)
			return 0;
		if (found > 1) {
			fprintf(stderr,
				"memwarden: several state files; choose one with --state:\n");
			scan_state_dir(dirs[i], path, len, true);
			return 1;
		}
	}
	snprintf(path, len, "/run/memwarden/*.json");
	return 0;
}

struct state_options {
	const char *state;
	bool json, ready;
};

static int
parse_state_options(int argc, char **argv, bool is_status, struct state_options *o)
{
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"ready", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'S') {
			o->state = optarg;
		} else if (c == 'j' || (c == 'r' && is_status)) {
			o->json |= c == 'j';
			o->ready |= c == 'r';
		} else if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		} else {
			usage_error("unknown option or missing value: %s", argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc) {
		usage_error("unexpected argument: %s", argv[optind]);
		return 1;
	}
	return 0;
}

/* Reads the state file. Returns 0 with the content, EXIT_NO_STATE when
 * there is none, EXIT_USAGE on another error. */
static int
open_state(const struct state_options *o, char **content, char *path, size_t len)
{
	if (find_state_file(o->state, path, len) != 0)
		return EXIT_USAGE;
	if (state_read(path, content) == 0)
		return 0;
	if (errno == ENOENT) {
		if (!o->ready || o->json)
			fprintf(stderr, "memwarden: nothing is running: no state file at %s\n",
				path);
		return EXIT_NO_STATE;
	}
	fprintf(stderr, "memwarden: cannot read the state file %s: %s\n", path, strerror(errno));
	return EXIT_USAGE;
}

/* The file may outlive its memwarden (a crash, a kill -9): a state that
 * claims to be alive is only believed while that pid exists. */
static bool
state_is_live(const char *json)
{
	char state[32], pid[32];

	if (state_field(json, "state", state, sizeof(state)) != 0 || strcmp(state, "stopped") == 0)
		return false;
	if (state_field(json, "pid", pid, sizeof(pid)) != 0)
		return false;
	return kill((pid_t)atoi(pid), 0) == 0 || errno == EPERM;
}

static int
cmd_status(int argc, char **argv)
{
	struct state_options o = {0};
	char path[4096], state[32] = "", ready[8] = "", service[256] = "", restarts[16] = "";
	char *json;
	bool live, is_ready;
	int r;

	if (parse_state_options(argc, argv, true, &o) != 0)
		return EXIT_USAGE;
	r = open_state(&o, &json, path, sizeof(path));
	if (r != 0)
		return r;
	live = state_is_live(json);
	(void)state_field(json, "state", state, sizeof(state));
	(void)state_field(json, "ready", ready, sizeof(ready));
	(void)state_field(json, "service", service, sizeof(service));
	(void)state_field(json, "restarts", restarts, sizeof(restarts));
	is_ready = live && strcmp(state, "running") == 0 && strcmp(ready, "true") == 0;
	if (o.json)
		fputs(json, stdout);
	else if (!o.ready)
		printf("%s: %s%s, %s, %s restarts (%s)\n", service, state,
		       live || strcmp(state, "stopped") == 0 ? "" : " (memwarden is gone)",
		       is_ready ? "ready" : "not ready", restarts, path);
	free(json);
	if (o.ready)
		return is_ready ? 0 : 1;
	return 0;
}

/* glibc's malloc_trim walks every arena and may take seconds in a large
 * process; memwarden itself ends its wait sooner and says it is done. */
#define RELEASE_TIMEOUT_MS 15000

struct release_output {
	bool json;
	unsigned reports;
};

static void
print_report(const struct release_report *r, void *arg)
{
	struct release_output *out = arg;
	char line[512];

	if (notify_report_line(r, out->json, line, sizeof(line)) != 0)
		printf("%s\n", line);
	/* One line as each process answers, also into a pipe. */
	fflush(stdout);
	out->reports++;
}

/* Says why no report came back: r and errno from notify_request_release. */
static void
release_failure(int r, int err, const struct release_done *done, const char *socket)
{
	if (r == 0 && done->signalled == 0)
		fprintf(stderr,
			"memwarden: release: no process of the service has the agent's "
			"release handler (%u skipped)\n",
			done->skipped);
	else if (r == 0)
		fprintf(stderr, "memwarden: release: %u processes signalled, none answered\n",
			done->signalled);
	else if (err == ETIMEDOUT)
		fprintf(stderr, "memwarden: release: no answer from memwarden within %d s\n",
			RELEASE_TIMEOUT_MS / 1000);
	else if (err == ECONNREFUSED)
		fprintf(stderr, "memwarden: release: nothing listens on %s: memwarden is gone\n",
			socket);
	else
		fprintf(stderr, "memwarden: release: cannot ask memwarden on %s: %s\n", socket,
			strerror(err));
}

static int
cmd_release(int argc, char **argv)
{
	struct state_options o = {0};
	struct release_output out = {0};
	struct release_done done;
	char path[4096], socket[NOTIFY_NAME_MAX], line[256];
	char *json;
	bool live;
	int r, err;

	if (parse_state_options(argc, argv, false, &o) != 0)
		return EXIT_USAGE;
	r = open_state(&o, &json, path, sizeof(path));
	if (r != 0)
		return r;
	live = state_is_live(json);
	r = state_field(json, "socket", socket, sizeof(socket));
	free(json);
	if (!live) {
		fprintf(stderr, "memwarden: nothing is running: the memwarden of %s has stopped\n",
			path);
		return 1;
	}
	if (r != 0 || socket[0] != '@') {
		fprintf(stderr, "memwarden: release: the state file %s names no socket\n", path);
		return 1;
	}
	out.json = o.json;
	r = notify_request_release(socket, RELEASE_TIMEOUT_MS, print_report, &out, &done);
	err = errno;
	if (r == 0 && notify_done_line(&done, o.json, line, sizeof(line)) != 0)
		printf("%s\n", line);
	else if (r != 0 && out.reports > 0)
		fprintf(stderr, "memwarden: release: memwarden did not say it was done (%s)\n",
			strerror(err));
	if (out.reports > 0)
		return 0;
	release_failure(r, err, &done, socket);
	return 1;
}

static int
cmd_run(int argc, char **argv)
{
	struct common_options o = {0};
	struct inherited_signals inherited;
	struct monitor monitor;
	struct config cfg;
	struct preload_plan preload;
	char err[CONFIG_ERROR_MAX];
	bool subreaper = false;
	int next, sigfd, status;

	if (parse_common(argc, argv, false, &o, &next) != 0) {
		free(o.overrides);
		return EXIT_USAGE;
	}
	memset(&cfg, 0, sizeof(cfg));
	if (load_config(&cfg, &o, next < argc ? argv + next : NULL, true) != 0) {
		config_free(&cfg);
		free(o.overrides);
		return EXIT_USAGE;
	}
	free(o.overrides);
	log_setup(cfg.log_format, cfg.log_level, cfg.name);
	log_set_target(cfg.log_target);
	if (cfg.state_warning != NULL)
		log_warnx("state", "%s", cfg.state_warning);
	if (signals_setup(&inherited, &sigfd) != 0) {
		log_error("start", "cannot set up signal handling");
		config_free(&cfg);
		return EXIT_USAGE;
	}
	/* Not PID 1: orphans of the service would go to the real init and
	 * escape reaping and the shutdown; make them ours. */
	if (getpid() != 1) {
		subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
		if (!subreaper)
			log_warn("start", "cannot become a child subreaper");
	}
	if (monitor_setup(&monitor, &cfg) != 0) {
		close(sigfd);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	monitor_log_start(&monitor, subreaper);
	if (preload_setup(&preload, &cfg, environ, err, sizeof(err)) != 0) {
		log_errorx("allocator", "%s", err);
		monitor_close(&monitor);
		close(sigfd);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	spawn_set_preload(&preload);
	status = supervisor_run(&cfg, &inherited, sigfd, &monitor);
	spawn_set_preload(NULL);
	preload_free(&preload);
	monitor_close(&monitor);
	close(sigfd);
	config_free(&cfg);
	return status;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("memwarden %s\n", MEMWARDEN_VERSION);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "release") == 0)
		return cmd_release(argc - 1, argv + 1);
	return cmd_run(argc, argv);
}

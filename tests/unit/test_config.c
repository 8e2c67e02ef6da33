/*
 * config_load(), config_print() and config_print_template(): defaults,
 * every key, the precedence of file < environment < -s, where each value
 * came from, and every class of error with the place it names.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* Ends the strings load_fails() looks for. */
#define END ((const char *)NULL)

/* The keys of SPEC section 9, which are fixed. */
static const char *const spec_keys[][2] = {
    {"service", "command"},
    {"service", "name"},
    {"service", "directory"},
    {"service", "user"},
    {"service", "group"},
    {"service", "umask"},
    {"service", "stop_signal"},
    {"service", "stop_timeout"},
    {"service", "drain_delay"},
    {"service", "signal_group"},
    {"service", "success_exit_codes"},
    {"service", "restart"},
    {"service", "restart_backoff"},
    {"service", "restart_backoff_max"},
    {"service", "max_restarts"},
    {"service", "restart_window"},
    {"service", "ready"},
    {"memory", "limit"},
    {"memory", "metric"},
    {"memory", "soft"},
    {"memory", "hard"},
    {"memory", "interval"},
    {"memory", "fast_interval"},
    {"memory", "hard_for"},
    {"memory", "release_interval"},
    {"memory", "action"},
    {"memory", "action_signal"},
    {"allocator", "preload"},
    {"allocator", "jemalloc"},
    {"allocator", "agent"},
    {"allocator", "malloc_conf"},
    {"allocator", "malloc_conf_override"},
    {"allocator", "arena_max"},
    {"allocator", "release_signal"},
    {"log", "format"},
    {"log", "level"},
    {"log", "target"},
    {"log", "memory_interval"},
    {"status", "state_file"},
};
#define NSPEC_KEYS (sizeof(spec_keys) / sizeof(spec_keys[0]))

/* What one test loads: a file (written to a temporary path), environment
 * variables, -s options and a command. */
struct load {
	const char *ini;    /* file contents, or NULL for no file */
	size_t ini_len;	    /* 0: strlen(ini) */
	const char *env[8]; /* NULL-terminated */
	const char *opts[8];
	const char *argv[8];
	bool need_command;
	int verbosity;
};

struct result {
	struct config cfg;
	char path[64]; /* the temporary file, empty when none */
	char err[CONFIG_ERROR_MAX];
	char *printed; /* config_print's output */
	int rc;
};

static size_t
count(const char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

static void
write_temp(char *path, size_t len, const char *text, size_t textlen)
{
	int fd;

	snprintf(path, len, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, textlen), (ssize_t)textlen);
	close(fd);
}

static char *
print_to_string(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	config_print(cfg, out);
	fclose(out);
	return buf;
}

static char *
template_to_string(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	config_print_template(out);
	fclose(out);
	return buf;
}

static void
run(struct result *r, const struct load *l)
{
	struct config_input in = {0};

	memset(r, 0, sizeof(*r));
	if (l->ini != NULL) {
		write_temp(r->path, sizeof(r->path), l->ini,
			   l->ini_len != 0 ? l->ini_len : strlen(l->ini));
		in.file = r->path;
	}
	in.envp = (char **)l->env;
	in.overrides = (char **)l->opts;
	in.n_overrides = count(l->opts);
	in.argv = l->argv[0] != NULL ? (char **)l->argv : NULL;
	in.need_command = l->need_command;
	in.verbosity = l->verbosity;
	r->rc = config_load(&r->cfg, &in, r->err, sizeof(r->err));
	if (r->rc == 0)
		r->printed = print_to_string(&r->cfg);
}

static void
done(struct result *r)
{
	config_free(&r->cfg);
	free(r->printed);
	if (r->path[0] != '\0')
		unlink(r->path);
}

static void
load_ok(struct result *r, const struct load *l)
{
	run(r, l);
	if (r->rc != 0)
		fail_msg("config_load failed: %s", r->err);
}

/* Loads and expects an error that contains each of the strings given;
 * "@" stands for the temporary file's path. */
static void
load_fails(const struct load *l, ...)
{
	struct result r;
	const char *want;
	char missing[512] = "";
	va_list ap;

	run(&r, l);
	if (r.rc == 0)
		fail_msg("config_load accepted it:\n%s", r.printed);
	assert_int_equal(r.rc, 1);
	va_start(ap, l);
	while ((want = va_arg(ap, const char *)) != NULL && missing[0] == '\0') {
		char buf[512];
		size_t len = 0;
		const char *p;

		for (p = want; *p != '\0' && len < sizeof(buf) - 1; p++) {
			if (*p == '@')
				len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", r.path);
			else
				buf[len++] = *p;
		}
		buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
		if (strstr(r.err, buf) == NULL)
			snprintf(missing, sizeof(missing), "%s", buf);
	}
	va_end(ap);
	done(&r);
	if (missing[0] != '\0')
		fail_msg("error \"%s\" lacks \"%s\"", r.err, missing);
}

/* The line config_print wrote for key in section. */
static void
printed_line(const struct result *r, const char *section, const char *key, char *buf, size_t len)
{
	char header[64], prefix[64];
	const char *sec, *p, *end;

	snprintf(header, sizeof(header), "\n[%s]\n", section);
	snprintf(prefix, sizeof(prefix), "\n%s =", key);
	sec = strstr(r->printed, header);
	if (sec == NULL || (p = strstr(sec, prefix)) == NULL)
		fail_msg("no line for [%s] %s in:\n%s", section, key, r->printed);
	p++;
	end = strchr(p, '\n');
	snprintf(buf, len, "%.*s", (int)(end != NULL ? end - p : (long)strlen(p)), p);
}

/* Checks the value and the origin comment config_print gave key. */
static void
printed_is(const struct result *r, const char *section, const char *key, const char *value,
	   const char *origin)
{
	char line[512], want_value[256], want_origin[256];
	const char *semi;

	printed_line(r, section, key, line, sizeof(line));
	semi = strstr(line, " ; ");
	assert_non_null(semi);
	snprintf(want_value, sizeof(want_value), "%s =%s%s", key, value[0] != '\0' ? " " : "",
		 value);
	if (strncmp(line, want_value, strlen(want_value)) != 0 ||
	    strspn(line + strlen(want_value), " ") !=
		(size_t)(semi - line) - strlen(want_value) + 1)
		fail_msg("[%s] %s: printed \"%s\", want value \"%s\"", section, key, line, value);
	if (origin[0] == '@')
		snprintf(want_origin, sizeof(want_origin), "%s%s", r->path, origin + 1);
	else
		snprintf(want_origin, sizeof(want_origin), "%s", origin);
	if (strcmp(semi + 3, want_origin) != 0)
		fail_msg("[%s] %s: printed origin \"%s\", want \"%s\"", section, key, semi + 3,
			 want_origin);
}

/* ------------------------------------------------------------------ */

static void
test_defaults(void **state)
{
	struct load l = {0};
	struct result r;
	size_t i;

	(void)state;
	load_ok(&r, &l);
	assert_null(r.cfg.argv);
	assert_string_equal(r.cfg.name, "memwarden");
	assert_null(r.cfg.directory);
	assert_false(r.cfg.cred.set_uid);
	assert_false(r.cfg.cred.set_gid);
	assert_false(r.cfg.has_umask);
	assert_int_equal(r.cfg.stop_signal, SIGTERM);
	assert_int_equal(r.cfg.stop_timeout_ms, 10000);
	assert_int_equal(r.cfg.drain_delay_ms, 0);
	assert_false(r.cfg.signal_group);
	for (i = 0; i < 256; i++)
		assert_false(r.cfg.success_exit[i]);
	assert_int_equal(r.cfg.restart, RESTART_NO);
	assert_int_equal(r.cfg.restart_backoff_ms, 1000);
	assert_int_equal(r.cfg.restart_backoff_max_ms, 30000);
	assert_int_equal(r.cfg.max_restarts, 10);
	assert_int_equal(r.cfg.restart_window_ms, 600000);
	assert_int_equal(r.cfg.ready, READY_STARTED);
	assert_null(r.cfg.ready_path);
	assert_true(r.cfg.limit_auto);
	assert_int_equal(r.cfg.metric, METRIC_WORKINGSET);
	assert_true(r.cfg.soft.is_percent);
	assert_true(r.cfg.soft.percent == 80.0);
	assert_true(r.cfg.hard.is_percent);
	assert_true(r.cfg.hard.percent == 90.0);
	assert_int_equal(r.cfg.interval_ms, 1000);
	assert_int_equal(r.cfg.fast_interval_ms, 50);
	assert_int_equal(r.cfg.hard_for, 3);
	assert_int_equal(r.cfg.release_interval_ms, 10000);
	assert_int_equal(r.cfg.action, ACTION_RESTART);
	assert_int_equal(r.cfg.action_signal, SIGHUP);
	assert_int_equal(r.cfg.preload, PRELOAD_JEMALLOC);
	assert_null(r.cfg.jemalloc_path);
	assert_null(r.cfg.agent_path);
	assert_string_equal(r.cfg.malloc_conf,
			    "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0");
	assert_false(r.cfg.malloc_conf_override);
	assert_int_equal(r.cfg.arena_max, 0);
	assert_int_equal(r.cfg.release_signal, SIGRTMIN + 6);
	assert_int_equal(r.cfg.release_signal, 40);
	assert_int_equal(r.cfg.log_format, LOG_FORMAT_AUTO);
	assert_int_equal(r.cfg.log_level, LOG_INFO);
	assert_int_equal(r.cfg.log_target, LOG_TARGET_STDERR);
	assert_int_equal(r.cfg.memory_interval_ms, 60000);
	assert_true(strcmp(r.cfg.state_file, "/run/memwarden/memwarden.json") == 0 ||
		    strcmp(r.cfg.state_file, "/tmp/memwarden/memwarden.json") == 0);
	assert_null(r.cfg.environment);
	assert_int_equal(r.cfg.n_environment, 0);
	assert_string_equal(r.cfg.source, "defaults");
	printed_is(&r, "memory", "soft", "80%", "default");
	printed_is(&r, "allocator", "release_signal", "RTMIN+6", "default");
	assert_non_null(strstr(r.printed, "\n;command ="));
	done(&r);
}

static const char full_ini[] = "; every key, none at its default\n"
			       "[service]\n"
			       "command = /usr/bin/python3 -m 'my app' --port=8080\n"
			       "name = web-1.x_y\n"
			       "directory = /srv/app\n"
			       "user = root\n"
			       "group = daemon\n"
			       "umask = 0027\n"
			       "stop_signal = SIGINT\n"
			       "stop_timeout = 25s\n"
			       "drain_delay = 1.5\n"
			       "signal_group = yes\n"
			       "success_exit_codes = 143, 137 2\n"
			       "restart = on-failure\n"
			       "restart_backoff = 500ms\n"
			       "restart_backoff_max = 2m\n"
			       "max_restarts = 0\n"
			       "restart_window = 1h\n"
			       "ready = tcp:8080\n"
			       "\n"
			       "[memory]\n"
			       "limit = 4.5Gi\n"
			       "metric = rss\n"
			       "soft = 3G\n"
			       "hard = 4G\n"
			       "interval = 2s\n"
			       "fast_interval = 100ms\n"
			       "hard_for = 5\n"
			       "release_interval = 0\n"
			       "action = signal\n"
			       "action_signal = USR1\n"
			       "\n"
			       "[allocator]\n"
			       "preload = none\n"
			       "jemalloc = /opt/lib/libjemalloc.so.2\n"
			       "agent = /opt/lib/memwarden-agent.so\n"
			       "malloc_conf = narenas:2,background_thread:false\n"
			       "malloc_conf_override = on\n"
			       "arena_max = 2\n"
			       "release_signal = RTMAX-2\n"
			       "\n"
			       "[log]\n"
			       "format = json\n"
			       "level = warn\n"
			       "target = stderr\n"
			       "memory_interval = 0\n"
			       "\n"
			       "[status]\n"
			       "state_file = /var/run/web.json\n"
			       "\n"
			       "[environment]\n"
			       "PYTHONUNBUFFERED = 1\n"
			       "_X9 = a = b ; a comment\n";

static void
test_every_key(void **state)
{
	struct load l = {.ini = full_ini};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_non_null(r.cfg.argv);
	assert_string_equal(r.cfg.argv[0], "/usr/bin/python3");
	assert_string_equal(r.cfg.argv[1], "-m");
	assert_string_equal(r.cfg.argv[2], "my app");
	assert_string_equal(r.cfg.argv[3], "--port=8080");
	assert_null(r.cfg.argv[4]);
	assert_string_equal(r.cfg.name, "web-1.x_y");
	assert_string_equal(r.cfg.directory, "/srv/app");
	assert_true(r.cfg.cred.set_uid);
	assert_true(r.cfg.cred.set_gid);
	assert_int_equal(r.cfg.cred.uid, 0);
	assert_int_equal(r.cfg.cred.gid, 1);
	assert_string_equal(r.cfg.cred.user_name, "root");
	assert_true(r.cfg.has_umask);
	assert_int_equal(r.cfg.umask, 027);
	assert_int_equal(r.cfg.stop_signal, SIGINT);
	assert_int_equal(r.cfg.stop_timeout_ms, 25000);
	assert_int_equal(r.cfg.drain_delay_ms, 1500);
	assert_true(r.cfg.signal_group);
	assert_true(r.cfg.success_exit[143]);
	assert_true(r.cfg.success_exit[137]);
	assert_true(r.cfg.success_exit[2]);
	assert_false(r.cfg.success_exit[0]);
	assert_false(r.cfg.success_exit[1]);
	assert_int_equal(r.cfg.restart, RESTART_ON_FAILURE);
	assert_int_equal(r.cfg.restart_backoff_ms, 500);
	assert_int_equal(r.cfg.restart_backoff_max_ms, 120000);
	assert_int_equal(r.cfg.max_restarts, 0);
	assert_int_equal(r.cfg.restart_window_ms, 3600000);
	assert_int_equal(r.cfg.ready, READY_TCP);
	assert_int_equal(r.cfg.ready_port, 8080);
	assert_false(r.cfg.limit_auto);
	assert_int_equal(r.cfg.limit_bytes, 4608ULL << 20);
	assert_int_equal(r.cfg.metric, METRIC_RSS);
	assert_false(r.cfg.soft.is_percent);
	assert_int_equal(r.cfg.soft.bytes, 3ULL << 30);
	assert_int_equal(r.cfg.hard.bytes, 4ULL << 30);
	assert_int_equal(r.cfg.interval_ms, 2000);
	assert_int_equal(r.cfg.fast_interval_ms, 100);
	assert_int_equal(r.cfg.hard_for, 5);
	assert_int_equal(r.cfg.release_interval_ms, 0);
	assert_int_equal(r.cfg.action, ACTION_SIGNAL);
	assert_int_equal(r.cfg.action_signal, SIGUSR1);
	assert_int_equal(r.cfg.preload, PRELOAD_NONE);
	assert_string_equal(r.cfg.jemalloc_path, "/opt/lib/libjemalloc.so.2");
	assert_string_equal(r.cfg.agent_path, "/opt/lib/memwarden-agent.so");
	assert_string_equal(r.cfg.malloc_conf, "narenas:2,background_thread:false");
	assert_true(r.cfg.malloc_conf_override);
	assert_int_equal(r.cfg.arena_max, 2);
	assert_int_equal(r.cfg.release_signal, SIGRTMAX - 2);
	assert_int_equal(r.cfg.log_format, LOG_FORMAT_JSON);
	assert_int_equal(r.cfg.log_level, LOG_WARN);
	assert_int_equal(r.cfg.log_target, LOG_TARGET_STDERR);
	assert_int_equal(r.cfg.memory_interval_ms, 0);
	assert_string_equal(r.cfg.state_file, "/var/run/web.json");
	assert_int_equal(r.cfg.n_environment, 2);
	assert_string_equal(r.cfg.environment[0], "PYTHONUNBUFFERED=1");
	assert_string_equal(r.cfg.environment[1], "_X9=a = b");
	assert_null(r.cfg.environment[2]);
	assert_string_equal(r.cfg.source, r.path);

	printed_is(&r, "service", "command", "/usr/bin/python3 -m 'my app' --port=8080", "@:3");
	printed_is(&r, "service", "user", "root", "@:6");
	printed_is(&r, "memory", "limit", "4.5Gi", "@:22");
	printed_is(&r, "allocator", "release_signal", "RTMAX-2", "@:40");
	printed_is(&r, "status", "state_file", "/var/run/web.json", "@:49");
	printed_is(&r, "environment", "_X9", "a = b", "@:53");
	done(&r);
}

static void
test_ready_modes(void **state)
{
	struct load l = {.opts = {"service.ready=file:/tmp/ready"}};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.ready, READY_FILE);
	assert_string_equal(r.cfg.ready_path, "/tmp/ready");
	done(&r);

	l.opts[0] = "service.ready=delay:2.5s";
	load_ok(&r, &l);
	assert_int_equal(r.cfg.ready, READY_DELAY);
	assert_int_equal(r.cfg.ready_delay_ms, 2500);
	done(&r);

	l.opts[0] = "service.ready=notify";
	load_ok(&r, &l);
	assert_int_equal(r.cfg.ready, READY_NOTIFY);
	done(&r);

	/* A later layer replaces the path of an earlier one. */
	l.ini = "[service]\nready = file:/a\n";
	l.opts[0] = "service.ready=tcp:65535";
	load_ok(&r, &l);
	assert_int_equal(r.cfg.ready, READY_TCP);
	assert_int_equal(r.cfg.ready_port, 65535);
	assert_null(r.cfg.ready_path);
	done(&r);
}

static void
test_precedence(void **state)
{
	struct load l = {
	    .ini = "[memory]\nsoft = 70%\nhard = 95%\ninterval = 3s\n[log]\nlevel = error\n",
	    .env = {"MEMWARDEN_MEMORY_SOFT=60%", "MEMWARDEN_MEMORY_HARD= 85% ",
		    "MEMWARDEN_LOG_LEVEL=debug", "PATH=/bin", NULL},
	    .opts = {"memory.soft=50%", "log.level=warn", "log.level = info", NULL},
	};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_true(r.cfg.soft.percent == 50.0);     /* -s over env over file */
	assert_true(r.cfg.hard.percent == 85.0);     /* env over file, trimmed */
	assert_int_equal(r.cfg.interval_ms, 3000);   /* file over default */
	assert_int_equal(r.cfg.log_level, LOG_INFO); /* the last -s wins */
	printed_is(&r, "memory", "soft", "50%", "option -s");
	printed_is(&r, "memory", "hard", "85%", "env MEMWARDEN_MEMORY_HARD");
	printed_is(&r, "memory", "interval", "3s", "@:4");
	printed_is(&r, "memory", "fast_interval", "50ms", "default");
	printed_is(&r, "log", "level", "info", "option -s");
	done(&r);
}

static void
test_config_from_env(void **state)
{
	char path[64], env[128];
	struct load l = {.env = {env, NULL}};
	struct result r;

	(void)state;
	write_temp(path, sizeof(path), "[service]\nname = fromenv\n", 25);
	snprintf(env, sizeof(env), "MEMWARDEN_CONFIG=%s", path);
	load_ok(&r, &l);
	assert_string_equal(r.cfg.name, "fromenv");
	assert_string_equal(r.cfg.source, path);
	done(&r);

	/* -c wins over $MEMWARDEN_CONFIG. */
	l.ini = "[service]\nname = fromfile\n";
	load_ok(&r, &l);
	assert_string_equal(r.cfg.name, "fromfile");
	done(&r);
	l.ini = NULL;

	/* An empty MEMWARDEN_CONFIG means no file. */
	snprintf(env, sizeof(env), "MEMWARDEN_CONFIG=");
	load_ok(&r, &l);
	assert_string_equal(r.cfg.source, "defaults");
	done(&r);

	snprintf(env, sizeof(env), "MEMWARDEN_CONFIG=/nonexistent/x.ini");
	load_fails(&l, "/nonexistent/x.ini", "No such file or directory", END);
	unlink(path);
}

static void
test_env_vars(void **state)
{
	struct load l = {.env = {"MEMWARDEN_SERVICE_STOP_TIMEOUT=3s",
				 "MEMWARDEN_ALLOCATOR_MALLOC_CONF_OVERRIDE=yes",
				 "MEMWARDEN_SERVICE_STOP_TIMEOUT=4s", /* getenv() takes the first */
				 "memwarden_service_name=ignored",
				 "MEMWARDEN_STATUS_STATE_FILE=/s.json", "NOT_MEMWARDEN_X=1",
				 "MEMWARDEN_CONFIG=", NULL}};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.stop_timeout_ms, 3000);
	assert_true(r.cfg.malloc_conf_override);
	assert_string_equal(r.cfg.state_file, "/s.json");
	printed_is(&r, "service", "stop_timeout", "3s", "env MEMWARDEN_SERVICE_STOP_TIMEOUT");
	printed_is(&r, "status", "state_file", "/s.json", "env MEMWARDEN_STATUS_STATE_FILE");
	done(&r);
}

static void
test_unknown_env_var(void **state)
{
	struct load l = {.env = {"MEMWARDEN_MEMORY_SOFTT=1", NULL}};

	(void)state;
	load_fails(&l, "env MEMWARDEN_MEMORY_SOFTT: unknown variable", END);
	l.env[0] = "MEMWARDEN_service_name=x";
	load_fails(&l, "MEMWARDEN_service_name", END);
	l.env[0] = "MEMWARDEN_LOG_FROMAT=json";
	load_fails(&l, "env MEMWARDEN_LOG_FROMAT: unknown variable", END);
	l.env[0] = "MEMWARDEN_ENVIRONMENT_=x";
	load_fails(&l,
		   "env MEMWARDEN_ENVIRONMENT_: [environment] : not a valid environment "
		   "variable name",
		   END);
	l.env[0] = "MEMWARDEN_ENVIRONMENT_1X=x";
	load_fails(&l, "env MEMWARDEN_ENVIRONMENT_1X: [environment] 1X", END);
}

/* A MEMWARDEN_ variable that names no section belongs to someone else (a
 * wrapper script, a test harness): it is not memwarden's to refuse. */
static void
test_foreign_env_var_ignored(void **state)
{
	struct load l = {.env = {"MEMWARDEN_WORKLOADS=/x", "MEMWARDEN_=1", NULL}};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	done(&r);
}

static void
test_environment_section(void **state)
{
	struct load l = {
	    .ini = "[environment]\nFOO = 1\nKEEP = file\n",
	    .env = {"MEMWARDEN_ENVIRONMENT_FOO=2", "MEMWARDEN_ENVIRONMENT_BAR=3",
		    "MEMWARDEN_ENVIRONMENT_lower=4", NULL},
	    .opts = {"environment.BAZ=5", "environment.BAR=", NULL},
	};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.n_environment, 5);
	assert_string_equal(r.cfg.environment[0], "FOO=2");
	assert_string_equal(r.cfg.environment[1], "KEEP=file");
	assert_string_equal(r.cfg.environment[2], "BAR=");
	assert_string_equal(r.cfg.environment[3], "lower=4");
	assert_string_equal(r.cfg.environment[4], "BAZ=5");
	assert_null(r.cfg.environment[5]);
	printed_is(&r, "environment", "FOO", "2", "env MEMWARDEN_ENVIRONMENT_FOO");
	printed_is(&r, "environment", "KEEP", "file", "@:3");
	printed_is(&r, "environment", "BAR", "", "option -s");
	done(&r);
}

static void
test_command_line_argv(void **state)
{
	struct load l = {.ini = "[service]\ncommand = ignored here\n",
			 .argv = {"/usr/local/bin/my app+v2", "it's", "", "a b", NULL},
			 .need_command = true};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	/* Not a copy: config_free must leave it alone. */
	assert_ptr_equal(r.cfg.argv, l.argv);
	assert_string_equal(r.cfg.name, "my_app_v2");
	printed_is(&r, "service", "command", "'/usr/local/bin/my app+v2' 'it'\\''s' '' 'a b'",
		   "command line");
	printed_is(&r, "service", "name", "my_app_v2", "default");
	done(&r);
	assert_string_equal(l.argv[0], "/usr/local/bin/my app+v2");

	/* The file's command is still checked. */
	l.ini = "[service]\ncommand = 'unterminated\n";
	load_fails(&l, "@:2: [service] command = 'unterminated: unterminated single quote", END);
}

static void
test_command_from_file(void **state)
{
	struct load l = {.ini = "[service]\ncommand = sh -c 'exec sleep 1' # why\n",
			 .need_command = true};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_string_equal(r.cfg.argv[0], "sh");
	assert_string_equal(r.cfg.argv[1], "-c");
	assert_string_equal(r.cfg.argv[2], "exec sleep 1");
	assert_null(r.cfg.argv[3]);
	assert_string_equal(r.cfg.name, "sh");
	done(&r); /* LeakSanitizer checks that the words are freed */

	l.ini = NULL;
	l.opts[0] = "service.command=/bin/true";
	load_ok(&r, &l);
	assert_string_equal(r.cfg.argv[0], "/bin/true");
	assert_string_equal(r.cfg.name, "true");
	done(&r);
}

static void
test_no_command(void **state)
{
	struct load l = {.need_command = true};

	(void)state;
	load_fails(&l, "no command: give one after the options or set [service] command", END);
}

static void
test_names(void **state)
{
	static const char *const cases[][2] = {
	    {"/", "memwarden"},	  {"dir/", "dir"},    {"a//b//", "b"},
	    {"..", "__"},	  {".", "_"},	      {"/x/.hidden", ".hidden"},
	    {"n\xc3\xa9", "n__"}, {"a:b;c", "a_b_c"}, {"python3.12", "python3.12"},
	};
	struct load l = {0};
	struct result r;
	size_t i;
	char longname[300];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		l.argv[0] = cases[i][0];
		load_ok(&r, &l);
		assert_string_equal(r.cfg.name, cases[i][1]);
		assert_non_null(strstr(r.cfg.state_file, cases[i][1]));
		done(&r);
	}
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	l.argv[0] = longname;
	load_ok(&r, &l);
	assert_int_equal(strlen(r.cfg.name), 100);
	done(&r);

	l.argv[0] = "x";
	l.opts[0] = "service.name=a/b";
	load_fails(&l, "option -s service.name=a/b: [service] name = a/b: not a name", END);
	l.opts[0] = "service.name=";
	load_fails(&l, "[service] name is empty", END);
	l.opts[0] = "service.name=..";
	load_fails(&l, "[service] name = ..:", END);
	l.opts[0] = "service.name=a b";
	load_fails(&l, "[service] name = a b:", END);
}

static void
test_state_file_default(void **state)
{
	struct load l = {.ini = "[service]\nname = svc\n"};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_true(strcmp(r.cfg.state_file, "/run/memwarden/svc.json") == 0 ||
		    strcmp(r.cfg.state_file, "/tmp/memwarden/svc.json") == 0);
	/* Running as root with a writable /run, as the tests do, it is /run. */
	if (geteuid() == 0 && access("/run", W_OK) == 0)
		assert_string_equal(r.cfg.state_file, "/run/memwarden/svc.json");
	printed_is(&r, "status", "state_file", r.cfg.state_file, "default");
	done(&r);
}

static void
test_verbosity(void **state)
{
	struct load l = {.verbosity = 1};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.log_level, LOG_DEBUG);
	printed_is(&r, "log", "level", "debug", "option -v");
	done(&r);
	l.verbosity = 5;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.log_level, LOG_DEBUG);
	done(&r);
	l.verbosity = -1;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.log_level, LOG_WARN);
	printed_is(&r, "log", "level", "warn", "option -q");
	done(&r);
	l.verbosity = -7;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.log_level, LOG_ERROR);
	done(&r);
}

static void
test_users(void **state)
{
	struct load l = {.opts = {"service.user=54321"}};
	struct result r;

	(void)state;
	load_ok(&r, &l);
	assert_int_equal(r.cfg.cred.uid, 54321);
	assert_int_equal(r.cfg.cred.gid, 54321);
	done(&r);

	l.opts[0] = "service.group=0";
	load_ok(&r, &l);
	assert_false(r.cfg.cred.set_uid);
	assert_true(r.cfg.cred.set_gid);
	assert_int_equal(r.cfg.cred.gid, 0);
	done(&r);

	l.ini = "[service]\nuser = no-such-user-here\n";
	l.opts[0] = NULL;
	load_fails(&l, "@:2: [service] user = no-such-user-here: no user \"no-such-user-here\"",
		   END);
	l.ini = "[service]\nuser = root\ngroup = no-such-group-here\n";
	load_fails(&l, "@:3: [service] group = no-such-group-here: no group", END);
	l.ini = "[service]\ngroup = no-such-group-here\n";
	load_fails(&l, "@:2: [service] group = no-such-group-here", END);
	l.ini = NULL;
	l.env[0] = "MEMWARDEN_SERVICE_USER=nosuchuser";
	load_fails(&l, "env MEMWARDEN_SERVICE_USER: [service] user = nosuchuser", END);
	l.env[0] = NULL;
	l.opts[0] = "service.user=a:b";
	load_fails(&l, "[service] user = a:b: not a name from /etc/passwd or a number", END);
}

static void
test_thresholds(void **state)
{
	struct load l = {0};
	struct result r;

	(void)state;
	/* Mixed percent and size, limit from the cgroup: not comparable yet. */
	l.ini = "[memory]\nsoft = 3G\nhard = 50%\n";
	load_ok(&r, &l);
	done(&r);
	/* Mixed, with a limit: compared in bytes. */
	l.ini = "[memory]\nlimit = 4G\nsoft = 1G\nhard = 50%\n";
	load_ok(&r, &l);
	done(&r);
	l.ini = "[memory]\nlimit = 4G\nsoft = 2G\nhard = 50%\n";
	load_fails(&l, "@:4: [memory] hard = 50% must be above [memory] soft = 2G (@:3)", END);
	l.ini = "[memory]\nlimit = 4G\nhard = 50%\nsoft = 2G\n";
	load_fails(&l, "@:4: [memory] soft = 2G must be below [memory] hard = 50% (@:3)", END);
	l.ini = "[memory]\nlimit = 4G\nsoft = 60%\nhard = 2G\n";
	load_fails(&l, "@:4: [memory] hard = 2G must be above [memory] soft = 60% (@:3)", END);
	l.ini = "[memory]\nsoft = 90%\n";
	load_fails(&l, "@:2: [memory] soft = 90% must be below [memory] hard = 90% (default)", END);
	l.ini = "[memory]\nsoft = 2G\nhard = 2G\n";
	load_fails(&l, "@:3: [memory] hard = 2G must be above [memory] soft = 2G (@:2)", END);
	l.ini = "[memory]\nhard = 50%\n";
	load_fails(&l, "@:2: [memory] hard = 50% must be above [memory] soft = 80% (default)", END);
	l.ini = "[memory]\nlimit = 1G\nsoft = 512M\nhard = 2G\n";
	load_fails(&l, "[memory] hard = 2G must be at most [memory] limit = 1G", END);
	/* The later layer is named. */
	l.ini = "[memory]\nsoft = 50%\n";
	l.opts[0] = "memory.hard=40%";
	load_fails(&l,
		   "option -s memory.hard=40%: [memory] hard = 40% must be above [memory] "
		   "soft = 50% (@:2)",
		   END);
	l.opts[0] = NULL;
	l.ini = "[memory]\nsoft = 100%\nhard = 100%\n";
	load_fails(&l, "must be", END);
	l.ini = "[memory]\nsoft = 99.5%\nhard = 100%\n";
	load_ok(&r, &l);
	done(&r);
}

static void
test_intervals(void **state)
{
	struct load l = {.ini = "[memory]\nfast_interval = 2s\n"};
	struct result r;

	(void)state;
	load_fails(&l,
		   "@:2: [memory] fast_interval = 2s must be at most [memory] interval = 1s "
		   "(default)",
		   END);
	l.ini = "[memory]\ninterval = 20ms\n";
	load_fails(&l, "@:2: [memory] interval = 20ms must be at least [memory] fast_interval",
		   END);
	l.ini = "[memory]\ninterval = 10ms\nfast_interval = 10ms\n";
	load_ok(&r, &l);
	done(&r);
	l.ini = "[service]\nrestart_backoff = 1m\n";
	load_fails(&l,
		   "@:2: [service] restart_backoff = 1m must be at most [service] "
		   "restart_backoff_max = 30s (default)",
		   END);
}

/* The errors the brief lists, one by one, each naming FILE:LINE and the key. */
static void
test_file_errors(void **state)
{
	struct load l = {0};

	(void)state;
	l.ini = "[service]\n[servce]\nname = x\n";
	load_fails(&l, "@:2: unknown section [servce]", "[service], [memory]", END);
	l.ini = "[Service]\n";
	load_fails(&l, "@:1: unknown section [Service]", END);
	l.ini = "[memory]\nsoftt = 1\n";
	load_fails(&l, "@:2: unknown key \"softt\" in [memory]", "soft, hard", END);
	l.ini = "[memory]\nlimit = 4Q\n";
	load_fails(&l, "@:2: [memory] limit = 4Q: not auto or a size", END);
	l.ini = "[memory]\nlimit = 100\n";
	load_fails(&l, "@:2: [memory] limit = 100: not auto or a size of at least 1M", END);
	l.ini = "[memory]\nsoft = 150%\n";
	load_fails(&l,
		   "@:2: [memory] soft = 150%: not a percent in (0%, 100%] or a size (like 512M, "
		   "4.5G, 4.5Gi)",
		   END);
	l.ini = "\n\n[memory]\nsoft = 0%\n";
	load_fails(&l, "@:4: [memory] soft = 0%: not a percent in (0%, 100%]", END);
	l.ini = "[memory]\nhard = 0\n";
	load_fails(&l, "@:2: [memory] hard = 0: not a percent", END);
	l.ini = "[service]\nstop_signal = SIGFOO\n";
	load_fails(&l, "@:2: [service] stop_signal = SIGFOO: not a signal", END);
	l.ini = "[service]\nstop_signal = 65\n";
	load_fails(&l, "@:2: [service] stop_signal = 65", END);
	l.ini = "[service]\nstop_signal = STOP\n";
	load_fails(&l, "@:2: [service] stop_signal = STOP", "but not STOP", END);
	l.ini = "[memory]\naction_signal = KILL\n";
	load_fails(&l, "@:2: [memory] action_signal = KILL: not a signal that can be caught", END);
	l.ini = "[memory]\naction_signal = 19\n";
	load_fails(&l, "@:2: [memory] action_signal = 19", END);
	l.ini = "[allocator]\nrelease_signal = HUP\n";
	load_fails(&l, "@:2: [allocator] release_signal = HUP: not USR1, USR2 or a real-time", END);
	l.ini = "[service]\nstop_timeout = 10 seconds\n";
	load_fails(&l, "@:2: [service] stop_timeout = 10 seconds: not a duration from 0 to 30d",
		   END);
	l.ini = "[service]\nstop_timeout = 31d\n";
	load_fails(&l, "@:2: [service] stop_timeout = 31d", END);
	l.ini = "[memory]\ninterval = 5ms\n";
	load_fails(&l, "@:2: [memory] interval = 5ms: not a duration from 10ms to 1h", END);
	l.ini = "[service]\nstop_timeout = -5s\n";
	load_fails(&l, "@:2: [service] stop_timeout = -5s: negative values are not allowed", END);
	l.ini = "[service]\nmax_restarts = -1\n";
	load_fails(&l, "@:2: [service] max_restarts = -1: negative values are not allowed", END);
	l.ini = "[service]\nmax_restarts = 99999999999999999999999\n";
	load_fails(&l, "@:2: [service] max_restarts = 99999999999999999999999: not a whole number",
		   END);
	l.ini = "[memory]\nhard_for = 0\n";
	load_fails(&l, "@:2: [memory] hard_for = 0: not a whole number from 1 to 1000", END);
	l.ini = "[allocator]\narena_max = 1025\n";
	load_fails(&l, "@:2: [allocator] arena_max = 1025: not auto or a whole number", END);
	l.ini = "[allocator]\narena_max = 0\n";
	load_fails(&l, "@:2: [allocator] arena_max = 0", END);
	l.ini = "[service]\ncommand =\n";
	load_fails(&l, "@:2: [service] command is empty", END);
	l.ini = "[service]\ncommand =       \n";
	load_fails(&l, "@:2: [service] command is empty", END);
	l.ini = "[service]\ncommand = # only a comment\n";
	load_fails(&l, "@:2: [service] command = # only a comment: no words", END);
	l.ini = "[service]\ncommand = a | b\n";
	load_fails(&l, "@:2: [service] command = a | b: unquoted '|'", "sh -c", END);
	l.ini = "[service]\nname = a\n\nname = b\n";
	load_fails(&l, "@:4: [service] name given twice (first on line 2)", END);
	l.ini = "[environment]\nA = 1\nA = 2\n";
	load_fails(&l, "@:3: [environment] A given twice (first on line 2)", END);
	l.ini = "[service\nname = x\n";
	load_fails(&l, "@:1: unterminated section header \"[service\"", END);
	l.ini = "[service ;]\n";
	load_fails(&l, "@:1: unterminated section header", END);
	l.ini = "[service] name = x\n";
	load_fails(&l, "@:1: text after the section header [service]", END);
	l.ini = "; comment\nname = x\n[service]\n";
	load_fails(&l, "@:2: key \"name\" outside any section", END);
	l.ini = "[service]\ncommand = a\n  --flag\n";
	load_fails(&l, "@:3: an indented line would continue the value", "multi-line", END);
	l.ini = "[service]\ncommand = a\n\n\t--flag\n";
	load_fails(&l, "@:4: an indented line", END);
	l.ini = "[service]\njust words\n";
	load_fails(&l, "@:2: expected KEY = VALUE", END);
	l.ini = "[service]\n= x\n";
	load_fails(&l, "@:2: a value without a key", END);
	l.ini = "[service]\ndirectory = srv\n";
	load_fails(&l, "@:2: [service] directory = srv: not an absolute path", END);
	l.ini = "[allocator]\njemalloc = lib/libjemalloc.so\n";
	load_fails(&l,
		   "@:2: [allocator] jemalloc = lib/libjemalloc.so: not auto or an absolute "
		   "path",
		   END);
	l.ini = "[allocator]\nagent = ./agent.so\n";
	load_fails(&l, "@:2: [allocator] agent = ./agent.so", END);
	l.ini = "[status]\nstate_file = state.json\n";
	load_fails(&l, "@:2: [status] state_file = state.json: not an absolute path", END);
	l.ini = "[service]\nready = file:ready\n";
	load_fails(&l, "@:2: [service] ready = file:ready: not started, notify", END);
	l.ini = "[service]\nready = tcp:0\n";
	load_fails(&l, "@:2: [service] ready = tcp:0", END);
	l.ini = "[service]\nready = tcp:65536\n";
	load_fails(&l, "@:2: [service] ready = tcp:65536", END);
	l.ini = "[service]\nready = delay:soon\n";
	load_fails(&l, "@:2: [service] ready = delay:soon", END);
	l.ini = "[service]\nready = later\n";
	load_fails(&l, "@:2: [service] ready = later", END);
	l.ini = "[environment]\n1FOO = x\n";
	load_fails(&l, "@:2: [environment] 1FOO: not a valid environment variable name", END);
	l.ini = "[environment]\nA-B = x\n";
	load_fails(&l, "@:2: [environment] A-B", END);
	l.ini = "[service]\numask = 0888\n";
	load_fails(&l, "@:2: [service] umask = 0888: not an octal mask", END);
	l.ini = "[service]\numask = 01777\n";
	load_fails(&l, "@:2: [service] umask = 01777", END);
	l.ini = "[service]\nsuccess_exit_codes = 143 256\n";
	load_fails(&l, "@:2: [service] success_exit_codes = 143 256: not none, or exit codes", END);
	l.ini = "[service]\nsuccess_exit_codes = none 1\n";
	load_fails(&l, "@:2: [service] success_exit_codes = none 1", END);
	l.ini = "[service]\nsignal_group = maybe\n";
	load_fails(&l, "@:2: [service] signal_group = maybe: not a boolean", END);
	l.ini = "[service]\nrestart = sometimes\n";
	load_fails(&l, "@:2: [service] restart = sometimes: not one of no, on-failure, always",
		   END);
	l.ini = "[memory]\nmetric = Current\n";
	load_fails(&l, "@:2: [memory] metric = Current: not one of workingset, current", END);
	l.ini = "[allocator]\nmalloc_conf = background_thread=true\n";
	load_fails(&l,
		   "@:2: [allocator] malloc_conf = background_thread=true: not jemalloc "
		   "options",
		   END);
	l.ini = "[allocator]\nmalloc_conf = a:1,\n";
	load_fails(&l, "@:2: [allocator] malloc_conf = a:1,", END);
	l.ini = "[allocator]\nmalloc_conf = a:1, b:2\n";
	load_fails(&l, "@:2: [allocator] malloc_conf = a:1, b:2", END);
	l.ini = "[log]\ntarget = journal\n";
	load_fails(&l, "@:2: [log] target = journal: this build of memwarden has no libsystemd",
		   END);
	l.ini = "[log]\ntarget = syslog\n";
	load_fails(&l, "@:2: [log] target = syslog: not one of stderr, journal", END);
	/* A bad value is an error even when a later layer overrides it. */
	l.ini = "[memory]\nsoft = 150%\n";
	l.opts[0] = "memory.soft=50%";
	load_fails(&l, "@:2: [memory] soft = 150%", END);
	l.opts[0] = NULL;
}

static void
test_line_length(void **state)
{
	char ini[512];
	struct load l = {.ini = ini};
	struct result r;
	int pad;

	(void)state;
	/* "name = " and 192 more bytes: 199, the longest line there is. */
	pad = 199 - (int)strlen("name = ");
	snprintf(
	    ini, sizeof(ini), "[service]\nname = %.*s\n", pad,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	l.ini = ini;
	run(&r, &l);
	/* The line fits; the name is too long for a name, and says so. */
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, ":2: [service] name = xxx"));
	done(&r);

	snprintf(
	    ini, sizeof(ini), "[service]\ncommand = %.*s\n", 199 - 10,
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
	assert_int_equal(strlen(strchr(ini, '\n') + 1), 200);
	load_ok(&r, &l);
	assert_int_equal(strlen(r.cfg.argv[0]), 189);
	done(&r);

	/* One byte more, with CRLF, with a UTF-8 BOM on line 1: the limit is
	 * on the content. */
	snprintf(
	    ini, sizeof(ini), "[service]\r\ncommand = %.*s\r\n", 199 - 10,
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
	load_ok(&r, &l);
	done(&r);
	snprintf(
	    ini, sizeof(ini), "\xef\xbb\xbf[service]\ncommand = %.*s\n", 199 - 10,
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
	load_ok(&r, &l);
	done(&r);

	snprintf(
	    ini, sizeof(ini), "[service]\n\ncommand = %.*s\nname = x\n", 199 - 9,
	    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
	    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
	    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
	load_fails(&l, "@:3: line longer than 199 bytes", END);
}

static void
test_long_line_far_over(void **state)
{
	size_t n = 100000;
	char *ini = malloc(n + 32);
	struct load l = {0};

	(void)state;
	assert_non_null(ini);
	strcpy(ini, "[service]\ncommand = ");
	memset(ini + strlen(ini), 'a', n);
	strcpy(ini + 20 + n, "\n");
	l.ini = ini;
	load_fails(&l, "@:2: line longer than 199 bytes", END);
	/* A file without a single newline. */
	memset(ini, 'b', n);
	ini[n] = '\0';
	load_fails(&l, "@:1: line longer than 199 bytes", END);
	free(ini);
}

static void
test_binary(void **state)
{
	static const char nul[] = "[service]\nname = a\0b\n";
	static const char elf[] = "\x7f"
				  "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0";
	struct load l = {.ini = nul, .ini_len = sizeof(nul) - 1};

	(void)state;
	load_fails(&l, "@:2: the line contains a NUL byte", END);
	l.ini = elf;
	l.ini_len = sizeof(elf) - 1;
	load_fails(&l, "@:1: the line contains", "is this a text file?", END);
	l.ini = "[service]\nname = \x1b[31mred\n";
	l.ini_len = 0;
	load_fails(&l, "@:2: the line contains control character 0x1b", END);
	l.ini = "[service]\nname = caf\xe9\n";
	load_fails(&l, "@:2: the line is not valid UTF-8", END);
	l.ini = "[service]\nname = \xed\xa0\x80\n"; /* a UTF-16 surrogate */
	load_fails(&l, "@:2: the line is not valid UTF-8", END);
	l.ini = "[service]\nname = \xc0\xaf\n"; /* overlong */
	load_fails(&l, "@:2: the line is not valid UTF-8", END);
	/* UTF-8 itself is fine where the value allows it. */
	l.ini = "[environment]\nGREETING = gr\xc3\xbc\xc3\x9f dich \xf0\x9f\x91\x8b\n";
	{
		struct result r;

		load_ok(&r, &l);
		assert_string_equal(r.cfg.environment[0],
				    "GREETING=gr\xc3\xbc\xc3\x9f dich \xf0\x9f\x91\x8b");
		done(&r);
	}
}

static void
test_file_syntax_accepted(void **state)
{
	struct load l = {.ini = "# hash comment\n"
				"; semicolon comment\n"
				"\n"
				"[service]   ; trailing comment\n"
				"  name = indented-after-header\n"
				"stop_timeout=5s\n"
				"drain_delay : 2s\n"
				"\t\n"
				"[memory]\n"
				"soft = 70% ; inline comment\n"
				"hard = 85%;not a comment without a space before it\n"
				"[service]\n"
				"restart = always\n"};
	struct result r;

	(void)state;
	run(&r, &l);
	/* "85%;not..." is the value, which is not a percent. */
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, ":11: [memory] hard = 85%;not a comment"));
	done(&r);

	l.ini = "# hash comment\n"
		"; semicolon comment\n"
		"\n"
		"[service]   ; trailing comment\n"
		"  name = indented-after-header\n"
		"stop_timeout=5s\n"
		"drain_delay : 2s\n"
		"\t\n"
		"[memory]\n"
		"soft = 70% ; inline comment\n"
		"[service]\n"
		"restart = always";
	load_ok(&r, &l);
	assert_string_equal(r.cfg.name, "indented-after-header");
	assert_int_equal(r.cfg.stop_timeout_ms, 5000);
	assert_int_equal(r.cfg.drain_delay_ms, 2000);
	assert_true(r.cfg.soft.percent == 70.0);
	assert_int_equal(r.cfg.restart, RESTART_ALWAYS);
	printed_is(&r, "service", "restart", "always", "@:12");
	printed_is(&r, "memory", "soft", "70%", "@:10");
	done(&r);

	l.ini = "";
	load_ok(&r, &l);
	assert_string_equal(r.cfg.source, r.path);
	done(&r);
}

static void
test_unreadable_file(void **state)
{
	struct config cfg;
	struct config_input in = {.file = "/nonexistent/memwarden.ini"};
	char err[CONFIG_ERROR_MAX];

	(void)state;
	assert_int_equal(config_load(&cfg, &in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "/nonexistent/memwarden.ini"));
	assert_non_null(strstr(err, "No such file or directory"));
	config_free(&cfg);
	in.file = "/";
	assert_int_equal(config_load(&cfg, &in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "Is a directory"));
	config_free(&cfg);
	in.file = "";
	assert_int_equal(config_load(&cfg, &in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "empty"));
	config_free(&cfg);
	config_free(&cfg); /* twice is fine */
}

static void
test_option_errors(void **state)
{
	struct load l = {.opts = {"memory.soft"}};

	(void)state;
	load_fails(&l, "option -s memory.soft: expected SECTION.KEY=VALUE", END);
	l.opts[0] = "soft=1";
	load_fails(&l, "option -s soft=1: expected SECTION.KEY=VALUE", END);
	l.opts[0] = "a=b.c";
	load_fails(&l, "option -s a=b.c: expected SECTION.KEY=VALUE", END);
	l.opts[0] = ".soft=1";
	load_fails(&l, "option -s .soft=1: expected", END);
	l.opts[0] = "memory.=1";
	load_fails(&l, "option -s memory.=1: expected", END);
	l.opts[0] = "";
	load_fails(&l, "option -s : expected", END);
	l.opts[0] = "mem.soft=1";
	load_fails(&l, "option -s mem.soft=1: unknown section [mem]", END);
	l.opts[0] = "memory.sfot=1";
	load_fails(&l, "option -s memory.sfot=1: unknown key \"sfot\" in [memory]", END);
	l.opts[0] = "memory.soft=150%";
	load_fails(&l, "option -s memory.soft=150%: [memory] soft = 150%: not a percent", END);
	l.opts[0] = "service.name=a\nb";
	load_fails(&l, "[service] name: the value contains control character 0x0a", END);
	l.opts[0] = "environment.X=a\tb";
	{
		struct result r;

		load_ok(&r, &l); /* tabs are fine */
		done(&r);
	}
	l.opts[0] = "environment.X=a\x01";
	load_fails(&l, "option -s environment.X=a\x01: [environment] X: contains control", END);
}

static void
test_env_errors(void **state)
{
	struct load l = {.env = {"MEMWARDEN_MEMORY_SOFT=150%", NULL}};

	(void)state;
	load_fails(&l, "env MEMWARDEN_MEMORY_SOFT: [memory] soft = 150%: not a percent", END);
	l.env[0] = "MEMWARDEN_SERVICE_STOP_TIMEOUT=-1s";
	load_fails(&l, "env MEMWARDEN_SERVICE_STOP_TIMEOUT: [service] stop_timeout = -1s", END);
	l.env[0] = "MEMWARDEN_SERVICE_COMMAND=";
	load_fails(&l, "env MEMWARDEN_SERVICE_COMMAND: [service] command is empty", END);
	l.env[0] = "MEMWARDEN_LOG_TARGET=journal";
	load_fails(&l, "env MEMWARDEN_LOG_TARGET: [log] target = journal: this build", END);
}

static void
test_small_error_buffer(void **state)
{
	struct config cfg;
	char *overrides[] = {"memory.soft=150%"};
	struct config_input in = {.overrides = overrides, .n_overrides = 1};
	char err[16];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(config_load(&cfg, &in, err, 10), 1);
	assert_int_equal(strlen(err), 9);
	assert_int_equal(err[10], 'x');
	config_free(&cfg);
	assert_int_equal(config_load(&cfg, &in, err, 0), 1);
	config_free(&cfg);
}

/* What config_print writes loads again, to the same values. */
static void
test_print_round_trip(void **state)
{
	struct load l = {.ini = full_ini,
			 .env = {"MEMWARDEN_ENVIRONMENT_Q=x y", NULL},
			 .opts = {"memory.soft=2.5G", NULL},
			 .argv = {"/bin/echo", "a b", "it's", NULL}};
	struct result r, again;
	struct load l2 = {0};
	char *p, *q;

	(void)state;
	load_ok(&r, &l);
	l2.ini = r.printed;
	load_ok(&again, &l2);
	assert_string_equal(again.cfg.argv[0], "/bin/echo");
	assert_string_equal(again.cfg.argv[1], "a b");
	assert_string_equal(again.cfg.argv[2], "it's");
	assert_int_equal(again.cfg.soft.bytes, 5ULL << 29);
	assert_string_equal(again.cfg.name, r.cfg.name);
	assert_string_equal(again.cfg.state_file, r.cfg.state_file);
	assert_int_equal(again.cfg.n_environment, 3);
	assert_string_equal(again.cfg.environment[2], "Q=x y");
	assert_int_equal(again.cfg.release_signal, r.cfg.release_signal);
	assert_int_equal(again.cfg.umask, r.cfg.umask);
	assert_true(memcmp(again.cfg.success_exit, r.cfg.success_exit, 256) == 0);
	/* Line by line, only the origins differ. */
	for (p = r.printed, q = again.printed; *p != '\0' && *q != '\0';) {
		size_t lp = strcspn(p, "\n"), lq = strcspn(q, "\n");
		const char *sp = strstr(p, " ; "), *sq = strstr(q, " ; ");

		if (*p != '#' && sp != NULL && sp < p + lp && sq != NULL && sq < q + lq) {
			size_t vp = (size_t)(sp - p), vq = (size_t)(sq - q);

			while (vp > 0 && p[vp - 1] == ' ')
				vp--;
			while (vq > 0 && q[vq - 1] == ' ')
				vq--;
			if (vp != vq || memcmp(p, q, vp) != 0)
				fail_msg("\"%.*s\" printed again as \"%.*s\"", (int)lp, p, (int)lq,
					 q);
		}
		p += lp + (p[lp] != '\0');
		q += lq + (q[lq] != '\0');
	}
	done(&again);
	done(&r);
}

static void
test_template(void **state)
{
	char *t = template_to_string(), *uncommented, *p;
	struct load l = {0};
	struct result r, def;
	size_t i;

	(void)state;
	/* Every key of the specification, commented out, in its section. */
	for (i = 0; i < NSPEC_KEYS; i++) {
		char header[64], line[64];
		const char *sec, *next, *key;

		snprintf(header, sizeof(header), "\n[%s]\n", spec_keys[i][0]);
		sec = strstr(t, header);
		if (sec == NULL)
			fail_msg("template lacks %s", header);
		next = strstr(sec + 1, "\n[");
		snprintf(line, sizeof(line), "\n;%s =", spec_keys[i][1]);
		key = strstr(sec, line);
		if (key == NULL || (next != NULL && key > next))
			fail_msg("template lacks [%s] %s", spec_keys[i][0], spec_keys[i][1]);
	}
	assert_non_null(strstr(t, "\n[environment]\n"));
	assert_non_null(strstr(t, ";stop_timeout = 10s\n"));
	assert_non_null(strstr(t, ";soft = 80%\n"));
	assert_non_null(strstr(t, ";release_signal = RTMIN+6\n"));
	assert_non_null(strstr(t, ";malloc_conf = background_thread:true,dirty_decay_ms:1000,"
				  "muzzy_decay_ms:0\n"));
	assert_non_null(strstr(t, "/run/memwarden/NAME.json"));
	assert_non_null(strstr(t, "powers of 1024"));
	/* No line too long for the parser. */
	for (p = t; *p != '\0';) {
		size_t n = strcspn(p, "\n");

		if (n > 199)
			fail_msg("template line of %zu bytes: %.40s...", n, p);
		p += n + (p[n] != '\0');
	}

	/* As it is, it loads: all comments. */
	l.ini = t;
	load_ok(&r, &l);
	done(&r);

	/* With every default uncommented, it loads to the defaults. */
	uncommented = strdup(t);
	assert_non_null(uncommented);
	for (p = uncommented; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		const char *eq = memchr(p, '=', n);

		if (p[0] == ';' && eq != NULL && eq + 1 < p + n) {
			memmove(p, p + 1, strlen(p + 1) + 1);
			n--;
		}
		p += n + (p[n] != '\0');
	}
	l.ini = uncommented;
	load_ok(&r, &l);
	l.ini = NULL;
	load_ok(&def, &l);
	assert_int_equal(r.cfg.n_environment, 1);
	assert_string_equal(r.cfg.environment[0], "PYTHONUNBUFFERED=1");
	assert_int_equal(r.cfg.stop_timeout_ms, def.cfg.stop_timeout_ms);
	assert_int_equal(r.cfg.release_signal, def.cfg.release_signal);
	assert_string_equal(r.cfg.malloc_conf, def.cfg.malloc_conf);
	assert_true(r.cfg.soft.percent == def.cfg.soft.percent);
	{
		char line[512];

		printed_line(&r, "memory", "soft", line, sizeof(line));
		assert_non_null(strstr(line, r.path));
	}
	done(&def);
	done(&r);
	free(uncommented);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_ready_modes),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_config_from_env),
	    cmocka_unit_test(test_env_vars),
	    cmocka_unit_test(test_unknown_env_var),
	    cmocka_unit_test(test_foreign_env_var_ignored),
	    cmocka_unit_test(test_environment_section),
	    cmocka_unit_test(test_command_line_argv),
	    cmocka_unit_test(test_command_from_file),
	    cmocka_unit_test(test_no_command),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_state_file_default),
	    cmocka_unit_test(test_verbosity),
	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_thresholds),
	    cmocka_unit_test(test_intervals),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_line_length),
	    cmocka_unit_test(test_long_line_far_over),
	    cmocka_unit_test(test_binary),
	    cmocka_unit_test(test_file_syntax_accepted),
	    cmocka_unit_test(test_unreadable_file),
	    cmocka_unit_test(test_option_errors),
	    cmocka_unit_test(test_env_errors),
	    cmocka_unit_test(test_small_error_buffer),
	    cmocka_unit_test(test_print_round_trip),
	    cmocka_unit_test(test_template),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

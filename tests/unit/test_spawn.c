/* The service's environment: memwarden's own, [environment] over it, and
 * the user's HOME/USER/LOGNAME when [service] user is set. */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spawn.h"

static const char *
lookup(char **env, const char *name)
{
	size_t len = strlen(name);

	for (; *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

static size_t
count(char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	return n;
}

static void
environment_overrides_without_duplicates(void **state)
{
	char *base[] = {"PATH=/bin", "LANG=C", "KEEP=1", NULL};
	char *extra[] = {"LANG=C.UTF-8", "NEW=x"};
	struct config cfg;
	char **env;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.environment = extra;
	cfg.n_environment = 2;
	env = service_environment(&cfg, base);
	assert_non_null(env);
	assert_int_equal(count(env), 4);
	assert_string_equal(lookup(env, "LANG"), "C.UTF-8");
	assert_string_equal(lookup(env, "NEW"), "x");
	assert_string_equal(lookup(env, "KEEP"), "1");
	assert_null(lookup(env, "HOME"));
	free(env);
}

static void
user_sets_home_user_logname(void **state)
{
	char *base[] = {"HOME=/root", "USER=root", NULL};
	char *extra[] = {"HOME=/srv"};
	struct config cfg;
	char **env;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cred.set_uid = true;
	cfg.cred.uid = 65534;
	cfg.cred.user_name = "nobody";
	cfg.cred.home = "/nonexistent";
	env = service_environment(&cfg, base);
	assert_non_null(env);
	assert_string_equal(lookup(env, "HOME"), "/nonexistent");
	assert_string_equal(lookup(env, "USER"), "nobody");
	assert_string_equal(lookup(env, "LOGNAME"), "nobody");
	assert_int_equal(count(env), 3);
	free(env);
	/* [environment] wins over the user's entry. */
	cfg.environment = extra;
	cfg.n_environment = 1;
	env = service_environment(&cfg, base);
	assert_string_equal(lookup(env, "HOME"), "/srv");
	free(env);
}

static void
exec_failure_statuses(void **state)
{
	struct spawn_failure notfound = {.step = STEP_EXEC, .err = 2 /* ENOENT */};
	struct spawn_failure denied = {.step = STEP_EXEC, .err = 13 /* EACCES */};
	struct spawn_failure chdir_failed = {.step = STEP_CHDIR, .err = 2};

	(void)state;
	assert_int_equal(spawn_failure_status(&notfound), 127);
	assert_int_equal(spawn_failure_status(&denied), 126);
	assert_int_equal(spawn_failure_status(&chdir_failed), 126);
	assert_string_equal(spawn_step_name(STEP_SETGROUPS), "setgroups");
	assert_string_equal(spawn_step_name(STEP_CAPS), "capset");
}

/* ------------------------------------------------ credentials, for real */

struct caps_header {
	uint32_t version;
	int pid;
};
struct caps_data {
	uint32_t effective, permitted, inheritable;
};

#define CAPS_V3 0x20080522
#define CAP_NET_BIND 10
#define SECBIT_NO_SETUID_FIXUP_ (1 << 2)

/* In a child of the test: memwarden at its most privileged and careless,
 * as root with supplementary groups, an inheritable and ambient
 * capability, and SECBIT_NO_SETUID_FIXUP (which keeps capabilities over
 * setuid); it starts a shell as uid/gid 65534 that writes its
 * /proc/self/status to the pipe on fd 3. Exits 0, 77 when the set-up
 * cannot be made here, or 1. */
static int
spawn_as_nobody(int out_fd)
{
	static gid_t groups[] = {65534};
	char *argv[] = {"/bin/sh", "-c", "cat /proc/self/status >&3; ls /proc/self/fd >&3", NULL};
	struct caps_header h = {CAPS_V3, 0};
	struct caps_data d[2];
	struct inherited_signals inherited = {0, 0};
	struct spawn_failure f;
	struct config cfg;
	gid_t extra[] = {0, 4242};
	pid_t pid;
	int error_fd, status, r;

	if (syscall(SYS_capget, &h, d) != 0)
		return 77;
	d[0].inheritable = d[0].permitted;
	d[1].inheritable = d[1].permitted;
	if (syscall(SYS_capset, &h, d) != 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND, 0, 0) != 0 ||
	    prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP_, 0, 0, 0) != 0 ||
	    setgroups(2, extra) != 0)
		return 77;
	if (out_fd != 3 && (dup2(out_fd, 3) != 3 || close(out_fd) != 0))
		return 1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.argv = argv;
	cfg.cred.set_uid = cfg.cred.set_gid = true;
	cfg.cred.uid = 65534;
	cfg.cred.gid = 65534;
	cfg.cred.groups = groups;
	cfg.cred.ngroups = 1;
	if (spawn_service(&cfg, &inherited, &pid, &error_fd) != 0)
		return 1;
	close(3);
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	return spawn_read_failure(error_fd, &f) == 0 ? 0 : 1;
}

/* A line of /proc/PID/status ("CapAmb:\t0000000000000000"), its value. */
static const char *
status_value(const char *status, const char *key, char *out, size_t len)
{
	const char *p = strstr(status, key);
	size_t n;

	if (p == NULL)
		return NULL;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

/* setgroups, setgid, setuid, and every capability cleared: the service
 * keeps none of memwarden's groups, ids or capabilities, whatever the
 * securebits memwarden was started with; and no fd of memwarden's but
 * what it was given (0, 1, 2 and the pipe here). */
static void
credentials_dropped_for_another_user(void **state)
{
	char buf[16384], v[128];
	ssize_t n;
	size_t len = 0;
	int fds[2], status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(spawn_as_nobody(fds[1]));
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip(); /* no CAP_SETPCAP, ambient capabilities, ... here */
	if (WEXITSTATUS(status) != 0)
		fail_msg("spawning as 65534 failed (%d); the service saw:\n%s", WEXITSTATUS(status),
			 buf);
	assert_string_equal(status_value(buf, "Uid:", v, sizeof(v)), "65534\t65534\t65534\t65534");
	assert_string_equal(status_value(buf, "Gid:", v, sizeof(v)), "65534\t65534\t65534\t65534");
	assert_string_equal(status_value(buf, "Groups:", v, sizeof(v)), "65534 ");
	assert_string_equal(status_value(buf, "CapInh:", v, sizeof(v)), "0000000000000000");
	assert_string_equal(status_value(buf, "CapPrm:", v, sizeof(v)), "0000000000000000");
	assert_string_equal(status_value(buf, "CapEff:", v, sizeof(v)), "0000000000000000");
	assert_string_equal(status_value(buf, "CapAmb:", v, sizeof(v)), "0000000000000000");
	/* the bounding set is the container's: left as it was */
	assert_non_null(status_value(buf, "CapBnd:", v, sizeof(v)));
	assert_string_not_equal(v, "0000000000000000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(environment_overrides_without_duplicates),
	    cmocka_unit_test(user_sets_home_user_logname),
	    cmocka_unit_test(exec_failure_statuses),
	    cmocka_unit_test(credentials_dropped_for_another_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

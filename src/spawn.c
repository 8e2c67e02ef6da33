#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent_proto.h"
#include "preload.h"
#include "spawn.h"

extern char **environ;

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#endif
#ifndef PR_CAP_AMBIENT_CLEAR_ALL
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* The preload's variables: however many its plan has room for. */
#define PRELOAD_ENV_MAX (sizeof(((struct preload_plan *)0)->env) / sizeof(char *))

static const struct preload_plan *preload_plan;
/* "MEMWARDEN_SOCKET=@name" and "NOTIFY_SOCKET=@name" (or NULL). */
static char agent_socket_var[128], notify_socket_var[128];
static bool notify_socket_set;

void
spawn_set_preload(const struct preload_plan *plan)
{
	preload_plan = plan;
}

void
spawn_set_notify(const char *name, bool notify_protocol)
{
	agent_socket_var[0] = notify_socket_var[0] = '\0';
	notify_socket_set = false;
	if (name == NULL)
		return;
	snprintf(agent_socket_var, sizeof(agent_socket_var), "%s=%s", AGENT_SOCKET_ENV, name);
	if (notify_protocol) {
		snprintf(notify_socket_var, sizeof(notify_socket_var), "NOTIFY_SOCKET=%s", name);
		notify_socket_set = true;
	}
}

const char *
spawn_step_name(int step)
{
	switch (step) {
	case STEP_CHDIR:
		return "chdir";
	case STEP_SETGROUPS:
		return "setgroups";
	case STEP_SETGID:
		return "setgid";
	case STEP_SETUID:
		return "setuid";
	case STEP_CAPS:
		return "capset";
	case STEP_EXEC:
		return "exec";
	default:
		return "spawn";
	}
}

int
spawn_failure_status(const struct spawn_failure *f)
{
	if (f->step == STEP_EXEC && (f->err == ENOENT || f->err == ENOTDIR))
		return 127;
	return 126;
}

static size_t
env_name_length(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Sets entry (KEY=value) in env, replacing a variable of the same name. */
static void
env_set(char **env, size_t *n, char *entry)
{
	size_t len = env_name_length(entry), i;

	for (i = 0; i < *n; i++) {
		if (env_name_length(env[i]) == len && strncmp(env[i], entry, len) == 0) {
			env[i] = entry;
			return;
		}
	}
	env[(*n)++] = entry;
}

/* One allocation holds the pointer array and the few strings made here,
 * so the caller frees it with a single free(). */
char **
service_environment(const struct config *cfg, char **environ_in)
{
	const struct credentials *c = &cfg->cred;
	size_t base = 0, n = 0, i, extra_bytes = 0, slots;
	char **env, *strings;

	while (environ_in && environ_in[base])
		base++;
	if (c->set_uid) {
		extra_bytes += (size_t)3 * 16 + (c->home ? strlen(c->home) : 0) +
			       2 * (c->user_name ? strlen(c->user_name) : 0);
	}
	/* HOME, USER, LOGNAME; the preload's; the two sockets; NULL. */
	slots = base + cfg->n_environment + 3 + PRELOAD_ENV_MAX + 2 + 1;
	env = malloc(slots * sizeof(char *) + extra_bytes);
	if (env == NULL)
		return NULL;
	strings = (char *)(env + slots);
	for (i = 0; i < base; i++) {
		/* memwarden's own NOTIFY_SOCKET (it may be a systemd service)
		 * is not the service's: the service notifies memwarden, or no
		 * one (SPEC section 6). */
		if (strncmp(environ_in[i], "NOTIFY_SOCKET=", 14) == 0)
			continue;
		env[n++] = environ_in[i];
	}
	if (c->set_uid && c->home) {
		sprintf(strings, "HOME=%s", c->home);
		env_set(env, &n, strings);
		strings += strlen(strings) + 1;
	}
	if (c->set_uid && c->user_name) {
		sprintf(strings, "USER=%s", c->user_name);
		env_set(env, &n, strings);
		strings += strlen(strings) + 1;
		sprintf(strings, "LOGNAME=%s", c->user_name);
		env_set(env, &n, strings);
	}
	for (i = 0; i < cfg->n_environment; i++)
		env_set(env, &n, cfg->environment[i]);
	for (i = 0; preload_plan && i < PRELOAD_ENV_MAX && preload_plan->env[i]; i++)
		env_set(env, &n, preload_plan->env[i]);
	if (agent_socket_var[0])
		env_set(env, &n, agent_socket_var);
	if (notify_socket_set)
		env_set(env, &n, notify_socket_var);
	env[n] = NULL;
	return env;
}

static void __attribute__((noreturn)) child_fail(int fd, int step)
{
	struct spawn_failure f = {.step = step, .err = errno};
	ssize_t n;

	do {
		n = write(fd, &f, sizeof(f));
	} while (n < 0 && errno == EINTR);
	_exit(spawn_failure_status(&f));
}

/*
 * After setuid() to a user other than root: none of memwarden's
 * capabilities may reach the service. The kernel clears the permitted,
 * effective and ambient sets on that setuid() (capabilities(7)), unless
 * memwarden was started with SECBIT_KEEP_CAPS or SECBIT_NO_SETUID_FIXUP;
 * then the ambient set would survive execve() and the inheritable set would
 * combine with a program's file capabilities. So all four are cleared here,
 * whatever the securebits: dropping capabilities needs none.
 *
 * The bounding set is left as memwarden found it, and no_new_privs is not
 * set: both are the container's to decide (docker run --cap-drop,
 * --security-opt no-new-privileges, a pod's securityContext), and setting
 * either here would break the setuid or file-capability helpers a service
 * may legitimately run (ping, su, a web server's port binder), as Docker's
 * USER does not.
 *
 * Raw system calls: async-signal-safe, and no libcap in a static PID 1.
 */
struct cap_header {
	uint32_t version;
	int pid;
};
struct cap_data {
	uint32_t effective, permitted, inheritable;
};
#define CAP_VERSION_3 0x20080522 /* linux/capability.h: two cap_data */

static int
drop_capabilities(void)
{
	struct cap_header h = {.version = CAP_VERSION_3, .pid = 0};
	struct cap_data d[2] = {{0, 0, 0}, {0, 0, 0}};

	/* EINVAL: a kernel before 4.3, without ambient capabilities. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		return 1;
	return syscall(SYS_capset, &h, d) != 0;
}

/* Runs in the child between fork and exec: only async-signal-safe calls.
 * All signals are still blocked here (inherited from memwarden), which is
 * what makes tcsetpgrp safe: a background process group taking the
 * terminal would otherwise be stopped by SIGTTOU. */
static void __attribute__((noreturn))
child_exec(const struct config *cfg, const struct inherited_signals *inherited, char **env, int fd,
	   int take_terminal)
{
	const struct credentials *c = &cfg->cred;

	(void)setpgid(0, 0);
	if (take_terminal)
		(void)tcsetpgrp(STDIN_FILENO, getpid());
	if (cfg->has_umask)
		umask(cfg->umask);
	if (cfg->directory && chdir(cfg->directory) != 0)
		child_fail(fd, STEP_CHDIR);
	if (c->set_uid && setgroups(c->ngroups, c->groups) != 0)
		child_fail(fd, STEP_SETGROUPS);
	if (!c->set_uid && c->set_gid && setgroups(0, NULL) != 0)
		child_fail(fd, STEP_SETGROUPS);
	if (c->set_gid && setgid(c->gid) != 0)
		child_fail(fd, STEP_SETGID);
	if (c->set_uid && setuid(c->uid) != 0)
		child_fail(fd, STEP_SETUID);
	if (c->set_uid && c->uid != 0 && drop_capabilities() != 0)
		child_fail(fd, STEP_CAPS);
	signals_restore_inherited(inherited);
	/* execvp searches the PATH of environ: make it the service's. */
	environ = env;
	execvp(cfg->argv[0], cfg->argv);
	child_fail(fd, STEP_EXEC);
}

/* The terminal goes to the service only when memwarden has it in the
 * foreground: docker run -t, or an interactive shell. */
static int
owns_terminal(void)
{
	pid_t fg;

	if (!isatty(STDIN_FILENO))
		return 0;
	fg = tcgetpgrp(STDIN_FILENO);
	return fg > 0 && fg == getpgrp();
}

int
spawn_service(const struct config *cfg, const struct inherited_signals *inherited, pid_t *pid,
	      int *error_fd)
{
	/* Decided at the first start: afterwards the foreground group is the
	 * previous instance's, and the next instance must get it back. */
	static int take_terminal = -1;
	int fds[2], saved;
	char **env;

	if (take_terminal < 0)
		take_terminal = owns_terminal();
	env = service_environment(cfg, environ);
	if (env == NULL)
		return 1;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		saved = errno;
		free(env);
		errno = saved;
		return 1;
	}
	*pid = fork();
	if (*pid == 0) {
		close(fds[0]);
		child_exec(cfg, inherited, env, fds[1], take_terminal);
	}
	saved = errno;
	free(env);
	close(fds[1]);
	if (*pid < 0) {
		close(fds[0]);
		errno = saved;
		return 1;
	}
	/* Both sides set the group, so neither races the other. */
	(void)setpgid(*pid, *pid);
	/* Not fatal if it fails: the pipe is read only when epoll says so. */
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	*error_fd = fds[0];
	return 0;
}

int
spawn_read_failure(int error_fd, struct spawn_failure *f)
{
	ssize_t n;

	do {
		n = read(error_fd, f, sizeof(*f));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*f))
		return 1;
	if (n == 0)
		return 0;
	if (n < 0 && errno == EAGAIN)
		return -1;
	/* A short read or an error: the child died before exec, without
	 * telling why. Treat as an exec failure of unknown cause. */
	f->step = STEP_NONE;
	f->err = n < 0 ? errno : EIO;
	return 1;
}

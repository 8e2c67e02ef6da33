/*
 * The configuration (config.h): an INI file read through inih and
 * config.c's own line reader, then MEMWARDEN_* environment variables and
 * -s SECTION.KEY=VALUE options over it, validated together; what loads
 * is printed as `memwarden check` prints it.
 *
 * Input: one byte of flags, then
 *   -s options, one a line          \0
 *   environment variables, one a line, without their MEMWARDEN_ prefix
 *                                   \0
 *   the command line (when flag 0x08), split into words like a shell
 *                                   \0
 *   the file's text, to the end (NUL bytes and all).
 * Flags: 0x01 a command is needed (run, not check); 0x06 verbosity (-v,
 * -q, -vv); 0x08 a command line is given.
 *
 * The file is a memfd, loaded by its /proc/self/fd path. [service] user
 * and group resolve against this machine's /etc/passwd and /etc/group.
 */
#include "config.h"
#include "fuzz.h"
#include "parse.h"

static struct fuzz_file file;
static FILE *devnull;
static bool debug; /* FUZZ_DEBUG=1: each input's outcome on stderr */

/* The lines of s as a NULL-terminated array, each with prefix in front. */
static char **
lines(char *s, const char *prefix, size_t *count)
{
	size_t n = 1, i = 0, pl = strlen(prefix);
	char **v, *p, *save = NULL;

	for (p = s; *p != '\0'; p++)
		n += *p == '\n';
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		abort();
	for (p = strtok_r(s, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save)) {
		v[i] = malloc(pl + strlen(p) + 1);
		if (v[i] == NULL)
			abort();
		memcpy(v[i], prefix, pl);
		strcpy(v[i] + pl, p);
		i++;
	}
	*count = i;
	return v;
}

static void
free_lines(char **v)
{
	char **p;

	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_init(&file, "fuzz-config");
	debug = getenv("FUZZ_DEBUG") != NULL;
	devnull = fopen("/dev/null", "w");
	if (devnull == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int verbosity[] = {0, 1, -1, 2};
	const uint8_t *p = data, *end = data + size;
	char *opts, *env, *cmd, **options, **envp, **argv = NULL, err[CONFIG_ERROR_MAX], e[256];
	struct config_input in = {0};
	struct config cfg;
	size_t nopts, nenv;
	uint8_t flags;
	int rc;

	if (size == 0)
		return 0;
	flags = *p++;
	opts = fuzz_next_part(&p, end);
	env = fuzz_next_part(&p, end);
	cmd = fuzz_next_part(&p, end);
	fuzz_file_set(&file, p, (size_t)(end - p));

	options = lines(opts, "", &nopts);
	envp = lines(env, "MEMWARDEN_", &nenv);
	if (flags & 0x08)
		argv = split_words(cmd, e, sizeof(e));
	in.file = file.path;
	in.overrides = options;
	in.n_overrides = nopts;
	in.envp = envp;
	in.argv = argv;
	in.need_command = flags & 0x01;
	in.verbosity = verbosity[(flags >> 1) & 3];

	memset(err, 0xa5, sizeof(err));
	rc = config_load(&cfg, &in, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (debug)
		fprintf(stderr, "config_load: %s\n", rc == 0 ? "loaded" : err);
	if (rc == 0) {
		FUZZ_CHECK(cfg.name != NULL && cfg.name[0] != '\0');
		FUZZ_CHECK(cfg.state_file != NULL && cfg.source != NULL);
		FUZZ_CHECK(!in.need_command || (cfg.argv != NULL && cfg.argv[0] != NULL));
		FUZZ_CHECK(cfg.fast_interval_ms <= cfg.interval_ms);
		FUZZ_CHECK(cfg.restart_backoff_ms <= cfg.restart_backoff_max_ms);
		FUZZ_CHECK(!cfg.soft.is_percent ||
			   (cfg.soft.percent > 0 && cfg.soft.percent <= 100));
		FUZZ_CHECK(!cfg.hard.is_percent ||
			   (cfg.hard.percent > 0 && cfg.hard.percent <= 100));
		config_print(&cfg, debug ? stderr : devnull);
	} else {
		/* An error says what is wrong. */
		FUZZ_CHECK(err[0] != '\0');
	}
	config_free(&cfg);

	free_words(argv);
	free_lines(options);
	free_lines(envp);
	free(opts);
	free(env);
	free(cmd);
	return 0;
}

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "safepath.h"
#include "state.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1) /* linux/fs.h; musl's headers lack it */
#endif

static void
add_string(char *buf, size_t *len, size_t cap, const char *key, const char *value)
{
	int n;

	n = snprintf(buf + *len, cap - *len, "\"%s\":", key);
	if (n > 0 && (size_t)n < cap - *len)
		*len += (size_t)n;
	if (value == NULL) {
		n = snprintf(buf + *len, cap - *len, "null,");
	} else {
		if (*len < cap)
			buf[(*len)++] = '"';
		json_escape(buf, len, cap, value);
		n = snprintf(buf + *len, cap - *len, "\",");
	}
	if (n > 0 && (size_t)n < cap - *len)
		*len += (size_t)n;
}

static size_t
format_state(char *buf, size_t cap, const struct service_state_info *info)
{
	char now[64];
	size_t len = 0;
	int n;

	log_time_now(now, sizeof(now));
	buf[len++] = '{';
	add_string(buf, &len, cap, "service", info->service);
	n = snprintf(buf + len, cap - len, "\"pid\":%d,\"service_pid\":%d,", (int)info->pid,
		     (int)info->service_pid);
	if (n > 0 && (size_t)n < cap - len)
		len += (size_t)n;
	/* Before last_sample: state_field finds the first occurrence. */
	if (info->socket != NULL)
		add_string(buf, &len, cap, "socket", info->socket);
	add_string(buf, &len, cap, "state", info->state);
	n = snprintf(buf + len, cap - len, "\"ready\":%s,\"restarts\":%u,",
		     info->ready ? "true" : "false", info->restarts);
	if (n > 0 && (size_t)n < cap - len)
		len += (size_t)n;
	add_string(buf, &len, cap, "last_restart_reason", info->last_restart_reason);
	if (info->last_exit_status >= 0)
		n = snprintf(buf + len, cap - len, "\"last_exit_status\":%d,",
			     info->last_exit_status);
	else
		n = snprintf(buf + len, cap - len, "\"last_exit_status\":null,");
	if (n > 0 && (size_t)n < cap - len)
		len += (size_t)n;
	n = snprintf(buf + len, cap - len, "\"last_sample\":%s,\"updated\":\"%s\"}\n",
		     info->last_sample_json ? info->last_sample_json : "null", now);
	if (n > 0 && (size_t)n < cap - len)
		len += (size_t)n;
	return len;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory of path into dir; 0, or 1 when path has none but "/". */
static int
parent_dir(const char *path, char *dir, size_t len)
{
	char *slash;

	if (snprintf(dir, len, "%s", path) >= (int)len)
		return 1;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 1;
	*slash = '\0';
	return 0;
}

/* Creates the state file's directory (one level: /run/memwarden), 0755
 * (less with a stricter umask), memwarden's. One that appeared between
 * the open that did not find it and this mkdir (/tmp/memwarden, made by
 * someone else in a directory anyone may write) is used only when it is
 * memwarden's or root's and writable by no one else. */
static int
make_parent(const char *path)
{
	char dir[4096];
	struct stat st;

	if (parent_dir(path, dir, sizeof(dir)) != 0)
		return 1;
	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST || lstat(dir, &st) != 0)
		return 1;
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		errno = EPERM;
		return 1;
	}
	return 0;
}

int
state_dir_check(const char *path, uid_t trusted, char *why, size_t whylen)
{
	char dir[4096], above[4096];
	struct stat st;

	if (parent_dir(path, dir, sizeof(dir)) != 0) {
		snprintf(why, whylen, "not a file in a directory of its own");
		return 1;
	}
	if (stat(dir, &st) == 0) {
		if (safepath_check(dir, SAFEPATH_PRIVATE_DIR, trusted, NULL, 0, why, whylen) == 0)
			return 0;
		/* "the directory /x is ..." when it is an ancestor; name it when
		 * it is the state file's own. */
		if (strncmp(why, "the directory ", 14) != 0) {
			char reason[512];

			snprintf(reason, sizeof(reason), "%s", why);
			snprintf(why, whylen, "its directory %s is %s", dir, reason);
		}
		return 1;
	}
	/* Not there: memwarden creates it (one level) in its parent, which
	 * must then be safe to create it in. Not even that: the writes fail
	 * and say so; nothing to protect. */
	if (errno != ENOENT || parent_dir(dir, above, sizeof(above)) != 0 || stat(above, &st) != 0)
		return 0;
	if (safepath_check(above, SAFEPATH_DIR, trusted, NULL, 0, why, whylen) == 0)
		return 0;
	if (strncmp(why, "the directory ", 14) != 0) {
		char reason[512];

		snprintf(reason, sizeof(reason), "%s", why);
		snprintf(why, whylen, "the directory %s, where memwarden would create %s, is %s",
			 above, dir, reason);
	}
	return 1;
}

/* Puts tmp in path's place. Exchanging the two names and then removing
 * the old file is as atomic for readers as rename(2), but on ext4 a rename
 * over an existing file forces the new data to disk first (auto_da_alloc),
 * about 1.4 ms a write; the exchange does not. */
static int
replace_file(const char *tmp, const char *path)
{
	/* The raw syscall: musl 1.2.3 has no renameat2() wrapper. */
	if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
		(void)unlink(tmp);
		return 0;
	}
	return rename(tmp, path) != 0;
}

static int
write_file(const char *tmp, const char *buf, size_t len)
{
	int fd, saved;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 && errno == ENOENT && make_parent(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return 1;
	if (write_all(fd, buf, len) != 0) {
		saved = errno ? errno : EIO;
		close(fd);
		errno = saved;
		return 1;
	}
	return close(fd) != 0;
}

int
state_write(const char *path, const struct service_state_info *info)
{
	char buf[4096], tmp[4200];
	size_t len;
	int saved;

	len = format_state(buf, sizeof(buf), info);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return 1;
	}
	if (write_file(tmp, buf, len) != 0 || replace_file(tmp, path) != 0) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return 1;
	}
	return 0;
}

int
state_read(const char *path, char **content)
{
	char *buf;
	ssize_t n;
	size_t len = 0, cap = 4096;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		return 1;
	}
	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return 1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*content = buf;
	return 0;
}

static void
put_byte(char *out, size_t *n, size_t outlen, unsigned c)
{
	if (*n + 1 < outlen)
		out[(*n)++] = (char)c;
}

/* Reads the 4 hex digits of a \uXXXX escape. No sscanf: in a static
 * glibc it would add its 100 kB to PID 1 (see log.c). */
static int
hex4(const char *p, unsigned *c)
{
	unsigned i, d;

	*c = 0;
	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = (unsigned)(p[i] - '0');
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			d = (unsigned)((p[i] | 0x20) - 'a' + 10);
		else
			return 1;
		*c = *c << 4 | d;
	}
	return 0;
}

/* Copies the JSON string at p (after its opening quote) into out, undoing
 * what json_escape did (it writes \uXXXX only for control bytes and
 * U+FFFD). Returns 1 when the string is not closed. */
static int
unescape(const char *p, char *out, size_t outlen)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned c;
	size_t n = 0;

	for (; *p != '"'; p++) {
		if (*p == '\0')
			return 1;
		if (*p != '\\') {
			put_byte(out, &n, outlen, (unsigned char)*p);
			continue;
		}
		p++;
		if (*p == 'u' && hex4(p + 1, &c) == 0) {
			if (c < 0x80) {
				put_byte(out, &n, outlen, c);
			} else if (c < 0x800) {
				put_byte(out, &n, outlen, 0xc0 | c >> 6);
				put_byte(out, &n, outlen, 0x80 | (c & 0x3f));
			} else {
				put_byte(out, &n, outlen, 0xe0 | c >> 12);
				put_byte(out, &n, outlen, 0x80 | (c >> 6 & 0x3f));
				put_byte(out, &n, outlen, 0x80 | (c & 0x3f));
			}
			p += 4;
		} else if (*p != '\0' && (e = strchr(from, *p)) != NULL) {
			put_byte(out, &n, outlen, (unsigned char)to[e - from]);
		} else {
			return 1;
		}
	}
	out[n] = '\0';
	return 0;
}

int
state_field(const char *json, const char *key, char *out, size_t outlen)
{
	char pattern[64];
	const char *p;
	size_t n;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	p = strstr(json, pattern);
	if (p == NULL || outlen == 0)
		return 1;
	p += strlen(pattern);
	if (*p == '"')
		return unescape(p + 1, out, outlen);
	n = strcspn(p, ",}\n");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/*
 * Only in the musl build. Debian's libcgroup.a was compiled with
 * _FORTIFY_SOURCE against glibc, so it calls glibc's checking variants of
 * the string and printf functions (and flex's longjmp through
 * __longjmp_chk), which musl does not have. These do the same checks as
 * glibc — an overflow the compiler saw the size of aborts — and then call
 * musl's plain function. The flag arguments (fortify level) only change
 * how glibc treats %n, which libcgroup does not use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int __asprintf_chk(char **s, int flag, const char *fmt, ...);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);
int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, ...);
int __sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...);
char *__strcpy_chk(char *dest, const char *src, size_t destlen);
char *__strncat_chk(char *dest, const char *src, size_t n, size_t destlen);
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
void __longjmp_chk(jmp_buf env, int val);

/* glibc's __chk_fail: a buffer overflow was about to happen. */
static void
chk_fail(void)
{
	static const char msg[] = "*** buffer overflow detected ***: terminated\n";

	fputs(msg, stderr);
	abort();
}

int
__asprintf_chk(char **s, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vasprintf(s, fmt, ap);
	va_end(ap);
	return n;
}

int
__fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

int
__vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	return vfprintf(f, fmt, ap);
}

int
__snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	if (maxlen > slen)
		chk_fail();
	va_start(ap, fmt);
	n = vsnprintf(s, maxlen, fmt, ap);
	va_end(ap);
	return n;
}

int
__sprintf_chk(char *s, int flag, size_t slen, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	if (slen == 0)
		chk_fail();
	va_start(ap, fmt);
	n = vsnprintf(s, slen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= slen)
		chk_fail();
	return n;
}

char *
__strcpy_chk(char *dest, const char *src, size_t destlen)
{
	size_t n = strlen(src);

	if (n >= destlen)
		chk_fail();
	return memcpy(dest, src, n + 1);
}

char *
__strncat_chk(char *dest, const char *src, size_t n, size_t destlen)
{
	size_t dl = strnlen(dest, destlen), sl = strnlen(src, n);

	if (dl == destlen || sl >= destlen - dl)
		chk_fail();
	return strncat(dest, src, n);
}

char *
__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	/* realpath writes up to PATH_MAX bytes into resolved. */
	if (resolved != NULL && resolvedlen < 4096)
		chk_fail();
	return realpath(path, resolved);
}

void
__longjmp_chk(jmp_buf env, int val)
{
	longjmp(env, val);
}

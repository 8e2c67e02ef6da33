/*
 * Only in the musl build. Debian's libinih.a was compiled against glibc,
 * whose <ctype.h> macros read a table through __ctype_b_loc(); musl has no
 * such table. This provides one with glibc's bit layout, filled from musl's
 * own classification, so the archive links and isspace() in inih means
 * what it means everywhere else.
 */
#include <ctype.h>
#include <stddef.h>

/* glibc's bits (little-endian), from its <ctype.h>. */
enum {
	GL_UPPER = 1 << 8,
	GL_LOWER = 1 << 9,
	GL_ALPHA = 1 << 10,
	GL_DIGIT = 1 << 11,
	GL_XDIGIT = 1 << 12,
	GL_SPACE = 1 << 13,
	GL_PRINT = 1 << 14,
	GL_GRAPH = 1 << 15,
	GL_BLANK = 1 << 0,
	GL_CNTRL = 1 << 1,
	GL_PUNCT = 1 << 2,
	GL_ALNUM = 1 << 3,
};

const unsigned short **__ctype_b_loc(void);

static unsigned short
classify(int c)
{
	return (unsigned short)((isupper(c) ? GL_UPPER : 0) | (islower(c) ? GL_LOWER : 0) |
				(isalpha(c) ? GL_ALPHA : 0) | (isdigit(c) ? GL_DIGIT : 0) |
				(isxdigit(c) ? GL_XDIGIT : 0) | (isspace(c) ? GL_SPACE : 0) |
				(isprint(c) ? GL_PRINT : 0) | (isgraph(c) ? GL_GRAPH : 0) |
				(isblank(c) ? GL_BLANK : 0) | (iscntrl(c) ? GL_CNTRL : 0) |
				(ispunct(c) ? GL_PUNCT : 0) | (isalnum(c) ? GL_ALNUM : 0));
}

const unsigned short **
__ctype_b_loc(void)
{
	/* Indexable from -128 (EOF and signed chars) to 255, as glibc's. */
	static unsigned short table[384];
	static const unsigned short *base;
	int c;

	if (base == NULL) {
		for (c = 0; c < 256; c++)
			table[128 + c] = classify(c);
		base = table + 128;
	}
	return &base;
}

#!/bin/bash
# Build tier: what a release build must be, checked on the built files.
set -u
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
check() {
	local name=$1
	shift
	if out=$("$@" 2>&1); then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		printf '%s\n' "$out" | head -20 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}

static_binary() {
	file -L build/memwarden | grep -q 'statically linked'
}
template_current() {
	# etc/memwarden.ini is generated from the schema: it must not drift.
	diff -u etc/memwarden.ini <(build/memwarden check --template)
}
defaults_check() {
	# With no file at all, the built-in defaults are a valid configuration.
	env -u MEMWARDEN_CONFIG build/memwarden check >/dev/null
}
version() {
	build/memwarden --version | grep -qE '^memwarden [0-9]+\.[0-9]+\.[0-9]+$'
}
lint() {
	out=$(cppcheck -q --enable=warning,performance,portability --inline-suppr \
		-Iinclude -D_GNU_SOURCE src 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

man_pages() {
	# memwarden.ini.5's keys come from the schema; both pages render
	# without a warning (groff exits 0 even when it warns: look at stderr).
	man/gen-ini.sh build/memwarden man/memwarden.ini.5 | diff -u man/memwarden.ini.5 - || return 1
	for p in man/memwarden.8 man/memwarden.ini.5; do
		w=$(groff -man -ww -z "$p" 2>&1)
		[ -z "$w" ] || { echo "$w"; return 1; }
	done
}

check "release binary is statically linked" static_binary
check "etc/memwarden.ini is what the schema generates" template_current
check "check accepts the built-in defaults" defaults_check
check "--version" version
check "man pages: in step with the schema, no warnings" man_pages
if command -v cppcheck >/dev/null; then
	check "cppcheck is clean on src/" lint
fi
tidy() {
	make -s tidy
}
if command -v clang-tidy >/dev/null; then
	check "clang-tidy is clean on src/ (.clang-tidy)" tidy
fi
echo "build: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]

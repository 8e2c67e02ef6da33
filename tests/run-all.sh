#!/bin/bash
# `make test`: installs what is missing, builds, runs every tier and ends
# with one line "N passed, N failed, N skipped" for the whole run.
#
# Tiers: build checks (incl. cppcheck, clang-tidy); cmocka unit tests
# (under ASan/UBSan); libFuzzer on the parsers; the
# integration tests against the release binary, then again against the
# sanitizer build; valgrind on a run with restarts; real containers with
# podman; cgroup v2 in a qemu VM.
set -u
cd "$(dirname "$0")/.." || exit 1

total_passed=0
total_failed=0
total_skipped=0

# Adds the counts of a tier's last summary line ("tier: N passed, N failed,
# N skipped"); a tier that printed none failed as a whole.
count_tier() {
	local name=$1 log=$2 line p f s
	line=$(grep -E '^[a-z0-9 -]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL tier $name: printed no summary"
		total_failed=$((total_failed + 1))
		return
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	total_skipped=$((total_skipped + ${s:-0}))
}

run_tier() {
	local name=$1
	shift
	local log
	log=$(mktemp)
	echo "=== tier: $name"
	timeout 2400 "$@" 2>&1 | tee "$log"
	count_tier "$name" "$log"
	rm -f "$log"
}

finish() {
	echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
	[ "$total_failed" -eq 0 ]
	exit $?
}

if ! tests/deps.sh; then
	echo "FAIL deps: cannot install what the tests need"
	total_failed=1
	finish
fi
if ! make -s test-build; then
	echo "FAIL build: make test-build failed"
	total_failed=1
	finish
fi

run_tier build tests/check-build.sh
run_tier unit tests/run-unit.sh build/unit/test_*
# libFuzzer on every parser: the seed corpora, then 10 s of fuzzing each.
run_tier fuzz tests/run-fuzz.sh -p 2

san_logs=$(mktemp -d)
export MEMWARDEN_WORKLOADS=build/workloads
MEMWARDEN_BIN=build/memwarden run_tier integration python3 tests/integration/run.py
ASAN_OPTIONS="log_path=$san_logs/asan:exitcode=86:detect_leaks=1" \
UBSAN_OPTIONS="log_path=$san_logs/ubsan:halt_on_error=1:exitcode=86:print_stacktrace=1" \
MEMWARDEN_BIN=build/san/memwarden MEMWARDEN_SANITIZED=1 \
	run_tier "integration (ASan/UBSan)" python3 tests/integration/run.py
# A sanitizer report anywhere in that tier is a failure of its own.
if [ -n "$(ls -A "$san_logs")" ]; then
	echo "FAIL sanitizers: reports in $san_logs:"
	cat "$san_logs"/* | head -50
	total_failed=$((total_failed + 1))
else
	echo "PASS sanitizers: no ASan/UBSan report in the sanitized integration tier"
	total_passed=$((total_passed + 1))
	rmdir "$san_logs"
fi
run_tier valgrind tests/valgrind.sh
# Real containers (podman) with the static release binary.
run_tier container python3 tests/container/run.py
# cgroup v2 (memory.max, memory.high, memory.events, oom.group) in a qemu VM.
run_tier vm python3 tests/vm/run.py

finish

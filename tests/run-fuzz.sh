#!/bin/bash
# Runs the libFuzzer targets of tests/fuzz/ (tests/fuzz/README.md) and
# prints "fuzz: N passed, N failed, N skipped".
#
#   tests/run-fuzz.sh [-t SECONDS | -r RUNS] [-p PARALLEL] [TARGET...]
#
# Each target (all of them by default; TARGET is a name like config or
# fuzz_config) first runs every input of its seed corpus
# (tests/fuzz/corpus/TARGET) and of its working corpus
# (build/fuzz/corpus/TARGET, where new inputs go), then fuzzes for SECONDS
# (default 10, what `make test` runs) or RUNS executions. A target passes
# when libFuzzer exits 0 and left no crash, leak, timeout or out-of-memory
# input in build/fuzz/artifacts/. Its output is in build/fuzz/logs/.
# -p runs that many targets at once (default 1). tests/fuzz/TARGET.dict is
# the target's dictionary, tests/fuzz/TARGET.options its own libFuzzer flags.
#
# Without clang (or its libFuzzer runtime) every target is skipped:
# apt-get install clang libclang-rt-dev.
set -u
cd "$(dirname "$0")/.." || exit 1

seconds=10
runs=
parallel=1
while getopts "t:r:p:" opt; do
	case $opt in
	t) seconds=$OPTARG ;;
	r) runs=$OPTARG ;;
	p) parallel=$OPTARG ;;
	*)
		echo "usage: $0 [-t SECONDS | -r RUNS] [-p PARALLEL] [TARGET...]" >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))

all=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | sed -E 's|.*/fuzz_(.*)\.c|\1|' | sort)
if [ $# -gt 0 ]; then
	targets=$(for t in "$@"; do echo "${t#fuzz_}"; done)
else
	targets=$all
fi
for t in $targets; do
	if [ ! -f "tests/fuzz/fuzz_$t.c" ]; then
		echo "$0: no target $t (the targets: $(echo $all))" >&2
		exit 2
	fi
done
ntargets=$(echo "$targets" | wc -w)

skip_all() {
	for t in $targets; do
		echo "SKIP fuzz_$t: $1"
	done
	echo "fuzz: 0 passed, 0 failed, $ntargets skipped"
	exit 0
}

FUZZ_CC=${FUZZ_CC:-clang}
if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
	skip_all "$FUZZ_CC is not installed (apt-get install clang libclang-rt-dev)"
fi
probe=$(mktemp -d)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$FUZZ_CC" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
	rm -rf "$probe"
	skip_all "$FUZZ_CC cannot link libFuzzer (apt-get install libclang-rt-dev)"
fi
rm -rf "$probe"

if ! make -s FUZZ_CC="$FUZZ_CC" $(for t in $targets; do echo "build/fuzz/fuzz_$t"; done); then
	for t in $targets; do
		echo "FAIL fuzz_$t: the build failed"
	done
	echo "fuzz: 0 passed, $ntargets failed, 0 skipped"
	exit 1
fi

mkdir -p build/fuzz/logs build/fuzz/artifacts
results=$(mktemp -d)

# One target: its verdict line into $results/$t.
run_target() {
	local t=$1 bin=build/fuzz/fuzz_$1 log=build/fuzz/logs/$1.log
	local work=build/fuzz/corpus/$1 seeds=tests/fuzz/corpus/$1
	local dict=tests/fuzz/$1.dict options=tests/fuzz/$1.options
	local artifacts=build/fuzz/artifacts/$1
	local limit rc n secs cov corpus rate
	local -a args

	mkdir -p "$work" "$artifacts"
	rm -f "$artifacts"/*
	args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
	[ -f "$dict" ] && args+=(-dict="$dict")
	# TARGET.options: more libFuzzer flags, one a line (-max_len=...).
	[ -f "$options" ] && mapfile -t -O "${#args[@]}" args < <(grep -v '^#' "$options")
	if [ -n "$runs" ]; then
		args+=(-runs="$runs")
		limit=0
	else
		args+=(-max_total_time="$seconds")
		limit=$((seconds * 2 + 120))
	fi
	timeout "$limit" "$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	n=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
	secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1)
	rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$artifacts")" ]; then
		echo "PASS fuzz_$t: ${n:-?} runs in ${secs:-?} s (${rate:-?}/s), ${cov:-cov: ?}, ${corpus:-corp: ?}" >"$results/$t"
	else
		{
			echo "FAIL fuzz_$t: exit status $rc, artifacts: $(ls "$artifacts" | tr '\n' ' ')(log: $log)"
			grep -E 'ERROR|SUMMARY|property failed|^    #[0-9]' "$log" | head -n 20 | sed 's/^/    /'
		} >"$results/$t"
	fi
}

running=0
for t in $targets; do
	if [ "$parallel" -gt 1 ]; then
		run_target "$t" &
		running=$((running + 1))
		if [ "$running" -ge "$parallel" ]; then
			wait -n
			running=$((running - 1))
		fi
	else
		run_target "$t"
		cat "$results/$t"
	fi
done
wait

passed=0
failed=0
for t in $targets; do
	[ "$parallel" -gt 1 ] && cat "$results/$t"
	if grep -q '^PASS' "$results/$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
rm -rf "$results"
echo "fuzz: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]

#!/bin/bash
# Line coverage of the parsers by each target's corpus (seeds and the
# working corpus), with clang's source-based coverage:
#
#   tests/fuzz/coverage.sh [TARGET...]
#
# Builds build/fuzz-cov/ (src/ and the targets with -fprofile-instr-generate
# -fcoverage-mapping, no sanitizers), runs every input of the corpus once,
# and prints, per target, the lines of the functions it is meant to reach
# that ran, and those that did not (llvm-cov show -show-line-counts for the
# details: build/fuzz-cov/TARGET.profdata). Needs llvm-profdata and llvm-cov
# (Debian's llvm, or llvm-14).
set -u
cd "$(dirname "$0")/../.." || exit 1

CC=${FUZZ_CC:-clang}
profdata=$(command -v llvm-profdata || command -v llvm-profdata-14)
cov=$(command -v llvm-cov || command -v llvm-cov-14)
if [ -z "$profdata" ] || [ -z "$cov" ]; then
	echo "coverage: llvm-profdata and llvm-cov are needed (apt-get install llvm)" >&2
	exit 1
fi

# The functions each target is there for: file and a regex of names.
declare -A funcs=(
	[config]="src/config.c:^(config_load|config_print|file_reader|file_handler|check_text|check_syntax|utf8_len|find_chars_or_comment|load_file|load_env|load_env_var|load_option|apply|apply_env|trimmed|control_char|set_[a-z_]+|settle[a-z_]*|name_from_command|disagree|later)$"
	[values]="src/parse.c:^(parse_[a-z0-9_]+|read_digits|scale|split_words|join_words|signal_name|strbuf_add|wordlist_add|free_words)$"
	[cgroup]="src/cgroup.c:^(cgroup_parse_[a-z0-9_]+|cgroup_join_dir|next_line|single_line|parse_keyed|span_decimal|psi_line|copy_span|list_has|unescape_field|has_dotdot)$"
	[procfs]="src/procfs.c:^(parse_proc_status|key_is|kb_value|hex_u64)$"
	[notify]="src/notify.c:^(notify_parse|find_key|value_is|copy_status|parse_allocator|set_value|notify_format_[a-z]+|notify_[a-z]+_line|human_size)$"
	[ready]="src/ready.c:^(ready_tcp_text_listens|ready_tcp_scan|tcp_line_listens|endpoint|hex_run|hex_digit|skip_blanks)$"
	[users]="src/users.c:^(users_resolve|resolve_[a-z]+|for_each_entry|split_fields|parse_id|match_[a-z]+|take_account|add_group)$"
	[elf]="src/preload.c:^(preload_classify|classify_elf|preload_lib_is_glibc)$"
	[preload]="src/preload.c:^(preload_compose_[a-z_]+|preload_has_[a-z]+|has_entry|is_jemalloc|is_agent|base_name|list_contains|list_append|preload_malloc_conf|preload_glibc_tunables|preload_parse_[a-z_]+|parse_ll|quota_cpus|preload_find_command)$"
	[state]="src/state.c:^(state_field|unescape|hex4|put_byte)$"
)

if [ $# -gt 0 ]; then
	targets=$(for t in "$@"; do echo "${t#fuzz_}"; done)
else
	targets=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | sed -E 's|.*/fuzz_(.*)\.c|\1|' | sort)
fi

out=build/fuzz-cov
mkdir -p "$out/obj"
flags=(-Iinclude -D_GNU_SOURCE -DMEMWARDEN_VERSION='"cov"' -DMEMWARDEN_LIBDIR='"/usr/local/lib/memwarden"'
	-std=gnu11 -O1 -g -fprofile-instr-generate -fcoverage-mapping)
for f in src/*.c; do
	[ "$f" = src/main.c ] && continue
	o=$out/obj/$(basename "$f" .c).o
	if [ ! -e "$o" ] || [ "$f" -nt "$o" ]; then
		"$CC" "${flags[@]}" -fsanitize=fuzzer-no-link -c -o "$o" "$f" || exit 1
	fi
done
rm -f "$out/libmemwarden.a"
ar rcs "$out/libmemwarden.a" "$out"/obj/*.o

for t in $targets; do
	bin=$out/fuzz_$t
	"$CC" "${flags[@]}" -Itests/fuzz -fsanitize=fuzzer -o "$bin" "tests/fuzz/fuzz_$t.c" \
		"$out/libmemwarden.a" -l:libinih.a -l:libcgroup.a || exit 1
	rm -f "$out/$t.profraw"
	dirs=(tests/fuzz/corpus/"$t")
	[ -d "build/fuzz/corpus/$t" ] && dirs=(build/fuzz/corpus/"$t" "${dirs[@]}")
	LLVM_PROFILE_FILE=$out/$t.profraw "$bin" -runs=0 "${dirs[@]}" >"$out/$t.log" 2>&1
	"$profdata" merge -o "$out/$t.profdata" "$out/$t.profraw" || exit 1
	spec=${funcs[$t]:-}
	[ -z "$spec" ] && continue
	file=${spec%%:*}
	regex=${spec#*:}
	n=$(grep -cE '^#[0-9]+|INITED' "$out/$t.log")
	# llvm-cov report -show-functions: Name Regions Miss Cover Lines Miss Cover ...
	# The lines not run are mostly out-of-memory branches.
	"$cov" report -show-functions -instr-profile="$out/$t.profdata" "$bin" "$file" 2>/dev/null |
		awk -v t="$t" -v re="$regex" -v file="$file" '
			NF >= 7 {
				name = $1
				sub(/^[^:]*:/, "", name) # static functions are FILE:NAME
				if (name !~ re) next
				lines += $5; miss += $6
				if ($6 > 0) missed = missed " " name "(" $6 ")"
			}
			END {
				printf "%s: %d/%d lines (%.1f%%) of the parsing functions in %s", t, lines - miss, lines, lines ? 100 * (lines - miss) / lines : 0, file
				if (missed != "") printf "; not run:%s", missed
				printf "\n"
			}'
	[ "$n" -gt 0 ] || echo "  (no corpus run for $t: see $out/$t.log)"
done

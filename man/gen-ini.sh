#!/bin/sh
# man/gen-ini.sh [MEMWARDEN [PAGE]]
#
# Prints PAGE (default man/memwarden.ini.5) with the part between its
# "BEGIN KEYS" and "END KEYS" comment lines rebuilt from the schema, as
# `MEMWARDEN check --template` prints it (default build/memwarden): every
# section and key, its default, its documentation and what it accepts.
# The rest of the page is written by hand and copied as it is.
#
#   make man                                    rewrites man/memwarden.ini.5
#   man/gen-ini.sh | diff -u man/memwarden.ini.5 -   checks it is in step
#
# The template's format (src/config.c, config_print_template): a header of
# "#" lines, then per section "[name]", then per key a blank line, the
# documentation as "# " lines, "# Accepts ..." lines, and ";key = default"
# (";key =" when there is none or it is computed at load).
set -eu

memwarden=${1:-build/memwarden}
page=${2:-man/memwarden.ini.5}

[ -x "$memwarden" ] || { echo "gen-ini.sh: $memwarden is not built (make)" >&2; exit 1; }
[ -f "$page" ] || { echo "gen-ini.sh: no $page" >&2; exit 1; }
if ! grep -q '^\.\\" BEGIN KEYS' "$page" || ! grep -q '^\.\\" END KEYS' "$page"; then
	echo "gen-ini.sh: $page has no BEGIN KEYS / END KEYS lines" >&2
	exit 1
fi

template=$("$memwarden" check --template)

# The keys part, from the template on stdin.
keys() {
	awk '
	BEGIN {
		intro["service"] = "How the service is run, stopped and restarted, and when it is ready."
		intro["memory"] = "The memory guard: the limit, what is measured, the thresholds, and what is done above them (see \\fBTHE GUARD\\fR in \\fBmemwarden\\fR(8))."
		intro["allocator"] = "The allocator and the agent that memwarden preloads into the service (see \\fBTHE AGENT\\fR in \\fBmemwarden\\fR(8))."
		intro["log"] = "memwarden'"'"'s own log lines (see \\fBLOGS\\fR in \\fBmemwarden\\fR(8))."
		intro["status"] = "The state file that \\fBmemwarden status\\fR and \\fBmemwarden release\\fR read."
		section = ""; n = 0; bold = 0
	}
	# Roff-safe text: backslashes, `code` in bold (a span may cross
	# lines: the font change carries over), a leading - of an option
	# or a value as a minus, and a protected leading . or apostrophe.
	function text(s,    out, c, i, prev) {
		gsub(/\\/, "\\e", s)
		out = ""; prev = " "
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "`") {
				bold = !bold
				out = out (bold ? "\\fB" : "\\fR")
			} else if (c == "-" && (bold || prev == " " || prev == "(")) {
				out = out "\\-"
			} else {
				out = out c
			}
			prev = c
		}
		if (out ~ /^[.'"'"']/)
			out = "\\&" out
		return out
	}
	# A value as written in the file: literal, breakable after commas.
	function value(s) {
		gsub(/\\/, "\\e", s)
		gsub(/-/, "\\-", s)
		gsub(/,/, ",\\:", s)
		return s
	}
	# One key: its name and default as the tag, its documentation, and
	# the "Accepts ..." lines as a paragraph of their own.
	function flush_key(name, def,    i, acc) {
		print ".TP"
		# A long default would not fit the tag: it opens the text.
		if (def == "")
			print "\\fB" name "\\fR ="
		else if (length(name def) > 36)
			print "\\fB" name "\\fR =\nDefault:\n.br\n.B \\%" value(def) "\n.br"
		else
			print "\\fB" name "\\fR = " value(def)
		for (i = 1; i <= n; i++) {
			if (!acc && doc[i] ~ /^Accepts /) {
				acc = 1
				if (i > 1)
					print ".IP"
			}
			print text(doc[i])
		}
		n = 0
	}
	/^\[[a-z]+\]$/ {
		section = substr($0, 2, length($0) - 2)
		print ".SS [" section "]"
		if (section in intro)
			print intro[section]
		n = 0
		next
	}
	section == "" { next }		# the header: written by hand
	/^$/ { n = 0; next }
	/^# / { doc[++n] = substr($0, 3); next }
	/^;/ {
		line = substr($0, 2)
		eq = index(line, " =")
		name = substr(line, 1, eq - 1)
		def = substr(line, eq + 2); sub(/^ /, "", def)
		if (section == "environment") {
			for (i = 1; i <= n; i++)
				print text(doc[i])
			print ".PP"
			print "For example:"
			print ".PP"
			print ".in +4n"
			print ".EX"
			print value(name) " = " value(def)
			print ".EE"
			print ".in"
			n = 0
		} else {
			flush_key(name, def)
		}
		next
	}
	{ print "gen-ini.sh: unexpected template line: " $0 > "/dev/stderr"; exit 1 }
	'
}

generated=$(printf '%s\n' "$template" | keys)

# Through the environment: awk -v would read the backslashes as escapes.
GENERATED=$generated awk '
	/^\.\\" BEGIN KEYS/ { print; print ENVIRON["GENERATED"]; skip = 1; next }
	/^\.\\" END KEYS/ { skip = 0 }
	!skip { print }
' "$page"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Run the C test binaries, then the pytest suites, and end with one
# "N passed, N failed" line over all of them.  Exit non-zero on any
# failure, including a binary that died without its summary line.
#
# Usage: run-tests.sh [--pytest DIR] BIN...
set -u

PYTHON=/usr/bin/python3		# Debian's, with scapy and cryptography
pytest_dir=
if [ "${1:-}" = "--pytest" ]; then
	pytest_dir=$2
	shift 2
fi

total_pass=0
total_fail=0
status=0

tally() {	# $1 passed, $2 failed
	total_pass=$((total_pass + $1))
	total_fail=$((total_fail + $2))
	[ "$2" -eq 0 ] || status=1
}

for t in "$@"; do
	echo "== $t"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	rc=$(tail -n 1 "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
	rm -f "$out"
	if [ -z "$rc" ]; then
		echo "$t: no summary line (crashed?)"
		tally 0 1
	else
		tally "${rc% *}" "${rc#* }"
	fi
done

if [ -n "$pytest_dir" ]; then
	echo "== pytest $pytest_dir"
	out=$(mktemp)
	"$PYTHON" -m pytest -q -p no:cacheprovider --durations=25 "$pytest_dir" 2>&1 | tee "$out"
	last=$(grep -E '^=*.*[0-9]+ (passed|failed|error)' "$out" | tail -n 1)
	rm -f "$out"
	p=$(echo "$last" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) passed.*/\1/p;s/^\([0-9][0-9]*\) passed.*/\1/p' | head -n 1)
	f=$(echo "$last" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) failed.*/\1/p;s/^\([0-9][0-9]*\) failed.*/\1/p' | head -n 1)
	e=$(echo "$last" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) error.*/\1/p;s/^\([0-9][0-9]*\) error.*/\1/p' | head -n 1)
	if [ -z "$p$f$e" ]; then
		echo "pytest: no summary line"
		tally 0 1
	else
		tally "${p:-0}" $(( ${f:-0} + ${e:-0} ))
	fi
fi

echo "$total_pass passed, $total_fail failed"
exit $status

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Run test binaries and end with one "N passed, N failed" line over all
# of them (each prints its own such line last).  Exit non-zero on any
# failure, including a binary that died without its summary.
set -u

total_pass=0
total_fail=0
status=0

for t in "$@"; do
	echo "== $t"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	rc=$(tail -n 1 "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
	if [ -z "$rc" ]; then
		echo "$t: no summary line (crashed?)"
		total_fail=$((total_fail + 1))
		status=1
	else
		p=${rc% *}
		f=${rc#* }
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		[ "$f" -eq 0 ] || status=1
	fi
	rm -f "$out"
done

echo "$total_pass passed, $total_fail failed"
exit $status

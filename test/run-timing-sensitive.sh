#!/usr/bin/env bash
# The timing-sensitive tests (test/timing-sensitive.ts): rotation under traffic
# with the machine to itself, then the two lanes side by side, each line of
# their output marked with its lane. Fails when any of them fails.
set -uo pipefail
run() { MESHCA_TEST_LANE="$1" vitest run --config test/vitest.serial.config.ts 2>&1 | sed -u "s/^/[$1] /"; }
run alone; alone=$?
run 1 & first=$!
run 2; second=$?
wait "$first"; first=$?
echo "timing-sensitive tests: alone exit ${alone}, lane 1 exit ${first}, lane 2 exit ${second}"
[ "$alone" -eq 0 ] && [ "$first" -eq 0 ] && [ "$second" -eq 0 ]

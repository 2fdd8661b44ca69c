#!/usr/bin/env bash
# Runs every `go test -fuzz` target in the module for FUZZTIME each
# (default 20000x: twenty thousand inputs, enough for CI to catch a
# regression; run longer by hand, e.g. FUZZTIME=5m scripts/fuzz.sh). Go
# fuzzes one target per invocation, so this lists them package by package.
#
# The default is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out while a worker is mid-input on a loaded machine, with no
# failing input at all (golang/go#75804, fixed in Go 1.27). A count has no
# deadline to race, and it does the same work however slow the machine is.
set -euo pipefail
fuzztime=${FUZZTIME:-20000x}
total=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 2 >/tmp/paxsync-fuzz.log 2>&1 || {
      cat /tmp/paxsync-fuzz.log; echo "fuzz: $target FAILED (the failing input is saved under testdata/fuzz/$target)"; exit 1; }
    total=$((total+1))
  done
done
echo "fuzz: $total targets passed"

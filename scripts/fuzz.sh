#!/usr/bin/env bash
# Runs every Fuzz target in the module for the given time each (default 2m).
#   scripts/fuzz.sh 2m
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T=${1:-2m}
n=0
while IFS= read -r line; do
	pkg=${line%%:*}
	target=${line##*:}
	echo "fuzz $pkg $target ($T)"
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="$T" "./$pkg" >/tmp/veil-fuzz.log 2>&1 || { cat /tmp/veil-fuzz.log; exit 1; }
	n=$((n + 1))
done < <(grep -rEo --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' . | sed -E 's#^\./##; s#/[^/]+_test\.go:func #:#' | sort -u)
echo "$n fuzz targets ran for $T each"

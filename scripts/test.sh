#!/usr/bin/env bash
# Veil's whole test suite, exactly as CI runs it (.ci/run calls this).
#
# 1. starts the production stand-ins on loopback: the Firestore emulator,
#    aws-ses-v2-local and an in-memory S3 (scripts/emulators.sh, scripts/fakes3);
# 2. go vet, then every Go test — the store, blob and mail conformance suites
#    run against both the embedded and the production implementations;
# 3. the end-to-end tests once more with VEIL_STORE=firestore, VEIL_BLOB=s3,
#    VEIL_MAIL=ses;
# 4. a short run of every fuzz target;
# and stops what it started, by process id, whatever happens.
#
# Options (environment): VEIL_TEST_QUICK=1 skips steps 3 and 4.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STATE=$ROOT/.emulators
mkdir -p "$STATE"

S3_PID=
cleanup() {
	[[ -n $S3_PID ]] && kill "$S3_PID" 2>/dev/null && wait "$S3_PID" 2>/dev/null || true
	scripts/emulators.sh stop || true
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }

step "starting Firestore emulator and aws-ses-v2-local"
scripts/emulators.sh start
# shellcheck disable=SC1091
source "$STATE/env"

step "starting in-memory S3"
go build -o "$STATE/fakes3" ./scripts/fakes3
S3_ADDR=127.0.0.1:${VEIL_S3_PORT:-9333}
"$STATE/fakes3" -addr "$S3_ADDR" -bucket veil-exports >"$STATE/fakes3.log" 2>&1 &
S3_PID=$!
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null "http://$S3_ADDR/" 2>/dev/null && break
	kill -0 "$S3_PID" 2>/dev/null || { cat "$STATE/fakes3.log"; exit 1; }
	sleep 0.1
done

step "go vet"
go vet ./...

step "go test (embedded backends; conformance suites on both)"
go test -count=1 -timeout 20m ./...

if [[ ${VEIL_TEST_QUICK:-} != 1 ]]; then
	step "end-to-end tests on the production backends (Firestore, S3, SES v2)"
	VEIL_STORE=firestore VEIL_BLOB=s3 VEIL_S3_BUCKET=veil-exports VEIL_S3_ENDPOINT="http://$S3_ADDR" \
		VEIL_S3_REGION=cn-north-1 VEIL_MAIL=ses VEIL_SES_ENDPOINT="$VEIL_TEST_SES_ENDPOINT" \
		AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
		go test -count=1 -timeout 20m ./tests/... ./suite/...

	step "fuzz targets (short runs; long runs are in docs/reliability.md)"
	scripts/fuzz.sh "${VEIL_FUZZ_TIME:-5s}"
fi
echo
echo "all tests passed"

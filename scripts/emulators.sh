#!/usr/bin/env bash
# Test stand-ins for the production backends, on loopback:
#   - the Cloud Firestore emulator (Debian package google-cloud-cli-firestore-emulator),
#   - aws-ses-v2-local (npm, pinned in .ci/package.json).
# S3 needs nothing here: its tests run gofakes3 in-process.
#
#   scripts/emulators.sh start    # idempotent; then: source .emulators/env
#   scripts/emulators.sh stop
#   scripts/emulators.sh status
#
# Ports: VEIL_FIRESTORE_PORT (default 8282), VEIL_SES_PORT (default 8005).
# State, pids and logs live in .emulators/ (not committed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=$ROOT/.emulators
FS_PORT=${VEIL_FIRESTORE_PORT:-8282}
SES_PORT=${VEIL_SES_PORT:-8005}
WAIT_SECONDS=${VEIL_EMULATOR_WAIT:-60}
FS_PACKAGE=google-cloud-cli-firestore-emulator

die() { echo "emulators: $*" >&2; exit 1; }
log() { echo "emulators: $*" >&2; }

# alive NAME: the recorded pid still runs the program we started. The
# command-line check keeps a recycled pid from being taken for ours (and
# from being killed by stop).
alive() {
	local name=$1 pid pattern
	[[ -f $STATE/$name.pid ]] || return 1
	pid=$(<"$STATE/$name.pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	case $name in
	firestore) pattern=CloudFirestore ;;
	ses) pattern=aws-ses-v2-local ;;
	esac
	[[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$pattern"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

firestore_ready() { [[ $(curl -fsS --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null) == Ok* ]]; }
ses_ready() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1/health-check" 2>/dev/null; }

# preflight checks everything a start needs before anything is started, so
# a missing tool or a busy port leaves nothing half-running.
FS_JAR=
preflight() {
	if alive firestore; then
		FS_PORT=$(<"$STATE/firestore.port")
	else
		command -v java >/dev/null || die "java not found: the Firestore emulator needs a JRE (apt-get install default-jre-headless)"
		FS_JAR=$(dpkg -L "$FS_PACKAGE" 2>/dev/null | grep '\.jar$' | head -n1 || true)
		[[ -n $FS_JAR && -f $FS_JAR ]] || die "Firestore emulator jar not found: install the Debian package $FS_PACKAGE (apt-get install $FS_PACKAGE)"
		port_busy "$FS_PORT" && die "port $FS_PORT (Firestore emulator) is already in use; set VEIL_FIRESTORE_PORT to a free port"
	fi
	if alive ses; then
		SES_PORT=$(<"$STATE/ses.port")
	else
		command -v node >/dev/null || die "node not found: aws-ses-v2-local needs Node.js"
		command -v npm >/dev/null || die "npm not found: needed to install aws-ses-v2-local from .ci/package-lock.json"
		port_busy "$SES_PORT" && die "port $SES_PORT (aws-ses-v2-local) is already in use; set VEIL_SES_PORT to a free port"
	fi
	[[ $FS_PORT != "$SES_PORT" ]] || die "VEIL_FIRESTORE_PORT and VEIL_SES_PORT are both $FS_PORT"
}

# STARTED lists what this invocation started, for cleanup if start fails.
STARTED=()

start_firestore() {
	if alive firestore; then
		log "firestore emulator already running (pid $(<"$STATE/firestore.pid"), port $FS_PORT)"
		return
	fi
	rm -f "$STATE/firestore.pid"
	nohup java -cp "$FS_JAR" com.google.cloud.datastore.emulator.firestore.CloudFirestore start \
		--host=127.0.0.1 --port="$FS_PORT" --project_id=demo-test \
		>"$STATE/firestore.log" 2>&1 </dev/null &
	echo $! >"$STATE/firestore.pid"
	echo "$FS_PORT" >"$STATE/firestore.port"
	STARTED+=(firestore)
	log "firestore emulator starting (pid $!, port $FS_PORT, log .emulators/firestore.log)"
}

start_ses() {
	if alive ses; then
		log "aws-ses-v2-local already running (pid $(<"$STATE/ses.pid"), port $SES_PORT)"
		return
	fi
	rm -f "$STATE/ses.pid"
	local cli=$ROOT/.ci/node_modules/aws-ses-v2-local/dist/cli.js
	if [[ ! -f $cli ]]; then
		log "installing .ci/node_modules (npm ci)"
		npm ci --prefix "$ROOT/.ci" --no-audit --no-fund >"$STATE/npm.log" 2>&1 ||
			die "npm ci --prefix .ci failed, see .emulators/npm.log"
	fi
	[[ -f $cli ]] || die "aws-ses-v2-local is missing from .ci/node_modules after npm ci"
	nohup node "$cli" --host 127.0.0.1 --port "$SES_PORT" >"$STATE/ses.log" 2>&1 </dev/null &
	echo $! >"$STATE/ses.pid"
	echo "$SES_PORT" >"$STATE/ses.port"
	STARTED+=(ses)
	log "aws-ses-v2-local starting (pid $!, port $SES_PORT, log .emulators/ses.log)"
}

wait_ready() {
	local deadline=$((SECONDS + WAIT_SECONDS)) fs=0 ses=0
	while ((SECONDS < deadline)); do
		((fs)) || { firestore_ready "$FS_PORT" && fs=1; } || true
		((ses)) || { ses_ready "$SES_PORT" && ses=1; } || true
		((fs && ses)) && return 0
		alive firestore || { tail -n 20 "$STATE/firestore.log" >&2 || true; die "the Firestore emulator exited during start-up"; }
		alive ses || { tail -n 20 "$STATE/ses.log" >&2 || true; die "aws-ses-v2-local exited during start-up"; }
		sleep 0.5
	done
	((fs)) || die "the Firestore emulator did not answer Ok on 127.0.0.1:$FS_PORT within ${WAIT_SECONDS}s (see .emulators/firestore.log)"
	die "aws-ses-v2-local did not answer on 127.0.0.1:$SES_PORT within ${WAIT_SECONDS}s (see .emulators/ses.log)"
}

cmd_start() {
	mkdir -p "$STATE"
	preflight
	trap 'cleanup_failed_start' EXIT
	start_firestore
	start_ses
	wait_ready
	cat >"$STATE/env" <<EOF
export FIRESTORE_EMULATOR_HOST=127.0.0.1:$FS_PORT
export VEIL_TEST_SES_ENDPOINT=http://127.0.0.1:$SES_PORT
EOF
	trap - EXIT
	log "ready; source .emulators/env"
	cat "$STATE/env"
}

cleanup_failed_start() {
	local name
	for name in "${STARTED[@]}"; do
		stop_one "$name"
	done
}

stop_one() {
	local name=$1 pid
	if ! alive "$name"; then
		rm -f "$STATE/$name.pid"
		return
	fi
	pid=$(<"$STATE/$name.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 40); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.25
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
		kill -9 "$pid" 2>/dev/null || true
		for _ in $(seq 1 20); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
	fi
	rm -f "$STATE/$name.pid"
	log "$name stopped"
}

cmd_stop() {
	stop_one firestore
	stop_one ses
	rm -f "$STATE/env"
}

cmd_status() {
	local rc=0 name
	for name in firestore ses; do
		if alive "$name"; then
			echo "$name: running (pid $(<"$STATE/$name.pid"), port $(<"$STATE/$name.port"))"
		else
			echo "$name: stopped"
			rc=1
		fi
	done
	return $rc
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "usage: $0 start|stop|status" ;;
esac

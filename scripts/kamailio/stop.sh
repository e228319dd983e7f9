#!/usr/bin/env bash
# Stop the Kamailio started by start.sh (the pid in $KAM_RUNDIR/kamailio.pid): TERM the main
# process, which takes its children down; after KAM_STOP_TIMEOUT seconds, KILL it and its
# children. Idempotent: exits 0 when it is not running. Never touches another kamailio.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! pid=$(kam_pid); then
	kam_log "not running"
	rm -f "$KAM_PIDFILE"
	exit 0
fi

# children prints the pids whose parent is $1.
children() {
	local s key val
	for s in /proc/[0-9]*/status; do
		while read -r key val; do
			[ "$key" = PPid: ] || continue
			[ "$val" = "$1" ] && { s=${s%/status}; echo "${s#/proc/}"; }
			break
		done <"$s" 2>/dev/null
	done
}

kids=$(children "$pid" | tr '\n' ' ')
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + KAM_STOP_TIMEOUT))
while kam_ours "$pid"; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		kam_log "pid $pid still alive after ${KAM_STOP_TIMEOUT}s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		break
	fi
	sleep 0.1
done
# Children normally exit with the main process; make sure none keeps the port.
for k in $kids; do
	kam_ours "$k" && kill -KILL "$k" 2>/dev/null || true
done
rm -f "$KAM_PIDFILE"
kam_log "stopped (pid $pid)"

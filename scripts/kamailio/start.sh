#!/usr/bin/env bash
# Start the Kamailio imc target in the background and wait until it answers OPTIONS.
# Prints its address (127.0.0.1:5090) as the last line on stdout; everything else goes to
# stderr. Idempotent: when this instance already runs, it is left alone (use -r to restart
# it with a fresh database: rooms and members live only in kamailio's memory).
#
#   start.sh [-r] [-m SHM_MB]
#
# Knobs (environment): KAM_PORT KAM_USERS KAM_ROOMS KAM_SHM KAM_PKG KAM_LOG_LEVEL
# KAM_CREATE_ON_JOIN KAM_NONCE_EXPIRE KAM_CHILDREN KAM_TCP_LIFETIME KAM_CORE KAM_RUNDIR
# KAM_START_TIMEOUT. See README.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

restart=0
while getopts "rm:h" opt; do
	case $opt in
	r) restart=1 ;;
	m) KAM_SHM=$OPTARG ;;
	*)
		sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
		exit 2
		;;
	esac
done

if ! command -v kamailio >/dev/null 2>&1; then
	kam_log "kamailio is not installed; install it with: apt-get install -y kamailio sip-tester"
	exit 1
fi

if pid=$(kam_pid); then
	if [ "$restart" = 1 ]; then
		"$KAM_DIR/stop.sh"
	elif kam_probe; then
		kam_log "already running (pid $pid, log $KAM_LOG)"
		echo "127.0.0.1:$KAM_PORT"
		exit 0
	else
		kam_log "pid $pid from $KAM_PIDFILE does not answer OPTIONS on 127.0.0.1:$KAM_PORT; restarting it"
		"$KAM_DIR/stop.sh"
	fi
fi

if [[ $(kam_options) == SIP/2.0* ]]; then
	kam_log "something else already answers SIP on 127.0.0.1:$KAM_PORT; choose another KAM_PORT"
	exit 1
fi

"$KAM_DIR/provision.sh" "$KAM_DBDIR"

core=yes
[ "$KAM_CORE" = 1 ] && core=no
args=(
	-f "$KAM_CFG"
	-m "$KAM_SHM" -M "$KAM_PKG"
	--substdef "!KAM_PORT!$KAM_PORT!g"
	--substdef "!KAM_LOG_LEVEL!$KAM_LOG_LEVEL!g"
	--substdef "!KAM_DBDIR!$KAM_DBDIR!g"
	--substdef "!KAM_CTL!$KAM_CTL!g"
	--substdef "!KAM_CREATE_ON_JOIN!$KAM_CREATE_ON_JOIN!g"
	--substdef "!KAM_NONCE_EXPIRE!$KAM_NONCE_EXPIRE!g"
	--substdef "!KAM_CHILDREN!$KAM_CHILDREN!g"
	--substdef "!KAM_TCP_LIFETIME!$KAM_TCP_LIFETIME!g"
	--substdef "!KAM_DISABLE_CORE!$core!g"
)

if ! out=$(kamailio -c "${args[@]}" 2>&1); then
	kam_log "config check failed:"
	echo "$out" >&2
	exit 1
fi

# The log is appended by kamailio; keep one previous run.
[ -f "$KAM_LOG" ] && mv -f "$KAM_LOG" "$KAM_LOG.1"
rm -f "$KAM_PIDFILE" "$KAM_CTL"

# -DD: the main process stays in the foreground (no double fork) and -P still writes its
# pid; -E: log to stderr, i.e. the log file. setsid detaches it from the caller's session so
# that a Ctrl-C or the end of the calling shell does not reach it.
# Many TCP test users need many descriptors: take the hard limit (best effort).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
launcher=()
command -v setsid >/dev/null 2>&1 && launcher=(setsid)
${launcher[@]+"${launcher[@]}"} kamailio -DD -E -P "$KAM_PIDFILE" "${args[@]}" </dev/null >>"$KAM_LOG" 2>&1 &
bgpid=$!

deadline=$((SECONDS + KAM_START_TIMEOUT))
until kam_pid >/dev/null && kam_probe; do
	if ! kill -0 "$bgpid" 2>/dev/null && ! kam_pid >/dev/null; then
		kam_log "kamailio exited during start-up; last lines of $KAM_LOG:"
		tail -n 30 "$KAM_LOG" >&2
		exit 1
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		kam_log "no answer to OPTIONS on 127.0.0.1:$KAM_PORT after ${KAM_START_TIMEOUT}s; last lines of $KAM_LOG:"
		tail -n 30 "$KAM_LOG" >&2
		"$KAM_DIR/stop.sh" || true
		exit 1
	fi
	sleep 0.2
done

kam_log "started (pid $(kam_pid), log $KAM_LOG, ctl unix:$KAM_CTL, users $KAM_USERS, rooms $KAM_ROOMS, shm ${KAM_SHM} MB)"
echo "127.0.0.1:$KAM_PORT"

# Shared settings and helpers for start.sh, stop.sh, check.sh and provision.sh.
# Sourced, not run. Every knob is an environment variable with a default (see README.md).

KAM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAM_CFG="$KAM_DIR/kamailio.cfg"

KAM_PORT=${KAM_PORT:-5090}
KAM_RUNDIR=${KAM_RUNDIR:-$KAM_DIR/run}
KAM_USERS=${KAM_USERS:-100}
KAM_ROOMS=${KAM_ROOMS:-10}
KAM_SHM=${KAM_SHM:-1024}
KAM_PKG=${KAM_PKG:-8}
KAM_LOG_LEVEL=${KAM_LOG_LEVEL:-1}
KAM_CREATE_ON_JOIN=${KAM_CREATE_ON_JOIN:-0}
KAM_NONCE_EXPIRE=${KAM_NONCE_EXPIRE:-300}
KAM_CHILDREN=${KAM_CHILDREN:-4}
KAM_TCP_LIFETIME=${KAM_TCP_LIFETIME:-3605}
KAM_CORE=${KAM_CORE:-0}
KAM_START_TIMEOUT=${KAM_START_TIMEOUT:-10}
KAM_STOP_TIMEOUT=${KAM_STOP_TIMEOUT:-10}

# Names the db and the check scenarios use; kamailio.cfg has the same two domains.
KAM_DOMAIN=example.test
KAM_CONF_DOMAIN=conf.example.test

mkdir -p "$KAM_RUNDIR"
KAM_RUNDIR=$(cd "$KAM_RUNDIR" && pwd)
KAM_PIDFILE="$KAM_RUNDIR/kamailio.pid"
KAM_LOG="$KAM_RUNDIR/kamailio.log"
KAM_DBDIR="$KAM_RUNDIR/db"
KAM_CTL="$KAM_RUNDIR/kamailio_ctl"
# A unix socket path must fit in sun_path (108 bytes).
if [ ${#KAM_CTL} -gt 100 ]; then
	KAM_CTL="/tmp/chatload-kamailio-$KAM_PORT.ctl"
fi

kam_log() { echo "kamailio: $*" >&2; }

# kam_ours succeeds when pid $1 is a kamailio process started with this pid file (the main
# process or one of its forked children; not a reused pid, not another instance).
kam_ours() {
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "kamailio.*-P $KAM_PIDFILE "
}

# kam_pid prints the main pid from the pid file if that process is alive and ours.
kam_pid() {
	local pid
	[ -s "$KAM_PIDFILE" ] || return 1
	pid=$(cat "$KAM_PIDFILE" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && kam_ours "$pid" || return 1
	echo "$pid"
}

# kam_options sends one SIP OPTIONS over UDP to 127.0.0.1:$KAM_PORT with bash's /dev/udp and
# prints the reply, if one comes within a second. No sipp, nc or python needed. The Via
# carries rport, so the reply comes back to this socket.
kam_options() {
	timeout 2 bash -c '
		port=$1
		exec 3<>"/dev/udp/127.0.0.1/$port" || exit 1
		# One datagram: bash writes printf output line by line, so let dd collect it first.
		printf "OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-probe-%s-%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe%s\r\nTo: <sip:127.0.0.1:%s>\r\nCall-ID: probe-%s-%s@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" \
			"$port" "$$" "$RANDOM" "$$" "$port" "$$" "$RANDOM" |
			dd bs=65000 count=1 iflag=fullblock status=none >&3 || exit 1
		exec timeout 1 dd bs=65535 count=1 status=none <&3
	' probe "$KAM_PORT" 2>/dev/null
}

# kam_probe succeeds when this config's kamailio (its Server header) answers OPTIONS with 200.
kam_probe() {
	local reply
	reply=$(kam_options)
	[[ $reply == "SIP/2.0 200"* && $reply == *kamailio-imc-testbed* ]]
}

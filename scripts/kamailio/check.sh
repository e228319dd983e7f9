#!/usr/bin/env bash
# End-to-end check of a running Kamailio imc target (start.sh) with SIPp, over UDP and TCP.
# Bounded in time (every sipp has -timeout; waits poll with a deadline); exits 1 on any
# failure. Artifacts (sipp message traces and logs) stay in $KAM_RUNDIR/check/.
#
#   check.sh        (KAM_PORT, KAM_USERS, KAM_ROOMS as for start.sh;
#                    KAM_CHECK_PORT_BASE: local sipp ports, default 16700..16729)
#
# It uses the last four users and the last two rooms (user0100, user0099, user0098, user0097,
# room010, room009 by default), so that it does not meet tests that start at user0001, and
# leaves the rooms and unregisters at the end. Only 127.0.0.1 is ever contacted.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIPP_DIR="$KAM_DIR/sipp"
base=${KAM_CHECK_PORT_BASE:-16700}
sink_port=$base            # UDP sink: the Contact of the UDP users
uac_port=$((base + 10))    # one short UAC sipp at a time
tcp_port=$((base + 20))    # the TCP member
tcp_contact=$((base + 29)) # nothing listens here: TCP copies must follow the connection

if ! command -v sipp >/dev/null 2>&1; then
	kam_log "sipp is not installed; install it with: apt-get install -y sip-tester"
	exit 1
fi
if ! kam_probe; then
	kam_log "nothing of ours answers OPTIONS on 127.0.0.1:$KAM_PORT; run $KAM_DIR/start.sh first"
	exit 1
fi
[ "$KAM_USERS" -ge 4 ] && [ "$KAM_ROOMS" -ge 2 ] || { kam_log "needs KAM_USERS>=4 and KAM_ROOMS>=2"; exit 1; }

user() { printf 'user%04d' "$1"; }
pass() { printf 'pass%04d' "$1"; }
room() { printf 'room%03d' "$1"; }
A=$(user "$KAM_USERS") B=$(user $((KAM_USERS - 1))) T=$(user $((KAM_USERS - 2))) U=$(user $((KAM_USERS - 3)))
PA=$(pass "$KAM_USERS") PB=$(pass $((KAM_USERS - 1))) PT=$(pass $((KAM_USERS - 2))) PU=$(pass $((KAM_USERS - 3)))
R1=$(room "$KAM_ROOMS") R2=$(room $((KAM_ROOMS - 1)))
token="$$-$RANDOM"

out="$KAM_RUNDIR/check"
rm -rf "$out"
mkdir -p "$out"

failures=0
ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	failures=$((failures + 1))
}

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# uac NAME SCENARIO ARGS...: one short sipp UAC run (one call), logs in $out/NAME.*
uac() {
	local name=$1 sf=$2
	shift 2
	timeout 20 sipp "127.0.0.1:$KAM_PORT" -sf "$SIPP_DIR/$sf" -i 127.0.0.1 \
		-p "$uac_port" -cp $((uac_port + 1)) -mp $((uac_port + 2)) \
		-m 1 -timeout 10s -timeout_error -nostdin \
		-trace_msg -message_file "$out/$name.msg" -trace_logs -log_file "$out/$name.log" \
		-trace_err -error_file "$out/$name.err" "$@" >/dev/null 2>>"$out/$name.err"
}
# final NAME: the final reply the scenario logged
final() { sed -n 's/^.*FINAL //p' "$out/$1.log" 2>/dev/null | tail -n 1 | tr -d '\r'; }
# expect NAME "SIP/2.0 200 OK" DESCRIPTION
expect() {
	local got
	got=$(final "$1")
	if [ "$got" = "$2" ]; then ok "$3: $got"; else fail "$3: want '$2', got '${got:-nothing}' (see $out/$1.*)"; fi
}
register() { # register NAME USER PASS [EXPIRES]
	uac "$1" register.xml -s "$2" -au "$2" -ap "$3" -key contact_port "$sink_port" -key expires "${4:-300}" || true
}
message() { # message NAME FROM PASS TO_USER TO_DOMAIN BODY [CID]
	uac "$1" message.xml -s "$4" -key to_domain "$5" -key from "$2" -au "$2" -ap "$3" \
		-key body "$6" -key cid "${7:-$1-$token}" || true
}

# received TRACE: one line per MESSAGE received in a sipp message trace:
#   <UDP|TCP> to=<user> from=<user> irt=<In-Reply-To> body=<body, newlines as \n>
received() {
	awk '
	function flush() {
		if (req) {
			sub(/\n+$/, "", body); gsub(/\n/, "\\n", body)
			printf "%s to=%s from=%s irt=%s body=%s\n", proto, to, from, irt, body
		}
		state = ""; req = 0; body = ""; to = ""; from = ""; irt = ""
	}
	function user(s) { if (match(s, /sip:[^@>;]*/)) return substr(s, RSTART + 4, RLENGTH - 4); return "" }
	{ sub(/\r$/, "") }
	/^-----------------------------------------------/ { flush(); next }
	/message received/ { state = "start"; proto = $1; next }
	state == "start" && /^MESSAGE sip:/ { req = 1; state = "hdr"; next }
	state == "start" && /^SIP\/2.0/ { state = "skip"; next }
	state == "hdr" && $0 == "" { state = "body"; next }
	state == "hdr" && /^(To|t):/ { to = user($0) }
	state == "hdr" && /^(From|f):/ { from = user($0) }
	state == "hdr" && /^In-Reply-To:/ { irt = $2 }
	state == "body" { body = body $0 "\n" }
	END { flush() }
	' "$1" 2>/dev/null
}
# has TRACE STRING...: a received MESSAGE line contains every STRING
has() {
	local trace=$1 lines s
	shift
	lines=$(received "$trace")
	for s in "$@"; do lines=$(grep -F -- "$s" <<<"$lines" || true); done
	[ -n "$lines" ]
}
# wait_for SECONDS DESCRIPTION TRACE STRING...
wait_for() {
	local deadline=$((SECONDS + $1)) desc=$2
	shift 2
	until has "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			fail "$desc (not in $1)"
			return 0
		fi
		sleep 0.1
	done
	ok "$desc"
}

echo "checking kamailio at 127.0.0.1:$KAM_PORT with $A $B $T $U, rooms $R1 $R2; artifacts in $out"

# The sink answers every MESSAGE sent to the UDP users' Contact.
sink="$out/sink.msg"
timeout 120 sipp -sf "$SIPP_DIR/uas_sink.xml" -i 127.0.0.1 -bind_local -p "$sink_port" \
	-cp $((sink_port + 1)) -mp $((sink_port + 2)) -timeout 100s -nostdin \
	-trace_msg -message_file "$sink" -trace_err -error_file "$out/sink.err" >/dev/null 2>>"$out/sink.err" &
pids+=($!)

register reg-a "$A" "$PA"
expect reg-a "SIP/2.0 200 OK" "UDP REGISTER $A with digest auth"
register reg-b "$B" "$PB"
expect reg-b "SIP/2.0 200 OK" "UDP REGISTER $B with digest auth"

# Leftovers of an interrupted earlier check would turn "has joined" into "already in room".
for who in "$A:$PA:$R1" "$B:$PB:$R1" "$A:$PA:$R2" "$T:$PT:$R2"; do
	IFS=: read -r u p r <<<"$who"
	message "pre-exit-$u-$r" "$u" "$p" "$r" "$KAM_CONF_DOMAIN" "#exit"
done

message join-a "$A" "$PA" "$R1" "$KAM_CONF_DOMAIN" "#join"
expect join-a "SIP/2.0 200 OK" "$A #join $R1"
wait_for 5 "$A gets '*** [$A] has joined the room'" "$sink" "to=$A from=$R1" "body=*** [$A] has joined the room"
message join-b "$B" "$PB" "$R1" "$KAM_CONF_DOMAIN" "#join"
expect join-b "SIP/2.0 200 OK" "$B #join $R1"
wait_for 5 "$B gets '*** [$B] has joined the room'" "$sink" "to=$B from=$R1" "body=*** [$B] has joined the room"
wait_for 5 "$A gets '*** [$B] has joined the room'" "$sink" "to=$A from=$R1" "body=*** [$B] has joined the room"

line="hello from $A $token"
message line-a "$A" "$PA" "$R1" "$KAM_CONF_DOMAIN" "$line" "line-$token"
expect line-a "SIP/2.0 200 OK" "$A sends a line to $R1"
wait_for 5 "$B gets '[$A]: $line' with In-Reply-To: line-$token///..." "$sink" \
	"to=$B from=$R1 irt=line-$token///" "body=[$A]: $line"
if has "$sink" "to=$A " "body=[$A]: $line"; then fail "$A got its own line back"; else ok "$A does not get its own line back"; fi

message direct "$A" "$PA" "$B" "$KAM_DOMAIN" "direct $token"
expect direct "SIP/2.0 200 OK" "user to user MESSAGE $A -> $B (registered)"
wait_for 5 "$B gets the direct MESSAGE from $A" "$sink" "to=$B from=$A" "body=direct $token"
message direct-unreg "$A" "$PA" "$U" "$KAM_DOMAIN" "direct $token"
expect direct-unreg "SIP/2.0 404 Not Found" "user to user MESSAGE $A -> $U (not registered)"

register wrong-pass "$B" "wrong-$PB"
expect wrong-pass "SIP/2.0 401 Unauthorized" "REGISTER $B with a wrong password is challenged again"
register unknown nosuchuser nosuchpass
expect unknown "SIP/2.0 404 User Not Found" "REGISTER of an unknown user"
uac mismatch message.xml -s "$R1" -key to_domain "$KAM_CONF_DOMAIN" -key from "$A" -au "$B" -ap "$PB" \
	-key body "mismatch $token" -key cid "mismatch-$token" || true
expect mismatch "SIP/2.0 403 Auth User Mismatch" "MESSAGE from $A with $B's credentials"
message intruder "$U" "$PU" "$R1" "$KAM_CONF_DOMAIN" "intruder $token"
expect intruder "SIP/2.0 403 Not A Member Of This Room" "a line from non-member $U"
message join-999 "$A" "$PA" room999 "$KAM_CONF_DOMAIN" "#join"
expect join-999 "SIP/2.0 200 OK" "$A #join room999 (does not exist)"
wait_for 5 "$A gets '*** Room not found'" "$sink" "to=$A from=room999" "body=*** Room not found"

# TCP: T registers and joins over one connection and stays on it while A joins and talks.
tcp_trace="$out/tcp.msg"
timeout 40 sipp "127.0.0.1:$KAM_PORT" -t t1 -sf "$SIPP_DIR/tcp_member.xml" -oocsf "$SIPP_DIR/uas_sink.xml" \
	-i 127.0.0.1 -p "$tcp_port" -cp $((tcp_port + 1)) -mp $((tcp_port + 2)) \
	-s "$T" -au "$T" -ap "$PT" -key room "$R2" -key contact_port "$tcp_contact" -d 4000 \
	-m 1 -timeout 30s -timeout_error -nostdin \
	-trace_msg -message_file "$tcp_trace" -trace_err -error_file "$out/tcp.err" >/dev/null 2>>"$out/tcp.err" &
tcp_pid=$!
pids+=("$tcp_pid")
wait_for 5 "TCP: $T registered and joined $R2; its notification came over its connection" \
	"$tcp_trace" "TCP to=$T from=$R2" "body=*** [$T] has joined the room"
message join-a2 "$A" "$PA" "$R2" "$KAM_CONF_DOMAIN" "#join"
expect join-a2 "SIP/2.0 200 OK" "$A #join $R2"
line2="over tcp $token"
message line-a2 "$A" "$PA" "$R2" "$KAM_CONF_DOMAIN" "$line2" "line2-$token"
expect line-a2 "SIP/2.0 200 OK" "$A sends a line to $R2"
wait_for 5 "TCP: $T gets '[$A]: $line2' over its connection" "$tcp_trace" \
	"TCP to=$T from=$R2 irt=line2-$token///" "body=[$A]: $line2"
if wait "$tcp_pid"; then
	ok "TCP: $T's #exit with the cached nonce (nc=2) got 200 without a challenge"
else
	fail "TCP: $T's sipp failed (pre-emptive #exit or an earlier step; see $out/tcp.*)"
fi

# Clean up: leave the rooms, unregister.
message exit-a "$A" "$PA" "$R1" "$KAM_CONF_DOMAIN" "#exit"
message exit-b "$B" "$PB" "$R1" "$KAM_CONF_DOMAIN" "#exit"
message exit-a2 "$A" "$PA" "$R2" "$KAM_CONF_DOMAIN" "#exit"
expect exit-a "SIP/2.0 200 OK" "$A #exit $R1"
register unreg-a "$A" "$PA" 0
register unreg-b "$B" "$PB" 0

if [ "$failures" -gt 0 ]; then
	echo "check FAILED: $failures failure(s); artifacts in $out"
	exit 1
fi
echo "check passed: kamailio imc at 127.0.0.1:$KAM_PORT"

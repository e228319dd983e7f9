#!/usr/bin/env bash
# bench/scale/run.sh: chatload at scale, loopback only, every part bounded in time.
# Parts (SCALE_PARTS, in this order by default):
#
#   gen     chatload's own generator against `chatload serve` (out of process): serve
#           --users SCALE_GEN_USERS --rooms /10; `chatload run --scenario fanout
#           --room-size 10` signs every user in (--login-rate SCALE_GEN_LOGIN_RATE)
#           and joins its room, stays idle SCALE_GEN_IDLE seconds (only registration
#           refreshes on the wire), then posts SCALE_GEN_RATE lines/s for
#           SCALE_GEN_POST seconds, then leaves and logs off. A sampler reads both
#           processes' RSS and CPU (/proc) and the server's REGISTER counters
#           (--metrics-addr) every 5 s into gen.timeline. Figures: the sign-in wave
#           (rate achieved of asked), the generator's RSS and KiB per user when idle,
#           its CPU (% of one core) idle and posting, the server's, the refresh
#           traffic while idle (REGISTER/s, challenges/s), deliveries and losses.
#   login   sign-in waves of SCALE_LOGIN_USERS users at each rate of
#           SCALE_LOGIN_RATES against serve: the rate achieved (report
#           load.sign_in: (users-1) / (last start - first start)) and its error,
#           with SCALE_LOGIN_PARALLEL sign-ins allowed in flight (so that what is
#           measured is the generator's pacing; a server that falls behind shows
#           in the register p99 and errors, not as a slower schedule).
#   users   serve --users SCALE_USERS --rooms SCALE_ROOMS driven by bench/scale/scaleload
#           (users as compact benchmark records over a few UDP sockets, not chatload
#           sessions): every user registers (digest) and joins room (i mod rooms)+1;
#           after Timer J (32 s): the server's RSS and KiB per user; then a refresh
#           wave (every user re-registers at once, SCALE_WINDOW in flight): its
#           duration, rate, retransmissions, server CPU and RSS; and the steady
#           refresh traffic the spread schedule makes of it (users / (expires/2)).
#   room    serve --users SCALE_MEMBERS --rooms 1 --announce-max 10; every user
#           joins room001; one member posts SCALE_POSTS lines SCALE_GAP apart; every
#           copy is tracked per (post, member): delivered, lost, duplicated, the
#           delivery p50/p99 and the p99 of each post's last member.
#
#   kam     the gen part against Kamailio (scripts/kamailio, .ci's config) with
#           SCALE_KAM_USERS users, rooms of 10 and SCALE_KAM_SHM MB of shared memory;
#           the server's memory figure is Kamailio's shared memory in use
#           (kamcmd shmem:used_size), its CPU every Kamailio process's. Not in the
#           default parts (add it: SCALE_PARTS="gen kam"); skipped without kamailio.
#
# Usage:  bench/scale/run.sh   (defaults: about 25 minutes on 2 cores: gen ~6, login ~2,
#                               users ~7, room ~8)
# Environment: SCALE_PARTS="gen login users room"
#              SCALE_GEN_USERS=100000 SCALE_GEN_LOGIN_RATE=2000 SCALE_GEN_IDLE=60
#              SCALE_GEN_POST=60 SCALE_GEN_RATE=100 SCALE_GEN_EXPIRES= (e.g. 300s)
#              SCALE_GEN_ARGS= (more run flags, e.g. "--transport-sharing shared:1")
#              SCALE_KAM_USERS=20000 SCALE_KAM_SHM=2048 SCALE_KAM_LOGIN_RATE=500
#              KAM_PORT (default SCALE_PORT+2) KAM_RUNDIR (default OUT_DIR/kam)
#              SCALE_LOGIN_USERS=25000 SCALE_LOGIN_RATES="1000 5000" SCALE_LOGIN_PARALLEL=20000
#              SCALE_USERS=100000 SCALE_ROOMS=10000
#              SCALE_MEMBERS=16000 SCALE_POSTS=100 SCALE_GAP=1s SCALE_WINDOW=1000
#              SCALE_PORT=5611 (and SCALE_PORT+1 for serve's metrics)
#              OUT_DIR= (default: a new /tmp dir) CHATLOAD_BIN= (skip go build)
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BENCH_NAME=scale
# shellcheck source=../lib.sh
. "$here/../lib.sh"

SCALE_PARTS=${SCALE_PARTS:-"gen login users room"}
SCALE_GEN_USERS=${SCALE_GEN_USERS:-100000}
SCALE_GEN_LOGIN_RATE=${SCALE_GEN_LOGIN_RATE:-2000}
SCALE_GEN_IDLE=${SCALE_GEN_IDLE:-60}
SCALE_GEN_POST=${SCALE_GEN_POST:-60}
SCALE_GEN_RATE=${SCALE_GEN_RATE:-100}
SCALE_GEN_EXPIRES=${SCALE_GEN_EXPIRES:-} # chatload run --expires (empty: none asked; serve grants 3600 s)
SCALE_GEN_ARGS=${SCALE_GEN_ARGS:-}       # more chatload run flags for gen and kam, e.g. "--transport-sharing shared:1"
SCALE_LOGIN_USERS=${SCALE_LOGIN_USERS:-25000}
SCALE_KAM_USERS=${SCALE_KAM_USERS:-20000}
SCALE_KAM_SHM=${SCALE_KAM_SHM:-2048}
SCALE_KAM_LOGIN_RATE=${SCALE_KAM_LOGIN_RATE:-500}
SCALE_LOGIN_RATES=${SCALE_LOGIN_RATES:-"1000 5000"}
SCALE_LOGIN_PARALLEL=${SCALE_LOGIN_PARALLEL:-20000}
SCALE_USERS=${SCALE_USERS:-100000}
SCALE_ROOMS=${SCALE_ROOMS:-10000}
SCALE_MEMBERS=${SCALE_MEMBERS:-16000}
SCALE_POSTS=${SCALE_POSTS:-100}
SCALE_GAP=${SCALE_GAP:-1s}
SCALE_WINDOW=${SCALE_WINDOW:-1000}
SCALE_PORT=${SCALE_PORT:-5611}

isint() { [[ $1 =~ ^[0-9]+$ ]]; }
isint "$SCALE_USERS" && ((SCALE_USERS >= 10 && SCALE_USERS <= 200000)) || bench_die "SCALE_USERS: 10..200000"
isint "$SCALE_ROOMS" && ((SCALE_ROOMS >= 1 && SCALE_ROOMS <= 100000)) || bench_die "SCALE_ROOMS: 1..100000"
isint "$SCALE_MEMBERS" && ((SCALE_MEMBERS >= 2 && SCALE_MEMBERS <= 100000)) || bench_die "SCALE_MEMBERS: 2..100000"
isint "$SCALE_POSTS" && ((SCALE_POSTS >= 1 && SCALE_POSTS <= 1000)) || bench_die "SCALE_POSTS: 1..1000"
isint "$SCALE_WINDOW" && ((SCALE_WINDOW >= 1 && SCALE_WINDOW <= 20000)) || bench_die "SCALE_WINDOW: 1..20000"
isint "$SCALE_GEN_USERS" && ((SCALE_GEN_USERS >= 10 && SCALE_GEN_USERS <= 200000 && SCALE_GEN_USERS % 10 == 0)) || bench_die "SCALE_GEN_USERS: 10..200000, a multiple of 10"
isint "$SCALE_GEN_LOGIN_RATE" && ((SCALE_GEN_LOGIN_RATE >= 1 && SCALE_GEN_LOGIN_RATE <= 20000)) || bench_die "SCALE_GEN_LOGIN_RATE: 1..20000"
isint "$SCALE_GEN_IDLE" && ((SCALE_GEN_IDLE >= 10 && SCALE_GEN_IDLE <= 600)) || bench_die "SCALE_GEN_IDLE: 10..600 (seconds)"
isint "$SCALE_GEN_POST" && ((SCALE_GEN_POST >= 5 && SCALE_GEN_POST <= 600)) || bench_die "SCALE_GEN_POST: 5..600 (seconds)"
isint "$SCALE_GEN_RATE" && ((SCALE_GEN_RATE >= 1 && SCALE_GEN_RATE <= 5000)) || bench_die "SCALE_GEN_RATE: 1..5000"
isint "$SCALE_LOGIN_PARALLEL" && ((SCALE_LOGIN_PARALLEL >= 1 && SCALE_LOGIN_PARALLEL <= 100000)) || bench_die "SCALE_LOGIN_PARALLEL: 1..100000"
isint "$SCALE_LOGIN_USERS" && ((SCALE_LOGIN_USERS >= 10 && SCALE_LOGIN_USERS <= 200000 && SCALE_LOGIN_USERS % 10 == 0)) || bench_die "SCALE_LOGIN_USERS: 10..200000, a multiple of 10"
for r in $SCALE_LOGIN_RATES; do isint "$r" && ((r >= 1 && r <= 20000)) || bench_die "SCALE_LOGIN_RATES: each 1..20000"; done
isint "$SCALE_KAM_USERS" && ((SCALE_KAM_USERS >= 10 && SCALE_KAM_USERS <= 200000 && SCALE_KAM_USERS % 10 == 0)) || bench_die "SCALE_KAM_USERS: 10..200000, a multiple of 10"
isint "$SCALE_KAM_SHM" && ((SCALE_KAM_SHM >= 64 && SCALE_KAM_SHM <= 16384)) || bench_die "SCALE_KAM_SHM: 64..16384 (MB)"
isint "$SCALE_KAM_LOGIN_RATE" && ((SCALE_KAM_LOGIN_RATE >= 1 && SCALE_KAM_LOGIN_RATE <= 20000)) || bench_die "SCALE_KAM_LOGIN_RATE: 1..20000"
for p in $SCALE_PARTS; do [[ $p == gen || $p == kam || $p == login || $p == users || $p == room ]] || bench_die "bad part '$p'"; done
command -v jq >/dev/null 2>&1 || bench_die "jq is needed to read chatload's JSON report (apt-get install jq)"

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-scale.XXXXXX)}
mkdir -p "$OUT_DIR" || bench_die "cannot create $OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

SERVE_PID=""
LOAD_PID=""
SAMPLER_PID=""
KAM_MAIN=""
cleanup() {
	[[ -n $KAM_MAIN ]] && "$repo/scripts/kamailio/stop.sh" >/dev/null 2>&1
	stop_pid "$SAMPLER_PID"
	stop_pid "$LOAD_PID"
	stop_pid "$SERVE_PID"
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
build_chatload "$repo" "$OUT_DIR/chatload"
(cd "$repo" && go build -o "$OUT_DIR/scaleload" ./bench/scale/scaleload) || bench_die "go build ./bench/scale/scaleload failed"
bench_log "results in $OUT_DIR"

# serve NAME ARGS...: start chatload serve on udp SCALE_PORT, wait until it listens.
serve() {
	local name=$1 i
	shift
	"$CHATLOAD_BIN" serve --listen "udp:127.0.0.1:$SCALE_PORT" --unauth-rate 1000000 "$@" \
		>"$OUT_DIR/$name.serve.out" 2>"$OUT_DIR/$name.serve.err" &
	SERVE_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q "serving until interrupted" "$OUT_DIR/$name.serve.out" 2>/dev/null && return 0
		alive "$SERVE_PID" || bench_die "$name: serve exited: $(cat "$OUT_DIR/$name.serve.err")"
		sleep 0.1
	done
	bench_die "$name: serve did not start within 30 s"
}

# load NAME ARGS...: run scaleload (bounded: timeout) against the server; figures to NAME.txt.
load() {
	local name=$1
	shift
	timeout 2400 "$OUT_DIR/scaleload" -target "127.0.0.1:$SCALE_PORT" -server-pid "$SERVE_PID" \
		-window "$SCALE_WINDOW" "$@" >"$OUT_DIR/$name.txt" 2>"$OUT_DIR/$name.err" &
	LOAD_PID=$!
	wait "$LOAD_PID" || bench_log "$name: scaleload failed: $(tail -3 "$OUT_DIR/$name.err")"
	LOAD_PID=""
	stop_pid "$SERVE_PID"
	SERVE_PID=""
}

# users_csv N FILE: the users serve --users N generates, as a --users-file.
users_csv() {
	awk -v n="$1" 'BEGIN { print "uri,username,password"; for (i = 1; i <= n; i++) printf "sip:user%04d@example.test,user%04d,pass%04d\n", i, i, i }' >"$2"
}

# metric NAME: a counter of serve's --metrics-addr (0 when absent).
metric() {
	curl -s --max-time 2 "http://127.0.0.1:$((SCALE_PORT + 1))/metrics" 2>/dev/null |
		awk -v k="$1" '$1 == k { v = $2 } END { printf "%.0f\n", v + 0 }'
}

# The server's figures for the sampler: chatload serve (SERVE_PID, its
# --metrics-addr), or Kamailio (KAM_MAIN: every process of its session; its memory
# is the shared memory in use, where registrations and rooms live; challenges are
# not counted: -1).
srv_rss() {
	if [[ -n $KAM_MAIN ]]; then
		kamcmd -s "unix:$KAM_CTL_PATH" stats.get_statistics shmem: 2>/dev/null | awk '$1 == "shmem:used_size" { printf "%d\n", $3 / 1024 }'
	else rss_kib "$SERVE_PID"; fi
}
srv_ticks() {
	if [[ -n $KAM_MAIN ]]; then
		# utime+stime of every process of Kamailio's session (fields after "pid (comm) ").
		awk -v s="$KAM_MAIN" '{ sub(/^.*\) /, ""); if ($4 == s) t += $12 + $13 } END { print t + 0 }' /proc/[0-9]*/stat 2>/dev/null
	else stat_ticks "$SERVE_PID"; fi
}
srv_registers() {
	if [[ -n $KAM_MAIN ]]; then
		kamcmd -s "unix:$KAM_CTL_PATH" stats.get_statistics core: 2>/dev/null | awk '$1 == "core:rcv_requests_register" { print $3 + 0 }'
	else metric 'chatload_server_requests_total{method="REGISTER"}'; fi
}
srv_challenges() { if [[ -n $KAM_MAIN ]]; then echo -1; else metric chatload_server_auth_challenges_total; fi; }
KAM_CTL_PATH=""

# sampler GEN_PID: every 5 s until the generator is gone, one line of
# "epoch gen_rss_kib gen_ticks srv_rss_kib srv_ticks registers challenges load1".
sampler() {
	local gen=$1 load c i
	nap_init "$OUT_DIR"
	# $1 is timeout's pid: sample its child, chatload.
	for ((i = 0; i < 20; i++)); do
		c=$(cat "/proc/$1/task/$1/children" 2>/dev/null) # "PID " with no newline
		[[ -n ${c// /} ]] && { gen=${c%% *}; break; }
		nap 0.05
	done
	while alive "$gen"; do
		read -r load _ </proc/loadavg
		echo "$(date +%s) $(rss_kib "$gen") $(stat_ticks "$gen") $(srv_rss) $(srv_ticks) $(srv_registers) $(srv_challenges) $load"
		nap 5
	done
	nap_close
}

# genrun NAME USERS ARGS...: chatload run (fanout, rooms of 10) against the server
# started for NAME (TARGET), bounded by timeout; report NAME.json, tables NAME.txt.
TARGET=127.0.0.1:$SCALE_PORT
genrun() {
	local name=$1 users=$2
	shift 2
	timeout 1800 "$CHATLOAD_BIN" run --target "$TARGET" --users-file "$OUT_DIR/$name.users.csv" \
		--scenario fanout --rooms $((users / 10)) --room-size 10 --interval 5s --out "$OUT_DIR/$name.json" "$@" \
		>"$OUT_DIR/$name.txt" 2>"$OUT_DIR/$name.err" &
	LOAD_PID=$!
}

# genpart NAME USERS LOGIN_RATE [ARGS...]: the gen part's run against the server
# already started (serve: SERVE_PID; Kamailio: KAM_MAIN), sampled; prints its figures.
genpart() {
	local name=$1 n=$2 rate=$3 a b
	shift 3
	local -a extra=("$@")
	genrun "$name" "$n" --login-rate "$rate/s" "${extra[@]}" \
		--ramp "${SCALE_GEN_IDLE}s:0/s,0s:$SCALE_GEN_RATE/s,${SCALE_GEN_POST}s:$SCALE_GEN_RATE/s"
	sampler "$LOAD_PID" >"$OUT_DIR/$name.timeline" &
	SAMPLER_PID=$!
	wait "$LOAD_PID" || bench_log "$name: chatload run exited $?: $(tail -3 "$OUT_DIR/$name.err")"
	LOAD_PID=""
	wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=""
	if [[ -z $KAM_MAIN ]]; then
		stop_pid "$SERVE_PID"
		SERVE_PID=""
	fi
	[[ -s $OUT_DIR/$name.json ]] || { bench_log "$name: no report"; return; }
	# The idle window: steady intervals with no post scheduled, but the first (it
	# holds the end of setup); the post window: the intervals with a target rate.
	jq -r --argjson n "$n" --arg p "$name" '
		def secs: sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601;
		def pct(f): (map(.generator.cpu_seconds) | add) as $c | (map((.end | secs) - (.start | secs)) | add) as $t |
			if $t > 0 then 100 * $c / $t else 0 end;
		(.intervals | map(select(.phase == "steady" and .load.target_rate == 0)) | .[1:]) as $idle |
		(.intervals | map(select(.phase == "steady" and .load.target_rate > 0))) as $post |
		"\($p)_users \($n)",
		"\($p)_signin_users \(.load.sign_in.users // 0)",
		"\($p)_signin_seconds \(.load.sign_in.seconds // 0 | . * 10 | round / 10)",
		"\($p)_signin_rate_target \(.load.sign_in.target_rate // 0)",
		"\($p)_signin_rate_achieved \(.load.sign_in.achieved_rate // 0 | . * 10 | round / 10)",
		"\($p)_register_errors \(.operations.register.errors // 0)",
		"\($p)_join_errors \(.operations.join.errors // 0)",
		"\($p)_idle_window_s \($idle | map((.end | secs) - (.start | secs)) | add // 0)",
		"\($p)_idle_cpu_pct_core \($idle | pct(.) | . * 100 | round / 100)",
		"\($p)_idle_rss_mib \(($idle | last | .generator.max_rss_bytes // 0) / 1048576 | round)",
		"\($p)_idle_kib_per_user \(($idle | last | .generator.max_rss_bytes // 0) / 1024 / $n | . * 10 | round / 10)",
		"\($p)_post_cpu_pct_core \($post | pct(.) | . * 100 | round / 100)",
		"\($p)_post_rate_achieved \(($post | map(.load.achieved_rate * ((.end | secs) - (.start | secs))) | add) / ($post | map((.end | secs) - (.start | secs)) | add) | . * 10 | round / 10)",
		"\($p)_max_rss_mib \(.generator.max_rss_bytes / 1048576 | round)",
		"\($p)_delivered \(.messages.delivered)",
		"\($p)_lost \(.messages.lost)",
		"\($p)_delivery_p99_ms \(.operations.delivery.latency_us.p99 // 0 | . / 10 | round / 100)",
		"\($p)_teardown_errors \((.operations.leave.errors // 0) + (.operations.unregister.errors // 0))",
		"\($p)_idle_start \($idle | first | .start | secs)",
		"\($p)_idle_end \($idle | last | .end | secs)"' "$OUT_DIR/$name.json" >"$OUT_DIR/$name.fig" ||
		bench_log "$name: cannot read $name.json"
	grep -v '_idle_start \|_idle_end ' "$OUT_DIR/$name.fig"
	# The server and the wire over the same idle window, from the sampler's lines.
	a=$(awk -v k="${name}_idle_start" '$1 == k { print $2 }' "$OUT_DIR/$name.fig")
	b=$(awk -v k="${name}_idle_end" '$1 == k { print $2 }' "$OUT_DIR/$name.fig")
	awk -v a="$a" -v b="$b" -v n="$n" -v p="$name" '
		$1 >= a && $1 <= b && NF >= 8 { if (!f) { f = 1; t0 = $1; s0 = $5; r0 = $6; c0 = $7; l = 0 } t1 = $1; s1 = $5; r1 = $6; c1 = $7; rss = $4; l += $8; k++ }
		END {
			if (k < 2 || t1 <= t0) { print p "_server_idle NA (fewer than 2 samples in the idle window)"; exit }
			d = t1 - t0
			printf "%s_server_idle_cpu_pct_core %.2f\n%s_server_idle_rss_mib %d\n%s_server_idle_kib_per_user %.1f\n", p, (s1 - s0) / d, p, rss / 1024, p, rss / n
			printf "%s_refresh_register_per_s %.1f\n", p, (r1 - r0) / d
			if (c0 >= 0) printf "%s_refresh_challenge_per_s %.1f\n", p, (c1 - c0) / d
			printf "%s_idle_load1_mean %.2f\n", p, l / k
		}' "$OUT_DIR/$name.timeline"
	sed -n 's/^Load: *//p; s/^Noise: *//p' "$OUT_DIR/$name.txt"
}

fig() { awk -v k="$2" '$1 == k { print $2 }' "$OUT_DIR/$1.txt"; }

for part in $SCALE_PARTS; do
	case $part in
	gen)
		n=$SCALE_GEN_USERS
		bench_log "gen: chatload run, $n users in rooms of 10: sign in at $SCALE_GEN_LOGIN_RATE/s, idle ${SCALE_GEN_IDLE}s, post $SCALE_GEN_RATE/s for ${SCALE_GEN_POST}s"
		users_csv "$n" "$OUT_DIR/gen.users.csv"
		serve gen --users "$n" --rooms $((n / 10)) --metrics-addr "127.0.0.1:$((SCALE_PORT + 1))"
		# shellcheck disable=SC2086 # SCALE_GEN_ARGS: words
		genpart gen "$n" "$SCALE_GEN_LOGIN_RATE" ${SCALE_GEN_EXPIRES:+--expires "$SCALE_GEN_EXPIRES"} $SCALE_GEN_ARGS
		;;
	kam)
		command -v kamailio >/dev/null 2>&1 && command -v kamcmd >/dev/null 2>&1 ||
			{ bench_log "kam: kamailio/kamcmd not installed: skipped"; continue; }
		n=$SCALE_KAM_USERS
		bench_log "kam: chatload run against Kamailio ($n users, $((n / 10)) rooms, shm $SCALE_KAM_SHM MB): sign in at $SCALE_KAM_LOGIN_RATE/s, idle ${SCALE_GEN_IDLE}s, post $SCALE_GEN_RATE/s for ${SCALE_GEN_POST}s"
		export KAM_PORT=${KAM_PORT:-$((SCALE_PORT + 2))} KAM_RUNDIR=${KAM_RUNDIR:-$OUT_DIR/kam}
		KAM_USERS=$n KAM_ROOMS=$((n / 10)) KAM_SHM=$SCALE_KAM_SHM "$repo/scripts/kamailio/start.sh" -r >"$OUT_DIR/kam.start" 2>&1 ||
			{ bench_log "kam: Kamailio did not start: $(tail -3 "$OUT_DIR/kam.start")"; continue; }
		KAM_MAIN=$(cat "$KAM_RUNDIR/kamailio.pid")
		KAM_CTL_PATH=$(. "$repo/scripts/kamailio/lib.sh" && echo "$KAM_CTL")
		TARGET=127.0.0.1:$KAM_PORT
		users_csv "$n" "$OUT_DIR/kam.users.csv"
		# shellcheck disable=SC2086 # SCALE_GEN_ARGS: words
		genpart kam "$n" "$SCALE_KAM_LOGIN_RATE" ${SCALE_GEN_EXPIRES:+--expires "$SCALE_GEN_EXPIRES"} $SCALE_GEN_ARGS
		"$repo/scripts/kamailio/stop.sh" >/dev/null 2>&1
		KAM_MAIN=""
		TARGET=127.0.0.1:$SCALE_PORT
		;;
	login)
		for rate in $SCALE_LOGIN_RATES; do
			n=$SCALE_LOGIN_USERS
			bench_log "login: $n users signing in at $rate/s"
			users_csv "$n" "$OUT_DIR/login$rate.users.csv"
			serve "login$rate" --users "$n" --rooms $((n / 10))
			genrun "login$rate" "$n" --login-rate "$rate/s" --logon-parallel "$SCALE_LOGIN_PARALLEL" --rate 1/s --duration 1s
			wait "$LOAD_PID" || bench_log "login: chatload run exited $?: $(tail -3 "$OUT_DIR/login$rate.err")"
			LOAD_PID=""
			stop_pid "$SERVE_PID"
			SERVE_PID=""
			jq -r --arg r "$rate" '.load.sign_in as $s |
				"login_\($r)_achieved \($s.achieved_rate // 0 | . * 10 | round / 10)",
				"login_\($r)_error_pct \(if ($s.target_rate // 0) > 0 then ($s.achieved_rate / $s.target_rate - 1) * 100 | . * 100 | round / 100 else "NA" end)",
				"login_\($r)_seconds \($s.seconds // 0 | . * 100 | round / 100)",
				"login_\($r)_register_errors \(.operations.register.errors // 0)",
				"login_\($r)_register_p99_ms \(.operations.register.latency_us.p99 // 0 | . / 10 | round / 100)"' \
				"$OUT_DIR/login$rate.json" || bench_log "login: no report for $rate/s"
			echo "login_${rate}_load1 $(cut -d' ' -f1 /proc/loadavg)"
		done
		;;
	users)
		bench_log "users: $SCALE_USERS users, $SCALE_ROOMS rooms: register, join, refresh wave"
		serve users --users "$SCALE_USERS" --rooms "$SCALE_ROOMS"
		load users -users "$SCALE_USERS" -rooms "$SCALE_ROOMS"
		cat "$OUT_DIR/users.txt"
		before=$(fig users server_rss_kib_before)
		reg=$(fig users server_rss_kib_registered)
		if [[ -n $before && -n $reg ]]; then
			echo "server_kib_per_user $(((reg - before) / SCALE_USERS)).$((((reg - before) * 10 / SCALE_USERS) % 10))"
			echo "server_rss_mib_registered $((reg / 1024))"
		fi
		cpu=$(fig users refresh_server_cpu_s)
		if [[ -n $cpu ]]; then
			awk -v c="$cpu" -v n="$SCALE_USERS" 'BEGIN {
				r = n / 150; printf "refresh_steady_per_s %.0f\nrefresh_steady_server_core_pct %.1f\n", r, 100 * c / n * r }'
		fi
		;;
	room)
		bench_log "room: $SCALE_MEMBERS members in room001, $SCALE_POSTS posts $SCALE_GAP apart"
		serve room --users "$SCALE_MEMBERS" --rooms 1 --announce-max 10
		load room -users "$SCALE_MEMBERS" -rooms 1 -refresh=false -posts "$SCALE_POSTS" -gap "$SCALE_GAP"
		cat "$OUT_DIR/room.txt"
		;;
	esac
done

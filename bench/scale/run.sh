#!/usr/bin/env bash
# bench/scale/run.sh: the embedded server (`chatload serve`) at scale, driven by
# bench/scale/scaleload (many users over a few shared UDP sockets: one process
# holds 100,000 users within the 20,000-descriptor limit). Two parts:
#
#   users   serve --users SCALE_USERS --rooms SCALE_ROOMS; every user registers
#           (digest) and joins room (i mod rooms)+1 (rooms of 10 by default); after
#           the setup's transactions have lingered out (Timer J, 32 s): the
#           server's RSS and KiB per user (the baseline is the same server before
#           any REGISTER, users provisioned); then a refresh wave (every user
#           re-registers at once, SCALE_WINDOW in flight): its duration, rate,
#           retransmissions, server CPU, and RSS at the end of the wave; and the
#           steady refresh traffic the spread schedule makes of it
#           (users / (expires/2) REGISTERs per second, imc's default expires 300 s).
#   room    serve --users SCALE_MEMBERS --rooms 1 --announce-max 10; every user
#           joins room001; one member posts SCALE_POSTS lines SCALE_GAP apart; every
#           copy is tracked per (post, member): delivered, lost, duplicated, the
#           delivery p50/p99 and the p99 of each post's last member.
#
# What it does not measure (issue 11 item 1, users multiplexed over shared
# transports inside chatload's own generator, is not built): generator RSS per user
# of `chatload run` (scaleload's users are compact benchmark records, not chatload
# sessions), sign-in rates of chatload's generator, Kamailio at scale.
#
# Usage:  bench/scale/run.sh                 (defaults: about 15 minutes on 2 cores)
# Environment: SCALE_PARTS="users room" SCALE_USERS=100000 SCALE_ROOMS=10000
#              SCALE_MEMBERS=16000 SCALE_POSTS=100 SCALE_GAP=1s SCALE_WINDOW=1000
#              SCALE_PORT=5611 OUT_DIR= (default: a new /tmp dir) CHATLOAD_BIN= (skip go build)
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BENCH_NAME=scale
# shellcheck source=../lib.sh
. "$here/../lib.sh"

SCALE_PARTS=${SCALE_PARTS:-"users room"}
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
for p in $SCALE_PARTS; do [[ $p == users || $p == room ]] || bench_die "bad part '$p'"; done

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-scale.XXXXXX)}
mkdir -p "$OUT_DIR" || bench_die "cannot create $OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

SERVE_PID=""
LOAD_PID=""
cleanup() {
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

fig() { awk -v k="$2" '$1 == k { print $2 }' "$OUT_DIR/$1.txt"; }

for part in $SCALE_PARTS; do
	case $part in
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

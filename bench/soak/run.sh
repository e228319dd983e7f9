#!/usr/bin/env bash
# bench/soak/run.sh: memory flatness of a long run with intervals, checkpoint and hlog.
#
# A steady run at SOAK_RATE msg/s for SOAK_MINUTES against an out-of-process
# `chatload serve` on loopback, with --interval SOAK_INTERVAL, --checkpoint and --hlog
# (the soak configuration), sampling the generator's VmRSS from /proc every 10 s. It
# prints the RSS at the end of each minute and the verdict of the issue's target:
# RSS at the last minute within 10% of minute 2. Results (rss.tsv, the report, the
# checkpoint, the hlog) stay in OUT_DIR.
#
# Usage:   bench/soak/run.sh                     (10 minutes at 1000/s)
#          SOAK_MINUTES=3 bench/soak/run.sh
# Environment: SOAK_RATE=1000 SOAK_MINUTES=10 SOAK_PAIRS=10 SOAK_INTERVAL=10s
#              OUT_DIR= (default: a new /tmp dir)  CHATLOAD_BIN= (skip go build)
set -u -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
SOAK_RATE=${SOAK_RATE:-1000}
SOAK_MINUTES=${SOAK_MINUTES:-10}
SOAK_PAIRS=${SOAK_PAIRS:-10}
SOAK_INTERVAL=${SOAK_INTERVAL:-10s}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-soak.XXXXXX)}
mkdir -p "$OUT_DIR"

die() { echo "soak: $*" >&2; exit 1; }
log() { echo "soak: $*" >&2; }
[[ $SOAK_RATE =~ ^[0-9]+$ && $SOAK_MINUTES =~ ^[0-9]+$ && $SOAK_PAIRS =~ ^[0-9]+$ ]] || die "SOAK_RATE, SOAK_MINUTES, SOAK_PAIRS: whole numbers"
((SOAK_MINUTES >= 2 && SOAK_MINUTES <= 720)) || die "SOAK_MINUTES: 2..720"

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# stop PID: SIGINT, then SIGKILL after 10 s (only the PIDs this script started).
stop() {
	local p=${1:-} i
	[[ -n $p ]] || return 0
	kill -INT "$p" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do alive "$p" || return 0; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
}

SERVE_PID="" RUN_PID=""
trap 'stop "$RUN_PID"; stop "$SERVE_PID"' EXIT

if [[ -z ${CHATLOAD_BIN:-} ]]; then
	CHATLOAD_BIN=$OUT_DIR/chatload
	log "building chatload into $CHATLOAD_BIN"
	(cd "$repo" && go build -o "$CHATLOAD_BIN" ./cmd/chatload) || die "go build failed"
fi

users=$((2 * SOAK_PAIRS))
awk -v n="$users" 'BEGIN { print "uri,username,password"; for (i = 1; i <= n; i++) printf "sip:user%04d@example.test,,pass%04d\n", i, i }' >"$OUT_DIR/users.csv"

# A free loopback UDP port: ask the kernel, then hand it to serve.
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
	port=$((20000 + RANDOM % 20000))
"$CHATLOAD_BIN" serve --listen "udp:127.0.0.1:$port" --users "$users" --rooms "$SOAK_PAIRS" --stats "$OUT_DIR/serve-stats.json" \
	</dev/null >"$OUT_DIR/serve.stdout" 2>"$OUT_DIR/serve.stderr" &
SERVE_PID=$!
for ((i = 0; i < 150; i++)); do
	grep -q "serving until interrupted" "$OUT_DIR/serve.stdout" 2>/dev/null && break
	alive "$SERVE_PID" || die "chatload serve exited: $(tail -3 "$OUT_DIR/serve.stderr")"
	sleep 0.1
done

log "steady at $SOAK_RATE/s for $SOAK_MINUTES min, --interval $SOAK_INTERVAL, results in $OUT_DIR"
"$CHATLOAD_BIN" run --scenario steady --target "127.0.0.1:$port" --users-file "$OUT_DIR/users.csv" \
	--pairs "$SOAK_PAIRS" --rate "$SOAK_RATE/s" --duration "${SOAK_MINUTES}m" --interval "$SOAK_INTERVAL" \
	--checkpoint "$OUT_DIR/run.ckpt" --hlog "$OUT_DIR/run.hlog" --out "$OUT_DIR/report.json" --quiet \
	</dev/null >"$OUT_DIR/run.stdout" 2>"$OUT_DIR/run.stderr" &
RUN_PID=$!
t0=$SECONDS
: >"$OUT_DIR/rss.tsv"
limit=$((SOAK_MINUTES * 60 + 180))
while alive "$RUN_PID"; do
	echo "$((SECONDS - t0)) $(rss_kib "$RUN_PID")" >>"$OUT_DIR/rss.tsv"
	((SECONDS - t0 > limit)) && { log "still running after ${limit}s: interrupting"; stop "$RUN_PID"; }
	sleep 10
done
wait "$RUN_PID"
rc=$?
RUN_PID=""
stop "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=""

echo "Soak: steady at $SOAK_RATE/s for $SOAK_MINUTES min, --interval $SOAK_INTERVAL, --checkpoint and --hlog, against 'chatload serve' (run rc $rc)"
echo "generator VmRSS at the end of each minute k (the last sample at or before 60k+5 s):"
awk -v m="$SOAK_MINUTES" '$2 != "" && $1 > 5 { k = int(($1 - 6) / 60) + 1; if (k >= 1 && k <= m) g[k] = $2 }
	END {
		for (i = 1; i <= m; i++) if (i in g) printf "  minute %2d: %7.1f MiB\n", i, g[i] / 1024
		if ((2 in g) && (m in g)) printf "target: RSS at minute %d within 10%% of minute 2: %s (%.1f -> %.1f MiB, %+.1f%%)\n", m,
			((g[m] - g[2]) / g[2] <= 0.10 && (g[m] - g[2]) / g[2] >= -0.10 ? "PASS" : "FAIL"), g[2] / 1024, g[m] / 1024, (g[m] / g[2] - 1) * 100
	}' "$OUT_DIR/rss.tsv"
if command -v jq >/dev/null 2>&1 && [[ -s $OUT_DIR/report.json ]]; then
	jq -r '"report: sent \(.messages.sent), delivered \(.messages.delivered), lost \(.messages.lost), achieved \(.load.achieved_rate | . * 10 | round / 10)/s, delivery p99 \(.operations.delivery.latency_us.p99 / 1000) ms, \(.intervals | length) intervals, max_rss \(.generator.max_rss_bytes / 1048576 | . * 10 | round / 10) MiB"' "$OUT_DIR/report.json"
fi
echo "files: $(du -h "$OUT_DIR/run.ckpt" | cut -f1) checkpoint, $(du -h "$OUT_DIR/run.hlog" | cut -f1) hlog, $(du -h "$OUT_DIR/report.json" | cut -f1) report"
exit "$rc"

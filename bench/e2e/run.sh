#!/usr/bin/env bash
# bench/e2e/run.sh: chatload end to end on this machine, everything on 127.0.0.1.
#
# Sections (SECTIONS, in this order; LONG=1 adds "long"):
#   throughput  `chatload run --scenario steady` at E2E_RATES, each E2E_SECONDS, twice
#               per rate, alternating: against the embedded server (in-process: the
#               generator and the server share one process, so generator CPU includes
#               the server's) and against an out-of-process `chatload serve` on a
#               loopback port (the fairer number: generator CPU excludes the server).
#               Prints delivered/s, generator CPU per delivered message, delivery
#               p50/p99, lost, and (out-of-process) the server's CPU per message.
#   memory      MEM_USERS users logged on and joined, idle: steady with
#               --pairs MEM_USERS/2 --rate MEM_RATE --duration MEM_SECONDS against
#               `chatload serve --users MEM_USERS`; the generator's max_rss_bytes (report)
#               and its VmRSS from /proc near the end of the steady phase; and the same
#               with one pair as the baseline, for the marginal KiB per user.
#   accuracy    achieved vs target rate at ACC_RATES with the `message` scenario
#               (--no-register) against a SIPp UAS (cheap for the server), and
#               generator.schedule_lag_p99_us at each rate (the target is read at 5000/s).
#   long        (LONG=1) steady at LONG_RATE for LONG_MINUTES against `chatload serve`;
#               generator VmRSS from /proc every minute: minute 2 vs the last minute.
#
# Usage:  bench/e2e/run.sh                 (defaults: about 4 minutes)
#         LONG=1 bench/e2e/run.sh          (+ 10 minutes)
#         SECTIONS=accuracy bench/e2e/run.sh
# Environment (all optional):
#   E2E_RATES="500 1000 2000"  E2E_SECONDS=20  E2E_PAIRS=10
#   MEM_USERS=10000  MEM_RATE=1/s  MEM_SECONDS=30  MEM_BASELINE=1 (0: skip the 1-pair run)
#   ACC_RATES="10 100 1000 5000 10000"  ACC_SECONDS=10  ACC_USERS=10
#   LONG=0  LONG_RATE=1000  LONG_MINUTES=10  LONG_PAIRS=10
#   OUT_DIR= (default: a new /tmp dir, kept and printed)  CHATLOAD_BIN= (skip go build)
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BENCH_NAME=e2e
# shellcheck source=../lib.sh
. "$here/../lib.sh"

SECTIONS=${SECTIONS:-"throughput memory accuracy"}
LONG=${LONG:-0}
[[ $LONG == 1 && " $SECTIONS " != *" long "* ]] && SECTIONS="$SECTIONS long"
E2E_RATES=${E2E_RATES:-"500 1000 2000"}
E2E_SECONDS=${E2E_SECONDS:-20}
E2E_PAIRS=${E2E_PAIRS:-10}
MEM_USERS=${MEM_USERS:-10000}
MEM_RATE=${MEM_RATE:-1/s}
MEM_SECONDS=${MEM_SECONDS:-30}
MEM_BASELINE=${MEM_BASELINE:-1}
ACC_RATES=${ACC_RATES:-"10 100 1000 5000 10000"}
ACC_SECONDS=${ACC_SECONDS:-10}
ACC_USERS=${ACC_USERS:-10}
LONG_RATE=${LONG_RATE:-1000}
LONG_MINUTES=${LONG_MINUTES:-10}
LONG_PAIRS=${LONG_PAIRS:-10}

die() { bench_die "$@"; }
log() { bench_log "$@"; }
isint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in E2E_SECONDS E2E_PAIRS MEM_USERS MEM_SECONDS ACC_SECONDS ACC_USERS LONG_RATE LONG_MINUTES LONG_PAIRS; do
	isint "${!v}" && [[ ${!v} -ge 1 ]] || die "$v must be a positive integer"
done
((E2E_SECONDS <= 600 && MEM_SECONDS <= 600 && ACC_SECONDS <= 600 && LONG_MINUTES <= 120)) || die "durations too long"
((MEM_USERS % 2 == 0 && MEM_USERS <= 100000)) || die "MEM_USERS must be even, at most 100000"
for r in $E2E_RATES $ACC_RATES; do isint "$r" && ((r >= 1 && r <= 100000)) || die "bad rate '$r'"; done
command -v jq >/dev/null 2>&1 || die "jq is needed to read chatload's JSON report (apt-get install jq)"

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-e2e.XXXXXX)}
mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

# --- processes: every one started is recorded here and stopped on exit -------------
RUN_PID=""
SERVE_PID=""
UAS_PID=""
cleanup() {
	stop_pid "$RUN_PID"
	stop_pid "$SERVE_PID"
	stop_pid "$UAS_PID"
	nap_close
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nap_init "$OUT_DIR"

build_chatload "$repo" "$OUT_DIR/chatload"
log "results in $OUT_DIR"

# users_csv N FILE: the users `chatload serve --users N` generates, as a users file.
users_csv() {
	awk -v n="$1" 'BEGIN { print "uri,username,password"; for (i = 1; i <= n; i++) printf "sip:user%04d@example.test,,pass%04d\n", i, i }' >"$2"
}

# serve_start DIR USERS ROOMS: start `chatload serve` on a free loopback UDP port;
# sets SERVE_PID and SERVE_PORT. serve_stop: interrupt it (it writes DIR/serve-stats.json).
serve_start() {
	local dir=$1 i
	SERVE_PORT=$(pick_ports 2) || die "no free port in 15000-16999"
	(cd "$dir" && exec "$CHATLOAD_BIN" serve --listen "udp:127.0.0.1:$SERVE_PORT" --users "$2" --rooms "$3" \
		--stats "$dir/serve-stats.json" </dev/null >"$dir/serve.stdout" 2>"$dir/serve.stderr") &
	SERVE_PID=$!
	for ((i = 0; i < 150; i++)); do
		ss -Hlun 2>/dev/null | awk -v p="127.0.0.1:$SERVE_PORT" '$4 == p { f = 1 } END { exit !f }' && return 0
		alive "$SERVE_PID" || die "chatload serve exited: $(tail -3 "$dir/serve.stderr")"
		nap 0.1
	done
	die "chatload serve not listening on 127.0.0.1:$SERVE_PORT after 15 s"
}
serve_stop() { stop_pid "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=""; }

# cl_run DIR TIMEOUT_S ARGS...: run `chatload run ARGS` in the background, sampling
# once a second its VmRSS and the phase of its last progress line (stderr, when not
# --quiet) into DIR/rss.tsv ("seconds rss_kib phase progress_lines server_rss_kib",
# the last when SERVE_PID is set); stop it after TIMEOUT_S. Sets CL_RC.
cl_run() {
	local dir=$1 tmo=$2 t0=$SECONDS lines phase next
	shift 2
	(cd "$dir" && exec "$CHATLOAD_BIN" run "$@" </dev/null >"$dir/stdout" 2>"$dir/stderr") &
	RUN_PID=$!
	: >"$dir/rss.tsv"
	next=$SECONDS
	while alive "$RUN_PID"; do
		if ((SECONDS >= next)); then
			read -r lines phase < <(awk '/^(setup|steady|drain|teardown) / { n++; p = $1 } END { print n + 0, (p == "" ? "-" : p) }' "$dir/stderr" 2>/dev/null)
			echo "$((SECONDS - t0)) $(rss_kib "$RUN_PID") ${phase:--} ${lines:-0} $(if [[ -n $SERVE_PID ]]; then rss_kib "$SERVE_PID"; fi)" >>"$dir/rss.tsv"
			next=$((SECONDS + 1))
		fi
		if ((SECONDS - t0 > tmo)); then
			log "chatload run still running after ${tmo}s: interrupting it"
			stop_pid "$RUN_PID"
		fi
		nap 0.2
	done
	wait "$RUN_PID"
	CL_RC=$?
	RUN_PID=""
}

# jr FILE FILTER: jq -r on a report, "NA" when the report is missing.
jr() { if [[ -s $1 ]]; then jq -r "$2" "$1"; else echo NA; fi; }

SUMMARY=$OUT_DIR/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

say "chatload e2e benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg), chatload $("$CHATLOAD_BIN" version 2>/dev/null | head -1)"

# --- throughput ----------------------------------------------------------------------
section_throughput() {
	local idx=0 rate mode order dir users
	users=$OUT_DIR/users-$((2 * E2E_PAIRS)).csv
	users_csv $((2 * E2E_PAIRS)) "$users"
	printf 'mode\trate\tachieved\tdelivered_per_s\tdelivered\tlost\tdup\tp50_ms\tp99_ms\tgen_cpu_s\tgen_cpu_us_per_msg\tserver_cpu_us_per_msg\tlag_p99_ms\tmax_rss_mib\trc\n' >"$OUT_DIR/throughput.tsv"
	for rate in $E2E_RATES; do
		if ((idx % 2 == 0)); then order="embedded serve"; else order="serve embedded"; fi
		for mode in $order; do
			dir=$OUT_DIR/throughput/$mode-$rate
			mkdir -p "$dir"
			local srv_cpu="-" t0 t1
			if [[ $mode == embedded ]]; then
				# In the generator's process, as this section has always measured it (the
				# default is a child process now: bench/embedded compares the three).
				CHATLOAD_EMBEDDED=in-process cl_run "$dir" $((E2E_SECONDS + 90)) --scenario steady --pairs "$E2E_PAIRS" --rate "$rate/s" \
					--duration "${E2E_SECONDS}s" --out "$dir/report.json" --quiet
			else
				serve_start "$dir" $((2 * E2E_PAIRS)) "$E2E_PAIRS"
				t0=$(stat_ticks "$SERVE_PID")
				cl_run "$dir" $((E2E_SECONDS + 90)) --scenario steady --target "127.0.0.1:$SERVE_PORT" --users-file "$users" \
					--pairs "$E2E_PAIRS" --rate "$rate/s" --duration "${E2E_SECONDS}s" --out "$dir/report.json" --quiet
				t1=$(stat_ticks "$SERVE_PID")
				serve_stop
				srv_cpu=$(jr "$dir/report.json" ".messages.delivered" | awk -v a="$t0" -v b="$t1" '{ if ($1 > 0 && b != "") printf "%.1f", (b - a) * 10000 / $1; else print "NA" }')
			fi
			jq -r --arg mode "$mode" --arg rate "$rate" --arg d "$E2E_SECONDS" --arg srv "$srv_cpu" --arg rc "$CL_RC" \
				'[$mode, $rate, (.load.achieved_rate | . * 10 | round / 10), ((.messages.delivered / ($d | tonumber)) | . * 10 | round / 10),
				.messages.delivered, .messages.lost, .messages.duplicated,
				((.operations.delivery.latency_us.p50 // 0) / 1000 | . * 1000 | round / 1000),
				((.operations.delivery.latency_us.p99 // 0) / 1000 | . * 1000 | round / 1000),
				(.generator.cpu_seconds | . * 1000 | round / 1000),
				(if .messages.delivered > 0 then (.generator.cpu_seconds * 1e6 / .messages.delivered | . * 10 | round / 10) else "NA" end),
				$srv, (.generator.schedule_lag_p99_us / 1000 | . * 1000 | round / 1000),
				(.generator.max_rss_bytes / 1048576 | . * 10 | round / 10), $rc] | @tsv' "$dir/report.json" >>"$OUT_DIR/throughput.tsv" 2>/dev/null ||
				printf '%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\t%s\tNA\tNA\t%s\n' "$mode" "$rate" "$srv_cpu" "$CL_RC" >>"$OUT_DIR/throughput.tsv"
			log "throughput $mode $rate/s: $(tail -1 "$OUT_DIR/throughput.tsv" | cut -f3-9 | tr '\t' ' ')"
		done
		idx=$((idx + 1))
	done
	say ""
	say "Throughput: steady, $E2E_PAIRS pairs (a room each), ${E2E_SECONDS}s per run; embedded = server in the generator's process (generator CPU includes the server), serve = out-of-process 'chatload serve' (generator CPU excludes it)"
	awk -F'\t' 'NR == 1 { next } { printf "%-9s %6s %9s %11s %8s %5s %5s %8s %8s %8s %10s %10s %8s %7s %3s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 }
		BEGIN { printf "%-9s %6s %9s %11s %8s %5s %5s %8s %8s %8s %10s %10s %8s %7s %3s\n", "mode", "rate/s", "achieved", "delivered/s", "deliv", "lost", "dup", "p50 ms", "p99 ms", "gen CPU", "gen us/msg", "srv us/msg", "lag p99", "RSS MiB", "rc" }' \
		"$OUT_DIR/throughput.tsv" | tee -a "$SUMMARY"
}

# --- memory per logged-on user ----------------------------------------------------------
# idle_rss DIR [COLUMN]: VmRSS (KiB; column 2 the generator's, 5 the server's) at the
# first sample after the last "steady" progress line appeared: within a second of a
# moment the engine said steady (users logged on and joined, posting at MEM_RATE),
# never in the teardown that may follow the line.
idle_rss() {
	awk -v c="${2:-2}" '$3 == "steady" && $4 != seen && $c != "" { v = $c; seen = $4 } END { print v + 0 }' "$1/rss.tsv"
}

section_memory() {
	local dir=$OUT_DIR/memory pairs=$((MEM_USERS / 2)) users
	mkdir -p "$dir"
	users=$dir/users-$MEM_USERS.csv
	users_csv "$MEM_USERS" "$users"
	serve_start "$dir" "$MEM_USERS" "$pairs"
	local base_rss=0 base_max=0
	if [[ $MEM_BASELINE == 1 ]]; then
		mkdir -p "$dir/baseline"
		cl_run "$dir/baseline" $((MEM_SECONDS + 120)) --scenario steady --target "127.0.0.1:$SERVE_PORT" --users-file "$users" \
			--pairs 1 --rate "$MEM_RATE" --duration "${MEM_SECONDS}s" --out "$dir/baseline/report.json"
		base_rss=$(idle_rss "$dir/baseline")
		base_max=$(jr "$dir/baseline/report.json" '.generator.max_rss_bytes')
	fi
	mkdir -p "$dir/full"
	local t0=$SECONDS
	cl_run "$dir/full" $((MEM_SECONDS + 300)) --scenario steady --target "127.0.0.1:$SERVE_PORT" --users-file "$users" \
		--pairs "$pairs" --rate "$MEM_RATE" --duration "${MEM_SECONDS}s" --out "$dir/full/report.json"
	local wall=$((SECONDS - t0)) srv_rss
	srv_rss=$(idle_rss "$dir/full" 5)
	serve_stop
	local rss max reg regerr logon_p99
	rss=$(idle_rss "$dir/full")
	max=$(jr "$dir/full/report.json" '.generator.max_rss_bytes')
	reg=$(jr "$dir/full/report.json" '.operations.register.count // 0')
	regerr=$(jr "$dir/full/report.json" '((.operations.register.errors // 0) + (.operations.join.errors // 0))')
	logon_p99=$(jr "$dir/full/report.json" '((.operations.register.latency_us.p99 // 0) / 1000 | . * 100 | round / 100)')
	say ""
	say "Memory: $MEM_USERS users logged on and joined ($pairs pairs, a room each), posting $MEM_RATE for ${MEM_SECONDS}s, against out-of-process 'chatload serve --users $MEM_USERS --rooms $pairs' (run rc $CL_RC, wall ${wall}s, $reg registrations, $regerr register/join errors, register p99 ${logon_p99} ms)"
	awk -v rss="$rss" -v max="$max" -v brss="$base_rss" -v bmax="$base_max" -v n="$MEM_USERS" -v srv="$srv_rss" 'BEGIN {
		printf "  generator VmRSS idle (last steady sample): %.1f MiB = %.1f KiB per user (total / %d)\n", rss / 1024, rss / n, n
		if (max != "NA") printf "  generator max_rss_bytes (report):          %.1f MiB = %.1f KiB per user\n", max / 1048576, max / 1024 / n
		if (brss > 0) printf "  baseline (1 pair) idle VmRSS %.1f MiB, max_rss %.1f MiB: marginal %.1f KiB per logged-on user (idle), %.1f KiB (max_rss)\n",
			brss / 1024, bmax / 1048576, (rss - brss) / (n - 2), (max - bmax) / 1024 / (n - 2)
		printf "  server (chatload serve) VmRSS at the same time: %.1f MiB\n", srv / 1024
		printf "  target: 10,000 logged-on idle users under 500 MiB RSS: %s (max_rss %.1f MiB)\n", (n == 10000 ? (max / 1048576 < 500 && rss / 1024 < 500 ? "PASS" : "FAIL") : "n/a (MEM_USERS != 10000)"), max / 1048576
	}' | tee -a "$SUMMARY"
}

# --- rate accuracy ------------------------------------------------------------------
section_accuracy() {
	local dir=$OUT_DIR/accuracy base rate
	mkdir -p "$dir/uas"
	ensure_sipp || die "accuracy needs sipp (apt-get install sip-tester)"
	base=$(pick_ports 20) || die "no free ports in 15000-16999"
	# The vs-sipp UAS without its hold: answer and forget (cheapest for the server).
	sed '/<pause /d' "$here/../vs-sipp/uas_message.xml" >"$dir/uas/uas_message.xml"
	(cd "$dir/uas" && exec sipp -sf uas_message.xml -i 127.0.0.1 -p "$base" -cp $((base + 1)) -mp $((base + 10)) \
		-buff_size 4194304 -nostdin -trace_stat -stf uas_stat.csv -fd 5 </dev/null >uas.screen 2>uas.stderr) &
	UAS_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do
		ss -Hlun 2>/dev/null | awk -v p="127.0.0.1:$base" '$4 == p { f = 1 } END { exit !f }' && break
		alive "$UAS_PID" || die "the SIPp UAS exited: $(tail -3 "$dir/uas/uas.stderr")"
		nap 0.1
	done
	printf 'target\treported_target\tachieved\terror_pct\tsent\tdropped\tfailures\tlag_p99_us\tsend_p99_ms\tgen_cpu_s\trc\n' >"$OUT_DIR/accuracy.tsv"
	for rate in $ACC_RATES; do
		mkdir -p "$dir/$rate"
		cl_run "$dir/$rate" $((ACC_SECONDS + 60)) --scenario message --no-register --to "sip:service@127.0.0.1:$base" \
			--target "127.0.0.1:$base" --users "$ACC_USERS" --rate "$rate/s" --duration "${ACC_SECONDS}s" \
			--out "$dir/$rate/report.json" --quiet
		jq -r --arg r "$rate" --arg rc "$CL_RC" '[$r, (.load.target_rate | . * 100 | round / 100), (.load.achieved_rate | . * 100 | round / 100),
			((.load.achieved_rate / ($r | tonumber) - 1) * 100 | . * 100 | round / 100),
			(.operations.send.count // 0), .load.dropped, ([.failures[]?.count] | add // 0),
			.generator.schedule_lag_p99_us, ((.operations.send.latency_us.p99 // 0) / 1000 | . * 1000 | round / 1000),
			(.generator.cpu_seconds | . * 1000 | round / 1000), $rc] | @tsv' "$dir/$rate/report.json" >>"$OUT_DIR/accuracy.tsv" 2>/dev/null ||
			printf '%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\t%s\n' "$rate" "$CL_RC" >>"$OUT_DIR/accuracy.tsv"
		log "accuracy $rate/s: $(tail -1 "$OUT_DIR/accuracy.tsv" | cut -f2-8 | tr '\t' ' ')"
	done
	stop_pid "$UAS_PID"
	wait "$UAS_PID" 2>/dev/null
	UAS_PID=""
	say ""
	say "Rate accuracy: message scenario (--no-register, $ACC_USERS users) against a SIPp UAS (MESSAGE -> 200), ${ACC_SECONDS}s per rate; error = achieved / configured target - 1"
	awk -F'\t' 'BEGIN { printf "%8s %10s %10s %8s %8s %7s %7s %11s %11s %8s %3s\n", "target/s", "report tgt", "achieved", "error %", "sent", "dropped", "fail", "lag p99 us", "send p99 ms", "gen CPU", "rc" }
		NR == 1 { next }
		{ printf "%8s %10s %10s %8s %8s %7s %7s %11s %11s %8s %3s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
		  e = $4 < 0 ? -$4 : $4; if ($4 == "NA" || e > 1) bad = bad " " $1 "/s"; if ($1 == 5000) lag = $8; rs = rs " " $1 }
		END {
			printf "target: achieved within 1%% of target from 10/s to 10,000/s: %s (rates measured:%s)\n", (bad == "" ? "PASS" : "FAIL (off at" bad ")"), rs
			if (lag != "") printf "target: schedule lag p99 under 2 ms at 5,000/s: %s (%.0f us)\n", (lag != "NA" && lag < 2000 ? "PASS" : "FAIL"), lag
		}' "$OUT_DIR/accuracy.tsv" | tee -a "$SUMMARY"
}

# --- long: memory flatness ---------------------------------------------------------------
section_long() {
	local dir=$OUT_DIR/long users
	mkdir -p "$dir"
	users=$dir/users.csv
	users_csv $((2 * LONG_PAIRS)) "$users"
	serve_start "$dir" $((2 * LONG_PAIRS)) "$LONG_PAIRS"
	log "long: steady at $LONG_RATE/s for $LONG_MINUTES minutes"
	cl_run "$dir" $((LONG_MINUTES * 60 + 120)) --scenario steady --target "127.0.0.1:$SERVE_PORT" --users-file "$users" \
		--pairs "$LONG_PAIRS" --rate "$LONG_RATE/s" --duration "${LONG_MINUTES}m" --out "$dir/report.json" --quiet
	serve_stop
	say ""
	say "Memory flatness: steady at $LONG_RATE/s for $LONG_MINUTES min against 'chatload serve' (rc $CL_RC); generator VmRSS near the end of each minute (the first sample at or after 60k-5 s; the server's beside it)"
	awk -v m="$LONG_MINUTES" '{ k = int(($1 + 5) / 60); if (k >= 1 && k <= m && !(k in g) && $2 != "") { g[k] = $2; sv[k] = $5 } }
		END {
			for (i = 1; i <= m; i++) if (i in g) printf "  minute %2d: generator %7.1f MiB   server %7.1f MiB\n", i, g[i] / 1024, sv[i] / 1024
			if ((2 in g) && (m in g) && g[2] > 0) printf "target: RSS at minute %d within 10%% of minute 2: %s (%.1f -> %.1f MiB, %+.1f%%)\n", m,
				((g[m] - g[2]) / g[2] <= 0.10 && (g[m] - g[2]) / g[2] >= -0.10 ? "PASS" : "FAIL"), g[2] / 1024, g[m] / 1024, (g[m] / g[2] - 1) * 100
		}' "$dir/rss.tsv" | tee -a "$SUMMARY"
	jq -r '"  report: delivered \(.messages.delivered), lost \(.messages.lost), achieved \(.load.achieved_rate | . * 10 | round / 10)/s, delivery p99 \(.operations.delivery.latency_us.p99 / 1000 | . * 1000 | round / 1000) ms, max_rss \(.generator.max_rss_bytes / 1048576 | . * 10 | round / 10) MiB, CPU \(.generator.cpu_seconds | . * 100 | round / 100) s (\(if .messages.delivered > 0 then (.generator.cpu_seconds * 1e6 / .messages.delivered | round) else "-" end) us per delivered message)"' \
		"$dir/report.json" 2>/dev/null | tee -a "$SUMMARY"
}

for s in $SECTIONS; do
	case $s in
	throughput | memory | accuracy | long) "section_$s" ;;
	*) die "unknown section '$s' (throughput, memory, accuracy, long)" ;;
	esac
done
say ""
say "raw files: $OUT_DIR (summary.txt, *.tsv, per-run report.json, rss.tsv, stdout, stderr)"

#!/usr/bin/env bash
# bench/embedded/run.sh: where should the embedded server run? `chatload run
# --scenario steady` without --target at EMB_RATES, EMB_SECONDS each, in three
# modes, interleaved (the order rotates every round, EMB_ROUNDS rounds), all on
# 127.0.0.1:
#   child    the default: the embedded server as a `chatload serve` child process
#   serve    a separately started `chatload serve`, then run --target/--users-file
#            (the reference: what a user measuring a real server does)
#   inproc   CHATLOAD_EMBEDDED=in-process: the server inside the generator (the
#            default before child processes)
# Per run: the generator's schedule lag p99 and the delivery p99 (report JSON), and
# the server's CPU (child: the report's target.server; serve: its --stats). Printed:
# every run, then per rate and mode the median, and the ratios child/serve and
# inproc/serve of the medians (the machine is shared: ratios of interleaved runs are
# the figures to trust).
#
# Usage:  bench/embedded/run.sh                     (defaults: about 6 minutes)
# Environment: EMB_RATES="500 1000 2000" EMB_SECONDS=10 EMB_ROUNDS=3 EMB_MODES="child serve inproc"
#              OUT_DIR= (default: a new /tmp dir, kept and printed) CHATLOAD_BIN= (skip go build)
#              EMB_SUMMARY_ONLY=1 OUT_DIR=DIR: print the summary of DIR/runs.tsv again, no runs
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BENCH_NAME=embedded
# shellcheck source=../lib.sh
. "$here/../lib.sh"

EMB_RATES=${EMB_RATES:-"500 1000 2000"}
EMB_SECONDS=${EMB_SECONDS:-10}
EMB_ROUNDS=${EMB_ROUNDS:-3}
EMB_MODES=${EMB_MODES:-"child serve inproc"}
PAIRS=10 # steady's default: 20 users, a room per pair

isint() { [[ $1 =~ ^[0-9]+$ ]]; }
isint "$EMB_SECONDS" && ((EMB_SECONDS >= 1 && EMB_SECONDS <= 300)) || bench_die "EMB_SECONDS: 1..300"
[[ ${EMB_SUMMARY_ONLY:-0} == 1 ]] || isint "$EMB_ROUNDS" && ((EMB_ROUNDS >= 1 && EMB_ROUNDS <= 20)) || bench_die "EMB_ROUNDS: 1..20"
for r in $EMB_RATES; do isint "$r" && ((r >= 1 && r <= 20000)) || bench_die "bad rate '$r'"; done
for m in $EMB_MODES; do [[ $m == child || $m == serve || $m == inproc ]] || bench_die "bad mode '$m'"; done
command -v jq >/dev/null 2>&1 || bench_die "jq is needed to read chatload's JSON report (apt-get install jq)"

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-embedded.XXXXXX)}
mkdir -p "$OUT_DIR" || bench_die "cannot create $OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

RUN_PID=""
SERVE_PID=""
cleanup() {
	stop_pid "$RUN_PID"
	stop_pid "$SERVE_PID"
	nap_close
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nap_init "$OUT_DIR"
build_chatload "$repo" "$OUT_DIR/chatload"
bench_log "results in $OUT_DIR"

users=$OUT_DIR/users.csv
awk -v n=$((2 * PAIRS)) 'BEGIN { print "uri,username,password"; for (i = 1; i <= n; i++) printf "sip:user%04d@example.test,,pass%04d\n", i, i }' >"$users"

# run_bounded DIR TIMEOUT ENV... -- ARGS: chatload run in the background, interrupted after TIMEOUT s.
run_bounded() {
	local dir=$1 tmo=$2 t0=$SECONDS
	shift 2
	local -a envs=()
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done
	shift
	(cd "$dir" && exec env "${envs[@]}" "$CHATLOAD_BIN" run "$@" </dev/null >"$dir/stdout" 2>"$dir/stderr") &
	RUN_PID=$!
	while alive "$RUN_PID"; do
		((SECONDS - t0 > tmo)) && { bench_log "run in $dir over ${tmo}s: interrupting"; stop_pid "$RUN_PID"; }
		nap 0.2
	done
	wait "$RUN_PID"
	RUN_PID=""
}

serve_start() {
	local dir=$1 i
	SERVE_PORT=$(pick_ports 2) || bench_die "no free port in 15000-16999"
	(cd "$dir" && exec "$CHATLOAD_BIN" serve --listen "udp:127.0.0.1:$SERVE_PORT" --users $((2 * PAIRS)) --rooms "$PAIRS" \
		--stats "$dir/serve-stats.json" </dev/null >"$dir/serve.stdout" 2>"$dir/serve.stderr") &
	SERVE_PID=$!
	for ((i = 0; i < 150; i++)); do
		grep -q "^serving until interrupted" "$dir/serve.stdout" 2>/dev/null && return 0
		alive "$SERVE_PID" || bench_die "chatload serve exited: $(tail -3 "$dir/serve.stderr")"
		nap 0.1
	done
	bench_die "chatload serve not serving after 15 s"
}

TSV=$OUT_DIR/runs.tsv
if [[ ${EMB_SUMMARY_ONLY:-0} == 1 ]]; then
	[[ -s $TSV ]] || bench_die "EMB_SUMMARY_ONLY=1: no $TSV"
	EMB_ROUNDS=0 # summarize the runs already there
else
	printf "round\trate\tmode\tlag_p99_ms\tdelivery_p99_ms\tlost\tgen_cpu_s\tserver_cpu_s\tload1\n" >"$TSV"
fi
read -r -a modes <<<"$EMB_MODES"
nmodes=${#modes[@]}
step=0
for ((round = 1; round <= EMB_ROUNDS; round++)); do
	for rate in $EMB_RATES; do
		for ((k = 0; k < nmodes; k++)); do
			mode=${modes[$(((k + step) % nmodes))]}
			dir=$OUT_DIR/r$round-$rate-$mode
			mkdir -p "$dir"
			common=(--scenario steady --rate "$rate/s" --duration "${EMB_SECONDS}s" --quiet --out "$dir/report.json")
			load1=$(cut -d' ' -f1 /proc/loadavg)
			case $mode in
			child) run_bounded "$dir" $((EMB_SECONDS + 90)) CHATLOAD_EMBEDDED= -- "${common[@]}" ;;
			inproc) run_bounded "$dir" $((EMB_SECONDS + 90)) CHATLOAD_EMBEDDED=in-process -- "${common[@]}" ;;
			serve)
				serve_start "$dir"
				run_bounded "$dir" $((EMB_SECONDS + 90)) CHATLOAD_EMBEDDED= -- "${common[@]}" \
					--target "127.0.0.1:$SERVE_PORT" --users-file "$users"
				stop_pid "$SERVE_PID"
				wait "$SERVE_PID" 2>/dev/null
				SERVE_PID=""
				;;
			esac
			r=$dir/report.json
			if [[ -s $r ]]; then
				if [[ $mode == serve ]]; then
					scpu=$(jq -r '.cpu_seconds // "NA"' "$dir/serve-stats.json" 2>/dev/null || echo NA)
				else
					scpu=$(jq -r '.target.server.cpu_seconds // "NA"' "$r")
				fi
				jq -r --arg round "$round" --arg rate "$rate" --arg mode "$mode" --arg scpu "$scpu" --arg l "$load1" \
					'[$round, $rate, $mode, (.generator.schedule_lag_p99_us / 10 | round / 100 | tostring),
					  (.operations.delivery.latency_us.p99 / 10 | round / 100 | tostring), (.messages.lost | tostring),
					  (.generator.cpu_seconds | tostring), $scpu, $l] | join("\t")' "$r" >>"$TSV"
			else
				printf "%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\t%s\n" "$round" "$rate" "$mode" "$load1" >>"$TSV"
			fi
			tail -1 "$TSV" >&2
		done
		step=$((step + 1))
	done
done

{
	if [[ ${EMB_SUMMARY_ONLY:-0} == 1 ]]; then
		echo "chatload bench/embedded: summary of $TSV (the load average of each run is its last column)"
	else
		echo "chatload bench/embedded, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), steady $PAIRS pairs, ${EMB_SECONDS}s per run, $EMB_ROUNDS rounds"
	fi
	column -t "$TSV"
	echo
	echo "medians per rate and mode (lag p99 ms / delivery p99 ms), ratio of the medians to serve's:"
	awk -F'\t' 'NR > 1 && $4 != "NA" { k = $2 SUBSEP $3; n[k]++; lag[k, n[k]] = $4; del[k, n[k]] = $5; rates[$2] = 1; modes[$3] = 1 }
	function med(a, k, c,   i, j, t, v) {
		for (i = 1; i <= c; i++) v[i] = a[k, i] + 0
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
	}
	END {
		for (r in rates) {
			line = r "/s:"
			sk = r SUBSEP "serve"
			sl = (sk in n) ? med(lag, sk, n[sk]) : 0; sd = (sk in n) ? med(del, sk, n[sk]) : 0
			split("child serve inproc", order, " ")
			for (i = 1; i <= 3; i++) {
				m = order[i]; k = r SUBSEP m
				if (!(k in n)) continue
				l = med(lag, k, n[k]); d = med(del, k, n[k])
				line = line sprintf("  %s %.2f / %.2f", m, l, d)
				if (m != "serve" && sl > 0) line = line sprintf(" (x%.2f / x%.2f)", l / sl, d / sd)
			}
			print line
		}
	}' "$TSV" | sort -n
	echo
	echo "median over rounds of the ratio to serve's run of the same round (lag p99 / delivery p99):"
	awk -F'\t' 'NR > 1 && $4 != "NA" { lag[$1, $2, $3] = $4; del[$1, $2, $3] = $5; rates[$2] = 1; rounds[$1] = 1 }
	function med(v, c,   i, j, t) {
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
	}
	END {
		for (r in rates) {
			line = r "/s:"
			split("child inproc", order, " ")
			for (i = 1; i <= 2; i++) {
				m = order[i]; n = 0; delete a; delete b
				for (k in rounds) if (((k, r, m) in lag) && ((k, r, "serve") in lag) && lag[k, r, "serve"] > 0 && del[k, r, "serve"] > 0) {
					n++; a[n] = lag[k, r, m] / lag[k, r, "serve"]; b[n] = del[k, r, m] / del[k, r, "serve"]
				}
				if (n > 0) line = line sprintf("  %s x%.2f / x%.2f (%d rounds)", m, med(a, n), med(b, n), n)
			}
			print line
		}
	}' "$TSV" | sort -n
} | tee "$OUT_DIR/summary.txt"

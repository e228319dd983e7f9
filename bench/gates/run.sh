#!/usr/bin/env bash
# bench/gates/run.sh: does `chatload compare` cry wolf, and does it catch real changes?
#
# Three `chatload serve` processes on loopback: A (no fault), D20 (--fault-delay 20ms)
# and DS (a small delay: SMALL_SHARE, default 25%, of the median per-interval delivery
# p99 of CALIB calibration runs against A, so that NEW's delivery p99 is about +25%). Then
# PAIRS slots; in every other slot a CPU hog (a shell busy loop, bounded by `timeout`)
# runs for the whole slot: other load on top of whatever the machine is doing. Each
# slot runs, interleaved, RUNS times: a run against A (the BASE side), another against
# A (the A/A NEW side), one against D20 and one against DS, each `chatload run
# --scenario steady --rate RATE --duration RUN_SECONDS --interval 1s`. Compared with the
# default settings (`chatload compare BASE NEW`, exit 0 PASS, 3 REGRESSED, 5
# INCONCLUSIVE):
#   A/A   first BASE run vs first A/A run, and the RUNS vs RUNS runs (--base/--new)
#   D20   first BASE run vs first D20 run, and RUNS vs RUNS
#   DS    first BASE run vs first DS run, and RUNS vs RUNS
# It prints, per comparison and in total, with and without the hog: REGRESSED
# (a false alarm for A/A, a detection for D20 and DS), PASS and INCONCLUSIVE.
#
# Usage:  bench/gates/run.sh                        (20 slots x 4 x 3 runs of 15 s: about 70 minutes)
#         PAIRS=6 bench/gates/run.sh                (a reduced run)
# Environment (all optional):
#   PAIRS=20  RUNS=3  RUN_SECONDS=15  RATE=200  RUN_PAIRS=10  CALIB=3  SMALL_SHARE=25
#   OUT_DIR= (default: a new /tmp dir, kept and printed)  CHATLOAD_BIN= (skip go build)
#   BASELINE_BIN=PATH: also judge the one-run pairs with that chatload's compare (e.g. a
#   release before the noise-aware compare), reported as "baseline".
#   RECOMPARE=DIR: run no load; compare the runs an earlier bench left in DIR again
#   (with this chatload) and print the figures: for the slots that completed.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BENCH_NAME=gates
# shellcheck source=../lib.sh
. "$here/../lib.sh"

PAIRS=${PAIRS:-20}
RUNS=${RUNS:-3}
RUN_SECONDS=${RUN_SECONDS:-15}
RATE=${RATE:-200}
RUN_PAIRS=${RUN_PAIRS:-10}
CALIB=${CALIB:-3}
SMALL_SHARE=${SMALL_SHARE:-25}
for v in PAIRS RUNS RUN_SECONDS RATE RUN_PAIRS CALIB SMALL_SHARE; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || bench_die "$v=${!v}: want a positive integer"
done
RECOMPARE=${RECOMPARE:-}
[[ -z $RECOMPARE ]] || OUT_DIR=$RECOMPARE
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-gates.XXXXXX)}
mkdir -p "$OUT_DIR" || bench_die "cannot create $OUT_DIR"

declare -A SERVE_PID=() SERVE_PORT=()
HOG_PID=""
hog_stop() { [[ -n $HOG_PID ]] && kill "$HOG_PID" 2>/dev/null; [[ -n $HOG_PID ]] && wait "$HOG_PID" 2>/dev/null; HOG_PID=""; }
cleanup() {
	hog_stop
	local n
	for n in "${!SERVE_PID[@]}"; do stop_pid "${SERVE_PID[$n]}"; wait "${SERVE_PID[$n]}" 2>/dev/null; done
	nap_close
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nap_init "$OUT_DIR"

build_chatload "$repo" "$OUT_DIR/chatload"
bench_log "results in $OUT_DIR"
users=$OUT_DIR/users.csv
awk -v n=$((2 * RUN_PAIRS)) 'BEGIN { print "uri,username,password"; for (i = 1; i <= n; i++) printf "sip:user%04d@example.test,,pass%04d\n", i, i }' >"$users"

# serve_start NAME [SERVE FLAGS...]: a `chatload serve` on a free loopback UDP port.
serve_start() {
	local name=$1 i port
	shift
	port=$(pick_ports 1) || bench_die "no free port in 15000-16999"
	"$CHATLOAD_BIN" serve --listen "udp:127.0.0.1:$port" --users $((2 * RUN_PAIRS)) --rooms "$RUN_PAIRS" "$@" \
		</dev/null >"$OUT_DIR/serve-$name.out" 2>&1 &
	SERVE_PID[$name]=$!
	SERVE_PORT[$name]=$port
	for ((i = 0; i < 150; i++)); do
		ss -Hlun 2>/dev/null | awk -v p="127.0.0.1:$port" '$4 == p { f = 1 } END { exit !f }' && return 0
		alive "${SERVE_PID[$name]}" || bench_die "chatload serve $name exited: $(tail -3 "$OUT_DIR/serve-$name.out")"
		nap 0.1
	done
	bench_die "chatload serve $name not listening after 15 s"
}

# one_run SERVER OUT: one measured run; its exit status goes to OUT.rc.
one_run() {
	timeout $((RUN_SECONDS + 120)) "$CHATLOAD_BIN" run --scenario steady --target "127.0.0.1:${SERVE_PORT[$1]}" --users-file "$users" \
		--pairs "$RUN_PAIRS" --rate "$RATE/s" --duration "${RUN_SECONDS}s" --interval 1s --quiet --out "$2" \
		</dev/null >"${2%.json}.out" 2>&1
	echo $? >"${2%.json}.rc"
}

# interval_p99s REPORT: the delivery p99 (microseconds) of each steady interval.
interval_p99s() {
	awk '/"intervals": \[/ { iv = 1 } iv && /"phase":/ { steady = ($0 ~ /"steady"/) }
		iv && steady && /"delivery": \{/ { d = 1 } d && /"p99":/ { gsub(/[",]/, "", $2); print $2; d = 0 }' "$1"
}

results=$OUT_DIR/results.tsv

# compare_slot I HOG: the slot's comparisons, appended to results.tsv.
compare_slot() {
	local i=$1 hog=$2 d=$OUT_DIR/slot-$1 kind n b c
	for kind in aa d20 ds; do
		for n in 1 "$RUNS"; do
			b=$(seq -f "$d/base-%g.json" 1 "$n" | paste -sd,)
			c=$(seq -f "$d/$kind-%g.json" 1 "$n" | paste -sd,)
			"$CHATLOAD_BIN" compare --base "$b" --new "$c" >"$d/compare-$kind-$n.txt" 2>&1
			printf '%d\t%d\t%s\t%d\t%d\n' "$i" "$hog" "$kind" "$n" $? >>"$results"
		done
		if [[ -n ${BASELINE_BIN:-} ]]; then
			"$BASELINE_BIN" compare "$d/base-1.json" "$d/$kind-1.json" >"$d/compare-$kind-baseline.txt" 2>&1
			printf '%d\t%d\t%s\t%s\t%d\n' "$i" "$hog" "$kind" baseline $? >>"$results"
		fi
	done
}

if [[ -n $RECOMPARE ]]; then
	read -r small_us median <"$OUT_DIR/small-delay.txt" || bench_die "$OUT_DIR/small-delay.txt: not a bench directory"
	printf 'slot\thog\tcompare\truns\texit\n' >"$results"
	PAIRS=0
	for ((i = 1; ; i++)); do
		[[ -f $OUT_DIR/slot-$i/ds-$RUNS.json ]] || break
		compare_slot "$i" $((i % 2 == 0 ? 1 : 0))
		PAIRS=$i
	done
	((PAIRS > 0)) || bench_die "no complete slot in $OUT_DIR"
else

serve_start A
bench_log "calibrating: $CALIB runs against A"
for ((k = 1; k <= CALIB; k++)); do
	one_run A "$OUT_DIR/calib-$k.json"
	interval_p99s "$OUT_DIR/calib-$k.json"
done >"$OUT_DIR/calib-p99.txt"
median=$(sort -g "$OUT_DIR/calib-p99.txt" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
[[ -n $median ]] || bench_die "calibration gave no interval delivery p99 (see $OUT_DIR/calib-*.out)"
small_us=$(awk -v m="$median" -v s="$SMALL_SHARE" 'BEGIN { printf "%d", m * s / 100 }')
bench_log "calibration: median per-interval delivery p99 $median us over $(wc -l <"$OUT_DIR/calib-p99.txt") intervals; small delay ${small_us}us (+$SMALL_SHARE%)"
echo "$small_us $median" >"$OUT_DIR/small-delay.txt"
serve_start D20 --fault-delay 20ms
serve_start DS --fault-delay "${small_us}us"

printf 'slot\thog\tcompare\truns\texit\n' >"$results"
t0=$SECONDS
for ((i = 1; i <= PAIRS; i++)); do
	hog=0
	if ((i % 2 == 0)); then
		hog=1
		timeout $((RUNS * 4 * (RUN_SECONDS + 30) + 60)) sh -c 'while :; do :; done' &
		HOG_PID=$!
	fi
	d=$OUT_DIR/slot-$i
	mkdir -p "$d"
	for ((k = 1; k <= RUNS; k++)); do
		one_run A "$d/base-$k.json"
		one_run A "$d/aa-$k.json"
		one_run D20 "$d/d20-$k.json"
		one_run DS "$d/ds-$k.json"
	done
	hog_stop
	compare_slot "$i" "$hog"
	bench_log "slot $i/$PAIRS (hog $hog) done after $((SECONDS - t0)) s: $(awk -v s="$i" -F'\t' '$1 == s { printf "%s/%s:%s ", $3, $4, $5 }' "$results")"
done

fi

# Run exit statuses (5: the generator did not hold its schedule).
runs_total=$(cat "$OUT_DIR"/slot-*/*.rc | wc -l)
runs_not0=$(cat "$OUT_DIR"/slot-*/*.rc | grep -cv '^0$')

echo
echo "chatload compare on this machine: $PAIRS slots (hog in $((PAIRS / 2))), $RUNS runs per side, ${RUN_SECONDS}s runs at $RATE/s, --interval 1s"
echo "small change: --fault-delay ${small_us}us = $SMALL_SHARE% of the calibration runs' median per-interval delivery p99 ($median us)"
echo "runs: $runs_total, exit status other than 0: $runs_not0"
echo
awk -F'\t' -v pairs="$PAIRS" '
NR > 1 {
	k = $3 "\t" $4; n[k]++; if ($2) nh[k]++
	if ($5 == 3) { reg[k]++; if ($2) regh[k]++ }
	else if ($5 == 0) pass[k]++
	else if ($5 == 5) inc[k]++
	else other[k]++
}
END {
	printf "%-58s %5s %9s %9s %12s %6s %s\n", "comparison", "pairs", "REGRESSED", "PASS", "INCONCLUSIVE", "other", "(REGRESSED with hog)"
	split("aa d20 ds", kinds, " ")
	name["aa"] = "A/A (false alarm)"; name["d20"] = "A/B 20 ms delay (detection)"; name["ds"] = "A/B small delay (detection)"
	for (j = 1; j <= 3; j++) for (m = 0; m < 2; m++) {
		kk = kinds[j]
		for (key in n) { split(key, f, "\t"); if (f[1] != kk) continue; if ((m == 0 && f[2] != 1) || (m == 1 && (f[2] == 1 || f[2] == "baseline"))) continue
			printf "%-58s %5d %9d %9d %12d %6d %d of %d\n", name[kk] ", " f[2] " run(s)/side", n[key], reg[key], pass[key], inc[key], other[key], regh[key], nh[key] }
		if (m == 1) for (key in n) { split(key, f, "\t"); if (f[1] != kk || f[2] != "baseline") continue
			printf "%-58s %5d %9d %9d %12d %6d %d of %d\n", name[kk] ", baseline compare, 1 run/side", n[key], reg[key], pass[key], inc[key], other[key], regh[key], nh[key] }
	}
}' "$results"
echo
echo "results: $results; compare outputs: $OUT_DIR/slot-*/compare-*.txt"

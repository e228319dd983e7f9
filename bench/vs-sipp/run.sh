#!/usr/bin/env bash
# bench/vs-sipp/run.sh: chatload's `message` scenario against SIPp's own UAC, both
# sending page-mode MESSAGEs to the SAME SIPp UAS on 127.0.0.1, rate step by rate
# step, the two clients alternating (ABBA: chatload first at even steps, SIPp first
# at odd ones) so that slow drifts of the shared machine hit both alike.
#
# Per client run it measures the CLIENT process's CPU per completed MESSAGE
# transaction, its achieved rate, failures and retransmissions, and the UAS's CPU
# per MESSAGE it received during that run (context: the same UAS serves both).
#
# Usage:  bench/vs-sipp/run.sh            (defaults: about 3.5 minutes)
# Environment (all optional):
#   RATES="500 1000 2000 4000 6000 8000 12000 16000"  rate steps, MESSAGEs/s
#   STEP_SECONDS=10                       duration of each client run
#   UAS_HOLD_MS=1000                      how long the UAS keeps a call after its 200
#                                         (a retransmission within it counts as one)
#   BUFF_SIZE=4194304                     SIPp -buff_size (UAS and UAC); see below
#   POLL_MS=20                            CPU sampling period of a running client
#   MIN_ACHIEVED=0.95                     a step whose achieved rate is below this
#                                         share of the target is not "clean"
#   PORT_BASE=                            first of 40 free UDP ports in 15000-16999
#                                         (default: picked at random, checked free)
#   OUT_DIR=                              where the raw files go (default: new /tmp dir,
#                                         kept and printed at the end)
#   CHATLOAD_BIN=                         use this binary instead of `go build`
#   MAX_SECONDS=420                       the whole script stops starting runs after this
#
# Socket buffers: chatload sets its UDP receive buffer to 4 MiB (SetReadBuffer(4<<20),
# protocol/sipua/ua.go; the kernel doubles it to 8 MiB) and leaves the send buffer at
# the OS default (net.core.wmem_default). SIPp's -buff_size sets both; we pass
# 4194304 so that the receive sides match. No sysctl is changed. The script prints
# what each client's socket really had (ss -m, sampled mid-run) so this can be checked.
#
# CPU: the sum over /proc/PID/task/*/schedstat of the first field (ns on CPU), polled
# every POLL_MS while the client runs; the largest sum seen (the last sample before
# exit, up to POLL_MS early) is used. Cross-checks: utime+stime from /proc/PID/stat
# (same polling, 10 ms ticks) and the exact rusage of the finished process from
# /usr/bin/time. Divided by the MESSAGE transactions the client completed (chatload:
# operations.send.count - errors; SIPp: SuccessfulCall(C)). It includes each tool's
# start-up and exit.
#
# Retransmissions: SIPp counts its own (Retransmissions(C)). chatload's report has no
# retransmission counter, so they are seen at the UAS: MESSAGE retransmissions while
# the call is held (trace_counts 0_MESSAGE_Retrans, SIPp resends its 200), messages
# for calls already finished (DeadCallMsgs(C)), calls created beyond the MESSAGEs the
# client sent, plus datagrams the UAS socket dropped (/proc/net/udp drops: each one
# is a MESSAGE or retransmission the client had to resend). The same UAS-side count
# is shown for SIPp's runs too.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BENCH_NAME=vs-sipp
# shellcheck source=../lib.sh
. "$here/../lib.sh"

RATES=${RATES:-"500 1000 2000 4000 6000 8000 12000 16000"}
STEP_SECONDS=${STEP_SECONDS:-10}
UAS_HOLD_MS=${UAS_HOLD_MS:-1000}
BUFF_SIZE=${BUFF_SIZE:-4194304}
POLL_MS=${POLL_MS:-20}
MIN_ACHIEVED=${MIN_ACHIEVED:-0.95}
MAX_SECONDS=${MAX_SECONDS:-420}
PORT_BASE=${PORT_BASE:-}
CHATLOAD_BIN=${CHATLOAD_BIN:-}

die() { bench_die "$@"; }
log() { bench_log "$@"; }

[[ $STEP_SECONDS =~ ^[0-9]+$ && $STEP_SECONDS -ge 1 && $STEP_SECONDS -le 120 ]] || die "STEP_SECONDS must be 1..120"
[[ $UAS_HOLD_MS =~ ^[0-9]+$ && $UAS_HOLD_MS -le 10000 ]] || die "UAS_HOLD_MS must be 0..10000"
[[ $POLL_MS =~ ^[0-9]+$ && $POLL_MS -ge 1 && $POLL_MS -le 1000 ]] || die "POLL_MS must be 1..1000"
for r in $RATES; do [[ $r =~ ^[0-9]+$ && $r -ge 1 && $r -le 100000 ]] || die "bad rate '$r' in RATES"; done

# --- tools ------------------------------------------------------------------------
ensure_sipp || die "cannot install sipp (apt-get install sip-tester)"
command -v jq >/dev/null 2>&1 || die "jq is needed to read chatload's JSON report (apt-get install jq)"
TIME_BIN=/usr/bin/time
[[ -x $TIME_BIN ]] || TIME_BIN=""   # rusage cross-check only; optional

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/chatload-vs-sipp.XXXXXX)}
mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

# --- cleanup: every process this script starts is recorded and stopped -------------
UAS_PID=""
CLIENT_TPID=""
CLIENT_PID=""
cleanup() {
	stop_pid "$CLIENT_PID"
	stop_pid "$CLIENT_TPID"
	stop_pid "$UAS_PID"
	nap_close
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nap_init "$OUT_DIR"
POLL_S=$(awk -v m="$POLL_MS" 'BEGIN { printf "%.3f", m / 1000 }')

# udp_drops PORT: the drop counter of the 127.0.0.1:PORT UDP socket.
udp_drops() {
	awk -v p="$(printf '0100007F:%04X' "$1")" '$2 == p { print $NF; f = 1 } END { if (!f) print 0 }' /proc/net/udp
}

# pid_udp_drops PID: sum of the drop counters of the UDP sockets the process holds.
pid_udp_drops() {
	find /proc/"$1"/fd -lname 'socket:*' -printf '%l\n' 2>/dev/null |
		awk 'NR == FNR { gsub(/[^0-9]/, ""); in_[$0] = 1; next } FNR > 1 && ($10 in in_) { s += $NF } END { print s + 0 }' - /proc/net/udp
}

# --- ports --------------------------------------------------------------------------
if [[ -z $PORT_BASE ]]; then
	PORT_BASE=$(pick_ports 40) || die "no 40 free ports found in 15000-16999"
fi
[[ $PORT_BASE =~ ^[0-9]+$ && $PORT_BASE -ge 15000 && $PORT_BASE -le 16960 ]] || die "PORT_BASE must be in 15000..16960"
ports_free "$PORT_BASE" 40 || die "ports $PORT_BASE..$((PORT_BASE + 39)) are not all free"
UAS_PORT=$PORT_BASE
UAS_CP=$((PORT_BASE + 1))
UAS_MP=$((PORT_BASE + 10))
UAC_PORT=$((PORT_BASE + 20))
UAC_CP=$((PORT_BASE + 21))
UAC_MP=$((PORT_BASE + 30))

# --- chatload binary (built once) ------------------------------------------------------
build_chatload "$repo" "$OUT_DIR/chatload"

# --- the UAS ------------------------------------------------------------------------
mkdir -p "$OUT_DIR/uas"
sed "s/<pause milliseconds=\"1000\"\/>/<pause milliseconds=\"$UAS_HOLD_MS\"\/>/" "$here/uas_message.xml" >"$OUT_DIR/uas/uas_message.xml"
if [[ $UAS_HOLD_MS -eq 0 ]]; then sed -i '/<pause /d' "$OUT_DIR/uas/uas_message.xml"; fi
(cd "$OUT_DIR/uas" && exec sipp -sf uas_message.xml -i 127.0.0.1 -p "$UAS_PORT" -cp "$UAS_CP" -mp "$UAS_MP" \
	-buff_size "$BUFF_SIZE" -nostdin -trace_stat -stf uas_stat.csv -trace_counts -fd 1 \
	</dev/null >uas.screen 2>uas.stderr) &
UAS_PID=$!
UAS_STAT=$OUT_DIR/uas/uas_stat.csv
for ((i = 0; i < 100; i++)); do
	[[ -s $UAS_STAT ]] && break
	alive "$UAS_PID" || die "the SIPp UAS exited: $(tail -3 "$OUT_DIR/uas/uas.stderr")"
	nap 0.1
done
[[ -s $UAS_STAT ]] || die "the SIPp UAS wrote no statistics in 10 s"
UAS_COUNTS=$(ls "$OUT_DIR"/uas/uas_message_*_counts.csv 2>/dev/null | head -1)
[[ -n $UAS_COUNTS ]] || die "no trace_counts file from the UAS"
log "UAS: sipp pid $UAS_PID on udp 127.0.0.1:$UAS_PORT (hold ${UAS_HOLD_MS} ms, -buff_size $BUFF_SIZE); files in $OUT_DIR"

# csv_field FILE NAME: the named column (';'-separated, header on line 1) of the last line.
csv_field() {
	awk -F';' -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next } { last = $0 }
		END { if (!c) { print "NA"; exit } split(last, a, ";"); v = a[c]; if (v ~ /\t/) { k = split(v, t, "\t"); v = t[k] } print v }' "$1"
}

# uas_snapshot: "created retrans deadcall drops cpu_ns current_calls dump_epoch"
uas_snapshot() {
	local rtcol
	rtcol=$(head -1 "$UAS_COUNTS" | tr ';' '\n' | grep -m1 '_MESSAGE_Retrans$')
	echo "$(csv_field "$UAS_STAT" TotalCallCreated) $(csv_field "$UAS_COUNTS" "$rtcol") $(csv_field "$UAS_STAT" 'DeadCallMsgs(C)') $(udp_drops "$UAS_PORT") $(sched_ns "$UAS_PID") $(csv_field "$UAS_STAT" CurrentCall) $(csv_field "$UAS_STAT" CurrentTime)"
}

# uas_settle SINCE_EPOCH: wait (at most 15 s) for a UAS dump newer than SINCE+hold
# with no call in progress, so that its counters include the whole run.
uas_settle() {
	local since=$1 i cur ts
	for ((i = 0; i < 60; i++)); do
		cur=$(csv_field "$UAS_STAT" CurrentCall)
		ts=$(csv_field "$UAS_STAT" CurrentTime)
		if [[ $cur == 0 ]] && awk -v t="$ts" -v s="$since" -v h="$UAS_HOLD_MS" 'BEGIN { exit !(t > s + h / 1000 + 0.2) }'; then
			nap 0.3
			return 0
		fi
		alive "$UAS_PID" || die "the SIPp UAS died: $(tail -3 "$OUT_DIR/uas/uas.stderr")"
		nap 0.25
	done
	log "warning: UAS still has $cur calls in progress after 15 s"
}

# run_client DIR TIMEOUT_S CMD...: start CMD (under /usr/bin/time when present) in DIR,
# poll its CPU until it exits (stopping it after TIMEOUT_S), write DIR/measure.
run_client() {
	local dir=$1 tmo=$2 i line rest maxns=0 maxticks=0 ns ticks drops=0 d start sampled=0 half
	shift 2
	local -a st
	if [[ -n $TIME_BIN ]]; then
		(cd "$dir" && exec "$TIME_BIN" -f '%e %U %S %M' -o "$dir/rusage" "$@" </dev/null >"$dir/stdout" 2>"$dir/stderr") &
	else
		(cd "$dir" && exec "$@" </dev/null >"$dir/stdout" 2>"$dir/stderr") &
	fi
	CLIENT_TPID=$!
	CLIENT_PID=$CLIENT_TPID
	if [[ -n $TIME_BIN ]]; then
		CLIENT_PID=""
		for ((i = 0; i < 400; i++)); do
			read -r CLIENT_PID _ 2>/dev/null <"/proc/$CLIENT_TPID/task/$CLIENT_TPID/children" || true
			[[ -n $CLIENT_PID ]] && break
			alive "$CLIENT_TPID" || break
			nap 0.005
		done
	fi
	start=$EPOCHREALTIME
	half=$((SECONDS + (STEP_SECONDS + 1) / 2))
	local deadline=$((SECONDS + tmo)) stopped=0 next_drops=$SECONDS
	while alive "$CLIENT_TPID"; do
		if [[ -n $CLIENT_PID ]]; then
			ns=$(sched_ns "$CLIENT_PID")
			((ns > maxns)) && maxns=$ns
			if read -r line 2>/dev/null <"/proc/$CLIENT_PID/stat"; then
				rest=${line##*) }
				read -r -a st <<<"$rest"
				ticks=$((st[11] + st[12]))
				((ticks > maxticks)) && maxticks=$ticks
			fi
			if ((SECONDS >= next_drops)); then
				d=$(pid_udp_drops "$CLIENT_PID")
				((d > drops)) && drops=$d
				next_drops=$((SECONDS + 1))
			fi
			if ((!sampled && SECONDS >= half)); then
				ss -Hunamp 2>/dev/null | grep -A1 "pid=$CLIENT_PID," >"$dir/sockets" || true
				sampled=1
			fi
		fi
		if ((SECONDS > deadline && stopped == 0)); then
			log "client still running after ${tmo}s: stopping it"
			kill -INT "${CLIENT_PID:-$CLIENT_TPID}" 2>/dev/null
			stopped=1
			deadline=$((SECONDS + 10))
		elif ((SECONDS > deadline)); then
			kill -KILL "${CLIENT_PID:-$CLIENT_TPID}" 2>/dev/null
		fi
		nap "$POLL_S"
	done
	wait "$CLIENT_TPID"
	local rc=$?
	local end=$EPOCHREALTIME
	local ru_cpu="NA" ru_rss="NA"
	if [[ -s $dir/rusage ]]; then
		# "Command exited with non-zero status N" may come first: the figures are the last line.
		read -r _ u s m < <(tail -1 "$dir/rusage")
		ru_cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
		ru_rss=$m
	fi
	echo "rc=$rc sched_ns=$maxns stat_ticks=$maxticks rusage_cpu_s=$ru_cpu rusage_maxrss_kib=$ru_rss client_drops=$drops wall_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') end_epoch=$end" >"$dir/measure"
	CLIENT_TPID=""
	CLIENT_PID=""
}

# kv FILE KEY: the value of KEY=... in a measure file.
kv() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

RESULTS=$OUT_DIR/results.tsv
printf 'tool\trate\tachieved\tsent\tcompleted\tfailures\tdropped\tretrans_client\tdup_uas\tdrops_uas\tdrops_client\tcpu_us_msg\tcpu_us_msg_stat\tcpu_us_msg_rusage\tuas_cpu_us_msg\tuas_msgs\trc\n' >"$RESULTS"

one_run() { # TOOL RATE: one client run at RATE, its row appended to results.tsv
	local tool=$1 rate=$2 dir=$OUT_DIR/step-$2/$1 n=$(($2 * STEP_SECONDS)) tmo=$((STEP_SECONDS + 40))
	mkdir -p "$dir"
	local b0 b1
	b0=$(uas_snapshot)
	if [[ $tool == chatload ]]; then
		run_client "$dir" "$tmo" "$CHATLOAD_BIN" run --scenario message --no-register \
			--to "sip:service@127.0.0.1:$UAS_PORT" --target "127.0.0.1:$UAS_PORT" \
			--rate "$rate/s" --duration "${STEP_SECONDS}s" --users 1 --out "$dir/report.json" --quiet
	else
		run_client "$dir" "$tmo" sipp -sf "$here/uac_message.xml" -i 127.0.0.1 -p "$UAC_PORT" -cp "$UAC_CP" -mp "$UAC_MP" \
			-buff_size "$BUFF_SIZE" -r "$rate" -rp 1000 -m "$n" -nostdin -trace_stat -stf "$dir/sipp_stat.csv" \
			-timeout "$((STEP_SECONDS + 35))s" "127.0.0.1:$UAS_PORT"
	fi
	uas_settle "$(kv "$dir/measure" end_epoch)"
	b1=$(uas_snapshot)
	echo "before $b0" >"$dir/uas_delta"
	echo "after  $b1" >>"$dir/uas_delta"

	local achieved sent completed failures dropped retr_client
	if [[ $tool == chatload ]]; then
		if [[ -s $dir/report.json ]]; then
			read -r achieved sent completed failures dropped < <(jq -r '[.load.achieved_rate, (.operations.send.count // 0),
				((.operations.send.count // 0) - (.operations.send.errors // 0)),
				([.failures[]?.count] | add // 0), .load.dropped] | @tsv' "$dir/report.json")
		else
			achieved=0 sent=0 completed=0 failures=NA dropped=NA
		fi
		retr_client=NA
	else
		local st=$dir/sipp_stat.csv
		if [[ -s $st ]]; then
			achieved=$(csv_field "$st" 'CallRate(C)')
			sent=$(csv_field "$st" 'OutgoingCall(C)')
			completed=$(csv_field "$st" 'SuccessfulCall(C)')
			failures=$(csv_field "$st" 'FailedCall(C)')
			retr_client=$(csv_field "$st" 'Retransmissions(C)')
		else
			achieved=0 sent=0 completed=0 failures=NA retr_client=NA
		fi
		dropped=0
	fi
	# UAS-side view: retransmissions while held + dead-call messages + extra calls + socket drops.
	local -a a0 a1
	read -r -a a0 <<<"$b0"
	read -r -a a1 <<<"$b1"
	local dcalls=$((a1[0] - a0[0])) dretr=$((a1[1] - a0[1])) ddead=$((a1[2] - a0[2])) ddrops=$((a1[3] - a0[3])) duas_ns=$((a1[4] - a0[4]))
	local extra=$((dcalls - sent))
	((extra < 0)) && extra=0
	local dup_uas=$((dretr + ddead + extra))
	local m=$dir/measure
	local rc sched ticks ru drops_client
	rc=$(kv "$m" rc)
	sched=$(kv "$m" sched_ns)
	ticks=$(kv "$m" stat_ticks)
	ru=$(kv "$m" rusage_cpu_s)
	drops_client=$(kv "$m" client_drops)
	awk -v tool="$tool" -v rate="$rate" -v ach="$achieved" -v sent="$sent" -v comp="$completed" -v fail="$failures" \
		-v drp="$dropped" -v rc_="$retr_client" -v dup="$dup_uas" -v du="$ddrops" -v dc="$drops_client" \
		-v ns="$sched" -v tk="$ticks" -v ru="$ru" -v uns="$duas_ns" -v um="$dcalls" -v rc="$rc" 'BEGIN {
		c = comp > 0 ? comp : 1
		printf "%s\t%d\t%.1f\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%.2f\t%s\t%.2f\t%d\t%s\n", tool, rate, ach, sent, comp, fail, drp, rc_, dup, du, dc,
			ns / 1000 / c, tk * 10000 / c, (ru == "NA" ? "NA" : sprintf("%.2f", ru * 1e6 / c)), (um > 0 ? uns / 1000 / um : 0), um, rc }' >>"$RESULTS"
	tail -1 "$RESULTS" | awk -F'\t' '{ printf "vs-sipp: %-8s %6d/s: achieved %s/s, completed %s, failures %s, retrans(client) %s, dup@UAS %s, UAS drops %s, CPU %s us/msg\n", $1, $2, $3, $5, $6, $8, $9, $10, $12 }' >&2
}

# --- the steps ------------------------------------------------------------------------
t0=$SECONDS
log "steps: $RATES /s, ${STEP_SECONDS}s each, alternating chatload and SIPp (ABBA)"
# Let the UAS take a first periodic dump so that the baseline is fresh.
nap 1.2
idx=0
for rate in $RATES; do
	if ((SECONDS - t0 > MAX_SECONDS)); then
		log "MAX_SECONDS=$MAX_SECONDS reached: skipping the remaining steps"
		break
	fi
	if ((idx % 2 == 0)); then order="chatload sipp"; else order="sipp chatload"; fi
	for tool in $order; do one_run "$tool" "$rate"; done
	idx=$((idx + 1))
done

# --- tables and summary ----------------------------------------------------------------
echo
echo "chatload vs SIPp: page-mode MESSAGE -> 200 against one SIPp UAS (127.0.0.1:$UAS_PORT), ${STEP_SECONDS}s per run, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU = client process CPU (schedstat ns, all threads) / completed MESSAGE transactions; stat = /proc/PID/stat utime+stime; rusage = /usr/bin/time (exact, whole life)"
echo "retr = retransmissions the client counted itself (SIPp only); dup@UAS = retransmitted/duplicate MESSAGEs seen by the UAS; drop@UAS, drop@cli = datagrams dropped at the UAS's and the client's sockets"
echo "flags: F failures, D dropped by the generator, R retransmissions (retr, dup@UAS or drop@UAS), S achieved < ${MIN_ACHIEVED} x target; none = clean"
awk -F'\t' -v minach="$MIN_ACHIEVED" '
NR == 1 { next }
{
	tool = $1; r = $2
	flags = ""
	if ($6 == "NA" || $6 + 0 > 0 || (tool == "chatload" && $17 != 0)) flags = flags "F"
	if ($7 != "NA" && $7 + 0 > 0) flags = flags "D"
	if (($8 != "NA" && $8 + 0 > 0) || $9 + 0 > 0 || $10 + 0 > 0) flags = flags "R"
	if ($3 + 0 < minach * r) flags = flags "S"
	if (flags == "") flags = "clean"
	row[tool, r] = sprintf("%7d %9.1f %9d %7s %6s %6s %7d %8d %8d %9.2f %9.2f %9s %8.2f", r, $3, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
	fl[tool, r] = flags; cpu[tool, r] = $12
	if (!(r in seen)) { seen[r] = 1; rates[++nr] = r }
}
END {
	split("chatload sipp", tools, " ")
	for (t = 1; t <= 2; t++) {
		tl = tools[t]
		printf "\n%s\n", (tl == "sipp" ? "SIPp UAC (sipp -sf uac_message.xml -r R -rp 1000 -m R*D)" : "chatload (chatload run --scenario message --no-register --users 1)")
		printf "%7s %9s %9s %7s %6s %6s %7s %8s %8s %9s %9s %9s %8s  %s\n", "rate/s", "achieved", "completed", "fail", "drop", "retr", "dup@UAS", "drop@UAS", "drop@cli", "CPU us/msg", "stat", "rusage", "UAS us", "flags"
		for (i = 1; i <= nr; i++) { r = rates[i]; if ((tl, r) in row) printf "%s  %s\n", row[tl, r], fl[tl, r] }
	}
	for (t = 1; t <= 2; t++) {
		tl = tools[t]; best[tl] = 0; upto[tl] = 0; broken = 0
		for (i = 1; i <= nr; i++) {
			r = rates[i]
			if (fl[tl, r] == "clean") { if (r > best[tl]) best[tl] = r; if (!broken) upto[tl] = r } else broken = 1
		}
	}
	common = 0
	for (i = 1; i <= nr; i++) { r = rates[i]; if (fl["chatload", r] == "clean" && fl["sipp", r] == "clean" && r > common) common = r }
	printf "\nhighest clean rate: chatload %d/s, SIPp %d/s", best["chatload"], best["sipp"]
	if (best["sipp"] > 0) printf ", ratio chatload/SIPp %.2f", best["chatload"] / best["sipp"]
	printf "\nclean at every step up to: chatload %d/s, SIPp %d/s (lower than the above when a middle step was not clean: on this shared machine, often noise; compare the two tools at that step)\n", upto["chatload"], upto["sipp"]
	if (common > 0) {
		printf "CPU per MESSAGE at %d/s (highest rate clean for both): chatload %.2f us, SIPp %.2f us, ratio chatload/SIPp %.2f (target <= 2.00: %s)\n",
			common, cpu["chatload", common], cpu["sipp", common], cpu["chatload", common] / cpu["sipp", common],
			(cpu["chatload", common] <= 2 * cpu["sipp", common] ? "PASS" : "FAIL")
	} else {
		printf "no rate was clean for both tools: no CPU ratio at a common clean rate\n"
	}
	printf "CPU ratio chatload/SIPp at every step:"
	k = 0
	for (i = 1; i <= nr; i++) {
		r = rates[i]
		if (cpu["sipp", r] > 0 && cpu["chatload", r] > 0) { q = cpu["chatload", r] / cpu["sipp", r]; printf " %d/s %.2f", r, q; qs[++k] = q }
	}
	# median of the per-step ratios (insertion sort: a handful of values)
	for (i = 2; i <= k; i++) { v = qs[i]; for (j = i - 1; j >= 1 && qs[j] > v; j--) qs[j + 1] = qs[j]; qs[j + 1] = v }
	if (k > 0) printf "; median %.2f", (k % 2 ? qs[(k + 1) / 2] : (qs[k / 2] + qs[k / 2 + 1]) / 2)
	printf "\n"
}' "$RESULTS"
echo
for tool in chatload sipp; do
	f=$(ls "$OUT_DIR"/step-*/"$tool"/sockets 2>/dev/null | head -1)
	[[ -n $f ]] && echo "$tool socket buffers (ss -m, mid-run): $(grep -o 'skmem:([^)]*)' "$f" | head -1)"
done
echo "UAS socket buffers: $(ss -Hunamp 2>/dev/null | grep -A1 "pid=$UAS_PID," | grep -o 'skmem:([^)]*)' | head -1)"
echo "raw files: $OUT_DIR (results.tsv, step-R/TOOL/{report.json,sipp_stat.csv,measure,uas_delta,stdout,stderr})"

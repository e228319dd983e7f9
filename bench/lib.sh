# bench/lib.sh: helpers shared by bench/*/run.sh (sourced, not run).
# Everything here is bounded: no helper loops forever, and only the PIDs a script
# records (and passes in) are ever signalled.

export LC_ALL=C

bench_die() { echo "${BENCH_NAME:-bench}: $*" >&2; exit 1; }
bench_log() { echo "${BENCH_NAME:-bench}: $*" >&2; }

# alive PID: the process exists and is not a zombie.
alive() {
	local line
	[[ -n ${1:-} ]] || return 1
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	line=${line##*) }
	[[ ${line:0:1} != Z ]]
}

# stop_pid PID: SIGINT (graceful: chatload writes its report, sipp its statistics),
# then SIGTERM after 3 s, then SIGKILL after 2 more.
stop_pid() {
	local p=${1:-} i
	[[ -n $p ]] || return 0
	kill -INT "$p" 2>/dev/null || return 0
	for ((i = 0; i < 30; i++)); do alive "$p" || return 0; sleep 0.1; done
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 20; i++)); do alive "$p" || return 0; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
	return 0
}

# nap_init DIR: set up nap (a sleep that does not fork: a read with a timeout on a
# FIFO this shell holds open). nap_close undoes it.
NAP_FD=""
NAP_FIFO=""
nap_init() {
	NAP_FIFO=$1/.nap
	rm -f "$NAP_FIFO"
	mkfifo "$NAP_FIFO" || bench_die "mkfifo $NAP_FIFO"
	exec {NAP_FD}<>"$NAP_FIFO"
}
nap() { read -r -t "$1" -u "$NAP_FD" _ 2>/dev/null || true; }
nap_close() {
	if [[ -n $NAP_FD ]]; then exec {NAP_FD}>&- 2>/dev/null; NAP_FD=""; fi
	[[ -n $NAP_FIFO ]] && rm -f "$NAP_FIFO"
	return 0
}

# sched_ns PID: nanoseconds on CPU, summed over the live threads' schedstat.
sched_ns() {
	local f a sum=0
	for f in /proc/"$1"/task/*/schedstat; do
		read -r a _ 2>/dev/null <"$f" && sum=$((sum + a))
	done
	echo "$sum"
}

# stat_ticks PID: utime+stime of the whole process (all threads, dead ones too), in
# clock ticks (1/100 s), from /proc/PID/stat; empty when the process is gone.
stat_ticks() {
	local line rest
	local -a st
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	rest=${line##*) }
	read -r -a st <<<"$rest"
	echo $((st[11] + st[12]))
}

# rss_kib PID: VmRSS in KiB (empty when gone).
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ports_free BASE N: ports BASE..BASE+N-1 are free for UDP and TCP on this host.
ports_free() {
	local b=$1 n=$2 t
	for t in -Hanu -Hant; do
		ss "$t" 2>/dev/null | awk -v lo="$b" -v hi=$((b + n - 1)) \
			'{ k = split($4, a, ":"); p = a[k] + 0; if (p >= lo && p <= hi) bad = 1 } END { exit bad }' || return 1
	done
}

# pick_ports N: print the first of N consecutive free ports in 15000-16999 (the range
# kept for these tests on the shared machine); a random start, 40 tries.
pick_ports() {
	local n=$1 i b
	for ((i = 0; i < 40; i++)); do
		b=$((15000 + RANDOM % (2000 - n)))
		if ports_free "$b" "$n"; then echo "$b"; return 0; fi
	done
	return 1
}

# ensure_sipp: install the Debian package sip-tester when sipp is missing.
ensure_sipp() {
	command -v sipp >/dev/null 2>&1 && return 0
	bench_log "sipp not found: installing the Debian package sip-tester"
	if [[ $(id -u) -eq 0 ]]; then
		apt-get install -y sip-tester >/dev/null 2>&1 ||
			{ apt-get update >/dev/null 2>&1 && apt-get install -y sip-tester >/dev/null 2>&1; }
	else
		sudo -n apt-get install -y sip-tester >/dev/null 2>&1 || true
	fi
	command -v sipp >/dev/null 2>&1
}

# build_chatload REPO OUT: go build the CLI once into OUT (CHATLOAD_BIN overrides).
build_chatload() {
	if [[ -n ${CHATLOAD_BIN:-} ]]; then
		[[ -x $CHATLOAD_BIN ]] || bench_die "CHATLOAD_BIN=$CHATLOAD_BIN is not executable"
		return 0
	fi
	CHATLOAD_BIN=$2
	bench_log "building chatload into $CHATLOAD_BIN"
	(cd "$1" && go build -o "$CHATLOAD_BIN" ./cmd/chatload) || bench_die "go build ./cmd/chatload failed"
}

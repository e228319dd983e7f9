#!/usr/bin/env bash
# Stop the KDC that scripts/krb5/start.sh started from $KRB_RUNDIR (or the
# directory given as the first argument).
set -euo pipefail
dir=${1:-${KRB_RUNDIR:?give the run directory (KRB_RUNDIR or the first argument)}}
[ -f "$dir/kdc.pid" ] || exit 0
pid=$(cat "$dir/kdc.pid")
if kill -0 "$pid" 2>/dev/null; then
	kill "$pid"
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
fi
rm -f "$dir/kdc.pid"

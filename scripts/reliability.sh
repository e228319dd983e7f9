#!/usr/bin/env bash
# The reliability suite: the embedded server under hostile and broken clients,
# as real processes on loopback, bounded (well under 3 minutes on 2 cores).
#   - connection flood past the file limit (ulimit -n 256), caps, idle timeout
#   - unauthenticated floods (200,000 OPTIONS, 20,000 sources) with an RSS bound
#   - damaged, truncated, empty and locked --data history.db: exit 2, no crash
#   - slow reader (imc and XCCOS), XCCOS dialog hijack, rate limits, bad
#     datagrams and log floods (server package tests, real sockets)
#   - server SIGKILL + restart mid-run with recovery checked in the intervals
#     (TestReliabilityServerRestart, cmd/chatload/recover_test.go)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CHATLOAD_RELIABILITY=1
start=$SECONDS
echo "== reliability: serve as a process (cmd/chatload TestReliability*)"
go test -count=1 -timeout 150s -v -run '^TestReliability' ./cmd/chatload/ 2>&1 |
	grep -E '^\s*(--- |ok |FAIL|panic)|reliability_test.go' || { echo "reliability suite failed"; exit 1; }
echo "== reliability: server package (real sockets)"
go test -count=1 -timeout 120s -run '^(TestSlowReaderDroppedNotRoom|TestPChatSlowMemberDropped|TestPChatDialogHijack|TestPChatHistoryNeedsMembership|TestPChatDialogBounds|TestUnauthenticatedRateLimit|TestUnauthenticatedStateFreed|TestHistoryErrorsLoggedAtErrorLevel|TestUDPSourceStateBounded|TestProtocolChecks|TestUnparsableUDP|TestAcceptErrorsRetried|TestConnectionCaps|TestIdleTimeout|TestTLSHandshakeLimits|TestHistoryDamagedRefused|TestHistoryInUse)$' ./server/
echo "reliability suite: ok in $((SECONDS - start))s"

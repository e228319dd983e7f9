package main

import (
	"github.com/spf13/cobra"

	"github.com/chatload/chatload/server"
)

// addLimitFlags adds serve's hardening flags: connection caps and timeouts,
// the unauthenticated request rate, the per-user dialog cap, and the metrics
// endpoint.
func addLimitFlags(cmd *cobra.Command, l *serveLimits) {
	fl := cmd.Flags()
	fl.IntVar(&l.maxConns, "max-connections", 0, "tcp/tls: connections at once per listener; more are closed at accept and counted (default: the file limit less 128)")
	fl.IntVar(&l.maxConnsPerAddr, "max-connections-per-addr", 0, "tcp/tls: connections at once per remote IP and listener (default: no cap but --max-connections)")
	fl.DurationVar(&l.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "tcp/tls: close a connection without traffic either way for this long")
	fl.Float64Var(&l.unauthRate, "unauth-rate", server.DefaultUnauthRate, "out-of-dialog requests without credentials per second per source IP (burst twice that); more are dropped (udp) or answered 503 and counted")
	fl.IntVar(&l.maxDialogs, "max-dialogs-per-user", server.DefaultMaxDialogsPerUser, "Persistent Chat (xccos): dialogs one user may have open at once; more INVITEs get 486")
	fl.StringVar(&l.metricsAddr, "metrics-addr", "", "serve the server's counters as Prometheus metrics on `HOST:PORT`/metrics (connections, rejected, rate-limited, dropped members, dialogs, history errors, ...) (default: not served)")
}

func (l serveLimits) apply(cfg *server.Config) error {
	switch {
	case l.maxConns < 0:
		return usageErr("--max-connections %d: must not be negative", l.maxConns)
	case l.maxConnsPerAddr < 0:
		return usageErr("--max-connections-per-addr %d: must not be negative", l.maxConnsPerAddr)
	case l.idleTimeout <= 0:
		return usageErr("--idle-timeout %v: must be positive", l.idleTimeout)
	case l.unauthRate <= 0:
		return usageErr("--unauth-rate %v: must be positive", l.unauthRate)
	case l.maxDialogs < 1:
		return usageErr("--max-dialogs-per-user %d: must be at least 1", l.maxDialogs)
	}
	cfg.MaxConnections = l.maxConns
	cfg.MaxConnectionsPerAddr = l.maxConnsPerAddr
	cfg.IdleTimeout = l.idleTimeout
	cfg.UnauthRate = l.unauthRate
	cfg.PChat.MaxDialogsPerUser = l.maxDialogs
	return nil
}

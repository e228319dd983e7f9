package main

import (
	"strconv"

	"github.com/chatload/chatload/protocol/sipua"
)

// fileReserve is what a run keeps of the file limit for everything but the
// users' own sockets: the embedded server's listeners, reports, the runtime.
const fileReserve = 256

// fileLimit returns the process's file limit (Go raises the soft limit to the
// hard one at start); ok false when it cannot be read. A variable for tests.
var fileLimit = systemFileLimit

// transportSharing resolves the transport-sharing setting for users users of
// protocol over transport: the setting when given (shared without N: by the
// load), else per-user for tls and for xccos (real Lync clients each hold
// their connection), shared by the load for imc over udp and tcp. Per user,
// the users' sockets must fit the file limit: else a usage error naming
// --transport-sharing and the limit.
func transportSharing(setting, protocol, transport string, users int) (sipua.Sharing, error) {
	var sh sipua.Sharing
	if setting != "" {
		var err error
		if sh, err = sipua.ParseSharing(setting); err != nil {
			return sh, usageErr("--transport-sharing %v", err)
		}
	} else {
		sh.PerUser = perUserDefault(setting, protocol, transport)
	}
	if !sh.PerUser {
		if sh.N == 0 {
			sh.N = sipua.SharedFor(users)
		}
		return sh, nil
	}
	limit, ok := fileLimit()
	if !ok {
		return sh, nil
	}
	per := sipua.FilesPerUA(transport)
	if need := uint64(users)*uint64(per) + fileReserve; need > limit {
		how := "--transport-sharing per-user"
		if setting == "" {
			how += " (the default for " + protocol + " over " + transport + ")"
		}
		return sh, usageErr("%s: %d users need about %d file descriptors (%d each over %s, %d for the rest), more than the file limit of %d: use --transport-sharing shared[:N], fewer users, or raise the limit (ulimit -n)",
			how, users, need, per, transport, fileReserve, limit)
	}
	return sh, nil
}

// perUserDefault reports whether setting (transport-sharing, "" for the
// default) gives each user a transport of its own for protocol over transport.
func perUserDefault(setting, protocol, transport string) bool {
	if setting != "" {
		return setting == "per-user"
	}
	return transport == "tls" || protocol == "xccos"
}

// sharingNote is what the generator note says of sh: "transport sharing
// shared:4 (4 udp sockets for 2000 users)".
func sharingNote(sh sipua.Sharing, transport string, users int) string {
	what := "sockets"
	if transport != "udp" {
		what = "connections"
	}
	if sh.PerUser {
		return "transport sharing per-user (a " + transport + " " + what[:len(what)-1] + " per user)"
	}
	if sh.N == 1 {
		what = what[:len(what)-1]
	}
	return "transport sharing " + sh.String() + " (" + strconv.Itoa(sh.N) + " " + transport + " " + what + " for " + strconv.Itoa(users) + " users)"
}

package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// defaultPort is the SIP port for a transport when neither --target nor DNS gives one.
func defaultPort(transport string) int {
	if transport == "tls" {
		return 5061
	}
	return 5060
}

// resolveTarget turns --target HOST[:PORT] into the address to send to. Without a
// port it tries DNS SRV (RFC 3263); when that gives nothing it warns on stderr and
// uses the transport's default port. IP literals and localhost skip DNS: there is no
// SRV to find for them, and asking would send a query off this machine.
func resolveTarget(ctx context.Context, e *env, spec, transport string) (string, error) {
	spec = strings.TrimSpace(spec)
	spec = strings.TrimPrefix(strings.TrimPrefix(spec, "sip:"), "sips:")
	if spec == "" {
		return "", fmt.Errorf("--target is empty")
	}
	if host, port, err := net.SplitHostPort(spec); err == nil {
		if host == "" {
			return "", fmt.Errorf("--target %q: no host", spec)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return "", fmt.Errorf("--target %q: port %q is not a number from 1 to 65535", spec, port)
		}
		return net.JoinHostPort(host, strconv.Itoa(p)), nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(spec, "["), "]")
	if strings.ContainsAny(host, "/ ") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", fmt.Errorf("--target %q: want HOST or HOST:PORT", spec)
	}
	def := net.JoinHostPort(host, strconv.Itoa(defaultPort(transport)))
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		fmt.Fprintf(e.stderr, "WARNING: --target %s has no port; using the default port %s for %s\n", spec, def, transport)
		return def, nil
	}
	service, proto := "sip", transport
	if transport == "tls" {
		service, proto = "sips", "tcp"
	}
	name := fmt.Sprintf("_%s._%s.%s", service, proto, host)
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, srvs, err := e.lookupSRV(lctx, service, proto, host)
	if err == nil && len(srvs) > 0 && srvs[0].Target != "." {
		// LookupSRV sorts by priority and randomizes by weight: the first is RFC 2782's pick.
		return net.JoinHostPort(strings.TrimSuffix(srvs[0].Target, "."), strconv.Itoa(int(srvs[0].Port))), nil
	}
	why := "no record"
	if err != nil {
		why = err.Error()
	}
	fmt.Fprintf(e.stderr, "WARNING: DNS SRV lookup of %s failed (%s); using the default port %s for %s\n", name, why, def, transport)
	return def, nil
}

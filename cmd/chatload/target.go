package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/chatload/chatload/report"
)

// defaultPort is the SIP port for a transport when neither --target nor DNS gives one.
func defaultPort(transport string) int {
	if transport == "tls" {
		return 5061
	}
	return 5060
}

// hostPort is a parsed --target: HOST, and PORT when one was given (0 otherwise).
type hostPort struct {
	host string
	port int
}

// parseTarget checks the syntax of --target HOST[:PORT] (an optional sip: or sips:
// prefix is dropped; IPv6 in brackets) without any DNS.
func parseTarget(spec string) (hostPort, error) {
	spec = strings.TrimSpace(spec)
	spec = strings.TrimPrefix(strings.TrimPrefix(spec, "sip:"), "sips:")
	if spec == "" {
		return hostPort{}, fmt.Errorf("--target is empty")
	}
	if host, port, err := net.SplitHostPort(spec); err == nil {
		if host == "" {
			return hostPort{}, fmt.Errorf("--target %q: no host", spec)
		}
		if strings.ContainsAny(host, "/ []") {
			return hostPort{}, fmt.Errorf("--target %q: want HOST or HOST:PORT", spec)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return hostPort{}, fmt.Errorf("--target %q: port %q is not a number from 1 to 65535", spec, port)
		}
		return hostPort{host, p}, nil
	}
	if strings.HasPrefix(spec, "[") != strings.HasSuffix(spec, "]") || strings.Count(spec, "[") > 1 || strings.Count(spec, "]") > 1 {
		return hostPort{}, fmt.Errorf("--target %q: unbalanced brackets; want HOST, HOST:PORT, [IPv6] or [IPv6]:PORT", spec)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(spec, "["), "]")
	if host == "" || strings.ContainsAny(host, "/ []") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return hostPort{}, fmt.Errorf("--target %q: want HOST or HOST:PORT", spec)
	}
	return hostPort{host: host}, nil
}

// resolveTarget turns --target HOST[:PORT] into the address to send to. Without a
// port it tries DNS SRV (RFC 3263); when that gives nothing it warns on stderr and
// uses the transport's default port. IP literals and localhost skip DNS: there is no
// SRV to find for them, and asking would send a query off this machine.
func resolveTarget(ctx context.Context, e *env, spec, transport string) (string, error) {
	hp, err := parseTarget(spec)
	if err != nil {
		return "", err
	}
	if hp.port != 0 {
		return net.JoinHostPort(hp.host, strconv.Itoa(hp.port)), nil
	}
	host := hp.host
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

// checkResolves looks the host of addr (HOST:PORT) up in DNS, so that a name that
// does not resolve is a Failure of the transaction (class transport, op resolve)
// rather than an error before it. IP literals are not looked up.
func checkResolves(ctx context.Context, e *env, addr, transport string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return nil
	}
	lookup := e.lookupHost
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := lookup(lctx, host); err != nil {
		return &report.Error{Class: report.Transport, Op: "resolve", Detail: "cannot resolve " + addr + "/" + transport, Err: err,
			Cause: report.CauseUnresolved}
	}
	return nil
}

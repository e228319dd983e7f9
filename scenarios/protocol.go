package scenarios

import (
	"fmt"
	"slices"
	"strings"
)

// Protocol describes a chat protocol as its driver package declares it (imc.Protocol,
// xccos.Protocol): its name, the transports it runs over and what its sessions can
// do. Validation (CheckProtocol) reads it; no list of protocol names lives here. It
// is a plain value, safe for concurrent use.
type Protocol struct {
	Name       string   // --protocol
	Transports []string // the transports it runs over, its default first
	History    bool     // sessions fetch a room's history (engine.HistoryFetcher)
	Page       bool     // sessions send page-mode messages to a URI (engine.Pager)
	AsyncSend  bool     // sessions post without a goroutine per post (engine.AsyncSender)
	NoRegister bool     // the driver can send without registering (--no-register)
	// SignInRate is the default --logon-rate against a --target: the sign-in
	// rate the protocol's servers are sized for (Lync: about 12/s per pool); 0:
	// unlimited (sign-ins then go as fast as --logon-parallel in flight and the
	// target's answers allow). The embedded server takes any rate.
	SignInRate Rate
}

// String names the protocol and lists what it can do: "imc (udp, tcp, tls; page,
// async-send, no-register)".
func (p Protocol) String() string {
	var can []string
	for _, c := range []struct {
		ok   bool
		name string
	}{{p.History, "history"}, {p.Page, "page"}, {p.AsyncSend, "async-send"}, {p.NoRegister, "no-register"}} {
		if c.ok {
			can = append(can, c.name)
		}
	}
	s := p.Name + " (" + strings.Join(p.Transports, ", ")
	if len(can) > 0 {
		s += "; " + strings.Join(can, ", ")
	}
	return s + ")"
}

// CheckProtocol reports the first setting of c that the protocol it names cannot
// do, naming the flag and, where another of protocols can, that one: c.Protocol
// must be one of protocols, c.Transport one of its transports, and c's scenario may
// use only what it has (history, page-mode messages, sending without registering).
// It is pure and safe for concurrent use.
func (c Config) CheckProtocol(protocols []Protocol) error {
	var names []string
	for _, p := range protocols {
		names = append(names, p.Name)
	}
	i := slices.IndexFunc(protocols, func(p Protocol) bool { return p.Name == c.Protocol })
	if i < 0 {
		return fmt.Errorf("--protocol %q: want %s", c.Protocol, orList(names))
	}
	p := protocols[i]
	if !slices.Contains(p.Transports, c.Transport) {
		return fmt.Errorf("--transport %q: the %s protocol runs over %s", c.Transport, p.Name, orList(p.Transports))
	}
	other := func(has func(Protocol) bool) string {
		var ns []string
		for _, q := range protocols {
			if has(q) {
				ns = append(ns, q.Name)
			}
		}
		if len(ns) == 0 {
			return ""
		}
		return "; use --protocol " + orList(ns)
	}
	k := c.uses()
	switch {
	case k.History && !p.History:
		return fmt.Errorf("--protocol %s: the %s protocol has no history%s", p.Name, p.Name, other(func(q Protocol) bool { return q.History }))
	case k.To && !p.Page:
		return fmt.Errorf("--protocol %s: the %s protocol sends no page-mode messages%s", p.Name, p.Name, other(func(q Protocol) bool { return q.Page }))
	case c.NoRegister && !p.NoRegister:
		return fmt.Errorf("--no-register: the %s protocol always logs its users on%s", p.Name, other(func(q Protocol) bool { return q.NoRegister }))
	}
	return nil
}

// orList joins words as "a, b or c".
func orList(ws []string) string {
	switch len(ws) {
	case 0:
		return "none"
	case 1:
		return ws[0]
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " or " + ws[len(ws)-1]
}

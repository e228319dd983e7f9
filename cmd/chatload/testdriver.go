package main

import (
	"crypto/tls"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

// embeddedNoPChat is a user of the embedded server without Persistent Chat
// permission (--protocol xccos): testing with it as --sender shows the policy
// failure. Its password is public, like the generated users'.
var embeddedNoPChat = scenarios.User{URI: "sip:user0003" + server.DeniedSuffix + "@" + embeddedDomain, Password: "pass0003"}

// closingDriver is a Driver that owns a socket.
type closingDriver interface {
	engine.Driver
	Close() error
}

// driverOptions are what the commands set on any protocol's driver.
type driverOptions struct {
	target, transport string
	tls               *tls.Config
	timeout           time.Duration
	noRegister        bool   // imc only (validated by the scenario)
	userAgent         string // "" none
	chatURI           string // xccos only: the chat service to INVITE ("" default)
}

// drivers chooses the driver of a protocol (the names protocolList describes).
var drivers = map[string]func(o driverOptions) (closingDriver, error){
	"imc": func(o driverOptions) (closingDriver, error) {
		return imc.New(imc.Config{Target: o.target, Transport: o.transport, TLS: o.tls, Timeout: o.timeout,
			NoRegister: o.noRegister, UserAgent: o.userAgent})
	},
	"xccos": func(o driverOptions) (closingDriver, error) {
		return xccos.New(xccos.Config{Target: o.target, Transport: o.transport, TLS: o.tls, Timeout: o.timeout,
			UserAgent: o.userAgent, ChatURI: o.chatURI})
	},
}

// protocolList is what each protocol of drivers declares it can do, for validation.
func protocolList() []scenarios.Protocol {
	return []scenarios.Protocol{imc.Protocol(), xccos.Protocol()}
}

// protocolNamed returns the descriptor of the protocol called name.
func protocolNamed(name string) (scenarios.Protocol, bool) {
	for _, p := range protocolList() {
		if p.Name == name {
			return p, true
		}
	}
	return scenarios.Protocol{}, false
}

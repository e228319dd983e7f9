package main

import (
	"crypto/tls"
	"time"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/sipua"
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
	auth              string // sipua.Auth* ("" auto)
	kerberos          *sipua.KerberosConfig
	trace             *sipua.Trace
	sharing           sipua.Sharing // transportSharing's choice
	expires           time.Duration // registration expiry asked for (0: the protocol's default)
}

// driverConfig is what every protocol's driver takes of o.
func (o driverOptions) driverConfig() sipua.DriverConfig {
	return sipua.DriverConfig{Target: o.target, Transport: o.transport, TLS: o.tls, Timeout: o.timeout,
		UserAgent: o.userAgent, Auth: o.auth, Kerberos: o.kerberos, Trace: o.trace, Sharing: o.sharing, Expires: o.expires}
}

// drivers chooses the driver of a protocol (the names protocolList describes).
var drivers = map[string]func(o driverOptions) (closingDriver, error){
	"imc": func(o driverOptions) (closingDriver, error) {
		return imc.New(imc.Config{DriverConfig: o.driverConfig(), NoRegister: o.noRegister})
	},
	"xccos": func(o driverOptions) (closingDriver, error) {
		return xccos.New(xccos.Config{DriverConfig: o.driverConfig(), ChatURI: o.chatURI})
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

// authScheme returns the scheme a driver's users signed in with, "" when it
// cannot tell.
func authScheme(d engine.Driver) string {
	if a, ok := d.(interface{ AuthScheme() string }); ok {
		return a.AuthScheme()
	}
	return ""
}

// embeddedAuth is what the embedded server offers for --auth mode: NTLM for
// ntlm, digest otherwise (Kerberos needs a KDC: refused without --target).
func embeddedAuth(mode string) ([]string, error) {
	switch mode {
	case sipua.AuthNTLM:
		return []string{server.SchemeNTLM}, nil
	case sipua.AuthKerberos:
		return nil, usageErr("--auth kerberos needs --target (a Lync pool or a server with a KDC); the embedded server offers digest or ntlm")
	}
	return nil, nil
}

// kerberosConfig is the Kerberos client configuration for --auth mode,
// --krb5-conf (the file given, else KRB5_CONFIG, else /etc/krb5.conf when it
// exists; nil: no Kerberos, auto then answers NTLM or Digest) and
// --krb5-keytab (the users' keys, instead of their passwords).
func kerberosConfig(e *env, mode, conf, keytab string) *sipua.KerberosConfig {
	if mode != "" && mode != sipua.AuthAuto && mode != sipua.AuthKerberos {
		return nil
	}
	if conf == "" {
		conf = e.getenv("KRB5_CONFIG")
	}
	if conf == "" && (mode == sipua.AuthKerberos || keytab != "") {
		conf = "/etc/krb5.conf"
	}
	if conf == "" {
		return nil
	}
	return &sipua.KerberosConfig{Krb5Conf: conf, Keytab: keytab}
}

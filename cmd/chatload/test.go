package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/protocol/imc/wire"
	"github.com/chatload/chatload/protocol/sipua"
	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

type testFlags struct {
	target, protocol, transport string
	sender, senderCred          string
	receiver, receiverCred      string
	senderAuth, receiverAuth    string // --sender-auth-user, --receiver-auth-user
	room                        string
	chatURI                     string
	timeout                     time.Duration
	output                      string
	verbose                     bool
	tls                         tlsFlags
	auth, krb5Conf, krb5Keytab  string
	sharing                     string      // --transport-sharing
	nagios                      nagiosFlags // test only (nagios.go)
	trace                       traceFlags
}

func newTestCmd(e *env) *cobra.Command {
	var f testFlags
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the persistent-chat synthetic transaction (like Test-CsPersistentChatMessage)",
		Long: `Log a sender and a receiver on, join both to a chat room, exchange a pair of
messages (each verified as received by the other), leave and log off; print
Target Fqdn, Result, Latency, Error Message and Diagnosis.

Without --target an embedded server is started on 127.0.0.1 with two test users
and a room, so the command works with no setup. With --transport tls it serves a
certificate made for the run, and the test trusts exactly that one.

With --transport tls and --target, the server's certificate is verified against
the system's CAs (or --tls-ca) for the --target host (or --tls-server-name); a
certificate that fails (unknown authority, name mismatch, expired) is a Failure
saying which. --tls-insecure skips verification (warned).

Credentials (--sender-credential, --receiver-credential) take one of:
  prompt               ask on the terminal, no echo
  env:NAME             the variable holds the password (all of it: a ':' is part of it)
  file:PATH            the first line holds the password (all of it)
  [authuser:]password  literally (visible in the process list: avoid on shared hosts)
The authentication user is --sender-auth-user / --receiver-auth-user, else the
literal's authuser:, else the URI's user part.

--output json prints one JSON object: timestamp, target, target_fqdn, protocol,
transport, sender, receiver, room, result, latency_ms, failed_step, failure_class,
error_message, diagnosis and steps. A name that does not resolve in DNS is a
Failure like any other (exit 1), with its diagnosis.

--nagios prints one line in the monitoring-plugin format with perfdata, and exits
0 OK, 1 WARNING (--warning latency exceeded), 2 CRITICAL (failure, or --critical
exceeded), 3 UNKNOWN (bad input, or the test could not run).

Exit status: 0 Success, 1 Failure, 2 usage error (with --nagios: as above).`,
		Example: `  chatload test
  chatload test --target 127.0.0.1:5090 --sender sip:user0001@example.test --sender-credential env:PW1 \
      --receiver sip:user0002@example.test --receiver-credential env:PW2 --room room001@conf.example.test
  chatload test --transport tls
  chatload test --transport tls --target sip.example.test --tls-ca ca.pem --sender ... --receiver ...
  chatload test --output json
  chatload test --nagios --warning 2s --critical 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p, ok := protocolNamed(f.protocol); ok && !cmd.Flags().Changed("transport") {
				f.transport = p.Transports[0] // the protocol's default (xccos: TLS, as Persistent Chat clients use)
			}
			return runTest(cmd.Context(), e, f)
		},
	}
	addTransactionFlags(cmd, &f)
	fl := cmd.Flags()
	fl.StringVar(&f.output, "output", "text", "output format: text or json")
	fl.BoolVar(&f.verbose, "verbose", false, "print each step's timing")
	addNagiosFlags(cmd, &f.nagios)
	return cmd
}

// addTransactionFlags adds the flags of one synthetic transaction: test's and watch's.
func addTransactionFlags(cmd *cobra.Command, f *testFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "registrar/proxy HOST[:PORT] (the Target Fqdn); empty starts the embedded server")
	fl.StringVar(&f.protocol, "protocol", "imc", "chat protocol: imc (Kamailio imc rooms over SIP MESSAGE) or xccos (Lync/Skype for Business Persistent Chat, MS-XCCOSIP; default transport tls)")
	fl.StringVar(&f.transport, "transport", "udp", "SIP transport: udp, tcp or tls (tls: port 5061 when --target has none)")
	fl.StringVar(&f.sender, "sender", "", "sender's SIP URI (required with --target)")
	fl.StringVar(&f.senderCred, "sender-credential", "", "sender's credential: prompt, env:NAME, file:PATH or [authuser:]password")
	fl.StringVar(&f.receiver, "receiver", "", "receiver's SIP URI (required with --target)")
	fl.StringVar(&f.receiverCred, "receiver-credential", "", "receiver's credential: prompt, env:NAME, file:PATH or [authuser:]password")
	fl.StringVar(&f.senderAuth, "sender-auth-user", "", "sender's authentication user name (default: the credential's authuser:, else the URI's user)")
	fl.StringVar(&f.receiverAuth, "receiver-auth-user", "", "receiver's authentication user name (default: the credential's authuser:, else the URI's user)")
	fl.StringVar(&f.room, "room", "", "chat room URI or name (default: the first room the sender can see)")
	fl.StringVar(&f.chatURI, "chat-service", "", "xccos: the Persistent Chat pool or lookup URI to INVITE (default: the pool in-band provisioning names, else sip:ocschat@<the sender's domain>)")
	fl.StringVar(&f.chatURI, "chat-uri", "", "the former name of --chat-service")
	_ = fl.MarkHidden("chat-uri")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "time allowed for the whole transaction")
	fl.StringVar(&f.auth, "auth", sipua.AuthAuto, "authentication: auto (by the schemes the server offers: Kerberos with --krb5-conf, else NTLM, else Digest), digest, ntlm or kerberos (Lync/Skype for Business sign-in, MS-SIPAE)")
	fl.StringVar(&f.sharing, "transport-sharing", "", "how the two users share transports: per-user (a socket or connection each, as real clients; default for tls and xccos) or shared[:N] (default for imc over udp and tcp)")
	fl.StringVar(&f.krb5Conf, "krb5-conf", "", "Kerberos configuration `FILE` (default: $KRB5_CONFIG, else /etc/krb5.conf with --auth kerberos)")
	fl.StringVar(&f.krb5Keytab, "krb5-keytab", "", "Kerberos keytab `FILE` holding the users' keys, used instead of their passwords (a credential is then optional)")
	addTLSFlags(cmd, &f.tls)
	addTraceFlags(cmd, &f.trace)
	completeValues(cmd, "protocol", "imc", "xccos")
	completeValues(cmd, "transport", "udp", "tcp", "tls")
	completeValues(cmd, "output", "text", "json")
}

func (f *testFlags) validate() error {
	p, ok := protocolNamed(f.protocol)
	if !ok {
		var names []string
		for _, p := range protocolList() {
			names = append(names, p.Name)
		}
		return usageErr("--protocol %q: want %s", f.protocol, strings.Join(names, " or "))
	}
	if f.chatURI != "" && f.protocol != "xccos" {
		return usageErr("--chat-service applies to --protocol xccos only")
	}
	if !slices.Contains(p.Transports, f.transport) {
		return usageErr("--transport %q: want %s", f.transport, strings.Join(p.Transports, ", "))
	}
	if err := f.tls.validate(f.transport, f.target); err != nil {
		return err
	}
	switch f.output {
	case "text", "json":
	default:
		return usageErr("--output %q: want text or json", f.output)
	}
	if f.timeout <= 0 {
		return usageErr("--timeout %v: must be positive", f.timeout)
	}
	if !sipua.ValidAuthMode(f.auth) {
		return usageErr("--auth %q: want auto, digest, ntlm or kerberos", f.auth)
	}
	if _, err := transportSharing(f.sharing, f.protocol, f.transport, 2); err != nil {
		return err
	}
	if f.target != "" {
		if _, err := parseTarget(f.target); err != nil {
			return usageErr("%v", err)
		}
		for _, p := range []struct{ flag, v string }{
			{"--sender", f.sender}, {"--sender-credential", f.senderCred},
			{"--receiver", f.receiver}, {"--receiver-credential", f.receiverCred},
		} {
			if p.v == "" && !(f.krb5Keytab != "" && strings.HasSuffix(p.flag, "-credential")) {
				return usageErr("%s is required with --target", p.flag)
			}
		}
	}
	for _, p := range []struct{ flag, v string }{{"--sender", f.sender}, {"--receiver", f.receiver}} {
		if p.v != "" && !strings.Contains(p.v, "@") {
			return usageErr("%s %q: want a SIP URI like sip:user@domain", p.flag, p.v)
		}
	}
	return nil
}

// embeddedDomain is the domain of the embedded server's test users and rooms.
const embeddedDomain = "example.test"

func runTest(ctx context.Context, e *env, f testFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	if err := f.nagios.validate(f.output); err != nil {
		return err
	}
	tr, err := newTransactor(ctx, e, f, false)
	if err != nil {
		return err
	}
	defer tr.close()
	out := tr.do(ctx)
	switch {
	case f.nagios.on:
		return f.nagios.write(e.stdout, out)
	case f.output == "json":
		err = out.WriteJSON(e.stdout)
	default:
		err = out.WriteText(e.stdout, f.verbose)
	}
	if err != nil {
		return err
	}
	if out.Result != "Success" {
		return &exitError{code: 1}
	}
	return nil
}

// transactor runs synthetic transactions with one configuration: once for test, on
// a schedule for watch. What outlives one transaction (the embedded server, the
// credentials, the TLS configuration) is set up once.
type transactor struct {
	e       *env
	f       testFlags
	cfg     engine.ProbeConfig
	tlsConf *tls.Config
	srv     *server.Server  // the in-process embedded server (test), nil with --target
	emb     *embeddedServer // the child-process embedded server (watch), nil otherwise
	target  string          // the embedded server's address; "" resolves --target per transaction
	warned  bool            // resolveTarget's warnings were printed once
	self    string          // chatload's version, for User-Agent
	trace   *sipua.Trace    // --trace, nil without
	untrace func()
}

// newTransactor prepares the transactions of test and watch. Without --target
// test runs the embedded server in-process (one transaction); watch (child true)
// starts it as a child process beside the generator, as run does, so that a
// long watch measures the server and not the generator's runtime.
func newTransactor(ctx context.Context, e *env, f testFlags, child bool) (*transactor, error) {
	t := &transactor{e: e, f: f, cfg: engine.ProbeConfig{Timeout: f.timeout, Room: f.room}}
	t.self, _ = buildVersions()
	var err error
	if t.trace, t.untrace, err = f.trace.open(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			t.close()
		}
	}()
	if f.target == "" {
		auth, err := embeddedAuth(f.auth)
		if err != nil {
			return nil, err
		}
		users := server.GeneratedUsers(2, embeddedDomain)
		t.cfg.Sender, t.cfg.Receiver = users[0], users[1]
		if child {
			s, err := startEmbedded(ctx, e, embeddedOptions{Domain: embeddedDomain, Transport: f.transport,
				Users: users, Rooms: 1, Auth: auth})
			if err != nil {
				return nil, err
			}
			t.emb, t.target, t.tlsConf = s, s.Addr, s.TLS
		} else {
			srv, err := server.New(server.Config{
				Domain:    embeddedDomain,
				Listen:    []string{f.transport + ":127.0.0.1:0"},
				Users:     append(users, embeddedNoPChat),
				Rooms:     1,
				Generated: true,
				Auth:      auth,
			})
			if err != nil {
				return nil, fmt.Errorf("embedded server: %w", err)
			}
			if err := srv.Start(ctx); err != nil {
				return nil, fmt.Errorf("embedded server: %w", err)
			}
			t.srv = srv
			t.target = srv.Addrs()[0].Addr
			if t.tlsConf, err = embeddedTLS(f.transport, srv.CertificatePEM()); err != nil {
				return nil, err
			}
		}
	} else {
		var err error
		if t.tlsConf, err = f.tls.config(e, f.transport, f.target); err != nil {
			return nil, err
		}
	}
	// With a keytab, Kerberos signs the users on with their keys: no password.
	keyed := f.krb5Keytab != ""
	if err := fillUser(e, &t.cfg.Sender, "--sender", f.sender, f.senderCred, f.senderAuth, keyed); err != nil {
		return nil, err
	}
	if err := fillUser(e, &t.cfg.Receiver, "--receiver", f.receiver, f.receiverCred, f.receiverAuth, keyed); err != nil {
		return nil, err
	}
	if t.cfg.Room != "" && f.protocol == "imc" {
		t.cfg.Room = wire.RoomURI(t.cfg.Room, scenarios.HostPart(t.cfg.Sender.URI))
	}
	if err := t.cfg.Validate(); err != nil {
		return nil, usageErr("%v", err)
	}
	ok = true
	return t, nil
}

func (t *transactor) close() {
	if t.srv != nil {
		t.srv.Close()
	}
	if t.emb != nil {
		t.emb.Stop(t.e)
	}
	t.untrace()
}

// do runs one transaction. Everything that goes wrong on the way to the target,
// DNS included, is a Failure of the result with its diagnosis, never an error.
func (t *transactor) do(ctx context.Context) report.TestResult {
	f := t.f
	start := time.Now()
	out := report.TestResult{
		Timestamp: start.UTC(), Target: f.target, Protocol: f.protocol, Transport: f.transport,
		Sender: t.cfg.Sender.URI, Receiver: t.cfg.Receiver.URI, Room: t.cfg.Room,
	}
	if f.target == "" {
		out.Target = "embedded"
	}
	target := t.target
	var res engine.ProbeResult
	var err error
	if target == "" {
		e := t.e
		if t.warned { // a watcher says it once, not every transaction
			e2 := *e
			e2.stderr = io.Discard
			e = &e2
		}
		t.warned = true
		target, err = resolveTarget(ctx, e, f.target, f.transport) // syntax checked by validate
		if err == nil {
			err = checkResolves(ctx, t.e, target, f.transport)
		}
	}
	out.TargetFqdn = target
	var drv closingDriver
	var sharing sipua.Sharing
	if err == nil {
		sharing, err = transportSharing(f.sharing, f.protocol, f.transport, 2) // checked by validate
	}
	if err == nil {
		drv, err = drivers[f.protocol](driverOptions{target: target, transport: f.transport, tls: t.tlsConf,
			timeout: min(f.timeout, 10*time.Second), chatURI: f.chatURI, userAgent: "chatload/" + t.self,
			auth: f.auth, kerberos: kerberosConfig(t.e, f.auth, f.krb5Conf, f.krb5Keytab), trace: t.trace, sharing: sharing})
	}
	if err != nil {
		// Nothing was sent: the sender's log on is what failed.
		res = engine.ProbeResult{Latency: time.Since(start), FailedStep: engine.StepLogonSender, Err: err,
			Steps: []engine.Step{{Name: engine.StepLogonSender, Duration: time.Since(start), Err: err}}}
	} else {
		res = engine.Probe(ctx, drv, t.cfg)
		out.Authentication = authScheme(drv) // the scheme chosen, by name, from those offered
		drv.Close()
	}

	out.Result = "Success"
	out.Latency = report.Millis(res.Latency)
	out.ErrorMessage = res.ErrorMessage(t.cfg)
	out.Diagnosis = res.Diagnosis(t.cfg, target+"/"+f.transport)
	if res.Room != "" {
		out.Room = res.Room
	}
	if !res.Success {
		out.Result = "Failure"
		out.FailedStep = res.FailedStep
		class, _ := report.ClassOf(res.Err)
		if errors.Is(res.Err, context.Canceled) {
			class = report.Canceled
		}
		out.FailureClass = class.String()
	}
	for _, s := range res.Steps {
		st := report.TestStep{Name: s.Name, OK: s.OK, Duration: report.Millis(s.Duration)}
		if s.Err != nil {
			st.Error = s.Err.Error()
		}
		out.Steps = append(out.Steps, st)
	}
	return out
}

// fillUser sets the user's URI, credential and auth user from the flags that were given.
func fillUser(e *env, u *engine.User, flag, uri, spec, authUser string, keyed bool) error {
	if uri != "" {
		u.URI = scenarios.NormalizeURI(uri)
	}
	if spec == "" {
		if u.Password == "" && !keyed {
			return usageErr("%s-credential is required for %s", flag, u.URI)
		}
		if authUser != "" {
			u.AuthUser = authUser
		}
		return nil
	}
	c, err := readCredential(e, flag+"-credential", spec, u.URI)
	if err != nil {
		return usageErr("%v", err)
	}
	u.AuthUser, u.Password = c.authUser, c.password
	if authUser != "" {
		u.AuthUser = authUser
	}
	return nil
}

package main

import (
	"context"
	"crypto/tls"
	"fmt"
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
	room                        string
	chatURI                     string
	timeout                     time.Duration
	output                      string
	verbose                     bool
	tls                         tlsFlags
	auth, krb5Conf              string
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
  env:NAME             the variable holds [authuser:]password
  file:PATH            the first line holds [authuser:]password
  [authuser:]password  literally (visible in the process list: avoid on shared hosts)

Exit status: 0 Success, 1 Failure, 2 usage error.`,
		Example: `  chatload test
  chatload test --target 127.0.0.1:5090 --sender sip:user0001@example.test --sender-credential env:PW1 \
      --receiver sip:user0002@example.test --receiver-credential env:PW2 --room room001@conf.example.test
  chatload test --transport tls
  chatload test --transport tls --target sip.example.test --tls-ca ca.pem --sender ... --receiver ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p, ok := protocolNamed(f.protocol); ok && !cmd.Flags().Changed("transport") {
				f.transport = p.Transports[0] // the protocol's default (xccos: TLS, as Persistent Chat clients use)
			}
			return runTest(cmd.Context(), e, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "registrar/proxy HOST[:PORT] (the Target Fqdn); empty starts the embedded server")
	fl.StringVar(&f.protocol, "protocol", "imc", "chat protocol: imc (Kamailio imc rooms over SIP MESSAGE) or xccos (Lync/Skype for Business Persistent Chat, MS-XCCOSIP; default transport tls)")
	fl.StringVar(&f.transport, "transport", "udp", "SIP transport: udp, tcp or tls (tls: port 5061 when --target has none)")
	fl.StringVar(&f.sender, "sender", "", "sender's SIP URI (required with --target)")
	fl.StringVar(&f.senderCred, "sender-credential", "", "sender's credential: prompt, env:NAME, file:PATH or [authuser:]password")
	fl.StringVar(&f.receiver, "receiver", "", "receiver's SIP URI (required with --target)")
	fl.StringVar(&f.receiverCred, "receiver-credential", "", "receiver's credential: prompt, env:NAME, file:PATH or [authuser:]password")
	fl.StringVar(&f.room, "room", "", "chat room URI or name (default: the first room the sender can see)")
	fl.StringVar(&f.chatURI, "chat-service", "", "xccos: the Persistent Chat pool or lookup URI to INVITE (default: the pool in-band provisioning names, else sip:ocschat@<the sender's domain>)")
	fl.StringVar(&f.chatURI, "chat-uri", "", "the former name of --chat-service")
	_ = fl.MarkHidden("chat-uri")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "time allowed for the whole transaction")
	fl.StringVar(&f.output, "output", "text", "output format: text or json")
	fl.BoolVar(&f.verbose, "verbose", false, "print each step's timing")
	fl.StringVar(&f.auth, "auth", sipua.AuthAuto, "authentication: auto (by the schemes the server offers: Kerberos with --krb5-conf, else NTLM, else Digest), digest, ntlm or kerberos (Lync/Skype for Business sign-in, MS-SIPAE)")
	fl.StringVar(&f.krb5Conf, "krb5-conf", "", "Kerberos configuration `FILE` (default: $KRB5_CONFIG, else /etc/krb5.conf with --auth kerberos)")
	addTLSFlags(cmd, &f.tls)
	return cmd
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
	if f.target != "" {
		for _, p := range []struct{ flag, v string }{
			{"--sender", f.sender}, {"--sender-credential", f.senderCred},
			{"--receiver", f.receiver}, {"--receiver-credential", f.receiverCred},
		} {
			if p.v == "" {
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
	cfg := engine.ProbeConfig{Timeout: f.timeout, Room: f.room}
	target := f.target
	var tlsConf *tls.Config
	if target == "" {
		auth, err := embeddedAuth(f.auth)
		if err != nil {
			return err
		}
		users := server.GeneratedUsers(2, embeddedDomain)
		srv, err := server.New(server.Config{
			Domain:    embeddedDomain,
			Listen:    []string{f.transport + ":127.0.0.1:0"},
			Users:     append(users, embeddedNoPChat),
			Rooms:     1,
			Generated: true,
			Auth:      auth,
		})
		if err != nil {
			return fmt.Errorf("embedded server: %w", err)
		}
		if err := srv.Start(ctx); err != nil {
			return fmt.Errorf("embedded server: %w", err)
		}
		defer srv.Close()
		target = srv.Addrs()[0].Addr
		cfg.Sender, cfg.Receiver = users[0], users[1]
		if tlsConf, err = embeddedTLS(f.transport, srv.CertificatePEM()); err != nil {
			return err
		}
	} else {
		var err error
		if target, err = resolveTarget(ctx, e, f.target, f.transport); err != nil {
			return usageErr("%v", err)
		}
		if tlsConf, err = f.tls.config(e, f.transport, f.target); err != nil {
			return err
		}
	}
	if err := fillUser(e, &cfg.Sender, "--sender", f.sender, f.senderCred); err != nil {
		return err
	}
	if err := fillUser(e, &cfg.Receiver, "--receiver", f.receiver, f.receiverCred); err != nil {
		return err
	}
	if cfg.Room != "" && f.protocol == "imc" {
		cfg.Room = wire.RoomURI(cfg.Room, scenarios.HostPart(cfg.Sender.URI))
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}

	self, _ := buildVersions()
	drv, err := drivers[f.protocol](driverOptions{target: target, transport: f.transport, tls: tlsConf,
		timeout: min(f.timeout, 10*time.Second), chatURI: f.chatURI, userAgent: "chatload/" + self,
		auth: f.auth, kerberos: kerberosConfig(e, f.auth, f.krb5Conf)})
	if err != nil {
		return fmt.Errorf("%v", err)
	}
	defer drv.Close()
	res := engine.Probe(ctx, drv, cfg)

	out := report.TestResult{
		TargetFqdn:   target,
		Result:       "Success",
		Latency:      report.Millis(res.Latency),
		ErrorMessage: res.ErrorMessage(cfg),
		Diagnosis:    res.Diagnosis(cfg, target+"/"+f.transport),
		// The scheme chosen, by name, from those offered.
		Authentication: authScheme(drv),
	}
	if !res.Success {
		out.Result = "Failure"
	}
	for _, s := range res.Steps {
		st := report.TestStep{Name: s.Name, OK: s.OK, Duration: report.Millis(s.Duration)}
		if s.Err != nil {
			st.Error = s.Err.Error()
		}
		out.Steps = append(out.Steps, st)
	}
	if f.output == "json" {
		err = out.WriteJSON(e.stdout)
	} else {
		err = out.WriteText(e.stdout, f.verbose)
	}
	if err != nil {
		return err
	}
	if !res.Success {
		return &exitError{code: 1}
	}
	return nil
}

// fillUser sets the user's URI and credential from the flags that were given.
func fillUser(e *env, u *engine.User, flag, uri, spec string) error {
	if uri != "" {
		u.URI = scenarios.NormalizeURI(uri)
	}
	if spec == "" {
		if u.Password == "" {
			return usageErr("%s-credential is required for %s", flag, u.URI)
		}
		return nil
	}
	c, err := readCredential(e, flag+"-credential", spec, u.URI)
	if err != nil {
		return usageErr("%v", err)
	}
	u.AuthUser, u.Password = c.authUser, c.password
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/scenarios"
	"github.com/chatload/chatload/server"
)

type serveFlags struct {
	listen        []string
	domain        string
	users         int
	usersSet      bool // --users given explicitly
	usersFile     string
	rooms         int
	allowRemote   bool
	stats         string
	nonceLifetime time.Duration
	digest        string
	logLevel      string
	faults        server.FaultFlags
	tlsCert       string
	tlsKey        string
	tlsCertOut    string
	data          string   // --data: durable Persistent Chat history
	noPChat       []string // --no-pchat-users
	recordRoute   bool     // --record-route
	mergeItems    int      // --xccos-merge
	parentPipe    bool     // --parent-pipe (hidden): stop when stdin ends (embedded.go)
	limits        serveLimits
	auth          []string   // --auth: schemes offered
	keytab, spn   string     // --keytab, --spn: Kerberos service
	scale         serveScale // serve_scale.go
}

// serveLimits are the hardening flags (serve_limits.go).
type serveLimits struct {
	maxConns, maxConnsPerAddr int
	idleTimeout               time.Duration
	unauthRate                float64
	maxDialogs                int
	metricsAddr               string
}

func newServeCmd(e *env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the embedded persistent-chat server (Kamailio imc dialect) for demos and self-tests",
		Long: `Run a small, real SIP server: an in-memory registrar with digest auth (MD5 or
SHA-256, qop=auth) and chat rooms over SIP MESSAGE that behave on the wire like
Kamailio's imc module (#join, #exit, #members, #rooms; lines fanned out to the
other members). Rooms room001..roomNNN live at conf.<domain>.

Users are generated (sip:user0001@<domain> with password pass0001, ...) unless
--users-file names a CSV file with the header "uri,username,password". Generated
users have public passwords, so they are refused on an address other hosts can
reach unless --allow-remote is given.

A tls listener serves --tls-cert/--tls-key, or without them a self-signed
certificate made at start (ECDSA P-256, valid 24h, for the listen IPs, localhost
and the domain); --tls-cert-out writes its PEM so that clients can trust it
(chatload test/run --tls-ca FILE).

The same server speaks Lync/Skype for Business Persistent Chat (MS-XCCOSIP):
INVITE sip:ocschat@<domain> (or the pool sip:GC-1-PersistentChatService-1@<domain>),
then XML commands and grpchat in INFO. The rooms are the same, named room001..
at ma-chan://<domain>/<id>. History (cmd:bccontext) is kept in memory, or with
--data DIR in DIR/history.db, where a message is on disk before its 200.
--no-pchat-users lists users refused as Lync refuses users without a Persistent
Chat policy (a BYE after their first command).

Fault injection (--fault-*) misbehaves on purpose so that a load tool's delivery
accounting can be checked against the server's own counters. Drop, dup and delay
apply to the copies of chat lines fanned out to members only, never to notices,
answers, registrations or user-to-user MESSAGEs; stall holds chat lines (their 200
and their copies). Decisions come from one random stream per room seeded by
--fault-seed: the same seed and the same traffic give the same decisions.

Hostile clients are bounded: --max-connections and --max-connections-per-addr cap
tcp/tls connections, --idle-timeout closes idle ones, a peer that stops reading is
dropped, --unauth-rate limits requests without credentials per source IP, and
--metrics-addr serves the counters (connections, rejected, rate-limited, dropped
members, dialogs, history errors) to Prometheus. A damaged, empty or locked
--data history.db is refused (exit 2) before serving.

The server runs until interrupted (Ctrl-C); --stats then writes its counters as
JSON, fault_dropped, fault_duplicated, fault_delayed and fault_stalls included
(copies_sent counts the extra copies of duplication, never dropped ones). Exit
status: 0 after an interrupt, 1 when it cannot listen, 2 usage error.`,
		Example: `  chatload serve
  chatload serve --listen udp:127.0.0.1:5090 --users 1000 --rooms 50 --stats serve-stats.json
  chatload serve --listen tcp:0.0.0.0:5060 --users-file users.csv
  chatload serve --listen tls:127.0.0.1:5061 --tls-cert-out serve-cert.pem
  chatload serve --listen tls:127.0.0.1:5061 --data ./pchat-data --no-pchat-users user0100
  chatload serve --fault-drop 2% --fault-dup 1% --fault-delay 20ms,5ms --fault-stall 1s/10s --stats -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.usersSet = cmd.Flags().Changed("users")
			return runServe(cmd, e, f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.listen, "listen", []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"},
		"listen addresses, transport:host:port (udp, tcp or tls; port 0 picks a free one); repeat or separate with commas")
	fl.StringVar(&f.domain, "domain", server.DefaultDomain, "users' domain and digest realm; rooms live at conf.<domain>")
	fl.IntVar(&f.users, "users", 100, "number of generated test users (sip:userNNNN@<domain>, password passNNNN)")
	fl.StringVar(&f.usersFile, "users-file", "", "CSV file of users (header uri,username,password) instead of generated ones (default: none)")
	fl.IntVar(&f.rooms, "rooms", server.DefaultRooms, "number of rooms room001..roomNNN")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "serve generated users (public passwords) on a non-loopback address (default: refused)")
	fl.StringVar(&f.stats, "stats", "", "write the server's counters as JSON to this file at exit, - for stdout (default: not written)")
	fl.DurationVar(&f.nonceLifetime, "nonce-lifetime", server.DefaultNonceLifetime, "how long a digest nonce is accepted; later ones are challenged with stale=true")
	fl.StringVar(&f.digest, "digest-algorithm", server.AlgorithmMD5, "algorithm offered in challenges: MD5 or SHA-256 (credentials with either are accepted)")
	fl.StringVar(&f.logLevel, "log-level", "error", "diagnostics on stderr: debug, info, warn or error")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "tls listeners: PEM `FILE` of the certificate chain, leaf first (default: a self-signed one made at start)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "tls listeners: PEM `FILE` of the private key of --tls-cert (default: none)")
	fl.StringVar(&f.data, "data", "", "Persistent Chat (xccos): keep room history durably in `DIR`/"+server.HistoryFile+"; a grpchat is on disk before its 200 (default: in memory)")
	fl.StringSliceVar(&f.noPChat, "no-pchat-users", nil, "Persistent Chat (xccos): user parts without Persistent Chat permission; the server BYEs them after their first command, as Lync does (user parts ending in "+server.DeniedSuffix+" always are)")
	fl.BoolVar(&f.recordRoute, "record-route", true, "Persistent Chat (xccos): Record-Route the chat dialog as a Lync Front End does, and refuse its later requests that lack the route set (403 Missing Route); --record-route=false turns both off")
	fl.IntVar(&f.mergeItems, "xccos-merge", 0, "Persistent Chat (xccos): merge up to `N` queued items of any kind into one server INFO, a load setting real pools do not have (default 0: one item per INFO, several rpl of one command together, as a pool sends)")
	fl.StringVar(&f.tlsCertOut, "tls-cert-out", "", "write the tls listeners' certificate (PEM) to `FILE` for clients' --tls-ca (default: not written)")
	fl.StringSliceVar(&f.auth, "auth", []string{server.SchemeDigest}, "authentication schemes offered, by name: digest, ntlm, kerberos (Lync sign-in, MS-SIPAE: every request signed); several allowed (repeat or separate with commas), offered in Lync's order")
	fl.StringVar(&f.keytab, "keytab", "", "--auth kerberos: the service principal's keytab `FILE` (default: none)")
	fl.StringVar(&f.spn, "spn", "", "--auth kerberos: the service principal to accept, sip/<fqdn> (default: the keytab's first)")
	addFaultFlags(cmd, &f.faults)
	fl.BoolVar(&f.parentPipe, "parent-pipe", false, "stop (as on Ctrl-C) when stdin reaches its end: the process that started this server is gone")
	_ = fl.MarkHidden("parent-pipe") // chatload run's child server (embedded.go)
	addLimitFlags(cmd, &f.limits)
	addScaleFlags(cmd, &f.scale)
	return cmd
}

// addFaultFlags adds the --fault-* flags of the embedded server to cmd; ff.Faults()
// turns them into server.Faults.
func addFaultFlags(cmd *cobra.Command, ff *server.FaultFlags) {
	fl := cmd.Flags()
	fl.StringVar(&ff.Drop, "fault-drop", "", "probability `P` (0..1, or a percentage like 2%) that a copy of a chat line to a member is not sent (default: none)")
	fl.StringVar(&ff.Dup, "fault-dup", "", "probability `P` (0..1 or N%) that a copy of a chat line is sent twice, with a new Call-ID (default: none)")
	fl.StringVar(&ff.Delay, "fault-delay", "", "hold each copy of a chat line D plus up to JITTER drawn at random, `D[,JITTER]`: e.g. 20ms or 20ms,5ms; jitter may reorder copies (default: none)")
	fl.StringVar(&ff.Stall, "fault-stall", "", "every EVERY, hold chat lines (their 200 and copies) for D, like a GC pause, `D/EVERY`: e.g. 1s/10s (default: none)")
	fl.Int64Var(&ff.Seed, "fault-seed", 1, "seed `N` of the fault decisions: same seed and traffic, same decisions")
}

func runServe(cmd *cobra.Command, e *env, f serveFlags) error {
	cfg, desc, err := f.config()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageErr("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		if errors.Is(err, server.ErrRemoteGenerated) {
			return usageErr("%v: pass --allow-remote to serve them there anyway, or give --users-file", err)
		}
		if f.usersFile != "" && strings.HasPrefix(err.Error(), "users") {
			return usageErr("--users-file %s: %v", f.usersFile, err)
		}
		return usageErr("%v", err)
	}
	if f.tlsCertOut == "-" {
		return usageErr("--tls-cert-out -: want a file name (standard output carries the listen addresses)")
	}
	if err := checkOutputPath("--tls-cert-out", f.tlsCertOut); err != nil {
		return err
	}
	if err := checkOutputPath("--stats", f.stats); err != nil {
		return err
	}
	srv, err := server.New(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	if f.tlsCertOut != "" {
		// Before listening: whoever waits for "listening on" finds the file.
		if err := os.WriteFile(f.tlsCertOut, srv.CertificatePEM(), 0o644); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--tls-cert-out: %w", err)}
		}
	}
	ctx := cmd.Context()
	if f.parentPipe {
		// The parent holds the other end of stdin: its end of file means the
		// parent closed it to stop us, or is gone (killed included).
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		go func() {
			_, _ = io.Copy(io.Discard, e.stdin)
			stop()
		}()
	}
	if err := srv.Start(ctx); err != nil {
		srv.Close()
		return &exitError{code: 1, err: err}
	}
	for _, a := range srv.Addrs() {
		fmt.Fprintf(e.stdout, "listening on %s\n", a)
	}
	switch {
	case srv.CertificatePEM() == nil:
	case f.tlsCert != "":
		fmt.Fprintf(e.stdout, "tls certificate: %s\n", f.tlsCert)
	case f.tlsCertOut != "":
		fmt.Fprintf(e.stdout, "tls certificate: self-signed, valid %gh, written to %s\n", server.GeneratedCertValidity.Hours(), f.tlsCertOut)
	default:
		fmt.Fprintf(e.stdout, "tls certificate: self-signed, valid %gh (--tls-cert-out writes it for clients)\n", server.GeneratedCertValidity.Hours())
	}
	rooms := srv.RoomURIs()
	fmt.Fprintf(e.stdout, "users: %s\n", desc)
	switch len(rooms) {
	case 0:
		fmt.Fprintln(e.stdout, "rooms: none")
	default:
		fmt.Fprintf(e.stdout, "rooms: %d, %s\n", len(rooms), span(rooms))
	}
	if cfg.Faults.Enabled() {
		fmt.Fprintf(e.stdout, "fault injection: %s\n", cfg.Faults)
	}
	if f.limits.metricsAddr != "" {
		ms, err := serveMetrics(f.limits.metricsAddr, srv.Collector())
		if err != nil {
			srv.Close()
			return usageErr("--metrics-addr %s: %v", f.limits.metricsAddr, err)
		}
		defer ms.close()
		fmt.Fprintf(e.stdout, "metrics: http://%s/metrics\n", ms.addr)
	}
	fmt.Fprintf(e.stdout, "authentication: %s\n", strings.Join(cfg.Auth, ", "))
	fmt.Fprintln(e.stdout, "serving until interrupted (Ctrl-C)")

	<-ctx.Done()
	closeErr := srv.Close()
	if f.stats != "" {
		if err := writeStats(e, f.stats, srv.Stats()); err != nil {
			return &exitError{code: 1, err: err}
		}
	}
	if closeErr != nil {
		return &exitError{code: 1, err: closeErr}
	}
	return nil
}

// config turns the flags into a server configuration and a password-free
// description of its users.
func (f serveFlags) config() (server.Config, string, error) {
	var cfg server.Config
	for _, l := range f.listen {
		if _, err := server.ParseListen(l); err != nil {
			return cfg, "", usageErr("--listen %q: %v", l, err)
		}
	}
	if len(f.listen) == 0 {
		return cfg, "", usageErr("--listen: give at least one transport:host:port")
	}
	domain := strings.ToLower(strings.TrimSpace(f.domain))
	if err := server.ValidDomain(domain); err != nil {
		return cfg, "", usageErr("--domain %q: %v", f.domain, err)
	}
	if f.rooms < 0 {
		return cfg, "", usageErr("--rooms %d: must not be negative", f.rooms)
	}
	if f.nonceLifetime <= 0 {
		return cfg, "", usageErr("--nonce-lifetime %v: must be positive", f.nonceLifetime)
	}
	alg := strings.ToUpper(f.digest)
	if alg != server.AlgorithmMD5 && alg != server.AlgorithmSHA256 {
		return cfg, "", usageErr("--digest-algorithm %q: want MD5 or SHA-256", f.digest)
	}
	faults, err := f.faults.Faults()
	if err != nil {
		return cfg, "", usageErr("%v", err) // names the flag
	}
	if f.mergeItems < 0 || f.mergeItems > server.MaxMergeItems {
		return cfg, "", usageErr("--xccos-merge %d: want 0 to %d", f.mergeItems, server.MaxMergeItems)
	}
	tlsListener := false
	for _, l := range f.listen {
		a, _ := server.ParseListen(l) // checked above
		tlsListener = tlsListener || a.Transport == "tls"
	}
	if (f.tlsCert != "" || f.tlsKey != "" || f.tlsCertOut != "") && !tlsListener {
		return cfg, "", usageErr("--tls-cert, --tls-key and --tls-cert-out need a tls listener (--listen tls:HOST:PORT)")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return cfg, "", usageErr("--tls-cert and --tls-key go together")
	}
	cfg = server.Config{
		Domain:          domain,
		Listen:          f.listen,
		TLSCert:         f.tlsCert,
		TLSKey:          f.tlsKey,
		Rooms:           f.rooms,
		AllowRemote:     f.allowRemote,
		NonceLifetime:   f.nonceLifetime,
		DigestAlgorithm: alg,
		Faults:          faults,
		PChat: server.PChatConfig{DataDir: f.data, Denied: f.noPChat,
			NoRecordRoute: !f.recordRoute, MergeItems: f.mergeItems},
		Keytab: f.keytab,
		SPN:    f.spn,
	}
	for _, a := range f.auth {
		a = strings.ToLower(strings.TrimSpace(a))
		switch a {
		case server.SchemeDigest, server.SchemeNTLM, server.SchemeKerberos:
		default:
			return cfg, "", usageErr("--auth %q: want digest, ntlm or kerberos", a)
		}
		if slices.Contains(cfg.Auth, a) {
			return cfg, "", usageErr("--auth %q given twice", a)
		}
		cfg.Auth = append(cfg.Auth, a)
	}
	if slices.Contains(cfg.Auth, server.SchemeKerberos) && f.keytab == "" {
		return cfg, "", usageErr("--auth kerberos needs --keytab (the keys of the service principal sip/<fqdn>)")
	}
	if (f.keytab != "" || f.spn != "") && !slices.Contains(cfg.Auth, server.SchemeKerberos) {
		return cfg, "", usageErr("--keytab and --spn apply to --auth kerberos")
	}
	if err := f.limits.apply(&cfg); err != nil {
		return cfg, "", err
	}
	if err := f.scale.apply(&cfg); err != nil {
		return cfg, "", err
	}
	var desc string
	if f.usersFile != "" {
		if f.usersSet {
			return cfg, "", usageErr("--users and --users-file exclude each other")
		}
		users, err := readUsers(f.usersFile)
		if err != nil {
			return cfg, "", err
		}
		cfg.Users = users
		desc = fmt.Sprintf("%d from %s, %s", len(users), f.usersFile, span(uris(users)))
	} else {
		if f.users < 1 {
			return cfg, "", usageErr("--users %d: must be at least 1", f.users)
		}
		if err := checkServeSize(f.users, f.rooms); err != nil {
			return cfg, "", err
		}
		cfg.Users, cfg.Generated = server.GeneratedUsers(f.users, domain), true
		desc = fmt.Sprintf("%d generated, %s, passwords passNNNN (public test accounts)", f.users, span(uris(cfg.Users)))
	}
	return cfg, desc, nil
}

func readUsers(path string) ([]scenarios.User, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, usageErr("--users-file: %v", err)
	}
	defer fh.Close()
	users, err := scenarios.ParseUsers(path, fh)
	if err != nil {
		return nil, usageErr("%v", err) // names file:line
	}
	if len(users) == 0 {
		return nil, usageErr("--users-file %s: no users", path)
	}
	return users, nil
}

func uris(us []scenarios.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.URI
	}
	return out
}

// span shows a list by its ends: "a .. z".
func span(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return xs[0] + " .. " + xs[len(xs)-1]
}

// serveStats is what --stats writes: the server's counters and the process's own
// resource use, so that a report can show both sides of a run (embedded.go).
type serveStats struct {
	server.Stats
	CPUSeconds  float64 `json:"cpu_seconds"`   // user + system CPU of the serve process
	MaxRSSBytes uint64  `json:"max_rss_bytes"` // its peak resident set
}

func writeStats(e *env, path string, st server.Stats) error {
	cpu, _ := engine.ProcessCPU()
	b, err := json.MarshalIndent(serveStats{Stats: st, CPUSeconds: cpu.Seconds(), MaxRSSBytes: engine.ProcessMaxRSS()}, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = e.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--stats: %w", err)
	}
	return nil
}

package sipua

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chatload/chatload/report"
)

// This file is the scaffolding every chat protocol driver (imc, xccos) shares
// around its UA: the settings each driver's Config embeds (DriverConfig), the
// set of open sessions a Driver.Close logs off (Sessions), and the annotation
// of failures with what was being done (Annotate). The registration of each
// session and its refreshes are in registration.go.

// UnsaidExpires is the registration lifetime assumed when a 2xx to a REGISTER
// that asked for none (DriverConfig.Expires zero) does not say what it granted
// (neither an expires parameter on the binding nor an Expires header; RFC 3261
// 10.3 says a registrar returns them): short, so that a binding is refreshed
// too early rather than lost.
const UnsaidExpires = 300 * time.Second

// DriverConfig is what a chat protocol driver's Config embeds: the settings of
// its UA (see Config for each) and the registration expiry it asks for. It is a
// plain value: safe to copy and share.
type DriverConfig struct {
	// Target is "host:port" of the registrar/proxy; every request goes there
	// (it is the outbound proxy).
	Target string
	// Transport is "udp", "tcp" or "tls".
	Transport string
	// TLS configures transport tls (see Config.TLS): the roots to verify the
	// target's certificate against, the name it must be valid for, or no
	// verification. Nil: the system's roots and Target's host.
	TLS *tls.Config
	// LocalAddr is the local IP to bind. Empty: the address that reaches
	// Target (127.0.0.1 for a loopback target).
	LocalAddr string
	// Timeout limits each SIP transaction and each wait for the server's
	// answer to a command. Zero means DefaultTimeout. The caller's context
	// deadline applies too.
	Timeout time.Duration
	// Expires is the registration expiry asked for. Zero asks for none (no
	// Expires header): the registrar grants its own default, as Microsoft's
	// clients ask ([MS-SIPREGE] 4.1.1's REGISTER has no Expires) and RFC 3261
	// 10.2.1.1 allows; chatload serve and Kamailio grant 3600 s.
	// Sessions refresh their registration a tenth of the granted expiry (at
	// least four Timeouts, at most half) before it runs out, the first time at
	// a random point of the first period (spread: no thundering herd), in
	// batches (see Registration).
	Expires time.Duration
	// UserAgent is the User-Agent header value ("chatload/1.0.0"); empty: the
	// driver's default.
	UserAgent string
	// Auth is the authentication mode (AuthAuto, AuthDigest, AuthNTLM,
	// AuthKerberos; "" = auto) and Kerberos the Kerberos client's
	// configuration (nil: none).
	Auth     string
	Kerberos *KerberosConfig
	// Logger receives diagnostics. Nil: nothing is logged.
	Logger *slog.Logger
	// Trace, when set, records every SIP message to and from the target (--trace).
	Trace *Trace
	// Sharing spreads the driver's users over shared transports or gives each
	// its own (Pool). Zero: one shared transport for all.
	Sharing Sharing
}

// WithDefaults returns c with the zero Timeout set to its default (a zero
// Expires stays: the registrar's choice). It is a pure function.
func (c DriverConfig) WithDefaults() DriverConfig {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// UA returns the configuration of the driver's UA; a driver adds what is its
// own (Endpoint, KeepAlive, Advertise). It is a pure function.
func (c DriverConfig) UA() Config {
	return Config{
		Target: c.Target, Transport: c.Transport, TLS: c.TLS, LocalAddr: c.LocalAddr,
		Timeout: c.Timeout, UserAgent: c.UserAgent, Logger: c.Logger,
		Auth: c.Auth, Kerberos: c.Kerberos, Trace: c.Trace,
	}
}

// ExpiresString is the expiry asked for as a driver describes it: the
// duration, or "registrar" when none is asked. It is a pure function.
func (c DriverConfig) ExpiresString() string {
	if c.Expires == 0 {
		return "registrar"
	}
	return c.Expires.String()
}

// ValidateExpires reports a negative or sub-second Expires (zero is the
// default). A driver validates its UA's configuration (Config.Validate) and
// this. It is a pure function.
func (c DriverConfig) ValidateExpires() error {
	if c.Expires < 0 || (c.Expires > 0 && c.Expires < time.Second) {
		return fmt.Errorf("expires %s: want at least 1s", c.Expires)
	}
	return nil
}

// Logger returns l, or a logger that discards everything when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// closeParallel bounds the sessions Sessions.CloseAll logs off at once:
// thousands at once would flood the target.
const closeParallel = 64

// Sessions is the set of a driver's open sessions, which Driver.Close logs
// off. The zero value is an empty, open set. Safe for concurrent use.
type Sessions[S interface {
	comparable
	Close(context.Context) error
}] struct {
	mu     sync.Mutex
	m      map[S]struct{}
	closed bool
}

// Add puts s in the set, or fails with Canceled (op register) once CloseAll
// has run: the driver is closed.
func (ss *Sessions[S]) Add(s S) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return report.Errorf(report.Canceled, "register", 0, "driver closed")
	}
	if ss.m == nil {
		ss.m = map[S]struct{}{}
	}
	ss.m[s] = struct{}{}
	return nil
}

// Remove takes s out of the set (a session that closed or failed to connect).
func (ss *Sessions[S]) Remove(s S) {
	ss.mu.Lock()
	delete(ss.m, s)
	ss.mu.Unlock()
}

// CloseAll closes the set (Add fails from now on) and closes the sessions
// still in it, closeParallel at a time, all within timeout. Close errors are
// dropped: the sessions' own Close reports them to whoever called it.
func (ss *Sessions[S]) CloseAll(timeout time.Duration) {
	ss.mu.Lock()
	ss.closed = true
	open := make([]S, 0, len(ss.m))
	for s := range ss.m {
		open = append(open, s)
	}
	ss.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, closeParallel)
	for _, s := range open {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = s.Close(ctx)
		}()
	}
	wg.Wait()
}

// Annotate prefixes the detail of err's *report.Error with what was being done
// ("joining room001: ..."); an error that is no *report.Error becomes one of
// class Other wrapping it. Nil stays nil.
func Annotate(err error, what string) error {
	if err == nil {
		return nil
	}
	var e *report.Error
	if errors.As(err, &e) {
		if e.Detail == "" {
			e.Detail = what
		} else {
			e.Detail = what + ": " + e.Detail
		}
		return err
	}
	return &report.Error{Class: report.Other, Detail: what, Err: err}
}

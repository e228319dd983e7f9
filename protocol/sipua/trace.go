package sipua

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Trace records every SIP message a UA sends and receives, like SIPp's -trace_msg:
// a header line with the time, the direction, the transport and the addresses, then
// the message as it went on the wire, with the credentials in Authorization and
// Proxy-Authorization headers (digest responses, NTLM/Kerberos tokens and
// signatures, Basic credentials) replaced by <redacted>. It stops writing once max
// bytes are written, and says so. Safe for concurrent use; write errors stop it.
type Trace struct {
	mu   sync.Mutex
	w    io.Writer
	max  int64
	n    int64
	done bool
	now  func() time.Time
}

// NewTrace returns a Trace writing to w, at most max bytes (0: 64 MiB).
func NewTrace(w io.Writer, max int64) *Trace {
	if max <= 0 {
		max = 64 << 20
	}
	return &Trace{w: w, max: max, now: time.Now}
}

// Close stops the trace: later messages (connections still closing) are not
// written, and a buffered writer (a Flush method) is flushed under the trace's
// lock. The caller closes the file after it.
func (t *Trace) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	if f, ok := t.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Record writes one message: sent (or received) over transport between local and
// remote.
func (t *Trace) Record(sent bool, transport, local, remote string, msg []byte) {
	if t == nil {
		return
	}
	dir, arrow := "received", "<-"
	if sent {
		dir, arrow = "sent", "->"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "=== %s %s %s %s %s %s (%d bytes)\n", t.now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		dir, transport, local, arrow, remote, len(msg))
	b.Write(Redact(msg))
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		b.WriteByte('\n')
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	if t.n+int64(b.Len()) > t.max {
		t.done = true
		fmt.Fprintf(t.w, "=== trace stopped: the next message would pass the limit of %d bytes\n", t.max)
		return
	}
	n, err := t.w.Write(b.Bytes())
	t.n += int64(n)
	if err != nil {
		t.done = true
	}
}

var (
	authHeader = regexp.MustCompile(`(?im)^((?:proxy-)?authorization|authentication-info|proxy-authentication-info)[ \t]*:.*$`)
	authSecret = regexp.MustCompile(`(?i)\b(response|rspauth|gssapi-data|crand|cnum|srand|snum|signature)\s*=\s*("[^"]*"|[^,\s]+)`)
	authBasic  = regexp.MustCompile(`(?i)(:\s*Basic\s+)\S+`)
)

// Redact returns msg with the secrets of its authentication headers replaced by
// <redacted>: digest responses and rspauth, NTLM and Kerberos gssapi-data and their
// signature parameters, Basic credentials. The rest (user names, realms, nonces) is
// kept: it is what one needs to see why a log on failed. msg is not modified. It is
// a pure function.
func Redact(msg []byte) []byte {
	head, body, found := bytes.Cut(msg, []byte("\r\n\r\n"))
	red := authHeader.ReplaceAllFunc(head, func(h []byte) []byte {
		h = authSecret.ReplaceAll(h, []byte(`$1="<redacted>"`))
		return authBasic.ReplaceAll(h, []byte(`${1}<redacted>`))
	})
	if !found {
		return red
	}
	out := make([]byte, 0, len(msg))
	out = append(append(append(out, red...), "\r\n\r\n"...), body...)
	return out
}

// sipgoTracer feeds the messages of the TCP and TLS connections sipgo owns to the
// Trace of their target (the process may also run an embedded server over sipgo,
// whose connections are not traced). UDP is traced by the UA's own socket
// (targetConn). sipgo's hook is process-wide and its switch a plain variable: it is
// installed once, the first time a UA traces TCP or TLS, and stays (a UA that does
// not trace costs one map lookup per read and write from then on).
type sipgoTracer struct{}

var (
	sipgoTraceOnce sync.Once
	sipgoTracesMu  sync.Mutex
	sipgoTraces    = map[string]*tracedTarget{} // by target address
)

// tracedTarget is a Trace, the transport its UAs speak (sipgo names a TLS
// connection's messages "TCP": its TLS transport wraps the TCP one) and how
// many UAs installed it (a Pool's UAs share one target and one Trace).
type tracedTarget struct {
	trace     *Trace
	transport string // "TCP", "TLS"
	n         int
}

func traceFor(raddr string) tracedTarget {
	sipgoTracesMu.Lock()
	defer sipgoTracesMu.Unlock()
	if tt := sipgoTraces[raddr]; tt != nil {
		return *tt
	}
	return tracedTarget{}
}

func (sipgoTracer) SIPTraceRead(transport, laddr, raddr string, msg []byte) {
	if tt := traceFor(raddr); tt.trace != nil && transport != "UDP" {
		tt.trace.Record(false, tt.transport, laddr, raddr, msg)
	}
}

func (sipgoTracer) SIPTraceWrite(transport, laddr, raddr string, msg []byte) {
	if tt := traceFor(raddr); tt.trace != nil && transport != "UDP" {
		tt.trace.Record(true, tt.transport, laddr, raddr, msg)
	}
}

// installSIPGoTracer routes sipgo's messages on transport ("tcp", "tls")
// connections to target to t, until as many uninstallSIPGoTracer calls for t.
func installSIPGoTracer(t *Trace, target, transport string) {
	sipgoTracesMu.Lock()
	if tt := sipgoTraces[target]; tt != nil && tt.trace == t {
		tt.n++
	} else {
		sipgoTraces[target] = &tracedTarget{trace: t, transport: strings.ToUpper(transport), n: 1}
	}
	sipgoTracesMu.Unlock()
	sipgoTraceOnce.Do(func() {
		sip.SIPDebugTracer(sipgoTracer{})
		sip.SIPDebug = true
	})
}

// uninstallSIPGoTracer stops routing target's messages to t.
func uninstallSIPGoTracer(t *Trace, target string) {
	sipgoTracesMu.Lock()
	if tt := sipgoTraces[target]; tt != nil && tt.trace == t {
		if tt.n--; tt.n <= 0 {
			delete(sipgoTraces, target)
		}
	}
	sipgoTracesMu.Unlock()
}

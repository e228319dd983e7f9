package sipua

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/chatload/chatload/report"
	"github.com/chatload/chatload/scenarios"
)

// Sharing says how a Pool spreads its users over transports (user agents).
// It is a plain value: safe to copy and share.
type Sharing struct {
	// PerUser gives every user a UA of its own: its own UDP socket, or its own
	// listener and connection to the target over TCP and TLS, opened when the
	// user's Account is made and closed when it closes, as real clients (Lync)
	// each hold their connection.
	PerUser bool
	// N is the number of UAs the users share (PerUser false): the users are
	// spread over them round robin. 0 means "by the load": the caller chooses
	// (SharedFor); a Pool takes 0 as 1.
	N int
}

// MaxShared bounds Sharing.N: more sockets than this spread no better and
// cost a reader goroutine and buffers each.
const MaxShared = 1024

// ParseSharing reads "per-user", "shared" (N 0: by the load) or "shared:N"
// (1 <= N <= MaxShared), as the transport-sharing setting
// (scenarios.ParseSharing). It is a pure function.
func ParseSharing(s string) (Sharing, error) {
	n, err := scenarios.ParseSharing(s)
	if err != nil {
		return Sharing{}, err
	}
	if n < 0 {
		return Sharing{PerUser: true}, nil
	}
	return Sharing{N: n}, nil
}

// String is the form ParseSharing reads: "per-user", "shared" or "shared:4".
func (s Sharing) String() string {
	if s.PerUser {
		return scenarios.SharingText(-1)
	}
	return scenarios.SharingText(s.N)
}

// usersPerShared is how many users SharedFor puts on one UA: a UDP socket's
// reader keeps up with the copies of several thousand users (docs/performance.md),
// and its 4 MiB receive buffer absorbs their bursts.
const usersPerShared = 5000

// SharedFor is the number of shared UAs for users users (shared without N):
// one per 5,000 users, at least 1, at most 64. It is a pure function.
func SharedFor(users int) int {
	return min(max((users+usersPerShared-1)/usersPerShared, 1), 64)
}

// FilesPerUA is how many file descriptors a UA holds on transport: its socket
// (udp), or its listener and its connection to the target (tcp, tls).
func FilesPerUA(transport string) int {
	if transport == "udp" {
		return 1
	}
	return 2
}

// Pool is the user agents of a driver: N shared ones, or one per user
// (Sharing). Each user is an Account on one of them, with its own Contact
// (user part on its UA's address), registration, dialogs, authentication
// state and CSeq space; requests and responses reach it through its UA's
// routing (UA.route, the transactions' branch). An idle user is its Account
// (a record in its UA's maps): no goroutine of its own when shared. Safe for
// concurrent use.
type Pool struct {
	cfg     Config
	sharing Sharing
	setup   func(*UA)
	sh      uaShared // what the UAs share (per-user: every UA made later)
	scheme  atomic.Pointer[string]

	shared []*UA            // !PerUser: the N UAs, fixed from NewPool to Close
	next   atomic.Uint64    // round robin over shared
	mu     sync.Mutex       // guards own and closed
	own    map[*UA]struct{} // PerUser: the UAs open
	closed bool
	ending sync.WaitGroup // per-user UAs closing after their Account
}

// NewPool validates cfg and opens the shared UAs (PerUser: none yet; each
// NewAccount opens one). setup, when not nil, is called on every UA before
// any Account uses it (UA.ServeDialogs). Close releases them all.
func NewPool(cfg Config, sharing Sharing, setup func(*UA)) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sharing.N < 0 || sharing.N > MaxShared {
		return nil, fmt.Errorf("transport sharing %s: want shared:N with N from 1 to %d", sharing, MaxShared)
	}
	p := &Pool{cfg: cfg, sharing: sharing, setup: setup, own: map[*UA]struct{}{}}
	p.sh.scheme = &p.scheme
	if !sharing.PerUser {
		n := max(sharing.N, 1)
		p.sharing.N = n
		for range n {
			ua, err := p.open()
			if err != nil {
				p.Close()
				return nil, err
			}
			p.shared = append(p.shared, ua)
		}
		return p, nil
	}
	// Per user: resolve the target, choose the local address, read the
	// Kerberos configuration and make the listener's certificate once, not per
	// user.
	probe := &UA{cfg: cfg, timeout: cfg.timeout(), where: cfg.Target + "/" + cfg.Transport}
	raddr, local, err := probe.addresses(uaShared{})
	if err != nil {
		return nil, err
	}
	p.sh.raddr, p.sh.local = raddr, local
	if cfg.Kerberos != nil {
		if p.sh.krb, err = newKerberosClient(*cfg.Kerberos); err != nil {
			return nil, err
		}
	}
	if cfg.Transport == "tls" {
		if p.sh.listener, err = listenerTLS(cfg.TLS, local); err != nil {
			return nil, err
		}
	}
	// A user's own socket has no other user's requests to batch with, and
	// Flush would have to visit every user's UA: per-user requests leave at
	// once.
	p.sh.onEmpty, p.sh.sendNow = p.release, true
	return p, nil
}

// open makes one UA with what the pool's UAs share.
func (p *Pool) open() (*UA, error) {
	ua, err := openUA(p.cfg, p.sh)
	if err != nil {
		return nil, err
	}
	if p.setup != nil {
		p.setup(ua)
	}
	return ua, nil
}

// NewAccount adds a user (UA.NewAccount) on a shared UA, round robin, or on a
// UA of its own that closes when the Account does. Safe for concurrent use;
// Canceled once the pool is closed.
func (p *Pool) NewAccount(aor, username, password string, h Handler) (*Account, error) {
	if !p.sharing.PerUser {
		ua := p.shared[(p.next.Add(1)-1)%uint64(len(p.shared))]
		return ua.NewAccount(aor, username, password, h)
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, &report.Error{Class: report.Canceled, Op: "account", Detail: "user agent closed"}
	}
	ua, err := p.open()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ua.Close()
		return nil, &report.Error{Class: report.Canceled, Op: "account", Detail: "user agent closed"}
	}
	p.own[ua] = struct{}{}
	p.mu.Unlock()
	a, err := ua.NewAccount(aor, username, password, h)
	if err != nil {
		p.release(ua)
		return nil, err
	}
	return a, nil
}

// release closes a per-user UA whose Account closed. The UA closes on a
// goroutine of its own: Account.Close may run on one of the UA's goroutines
// (a callback), which UA.Close waits for. Close waits for it.
func (p *Pool) release(ua *UA) {
	p.mu.Lock()
	_, ok := p.own[ua]
	delete(p.own, ua)
	if ok {
		p.ending.Add(1)
	}
	p.mu.Unlock()
	if ok {
		go func() {
			defer p.ending.Done()
			ua.Close()
		}()
	}
}

// Sharing returns how the pool shares its transports (N resolved: at least 1
// when shared).
func (p *Pool) Sharing() Sharing { return p.sharing }

// UAs returns how many user agents (sockets, or listener and connection) are
// open. Safe for concurrent use.
func (p *Pool) UAs() int {
	if !p.sharing.PerUser {
		return len(p.shared)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.own)
}

// LocalAddrs returns the listening addresses of the UAs open. Safe for
// concurrent use.
func (p *Pool) LocalAddrs() []string {
	var out []string
	if !p.sharing.PerUser {
		for _, ua := range p.shared {
			out = append(out, ua.LocalAddr())
		}
		return out
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ua := range p.own {
		out = append(out, ua.LocalAddr())
	}
	return out
}

// LocalAddr returns the address of the first shared UA; per user, where each
// user has its own port (Account.LocalAddr), the local IP with port 0. Safe
// for concurrent use.
func (p *Pool) LocalAddr() string {
	if len(p.shared) > 0 {
		return p.shared[0].LocalAddr()
	}
	return p.sh.local.String() + ":0"
}

// Flush sends the requests the shared UAs hold (UA.Flush); per user nothing
// is held. Safe for concurrent use.
func (p *Pool) Flush() {
	for _, ua := range p.shared {
		ua.Flush()
	}
}

// AuthScheme returns the scheme the pool's accounts last answered a challenge
// with (UA.AuthScheme). Safe for concurrent use.
func (p *Pool) AuthScheme() string {
	if s := p.scheme.Load(); s != nil {
		return *s
	}
	return ""
}

// Where names the target for error details: "127.0.0.1:5090/udp".
func (p *Pool) Where() string { return p.cfg.Target + "/" + p.cfg.Transport }

// Close closes every UA (UA.Close): accounts still open fail their requests
// afterwards. Safe to call more than once and concurrently; NewAccount fails
// with Canceled afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	uas := append([]*UA(nil), p.shared...)
	for ua := range p.own {
		uas = append(uas, ua)
	}
	clear(p.own)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, ua := range uas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ua.Close()
		}()
	}
	wg.Wait()
	p.ending.Wait()
	return nil
}

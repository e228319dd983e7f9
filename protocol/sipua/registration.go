package sipua

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/report"
)

// Registrar registers a driver's Accounts and keeps them registered: the part
// of registration the sessions of a driver share. Set its fields before the
// first Register; they are read only afterwards. Each session holds a
// Registration of its own (NewRegistration).
type Registrar struct {
	// Expires is the expiry every REGISTER asks for (DriverConfig.Expires);
	// zero asks for none: the registrar's default.
	Expires time.Duration
	// Timeout is the driver's transaction timeout: a failed refresh is
	// retried that long after. (Each transaction of a refresh is bounded by
	// the UA's own timeout.)
	Timeout time.Duration
	// Headers are sent on every REGISTER after Expires (xccos: ms-keep-alive).
	// Read only: shared by every request.
	Headers []sip.Header
	// Log receives the refresh failures. Nil: nothing is logged.
	Log *slog.Logger
	// Registered, when set, is called with each 2xx to a REGISTER that binds
	// (sign-in and refreshes, not unREGISTER), on the goroutine that sent it
	// (a refresh: the one that read the response, a UA's); it must not block.
	Registered func(a *Account, res *sip.Response)

	// send replaces the REGISTER transaction in tests of the schedule; nil:
	// register.
	send func(ctx context.Context, a *Account, op string, expires time.Duration) (granted time.Duration, err error)

	// The refresher: every Registration waiting for its next refresh, and one
	// timer for the earliest; times on its own clock, since epoch (monotonic).
	mu     sync.Mutex
	epoch  time.Time
	queue  refreshQueue
	queued int // Registrations queued (stopped ones' items are left in queue)
	timer  *time.Timer
	wake   time.Duration // when timer fires; zero: not set
}

// refreshPeriod returns how long after a registration granted for g a session
// refreshes it: g less a lead of a tenth of g, but at least four transaction
// timeouts (a failed refresh is retried a timeout later, so a binding survives
// a few lost ones) and at most g/2. Real clients refresh near the end of what
// was granted (a Lync client when it runs out, Linphone at 90%, PJSIP 5 s
// before), so a population of simulated users loads the registrar as many real
// ones would: 100,000 users at 300 s refresh 370 times a second, not the 667 of
// a refresh every g/2. It is a pure function.
func refreshPeriod(g, timeout time.Duration) time.Duration {
	return g - min(g/2, max(g/10, 4*timeout))
}

// refreshSpread is the share of the refresh period (refreshPeriod) over which
// first refreshes are spread: a session's first refresh comes at a uniformly
// drawn point of the last refreshSpread of the period, later ones every period.
const refreshSpread = 0.9

// refreshFloor is the earliest first refresh (unless the period is shorter): a
// session signed in for a short test does not refresh in the middle of it.
const refreshFloor = 30 * time.Second

// minRefresh is the shortest wait before any refresh: a registrar that grants
// less than two seconds is not refreshed in a busy loop.
const minRefresh = time.Second

// firstRefresh returns when a session whose registration was just granted, to be
// refreshed every period p, first refreshes it: uniformly in [lo, p) with
// lo = p·(1-refreshSpread), but not before refreshFloor (nor after p); u in
// [0, 1) chooses the point. Users signed in in a burst (a sign-in wave of
// thousands per second) would otherwise all refresh in the same burst every p, a
// thundering herd the registrar must absorb at once; drawn this way, their
// refreshes are about evenly spread over the period from the first one on (each
// then keeps its phase, refreshing every p). It is a pure function.
func firstRefresh(p time.Duration, u float64) time.Duration {
	lo := max(p-time.Duration(refreshSpread*float64(p)), min(p, refreshFloor))
	return p - time.Duration(float64(p-lo)*(1-u))
}

// drawFirstRefresh is firstRefresh with a random point (math/rand/v2's global
// source: safe for concurrent use).
func drawFirstRefresh(p time.Duration) time.Duration { return firstRefresh(p, rand.Float64()) }

// refreshBatch: a refresh falling due within refreshBatch of the one that
// wakes the refresher is sent with it (a little early). Refreshes of many users
// then cost one wake-up and, on a shared socket, one sendmmsg per batch instead
// of one wake-up, one timer goroutine and one system call each: 100,000 users at
// a 300 s expiry refresh 370 times a second, and an idle generator should sleep.
// Against the lead a refresh has on the expiry (refreshPeriod), 100 ms is nothing.
const refreshBatch = 100 * time.Millisecond

// refreshBatchMax bounds a batch, so that a registrar's socket (a UDP receive
// buffer of some 200 KiB by default) never gets more REGISTERs at once than it
// holds; the rest go on the next wake-up, at once.
const refreshBatchMax = 256

// refreshItem is a Registration waiting for its refresh, due at the time on
// its Registrar's clock (time since Registrar.epoch): the key is kept in the
// queue itself, so that keeping the queue in order reads no Registration.
type refreshItem struct {
	due time.Duration
	g   *Registration
}

// refreshQueue is a min-heap of refreshItems by due time: a push and a pop are
// O(log n) moves of 16-byte items (container/heap would box each item pushed).
// A stopped Registration's item stays until it comes out (Registration.queued).
type refreshQueue []refreshItem

func (q *refreshQueue) push(it refreshItem) {
	h := append(*q, it)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].due <= it.due {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = it
	*q = h
}

func (q *refreshQueue) pop() refreshItem {
	h := *q
	top := h[0]
	n := len(h) - 1
	last := h[n]
	h[n] = refreshItem{}
	h = h[:n]
	i := 0
	for n > 0 {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].due < h[c].due {
			c++
		}
		if last.due <= h[c].due {
			break
		}
		h[i] = h[c]
		i = c
	}
	if n > 0 {
		h[i] = last
	}
	*q = h
	return top
}

// Registration is one Account's binding at the registrar: its sign-in, its
// refreshes (an entry in its Registrar's queue while idle: no timer and no
// goroutine of its own) and its unREGISTER. Safe for concurrent use.
type Registration struct {
	r *Registrar
	a *Account

	// Guarded by r.mu:
	queued   bool               // in r.queue, waiting for its next refresh
	cancel   context.CancelFunc // the refresh in flight, for Stop
	stopped  bool
	inflight sync.WaitGroup
}

// NewRegistration returns a's Registration, not yet registered.
func (r *Registrar) NewRegistration(a *Account) *Registration {
	return &Registration{r: r, a: a}
}

// Register signs the Account in (REGISTER asking for Registrar.Expires) and
// returns the expiry the registrar granted. Unless Stop ran meanwhile, it then
// keeps the binding: the first refresh at a random point of the first refresh
// period (see firstRefresh), then every period (refreshPeriod: 90% of the
// granted expiry, less for short ones), and Registrar.Timeout after a failed
// refresh; refreshes falling due within refreshBatch of each other are sent
// together. Errors are those of Account.Do, NotFound and Auth saying which user.
func (g *Registration) Register(ctx context.Context) (time.Duration, error) {
	granted, err := g.r.do(ctx, g.a, "register", g.r.Expires)
	if err != nil {
		return 0, err
	}
	g.r.mu.Lock()
	g.arm(drawFirstRefresh(refreshPeriod(granted, g.r.Timeout)))
	g.r.mu.Unlock()
	return granted, nil
}

// Stop ends the refreshes: none starts from now on, one in flight is
// cancelled, and Stop returns once it has ended. The binding stays at the
// registrar until it expires (Unregister removes it). Safe to call more than
// once; it must not be called from Registrar.Registered.
func (g *Registration) Stop() {
	r := g.r
	r.mu.Lock()
	g.stopped = true
	if g.queued {
		g.queued = false // its item is dropped when it comes out
		if r.queued--; r.queued == 0 {
			clear(r.queue) // nothing left to wake up for
			r.queue = r.queue[:0]
			if r.timer != nil {
				r.timer.Stop()
				r.wake = 0
			}
		}
	}
	if g.cancel != nil {
		g.cancel()
	}
	r.mu.Unlock()
	g.inflight.Wait()
}

// Unregister stops the refreshes (Stop) and removes the binding (REGISTER
// with Expires: 0).
func (g *Registration) Unregister(ctx context.Context) error {
	g.Stop()
	_, err := g.r.do(ctx, g.a, "unregister", 0)
	return err
}

// arm queues the next refresh after d (at least minRefresh). Called with
// g.r.mu held.
func (g *Registration) arm(d time.Duration) {
	if g.stopped {
		return
	}
	r := g.r
	if r.epoch.IsZero() {
		r.epoch = time.Now()
	}
	g.queued = true
	r.queued++
	r.queue.push(refreshItem{due: time.Since(r.epoch) + max(d, minRefresh), g: g})
	r.schedule()
}

// schedule sets the refresher's timer for the earliest refresh in the queue
// (unless it is set for then already). Called with r.mu held.
func (r *Registrar) schedule() {
	if len(r.queue) == 0 {
		return
	}
	due := r.queue[0].due
	if r.wake != 0 && due >= r.wake {
		return // it wakes up in time for this one
	}
	r.wake = due
	d := max(due-time.Since(r.epoch), 0)
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.refresh)
		return
	}
	r.timer.Reset(d)
}

// pending is a refresh taken off the queue and about to be sent.
type pending struct {
	g      *Registration
	ctx    context.Context
	cancel context.CancelFunc
}

// refresh is the refresher's timer: it takes the refreshes due by now plus
// refreshBatch (at most refreshBatchMax), sets the timer for the next, and
// sends the batch (re-REGISTER, op reregister), shared sockets' requests held
// and flushed together. Each refresh, answered, queues its successor.
func (r *Registrar) refresh() {
	r.mu.Lock()
	r.wake = 0
	horizon := time.Since(r.epoch) + refreshBatch
	var batch []pending
	for len(r.queue) > 0 && r.queue[0].due <= horizon && len(batch) < refreshBatchMax {
		g := r.queue.pop().g
		if !g.queued {
			continue // stopped
		}
		g.queued = false
		r.queued--
		g.inflight.Add(1)
		// Stop cancels a refresh in flight rather than wait out its timeout.
		ctx, cancel := context.WithCancel(context.Background())
		g.cancel = cancel
		batch = append(batch, pending{g, ctx, cancel})
	}
	r.schedule()
	r.mu.Unlock()

	var flush []*UA // the shared UAs holding requests of this batch
	for _, p := range batch {
		if ua := p.g.a.ua; ua != nil && !ua.sendNow && ua.own(sip.REGISTER) && !slices.Contains(flush, ua) {
			flush = append(flush, ua)
		}
		r.doAsync(p.ctx, p.g.a, "reregister", r.Expires, p.g.refreshed(p))
	}
	for _, ua := range flush {
		ua.Flush()
	}
}

// refreshed returns what takes the outcome of p, this Registration's refresh:
// the next one is queued, a refresh period later (refreshPeriod), or
// Registrar.Timeout after a failure.
func (g *Registration) refreshed(p pending) func(time.Duration, error) {
	return func(granted time.Duration, err error) {
		p.cancel()
		next := g.r.Timeout // retry soon after a failure
		if err != nil {
			if p.ctx.Err() == nil && g.r.Log != nil { // not Stop cancelling it
				aor := g.a.AoR()
				g.r.Log.Warn("registration refresh failed", "user", aor.String(), "error", err)
			}
		} else {
			next = refreshPeriod(granted, g.r.Timeout)
		}
		g.r.mu.Lock()
		g.cancel = nil
		g.arm(next)
		g.r.mu.Unlock()
		g.inflight.Done()
	}
}

// do sends a REGISTER (op: register, reregister or unregister) asking for
// expires and returns what was granted.
func (r *Registrar) do(ctx context.Context, a *Account, op string, expires time.Duration) (time.Duration, error) {
	if r.send != nil {
		return r.send(ctx, a, op, expires)
	}
	unregister := op == "unregister"
	res, err := a.Do(ctx, op, r.request(a, expires, unregister))
	return r.registered(a, expires, unregister, res, err)
}

// doAsync is do without waiting: done gets its outcome, from the UA's
// goroutines (or from doAsync itself). Over UDP the REGISTER is one of the UA's
// own transactions, held for UA.Flush on a shared socket; over TCP and TLS
// sipgo's transaction blocks, so it runs on a goroutine of its own.
func (r *Registrar) doAsync(ctx context.Context, a *Account, op string, expires time.Duration, done func(time.Duration, error)) {
	if r.send != nil {
		go func() { done(r.send(ctx, a, op, expires)) }()
		return
	}
	req := r.request(a, expires, false)
	req.Hold, req.binding = true, true
	finish := func(res *sip.Response, err error) { done(r.registered(a, expires, false, res, err)) }
	if !a.ua.own(sip.REGISTER) {
		go a.start(ctx, op, req, true, finish)
		return
	}
	a.start(ctx, op, req, true, finish) // full: the 2xx is read (granted expiry, GRUU)
}

// request is the REGISTER for a's Contact asking for expires (zero: no
// Expires header, the registrar's choice), or removing it (Expires: 0).
func (r *Registrar) request(a *Account, expires time.Duration, unregister bool) Request {
	aor := a.AoR()
	ruri := sip.Uri{Scheme: aor.Scheme, Host: aor.Host, Port: aor.Port}
	headers := make([]sip.Header, 0, 1+len(r.Headers))
	if expires > 0 || unregister {
		exp := sip.ExpiresHeader(uint32(expires / time.Second))
		headers = append(headers, &exp)
	}
	return Request{Method: sip.REGISTER, URI: ruri, To: &aor, Contact: true, Headers: append(headers, r.Headers...)}
}

// registered takes the outcome of a REGISTER asking for expires and returns
// the expiry granted (Account.Granted, else what was asked, else
// UnsaidExpires; 0 for an unREGISTER), or the error saying which user.
func (r *Registrar) registered(a *Account, expires time.Duration, unregister bool, res *sip.Response, err error) (time.Duration, error) {
	if err != nil {
		var e *report.Error
		if errors.As(err, &e) {
			aor := a.AoR()
			switch e.Class {
			case report.NotFound:
				e.Detail = "user " + aor.String() + " not provisioned: " + e.Detail
			case report.Auth:
				e.Detail = "user " + aor.String() + ": " + e.Detail
				if p, _ := report.AuthProblemOf(e); p == "" {
					e.Detail += " (wrong password or auth user?)"
				}
			}
		}
		return 0, err
	}
	if unregister {
		return 0, nil
	}
	if r.Registered != nil {
		r.Registered(a, res)
	}
	granted, ok := a.Granted(res)
	if !ok {
		granted = expires
	}
	if granted == 0 {
		granted = UnsaidExpires
	}
	return granted, nil
}

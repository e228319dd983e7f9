package sipua

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
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
	// Expires is the expiry every REGISTER asks for (DriverConfig.Expires,
	// defaults applied).
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
	// (a refresh: a timer's); it must not block.
	Registered func(a *Account, res *sip.Response)

	// send replaces the REGISTER transaction in tests of the schedule; nil:
	// register.
	send func(ctx context.Context, a *Account, op string, expires time.Duration) (granted time.Duration, err error)
}

// refreshSpread is the share of the refresh period (granted/2) over which first
// refreshes are spread: a session's first refresh comes at a uniformly drawn point
// of the last refreshSpread of the period, later ones every granted/2.
const refreshSpread = 0.9

// refreshFloor is the earliest first refresh (unless granted/2 is shorter): a
// session signed in for a short test does not refresh in the middle of it.
const refreshFloor = 30 * time.Second

// minRefresh is the shortest wait before any refresh: a registrar that grants
// less than two seconds is not refreshed in a busy loop.
const minRefresh = time.Second

// firstRefresh returns when a session whose registration was just granted for g
// first refreshes it: uniformly in [lo, g/2) with lo = g/2·(1-refreshSpread), but
// not before refreshFloor (nor after g/2); u in [0, 1) chooses the point. Users
// signed in in a burst (a sign-in wave of thousands per second) would otherwise all
// refresh in the same burst every g/2, a thundering herd the registrar must absorb
// at once; drawn this way, their refreshes are about evenly spread over the period
// from the first one on (each then keeps its phase, refreshing every g/2). It is a
// pure function.
func firstRefresh(g time.Duration, u float64) time.Duration {
	half := g / 2
	lo := max(half-time.Duration(refreshSpread*float64(half)), min(half, refreshFloor))
	return half - time.Duration(float64(half-lo)*(1-u))
}

// drawFirstRefresh is firstRefresh with a random point (math/rand/v2's global
// source: safe for concurrent use).
func drawFirstRefresh(g time.Duration) time.Duration { return firstRefresh(g, rand.Float64()) }

// Registration is one Account's binding at the registrar: its sign-in, its
// refreshes (a timer, no goroutine while idle) and its unREGISTER. Safe for
// concurrent use.
type Registration struct {
	r *Registrar
	a *Account

	mu       sync.Mutex
	timer    *time.Timer        // the next refresh; nil before the first
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
// keeps the binding: the first refresh at a random point of the first half of
// the granted expiry (see firstRefresh), then every half the granted expiry,
// and Registrar.Timeout after a failed refresh. Errors are those of
// Account.Do, NotFound and Auth saying which user.
func (g *Registration) Register(ctx context.Context) (time.Duration, error) {
	granted, err := g.r.do(ctx, g.a, "register", g.r.Expires)
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	g.arm(drawFirstRefresh(granted))
	g.mu.Unlock()
	return granted, nil
}

// Stop ends the refreshes: none starts from now on, one in flight is
// cancelled, and Stop returns once it has ended. The binding stays at the
// registrar until it expires (Unregister removes it). Safe to call more than
// once; it must not be called from Registrar.Registered.
func (g *Registration) Stop() {
	g.mu.Lock()
	g.stopped = true
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.inflight.Wait()
}

// Unregister stops the refreshes (Stop) and removes the binding (REGISTER
// with Expires: 0).
func (g *Registration) Unregister(ctx context.Context) error {
	g.Stop()
	_, err := g.r.do(ctx, g.a, "unregister", 0)
	return err
}

// arm schedules the next refresh after d (at least minRefresh). Called with
// g.mu held.
func (g *Registration) arm(d time.Duration) {
	if g.stopped {
		return
	}
	d = max(d, minRefresh)
	if g.timer == nil {
		g.timer = time.AfterFunc(d, g.refresh)
		return
	}
	g.timer.Reset(d)
}

// refresh re-registers (op reregister) and arms the next refresh.
func (g *Registration) refresh() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.inflight.Add(1)
	// Stop cancels a refresh in flight rather than wait out its timeout.
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.mu.Unlock()
	defer g.inflight.Done()
	defer cancel()

	next := g.r.Timeout // retry soon after a failure
	if granted, err := g.r.do(ctx, g.a, "reregister", g.r.Expires); err != nil {
		if ctx.Err() == nil && g.r.Log != nil { // not Stop cancelling it
			aor := g.a.AoR()
			g.r.Log.Warn("registration refresh failed", "user", aor.String(), "error", err)
		}
	} else {
		next = granted / 2
	}
	g.mu.Lock()
	g.arm(next)
	g.mu.Unlock()
}

func (r *Registrar) do(ctx context.Context, a *Account, op string, expires time.Duration) (time.Duration, error) {
	if r.send != nil {
		return r.send(ctx, a, op, expires)
	}
	return r.register(ctx, a, op, expires)
}

// register sends REGISTER for a's Contact asking for expires and returns the
// expiry granted (Account.Granted, else what was asked; 0 for an unREGISTER).
func (r *Registrar) register(ctx context.Context, a *Account, op string, expires time.Duration) (time.Duration, error) {
	aor := a.AoR()
	ruri := sip.Uri{Scheme: aor.Scheme, Host: aor.Host, Port: aor.Port}
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	headers := make([]sip.Header, 0, 1+len(r.Headers))
	headers = append(append(headers, &exp), r.Headers...)
	res, err := a.Do(ctx, op, Request{Method: sip.REGISTER, URI: ruri, To: &aor, Contact: true, Headers: headers})
	if err != nil {
		var e *report.Error
		if errors.As(err, &e) {
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
	if expires == 0 {
		return 0, nil
	}
	if r.Registered != nil {
		r.Registered(a, res)
	}
	granted, ok := a.Granted(res)
	if !ok {
		granted = expires
	}
	return granted, nil
}

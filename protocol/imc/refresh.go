package imc

import (
	"math/rand/v2"
	"time"
)

// refreshSpread is the share of the refresh period (granted/2) over which first
// refreshes are spread: a session's first refresh comes at a uniformly drawn point
// of the last refreshSpread of the period, later ones every granted/2.
const refreshSpread = 0.9

// refreshFloor is the earliest first refresh (unless granted/2 is shorter): a
// session signed in for a short test does not refresh in the middle of it.
const refreshFloor = 30 * time.Second

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

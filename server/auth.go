package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icholy/digest"
)

// verdict is the outcome of checking a request's digest credentials.
type verdict int

const (
	authOK             verdict = iota
	authChallenge              // no usable credentials for our realm: challenge
	authStale                  // right credentials on an expired or reused nonce: stale=true
	authWrongPassword          // response does not match: challenge again, like Kamailio
	authUnknownUser            // username not provisioned: 404 User Not Found
	authBadCredentials         // unparsable Digest credentials: 400
	authBadURI                 // digest uri is not the Request-URI (RFC 2617 §3.2.2.5): 400
)

// nonce layout: 8 bytes issue time (unix ns) | 8 random bytes | 16 bytes HMAC-SHA256.
const (
	nonceRaw  = 32
	nonceBody = 16
)

// authenticator checks digest credentials statelessly (HMAC-signed, timestamped
// nonces) plus a bounded nonce-count table for replay detection. Safe for concurrent use.
type authenticator struct {
	realm    string
	algo     string
	lifetime time.Duration
	now      func() time.Time
	key      [32]byte
	last     atomic.Int64 // last issue stamp: stamps strictly increase, so evicting one never condemns a later nonce

	mu    sync.Mutex
	seen  map[string]*ncEntry // by username NUL nonce
	fifo  []*ncEntry          // first-use order, for eviction
	head  int
	max   int
	floor int64 // highest issue time evicted: an unseen nonce issued at or before it may have been used
}

type ncEntry struct {
	key    string
	issued int64
	nc     int    // highest nonce-count seen
	window uint64 // bit i set: nc-i was seen (i < ncWindow)
}

// ncWindow is how far behind the highest nonce-count a request may arrive and still be
// accepted once. A client with many requests in flight on one nonce cannot keep them in
// order (the server handles each on its own goroutine, UDP reorders), so strict
// increase would refuse honest requests; each count is still accepted only once.
const ncWindow = 64

func newAuthenticator(realm, algo string, lifetime time.Duration, maxNonces int, now func() time.Time) (*authenticator, error) {
	a := &authenticator{realm: realm, algo: algo, lifetime: lifetime, now: now,
		seen: make(map[string]*ncEntry), max: maxNonces}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, err
	}
	return a, nil
}

// challenge returns a WWW-Authenticate / Proxy-Authenticate value with a fresh nonce.
func (a *authenticator) challenge(stale bool) string {
	c := digest.Challenge{
		Realm:     a.realm,
		Nonce:     a.mint(),
		Algorithm: a.algo,
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return c.String()
}

func (a *authenticator) mint() string {
	var b [nonceRaw]byte
	now := a.now().UnixNano()
	for {
		last := a.last.Load()
		ts := max(now, last+1)
		if a.last.CompareAndSwap(last, ts) {
			now = ts
			break
		}
	}
	binary.BigEndian.PutUint64(b[:8], uint64(now))
	_, _ = rand.Read(b[8:nonceBody]) // crypto/rand.Read never fails on supported platforms
	copy(b[nonceBody:], a.sign(b[:nonceBody]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *authenticator) sign(body []byte) []byte {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(a.realm))
	m.Write(body)
	return m.Sum(nil)[:nonceRaw-nonceBody]
}

// issued returns the issue time of a nonce this authenticator minted.
func (a *authenticator) issued(nonce string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceRaw {
		return 0, false
	}
	if !hmac.Equal(b[nonceBody:], a.sign(b[:nonceBody])) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[:8])), true
}

// check verifies the credentials in values (the Authorization or
// Proxy-Authorization header values) for method. password looks an auth username up;
// requestURI reports whether the credentials' uri names the Request-URI.
// On authOK it returns the username.
func (a *authenticator) check(method string, values []string, password func(user string) (string, bool), requestURI func(uri string) bool) (verdict, string) {
	var cred *digest.Credentials
	for _, v := range values {
		if !digest.IsDigest(strings.TrimSpace(v)) {
			continue
		}
		c, err := digest.ParseCredentials(strings.TrimSpace(v))
		if err != nil {
			return authBadCredentials, ""
		}
		if c.Realm == a.realm {
			cred = c
			break
		}
	}
	if cred == nil || cred.Username == "" {
		return authChallenge, ""
	}
	if !requestURI(cred.URI) {
		return authBadURI, ""
	}
	issued, ok := a.issued(cred.Nonce)
	if !ok {
		return authChallenge, ""
	}
	if a.now().UnixNano()-issued > int64(a.lifetime) {
		return authStale, ""
	}
	// Counts are kept per user and nonce: a client that shares one challenge among
	// its users (fine with Kamailio, which does not check nc) keeps working.
	key := cred.Username + "\x00" + cred.Nonce
	a.mu.Lock()
	_, known := a.seen[key]
	evicted := !known && issued <= a.floor
	a.mu.Unlock()
	if evicted {
		return authStale, ""
	}
	pw, ok := password(cred.Username)
	if !ok {
		return authUnknownUser, ""
	}
	algo := strings.ToUpper(cred.Algorithm)
	if (algo != "" && algo != AlgorithmMD5 && algo != AlgorithmSHA256) ||
		cred.QOP != "auth" || cred.Nc < 1 || cred.Cnonce == "" || cred.Userhash {
		return authChallenge, ""
	}
	want, err := digest.Digest(&digest.Challenge{
		Realm: cred.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm,
		Opaque: cred.Opaque, QOP: []string{"auth"},
	}, digest.Options{
		Method: method, URI: cred.URI, Username: cred.Username, Password: pw,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	if err != nil {
		return authChallenge, ""
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) != 1 {
		return authWrongPassword, ""
	}
	if !a.advance(key, issued, cred.Nc) {
		return authStale, ""
	}
	return authOK, cred.Username
}

// advance records nc for key; false when nc was seen before (a replay) or is more
// than ncWindow behind the highest count seen. Only verified credentials get here, so
// a forger cannot burn a client's counts.
func (a *authenticator) advance(key string, issued int64, nc int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.seen[key]; ok {
		return e.mark(nc)
	}
	if issued <= a.floor {
		return false // evicted meanwhile
	}
	for len(a.seen) >= a.max {
		a.evictOldest()
	}
	e := &ncEntry{key: key, issued: issued, nc: nc, window: 1}
	a.seen[key] = e
	a.fifo = append(a.fifo, e)
	return true
}

// mark accepts nc once: above the highest count it slides the window up, within the
// window it must not have been seen.
func (e *ncEntry) mark(nc int) bool {
	switch d := nc - e.nc; {
	case d > 0:
		if d >= ncWindow {
			e.window = 1
		} else {
			e.window = e.window<<d | 1
		}
		e.nc = nc
		return true
	case -d >= ncWindow:
		return false
	default:
		bit := uint64(1) << -d
		if e.window&bit != 0 {
			return false
		}
		e.window |= bit
		return true
	}
}

// evictOldest drops the entry used first. Raising floor keeps replay detection sound:
// a nonce that is no longer in the table and was issued before floor is answered
// stale, costing an honest client one extra challenge at worst.
func (a *authenticator) evictOldest() {
	e := a.fifo[a.head]
	a.fifo[a.head] = nil
	a.head++
	delete(a.seen, e.key)
	a.floor = max(a.floor, e.issued)
	if a.head > len(a.fifo)/2 {
		n := copy(a.fifo, a.fifo[a.head:])
		clear(a.fifo[n:])
		a.fifo = a.fifo[:n]
		a.head = 0
	}
}

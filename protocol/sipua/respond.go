package sipua

import (
	"encoding/hex"
	"math/rand/v2"
	"net"

	"github.com/emiago/sipgo/sip"
)

// okResponse builds the 200 OK to an incoming non-INVITE request outside a
// dialog (RFC 3261 section 8.2.6): the request's Via headers in order, From,
// Call-ID and CSeq, and To with a tag of ours. Headers that are not changed
// are the request's own (read-only from here on), not copies: the UA answers
// every chat line copy it receives, and sipgo's NewResponseFromRequest, which
// clones each header and lower-cases every header name to find the Vias, cost
// three times the allocations.
func okResponse(req *sip.Request) *sip.Response { return okResponseTag(req, newTag()) }

// okResponseTag is okResponse with tag as the To tag it adds.
func okResponseTag(req *sip.Request, tag string) *sip.Response {
	res := sip.NewResponse(sip.StatusOK, "OK")
	res.SipVersion = req.SipVersion
	top := true
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sip.ViaHeader:
			if top {
				h = received(h, req.Source())
				top = false
			}
			res.AppendHeader(h)
		case *sip.FromHeader, *sip.CallIDHeader, *sip.CSeqHeader:
			res.AppendHeader(h)
		case *sip.ToHeader:
			if _, ok := h.Params.Get("tag"); !ok {
				to := &sip.ToHeader{DisplayName: h.DisplayName, Address: h.Address,
					Params: append(make(sip.HeaderParams, 0, len(h.Params)+1), h.Params...)}
				to.Params.Add("tag", tag)
				h = to
			}
			res.AppendHeader(h)
		}
	}
	res.SetBody(nil) // Content-Length: 0
	res.SetTransport(req.Transport())
	res.SetDestination(req.Source())
	return res
}

// received returns via with RFC 3581's received and rport filled in from src
// ("ip:port") when it asks for rport, else via itself.
func received(via *sip.ViaHeader, src string) *sip.ViaHeader {
	if v, ok := via.Params.Get("rport"); !ok || v != "" {
		return via
	}
	host, port, err := net.SplitHostPort(src)
	if err != nil {
		return via
	}
	c := via.Clone()
	c.Params.Add("rport", port)
	c.Params.Add("received", host)
	return c
}

// newTag returns a random tag (RFC 3261 section 19.3: at least 32 random
// bits) in one allocation. math/rand/v2's generator is ChaCha8 seeded by the
// runtime: unpredictable enough for a tag, and unlike crypto/rand it needs no
// buffer on the heap.
func newTag() string {
	var b [8]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	var out [16]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}

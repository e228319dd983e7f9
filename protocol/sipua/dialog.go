package sipua

import (
	"context"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/report"
)

// ServeDialogs makes the UA accept the in-dialog requests a chat server sends
// (INFO, BYE, UPDATE). status, when not nil, chooses the final status of each
// one for the Account it is routed to (200, or 481/487 for a dialog that is
// not the account's live one); a 200 is sent at once and the request handed
// to the Account like a MESSAGE, any other status is sent and the request
// dropped. status is called from the UA's goroutines and must not block.
// Call ServeDialogs right after New, before any Account sends a request
// (sipgo's handler table is not safe to change while serving).
func (ua *UA) ServeDialogs(status func(a *Account, req *sip.Request) (int, string)) {
	h := func(req *sip.Request, tx sip.ServerTransaction) {
		if status != nil {
			if a := ua.route(req); a != nil {
				if code, reason := status(a, req); code != sip.StatusOK {
					res := okResponse(req)
					res.StatusCode, res.Reason = code, reason
					if err := tx.Respond(res); err != nil {
						ua.log.Debug("answering incoming request failed", "method", req.Method, "error", err)
					}
					return
				}
			}
		}
		ua.onRequest(req, tx)
	}
	ua.server.OnRequest(sip.INFO, h)
	ua.server.OnRequest(sip.BYE, h)
	ua.server.OnRequest(sip.UPDATE, h)
}

// A Dialog is the client side of an INVITE dialog (RFC 3261 section 12) that an
// Account established: its Call-ID, tags, remote target, route set and CSeq.
// The route set is the 2xx's Record-Route in reverse order (12.1.2); in-dialog
// requests carry it in Route headers, loose or strict as its first URI says
// (12.2.1.1). Every request is still sent to the UA's target, the outbound
// proxy, which is the first hop of the route set in every deployment the UA
// is for (the Front End Record-Routes itself).
// Safe for concurrent use.
type Dialog struct {
	a          *Account
	callID     string
	localTag   string
	remote     sip.Uri // To: the URI invited
	remoteTag  string
	remoteEPID string    // epid on the 2xx's To (MS-SIPRE 3.2.4.1): echoed on To
	target     sip.Uri   // the remote Contact: Request-URI of in-dialog requests
	routes     []sip.Uri // the route set, in the order Route headers list it

	// The parts every in-dialog request shares, made once (sipgo only reads
	// the headers of a request it sends, as with the UA's shared headers):
	// Request-URI, From, To, Route headers, Call-ID and Contact.
	ruri    sip.Uri
	shared  []sip.Header // From, To, Routes..., Call-ID
	contact *sip.ContactHeader

	mu   sync.Mutex
	cseq uint32
}

// CallID returns the dialog's Call-ID.
func (d *Dialog) CallID() string { return d.callID }

// Remote returns the URI that was invited (the dialog's To, without tag).
func (d *Dialog) Remote() sip.Uri { return d.remote }

// Target returns the dialog's remote target (the 2xx's Contact).
func (d *Dialog) Target() sip.Uri { return *d.target.Clone() }

// RouteSet returns the dialog's route set, first hop first.
func (d *Dialog) RouteSet() []sip.Uri {
	out := make([]sip.Uri, len(d.routes))
	for i := range d.routes {
		out[i] = *d.routes[i].Clone()
	}
	return out
}

// routeSet reads the route set of a 2xx to our INVITE: its Record-Route URIs
// in reverse order (RFC 3261 12.1.2). sipgo splits comma-separated values
// into one header each.
func routeSet(res *sip.Response) []sip.Uri {
	hs := res.GetHeaders("Record-Route")
	out := make([]sip.Uri, 0, len(hs))
	for i := len(hs) - 1; i >= 0; i-- {
		switch h := hs[i].(type) {
		case *sip.RecordRouteHeader:
			out = append(out, *h.Address.Clone())
		default:
			var u sip.Uri
			v := strings.TrimSpace(h.Value())
			v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
			if err := sip.ParseUri(v, &u); err == nil {
				out = append(out, u)
			}
		}
	}
	return out
}

// Invite sends an INVITE to uri (To = uri, Contact = the account's) with the
// given body and extra headers, answers a digest challenge as Do does, and on a
// 2xx sends the ACK and returns the dialog with the final response. A non-2xx
// final response is returned with its classified error (sipgo's transaction
// acknowledges it).
func (a *Account) Invite(ctx context.Context, op string, uri sip.Uri, hdrs []sip.Header, contentType string, body []byte) (*Dialog, *sip.Response, error) {
	if a.closed.Load() {
		return nil, nil, &report.Error{Class: report.Canceled, Op: op, Detail: "account " + a.aor.String() + " closed"}
	}
	r := Request{Method: sip.INVITE, URI: uri, Contact: true, Headers: hdrs, ContentType: contentType, Body: body}
	callID, tag, where := NewCallID(), newTag(), a.ua.where
	var st *nonceState
	var hs *secAssoc
	for tries := 0; ; {
		sa := hs
		if sa == nil && st == nil {
			sa = a.auth.sa.Load()
		}
		req, err := a.build(r, callID, tag, st, sa)
		if err != nil {
			return nil, nil, &report.Error{Class: report.Other, Op: op, Detail: "building the request", Err: err}
		}
		cseq := req.CSeq().SeqNo
		res, err := a.ua.send(ctx, req)
		if err != nil {
			return nil, nil, SendError(op, err, where, a.ua.timeout)
		}
		if isChallenge(res) {
			tries++
			if st, hs, err = a.auth.challenged(op, r.Method, res, tries, sa, where); err != nil {
				return nil, res, err
			}
			continue
		}
		if err := a.verified(op, res, sa); err != nil {
			return nil, res, err
		}
		if err := StatusError(op, sip.INVITE, res, where); err != nil {
			return nil, res, err
		}
		remote, target := uri, uri
		remote.UriParams, remote.Headers = nil, nil
		var remoteTag, remoteEPID string
		if to := res.To(); to != nil {
			remoteTag, _ = to.Params.Get("tag")
			remoteEPID, _ = to.Params.Get("epid")
		}
		if c := res.Contact(); c != nil && c.Address.Host != "" {
			target = *c.Address.Clone()
		}
		d := newDialog(a, callID, tag, remote, target, remoteTag, remoteEPID, routeSet(res), cseq)
		if err := d.ack(cseq); err != nil {
			return nil, res, SendError(op, err, where, a.ua.timeout)
		}
		return d, res, nil
	}
}

// newDialog makes the dialog state of a 2xx to an INVITE, with the headers
// its requests share: Request-URI and Route headers from the remote target
// and the route set (RFC 3261 12.2.1.1), From, To (with the remote epid,
// MS-SIPRE 3.2.4.1), Call-ID, and the account's Contact as the INVITE named
// it.
func newDialog(a *Account, callID, localTag string, remote, target sip.Uri, remoteTag, remoteEPID string, routes []sip.Uri, cseq uint32) *Dialog {
	d := &Dialog{a: a, callID: callID, localTag: localTag, remote: remote, target: target,
		remoteTag: remoteTag, remoteEPID: remoteEPID, routes: routes, cseq: cseq}
	d.ruri = *target.Clone()
	strict := len(routes) > 0 && !hasLR(routes[0])
	if strict {
		// The first hop is a strict router: it gets the request as its
		// Request-URI (without the parameters a Request-URI may not carry),
		// and the remote target goes last in the Route set.
		d.ruri = *routes[0].Clone()
		d.ruri.Headers = nil
		if d.ruri.UriParams != nil {
			d.ruri.UriParams.Remove("method")
			d.ruri.UriParams.Remove("maddr")
			d.ruri.UriParams.Remove("ttl")
		}
	}
	to := &sip.ToHeader{Address: remote}
	if remoteTag != "" {
		to.Params = sip.HeaderParams{{K: "tag", V: remoteTag}}
	}
	if remoteEPID != "" {
		to.Params = append(to.Params, sip.HeaderKV{K: "epid", V: remoteEPID})
	}
	d.shared = []sip.Header{a.from(localTag), to}
	if strict {
		for _, r := range routes[1:] {
			d.shared = append(d.shared, &sip.RouteHeader{Address: *r.Clone()})
		}
		d.shared = append(d.shared, &sip.RouteHeader{Address: *target.Clone()})
	} else {
		for _, r := range routes {
			d.shared = append(d.shared, &sip.RouteHeader{Address: *r.Clone()})
		}
	}
	cid := sip.CallIDHeader(callID)
	d.shared = append(d.shared, &cid)
	d.contact = &sip.ContactHeader{Address: a.Contact()}
	return d
}

// request builds an in-dialog request of method with CSeq seq from the
// dialog's shared parts (see newDialog), signed in the account's security
// association when it has one (returned with it).
func (d *Dialog) request(method sip.RequestMethod, seq uint32, contentType string, body []byte) (*sip.Request, *secAssoc) {
	a := d.a
	req := sip.NewRequest(method, d.ruri)
	for _, h := range d.shared {
		req.AppendHeader(h)
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(a.ua.shared.maxForwards)
	req.AppendHeader(d.contact)
	if a.ua.shared.userAgent != nil {
		req.AppendHeader(a.ua.shared.userAgent)
	}
	if contentType != "" {
		req.AppendHeader(a.ua.shared.contentType(contentType))
	}
	req.SetBody(body)
	req.SetTransport(a.ua.network)
	req.SetDestination(a.ua.dest)
	sa := a.auth.sa.Load()
	if sa != nil {
		a.auth.sign(req, sa)
	}
	return req, sa
}

func hasLR(u sip.Uri) bool {
	if u.UriParams == nil {
		return false
	}
	_, ok := u.UriParams.Get("lr")
	return ok
}

// ack sends the ACK of a 2xx to the INVITE with CSeq seq: a request of its own,
// outside any transaction (RFC 3261 section 13.2.2.4).
func (d *Dialog) ack(seq uint32) error {
	req, _ := d.request(sip.ACK, seq, "", nil)
	return d.a.ua.client.WriteRequest(req)
}

// Do sends an in-dialog request (INFO, UPDATE, BYE) with the next CSeq and
// returns its final response, with a classified error for a non-2xx one (481:
// the dialog is gone) as Account.Do does. Safe for concurrent use.
func (d *Dialog) Do(ctx context.Context, op string, method sip.RequestMethod, contentType string, body []byte) (*sip.Response, error) {
	if d.a.closed.Load() {
		return nil, &report.Error{Class: report.Canceled, Op: op, Detail: "account " + d.a.aor.String() + " closed"}
	}
	d.mu.Lock()
	d.cseq++
	seq := d.cseq
	d.mu.Unlock()
	req, sa := d.request(method, seq, contentType, body)
	res, err := d.a.ua.do(ctx, req)
	if err != nil {
		return nil, SendError(op, err, d.a.ua.where, d.a.ua.timeout)
	}
	if err := d.a.verified(op, res, sa); err != nil {
		return res, err
	}
	return res, StatusError(op, method, res, d.a.ua.where)
}

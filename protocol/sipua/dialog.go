package sipua

import (
	"context"
	"fmt"
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
// Account established: its Call-ID, tags, remote target and CSeq. No route set
// is kept: every request goes to the UA's target, which is the outbound proxy.
// Safe for concurrent use.
type Dialog struct {
	a         *Account
	callID    string
	localTag  string
	remote    sip.Uri // To: the URI invited
	remoteTag string
	target    sip.Uri // the remote Contact: Request-URI of in-dialog requests

	mu   sync.Mutex
	cseq uint32
}

// CallID returns the dialog's Call-ID.
func (d *Dialog) CallID() string { return d.callID }

// Remote returns the URI that was invited (the dialog's To, without tag).
func (d *Dialog) Remote() sip.Uri { return d.remote }

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
	for retry := 1; ; retry++ {
		req, err := a.build(r, callID, tag, st)
		if err != nil {
			return nil, nil, &report.Error{Class: report.Other, Op: op, Detail: "building the request", Err: err}
		}
		cseq := req.CSeq().SeqNo
		res, err := a.ua.send(ctx, req)
		if err != nil {
			return nil, nil, SendError(op, err, where, a.ua.timeout)
		}
		if isChallenge(res) {
			ch, cerr := ChallengeFrom(res)
			if cerr != nil {
				return nil, res, &report.Error{Class: report.Protocol, Code: res.StatusCode, Op: op,
					Detail: fmt.Sprintf("%d %s from %s: %v", res.StatusCode, res.Reason, where, cerr)}
			}
			if retry == 3 || (retry == 2 && !ch.Stale) {
				return nil, res, &report.Error{Class: report.Auth, Code: res.StatusCode, Op: op,
					Detail: fmt.Sprintf("%d %s from %s: credentials of %s refused", res.StatusCode, res.Reason, where, a.auth.Username())}
			}
			st = a.auth.learn(r.Method, ch)
			continue
		}
		if err := StatusError(op, sip.INVITE, res, where); err != nil {
			return nil, res, err
		}
		d := &Dialog{a: a, callID: callID, localTag: tag, remote: uri, target: uri, cseq: cseq}
		d.remote.UriParams, d.remote.Headers = nil, nil
		if to := res.To(); to != nil {
			d.remoteTag, _ = to.Params.Get("tag")
		}
		if c := res.Contact(); c != nil && c.Address.Host != "" {
			d.target = *c.Address.Clone()
		}
		if err := d.ack(cseq); err != nil {
			return nil, res, SendError(op, err, where, a.ua.timeout)
		}
		return d, res, nil
	}
}

// request builds an in-dialog request of method with the next CSeq.
func (d *Dialog) request(method sip.RequestMethod, seq uint32) *sip.Request {
	a := d.a
	req := sip.NewRequest(method, *d.target.Clone())
	req.AppendHeader(&sip.FromHeader{Address: a.aor, Params: sip.HeaderParams{{K: "tag", V: d.localTag}}})
	to := &sip.ToHeader{Address: d.remote}
	if d.remoteTag != "" {
		to.Params = sip.HeaderParams{{K: "tag", V: d.remoteTag}}
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(a.ua.shared.maxForwards)
	req.AppendHeader(&sip.ContactHeader{Address: a.Contact()})
	if a.ua.shared.userAgent != nil {
		req.AppendHeader(a.ua.shared.userAgent)
	}
	req.SetTransport(a.ua.network)
	req.SetDestination(a.ua.dest)
	return req
}

// ack sends the ACK of a 2xx to the INVITE with CSeq seq: a request of its own,
// outside any transaction (RFC 3261 section 13.2.2.4).
func (d *Dialog) ack(seq uint32) error {
	req := d.request(sip.ACK, seq)
	req.SetBody(nil)
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
	req := d.request(method, seq)
	if contentType != "" {
		req.AppendHeader(d.a.ua.shared.contentType(contentType))
	}
	req.SetBody(body)
	res, err := d.a.ua.do(ctx, req)
	if err != nil {
		return nil, SendError(op, err, d.a.ua.where, d.a.ua.timeout)
	}
	return res, StatusError(op, method, res, d.a.ua.where)
}

package server

import (
	"context"
	"errors"
	"hash/fnv"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chatload/chatload/protocol/imc/wire"
)

// delivery is one thing a room sends to some members: a copy of a line or a notice.
type delivery struct {
	from      sip.Uri // the room: From of every request (a tag is added per request)
	inReplyTo string  // Call-ID of the request that caused it
	body      string
	notice    bool
	targets   []member
	rng       *faultRand // the room's fault stream: lines only, when faults draw
}

// outcome are the counters one kind of delivery updates.
type outcome struct{ sent, ok, failed, unregistered *atomic.Uint64 }

func (s *Server) outcome(notice bool) outcome {
	if notice {
		return outcome{&s.stats.noticesSent, &s.stats.noticesOK, &s.stats.noticesFailed, &s.stats.noticesUnreg}
	}
	return outcome{&s.stats.copiesSent, &s.stats.copiesOK, &s.stats.copiesFailed, &s.stats.copiesUnregistered}
}

// enqueue hands d to the lane of key (a room name), so a room's deliveries leave in
// the order the room made them. It blocks while the lane is full, which holds back
// the room's next requests: the server's backpressure.
func (s *Server) enqueue(key string, d delivery) {
	if len(d.targets) == 0 {
		return
	}
	if len(s.lanes) == 0 { // not started: nobody could be registered
		s.outcome(d.notice).unregistered.Add(uint64(len(d.targets)))
		return
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	select {
	case s.lanes[h.Sum32()%uint32(len(s.lanes))] <- d:
	case <-s.ctx.Done():
	}
}

// lane sends deliveries one request after the other; it waits for no answer (await
// does), so a dead member costs a pending slot, not the lane. Copies held by the
// Delay fault go through dl, the lane's delay line (nil without Delay).
func (s *Server) lane(ch <-chan delivery, dl *delayLine) {
	defer s.wg.Done()
	for {
		select {
		case d := <-ch:
			for _, t := range d.targets {
				s.deliver(d, t, dl)
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// deliver sends d to one member's registered contact, like imc's t_request through
// lookup("location"): unregistered members are skipped and stay members. Copies of
// lines then go through fault injection: the registration is looked up before the
// delay, as a copy in flight has left the server.
func (s *Server) deliver(d delivery, t member, dl *delayLine) {
	b, ok := s.lookup(t.user)
	if !ok {
		s.outcome(d.notice).unregistered.Add(1)
		return
	}
	f := &s.cfg.Faults
	if d.notice || !f.Enabled() {
		s.send(d, t, b, false, false)
		return
	}
	n := 1
	if f.Drop > 0 || f.Dup > 0 {
		switch u := d.rng.float64(); {
		case u < f.Drop:
			s.stats.faultDropped.Add(1)
			return
		case u < f.Drop+f.Dup:
			n = 2
		}
	}
	for i := range n {
		extra := i > 0
		if dl == nil {
			s.send(d, t, b, extra, false)
			continue
		}
		wait := f.Delay
		if f.Jitter > 0 {
			wait += d.rng.duration(f.Jitter)
		}
		if !dl.add(s.ctx, s.now().Add(wait), func() { s.send(d, t, b, extra, true) }) {
			return // closing
		}
	}
}

// send sends d to t at binding b: extra marks the second copy of a duplicated one
// (a new Call-ID, as every request gets), delayed one that Delay held.
func (s *Server) send(d delivery, t member, b binding, extra, delayed bool) {
	o := s.outcome(d.notice)
	req := sip.NewRequest(sip.MESSAGE, *b.contact.Clone())
	from := &sip.FromHeader{Address: *d.from.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(32))
	to := &sip.ToHeader{Address: t.uri(), Params: sip.NewParams()}
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + s.cfg.Domain)
	cseq := &sip.CSeqHeader{SeqNo: wire.FanoutCSeq, MethodName: sip.MESSAGE}
	maxfwd := sip.MaxForwardsHeader(70)
	ct := sip.ContentTypeHeader("text/plain")
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	req.AppendHeader(&maxfwd)
	req.AppendHeader(sip.NewHeader("User-Agent", userAgent))
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Supported", wire.SupportedTag))
	req.AppendHeader(sip.NewHeader(wire.HeaderInReplyTo, d.inReplyTo))
	req.SetBody([]byte(d.body))

	select {
	case s.pending <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	o.sent.Add(1)
	if extra {
		s.stats.faultDuplicated.Add(1)
	}
	if delayed {
		s.stats.faultDelayed.Add(1)
	}
	tx, err := s.copyTx(req, b)
	if err != nil {
		<-s.pending
		o.failed.Add(1)
		s.log.Debug("delivery not sent", "to", t.key, "dest", b.dest, "error", err)
		return
	}
	spawned := s.spawn(func() {
		defer func() { <-s.pending }()
		res, err := s.await(tx)
		switch {
		case errors.Is(err, context.Canceled):
			// server closing: neither ok nor failed
		case err != nil || !res.IsSuccess():
			o.failed.Add(1)
		default:
			o.ok.Add(1)
		}
	})
	if !spawned { // closing
		tx.Terminate()
		<-s.pending
	}
}

// transmit starts a client transaction for req towards binding b. A fresh request
// per transaction: sipgo mutates it (Via, addresses).
func (s *Server) transmit(req *sip.Request, b binding, opts ...sipgo.ClientRequestOption) (sip.ClientTransaction, error) {
	s.sae.signRequest(req) // MS-SIPAE: signed in the recipient's security association
	req.SetTransport(strings.ToUpper(b.transport))
	req.SetDestination(b.dest)
	if b.transport == "udp" {
		// From our listening socket, or the member would see (and answer) another port.
		host, port, err := sip.ParseAddr(b.laddr)
		if err != nil {
			return nil, err
		}
		req.Laddr = sip.Addr{IP: net.ParseIP(host), Port: port, Hostname: host}
	} else {
		// Over the member's own connection only: it accepts nothing, so never dial.
		c, err := s.ua.TransportLayer().GetConnection(b.transport, b.dest)
		if err != nil {
			return nil, err
		}
		c.TryClose() // GetConnection took a reference
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CopyTimeout)
	defer cancel()
	return s.cli.TransactionRequest(ctx, req, opts...)
}

// await returns tx's final response; errors are a timeout (CopyTimeout), the
// transaction failing, or context.Canceled when the server closes.
func (s *Server) await(tx sip.ClientTransaction) (*sip.Response, error) {
	defer tx.Terminate()
	t := time.NewTimer(s.cfg.CopyTimeout)
	defer t.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, sip.ErrTransactionTerminated
		case <-t.C:
			return nil, context.DeadlineExceeded
		case <-s.ctx.Done():
			return nil, context.Canceled
		}
	}
}

// relay forwards an authenticated user-to-user MESSAGE to the callee's contact
// statefully and answers the sender with the callee's final response: 404 when the
// callee is not registered, 408 when it does not answer in CopyTimeout, 480 when
// it cannot be sent to.
func (s *Server) relay(req *sip.Request, tx sip.ServerTransaction) {
	b, ok := s.lookup(req.Recipient.User)
	if !ok {
		s.respond(req, tx, sip.StatusNotFound, "Not Found")
		return
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() <= 1 {
		s.respond(req, tx, sip.StatusTooManyHops, "Too Many Hops")
		return
	}
	fwd := req.Clone()
	fwd.Recipient = *b.contact.Clone()
	for _, h := range fwd.GetHeaders("Proxy-Authorization") {
		fwd.RemoveHeader(h.Name()) // consumed here, as Kamailio's consume_credentials()
	}
	s.stats.relays.Add(1)
	ftx, err := s.transmit(fwd, b, sipgo.ClientRequestAddVia, sipgo.ClientRequestDecreaseMaxForward)
	if err != nil {
		s.stats.relaysFailed.Add(1)
		s.respond(req, tx, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}
	res, err := s.await(ftx)
	if err != nil {
		s.stats.relaysFailed.Add(1)
		s.respond(req, tx, sip.StatusRequestTimeout, "Request Timeout")
		return
	}
	if res.IsSuccess() {
		s.stats.relaysOK.Add(1)
	} else {
		s.stats.relaysFailed.Add(1)
	}
	out := sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, res.Body())
	if ct := res.ContentType(); ct != nil {
		out.AppendHeader(sip.HeaderClone(ct))
	}
	if err := tx.Respond(out); err != nil {
		s.log.Debug("respond failed", "status", res.StatusCode, "error", err)
	}
}

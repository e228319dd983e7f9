package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/chatload/chatload/scenarios"
)

// rawUA is a SIP client on a raw socket, for the hostile-client tests: it writes
// exactly what it is told, from the connection it is told, reads responses and
// answers (or, with quiet, ignores) the server's requests.
type rawUA struct {
	t       *testing.T
	tr      string // "udp", "tcp" or "tls"
	c       net.Conn
	user    scenarios.User
	res     chan *sip.Response
	reqs    chan *sip.Request
	route   string      // Record-Route of the last dialog made: in-dialog requests carry it as Route
	quiet   atomic.Bool // do not answer the server's requests
	stalled atomic.Bool // stop reading

	mu   sync.Mutex
	chal *digest.Challenge
	nc   int
	cseq uint32
}

// dialRaw connects to s's transport listener; rcvbuf > 0 sets a small receive buffer.
func dialRaw(t *testing.T, s *Server, tr string, u scenarios.User, rcvbuf int) *rawUA {
	t.Helper()
	addr := s.Addr(tr)
	var c net.Conn
	var err error
	switch tr {
	case "udp":
		c, err = net.Dial("udp", addr)
	default:
		d := net.Dialer{Control: nil}
		c, err = d.Dial("tcp", addr)
		if err == nil && rcvbuf > 0 {
			err = c.(*net.TCPConn).SetReadBuffer(rcvbuf)
		}
		if err == nil && tr == "tls" {
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
			err = tc.Handshake()
			c = tc
		}
	}
	if err != nil {
		t.Fatalf("dial %s %s: %v", tr, addr, err)
	}
	u2 := &rawUA{t: t, tr: tr, c: c, user: u, res: make(chan *sip.Response, 4096), reqs: make(chan *sip.Request, 1<<14)}
	t.Cleanup(func() { c.Close() })
	go u2.read()
	return u2
}

func (u *rawUA) read() {
	var r *bufio.Reader
	if u.tr != "udp" {
		r = bufio.NewReaderSize(u.c, 64<<10)
	}
	buf := make([]byte, 65536)
	for {
		if u.stalled.Load() {
			<-u.t.Context().Done()
			return
		}
		var raw []byte
		if r == nil {
			n, err := u.c.Read(buf)
			if err != nil {
				return
			}
			raw = buf[:n]
		} else {
			var head bytes.Buffer
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if head.Len() == 0 && strings.TrimSpace(line) == "" {
					continue // keepalive
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			n := 0
			for _, l := range strings.Split(head.String(), "\r\n") {
				if k, v, ok := strings.Cut(l, ":"); ok && (strings.EqualFold(strings.TrimSpace(k), "Content-Length") || strings.TrimSpace(k) == "l") {
					n, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			raw = append(head.Bytes(), body...)
		}
		m, err := sip.ParseMessage(raw)
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case *sip.Response:
			select {
			case u.res <- m:
			default:
			}
		case *sip.Request:
			if !u.quiet.Load() {
				u.write([]byte(sip.NewResponseFromRequest(m, 200, "OK", nil).String()))
			}
			select {
			case u.reqs <- m:
			default:
			}
		}
	}
}

func (u *rawUA) write(b []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, _ = u.c.Write(b)
}

// request builds a request from u's user. callID, fromTag and toTag may be ""
// (fresh Call-ID and From tag, no To tag).
func (u *rawUA) request(method sip.RequestMethod, ruri, to, callID, fromTag, toTag string, body []byte, ct string) *sip.Request {
	u.t.Helper()
	req := sip.NewRequest(method, mustURI(u.t, ruri))
	if fromTag == "" {
		fromTag = sip.GenerateTagN(10)
	}
	if callID == "" {
		callID = "raw-" + sip.GenerateTagN(16)
	}
	la := u.c.LocalAddr().String()
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/"+strings.ToUpper(u.tr)+" "+la+";branch=z9hG4bK"+sip.GenerateTagN(12)+";rport"))
	req.AppendHeader(&sip.FromHeader{Address: mustURI(u.t, u.user.URI), Params: sip.HeaderParams{{K: "tag", V: fromTag}}})
	th := &sip.ToHeader{Address: mustURI(u.t, to), Params: sip.NewParams()}
	if toTag != "" {
		th.Params.Add("tag", toTag)
	}
	req.AppendHeader(th)
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	u.mu.Lock()
	u.cseq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: u.cseq, MethodName: method})
	u.mu.Unlock()
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if toTag != "" && u.route != "" {
		req.AppendHeader(sip.NewHeader("Route", u.route))
	}
	req.AppendHeader(&sip.ContactHeader{Address: mustURI(u.t, "sip:"+scenarios.UserPart(u.user.URI)+"@"+la+";transport="+u.tr)})
	if body != nil {
		h := sip.ContentTypeHeader(ct)
		req.AppendHeader(&h)
	}
	req.SetBody(body)
	return req
}

// do writes req and returns its final response (nil after wait).
func (u *rawUA) do(req *sip.Request) *sip.Response {
	u.t.Helper()
	u.write([]byte(req.String()))
	cid, seq := req.CallID().Value(), req.CSeq().SeqNo
	deadline := time.After(wait)
	for {
		select {
		case res := <-u.res:
			if res.CallID() == nil || res.CallID().Value() != cid || res.CSeq() == nil || res.CSeq().SeqNo != seq || res.IsProvisional() {
				continue
			}
			return res
		case <-deadline:
			return nil
		}
	}
}

// mustDo is do, failing the test without an answer.
func (u *rawUA) mustDo(req *sip.Request) *sip.Response {
	u.t.Helper()
	res := u.do(req)
	if res == nil {
		u.t.Fatalf("%s %s: no answer within %v", req.Method, req.Recipient.String(), wait)
	}
	return res
}

// authed sends mk()'s request with credentials for u's user, answering one
// challenge; password "" means u's own.
func (u *rawUA) authed(mk func() *sip.Request) *sip.Response {
	u.t.Helper()
	u.mu.Lock()
	chal := u.chal
	u.mu.Unlock()
	if chal == nil {
		res := u.mustDo(mk())
		if res.StatusCode != 401 && res.StatusCode != 407 {
			return res
		}
		name := "Proxy-Authenticate"
		if res.StatusCode == 401 {
			name = "WWW-Authenticate"
		}
		c, err := digest.ParseChallenge(res.GetHeader(name).Value())
		if err != nil {
			u.t.Fatal(err)
		}
		u.mu.Lock()
		u.chal, u.nc, chal = c, 0, c
		u.mu.Unlock()
	}
	req := mk()
	u.sign(req, chal, req.Recipient.String())
	return u.mustDo(req)
}

// sign adds credentials for chal computed over uri (normally the Request-URI).
func (u *rawUA) sign(req *sip.Request, chal *digest.Challenge, uri string) {
	u.t.Helper()
	u.mu.Lock()
	u.nc++
	nc := u.nc
	u.mu.Unlock()
	cred, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: uri,
		Username: u.user.Username(), Password: u.user.Password, Count: nc})
	if err != nil {
		u.t.Fatal(err)
	}
	name := "Proxy-Authorization"
	if req.Method == sip.REGISTER {
		name = "Authorization"
	}
	req.AppendHeader(sip.NewHeader(name, cred.String()))
}

func (u *rawUA) register() {
	u.t.Helper()
	res := u.authed(func() *sip.Request {
		r := u.request(sip.REGISTER, "sip:example.test", u.user.URI, "", "", "", nil, "")
		r.AppendHeader(sip.NewHeader("Expires", "300"))
		return r
	})
	if res.StatusCode != 200 {
		u.t.Fatalf("REGISTER: %d %s", res.StatusCode, res.Reason)
	}
}

// message sends a MESSAGE to ruri with credentials and returns the status.
func (u *rawUA) message(ruri, body string) int {
	u.t.Helper()
	res := u.authed(func() *sip.Request {
		return u.request(sip.MESSAGE, ruri, ruri, "", "", "", []byte(body), "text/plain")
	})
	return res.StatusCode
}

// closedWithin reports whether the server closes c (a read ends) within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		ne, ok := err.(net.Error)
		return !(ok && ne.Timeout())
	}
}

func rawRequest(method, ruri, version, cseqMethod, via string) string {
	return fmt.Sprintf("%s %s %s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nFrom: <sip:user0001@example.test>;tag=a1\r\n"+
		"To: <%s>\r\nCall-ID: raw-%s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		method, ruri, version, via, sip.GenerateTagN(10), ruri, sip.GenerateTagN(10), cseqMethod)
}

// digestChallenge parses the challenge of a 401 or 407.
func digestChallenge(res *sip.Response) (*digest.Challenge, error) {
	name := "Proxy-Authenticate"
	if res.StatusCode == 401 {
		name = "WWW-Authenticate"
	}
	h := res.GetHeader(name)
	if h == nil {
		return nil, fmt.Errorf("%d without %s", res.StatusCode, name)
	}
	return digest.ParseChallenge(h.Value())
}

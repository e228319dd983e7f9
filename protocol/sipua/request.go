package sipua

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The UA's own transactions (fasttx.go) send requests written straight into a
// byte slice: the same text build and sipgo would produce (request_test.go
// compares them byte for byte), without the dozen header objects, URI strings
// and parameter lists per request that building a *sip.Request costs, most of
// them garbage right after sending. At the load engine's rates that garbage was
// a quarter of the CPU spent per MESSAGE outside the kernel.

// appendRequest appends r as Account.build and sipgo would write it, with the
// Via of via, the next CSeq and credentials: for st's challenge, or
// pre-emptively for the cached one when st is nil.
func (a *Account) appendRequest(dst []byte, r Request, callID, tag string, st *nonceState, via viaSpec) ([]byte, error) {
	ruriAt := len(dst) + len(r.Method) + 1
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = appendURI(dst, &r.URI)
	ruri := dst[ruriAt:] // for the digest uri
	dst = append(dst, " SIP/2.0\r\nVia: "...)
	dst = via.append(dst)
	dst = append(dst, "\r\nFrom: <"...)
	dst = appendURI(dst, &a.aor)
	dst = append(dst, ">;tag="...)
	dst = append(dst, tag...)
	if a.epid != "" {
		dst = append(dst, ";epid="...)
		dst = append(dst, a.epid...)
	}
	dst = append(dst, "\r\nTo: <"...)
	to := r.URI
	if r.To != nil {
		to = *r.To
	}
	to.UriParams, to.Headers = nil, nil
	dst = appendURI(dst, &to)
	dst = append(dst, ">\r\nCall-ID: "...)
	dst = append(dst, callID...)
	dst = append(dst, "\r\nCSeq: "...)
	dst = strconv.AppendUint(dst, uint64(a.cseq.Add(1)), 10)
	dst = append(dst, ' ')
	dst = append(dst, r.Method...)
	dst = append(dst, "\r\nMax-Forwards: "...)
	dst = strconv.AppendUint(dst, uint64(*a.ua.shared.maxForwards), 10)
	if r.Contact {
		if a.epid == "" {
			c := a.ua.advert
			c.User = a.key
			dst = append(dst, "\r\nContact: <"...)
			dst = appendURI(dst, &c)
			dst = append(dst, '>')
		} else {
			dst = appendHeader(dst, a.contactHeader(r.Method))
		}
	}
	if ua := a.ua.shared.userAgent; ua != nil {
		dst = appendHeader(dst, ua)
	}
	if r.Method == sip.REGISTER && a.epid != "" {
		dst = appendHeader(dst, supportedGRUU)
	}
	for _, h := range r.Headers {
		dst = appendHeader(dst, h)
	}
	if r.ContentType != "" {
		dst = append(dst, "\r\nContent-Type: "...)
		dst = append(dst, r.ContentType...)
	}
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
	if st == nil {
		st = a.auth.cached()
	}
	if st != nil {
		dst = append(dst, "\r\n"...)
		dst = append(dst, a.auth.headerName(r.Method)...)
		dst = append(dst, ": "...)
		var err error
		// The digest uri is the Request-URI as written above.
		if _, dst, err = a.auth.appendCredentials(dst, r.Method, string(ruri), r.Body, st); err != nil {
			return dst, err
		}
	}
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, r.Body...), nil
}

// appendHeader appends "\r\nName: value".
func appendHeader(dst []byte, h sip.Header) []byte {
	dst = append(dst, "\r\n"...)
	dst = append(dst, h.Name()...)
	dst = append(dst, ": "...)
	return append(dst, h.Value()...)
}

// appendURI appends u as sipgo writes it. The plain sip:user@host[:port]
// forms of chat URIs are written here; anything else (parameters, headers, a
// password, an IPv6 host, a non-SIP URI) by sipgo.
func appendURI(dst []byte, u *sip.Uri) []byte {
	if u.Raw() != "" || u.Wildcard || u.HierarhicalSlashes || u.Password != "" ||
		len(u.UriParams) > 0 || len(u.Headers) > 0 || strings.IndexByte(u.Host, ':') >= 0 {
		return append(dst, u.String()...)
	}
	if u.Scheme == "" {
		dst = append(dst, "sip"...)
	} else {
		dst = append(dst, u.Scheme...)
	}
	dst = append(dst, ':')
	if u.User != "" {
		dst = append(dst, u.User...)
		dst = append(dst, '@')
	}
	dst = append(dst, u.Host...)
	if u.Port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(u.Port), 10)
	}
	return dst
}

// viaSpec is the Via of one of the table's transactions: ours, with the
// table's branch marker and the transaction's number.
type viaSpec struct {
	branch string // the table's marker, without "branch="
	id     uint64
	host   string
	port   int
}

func (v viaSpec) append(dst []byte) []byte {
	dst = append(dst, "SIP/2.0/UDP "...)
	if strings.IndexByte(v.host, ':') >= 0 { // IPv6
		dst = append(dst, '[')
		dst = append(dst, v.host...)
		dst = append(dst, ']')
	} else {
		dst = append(dst, v.host...)
	}
	if v.port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(v.port), 10)
	}
	dst = append(dst, ";branch="...)
	dst = append(dst, v.branch...)
	dst = strconv.AppendUint(dst, v.id, 16)
	return append(dst, ";rport"...)
}

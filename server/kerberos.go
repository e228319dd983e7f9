package server

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/chatload/chatload/protocol/sipae"
)

// Kerberos diagnostics (chatload's own ms-diagnostics codes).
const (
	diagClockSkew     = `4007;reason="Kerberos: clock skew too large";source="chatload-serve"`
	diagUnknownSPN    = `4008;reason="Kerberos: ticket for an unknown service principal";source="chatload-serve"`
	diagTicketRefused = `4009;reason="Kerberos: ticket refused";source="chatload-serve"`
)

// maxClockSkew is how far the client's clock (its authenticator's time) may
// be from ours, Kerberos's usual 5 minutes.
const maxClockSkew = 5 * time.Minute

// kerberosServer accepts MS-SIPAE Kerberos AP-REQs with the service's keytab.
// Immutable after newKerberosServer; safe for concurrent use.
type kerberosServer struct {
	kt  *keytab.Keytab
	spn string // sip/<fqdn>
	pn  types.PrincipalName
}

func newKerberosServer(path, spn string) (*kerberosServer, error) {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, fmt.Errorf("keytab %s: %w", path, err)
	}
	if len(kt.Entries) == 0 {
		return nil, fmt.Errorf("keytab %s: no keys", path)
	}
	if spn == "" {
		spn = strings.Join(kt.Entries[0].Principal.Components, "/")
	}
	if !strings.HasPrefix(spn, "sip/") {
		return nil, fmt.Errorf("keytab %s: the service principal %q is not sip/<fqdn> (give --spn)", path, spn)
	}
	pn, _ := types.ParseSPNString(spn)
	found := false
	for _, e := range kt.Entries {
		if strings.Join(e.Principal.Components, "/") == spn {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("keytab %s has no key for %s", path, spn)
	}
	return &kerberosServer{kt: kt, spn: spn, pn: pn}, nil
}

// kerberosAccept verifies the AP-REQ in token (base64 GSS-API Kerberos
// token) and returns the SA it sets up, or answers req and returns nil.
func (s *Server) kerberosAccept(req *sip.Request, tx sip.ServerTransaction, token string) *serverSA {
	st := s.sae
	refuse := func(diag string) *serverSA {
		st.unsigned.Add(1)
		s.stats.authFailures.Add(1)
		if req.Method != sip.ACK {
			s.sipaeChallenge(req, tx, diag)
		}
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return refuse(diagTicketRefused)
	}
	var tok spnego.KRB5Token
	if err := tok.Unmarshal(raw); err != nil || !tok.IsAPReq() {
		return refuse(diagTicketRefused)
	}
	apreq := tok.APReq
	if !apreq.Ticket.SName.Equal(st.krb.pn) {
		return refuse(diagUnknownSPN)
	}
	// The clock is checked here, against the server's clock, not gokrb5's.
	if ok, err := apreq.Verify(st.krb.kt, 100*365*24*time.Hour, types.HostAddress{}, &st.krb.pn); err != nil || !ok {
		s.log.Debug("kerberos: AP-REQ refused", "error", err)
		if err != nil && strings.Contains(err.Error(), "matching key not found") {
			return refuse(diagUnknownSPN)
		}
		return refuse(diagTicketRefused)
	}
	ct := apreq.Authenticator.CTime.Add(time.Duration(apreq.Authenticator.Cusec) * time.Microsecond)
	if d := s.now().Sub(ct); d > maxClockSkew || d < -maxClockSkew {
		return refuse(diagClockSkew)
	}
	if e := apreq.Ticket.DecryptedEncPart.EndTime; !e.IsZero() && s.now().After(e) {
		return refuse(diagTicketRefused)
	}
	name := apreq.Ticket.DecryptedEncPart.CName.PrincipalNameString()
	a := s.ntlmAccount(name, apreq.Ticket.DecryptedEncPart.CRealm)
	if a == nil {
		return refuse(diagUnknownUser)
	}
	key := apreq.Ticket.DecryptedEncPart.Key
	sa := &serverSA{opaque: strings.ToUpper(sipae.NewRand()), scheme: "Kerberos", targetname: st.krb.spn, created: s.now()}
	st.add(sa)
	st.establish(sa, a, func(b []byte) string { return sipae.MICSign(key, true, b) },
		func(b []byte, sig string) bool { return sipae.MICCheck(key, false, b, sig) })
	return sa
}

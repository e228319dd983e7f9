package server

import (
	"errors"

	"github.com/emiago/sipgo/sip"
)

// kerberosServer accepts MS-SIPAE Kerberos AP-REQs with the service's keytab.
type kerberosServer struct {
	spn string
}

func newKerberosServer(keytab, spn string) (*kerberosServer, error) {
	return nil, errors.New("kerberos: not implemented yet")
}

// kerberosAccept verifies the AP-REQ in token and returns the SA it sets up,
// or answers req and returns nil.
func (s *Server) kerberosAccept(req *sip.Request, tx sip.ServerTransaction, token string) *serverSA {
	s.sipaeChallenge(req, tx, "")
	return nil
}

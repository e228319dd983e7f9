package server

import "github.com/emiago/sipgo/sip"

// answerRegister answers a REGISTER that saved a binding and ends its transaction
// at once, as Kamailio's registrar answers (save() replies statelessly). A UDP
// server transaction would otherwise be kept for Timer J (32 s) to absorb
// retransmissions: in a refresh wave of n users that is n transactions of several
// KiB each at once (100,000 users: most of the server's memory). A retransmission
// whose 200 was lost is then a new request with an already used nonce count: it is
// answered 401 stale=true and the client authenticates again, saving the same
// binding; nothing else changes.
func (s *Server) answerRegister(req *sip.Request, tx sip.ServerTransaction, hdrs ...sip.Header) {
	s.respond(req, tx, sip.StatusOK, "OK", hdrs...)
	tx.Terminate()
}

package report

import "errors"

// The authentication problems AuthProblemOf names, as a Lync front end tells
// them apart. Short, stable words: Error Message and Diagnosis quote them.
const (
	AuthWrongPassword    = "wrong password"            // the server refused the proof of the password
	AuthUnknownUser      = "unknown user"              // no such account (or principal)
	AuthSchemeNotOffered = "scheme not offered"        // --auth asked for a scheme the server does not offer
	AuthSignatureRefused = "signature refused"         // the server refused a signed request's signature
	AuthBadServerSig     = "bad server signature"      // a response or request the server signed does not verify
	AuthClockSkew        = "clock skew"                // Kerberos: the clocks differ by more than allowed
	AuthUnknownSPN       = "unknown service principal" // Kerberos: the KDC knows no such service principal
	AuthNoCredentials    = "no credentials"            // Kerberos: no ticket, keytab or password to get one
	AuthHandshakeFailed  = "handshake failed"          // the security association could not be set up
)

// AuthFailure is the cause kept in a *Error of class Auth when the protocol
// can tell what went wrong: Problem is one of the Auth* words, Scheme the
// authentication scheme ("NTLM", "Kerberos", "Digest").
type AuthFailure struct {
	Problem string
	Scheme  string
}

func (a *AuthFailure) Error() string { return a.Problem }

// AuthProblemOf returns the problem and scheme of the AuthFailure err wraps,
// or "" for none. It is a pure function.
func AuthProblemOf(err error) (problem, scheme string) {
	if a, ok := errors.AsType[*AuthFailure](err); ok {
		return a.Problem, a.Scheme
	}
	return "", ""
}

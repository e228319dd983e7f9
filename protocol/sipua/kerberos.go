package sipua

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/chatload/chatload/protocol/sipae"
	"github.com/chatload/chatload/report"
)

// MS-SIPAE Kerberos: the account gets a service ticket for the targetname
// the server's challenge names (sip/<fqdn>) from its KDC, sends the GSS-API
// Kerberos token (RFC 1964 framing of the AP-REQ) in gssapi-data, and signs
// every request of the SA with a GSS MIC token (RFC 4121) keyed with the
// ticket's session key; the server's signatures are acceptor MIC tokens.
// The MIC's sequence number is the message's cnum/snum, which the signed
// buffer carries too.

// KerberosConfig configures MS-SIPAE Kerberos sign-in. A plain value.
type KerberosConfig struct {
	// Krb5Conf is the krb5.conf path (realms, KDCs, default realm).
	Krb5Conf string
	// Keytab, when set, holds the users' keys: used instead of passwords.
	Keytab string
}

// kerberosClient gets service tickets for the accounts of a UA: one
// gokrb5 client (TGT) per user. Safe for concurrent use.
type kerberosClient struct {
	conf *config.Config
	kt   *keytab.Keytab

	mu    sync.Mutex
	users map[string]*client.Client // by principal@REALM
}

func newKerberosClient(cfg KerberosConfig) (*kerberosClient, error) {
	conf, err := config.Load(cfg.Krb5Conf)
	if err != nil {
		return nil, &report.Error{Class: report.Other, Op: "kerberos", Detail: "krb5 configuration " + cfg.Krb5Conf, Err: err}
	}
	k := &kerberosClient{conf: conf, users: map[string]*client.Client{}}
	if cfg.Keytab != "" {
		if k.kt, err = keytab.Load(cfg.Keytab); err != nil {
			return nil, &report.Error{Class: report.Other, Op: "kerberos", Detail: "keytab " + cfg.Keytab, Err: err}
		}
	}
	return k, nil
}

// principal splits an auth user into a Kerberos principal name and realm:
// user@REALM, DOMAIN\user (the domain is the realm) or user (the default
// realm). Realms are upper case, as Active Directory's are.
func (k *kerberosClient) principal(authUser string) (string, string) {
	if i := strings.LastIndexByte(authUser, '@'); i >= 0 {
		return authUser[:i], strings.ToUpper(authUser[i+1:])
	}
	if i := strings.IndexByte(authUser, '\\'); i >= 0 {
		return authUser[i+1:], strings.ToUpper(authUser[:i])
	}
	return authUser, k.conf.LibDefaults.DefaultRealm
}

// login returns the logged-on client of a user (a TGT from the KDC).
func (k *kerberosClient) login(authUser, password string) (*client.Client, error) {
	name, realm := k.principal(authUser)
	key := name + "@" + realm
	k.mu.Lock()
	cl := k.users[key]
	k.mu.Unlock()
	if cl != nil {
		return cl, nil
	}
	if k.kt != nil {
		cl = client.NewWithKeytab(name, realm, k.kt, k.conf, client.DisablePAFXFAST(true))
	} else {
		cl = client.NewWithPassword(name, realm, password, k.conf, client.DisablePAFXFAST(true))
	}
	if err := cl.Login(); err != nil {
		return nil, err
	}
	k.mu.Lock()
	if prev := k.users[key]; prev != nil {
		k.mu.Unlock()
		cl.Destroy()
		return prev, nil
	}
	k.users[key] = cl
	k.mu.Unlock()
	return cl, nil
}

// kerberosToken puts the GSS-API token with the AP-REQ for sa's targetname
// into sa.token and the MIC signer keyed with the ticket's session key into
// sa.keys. KDC errors become the Lync-style problems.
func (a *Auth) kerberosToken(op string, sa *secAssoc, code int, where string) error {
	if a.krb == nil {
		return authError(op, code, "", "Kerberos", report.AuthNoCredentials,
			fmt.Sprintf("%s offers Kerberos but no Kerberos configuration was given (--krb5-conf)", where))
	}
	cl, err := a.krb.login(a.username, a.password)
	if err != nil {
		return kerberosError(op, code, "log on to the KDC as "+a.username, err)
	}
	tkt, key, err := cl.GetServiceTicket(sa.targetname)
	if err != nil {
		return kerberosError(op, code, "service ticket for "+sa.targetname, err)
	}
	tok, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key, []int{gssapi.ContextFlagInteg, gssapi.ContextFlagMutual}, nil)
	if err != nil {
		return authError(op, code, "", "Kerberos", report.AuthHandshakeFailed, "building the AP-REQ: "+err.Error())
	}
	b, err := tok.Marshal()
	if err != nil {
		return authError(op, code, "", "Kerberos", report.AuthHandshakeFailed, "building the AP-REQ: "+err.Error())
	}
	sa.token = base64.StdEncoding.EncodeToString(b)
	sa.keys = micSigner{key: key}
	return nil
}

// kerberosError classifies a gokrb5 error by the KRB-ERROR code it names.
func kerberosError(op string, code int, what string, err error) error {
	msg := err.Error()
	problem := report.AuthHandshakeFailed
	switch {
	case strings.Contains(msg, "KDC_ERR_PREAUTH_FAILED"), strings.Contains(msg, "KRB_AP_ERR_BAD_INTEGRITY"),
		strings.Contains(msg, "password/keytab incorrect"): // a KDC not requiring pre-authentication
		problem = report.AuthWrongPassword
	case strings.Contains(msg, "KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		problem = report.AuthUnknownUser
	case strings.Contains(msg, "KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		problem = report.AuthUnknownSPN
	case strings.Contains(msg, "KRB_AP_ERR_SKEW"):
		problem = report.AuthClockSkew
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "could not get valid TGT"), strings.Contains(msg, "error sending to KDC"):
		problem = report.AuthHandshakeFailed
	}
	return &report.Error{Class: report.Auth, Code: code, Op: op, Detail: "Kerberos: " + what,
		Err: &kerberosFailure{AuthFailure: report.AuthFailure{Problem: problem, Scheme: "Kerberos"}, cause: err}}
}

// kerberosFailure is an AuthFailure keeping gokrb5's error for the logs.
type kerberosFailure struct {
	report.AuthFailure
	cause error
}

func (f *kerberosFailure) Error() string { return f.Problem + " (" + f.cause.Error() + ")" }

func (f *kerberosFailure) Unwrap() error { return &f.AuthFailure }

// micSigner signs with RFC 4121 MIC tokens (sipae.MICSign) as the
// initiator and checks the acceptor's.
type micSigner struct{ key types.EncryptionKey }

func (m micSigner) sign(buf []byte) string { return sipae.MICSign(m.key, false, buf) }

func (m micSigner) check(buf []byte, sig string) bool { return sipae.MICCheck(m.key, true, buf, sig) }

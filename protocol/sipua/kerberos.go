package sipua

import (
	"fmt"

	"github.com/chatload/chatload/report"
)

// KerberosConfig configures MS-SIPAE Kerberos sign-in. A plain value.
type KerberosConfig struct {
	// Krb5Conf is the krb5.conf path (realms, KDCs, default realm).
	Krb5Conf string
	// Keytab, when set, holds the users' keys: used instead of passwords.
	Keytab string
}

// kerberosClient gets service tickets for the accounts of a UA. Safe for
// concurrent use.
type kerberosClient struct {
	cfg KerberosConfig
}

func newKerberosClient(cfg KerberosConfig) (*kerberosClient, error) {
	return &kerberosClient{cfg: cfg}, nil
}

// kerberosToken puts the AP-REQ for sa's target into sa.token and its keys
// into sa.keys.
func (a *Auth) kerberosToken(op string, sa *secAssoc, code int, where string) error {
	if a.krb == nil {
		return authError(op, code, "", "Kerberos", report.AuthNoCredentials,
			fmt.Sprintf("%s offers Kerberos but no Kerberos configuration was given (--krb5-conf)", where))
	}
	return authError(op, code, "", "Kerberos", report.AuthHandshakeFailed, "Kerberos is not implemented yet")
}

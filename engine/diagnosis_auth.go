package engine

import (
	"fmt"

	"github.com/chatload/chatload/report"
)

// authDiagnosis says what an authentication problem (report.Auth* words)
// means for user at target and what to check, as a Lync administrator
// would be told.
func authDiagnosis(problem, scheme, user, target string) string {
	switch problem {
	case report.AuthWrongPassword:
		return fmt.Sprintf("Authentication failed for %s: %s refused the %s proof of the password (wrong password). "+
			"Check the password of the account (for NTLM give the user as DOMAIN\\user or user@domain); "+
			"a locked out, expired or disabled account is refused the same way.", user, target, scheme)
	case report.AuthUnknownUser:
		return fmt.Sprintf("Authentication failed for %s: %s does not know the account (unknown user). Check the user "+
			"name of the credential (DOMAIN\\user or user@domain) and that the account exists and is enabled for "+
			"Lync (Enable-CsUser).", user, target)
	case report.AuthSchemeNotOffered:
		return fmt.Sprintf("The server %s does not offer the authentication scheme asked for with --auth (it offers: %s). "+
			"Use --auth auto, or enable the scheme on the server (Lync: Set-CsProxyConfiguration "+
			"-UseNtlmForClientToProxyAuth / -UseKerberosForClientToProxyAuth).", target, scheme)
	case report.AuthSignatureRefused:
		return fmt.Sprintf("The server %s refused the %s signature of a request of %s's security association "+
			"(signature refused): something between chatload and the pool changed the request (a SIP-aware load "+
			"balancer or proxy rewriting headers), or the security association was replayed. Check the path to the pool.",
			target, scheme, user)
	case report.AuthBadServerSig:
		return fmt.Sprintf("The %s signature of a message from %s does not verify (bad server signature): the message "+
			"was changed on the way or does not come from the server %s authenticated with. Check for devices "+
			"between chatload and the pool that rewrite SIP.", scheme, target, user)
	case report.AuthClockSkew:
		return fmt.Sprintf("Kerberos refused %s's ticket because the clocks of this host and the domain controller "+
			"differ by more than allowed, 5 minutes by default (clock skew). Synchronise the clocks (NTP, w32tm).", user)
	case report.AuthUnknownSPN:
		return fmt.Sprintf("The KDC does not know the service principal %s names (unknown SPN): register sip/<pool "+
			"fqdn> on the pool's Kerberos account (Lync: Set-CsKerberosAccountAssignment, "+
			"Set-CsKerberosAccountPassword) and check --krb5-conf's realm.", target)
	case report.AuthNoCredentials:
		return fmt.Sprintf("%s was chosen for %s but chatload has no credentials for it: give --krb5-conf (realm and "+
			"KDC) and the credential as user@REALM:password, or use --auth ntlm.", scheme, user)
	}
	return fmt.Sprintf("Authentication of %s with %s failed (%s). Check the server's logs for the sign-in.", user, target, problem)
}

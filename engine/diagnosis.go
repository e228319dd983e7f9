package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatload/chatload/report"
)

// stepSubject says in words what a step was doing, for Error Message.
func (r ProbeResult) stepSubject(cfg ProbeConfig, step string) string {
	switch step {
	case StepLogonSender:
		return "Log on of the sender " + cfg.Sender.String()
	case StepLogonReceiver:
		return "Log on of the receiver " + cfg.Receiver.String()
	case StepFindRoom:
		return "Looking up a chat room for " + cfg.Sender.URI
	case StepJoinSender:
		return "Joining the sender to " + r.Room
	case StepJoinReceiver:
		return "Joining the receiver to " + r.Room
	case StepSendSender:
		return "Posting the sender's message to " + r.Room
	case StepDeliverySender:
		return "Delivery of the sender's message to the receiver " + cfg.Receiver.URI
	case StepSendReceiver:
		return "Posting the receiver's reply to " + r.Room
	case StepDeliveryRecv:
		return "Delivery of the receiver's reply to the sender " + cfg.Sender.URI
	case StepLeaveSender, StepLeaveReceiver:
		return "Leaving " + r.Room
	case StepLogoffSender, StepLogoffReceiver:
		return "Log off"
	}
	return step
}

// ErrorMessage says what failed and where, or "" on success.
func (r ProbeResult) ErrorMessage(cfg ProbeConfig) string {
	if r.Err == nil {
		return ""
	}
	return fmt.Sprintf("%s failed: %v", r.stepSubject(cfg, r.FailedStep), r.Err)
}

// Diagnosis says the likely cause of the failure and what to check, in the words of
// a persistent-chat administrator; "" on success. target names the server tried.
func (r ProbeResult) Diagnosis(cfg ProbeConfig, target string) string {
	if r.Err == nil {
		return ""
	}
	class, code := report.ClassOf(r.Err)
	user := cfg.Sender.URI
	if r.FailedStep == StepLogonReceiver || r.FailedStep == StepJoinReceiver || r.FailedStep == StepSendReceiver {
		user = cfg.Receiver.URI
	}
	logon := r.FailedStep == StepLogonSender || r.FailedStep == StepLogonReceiver
	join := r.FailedStep == StepJoinSender || r.FailedStep == StepJoinReceiver
	delivery := r.FailedStep == StepDeliverySender || r.FailedStep == StepDeliveryRecv

	if errors.Is(r.Err, context.Canceled) {
		return "The test was interrupted before it completed; nothing can be concluded about the server."
	}
	cause, kind := report.CauseOf(r.Err)
	switch {
	case cause == report.CauseNoChatServer:
		return "The Persistent Chat service did not accept the session: no chat server answers the chat URI " +
			"(default: the pool in-band provisioning names, else sip:ocschat@<domain>; give the pool's URI with --chat-service), or it refused the user. " +
			"Check that Persistent Chat is deployed and its URI routable from this registrar."
	case cause == report.CauseNotChatEnabled:
		return fmt.Sprintf("The chat server ended the session of %s right after its first command: the user is most "+
			"likely not enabled for Persistent Chat (no Persistent Chat policy). Grant the user a Persistent Chat "+
			"policy (Lync: Grant-CsPersistentChatPolicy) or test with another user.", user)
	case cause == report.CauseUnresolved:
		return fmt.Sprintf("The server's name could not be resolved (%s): DNS has no address for it, or no DNS "+
			"server answered. Check the --target name for typos, that its A/AAAA (or SRV) records exist, and this "+
			"host's DNS configuration (/etc/resolv.conf).", target)
	case class == report.Transport && report.CertificateProblem(r.Err) != "":
		return certDiagnosis(report.CertificateProblem(r.Err), target)
	case cause == report.CauseNotTLS:
		return fmt.Sprintf("The server %s accepted the connection but the TLS handshake failed: the port is most likely a "+
			"plain TCP (or other non-TLS) SIP port, or a TLS server refused this client. Check the port and --transport "+
			"(Lync/Skype for Business Front Ends take TLS on 5061; Kamailio's plain ports take --transport tcp).", target)
	case cause == report.CauseForeignDomain:
		return fmt.Sprintf("The server refused the request of %s for its domain (SIP 403: Not relaying, Forbidden Domain): "+
			"it does not serve the domain of that URI or of the room, so it would have to forward the request elsewhere. "+
			"Check the domain of --sender, --receiver and --room against the domains the server %s is configured for.", user, target)
	case class == report.Transport:
		return fmt.Sprintf("The server %s could not be reached: nothing accepted the connection or the packets. "+
			"Check that the SIP server is running and listening on that address, port and transport (--transport), "+
			"and that no firewall blocks it.", target)
	case class == report.Timeout && logon:
		return fmt.Sprintf("The server %s did not answer the log on in time. Check the address, port and "+
			"transport (--transport); a firewall dropping packets or an overloaded server look the same.", target)
	case class == report.Auth && authProblem(r.Err) != "":
		problem, scheme := report.AuthProblemOf(r.Err)
		return authDiagnosis(problem, scheme, user, target)
	case class == report.Auth && logon:
		return fmt.Sprintf("Authentication failed for %s: the password is wrong, the authentication user name "+
			"differs from the URI's user (give the credential as authuser:password), or the account is disabled. "+
			"Check the credential against the user's account.", user)
	case class == report.NotFound && logon:
		return fmt.Sprintf("The user %s is not provisioned on the server (unknown user). Check the SIP URI and "+
			"that the account exists and is enabled for chat.", user)
	case r.FailedStep == StepFindRoom:
		return "The sender can see no chat room on this server. Create a room or name one with --room."
	case class == report.NotFound && join:
		return fmt.Sprintf("The chat room %s does not exist on the server. Check the room URI given with --room "+
			"(for Kamailio imc: room@conf.<domain>; for Persistent Chat: the room's name or ma-chan://<domain>/<id> URI) "+
			"and that the room is provisioned.", r.Room)
	case (class == report.Rejected || class == report.Auth) && join:
		return fmt.Sprintf("The server refused to let %s join %s (%s). Check that the user is allowed in the "+
			"room (private room, invitation or permission needed).", user, r.Room, statusText(kind, code))
	case class == report.Timeout && join:
		return fmt.Sprintf("%s was not confirmed as a member of %s in time: the server acknowledged the join "+
			"or did not answer, but sent no joined notification to the user's registered address. Check that the "+
			"server can send requests back to this client (NAT, firewall) and the server's logs.", user, r.Room)
	case class == report.Rejected && code == 403 && !delivery:
		return fmt.Sprintf("The server says %s is not a member of %s although it joined: membership was lost "+
			"(server restart, room destroyed or the user removed). Check the room on the server.", user, r.Room)
	case delivery || class == report.Lost:
		return "The server accepted the message but did not deliver it to the other user within the timeout. " +
			"Check that the server can send requests to the receiver's registered address (NAT, firewall), " +
			"that the server is not overloaded, and its logs for failed relays."
	case class == report.Timeout:
		return "The server did not answer in time. Check its load and logs; raise --timeout if it is merely slow."
	case class == report.Rejected:
		return fmt.Sprintf("The server rejected the request (%s). Check the server's policy and logs for this user and room.", statusText(kind, code))
	case class == report.Protocol:
		return "The server answered something this protocol does not allow. Check that --protocol matches the server."
	}
	return fmt.Sprintf("Unexpected failure (%s). Check the server's logs at the failing step.", class)
}

func authProblem(err error) string { p, _ := report.AuthProblemOf(err); return p }

// certDiagnosis says what to do about a server certificate that failed
// verification for problem (one of report's Cert* words).
func certDiagnosis(problem, target string) string {
	s := fmt.Sprintf("The server's certificate is not trusted: %s (%s). ", problem, target)
	switch problem {
	case report.CertUnknownAuthority:
		return s + "It is self-signed or issued by a CA this host does not trust: give --tls-ca with that CA's " +
			"certificate (or the server's own, when self-signed) or fix the certificate."
	case report.CertNameMismatch:
		return s + "It is not issued for the name the client asked for: target the name it is issued for, " +
			"give that name with --tls-server-name, or fix the certificate."
	case report.CertExpired:
		return s + "It has expired or is not valid yet: renew the certificate, and check the clocks of both hosts."
	}
	return s + "Give --tls-ca or fix the certificate."
}

// statusText names code by its kind: an XCCOS reply code or a SIP status.
func statusText(kind report.CodeKind, code int) string {
	switch {
	case code == 0:
		return "no status"
	case kind == report.CodeReply:
		return fmt.Sprintf("XCCOS reply code %d", code)
	}
	return fmt.Sprintf("SIP %d", code)
}

package sipae

import (
	"encoding/hex"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Kerberos signatures: MS-SIPAE signs the same buffer with a GSS MIC token;
// ours are RFC 4121 MIC tokens keyed with the service ticket's session key,
// written as hex in the response / rspauth parameter.

// MICSign returns the hex GSS MIC token (RFC 4121) of buf under key, as the
// acceptor (server) or the initiator (client) makes it; "" when key cannot
// sign. It is a pure function.
func MICSign(key types.EncryptionKey, acceptor bool, buf []byte) string {
	t := gssapi.MICToken{Payload: buf}
	usage := uint32(keyusage.GSSAPI_INITIATOR_SIGN)
	if acceptor {
		t.Flags = gssapi.MICTokenFlagSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	if err := t.SetChecksum(key, usage); err != nil {
		return ""
	}
	b, err := t.Marshal()
	if err != nil {
		return ""
	}
	return hex.EncodeToString(b)
}

// MICCheck reports whether sig is the hex MIC token of buf under key made
// by the acceptor (fromAcceptor) or the initiator. It is a pure function.
func MICCheck(key types.EncryptionKey, fromAcceptor bool, buf []byte, sig string) bool {
	b, err := hex.DecodeString(sig)
	if err != nil || len(b) < 16 {
		return false
	}
	var t gssapi.MICToken
	if err := t.Unmarshal(b, fromAcceptor); err != nil {
		return false
	}
	t.Payload = buf
	usage := uint32(keyusage.GSSAPI_INITIATOR_SIGN)
	if fromAcceptor {
		usage = keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	ok, err := t.Verify(key, usage)
	return err == nil && ok
}

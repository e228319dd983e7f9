package sipua

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Endpoint identity of Microsoft SIP clients ([MS-SIPRE] sections 3.2 and
// 3.3): every request carries an epid parameter on From, and a registering
// endpoint names itself in its Contact with a +sip.instance derived from that
// epid, so that the registrar can tie the two together (and hand out a GRUU
// for the instance). Both the xccos driver and the MS-SIPAE sign-in use these.

// NewEPID returns a fresh endpoint identifier: 16 lower-case hex digits, a
// 64-bit random number, as [MS-SIPRE] 3.2.1 suggests. Safe for concurrent use.
func NewEPID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// epidNamespace is the name-space identifier of the +sip.instance derivation,
// the UUID fcacfb03-8a73-46ef-91b1-e5ebeeaba4fe in the byte order [MS-SIPRE]
// 4.2 hashes it: the first three fields little-endian (a Windows GUID).
var epidNamespace = [16]byte{0x03, 0xfb, 0xac, 0xfc, 0x73, 0x8a, 0xef, 0x46,
	0x91, 0xb1, 0xe5, 0xeb, 0xee, 0xab, 0xa4, 0xfe}

// InstanceUUID returns the +sip.instance UUID ([MS-SIPRE] 3.3.3.1, worked
// example in 4.2) of an endpoint whose epid is epid: the SHA-1 of the
// name-space identifier followed by the epid's characters, its first 16 bytes
// read as a little-endian GUID, with the version (5) and variant bits set.
// "01010101" gives 4b1682a8-f968-5701-83fc-7c6741dc6697. It is a pure function.
func InstanceUUID(epid string) string {
	h := sha1.New()
	h.Write(epidNamespace[:])
	h.Write([]byte(epid))
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	timeLow := binary.LittleEndian.Uint32(sum[0:4])
	timeMid := binary.LittleEndian.Uint16(sum[4:6])
	timeHi := binary.LittleEndian.Uint16(sum[6:8])&0x0fff | 0x5000
	clockHi := sum[8]&0x3f | 0x80
	return fmt.Sprintf("%08x-%04x-%04x-%02x%02x-%x", timeLow, timeMid, timeHi, clockHi, sum[9], sum[10:16])
}

// InstanceURN returns the Contact's +sip.instance value for epid:
// "<urn:uuid:...>" (the angle brackets are part of the value, which is sent
// quoted). It is a pure function.
func InstanceURN(epid string) string { return "<urn:uuid:" + InstanceUUID(epid) + ">" }

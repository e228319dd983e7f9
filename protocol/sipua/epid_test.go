package sipua

import (
	"regexp"
	"strings"
	"testing"
)

// TestInstanceUUIDVector reproduces the worked example of [MS-SIPRE] 4.2:
// epid 01010101 gives the instance 4b1682a8-f968-5701-83fc-7c6741dc6697.
func TestInstanceUUIDVector(t *testing.T) {
	if got, want := InstanceUUID("01010101"), "4b1682a8-f968-5701-83fc-7c6741dc6697"; got != want {
		t.Fatalf("InstanceUUID(01010101) = %s; want %s", got, want)
	}
	if got, want := InstanceURN("01010101"), "<urn:uuid:4b1682a8-f968-5701-83fc-7c6741dc6697>"; got != want {
		t.Fatalf("InstanceURN = %s; want %s", got, want)
	}
}

// TestInstanceUUIDSIPAEExamples: the +sip.instance the Communicator clients of
// [MS-SIPAE]'s protocol examples send with their epid: section 4.1 (NTLM,
// epid=8248ca9ebb) and 4.2 (Kerberos, epid=2ebb6f264f). The spec prints the
// UUIDs upper-case; they are the same UUIDs.
func TestInstanceUUIDSIPAEExamples(t *testing.T) {
	for _, c := range []struct{ epid, want string }{
		{"8248ca9ebb", "4233FD41-093B-5FD6-B5D2-651ED55969E6"},
		{"2ebb6f264f", "124841E4-264D-52E8-96C5-D22AA8CDC316"},
	} {
		if got := InstanceUUID(c.epid); !strings.EqualFold(got, c.want) {
			t.Errorf("InstanceUUID(%s) = %s; want %s", c.epid, got, c.want)
		}
	}
}

func TestNewEPID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{16}$`)
	a, b := NewEPID(), NewEPID()
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Fatalf("NewEPID gave %q and %q; want two different 16-hex-digit values", a, b)
	}
	if InstanceUUID(a) == InstanceUUID(b) {
		t.Fatalf("two epids gave one instance")
	}
}

func TestHeaderParam(t *testing.T) {
	v := `<sip:alice@127.0.0.1:5;transport=tcp>;proxy=replace;+sip.instance="<urn:uuid:4b1682a8>";expires=300;gruu="sip:alice@example.test;opaque=user:epid:abc;gruu"`
	for _, c := range []struct{ name, want string }{
		{"gruu", "sip:alice@example.test;opaque=user:epid:abc;gruu"},
		{"+SIP.instance", "<urn:uuid:4b1682a8>"},
		{"expires", "300"},
		{"proxy", "replace"},
	} {
		if got, ok := HeaderParam(v, c.name); !ok || got != c.want {
			t.Errorf("HeaderParam(%s) = %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
	for _, name := range []string{"transport", "opaque", "missing"} {
		if got, ok := HeaderParam(v, name); ok {
			t.Errorf("HeaderParam(%s) = %q; want none (inside the URI or a quoted value, or absent)", name, got)
		}
	}
}

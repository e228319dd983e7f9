package sipae

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// The signed buffers of recorded messages (MS-SIPAE's version 4 layout).
func TestMessageBuffer(t *testing.T) {
	for _, tc := range []struct {
		name, msg, rand, num, target, want string
	}{
		{"Communicator's REGISTER", "REGISTER sip:cosmo.local SIP/2.0\r\nVia: SIP/2.0/TLS 192.168.172.6:12723\r\nMax-Forwards: 70\r\n" +
			"From: <sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\nTo: <sip:user@cosmo.local>\r\n" +
			"Call-ID: 4037df9284354df39065195bd57a4b14\r\nCSeq: 3 REGISTER\r\nContent-Length: 0\r\n\r\n",
			"13317733", "1", "cosmo-ocs-r2.cosmo.local",
			"<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>"},
		{"the server's 200", "SIP/2.0 200 OK\r\nFrom: \"User\"<sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n" +
			"To: <sip:user@cosmo.local>;tag=5E61CCD925D17E043D9A74835A88F664\r\nCall-ID: 4037df9284354df39065195bd57a4b14\r\n" +
			"CSeq: 3 REGISTER\r\nVia: SIP/2.0/TLS 192.168.172.6:12723\r\nExpires: 7200\r\nContent-Length: 0\r\n\r\n",
			"9616454F", "1", "cosmo-ocs-r2.cosmo.local",
			"<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>"},
		{"a 180 with P-Asserted-Identity", "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TLS 192.168.44.10:50230\r\n" +
			"FROM: \"Sender\"<sip:sender@company.com>;tag=2420628112;epid=54392f1bbf01\r\n" +
			"TO: \"recipient\"<sip:recipient@company.com>;tag=7aee15546a;epid=3102EB8BD1\r\nCSEQ: 1 INVITE\r\n" +
			"CALL-ID: 41CEg82ECa0AC8i3DD7mE673t9CF4b19DAxF780x\r\nCONTENT-LENGTH: 0\r\n" +
			"P-ASSERTED-IDENTITY: \"recipient\"<SIP:recipient@company.com>\r\n\r\n",
			"1B6D47A1", "11", "LOC-COMPANYT-FE03.COMPANY.COM",
			"<NTLM><1B6D47A1><11><SIP Communications Service><LOC-COMPANYT-FE03.COMPANY.COM><41CEg82ECa0AC8i3DD7mE673t9CF4b19DAxF780x><1><INVITE><sip:sender@company.com><2420628112><sip:recipient@company.com><7aee15546a><SIP:recipient@company.com><><><180>"},
	} {
		m, err := sip.ParseMessage([]byte(tc.msg))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b := MessageBuffer(m)
		b.Scheme, b.Rand, b.Num, b.Realm, b.TargetName = "NTLM", tc.rand, tc.num, Realm, tc.target
		if got := string(b.Bytes()); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestParams(t *testing.T) {
	v := `NTLM qop="auth", realm="SIP Communications Service", opaque="2BDBAC9D", targetname="cosmo-ocs-r2.cosmo.local", version=4, gssapi-data="", crand="13317733", cnum="1", response="0100"`
	p, err := ParseParams(v)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scheme != "NTLM" || p.Value("realm") != Realm || p.Value("version") != "4" || p.Value("CNUM") != "1" {
		t.Fatalf("parsed %+v", p)
	}
	if g, ok := p.Get("gssapi-data"); !ok || g != "" {
		t.Errorf("gssapi-data = %q, %v; want empty, present", g, ok)
	}
	if p.String() != v {
		t.Errorf("round trip\n got %s\nwant %s", p.String(), v)
	}
	for _, bad := range []string{`NTLM realm="x`, `NTLM realm`} {
		if _, err := ParseParams(bad); err == nil {
			t.Errorf("ParseParams(%q) accepted", bad)
		}
	}
}

func FuzzParams(f *testing.F) {
	f.Add(`NTLM qop="auth", realm="a\"b", version=4`)
	f.Fuzz(func(t *testing.T, v string) {
		p, err := ParseParams(v)
		if err != nil {
			return
		}
		q, err := ParseParams(p.String())
		if err != nil || len(q.Keys) != len(p.Keys) {
			t.Fatalf("%q: round trip of %q gave %v %v", v, p.String(), q, err)
		}
	})
}

package scenarios_test

import (
	"strings"
	"testing"

	"github.com/chatload/chatload/protocol/imc"
	"github.com/chatload/chatload/protocol/xccos"
	"github.com/chatload/chatload/scenarios"
)

// TestCheckProtocol: what a protocol's driver declares decides what a run may ask
// of it (the checks that were lists of names in Validate).
func TestCheckProtocol(t *testing.T) {
	protocols := []scenarios.Protocol{imc.Protocol(), xccos.Protocol()}
	cases := []struct {
		name     string
		scenario string
		edit     func(c *scenarios.Config)
		want     string // "" = accepted
	}{
		{"steady on imc", scenarios.Steady, nil, ""},
		{"steady on xccos", scenarios.Steady, func(c *scenarios.Config) { c.Protocol, c.Transport = "xccos", "tls" }, ""},
		{"history on xccos", scenarios.History, nil, ""},
		{"history on imc", scenarios.History, func(c *scenarios.Config) { c.Protocol = "imc" }, "--protocol imc: the imc protocol has no history; use --protocol xccos"},
		{"unknown protocol", scenarios.Steady, func(c *scenarios.Config) { c.Protocol = "xmpp" }, "--protocol \"xmpp\": want imc or xccos"},
		{"message on xccos", scenarios.Message, func(c *scenarios.Config) { c.Protocol, c.To = "xccos", "sip:uas@example.test" },
			"--protocol xccos: the xccos protocol sends no page-mode messages; use --protocol imc"},
		{"message on imc", scenarios.Message, func(c *scenarios.Config) { c.To, c.NoRegister = "sip:uas@example.test", true }, ""},
		{"no-register on xccos", scenarios.Steady, func(c *scenarios.Config) { c.Protocol, c.NoRegister = "xccos", true },
			"--no-register: the xccos protocol always logs its users on; use --protocol imc"},
		{"unknown transport", scenarios.Steady, func(c *scenarios.Config) { c.Transport = "sctp" }, "--transport \"sctp\": the imc protocol runs over udp, tcp or tls"},
	}
	for _, c := range cases {
		cfg, err := scenarios.Default(c.scenario)
		if err != nil {
			t.Fatal(err)
		}
		if c.edit != nil {
			c.edit(&cfg)
		}
		err = cfg.CheckProtocol(protocols)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: CheckProtocol = %v; want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: CheckProtocol = %v; want containing %q", c.name, err, c.want)
		}
	}
}

package codec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// In-band provisioning (note §1.1, [MS-SIPREGE] 2.2.2.5.11): after signing in,
// a Lync 2013 client SUBSCRIBEs to its own AoR for the event
// vnd-microsoft-provisioning-v2 with Expires: 0 and a list of the
// provisioning groups it wants; the 200 carries them. The group
// persistentChatConfiguration names the Persistent Chat pool.

const (
	// ProvisioningEvent is the Event of the provisioning SUBSCRIBE.
	ProvisioningEvent = "vnd-microsoft-provisioning-v2"
	// ProvisioningType is the Content-Type of its request and answer.
	ProvisioningType = "application/vnd-microsoft-roaming-provisioning-v2+xml"
	// PChatGroup is the provisioning group of Persistent Chat.
	PChatGroup = "persistentChatConfiguration"
	// Property names of PChatGroup.
	PropEnablePChat      = "EnablePersistentChat"
	PropDefaultPChatPool = "DefaultPersistentChatPoolUri"
	PropPChatPools       = "PersistentChatPoolUris"
)

// ProvisioningRequest is the body of the provisioning SUBSCRIBE: the groups
// asked for.
func ProvisioningRequest(groups ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist">`)
	for _, g := range groups {
		b.WriteString(`<provisioningGroup name="`)
		_ = xml.EscapeText(&b, []byte(g))
		b.WriteString(`"/>`)
	}
	b.WriteString(`</provisioningGroupList>`)
	return b.Bytes()
}

// ProvisioningAnswer is the body of a 200 to the provisioning SUBSCRIBE with
// one group and its properties, in order (name, value pairs).
func ProvisioningAnswer(group string, props ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification"><provisionGroup name="`)
	_ = xml.EscapeText(&b, []byte(group))
	b.WriteString(`"><propertyEntryList>`)
	for i := 0; i+1 < len(props); i += 2 {
		b.WriteString(`<property name="`)
		_ = xml.EscapeText(&b, []byte(props[i]))
		b.WriteString(`">`)
		_ = xml.EscapeText(&b, []byte(props[i+1]))
		b.WriteString(`</property>`)
	}
	b.WriteString(`</propertyEntryList></provisionGroup></provisionGroupList>`)
	return b.Bytes()
}

// ParseProvisioning returns the properties of group in a provisioning
// answer (nil when the answer has no such group). Namespaces are ignored,
// element and group names compare case-insensitively, and unknown elements
// are skipped. It is a pure function.
func ParseProvisioning(body []byte, group string) (map[string]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var props map[string]string
	depth, in := 0, 0 // in: depth of the wanted provisionGroup, 0 outside
	var name string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return props, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case in == 0 && strings.EqualFold(t.Name.Local, "provisionGroup") && strings.EqualFold(attr(t, "name"), group):
				in = depth
				if props == nil {
					props = map[string]string{}
				}
			case in != 0 && strings.EqualFold(t.Name.Local, "property"):
				name = attr(t, "name")
				text.Reset()
			}
		case xml.CharData:
			if name != "" {
				text.Write(t)
			}
		case xml.EndElement:
			if name != "" && strings.EqualFold(t.Name.Local, "property") {
				props[name] = strings.TrimSpace(text.String())
				name = ""
			}
			if depth == in {
				in = 0
			}
			depth--
		}
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value
		}
	}
	return ""
}

// ProvisionedPool is the chat service a persistentChatConfiguration names
// for a client: DefaultPersistentChatPoolUri when EnablePersistentChat is
// "true", else "" (SIPE's order, note §1.1). It is a pure function.
func ProvisionedPool(props map[string]string) string {
	if !strings.EqualFold(props[PropEnablePChat], "true") {
		return ""
	}
	return strings.TrimSpace(props[PropDefaultPChatPool])
}

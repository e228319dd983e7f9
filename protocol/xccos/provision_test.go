package xccos_test

import (
	"testing"

	"github.com/chatload/chatload/protocol/xccos/codec"
)

// TestParseProvisioning reads the persistentChatConfiguration out of an
// answer with other groups and namespaces, as [MS-SIPREGE] 2.2.2.5.11 lays it
// out, and ProvisionedPool follows SIPE's rule (only when enabled).
func TestParseProvisioning(t *testing.T) {
	body := []byte(`<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">
<provisionGroup name="ServerConfiguration"><propertyEntryList><property name="DefaultPersistentChatPoolUri">sip:wrong@x</property></propertyEntryList></provisionGroup>
<provisionGroup name="persistentChatConfiguration"><propertyEntryList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">
 <property name="EnablePersistentChat">true</property>
 <property name="DefaultPersistentChatPoolUri"> sip:GC-1-PersistentChatService-2@contoso.com </property>
 <property name="PersistentChatPoolUris">sip:a@contoso.com sip:b@contoso.com</property>
 <property name="PersistentChatWebManagerUriInt">https://pool/PersistentChat/RM</property>
</propertyEntryList></provisionGroup></provisionGroupList>`)
	props, err := codec.ParseProvisioning(body, codec.PChatGroup)
	if err != nil {
		t.Fatal(err)
	}
	if got := codec.ProvisionedPool(props); got != "sip:GC-1-PersistentChatService-2@contoso.com" {
		t.Errorf("pool %q; want the persistentChatConfiguration's default pool", got)
	}
	if props[codec.PropPChatPools] != "sip:a@contoso.com sip:b@contoso.com" {
		t.Errorf("props %v", props)
	}
	props["EnablePersistentChat"] = "false"
	if got := codec.ProvisionedPool(props); got != "" {
		t.Errorf("disabled: pool %q; want none", got)
	}
	if p, err := codec.ParseProvisioning([]byte(`<provisionGroupList/>`), codec.PChatGroup); err != nil || p != nil {
		t.Errorf("no group: %v %v; want nil, nil", p, err)
	}
	if _, err := codec.ParseProvisioning([]byte(`<provisionGroupList><provisionGroup name="persistentChatConfiguration">`), codec.PChatGroup); err == nil {
		t.Error("a truncated answer parsed")
	}
	// What the embedded server sends reads back.
	ans := codec.ProvisioningAnswer(codec.PChatGroup, codec.PropEnablePChat, "true", codec.PropDefaultPChatPool, "sip:p@d")
	if p, _ := codec.ParseProvisioning(ans, codec.PChatGroup); codec.ProvisionedPool(p) != "sip:p@d" {
		t.Errorf("round trip: %v", p)
	}
}

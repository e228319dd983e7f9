package xccos_test

import (
	"testing"

	"github.com/chatload/chatload/protocol/xccos"
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
	props, err := xccos.ParseProvisioning(body, xccos.PChatGroup)
	if err != nil {
		t.Fatal(err)
	}
	if got := xccos.ProvisionedPool(props); got != "sip:GC-1-PersistentChatService-2@contoso.com" {
		t.Errorf("pool %q; want the persistentChatConfiguration's default pool", got)
	}
	if props[xccos.PropPChatPools] != "sip:a@contoso.com sip:b@contoso.com" {
		t.Errorf("props %v", props)
	}
	props["EnablePersistentChat"] = "false"
	if got := xccos.ProvisionedPool(props); got != "" {
		t.Errorf("disabled: pool %q; want none", got)
	}
	if p, err := xccos.ParseProvisioning([]byte(`<provisionGroupList/>`), xccos.PChatGroup); err != nil || p != nil {
		t.Errorf("no group: %v %v; want nil, nil", p, err)
	}
	if _, err := xccos.ParseProvisioning([]byte(`<provisionGroupList><provisionGroup name="persistentChatConfiguration">`), xccos.PChatGroup); err == nil {
		t.Error("a truncated answer parsed")
	}
	// What the embedded server sends reads back.
	ans := xccos.ProvisioningAnswer(xccos.PChatGroup, xccos.PropEnablePChat, "true", xccos.PropDefaultPChatPool, "sip:p@d")
	if p, _ := xccos.ParseProvisioning(ans, xccos.PChatGroup); xccos.ProvisionedPool(p) != "sip:p@d" {
		t.Errorf("round trip: %v", p)
	}
}

package contain

// FirewallPresentForTest lets the engine tests check the drop rules.
var FirewallPresentForTest = firewallPresent

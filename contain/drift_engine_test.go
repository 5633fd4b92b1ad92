package contain_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	dnetwork "github.com/docker/docker/api/types/network"

	"firebreak/contain"
	"firebreak/runtime/runtimetest"
)

// TestCheckNamesEveryDrift: a contained container that is attached again
// to the network contain detached, attached to another one, and thawed,
// from outside, drifts in all three ways, each named; contain again holds
// it once more, with no drift.
func TestCheckNamesEveryDrift(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	api := h.Docker().API()
	first := h.UserNetwork(t, runtimetest.Name(t)+"-a", false)
	second := h.UserNetwork(t, runtimetest.Name(t)+"-b", false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Network: first})
	c, _ := newContainment(t, h)
	if _, err := c.Contain(ctx, d.Container, testOptions()); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Status(d.ID)
	if err != nil || !rec.Held() {
		t.Fatalf("record = %+v, %v; want held", rec, err)
	}
	if live, err := c.Check(ctx, rec); err != nil || live.Drift != "" {
		t.Fatalf("just contained: drift %q (%v), want none", live.Drift, err)
	}

	for _, n := range []string{first, second} {
		if err := api.NetworkConnect(ctx, n, d.ID, &dnetwork.EndpointSettings{}); err != nil {
			t.Fatalf("docker network connect %s: %v", n, err)
		}
	}
	if err := api.ContainerUnpause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	live, err := c.Check(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"thawed outside Firebreak", "network " + first + " was attached again", "network " + second + " was attached since"} {
		if !strings.Contains(live.Drift, want) {
			t.Errorf("drift %q does not say %q", live.Drift, want)
		}
	}

	if _, err := c.Contain(ctx, d.Container, testOptions()); err != nil {
		t.Fatalf("contain again: %v", err)
	}
	rec, err = c.Status(d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if live, err := c.Check(ctx, rec); err != nil || live.Drift != "" || len(live.Networks) != 0 {
		t.Errorf("contained again: drift %q, networks %v (%v); want none", live.Drift, live.Networks, err)
	}
}

// TestCheckSeesAnAcceptSlippedIntoTheDropRules: an accept rule inserted
// from inside into one of Firebreak's chains (what a process with
// NET_ADMIN can do whenever it runs) leaves the drop policies in place but
// opens the way out: Check calls it drift and contain again puts the rules
// back as they were. The prefixes contain itself let through (--allow) are
// not drift.
func TestCheckSeesAnAcceptSlippedIntoTheDropRules(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Network: h.UserNetwork(t, runtimetest.Name(t), false)})
	c, _ := newContainment(t, h)
	o := testOptions()
	o.Allow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	if _, err := c.Contain(ctx, d.Container, o); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Status(d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if live, err := c.Check(ctx, rec); err != nil || live.Drift != "" || live.Firewall != contain.FirewallPresent {
		t.Fatalf("just contained with an allowed prefix: drift %q, rules %s (%v); want none, present", live.Drift, live.Firewall, err)
	}
	ns := runtimetest.Inspect(t, h, d.ID).NetNSPath
	if out, err := exec.Command("nsenter", "--net="+ns, "nft", "insert", "rule", "inet", contain.TableName, "output", "accept").CombinedOutput(); err != nil {
		t.Fatalf("nft insert: %v\n%s", err, out)
	}
	live, err := c.Check(ctx, rec)
	if err != nil || !strings.Contains(live.Drift, "drop rules are gone or changed") || live.Firewall != contain.FirewallMissing {
		t.Fatalf("after an accept slipped in: drift %q, rules %s (%v)", live.Drift, live.Firewall, err)
	}
	if _, err := c.Contain(ctx, d.Container, o); err != nil {
		t.Fatalf("contain again: %v", err)
	}
	if live, err := c.Check(ctx, rec); err != nil || live.Drift != "" {
		t.Errorf("contained again: drift %q (%v), want none", live.Drift, err)
	}
	out, err := exec.Command("nsenter", "--net="+ns, "nft", "list", "chain", "inet", contain.TableName, "output").CombinedOutput()
	if err != nil || strings.Count(string(out), "accept") != 2 {
		t.Errorf("output chain after contain again (want the loopback and the allowed prefix only): %v\n%s", err, out)
	}
}

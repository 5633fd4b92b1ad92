package contain_test

import (
	"strings"
	"testing"

	dnetwork "github.com/docker/docker/api/types/network"

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

package contain_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// failingDetach wraps the real Docker runtime and fails every network detach,
// as a daemon that errors mid-containment would. Everything else reaches the
// real engine.
type failingDetach struct {
	runtime.Runtime
	runtime.NetworkAttacher
}

func (f failingDetach) Disconnect(context.Context, string, string) error {
	return errors.New("injected: daemon refused the detach")
}

// TestContainFailureMidwayStaysRecorded: a containment that fails after the
// cut and the freeze keeps what it did on record; release then undoes
// exactly that, and a second containment finishes the job.
func TestContainFailureMidwayStaysRecorded(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	vspec, _, _ := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	store, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	broken := failingDetach{Runtime: h.Runtime(), NetworkAttacher: h.Runtime().(runtime.NetworkAttacher)}
	_, err = contain.New(broken, store, "").Contain(ctx, victim.Container, testOptions())
	if err == nil || !strings.Contains(err.Error(), "injected") || !strings.Contains(err.Error(), "firebreak release") {
		t.Fatalf("Contain with failing detach = %v, want the failure and how to undo", err)
	}
	rec, err := store.Load("docker", "", victim.ID)
	if err != nil || rec == nil {
		t.Fatalf("no record after a failure midway: %v", err)
	}
	if rec.Phase != "containing" || !rec.Network.Firewall || !rec.Pause.Paused || len(rec.Network.Detached) != 1 || rec.Network.Detached[0].Done {
		t.Fatalf("record = phase %s firewall %v paused %+v detached %+v; want the cut and freeze recorded, the detach not", rec.Phase, rec.Network.Firewall, rec.Pause, rec.Network.Detached)
	}
	if last := rec.Log[len(rec.Log)-1]; last.Error == "" {
		t.Errorf("last log entry %+v does not record the error", last)
	}
	if d := inspect(t, h, victim.ID); d.State != runtime.StatePaused || len(d.Networks) != 1 {
		t.Fatalf("engine: %s with %d networks, want paused and still attached", d.State, len(d.Networks))
	}

	// Finishing: contain again with a working engine does only what is left.
	c := contain.New(h.Runtime(), store, "")
	res, err := c.Contain(ctx, victim.Container, testOptions())
	if err != nil {
		t.Fatalf("second Contain: %v", err)
	}
	var acts []string
	for _, ch := range res.Changes {
		acts = append(acts, ch.Action)
	}
	if strings.Join(acts, ",") != "disconnect" {
		t.Errorf("second Contain did %v, want only the disconnect", acts)
	}

	// Release undoes everything, back to the state before the first try.
	if _, err := c.Release(ctx, victim.Container, false); err != nil {
		t.Fatal(err)
	}
	d := inspect(t, h, victim.ID)
	if d.State != runtime.StateRunning || len(d.Networks) != 1 || d.Networks[0].IPv4Address != victim.Networks[0].IPv4Address {
		t.Errorf("after release: %s %+v, want running on %+v", d.State, d.Networks, victim.Networks)
	}
}

// TestReleaseOfPartialContainment: a release straight after a failure
// midway undoes the cut and the freeze and reconnects nothing that was never
// detached.
func TestReleaseOfPartialContainment(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	vspec, pspec, addr := h.Network(t)
	pspec.Cmd = runtimetest.ServeCmd
	victim := h.Run(t, runtimetest.Name(t), vspec)
	peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	store, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	broken := failingDetach{Runtime: h.Runtime(), NetworkAttacher: h.Runtime().(runtime.NetworkAttacher)}
	if _, err := contain.New(broken, store, "").Contain(ctx, victim.Container, testOptions()); err == nil {
		t.Fatal("Contain with failing detach succeeded")
	}
	if runtimetest.Fetch(t, victim.NetNSPath, addr(peer)) {
		t.Error("the cut did not hold although the detach failed")
	}
	res, err := contain.New(h.Runtime(), store, "").Release(ctx, victim.Container, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range res.Changes {
		if ch.Action == "reconnect" {
			t.Errorf("release reconnected %s, which was never detached", ch.Detail)
		}
	}
	d := inspect(t, h, victim.ID)
	if d.State != runtime.StateRunning || len(d.Networks) != 1 {
		t.Errorf("after release: %s %+v", d.State, d.Networks)
	}
	runtimetest.Eventually(t, 10e9, "victim reaches the peer again", func() bool {
		return runtimetest.Fetch(t, victim.NetNSPath, addr(peer))
	})
}

package contain_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// TestKillThatFailsFreezesAgain: a kill of a frozen container thaws it
// first; when the signal cannot be sent, it is frozen again and the record
// says so, so a failed kill never leaves a suspect running. (The fake
// engine: what is tested is the order of acts and records.)
func TestKillThatFailsFreezesAgain(t *testing.T) {
	e, d, c, o := freezeOnly(t)
	ctx := context.Background()
	if _, err := c.Contain(ctx, d.Container, o); err != nil {
		t.Fatal(err)
	}
	e.FailNext(fake.OpKill, errors.New("engine hiccup"))
	_, err := c.Kill(ctx, d.Container, "", "test", "K1")
	if err == nil || !strings.Contains(err.Error(), "engine hiccup") {
		t.Fatalf("Kill = %v, want the engine's error", err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StatePaused {
		t.Errorf("after the failed kill the container is %s, want paused again", got.State)
	}
	rec, err := c.Status(d.ID)
	if err != nil || rec == nil {
		t.Fatalf("record: %v %v", rec, err)
	}
	if rec.Pause == nil || !rec.Pause.Paused || rec.Ended != nil {
		t.Errorf("record pause %+v ended %+v, want paused by Firebreak and not ended", rec.Pause, rec.Ended)
	}
	var acts []string
	for _, l := range rec.Log {
		acts = append(acts, l.Action)
	}
	if got := strings.Join(acts, ","); !strings.Contains(got, "thaw-for-kill,thaw-for-kill,kill,kill,refreeze") {
		t.Errorf("record log %s: want the thaw, the failed kill and the refreeze, each recorded", got)
	}
	if !strings.Contains(rec.Log[len(rec.Log)-5].Detail, "no drop rules") {
		t.Errorf("thaw detail %q does not say it runs without drop rules", rec.Log[len(rec.Log)-5].Detail)
	}
	// Then a kill that works ends it, recorded.
	if _, err := c.Kill(ctx, d.Container, "", "test", "K1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateStopped {
		t.Errorf("after the kill the container is %s, want stopped", got.State)
	}
}

// TestInterruptBeforeAndWhileContaining: an interrupt before the
// first act leaves the container as it was; one that lands while acting
// lets the acts finish, recorded, and is still reported.
func TestInterruptBeforeAndWhileContaining(t *testing.T) {
	e, d, c, o := freezeOnly(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Contain(ctx, d.Container, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("Contain after an interrupt = %v, want canceled", err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning || e.Count(fake.OpPause) != 0 {
		t.Fatalf("an interrupted Contain acted: %s, %d pauses", got.State, e.Count(fake.OpPause))
	}
	if rec, _ := c.Status(d.ID); rec != nil {
		t.Fatalf("an interrupted Contain left a record: %+v", rec)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	e.OnCall(func(_ context.Context, call fake.Call) error {
		if call.Op == fake.OpPause {
			cancel() // Ctrl-C lands as the freeze is sent
		}
		return nil
	})
	_, err := c.Contain(ctx, d.Container, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "were finished") {
		t.Fatalf("Contain interrupted while acting = %v, want canceled, saying the acts finished", err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StatePaused {
		t.Errorf("after an interrupt mid-act the container is %s, want paused", got.State)
	}
	if rec, _ := c.Status(d.ID); rec == nil || rec.Phase != "contained" {
		t.Errorf("record after an interrupt mid-act = %+v, want contained", rec)
	}
}

// freezeOnly starts a victim on a fake engine and returns a containment
// with fresh records and options that freeze without cutting the network.
func freezeOnly(t *testing.T) (*fake.Engine, runtime.Details, *contain.Containment, contain.Options) {
	t.Helper()
	e := fake.New()
	d := e.Create("victim")
	e.Start(d.ID)
	recs, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := contain.DefaultOptions()
	o.Network = false
	return e, d, contain.New(e, recs, ""), o
}

// TestStopAndKillRefuseAPodSandbox: a pod's sandbox stands for the pod,
// which the kubelet restarts: stop and kill refuse it before any act or
// record. (The fake engine: what is tested is the refusal's order.)
func TestStopAndKillRefuseAPodSandbox(t *testing.T) {
	e := fake.New()
	d := e.Create("k8s_POD_web", fake.WithLabels(map[string]string{"io.cri-containerd.kind": "sandbox"}))
	e.Start(d.ID)
	recs, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := contain.New(e, recs, "")
	ctx := context.Background()
	for _, end := range []func() (*contain.Result, error){
		func() (*contain.Result, error) { return c.Kill(ctx, d.Container, "", "test", "K1") },
		func() (*contain.Result, error) { return c.Stop(ctx, d.Container, time.Second, "test", "K1") },
	} {
		_, err := end()
		var refused *runtime.RefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "kubelet") {
			t.Errorf("ending a sandbox = %v, want a refusal naming the kubelet", err)
		}
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning || e.Count(fake.OpKill) != 0 {
		t.Errorf("a refused end acted: %s, %d kills", got.State, e.Count(fake.OpKill))
	}
	if rec, _ := c.Status(d.ID); rec != nil {
		t.Errorf("a refused end left a record: %+v", rec)
	}
}

// TestStopGraceIsWholeSeconds: Docker counts a stop's grace in whole
// seconds; a finer one is rounded up, and the record says the grace given.
// (The fake engine: what is tested is what is recorded.)
func TestStopGraceIsWholeSeconds(t *testing.T) {
	_, d, c, _ := freezeOnly(t)
	res, err := c.Stop(context.Background(), d.Container, 1500*time.Millisecond, "test", "G1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Record == nil || res.Record.Ended == nil || res.Record.Ended.Grace != "2s" {
		t.Fatalf("recorded end %+v, want grace 2s", res.Record)
	}
}

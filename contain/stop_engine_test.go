package contain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// TestKillEndsOrFreezesAgain on the real engines: a signal the frozen
// container's init ignores (SIGTERM to a busybox sleep as PID 1) is
// delivered, ends nothing, and the container is frozen again, not
// recorded as ended; SIGKILL then ends it, recorded, nothing left frozen
// in the record. Started again, it shows drift; contained again, the end
// is superseded. On containerd a signal it does not take is refused
// before anything is thawed.
func TestKillEndsOrFreezesAgain(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		c, _ := newContainment(t, h)
		contain.SetEndWait(c, time.Second)
		d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sleep", "3600"}})
		o := testOptions()
		o.Network = false
		if _, err := c.Contain(ctx, d.Container, o); err != nil {
			t.Fatal(err)
		}
		if h.Runtime().Name() == "containerd" {
			_, err := c.Kill(ctx, d.Container, "SIGUSR1", "test", "K1")
			var refused *runtime.RefusedError
			if !errors.As(err, &refused) || inspect(t, h, d.ID).State != runtime.StatePaused {
				t.Errorf("SIGUSR1 on containerd: %v, state %s; want refused with nothing thawed", err, inspect(t, h, d.ID).State)
			}
			if rec, _ := c.Status(d.ID); rec != nil && strings.Contains(logOf(rec), "thaw") {
				t.Errorf("a refused signal thawed it: %s", logOf(rec))
			}
		}

		_, err := c.Kill(ctx, d.Container, "SIGTERM", "test", "K1")
		var notEnded *contain.NotEndedError
		if !errors.As(err, &notEnded) {
			t.Fatalf("SIGTERM to a frozen sleep: %v, want NotEndedError", err)
		}
		if st := inspect(t, h, d.ID).State; st != runtime.StatePaused {
			t.Errorf("after an ignored SIGTERM the container is %s, want frozen again", st)
		}
		rec, err := c.Status(d.ID)
		if err != nil || rec == nil || rec.Ended != nil || rec.Pause == nil || !rec.Pause.Paused {
			t.Fatalf("record after the ignored signal: %+v %v", rec, err)
		}

		if _, err := c.Kill(ctx, d.Container, "", "test", "K1"); err != nil {
			t.Fatalf("SIGKILL: %v", err)
		}
		if st := inspect(t, h, d.ID).State; st == runtime.StateRunning || st == runtime.StatePaused {
			t.Errorf("after SIGKILL the container is %s", st)
		}
		rec, _ = c.Status(d.ID)
		if rec == nil || rec.Ended == nil || rec.Ended.Signal != "SIGKILL" || (rec.Pause != nil && rec.Pause.Paused) {
			t.Fatalf("record after SIGKILL: ended %+v pause %+v", rec.Ended, rec.Pause)
		}

		starter, ok := h.Runtime().(runtime.Restorer)
		if !ok {
			return // containerd's adapter starts no ended container
		}
		if err := starter.Start(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		live, err := c.Check(ctx, rec)
		if err != nil || !strings.Contains(live.Drift, "runs again") {
			t.Errorf("started again after the kill: drift %q, %v", live.Drift, err)
		}
		res, err := c.Contain(ctx, d.Container, o)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ = c.Status(d.ID)
		if rec.Ended != nil || !strings.Contains(strings.Join(res.Notes, "\n"), "held anew") {
			t.Errorf("contained again: ended %+v, notes %q", rec.Ended, res.Notes)
		}
	})
}

func logOf(rec *contain.Record) string {
	var s []string
	for _, l := range rec.Log {
		s = append(s, l.Action)
	}
	return strings.Join(s, ",")
}

// TestKillOfARunningContainerThatIgnoresTheSignal: not frozen before, it
// runs on after a signal its init ignores: delivered, said, not recorded
// as ended, and not an error (the signal was what was asked).
func TestKillOfARunningContainerThatIgnoresTheSignal(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	c, _ := newContainment(t, h)
	contain.SetEndWait(c, 500*time.Millisecond)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sleep", "3600"}})
	res, err := c.Kill(ctx, d.Container, "SIGUSR1", "test", "K2")
	if err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, h, d.ID).State; st != runtime.StateRunning {
		t.Errorf("state %s", st)
	}
	if rec, _ := c.Status(d.ID); rec != nil {
		t.Errorf("a signal that ended nothing left a held record: phase %s, ended %+v", rec.Phase, rec.Ended)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "not recorded as ended") {
		t.Errorf("notes %q", res.Notes)
	}
}

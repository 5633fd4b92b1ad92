package collect_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/internal/progress"
	"firebreak/runtime/runtimetest"
)

// TestCollectInterruptedRunIsSealed interrupts a capture into MinIO on each
// real engine (the context is cancelled from the progress report after the
// tenth file, as Ctrl-C cancels the CLI's) and finishes the run with that
// cancelled context, as the session does. What was stored before must be
// listed in a signed manifest that says the run was interrupted, so that
// the case verifies with no object unlisted and names the interrupted run;
// before, the manifest could not be written and the stored objects poisoned
// the case for every later verify.
func TestCollectInterruptedRunIsSealed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c",
			"mkdir /loot; for i in $(seq 1 100); do dd if=/dev/urandom of=/loot/f$i bs=65536 count=1 2>/dev/null; done; touch /done; exec sleep 600"}})
		waitForFile(t, h, d.ID, "done")
		store := storetest.MinIO(t, false, evidence.StoreOptions{})
		run, sg := newRun(t, store, "INT-1")
		ctx, cancel := context.WithCancel(runtimetest.Context(t))
		defer cancel()
		var (
			once  sync.Once
			files int
		)
		o := collect.Options{What: []collect.Collector{collect.WhatInspect, collect.WhatFSDiff}, Limits: collect.DefaultLimits(),
			Progress: func(progress.Count) {
				if files++; files == 10 {
					once.Do(cancel)
				}
			}}
		_, err := collect.Collect(ctx, h.Runtime(), run, d.Container, o)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Collect interrupted: err %v, want context.Canceled", err)
		}
		m, err := run.Finish(ctx)
		if err != nil {
			t.Fatalf("Finish of an interrupted run: %v", err)
		}
		if m.Interrupted == "" {
			t.Errorf("manifest of an interrupted run does not say so: %+v", m)
		}
		if len(m.Artifacts) == 0 {
			t.Errorf("manifest lists no artifact; inspect.json was stored before the interruption")
		}
		rep, err := evidence.Verify(runtimetest.Context(t), store, "INT-1", sg.Pub)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if !rep.OK() {
			t.Errorf("verify of a case with an interrupted run: %v", rep.Problems)
		}
		if len(rep.Interrupted) != 1 || rep.Interrupted[0].Run != m.Run {
			t.Errorf("verify names interrupted runs %+v, want run %s", rep.Interrupted, m.Run)
		}
	})
}

package collect_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"firebreak/collect"
	"firebreak/internal/progress"
	"firebreak/runtime/runtimetest"
)

// TestCollectContainerRemovedMidWalk removes the container on each real
// engine while its writable layer is read (from the progress report after
// the tenth file, so the engine deletes the layer under the walk). The
// capture must fail, say why in the result and in the signed manifest's
// incomplete list, and keep what it read: a capture whose source went away
// is never "done".
func TestCollectContainerRemovedMidWalk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c",
			"mkdir /loot; for i in $(seq 1 100); do dd if=/dev/urandom of=/loot/f$i bs=65536 count=1 2>/dev/null; done; touch /done; exec sleep 600"}})
		waitForFile(t, h, d.ID, "done")
		store := fileStore(t)
		run, _ := newRun(t, store, "GONE-1")
		var (
			once  sync.Once
			files int
		)
		o := collect.Options{What: []collect.Collector{collect.WhatInspect, collect.WhatFSDiff}, Limits: collect.DefaultLimits(),
			Progress: func(n progress.Count) {
				if files++; files == 10 {
					once.Do(func() { h.Remove(t, d.ID) })
				}
			}}
		res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, o)
		var gone *collect.SourceGoneError
		if !errors.As(err, &gone) {
			t.Fatalf("Collect of a container removed mid-walk: err %v, want a SourceGoneError", err)
		}
		// What was read is kept. How much that is depends on the engine:
		// containerd removes a deleted container's snapshot later (its
		// garbage collector), so the walk may still read it all; the
		// capture fails all the same, its container gone.
		if res == nil || res.FS == nil || res.FS.Files == 0 {
			t.Fatalf("result %+v: want what was read kept", res)
		}
		said := func(list []string) bool {
			for _, s := range list {
				if strings.Contains(s, "fsdiff") && strings.Contains(s, "removed while") {
					return true
				}
			}
			return false
		}
		if !said(res.Incomplete) {
			t.Errorf("result's incomplete %q does not say the layer or container was removed", res.Incomplete)
		}
		stored := map[string]bool{}
		for _, a := range res.Artifacts {
			stored[strings.TrimPrefix(a.Key, res.Prefix)] = true
		}
		if !stored["fsdiff/layer.tar.zst"] || !stored["fsdiff/changes.json"] {
			t.Errorf("artifacts %v: what was read before the removal must stay", stored)
		}
		m, err := run.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !said(m.Incomplete) {
			t.Errorf("manifest's incomplete %q does not say the layer or container was removed", m.Incomplete)
		}
	})
}

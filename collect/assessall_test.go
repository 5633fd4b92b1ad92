package collect

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"firebreak/runtime"
)

// inspectOnly is a runtime that can only inspect: all AssessAll needs of a
// container that is not running. Other methods are not implemented.
type inspectOnly struct {
	runtime.Runtime
	details         map[string]runtime.Details
	running, most   atomic.Int32
	inspectDuration time.Duration
}

func (r *inspectOnly) Name() string { return "stub" }

func (r *inspectOnly) Inspect(ctx context.Context, id string) (runtime.Details, error) {
	n := r.running.Add(1)
	defer r.running.Add(-1)
	for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
	}
	time.Sleep(r.inspectDuration)
	switch id {
	case "gone":
		return runtime.Details{}, &runtime.NotFoundError{Ref: id}
	case "broken":
		return runtime.Details{}, errors.New("engine said no")
	}
	return r.details[id], nil
}

func TestAssessAllKeepsEachTargetsOutcome(t *testing.T) {
	rt := &inspectOnly{inspectDuration: 5 * time.Millisecond, details: map[string]runtime.Details{
		"calm": {Container: runtime.Container{ID: "calm", Name: "calm"}, Security: runtime.Security{ReadonlyRootfs: true, NoNewPrivileges: true, User: "1000", UserNamespace: true, MemoryLimit: 1, CPULimited: true, PidsLimit: 1}},
		"priv": {Container: runtime.Container{ID: "priv", Name: "priv"}, Security: runtime.Security{Privileged: true}},
		"root": {Container: runtime.Container{ID: "root", Name: "root"}},
	}}
	var targets []runtime.Container
	for _, id := range []string{"calm", "gone", "priv", "broken", "root"} {
		targets = append(targets, runtime.Container{ID: id})
	}
	as, err := AssessAll(context.Background(), rt, "/nonexistent", targets, 2)
	if err == nil || !strings.Contains(err.Error(), "engine said no") || runtime.IsNotFound(err) {
		t.Errorf("err = %v, want only the broken target's failure", err)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Container.ID)
	}
	if got := strings.Join(names, ","); got != "priv,root,calm" {
		t.Errorf("assessed %s, want priv,root,calm (riskiest first; a removed container left out)", got)
	}
	if m := rt.most.Load(); m > 2 {
		t.Errorf("%d inspections at once, want at most 2", m)
	}
}

package playbooks_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/internal/progress"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// counting reports a count to its total as fast as it can.
type counting struct{}

func (counting) Describe() playbooks.Description {
	return playbooks.Description{Name: "test.counting", Summary: "reports progress", Example: "- id: c\n  action: test.counting"}
}

func (counting) Run(ctx context.Context, _ *playbooks.Env, _ runtime.Container, _ map[string]any) (map[string]any, error) {
	report := playbooks.Progress(ctx)
	const total = 5000
	for i := 0; i <= total; i++ {
		report("counting", progress.Count{Files: i, Bytes: int64(i) * 1024, FilesTotal: total, BytesTotal: total * 1024})
	}
	return nil, nil
}

// TestEngineProgressCarriesCounts: a step's reports reach the events with
// their numbers, at most one a quarter second beyond the first, and the
// report that reaches the total is never held back (a bar ends full).
func TestEngineProgressCarriesCounts(t *testing.T) {
	h := runtimetest.Fake(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	store, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry()
	reg.Register(counting{})
	rec := &recorder{}
	e := &playbooks.Engine{Registry: reg, Env: &playbooks.Env{Runtime: h.Runtime(), Contain: contain.New(h.Runtime(), store, ""), Case: "T", Actor: "test"}, StateDir: t.TempDir(), Events: rec.add}
	pb, err := playbooks.Parse("t.yaml", []byte("name: t\nsteps:\n  - id: c\n    action: test.counting\n"))
	if err == nil {
		err = playbooks.Validate(pb, reg)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "P1", Targets: []runtime.Container{d.Container}, Parallel: 1}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var got []progress.Count
	for _, ev := range rec.all() {
		if ev.Type != playbooks.EventStepProgress {
			continue
		}
		if ev.Progress == nil || ev.Detail != "counting" {
			t.Fatalf("progress event without its count or words: %+v", ev)
		}
		got = append(got, *ev.Progress)
	}
	if len(got) < 2 || len(got) > 2+int(took/(250*time.Millisecond)) {
		t.Fatalf("%d progress events in %s, want the first, the complete one and at most four a second: %+v", len(got), took, got)
	}
	if got[0].Files != 0 || got[0].BytesTotal != 5000*1024 {
		t.Errorf("first report %+v, want 0 of the total", got[0])
	}
	if last := got[len(got)-1]; !last.Complete() || last.Bytes != last.BytesTotal {
		t.Errorf("last report %+v, want the total reached", last)
	}
}

// TestEventProgressJSON: the count round-trips through an event's JSON (a
// -o json line), and an event written before it existed still decodes,
// with none.
func TestEventProgressJSON(t *testing.T) {
	in := playbooks.Event{Type: playbooks.EventStepProgress, Time: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), Case: "IR-1", Playbook: "p", Step: "capture", Detail: "fsdiff: 3 files, 1.0 MiB",
		Progress: &progress.Count{Files: 3, Bytes: 1 << 20, FilesTotal: 10, BytesTotal: 4 << 20}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"progress":{"files":3,"bytes":1048576,"files_total":10,"bytes_total":4194304}`) {
		t.Errorf("JSON: %s", b)
	}
	var out playbooks.Event
	if err := json.Unmarshal(b, &out); err != nil || out.Progress == nil || *out.Progress != *in.Progress || out.Detail != in.Detail {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	old := `{"event":"step_progress","time":"2026-11-28T12:00:00Z","case":"IR-1","playbook":"p","step":"capture","attempt":1,"detail":"fsdiff: 3 files, 1.0 MiB"}`
	var o playbooks.Event
	if err := json.Unmarshal([]byte(old), &o); err != nil || o.Progress != nil || o.Detail != "fsdiff: 3 files, 1.0 MiB" {
		t.Fatalf("an older event: %+v, %v", o, err)
	}
	noCount, _ := json.Marshal(playbooks.Event{Type: playbooks.EventStepProgress, Detail: "x"})
	if strings.Contains(string(noCount), `"progress":`) {
		t.Errorf("an event without a count writes one: %s", noCount)
	}
}

package tui

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"firebreak/internal/progress"
	"firebreak/playbooks"
)

func TestProgressBarRendering(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		n       progress.Count
		elapsed time.Duration
		w       int
		want    string
	}{
		{"zero", progress.Count{BytesTotal: 20 * mib, FilesTotal: 4}, 0, 77,
			"[░░░░░░░░░░░░░░░░░░░░░░░░░] 0% · 0 B of 20.0 MiB"},
		{"half, with rate and time left", progress.Count{Files: 2, Bytes: 10 * mib, BytesTotal: 20 * mib, FilesTotal: 4}, 2 * time.Second, 77,
			"[████████████░░░░░░░░░░░░░] 50% · 10.0 MiB of 20.0 MiB · 5.0 MiB/s · 2s left"},
		{"full", progress.Count{Files: 4, Bytes: 20 * mib, BytesTotal: 20 * mib, FilesTotal: 4}, 4 * time.Second, 77,
			"[█████████████████████████] 100% · 20.0 MiB of 20.0 MiB · 5.0 MiB/s"},
		{"done past the total clamps", progress.Count{Files: 4, Bytes: 30 * mib, BytesTotal: 20 * mib}, 3 * time.Second, 77,
			"[█████████████████████████] 100% · 30.0 MiB of 20.0 MiB · 10.0 MiB/s"},
		{"files only", progress.Count{Files: 1, FilesTotal: 4}, time.Second, 40,
			"[███░░░░░░░░░░] 25% · 1 of 4 files"},
		{"narrow drops the rate and time left first", progress.Count{Files: 2, Bytes: 10 * mib, BytesTotal: 20 * mib}, 2 * time.Second, 50,
			"[████████░░░░░░░░] 50% · 10.0 MiB of 20.0 MiB"},
		{"very narrow keeps the percent", progress.Count{Bytes: 10 * mib, BytesTotal: 20 * mib}, 2 * time.Second, 20,
			"[█████░░░░░] 50%"},
		{"wide caps the bar", progress.Count{Bytes: 10 * mib, BytesTotal: 20 * mib}, 2 * time.Second, 157,
			"[████████████████████░░░░░░░░░░░░░░░░░░░░] 50% · 10.0 MiB of 20.0 MiB · 5.0 MiB/s · 2s left"},
		{"no room", progress.Count{Bytes: 1, BytesTotal: 2}, time.Second, 0, ""},
	} {
		got := progressBar(tc.n, tc.elapsed, tc.w)
		if got != tc.want {
			t.Errorf("%s: progressBar(w=%d) =\n%q\nwant\n%q", tc.name, tc.w, got, tc.want)
		}
		if Width(got) > tc.w {
			t.Errorf("%s: %d cells, more than %d", tc.name, Width(got), tc.w)
		}
	}
	for w := 1; w <= 200; w++ {
		if got := progressBar(progress.Count{Files: 7, Bytes: 123456789, BytesTotal: 987654321, FilesTotal: 9}, 3*time.Second, w); Width(got) > w {
			t.Fatalf("width %d: %d cells: %q", w, Width(got), got)
		}
	}
}

// TestRunViewBarOnlyWithATotal: a running step whose report has a total
// gets the bar; one whose report has none keeps the moving activity bar
// and its words.
func TestRunViewBarOnlyWithATotal(t *testing.T) {
	b := fleetOf(2)
	m := started(b, 100, 24, Options{})
	r := &runState{id: 1, playbook: "p", targets: b.items[:1], caseID: "IR-1", started: time.Now(), cancel: func() {}}
	m.runs.runs = append(m.runs.runs, r)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ev := func(step string, typ playbooks.EventType, n *progress.Count, sec int) {
		r.event(playbooks.Event{Type: typ, Target: b.items[0].ID, Step: step, Time: at.Add(time.Duration(sec) * time.Second), Detail: "fsdiff: words", Progress: n})
	}
	ev("known", playbooks.EventStepStarted, nil, 0)
	ev("known", playbooks.EventStepProgress, &progress.Count{Bytes: 3 << 20, BytesTotal: 12 << 20}, 3)
	ev("unknown", playbooks.EventStepStarted, nil, 0)
	ev("unknown", playbooks.EventStepProgress, &progress.Count{Files: 3, Bytes: 3 << 20}, 3)
	press(m, "2")
	v := m.View()
	if !strings.Contains(v, "25% · 3.0 MiB of 12.0 MiB · 1.0 MiB/s · 9s left") {
		t.Errorf("the step with a total has no bar:\n%s", v)
	}
	if !strings.Contains(v, "■") || strings.Count(v, "fsdiff: words") != 1 {
		t.Errorf("the step without a total lost its activity bar and words:\n%s", v)
	}
	ev("known", playbooks.EventStepFinished, nil, 4)
	if v := m.View(); strings.Contains(v, "25%") {
		t.Errorf("a finished step still shows its bar:\n%s", v)
	}
}

// TestProgressGateCoalesces floods the gate from an action that reports
// on every byte: the console is sent a handful of redraws, the last
// report arrives, and nothing of a step comes after its end.
func TestProgressGateCoalesces(t *testing.T) {
	var (
		mu  sync.Mutex
		got []playbooks.Event
	)
	g := newProgressGate(50*time.Millisecond, func(ev playbooks.Event) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})
	start := time.Now()
	const reports = 200_000
	for i := 1; i <= reports; i++ {
		g.event(playbooks.Event{Type: playbooks.EventStepProgress, Step: "capture", Progress: &progress.Count{Bytes: int64(i), BytesTotal: reports}})
	}
	took := time.Since(start)
	time.Sleep(150 * time.Millisecond) // the held report's timer
	mu.Lock()
	n, last := len(got), got[len(got)-1]
	mu.Unlock()
	if limit := int(took/(50*time.Millisecond)) + 2; n > limit {
		t.Errorf("%d reports in %s were sent as %d redraws, more than %d", reports, took, n, limit)
	}
	if last.Progress.Bytes != reports {
		t.Errorf("the last report sent is %d of %d, want the last one made", last.Progress.Bytes, reports)
	}

	// A report held back is dropped by the step's end, which comes after it.
	g.event(playbooks.Event{Type: playbooks.EventStepProgress, Step: "seal", Progress: &progress.Count{Bytes: 1, BytesTotal: 2}})
	g.event(playbooks.Event{Type: playbooks.EventStepProgress, Step: "seal", Progress: &progress.Count{Bytes: 2, BytesTotal: 2}})
	g.event(playbooks.Event{Type: playbooks.EventStepFinished, Step: "seal"})
	time.Sleep(150 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	var seal []string
	for _, ev := range got {
		if ev.Step == "seal" {
			seal = append(seal, fmt.Sprint(ev.Type))
		}
	}
	if strings.Join(seal, ",") != "step_progress,step_finished" {
		t.Errorf("seal's events reached the console as %v", seal)
	}
}

func TestRunProgressGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := fleetOf(5)
		m := started(b, size[0], size[1], Options{})
		start := time.Date(2026, 11, 28, 11, 59, 50, 0, time.UTC)
		r := &runState{id: 1, playbook: "full-response", targets: b.items[:1], caseID: "IR-8", command: "firebreak --runtime docker run full-response --case IR-8 --target svc-000", started: start, cancel: func() {}}
		for i, s := range []string{"contain", "capture", "restore"} {
			st := &stepState{step: s, target: b.items[0].ID, status: "ok", attempt: 1, started: start.Add(time.Duration(i) * time.Second), ended: start.Add(time.Duration(i+1) * time.Second)}
			switch s {
			case "capture":
				st.status, st.ended, st.detail = "running", time.Time{}, "fsdiff: 120 files, 84.0 MiB"
				st.prog, st.progAt = &progress.Count{Files: 120, Bytes: 84 << 20, FilesTotal: 300, BytesTotal: 200 << 20}, st.started.Add(6*time.Second)
			case "restore":
				st.status, st.ended, st.detail = "running", time.Time{}, "waiting for the engine"
			}
			r.steps = append(r.steps, st)
		}
		m.runs.runs = append(m.runs.runs, r)
		press(m, "2")
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("runs-progress-%dx%d", size[0], size[1]), v)
	}
}

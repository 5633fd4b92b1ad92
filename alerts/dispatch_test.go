package alerts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeResponder is pure logic: containers by ID prefix, runs recorded.
type fakeResponder struct {
	mu         sync.Mutex
	containers []string
	runs       []RunRequest
	held       map[string]bool
	block      chan struct{} // when set, runs wait on it
}

func (f *fakeResponder) Resolve(_ context.Context, a Alert) (Target, error) {
	var found []string
	for _, id := range f.containers {
		if strings.HasPrefix(id, a.Container) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		return Target{}, fmt.Errorf("container %s matches %d containers", a.Container, len(found))
	}
	return Target{ID: found[0], Name: "c-" + found[0][:4]}, nil
}

func (f *fakeResponder) Run(_ context.Context, r RunRequest) (string, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[r.Target.ID] {
		return "held", fmt.Errorf("%w: by case X", ErrHeld)
	}
	f.runs = append(f.runs, r)
	return "succeeded", nil
}

func (f *fakeResponder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

const testRules = `
- name: escape
  match: {rule: "Container escape attempt", priority: ">=critical"}
  playbook: escape-suspected
  approve: all
- name: shell
  match: {rule: "Terminal shell in container"}
  log_only: true
`

var (
	idA = strings.Repeat("a", 64)
	idB = strings.Repeat("b", 64)
	idC = "abc" + strings.Repeat("0", 61)
)

func newTestDispatcher(t *testing.T, f *fakeResponder, queue int) (*Dispatcher, *Journal, string) {
	t.Helper()
	rs, err := ParseRules("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j, _, err := OpenJournal(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	d := NewDispatcher(Config{Rules: rs, Journal: j, Responder: f, Queue: queue, Runs: 2,
		NewCase: func(time.Time) string { n++; return fmt.Sprintf("case-%d", n) }})
	return d, j, dir
}

func escape(container string, p Priority) Alert {
	return Alert{Format: "falco", Source: "syscall", Rule: "Container escape attempt", Priority: p, Output: "same text", Container: container}
}

func outcomes(t *testing.T, dir string) map[string]int {
	t.Helper()
	es, err := ReadJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range es {
		out[e.Kind]++
	}
	return out
}

// Identical alert text from two containers runs on both; the same alert
// again for one container within the window is suppressed, journalled with
// the alert it duplicates; a higher priority breaks the window; unmatched,
// log-only, unknown and ambiguous containers are journalled, never run.
func TestDispatchDedupeAndOutcomes(t *testing.T) {
	f := &fakeResponder{containers: []string{idA, idB, idC}}
	d, j, dir := newTestDispatcher(t, f, 100)
	ctx := context.Background()
	for _, a := range []Alert{
		escape(idA[:12], Critical),
		escape(idB[:12], Critical),
		escape(idA[:12], Critical),  // duplicate of the first
		escape(idA[:12], Emergency), // higher: breaks the window
		escape(idA[:12], Critical),  // duplicate again
		escape("a", Critical),       // idA and idC both start with "a": ambiguous
		escape("ffffffffffff", Critical),
		{Format: "falco", Rule: "Terminal shell in container", Priority: Notice, Container: idA[:12]},
		{Format: "falco", Rule: "Something else", Priority: Critical, Container: idA[:12]},
		escape("host", Critical),
	} {
		if _, err := d.Accept([]Alert{a}, "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	d.Drain(ctx)
	j.Close()
	if f.count() != 3 {
		t.Errorf("%d runs, want 3 (A, B, A at a higher priority): %+v", f.count(), f.runs)
	}
	got := outcomes(t, dir)
	want := map[string]int{KindAccepted: 10, KindStarted: 3, KindFinished: 3, KindSuppressed: 2, KindUnresolved: 2, KindLogged: 2, KindUnmatched: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d entries, want %d (all: %v)", k, got[k], n, got)
		}
	}
	es, _ := ReadJournal(dir)
	for _, e := range es {
		if e.Kind == KindSuppressed && (e.DupOf != 1 && e.DupOf != 4) {
			t.Errorf("suppressed %d names dup_of %d, want 1 or 4", e.Seq, e.DupOf)
		}
	}
	if d.Metrics.Suppressed.Get("duplicate") != 2 || d.Metrics.Accepted.Get("falco") != 10 {
		t.Errorf("metrics: suppressed %d accepted %d", d.Metrics.Suppressed.Get("duplicate"), d.Metrics.Accepted.Get("falco"))
	}
}

// 100,000 identical alerts for one container make one run and 99,999
// suppressions, each journalled and counted.
func TestDispatchFloodOneRun(t *testing.T) {
	f := &fakeResponder{containers: []string{idA}}
	d, j, dir := newTestDispatcher(t, f, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Loop(ctx); close(done) }()
	batch := make([]Alert, 100)
	for i := range batch {
		batch[i] = escape(idA[:12], Critical)
	}
	for sent := 0; sent < 100000; {
		if _, err := d.Accept(batch, "test", ""); err == ErrFull {
			time.Sleep(time.Millisecond)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		sent += len(batch)
	}
	for d.reserved.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	j.Close()
	got := outcomes(t, dir)
	if f.count() != 1 || got[KindAccepted] != 100000 || got[KindSuppressed] != 99999 || got[KindStarted] != 1 {
		t.Errorf("runs %d, journal %v; want 1 run, 100000 accepted, 99999 suppressed", f.count(), got)
	}
	if n := d.Metrics.Suppressed.Get("duplicate"); n != 99999 {
		t.Errorf("suppressed metric %d, want 99999", n)
	}
}

// A full queue refuses before anything is journalled.
func TestDispatchQueueFullRefuses(t *testing.T) {
	f := &fakeResponder{containers: []string{idA}}
	d, j, dir := newTestDispatcher(t, f, 3)
	if _, err := d.Accept([]Alert{escape(idA, Critical), escape(idA, Critical)}, "test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Accept([]Alert{escape(idA, Critical), escape(idA, Critical)}, "test", ""); err != ErrFull {
		t.Fatalf("over the queue: %v, want ErrFull", err)
	}
	j.Close()
	if got := outcomes(t, dir); got[KindAccepted] != 2 {
		t.Errorf("journal %v: the refused alerts were written", got)
	}
	if d.Metrics.Refused.Get("queue_full") != 2 {
		t.Errorf("refused metric %d, want 2", d.Metrics.Refused.Get("queue_full"))
	}
}

// After a stop: an alert accepted and not decided is decided; a run that
// began and did not finish is resumed under its case, not started again; a
// finished one is left alone; the dedupe window survives.
func TestDispatchRecover(t *testing.T) {
	f := &fakeResponder{containers: []string{idA, idB}}
	d, j, dir := newTestDispatcher(t, f, 100)
	at := time.Now().UTC()
	alertA, alertB := escape(idA[:12], Critical), escape(idB[:12], Critical)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.Append(
		Entry{Seq: 1, Time: at, Kind: KindAccepted, Alert: &alertA},
		Entry{Seq: 1, Kind: KindStarted, Rule: "escape", Playbook: "escape-suspected", Target: idA, Case: "case-old-1"},
		Entry{Seq: 1, Kind: KindFinished, Case: "case-old-1", Status: "succeeded"},
		Entry{Seq: 2, Time: at, Kind: KindAccepted, Alert: &alertB},
		Entry{Seq: 2, Kind: KindStarted, Rule: "escape", Playbook: "escape-suspected", Target: idB, Case: "case-old-2"},
		Entry{Seq: 3, Time: at, Kind: KindAccepted, Alert: &alertA},
		Entry{Seq: 4, Time: at, Kind: KindAccepted, Alert: &alertB},
	))
	j.Close()
	j2, entries, err := OpenJournal(dir, "again")
	must(err)
	d.cfg.Journal = j2
	if n := d.Recover(context.Background(), entries); n != 2 {
		t.Errorf("Recover took up %d undecided alerts, want 2 (3 and 4)", n)
	}
	d.Drain(context.Background())
	j2.Close()
	if f.count() != 1 || f.runs[0].Case != "case-old-2" || !f.runs[0].Resume {
		t.Fatalf("runs after recovery = %+v, want only case-old-2 resumed", f.runs)
	}
	got := outcomes(t, dir)
	if got[KindStarted] != 2 || got[KindFinished] != 2 || got[KindSuppressed] != 2 {
		t.Errorf("journal after recovery %v: want no new start, case-old-2 finished, 3 and 4 suppressed as duplicates", got)
	}
}

// A run refused because another run holds the container is journalled as
// suppressed, not failed and not retried.
func TestDispatchHeldIsSuppressed(t *testing.T) {
	f := &fakeResponder{containers: []string{idA}, held: map[string]bool{idA: true}}
	d, j, dir := newTestDispatcher(t, f, 10)
	if _, err := d.Accept([]Alert{escape(idA, Critical)}, "test", ""); err != nil {
		t.Fatal(err)
	}
	d.Drain(context.Background())
	j.Close()
	es, _ := ReadJournal(dir)
	last := es[len(es)-1]
	if last.Kind != KindSuppressed || !strings.Contains(last.Reason, "held by another run") {
		t.Errorf("last entry = %+v, want suppressed: held", last)
	}
}

// failingResponder fails every run.
type failingResponder struct{ fakeResponder }

func (f *failingResponder) Run(_ context.Context, r RunRequest) (string, error) {
	f.mu.Lock()
	f.runs = append(f.runs, r)
	f.mu.Unlock()
	return "failed", fmt.Errorf("contain.network: the engine said no")
}

// A run that failed holds no dedupe window: the next alert for the
// container runs again; and an alert taken from the queue while the loop
// stops is decided whole, not written off with the cancelled context.
func TestDispatchFailedRunAndStoppingLoop(t *testing.T) {
	f := &failingResponder{fakeResponder{containers: []string{idA}}}
	d, j, _ := newTestDispatcher(t, &f.fakeResponder, 10)
	d.cfg.Responder = f
	if _, err := d.Accept([]Alert{escape(idA, Critical)}, "test", ""); err != nil {
		t.Fatal(err)
	}
	d.Drain(context.Background())
	if _, err := d.Accept([]Alert{escape(idA, Critical)}, "test", ""); err != nil {
		t.Fatal(err)
	}
	d.Drain(context.Background())
	j.Close()
	if f.count() != 2 {
		t.Errorf("%d runs, want 2: a failed run must not suppress the next alert", f.count())
	}

	g := &fakeResponder{containers: []string{idA, idB}}
	d2, j2, dir2 := newTestDispatcher(t, g, 300)
	for i := 0; i < 200; i++ {
		id := idA
		if i%2 == 1 {
			id = idB
		}
		a := escape(id, Critical)
		if _, err := d2.Accept([]Alert{a}, "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the loop is told to stop with everything still queued
	d2.Loop(ctx)
	d2.Drain(context.Background())
	j2.Close()
	got := outcomes(t, dir2)
	if got[KindUnresolved] != 0 || got[KindStarted] != 2 || got[KindSuppressed] != 198 {
		t.Errorf("after a stopped loop and a drain: %v; want every alert decided, none unresolved", got)
	}
}

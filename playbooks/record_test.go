package playbooks_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// funcAction is an action made for a test: it runs fn.
type funcAction struct {
	name, changes string
	fn            func(ctx context.Context, env *playbooks.Env) error
}

func (a funcAction) Describe() playbooks.Description {
	return playbooks.Description{Name: a.name, Summary: "test action " + a.name, Changes: a.changes}
}

func (a funcAction) Run(ctx context.Context, env *playbooks.Env, _ runtime.Container, _ map[string]any) (map[string]any, error) {
	if a.fn == nil {
		return map[string]any{}, nil
	}
	return map[string]any{}, a.fn(ctx, env)
}

// fakeEngine is an engine over the in-process fake runtime, for tests of
// the engine's own logic, and one running container.
func fakeEngine(t *testing.T, actions ...playbooks.Action) (*playbooks.Engine, *recorder, runtime.Container) {
	t.Helper()
	h := runtimetest.Fake(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	recs, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry()
	for _, a := range actions {
		reg.Register(a)
	}
	rec := &recorder{}
	env := &playbooks.Env{Runtime: h.Runtime(), Contain: contain.New(h.Runtime(), recs, ""), Case: "T", Actor: "test"}
	return &playbooks.Engine{Registry: reg, Env: env, StateDir: t.TempDir(), Events: rec.add}, rec, d.Container
}

func parse(t *testing.T, src string) *playbooks.Playbook {
	t.Helper()
	pb, err := playbooks.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// failingWriter fails the write of the first line that holds match.
type failingWriter struct {
	mu     sync.Mutex
	match  string
	failed bool
	buf    bytes.Buffer
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.failed && bytes.Contains(p, []byte(w.match)) {
		w.failed = true
		return 0, errors.New("no space left on device")
	}
	return w.buf.Write(p)
}

func (w *failingWriter) Sync() error { return nil }

const twoSteps = `name: t
steps:
  - id: first
    action: mark
  - id: second
    action: mark
    needs: [first]
`

func TestEngineJournalWriteFailureFailsStepAndRun(t *testing.T) {
	var ran atomic.Int32
	mark := funcAction{name: "mark", fn: func(context.Context, *playbooks.Env) error { ran.Add(1); return nil }}
	e, rec, target := fakeEngine(t, mark)
	w := &failingWriter{match: `"type":"step_finished","case":"J1","target":"` + target.ID + `","step":"first"`}
	e.OpenJournal = func(string) (*playbooks.Journal, error) { return playbooks.NewJournal(w, "journal.jsonl"), nil }
	rep, err := e.Run(context.Background(), parse(t, twoSteps), playbooks.RunOptions{Case: "J1", Targets: []runtime.Container{target}})
	var re *playbooks.RecordError
	if !errors.As(err, &re) {
		t.Fatalf("Run = %v, want a RecordError", err)
	}
	if !strings.Contains(err.Error(), "run journal record step_finished of step first") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("error %q does not name the record and the cause", err)
	}
	if !w.failed {
		t.Fatal("the injected failure was never hit")
	}
	st := map[string]playbooks.Status{}
	for _, s := range rep.Targets[0].Steps {
		st[s.ID] = s.Status
	}
	if st["first"] != playbooks.StatusFailed || st["second"] == playbooks.StatusOK {
		t.Errorf("steps = %v, want first failed and second not run", st)
	}
	if ran.Load() != 1 {
		t.Errorf("the action ran %d times, want 1 (second must not run)", ran.Load())
	}
	if rep.Targets[0].Status != playbooks.StatusFailed {
		t.Errorf("target status %s, want failed", rep.Targets[0].Status)
	}
	var finished []playbooks.Event
	for _, ev := range rec.all() {
		if ev.Type == playbooks.EventStepFinished && ev.Step == "first" {
			finished = append(finished, ev)
		}
	}
	if len(finished) != 1 || finished[0].Status != playbooks.StatusFailed || !strings.Contains(finished[0].Error, "step_finished") {
		t.Errorf("step_finished events of first = %+v, want one, failed, naming the record", finished)
	}
}

func TestEngineJournalStartFailureRunsNothing(t *testing.T) {
	var ran atomic.Int32
	mark := funcAction{name: "mark", changes: "a mark", fn: func(context.Context, *playbooks.Env) error { ran.Add(1); return nil }}
	e, _, target := fakeEngine(t, mark)
	w := &failingWriter{match: `"type":"step_started"`}
	e.OpenJournal = func(string) (*playbooks.Journal, error) { return playbooks.NewJournal(w, "journal.jsonl"), nil }
	_, err := e.Run(context.Background(), parse(t, twoSteps), playbooks.RunOptions{Case: "J2", Targets: []runtime.Container{target}})
	if err == nil || !strings.Contains(err.Error(), "run journal record step_started of step first") {
		t.Fatalf("Run = %v, want the step_started record named", err)
	}
	if ran.Load() != 0 {
		t.Errorf("a state-changing action ran %d times although its start was not journaled", ran.Load())
	}
}

// brokenStore is a store that starts failing every call once broken is set.
type brokenStore struct {
	evidence.Store
	broken atomic.Bool
}

func (s *brokenStore) Put(ctx context.Context, key string, r io.Reader, meta map[string]string) (evidence.Object, error) {
	if s.broken.Load() {
		return evidence.Object{}, errors.New("store unreachable")
	}
	return s.Store.Put(ctx, key, r, meta)
}

func (s *brokenStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.broken.Load() {
		return nil, errors.New("store unreachable")
	}
	return s.Store.Get(ctx, key)
}

func (s *brokenStore) List(ctx context.Context, prefix string) ([]evidence.Object, error) {
	if s.broken.Load() {
		return nil, errors.New("store unreachable")
	}
	return s.Store.List(ctx, prefix)
}

func TestEngineCustodyWriteFailureFailsStepAndRun(t *testing.T) {
	fs, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &brokenStore{Store: fs}
	signer, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The action seals the case's evidence and then the store goes away, so
	// the step's own custody entry (a new run of the case) cannot be written.
	breakIt := funcAction{name: "mark", fn: func(ctx context.Context, env *playbooks.Env) error {
		if err := env.Evidence.Seal(ctx); err != nil {
			return err
		}
		store.broken.Store(true)
		return nil
	}}
	e, _, target := fakeEngine(t, breakIt)
	e.Env.Evidence = &playbooks.EvidenceSession{Store: store, Signer: signer, Trusted: signer.Pub, Info: evidence.CaseInfo{ID: "C1", Actor: "test"}}
	rep, err := e.Run(context.Background(), parse(t, twoSteps), playbooks.RunOptions{Case: "C1", Targets: []runtime.Container{target}})
	var re *playbooks.RecordError
	if !errors.As(err, &re) {
		t.Fatalf("Run = %v, want a RecordError", err)
	}
	if !strings.Contains(err.Error(), "custody log entry step first for "+target.ID) || !strings.Contains(err.Error(), "store unreachable") {
		t.Errorf("error %q does not name the custody entry and the cause", err)
	}
	if s := rep.Targets[0].Steps[0]; s.ID != "first" || s.Status != playbooks.StatusFailed {
		t.Errorf("step first = %+v, want failed", s)
	}
	if s := rep.Targets[0].Steps[1]; s.Status == playbooks.StatusOK {
		t.Errorf("step second ran after the custody log failed: %+v", s)
	}
}

func TestEngineRunRefusesACycleWithoutValidation(t *testing.T) {
	e, _, target := fakeEngine(t)
	src, err := os.ReadFile(filepath.Join("..", "testdata", "playbooks", "cycle.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pb := parse(t, string(src))
	done := make(chan error, 1)
	go func() {
		_, err := e.Run(context.Background(), pb, playbooks.RunOptions{Case: "CY", Targets: []runtime.Container{target}})
		done <- err
	}()
	select {
	case err := <-done:
		var es playbooks.Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), "cycle") {
			t.Fatalf("Run = %v, want validation Errors naming the cycle", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run on a playbook with a cycle did not return within a second")
	}
}

func TestEngineRunRefusesAnUnknownAction(t *testing.T) {
	e, _, target := fakeEngine(t)
	_, err := e.Run(context.Background(), parse(t, "name: t\nsteps:\n  - id: a\n    action: no.such\n"), playbooks.RunOptions{Case: "UA", Targets: []runtime.Container{target}})
	if err == nil || !strings.Contains(err.Error(), `unknown action "no.such"`) {
		t.Fatalf("Run = %v, want the unknown action named", err)
	}
}

func TestEngineResumeSkipsFinishedSteps(t *testing.T) {
	var marks atomic.Int32
	var broken atomic.Bool
	broken.Store(true)
	mark := funcAction{name: "mark", changes: "a mark", fn: func(context.Context, *playbooks.Env) error { marks.Add(1); return nil }}
	flaky := funcAction{name: "flaky", fn: func(context.Context, *playbooks.Env) error {
		if broken.Load() {
			return errors.New("not yet")
		}
		return nil
	}}
	e, _, target := fakeEngine(t, mark, flaky)
	pb := parse(t, "name: t\nsteps:\n  - id: first\n    action: mark\n  - id: second\n    action: flaky\n    needs: [first]\n")
	opts := playbooks.RunOptions{Case: "R1", Targets: []runtime.Container{target}}
	if _, err := e.Run(context.Background(), pb, opts); err == nil {
		t.Fatal("first run succeeded although second fails")
	}
	// A second run of the same case is refused: it must be resumed.
	if _, err := e.Run(context.Background(), pb, opts); err == nil || !strings.Contains(err.Error(), "--resume R1") {
		t.Fatalf("second run of the case = %v, want a refusal pointing to --resume", err)
	}
	broken.Store(false)
	rep, err := e.Run(context.Background(), pb, playbooks.RunOptions{Case: "R1", Resume: true})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if marks.Load() != 1 {
		t.Errorf("the finished state-changing step ran %d times, want once", marks.Load())
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Container.ID != target.ID {
		t.Fatalf("resume did not take the journal's target: %+v", rep.Targets)
	}
	steps := rep.Targets[0].Steps
	if !steps[0].Resumed || steps[0].Status != playbooks.StatusOK || steps[1].Resumed || steps[1].Status != playbooks.StatusOK {
		t.Errorf("resumed steps = %+v, want first resumed ok and second run ok", steps)
	}
	// A changed playbook is refused.
	changed := parse(t, "name: t\nsteps:\n  - id: first\n    action: mark\n")
	if _, err := e.Run(context.Background(), changed, playbooks.RunOptions{Case: "R1", Resume: true}); err == nil || !strings.Contains(err.Error(), "changed since case R1 started") {
		t.Errorf("resume with another playbook = %v, want refused", err)
	}
}

const chain = `name: t
steps:
  - id: a
    action: boom
    on_failure: continue
  - id: b
    action: mark
    needs: [a]
  - id: c
    action: mark
    needs: [b]
  - id: free
    action: mark
`

func TestEngineBlockedStepsBlockTheirDependents(t *testing.T) {
	var marks atomic.Int32
	mark := funcAction{name: "mark", changes: "a mark", fn: func(context.Context, *playbooks.Env) error { marks.Add(1); return nil }}
	boom := funcAction{name: "boom", fn: func(context.Context, *playbooks.Env) error { return errors.New("boom") }}
	e, _, target := fakeEngine(t, mark, boom)
	rep, err := e.Run(context.Background(), parse(t, chain), playbooks.RunOptions{Case: "B1", Targets: []runtime.Container{target}})
	if err == nil {
		t.Fatal("Run succeeded although a failed")
	}
	st := map[string]playbooks.Status{}
	for _, s := range rep.Targets[0].Steps {
		st[s.ID] = s.Status
	}
	want := map[string]playbooks.Status{"a": playbooks.StatusFailed, "b": playbooks.StatusBlocked, "c": playbooks.StatusBlocked, "free": playbooks.StatusOK}
	for id, w := range want {
		if st[id] != w {
			t.Errorf("step %s = %s, want %s (all: %v)", id, st[id], w, st)
		}
	}
	if marks.Load() != 1 {
		t.Errorf("mark ran %d times, want once (free only)", marks.Load())
	}
}

func TestEngineStopsAtTheFirstRecordThatCannotBeWritten(t *testing.T) {
	mark := funcAction{name: "mark", changes: "a mark"}
	boom := funcAction{name: "boom", fn: func(context.Context, *playbooks.Env) error { return errors.New("boom") }}
	e, _, target := fakeEngine(t, mark, boom)
	w := &failingWriter{match: `"step":"b"`}
	e.OpenJournal = func(string) (*playbooks.Journal, error) { return playbooks.NewJournal(w, "journal.jsonl"), nil }
	rep, err := e.Run(context.Background(), parse(t, chain), playbooks.RunOptions{Case: "B2", Targets: []runtime.Container{target}})
	if err == nil || !strings.Contains(err.Error(), "step_finished of step b") {
		t.Fatalf("Run = %v, want the record of b named", err)
	}
	for _, s := range rep.Targets[0].Steps {
		if s.ID == "c" && s.Status != playbooks.StatusNotRun {
			t.Errorf("step c = %s after the journal failed, want not-run", s.Status)
		}
	}
	if strings.Contains(w.buf.String(), `"step":"c"`) {
		t.Errorf("the journal went on after a failed write:\n%s", w.buf.String())
	}
}

// partialWriter writes half of the first line that holds match, then fails.
type partialWriter struct{ failingWriter }

func (w *partialWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.failed && bytes.Contains(p, []byte(w.match)) {
		w.failed = true
		n, _ := w.buf.Write(p[:len(p)/2])
		return n, errors.New("no space left on device")
	}
	return w.buf.Write(p)
}

func TestJournalStaysResumableAfterAFailedWrite(t *testing.T) {
	e, _, target := fakeEngine(t, funcAction{name: "mark"})
	dir := t.TempDir()
	path := filepath.Join(dir, "runs", "J3", "journal.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	w := &partialWriter{failingWriter{match: `"step":"first"`}}
	e.OpenJournal = func(string) (*playbooks.Journal, error) { return playbooks.NewJournal(w, path), nil }
	if _, err := e.Run(context.Background(), parse(t, twoSteps), playbooks.RunOptions{Case: "J3", Targets: []runtime.Container{target}}); err == nil {
		t.Fatal("Run succeeded with a failing journal")
	}
	if err := os.WriteFile(path, w.buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := playbooks.LoadJournal(dir, "J3"); err != nil {
		t.Errorf("the journal cannot be read back for a resume: %v\n%s", err, w.buf.String())
	}
}

// TestEngineOneRunOfACaseAtATime: while a run of a case is under way (its
// step blocked here), a second run or resume of the same case is refused,
// naming the holder, and runs nothing; once the first has ended the case
// can be resumed (and repeats nothing that finished).
func TestEngineOneRunOfACaseAtATime(t *testing.T) {
	var marks atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	block := funcAction{name: "block", changes: "a mark", fn: func(context.Context, *playbooks.Env) error {
		marks.Add(1)
		once.Do(func() { close(started) })
		<-release
		return nil
	}}
	e, _, target := fakeEngine(t, block)
	pb := parse(t, "name: t\nsteps:\n  - id: only\n    action: block\n")
	first := make(chan error, 1)
	go func() {
		_, err := e.Run(context.Background(), pb, playbooks.RunOptions{Case: "L1", Targets: []runtime.Container{target}})
		first <- err
	}()
	<-started
	_, err := e.Run(context.Background(), pb, playbooks.RunOptions{Case: "L1", Resume: true})
	var refused *runtime.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "run under way") || !strings.Contains(err.Error(), "pid ") {
		t.Errorf("a resume while the case runs = %v, want refused naming the holder", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background(), pb, playbooks.RunOptions{Case: "L1", Resume: true}); err != nil {
		t.Fatalf("resume after the run ended: %v", err)
	}
	if n := marks.Load(); n != 1 {
		t.Errorf("the step ran %d times, want once", n)
	}
}

package playbooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

type recorder struct {
	mu     sync.Mutex
	events []playbooks.Event
}

func (r *recorder) add(e playbooks.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []playbooks.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]playbooks.Event(nil), r.events...)
}

func engine(t *testing.T, h runtimetest.Harness) (*playbooks.Engine, *recorder) {
	t.Helper()
	store, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	env := &playbooks.Env{Runtime: h.Runtime(), Contain: contain.New(h.Runtime(), store, ""), Case: "T", Actor: "test"}
	return &playbooks.Engine{Registry: registry(), Env: env, StateDir: t.TempDir(), Events: rec.add}, rec
}

func mustLoad(t *testing.T, src string) *playbooks.Playbook {
	t.Helper()
	pb, err := playbooks.Parse("t.yaml", []byte(src))
	if err == nil {
		err = playbooks.Validate(pb, registry())
	}
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

func statuses(rep *playbooks.Report) map[string]string {
	m := map[string]string{}
	for _, s := range rep.Targets[0].Steps {
		m[s.ID] = string(s.Status)
	}
	return m
}

func TestEngineTimeoutRetriesContinueAndSkips(t *testing.T) {
	h := runtimetest.Fake(t) // engine logic: no daemon needed
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	e, _ := engine(t, h)
	pb := mustLoad(t, `name: t
steps:
  - id: slow
    action: wait
    with: {for: 10s}
    timeout: 50ms
    retries: 1
    on_failure: continue
  - id: after_slow
    action: contain.pause
    needs: [slow]
  - id: independent
    action: contain.pause
  - id: cond_false
    action: contain.release
    needs: [independent]
    when: steps.independent.changed == false
`)
	rep, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "T1", Targets: []runtime.Container{d.Container}, Parallel: 1})
	var sf *playbooks.StepFailedError
	if !errors.As(err, &sf) || sf.Step != "slow" {
		t.Fatalf("Run = %v, want step slow failed", err)
	}
	st := statuses(rep)
	want := map[string]string{"slow": "failed", "after_slow": "blocked", "independent": "ok", "cond_false": "skipped"}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("step %s = %s, want %s (all: %v)", k, st[k], v, st)
		}
	}
	for _, s := range rep.Targets[0].Steps {
		if s.ID == "slow" && s.Attempts != 2 {
			t.Errorf("slow ran %d times, want 2 (retries: 1)", s.Attempts)
		}
	}
	if got := inspect(t, h, d.ID); got.State != runtime.StatePaused {
		t.Errorf("independent step did not pause: %s", got.State)
	}
	_, _ = e.Env.Contain.Release(context.Background(), d.Container, false)
}

func TestEngineUndoOnFailure(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, _, _ := h.Network(t)
	d := h.Run(t, runtimetest.Name(t), vspec)
	e, _ := engine(t, h)
	pb := mustLoad(t, `name: t
steps:
  - id: isolate
    action: contain.network
  - id: doomed
    action: wait
    needs: [isolate]
    with: {for: 10s}
    timeout: 50ms
    on_failure: undo
`)
	rep, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "T2", Targets: []runtime.Container{d.Container}, Parallel: 1})
	if err == nil {
		t.Fatal("Run succeeded")
	}
	if st := statuses(rep); st["isolate"] != string(playbooks.StatusUndone) {
		t.Errorf("isolate = %s, want undone", st["isolate"])
	}
	got := inspect(t, h, d.ID)
	if got.State != runtime.StateRunning || len(got.Networks) != len(d.Networks) {
		t.Errorf("after undo: %s with %d networks, want running with %d", got.State, len(got.Networks), len(d.Networks))
	}
}

func TestEngineRunsIndependentStepsInParallel(t *testing.T) {
	h := runtimetest.Fake(t) // engine logic: no daemon needed
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	e, rec := engine(t, h)
	pb := mustLoad(t, `name: t
steps:
  - id: a
    action: wait
    with: {for: 300ms}
  - id: b
    action: wait
    with: {for: 300ms}
  - id: c
    action: wait
    needs: [a, b]
    with: {for: 1ms}
`)
	if _, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "T3", Targets: []runtime.Container{d.Container}}); err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, ev := range rec.all() {
		if ev.Type == "step_started" || ev.Type == "step_finished" {
			seq = append(seq, string(ev.Type[5:])+":"+ev.Step)
		}
	}
	// Both a and b start before either finishes; c starts after both.
	pos := map[string]int{}
	for i, s := range seq {
		pos[s] = i
	}
	for _, want := range []string{"started:a", "started:b", "started:c", "finished:a", "finished:b", "finished:c"} {
		if _, ok := pos[want]; !ok {
			t.Fatalf("no %s event: %v", want, seq)
		}
	}
	firstFinish := min(pos["finished:a"], pos["finished:b"])
	if pos["started:a"] > firstFinish || pos["started:b"] > firstFinish {
		t.Errorf("a and b did not overlap: %v", seq)
	}
	if pos["started:c"] < max(pos["finished:a"], pos["finished:b"]) {
		t.Errorf("c started before its needs finished: %v", seq)
	}
}

func TestEngineWebhookAndExpressions(t *testing.T) {
	h := runtimetest.Fake(t) // engine logic: no daemon needed
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	e, _ := engine(t, h)
	e.Env.HTTP = srv.Client()
	pb := mustLoad(t, `name: t
params:
  hook: {type: string, required: true}
steps:
  - id: freeze
    action: contain.pause
  - id: tell
    action: notify.webhook
    needs: [freeze]
    with:
      url: ${{ params.hook }}
      message: '${{ "froze " + target.name + ": " + string(steps.freeze.changed) }}'
`)
	rep, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "T4", Targets: []runtime.Container{d.Container}, Params: map[string]string{"hook": srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if got["message"] != "froze "+d.Name+": true" || got["case"] != "T" {
		t.Errorf("webhook got %v", got)
	}
	if out := rep.Targets[0].Steps[1].Outputs; out["status"] != int64(202) {
		t.Errorf("outputs %v", out)
	}
	// A required parameter left out is refused before anything runs.
	_, err = e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "T5", Targets: []runtime.Container{d.Container}})
	if err == nil {
		t.Error("missing required parameter accepted")
	}
	_, _ = e.Env.Contain.Release(context.Background(), d.Container, false)
}

func inspect(t *testing.T, h runtimetest.Harness, id string) runtime.Details {
	return runtimetest.Inspect(t, h, id)
}

func TestEngineFleetFailurePolicy(t *testing.T) {
	h := runtimetest.Fake(t) // engine logic: no daemon needed
	bad := h.Run(t, runtimetest.Name(t)+"-bad", runtimetest.Spec{})
	good := h.Run(t, runtimetest.Name(t)+"-good", runtimetest.Spec{})
	// With abort, the other target's long wait is cut short as soon as the
	// first fails; were it not, it would complete and the test would say so.
	for _, policy := range []string{"continue", "abort"} {
		t.Run(policy, func(t *testing.T) {
			e, _ := engine(t, h)
			pb := mustLoad(t, `name: t
on_target_failure: `+policy+`
steps:
  - id: fail_one
    action: wait
    when: target.name == "`+bad.Name+`"
    with: {for: 10s}
    timeout: 20ms
  - id: work
    action: wait
    with: {for: `+map[string]string{"continue": "300ms", "abort": "30s"}[policy]+`}
`)
			rep, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "F-" + policy, Targets: []runtime.Container{bad.Container, good.Container}, Parallel: 2})
			if err == nil {
				t.Fatal("Run succeeded")
			}
			goodStatus := rep.Targets[1].Status
			if policy == "continue" && goodStatus != playbooks.StatusOK {
				t.Errorf("continue: the other target ended %s (%s)", goodStatus, rep.Targets[1].Error)
			}
			if policy == "abort" && goodStatus == playbooks.StatusOK {
				t.Errorf("abort: the other target still completed")
			}
		})
	}
}

func TestEngineTriageOutputsInConditions(t *testing.T) {
	h := runtimetest.Docker(t)
	risky := h.Run(t, runtimetest.Name(t)+"-risky", runtimetest.Spec{CapAdd: []string{"SYS_ADMIN"}})
	calm := h.Run(t, runtimetest.Name(t)+"-calm", runtimetest.Spec{Hardened: true, User: "1000:1000"})
	e, _ := engine(t, h)
	pb := mustLoad(t, `name: t
steps:
  - id: assess
    action: triage
  - id: freeze
    action: contain.pause
    needs: [assess]
    when: steps.assess.worst == "critical" && "cap-sys_admin" in steps.assess.findings
`)
	rep, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "TRI", Targets: []runtime.Container{risky.Container, calm.Container}, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]playbooks.Status{}
	for _, tr := range rep.Targets {
		for _, s := range tr.Steps {
			if s.ID == "freeze" {
				got[tr.Container.ID] = s.Status
			}
		}
	}
	if got[risky.ID] != playbooks.StatusOK || got[calm.ID] != playbooks.StatusSkipped {
		t.Errorf("freeze: risky %s, calm %s; want ok and skipped", got[risky.ID], got[calm.ID])
	}
	_, _ = e.Env.Contain.Release(context.Background(), risky.Container, false)
}

func TestEngineReportsStepProgress(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "echo x > /f; exec sleep 600"}})
	e, rec := engine(t, h)
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := evidence.NewFileStore(t.TempDir())
	e.Env.Evidence = &playbooks.EvidenceSession{Store: fs, Signer: sg, Trusted: sg.Pub, Info: evidence.CaseInfo{ID: "PROG", Actor: "test"}}
	pb := mustLoad(t, "name: t\nsteps:\n  - id: capture\n    action: collect\n    with: {what: [fsdiff]}\n")
	if _, err := e.Run(runtimetest.Context(t), pb, playbooks.RunOptions{Case: "PROG", Targets: []runtime.Container{d.Container}}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range rec.all() {
		if ev.Type == "step_progress" && ev.Step == "capture" && strings.Contains(ev.Detail, "files") {
			found = true
		}
	}
	if !found {
		t.Errorf("no step_progress event for the capture: %+v", rec.all())
	}
}

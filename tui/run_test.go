package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/playbooks"
)

// TestRunAsksForApprovalAndSurvivesLeavingTheView runs a playbook whose
// second step needs approval: the console's dialog answers the engine's
// Approver, the steps tick in the run view, and the run goes on while the
// responder looks elsewhere.
func TestRunAsksForApprovalAndSurvivesLeavingTheView(t *testing.T) {
	b := fleetOf(5)
	var m *Model
	approved := make(chan bool, 1)
	b.RunFn = func(ctx context.Context, r RunRequest) (*playbooks.Report, error) {
		now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		ev := func(typ playbooks.EventType, step string, st playbooks.Status, at int) {
			r.Events(playbooks.Event{Type: typ, Case: r.Case, Playbook: r.Playbook, Target: r.Targets[0].ID, Step: step, Action: "contain", Status: st, Time: now.Add(time.Duration(at) * time.Second), Attempt: 1})
		}
		ev(playbooks.EventStepStarted, "capture", "", 0)
		ev(playbooks.EventStepFinished, "capture", playbooks.StatusOK, 3)
		ev(playbooks.EventNeedsApproval, "contain", "", 3)
		ok, err := r.Approver.Approve(ctx, playbooks.ApprovalRequest{Step: "contain", Action: "contain", Prompt: "Cut \x1b]0;x\x07 the network?", Target: r.Targets[0].Container})
		if err != nil {
			return nil, err
		}
		approved <- ok
		ev(playbooks.EventStepStarted, "contain", "", 4)
		ev(playbooks.EventStepFinished, "contain", playbooks.StatusOK, 5)
		return &playbooks.Report{Case: r.Case}, nil
	}
	m = started(b, 120, 30, Options{})
	msgs := make(chan tea.Msg, 64)
	m.SetSend(func(msg tea.Msg) { msgs <- msg })
	press(m, "p")
	if m.active != screenRuns || m.runs.form == nil {
		t.Fatal("p did not open the playbook chooser")
	}
	press(m, "down", "enter") // escape-suspected, with a parameter
	typeTextReplace(m, "true")
	press(m, "enter")
	if m.dialog == nil || !strings.Contains(m.dialog.command, "run escape-suspected") || !strings.Contains(m.dialog.command, "-p restore=true") {
		t.Fatalf("run dialog: %+v", m.dialog)
	}
	press(m, "tab")
	_, cmd := m.Update(keyMsg("enter"))
	go deliver(cmd, msgs)
	// the run goes on in the background: deliver its messages as the
	// program would, answering the approval dialog when it opens
	deadline := time.After(5 * time.Second)
	leftView := false
	for done := false; !done; {
		select {
		case msg := <-msgs:
			_, cmd := m.Update(msg)
			drive(m, cmd)
			if m.dialog != nil && strings.HasPrefix(m.dialog.title, "Approve") {
				v := m.View()
				if !strings.Contains(v, `\x1b]0;x\a`) {
					t.Fatalf("approval prompt not shown inert:\n%s", v)
				}
				press(m, "1") // keys go to the dialog, not the views
				if m.active != screenRuns {
					t.Fatal("a key behind the dialog switched views")
				}
				press(m, "tab", "enter")
				press(m, "1") // leave the run view while it goes on
				leftView = true
			}
		case ok := <-approved:
			if !ok {
				t.Fatal("approval was denied")
			}
		case <-deadline:
			t.Fatal("the run did not finish")
		}
		if r := m.runs.selected(); r != nil && r.done {
			done = true
		}
		if len(m.runs.runs) == 1 && !m.runs.runs[0].done {
			continue
		}
	}
	if !leftView || m.active != screenFleet {
		t.Fatal("the view was not left during the run")
	}
	r := m.runs.runs[0]
	if r.err != "" || len(r.steps) != 2 || r.steps[0].status != "ok" || r.steps[1].status != "ok" {
		t.Fatalf("run state: err %q steps %+v", r.err, r.steps)
	}
	var acts []string
	for _, a := range b.acts {
		acts = append(acts, a.Act+":"+a.Result)
	}
	if got := strings.Join(acts, ","); got != "run:started,approval:approved step contain,run-finished:done" {
		t.Fatalf("journal: %s", got)
	}
	press(m, "2")
	v := m.View()
	for _, want := range []string{"capture", "contain", "ok", "case " + r.caseID, "e opens it"} {
		if !strings.Contains(v, want) {
			t.Errorf("run view lacks %q:\n%s", want, v)
		}
	}
	checkFrame(t, v, 120, 30)
}

// deliver runs a command in the background, as the program does, and
// sends what it answers to msgs (a batch's parts each in turn).
func deliver(cmd tea.Cmd, msgs chan<- tea.Msg) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			go deliver(c, msgs)
		}
	default:
		msgs <- msg
	}
}

// typeTextReplace clears the focused form field and types s.
func typeTextReplace(m *Model, s string) {
	f := m.runs.form
	for range f.fields[f.field] {
		press(m, "backspace")
	}
	typeText(m, s)
}

func TestRunGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := fleetOf(5)
		m := started(b, size[0], size[1], Options{})
		start := time.Date(2026, 11, 28, 11, 59, 50, 0, time.UTC)
		r := &runState{id: 1, playbook: "evidence-only", targets: b.items[:1], caseID: "IR-7", command: "firebreak --runtime docker run evidence-only --case IR-7 --target svc-000", started: start, cancel: func() {}}
		for i, s := range []string{"metadata", "capture", "seal"} {
			st := &stepState{step: s, target: b.items[0].ID, status: "ok", attempt: 1, started: start.Add(time.Duration(i) * time.Second), ended: start.Add(time.Duration(i+1) * time.Second)}
			if s == "seal" {
				st.status, st.ended, st.detail = "running", time.Time{}, "fsdiff: 12 files, 3.0 MiB"
			}
			r.steps = append(r.steps, st)
		}
		m.runs.runs = append(m.runs.runs, r)
		press(m, "2")
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("runs-%dx%d", size[0], size[1]), v)
	}
}

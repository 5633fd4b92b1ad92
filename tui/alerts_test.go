package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/alerts"
	"firebreak/playbooks"
	"firebreak/runtime"
)

// withAlerts gives the fake an intake journal of six alerts, as serve
// writes them: unmatched, suppressed, succeeded, open, and two runs waiting
// for an approval (case-a on the fleet's svc-000, whose alert is the
// newest; case-h from a hostile sender on a container the fleet does not
// list).
func withAlerts(b *fakeBackend) *fakeBackend {
	at := time.Date(2026, 11, 28, 11, 50, 0, 0, time.UTC)
	accept := func(seq uint64, format, rule, container, output string) alerts.Entry {
		return alerts.Entry{Seq: seq, Kind: alerts.KindAccepted, Time: at.Add(time.Duration(seq) * time.Minute),
			Alert: &alerts.Alert{Format: format, Source: "syscall", Rule: rule, Priority: alerts.Critical, Container: container, Output: output}}
	}
	// the fake fleet's IDs share their first 12 digits: an alert naming
	// that prefix names no one container
	short, full := b.items[0].ID[:12], b.items[0].ID
	b.journal = []alerts.Entry{
		accept(1, "falco", "Terminal shell in container", "", "A shell was spawned"),
		{Seq: 1, Kind: alerts.KindUnmatched},
		accept(2, "tetragon", "process_exec", short, "exec /bin/sh"),
		{Seq: 2, Kind: alerts.KindSuppressed, Reason: "duplicate of alert 3 within 5m0s"},
		accept(3, "alertmanager", "ContainerCPUHigh", b.items[1].ID, "cpu above 95% for 10m"),
		{Seq: 3, Kind: alerts.KindStarted, Case: "case-20261128-115300-b0b0b0"},
		{Seq: 3, Kind: alerts.KindFinished, Case: "case-20261128-115300-b0b0b0", Status: "succeeded"},
		accept(4, "stackrox", "Netcat Execution Detected", b.items[2].ID, "nc -l 4444"),
		accept(5, "falco", "evil\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x1b[2J\u202erule", "0123456789ab", "out\x1b[1A\rput"),
		{Seq: 5, Kind: alerts.KindStarted, Case: "case-20261128-115500-hhhhhh"},
		{Seq: 5, Kind: alerts.KindFinished, Case: "case-20261128-115500-hhhhhh", Status: alerts.StatusNeedsApproval},
		accept(6, "falco", "Container escape attempt", full, "Container escape attempt detected (user=root command=nsenter -t 1 -m sh)"),
		{Seq: 6, Kind: alerts.KindStarted, Case: "case-20261128-115600-aaaaaa"},
		{Seq: 6, Kind: alerts.KindFinished, Case: "case-20261128-115600-aaaaaa", Status: alerts.StatusNeedsApproval},
	}
	b.waits = map[string]*playbooks.Waiting{
		"case-20261128-115600-aaaaaa": {Case: "case-20261128-115600-aaaaaa", Playbook: "freeze-on-approval",
			Targets: []runtime.Container{b.items[0].Container},
			Steps:   []playbooks.WaitingStep{{Step: "freeze", Target: b.items[0].Container}}},
		"case-20261128-115500-hhhhhh": {Case: "case-20261128-115500-hhhhhh", Playbook: "escape-suspected",
			Targets: []runtime.Container{{ID: "0123456789ab" + strings.Repeat("0", 52), Name: "bad\x1b[31mname"}},
			Steps:   []playbooks.WaitingStep{{Step: "hand_over", Target: runtime.Container{ID: "0123456789ab", Name: "bad\x1b[31mname"}}}},
	}
	return b
}

// TestAlertsKeys is the alerts view's key table: keys pressed in the
// alerts tab of a fresh console, and what it is left showing or called.
func TestAlertsKeys(t *testing.T) {
	type state struct {
		active  screenID
		dialog  string
		filter  string
		rows    int
		sel     uint64 // the selected alert's sequence number
		runs    int
		typing  bool
		refused bool // the status line says read-only refused it
	}
	cases := []struct {
		name string
		keys []string
		want state
	}{
		{"4 opens the alerts, newest first", nil, state{active: screenAlerts, rows: 6, sel: 6}},
		{"down", []string{"j"}, state{active: screenAlerts, rows: 6, sel: 5}},
		{"end", []string{"G"}, state{active: screenAlerts, rows: 6, sel: 1}},
		{"filter as you type", []string{"/", "f", "a", "l", "c", "o"}, state{active: screenAlerts, filter: "falco", rows: 3, sel: 6, typing: true}},
		{"filter the waiting", []string{"/", "w", "a", "i", "t", "enter"}, state{active: screenAlerts, filter: "wait", rows: 2, sel: 6}},
		{"esc clears the filter, the selection kept", []string{"/", "n", "c", "enter", "esc"}, state{active: screenAlerts, rows: 6, sel: 4}},
		{"a asks", []string{"a"}, state{active: screenAlerts, dialog: "Approve", rows: 6, sel: 6}},
		{"enter asks too", []string{"enter"}, state{active: screenAlerts, dialog: "Approve", rows: 6, sel: 6}},
		{"enter on the dialog is Cancel", []string{"a", "enter"}, state{active: screenAlerts, rows: 6, sel: 6}},
		{"esc on the dialog is no", []string{"a", "esc"}, state{active: screenAlerts, rows: 6, sel: 6}},
		{"y is not yes", []string{"a", "y", "enter"}, state{active: screenAlerts, rows: 6, sel: 6}},
		{"tab enter approves", []string{"a", "tab", "enter"}, state{active: screenRuns, rows: 6, sel: 6, runs: 1}},
		{"a on an alert that waits for nothing", []string{"j", "j", "a"}, state{active: screenAlerts, rows: 6, sel: 4}},
		{"read-only refuses", []string{"R", "a"}, state{active: screenAlerts, rows: 6, sel: 6, refused: true}},
		{"e opens the case", []string{"j", "j", "j", "e"}, state{active: screenEvidence, rows: 6, sel: 3}},
		{"tab leaves for the fleet", []string{"tab"}, state{active: screenFleet, rows: 6, sel: 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := withAlerts(fleetOf(5))
			m := started(b, 120, 30, Options{})
			press(m, "4")
			press(m, c.keys...)
			got := state{active: m.active, filter: m.alerts.filter, rows: len(m.alerts.rows()), runs: len(m.runs.runs), typing: m.alerts.typing,
				refused: strings.Contains(m.status, "read-only mode: approval")}
			if r := m.alerts.current(); r != nil {
				got.sel = r.Seq
			}
			if m.dialog != nil {
				got.dialog = strings.Fields(m.dialog.title)[0]
			}
			if got != c.want {
				t.Errorf("keys %v: got %+v, want %+v", c.keys, got, c.want)
			}
		})
	}
}

// Approving from the alerts view resumes the case's run as `firebreak
// approve` does: the steps read from its journal approved, the command
// line shown and journalled, the run in the runs view with its steps as
// they come; once the case waits no more the tab counts one fewer.
func TestAlertsApproveResumesTheRun(t *testing.T) {
	b := withAlerts(fleetOf(5))
	const caseA = "case-20261128-115600-aaaaaa"
	b.RunFn = func(ctx context.Context, r RunRequest) (*playbooks.Report, error) {
		at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		r.Events(playbooks.Event{Type: playbooks.EventStepStarted, Case: r.Case, Step: "freeze", Action: "contain.pause", Target: b.items[0].ID, Time: at})
		r.Events(playbooks.Event{Type: playbooks.EventStepFinished, Case: r.Case, Step: "freeze", Action: "contain.pause", Target: b.items[0].ID, Status: playbooks.StatusOK, Time: at.Add(time.Second)})
		b.mu.Lock()
		b.waits[caseA].Steps = nil
		b.mu.Unlock()
		return &playbooks.Report{Case: r.Case, Playbook: r.Playbook}, nil
	}
	m := started(b, 120, 30, Options{CLI: "firebreak --state-dir /var/lib/fb"})
	var mu sync.Mutex
	var sent []tea.Msg
	m.SetSend(func(msg tea.Msg) { mu.Lock(); sent = append(sent, msg); mu.Unlock() })
	if h := m.header(120); !strings.Contains(h, "4 6 alerts (2 waiting)") {
		t.Fatalf("header %q: want the alerts tab counting 2 waiting", h)
	}
	press(m, "4", "a")
	if m.dialog == nil || m.dialog.command != "firebreak --state-dir /var/lib/fb approve "+caseA+" freeze" {
		t.Fatalf("dialog %+v: want the approve command line", m.dialog)
	}
	if !slices.ContainsFunc(m.dialog.lines, func(l string) bool { return strings.Contains(l, "freeze on svc-000") }) {
		t.Errorf("dialog lines %q: want the waiting step and its container", m.dialog.lines)
	}
	press(m, "tab", "enter")
	mu.Lock()
	for _, msg := range sent {
		m.Update(msg)
	}
	mu.Unlock()
	if len(b.runs) != 1 {
		t.Fatalf("runs %+v: want one", b.runs)
	}
	r := b.runs[0]
	if !r.Resume || r.Case != caseA || r.Playbook != "freeze-on-approval" || !slices.Equal(r.Approve, []string{"freeze"}) || r.Targets[0].Key() != b.items[0].Key() {
		t.Errorf("run request %+v: want case %s resumed with freeze approved on svc-000's engine", r, caseA)
	}
	var acts []string
	for _, a := range b.acts {
		acts = append(acts, a.Act+":"+a.Result+":"+a.Command)
	}
	if len(acts) == 0 || acts[0] != "approve:started:firebreak --state-dir /var/lib/fb approve "+caseA+" freeze" {
		t.Errorf("journal %q: want the approval with its command line first", acts)
	}
	if m.active != screenRuns || len(m.runs.runs) != 1 || m.runs.runs[0].caseID != caseA || len(m.runs.runs[0].steps) != 1 || m.runs.runs[0].steps[0].status != "ok" {
		t.Fatalf("runs view: %+v", m.runs.runs)
	}
	press(m, "4", "ctrl+r")
	if got := m.alerts.tabTitle(); got != "6 alerts (1 waiting)" {
		t.Errorf("title after the approval %q, want 6 alerts (1 waiting)", got)
	}
	// the resumed run stopped again, at its next approval: read again, the
	// case waits once more, though it was approved here
	b.mu.Lock()
	b.waits[caseA].Steps = []playbooks.WaitingStep{{Step: "kill", Target: b.items[0].Container}}
	b.mu.Unlock()
	press(m, "ctrl+r")
	if got := m.alerts.tabTitle(); got != "6 alerts (2 waiting)" {
		t.Errorf("title once the resumed run waits again %q, want 6 alerts (2 waiting)", got)
	}
	// an alert that comes later is read from where the last read stopped
	reads := b.alertReads
	b.mu.Lock()
	b.journal = append(b.journal, alerts.Entry{Seq: 7, Kind: alerts.KindAccepted, Alert: &alerts.Alert{Format: "falco", Rule: "Late one"}})
	b.mu.Unlock()
	press(m, "ctrl+r")
	if b.alertReads != reads+1 || len(m.alerts.stories) != 7 || m.alerts.current().Seq != 6 {
		t.Errorf("after a new alert: %d reads, %d stories, selected %d (want the selection kept)", b.alertReads-reads, len(m.alerts.stories), m.alerts.current().Seq)
	}
}

// A case approved elsewhere (the CLI) since serve wrote needs-approval is
// not counted waiting, and its dialog says so instead of asking.
func TestAlertsApprovedElsewhere(t *testing.T) {
	b := withAlerts(fleetOf(5))
	b.waits["case-20261128-115600-aaaaaa"].Steps = nil
	m := started(b, 120, 30, Options{})
	press(m, "4")
	if got := m.alerts.tabTitle(); got != "6 alerts (1 waiting)" {
		t.Errorf("title %q: want one waiting", got)
	}
	press(m, "a")
	if m.dialog != nil || len(b.runs) != 0 {
		t.Errorf("an answered case asked again: %+v", m.dialog)
	}
}

func TestAlertsGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := withAlerts(fleetOf(5))
		m := started(b, size[0], size[1], Options{})
		press(m, "4")
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("alerts-%dx%d", size[0], size[1]), v)
		press(m, "j", "a")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("alerts-approve-%dx%d", size[0], size[1]), v)
		press(m, "esc", "?")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("alerts-help-%dx%d", size[0], size[1]), v)
	}
}

// TestAlertsFollowSendsNothingWhileNothingChanges: after an answer the
// view reads again in the command's own goroutine and answers only once
// the journal (or a case's approval) changed, so an idle console gets no
// message, and no redraw, from it.
func TestAlertsFollowSendsNothingWhileNothingChanges(t *testing.T) {
	defer func(d time.Duration) { alertsEvery = d }(alertsEvery)
	alertsEvery = 5 * time.Millisecond
	b := withAlerts(fleetOf(3))
	m := started(b, 120, 30, Options{})
	m.noWatch = false
	cmd := m.alerts.follow(m)
	got := make(chan tea.Msg, 1)
	go func() { got <- cmd() }()
	time.Sleep(100 * time.Millisecond)
	select {
	case msg := <-got:
		t.Fatalf("an unchanged journal answered: %#v", msg)
	default:
	}
	b.mu.Lock()
	reads := b.alertReads
	b.journal = append(b.journal, alerts.Entry{Seq: 7, Kind: alerts.KindAccepted, Alert: &alerts.Alert{Format: "falco", Rule: "new", Priority: alerts.Critical}})
	b.mu.Unlock()
	if reads < 5 {
		t.Errorf("%d reads in 100 ms at a 5 ms interval", reads)
	}
	select {
	case msg := <-got:
		am, ok := msg.(alertsMsg)
		if !ok || !am.tail.Changed() || len(am.tail.Stories) != 1 {
			t.Fatalf("after a new alert: %#v", msg)
		}
		m.Update(am)
		if !strings.Contains(m.alerts.tabTitle(), "7 alerts") {
			t.Errorf("tab after the new alert: %q", m.alerts.tabTitle())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a new alert was not answered")
	}
	m.Close()
}

// TestAlertsFullScreenShowsTheSelectedOutput: with more alerts than the
// screen holds, the selected alert's output line is still on the screen.
func TestAlertsFullScreenShowsTheSelectedOutput(t *testing.T) {
	b := withAlerts(fleetOf(3))
	for seq := uint64(7); seq <= 60; seq++ {
		b.journal = append(b.journal, alerts.Entry{Seq: seq, Kind: alerts.KindAccepted, Time: time.Date(2026, 11, 28, 12, 0, int(seq), 0, time.UTC),
			Alert: &alerts.Alert{Format: "falco", Rule: "noise", Priority: alerts.Warning, Output: fmt.Sprintf("OUTPUT-%d", seq)}},
			alerts.Entry{Seq: seq, Kind: alerts.KindLogged})
	}
	m := started(b, 80, 24, Options{})
	press(m, "4")
	v := m.View()
	checkFrame(t, v, 80, 24)
	if !strings.Contains(v, "OUTPUT-60") {
		t.Errorf("the selected (newest) alert's output is not on the screen:\n%s", v)
	}
}

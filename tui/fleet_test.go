package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/collect"
	"firebreak/internal/app"
	"firebreak/runtime"
)

// TestKeys is the console's key table: keys pressed from a fresh fleet of
// 20, and what the console is left showing or has called.
func TestKeys(t *testing.T) {
	type state struct {
		active    screenID
		dialog    string // title prefix; "" for none
		filter    string
		rows      int
		selected  int
		sort      string
		contained int
		ended     int
		help      bool
		readOnly  bool
	}
	cases := []struct {
		name string
		keys []string
		want state
	}{
		{"start", nil, state{rows: 20, sort: "RISK"}},
		{"filter as you type", []string{"/", "s", "v", "c", "-", "0", "1"}, state{filter: "svc-01", rows: 10, sort: "RISK"}},
		{"filter by label", []string{"/", "t", "i", "e", "r", "=", "d", "b", "enter"}, state{filter: "tier=db", rows: 7, sort: "RISK"}},
		{"filter by finding", []string{"/", "s", "y", "s", "_", "a", "d", "m", "i", "n", "enter"}, state{filter: "sys_admin", rows: 3, sort: "RISK"}},
		{"esc clears the filter", []string{"/", "x", "enter", "esc"}, state{rows: 20, sort: "RISK"}},
		{"sort next column", []string{"s"}, state{rows: 20, sort: "NAME"}},
		{"select two", []string{"space", "space"}, state{rows: 20, selected: 2, sort: "RISK"}},
		{"select all shown", []string{"/", "t", "i", "e", "r", "=", "w", "enter", "ctrl+a"}, state{filter: "tier=w", rows: 7, selected: 7, sort: "RISK"}},
		{"c asks", []string{"c"}, state{dialog: "Contain", rows: 20, sort: "RISK"}},
		{"enter on the dialog is Cancel", []string{"c", "enter"}, state{rows: 20, sort: "RISK"}},
		{"esc on the dialog is no", []string{"c", "esc"}, state{rows: 20, sort: "RISK"}},
		{"n on the dialog is no", []string{"c", "n"}, state{rows: 20, sort: "RISK"}},
		{"y is not yes", []string{"c", "y", "enter"}, state{rows: 20, sort: "RISK"}},
		{"tab enter confirms", []string{"c", "tab", "enter"}, state{rows: 20, sort: "RISK", contained: 1}},
		{"r asks", []string{"r"}, state{dialog: "Release", rows: 20, sort: "RISK"}},
		{"p picks a playbook", []string{"p"}, state{active: screenRuns, rows: 20, sort: "RISK"}},
		{"help", []string{"?"}, state{help: true, rows: 20, sort: "RISK"}},
		{"any key closes help", []string{"?", "x"}, state{rows: 20, sort: "RISK"}},
		{"enter opens detail", []string{"enter"}, state{active: screenDetail, rows: 20, sort: "RISK"}},
		{"views by number", []string{"2"}, state{active: screenRuns, rows: 20, sort: "RISK"}},
		{"read-only on", []string{"R"}, state{readOnly: true, rows: 20, sort: "RISK"}},
		{"read-only refuses contain", []string{"R", "c"}, state{readOnly: true, rows: 20, sort: "RISK"}},
		{"lifting asks", []string{"R", "R"}, state{readOnly: true, dialog: "Lift", rows: 20, sort: "RISK"}},
		{"lift confirmed", []string{"R", "R", "tab", "enter"}, state{rows: 20, sort: "RISK"}},
		{"x asks", []string{"x"}, state{dialog: "Stop", rows: 20, sort: "RISK"}},
		{"esc on stop is no", []string{"x", "esc"}, state{rows: 20, sort: "RISK"}},
		{"enter on stop is Cancel", []string{"x", "enter"}, state{rows: 20, sort: "RISK"}},
		{"tab enter stops", []string{"x", "tab", "enter"}, state{rows: 20, sort: "RISK", ended: 1}},
		{"K asks", []string{"K"}, state{dialog: "Kill", rows: 20, sort: "RISK"}},
		{"esc on kill is no", []string{"K", "esc"}, state{rows: 20, sort: "RISK"}},
		{"kill wants the name typed", []string{"K", "tab", "enter"}, state{dialog: "Kill", rows: 20, sort: "RISK"}},
		{"n on kill is typed, not no", []string{"K", "n"}, state{dialog: "Kill", rows: 20, sort: "RISK"}},
		{"kill one at a time", []string{"space", "space", "K"}, state{selected: 2, rows: 20, sort: "RISK"}},
		{"read-only refuses kill", []string{"R", "K"}, state{readOnly: true, rows: 20, sort: "RISK"}},
		{"read-only refuses stop", []string{"R", "x"}, state{readOnly: true, rows: 20, sort: "RISK"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := fleetOf(20)
			m := started(b, 120, 30, Options{})
			press(m, c.keys...)
			got := state{active: m.active, filter: m.fleet.filter, rows: len(m.fleet.visible()), selected: len(m.fleet.selected),
				sort: fleetColumns[m.fleet.sortCol], contained: len(b.contains), ended: len(b.ends), help: m.help, readOnly: m.readOnly}
			if m.dialog != nil {
				got.dialog = strings.Fields(m.dialog.title)[0]
			}
			if got != c.want {
				t.Errorf("keys %q: got %+v, want %+v", c.keys, got, c.want)
			}
		})
	}
}

func TestContainIsJournalledWithTheCLILine(t *testing.T) {
	b := fleetOf(20)
	m := started(b, 120, 30, Options{})
	press(m, "/")
	typeText(m, "svc-013")
	press(m, "enter", "c")
	v := m.View()
	if !strings.Contains(v, "firewall") || !strings.Contains(v, "firebreak --runtime docker contain svc-013") {
		t.Fatalf("dialog shows no plan or CLI line:\n%s", v)
	}
	press(m, "tab", "enter")
	if len(b.contains) != 1 {
		t.Fatalf("contain after confirmation: %v", b.contains)
	}
	if got := m.fleet.current().firebreak(); !strings.Contains(got, "contained") {
		t.Fatalf("row after contain says %q", got)
	}
	if len(b.acts) != 1 || b.acts[0].Command != "firebreak --runtime docker contain svc-013" || b.acts[0].Result != "done" || b.acts[0].Actor != "tester@host" {
		t.Fatalf("journal: %+v", b.acts)
	}
	press(m, "r", "tab", "enter")
	if len(b.releases) != 1 || len(b.acts) != 2 || b.acts[1].Act != "release" {
		t.Fatalf("release: %v, journal %+v", b.releases, b.acts)
	}
	// containerd rows name their namespace on the command line
	press(m, "esc", "/")
	typeText(m, "svc-014")
	press(m, "enter", "c", "tab", "enter")
	if last := b.acts[len(b.acts)-1]; last.Command != "firebreak --runtime containerd --namespace default contain svc-014" {
		t.Fatalf("containerd CLI line: %q", last.Command)
	}
}

func TestReadOnlyLiftIsJournalled(t *testing.T) {
	b := fleetOf(3)
	m := started(b, 80, 24, Options{ReadOnly: true})
	press(m, "c")
	if m.dialog != nil || len(b.contains) != 0 || !strings.Contains(m.status, "read-only") {
		t.Fatalf("read-only console opened %v, status %q", m.dialog, m.status)
	}
	press(m, "R", "tab", "enter")
	if m.readOnly || len(b.acts) != 1 || b.acts[0].Act != "lift-read-only" {
		t.Fatalf("lift: readOnly=%v journal %+v", m.readOnly, b.acts)
	}
}

func TestTypedNameEnablesTheAct(t *testing.T) {
	m := started(fleetOf(3), 80, 24, Options{})
	acted := false
	m.dialog = &dialog{title: "Kill svc-000?", confirm: "Kill", typed: "svc-000", onYes: func(*Model) tea.Cmd { acted = true; return nil }}
	press(m, "tab", "enter")
	if acted || m.dialog == nil {
		t.Fatal("the act ran before the name was typed")
	}
	typeText(m, "svc-00")
	press(m, "enter")
	if acted {
		t.Fatal("a partial name enabled the act")
	}
	typeText(m, "0")
	press(m, "enter")
	if !acted {
		t.Fatal("the typed name did not enable the act")
	}
}

func TestEventsUpdateOneRowWithoutListing(t *testing.T) {
	b := fleetOf(20)
	m := started(b, 120, 30, Options{})
	lists := b.lists
	b.mu.Lock()
	b.items[3].State = runtime.StatePaused
	b.items = append(b.items, Item{Engine: "docker", Container: runtime.Container{ID: fmt.Sprintf("%064x", 999), Name: "newcomer", State: runtime.StateRunning}})
	b.mu.Unlock()
	for _, e := range []EngineEvent{{Engine: "docker", ID: b.items[3].ID, Action: "pause"}, {Engine: "docker", ID: fmt.Sprintf("%064x", 999), Action: "create"}, {Engine: "docker", ID: b.items[5].ID, Action: "destroy"}} {
		_, cmd := m.Update(engineEventMsg{e})
		drive(m, cmd)
	}
	if b.lists != lists {
		t.Fatalf("events made %d list calls", b.lists-lists)
	}
	if r := m.fleet.rows[b.items[3].Key()]; r == nil || r.State != runtime.StatePaused {
		t.Fatalf("pause event: row %+v", r)
	}
	if m.fleet.rows[b.items[5].Key()] != nil {
		t.Fatal("destroy event left the row")
	}
	if len(m.fleet.rows) != 20 {
		t.Fatalf("fleet has %d rows, want 20 (one created, one destroyed)", len(m.fleet.rows))
	}
}

func TestStaleAnswersAreDropped(t *testing.T) {
	b := fleetOf(5)
	m := started(b, 120, 30, Options{})
	key := b.items[0].Key()
	// two events for one container: the first answer arrives last
	m.Update(engineEventMsg{EngineEvent{Engine: "docker", ID: b.items[0].ID, Action: "pause"}})
	first := m.gens["item/"+key]
	m.Update(engineEventMsg{EngineEvent{Engine: "docker", ID: b.items[0].ID, Action: "unpause"}})
	newer := b.items[0]
	newer.State = runtime.StateRunning
	older := b.items[0]
	older.State = runtime.StatePaused
	m.Update(itemMsg{gen: first + 1, key: key, item: newer})
	m.Update(itemMsg{gen: first, key: key, item: older})
	if got := m.fleet.rows[key].State; got != runtime.StateRunning {
		t.Fatalf("an older answer overwrote the newer: state %s", got)
	}
	// a list answer of an older generation is dropped too
	gen := m.gens["list"]
	m.Update(listMsg{gen: gen - 1, items: nil})
	if len(m.fleet.rows) != 5 {
		t.Fatalf("a stale list emptied the fleet: %d rows", len(m.fleet.rows))
	}
}

func TestSlowEngineShowsSpinnerAndCancels(t *testing.T) {
	b := fleetOf(0)
	block := make(chan struct{})
	b.ListFn = func(ctx context.Context) ([]Item, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-block:
			return nil, nil
		}
	}
	defer close(block)
	m := New(b, Options{})
	m.noWatch = true
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	cmd := m.Init()
	_ = cmd // the list is in flight: not driven
	if !strings.Contains(m.View(), "listing containers") || !strings.Contains(m.View(), "esc cancels") {
		t.Fatalf("no spinner while listing:\n%s", m.View())
	}
	press(m, "esc")
	if len(m.busy) != 0 || !strings.Contains(m.status, "cancelled") {
		t.Fatalf("esc did not cancel: busy %v status %q", m.busy, m.status)
	}
}

func TestFleetGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := fleetOf(60)
		b.items[2].Held = nil
		m := started(b, size[0], size[1], Options{})
		press(m, "down", "space", "down")
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("fleet-%dx%d", size[0], size[1]), v)
		press(m, "c")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("contain-dialog-%dx%d", size[0], size[1]), v)
		press(m, "esc", "?")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("help-%dx%d", size[0], size[1]), v)
	}
}

func TestHostileStringsInTheFleetAreInert(t *testing.T) {
	b := fleetOf(3)
	b.items[0].Name = "evil\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x1b[2J\u202eexe.txt"
	b.items[0].Image = "img\x1b]8;;http://x\x1b\\link\x9b31m"
	b.items[0].Labels = map[string]string{"note": "\x1bP1$r\x1b\\"}
	a := b.assess[b.items[0].Key()]
	a.Findings = []collect.Finding{{Severity: collect.Critical, Title: "finding\x1b[1A\rover"}}
	b.assess[b.items[0].Key()] = a
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		m := started(b, size[0], size[1], Options{})
		for _, keys := range [][]string{nil, {"c"}, {"esc", "r"}, {"esc", "x"}, {"esc", "K"}, {"esc", "enter"}, {"esc", "?"}} {
			press(m, keys...)
			checkFrame(t, m.View(), size[0], size[1])
		}
	}
}

func TestCaptureBackupAndRecoverAsk(t *testing.T) {
	b := fleetOf(5)
	m := started(b, 120, 30, Options{})
	press(m, "e")
	if m.dialog == nil || !strings.Contains(m.dialog.command, "collect --case case-") {
		t.Fatalf("e: %+v", m.dialog)
	}
	press(m, "tab", "enter")
	if len(b.collects) != 1 || !strings.Contains(m.status, "12 artifacts") {
		t.Fatalf("collect: %v, status %q", b.collects, m.status)
	}
	press(m, "b", "tab", "enter")
	if len(b.backups) != 1 || !strings.Contains(m.status, "snapshot snap-1") {
		t.Fatalf("backup: %v, status %q", b.backups, m.status)
	}
	if got := m.fleet.current().firebreak(); !strings.Contains(got, "backup") {
		t.Fatalf("the row after a backup says %q", got)
	}
	name := m.fleet.current().Name
	press(m, "u")
	v := m.View()
	for _, want := range []string{"plan, from snapshot snap-1", "rename: " + name, "Type " + name} {
		if !strings.Contains(v, want) {
			t.Fatalf("recover dialog lacks %q:\n%s", want, v)
		}
	}
	press(m, "tab", "enter")
	if len(b.recovers) != 0 {
		t.Fatal("recover ran before the name was typed")
	}
	typeText(m, name)
	press(m, "enter")
	if len(b.recovers) != 1 {
		t.Fatalf("recover after the typed name: %v", b.recovers)
	}
	var acts []string
	for _, a := range b.acts {
		acts = append(acts, a.Act)
	}
	if got := strings.Join(acts, ","); got != "collect,backup,recover" {
		t.Fatalf("journal: %s", got)
	}
	if last := b.acts[2].Command; !strings.Contains(last, "recover --case") || !strings.Contains(last, "--from snap-1 --yes") {
		t.Fatalf("recover's CLI line: %q", last)
	}
}

// TestHelpFitsEveryView checks the help overlay shows every key of every
// view at 80x24 (nothing cut off the bottom).
func TestHelpFitsEveryView(t *testing.T) {
	m := started(fleetOf(3), 80, 24, Options{})
	for _, id := range []screenID{screenFleet, screenDetail, screenRuns, screenEvidence} {
		m.active = id
		help := m.helpView(80, 22)
		if n := len(strings.Split(help, "\n")); n > 22 {
			t.Errorf("%s: the help has %d lines, more than the 22 that fit", m.screens[id].title(), n)
		}
		for _, k := range m.screens[id].keys() {
			if !strings.Contains(help, k.key) {
				t.Errorf("%s: the help lacks %q", m.screens[id].title(), k.key)
			}
		}
	}
}

// TestRunesReadTogetherAreKeysEach: "/web" read from the terminal in one
// go is four key presses, so the filter starts and takes "web".
func TestRunesReadTogetherAreKeysEach(t *testing.T) {
	m := started(fleetOf(20), 120, 30, Options{})
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/svc-01")})
	drive(m, cmd)
	if !m.fleet.typing || m.fleet.filter != "svc-01" {
		t.Fatalf("typing %v, filter %q", m.fleet.typing, m.fleet.filter)
	}
}

// TestEscDoesNotCancelAnAct: Esc cancels reads, never an act under way
// (a contain cut short would leave a container half contained), and q asks
// while one runs.
func TestEscDoesNotCancelAnAct(t *testing.T) {
	b := fleetOf(3)
	m := started(b, 120, 30, Options{})
	cancelled := false
	m.busy["act/x"] = busyOp{what: "contain svc-000", act: true, cancel: func() { cancelled = true }}
	press(m, "esc")
	if cancelled || len(m.busy) != 1 {
		t.Fatal("esc cancelled an act in flight")
	}
	press(m, "q")
	if m.dialog == nil || !strings.Contains(m.dialog.title, "Quit") {
		t.Fatal("q quit without asking while an act runs")
	}
}

// TestOlderTriageDoesNotOverwriteNewer: the first full triage of a big
// fleet answers late; a container's newer one-container triage stays.
func TestOlderTriageDoesNotOverwriteNewer(t *testing.T) {
	b := fleetOf(3)
	m := started(b, 120, 30, Options{})
	it := b.items[1]
	older, newer := m.next("assess"), m.next("assess")
	m.Update(assessMsg{seq: newer, as: []collect.Assessment{{Container: it.Container, Runtime: it.Engine, Score: 99, Findings: []collect.Finding{{Title: "NEW"}}}}})
	m.Update(assessMsg{seq: older, as: []collect.Assessment{{Container: it.Container, Runtime: it.Engine, Score: 1, Findings: []collect.Finding{{Title: "OLD"}}}}})
	if r := m.fleet.rows[it.Key()]; r.score != 99 || r.finding != "NEW" {
		t.Fatalf("row shows %d %q, want the newer triage's 99 NEW", r.score, r.finding)
	}
}

// TestHistoryFindsEveryTargetOfAnAct: an act on several containers is
// in each one's history (the journal names them by engine/ID).
func TestHistoryFindsEveryTargetOfAnAct(t *testing.T) {
	items := fleetOf(5).items
	b := NewSessions(app.Options{StateDir: t.TempDir()})
	if err := b.Journal(Act{Act: "collect", Target: keys(items), Command: "firebreak collect ...", Result: "done"}); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if got := b.journalFor(it); len(got) != 1 || got[0].Act != "collect" {
			t.Errorf("%s: history %+v", it.Name, got)
		}
	}
}

// TestRecoverOfAnUntypableNameAsksForItsID: a name with a control
// character cannot be typed; the recover dialog asks for the short ID
// instead (as kill does), and recovers once it is typed.
func TestRecoverOfAnUntypableNameAsksForItsID(t *testing.T) {
	b := fleetOf(1)
	b.items[0].Name = "web\x1b[2Jx"
	m := started(b, 120, 30, Options{})
	press(m, "u")
	id := b.items[0].ShortID()
	if m.dialog == nil || m.dialog.typed != id {
		t.Fatalf("recover of %q asks to type %q, want its short ID %s", b.items[0].Name, m.dialog.typed, id)
	}
	typeText(m, id)
	press(m, "tab", "enter")
	if len(b.recovers) != 1 {
		t.Fatalf("recover after the typed ID: %v\n%s", b.recovers, m.View())
	}
}

func TestTypedName(t *testing.T) {
	it := Item{Container: runtime.Container{ID: "0123456789abcdef0123", Name: "web 1"}}
	for name, want := range map[string]string{"web 1": "web 1", "web 1 ": "0123456789ab", " web": "0123456789ab", "a\x1bb": "0123456789ab", "": "0123456789ab"} {
		it.Name = name
		if got := it.TypedName(); got != want {
			t.Errorf("TypedName(%q) = %q, want %q", name, got, want)
		}
	}
}

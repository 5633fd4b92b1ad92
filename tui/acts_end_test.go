package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/contain"
	"firebreak/runtime"
)

// filterTo leaves the fleet showing the one container named name.
func filterTo(t *testing.T, m *Model, name string) {
	t.Helper()
	press(m, "/")
	typeText(m, name)
	press(m, "enter")
	if r := m.fleet.current(); r == nil || r.Name != name {
		t.Fatalf("the filter %q does not show it: %+v", name, r)
	}
}

func TestKillAsksForTheNameAndIsJournalled(t *testing.T) {
	b := fleetOf(20)
	m := started(b, 120, 30, Options{})
	filterTo(t, m, "svc-013")
	press(m, "c", "tab", "enter") // contained (frozen) first
	press(m, "K")
	v := dialogOf(m)
	for _, want := range []string{"Kill svc-013?", "unpause: thaw to deliver the signal (frozen by Firebreak; its drop rules stay)", "SIGKILL to its init",
		"cannot come back", "Type svc-013", "firebreak --runtime docker kill --case case-"} {
		if !strings.Contains(v, want) {
			t.Fatalf("kill dialog lacks %q:\n%s", want, v)
		}
	}
	press(m, "tab", "enter")
	typeText(m, "svc-01")
	press(m, "enter")
	if len(b.ends) != 0 || m.dialog == nil {
		t.Fatalf("killed before the whole name was typed: %v", b.ends)
	}
	typeText(m, "3")
	press(m, "enter")
	if len(b.ends) != 1 || b.ends[0] != "kill "+m.fleet.current().Key() {
		t.Fatalf("kill after the typed name: %v", b.ends)
	}
	last := b.acts[len(b.acts)-1]
	if last.Act != "kill" || last.Result != "done" || !strings.HasPrefix(last.Command, "firebreak --runtime docker kill --case case-") || !strings.HasSuffix(last.Command, " --yes svc-013") {
		t.Fatalf("journal: %+v", last)
	}
	if !strings.Contains(m.status, "kill svc-013: done · "+last.Command) {
		t.Fatalf("status line %q does not show the CLI line", m.status)
	}
	r := m.fleet.current()
	if got := r.firebreak(); got != "killed" || r.State != runtime.StateStopped {
		t.Fatalf("the row after kill says %q, %s", got, r.State)
	}
	// killing what does not run asks nothing of the engine
	press(m, "K")
	if v := dialogOf(m); !strings.Contains(v, "not running (stopped): nothing to end") {
		t.Fatalf("kill dialog of a stopped container:\n%s", v)
	}
}

func TestStopFromDetailIsJournalled(t *testing.T) {
	b := fleetOf(20)
	m := started(b, 120, 30, Options{})
	filterTo(t, m, "svc-014")
	press(m, "enter", "x")
	v := dialogOf(m)
	for _, want := range []string{"Stop svc-014?", "SIGTERM, then SIGKILL after 10s", "firebreak --runtime containerd --namespace default stop --case case-"} {
		if !strings.Contains(v, want) {
			t.Fatalf("stop dialog lacks %q:\n%s", want, v)
		}
	}
	if m.dialog.typed != "" {
		t.Fatal("stop asks for the name; only kill does")
	}
	press(m, "tab", "enter")
	if len(b.ends) != 1 || !strings.HasPrefix(b.ends[0], "stop containerd/default/") {
		t.Fatalf("stop: %v", b.ends)
	}
	if last := b.acts[len(b.acts)-1]; last.Act != "stop" || strings.Contains(last.Command, "--yes") || !strings.HasSuffix(last.Command, " svc-014") {
		t.Fatalf("journal: %+v", last)
	}
}

// TestEndRefusesAPodSandbox: the console refuses a sandbox before it asks,
// with the words the CLI uses.
func TestEndRefusesAPodSandbox(t *testing.T) {
	b := fleetOf(5)
	b.items[0].Labels["io.cri-containerd.kind"] = "sandbox"
	m := started(b, 120, 30, Options{})
	filterTo(t, m, "svc-000")
	for _, k := range []string{"x", "K"} {
		press(m, k)
		if m.dialog != nil || !strings.Contains(m.status, "kubelet") {
			t.Fatalf("%s on a sandbox: dialog %v, status %q", k, m.dialog, m.status)
		}
	}
}

// TestDriftShowsFromOneEvent: a contained container thawed from outside
// shows DRIFT in the fleet after its engine event, without a list call;
// ending it takes the drift away.
func TestDriftShowsFromOneEvent(t *testing.T) {
	b := fleetOf(20)
	m := started(b, 120, 30, Options{})
	filterTo(t, m, "svc-003")
	press(m, "c", "tab", "enter")
	key := m.fleet.current().Key()
	if got := m.fleet.current().firebreak(); got != "contained+frozen" {
		t.Fatalf("after contain the row says %q", got)
	}
	lists := b.lists
	b.thawByHand(key)
	drive(m, func() tea.Msg {
		return engineEventMsg{EngineEvent{Engine: "docker", ID: b.items[3].ID, Action: "unpause"}}
	})
	if b.lists != lists {
		t.Fatalf("the event made %d list calls", b.lists-lists)
	}
	r := m.fleet.rows[key]
	if got := r.firebreak(); !strings.HasPrefix(got, "DRIFT") {
		t.Fatalf("after a thaw by hand the row says %q", got)
	}
	if l := lineOf(m.View(), "svc-003"); !strings.Contains(l, "DRIFT") {
		t.Fatalf("the fleet's row does not show DRIFT: %q", l)
	}
	// filterable, as every word of the column
	press(m, "esc", "/")
	typeText(m, "drift")
	press(m, "enter")
	if n := len(m.fleet.visible()); n != 1 {
		t.Fatalf("filter drift shows %d rows", n)
	}
	press(m, "K")
	typeText(m, "svc-003")
	press(m, "tab", "enter")
	if got := m.fleet.rows[key].firebreak(); got != "killed" {
		t.Fatalf("after kill the row says %q", got)
	}
}

// TestNoDriftWhileFirebreakActs: a kill thaws a frozen container before
// the signal; that thaw, read while the act runs, is not drift.
func TestNoDriftWhileFirebreakActs(t *testing.T) {
	b := fleetOf(3)
	m := started(b, 120, 30, Options{})
	it := b.items[1]
	it.Held = &contain.Record{Container: it.Container, Phase: "contained", Pause: &contain.PauseHold{Paused: true}}
	it.Drift = "it was thawed outside Firebreak"
	m.busy["act/"+it.Key()] = busyOp{what: "kill " + it.Name, act: true, cancel: func() {}}
	gen := m.next("item/" + it.Key())
	m.Update(itemMsg{gen: gen, key: it.Key(), item: it})
	if got := m.fleet.rows[it.Key()].firebreak(); strings.Contains(got, "DRIFT") {
		t.Fatalf("a thaw by Firebreak's own act shows as %q", got)
	}
	delete(m.busy, "act/"+it.Key())
	gen = m.next("item/" + it.Key())
	m.Update(itemMsg{gen: gen, key: it.Key(), item: it})
	if got := m.fleet.rows[it.Key()].firebreak(); !strings.HasPrefix(got, "DRIFT") {
		t.Fatalf("with no act in flight the row says %q", got)
	}
}

func TestKillDialogGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := fleetOf(60)
		for i := range b.items {
			it := &b.items[i]
			it.State = runtime.StatePaused
			it.Held = &contain.Record{Container: it.Container, Phase: "contained", Case: "IR-7",
				Network: &contain.NetworkHold{Firewall: true}, Pause: &contain.PauseHold{Paused: true}}
		}
		m := started(b, size[0], size[1], Options{})
		press(m, "K")
		typeText(m, "svc-0")
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("kill-dialog-%dx%d", size[0], size[1]), v)
	}
}

// dialogOf is the open dialog's text, unwrapped: title, lines, command
// line and the name to type.
func dialogOf(m *Model) string {
	d := m.dialog
	if d == nil {
		return ""
	}
	return strings.Join(append([]string{d.title}, d.lines...), "\n") + "\nCLI: " + d.command + "\nType " + d.typed
}

// lineOf is the fleet row of view that holds s, or "".
func lineOf(view, s string) string {
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, s) && !strings.HasPrefix(l, "filter:") {
			return l
		}
	}
	return ""
}

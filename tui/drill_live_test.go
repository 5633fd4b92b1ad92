package tui

import (
	"strings"
	"testing"
	"time"

	"firebreak/drill"
)

func liveStatus(now time.Time) drill.LiveStatus {
	return drill.LiveStatus{
		ID: "abcd1234", Scenario: "kernel-helper", Title: "Kernel helper escape signatures", Case: "drill-kernel-helper-abcd1234",
		Suspect: "fbdrill-abcd1234-decoy", Step: "respond", Started: now.Add(-65 * time.Second),
		Measures: []drill.Measure{
			{Name: "detect", Took: 1200, Target: 30000, Met: true, Done: true, Source: "triage"},
			{Name: "contain", Took: 41300, Target: 60000, Met: true, Done: true, Source: "journal"},
			{Name: "evidence", Target: 120000, Source: "not observed"},
		},
		Checks: []drill.Check{
			{Name: "peer-unreachable", OK: true, Detail: "the drill's probe: timed out"},
			{Name: "frozen", OK: true, Detail: "the engine paused it"},
			{Name: "evidence-verifies", Detail: "pending"},
		},
		Timeline: []drill.Entry{{Offset: 1200, Kind: "finding", Text: "detected: \x1b]0;pwned\x07 \u202eevil"}},
	}
}

// TestLiveDrillPanelBesideTheFleet: the drill's standing, as it arrives,
// is drawn beside the fleet: the clock, each target with its time once
// met, the checks that passed; strings from the drill are inert; the
// console's captures go to the drill's case; a narrow terminal shows the
// panel in the drill tab.
func TestLiveDrillPanelBesideTheFleet(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	b := fleetOf(5)
	m := started(b, 150, 40, Options{LiveDrill: &LiveDrillOptions{Updates: make(chan LiveUpdate)}})
	if v := m.View(); !strings.Contains(v, "live drill 0:00") || !strings.Contains(v, "waiting for the drill") {
		t.Fatalf("before the drill's first word:\n%s", v)
	}
	m.Update(liveUpdateMsg{u: LiveUpdate{Status: liveStatus(now)}, ok: true})
	v := m.View()
	for _, want := range []string{"svc-000", "LIVE DRILL kernel-helper", "live drill 1:05 2/3", "decoy  fbdrill-abcd1234-decoy",
		"contain   41.3 s   ≤ 60.0 s  met", "evidence  —", "✓ peer-unreachable", "✓ frozen", "· evidence-verifies", "checks as they pass"} {
		if !strings.Contains(v, want) {
			t.Errorf("the screen lacks %q:\n%s", want, v)
		}
	}
	if strings.ContainsAny(v, "\x07\u202e") || strings.Contains(v, "\x1b]0;") {
		t.Errorf("a string from the drill reached the terminal live:\n%q", v)
	}
	if got := m.caseFor(b.items[:1]); got != "drill-kernel-helper-abcd1234" {
		t.Errorf("a capture in the console goes to case %s, not the drill's", got)
	}

	narrow := started(b, 80, 24, Options{LiveDrill: &LiveDrillOptions{Updates: make(chan LiveUpdate)}})
	narrow.Update(liveUpdateMsg{u: LiveUpdate{Status: liveStatus(now)}, ok: true})
	if strings.Contains(narrow.View(), "LIVE DRILL") {
		t.Errorf("the panel squeezes an 80-column fleet:\n%s", narrow.View())
	}
	press(narrow, "4")
	if v := narrow.View(); !strings.Contains(v, "LIVE DRILL kernel-helper") || !strings.Contains(v, "contain   41.3 s") {
		t.Errorf("the drill tab:\n%s", v)
	}
}

// TestLiveDrillQuitAsksUntilItEnds: q while the drill runs asks before it
// ends the drill (Cancel first, Esc is no); once the drill has ended and
// its reports are written, q quits at once.
func TestLiveDrillQuitAsksUntilItEnds(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	m := started(fleetOf(3), 150, 40, Options{LiveDrill: &LiveDrillOptions{Updates: make(chan LiveUpdate)}})
	m.Update(liveUpdateMsg{u: LiveUpdate{Status: liveStatus(now)}, ok: true})
	press(m, "q")
	if m.dialog == nil || !strings.Contains(m.View(), "End the drill and quit?") || !strings.Contains(m.View(), "[>Cancel<]") {
		t.Fatalf("q during the drill:\n%s", m.View())
	}
	press(m, "esc")
	if m.dialog != nil || m.ctx.Err() != nil {
		t.Fatal("esc did not keep the drill going")
	}
	st := liveStatus(now)
	st.Ended, st.Final, st.Step = true, true, "cleanup"
	st.Checks = []drill.Check{{Name: "zero-residue", OK: true, Detail: "nothing left"}, {Name: "evidence-verifies", Detail: "no case"}}
	m.Update(liveUpdateMsg{u: LiveUpdate{Status: st, ReportDir: "/tmp/r", Reports: []string{"/tmp/r/report.md"}}, ok: true})
	v := m.View()
	for _, want := range []string{"ended, sandbox removed", "reports: /tmp/r", "✓ zero-residue", "✗ evidence-verifies no case", "live drill 1:05 ended"} {
		if !strings.Contains(v, want) {
			t.Errorf("the ended drill's panel lacks %q:\n%s", want, v)
		}
	}
	m.Update(keyMsg("q"))
	if m.dialog != nil || m.ctx.Err() == nil {
		t.Errorf("q after the drill ended did not quit:\n%s", m.View())
	}
}

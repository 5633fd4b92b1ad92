package tui

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"firebreak/drill"
)

// stepClock is a clock the test moves.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestDrillModeScoresConsoleActs runs the built-in escape tabletop in the
// console: the facilitator's keys drive it, a containment from the fleet
// meets the contained expectation, and the end writes the reports.
func TestDrillModeScoresConsoleActs(t *testing.T) {
	s, err := drill.Library{}.Load("escape-tabletop")
	if err != nil {
		t.Fatal(err)
	}
	clock := &stepClock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	tt, err := drill.NewTabletop(s, clock, s.Roles)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b := fleetOf(5)
	m := started(b, 120, 40, Options{Drill: &DrillOptions{Tabletop: tt, Scenario: s, Facilitator: "fac", ReportDir: dir}})
	if !strings.Contains(m.View(), "drill 0:00") {
		t.Fatalf("no drill clock in the header:\n%s", m.View())
	}
	press(m, "4")
	if m.active != screenDrill {
		t.Fatal("4 did not open the drill view")
	}
	// a decision meets E2
	press(m, "d")
	typeText(m, "contain now, the on-call lead decides")
	press(m, "enter")
	clock.add(4 * time.Second)
	m.Update(drillTickMsg{})
	// the responders contain from the fleet: E4 (contained) is met by the act
	press(m, "1", "c", "tab", "enter")
	if len(b.contains) != 1 {
		t.Fatalf("contain: %v", b.contains)
	}
	met := map[string]drill.Outcome{}
	for _, sc := range tt.Scores() {
		met[sc.Expectation] = sc.Outcome
	}
	if met["E2"] != drill.OutcomeMet || met["E4"] != drill.OutcomeMet {
		t.Fatalf("scores after the decision and the containment: %v", met)
	}
	// the facilitator judges the answer to I1 (E1) met
	press(m, "4")
	press(m, "a")
	typeText(m, "confirm then contain; the on-call lead")
	press(m, "enter", "m")
	for _, sc := range tt.Scores() {
		met[sc.Expectation] = sc.Outcome
	}
	if met["E1"] != drill.OutcomeMet {
		t.Fatalf("E1 after the judgement: %v", met)
	}
	// pausing stops the clock: a deadline does not pass while paused
	press(m, "space")
	if !tt.Paused() || !strings.Contains(m.View(), "PAUSED") {
		t.Fatal("space did not pause the exercise")
	}
	press(m, "space")
	v := m.View()
	checkFrame(t, v, 120, 40)
	for _, want := range []string{"I1", "played", "decision", "met 10/10"} {
		if !strings.Contains(v, want) {
			t.Errorf("drill view lacks %q:\n%s", want, v)
		}
	}
	// end: one rating per objective, then the reports
	press(m, "E", "P", "S")
	if !m.drill.closing {
		t.Fatal("the closing ended before every objective was rated")
	}
	press(m, "z")
	if m.drill.rating[2].Rating != "" {
		t.Fatal("a key that is not a rating rated an objective")
	}
	press(m, "U")
	if !tt.Ended() {
		t.Fatal("the exercise did not end after the last rating")
	}
	res, err := drill.LoadResult(dir)
	if err != nil {
		t.Fatalf("no result written: %v", err)
	}
	if res.Objectives[0].Rating != drill.RatingP || res.Objectives[1].Rating != drill.RatingS || res.Objectives[2].Rating != drill.RatingU {
		t.Fatalf("ratings: %+v", res.Objectives)
	}
	if res.Points < 30 {
		t.Fatalf("points %d of %d, want at least the 30 met above", res.Points, res.Possible)
	}
	for _, f := range []string{"report.md", "report.html", "navigator.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report %s: %v", f, err)
		}
	}
}

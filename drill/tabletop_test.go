package drill_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"firebreak/drill"
)

// fakeClock moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const ttScenario = `name: tt
kind: tabletop
title: Test tabletop
narrative: A story.
objectives:
  - id: O1
    text: Contain
  - id: O2
    text: Evidence
injects:
  - id: I1
    at: 0s
    title: Alert
    text: An alert.
    question: What first?
    expect:
      - id: E1
        kind: action
        event: contained
        text: Contained
        points: 20
        deadline: 30s
      - id: E2
        kind: answer
        text: A good first step
        points: 10
        deadline: 20s
  - id: I2
    at: 10s
    title: Second
    text: More.
    expect:
      - id: E3
        kind: action
        event: evidence
        text: Evidence
        points: 15
        deadline: 1m
  - id: I3
    after: contained
    at: 2s
    title: After containment
    text: Contained now.
    expect:
      - id: E4
        kind: action
        event: decision
        text: A decision
        points: 5
  - id: I4
    after: inject:I3
    at: 1s
    title: Chained
    text: Follows I3.
  - id: R1
    reserve: true
    title: Reserve
    text: Held.
    question: Answer?
    expect:
      - id: E5
        kind: answer
        text: Answered
        points: 7
  - id: R2
    reserve: true
    title: Never played
    text: Held forever.
    expect:
      - id: E6
        kind: action
        event: restored
        text: Restored
        points: 100
`

func newTT(t *testing.T) (*drill.Tabletop, *fakeClock) {
	t.Helper()
	s, err := drill.Parse("tt.yaml", []byte(ttScenario))
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	tt, err := drill.NewTabletop(s, c, drill.Roles{Facilitator: "fran", Responders: []string{"alice", "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Start("fran"); err != nil {
		t.Fatal(err)
	}
	return tt, c
}

func score(t *testing.T, tt *drill.Tabletop, id string) drill.Score {
	t.Helper()
	for _, s := range tt.Scores() {
		if s.Expectation == id {
			return s
		}
	}
	t.Fatalf("no score for %s in %+v", id, tt.Scores())
	return drill.Score{}
}

func entry(tt *drill.Tabletop, kind, ref string) (drill.Entry, bool) {
	for _, e := range tt.Entries(0) {
		if e.Kind == kind && e.Ref == ref {
			return e, true
		}
	}
	return drill.Entry{}, false
}

func played(tt *drill.Tabletop, id string) bool {
	_, ok := entry(tt, "inject", id)
	return ok
}

func TestTabletopMetIsNotOverwrittenWhenTheDeadlinePasses(t *testing.T) {
	tt, c := newTT(t)
	c.Advance(5 * time.Second)
	if err := tt.Record(drill.EventContained, "alice"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute) // E1's deadline (30s) passes
	tt.Tick()
	s := score(t, tt, "E1")
	if s.Outcome != drill.OutcomeMet || s.Points != 20 || s.Who != "alice" {
		t.Fatalf("E1 after its deadline passed: %+v, want met by alice for 20", s)
	}
	if want := newFakeClock().now.Add(5 * time.Second); !s.At.Equal(want) {
		t.Errorf("E1 met at %s, want %s", s.At, want)
	}
	err := tt.Judge("E1", false, "fran")
	if !errors.Is(err, drill.ErrRecorded) {
		t.Fatalf("judging a met expectation: %v, want ErrRecorded", err)
	}
	r, err := tt.End(drill.Closing{}, "fran")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range r.Scores {
		if sc.Expectation == "E1" && sc.Outcome != drill.OutcomeMet {
			t.Errorf("E1 in the result: %+v", sc)
		}
	}
}

func TestTabletopMissedIsNotTurnedMetByALateEvent(t *testing.T) {
	tt, c := newTT(t)
	c.Advance(31 * time.Second)
	if err := tt.Record(drill.EventContained, "bob"); err != nil {
		t.Fatal(err)
	}
	if s := score(t, tt, "E1"); s.Outcome != drill.OutcomeMissed || s.Points != 0 {
		t.Fatalf("E1 after a late event: %+v, want missed", s)
	}
	e, ok := entry(tt, "action", drill.EventContained)
	if !ok || e.Who != "bob" || !strings.Contains(e.Text, "late: E1 was missed at +0:30.000") {
		t.Errorf("the late event is not in the timeline as late: %+v", e)
	}
	if err := tt.Judge("E1", true, "fran"); !errors.Is(err, drill.ErrRecorded) {
		t.Errorf("judging a missed expectation met: %v, want ErrRecorded", err)
	}
}

func TestTabletopScoring(t *testing.T) {
	tt, c := newTT(t)
	if !played(tt, "I1") || played(tt, "I2") {
		t.Fatal("I1 should play at the start, I2 not yet")
	}
	c.Advance(3 * time.Second)
	if err := tt.Answer("I1", "alice", "contain it"); err != nil {
		t.Fatal(err)
	}
	c.Advance(7 * time.Second) // 10s: I2
	tt.Tick()
	if !played(tt, "I2") {
		t.Fatal("I2 did not play at 10s")
	}
	if err := tt.Record(drill.EventContained, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := tt.Judge("E2", true, "fran"); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Second) // 12s: I3 (contained + 2s), then I4 a second later
	tt.Tick()
	if !played(tt, "I3") || played(tt, "I4") {
		t.Fatal("I3 should play 2s after containment, I4 a second after I3")
	}
	c.Advance(time.Second)
	tt.Tick()
	if !played(tt, "I4") {
		t.Fatal("I4 did not play a second after I3")
	}
	if err := tt.Decision("freeze both", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := tt.PlayReserve("R1", "fran"); err != nil {
		t.Fatal(err)
	}
	if err := tt.Answer("R1", "bob", "no"); err != nil {
		t.Fatal(err)
	}
	if err := tt.Judge("E5", false, "fran"); err != nil {
		t.Fatal(err)
	}
	// E3 (evidence) is never met: missed when the exercise ends
	c.Advance(5 * time.Second)
	r, err := tt.End(drill.Closing{
		Ratings: []drill.ObjectiveRating{{ID: "O1", Rating: drill.RatingP}, {ID: "O2", Rating: drill.RatingM, Note: "no evidence"}},
		Hotwash: []drill.Hotwash{{Who: "alice", Strong: []string{"fast"}, Improve: []string{"evidence"}}},
		Plan:    []drill.Improvement{{Capability: "Evidence", Action: "practise capture", Owner: "alice", Due: "2030-02-01"}},
	}, "fran")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]drill.Outcome{"E1": drill.OutcomeMet, "E2": drill.OutcomeMet, "E3": drill.OutcomeMissed, "E4": drill.OutcomeMet, "E5": drill.OutcomeMissed}
	if len(r.Scores) != len(want) {
		t.Errorf("scores %+v, want %d (R2 never played is not scored)", r.Scores, len(want))
	}
	for _, s := range r.Scores {
		if want[s.Expectation] != s.Outcome {
			t.Errorf("%s: %s, want %s", s.Expectation, s.Outcome, want[s.Expectation])
		}
	}
	if r.Points != 20+10+5 || r.Possible != 20+10+15+5+7 {
		t.Errorf("points %d/%d, want 35/57", r.Points, r.Possible)
	}
	// E2 was met by the answer, at the answer's time
	e2 := r.Scores[1]
	if e2.Expectation != "E2" || e2.Who != "alice" || !e2.At.Equal(newFakeClock().now.Add(3*time.Second)) {
		t.Errorf("E2: %+v, want met by alice at +3s", e2)
	}
	if r.Objectives[1].Rating != drill.RatingM || r.Objectives[1].Text != "Evidence" || r.Objectives[1].Note != "no evidence" {
		t.Errorf("objectives %+v", r.Objectives)
	}
	if r.Kind != drill.KindTabletop || r.Scenario != "tt" || r.Roles.Facilitator != "fran" || len(r.Plan) != 1 || len(r.Hotwash) != 1 {
		t.Errorf("result %+v", r)
	}
	if last := r.Timeline[len(r.Timeline)-1]; last.Kind != "end" || last.Offset != 18000 {
		t.Errorf("last entry %+v, want end at 18000 ms", last)
	}
}

func TestTabletopPauseStopsTheClock(t *testing.T) {
	tt, c := newTT(t)
	c.Advance(4 * time.Second)
	if err := tt.Pause("fran"); err != nil {
		t.Fatal(err)
	}
	c.Advance(10 * time.Minute) // deadlines would pass, I2 would come due
	tt.Tick()
	if played(tt, "I2") {
		t.Error("I2 played while paused")
	}
	if s := score(t, tt, "E1"); s.Outcome != drill.OutcomePending {
		t.Errorf("E1 %s while paused, want pending", s.Outcome)
	}
	if tt.Elapsed() != 4*time.Second || !tt.Paused() {
		t.Errorf("elapsed %s while paused, want 4s", tt.Elapsed())
	}
	// acts during a pause are recorded at the paused offset
	if err := tt.Note("waiting for the lead", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := tt.Resume("fran"); err != nil {
		t.Fatal(err)
	}
	c.Advance(6 * time.Second) // exercise time 10s
	tt.Tick()
	i2, ok := entry(tt, "inject", "I2")
	if !ok || i2.Offset != 10000 {
		t.Fatalf("I2 %+v, want played at exercise time 10000 ms", i2)
	}
	if want := newFakeClock().now.Add(10*time.Minute + 10*time.Second); !i2.Time.Equal(want) {
		t.Errorf("I2 at wall time %s, want %s", i2.Time, want)
	}
	c.Advance(20*time.Second + time.Millisecond) // exercise time 30.001s: E1 missed
	tt.Tick()
	s := score(t, tt, "E1")
	if s.Outcome != drill.OutcomeMissed {
		t.Fatalf("E1 %s, want missed", s.Outcome)
	}
	if want := newFakeClock().now.Add(10*time.Minute + 30*time.Second); !s.Deadline.Equal(want) {
		t.Errorf("E1 deadline %s, want %s (the pause moves it)", s.Deadline, want)
	}
	if e, _ := entry(tt, "expectation", "E1"); e.Offset != 30000 {
		t.Errorf("E1 missed at %d ms, want 30000", e.Offset)
	}
	if err := tt.Resume("fran"); err == nil {
		t.Error("resume when not paused should be refused")
	}
}

func TestTabletopReserveSkipAndAdHoc(t *testing.T) {
	tt, c := newTT(t)
	if err := tt.Answer("R1", "alice", "x"); err == nil {
		t.Error("answering an inject not played should be refused")
	}
	c.Advance(1234 * time.Millisecond)
	if err := tt.PlayReserve("R1", "fran"); err != nil {
		t.Fatal(err)
	}
	if e, ok := entry(tt, "inject", "R1"); !ok || e.Offset != 1234 || e.Source != "facilitator" {
		t.Errorf("R1 %+v, want played by the facilitator at 1234 ms", e)
	}
	if err := tt.PlayReserve("R1", "fran"); err == nil {
		t.Error("playing R1 twice should be refused")
	}
	// bring I2 forward, skip R2
	if err := tt.PlayReserve("I2", "fran"); err != nil || !played(tt, "I2") {
		t.Fatalf("bringing I2 forward: %v", err)
	}
	if err := tt.Skip("R2", "fran"); err != nil {
		t.Fatal(err)
	}
	if err := tt.Skip("R2", "fran"); err == nil {
		t.Error("skipping twice should be refused")
	}
	if err := tt.PlayReserve("R2", "fran"); err == nil {
		t.Error("playing a skipped inject should be refused")
	}
	c.Advance(20 * time.Second)
	tt.Tick()
	if n := strings.Count(fmtEntries(tt), "inject I2"); n != 1 {
		t.Errorf("I2 played %d times; brought forward, it must not play again at its offset", n)
	}
	x, err := tt.AddInject("Vendor call", "The vendor says a fix is out.", "fran")
	if err != nil || x.ID != "X1" || tt.Inject("X1") == nil {
		t.Fatalf("ad-hoc inject: %v %+v", err, x)
	}
	if err := tt.Answer("X1", "alice", "ok"); err == nil {
		t.Error("answering an inject without a question should be refused")
	}
	for _, st := range tt.Injects() {
		if st.Inject.ID == "R2" && st.State != drill.InjectSkipped || st.Inject.ID == "X1" && !st.AdHoc {
			t.Errorf("inject %s: %+v", st.Inject.ID, st)
		}
	}
	r, err := tt.End(drill.Closing{}, "fran")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Scores {
		if s.Expectation == "E6" {
			t.Error("a skipped inject's expectation is scored")
		}
	}
	if _, ok := entry(tt, "skip", "R2"); !ok {
		t.Error("the skip is not in the timeline")
	}
	if err := tt.Note("late", "bob"); !errors.Is(err, drill.ErrEnded) {
		t.Errorf("a note after the end: %v, want ErrEnded", err)
	}
}

func fmtEntries(tt *drill.Tabletop) string {
	var b strings.Builder
	for _, e := range tt.Entries(0) {
		b.WriteString(e.Kind + " " + e.Ref + "\n")
	}
	return b.String()
}

func TestTabletopAnswerInTimeWaitsForJudgement(t *testing.T) {
	tt, c := newTT(t)
	c.Advance(5 * time.Second)
	if err := tt.Answer("I1", "bob", "confirm, then contain"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute) // past E2's deadline: answered in time, it waits
	tt.Tick()
	if s := score(t, tt, "E2"); s.Outcome != drill.OutcomePending {
		t.Fatalf("E2 %s, want pending the facilitator's judgement", s.Outcome)
	}
	if err := tt.Stop("fran"); err != nil {
		t.Fatal(err)
	}
	// after the end the facilitator may still judge answers given in time
	if err := tt.Judge("E2", true, "fran"); err != nil {
		t.Fatal(err)
	}
	s := score(t, tt, "E2")
	if s.Outcome != drill.OutcomeMet || s.Who != "bob" || !s.At.Equal(newFakeClock().now.Add(5*time.Second)) {
		t.Errorf("E2 %+v, want met by bob at the answer's time", s)
	}
	if s := score(t, tt, "E1"); s.Outcome != drill.OutcomeMissed {
		t.Errorf("E1 %s, want missed (its deadline passed)", s.Outcome)
	}
}

func TestTabletopEndChecksTheClosing(t *testing.T) {
	tt, _ := newTT(t)
	for _, c := range []drill.Closing{
		{Ratings: []drill.ObjectiveRating{{ID: "O9", Rating: drill.RatingP}}},
		{Ratings: []drill.ObjectiveRating{{ID: "O1", Rating: "X"}}},
		{Ratings: []drill.ObjectiveRating{{ID: "O1", Rating: "P"}, {ID: "O1", Rating: "S"}}},
		{Plan: []drill.Improvement{{Capability: "c", Action: "a", Owner: "o", Due: "next week"}}},
		{Plan: []drill.Improvement{{Capability: "c", Due: "2030-01-01"}}},
		{Hotwash: []drill.Hotwash{{Strong: []string{"x"}}}},
	} {
		if _, err := tt.End(c, "fran"); err == nil {
			t.Errorf("End(%+v) accepted", c)
		}
	}
	if tt.Ended() {
		t.Fatal("a refused End stopped the exercise")
	}
	r, err := tt.End(drill.Closing{Ratings: []drill.ObjectiveRating{{ID: "O2", Rating: drill.RatingU}}}, "fran")
	if err != nil {
		t.Fatal(err)
	}
	if r.Objectives[0].Rating != "" || r.Objectives[1].Rating != drill.RatingU {
		t.Errorf("objectives %+v", r.Objectives)
	}
	again, err := tt.End(drill.Closing{}, "fran")
	if err != nil || again != r {
		t.Errorf("End again: %v, a different result", err)
	}
}

func TestTabletopRefusesBadInput(t *testing.T) {
	s, err := drill.Parse("tt.yaml", []byte(ttScenario))
	if err != nil {
		t.Fatal(err)
	}
	tt, err := drill.NewTabletop(s, newFakeClock(), drill.Roles{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Decision("x", "a"); !errors.Is(err, drill.ErrNotStarted) {
		t.Errorf("before Start: %v", err)
	}
	if err := tt.Start("f"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"unknown event":        tt.Record("pwned", "a"),
		"empty decision":       tt.Decision(" ", "a"),
		"judge unknown":        tt.Judge("E99", true, "f"),
		"judge not played":     tt.Judge("E5", true, "f"),
		"skip unknown":         tt.Skip("I99", "f"),
		"skip played":          tt.Skip("I1", "f"),
		"answer unknown":       tt.Answer("I99", "a", "x"),
		"start twice":          tt.Start("f"),
		"empty ad-hoc title":   func() error { _, err := tt.AddInject("", "x", "f"); return err }(),
		"empty note":           tt.Note("", "a"),
		"artifact of no kind":  tt.Record("artifact:diary", "a"),
		"inject not in the sc": tt.Record("inject:I99", "a"),
		"inject played by act": tt.Record("inject:I2", "a"),
		"answer by act":        tt.Record("answered:I1", "a"),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	live, err := drill.Library{}.Load("nsenter")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drill.NewTabletop(live, newFakeClock(), drill.Roles{}); err == nil {
		t.Error("a live scenario was accepted as a tabletop")
	}
}

func TestFormatOffset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                   "+0:00.000",
		1234 * time.Millisecond:             "+0:01.234",
		62*time.Second + 5*time.Millisecond: "+1:02.005",
		time.Hour + 2*time.Minute + 3*time.Second: "+1:02:03.000",
	} {
		if got := drill.FormatOffset(d); got != want {
			t.Errorf("FormatOffset(%s) = %s, want %s", d, got, want)
		}
	}
}

package drill

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// A measure's change from one drill to the next.
const (
	ChangeFaster     = "faster"       // both reached it, B sooner
	ChangeSlower     = "slower"       // both reached it, B later
	ChangeSame       = "same"         // within the 100 ms drills are measured at
	ChangeNowDone    = "now reached"  // B reached it, A did not
	ChangeNotDone    = "not reached"  // A reached it, B did not
	ChangeNeither    = "neither"      // neither drill reached it
	ChangeNotMatched = "not compared" // measured in one drill only
)

// The overall verdicts of a comparison.
const (
	SpeedFaster     = "faster"
	SpeedSlower     = "slower"
	SpeedMixed      = "mixed"
	SpeedUnchanged  = "unchanged"
	SpeedNoMeasures = "no measures" // neither drill measured the same times (tabletops)

	ScoreBetter    = "better"
	ScoreWorse     = "worse"
	ScoreSame      = "same"
	ScoreNotScored = "not scored" // one drill or both had no expectations
)

// sameWithin is the change below which two times count as the same: the
// resolution drills are measured at.
const sameWithin Millis = 100

// Comparison is how drill B went against drill A (the earlier one, as a
// rule): per measure, the score, and a verdict on each.
type Comparison struct {
	A        CompareSide     `json:"a"`
	B        CompareSide     `json:"b"`
	Measures []MeasureChange `json:"measures"`
	Score    ScoreChange     `json:"score"`
	Speed    string          `json:"speed"` // faster, slower, mixed, unchanged, no measures
	Notes    []string        `json:"notes,omitempty"`
}

// CompareSide names one of the two drills.
type CompareSide struct {
	Scenario string    `json:"scenario"`
	Title    string    `json:"title"`
	Kind     Kind      `json:"kind"`
	Started  time.Time `json:"started"`
}

// MeasureChange is one time to X in both drills. Change is B's time minus
// A's when both reached it.
type MeasureChange struct {
	Name    string   `json:"name"`
	A       *Measure `json:"a,omitempty"` // absent: not measured in A
	B       *Measure `json:"b,omitempty"`
	Change  Millis   `json:"change_ms"`
	Verdict string   `json:"verdict"` // one of the Change* words
}

// ScoreChange is the score of both drills, compared as the share of the
// possible points earned (two scenarios may offer different points).
type ScoreChange struct {
	APoints   int    `json:"a_points"`
	APossible int    `json:"a_possible"`
	BPoints   int    `json:"b_points"`
	BPossible int    `json:"b_possible"`
	APercent  int    `json:"a_percent"`
	BPercent  int    `json:"b_percent"`
	Verdict   string `json:"verdict"` // better, worse, same, not scored
}

// measureOrder is the order measures are listed in; others follow by name.
var measureOrder = []string{"detect", "contain", "evidence", "restore"}

// Compare says how drill b went against drill a: per measure whether the
// team got faster, and whether it scored better. Give a the earlier drill.
func Compare(a, b *Result) Comparison {
	c := Comparison{
		A:        CompareSide{a.Scenario, a.Title, a.Kind, a.Started},
		B:        CompareSide{b.Scenario, b.Title, b.Kind, b.Started},
		Measures: []MeasureChange{},
	}
	if a.Scenario != b.Scenario {
		c.Notes = append(c.Notes, fmt.Sprintf("the drills ran different scenarios (%s, %s): their times and scores compare only loosely", oneLine(a.Scenario), oneLine(b.Scenario)))
	}
	if !a.Started.IsZero() && b.Started.Before(a.Started) {
		c.Notes = append(c.Notes, "B started before A: give the earlier drill first to read the changes forwards")
	}
	for _, r := range []*Result{a, b} {
		if r.Aborted != "" {
			c.Notes = append(c.Notes, fmt.Sprintf("the drill of %s ended early: %s", r.Started.Format(time.RFC3339), oneLine(r.Aborted)))
		}
	}
	names := slices.Clone(measureOrder)
	var extra []string
	for _, r := range []*Result{a, b} {
		for _, m := range r.Measures {
			if !slices.Contains(names, m.Name) && !slices.Contains(extra, m.Name) {
				extra = append(extra, m.Name)
			}
		}
	}
	slices.Sort(extra)
	faster, slower := 0, 0
	for _, name := range append(names, extra...) {
		ma, mb := findMeasure(a, name), findMeasure(b, name)
		if ma == nil && mb == nil {
			continue
		}
		mc := MeasureChange{Name: name, A: ma, B: mb}
		switch {
		case ma == nil || mb == nil:
			mc.Verdict = ChangeNotMatched
		case ma.Done && mb.Done:
			mc.Change = mb.Took - ma.Took
			switch {
			case mc.Change <= -sameWithin:
				mc.Verdict = ChangeFaster
			case mc.Change >= sameWithin:
				mc.Verdict = ChangeSlower
			default:
				mc.Verdict = ChangeSame
			}
		case mb.Done:
			mc.Verdict = ChangeNowDone
		case ma.Done:
			mc.Verdict = ChangeNotDone
		default:
			mc.Verdict = ChangeNeither
		}
		switch mc.Verdict {
		case ChangeFaster, ChangeNowDone:
			faster++
		case ChangeSlower, ChangeNotDone:
			slower++
		}
		c.Measures = append(c.Measures, mc)
	}
	compared := 0
	for _, m := range c.Measures {
		if m.Verdict != ChangeNotMatched {
			compared++
		}
	}
	switch {
	case compared == 0:
		c.Speed = SpeedNoMeasures
	case faster > 0 && slower > 0:
		c.Speed = SpeedMixed
	case faster > 0:
		c.Speed = SpeedFaster
	case slower > 0:
		c.Speed = SpeedSlower
	default:
		c.Speed = SpeedUnchanged
	}
	c.Score = ScoreChange{APoints: a.Points, APossible: a.Possible, BPoints: b.Points, BPossible: b.Possible,
		APercent: percent(a.Points, a.Possible), BPercent: percent(b.Points, b.Possible)}
	switch {
	case a.Possible <= 0 || b.Possible <= 0:
		c.Score.Verdict = ScoreNotScored
	case b.Points*a.Possible > a.Points*b.Possible: // b's share is larger, compared without rounding
		c.Score.Verdict = ScoreBetter
	case b.Points*a.Possible < a.Points*b.Possible:
		c.Score.Verdict = ScoreWorse
	default:
		c.Score.Verdict = ScoreSame
	}
	return c
}

func findMeasure(r *Result, name string) *Measure {
	for i := range r.Measures {
		if r.Measures[i].Name == name {
			m := r.Measures[i]
			return &m
		}
	}
	return nil
}

// Text is the comparison for a terminal: a table of the measures and the
// score, then the verdicts. Foreign text in it is made visible (visible);
// the caller still writes it through its terminal escaping.
func (c Comparison) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s  %s  (%s, %s)\n", oneLine(c.A.Scenario), stamp(c.A.Started), oneLine(string(c.A.Kind)), oneLine(c.A.Title))
	fmt.Fprintf(&b, "B: %s  %s  (%s, %s)\n\n", oneLine(c.B.Scenario), stamp(c.B.Started), oneLine(string(c.B.Kind)), oneLine(c.B.Title))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME TO\tA\tB\tCHANGE\tTARGET A\tTARGET B")
	for _, m := range c.Measures {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(m.Name), sideTook(m.A), sideTook(m.B), changeWords(m), sideTarget(m.A), sideTarget(m.B))
	}
	if len(c.Measures) == 0 {
		fmt.Fprintln(tw, "(none measured)\t\t\t\t\t")
	}
	fmt.Fprintf(tw, "score\t%s\t%s\t%s\t\t\n", scoreSide(c.Score.APoints, c.Score.APossible), scoreSide(c.Score.BPoints, c.Score.BPossible), scoreWords(c.Score))
	tw.Flush()
	fmt.Fprintf(&b, "\n%s\n", c.Summary())
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Summary is the verdict in one line: "B was faster on 2 of 3 measures
// and scored better (63% -> 88%)."
func (c Comparison) Summary() string {
	var faster, slower, compared int
	for _, m := range c.Measures {
		switch m.Verdict {
		case ChangeFaster, ChangeNowDone:
			faster++
		case ChangeSlower, ChangeNotDone:
			slower++
		}
		if m.Verdict != ChangeNotMatched {
			compared++
		}
	}
	var speed string
	switch c.Speed {
	case SpeedFaster:
		speed = fmt.Sprintf("B was faster on %d of %d measures and slower on none", faster, compared)
	case SpeedSlower:
		speed = fmt.Sprintf("B was slower on %d of %d measures and faster on none", slower, compared)
	case SpeedMixed:
		speed = fmt.Sprintf("B was faster on %d and slower on %d of %d measures", faster, slower, compared)
	case SpeedUnchanged:
		speed = fmt.Sprintf("no change in speed on the %d measures compared", compared)
	default:
		speed = "no times measured in both drills"
	}
	switch c.Score.Verdict {
	case ScoreNotScored:
		return speed + "; scores not comparable (a drill without expectations)."
	case ScoreSame:
		return fmt.Sprintf("%s; the score was the same (%d%%).", speed, c.Score.APercent)
	}
	return fmt.Sprintf("%s; the score was %s (%d%% -> %d%%).", speed, c.Score.Verdict, c.Score.APercent, c.Score.BPercent)
}

func sideTook(m *Measure) string {
	switch {
	case m == nil:
		return "-"
	case !m.Done:
		return "not reached"
	}
	return clock(m.Took)
}

func sideTarget(m *Measure) string {
	if m == nil || m.Target <= 0 {
		return "-"
	}
	if m.Done && m.Met {
		return clock(m.Target) + " met"
	}
	return clock(m.Target) + " missed"
}

func changeWords(m MeasureChange) string {
	switch m.Verdict {
	case ChangeFaster:
		return clock(-m.Change) + " faster"
	case ChangeSlower:
		return clock(m.Change) + " slower"
	case ChangeSame:
		return "same"
	case ChangeNotMatched:
		return "measured in one drill only"
	}
	return m.Verdict
}

func scoreSide(points, possible int) string {
	if possible <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%d%%)", points, possible, percent(points, possible))
}

func scoreWords(s ScoreChange) string {
	switch s.Verdict {
	case ScoreBetter, ScoreWorse:
		return fmt.Sprintf("%s (%+d points of 100)", s.Verdict, s.BPercent-s.APercent)
	}
	return s.Verdict
}

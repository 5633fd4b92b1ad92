package drill

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Closing is what the participants and the facilitator say at the end.
type Closing struct {
	Hotwash []Hotwash
	Ratings []ObjectiveRating // by objective ID: Rating and Note (Text is the scenario's)
	Plan    []Improvement
	Aborted string // why the exercise ended early, if it did
}

// End stops the exercise if it runs, settles what is still open as missed,
// and returns the Result. It checks the closing first (ratings of known
// objectives, P/S/M/U; improvements with capability, action, owner and a
// YYYY-MM-DD due date) and changes nothing when it is wrong. End returns
// the same Result when called again.
func (t *Tabletop) End(c Closing, who string) (*Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.result != nil {
		return t.result, nil
	}
	if err := t.checkClosing(c); err != nil {
		return nil, err
	}
	if err := t.stop(who); err != nil {
		return nil, err
	}
	now := t.clock.Now()
	for _, x := range t.expects {
		if x.in.state == InjectPlayed && x.outcome == OutcomePending {
			t.settle(x, OutcomeMissed, now, t.stopAt, "")
			t.add(now, t.stopAt, Entry{Kind: "expectation", Ref: x.e.ID, Text: "missed (answered, never judged): " + x.e.Text, Source: "clock"})
		}
	}
	r := &Result{
		Version: 1, Scenario: t.s.Name, Title: t.s.Title, Kind: KindTabletop,
		Techniques: append([]string{}, t.s.Techniques...),
		Started:    t.started, Ended: t.ended, Aborted: c.Aborted, Roles: t.people,
		Timeline: slices.Clone(t.timeline), Scores: t.scores(),
		Hotwash: c.Hotwash, Plan: c.Plan,
	}
	for _, sc := range r.Scores {
		r.Points += sc.Points
		r.Possible += sc.Of
	}
	for _, o := range t.s.Objectives {
		or := ObjectiveRating{ID: o.ID, Text: o.Text}
		for _, rt := range c.Ratings {
			if rt.ID == o.ID {
				or.Rating, or.Note = rt.Rating, rt.Note
			}
		}
		r.Objectives = append(r.Objectives, or)
	}
	t.result = r
	return r, nil
}

func (t *Tabletop) checkClosing(c Closing) error {
	var errs []error
	seen := map[string]bool{}
	for _, rt := range c.Ratings {
		known := slices.ContainsFunc(t.s.Objectives, func(o *Objective) bool { return o.ID == rt.ID })
		switch {
		case !known:
			errs = append(errs, fmt.Errorf("rating of %q: the scenario has no such objective", rt.ID))
		case seen[rt.ID]:
			errs = append(errs, fmt.Errorf("objective %s is rated twice", rt.ID))
		}
		seen[rt.ID] = true
		switch rt.Rating {
		case RatingP, RatingS, RatingM, RatingU:
		default:
			errs = append(errs, fmt.Errorf("rating %q of %s: use P (performed without challenges), S (with some), M (with major challenges) or U (unable to be performed)", rt.Rating, rt.ID))
		}
	}
	for i, im := range c.Plan {
		if strings.TrimSpace(im.Capability) == "" || strings.TrimSpace(im.Action) == "" || strings.TrimSpace(im.Owner) == "" {
			errs = append(errs, fmt.Errorf("improvement %d: give a capability, an action and an owner", i+1))
		}
		if _, err := time.Parse(time.DateOnly, im.Due); err != nil {
			errs = append(errs, fmt.Errorf("improvement %d: due %q: give a date as YYYY-MM-DD", i+1, im.Due))
		}
	}
	for i, h := range c.Hotwash {
		if strings.TrimSpace(h.Who) == "" {
			errs = append(errs, fmt.Errorf("hotwash %d: say who said it", i+1))
		}
	}
	return errors.Join(errs...)
}

func (t *Tabletop) scores() []Score {
	played := make([]*injectState, 0, len(t.injects))
	for _, in := range t.injects {
		if in.state == InjectPlayed {
			played = append(played, in)
		}
	}
	slices.SortStableFunc(played, func(a, b *injectState) int { return a.order - b.order })
	var out []Score
	for _, in := range played {
		for _, x := range t.expects {
			if x.in != in {
				continue
			}
			sc := Score{Inject: in.inj.ID, Expectation: x.e.ID, Text: x.e.Text, Outcome: x.outcome, Of: x.e.Points, Who: x.who}
			if x.outcome == OutcomePending && x.answered {
				sc.Who = x.answerWho // answered, waiting for the judgement
			}
			if x.outcome != OutcomePending {
				sc.At = x.at
			}
			if x.outcome == OutcomeMet {
				sc.Points = x.e.Points
			}
			if x.deadline > 0 {
				sc.Deadline = t.wallAt(x.deadline)
			}
			out = append(out, sc)
		}
	}
	return out
}

// FormatOffset writes an exercise time as +M:SS.mmm (+H:MM:SS.mmm from an
// hour on).
func FormatOffset(d time.Duration) string {
	d = d.Round(time.Millisecond)
	ms := int64(d / time.Millisecond)
	h, m, s, frac := ms/3600000, ms/60000%60, ms/1000%60, ms%1000
	if h > 0 {
		return fmt.Sprintf("+%d:%02d:%02d.%03d", h, m, s, frac)
	}
	return fmt.Sprintf("+%d:%02d.%03d", m, s, frac)
}

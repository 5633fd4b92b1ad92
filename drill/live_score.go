package drill

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// The scenario's injects and expectations in a live drill: presented to
// the team as they come due (interactive), and scored at the end by
// replaying what was observed, at the times observed, through the
// tabletop's own rules.

// fromClock is a clock whose first reading is the drill's start and
// every later one the time now: a tabletop started on it counts from the
// incident's engine time.
type fromClock struct {
	mu    sync.Mutex
	first time.Time
}

func (c *fromClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.first.IsZero() {
		t := c.first
		c.first = time.Time{}
		return t
	}
	return time.Now()
}

// presenter plays the scenario's injects to the team as they come due
// (at their offsets from the incident's start, or after what the drill
// observed), through Progress. It only presents: the scoring replays the
// observed times at the end. Each call presents what came due.
func (x *liveRun) presenter() func() {
	sc := *x.sc
	sc.Kind = KindTabletop
	tt, err := NewTabletop(&sc, &fromClock{first: x.t0}, x.sc.Roles)
	if err != nil || tt.Start("drill") != nil {
		return func() {}
	}
	recorded := map[string]bool{}
	shown := 0
	return func() {
		x.mu.Lock()
		var due []string
		for name := range x.marks {
			if !recorded[name] && sc.CheckEvent(name) == nil {
				due = append(due, name)
			}
		}
		x.mu.Unlock()
		for _, name := range due {
			recorded[name] = true
			_ = tt.Record(name, "team")
		}
		tt.Tick()
		es := tt.Entries(shown)
		shown += len(es)
		for _, e := range es {
			if e.Kind != "inject" || x.o.Progress == nil {
				continue
			}
			text := e.Text
			if in := tt.Inject(e.Ref); in != nil {
				if in.Text != "" {
					text += ": " + strings.TrimSpace(in.Text)
				}
				if in.Question != "" {
					text += " — " + in.Question
				}
			}
			e.Text, e.Source = "inject "+e.Ref+": "+text, "clock"
			x.pmu.Lock()
			x.o.Progress(e)
			x.pmu.Unlock()
		}
	}
}

// replayClock is a clock the scoring moves to each observed time.
type replayClock struct{ t time.Time }

func (c *replayClock) Now() time.Time { return c.t }

// score replays what was observed, at the times observed, through the
// scenario's injects and expectations (the tabletop's own rules: deadlines
// from when an inject is played, a result once recorded never changed),
// and returns the scores with the injects' and expectations' entries.
func (x *liveRun) score(t0 time.Time) ([]Score, []Entry) {
	if t0.IsZero() {
		return []Score{}, nil
	}
	sc := *x.sc
	sc.Kind = KindTabletop
	clk := &replayClock{t: t0}
	tt, err := NewTabletop(&sc, clk, x.sc.Roles)
	if err != nil || tt.Start("drill") != nil {
		return []Score{}, nil
	}
	who := "team"
	if !x.o.Interactive {
		who = "playbook " + orDash(x.sc.Playbook)
		if x.playbook != nil {
			who = "playbook " + x.playbook.Name
		}
	}
	x.mu.Lock()
	type ev struct {
		name string
		at   time.Time
	}
	var evs []ev
	for name, m := range x.marks {
		if err := sc.CheckEvent(name); err == nil {
			evs = append(evs, ev{name, m.at})
		}
	}
	x.mu.Unlock()
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	for _, e := range evs {
		if e.at.After(clk.t) {
			clk.t = e.at
		}
		_ = tt.Record(e.name, who)
	}
	end := time.Now()
	if end.Before(clk.t) {
		end = clk.t
	}
	clk.t = end
	r, err := tt.End(Closing{}, "drill")
	if err != nil {
		return []Score{}, nil
	}
	var extra []Entry
	for _, e := range r.Timeline {
		if e.Kind == "inject" || e.Kind == "expectation" {
			extra = append(extra, e)
		}
	}
	if r.Scores == nil {
		r.Scores = []Score{}
	}
	return r.Scores, extra
}

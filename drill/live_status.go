package drill

import (
	"cmp"
	"reflect"
	"slices"
	"time"
)

// LiveStatus is a live drill as it stands, for a front end that shows it
// while the team responds (the console's drill panel): which step it is
// in, when its clock started, each target with its time once met, the
// outcome checks as they pass, and the newest lines of its timeline. It is
// a copy: the receiver may keep it.
type LiveStatus struct {
	ID       string
	Scenario string
	Title    string
	Case     string // the case the response works in
	Suspect  string // the decoy's (or the service's) name on the engine
	Network  string // the drill's network
	Step     string // one of LiveSteps
	// Started is the clock's start (the engine's time of the incident),
	// zero until the incident begins.
	Started time.Time
	// Measures are the targets (detect, contain, evidence, restore), each
	// Done with its time once met. They are the drill's own measures: the
	// same marks the result is made of.
	Measures []Measure
	// Checks are the outcome checks: during the response those the drill
	// observes as they pass (the peer cut off, frozen, a case that
	// verifies; not OK while pending), then (Final) the drill's verdicts.
	Checks   []Check
	Final    bool
	Timeline []Entry   // the newest entries, oldest first
	Ended    bool      // the drill has ended: cleaned up, its result complete
	EndedAt  time.Time // when, with Ended
	Aborted  string    // why it ended early
}

// statusTail is how many timeline entries a LiveStatus carries.
const statusTail = 12

// setStep records the step the drill is in and tells Status.
func (x *liveRun) setStep(step string) {
	x.mu.Lock()
	x.cur = step
	x.mu.Unlock()
	x.emit(false)
}

// status is the drill as it stands.
func (x *liveRun) status(ended bool) LiveStatus {
	st := LiveStatus{ID: x.o.ID, Scenario: x.sc.Name, Title: x.sc.Title, Ended: ended}
	if x.sb != nil {
		st.Suspect, st.Network = x.sb.name(roleOf(x.dk)), x.sb.Network
	}
	x.mu.Lock()
	st.Step, st.Started, st.Case = x.cur, x.t0, x.caseID
	// In time order, as the report has it: entries arrive out of order
	// (a probe's line is told after the contain it measured).
	tl := slices.Clone(x.timeline)
	slices.SortStableFunc(tl, func(a, b Entry) int { return cmp.Compare(a.Offset, b.Offset) })
	st.Timeline = tl[max(0, len(tl)-statusTail):]
	st.Checks = slices.Clone(x.res.Checks)
	if ended {
		st.Aborted, st.EndedAt = x.res.Aborted, x.res.Ended
	}
	x.mu.Unlock()
	st.Final = len(st.Checks) > 0
	if st.Started.IsZero() {
		return st
	}
	st.Measures = x.measures()
	if st.Final {
		return st
	}
	if x.needContain() {
		c := Check{Name: "peer-unreachable", Detail: "pending: the decoy still reaches its peer"}
		if m, ok := x.getMark("probe-cut"); ok {
			c = Check{Name: c.Name, OK: true, Detail: "the drill's probe: " + m.detail}
		}
		st.Checks = append(st.Checks, c)
		c = Check{Name: "frozen", Detail: "pending: not paused"}
		if _, ok := x.firstEvent(func(e engineEvent) bool { return e.ID == x.target && e.Action == "pause" && e.Time.After(x.t0) }); ok {
			c = Check{Name: c.Name, OK: true, Detail: "the engine paused it"}
		}
		st.Checks = append(st.Checks, c)
	}
	c := Check{Name: "evidence-verifies", Detail: "pending: no capture of it in case " + st.Case + " verifies yet"}
	if m, ok := x.getMark(EventEvidence); ok {
		c = Check{Name: c.Name, OK: true, Detail: m.detail}
	}
	st.Checks = append(st.Checks, c)
	return st
}

// emit tells Status how the drill stands, when it changed since the last
// time (or the drill ended). One call at a time.
func (x *liveRun) emit(ended bool) {
	if x.o.Status == nil {
		return
	}
	st := x.status(ended)
	x.smu.Lock()
	defer x.smu.Unlock()
	if !ended && x.lastStatus != nil && reflect.DeepEqual(*x.lastStatus, st) {
		return
	}
	x.lastStatus = &st
	x.o.Status(st)
}

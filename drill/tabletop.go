package drill

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Clock tells the time. A tabletop reads it on every call; tests use a
// fake one that moves only when told.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Errors of a tabletop's calls; each is wrapped with what was refused.
var (
	ErrNotStarted = errors.New("the exercise has not started")
	ErrEnded      = errors.New("the exercise has ended")
	ErrRecorded   = errors.New("a result once recorded is not changed")
)

// InjectState is where an inject is in the exercise.
type InjectState string

const (
	InjectWaiting   InjectState = "waiting"   // its trigger has not come (or a reserve one, held)
	InjectScheduled InjectState = "scheduled" // its trigger came; it plays at Due
	InjectPlayed    InjectState = "played"
	InjectSkipped   InjectState = "skipped" // the facilitator skipped it; its expectations are not scored
)

// InjectStatus is one inject's state, for a front end.
type InjectStatus struct {
	Inject *Inject
	State  InjectState
	Due    time.Duration // when scheduled: the exercise time it plays at
	Played time.Duration // when played: the exercise time it was
	AdHoc  bool          // added by the facilitator during the exercise
}

// Tabletop runs a tabletop exercise: it plays the scenario's injects when
// they come due, records what the participants decide and do, scores the
// expectations as they are met and when their deadlines pass, and ends in
// a Result. It is pure logic over a Clock: a front end calls Tick often
// (every 100 ms is plenty) and prints the timeline entries that appear.
//
// Exercise time is the time since Start with the pauses taken out: while
// the facilitator has paused, no inject comes due and no deadline passes.
// Timeline offsets are exercise time; Entry.Time is the wall clock.
//
// An expectation can be met only after its inject was played. Once met or
// missed, its result is never changed: a deadline passing later leaves a
// met expectation met, and an event after a missed deadline is recorded in
// the timeline only. Expectations of injects that were never played
// (reserve injects not played, skipped ones, those not reached when the
// exercise ended) are not scored.
//
// A Tabletop is safe for concurrent use.
type Tabletop struct {
	mu     sync.Mutex
	s      *Scenario
	clock  Clock
	people Roles

	started, ended time.Time
	running        bool
	stopped        bool
	stopAt         time.Duration
	paused         bool
	pausedAt       time.Time
	pausedFor      time.Duration
	pauses         []pause

	injects []*injectState
	expects []*expectState
	adhoc   int
	order   int // play order

	timeline []Entry
	result   *Result
}

type pause struct {
	at  time.Duration // exercise time it began
	dur time.Duration
}

type injectState struct {
	inj      *Inject
	state    InjectState
	due      time.Duration
	playedAt time.Duration
	order    int
	adhoc    bool
}

type expectState struct {
	in       *injectState
	e        *Expectation
	outcome  Outcome
	deadline time.Duration // exercise time; 0: until the end
	at       time.Time
	atOff    time.Duration
	who      string
	late     bool // an event came after it was missed (noted once)
	// an answer given before the deadline: it waits for the facilitator's
	// judgement and no longer expires.
	answered    bool
	answeredAt  time.Time
	answeredOff time.Duration
	answerWho   string
}

// NewTabletop prepares an exercise of s; people names who takes part
// (Roles with people's names rather than role names).
func NewTabletop(s *Scenario, clock Clock, people Roles) (*Tabletop, error) {
	if s == nil || clock == nil {
		return nil, errors.New("a tabletop needs a scenario and a clock")
	}
	if s.Kind != KindTabletop {
		return nil, fmt.Errorf("scenario %s is a %s drill, not a tabletop (run it with `firebreak drill live`)", s.Name, s.Kind)
	}
	t := &Tabletop{s: s, clock: clock, people: people}
	for _, inj := range s.Injects {
		in := &injectState{inj: inj, state: InjectWaiting}
		if inj.Trigger == TriggerOffset {
			in.state, in.due = InjectScheduled, inj.At
		}
		t.injects = append(t.injects, in)
		for _, e := range inj.Expectations {
			t.expects = append(t.expects, &expectState{in: in, e: e, outcome: OutcomePending})
		}
	}
	return t, nil
}

// Start starts the exercise clock and plays the injects due at once.
func (t *Tabletop) Start(who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running || t.stopped {
		return errors.New("the exercise has already started")
	}
	t.started, t.running = t.clock.Now(), true
	t.add(t.started, 0, Entry{Kind: "start", Who: who, Text: t.s.Title, Source: "facilitator"})
	t.advance()
	return nil
}

// Tick plays the injects that have come due and marks missed the
// expectations whose deadline has passed. Every other call does this
// first too.
func (t *Tabletop) Tick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running && !t.stopped {
		t.advance()
	}
}

// Elapsed is the exercise time now.
func (t *Tabletop) Elapsed() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.elapsed(t.clock.Now())
}

// Paused says whether the facilitator has paused the exercise.
func (t *Tabletop) Paused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paused
}

// Ended says whether the exercise has been stopped.
func (t *Tabletop) Ended() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopped
}

// Entries returns the timeline from entry i on (a copy): a front end
// prints what appeared since it last looked.
func (t *Tabletop) Entries(i int) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i > len(t.timeline) {
		i = len(t.timeline)
	}
	return slices.Clone(t.timeline[i:])
}

// Inject finds an inject by ID, an ad-hoc one included.
func (t *Tabletop) Inject(id string) *Inject {
	t.mu.Lock()
	defer t.mu.Unlock()
	if in := t.inject(id); in != nil {
		return in.inj
	}
	return nil
}

// Injects is the state of every inject, in scenario order, ad-hoc ones
// last.
func (t *Tabletop) Injects() []InjectStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]InjectStatus, 0, len(t.injects))
	for _, in := range t.injects {
		out = append(out, InjectStatus{Inject: in.inj, State: in.state, Due: in.due, Played: in.playedAt, AdHoc: in.adhoc})
	}
	return out
}

// Scores is every expectation of the injects played so far, with its
// outcome (pending ones included), in the order the injects were played.
func (t *Tabletop) Scores() []Score {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scores()
}

// Record records an event the participants caused or found (contained,
// evidence, detected, artifact:file, ...; see Scenario.CheckEvent) and
// meets the open expectations of played injects that wait for it.
func (t *Tabletop) Record(event, who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("record " + event); err != nil {
		return err
	}
	if err := t.s.CheckEvent(event); err != nil {
		return err
	}
	if strings.HasPrefix(event, EventInject) || strings.HasPrefix(event, EventAnswered) {
		return fmt.Errorf("%s happens when an inject is played or answered: play or answer it instead", event)
	}
	kind := "action"
	if event == EventDetected || strings.HasPrefix(event, EventEvidenceOf) {
		kind = "finding"
	}
	t.occurNow(Entry{Kind: kind, Who: who, Ref: event, Text: event, Source: "console"}, event)
	return nil
}

// Decision records a decision; it meets expectations waiting for one.
func (t *Tabletop) Decision(text, who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("record a decision"); err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" {
		return errors.New("a decision needs its text: what was decided")
	}
	t.occurNow(Entry{Kind: "decision", Who: who, Text: text, Source: "console"}, EventDecision)
	return nil
}

// Answer records an answer to a played inject's question. An answer given
// before a deadline holds the inject's answer expectations open for the
// facilitator's judgement (Judge).
func (t *Tabletop) Answer(injectID, who, text string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("answer " + injectID); err != nil {
		return err
	}
	in := t.inject(injectID)
	switch {
	case in == nil:
		return fmt.Errorf("no inject %q", injectID)
	case in.state != InjectPlayed:
		return fmt.Errorf("inject %s has not been played (it is %s)", injectID, in.state)
	case in.inj.Question == "":
		return fmt.Errorf("inject %s asks no question: record a decision or a note instead", injectID)
	case strings.TrimSpace(text) == "":
		return errors.New("an answer needs its text")
	}
	now := t.clock.Now()
	cur := t.elapsed(now)
	for _, x := range t.expects {
		if x.in == in && x.e.Kind == ExpectAnswer && x.outcome == OutcomePending && !x.answered {
			x.answered, x.answeredAt, x.answeredOff, x.answerWho = true, now, cur, who
		}
	}
	t.add(now, cur, Entry{Kind: "answer", Who: who, Ref: injectID, Text: text, Source: "console"})
	t.occur(EventAnswered+injectID, now, cur, who)
	t.advance()
	return nil
}

// Judge is the facilitator's judgement of an expectation: met or not. It
// is how answer expectations are scored, and may settle any other that is
// still open. A result already recorded is refused (ErrRecorded).
func (t *Tabletop) Judge(expectationID string, met bool, who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.running {
		return fmt.Errorf("judge %s: %w", expectationID, ErrNotStarted)
	}
	if t.result != nil {
		return fmt.Errorf("judge %s: %w", expectationID, ErrEnded)
	}
	if !t.stopped {
		t.advance()
	}
	var x *expectState
	for _, e := range t.expects {
		if e.e.ID == expectationID {
			x = e
		}
	}
	switch {
	case x == nil:
		return fmt.Errorf("no expectation %q", expectationID)
	case x.in.state != InjectPlayed:
		return fmt.Errorf("expectation %s: its inject %s has not been played (it is %s)", expectationID, x.in.inj.ID, x.in.state)
	case x.outcome != OutcomePending:
		by := ""
		if x.who != "" {
			by = " by " + x.who
		}
		return fmt.Errorf("expectation %s was already %s at %s%s: %w", expectationID, x.outcome, FormatOffset(x.atOff), by, ErrRecorded)
	}
	now := t.clock.Now()
	cur := t.elapsed(now)
	if met {
		at, off, whoMet := now, cur, ""
		if x.answered {
			at, off, whoMet = x.answeredAt, x.answeredOff, x.answerWho
		}
		t.settle(x, OutcomeMet, at, off, whoMet)
	} else {
		t.settle(x, OutcomeMissed, now, cur, "")
	}
	verdict := "missed (judged not met): "
	if met {
		verdict = "met (judged): "
	}
	t.add(now, cur, Entry{Kind: "expectation", Who: who, Ref: x.e.ID, Text: verdict + x.e.Text, Source: "facilitator"})
	return nil
}

// Pause stops the exercise clock: nothing comes due and no deadline passes
// until Resume. Participants may still record what they do.
func (t *Tabletop) Pause(who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("pause"); err != nil {
		return err
	}
	if t.paused {
		return errors.New("the exercise is already paused")
	}
	t.advance()
	now := t.clock.Now()
	cur := t.elapsed(now)
	t.paused, t.pausedAt = true, now
	t.add(now, cur, Entry{Kind: "pause", Who: who, Text: "paused", Source: "facilitator"})
	return nil
}

// Resume starts the exercise clock again.
func (t *Tabletop) Resume(who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("resume"); err != nil {
		return err
	}
	if !t.paused {
		return errors.New("the exercise is not paused")
	}
	now := t.clock.Now()
	cur := t.elapsed(now)
	d := max(now.Sub(t.pausedAt), 0)
	t.pauses = append(t.pauses, pause{at: cur, dur: d})
	t.pausedFor += d
	t.paused = false
	t.add(now, cur, Entry{Kind: "resume", Who: who, Text: "resumed after " + d.Round(time.Millisecond).String(), Source: "facilitator"})
	t.advance()
	return nil
}

// Skip withdraws an inject that has not been played: it will not be, and
// its expectations are not scored.
func (t *Tabletop) Skip(injectID, who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("skip " + injectID); err != nil {
		return err
	}
	in := t.inject(injectID)
	switch {
	case in == nil:
		return fmt.Errorf("no inject %q", injectID)
	case in.state == InjectPlayed || in.state == InjectSkipped:
		return fmt.Errorf("inject %s was already %s", injectID, in.state)
	}
	now := t.clock.Now()
	in.state = InjectSkipped
	t.add(now, t.elapsed(now), Entry{Kind: "skip", Who: who, Ref: injectID, Text: in.inj.Title, Source: "facilitator"})
	return nil
}

// PlayReserve plays an inject now: a reserve one held for the facilitator,
// or one whose trigger has not come yet, brought forward.
func (t *Tabletop) PlayReserve(injectID, who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("play " + injectID); err != nil {
		return err
	}
	in := t.inject(injectID)
	switch {
	case in == nil:
		return fmt.Errorf("no inject %q", injectID)
	case in.state == InjectPlayed || in.state == InjectSkipped:
		return fmt.Errorf("inject %s was already %s", injectID, in.state)
	}
	now := t.clock.Now()
	t.play(in, now, t.elapsed(now), who, "facilitator")
	t.advance()
	return nil
}

// AddInject plays an ad-hoc inject the facilitator wrote during the
// exercise (X1, X2, ...); it has no expectations.
func (t *Tabletop) AddInject(title, text, who string) (*Inject, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("add an inject"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(title) == "" {
		return nil, errors.New("an inject needs a title")
	}
	id := ""
	for id == "" || t.inject(id) != nil {
		t.adhoc++
		id = fmt.Sprintf("X%d", t.adhoc)
	}
	inj := &Inject{ID: id, Trigger: TriggerReserve, Title: title, Text: text}
	in := &injectState{inj: inj, state: InjectWaiting, adhoc: true}
	t.injects = append(t.injects, in)
	now := t.clock.Now()
	t.play(in, now, t.elapsed(now), who, "facilitator")
	t.advance()
	return inj, nil
}

// Note records a remark in the timeline.
func (t *Tabletop) Note(text, who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.live("note"); err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" {
		return errors.New("a note needs its text")
	}
	now := t.clock.Now()
	t.add(now, t.elapsed(now), Entry{Kind: "note", Who: who, Text: text, Source: "console"})
	return nil
}

// Stop ends the exercise clock. Open expectations are missed, except
// answers given in time that wait for the facilitator's judgement: Judge
// may still settle those until End. Stopping twice is a no-op.
func (t *Tabletop) Stop(who string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stop(who)
}

func (t *Tabletop) stop(who string) error {
	if !t.running {
		return fmt.Errorf("stop: %w", ErrNotStarted)
	}
	if t.stopped {
		return nil
	}
	t.advance()
	now := t.clock.Now()
	cur := t.elapsed(now)
	for _, x := range t.expects {
		if x.in.state == InjectPlayed && x.outcome == OutcomePending && !x.answered {
			t.settle(x, OutcomeMissed, now, cur, "")
			t.add(now, cur, Entry{Kind: "expectation", Ref: x.e.ID, Text: "missed (the exercise ended): " + x.e.Text, Source: "clock"})
		}
	}
	t.stopped, t.stopAt, t.ended = true, cur, now
	if t.paused {
		t.pauses = append(t.pauses, pause{at: cur, dur: max(now.Sub(t.pausedAt), 0)})
		t.paused = false
	}
	t.add(now, cur, Entry{Kind: "end", Who: who, Text: "the exercise ended", Source: "facilitator"})
	return nil
}

// live refuses a call before Start or after Stop, and plays what came due.
func (t *Tabletop) live(what string) error {
	if !t.running {
		return fmt.Errorf("%s: %w", what, ErrNotStarted)
	}
	if t.stopped {
		return fmt.Errorf("%s: %w", what, ErrEnded)
	}
	t.advance()
	return nil
}

func (t *Tabletop) inject(id string) *injectState {
	for _, in := range t.injects {
		if in.inj.ID == id {
			return in
		}
	}
	return nil
}

// elapsed is the exercise time at now.
func (t *Tabletop) elapsed(now time.Time) time.Duration {
	switch {
	case !t.running:
		return 0
	case t.stopped:
		return t.stopAt
	}
	d := now.Sub(t.started) - t.pausedFor
	if t.paused {
		d -= now.Sub(t.pausedAt)
	}
	return max(d, 0)
}

// wallAt is the wall time of exercise time d: the start, plus d, plus the
// pauses that began before it.
func (t *Tabletop) wallAt(d time.Duration) time.Time {
	w := t.started.Add(d)
	for _, p := range t.pauses {
		if p.at < d {
			w = w.Add(p.dur)
		}
	}
	return w
}

func (t *Tabletop) add(now time.Time, at time.Duration, e Entry) {
	e.Time = now
	e.Offset = Millis(at / time.Millisecond)
	t.timeline = append(t.timeline, e)
}

// advance plays, in order of time, the injects that came due and marks
// missed the expectations whose deadline passed, up to the exercise time
// now. Each happens at its own time; a play can schedule further injects
// (after inject:ID) that this same pass plays when they are due.
func (t *Tabletop) advance() {
	cur := t.elapsed(t.clock.Now())
	for {
		var next *injectState
		for _, in := range t.injects {
			if in.state == InjectScheduled && in.due <= cur && (next == nil || in.due < next.due) {
				next = in
			}
		}
		var exp *expectState
		for _, x := range t.expects {
			if x.outcome == OutcomePending && x.in.state == InjectPlayed && x.deadline > 0 && !x.answered && x.deadline < cur &&
				(exp == nil || x.deadline < exp.deadline) {
				exp = x
			}
		}
		switch {
		case next != nil && (exp == nil || next.due <= exp.deadline):
			t.play(next, t.wallAt(next.due), next.due, "", "clock")
		case exp != nil:
			w := t.wallAt(exp.deadline)
			t.settle(exp, OutcomeMissed, w, exp.deadline, "")
			t.add(w, exp.deadline, Entry{Kind: "expectation", Ref: exp.e.ID, Text: "missed (deadline passed): " + exp.e.Text, Source: "clock"})
		default:
			return
		}
	}
}

// play presents an inject at exercise time at and starts its expectations'
// deadlines.
func (t *Tabletop) play(in *injectState, now time.Time, at time.Duration, who, source string) {
	t.order++
	in.state, in.playedAt, in.order = InjectPlayed, at, t.order
	for _, x := range t.expects {
		if x.in == in && x.e.Deadline > 0 {
			x.deadline = at + x.e.Deadline
		}
	}
	t.add(now, at, Entry{Kind: "inject", Who: who, Ref: in.inj.ID, Text: in.inj.Title, Source: source})
	t.occur(EventInject+in.inj.ID, now, at, who)
}

// occurNow records entry e now and the event it is.
func (t *Tabletop) occurNow(e Entry, event string) {
	now := t.clock.Now()
	cur := t.elapsed(now)
	idx := len(t.timeline)
	t.add(now, cur, e)
	if late := t.occur(event, now, cur, e.Who); len(late) > 0 {
		t.timeline[idx].Text += " (late: " + strings.Join(late, ", ") + ")"
	}
	t.advance()
}

// occur is an event happening at exercise time at: it meets the open
// expectations of played injects that wait for it, and schedules the
// injects that follow it (the first time only). It returns the missed
// expectations it came too late for.
func (t *Tabletop) occur(event string, now time.Time, at time.Duration, who string) []string {
	var late []string
	for _, x := range t.expects {
		if x.e.Event != event || x.in.state != InjectPlayed || x.e.Kind == ExpectAnswer {
			continue
		}
		switch x.outcome {
		case OutcomePending:
			t.settle(x, OutcomeMet, now, at, who)
			t.add(now, at, Entry{Kind: "expectation", Who: who, Ref: x.e.ID, Text: "met: " + x.e.Text, Source: "clock"})
		case OutcomeMissed:
			if !x.late {
				x.late = true
				late = append(late, fmt.Sprintf("%s was missed at %s", x.e.ID, FormatOffset(x.atOff)))
			}
		}
	}
	for _, in := range t.injects {
		if in.state == InjectWaiting && in.inj.Trigger == TriggerAfter && in.inj.After == event {
			in.state, in.due = InjectScheduled, at+in.inj.At
		}
	}
	return late
}

// settle records an expectation's result, once: a result recorded is
// never changed.
func (t *Tabletop) settle(x *expectState, o Outcome, at time.Time, off time.Duration, who string) {
	if x.outcome != OutcomePending {
		return
	}
	x.outcome, x.at, x.atOff, x.who = o, at, off, who
}

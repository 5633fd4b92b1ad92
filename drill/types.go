// Package drill rehearses the response: tabletop exercises (injects,
// decisions, scoring, a hotwash) and live-fire drills against decoy
// containers that behave like an incident without endangering the host,
// measured from the engine's and the journal's own timestamps. Both end in
// an after-action report. Drills drive the same playbooks, case sessions
// and console as a real incident.
package drill

import (
	"time"

	"firebreak/playbooks"
)

// Kind is what a scenario exercises.
type Kind string

const (
	KindTabletop Kind = "tabletop" // discussion: injects and decisions, no engine
	KindLive     Kind = "live"     // live fire: decoys on the engine
)

// Scenario is a parsed drill scenario. Positions point into its source, as
// a playbook's do, so a validation error names file:line:column.
type Scenario struct {
	Name        string
	Kind        Kind
	Title       string
	Narrative   string
	Objectives  []*Objective
	Roles       Roles
	Injects     []*Inject // the master scenario events list, in file order
	Playbook    string    // the playbook the team is expected to use ("" for none)
	Targets     Targets   // time targets
	Techniques  []string  // ATT&CK for Containers technique IDs, e.g. T1611
	Decoy       string    // live: the decoy kind (see Decoys); "" for tabletop
	Source      []byte
	Pos         playbooks.Pos
	Description string // one line for listings; Title when empty
}

// Objective is one thing the exercise is to show the team can do; the
// facilitator rates it at the end.
type Objective struct {
	ID, Text string
	Pos      playbooks.Pos
}

// Roles name who takes part.
type Roles struct {
	Facilitator string
	Responders  []string
	Observers   []string
}

// Trigger says when an inject is played.
type Trigger string

const (
	TriggerOffset  Trigger = "offset"  // At after the start
	TriggerAfter   Trigger = "after"   // when an event happened (After), plus At
	TriggerReserve Trigger = "reserve" // held for the facilitator to play
)

// Events an inject can follow (TriggerAfter) and an expectation can wait
// for: what the drill observes, never a click.
const (
	EventDetected   = "detected"  // a triage finding names the decoy
	EventContained  = "contained" // network cut verified by probe, frozen
	EventEvidence   = "evidence"  // a bundle of the decoy verified
	EventRestored   = "restored"  // the service answers again
	EventInject     = "inject:"   // prefix: another inject was played ("inject:I2")
	EventDecision   = "decision"  // a responder recorded a decision (tabletop)
	EventAnswered   = "answered:" // prefix: an inject's question was answered ("answered:I3")
	EventPlaybook   = "playbook:" // prefix: a playbook run finished ("playbook:escape-suspected")
	EventEvidenceOf = "artifact:" // prefix: the evidence holds a planted artifact ("artifact:file")
)

// Inject is one event of the master scenario events list.
type Inject struct {
	ID           string
	Trigger      Trigger
	At           time.Duration // offset from the start, or after the After event
	After        string        // the event it follows, with TriggerAfter
	Title        string
	Text         string   // what the participants are told
	Question     string   // what they must answer ("" for none)
	To           []string // roles it goes to; none: everyone
	Expectations []*Expectation
	Pos          playbooks.Pos
}

// ExpectKind is what an expectation waits for.
type ExpectKind string

const (
	ExpectAction  ExpectKind = "action"  // an act happened (Event names it)
	ExpectFinding ExpectKind = "finding" // a triage finding or captured artifact (Event names it)
	ExpectAnswer  ExpectKind = "answer"  // the inject's question answered, judged by the facilitator
)

// Expectation is what the team should do after an inject, worth Points if
// met within Deadline of the inject being played.
type Expectation struct {
	ID       string
	Kind     ExpectKind
	Event    string // for action and finding: the event that meets it
	Text     string
	Points   int
	Deadline time.Duration // 0: until the end
	Pos      playbooks.Pos
}

// Targets are the time goals of a drill, each from the start.
type Targets struct {
	Detect, Contain, Evidence, Restore time.Duration // 0: no target
}

// Rating is the facilitator's judgement of an objective, in the words
// exercise planners use (HSEEP).
type Rating string

const (
	RatingP Rating = "P" // performed without challenges
	RatingS Rating = "S" // performed with some challenges
	RatingM Rating = "M" // performed with major challenges
	RatingU Rating = "U" // unable to be performed
)

// RatingText words a rating.
func RatingText(r Rating) string {
	switch r {
	case RatingP:
		return "performed without challenges"
	case RatingS:
		return "performed with some challenges"
	case RatingM:
		return "performed with major challenges"
	case RatingU:
		return "unable to be performed"
	}
	return "not rated"
}

// Outcome is an expectation's result.
type Outcome string

const (
	OutcomePending Outcome = "pending"
	OutcomeMet     Outcome = "met"
	OutcomeMissed  Outcome = "missed"
)

// Entry is one line of a drill's timeline.
type Entry struct {
	Time   time.Time `json:"time"`
	Offset Millis    `json:"offset_ms"` // from the start, at 100 ms resolution or better
	Kind   string    `json:"kind"`      // start, inject, decision, action, note, expectation, measure, pause, resume, end, ...
	Who    string    `json:"who,omitempty"`
	Ref    string    `json:"ref,omitempty"` // inject or expectation ID
	Text   string    `json:"text"`
	Source string    `json:"source,omitempty"` // where the time came from: engine, journal, console, facilitator
}

// Millis is a duration in whole milliseconds in JSON.
type Millis int64

// Score is one expectation's result.
type Score struct {
	Inject      string    `json:"inject"`
	Expectation string    `json:"expectation"`
	Text        string    `json:"text"`
	Outcome     Outcome   `json:"outcome"`
	Points      int       `json:"points"` // earned
	Of          int       `json:"of"`     // possible
	At          time.Time `json:"at,omitzero"`
	Deadline    time.Time `json:"deadline,omitzero"`
	Who         string    `json:"who,omitempty"`
}

// Measure is one time to X, measured and against its target.
type Measure struct {
	Name   string `json:"name"` // detect, contain, evidence, restore
	Took   Millis `json:"took_ms"`
	Target Millis `json:"target_ms,omitempty"`
	Met    bool   `json:"met"`
	Source string `json:"source"` // engine, journal, probe, ...
	Done   bool   `json:"done"`   // false: never happened in the drill
}

// Check is one outcome check of a live drill (the decoy cannot reach its
// peer; the planted file is in the fs diff; ...).
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// ObjectiveRating is an objective with its rating.
type ObjectiveRating struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Rating Rating `json:"rating"`
	Note   string `json:"note,omitempty"`
}

// Hotwash is what the participants said at the end.
type Hotwash struct {
	Who     string   `json:"who"`
	Strong  []string `json:"went_well,omitempty"`
	Improve []string `json:"to_improve,omitempty"`
}

// Improvement is one corrective action of the improvement plan.
type Improvement struct {
	Capability string `json:"capability"`
	Action     string `json:"action"`
	Owner      string `json:"owner"`
	Due        string `json:"due"` // a date, YYYY-MM-DD
}

// Result is everything a drill produced, the input of every report.
type Result struct {
	Version    int               `json:"version"`
	Scenario   string            `json:"scenario"`
	Title      string            `json:"title"`
	Kind       Kind              `json:"kind"`
	Techniques []string          `json:"techniques"`
	Started    time.Time         `json:"started"`
	Ended      time.Time         `json:"ended"`
	Aborted    string            `json:"aborted,omitempty"` // why it ended early
	Roles      Roles             `json:"roles"`
	Timeline   []Entry           `json:"timeline"`
	Scores     []Score           `json:"scores"`
	Points     int               `json:"points"`
	Possible   int               `json:"possible"`
	Measures   []Measure         `json:"measures,omitempty"`
	Checks     []Check           `json:"checks,omitempty"`
	Objectives []ObjectiveRating `json:"objectives"`
	Hotwash    []Hotwash         `json:"hotwash,omitempty"`
	Plan       []Improvement     `json:"improvement_plan,omitempty"`
	Case       string            `json:"case,omitempty"`    // the evidence case of a live drill
	Journal    string            `json:"journal,omitempty"` // the playbook run's journal
	Findings   []string          `json:"findings,omitempty"`
}

package playbooks

import (
	"fmt"
	"time"

	"firebreak/internal/progress"
	"firebreak/runtime"
)

// Event is one progress event of a run; the CLI prints it as text or as a
// JSON line, the TUI renders it. Type is under "event" in JSON, so that a
// front end's own envelope may use "type".
type Event struct {
	Type       EventType `json:"event"`
	Time       time.Time `json:"time"`
	Case       string    `json:"case"`
	Playbook   string    `json:"playbook"`
	Target     string    `json:"target,omitempty"`
	TargetName string    `json:"target_name,omitempty"`
	Step       string    `json:"step,omitempty"`
	Action     string    `json:"action,omitempty"`
	Status     Status    `json:"status,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	// Progress is how far a step_progress event's step has got, when the
	// action counts (files and bytes, and their totals when known). New
	// in h14: older events and journals have none.
	Progress *progress.Count `json:"progress,omitempty"`
	Error    string          `json:"error,omitempty"`
	Outputs  map[string]any  `json:"outputs,omitempty"`
}

// StepReport is one step's outcome for one target.
type StepReport struct {
	ID       string         `json:"id"`
	Action   string         `json:"action"`
	Status   Status         `json:"status"`
	Attempts int            `json:"attempts,omitempty"`
	Error    string         `json:"error,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Resumed  bool           `json:"resumed,omitempty"` // finished in an earlier, interrupted run
}

// TargetReport is one target's outcome.
type TargetReport struct {
	Container runtime.Container `json:"container"`
	Status    Status            `json:"status"`
	Steps     []StepReport      `json:"steps"`
	Error     string            `json:"error,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Case     string         `json:"case"`
	Playbook string         `json:"playbook"`
	DryRun   bool           `json:"dry_run"`
	Targets  []TargetReport `json:"targets"`
	Journal  string         `json:"journal,omitempty"`
}

// StepFailedError says a step failed on a target; Err is why.
type StepFailedError struct {
	Target, Step string
	Err          error
}

func (e *StepFailedError) Error() string {
	return fmt.Sprintf("%s: step %s failed: %v", e.Target, e.Step, e.Err)
}

func (e *StepFailedError) Unwrap() error { return e.Err }

// ApprovalMissingError says a step needed an approval no one gave; the run
// stopped there (fail closed).
type ApprovalMissingError struct{ Target, Step, Prompt, Why string }

func (e *ApprovalMissingError) Error() string {
	why := e.Why
	if why == "" {
		why = "none was given"
	}
	return fmt.Sprintf("%s: step %s needs approval (%q): %s; the run stopped there. Answer on a terminal, or pass --approve %s (or --yes), and --resume", e.Target, e.Step, e.Prompt, why, e.Step)
}

// LockedError says another run holds a target.
type LockedError struct{ Target, Holder string }

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is held by another run: %s; wait for it, or resume that case", e.Target, e.Holder)
}

// RecordError says a record of what happened (a journal line, a custody
// entry) could not be written. It fails the step and the run: a response
// whose record can quietly miss an entry cannot be trusted or resumed.
type RecordError struct {
	What string // which record, e.g. "journal step_finished of step isolate for web-1"
	Err  error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("could not write the %s: %v", e.What, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// event fills the fields every event of a run shares; t and s may be zero.
func (r *runner) event(typ EventType, t runtime.Container, s *Step) Event {
	ev := Event{Type: typ, Time: time.Now().UTC(), Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name}
	if s != nil {
		ev.Step, ev.Action = s.ID, s.Action
	}
	return ev
}

func (e *Engine) emit(ev Event) {
	if e.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	e.Events(ev)
}

// targetLabel names a target in errors: name and short ID.
func targetLabel(t runtime.Container) string {
	if t.Name == "" {
		return t.ShortID()
	}
	return t.Name + " (" + t.ShortID() + ")"
}

package playbooks

// Status is the outcome of a step, a target or a run.
type Status string

const (
	StatusOK              Status = "ok"
	StatusFailed          Status = "failed"
	StatusSkipped         Status = "skipped" // its when condition was false
	StatusBlocked         Status = "blocked" // a step it needs did not succeed; its own dependents are blocked too
	StatusApprovalMissing Status = "approval-missing"
	StatusUndone          Status = "undone"
	StatusRefused         Status = "refused"
	StatusPlanned         Status = "planned" // dry run: what would run
	StatusNotRun          Status = "not-run" // the run stopped before it
)

// Succeeded reports whether a step with this status lets its dependents run
// (and a resumed run leaves it be). A blocked step does not: its need failed,
// so what depends on it must not run, and a resume runs it again.
func (s Status) Succeeded() bool { return s == StatusOK || s == StatusSkipped }

// EventType names what happened, in events and in journal records alike.
type EventType string

const (
	EventPlan            EventType = "plan" // dry run: one per step and target
	EventRunStarted      EventType = "run_started"
	EventRunResumed      EventType = "run_resumed"
	EventStepStarted     EventType = "step_started"
	EventStepProgress    EventType = "step_progress"
	EventStepFinished    EventType = "step_finished"
	EventStepUndone      EventType = "step_undone"
	EventNeedsApproval   EventType = "needs_approval"
	EventTargetFinished  EventType = "target_finished"
	EventEvidenceAdopted EventType = "evidence_adopted"
	EventRunFinished     EventType = "run_finished"
)

// OnFailure is what a step's failure does to the rest of its target's steps.
type OnFailure string

const (
	OnFailureAbort    OnFailure = "abort"    // stop the target's run (the default)
	OnFailureContinue OnFailure = "continue" // go on; dependents are skipped
	OnFailureUndo     OnFailure = "undo"     // stop, and undo the target's finished state-changing steps
)

// TargetFailure is what one target's failure does to the other targets.
type TargetFailure string

const (
	TargetFailureContinue TargetFailure = "continue" // the other targets go on (the default)
	TargetFailureAbort    TargetFailure = "abort"    // a failed target stops the run for all
)

package playbooks

import (
	"slices"

	"firebreak/runtime"
)

// Waiting is what a case's run waits for: the steps that stopped for an
// approval nobody gave (`firebreak approve CASE STEP...` resumes it).
type Waiting struct {
	Case     string
	Playbook string              // the playbook the case's run started with
	Targets  []runtime.Container // its targets, as the run started
	Steps    []WaitingStep       // in journal order; none when nothing waits
}

// WaitingStep is one step of one target that waits for an approval.
type WaitingStep struct {
	Step   string
	Target runtime.Container
}

// StepIDs are the waiting steps' IDs, each once, in order: what `approve`
// names.
func (w Waiting) StepIDs() []string {
	var out []string
	for _, s := range w.Steps {
		if !slices.Contains(out, s.Step) {
			out = append(out, s.Step)
		}
	}
	return out
}

// WaitingOf reads from a case's journal records what its run waits for: a
// step whose last record is its approval-missing end. A step started again
// since (a resumed run under way) or finished otherwise does not wait.
func WaitingOf(caseID string, recs []Record) Waiting {
	w := Waiting{Case: caseID}
	type key struct{ target, step string }
	last := map[key]Record{}
	var order []key
	for _, r := range recs {
		switch r.Type {
		case EventRunStarted:
			if w.Playbook == "" {
				w.Playbook, w.Targets = r.Playbook, r.Targets
			}
		case EventStepStarted, EventStepFinished:
			k := key{r.Target, r.Step}
			if _, seen := last[k]; !seen {
				order = append(order, k)
			}
			last[k] = r
		}
	}
	for _, k := range order {
		r := last[k]
		if r.Type != EventStepFinished || r.Status != StatusApprovalMissing {
			continue
		}
		t := runtime.Container{ID: k.target}
		for _, c := range w.Targets {
			if c.ID == k.target {
				t = c
			}
		}
		w.Steps = append(w.Steps, WaitingStep{Step: k.step, Target: t})
	}
	return w
}

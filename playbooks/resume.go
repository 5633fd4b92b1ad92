package playbooks

import (
	"fmt"

	"firebreak/runtime"
)

// finishedSteps are the steps a resumed run does not repeat: target ID ->
// step ID -> the journal's step_finished record.
type finishedSteps map[string]map[string]Record

// loadResume reads the case's journal for a resumed run: what finished, and
// the targets and parameters of the run it resumes when none are given. The
// playbook must be the one the case started with, byte for byte.
func (e *Engine) loadResume(pb *Playbook, pbSHA string, opts *RunOptions) (finishedSteps, error) {
	recs, err := LoadJournal(e.StateDir, opts.Case)
	if err != nil {
		return nil, &runtime.RefusedError{Reason: fmt.Sprintf("cannot resume case %s: %v", opts.Case, err)}
	}
	done := finishedSteps{}
	var started *Record
	for i := range recs {
		r := recs[i]
		switch r.Type {
		case EventRunStarted:
			started = &recs[i]
		case EventStepFinished:
			if r.Status.Succeeded() {
				if done[r.Target] == nil {
					done[r.Target] = map[string]Record{}
				}
				done[r.Target][r.Step] = r
			}
		}
	}
	if started == nil {
		return nil, &runtime.RefusedError{Reason: fmt.Sprintf("case %s has no run to resume", opts.Case)}
	}
	if started.PlaybookSHA != pbSHA {
		return nil, &runtime.RefusedError{Reason: fmt.Sprintf("playbook %s changed since case %s started (sha256 %.12s, now %.12s): resume with the same playbook", pb.Name, opts.Case, started.PlaybookSHA, pbSHA)}
	}
	if len(opts.Targets) == 0 {
		opts.Targets = started.Targets
	}
	if opts.Params == nil {
		opts.Params = started.Params
	}
	return done, nil
}

package playbooks

import (
	"errors"
	"fmt"
	"io/fs"

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
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NoRunError{Case: opts.Case, StateDir: e.StateDir}
	}
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
		return nil, &NoRunError{Case: opts.Case, StateDir: e.StateDir}
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

// NoRunError says there is no run of the case to resume: a case ID or state
// directory mistyped, or a case never run here. The user fixes it by
// changing the command line.
type NoRunError struct{ Case, StateDir string }

func (e *NoRunError) Error() string {
	return fmt.Sprintf("no run of case %s to resume in %s (hint: check --resume and --state-dir; `ls %s/runs` lists the cases run here)", e.Case, e.StateDir, e.StateDir)
}

// BadInput marks it as bad input for front ends.
func (e *NoRunError) BadInput() bool { return true }

package tui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"firebreak/alerts"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/playbooks"
)

// Alerts reads the intake journal `firebreak serve` keeps in the state
// directory, past from (alerts.ReadTail, the reading `alerts ls` does).
func (b *Sessions) Alerts(ctx context.Context, from alerts.Cursor, last int) (alerts.Tail, error) {
	return alerts.ReadTail(filepath.Join(b.opts.StateDir, "alerts"), from, last)
}

// Waiting reads the case's run journal (playbooks.LoadJournal), as
// `firebreak approve` does to find the playbook it resumes.
func (b *Sessions) Waiting(ctx context.Context, caseID string) (*playbooks.Waiting, error) {
	if err := evidence.CheckCaseID(caseID); err != nil {
		return nil, err
	}
	recs, err := playbooks.LoadJournal(b.opts.StateDir, caseID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("case %s has no run journal in %s", caseID, b.opts.StateDir)
	}
	if err != nil {
		return nil, err
	}
	w := playbooks.WaitingOf(caseID, recs)
	return &w, nil
}

// resume runs `firebreak run PLAYBOOK --resume CASE --approve STEP...` on
// the engine of r's first target: the targets and parameters are the
// journal's, as `firebreak approve` gives none.
func (b *Sessions) resume(ctx context.Context, s *app.Session, pb *playbooks.Playbook, r RunRequest) (*playbooks.Report, error) {
	rep, err := s.Run(ctx, app.RunSpec{Case: r.Case, Playbook: pb, Resume: true, Approve: r.Approve, Parallel: 8, Events: r.Events, Approver: r.Approver})
	if err == nil {
		err = reportError(rep)
	}
	return rep, err
}

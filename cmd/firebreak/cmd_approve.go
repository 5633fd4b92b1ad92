package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"firebreak/playbooks"
)

// newApproveCommand answers a run that stopped at a step needing approval
// (a run serve started from an alert, or any scripted run without --yes):
// it resumes the case with those steps approved, as `firebreak run
// PLAYBOOK --resume CASE --approve STEP` does, finding the playbook in the
// case's journal.
func newApproveCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "approve CASE STEP...",
		Short: "Approve the steps a stopped run waits for, and resume it",
		Long: `Approve resumes the run of CASE with the named steps approved: the run a
rule of 'firebreak serve' started without approving them (its outcome in
'firebreak alerts ls' is needs-approval), or any run that stopped at an
approval. Finished steps are not repeated. It is 'firebreak run PLAYBOOK
--resume CASE --approve STEP', with the playbook read from the case's journal.`,
		Example: `  firebreak approve case-20261128-101500-3f2a91 hand_over`,
		Args:    withUsage(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			caseID := args[0]
			recs, err := playbooks.LoadJournal(g.StateDir, caseID)
			if errors.Is(err, fs.ErrNotExist) {
				return usagef("case %s has no run journal in %s: `firebreak alerts ls` names the cases serve started", caseID, g.StateDir)
			}
			if err != nil {
				return err
			}
			name := ""
			for _, r := range recs {
				if r.Playbook != "" {
					name = r.Playbook
					break
				}
			}
			if name == "" {
				return usagef("case %s: its journal names no playbook", caseID)
			}
			o.Resume, o.Approve = caseID, args[1:]
			return runRun(cmd.Context(), g, o, name, d)
		},
	}
	o.store.AddFlags(cmd)
	cmd.Flags().StringSliceVar(&o.Dirs, "playbooks", splitList(os.Getenv("FIREBREAK_PLAYBOOKS")), "directories with your own playbooks ($FIREBREAK_PLAYBOOKS)")
	o.Parallel = 8
	return cmd
}

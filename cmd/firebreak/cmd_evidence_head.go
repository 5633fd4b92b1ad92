package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"firebreak/evidence"
)

func newEvidenceHeadCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "head CASE",
		Short: "Print the head of the case's custody chain (one per host) to keep outside the store",
		Long: `Head prints the hash of the newest custody entry of each host's runs in the
case. Kept outside the store (a ticket, a chat, a log server), it anchors the
case: 'firebreak evidence verify CASE --head HASH' fails when the runs up to
it were removed. Collect and run print it when they extend the case. Head
reads the manifests as they are; verify checks them.`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvidenceHead(cmd.Context(), g, o, args[0], d)
		},
	}
	o.addLocationFlags(cmd)
	o.addSpoolDirFlag(cmd)
	return cmd
}

func runEvidenceHead(ctx context.Context, g *globalOptions, o *storeOptions, caseID string, d *deps) error {
	if err := evidence.CheckCaseID(caseID); err != nil {
		return usagef("%v", err)
	}
	s, err := openReading(o)
	if err != nil {
		return err
	}
	heads, err := evidence.Heads(ctx, s, caseID)
	if errors.Is(err, evidence.ErrNotFound) {
		return usagef("%v (firebreak evidence ls --store '%s' lists the cases)", err, s)
	}
	if err != nil {
		return err
	}
	if g.Output == "json" {
		return writeJSON(d, heads)
	}
	for _, h := range heads {
		fmt.Fprintf(d.stdout, "%s\t%s, run %s, %s, finished %s\n", h.Head, safe(hostLabel(h.Host)), safe(h.Run), plural(h.Runs, "run"), h.Finished.Format("2006-01-02T15:04:05Z"))
	}
	return nil
}

// custodyHead tells the head of this host's custody chain in a case after a
// command extended it: a line on stderr in text output ("custody head of
// case X: HASH"); it returns the head for the command's JSON output. st is
// the store the command wrote through (the session's Evidence().Sink: the
// spool, where there is one). A head that cannot be read is a notice on
// stderr and "": the evidence is stored, only the line is missing.
func custodyHead(ctx context.Context, g *globalOptions, d *deps, st evidence.Store, caseID string) string {
	head := readHead(ctx, d, st, caseID)
	printHead(g, d, caseID, head)
	return head
}

// readHead is the head of this host's custody chain in a case, or "" (and
// a notice on stderr) when it cannot be read.
func readHead(ctx context.Context, d *deps, st evidence.Store, caseID string) string {
	h, err := evidence.HostHead(ctx, st, caseID, "")
	if err != nil {
		fmt.Fprintf(d.stderr, "firebreak: reading the custody head of case %s: %s (firebreak evidence head %s prints it)\n", caseID, safe(err.Error()), caseID)
		return ""
	}
	return h.Head
}

// printHead is the custody head line of text output, on stderr.
func printHead(g *globalOptions, d *deps, caseID, head string) {
	if g.Output == "text" && head != "" {
		fmt.Fprintf(d.stderr, "custody head of case %s: %s\n", caseID, head)
	}
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firebreak/alerts"
	"firebreak/playbooks"
)

func newAlertsCommand(g *globalOptions, d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Read serve's intake journal: every alert received and what became of it",
	}
	var open bool
	var last int
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the alerts received, newest last, with their outcome",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if last < 0 {
				return usagef("--last %d: give 0 (all) or a positive number", last)
			}
			rows, err := scanStories(g, last, open)
			if err != nil {
				return err
			}
			answered := answeredSince(g, rows)
			for i := range rows {
				_, c := rows[i].State()
				rows[i].ApprovedSince = answered[c]
			}
			if g.Output == "json" {
				if rows == nil {
					rows = []alerts.Story{}
				}
				return writeJSON(d, rows)
			}
			tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tRECEIVED\tFORMAT\tPRIORITY\tRULE\tCONTAINER\tOUTCOME")
			for _, s := range rows {
				a := s.Accepted.Alert
				outcome := orWord(s.Outcome(), "open")
				if s.ApprovedSince {
					outcome = strings.Replace(outcome, alerts.StatusNeedsApproval, alerts.StatusNeedsApproval+" (approved since)", 1)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Seq, s.Accepted.Time.Format(time.RFC3339), safeCell(a.Format), a.Priority,
					safeCell(trunc(a.Rule, 40)), safeCell(trunc(orDash(a.Container+podSuffix(a.Pod)), 30)), safeCell(outcome))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&open, "open", false, "only alerts without an outcome yet (taken up at serve's next start)")
	ls.Flags().IntVar(&last, "last", 100, "the newest N (0: all), and older ones still open or waiting for an approval")
	show := &cobra.Command{
		Use:   "show SEQ",
		Short: "Show one alert as received and every entry of its story",
		Args:  withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("SEQ %q: give the number `firebreak alerts ls` shows", args[0])
			}
			var story *alerts.Story
			err = alerts.ScanJournal(filepath.Join(g.StateDir, "alerts"), func(e alerts.Entry) error {
				switch {
				case e.Seq != seq:
				case e.Kind == alerts.KindAccepted && e.Alert != nil:
					story = &alerts.Story{Seq: seq, Accepted: e, Then: []alerts.Entry{}}
				case story != nil:
					story.Then = append(story.Then, e)
				}
				return nil
			})
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if story == nil {
				return usagef("no alert %d in the journal of %s (`firebreak alerts ls` lists them)", seq, g.StateDir)
			}
			return writeJSON(d, story)
		},
	}
	cmd.AddCommand(ls, show)
	return cmd
}

// answeredSince names the cases of needs-approval stories whose run no
// longer waits: the intake journal records the run serve started, and an
// approval given since (`firebreak approve`, the console) resumes it in the
// case's own run journal, which is read here as the console reads it.
func answeredSince(g *globalOptions, rows []alerts.Story) map[string]bool {
	out := map[string]bool{}
	for _, s := range rows {
		state, c := s.State()
		if state != alerts.StatusNeedsApproval || c == "" {
			continue
		}
		if _, seen := out[c]; seen {
			continue
		}
		recs, err := playbooks.LoadJournal(g.StateDir, c)
		out[c] = err == nil && len(playbooks.WaitingOf(c, recs).Steps) == 0
	}
	return out
}

// readStories reads every story of the intake journal (tests).
func readStories(g *globalOptions) ([]alerts.Story, error) {
	return scanStories(g, 0, false)
}

// scanStories reads the journal one line at a time and keeps the last
// stories (all with last 0; only open ones with open), so that a journal of
// millions of alerts is listed in bounded memory (alerts.ReadStories, which
// the console's alerts view reads too).
func scanStories(g *globalOptions, last int, open bool) ([]alerts.Story, error) {
	return alerts.ReadStories(filepath.Join(g.StateDir, "alerts"), last, open)
}

func orDash(s string) string { return orWord(s, "-") }

// safeCell is safe for one cell of a table: a tab would end the cell.
func safeCell(s string) string { return strings.ReplaceAll(safe(s), "\t", `\t`) }

func orWord(s, w string) string {
	if strings.TrimSpace(s) == "" {
		return w
	}
	return s
}

func podSuffix(pod string) string {
	if pod == "" {
		return ""
	}
	return " pod/" + pod
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"firebreak/drill"
)

// drillReportOptions are the flags of `firebreak drill report`.
type drillReportOptions struct {
	Compare bool
}

func (o *drillReportOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.Compare, "compare", false, "compare two drills, A (the earlier) and B, each a report directory or its result.json")
}

func newDrillReportCommand(g *globalOptions, d *deps) *cobra.Command {
	opts := &drillReportOptions{}
	cmd := &cobra.Command{
		Use:   "report DIR | report --compare A B",
		Short: "Write a drill's after-action reports again, or compare two drills",
		Long: `Without --compare, reads DIR/result.json (the result a drill wrote) and
writes the after-action reports beside it again: report.md, report.html (one
self-contained page with a timeline chart) and navigator.json (an ATT&CK
Navigator layer of the techniques exercised).

With --compare, reads two drills' results, A the earlier and B the later,
each a report directory or its result.json, and shows per time measured
(detect, contain, evidence, restore) and for the score whether the team got
faster and better.`,
		Example: `  firebreak drill report /var/lib/firebreak/drills/engine-socket-20260314T093000Z
  firebreak drill report --compare drills/engine-socket-march drills/engine-socket-april
  firebreak drill report --compare -o json A/result.json B/result.json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.Compare && len(args) != 2:
				return usageLine(cmd, fmt.Errorf("--compare takes two drills, A and B: got %d", len(args)))
			case !opts.Compare && len(args) != 1:
				return usageLine(cmd, fmt.Errorf("give one report directory (or --compare A B): got %d", len(args)))
			}
			return runDrillReport(cmd.Context(), g, opts, args, d)
		},
	}
	opts.AddFlags(cmd)
	return cmd
}

// drillReportJSON is the JSON line of a report written again.
type drillReportJSON struct {
	Scenario string   `json:"scenario"`
	Dir      string   `json:"dir"`
	Files    []string `json:"files"`
}

func runDrillReport(_ context.Context, g *globalOptions, opts *drillReportOptions, args []string, d *deps) error {
	if opts.Compare {
		a, err := loadDrillResult(args[0])
		if err != nil {
			return err
		}
		b, err := loadDrillResult(args[1])
		if err != nil {
			return err
		}
		c := drill.Compare(a, b)
		if g.Output == "json" {
			return jsonLine(d.stdout, "comparison", c)
		}
		_, err = fmt.Fprint(d.stdout, c.Text())
		return err
	}
	dir := args[0]
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		// A result.json names its directory; a result kept under another
		// name must not make this write over a result.json beside it.
		if filepath.Base(dir) != drill.ReportResultFile {
			return usagef("%s: give a report directory or its %s (copy a result kept elsewhere to DIR/%s first)", dir, drill.ReportResultFile, drill.ReportResultFile)
		}
		dir = filepath.Dir(dir)
	}
	r, err := loadDrillResult(dir)
	if err != nil {
		return err
	}
	paths, err := drill.WriteReports(dir, r)
	if err != nil {
		return err
	}
	if g.Output == "json" {
		return jsonLine(d.stdout, "report", drillReportJSON{Scenario: r.Scenario, Dir: dir, Files: paths})
	}
	fmt.Fprintf(d.stdout, "reports of drill %s (%s) written to %s:\n", safe(r.Scenario), r.Started.Format("2006-01-02 15:04:05 -07:00"), safe(dir))
	for _, p := range paths {
		fmt.Fprintf(d.stdout, "  %s\n", safe(filepath.Base(p)))
	}
	return nil
}

// loadDrillResult reads a result; one that is missing or is not a drill's
// is bad input.
func loadDrillResult(path string) (*drill.Result, error) {
	r, err := drill.LoadResult(path)
	if err != nil {
		return nil, &usageError{err}
	}
	return r, nil
}

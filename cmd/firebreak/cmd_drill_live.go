package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"firebreak/drill"
	"firebreak/internal/app"
	"firebreak/runtime"
)

// drillLiveOptions are the flags of `firebreak drill live`.
type drillLiveOptions struct {
	store       storeOptions
	Playbook    string
	Interactive bool
	Console     bool
	Yes         bool
	ReportDir   string
	Image       string
	Timeout     time.Duration
	Case        string
	Params      []string
}

func (o *drillLiveOptions) AddFlags(cmd *cobra.Command) {
	o.store.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Playbook, "playbook", "", "run this playbook unattended against the decoy (default: the scenario's)")
	f.BoolVar(&o.Interactive, "interactive", false, "the team responds (console or CLI); the drill watches and measures")
	f.BoolVar(&o.Console, "console", false, "with --interactive: open the console once the sandbox is up, the drill beside the fleet, and respond there")
	f.BoolVar(&o.Yes, "yes", false, "approve every step of the unattended playbook in advance")
	f.StringVar(&o.ReportDir, "report-dir", "", "where to write the result and the reports (default: <state-dir>/drills/<scenario>-<time>)")
	f.StringVar(&o.Image, "image", os.Getenv("FIREBREAK_DRILL_IMAGE"), "a local busybox image to make the decoys from, never removed; drills never pull (default: the drill builds its own from the host's busybox-static and removes it) ($FIREBREAK_DRILL_IMAGE)")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long the response may take (default 15m interactive, 5m unattended)")
	f.StringVar(&o.Case, "case", "", "the case the response works in (default: drill-<scenario>-<drill ID>)")
	f.StringArrayVarP(&o.Params, "param", "p", nil, "a parameter of the unattended playbook, key=value (repeatable)")
}

func newDrillLiveCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &drillLiveOptions{}
	cmd := &cobra.Command{
		Use:   "live SCENARIO [--playbook P | --interactive]",
		Short: "Run a live-fire drill: decoy containers on the engine, the response measured from its timestamps",
		Long: `A live drill checks the host first (the engine answers; runc and the kernel
are not before the fix of a known container-escape CVE, which stops the drill
as a finding; memory and disk to spare), then makes a sandbox: an internal
network and labelled decoy containers from a local busybox image (with no
--image, one the drill builds from the host's busybox-static, apt-get install
busybox-static, and removes at its end) that behave
like the scenario's incident without endangering the host (none privileged,
none writing a host setting). Then the clock starts.

Unattended (the default, or --playbook P) the scenario's playbook runs
against the decoy exactly as ` + "`firebreak run`" + ` does once triage names it; --yes
gives its approvals. With --interactive the team responds in the console or
the CLI and the drill watches the engine, the containment records and the
case until every measure is taken. With --interactive --console the console
opens once the sandbox is up, the drill in a panel beside the fleet (its clock,
each target's time once met, the outcome checks as they pass); the team finds,
contains and captures the decoy there. Meeting every target ends the drill (the
console stays open to show it); quitting the console ends it early, measured and
checked all the same. Either way its reports are written and its sandbox removed.

Measured at 100 ms from the engine's and the journal's own timestamps: time
to detect (the first triage finding that names the decoy), to contain (the
network cut verified by probe, and frozen), to evidence (the capture sealed
and verified) and, for a restore drill, to restore (the service healthy
again). Outcomes are checked, not clicks: the decoy no longer reaches its
peer, the planted artifacts are in the evidence, the restored service
answers. However the drill ends (finished, failed, Ctrl-C), it leaves
nothing behind; after a crash, ` + "`firebreak drill cleanup`" + ` finds what is left.

` + exitCodesHelp,
		Example: `  firebreak drill live engine-socket --yes
  firebreak drill live cryptominer --playbook cryptominer --yes --report-dir ./drills/miner
  firebreak drill live nsenter --interactive
  firebreak drill live dropped-binary --interactive --console`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDrillLive(cmd.Context(), cmd, g, o, args[0], d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// drillLiveJSON is the last line of `drill live -o json`.
type drillLiveJSON struct {
	*drill.Result
	ReportDir string   `json:"report_dir,omitempty"`
	Files     []string `json:"files,omitempty"`
}

func runDrillLive(ctx context.Context, cmd *cobra.Command, g *globalOptions, o *drillLiveOptions, ref string, d *deps) error {
	if o.Playbook != "" && o.Interactive {
		return usagef("--playbook runs the response unattended and --interactive leaves it to the team: give one")
	}
	if o.Yes && o.Interactive {
		return usagef("--yes approves the unattended playbook's steps; with --interactive the team approves its own")
	}
	if o.Console {
		switch {
		case !o.Interactive:
			return usagef("--console is where the team responds: give --interactive with it")
		case g.Output == "json":
			return usagef("--console draws on the terminal: -o json goes without it")
		case !isTerminal(d.rawStdout):
			return usagef("--console needs a terminal on standard output")
		}
	}
	params := map[string]string{}
	for _, p := range o.Params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return usagef("--param %q: give key=value", p)
		}
		params[k] = v
	}
	lib := drillLibrary(cmd)
	sc, err := lib.Load(ref)
	if err != nil {
		return usagef("%v", err)
	}
	if sc.Kind != drill.KindLive {
		return usagef("%s is a %s scenario: run it with `firebreak drill %s %s`", sc.Name, sc.Kind, sc.Kind, sc.Name)
	}
	if o.Playbook != "" {
		if _, err := app.LoadPlaybook(lib.Playbooks.Dirs, o.Playbook, app.NewRegistry()); err != nil {
			return err
		}
	}
	// A drill cleans up on an interrupt whoever started it.
	ctx, stop := signal.NotifyContext(ctx, interruptSignals...)
	defer stop()
	s, err := openSession(ctx, g, d, &o.store, func(ao *app.Options) { ao.PlaybookDirs = lib.Playbooks.Dirs })
	if err != nil {
		return err
	}
	defer s.Close()
	var mu sync.Mutex
	lo := drill.LiveOptions{Playbook: o.Playbook, Interactive: o.Interactive, Yes: o.Yes, Image: o.Image, Timeout: o.Timeout, Case: o.Case, Params: params,
		Notice: func(msg string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(d.stderr, "firebreak: %s\n", safe(msg))
		},
		Progress: func(e drill.Entry) {
			mu.Lock()
			defer mu.Unlock()
			if g.Output == "json" {
				_ = jsonLine(d.stdout, "entry", e)
				return
			}
			fmt.Fprintf(d.stderr, "%s  %-7s %s\n", drill.FormatOffset(time.Duration(e.Offset)*time.Millisecond), "["+safe(e.Source)+"]", safe(e.Text))
		},
	}
	if !o.Interactive && !o.Yes && isTerminal(d.stdin) && isTerminal(d.stderr) {
		lo.Approver = &ttyApprover{in: d.stdin, out: d.stderr}
	}
	if g.Output == "text" {
		fmt.Fprintf(d.stderr, "%s — %s\n\n%s\n\n", safe(sc.Name), safe(sc.Title), safeLines(sc.Narrative))
		for _, ob := range sc.Objectives {
			fmt.Fprintf(d.stderr, "  objective %s: %s\n", safe(ob.ID), safe(ob.Text))
		}
		fmt.Fprintln(d.stderr)
	}
	var out liveOutcome
	if o.Console {
		out = runDrillConsole(ctx, g, o, d, s, sc, lo)
	} else {
		out.res, out.err = drill.RunLive(ctx, s, sc, lo)
		if out.res != nil {
			out.dir, out.paths, out.werr = writeLiveReports(g, o, out.res)
		}
	}
	return finishDrillLive(g, d, out)
}

// liveOutcome is how a live drill ended: its result (nil when it never
// started), why it ended early, and where its reports went.
type liveOutcome struct {
	res   *drill.Result
	err   error
	dir   string
	paths []string
	werr  error
}

// writeLiveReports writes a drill's result and reports to --report-dir,
// or to a new directory under the state directory.
func writeLiveReports(g *globalOptions, o *drillLiveOptions, res *drill.Result) (string, []string, error) {
	dir := o.ReportDir
	if dir == "" {
		dir = filepath.Join(g.StateDir, "drills", res.Scenario+"-"+res.Started.UTC().Format("20060102T150405Z"))
		for i, base := 2, dir; ; i++ {
			if _, err := os.Lstat(dir); err != nil {
				break
			}
			dir = fmt.Sprintf("%s-%d", base, i)
		}
	}
	paths, err := drill.WriteReports(dir, res)
	if err != nil {
		err = fmt.Errorf("writing the drill's reports: %w", err)
	}
	return dir, paths, err
}

// finishDrillLive prints how the drill went and where its reports are,
// and says what its exit is.
func finishDrillLive(g *globalOptions, d *deps, out liveOutcome) error {
	res, runErr, dir, paths, werr := out.res, out.err, out.dir, out.paths, out.werr
	if res == nil {
		return liveError(runErr)
	}
	if g.Output == "json" {
		out := drillLiveJSON{Result: res}
		if werr == nil {
			out.ReportDir, out.Files = dir, paths
		}
		if err := jsonLine(d.stdout, "drill", out); err != nil {
			werr = errors.Join(werr, err)
		}
	} else {
		printLiveSummary(d, res)
		if werr == nil {
			fmt.Fprintf(d.stdout, "result and reports written to %s:\n", safe(dir))
			for _, p := range paths {
				fmt.Fprintf(d.stdout, "  %s\n", safe(filepath.Base(p)))
			}
		}
	}
	var failed []string
	for _, c := range res.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	var checkErr error
	if runErr == nil && len(failed) > 0 {
		checkErr = fmt.Errorf("the drill ran, but %d outcome checks failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return errors.Join(liveError(runErr), werr, checkErr)
}

// liveError maps what stopped a drill to the CLI's exit codes: a host
// that is vulnerable, or short of what a drill needs, is a refusal before
// any change.
func liveError(err error) error {
	var vh *drill.VulnerableHostError
	var pf *drill.PreflightError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &vh), errors.As(err, &pf):
		return &runtime.RefusedError{Reason: err.Error()}
	}
	return err
}

func printLiveSummary(d *deps, r *drill.Result) {
	out := d.stdout
	fmt.Fprintf(out, "\n%s — %s (case %s)\n", safe(r.Scenario), safe(r.Title), safe(r.Case))
	if r.Aborted != "" {
		fmt.Fprintf(out, "ended early: %s\n", safe(r.Aborted))
	}
	if len(r.Measures) > 0 {
		fmt.Fprintln(out, "measures:")
		for _, m := range r.Measures {
			took, target, met := "not observed", "-", ""
			if m.Done {
				took = fmt.Sprintf("%.1f s", float64(m.Took)/1000)
				met = "met"
				if !m.Met {
					met = "MISSED"
				}
			}
			if m.Target > 0 {
				target = fmt.Sprintf("%.1f s", float64(m.Target)/1000)
			} else if m.Done {
				met = ""
			}
			fmt.Fprintf(out, "  %-9s %-13s target %-8s %-6s (%s)\n", m.Name, took, target, met, safe(m.Source))
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(out, "checks:")
		for _, c := range r.Checks {
			word := "ok  "
			if !c.OK {
				word = "FAIL"
			}
			fmt.Fprintf(out, "  %s %-18s %s\n", word, safe(c.Name), safe(c.Detail))
		}
	}
	if r.Possible > 0 {
		fmt.Fprintf(out, "score: %d of %d points\n", r.Points, r.Possible)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(out, "finding: %s\n", safe(f))
	}
}

// drillCleanupOptions are the flags of `firebreak drill cleanup`.
type drillCleanupOptions struct {
	ID    string
	Force bool
}

func newDrillCleanupCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &drillCleanupOptions{}
	cmd := &cobra.Command{
		Use:   "cleanup [--id DRILL]",
		Short: "Remove what live drills left behind (after a crash or kill -9); running it twice is a no-op",
		Long: `Finds every live drill's leftovers by their label (io.firebreak.drill) and
their fbdrill- names, and the drills' directories under the state directory:
releases held decoys through their containment records (so their drop rules
and freeze are undone as a release does), removes the drills' containers,
networks, volumes and images, kills the host processes a drill started (the
nsenter decoy's sentinel), and removes the directories. A drill whose
process still runs is skipped unless --force. Nothing else is touched.`,
		Example: `  firebreak drill cleanup
  firebreak drill cleanup --id 3f9a1c2e4b`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDrillCleanup(cmd.Context(), g, o, d)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ID, "id", "", "clean up this drill only (the ID in its fbdrill-<ID>- names)")
	f.BoolVar(&o.Force, "force", false, "clean up drills whose process still runs too")
	return cmd
}

func runDrillCleanup(ctx context.Context, g *globalOptions, o *drillCleanupOptions, d *deps) error {
	if o.ID != "" {
		if err := drill.CheckDrillID(o.ID); err != nil {
			return usagef("--id: %v", err)
		}
	}
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := drill.Cleanup(ctx, s, drill.CleanupOptions{StateDir: g.StateDir, ID: o.ID, Force: o.Force})
	if rep == nil {
		return err
	}
	if g.Output == "json" {
		return errors.Join(err, jsonLine(d.stdout, "cleanup", rep))
	}
	if rep.Empty() {
		fmt.Fprintln(d.stdout, "nothing of a drill is left: nothing to clean up")
	} else {
		fmt.Fprintf(d.stdout, "cleaned up %s: %s\n", plural(len(rep.Drills), "drill"), safe(strings.Join(rep.Drills, ", ")))
		for _, l := range []struct {
			what  string
			items []string
		}{{"released", rep.Released}, {"containers", rep.Containers}, {"networks", rep.Networks}, {"volumes", rep.Volumes}, {"images", rep.Images}, {"processes", rep.Processes}, {"directories", rep.Dirs}} {
			if len(l.items) > 0 {
				fmt.Fprintf(d.stdout, "  %-12s %s\n", l.what, safe(strings.Join(l.items, ", ")))
			}
		}
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(d.stderr, "firebreak: skipped %s\n", safe(sk))
	}
	return err
}

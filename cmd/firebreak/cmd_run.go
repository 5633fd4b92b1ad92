package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/playbooks"
)

type runOptions struct {
	store     storeOptions
	Targets   []string
	Selectors []string
	Params    []string
	Case      string
	DryRun    bool
	Approve   []string
	Yes       bool
	Resume    string
	Parallel  int
	Dirs      []string
}

func (o *runOptions) AddFlags(cmd *cobra.Command) {
	o.store.AddFlags(cmd)
	f := cmd.Flags()
	f.StringSliceVarP(&o.Targets, "target", "t", nil, "container to act on (ID, name or unique ID prefix), or a Kubernetes pod as pod/NAMESPACE/NAME (repeatable)")
	f.StringSliceVar(&o.Selectors, "selector", nil, "act on every container with this label (key=value or key; repeatable, all must match)")
	f.StringArrayVarP(&o.Params, "param", "p", nil, "playbook parameter key=value (repeatable; a list parameter takes comma-separated values)")
	f.StringVar(&o.Case, "case", "", "case ID (default: a new one)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print every step it would take against every target, and change nothing")
	f.StringSliceVar(&o.Approve, "approve", nil, "approve this step in advance (repeatable)")
	f.BoolVar(&o.Yes, "yes", false, "approve every step in advance")
	f.StringVar(&o.Resume, "resume", "", "resume the run of this case after an interruption: finished steps are not repeated")
	f.IntVar(&o.Parallel, "parallel", 8, "targets run at once")
	f.StringSliceVar(&o.Dirs, "playbooks", splitList(os.Getenv("FIREBREAK_PLAYBOOKS")), "directories with your own playbooks ($FIREBREAK_PLAYBOOKS)")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ":")
}

func newRunCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run PLAYBOOK",
		Short: "Run a playbook against containers (scripted: JSON events, exit codes, resume)",
		Long: `Run validates the playbook as a whole, then runs its steps against every
target: steps without a dependency between them run in parallel; each step's
start and end are journaled (state directory, synced) before the next starts,
and logged in the case's custody log, so --resume CASE after a crash skips what finished
and never repeats a finished step that changed state. A step that needs
approval asks on a terminal; in scripted runs give --approve STEP or --yes,
or the run stops there (fail closed). One run at a time may act on a container.

` + exitCodesHelp,
		Example: `  firebreak run escape-suspected --target web-1
  firebreak run cryptominer --selector app=batch --approve kill --output json
  firebreak run escape-suspected --resume IR-42`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), g, o, args[0], d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func runRun(ctx context.Context, g *globalOptions, o *runOptions, ref string, d *deps) error {
	params := map[string]string{}
	for _, p := range o.Params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return usagef("--param %q: give key=value", p)
		}
		if _, dup := params[k]; dup {
			return usagef("--param %s is given twice: give it once", k)
		}
		params[k] = v
	}
	caseID := o.Case
	if o.Resume != "" {
		if o.Case != "" && o.Case != o.Resume {
			return usagef("--case %s and --resume %s name different cases", o.Case, o.Resume)
		}
		caseID = o.Resume
		if len(o.Params) == 0 {
			params = nil // the journal's
		}
	}
	if caseID == "" {
		caseID = evidence.NewCaseID(time.Now())
	}
	if err := evidence.CheckCaseID(caseID); err != nil {
		return usagef("%v", err)
	}
	// The playbook and the command line are checked before any engine is
	// asked: bad input is exit 2 whether or not the engine answers.
	pb, err := app.LoadPlaybook(o.Dirs, ref, app.NewRegistry())
	if err != nil {
		return err
	}
	if len(o.Targets) == 0 && len(o.Selectors) == 0 && o.Resume == "" {
		return usagef("no targets: give --target or --selector")
	}
	s, err := openSession(ctx, g, d, &o.store, func(ao *app.Options) { ao.PlaybookDirs = o.Dirs })
	if err != nil {
		return err
	}
	defer s.Close()
	targets, err := s.Resolve(ctx, app.Selection{Refs: o.Targets, Selectors: o.Selectors, Act: !o.DryRun})
	if err != nil {
		return err
	}
	if len(targets) == 0 && o.Resume == "" {
		return usagef("no targets: give --target or --selector")
	}
	spec := app.RunSpec{
		Case: caseID, Playbook: pb, Targets: targets, Params: params, DryRun: o.DryRun,
		Approve: o.Approve, Yes: o.Yes, Resume: o.Resume != "", Parallel: o.Parallel,
	}
	line := newProgressLine(d, g.Output)
	spec.Events = eventPrinter(d, g.Output, line)
	if isTerminal(d.stdin) && isTerminal(d.stderr) {
		spec.Approver = &ttyApprover{in: d.stdin, out: d.stderr}
	}
	rep, runErr := s.Run(ctx, spec)
	line.clear()
	var perr error
	if rep == nil {
		return joinErrors([]error{runErr, s.Pending()})
	}
	if g.Output == "text" {
		printRunSummary(d.stdout, rep)
	}
	head := ""
	if !rep.DryRun && rep.Case != "" {
		if ev, err := s.Evidence(); err == nil {
			head = custodyHead(ctx, g, d, ev.Sink, rep.Case)
		}
	}
	if g.Output == "json" {
		perr = jsonLine(d.stdout, "report", runReportJSON{Report: rep, CustodyHead: head})
	}
	return joinErrors([]error{runErr, perr, s.Pending()})
}

// runReportJSON is the report line of `run --output json`.
type runReportJSON struct {
	*playbooks.Report
	// CustodyHead is the case's custody head on this host after the run
	// ("" for a dry run, or when it could not be read).
	CustodyHead string `json:"custody_head,omitempty"`
}

// eventPrinter prints a run's events: JSON lines on stdout, or text lines
// on stderr. With line (a terminal), a step's progress is drawn on it, in
// place, and every other event clears it first; without, each progress
// report is a line of its own.
func eventPrinter(d *deps, output string, line *progressLine) func(playbooks.Event) {
	var mu sync.Mutex
	started := map[string]time.Time{} // target and step: when it started, for the rate
	return func(ev playbooks.Event) {
		mu.Lock()
		defer mu.Unlock()
		if output == "json" {
			// An event that cannot be written is not lost: the journal and
			// the custody log hold it, and the final report follows.
			if err := jsonLine(d.stdout, "event", ev); err != nil {
				fmt.Fprintf(d.stderr, "firebreak: writing event %s: %v\n", ev.Type, err)
			}
			return
		}
		who := safe(ev.TargetName)
		key := ev.Target + "\x00" + ev.Step
		if ev.Type == playbooks.EventStepStarted {
			started[key] = ev.Time
		}
		if line != nil && ev.Type == playbooks.EventStepProgress {
			n := progress.Count{}
			if ev.Progress != nil {
				n = *ev.Progress
			}
			if n != (progress.Count{}) {
				line.show(ev.TargetName+": "+ev.Step, n, ev.Time.Sub(started[key]))
				return
			}
		}
		line.clear()
		switch ev.Type {
		case playbooks.EventPlan:
			fmt.Fprintf(d.stdout, "plan %s: %-10s %-16s %s\n", who, ev.Step, ev.Action, safe(ev.Detail))
		case playbooks.EventStepStarted:
			attempt := ""
			if ev.Attempt > 1 {
				attempt = fmt.Sprintf(", attempt %d", ev.Attempt)
			}
			fmt.Fprintf(d.stderr, "%s %s: %s (%s%s) started\n", ev.Time.Format("15:04:05"), who, ev.Step, ev.Action, attempt)
		case playbooks.EventStepFinished:
			line := fmt.Sprintf("%s %s: %s %s", ev.Time.Format("15:04:05"), who, ev.Step, strings.ToUpper(string(ev.Status)))
			if v, ok := ev.Outputs["verdict"].(string); ok && v != "not-applicable" {
				line += " (" + strings.ToUpper(v)
				if d, ok := ev.Outputs["verdict_detail"].(string); ok && d != "" {
					line += ": " + safe(d)
				}
				line += ")"
			}
			if ev.Attempt > 1 {
				line += fmt.Sprintf(" (attempt %d)", ev.Attempt)
			}
			if ev.Error != "" {
				line += ": " + safe(ev.Error)
			}
			fmt.Fprintln(d.stderr, line)
		case playbooks.EventNeedsApproval:
			fmt.Fprintf(d.stderr, "%s %s: %s needs approval: %s\n", ev.Time.Format("15:04:05"), who, ev.Step, safe(ev.Detail))
		case playbooks.EventStepUndone:
			fmt.Fprintf(d.stderr, "%s %s: %s undone (%s)\n", ev.Time.Format("15:04:05"), who, ev.Step, ev.Status)
		case playbooks.EventStepProgress:
			fmt.Fprintf(d.stderr, "%s %s: %s: %s\n", ev.Time.Format("15:04:05"), who, ev.Step, safe(ev.Detail))
		case playbooks.EventEvidenceAdopted:
			fmt.Fprintf(d.stderr, "resume: %s\n", ev.Detail)
		}
	}
}

func printRunSummary(w io.Writer, rep *playbooks.Report) {
	if rep == nil || rep.DryRun {
		if rep != nil {
			fmt.Fprintf(w, "dry run of %s: nothing was changed\n", rep.Playbook)
		}
		return
	}
	for _, t := range rep.Targets {
		fmt.Fprintf(w, "%s %s%s: %s\n", rep.Playbook, t.Container.ShortID(), nameSuffix(t.Container), strings.ToUpper(string(t.Status)))
		for _, s := range t.Steps {
			note := ""
			if v, ok := s.Outputs["verdict"].(string); ok && v != "not-applicable" {
				note += " " + strings.ToUpper(v)
			}
			if s.Resumed {
				note += " (finished in an earlier run of this case)"
			}
			if s.Error != "" {
				note += ": " + safe(s.Error)
			}
			fmt.Fprintf(w, "  %-16s %-16s %s%s\n", s.ID, s.Action, s.Status, note)
		}
	}
	if rep.Case != "" {
		fmt.Fprintf(w, "case %s; journal %s\n", rep.Case, rep.Journal)
	}
}

// ttyApprover asks on the terminal; the default is no, and prompts from
// parallel targets wait their turn. An interrupt (Ctrl-C) ends a prompt at
// once as a refusal: lines are read by one goroutine, so a prompt never
// blocks on the terminal past its context.
type ttyApprover struct {
	mu    sync.Mutex
	in    io.Reader
	out   io.Writer
	once  sync.Once
	lines chan lineOrErr
}

type lineOrErr struct {
	line string
	err  error
}

func (a *ttyApprover) readLines() {
	r := bufio.NewReader(a.in)
	for {
		line, err := r.ReadString('\n')
		a.lines <- lineOrErr{line, err}
		if err != nil {
			close(a.lines)
			return
		}
	}
}

func (a *ttyApprover) Approve(ctx context.Context, req playbooks.ApprovalRequest) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// A prompt queued behind another target's is not shown once the run
	// was interrupted.
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("interrupted before the prompt: %w", err)
	}
	a.once.Do(func() {
		a.lines = make(chan lineOrErr, 1)
		go a.readLines()
	})
	fmt.Fprintf(a.out, "\n%s on %s (%s): %s [y/N] ", req.Step, safe(req.Target.Name), req.Target.ShortID(), safe(req.Prompt))
	select {
	case <-ctx.Done():
		fmt.Fprintln(a.out)
		return false, fmt.Errorf("interrupted at the prompt: %w", ctx.Err())
	case l, ok := <-a.lines:
		if ctx.Err() != nil {
			// A line typed ahead does not approve after an interrupt.
			return false, fmt.Errorf("interrupted at the prompt: %w", ctx.Err())
		}
		if !ok {
			return false, io.EOF
		}
		if l.err != nil && l.line == "" {
			return false, l.err
		}
		ans := strings.ToLower(strings.TrimSpace(l.line))
		return ans == "y" || ans == "yes", nil
	}
}

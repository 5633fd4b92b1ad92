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
	"firebreak/playbooks"
	"firebreak/runtime"
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
	f.StringSliceVarP(&o.Targets, "target", "t", nil, "container to act on (ID, name or unique ID prefix; repeatable)")
	f.StringSliceVar(&o.Selectors, "selector", nil, "act on every container with this label (key=value or key; repeatable, all must match)")
	f.StringSliceVarP(&o.Params, "param", "p", nil, "playbook parameter key=value (repeatable)")
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
start and end are journaled (state directory) and logged in the case's custody
log before the next starts, so --resume CASE after a crash skips what finished
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
	reg := playbooks.NewRegistry()
	playbooks.RegisterBuiltins(reg)
	pb, err := playbooks.Library{Dirs: o.Dirs}.Load(ref)
	if err != nil {
		return usagef("%v", err)
	}
	if err := playbooks.Validate(pb, reg); err != nil {
		return usagef("playbook %s is not valid:\n%v", ref, err)
	}
	params := map[string]string{}
	for _, p := range o.Params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return usagef("--param %q: give key=value", p)
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
	c, rt, closeRT, err := openContainment(ctx, g, d)
	if err != nil {
		return err
	}
	defer closeRT()
	targets, err := resolveTargets(ctx, rt, o.Targets, o.Selectors)
	if err != nil {
		return err
	}
	if len(targets) == 0 && o.Resume == "" {
		return usagef("no targets: give --target or --selector")
	}
	env := &playbooks.Env{Runtime: rt, Contain: c, Case: caseID, Playbook: pb.Name, Actor: actor()}
	var spool *evidence.Spool
	var store evidence.Store
	if !o.DryRun {
		store, err = o.store.open()
		if err != nil {
			return err
		}
		sink, sp, err := o.store.withSpool(store)
		if err != nil {
			return err
		}
		spool = sp
		signer, created, err := evidence.LoadOrCreateSigner(o.store.KeyDir)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(d.stderr, "created a signing key in %s; its public half: %s\n", o.store.KeyDir, signer.PublicKeyString())
		}
		var names []string
		for _, t := range targets {
			names = append(names, t.Name)
		}
		env.Evidence = &playbooks.EvidenceSession{Store: sink, Signer: signer, Trusted: signer.Pub,
			Info: evidence.CaseInfo{ID: caseID, Actor: env.Actor, Tool: toolVersion(), Playbook: pb.Name, Targets: names}}
	}
	eng := &playbooks.Engine{Registry: reg, Env: env, StateDir: g.StateDir, Events: eventPrinter(d, g.Output)}
	if isTerminal(d.stdin) && isTerminal(d.stderr) {
		eng.Approver = &ttyApprover{in: bufio.NewReader(d.stdin), out: d.stderr}
	}
	rep, runErr := eng.Run(ctx, pb, playbooks.RunOptions{
		Case: caseID, Targets: targets, Params: params, DryRun: o.DryRun,
		Approve: o.Approve, Yes: o.Yes, Resume: o.Resume != "", Parallel: o.Parallel,
	})
	if g.Output == "json" {
		_ = jsonLine(d.stdout, "report", rep)
	} else {
		printRunSummary(d.stdout, rep)
	}
	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	if spool != nil && spool.Pending() > 0 {
		errs = append(errs, &notReplicatedError{n: spool.Pending(), dir: spool.Dir(), store: store.String(), cause: spool.Down()})
	}
	return joinErrors(errs)
}

// resolveTargets resolves --target references and --selector labels.
func resolveTargets(ctx context.Context, rt runtime.Runtime, refs, selectors []string) ([]runtime.Container, error) {
	var out []runtime.Container
	seen := map[string]bool{}
	for _, ref := range refs {
		t, err := runtime.Resolve(ctx, rt, ref)
		if err != nil {
			return nil, err
		}
		if !seen[t.ID] {
			seen[t.ID] = true
			out = append(out, t)
		}
	}
	if len(selectors) > 0 {
		all, err := rt.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if seen[c.ID] || !matchLabels(c.Labels, selectors) {
				continue
			}
			t, err := runtime.Resolve(ctx, rt, c.ID)
			if err != nil {
				return nil, err
			}
			seen[c.ID] = true
			out = append(out, t)
		}
		if len(out) == 0 {
			return nil, usagef("no container matches --selector %s", strings.Join(selectors, ","))
		}
	}
	return out, nil
}

func matchLabels(labels map[string]string, selectors []string) bool {
	for _, s := range selectors {
		k, v, hasValue := strings.Cut(s, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

func eventPrinter(d *deps, output string) func(playbooks.Event) {
	var mu sync.Mutex
	return func(ev playbooks.Event) {
		mu.Lock()
		defer mu.Unlock()
		if output == "json" {
			_ = jsonLine(d.stdout, "event", ev)
			return
		}
		who := safe(ev.TargetName)
		switch ev.Type {
		case "plan":
			fmt.Fprintf(d.stdout, "plan %s: %-10s %-16s %s\n", who, ev.Step, ev.Action, safe(ev.Detail))
		case "step_started":
			fmt.Fprintf(d.stderr, "%s %s: %s (%s) started\n", ev.Time.Format("15:04:05"), who, ev.Step, ev.Action)
		case "step_finished":
			line := fmt.Sprintf("%s %s: %s %s", ev.Time.Format("15:04:05"), who, ev.Step, strings.ToUpper(ev.Status))
			if ev.Error != "" {
				line += ": " + safe(ev.Error)
			}
			fmt.Fprintln(d.stderr, line)
		case "needs_approval":
			fmt.Fprintf(d.stderr, "%s %s: %s needs approval: %s\n", ev.Time.Format("15:04:05"), who, ev.Step, safe(ev.Detail))
		case "step_undone":
			fmt.Fprintf(d.stderr, "%s %s: %s undone (%s)\n", ev.Time.Format("15:04:05"), who, ev.Step, ev.Status)
		case "step_progress":
			fmt.Fprintf(d.stderr, "%s %s: %s: %s\n", ev.Time.Format("15:04:05"), who, ev.Step, safe(ev.Detail))
		case "evidence_adopted":
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
		fmt.Fprintf(w, "%s %s (%s): %s\n", rep.Playbook, t.Container.ShortID(), safe(t.Container.Name), strings.ToUpper(t.Status))
		for _, s := range t.Steps {
			note := ""
			if s.Resumed {
				note = " (finished before the interruption)"
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
// parallel targets wait their turn.
type ttyApprover struct {
	mu  sync.Mutex
	in  *bufio.Reader
	out io.Writer
}

func (a *ttyApprover) Approve(ctx context.Context, req playbooks.ApprovalRequest) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.out, "\n%s on %s (%s): %s [y/N] ", req.Step, safe(req.Target.Name), req.Target.ShortID(), safe(req.Prompt))
	line, err := a.in.ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

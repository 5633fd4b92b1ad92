package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firebreak/drill"
	"firebreak/playbooks"
)

// newDrillCommand is the drill group. Its subcommands share --scenarios
// and --playbooks (drillLibrary reads them).
func newDrillCommand(g *globalOptions, d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Rehearse the response: tabletop exercises and live-fire drills, scored and reported",
		Long: `Drills rehearse the real response with the same playbooks and engine calls as an
incident. A tabletop presents injects on a clock and scores the team's
decisions, actions and answers; a live drill runs decoy containers that behave
like an incident without endangering the host and measures the response from
the engine's own timestamps. Both end in an after-action report.

Scenarios are built in (` + "`firebreak drill list`" + `) or your own YAML files in
--scenarios directories; ` + "`firebreak drill validate`" + ` checks them.`,
	}
	f := cmd.PersistentFlags()
	f.StringSlice("scenarios", splitList(os.Getenv("FIREBREAK_SCENARIOS")), "directories with your own scenarios ($FIREBREAK_SCENARIOS)")
	f.StringSlice("playbooks", splitList(os.Getenv("FIREBREAK_PLAYBOOKS")), "directories with your own playbooks ($FIREBREAK_PLAYBOOKS)")
	cmd.AddCommand(
		newDrillListCommand(g, d),
		newDrillValidateCommand(d),
		newDrillTabletopCommand(g, d),
		newDrillLiveCommand(g, d),
		newDrillCleanupCommand(g, d),
		newDrillReportCommand(g, d),
	)
	return cmd
}

// drillLibrary is the scenario library of a drill subcommand, from the
// group's --scenarios and --playbooks (a subcommand's own --playbooks wins).
func drillLibrary(cmd *cobra.Command) drill.Library {
	scen, _ := cmd.Flags().GetStringSlice("scenarios")
	pbs, _ := cmd.Flags().GetStringSlice("playbooks")
	return drill.Library{Dirs: scen, Playbooks: playbooks.Library{Dirs: pbs}}
}

func newDrillListCommand(g *globalOptions, d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the scenarios: yours (--scenarios) and the built-in ones; invalid ones are marked",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := drillLibrary(cmd).List()
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(d, entries)
			}
			if len(entries) == 0 {
				fmt.Fprintln(d.stdout, "no scenarios")
				return nil
			}
			nw, tw := len("NAME"), len("TECHNIQUES")
			for _, e := range entries {
				nw, tw = max(nw, len(safe(e.Name))), max(tw, len(strings.Join(e.Techniques, " ")))
			}
			fmt.Fprintf(d.stdout, "%-*s  %-8s  %-*s  %s\n", nw, "NAME", "KIND", tw, "TECHNIQUES", "TITLE")
			for _, e := range entries {
				title := e.Title
				if e.Error != "" {
					title = "INVALID: " + e.Error
				}
				fmt.Fprintf(d.stdout, "%-*s  %-8s  %-*s  %s\n", nw, safe(e.Name), e.Kind, tw, safe(strings.Join(e.Techniques, " ")), safe(title))
			}
			return nil
		},
	}
}

func newDrillValidateCommand(d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|NAME...",
		Short: "Check scenarios as a whole; every error with file:line:column and what to fix",
		Args:  withUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			lib := drillLibrary(cmd)
			var errs []error
			for _, a := range args {
				s, err := lib.Load(a)
				if err != nil {
					for _, line := range strings.Split(err.Error(), "\n") {
						fmt.Fprintln(d.stdout, safe(line))
					}
					errs = append(errs, usagef("%s is not valid", a))
					continue
				}
				n := 0
				for _, inj := range s.Injects {
					n += len(inj.Expectations)
				}
				fmt.Fprintf(d.stdout, "%s: ok (%s, %s, %s, %d points)\n", safe(a), s.Kind, plural(len(s.Injects), "inject"), plural(n, "expectation"), s.Points())
			}
			return joinErrors(errs)
		},
	}
}

// drillTabletopOptions are the flags of `firebreak drill tabletop`.
type drillTabletopOptions struct {
	ReportDir   string
	Facilitator string
	Responders  []string
	Observers   []string
}

func (o *drillTabletopOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.ReportDir, "report-dir", "", "where to write the result and the reports (default: <state-dir>/drills/<scenario>-<time>)")
	f.StringVar(&o.Facilitator, "facilitator", "facilitator", "the facilitator's name")
	f.StringSliceVar(&o.Responders, "responder", nil, "a responder's name (repeat for each; default: the scenario's responder roles)")
	f.StringSliceVar(&o.Observers, "observer", nil, "an observer's name (repeat for each)")
}

const tabletopHelp = `commands (one a line; the speaker is who spoke last with "who"):
  d TEXT            record a decision          a INJECT TEXT   answer an inject's question
  act EVENT         record an action or finding (contained, evidence, detected, restored, ...)
  n TEXT            note                        who NAME        switch the speaking participant
facilitator:
  ok EXPECTATION    judge it met                miss EXPECTATION  judge it not met
  p / r             pause / resume the clock    skip INJECT     withdraw an inject not yet played
  play INJECT       play a reserve inject now   add TITLE: TEXT add an ad-hoc inject
  status            the clock, open expectations and held injects
  end               end the exercise: judgements left, hotwash, ratings, improvement plan`

func newDrillTabletopCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &drillTabletopOptions{}
	cmd := &cobra.Command{
		Use:   "tabletop SCENARIO",
		Short: "Run a tabletop exercise on this terminal: injects on a clock, decisions, scoring, hotwash",
		Long: `Presents the scenario's narrative, then each inject when it comes due (at its
offset, after an event, or when the facilitator plays a reserve one). Lines
typed are commands; each decision, answer and action is recorded with its
time and who said it. Expectations are scored when met and missed when their
deadline passes; a result once recorded is never changed. "end" closes with
the hotwash (per participant), a rating per objective and the improvement
plan, then writes the result and the after-action reports.

` + tabletopHelp,
		Example:     "  firebreak drill tabletop escape-tabletop --facilitator fran --responder alice --responder bob",
		Annotations: map[string]string{outputsAnnotation: "text"},
		Args:        withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := drillLibrary(cmd).Load(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			return runDrillTabletop(cmd.Context(), g, o, s, d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// tabletopRunner is the plain-terminal front end of a drill.Tabletop.
type tabletopRunner struct {
	tt      *drill.Tabletop
	s       *drill.Scenario
	d       *deps
	people  drill.Roles
	who     string
	printed int
	lines   <-chan string
}

func runDrillTabletop(ctx context.Context, g *globalOptions, o *drillTabletopOptions, s *drill.Scenario, d *deps) error {
	if s.Kind != drill.KindTabletop {
		return usagef("%s is a %s scenario: run it with `firebreak drill %s %s`", s.Name, s.Kind, s.Kind, s.Name)
	}
	people := drill.Roles{Facilitator: strings.TrimSpace(o.Facilitator), Responders: o.Responders, Observers: o.Observers}
	if len(people.Responders) == 0 {
		people.Responders = s.Roles.Responders
	}
	if err := checkPeople(people); err != nil {
		return err
	}
	tt, err := drill.NewTabletop(s, drill.SystemClock{}, people)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	r := &tabletopRunner{tt: tt, s: s, d: d, people: people, who: people.Responders[0], lines: readLines(d.stdin, done)}
	r.intro()
	if err := tt.Start(people.Facilitator); err != nil {
		return err
	}
	r.flush()
	aborted := r.exercise(ctx)
	var closing drill.Closing
	if aborted == "" {
		closing = r.closing(ctx)
	}
	if closing.Aborted == "" {
		closing.Aborted = aborted
	}
	res, err := tt.End(closing, people.Facilitator)
	if err != nil {
		return err
	}
	dir := o.ReportDir
	if dir == "" {
		dir = filepath.Join(g.StateDir, "drills", s.Name+"-"+res.Started.UTC().Format("20060102T150405Z"))
		// two drills started in the same second keep their own reports
		for i, base := 2, dir; ; i++ {
			if _, err := os.Lstat(dir); err != nil {
				break // free (or unreadable: writing says why)
			}
			dir = fmt.Sprintf("%s-%d", base, i)
		}
	}
	paths, err := drill.WriteReports(dir, res)
	if err != nil {
		return fmt.Errorf("writing the drill's reports: %w", err)
	}
	fmt.Fprintf(d.stdout, "\nscore: %d of %d points\n", res.Points, res.Possible)
	fmt.Fprintf(d.stdout, "result and reports written to %s:\n", safe(dir))
	for _, p := range paths {
		fmt.Fprintf(d.stdout, "  %s\n", safe(filepath.Base(p)))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Aborted != "" {
		fmt.Fprintf(d.stderr, "firebreak: the exercise ended early: %s\n", safe(res.Aborted))
	}
	return nil
}

func checkPeople(p drill.Roles) error {
	seen := map[string]bool{}
	for _, n := range append(append([]string{p.Facilitator}, p.Responders...), p.Observers...) {
		switch {
		case strings.TrimSpace(n) == "" || strings.ContainsAny(n, " \t"):
			return usagef("participant name %q: give a name without spaces", n)
		case seen[n]:
			return usagef("%q takes part twice: give each participant once", n)
		}
		seen[n] = true
	}
	return nil
}

// readLines sends the lines of r until it ends (the channel closes) or done
// closes.
func readLines(r io.Reader, done <-chan struct{}) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	return ch
}

func (r *tabletopRunner) intro() {
	out := r.d.stdout
	fmt.Fprintf(out, "%s — %s\n\n", safe(r.s.Name), safe(r.s.Title))
	fmt.Fprintf(out, "%s\n\n", safeLines(r.s.Narrative))
	fmt.Fprintln(out, "objectives:")
	for _, ob := range r.s.Objectives {
		fmt.Fprintf(out, "  %s  %s\n", safe(ob.ID), safe(ob.Text))
	}
	fmt.Fprintf(out, "facilitator: %s; responders: %s", safe(r.people.Facilitator), safe(strings.Join(r.people.Responders, ", ")))
	if len(r.people.Observers) > 0 {
		fmt.Fprintf(out, "; observers: %s", safe(strings.Join(r.people.Observers, ", ")))
	}
	fmt.Fprintf(out, "\ntype help for the commands; speaking: %s\n\n", safe(r.who))
}

// exercise runs until "end", the input ends or ctx is cancelled; it
// returns why it ended early ("" after "end").
func (r *tabletopRunner) exercise(ctx context.Context) string {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "interrupted"
		case <-tick.C:
			r.tt.Tick()
			r.flush()
		case line, ok := <-r.lines:
			if !ok {
				return "the input ended before `end`"
			}
			if r.command(line) {
				return ""
			}
			r.flush()
		}
	}
}

// command carries out one line; it returns true on "end".
func (r *tabletopRunner) command(line string) bool {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	fac := r.people.Facilitator
	var err error
	switch verb {
	case "":
		return false
	case "help", "?":
		fmt.Fprintln(r.d.stdout, tabletopHelp)
	case "d":
		err = r.tt.Decision(rest, r.who)
	case "a":
		id, text, _ := strings.Cut(rest, " ")
		err = r.tt.Answer(id, r.who, strings.TrimSpace(text))
	case "act":
		err = r.tt.Record(rest, r.who)
	case "ok", "miss":
		err = r.tt.Judge(rest, verb == "ok", fac)
	case "p":
		err = r.tt.Pause(fac)
	case "r":
		err = r.tt.Resume(fac)
	case "skip":
		err = r.tt.Skip(rest, fac)
	case "play":
		err = r.tt.PlayReserve(rest, fac)
	case "add":
		title, text, ok := strings.Cut(rest, ":")
		if !ok {
			err = errors.New("write add TITLE: TEXT")
			break
		}
		_, err = r.tt.AddInject(strings.TrimSpace(title), strings.TrimSpace(text), fac)
	case "n":
		err = r.tt.Note(rest, r.who)
	case "who":
		if !r.participant(rest) {
			err = fmt.Errorf("%q does not take part: name one of %s", rest, strings.Join(r.participants(), ", "))
			break
		}
		r.who = rest
		fmt.Fprintf(r.d.stdout, "speaking: %s\n", safe(r.who))
	case "status", "s":
		r.status()
	case "end":
		r.flush()
		err = r.tt.Stop(fac)
		r.flush()
		return err == nil
	default:
		err = fmt.Errorf("unknown command %q: type help for the commands", verb)
	}
	if err != nil {
		r.flush()
		fmt.Fprintf(r.d.stderr, "firebreak: %s\n", safe(err.Error()))
	}
	return false
}

func (r *tabletopRunner) participants() []string {
	return append(append([]string{r.people.Facilitator}, r.people.Responders...), r.people.Observers...)
}

func (r *tabletopRunner) participant(name string) bool {
	return slices.Contains(r.participants(), name)
}

func (r *tabletopRunner) status() {
	out := r.d.stdout
	state := "running"
	if r.tt.Paused() {
		state = "paused"
	}
	fmt.Fprintf(out, "clock %s (%s); speaking: %s\n", drill.FormatOffset(r.tt.Elapsed()), state, safe(r.who))
	for _, sc := range r.tt.Scores() {
		if sc.Outcome == drill.OutcomePending {
			by := ""
			if sc.Who != "" {
				by = ", answered by " + sc.Who + ": judge it with ok or miss"
			}
			fmt.Fprintf(out, "  open  %-6s %s (%d points%s)\n", safe(sc.Expectation), safe(sc.Text), sc.Of, safe(by))
		}
	}
	for _, in := range r.tt.Injects() {
		if in.State == drill.InjectWaiting && in.Inject.Trigger == drill.TriggerReserve {
			fmt.Fprintf(out, "  held  %-6s %s\n", safe(in.Inject.ID), safe(in.Inject.Title))
		}
	}
}

// flush prints the timeline entries that appeared since the last call.
func (r *tabletopRunner) flush() {
	es := r.tt.Entries(r.printed)
	r.printed += len(es)
	for _, e := range es {
		r.print(e)
	}
}

func (r *tabletopRunner) print(e drill.Entry) {
	out := r.d.stdout
	at := drill.FormatOffset(time.Duration(e.Offset) * time.Millisecond)
	switch e.Kind {
	case "inject":
		inj := r.tt.Inject(e.Ref)
		fmt.Fprintf(out, "\n%s  ── inject %s: %s ──\n", at, safe(e.Ref), safe(e.Text))
		if inj == nil {
			return
		}
		if len(inj.To) > 0 {
			fmt.Fprintf(out, "    to %s\n", safe(strings.Join(inj.To, ", ")))
		}
		if inj.Text != "" {
			fmt.Fprintf(out, "    %s\n", strings.ReplaceAll(safeLines(inj.Text), "\n", "\n    "))
		}
		if inj.Question != "" {
			fmt.Fprintf(out, "    ? %s   (answer: a %s TEXT)\n", safe(inj.Question), safe(inj.ID))
		}
		if len(inj.Expectations) > 0 {
			ids := make([]string, 0, len(inj.Expectations))
			for _, x := range inj.Expectations {
				ids = append(ids, x.ID)
			}
			fmt.Fprintf(out, "    expectations: %s\n", safe(strings.Join(ids, " ")))
		}
		fmt.Fprintln(out)
	case "expectation":
		fmt.Fprintf(out, "%s  %s %s\n", at, safe(e.Ref), safe(e.Text))
	case "answer":
		fmt.Fprintf(out, "%s  %s answers %s: %s\n", at, safe(e.Who), safe(e.Ref), safe(e.Text))
	case "start", "end", "pause", "resume":
		fmt.Fprintf(out, "%s  %s: %s\n", at, e.Kind, safe(e.Text))
	case "skip":
		fmt.Fprintf(out, "%s  skipped %s: %s\n", at, safe(e.Ref), safe(e.Text))
	default:
		fmt.Fprintf(out, "%s  %s %s: %s\n", at, safe(e.Who), e.Kind, safe(e.Text))
	}
}

// ask prints a prompt and reads one line; ok is false when the input
// ended or ctx was cancelled.
func (r *tabletopRunner) ask(ctx context.Context, prompt string) (string, bool) {
	fmt.Fprintf(r.d.stdout, "%s\n> ", prompt)
	select {
	case <-ctx.Done():
		return "", false
	case line, ok := <-r.lines:
		return strings.TrimSpace(line), ok
	}
}

// askList reads lines until an empty one.
func (r *tabletopRunner) askList(ctx context.Context, prompt string) ([]string, bool) {
	var out []string
	for {
		line, ok := r.ask(ctx, prompt)
		if !ok {
			return out, false
		}
		if line == "" {
			return out, true
		}
		out = append(out, line)
		prompt = "  more (an empty line ends):"
	}
}

// closing asks for the judgements still open, the hotwash, the ratings and
// the improvement plan. What was given stands if the input ends early.
func (r *tabletopRunner) closing(ctx context.Context) drill.Closing {
	var c drill.Closing
	stop := func(why string) drill.Closing {
		if ctx.Err() != nil {
			why = "interrupted"
		}
		c.Aborted = why + " during the closing"
		return c
	}
	out := r.d.stdout
	for _, sc := range r.tt.Scores() {
		if sc.Outcome != drill.OutcomePending {
			continue
		}
		for {
			line, ok := r.ask(ctx, fmt.Sprintf("\njudge %s (answered by %s): %s — met? y/n", safe(sc.Expectation), safe(sc.Who), safe(sc.Text)))
			if !ok {
				return stop("the input ended")
			}
			if line == "y" || line == "n" {
				if err := r.tt.Judge(sc.Expectation, line == "y", r.people.Facilitator); err != nil {
					fmt.Fprintf(r.d.stderr, "firebreak: %s\n", safe(err.Error()))
				}
				break
			}
		}
	}
	r.flush()
	fmt.Fprintln(out, "\nhotwash")
	speakers := append(append(slices.Clone(r.people.Responders), r.people.Observers...), r.people.Facilitator)
	for _, p := range speakers {
		h := drill.Hotwash{Who: p}
		var ok bool
		if h.Strong, ok = r.askList(ctx, fmt.Sprintf("%s: what went well? (one a line; an empty line ends)", safe(p))); !ok {
			return stop("the input ended")
		}
		if h.Improve, ok = r.askList(ctx, fmt.Sprintf("%s: what should be improved? (one a line; an empty line ends)", safe(p))); !ok {
			return stop("the input ended")
		}
		c.Hotwash = append(c.Hotwash, h)
	}
	fmt.Fprintln(out, "\nobjective ratings: P performed without challenges, S with some challenges, M with major challenges, U unable to be performed")
	for _, ob := range r.s.Objectives {
		for {
			line, ok := r.ask(ctx, fmt.Sprintf("%s %s — P/S/M/U?", safe(ob.ID), safe(ob.Text)))
			if !ok {
				return stop("the input ended")
			}
			rt := drill.Rating(strings.ToUpper(line))
			if rt == drill.RatingP || rt == drill.RatingS || rt == drill.RatingM || rt == drill.RatingU {
				c.Ratings = append(c.Ratings, drill.ObjectiveRating{ID: ob.ID, Rating: rt})
				fmt.Fprintf(out, "%s: %s\n", safe(ob.ID), drill.RatingText(rt))
				break
			}
			fmt.Fprintln(r.d.stderr, "firebreak: give P, S, M or U")
		}
	}
	fmt.Fprintln(out, "\nimprovement plan: one row a line as capability; action; owner; due (YYYY-MM-DD); an empty line ends")
	for {
		line, ok := r.ask(ctx, "improvement:")
		if !ok {
			return stop("the input ended")
		}
		if line == "" {
			return c
		}
		im, err := parseImprovement(line)
		if err != nil {
			fmt.Fprintf(r.d.stderr, "firebreak: %s\n", err)
			continue
		}
		c.Plan = append(c.Plan, im)
	}
}

func parseImprovement(line string) (drill.Improvement, error) {
	parts := strings.Split(line, ";")
	if len(parts) != 4 {
		return drill.Improvement{}, errors.New("write capability; action; owner; due (four parts, separated by ';')")
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
		if parts[i] == "" {
			return drill.Improvement{}, errors.New("every part is needed: capability; action; owner; due")
		}
	}
	if _, err := time.Parse(time.DateOnly, parts[3]); err != nil {
		return drill.Improvement{}, fmt.Errorf("due %q: give a date as YYYY-MM-DD", safe(parts[3]))
	}
	return drill.Improvement{Capability: parts[0], Action: parts[1], Owner: parts[2], Due: parts[3]}, nil
}

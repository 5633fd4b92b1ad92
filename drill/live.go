package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/docker"
)

// LiveOptions say how a live drill runs.
type LiveOptions struct {
	// Playbook is run unattended against the decoy ("" takes the
	// scenario's). Interactive leaves the response to the team.
	Playbook    string
	Interactive bool
	Yes         bool               // approve every step of the unattended playbook
	Approver    playbooks.Approver // asks for the others (nil: a step that needs approval stops the run)
	Events      func(playbooks.Event)
	Params      map[string]string // the unattended playbook's parameters
	// Image is the decoys' image, the user's: used, never removed. ""
	// builds one from the host's busybox-static for this drill alone
	// (BuiltImage), removed with the rest of the drill.
	Image string
	// Timeout bounds the response: how long an interactive drill watches
	// (default 15m), how long the unattended playbook may take (5m).
	Timeout time.Duration
	ID      string // the drill's ID; "" makes one
	Case    string // the case the response works in; "" makes drill-<scenario>-<id>
	// Progress receives the timeline as it grows, Notice what the drill
	// does before its clock starts; both are called from the drill's
	// goroutines, one call at a time.
	Progress func(Entry)
	Notice   func(string)
	// OnStep is told each step as it begins (LiveSteps), before the step
	// acts: a test interrupts a drill there.
	OnStep func(step string)
	// Status is told how the drill stands whenever that changes (a step,
	// a timeline entry, a target met, a check), and once more when it
	// has ended; from the drill's goroutines, one call at a time. It
	// should not block: the drill waits for it.
	Status func(LiveStatus)
	// End, closed, ends an interactive drill's response as its time
	// running out would: what was done is measured and checked, and the
	// drill cleans up (a cancelled ctx instead interrupts it).
	End <-chan struct{}

	hostVersions hostVersionsFunc // tests: pretend versions
	vendorFixed  vendorFixedFunc  // tests: pretend packages
	hostFiles    *HostFiles       // tests: other host files
	busybox      string           // tests: another busybox to build the image from ("" is HostBusybox)
}

// LiveSteps are the steps of a live drill, in order. Whatever step a drill
// ends in (finished, failed or interrupted), cleanup runs.
var LiveSteps = []string{"preflight", "sandbox", "decoy", "clock", "respond", "measure", "checks", "cleanup"}

// Defaults of LiveOptions.
const (
	DefaultInteractiveTimeout = 15 * time.Minute
	DefaultUnattendedTimeout  = 5 * time.Minute
)

// liveRun is one live drill in progress.
type liveRun struct {
	s        *app.Session
	d        *docker.Docker
	api      *client.Client
	sc       *Scenario
	dk       *decoy
	o        LiveOptions
	stateDir string
	caseID   string
	res      *Result

	sb         *Sandbox
	target     string // the suspect: the decoy, or the service of backup-restore
	peer       string
	peerAddr   string
	peerPort   int
	want       wants
	notes      []string
	playbook   *playbooks.Playbook
	pbCache    map[string]*playbooks.Playbook // the playbooks the case's journal names
	report     *playbooks.Report
	runErr     error
	setupFor   time.Duration
	armedAt    time.Time
	busyboxSHA string // the image's busybox, which dropping decoys copy

	pmu        sync.Mutex // one Progress call at a time
	smu        sync.Mutex // one Status call at a time
	lastStatus *LiveStatus
	cur        string // the step
	mu         sync.Mutex
	cond       *sync.Cond
	t0         time.Time
	timeline   []Entry
	events     []engineEvent
	calls      []ProxyCall
	marks      map[string]mark // detected, probe-cut, ...
	reached    *bool           // the peer answered the decoy before the response
}

// mark is when something was observed, and by what.
type mark struct {
	at     time.Time
	source string
	detail string
}

// RunLive runs a live drill of the scenario on the session's engine
// (Docker). It always returns a Result (nil only when the drill could not
// start: not a live scenario, no Docker); an error says why it ended early.
// Whatever happens after the preflight, cleanup runs before it returns.
func RunLive(ctx context.Context, s *app.Session, sc *Scenario, o LiveOptions) (*Result, error) {
	if sc == nil || sc.Kind != KindLive {
		what := "no scenario"
		if sc != nil {
			what = fmt.Sprintf("scenario %s is a %s drill", sc.Name, sc.Kind)
		}
		return nil, &app.InputError{Err: fmt.Errorf("%s: a live drill needs a live scenario (run a tabletop one with `firebreak drill tabletop`)", what)}
	}
	dk := decoys[sc.Decoy]
	if dk == nil {
		return nil, &app.InputError{Err: fmt.Errorf("scenario %s: unknown decoy %q: use one of %s", sc.Name, sc.Decoy, strings.Join(DecoyKinds(), ", "))}
	}
	d, ok := s.Runtime().(*docker.Docker)
	if !ok {
		return nil, &app.InputError{Err: fmt.Errorf("live drills run on Docker Engine; the session's engine is %s (give --runtime docker)", s.Runtime().Name())}
	}
	if o.ID == "" {
		o.ID = NewDrillID()
	}
	if !drillIDPattern.MatchString(o.ID) {
		return nil, &app.InputError{Err: fmt.Errorf("drill ID %q: use 4 to 32 lowercase letters and digits", o.ID)}
	}
	if o.Case == "" {
		o.Case = "drill-" + sc.Name + "-" + o.ID
	}
	if err := evidence.CheckCaseID(o.Case); err != nil {
		return nil, &app.InputError{Err: fmt.Errorf("case: %v", err)}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultUnattendedTimeout
		if o.Interactive {
			o.Timeout = DefaultInteractiveTimeout
		}
	}
	stateDir := s.Options().StateDir
	if stateDir == "" {
		stateDir = contain.DefaultStateDir
	}
	x := &liveRun{s: s, d: d, api: d.API(), sc: sc, dk: dk, o: o, stateDir: stateDir, caseID: o.Case, marks: map[string]mark{}}
	x.cond = sync.NewCond(&x.mu)
	x.res = &Result{Version: 1, Scenario: sc.Name, Title: sc.Title, Kind: KindLive, Techniques: append([]string{}, sc.Techniques...),
		Roles: sc.Roles, Timeline: []Entry{}, Scores: []Score{}, Case: o.Case}
	if x.res.Techniques == nil {
		x.res.Techniques = []string{}
	}
	for _, ob := range sc.Objectives {
		x.res.Objectives = append(x.res.Objectives, ObjectiveRating{ID: ob.ID, Text: ob.Text})
	}
	err := x.run(ctx)
	x.emit(true)
	return x.res, err
}

// step begins a step: the hook first, then the interrupt check.
func (x *liveRun) step(ctx context.Context, name string) error {
	if x.o.OnStep != nil {
		x.o.OnStep(name)
	}
	x.setStep(name)
	if err := ctx.Err(); err != nil {
		return &stepError{step: name, err: err}
	}
	x.notice("drill " + x.o.ID + ": " + name)
	return nil
}

type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string {
	if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
		return fmt.Sprintf("the drill was interrupted at its %s step; everything it made is cleaned up: %v", e.step, e.err)
	}
	return fmt.Sprintf("the drill stopped at its %s step: %v", e.step, e.err)
}
func (e *stepError) Unwrap() error { return e.err }

func (x *liveRun) notice(msg string) {
	if x.o.Notice != nil {
		x.o.Notice(msg)
	}
}

func (x *liveRun) run(ctx context.Context) (err error) {
	started := time.Now()
	x.res.Started = started.UTC() // the clock's start replaces it once the incident begins
	cur := "preflight"
	fail := func(e error) error {
		if e == nil {
			return nil
		}
		var se *stepError
		if !errors.As(e, &se) {
			e = &stepError{step: cur, err: e}
		}
		if x.res.Aborted == "" {
			x.res.Aborted = e.Error()
		}
		return e
	}
	if err := x.step(ctx, cur); err != nil {
		x.res.Ended = time.Now().UTC()
		return fail(err)
	}
	busybox := x.o.busybox
	if busybox == "" {
		busybox = HostBusybox
	}
	pre, perr := runPreflight(ctx, x.d, x.stateDir, x.o.Image, busybox, x.o.hostVersions, x.o.vendorFixed)
	if pre != nil {
		for _, f := range pre.Vulnerable {
			x.res.Findings = append(x.res.Findings, fmt.Sprintf("vulnerable host: %s (%s): %s", f.Title, f.Severity, f.Evidence))
		}
		for _, n := range pre.Notes {
			x.res.Findings = append(x.res.Findings, "preflight: "+n)
		}
	}
	if perr != nil {
		x.res.Ended = time.Now().UTC()
		return fail(perr)
	}
	hf := DefaultHostFiles(dockerSocket(x.api))
	if x.o.hostFiles != nil {
		hf = *x.o.hostFiles
	}
	before := TakeHostState(ctx, hf)
	// From here on, everything the drill makes is undone however it ends.
	defer func() {
		if cerr := x.finish(ctx, before, hf); cerr != nil {
			err = errors.Join(err, cerr)
		}
		x.res.Ended = time.Now().UTC()
	}()
	cur = "sandbox"
	if err := x.step(ctx, cur); err != nil {
		return fail(err)
	}
	evctx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEvents()
	go x.watchEvents(evctx, started.Add(-time.Second))
	x.sb, err = newSandbox(ctx, x.api, x.stateDir, x.o.ID, x.sc.Name, x.o.Image)
	if err != nil {
		return fail(err)
	}
	if x.o.Image == "" {
		if x.sb.Image, err = x.sb.buildImage(ctx, busybox); err != nil {
			return fail(err)
		}
		x.notice(fmt.Sprintf("drill %s: built the decoy image %s from %s (removed when the drill ends)", x.o.ID, x.sb.Image, busybox))
	}
	cur = "decoy"
	if err := x.step(ctx, cur); err != nil {
		return fail(err)
	}
	if err := x.dk.setup(ctx, x); err != nil {
		return fail(err)
	}
	cur = "clock"
	if err := x.step(ctx, cur); err != nil {
		return fail(err)
	}
	if err := x.startClock(ctx, started); err != nil {
		return fail(err)
	}
	pctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go x.watchDetection(pctx)
	cur = "respond"
	if err := x.step(ctx, cur); err != nil {
		return fail(err)
	}
	if x.o.Interactive {
		err = x.respondInteractive(ctx)
	} else {
		err = x.respondUnattended(ctx)
	}
	stopWatch()
	if err != nil {
		return fail(err)
	}
	cur = "measure"
	if err := x.step(ctx, cur); err != nil {
		return fail(err)
	}
	x.measure(ctx)
	cur = "checks"
	if err := x.step(ctx, cur); err != nil {
		return fail(err)
	}
	x.check(ctx)
	return nil
}

// startClock begins the incident and takes its engine time as the start.
func (x *liveRun) startClock(ctx context.Context, started time.Time) error {
	before := time.Now()
	x.setupFor = before.Sub(started)
	if err := x.dk.act(ctx, x); err != nil {
		return err
	}
	ev, ok := x.waitEvent(ctx, 10*time.Second, func(e engineEvent) bool {
		if x.dk.restore {
			return e.ID == x.target && strings.HasPrefix(e.Action, "exec_start") && strings.Contains(e.Action, ".deface.sh")
		}
		return e.ID == x.target && e.Action == "start"
	})
	t0, src := ev.Time, "engine"
	if !ok {
		t0, src = before, "drill"
		x.notes = append(x.notes, "the engine's event of the incident's start did not arrive: the clock starts when the drill began it")
	}
	x.mu.Lock()
	x.t0 = t0
	x.mu.Unlock()
	x.res.Started = t0.UTC()
	name := x.sb.name(roleOf(x.dk))
	x.add(Entry{Time: t0, Kind: "start", Ref: name, Source: src,
		Text: fmt.Sprintf("incident begins: %s decoy %s (%s); set up in %.1f s", x.dk.kind, name, runtime.ShortID(x.target), x.setupFor.Seconds())})
	actedSrc := "engine" // the engine's time of the decoy's line saying so
	if x.dk.restore {
		// The damage is the act itself: done when the exec returned.
		x.armedAt, actedSrc = time.Now(), "drill"
	} else if err := x.waitArmed(ctx, 30*time.Second); err != nil {
		return err
	}
	x.add(Entry{Time: x.armedAt, Kind: "decoy", Ref: name, Source: actedSrc, Text: "the decoy has acted: " + x.dk.what})
	if x.want.binary {
		x.busyboxSHA = x.busyboxDigest(ctx)
	}
	x.baselineProbe(ctx)
	return nil
}

func roleOf(dk *decoy) string {
	if dk.restore {
		return "svc"
	}
	return "decoy"
}

// respondUnattended waits for the alert (the first finding that names
// the decoy; the decoy having acted, where triage has no rule for it),
// then runs the playbook against the decoy exactly as `firebreak run`
// does.
func (x *liveRun) respondUnattended(ctx context.Context) error {
	name := x.o.Playbook
	if name == "" {
		name = x.sc.Playbook
	}
	if name == "" {
		return &app.InputError{Err: fmt.Errorf("scenario %s names no playbook: give --playbook", x.sc.Name)}
	}
	pb, err := x.s.LoadPlaybook(name)
	if err != nil {
		return err
	}
	x.playbook = pb
	if len(x.dk.detect) > 0 || x.dk.detectHealth {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		x.waitMark(wctx, "detected")
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	t, err := x.container(ctx, x.target)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, x.o.Timeout)
	defer cancel()
	octx, stopObserve := context.WithCancel(rctx)
	go x.observeLoop(octx)
	defer stopObserve()
	x.add(Entry{Time: time.Now(), Kind: "action", Who: "playbook " + pb.Name, Ref: EventPlaybook + pb.Name, Source: "drill",
		Text: fmt.Sprintf("unattended response: firebreak run %s --target %s --case %s", pb.Name, t.Name, x.caseID)})
	rep, err := x.s.Run(rctx, app.RunSpec{Case: x.caseID, Playbook: pb, Targets: []runtime.Container{t}, Params: x.o.Params,
		Yes: x.o.Yes, Approver: x.o.Approver, Events: x.runEvent})
	x.report = rep
	if rep != nil {
		x.res.Journal = rep.Journal
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		// The run's failure is a result of the drill, not the end of it:
		// what it did is measured and checked, and it is said.
		x.runErr = err
		x.res.Findings = append(x.res.Findings, "the playbook run failed: "+oneLine(err.Error()))
	}
	return nil
}

func (x *liveRun) runEvent(ev playbooks.Event) {
	if x.o.Events != nil {
		x.o.Events(ev)
	}
	switch ev.Type {
	case playbooks.EventStepFinished:
		text := fmt.Sprintf("%s (%s) %s", ev.Step, ev.Action, ev.Status)
		if v, ok := ev.Outputs["verdict"].(string); ok && v != "" && v != "not-applicable" {
			text += ": " + v
		}
		if ev.Error != "" {
			text += ": " + oneLine(ev.Error)
		}
		x.add(Entry{Time: ev.Time, Kind: "action", Who: "playbook " + ev.Playbook, Ref: ev.Step, Text: text, Source: "journal"})
	case playbooks.EventNeedsApproval:
		x.add(Entry{Time: ev.Time, Kind: "action", Who: "playbook " + ev.Playbook, Ref: ev.Step, Text: ev.Step + " waits for approval: " + ev.Detail, Source: "journal"})
	}
}

// respondInteractive leaves the response to the team (console or CLI) and
// watches the engine, the containment records and the case until every
// measure is taken or the time is up.
func (x *liveRun) respondInteractive(ctx context.Context) error {
	name := x.sb.name(roleOf(x.dk))
	x.notice(fmt.Sprintf("the incident is live: %s (%s) on network %s. Respond as you would (firebreak tui, or e.g. `firebreak run %s --target %s --case %s`); the drill measures from the engine, the records and case %s, and ends when every measure is taken or after %s (Ctrl-C ends it early)",
		name, runtime.ShortID(x.target), x.sb.Network, orDash(x.sc.Playbook), name, x.caseID, x.caseID, x.o.Timeout))
	wctx, cancel := context.WithTimeout(ctx, x.o.Timeout)
	defer cancel()
	show := x.presenter()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		x.observe(wctx, n%5 == 0)
		// Each target is marked as soon as it is met, so the team sees
		// its time during the response.
		x.takeMarks(wctx, false)
		n++
		show()
		x.emit(false)
		if x.allMeasured() {
			return nil
		}
		select {
		case <-x.o.End:
			x.notes = append(x.notes, fmt.Sprintf("the team ended the response at %s, before every measure was taken", x.offset(time.Now())))
			return nil
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			x.notes = append(x.notes, fmt.Sprintf("the drill's time (%s) ran out before every measure was taken", x.o.Timeout))
			return nil
		case <-tick.C:
		}
	}
}

// add puts an entry on the timeline and tells Progress.
func (x *liveRun) add(e Entry) {
	x.mu.Lock()
	if !x.t0.IsZero() {
		e.Offset = Millis(e.Time.Sub(x.t0) / time.Millisecond)
	}
	e.Time = e.Time.UTC()
	x.timeline = append(x.timeline, e)
	x.mu.Unlock()
	if x.o.Progress != nil {
		x.pmu.Lock()
		x.o.Progress(e)
		x.pmu.Unlock()
	}
	x.emit(false)
}

// setMark records the first time something was observed.
func (x *liveRun) setMark(name string, m mark) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.marks[name]; ok {
		return false
	}
	x.marks[name] = m
	x.cond.Broadcast()
	return true
}

func (x *liveRun) getMark(name string) (mark, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m, ok := x.marks[name]
	return m, ok
}

// waitMark waits until the mark is set or ctx ends.
func (x *liveRun) waitMark(ctx context.Context, name string) (mark, bool) {
	stop := context.AfterFunc(ctx, func() {
		x.mu.Lock()
		x.cond.Broadcast()
		x.mu.Unlock()
	})
	defer stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	for {
		if m, ok := x.marks[name]; ok {
			return m, true
		}
		if ctx.Err() != nil {
			return mark{}, false
		}
		x.cond.Wait()
	}
}

// finish cleans up (always), checks that nothing is left and the host is
// as it was, scores the expectations, and completes the result.
func (x *liveRun) finish(ctx context.Context, before HostState, hf HostFiles) error {
	if x.o.OnStep != nil {
		x.o.OnStep("cleanup")
	}
	x.setStep("cleanup")
	x.notice("drill " + x.o.ID + ": cleanup")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var errs []error
	if x.sb != nil {
		if err := x.sb.closeLocal(); err != nil {
			errs = append(errs, err)
		}
	}
	rep, err := Cleanup(cctx, x.s, CleanupOptions{StateDir: x.stateDir, ID: x.o.ID, Force: true})
	if err != nil {
		errs = append(errs, fmt.Errorf("cleaning up: %w", err))
	}
	left, lerr := Leftovers(cctx, x.api, x.stateDir, x.o.ID)
	switch {
	case lerr != nil:
		x.addCheck(Check{Name: "zero-residue", Detail: "not checked: " + lerr.Error()})
	case len(left) > 0:
		x.addCheck(Check{Name: "zero-residue", Detail: "left behind: " + strings.Join(left, ", ")})
	default:
		what := "nothing of the drill is left on the engine or in the state directory"
		if rep != nil {
			what += fmt.Sprintf(" (released %s; removed %s, %s, %s, %s)", count(len(rep.Released), "held container"), count(len(rep.Containers), "container"), count(len(rep.Networks), "network"), count(len(rep.Volumes), "volume"), count(len(rep.Images), "built image"))
		}
		x.addCheck(Check{Name: "zero-residue", OK: true, Detail: what})
	}
	after := TakeHostState(cctx, hf)
	if diff := before.Diff(after); len(diff) > 0 {
		x.addCheck(Check{Name: "host-unchanged", Detail: strings.Join(diff, "; ")})
	} else {
		x.addCheck(Check{Name: "host-unchanged", OK: true, Detail: "firewall rules, engine socket mode, runtime binaries and core_pattern as before"})
	}
	x.complete()
	return errors.Join(errs...)
}

func (x *liveRun) addCheck(c Check) {
	x.mu.Lock()
	x.res.Checks = append(x.res.Checks, c)
	x.mu.Unlock()
	x.emit(false)
}

// complete fills the result from what was observed: the timeline in time
// order, the scores, notes as findings, and an improvement row per missed
// target and failed check.
func (x *liveRun) complete() {
	x.mu.Lock()
	tl := slices.Clone(x.timeline)
	t0 := x.t0
	x.mu.Unlock()
	if t0.IsZero() {
		t0 = x.res.Started
	}
	sort.SliceStable(tl, func(i, j int) bool { return tl[i].Time.Before(tl[j].Time) })
	scores, extra := x.score(t0)
	tl = append(tl, extra...)
	sort.SliceStable(tl, func(i, j int) bool { return tl[i].Time.Before(tl[j].Time) })
	for i := range tl {
		if !t0.IsZero() {
			tl[i].Offset = Millis(tl[i].Time.Sub(t0) / time.Millisecond)
		}
	}
	x.res.Timeline = tl
	x.res.Scores = scores
	x.res.Points, x.res.Possible = 0, 0
	for _, s := range scores {
		x.res.Points += s.Points
		x.res.Possible += s.Of
	}
	x.res.Findings = append(x.res.Findings, x.notes...)
	due := time.Now().AddDate(0, 0, 30).Format(time.DateOnly)
	for _, m := range x.res.Measures {
		switch {
		case !m.Done && (m.Target > 0 || m.Name == "detect"):
			x.res.Plan = append(x.res.Plan, Improvement{Capability: capability(m.Name), Action: "the drill never saw " + m.Name + ": find out why and rehearse it again", Owner: "to assign", Due: due})
		case m.Done && !m.Met:
			x.res.Plan = append(x.res.Plan, Improvement{Capability: capability(m.Name), Action: fmt.Sprintf("time to %s was %s, over the target of %s", m.Name, time.Duration(m.Took)*time.Millisecond, time.Duration(m.Target)*time.Millisecond), Owner: "to assign", Due: due})
		}
	}
	for _, c := range x.res.Checks {
		if !c.OK {
			x.res.Plan = append(x.res.Plan, Improvement{Capability: "Outcome: " + c.Name, Action: "the check failed: " + oneLine(c.Detail), Owner: "to assign", Due: due})
		}
	}
	if x.res.Objectives == nil {
		x.res.Objectives = []ObjectiveRating{}
	}
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func capability(measure string) string {
	switch measure {
	case "detect":
		return "Detection"
	case "contain":
		return "Containment"
	case "evidence":
		return "Evidence"
	case "restore":
		return "Recovery"
	}
	return measure
}

// container is a container as resolution would give it (inspected).
func (x *liveRun) container(ctx context.Context, id string) (runtime.Container, error) {
	d, err := x.d.Inspect(ctx, id)
	if err != nil {
		return runtime.Container{}, err
	}
	return d.Container, nil
}

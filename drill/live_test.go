package drill

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/docker"
	"firebreak/runtime/runtimetest"
)

// liveEnv is a session on the real Docker Engine with its own state
// directory and a local evidence store.
type liveEnv struct {
	s        *app.Session
	api      *client.Client
	stateDir string
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	runtimetest.Docker(t) // skips, or fails in CI, without an engine and the image
	dir, err := os.MkdirTemp("", "fbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := app.Open(context.Background(), app.Options{
		Engine:   app.EngineOptions{Runtime: "docker"},
		StateDir: filepath.Join(dir, "state"),
		Store:    app.StoreOptions{URL: "file://" + filepath.Join(dir, "store"), KeyDir: filepath.Join(dir, "keys")},
		Actor:    "drill-test@host", Tool: "firebreak-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &liveEnv{s: s, api: s.Runtime().(*docker.Docker).API(), stateDir: filepath.Join(dir, "state")}
}

// scenarioFor is the built-in scenario of a decoy, or, while the built-in
// files are not there, an equivalent one.
func scenarioFor(t *testing.T, decoy string) *Scenario {
	t.Helper()
	if sc, err := (Library{}).Load(decoy); err == nil && sc.Kind == KindLive && sc.Decoy == decoy {
		return sc
	}
	pb := "escape-suspected"
	switch decoy {
	case "cryptominer":
		pb = "cryptominer"
	case "backup-restore":
		pb = "restore-clean"
	}
	in := &Inject{ID: "I1", Trigger: TriggerOffset, Title: "Alert", Text: "a decoy misbehaves",
		Expectations: []*Expectation{{ID: "E1", Kind: ExpectAction, Event: EventContained, Text: "contained", Points: 10, Deadline: 2 * time.Minute}}}
	return &Scenario{Name: decoy, Kind: KindLive, Title: decoy + " drill", Decoy: decoy, Playbook: pb, Techniques: []string{"T1611"},
		Objectives: []*Objective{{ID: "O1", Text: "contain it"}}, Injects: []*Inject{in},
		Targets: Targets{Contain: time.Minute, Evidence: 2 * time.Minute}}
}

// engineState is every container, network, volume and image of the
// engine, by name (or ID for images).
func engineState(t *testing.T, api *client.Client) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	ns, err := api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	vs, err := api.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		out = append(out, "volume "+v.Name)
	}
	is, err := api.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range is {
		out = append(out, "image "+i.ID)
	}
	slices.Sort(out)
	return out
}

// snapshot is what a drill must leave as it found it.
type snapshot struct {
	engine []string
	host   HostState
	drills []string // entries of the drills directory
	held   []string
}

func takeSnapshot(t *testing.T, e *liveEnv) snapshot {
	t.Helper()
	s := snapshot{engine: engineState(t, e.api), host: TakeHostState(context.Background(), DefaultHostFiles(dockerSocket(e.api)))}
	ents, _ := os.ReadDir(DrillsDir(e.stateDir))
	for _, d := range ents {
		s.drills = append(s.drills, d.Name())
	}
	ents, _ = os.ReadDir(filepath.Join(e.stateDir, "held"))
	for _, d := range ents {
		if strings.HasSuffix(d.Name(), ".json") {
			s.held = append(s.held, d.Name())
		}
	}
	return s
}

// sameAsBefore fails the test for every difference between two snapshots.
func sameAsBefore(t *testing.T, before, after snapshot) {
	t.Helper()
	added, removed := lineDiff(before.engine, after.engine)
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("engine differs: added %v, removed %v", added, removed)
	}
	if d := before.host.Diff(after.host); len(d) > 0 {
		t.Errorf("host differs: %v", d)
	}
	if len(after.drills) > 0 {
		t.Errorf("drill directories left: %v", after.drills)
	}
	if !slices.Equal(before.held, after.held) {
		t.Errorf("held records: before %v, after %v", before.held, after.held)
	}
}

// TestLiveScenarios runs each built-in live scenario unattended with its
// playbook on the real engine: the outcome checks pass, the measures are
// taken from the engine and the journal, the reports are written, and the
// engine and the host are as they were.
func TestLiveScenarios(t *testing.T) {
	e := newLiveEnv(t)
	for _, decoy := range Decoys {
		t.Run(decoy, func(t *testing.T) {
			sc := scenarioFor(t, decoy)
			before := takeSnapshot(t, e)
			var setup time.Duration
			began := time.Now()
			res, err := RunLive(context.Background(), e.s, sc, LiveOptions{Yes: true, Image: runtimetest.Image(),
				OnStep: func(step string) {
					if step == "respond" {
						setup = time.Since(began)
					}
				}})
			took := time.Since(began)
			if err != nil {
				t.Fatalf("drill: %v", err)
			}
			t.Logf("%s: set up in %.1f s, ran in %.1f s (measures %+v)", decoy, setup.Seconds(), took.Seconds(), res.Measures)
			for _, c := range res.Checks {
				if !c.OK {
					t.Errorf("check %s failed: %s", c.Name, c.Detail)
				}
			}
			names := map[string]bool{}
			for _, c := range res.Checks {
				names[c.Name] = true
			}
			wantChecks := []string{"evidence-verifies", "zero-residue", "host-unchanged", "undisturbed"}
			wantMeasures := []string{"evidence"}
			if expects(sc, EventContained) || sc.Targets.Contain > 0 {
				wantChecks = append(wantChecks[:3], "peer-unreachable", "frozen")
				wantMeasures = append(wantMeasures, "contain")
			}
			for _, want := range wantChecks {
				if !names[want] {
					t.Errorf("no %s check in %v", want, res.Checks)
				}
			}
			measures := map[string]Measure{}
			for _, m := range res.Measures {
				measures[m.Name] = m
			}
			for _, want := range wantMeasures {
				if m := measures[want]; !m.Done || m.Source == "" {
					t.Errorf("measure %s not taken: %+v", want, m)
				}
			}
			if m := measures["detect"]; !m.Done {
				t.Errorf("detect not taken: %+v", m)
			}
			if m := measures["restore"]; decoy == "backup-restore" && (!m.Done || m.Source != "engine") {
				t.Errorf("restore not taken from the engine: %+v", m)
			}
			if res.Case == "" || res.Journal == "" || res.Started.IsZero() {
				t.Errorf("result lacks case, journal or start: %q %q %v", res.Case, res.Journal, res.Started)
			}
			if len(res.Scores) == 0 || res.Possible == 0 {
				t.Errorf("no scores: %+v", res.Scores)
			}
			sources := map[string]bool{}
			for _, en := range res.Timeline {
				sources[en.Source] = true
			}
			for _, want := range []string{"engine", "journal", "probe"} {
				if !sources[want] {
					t.Errorf("no timeline entry from %s", want)
				}
			}
			paths, err := WriteReports(t.TempDir(), res)
			if err != nil || len(paths) != 4 {
				t.Errorf("reports: %v %v", paths, err)
			}
			sameAsBefore(t, before, takeSnapshot(t, e))
		})
	}
}

// TestLiveInterruptedAtEachStep interrupts a drill as each step begins:
// whatever was made is cleaned up, the engine and the host are as before.
func TestLiveInterruptedAtEachStep(t *testing.T) {
	e := newLiveEnv(t)
	for _, step := range LiveSteps {
		t.Run(step, func(t *testing.T) {
			before := takeSnapshot(t, e)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// No image given: the drill builds its own, so an interrupted
			// drill is shown to remove that too.
			res, err := RunLive(ctx, e.s, scenarioFor(t, "dropped-binary"), LiveOptions{Yes: true,
				OnStep: func(s string) {
					if s == step {
						cancel()
					}
				}})
			if step != "cleanup" {
				if !errors.Is(err, context.Canceled) || !strings.Contains(res.Aborted, step) {
					t.Errorf("interrupted at %s: err %v, aborted %q", step, err, res.Aborted)
				}
			}
			dir := t.TempDir()
			if _, err := WriteReports(dir, res); err != nil {
				t.Errorf("reports of the interrupted drill: %v", err)
			} else if _, err := LoadResult(dir); err != nil {
				t.Errorf("the interrupted drill's result does not load: %v", err)
			}
			left, lerr := Leftovers(context.Background(), e.api, e.stateDir, "")
			if lerr != nil || len(left) > 0 {
				t.Errorf("left behind: %v %v", left, lerr)
			}
			sameAsBefore(t, before, takeSnapshot(t, e))
		})
	}
}

// TestLiveInterruptedDuringThePlaybook interrupts the drill while its
// playbook runs, right after the decoy's network was cut: the run stops,
// the held decoy is released through its record, nothing is left.
func TestLiveInterruptedDuringThePlaybook(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cut bool
	res, err := RunLive(ctx, e.s, scenarioFor(t, "engine-socket"), LiveOptions{Yes: true, Image: runtimetest.Image(),
		Events: func(ev playbooks.Event) {
			if ev.Type == playbooks.EventStepFinished && ev.Step == "isolate" {
				cut = true
				cancel()
			}
		}})
	if !cut || !errors.Is(err, context.Canceled) || !strings.Contains(res.Aborted, "respond") {
		t.Errorf("cut %v, err %v, aborted %q", cut, err, res.Aborted)
	}
	if !slices.ContainsFunc(res.Checks, func(c Check) bool { return c.Name == "zero-residue" && c.OK }) {
		t.Errorf("checks %+v", res.Checks)
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

// TestLiveChecksOutcomesNotClicks runs a scenario that asks for a
// containment with a playbook that only captures: the run succeeds, but
// the outcome checks fail, the contain measure is not taken, and the
// improvement plan says so.
func TestLiveChecksOutcomesNotClicks(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	res, err := RunLive(context.Background(), e.s, scenarioFor(t, "engine-socket"), LiveOptions{Yes: true, Image: runtimetest.Image(), Playbook: "evidence-only"})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, c := range res.Checks {
		failed[c.Name] = !c.OK
	}
	if !failed["peer-unreachable"] || !failed["frozen"] || failed["evidence-verifies"] || failed["zero-residue"] {
		t.Errorf("checks %+v", res.Checks)
	}
	for _, m := range res.Measures {
		if m.Name == "contain" && m.Done {
			t.Errorf("contain measured without a containment: %+v", m)
		}
	}
	if !slices.ContainsFunc(res.Plan, func(i Improvement) bool { return i.Capability == "Containment" }) {
		t.Errorf("no improvement for the containment: %+v", res.Plan)
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

// TestLiveVulnerableHostStops: a runtime before an escape CVE's fix stops
// the drill before it makes anything, and is reported as a finding.
func TestLiveVulnerableHostStops(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	res, err := RunLive(context.Background(), e.s, scenarioFor(t, "engine-socket"), LiveOptions{Yes: true, Image: runtimetest.Image(),
		hostVersions: func(context.Context) (collect.HostVersions, error) {
			return collect.HostVersions{Engine: "docker 18.09.1", Runc: "1.0.0-rc6", Kernel: "6.1.0"}, nil
		},
		vendorFixed: func(context.Context, collect.BackportQuery) (string, bool) { return "", false }})
	var vh *VulnerableHostError
	if !errors.As(err, &vh) {
		t.Fatalf("err %v, want a vulnerable host", err)
	}
	if !slices.ContainsFunc(res.Findings, func(f string) bool { return strings.Contains(f, "CVE-2019-5736") }) {
		t.Errorf("findings %v do not name CVE-2019-5736", res.Findings)
	}
	if res.Aborted == "" {
		t.Error("not marked aborted")
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

// TestCleanupFindsAKilledDrill leaves a drill's sandbox as a killed drill
// would (engine objects, directory, a held decoy, a sentinel) and cleans
// it up; a second cleanup finds nothing.
func TestCleanupFindsAKilledDrill(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	ctx := context.Background()
	x := &liveRun{s: e.s, d: e.s.Runtime().(*docker.Docker), api: e.api, sc: scenarioFor(t, "nsenter"), dk: decoys["nsenter"], stateDir: e.stateDir,
		o: LiveOptions{ID: NewDrillID(), Image: runtimetest.Image()}, marks: map[string]mark{}, res: &Result{}}
	x.cond = newCond(x)
	var err error
	x.sb, err = newSandbox(ctx, e.api, e.stateDir, x.o.ID, "nsenter", x.o.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.dk.setup(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := x.dk.act(ctx, x); err != nil {
		t.Fatal(err)
	}
	t0, err := x.container(ctx, x.target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Contain(ctx, t0, containOptions()); err != nil {
		t.Fatal(err)
	}
	sentinel := x.sb.meta.Sentinel.PID
	// The drill's process is gone: nothing of it runs in this one.
	x.sb.sentinel.cmd.Process.Release()
	x.sb.sentinel = nil
	x.sb.meta.Owner = procRef{PID: 1 << 30}
	if err := x.sb.saveMeta(); err != nil {
		t.Fatal(err)
	}
	if left, _ := Leftovers(ctx, e.api, e.stateDir, x.o.ID); len(left) < 4 {
		t.Fatalf("the killed drill's sandbox is not all there: %v", left)
	}
	rep, err := Cleanup(ctx, e.s, CleanupOptions{StateDir: e.stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Released) != 1 || len(rep.Containers) != 2 || len(rep.Networks) != 1 || len(rep.Dirs) != 1 || len(rep.Processes) == 0 {
		t.Errorf("cleanup: %+v", rep)
	}
	if _, err := os.Stat("/proc/" + itoa(sentinel)); err == nil {
		if st, _ := procStart(sentinel); st == x.sb.meta.Sentinel.Start {
			t.Errorf("the sentinel %d still runs", sentinel)
		}
	}
	again, err := Cleanup(ctx, e.s, CleanupOptions{StateDir: e.stateDir})
	if err != nil || !again.Empty() {
		t.Errorf("second cleanup: %+v %v", again, err)
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

func newCond(x *liveRun) *sync.Cond { return sync.NewCond(&x.mu) }

func containOptions() contain.Options { return contain.DefaultOptions() }

func itoa(n int) string { return strconv.Itoa(n) }

// TestLiveInteractive: the team responds itself (here: contain, then a
// capture into the drill's case, through the session as the CLI and the
// console do); the drill watches the records, the engine and the case,
// measures, and ends once every measure is taken.
func TestLiveInteractive(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	responding := make(chan string, 1)
	id := NewDrillID()
	caseID := "IR-DRILL-" + id
	done := make(chan struct{})
	var res *Result
	var err error
	var injects []Entry
	go func() {
		defer close(done)
		res, err = RunLive(context.Background(), e.s, scenarioFor(t, "kernel-helper"), LiveOptions{Interactive: true, ID: id, Case: caseID,
			Image: runtimetest.Image(), Timeout: 2 * time.Minute,
			Progress: func(e Entry) {
				if e.Kind == "inject" {
					injects = append(injects, e)
				}
			},
			OnStep: func(s string) {
				if s == "respond" {
					responding <- NamePrefix + id + "-decoy"
				}
			}})
	}()
	var name string
	select {
	case name = <-responding:
	case <-done:
		t.Fatalf("the drill ended before the response: %v", err)
	}
	ctx := context.Background()
	time.Sleep(time.Second) // the team takes a moment
	target, rerr := e.s.ResolveOne(ctx, name)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if _, err := e.s.Contain(ctx, target, containOptions()); err != nil {
		t.Fatal(err)
	}
	o := collect.DefaultOptions()
	if c, err := e.s.Collect(ctx, app.CollectSpec{Case: caseID, Targets: []runtime.Container{target}, Options: o}); err != nil || c.FinishErr != nil {
		t.Fatalf("capture: %v %v", err, c.FinishErr)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the drill did not end once every measure was taken")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(injects) == 0 {
		t.Error("no inject was presented to the team")
	}
	for _, m := range res.Measures {
		if !m.Done {
			t.Errorf("measure %s not taken: %+v", m.Name, m)
		}
	}
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

// TestLiveInteractiveStatusAndEnd: while the team responds, Status shows
// the contain target met with its time and the checks that passed, before
// the drill measures at its end; closing End ends the response early, and
// the drill still measures, checks, cleans up and says so last.
func TestLiveInteractiveStatusAndEnd(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	id := NewDrillID()
	end := make(chan struct{})
	statuses := make(chan LiveStatus, 1024)
	done := make(chan struct{})
	var res *Result
	var err error
	go func() {
		defer close(done)
		res, err = RunLive(context.Background(), e.s, scenarioFor(t, "kernel-helper"), LiveOptions{Interactive: true, ID: id,
			Image: runtimetest.Image(), Timeout: 2 * time.Minute, End: end,
			Status: func(st LiveStatus) { statuses <- st }})
	}()
	var last LiveStatus
	next := func(what string, ok func(LiveStatus) bool) LiveStatus {
		t.Helper()
		for {
			select {
			case last = <-statuses:
				if ok(last) {
					return last
				}
			case <-time.After(time.Minute):
				t.Fatalf("no status showed %s; the last: %+v", what, last)
			}
		}
	}
	st := next("the response", func(st LiveStatus) bool { return st.Step == "respond" && !st.Started.IsZero() })
	if st.Suspect != NamePrefix+id+"-decoy" || st.Case == "" || len(st.Measures) == 0 {
		t.Fatalf("status at the response: %+v", st)
	}
	ctx := context.Background()
	target, rerr := e.s.ResolveOne(ctx, st.Suspect)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if _, err := e.s.Contain(ctx, target, containOptions()); err != nil {
		t.Fatal(err)
	}
	measure := func(st LiveStatus, name string) Measure {
		for _, m := range st.Measures {
			if m.Name == name {
				return m
			}
		}
		return Measure{}
	}
	st = next("contain met", func(st LiveStatus) bool { return measure(st, "contain").Done })
	if st.Step != "respond" || st.Final || st.Ended {
		t.Errorf("contain shown met only after the response: %+v", st)
	}
	if m := measure(st, "contain"); m.Took <= 0 || m.Source == "" {
		t.Errorf("contain measure %+v", m)
	}
	passed := map[string]bool{}
	for _, c := range st.Checks {
		passed[c.Name] = c.OK
	}
	if !passed["peer-unreachable"] || !passed["frozen"] || passed["evidence-verifies"] {
		t.Errorf("checks during the response: %+v", st.Checks)
	}
	close(end)
	st = next("the end", func(st LiveStatus) bool { return st.Ended })
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if !st.Final || st.Step != "cleanup" || !measure(st, "contain").Done || measure(st, "evidence").Done {
		t.Errorf("the last status: %+v", st)
	}
	if !slices.ContainsFunc(res.Findings, func(f string) bool { return strings.Contains(f, "the team ended the response") }) {
		t.Errorf("findings do not say the team ended it: %v", res.Findings)
	}
	if !slices.ContainsFunc(res.Checks, func(c Check) bool { return c.Name == "zero-residue" && c.OK }) {
		t.Errorf("checks %+v", res.Checks)
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/alerts"
	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/playbooks"
	"firebreak/recover"
	"firebreak/runtime"
)

// fakeBackend answers the console's calls from memory: for tests of the
// console's own logic (keys, views, generations), never of an engine's
// behaviour. Function fields override a call where a test needs to.
type fakeBackend struct {
	mu       sync.Mutex
	items    []Item
	assess   map[string]collect.Assessment // by Item.Key
	acts     []Act
	lists    int // List calls
	contains []string
	releases []string
	ends     []string // "kill KEY" or "stop KEY"
	runs     []RunRequest
	collects []string
	backups  []string
	recovers []string
	store    evidence.Store

	DetailFn func(ctx context.Context, it Item) (*Detail, error)
	LogsFn   func(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error)
	CasesFn  func(ctx context.Context) ([]CaseSummary, error)
	VerifyFn func(ctx context.Context, caseID string) (*evidence.Report, error)
	RunFn    func(ctx context.Context, r RunRequest) (*playbooks.Report, error)
	ListFn   func(ctx context.Context) ([]Item, error)
	WatchFn  func(ctx context.Context, send func(EngineEvent)) error

	CollectProgress []progress.Count // reported by Collect, in order
	Books           []PlaybookInfo

	// journal is serve's intake journal as the fake holds it, in order;
	// waits are the cases' waiting steps by case.
	journal    []alerts.Entry
	waits      map[string]*playbooks.Waiting
	alertReads int

	// pods are the fake's Kubernetes pods (see fake_pods_test.go): their
	// members' states and holds are read from items.
	pods                              []runtime.Pod
	podLists                          int
	podContains, podReleases, podCols []string
}

// fleetOf makes n containers on docker and containerd, a few with findings.
func fleetOf(n int) *fakeBackend {
	f := &fakeBackend{assess: map[string]collect.Assessment{}}
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range n {
		engine := "docker"
		if i%5 == 4 {
			engine = "containerd/default"
		}
		id := fmt.Sprintf("%064x", i+1)
		it := Item{Engine: engine, Container: runtime.Container{
			ID: id, Name: fmt.Sprintf("svc-%03d", i), Image: "busybox:test", Created: base.Add(time.Duration(i) * time.Second),
			State: runtime.StateRunning, Labels: map[string]string{"tier": []string{"web", "db", "cache"}[i%3]},
		}}
		f.items = append(f.items, it)
		a := collect.Assessment{Container: it.Container, Runtime: engine}
		if i%7 == 0 {
			a.Findings = []collect.Finding{{ID: "cap-sys_admin", Severity: collect.High, Title: "CAP_SYS_ADMIN granted"}}
			a.Score = 15 + i%11
		}
		f.assess[it.Key()] = a
	}
	return f
}

func (f *fakeBackend) Engines() []string { return []string{"docker", "containerd/default"} }

func (f *fakeBackend) List(ctx context.Context) ([]Item, error) {
	f.mu.Lock()
	f.lists++
	fn := f.ListFn
	items := append([]Item(nil), f.items...)
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx)
	}
	return items, nil
}

func (f *fakeBackend) Get(ctx context.Context, engine, id string) (Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range f.items {
		if it.Engine == engine && it.ID == id {
			return it, nil
		}
	}
	return Item{}, &runtime.NotFoundError{Ref: id}
}

func (f *fakeBackend) Watch(ctx context.Context, send func(EngineEvent)) error {
	if f.WatchFn != nil {
		return f.WatchFn(ctx, send)
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeBackend) Assess(ctx context.Context, items []Item) ([]collect.Assessment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []collect.Assessment
	for _, it := range items {
		if a, ok := f.assess[it.Key()]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeBackend) Detail(ctx context.Context, it Item) (*Detail, error) {
	if f.DetailFn != nil {
		return f.DetailFn(ctx, it)
	}
	return &Detail{Details: runtime.Details{Container: it.Container}}, nil
}

func (f *fakeBackend) Logs(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error) {
	if f.LogsFn != nil {
		return f.LogsFn(ctx, it, tail, follow)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (f *fakeBackend) setHeld(key string, rec *contain.Record) {
	for i := range f.items {
		if f.items[i].Key() == key {
			f.items[i].Held, f.items[i].Drift = rec, ""
			if rec != nil {
				f.items[i].State = runtime.StatePaused
			} else {
				f.items[i].State = runtime.StateRunning
			}
		}
	}
}

// thawByHand is `docker unpause` of a contained container from outside:
// it runs, and the backend reports the drift as contain's Check words it.
func (f *fakeBackend) thawByHand(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.items {
		if f.items[i].Key() == key {
			f.items[i].State, f.items[i].Drift = runtime.StateRunning, "it was thawed outside Firebreak"
		}
	}
}

func (f *fakeBackend) Contain(ctx context.Context, it Item, dryRun bool) (*contain.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &contain.Result{Container: it.Container, DryRun: dryRun, Changes: []contain.Change{
		{Action: "firewall", Detail: "drop every packet in its network namespace"},
		{Action: "pause", Detail: "freeze every process"},
	}}
	if !dryRun {
		f.contains = append(f.contains, it.Key())
		f.setHeld(it.Key(), &contain.Record{Container: it.Container, Phase: "contained", Network: &contain.NetworkHold{Firewall: true}, Pause: &contain.PauseHold{Paused: true}})
	}
	return res, nil
}

func (f *fakeBackend) Release(ctx context.Context, it Item, dryRun bool) (*contain.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !dryRun {
		f.releases = append(f.releases, it.Key())
		f.setHeld(it.Key(), nil)
	}
	return &contain.Result{Container: it.Container, DryRun: dryRun, Changes: []contain.Change{{Action: "unpause", Detail: "thaw"}}}, nil
}

// end ends a running or paused container as the engine would: it exits,
// and its record (made when none is held) says so.
func (f *fakeBackend) end(it Item, action, detail, caseID string) (*contain.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.items {
		c := &f.items[i]
		if c.Key() != it.Key() {
			continue
		}
		res := &contain.Result{Container: c.Container}
		if c.State != runtime.StateRunning && c.State != runtime.StatePaused {
			res.Unchanged = true
			return res, nil
		}
		f.ends = append(f.ends, action+" "+it.Key())
		if c.Held == nil {
			c.Held = &contain.Record{Container: c.Container, Phase: "ended", Case: caseID}
		}
		c.Held.Ended = &contain.EndHold{Action: action, Signal: detail}
		c.State, c.Drift = runtime.StateStopped, ""
		res.Changes = append(res.Changes, contain.Change{Action: action, Detail: detail, Done: true})
		return res, nil
	}
	return nil, &runtime.NotFoundError{Ref: it.ID}
}

func (f *fakeBackend) Stop(ctx context.Context, it Item, grace time.Duration, caseID string) (*contain.Result, error) {
	return f.end(it, "stop", "", caseID)
}

func (f *fakeBackend) Kill(ctx context.Context, it Item, signal, caseID string) (*contain.Result, error) {
	return f.end(it, "kill", signal, caseID)
}

func (f *fakeBackend) Collect(ctx context.Context, items []Item, caseID string, report func(progress.Count)) (*Captured, error) {
	if report != nil && f.CollectProgress != nil {
		for _, n := range f.CollectProgress {
			report(n)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.collects = append(f.collects, caseID)
	return &Captured{Case: caseID, Artifacts: 12 * len(items)}, nil
}

func (f *fakeBackend) Backup(ctx context.Context, it Item) (*recover.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backups = append(f.backups, it.Key())
	return &recover.Snapshot{ID: "snap-1", Container: it.Container, Totals: recover.Totals{Files: 3, NewChunks: 2}}, nil
}

func (f *fakeBackend) Recover(ctx context.Context, it Item, caseID, from string, dryRun bool, report func(progress.Count)) (*recover.Recovery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := &recover.Recovery{Snapshot: "snap-1", DryRun: dryRun, Container: it.Container, Steps: []recover.Step{
		{Action: "verify", Detail: "snapshot snap-1: 3 files"}, {Action: "rename", Detail: it.Name + " -> " + it.Name + ".suspect-" + caseID},
		{Action: "create", Detail: "from the snapshot's configuration"}, {Action: "start", Detail: "and wait until healthy"}}}
	if !dryRun {
		if from != "snap-1" {
			return nil, fmt.Errorf("recover from %q, want the planned snap-1", from)
		}
		f.recovers = append(f.recovers, it.Key())
	}
	return rec, nil
}

func (f *fakeBackend) Playbooks() ([]PlaybookInfo, error) {
	if f.Books != nil {
		return f.Books, nil
	}
	return []PlaybookInfo{
		{Name: "evidence-only", Description: "Capture evidence without changing the container.", Source: "builtin"},
		{Name: "escape-suspected", Description: "Contain, capture, seal.", Source: "builtin",
			Params: []*playbooks.ParamDecl{{Name: "restore", Type: "bool", Default: false, Description: "offer a restore"}}},
	}, nil
}

func (f *fakeBackend) Run(ctx context.Context, r RunRequest) (*playbooks.Report, error) {
	f.mu.Lock()
	f.runs = append(f.runs, r)
	fn := f.RunFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, r)
	}
	return &playbooks.Report{Case: r.Case, Playbook: r.Playbook}, nil
}

func (f *fakeBackend) Store() evidence.Store { return f.store }

func (f *fakeBackend) Marks(ctx context.Context) (map[string][]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, it := range f.items {
		for _, k := range f.collects {
			if strings.Contains(k, it.ID) {
				out[it.ID] = append(out[it.ID], "evidence")
			}
		}
		if slices.Contains(f.backups, it.Key()) {
			out[it.ID] = append(out[it.ID], "backup")
		}
	}
	return out, nil
}

func (f *fakeBackend) Cases(ctx context.Context) ([]CaseSummary, error) {
	if f.CasesFn != nil {
		return f.CasesFn(ctx)
	}
	return nil, nil
}

func (f *fakeBackend) Verify(ctx context.Context, caseID string) (*evidence.Report, error) {
	if f.VerifyFn != nil {
		return f.VerifyFn(ctx, caseID)
	}
	return nil, errors.New("no store")
}

func (f *fakeBackend) Journal(a Act) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, a)
	return nil
}

// Alerts answers from the fake's journal what alerts.ReadTail would: the
// entries past the cursor, by position, folded the same way.
func (f *fakeBackend) Alerts(ctx context.Context, from alerts.Cursor, last int) (alerts.Tail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alertReads++
	// the stories begun past the cursor; the rest go on stories read before
	t := alerts.Tail{Cursor: alerts.Cursor{Offset: int64(len(f.journal)), MaxSeq: from.MaxSeq}}
	b := &alerts.Book{Last: last}
	var later []alerts.Entry
	for _, e := range f.journal[from.Offset:] {
		t.Cursor.MaxSeq = max(t.Cursor.MaxSeq, e.Seq)
		if e.Kind != alerts.KindAccepted && e.Seq <= from.MaxSeq {
			later = append(later, e)
			continue
		}
		b.Add(e)
	}
	t.Stories, t.Later = b.Stories(), later
	return t, nil
}

func (f *fakeBackend) Waiting(ctx context.Context, caseID string) (*playbooks.Waiting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.waits[caseID]
	if !ok {
		return nil, fmt.Errorf("case %s has no run journal", caseID)
	}
	cp := *w
	return &cp, nil
}

// drive runs a command and feeds its messages back into the model until
// none are left, as the program's loop would (batches are opened; a
// command that does not answer within a second is dropped: the watcher and
// the event wait block by design).
func drive(m *Model, cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		msg := runCmd(c)
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case spinMsg, rewatchMsg, drillTickMsg:
			// time-driven: not part of a synchronous drive
		default:
			_, next := m.Update(msg)
			queue = append(queue, next)
		}
	}
}

// runCmd runs one command with a deadline.
func runCmd(c tea.Cmd) tea.Msg {
	ch := make(chan tea.Msg, 1)
	go func() { ch <- c() }()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(time.Second):
		return nil
	}
}

// press sends keys to the model, driving what each starts.
func press(m *Model, keys ...string) {
	for _, k := range keys {
		_, cmd := m.Update(keyMsg(k))
		drive(m, cmd)
	}
}

// keyMsg makes the key message a terminal sends for a key name.
func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "ctrl+a":
		return tea.KeyMsg{Type: tea.KeyCtrlA}
	case "ctrl+r":
		return tea.KeyMsg{Type: tea.KeyCtrlR}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// typeText sends each rune of s as a key.
func typeText(m *Model, s string) {
	for _, r := range s {
		if r == ' ' {
			press(m, "space")
		} else {
			press(m, string(r))
		}
	}
}

// started builds a console over b at w x h and runs its start (the list and
// triage).
func started(b Backend, w, h int, o Options) *Model {
	if o.Now == nil {
		o.Now = func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	}
	if o.Actor == "" {
		o.Actor = "tester@host"
	}
	m := New(b, o)
	m.noWatch = true
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	drive(m, m.Init())
	return m
}

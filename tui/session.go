package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/playbooks"
	"firebreak/recover"
	"firebreak/runtime"
)

// Sessions is the console's real Backend: one case session per connected
// engine, each called the way the CLI's verbs call it.
type Sessions struct {
	engines  []engineSession
	opts     app.Options
	store    evidence.Store
	storeErr error
	keys     []evidence.TrustedKey
	procRoot string

	jmu sync.Mutex
}

type engineSession struct {
	name string // "docker" or "containerd/NAMESPACE"
	s    *app.Session
}

// NewSessions builds the backend over open sessions (none: offline, the
// store only). The store is the sessions' evidence store, or opened
// read-only from o.Store when there is no session.
func NewSessions(o app.Options, ss ...*app.Session) *Sessions {
	b := &Sessions{opts: o, procRoot: "/proc"}
	for _, s := range ss {
		name := s.Runtime().Name()
		if name == "containerd" {
			name += "/" + s.Options().Engine.Namespace
		}
		b.engines = append(b.engines, engineSession{name: name, s: s})
	}
	if len(ss) > 0 {
		if ev, err := ss[0].Evidence(); err == nil {
			b.store = ev.Store
		} else {
			b.storeErr = err
		}
	}
	if b.store == nil {
		so := o.Store
		so.ReadOnly = true
		b.store, b.storeErr = app.OpenStore(so)
	}
	if k, err := evidence.LoadPublicKey(o.Store.KeyDir); err == nil {
		b.keys = []evidence.TrustedKey{{Key: k, Source: "signing.pub in the key directory " + o.Store.KeyDir}}
	}
	return b
}

// Trust pins the keys verify trusts (the CLI's --pubkey and
// --trusted-keys): a bundle someone sent is then verified against the key
// the responder holds, not only the signing.pub found beside it. No keys
// leaves the key directory's.
func (b *Sessions) Trust(keys []evidence.TrustedKey) {
	if len(keys) > 0 {
		b.keys = keys
	}
}

// Close closes every session.
func (b *Sessions) Close() error {
	var errs []error
	for _, e := range b.engines {
		errs = append(errs, e.s.Close())
	}
	return errors.Join(errs...)
}

func (b *Sessions) Engines() []string {
	var out []string
	for _, e := range b.engines {
		out = append(out, e.name)
	}
	return out
}

func (b *Sessions) engine(name string) (*app.Session, error) {
	for _, e := range b.engines {
		if e.name == name {
			return e.s, nil
		}
	}
	return nil, fmt.Errorf("engine %s is not connected", name)
}

// held is what Firebreak holds on one engine, by container ID.
func held(s *app.Session) map[string]*contain.Record {
	out := map[string]*contain.Record{}
	c, err := s.Containment()
	if err != nil {
		return out
	}
	recs, err := c.Held() // records that do not read are left out; the rest still show
	if _, ok := contain.Readable(err); err != nil && !ok {
		return out
	}
	for _, r := range recs {
		out[r.Container.ID] = r
	}
	return out
}

func heldFor(recs map[string]*contain.Record, c runtime.Container) *contain.Record {
	if r := recs[c.ID]; r != nil && r.Container.Created.Unix() == c.Created.Unix() {
		return r
	}
	return nil
}

func (b *Sessions) List(ctx context.Context) ([]Item, error) {
	var out []Item
	var errs []error
	for _, e := range b.engines {
		list, err := e.s.Runtime().List(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.name, err))
			continue
		}
		recs := held(e.s)
		for _, c := range list {
			it := Item{Engine: e.name, Container: c, Held: heldFor(recs, c)}
			it.Drift = drift(ctx, e.s, it.Held)
			out = append(out, it)
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, errors.Join(errs...)
}

func (b *Sessions) Get(ctx context.Context, engine, id string) (Item, error) {
	s, err := b.engine(engine)
	if err != nil {
		return Item{}, err
	}
	d, err := s.Runtime().Inspect(ctx, id)
	if err != nil {
		return Item{}, err
	}
	it := Item{Engine: engine, Container: d.Container, Held: heldFor(held(s), d.Container)}
	it.Drift = drift(ctx, s, it.Held)
	return it, nil
}

// drift is how a held container runs other than as held, as status says
// it (contain's Check: the engine's state and the drop rules in its
// namespace); "" when nothing is held or it cannot be told.
func drift(ctx context.Context, s *app.Session, rec *contain.Record) string {
	if !rec.Held() {
		return ""
	}
	c, err := s.Containment()
	if err != nil {
		return ""
	}
	live, err := c.Check(ctx, rec)
	if err != nil {
		return ""
	}
	return live.Drift
}

// Watch runs every engine's event stream; an engine that cannot report
// events sends none (the console then lists on resync only).
func (b *Sessions) Watch(ctx context.Context, send func(EngineEvent)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(b.engines))
	n := 0
	for _, e := range b.engines {
		w, ok := e.s.Runtime().(runtime.Watcher)
		if !ok {
			continue
		}
		n++
		go func() {
			errc <- w.Watch(ctx, func(ev runtime.Event) {
				send(EngineEvent{Engine: e.name, ID: ev.ID, Action: ev.Action, Time: ev.Time})
			})
		}()
	}
	if n == 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	err := <-errc // the first stream to end ends them all: the console lists again
	return err
}

func (b *Sessions) Assess(ctx context.Context, items []Item) ([]collect.Assessment, error) {
	by := map[string][]runtime.Container{}
	for _, it := range items {
		by[it.Engine] = append(by[it.Engine], it.Container)
	}
	var out []collect.Assessment
	var errs []error
	for name, cs := range by {
		s, err := b.engine(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Two at a time per core, at most the CLI's eight: the console
		// triages in the background while the responder works, and each
		// triage holds a reading of every host process (docs/BENCHMARKS.md,
		// console: peak memory and key latency during the first triage).
		as, err := collect.AssessAll(ctx, s.Runtime(), b.procRoot, cs, min(8, 2*goruntime.GOMAXPROCS(0)))
		if err != nil {
			errs = append(errs, err)
		}
		for i := range as {
			as[i].Runtime = name // the console's engine name, with the namespace
		}
		out = append(out, as...)
	}
	return out, errors.Join(errs...)
}

// resolve reads the container again by its full ID, as the CLI resolves a
// target before it acts (act re-checks ID and creation time).
func (b *Sessions) resolve(ctx context.Context, it Item, act bool) (*app.Session, runtime.Container, error) {
	s, err := b.engine(it.Engine)
	if err != nil {
		return nil, runtime.Container{}, err
	}
	ts, err := s.Resolve(ctx, app.Selection{Refs: []string{it.ID}, Act: act})
	if err != nil {
		return nil, runtime.Container{}, err
	}
	// engines list creation times to the second and inspect them to the
	// nanosecond: compare seconds, as the containment records do
	if !it.Created.IsZero() && ts[0].Created.Unix() != it.Created.Unix() {
		return nil, runtime.Container{}, fmt.Errorf("%s was replaced by another container of the same ID since it was listed: list again (ctrl+r)", it.Ref())
	}
	return s, ts[0], nil
}

func (b *Sessions) Contain(ctx context.Context, it Item, dryRun bool) (*contain.Result, error) {
	s, t, err := b.resolve(ctx, it, !dryRun)
	if err != nil {
		return nil, err
	}
	o := contain.DefaultOptions()
	o.DryRun = dryRun
	return s.Contain(ctx, t, o)
}

func (b *Sessions) Release(ctx context.Context, it Item, dryRun bool) (*contain.Result, error) {
	s, t, err := b.resolve(ctx, it, !dryRun)
	if err != nil {
		return nil, err
	}
	return s.Release(ctx, t, dryRun)
}

func (b *Sessions) Stop(ctx context.Context, it Item, grace time.Duration, caseID string) (*contain.Result, error) {
	s, t, err := b.resolve(ctx, it, true)
	if err != nil {
		return nil, err
	}
	return s.Stop(ctx, t, grace, caseID)
}

func (b *Sessions) Kill(ctx context.Context, it Item, signal, caseID string) (*contain.Result, error) {
	s, t, err := b.resolve(ctx, it, true)
	if err != nil {
		return nil, err
	}
	return s.Kill(ctx, t, signal, caseID)
}

func (b *Sessions) Collect(ctx context.Context, items []Item, caseID string, report func(progress.Count)) (*Captured, error) {
	if len(items) == 0 {
		return nil, errors.New("no targets")
	}
	s, err := b.engine(items[0].Engine)
	if err != nil {
		return nil, err
	}
	var targets []runtime.Container
	for _, it := range items {
		_, t, err := b.resolve(ctx, it, false)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	o := collect.DefaultOptions()
	if report != nil {
		o.Progress = collect.Progress(report)
	}
	got, err := s.Collect(ctx, app.CollectSpec{Case: caseID, Targets: targets, Options: o})
	if err != nil {
		return nil, err
	}
	out := &Captured{Case: caseID}
	for i, f := range got.Failures {
		if f != nil {
			out.Failed = append(out.Failed, items[i].Ref()+": "+f.Error())
		}
	}
	if got.FinishErr != nil {
		out.Failed = append(out.Failed, got.FinishErr.Error())
	} else {
		out.Artifacts, out.Head = len(got.Manifest.Artifacts), got.Manifest.CustodyHead
	}
	if err := s.Pending(); err != nil {
		out.Pending = err.Error()
	}
	return out, nil
}

func (b *Sessions) Backup(ctx context.Context, it Item) (*recover.Snapshot, error) {
	s, t, err := b.resolve(ctx, it, true)
	if err != nil {
		return nil, err
	}
	return s.Backup(ctx, t, app.BackupSpec{})
}

func (b *Sessions) Recover(ctx context.Context, it Item, caseID, from string, dryRun bool, report func(progress.Count)) (*recover.Recovery, error) {
	s, err := b.engine(it.Engine)
	if err != nil {
		return nil, err
	}
	if it.Name == "" {
		return nil, errors.New("recover names the container: this one has no name")
	}
	// the CLI's defaults: a minute to be healthy; the suspect is kept,
	// contained and renamed
	return s.Recover(ctx, app.RecoverSpec{Name: it.Name, Case: caseID, From: from, DryRun: dryRun, HealthTimeout: time.Minute, Progress: report})
}

func (b *Sessions) Playbooks() ([]PlaybookInfo, error) {
	reg := app.NewRegistry()
	ents, err := playbooks.Library{Dirs: b.opts.PlaybookDirs}.List()
	if err != nil {
		return nil, err
	}
	var out []PlaybookInfo
	for _, e := range ents {
		pb, err := app.LoadPlaybook(b.opts.PlaybookDirs, e.Name, reg)
		if err != nil {
			out = append(out, PlaybookInfo{Name: e.Name, Source: e.Source, Description: "(not valid: " + firstLine(err.Error()) + ")"})
			continue
		}
		out = append(out, PlaybookInfo{Name: pb.Name, Description: pb.Description, Source: e.Source, Params: pb.Params})
	}
	return out, nil
}

func (b *Sessions) Run(ctx context.Context, r RunRequest) (*playbooks.Report, error) {
	if len(r.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	s, err := b.engine(r.Targets[0].Engine)
	if err != nil {
		return nil, err
	}
	pb, err := s.LoadPlaybook(r.Playbook)
	if err != nil {
		return nil, err
	}
	if r.Resume {
		return b.resume(ctx, s, pb, r)
	}
	var targets []runtime.Container
	for _, it := range r.Targets {
		_, t, err := b.resolve(ctx, it, true)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	rep, err := s.Run(ctx, app.RunSpec{Case: r.Case, Playbook: pb, Targets: targets, Params: r.Params, Events: r.Events, Approver: r.Approver})
	if err == nil {
		err = reportError(rep)
	}
	return rep, err
}

// reportError is the run's failure as `firebreak run` counts it: a step of
// a target that failed, was refused or was not approved.
func reportError(rep *playbooks.Report) error {
	if rep == nil {
		return nil
	}
	var bad []string
	for _, t := range rep.Targets {
		for _, s := range t.Steps {
			switch s.Status {
			case playbooks.StatusFailed, playbooks.StatusRefused, playbooks.StatusApprovalMissing:
				msg := t.Container.Name + ": step " + s.ID + " " + string(s.Status)
				if s.Error != "" {
					msg += ": " + s.Error
				}
				bad = append(bad, msg)
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return errors.New(strings.Join(bad, "\n"))
}

func (b *Sessions) Store() evidence.Store { return b.store }

// Marks reads the store's keys once: a capture lives under
// cases/CASE/CONTAINER-ID/TIME/, a snapshot names its container.
func (b *Sessions) Marks(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	if b.store == nil {
		return out, b.storeErr
	}
	objs, err := b.store.List(ctx, "cases/")
	if err != nil {
		return out, err
	}
	seen := map[string]bool{}
	for _, ob := range objs {
		parts := strings.SplitN(ob.Key, "/", 4)
		if len(parts) == 4 && len(parts[2]) == 64 && !seen[parts[2]] {
			seen[parts[2]] = true
			out[parts[2]] = append(out[parts[2]], "evidence")
		}
	}
	if len(b.engines) == 0 {
		return out, nil
	}
	repo, err := b.engines[0].s.Backups(ctx)
	if err != nil {
		return out, nil // no backups yet is not an error here
	}
	snaps, err := repo.List(ctx)
	if err != nil {
		return out, err
	}
	for _, sn := range snaps {
		if id := sn.Container.ID; id != "" && !slices.Contains(out[id], "backup") {
			out[id] = append(out[id], "backup")
		}
	}
	return out, nil
}

func (b *Sessions) Cases(ctx context.Context) ([]CaseSummary, error) {
	if b.store == nil {
		return nil, b.storeErr
	}
	objs, err := b.store.List(ctx, "cases/")
	if err != nil {
		return nil, err
	}
	by := map[string]*CaseSummary{}
	var ids []string
	for _, ob := range objs {
		rest := strings.TrimPrefix(ob.Key, "cases/")
		id, key, _ := strings.Cut(rest, "/")
		c := by[id]
		if c == nil {
			c = &CaseSummary{ID: id}
			by[id] = c
			ids = append(ids, id)
		}
		c.Bytes += ob.Size
		if ob.Modified.After(c.Updated) {
			c.Updated = ob.Modified
		}
		// what the case view lists as artifacts: not the run's own records
		switch {
		case strings.HasSuffix(key, "/manifest.json"):
			c.Runs++
		case key == "case.json", strings.HasSuffix(key, "/manifest.json.sig"), strings.HasSuffix(key, "/custody.jsonl"):
		default:
			c.Artifacts++
		}
	}
	out := make([]CaseSummary, 0, len(ids))
	for _, id := range ids {
		out = append(out, *by[id])
	}
	slices.SortFunc(out, func(a, b CaseSummary) int { return b.Updated.Compare(a.Updated) })
	return out, nil
}

func (b *Sessions) Verify(ctx context.Context, caseID string) (*evidence.Report, error) {
	if b.store == nil {
		return nil, b.storeErr
	}
	if len(b.keys) == 0 {
		return nil, fmt.Errorf("no trusted key: signing.pub is not in %s", b.opts.Store.KeyDir)
	}
	return evidence.VerifyCase(ctx, b.store, caseID, evidence.VerifyOptions{Keys: b.keys})
}

// Journal appends the act to <state>/console/journal.jsonl, one JSON object
// per line, synced before it returns.
func (b *Sessions) Journal(a Act) error {
	b.jmu.Lock()
	defer b.jmu.Unlock()
	dir := filepath.Join(b.opts.StateDir, "console")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "journal.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line, err := json.Marshal(a)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package recover

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

// RecoverOptions say how a container comes back from a snapshot.
type RecoverOptions struct {
	Case          string        // names the renamed suspect and labels what is made
	DryRun        bool          // plan only
	HealthTimeout time.Duration // how long the new container may take to be healthy (running, without a health check)
	Image         string        // an image to use instead of the snapshot's (pinned by digest); "" keeps it
	// Harden confines the new container beyond the original (nil: as it
	// was); each change is a step of the plan. HardenFrom says where its
	// tmpfs paths came from, for the plan.
	Harden     *runtime.Hardening
	HardenFrom string
	// RemoveSuspect removes the suspect once the new container is healthy
	// (its writable layer and memory are lost; named volumes stay). The
	// caller checks first that the case holds its evidence.
	RemoveSuspect bool
	// RestoreDevices makes the device nodes the snapshot lists in the new
	// volumes; without it they are left out, each named in the plan's
	// restore step (sockets are always left out).
	RestoreDevices bool
	// Log receives each act as it happens, for the case's custody log:
	// action is "recover.<step>" (recover.plan first, recover.rollback on
	// failure, recover last), target the container's name. nil drops them.
	Log func(action, target, result string)
	// Progress is told how the restore of the volumes' data advances,
	// against the files and bytes the snapshot lists for them (nil: no
	// one). Its calls come one at a time.
	Progress func(progress.Count)
}

// Step is one act of a recover, in order.
type Step struct {
	Action string `json:"action"` // verify, rename, volume, restore, create, start, health
	Detail string `json:"detail"`
	Done   bool   `json:"done"`
	Error  string `json:"error,omitempty"`
}

// Recovery is what a recover did or would do.
type Recovery struct {
	Snapshot   string            `json:"snapshot"`
	Container  runtime.Container `json:"container"` // the new one (the original's name)
	Suspect    string            `json:"suspect,omitempty"`
	Steps      []Step            `json:"steps"`
	DryRun     bool              `json:"dry_run"`
	RolledBack bool              `json:"rolled_back,omitempty"`
	Tmpfs      []string          `json:"tmpfs,omitempty"` // with a hardening: the tmpfs paths under the read-only root
	// CustodyHead is the head of the case's custody chain after the
	// recover was logged (set by the front end that logged it).
	CustodyHead string `json:"custody_head,omitempty"`
}

// Recover brings a container back from a verified snapshot: the snapshot is
// verified whole before anything is touched (refused with a *VerifyError);
// the container now holding the original's name (the suspect) is renamed
// NAME.suspect-<case> and left as it is, its volumes untouched; each volume
// is restored into a new volume; a container is created from the
// snapshot's configuration (the image it ran, by ID) with the original's
// name and the new volumes, started, and waited for to be healthy. On any
// failure or cancel, everything made is removed and the suspect gets its
// name back. The suspect must not be running unfrozen: contain it first.
func (r *Repo) Recover(ctx context.Context, rt runtime.Runtime, id string, trusted ed25519.PublicKey, o RecoverOptions) (*Recovery, error) {
	rs, ok := rt.(runtime.Restorer)
	if !ok {
		return nil, fmt.Errorf("%s cannot recreate containers yet", rt.Name())
	}
	if o.Case == "" {
		return nil, errors.New("recover needs a case (it names the renamed suspect)")
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = time.Minute
	}
	rec := &Recovery{Snapshot: id, DryRun: o.DryRun}
	logf := func(action, target, result string) {
		if o.Log != nil && !o.DryRun {
			o.Log(action, target, result)
		}
	}
	files, n, err := r.Verify(ctx, id, trusted)
	if err != nil {
		logf("recover.verify", id, "REFUSED: "+err.Error())
		return rec, err
	}
	sig := "signature good under the trusted key"
	if trusted == nil {
		sig = "signature NOT checked (no trusted key)"
	}
	rec.Steps = append(rec.Steps, Step{Action: "verify", Detail: fmt.Sprintf("snapshot %s: %d files, %d bytes re-read, %s", id, files, n, sig), Done: true})
	s, _, err := r.Load(ctx, id, trusted)
	if err != nil {
		return rec, err
	}
	if err := r.LoadFiles(ctx, s); err != nil {
		return rec, err
	}
	name := s.Container.Name
	short := strings.SplitN(id, "-", 2)
	tag := id
	if len(short) == 2 {
		tag = short[1]
	}
	var suspect *runtime.Details
	if cur, err := runtime.Resolve(ctx, rt, name); err == nil && cur.Name == name {
		d, err := rt.Inspect(ctx, cur.ID)
		if err != nil {
			return rec, err
		}
		if d.State == runtime.StateRunning {
			return rec, &runtime.RefusedError{Container: d.Container, Reason: "it runs unfrozen: contain it first (firebreak contain), so that the suspect stays held as evidence while its service comes back"}
		}
		suspect = &d
		if rec.Suspect, err = freeName(ctx, rt, name+".suspect-"+o.Case); err != nil {
			return rec, err
		}
		rec.Steps = append(rec.Steps, Step{Action: "rename", Detail: fmt.Sprintf("%s (%s) to %s, kept %s with its volumes as evidence", name, d.ShortID(), rec.Suspect, d.State)})
	} else if err != nil && !runtime.IsNotFound(err) {
		return rec, err
	}
	lim := DefaultRestoreLimits()
	lim.Devices = o.RestoreDevices
	volumes := map[string]string{}
	taken := map[string]bool{} // names this plan gives
	for _, v := range s.Volumes {
		if _, twice := volumes[v.Name]; twice {
			continue // one volume mounted at two places is restored once
		}
		base := v.Name
		if v.Type == "bind" {
			base = bindVolumeName(v.Name)
		}
		nv, err := newVolumeName(ctx, rt, base, tag, o.Case, taken)
		if err != nil {
			return rec, err
		}
		taken[nv] = true
		what := fmt.Sprintf("new volume %s for %s", nv, v.Destination)
		if v.Type == "bind" {
			// A bind mount taken (backup --include-binds) comes back in a
			// new volume, bound instead: the host directory, the
			// suspect's, is left as it is.
			what = fmt.Sprintf("new volume %s for %s, bound instead of the host's %s (left as it is)", nv, v.Destination, v.Name)
		}
		volumes[v.Name] = nv
		rec.Steps = append(rec.Steps, Step{Action: "volume", Detail: what},
			Step{Action: "restore", Detail: fmt.Sprintf("%d entries of %s into %s", len(v.Files), v.Name, nv) + skippedNote(Skipped(v.Files, lim))})
	}
	img := s.Image
	if o.Image != "" {
		img = o.Image
	}
	if o.Harden != nil {
		rec.Tmpfs = o.Harden.Tmpfs
		hd, ok := rt.(hardener)
		if !ok {
			return rec, fmt.Errorf("%s cannot harden a recreated container yet: recover without --harden", rt.Name())
		}
		changes, err := hd.HardeningChanges(s.Config, *o.Harden)
		if err != nil {
			return rec, &HardenError{Err: err}
		}
		if len(changes) == 0 {
			changes = []string{"nothing: the original is as confined already"}
		}
		for _, c := range changes {
			rec.Steps = append(rec.Steps, Step{Action: "harden", Detail: c})
		}
		for i := len(rec.Steps) - len(changes); i < len(rec.Steps) && o.HardenFrom != ""; i++ {
			if strings.Contains(rec.Steps[i].Detail, "tmpfs") {
				rec.Steps[i].Detail += " (tmpfs paths from " + o.HardenFrom + ")"
			}
		}
	}
	rec.Steps = append(rec.Steps, Step{Action: "create", Detail: fmt.Sprintf("%s from the snapshot's configuration, image %s", name, img)},
		Step{Action: "start", Detail: name}, Step{Action: "health", Detail: fmt.Sprintf("healthy (or running, without a health check) within %s", o.HealthTimeout)})
	if o.RemoveSuspect && suspect != nil {
		rec.Steps = append(rec.Steps, Step{Action: "remove", Detail: fmt.Sprintf("the suspect %s (%s) once the new container is healthy: its writable layer and memory are lost, its volumes kept", rec.Suspect, suspect.ShortID())})
	}
	if o.DryRun {
		return rec, nil
	}
	logf("recover.plan", name, rec.PlanText())
	logf("recover.verify", name, rec.Steps[0].Detail)

	// Acting: every made thing is undone on failure or cancel.
	actx := context.WithoutCancel(ctx)
	var made []func() error
	rollback := func(cause error) (*Recovery, error) {
		var errs []error
		for i := len(made) - 1; i >= 0; i-- {
			if err := made[i](); err != nil {
				errs = append(errs, err)
			}
		}
		rec.RolledBack = len(errs) == 0
		if len(errs) > 0 {
			logf("recover.rollback", name, "FAILED: "+errors.Join(errs...).Error())
			return rec, fmt.Errorf("%w; and rolling back failed: %v", cause, errors.Join(errs...))
		}
		logf("recover.rollback", name, fmt.Sprintf("%d acts undone: what was made is removed, the suspect has its name back", len(made)))
		return rec, fmt.Errorf("%w (rolled back: what was made is removed, the suspect has its name back)", cause)
	}
	step := func(action string) *Step {
		for i := range rec.Steps {
			if rec.Steps[i].Action == action && !rec.Steps[i].Done && rec.Steps[i].Error == "" {
				return &rec.Steps[i]
			}
		}
		return &Step{}
	}
	fail := func(st *Step, err error) (*Recovery, error) {
		st.Error = err.Error()
		logf("recover."+st.Action, name, st.Detail+": FAILED: "+st.Error)
		return rollback(err)
	}
	done := func(st *Step) {
		st.Done = true
		logf("recover."+st.Action, name, st.Detail)
	}
	if suspect != nil {
		st := step("rename")
		if err := rs.Rename(actx, suspect.ID, rec.Suspect); err != nil {
			return fail(st, err)
		}
		done(st)
		made = append(made, func() error { return rs.Rename(actx, suspect.ID, name) })
	}
	labels := map[string]string{"io.firebreak.case": o.Case, "io.firebreak.snapshot": id}
	var toRestore []*Volume
	for i, v := range s.Volumes {
		if _, ok := volumes[v.Name]; ok && !slices.ContainsFunc(toRestore, func(x *Volume) bool { return x.Name == v.Name }) {
			toRestore = append(toRestore, &s.Volumes[i])
		}
	}
	m := newMeter(toRestore, o.Progress)
	if m != nil && len(toRestore) > 0 {
		m.add(0, 0) // the totals, before the first chunk
	}
	restored := map[string]bool{}
	for _, v := range s.Volumes {
		nv, ok := volumes[v.Name]
		if !ok || restored[v.Name] {
			continue
		}
		restored[v.Name] = true
		st := step("volume")
		dir, err := rs.CreateVolume(actx, nv, labels)
		if err != nil {
			return fail(st, err)
		}
		done(st)
		made = append(made, func() error { return rs.RemoveVolume(actx, nv) })
		st = step("restore")
		if err := ctx.Err(); err != nil {
			return fail(st, err)
		}
		if err := r.restoreVolume(ctx, s, v.Name, dir, lim, m); err != nil {
			return fail(st, err)
		}
		done(st)
	}
	st := step("create")
	newID, err := rs.Recreate(actx, runtime.RecreateSpec{Config: s.Config, Name: name, Volumes: volumes, Image: o.Image, Labels: labels, Harden: o.Harden})
	if err != nil {
		return fail(st, err)
	}
	for i := range rec.Steps {
		if rec.Steps[i].Action == "harden" {
			done(&rec.Steps[i]) // applied by the create
		}
	}
	done(st)
	made = append(made, func() error { return rs.Remove(actx, newID) })
	st = step("start")
	if err := ctx.Err(); err != nil {
		return fail(st, err)
	}
	if err := rs.Start(actx, newID); err != nil {
		return fail(st, err)
	}
	done(st)
	st = step("health")
	if err := waitHealthy(ctx, rs, newID, o.HealthTimeout); err != nil {
		return fail(st, err)
	}
	done(st)
	if d, err := rt.Inspect(actx, newID); err == nil {
		rec.Container = d.Container
	}
	kept := "the suspect is kept as " + orNone(rec.Suspect)
	if o.RemoveSuspect && suspect != nil {
		// Last, and not rolled back: the service is back either way.
		st := step("remove")
		if err := rs.Remove(actx, suspect.ID); err != nil {
			st.Error = err.Error()
			logf("recover.remove", name, st.Detail+": FAILED: "+st.Error)
			return rec, fmt.Errorf("the service is back (new container %s healthy), but removing the suspect %s failed: %w", short12(newID), rec.Suspect, err)
		}
		done(st)
		kept = "the suspect " + rec.Suspect + " is removed"
	}
	logf("recover", name, fmt.Sprintf("recovered from snapshot %s: new container %s is healthy; %s", id, short12(newID), kept))
	return rec, nil
}

// waitHealthy waits for the engine's health check to pass, or, without
// one, for the container to keep running for two seconds.
func waitHealthy(ctx context.Context, rs runtime.Restorer, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var runningSince time.Time
	for {
		h, running, err := rs.Health(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case h == "healthy":
			return nil
		case h == "none" && running:
			if runningSince.IsZero() {
				runningSince = time.Now()
			} else if time.Since(runningSince) >= 2*time.Second {
				return nil
			}
		case h == "none" && !running:
			return errors.New("the container stopped (no health check; it did not keep running)")
		case !running:
			return fmt.Errorf("the container stopped (health %s)", h)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %s (health %s)", timeout, h)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newVolumeName names the volume a recover restores base into:
// BASE.restored-TAG-CASE, BASE without the suffix an earlier recover gave
// it (a recover of a recovered container does not grow the name), and
// -2, -3, ... after it when the engine (or this plan) has the name already:
// the volume a recover from the same snapshot made before is the suspect's
// now, evidence, and never reused.
func newVolumeName(ctx context.Context, rt runtime.Runtime, base, tag, caseID string, taken map[string]bool) (string, error) {
	if i := strings.Index(base, ".restored-"); i > 0 {
		base = base[:i]
	}
	name := base + ".restored-" + tag + "-" + caseID
	vc, _ := rt.(runtime.VolumeChecker)
	for n := 2; n <= 1000; n++ {
		exists := taken[name]
		if !exists && vc != nil {
			var err error
			if exists, err = vc.VolumeExists(ctx, name); err != nil {
				return "", err
			}
		}
		if !exists {
			return name, nil
		}
		name = fmt.Sprintf("%s.restored-%s-%s-%d", base, tag, caseID, n)
	}
	return "", fmt.Errorf("volumes %s.restored-%s-%s up to -1000 exist already: remove those no suspect uses", base, tag, caseID)
}

// skippedNote is the plan's word on the entries a restore leaves out (at
// most 20 named), "" when none.
func skippedNote(skipped []string) string {
	if len(skipped) == 0 {
		return ""
	}
	const most = 20
	names := strings.Join(skipped[:min(len(skipped), most)], ", ")
	if len(skipped) > most {
		names += fmt.Sprintf(" and %d more", len(skipped)-most)
	}
	return fmt.Sprintf("; leaves out %d special files: %s (device nodes are made only when asked: recover --restore-devices; sockets never)", len(skipped), names)
}

// bindVolumeName is a volume name for the data of a bind mount's source
// path: "bind-" and the path's elements joined by "-", at most 64 bytes.
func bindVolumeName(source string) string {
	n := "bind" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, strings.TrimRight(source, "/"))
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// PlanText is the plan in one line, for a log.
func (rec *Recovery) PlanText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "snapshot %s:", rec.Snapshot)
	for i, st := range rec.Steps {
		fmt.Fprintf(&b, " %d. %s %s;", i+1, st.Action, st.Detail)
	}
	return strings.TrimSuffix(b.String(), ";")
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func orNone(s string) string {
	if s == "" {
		return "(none: no container held the name)"
	}
	return s
}

// Choose names the snapshot a recover of the container name uses: from is
// an ID, or "latest": the newest snapshot of name taken before cutoff (zero:
// any), so that a backup taken after the compromise is never chosen.
func (r *Repo) Choose(ctx context.Context, name, from string, cutoff time.Time) (string, error) {
	if from != "latest" {
		return from, nil
	}
	snaps, err := r.List(ctx)
	if err != nil {
		return "", err
	}
	if id := Latest(snaps, name, cutoff); id != "" {
		return id, nil
	}
	when := ""
	if !cutoff.IsZero() {
		when = " taken before " + cutoff.UTC().Format(time.RFC3339)
	}
	return "", &NoSnapshotError{Name: name, When: when}
}

// Cutoff is the time a "latest" snapshot must be older than: the earlier of
// the compromise time the responder gives and the suspect's first
// containment (either zero: unknown).
func Cutoff(compromise, contained time.Time) time.Time {
	if compromise.IsZero() || (!contained.IsZero() && contained.Before(compromise)) {
		return contained
	}
	return compromise
}

// freeName is want, or want-2, want-3, ... when the engine has a container
// of that name already: a second recover in one case (the service
// compromised again) keeps the first suspect under its name.
func freeName(ctx context.Context, rt runtime.Runtime, want string) (string, error) {
	for i := 1; i < 100; i++ {
		name := want
		if i > 1 {
			name = fmt.Sprintf("%s-%d", want, i)
		}
		cur, err := runtime.Resolve(ctx, rt, name)
		if runtime.IsNotFound(err) || (err == nil && cur.Name != name) {
			return name, nil
		}
		if err != nil {
			var amb *runtime.AmbiguousError
			if errors.As(err, &amb) {
				continue // names beginning so are taken: not this one exactly, but try the next
			}
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for the suspect: %s and %s-2 .. -99 are all taken", want, want)
}

// HardenError says a hardening cannot be applied to this original (a
// capability kept that it lacked, a root user): the input is to change.
type HardenError struct{ Err error }

func (e *HardenError) Error() string { return "--harden: " + e.Err.Error() }
func (e *HardenError) Unwrap() error { return e.Err }

// NoSnapshotError says no snapshot fits a recover.
type NoSnapshotError struct{ Name, When string }

func (e *NoSnapshotError) Error() string {
	return fmt.Sprintf("no snapshot of %s%s (`firebreak backup ls` lists them)", e.Name, e.When)
}

// Latest is the newest of snaps (oldest first, as List returns them) of the
// container name taken before cutoff (zero: any); "" when there is none.
func Latest(snaps []Snapshot, name string, cutoff time.Time) string {
	id := ""
	for _, sn := range snaps {
		if sn.Container.Name == name && (cutoff.IsZero() || sn.Time.Before(cutoff)) {
			id = sn.ID
		}
	}
	return id
}

// ParseWhen reads a point in time: RFC 3339, or an age before now (6h, 2d).
func ParseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Now().Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("give an RFC 3339 time or an age such as 6h or 2d")
}

// CheckCaptured says whether the case holds the container's writable layer
// (a collect's fsdiff), which removing the container destroys: a
// *runtime.RefusedError when it does not.
func CheckCaptured(ctx context.Context, store evidence.Store, caseID string, t runtime.Container) error {
	ms, err := evidence.Manifests(ctx, store, caseID)
	if err != nil && !errors.Is(err, evidence.ErrNotFound) {
		return err
	}
	for _, m := range ms {
		for _, a := range m.Artifacts {
			if a.Container == t.ID && a.Collector == "fsdiff" {
				return nil
			}
		}
	}
	return &runtime.RefusedError{Container: t, Reason: fmt.Sprintf("removing the suspect destroys its writable layer, and case %s holds none of it: capture it first (firebreak collect %s --case %s) or keep the suspect. Nothing was changed", caseID, t.Name, caseID)}
}

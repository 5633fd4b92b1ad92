package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/playbooks"
	"firebreak/recover"
	"firebreak/runtime"
)

// Backups is the snapshot repository in the session's store, written
// straight to the store (not through the spool: a backup that cannot reach
// its store fails and is taken again) and signed with the session's key.
func (s *Session) Backups(ctx context.Context) (*recover.Repo, error) {
	ev, err := s.Evidence()
	if err != nil {
		return nil, err
	}
	var key []byte
	if f := s.opts.Store.BackupKeyFile; f != "" {
		if key, err = recover.ReadKeyFile(f); err != nil {
			return nil, inputf("%v", err)
		}
	}
	repo, err := recover.OpenRepoWith(ctx, ev.Store, ev.Signer, key)
	if err != nil && strings.Contains(err.Error(), "encrypted") {
		return nil, inputf("%v", err)
	}
	return repo, err
}

// BackupSpec says what to back up of one container.
type BackupSpec struct {
	Volumes      []string // by name or mount destination; none: all
	IncludeBinds bool
	Pause        bool
	Case         string // when set, the backup is logged in the case's custody log
	// PreHook and PostHook run in the container before its files are read
	// and after (nil: none); never in a container Firebreak holds.
	PreHook, PostHook *recover.Hook
}

// Backup takes a snapshot of one resolved container and commits it, holding
// the target's run lock while it reads (a run working on it refuses it).
func (s *Session) Backup(ctx context.Context, t runtime.Container, spec BackupSpec) (*recover.Snapshot, error) {
	repo, err := s.Backups(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.Containment()
	if err != nil {
		return nil, err
	}
	unlock, err := c.LockTarget(t.ID, "firebreak backup by "+s.opts.Actor)
	if err != nil {
		return nil, err
	}
	defer unlock()
	snap, err := s.backupWithHooks(ctx, c, repo, t, spec)
	if spec.Case != "" {
		result := "FAILED: " + fmt.Sprint(err)
		if err == nil {
			result = fmt.Sprintf("snapshot %s: %d files, %d bytes, %d new chunks", snap.ID, snap.Totals.Files, snap.Totals.Bytes, snap.Totals.NewChunks)
		}
		if lerr := s.logCase(ctx, spec.Case, []string{t.Name}, func(r *evidence.Run) { r.Log("backup", t.ID, result) }); lerr != nil {
			return snap, errors.Join(err, lerr)
		}
	}
	return snap, err
}

// backupWithHooks runs the pre-hook, reads the container, runs the
// post-hook (after a read that failed too: it undoes what the pre-hook did)
// and commits the snapshot with both hooks' runs in it.
func (s *Session) backupWithHooks(ctx context.Context, c *contain.Containment, repo *recover.Repo, t runtime.Container, spec BackupSpec) (*recover.Snapshot, error) {
	var ex runtime.Execer
	if spec.PreHook != nil || spec.PostHook != nil {
		if rec, err := c.Status(t.ID); err != nil || rec != nil {
			why := "Firebreak holds it (a suspect): a command run in it runs the attacker's binaries"
			if err != nil {
				why = fmt.Sprintf("whether Firebreak holds it cannot be read (%v)", err)
			}
			return nil, &runtime.RefusedError{Container: t, Reason: "backup hooks run commands inside the container, and " + why + ". Nothing was run or read; back it up without hooks"}
		}
		var ok bool
		if ex, ok = s.rt.(runtime.Execer); !ok {
			return nil, inputf("%s cannot run hooks in a container", s.rt.Name())
		}
	}
	var runs []recover.HookRun
	if spec.PreHook != nil {
		run, err := recover.RunHook(ctx, ex, t.ID, "pre", *spec.PreHook)
		runs = append(runs, run)
		if err != nil {
			return nil, err
		}
	}
	snap, err := repo.Backup(ctx, s.rt, t, recover.BackupOptions{Volumes: spec.Volumes, IncludeBinds: spec.IncludeBinds, Pause: spec.Pause, Actor: s.opts.Actor, Tool: s.opts.Tool})
	if spec.PostHook != nil {
		run, perr := recover.RunHook(context.WithoutCancel(ctx), ex, t.ID, "post", *spec.PostHook)
		runs = append(runs, run)
		if perr != nil {
			return nil, errors.Join(err, perr)
		}
	}
	if err != nil {
		return nil, err
	}
	snap.Hooks = runs
	if err := repo.Commit(ctx, snap); err != nil {
		return nil, err
	}
	return snap, nil
}

// RecoverSpec says how to bring a container back.
type RecoverSpec struct {
	Name          string    // the container's name (the suspect holds it now)
	Case          string    // the case the recover belongs to
	From          string    // a snapshot ID, or "latest"
	Before        time.Time // with "latest": the compromise time (zero: unknown)
	DryRun        bool
	Image         string
	HealthTimeout time.Duration
	Trusted       ed25519.PublicKey // the snapshot's signer; nil: the session's own key
	// RemoveSuspect removes the suspect once the service is back; refused
	// unless the case holds the suspect's writable layer (collect fsdiff).
	RemoveSuspect bool
	// RestoreDevices makes the snapshot's device nodes in the new volumes
	// (left out otherwise, each named in the plan).
	RestoreDevices bool
	// Harden confines the new container (nil: as the original). Tmpfs
	// nil means: where the suspect wrote, from the case's fs diff of it.
	Harden *runtime.Hardening
	// Progress is told how the restore of the volumes' data advances,
	// with the snapshot's totals (nil: no one).
	Progress func(progress.Count)
}

// Recover brings the named container back from a verified snapshot (see
// recover.Repo.Recover), holding the suspect's run lock. Unless it is a dry
// run, every act goes to the case's custody log as it happens, and the
// recovery (plan and outcome) is stored in the case as recover/TIME/recovery.json, in a
// signed run of its own: the case tells the whole story even when the
// recover fails and rolls back.
func (s *Session) Recover(ctx context.Context, spec RecoverSpec) (*recover.Recovery, error) {
	if err := evidence.CheckCaseID(spec.Case); err != nil {
		return nil, inputf("case: %v (recover needs the case it belongs to)", err)
	}
	repo, err := s.Backups(ctx)
	if err != nil {
		return nil, err
	}
	trusted := spec.Trusted
	if trusted == nil {
		ev, err := s.Evidence()
		if err != nil {
			return nil, err
		}
		trusted = ev.Signer.Pub
	}
	var suspect *runtime.Container
	if cur, err := s.ResolveOne(ctx, spec.Name); err == nil && cur.Name == spec.Name {
		suspect = &cur
	}
	c, cerr := s.Containment()
	if spec.From == "" {
		spec.From = "latest"
	}
	var held time.Time
	if c != nil {
		id := ""
		if suspect != nil {
			id = suspect.ID
		}
		if held, err = c.FirstContained(id, spec.Name, spec.Case); err != nil {
			return nil, err
		}
	}
	id, err := repo.Choose(ctx, spec.Name, spec.From, recover.Cutoff(spec.Before, held))
	if err != nil {
		var ns *recover.NoSnapshotError
		if errors.As(err, &ns) {
			return nil, &InputError{err}
		}
		return nil, err
	}
	o := recover.RecoverOptions{Case: spec.Case, DryRun: spec.DryRun, HealthTimeout: spec.HealthTimeout, Image: spec.Image, RemoveSuspect: spec.RemoveSuspect, RestoreDevices: spec.RestoreDevices, Progress: spec.Progress}
	if spec.Harden != nil {
		h := *spec.Harden
		if h.Tmpfs == nil {
			ev, err := s.Evidence()
			if err != nil {
				return nil, err
			}
			var sd *runtime.Details
			if suspect != nil {
				d, err := s.rt.Inspect(ctx, suspect.ID)
				if err != nil {
					return nil, err
				}
				sd = &d
			}
			if h.Tmpfs, o.HardenFrom, err = recover.TmpfsFor(ctx, ev.Sink, spec.Case, sd); err != nil {
				return nil, err
			}
		}
		o.Harden = &h
	}
	if spec.RemoveSuspect && suspect != nil {
		ev, err := s.Evidence()
		if err != nil {
			return nil, err
		}
		if err := recover.CheckCaptured(ctx, ev.Sink, spec.Case, *suspect); err != nil {
			return nil, err
		}
	}
	if suspect != nil && c != nil {
		if err := c.RefuseUnheld(ctx, *suspect, "recover"); err != nil {
			return nil, err
		}
	}
	if spec.DryRun {
		return repo.Recover(ctx, s.rt, id, trusted, o)
	}
	if suspect != nil {
		if cerr != nil {
			return nil, cerr
		}
		unlock, err := c.LockTarget(suspect.ID, "firebreak recover by "+s.opts.Actor)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	if err := s.Preflight(ctx); err != nil {
		return nil, err
	}
	ev, err := s.Evidence()
	if err != nil {
		return nil, err
	}
	run, err := evidence.OpenRun(ctx, ev.Sink, ev.Signer, s.CaseInfo(spec.Case, "", []string{spec.Name}))
	if err != nil {
		return nil, &playbooks.RecordError{What: "custody log of case " + spec.Case + " (nothing was changed)", Err: err}
	}
	o.Log = run.Log
	rec, rerr := repo.Recover(ctx, s.rt, id, trusted, o)
	return rec, errors.Join(rerr, finishRecovery(context.WithoutCancel(ctx), run, spec.Case, rec))
}

// finishRecovery stores the recovery in the case and seals the run.
func finishRecovery(ctx context.Context, run *evidence.Run, caseID string, rec *recover.Recovery) error {
	var errs []error
	if rec != nil {
		b, err := json.MarshalIndent(rec, "", "  ")
		if err == nil {
			key := evidence.CasePrefix(caseID) + "recover/" + time.Now().UTC().Format("20060102T150405.000Z") + "/recovery.json"
			_, err = run.Put(ctx, key, bytes.NewReader(b), "recover", rec.Container.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := run.Finish(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return &playbooks.RecordError{What: "recovery record and custody log of case " + caseID, Err: err}
	}
	return nil
}

// logCase writes custody entries into the case in a run of their own.
func (s *Session) logCase(ctx context.Context, caseID string, targets []string, fn func(*evidence.Run)) error {
	ev, err := s.Evidence()
	if err != nil {
		return err
	}
	run, err := evidence.OpenRun(ctx, ev.Sink, ev.Signer, s.CaseInfo(caseID, "", targets))
	if err != nil {
		return &playbooks.RecordError{What: "custody log of case " + caseID, Err: err}
	}
	fn(run)
	if _, err := run.Finish(ctx); err != nil {
		return &playbooks.RecordError{What: "custody log of case " + caseID, Err: err}
	}
	return nil
}

// ForgetSpec says which snapshots `backup forget` looks at and keeps.
type ForgetSpec struct {
	Names  []string // containers by name; none: every container's
	Policy recover.KeepPolicy
	DryRun bool
}

// Forget applies a keep policy to the snapshots and removes the manifests
// of those it does not keep. The snapshot a recover of a held container
// would use (its newest taken before it was contained) is always kept, with
// the case named. Their data stays until a prune.
func (s *Session) Forget(ctx context.Context, spec ForgetSpec) ([]recover.ForgetDecision, error) {
	if spec.Policy.Empty() {
		return nil, inputf("give at least one --keep-* rule (forget keeps nothing otherwise)")
	}
	repo, err := s.Backups(ctx)
	if err != nil {
		return nil, err
	}
	all, err := repo.List(ctx)
	if err != nil {
		return nil, err
	}
	var snaps []recover.Snapshot
	for _, sn := range all {
		if len(spec.Names) == 0 || slices.Contains(spec.Names, sn.Container.Name) {
			snaps = append(snaps, sn)
		}
	}
	decisions := recover.Decide(snaps, spec.Policy)
	protected := map[string]string{}
	if c, err := s.Containment(); err == nil {
		held, err := c.Held()
		if err != nil {
			return nil, err
		}
		history, err := c.History() // read once for every held record
		if err != nil {
			return nil, err
		}
		for _, rec := range held {
			// the cutoff a recover of it would use: its first containment
			// in the case, not only the current hold's
			since := contain.FirstContainedIn(history, rec.Container.ID, rec.Container.Name, rec.Case)
			if since.IsZero() {
				since = rec.Since
			}
			if id := recover.Latest(all, rec.Container.Name, since); id != "" {
				protected[id] = fmt.Sprintf("the last before %s was contained (case %s)", rec.Container.Name, orNone(rec.Case))
			}
		}
	}
	var forget []string
	for i := range decisions {
		d := &decisions[i]
		if why, ok := protected[d.Snapshot.ID]; ok {
			d.Keep, d.Reasons = true, append(d.Reasons, why)
		}
		if !d.Keep {
			forget = append(forget, d.Snapshot.ID)
		}
	}
	if spec.DryRun || len(forget) == 0 {
		return decisions, nil
	}
	_, retained, err := repo.Forget(ctx, forget)
	for i := range decisions {
		if rerr, ok := retained[decisions[i].Snapshot.ID]; ok {
			decisions[i].Keep, decisions[i].Reasons = true, []string{"retained by the store: " + rerr.Error()}
		}
	}
	return decisions, err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Prune removes from the store the backup data no snapshot uses any more
// (see recover.Repo.Prune); dryRun counts it and removes nothing.
func (s *Session) Prune(ctx context.Context, dryRun bool) (*recover.PruneStats, error) {
	repo, err := s.Backups(ctx)
	if err != nil {
		return nil, err
	}
	return repo.Prune(ctx, dryRun)
}

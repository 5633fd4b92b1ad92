package recover

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"firebreak/runtime"
)

// RecoverOptions say how a container comes back from a snapshot.
type RecoverOptions struct {
	Case          string        // names the renamed suspect and labels what is made
	DryRun        bool          // plan only
	HealthTimeout time.Duration // how long the new container may take to be healthy (running, without a health check)
	Image         string        // an image to use instead of the snapshot's (pinned by digest); "" keeps it
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
	files, n, err := r.Verify(ctx, id, trusted)
	if err != nil {
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
		rec.Suspect = name + ".suspect-" + o.Case
		rec.Steps = append(rec.Steps, Step{Action: "rename", Detail: fmt.Sprintf("%s (%s) to %s, kept %s with its volumes as evidence", name, d.ShortID(), rec.Suspect, d.State)})
	} else if err != nil && !runtime.IsNotFound(err) {
		return rec, err
	}
	volumes := map[string]string{}
	for _, v := range s.Volumes {
		nv := v.Name + ".restored-" + tag
		if v.Type != "volume" {
			continue // bind mounts are the host's: not recreated here
		}
		if _, twice := volumes[v.Name]; twice {
			continue // one volume mounted at two places is restored once
		}
		volumes[v.Name] = nv
		rec.Steps = append(rec.Steps, Step{Action: "volume", Detail: fmt.Sprintf("new volume %s for %s", nv, v.Destination)},
			Step{Action: "restore", Detail: fmt.Sprintf("%d entries of %s into %s", len(v.Files), v.Name, nv)})
	}
	img := s.Image
	if o.Image != "" {
		img = o.Image
	}
	rec.Steps = append(rec.Steps, Step{Action: "create", Detail: fmt.Sprintf("%s from the snapshot's configuration, image %s", name, img)},
		Step{Action: "start", Detail: name}, Step{Action: "health", Detail: fmt.Sprintf("healthy (or running, without a health check) within %s", o.HealthTimeout)})
	if o.DryRun {
		return rec, nil
	}

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
			return rec, fmt.Errorf("%w; and rolling back failed: %v", cause, errors.Join(errs...))
		}
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
		return rollback(err)
	}
	if suspect != nil {
		st := step("rename")
		if err := rs.Rename(actx, suspect.ID, rec.Suspect); err != nil {
			return fail(st, err)
		}
		st.Done = true
		made = append(made, func() error { return rs.Rename(actx, suspect.ID, name) })
	}
	labels := map[string]string{"io.firebreak.case": o.Case, "io.firebreak.snapshot": id}
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
		st.Done = true
		made = append(made, func() error { return rs.RemoveVolume(actx, nv) })
		st = step("restore")
		if err := ctx.Err(); err != nil {
			return fail(st, err)
		}
		if err := r.RestoreVolume(ctx, s, v.Name, dir, DefaultRestoreLimits()); err != nil {
			return fail(st, err)
		}
		st.Done = true
	}
	st := step("create")
	newID, err := rs.Recreate(actx, runtime.RecreateSpec{Config: s.Config, Name: name, Volumes: volumes, Image: o.Image, Labels: labels})
	if err != nil {
		return fail(st, err)
	}
	st.Done = true
	made = append(made, func() error { return rs.Remove(actx, newID) })
	st = step("start")
	if err := ctx.Err(); err != nil {
		return fail(st, err)
	}
	if err := rs.Start(actx, newID); err != nil {
		return fail(st, err)
	}
	st.Done = true
	st = step("health")
	if err := waitHealthy(ctx, rs, newID, o.HealthTimeout); err != nil {
		return fail(st, err)
	}
	st.Done = true
	if d, err := rt.Inspect(actx, newID); err == nil {
		rec.Container = d.Container
	}
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

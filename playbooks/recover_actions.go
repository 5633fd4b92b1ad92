package playbooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"firebreak/internal/progress"
	"firebreak/recover"
	"firebreak/runtime"
)

// backups is the run's snapshot repository, or an error saying why there is
// none (a dry run opens no store).
func backups(ctx context.Context, env *Env) (*recover.Repo, error) {
	if env.Backups == nil || env.Evidence == nil {
		return nil, errors.New("no backup store for this run")
	}
	return env.Backups(ctx)
}

type recoverBackup struct{}

func (recoverBackup) Describe() Description {
	return Description{
		Name:    "recover.backup",
		Summary: "Back up the target: its create-time configuration and the data of its volumes, deduplicated and signed, into the run's store",
		Params: []ParamSpec{
			{Name: "volumes", Type: TypeList, Default: []string{}, Doc: "volumes by name or mount destination (none: all)"},
			{Name: "include_binds", Type: TypeBool, Default: false, Doc: "take bind mounts (host directories) too"},
			{Name: "pause", Type: TypeBool, Default: false, Doc: "freeze the target while its files are read"},
		},
		Outputs: []OutputSpec{
			{Name: "snapshot", Type: "string", Doc: "the snapshot's ID"},
			{Name: "files", Type: "int", Doc: "files taken"},
			{Name: "bytes", Type: "int", Doc: "bytes of data"},
			{Name: "new_chunks", Type: "int", Doc: "chunks the store did not have"},
		},
		Changes: "nothing of the target (with pause: frozen while read); adds a snapshot to the store",
		Example: "- id: backup\n  action: recover.backup\n  with: {volumes: [db-data], pause: true}",
	}
}

func (recoverBackup) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	if t.Labels[sandboxKind] == "sandbox" {
		return nil, errNoPodRecover
	}
	repo, err := backups(ctx, env)
	if err != nil {
		return nil, err
	}
	pause, _ := p["pause"].(bool)
	binds, _ := p["include_binds"].(bool)
	snap, err := repo.Backup(ctx, env.Runtime, t, recover.BackupOptions{Volumes: list(p, "volumes"), IncludeBinds: binds, Pause: pause, Actor: env.Actor, Tool: "firebreak playbook " + env.Playbook})
	if err == nil {
		err = repo.Commit(ctx, snap)
	}
	if err != nil {
		return nil, errors.Join(err, env.Evidence.Log(ctx, "backup", t.ID, "FAILED: "+err.Error()))
	}
	tot := snap.Totals
	if err := env.Evidence.Log(ctx, "backup", t.ID, fmt.Sprintf("snapshot %s: %d files, %d bytes, %d new chunks", snap.ID, tot.Files, tot.Bytes, tot.NewChunks)); err != nil {
		return nil, err
	}
	return map[string]any{"snapshot": snap.ID, "files": int64(tot.Files), "bytes": tot.Bytes, "new_chunks": int64(tot.NewChunks)}, nil
}

type recoverRestore struct{}

func (recoverRestore) Describe() Description {
	return Description{
		Name: "recover.restore",
		Summary: "Bring the target's service back from a verified snapshot taken before the compromise: the target is kept, renamed NAME.suspect-<case>, " +
			"its volumes untouched; volumes are restored into new ones and a new container is made from the snapshot's configuration, started and waited for; on failure everything made is removed",
		Params: []ParamSpec{
			{Name: "from", Type: TypeString, Default: "latest", Doc: "a snapshot ID, or latest: the newest taken before the target was first contained (and before `before`)"},
			{Name: "before", Type: TypeString, Default: "", Doc: "the compromise time: RFC 3339, or an age such as 6h or 2d (\"\": unknown)"},
			{Name: "image", Type: TypeString, Default: "", Doc: "an image to use instead of the snapshot's, pinned by digest"},
			{Name: "health_timeout", Type: TypeDuration, Default: time.Minute, Doc: "how long the new container may take to be healthy"},
			{Name: "harden", Type: TypeBool, Default: false, Doc: "confine the new container: read-only root with tmpfs where the target wrote (the case's fs diff), no-new-privileges, capabilities dropped but keep_caps, limits, default seccomp and AppArmor"},
			{Name: "keep_caps", Type: TypeList, Default: []string{}, Doc: "with harden: capabilities to keep (ones the original had)"},
			{Name: "run_as", Type: TypeString, Default: "", Doc: "with harden: a non-root user to run as"},
			{Name: "restore_devices", Type: TypeBool, Default: false, Doc: "make the device nodes the snapshot lists in the new volumes (left out otherwise, each named in the plan)"},
			{Name: "keep_suspect", Type: TypeBool, Default: true, Doc: "keep the target, contained and renamed; false removes it once the service is back (refused unless the case holds its writable layer)"},
		},
		Outputs: []OutputSpec{
			{Name: "snapshot", Type: "string", Doc: "the snapshot restored"},
			{Name: "container", Type: "string", Doc: "the new container's ID"},
			{Name: "suspect", Type: "string", Doc: "the target's new name (\"\" when no container held the name)"},
			{Name: "rolled_back", Type: "bool", Doc: "true when it failed and what it made was removed"},
		},
		Changes: "the target's name (NAME.suspect-<case>); new volumes and a new container with the target's name, started (not undone by on_failure: undo; what it made is labelled io.firebreak.case)",
		Example: "- id: restore\n  action: recover.restore\n  needs: [verify]\n  approval: \"Restore the service from the last clean backup?\"",
	}
}

func (recoverRestore) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	if t.Labels[sandboxKind] == "sandbox" {
		return nil, errNoPodRecover
	}
	repo, err := backups(ctx, env)
	if err != nil {
		return nil, err
	}
	var before time.Time
	if b := str(p, "before"); b != "" {
		if before, err = recover.ParseWhen(b); err != nil {
			return nil, fmt.Errorf("before %q: %v", b, err)
		}
	}
	from := str(p, "from")
	if from == "" {
		from = "latest"
	}
	var held time.Time
	name := strings.TrimPrefix(t.Name, "/")
	if env.Contain != nil {
		if held, err = env.Contain.FirstContained(t.ID, name, env.Case); err != nil {
			return nil, err
		}
	}
	id, err := repo.Choose(ctx, name, from, recover.Cutoff(before, held))
	if err != nil {
		return nil, err
	}
	if env.Contain != nil {
		if err := env.Contain.RefuseUnheld(ctx, t, "recover"); err != nil {
			return nil, err
		}
	}
	keep, ok := p["keep_suspect"].(bool)
	remove := ok && !keep
	if remove {
		if err := recover.CheckCaptured(ctx, env.Evidence.Store, env.Case, t); err != nil {
			return nil, err
		}
	}
	var harden *runtime.Hardening
	hardenFrom := ""
	if h, _ := p["harden"].(bool); h {
		d, err := env.Runtime.Inspect(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		harden = &runtime.Hardening{KeepCaps: list(p, "keep_caps"), User: str(p, "run_as")}
		if harden.Tmpfs, hardenFrom, err = recover.TmpfsFor(ctx, env.Evidence.Store, env.Case, &d); err != nil {
			return nil, err
		}
	}
	var logErr error
	devices, _ := p["restore_devices"].(bool)
	o := recover.RecoverOptions{RestoreDevices: devices, Harden: harden, HardenFrom: hardenFrom, Case: env.Case, HealthTimeout: duration(p, "health_timeout"), Image: str(p, "image"), RemoveSuspect: remove,
		Log: func(action, target, result string) {
			if logErr == nil {
				logErr = env.Evidence.Log(ctx, action, target, result)
			}
		}}
	report := Progress(ctx)
	o.Progress = func(n progress.Count) {
		report(fmt.Sprintf("restore: %d of %d files, %s of %s", n.Files, n.FilesTotal, progress.Bytes(n.Bytes), progress.Bytes(n.BytesTotal)), n)
	}
	rec, err := repo.Recover(ctx, env.Runtime, id, env.Evidence.Trusted, o)
	out := map[string]any{"snapshot": id, "container": "", "suspect": "", "rolled_back": false}
	if rec != nil {
		out["container"], out["suspect"], out["rolled_back"] = rec.Container.ID, rec.Suspect, rec.RolledBack
	}
	return out, errors.Join(err, logErr)
}

// errNoPodRecover: on Kubernetes the pod's controller brings the service
// back (docs/KUBERNETES.md); backup and restore act on engine containers.
var errNoPodRecover = errors.New("backup and restore act on Docker and containerd containers; a Kubernetes pod is brought back by its controller (a new pod from the Deployment's template), once the suspect is orphaned and captured")

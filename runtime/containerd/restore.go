package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"

	"firebreak/runtime"
)

var _ runtime.Restorer = (*Containerd)(nil)

// DefaultDataDir is where Firebreak keeps, for containerd (which has no
// volumes of its own), the directories it restores bind-mount data into and
// the logs of the containers it recreates.
const DefaultDataDir = "/var/lib/firebreak/containerd"

func (c *Containerd) dataDir(parts ...string) string {
	dir := c.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	return filepath.Join(append([]string{dir, c.namespace}, parts...)...)
}

// Rename gives a container a new name: nerdctl's name label (containerd
// IDs cannot change).
func (c *Containerd) Rename(ctx context.Context, id, name string) error {
	ctx = c.ctx(ctx)
	ctr, err := c.load(ctx, id)
	if err != nil {
		return err
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{NameLabel: name}); err != nil {
		return wrap("Container.SetLabels", id, err)
	}
	return nil
}

// VolumeExists says whether a volume directory of that name exists.
func (c *Containerd) VolumeExists(_ context.Context, name string) (bool, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return false, fmt.Errorf("volume name %q: give a plain name", name)
	}
	_, err := os.Lstat(c.dataDir("volumes", name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// CreateVolume makes a directory, DataDir/NAMESPACE/volumes/NAME/_data,
// for data to be restored into and bind-mounted; its labels are kept beside
// it. One that exists already is an error.
func (c *Containerd) CreateVolume(_ context.Context, name string, labels map[string]string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("volume name %q: give a plain name", name)
	}
	dir := c.dataDir("volumes", name)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("making the volume directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("a volume %s exists already (%s; left as it is: it may be a suspect's evidence): plan the recover again, which names a volume that does not exist", name, dir)
		}
		return "", fmt.Errorf("making volume %s: %w", name, err)
	}
	b, _ := json.Marshal(labels)
	if err := os.WriteFile(filepath.Join(dir, "labels.json"), b, 0o600); err != nil {
		return "", errors.Join(fmt.Errorf("writing the labels of volume %s: %w", name, err), os.RemoveAll(dir))
	}
	data := filepath.Join(dir, "_data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return "", errors.Join(fmt.Errorf("making volume %s: %w", name, err), os.RemoveAll(dir))
	}
	return data, nil
}

// RemoveVolume deletes a volume CreateVolume made; a missing one is not an
// error.
func (c *Containerd) RemoveVolume(_ context.Context, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("volume name %q: give a plain name", name)
	}
	if err := os.RemoveAll(c.dataDir("volumes", name)); err != nil {
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	return nil
}

// original is what Inspect keeps in Details.Raw: containerd's record of the
// container and its OCI spec.
type original struct {
	Container struct {
		ID          string            `json:"ID"`
		Labels      map[string]string `json:"Labels"`
		Image       string            `json:"Image"`
		Snapshotter string            `json:"Snapshotter"`
		Runtime     struct {
			Name string `json:"Name"`
		} `json:"Runtime"`
	} `json:"container"`
	Spec *specs.Spec `json:"spec"`
}

// Recreate creates a container from the original's record and OCI spec: the
// same image (or spec.Image), snapshotter, runtime and spec, a new ID and a
// snapshot of its own, the name as a label, bind mounts whose source is a
// key of spec.Volumes re-pointed at that volume's directory, and a new
// network namespace of its own. The original's cgroup path, named after
// its ID, is made the new ID's. A spec that joined an existing network
// namespace (CNI, a pod sandbox) is refused: its network must be set up
// anew, which Firebreak does not do for containerd.
func (c *Containerd) Recreate(ctx context.Context, spec runtime.RecreateSpec) (string, error) {
	ctx = c.ctx(ctx)
	var orig original
	if err := json.Unmarshal(spec.Config, &orig); err != nil || orig.Spec == nil || orig.Container.ID == "" {
		return "", fmt.Errorf("the backup's containerd record cannot be read (%v): it was not taken from containerd", err)
	}
	s := orig.Spec
	if spec.Harden != nil {
		return "", errors.New("--harden is not built for containerd yet")
	}
	if path, ok := netnsOf(s); ok && path != "" {
		return "", fmt.Errorf("the original joined the network namespace %s (made by CNI or a pod sandbox); recreating it needs that network set up anew, which Firebreak does not do for containerd", path)
	}
	if s.Linux != nil {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = ""
			}
		}
	}
	id, err := newID(spec.Name)
	if err != nil {
		return "", err
	}
	if s.Linux != nil && s.Linux.CgroupsPath != "" {
		s.Linux.CgroupsPath = strings.ReplaceAll(s.Linux.CgroupsPath, orig.Container.ID, id)
	}
	for i, m := range s.Mounts {
		if m.Type != "bind" && !containsOpt(m.Options, "bind") && !containsOpt(m.Options, "rbind") {
			continue
		}
		if v, ok := spec.Volumes[m.Source]; ok {
			s.Mounts[i].Source = c.dataDir("volumes", v, "_data")
		}
	}
	ref := orig.Container.Image
	if spec.Image != "" {
		ref = spec.Image
	}
	img, err := c.api.GetImage(ctx, ref)
	if err != nil {
		return "", wrap("GetImage", ref, err)
	}
	labels := map[string]string{}
	for k, v := range orig.Container.Labels {
		labels[k] = v
	}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[NameLabel] = spec.Name
	opts := []client.NewContainerOpts{client.WithImage(img), client.WithContainerLabels(labels)}
	if orig.Container.Snapshotter != "" {
		opts = append(opts, client.WithSnapshotter(orig.Container.Snapshotter))
	}
	opts = append(opts, client.WithNewSnapshot(id+"-snapshot", img), client.WithSpec(s))
	if orig.Container.Runtime.Name != "" {
		opts = append(opts, client.WithRuntime(orig.Container.Runtime.Name, nil))
	}
	if _, err := c.api.NewContainer(ctx, id, opts...); err != nil {
		return "", wrap("NewContainer", id, err)
	}
	return id, nil
}

func containsOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// newID is a container ID for a recreated container: its name and a random
// suffix (the original still holds its own ID).
func newID(name string) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, name)
	if len(base) > 40 {
		base = base[:40]
	}
	return base + "-r" + hex.EncodeToString(b), nil
}

// Start makes the container's task, with its output to
// DataDir/NAMESPACE/logs/ID.log, and starts it.
func (c *Containerd) Start(ctx context.Context, id string) error {
	ctx = c.ctx(ctx)
	ctr, err := c.load(ctx, id)
	if err != nil {
		return err
	}
	// A task that ended (killed, stopped) is still there until deleted:
	// start means a new one, as `ctr task start` after `ctr task rm`.
	if old, err := ctr.Task(ctx, nil); err == nil {
		st, err := old.Status(ctx)
		if err != nil {
			return wrap("Task.Status", id, err)
		}
		if st.Status != client.Stopped {
			return fmt.Errorf("containerd: %s already has a task (%s)", id, st.Status)
		}
		if _, err := old.Delete(ctx); err != nil {
			return wrap("Task.Delete", id, err)
		}
	}
	logs := c.dataDir("logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return fmt.Errorf("making the log directory: %w", err)
	}
	task, err := ctr.NewTask(ctx, cio.LogFile(filepath.Join(logs, id+".log")))
	if err != nil {
		return wrap("NewTask", id, err)
	}
	if err := task.Start(ctx); err != nil {
		_, derr := task.Delete(ctx, client.WithProcessKill)
		return errors.Join(wrap("Task.Start", id, err), derr)
	}
	return nil
}

// Remove kills the container's task, if any, and deletes the container with
// its snapshot.
func (c *Containerd) Remove(ctx context.Context, id string) error {
	ctx = c.ctx(ctx)
	ctr, err := c.load(ctx, id)
	if runtime.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		_ = task.Resume(ctx)
		wait, werr := task.Wait(ctx)
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !cerrdefs.IsNotFound(err) {
			return wrap("Task.Kill", id, err)
		}
		if werr == nil {
			select {
			case <-wait:
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
			return wrap("Task.Delete", id, err)
		}
	} else if !cerrdefs.IsNotFound(err) {
		return wrap("Container.Task", id, err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
		return wrap("Container.Delete", id, err)
	}
	return nil
}

// Health is "none" (containerd has no health checks) and whether the
// task runs.
func (c *Containerd) Health(ctx context.Context, id string) (string, bool, error) {
	ctx = c.ctx(ctx)
	_, status, err := c.task(ctx, id)
	if errors.Is(err, runtime.ErrNotRunning) {
		return "none", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return "none", status == client.Running, nil
}

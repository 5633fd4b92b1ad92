package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/runtime"
	"firebreak/runtime/docker"
)

// CleanupOptions say which drills to clean up.
type CleanupOptions struct {
	StateDir string // where the drills' directories are (the session's state directory)
	ID       string // one drill; "" for every drill found
	// Force cleans up a drill whose process still runs (another
	// `drill live`); without it such a drill is skipped and named.
	Force bool
}

// CleanupReport says what a cleanup removed. A second cleanup of the same
// drills finds nothing: every list empty.
type CleanupReport struct {
	Drills     []string `json:"drills"`     // the drills cleaned up
	Released   []string `json:"released"`   // containers released through their containment records
	Containers []string `json:"containers"` // removed from the engine
	Networks   []string `json:"networks"`
	Volumes    []string `json:"volumes"`
	Images     []string `json:"images"`
	Processes  []string `json:"processes"` // host processes the drill started (the sentinel), killed
	Dirs       []string `json:"dirs"`      // drill directories removed
	Skipped    []string `json:"skipped,omitempty"`
}

// Empty says the cleanup found nothing to do.
func (r *CleanupReport) Empty() bool {
	return len(r.Released)+len(r.Containers)+len(r.Networks)+len(r.Volumes)+len(r.Images)+len(r.Processes)+len(r.Dirs) == 0
}

// Cleanup removes what live drills left: it releases every held drill
// container through its containment record (so its drop rules and freeze
// go the way a real release does), removes the drills' containers,
// networks, volumes and images from the engine (found by the drill label
// and the fbdrill- name prefix, whatever the drill's process became),
// kills the host processes a drill recorded, and removes the drills'
// directories. It is safe to run again: a second run finds nothing.
// Each failure is named and the rest goes on.
func Cleanup(ctx context.Context, s *app.Session, o CleanupOptions) (*CleanupReport, error) {
	rep := &CleanupReport{}
	if o.ID != "" {
		if err := CheckDrillID(o.ID); err != nil {
			return rep, &app.InputError{Err: err}
		}
	}
	d, ok := s.Runtime().(*docker.Docker)
	if !ok {
		return rep, &app.InputError{Err: fmt.Errorf("live drills run on Docker Engine, not %s: nothing of a drill is on this engine", s.Runtime().Name())}
	}
	api := d.API()
	metas, err := drillMetas(o.StateDir, o.ID)
	if err != nil {
		return rep, err
	}
	skip := map[string]bool{}
	self := os.Getpid()
	for id, m := range metas {
		if m.Owner.PID != self && m.Owner.alive() && !o.Force {
			skip[id] = true
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: its drill still runs (pid %d); stop it (Ctrl-C cleans up) or give --force", id, m.Owner.PID))
		}
	}
	var errs []error
	mine := func(name string, labels map[string]string, needLabel bool) (string, bool) {
		name = strings.TrimPrefix(name, "/")
		rest, ok := strings.CutPrefix(name, NamePrefix)
		if !ok {
			return "", false
		}
		id, _, _ := strings.Cut(rest, "-")
		if lv, has := labels[LabelDrill]; has {
			id = lv
		} else if needLabel {
			return "", false
		}
		if !drillIDPattern.MatchString(id) || (o.ID != "" && id != o.ID) || skip[id] {
			return "", false
		}
		if p, ok := drillOwner(labels); ok && p.PID != self && p.alive() && !o.Force {
			skip[id] = true
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: its drill still runs (pid %d, with another state directory); stop it (Ctrl-C cleans up) or give --force", id, p.PID))
			return "", false
		}
		return id, true
	}
	found := map[string]bool{}

	// Held containers are released through their records first: the
	// release undoes the drop rules in their namespace, which removing
	// the container alone would not account for in the records.
	if c, err := s.Containment(); err == nil {
		held, err := c.Held()
		if err != nil {
			errs = append(errs, err)
		}
		for _, rec := range held {
			id, ok := mine(rec.Container.Name, rec.Container.Labels, false)
			if !ok {
				continue
			}
			found[id] = true
			_, rerr := s.Release(context.WithoutCancel(ctx), rec.Container, false)
			var nr *contain.NotRestoredError
			if rerr != nil && !errors.As(rerr, &nr) {
				errs = append(errs, fmt.Errorf("releasing %s: %w", rec.Container.Name, rerr))
				continue
			}
			rep.Released = append(rep.Released, rec.Container.Name)
		}
	}
	actx := context.WithoutCancel(ctx)
	cs, err := api.ContainerList(actx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", NamePrefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing containers: %w", err))
	}
	for _, c := range cs {
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		id, ok := mine(name, c.Labels, true)
		if !ok {
			continue
		}
		found[id] = true
		if err := api.ContainerRemove(actx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing container %s: %w", strings.TrimPrefix(name, "/"), err))
			continue
		}
		rep.Containers = append(rep.Containers, strings.TrimPrefix(name, "/"))
	}
	ns, err := api.NetworkList(actx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", NamePrefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing networks: %w", err))
	}
	for _, n := range ns {
		id, ok := mine(n.Name, n.Labels, true)
		if !ok {
			continue
		}
		found[id] = true
		if err := api.NetworkRemove(actx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing network %s: %w", n.Name, err))
			continue
		}
		rep.Networks = append(rep.Networks, n.Name)
	}
	vs, err := api.VolumeList(actx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", NamePrefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing volumes: %w", err))
	}
	for _, v := range vs.Volumes {
		// A volume a recover restored carries the case's labels, not the
		// drill's: its name (fbdrill-<id>-data.restored-...) says whose.
		id, ok := mine(v.Name, v.Labels, false)
		if !ok {
			continue
		}
		found[id] = true
		if err := api.VolumeRemove(actx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing volume %s: %w", v.Name, err))
			continue
		}
		rep.Volumes = append(rep.Volumes, v.Name)
	}
	imgFilter := LabelDrill
	if o.ID != "" {
		imgFilter += "=" + o.ID
	}
	imgs, err := api.ImageList(actx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", imgFilter))})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing images: %w", err))
	}
	for _, im := range imgs {
		if skip[im.Labels[LabelDrill]] {
			continue
		}
		if _, err := api.ImageRemove(actx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing image %s: %w", runtime.ShortID(strings.TrimPrefix(im.ID, "sha256:")), err))
			continue
		}
		found[im.Labels[LabelDrill]] = true
		rep.Images = append(rep.Images, runtime.ShortID(strings.TrimPrefix(im.ID, "sha256:")))
	}
	for id, m := range metas {
		if skip[id] {
			continue
		}
		found[id] = true
		if m.Sentinel != nil {
			killed, err := killSentinel(*m.Sentinel)
			if err != nil {
				errs = append(errs, err)
			}
			rep.Processes = append(rep.Processes, killed...)
		}
		dir := filepath.Join(DrillsDir(o.StateDir), id)
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing the drill directory: %w", err))
			continue
		}
		rep.Dirs = append(rep.Dirs, dir)
	}
	_ = os.Remove(DrillsDir(o.StateDir)) // only when empty
	for id := range found {
		rep.Drills = append(rep.Drills, id)
	}
	sort.Strings(rep.Drills)
	return rep, errors.Join(errs...)
}

// drillMetas reads the drill.json of each drill directory (one, or all).
// A directory without one (a drill killed while making it) is still a
// drill's, found by its name.
func drillMetas(stateDir, only string) (map[string]drillMeta, error) {
	out := map[string]drillMeta{}
	ents, err := os.ReadDir(DrillsDir(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the drills directory: %w", err)
	}
	for _, e := range ents {
		id := e.Name()
		if !e.IsDir() || !drillIDPattern.MatchString(id) || (only != "" && id != only) {
			continue
		}
		var m drillMeta
		dir := filepath.Join(DrillsDir(stateDir), id)
		if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err == nil {
			_ = json.Unmarshal(b, &m)
		} else if inside, _ := os.ReadDir(dir); len(inside) > 0 {
			continue // not a drill's sandbox (a report directory, say): never removed
		}
		m.ID = id
		out[id] = m
	}
	return out, nil
}

// killSentinel kills the recorded sentinel, if it is still the process
// recorded, and every process left in its mount namespace (the nsenter
// decoy's, should the engine have left one behind).
func killSentinel(ref procRef) ([]string, error) {
	var out []string
	var errs []error
	for _, p := range sentinelProcs(ref) {
		if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("killing %s (pid %d): %w", p.what, p.pid, err))
			continue
		}
		out = append(out, fmt.Sprintf("%s (pid %d)", p.what, p.pid))
		for i := 0; i < 100; i++ {
			if _, err := os.Stat("/proc/" + strconv.Itoa(p.pid)); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out, errors.Join(errs...)
}

type hostProc struct {
	pid  int
	what string
}

// sentinelProcs are the recorded sentinel, if it still runs, and every
// process in its mount namespace.
func sentinelProcs(ref procRef) []hostProc {
	var out []hostProc
	if ref.alive() {
		out = append(out, hostProc{ref.PID, "sentinel"})
	}
	if ref.MountNSID == 0 {
		return out
	}
	self, _ := nsInode(os.Getpid(), "mnt")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == os.Getpid() || pid == ref.PID {
			continue
		}
		if ns, err := nsInode(pid, "mnt"); err == nil && ns == ref.MountNSID && ns != self {
			out = append(out, hostProc{pid, "process in the sentinel's namespace"})
		}
	}
	return out
}

// Leftovers lists what of one drill (or of every drill, id "") is still on
// the engine or the host: containers, networks, volumes and images by
// label and name, held records, and drill directories. Empty after a
// cleanup.
func Leftovers(ctx context.Context, api *client.Client, stateDir, id string) ([]string, error) {
	var out []string
	prefix := NamePrefix
	if id != "" {
		prefix += id + "-"
	}
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		for _, n := range c.Names {
			if strings.HasPrefix(strings.TrimPrefix(n, "/"), prefix) || (c.Labels[LabelDrill] != "" && (id == "" || c.Labels[LabelDrill] == id)) {
				out = append(out, "container "+strings.TrimPrefix(n, "/"))
				break
			}
		}
	}
	ns, err := api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if strings.HasPrefix(n.Name, prefix) || (n.Labels[LabelDrill] != "" && (id == "" || n.Labels[LabelDrill] == id)) {
			out = append(out, "network "+n.Name)
		}
	}
	vs, err := api.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, v := range vs.Volumes {
		if strings.HasPrefix(v.Name, prefix) || (v.Labels[LabelDrill] != "" && (id == "" || v.Labels[LabelDrill] == id)) {
			out = append(out, "volume "+v.Name)
		}
	}
	imgs, err := api.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelDrill))})
	if err != nil {
		return nil, err
	}
	for _, im := range imgs {
		if id == "" || im.Labels[LabelDrill] == id {
			out = append(out, "image "+im.ID)
		}
	}
	metas, err := drillMetas(stateDir, id)
	if err != nil {
		return nil, err
	}
	for mid, m := range metas {
		out = append(out, "directory "+filepath.Join(DrillsDir(stateDir), mid))
		if m.Sentinel != nil {
			for _, p := range sentinelProcs(*m.Sentinel) {
				out = append(out, fmt.Sprintf("%s pid %d", p.what, p.pid))
			}
		}
	}
	if recs, err := contain.OpenRecords(stateDir); err == nil {
		held, _ := recs.List("docker", "")
		for _, r := range held {
			if strings.HasPrefix(r.Container.Name, prefix) && r.Held() {
				out = append(out, "held record "+r.Container.Name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

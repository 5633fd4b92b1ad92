package drill

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"firebreak/internal/fsutil"
)

// What a live drill makes carries these, so that it is found again by
// `drill cleanup` even after the drill was killed.
const (
	LabelDrill = "io.firebreak.drill"      // the drill's ID, on every container, network and volume it makes
	LabelRole  = "io.firebreak.drill.role" // what the object is for: decoy, peer, svc, net, image
	// LabelOwner names the drill's process (PID:start ticks), so that a
	// cleanup run with another state directory (whose drill.json it does
	// not see) still leaves a drill that runs alone.
	LabelOwner = "io.firebreak.drill.owner"
	NamePrefix = "fbdrill-" // every name: fbdrill-<id>-<role>
	metaFile   = "drill.json"
)

var drillIDPattern = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

// CheckDrillID refuses what is not a drill ID (the <ID> of its
// fbdrill-<ID>- names), with what one looks like.
func CheckDrillID(id string) error {
	if !drillIDPattern.MatchString(id) {
		return fmt.Errorf("drill ID %q: a drill ID is 4 to 32 lowercase letters and digits (the <ID> in its fbdrill-<ID>- names)", id)
	}
	return nil
}

// NewDrillID makes a drill ID: 10 lowercase hex characters.
func NewDrillID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DrillsDir is where live drills keep their sandboxes: one directory per
// drill, removed when it ends.
func DrillsDir(stateDir string) string { return filepath.Join(stateDir, "drills") }

// drillMeta is drill.json: what cleanup needs to find a drill's host side
// after the drill was killed.
type drillMeta struct {
	ID       string    `json:"id"`
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Owner    procRef   `json:"owner"`              // the drill's process
	Sentinel *procRef  `json:"sentinel,omitempty"` // the nsenter decoy's sentinel
}

// procRef names a process so that a PID reused later is not mistaken for
// it: the PID and its start time (clock ticks since boot), and the mount
// namespace a sentinel lives in.
type procRef struct {
	PID       int    `json:"pid"`
	Start     uint64 `json:"start"`
	MountNSID uint64 `json:"mnt_ns,omitempty"`
}

// procStart reads a process's start time from /proc/PID/stat.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22 of the whole line
}

// alive says whether the process still runs (and is the one named).
func (p procRef) alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := procStart(p.PID)
	return err == nil && st == p.Start
}

// label is the process as LabelOwner holds it.
func (p procRef) label() string { return fmt.Sprintf("%d:%d", p.PID, p.Start) }

// drillOwner reads LabelOwner; ok is false without one.
func drillOwner(labels map[string]string) (procRef, bool) {
	pid, start, ok := strings.Cut(labels[LabelOwner], ":")
	if !ok {
		return procRef{}, false
	}
	p, err1 := strconv.Atoi(pid)
	s, err2 := strconv.ParseUint(start, 10, 64)
	return procRef{PID: p, Start: s}, err1 == nil && err2 == nil
}

func selfRef() procRef {
	st, _ := procStart(os.Getpid())
	return procRef{PID: os.Getpid(), Start: st}
}

// Sandbox is one live drill's world: a directory under the state
// directory, an internal network, the labelled containers on it, and the
// decoy image when the drill built it.
type Sandbox struct {
	ID      string
	Dir     string // <state>/drills/<id>
	HostDir string // the decoy host root, a drill-only directory
	Network string // fbdrill-<id>-net
	Image   string

	api      *client.Client
	meta     drillMeta
	proxy    *SocketProxy
	sentinel *sentinel
}

// newSandbox makes the drill's directory (recording the drill in it
// first, so a kill from here on is found by cleanup) and its internal
// network.
func newSandbox(ctx context.Context, api *client.Client, stateDir, id, scenario, image string) (*Sandbox, error) {
	if !drillIDPattern.MatchString(id) {
		return nil, fmt.Errorf("drill ID %q: use 4 to 32 lowercase letters and digits", id)
	}
	sb := &Sandbox{ID: id, Dir: filepath.Join(DrillsDir(stateDir), id), Network: NamePrefix + id + "-net", Image: image, api: api}
	sb.HostDir = filepath.Join(sb.Dir, "host")
	if err := os.MkdirAll(DrillsDir(stateDir), 0o700); err != nil {
		return nil, fmt.Errorf("making the drills directory: %w (hint: --state-dir)", err)
	}
	if err := os.Mkdir(sb.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("making the drill directory: %w", err)
	}
	sb.meta = drillMeta{ID: id, Scenario: scenario, Started: time.Now().UTC(), Owner: selfRef()}
	if err := sb.saveMeta(); err != nil {
		return sb, err
	}
	if err := os.MkdirAll(sb.HostDir, 0o755); err != nil {
		return sb, fmt.Errorf("making the decoy host root: %w", err)
	}
	_, err := api.NetworkCreate(ctx, sb.Network, network.CreateOptions{Driver: "bridge", Internal: true, Labels: sb.labels("net")})
	if err != nil {
		return sb, fmt.Errorf("creating the drill network %s: %w", sb.Network, err)
	}
	return sb, nil
}

func (sb *Sandbox) saveMeta() error {
	b, err := json.MarshalIndent(sb.meta, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(sb.Dir, metaFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("recording the drill: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("recording the drill: %w", err)
	}
	return fsutil.SyncDir(sb.Dir)
}

func (sb *Sandbox) labels(role string) map[string]string {
	return map[string]string{LabelDrill: sb.ID, LabelRole: role, LabelOwner: sb.meta.Owner.label()}
}

// name is the engine name of one of the drill's objects.
func (sb *Sandbox) name(role string) string { return NamePrefix + sb.ID + "-" + role }

// spec is one container the drill makes.
type spec struct {
	role    string
	script  string // run by sh -c
	env     []string
	binds   []string // host:container[:ro]
	volumes map[string]string
	capAdd  []string
	pidHost bool
	cpus    float64 // 0: no cap
	memory  int64
	health  *container.HealthConfig
	files   map[string]fileSpec // dropped into the writable layer before start
}

type fileSpec struct {
	data []byte
	mode int64
}

// create makes (does not start) a container of the drill on its network.
func (sb *Sandbox) create(ctx context.Context, s spec) (string, error) {
	cfg := &container.Config{Image: sb.Image, Cmd: []string{"sh", "-c", s.script}, Env: s.env, Labels: sb.labels(s.role), Healthcheck: s.health}
	hc := &container.HostConfig{Binds: s.binds, CapAdd: s.capAdd, NetworkMode: container.NetworkMode(sb.Network)}
	if s.pidHost {
		hc.PidMode = "host"
	}
	if s.cpus > 0 {
		hc.NanoCPUs = int64(s.cpus * 1e9)
	}
	hc.Memory = s.memory
	for vol, dst := range s.volumes {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: vol, Target: dst})
	}
	resp, err := sb.api.ContainerCreate(ctx, cfg, hc, nil, nil, sb.name(s.role))
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", sb.name(s.role), err)
	}
	if len(s.files) > 0 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		dirs := map[string]bool{}
		for p := range s.files {
			for d := filepath.Dir(p); d != "/" && d != "." && !dirs[d]; d = filepath.Dir(d) {
				dirs[d] = true
			}
		}
		for d := range dirs {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: time.Now()})
		}
		for p, f := range s.files {
			_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Now()})
			_, _ = tw.Write(f.data)
		}
		if err := tw.Close(); err != nil {
			return resp.ID, err
		}
		if err := sb.api.CopyToContainer(ctx, resp.ID, "/", &buf, container.CopyToContainerOptions{}); err != nil {
			return resp.ID, fmt.Errorf("dropping files into %s: %w", sb.name(s.role), err)
		}
	}
	return resp.ID, nil
}

// start starts a container the drill made.
func (sb *Sandbox) start(ctx context.Context, id string) error {
	if err := sb.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("starting %.12s: %w", id, err)
	}
	return nil
}

// run creates and starts a container.
func (sb *Sandbox) run(ctx context.Context, s spec) (string, error) {
	id, err := sb.create(ctx, s)
	if err != nil {
		return id, err
	}
	return id, sb.start(ctx, id)
}

// address is a container's IPv4 address on the drill network.
func (sb *Sandbox) address(ctx context.Context, id string) (string, error) {
	c, err := sb.api.ContainerInspect(ctx, id)
	if err != nil {
		return "", err
	}
	if c.NetworkSettings != nil {
		if n := c.NetworkSettings.Networks[sb.Network]; n != nil && n.IPAddress != "" {
			return n.IPAddress, nil
		}
	}
	return "", fmt.Errorf("%s has no address on %s", strings.TrimPrefix(c.Name, "/"), sb.Network)
}

// proxyContainers lists the drill's own containers, for the decoy socket.
func (sb *Sandbox) proxyContainers(ctx context.Context) ([]ProxyContainer, error) {
	cs, err := sb.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelDrill+"="+sb.ID))})
	if err != nil {
		return nil, err
	}
	out := make([]ProxyContainer, 0, len(cs))
	for _, c := range cs {
		out = append(out, ProxyContainer{ID: c.ID, Names: c.Names, Image: c.Image, State: c.State, Status: c.Status, Labels: c.Labels})
	}
	return out, nil
}

// startProxy serves the decoy engine socket in the drill directory.
func (sb *Sandbox) startProxy(onCall func(ProxyCall)) (*SocketProxy, error) {
	p, err := StartSocketProxy(filepath.Join(sb.Dir, "engine.sock"), filepath.Join(sb.Dir, "engine-calls.jsonl"), sb.proxyContainers, onCall)
	if err != nil {
		return nil, err
	}
	sb.proxy = p
	return p, nil
}

// sentinel is a host process in a mount namespace of its own, made for the
// nsenter decoy to enter (never PID 1, never a process of the host's).
type sentinel struct {
	ref  procRef
	done chan struct{}
	cmd  *exec.Cmd
}

// startSentinel starts `sleep` in a new mount namespace (mounts made
// private in it, so nothing propagates back to the host) and records it in
// drill.json. It dies with the drill's thread that started it; cleanup
// kills it by the record otherwise.
func (sb *Sandbox) startSentinel() (*sentinel, error) {
	bin, err := exec.LookPath("sleep")
	if err != nil {
		return nil, fmt.Errorf("the nsenter decoy needs `sleep` on the host for its sentinel: %w", err)
	}
	s := &sentinel{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Locked: the parent-death signal is tied to the thread that
		// forked, which lives until the sentinel is gone.
		goruntime.LockOSThread()
		defer close(s.done)
		s.cmd = exec.Command(bin, "86400")
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting the sentinel: %w", err)
	}
	pid := s.cmd.Process.Pid
	s.ref.PID = pid
	// The start time and namespace are read once the child has unshared.
	for i := 0; i < 100; i++ {
		st, err1 := procStart(pid)
		ns, err2 := nsInode(pid, "mnt")
		self, err3 := nsInode(os.Getpid(), "mnt")
		if err1 == nil && err2 == nil && err3 == nil && ns != self {
			s.ref.Start, s.ref.MountNSID = st, ns
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sb.sentinel = s
	if s.ref.MountNSID == 0 {
		s.stop()
		return nil, errors.New("the sentinel did not get a mount namespace of its own")
	}
	sb.meta.Sentinel = &s.ref
	if err := sb.saveMeta(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *sentinel) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// nsInode is the inode of a process's namespace of the given kind.
func nsInode(pid int, kind string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// closeLocal stops what the drill runs in its own process: the decoy
// socket and the sentinel. The engine's objects and the directory go in
// Cleanup.
func (sb *Sandbox) closeLocal() error {
	var err error
	if sb.proxy != nil {
		err = sb.proxy.Close()
		sb.proxy = nil
	}
	if sb.sentinel != nil {
		sb.sentinel.stop()
		sb.sentinel = nil
	}
	return err
}

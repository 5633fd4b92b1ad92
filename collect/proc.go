package collect

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"firebreak/internal/procfs"
)

// Process is one entry of processes.json, read from /proc on the host.
type Process struct {
	PID        int               `json:"pid"`             // in the host's PID namespace
	NSPID      []int             `json:"nspid,omitempty"` // in each nested PID namespace, the last inside the container
	PPID       int               `json:"ppid"`
	Comm       string            `json:"comm"`
	CommB64    string            `json:"comm_b64,omitempty"`
	Cmdline    []string          `json:"cmdline"`
	CmdlineB64 []string          `json:"cmdline_b64,omitempty"` // when an argument is not valid UTF-8
	State      string            `json:"state"`
	UIDs       []int             `json:"uids"` // real, effective, saved, filesystem
	GIDs       []int             `json:"gids"`
	Caps       map[string]string `json:"caps"` // CapInh, CapPrm, CapEff, CapBnd, CapAmb as hex
	Seccomp    string            `json:"seccomp,omitempty"`
	NoNewPrivs string            `json:"no_new_privs,omitempty"`
	Namespaces map[string]string `json:"namespaces"` // e.g. "net": "net:[4026532281]"
	Cgroup     []string          `json:"cgroup"`
	Exe        string            `json:"exe,omitempty"`
	ExeDeleted bool              `json:"exe_deleted,omitempty"`
	ExeMemfd   bool              `json:"exe_memfd,omitempty"`
	ExeSHA256  string            `json:"exe_sha256,omitempty"`
	ExeNote    string            `json:"exe_note,omitempty"`
	Cwd        string            `json:"cwd,omitempty"`
	Root       string            `json:"root,omitempty"`
	Start      time.Time         `json:"start"`
	FDs        int               `json:"fds"`
	Sockets    []uint64          `json:"sockets,omitempty"` // socket inodes held open
	// StdioSockets are the socket inodes on descriptors 0, 1 and 2, by
	// descriptor: a shell reading a socket is a reverse or bind shell.
	StdioSockets map[int]uint64 `json:"stdio_sockets,omitempty"`
	// ExeContent is the stored copy of an executable that is deleted or
	// only in memory (memfd), read through /proc/PID/exe.
	ExeContent *Held `json:"exe_content,omitempty"`
	Threads    int   `json:"threads,omitempty"`
	TIDs       []int `json:"tids,omitempty"` // host thread IDs, from /proc/PID/task
	TracerPID  int   `json:"tracer_pid,omitempty"`
	RSSKiB     int64 `json:"rss_kib,omitempty"`
	// UserNames and GroupNames name UIDs and GIDs as the container's own
	// /etc/passwd and /etc/group do ("" where they have none).
	UserNames  []string `json:"user_names,omitempty"`
	GroupNames []string `json:"group_names,omitempty"`
	// Environ is /proc/PID/environ shown escaped (escapeBytes); the raw
	// bytes are the artifact EnvironKey, whose digest is EnvironSHA256.
	Environ       []string  `json:"environ,omitempty"`
	EnvironKey    string    `json:"environ_key,omitempty"`
	EnvironSHA256 string    `json:"environ_sha256,omitempty"`
	EnvironNote   string    `json:"environ_note,omitempty"`
	Maps          []Mapping `json:"maps,omitempty"`
	environ       []byte
	// Outside lists how a process tied to the container (by cgroup, PID
	// namespace or descent from its init) differs from the init's
	// namespaces or cgroup: an escape indicator.
	Outside []string `json:"outside,omitempty"`
	Reason  string   `json:"reason"` // why it belongs: "cgroup", "pid-namespace", "descendant"
}

// procReader reads /proc (a parameter, for tests with a fixture tree).
type procReader struct {
	fs       procfs.Root
	bootTime time.Time // zero when unknown: start times are left out
	ticks    float64
	snap     *procSnapshot // when set, members reads the host's processes from it
}

// procSnapshot is the basic view (stat, namespaces, cgroup) of every host
// process, read once and shared, read-only, by the triage of many
// containers: reading /proc whole for each of 500 containers made a first
// triage take half a minute.
type procSnapshot struct {
	pids []int
	all  map[int]*Process
}

// snapshot reads every host process's basic view.
func (p *procReader) snapshot() (*procSnapshot, error) {
	pids, err := p.pids()
	if err != nil {
		return nil, err
	}
	s := &procSnapshot{all: make(map[int]*Process, len(pids))}
	for _, pid := range pids {
		if pr, err := p.basic(pid); err == nil {
			s.pids = append(s.pids, pid)
			s.all[pid] = pr
		}
	}
	return s, nil
}

func newProcReader(root string) *procReader {
	p := &procReader{fs: procfs.Root(root), ticks: 100}
	p.bootTime, _ = p.fs.BootTime()
	return p
}

func (p *procReader) path(pid int, name string) string {
	return p.fs.Path(pid, name)
}

func (p *procReader) pids() ([]int, error) {
	ents, err := os.ReadDir(string(p.fs))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

var nsNames = []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}

func (p *procReader) namespaces(pid int) map[string]string {
	m := map[string]string{}
	for _, n := range nsNames {
		if l, err := os.Readlink(p.path(pid, "ns/"+n)); err == nil {
			m[n] = l
		}
	}
	return m
}

func (p *procReader) cgroup(pid int) []string {
	b, err := os.ReadFile(p.path(pid, "cgroup"))
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	sort.Strings(lines)
	return lines
}

// basic reads what membership needs: ppid, namespaces, cgroup.
func (p *procReader) basic(pid int) (*Process, error) {
	st, err := p.fs.Stat(pid)
	if err != nil {
		return nil, err
	}
	pr := &Process{PID: pid, PPID: st.PPID, Comm: st.Comm, State: st.State, Namespaces: p.namespaces(pid), Cgroup: p.cgroup(pid)}
	if !utf8.ValidString(st.Comm) {
		pr.CommB64 = base64.StdEncoding.EncodeToString([]byte(st.Comm))
	}
	if !p.bootTime.IsZero() {
		pr.Start = p.bootTime.Add(time.Duration(float64(st.StartTime) / p.ticks * float64(time.Second))).UTC()
	}
	return pr, nil
}

// maxExeHash bounds how much of an executable is hashed.
const maxExeHash = 512 << 20

// maxEnviron bounds how much of a process's environment is read. The kernel
// keeps it within a quarter of the stack limit: 2 MiB by default.
const maxEnviron = 16 << 20

// details fills in everything else, best effort: a process may exit at any
// moment, and what could not be read is left empty.
func (p *procReader) details(pr *Process) {
	pid := pr.PID
	if b, err := os.ReadFile(p.path(pid, "cmdline")); err == nil {
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(b) == 0 {
			args = []string{}
		}
		pr.Cmdline = args
		for _, a := range args {
			if !utf8.ValidString(a) {
				for _, a := range args {
					pr.CmdlineB64 = append(pr.CmdlineB64, base64.StdEncoding.EncodeToString([]byte(a)))
				}
				break
			}
		}
	}
	if st, err := p.fs.Status(pid); err == nil {
		pr.UIDs, pr.GIDs, pr.NSPID = st.UIDs, st.GIDs, st.NSPIDs
		pr.Caps, pr.Seccomp, pr.NoNewPrivs = st.Caps, st.Seccomp, st.NoNewPrivs
	}
	p.live(pr)
	if exe, err := os.Readlink(p.path(pid, "exe")); err == nil {
		pr.Exe = exe
		pr.ExeDeleted = strings.HasSuffix(exe, " (deleted)")
		pr.ExeMemfd = strings.HasPrefix(exe, "/memfd:")
		// Read through the kernel's reference from the host: the binary
		// that runs, even if deleted or swapped; never executed.
		if f, err := os.Open(p.path(pid, "exe")); err == nil {
			h := sha256.New()
			n, err := io.Copy(h, io.LimitReader(f, maxExeHash+1))
			f.Close()
			switch {
			case err != nil:
				pr.ExeNote = "hash failed: " + err.Error()
			case n > maxExeHash:
				pr.ExeNote = fmt.Sprintf("larger than %d bytes: not hashed", maxExeHash)
			default:
				pr.ExeSHA256 = hex.EncodeToString(h.Sum(nil))
			}
		} else {
			pr.ExeNote = "unreadable: " + err.Error()
		}
	}
	pr.Cwd, _ = os.Readlink(p.path(pid, "cwd"))
	pr.Root, _ = os.Readlink(p.path(pid, "root"))
	if ents, err := os.ReadDir(p.path(pid, "fd")); err == nil {
		pr.FDs = len(ents)
		for _, e := range ents {
			l, err := os.Readlink(p.path(pid, "fd/"+e.Name()))
			if err != nil {
				continue
			}
			if n, ok := procfs.SocketInode(l); ok {
				pr.Sockets = append(pr.Sockets, n)
				if fd, err := strconv.Atoi(e.Name()); err == nil && fd <= 2 {
					if pr.StdioSockets == nil {
						pr.StdioSockets = map[int]uint64{}
					}
					pr.StdioSockets[fd] = n
				}
			}
		}
	}
}

// live reads what a running process holds beside its identity: threads,
// tracer, resident memory, environment and memory maps; best effort.
func (p *procReader) live(pr *Process) {
	pid := pr.PID
	if b, err := os.ReadFile(p.path(pid, "status")); err == nil {
		x := parseStatusExtra(b)
		pr.Threads, pr.TracerPID, pr.RSSKiB = x.Threads, x.TracerPID, x.RSSKiB
	}
	if ents, err := os.ReadDir(p.path(pid, "task")); err == nil {
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				pr.TIDs = append(pr.TIDs, tid)
			}
		}
		sort.Ints(pr.TIDs)
	}
	if b, n, err := readCapped(p.path(pid, "environ"), maxEnviron); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			pr.EnvironNote = "unreadable: " + err.Error()
		}
	} else if len(b) > 0 {
		pr.environ = b
		for _, v := range strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00") {
			pr.Environ = append(pr.Environ, escapeBytes([]byte(v)))
		}
		if n > int64(len(b)) {
			pr.EnvironNote = fmt.Sprintf("capped at %d bytes", maxEnviron)
		}
	}
	if f, err := os.Open(p.path(pid, "maps")); err == nil {
		pr.Maps, _ = parseMaps(f)
		f.Close()
	}
}

// readCapped reads up to max bytes of a file and says how long it was
// (max+1 when longer).
func readCapped(path string, max int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, 0, err
	}
	n := int64(len(b))
	if n > max {
		b = b[:max]
	}
	return b, n, nil
}

// processTree returns every process of the container whose init is initPID:
// those in its cgroup, those in its PID namespace (unless that is the host's),
// and the init's descendants wherever they are. Each is compared with the
// init, and differences are listed in Outside.
func (p *procReader) processTree(initPID int) ([]*Process, error) {
	procs, err := p.members(initPID)
	if err != nil {
		return nil, err
	}
	for _, pr := range procs {
		p.details(pr)
	}
	return procs, nil
}

// Members lists a container's processes as a capture's process tree takes
// them, each with its Reason and what differs from the init (Outside), from
// /proc/PID/stat, ns/ and cgroup alone: no command line, executable, open
// files or environment is read. For views that refresh often (the console).
func Members(procRoot string, initPID int) ([]*Process, error) {
	return newProcReader(procRoot).members(initPID)
}

// members is the membership half of processTree.
func (p *procReader) members(initPID int) ([]*Process, error) {
	var init *Process
	if p.snap != nil && p.snap.all[initPID] != nil {
		c := *p.snap.all[initPID]
		init = &c
	} else {
		var err error
		if init, err = p.basic(initPID); err != nil {
			return nil, fmt.Errorf("reading the container's init (pid %d): %w", initPID, err)
		}
	}
	self := p.namespaces(os.Getpid())
	hostPIDNS := self["pid"] != "" && self["pid"] == init.Namespaces["pid"]
	all := map[int]*Process{}
	var pids []int
	if p.snap != nil {
		// Copies: membership sets each one's Reason and Outside.
		pids = p.snap.pids
		for pid, pr := range p.snap.all {
			c := *pr
			all[pid] = &c
		}
		if _, ok := all[initPID]; !ok {
			pids = append(slices.Clone(pids), initPID)
		}
	} else {
		var err error
		if pids, err = p.pids(); err != nil {
			return nil, err
		}
		for _, pid := range pids {
			if pr, err := p.basic(pid); err == nil {
				all[pid] = pr
			}
		}
	}
	all[initPID] = init
	descendsFrom := func(pid, root int) bool {
		for i := 0; i < 4096 && pid > 1; i++ {
			if pid == root {
				return true
			}
			pr := all[pid]
			if pr == nil {
				return false
			}
			pid = pr.PPID
		}
		return false
	}
	// The container's shim (the init's parent) starts what `docker exec`
	// and `ctr task exec` run: such a process is not the init's
	// descendant, and one that entered the host's namespaces and moved to
	// another cgroup is tied to the container by nothing else. The init of
	// another container under the same shim (a pod) is PID 1 of its own
	// PID namespace: it and its descendants are left out.
	shim := 0
	if parent := all[init.PPID]; parent != nil && strings.HasPrefix(parent.Comm, "containerd-shim") {
		shim = init.PPID
	}
	// In a pod that shares one PID namespace (shareProcessNamespace, or a
	// sandbox whose pause shares it), the other containers' inits are the
	// shim's children too, in their own container's cgroup.
	otherInit := func(pid int) bool {
		for i := 0; i < 4096 && pid > 1 && pid != shim; i++ {
			pr := all[pid]
			if pr == nil {
				return false
			}
			if pid != initPID && pr.PPID == shim {
				if pr.Namespaces["pid"] != init.Namespaces["pid"] && p.nsInit(pid) {
					return true
				}
				if !equalLines(pr.Cgroup, init.Cgroup) && containerCgroup(pr.Cgroup) {
					return true
				}
			}
			pid = pr.PPID
		}
		return false
	}
	var out []*Process
	for _, pid := range pids {
		pr := all[pid]
		if pr == nil {
			continue
		}
		switch {
		case pid == initPID:
			pr.Reason = "init"
		case equalLines(pr.Cgroup, init.Cgroup):
			pr.Reason = "cgroup"
		case !hostPIDNS && pr.Namespaces["pid"] == init.Namespaces["pid"] && !(shim > 0 && otherInit(pid)):
			pr.Reason = "pid-namespace"
		case descendsFrom(pid, initPID):
			pr.Reason = "descendant"
		case shim > 0 && pid != shim && descendsFrom(pid, shim) && !otherInit(pid):
			pr.Reason = "shim-descendant"
		default:
			continue
		}
		// A zombie has no namespaces or cgroup left to read: it is listed,
		// never judged (it read as an escape before).
		if pr.State != "Z" && pr.State != "X" {
			if len(pr.Cgroup) > 0 && !equalLines(pr.Cgroup, init.Cgroup) {
				pr.Outside = append(pr.Outside, "cgroup differs from the container's")
			}
			for _, n := range nsNames {
				// An unreadable link is unknown, never different.
				if init.Namespaces[n] != "" && pr.Namespaces[n] != "" && pr.Namespaces[n] != init.Namespaces[n] {
					pr.Outside = append(pr.Outside, n+" namespace differs from the container's ("+pr.Namespaces[n]+")")
				}
			}
		}
		out = append(out, pr)
	}
	return out, nil
}

// containerCgroup reports whether a process's cgroup is some container's:
// its last path element carries a 64-hex-digit container ID (cgroupfs:
// /k8s.io/ID, /docker/ID, /kubepods/.../ID; systemd: cri-containerd-ID.scope,
// docker-ID.scope).
func containerCgroup(lines []string) bool {
	for _, l := range lines {
		i := strings.LastIndexByte(l, '/')
		if i < 0 {
			continue
		}
		run := 0
		for _, r := range l[i+1:] {
			if r >= '0' && r <= '9' || r >= 'a' && r <= 'f' {
				run++
				if run == 64 {
					return true
				}
				continue
			}
			run = 0
		}
	}
	return false
}

// nsInit reports whether pid is PID 1 of its own PID namespace (the last
// NSpid entry), as a container's init is.
func (p *procReader) nsInit(pid int) bool {
	st, err := p.fs.Status(pid)
	return err == nil && len(st.NSPIDs) > 1 && st.NSPIDs[len(st.NSPIDs)-1] == 1
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

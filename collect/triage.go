package collect

import (
	"context"
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

	"golang.org/x/sync/errgroup"

	"firebreak/internal/procfs"
	"firebreak/runtime"
)

// Severity orders findings.
type Severity string

const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
)

var severityRank = map[Severity]int{Info: 1, Low: 2, Medium: 3, High: 4, Critical: 5}
var severityWeight = map[Severity]int{Info: 0, Low: 1, Medium: 5, High: 15, Critical: 40}

// Rank orders severities (info 1 .. critical 5; 0 for unknown).
func (s Severity) Rank() int { return severityRank[s] }

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	if _, ok := severityRank[Severity(s)]; ok {
		return Severity(s), nil
	}
	return "", fmt.Errorf("severity %q: use info, low, medium, high or critical", s)
}

// FindingKind says what a finding was judged from.
type FindingKind string

const (
	KindConfig FindingKind = "config" // the container's settings (no process needed)
	KindLive   FindingKind = "live"   // what its processes do now, read from /proc
)

// Finding is one reason a container could escape, or signs that it may have.
type Finding struct {
	ID       string      `json:"id"` // stable rule ID, e.g. "privileged", "cap-sys_admin"
	Kind     FindingKind `json:"kind"`
	Severity Severity    `json:"severity"`
	Title    string      `json:"title"`
	Evidence string      `json:"evidence"` // the exact setting or observation
	Why      string      `json:"why"`
	Remedy   string      `json:"remedy"`
	CIS      string      `json:"cis,omitempty"` // the CIS Docker Benchmark recommendation it answers, e.g. "5.4"
}

// Assessment is triage of one container.
type Assessment struct {
	Container runtime.Container `json:"container"`
	Runtime   string            `json:"runtime"`
	Score     int               `json:"score"`
	Findings  []Finding         `json:"findings"`
	Notes     []string          `json:"notes,omitempty"`
}

// Max is the highest severity among the findings ("" for none).
func (a Assessment) Max() Severity {
	var m Severity
	for _, f := range a.Findings {
		if f.Severity.Rank() > m.Rank() {
			m = f.Severity
		}
	}
	return m
}

// Live returns signs of an escape read from /proc on the host: processes
// tied to the container outside its namespaces or cgroup, processes whose
// root is not the container's, executables deleted after start or run from
// memory, and writes under writable host mounts since the container started.
func Live(ctx context.Context, procRoot string, d runtime.Details) ([]Finding, error) {
	if d.Pid <= 0 {
		return nil, nil
	}
	procs, err := newProcReader(procRoot).processTree(d.Pid)
	if err != nil {
		return nil, err
	}
	return liveFindings(ctx, procRoot, d, procs), nil
}

// liveFindings judges a process tree already read from procRoot.
func liveFindings(ctx context.Context, procRoot string, d runtime.Details, procs []*Process) []Finding {
	var started time.Time // the init's start: when the container started
	for _, p := range procs {
		if p.PID == d.Pid {
			started = p.Start
		}
	}
	var out []Finding
	rootOf := func(pid int) (uint64, uint64, bool) {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "root"), &st); err != nil {
			return 0, 0, false
		}
		return st.Dev, st.Ino, true
	}
	initDev, initIno, haveRoot := rootOf(d.Pid)
	for _, p := range procs {
		who := fmt.Sprintf("pid %d (%s)", p.PID, safeShort(p.Comm))
		if len(p.Outside) > 0 {
			out = append(out, Finding{ID: "live-outside-namespaces", Kind: KindLive, Severity: Critical, Title: "Process outside the container's namespaces or cgroup",
				Evidence: who + ": " + strings.Join(p.Outside, "; "),
				Why:      "a process tied to the container that entered other namespaces is how an escape looks from the host",
				Remedy:   "contain the container now (firebreak run escape-suspected) and capture its processes"})
		}
		if dev, ino, ok := rootOf(p.PID); ok && haveRoot && (dev != initDev || ino != initIno) {
			out = append(out, Finding{ID: "live-foreign-root", Kind: KindLive, Severity: Critical, Title: "Process with a root other than the container's",
				Evidence: who + " has another root directory", Why: "chroot or setns into the host's filesystem from the container", Remedy: "contain the container and capture its processes"})
		}
		if f, ok := shellOnSocket(procRoot, p, who); ok {
			out = append(out, f)
		}
		if p.ExeMemfd {
			out = append(out, Finding{ID: "live-memfd-exe", Kind: KindLive, Severity: Critical, Title: "Process running from memory", Evidence: who + " runs " + p.Exe,
				Why: "fileless execution hides the binary from the filesystem", Remedy: "capture processes now (the exe is hashed through /proc) and contain"})
		} else if p.ExeDeleted {
			out = append(out, Finding{ID: "live-deleted-exe", Kind: KindLive, Severity: High, Title: "Process whose executable was deleted", Evidence: who + " runs " + p.Exe,
				Why: "deleting a running binary hides it from later inspection", Remedy: "capture processes now (the exe is hashed through /proc) and contain"})
		}
	}
	out = append(out, hostFDs(procRoot, d, procs)...)
	for _, m := range d.Security.Mounts {
		if !m.RW || m.Type != "bind" || started.IsZero() || !watchedForWrites(m.Source) {
			continue
		}
		if n, first := newerThan(ctx, m.Source, started, 10000); n > 0 {
			out = append(out, Finding{ID: "live-host-mount-writes", Kind: KindLive, Severity: Medium, Title: "Writes under a host-mounted path since the container started",
				Evidence: fmt.Sprintf("%d entries under %s changed after %s, e.g. %s", n, m.Source, started.UTC().Format(time.RFC3339), first),
				Why:      "a writable host mount lets the container plant files the host will read or run", Remedy: "review the changed files; mount read-only"})
		}
	}
	return out
}

// systemTrees are host directories whose contents the host itself changes
// all the time (logs, runtime state, pseudo files): a change under them
// after the container started is no evidence that the container wrote it.
// Their bind mounts are configuration findings (host-mount-*); they are not
// walked for writes.
var systemTrees = []string{"/", "/proc", "/sys", "/dev", "/run", "/var/run", "/var", "/var/log", "/var/lib", "/tmp", "/etc", "/usr", "/boot", "/home", "/root", "/lib", "/lib64", "/bin", "/sbin", "/opt", "/srv", "/mnt", "/media"}

// pseudoFS are filesystems with no writes by anyone to find: kernel views.
var pseudoFS = map[int64]bool{
	0x9fa0:     true, // proc
	0x62656572: true, // sysfs
	0x1cd1:     true, // devpts
	0x27e0eb:   true, // cgroup v1
	0x63677270: true, // cgroup2
	0x64626720: true, // debugfs
	0x74726163: true, // tracefs
	0x73636673: true, // securityfs
	0xcafe4a11: true, // bpf
}

// watchedForWrites says whether writes under a host mount's source can be
// told apart from the host's own: not a system tree, not a pseudo
// filesystem.
func watchedForWrites(src string) bool {
	src = filepath.Clean(src)
	if slices.Contains(systemTrees, src) || strings.HasPrefix(src, "/proc/") || strings.HasPrefix(src, "/sys/") || strings.HasPrefix(src, "/dev/") {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(src, &st); err != nil || pseudoFS[int64(st.Type)] {
		return false
	}
	return true
}

// newerThan counts entries under dir modified after t, looking at most at
// limit entries, never following links and never leaving dir's filesystem
// (a mount below it is another filesystem, written by others).
func newerThan(ctx context.Context, dir string, t time.Time, limit int) (int, string) {
	n, seen := 0, 0
	first := ""
	var root syscall.Stat_t
	if err := syscall.Lstat(dir, &root); err != nil {
		return 0, ""
	}
	_ = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || ctx.Err() != nil {
			return filepath.SkipDir
		}
		seen++
		if seen > limit {
			return filepath.SkipAll
		}
		if p == dir {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Dev != root.Dev {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if fi.ModTime().After(t) {
			n++
			if first == "" {
				first = p
			}
		}
		return nil
	})
	return n, first
}

func safeShort(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strconv.Quote(s)
}

// AssessOptions say how triage reads the host.
type AssessOptions struct {
	ProcRoot string      // /proc unless a test says otherwise
	Helpers  HelperFiles // the host's usermode helper settings (DefaultHelperFiles)
	Parallel int         // containers read at once
}

// DefaultAssessOptions read the host's own /proc and settings.
func DefaultAssessOptions() AssessOptions {
	return AssessOptions{ProcRoot: "/proc", Helpers: DefaultHelperFiles(), Parallel: 8}
}

// Assess triages one container: configuration findings always, live ones
// when it runs. procRoot is /proc unless a test says otherwise.
func Assess(ctx context.Context, rt runtime.Runtime, procRoot string, c runtime.Container) (Assessment, error) {
	o := DefaultAssessOptions()
	o.ProcRoot = procRoot
	as, err := AssessWith(ctx, rt, []runtime.Container{c}, o)
	if err != nil {
		return Assessment{}, err
	}
	if len(as) == 0 {
		return Assessment{}, &runtime.NotFoundError{Ref: c.ID}
	}
	return as[0], nil
}

// assessed is one container's assessment with what its live part read.
type assessed struct {
	a     Assessment
	d     runtime.Details
	procs []*Process
}

// assessTree triages an inspected container; procs is its process tree
// when already read (nil to read it).
func assessTree(ctx context.Context, engine, procRoot string, d runtime.Details, procs []*Process, snap *procSnapshot) assessed {
	a := Assessment{Container: d.Container, Runtime: engine, Findings: Configuration(d)}
	if d.Pid > 0 {
		var err error
		if procs == nil {
			r := newProcReader(procRoot)
			r.snap = snap
			procs, err = r.processTree(d.Pid)
		}
		if err != nil {
			a.Notes = append(a.Notes, "live indicators not read: "+err.Error())
		} else {
			a.Findings = append(a.Findings, liveFindings(ctx, procRoot, d, procs)...)
		}
	} else {
		a.Notes = append(a.Notes, "not running: configuration findings only")
	}
	score(&a)
	return assessed{a: a, d: d, procs: procs}
}

// score sorts the findings, names their CIS recommendations and scores
// them on the escape profile (triage --profile may score again).
func score(a *Assessment) {
	for i := range a.Findings {
		if a.Findings[i].CIS == "" {
			a.Findings[i].CIS = CISOf(a.Findings[i].ID)
		}
	}
	sortFindings(a.Findings)
	a.Score = ProfileEscape.Score(a.Findings)
	if a.Findings == nil {
		a.Findings = []Finding{}
	}
}

// addKernelHelpers adds, to the running containers among them, the host's
// usermode helpers that point into their filesystems (read once for all).
func addKernelHelpers(ctx context.Context, rt runtime.Runtime, h HelperFiles, as []*assessed) {
	helpers := h.read()
	// The layers are looked up only when a helper points somewhere a
	// container's files could be (an engine call per container otherwise).
	lookLayers := suspicious(helpers)
	var fss []containerFS
	for _, x := range as {
		if x.d.Pid <= 0 {
			continue
		}
		fs := containerFS{c: x.d.Container}
		if lookLayers {
			fs.dirs = layerDirs(ctx, rt, x.d.ID)
		}
		for _, p := range x.procs {
			fs.pids = append(fs.pids, p.PID)
			if p.PID == x.d.Pid {
				fs.cgroup = p.Cgroup
			}
		}
		fss = append(fss, fs)
	}
	if len(fss) == 0 {
		return
	}
	found := kernelHelperFindings(h, helpers, fss)
	for _, x := range as {
		if f := found[x.d.ID]; len(f) > 0 {
			x.a.Findings = append(x.a.Findings, f...)
			score(&x.a)
		}
	}
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity.Rank() != fs[j].Severity.Rank() {
			return fs[i].Severity.Rank() > fs[j].Severity.Rank()
		}
		return fs[i].ID < fs[j].ID
	})
}

// Rank orders assessments riskiest first; ties by name, then ID, so the
// order is stable run to run.
func Rank(as []Assessment) {
	sort.SliceStable(as, func(i, j int) bool {
		if as[i].Score != as[j].Score {
			return as[i].Score > as[j].Score
		}
		if as[i].Container.Name != as[j].Container.Name {
			return as[i].Container.Name < as[j].Container.Name
		}
		return as[i].Container.ID < as[j].Container.ID
	})
}

// AssessAll triages containers with at most parallel at once and ranks them.
func AssessAll(ctx context.Context, rt runtime.Runtime, procRoot string, targets []runtime.Container, parallel int) ([]Assessment, error) {
	o := DefaultAssessOptions()
	o.ProcRoot, o.Parallel = procRoot, parallel
	return AssessWith(ctx, rt, targets, o)
}

// AssessWith triages containers as o says and ranks them. A container
// removed meanwhile is left out; other failures are joined.
func AssessWith(ctx context.Context, rt runtime.Runtime, targets []runtime.Container, o AssessOptions) ([]Assessment, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	out := make([]*assessed, len(targets))
	errs := make([]error, len(targets))
	var snap *procSnapshot
	if len(targets) > 1 {
		// One read of the host's processes for the whole round; a
		// container started after it is read live.
		snap, _ = newProcReader(o.ProcRoot).snapshot()
	}
	var g errgroup.Group
	g.SetLimit(max(o.Parallel, 1))
	for i, t := range targets {
		g.Go(func() error {
			d, err := rt.Inspect(ctx, t.ID)
			if err != nil {
				errs[i] = err
				return nil // each target's error is kept in errs
			}
			x := assessTree(ctx, rt.Name(), o.ProcRoot, d, nil, snap)
			out[i] = &x
			return nil
		})
	}
	_ = g.Wait() // every func returns nil
	var kept []*assessed
	var failed []error
	for i := range out {
		if errs[i] != nil {
			if runtime.IsNotFound(errs[i]) {
				continue // removed while triaging
			}
			failed = append(failed, fmt.Errorf("%s: %w", targets[i].ShortID(), errs[i]))
			continue
		}
		kept = append(kept, out[i])
	}
	addKernelHelpers(ctx, rt, o.Helpers, kept)
	as := make([]Assessment, 0, len(kept))
	for _, x := range kept {
		as = append(as, x.a)
	}
	Rank(as)
	return as, errors.Join(failed...)
}

// shells are the commands a reverse or bind shell runs.
var shells = map[string]bool{"sh": true, "ash": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "tcsh": true, "csh": true, "fish": true}

// shellOnSocket finds a shell whose input and output are one TCP
// connection: someone types into the container over the network (nc -e
// /bin/sh, bash -i >& /dev/tcp/..., socat exec). A shell on a unix socket
// (a supervisor's socketpair) is not one.
func shellOnSocket(procRoot string, p *Process, who string) (Finding, bool) {
	in, ok := p.StdioSockets[0]
	if !ok || !shells[p.Comm] {
		return Finding{}, false
	}
	if out, ok := p.StdioSockets[1]; !ok || out != in {
		return Finding{}, false
	}
	for _, proto := range []procfs.Proto{procfs.TCP, procfs.TCP6} {
		f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(p.PID), "net", string(proto)))
		if err != nil {
			continue
		}
		socks, _ := procfs.ParseSockets(f, proto)
		f.Close()
		for _, sk := range socks {
			if sk.Inode != in {
				continue
			}
			peer := sk.Remote.String()
			if sk.TCPState() == "LISTEN" || !sk.Remote.IsValid() || sk.Remote.Port() == 0 {
				peer = "a listening socket " + sk.Local.String()
			}
			return Finding{ID: "live-shell-on-socket", Kind: KindLive, Severity: Critical, Title: "Shell whose input and output are a network connection",
				Evidence: fmt.Sprintf("%s reads and writes TCP socket:[%d] (%s, peer %s)", who, in, sk.TCPState(), peer),
				Why:      "a shell reading its commands from a TCP connection is a reverse or bind shell: someone is typing into the container over the network",
				Remedy:   "contain now (firebreak run escape-suspected): the cut ends the session and the capture keeps the peer's address (network.json)"}, true
		}
	}
	return Finding{}, false
}

// hostFDs finds open files of the container's processes that live on a
// filesystem the container does not mount: a file reached outside its view
// (an escape, or a descriptor passed in). The container's filesystems are
// the devices in its init's mountinfo; on a device shared with the host (a
// bind mount from the host's disk), a file counts as inside when it is a
// bound file itself or lies under a bound directory's destination.
func hostFDs(procRoot string, d runtime.Details, procs []*Process) []Finding {
	mis, err := procfs.Root(procRoot).MountInfo(d.Pid)
	if err != nil {
		return nil
	}
	devs := map[uint64][]procfs.Mount{}
	for _, m := range mis {
		devs[m.Dev()] = append(devs[m.Dev()], m)
	}
	var out []Finding
	for _, p := range procs {
		dir := filepath.Join(procRoot, strconv.Itoa(p.PID), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			var st syscall.Stat_t
			fdPath := filepath.Join(dir, e.Name())
			if err := syscall.Stat(fdPath, &st); err != nil {
				continue
			}
			if st.Mode&syscall.S_IFMT != syscall.S_IFREG && st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
				continue
			}
			target, _ := os.Readlink(fdPath)
			mounts, ok := devs[uint64(st.Dev)]
			inside := false
			for _, m := range mounts {
				if m.Point == "/" || target == m.Point || strings.HasPrefix(target, strings.TrimSuffix(m.Point, "/")+"/") {
					inside = true
					break
				}
			}
			if ok && inside {
				continue
			}
			out = append(out, Finding{ID: "live-host-fd", Kind: KindLive, Severity: High, Title: "Open file outside the container's filesystems",
				Evidence: fmt.Sprintf("pid %d (%s) fd %s -> %s", p.PID, safeShort(p.Comm), e.Name(), strconv.Quote(target)),
				Why:      "a container process holding a file the container does not mount has reached the host's filesystem",
				Remedy:   "contain the container and capture its processes; find how the descriptor was obtained"})
		}
	}
	return out
}

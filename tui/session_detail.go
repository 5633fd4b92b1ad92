package tui

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/internal/procfs"
	"firebreak/runtime"
)

// Detail reads what the detail view shows: the engine's inspect, triage of
// the one container as `firebreak triage` does it, its process tree and
// sockets from the host's /proc, its mounts from the engine's document, and
// what Firebreak did to it (the containment record's log and the console's
// journal). Only the inspect is required: what else cannot be read is said
// in the assessment's notes.
func (b *Sessions) Detail(ctx context.Context, it Item) (*Detail, error) {
	s, err := b.engine(it.Engine)
	if err != nil {
		return nil, err
	}
	rt := s.Runtime()
	d, err := rt.Inspect(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	out := &Detail{Details: d}

	as, err := collect.AssessAll(ctx, rt, b.procRoot, []runtime.Container{d.Container}, 1)
	switch {
	case len(as) > 0:
		a := as[0]
		a.Runtime = it.Engine
		if err != nil {
			a.Notes = append(a.Notes, "triage: "+err.Error())
		}
		out.Assessment = &a
	case err != nil:
		out.Assessment = &collect.Assessment{Container: d.Container, Runtime: it.Engine, Findings: []collect.Finding{}, Notes: []string{"triage failed: " + err.Error()}}
	}
	var notes []string
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	var owners map[uint64][]int
	var comms map[int]string
	if d.Pid > 0 {
		tree, err := containerProcesses(b.procRoot, d.Pid)
		if err != nil {
			notes = append(notes, "processes not read: "+err.Error())
		}
		out.Processes, owners, comms = tree.procs, tree.owners, tree.comms
		out.Sockets, err = containerSockets(b.procRoot, d, owners, comms)
		if err != nil {
			notes = append(notes, "sockets: "+err.Error())
		}
	}
	out.Mounts = mountLines(rt.Name(), d)
	out.History = historyLines(heldFor(held(s), d.Container), b.journalFor(it))
	if len(notes) > 0 {
		if out.Assessment == nil {
			out.Assessment = &collect.Assessment{Container: d.Container, Runtime: it.Engine, Findings: []collect.Finding{}}
		}
		out.Assessment.Notes = append(out.Assessment.Notes, notes...)
	}
	return out, nil
}

// maxCmdline bounds how much of a command line is read: more than a screen
// is ever wide.
const maxCmdline = 4096

// procTree is a container's processes with the socket inodes each holds
// and each one's command name.
type procTree struct {
	procs  []Process
	owners map[uint64][]int
	comms  map[int]string
}

// containerProcesses reads the process tree of the container whose init is
// initPID: its members as collect takes them (collect.Members: the init, its
// cgroup, its PID namespace unless that is the host's, its descendants, and
// what its shim started for it), each with its depth below the process it
// was started by (0 for the init and for what `docker exec` started), in
// depth-first order, with its user, command line and the sockets it holds.
func containerProcesses(procRoot string, initPID int) (procTree, error) {
	members, err := collect.Members(procRoot, initPID)
	if err != nil {
		return procTree{}, err
	}
	root := procfs.Root(procRoot)
	byPID := map[int]*collect.Process{}
	for _, p := range members {
		byPID[p.PID] = p
	}
	children := map[int][]int{}
	var roots []int
	for _, p := range members {
		if byPID[p.PPID] != nil && p.PID != initPID {
			children[p.PPID] = append(children[p.PPID], p.PID)
		} else {
			roots = append(roots, p.PID)
		}
	}
	// The init first, then what was started beside it (exec), by PID.
	slices.SortFunc(roots, func(a, b int) int {
		switch {
		case a == initPID:
			return -1
		case b == initPID:
			return 1
		}
		return cmp.Compare(a, b)
	})
	tree := procTree{owners: map[uint64][]int{}, comms: map[int]string{}}
	seen := map[int]bool{}
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		m := byPID[pid]
		p := Process{PID: pid, PPID: m.PPID, Depth: depth}
		tree.comms[pid] = m.Comm
		if st, err := root.Status(pid); err == nil && len(st.UIDs) > 1 {
			p.User = userName(st.UIDs[1])
		}
		p.Cmdline = cmdline(root, pid, m.Comm)
		if m.State == "Z" {
			p.Cmdline += " <defunct>"
		}
		for _, n := range socketInodes(root, pid) {
			tree.owners[n] = append(tree.owners[n], pid)
		}
		tree.procs = append(tree.procs, p)
		slices.Sort(children[pid])
		for _, c := range children[pid] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return tree, nil
}

// userName names a UID the way ps does for root; others as numbers (a
// container's own /etc/passwd is not the host's to read here).
func userName(uid int) string {
	if uid == 0 {
		return "root"
	}
	return strconv.Itoa(uid)
}

// cmdline reads a process's command line, its arguments joined by spaces;
// a process with none (a kernel thread, a zombie) is shown as [comm].
func cmdline(root procfs.Root, pid int, comm string) string {
	f, err := os.Open(root.Path(pid, "cmdline"))
	if err != nil {
		return "[" + comm + "]"
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxCmdline))
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return "[" + comm + "]"
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// socketInodes lists the sockets a process holds open.
func socketInodes(root procfs.Root, pid int) []uint64 {
	ents, err := os.ReadDir(root.Path(pid, "fd"))
	if err != nil {
		return nil
	}
	var out []uint64
	for _, e := range ents {
		l, err := os.Readlink(root.Path(pid, "fd/"+e.Name()))
		if err != nil {
			continue
		}
		if n, ok := procfs.SocketInode(l); ok {
			out = append(out, n)
		}
	}
	return out
}

// containerSockets lists the sockets of the container's network namespace,
// one line each: protocol, state, local and remote address, and the
// container's processes that hold it. A container on the host's network
// has the host's sockets: they are not listed.
func containerSockets(procRoot string, d runtime.Details, owners map[uint64][]int, comms map[int]string) ([]string, error) {
	if d.NetworkMode.Kind == "host" {
		return []string{"(it shares the host's network namespace: the sockets there are the host's, not listed)"}, nil
	}
	root := procfs.Root(procRoot)
	var out []string
	var errs []error
	for _, proto := range []procfs.Proto{procfs.TCP, procfs.TCP6, procfs.UDP, procfs.UDP6, procfs.Raw, procfs.Raw6, procfs.Unix} {
		socks, err := root.Sockets(d.Pid, proto)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, s := range socks {
			if s.Proto == procfs.Unix && s.Path == "" && len(owners[s.Inode]) == 0 {
				continue // an unbound socket no process of it holds: noise
			}
			out = append(out, socketLine(s, owners[s.Inode], comms))
		}
	}
	return out, errors.Join(errs...)
}

// socketLine words one socket: "tcp   LISTEN      0.0.0.0:80  0.0.0.0:0  pid 12 nginx".
func socketLine(s procfs.Socket, pids []int, comms map[int]string) string {
	state := "0x" + s.State
	switch s.Proto {
	case procfs.TCP, procfs.TCP6:
		if n := s.TCPState(); n != "" {
			state = n
		}
	case procfs.UDP, procfs.UDP6:
		switch s.State {
		case "01":
			state = "ESTABLISHED"
		case "07":
			state = "UNCONN"
		}
	case procfs.Unix:
		state = "-"
	}
	local, remote := "", ""
	if s.Proto == procfs.Unix {
		local = s.Path
		if local == "" {
			local = "(unbound)"
		}
	} else {
		local, remote = s.Local.String(), s.Remote.String()
		if s.Remote.Port() == 0 && (!s.Remote.Addr().IsValid() || s.Remote.Addr().IsUnspecified()) {
			remote = "*" // not connected
		}
	}
	line := fmt.Sprintf("%-5s %-11s %-22s %-22s", s.Proto, state, local, remote)
	var who []string
	for i, p := range pids {
		if i == 3 {
			who = append(who, fmt.Sprintf("+%d", len(pids)-3))
			break
		}
		who = append(who, fmt.Sprintf("pid %d %s", p, comms[p]))
	}
	return strings.TrimRight(line+" "+strings.Join(who, ", "), " ")
}

// mountLines lists the container's mounts, one line each ("type source ->
// destination (options)"), from the engine's own document: Docker's inspect
// Mounts and tmpfs; containerd's OCI spec, every mount of it. What the
// document does not hold comes from the engine-neutral list.
func mountLines(engine string, d runtime.Details) []string {
	var out []string
	switch engine {
	case "docker":
		var doc struct {
			Mounts []struct {
				Type, Name, Source, Destination, Mode, Propagation string
				RW                                                 bool
			}
			HostConfig *struct {
				Tmpfs map[string]string
			}
		}
		if json.Unmarshal(d.Raw, &doc) == nil && doc.Mounts != nil {
			for _, m := range doc.Mounts {
				src := m.Source
				if m.Name != "" {
					src = m.Name + " (" + m.Source + ")"
				}
				opts := []string{map[bool]string{true: "rw", false: "ro"}[m.RW]}
				if m.Mode != "" && m.Mode != "rw" && m.Mode != "ro" {
					opts = append(opts, m.Mode)
				}
				if m.Propagation != "" {
					opts = append(opts, m.Propagation)
				}
				out = append(out, mountLine(m.Type, src, m.Destination, opts))
			}
			if doc.HostConfig != nil {
				dests := make([]string, 0, len(doc.HostConfig.Tmpfs))
				for k := range doc.HostConfig.Tmpfs {
					dests = append(dests, k)
				}
				slices.Sort(dests)
				for _, dst := range dests {
					var opts []string
					if o := doc.HostConfig.Tmpfs[dst]; o != "" {
						opts = strings.Split(o, ",")
					}
					out = append(out, mountLine("tmpfs", "tmpfs", dst, opts))
				}
			}
			return out
		}
	case "containerd":
		var doc struct {
			Spec *struct {
				Mounts []struct {
					Destination string   `json:"destination"`
					Type        string   `json:"type"`
					Source      string   `json:"source"`
					Options     []string `json:"options"`
				} `json:"mounts"`
			} `json:"spec"`
		}
		if json.Unmarshal(d.Raw, &doc) == nil && doc.Spec != nil {
			for _, m := range doc.Spec.Mounts {
				typ := m.Type
				if typ == "" && (slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")) {
					typ = "bind"
				}
				out = append(out, mountLine(typ, m.Source, m.Destination, m.Options))
			}
			return out
		}
	}
	for _, m := range d.Security.Mounts {
		opts := []string{map[bool]string{true: "rw", false: "ro"}[m.RW]}
		if m.Propagation != "" {
			opts = append(opts, m.Propagation)
		}
		src := m.Source
		if m.Name != "" {
			src = m.Name + " (" + m.Source + ")"
		}
		out = append(out, mountLine(m.Type, src, m.Destination, opts))
	}
	return out
}

func mountLine(typ, src, dst string, opts []string) string {
	if typ == "" {
		typ = "-"
	}
	if src == "" {
		src = "-"
	}
	line := typ + " " + src + " -> " + dst
	if len(opts) > 0 {
		line += " (" + strings.Join(opts, ",") + ")"
	}
	return line
}

// historyLines words what Firebreak did to the container, oldest first: the
// containment record's log and the console's journalled acts.
func historyLines(rec *contain.Record, acts []Act) []string {
	type dated struct {
		t    time.Time
		line string
	}
	var all []dated
	if rec != nil {
		for _, e := range rec.Log {
			line := historyTime(e.Time) + "  " + e.Action
			if e.Detail != "" {
				line += ": " + e.Detail
			}
			if e.Error != "" {
				line += " — failed: " + e.Error
			}
			all = append(all, dated{e.Time, line})
		}
	}
	for _, a := range acts {
		all = append(all, dated{a.Time, actLine(a)})
	}
	slices.SortStableFunc(all, func(a, b dated) int { return a.t.Compare(b.t) })
	out := make([]string, 0, len(all))
	for _, d := range all {
		out = append(out, d.line)
	}
	return out
}

// maxJournalActs bounds how many of a container's journalled acts are shown.
const maxJournalActs = 200

// journalFor reads the console's journal for the acts on it: by its key, by
// its ID (approvals), or by its name among a run's targets.
func (b *Sessions) journalFor(it Item) []Act {
	b.jmu.Lock()
	defer b.jmu.Unlock()
	f, err := os.Open(filepath.Join(b.opts.StateDir, "console", "journal.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []Act
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var a Act
		if json.Unmarshal(sc.Bytes(), &a) != nil {
			continue
		}
		targets := strings.Split(a.Target, ", ")
		if a.Target == it.ID || slices.Contains(targets, it.Key()) || (a.Act == "run" || strings.HasPrefix(a.Act, "run-")) && slices.Contains(targets, it.Ref()) {
			out = append(out, a)
		}
	}
	if len(out) > maxJournalActs {
		out = out[len(out)-maxJournalActs:]
	}
	return out
}

// Logs streams the container's log: the last tail lines, then, following,
// each new one, each line "RFC3339-time text". Docker's log is read through
// its API, which follows; another engine's is read through its LogReader
// (what `firebreak collect` reads), which does not: following reads it
// again every few seconds for what came since the last line.
func (b *Sessions) Logs(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error) {
	s, err := b.engine(it.Engine)
	if err != nil {
		return nil, err
	}
	rt := s.Runtime()
	if tail <= 0 {
		tail = 200
	}
	if api, ok := rt.(interface{ API() *client.Client }); ok {
		d, err := rt.Inspect(ctx, it.ID)
		if err != nil {
			return nil, err
		}
		return dockerLogs(ctx, api.API(), d, tail, follow)
	}
	lr, ok := rt.(runtime.LogReader)
	if !ok {
		return nil, fmt.Errorf("%s keeps no container logs", rt.Name())
	}
	return readerLogs(ctx, lr, it.ID, tail, follow), nil
}

// logStream is a log being read in the background; Close ends the reading.
type logStream struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (l *logStream) Close() error {
	l.cancel()
	return l.PipeReader.Close()
}

// dockerLogs reads the engine's log of the container with its API: tail
// lines, then follows when asked. A container without a TTY has its stdout
// and stderr multiplexed: they are taken apart and written as lines.
func dockerLogs(ctx context.Context, api *client.Client, d runtime.Details, tail int, follow bool) (io.ReadCloser, error) {
	var doc struct {
		Config *struct{ Tty bool }
	}
	_ = json.Unmarshal(d.Raw, &doc)
	tty := doc.Config != nil && doc.Config.Tty
	ctx, cancel := context.WithCancel(ctx)
	rc, err := api.ContainerLogs(ctx, d.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow, Tail: strconv.Itoa(tail)})
	if err != nil {
		cancel()
		return nil, runtime.WrapEngineError("docker", "ContainerLogs", d.ID, err, false)
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		var err error
		if tty {
			_, err = io.Copy(pw, rc)
		} else {
			lw := &lockedWriter{w: pw}
			_, err = stdcopy.StdCopy(lw, lw, rc)
		}
		if ctx.Err() != nil {
			err = nil // closed by the reader
		}
		pw.CloseWithError(err)
	}()
	return &logStream{PipeReader: pr, cancel: cancel}, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// followEvery is how often a log that cannot be followed is read again.
var followEvery = 2 * time.Second

// readerLogs reads the log through an engine's LogReader: the last tail
// lines; following, it reads again every followEvery what came since the
// newest line it gave, leaving out the lines of that same instant it gave
// already (and lines without a time, which every reading repeats).
func readerLogs(ctx context.Context, lr runtime.LogReader, id string, tail int, follow bool) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	every := followEvery
	go func() {
		var last time.Time
		seen := map[string]bool{} // lines of the instant last
		read := func(since time.Time, first bool) ([]string, error) {
			var lines tailLines
			lines.max = tail
			if !first {
				lines.max = 0
			}
			lw := &lockedWriter{w: &lines}
			err := lr.Logs(ctx, id, since, lw, lw)
			lines.flush()
			var out []string
			for _, l := range lines.lines {
				ts, _, _ := strings.Cut(l, " ")
				t, terr := time.Parse(time.RFC3339Nano, ts)
				switch {
				case terr != nil || t.IsZero():
					if !first {
						continue
					}
				case t.Before(last):
					continue
				case t.Equal(last):
					if seen[l] {
						continue
					}
					seen[l] = true
				default:
					last = t
					seen = map[string]bool{l: true}
				}
				out = append(out, l)
			}
			return out, err
		}
		lines, err := read(time.Time{}, true)
		for {
			for _, l := range lines {
				if _, werr := io.WriteString(pw, l+"\n"); werr != nil {
					return
				}
			}
			if err != nil || !follow {
				if ctx.Err() != nil {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
			select {
			case <-ctx.Done():
				pw.Close()
				return
			case <-time.After(every):
			}
			lines, err = read(last, false)
		}
	}()
	return &logStream{PipeReader: pr, cancel: cancel}
}

// tailLines collects the lines written to it, keeping the last max of them
// (all when max is 0).
type tailLines struct {
	max     int
	lines   []string
	partial []byte
}

func (t *tailLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.partial = append(t.partial, p...)
			break
		}
		t.add(string(append(t.partial, p[:i]...)))
		t.partial = t.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (t *tailLines) add(l string) {
	t.lines = append(t.lines, l)
	if t.max > 0 && len(t.lines) > 2*t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

func (t *tailLines) flush() {
	if len(t.partial) > 0 {
		t.add(string(t.partial))
		t.partial = nil
	}
	if t.max > 0 && len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/runtime"
)

// hostile strings: window title, OSC 52 clipboard write, clear screen,
// cursor move, bidi override, C1 CSI, carriage return.
const (
	osc0  = "\x1b]0;pwned\x07"
	osc52 = "\x1b]52;c;cm0gLXJmIC8K\x07"
	cls   = "\x1b[2J"
	home  = "\x1b[H"
	rlo   = "\u202e"
)

var hostile = osc0 + osc52 + cls + home + rlo + "\u009b31m" + "evil\rtext"

// detailFixture is the one container's detail the view tests show.
func detailFixture(it Item) *Detail {
	c := it.Container
	return &Detail{
		Details: runtime.Details{
			Container:   c,
			Pid:         4242,
			NetworkMode: runtime.NetworkMode{Kind: "private"},
			NetNSPath:   "/proc/4242/ns/net",
			Networks:    []runtime.Attachment{{Network: "bridge", IPv4Address: "172.17.0.5", Gateway: "172.17.0.1", MacAddress: "02:42:ac:11:00:05"}},
			Security:    runtime.Security{Ports: []runtime.PublishedPort{{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		},
		Assessment: &collect.Assessment{Container: c, Runtime: it.Engine, Score: 55, Findings: []collect.Finding{
			{ID: "docker-socket", Kind: collect.KindConfig, Severity: collect.Critical, Title: "Docker socket mounted",
				Evidence: "/var/run/docker.sock -> /var/run/docker.sock",
				Why:      "whoever reaches the engine's socket starts a privileged container on the host",
				Remedy:   "remove the mount"},
			{ID: "cap-sys_admin", Kind: collect.KindConfig, Severity: collect.High, Title: "CAP_SYS_ADMIN granted", CIS: "5.3",
				Evidence: "capabilities: SYS_ADMIN",
				Why:      "CAP_SYS_ADMIN allows mounting file systems and many other privileged operations that lead out of the container",
				Remedy:   "drop the capability (--cap-drop SYS_ADMIN) and grant only the narrow ones the workload needs"},
		}, Notes: []string{"live indicators read from /proc"}},
		Processes: []Process{
			{PID: 4242, PPID: 4200, User: "root", Cmdline: "/bin/sh /entrypoint.sh", Depth: 0},
			{PID: 4250, PPID: 4242, User: "root", Cmdline: "nginx: master process nginx -g daemon off;", Depth: 1},
			{PID: 4251, PPID: 4250, User: "101", Cmdline: "nginx: worker process", Depth: 2},
			{PID: 4300, PPID: 4200, User: "root", Cmdline: "sh -c id", Depth: 0},
		},
		Sockets: []string{"tcp   LISTEN      0.0.0.0:80             *                      pid 4250 nginx"},
		Mounts:  []string{"bind /var/run/docker.sock -> /var/run/docker.sock (rw)", "volume data (/var/lib/docker/volumes/data/_data) -> /data (rw)"},
		History: []string{"2026-11-28 11:00:00  contain: firewall installed"},
	}
}

// detailBackend is a fleet whose Detail answers with the fixture and whose
// log is two lines.
func detailBackend(n int) *fakeBackend {
	b := fleetOf(n)
	b.DetailFn = func(ctx context.Context, it Item) (*Detail, error) { return detailFixture(it), nil }
	b.LogsFn = func(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("2026-11-28T10:00:00.5Z listening on :80\n2026-11-28T10:00:01Z GET / 200\n")), nil
	}
	return b
}

// openDetail starts a console over b and opens the first row's detail.
func openDetail(t *testing.T, b *fakeBackend, w, h int) *Model {
	t.Helper()
	m := started(b, w, h, Options{})
	press(m, "enter")
	if m.active != screenDetail {
		t.Fatalf("enter left the console on %v", m.active)
	}
	return m
}

func TestDetailShowsFindingsWithWhyAndRemedy(t *testing.T) {
	m := openDetail(t, detailBackend(3), 120, 40)
	v := m.View()
	for _, want := range []string{"svc-000", "CRITICAL", "Docker socket mounted", "why", "starts a privileged container on the host", "remedy", "remove the mount", "CAP_SYS_ADMIN granted", "CIS 5.3", "risk 55"} {
		if !strings.Contains(v, want) {
			t.Errorf("findings lack %q:\n%s", want, v)
		}
	}
	sections := []struct {
		key  string
		want []string
	}{
		{"t", []string{"PID", "4242", "/bin/sh /entrypoint.sh", "  └─ nginx: worker process", "sh -c id"}},
		{"n", []string{"network: private", "bridge  ip 172.17.0.5", "0.0.0.0:8080 -> 80/tcp", "LISTEN", "pid 4250 nginx"}},
		{"l", []string{"the last 200 lines", "11-28 10:00:00 listening on :80", "GET / 200"}},
		{"m", []string{"root filesystem: writable", "/var/run/docker.sock -> /var/run/docker.sock (rw)"}},
		{"h", []string{"contain: firewall installed"}},
		{"i", []string{"Docker socket mounted"}},
		{"right", []string{"PID"}},
		{"left", []string{"Docker socket mounted"}},
		{"left", []string{"contain: firewall installed"}},
	}
	for _, s := range sections {
		press(m, s.key)
		v := m.View()
		for _, want := range s.want {
			if !strings.Contains(v, want) {
				t.Errorf("after %q the view lacks %q:\n%s", s.key, want, v)
			}
		}
	}
	press(m, "esc")
	if m.active != screenFleet {
		t.Fatalf("esc left the console on %v", m.active)
	}
}

// TestDetailHostileStrings: what a container controls reaches the
// terminal escaped, in every section.
func TestDetailHostileStrings(t *testing.T) {
	b := fleetOf(3)
	b.mu.Lock()
	b.items[0].Image = "img" + hostile
	b.items[0].Labels["x"] = hostile
	b.mu.Unlock()
	b.DetailFn = func(ctx context.Context, it Item) (*Detail, error) {
		d := detailFixture(it)
		d.Processes[1].Cmdline = "nginx " + hostile
		d.Processes[2].User = hostile
		d.Assessment.Findings[0].Evidence = "capabilities: " + hostile
		d.Assessment.Notes = append(d.Assessment.Notes, hostile)
		d.Details.Networks[0].Network = "net" + hostile
		d.Details.Networks[0].Aliases = []string{hostile}
		d.Sockets = append(d.Sockets, "unix  -  /run/"+hostile)
		d.Mounts = append(d.Mounts, "bind /x"+hostile+" -> /y")
		d.History = append(d.History, "2026-11-28 11:00:01  pause: "+hostile)
		return d, nil
	}
	b.LogsFn = func(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("2026-11-28T10:00:00Z " + hostile + "\n" + hostile + "\r\n")), nil
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		w, h := size[0], size[1]
		m := openDetail(t, b, w, h)
		for _, key := range []string{"i", "t", "n", "l", "m", "h"} {
			press(m, key)
			v := m.View()
			checkFrame(t, v, w, h)
			if strings.ContainsRune(v, 0x1b) || strings.ContainsRune(v, 0x07) || strings.ContainsRune(v, 0x202e) || strings.ContainsRune(v, '\r') {
				t.Fatalf("%dx%d section %s passes a raw control to the terminal: %q", w, h, key, v)
			}
			if !strings.Contains(v, `\x1b`) {
				t.Errorf("%dx%d section %s does not show the escape escaped:\n%s", w, h, key, v)
			}
		}
		press(m, "esc")
	}
	// wide enough to show the whole of it
	m := openDetail(t, b, 300, 40)
	press(m, "l")
	if v := m.View(); !strings.Contains(v, `\x1b]0;pwned\a\x1b]52;c;cm0gLXJmIC8K\a\x1b[2J\x1b[H\u202e\u009b31mevil\rtext`) {
		t.Errorf("the log line is not shown escaped in full:\n%s", v)
	}
}

// msgsOf runs a command as the program would and returns the messages it
// makes, batches opened, the spinner's ticks left out.
func msgsOf(cmd tea.Cmd) []tea.Msg {
	var out []tea.Msg
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := runCmd(c).(type) {
		case nil, spinMsg:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		default:
			out = append(out, msg)
		}
	}
	return out
}

func TestDetailStaleAnswerDoesNotOverwrite(t *testing.T) {
	b := detailBackend(3)
	var calls atomic.Int32
	b.DetailFn = func(ctx context.Context, it Item) (*Detail, error) {
		d := detailFixture(it)
		d.Processes[0].Cmdline = fmt.Sprintf("answer-%d", calls.Add(1))
		return d, nil
	}
	m := openDetail(t, b, 120, 40)
	press(m, "t")
	if v := m.View(); !strings.Contains(v, "answer-1") {
		t.Fatalf("first answer not shown:\n%s", v)
	}
	older := m.detail.load(m)
	newer := m.detail.load(m)
	for _, msg := range msgsOf(newer) { // answer-2, the newer generation
		drive(m, func() tea.Msg { return msg })
	}
	for _, msg := range msgsOf(older) { // answer-3, asked first, arriving last
		drive(m, func() tea.Msg { return msg })
	}
	v := m.View()
	if !strings.Contains(v, "answer-2") || strings.Contains(v, "answer-3") {
		t.Fatalf("an older answer overwrote the newer:\n%s", v)
	}
	// an answer for another container (the view moved on) is dropped too
	m.Update(detailMsg{gen: m.gens["detail"], key: "docker/other", d: &Detail{Processes: []Process{{PID: 1, Cmdline: "answer-other"}}}})
	if strings.Contains(m.View(), "answer-other") {
		t.Fatal("another container's answer was shown")
	}
}

func TestDetailErrorIsShownNotFatal(t *testing.T) {
	b := detailBackend(3)
	var fail atomic.Bool
	fail.Store(true)
	b.DetailFn = func(ctx context.Context, it Item) (*Detail, error) {
		if fail.Load() {
			return nil, errors.New("engine said no" + hostile)
		}
		return detailFixture(it), nil
	}
	m := openDetail(t, b, 80, 24)
	v := m.View()
	checkFrame(t, v, 80, 24)
	if !strings.Contains(v, "cannot read svc-000: engine said no") {
		t.Fatalf("error not shown:\n%s", v)
	}
	fail.Store(false)
	press(m, "ctrl+r")
	if v := m.View(); !strings.Contains(v, "Docker socket mounted") {
		t.Fatalf("reading again did not show the detail:\n%s", v)
	}
}

func TestDetailSpinnerWhileLoading(t *testing.T) {
	b := detailBackend(3)
	release := make(chan struct{})
	b.DetailFn = func(ctx context.Context, it Item) (*Detail, error) {
		select {
		case <-release:
			return detailFixture(it), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m := started(b, 80, 24, Options{})
	_, cmd := m.Update(keyMsg("enter"))
	v := m.View()
	checkFrame(t, v, 80, 24)
	if !strings.Contains(v, "reading svc-000…") || !strings.Contains(v, "esc cancels") {
		t.Fatalf("no spinner line while loading:\n%s", v)
	}
	// esc cancels the call in flight; the view says so and stays
	press(m, "esc")
	drive(m, cmd) // the call answers its cancelled context
	close(release)
	if m.active != screenDetail {
		t.Fatalf("the first esc left the view (it should cancel the call): %v", m.active)
	}
	if v := m.View(); !strings.Contains(v, "cancelled") {
		t.Fatalf("cancelled call not shown:\n%s", v)
	}
	press(m, "esc")
	if m.active != screenFleet {
		t.Fatalf("the second esc did not go back: %v", m.active)
	}
}

// pipeLog is a followed log the test writes to.
type pipeLog struct {
	mu     sync.Mutex
	pw     *io.PipeWriter
	ctx    context.Context
	opened int
}

func (p *pipeLog) logs(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error) {
	if !follow {
		return io.NopCloser(strings.NewReader("2026-11-28T10:00:00Z old line\n")), nil
	}
	pr, pw := io.Pipe()
	p.mu.Lock()
	p.pw, p.ctx = pw, ctx
	p.opened++
	p.mu.Unlock()
	return pr, nil
}

// readWith runs a blocking read command while text is written to the log.
func (p *pipeLog) readWith(t *testing.T, cmd tea.Cmd, text string) tea.Msg {
	t.Helper()
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	p.mu.Lock()
	pw := p.pw
	p.mu.Unlock()
	go func() { _, _ = io.WriteString(pw, text) }()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not answer")
		return nil
	}
}

func TestDetailFollowStreamsAndStopsOnEsc(t *testing.T) {
	b := detailBackend(3)
	pl := &pipeLog{}
	b.LogsFn = pl.logs
	m := openDetail(t, b, 100, 30)
	press(m, "l")
	if v := m.View(); !strings.Contains(v, "old line") {
		t.Fatalf("no first lines:\n%s", v)
	}
	// f: the log is opened to follow; the open answers at once
	_, cmd := m.Update(keyMsg("f"))
	var read tea.Cmd
	for _, msg := range msgsOf(cmd) {
		_, read = m.Update(msg)
	}
	if read == nil || !m.detail.following {
		t.Fatal("following did not start a read")
	}
	msg := pl.readWith(t, read, "2026-11-28T10:00:01Z second\n2026-11-28T10:00:02Z third\n")
	_, read = m.Update(msg)
	v := m.View()
	if !strings.Contains(v, "second") || !strings.Contains(v, "third") || !strings.Contains(v, "following") {
		t.Fatalf("followed lines not shown:\n%s", v)
	}
	if read == nil {
		t.Fatal("no next read after a chunk")
	}
	msg = pl.readWith(t, read, "2026-11-28T10:00:03Z "+osc52+"fourth\n")
	_, read = m.Update(msg)
	if v := m.View(); !strings.Contains(v, `\x1b]52;c;cm0gLXJmIC8K\afourth`) || strings.ContainsRune(v, 0x1b) {
		t.Fatalf("hostile followed line not escaped:\n%q", v)
	}
	// Update never waited on the log: the next read is still a command.
	if read == nil {
		t.Fatal("no next read")
	}
	pending := make(chan tea.Msg, 1)
	go func() { pending <- read() }()

	// esc: back to the fleet, the stream closed, the read in flight dropped
	_, cmd = m.Update(keyMsg("esc"))
	if m.active != screenFleet || m.detail.following {
		t.Fatalf("esc: active %v following %v", m.active, m.detail.following)
	}
	msgsOf(cmd)
	select {
	case msg := <-pending:
		if _, next := m.Update(msg); next != nil {
			t.Fatal("a read after esc asked for another")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing did not end the read in flight")
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.ctx.Err() == nil {
		t.Fatal("the follow call's context did not end")
	}
	if _, err := io.WriteString(pl.pw, "more\n"); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("the log is still read after esc: %v", err)
	}
}

func TestDetailFollowStopsWhenAnotherViewIsShown(t *testing.T) {
	b := detailBackend(3)
	pl := &pipeLog{}
	b.LogsFn = pl.logs
	m := openDetail(t, b, 100, 30)
	_, cmd := m.Update(keyMsg("f"))
	var read tea.Cmd
	for _, msg := range msgsOf(cmd) {
		_, read = m.Update(msg)
	}
	press(m, "2") // the runs view: the console's own key, the detail view hears nothing
	msg := pl.readWith(t, read, "2026-11-28T10:00:01Z line\n")
	_, next := m.Update(msg)
	if m.detail.following {
		t.Fatal("still following in another view")
	}
	msgsOf(next)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.ctx.Err() == nil {
		t.Fatal("the follow call's context did not end")
	}
}

func TestDetailLogKeepsTheLast1000Lines(t *testing.T) {
	m := openDetail(t, detailBackend(3), 100, 30)
	var lines []string
	for i := range 1500 {
		lines = append(lines, fmt.Sprintf("2026-11-28T10:00:00Z line %d", i))
	}
	m.detail.appendLogs(lines[:700])
	m.detail.appendLogs(lines[700:])
	if n := len(m.detail.logs); n != maxLogLines {
		t.Fatalf("%d lines kept, want %d", n, maxLogLines)
	}
	if last := m.detail.logs[len(m.detail.logs)-1]; !strings.HasSuffix(last, "line 1499") {
		t.Fatalf("last line kept: %q", last)
	}
	press(m, "l")
	v := m.View()
	checkFrame(t, v, 100, 30)
	if !strings.Contains(v, "line 1499") {
		t.Fatalf("the log does not show its newest line:\n%s", v)
	}
	press(m, "g")
	if v := m.View(); !strings.Contains(v, "line 500") || strings.Contains(v, "line 1499") {
		t.Fatalf("g does not go to the oldest kept line:\n%s", v)
	}
}

func TestDetailLogReaderChunks(t *testing.T) {
	pr, pw := io.Pipe()
	r := newLogReader(pr)
	go func() {
		_, _ = io.WriteString(pw, "a\nb\nc")
		_, _ = io.WriteString(pw, "d\n"+strings.Repeat("x", maxLogLine+100)+"\n")
		pw.Close()
	}()
	var got []string
	for {
		lines, err := r.chunk()
		got = append(got, lines...)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	if len(got) != 4 || got[0] != "a" || got[1] != "b" || got[2] != "cd" || len(got[3]) != maxLogLine {
		t.Fatalf("chunks: %q", got)
	}
}

func TestDetailActsAndHistory(t *testing.T) {
	b := detailBackend(3)
	m := openDetail(t, b, 120, 40)
	press(m, "c")
	if m.dialog == nil || !strings.HasPrefix(m.dialog.title, "Contain svc-000") {
		t.Fatalf("c in the detail view: dialog %+v", m.dialog)
	}
	press(m, "tab", "enter")
	if len(b.contains) != 1 || b.contains[0] != b.items[0].Key() {
		t.Fatalf("contained %v", b.contains)
	}
	if m.active != screenDetail {
		t.Fatalf("the act left the detail view: %v", m.active)
	}
	press(m, "h")
	v := m.View()
	for _, want := range []string{"held: contained", "contain: firewall installed", "2026-11-28 12:00:00  console: contain by tester@host — done · firebreak --runtime docker contain svc-000", "firebreak: contained+frozen"} {
		if !strings.Contains(v, want) {
			t.Errorf("history lacks %q:\n%s", want, v)
		}
	}
	// read back from the journal, the act is shown once
	b.DetailFn = func(ctx context.Context, it Item) (*Detail, error) {
		d := detailFixture(it)
		d.History = append(d.History, "2026-11-28 12:00:00  console: contain by tester@host — done · firebreak --runtime docker contain svc-000")
		return d, nil
	}
	press(m, "ctrl+r")
	if v := m.View(); strings.Count(v, "console: contain by") != 1 {
		t.Errorf("the act is not shown exactly once:\n%s", v)
	}
	press(m, "r")
	if m.dialog == nil || !strings.HasPrefix(m.dialog.title, "Release svc-000") {
		t.Fatalf("r in the detail view: dialog %+v", m.dialog)
	}
	press(m, "esc")
	press(m, "p")
	if m.active != screenRuns || m.runs.form == nil || len(m.runs.form.targets) != 1 || m.runs.form.targets[0].Key() != b.items[0].Key() {
		t.Fatalf("p in the detail view: active %v", m.active)
	}
}

func TestDetailFrames(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}, {40, 10}, {200, 6}} {
		w, h := size[0], size[1]
		m := openDetail(t, detailBackend(3), w, h)
		for _, key := range []string{"i", "t", "n", "l", "m", "h", "pgdown", "pgdown", "G", "?"} {
			press(m, key)
			checkFrame(t, m.View(), w, h)
		}
	}
}

func TestDetailGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		w, h := size[0], size[1]
		m := openDetail(t, detailBackend(3), w, h)
		v := m.View()
		checkFrame(t, v, w, h)
		golden(t, fmt.Sprintf("detail-%dx%d", w, h), v)
	}
}

// The backend's readers, over fixtures.

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeProc writes a process into a proc tree fixture.
func fakeProc(t *testing.T, root string, pid, ppid int, comm, state, pidNS, cgroup, cmdline string, uid int) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	fields := make([]string, 50)
	for i := range fields {
		fields[i] = "0"
	}
	fields[0], fields[1] = state, fmt.Sprint(ppid)
	writeFile(t, filepath.Join(dir, "stat"), fmt.Sprintf("%d (%s) %s\n", pid, comm, strings.Join(fields, " ")))
	writeFile(t, filepath.Join(dir, "status"), fmt.Sprintf("Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n", comm, uid, uid, uid, uid))
	writeFile(t, filepath.Join(dir, "cmdline"), cmdline)
	writeFile(t, filepath.Join(dir, "cgroup"), cgroup+"\n")
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pidNS, filepath.Join(dir, "ns", "pid")); err != nil {
		t.Fatal(err)
	}
}

func TestContainerProcessesFromProc(t *testing.T) {
	root := t.TempDir()
	host, ctr := "pid:[4026531836]", "pid:[4026532999]"
	fakeProc(t, root, 1, 0, "systemd", "S", host, "0::/init.scope", "/sbin/init\x00", 0)
	fakeProc(t, root, 100, 1, "containerd-shim", "S", host, "0::/system.slice/containerd.service", "shim\x00-id\x00x\x00", 0)
	fakeProc(t, root, 101, 100, "sh", "S", ctr, "0::/docker/abc", "/bin/sh\x00/entrypoint.sh\x00", 0)
	fakeProc(t, root, 102, 101, "nginx", "S", ctr, "0::/docker/abc", "nginx: master\x00", 0)
	fakeProc(t, root, 103, 102, "nginx", "S", ctr, "0::/docker/abc", "nginx: worker\x00", 101)
	fakeProc(t, root, 104, 102, "nginx", "Z", ctr, "0::/docker/abc", "", 101)
	fakeProc(t, root, 150, 100, "sh", "S", ctr, "0::/docker/abc", "sh\x00-c\x00"+osc0+"\x00", 0) // docker exec
	fakeProc(t, root, 160, 1, "moved", "S", host, "0::/docker/abc", "escaped\x00", 0)            // the cgroup ties it
	fakeProc(t, root, 200, 1, "sshd", "S", host, "0::/system.slice/ssh.service", "sshd\x00", 0)
	if err := os.MkdirAll(filepath.Join(root, "102", "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("socket:[555]", filepath.Join(root, "102", "fd", "6")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "101", "net", "tcp"), "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		"   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n")

	tree, err := containerProcesses(root, 101)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range tree.procs {
		got = append(got, fmt.Sprintf("%d/%d/%s/%s", p.PID, p.Depth, p.User, p.Cmdline))
	}
	want := []string{
		"101/0/root//bin/sh /entrypoint.sh",
		"102/1/root/nginx: master",
		"103/2/101/nginx: worker",
		"104/2/101/[nginx] <defunct>",
		"150/0/root/sh -c " + osc0,
		"160/0/root/escaped",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	socks, err := containerSockets(root, runtime.Details{Pid: 101, NetworkMode: runtime.NetworkMode{Kind: "private"}}, tree.owners, tree.comms)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 || !strings.HasPrefix(socks[0], "tcp   LISTEN      0.0.0.0:80") || !strings.HasSuffix(socks[0], "pid 102 nginx") {
		t.Fatalf("sockets: %q", socks)
	}
	if s, _ := containerSockets(root, runtime.Details{Pid: 101, NetworkMode: runtime.NetworkMode{Kind: "host"}}, nil, nil); len(s) != 1 || !strings.Contains(s[0], "host's") {
		t.Fatalf("host network sockets: %q", s)
	}
	if _, err := containerProcesses(root, 999); err == nil {
		t.Fatal("a missing init is no error")
	}
}

func TestMountLines(t *testing.T) {
	docker := runtime.Details{Raw: []byte(`{"Mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Destination":"/var/run/docker.sock","Mode":"","RW":true,"Propagation":"rprivate"},
		{"Type":"volume","Name":"data","Source":"/var/lib/docker/volumes/data/_data","Destination":"/data","Mode":"z","RW":false}],
		"HostConfig":{"Tmpfs":{"/run":"rw,noexec"}}}`)}
	got := mountLines("docker", docker)
	want := []string{
		"bind /var/run/docker.sock -> /var/run/docker.sock (rw,rprivate)",
		"volume data (/var/lib/docker/volumes/data/_data) -> /data (ro,z)",
		"tmpfs tmpfs -> /run (rw,noexec)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("docker mounts:\n%s", strings.Join(got, "\n"))
	}
	ctrd := runtime.Details{Raw: []byte(`{"container":{},"spec":{"mounts":[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec"]},
		{"destination":"/host","source":"/","options":["rbind","ro"]}]},"state":"running"}`)}
	got = mountLines("containerd", ctrd)
	want = []string{"proc proc -> /proc (nosuid,noexec)", "bind / -> /host (rbind,ro)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("containerd mounts:\n%s", strings.Join(got, "\n"))
	}
	other := runtime.Details{Security: runtime.Security{Mounts: []runtime.Mount{{Type: "bind", Source: "/a", Destination: "/b", RW: true}}}}
	if got := mountLines("fake", other); len(got) != 1 || got[0] != "bind /a -> /b (rw)" {
		t.Fatalf("engine-neutral mounts: %q", got)
	}
}

func TestHistoryLines(t *testing.T) {
	at := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	rec := &contain.Record{Log: []contain.Entry{
		{Time: at, Action: "firewall", Detail: "drop rules installed"},
		{Time: at.Add(2 * time.Second), Action: "pause", Error: "engine refused"},
	}}
	acts := []Act{{Time: at.Add(time.Second), Actor: "ann@host", Act: "contain", Command: "firebreak --runtime docker contain web", Result: "done"}}
	got := historyLines(rec, acts)
	want := []string{
		"2026-11-28 11:00:00  firewall: drop rules installed",
		"2026-11-28 11:00:01  console: contain by ann@host — done · firebreak --runtime docker contain web",
		"2026-11-28 11:00:02  pause — failed: engine refused",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n%s", strings.Join(got, "\n"))
	}
}

// lineLog is a LogReader over a growing list of lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string // "RFC3339 text"
}

func (l *lineLog) Logs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		ts, _, _ := strings.Cut(line, " ")
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.Before(since) {
			continue
		}
		if _, err := io.WriteString(stdout, line+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func TestReaderLogsTailAndFollow(t *testing.T) {
	old := followEvery
	followEvery = 20 * time.Millisecond
	defer func() { followEvery = old }()
	lr := &lineLog{}
	for i := range 10 {
		lr.lines = append(lr.lines, fmt.Sprintf("2026-11-28T10:00:%02dZ line %d", i, i))
	}
	rc := readerLogs(context.Background(), lr, "id", 3, false)
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "2026-11-28T10:00:07Z line 7\n2026-11-28T10:00:08Z line 8\n2026-11-28T10:00:09Z line 9\n" {
		t.Fatalf("tail 3: %q %v", b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc = readerLogs(ctx, lr, "id", 2, true)
	r := newLogReader(rc)
	var got []string
	for len(got) < 2 {
		lines, err := r.chunk()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, lines...)
	}
	lr.mu.Lock()
	lr.lines = append(lr.lines, "2026-11-28T10:00:09Z line 9b", "2026-11-28T10:00:10Z line 10")
	lr.mu.Unlock()
	for len(got) < 4 {
		lines, err := r.chunk()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, lines...)
	}
	want := []string{"2026-11-28T10:00:08Z line 8", "2026-11-28T10:00:09Z line 9", "2026-11-28T10:00:09Z line 9b", "2026-11-28T10:00:10Z line 10"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("followed:\n%s", strings.Join(got, "\n"))
	}
	rc.Close()
	if _, err := r.chunk(); err == nil {
		t.Fatal("a closed log reads on")
	}
}

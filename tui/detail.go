package tui

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"firebreak/collect"
	"firebreak/runtime"
)

// detailView shows one container: its findings with why and remedy, its
// process tree, network and sockets, its log (followed on request), its
// mounts, and what Firebreak did to it. Sections are switched with keys;
// each scrolls on its own. The details are read by one Backend.Detail call
// per opening (and again after an engine event about the container); the
// log by Backend.Logs, read a chunk per command so Update never waits.
type detailView struct {
	item    Item
	d       *Detail
	loading bool
	err     string // the last Detail call failed: why
	gone    bool   // the engine no longer knows the container

	sec    section
	tops   [numSections]int // first line shown of each section's scrolling part
	maxTop [numSections]int // the last line a section can scroll to, at the last draw
	height int              // body lines at the last draw, for paging

	logs      []string // inert and formatted, oldest first, at most maxLogLines
	stream    *logReader
	logCancel context.CancelFunc
	following bool
	pinned    bool   // the newest log line is kept in view
	logState  string // "" while reading; "end"; or why the reading stopped
	logBad    bool

	noted map[string][]string // acts the console took this session, by item key
}

// section is one part of the detail view.
type section int

const (
	secFindings section = iota
	secProcesses
	secNetwork
	secLogs
	secMounts
	secHistory
	numSections
)

var sectionNames = [numSections]string{"findings", "processes", "network", "logs", "mounts", "history"}

// sectionKeys choose a section; none is a key the console or the fleet's
// acts (c r p) use, and f is the log's follow.
var sectionKeys = map[string]section{"i": secFindings, "t": secProcesses, "n": secNetwork, "l": secLogs, "m": secMounts, "h": secHistory}

const (
	logTail       = 200  // lines of the log read when the view opens or starts following
	maxLogLines   = 1000 // lines of the log kept
	maxChunkLines = 256  // lines delivered by one read
	maxLogLine    = 8 << 10
	maxNoted      = 100
	maxDepth      = 12 // tree levels indented; deeper ones stay at this depth
)

// detailMsg is a Detail call's answer.
type detailMsg struct {
	gen uint64
	key string
	d   *Detail
	err error
}

// logOpenMsg is a Logs call's answer.
type logOpenMsg struct {
	gen uint64
	r   *logReader
	err error
}

// logChunkMsg is one read of the log: the lines that came, and the error
// that ended it (io.EOF at its end).
type logChunkMsg struct {
	gen   uint64
	lines []string
	err   error
}

func newDetailView() *detailView { return &detailView{} }

func (v *detailView) title() string   { return "detail" }
func (v *detailView) capturing() bool { return false }

func (v *detailView) keys() []keyHelp {
	return []keyHelp{
		{"← →, shift+tab", "previous / next section"},
		{"i t n l m h", "findings, processes (tree), network, logs, mounts, history"},
		{"↑↓ j k, pgup pgdn, g G", "scroll"},
		{"f", "follow the log (again: stop)"},
		{"c", "contain this container — asks first"},
		{"r", "release it — asks first"},
		{"p", "run a playbook on it"},
		{"e b u", "capture evidence, back up, recover (each asks first)"},
		{"ctrl+r", "read it again"},
		{"esc", "back to the fleet (stops following)"},
	}
}

// open shows it and starts reading its details and its log.
func (v *detailView) open(m *Model, it Item) tea.Cmd {
	closing := v.stopLogs(m)
	if it.Key() != v.item.Key() {
		v.tops = [numSections]int{}
	}
	v.item, v.d, v.err, v.gone = it, nil, "", false
	v.logs, v.pinned = nil, true
	v.tops[secLogs] = 0
	return tea.Batch(closing, v.load(m), v.startLogs(m, false))
}

// load reads the details under a new generation.
func (v *detailView) load(m *Model) tea.Cmd {
	gen := m.next("detail")
	b, it := m.b, v.item
	v.loading = true
	return m.call("detail", "reading "+Inert(it.Ref()), func(ctx context.Context) tea.Msg {
		d, err := b.Detail(ctx, it)
		return detailMsg{gen: gen, key: it.Key(), d: d, err: err}
	})
}

// note adds an act the console took on it to its history.
func (v *detailView) note(m *Model, it Item, a Act) {
	if a.Time.IsZero() {
		a.Time = m.opts.Now()
	}
	if a.Actor == "" {
		a.Actor = m.opts.Actor
	}
	if v.noted == nil {
		v.noted = map[string][]string{}
	}
	k := it.Key()
	v.noted[k] = append(v.noted[k], actLine(a))
	if n := len(v.noted[k]); n > maxNoted {
		v.noted[k] = v.noted[k][n-maxNoted:]
	}
}

// actLine words an act of the console as the history shows it; the backend
// words the journal's acts the same way, so an act noted here and read
// back from the journal is shown once.
func actLine(a Act) string {
	line := historyTime(a.Time) + "  console: " + a.Act
	if a.Actor != "" {
		line += " by " + a.Actor
	}
	if a.Result != "" {
		line += " — " + a.Result
	}
	if a.Command != "" {
		line += " · " + a.Command
	}
	return line
}

func historyTime(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

func (v *detailView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case detailMsg:
		if !m.current("detail", msg.gen) || msg.key != v.item.Key() {
			return nil
		}
		v.loading = false
		if msg.err != nil {
			v.err = msg.err.Error()
			switch {
			case errors.Is(msg.err, context.Canceled):
				v.err = "cancelled"
			case runtime.IsNotFound(msg.err):
				v.gone = true
			}
			return nil
		}
		v.err, v.d = "", msg.d
		return nil
	case logOpenMsg:
		if !m.current("logs", msg.gen) {
			if msg.r != nil {
				return closeLog(msg.r)
			}
			return nil
		}
		if msg.err != nil {
			v.endLogs()
			v.logState, v.logBad = msg.err.Error(), true
			return nil
		}
		v.stream = msg.r
		if m.active != screenDetail {
			return v.stopLogs(m)
		}
		return readChunk(msg.gen, msg.r)
	case logChunkMsg:
		if !m.current("logs", msg.gen) {
			return nil
		}
		v.appendLogs(msg.lines)
		if msg.err != nil {
			r := v.stream
			switch {
			case errors.Is(msg.err, io.EOF) && v.following:
				v.logState = "the log ended (the container stopped?): f follows again"
			case errors.Is(msg.err, io.EOF):
				v.logState = "end"
			default:
				v.logState, v.logBad = msg.err.Error(), true
			}
			v.endLogs()
			if r != nil {
				return closeLog(r)
			}
			return nil
		}
		if m.active != screenDetail || v.stream == nil {
			return v.stopLogs(m)
		}
		return readChunk(msg.gen, v.stream)
	case itemMsg:
		// The fleet read the container again after an engine event (or an
		// act): read its details again while it is shown.
		if msg.key != v.item.Key() || !m.current("item/"+msg.key, msg.gen) {
			return v.leftCheck(m)
		}
		if msg.err != nil {
			if runtime.IsNotFound(msg.err) {
				v.gone = true
				return v.stopLogs(m)
			}
			return nil
		}
		v.item = msg.item
		if m.active == screenDetail {
			return v.load(m)
		}
		return v.leftCheck(m)
	case tea.KeyMsg:
		if m.active != screenDetail {
			return nil
		}
		return v.key(m, msg)
	case tea.MouseMsg:
		if m.active == screenDetail && msg.Action == tea.MouseActionPress {
			switch msg.Button {
			case tea.MouseButtonWheelUp:
				v.scroll(-3)
			case tea.MouseButtonWheelDown:
				v.scroll(3)
			}
		}
		return nil
	}
	return v.leftCheck(m)
}

// leftCheck stops reading the log once another view is shown (the
// console's own keys switch views without a word to this one).
func (v *detailView) leftCheck(m *Model) tea.Cmd {
	if m.active != screenDetail && (v.stream != nil || v.logCancel != nil) {
		return v.stopLogs(m)
	}
	return nil
}

func (v *detailView) key(m *Model, k tea.KeyMsg) tea.Cmd {
	s := k.String()
	if sec, ok := sectionKeys[s]; ok {
		v.sec = sec
		return nil
	}
	switch s {
	case "esc":
		m.active = screenFleet
		return v.stopLogs(m)
	case "left", "shift+tab":
		v.sec = (v.sec + numSections - 1) % numSections
	case "right":
		v.sec = (v.sec + 1) % numSections
	case "up", "k":
		v.scroll(-1)
	case "down", "j":
		v.scroll(1)
	case "pgup", "ctrl+b":
		v.scroll(-max(1, v.height-1))
	case "pgdown", "ctrl+f", " ", "space":
		v.scroll(max(1, v.height-1))
	case "home", "g":
		v.tops[v.sec] = 0
		if v.sec == secLogs {
			v.pinned = false
		}
	case "end", "G":
		v.tops[v.sec] = v.maxTop[v.sec]
		if v.sec == secLogs {
			v.pinned = true
		}
	case "f":
		return v.toggleFollow(m)
	case "c":
		return m.containDialog([]Item{v.item})
	case "r":
		return m.releaseDialog([]Item{v.item})
	case "p":
		return m.runs.pick(m, []Item{v.item})
	case "e":
		return m.collectDialog([]Item{v.item})
	case "b":
		return m.backupDialog([]Item{v.item})
	case "u":
		return m.recoverDialog([]Item{v.item})
	case "ctrl+r":
		cmds := []tea.Cmd{v.load(m)}
		if !v.following {
			cmds = append(cmds, v.stopLogs(m))
			v.logs, v.pinned = nil, true
			cmds = append(cmds, v.startLogs(m, false))
		}
		return tea.Batch(cmds...)
	}
	return nil
}

func (v *detailView) scroll(d int) {
	t := max(0, min(v.maxTop[v.sec], v.tops[v.sec]+d))
	v.tops[v.sec] = t
	if v.sec == secLogs {
		v.pinned = t >= v.maxTop[secLogs]
	}
}

// toggleFollow starts following the log (from its last lines again, so
// nothing between the first reading and the following is missed) or stops.
func (v *detailView) toggleFollow(m *Model) tea.Cmd {
	if v.following {
		cmd := v.stopLogs(m)
		v.logState = "stopped following: f follows again"
		return cmd
	}
	closing := v.stopLogs(m)
	v.sec = secLogs
	v.logs, v.pinned, v.following = nil, true, true
	return tea.Batch(closing, v.startLogs(m, true))
}

// startLogs opens the log under a new generation.
func (v *detailView) startLogs(m *Model, follow bool) tea.Cmd {
	gen := m.next("logs")
	ctx, cancel := context.WithCancel(m.ctx)
	v.logCancel = cancel
	v.logState, v.logBad = "", false
	b, it := m.b, v.item
	return func() tea.Msg {
		rc, err := b.Logs(ctx, it, logTail, follow)
		if err != nil {
			cancel()
			return logOpenMsg{gen: gen, err: err}
		}
		return logOpenMsg{gen: gen, r: newLogReader(rc)}
	}
}

// stopLogs ends the reading of the log: answers on their way are stale, the
// call's context ends, and the stream is closed in a command (closing a
// network stream may take a moment).
func (v *detailView) stopLogs(m *Model) tea.Cmd {
	m.next("logs")
	r := v.stream
	if v.following && v.logState == "" {
		v.logState = "stopped following"
	}
	v.endLogs()
	if r == nil {
		return nil
	}
	return closeLog(r)
}

// endLogs forgets the stream: it is not read again.
func (v *detailView) endLogs() {
	if v.logCancel != nil {
		v.logCancel()
		v.logCancel = nil
	}
	v.stream, v.following = nil, false
}

func closeLog(r *logReader) tea.Cmd {
	return func() tea.Msg {
		r.rc.Close()
		return nil
	}
}

func (v *detailView) appendLogs(lines []string) {
	if len(lines) == 0 {
		return
	}
	for _, l := range lines {
		v.logs = append(v.logs, formatLogLine(l))
	}
	if n := len(v.logs); n > maxLogLines {
		drop := n - maxLogLines
		v.logs = append(v.logs[:0:0], v.logs[drop:]...)
		v.tops[secLogs] = max(0, v.tops[secLogs]-drop)
	}
}

// formatLogLine shows the engine's timestamp shorter, and the line inert.
func formatLogLine(l string) string {
	l = strings.TrimSuffix(l, "\r")
	if ts, rest, ok := strings.Cut(l, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t.Format("01-02 15:04:05") + " " + Inert(rest)
		}
	}
	return Inert(l)
}

// logReader reads lines of a log stream; one command reads at a time.
type logReader struct {
	rc io.ReadCloser
	br *bufio.Reader
}

func newLogReader(rc io.ReadCloser) *logReader {
	return &logReader{rc: rc, br: bufio.NewReaderSize(rc, 64<<10)}
}

// readChunk reads what the log has: at least one line (waiting for it),
// then the further lines already received, up to maxChunkLines.
func readChunk(gen uint64, r *logReader) tea.Cmd {
	return func() tea.Msg {
		lines, err := r.chunk()
		return logChunkMsg{gen: gen, lines: lines, err: err}
	}
}

func (r *logReader) chunk() ([]string, error) {
	var out []string
	for len(out) < maxChunkLines {
		line, err := r.line()
		if err != nil {
			if line != "" {
				out = append(out, line)
			}
			return out, err
		}
		out = append(out, line)
		if !r.lineBuffered() {
			break
		}
	}
	return out, nil
}

// line reads one line without its newline, cut at maxLogLine.
func (r *logReader) line() (string, error) {
	var b []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if room := maxLogLine - len(b); room > 0 {
			b = append(b, frag[:min(len(frag), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return strings.TrimSuffix(string(b), "\n"), err
	}
}

// lineBuffered reports whether a whole line is already received.
func (r *logReader) lineBuffered() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	p, err := r.br.Peek(n)
	return err == nil && bytes.IndexByte(p, '\n') >= 0
}

// vline is one line of a section: inert text and its style (nil: plain).
type vline struct {
	s  string
	st *lipgloss.Style
}

func (m *Model) vl(st *lipgloss.Style, format string, args ...any) vline {
	return vline{s: fmt.Sprintf(format, args...), st: st}
}

func (v *detailView) view(m *Model, w, h int) string {
	out := make([]string, 0, h)
	out = append(out, v.headLine(m, w), v.tabLine(m, w))
	bodyH := max(1, h-3)
	fixed, body := v.content(m, w)
	if len(fixed) > bodyH {
		fixed = fixed[:bodyH]
	}
	scrollH := bodyH - len(fixed)
	v.height = scrollH
	maxTop := max(0, len(body)-scrollH)
	v.maxTop[v.sec] = maxTop
	if v.sec == secLogs && v.pinned {
		v.tops[secLogs] = maxTop
	}
	top := max(0, min(v.tops[v.sec], maxTop))
	v.tops[v.sec] = top
	for _, l := range fixed {
		out = append(out, render(l, w))
	}
	for i := top; i < top+scrollH; i++ {
		if i < len(body) {
			out = append(out, render(body[i], w))
		} else {
			out = append(out, "")
		}
	}
	out = append(out, v.footLine(m, w, top, scrollH, len(body)))
	if len(out) > h {
		out = out[:h]
	}
	return strings.Join(out, "\n")
}

func render(l vline, w int) string {
	s := Cut(l.s, w)
	if l.st != nil {
		return l.st.Render(s)
	}
	return s
}

// headLine names the container: name, engine, ID, image, state, what
// Firebreak holds of it, and its risk.
func (v *detailView) headLine(m *Model, w int) string {
	it := v.item
	name := Cut(it.Ref(), max(8, w/3))
	if v.loading {
		name = spinFrames[m.spin%len(spinFrames)] + " " + name
	}
	risk := "…"
	if v.d != nil && v.d.Assessment != nil {
		risk = fmt.Sprint(v.d.Assessment.Score)
	}
	state := string(it.State)
	if v.gone {
		state = "gone"
	}
	fb := (&row{Item: it}).firebreak()
	rest := fmt.Sprintf("%s · %s · %s · %s · firebreak: %s · risk %s", it.Engine, it.ShortID(), it.Image, state, fb, risk)
	restW := w - Width(name) - 2
	if restW < 4 {
		return m.st.head.Render(Cut(name, w))
	}
	return m.st.head.Render(name) + "  " + m.st.dim.Render(Cut(rest, restW))
}

// tabLine lists the sections with their sizes, the shown one marked.
func (v *detailView) tabLine(m *Model, w int) string {
	var tabs []string
	for s := range numSections {
		label := sectionNames[s]
		if n := v.count(s); n >= 0 {
			label += fmt.Sprintf(" %d", n)
		}
		if s == secLogs && v.following {
			label += " ▶"
		}
		// brackets mark the shown one where reverse video is not shown
		if s == v.sec {
			tabs = append(tabs, m.st.tabOn.Render("["+label+"]"))
		} else {
			tabs = append(tabs, m.st.tabOff.Render(" "+label+" "))
		}
	}
	return cutStyled(strings.Join(tabs, " "), w)
}

// count is the number of entries of a section, -1 while unknown.
func (v *detailView) count(s section) int {
	if s == secLogs {
		return len(v.logs)
	}
	if v.d == nil {
		return -1
	}
	switch s {
	case secFindings:
		if v.d.Assessment == nil {
			return -1
		}
		return len(v.d.Assessment.Findings)
	case secProcesses:
		return len(v.d.Processes)
	case secNetwork:
		return len(v.d.Sockets)
	case secMounts:
		return len(v.d.Mounts)
	case secHistory:
		return len(v.history())
	}
	return -1
}

func (v *detailView) footLine(m *Model, w, top, h, n int) string {
	hint := "←→ section · ↑↓ scroll · f follow · c contain · r release · p run · esc back"
	pos := ""
	if n > h {
		pos = fmt.Sprintf("%d-%d/%d", top+1, min(n, top+h), n)
	}
	if pos == "" || Width(hint)+2+Width(pos) > w {
		if pos != "" {
			hint = Cut(hint, max(0, w-Width(pos)-2))
			return m.st.dim.Render(hint + strings.Repeat(" ", max(2, w-Width(hint)-Width(pos))) + pos)
		}
		return m.st.dim.Render(Cut(hint, w))
	}
	return m.st.dim.Render(hint + strings.Repeat(" ", w-Width(hint)-Width(pos)) + pos)
}

// content is the shown section: lines that stay at the top, then lines
// that scroll. Every foreign string is made inert here; lines are cut to
// the width when drawn.
func (v *detailView) content(m *Model, w int) (fixed, body []vline) {
	if v.sec == secLogs {
		return v.logContent(m)
	}
	if v.d == nil {
		switch {
		case v.err != "":
			return nil, []vline{
				m.vl(&m.st.bad, "cannot read %s: %s", Inert(v.item.Ref()), Inert(v.err)),
				m.vl(&m.st.dim, "ctrl+r reads again · esc back to the fleet"),
			}
		default:
			return nil, []vline{m.vl(&m.st.accent, "%s reading %s…", spinFrames[m.spin%len(spinFrames)], Inert(v.item.Ref()))}
		}
	}
	if v.err != "" {
		fixed = append(fixed, m.vl(&m.st.bad, "reading again failed (shown: the last reading): %s", Inert(v.err)))
	}
	if v.gone {
		fixed = append(fixed, m.vl(&m.st.warn, "the engine no longer knows this container: shown as it was last read"))
	}
	switch v.sec {
	case secFindings:
		return fixed, v.findings(m, w)
	case secProcesses:
		head, rows := v.processes(m)
		return append(fixed, head...), rows
	case secNetwork:
		return fixed, v.network(m)
	case secMounts:
		return fixed, v.mounts(m)
	case secHistory:
		return fixed, v.historyLines(m)
	}
	return fixed, nil
}

func sevStyle(m *Model, s collect.Severity) *lipgloss.Style {
	switch s {
	case collect.Critical, collect.High:
		return &m.st.bad
	case collect.Medium:
		return &m.st.warn
	}
	return &m.st.head
}

// wrapped words a labelled field over as many lines as it needs.
func wrapped(st *lipgloss.Style, label, text string, w int) []vline {
	const indent = 12
	text = Inert(text)
	if text == "" {
		return nil
	}
	pad := strings.Repeat(" ", indent)
	first := "  " + label + strings.Repeat(" ", max(1, indent-2-len(label)))
	width := w - indent
	if width < 10 {
		return []vline{{s: first + text, st: st}}
	}
	var out []vline
	for i, l := range strings.Split(ansi.Wrap(text, width, ""), "\n") {
		if i == 0 {
			out = append(out, vline{s: first + l, st: st})
		} else {
			out = append(out, vline{s: pad + l, st: st})
		}
	}
	return out
}

// bullet words a note over as many lines as it needs.
func bullet(st *lipgloss.Style, text string, w int) []vline {
	text = Inert(text)
	if w < 14 {
		return []vline{{s: "  · " + text, st: st}}
	}
	var out []vline
	for i, l := range strings.Split(ansi.Wrap(text, w-4, ""), "\n") {
		prefix := "    "
		if i == 0 {
			prefix = "  · "
		}
		out = append(out, vline{s: prefix + l, st: st})
	}
	return out
}

func (v *detailView) findings(m *Model, w int) []vline {
	a := v.d.Assessment
	if a == nil {
		return []vline{m.vl(&m.st.dim, "triage was not read")}
	}
	var out []vline
	counts := map[collect.Severity]int{}
	for _, f := range a.Findings {
		counts[f.Severity]++
	}
	var parts []string
	for _, s := range []collect.Severity{collect.Critical, collect.High, collect.Medium, collect.Low, collect.Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	summary := fmt.Sprintf("risk %d · %d findings", a.Score, len(a.Findings))
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	out = append(out, m.vl(&m.st.head, "%s", summary))
	if len(a.Findings) == 0 {
		out = append(out, m.vl(&m.st.good, "no finding: nothing in its settings or processes makes an escape easier"))
	}
	for _, f := range a.Findings {
		out = append(out, vline{})
		ref := f.ID
		if f.CIS != "" {
			ref += " · CIS " + f.CIS
		}
		out = append(out, m.vl(sevStyle(m, f.Severity), "%-8s %s  [%s]", strings.ToUpper(string(f.Severity)), Inert(f.Title), Inert(ref)))
		out = append(out, wrapped(&m.st.dim, "evidence", f.Evidence, w)...)
		out = append(out, wrapped(nil, "why", f.Why, w)...)
		out = append(out, wrapped(&m.st.good, "remedy", f.Remedy, w)...)
	}
	if len(a.Notes) > 0 {
		out = append(out, vline{}, m.vl(&m.st.head, "notes"))
		for _, n := range a.Notes {
			out = append(out, bullet(&m.st.dim, n, w)...)
		}
	}
	return out
}

func (v *detailView) processes(m *Model) (head, rows []vline) {
	head = []vline{m.vl(&m.st.head, "%-8s %-8s %-8s %s", "PID", "PPID", "USER", "COMMAND")}
	if len(v.d.Processes) == 0 {
		if v.d.Details.Pid <= 0 {
			return head, []vline{m.vl(&m.st.dim, "not running: no processes")}
		}
		return head, []vline{m.vl(&m.st.dim, "no process read (see the notes under findings)")}
	}
	for _, p := range v.d.Processes {
		indent := ""
		if d := min(p.Depth, maxDepth); d > 0 {
			indent = strings.Repeat("  ", d-1) + "└─ "
		}
		rows = append(rows, m.vl(nil, "%-8d %-8d %-8s %s%s", p.PID, p.PPID, Cut(p.User, 8), indent, Inert(p.Cmdline)))
	}
	return head, rows
}

func (v *detailView) network(m *Model) []vline {
	d := v.d.Details
	var out []vline
	mode := "network: " + Inert(d.NetworkMode.Kind)
	if mode == "network: " {
		mode += "unknown"
	}
	if len(d.NetworkMode.SharedWith) > 0 {
		var with []string
		for _, s := range d.NetworkMode.SharedWith {
			with = append(with, runtime.ShortID(s))
		}
		mode += " · shared with " + Inert(strings.Join(with, ", "))
	}
	if d.NetNSPath != "" {
		mode += " · namespace " + Inert(d.NetNSPath)
	}
	out = append(out, m.vl(&m.st.head, "%s", mode))
	out = append(out, vline{}, m.vl(&m.st.head, "attachments"))
	if len(d.Networks) == 0 {
		out = append(out, m.vl(&m.st.dim, "  (none the engine owns)"))
	}
	for _, a := range d.Networks {
		parts := []string{Inert(a.Network)}
		if a.IPv4Address != "" {
			parts = append(parts, "ip "+Inert(a.IPv4Address))
		}
		if a.IPv6Address != "" {
			parts = append(parts, "ip6 "+Inert(a.IPv6Address))
		}
		if a.Gateway != "" {
			parts = append(parts, "gw "+Inert(a.Gateway))
		}
		if a.MacAddress != "" {
			parts = append(parts, "mac "+Inert(a.MacAddress))
		}
		if len(a.Aliases) > 0 {
			parts = append(parts, "aliases "+Inert(strings.Join(a.Aliases, ",")))
		}
		out = append(out, m.vl(nil, "  %s", strings.Join(parts, "  ")))
	}
	if ports := d.Security.Ports; len(ports) > 0 {
		out = append(out, vline{}, m.vl(&m.st.head, "published ports"))
		for _, p := range ports {
			host := p.HostIP
			if host == "" {
				host = "*"
			}
			out = append(out, m.vl(nil, "  %s:%d -> %d/%s", Inert(host), p.HostPort, p.ContainerPort, Inert(p.Protocol)))
		}
	}
	out = append(out, vline{}, m.vl(&m.st.head, "sockets"))
	switch {
	case len(v.d.Sockets) > 0:
		for _, s := range v.d.Sockets {
			out = append(out, m.vl(nil, "  %s", Inert(s)))
		}
	case d.Pid <= 0:
		out = append(out, m.vl(&m.st.dim, "  (not running)"))
	default:
		out = append(out, m.vl(&m.st.dim, "  (none)"))
	}
	return out
}

func (v *detailView) mounts(m *Model) []vline {
	root := "root filesystem: writable"
	if v.d.Details.Security.ReadonlyRootfs {
		root = "root filesystem: read-only"
	}
	out := []vline{m.vl(&m.st.head, "%s", root), vline{}}
	if len(v.d.Mounts) == 0 {
		return append(out, m.vl(&m.st.dim, "(no mounts)"))
	}
	for _, l := range v.d.Mounts {
		out = append(out, m.vl(nil, "%s", Inert(l)))
	}
	return out
}

// history is the backend's history, then the acts noted this session that
// it does not hold yet.
func (v *detailView) history() []string {
	var out []string
	have := map[string]bool{}
	if v.d != nil {
		out = append(out, v.d.History...)
		for _, h := range v.d.History {
			have[h] = true
		}
	}
	for _, n := range v.noted[v.item.Key()] {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out
}

func (v *detailView) historyLines(m *Model) []vline {
	var out []vline
	if h := v.item.Held; h != nil {
		line := "held: " + Inert(h.Phase)
		if !h.Since.IsZero() {
			line += " since " + historyTime(h.Since)
		}
		if h.Actor != "" {
			line += " by " + Inert(h.Actor)
		}
		if h.Case != "" {
			line += " · case " + Inert(h.Case)
		}
		out = append(out, m.vl(&m.st.warn, "%s", line), vline{})
	}
	hist := v.history()
	if len(hist) == 0 {
		return append(out, m.vl(&m.st.dim, "Firebreak has done nothing to it (no containment record, no act journalled)"))
	}
	for _, l := range hist {
		out = append(out, m.vl(nil, "%s", Inert(l)))
	}
	return out
}

func (v *detailView) logContent(m *Model) (fixed, body []vline) {
	var st string
	var sty = &m.st.dim
	switch {
	case v.logBad:
		st, sty = "log: "+Inert(v.logState), &m.st.bad
	case v.following:
		st, sty = fmt.Sprintf("following · %d lines (the last %d kept) · f stops", len(v.logs), maxLogLines), &m.st.accent
	case v.logState == "end":
		st = fmt.Sprintf("the last %d lines · f follows", logTail)
	case v.logState != "":
		st = Inert(v.logState)
	default:
		st = "reading the log…"
	}
	fixed = []vline{{s: st, st: sty}}
	if len(v.logs) == 0 && v.logState != "" && !v.following {
		return fixed, []vline{m.vl(&m.st.dim, "(empty)")}
	}
	body = make([]vline, len(v.logs))
	for i, l := range v.logs {
		body[i] = vline{s: l}
	}
	return fixed, body
}

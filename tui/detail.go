package tui

import (
	"context"
	"errors"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"

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
		{"x / K", "stop / kill it — each asks; kill wants the name typed"},
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
	case "x":
		return m.stopDialog([]Item{v.item})
	case "K":
		return m.killDialog([]Item{v.item})
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

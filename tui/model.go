package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/internal/progress"
)

// Options say how the console starts.
type Options struct {
	ReadOnly bool             // start read-only: no act until lifted, with a confirmation
	Actor    string           // who acts, for the journal
	Now      func() time.Time // nil: time.Now
	// Offline opens the evidence view only: a store with no engine (a
	// bundle someone sent).
	Offline bool
	// CLI is the global part of every equivalent command line shown and
	// journalled ("firebreak --store 's3://…'"), "firebreak" when empty.
	CLI string
	// Drill puts the console in drill mode (nil: not).
	Drill *DrillOptions
	// LiveDrill shows a live drill beside the fleet (nil: none); the
	// console's captures go to the drill's case.
	LiveDrill *LiveDrillOptions
	// StoreFlags name the store on the command lines of the acts that
	// write evidence or backups ("--store 's3://…'"); PlaybookFlags name
	// the user's playbook directories on a run's.
	StoreFlags, PlaybookFlags string
}

// screenID names a view.
type screenID int

const (
	screenFleet screenID = iota
	screenDetail
	screenRuns
	screenEvidence
	screenDrill
	screenAlerts
)

// screen is one of the console's views. Its update runs in the console's
// loop and never does I/O: it returns commands.
type screen interface {
	update(m *Model, msg tea.Msg) tea.Cmd
	view(m *Model, w, h int) string
	title() string
	keys() []keyHelp
	// capturing reports that the view takes every key (a filter or a form
	// being typed into): the console's own keys are not read.
	capturing() bool
}

// counted is a view whose tab counts what it holds ("6 alerts (2
// waiting)"); its title stays its name.
type counted interface{ tabTitle() string }

// keyHelp is one line of the help overlay.
type keyHelp struct{ key, what string }

// Model is the console. Build it with New.
type Model struct {
	b    Backend
	opts Options
	st   styles

	width, height int
	active        screenID
	screens       map[screenID]screen
	fleet         *fleetView
	detail        *detailView
	runs          *runView
	evidence      *evidenceView
	drill         *drillView // nil unless in drill mode
	live          *liveView  // nil unless a live drill runs beside the fleet
	alerts        *alertsView

	dialog   *dialog // modal; nil when none
	help     bool
	readOnly bool

	status    string // last word to the user
	statusBad bool

	gens    map[string]uint64 // the latest generation asked per stream
	busy    map[string]busyOp // calls in flight that can be cancelled
	spin    int               // spinner frame; ticks only while busy
	ticking bool

	events    chan EngineEvent // from the engine watcher
	send      func(tea.Msg)    // delivers messages from other goroutines (tea.Program.Send)
	ctx       context.Context  // ends when the console quits
	stop      context.CancelFunc
	unwritten []Act      // acts journalled in this Update, written after it
	jmu       sync.Mutex // one journal write at a time
	// noWatch leaves the engines' event streams unstarted: component tests
	// send engine events themselves.
	noWatch bool
}

type busyOp struct {
	what   string
	cancel context.CancelFunc
	since  time.Time
	act    bool // changes something: not cancelled by Esc

	prog      progress.Count // a capture's or restore's last report
	progStart time.Time      // when the count it belongs to began
}

// New builds the console over b.
func New(b Backend, o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CLI == "" {
		o.CLI = "firebreak"
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Model{
		b: b, opts: o, st: newStyles(), width: 80, height: 24,
		readOnly: o.ReadOnly, gens: map[string]uint64{}, busy: map[string]busyOp{},
		events: make(chan EngineEvent, 1024), ctx: ctx, stop: stop,
		send: func(tea.Msg) {},
	}
	m.fleet = newFleetView()
	m.detail = newDetailView()
	m.runs = newRunView()
	m.evidence = newEvidenceView()
	m.alerts = newAlertsView()
	m.screens = map[screenID]screen{screenFleet: m.fleet, screenDetail: m.detail, screenRuns: m.runs, screenEvidence: m.evidence, screenAlerts: m.alerts}
	if m.drill = newDrillView(o.Drill); m.drill != nil {
		m.screens[screenDrill] = m.drill
	} else if m.live = newLiveView(o.LiveDrill); m.live != nil {
		m.screens[screenDrill] = m.live
	}
	if o.Offline {
		m.active = screenEvidence
	}
	return m
}

// SetSend gives the model the program's Send, for messages that arrive
// from other goroutines (run events, approval requests).
func (m *Model) SetSend(send func(tea.Msg)) { m.send = send }

// Close ends every call in flight; the program calls it after it quits.
func (m *Model) Close() { m.stop() }

// next starts a new generation of a stream and returns it.
func (m *Model) next(stream string) uint64 {
	m.gens[stream]++
	return m.gens[stream]
}

// current reports whether gen is still the latest of its stream.
func (m *Model) current(stream string, gen uint64) bool { return m.gens[stream] == gen }

// call runs fn as a command under a cancellable context, shown with a
// spinner as what until it answers; Esc cancels it. Its result message is
// made by fn.
func (m *Model) call(stream, what string, fn func(ctx context.Context) tea.Msg) tea.Cmd {
	if op, ok := m.busy[stream]; ok {
		op.cancel()
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.busy[stream] = busyOp{what: what, cancel: cancel, since: m.opts.Now(), act: isAct(stream)}
	cmds := []tea.Cmd{func() tea.Msg {
		defer cancel()
		return doneMsg{stream: stream, inner: fn(ctx)}
	}}
	if !m.ticking {
		m.ticking = true
		cmds = append(cmds, spinTick())
	}
	return tea.Batch(cmds...)
}

// isAct reports whether a call's stream is an act that changes something.
func isAct(stream string) bool {
	for _, p := range []string{"act/", "collect/", "backup/", "recover/", "drill-reports"} {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}

// actsInFlight counts the acts under way.
func (m *Model) actsInFlight() int {
	n := 0
	for _, op := range m.busy {
		if op.act {
			n++
		}
	}
	return n
}

// doneMsg wraps the result of a call, so the busy entry is cleared first.
type doneMsg struct {
	stream string
	inner  tea.Msg
}

type spinMsg struct{}

func spinTick() tea.Cmd {
	return tea.Tick(120*time.Millisecond, func(time.Time) tea.Msg { return spinMsg{} })
}

// notify sets the status line.
func (m *Model) notify(format string, args ...any) {
	m.status, m.statusBad = fmt.Sprintf(format, args...), false
}

// fail sets the status line to an error.
func (m *Model) fail(format string, args ...any) {
	m.status, m.statusBad = fmt.Sprintf(format, args...), true
}

// Init lists the fleet and starts watching the engines.
func (m *Model) Init() tea.Cmd {
	if m.opts.Offline {
		return m.evidence.load(m)
	}
	var drill tea.Cmd
	if m.drill != nil {
		drill = m.drill.start(m)
	}
	if m.live != nil {
		drill = m.live.start(m)
	}
	if m.noWatch {
		return tea.Batch(m.fleet.load(m), m.alerts.load(m), drill)
	}
	return tea.Batch(m.fleet.load(m), m.watch(), m.waitEvent(), drill, m.alerts.load(m))
}

// Update handles one message. It never blocks.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := m.update(msg)
	if len(m.unwritten) == 0 {
		return m, cmd
	}
	// acts journalled while handling msg are written by a command, in
	// order: Update does no I/O
	acts, b := m.unwritten, m.b
	m.unwritten = nil
	write := func() tea.Msg {
		m.jmu.Lock()
		defer m.jmu.Unlock()
		for _, a := range acts {
			if err := b.Journal(a); err != nil {
				return journalFailedMsg{err}
			}
		}
		return nil
	}
	return m, tea.Batch(cmd, write)
}

// journalFailedMsg says an act could not be journalled.
type journalFailedMsg struct{ err error }

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case journalFailedMsg:
		m.fail("journal: %v", msg.err)
		return m, nil
	case tea.WindowSizeMsg:
		m.width, m.height = max(msg.Width, 20), max(msg.Height, 6)
		return m, nil
	case actProgressMsg:
		m.actProgressed(msg)
		return m, nil
	case doneMsg:
		delete(m.busy, msg.stream)
		if msg.inner == nil {
			return m, nil
		}
		return m.update(msg.inner)
	case spinMsg:
		if len(m.busy) == 0 {
			m.ticking = false
			return m, nil
		}
		m.spin++
		return m, spinTick()
	case tea.KeyMsg:
		// Keys typed faster than the terminal is read arrive as one
		// message of several runes (tmux send-keys, a fast typist): each
		// is its own key press. A paste stays whole.
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			var cmds []tea.Cmd
			for _, r := range msg.Runes {
				_, cmd := m.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
				cmds = append(cmds, cmd)
			}
			return m, tea.Batch(cmds...)
		}
		cmd := m.key(msg)
		m.runs.nextApproval(m)
		// a key that left the detail view ends its log reading at once
		return m, tea.Batch(cmd, m.detail.leftCheck(m))
	case tea.MouseMsg:
		if m.dialog == nil && !m.help {
			return m, m.screens[m.active].update(m, msg)
		}
		return m, nil
	case engineEventMsg:
		if m.noWatch {
			return m, m.fleet.update(m, msg)
		}
		return m, tea.Batch(m.fleet.update(m, msg), m.waitEvent())
	case watchEndedMsg:
		return m, m.watchEnded(msg)
	case rewatchMsg:
		return m, m.watch()
	case actedMsg:
		return m, m.acted(msg)
	case doneActMsg:
		return m, m.doneAct(msg)
	}
	// Results of calls go to every view: each takes what is its own.
	var cmds []tea.Cmd
	if m.dialog != nil {
		cmds = append(cmds, m.dialog.result(m, msg))
	}
	for _, id := range m.order(screenDetail) {
		cmds = append(cmds, m.screens[id].update(m, msg))
	}
	return m, tea.Batch(cmds...)
}

// key handles a key press: the dialog first, then the help overlay, the
// console's own keys, and the active view's.
func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if m.dialog != nil {
		return m.dialog.key(m, k)
	}
	if m.help {
		m.help = false
		return nil
	}
	if m.screens[m.active].capturing() {
		return m.screens[m.active].update(m, k)
	}
	switch k.String() {
	case "ctrl+c", "q":
		if m.live != nil && !m.live.ended() {
			m.confirmEndDrill()
			return nil
		}
		if m.runs.running() > 0 || m.actsInFlight() > 0 {
			m.confirmQuit()
			return nil
		}
		m.stop()
		return tea.Quit
	case "?":
		m.help = true
		return nil
	case "esc":
		// Esc cancels reads in flight; an act (contain, release, capture,
		// backup, recover) runs to its end: cut short it could leave a
		// container half contained
		cancelled := false
		for s, op := range m.busy {
			if !op.act {
				op.cancel()
				m.notify("cancelled: %s", op.what)
				delete(m.busy, s)
				cancelled = true
			}
		}
		if cancelled {
			return nil
		}
	case "1":
		m.show(screenFleet)
		return nil
	case "2":
		m.show(screenRuns)
		return nil
	case "3":
		return m.showEvidence()
	case "4", "5":
		// the drill's tab is 4 in drill mode; the alerts' follows it
		if order := m.order(); int(k.Runes[0]-'1') < len(order) {
			m.show(order[k.Runes[0]-'1'])
		}
		return nil
	case "tab":
		order := m.order()
		for i, id := range order {
			if id == m.active || (m.active == screenDetail && id == screenFleet) {
				next := order[(i+1)%len(order)]
				if next == screenEvidence {
					return m.showEvidence()
				}
				m.show(next)
				return nil
			}
		}
	case "R":
		return m.toggleReadOnly()
	}
	return m.screens[m.active].update(m, k)
}

// order is the views in tab order (the drill's last, in drill mode), with
// extra ones added.
func (m *Model) order(extra ...screenID) []screenID {
	ids := []screenID{screenFleet, screenRuns, screenEvidence}
	if m.screens[screenDrill] != nil {
		ids = append(ids, screenDrill)
	}
	if !m.opts.Offline {
		ids = append(ids, screenAlerts)
	}
	return append(ids, extra...)
}

func (m *Model) show(id screenID) {
	if m.opts.Offline && id != screenEvidence {
		m.notify("offline: only the evidence view (no engine is connected)")
		return
	}
	m.active = id
}

func (m *Model) showEvidence() tea.Cmd {
	m.active = screenEvidence
	return m.evidence.load(m)
}

// toggleReadOnly enters read-only mode at once; leaving it asks first and is
// journalled.
func (m *Model) toggleReadOnly() tea.Cmd {
	if !m.readOnly {
		m.readOnly = true
		m.notify("read-only: acts are refused until lifted (R)")
		return nil
	}
	m.dialog = &dialog{
		title:   "Lift read-only mode?",
		lines:   []string{"Contain, release, and playbook runs will act on containers again.", "The lift is journalled."},
		confirm: "Lift",
		onYes: func(m *Model) tea.Cmd {
			m.readOnly = false
			m.journal(Act{Act: "lift-read-only", Command: "(console) read-only mode lifted", Result: "done"})
			m.notify("read-only mode lifted")
			return nil
		},
	}
	return nil
}

func (m *Model) confirmQuit() {
	m.dialog = &dialog{
		title:   "Quit while acts and playbooks run?",
		lines:   []string{fmt.Sprintf("%d run(s) and %d act(s) are in progress; quitting interrupts them.", m.runs.running(), m.actsInFlight()), "A run can be resumed with firebreak run --resume CASE; an act's record says where it stopped (firebreak status)."},
		confirm: "Quit",
		onYes: func(m *Model) tea.Cmd {
			m.stop()
			return tea.Quit
		},
	}
}

// refuseIfReadOnly says why an act is refused in read-only mode.
func (m *Model) refuseIfReadOnly(what string) bool {
	if m.readOnly {
		m.fail("read-only mode: %s refused (R lifts it, with a confirmation)", what)
		return true
	}
	return false
}

// journal records an act; a journal that cannot be written is shown.
func (m *Model) journal(a Act) {
	if a.Time.IsZero() {
		a.Time = m.opts.Now()
	}
	if a.Actor == "" {
		a.Actor = m.opts.Actor
	}
	m.unwritten = append(m.unwritten, a)
}

// View draws the console: a header with the views and the mode, the active
// view, and a status line; a dialog or the help overlay on top.
func (m *Model) View() string {
	w, h := m.width, m.height
	header := m.header(w)
	status := m.statusLine(w)
	bodyH := h - 2
	var body string
	switch {
	case m.help:
		body = m.helpView(w, bodyH)
	case m.live != nil && (m.active == screenFleet || m.active == screenDetail) && livePanelWidth(w) > 0:
		body = m.besideLive(func(w int) string { return m.screens[m.active].view(m, w, bodyH) }, w, bodyH)
	default:
		body = m.screens[m.active].view(m, w, bodyH)
	}
	if m.dialog != nil {
		body = m.dialog.overlay(m, body, w, bodyH)
	}
	return header + "\n" + fitBlock(body, w, bodyH) + "\n" + status
}

func (m *Model) header(w int) string {
	var tabs []string
	for i, id := range m.order() {
		title := m.screens[id].title()
		if c, ok := m.screens[id].(counted); ok {
			title = c.tabTitle()
		}
		t := fmt.Sprintf("%d %s", i+1, title)
		if m.active == id || (id == screenFleet && m.active == screenDetail) {
			tabs = append(tabs, m.st.tabOn.Render("["+t+"]"))
		} else {
			tabs = append(tabs, m.st.tabOff.Render(" "+t+" "))
		}
	}
	left := m.st.brand.Render("firebreak") + " " + strings.Join(tabs, " ")
	var right []string
	if m.drill != nil {
		right = append(right, m.st.warn.Render(m.drill.clock()))
	}
	if m.live != nil {
		right = append(right, m.st.warn.Render(m.live.clock(m)))
	}
	if m.readOnly {
		right = append(right, m.st.warn.Render("READ-ONLY"))
	}
	if n := m.runs.running(); n > 0 {
		right = append(right, m.st.accent.Render(fmt.Sprintf("%d running", n)))
	}
	if m.opts.Offline {
		right = append(right, m.st.dim.Render("offline"))
	} else {
		right = append(right, m.st.dim.Render(Cut(strings.Join(m.b.Engines(), ","), 30)))
	}
	r := strings.Join(right, " ")
	gap := w - Width(left) - Width(r)
	if gap < 1 && len(right) > 1 {
		// the engines' names go first: the modes and runs stay
		r = strings.Join(right[:len(right)-1], " ")
		gap = w - Width(left) - Width(r)
	}
	if gap < 1 {
		return cutStyled(left, w)
	}
	return left + strings.Repeat(" ", gap) + r
}

var spinFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (m *Model) statusLine(w int) string {
	if len(m.busy) > 0 {
		what := m.busyWords(w)
		s := spinFrames[m.spin%len(spinFrames)] + " " + strings.Join(what, ", ")
		if m.actsInFlight() < len(m.busy) {
			s += " (esc cancels reading)"
		}
		return m.st.accent.Render(Fit(s, w))
	}
	if m.status != "" {
		if m.statusBad {
			return m.st.bad.Render(Fit(m.status, w))
		}
		return m.st.dim.Render(Fit(m.status, w))
	}
	return m.st.dim.Render(Fit("? help  q quit  tab next view  R read-only", w))
}

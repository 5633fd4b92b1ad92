package tui

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/collect"
	"firebreak/runtime"
)

// fleetView lists every container of every engine, ranked by risk. It is
// built from one list at start (and on resync) and kept current by engine
// events, each of which reads one container.
type fleetView struct {
	rows     map[string]*row // by Item.Key
	order    []*row          // filtered and sorted
	dirty    bool
	cursor   int
	top      int
	sortCol  int
	asc      bool
	filter   string
	typing   bool // the filter line has the keys
	selected map[string]bool
	loaded   bool
	loadErr  string
	height   int                 // rows shown at the last draw, for paging
	longest  int                 // the widest name shown, in cells
	inPodW   int                 // the widest name shown beside a POD column (nameInPod)
	engineW  int                 // the widest engine label shown, in cells
	marks    map[string][]string // what the store holds of each container, by ID
	podW     int                 // the widest pod shown (NS/NAME), in cells; 0 with no pod's container
	pods     *podGroup           // the grouping by pod (P)
}

// row is one container with its triage.
type row struct {
	Item
	assessed bool
	score    int
	sev      collect.Severity
	finding  string
	seq      uint64   // the triage it shows (assessMsg.seq)
	marks    []string // what the store holds of it: evidence, backup
	search   string   // lower-cased text the filter matches
}

type listMsg struct {
	gen   uint64
	items []Item
	err   error
}

type itemMsg struct {
	gen   uint64
	key   string
	item  Item
	err   error
	tries int // reads again while its record is mid-act (see recheck)
}

type assessMsg struct {
	seq uint64 // the order it was asked in, across every triage
	as  []collect.Assessment
	err error
}

type marksMsg struct {
	gen   uint64
	marks map[string][]string
	err   error
}

type engineEventMsg struct{ EngineEvent }

type watchEndedMsg struct{ err error }

// rewatchMsg starts the engines' event streams again after a failure.
type rewatchMsg struct{}

// columns of the fleet, in sort-key order.
var fleetColumns = []string{"RISK", "NAME", "ENGINE", "STATE", "FIREBREAK", "IMAGE", "ID", "FINDING", "POD"}

func newFleetView() *fleetView {
	return &fleetView{rows: map[string]*row{}, selected: map[string]bool{}, pods: newPodGroup()}
}

func (f *fleetView) title() string { return "fleet" }

func (f *fleetView) capturing() bool { return f.typing || f.pods.on && f.pods.typing }

// load lists every engine's containers.
func (f *fleetView) load(m *Model) tea.Cmd {
	gen := m.next("list")
	b := m.b
	return m.call("list", "listing containers", func(ctx context.Context) tea.Msg {
		items, err := b.List(ctx)
		return listMsg{gen: gen, items: items, err: err}
	})
}

// loadMarks reads what the store holds of each container, in the
// background (after the list, and after an act that writes to the store).
func (f *fleetView) loadMarks(m *Model) tea.Cmd {
	if m.opts.Offline {
		return nil
	}
	gen := m.next("marks")
	b := m.b
	return func() tea.Msg {
		marks, err := b.Marks(m.ctx)
		return marksMsg{gen: gen, marks: marks, err: err}
	}
}

// assess triages items in the background.
func (f *fleetView) assess(m *Model, stream string, items []Item) tea.Cmd {
	if len(items) == 0 {
		return nil
	}
	seq := m.next("assess")
	b := m.b
	return func() tea.Msg {
		as, err := b.Assess(m.ctx, items)
		return assessMsg{seq: seq, as: as, err: err}
	}
}

// watch runs the engines' event streams until the console quits.
func (m *Model) watch() tea.Cmd {
	b, ctx, ch := m.b, m.ctx, m.events
	return func() tea.Msg {
		err := b.Watch(ctx, func(e EngineEvent) {
			select {
			case ch <- e:
			case <-ctx.Done():
			}
		})
		return watchEndedMsg{err: err}
	}
}

// waitEvent delivers the next engine event.
func (m *Model) waitEvent() tea.Cmd {
	ch, ctx := m.events, m.ctx
	return func() tea.Msg {
		select {
		case e := <-ch:
			return engineEventMsg{e}
		case <-ctx.Done():
			return nil
		}
	}
}

// watchEnded resyncs after an event stream failed: one list, then watch
// again.
func (m *Model) watchEnded(msg watchEndedMsg) tea.Cmd {
	if m.ctx.Err() != nil {
		return nil
	}
	if msg.err != nil {
		m.fail("engine events stopped (%v): listed again", msg.err)
	}
	return tea.Batch(m.fleet.load(m), tea.Tick(2*time.Second, func(time.Time) tea.Msg { return rewatchMsg{} }))
}

func (f *fleetView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case listMsg:
		if !m.current("list", msg.gen) {
			return nil
		}
		if msg.err != nil {
			f.loadErr = msg.err.Error()
			m.fail("listing containers: %v", msg.err)
			return nil
		}
		f.loaded, f.loadErr = true, ""
		old := f.rows
		f.rows = make(map[string]*row, len(msg.items))
		for _, it := range msg.items {
			r := &row{Item: it, marks: f.marks[it.ID]}
			if o := old[it.Key()]; o != nil && o.assessed {
				r.assessed, r.score, r.sev, r.finding, r.seq = true, o.score, o.sev, o.finding, o.seq
			}
			r.index()
			f.rows[it.Key()] = r
		}
		f.dirty = true
		return tea.Batch(f.assess(m, "assess", msg.items), f.loadMarks(m), f.pods.resync(m, f.podEngines()))
	case podsMsg:
		return f.pods.took(m, msg)
	case podActedMsg:
		return m.podActed(msg)
	case marksMsg:
		if !m.current("marks", msg.gen) {
			return nil
		}
		if msg.err != nil {
			m.fail("reading the store: %v", msg.err)
		}
		f.marks = msg.marks
		for _, r := range f.rows {
			r.marks = f.marks[r.ID]
			r.index()
		}
		f.dirty = true
	case assessMsg:
		if msg.err != nil {
			m.fail("triage: %v", msg.err)
		}
		for _, a := range msg.as {
			key := itemKeyFor(a)
			// a row takes a triage asked after the one it shows: the first
			// full triage, slow on a big fleet, never overwrites a
			// container's newer one
			if r := f.rows[key]; r != nil && msg.seq > r.seq {
				r.seq = msg.seq
				r.assessed, r.score, r.sev = true, a.Score, a.Max()
				r.finding = ""
				if len(a.Findings) > 0 {
					r.finding = a.Findings[0].Title
				}
				r.index()
			}
		}
		f.dirty = true
	case engineEventMsg:
		key := msg.Engine + "/" + msg.ID
		if msg.Action == "destroy" {
			var pod tea.Cmd
			if r := f.rows[key]; r != nil && r.PodName() != "" {
				pod = f.pods.refresh(m, r.Engine)
			}
			delete(f.rows, key)
			delete(f.selected, key)
			m.next("item/" + key) // an answer still on its way is stale
			f.dirty = true
			return pod
		}
		return f.read(m, msg.Engine, msg.ID, 0)
	case recheckMsg:
		return f.read(m, msg.engine, msg.id, msg.tries)
	case itemMsg:
		if !m.current("item/"+msg.key, msg.gen) {
			return nil
		}
		if msg.err != nil {
			if runtime.IsNotFound(msg.err) {
				delete(f.rows, msg.key)
				f.dirty = true
			}
			return nil
		}
		r := f.rows[msg.key]
		if r == nil {
			r = &row{}
			f.rows[msg.key] = r
		}
		r.Item = msg.item
		if _, acting := m.busy["act/"+msg.key]; acting {
			// Firebreak itself is moving it (a kill thaws a frozen
			// container first): its state is not drift; the act's end
			// reads it again
			r.Drift = ""
		}
		r.marks = f.marks[r.ID]
		r.index()
		f.dirty = true
		var pod tea.Cmd
		if msg.item.PodName() != "" {
			pod = f.pods.refresh(m, msg.item.Engine) // a member paused, a new attempt started
		}
		return tea.Batch(f.assess(m, "assess/"+msg.key, []Item{msg.item}), recheck(msg), pod)
	case tea.KeyMsg:
		return f.key(m, msg)
	case tea.MouseMsg:
		if f.pods.on {
			return nil
		}
		if msg.Action == tea.MouseActionPress {
			switch msg.Button {
			case tea.MouseButtonWheelUp:
				f.move(-3)
			case tea.MouseButtonWheelDown:
				f.move(3)
			case tea.MouseButtonLeft:
				f.move(f.top + msg.Y - 3 - f.cursor)
			}
		}
	}
	return nil
}

func itemKeyFor(a collect.Assessment) string {
	return a.Runtime + "/" + a.Container.ID
}

// index makes the text the filter looks in.
func (r *row) index() {
	var b strings.Builder
	for _, s := range []string{r.Name, r.ID, r.Image, r.Engine, string(r.State), r.finding, string(r.sev), r.firebreak(), r.PodName()} {
		b.WriteString(strings.ToLower(s))
		b.WriteByte(0)
	}
	for k, v := range r.Labels {
		b.WriteString(strings.ToLower(k + "=" + v))
		b.WriteByte(0)
	}
	r.search = b.String()
}

// firebreak is what Firebreak has done to the container, in a word or two;
// DRIFT first when a held container runs other than as held.
func (r *row) firebreak() string {
	var parts []string
	if h := r.Held; h != nil {
		if r.Drift != "" {
			parts = append(parts, "DRIFT")
		}
		switch {
		case h.Ended != nil:
			parts = append(parts, map[string]string{"stop": "stopped", "kill": "killed"}[h.Ended.Action])
		case h.Phase == "contained" && h.Pause != nil && h.Pause.Paused:
			parts = append(parts, "contained+frozen")
		case h.Phase != "":
			parts = append(parts, h.Phase)
		}
		if h.Case != "" {
			parts = append(parts, "case")
		}
	}
	parts = append(parts, r.marks...)
	if r.Labels["io.firebreak.snapshot"] != "" {
		parts = append(parts, "restored")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// visible rebuilds the filtered, sorted order when something changed.
func (f *fleetView) visible() []*row {
	if !f.dirty && f.order != nil {
		return f.order
	}
	f.dirty = false
	var cur string
	if f.cursor < len(f.order) {
		cur = f.order[f.cursor].Key()
	}
	f.order = f.order[:0]
	terms := strings.Fields(strings.ToLower(f.filter))
	for _, r := range f.rows {
		if matches(r.search, terms) {
			f.order = append(f.order, r)
		}
	}
	col, asc := f.sortCol, f.asc
	slices.SortFunc(f.order, func(a, b *row) int {
		c := compareRows(a, b, col)
		if !asc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.Name, b.Name)
			if c == 0 {
				c = cmp.Compare(a.Key(), b.Key())
			}
		}
		return c
	})
	f.cursor, f.longest, f.engineW, f.podW, f.inPodW = 0, 0, 0, 0, 0
	for i, r := range f.order {
		if r.Key() == cur {
			f.cursor = i
		}
		f.longest = max(f.longest, Width(Inert(r.Ref())))
		f.engineW = max(f.engineW, Width(engineLabel(r.Engine)))
		f.podW = max(f.podW, Width(Inert(r.PodName())))
		f.inPodW = max(f.inPodW, Width(Inert(r.nameInPod())))
	}
	return f.order
}

func matches(s string, terms []string) bool {
	for _, t := range terms {
		if !strings.Contains(s, t) {
			return false
		}
	}
	return true
}

func compareRows(a, b *row, col int) int {
	switch fleetColumns[col] {
	case "RISK":
		return cmp.Compare(a.score, b.score)
	case "NAME":
		return cmp.Compare(a.Name, b.Name)
	case "ENGINE":
		return cmp.Compare(a.Engine, b.Engine)
	case "STATE":
		return cmp.Compare(a.State, b.State)
	case "FIREBREAK":
		return cmp.Compare(a.firebreak(), b.firebreak())
	case "IMAGE":
		return cmp.Compare(a.Image, b.Image)
	case "ID":
		return cmp.Compare(a.ID, b.ID)
	case "FINDING":
		return cmp.Compare(a.finding, b.finding)
	case "POD":
		return cmp.Compare(a.PodName(), b.PodName())
	}
	return 0
}

// targets are the selected rows, or the one under the cursor.
func (f *fleetView) targets() []Item {
	var out []Item
	for _, r := range f.visible() {
		if f.selected[r.Key()] {
			out = append(out, r.Item)
		}
	}
	if len(out) == 0 {
		if r := f.current(); r != nil {
			out = append(out, r.Item)
		}
	}
	return out
}

func (f *fleetView) current() *row {
	rows := f.visible()
	if f.cursor >= 0 && f.cursor < len(rows) {
		return rows[f.cursor]
	}
	return nil
}

func (f *fleetView) move(d int) {
	n := len(f.visible())
	f.cursor = max(0, min(n-1, f.cursor+d))
}

func (f *fleetView) key(m *Model, k tea.KeyMsg) tea.Cmd {
	if f.pods.on {
		return f.pods.key(m, f, k)
	}
	if f.typing {
		changed, again := editFilter(k, &f.typing, &f.filter)
		f.dirty = f.dirty || changed
		if again {
			return f.key(m, k)
		}
		return nil
	}
	switch k.String() {
	case "/":
		f.typing = true
	case "esc":
		if f.filter != "" {
			f.filter, f.dirty = "", true
		} else if len(f.selected) > 0 {
			clear(f.selected)
		}
	case "up", "k":
		f.move(-1)
	case "down", "j":
		f.move(1)
	case "pgup", "ctrl+b":
		f.move(-max(1, f.height-1))
	case "pgdown", "ctrl+f":
		f.move(max(1, f.height-1))
	case "home", "g":
		f.cursor = 0
	case "end", "G":
		f.move(len(f.visible()))
	case "P":
		f.pods.on = true
		m.notify("pods: one row per Kubernetes pod (P returns to the containers)")
		if !f.pods.loaded {
			return f.pods.resync(m, f.podEngines())
		}
	case "s":
		f.sortCol, f.dirty = (f.sortCol+1)%len(fleetColumns), true
		if fleetColumns[f.sortCol] == "POD" && f.podW == 0 {
			f.sortCol = 0 // no pod's container: nothing to sort on
		}
		f.asc = fleetColumns[f.sortCol] != "RISK"
		m.notify("sorted by %s", strings.ToLower(fleetColumns[f.sortCol]))
	case "S":
		f.asc, f.dirty = !f.asc, true
	case " ", "space":
		if r := f.current(); r != nil {
			if f.selected[r.Key()] {
				delete(f.selected, r.Key())
			} else {
				f.selected[r.Key()] = true
			}
			f.move(1)
		}
	case "ctrl+a":
		for _, r := range f.visible() {
			f.selected[r.Key()] = true
		}
	case "ctrl+r":
		return f.load(m)
	case "enter":
		if r := f.current(); r != nil {
			m.active = screenDetail
			return m.detail.open(m, r.Item)
		}
	case "c":
		return m.containDialog(f.targets())
	case "r":
		return m.releaseDialog(f.targets())
	case "p":
		return m.runs.pick(m, f.targets())
	case "e":
		return m.collectDialog(f.targets())
	case "b":
		return m.backupDialog(f.targets())
	case "u":
		return m.recoverDialog(f.targets())
	case "x":
		return m.stopDialog(f.targets())
	case "K":
		return m.killDialog(f.targets())
	}
	return nil
}

func (f *fleetView) keys() []keyHelp {
	if f.pods.on {
		return f.pods.keys()
	}
	return []keyHelp{
		{"↑↓ j k, pgup pgdn, g G", "move"},
		{"/", "filter as you type (name, image, label, finding); enter keeps, esc clears"},
		{"s / S", "sort by the next column / reverse"},
		{"space, ctrl+a", "select / select all shown (acts take the selection)"},
		{"enter / P", "detail view / pods: one row per Kubernetes pod"},
		{"c", "contain (cut network, freeze) — asks first; a pod's member: its pod"},
		{"r", "release — asks first"},
		{"p", "run a playbook on the selection"},
		{"e", "capture evidence into a case (the container is not changed)"},
		{"b", "back up (configuration and named volumes)"},
		{"u", "recover from the latest backup: plan first, then type the name"},
		{"x / K", "stop / kill — each asks; kill wants the name typed"},
		{"ctrl+r", "list again (resync)"},
	}
}

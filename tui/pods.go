package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/collect"
	"firebreak/runtime"
)

// podGroup is the fleet grouped by Kubernetes pod (P): one row per pod, as
// `firebreak ps --pods` lists them, with its members' highest risk. Its
// pods are read once the fleet holds a pod's container and again after an
// engine event on one (a member paused, a new attempt started) or an act:
// never on a timer.
type podGroup struct {
	on      bool
	rows    map[string]*podRow // by PodItem.Key
	order   []*podRow
	cursor  int
	top     int
	height  int
	sortCol int
	asc     bool
	filter  string
	typing  bool
	loaded  bool
	loadErr string
	longest int             // the widest pod target shown, in cells
	loading map[string]bool // engines whose pods are being read
	again   map[string]bool // engines to read again once that read answers
	pending *pendingPodAct  // an act asked on a pod's container before its pod was read
}

// podRow is one pod with its members' triage.
type podRow struct {
	PodItem
	assessed bool
	score    int
	sev      collect.Severity
	finding  string
	drift    bool // a held member runs other than as held (see Item.Drift)
	search   string
}

// podsMsg is an engine's pods.
type podsMsg struct {
	engine string
	pods   []PodItem
	err    error
}

// columns of the pod grouping, in sort-key order.
var podColumns = []string{"RISK", "POD", "ENGINE", "MEMBERS", "STATE", "FIREBREAK", "FINDING"}

func newPodGroup() *podGroup {
	return &podGroup{rows: map[string]*podRow{}, loading: map[string]bool{}, again: map[string]bool{}}
}

// podEngines are the engines whose containers the kubelet labels as a
// pod's.
func (f *fleetView) podEngines() map[string]bool {
	out := map[string]bool{}
	for _, r := range f.rows {
		if r.PodName() != "" {
			out[r.Engine] = true
		}
	}
	return out
}

// refresh reads the engine's pods, one read at a time per engine: events
// that arrive while it runs ask for one more read after it.
func (g *podGroup) refresh(m *Model, engine string) tea.Cmd {
	pb, ok := m.b.(PodBackend)
	if !ok || m.opts.Offline {
		return nil
	}
	if g.loading[engine] {
		g.again[engine] = true
		return nil
	}
	g.loading[engine] = true
	ctx := m.ctx
	return func() tea.Msg {
		pods, err := pb.Pods(ctx, engine)
		return podsMsg{engine: engine, pods: pods, err: err}
	}
}

// resync reads the pods of every engine that has some after a list, and
// forgets those of engines that no longer have any.
func (g *podGroup) resync(m *Model, engines map[string]bool) tea.Cmd {
	for k, r := range g.rows {
		if !engines[r.Engine] {
			delete(g.rows, k)
		}
	}
	var cmds []tea.Cmd
	for e := range engines {
		cmds = append(cmds, g.refresh(m, e))
	}
	return tea.Batch(cmds...)
}

// took takes an engine's pods.
func (g *podGroup) took(m *Model, msg podsMsg) tea.Cmd {
	g.loading[msg.engine] = false
	if msg.err != nil {
		g.loadErr = msg.err.Error()
		m.fail("listing pods on %s: %v", msg.engine, msg.err)
	} else {
		g.loaded, g.loadErr = true, ""
		for k, r := range g.rows {
			if r.Engine == msg.engine {
				delete(g.rows, k)
			}
		}
		for _, p := range msg.pods {
			g.rows[p.Key()] = &podRow{PodItem: p}
		}
	}
	if g.again[msg.engine] {
		g.again[msg.engine] = false
		return g.refresh(m, msg.engine)
	}
	if pa := g.pending; pa != nil && pa.item.Engine == msg.engine {
		g.pending = nil
		p, ok := g.podOf(pa.item)
		switch {
		case m.dialog != nil:
		case !ok:
			m.fail("%s belongs to %s, which is neither ready nor held: no pod to %s (P lists the pods)", pa.item.Ref(), podRef(pa.item.PodName()), pa.verb)
		default:
			return m.podDialogFor(pa.verb, pa.item, p)
		}
	}
	return nil
}

// podOf finds the listed pod a container belongs to, as a member or as its
// sandbox.
func (g *podGroup) podOf(it Item) (PodItem, bool) {
	for _, r := range g.rows {
		if r.Engine != it.Engine {
			continue
		}
		if _, ok := runtime.PodOf([]runtime.Pod{r.Pod}, it.ID); ok {
			return r.PodItem, true
		}
	}
	return PodItem{}, false
}

// visible is the pods filtered and sorted, each with the highest risk of
// its members as the fleet triaged them (rebuilt on each call: a node's
// pods are few).
func (g *podGroup) visible(f *fleetView) []*podRow {
	var cur string
	if g.cursor < len(g.order) {
		cur = g.order[g.cursor].Key()
	}
	g.order = g.order[:0]
	terms := strings.Fields(strings.ToLower(g.filter))
	for _, r := range g.rows {
		r.triage(f)
		r.index()
		if matches(r.search, terms) {
			g.order = append(g.order, r)
		}
	}
	col, asc := g.sortCol, g.asc
	slices.SortFunc(g.order, func(a, b *podRow) int {
		c := comparePods(a, b, col)
		if !asc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.Ref(), b.Ref())
			if c == 0 {
				c = cmp.Compare(a.Key(), b.Key())
			}
		}
		return c
	})
	g.cursor, g.longest = 0, 0
	for i, r := range g.order {
		if r.Key() == cur {
			g.cursor = i
		}
		g.longest = max(g.longest, Width(Inert(r.Ref())))
	}
	return g.order
}

// triage takes the highest risk among the pod's members, and its top
// finding.
func (r *podRow) triage(f *fleetView) {
	r.assessed, r.score, r.sev, r.finding, r.drift = false, 0, "", "", false
	for _, c := range r.Members() {
		fr := f.rows[r.Engine+"/"+c.ID]
		if fr != nil && fr.Drift != "" && len(r.Held) > 0 {
			r.drift = true
		}
		if fr == nil || !fr.assessed {
			continue
		}
		if !r.assessed || fr.score > r.score {
			r.score, r.sev, r.finding = fr.score, fr.sev, fr.finding
		}
		r.assessed = true
	}
}

// index makes the text the filter looks in.
func (r *podRow) index() {
	var b strings.Builder
	for _, s := range []string{r.Ref(), r.SandboxID, r.Engine, r.state(), r.members(), r.firebreak(), r.finding, string(r.sev), r.IP} {
		b.WriteString(strings.ToLower(s))
		b.WriteByte(0)
	}
	for _, c := range r.Current() {
		b.WriteString(strings.ToLower(c.ContainerName + "\x00" + c.ID + "\x00" + c.Image))
		b.WriteByte(0)
	}
	for k, v := range r.Labels {
		b.WriteString(strings.ToLower(k + "=" + v))
		b.WriteByte(0)
	}
	r.search = b.String()
}

// state is the sandbox's: notready when the pod's sandbox is stopped, else
// the engine's state of it (paused once frozen).
func (r *podRow) state() string {
	if !r.Ready {
		return "notready"
	}
	return string(r.Sandbox.State)
}

// members counts the pod's current containers by state: "2 running",
// "1 paused 1 running".
func (r *podRow) members() string {
	by := map[runtime.State]int{}
	for _, c := range r.Current() {
		by[c.State]++
	}
	if len(by) == 0 {
		return "0"
	}
	states := make([]runtime.State, 0, len(by))
	for s := range by {
		states = append(states, s)
	}
	slices.Sort(states)
	var parts []string
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%d %s", by[s], s))
	}
	return strings.Join(parts, " ")
}

// firebreak is what Firebreak holds of the pod: DRIFT when a held member
// runs other than as held (as its container's row says), RESTARTED or
// STOPPED when the kubelet moved beside a held pod (as `ps --pods` says
// it), then the phase and how many of its members (the sandbox one of
// them) are held.
func (r *podRow) firebreak() string {
	var parts []string
	if r.drift {
		parts = append(parts, "DRIFT")
	}
	for _, x := range r.Restarts {
		word, _, _ := strings.Cut(x, ":")
		if !slices.Contains(parts, word) {
			parts = append(parts, word)
		}
	}
	if len(r.Held) > 0 {
		held := map[string]bool{}
		phase := r.Held[0].Phase
		for _, rec := range r.Held {
			held[rec.Container.ID] = true
			if rec.Container.ID == r.SandboxID {
				phase = rec.Phase
			}
		}
		members := append(r.Current(), runtime.PodContainer{Container: r.Sandbox})
		n := 0
		for _, c := range members {
			if held[c.ID] {
				n++
			}
		}
		parts = append(parts, fmt.Sprintf("%s (held %d of %d)", phase, n, len(members)))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func comparePods(a, b *podRow, col int) int {
	switch podColumns[col] {
	case "RISK":
		return cmp.Compare(a.score, b.score)
	case "POD":
		return cmp.Compare(a.Ref(), b.Ref())
	case "ENGINE":
		return cmp.Compare(a.Engine, b.Engine)
	case "MEMBERS":
		return cmp.Compare(a.members(), b.members())
	case "STATE":
		return cmp.Compare(a.state(), b.state())
	case "FIREBREAK":
		return cmp.Compare(a.firebreak(), b.firebreak())
	case "FINDING":
		return cmp.Compare(a.finding, b.finding)
	}
	return 0
}

func (g *podGroup) current(f *fleetView) *podRow {
	rows := g.visible(f)
	if g.cursor >= 0 && g.cursor < len(rows) {
		return rows[g.cursor]
	}
	return nil
}

func (g *podGroup) move(f *fleetView, d int) {
	n := len(g.visible(f))
	g.cursor = max(0, min(n-1, g.cursor+d))
}

// key handles a key of the pod grouping.
func (g *podGroup) key(m *Model, f *fleetView, k tea.KeyMsg) tea.Cmd {
	if g.typing {
		_, again := editFilter(k, &g.typing, &g.filter)
		if again {
			return g.key(m, f, k)
		}
		return nil
	}
	switch k.String() {
	case "P":
		g.on = false
		m.notify("containers")
	case "/":
		g.typing = true
	case "esc":
		g.filter = ""
	case "up", "k":
		g.move(f, -1)
	case "down", "j":
		g.move(f, 1)
	case "pgup", "ctrl+b":
		g.move(f, -max(1, g.height-1))
	case "pgdown", "ctrl+f":
		g.move(f, max(1, g.height-1))
	case "home", "g":
		g.cursor = 0
	case "end", "G":
		g.move(f, len(g.visible(f)))
	case "s":
		g.sortCol = (g.sortCol + 1) % len(podColumns)
		g.asc = podColumns[g.sortCol] != "RISK"
		m.notify("pods sorted by %s", strings.ToLower(podColumns[g.sortCol]))
	case "S":
		g.asc = !g.asc
	case "ctrl+r":
		return f.load(m)
	case "enter":
		// the pod's containers: the fleet filtered on its name
		if r := g.current(f); r != nil {
			g.on = false
			f.filter, f.dirty = r.Namespace+"/"+r.Name, true
			m.notify("the containers of %s (esc clears the filter)", r.Ref())
		}
	case "c":
		if r := g.current(f); r != nil {
			return m.containPodDialog(r.PodItem, "")
		}
	case "r":
		if r := g.current(f); r != nil {
			return m.releasePodDialog(r.PodItem, "")
		}
	case "e":
		if r := g.current(f); r != nil {
			return m.collectPodDialog(r.PodItem, "")
		}
	case "p", "b", "u", "x", "K":
		what := map[string]string{"p": "a playbook run", "b": "a backup", "u": "a recover", "x": "stop", "K": "kill"}[k.String()]
		if r := g.current(f); r != nil {
			m.fail("%s takes a container, not a pod: enter lists the containers of %s", what, r.Ref())
		}
	case " ", "space", "ctrl+a":
		m.notify("pods are not selected: c, r and e act on the pod under the cursor")
	}
	return nil
}

func (g *podGroup) keys() []keyHelp {
	return []keyHelp{
		{"P", "back to the containers"},
		{"↑↓ j k, pgup pgdn, g G", "move"},
		{"/", "filter as you type (pod, namespace, label, container, finding); enter keeps, esc clears"},
		{"s / S", "sort by the next column / reverse"},
		{"enter", "the pod's containers (the fleet filtered on it)"},
		{"c", "contain the pod as one (cut its sandbox's network, freeze every member) — asks first"},
		{"r", "release the pod — asks first"},
		{"e", "capture the pod's evidence into a case (the pod is not changed)"},
		{"p b u x K", "take a container, not a pod: enter lists its containers"},
		{"ctrl+r", "list again (resync)"},
	}
}

// podsEmpty says why the grouping shows no pod.
func (g *podGroup) podsEmpty(m *Model, f *fleetView) string {
	switch {
	case g.loadErr != "":
		return "cannot list pods: " + g.loadErr
	case !isPodBackend(m.b):
		return "this console reads no pods"
	case len(f.podEngines()) == 0:
		return "no Kubernetes pod on the connected engines (pods are read with --runtime containerd --namespace k8s.io)"
	case len(g.rows) == 0 && !g.loaded:
		return "listing pods…"
	case len(g.rows) == 0:
		return "no pod is ready or held"
	}
	return "no pod matches"
}

func isPodBackend(b Backend) bool {
	_, ok := b.(PodBackend)
	return ok
}

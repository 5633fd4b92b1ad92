package tui

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/alerts"
	"firebreak/playbooks"
)

// alertsView lists what `firebreak serve` received and what became of each
// alert, as `firebreak alerts ls` reads the intake journal, newest first;
// a run that waits for an approval is marked, counted in the tab's title,
// and approved from here (`firebreak approve CASE STEP...`).
//
// The journal is read by a command every alertsEvery: only the bytes
// written since the last read (one stat when there are none), and the run
// journal of each case still waiting, since an approval given with the CLI
// writes there, not to the intake journal. The command answers only when
// something changed: while nothing does it reads again in its own
// goroutine and sends the console nothing, so an idle console is not
// redrawn for it. A timer rather than inotify: the journal may not exist
// yet (serve not started), is moved aside when serve starts past its size
// limit, and the state directory may be on a filesystem without inotify; a
// stat every two seconds costs nothing measurable, and a responder reads
// the tab within two seconds of serve.
type alertsView struct {
	stories []alerts.Story // oldest first, as read
	cursor  alerts.Cursor  // where the journal was read to
	// answered holds cases whose run no longer waits (approved since, here
	// or with the CLI), though the intake journal still says
	// needs-approval.
	answered map[string]bool
	loaded   bool
	err      string
	stop     context.CancelFunc // ends the read under way (a new one replaces it)

	order  []*alertRow // filtered, newest first
	dirty  bool
	sel    int
	top    int
	filter string
	typing bool
}

type alertRow struct {
	alerts.Story
	caseID  string
	state   string
	waiting bool
	search  string
}

// alertsKeep is how many stories the view keeps (the newest).
const alertsKeep = 1000

// alertsEvery is how often the intake journal is read.
var alertsEvery = 2 * time.Second // a var: tests shorten it

type alertsMsg struct {
	gen  uint64
	tail alerts.Tail
	// waits says, for each needs-approval case read, whether its run
	// still waits.
	waits map[string]bool
	err   error
}

// waitingMsg answers the read of a case's waiting steps for the approval
// dialog.
type waitingMsg struct {
	gen   uint64
	story alerts.Story
	w     *playbooks.Waiting
	err   error
}

func newAlertsView() *alertsView { return &alertsView{answered: map[string]bool{}} }

func (v *alertsView) capturing() bool { return v.typing }

// waiting counts the stories whose run waits for an approval.
func (v *alertsView) waiting() int {
	n := 0
	for _, s := range v.stories {
		if c, ok := s.NeedsApproval(); ok && !v.answered[c] {
			n++
		}
	}
	return n
}

func (v *alertsView) title() string { return "alerts" }

// tabTitle counts the alerts and the runs that wait for an approval.
func (v *alertsView) tabTitle() string {
	switch n, w := len(v.stories), v.waiting(); {
	case n == 0:
		return "alerts"
	case w == 0:
		return fmt.Sprintf("%d alerts", n)
	default:
		return fmt.Sprintf("%d alerts (%d waiting)", n, w)
	}
}

// load reads the journal past the cursor, and the run journals of the
// cases that wait, in a command, which answers at once. follow is the read
// that comes after an answer: it waits alertsEvery between reads and
// answers only once something changed (new entries, a case approved, an
// error), so that nothing reaches the console while nothing happens.
func (v *alertsView) load(m *Model) tea.Cmd { return v.read(m, false) }

func (v *alertsView) follow(m *Model) tea.Cmd { return v.read(m, true) }

func (v *alertsView) read(m *Model, follow bool) tea.Cmd {
	if m.opts.Offline {
		return nil
	}
	if v.stop != nil {
		v.stop()
	}
	gen := m.next("alerts")
	ctx, stop := context.WithCancel(m.ctx)
	v.stop = stop
	from, b := v.cursor, m.b
	var cases []string
	answered := map[string]bool{}
	// Every case stopped for an approval is read, approved ones too: a run
	// resumed from here can stop at its next approval (or fail), and then
	// waits again.
	for _, s := range v.stories {
		if c, ok := s.NeedsApproval(); ok {
			cases = append(cases, c)
		}
	}
	for c, a := range v.answered {
		answered[c] = a
	}
	return func() tea.Msg {
		defer stop()
		for {
			if follow {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(alertsEvery):
				}
			}
			msg := readAlerts(ctx, b, gen, from, cases)
			if !follow || msg.err != nil || msg.tail.Changed() || changedWaits(answered, msg.waits) {
				return msg
			}
		}
	}
}

// changedWaits says whether a read found a case approved (or waiting
// again) that the view holds otherwise.
func changedWaits(answered, waits map[string]bool) bool {
	for c, w := range waits {
		if answered[c] != !w {
			return true
		}
	}
	return false
}

// readAlerts is one read: the journal past from, and whether each case
// that waited (cases, and those the new entries name) still waits.
func readAlerts(ctx context.Context, b Backend, gen uint64, from alerts.Cursor, cases []string) alertsMsg {
	tail, err := b.Alerts(ctx, from, alertsKeep)
	if err != nil {
		return alertsMsg{gen: gen, err: err}
	}
	for _, s := range tail.Stories {
		if c, ok := s.NeedsApproval(); ok {
			cases = append(cases, c)
		}
	}
	for _, e := range tail.Later {
		if e.Kind == alerts.KindFinished && e.Status == alerts.StatusNeedsApproval && e.Case != "" {
			cases = append(cases, e.Case)
		}
	}
	waits := map[string]bool{}
	for _, c := range cases {
		if _, done := waits[c]; done || ctx.Err() != nil {
			continue
		}
		// a case whose run journal cannot be read is shown waiting:
		// the approval dialog says why it cannot be approved
		w, err := b.Waiting(ctx, c)
		waits[c] = err != nil || len(w.Steps) > 0
	}
	return alertsMsg{gen: gen, tail: tail, waits: waits}
}

func (v *alertsView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case alertsMsg:
		if !m.current("alerts", msg.gen) {
			return nil
		}
		if msg.err != nil {
			v.err = msg.err.Error()
		} else {
			v.err, v.loaded = "", true
			if msg.tail.Changed() {
				v.stories = alerts.Merge(v.stories, msg.tail, alertsKeep)
				v.dirty = true
			}
			v.cursor = msg.tail.Cursor
			for c, waits := range msg.waits {
				if v.answered[c] != !waits {
					v.answered[c], v.dirty = !waits, true
				}
			}
		}
		if m.noWatch {
			return nil // component tests read again with ctrl+r
		}
		return v.follow(m)
	case waitingMsg:
		if m.current("waiting", msg.gen) {
			return v.confirm(m, msg)
		}
	case tea.KeyMsg:
		return v.key(m, msg)
	}
	return nil
}

// rows are the stories filtered and newest first.
func (v *alertsView) rows() []*alertRow {
	if !v.dirty && v.order != nil {
		return v.order
	}
	v.dirty = false
	var cur uint64
	if v.sel < len(v.order) {
		cur = v.order[v.sel].Seq
	}
	terms := strings.Fields(strings.ToLower(v.filter))
	v.order = v.order[:0]
	for _, s := range v.stories {
		r := &alertRow{Story: s, search: s.Search()}
		r.state, r.caseID = s.State()
		_, r.waiting = s.NeedsApproval()
		r.waiting = r.waiting && !v.answered[r.caseID]
		if r.waiting {
			r.search += " waiting"
		}
		if matches(r.search, terms) {
			v.order = append(v.order, r)
		}
	}
	slices.SortFunc(v.order, func(a, b *alertRow) int { return cmp.Compare(b.Seq, a.Seq) })
	v.sel = 0
	for i, r := range v.order {
		if r.Seq == cur {
			v.sel = i
		}
	}
	return v.order
}

func (v *alertsView) current() *alertRow {
	rows := v.rows()
	if v.sel >= 0 && v.sel < len(rows) {
		return rows[v.sel]
	}
	return nil
}

func (v *alertsView) key(m *Model, k tea.KeyMsg) tea.Cmd {
	if v.typing {
		changed, again := editFilter(k, &v.typing, &v.filter)
		v.dirty = v.dirty || changed
		if again {
			return v.key(m, k)
		}
		return nil
	}
	n := len(v.rows())
	switch k.String() {
	case "/":
		v.typing = true
	case "esc":
		if v.filter != "" {
			v.filter, v.dirty = "", true
		}
	case "up", "k":
		v.sel = max(0, v.sel-1)
	case "down", "j":
		v.sel = max(0, min(n-1, v.sel+1))
	case "home", "g":
		v.sel = 0
	case "end", "G":
		v.sel = max(0, n-1)
	case "ctrl+r":
		return v.load(m)
	case "a", "enter":
		return v.approve(m)
	case "e":
		if r := v.current(); r != nil && r.caseID != "" {
			m.evidence.focusCase = r.caseID
			return m.showEvidence()
		}
	}
	return nil
}

// approve reads what the selected story's run waits for; the dialog
// follows with the steps.
func (v *alertsView) approve(m *Model) tea.Cmd {
	r := v.current()
	if r == nil {
		return nil
	}
	if !r.waiting {
		m.notify("alert %d waits for no approval (%s)", r.Seq, Cut(orDash(r.state), 60))
		return nil
	}
	if m.refuseIfReadOnly("approval of case " + r.caseID) {
		return nil
	}
	gen := m.next("waiting")
	story, b, c := r.Story, m.b, r.caseID
	return m.call("waiting", "reading case "+c+"'s run journal", func(ctx context.Context) tea.Msg {
		w, err := b.Waiting(ctx, c)
		return waitingMsg{gen: gen, story: story, w: w, err: err}
	})
}

// confirm opens the approval dialog: the steps the run waits for, the
// command line, Cancel focused; Approve resumes the case's run with those
// steps approved, in the runs view.
func (v *alertsView) confirm(m *Model, msg waitingMsg) tea.Cmd {
	_, caseID := msg.story.State()
	if msg.err != nil {
		m.fail("case %s: %v", caseID, msg.err)
		return nil
	}
	w := msg.w
	if len(w.Steps) == 0 {
		v.answered[caseID], v.dirty = true, true
		m.notify("case %s waits for no approval now (approved since)", caseID)
		return nil
	}
	steps := w.StepIDs()
	parts := []string{m.opts.CLI, "approve", caseID}
	for _, s := range steps {
		parts = append(parts, ShellQuote(s))
	}
	for _, f := range []string{m.opts.StoreFlags, m.opts.PlaybookFlags} {
		if f != "" {
			parts = append(parts, f)
		}
	}
	line := strings.Join(parts, " ")
	a := msg.story.Accepted.Alert
	lines := []string{fmt.Sprintf("alert %d: %s (%s, %s)", msg.story.Seq, Inert(a.Rule), Inert(a.Format), a.Priority),
		"playbook: " + Inert(w.Playbook) + ", case " + caseID, "waiting for approval:"}
	for _, s := range w.Steps {
		lines = append(lines, "  "+Inert(s.Step)+" on "+Inert(orWord(s.Target.Name, s.Target.ShortID())))
	}
	lines = append(lines, "The run resumes with these steps approved; finished steps are not repeated. It shows in the runs view.")
	targets := m.targetsOf(w)
	req := RunRequest{Playbook: w.Playbook, Targets: targets, Case: caseID, Resume: true, Approve: steps}
	m.dialog = &dialog{
		title: "Approve and resume case " + caseID + "?", lines: lines, command: line, confirm: "Approve",
		onYes: func(m *Model) tea.Cmd {
			if m.refuseIfReadOnly("approval of case " + caseID) {
				return nil
			}
			v.answered[caseID], v.dirty = true, true
			m.notify("case %s resumed with %s approved", caseID, strings.Join(steps, ", "))
			return m.runs.launch(m, req, "approve", line)
		},
		onNo: func(m *Model) tea.Cmd {
			m.notify("not approved: case %s still waits", caseID)
			return nil
		},
	}
	return nil
}

// targetsOf names the waiting run's targets as the fleet lists them (the
// engine a resumed run acts on); one the fleet does not list is taken to
// be on the first engine, where `firebreak approve` would look.
func (m *Model) targetsOf(w *playbooks.Waiting) []Item {
	var out []Item
	for _, t := range w.Targets {
		it := Item{Container: t}
		if engines := m.b.Engines(); len(engines) > 0 {
			it.Engine = engines[0]
		}
		for _, r := range m.fleet.rows {
			if r.ID == t.ID {
				it = r.Item
			}
		}
		out = append(out, it)
	}
	if len(out) == 0 && len(m.b.Engines()) > 0 {
		out = append(out, Item{Engine: m.b.Engines()[0]})
	}
	return out
}

// container names the alert's container as the fleet knows it, else as
// the alert gives it.
func (m *Model) alertContainer(a *alerts.Alert) string {
	if a.Container == "" || a.Container == "host" {
		return orDash(a.Container + podSuffix(a.Pod))
	}
	// by ID only, and only when one container has it (as serve resolves)
	var found *row
	for _, r := range m.fleet.rows {
		if len(a.Container) >= 12 && strings.HasPrefix(r.ID, a.Container) {
			if found != nil {
				return a.Container + podSuffix(a.Pod)
			}
			found = r
		}
	}
	if found != nil {
		return found.Ref()
	}
	return a.Container + podSuffix(a.Pod)
}

func podSuffix(pod string) string {
	if pod == "" {
		return ""
	}
	return " pod/" + pod
}

func orDash(s string) string { return orWord(s, "-") }

func orWord(s, w string) string {
	if strings.TrimSpace(s) == "" {
		return w
	}
	return s
}

func (v *alertsView) keys() []keyHelp {
	return []keyHelp{
		{"↑↓ j k, g G", "choose an alert (newest first)"},
		{"/", "filter as you type; \"wait\" finds the waiting"},
		{"a, enter", "approve a waiting run's steps and resume it (asks)"},
		{"e", "open the alert's case in the evidence view"},
		{"ctrl+r", "read the intake journal now (it is read every 2 s)"},
	}
}

func (v *alertsView) view(m *Model, w, h int) string {
	rows := v.rows()
	var b strings.Builder
	switch {
	case v.typing:
		b.WriteString("/" + Cut(v.filter, w-3) + "▏")
	case v.filter != "":
		b.WriteString(m.st.dim.Render("filter: ") + Cut(v.filter, w-30) + m.st.dim.Render(fmt.Sprintf("  (%d of %d; esc clears)", len(rows), len(v.stories))))
	case v.err != "":
		b.WriteString(m.st.bad.Render(Cut("cannot read the intake journal: "+v.err, w)))
	case !v.loaded:
		b.WriteString(m.st.dim.Render("reading serve's intake journal…"))
	default:
		s := fmt.Sprintf("%d alerts from firebreak serve", len(v.stories))
		if n := v.waiting(); n > 0 {
			s += fmt.Sprintf(", %d waiting for an approval (a approves)", n)
		}
		b.WriteString(m.st.dim.Render(Cut(s+" · / filters · ? help", w)))
	}
	b.WriteString("\n")
	if len(rows) == 0 {
		if len(v.stories) > 0 {
			b.WriteString(m.st.dim.Render("no alert matches"))
		} else if v.loaded {
			b.WriteString(m.st.dim.Render(Cut("No alerts. `firebreak serve --rules FILE` receives them; they show here as they come.", w)))
		}
		return b.String()
	}
	ws := alertWidths(w)
	cols := []string{"TIME (UTC)", "SOURCE", "PRIORITY", "RULE", "CONTAINER", "OUTCOME", "CASE"}
	head := "  "
	for _, c := range cols {
		if ws[c] > 0 {
			head += Fit(c, ws[c]) + " "
		}
	}
	b.WriteString(m.st.head.Render(Cut(head, w)) + "\n")
	bodyH := max(1, h-5) // the filter line, the header, and three lines below for the selected alert
	if v.sel < v.top {
		v.top = v.sel
	}
	if v.sel >= v.top+bodyH {
		v.top = v.sel - bodyH + 1
	}
	v.top = max(0, min(v.top, len(rows)-bodyH))
	for i := v.top; i < len(rows) && i < v.top+bodyH; i++ {
		r := rows[i]
		a := r.Accepted.Alert
		mark := "  "
		switch {
		case i == v.sel && r.waiting:
			mark = ">!"
		case i == v.sel:
			mark = "> "
		case r.waiting:
			mark = " !"
		}
		cells := map[string]string{
			"TIME (UTC)": r.Accepted.Time.UTC().Format("01-02 15:04:05"),
			"SOURCE":     a.Format, "PRIORITY": a.Priority.String(), "RULE": a.Rule,
			"CONTAINER": m.alertContainer(a), "OUTCOME": orWord(r.state, "open"), "CASE": orDash(r.caseID),
		}
		if r.waiting {
			cells["OUTCOME"] = "WAITING: approve"
		}
		line := mark
		for _, c := range cols {
			if ws[c] > 0 {
				line += Fit(cells[c], ws[c]) + " "
			}
		}
		line = Cut(line, w)
		switch {
		case i == v.sel:
			line = m.st.sel.Render(line)
		case r.waiting:
			line = m.st.warn.Render(line)
		}
		b.WriteString(line + "\n")
	}
	// the selected alert: what its sender said, and its case
	if r := v.current(); r != nil {
		b.WriteString("\n" + m.st.dim.Render(Cut(fmt.Sprintf("alert %d · %s · case %s", r.Seq, orWord(r.state, "open"), orDash(r.caseID)), w)) + "\n")
		b.WriteString(Cut(orWord(r.Accepted.Alert.Output, r.Accepted.Alert.Rule), w))
	}
	return b.String()
}

// alertWidths lays the columns out for a screen w cells wide; the rule
// takes what is left. Under 120 columns the case and priority are shown
// for the selected alert only, below the list.
func alertWidths(w int) map[string]int {
	ws := map[string]int{"TIME (UTC)": 14, "SOURCE": 9, "CONTAINER": 16, "OUTCOME": 18}
	if w >= 120 {
		ws["PRIORITY"], ws["CONTAINER"], ws["OUTCOME"], ws["CASE"] = 9, 24, 24, 27
	}
	used := 2
	for _, n := range ws {
		used += n + 1
	}
	ws["RULE"] = max(8, w-used-1)
	return ws
}

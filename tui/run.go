package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/playbooks"
)

// runView shows the playbook runs the console started: each step with its
// status, attempt and duration, live progress, the approvals it waits for,
// and the summary with the case and where its evidence is. Runs go on when
// the view is left.
type runView struct {
	runs    []*runState
	cursor  int
	form    *runForm // choosing a playbook and its parameters; nil when not
	waiting []approvalMsg
}

type runState struct {
	id       int
	playbook string
	targets  []Item
	caseID   string
	command  string
	started  time.Time
	finished time.Time
	steps    []*stepState
	done     bool
	err      string
	report   *playbooks.Report
	cancel   context.CancelFunc
}

type stepState struct {
	step, action, target string
	status               string
	attempt              int
	started, ended       time.Time
	detail               string
	prog                 *progress.Count // the last report's numbers, nil when it had none
	progAt               time.Time       // when it was made
}

type runEventMsg struct {
	run int
	ev  playbooks.Event
}

type runDoneMsg struct {
	run int
	rep *playbooks.Report
	err error
}

// approvalMsg asks the responder to approve a step; the answer goes back on
// reply.
type approvalMsg struct {
	run   int
	req   playbooks.ApprovalRequest
	reply chan bool
}

type playbooksMsg struct {
	gen     uint64
	list    []PlaybookInfo
	err     error
	targets []Item
}

// runForm picks a playbook, then fills its parameters.
type runForm struct {
	targets []Item
	list    []PlaybookInfo
	cursor  int
	chosen  *PlaybookInfo
	fields  []string // one value per parameter
	field   int
}

func newRunView() *runView { return &runView{} }

func (v *runView) title() string { return "runs" }

func (v *runView) capturing() bool { return v.form != nil }

func (v *runView) running() int {
	n := 0
	for _, r := range v.runs {
		if !r.done {
			n++
		}
	}
	return n
}

// approver answers a run's approval requests through the console's dialog.
type approver struct {
	run  int
	send func(tea.Msg)
}

func (a approver) Approve(ctx context.Context, req playbooks.ApprovalRequest) (bool, error) {
	reply := make(chan bool, 1)
	a.send(approvalMsg{run: a.run, req: req, reply: reply})
	select {
	case ok := <-reply:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// pick opens the playbook chooser for targets.
func (v *runView) pick(m *Model, targets []Item) tea.Cmd {
	if len(targets) == 0 {
		m.notify("no container to run a playbook on")
		return nil
	}
	if m.refuseIfReadOnly("playbook run") {
		return nil
	}
	engine := targets[0].Engine
	for _, t := range targets {
		if t.Engine != engine {
			m.fail("a run acts on one engine: the selection spans %s and %s", engine, t.Engine)
			return nil
		}
	}
	gen := m.next("playbooks")
	b := m.b
	return m.call("playbooks", "reading playbooks", func(context.Context) tea.Msg {
		list, err := b.Playbooks()
		return playbooksMsg{gen: gen, list: list, err: err, targets: targets}
	})
}

func (v *runView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case playbooksMsg:
		if !m.current("playbooks", msg.gen) {
			return nil
		}
		if msg.err != nil {
			m.fail("reading playbooks: %v", msg.err)
			return nil
		}
		v.form = &runForm{targets: msg.targets, list: msg.list}
		m.active = screenRuns
	case runEventMsg:
		if r := v.byID(msg.run); r != nil {
			r.event(msg.ev)
		}
	case runDoneMsg:
		if r := v.byID(msg.run); r != nil {
			r.done, r.finished, r.report = true, m.opts.Now(), msg.rep
			res := "done"
			if msg.err != nil {
				r.err = msg.err.Error()
				res = "failed: " + r.err
				m.fail("run %s on %s: %v", r.playbook, names(r.targets), msg.err)
			} else {
				m.notify("run %s finished: case %s", r.playbook, r.caseID)
				m.drillEvent("playbook:" + r.playbook)
			}
			m.journal(Act{Act: "run-finished", Target: keys(r.targets), Command: r.command, Result: res})
			cmds := []tea.Cmd{m.fleet.loadMarks(m)}
			for _, t := range r.targets {
				cmds = append(cmds, m.fleet.update(m, engineEventMsg{EngineEvent{Engine: t.Engine, ID: t.ID, Action: "firebreak"}}))
			}
			return tea.Batch(cmds...)
		}
	case approvalMsg:
		v.waiting = append(v.waiting, msg)
		v.nextApproval(m)
	case tea.KeyMsg:
		if v.form != nil {
			return v.formKey(m, msg)
		}
		switch msg.String() {
		case "up", "k":
			v.cursor = max(0, v.cursor-1)
		case "down", "j":
			v.cursor = min(len(v.runs)-1, v.cursor+1)
		case "x":
			if r := v.selected(); r != nil && !r.done {
				m.dialog = &dialog{
					title:   "Stop run " + r.playbook + "?",
					lines:   []string{"The step under way is interrupted; finished steps stay.", "Resume later with: " + m.opts.CLI + " run --resume " + r.caseID},
					confirm: "Stop run",
					onYes: func(m *Model) tea.Cmd {
						r.cancel()
						m.journal(Act{Act: "run-stopped", Target: keys(r.targets), Command: r.command, Result: "interrupted"})
						return nil
					},
				}
			}
		case "e":
			if r := v.selected(); r != nil && r.caseID != "" {
				m.evidence.focusCase = r.caseID
				return m.showEvidence()
			}
		}
	}
	return nil
}

// nextApproval opens the next waiting approval when no dialog is open.
func (v *runView) nextApproval(m *Model) {
	if m.dialog != nil || len(v.waiting) == 0 {
		return
	}
	a := v.waiting[0]
	v.waiting = v.waiting[1:]
	r := v.byID(a.run)
	title := fmt.Sprintf("Approve step %s on %s?", a.req.Step, a.req.Target.Name)
	lines := []string{"action: " + Inert(a.req.Action)}
	if a.req.Prompt != "" {
		lines = append(lines, Lines(a.req.Prompt)...)
	}
	if r != nil {
		lines = append(lines, "run: "+Inert(r.playbook)+", case "+r.caseID)
	}
	m.active = screenRuns
	answer := func(ok bool) func(m *Model) tea.Cmd {
		return func(m *Model) tea.Cmd {
			if ok && m.readOnly {
				// read-only refuses approvals too: ask again once lifted
				m.fail("read-only mode: approval of step %s refused (R lifts it, with a confirmation); the run waits", a.req.Step)
				v.waiting = append([]approvalMsg{a}, v.waiting...)
				return nil
			}
			a.reply <- ok
			res := "denied"
			if ok {
				res = "approved"
			}
			cmd := ""
			if r != nil {
				// what approves this step from a shell: the run resumed
				cmd = m.opts.CLI + " run " + ShellQuote(r.playbook) + " --resume " + r.caseID + " --approve " + ShellQuote(a.req.Step)
			}
			m.journal(Act{Act: "approval", Target: a.req.Target.ID, Command: cmd, Result: res + " step " + a.req.Step})
			m.notify("step %s %s", a.req.Step, res)
			v.nextApproval(m)
			return nil
		}
	}
	m.dialog = &dialog{title: Inert(title), lines: lines, confirm: "Approve", onYes: answer(true), onNo: answer(false)}
}

func (v *runView) byID(id int) *runState {
	for _, r := range v.runs {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (v *runView) selected() *runState {
	if v.cursor >= 0 && v.cursor < len(v.runs) {
		return v.runs[v.cursor]
	}
	return nil
}

func (r *runState) event(ev playbooks.Event) {
	if ev.Case != "" && r.caseID == "" {
		r.caseID = ev.Case
	}
	if ev.Step == "" {
		return
	}
	var s *stepState
	for _, x := range r.steps {
		if x.step == ev.Step && x.target == ev.Target {
			s = x
		}
	}
	if s == nil {
		s = &stepState{step: ev.Step, action: ev.Action, target: ev.Target}
		r.steps = append(r.steps, s)
	}
	switch ev.Type {
	case playbooks.EventStepStarted:
		s.status, s.started, s.attempt = "running", ev.Time, ev.Attempt
		s.prog, s.progAt = nil, time.Time{}
	case playbooks.EventStepProgress:
		s.detail = ev.Detail
		if ev.Progress != nil {
			n := *ev.Progress
			s.prog, s.progAt = &n, ev.Time
		}
	case playbooks.EventNeedsApproval:
		s.status = "needs approval"
	case playbooks.EventStepFinished, playbooks.EventStepUndone:
		s.status, s.ended = string(ev.Status), ev.Time
		if ev.Error != "" {
			s.detail = ev.Error
		} else if ev.Type == playbooks.EventStepFinished {
			s.detail = ""
		}
	}
}

func (v *runView) formKey(m *Model, k tea.KeyMsg) tea.Cmd {
	f := v.form
	if k.Type == tea.KeyEsc {
		v.form = nil
		m.notify("no playbook run")
		return nil
	}
	if f.chosen == nil {
		switch k.String() {
		case "up", "k":
			f.cursor = max(0, f.cursor-1)
		case "down", "j":
			f.cursor = min(len(f.list)-1, f.cursor+1)
		case "enter":
			if f.cursor < len(f.list) {
				p := f.list[f.cursor]
				f.chosen = &p
				f.fields = make([]string, len(p.Params))
				for i, d := range p.Params {
					if d.Default != nil {
						f.fields[i] = fmt.Sprint(d.Default)
					}
				}
				if len(p.Params) == 0 {
					return v.confirmRun(m)
				}
			}
		}
		return nil
	}
	switch k.Type {
	case tea.KeyUp, tea.KeyShiftTab:
		f.field = max(0, f.field-1)
	case tea.KeyDown, tea.KeyTab:
		f.field = min(len(f.fields)-1, f.field+1)
	case tea.KeyEnter:
		if f.field < len(f.fields)-1 {
			f.field++
			return nil
		}
		return v.confirmRun(m)
	case tea.KeyBackspace:
		if r := []rune(f.fields[f.field]); len(r) > 0 {
			f.fields[f.field] = string(r[:len(r)-1])
		}
	case tea.KeySpace:
		f.fields[f.field] += " "
	case tea.KeyRunes:
		f.fields[f.field] += string(k.Runes)
	}
	return nil
}

// confirmRun asks before the run starts, showing the CLI line.
func (v *runView) confirmRun(m *Model) tea.Cmd {
	f := v.form
	p := f.chosen
	params := map[string]string{}
	var flags []string
	for i, d := range p.Params {
		val := f.fields[i]
		if val == "" || (d.Default != nil && fmt.Sprint(d.Default) == val) {
			continue
		}
		params[d.Name] = val
		flags = append(flags, "-p", ShellQuote(d.Name+"="+val))
	}
	caseID := evidence.NewCaseID(m.opts.Now())
	engine, ns, _ := strings.Cut(f.targets[0].Engine, "/")
	parts := []string{m.opts.CLI, "--runtime", engine}
	if ns != "" {
		parts = append(parts, "--namespace", ShellQuote(ns))
	}
	parts = append(parts, "run", ShellQuote(p.Name), "--case", caseID)
	for _, t := range f.targets {
		parts = append(parts, "--target", ShellQuote(t.Ref()))
	}
	parts = append(parts, flags...)
	for _, f := range []string{m.opts.StoreFlags, m.opts.PlaybookFlags} {
		if f != "" {
			parts = append(parts, f)
		}
	}
	line := strings.Join(parts, " ")
	targets := f.targets
	lines := []string{"playbook: " + Inert(p.Name), "targets: " + Inert(names(targets)), "case: " + caseID}
	if p.Description != "" {
		lines = append(lines, Lines(strings.TrimSpace(p.Description))...)
	}
	lines = append(lines, "Steps that need approval will ask here.")
	v.form = nil
	m.dialog = &dialog{
		title: "Run " + Inert(p.Name) + "?", lines: lines, command: line, confirm: "Run",
		onYes: func(m *Model) tea.Cmd { return v.start(m, p.Name, targets, params, caseID, line) },
	}
	return nil
}

// start begins a run; it goes on in the background.
func (v *runView) start(m *Model, playbook string, targets []Item, params map[string]string, caseID, line string) tea.Cmd {
	return v.launch(m, RunRequest{Playbook: playbook, Targets: targets, Params: params, Case: caseID}, "run", line)
}

// launch begins the run req asks for (a new one, or a case resumed),
// journalled as act with its command line; it goes on in the background.
func (v *runView) launch(m *Model, req RunRequest, act, line string) tea.Cmd {
	id := len(v.runs) + 1
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runState{id: id, playbook: req.Playbook, targets: req.Targets, caseID: req.Case, command: line, started: m.opts.Now(), cancel: cancel}
	v.runs = append(v.runs, r)
	v.cursor = len(v.runs) - 1
	m.active = screenRuns
	m.journal(Act{Act: act, Target: keys(req.Targets), Command: line, Result: "started"})
	send, b := m.send, m.b
	req.Events = runEvents(id, send)
	req.Approver = approver{run: id, send: send}
	return func() tea.Msg {
		defer cancel()
		rep, err := b.Run(ctx, req)
		return runDoneMsg{run: id, rep: rep, err: err}
	}
}

func (v *runView) keys() []keyHelp {
	return []keyHelp{
		{"↑↓", "choose a run"},
		{"e", "open the run's case in the evidence view"},
		{"x", "stop the run (asks; resume later with run --resume)"},
		{"p (fleet)", "run a playbook: choose it, fill its parameters, confirm"},
	}
}

func (v *runView) view(m *Model, w, h int) string {
	if v.form != nil {
		return v.formView(m, w, h)
	}
	if len(v.runs) == 0 {
		return m.st.dim.Render("No runs yet. In the fleet view, p runs a playbook on the selected containers.")
	}
	var b strings.Builder
	for i, r := range v.runs {
		state := "running"
		switch {
		case r.done && r.err != "":
			state = "FAILED"
		case r.done:
			state = "finished"
		}
		end := m.opts.Now()
		if r.done {
			end = r.finished
		}
		line := fmt.Sprintf("%s %s · %s · %s · case %s on %s", map[bool]string{true: "▶", false: " "}[i == v.cursor],
			Cut(r.playbook, 24), state, end.Sub(r.started).Round(100*time.Millisecond), r.caseID, Inert(names(r.targets)))
		if i == v.cursor {
			b.WriteString(m.st.head.Render(Cut(line, w)) + "\n")
		} else {
			b.WriteString(Cut(line, w) + "\n")
		}
	}
	r := v.selected()
	if r == nil {
		return b.String()
	}
	b.WriteString("\n")
	stepW := max(10, w-44)
	b.WriteString(m.st.head.Render(Fit("STEP", stepW)+" "+Fit("STATUS", 16)+" "+Fit("TIME", 8)+" "+"TRY") + "\n")
	for _, s := range r.steps {
		d := ""
		switch {
		case !s.ended.IsZero() && !s.started.IsZero():
			d = s.ended.Sub(s.started).Round(100 * time.Millisecond).String()
		case !s.started.IsZero():
			d = m.opts.Now().Sub(s.started).Round(time.Second).String()
		}
		st := s.status
		style := m.st.dim
		switch st {
		case "ok":
			style = m.st.good
		case "failed", "refused", "approval-missing":
			style = m.st.bad
		case "running", "needs approval":
			style = m.st.accent
		}
		name := s.step
		if len(r.targets) > 1 {
			name += " @" + shortTarget(r, s.target)
		}
		b.WriteString(Fit(name, stepW) + " " + style.Render(Fit(st, 16)) + " " + Fit(d, 8) + " " + fmt.Sprint(max(1, s.attempt)) + "\n")
		if s.status == "running" && s.prog != nil && s.prog.Known() {
			b.WriteString("  " + m.st.accent.Render(progressBar(*s.prog, s.progAt.Sub(s.started), w-3)) + "\n")
		} else if s.detail != "" && (s.status == "running" || s.status == "failed" || s.status == "refused") {
			b.WriteString("  " + m.st.dim.Render(Cut(activity(m, s)+s.detail, w-3)) + "\n")
		}
	}
	if r.done {
		b.WriteString("\n")
		if r.err != "" {
			for _, l := range Lines(r.err) {
				b.WriteString(m.st.bad.Render(Cut(l, w)) + "\n")
			}
		}
		b.WriteString(Cut(fmt.Sprintf("case %s · evidence: %s · e opens it", r.caseID, storeName(m)), w) + "\n")
	}
	b.WriteString(m.st.dim.Render(Cut("CLI: "+r.command, w)))
	return b.String()
}

func storeName(m *Model) string {
	if st := m.b.Store(); st != nil {
		return st.String()
	}
	return "(no store)"
}

// activity is a small moving bar for a step that reports progress without a
// total.
func activity(m *Model, s *stepState) string {
	n := m.spin % 8
	return "[" + strings.Repeat("·", n) + "■" + strings.Repeat("·", 7-n) + "] "
}

func shortTarget(r *runState, id string) string {
	for _, t := range r.targets {
		if t.ID == id {
			return t.Ref()
		}
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (v *runView) formView(m *Model, w, h int) string {
	f := v.form
	var b strings.Builder
	b.WriteString(m.st.head.Render(Cut("Run a playbook on "+names(f.targets), w)) + "\n\n")
	if f.chosen == nil {
		for i, p := range f.list {
			line := "  " + Fit(p.Name, 22) + " " + Cut(firstLine(p.Description), max(0, w-27))
			if i == f.cursor {
				line = m.st.sel.Render(Fit("> "+line[2:], w-1))
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n" + m.st.dim.Render("↑↓ choose · enter takes it · esc cancels"))
		return b.String()
	}
	b.WriteString("playbook " + Inert(f.chosen.Name) + "\n\n")
	for i, d := range f.chosen.Params {
		label := Fit(d.Name, 18)
		val := Inert(f.fields[i])
		if i == f.field {
			val = m.st.sel.Render(val + "▏")
		}
		b.WriteString(label + " " + val + "\n")
		if d.Description != "" {
			b.WriteString(m.st.dim.Render("  "+Cut(string(d.Type)+": "+firstLine(d.Description), w-3)) + "\n")
		}
	}
	b.WriteString("\n" + m.st.dim.Render("tab/↑↓ move · type to edit · enter on the last field reviews the run · esc cancels"))
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

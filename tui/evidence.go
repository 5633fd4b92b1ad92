package tui

import (
	"context"
	"errors"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/evidence"
)

// evidenceView browses the evidence store: the cases, one case's runs and
// artifacts with their digests and a verification result per artifact, and
// a captured filesystem diff (fsdiff.go). It needs no engine: offline, the
// console starts on it. Every store read is a command.
type evidenceView struct {
	focusCase string // a case to open when the view loads

	level evLevel

	cases       []CaseSummary
	casesLoaded bool
	casesErr    string
	nav         listNav
	filter      string
	typing      bool

	cs   *caseState
	diff *diffView
	pv   *preview
}

// evLevel is how deep the view is: esc goes back one.
type evLevel int

const (
	levelCases evLevel = iota
	levelCase
	levelDiff
	levelPreview
)

// caseState is one open case.
type caseState struct {
	id        string
	loaded    bool
	err       string
	noRun     bool // no finished run: the objects as stored, unsigned
	manifests []evidence.Manifest
	rows      []caseRow
	nav       listNav

	verifying bool
	report    *evidence.Report
	verifyErr string
	probs     map[string][]string // by object key
}

type caseRowKind int

const (
	rowRun caseRowKind = iota
	rowArtifact
	rowIncomplete
	rowProblem
)

// caseRow is one line of the case: a run, an artifact of it, something the
// run could not capture, or a problem verification found that is no
// artifact's.
type caseRow struct {
	kind caseRowKind
	run  int // index into manifests; -1 for none
	art  evidence.Artifact
	text string
	key  string
}

type casesMsg struct {
	gen   uint64
	cases []CaseSummary
	err   error
}

type caseMsg struct {
	gen       uint64
	id        string
	manifests []evidence.Manifest
	loose     []evidence.Object
	noRun     bool
	err       error
}

type verifyMsg struct {
	gen uint64
	id  string
	rep *evidence.Report
	err error
}

func newEvidenceView() *evidenceView { return &evidenceView{} }

func (v *evidenceView) title() string { return "evidence" }

func (v *evidenceView) capturing() bool {
	return (v.level == levelCases && v.typing) || (v.level == levelDiff && v.diff != nil && v.diff.typing)
}

func (v *evidenceView) keys() []keyHelp {
	return []keyHelp{
		{"↑↓ j k, pgup pgdn, g G", "move in every list and in a preview"},
		{"enter", "open a case, a capture's fs diff, a dir, a preview"},
		{"v", "verify the case: a result per artifact, the heads"},
		{"/, f", "filter as you type; f: added, changed, deleted"},
		{"space ← → h l, + -", "close / open a directory; every directory"},
		{"x", "preview as hex dump / as text"},
		{"ctrl+r; esc", "read again from the store; back a level"},
	}
}

// load lists the store's cases, and opens the case the run view asked for.
func (v *evidenceView) load(m *Model) tea.Cmd {
	gen := m.next("evidence/cases")
	b := m.b
	cmds := []tea.Cmd{m.call("evidence/cases", "listing cases", func(ctx context.Context) tea.Msg {
		cs, err := b.Cases(ctx)
		return casesMsg{gen: gen, cases: cs, err: err}
	})}
	if id := v.focusCase; id != "" {
		v.focusCase = ""
		cmds = append(cmds, v.openCase(m, id))
	}
	return tea.Batch(cmds...)
}

// openCase shows a case and reads its manifests.
func (v *evidenceView) openCase(m *Model, id string) tea.Cmd {
	v.cs = &caseState{id: id}
	v.diff, v.pv = nil, nil
	v.level = levelCase
	m.next("evidence/verify") // a verification of another case is stale
	gen := m.next("evidence/case")
	st := m.b.Store()
	return m.call("evidence/case", "reading case "+id, func(ctx context.Context) tea.Msg {
		if st == nil {
			return caseMsg{gen: gen, id: id, err: errors.New("no evidence store")}
		}
		ms, err := evidence.Manifests(ctx, st, id)
		var nr *evidence.NoRunError
		if errors.As(err, &nr) {
			objs, lerr := st.List(ctx, evidence.CasePrefix(id))
			return caseMsg{gen: gen, id: id, loose: objs, noRun: true, err: lerr}
		}
		return caseMsg{gen: gen, id: id, manifests: ms, err: err}
	})
}

// verify verifies the open case as `firebreak evidence verify` does.
func (v *evidenceView) verify(m *Model) tea.Cmd {
	cs := v.cs
	if cs == nil {
		return nil
	}
	cs.verifying, cs.verifyErr = true, ""
	gen := m.next("evidence/verify")
	b, id := m.b, cs.id
	return m.call("evidence/verify", "verifying case "+id, func(ctx context.Context) tea.Msg {
		rep, err := b.Verify(ctx, id)
		return verifyMsg{gen: gen, id: id, rep: rep, err: err}
	})
}

// back goes up a level; answers still on their way for the level left are
// stale.
func (v *evidenceView) back(m *Model) {
	switch v.level {
	case levelPreview:
		m.next("evidence/preview")
		v.level, v.pv = v.pv.back, nil
	case levelDiff:
		m.next("evidence/diff")
		m.next("evidence/preview")
		v.level, v.diff = levelCase, nil
	case levelCase:
		m.next("evidence/case")
		m.next("evidence/verify")
		v.level, v.cs = levelCases, nil
	}
}

func cancelled(err error) bool {
	return errors.Is(err, context.Canceled)
}

func (v *evidenceView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case casesMsg:
		if !m.current("evidence/cases", msg.gen) {
			return nil
		}
		switch {
		case cancelled(msg.err):
			v.casesErr = "listing cancelled: ctrl+r lists again"
		case msg.err != nil:
			v.casesErr = msg.err.Error()
			m.fail("listing cases: %v", msg.err)
		default:
			v.cases, v.casesLoaded, v.casesErr = msg.cases, true, ""
		}
	case caseMsg:
		cs := v.cs
		if !m.current("evidence/case", msg.gen) || cs == nil || cs.id != msg.id {
			return nil
		}
		switch {
		case cancelled(msg.err):
			cs.err = "reading cancelled: ctrl+r reads again"
		case msg.err != nil:
			cs.err = msg.err.Error()
			m.fail("case %s: %v", cs.id, msg.err)
		default:
			cs.loaded, cs.err, cs.noRun, cs.manifests = true, "", msg.noRun, msg.manifests
			cs.build(msg.loose)
		}
	case verifyMsg:
		cs := v.cs
		if !m.current("evidence/verify", msg.gen) || cs == nil || cs.id != msg.id {
			return nil
		}
		cs.verifying = false
		switch {
		case cancelled(msg.err):
			cs.verifyErr = "verification cancelled"
		case msg.err != nil:
			cs.verifyErr = msg.err.Error()
			m.fail("verify %s: %v", cs.id, msg.err)
		default:
			cs.setReport(msg.rep)
			if msg.rep.OK() {
				m.notify("case %s verified: every digest, signature and custody link holds", cs.id)
			} else {
				m.fail("case %s: verification found %d problem(s)", cs.id, len(msg.rep.Problems))
			}
		}
	case diffMsg:
		d := v.diff
		if !m.current("evidence/diff", msg.gen) || d == nil || d.key != msg.key {
			return nil
		}
		switch {
		case cancelled(msg.err):
			d.err = "reading cancelled"
		case msg.err != nil:
			d.err = msg.err.Error()
			m.fail("fs diff: %v", msg.err)
		default:
			d.loaded, d.err = true, ""
			d.root, d.nodes, d.counts, d.capped = msg.root, msg.nodes, msg.counts, msg.capped
			d.rows, d.dirty = nil, true
		}
	case previewMsg:
		p := v.pv
		if !m.current("evidence/preview", msg.gen) || p == nil {
			return nil
		}
		p.loaded = true
		switch {
		case cancelled(msg.err):
			p.err = "reading cancelled"
		case msg.err != nil:
			p.err = msg.err.Error()
		default:
			p.data, p.total, p.cut, p.compressed = msg.data, msg.total, msg.cut, msg.compressed
			p.hex = looksBinary(msg.data, msg.cut)
		}
	case tea.KeyMsg:
		if m.active != screenEvidence {
			return nil
		}
		// (the console splits runes read together into keys of their own)
		return v.key(m, msg)
	case tea.MouseMsg:
		if m.active != screenEvidence || msg.Action != tea.MouseActionPress {
			return nil
		}
		d := 0
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			d = -3
		case tea.MouseButtonWheelDown:
			d = 3
		default:
			return nil
		}
		switch v.level {
		case levelCases:
			v.nav.move(d, len(v.visibleCases()))
		case levelCase:
			v.cs.nav.move(d, len(v.cs.rows))
		case levelDiff:
			v.diff.nav.move(d, len(v.diff.visible()))
		case levelPreview:
			v.pv.off = max(0, v.pv.off+d)
		}
	}
	return nil
}

func (v *evidenceView) key(m *Model, k tea.KeyMsg) tea.Cmd {
	switch v.level {
	case levelPreview:
		if v.previewKey(m, k) {
			v.back(m)
		}
		return nil
	case levelDiff:
		cmd, back := v.diffKey(m, k)
		if back {
			v.back(m)
		}
		return cmd
	case levelCase:
		return v.caseKey(m, k)
	}
	if v.typing {
		if filterKey(&v.filter, &v.typing, k) {
			v.nav.cursor = 0
		}
		return nil
	}
	list := v.visibleCases()
	if v.nav.key(k.String(), len(list)) {
		return nil
	}
	switch k.String() {
	case "/":
		v.typing = true
	case "esc":
		v.filter = ""
	case "ctrl+r":
		return v.load(m)
	case "enter", "v":
		if v.nav.cursor < len(list) {
			cmd := v.openCase(m, list[v.nav.cursor].ID)
			if k.String() == "v" {
				return tea.Batch(cmd, v.verify(m))
			}
			return cmd
		}
	}
	return nil
}

func (v *evidenceView) caseKey(m *Model, k tea.KeyMsg) tea.Cmd {
	cs := v.cs
	if cs.nav.key(k.String(), len(cs.rows)) {
		return nil
	}
	switch k.String() {
	case "esc":
		v.back(m)
	case "v":
		return v.verify(m)
	case "ctrl+r":
		return v.openCase(m, cs.id)
	case "enter":
		if cs.nav.cursor >= len(cs.rows) {
			return nil
		}
		r := cs.rows[cs.nav.cursor]
		if r.kind != rowArtifact {
			return nil
		}
		if changes, layer, ok := cs.diffOf(r.art.Key); ok {
			return v.openDiff(m, cs.id, changes, layer)
		}
		return v.previewObject(m, r.art)
	}
	return nil
}

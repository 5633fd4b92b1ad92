package tui

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

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

// diffOf finds the capture an artifact belongs to: its changes.json (a
// volume's files.json) and the layer tar beside it.
func (cs *caseState) diffOf(key string) (changes, layer string, ok bool) {
	dir, base := path.Split(key)
	isList := base == "changes.json" || base == "files.json"
	isTar := strings.HasPrefix(base, "layer.tar") || strings.HasPrefix(base, "files.tar")
	if !isList && !isTar {
		return "", "", false
	}
	for _, r := range cs.rows {
		if r.kind != rowArtifact {
			continue
		}
		d, b := path.Split(r.art.Key)
		if d != dir {
			continue
		}
		switch {
		case b == "changes.json" || b == "files.json":
			changes = r.art.Key
		case strings.HasPrefix(b, "layer.tar") || strings.HasPrefix(b, "files.tar"):
			layer = r.art.Key
		}
	}
	return changes, layer, changes != ""
}

// build lays out the case's rows: each run, what it could not capture,
// its artifacts; then the problems that are no artifact's or run's.
func (cs *caseState) build(loose []evidence.Object) {
	cs.rows = cs.rows[:0]
	for i, mf := range cs.manifests {
		cs.rows = append(cs.rows, caseRow{kind: rowRun, run: i})
		for _, in := range mf.Incomplete {
			cs.rows = append(cs.rows, caseRow{kind: rowIncomplete, run: i, text: in})
		}
		for _, a := range mf.Artifacts {
			cs.rows = append(cs.rows, caseRow{kind: rowArtifact, run: i, art: a})
		}
	}
	for _, o := range loose {
		cs.rows = append(cs.rows, caseRow{kind: rowArtifact, run: -1, art: evidence.Artifact{Key: o.Key, Size: o.Size, SHA256: o.SHA256}})
	}
	if cs.report != nil {
		tied := map[string]bool{}
		for _, r := range cs.rows {
			if r.kind == rowArtifact {
				tied[r.art.Key] = true
			}
		}
		for _, p := range cs.report.Problems {
			if tied[p.Key] || cs.runOfKey(p.Key) >= 0 {
				continue
			}
			cs.rows = append(cs.rows, caseRow{kind: rowProblem, run: -1, key: p.Key, text: p.What})
		}
	}
	cs.nav.cursor = min(cs.nav.cursor, max(0, len(cs.rows)-1))
}

func (cs *caseState) setReport(rep *evidence.Report) {
	cs.report = rep
	cs.probs = map[string][]string{}
	for _, p := range rep.Problems {
		cs.probs[p.Key] = append(cs.probs[p.Key], p.What)
	}
	var loose []evidence.Object
	if cs.noRun {
		for _, r := range cs.rows {
			if r.kind == rowArtifact {
				loose = append(loose, evidence.Object{Key: r.art.Key, Size: r.art.Size, SHA256: r.art.SHA256})
			}
		}
	}
	cs.build(loose)
}

// runOfKey is the run whose own objects (manifest, signature, custody log)
// key is, or -1.
func (cs *caseState) runOfKey(key string) int {
	for i, mf := range cs.manifests {
		if strings.HasPrefix(key, evidence.CasePrefix(cs.id)+"runs/"+mf.Run+"/") {
			return i
		}
	}
	return -1
}

// runProblems are the problems of a run's own objects.
func (cs *caseState) runProblems(i int) []string {
	var out []string
	if cs.report == nil {
		return nil
	}
	for _, p := range cs.report.Problems {
		if cs.runOfKey(p.Key) == i {
			out = append(out, path.Base(p.Key)+": "+p.What)
		}
	}
	return out
}

// result is the verification's word on a row: "" before any.
func (cs *caseState) result(r caseRow) string {
	if cs.report == nil {
		return ""
	}
	switch r.kind {
	case rowArtifact:
		if len(cs.probs[r.art.Key]) > 0 {
			return "FAIL"
		}
		if r.run < 0 {
			return "-"
		}
		return "OK"
	case rowRun:
		if len(cs.runProblems(r.run)) > 0 {
			return "FAIL"
		}
		return "OK"
	case rowProblem:
		return "FAIL"
	}
	return ""
}

func (v *evidenceView) visibleCases() []CaseSummary {
	if v.filter == "" {
		return v.cases
	}
	f := strings.ToLower(v.filter)
	var out []CaseSummary
	for _, c := range v.cases {
		if strings.Contains(strings.ToLower(Inert(c.ID)), f) {
			out = append(out, c)
		}
	}
	return out
}

func (v *evidenceView) view(m *Model, w, h int) string {
	switch v.level {
	case levelPreview:
		if v.pv != nil {
			return v.previewView(m, w, h)
		}
	case levelDiff:
		if v.diff != nil {
			return v.diffViewDraw(m, w, h)
		}
	case levelCase:
		if v.cs != nil {
			return v.caseView(m, w, h)
		}
	}
	return v.casesView(m, w, h)
}

func (v *evidenceView) casesView(m *Model, w, h int) string {
	var b strings.Builder
	list := v.visibleCases()
	switch {
	case v.typing:
		b.WriteString("/" + Cut(v.filter, w-3) + "▏")
	case v.filter != "":
		b.WriteString(m.st.dim.Render(Cut(fmt.Sprintf("filter: %s  (%d of %d; esc clears)", Inert(v.filter), len(list), len(v.cases)), w)))
	default:
		b.WriteString(m.st.dim.Render(Cut(fmt.Sprintf("%s in %s · enter opens · v verifies · / filters", plural(len(v.cases), "case"), Inert(storeName(m))), w)))
	}
	b.WriteString("\n")
	idW := max(8, w-2-5-6-10-21)
	b.WriteString(m.st.head.Render(Fit("  "+Fit("CASE", idW)+" "+fmt.Sprintf("%4s %5s %9s ", "RUNS", "ARTS", "SIZE")+" UPDATED (UTC)", w)) + "\n")
	if !v.casesLoaded {
		switch {
		case v.casesErr != "":
			b.WriteString(m.st.bad.Render(Cut("cannot list cases: "+v.casesErr, w)) + "\n" + m.st.dim.Render("ctrl+r lists again"))
		default:
			b.WriteString(m.st.dim.Render("listing cases…"))
		}
		return b.String()
	}
	if len(list) == 0 {
		msg := "no case in the store"
		if v.filter != "" {
			msg = "no case matches"
		}
		b.WriteString(m.st.dim.Render(msg))
		return b.String()
	}
	from, to := v.nav.window(len(list), max(1, h-2))
	for i := from; i < to; i++ {
		c := list[i]
		updated := "-"
		if !c.Updated.IsZero() {
			updated = c.Updated.UTC().Format("2006-01-02 15:04:05")
		}
		line := "  " + Fit(c.ID, idW) + " " + fmt.Sprintf("%4d %5d %9s ", c.Runs, c.Artifacts, evBytes(c.Bytes)) + " " + updated
		line = Fit(line, w)
		if i == v.nav.cursor {
			line = m.st.sel.Render(markCursor(line))
		}
		b.WriteString(line)
		if i < to-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (v *evidenceView) caseView(m *Model, w, h int) string {
	cs := v.cs
	var b strings.Builder
	var arts int
	var bytes int64
	for _, r := range cs.rows {
		if r.kind == rowArtifact {
			arts++
			bytes += r.art.Size
		}
	}
	head := fmt.Sprintf("case %s", Inert(cs.id))
	if cs.loaded {
		head += fmt.Sprintf(" · %s · %s · %s", plural(len(cs.manifests), "run"), plural(arts, "artifact"), evBytes(bytes))
	}
	b.WriteString(m.st.head.Render(Cut(head, w)) + "\n")
	if !cs.loaded {
		if cs.err != "" {
			b.WriteString(m.st.bad.Render(Cut(cs.err, w)) + "\n" + m.st.dim.Render("ctrl+r reads again · esc goes back"))
		} else {
			b.WriteString(m.st.dim.Render("reading the case's manifests…"))
		}
		return b.String()
	}
	// The verdict and the custody heads.
	switch {
	case cs.verifying:
		b.WriteString(m.st.accent.Render(Cut("verifying: every object read back against the signed manifests…", w)))
	case cs.verifyErr != "":
		b.WriteString(m.st.bad.Render(Cut("cannot verify: "+cs.verifyErr, w)))
	case cs.report != nil:
		rep := cs.report
		var signed []string
		for _, k := range rep.Keys {
			if k.Runs > 0 {
				pin := "not pinned"
				if k.Pinned {
					pin = "pinned"
				}
				signed = append(signed, fmt.Sprintf("%d run(s) signed by %.12s… (%s, %s)", k.Runs, Inert(k.Key), Inert(k.Source), pin))
			}
		}
		what := fmt.Sprintf("%s, %s, %s", plural(rep.Runs, "run"), plural(rep.Artifacts, "artifact"), evBytes(rep.Bytes))
		if len(signed) > 0 {
			what += "; " + strings.Join(signed, "; ")
		}
		if rep.OK() {
			b.WriteString(m.st.good.Render(Cut("VERIFIED OK: "+what, w)))
		} else {
			b.WriteString(m.st.bad.Render(Cut(fmt.Sprintf("VERIFY FAILED: %d problem(s) · %s", len(rep.Problems), what), w)))
		}
	case cs.noRun:
		b.WriteString(m.st.warn.Render(Cut("no finished run: the objects as stored, with no signed manifest", w)))
	default:
		b.WriteString(m.st.dim.Render(Cut("not verified · v verifies (digests, signatures, custody chain)", w)))
	}
	b.WriteString("\n")
	b.WriteString(m.st.dim.Render(Cut(cs.headsLine(), w)) + "\n")
	keyW := max(10, w-2-10-13-6)
	b.WriteString(m.st.head.Render(Fit("  "+Fit("RUN / ARTIFACT", keyW)+" "+fmt.Sprintf("%9s", "SIZE")+" "+Fit("SHA256", 12)+" "+"CHECK", w)) + "\n")
	detailH := 2
	if h >= 30 {
		detailH = 3
	}
	bodyH := max(1, h-4-detailH)
	from, to := cs.nav.window(len(cs.rows), bodyH)
	for i := from; i < to; i++ {
		r := cs.rows[i]
		res := cs.result(r)
		var line string
		switch r.kind {
		case rowRun:
			line = Fit(cs.runLine(r.run), w-6) + " " + Fit(res, 5)
		case rowIncomplete:
			line = "    " + Fit("! incomplete: "+Inert(r.text), w-4)
		case rowArtifact:
			digest := "-"
			if r.art.SHA256 != "" {
				digest = r.art.SHA256
			}
			line = "  " + cutLeft(shortKey(cs.id, r.art.Key), keyW) + " " + fmt.Sprintf("%9s", evBytes(r.art.Size)) + " " + digest12(digest) + " " + Fit(res, 5)
		case rowProblem:
			line = Fit("  ✗ "+Inert(shortKey(cs.id, r.key))+": "+Inert(r.text), w)
		}
		line = Fit(line, w)
		switch {
		case i == cs.nav.cursor:
			line = m.st.sel.Render(markCursor(line))
		case res == "FAIL":
			line = m.st.bad.Render(line)
		case r.kind == rowRun:
			line = m.st.head.Render(line)
		case r.kind == rowIncomplete:
			line = m.st.warn.Render(line)
		}
		b.WriteString(line + "\n")
	}
	for i := to - from; i < bodyH; i++ {
		b.WriteString("\n")
	}
	if cs.nav.cursor < len(cs.rows) {
		for i, l := range cs.detail(cs.rows[cs.nav.cursor], w, detailH) {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(m.st.dim.Render(l))
		}
	}
	return b.String()
}

// headsLine names the head of each host's custody chain: verified ones
// from the report, else as the manifests say.
func (cs *caseState) headsLine() string {
	if cs.report != nil && len(cs.report.Heads) > 0 {
		var hs []string
		for _, h := range cs.report.Heads {
			hs = append(hs, fmt.Sprintf("%s %s (%s)", Inert(h.Host), Inert(h.Head), plural(h.Runs, "run")))
		}
		return "custody heads: " + strings.Join(hs, "; ")
	}
	last := map[string]string{}
	var hosts []string
	for _, mf := range cs.manifests {
		if _, ok := last[mf.Host]; !ok {
			hosts = append(hosts, mf.Host)
		}
		last[mf.Host] = mf.CustodyHead
	}
	if len(hosts) == 0 {
		return "custody heads: none"
	}
	var hs []string
	for _, h := range hosts {
		hs = append(hs, Inert(h)+" "+Inert(last[h]))
	}
	return "custody heads (unverified): " + strings.Join(hs, "; ")
}

func (cs *caseState) runLine(i int) string {
	mf := cs.manifests[i]
	s := fmt.Sprintf("run %s · %s · %s · %s", Inert(mf.Run), Inert(mf.Host), Inert(mf.Actor), mf.Started.UTC().Format("2006-01-02 15:04:05"))
	if !mf.Finished.IsZero() && !mf.Started.IsZero() {
		s += " (" + mf.Finished.Sub(mf.Started).Round(time.Second).String() + ")"
	}
	if len(mf.Targets) > 0 {
		s += " · " + Inert(strings.Join(mf.Targets, ","))
	}
	if n := len(mf.Incomplete); n > 0 {
		s += fmt.Sprintf(" · %d incomplete", n)
	}
	return s
}

// detail is what the case says of the row under the cursor, in full.
func (cs *caseState) detail(r caseRow, w, lines int) []string {
	var parts []string
	switch r.kind {
	case rowRun:
		mf := cs.manifests[r.run]
		parts = append(parts, "run "+mf.Run, "host "+mf.Host, "actor "+mf.Actor, "tool "+mf.Tool,
			"started "+mf.Started.UTC().Format(time.RFC3339), "finished "+mf.Finished.UTC().Format(time.RFC3339))
		if len(mf.Targets) > 0 {
			parts = append(parts, "targets "+strings.Join(mf.Targets, ", "))
		}
		parts = append(parts, fmt.Sprintf("%d artifacts", len(mf.Artifacts)), "custody head "+mf.CustodyHead)
		parts = append(parts, cs.runProblems(r.run)...)
	case rowIncomplete:
		parts = append(parts, "not captured: "+r.text)
	case rowArtifact:
		parts = append(parts, r.art.Key)
		if ps := cs.probs[r.art.Key]; len(ps) > 0 {
			parts = append(parts, ps...)
		} else if cs.report != nil && r.run >= 0 {
			parts = append(parts, "digest, size and custody record as signed")
		}
		if r.art.SHA256 != "" {
			parts = append(parts, "sha256 "+r.art.SHA256)
		}
		parts = append(parts, fmt.Sprintf("%d bytes", r.art.Size))
		if r.art.Collector != "" {
			parts = append(parts, "collector "+r.art.Collector)
		}
		if _, _, ok := cs.diffOf(r.art.Key); ok {
			parts = append(parts, "enter browses the fs diff")
		} else {
			parts = append(parts, "enter previews it")
		}
	case rowProblem:
		parts = append(parts, r.key, r.text)
	}
	return wrapParts(parts, w, lines)
}

// shortKey is an object key for a row: without the case's prefix, a
// container's 64-digit ID cut to 12.
func shortKey(caseID, key string) string {
	rest := strings.TrimPrefix(key, evidence.CasePrefix(caseID))
	first, tail, ok := strings.Cut(rest, "/")
	if ok && len(first) == 64 && strings.Trim(first, "0123456789abcdef") == "" {
		return first[:12] + "/" + tail
	}
	return rest
}

// cutLeft makes s inert and at most width cells, keeping its end (a key's
// file name says more than its start).
func cutLeft(s string, width int) string {
	return Fit(keepEnd(s, width), width)
}

// keepEnd makes s inert and at most width cells, cutting its start.
func keepEnd(s string, width int) string {
	s = Inert(s)
	if width <= 0 {
		return ""
	}
	drop := Width(s) - width
	if drop <= 0 {
		return s
	}
	drop++ // room for the ellipsis
	runes := []rune(s)
	for len(runes) > 0 && drop > 0 {
		drop -= Width(string(runes[0]))
		runes = runes[1:]
	}
	return "…" + string(runes)
}

// plural counts things: "1 run", "2 runs".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// evBytes is a size for people.
func evBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit && exp < 5; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// listNav is a cursor over a list drawn in a window of rows.
type listNav struct {
	cursor, top, height int
}

func (n *listNav) move(d, count int) {
	n.cursor = max(0, min(count-1, n.cursor+d))
}

// key moves the cursor for the keys every list shares.
func (n *listNav) key(k string, count int) bool {
	page := max(1, n.height-1)
	switch k {
	case "up", "k":
		n.move(-1, count)
	case "down", "j":
		n.move(1, count)
	case "pgup", "ctrl+b":
		n.move(-page, count)
	case "pgdown", "ctrl+f":
		n.move(page, count)
	case "home", "g":
		n.cursor = 0
	case "end", "G":
		n.move(count, count)
	default:
		return false
	}
	return true
}

// window keeps the cursor in view of h rows and returns the rows to draw.
func (n *listNav) window(count, h int) (from, to int) {
	n.height = h
	n.cursor = max(0, min(n.cursor, count-1))
	if n.cursor < n.top {
		n.top = n.cursor
	}
	if n.cursor >= n.top+h {
		n.top = n.cursor - h + 1
	}
	n.top = max(0, min(n.top, count-h))
	return n.top, min(count, n.top+h)
}

// filterKey edits a filter being typed; it reports whether the text
// changed.
func filterKey(filter *string, typing *bool, k tea.KeyMsg) bool {
	switch k.Type {
	case tea.KeyEsc:
		*typing = false
		changed := *filter != ""
		*filter = ""
		return changed
	case tea.KeyEnter, tea.KeyUp, tea.KeyDown:
		*typing = false
	case tea.KeyBackspace:
		if r := []rune(*filter); len(r) > 0 {
			*filter = string(r[:len(r)-1])
			return true
		}
	case tea.KeySpace:
		*filter += " "
		return true
	case tea.KeyRunes:
		*filter += string(k.Runes)
		return true
	}
	return false
}

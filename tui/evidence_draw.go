package tui

import (
	"fmt"
	"strings"
)

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
				signed = append(signed, fmt.Sprintf("%d run(s) signed by %.12s… (%s: %s)", k.Runs, Inert(k.Key), pin, Inert(k.Source)))
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

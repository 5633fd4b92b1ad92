package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// diffView draws the tree: kind, type, mode, size, digest (and on a wide
// screen owner and modification time), then the path indented.
func (v *evidenceView) diffViewDraw(m *Model, w, h int) string {
	d := v.diff
	var b strings.Builder
	title := "fs diff " + shortKey(d.caseID, d.key)
	if !d.loaded {
		b.WriteString(m.st.head.Render(Cut(title, w)) + "\n")
		if d.err != "" {
			b.WriteString(m.st.bad.Render(Cut(d.err, w)) + "\n" + m.st.dim.Render("ctrl+r reads again · esc goes back"))
		} else {
			b.WriteString(m.st.dim.Render("reading changes…"))
		}
		return b.String()
	}
	changes := 0
	for _, n := range d.counts {
		changes += n
	}
	summary := fmt.Sprintf("%d changes: %d added, %d changed, %d deleted", changes, d.counts["A"], d.counts["C"], d.counts["D"])
	if d.capped {
		summary += fmt.Sprintf(" (first %d only)", maxDiffEntries)
	}
	title = "fs diff " + keepEnd(shortKey(d.caseID, d.key), max(12, w-Width(summary)-3-8))
	b.WriteString(m.st.head.Render(Cut(title, w)) + m.st.dim.Render(Cut(" · "+summary, max(0, w-Width(title)))) + "\n")
	rows := d.visible()
	switch {
	case d.typing:
		b.WriteString("/" + Cut(d.filter, w-3) + "▏\n")
	case d.filtering():
		what := map[string]string{"": "every kind", "A": "added", "C": "changed", "D": "deleted"}[d.show]
		if d.filter != "" {
			what += ", path has " + Inert(d.filter)
		}
		b.WriteString(m.st.dim.Render(Cut(fmt.Sprintf("showing %s: %d rows · esc clears", what, len(rows)), w)) + "\n")
	default:
		b.WriteString(m.st.dim.Render(Cut("enter opens a directory or previews a file · f kinds · / filter · ? help", w)) + "\n")
	}
	wide := w >= 120
	head := Fit("K", 1) + " " + Fit("TYPE", 8) + " " + Fit("MODE", 4) + " " + fmt.Sprintf("%9s", "SIZE") + " " + Fit("DIGEST", 12) + " "
	if wide {
		head += Fit("UID:GID", 9) + " " + Fit("MODIFIED (UTC)", 17) + " "
	}
	nameW := max(0, w-Width(head))
	b.WriteString(m.st.head.Render(Fit(head+"PATH", w)) + "\n")
	detailH := 2
	bodyH := max(1, h-3-detailH)
	if len(rows) == 0 {
		msg := "no change recorded"
		if d.filtering() {
			msg = "nothing matches"
		}
		b.WriteString(m.st.dim.Render(msg))
		return b.String()
	}
	from, to := d.nav.window(len(rows), bodyH)
	for i := from; i < to; i++ {
		n := rows[i]
		line := fsRow(n, wide, nameW)
		switch {
		case i == d.nav.cursor:
			line = m.st.sel.Render(markCursor(line))
		case n.ch == nil:
			line = m.st.dim.Render(line)
		case n.ch.Kind == "A":
			line = m.st.good.Render(line)
		case n.ch.Kind == "D":
			line = m.st.bad.Render(line)
		}
		b.WriteString(line + "\n")
	}
	for i := to - from; i < bodyH; i++ {
		b.WriteString("\n")
	}
	if n := d.current(); n != nil {
		for i, l := range fsDetail(n, w, detailH) {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(m.st.dim.Render(l))
		}
	}
	return b.String()
}

func fsRow(n *fsNode, wide bool, nameW int) string {
	kind, typ, mode, size, digest := " ", "dir", "", "-", "-"
	var owner, mtime string
	if c := n.ch; c != nil {
		kind, typ, mode = c.Kind, c.Type, c.Mode
		if c.Type == "file" || c.Type == "hardlink" {
			size = evBytes(c.Size)
		}
		if c.SHA256 != "" {
			digest = c.SHA256
		}
		if c.Kind != "D" {
			owner = fmt.Sprintf("%d:%d", c.UID, c.GID)
		}
		if !c.MTime.IsZero() {
			mtime = c.MTime.UTC().Format("2006-01-02 15:04")
		}
	}
	var b strings.Builder
	b.WriteString(Fit(kind, 1) + " " + Fit(typ, 8) + " " + Fit(mode, 4) + " " + fmt.Sprintf("%9s", Cut(size, 9)) + " " + digest12(digest) + " ")
	if wide {
		b.WriteString(Fit(owner, 9) + " " + Fit(mtime, 17) + " ")
	}
	marker := "  "
	if len(n.kids) > 0 {
		marker = "▾ "
		if !n.open {
			marker = "▸ "
		}
	}
	name := strings.Repeat("  ", max(0, n.depth)) + marker + Inert(n.name)
	if c := n.ch; c != nil && c.Link != "" {
		switch c.Type {
		case "symlink":
			name += " → " + Inert(c.Link)
		case "hardlink":
			name += " ⇒ " + Inert(c.Link)
		}
	}
	b.WriteString(Fit(name, nameW))
	return b.String()
}

// fsDetail is what the browser says of the path under the cursor.
func fsDetail(n *fsNode, w, lines int) []string {
	parts := []string{n.path}
	c := n.ch
	if c == nil {
		parts = append(parts, "not in changes.json: only paths below it changed")
	} else {
		parts = append(parts, kindWord(c.Kind)+" "+c.Type)
		if c.SHA256 != "" {
			parts = append(parts, "sha256 "+c.SHA256)
		}
		if c.Type == "file" && c.Captured != c.Size {
			parts = append(parts, fmt.Sprintf("captured %d of %d bytes", c.Captured, c.Size))
		}
		for _, t := range []struct {
			name string
			at   time.Time
		}{{"mtime", c.MTime}, {"ctime", c.CTime}, {"btime", c.BTime}} {
			if !t.at.IsZero() {
				parts = append(parts, t.name+" "+t.at.UTC().Format(time.RFC3339))
			}
		}
		if c.Device != "" {
			parts = append(parts, "device "+c.Device)
		}
		if c.Opaque {
			parts = append(parts, "opaque directory")
		}
		if len(c.Xattrs) > 0 {
			parts = append(parts, fmt.Sprintf("%d xattrs", len(c.Xattrs)))
		}
		if c.Note != "" {
			parts = append(parts, c.Note)
		}
	}
	return wrapParts(parts, w, lines)
}

// wrapParts makes parts inert, joins them with " · " and wraps the result
// over at most lines lines of w cells, the last cut with an ellipsis.
func wrapParts(parts []string, w, lines int) []string {
	if w <= 0 || lines <= 0 {
		return nil
	}
	s := strings.Join(inertAll(parts), " · ")
	out := strings.Split(ansi.Hardwrap(s, w, true), "\n")
	if len(out) > lines {
		rest := strings.Join(out[lines-1:], "")
		out = append(out[:lines-1], Cut(rest, w))
	}
	return out
}

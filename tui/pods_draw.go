package tui

import (
	"fmt"
	"strconv"
	"strings"

	"firebreak/collect"
)

// Drawing the pod grouping: its columns' widths and each pod's cells.

// podWidths are the pod grouping's columns for a screen w cells wide, pod
// targets up to longest cells: the engine goes below 100 cells and the
// finding when less than 8 cells are left for it; the pod column grows
// into the finding's room down to 24 cells of it.
func podWidths(w, longest, engineW int) map[string]int {
	ws := map[string]int{"RISK": 5, "POD": 20, "MEMBERS": 12, "STATE": 8, "FIREBREAK": 24}
	used := 2 + 6 + 21 + 13 + 9 + 25
	if w >= 100 {
		ew := min(max(engineW, 6), 18)
		ws["ENGINE"], ws["MEMBERS"], ws["FIREBREAK"] = ew, 18, 34
		used += ew + 1 + 6 + 10
	}
	ws["FINDING"] = max(0, w-used-1)
	if ws["FINDING"] < 8 {
		ws["POD"] += ws["FINDING"]
		ws["FINDING"] = 0
	}
	if grow := min(longest-ws["POD"], ws["FINDING"]-24, 40); grow > 0 {
		ws["POD"] += grow
		ws["FINDING"] -= grow
	}
	return ws
}

func (g *podGroup) view(m *Model, f *fleetView, w, h int) string {
	rows := g.visible(f)
	var b strings.Builder
	switch {
	case g.typing:
		b.WriteString("/" + Cut(g.filter, w-3) + "▏")
	case g.filter != "":
		b.WriteString(m.st.dim.Render("filter: ") + Cut(g.filter, w-30) + m.st.dim.Render(fmt.Sprintf("  (%d of %d pods; esc clears)", len(rows), len(g.rows))))
	default:
		b.WriteString(m.st.dim.Render(Cut(fmt.Sprintf("%d pods · sorted by %s · P containers · / filters · ? help", len(g.rows), strings.ToLower(podColumns[g.sortCol])), w)))
	}
	b.WriteString("\n")
	ws := podWidths(w, g.longest, f.engineW)
	order := []string{"RISK", "POD", "ENGINE", "MEMBERS", "STATE", "FIREBREAK", "FINDING"}
	var head strings.Builder
	head.WriteString("  ")
	for _, c := range order {
		if ws[c] > 0 {
			label := c
			if c == podColumns[g.sortCol] {
				label += map[bool]string{true: "↑", false: "↓"}[g.asc]
			}
			head.WriteString(Fit(label, ws[c]) + " ")
		}
	}
	b.WriteString(m.st.head.Render(head.String()) + "\n")
	bodyH := max(1, h-2)
	g.height = bodyH
	if len(rows) == 0 {
		b.WriteString(m.st.dim.Render(Cut(g.podsEmpty(m, f), w)))
		return b.String()
	}
	if g.cursor < g.top {
		g.top = g.cursor
	}
	if g.cursor >= g.top+bodyH {
		g.top = g.cursor - bodyH + 1
	}
	g.top = max(0, min(g.top, len(rows)-bodyH))
	for i := g.top; i < len(rows) && i < g.top+bodyH; i++ {
		r := rows[i]
		var line strings.Builder
		if i == g.cursor {
			line.WriteString("> ")
		} else {
			line.WriteString("  ")
		}
		for _, c := range order {
			if ws[c] > 0 {
				line.WriteString(Fit(r.cell(c), ws[c]) + " ")
			}
		}
		s := line.String()
		switch {
		case i == g.cursor:
			s = m.st.sel.Render(s)
		case len(r.Restarts) > 0, r.drift:
			s = m.st.bad.Render(s)
		case len(r.Held) > 0:
			s = m.st.warn.Render(s)
		case r.sev == collect.Critical || r.sev == collect.High:
			s = m.st.bad.Render(s)
		}
		b.WriteString(s)
		if i < len(rows)-1 && i < g.top+bodyH-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (r *podRow) cell(col string) string {
	switch col {
	case "RISK":
		if !r.assessed {
			return "…"
		}
		return strconv.Itoa(r.score)
	case "POD":
		return r.Ref()
	case "ENGINE":
		return engineLabel(r.Engine)
	case "MEMBERS":
		return r.members()
	case "STATE":
		return r.state()
	case "FIREBREAK":
		return r.firebreak()
	case "FINDING":
		if r.finding == "" && r.assessed {
			return "-"
		}
		return r.finding
	}
	return ""
}

package tui

import (
	"fmt"
	"strconv"
	"strings"

	"firebreak/collect"
)

// Drawing the fleet: its columns' widths for the screen, and each row's
// cells.

// widths of the fleet's columns for a screen w cells wide, names up to
// longest cells (inPod beside a POD column, where a pod's container shows
// its name in the pod), pods (NS/NAME) up to podW cells (0 with no pod's
// container); a column that does not fit is dropped (0), the pod's first
// (it takes the finding's room only while 24 cells of it are left), and
// the name column grows into the finding's room down to 24 cells of it.
func fleetWidths(w, longest, inPod, engineW, podW int) map[string]int {
	ew := min(max(engineW, 6), 18) // containerd namespaces side by side need theirs shown
	ws := map[string]int{"RISK": 5, "NAME": 20, "ENGINE": ew, "STATE": 7, "FIREBREAK": 16}
	used := 2 + 5 + 20 + ew + 7 + 16 + 5
	if w >= 100 {
		ws["ID"] = 12
		used += 13
	}
	if w >= 120 {
		ws["IMAGE"] = 24
		used += 25
	}
	if w < 80 {
		ws["ENGINE"], used = 0, used-ew-1
	}
	ws["FINDING"] = max(0, w-used-1)
	if pw := min(max(podW, 8), 30); podW > 0 && ws["FINDING"]-pw-1 >= 24 {
		ws["POD"] = pw
		ws["FINDING"] -= pw + 1
		longest = inPod
	}
	if grow := min(longest-ws["NAME"], ws["FINDING"]-24, 40); grow > 0 {
		ws["NAME"] += grow
		ws["FINDING"] -= grow
	}
	return ws
}

func (f *fleetView) view(m *Model, w, h int) string {
	if f.pods.on {
		return f.pods.view(m, f, w, h)
	}
	rows := f.visible()
	var b strings.Builder
	// the filter line
	switch {
	case f.typing:
		b.WriteString("/" + Cut(f.filter, w-3) + "▏")
	case f.filter != "":
		b.WriteString(m.st.dim.Render("filter: ") + Cut(f.filter, w-30) + m.st.dim.Render(fmt.Sprintf("  (%d of %d; esc clears)", len(rows), len(f.rows))))
	case !f.loaded:
		b.WriteString(m.st.dim.Render("listing containers…"))
	default:
		sel := ""
		if len(f.selected) > 0 {
			sel = fmt.Sprintf(", %d selected", len(f.selected))
		}
		b.WriteString(m.st.dim.Render(fmt.Sprintf("%d containers%s · sorted by %s · / filters · ? help", len(f.rows), sel, strings.ToLower(fleetColumns[f.sortCol]))))
	}
	b.WriteString("\n")
	ws := fleetWidths(w, f.longest, f.inPodW, f.engineW, f.podW)
	order := []string{"RISK", "NAME", "POD", "ENGINE", "ID", "IMAGE", "STATE", "FIREBREAK", "FINDING"}
	var head strings.Builder
	head.WriteString("  ")
	for _, c := range order {
		if ws[c] > 0 {
			label := c
			if c == fleetColumns[f.sortCol] {
				label += map[bool]string{true: "↑", false: "↓"}[f.asc]
			}
			head.WriteString(Fit(label, ws[c]) + " ")
		}
	}
	b.WriteString(m.st.head.Render(head.String()) + "\n")
	bodyH := max(1, h-2)
	f.height = bodyH
	if !f.loaded && len(rows) == 0 {
		if f.loadErr != "" {
			b.WriteString(m.st.bad.Render(Cut("cannot list containers: "+f.loadErr, w)) + "\n")
			b.WriteString(m.st.dim.Render("ctrl+r lists again"))
		} else {
			b.WriteString(m.st.dim.Render("listing containers…"))
		}
		return b.String()
	}
	if len(rows) == 0 {
		b.WriteString(m.st.dim.Render("no container matches"))
		return b.String()
	}
	if f.cursor < f.top {
		f.top = f.cursor
	}
	if f.cursor >= f.top+bodyH {
		f.top = f.cursor - bodyH + 1
	}
	f.top = max(0, min(f.top, len(rows)-bodyH))
	for i := f.top; i < len(rows) && i < f.top+bodyH; i++ {
		r := rows[i]
		var line strings.Builder
		// the cursor and the selection are marked in text too, for
		// terminals without colour or reverse video (NO_COLOR)
		if i == f.cursor {
			line.WriteString(">")
		} else {
			line.WriteString(" ")
		}
		if f.selected[r.Key()] {
			line.WriteString("✓")
		} else {
			line.WriteString(" ")
		}
		for _, c := range order {
			if ws[c] == 0 {
				continue
			}
			cell := r.cell(c)
			if c == "NAME" && ws["POD"] > 0 {
				cell = r.nameInPod() // the pod is in its own column
			}
			line.WriteString(Fit(cell, ws[c]) + " ")
		}
		s := line.String()
		switch {
		case i == f.cursor:
			s = m.st.sel.Render(s)
		case r.Drift != "":
			s = m.st.bad.Render(s)
		case r.Held != nil:
			s = m.st.warn.Render(s)
		case r.sev == collect.Critical || r.sev == collect.High:
			s = m.st.bad.Render(s)
		}
		b.WriteString(s)
		if i < len(rows)-1 && i < f.top+bodyH-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// engineLabel is an engine as the fleet's column shows it: containerd's
// namespace after a short prefix (ctrd/k8s.io), so that namespaces side by
// side are told apart in the column's width.
func engineLabel(engine string) string {
	if ns, ok := strings.CutPrefix(engine, "containerd/"); ok {
		return "ctrd/" + ns
	}
	return engine
}

func (r *row) cell(col string) string {
	switch col {
	case "RISK":
		if !r.assessed {
			return "…"
		}
		return strconv.Itoa(r.score)
	case "NAME":
		return r.Ref()
	case "ENGINE":
		return engineLabel(r.Engine)
	case "ID":
		return r.ShortID()
	case "IMAGE":
		return r.Image
	case "STATE":
		return string(r.State)
	case "FIREBREAK":
		return r.firebreak()
	case "POD":
		if p := r.PodName(); p != "" {
			return p
		}
		return "-"
	case "FINDING":
		if r.finding == "" && r.assessed {
			return "-"
		}
		return r.finding
	}
	return ""
}

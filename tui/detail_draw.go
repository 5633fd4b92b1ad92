package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"firebreak/collect"
	"firebreak/runtime"
)

// vline is one line of a section: inert text and its style (nil: plain).
type vline struct {
	s  string
	st *lipgloss.Style
}

func (m *Model) vl(st *lipgloss.Style, format string, args ...any) vline {
	return vline{s: fmt.Sprintf(format, args...), st: st}
}

func (v *detailView) view(m *Model, w, h int) string {
	out := make([]string, 0, h)
	out = append(out, v.headLine(m, w), v.tabLine(m, w))
	bodyH := max(1, h-3)
	fixed, body := v.content(m, w)
	if len(fixed) > bodyH {
		fixed = fixed[:bodyH]
	}
	scrollH := bodyH - len(fixed)
	v.height = scrollH
	maxTop := max(0, len(body)-scrollH)
	v.maxTop[v.sec] = maxTop
	if v.sec == secLogs && v.pinned {
		v.tops[secLogs] = maxTop
	}
	top := max(0, min(v.tops[v.sec], maxTop))
	v.tops[v.sec] = top
	for _, l := range fixed {
		out = append(out, render(l, w))
	}
	for i := top; i < top+scrollH; i++ {
		if i < len(body) {
			out = append(out, render(body[i], w))
		} else {
			out = append(out, "")
		}
	}
	out = append(out, v.footLine(m, w, top, scrollH, len(body)))
	if len(out) > h {
		out = out[:h]
	}
	return strings.Join(out, "\n")
}

func render(l vline, w int) string {
	s := Cut(l.s, w)
	if l.st != nil {
		return l.st.Render(s)
	}
	return s
}

// headLine names the container: name, engine, ID, image, state, what
// Firebreak holds of it, and its risk.
func (v *detailView) headLine(m *Model, w int) string {
	it := v.item
	name := Cut(it.Ref(), max(8, w/3))
	if v.loading {
		name = spinFrames[m.spin%len(spinFrames)] + " " + name
	}
	risk := "…"
	if v.d != nil && v.d.Assessment != nil {
		risk = fmt.Sprint(v.d.Assessment.Score)
	}
	state := string(it.State)
	if v.gone {
		state = "gone"
	}
	fb := (&row{Item: it}).firebreak()
	rest := fmt.Sprintf("%s · %s · %s · %s · firebreak: %s · risk %s", it.Engine, it.ShortID(), it.Image, state, fb, risk)
	restW := w - Width(name) - 2
	if restW < 4 {
		return m.st.head.Render(Cut(name, w))
	}
	return m.st.head.Render(name) + "  " + m.st.dim.Render(Cut(rest, restW))
}

// tabLine lists the sections with their sizes, the shown one marked.
func (v *detailView) tabLine(m *Model, w int) string {
	var tabs []string
	for s := range numSections {
		label := sectionNames[s]
		if n := v.count(s); n >= 0 {
			label += fmt.Sprintf(" %d", n)
		}
		if s == secLogs && v.following {
			label += " ▶"
		}
		// brackets mark the shown one where reverse video is not shown
		if s == v.sec {
			tabs = append(tabs, m.st.tabOn.Render("["+label+"]"))
		} else {
			tabs = append(tabs, m.st.tabOff.Render(" "+label+" "))
		}
	}
	return cutStyled(strings.Join(tabs, " "), w)
}

// count is the number of entries of a section, -1 while unknown.
func (v *detailView) count(s section) int {
	if s == secLogs {
		return len(v.logs)
	}
	if v.d == nil {
		return -1
	}
	switch s {
	case secFindings:
		if v.d.Assessment == nil {
			return -1
		}
		return len(v.d.Assessment.Findings)
	case secProcesses:
		return len(v.d.Processes)
	case secNetwork:
		return len(v.d.Sockets)
	case secMounts:
		return len(v.d.Mounts)
	case secHistory:
		return len(v.history())
	}
	return -1
}

func (v *detailView) footLine(m *Model, w, top, h, n int) string {
	hint := "←→ section · ↑↓ scroll · f follow · c contain · r release · p run · esc back"
	pos := ""
	if n > h {
		pos = fmt.Sprintf("%d-%d/%d", top+1, min(n, top+h), n)
	}
	if pos == "" || Width(hint)+2+Width(pos) > w {
		if pos != "" {
			hint = Cut(hint, max(0, w-Width(pos)-2))
			return m.st.dim.Render(hint + strings.Repeat(" ", max(2, w-Width(hint)-Width(pos))) + pos)
		}
		return m.st.dim.Render(Cut(hint, w))
	}
	return m.st.dim.Render(hint + strings.Repeat(" ", w-Width(hint)-Width(pos)) + pos)
}

// content is the shown section: lines that stay at the top, then lines
// that scroll. Every foreign string is made inert here; lines are cut to
// the width when drawn.
func (v *detailView) content(m *Model, w int) (fixed, body []vline) {
	if v.sec == secLogs {
		return v.logContent(m)
	}
	if v.d == nil {
		switch {
		case v.err != "":
			return nil, []vline{
				m.vl(&m.st.bad, "cannot read %s: %s", Inert(v.item.Ref()), Inert(v.err)),
				m.vl(&m.st.dim, "ctrl+r reads again · esc back to the fleet"),
			}
		default:
			return nil, []vline{m.vl(&m.st.accent, "%s reading %s…", spinFrames[m.spin%len(spinFrames)], Inert(v.item.Ref()))}
		}
	}
	if v.err != "" {
		fixed = append(fixed, m.vl(&m.st.bad, "reading again failed (shown: the last reading): %s", Inert(v.err)))
	}
	if v.gone {
		fixed = append(fixed, m.vl(&m.st.warn, "the engine no longer knows this container: shown as it was last read"))
	}
	switch v.sec {
	case secFindings:
		return fixed, v.findings(m, w)
	case secProcesses:
		head, rows := v.processes(m)
		return append(fixed, head...), rows
	case secNetwork:
		return fixed, v.network(m)
	case secMounts:
		return fixed, v.mounts(m)
	case secHistory:
		return fixed, v.historyLines(m)
	}
	return fixed, nil
}

func sevStyle(m *Model, s collect.Severity) *lipgloss.Style {
	switch s {
	case collect.Critical, collect.High:
		return &m.st.bad
	case collect.Medium:
		return &m.st.warn
	}
	return &m.st.head
}

// wrapped words a labelled field over as many lines as it needs.
func wrapped(st *lipgloss.Style, label, text string, w int) []vline {
	const indent = 12
	text = Inert(text)
	if text == "" {
		return nil
	}
	pad := strings.Repeat(" ", indent)
	first := "  " + label + strings.Repeat(" ", max(1, indent-2-len(label)))
	width := w - indent
	if width < 10 {
		return []vline{{s: first + text, st: st}}
	}
	var out []vline
	for i, l := range strings.Split(ansi.Wrap(text, width, ""), "\n") {
		if i == 0 {
			out = append(out, vline{s: first + l, st: st})
		} else {
			out = append(out, vline{s: pad + l, st: st})
		}
	}
	return out
}

// bullet words a note over as many lines as it needs.
func bullet(st *lipgloss.Style, text string, w int) []vline {
	text = Inert(text)
	if w < 14 {
		return []vline{{s: "  · " + text, st: st}}
	}
	var out []vline
	for i, l := range strings.Split(ansi.Wrap(text, w-4, ""), "\n") {
		prefix := "    "
		if i == 0 {
			prefix = "  · "
		}
		out = append(out, vline{s: prefix + l, st: st})
	}
	return out
}

func (v *detailView) findings(m *Model, w int) []vline {
	a := v.d.Assessment
	if a == nil {
		return []vline{m.vl(&m.st.dim, "triage was not read")}
	}
	var out []vline
	counts := map[collect.Severity]int{}
	for _, f := range a.Findings {
		counts[f.Severity]++
	}
	var parts []string
	for _, s := range []collect.Severity{collect.Critical, collect.High, collect.Medium, collect.Low, collect.Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	summary := fmt.Sprintf("risk %d · %d findings", a.Score, len(a.Findings))
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	out = append(out, m.vl(&m.st.head, "%s", summary))
	if len(a.Findings) == 0 {
		out = append(out, m.vl(&m.st.good, "no finding: nothing in its settings or processes makes an escape easier"))
	}
	for _, f := range a.Findings {
		out = append(out, vline{})
		ref := f.ID
		if f.CIS != "" {
			ref += " · CIS " + f.CIS
		}
		out = append(out, m.vl(sevStyle(m, f.Severity), "%-8s %s  [%s]", strings.ToUpper(string(f.Severity)), Inert(f.Title), Inert(ref)))
		out = append(out, wrapped(&m.st.dim, "evidence", f.Evidence, w)...)
		out = append(out, wrapped(nil, "why", f.Why, w)...)
		out = append(out, wrapped(&m.st.good, "remedy", f.Remedy, w)...)
	}
	if len(a.Notes) > 0 {
		out = append(out, vline{}, m.vl(&m.st.head, "notes"))
		for _, n := range a.Notes {
			out = append(out, bullet(&m.st.dim, n, w)...)
		}
	}
	return out
}

func (v *detailView) processes(m *Model) (head, rows []vline) {
	head = []vline{m.vl(&m.st.head, "%-8s %-8s %-8s %s", "PID", "PPID", "USER", "COMMAND")}
	if len(v.d.Processes) == 0 {
		if v.d.Details.Pid <= 0 {
			return head, []vline{m.vl(&m.st.dim, "not running: no processes")}
		}
		return head, []vline{m.vl(&m.st.dim, "no process read (see the notes under findings)")}
	}
	for _, p := range v.d.Processes {
		indent := ""
		if d := min(p.Depth, maxDepth); d > 0 {
			indent = strings.Repeat("  ", d-1) + "└─ "
		}
		rows = append(rows, m.vl(nil, "%-8d %-8d %-8s %s%s", p.PID, p.PPID, Cut(p.User, 8), indent, Inert(p.Cmdline)))
	}
	return head, rows
}

func (v *detailView) network(m *Model) []vline {
	d := v.d.Details
	var out []vline
	mode := "network: " + Inert(d.NetworkMode.Kind)
	if mode == "network: " {
		mode += "unknown"
	}
	if len(d.NetworkMode.SharedWith) > 0 {
		var with []string
		for _, s := range d.NetworkMode.SharedWith {
			with = append(with, runtime.ShortID(s))
		}
		mode += " · shared with " + Inert(strings.Join(with, ", "))
	}
	if d.NetNSPath != "" {
		mode += " · namespace " + Inert(d.NetNSPath)
	}
	out = append(out, m.vl(&m.st.head, "%s", mode))
	out = append(out, vline{}, m.vl(&m.st.head, "attachments"))
	if len(d.Networks) == 0 {
		out = append(out, m.vl(&m.st.dim, "  (none the engine owns)"))
	}
	for _, a := range d.Networks {
		parts := []string{Inert(a.Network)}
		if a.IPv4Address != "" {
			parts = append(parts, "ip "+Inert(a.IPv4Address))
		}
		if a.IPv6Address != "" {
			parts = append(parts, "ip6 "+Inert(a.IPv6Address))
		}
		if a.Gateway != "" {
			parts = append(parts, "gw "+Inert(a.Gateway))
		}
		if a.MacAddress != "" {
			parts = append(parts, "mac "+Inert(a.MacAddress))
		}
		if len(a.Aliases) > 0 {
			parts = append(parts, "aliases "+Inert(strings.Join(a.Aliases, ",")))
		}
		out = append(out, m.vl(nil, "  %s", strings.Join(parts, "  ")))
	}
	if ports := d.Security.Ports; len(ports) > 0 {
		out = append(out, vline{}, m.vl(&m.st.head, "published ports"))
		for _, p := range ports {
			host := p.HostIP
			if host == "" {
				host = "*"
			}
			out = append(out, m.vl(nil, "  %s:%d -> %d/%s", Inert(host), p.HostPort, p.ContainerPort, Inert(p.Protocol)))
		}
	}
	out = append(out, vline{}, m.vl(&m.st.head, "sockets"))
	switch {
	case len(v.d.Sockets) > 0:
		for _, s := range v.d.Sockets {
			out = append(out, m.vl(nil, "  %s", Inert(s)))
		}
	case d.Pid <= 0:
		out = append(out, m.vl(&m.st.dim, "  (not running)"))
	default:
		out = append(out, m.vl(&m.st.dim, "  (none)"))
	}
	return out
}

func (v *detailView) mounts(m *Model) []vline {
	root := "root filesystem: writable"
	if v.d.Details.Security.ReadonlyRootfs {
		root = "root filesystem: read-only"
	}
	out := []vline{m.vl(&m.st.head, "%s", root), vline{}}
	if len(v.d.Mounts) == 0 {
		return append(out, m.vl(&m.st.dim, "(no mounts)"))
	}
	for _, l := range v.d.Mounts {
		out = append(out, m.vl(nil, "%s", Inert(l)))
	}
	return out
}

// history is the backend's history, then the acts noted this session that
// it does not hold yet.
func (v *detailView) history() []string {
	var out []string
	have := map[string]bool{}
	if v.d != nil {
		out = append(out, v.d.History...)
		for _, h := range v.d.History {
			have[h] = true
		}
	}
	for _, n := range v.noted[v.item.Key()] {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out
}

func (v *detailView) historyLines(m *Model) []vline {
	var out []vline
	if h := v.item.Held; h != nil {
		line := "held: " + Inert(h.Phase)
		if !h.Since.IsZero() {
			line += " since " + historyTime(h.Since)
		}
		if h.Actor != "" {
			line += " by " + Inert(h.Actor)
		}
		if h.Case != "" {
			line += " · case " + Inert(h.Case)
		}
		out = append(out, m.vl(&m.st.warn, "%s", line), vline{})
	}
	hist := v.history()
	if len(hist) == 0 {
		return append(out, m.vl(&m.st.dim, "Firebreak has done nothing to it (no containment record, no act journalled)"))
	}
	for _, l := range hist {
		out = append(out, m.vl(nil, "%s", Inert(l)))
	}
	return out
}

func (v *detailView) logContent(m *Model) (fixed, body []vline) {
	var st string
	var sty = &m.st.dim
	switch {
	case v.logBad:
		st, sty = "log: "+Inert(v.logState), &m.st.bad
	case v.following:
		st, sty = fmt.Sprintf("following · %d lines (the last %d kept) · f stops", len(v.logs), maxLogLines), &m.st.accent
	case v.logState == "end":
		st = fmt.Sprintf("the last %d lines · f follows", logTail)
	case v.logState != "":
		st = Inert(v.logState)
	default:
		st = "reading the log…"
	}
	fixed = []vline{{s: st, st: sty}}
	if len(v.logs) == 0 && v.logState != "" && !v.following {
		return fixed, []vline{m.vl(&m.st.dim, "(empty)")}
	}
	body = make([]vline, len(v.logs))
	for i, l := range v.logs {
		body[i] = vline{s: l}
	}
	return fixed, body
}

package tui

import (
	"strings"
)

// globalKeys are the console's own keys, read in every view.
var globalKeys = []keyHelp{
	{"1 2 3 4, tab", "fleet runs evidence alerts (5 in a drill); tab: next"},
	{"?", "this help (any key closes it)"},
	{"R", "read-only mode on; off only with a confirmation, journalled"},
	{"esc", "back; cancels a call in flight (the spinner)"},
	{"q, ctrl+c", "quit (asks when playbook runs are under way)"},
	{"in dialogs", "tab/←→ switch, enter presses, esc is no; Cancel is the default"},
}

// helpView lists every key: the console's, then the active view's. When
// they do not fit in one column they are laid out in two.
func (m *Model) helpView(w, h int) string {
	s := m.screens[m.active]
	sections := []struct {
		title string
		keys  []keyHelp
	}{{"everywhere", globalKeys}, {s.title() + " view", s.keys()}}
	n := 1
	for _, sec := range sections {
		n += 1 + len(sec.keys)
	}
	cols := 1
	if n > h && w >= 100 {
		cols = 2
	}
	colW := w / cols
	keyW := min(24, colW/3)
	var lines []string
	for _, sec := range sections {
		lines = append(lines, m.st.head.Render(Cut(sec.title, colW-1)))
		for _, k := range sec.keys {
			lines = append(lines, "  "+Fit(k.key, keyW)+" "+Cut(k.what, max(0, colW-keyW-4)))
		}
	}
	head := m.st.head.Render("Keys") + m.st.dim.Render(" · any key closes this help")
	if cols == 1 {
		return head + "\n" + strings.Join(lines, "\n")
	}
	half := (len(lines) + 1) / 2
	var b strings.Builder
	b.WriteString(head)
	for i := range half {
		b.WriteString("\n" + padStyled(cutStyled(lines[i], colW-1), colW))
		if i+half < len(lines) {
			b.WriteString(lines[i+half])
		}
	}
	return b.String()
}

package tui

import (
	"strings"
)

// globalKeys are the console's own keys, read in every view.
var globalKeys = []keyHelp{
	{"1 2 3, tab", "fleet, runs, evidence; tab goes to the next"},
	{"?", "this help (any key closes it)"},
	{"R", "read-only mode on; off only with a confirmation, journalled"},
	{"esc", "back; cancels a call in flight (the spinner)"},
	{"q, ctrl+c", "quit (asks when playbook runs are under way)"},
	{"in dialogs", "tab/←→ switch, enter presses, esc is no; Cancel is the default"},
}

// helpView lists every key: the console's, then the active view's.
func (m *Model) helpView(w, h int) string {
	var b strings.Builder
	b.WriteString(m.st.head.Render("Keys") + "\n")
	write := func(title string, ks []keyHelp) {
		b.WriteString("\n" + m.st.head.Render(title) + "\n")
		for _, k := range ks {
			b.WriteString("  " + Fit(k.key, 24) + " " + Cut(k.what, max(0, w-28)) + "\n")
		}
	}
	write("everywhere", globalKeys)
	s := m.screens[m.active]
	write(s.title()+" view", s.keys())
	return b.String()
}

package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// dialog asks before anything changes. It shows what will change; the
// focused button starts on Cancel, so Enter alone never acts; Esc and n are
// no. With typed set, the act is enabled only once that text (the
// container's name) has been typed.
type dialog struct {
	title   string
	lines   []string // what will change; already inert
	command string   // the equivalent CLI command line, shown
	confirm string   // the act's button label
	typed   string   // text to type before the act is enabled; "" for none
	input   string
	focus   int // 0 Cancel, 1 the act
	onYes   func(m *Model) tea.Cmd
	onNo    func(m *Model) tea.Cmd
	// pending is a plan still being read (a dry run): the act is disabled
	// until planned reports it, with the stream and generation it was
	// asked under.
	pending    bool
	planned    func(m *Model, msg tea.Msg) bool
	notAllowed string // why the act cannot be taken (refused plan); shown, act disabled
}

func (d *dialog) enabled() bool {
	return !d.pending && d.notAllowed == "" && (d.typed == "" || d.input == d.typed)
}

// key handles a key press while the dialog is open.
func (d *dialog) key(m *Model, k tea.KeyMsg) tea.Cmd {
	switch k.Type {
	case tea.KeyEsc, tea.KeyCtrlC:
		return d.answer(m, false)
	case tea.KeyTab, tea.KeyRight, tea.KeyLeft, tea.KeyShiftTab:
		d.focus = 1 - d.focus
		return nil
	case tea.KeyEnter:
		if d.focus == 1 && d.enabled() {
			return d.answer(m, true)
		}
		if d.focus == 0 {
			return d.answer(m, false)
		}
		return nil
	case tea.KeyBackspace:
		if d.typed != "" && d.input != "" {
			r := []rune(d.input)
			d.input = string(r[:len(r)-1])
		}
		return nil
	case tea.KeySpace:
		if d.typed != "" {
			d.input += " "
		}
		return nil
	case tea.KeyRunes:
		if d.typed != "" {
			d.input += string(k.Runes)
			return nil
		}
		if k.String() == "n" {
			return d.answer(m, false)
		}
	}
	return nil
}

func (d *dialog) answer(m *Model, yes bool) tea.Cmd {
	m.dialog = nil
	if yes && d.onYes != nil {
		return d.onYes(m)
	}
	if !yes {
		if d.onNo != nil {
			return d.onNo(m)
		}
		m.notify("cancelled: nothing changed")
	}
	return nil
}

// result lets a dialog that waits for its plan take the plan's message.
func (d *dialog) result(m *Model, msg tea.Msg) tea.Cmd {
	if d.pending && d.planned != nil && d.planned(m, msg) {
		d.pending = false
	}
	return nil
}

// wrap makes s inert and breaks it into lines of at most w cells, at
// spaces where it can, at w cells where a word is longer; at most 8 lines.
func wrap(s string, w int) []string {
	s = Inert(s)
	var out []string
	for Width(s) > w && len(out) < 7 {
		cut := ansi.Truncate(s, w, "")
		if i := strings.LastIndexByte(cut, ' '); i > w/2 {
			cut = cut[:i+1]
		}
		out = append(out, strings.TrimRight(cut, " "))
		s = s[len(cut):]
	}
	return append(out, Cut(s, w))
}

// overlay draws the dialog over the body, centred.
func (d *dialog) overlay(m *Model, body string, w, h int) string {
	inner := min(w-6, 76) // the box's width inside its border
	text := inner - 2     // and inside its padding
	var b strings.Builder
	b.WriteString(m.st.head.Render(Cut(d.title, text)) + "\n\n")
	for _, l := range d.lines {
		// the dialog's lines are what the responder decides on: wrapped,
		// not cut (an indented line keeps its indent)
		indent := strings.Repeat(" ", len(l)-len(strings.TrimLeft(l, " ")))
		for i, part := range wrap(strings.TrimLeft(l, " "), text-len(indent)-2) {
			if i > 0 {
				part = "  " + part
			}
			b.WriteString(indent + part + "\n")
		}
	}
	if d.pending {
		b.WriteString(m.st.accent.Render(spinFrames[m.spin%len(spinFrames)]+" reading the plan…") + "\n")
	}
	if d.notAllowed != "" {
		for _, l := range wrap(d.notAllowed, text) {
			b.WriteString(m.st.bad.Render(l) + "\n")
		}
	}
	if d.command != "" {
		// the whole command line, wrapped: it is what the responder would
		// type, so none of it is cut
		b.WriteString("\n")
		for _, l := range wrap("CLI: "+d.command, text) {
			b.WriteString(m.st.dim.Render(l) + "\n")
		}
	}
	if d.typed != "" {
		b.WriteString("\nType " + m.st.head.Render(Cut(d.typed, text-20)) + " to enable " + d.confirm + ":\n")
		b.WriteString("> " + Cut(d.input, text-3) + "▏\n")
	}
	// the focused button is marked in text as well as in reverse video
	cancel, act := m.st.button.Render("[ Cancel ]"), m.st.button.Render("[ "+d.confirm+" ]")
	if d.focus == 0 {
		cancel = m.st.buttonOn.Render("[>Cancel<]")
	} else if d.enabled() {
		act = m.st.buttonOn.Render("[>" + d.confirm + "<]")
	}
	if !d.enabled() {
		act = m.st.dim.Render("( " + d.confirm + " )")
	}
	b.WriteString("\n" + cancel + "  " + act + "\n")
	b.WriteString(m.st.dim.Render("tab switches · enter presses · esc cancels"))
	box := m.st.box.Width(inner).Render(b.String())
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, box)
}

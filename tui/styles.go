package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// styles are the console's few looks. Colours come from lipgloss's
// renderer, which honours NO_COLOR and the terminal's colour profile;
// the selection is reverse video and headings are bold, so a terminal
// without colour still shows both.
type styles struct {
	brand, tabOn, tabOff, head, sel, dim, bad, warn, good, accent, box, button, buttonOn lipgloss.Style
}

func newStyles() styles {
	return styles{
		brand:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("202")),
		tabOn:    lipgloss.NewStyle().Bold(true).Reverse(true),
		tabOff:   lipgloss.NewStyle(),
		head:     lipgloss.NewStyle().Bold(true),
		sel:      lipgloss.NewStyle().Reverse(true),
		dim:      lipgloss.NewStyle().Foreground(lipgloss.Color("245")),
		bad:      lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("196")),
		warn:     lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("214")),
		good:     lipgloss.NewStyle().Foreground(lipgloss.Color("42")),
		accent:   lipgloss.NewStyle().Foreground(lipgloss.Color("39")),
		box:      lipgloss.NewStyle().Border(lipgloss.NormalBorder()).Padding(0, 1),
		button:   lipgloss.NewStyle().Padding(0, 1),
		buttonOn: lipgloss.NewStyle().Padding(0, 1).Reverse(true).Bold(true),
	}
}

// fitBlock makes a block exactly w cells wide and h lines high: long lines
// are cut (styles kept), short ones padded, missing lines added.
func fitBlock(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		lines[i] = padStyled(cutStyled(l, w), w)
	}
	return strings.Join(lines, "\n")
}

// cutStyled cuts a line that may hold the console's own styling to w cells.
// Only the console's styles reach it: foreign strings were made inert
// before they were styled.
func cutStyled(s string, w int) string {
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

func padStyled(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// markCursor marks the row under the cursor in text too (">" in its first
// blank column), for terminals without reverse video or colour (NO_COLOR).
func markCursor(line string) string {
	switch {
	case strings.HasPrefix(line, " "):
		return ">" + line[1:]
	case len(line) > 1 && line[1] == ' ':
		return line[:1] + ">" + line[2:]
	}
	return line
}

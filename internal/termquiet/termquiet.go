// Package termquiet keeps the binary from querying the terminal when it
// starts. Bubble Tea v1's init asks lipgloss whether the background is
// dark, and lipgloss asks the terminal (OSC 11, then a cursor position
// report) and waits up to 5 seconds for the answer: every command, not only
// the console, paid that wait on a terminal that does not answer (a pty
// with no emulator behind it: script(1), `docker exec -t` in a job) and
// left the query's bytes on its output.
//
// Imported for its init, which Go runs before Bubble Tea's (packages whose
// imports are ready initialize in import-path order, and this one needs
// only lipgloss), it points lipgloss's default renderer at nothing, which
// it cannot query. The console sets its own renderer on the terminal when
// it starts (Console); its colours are fixed, never adapted to the
// background, so nothing is lost by not asking.
package termquiet

import (
	"io"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func init() {
	lipgloss.SetDefaultRenderer(lipgloss.NewRenderer(io.Discard))
}

// Console makes w (the console's terminal) lipgloss's default renderer,
// with its colour profile from the environment (NO_COLOR, TERM,
// COLORTERM) and the background taken as dark without asking. Call it
// before the console builds its styles, and only once w is known to be a
// terminal: it is taken as one. termenv would otherwise drop every colour
// and bold when the CI variable is set (it guesses that output then goes to
// a log), which a console a job opens on a real terminal must not do.
func Console(w io.Writer) {
	r := lipgloss.NewRenderer(w, termenv.WithTTY(true))
	r.SetHasDarkBackground(true)
	lipgloss.SetDefaultRenderer(r)
}

package main

import (
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/sys/unix"

	"firebreak/internal/progress"
)

// progressLine shows a long act's progress (a capture, a restore) on one
// terminal line, rewritten in place: a bar when the total is known, then
// internal/progress's words (the console's too). Only on a terminal, and
// only with text output: the caller decides (newProgressLine). Writes go to
// the raw stream (the line's own \r and erase); what came from outside is
// escaped by safe() before it is drawn.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	cols  func() int
	now   func() time.Time
	last  time.Time
	shown bool
	drawn progress.Count // the count of the last line drawn
}

// newProgressLine is a progress line on stderr when stderr is a terminal
// and the output is text; nil (draws nothing) otherwise.
func newProgressLine(d *deps, output string) *progressLine {
	if output != "text" || !isTerminal(d.stderr) {
		return nil
	}
	return &progressLine{w: d.rawStderr, cols: func() int { return termCols(d.rawStderr) }, now: time.Now}
}

// termCols is w's terminal width (80 when it cannot be read).
func termCols(w any) int {
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}

// show draws label and n, elapsed since the act began: the first report,
// one that completes its total, and otherwise at most five a second.
func (p *progressLine) show(label string, n progress.Count, elapsed time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	complete := n.Complete()
	// A count that completes is drawn unless that very count was the last
	// drawn: with several targets, each one's end shows, not only the
	// first's.
	if p.shown && now.Sub(p.last) < 200*time.Millisecond && !(complete && n != p.drawn) {
		return
	}
	p.last, p.shown, p.drawn = now, true, n
	io.WriteString(p.w, "\r"+progressText(safe(label), n, elapsed, p.cols()-1)+"\033[K")
}

// clear erases the line, so that what is printed next starts clean.
func (p *progressLine) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, "\r\033[K")
		p.shown = false
	}
}

// progressText is the line for label and n in w cells (label escaped
// already): "  label [#####-----] 42% · 8.4 MiB of 20.0 MiB · 5.1 MiB/s ·
// 3s left", the last words dropped when there is no room, and with no
// total "  label 8.4 MiB, 3 files · 5.1 MiB/s".
func progressText(label string, n progress.Count, elapsed time.Duration, w int) string {
	head := "  " + label + " "
	parts := n.Parts(elapsed)
	bar := ""
	if n.Known() {
		const barW = 20
		filled := int(n.Fraction() * barW)
		bar = "[" + strings.Repeat("#", filled) + strings.Repeat("-", barW-filled) + "] "
	}
	text := ""
	for k := len(parts); k > 0; k-- {
		text = strings.Join(parts[:k], " · ")
		if ansi.StringWidth(head+bar+text) <= w {
			break
		}
	}
	return ansi.Truncate(head+bar+text, max(w, 0), "…")
}

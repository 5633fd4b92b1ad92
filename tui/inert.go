package tui

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// The console shows strings it does not own: names, labels, command lines,
// log lines and file names come from containers, images, stores and
// playbooks. Every such string passes through Inert before it reaches a
// cell, so nothing in it can act on the terminal (set the title, write the
// clipboard with OSC 52, open a link with OSC 8, clear the screen, move the
// cursor, reorder text with bidi marks), and through Cut so it never breaks
// the layout.

// unsafeRune reports a rune a terminal acts on or that reorders or hides
// what it shows: every C0 and C1 control (tab, line feed and carriage return
// too: one cell holds one line), DEL, the bidirectional formatting marks,
// and the Unicode line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// needsInert reports whether s has anything Inert would change.
func needsInert(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

// Inert returns s with every unsafe rune written as a Go escape (\x1b,
// \u202e) and every byte that is not UTF-8 as \xNN: what is left is text a
// terminal only prints.
func Inert(s string) string {
	if !needsInert(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unsafeRune(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Width is the number of cells s takes, wide characters counted as two.
func Width(s string) int { return ansi.StringWidth(s) }

// Cut makes s inert and at most width cells wide, ending in an ellipsis
// when it was cut.
func Cut(s string, width int) string {
	s = Inert(s)
	if width <= 0 {
		return ""
	}
	if Width(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// Fit is Cut padded with spaces to exactly width cells.
func Fit(s string, width int) string {
	s = Cut(s, width)
	if w := Width(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// Lines splits s into its lines (a log chunk, a file) and makes each inert;
// a carriage return that ends a line is dropped, any other is shown.
func Lines(s string) []string {
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = Inert(strings.TrimSuffix(p, "\r"))
	}
	return parts
}
